//! The in-memory store: every node's state and the latest value of its series, bounded.
//!
//! # Bounds
//! - at most `max_nodes` nodes. A frame from a new node is admitted only while there
//!   is room; otherwise it is refused and counted. Nodes not seen for
//!   `forget_after` are forgotten by [`Store::sweep`]. Known nodes are never pushed out
//!   by new ones, so a flood of made-up names cannot starve real nodes.
//! - A node is *young* until it is [established]: [`ESTABLISHED_FRAMES`]
//!   frames over at least [`ESTABLISH_SPAN_MS`]. Made-up names from a flood stay young
//!   (sending 10 frames at once does not establish a name), and young nodes are
//!   forgotten sooner: after `forget_new_after`, and — while the table is under
//!   pressure (at least 90 % full) — as soon as they are idle for their stale time (3
//!   intervals, at least 30 s), so a flood cannot lock the table for a day.
//! - while the table is under pressure, no more new nodes from a source address (an
//!   IPv4 address, or an IPv6 /64) that already has `max_new_nodes_per_address` young
//!   nodes: one sender cannot fill the table with names, while a fleet behind one NAT
//!   address (or a simulated fleet on loopback) is admitted freely when there is room.
//!   Refusals name their cause ([`AdmitError`]).
//! - at most `max_series_per_node` series and [`crate::series::MAX_LABEL_BYTES`] of label
//!   values per node, and `max_series_total` in all. Refused samples are counted.
//!
//! Worst case memory ≈ `max_nodes` × (1.3 KiB + 64 KiB labels) + `max_series_total` ×
//! (10.25 B when its stamps are scattered and its kinds its own, + its key, 8.25 B with
//! its kind, when no other node shares it). Series keys, kinds of number and label sets are shared by the nodes that
//! send the same ones ([`crate::series`]: layouts), and the values of one frame share
//! one stamp ([`crate::stamps`]), so a fleet of one kind of node pays about 8 bytes per
//! value and node: a Raspberry Pi 4 with every source (648 values) about 5.1 KiB of
//! values plus its node state (docs/OPERATIONS.md, sizing).
//!
//! # Staleness
//! A series not updated for `stale_after` (the node's interval × `stale_intervals`, at
//! least `stale_min`) disappears from `/metrics`; the node's `pimon_node_up` turns 0 and
//! its `pimon_node_last_seen_timestamp_seconds` stays until the node is forgotten.
//!
//! # Reading for `/metrics`
//! `/metrics` walks the store itself, a piece at a time, never a copy of it: a copy of
//! 10,000 nodes is tens of megabytes, held for as long as the slowest scraper takes.
//! [`Store::nodes_after`] gives the nodes after a name, in name order, as [`NodeView`]s
//! that see only the series fresh at the scrape's time; the renderer (`crate::prom`)
//! takes the lock for one piece, remembers the last node it wrote, and continues after
//! it with the next piece.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::ops::{Bound, Range};

use pimon_protocol::MAX_LABELS;
use pimon_protocol::catalog::Number;

use crate::node::{NodeCounters, NodeMeta, NodeState};
use crate::series::{Entry, Layouts, Pending, Refused, SeriesTable};

/// A node needs this many stored frames to be established …
pub const ESTABLISHED_FRAMES: u64 = 10;
/// … spread over at least this long (ms).
pub const ESTABLISH_SPAN_MS: u64 = 5 * 60 * 1000;

/// True when the node sent [`ESTABLISHED_FRAMES`] frames over at least
/// [`ESTABLISH_SPAN_MS`]; until then it is *young* (forgotten sooner, bounded per
/// address).
pub fn established(meta: &NodeMeta) -> bool {
    meta.counters.received >= ESTABLISHED_FRAMES
        && meta.last_seen_ms.saturating_sub(meta.first_seen_ms) >= ESTABLISH_SPAN_MS
}

/// The key new nodes are counted under: an IPv4 address (also when mapped into IPv6),
/// or an IPv6 /64 (one host usually has a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// Size limits of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most nodes held at once.
    pub max_nodes: usize,
    /// Most series per node.
    pub max_series_per_node: usize,
    /// Most series over all nodes.
    pub max_series_total: usize,
    /// While the table is under pressure (90 % full), an address with this many young
    /// (not yet established) nodes gets no more.
    pub max_new_nodes_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_nodes: 10_000,
            max_series_per_node: 8_000,
            max_series_total: 4_000_000,
            max_new_nodes_per_address: 64,
        }
    }
}

