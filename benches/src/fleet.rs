//! A simulated fleet: frames as a Raspberry Pi 4's collector would send them.
//!
//! Each simulated node has its own name, boot id and sequence numbers and sends about
//! 70 values per frame (4 CPUs × 8 modes, memory, load, one network interface, one
//! disk, one thermal zone, one filesystem), with counters that advance every frame.

use pimon_protocol::catalog::id;
use pimon_protocol::{DataHeader, EncodedLabels, Error, FrameWriter, Key, Value, seal};

/// One simulated collector.
pub struct SimNode {
    /// Node name (`node-00042`).
    pub name: String,
    boot_id: u64,
    seq: u64,
    tick: u64,
    labels: Vec<EncodedLabels>,
}

const CPU_IDS: [u16; 8] = [
    id::CPU_SECONDS_USER,
    id::CPU_SECONDS_NICE,
    id::CPU_SECONDS_SYSTEM,
    id::CPU_SECONDS_IDLE,
    id::CPU_SECONDS_IOWAIT,
    id::CPU_SECONDS_IRQ,
    id::CPU_SECONDS_SOFTIRQ,
    id::CPU_SECONDS_STEAL,
];

const NET_IDS: [u16; 8] = [
    id::NET_RECEIVE_BYTES,
    id::NET_RECEIVE_PACKETS,
    id::NET_RECEIVE_ERRS,
    id::NET_RECEIVE_DROP,
    id::NET_TRANSMIT_BYTES,
    id::NET_TRANSMIT_PACKETS,
    id::NET_TRANSMIT_ERRS,
    id::NET_TRANSMIT_DROP,
];

impl SimNode {
    /// Node number `i` with a boot id derived from `seed`.
    pub fn new(i: usize, seed: u64) -> SimNode {
        let enc = |l: &[&str]| EncodedLabels::encode(l).expect("short labels");
        SimNode {
            name: format!("node-{i:05}"),
            boot_id: splitmix(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            seq: 0,
            tick: 0,
            labels: vec![
                enc(&["0"]),
                enc(&["1"]),
                enc(&["2"]),
                enc(&["3"]),
                enc(&[]),
                enc(&["eth0"]),
                enc(&["mmcblk0"]),
                enc(&["cpu-thermal", "0"]),
                enc(&["/dev/root", "ext4", "/"]),
            ],
        }
    }

    /// Writes this node's next frame into `buf`; returns its length and the number of
    /// values it carries.
    pub fn next_frame(&mut self, buf: &mut [u8], now_ms: u64, key: Option<&Key>) -> (usize, usize) {
        self.tick += 1;
        let t = self.tick;
        let header = DataHeader {
            node: &self.name,
            boot_id: self.boot_id,
            seq: self.seq,
            resend_floor: self.seq,
            timestamp_ms: now_ms,
            interval_ms: 1000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: key.map(Key::id),
        };
        self.seq += 1;
        let mut w = FrameWriter::new(buf, &header).expect("buffer of 1232 bytes");
        let mut values = 0;
        let mut push = |w: &mut FrameWriter<'_>, id: u16, v: Value| -> Result<(), Error> {
            w.push(id, v)?;
            values += 1;
            Ok(())
        };
        let res: Result<(), Error> = (|| {
            for cpu in 0..4 {
                w.begin_group(&self.labels[cpu])?;
                for (m, &id) in CPU_IDS.iter().enumerate() {
                    push(
                        &mut w,
                        id,
                        Value::Unsigned(1_000_000 + t * (m as u64 + 1) * 7),
                    )?;
                }
            }
            w.begin_group(&self.labels[4])?;
            for (k, id) in [
                id::STAT_CONTEXT_SWITCHES,
                id::STAT_INTERRUPTS,
                id::STAT_FORKS,
                id::STAT_PROCS_RUNNING,
                id::STAT_PROCS_BLOCKED,
                id::STAT_BOOT_TIME,
                id::LOAD1,
                id::LOAD5,
                id::LOAD15,
                id::MEM_MEMTOTAL,
                id::MEM_MEMFREE,
                id::MEM_MEMAVAILABLE,
                id::MEM_BUFFERS,
                id::MEM_CACHED,
            ]
            .into_iter()
            .enumerate()
            {
                push(
                    &mut w,
                    id,
                    Value::Unsigned(100_000 * (k as u64 + 1) + t % 1000),
                )?;
            }
            w.begin_group(&self.labels[5])?;
            for (k, &id) in NET_IDS.iter().enumerate() {
                push(
                    &mut w,
                    id,
                    Value::Unsigned(5_000_000_000 + t * 1500 * (k as u64 + 1)),
                )?;
            }
            w.begin_group(&self.labels[6])?;
            for (k, id) in (id::DISK_READS_COMPLETED..=id::DISK_IO_TIME_WEIGHTED).enumerate() {
                push(&mut w, id, Value::Unsigned(40_000 + t * (k as u64 + 1)))?;
            }
            w.begin_group(&self.labels[7])?;
            push(
                &mut w,
                id::THERMAL_ZONE_TEMP,
                Value::Signed(48_000 + (t % 50) as i64 * 100),
            )?;
            w.begin_group(&self.labels[8])?;
            for (k, id) in (id::FS_SIZE..=id::FS_READONLY).enumerate() {
                push(
                    &mut w,
                    id,
                    Value::Unsigned(if id == id::FS_READONLY {
                        0
                    } else {
                        1 << (20 + k)
                    }),
                )?;
            }
            Ok(())
        })();
        res.expect("a simulated frame fits one datagram");
        let len = w.finish();
        let len = seal(buf, len, 1, key).expect("seal");
        (len, values)
    }
}

