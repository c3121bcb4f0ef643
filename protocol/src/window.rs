//! The receiver's sequence window: de-duplication, replay rejection and what to ack.
//!
//! A [`SeqWindow`] remembers, for one (node, boot id), which sequence numbers in
//! `base..base + WINDOW` arrived. Everything below `base` is done: stored, or given up
//! because it fell out of the window or below the sender's resend floor. It costs
//! 512 bytes and never allocates.
//!
//! Numbers given up are counted as missing, except those below
//! [`uncounted_below`](SeqWindow::uncounted_below): a receiver that restarted, or first
//! hears a sender mid-stream, does not know whether an earlier run of it stored them,
//! so giving them up is not evidence of loss (the sender counts what it dropped
//! unacknowledged). All arithmetic saturates: any `u64` a forged frame carries is safe.

use crate::ack::{Gap, MAX_GAPS};

/// How many sequence numbers the window tracks above its base.
pub const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// What [`SeqWindow::accept`] decided about a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// First time seen: store it.
    New,
    /// Already seen in the window: a resend that crossed an ack, or a replay.
    Duplicate,
    /// Below the window's base: long done (stored or given up). A replay when keyed.
    Old,
}

/// Seen-set of sequence numbers for one boot of one node.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SeqWindow {
    base: u64,
    /// Highest seen + 1 (0 when nothing seen; saturates at `u64::MAX`).
    top: u64,
    /// Numbers below this are not counted missing when given up.
    uncounted_below: u64,
    bits: [u64; WORDS],
}

impl Default for SeqWindow {
    fn default() -> Self {
        SeqWindow::new()
    }
}

impl SeqWindow {
    /// An empty window expecting sequence number 0 first.
    pub const fn new() -> SeqWindow {
        SeqWindow {
            base: 0,
            top: 0,
            uncounted_below: 0,
            bits: [0; WORDS],
        }
    }

    /// A window rebuilt from a saved `base` and `top` (what [`base`](Self::base) and
    /// [`top`](Self::top) returned): everything below `base` is done, which numbers of
    /// `base..top` arrived is not known (they are asked for again, and not counted
    /// missing when given up).
    ///
    /// ```
    /// use pimon_protocol::{Accept, SeqWindow};
    /// let mut w = SeqWindow::restore(10, 15);
    /// assert_eq!(w.accept(9), (Accept::Old, 0));
    /// assert_eq!(w.accept(12), (Accept::New, 0));
    /// assert_eq!(w.raise_floor(15), 0, "10..15 may have been stored before");
    /// assert_eq!(w.raise_floor(16), 1, "15 was never seen");
    /// ```
    pub const fn restore(base: u64, top: u64) -> SeqWindow {
        let top = if top > base { top } else { base };
        SeqWindow {
            base,
            top,
            uncounted_below: top,
            bits: [0; WORDS],
        }
    }

    /// Like [`restore`](Self::restore), and the numbers of `base..top` marked in `seen`
    /// (what [`seen_words`](Self::seen_words) returned) arrived: they are duplicates,
    /// not asked for again. Bits at or above `top`, and words past the window, are
    /// ignored.
    ///
    /// ```
    /// use pimon_protocol::{Accept, SeqWindow};
    /// let mut w = SeqWindow::new();
    /// for s in [0, 1, 3, 4, 7] { w.accept(s); }
    /// let words: Vec<u64> = w.seen_words().collect();
    /// assert_eq!((w.base(), w.top(), &words[..]), (2, 8, &[0b10_0110][..]));
    /// let mut r = SeqWindow::restore_seen(w.base(), w.top(), words);
    /// assert_eq!(r.accept(4), (Accept::Duplicate, 0), "arrived before the restart");
    /// assert_eq!(r.accept(5), (Accept::New, 0), "never arrived");
    /// ```
    pub fn restore_seen(base: u64, top: u64, seen: impl IntoIterator<Item = u64>) -> SeqWindow {
        let mut w = SeqWindow::restore(base, top);
        for (k, word) in seen.into_iter().take(WORDS).enumerate() {
            for j in 0..64 {
                let seq = base.saturating_add(k as u64 * 64 + j);
                if word >> j & 1 == 1 && seq < w.top {
                    w.set(seq, true);
                }
            }
        }
        w.settle();
        w
    }

