//! Ingest: one datagram in, a decision out. Pure and synchronous: no sockets, no clock
//! (the receive time is an argument), so every rule is unit-tested with frames built by
//! `pimon_protocol::FrameWriter`.
//!
//! For each datagram, in order:
//! 1. **Decode** (`pimon_protocol::decode`); failures are counted by kind.
//! 2. **Authenticate**: with a key file, the node needs a key (its own or the `*`
//!    default; with `refuse_unknown_nodes` its own) and the frame a valid MAC made with
//!    one of them. Without a key file, frames must carry no MAC.
//! 3. **Node**: a new node is admitted while under `max_nodes`. A new boot id is a
//!    restart of the collector. A frame of the node's previous boot id (a late frame
//!    from before the restart, or a replay) is refused and counted as a replay. With
//!    keys, a new boot id is accepted only if the frame's timestamp is newer than the
//!    last one accepted from the node (as used, see clock skew), so recorded frames of
//!    any older run are refused; a keyed node therefore needs a sane clock (RTC or NTP)
//!    to be accepted after a restart — until then its frames are counted as replays and
//!    stay in its resend ring. Without keys anyone can inject frames anyway, so any
//!    other new boot id is accepted (a Pi without RTC restarting at 1970 is not locked
//!    out).
//! 4. **Sequence window**: `resend_floor` gives up older gaps (counted missing), then
//!    the sequence number is new (store), a duplicate, or old (both: ack again).
//! 5. **Store** (new frames): each known sample's value, converted by its catalog
//!    conversion, becomes the series' latest value — unless the node already has values
//!    from a newer frame (a late resend must not move a counter backwards); the frame's
//!    line protocol is appended to the batch's lines for the outputs.
//! 6. **Ack** for the node's current state, MACed with the key that verified the frame.
//!
//! # Clock skew
//! A *live* frame (the highest sequence number so far) whose timestamp differs from the
//! receive time by more than `max_clock_skew` marks the node's clock as bad: its lines
//! get the receive time instead, and it is counted. A resent frame is expected to be
//! older; its timestamp is replaced only when it lies in the future beyond the bound,
//! further back than `max_backfill`, or while the node's clock is bad.
//!
//! # Batches and acks
//! "Acked" means "never lost": a frame may be acked only once every output accepted its
//! lines. The server ingests a batch of datagrams with [`Ingest::begin_batch`], hands
//! the batch's lines to the outputs, then either [`Ingest::commit_batch`] and sends the
//! acks, or [`Ingest::rollback_batch`]: the sequence windows of the touched nodes are
//! put back as they were, so the collectors' resends are taken as new again.

use std::sync::Arc;

use pimon_protocol::text::influx::Precision;
use pimon_protocol::{Accept, Ack, DataFrame, Key, MAX_DATAGRAM, Message};

use crate::keys::KeyRing;
use crate::lines::{self, LineScratch};
use crate::node::NodeMeta;
use crate::series::family_rank;
use crate::stats::{AggregatorStats, AuthFailure, DecodeErrorKind};
use crate::store::Store;

/// Settings of ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestConfig {
    /// Only nodes named in the key file are accepted (not those covered by `*`).
    pub refuse_unknown_nodes: bool,
    /// A live frame's timestamp may differ this much from the receive time (ms).
    pub max_clock_skew_ms: u64,
    /// A resent frame's timestamp may be this old (ms).
    pub max_backfill_ms: u64,
    /// Timestamp precision of the rendered line protocol.
    pub precision: Precision,
    /// Render stored frames as line protocol. Off when no output is configured
    /// (`/metrics` only): rendering is about a quarter of ingest's CPU.
    pub render_lines: bool,
    /// Render stored frames as timestamped samples for the remote write outputs
    /// ([`crate::remote_write::samples`]); taken with [`Ingest::take_samples`].
    pub render_samples: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            refuse_unknown_nodes: false,
            max_clock_skew_ms: 300_000,
            max_backfill_ms: 7 * 24 * 3600 * 1000,
            precision: Precision::Nanoseconds,
            render_lines: true,
            render_samples: false,
        }
    }
}

