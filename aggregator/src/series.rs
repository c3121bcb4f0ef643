//! The latest value of every series of one node, stored compactly.
//!
//! A series is (catalog row, instance label values). Each is one 16-byte [`Entry`]:
//! the row's *family rank* (its position in [`catalog::FAMILY_ORDER`]), the index of its
//! label set, the time it was last updated and the converted value (its 8 bytes, the
//! kind of number in two spare bits of the time). Entries are kept sorted by (rank,
//! label set), so the rows of one Prometheus family are one contiguous run and
//! `/metrics` finds a node's samples of a family with a binary search, in order.
//!
//! Label sets are interned per node: a node sends the same few (`cpu="0"`,
//! `device="eth0"` …) every cycle, so each distinct set is stored once in a small byte
//! arena, as `count, (len, bytes)*`.
//!
//! Memory is what a large fleet is made of: a Raspberry Pi 4 sends 285 values in 36
//! label sets, so its table is about 4.6 KiB of entries and 0.6 KiB of labels. The
//! vectors grow by an eighth (not by doubling) when a node adds series, so a table
//! carries at most about 12 % of unused room (doubling left up to half of it unused:
//! 512 slots for 285 series).
//!
//! Bounds: at most `max_series` entries and [`MAX_LABEL_BYTES`] of label arena per
//! node; what does not fit is refused (the caller counts it).

use std::sync::LazyLock;

use pimon_protocol::catalog::{self, Number};
use pimon_protocol::{MAX_LABEL_LEN, MAX_LABELS};

/// Most bytes of interned label values one node may hold. A node with the cgroup
/// source sends one label set per workload with its cgroup path (30–190 bytes): a busy
/// k3s node (about 160 workloads) needs about 40 KiB. The arena grows as used.
pub const MAX_LABEL_BYTES: usize = 64 * 1024;

static RANKS: LazyLock<Box<[u16]>> = LazyLock::new(|| {
    let mut ranks = vec![u16::MAX; catalog::CATALOG.len()];
    for (rank, &id) in catalog::FAMILY_ORDER.iter().enumerate() {
        if let Some(slot) = ranks.get_mut(usize::from(id)) {
            *slot = rank as u16;
        }
    }
    ranks.into_boxed_slice()
});

/// Position of catalog row `id` in [`catalog::FAMILY_ORDER`] (`None` for unknown ids).
pub fn family_rank(id: u16) -> Option<u16> {
    RANKS
        .get(usize::from(id))
        .copied()
        .filter(|&r| r != u16::MAX)
}

/// The catalog row at family rank `rank`.
pub fn metric_at_rank(rank: u16) -> Option<&'static catalog::Metric> {
    catalog::FAMILY_ORDER
        .get(usize::from(rank))
        .and_then(|&id| catalog::lookup(id))
}

/// One series: where it sits in the exposition, its labels, its latest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Family rank of the catalog row (see [`family_rank`]).
    pub rank: u16,
    /// Index of the label set in the node's [`LabelSets`].
    pub labelset: u16,
    /// Low 30 bits: the stamp ([`Entry::stamp`]); high 2 bits: the kind of `bits`.
    stamp_kind: u32,
    /// The value's bits: `u64`, `i64` or `f64` as the kind says.
    bits: u64,
}

/// Largest series stamp: 2^30 − 1 seconds after the store's epoch (34 years).
pub const MAX_STAMP: u32 = (1 << 30) - 1;

const KIND_SHIFT: u32 = 30;
const KIND_U64: u32 = 0;
const KIND_I64: u32 = 1;
const KIND_F64: u32 = 2;

impl Entry {
    /// An entry; a stamp above [`MAX_STAMP`] is stored as `MAX_STAMP`.
    pub fn new(rank: u16, labelset: u16, stamp: u32, value: Number) -> Entry {
        let mut e = Entry {
            rank,
            labelset,
            stamp_kind: 0,
            bits: 0,
        };
        e.set(stamp, value);
        e
    }

    /// When it was last updated: seconds since the store's epoch.
    pub fn stamp(&self) -> u32 {
        self.stamp_kind & MAX_STAMP
    }

    /// Value in the exported unit.
    pub fn value(&self) -> Number {
        match self.stamp_kind >> KIND_SHIFT {
            KIND_U64 => Number::U64(self.bits),
            KIND_I64 => Number::I64(self.bits as i64),
            _ => Number::F64(f64::from_bits(self.bits)),
        }
    }

