//! What the aggregator knows about one node: the protocol state (boot id, sequence
//! window, clock), its counters, and its series.
//!
//! [`NodeMeta`] is everything but the series; it is small (about 600 bytes, most of it
//! the 512-byte sequence window) and `Clone`, so an ingest batch can save it before
//! touching a node and restore it if the outputs refuse the batch (see
//! [`crate::ingest`]).

use pimon_protocol::SeqWindow;

use crate::series::SeriesTable;
use crate::telegraf::cpu::CpuHistory;

/// Counters of one node since it was first seen (they survive reboots of the node).
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
    /// Frames whose timestamp was replaced by the receive time.
    pub clock_skewed: u64,
    /// Frames refused as replays (older boot id).
    pub replays: u64,
    /// Samples refused by the series limit or the label space.
    pub series_refused: u64,
}

/// Protocol state and counters of a node.
#[derive(Debug, Clone)]
pub struct NodeMeta {
    /// The boot id of the collector run being received.
    pub boot_id: u64,
    /// The boot id before the last restart (its late frames are refused).
    pub prev_boot_id: Option<u64>,
    /// Sequence numbers seen for `boot_id`.
    pub window: SeqWindow,
    /// Highest frame timestamp accepted from this node (Unix ms, as used: the receive
    /// time replaced a skewed one).
    pub last_accepted_ts_ms: u64,
    /// Receive time of the last stored frame (Unix ms).
    pub last_seen_ms: u64,
    /// Timestamp (as used, Unix ms) of the frame whose values the series hold: an older
    /// frame (a late resend) goes to the outputs but does not overwrite them.
    pub values_ts_ms: u64,
    /// Collection interval from the last stored frame (ms).
    pub interval_ms: u32,
    /// Frame timestamp minus receive time of the last live frame (ms).
    pub clock_skew_ms: i64,
    /// The last live frame's clock was off by more than the allowed skew.
    pub clock_bad: bool,
    /// Key id that authenticated the last stored frame (acks use the same key).
    pub key_id: Option<u8>,
    /// Counters.
    pub counters: NodeCounters,
}

impl NodeMeta {
    /// A node seen for the first time with `boot_id`.
    pub fn new(boot_id: u64) -> NodeMeta {
        NodeMeta {
            boot_id,
            prev_boot_id: None,
            window: SeqWindow::new(),
            last_accepted_ts_ms: 0,
            last_seen_ms: 0,
            values_ts_ms: 0,
            interval_ms: 0,
            clock_skew_ms: 0,
            clock_bad: false,
            key_id: None,
            counters: NodeCounters::default(),
        }
    }

    /// The collector restarted: start a new window for `boot_id`.
    pub fn reboot(&mut self, boot_id: u64) {
        self.prev_boot_id = Some(self.boot_id);
        self.boot_id = boot_id;
        self.window = SeqWindow::new();
        self.counters.boot_id_changes += 1;
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
    /// A new node.
    pub fn new(boot_id: u64) -> NodeState {
        NodeState {
            meta: NodeMeta::new(boot_id),
            series: SeriesTable::default(),
            cpu_history: CpuHistory::default(),
        }
    }

    /// Approximate memory of this node: the struct plus its heap.
    pub fn memory_bytes(&self, name_len: usize) -> usize {
        size_of::<NodeState>() + name_len + self.series.heap_bytes() + self.cpu_history.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_resets_window_and_counts() {
        let mut m = NodeMeta::new(1);
        m.window.accept(0);
        m.window.accept(1);
        m.reboot(2);
        assert_eq!(m.boot_id, 2);
        assert_eq!(m.window.base(), 0);
        assert_eq!(m.counters.boot_id_changes, 1);
    }

    #[test]
    fn node_state_is_small() {
        assert!(size_of::<NodeState>() <= 768, "{}", size_of::<NodeState>());
    }
}
