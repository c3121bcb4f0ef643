//! The time each stored frame gets in the line protocol.
//!
//! InfluxDB keeps one point per series and timestamp, so two frames of a node that get
//! the same time silently become one, and one frame stored twice at two times becomes
//! two. A frame normally gets its own timestamp. When the node's clock cannot be trusted
//! (off by more than `max_skew`, stepped back onto times already used), or the frame is
//! older than `max_backfill` (InfluxDB's retention would refuse it), the frame gets a
//! *substitute*, and the substitute must be
//! - **distinct** per cycle and **increasing in sequence order** within a boot, and
//!   above every time already given to the node (all boots), so nothing collapses;
//! - **the same every time the same frame is stored** (after an aggregator restart, a
//!   rolled-back batch, a keyed replay): then InfluxDB overwrites the point instead of
//!   holding two. So it is derived only from the frame and this boot's saved
//!   [`Timeline`], never from the receive time of the batch that happens to carry it.
//!   Every rule that depends on the receive time is written into the timeline (and the
//!   timeline saved before the frame is acked, see [`Stamp::save`]).
//!
//! # Segments: the rules of live frames
//! A [`Timeline`] holds a short list of [`Segment`]s, each starting at a cycle (the
//! sequence number of a cycle's first part: all parts of a cycle share one time). A
//! segment's [`Rule`] gives a frame the time `timestamp + offset`, but, when the rule
//! has a floor, at least `floor + (cycle − segment start) × tick`:
//! - the node's own clock: offset 0, no floor ([`Rule::OWN`]);
//! - a clock that is off (ahead beyond `max_skew`, stepped back, a Pi at 1970): an
//!   offset that lines the clock up with the best estimate of when the frame was made —
//!   the receive time for a boot's first frame; for a later one the time of the boot's
//!   last cycle plus the cycles since at the node's interval (never after the receive
//!   time). The spacing of the node's cycles is kept, so a backlog made before the
//!   clock went wrong and resent later lands about where it was collected;
//! - a backlog older than `max_backfill` from a clock that otherwise moves forward:
//!   offset 0 and a floor at the backfill bound, so the old cycles are packed one tick
//!   apart from the bound on, in order, until the node's own times pass the packed ones;
//! - times already ahead of the receive clock (a clock that ran fast, then was fixed):
//!   offset 0 and a floor just after the highest time used, so cycles are packed one
//!   tick apart until the node's own clock passes them.
//!
//! A new segment is decided only by a *live* frame (a cycle above every cycle seen of
//! this boot), and applies from that cycle on; a boot starts with [`Rule::OWN`] implied,
//! so a node with a good clock never adds a segment (and never needs its timeline saved
//! urgently). The node's own clock is kept while its times are not in the future beyond
//! `max_skew`, not older than `max_backfill`, and keep increasing; another rule is kept
//! while its times keep increasing, are not in the future, and are not older than
//! `max_backfill` by more than `max_skew` (a backlog takes a while to arrive).
//!
//! # Gaps: the frames that arrive after a later one
//! A resent frame arrives after later cycles of its boot were stored (a loss, a
//! reordering, an outage whose newest frames came first). Its segment's rule may put it
//! out of order — the clock jumped ahead while the path was down and was corrected
//! before the backlog arrived, or the backlog is older than `max_backfill`. So when a
//! live frame skips sequence numbers not seen yet, the timeline records the [`Gap`]:
//! the cycles skipped, the highest time used before them (or the backfill bound, if
//! later), and the live frame's time. A frame of the gap keeps its segment's time when
//! that lies inside those bounds and is not below its place in the gap; otherwise it
//! gets a place inside the bounds by its position in the gap (one tick after the lower
//! bound per sequence number, spread evenly when that does not fit). Within a gap,
//! times therefore increase with the sequence number whenever the node's clock did,
//! and always stay between the cycles before and after the gap. A gap is forgotten
//! once every sequence number below its end is done; at most [`MAX_GAPS`] are kept
//! (the ones no frame needed are dropped first). A gap is saved before an ack only once
//! a frame got a substitute from it: a frame that kept its segment's time gets the same
//! time again without it.
//!
//! Times are compared at the output precision (`tick`): with `precision = s`, distinct
//! means distinct seconds, and packed cycles are a second apart.
//!
//! Limits (docs/RELIABILITY.md, timestamps): at most [`MAX_SEGMENTS`] segments per boot
//! are kept (a boot with more clock events gives its oldest cycles the oldest kept
//! segment); a clock stepped *back* while its frames waited in the collector's ring,
//! with frames of the right time before the step in the same gap, can put the frames
//! after the step before those (never outside the gap); a gap created after the last
//! save is lost in a crash (`kill -9`) if no frame needed it yet, and its frames then
//! keep their segment's time.

/// Most segments kept per boot.
pub const MAX_SEGMENTS: usize = 4;
/// Most gaps kept per boot.
pub const MAX_GAPS: usize = 4;