/// When series go stale and nodes are forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staleness {
    /// A series disappears after this many of the node's intervals without an update.
    pub stale_intervals: u32,
    /// … but never sooner than this (ms).
    pub stale_min_ms: u64,
    /// A node not seen for this long is forgotten entirely (ms).
    pub forget_after_ms: u64,
    /// A young node (not [`established`]) is forgotten after this long without a frame
    /// (ms); under pressure, after its stale time.
    pub forget_new_after_ms: u64,
}

impl Default for Staleness {
    fn default() -> Self {
        Staleness {
            stale_intervals: 3,
            stale_min_ms: 30_000,
            forget_after_ms: 24 * 3600 * 1000,
            forget_new_after_ms: 600_000,
        }
    }
}

impl Staleness {
    /// How long a series of a node with this interval stays visible without update.
    pub fn stale_after_ms(&self, interval_ms: u32) -> u64 {
        (u64::from(interval_ms) * u64::from(self.stale_intervals)).max(self.stale_min_ms)
    }
}

/// Why a node was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmitError {
    /// `max_nodes` reached.
    NodeLimit,
    /// The table is under pressure and `max_new_nodes_per_address` young nodes already
    /// came from this address.
    AddressLimit,
}

/// What [`Store::sweep`] forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Nodes forgotten in all.
    pub forgotten: usize,
    /// Of those, young nodes forgotten early because the table was under pressure.
    pub young_under_pressure: usize,
}

/// All nodes.
#[derive(Debug)]
pub struct Store {
    /// Boxed: a B-tree leaf holds up to 11 values and is often half full; 11 slots of
    /// a 1.3 KB state left about 1.3 KB unused per node (measured: 10,000 nodes took
    /// 3 KiB each beyond the store's own count), 11 pointers leave 40 bytes.
    nodes: BTreeMap<Box<str>, Box<NodeState>>,
    /// Young nodes per admission address (recounted by every sweep).
    young_by_address: HashMap<IpAddr, usize>,
    limits: Limits,
    staleness: Staleness,
    total_series: usize,
    /// Unix seconds that series stamps count from.
    epoch_s: u64,
    /// The series layouts of all nodes, each held once.
    layouts: Layouts,
    /// New series of the batch being stored (reused).
    pending: Pending,
}