    /// Which of `base..base + 64` arrived, bit `j` for `base + j`: with
    /// [`base`](Self::base), [`top`](Self::top) and
    /// [`uncounted_below`](Self::uncounted_below), the whole state of a window with at
    /// most 64 numbers outstanding (`top - base <= 64`), for [`from_parts`](Self::from_parts).
    /// Unlike [`seen_words`](Self::seen_words) it includes `u64::MAX` when that arrived
    /// (the top saturates there).
    pub fn first_word(&self) -> u64 {
        let mut word = 0u64;
        for j in 0..64 {
            match self.base.checked_add(j) {
                Some(seq) if self.bit(seq) => word |= 1 << j,
                Some(_) => {}
                None => break,
            }
        }
        word
    }

    /// The window whose [`base`](Self::base), [`top`](Self::top),
    /// [`uncounted_below`](Self::uncounted_below) and [`first_word`](Self::first_word)
    /// these are: exactly it when `top - base <= 64` (a receiver may keep such windows
    /// in a few words and rebuild them to work on them).
    ///
    /// ```
    /// use pimon_protocol::SeqWindow;
    /// let mut w = SeqWindow::new();
    /// for s in [0, 3, 5] { w.accept(s); }
    /// let r = SeqWindow::from_parts(w.base(), w.top(), w.uncounted_below(), w.first_word());
    /// assert_eq!(r, w);
    /// ```
    pub fn from_parts(base: u64, top: u64, uncounted_below: u64, first_word: u64) -> SeqWindow {
        let mut w = SeqWindow::restore(base, top);
        w.uncounted_below = uncounted_below;
        for j in 0..64 {
            match base.checked_add(j) {
                Some(seq) if first_word >> j & 1 == 1 => w.set(seq, true),
                Some(_) => {}
                None => break,
            }
        }
        w
    }

