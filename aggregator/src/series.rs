//! The latest value of every series of one node, stored compactly.
//!
//! A series is (catalog row, instance label values). Each is one 24-byte [`Entry`]:
//! the row's *family rank* (its position in [`catalog::FAMILY_ORDER`]), the index of its
//! label set, the time it was last updated and the converted value. Entries are kept
//! sorted by (rank, label set), so the rows of one Prometheus family are one contiguous
//! run and `/metrics` walks every node's entries once, in order, without searching.
//!
//! Label sets are interned per node: a node sends the same few (`cpu="0"`,
//! `device="eth0"` …) every cycle, so each distinct set is stored once in a small byte
//! arena, as `count, (len, bytes)*`. A Pi with ~70 values uses about 2 KiB here.
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    /// Family rank of the catalog row (see [`family_rank`]).
    pub rank: u16,
    /// Index of the label set in the node's [`LabelSets`].
    pub labelset: u16,
    /// When it was last updated: seconds since the store's epoch.
    pub stamp: u32,
    /// Value in the exported unit.
    pub value: Number,
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
                let e = &mut self.entries[i];
                e.stamp = stamp;
                e.value = value;
                Ok(false)
            }
            Err(i) => {
                if self.entries.len() >= max_series {
                    return Err(Refused::SeriesLimit);
                }
                self.entries.insert(
                    i,
                    Entry {
                        rank,
                        labelset: set,
                        stamp,
                        value,
                    },
                );
                Ok(true)
            }
        }
    }

    /// Drops series last updated before `oldest` and label sets no longer used; returns
    /// how many series were dropped.
    pub fn expire(&mut self, oldest: u32) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.stamp >= oldest);
        let dropped = before - self.entries.len();
        if dropped > 0 {
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
    fn entry_is_24_bytes() {
        assert_eq!(size_of::<Entry>(), 24);
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
        assert_eq!((e.stamp, e.value), (6, Number::U64(4)));
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