impl Store {
    /// An empty store; `now_ms` (Unix ms) is the epoch of series stamps.
    pub fn new(limits: Limits, staleness: Staleness, now_ms: u64) -> Store {
        Store {
            nodes: BTreeMap::new(),
            young_by_address: HashMap::new(),
            limits,
            staleness,
            total_series: 0,
            epoch_s: now_ms / 1000,
            layouts: Layouts::default(),
            pending: Pending::default(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The staleness settings in force.
    pub fn staleness(&self) -> Staleness {
        self.staleness
    }

    /// Series stamp for a Unix time in ms.
    pub fn stamp(&self, now_ms: u64) -> u32 {
        (now_ms / 1000)
            .saturating_sub(self.epoch_s)
            .min(u64::from(u32::MAX)) as u32
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of series over all nodes.
    pub fn series_count(&self) -> usize {
        self.total_series
    }

    /// Approximate memory of all nodes (structs, names and series heap) and of their
    /// shared series layouts.
    pub fn memory_bytes(&self) -> usize {
        self.nodes
            .iter()
            .map(|(name, n)| n.memory_bytes(name.len()) + 4 * size_of::<usize>())
            .sum::<usize>()
            + self.layouts.heap_bytes()
    }

    /// The shared series layouts.
    pub fn layouts(&self) -> &Layouts {
        &self.layouts
    }

    /// The state of `name`, if known.
    pub fn get(&self, name: &str) -> Option<&NodeState> {
        self.nodes.get(name).map(|n| &**n)
    }

    /// The state of `name`, if known.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut NodeState> {
        self.nodes.get_mut(name).map(|n| &mut **n)
    }

    /// True when the table is at least 90 % full: young nodes are forgotten early and
    /// new ones bounded per address.
    pub fn under_pressure(&self) -> bool {
        self.nodes.len().saturating_mul(10) >= self.limits.max_nodes.saturating_mul(9)
    }

    /// Adds a node seen for the first time at `now_ms` from `from`, if there is room in
    /// the table (and, under pressure, for new nodes from that address).
    pub fn admit(
        &mut self,
        name: &str,
        boot_id: u64,
        from: Option<IpAddr>,
        now_ms: u64,
    ) -> Result<&mut NodeState, AdmitError> {
        if !self.nodes.contains_key(name) {
            if self.nodes.len() >= self.limits.max_nodes {
                return Err(AdmitError::NodeLimit);
            }
            let pressure = self.under_pressure();
            if let Some(ip) = from.map(address_key) {
                let young = self.young_by_address.entry(ip).or_insert(0);
                if pressure && *young >= self.limits.max_new_nodes_per_address {
                    return Err(AdmitError::AddressLimit);
                }
                *young += 1;
            }
        }
        Ok(self.nodes.entry(name.into()).or_insert_with(|| {
            let mut n = Box::new(NodeState::new(boot_id, now_ms));
            n.meta.admitted_from = from.map(address_key);
            n
        }))
    }

    /// Puts back a node saved by an earlier run (see [`crate::persist`]), if there is
    /// room; returns false when the table is full.
    pub fn restore(&mut self, name: &str, meta: NodeMeta) -> bool {
        if self.nodes.len() >= self.limits.max_nodes && !self.nodes.contains_key(name) {
            return false;
        }
        if !established(&meta)
            && let Some(ip) = meta.admitted_from
        {
            *self.young_by_address.entry(ip).or_insert(0) += 1;
        }
        // The CPU history is not persisted: after a restart, `usage_*` resumes from the
        // second cycle heard (never computed against an unknown predecessor).
        let state = NodeState {
            meta,
            series: Default::default(),
            cpu_history: Default::default(),
        };
        if let Some(mut old) = self.nodes.insert(name.into(), Box::new(state)) {
            self.total_series -= old.series.len();
            old.series.clear(&mut self.layouts);
        }
        true
    }

    /// All nodes, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &NodeState)> {
        self.nodes.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Young nodes admitted from the address (or IPv6 /64) of `ip`.
    pub fn young_from(&self, ip: IpAddr) -> usize {
        self.young_by_address
            .get(&address_key(ip))
            .copied()
            .unwrap_or(0)
    }

    /// Removes a node and its series.
    pub fn remove(&mut self, name: &str) -> Option<NodeState> {
        let mut n = *self.nodes.remove(name)?;
        self.total_series -= n.series.len();
        // The returned state keeps its meta; its series go with their layout.
        n.series.clear(&mut self.layouts);
        if !established(&n.meta)
            && let Some(ip) = n.meta.admitted_from
            && let Some(young) = self.young_by_address.get_mut(&ip)
        {
            *young = young.saturating_sub(1);
        }
        Some(n)
    }

    /// Stores one value of node `name`. Returns `Err` when refused by a limit.
    pub fn upsert(
        &mut self,
        name: &str,
        rank: u16,
        labels: &[&str],
        stamp: u32,
        value: Number,
    ) -> Result<(), Refused> {
        let labels = &labels[..labels.len().min(MAX_LABELS)];
        let Some(node) = self.nodes.get_mut(name) else {
            return Err(Refused::SeriesLimit);
        };
        let max_new = max_new(&self.limits, self.total_series, &node.series);
        let (added, refused) = node.series.upsert_batch(
            &mut self.layouts,
            &mut self.pending,
            stamp,
            std::iter::once((rank, labels, value)),
            max_new,
        );
        self.total_series += added;
        match self.pending.last_refusal() {
            Some(why) if refused > 0 => Err(why),
            _ => Ok(()),
        }
    }

    /// Stores many values of node `name` (one frame); returns how many were refused.
    pub fn upsert_all<'a>(
        &mut self,
        name: &str,
        stamp: u32,
        values: impl Iterator<Item = (u16, heapless::Vec<&'a str, MAX_LABELS>, Number)>,
    ) -> u64 {
        let Some(node) = self.nodes.get_mut(name) else {
            return values.count() as u64;
        };
        let max_new = max_new(&self.limits, self.total_series, &node.series);
        let (added, refused) =
            node.series
                .upsert_batch(&mut self.layouts, &mut self.pending, stamp, values, max_new);
        self.total_series += added;
        refused
    }

    /// Drops stale series and forgets nodes not seen for long (young ones sooner, and
    /// sooner still while the table is at least 90 % full); recounts young nodes per
    /// address.
    pub fn sweep(&mut self, now_ms: u64) -> Swept {
        let st = self.staleness;
        let now_stamp = self.stamp(now_ms);
        let before = self.nodes.len();
        let pressure = self.under_pressure();
        let mut removed_series = 0;
        let mut under_pressure = 0;
        self.young_by_address.clear();
        let young_by_address = &mut self.young_by_address;
        let layouts = &mut self.layouts;
        self.nodes.retain(|_, n| {
            // A node's own idle time counts from its admission when it stored nothing yet.
            let idle = now_ms.saturating_sub(n.meta.last_seen_ms.max(n.meta.first_seen_ms));
            let young = !established(&n.meta);
            let stale = st.stale_after_ms(n.meta.interval_ms);
            let forget = if young {
                st.forget_new_after_ms
            } else {
                st.forget_after_ms
            };
            if idle > forget || (young && pressure && idle > stale) {
                if idle <= forget {
                    under_pressure += 1;
                }
                removed_series += n.series.len();
                n.series.clear(layouts);
                return false;
            }
            if young && let Some(ip) = n.meta.admitted_from {
                *young_by_address.entry(ip).or_insert(0) += 1;
            }
            let stale_s = st.stale_after_ms(n.meta.interval_ms).div_ceil(1000);
            let oldest = u64::from(now_stamp).saturating_sub(stale_s);
            removed_series += n
                .series
                .expire(layouts, oldest.min(u64::from(u32::MAX)) as u32);
            true
        });
        self.layouts.purge();
        self.total_series -= removed_series;
        Swept {
            forgotten: before - self.nodes.len(),
            young_under_pressure: under_pressure,
        }
    }

    /// The nodes whose name sorts after `after` (all of them for `None`), in name
    /// order, as `/metrics` shows them at `now_ms` (Unix ms).
    pub fn nodes_after<'a>(
        &'a self,
        after: Option<&str>,
        now_ms: u64,
    ) -> impl Iterator<Item = NodeView<'a>> + 'a {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let staleness = self.staleness;
        let now_stamp = u64::from(self.stamp(now_ms));
        self.nodes
            .range::<str, _>((lower, Bound::Unbounded))
            .map(move |(name, node)| {
                let stale_ms = staleness.stale_after_ms(node.meta.interval_ms);
                NodeView {
                    name,
                    node,
                    up: now_ms.saturating_sub(node.meta.last_seen_ms) <= stale_ms,
                    oldest: now_stamp.saturating_sub(stale_ms.div_ceil(1000)),
                }
            })
    }

    /// Copies what the status page shows into `snap` (cleared first; its buffers are
    /// reused). `/metrics` does not copy the store: it reads it a piece at a time
    /// ([`Store::nodes_after`]).
    pub fn snapshot(&self, now_ms: u64, snap: &mut Snapshot) {
        self.snapshot_of(now_ms, snap, Copied::All);
    }

    /// Like [`Store::snapshot`], but with every series of the node named `full` only;
    /// of the other nodes, the series of the families at `ranks` (sorted): what the
    /// status page's overview reads. A copy of every series of a large fleet is
    /// 16 bytes per series (100 MB for 10,000 Raspberry Pi 4s), held as long as the
    /// snapshot buffer is; this one is a few entries per node.
    pub fn snapshot_summary(
        &self,
        now_ms: u64,
        snap: &mut Snapshot,
        ranks: &[u16],
        full: Option<&str>,
    ) {
        self.snapshot_of(now_ms, snap, Copied::Ranks(ranks, full));
    }

    fn snapshot_of(&self, now_ms: u64, snap: &mut Snapshot, copied: Copied<'_>) {
        snap.clear();
        snap.now_ms = now_ms;
        let now_stamp = u64::from(self.stamp(now_ms));
        for (name, n) in &self.nodes {
            let stale_ms = self.staleness.stale_after_ms(n.meta.interval_ms);
            let up = now_ms.saturating_sub(n.meta.last_seen_ms) <= stale_ms;
            let oldest = now_stamp.saturating_sub(stale_ms.div_ceil(1000));
            let name_start = snap.names.len() as u32;
            snap.names.push_str(name);
            let entries_start = snap.entries.len() as u32;
            let labels_base = snap.label_starts.len() as u32;
            let fresh = |e: &Entry| u64::from(e.stamp()) >= oldest;
            match copied {
                Copied::Ranks(ranks, full) if full != Some(&**name) => {
                    // The wanted entries, and the label sets they use (each once:
                    // entries of one set still share its index).
                    let sets = n.series.label_sets();
                    let mut copied: heapless::Vec<(u16, u16), 32> = heapless::Vec::new();
                    for &rank in ranks {
                        for mut e in n.series.entries_in(rank..rank + 1).filter(fresh) {
                            let known = copied.iter().find(|c| c.0 == e.labelset).map(|c| c.1);
                            let local = match known {
                                Some(local) => local,
                                None => {
                                    let local =
                                        (snap.label_starts.len() as u32 - labels_base) as u16;
                                    snap.label_starts.push(snap.label_bytes.len() as u32);
                                    snap.label_bytes.extend_from_slice(sets.encoded(e.labelset));
                                    // Past 32 sets, later ones are copied again (still right).
                                    let _ = copied.push((e.labelset, local));
                                    local
                                }
                            };
                            e.labelset = local;
                            snap.entries.push(e);
                        }
                    }
                }
                _ => {
                    snap.entries.extend(n.series.entries().filter(fresh));
                    let (bytes, starts) = n.series.label_sets().raw();
                    let offset = snap.label_bytes.len() as u32;
                    snap.label_bytes.extend_from_slice(bytes);
                    snap.label_starts.extend(starts.iter().map(|s| s + offset));
                }
            }
            snap.label_starts.push(snap.label_bytes.len() as u32);
            snap.nodes.push(SnapNode {
                name: name_start..snap.names.len() as u32,
                up,
                last_seen_ms: n.meta.last_seen_ms,
                clock_skew_ms: n.meta.clock_skew_ms,
                counters: n.meta.counters,
                entries: entries_start..snap.entries.len() as u32,
                labels_base,
            });
        }
        snap.series_total = self.total_series;
        snap.memory_bytes = self.memory_bytes();
    }
}

/// What a snapshot copies of the nodes' series.
#[derive(Debug, Clone, Copy)]
enum Copied<'a> {
    /// Every fresh series.
    All,
    /// The fresh series of these family ranks (sorted), and every one of this node.
    Ranks(&'a [u16], Option<&'a str>),
}

/// How many new series a node may add now: `max_series_per_node` in all, and while
/// the store holds `max_series_total`, none.
fn max_new(limits: &Limits, total: usize, series: &SeriesTable) -> usize {
    limits
        .max_series_per_node
        .saturating_sub(series.len())
        .min(limits.max_series_total.saturating_sub(total))
}

/// One node in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct SnapNode {
    name: Range<u32>,
    /// Seen within its stale time.
    pub up: bool,
    /// Receive time of its last stored frame (Unix ms).
    pub last_seen_ms: u64,
    /// Clock skew of its last live frame (ms).
    pub clock_skew_ms: i64,
    /// Its counters.
    pub counters: NodeCounters,
    entries: Range<u32>,
    labels_base: u32,
}

