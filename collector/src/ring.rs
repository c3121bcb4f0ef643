//! The resend ring: every sent datagram, byte for byte, until the aggregator acks it.
//!
//! A [`Ring`] is a fixed byte arena (a `Box<[u8]>` on Linux, a `static` buffer in
//! firmware) holding variable-length records in sequence-number order:
//!
//! ```text
//! record = seq: u64 LE | sent_ms: u64 LE | cap: u16 LE | len: u16 LE | state: u8 | reference: u32 LE | stored (cap bytes)
//! ```
//!
//! `stored` is the datagram itself (`cap` = `len`) or, in a compacting ring
//! ([`Ring::with_compaction`]), the difference from the same part of an earlier cycle
//! ([`delta`]; `reference` is that record's offset, `len` the datagram's length):
//! consecutive cycles repeat their label strings and most values, so a cycle is kept
//! in about a third of its bytes. The earlier cycle is a *key cycle*, stored whole; the
//! cycles after it, up to the compaction period, are its *followers*. A key cycle and
//! its followers form a *block*, which leaves the ring only whole: evicting its first
//! record evicts the rest of the block, and acked records leave from the head a block
//! at a time. Sent and resent datagrams are decoded to the exact bytes first sent.
//!
//! Records are packed head to tail; one that does not fit before the end of the arena
//! starts again at offset 0 (the end of the last record before the wrap is remembered).
//! When the arena is full the oldest record is evicted. An evicted record that was not
//! acked is not counted dropped yet: its ack may only have been lost on the way back.
//! Its sequence number stays *unresolved* ([`evicted`]), [`Ring::resend_floor`] stays
//! at or below it, and the next ack that speaks for it says whether it was stored
//! ([`RingStats::acked`]) or not ([`RingStats::dropped`]); then the floor rises past
//! it. So the collector's `dropped` and the aggregator's `missing` count the same
//! frames.
//!
//! **Window rule.** The aggregator tracks [`WINDOW`] sequence numbers above its base
//! and gives up, on its own, whatever a frame pushes out of that window. The ring never
//! lets that happen: before a part gets sequence number `s`, everything below
//! `s + 1 - WINDOW` (unresolved numbers, then held records) is given up and counted
//! dropped, and the floor rises to it — so everything given up is given up by the
//! collector, and counted by both sides as lost, never as acked.
//!
//! A cycle's frames are encoded **directly into the arena**: [`Ring::open_cycle`] hands
//! out [`CycleSpace`], which gives one [`Slot`] of [`MAX_DATAGRAM`] bytes per part
//! (evicting old records as needed) with its sequence number. When the cycle is
//! complete, [`Ring::seal_pending`] sets every part's part count, appends the MAC and
//! packs the parts together (a part rarely fills its slot). Then
//! [`Ring::send_unsent`] hands each new datagram to the network.
//!
//! Acks ([`Ring::apply_ack`]) forget what the aggregator stored and mark its gaps. An
//! ack that speaks of sequence numbers never sent (the aggregator's window for this boot
//! is wrong: a forged frame moved it, or its saved state is damaged) changes nothing
//! but puts the ring in *resync* mode: the frames of new cycles carry the resync flag
//! (`pimon_protocol::FLAG_RESYNC`, docs/PROTOCOL.md 6.4), which asks the aggregator to
//! rebuild its window from their resend floor, until an ack that makes sense arrives
//! ([`Ring::resyncing`]);
//! [`Ring::resend_due`] picks what to send again: gaps first, then datagrams not acked
//! within a timeout, oldest first, at most [`ResendPolicy::max_per_tick`] per call. While
//! the aggregator is silent (no ack for a timeout) only one probe is resent per timeout,
//! so a dead aggregator is not flooded; its first ack then lists the gaps.
//!
//! `no_std`, no allocation, no panics: offsets are checked and a corrupt record makes the
//! operation stop rather than read out of bounds.

pub mod delta;
pub mod evicted;

use pimon_protocol::frame::set_resync;
use pimon_protocol::window::WINDOW;
use pimon_protocol::{Ack, Key, MAX_DATAGRAM, seal};

use evicted::EvictedRuns;

/// Bytes of the per-record header in the arena.
pub const RECORD_HEADER: usize = 25;
/// Arena bytes one part needs while it is being written (header + a full datagram).
pub const SLOT_BYTES: usize = RECORD_HEADER + MAX_DATAGRAM;
/// Smallest arena accepted: room for a cycle of a few parts.
pub const MIN_RING_BYTES: usize = 4 * SLOT_BYTES;

const OFF_SEQ: usize = 0;
const OFF_SENT: usize = 8;
const OFF_CAP: usize = 16;
const OFF_LEN: usize = 18;
const OFF_STATE: usize = 20;
const OFF_REF: usize = 21;

/// A record's state byte: a set of flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State(u8);

impl State {
    /// Written in the open cycle, not sealed yet.
    const PENDING: State = State(1);
    /// Sealed, never sent.
    const UNSENT: State = State(2);
    /// Done: the aggregator stored it (or it will never be sent: abandoned, unsealable).
    const ACKED: State = State(4);
    /// An ack listed it in a gap: resend.
    const WANTED: State = State(8);
    /// Not the first record of its block (see the module docs): it never becomes the
    /// head on its own.
    const FOLLOWER: State = State(16);
    /// Stored as a [`delta`] from the record at its `reference` offset.
    const DELTA: State = State(32);

    fn has(self, flag: State) -> bool {
        self.0 & flag.0 != 0
    }

    fn with(self, flag: State) -> State {
        State(self.0 | flag.0)
    }

    fn without(self, flag: State) -> State {
        State(self.0 & !flag.0)
    }

    /// Only the flags that say how the record is stored (kept through state changes).
    fn storage(self) -> State {
        State(self.0 & (State::FOLLOWER.0 | State::DELTA.0))
    }

    /// Sent and not known to be stored: acks decide about it, timeouts resend it.
    fn awaits_ack(self) -> bool {
        !self.has(State::ACKED) && !self.has(State::PENDING) && !self.has(State::UNSENT)
    }
}

/// Counters of the ring since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Datagrams sent for the first time.
    pub sent: u64,
    /// Datagrams sent again (gaps, timeouts, probes).
    pub resent: u64,
    /// Datagrams given up without the aggregator storing them: evicted and then
    /// reported missing by an ack, given up by the window rule or when the record of
    /// evicted runs was full, or never sent (a cycle abandoned half-written).
    pub dropped: u64,
    /// Datagrams the aggregator acked (held ones, and evicted ones acked later).
    pub acked: u64,
}

