//! One cycle's samples → data frames, encoded straight into the resend ring.
//!
//! [`encode_cycle`] opens a cycle on the [`Ring`], gives the sources a [`FrameSink`] and
//! seals the parts when they are done:
//!
//! - every [`SampleSink::labels`] call encodes the label values once
//!   ([`EncodedLabels`]) and starts a *unit*: the samples up to the next call. Its group
//!   is opened lazily at the next push, so label sets without samples cost nothing;
//! - each push goes into the open part with [`FrameWriter::push`]; when the part is full
//!   ([`Error::EncodeBufferFull`]) it is finished, the next part gets a new slot (and
//!   sequence number) from the ring, and the unit's samples written so far move there
//!   with it ([`FrameWriter::move_since`]): a unit arrives in one datagram, so the
//!   aggregator sees one CPU's, one filesystem's or `/proc/meminfo`'s values together
//!   and can derive Telegraf's fields from them (`used_percent`, `usage_*`). Only a
//!   unit that began its part (one too large for any datagram) is split;
//! - at the end every part is sealed with the part count (and the MAC when keyed).
//!
//! Nothing is allocated: the frame writer's buffer is the ring's arena (a moved unit is
//! copied from one slot to the next). `no_std`.

use crate::ring::{CycleSpace, Ring};
use crate::sink::SampleSink;
use pimon_protocol::{DataHeader, EncodedLabels, Error, FrameWriter, GroupMark, Key, Value};

/// Most parts one cycle may have (the part count is one byte).
pub const MAX_PARTS: usize = u8::MAX as usize;

/// What every part of a cycle shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleHeader<'n> {
    /// Node name (1..=32 bytes).
    pub node: &'n str,
    /// Random id of this collector run.
    pub boot_id: u64,
    /// Unix time of the collection, milliseconds.
    pub timestamp_ms: u64,
    /// Collection interval, milliseconds.
    pub interval_ms: u32,
    /// The node's USER_HZ.
    pub user_hz: u16,
}

/// What a cycle produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Parts (datagrams) written.
    pub parts: u8,
    /// Sequence number of the first part.
    pub first_seq: u64,
    /// Samples encoded.
    pub values: u32,
    /// Bytes of all sealed datagrams (MAC included).
    pub bytes: usize,
    /// Samples not encoded: the ring had no room for another part, or the part limit.
    pub lost_values: u32,
    /// `labels()` calls refused (more than 12 labels or a label over 255 bytes); their
    /// samples are counted in `lost_values`.
    pub label_errors: u32,
}

/// A [`SampleSink`] that encodes into the parts of one cycle; see the module docs.
pub struct FrameSink<'s, 'r, 'h> {
    space: &'s mut CycleSpace<'r>,
    header: &'h CycleHeader<'h>,
    key_id: Option<u8>,
    writer: Option<FrameWriter<'r>>,
    labels: EncodedLabels,
    labels_ok: bool,
    group_open: bool,
    /// Where the samples since the last `labels()` call begin in the open part.
    unit: Option<GroupMark>,
    /// Samples of that unit in the open part.
    unit_values: u32,
    out_of_space: bool,
    report: CycleReport,
}

impl<'s, 'r, 'h> FrameSink<'s, 'r, 'h> {
    fn new(space: &'s mut CycleSpace<'r>, header: &'h CycleHeader<'h>, key_id: Option<u8>) -> Self {
        // Pushes before any labels() call are unlabelled (`[]` encodes as one 0 byte).
        let labels = EncodedLabels::encode(&[]).unwrap_or_default();
        FrameSink {
            space,
            header,
            key_id,
            writer: None,
            labels_ok: !labels.as_bytes().is_empty(),
            labels,
            group_open: false,
            unit: None,
            unit_values: 0,
            out_of_space: false,
            report: CycleReport::default(),
        }
    }

