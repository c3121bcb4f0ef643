//! A simulated fleet that replays real collector cycles.
//!
//! The load an aggregator sees depends on what a node sends: how many values, which
//! label sets, how large the numbers are. A synthetic frame flatters it (the first load
//! generator sent 72 values; a real collector sends 197 on a VM and 292 on a Raspberry
//! Pi 4). So the fleet is built from what the real collector produces:
//!
//! - a [`Template`] is one cycle of the real `pimon-collector` code (default sources,
//!   keyed) over a fixture tree in `collector/tests/fixtures/<name>`, decoded back into
//!   its label groups and samples: the real label sets and sizes, the real metric ids
//!   in the collector's order, and each value with its catalog type;
//! - a [`SimNode`] sends that cycle again and again under its own name, boot id and
//!   sequence numbers, with values moving like a real node's: a counter grows at the
//!   fixture's average rate since boot (its value ÷ the fixture's uptime) times a
//!   per-node, per-series factor between 0.5 and 1.5; a gauge moves within ±5 % of the
//!   fixture's value (0 and 1 — states, flags — stay as they are);
//! - a cycle is split into datagrams as the collector splits it: samples fill a part up
//!   to the 1232-byte limit, then the same group continues in the next part; every part
//!   is sealed with the part count (and the MAC when keyed).

use std::path::{Path, PathBuf};

use pimon_protocol::catalog::{MetricType, id};
use pimon_protocol::{
    DataFrame, DataHeader, EncodedLabels, Error, FrameWriter, Key, MAX_DATAGRAM, Value, seal,
};

use crate::pi4;

/// Most datagrams one simulated cycle may take (a Pi 4 cycle takes 2).
pub const MAX_PARTS: usize = 8;

/// The fixture trees of whole machines a [`Template`] can be made from (values per
/// cycle with the default sources: Raspberry Pi 4 292, Pi Zero W 173, x86 server 347).
pub const FIXTURES: [&str; 3] = ["pi4", "pizero", "x86"];

/// One sample of a template cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TemplateSample {
    id: u16,
    /// The value the fixture gave.
    base: Value,
    /// Growth per second of a counter (0 for gauges).
    rate_per_s: f64,
    counter: bool,
}

/// One label group of a template cycle.
#[derive(Debug, Clone)]
struct Group {
    labels: EncodedLabels,
    samples: Vec<TemplateSample>,
}

/// One real collector cycle, ready to be replayed by many nodes.
#[derive(Debug, Clone)]
pub struct Template {
    /// The fixture it came from (`pi4`).
    pub fixture: String,
    groups: Vec<Group>,
    user_hz: u16,
}

/// `collector/tests/fixtures/<name>` in this checkout.
pub fn fixture_root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../collector/tests/fixtures")
        .join(name)
}

