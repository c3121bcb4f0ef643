//! The latest value of every series of one node, stored compactly: the series *keys*
//! are shared by the nodes of a fleet, each node keeps only its values.
//!
//! A series is (catalog row, instance label values). Its key is the row's *family rank*
//! (its position in [`catalog::FAMILY_ORDER`]) and the index of its label set.
//!
//! # Layouts: the keys, shared
//! The nodes of a fleet send the same series: every Raspberry Pi 4 of a fleet sends the
//! same (rank, label set) list in the same order, every cycle (about 625 values in 3
//! datagrams and 45 label sets for the Pi 4 fixture). So a node's *layout* — its keys in
//! the order they first arrived, its label sets (`count, (len, bytes)*` back to back)
//! and the keys' order by (rank, label set) for readers — is interned in a table
//! shared by the store ([`Layouts`]): equal layouts are one [`Arc`], found by hash. A
//! node keeps an `Arc` to its layout and, in the layout's key order, per value:
//!
//! - the value's 8 bytes (`u64`, `i64` or `f64` bits),
//! - a 16-bit stamp: seconds since the node's own base stamp, plus one (0 means "before
//!   the base": stale). A node's first base is 32,768 s before its first stamp. When a
//!   stamp no longer fits, the base moves forward by what is needed so the newest
//!   stamp sits 32,768 s after it; values older than the new base (more than 9 hours
//!   old) become "before the base", i.e. stale whatever the configured stale time. An
//!   earlier stamp moves the base back, unless it is more than 18 hours before the
//!   node's newest: then it is stored stale. The values of one frame share its stamp
//!   and take consecutive slots, so the stamps are kept as *runs* of slots
//!   ([`crate::stamps`]: a Pi 4's cycle is three runs, 32 bytes, where a stamp per value
//!   took 1.3 KB); a series a frame did not refresh keeps its own stamp.
//! - the kind of number: 2 bits, four values a byte, kept in the layout (the kinds of
//!   the node that made it); a node whose kinds differ (a value that turned from an
//!   integer into a float) keeps its own copy.
//!
//! That is 8 bytes per value and a few runs (a Pi 4: 5.2 KB) against 16 for the former
//! entry of (rank, label set, stamp, value) per node, and the label sets (about 2 KB a
//! Pi 4) are paid once per layout rather than once per node.
//!
//! **Copy on write.** A node that sends a series its layout lacks gets a new layout:
//! the new keys of the frame are appended (in arrival order) to a copy of its keys and
//! label sets, which is interned — so nodes that grow the same way share the result
//! too — and its values are copied into arrays one longer. One new layout per frame
//! with new series, not per series: the first cycle of a new Pi 4 makes three. A
//! sweep that drops stale series does the same with the kept keys (label sets
//! renumbered in first use). A layout that no node uses is dropped from the table when
//! its last node leaves it ([`Layouts::release`]), and every sweep drops any left over
//! ([`Layouts::purge`]), so churn (workloads of a k3s node coming and going every
//! cycle) costs copies, never a leak. A node whose series are its own pays for its own
//! layout, bounded like before: at most `max_series` keys and [`MAX_LABEL_BYTES`] of
//! label sets.
//!
//! # Upsert fast path
//! Values arrive in the same order every cycle, which is the layout's key order. A
//! cursor remembers the slot after the last one written; the next value is first
//! compared with the key there (rank, then label bytes), and only on a miss looked up
//! (label set by a scan of the sets, then the key by binary search over the sorted
//! order). A frame that starts elsewhere (the second datagram of a cycle) misses once
//! and then follows.
//!
//! Bounds: at most `max_series` values and [`MAX_LABEL_BYTES`] of label sets per node;
//! what does not fit is refused (the caller counts it).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use pimon_protocol::catalog::{self, Number};
use pimon_protocol::{MAX_LABEL_LEN, MAX_LABELS};

use crate::stamps::Stamps;

/// Most bytes of interned label values one node may hold. A node with the cgroup
/// source sends one label set per workload with its cgroup path (30–190 bytes): a busy
/// k3s node (about 160 workloads) needs about 40 KiB.
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

/// One series as readers see it: where it sits in the exposition, its labels, its
/// latest value. (The store keeps it in pieces: the key in the shared layout, the
/// value and stamp per node.)
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
const KIND_U64: u8 = 0;
const KIND_I64: u8 = 1;
const KIND_F64: u8 = 2;

fn split(value: Number) -> (u8, u64) {
    match value {
        Number::U64(v) => (KIND_U64, v),
        Number::I64(v) => (KIND_I64, v as u64),
        Number::F64(v) => (KIND_F64, v.to_bits()),
    }
}

/// The kind of value `i` in an array of 2-bit kinds (0 past its end).
fn kind_in(kinds: &[u8], i: usize) -> u8 {
    kinds.get(i / 4).map_or(0, |b| (b >> (2 * (i % 4))) & 3)
}

fn set_kind_in(kinds: &mut [u8], i: usize, kind: u8) {
    let shift = 2 * (i % 4);
    if let Some(b) = kinds.get_mut(i / 4) {
        *b = (*b & !(3 << shift)) | (kind << shift);
    }
}

fn join(kind: u8, bits: u64) -> Number {
    match kind {
        KIND_U64 => Number::U64(bits),
        KIND_I64 => Number::I64(bits as i64),
        _ => Number::F64(f64::from_bits(bits)),
    }
}

impl Entry {
    /// An entry; a stamp above [`MAX_STAMP`] is stored as `MAX_STAMP`.
    pub fn new(rank: u16, labelset: u16, stamp: u32, value: Number) -> Entry {
        let (kind, bits) = split(value);
        Entry {
            rank,
            labelset,
            stamp_kind: stamp.min(MAX_STAMP) | (u32::from(kind) << KIND_SHIFT),
            bits,
        }
    }

    /// When it was last updated: seconds since the store's epoch.
    pub fn stamp(&self) -> u32 {
        self.stamp_kind & MAX_STAMP
    }

    /// Value in the exported unit.
    pub fn value(&self) -> Number {
        join((self.stamp_kind >> KIND_SHIFT) as u8, self.bits)
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

/// Interned label sets of one layout.
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash)]
pub struct LabelSets {
    /// Encoded sets back to back: `count, (len, bytes)*`.
    bytes: Vec<u8>,
    /// Start of each set in `bytes`.
    starts: Vec<u32>,
}