/// When to send a held datagram again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendPolicy {
    /// A datagram not acked this long after its last send is resent (and the aggregator
    /// counts as silent when no ack arrived for this long).
    pub timeout_ms: u64,
    /// A datagram listed in a gap is not resent again within this time of its last
    /// send (acks sent before the resend arrived still list it).
    pub gap_holdoff_ms: u64,
    /// Most datagrams [`Ring::resend_due`] sends per call (pacing).
    pub max_per_tick: usize,
}

impl ResendPolicy {
    /// The policy for a collection interval: timeout three intervals (at least 2 s),
    /// gap hold-off 500 ms, at most 8 datagrams per tick.
    pub fn for_interval(interval_ms: u64) -> ResendPolicy {
        ResendPolicy {
            timeout_ms: interval_ms.saturating_mul(3).max(2_000),
            gap_holdoff_ms: 500,
            max_per_tick: 8,
        }
    }
}

/// What an ack changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckEffect {
    /// Records newly known to be stored.
    pub acked: usize,
    /// Records newly marked for resend (in a gap).
    pub wanted: usize,
}

/// Why a part could not be given a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// Making room would drop a part of the cycle being written: the arena is too small
    /// for this cycle.
    CycleTooLarge,
    /// A record header is inconsistent (a bug; the ring stops rather than misread).
    Corrupt,
}

#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// Offset of the oldest record.
    head: usize,
    /// Offset where the next record goes.
    tail: usize,
    /// When `wrapped`: records are `head..end` then `0..tail`.
    end: usize,
    wrapped: bool,
    /// Records held (pending ones included).
    count: usize,
    /// Sequence number of the record at `head` (== `next_seq` when empty).
    first_seq: u64,
    next_seq: u64,
    /// Evicted unacked records whose fate no ack told yet (all below `first_seq`).
    evicted: EvictedRuns,
    /// Parts of the open cycle (the last `pending` records).
    pending: usize,
    pending_at: usize,
    stats: RingStats,
    last_ack_ms: Option<u64>,
    last_probe_ms: Option<u64>,
    /// The last ack spoke of sequence numbers never sent: new cycles ask for a resync.
    resync: bool,
    /// Cycles per block in a compacting ring (0: every record stored whole).
    compact_every: u8,
    /// The key cycle new cycles are stored against, while it is held.
    key: Option<KeyCycle>,
}

/// Where the current key cycle is.
#[derive(Debug, Clone, Copy)]
struct KeyCycle {
    /// Sequence number of its first part.
    seq: u64,
    /// Offset of its first part's record.
    at: usize,
    parts: usize,
    /// Follower cycles stored against it so far.
    followers: u8,
}

impl Meta {
    /// The resend floor: the oldest sequence number not given up (unresolved or held).
    fn floor(&self) -> u64 {
        self.evicted.oldest().unwrap_or(self.first_seq)
    }
}

/// A record's header, decoded.
#[derive(Debug, Clone, Copy)]
struct Header {
    seq: u64,
    sent_ms: u64,
    cap: usize,
    len: usize,
    state: State,
    /// Offset of the record a [`State::DELTA`] record is stored against.
    reference: usize,
}

fn u32_at4(h: &[u8], i: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&h[i..i + 4]);
    u32::from_le_bytes(b)
}

fn read_header(arena: &[u8], off: usize) -> Option<Header> {
    let h = arena.get(off..off.checked_add(RECORD_HEADER)?)?;
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[i..i + 8]);
        u64::from_le_bytes(b)
    };
    Some(Header {
        seq: u64_at(OFF_SEQ),
        sent_ms: u64_at(OFF_SENT),
        cap: usize::from(u16::from_le_bytes([h[OFF_CAP], h[OFF_CAP + 1]])),
        len: usize::from(u16::from_le_bytes([h[OFF_LEN], h[OFF_LEN + 1]])),
        state: State(h[OFF_STATE]),
        reference: u32_at4(h, OFF_REF) as usize,
    })
}

/// Writes a header into `h` (at least [`RECORD_HEADER`] bytes).
fn write_header(h: &mut [u8], hd: &Header) {
    if h.len() < RECORD_HEADER {
        return;
    }
    h[OFF_SEQ..OFF_SEQ + 8].copy_from_slice(&hd.seq.to_le_bytes());
    h[OFF_SENT..OFF_SENT + 8].copy_from_slice(&hd.sent_ms.to_le_bytes());
    h[OFF_CAP..OFF_CAP + 2].copy_from_slice(&(hd.cap as u16).to_le_bytes());
    h[OFF_LEN..OFF_LEN + 2].copy_from_slice(&(hd.len as u16).to_le_bytes());
    h[OFF_STATE] = hd.state.0;
    h[OFF_REF..OFF_REF + 4].copy_from_slice(&(hd.reference as u32).to_le_bytes());
}

fn set_state(arena: &mut [u8], off: usize, state: State) {
    if let Some(b) = arena.get_mut(off + OFF_STATE) {
        *b = state.0;
    }
}

fn set_sent(arena: &mut [u8], off: usize, now_ms: u64) {
    if let Some(b) = arena.get_mut(off + OFF_SENT..off + OFF_SENT + 8) {
        b.copy_from_slice(&now_ms.to_le_bytes());
    }
}