    fn set(&mut self, stamp: u32, value: Number) {
        let (kind, bits) = match value {
            Number::U64(v) => (KIND_U64, v),
            Number::I64(v) => (KIND_I64, v as u64),
            Number::F64(v) => (KIND_F64, v.to_bits()),
        };
        self.stamp_kind = stamp.min(MAX_STAMP) | (kind << KIND_SHIFT);
        self.bits = bits;
    }
}

/// Why a sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The node has its maximum number of series.
    SeriesLimit,
    /// The node's label arena is full.
    LabelSpace,
}

/// Interned label sets of one node.
#[derive(Debug, Default, Clone)]
pub struct LabelSets {
    /// Encoded sets back to back: `count, (len, bytes)*`.
    bytes: Vec<u8>,
    /// Start of each set in `bytes`.
    starts: Vec<u32>,
    /// The last set looked up (most samples of a group share it).
    last: Option<u16>,
}

impl LabelSets {
    /// Number of interned sets.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when no set is interned.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The encoded bytes of set `index`.
    pub fn encoded(&self, index: u16) -> &[u8] {
        let i = usize::from(index);
        let start = self.starts.get(i).map_or(0, |&s| s as usize);
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.bytes.len(), |&s| s as usize);
        self.bytes.get(start..end).unwrap_or(&[])
    }

    /// Bytes of the arena.
    pub fn arena_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The whole arena and set starts (for snapshots).
    pub fn raw(&self) -> (&[u8], &[u32]) {
        (&self.bytes, &self.starts)
    }

    fn find_or_add(&mut self, labels: &[&str]) -> Result<u16, Refused> {
        let labels = &labels[..labels.len().min(MAX_LABELS)];
        if let Some(last) = self.last
            && set_matches(self.encoded(last), labels)
        {
            return Ok(last);
        }
        if let Some(i) =
            (0..self.starts.len()).find(|&i| set_matches(self.encoded(i as u16), labels))
        {
            self.last = Some(i as u16);
            return Ok(i as u16);
        }
        let n = 1 + labels
            .iter()
            .map(|l| 1 + l.len().min(MAX_LABEL_LEN))
            .sum::<usize>();
        if self.bytes.len() + n > MAX_LABEL_BYTES || self.starts.len() >= usize::from(u16::MAX) {
            return Err(Refused::LabelSpace);
        }
        grow_by_an_eighth(&mut self.starts, 1, 4);
        grow_by_an_eighth(&mut self.bytes, n, 64);
        self.starts.push(self.bytes.len() as u32);
        self.bytes.push(labels.len() as u8);
        for l in labels {
            let b = &l.as_bytes()[..l.len().min(MAX_LABEL_LEN)];
            self.bytes.push(b.len() as u8);
            self.bytes.extend_from_slice(b);
        }
        let i = (self.starts.len() - 1) as u16;
        self.last = Some(i);
        Ok(i)
    }
}

/// Makes room for `additional` more items in `v`, growing by an eighth of its length
/// (at least `min_step`) instead of doubling: tables of a large fleet stay near their size.
fn grow_by_an_eighth<T>(v: &mut Vec<T>, additional: usize, min_step: usize) {
    let spare = v.capacity() - v.len();
    if spare < additional {
        v.reserve_exact(additional.max(v.len() / 8).max(min_step));
    }
}

/// True when the encoded set holds exactly `labels` (each cut to 255 bytes, as stored).
fn set_matches(encoded: &[u8], labels: &[&str]) -> bool {
    let Some((&count, mut rest)) = encoded.split_first() else {
        return false;
    };
    if usize::from(count) != labels.len() {
        return false;
    }
    for l in labels {
        let b = &l.as_bytes()[..l.len().min(MAX_LABEL_LEN)];
        match rest.split_first() {
            Some((&len, tail)) if usize::from(len) == b.len() && tail.get(..b.len()) == Some(b) => {
                rest = &tail[b.len()..];
            }
            _ => return false,
        }
    }
    rest.is_empty()
}

/// Iterates the label values of an encoded set.
pub fn decode_set(encoded: &[u8]) -> impl Iterator<Item = &str> {
    let count = encoded.first().copied().unwrap_or(0);
    let mut rest = encoded.get(1..).unwrap_or(&[]);
    (0..count).map_while(move |_| {
        let (&len, tail) = rest.split_first()?;
        let (value, tail) = tail.split_at_checked(usize::from(len))?;
        rest = tail;
        std::str::from_utf8(value).ok()
    })
}