static NO_LABELS: LabelSets = LabelSets {
    bytes: Vec::new(),
    starts: Vec::new(),
};

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

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.starts.capacity() * size_of::<u32>()
    }

    /// The index of the set holding exactly `labels`.
    fn find(&self, labels: &[&str]) -> Option<u16> {
        (0..self.starts.len())
            .find(|&i| set_matches(self.encoded(i as u16), labels))
            .map(|i| i as u16)
    }

    /// The index of the set encoded exactly as `encoded` (`count, (len, bytes)*`).
    fn find_encoded(&self, encoded: &[u8]) -> Option<u16> {
        (0..self.starts.len())
            .find(|&i| self.encoded(i as u16) == encoded)
            .map(|i| i as u16)
    }

    fn push_encoded(&mut self, encoded: &[u8]) -> u16 {
        self.starts.push(self.bytes.len() as u32);
        self.bytes.extend_from_slice(encoded);
        (self.starts.len() - 1) as u16
    }

    fn push(&mut self, labels: &[&str]) -> u16 {
        self.starts.push(self.bytes.len() as u32);
        self.bytes.push(labels.len() as u8);
        for l in labels {
            let b = &l.as_bytes()[..l.len().min(MAX_LABEL_LEN)];
            self.bytes.push(b.len() as u8);
            self.bytes.extend_from_slice(b);
        }
        (self.starts.len() - 1) as u16
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
    }
}

/// Bytes `labels` take encoded.
fn encoded_len(labels: &[&str]) -> usize {
    1 + labels
        .iter()
        .map(|l| 1 + l.len().min(MAX_LABEL_LEN))
        .sum::<usize>()
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

/// A series key: family rank and label set index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    rank: u16,
    set: u16,
}

/// The series keys of one or more nodes, in the order they first arrived, with their
/// label sets; shared through [`Layouts`].
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    keys: Box<[Key]>,
    /// Indices of `keys` sorted by (rank, label set): the order readers see.
    sorted: Box<[u32]>,
    labels: LabelSets,
    /// The kinds of number of the node that made the layout, 2 bits a key (not part of
    /// its identity: a node whose kinds differ keeps its own, see [`SeriesTable`]).
    kinds: Box<[u8]>,
}

impl Layout {
    fn new(keys: Vec<Key>, mut labels: LabelSets, kinds: Box<[u8]>) -> Layout {
        let mut sorted: Vec<u32> = (0..keys.len() as u32).collect();
        sorted.sort_unstable_by_key(|&i| keys[i as usize]);
        labels.bytes.shrink_to_fit();
        labels.starts.shrink_to_fit();
        Layout {
            keys: keys.into_boxed_slice(),
            sorted: sorted.into_boxed_slice(),
            labels,
            kinds,
        }
    }

    fn hash_of(keys: &[Key], labels: &LabelSets) -> u64 {
        let mut h = DefaultHasher::new();
        keys.hash(&mut h);
        labels.hash(&mut h);
        h.finish()
    }

    /// Number of series keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when it has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Heap bytes of the layout (its `Arc` included).
    pub fn heap_bytes(&self) -> usize {
        2 * size_of::<usize>()
            + size_of::<Layout>()
            + self.keys.len() * size_of::<Key>()
            + self.sorted.len() * size_of::<u32>()
            + self.labels.heap_bytes()
            + self.kinds.len()
    }

    /// The slot of key (`rank`, `set`).
    fn find(&self, rank: u16, set: u16) -> Option<usize> {
        let want = Key { rank, set };
        self.sorted
            .binary_search_by(|&i| self.keys[i as usize].cmp(&want))
            .ok()
            .map(|j| self.sorted[j] as usize)
    }
}

/// The fleet's layouts, each held once.
#[derive(Debug, Default)]
pub struct Layouts {
    by_hash: HashMap<u64, Vec<Arc<Layout>>>,
    count: usize,
    heap_bytes: usize,
}

impl Layouts {
    /// Number of distinct layouts held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no layout is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Heap bytes of all layouts and the table.
    pub fn heap_bytes(&self) -> usize {
        self.heap_bytes
            + self.by_hash.capacity() * (size_of::<u64>() + size_of::<Vec<Arc<Layout>>>() + 1)
    }

    /// The layout equal to (`keys`, `labels`), interned if new (with `kinds` as its
    /// kinds of number).
    fn intern(&mut self, keys: Vec<Key>, labels: LabelSets, kinds: &[u8]) -> Arc<Layout> {
        let hash = Layout::hash_of(&keys, &labels);
        let bucket = self.by_hash.entry(hash).or_default();
        if let Some(l) = bucket
            .iter()
            .find(|l| *l.keys == *keys && l.labels == labels)
        {
            return l.clone();
        }
        let l = Arc::new(Layout::new(keys, labels, kinds.into()));
        self.count += 1;
        self.heap_bytes += l.heap_bytes();
        bucket.push(l.clone());
        l
    }

    /// Gives back a node's reference to `layout`; the layout leaves the table when no
    /// node holds it any more.
    pub fn release(&mut self, layout: Arc<Layout>) {
        // The table's reference and this one: nobody else.
        if Arc::strong_count(&layout) > 2 {
            return;
        }
        let hash = Layout::hash_of(&layout.keys, &layout.labels);
        if let Some(bucket) = self.by_hash.get_mut(&hash)
            && let Some(i) = bucket.iter().position(|l| Arc::ptr_eq(l, &layout))
        {
            bucket.swap_remove(i);
            self.count -= 1;
            self.heap_bytes -= layout.heap_bytes();
            if bucket.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
    }

    /// Drops every layout no node holds (a node state cloned and dropped elsewhere
    /// leaves its layout behind until then).
    pub fn purge(&mut self) {
        let (mut count, mut bytes) = (0, 0);
        self.by_hash.retain(|_, bucket| {
            bucket.retain(|l| Arc::strong_count(l) > 1);
            count += bucket.len();
            bytes += bucket.iter().map(|l| l.heap_bytes()).sum::<usize>();
            !bucket.is_empty()
        });
        self.count = count;
        self.heap_bytes = bytes;
        if self.by_hash.capacity() > 2 * self.by_hash.len() + 64 {
            self.by_hash.shrink_to_fit();
        }
    }
}

/// New series of one batch, waiting for their layout (reused between batches).
#[derive(Debug, Default)]
pub struct Pending {
    /// Label sets the node's layout lacks.
    labels: LabelSets,
    items: Vec<PendingItem>,
    /// How many of `items` are known distinct (a prefix, after [`Pending::compact`]).
    distinct: usize,
    /// Why the last refused sample of the batch was refused.
    last_refusal: Option<Refused>,
}

#[derive(Debug, Clone, Copy)]
struct PendingItem {
    rank: u16,
    /// A set of the layout, or (with [`NEW_SET`]) of `Pending::labels`.
    set: u32,
    kind: u8,
    bits: u64,
    order: u32,
}

const NEW_SET: u32 = 1 << 16;

impl Pending {
    fn clear(&mut self) {
        self.labels.clear();
        self.items.clear();
        self.distinct = 0;
        self.last_refusal = None;
    }

