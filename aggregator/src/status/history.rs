//! A small bounded history per node for the status page's sparklines: the last
//! [`POINTS`] steps (an hour at the default one-minute step) of CPU temperature,
//! 1-minute load and the frames-missing counter.
//!
//! Each node has three fixed rings of [`POINTS`] slots, indexed by step number, so
//! recording is a store into an array and nothing grows: 384 bytes per node (6 a
//! point: temperature and load in hundredths as `i16`/`u16`, the counter as 16 bits
//! above a base while the window's counters are within 65,535 of each other, else all
//! 32 bits in a box of its own; they were 16 a point as `u32` and `f32`s, 960 bytes,
//! then 10 with each slot's lap and a `u32` counter: a tenth of a large fleet's memory
//! per node), boxed so the map's nodes stay small (measured in `docs/BENCHMARKS.md`). Which slots hold a step of the window is one
//! word: the newest step recorded, and a bit per slot set when its slot holds the step
//! of the last [`POINTS`] up to it that falls there — so a node that stopped sending
//! leaves a gap rather than old values at the right place. (A record more than
//! [`POINTS`] steps before the newest, a clock stepped back by more than the window,
//! starts the ring again from it.) Nodes the store forgot are dropped from the history
//! too, so it is bounded by the store's `max_nodes`.

use std::collections::BTreeMap;

/// Points per node: an hour at one-minute steps.
pub const POINTS: usize = 60;

/// No temperature.
const NO_TEMP: i16 = i16::MIN;
/// No load.
const NO_LOAD: u16 = u16::MAX;

/// One node's rings.
#[derive(Debug, Clone)]
pub struct NodeHistory {
    /// The newest step recorded.
    newest: u32,
    /// Bit `i`: slot `i` holds the step ≡ `i` mod [`POINTS`] of `newest - POINTS + 1
    /// ..= newest` (none set: nothing recorded).
    held: u64,
    /// CPU temperature in hundredths of °C (±327 °C), `NO_TEMP` when none.
    temp: [i16; POINTS],
    /// 1-minute load in hundredths (up to 655.34), `NO_LOAD` when none.
    load: [u16; POINTS],
    /// The frames-missing counter (saturated to u32).
    missing: Missing,
}

/// The frames-missing counters of the slots, saturated to `u32`: 16 bits a slot above a
/// base while those held are within 65,535 of each other (a counter moves little in a
/// window), all 32 bits, boxed, while they are not.
#[derive(Debug, Clone)]
enum Missing {
    /// Slot `i` holds `base + off[i]`.
    Near { base: u32, off: [u16; POINTS] },
    /// Slot `i` holds `all[i]`.
    Far(Box<[u32; POINTS]>),
}

impl Missing {
    fn get(&self, i: usize) -> u32 {
        match self {
            Missing::Near { base, off } => base.saturating_add(u32::from(off[i])),
            Missing::Far(all) => all[i],
        }
    }

    /// Sets slot `i` to `v`; the slots of `held` (besides `i`) keep their values.
    fn set(&mut self, i: usize, v: u32, held: u64) {
        if let Missing::Near { base, off } = self
            && let Some(d) = v.checked_sub(*base).and_then(|d| u16::try_from(d).ok())
        {
            off[i] = d;
            return;
        }
        let others = (0..POINTS).filter(|&j| j != i && held & (1 << j) != 0);
        let (lo, hi) = others
            .clone()
            .map(|j| self.get(j))
            .fold((v, v), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if hi - lo <= u32::from(u16::MAX) {
            let mut off = [0u16; POINTS];
            for j in others {
                off[j] = (self.get(j) - lo) as u16;
            }
            off[i] = (v - lo) as u16;
            *self = Missing::Near { base: lo, off };
        } else {
            let mut all = Box::new([0u32; POINTS]);
            for j in others {
                all[j] = self.get(j);
            }
            all[i] = v;
            *self = Missing::Far(all);
        }
    }
}

impl Default for NodeHistory {
    fn default() -> Self {
        NodeHistory {
            newest: 0,
            held: 0,
            temp: [NO_TEMP; POINTS],
            load: [NO_LOAD; POINTS],
            missing: Missing::Near {
                base: 0,
                off: [0; POINTS],
            },
        }
    }
}

fn temp_of(v: i16) -> f32 {
    if v == NO_TEMP {
        f32::NAN
    } else {
        f32::from(v) / 100.0
    }
}

fn load_of(v: u16) -> f32 {
    if v == NO_LOAD {
        f32::NAN
    } else {
        f32::from(v) / 100.0
    }
}

/// What is recorded for a node at one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// CPU temperature in °C, if the node has one.
    pub temp: Option<f64>,
    /// 1-minute load, if known.
    pub load: Option<f64>,
    /// The node's frames-missing counter.
    pub missing: u64,
}