    /// Finishes the open part (if any) and starts the next one. With `keep_unit`, the
    /// samples of the current unit leave the finished part for the new one (unless the
    /// unit began the part: then it is split), so that the unit arrives in one datagram.
    fn next_part(&mut self, keep_unit: bool) -> bool {
        let mut moving = None;
        if let Some(w) = self.writer.take() {
            match self.unit.filter(|&m| keep_unit && !w.is_first_group(m)) {
                Some(mark) => {
                    self.space.finish_slot(w.len() - w.len_since(mark));
                    moving = Some((w, mark));
                }
                None => self.space.finish_slot(w.finish()),
            }
        }
        self.group_open = false;
        if moving.is_none() {
            self.unit = None;
            self.unit_values = 0;
        }
        let part = self.space.parts();
        if part >= MAX_PARTS {
            self.out_of_space = true;
            self.lose_moving_unit(moving.is_some());
            return false;
        }
        let Ok(slot) = self.space.next_slot() else {
            self.out_of_space = true;
            self.lose_moving_unit(moving.is_some());
            return false;
        };
        if part == 0 {
            self.report.first_seq = slot.seq;
        }
        let h = DataHeader {
            node: self.header.node,
            boot_id: self.header.boot_id,
            seq: slot.seq,
            resend_floor: slot.resend_floor,
            timestamp_ms: self.header.timestamp_ms,
            interval_ms: self.header.interval_ms,
            user_hz: self.header.user_hz,
            part: part as u8,
            parts: part as u8 + 1, // patched by seal
            key_id: self.key_id,
        };
        match FrameWriter::new(slot.buf, &h) {
            Ok(mut w) => {
                if let Some((mut old, mark)) = moving {
                    // The run began after the old part's first group and the new header
                    // is at most one byte longer (the sequence number's varint): it fits.
                    match old.move_since(mark, &mut w) {
                        Ok(moved) => {
                            self.unit = Some(moved);
                            self.group_open = w.open_group_mark().is_some();
                        }
                        Err(_) => self.lose_moving_unit(true),
                    }
                }
                self.writer = Some(w);
                true
            }
            Err(_) => {
                // Only a bad node name fails here; the CLI refuses those at start.
                self.space.finish_slot(0);
                self.out_of_space = true;
                self.lose_moving_unit(moving.is_some());
                false
            }
        }
    }

    /// The unit being moved did not reach a new part: its samples are lost.
    fn lose_moving_unit(&mut self, moving: bool) {
        if moving {
            self.report.values -= self.unit_values;
            self.report.lost_values += self.unit_values;
        }
        self.unit = None;
        self.unit_values = 0;
    }