    /// Why the last refused sample of the last batch was refused (`None`: none was).
    pub fn last_refusal(&self) -> Option<Refused> {
        self.last_refusal
    }

    /// Keeps one item per key (the last value, at the first one's place), in arrival
    /// order.
    fn compact(&mut self) {
        self.items.sort_by_key(|p| (p.rank, p.set));
        self.items.dedup_by(|later, first| {
            if (later.rank, later.set) == (first.rank, first.set) {
                first.kind = later.kind;
                first.bits = later.bits;
                true
            } else {
                false
            }
        });
        self.items.sort_unstable_by_key(|p| p.order);
        self.distinct = self.items.len();
    }
}

/// The series of one node: a shared [`Layout`] and the node's values in its order.
#[derive(Debug, Default, Clone)]
pub struct SeriesTable {
    layout: Option<Arc<Layout>>,
    values: Box<[u64]>,
    /// Per value: seconds since `base`, plus one; 0: before `base`. Kept as runs of
    /// slots written together ([`crate::stamps`]).
    stamps: Stamps,
    /// Per value, 2 bits: the kind of number, when it differs from the layout's
    /// (`None`: the layout's kinds are the node's).
    kinds: Option<Box<[u8]>>,
    /// Stamp (seconds since the store's epoch) that `stamps` count from.
    base: u32,
    /// The slot after the last one written: where the next value is looked for first.
    cursor: u32,
}

/// Stamps this far after the base (stored + 1) fit.
const MAX_REL: u32 = u16::MAX as u32 - 1;
/// After a rebase the newest stamp is this far after the new base.
const REBASE_REL: u32 = 1 << 15;

impl SeriesTable {
    /// The node's layout (`None` until it has a series).
    pub fn layout(&self) -> Option<&Arc<Layout>> {
        self.layout.as_ref()
    }

    fn keys(&self) -> &[Key] {
        self.layout.as_deref().map_or(&[], |l| &l.keys)
    }

    /// The label sets of the node's layout.
    pub fn label_sets(&self) -> &LabelSets {
        self.layout.as_deref().map_or(&NO_LABELS, |l| &l.labels)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the node has no series.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Heap bytes of the node's own values (its layout is the store's, counted once in
    /// [`Layouts::heap_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.values.len() * size_of::<u64>()
            + self.stamps.heap_bytes()
            + self.kinds.as_ref().map_or(0, |k| k.len())
    }

    /// The kinds of number, 2 bits a value: the node's own or its layout's.
    fn kinds(&self) -> &[u8] {
        match &self.kinds {
            Some(own) => own,
            None => self.layout.as_deref().map_or(&[], |l| &l.kinds),
        }
    }

    fn kind(&self, i: usize) -> u8 {
        kind_in(self.kinds(), i)
    }

    fn set_kind(&mut self, i: usize, kind: u8) {
        if self.kind(i) == kind {
            return;
        }
        if self.kinds.is_none() {
            self.kinds = Some(self.kinds().into());
        }
        if let Some(own) = &mut self.kinds {
            set_kind_in(own, i, kind);
        }
    }

    /// Takes `layout` (interned with `kinds`, the node's kinds of number for it): its
    /// kinds are the node's unless they differ. Gives the former layout back.
    fn take_layout(&mut self, layouts: &mut Layouts, layout: Arc<Layout>, kinds: Vec<u8>) {
        self.kinds = (*layout.kinds != *kinds).then(|| kinds.into_boxed_slice());
        if let Some(old) = self.layout.replace(layout) {
            layouts.release(old);
        }
    }

    fn stamp_at(&self, i: usize) -> u32 {
        match self.stamps.get(i) {
            0 => 0,
            rel => self.base.saturating_add(u32::from(rel) - 1),
        }
    }

    fn entry(&self, slot: usize) -> Entry {
        let k = self.keys()[slot];
        Entry::new(
            k.rank,
            k.set,
            self.stamp_at(slot),
            join(self.kind(slot), self.values[slot]),
        )
    }

    /// Every series, sorted by (rank, label set).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.entries_in(0..u16::MAX) // no family has rank u16::MAX
    }