impl NodeHistory {
    fn slot(step: u32) -> usize {
        step as usize % POINTS
    }

    /// True when the slot of `step` holds `step`.
    fn holds(&self, step: u32) -> bool {
        step <= self.newest
            && self.newest - step < POINTS as u32
            && self.held & (1 << Self::slot(step)) != 0
    }

    fn record(&mut self, step: u32, s: Sample) {
        let i = Self::slot(step);
        if self.held == 0 || step.saturating_add(POINTS as u32) <= self.newest {
            // The first record, or one from before the window: the ring starts again.
            self.held = 0;
            self.newest = step;
        } else if step > self.newest {
            // The slots of the steps skipped (and of `step`) leave the window.
            if step - self.newest >= POINTS as u32 {
                self.held = 0;
            } else {
                for t in self.newest + 1..=step {
                    self.held &= !(1 << Self::slot(t));
                }
            }
            self.newest = step;
        }
        self.held |= 1 << i;
        self.temp[i] = s.temp.filter(|v| v.is_finite()).map_or(NO_TEMP, |v| {
            (v * 100.0).round().clamp(-32767.0, 32767.0) as i16
        });
        self.load[i] = s
            .load
            .filter(|v| v.is_finite())
            .map_or(NO_LOAD, |v| (v * 100.0).round().clamp(0.0, 65534.0) as u16);
        let held = self.held;
        self.missing
            .set(i, u32::try_from(s.missing).unwrap_or(u32::MAX), held);
    }

    /// The last [`POINTS`] steps up to `now_step`, oldest first: `(temp, load)` per
    /// step, `None` for a step without a record.
    pub fn series(&self, now_step: u32) -> impl Iterator<Item = Option<(f32, f32)>> + '_ {
        let first = now_step.saturating_sub(POINTS as u32 - 1);
        (first..=now_step).map(move |step| {
            let i = Self::slot(step);
            self.holds(step)
                .then(|| (temp_of(self.temp[i]), load_of(self.load[i])))
        })
    }

    /// How much the frames-missing counter grew over the window ending at `now_step`
    /// (from its oldest record there to `current`).
    pub fn missing_growth(&self, now_step: u32, current: u64) -> u64 {
        let first = now_step.saturating_sub(POINTS as u32 - 1);
        let oldest = (first..=now_step).find_map(|step| {
            self.holds(step)
                .then(|| u64::from(self.missing.get(Self::slot(step))))
        });
        oldest.map_or(0, |o| current.saturating_sub(o))
    }
}

/// Every node's history, and the step length.
#[derive(Debug)]
pub struct History {
    step_ms: u64,
    nodes: BTreeMap<Box<str>, Box<NodeHistory>>,
}

impl History {
    /// A history of [`POINTS`] steps spanning `span_ms` (one hour by default).
    pub fn new(span_ms: u64) -> History {
        History {
            step_ms: (span_ms / POINTS as u64).max(1),
            nodes: BTreeMap::new(),
        }
    }

    /// Milliseconds per step.
    pub fn step_ms(&self) -> u64 {
        self.step_ms
    }

    /// The step number of a Unix time in ms.
    pub fn step_of(&self, now_ms: u64) -> u32 {
        u32::try_from(now_ms / self.step_ms).unwrap_or(u32::MAX - 1)
    }

    /// Records `node`'s sample for the step of `now_ms` (a later record in the same
    /// step replaces an earlier one).
    pub fn record(&mut self, node: &str, now_ms: u64, sample: Sample) {
        let step = self.step_of(now_ms);
        match self.nodes.get_mut(node) {
            Some(h) => h.record(step, sample),
            None => {
                let mut h = Box::<NodeHistory>::default();
                h.record(step, sample);
                self.nodes.insert(node.into(), h);
            }
        }
    }

