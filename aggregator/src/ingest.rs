//! Ingest: one datagram in, a decision out. Pure and synchronous: no sockets, no clock
//! (the receive time and source address are arguments), so every rule is unit-tested
//! with frames built by `pimon_protocol::FrameWriter`.
//!
//! For each datagram, in order:
//! 1. **Cheap checks first**: the preamble; with a key file, the node name and the MAC
//!    over the raw bytes (`pimon_protocol::frame::peek_node`, `auth::verify`), so a
//!    forged frame costs one MAC, not a decode. The node needs a key (its own or the `*`
//!    default; with `refuse_unknown_nodes` its own). Without a key file, frames must
//!    carry no MAC.
//! 2. **Decode** the whole frame; failures are counted by kind.
//! 3. **Node**: a new node is admitted while the table has room and its address has
//!    fewer than `max_new_nodes_per_address` young nodes (see [`crate::store`]); a keyed
//!    new node needs a timestamp within `max_clock_skew` of now. For a known node,
//!    [`crate::evidence::route`] decides which boot the frame belongs to and whether it
//!    may move the node's state (new boot id, sequence jump, resync), or is held until
//!    confirmed, or refused as a replay.
//! 4. **Sequence window** of that boot: `resend_floor` gives up older gaps (counted
//!    missing, but nothing below the first number this run heard of the boot: an earlier
//!    run may have stored it), then the sequence number is new (store), a duplicate, or
//!    old (both: ack again).
//! 5. **Time** ([`crate::timeline`]): the frame's own timestamp, or a substitute that is
//!    distinct, increasing in sequence order and the same whenever the same frame is
//!    stored (a clock off, a backlog older than `max_backfill`, or a resend whose own
//!    time would fall outside the times around it). Every new frame is stored.
//! 6. **Store** (new frames): the frame's line protocol is appended to the batch's
//!    lines (inside a batch begun with [`Ingest::begin_batch_of`] for a busy ingest
//!    thread, a few frames at a time on several threads: [`crate::render`]); its values are *staged* and
//!    become the series' latest values when the batch commits — unless a newer frame of
//!    the boot already set them (a late resend must not move a counter backwards).
//! 7. **Ack** for the boot's state, MACed with the key that verified the frame; to an
//!    unverified sender never larger than the datagram it sent.
//!
//! # Batches and acks
//! "Acked" means "never lost": a frame may be acked only once every output accepted its
//! lines. The server ingests a batch of datagrams with [`Ingest::begin_batch`], hands
//! the batch's lines to the outputs, then either [`Ingest::commit_batch`] and sends the
//! acks, or [`Ingest::rollback_batch`]. Until the commit nothing of the batch is visible
//! outside: values and counters of stored frames are staged; node state changes are
//! undone on rollback (new nodes removed), so the collectors' resends are taken as new
//! again and counted once. Outside a batch every datagram commits at once.
//!
//! To ingest the next batch while the outputs write one (pipelining), the server seals
//! the batch it handed over ([`Ingest::seal_batch`]) and opens the next. The sealed
//! batch is then committed on its own ([`Ingest::commit_sealed`]: only its values take
//! effect), or rolled back together with the open batch ingested on top of it
//! ([`Ingest::rollback_sealed`]). One batch at most is sealed.
//!
//! Node state that must survive a restart before an ack goes out (a new boot, a new
//! timeline segment, a timeline gap first used) is listed by [`Ingest::take_urgent`] for [`crate::persist`].

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pimon_protocol::catalog::Metric;
use pimon_protocol::catalog::Number;
use pimon_protocol::frame::Visit;
use pimon_protocol::text::influx::Precision;
use pimon_protocol::{
    Accept, Ack, DataFrame, DataHeader, Key, Kind, MAX_DATAGRAM, Preamble, Reason, Refusal, Value,
};

use crate::evidence::{self, Facts, Route};
use crate::keys::KeyRing;
use crate::lines::{self, LineScratch};
use crate::node::NodeMeta;
use crate::render::Deferred;
use crate::series::family_rank;
use crate::stats::{AggregatorStats, AuthFailure, DecodeErrorKind};
use crate::store::{AdmitError, Store};
use crate::timeline::{Clock, FrameAt, Seen};

