//! A small bounded history per node for the status page's sparklines: the last
//! [`POINTS`] steps (an hour at the default one-minute step) of CPU temperature,
//! 1-minute load and the frames-missing counter.
//!
//! Each node has three fixed rings of [`POINTS`] slots (and the step each slot holds),
//! indexed by step number, so recording is a store into an array and nothing grows:
//! 600 bytes per node (10 a point: the step's lap as `u16`, temperature and load in
//! hundredths as `i16`/`u16`, the counter as `u32`; they were 16 a point as `u32` and
//! `f32`s, 960 bytes: a tenth of a large fleet's memory per node), boxed so the map's
//! nodes stay small (measured in `docs/BENCHMARKS.md`). A slot remembers
//! its step, so a node that stopped sending leaves a gap rather than old values at the
//! right place. Nodes the store forgot are dropped from the history too, so it is
//! bounded by the store's `max_nodes`.

use std::collections::BTreeMap;

/// Points per node: an hour at one-minute steps.
pub const POINTS: usize = 60;

/// No value in this slot.
const EMPTY: u16 = u16::MAX;
/// No temperature.
const NO_TEMP: i16 = i16::MIN;
/// No load.
const NO_LOAD: u16 = u16::MAX;

/// One node's rings.
#[derive(Debug, Clone)]
pub struct NodeHistory {
    /// The lap (step / [`POINTS`], cut to 16 bits) of the step each slot holds
    /// (`EMPTY`: none). Slot `i` holds steps ≡ `i` mod [`POINTS`].
    laps: [u16; POINTS],
    /// CPU temperature in hundredths of °C (±327 °C), `NO_TEMP` when none.
    temp: [i16; POINTS],
    /// 1-minute load in hundredths (up to 655.34), `NO_LOAD` when none.
    load: [u16; POINTS],
    /// The frames-missing counter (saturated to u32).
    missing: [u32; POINTS],
}

impl Default for NodeHistory {
    fn default() -> Self {
        NodeHistory {
            laps: [EMPTY; POINTS],
            temp: [NO_TEMP; POINTS],
            load: [NO_LOAD; POINTS],
            missing: [0; POINTS],
        }
    }
}

fn lap(step: u32) -> u16 {
    // EMPTY is never a lap: the 65,535th lap reads as the first.
    ((step / POINTS as u32) % u32::from(EMPTY)) as u16
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

    fn record(&mut self, step: u32, s: Sample) {
        let i = Self::slot(step);
        self.laps[i] = lap(step);
        self.temp[i] = s.temp.filter(|v| v.is_finite()).map_or(NO_TEMP, |v| {
            (v * 100.0).round().clamp(-32767.0, 32767.0) as i16
        });
        self.load[i] = s
            .load
            .filter(|v| v.is_finite())
            .map_or(NO_LOAD, |v| (v * 100.0).round().clamp(0.0, 65534.0) as u16);
        self.missing[i] = u32::try_from(s.missing).unwrap_or(u32::MAX);
    }

    /// The last [`POINTS`] steps up to `now_step`, oldest first: `(temp, load)` per
    /// step, `None` for a step without a record.
    pub fn series(&self, now_step: u32) -> impl Iterator<Item = Option<(f32, f32)>> + '_ {
        let first = now_step.saturating_sub(POINTS as u32 - 1);
        (first..=now_step).map(move |step| {
            let i = Self::slot(step);
            (self.laps[i] == lap(step)).then(|| (temp_of(self.temp[i]), load_of(self.load[i])))
        })
    }

    /// How much the frames-missing counter grew over the window ending at `now_step`
    /// (from its oldest record there to `current`).
    pub fn missing_growth(&self, now_step: u32, current: u64) -> u64 {
        let first = now_step.saturating_sub(POINTS as u32 - 1);
        let oldest = (first..=now_step).find_map(|step| {
            let i = Self::slot(step);
            (self.laps[i] == lap(step)).then(|| u64::from(self.missing[i]))
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
            size_of::<NodeHistory>() <= 600,
            "{}",
            size_of::<NodeHistory>()
        );
    }
}