/// How a segment turns a frame into a time: the frame's timestamp plus `offset`, but
/// with a `floor`, at least `floor` plus one tick per sequence number after the
/// segment's first cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Added to the frame's timestamp (ms).
    pub offset: i64,
    /// The least time of the segment's first cycle (Unix ms); 0: no floor.
    pub floor: u64,
}

impl Rule {
    /// The node's own clock.
    pub const OWN: Rule = Rule {
        offset: 0,
        floor: 0,
    };
}

/// A rule from a cycle on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First sequence number of the first cycle the rule applies to.
    pub from_cycle: u64,
    /// The rule.
    pub rule: Rule,
}

impl Segment {
    const OWN: Segment = Segment {
        from_cycle: 0,
        rule: Rule::OWN,
    };

    /// The frame's timestamp moved by the offset.
    fn model(&self, ts_ms: u64) -> u64 {
        (i128::from(ts_ms) + i128::from(self.rule.offset)).clamp(0, i128::from(u64::MAX)) as u64
    }

    /// The least time the floor allows for `cycle` (0 without a floor).
    fn least(&self, cycle: u64, tick_ms: u64) -> u64 {
        if self.rule.floor == 0 {
            return 0;
        }
        self.rule.floor.saturating_add(
            cycle
                .saturating_sub(self.from_cycle)
                .saturating_mul(tick_ms),
        )
    }

    fn time(&self, ts_ms: u64, cycle: u64, tick_ms: u64) -> u64 {
        self.model(ts_ms).max(self.least(cycle, tick_ms))
    }
}

/// Cycles a live frame skipped: their frames, when they come, are placed between the
/// times around them (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The first sequence number not seen when the live frame arrived.
    pub from_cycle: u64,
    /// The live frame's cycle (the gap ends before it).
    pub to_cycle: u64,
    /// The gap's times lie above this (Unix ms): the highest time used before the live
    /// frame, or the backfill bound at that moment if later.
    pub above_ms: u64,
    /// ... and below this: the live frame's time.
    pub below_ms: u64,
    /// A frame of the gap got a substitute from it (the gap must be saved).
    pub used: bool,
}

impl Gap {
    /// The time of a frame of `cycle` (inside the gap) whose segment gives it `t0`.
    fn place(&self, cycle: u64, t0: u64, tick_ms: u64) -> u64 {
        let lo = u128::from(self.above_ms / tick_ms);
        let hi = u128::from(self.below_ms / tick_ms);
        let n = u128::from(self.to_cycle.saturating_sub(self.from_cycle).max(1));
        let k = u128::from(cycle.saturating_sub(self.from_cycle));
        // Ticks strictly between the bounds, and this cycle's share of them.
        let room = hi.saturating_sub(lo).saturating_sub(1);
        let spread = k * room / n;
        let packed = lo + 1 + if room >= n { k } else { spread };
        let to_ms = |ticks: u128| (ticks * u128::from(tick_ms)).min(u128::from(u64::MAX)) as u64;
        if u128::from(t0 / tick_ms) >= hi {
            // Ahead of the frame after the gap: spread over the gap by position.
            to_ms(packed.max(lo + 1 + spread))
        } else {
            t0.max(to_ms(packed))
        }
    }
}

/// What the receiver knows when it stamps a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Receive time (Unix ms).
    pub now_ms: u64,
    /// A frame's time may be this far ahead of the receive time.
    pub max_skew_ms: u64,
    /// A frame's time may be this far behind the receive time (a backlog).
    pub max_backfill_ms: u64,
    /// One unit of the output precision in ms (1000 for seconds, else 1).
    pub tick_ms: u64,
}

/// The frame being stamped: what its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAt {
    /// Its cycle: the sequence number minus the part index.
    pub cycle: u64,
    /// Its timestamp (Unix ms, the node's clock).
    pub ts_ms: u64,
    /// Parts of its cycle (at least 1).
    pub parts: u8,
    /// The node's collection interval (ms).
    pub interval_ms: u32,
}

/// What the boot's sequence window knew when the frame arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The highest sequence number seen before this frame, plus one (or the window's
    /// base, if higher).
    pub above: u64,
    /// Every sequence number below this is done (stored or given up).
    pub done_below: u64,
}

/// The time given to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Unix ms.
    pub time_ms: u64,
    /// The frame was the newest cycle of its boot so far.
    pub live: bool,
    /// The frame's time depends on a rule it added or used first: the timeline must be
    /// saved before the frame is acked.
    pub save: bool,
}

/// The time rules of one boot of one node; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    segments: heapless::Vec<Segment, MAX_SEGMENTS>,
    /// Boxed, and `None` while there is none (the usual case: 160 bytes a boot saved).
    gaps: Option<Box<heapless::Vec<Gap, MAX_GAPS>>>,
    /// Segments were dropped to make room: cycles before the first kept one use it.
    evicted: bool,
    /// First sequence number of the newest cycle seen.
    last_cycle: Option<u64>,
}