    /// The series with a family rank in `ranks`, sorted by (rank, label set).
    pub fn entries_in(&self, ranks: Range<u16>) -> impl Iterator<Item = Entry> + '_ {
        let (keys, sorted): (&[Key], &[u32]) = match self.layout.as_deref() {
            Some(l) => (&l.keys, &l.sorted),
            None => (&[], &[]),
        };
        let from = sorted.partition_point(|&i| keys[i as usize].rank < ranks.start);
        let end = sorted.partition_point(|&i| keys[i as usize].rank < ranks.end);
        sorted[from..end.max(from)]
            .iter()
            .map(move |&i| self.entry(i as usize))
    }

    /// The stored form of `stamp`, moving the base forward if it does not fit.
    fn rel_stamp(&mut self, stamp: u32) -> u16 {
        if self.values.is_empty() {
            // Room for stamps 9 hours either side.
            self.base = stamp.saturating_sub(REBASE_REL);
        }
        if stamp < self.base {
            let shift = self.base - stamp;
            let newest = self.stamps.max();
            if u32::from(newest) + shift > MAX_REL + 1 {
                // More than 18 hours before the newest value: stale at once.
                return 0;
            }
            self.stamps
                .map(|s| if s != 0 { s + shift as u16 } else { 0 });
            self.base = stamp;
        }
        if stamp - self.base > MAX_REL {
            let shift = stamp - self.base - REBASE_REL;
            self.stamps.map(|s| {
                if u32::from(s) > shift + 1 {
                    (u32::from(s) - shift) as u16
                } else {
                    0
                }
            });
            self.base += shift;
        }
        (stamp - self.base + 1) as u16
    }

    /// Writes a value (its stamp is the batch's: see [`SeriesTable::upsert_batch`]).
    fn write(&mut self, slot: usize, kind: u8, bits: u64) {
        self.values[slot] = bits;
        self.set_kind(slot, kind);
        self.cursor = slot as u32 + 1;
    }

    /// The slot of (`rank`, `labels`) in the node's layout.
    fn slot_of(&self, rank: u16, labels: &[&str]) -> Option<usize> {
        let layout = self.layout.as_deref()?;
        let c = self.cursor as usize;
        if let Some(k) = layout.keys.get(c)
            && k.rank == rank
            && set_matches(layout.labels.encoded(k.set), labels)
        {
            return Some(c);
        }
        let set = layout.labels.find(labels)?;
        layout.find(rank, set)
    }

    /// The slot of (`rank`, the set encoded as `labels`) in the node's layout: as
    /// [`slot_of`](Self::slot_of), comparing the encoded bytes.
    fn slot_of_encoded(&self, rank: u16, labels: &[u8]) -> Option<usize> {
        let layout = self.layout.as_deref()?;
        let c = self.cursor as usize;
        if let Some(k) = layout.keys.get(c)
            && k.rank == rank
            && layout.labels.encoded(k.set) == labels
        {
            return Some(c);
        }
        let set = layout.labels.find_encoded(labels)?;
        layout.find(rank, set)
    }

    /// Writes the values of a batch (one frame) at `stamp` into the series the node
    /// has — (`rank`, the label set encoded as `labels`, as [`LabelSets`] encodes one)
    /// — as [`upsert_batch`](Self::upsert_batch) writes them, without decoding their
    /// label sets; the samples of series it has not are appended to `missing`, in
    /// order, for `upsert_batch`.
    pub fn write_known<'a>(
        &mut self,
        stamp: u32,
        samples: impl Iterator<Item = (u16, &'a [u8], Number)>,
        missing: &mut Vec<(u16, &'a [u8], Number)>,
    ) {
        // Without a layout nothing is known: upsert_batch stamps the batch.
        let rel = if self.layout.is_some() {
            self.rel_stamp(stamp)
        } else {
            0
        };
        // The slots written, as the run being written: its stamp is set once per run.
        let mut run = 0..0;
        for (rank, labels, value) in samples {
            let Some(slot) = self.slot_of_encoded(rank, labels) else {
                missing.push((rank, labels, value));
                continue;
            };
            let (kind, bits) = split(value);
            self.write(slot, kind, bits);
            self.stamps.extend_run(&mut run, slot, rel);
        }
        self.stamps.fill(run, rel);
    }

    /// Stores the latest values of a batch (one frame) at `stamp`: known series are
    /// written in place; new ones, at most `max_new` of them, are added with a new
    /// layout at the end. Returns (series added, samples refused).
    pub fn upsert_batch<'a, L: AsRef<[&'a str]>>(
        &mut self,
        layouts: &mut Layouts,
        pending: &mut Pending,
        stamp: u32,
        samples: impl Iterator<Item = (u16, L, Number)>,
        max_new: usize,
    ) -> (usize, u64) {
        pending.clear();
        let rel = self.rel_stamp(stamp);
        let mut refused = 0;
        // The slots written, as the run being written: its stamp is set once per run.
        let mut run = 0..0;
        for (order, (rank, labels, value)) in samples.enumerate() {
            let labels = labels.as_ref();
            let labels = &labels[..labels.len().min(MAX_LABELS)];
            let (kind, bits) = split(value);
            if let Some(slot) = self.slot_of(rank, labels) {
                self.write(slot, kind, bits);
                self.stamps.extend_run(&mut run, slot, rel);
                continue;
            }
            if let Err(why) = self.add_pending(pending, rank, labels, kind, bits, order, max_new) {
                pending.last_refusal = Some(why);
                refused += 1;
            }
        }
        self.stamps.fill(run, rel);
        let added = self.apply(layouts, pending, rel);
        (added, refused)
    }

    #[allow(clippy::too_many_arguments)]
    fn add_pending(
        &self,
        pending: &mut Pending,
        rank: u16,
        labels: &[&str],
        kind: u8,
        bits: u64,
        order: usize,
        max_new: usize,
    ) -> Result<(), Refused> {
        let own = self.label_sets();
        let set = match own.find(labels) {
            Some(s) => u32::from(s),
            None => match pending.labels.find(labels) {
                Some(s) => NEW_SET | u32::from(s),
                None => {
                    let n = encoded_len(labels);
                    if own.arena_bytes() + pending.labels.arena_bytes() + n > MAX_LABEL_BYTES
                        || own.len() + pending.labels.len() >= usize::from(u16::MAX)
                    {
                        return Err(Refused::LabelSpace);
                    }
                    NEW_SET | u32::from(pending.labels.push(labels))
                }
            },
        };
        let item = PendingItem {
            rank,
            set,
            kind,
            bits,
            order: order as u32,
        };
        if pending.items.len() >= max_new {
            // Maybe a key sent twice in the frame: count distinct keys before refusing.
            if pending.distinct < pending.items.len() {
                pending.compact();
            }
            if let Some(p) = pending
                .items
                .iter_mut()
                .find(|p| (p.rank, p.set) == (rank, set))
            {
                p.kind = kind;
                p.bits = bits;
                return Ok(());
            }
            if pending.items.len() >= max_new {
                return Err(Refused::SeriesLimit);
            }
        }
        pending.items.push(item);
        Ok(())
    }

    /// Adds the pending series: a new layout (interned) and value arrays one batch
    /// longer. Returns how many were added.
    fn apply(&mut self, layouts: &mut Layouts, pending: &mut Pending, rel: u16) -> usize {
        if pending.items.is_empty() {
            return 0;
        }
        pending.compact();
        let old = self.keys();
        let n = old.len() + pending.items.len();
        let mut keys = Vec::with_capacity(n);
        keys.extend_from_slice(old);
        let mut labels = self.label_sets().clone();
        let mut map = vec![u16::MAX; pending.labels.len()];
        for p in &pending.items {
            let set = if p.set & NEW_SET == 0 {
                p.set as u16
            } else {
                let i = (p.set & !NEW_SET) as usize;
                if map[i] == u16::MAX {
                    map[i] = labels.push_encoded(pending.labels.encoded(i as u16));
                }
                map[i]
            };
            keys.push(Key { rank: p.rank, set });
        }
        let first_new = self.values.len();
        let mut kinds = vec![0u8; n.div_ceil(4)];
        let own = self.kinds();
        kinds[..own.len()].copy_from_slice(own);
        for (i, p) in pending.items.iter().enumerate() {
            set_kind_in(&mut kinds, first_new + i, p.kind);
        }
        let layout = layouts.intern(keys, labels, &kinds);
        let mut values = Vec::with_capacity(n);
        values.extend_from_slice(&self.values);
        values.extend(pending.items.iter().map(|p| p.bits));
        self.values = values.into_boxed_slice();
        self.stamps.extend(pending.items.len(), rel);
        self.take_layout(layouts, layout, kinds);
        pending.items.len()
    }

    /// Drops series last updated before `oldest` and label sets no longer used; returns
    /// how many series were dropped.
    pub fn expire(&mut self, layouts: &mut Layouts, oldest: u32) -> usize {
        let base = self.base;
        let fresh = |rel: u16| rel != 0 && base.saturating_add(u32::from(rel) - 1) >= oldest;
        // Every sweep looks at every node: nothing is allocated while all is fresh (a
        // look at each run of stamps).
        if self.stamps.distinct().all(fresh) {
            return 0;
        }
        let keep: Vec<bool> = self.stamps.iter().map(fresh).collect();
        let kept = keep.iter().filter(|&&k| k).count();
        let dropped = self.len() - kept;
        if dropped == 0 {
            return 0;
        }
        if kept == 0 {
            self.clear(layouts);
            return dropped;
        }
        let old_labels = self.label_sets();
        let mut labels = LabelSets::default();
        let mut map = vec![u16::MAX; old_labels.len()];
        let mut keys = Vec::with_capacity(kept);
        let mut values = Vec::with_capacity(kept);
        let mut kinds = vec![0u8; kept.div_ceil(4)];
        for (i, k) in self.keys().iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let slot = &mut map[usize::from(k.set)];
            if *slot == u16::MAX {
                *slot = labels.push_encoded(old_labels.encoded(k.set));
            }
            set_kind_in(&mut kinds, keys.len(), self.kind(i));
            keys.push(Key {
                rank: k.rank,
                set: *slot,
            });
            values.push(self.values[i]);
        }
        let layout = layouts.intern(keys, labels, &kinds);
        self.values = values.into_boxed_slice();
        self.stamps = Stamps::from_slots(
            self.stamps
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(s, _)| s),
        );
        self.cursor = 0;
        self.take_layout(layouts, layout, kinds);
        dropped
    }

    /// Removes every series (and gives its layout back).
    pub fn clear(&mut self, layouts: &mut Layouts) {
        if let Some(old) = self.layout.take() {
            layouts.release(old);
        }
        *self = SeriesTable::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::catalog::id;

    /// One node's table with its own layout table, for the tests.
    #[derive(Default)]
    struct One {
        t: SeriesTable,
        layouts: Layouts,
        pending: Pending,
    }

    impl One {
        fn upsert(
            &mut self,
            rank: u16,
            labels: &[&str],
            stamp: u32,
            value: Number,
            max_series: usize,
        ) -> Result<bool, Refused> {
            upsert(
                &mut self.t,
                &mut self.layouts,
                &mut self.pending,
                rank,
                labels,
                stamp,
                value,
                max_series,
            )
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn upsert(
        t: &mut SeriesTable,
        layouts: &mut Layouts,
        pending: &mut Pending,
        rank: u16,
        labels: &[&str],
        stamp: u32,
        value: Number,
        max_series: usize,
    ) -> Result<bool, Refused> {
        let max_new = max_series.saturating_sub(t.len());
        let sample = (rank, labels, value);
        let (added, refused) =
            t.upsert_batch(layouts, pending, stamp, std::iter::once(sample), max_new);
        match pending.last_refusal() {
            Some(why) => Err(why),
            None => {
                assert_eq!(refused, 0);
                Ok(added > 0)
            }
        }
    }

    /// A Pi-4-like frame: `n` values over `sets` label sets, in a fixed order.
    fn frame(n: u16, sets: &[String]) -> Vec<(u16, [&str; 1], Number)> {
        (0..n)
            .map(|i| {
                let l = sets[usize::from(i) % sets.len()].as_str();
                (i / 4, [l], Number::U64(u64::from(i)))
            })
            .collect()
    }

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
    fn the_table_keeps_every_kind_of_number_and_its_stamp() {
        let mut one = One::default();
        let values = [
            Number::U64(u64::MAX),
            Number::I64(i64::MIN),
            Number::F64(-0.0),
            Number::F64(1.5e-300),
            Number::I64(-1),
        ];
        for (i, &v) in values.iter().enumerate() {
            one.upsert(i as u16, &[], 70 + i as u32, v, 100).unwrap();
        }
        let got: Vec<(u32, Number)> = one.t.entries().map(|e| (e.stamp(), e.value())).collect();
        for (i, &v) in values.iter().enumerate() {
            assert_eq!(got[i].0, 70 + i as u32);
            assert_eq!(got[i].1.as_f64().to_bits(), v.as_f64().to_bits());
            assert_eq!(got[i].1, v);
        }
        // A series whose kind changes keeps the new kind.
        one.upsert(1, &[], 80, Number::F64(2.5), 100).unwrap();
        assert_eq!(one.t.entries().nth(1).unwrap().value(), Number::F64(2.5));
        assert_eq!(one.t.entries().nth(2).unwrap().value(), Number::F64(-0.0));
    }

    #[test]
    fn every_family_rank_fits_an_entry() {
        assert!(catalog::FAMILY_ORDER.len() <= usize::from(u16::MAX));
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
    fn a_pi4_sized_node_costs_about_eight_bytes_a_value() {
        let mut one = One::default();
        let sets: Vec<String> = (0..45).map(|i| format!("dev{i}")).collect();
        let f = frame(625, &sets);
        let (added, refused) = one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            1,
            f.iter().copied(),
            8000,
        );
        assert_eq!((added, refused), (625, 0));
        assert_eq!(one.t.len(), 625);
        assert!(
            one.t.heap_bytes() <= 625 * 8 + 64,
            "{} heap bytes",
            one.t.heap_bytes()
        );
        assert_eq!(one.layouts.len(), 1);
    }

    #[test]
    fn upsert_interns_labels_and_keeps_order() {
        let mut one = One::default();
        let r_user = family_rank(id::CPU_SECONDS_USER).unwrap();
        let r_idle = family_rank(id::CPU_SECONDS_IDLE).unwrap();
        assert_eq!(one.upsert(r_idle, &["1"], 5, Number::U64(1), 10), Ok(true));
        assert_eq!(one.upsert(r_user, &["1"], 5, Number::U64(2), 10), Ok(true));
        assert_eq!(one.upsert(r_user, &["0"], 5, Number::U64(3), 10), Ok(true));
        assert_eq!(one.upsert(r_user, &["1"], 6, Number::U64(4), 10), Ok(false));
        let t = &one.t;
        assert_eq!(t.label_sets().len(), 2);
        let ranks: Vec<u16> = t.entries().map(|e| e.rank).collect();
        let mut sorted = ranks.clone();
        sorted.sort();
        assert_eq!(ranks, sorted);
        let e = t
            .entries()
            .find(|e| e.rank == r_user && e.labelset == 0)
            .unwrap();
        assert_eq!((e.stamp(), e.value()), (6, Number::U64(4)));
        let set: Vec<&str> = decode_set(t.label_sets().encoded(1)).collect();
        assert_eq!(set, ["0"]);
        // Within a rank, label sets in index order.
        let sets: Vec<u16> = t
            .entries()
            .filter(|e| e.rank == r_user)
            .map(|e| e.labelset)
            .collect();
        assert_eq!(sets, [0, 1]);
        assert_eq!(t.entries_in(r_user..r_user + 1).count(), 2);
    }

    #[test]
    fn limits_refuse_new_series_but_update_old() {
        let mut one = One::default();
        assert_eq!(one.upsert(1, &[], 0, Number::U64(1), 1), Ok(true));
        assert_eq!(
            one.upsert(2, &[], 0, Number::U64(1), 1),
            Err(Refused::SeriesLimit)
        );
        assert_eq!(one.upsert(1, &[], 1, Number::U64(2), 1), Ok(false));
        let long = "x".repeat(255);
        let mut refused = false;
        for i in 0..MAX_LABEL_BYTES / 200 {
            let l = format!("{i}{long}");
            if one.upsert(1, &[&l[..255]], 0, Number::U64(1), 1000) == Err(Refused::LabelSpace) {
                refused = true;
                break;
            }
        }
        assert!(refused);
        assert!(one.t.label_sets().arena_bytes() <= MAX_LABEL_BYTES);
    }

    #[test]
    fn a_key_sent_twice_in_a_frame_is_one_series_with_the_last_value() {
        let mut one = One::default();
        let samples = [
            (1u16, [""; 0], Number::U64(1)),
            (2, [], Number::U64(2)),
            (1, [], Number::U64(3)),
            (3, [], Number::U64(4)),
        ];
        // Room for three: the repeated key does not take a fourth place.
        let (added, refused) = one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            9,
            samples.iter().copied(),
            3,
        );
        assert_eq!((added, refused), (3, 0));
        let got: Vec<(u16, Number)> = one.t.entries().map(|e| (e.rank, e.value())).collect();
        assert_eq!(
            got,
            [
                (1, Number::U64(3)),
                (2, Number::U64(2)),
                (3, Number::U64(4))
            ]
        );
        // At the limit, a repeated new key is refused once per sample, not stored.
        let samples = [(4u16, [""; 0], Number::U64(1)), (4, [], Number::U64(2))];
        let (added, refused) = one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            9,
            samples.iter().copied(),
            0,
        );
        assert_eq!((added, refused), (0, 2));
    }

    #[test]
    fn expire_drops_old_series_and_their_labels() {
        let mut one = One::default();
        one.upsert(1, &["a"], 1, Number::U64(1), 10).unwrap();
        one.upsert(1, &["b"], 5, Number::U64(2), 10).unwrap();
        one.upsert(2, &["a"], 1, Number::U64(3), 10).unwrap();
        assert_eq!(one.t.expire(&mut one.layouts, 3), 2);
        assert_eq!(one.t.len(), 1);
        assert_eq!(one.t.label_sets().len(), 1);
        let e = one.t.entries().next().unwrap();
        assert_eq!(
            decode_set(one.t.label_sets().encoded(e.labelset)).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!((e.stamp(), e.value()), (5, Number::U64(2)));
        // Lookups after compaction find the renumbered set.
        assert_eq!(one.upsert(1, &["b"], 6, Number::U64(9), 10), Ok(false));
        assert_eq!(one.layouts.len(), 1, "the former layouts are freed");
        assert_eq!(one.t.expire(&mut one.layouts, 100), 1);
        assert!(one.t.is_empty() && one.layouts.is_empty());
    }

    #[test]
    fn nodes_sending_the_same_series_share_one_layout() {
        let mut layouts = Layouts::default();
        let mut pending = Pending::default();
        let sets: Vec<String> = (0..45).map(|i| format!("dev{i}")).collect();
        let f = frame(625, &sets);
        let mut nodes: Vec<SeriesTable> = (0..100).map(|_| SeriesTable::default()).collect();
        for (i, t) in nodes.iter_mut().enumerate() {
            // Each node's own values, the same keys.
            let mine = f.iter().map(|&(r, l, _)| (r, l, Number::U64(i as u64)));
            t.upsert_batch(&mut layouts, &mut pending, 10, mine, 8000);
        }
        assert_eq!(layouts.len(), 1);
        assert!(Arc::ptr_eq(
            nodes[0].layout().unwrap(),
            nodes[99].layout().unwrap()
        ));
        let one_layout = layouts.heap_bytes();
        assert!(
            one_layout < 625 * 8 + 4096,
            "{one_layout} bytes for one layout"
        );
        assert_eq!(nodes[42].entries().next().unwrap().value(), Number::U64(42));
        // One node adds a series: it alone gets a new layout; the others keep theirs.
        upsert(
            &mut nodes[7],
            &mut layouts,
            &mut pending,
            999,
            &["extra"],
            11,
            Number::U64(1),
            8000,
        )
        .unwrap();
        assert_eq!(layouts.len(), 2);
        assert_eq!(nodes[7].len(), 626);
        assert_eq!(nodes[8].len(), 625);
        assert!(!Arc::ptr_eq(
            nodes[7].layout().unwrap(),
            nodes[8].layout().unwrap()
        ));
        assert_eq!(nodes[7].entries().last().unwrap().rank, 999);
        assert_eq!(nodes[7].entries().nth(3).unwrap().value(), Number::U64(7));
        // A second node growing the same way shares the grown layout.
        upsert(
            &mut nodes[8],
            &mut layouts,
            &mut pending,
            999,
            &["extra"],
            11,
            Number::U64(2),
            8000,
        )
        .unwrap();
        assert_eq!(layouts.len(), 2);
        assert!(Arc::ptr_eq(
            nodes[7].layout().unwrap(),
            nodes[8].layout().unwrap()
        ));
        // Layouts leave the table with their last node.
        for t in &mut nodes {
            if t.len() == 625 {
                t.clear(&mut layouts);
            }
        }
        assert_eq!(layouts.len(), 1);
        nodes[7].clear(&mut layouts);
        assert_eq!(layouts.len(), 1);
        nodes[8].clear(&mut layouts);
        assert!(layouts.is_empty());
        assert_eq!(layouts.heap_bytes(), layouts.by_hash.capacity() * 33);
    }

    #[test]
    fn series_churn_every_cycle_keeps_the_layout_table_bounded() {
        // A k3s-like node: fixed series plus workloads that come and go every cycle;
        // stale ones are swept.
        let mut one = One::default();
        let mut peak_layouts = 0;
        let mut peak_bytes = 0;
        for cycle in 0..400u32 {
            let names: Vec<String> = (0..20).map(|w| format!("pod-{}", cycle + w)).collect();
            let mut samples: Vec<(u16, Vec<&str>, Number)> =
                (0..50).map(|r| (r, vec!["host"], Number::U64(1))).collect();
            for n in &names {
                samples.push((60, vec![n.as_str()], Number::U64(2)));
                samples.push((61, vec![n.as_str()], Number::U64(3)));
            }
            let (_, refused) = one.t.upsert_batch(
                &mut one.layouts,
                &mut one.pending,
                cycle * 10,
                samples.into_iter(),
                8000,
            );
            assert_eq!(refused, 0);
            one.t
                .expire(&mut one.layouts, (cycle * 10).saturating_sub(30));
            one.layouts.purge();
            peak_layouts = peak_layouts.max(one.layouts.len());
            peak_bytes = peak_bytes.max(one.layouts.heap_bytes());
        }
        assert_eq!(one.layouts.len(), 1, "only the node's current layout");
        assert!(peak_layouts <= 1, "{peak_layouts} layouts at once");
        assert!(peak_bytes < 16 * 1024, "{peak_bytes} bytes of layouts");
        // 50 fixed series + 20 workloads × 2 for the 4 cycles within the stale time.
        assert!(one.t.len() <= 50 + 4 * 40, "{} series", one.t.len());
        assert!(one.t.label_sets().len() <= 1 + 4 * 20);
    }

    #[test]
    fn a_frame_in_another_order_finds_its_series() {
        let mut one = One::default();
        let sets: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
        let f = frame(200, &sets);
        one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            1,
            f.iter().copied(),
            8000,
        );
        let mut rev = f.clone();
        rev.reverse();
        for s in &mut rev {
            s.2 = Number::U64(7);
        }
        let (added, refused) = one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            2,
            rev.iter().copied(),
            8000,
        );
        assert_eq!((added, refused), (0, 0));
        assert!(
            one.t
                .entries()
                .all(|e| e.value() == Number::U64(7) && e.stamp() == 2)
        );
    }

    #[test]
    fn stamps_stay_exact_across_a_rebase_and_very_old_ones_turn_stale() {
        let mut one = One::default();
        one.upsert(1, &[], 1_000, Number::U64(1), 10).unwrap();
        one.upsert(2, &[], 1_000 + 50_000, Number::U64(2), 10)
            .unwrap();
        // Past what 16 bits hold from the first base: the base moves.
        let late = 1_000 + 70_000;
        one.upsert(3, &[], late, Number::U64(3), 10).unwrap();
        let stamps: Vec<u32> = one.t.entries().map(|e| e.stamp()).collect();
        assert_eq!(stamps, [0, 1_000 + 50_000, late], "70,000 s old: stale (0)");
        assert_eq!(one.t.expire(&mut one.layouts, 1), 1);
        // 19 hours before the newest value: stale at once.
        one.upsert(2, &[], 2_000, Number::U64(4), 10).unwrap();
        let e = one.t.entries().next().unwrap();
        assert_eq!((e.stamp(), e.value()), (0, Number::U64(4)));
        // Earlier stamps within reach move the base back, exactly.
        let mut one = One::default();
        one.upsert(1, &[], 100_000, Number::U64(1), 10).unwrap();
        one.upsert(2, &[], 50_000, Number::U64(2), 10).unwrap();
        one.upsert(3, &[], 50_000 - 1, Number::U64(3), 10).unwrap();
        let stamps: Vec<u32> = one.t.entries().map(|e| e.stamp()).collect();
        assert_eq!(stamps, [100_000, 50_000, 49_999]);
    }

    /// Random frames of two nodes (subsets of their series in order, sometimes
    /// reversed, new series, kinds that change, stamps that go back or jump) and
    /// sweeps: every series has the stamp, value and kind of its last write, as a plain
    /// map (and the former stamp per value) gives.
    #[test]
    fn stamps_per_run_give_each_series_its_last_write() {
        use std::collections::BTreeMap;
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..60 {
            let mut layouts = Layouts::default();
            let mut pending = Pending::default();
            let mut nodes = [SeriesTable::default(), SeriesTable::default()];
            let mut models: [BTreeMap<(u16, String), (u32, Number)>; 2] = Default::default();
            let mut now = 1_000_000u32;
            let series: Vec<(u16, String)> = (0..120)
                .map(|i| (i / 3, format!("l{}", i % 3 + round % 5)))
                .collect();
            for step in 0..150 {
                // Within 9 hours of the first stamp, where every stamp is exact (the
                // rebases are `stamps_stay_exact_across_a_rebase_…`'s).
                now = match rng.u8(0..20) {
                    0 => now - rng.u32(0..100),
                    1 => now + rng.u32(0..2_000),
                    _ => now + rng.u32(0..3),
                }
                .min(1_000_000 + 30_000);
                let n = rng.usize(0..2);
                let (t, model) = (&mut nodes[n], &mut models[n]);
                if rng.u8(0..10) == 0 {
                    let oldest = now.saturating_sub(rng.u32(0..40));
                    let dropped = t.expire(&mut layouts, oldest);
                    let before = model.len();
                    model.retain(|_, (stamp, _)| *stamp >= oldest);
                    assert_eq!(dropped, before - model.len(), "round {round} step {step}");
                    continue;
                }
                // A frame: a run of the series in order (or reversed), some skipped.
                let from = rng.usize(0..series.len());
                let to = rng.usize(from..=series.len());
                let mut frame: Vec<(u16, [&str; 1], Number)> = Vec::new();
                for (r, l) in &series[from..to] {
                    if rng.u8(0..8) == 0 {
                        continue;
                    }
                    let v = match rng.u8(0..30) {
                        0 => Number::F64(rng.f64()),
                        1 => Number::I64(-rng.i64(1..100)),
                        _ => Number::U64(rng.u64(0..1000)),
                    };
                    frame.push((*r, [l.as_str()], v));
                }
                if rng.u8(0..6) == 0 {
                    frame.reverse();
                }
                let (added, refused) =
                    t.upsert_batch(&mut layouts, &mut pending, now, frame.iter().copied(), 8000);
                assert_eq!(refused, 0);
                let mut new = 0;
                for (r, [l], v) in &frame {
                    new += usize::from(model.insert((*r, l.to_string()), (now, *v)).is_none());
                }
                assert_eq!(added, new);
                for (t, model) in nodes.iter().zip(&models) {
                    assert_eq!(t.len(), model.len());
                    let got: BTreeMap<(u16, String), (u32, Number)> = t
                        .entries()
                        .map(|e| {
                            let l: String =
                                decode_set(t.label_sets().encoded(e.labelset)).collect();
                            ((e.rank, l), (e.stamp(), e.value()))
                        })
                        .collect();
                    assert_eq!(&got, model, "round {round} step {step}");
                }
            }
        }
    }

    #[test]
    fn nodes_sharing_a_layout_keep_their_own_kinds_of_number() {
        let mut layouts = Layouts::default();
        let mut pending = Pending::default();
        let mut a = SeriesTable::default();
        let mut b = SeriesTable::default();
        let f = |v: Number| [(1u16, [""; 0], Number::U64(1)), (2, [], v)];
        a.upsert_batch(
            &mut layouts,
            &mut pending,
            5,
            f(Number::U64(2)).into_iter(),
            10,
        );
        b.upsert_batch(
            &mut layouts,
            &mut pending,
            5,
            f(Number::F64(2.5)).into_iter(),
            10,
        );
        assert_eq!(layouts.len(), 1, "one layout: kinds are not part of it");
        assert!(a.kinds.is_none(), "the layout's kinds are a's");
        assert!(b.kinds.is_some(), "b keeps its own");
        assert_eq!(a.entries().nth(1).unwrap().value(), Number::U64(2));
        assert_eq!(b.entries().nth(1).unwrap().value(), Number::F64(2.5));
        // a's value turns into a float: a gets its own kinds, b's stay.
        a.upsert_batch(
            &mut layouts,
            &mut pending,
            6,
            f(Number::F64(0.5)).into_iter(),
            10,
        );
        assert_eq!(a.entries().nth(1).unwrap().value(), Number::F64(0.5));
        assert_eq!(a.entries().next().unwrap().value(), Number::U64(1));
        assert_eq!(b.entries().nth(1).unwrap().value(), Number::F64(2.5));
        // A new series: the new layout is a's, with a's kinds.
        a.upsert_batch(
            &mut layouts,
            &mut pending,
            7,
            [(3u16, [""; 0], Number::I64(-3))].into_iter(),
            10,
        );
        assert!(a.kinds.is_none());
        let got: Vec<Number> = a.entries().map(|e| e.value()).collect();
        assert_eq!(got, [Number::U64(1), Number::F64(0.5), Number::I64(-3)]);
    }

    #[test]
    fn a_series_a_frame_did_not_refresh_keeps_its_own_stamp() {
        let mut one = One::default();
        let all: Vec<(u16, [&str; 1], Number)> = (0..30)
            .map(|i| (i, ["x"], Number::U64(u64::from(i))))
            .collect();
        one.t.upsert_batch(
            &mut one.layouts,
            &mut one.pending,
            100,
            all.iter().copied(),
            100,
        );
        // Every frame after that skips series 10 and 20 (and the last five).
        for now in 101..=140 {
            let some = all
                .iter()
                .copied()
                .filter(|s| s.0 != 10 && s.0 != 20 && s.0 < 25);
            one.t
                .upsert_batch(&mut one.layouts, &mut one.pending, now, some, 100);
        }
        let stamps: Vec<u32> = one.t.entries().map(|e| e.stamp()).collect();
        for (i, &s) in stamps.iter().enumerate() {
            let want = if i == 10 || i == 20 || i >= 25 {
                100
            } else {
                140
            };
            assert_eq!(s, want, "series {i}");
        }
        assert!(one.t.stamps.heap_bytes() <= 8 * 8, "a few runs");
        // The sweep drops exactly those.
        assert_eq!(one.t.expire(&mut one.layouts, 120), 7);
        assert!(one.t.entries().all(|e| e.stamp() == 140));
    }

    #[test]
    fn decode_set_never_panics_on_garbage() {
        for bytes in [&[][..], &[3, 10, b'a'], &[1, 1, 0xff], &[2, 0, 0]] {
            let _ = decode_set(bytes).count();
        }
        assert_eq!(decode_set(&[2, 0, 0]).collect::<Vec<_>>(), ["", ""]);
    }
}