/// Settings of ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestConfig {
    /// Only nodes named in the key file are accepted (not those covered by `*`).
    pub refuse_unknown_nodes: bool,
    /// A live frame's timestamp may differ this much from the receive time (ms).
    pub max_clock_skew_ms: u64,
    /// A frame's time may be this old (ms); older ones get a substitute time (a backlog
    /// is packed from this bound on, see [`crate::timeline`]).
    pub max_backfill_ms: u64,
    /// Timestamp precision of the rendered line protocol.
    pub precision: Precision,
    /// Render stored frames as line protocol. Off when no output is configured
    /// (`/metrics` only): rendering is about a quarter of ingest's CPU.
    pub render_lines: bool,
    /// Render stored frames as timestamped samples for the remote write outputs
    /// ([`crate::remote_write::samples`]); taken with [`Ingest::take_samples`].
    pub render_samples: bool,
    /// Inside a batch of at least this many datagrams ([`Ingest::begin_batch_of`]),
    /// render the lines of this many stored frames at a time on `render_threads`
    /// threads ([`crate::render`]); 1: each frame's lines as it is stored, on the ingest
    /// thread. The lines of up to this many frames may be appended by one
    /// [`Ingest::ingest`] (and by [`Ingest::finish_lines`]), which bounds how far a part
    /// of a batch can pass the size it was cut at.
    pub render_chunk: usize,
    /// Threads that render a chunk (the ingest thread is one of them).
    pub render_threads: usize,
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
            render_chunk: 1,
            render_threads: 1,
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
    /// A frame of a retired boot id, or a keyed frame too old to start a boot: dropped.
    Replay,
    /// It would move the node's state (new boot id, sequence jump, resync) without
    /// enough evidence yet: held (not stored, not acked).
    Unconfirmed,
    /// Not a valid pimon data frame.
    Decode(DecodeErrorKind),
    /// Authentication failed.
    Auth(AuthFailure),
    /// The node is not allowed (no key for it, or not listed with
    /// `refuse_unknown_nodes`).
    UnknownNode,
    /// A new node, but `max_nodes` is reached.
    NodeLimit,
    /// A new node, but its address already has `max_new_nodes_per_address` young nodes.
    AddressLimit,
    /// A probe (`pimon-collector --check`) that passed authentication: acked, nothing
    /// stored.
    Probe,
}

/// Something the operator should hear about (logged once by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A second collector sends as an existing node.
    NameConflict {
        /// The node name.
        node: String,
        /// The boot being stored, and where it comes from.
        current: (u64, Option<SocketAddr>),
        /// The second sender.
        other: (u64, SocketAddr),
    },
}

/// The result of [`Ingest::ingest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The decision.
    pub verdict: Verdict,
    /// Length of the ack written into the caller's buffer (0: send nothing).
    pub ack_len: usize,
    /// Lines appended to the caller's line buffer.
    pub lines: usize,
    /// Something to log.
    pub event: Option<Event>,
}

impl Outcome {
    fn drop(verdict: Verdict) -> Outcome {
        Outcome {
            verdict,
            ack_len: 0,
            lines: 0,
            event: None,
        }
    }
}

/// Counters of stored frames, applied when the batch commits.
#[derive(Debug, Default, Clone, Copy)]
struct StagedCounts {
    clock_skewed: u64,
    unknown_samples: u64,
    acks_limited_size: u64,
}

/// Values of one stored frame, applied when the batch commits.
#[derive(Debug)]
struct StagedFrame {
    name: Range<usize>,
    stamp: u32,
    values: Range<usize>,
}

#[derive(Debug)]
struct StagedValue {
    rank: u16,
    labels: Range<usize>,
    value: Number,
}

/// What a batch stored, not yet visible (buffers are reused: no allocation per batch
/// once warm).
#[derive(Debug, Default)]
struct Staged {
    names: String,
    labels: Vec<u8>,
    frames: Vec<StagedFrame>,
    values: Vec<StagedValue>,
    counts: StagedCounts,
}

impl Staged {
    fn clear(&mut self) {
        self.names.clear();
        self.labels.clear();
        self.frames.clear();
        self.values.clear();
        self.counts = StagedCounts::default();
    }

    /// Starts staging a frame of node `name`.
    fn begin(&mut self, name: &str, stamp: u32) -> OpenFrame {
        let start = self.names.len();
        self.names.push_str(name);
        OpenFrame {
            name: start..self.names.len(),
            stamp,
            values: self.values.len(),
            labels: self.labels.len(),
        }
    }

    /// Ends the open frame: its values take effect at the commit.
    fn end(&mut self, open: OpenFrame) {
        self.frames.push(StagedFrame {
            name: open.name,
            stamp: open.stamp,
            values: open.values..self.values.len(),
        });
    }