impl Timeline {
    /// A timeline rebuilt from saved parts. `None` when the segments do not ascend, a
    /// gap is empty, or there are too many of either.
    pub fn restore(
        segments: &[Segment],
        gaps: &[Gap],
        evicted: bool,
        last_cycle: Option<u64>,
    ) -> Option<Timeline> {
        if !segments
            .windows(2)
            .all(|w| w[0].from_cycle < w[1].from_cycle)
            || gaps.iter().any(|g| g.from_cycle >= g.to_cycle)
        {
            return None;
        }
        Some(Timeline {
            segments: heapless::Vec::from_slice(segments).ok()?,
            gaps: if gaps.is_empty() {
                None
            } else {
                Some(Box::new(heapless::Vec::from_slice(gaps).ok()?))
            },
            evicted,
            last_cycle,
        })
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Heap bytes (the gaps, while there are any).
    pub fn heap_bytes(&self) -> usize {
        self.gaps
            .as_ref()
            .map_or(0, |_| size_of::<heapless::Vec<Gap, MAX_GAPS>>())
    }

    /// The gaps still open, oldest first.
    pub fn gaps(&self) -> &[Gap] {
        self.gaps.as_deref().map_or(&[], |g| g.as_slice())
    }

    /// True when segments were dropped to make room.
    pub fn evicted(&self) -> bool {
        self.evicted
    }

    /// First sequence number of the newest cycle seen.
    pub fn last_cycle(&self) -> Option<u64> {
        self.last_cycle
    }

    /// The segment `cycle` falls in.
    fn segment_for(&self, cycle: u64) -> Segment {
        match self.segments.iter().rev().find(|s| s.from_cycle <= cycle) {
            Some(s) => *s,
            None if self.evicted => self.segments.first().copied().unwrap_or(Segment::OWN),
            None => Segment::OWN,
        }
    }

    fn push(&mut self, segment: Segment) {
        if self.segments.is_full() {
            self.segments.remove(0);
            self.evicted = true;
        }
        // Cannot fail: room was made above.
        let _ = self.segments.push(segment);
    }

    /// Records a gap; forgets the gaps that are done, and makes room if needed (a gap
    /// no frame needed goes first).
    fn open_gap(&mut self, gap: Gap, done_below: u64) {
        let gaps = self.gaps.get_or_insert_default();
        gaps.retain(|g| g.to_cycle > done_below);
        if gaps.is_full() {
            let i = gaps.iter().position(|g| !g.used).unwrap_or(0);
            gaps.remove(i);
        }
        // Cannot fail: room was made above.
        let _ = gaps.push(gap);
    }

    /// The time for a frame of this boot. `seen` is what the boot's window knew before
    /// the frame; `max_time_ms` is the highest time given to any frame of the node so far
    /// (`None`: none yet).
    ///
    /// ```
    /// use pimon_aggregator::timeline::{Clock, FrameAt, Seen, Timeline};
    /// let clock = Clock {
    ///     now_ms: 1_700_000_000_000, max_skew_ms: 300_000, max_backfill_ms: 604_800_000,
    ///     tick_ms: 1,
    /// };
    /// let frame = |cycle, ts_ms| FrameAt { cycle, ts_ms, parts: 1, interval_ms: 10_000 };
    /// let seen = |above| Seen { above, done_below: above };
    /// let mut t = Timeline::default();
    /// // A Pi at 1970: lined up with the receive time, its 10 s spacing kept.
    /// let a = t.stamp(&frame(0, 60_000), seen(0), &clock, None);
    /// let b = t.stamp(&frame(1, 70_000), seen(1), &clock, Some(a.time_ms));
    /// assert_eq!((a.time_ms, b.time_ms), (clock.now_ms, clock.now_ms + 10_000));
    /// // The same frame again (a restart, a replay): the same time.
    /// let again = t.stamp(&frame(1, 70_000), seen(2), &clock, Some(b.time_ms));
    /// assert_eq!(again.time_ms, b.time_ms);
    /// ```
    pub fn stamp(
        &mut self,
        frame: &FrameAt,
        seen: Seen,
        clock: &Clock,
        max_time_ms: Option<u64>,
    ) -> Stamp {
        let tick = clock.tick_ms.max(1);
        let cycle = frame.cycle;
        let live = self.last_cycle.is_none_or(|last| cycle > last);
        if !live {
            let t0 = self.segment_for(cycle).time(frame.ts_ms, cycle, tick);
            let gap = self
                .gaps
                .iter_mut()
                .flat_map(|g| g.iter_mut())
                .find(|g| g.from_cycle <= cycle && cycle < g.to_cycle);
            let Some(gap) = gap else {
                return Stamp {
                    time_ms: t0,
                    live,
                    save: false,
                };
            };
            let time_ms = gap.place(cycle, t0, tick);
            let first_use = time_ms != t0 && !gap.used;
            gap.used |= time_ms != t0;
            return Stamp {
                time_ms,
                live,
                save: first_use,
            };
        }
        let last = self.last_cycle.replace(cycle);
        let (time_ms, save) = self.stamp_live(frame, last, clock, max_time_ms);
        if seen.above < cycle {
            let backfill_bound = clock.now_ms.saturating_sub(clock.max_backfill_ms);
            self.open_gap(
                Gap {
                    from_cycle: seen.above,
                    to_cycle: cycle,
                    above_ms: max_time_ms.unwrap_or(0).max(backfill_bound),
                    below_ms: time_ms,
                    used: false,
                },
                seen.done_below,
            );
        }
        Stamp {
            time_ms,
            live,
            save,
        }
    }

    /// The time of a live frame (the newest cycle so far; `last` is the cycle before
    /// it), and whether it added a segment.
    fn stamp_live(
        &mut self,
        frame: &FrameAt,
        last: Option<u64>,
        clock: &Clock,
        max_time_ms: Option<u64>,
    ) -> (u64, bool) {
        let tick = clock.tick_ms.max(1);
        let (cycle, ts) = (frame.cycle, frame.ts_ms);
        let now = clock.now_ms;
        let above = |t: u64| max_time_ms.is_none_or(|m| t > m);
        let above_tick = |t: u64| max_time_ms.is_none_or(|m| t / tick > m / tick);
        let not_future = |t: u64| t <= now.saturating_add(clock.max_skew_ms);
        let within = |t: u64| now.saturating_sub(t) <= clock.max_backfill_ms;
        let arriving = |t: u64| {
            now.saturating_sub(t) <= clock.max_backfill_ms.saturating_add(clock.max_skew_ms)
        };
        // The times used are ahead of the receive clock.
        let ahead_of_clock = max_time_ms.is_some_and(|m| m / tick >= now / tick);
        let own_ok = not_future(ts) && within(ts) && above(ts);

        let current = self.segment_for(cycle);
        let model = current.model(ts);
        let t = current.time(ts, cycle, tick);
        let good_again =
            current.rule.offset != 0 && own_ok && ts.abs_diff(now) <= clock.max_skew_ms;
        let keep = !good_again
            && if t > model {
                // Packed by the floor: while the node's own times are still behind the
                // packed ones for a reason (ahead of the receive clock, or too old).
                above_tick(t) && not_future(t) && arriving(t) && (ahead_of_clock || !within(model))
            } else if current.rule == Rule::OWN {
                own_ok
            } else {
                above(t) && not_future(t) && arriving(t)
            };
        if keep {
            return (t, false);
        }
        let next_tick = |m: u64| (m / tick).saturating_add(1).saturating_mul(tick);
        let rule = if own_ok {
            Rule::OWN
        } else if let Some(m) = max_time_ms.filter(|_| ahead_of_clock) {
            Rule {
                offset: 0,
                floor: next_tick(m),
            }
        } else if last.is_some() && above(ts) && not_future(ts) {
            // A clock that moves forward, only the frame is older than the backfill
            // bound: the head of a backlog.
            let bound = now.saturating_sub(clock.max_backfill_ms);
            let bound = (bound / tick)
                .saturating_add(u64::from(!bound.is_multiple_of(tick)))
                .saturating_mul(tick);
            Rule {
                offset: 0,
                floor: max_time_ms
                    .map_or(bound, |m| next_tick(m).max(bound))
                    .max(1),
            }
        } else {
            let estimate = match (last, max_time_ms) {
                // Made about (cycles since the boot's last one) intervals after it.
                (Some(last), Some(m)) => {
                    let cycles =
                        (cycle.saturating_sub(last) / u64::from(frame.parts.max(1))).max(1);
                    m.saturating_add(cycles.saturating_mul(u64::from(frame.interval_ms)))
                        .clamp(next_tick(m), now.max(next_tick(m)))
                }
                _ => now,
            };
            let estimate = estimate.max(now.saturating_sub(clock.max_backfill_ms));
            let o = i128::from(estimate) - i128::from(ts);
            Rule {
                offset: o.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                floor: 0,
            }
        };
        let segment = Segment {
            from_cycle: cycle,
            rule,
        };
        self.push(segment);
        (segment.time(ts, cycle, tick), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const NOW: u64 = 1_700_000_000_000;
    const MINUTE: u64 = 60_000;

    fn clock(now_ms: u64) -> Clock {
        Clock {
            now_ms,
            max_skew_ms: 300_000,
            max_backfill_ms: 7 * 24 * 3600 * 1000,
            tick_ms: 1,
        }
    }

    /// One boot of a node as the ingest sees it: the window's seen set and the node's
    /// highest time are tracked as `Ingest` does.
    #[derive(Default)]
    struct Node {
        t: Timeline,
        max: Option<u64>,
        seen: BTreeSet<u64>,
        tick: u64,
        backfill: Option<u64>,
        interval: u32,
    }

    impl Node {
        fn new() -> Node {
            Node {
                tick: 1,
                interval: 10_000,
                ..Node::default()
            }
        }

        fn frame(&mut self, seq: u64, part: u8, parts: u8, ts: u64, now: u64) -> Stamp {
            let above = self.seen.last().map_or(0, |s| s + 1);
            self.seen.insert(seq);
            let done_below = (0..).find(|s| !self.seen.contains(s)).unwrap_or(0);
            let mut c = Clock {
                tick_ms: self.tick,
                ..clock(now)
            };
            if let Some(b) = self.backfill {
                c.max_backfill_ms = b;
            }
            let frame = FrameAt {
                cycle: seq - u64::from(part),
                ts_ms: ts,
                parts,
                interval_ms: self.interval,
            };
            let s = self
                .t
                .stamp(&frame, Seen { above, done_below }, &c, self.max);
            self.max = Some(self.max.unwrap_or(0).max(s.time_ms));
            s
        }

        /// A one-part cycle.
        fn cycle(&mut self, cycle: u64, ts: u64, now: u64) -> u64 {
            self.frame(cycle, 0, 1, ts, now).time_ms
        }
    }

    /// Stamps `(cycle, ts, now)` one-part cycles in order.
    fn run(n: &mut Node, frames: &[(u64, u64, u64)]) -> Vec<u64> {
        frames
            .iter()
            .map(|&(cycle, ts, now)| n.cycle(cycle, ts, now))
            .collect()
    }

    /// Times by cycle, checked strictly increasing in cycle order.
    fn assert_ordered(times: &std::collections::BTreeMap<u64, u64>) {
        let v: Vec<(u64, u64)> = times.iter().map(|(c, t)| (*c, *t)).collect();
        for w in v.windows(2) {
            assert!(
                w[0].1 < w[1].1,
                "cycle {} at {} but cycle {} at {}: {v:?}",
                w[0].0,
                w[0].1,
                w[1].0,
                w[1].1
            );
        }
    }

    #[test]
    fn a_good_clock_keeps_its_own_times_and_adds_no_segment() {
        let mut n = Node::new();
        let frames: Vec<_> = (0..5)
            .map(|i| (i, NOW + i * 10_000, NOW + i * 10_000 + 3))
            .collect();
        let times = run(&mut n, &frames);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
        assert!(n.t.segments().is_empty());
    }

    #[test]
    fn parts_of_a_cycle_share_its_time_whichever_arrives_first() {
        let mut n = Node::new();
        // Cycle 10 of two parts, clock at 1970: part 1 first.
        let p1 = n.frame(11, 1, 2, 5_000, NOW);
        let p0 = n.frame(10, 0, 2, 5_000, NOW);
        assert_eq!(p0.time_ms, p1.time_ms);
        assert!(p1.save && !p0.save);
    }

    #[test]
    fn a_clock_stepped_back_continues_after_the_last_time_used() {
        let mut n = Node::new();
        // Good clock, then stepped back 60 s (within the skew bound), 10 s cycles.
        let times = run(
            &mut n,
            &[
                (0, NOW, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW - 40_000, NOW + 20_000),
                (3, NOW - 30_000, NOW + 30_000),
            ],
        );
        assert_eq!(times, [NOW, NOW + 10_000, NOW + 20_000, NOW + 30_000]);
    }

    #[test]
    fn times_ahead_of_the_receive_clock_pack_then_return_to_the_own_clock() {
        let mut n = Node::new();
        // The node's clock ran 60 s fast (allowed), then NTP fixed it.
        let fast = NOW + 60_000;
        let times = run(
            &mut n,
            &[
                (0, fast, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW + 20_000, NOW + 20_000),
                (3, NOW + 70_000, NOW + 70_000),
            ],
        );
        assert_eq!(times, [fast, fast + 1, fast + 2, NOW + 70_000]);
        assert_eq!(
            n.t.segments(),
            [Segment {
                from_cycle: 1,
                rule: Rule {
                    offset: 0,
                    floor: fast + 1
                }
            }]
        );
    }

    #[test]
    fn at_seconds_precision_packed_cycles_are_a_second_apart() {
        let mut n = Node {
            tick: 1000,
            ..Node::new()
        };
        let fast = NOW + 60_000;
        let times = run(
            &mut n,
            &[
                (0, fast, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW + 20_000, NOW + 20_000),
            ],
        );
        assert_eq!(times, [fast, fast + 1000, fast + 2000]);
    }

    #[test]
    fn an_interval_below_the_tick_keeps_its_own_times_rather_than_drifting_ahead() {
        let mut n = Node {
            tick: 1000,
            ..Node::new()
        };
        let frames: Vec<_> = (0..20).map(|i| (i, NOW + i * 100, NOW + i * 100)).collect();
        let times = run(&mut n, &frames);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
    }

    #[test]
    fn resends_use_the_segment_of_their_cycle() {
        let mut n = Node::new();
        let times = run(
            &mut n,
            &[
                (0, NOW, NOW),
                (4, 40_000, NOW + 40_000), // clock reset to 1970: lined up with its cycles
                (6, 60_000, NOW + 60_000),
            ],
        );
        assert_eq!(times, [NOW, NOW + 40_000, NOW + 60_000]);
        // Cycle 2 (before the reset) keeps its own time; cycle 5 uses the offset.
        assert_eq!(n.cycle(2, NOW + 20_000, NOW + 61_000), NOW + 20_000);
        assert_eq!(n.cycle(5, 50_000, NOW + 61_000), NOW + 50_000);
    }

    #[test]
    fn a_backlog_received_late_keeps_its_own_times() {
        // The aggregator was down for an hour; the collector's ring arrives oldest first.
        let mut n = Node::new();
        let later = NOW + 3_600_000;
        let frames: Vec<_> = (0..6).map(|i| (i, NOW + i * 10_000, later + i)).collect();
        let times = run(&mut n, &frames);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
        assert!(n.t.segments().is_empty());
        // A boot whose first frame is older than max_backfill is a clock far behind.
        let mut n = Node::new();
        let ancient = NOW - 8 * 24 * 3_600_000;
        assert_eq!(run(&mut n, &[(0, ancient, NOW)]), [NOW]);
    }

    #[test]
    fn a_clock_ahead_beyond_the_skew_is_lined_up_with_the_receive_clock() {
        let mut n = Node::new();
        let ahead = NOW + 3_600_000;
        let times = run(
            &mut n,
            &[(0, ahead, NOW), (1, ahead + 10_000, NOW + 10_000)],
        );
        assert_eq!(times, [NOW, NOW + 10_000]);
    }

    /// Cycles 0..10 live at 100 ms, 10..30 made while the path was down with the clock
    /// 10 minutes ahead, the clock corrected, then cycle 30 and later live: `order`
    /// says in which order 10..=30 arrive.
    fn clock_ahead_backlog(order: &[u64]) -> (Node, std::collections::BTreeMap<u64, u64>) {
        let mut n = Node {
            interval: 100,
            ..Node::new()
        };
        let made = |c: u64| NOW + c * 100;
        let ts = |c: u64| {
            if (10..30).contains(&c) {
                made(c) + 10 * MINUTE
            } else {
                made(c)
            }
        };
        let mut times = std::collections::BTreeMap::new();
        for c in 0..10 {
            times.insert(c, n.cycle(c, ts(c), made(c)));
        }
        for (i, &c) in order.iter().enumerate() {
            times.insert(c, n.cycle(c, ts(c), made(30) + i as u64));
        }
        for c in 31..35 {
            times.insert(c, n.cycle(c, ts(c), made(c)));
        }
        for c in (0..10).chain(30..35) {
            assert_eq!(
                times[&c],
                made(c),
                "cycle {c} had a right clock: its own time"
            );
        }
        assert_ordered(&times);
        (n, times)
    }

    #[test]
    fn a_skewed_backlog_arriving_after_a_right_frame_is_placed_before_it_in_order() {
        let order: Vec<u64> = std::iter::once(30).chain(10..30).collect();
        let (n, times) = clock_ahead_backlog(&order);
        assert!(times[&29] < times[&30] && times[&10] > times[&9]);
        assert!(n.t.gaps().iter().any(|g| g.used), "{:?}", n.t.gaps());
    }

    #[test]
    fn a_skewed_backlog_whose_oldest_frame_comes_first_stays_before_the_right_frames() {
        // The collector's probe (its oldest frame) first, then a live one, then the rest.
        let order: Vec<u64> = [10, 30].into_iter().chain(11..30).collect();
        clock_ahead_backlog(&order);
        let order: Vec<u64> = (10..=30).collect();
        clock_ahead_backlog(&order);
    }

    /// Cycles 0..10 live at 100 ms, 10..50 held during a 4 s outage, with a 2 s
    /// `max_backfill`; `order` says in which order 10..=50 arrive (at 5 s).
    fn old_backlog(order: &[u64], parts: u8) -> std::collections::BTreeMap<u64, u64> {
        let mut n = Node {
            interval: 100,
            backfill: Some(2_000),
            ..Node::new()
        };
        let p = u64::from(parts);
        let made = |c: u64| NOW + c * 100;
        let mut times = std::collections::BTreeMap::new();
        let mut send = |n: &mut Node, c: u64, now: u64| {
            for part in 0..parts {
                let s = n.frame(c * p + u64::from(part), part, parts, made(c), now);
                if let Some(&t) = times.get(&c) {
                    assert_eq!(s.time_ms, t, "cycle {c} part {part}: parts share a time");
                }
                times.insert(c, s.time_ms);
            }
        };
        for c in 0..10 {
            send(&mut n, c, made(c));
        }
        for (i, &c) in order.iter().enumerate() {
            send(&mut n, c, made(50) + i as u64);
        }
        for c in 51..55 {
            send(&mut n, c, made(c));
        }
        for c in (0..10).chain(50..55) {
            assert_eq!(times[&c], made(c), "cycle {c} arrived live: its own time");
        }
        assert_ordered(&times);
        let bound = made(50) - 2_000;
        for c in 10..50 {
            assert!(
                times[&c] >= bound,
                "cycle {c} at {} is older than the backfill bound {bound}",
                times[&c]
            );
        }
        times
    }

    #[test]
    fn a_backlog_older_than_max_backfill_is_packed_after_the_bound_in_order() {
        let order: Vec<u64> = std::iter::once(50).chain(10..50).collect();
        let times = old_backlog(&order, 1);
        // Cycles young enough keep their own time.
        assert_eq!(times[&45], NOW + 4_500);
        old_backlog(&order, 3);
    }

    #[test]
    fn a_backlog_older_than_max_backfill_arriving_oldest_first_is_packed_in_order() {
        let order: Vec<u64> = [10, 50].into_iter().chain(11..50).collect();
        old_backlog(&order, 1);
        old_backlog(&order, 2);
        let order: Vec<u64> = (10..=50).collect();
        old_backlog(&order, 1);
    }

    #[test]
    fn a_restored_timeline_gives_the_same_times() {
        let mut n = Node::new();
        let frames = [(0, 10_000, NOW), (1, 20_000, NOW), (2, 30_000, NOW + 5)];
        let times = run(&mut n, &frames);
        let t = &n.t;
        let mut again =
            Timeline::restore(t.segments(), t.gaps(), t.evicted(), t.last_cycle()).unwrap();
        let max = times.iter().max().copied();
        let seen = Seen {
            above: 3,
            done_below: 3,
        };
        for (i, &(cycle, ts, _)) in frames.iter().enumerate() {
            // A later receive time does not matter for cycles already seen.
            let f = FrameAt {
                cycle,
                ts_ms: ts,
                parts: 1,
                interval_ms: 10_000,
            };
            let s = again.stamp(&f, seen, &clock(NOW + 3_600_000), max);
            assert_eq!(s.time_ms, times[i]);
        }
        // Nor for cycles the saved timeline had not seen (stored and acked after the
        // save, stored again after a crash): the same rules give the same times.
        let mut fresh = Timeline::restore(t.segments(), t.gaps(), t.evicted(), Some(0)).unwrap();
        let mut max = Some(times[0]);
        for (i, &(cycle, ts, _)) in frames.iter().enumerate().skip(1) {
            let f = FrameAt {
                cycle,
                ts_ms: ts,
                parts: 1,
                interval_ms: 10_000,
            };
            let seen = Seen {
                above: cycle,
                done_below: cycle,
            };
            let s = fresh.stamp(&f, seen, &clock(NOW + 3_600_000), max);
            assert_eq!(s.time_ms, times[i], "cycle {cycle}");
            max = Some(s.time_ms);
        }
        let own = |from_cycle| Segment {
            from_cycle,
            rule: Rule::OWN,
        };
        assert!(Timeline::restore(&[own(5), own(5)], &[], false, None).is_none());
        let empty = Gap {
            from_cycle: 5,
            to_cycle: 5,
            above_ms: 0,
            below_ms: 0,
            used: true,
        };
        assert!(Timeline::restore(&[], &[empty], false, None).is_none());
    }

    #[test]
    fn a_gap_frame_stored_again_after_a_restore_gets_the_same_substitute() {
        // Cycle 30 (right clock) before the skewed backlog 10..30: each backlog frame is
        // placed by the gap, which is saved with the first such frame.
        let mut n = Node {
            interval: 100,
            ..Node::new()
        };
        for c in 0..10 {
            n.cycle(c, NOW + c * 100, NOW + c * 100);
        }
        n.cycle(30, NOW + 3_000, NOW + 3_000);
        let first = n.frame(10, 0, 1, NOW + 1_000 + 10 * MINUTE, NOW + 3_010);
        assert!(first.save, "the gap must be saved before the ack");
        let second = n.frame(11, 0, 1, NOW + 1_100 + 10 * MINUTE, NOW + 3_020);
        assert!(!second.save, "saved already");
        let t = &n.t;
        let mut restored =
            Timeline::restore(t.segments(), t.gaps(), t.evicted(), t.last_cycle()).unwrap();
        for (f, want) in [(10, first.time_ms), (11, second.time_ms)] {
            let frame = FrameAt {
                cycle: f,
                ts_ms: NOW + f * 100 + 10 * MINUTE,
                parts: 1,
                interval_ms: 100,
            };
            let seen = Seen {
                above: 31,
                done_below: 10,
            };
            let s = restored.stamp(&frame, seen, &clock(NOW + 3_600_000), n.max);
            assert_eq!(s.time_ms, want, "cycle {f}");
        }
    }

    #[test]
    fn gaps_that_are_done_are_forgotten_and_used_ones_kept_longest() {
        let mut n = Node::new();
        // Every other cycle lost: a gap each time.
        for c in (0..20).step_by(2) {
            n.cycle(c, NOW + c * 10_000, NOW + c * 10_000);
        }
        assert_eq!(n.t.gaps().len(), MAX_GAPS);
        // A frame of an early gap that needs its gap (a clock far ahead) marks it used.
        let oldest = n.t.gaps()[0].from_cycle;
        let s = n.frame(oldest, 0, 1, NOW + 99 * MINUTE, NOW + 200_000);
        assert!(s.save && n.t.gaps()[0].used);
        // Two more gaps: the unused ones go first.
        for c in [21, 23] {
            n.cycle(c, NOW + c * 10_000, NOW + c * 10_000);
        }
        assert_eq!(n.t.gaps()[0].from_cycle, oldest);
        // Once every number below a gap's end is done, it is forgotten.
        for c in 0..24 {
            n.frame(c, 0, 1, NOW + c * 10_000, NOW + 300_000);
        }
        n.cycle(25, NOW + 250_000, NOW + 300_000);
        assert_eq!(
            n.t.gaps().iter().map(|g| g.from_cycle).collect::<Vec<_>>(),
            [24]
        );
    }

    #[test]
    fn a_timeline_allocates_its_gaps_only_once_a_cycle_is_missing() {
        let mut n = Node::new();
        for c in 0..10 {
            n.cycle(c, NOW + c * 10_000, NOW + c * 10_000);
        }
        assert_eq!((n.t.gaps().len(), n.t.heap_bytes()), (0, 0));
        assert!(size_of::<Timeline>() <= 200, "{}", size_of::<Timeline>());
        n.cycle(12, NOW + 120_000, NOW + 120_000);
        assert_eq!(n.t.gaps().len(), 1, "10 and 11 missing");
        assert!(n.t.heap_bytes() > 0);
        // Restored without gaps: equal to one that never had any.
        let t = Timeline::restore(n.t.segments(), &[], n.t.evicted(), n.t.last_cycle()).unwrap();
        assert_eq!(t.heap_bytes(), 0);
        let fresh = Timeline {
            last_cycle: t.last_cycle,
            segments: t.segments.clone(),
            ..Timeline::default()
        };
        assert_eq!(t, fresh);
    }

    #[test]
    fn more_clock_events_than_segments_keep_times_distinct() {
        let mut n = Node::new();
        // The clock flips between good and 1970 every cycle.
        let frames: Vec<_> = (0..20u64)
            .map(|i| {
                let now = NOW + i * 10_000;
                (i, if i % 2 == 0 { now } else { i * 1000 }, now)
            })
            .collect();
        let times = run(&mut n, &frames);
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(n.t.segments().len(), MAX_SEGMENTS);
        assert!(n.t.evicted());
    }

    #[test]
    fn extreme_values_saturate() {
        let f = |cycle, ts_ms| FrameAt {
            cycle,
            ts_ms,
            parts: 0,
            interval_ms: u32::MAX,
        };
        let all = Seen {
            above: u64::MAX,
            done_below: u64::MAX,
        };
        let none = Seen {
            above: 0,
            done_below: 0,
        };
        let mut t = Timeline::default();
        let c = Clock {
            now_ms: u64::MAX,
            max_skew_ms: u64::MAX,
            max_backfill_ms: u64::MAX,
            tick_ms: 1000,
        };
        t.stamp(&f(u64::MAX, u64::MAX), none, &c, Some(u64::MAX));
        t.stamp(&f(0, 0), all, &c, Some(u64::MAX));
        let mut t = Timeline::default();
        t.stamp(&f(0, u64::MAX), none, &clock(0), None);
        t.stamp(&f(1, 0), none, &clock(u64::MAX), Some(u64::MAX));
        t.stamp(&f(u64::MAX, 0), none, &clock(u64::MAX), Some(0));
        t.stamp(&f(5, u64::MAX), all, &clock(u64::MAX), Some(0));
        let gap = Gap {
            from_cycle: 0,
            to_cycle: u64::MAX,
            above_ms: u64::MAX,
            below_ms: 0,
            used: false,
        };
        let mut t = Timeline::restore(&[], &[gap], false, Some(u64::MAX)).unwrap();
        t.stamp(&f(7, u64::MAX), all, &c, None);
        t.stamp(&f(7, 0), all, &clock(0), None);
    }
}
