//! What the aggregator knows about one node: the protocol state of its current and
//! previous boot (sequence window, timeline, address), its counters, and its series.
//!
//! [`NodeMeta`] is everything but the series; it is small (480 bytes, and 240 more
//! with a previous boot: most of it the timelines' segments; a boot's sequence window
//! is 40 bytes while at most 64 numbers are outstanding, see [`crate::window`], its
//! timeline's gaps are allocated only while cycles are missing, and a candidate for a
//! new boot only while one is heard) and `Clone`,
//! so an ingest batch can save it before touching a
//! node and restore it if the outputs refuse the batch (see [`crate::ingest`]). It is also what [`crate::persist`] saves, so an
//! aggregator restart keeps replay protection, de-duplication and the timelines.
//!
//! Boots: the *current* boot is the collector run being received. The *previous* one
//! keeps its window and timeline so its late frames (resends in flight when the
//! collector restarted) are stored once, not refused and not doubled; they are taken
//! only for a short grace time after the switch (see [`crate::evidence`]). Two older
//! boot ids are remembered as *retired*: their frames are refused, so a late or
//! replayed frame from two boots back can never take the node over.

use std::net::{IpAddr, SocketAddr};

use crate::series::SeriesTable;
use crate::telegraf::cpu::CpuHistory;
use crate::timeline::Timeline;
use crate::window::Window;

/// Counters of one node since it was first seen (they survive reboots of the node and,
/// with a state directory, restarts of the aggregator).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCounters {
    /// Frames stored (new sequence numbers).
    pub received: u64,
    /// Frames received again (already stored): resends that crossed an ack, or replays.
    pub duplicate: u64,
    /// Sequence numbers given up: the collector's resend floor passed them, or they fell
    /// out of the window.
    pub missing: u64,
    /// Times a new boot id was accepted (the collector restarted).
    pub boot_id_changes: u64,
    /// Frames stored with a time other than their own (clock off or stepped back).
    pub clock_skewed: u64,
    /// Frames refused as replays (a retired boot id, or a keyed frame too old to start
    /// a boot).
    pub replays: u64,
    /// Samples refused by the series limit or the label space.
    pub series_refused: u64,
    /// Frames held back because they would move the node's state (a new boot id, a
    /// sequence jump, a resync) without enough evidence yet that they come from the
    /// node's collector. Not stored and not acked: a real collector resends them.
    pub unconfirmed: u64,
    /// Times a second collector was seen sending as this node (two boot ids alive at
    /// once, or alternating).
    pub name_conflicts: u64,
}

impl NodeCounters {
    /// The counters of datagrams refused or held, which a refused batch does not undo
    /// (the datagrams were refused either way; only stored frames are rolled back).
    pub fn keep_refusals_from(&mut self, later: &NodeCounters) {
        self.replays = later.replays;
        self.unconfirmed = later.unconfirmed;
        self.name_conflicts = later.name_conflicts;
    }
}

/// The protocol state of one boot (collector run) of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct BootState {
    /// The collector's random id of this run.
    pub boot_id: u64,
    /// Sequence numbers seen.
    pub window: Window,
    /// The time rules of this boot's frames.
    pub timeline: Timeline,
    /// Source address of the last stored frame.
    pub addr: Option<SocketAddr>,
    /// Receive time this boot became the node's current one (Unix ms).
    pub since_ms: u64,
    /// Receive time of the last stored frame (Unix ms, 0: none).
    pub last_stored_ms: u64,
    /// A frame of this boot was heard by this run of the aggregator (not saved: what
    /// lies below the first number heard may have been stored by an earlier run).
    pub heard: bool,
}

impl BootState {
    /// A boot heard for the first time at `now_ms`.
    pub fn new(boot_id: u64, now_ms: u64) -> BootState {
        BootState {
            boot_id,
            window: Window::new(),
            timeline: Timeline::default(),
            addr: None,
            since_ms: now_ms,
            last_stored_ms: 0,
            heard: false,
        }
    }
}