    /// Which numbers of `base..top` arrived, 64 to a word from the base (bit `j` of word
    /// `k` is `base + 64k + j`); none when nothing above the base arrived, the usual
    /// case. For [`restore_seen`](Self::restore_seen).
    pub fn seen_words(&self) -> impl Iterator<Item = u64> + '_ {
        let span = self.top().saturating_sub(self.base).min(WINDOW);
        (0..span.div_ceil(64)).map(move |k| {
            let mut word = 0u64;
            for j in 0..64 {
                // Past `u64::MAX` is past the top too (a forged frame's number).
                let Some(seq) = self.base.checked_add(k * 64 + j) else {
                    break;
                };
                if seq < self.top && self.bit(seq) {
                    word |= 1 << j;
                }
            }
            word
        })
    }

    /// Everything below this is done.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Highest sequence number seen + 1, or the base if that is higher (0 when new).
    pub fn top(&self) -> u64 {
        self.top.max(self.base)
    }

    /// Highest sequence number seen, if any.
    pub fn highest(&self) -> Option<u64> {
        self.top.checked_sub(1)
    }

    /// Numbers below this are not counted missing when given up.
    pub fn uncounted_below(&self) -> u64 {
        self.uncounted_below
    }

    /// Gives up numbers below `seq` without counting them missing from now on (never
    /// lowers the bound). A receiver calls it with the first sequence number it hears
    /// of a boot: what lies below may have been stored by an earlier run of it.
    pub fn uncount_below(&mut self, seq: u64) {
        self.uncounted_below = self.uncounted_below.max(seq);
    }

    /// True when `seq` lies a whole window or more beyond everything seen (and beyond
    /// the base): accepting it would give up at least [`WINDOW`] numbers at once.
    ///
    /// ```
    /// let mut w = pimon_protocol::SeqWindow::new();
    /// w.accept(10);
    /// assert!(!w.is_far_ahead(10 + 4095));
    /// assert!(w.is_far_ahead(11 + 4096));
    /// assert!(w.is_far_ahead(u64::MAX));
    /// ```
    pub fn is_far_ahead(&self, seq: u64) -> bool {
        seq.saturating_sub(self.top()) >= WINDOW
    }

    /// Starts over at `floor`: nothing is known above it (the sender said the window
    /// was wrong, see docs/PROTOCOL.md, section 6.4). Nothing is counted missing; the
    /// uncounted bound is kept.
    pub fn reset(&mut self, floor: u64) {
        self.base = floor;
        self.top = floor;
        self.bits = [0; WORDS];
    }

    fn bit(&self, seq: u64) -> bool {
        let i = (seq % WINDOW) as usize;
        self.bits[i / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, seq: u64, on: bool) {
        let i = (seq % WINDOW) as usize;
        if on {
            self.bits[i / 64] |= 1 << (i % 64);
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Moves the base up to `new_base`; returns how many unseen numbers at or above
    /// `uncounted_below` were given up.
    fn advance_to(&mut self, new_base: u64) -> u64 {
        if new_base <= self.base {
            return 0;
        }
        let counted_from = self.base.max(self.uncounted_below);
        let mut missing = 0;
        if new_base - self.base >= WINDOW {
            // Every bit lies below base + WINDOW <= new_base: all are given up.
            let mut seen_counted = 0;
            for s in self.base..self.base + WINDOW {
                if s >= counted_from && self.bit(s) {
                    seen_counted += 1;
                }
            }
            missing = new_base.saturating_sub(counted_from) - seen_counted;
            self.bits = [0; WORDS];
        } else {
            for s in self.base..new_base {
                if self.bit(s) {
                    self.set(s, false);
                } else if s >= counted_from {
                    missing += 1;
                }
            }
        }
        self.base = new_base;
        self.top = self.top.max(new_base);
        missing
    }

    /// Moves the base past the numbers that arrived in a row.
    fn settle(&mut self) {
        while self.base < self.top && self.bit(self.base) {
            self.set(self.base, false);
            self.base += 1;
        }
    }

    /// Records `seq`. Returns the decision and how many numbers were given up because
    /// the window had to slide (they count as missing).
    ///
    /// ```
    /// use pimon_protocol::{SeqWindow, Accept};
    /// let mut w = SeqWindow::new();
    /// assert_eq!(w.accept(0), (Accept::New, 0));
    /// assert_eq!(w.accept(2), (Accept::New, 0));
    /// assert_eq!(w.accept(2), (Accept::Duplicate, 0));
    /// assert_eq!(w.base(), 1); // 1 is still missing
    /// assert_eq!(w.accept(0), (Accept::Old, 0));
    /// ```
    pub fn accept(&mut self, seq: u64) -> (Accept, u64) {
        if seq < self.base {
            return (Accept::Old, 0);
        }
        let mut missing = 0;
        if seq - self.base >= WINDOW {
            missing = self.advance_to(seq - WINDOW + 1);
        }
        if self.bit(seq) {
            return (Accept::Duplicate, missing);
        }
        self.set(seq, true);
        self.top = self.top.max(seq.saturating_add(1));
        self.settle();
        (Accept::New, missing)
    }

    /// The sender no longer holds anything below `floor`: stop waiting for it. Returns
    /// how many unseen numbers were given up.
    pub fn raise_floor(&mut self, floor: u64) -> u64 {
        let missing = self.advance_to(floor);
        self.settle();
        missing
    }

    /// The ack for the current state: (acked_below, seen_below, gaps). When there are
    /// more gaps than fit, `seen_below` is lowered to the first gap left out, so the ack
    /// stays exact.
    ///
    /// ```
    /// use pimon_protocol::{Gap, SeqWindow};
    /// let mut w = SeqWindow::new();
    /// for s in [0, 1, 4, 7] { w.accept(s); }
    /// let (acked_below, seen_below, gaps) = w.ack();
    /// assert_eq!((acked_below, seen_below), (2, 8));
    /// assert_eq!(&gaps[..], &[Gap { start: 2, len: 2 }, Gap { start: 5, len: 2 }]);
    /// ```
    pub fn ack(&self) -> (u64, u64, heapless::Vec<Gap, MAX_GAPS>) {
        let mut gaps = heapless::Vec::new();
        let mut seen_below = self.top.max(self.base);
        let mut s = self.base;
        while s < self.top {
            if self.bit(s) {
                s += 1;
                continue;
            }
            let start = s;
            while s < self.top && !self.bit(s) {
                s += 1;
            }
            if gaps
                .push(Gap {
                    start,
                    len: s - start,
                })
                .is_err()
            {
                seen_below = start;
                break;
            }
        }
        (self.base, seen_below, gaps)
    }
}