/// A copy of the store for the status page ([`crate::status`]), with reusable buffers.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// When it was taken (Unix ms).
    pub now_ms: u64,
    /// Nodes, sorted by name.
    pub nodes: Vec<SnapNode>,
    /// Total series in the store (fresh or not).
    pub series_total: usize,
    /// Approximate memory of the store.
    pub memory_bytes: usize,
    names: String,
    entries: Vec<Entry>,
    label_bytes: Vec<u8>,
    label_starts: Vec<u32>,
}

impl Snapshot {
    fn clear(&mut self) {
        self.nodes.clear();
        self.names.clear();
        self.entries.clear();
        self.label_bytes.clear();
        self.label_starts.clear();
    }

    /// The name of `node`.
    pub fn name(&self, node: &SnapNode) -> &str {
        self.names
            .get(node.name.start as usize..node.name.end as usize)
            .unwrap_or("")
    }

    /// The fresh entries of `node`, sorted by (family rank, label set).
    pub fn entries(&self, node: &SnapNode) -> &[Entry] {
        self.entries
            .get(node.entries.start as usize..node.entries.end as usize)
            .unwrap_or(&[])
    }

    /// The encoded label set `set` of `node` (decode with [`crate::series::decode_set`]).
    pub fn label_set(&self, node: &SnapNode, set: u16) -> &[u8] {
        let i = node.labels_base as usize + usize::from(set);
        let (Some(&start), Some(&end)) = (self.label_starts.get(i), self.label_starts.get(i + 1))
        else {
            return &[];
        };
        self.label_bytes
            .get(start as usize..end as usize)
            .unwrap_or(&[])
    }
}