impl BootState {
    /// Heap bytes of its window and timeline (only while frames are outstanding).
    pub fn heap_bytes(&self) -> usize {
        self.window.heap_bytes() + self.timeline.heap_bytes()
    }
}

/// What an unconfirmed frame would do to the node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Make its boot id the current one.
    Boot,
    /// Move the current boot's window a whole window or more ahead.
    Jump,
    /// Rebuild the current boot's window from the frame's resend floor.
    Resync,
}

/// Frames that would move a node's state, waiting for evidence (see
/// [`crate::evidence`]): one sender (boot id and address) at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// What it would do.
    pub claim: Claim,
    /// Its boot id.
    pub boot_id: u64,
    /// Where its frames come from.
    pub addr: SocketAddr,
    /// Receive time of its first frame (Unix ms).
    pub first_ms: u64,
    /// Receive time of its last frame (Unix ms).
    pub last_ms: u64,
    /// Frames with increasing sequence numbers so far.
    pub frames: u8,
    /// The highest sequence number of those.
    pub last_seq: u64,
}

/// Protocol state and counters of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMeta {
    /// The collector run being received.
    pub current: BootState,
    /// The run before (its late frames are stored during a short grace time).
    pub previous: Option<Box<BootState>>,
    /// Boot ids before those: their frames are refused.
    pub retired: [Option<u64>; 2],
    /// Frames waiting for evidence to move the state (boxed: rare, and 72 bytes).
    pub candidate: Option<Box<Candidate>>,
    /// The last second sender reported as a name conflict (boot id, address).
    pub conflict: Option<(u64, SocketAddr)>,
    /// Receive time of the node's first stored frame (Unix ms).
    pub first_seen_ms: u64,
    /// Receive time of the last stored frame (Unix ms).
    pub last_seen_ms: u64,
    /// The highest time given to a stored frame of this node, any boot (Unix ms). New
    /// times stay above it; a keyed new boot must be newer.
    pub max_time_ms: Option<u64>,
    /// Sequence number (current boot) of the frame whose values the series hold: an
    /// older frame (a late resend) goes to the outputs but does not overwrite them.
    pub values_seq: Option<u64>,
    /// Collection interval from the last stored frame (ms).
    pub interval_ms: u32,
    /// Frame timestamp minus receive time of the last live frame (ms).
    pub clock_skew_ms: i64,
    /// The last live frame got a time other than its own (its clock was off or went
    /// back; see [`crate::timeline`]).
    pub clock_bad: bool,
    /// Key id that authenticated the last stored frame (acks use the same key).
    pub key_id: Option<u8>,
    /// Address (IPv4, or IPv6 /64) the node was first admitted from: new nodes are
    /// bounded per address (see [`crate::store`]).
    pub admitted_from: Option<IpAddr>,
    /// Counters.
    pub counters: NodeCounters,
}

impl NodeMeta {
    /// A node seen for the first time with `boot_id` at `now_ms`.
    pub fn new(boot_id: u64, now_ms: u64) -> NodeMeta {
        NodeMeta {
            current: BootState::new(boot_id, now_ms),
            previous: None,
            retired: [None; 2],
            candidate: None,
            conflict: None,
            first_seen_ms: now_ms,
            last_seen_ms: 0,
            max_time_ms: None,
            values_seq: None,
            interval_ms: 0,
            clock_skew_ms: 0,
            clock_bad: false,
            key_id: None,
            admitted_from: None,
            counters: NodeCounters::default(),
        }
    }

    /// The boot id of the collector run being received.
    pub fn boot_id(&self) -> u64 {
        self.current.boot_id
    }

    /// True when `boot_id` is a retired one (two or more runs back).
    pub fn is_retired(&self, boot_id: u64) -> bool {
        self.retired.contains(&Some(boot_id))
    }