/// Seconds since boot of a fixture tree (`proc/uptime`), at least 1; a day if unknown.
fn fixture_uptime_s(root: &Path) -> f64 {
    std::fs::read_to_string(root.join("proc/uptime"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .filter(|s| s.is_finite())
        .map_or(86_400.0, |s| s.max(1.0))
}

impl Template {
    /// Runs one cycle of the real collector (default sources, keyed, as
    /// [`pi4::collector`] sets it up) on the fixture tree `name` and keeps its samples.
    pub fn from_fixture(name: &str) -> Result<Template, String> {
        let root = fixture_root(name);
        if !root.join("proc").is_dir() {
            return Err(format!("no fixture tree at {}", root.display()));
        }
        let uptime_s = fixture_uptime_s(&root);
        let mut collector = pi4::collector(root);
        collector.cycle(1_700_000_000_000);
        let mut groups: Vec<Group> = Vec::new();
        let mut user_hz = 100;
        for (_, datagram) in collector.ring().datagrams() {
            let frame = DataFrame::parse(datagram).map_err(|e| format!("{name}: {e:?}"))?;
            user_hz = frame.header.user_hz;
            for s in frame.samples() {
                let labels = EncodedLabels::encode(&s.labels)
                    .map_err(|e| format!("{name}: labels {:?}: {e:?}", s.labels))?;
                // Consecutive samples with the same labels are one group, also across
                // parts: the split is redone for every node's name and numbers.
                if groups.last().is_none_or(|g| g.labels != labels) {
                    groups.push(Group {
                        labels,
                        samples: Vec::new(),
                    });
                }
                let counter = s.metric.metric_type == MetricType::Counter;
                let rate_per_s = if counter {
                    s.value.as_f64().max(0.0) / uptime_s
                } else {
                    0.0
                };
                if let Some(g) = groups.last_mut() {
                    g.samples.push(TemplateSample {
                        id: s.metric.id,
                        base: s.value,
                        rate_per_s,
                        counter,
                    });
                }
            }
        }
        if groups.is_empty() {
            return Err(format!("{name}: the collector produced no samples"));
        }
        Ok(Template {
            fixture: name.to_string(),
            groups,
            user_hz,
        })
    }

    /// Values per cycle.
    pub fn values(&self) -> usize {
        self.groups.iter().map(|g| g.samples.len()).sum()
    }

    /// Distinct label sets per cycle.
    pub fn label_sets(&self) -> usize {
        let mut sets: Vec<&[u8]> = self.groups.iter().map(|g| g.labels.as_bytes()).collect();
        sets.sort();
        sets.dedup();
        sets.len()
    }

    /// Catalog rows of the cycle that are counters.
    pub fn counters(&self) -> usize {
        self.groups
            .iter()
            .flat_map(|g| &g.samples)
            .filter(|s| s.counter)
            .count()
    }
}

/// The datagrams of one simulated cycle.
pub struct Cycle {
    parts: [[u8; MAX_DATAGRAM]; MAX_PARTS],
    lens: [usize; MAX_PARTS],
    count: usize,
    /// Samples the cycle carries.
    pub values: usize,
}

impl Default for Cycle {
    fn default() -> Self {
        Cycle {
            parts: [[0; MAX_DATAGRAM]; MAX_PARTS],
            lens: [0; MAX_PARTS],
            count: 0,
            values: 0,
        }
    }
}

impl Cycle {
    /// The sealed datagrams, in part order.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.parts
            .iter()
            .zip(self.lens)
            .take(self.count)
            .map(|(p, len)| &p[..len])
    }

    /// Bytes of all datagrams.
    pub fn bytes(&self) -> usize {
        self.lens[..self.count].iter().sum()
    }
}

/// One simulated collector.
pub struct SimNode {
    /// Node name (`node-00042`).
    pub name: String,
    boot_id: u64,
    seq: u64,
    cycles: u64,
    seed: u64,
}

/// A number in `[0, 1)` from `x`.
fn unit(x: u64) -> f64 {
    (splitmix(x) >> 11) as f64 / (1u64 << 53) as f64
}

impl SimNode {
    /// Node number `i` with a boot id derived from `seed`.
    pub fn new(i: usize, seed: u64) -> SimNode {
        let node_seed = splitmix(seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        SimNode {
            name: format!("node-{i:05}"),
            boot_id: splitmix(node_seed),
            seq: 0,
            cycles: 0,
            seed: node_seed,
        }
    }

    /// The value of sample `k` of the template at this node's current cycle.
    fn value(&self, k: u64, s: &TemplateSample, elapsed_s: f64) -> Value {
        let h = self.seed ^ k.wrapping_mul(0xa076_1d64_78bd_642f);
        if s.counter {
            let grown = s.rate_per_s * (0.5 + unit(h)) * elapsed_s;
            return match s.base {
                Value::Unsigned(v) => Value::Unsigned(v.saturating_add(grown as u64)),
                Value::Signed(v) => Value::Signed(v.saturating_add(grown as i64)),
                Value::F32(v) => Value::F32(v + grown as f32),
                Value::F64(v) => Value::F64(v + grown),
            };
        }
        // A gauge: a slow wave of ±5 % with a per-series phase and period.
        let phase = unit(h) * std::f64::consts::TAU;
        let period = 20.0 + 100.0 * unit(h ^ 1);
        let wobble =
            1.0 + 0.05 * (phase + self.cycles as f64 * std::f64::consts::TAU / period).sin();
        match s.base {
            Value::Unsigned(v) if v > 1 => Value::Unsigned((v as f64 * wobble) as u64),
            Value::Signed(v) if !(-1..=1).contains(&v) => Value::Signed((v as f64 * wobble) as i64),
            Value::F32(v) => Value::F32((f64::from(v) * wobble) as f32),
            Value::F64(v) => Value::F64(v * wobble),
            v => v,
        }
    }

    /// Writes this node's next cycle into `out`, stamped `now_ms`, announcing
    /// `interval_ms`; the first part gets this node's next sequence number.
    pub fn next_cycle(
        &mut self,
        template: &Template,
        out: &mut Cycle,
        now_ms: u64,
        interval_ms: u32,
        key: Option<&Key>,
    ) {
        let elapsed_s = self.cycles as f64 * f64::from(interval_ms) / 1000.0;
        let first_seq = self.seq;
        let header = |part: u8| DataHeader {
            node: &self.name,
            boot_id: self.boot_id,
            seq: first_seq + u64::from(part),
            resend_floor: first_seq,
            timestamp_ms: now_ms,
            interval_ms,
            user_hz: template.user_hz,
            part,
            parts: 1,
            key_id: key.map(Key::id),
        };
        out.count = 0;
        out.values = 0;
        let mut part = 0usize;
        let mut finished = [0usize; MAX_PARTS];
        let mut writer =
            FrameWriter::new(&mut out.parts[0], &header(0)).expect("a frame header fits");
        let mut k = 0u64;
        for group in &template.groups {
            let mut group_open = false;
            for s in &group.samples {
                let v = self.value(k, s, elapsed_s);
                k += 1;
                // At most two tries: in the open part, then in a fresh one.
                for _ in 0..2 {
                    let pushed = if group_open {
                        writer.push(s.id, v)
                    } else {
                        writer.begin_group(&group.labels).and_then(|()| {
                            group_open = true;
                            writer.push(s.id, v)
                        })
                    };
                    match pushed {
                        Ok(()) => {
                            out.values += 1;
                            break;
                        }
                        Err(Error::EncodeBufferFull) if part + 1 < MAX_PARTS => {
                            finished[part] = writer.finish();
                            part += 1;
                            writer = FrameWriter::new(&mut out.parts[part], &header(part as u8))
                                .expect("a frame header fits");
                            group_open = false;
                        }
                        Err(e) => panic!("{}: cannot encode {}: {e:?}", template.fixture, s.id),
                    }
                }
            }
        }
        finished[part] = writer.finish();
        let parts = part + 1;
        for (p, &len) in finished.iter().enumerate().take(parts) {
            out.lens[p] = seal(&mut out.parts[p], len, parts as u8, key).expect("seal");
        }
        out.count = parts;
        self.seq += parts as u64;
        self.cycles += 1;
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

/// SplitMix64: a fixed, dependency-free source of boot ids and per-node factors.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An aggregator's ingest holding one cycle of `template` from each of `nodes` simulated
/// nodes (`SimNode::new(i, seed)`, all from one address, no outputs), sent at `now` and
/// stored at `received_at` (ms): the store the `/metrics` render benchmarks read. The
/// store's series limit is `series_per_node` a node.
pub fn stored_fleet(
    template: &Template,
    nodes: usize,
    series_per_node: usize,
    seed: u64,
    now: u64,
    received_at: u64,
) -> pimon_aggregator::ingest::Ingest {
    use pimon_aggregator::ingest::{Ingest, IngestConfig};
    use pimon_aggregator::stats::AggregatorStats;
    use pimon_aggregator::store::{Limits, Staleness, Store};
    let limits = Limits {
        max_nodes: nodes,
        max_series_total: nodes * series_per_node,
        // The simulated fleet sends from one address.
        max_new_nodes_per_address: nodes,
        ..Limits::default()
    };
    let store = Store::new(limits, Staleness::default(), now);
    let config = IngestConfig {
        render_lines: false,
        ..IngestConfig::default()
    };
    let stats = std::sync::Arc::new(AggregatorStats::default());
    let mut ingest = Ingest::new(store, None, config, stats);
    let (mut lines, mut ack, mut cycle) = (String::new(), [0u8; MAX_DATAGRAM], Cycle::default());
    let from = "127.0.0.1:4000".parse().expect("an address");
    ingest.begin_batch();
    for i in 0..nodes {
        SimNode::new(i, seed).next_cycle(template, &mut cycle, now, 1000, None);
        for d in cycle.datagrams() {
            ingest.ingest(d, from, received_at, &mut lines, &mut ack);
        }
    }
    ingest.commit_batch();
    ingest
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::catalog;

    fn decode_all(cycle: &Cycle) -> Vec<(u16, Vec<String>, Value)> {
        cycle
            .datagrams()
            .flat_map(|d| {
                let f = DataFrame::parse(d).unwrap();
                f.samples()
                    .map(|s| {
                        (
                            s.metric.id,
                            s.labels.iter().map(|l| l.to_string()).collect(),
                            s.value,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn pi4_cycle_is_replayed_with_its_real_size_and_labels() {
        let t = Template::from_fixture("pi4").unwrap();
        // The real collector's cycle over the same tree: what the replay must match. Not
        // a number written here, so a new source in the fixture tree changes both sides
        // (599 values in three datagrams with cpufreq's limits and the zone offset; 285
        // when BENCHMARKS 3.6 was measured).
        let mut real = pi4::collector(fixture_root("pi4"));
        real.cycle(1_700_000_000_000);
        let (mut real_values, mut real_datagrams) = (0, 0);
        for (_, d) in real.ring().datagrams() {
            real_values += DataFrame::parse(d).unwrap().samples().count();
            real_datagrams += 1;
        }
        assert!(
            real_values > 500,
            "the Pi 4 fixture's default cycle: {real_values}"
        );
        assert_eq!(t.values(), real_values, "the Pi 4 fixture's default cycle");
        let key = pi4::key();
        let mut node = SimNode::new(7, 1);
        let mut cycle = Cycle::default();
        node.next_cycle(&t, &mut cycle, 1_700_000_000_000, 1000, Some(&key));
        assert_eq!(cycle.values, real_values);
        assert_eq!(
            cycle.count, real_datagrams,
            "{real_values} values take as many datagrams as the collector sends"
        );
        for (part, d) in cycle.datagrams().enumerate() {
            assert!(d.len() <= MAX_DATAGRAM);
            let f = DataFrame::parse(d).unwrap();
            assert_eq!(f.header.node, "node-00007");
            assert_eq!(f.header.seq, part as u64);
            assert_eq!(
                (f.header.part, f.header.parts),
                (part as u8, real_datagrams as u8)
            );
            assert_eq!(f.header.interval_ms, 1000);
            f.verify(&key).unwrap();
        }
        let first = decode_all(&cycle);
        assert!(
            first
                .iter()
                .any(|(_, labels, _)| labels == &["/dev/mmcblk0p2", "ext4", "/"]),
            "the fixture's root filesystem labels"
        );
        // The next cycle: same series, sequence numbers go on.
        node.next_cycle(&t, &mut cycle, 1_700_000_001_000, 1000, Some(&key));
        let f = DataFrame::parse(cycle.datagrams().next().unwrap()).unwrap();
        assert_eq!(f.header.seq, real_datagrams as u64);
        // A minute later: every counter with a visible rate has grown, none went down,
        // gauges stayed within ±5 % of the fixture's value.
        for i in 2..60 {
            node.next_cycle(&t, &mut cycle, 1_700_000_000_000 + i * 1000, 1000, None);
        }
        let later = decode_all(&cycle);
        assert_eq!(first.len(), later.len());
        let rates = t.groups.iter().flat_map(|g| &g.samples);
        for ((a, b), s) in first.iter().zip(&later).zip(rates) {
            assert_eq!((a.0, &a.1), (b.0, &b.1));
            let name = catalog::lookup(a.0).unwrap().prom_name;
            let (a, b) = (a.2.as_f64(), b.2.as_f64());
            if s.counter {
                assert!(b >= a, "{name} went down");
                if s.rate_per_s >= 2.0 {
                    assert!(b > a, "{name} did not move");
                }
            } else {
                assert!((b - a).abs() <= a.abs() * 0.11 + 1.0, "{name}: {a} -> {b}");
            }
        }
    }

    #[test]
    fn every_fixture_makes_a_template() {
        for name in FIXTURES {
            let t = Template::from_fixture(name).unwrap();
            assert!(t.values() > 50, "{name}: {} values", t.values());
            let mut cycle = Cycle::default();
            SimNode::new(1, 2).next_cycle(&t, &mut cycle, 1_700_000_000_000, 10_000, None);
            assert_eq!(cycle.values, t.values(), "{name}");
        }
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