    /// Forgets the open frame: nothing of it is staged any more.
    fn discard(&mut self, open: OpenFrame) {
        self.names.truncate(open.name.start);
        self.values.truncate(open.values);
        self.labels.truncate(open.labels);
    }

    /// Makes the staged values the series' latest values in `store` and adds the
    /// staged counters to `stats`; then empties itself.
    fn apply(&mut self, store: &mut Store, stats: &AggregatorStats) {
        for f in &self.frames {
            let name = self.names.get(f.name.clone()).unwrap_or("");
            let values = self.values.get(f.values.clone()).unwrap_or(&[]);
            let labels = &self.labels;
            let refused = store.upsert_encoded(
                name,
                f.stamp,
                values
                    .iter()
                    .map(|v| (v.rank, labels.get(v.labels.clone()).unwrap_or(&[]), v.value)),
            );
            if refused > 0 {
                if let Some(n) = store.get_mut(name) {
                    n.meta.counters.series_refused += refused;
                }
                stats
                    .series_refused_limit
                    .fetch_add(refused, Ordering::Relaxed);
            }
        }
        let c = self.counts;
        stats
            .clock_skewed_frames
            .fetch_add(c.clock_skewed, Ordering::Relaxed);
        stats
            .unknown_samples
            .fetch_add(c.unknown_samples, Ordering::Relaxed);
        stats
            .acks_limited_size
            .fetch_add(c.acks_limited_size, Ordering::Relaxed);
        self.clear();
    }
}

/// A frame being staged ([`Staged::begin`]).
#[derive(Debug)]
struct OpenFrame {
    name: Range<usize>,
    stamp: u32,
    /// Its first value and first label byte.
    values: usize,
    labels: usize,
}

/// Stages a frame's values while [`DataFrame::parse_with`] validates it (the frame is
/// walked once): each group's labels are staged once, encoded as the store encodes a
/// label set, and each sample of a family the store keeps as its rank, those labels and
/// its converted value. What a frame that turns out invalid or is not stored staged is
/// dropped ([`Staged::discard`]).
struct Stager<'s> {
    staged: &'s mut Staged,
    stamp: u32,
    open: Option<OpenFrame>,
    user_hz: u16,
    /// The open group's staged labels.
    labels: Range<usize>,
}

impl<'a> Visit<'a> for Stager<'_> {
    fn header(&mut self, header: &DataHeader<'a>) {
        self.user_hz = header.user_hz;
        self.open = Some(self.staged.begin(header.node, self.stamp));
    }

    fn group(&mut self, labels: &[&'a str]) {
        let l = &mut self.staged.labels;
        let start = l.len();
        // The decoder checked at most 12 values of at most 255 bytes each.
        l.push(labels.len() as u8);
        for label in labels {
            let b = label.as_bytes();
            l.push(b.len() as u8);
            l.extend_from_slice(b);
        }
        self.labels = start..l.len();
    }

    fn sample(&mut self, metric: &'static Metric, value: Value) {
        let Some(rank) = family_rank(metric.id) else {
            return;
        };
        self.staged.values.push(StagedValue {
            rank,
            labels: self.labels.clone(),
            value: metric.conversion.convert(value, self.user_hz),
        });
    }
}

/// A batch whose lines are with the outputs while the next one is ingested.
#[derive(Debug)]
struct Sealed {
    undo: Vec<(Box<str>, Option<NodeMeta>)>,
    staged: Staged,
    urgent: Vec<Box<str>>,
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
    staged: Staged,
    /// The frame being ingested, staged while it was decoded: kept by
    /// [`Ingest::store_frame`] when its values are to be stored, else dropped.
    pre: Option<OpenFrame>,
    /// Nodes whose state must be saved before the batch is acked.
    urgent: Vec<Box<str>>,
    /// A batch is open (state is saved before changes).
    in_batch: bool,
    /// The batch before the open one, sealed: its lines are with the outputs while the
    /// open batch is ingested ([`Ingest::seal_batch`]).
    sealed: Option<Sealed>,
    /// Stored frames of the open batch whose lines are not rendered yet.
    deferred: Deferred,
    /// The open batch renders its lines a chunk at a time ([`Ingest::begin_batch_of`]).
    defer_lines: bool,
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
            staged: Staged::default(),
            pre: None,
            urgent: Vec::new(),
            in_batch: false,
            sealed: None,
            // No render thread is started when frames are never deferred.
            deferred: Deferred::new(if config.render_chunk > 1 {
                config.render_threads
            } else {
                1
            }),
            defer_lines: false,
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