/// What happened to a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new frame: stored, lines appended, acked.
    Stored,
    /// Seen before (in the window): acked again, not stored again.
    Duplicate,
    /// Below the window (long done): acked again.
    Old,
    /// A frame of an older boot id than the node's current one: dropped.
    Replay,
    /// Not a valid pimon data frame.
    Decode(DecodeErrorKind),
    /// Authentication failed.
    Auth(AuthFailure),
    /// The node is not allowed (no key for it, or not listed with
    /// `refuse_unknown_nodes`).
    UnknownNode,
    /// A new node, but `max_nodes` is reached.
    NodeLimit,
}

/// The result of [`Ingest::ingest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub verdict: Verdict,
    /// Length of the ack written into the caller's buffer (0: send nothing).
    pub ack_len: usize,
    /// Lines appended to the caller's line buffer.
    pub lines: usize,
}

impl Outcome {
    fn drop(verdict: Verdict) -> Outcome {
        Outcome {
            verdict,
            ack_len: 0,
            lines: 0,
        }
    }
}

/// The ingest state: store, keys, settings, and the batch being ingested.
#[derive(Debug)]
pub struct Ingest {
    /// All nodes and series.
    pub store: Store,
    keys: Option<Arc<KeyRing>>,
    config: IngestConfig,
    stats: Arc<AggregatorStats>,
    scratch: LineScratch,
    /// Samples of the open batch's stored frames (with `render_samples`).
    samples: String,
    /// Node metadata as it was before the open batch touched it (`None`: created by it).
    undo: Vec<(Box<str>, Option<NodeMeta>)>,
    /// A batch is open (state is saved before changes).
    in_batch: bool,
}

impl Ingest {
    /// Ingest into `store`; `keys` is `None` when no key file is configured.
    pub fn new(
        store: Store,
        keys: Option<Arc<KeyRing>>,
        config: IngestConfig,
        stats: Arc<AggregatorStats>,
    ) -> Ingest {
        Ingest {
            store,
            keys,
            config,
            stats,
            scratch: LineScratch::default(),
            samples: String::new(),
            undo: Vec::new(),
            in_batch: false,
        }
    }

    /// Replaces the keys (key file reloaded).
    pub fn set_keys(&mut self, keys: Option<Arc<KeyRing>>) {
        self.keys = keys;
    }

