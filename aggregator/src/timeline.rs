//! The time each stored frame gets in the line protocol.
//!
//! InfluxDB keeps one point per series and timestamp, so two frames of a node that get
//! the same time silently become one. A frame normally gets its own timestamp. When the
//! node's clock cannot be trusted (off by more than `max_skew`, or stepped back so that
//! its frames would land on or before times already used), the frame gets a
//! *substitute*, and the substitute must be
//! - **distinct** per cycle and **increasing in sequence order** within a boot, and
//!   above every time already given to the node (all boots), so nothing collapses;
//! - **the same every time the same frame is stored** (after an aggregator restart, a
//!   rolled-back batch, a keyed replay): then InfluxDB overwrites the point instead of
//!   holding two. So it is derived only from the frame and this boot's saved
//!   [`Timeline`], never from the receive time of the batch that happens to carry it.
//!
//! A [`Timeline`] is a short list of [`Segment`]s, each starting at a cycle (the
//! sequence number of a cycle's first part: all parts of a cycle share one time):
//! - [`Rule::Offset`]`(o)`: time = frame timestamp + `o`. `Offset(0)` is the node's own
//!   clock; `Offset(now - ts)` is chosen when a live frame's clock is off (a Pi booting
//!   at 1970) or stepped back: it lines the node's clock up with the receive clock at
//!   that moment and keeps the spacing of its cycles (so a backlog resent later lands at
//!   the times it was collected).
//! - [`Rule::Pack`]`(base)`: time = `base` + (cycle − segment start) × one tick of the
//!   output precision. Used only when the node's times already ran ahead of the receive
//!   clock (so lining up with "now" would go back in time): cycles are placed one tick
//!   apart after the highest time used, until the receive clock has passed it.
//!
//! A new segment is decided only by a *live* frame (a cycle above every cycle seen of
//! this boot), and applies from that cycle on; resends of older cycles use the segment
//! their cycle falls in. A boot starts with `Offset(0)` implied, so a node with a good
//! clock never adds a segment (and never needs its timeline saved urgently).
//!
//! A timestamp *behind* the receive clock by up to `max_backfill` is not evidence of a
//! bad clock: it is what a backlog looks like (the aggregator was down, or a resend
//! arrives after a restart and looks live). So the node's own clock is kept while its
//! times are not in the future beyond `max_skew`, not older than `max_backfill`, and
//! keep increasing; an `Offset(o ≠ 0)` segment is kept while its times increase and are
//! not in the future. Neither test involves how long ago the frame was received, so
//! the same frame gets the same time whenever it is stored again.
//!
//! Times are compared at the output precision (`tick`): with `precision = s`, distinct
//! means distinct seconds, and `Pack` places cycles one second apart.
//!
//! Limits (docs/RELIABILITY.md, timestamps): at most [`MAX_SEGMENTS`] segments per boot
//! are kept (a boot with more clock events gives its oldest cycles the oldest kept
//! segment); a clock step that coincides with reordering (a cycle collected after the
//! step arrives after a later one) gives that cycle its segment's time computed from its
//! own clock.

/// Most segments kept per boot.
pub const MAX_SEGMENTS: usize = 4;

/// How a segment turns a frame into a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The frame's timestamp plus this many milliseconds.
    Offset(i64),
    /// This time (Unix ms) for the segment's first cycle, one tick more per cycle.
    Pack(u64),
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
        rule: Rule::Offset(0),
    };

    fn time(&self, ts_ms: u64, cycle: u64, tick_ms: u64) -> u64 {
        match self.rule {
            Rule::Offset(o) => {
                (i128::from(ts_ms) + i128::from(o)).clamp(0, i128::from(u64::MAX)) as u64
            }
            Rule::Pack(base) => base.saturating_add(
                cycle
                    .saturating_sub(self.from_cycle)
                    .saturating_mul(tick_ms),
            ),
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

/// The time given to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Unix ms.
    pub time_ms: u64,
    /// The frame was the newest cycle of its boot so far.
    pub live: bool,
    /// This frame added a segment (the timeline must be saved before its ack).
    pub added_segment: bool,
}

/// The time rules of one boot of one node; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    segments: heapless::Vec<Segment, MAX_SEGMENTS>,
    /// Segments were dropped to make room: cycles before the first kept one use it.
    evicted: bool,
    /// First sequence number of the newest cycle seen.
    last_cycle: Option<u64>,
}