    /// True while a batch is open.
    pub fn in_batch(&self) -> bool {
        self.in_batch
    }

    /// Starts a batch: from now on, node state is saved before it changes and stored
    /// values wait for the commit. Each frame's lines are rendered as it is stored.
    pub fn begin_batch(&mut self) {
        self.begin_batch_of(0);
    }

    /// [`begin_batch`](Self::begin_batch) for a batch of `datagrams` datagrams. With at
    /// least [`IngestConfig::render_chunk`] of them (a load that keeps the ingest thread
    /// busy: receive batches queue up), their lines are rendered a chunk at a time on
    /// every core ([`crate::render`]); a smaller batch renders each frame's lines as it is
    /// stored, which costs less CPU (no copy, no second parse, no hand-over).
    pub fn begin_batch_of(&mut self, datagrams: usize) {
        self.undo.clear();
        self.staged.clear();
        self.urgent.clear();
        self.samples.clear();
        self.deferred.clear();
        self.in_batch = true;
        self.defer_lines = self.config.render_chunk > 1 && datagrams >= self.config.render_chunk;
    }

    /// Renders the lines of the open batch's stored frames that wait
    /// ([`IngestConfig::render_chunk`]) and appends them to `lines`; returns how many
    /// lines were written. Call it before the batch's lines go to the outputs.
    pub fn finish_lines(&mut self, lines: &mut String) -> usize {
        self.deferred
            .render(&mut self.store, self.config.precision, lines)
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

    /// The outputs accepted the batch: its values and counters take effect.
    pub fn commit_batch(&mut self) {
        self.deferred.clear();
        self.defer_lines = false;
        self.staged.apply(&mut self.store, &self.stats);
        self.undo.clear();
        self.urgent.clear();
        self.in_batch = false;
    }

    /// The outputs refused the batch: put the touched nodes' state back (new nodes are
    /// removed) and drop what it staged, so resends of its frames are stored again and
    /// counted once. Refusals counted during the batch stay counted.
    pub fn rollback_batch(&mut self) {
        self.in_batch = false;
        self.defer_lines = false;
        self.deferred.clear();
        self.staged.clear();
        self.urgent.clear();
        let undo = std::mem::take(&mut self.undo);
        self.restore(undo);
    }

    /// Puts back the node state an undo log saved, newest first.
    fn restore(&mut self, mut undo: Vec<(Box<str>, Option<NodeMeta>)>) {
        for (name, saved) in undo.drain(..).rev() {
            match saved {
                Some(meta) => {
                    if let Some(n) = self.store.get_mut(&name) {
                        let later = n.meta.counters;
                        n.meta = meta;
                        n.meta.counters.keep_refusals_from(&later);
                    }
                }
                None => {
                    self.store.remove(&name);
                }
            }
        }
        // The buffer is kept for the next batch.
        if self.undo.is_empty() {
            self.undo = undo;
        }
    }

    /// Seals the open batch, whose lines (finished: [`Ingest::finish_lines`]) and
    /// samples went to the outputs, so that the next batch can be ingested while they
    /// write them (pipelining). It is then committed with [`Ingest::commit_sealed`] or
    /// rolled back, with the batch opened after it, by [`Ingest::rollback_sealed`].
    /// Takes effect only with no batch sealed already (the caller waits for it first).
    pub fn seal_batch(&mut self) {
        if !self.in_batch || self.sealed.is_some() {
            return;
        }
        self.deferred.clear();
        self.defer_lines = false;
        self.sealed = Some(Sealed {
            undo: std::mem::take(&mut self.undo),
            staged: std::mem::take(&mut self.staged),
            urgent: std::mem::take(&mut self.urgent),
        });
        self.in_batch = false;
    }

    /// True while a sealed batch waits for its outputs.
    pub fn has_sealed(&self) -> bool {
        self.sealed.is_some()
    }

    /// The outputs accepted the sealed batch: its values and counters take effect (the
    /// open batch, if any, stays open).
    pub fn commit_sealed(&mut self) {
        let Some(mut sealed) = self.sealed.take() else {
            return;
        };
        sealed.staged.apply(&mut self.store, &self.stats);
    }

    /// The outputs refused the sealed batch: the open batch (ingested on top of it) is
    /// rolled back, then the sealed one, as [`Ingest::rollback_batch`] does.
    pub fn rollback_sealed(&mut self) {
        self.rollback_batch();
        if let Some(sealed) = self.sealed.take() {
            self.restore(sealed.undo);
        }
    }

    /// Names of the nodes whose state must reach the disk before this batch's acks
    /// (a new boot id, a new timeline segment, a timeline gap first used), in the order
    /// first marked: the sealed batch's when there is one, else the open batch's.
    /// Taking them does not end the batch.
    pub fn take_urgent(&mut self) -> Vec<Box<str>> {
        match &mut self.sealed {
            Some(sealed) => std::mem::take(&mut sealed.urgent),
            None => std::mem::take(&mut self.urgent),
        }
    }

    /// The metadata of node `name` that the acks of the batch being acked answer: with a
    /// sealed batch, as it was before the open batch changed it; else as it is.
    pub fn acked_meta(&self, name: &str) -> Option<&NodeMeta> {
        if self.sealed.is_some()
            && let Some((_, saved)) = self.undo.iter().find(|(n, _)| &**n == name)
        {
            return saved.as_ref();
        }
        self.store.get(name).map(|n| &n.meta)
    }

    fn mark_urgent(&mut self, name: &str) {
        if !self.urgent.iter().any(|n| &**n == name) {
            self.urgent.push(name.into());
        }
    }

    /// Saves the node's metadata before the open batch first changes it.
    fn save(&mut self, name: &str, created: bool) {
        if self.in_batch && !self.undo.iter().any(|(n, _)| &**n == name) {
            let meta = if created {
                None
            } else {
                self.store.get(name).map(|n| n.meta.clone())
            };
            self.undo.push((name.into(), meta));
        }
    }

    /// Ingests one datagram received at `now_ms` (Unix ms) from `from`. New frames
    /// append their line protocol to `lines`; the ack to send back (if any) is written
    /// to `ack`.
    pub fn ingest(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now_ms: u64,
        lines: &mut String,
        ack: &mut [u8; MAX_DATAGRAM],
    ) -> Outcome {
        let mut outcome = self.ingest_frame(datagram, from, now_ms, lines, ack);
        if self.deferred.len() >= self.config.render_chunk {
            outcome.lines += self.finish_lines(lines);
        }
        if let Some(open) = self.pre.take() {
            // Staged while decoding, but not to be stored (invalid, refused, a
            // duplicate, held, or a late resend).
            self.staged.discard(open);
        }
        if !self.in_batch {
            self.staged.apply(&mut self.store, &self.stats);
            self.undo.clear();
        }
        outcome
    }

    fn ingest_frame(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now_ms: u64,
        lines: &mut String,
        ack: &mut [u8; MAX_DATAGRAM],
    ) -> Outcome {
        let key = match self.authenticate(datagram) {
            Ok(key) => key,
            Err(verdict) => {
                return Outcome {
                    ack_len: self.write_refusal(datagram, verdict, ack),
                    ..Outcome::drop(verdict)
                };
            }
        };
        if Preamble::parse(datagram).is_ok_and(|p| p.kind == Kind::Probe) {
            return self.answer_probe(datagram, key.as_ref(), ack);
        }
        // The values are staged while the frame is validated (one walk over the body);
        // they are dropped again unless the frame is stored.
        let mut stager = Stager {
            stamp: self.store.stamp(now_ms),
            staged: &mut self.staged,
            open: None,
            user_hz: 0,
            labels: 0..0,
        };
        let parsed = DataFrame::parse_with(datagram, &mut stager);
        self.pre = stager.open;
        let frame = match parsed {
            Ok(f) => f,
            Err(e) => {
                self.stats.decode_error(e);
                return Outcome::drop(Verdict::Decode(DecodeErrorKind::of(e)));
            }
        };
        let h = frame.header;
        let cfg = self.config;
        let verified = key.is_some();

        // Which boot of which node, and may the frame move its state?
        let route = if self.store.get(h.node).is_none() {
            if verified && h.timestamp_ms.abs_diff(now_ms) > cfg.max_clock_skew_ms {
                // A keyed node starts only with a fresh frame: a recording of a
                // forgotten node must not come back as new.
                AggregatorStats::inc(&self.stats.replays);
                return Outcome::drop(Verdict::Replay);
            }
            match self.store.admit(h.node, h.boot_id, Some(from.ip()), now_ms) {
                Ok(_) => {}
                Err(AdmitError::NodeLimit) => {
                    AggregatorStats::inc(&self.stats.nodes_refused_limit);
                    return Outcome::drop(Verdict::NodeLimit);
                }
                Err(AdmitError::AddressLimit) => {
                    AggregatorStats::inc(&self.stats.nodes_refused_address);
                    return Outcome::drop(Verdict::AddressLimit);
                }
            }
            self.save(h.node, true);
            Route::Current
        } else {
            self.save(h.node, false);
            let facts = Facts {
                boot_id: h.boot_id,
                seq: h.seq,
                ts_ms: h.timestamp_ms,
                resync: frame.resync(),
                verified,
                from,
                now_ms,
            };
            let Some(node) = self.store.get_mut(h.node) else {
                return Outcome::drop(Verdict::NodeLimit);
            };
            evidence::route(&mut node.meta, &facts, cfg.max_clock_skew_ms)
        };

        let mut event = None;
        let Some(node) = self.store.get_mut(h.node) else {
            return Outcome::drop(Verdict::NodeLimit);
        };
        let m = &mut node.meta;
        match route {
            Route::Replay => {
                m.counters.replays += 1;
                AggregatorStats::inc(&self.stats.replays);
                return Outcome::drop(Verdict::Replay);
            }
            Route::Hold { conflict } => {
                m.counters.unconfirmed += 1;
                AggregatorStats::inc(&self.stats.frames_unconfirmed);
                if conflict {
                    m.counters.name_conflicts += 1;
                    AggregatorStats::inc(&self.stats.name_conflicts);
                    event = Some(conflict_event(h.node, m, h.boot_id, from));
                }
                return Outcome {
                    event,
                    ..Outcome::drop(Verdict::Unconfirmed)
                };
            }
            Route::Adopt { switch_back } => {
                if switch_back && m.conflict != Some((h.boot_id, from)) {
                    m.counters.name_conflicts += 1;
                    AggregatorStats::inc(&self.stats.name_conflicts);
                    event = Some(conflict_event(h.node, m, h.boot_id, from));
                    m.conflict = Some((h.boot_id, from));
                }
                m.adopt(h.boot_id, now_ms);
                self.mark_urgent(h.node);
            }
            Route::Resync => {
                let boot = &mut m.current;
                boot.window.reset(h.resend_floor);
                boot.window.uncount_below(h.seq);
                boot.heard = true;
            }
            Route::Current | Route::Previous => {}
        }
        let previous = route == Route::Previous;
        let verdict = self.store_frame(&frame, datagram, previous, from, now_ms, lines);
        let outcome_lines = match verdict {
            (Verdict::Stored, n) => n,
            _ => 0,
        };
        let ack_len = self.write_ack(&frame, key.as_ref(), datagram.len(), ack);
        Outcome {
            verdict: verdict.0,
            ack_len,
            lines: outcome_lines,
            event,
        }
    }

    /// Checks the MAC rules from the raw bytes; returns the key to MAC the ack with.
    fn authenticate(&self, datagram: &[u8]) -> Result<Option<Key>, Verdict> {
        let decode_error = |e| {
            self.stats.decode_error(e);
            Verdict::Decode(DecodeErrorKind::of(e))
        };
        let pre = Preamble::parse(datagram).map_err(decode_error)?;
        match pre.kind {
            Kind::Data | Kind::Probe => {}
            Kind::Refusal => {
                return Err(decode_error(pimon_protocol::Error::DecodeUnknownKind(
                    Kind::Refusal.into(),
                )));
            }
            Kind::Ack => {
                return Err(match Ack::parse(datagram) {
                    Ok(_) => {
                        self.stats.decode_error_kind(DecodeErrorKind::UnexpectedAck);
                        Verdict::Decode(DecodeErrorKind::UnexpectedAck)
                    }
                    Err(e) => decode_error(e),
                });
            }
            Kind::Unknown(k) => {
                return Err(decode_error(pimon_protocol::Error::DecodeUnknownKind(k)));
            }
        }
        let fail = |reason: AuthFailure| {
            self.stats.auth_failure(reason);
            Verdict::Auth(reason)
        };
        let Some(ring) = &self.keys else {
            return match pre.has_mac() {
                false => Ok(None),
                true => Err(fail(AuthFailure::WrongKeyId)),
            };
        };
        let (_, node) = pimon_protocol::frame::peek_node(datagram).map_err(decode_error)?;
        let allowed = !self.config.refuse_unknown_nodes || ring.is_listed(node);
        let Some(keys) = ring.keys_for(node).filter(|_| allowed) else {
            AggregatorStats::inc(&self.stats.unknown_nodes_refused);
            return Err(Verdict::UnknownNode);
        };
        if !pre.has_mac() {
            return Err(fail(AuthFailure::MissingMac));
        }
        let Some(key) = keys.iter().find(|k| k.id() == pre.key_id) else {
            return Err(fail(AuthFailure::WrongKeyId));
        };
        pimon_protocol::auth::verify(datagram, key).map_err(|e| match e {
            pimon_protocol::Error::DecodeTooShort => decode_error(e),
            _ => fail(AuthFailure::BadMac),
        })?;
        Ok(Some(key.clone()))
    }

    /// Window, time, staged values and lines for a frame of the node's current boot (or
    /// its previous one). Returns the verdict and the number of lines written.
    fn store_frame(
        &mut self,
        frame: &DataFrame<'_>,
        datagram: &[u8],
        previous: bool,
        from: SocketAddr,
        now_ms: u64,
        lines: &mut String,
    ) -> (Verdict, usize) {
        let h = frame.header;
        let cfg = self.config;
        let Some(node) = self.store.get_mut(h.node) else {
            return (Verdict::NodeLimit, 0);
        };
        let m = &mut node.meta;
        let max_time = m.max_time_ms;
        let Some(boot) = m.boot_mut(h.boot_id) else {
            return (Verdict::Replay, 0);
        };
        if !boot.heard {
            // What lies below the first number this run hears of the boot may have been
            // stored by an earlier run: giving it up is no evidence of loss.
            boot.window.uncount_below(h.seq);
            boot.heard = true;
        }
        let given_up = boot.window.raise_floor(h.resend_floor);
        let above = boot.window.top();
        let (accept, slid) = boot.window.accept(h.seq);
        match accept {
            Accept::Duplicate | Accept::Old => {
                m.counters.missing = m
                    .counters
                    .missing
                    .saturating_add(given_up)
                    .saturating_add(slid);
                m.counters.duplicate += 1;
                let v = if accept == Accept::Old {
                    Verdict::Old
                } else {
                    Verdict::Duplicate
                };
                return (v, 0);
            }
            Accept::New => {}
        }
        let clock = Clock {
            now_ms,
            max_skew_ms: cfg.max_clock_skew_ms,
            max_backfill_ms: cfg.max_backfill_ms,
            tick_ms: if cfg.precision == Precision::Seconds {
                1000
            } else {
                1
            },
        };
        let frame_at = FrameAt {
            cycle: h.seq.saturating_sub(u64::from(h.part)),
            ts_ms: h.timestamp_ms,
            parts: h.parts,
            interval_ms: h.interval_ms,
        };
        let seen = Seen {
            above,
            done_below: boot.window.base(),
        };
        let time = boot.timeline.stamp(&frame_at, seen, &clock, max_time);
        m.counters.missing = m
            .counters
            .missing
            .saturating_add(given_up)
            .saturating_add(slid);
        if time.save {
            self.mark_urgent(h.node);
        }
        let Some(node) = self.store.get_mut(h.node) else {
            return (Verdict::NodeLimit, 0);
        };
        let m = &mut node.meta;
        if time.live && !previous {
            let skew = i128::from(h.timestamp_ms) - i128::from(now_ms);
            m.clock_skew_ms = skew.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            m.clock_bad = time.time_ms != h.timestamp_ms;
        }
        if time.time_ms != h.timestamp_ms {
            m.counters.clock_skewed += 1;
            self.staged.counts.clock_skewed += 1;
        }
        m.counters.received += 1;
        m.max_time_ms = Some(m.max_time_ms.unwrap_or(0).max(time.time_ms));
        m.last_seen_ms = m.last_seen_ms.max(now_ms);
        m.interval_ms = h.interval_ms;
        m.key_id = h.key_id;
        if let Some(boot) = m.boot_mut(h.boot_id) {
            boot.addr = Some(from);
            boot.last_stored_ms = boot.last_stored_ms.max(now_ms);
        }
        let apply_values = !previous && m.values_seq.is_none_or(|v| h.seq > v);
        if apply_values {
            m.values_seq = Some(h.seq);
            if let Some(open) = self.pre.take() {
                // Staged while it was decoded.
                self.staged.end(open);
            }
        }
        self.staged.counts.unknown_samples += u64::from(frame.unknown_samples());
        if cfg.render_samples {
            let before = self.samples.len();
            let ts = time.time_ms.min(i64::MAX as u64) as i64;
            if crate::remote_write::samples::write_frame(&mut self.samples, frame, ts).is_err() {
                self.samples.truncate(before);
            }
        }
        if !cfg.render_lines {
            return (Verdict::Stored, 0);
        }
        let timestamp_ms = time.time_ms.min(i64::MAX as u64) as i64;
        if self.in_batch && self.defer_lines {
            // Rendered with the chunk it belongs to (crate::render).
            self.deferred.push(datagram, h.node, timestamp_ms);
            return (Verdict::Stored, 0);
        }
        let before = lines.len();
        let history = self.store.get_mut(h.node).map(|n| &mut n.cpu_history);
        let written = lines::write_frame(
            lines,
            frame,
            timestamp_ms,
            cfg.precision,
            &mut self.scratch,
            history,
        )
        .unwrap_or_else(|_| {
            lines.truncate(before);
            0
        });
        (Verdict::Stored, written)
    }

    /// The refusal that tells the sender of a datagram refused for `verdict` why (bad
    /// MAC, missing MAC, wrong key id, node not allowed), or 0 when there is nothing to
    /// tell. The sender is unverified, so its source address may be forged: the refusal
    /// is never larger than the datagram (no amplification), and the server sends it
    /// through the same per-destination limit as acks that confirm nothing new.
    fn write_refusal(
        &self,
        datagram: &[u8],
        verdict: Verdict,
        buf: &mut [u8; MAX_DATAGRAM],
    ) -> usize {
        let reason = match verdict {
            Verdict::Auth(AuthFailure::BadMac) => Reason::BadMac,
            Verdict::Auth(AuthFailure::MissingMac) => Reason::MissingMac,
            Verdict::Auth(AuthFailure::WrongKeyId) if self.keys.is_none() => Reason::NotKeyed,
            Verdict::Auth(AuthFailure::WrongKeyId) => Reason::WrongKeyId,
            Verdict::UnknownNode => Reason::UnknownNode,
            _ => return 0,
        };
        let Ok((pre, node)) = pimon_protocol::frame::peek_node(datagram) else {
            return 0;
        };
        let refusal = Refusal {
            node,
            boot_id: pre.boot_id,
            reason,
        };
        refusal.emit_within(buf, datagram.len()).unwrap_or(0)
    }

    /// The answer to an authenticated probe: an ack of its boot id that confirms
    /// nothing (MACed with the key that verified the probe). Nothing is stored and no
    /// node state changes, so `pimon-collector --check` can run beside the collector.
    fn answer_probe(
        &self,
        datagram: &[u8],
        key: Option<&Key>,
        buf: &mut [u8; MAX_DATAGRAM],
    ) -> Outcome {
        let probe = match DataFrame::parse_probe(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.decode_error(e);
                return Outcome::drop(Verdict::Decode(DecodeErrorKind::of(e)));
            }
        };
        let ack = Ack {
            node: probe.header.node,
            boot_id: probe.header.boot_id,
            acked_below: 0,
            seen_below: 0,
            gaps: heapless::Vec::new(),
            key_id: None,
        };
        let ack_len = match key {
            Some(key) => ack.emit(buf, Some(key)).unwrap_or(0),
            None => ack.emit_within(buf, None, datagram.len()).unwrap_or(0),
        };
        Outcome {
            ack_len,
            ..Outcome::drop(Verdict::Probe)
        }
    }

