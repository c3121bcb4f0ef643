//! Sequence numbers that left the arena before the aggregator said what became of them.
//!
//! When the arena is full the ring evicts its oldest record. If that record was not
//! acked, the datagram may still have been stored: acks can be lost on the way back
//! while every frame arrives. Counting it as dropped at eviction would raise a
//! ring-overflow alarm although nothing was lost, and the two sides would disagree.
//!
//! So an evicted, unacked record becomes part of an [`EvictedRun`] (consecutive sequence
//! numbers) and stays *unresolved*: the ring keeps advertising a resend floor at or
//! below the oldest unresolved number, so the aggregator cannot give it up on its own
//! and every later ack speaks for it exactly — below `acked_below` or outside a gap:
//! stored; in a gap: the aggregator does not have it, and the ring cannot resend it, so
//! it is dropped (and the floor then rises past it, so the aggregator gives it up and
//! counts it missing: both sides count it once).
//!
//! Bounded: at most [`MAX_EVICTED_RUNS`] runs. When a new run does not fit, the oldest
//! is given up (counted dropped, whatever became of it); the ring also gives up what
//! would hold its floor more than the aggregator's window below the next sequence
//! number (see `Ring`'s window rule). `no_std`, no allocation.

use pimon_protocol::Ack;

/// Most runs of unresolved evicted sequence numbers the ring remembers.
pub const MAX_EVICTED_RUNS: usize = 16;

/// An ack's gap proves a datagram missing only when the datagram's last send is at
/// least this old: an ack sent before a resend arrived still lists it (the resend
/// hold-off is the same rule). Acks that say "stored" count at once.
pub const LOST_VERDICT_AFTER_MS: u64 = 1_000;

/// Consecutive sequence numbers `start..start + len` evicted unacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvictedRun {
    /// The first one.
    pub start: u64,
    /// How many (at least 1 while the run exists).
    pub len: u64,
    /// When the newest datagram of the run was last sent (the ring's clock, ms).
    pub last_sent_ms: u64,
}

impl EvictedRun {
    fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// What resolving runs against an ack found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// Evicted sequence numbers the aggregator has stored.
    pub stored: u64,
    /// Evicted sequence numbers the aggregator does not have (now dropped).
    pub lost: u64,
}

/// The runs, oldest first, in ascending and disjoint order.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvictedRuns {
    runs: [EvictedRun; MAX_EVICTED_RUNS],
    count: usize,
}

impl EvictedRuns {
    /// The runs held, oldest first.
    pub fn runs(&self) -> &[EvictedRun] {
        self.runs.get(..self.count).unwrap_or_default()
    }

    /// The oldest unresolved sequence number.
    pub fn oldest(&self) -> Option<u64> {
        self.runs().first().map(|r| r.start)
    }

    /// How many sequence numbers are unresolved.
    pub fn unresolved(&self) -> u64 {
        self.runs().iter().map(|r| r.len).sum()
    }

    /// Records that `seq` (last sent at `sent_ms`) was evicted unacked. Sequence numbers
    /// arrive in ascending order. Returns how many older ones were given up to make
    /// room (count them dropped).
    pub fn push(&mut self, seq: u64, sent_ms: u64) -> u64 {
        if let Some(last) = self.count.checked_sub(1).and_then(|i| self.runs.get_mut(i))
            && last.end() == seq
        {
            last.len += 1;
            last.last_sent_ms = last.last_sent_ms.max(sent_ms);
            return 0;
        }
        let mut given_up = 0;
        if self.count == MAX_EVICTED_RUNS {
            given_up = self.runs[0].len;
            self.remove(0);
        }
        if let Some(slot) = self.runs.get_mut(self.count) {
            *slot = EvictedRun {
                start: seq,
                len: 1,
                last_sent_ms: sent_ms,
            };
            self.count += 1;
        }
        given_up
    }

    /// Gives up every sequence number below `floor`; returns how many (count them
    /// dropped).
    pub fn give_up_below(&mut self, floor: u64) -> u64 {
        let mut given_up = 0;
        while let Some(first) = self.runs().first().copied() {
            if first.start >= floor {
                break;
            }
            if first.end() <= floor {
                given_up += first.len;
                self.remove(0);
            } else {
                given_up += floor - first.start;
                self.runs[0].len = first.end() - floor;
                self.runs[0].start = floor;
            }
        }
        given_up
    }

