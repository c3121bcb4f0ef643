//! What the collectors sent: every distinct data frame the chaos proxy saw, with how
//! often it arrived from the collector and how often the proxy delivered it.
//!
//! The proxy decodes each datagram with `pimon_protocol` (the MAC is not checked: the
//! proxy is not a party to the key), so the ledger knows each frame's node, boot id,
//! sequence number, timestamp, part of its cycle, and how many line-protocol *fields*
//! it must become: one per sample whose catalog row has an InfluxDB schema and whose
//! value converts (`pimon_protocol::text::influx::field_value`, the rule the
//! aggregator's renderer follows). The checks in [`crate::arrival`] compare that with
//! what was stored, cycle by cycle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use pimon_aggregator::telegraf;
use pimon_protocol::text::influx::field_value;
use pimon_protocol::{DataFrame, Message};

/// One data frame: `(node, boot id, sequence number)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId {
    /// Node name.
    pub node: Arc<str>,
    /// The collector run.
    pub boot_id: u64,
    /// Sequence number within the run.
    pub seq: u64,
}

impl std::fmt::Display for FrameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} boot {:016x} seq {}",
            self.node, self.boot_id, self.seq
        )
    }
}

/// What the ledger knows of one frame.
#[derive(Clone, Debug)]
pub struct FrameRecord {
    /// The collector's timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// Part of the cycle (0-based) and number of parts.
    pub part: u8,
    /// Number of parts of its cycle.
    pub parts: u8,
    /// The collector's resend floor when it sent the frame (first copy).
    pub resend_floor: u64,
    /// Line-protocol fields the frame must produce.
    pub fields: usize,
    /// Copies received from the collector (first send and resends).
    pub received: u32,
    /// Copies delivered towards the aggregator (duplicates included).
    pub delivered: u32,
    /// When the proxy first saw it.
    pub first_seen: Instant,
    /// When the proxy first delivered it.
    pub first_delivered: Option<Instant>,
}

/// A decoded data frame's identity and record (counts at zero).
pub fn describe(datagram: &[u8], now: Instant) -> Option<(FrameId, FrameRecord)> {
    let Ok(Message::Data(frame)) = pimon_protocol::decode(datagram) else {
        return None;
    };
    let h = frame.header;
    Some((
        FrameId {
            node: Arc::from(h.node),
            boot_id: h.boot_id,
            seq: h.seq,
        },
        FrameRecord {
            timestamp_ms: h.timestamp_ms,
            part: h.part,
            parts: h.parts,
            resend_floor: h.resend_floor,
            fields: field_count(&frame),
            received: 0,
            delivered: 0,
            first_seen: now,
            first_delivered: None,
        },
    ))
}

/// Line-protocol fields `frame` becomes, one per sample — leaving out the fields
/// Telegraf computes (`pimon_aggregator::telegraf::is_computed`: they depend on other
/// samples, the previous cycle or absent samples, so the frame alone does not say how
/// many), which the readers of the stored lines leave out too.
pub fn field_count(frame: &DataFrame<'_>) -> usize {
    frame
        .samples()
        .filter(|s| {
            s.metric.influx.as_ref().is_some_and(|schema| {
                !telegraf::is_computed(schema.measurement, schema.field)
                    && field_value(schema, s.value, frame.header.user_hz).is_some()
            })
        })
        .count()
}

/// One collection cycle of a node: the frames (parts) sharing a boot id and timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// Node name.
    pub node: Arc<str>,
    /// The collector run.
    pub boot_id: u64,
    /// The collector's timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// Parts of the cycle the proxy saw, by sequence number: `(seq, part, fields)`.
    pub frames: Vec<(u64, u8, usize)>,
    /// Parts the cycle has.
    pub parts: u8,
}

impl Cycle {
    /// Fields of the parts not in `lost` (all parts when nothing was lost).
    pub fn fields_without(&self, lost: impl Fn(u64) -> bool) -> usize {
        self.frames
            .iter()
            .filter(|(seq, _, _)| !lost(*seq))
            .map(|(_, _, f)| f)
            .sum()
    }

    /// All its fields.
    pub fn fields(&self) -> usize {
        self.fields_without(|_| false)
    }

    /// Whether the proxy saw every part.
    pub fn complete(&self) -> bool {
        self.frames.len() == usize::from(self.parts)
    }
}

/// Every frame the proxy saw.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// By identity, in (node, boot id, seq) order.
    pub frames: BTreeMap<FrameId, FrameRecord>,
}

impl Ledger {
    /// Node names, sorted.
    pub fn nodes(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.frames.keys().map(|k| k.node.clone()).collect();
        v.dedup();
        v
    }

    /// The frames of `node` (a range of the map: frames are ordered by node first).
    pub fn of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = (&'a FrameId, &'a FrameRecord)> {
        let from = FrameId {
            node: Arc::from(node),
            boot_id: 0,
            seq: 0,
        };
        self.frames
            .range(from..)
            .take_while(move |(k, _)| &*k.node == node)
    }