/// One node as `/metrics` shows it at a given time: its fresh series only.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    name: &'a str,
    node: &'a NodeState,
    up: bool,
    /// Series stamped before this are stale.
    oldest: u64,
}

impl<'a> NodeView<'a> {
    /// The node's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Seen within its stale time.
    pub fn up(&self) -> bool {
        self.up
    }

    /// Protocol state and counters.
    pub fn meta(&self) -> &'a NodeMeta {
        &self.node.meta
    }

    /// The fresh entries with a family rank in `ranks`, sorted by (rank, label set).
    pub fn entries(&self, ranks: Range<u16>) -> impl Iterator<Item = Entry> + 'a {
        let oldest = self.oldest;
        self.node
            .series
            .entries_in(ranks)
            .filter(move |e| u64::from(e.stamp()) >= oldest)
    }

    /// The encoded label set `set` (decode with [`crate::series::decode_set`]).
    pub fn label_set(&self, set: u16) -> &'a [u8] {
        self.node.series.label_sets().encoded(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::decode_set;

    fn store(max_nodes: usize) -> Store {
        Store::new(
            Limits {
                max_nodes,
                max_series_per_node: 3,
                max_series_total: 5,
                max_new_nodes_per_address: 64,
            },
            Staleness::default(),
            1_000_000,
        )
    }

    #[test]
    fn node_limit_refuses_new_but_keeps_known() {
        let mut s = store(2);
        s.admit("a", 1, None, 0).unwrap();
        s.admit("b", 1, None, 0).unwrap();
        assert_eq!(s.admit("c", 1, None, 0).err(), Some(AdmitError::NodeLimit));
        assert!(s.admit("a", 1, None, 0).is_ok());
        assert_eq!(s.node_count(), 2);
    }

    #[test]
    fn series_limits_per_node_and_total() {
        let mut s = store(10);
        s.admit("a", 1, None, 0).unwrap();
        s.admit("b", 1, None, 0).unwrap();
        for r in 0..4 {
            let res = s.upsert("a", r, &[], 0, Number::U64(1));
            assert_eq!(res.is_ok(), r < 3, "rank {r}");
        }
        assert!(s.upsert("b", 0, &[], 0, Number::U64(1)).is_ok());
        assert!(s.upsert("b", 1, &[], 0, Number::U64(1)).is_ok());
        // 5 in total: b may update but not add.
        assert!(s.upsert("b", 2, &[], 0, Number::U64(1)).is_err());
        assert!(s.upsert("b", 1, &[], 0, Number::U64(2)).is_ok());
        assert_eq!(s.series_count(), 5);
        s.remove("a");
        assert_eq!(s.series_count(), 2);
    }

    #[test]
    fn young_nodes_are_bounded_per_address_under_pressure_and_ipv6_counts_per_64() {
        let mut s = Store::new(
            Limits {
                max_nodes: 20,
                max_new_nodes_per_address: 2,
                ..Limits::default()
            },
            Staleness::default(),
            0,
        );
        let flood: IpAddr = "10.9.9.9".parse().unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        // No pressure yet: any number from one address.
        for i in 0..17 {
            s.admit(&format!("x{i}"), 1, Some(flood), 0).unwrap();
        }
        assert!(s.admit("a1", 1, Some(a), 0).is_ok());
        assert!(s.under_pressure(), "18 of 20");
        assert!(s.admit("a2", 1, Some(a), 0).is_ok());
        assert_eq!(
            s.admit("a3", 1, Some(a), 0).err(),
            Some(AdmitError::AddressLimit)
        );
        assert_eq!(
            s.admit("x17", 1, Some(flood), 0).err(),
            Some(AdmitError::AddressLimit)
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(s.young_from(mapped), 2);
        // An established node no longer counts against its address.
        for (_, n) in s.nodes.iter_mut() {
            n.meta.last_seen_ms = ESTABLISH_SPAN_MS;
        }
        s.get_mut("a1").unwrap().meta.counters.received = ESTABLISHED_FRAMES;
        assert_eq!(s.sweep(ESTABLISH_SPAN_MS).forgotten, 0);
        assert_eq!(s.young_from(a), 1);
        assert!(s.admit("a3", 1, Some(a), 0).is_ok());
        s.remove("a3");
        assert_eq!(s.young_from(a), 1);
        // IPv6 addresses of one /64 count together.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        assert!(s.admit("b1", 1, Some(v6a), 0).is_ok());
        assert_eq!(s.young_from(v6b), 1);
    }

    #[test]
    fn under_pressure_idle_young_nodes_go_after_their_stale_time() {
        let now = 1_000_000;
        let mut s = Store::new(
            Limits {
                max_nodes: 10,
                ..Limits::default()
            },
            Staleness::default(),
            now,
        );
        for i in 0..9 {
            let n = s.admit(&format!("n{i}"), 1, None, now).unwrap();
            n.meta.last_seen_ms = now;
            n.meta.counters.received = 50; // many frames, but within seconds: young
        }
        let real = s.admit("real", 1, None, now - ESTABLISH_SPAN_MS).unwrap();
        real.meta.counters.received = 50;
        real.meta.last_seen_ms = now;
        assert_eq!(s.sweep(now + 30_000).forgotten, 0, "not idle long enough");
        let swept = s.sweep(now + 31_000);
        assert_eq!(
            swept,
            Swept {
                forgotten: 9,
                young_under_pressure: 9
            }
        );
        assert!(s.get("real").is_some(), "established: kept");
    }

    #[test]
    fn sweep_expires_series_and_forgets_nodes() {
        let now = 1_000_000;
        let mut s = Store::new(Limits::default(), Staleness::default(), now);
        let n = s.admit("old", 1, None, now - ESTABLISH_SPAN_MS).unwrap();
        n.meta.last_seen_ms = now;
        n.meta.interval_ms = 10_000;
        n.meta.counters.received = 100;
        s.admit("new", 1, None, now).unwrap().meta.last_seen_ms = now;
        let st = s.stamp(now);
        s.upsert("old", 0, &["x"], st, Number::U64(1)).unwrap();
        // 31 s later: the series (stale after max(30 s, 3 × 10 s)) is gone, nodes stay.
        assert_eq!(s.sweep(now + 31_000).forgotten, 0);
        assert_eq!(s.series_count(), 0);
        assert_eq!(s.node_count(), 2);
        // After forget_new_after the new node goes, the established one stays.
        assert_eq!(s.sweep(now + 600_001).forgotten, 1);
        assert!(s.get("old").is_some());
        assert_eq!(s.sweep(now + 24 * 3600 * 1000 + 1).forgotten, 1);
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn nodes_with_the_same_series_share_one_layout_until_they_leave() {
        let now = 1_000_000;
        let mut s = Store::new(Limits::default(), Staleness::default(), now);
        let st = s.stamp(now);
        for name in ["a", "b", "c"] {
            s.admit(name, 1, None, now).unwrap().meta.last_seen_ms = now;
            for rank in 0..50 {
                s.upsert(name, rank, &["eth0"], st, Number::U64(u64::from(rank)))
                    .unwrap();
            }
        }
        assert_eq!(s.layouts().len(), 1);
        let one = s.memory_bytes();
        // c alone adds a series: its own layout; a and b keep theirs.
        s.upsert("c", 60, &["wlan0"], st, Number::U64(1)).unwrap();
        assert_eq!(s.layouts().len(), 2);
        assert!(s.memory_bytes() > one);
        assert_eq!(s.get("a").unwrap().series.len(), 50);
        assert_eq!(s.get("c").unwrap().series.len(), 51);
        s.remove("c");
        assert_eq!(s.layouts().len(), 1, "c's layout left with it");
        s.remove("a");
        s.remove("b");
        assert!(s.layouts().is_empty());
        assert_eq!(s.series_count(), 0);
    }

    #[test]
    fn a_series_goes_stale_alone_while_its_node_shares_its_layout() {
        let now = 1_000_000;
        let mut s = Store::new(Limits::default(), Staleness::default(), now);
        for name in ["a", "b"] {
            let n = s.admit(name, 1, None, now).unwrap();
            n.meta.last_seen_ms = now + 20_000;
            n.meta.interval_ms = 10_000;
            let st = s.stamp(now);
            s.upsert(name, 0, &[], st, Number::U64(1)).unwrap();
            s.upsert(name, 1, &[], st, Number::U64(2)).unwrap();
        }
        // 20 s later, a updates only rank 1; b both.
        let st = s.stamp(now + 20_000);
        s.upsert("a", 1, &[], st, Number::U64(3)).unwrap();
        s.upsert("b", 0, &[], st, Number::U64(4)).unwrap();
        s.upsert("b", 1, &[], st, Number::U64(5)).unwrap();
        let shown = |s: &Store, name: &str, at: u64| -> Vec<(u16, Number)> {
            s.nodes_after(None, at)
                .find(|v| v.name() == name)
                .unwrap()
                .entries(0..u16::MAX)
                .map(|e| (e.rank, e.value()))
                .collect()
        };
        // At 35 s, a's rank 0 (35 s old, stale after 30 s) is hidden; b's is not.
        assert_eq!(shown(&s, "a", now + 35_000), [(1, Number::U64(3))]);
        assert_eq!(
            shown(&s, "b", now + 35_000),
            [(0, Number::U64(4)), (1, Number::U64(5))]
        );
        s.sweep(now + 35_000);
        assert_eq!(s.get("a").unwrap().series.len(), 1);
        assert_eq!(s.get("b").unwrap().series.len(), 2);
        assert_eq!(s.series_count(), 3);
        assert_eq!(s.layouts().len(), 2);
    }

    #[test]
    fn the_status_summary_copies_the_wanted_families_and_keeps_shared_label_sets_shared() {
        let now = 1_000_000;
        let mut s = Store::new(Limits::default(), Staleness::default(), now);
        for name in ["a", "b"] {
            let n = s.admit(name, 1, None, now).unwrap();
            n.meta.last_seen_ms = now;
            n.meta.interval_ms = 10_000;
            let st = s.stamp(now);
            for rank in [1, 2, 3, 4] {
                s.upsert(name, rank, &["/dev/sda1", "ext4", "/"], st, Number::U64(7))
                    .unwrap();
                s.upsert(name, rank, &["tmpfs", "tmpfs", "/run"], st, Number::U64(8))
                    .unwrap();
            }
        }
        let mut snap = Snapshot::default();
        s.snapshot_summary(now, &mut snap, &[2, 4], Some("b"));
        let (a, b) = (&snap.nodes[0], &snap.nodes[1]);
        let ranks: Vec<(u16, u16)> = snap
            .entries(a)
            .iter()
            .map(|e| (e.rank, e.labelset))
            .collect();
        let sets: Vec<u16> = ranks.iter().map(|r| r.1).collect();
        assert_eq!(ranks.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 2, 4, 4]);
        assert_eq!(sets[0], sets[2], "one filesystem, one label set");
        assert_eq!(sets[1], sets[3]);
        assert_ne!(sets[0], sets[1]);
        assert_eq!(decode_set(snap.label_set(a, sets[1])).nth(2), Some("/run"));
        assert_eq!(snap.entries(b).len(), 8, "the named node: every series");
        let mut full = Snapshot::default();
        s.snapshot(now, &mut full);
        assert_eq!(full.entries(&full.nodes[0]).len(), 8);
    }

    #[test]
    fn views_show_fresh_series_and_labels_in_name_order() {
        let now = 1_000_000;
        let mut s = Store::new(Limits::default(), Staleness::default(), now - 500_000);
        for name in ["b", "a", "c"] {
            let n = s.admit(name, 1, None, now).unwrap();
            n.meta.last_seen_ms = now;
            n.meta.interval_ms = 10_000;
        }
        let st = s.stamp(now);
        s.upsert("a", 0, &["x", "y"], st, Number::U64(1)).unwrap();
        s.upsert("a", 4, &["x", "y"], st, Number::U64(4)).unwrap();
        s.upsert("b", 0, &["z"], st, Number::F64(2.5)).unwrap();
        s.upsert("b", 1, &["z"], st.saturating_sub(100), Number::U64(3))
            .unwrap();
        let names: Vec<&str> = s.nodes_after(None, now).map(|n| n.name()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let after_a: Vec<&str> = s.nodes_after(Some("a"), now).map(|n| n.name()).collect();
        assert_eq!(after_a, ["b", "c"]);
        assert_eq!(s.nodes_after(Some("bb"), now).count(), 1);
        let a = s.nodes_after(None, now).next().unwrap();
        let e = a.entries(0..1).next().unwrap();
        assert_eq!(
            decode_set(a.label_set(e.labelset)).collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert_eq!(a.entries(0..u16::MAX).count(), 2);
        assert_eq!(a.entries(1..4).count(), 0);
        assert_eq!(a.entries(4..5).next().unwrap().value(), Number::U64(4));
        let b = s.nodes_after(Some("a"), now).next().unwrap();
        assert_eq!(
            b.entries(0..u16::MAX).count(),
            1,
            "the stale series is not shown"
        );
        assert!(a.up() && b.up());
        let later = s.nodes_after(None, now + 31_000).next().unwrap();
        assert!(!later.up());
        assert_eq!(later.entries(0..u16::MAX).count(), 0);
    }
}