/// A forged frame for node `node`: 1232 bytes (the largest datagram), flagged as MACed
/// with key id 7 — the benches' key id — but MACed with another secret, as an attacker
/// without the key would send it. Returns its length.
pub fn forged_frame(buf: &mut [u8], node: &str, seq: u64, now_ms: u64) -> usize {
    let header = DataHeader {
        node,
        boot_id: 0xf0_0d,
        seq,
        resend_floor: seq,
        timestamp_ms: now_ms,
        interval_ms: 1000,
        user_hz: 100,
        part: 0,
        parts: 1,
        key_id: Some(7),
    };
    let mut w = FrameWriter::new(buf, &header).expect("buffer of 1232 bytes");
    let labels = EncodedLabels::encode(&["eth0"]).expect("short labels");
    let mut v = seq;
    'fill: loop {
        if w.begin_group(&labels).is_err() {
            break;
        }
        for id in [id::NET_RECEIVE_BYTES, id::NET_TRANSMIT_BYTES] {
            v = splitmix(v);
            if w.push(id, Value::Unsigned(v)).is_err() {
                break 'fill;
            }
        }
    }
    let len = w.finish();
    let wrong = Key::new(7, b"not the fleet's secret").expect("a short key");
    seal(buf, len, 1, Some(&wrong)).expect("seal")
}

/// SplitMix64: a fixed, dependency-free source of boot ids.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::DataFrame;

    #[test]
    fn simulated_frame_decodes_with_about_70_values() {
        let mut node = SimNode::new(7, 1);
        let mut buf = [0u8; 1232];
        let (len, values) = node.next_frame(&mut buf, 1_700_000_000_000, None);
        let frame = DataFrame::parse(&buf[..len]).unwrap();
        assert_eq!(frame.header.node, "node-00007");
        assert_eq!(frame.known_samples() as usize, values);
        assert!((65..=80).contains(&values), "{values} values");
        let (len2, _) = node.next_frame(&mut buf, 1_700_000_001_000, None);
        assert_eq!(DataFrame::parse(&buf[..len2]).unwrap().header.seq, 1);
    }

    #[test]
    fn a_forged_frame_is_as_large_as_a_datagram_and_fails_its_mac() {
        let mut buf = [0u8; 1232];
        let len = forged_frame(&mut buf, "node-00001", 3, 1_700_000_000_000);
        assert!(len > 1200, "{len}");
        let f = DataFrame::parse(&buf[..len]).unwrap();
        assert_eq!(f.header.key_id, Some(7));
        assert_eq!(
            f.verify(&crate::pi4::key()),
            Err(pimon_protocol::Error::DecodeBadMac)
        );
    }
}