/// Fixed-size ring of sent datagrams; see the [module docs](self).
pub struct Ring<B> {
    arena: B,
    m: Meta,
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> Ring<B> {
    /// A ring over `arena`; `None` when it is smaller than [`MIN_RING_BYTES`] or larger
    /// than 4 GiB.
    pub fn new(arena: B) -> Option<Ring<B>> {
        let len = arena.as_ref().len();
        if len < MIN_RING_BYTES || u32::try_from(len).is_err() {
            return None;
        }
        Some(Ring {
            arena,
            m: Meta::default(),
        })
    }

    /// Stores cycles as differences from a key cycle, a new key cycle every
    /// `cycles_per_block` cycles (module docs); 0 (the default) stores every datagram
    /// whole. Takes effect from the next cycle.
    pub fn with_compaction(mut self, cycles_per_block: u8) -> Ring<B> {
        self.set_compaction(cycles_per_block);
        self
    }

    /// See [`with_compaction`](Self::with_compaction).
    pub fn set_compaction(&mut self, cycles_per_block: u8) {
        self.m.compact_every = cycles_per_block;
        self.m.key = None;
    }

    /// The datagram of the record at `off`: its stored bytes, or decoded into `scratch`.
    fn datagram<'a>(&'a self, off: usize, h: &Header, scratch: &'a mut [u8]) -> Option<&'a [u8]> {
        let arena = self.arena.as_ref();
        let data = off + RECORD_HEADER;
        if !h.state.has(State::DELTA) {
            return arena.get(data..data + h.len);
        }
        let r = read_header(arena, h.reference)?;
        if r.state.has(State::DELTA) {
            return None;
        }
        let rdata = h.reference + RECORD_HEADER;
        let reference = arena.get(rdata..rdata + r.len)?;
        let n = delta::decode(arena.get(data..data + h.cap)?, reference, scratch)?;
        (n == h.len).then(|| &scratch[..n])
    }

    /// Arena size in bytes.
    pub fn capacity(&self) -> usize {
        self.arena.as_ref().len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> RingStats {
        self.m.stats
    }

    /// True while the frames of new cycles carry the resync flag: the last ack spoke of
    /// sequence numbers this ring never handed out.
    pub fn resyncing(&self) -> bool {
        self.m.resync
    }

    /// Records held (sent and not acked, acked but not yet at the head, unsent).
    pub fn len(&self) -> usize {
        self.m.count
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.m.count == 0
    }

    /// The sequence number the next part will get.
    pub fn next_seq(&self) -> u64 {
        self.m.next_seq
    }

    /// The oldest sequence number not given up: unresolved evicted ones (see
    /// [`evicted`]), else the oldest held, else the next one. The receiver need not wait
    /// for anything below it. Frames carry it.
    pub fn resend_floor(&self) -> u64 {
        self.m.floor()
    }

    /// The sequence number of the oldest held record (the next one when none is held).
    pub fn oldest_held(&self) -> u64 {
        self.m.first_seq
    }

    /// Evicted sequence numbers whose fate no ack told yet (neither acked nor dropped).
    pub fn unresolved(&self) -> u64 {
        self.m.evicted.unresolved()
    }

    /// Arena bytes in use (records and the dead space before a wrap).
    pub fn used_bytes(&self) -> usize {
        let m = &self.m;
        if m.count == 0 {
            0
        } else if m.wrapped {
            m.end - m.head + m.tail
        } else {
            m.tail - m.head
        }
    }

    /// Offset of the record after the one at `off` with capacity `cap`.
    fn advance(&self, off: usize, cap: usize) -> usize {
        let next = off + RECORD_HEADER + cap;
        if self.m.wrapped && next == self.m.end && off >= self.m.head {
            0
        } else {
            next
        }
    }

    /// Calls `f(offset, header)` for every record, oldest first; stops early when `f`
    /// returns false or a header is unreadable.
    fn walk(&self, mut f: impl FnMut(usize, Header) -> bool) {
        let arena = self.arena.as_ref();
        let mut off = self.m.head;
        for _ in 0..self.m.count {
            let Some(h) = read_header(arena, off) else {
                return;
            };
            if !f(off, h) {
                return;
            }
            off = self.advance(off, h.cap);
        }
    }

    /// Records not yet acked (pending and unsent included).
    pub fn outstanding(&self) -> usize {
        let mut n = 0;
        self.walk(|_, h| {
            if !h.state.has(State::ACKED) {
                n += 1;
            }
            true
        });
        n
    }

    /// Calls `f` with every held datagram that is sealed, oldest first, with its
    /// sequence number (decoded where it is stored as a difference).
    pub fn for_each_datagram(&self, mut f: impl FnMut(u64, &[u8])) {
        let mut scratch = [0u8; MAX_DATAGRAM];
        self.walk(|off, h| {
            if !h.state.has(State::PENDING)
                && let Some(d) = self.datagram(off, &h, &mut scratch)
            {
                f(h.seq, d);
            }
            true
        });
    }

    /// Every held datagram that is sealed and stored whole, oldest first, with its
    /// sequence number: all of them in a ring without compaction
    /// ([`for_each_datagram`](Self::for_each_datagram) decodes the others).
    pub fn datagrams(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        let arena = self.arena.as_ref();
        let mut off = self.m.head;
        let mut left = self.m.count;
        core::iter::from_fn(move || {
            while left > 0 {
                let h = read_header(arena, off)?;
                let data = off + RECORD_HEADER;
                left -= 1;
                off = self.advance(off, h.cap);
                if !h.state.has(State::PENDING) && !h.state.has(State::DELTA) {
                    return Some((h.seq, arena.get(data..data + h.len)?));
                }
            }
            None
        })
    }

    /// Starts writing a cycle: the returned space hands out one slot per part. Parts of
    /// an earlier cycle that was never sealed are abandoned (never sent).
    pub fn open_cycle(&mut self) -> CycleSpace<'_> {
        self.abandon_pending();
        let m = &mut self.m;
        if m.count == 0 {
            m.head = 0;
            m.tail = 0;
            m.wrapped = false;
        }
        m.pending = 0;
        let t0 = m.tail;
        let (front, back) = self.arena.as_mut().split_at_mut(t0);
        let arena_len = t0 + back.len();
        CycleSpace {
            m,
            front,
            back,
            t0,
            front_off: 0,
            back_off: t0,
            arena_len,
            open_hdr: None,
        }
    }

    /// Finishes the open cycle: each part gets the part count `parts` and, with `key`, its
    /// MAC; the parts are packed together and become unsent datagrams. Returns the
    /// total bytes of the sealed datagrams.
    ///
    /// A part that cannot be sealed (never happens with [`FrameWriter`] output) is
    /// marked acked so it is never sent; the aggregator stops waiting for its sequence
    /// number when the resend floor passes it.
    ///
    /// [`FrameWriter`]: pimon_protocol::FrameWriter
    pub fn seal_pending(&mut self, parts: u8, key: Option<&Key>) -> usize {
        let pending = self.m.pending;
        if pending == 0 {
            return 0;
        }
        let first_seq = self.m.next_seq - pending as u64;
        let compact = self.m.compact_every > 0;
        // The key cycle this one is stored against, while it is held and not too old.
        let against = self.m.key.filter(|k| {
            compact
                && k.followers.saturating_add(1) < self.m.compact_every
                && k.seq >= self.m.first_seq
                && k.seq < first_seq
        });
        let mut key_part = against.map(|k| k.at);
        let mut scratch = [0u8; MAX_DATAGRAM];
        let mut off = self.m.pending_at;
        let mut write = off;
        let mut first_write = write;
        let mut total = 0;
        for i in 0..pending {
            let Some(h) = read_header(self.arena.as_ref(), off) else {
                break;
            };
            let next = self.advance(off, h.cap);
            let wraps_after = next == 0 && i + 1 < pending;
            let data = off + RECORD_HEADER;
            let resync = self.m.resync;
            let arena = self.arena.as_mut();
            let sealed = arena.get_mut(data..data + h.cap).and_then(|buf| {
                if resync {
                    set_resync(buf.get_mut(..h.len)?).ok()?;
                }
                seal(buf, h.len, parts, key).ok()
            });
            let (len, mut state) = match sealed {
                Some(n) => (n, State::UNSENT),
                None => (h.len.min(h.cap), State::ACKED),
            };
            if state == State::UNSENT {
                total += len;
            } else {
                // Never sent: the aggregator will count it missing when the floor passes.
                self.m.stats.dropped += 1;
            }
            if compact && (i > 0 || against.is_some()) {
                state = state.with(State::FOLLOWER);
            }
            // The same part of the key cycle, if it has one: store the difference.
            let reference = key_part.filter(|_| against.is_some_and(|k| i < k.parts));
            let mut encoded = None;
            if let (Some(r), true) = (reference, state.has(State::UNSENT)) {
                let arena = self.arena.as_ref();
                if let Some(rh) = read_header(arena, r).filter(|rh| !rh.state.has(State::DELTA)) {
                    let rdata = r + RECORD_HEADER;
                    if let (Some(old), Some(new)) = (
                        arena.get(rdata..rdata + rh.len),
                        arena.get(data..data + len),
                    ) {
                        encoded = delta::encode(new, old, &mut scratch);
                    }
                }
            }
            if let Some(r) = key_part {
                key_part = read_header(self.arena.as_ref(), r).map(|rh| self.advance(r, rh.cap));
            }
            let arena = self.arena.as_mut();
            let mut cap = len;
            if let (Some(n), Some(r)) = (encoded, reference) {
                let Some(dst) = arena.get_mut(write + RECORD_HEADER..write + RECORD_HEADER + n)
                else {
                    break;
                };
                dst.copy_from_slice(&scratch[..n]);
                cap = n;
                state = state.with(State::DELTA);
                let new = Header {
                    len,
                    cap,
                    state,
                    reference: r,
                    ..h
                };
                if let Some(hb) = arena.get_mut(write..write + RECORD_HEADER) {
                    write_header(hb, &new);
                }
            } else {
                if write != off {
                    arena.copy_within(data..data + len, write + RECORD_HEADER);
                }
                let new = Header {
                    len,
                    cap,
                    state,
                    reference: 0,
                    ..h
                };
                if let Some(hb) = arena.get_mut(write..write + RECORD_HEADER) {
                    write_header(hb, &new);
                }
            }
            if i == 0 {
                first_write = write;
            }
            write += RECORD_HEADER + cap;
            if wraps_after {
                self.m.end = write;
                write = 0;
            }
            off = next;
        }
        self.m.tail = write;
        self.m.pending = 0;
        if compact {
            self.m.key = Some(match against {
                Some(k) => KeyCycle {
                    followers: k.followers + 1,
                    ..k
                },
                None => KeyCycle {
                    seq: first_seq,
                    at: first_write,
                    parts: pending,
                    followers: 0,
                },
            });
        }
        total
    }

    /// Marks the parts of an unsealed cycle as done so they neither block eviction nor
    /// get sent.
    fn abandon_pending(&mut self) {
        let mut off = self.m.pending_at;
        for _ in 0..self.m.pending {
            let Some(h) = read_header(self.arena.as_ref(), off) else {
                break;
            };
            set_state(self.arena.as_mut(), off, State::ACKED);
            // Never sent: the aggregator will count it missing when the floor passes.
            self.m.stats.dropped += 1;
            off = self.advance(off, h.cap);
        }
        self.m.pending = 0;
        self.pop_acked();
    }

    /// Hands every unsent datagram to `send` (oldest first) and marks it sent at
    /// `now_ms`. Returns how many. What `send` does with it (or whether the network
    /// took it) does not matter: unacked datagrams are resent on timeout.
    pub fn send_unsent(&mut self, now_ms: u64, mut send: impl FnMut(u64, &[u8])) -> usize {
        let mut n = 0;
        let mut off = self.m.head;
        for _ in 0..self.m.count {
            let Some(h) = read_header(self.arena.as_ref(), off) else {
                break;
            };
            if h.state.has(State::UNSENT) {
                let arena = self.arena.as_mut();
                set_state(arena, off, h.state.without(State::UNSENT));
                set_sent(arena, off, now_ms);
                let mut scratch = [0u8; MAX_DATAGRAM];
                if let Some(d) = self.datagram(off, &h, &mut scratch) {
                    send(h.seq, d);
                }
                n += 1;
            }
            off = self.advance(off, h.cap);
        }
        self.m.stats.sent += n as u64;
        n
    }

    /// Applies an ack (already checked to be for this node, boot id and key): forgets
    /// what it says is stored, marks its gaps for resend, and resolves unresolved
    /// evicted sequence numbers it speaks for (see [`evicted`]). An ack that speaks of
    /// sequence numbers not sent yet changes nothing but starts resync mode (see
    /// [`resyncing`](Self::resyncing)); the next ack that makes sense ends it.
    pub fn apply_ack(&mut self, ack: &Ack<'_>, now_ms: u64) -> AckEffect {
        let mut effect = AckEffect::default();
        if ack.seen_below > self.m.next_seq || ack.acked_below > self.m.next_seq {
            self.m.resync = true;
            return effect;
        }
        self.m.resync = false;
        self.m.last_ack_ms = Some(now_ms);
        let mut off = self.m.head;
        for _ in 0..self.m.count {
            let Some(h) = read_header(self.arena.as_ref(), off) else {
                break;
            };
            if h.seq >= ack.seen_below {
                break;
            }
            if h.state.awaits_ack() {
                let arena = self.arena.as_mut();
                if ack.is_stored(h.seq) {
                    set_state(arena, off, h.state.storage().with(State::ACKED));
                    effect.acked += 1;
                } else if !h.state.has(State::WANTED) {
                    set_state(arena, off, h.state.with(State::WANTED));
                    effect.wanted += 1;
                }
            }
            off = self.advance(off, h.cap);
        }
        self.m.stats.acked += effect.acked as u64;
        let verdicts = self.m.evicted.resolve(ack, now_ms);
        self.m.stats.acked += verdicts.stored;
        self.m.stats.dropped += verdicts.lost;
        self.pop_acked();
        effect
    }

    /// Drops acked records from the head, whole blocks only (module docs): a block
    /// leaves when every record of it is acked.
    fn pop_acked(&mut self) {
        // Acked records at the head, and how many of them end at a block boundary.
        let mut acked = 0;
        let mut whole = 0;
        self.walk(|_, h| {
            if !h.state.has(State::FOLLOWER) {
                whole = acked;
            }
            if !h.state.has(State::ACKED) {
                return false;
            }
            acked += 1;
            true
        });
        if acked == self.m.count {
            whole = acked;
        }
        for _ in 0..whole {
            let Some(h) = read_header(self.arena.as_ref(), self.m.head) else {
                return;
            };
            let next = self.advance(self.m.head, h.cap);
            self.remove_head(next);
        }
    }

    fn remove_head(&mut self, next: usize) {
        let m = &mut self.m;
        if m.wrapped && next == 0 {
            m.wrapped = false;
        }
        m.head = next;
        m.count -= 1;
        m.first_seq += 1;
        if m.count == 0 && m.pending == 0 {
            m.head = 0;
            m.tail = 0;
            m.wrapped = false;
        }
    }

    /// Sends again what is due at `now_ms`, at most `policy.max_per_tick`: first
    /// datagrams in an ack's gaps, then datagrams not acked within the timeout, oldest
    /// first. While no ack arrived for a timeout, at most one (the oldest) per timeout.
    /// Returns how many were handed to `send`.
    pub fn resend_due(
        &mut self,
        now_ms: u64,
        policy: &ResendPolicy,
        mut send: impl FnMut(u64, &[u8]),
    ) -> usize {
        let silent = match self.m.last_ack_ms {
            Some(t) => now_ms.saturating_sub(t) >= policy.timeout_ms,
            None => true,
        };
        let probe_due = match self.m.last_probe_ms {
            Some(t) => now_ms.saturating_sub(t) >= policy.timeout_ms,
            None => true,
        };
        let mut budget = policy.max_per_tick;
        let mut sent = 0;
        // Pass 0: gaps. Pass 1: timeouts.
        for pass in 0..2 {
            if pass == 1 && silent {
                if !probe_due {
                    break;
                }
                budget = budget.min(1);
            }
            let mut off = self.m.head;
            for _ in 0..self.m.count {
                if budget == 0 {
                    break;
                }
                let Some(h) = read_header(self.arena.as_ref(), off) else {
                    break;
                };
                let age = now_ms.saturating_sub(h.sent_ms);
                let due = h.state.awaits_ack()
                    && if pass == 0 {
                        h.state.has(State::WANTED) && age >= policy.gap_holdoff_ms
                    } else {
                        age >= policy.timeout_ms
                    };
                if due {
                    let arena = self.arena.as_mut();
                    set_state(arena, off, h.state.without(State::WANTED));
                    set_sent(arena, off, now_ms);
                    let mut scratch = [0u8; MAX_DATAGRAM];
                    if let Some(d) = self.datagram(off, &h, &mut scratch) {
                        send(h.seq, d);
                    }
                    budget -= 1;
                    sent += 1;
                    if pass == 1 && silent {
                        self.m.last_probe_ms = Some(now_ms);
                    }
                }
                off = self.advance(off, h.cap);
            }
        }
        self.m.stats.resent += sent as u64;
        sent
    }

    /// Marks every datagram still waiting for an ack to be resent at once, oldest
    /// first and paced like gaps (after a failover to another aggregator, which has
    /// none of them). Returns how many.
    pub fn want_all(&mut self) -> usize {
        let mut n = 0;
        let mut off = self.m.head;
        for _ in 0..self.m.count {
            let Some(h) = read_header(self.arena.as_ref(), off) else {
                break;
            };
            if h.state.awaits_ack() {
                let arena = self.arena.as_mut();
                set_state(arena, off, h.state.with(State::WANTED));
                set_sent(arena, off, 0);
                n += 1;
            }
            off = self.advance(off, h.cap);
        }
        n
    }

    /// True when an ack arrived within `timeout_ms` of `now_ms`.
    pub fn heard_within(&self, now_ms: u64, timeout_ms: u64) -> bool {
        self.m
            .last_ack_ms
            .is_some_and(|t| now_ms.saturating_sub(t) < timeout_ms)
    }
}

/// Why a record leaves the arena from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eviction {
    /// For room: an unacked record becomes unresolved.
    MakeRoom,
    /// By the window rule: an unacked record is dropped.
    GiveUp,
}