impl Timeline {
    /// A timeline rebuilt from saved parts. `None` when the segments do not ascend or
    /// are too many.
    pub fn restore(
        segments: &[Segment],
        evicted: bool,
        last_cycle: Option<u64>,
    ) -> Option<Timeline> {
        if !segments
            .windows(2)
            .all(|w| w[0].from_cycle < w[1].from_cycle)
        {
            return None;
        }
        Some(Timeline {
            segments: heapless::Vec::from_slice(segments).ok()?,
            evicted,
            last_cycle,
        })
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
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

    /// The time for a frame of this boot: cycle `cycle` (its sequence number minus its
    /// part index), timestamp `ts_ms`. `max_time_ms` is the highest time given to any
    /// frame of the node so far (`None`: none yet).
    ///
    /// ```
    /// use pimon_aggregator::timeline::{Clock, Timeline};
    /// let clock = Clock {
    ///     now_ms: 1_700_000_000_000, max_skew_ms: 300_000, max_backfill_ms: 604_800_000,
    ///     tick_ms: 1,
    /// };
    /// let mut t = Timeline::default();
    /// // A Pi at 1970: lined up with the receive time, its 10 s spacing kept.
    /// let a = t.stamp(0, 60_000, &clock, None);
    /// let b = t.stamp(1, 70_000, &clock, Some(a.time_ms));
    /// assert_eq!((a.time_ms, b.time_ms), (clock.now_ms, clock.now_ms + 10_000));
    /// // The same frames again (a restart, a replay): the same times.
    /// assert_eq!(t.stamp(1, 70_000, &clock, Some(b.time_ms)).time_ms, b.time_ms);
    /// ```
    pub fn stamp(
        &mut self,
        cycle: u64,
        ts_ms: u64,
        clock: &Clock,
        max_time_ms: Option<u64>,
    ) -> Stamp {
        let tick = clock.tick_ms.max(1);
        let live = self.last_cycle.is_none_or(|last| cycle > last);
        if !live {
            return Stamp {
                time_ms: self.segment_for(cycle).time(ts_ms, cycle, tick),
                live,
                added_segment: false,
            };
        }
        self.last_cycle = Some(cycle);
        let above = |t: u64| max_time_ms.is_none_or(|m| t > m);
        let above_tick = |t: u64| max_time_ms.is_none_or(|m| t / tick > m / tick);
        let not_future = |t: u64| t <= clock.now_ms.saturating_add(clock.max_skew_ms);
        let plausible =
            |t: u64| not_future(t) && clock.now_ms.saturating_sub(t) <= clock.max_backfill_ms;
        let current = self.segment_for(cycle);
        let t_current = current.time(ts_ms, cycle, tick);
        let own_ok = plausible(ts_ms) && above(ts_ms);
        let keep = match current.rule {
            // The node's own clock, still plausible and still moving forward.
            Rule::Offset(0) => own_ok,
            Rule::Offset(_) => {
                // A clock that became good (near now) again: back to its own time.
                let good_again = own_ok && ts_ms.abs_diff(clock.now_ms) <= clock.max_skew_ms;
                !good_again && above(t_current) && not_future(t_current)
            }
            // Packing lasts while the times used are still ahead of the receive clock.
            Rule::Pack(_) => {
                above_tick(t_current)
                    && max_time_ms.is_some_and(|m| m / tick >= clock.now_ms / tick)
                    && !own_ok
            }
        };
        if keep {
            return Stamp {
                time_ms: t_current,
                live,
                added_segment: false,
            };
        }
        let rule = if own_ok {
            Rule::Offset(0)
        } else if above_tick(clock.now_ms) {
            let o = i128::from(clock.now_ms) - i128::from(ts_ms);
            Rule::Offset(o.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
        } else {
            let m = max_time_ms.unwrap_or(0);
            Rule::Pack((m / tick).saturating_add(1).saturating_mul(tick))
        };
        let segment = Segment {
            from_cycle: cycle,
            rule,
        };
        self.push(segment);
        Stamp {
            time_ms: segment.time(ts_ms, cycle, tick),
            live,
            added_segment: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn clock(now_ms: u64) -> Clock {
        Clock {
            now_ms,
            max_skew_ms: 300_000,
            max_backfill_ms: 7 * 24 * 3600 * 1000,
            tick_ms: 1,
        }
    }

    /// Stamps `(cycle, ts, now)` in order, tracking the node's highest time.
    fn run(t: &mut Timeline, frames: &[(u64, u64, u64)], tick: u64) -> Vec<u64> {
        let mut max = None;
        frames
            .iter()
            .map(|&(cycle, ts, now)| {
                let s = t.stamp(
                    cycle,
                    ts,
                    &Clock {
                        tick_ms: tick,
                        ..clock(now)
                    },
                    max,
                );
                max = Some(max.unwrap_or(0).max(s.time_ms));
                s.time_ms
            })
            .collect()
    }

    #[test]
    fn a_good_clock_keeps_its_own_times_and_adds_no_segment() {
        let mut t = Timeline::default();
        let frames: Vec<_> = (0..5)
            .map(|i| (i, NOW + i * 10_000, NOW + i * 10_000 + 3))
            .collect();
        let times = run(&mut t, &frames, 1);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
        assert!(t.segments().is_empty());
    }

    #[test]
    fn parts_of_a_cycle_share_its_time_whichever_arrives_first() {
        let mut t = Timeline::default();
        let c = clock(NOW);
        let p1 = t.stamp(10, 5_000, &c, None); // part 1 of cycle 10, clock at 1970
        let p0 = t.stamp(10, 5_000, &c, Some(p1.time_ms));
        assert_eq!(p0.time_ms, p1.time_ms);
        assert!(p1.added_segment && !p0.added_segment);
    }

    #[test]
    fn a_clock_stepped_back_continues_after_the_last_time_used() {
        let mut t = Timeline::default();
        // Good clock, then stepped back 60 s (within the skew bound), 10 s cycles.
        let times = run(
            &mut t,
            &[
                (0, NOW, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW - 40_000, NOW + 20_000),
                (3, NOW - 30_000, NOW + 30_000),
            ],
            1,
        );
        assert_eq!(times, [NOW, NOW + 10_000, NOW + 20_000, NOW + 30_000]);
    }

    #[test]
    fn times_ahead_of_the_receive_clock_pack_then_return_to_the_own_clock() {
        let mut t = Timeline::default();
        // The node's clock ran 60 s fast (allowed), then NTP fixed it.
        let fast = NOW + 60_000;
        let times = run(
            &mut t,
            &[
                (0, fast, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW + 20_000, NOW + 20_000),
                (3, NOW + 70_000, NOW + 70_000),
            ],
            1,
        );
        assert_eq!(times, [fast, fast + 1, fast + 2, NOW + 70_000]);
        assert_eq!(t.segments()[0].rule, Rule::Pack(fast + 1));
        assert_eq!(t.segments()[1].rule, Rule::Offset(0));
    }

    #[test]
    fn at_seconds_precision_packed_cycles_are_a_second_apart() {
        let mut t = Timeline::default();
        let fast = NOW + 60_000;
        let times = run(
            &mut t,
            &[
                (0, fast, NOW),
                (1, NOW + 10_000, NOW + 10_000),
                (2, NOW + 20_000, NOW + 20_000),
            ],
            1000,
        );
        assert_eq!(times, [fast, fast + 1000, fast + 2000]);
    }

    #[test]
    fn an_interval_below_the_tick_keeps_its_own_times_rather_than_drifting_ahead() {
        let mut t = Timeline::default();
        let frames: Vec<_> = (0..20).map(|i| (i, NOW + i * 100, NOW + i * 100)).collect();
        let times = run(&mut t, &frames, 1000);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
    }

    #[test]
    fn resends_use_the_segment_of_their_cycle() {
        let mut t = Timeline::default();
        let times = run(
            &mut t,
            &[
                (0, NOW, NOW),
                (4, 40_000, NOW + 40_000), // clock reset to 1970: lined up with now
                (6, 60_000, NOW + 60_000),
            ],
            1,
        );
        assert_eq!(times, [NOW, NOW + 40_000, NOW + 60_000]);
        let c = clock(NOW + 61_000);
        // Cycle 2 (before the reset) keeps its own time; cycle 5 uses the offset.
        assert_eq!(
            t.stamp(2, NOW + 20_000, &c, Some(NOW + 60_000)).time_ms,
            NOW + 20_000
        );
        assert_eq!(
            t.stamp(5, 50_000, &c, Some(NOW + 60_000)).time_ms,
            NOW + 50_000
        );
    }

    #[test]
    fn a_backlog_received_late_keeps_its_own_times() {
        // The aggregator was down for an hour; the collector's ring arrives oldest first.
        let mut t = Timeline::default();
        let later = NOW + 3_600_000;
        let frames: Vec<_> = (0..6).map(|i| (i, NOW + i * 10_000, later + i)).collect();
        let times = run(&mut t, &frames, 1);
        assert_eq!(times, frames.iter().map(|f| f.1).collect::<Vec<_>>());
        assert!(t.segments().is_empty());
        // Older than max_backfill is not a backlog but a clock far behind.
        let mut t = Timeline::default();
        let ancient = NOW - 8 * 24 * 3_600_000;
        assert_eq!(run(&mut t, &[(0, ancient, NOW)], 1), [NOW]);
    }

    #[test]
    fn a_clock_ahead_beyond_the_skew_is_lined_up_with_the_receive_clock() {
        let mut t = Timeline::default();
        let ahead = NOW + 3_600_000;
        let times = run(
            &mut t,
            &[(0, ahead, NOW), (1, ahead + 10_000, NOW + 10_000)],
            1,
        );
        assert_eq!(times, [NOW, NOW + 10_000]);
    }

    #[test]
    fn a_restored_timeline_gives_the_same_times() {
        let mut t = Timeline::default();
        let frames = [(0, 10_000, NOW), (1, 20_000, NOW), (2, 30_000, NOW + 5)];
        let times = run(&mut t, &frames, 1);
        let mut again = Timeline::restore(t.segments(), t.evicted(), t.last_cycle()).unwrap();
        let max = times.iter().max().copied();
        for (i, &(cycle, ts, _)) in frames.iter().enumerate() {
            // A later receive time does not matter for cycles already seen.
            let s = again.stamp(cycle, ts, &clock(NOW + 3_600_000), max);
            assert_eq!(s.time_ms, times[i]);
        }
        // Nor for cycles the saved timeline had not seen (stored and acked after the
        // save, stored again after a crash): the same rules give the same times.
        let mut fresh = Timeline::restore(t.segments(), t.evicted(), Some(0)).unwrap();
        let mut max = Some(times[0]);
        for (i, &(cycle, ts, _)) in frames.iter().enumerate().skip(1) {
            let s = fresh.stamp(cycle, ts, &clock(NOW + 3_600_000), max);
            assert_eq!(s.time_ms, times[i], "cycle {cycle}");
            max = Some(s.time_ms);
        }
        assert!(
            Timeline::restore(
                &[
                    Segment {
                        from_cycle: 5,
                        rule: Rule::Offset(0)
                    },
                    Segment {
                        from_cycle: 5,
                        rule: Rule::Offset(1)
                    }
                ],
                false,
                None
            )
            .is_none()
        );
    }

    #[test]
    fn more_clock_events_than_segments_keep_times_distinct() {
        let mut t = Timeline::default();
        // The clock flips between good and 1970 every cycle.
        let frames: Vec<_> = (0..20u64)
            .map(|i| {
                let now = NOW + i * 10_000;
                (i, if i % 2 == 0 { now } else { i * 1000 }, now)
            })
            .collect();
        let times = run(&mut t, &frames, 1);
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(t.segments().len(), MAX_SEGMENTS);
        assert!(t.evicted());
    }

    #[test]
    fn extreme_values_saturate() {
        let mut t = Timeline::default();
        let c = Clock {
            now_ms: u64::MAX,
            max_skew_ms: u64::MAX,
            max_backfill_ms: u64::MAX,
            tick_ms: 1000,
        };
        t.stamp(u64::MAX, u64::MAX, &c, Some(u64::MAX));
        t.stamp(0, 0, &c, Some(u64::MAX));
        let mut t = Timeline::default();
        t.stamp(0, u64::MAX, &clock(0), None);
        t.stamp(1, 0, &clock(u64::MAX), Some(u64::MAX));
    }
}