    /// Makes sure a part is open with the current labels' group.
    fn open_group(&mut self) -> bool {
        if self.out_of_space {
            return false;
        }
        if self.writer.is_none() && !self.next_part(false) {
            return false;
        }
        if self.group_open {
            return true;
        }
        for attempt in 0..2 {
            let Some(w) = self.writer.as_mut() else {
                return false;
            };
            match w.begin_group(&self.labels) {
                Ok(()) => {
                    self.group_open = true;
                    if self.unit.is_none() {
                        self.unit = w.open_group_mark();
                    }
                    return true;
                }
                Err(Error::EncodeBufferFull) if attempt == 0 => {
                    if !self.next_part(false) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Ends the last part; returns the report (without `bytes`, known after sealing).
    fn finish(mut self) -> CycleReport {
        if self.writer.is_none() && self.space.parts() == 0 && !self.out_of_space {
            // An empty cycle still sends one (empty) frame: the aggregator sees the node.
            self.next_part(false);
        }
        if let Some(w) = self.writer.take() {
            self.space.finish_slot(w.finish());
        }
        self.report.parts = self.space.parts() as u8;
        self.report
    }
}

impl SampleSink for FrameSink<'_, '_, '_> {
    fn labels(&mut self, values: &[&str]) {
        // Every call starts a unit (a new group, even for the same labels), which
        // `push` keeps in one datagram.
        self.group_open = false;
        self.unit = None;
        self.unit_values = 0;
        match EncodedLabels::encode(values) {
            Ok(l) => {
                self.labels = l;
                self.labels_ok = true;
            }
            Err(_) => {
                self.labels_ok = false;
                self.report.label_errors += 1;
            }
        }
    }

    fn push(&mut self, metric: u16, value: Value) {
        if !self.labels_ok || !self.open_group() {
            self.report.lost_values += 1;
            return;
        }
        // A full part: first the unit moves to the next part; if that fills it too (a
        // unit of about a datagram), the unit is split there.
        for attempt in 0..3 {
            let Some(w) = self.writer.as_mut() else { break };
            match w.push(metric, value) {
                Ok(()) => {
                    self.report.values += 1;
                    self.unit_values += 1;
                    return;
                }
                Err(Error::EncodeBufferFull) if attempt < 2 => {
                    if !self.next_part(attempt == 0) || !self.open_group() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        self.report.lost_values += 1;
    }
}

/// Encodes one cycle into `ring`: `collect` pushes the samples, then every part is
/// sealed (part count, MAC with `key`) and waits in the ring as unsent.
///
/// ```
/// use pimon_collector::frames::{CycleHeader, encode_cycle};
/// use pimon_collector::ring::{MIN_RING_BYTES, Ring};
/// use pimon_protocol::Value;
/// let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
/// let header = CycleHeader { node: "pi", boot_id: 1, timestamp_ms: 0, interval_ms: 10_000, user_hz: 100 };
/// let report = encode_cycle(&mut ring, &header, None, |sink| {
///     sink.labels(&["eth0"]);
///     sink.push(5, Value::Unsigned(300));
/// });
/// assert_eq!((report.parts, report.values), (1, 1));
/// ```
pub fn encode_cycle<B: AsRef<[u8]> + AsMut<[u8]>>(
    ring: &mut Ring<B>,
    header: &CycleHeader<'_>,
    key: Option<&Key>,
    collect: impl FnOnce(&mut dyn SampleSink),
) -> CycleReport {
    let mut report = {
        let mut space = ring.open_cycle();
        let mut sink = FrameSink::new(&mut space, header, key.map(Key::id));
        collect(&mut sink);
        sink.finish()
    };
    report.bytes = ring.seal_pending(report.parts, key);
    report
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::ring::{MIN_RING_BYTES, SLOT_BYTES};
    use pimon_protocol::{DataFrame, MAX_DATAGRAM, catalog::id};
    use std::string::String;
    use std::vec::Vec;

    const HEADER: CycleHeader<'static> = CycleHeader {
        node: "pi4",
        boot_id: 42,
        timestamp_ms: 1_700_000_000_000,
        interval_ms: 10_000,
        user_hz: 100,
    };

    /// (labels, metric id, value) of every sample in the ring, with part numbers.
    fn decode<B: AsRef<[u8]> + AsMut<[u8]>>(ring: &Ring<B>) -> Vec<(u8, Vec<String>, u16, Value)> {
        let mut out = Vec::new();
        for (_, d) in ring.datagrams() {
            let f = DataFrame::parse(d).unwrap();
            for s in f.samples() {
                out.push((
                    f.header.part,
                    s.labels.iter().map(|l| String::from(*l)).collect(),
                    s.metric.id,
                    s.value,
                ));
            }
        }
        out
    }

    #[test]
    fn groups_continue_across_parts_and_every_part_is_sealed() {
        let mut ring = Ring::new([0u8; 16 * SLOT_BYTES]).unwrap();
        let key = Key::new(3, b"secret").unwrap();
        let mut pushed = Vec::new();
        let report = encode_cycle(&mut ring, &HEADER, Some(&key), |sink| {
            for cpu in 0..40u64 {
                let label = std::format!("{cpu}");
                sink.labels(&[&label]);
                for (i, m) in [
                    id::CPU_SECONDS_USER,
                    id::CPU_SECONDS_NICE,
                    id::CPU_SECONDS_SYSTEM,
                ]
                .into_iter()
                .enumerate()
                {
                    let v = Value::Unsigned(1_000_000_000 + cpu * 10 + i as u64);
                    sink.push(m, v);
                    pushed.push((vec_of(&label), m, v));
                }
                // Many samples in one group: forces a split in the middle of a group.
                sink.labels(&["x"]);
                for _ in 0..20 {
                    sink.push(id::COLLECTOR_SOURCE_ERRORS, Value::Unsigned(u64::MAX));
                    pushed.push((
                        vec_of("x"),
                        id::COLLECTOR_SOURCE_ERRORS,
                        Value::Unsigned(u64::MAX),
                    ));
                }
            }
        });
        assert!(report.parts >= 3, "{report:?}");
        assert_eq!(report.values as usize, pushed.len());
        assert_eq!(report.lost_values, 0);
        let mut bytes = 0;
        for (i, (seq, d)) in ring.datagrams().enumerate() {
            assert!(d.len() <= MAX_DATAGRAM);
            bytes += d.len();
            let f = DataFrame::parse(d).unwrap();
            assert_eq!(f.header.parts, report.parts);
            assert_eq!(f.header.part as usize, i);
            assert_eq!(seq, report.first_seq + i as u64);
            assert_eq!(f.header.timestamp_ms, HEADER.timestamp_ms);
            f.verify(&key).unwrap();
        }
        assert_eq!(bytes, report.bytes);
        let got: Vec<(Vec<String>, u16, Value)> = decode(&ring)
            .into_iter()
            .map(|(_, l, m, v)| (l, m, v))
            .collect();
        assert_eq!(got, pushed);
    }

    fn vec_of(s: &str) -> Vec<String> {
        std::vec![String::from(s)]
    }

    #[test]
    fn empty_cycle_sends_one_empty_frame() {
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let r = encode_cycle(&mut ring, &HEADER, None, |_| {});
        assert_eq!((r.parts, r.values), (1, 0));
        let (_, d) = ring.datagrams().next().unwrap();
        assert_eq!(DataFrame::parse(d).unwrap().known_samples(), 0);
    }

    #[test]
    fn labels_without_samples_cost_nothing() {
        let mut a = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let mut b = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let ra = encode_cycle(&mut a, &HEADER, None, |s| {
            s.labels(&["eth0"]);
            s.push(id::LOAD1, Value::Unsigned(1));
        });
        let rb = encode_cycle(&mut b, &HEADER, None, |s| {
            s.labels(&["unused", "labels"]);
            s.labels(&["eth0"]);
            s.push(id::LOAD1, Value::Unsigned(1));
            s.labels(&["trailing"]);
        });
        assert_eq!(ra.bytes, rb.bytes);
    }

    #[test]
    fn every_labels_call_starts_a_group_even_with_the_same_labels() {
        let mut a = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let mut b = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let ra = encode_cycle(&mut a, &HEADER, None, |s| {
            s.labels(&["eth0"]);
            s.push(id::LOAD1, Value::Unsigned(1));
            s.push(id::LOAD5, Value::Unsigned(2));
        });
        let rb = encode_cycle(&mut b, &HEADER, None, |s| {
            s.labels(&["eth0"]);
            s.push(id::LOAD1, Value::Unsigned(1));
            s.labels(&["eth0"]);
            s.push(id::LOAD5, Value::Unsigned(2));
        });
        // A second group: its labels (6 bytes) and its count; LOAD5's full id takes one
        // byte, as the delta did.
        assert_eq!(rb.bytes, ra.bytes + 7);
        assert_eq!(decode(&a), decode(&b));
    }

    /// Samples of one `labels()` unit, as (part, labels, id) in push order.
    type Pushed = Vec<(Vec<String>, u16, Value)>;

    fn units_of(ring: &Ring<[u8; 16 * SLOT_BYTES]>) -> Vec<(u8, Vec<String>)> {
        let mut parts_of_unit: Vec<(u8, Vec<String>)> = decode(ring)
            .into_iter()
            .map(|(part, labels, _, _)| (part, labels))
            .collect();
        parts_of_unit.dedup();
        parts_of_unit
    }

    #[test]
    fn a_unit_that_reaches_the_end_of_a_part_moves_whole_to_the_next() {
        let mut ring = Ring::new([0u8; 16 * SLOT_BYTES]).unwrap();
        let mut pushed: Pushed = Vec::new();
        let report = encode_cycle(&mut ring, &HEADER, None, |sink| {
            for unit in 0..60u64 {
                let label = std::format!("fs{unit}");
                sink.labels(&[&label]);
                for m in id::FS_SIZE..=id::FS_DEVICE_ERROR {
                    let v = Value::Unsigned(u64::MAX - unit);
                    sink.push(m, v);
                    pushed.push((vec_of(&label), m, v));
                }
            }
        });
        assert!(report.parts >= 4, "{report:?}");
        assert_eq!(
            (report.values as usize, report.lost_values),
            (pushed.len(), 0)
        );
        // Every unit's label set appears in exactly one part.
        let units = units_of(&ring);
        assert_eq!(units.len(), 60, "{units:?}");
        let got: Pushed = decode(&ring)
            .into_iter()
            .map(|(_, l, m, v)| (l, m, v))
            .collect();
        assert_eq!(got, pushed);
    }

    #[test]
    fn a_unit_larger_than_a_part_is_split_and_nothing_is_lost() {
        let mut ring = Ring::new([0u8; 16 * SLOT_BYTES]).unwrap();
        let report = encode_cycle(&mut ring, &HEADER, None, |sink| {
            sink.labels(&["small"]);
            sink.push(id::LOAD1, Value::Unsigned(1));
            sink.labels(&["huge"]);
            for _ in 0..300 {
                sink.push(id::LOAD1, Value::Unsigned(u64::MAX));
            }
        });
        assert_eq!((report.values, report.lost_values), (301, 0), "{report:?}");
        let units = units_of(&ring);
        // The huge unit moved once (away from "small"), then split across parts.
        assert_eq!(units[0], (0, vec_of("small")));
        assert!(
            units[1..]
                .iter()
                .all(|(part, l)| *part > 0 && *l == vec_of("huge"))
        );
        assert!(units.len() >= 3, "{units:?}");
    }

    #[test]
    fn bad_labels_lose_their_samples_only() {
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let long = "x".repeat(300);
        let r = encode_cycle(&mut ring, &HEADER, None, |s| {
            s.push(id::LOAD1, Value::Unsigned(1)); // before any labels(): unlabelled
            s.labels(&[&long]);
            s.push(id::LOAD5, Value::Unsigned(2));
            s.labels(&["a"; 13]); // over MAX_LABELS
            s.push(id::LOAD5, Value::Unsigned(3));
            s.labels(&[]);
            s.push(id::LOAD15, Value::Unsigned(4));
        });
        assert_eq!((r.values, r.lost_values, r.label_errors), (2, 2, 2));
        let got: Vec<u16> = decode(&ring).into_iter().map(|(_, _, m, _)| m).collect();
        assert_eq!(got, [id::LOAD1, id::LOAD15]);
    }

    #[test]
    fn a_cycle_too_large_for_the_ring_keeps_what_fits_and_counts_the_rest() {
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let r = encode_cycle(&mut ring, &HEADER, None, |s| {
            for i in 0..5000u64 {
                s.push(id::LOAD1, Value::Unsigned(u64::MAX - i));
            }
        });
        assert_eq!(r.parts, 4);
        assert_eq!(r.values + r.lost_values, 5000);
        assert!(r.lost_values > 0);
        assert_eq!(decode(&ring).len() as u32, r.values);
    }
}