    /// The settings.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<AggregatorStats> {
        &self.stats
    }

    /// Starts a batch: from now on, node state is saved before it changes.
    pub fn begin_batch(&mut self) {
        self.undo.clear();
        self.samples.clear();
        self.in_batch = true;
    }

    /// Bytes of samples rendered in the open batch so far.
    pub fn samples_len(&self) -> usize {
        self.samples.len()
    }

    /// Moves the open batch's samples into `into` (cleared first; the buffers are
    /// swapped, nothing is copied or allocated).
    pub fn take_samples(&mut self, into: &mut String) {
        into.clear();
        std::mem::swap(into, &mut self.samples);
    }

    /// The outputs accepted the batch: forget the saved state.
    pub fn commit_batch(&mut self) {
        self.undo.clear();
        self.in_batch = false;
    }

    /// The outputs refused the batch: put the touched nodes' protocol state back (new
    /// nodes are removed), so resends of the batch's frames are stored again.
    pub fn rollback_batch(&mut self) {
        self.in_batch = false;
        for (name, saved) in self.undo.drain(..).rev() {
            match saved {
                Some(meta) => {
                    if let Some(n) = self.store.get_mut(&name) {
                        n.meta = meta;
                    }
                }
                None => {
                    self.store.remove(&name);
                }
            }
        }
    }

    /// Saves the node's metadata before the open batch first changes it (`None` when
    /// the batch created the node).
    fn save(&mut self, name: &str) {
        if self.in_batch && !self.undo.iter().any(|(n, _)| &**n == name) {
            let meta = match self.store.get(name) {
                Some(n) if n.meta.counters.received > 0 || n.meta.window.highest().is_some() => {
                    Some(n.meta.clone())
                }
                _ => None,
            };
            self.undo.push((name.into(), meta));
        }
    }

    /// Ingests one datagram received at `now_ms` (Unix ms). New frames append their
    /// line protocol to `lines`; the ack to send back (if any) is written to `ack`.
    pub fn ingest(
        &mut self,
        datagram: &[u8],
        now_ms: u64,
        lines: &mut String,
        ack: &mut [u8; MAX_DATAGRAM],
    ) -> Outcome {
        let frame = match pimon_protocol::decode(datagram) {
            Ok(Message::Data(f)) => f,
            Ok(Message::Ack(_)) => {
                self.stats.decode_error_kind(DecodeErrorKind::UnexpectedAck);
                return Outcome::drop(Verdict::Decode(DecodeErrorKind::UnexpectedAck));
            }
            Err(e) => {
                self.stats.decode_error(e);
                return Outcome::drop(Verdict::Decode(DecodeErrorKind::of(e)));
            }
        };
        let key = match self.authenticate(&frame) {
            Ok(key) => key,
            Err(verdict) => return Outcome::drop(verdict),
        };
        let h = frame.header;

        // The node, and whether this frame's boot id is its current one.
        match self.store.get(h.node).map(|n| {
            (
                n.meta.boot_id,
                n.meta.prev_boot_id,
                n.meta.last_accepted_ts_ms,
            )
        }) {
            None => {
                if self.store.admit(h.node, h.boot_id).is_err() {
                    AggregatorStats::inc(&self.stats.nodes_refused_limit);
                    return Outcome::drop(Verdict::NodeLimit);
                }
                self.save(h.node);
            }
            Some((boot_id, prev_boot_id, last_ts)) if boot_id != h.boot_id => {
                // A late frame of the previous run, or (keyed) any older boot's frame.
                let keyed = h.key_id.is_some();
                if prev_boot_id == Some(h.boot_id) || (keyed && h.timestamp_ms <= last_ts) {
                    AggregatorStats::inc(&self.stats.replays);
                    if let Some(n) = self.store.get_mut(h.node) {
                        n.meta.counters.replays += 1;
                    }
                    return Outcome::drop(Verdict::Replay);
                }
                self.save(h.node);
                if let Some(n) = self.store.get_mut(h.node) {
                    n.meta.reboot(h.boot_id);
                }
            }
            Some(_) => self.save(h.node),
        }

        let verdict = self.apply(&frame, now_ms, lines);
        let ack_len = self.write_ack(h.node, key.as_ref(), ack);
        let lines_written = match verdict {
            (Verdict::Stored, n) => n,
            _ => 0,
        };
        Outcome {
            verdict: verdict.0,
            ack_len,
            lines: lines_written,
        }
    }

    /// Checks the MAC rules; returns the key to MAC the ack with.
    fn authenticate(&self, frame: &DataFrame<'_>) -> Result<Option<Key>, Verdict> {
        let h = &frame.header;
        let fail = |reason: AuthFailure| {
            self.stats.auth_failure(reason);
            Verdict::Auth(reason)
        };
        let Some(ring) = &self.keys else {
            return match h.key_id {
                None => Ok(None),
                Some(_) => Err(fail(AuthFailure::WrongKeyId)),
            };
        };
        let allowed = if self.config.refuse_unknown_nodes {
            ring.is_listed(h.node)
        } else {
            true
        };
        let keys = ring.keys_for(h.node).filter(|_| allowed);
        let Some(keys) = keys else {
            AggregatorStats::inc(&self.stats.unknown_nodes_refused);
            return Err(Verdict::UnknownNode);
        };
        let Some(id) = h.key_id else {
            return Err(fail(AuthFailure::MissingMac));
        };
        let Some(key) = keys.iter().find(|k| k.id() == id) else {
            return Err(fail(AuthFailure::WrongKeyId));
        };
        frame.verify(key).map_err(|_| fail(AuthFailure::BadMac))?;
        Ok(Some(key.clone()))
    }

    /// Window, store and lines for a frame of the node's current boot id. Returns the
    /// verdict and the number of lines written.
    fn apply(
        &mut self,
        frame: &DataFrame<'_>,
        now_ms: u64,
        lines: &mut String,
    ) -> (Verdict, usize) {
        let h = frame.header;
        let cfg = self.config;
        let stamp = self.store.stamp(now_ms);
        let Some(node) = self.store.get_mut(h.node) else {
            return (Verdict::NodeLimit, 0);
        };
        let m = &mut node.meta;
        let live = m.window.highest().is_none_or(|top| h.seq > top);
        // On the first frame of a (node, boot id) the window starts at the collector's
        // resend floor: what lies below it was acked by an earlier run of this
        // aggregator (or counted by the collector as dropped from its ring), not missed
        // here. Counting it would make every aggregator restart look like data loss.
        let first = m.window.highest().is_none() && m.window.base() == 0;
        let given_up = m.window.raise_floor(h.resend_floor);
        if !first {
            m.counters.missing += given_up;
        }
        let (accept, given_up) = m.window.accept(h.seq);
        m.counters.missing += given_up;
        match accept {
            Accept::Duplicate => {
                m.counters.duplicate += 1;
                return (Verdict::Duplicate, 0);
            }
            Accept::Old => {
                m.counters.duplicate += 1;
                return (Verdict::Old, 0);
            }
            Accept::New => {}
        }

        // Clock.
        let ts = h.timestamp_ms;
        let skewed = if live {
            let skew = ts as i128 - now_ms as i128;
            m.clock_skew_ms = skew.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            m.clock_bad = skew.unsigned_abs() > u128::from(cfg.max_clock_skew_ms);
            m.clock_bad
        } else {
            m.clock_bad
                || ts > now_ms.saturating_add(cfg.max_clock_skew_ms)
                || now_ms.saturating_sub(ts) > cfg.max_backfill_ms
        };
        if skewed {
            m.counters.clock_skewed += 1;
            AggregatorStats::inc(&self.stats.clock_skewed_frames);
        }
        let used_ts = if skewed { now_ms } else { ts };

        m.counters.received += 1;
        // The time as used: a node whose clock ran ahead once cannot block its own
        // later restarts.
        m.last_accepted_ts_ms = m.last_accepted_ts_ms.max(used_ts);
        m.last_seen_ms = m.last_seen_ms.max(now_ms);
        m.interval_ms = h.interval_ms;
        m.key_id = h.key_id;
        let apply_values = used_ts >= m.values_ts_ms;
        if apply_values {
            m.values_ts_ms = used_ts;
        }

        if frame.unknown_samples() > 0 {
            self.stats.unknown_samples.fetch_add(
                u64::from(frame.unknown_samples()),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        if apply_values {
            let values = frame.samples().filter_map(|s| {
                let rank = family_rank(s.metric.id)?;
                Some((
                    rank,
                    s.labels,
                    s.metric.conversion.convert(s.value, h.user_hz),
                ))
            });
            let refused = self.store.upsert_all(h.node, stamp, values);
            if refused > 0 {
                if let Some(n) = self.store.get_mut(h.node) {
                    n.meta.counters.series_refused += refused;
                }
                self.stats
                    .series_refused_limit
                    .fetch_add(refused, std::sync::atomic::Ordering::Relaxed);
            }
        }
        if cfg.render_samples {
            let before = self.samples.len();
            let ts = used_ts.min(i64::MAX as u64) as i64;
            if crate::remote_write::samples::write_frame(&mut self.samples, frame, ts).is_err() {
                self.samples.truncate(before);
            }
        }
        if !cfg.render_lines {
            return (Verdict::Stored, 0);
        }
        let before = lines.len();
        let written = match lines::write_frame(
            lines,
            frame,
            used_ts.min(i64::MAX as u64) as i64,
            cfg.precision,
            &mut self.scratch,
        ) {
            Ok(n) => n,
            Err(_) => {
                lines.truncate(before);
                0
            }
        };
        (Verdict::Stored, written)
    }

    fn write_ack(&self, node: &str, key: Option<&Key>, buf: &mut [u8; MAX_DATAGRAM]) -> usize {
        let Some(n) = self.store.get(node) else {
            return 0;
        };
        let (acked_below, seen_below, gaps) = n.meta.window.ack();
        let ack = Ack {
            node,
            boot_id: n.meta.boot_id,
            acked_below,
            seen_below,
            gaps,
            key_id: None,
        };
        ack.emit(buf, key).unwrap_or(0)
    }
}