/// One part's place in the arena, from [`CycleSpace::next_slot`].
pub struct Slot<'r> {
    /// Sequence number of this part.
    pub seq: u64,
    /// The ring's resend floor after making room for this part.
    pub resend_floor: u64,
    /// [`MAX_DATAGRAM`] bytes to encode the part into.
    pub buf: &'r mut [u8],
}

/// The free arena of an open cycle: hands out one slot per part, dropping the oldest
/// records when needed. Slices handed out live as long as the space's borrow of the
/// ring, so a frame writer can keep one while the next is requested.
pub struct CycleSpace<'r> {
    m: &'r mut Meta,
    /// Arena `front_off..t0`, not yet handed out.
    front: &'r mut [u8],
    /// Arena `back_off..`, not yet handed out.
    back: &'r mut [u8],
    t0: usize,
    front_off: usize,
    back_off: usize,
    arena_len: usize,
    /// Header bytes of the slot handed out last (its length is written on finish).
    open_hdr: Option<&'r mut [u8]>,
}

impl<'r> CycleSpace<'r> {
    fn header_at(&self, off: usize) -> Option<Header> {
        if off >= self.back_off {
            read_header(self.back, off - self.back_off)
        } else if off >= self.front_off && off < self.t0 {
            read_header(self.front, off - self.front_off)
        } else {
            None
        }
    }