    /// Makes `boot_id` the current boot at `now_ms`: the current one becomes the
    /// previous one (taken back when it is `boot_id` itself: a switch back), the
    /// previous one is retired. Counts a boot id change.
    pub fn adopt(&mut self, boot_id: u64, now_ms: u64) {
        let mut next = match self.previous.take() {
            Some(p) if p.boot_id == boot_id => *p,
            Some(p) => {
                self.retired = [Some(p.boot_id), self.retired[0]];
                BootState::new(boot_id, now_ms)
            }
            None => BootState::new(boot_id, now_ms),
        };
        next.since_ms = now_ms;
        let old = std::mem::replace(&mut self.current, next);
        self.previous = Some(Box::new(old));
        self.candidate = None;
        self.values_seq = None;
        self.counters.boot_id_changes += 1;
    }

    /// The boot `boot_id` (current or previous), if it is one of them.
    pub fn boot_mut(&mut self, boot_id: u64) -> Option<&mut BootState> {
        if self.current.boot_id == boot_id {
            Some(&mut self.current)
        } else {
            self.previous
                .as_deref_mut()
                .filter(|p| p.boot_id == boot_id)
        }
    }
}

/// Everything about one node.
#[derive(Debug, Clone)]
pub struct NodeState {
    /// Protocol state and counters.
    pub meta: NodeMeta,
    /// Latest values.
    pub series: SeriesTable,
    /// CPU counters of the latest cycles, for Telegraf's `usage_*` (not saved with
    /// [`NodeMeta`]: a batch that is rolled back leaves it as is).
    pub cpu_history: CpuHistory,
}

impl NodeState {
    /// A new node seen at `now_ms`.
    pub fn new(boot_id: u64, now_ms: u64) -> NodeState {
        NodeState {
            meta: NodeMeta::new(boot_id, now_ms),
            series: SeriesTable::default(),
            cpu_history: CpuHistory::default(),
        }
    }

    /// Approximate memory of this node: the struct plus its heap.
    pub fn memory_bytes(&self, name_len: usize) -> usize {
        size_of::<NodeState>()
            + name_len
            + self.series.heap_bytes()
            + self
                .meta
                .previous
                .as_ref()
                .map_or(0, |_| size_of::<BootState>())
            + self.cpu_history.heap_bytes()
            + self.meta.current.heap_bytes()
            + self.meta.previous.as_ref().map_or(0, |p| p.heap_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopt_moves_current_to_previous_and_retires_the_one_before() {
        let mut m = NodeMeta::new(1, 0);
        m.current.window.accept(0);
        m.current.window.accept(1);
        m.adopt(2, 10);
        assert_eq!(m.boot_id(), 2);
        assert_eq!(m.current.window.base(), 0);
        assert_eq!(m.previous.as_ref().unwrap().window.base(), 2);
        m.adopt(3, 20);
        assert_eq!(m.retired, [Some(1), None]);
        m.adopt(4, 30);
        assert_eq!(m.retired, [Some(2), Some(1)]);
        assert!(m.is_retired(1) && m.is_retired(2) && !m.is_retired(3));
        assert_eq!(m.counters.boot_id_changes, 3);
    }

    #[test]
    fn adopting_the_previous_boot_takes_its_window_back() {
        let mut m = NodeMeta::new(1, 0);
        m.current.window.accept(0);
        m.adopt(2, 10);
        m.adopt(1, 20);
        assert_eq!(m.boot_id(), 1);
        assert_eq!(m.current.window.base(), 1, "its window, not a fresh one");
        assert_eq!(m.previous.as_ref().unwrap().boot_id, 2);
        assert_eq!(m.retired, [None, None]);
    }

    #[test]
    fn node_state_is_small() {
        // The previous boot is boxed: a node that never restarted does not pay for it.
        // Most of it is the timeline's four segments (about 140 bytes; its gaps are
        // boxed, allocated only while cycles are missing); the sequence window is 40 bytes (its 512-byte bitmap is allocated only while
        // more than 64 numbers are outstanding); the Telegraf CPU history is a `Vec`
        // (32 bytes here, its records on the heap: 120 bytes a CPU, docs/INFLUXDB.md);
        // a candidate for a new boot (72 bytes) is boxed, held only while one is heard.
        assert!(size_of::<NodeState>() <= 584, "{}", size_of::<NodeState>());
    }
}