    /// Cycles of which the proxy saw every part, over all nodes.
    pub fn complete_cycles(&self) -> u64 {
        let mut complete = 0;
        let mut current: Option<(&str, u64, u64)> = None;
        let mut parts_seen = 0u32;
        let mut parts = 0u32;
        // Frames of one cycle are consecutive in (node, boot, seq) order.
        for (k, r) in &self.frames {
            let key = (&*k.node, k.boot_id, r.timestamp_ms);
            if current != Some(key) {
                complete += u64::from(current.is_some() && parts_seen == parts);
                current = Some(key);
                parts_seen = 0;
                parts = u32::from(r.parts);
            }
            parts_seen += 1;
        }
        complete + u64::from(current.is_some() && parts_seen == parts)
    }

    /// Boot ids of `node` in the order first seen.
    pub fn boot_ids(&self, node: &str) -> Vec<u64> {
        let mut boots: Vec<(Instant, u64)> = Vec::new();
        for (k, r) in self.of(node) {
            match boots.iter_mut().find(|(_, b)| *b == k.boot_id) {
                Some(e) => e.0 = e.0.min(r.first_seen),
                None => boots.push((r.first_seen, k.boot_id)),
            }
        }
        boots.sort();
        boots.into_iter().map(|(_, b)| b).collect()
    }

    /// Distinct frames of `node`.
    pub fn frame_count(&self, node: &str) -> usize {
        self.of(node).count()
    }

    /// Frames of `node` the proxy never delivered.
    pub fn never_delivered(&self, node: &str) -> Vec<FrameId> {
        self.of(node)
            .filter(|(_, r)| r.delivered == 0)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Copies of `node`'s frames delivered beyond the first of each: what the
    /// aggregator must count as duplicates (when it ran all along).
    pub fn extra_deliveries(&self, node: &str) -> u64 {
        self.of(node)
            .map(|(_, r)| u64::from(r.delivered.saturating_sub(1)))
            .sum()
    }

    /// Copies of `node`'s frames received from the collector beyond the first of each
    /// (its resends that reached the proxy).
    pub fn resends_seen(&self, node: &str) -> u64 {
        self.of(node)
            .map(|(_, r)| u64::from(r.received.saturating_sub(1)))
            .sum()
    }

    /// The cycles of `node`, oldest first (by first sighting, then timestamp).
    pub fn cycles(&self, node: &str) -> Vec<Cycle> {
        let mut by_key: BTreeMap<(u64, u64), Cycle> = BTreeMap::new();
        let mut first: BTreeMap<(u64, u64), Instant> = BTreeMap::new();
        for (k, r) in self.of(node) {
            let key = (k.boot_id, r.timestamp_ms);
            let c = by_key.entry(key).or_insert_with(|| Cycle {
                node: k.node.clone(),
                boot_id: k.boot_id,
                timestamp_ms: r.timestamp_ms,
                frames: Vec::new(),
                parts: r.parts,
            });
            c.frames.push((k.seq, r.part, r.fields));
            let f = first.entry(key).or_insert(r.first_seen);
            *f = (*f).min(r.first_seen);
        }
        let mut v: Vec<(Instant, Cycle)> = by_key
            .into_iter()
            .map(|(key, c)| (first[&key], c))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.timestamp_ms.cmp(&b.1.timestamp_ms)));
        v.into_iter().map(|(_, c)| c).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: u64, part: u8, parts: u8) -> FrameRecord {
        FrameRecord {
            timestamp_ms: ts,
            part,
            parts,
            resend_floor: 0,
            fields: 1,
            received: 1,
            delivered: 1,
            first_seen: Instant::now(),
            first_delivered: None,
        }
    }

    #[test]
    fn frames_of_a_node_cycles_and_complete_cycles() {
        let mut l = Ledger::default();
        let id = |node: &str, seq| FrameId {
            node: Arc::from(node),
            boot_id: 1,
            seq,
        };
        // a: a complete two-part cycle, then one with only its first part.
        l.frames.insert(id("a", 0), record(100, 0, 2));
        l.frames.insert(id("a", 1), record(100, 1, 2));
        l.frames.insert(id("a", 2), record(200, 0, 2));
        // ab (a name that sorts right after a): one complete one-part cycle.
        l.frames.insert(id("ab", 0), record(100, 0, 1));
        assert_eq!(l.of("a").count(), 3);
        assert_eq!(l.of("ab").count(), 1);
        assert_eq!(l.of("b").count(), 0);
        let cycles = l.cycles("a");
        assert_eq!(cycles.len(), 2);
        assert!(cycles[0].complete() && !cycles[1].complete());
        assert_eq!(l.complete_cycles(), 2);
        assert_eq!(l.nodes().len(), 2);
    }
}