    /// Removes the oldest record: to make room ([`Eviction::MakeRoom`]: unacked, it
    /// becomes unresolved) or past the window ([`Eviction::GiveUp`]: unacked, it is
    /// dropped).
    fn evict(&mut self, how: Eviction) -> Result<(), SlotError> {
        self.evict_one(how)?;
        // The rest of the block goes with its first record (module docs).
        while self.m.count > 0
            && !(self.m.pending > 0 && self.m.head == self.m.pending_at)
            && self
                .header_at(self.m.head)
                .is_some_and(|h| h.state.has(State::FOLLOWER))
        {
            self.evict_one(how)?;
        }
        Ok(())
    }

    fn evict_one(&mut self, how: Eviction) -> Result<(), SlotError> {
        if self.m.count == 0 {
            return Err(SlotError::CycleTooLarge);
        }
        if self.m.pending > 0 && self.m.head == self.m.pending_at {
            return Err(SlotError::CycleTooLarge);
        }
        let h = self.header_at(self.m.head).ok_or(SlotError::Corrupt)?;
        if h.state.has(State::PENDING) {
            return Err(SlotError::CycleTooLarge);
        }
        if !h.state.has(State::ACKED) {
            match how {
                Eviction::MakeRoom => {
                    self.m.stats.dropped += self.m.evicted.push(h.seq, h.sent_ms);
                }
                Eviction::GiveUp => self.m.stats.dropped += 1,
            }
        }
        let m = &mut *self.m;
        let mut next = m.head + RECORD_HEADER + h.cap;
        if m.wrapped && next == m.end {
            next = 0;
            m.wrapped = false;
        }
        m.head = next;
        m.count -= 1;
        m.first_seq += 1;
        // With count 0 nothing is pending either: `place` starts over.
        Ok(())
    }

