//! Builders for real pimon frames (via `pimon_protocol::FrameWriter`) used by the core
//! tests (`ingest_*`, `limits_*`, `prom_*`, `http_*`, `udp_*`). Include with `mod frames;`.

#![allow(dead_code)]

use pimon_protocol::catalog::id;
use pimon_protocol::{Ack, DataHeader, EncodedLabels, FrameWriter, Key, MAX_DATAGRAM, Value, seal};

/// 2023-11-14T22:13:20Z in ms: a fixed "now" for ingest tests.
pub const T0: u64 = 1_700_000_000_000;

/// One sample group: label values and (metric id, value) samples.
pub type Group = (Vec<String>, Vec<(u16, Value)>);

/// A frame under construction.
#[derive(Clone)]
pub struct Frame {
    pub node: String,
    pub boot_id: u64,
    pub seq: u64,
    pub resend_floor: u64,
    pub timestamp_ms: u64,
    pub interval_ms: u32,
    pub user_hz: u16,
    pub groups: Vec<Group>,
    /// Set the resync flag (protocol 1.1).
    pub resync: bool,
}

impl Frame {
    /// Node `node`, boot id 7, seq 0, at [`T0`], 10 s interval, no samples.
    pub fn new(node: &str) -> Frame {
        Frame {
            node: node.into(),
            boot_id: 7,
            seq: 0,
            resend_floor: 0,
            timestamp_ms: T0,
            interval_ms: 10_000,
            user_hz: 100,
            groups: Vec::new(),
            resync: false,
        }
    }

    /// With the resync flag set (the collector got an ack it cannot make sense of).
    pub fn resync(mut self) -> Frame {
        self.resync = true;
        self
    }

    pub fn seq(mut self, seq: u64) -> Frame {
        self.seq = seq;
        self
    }

    pub fn boot(mut self, boot_id: u64) -> Frame {
        self.boot_id = boot_id;
        self
    }

    pub fn floor(mut self, floor: u64) -> Frame {
        self.resend_floor = floor;
        self
    }

    pub fn at(mut self, timestamp_ms: u64) -> Frame {
        self.timestamp_ms = timestamp_ms;
        self
    }

    pub fn group(mut self, labels: &[&str], samples: &[(u16, Value)]) -> Frame {
        self.groups.push((
            labels.iter().map(|s| s.to_string()).collect(),
            samples.to_vec(),
        ));
        self
    }

    /// The small fixture used across tests: load1, memory total, CPU 0 user/system, eth0 rx bytes.
    pub fn pi(node: &str) -> Frame {
        Frame::new(node)
            .group(&[], &[(id::LOAD1, Value::Unsigned(25))])
            .group(
                &["0"],
                &[
                    (id::CPU_SECONDS_USER, Value::Unsigned(150)),
                    (id::CPU_SECONDS_SYSTEM, Value::Unsigned(50)),
                ],
            )
            .group(&["eth0"], &[(id::NET_RECEIVE_BYTES, Value::Unsigned(1234))])
    }

    /// A Pi 4 sized cycle of 69 values: 4 CPUs × 8 modes, load, /proc/stat, 12 meminfo
    /// fields, 16 eth0 counters. `v` varies the values.
    pub fn realistic(node: &str, v: u64) -> Frame {
        let mut f = Frame::new(node);
        for cpu in ["0", "1", "2", "3"] {
            let s: Vec<(u16, Value)> = (id::CPU_SECONDS_USER..=id::CPU_SECONDS_STEAL)
                .map(|m| (m, Value::Unsigned(1000 + v + u64::from(m))))
                .collect();
            f = f.group(&[cpu], &s);
        }
        let mut sys: Vec<(u16, Value)> = (id::STAT_CONTEXT_SWITCHES..=id::STAT_BOOT_TIME)
            .map(|m| (m, Value::Unsigned(v * 10 + u64::from(m))))
            .collect();
        sys.extend((id::LOAD1..=id::LOAD15).map(|m| (m, Value::Unsigned(v % 400))));
        sys.extend(
            (id::MEM_MEMTOTAL..id::MEM_MEMTOTAL + 12).map(|m| (m, Value::Unsigned(3_900_000 - v))),
        );
        f = f.group(&[], &sys);
        let net: Vec<(u16, Value)> = (id::NET_RECEIVE_BYTES..=id::NET_TRANSMIT_COMPRESSED)
            .map(|m| (m, Value::Unsigned(v * 1500)))
            .collect();
        f.group(&["eth0"], &net)
    }

    /// Encodes (and MACs with `key`).
    pub fn bytes_with(&self, key: Option<&Key>) -> Vec<u8> {
        let header = DataHeader {
            node: &self.node,
            boot_id: self.boot_id,
            seq: self.seq,
            resend_floor: self.resend_floor,
            timestamp_ms: self.timestamp_ms,
            interval_ms: self.interval_ms,
            user_hz: self.user_hz,
            part: 0,
            parts: 1,
            key_id: key.map(|k| k.id()),
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut w = FrameWriter::new(&mut buf, &header).expect("header");
        for (labels, samples) in &self.groups {
            let labels: Vec<&str> = labels.iter().map(|s| s.as_str()).collect();
            w.begin_group(&EncodedLabels::encode(&labels).expect("labels"))
                .expect("group");
            for &(metric, value) in samples {
                w.push(metric, value).expect("sample");
            }
        }
        let len = w.finish();
        if self.resync {
            pimon_protocol::frame::set_resync(&mut buf[..len]).expect("resync flag");
        }
        let len = seal(&mut buf, len, 1, key).expect("seal");
        buf[..len].to_vec()
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes_with(None)
    }
}

/// The exact ack bytes the aggregator must send for this state.
pub fn ack_bytes(
    node: &str,
    boot_id: u64,
    acked_below: u64,
    seen_below: u64,
    gaps: &[(u64, u64)],
    key: Option<&Key>,
) -> Vec<u8> {
    let mut g = heapless::Vec::new();
    for &(start, len) in gaps {
        g.push(pimon_protocol::Gap { start, len }).unwrap();
    }
    let ack = Ack {
        node,
        boot_id,
        acked_below,
        seen_below,
        gaps: g,
        key_id: None,
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let n = ack.emit(&mut buf, key).unwrap();
    buf[..n].to_vec()
}