/// The series of one node.
#[derive(Debug, Default, Clone)]
pub struct SeriesTable {
    entries: Vec<Entry>,
    labels: LabelSets,
}

impl SeriesTable {
    /// Entries, sorted by (rank, label set).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The interned label sets.
    pub fn label_sets(&self) -> &LabelSets {
        &self.labels
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the node has no series.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes used (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<Entry>()
            + self.labels.bytes.capacity()
            + self.labels.starts.capacity() * size_of::<u32>()
    }

    /// Stores the latest value of (`rank`, `labels`). A new series is refused when the
    /// node already has `max_series` of them or its label arena is full; returns
    /// `Ok(true)` when a series was added.
    pub fn upsert(
        &mut self,
        rank: u16,
        labels: &[&str],
        stamp: u32,
        value: Number,
        max_series: usize,
    ) -> Result<bool, Refused> {
        let set = self.labels.find_or_add(labels)?;
        match self
            .entries
            .binary_search_by(|e| (e.rank, e.labelset).cmp(&(rank, set)))
        {
            Ok(i) => {
                self.entries[i].set(stamp, value);
                Ok(false)
            }
            Err(i) => {
                if self.entries.len() >= max_series {
                    return Err(Refused::SeriesLimit);
                }
                grow_by_an_eighth(&mut self.entries, 1, 8);
                self.entries.insert(i, Entry::new(rank, set, stamp, value));
                Ok(true)
            }
        }
    }

    /// Drops series last updated before `oldest` and label sets no longer used; returns
    /// how many series were dropped.
    pub fn expire(&mut self, oldest: u32) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.stamp() >= oldest);
        let dropped = before - self.entries.len();
        if dropped > 0 {
            let len = self.entries.len();
            if self.entries.capacity() > len + len / 4 + 8 {
                self.entries.shrink_to(len + len / 8);
            }
            self.compact_labels();
        }
        dropped
    }

    /// Removes every series (and label set).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.labels = LabelSets::default();
    }

    /// Rebuilds the label arena with only the sets in use, renumbering entries.
    fn compact_labels(&mut self) {
        let old = std::mem::take(&mut self.labels);
        let mut map = vec![u16::MAX; old.len()];
        for e in &mut self.entries {
            let slot = &mut map[usize::from(e.labelset)];
            if *slot == u16::MAX {
                self.labels.starts.push(self.labels.bytes.len() as u32);
                self.labels.bytes.extend_from_slice(old.encoded(e.labelset));
                *slot = (self.labels.starts.len() - 1) as u16;
            }
            e.labelset = *slot;
        }
        self.labels.bytes.shrink_to_fit();
        self.labels.starts.shrink_to_fit();
        // Renumbering keeps the (rank, set) order within a rank only if sets were
        // numbered in first-use order; re-sort to be safe.
        self.entries.sort_unstable_by_key(|e| (e.rank, e.labelset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::catalog::id;

    #[test]
    fn entry_is_16_bytes() {
        assert_eq!(size_of::<Entry>(), 16);
    }

    #[test]
    fn entry_keeps_every_kind_of_number_and_its_stamp() {
        for value in [
            Number::U64(0),
            Number::U64(u64::MAX),
            Number::I64(-1),
            Number::I64(i64::MIN),
            Number::F64(-0.0),
            Number::F64(f64::INFINITY),
            Number::F64(1.5e-300),
        ] {
            for stamp in [0, 1, MAX_STAMP] {
                let e = Entry::new(7, 3, stamp, value);
                assert_eq!(e.value().as_f64().to_bits(), value.as_f64().to_bits());
                assert_eq!(e.value(), value);
                assert_eq!((e.rank, e.labelset, e.stamp()), (7, 3, stamp));
            }
        }
        let nan = Entry::new(0, 0, 5, Number::F64(f64::NAN));
        assert!(matches!(nan.value(), Number::F64(v) if v.is_nan()));
        assert_eq!(
            Entry::new(0, 0, u32::MAX, Number::U64(1)).stamp(),
            MAX_STAMP
        );
    }

    #[test]
    fn every_family_rank_fits_an_entry() {
        assert!(catalog::FAMILY_ORDER.len() <= usize::from(u16::MAX));
    }

    #[test]
    fn a_pi4_sized_table_carries_little_unused_room() {
        let mut t = SeriesTable::default();
        let labels: Vec<String> = (0..36).map(|i| format!("dev{i}")).collect();
        for i in 0..285u16 {
            let l = &labels[usize::from(i) % labels.len()];
            t.upsert(i / 4, &[l], 1, Number::U64(1), 1000).unwrap();
        }
        assert_eq!(t.len(), 285);
        let slack = t.entries.capacity() - t.len();
        assert!(
            slack * 8 <= t.len() + 8,
            "{} slots for 285 series",
            t.entries.capacity()
        );
        assert!(
            t.heap_bytes() <= 285 * 16 * 9 / 8 + 1024,
            "{} heap bytes",
            t.heap_bytes()
        );
    }

    #[test]
    fn ranks_follow_family_order() {
        for (rank, &id) in catalog::FAMILY_ORDER.iter().enumerate() {
            assert_eq!(family_rank(id), Some(rank as u16));
            assert_eq!(metric_at_rank(rank as u16).unwrap().id, id);
        }
        assert_eq!(family_rank(u16::MAX), None);
    }

    #[test]
    fn upsert_interns_labels_and_keeps_order() {
        let mut t = SeriesTable::default();
        let r_user = family_rank(id::CPU_SECONDS_USER).unwrap();
        let r_idle = family_rank(id::CPU_SECONDS_IDLE).unwrap();
        assert_eq!(t.upsert(r_idle, &["1"], 5, Number::U64(1), 10), Ok(true));
        assert_eq!(t.upsert(r_user, &["1"], 5, Number::U64(2), 10), Ok(true));
        assert_eq!(t.upsert(r_user, &["0"], 5, Number::U64(3), 10), Ok(true));
        assert_eq!(t.upsert(r_user, &["1"], 6, Number::U64(4), 10), Ok(false));
        assert_eq!(t.label_sets().len(), 2);
        let ranks: Vec<u16> = t.entries().iter().map(|e| e.rank).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        assert_eq!(ranks, sorted);
        let e = t
            .entries()
            .iter()
            .find(|e| e.rank == r_user && e.labelset == 0)
            .unwrap();
        assert_eq!((e.stamp(), e.value()), (6, Number::U64(4)));
        let set: Vec<&str> = decode_set(t.label_sets().encoded(1)).collect();
        assert_eq!(set, ["0"]);
    }

    #[test]
    fn limits_refuse_new_series_but_update_old() {
        let mut t = SeriesTable::default();
        assert_eq!(t.upsert(1, &[], 0, Number::U64(1), 1), Ok(true));
        assert_eq!(
            t.upsert(2, &[], 0, Number::U64(1), 1),
            Err(Refused::SeriesLimit)
        );
        assert_eq!(t.upsert(1, &[], 1, Number::U64(2), 1), Ok(false));
        let long = "x".repeat(255);
        let mut refused = false;
        for i in 0..MAX_LABEL_BYTES / 200 {
            let l = format!("{i}{long}");
            if t.upsert(1, &[&l[..255]], 0, Number::U64(1), 1000) == Err(Refused::LabelSpace) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert!(t.label_sets().arena_bytes() <= MAX_LABEL_BYTES);
    }

    #[test]
    fn expire_drops_old_series_and_their_labels() {
        let mut t = SeriesTable::default();
        t.upsert(1, &["a"], 1, Number::U64(1), 10).unwrap();
        t.upsert(1, &["b"], 5, Number::U64(2), 10).unwrap();
        t.upsert(2, &["a"], 1, Number::U64(3), 10).unwrap();
        assert_eq!(t.expire(3), 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.label_sets().len(), 1);
        let e = t.entries()[0];
        assert_eq!(
            decode_set(t.label_sets().encoded(e.labelset)).collect::<Vec<_>>(),
            ["b"]
        );
        // Lookups after compaction find the renumbered set.
        assert_eq!(t.upsert(1, &["b"], 6, Number::U64(9), 10), Ok(false));
    }

    #[test]
    fn decode_set_never_panics_on_garbage() {
        for bytes in [&[][..], &[3, 10, b'a'], &[1, 1, 0xff], &[2, 0, 0]] {
            let _ = decode_set(bytes).count();
        }
        assert_eq!(decode_set(&[2, 0, 0]).collect::<Vec<_>>(), ["", ""]);
    }
}