    /// Takes `SLOT_BYTES` at arena offset `at` from whichever half holds it.
    fn take(&mut self, at: usize) -> Result<&'r mut [u8], SlotError> {
        if at >= self.t0 && at == self.back_off && self.back.len() >= SLOT_BYTES {
            let (slot, rest) = core::mem::take(&mut self.back).split_at_mut(SLOT_BYTES);
            self.back = rest;
            self.back_off += SLOT_BYTES;
            Ok(slot)
        } else if at < self.t0 && at == self.front_off && self.front.len() >= SLOT_BYTES {
            let (slot, rest) = core::mem::take(&mut self.front).split_at_mut(SLOT_BYTES);
            self.front = rest;
            self.front_off += SLOT_BYTES;
            Ok(slot)
        } else {
            Err(SlotError::CycleTooLarge)
        }
    }

    /// Finds room for one more part and returns where to write it.
    fn place(&mut self) -> Result<usize, SlotError> {
        // Each eviction removes a record, so this ends.
        loop {
            let m = &mut *self.m;
            if m.count == 0 && m.pending == 0 && self.back_off == self.t0 && self.front_off == 0 {
                // Empty and nothing handed out: anywhere is fine; use the larger half.
                if self.back.len() >= SLOT_BYTES {
                    m.head = self.t0;
                    m.tail = self.t0;
                } else {
                    m.head = 0;
                    m.tail = 0;
                }
                m.wrapped = false;
                return Ok(m.tail);
            }
            if !m.wrapped {
                if m.tail + SLOT_BYTES <= self.arena_len {
                    return Ok(m.tail);
                }
                // Wrap to 0 when the oldest record leaves room before it.
                if m.count > 0 && m.head >= SLOT_BYTES {
                    m.end = m.tail;
                    m.wrapped = true;
                    m.tail = 0;
                    return Ok(0);
                }
            } else if m.tail + SLOT_BYTES <= m.head {
                return Ok(m.tail);
            }
            self.evict(Eviction::MakeRoom)?;
        }
    }

    /// The window rule (module docs): gives up whatever would keep the floor
    /// [`WINDOW`] or more below the next sequence number.
    fn keep_within_window(&mut self) -> Result<(), SlotError> {
        let lowest = self.m.next_seq.saturating_add(1).saturating_sub(WINDOW);
        self.m.stats.dropped += self.m.evicted.give_up_below(lowest);
        while self.m.count > 0 && self.m.first_seq < lowest {
            self.evict(Eviction::GiveUp)?;
        }
        Ok(())
    }

    /// A slot for the next part: its sequence number, the resend floor, and
    /// [`MAX_DATAGRAM`] bytes. The previous slot must have been finished.
    pub fn next_slot(&mut self) -> Result<Slot<'r>, SlotError> {
        self.keep_within_window()?;
        let at = self.place()?;
        let region = self.take(at)?;
        let (hdr, buf) = region.split_at_mut(RECORD_HEADER);
        let m = &mut *self.m;
        let seq = m.next_seq;
        write_header(
            hdr,
            &Header {
                seq,
                sent_ms: 0,
                cap: MAX_DATAGRAM,
                len: 0,
                state: State::PENDING,
                reference: 0,
            },
        );
        if m.pending == 0 {
            m.pending_at = at;
        }
        if m.count == 0 {
            m.first_seq = seq;
        }
        m.next_seq += 1;
        m.count += 1;
        m.pending += 1;
        m.tail = at + SLOT_BYTES;
        self.open_hdr = Some(hdr);
        Ok(Slot {
            seq,
            resend_floor: m.floor(),
            buf,
        })
    }

    /// Records the encoded (unsealed) length of the slot handed out last.
    pub fn finish_slot(&mut self, len: usize) {
        if let Some(hdr) = self.open_hdr.take() {
            let len = len.min(MAX_DATAGRAM) as u16;
            hdr[OFF_LEN..OFF_LEN + 2].copy_from_slice(&len.to_le_bytes());
        }
    }

    /// Parts handed out so far.
    pub fn parts(&self) -> usize {
        self.m.pending
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::evicted::LOST_VERDICT_AFTER_MS;
    use super::*;
    use pimon_protocol::{DataFrame, DataHeader, EncodedLabels, FrameWriter, Gap, Value};
    use std::vec::Vec;

    const NODE: &str = "pi";

    /// Writes a cycle of `parts` parts, each with `fill` samples.
    fn cycle<B: AsRef<[u8]> + AsMut<[u8]>>(ring: &mut Ring<B>, parts: usize, fill: u16) -> usize {
        cycle_salted(ring, parts, fill, 0)
    }

    /// [`cycle`] with every `salt`-th value changed by `salt` (0: none).
    fn cycle_salted<B: AsRef<[u8]> + AsMut<[u8]>>(
        ring: &mut Ring<B>,
        parts: usize,
        fill: u16,
        salt: u64,
    ) -> usize {
        let mut space = ring.open_cycle();
        for p in 0..parts {
            let Ok(slot) = space.next_slot() else { break };
            let h = DataHeader {
                node: NODE,
                boot_id: 7,
                seq: slot.seq,
                resend_floor: slot.resend_floor,
                timestamp_ms: 1,
                interval_ms: 10,
                user_hz: 100,
                part: p as u8,
                parts: 1,
                key_id: None,
            };
            let mut w = FrameWriter::new(slot.buf, &h).unwrap();
            w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
            for i in 0..fill {
                let change = if salt > 0 && u64::from(i) % salt == 0 {
                    salt
                } else {
                    0
                };
                w.push(i + 1, Value::Unsigned(u64::from(i) * 1000 + change))
                    .unwrap();
            }
            let len = w.finish();
            space.finish_slot(len);
        }
        let n = space.parts();
        ring.seal_pending(n as u8, None);
        n
    }

    fn ack(acked_below: u64, seen_below: u64, gaps: &[(u64, u64)]) -> Ack<'static> {
        let mut g = heapless::Vec::new();
        for &(start, len) in gaps {
            g.push(Gap { start, len }).unwrap();
        }
        Ack {
            node: NODE,
            boot_id: 7,
            acked_below,
            seen_below,
            gaps: g,
            key_id: None,
        }
    }

    fn sent(ring: &mut Ring<[u8; 8 * SLOT_BYTES]>) -> Vec<u64> {
        let mut v = Vec::new();
        ring.send_unsent(0, |s, _| v.push(s));
        v
    }

    #[test]
    fn parts_are_sealed_packed_and_parse() {
        let mut ring = Ring::new([0u8; 8 * SLOT_BYTES]).unwrap();
        assert_eq!(cycle(&mut ring, 3, 10), 3);
        let got: Vec<(u64, usize)> = ring.datagrams().map(|(s, d)| (s, d.len())).collect();
        assert_eq!(got.len(), 3);
        for (i, (seq, d)) in ring.datagrams().enumerate() {
            let f = DataFrame::parse(d).unwrap();
            assert_eq!(
                (f.header.seq, seq, f.header.part, f.header.parts),
                (i as u64, i as u64, i as u8, 3)
            );
            assert_eq!(f.known_samples(), 10);
        }
        // Packed: the arena holds exactly header + datagram per record.
        let bytes: usize = got.iter().map(|(_, l)| l + RECORD_HEADER).sum();
        assert_eq!(ring.used_bytes(), bytes);
        assert_eq!(sent(&mut ring), [0, 1, 2]);
        assert_eq!(ring.stats().sent, 3);
        assert_eq!(sent(&mut ring), Vec::<u64>::new(), "sent only once");
    }

    #[test]
    fn acks_forget_and_gaps_are_resent_first() {
        let mut ring = Ring::new([0u8; 8 * SLOT_BYTES]).unwrap();
        cycle(&mut ring, 5, 3);
        sent(&mut ring);
        let pol = ResendPolicy {
            timeout_ms: 1000,
            gap_holdoff_ms: 100,
            max_per_tick: 8,
        };
        let e = ring.apply_ack(&ack(1, 5, &[(1, 1), (3, 1)]), 10);
        assert_eq!(
            e,
            AckEffect {
                acked: 3,
                wanted: 2
            }
        );
        assert_eq!(ring.resend_floor(), 1);
        assert_eq!(
            ring.len(),
            4,
            "0 popped; 2 and 4 acked in the middle stay until the head"
        );
        let mut re = Vec::new();
        assert_eq!(ring.resend_due(50, &pol, |s, _| re.push(s)), 0, "hold-off");
        assert_eq!(ring.resend_due(100, &pol, |s, _| re.push(s)), 2);
        assert_eq!(re, [1, 3]);
        // A stale ack listing the same gaps does not resend within the hold-off.
        ring.apply_ack(&ack(1, 5, &[(1, 1), (3, 1)]), 120);
        assert_eq!(ring.resend_due(150, &pol, |s, _| re.push(s)), 0);
        ring.apply_ack(&ack(5, 5, &[]), 200);
        assert!(ring.is_empty());
        assert_eq!(ring.resend_floor(), 5);
        assert_eq!(ring.stats().resent, 2);
        assert_eq!(ring.stats().acked, 5);
    }

    #[test]
    fn a_nonsensical_ack_makes_new_cycles_ask_for_a_resync_until_an_ack_makes_sense() {
        let mut ring = Ring::new([0u8; 8 * SLOT_BYTES]).unwrap();
        cycle(&mut ring, 2, 3);
        sent(&mut ring);
        // The aggregator says it stored up to a million: it cannot have.
        let e = ring.apply_ack(&ack(1_000_000, 1_000_000, &[]), 10);
        assert_eq!(e, AckEffect::default());
        assert!(ring.resyncing());
        assert_eq!(ring.len(), 2, "nothing forgotten");
        cycle(&mut ring, 2, 3);
        let flags: Vec<bool> = ring
            .datagrams()
            .map(|(_, d)| DataFrame::parse(d).unwrap().resync())
            .collect();
        assert_eq!(
            flags,
            [false, false, true, true],
            "resends stay as they were sent"
        );
        sent(&mut ring);
        // The aggregator rebuilt its window: a sensible ack ends the mode.
        ring.apply_ack(&ack(0, 4, &[(0, 2)]), 20);
        assert!(!ring.resyncing());
        cycle(&mut ring, 1, 3);
        let last = ring.datagrams().last().unwrap().1;
        assert!(!DataFrame::parse(last).unwrap().resync());
    }

    #[test]
    fn timeouts_resend_oldest_first_paced_and_probe_when_silent() {
        let mut ring = Ring::new([0u8; 8 * SLOT_BYTES]).unwrap();
        cycle(&mut ring, 4, 3);
        sent(&mut ring);
        let pol = ResendPolicy {
            timeout_ms: 1000,
            gap_holdoff_ms: 100,
            max_per_tick: 2,
        };
        let mut re = Vec::new();
        // Never heard an ack: one probe per timeout.
        assert_eq!(ring.resend_due(999, &pol, |s, _| re.push(s)), 0);
        assert_eq!(ring.resend_due(1000, &pol, |s, _| re.push(s)), 1);
        assert_eq!(ring.resend_due(1500, &pol, |s, _| re.push(s)), 0);
        assert_eq!(re, [0]);
        // An ack (nothing stored past 1: seen_below 1) makes the link live: paced resends.
        ring.apply_ack(&ack(1, 1, &[]), 2000);
        assert_eq!(ring.resend_due(2000, &pol, |s, _| re.push(s)), 2);
        assert_eq!(ring.resend_due(2001, &pol, |s, _| re.push(s)), 1);
        assert_eq!(re, [0, 1, 2, 3]);
    }

    #[test]
    fn overflow_evicts_oldest_and_holds_the_floor_until_an_ack_resolves_them() {
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let mut parts = 0;
        for _ in 0..20 {
            parts += cycle(&mut ring, 2, 100);
            let mut v = Vec::new();
            ring.send_unsent(0, |s, _| v.push(s));
        }
        assert_eq!(parts, 40);
        let held = ring.len() as u64;
        assert!((2..40).contains(&held));
        let evicted = 40 - held;
        assert_eq!(ring.oldest_held(), evicted);
        let seqs: Vec<u64> = ring.datagrams().map(|(s, _)| s).collect();
        let want: Vec<u64> = (evicted..40).collect();
        assert_eq!(
            seqs, want,
            "held records are the newest, in order, across wraps"
        );
        for (seq, d) in ring.datagrams() {
            assert_eq!(DataFrame::parse(d).unwrap().header.seq, seq);
        }
        assert!(ring.used_bytes() <= ring.capacity());
        // Not dropped yet: their acks may only have been lost. The floor stays below them.
        assert_eq!(ring.stats().dropped, 0);
        assert_eq!(ring.unresolved(), evicted);
        assert_eq!(ring.resend_floor(), 0);
        // The aggregator has stored all but 1 and 2: those are dropped, the rest acked.
        ring.apply_ack(&ack(1, 40, &[(1, 2)]), LOST_VERDICT_AFTER_MS);
        assert_eq!(ring.stats().dropped, 2);
        assert_eq!(ring.stats().acked, 38);
        assert_eq!((ring.unresolved(), ring.resend_floor()), (0, 40));
        assert!(ring.is_empty());
    }

    #[test]
    fn the_floor_never_trails_the_next_sequence_number_by_a_window() {
        // An arena for more records than the aggregator's window, and no ack ever:
        // past the window the oldest are given up (dropped), not left to the aggregator.
        let mut ring = Ring::new(std::vec![0u8; 5000 * 64].into_boxed_slice()).unwrap();
        for _ in 0..5000 {
            cycle(&mut ring, 1, 1);
            let floor = ring.resend_floor();
            assert!(ring.next_seq() - floor <= WINDOW, "floor {floor}");
        }
        for (_, d) in ring.datagrams() {
            let h = DataFrame::parse(d).unwrap().header;
            assert!(h.seq < h.resend_floor + WINDOW, "{h:?}");
        }
        assert_eq!(ring.resend_floor(), 5000 - WINDOW);
        assert_eq!(ring.stats().dropped, 5000 - WINDOW);
        assert_eq!(ring.stats().acked, 0);
        // Also when the oldest are evicted unresolved rather than held.
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        for _ in 0..5000 {
            cycle(&mut ring, 1, 1);
        }
        assert_eq!(ring.resend_floor(), 5000 - WINDOW);
        assert_eq!(
            ring.stats().dropped + ring.unresolved(),
            5000 - ring.len() as u64
        );
        assert_eq!(ring.unresolved(), ring.oldest_held() - ring.resend_floor());
    }

    #[test]
    fn a_cycle_larger_than_the_ring_stops_without_eating_itself() {
        let mut ring = Ring::new([0u8; MIN_RING_BYTES]).unwrap();
        let parts = cycle(&mut ring, 10, 250);
        assert!((3..10).contains(&parts), "{parts}");
        let seqs: Vec<u64> = ring.datagrams().map(|(s, _)| s).collect();
        assert_eq!(seqs.len(), parts);
        for (_, d) in ring.datagrams() {
            assert_eq!(DataFrame::parse(d).unwrap().header.parts as usize, parts);
        }
    }

    #[test]
    fn acked_ring_restarts_at_offset_zero() {
        let mut ring = Ring::new([0u8; 8 * SLOT_BYTES]).unwrap();
        for c in 0..50u64 {
            cycle(&mut ring, 3, 50);
            sent(&mut ring);
            ring.apply_ack(&ack(3 * (c + 1), 3 * (c + 1), &[]), c);
            assert!(ring.is_empty());
            assert_eq!(ring.used_bytes(), 0);
        }
        assert_eq!(ring.stats().dropped, 0);
        assert_eq!(ring.next_seq(), 150);
    }

    #[test]
    fn random_workload_keeps_invariants() {
        random_workload(0);
    }

    #[test]
    fn a_compacting_ring_holds_similar_cycles_in_a_fraction_of_the_bytes_and_frees_whole_blocks() {
        let mut whole = Ring::new([0u8; 64 * SLOT_BYTES]).unwrap();
        let mut compact = Ring::new([0u8; 64 * SLOT_BYTES])
            .unwrap()
            .with_compaction(4);
        for c in 0..10 {
            cycle_salted(&mut whole, 2, 200, c % 5 + 20);
            cycle_salted(&mut compact, 2, 200, c % 5 + 20);
        }
        whole.send_unsent(0, |_, _| {});
        let mut sent = Vec::new();
        compact.send_unsent(0, |_, d| sent.push(d.to_vec()));
        let mut again = Vec::new();
        whole.for_each_datagram(|_, d| again.push(d.to_vec()));
        assert_eq!(sent, again, "the same datagrams");
        assert!(
            compact.used_bytes() * 2 < whole.used_bytes(),
            "{} of {}",
            compact.used_bytes(),
            whole.used_bytes()
        );
        // Blocks of 4 cycles (8 records): acking 5 cycles frees the first block only.
        compact.apply_ack(&ack(10, 10, &[]), 1);
        assert_eq!(compact.oldest_held(), 8);
        compact.apply_ack(&ack(20, 20, &[]), 2);
        assert!(compact.is_empty());
        // The next cycle after an empty ring is a key cycle again, stored whole.
        cycle(&mut compact, 2, 200);
        assert_eq!(compact.datagrams().count(), 2);
    }

    #[test]
    fn a_compacting_ring_keeps_the_same_invariants_and_resends_the_bytes_first_sent() {
        random_workload(4);
        random_workload(1);
        random_workload(255);
    }

    /// Cycles, partial acks and resends at random on a small arena, with compaction
    /// `compact`; checks the ring's invariants after every cycle, and that every
    /// datagram it hands out again is the one it first sent.
    fn random_workload(compact: u8) {
        // A deterministic xorshift drives cycles, partial acks and resends.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ring = Ring::new([0u8; 6 * SLOT_BYTES + 333])
            .unwrap()
            .with_compaction(compact);
        let mut first: std::collections::HashMap<u64, Vec<u8>> = Default::default();
        let mut compacted = 0;
        let pol = ResendPolicy {
            timeout_ms: 5,
            gap_holdoff_ms: 1,
            max_per_tick: 3,
        };
        let mut now = 0;
        let mut wrapped_seen = 0;
        for _ in 0..2000 {
            now += 50;
            let parts = (rnd() % 4 + 1) as usize;
            let fill = (rnd() % 250 + 1) as u16;
            let salt = rnd() % 9;
            cycle_salted(&mut ring, parts, fill, salt);
            ring.send_unsent(now, |seq, d| {
                assert!(first.insert(seq, d.to_vec()).is_none(), "{seq} sent twice");
            });
            ring.walk(|_, h| {
                compacted += usize::from(h.state.has(State::DELTA));
                true
            });
            if rnd() % 3 == 0 {
                let top = ring.next_seq();
                let floor = ring.resend_floor();
                let acked = if rnd() % 2 == 0 {
                    floor
                } else {
                    floor + rnd() % (top - floor + 1)
                };
                let gap = (acked < top).then(|| (acked, 1 + rnd() % (top - acked)));
                let gaps: Vec<(u64, u64)> = gap.into_iter().collect();
                ring.apply_ack(&ack(acked, top, &gaps), now);
            }
            ring.resend_due(now, &pol, |seq, d| assert_eq!(first[&seq], d, "{seq}"));
            // Invariants: consecutive seqs from the oldest held, every datagram parses,
            // every sequence number counted exactly once.
            let mut expect = ring.oldest_held();
            assert!(ring.resend_floor() <= expect);
            let s = ring.stats();
            assert_eq!(
                s.acked + s.dropped + ring.outstanding() as u64 + ring.unresolved(),
                ring.next_seq(),
                "{s:?}"
            );
            ring.for_each_datagram(|seq, d| {
                assert_eq!(seq, expect);
                assert_eq!(DataFrame::parse(d).unwrap().header.seq, seq);
                assert_eq!(first[&seq], d, "{seq}");
                expect += 1;
            });
            assert_eq!(expect, ring.next_seq());
            assert!(ring.used_bytes() <= ring.capacity());
            wrapped_seen += usize::from(ring.m.wrapped);
        }
        assert!(wrapped_seen > 100, "wrap exercised: {wrapped_seen}");
        let s = ring.stats();
        assert!(s.dropped > 0 && s.acked > 0 && s.resent > 0, "{s:?}");
        assert_eq!(s.sent, ring.next_seq());
        if compact > 1 {
            assert!(compacted > 1000, "compaction exercised: {compacted}");
        } else {
            assert_eq!(compacted, 0);
        }
    }
}