    /// Drops the nodes for which `keep` is false (nodes the store forgot).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.nodes.retain(|name, _| keep(name));
    }

    /// A node's history.
    pub fn get(&self, node: &str) -> Option<&NodeHistory> {
        self.nodes.get(node).map(|h| &**h)
    }

    /// Nodes with a history.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node has a history.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(temp: f64, load: f64, missing: u64) -> Sample {
        Sample {
            temp: Some(temp),
            load: Some(load),
            missing,
        }
    }

    #[test]
    fn keeps_the_last_points_in_order_with_gaps_and_nothing_older() {
        let mut h = History::new(60_000);
        assert_eq!(h.step_ms(), 1_000);
        for t in 0..100u64 {
            if t != 95 {
                h.record("pi", t * 1_000, s(t as f64, 1.0, t / 10));
            }
        }
        let n = h.get("pi").unwrap();
        let points: Vec<_> = n.series(99).collect();
        assert_eq!(points.len(), POINTS);
        assert_eq!(points[0], Some((40.0, 1.0)), "the oldest kept is step 40");
        assert_eq!(points[55], None, "step 95 was not recorded");
        assert_eq!(points[59], Some((99.0, 1.0)));
        // Steps after the node stopped: gaps, not old values.
        let later: Vec<_> = n.series(130).collect();
        assert_eq!(
            later.iter().filter(|p| p.is_some()).count(),
            28,
            "71..=99 but 95"
        );
        assert_eq!(n.missing_growth(99, 9), 5, "from 4 at step 40 to 9");
    }

    #[test]
    fn a_node_without_values_records_nan_and_forgotten_nodes_go() {
        let mut h = History::new(3_600_000);
        h.record(
            "pushgateway-job",
            0,
            Sample {
                temp: None,
                load: None,
                missing: 0,
            },
        );
        h.record("pi", 0, s(50.0, 0.5, 0));
        let p = h
            .get("pushgateway-job")
            .unwrap()
            .series(0)
            .last()
            .unwrap()
            .unwrap();
        assert!(p.0.is_nan() && p.1.is_nan());
        h.retain(|n| n == "pi");
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn points_keep_hundredths_and_saturate_instead_of_wrapping() {
        let mut h = History::new(60_000);
        h.record("pi", 0, s(48.27, 0.52, 3));
        h.record("pi", 1_000, s(-12.5, 1e9, 4));
        h.record("pi", 2_000, s(f64::NAN, -1.0, 5));
        let p: Vec<_> = h.get("pi").unwrap().series(2).flatten().collect();
        assert_eq!(p[0], (48.27, 0.52));
        assert_eq!(p[1], (-12.5, 655.34));
        assert!(p[2].0.is_nan());
        assert_eq!(p[2].1, 0.0);
        assert!(
            size_of::<NodeHistory>() <= 384,
            "{}",
            size_of::<NodeHistory>()
        );
    }

    /// The former rings: the lap of the step each slot holds.
    struct Laps {
        laps: [u16; POINTS],
        values: [Option<(u64, u64)>; POINTS],
    }

    impl Laps {
        fn lap(step: u32) -> u16 {
            ((step / POINTS as u32) % u32::from(u16::MAX)) as u16
        }
        fn record(&mut self, step: u32, v: (u64, u64)) {
            let i = step as usize % POINTS;
            self.laps[i] = Self::lap(step);
            self.values[i] = Some(v);
        }
        fn at(&self, step: u32) -> Option<(u64, u64)> {
            let i = step as usize % POINTS;
            (self.laps[i] == Self::lap(step))
                .then(|| self.values[i])
                .flatten()
        }
    }

    /// Records in step order with gaps, and steps back within the window (a later
    /// record in the same step, a clock stepped back a little): every query at or after
    /// the newest step answers what the laps answered.
    #[test]
    fn the_window_word_answers_what_the_laps_answered() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..100 {
            let mut h = NodeHistory::default();
            let mut old = Laps {
                laps: [u16::MAX; POINTS],
                values: [None; POINTS],
            };
            let mut step = rng.u32(0..1_000_000);
            let mut newest = step;
            for _ in 0..rng.usize(1..300) {
                step = match rng.u8(0..10) {
                    0 => step + rng.u32(0..150),
                    1 => newest.saturating_sub(rng.u32(0..POINTS as u32)),
                    2 => step,
                    _ => step + 1,
                };
                newest = newest.max(step);
                // Counters that move little, and some that jump (the full form).
                let missing = match rng.u8(0..40) {
                    0 => rng.u64(0..u64::from(u32::MAX) + 10),
                    _ => (step as u64 % 7_000) * rng.u64(0..20),
                };
                let temp = rng.u64(0..100);
                h.record(
                    step,
                    Sample {
                        temp: Some(temp as f64),
                        load: Some(1.0),
                        missing,
                    },
                );
                old.record(step, (temp, missing));
                for now in (newest..newest + 2 * POINTS as u32).step_by(7) {
                    let first = now.saturating_sub(POINTS as u32 - 1);
                    let want: Vec<Option<(f32, f32)>> = (first..=now)
                        .map(|s| old.at(s).map(|(t, _)| (t as f32, 1.0)))
                        .collect();
                    let got: Vec<Option<(f32, f32)>> = h.series(now).collect();
                    assert_eq!(got, want, "now {now}, newest {newest}");
                    let current = u64::from(u32::MAX) + 20;
                    let want = (first..=now)
                        .find_map(|s| old.at(s))
                        .map_or(0, |v| current - v.1.min(u64::from(u32::MAX)));
                    assert_eq!(h.missing_growth(now, current), want);
                }
            }
        }
    }
}