    /// The ack for the frame's boot, at most `budget` bytes unless the frame was
    /// verified (an unauthenticated sender may have forged its source address).
    fn write_ack(
        &mut self,
        frame: &DataFrame<'_>,
        key: Option<&Key>,
        budget: usize,
        buf: &mut [u8; MAX_DATAGRAM],
    ) -> usize {
        let h = frame.header;
        let Some(n) = self.store.get_mut(h.node) else {
            return 0;
        };
        let Some(boot) = n.meta.boot_mut(h.boot_id) else {
            return 0;
        };
        let (acked_below, seen_below, gaps) = boot.window.ack();
        let ack = Ack {
            node: h.node,
            boot_id: h.boot_id,
            acked_below,
            seen_below,
            gaps,
            key_id: None,
        };
        match ack.emit(buf, key) {
            Ok(n) if key.is_some() || n <= budget => n,
            Ok(_) => {
                self.staged.counts.acks_limited_size += 1;
                ack.emit_within(buf, None, budget).unwrap_or(0)
            }
            Err(_) => 0,
        }
    }
}

fn conflict_event(node: &str, m: &NodeMeta, boot_id: u64, from: SocketAddr) -> Event {
    Event::NameConflict {
        node: node.to_string(),
        current: (m.current.boot_id, m.current.addr),
        other: (boot_id, from),
    }
}