    /// Applies what `ack` says about the unresolved numbers below its `seen_below`
    /// (received at `now_ms`): stored ones and, for runs whose last send is at least
    /// [`LOST_VERDICT_AFTER_MS`] old, missing ones are resolved and leave the record.
    pub fn resolve(&mut self, ack: &Ack<'_>, now_ms: u64) -> Verdicts {
        let mut verdicts = Verdicts::default();
        let mut i = 0;
        while let Some(run) = self.runs().get(i).copied() {
            let until = run.end().min(ack.seen_below);
            if until <= run.start {
                break; // this run and the newer ones are beyond what the ack speaks for
            }
            let lost = missing_in(ack, run.start, until);
            let settled = now_ms.saturating_sub(run.last_sent_ms) >= LOST_VERDICT_AFTER_MS;
            if lost > 0 && !settled {
                i += 1;
                continue;
            }
            verdicts.lost += lost;
            verdicts.stored += (until - run.start) - lost;
            if until == run.end() {
                self.remove(i);
            } else {
                self.runs[i].start = until;
                self.runs[i].len = run.end() - until;
                i += 1;
            }
        }
        verdicts
    }

    fn remove(&mut self, index: usize) {
        if index < self.count {
            self.runs.copy_within(index + 1..self.count, index);
            self.count -= 1;
        }
    }
}

/// How many of `from..until` (below the ack's `seen_below`) lie in its gaps.
fn missing_in(ack: &Ack<'_>, from: u64, until: u64) -> u64 {
    ack.gaps
        .iter()
        .map(|g| {
            let start = g.start.max(from);
            let end = g.start.saturating_add(g.len).min(until);
            end.saturating_sub(start)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Gap;

    fn ack(acked_below: u64, seen_below: u64, gaps: &[(u64, u64)]) -> Ack<'static> {
        let mut g = heapless::Vec::new();
        for &(start, len) in gaps {
            g.push(Gap { start, len }).unwrap();
        }
        Ack {
            node: "pi",
            boot_id: 1,
            acked_below,
            seen_below,
            gaps: g,
            key_id: None,
        }
    }

    fn runs(e: &EvictedRuns) -> heapless::Vec<(u64, u64), MAX_EVICTED_RUNS> {
        e.runs().iter().map(|r| (r.start, r.len)).collect()
    }

    #[test]
    fn consecutive_evictions_make_one_run() {
        let mut e = EvictedRuns::default();
        for seq in 3..7 {
            assert_eq!(e.push(seq, seq * 10), 0);
        }
        e.push(9, 0);
        assert_eq!(runs(&e)[..], [(3, 4), (9, 1)]);
        assert_eq!(e.runs()[0].last_sent_ms, 60);
        assert_eq!((e.oldest(), e.unresolved()), (Some(3), 5));
    }

    #[test]
    fn a_full_record_gives_up_its_oldest_run() {
        let mut e = EvictedRuns::default();
        for k in 0..MAX_EVICTED_RUNS as u64 {
            e.push(10 * k, 0);
            e.push(10 * k + 1, 0);
        }
        assert_eq!(e.push(1000, 0), 2, "the run 0..2 is given up");
        assert_eq!(e.oldest(), Some(10));
        assert_eq!(e.runs().len(), MAX_EVICTED_RUNS);
    }

    #[test]
    fn stored_and_missing_are_told_apart_and_resolved() {
        let mut e = EvictedRuns::default();
        for seq in (0..10).chain(20..25) {
            e.push(seq, 0);
        }
        // 0..4 stored (below acked_below), 4..6 stored, 6..8 in a gap, 8..12 stored,
        // nothing said from 22 on.
        let v = e.resolve(&ack(4, 22, &[(6, 2), (15, 1)]), 5_000);
        assert_eq!(
            v,
            Verdicts {
                stored: 8 + 2,
                lost: 2
            }
        );
        assert_eq!(runs(&e)[..], [(22, 3)]);
    }

    #[test]
    fn a_gap_is_no_verdict_until_the_last_send_is_old_enough() {
        let mut e = EvictedRuns::default();
        e.push(0, 900);
        e.push(1, 1_000);
        let young = e.resolve(&ack(0, 2, &[(1, 1)]), 1_500);
        assert_eq!(young, Verdicts::default(), "the resend may still arrive");
        assert_eq!(e.unresolved(), 2);
        // A later ack says it arrived after all.
        let v = e.resolve(&ack(2, 2, &[]), 1_600);
        assert_eq!(v, Verdicts { stored: 2, lost: 0 });
        assert_eq!(e.unresolved(), 0);
        e.push(5, 100);
        let v = e.resolve(&ack(0, 6, &[(0, 6)]), 1_100);
        assert_eq!(v, Verdicts { stored: 0, lost: 1 });
    }

    #[test]
    fn give_up_below_cuts_runs() {
        let mut e = EvictedRuns::default();
        for seq in (0..5).chain(8..12) {
            e.push(seq, 0);
        }
        assert_eq!(e.give_up_below(3), 3);
        assert_eq!(runs(&e)[..], [(3, 2), (8, 4)]);
        assert_eq!(e.give_up_below(10), 4);
        assert_eq!(runs(&e)[..], [(10, 2)]);
        assert_eq!(e.give_up_below(0), 0);
    }
}
