//! The stamps of one node's values, one per *group* of slots written together.
//!
//! A node's values arrive a frame at a time, and a frame's values take consecutive
//! slots of the node's layout (its keys are in arrival order, the same every cycle):
//! a Raspberry Pi 4's cycle is three datagrams, so three runs of slots, each with the
//! one stamp of its datagram. [`Stamps`] keeps them as such runs — (end slot, stamp),
//! 8 bytes a run, a Pi 4 about 24 bytes — instead of 2 bytes per value (1.3 KB a Pi
//! 4). A series a frame did not refresh keeps its old stamp: writing a stamp to a
//! range of slots splits the runs around it (and merges neighbours of equal stamp).
//!
//! A node whose values are written in scattered order could need a run per slot; once
//! the runs would take more than the 2 bytes a slot of a plain array, the stamps are
//! kept as that array ([`Stamps::Slots`]), so no node pays more than before but room
//! for eight runs (64 bytes). The
//! stamps are the same either way: what a reader gets depends only on what was written
//! (property test against a plain array).

use std::ops::Range;

/// A run of slots ending before `end` (the previous run's end is its start) whose
/// values share the stamp `rel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    end: u32,
    rel: u16,
}

/// The stored (relative) stamp of every slot of a node; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamps {
    /// Runs in slot order covering `0..len`; neighbours have different stamps.
    Runs(Vec<Run>),
    /// One stamp per slot.
    Slots(Box<[u16]>),
}

impl Default for Stamps {
    fn default() -> Self {
        Stamps::Runs(Vec::new())
    }
}

/// True when room for `runs` runs over `len` slots is larger than a plain array (and
/// a few runs).
fn too_many(runs: usize, len: usize) -> bool {
    runs * size_of::<Run>() > len * size_of::<u16>() + 8 * size_of::<Run>()
}

impl Stamps {
    /// Stamps of `rels`, slot by slot, in the smaller form.
    pub fn from_slots(rels: impl IntoIterator<Item = u16>) -> Stamps {
        let mut runs: Vec<Run> = Vec::new();
        let mut len = 0u32;
        for rel in rels {
            len += 1;
            match runs.last_mut() {
                Some(r) if r.rel == rel => r.end = len,
                _ => runs.push(Run { end: len, rel }),
            }
        }
        runs.shrink_to_fit();
        let mut s = Stamps::Runs(runs);
        s.fit();
        s
    }

    /// Keeps the runs as a plain array once room for them is larger.
    fn fit(&mut self) {
        let room = match self {
            Stamps::Runs(runs) => runs.capacity(),
            Stamps::Slots(_) => return,
        };
        if too_many(room, self.len()) {
            *self = Stamps::Slots(self.iter().collect());
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        match self {
            Stamps::Runs(runs) => runs.last().map_or(0, |r| r.end as usize),
            Stamps::Slots(s) => s.len(),
        }
    }

    /// True when there is no slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of runs (slots in the plain form).
    #[cfg(test)]
    fn runs(&self) -> usize {
        match self {
            Stamps::Runs(runs) => runs.len(),
            Stamps::Slots(s) => s.len(),
        }
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Stamps::Runs(runs) => runs.capacity() * size_of::<Run>(),
            Stamps::Slots(s) => s.len() * size_of::<u16>(),
        }
    }

    /// The stamp of slot `i` (0 past the end).
    pub fn get(&self, i: usize) -> u16 {
        match self {
            Stamps::Runs(runs) => {
                let j = runs.partition_point(|r| r.end as usize <= i);
                runs.get(j).map_or(0, |r| r.rel)
            }
            Stamps::Slots(s) => s.get(i).copied().unwrap_or(0),
        }
    }

    /// Every slot's stamp, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        let (runs, slots): (&[Run], &[u16]) = match self {
            Stamps::Runs(runs) => (runs, &[]),
            Stamps::Slots(s) => (&[], s),
        };
        let mut start = 0u32;
        runs.iter()
            .flat_map(move |r| {
                let n = r.end - start;
                start = r.end;
                std::iter::repeat_n(r.rel, n as usize)
            })
            .chain(slots.iter().copied())
    }

    /// The distinct stamps, each at least once (once per run).
    pub fn distinct(&self) -> impl Iterator<Item = u16> + '_ {
        let (runs, slots): (&[Run], &[u16]) = match self {
            Stamps::Runs(runs) => (runs, &[]),
            Stamps::Slots(s) => (&[], s),
        };
        runs.iter().map(|r| r.rel).chain(slots.iter().copied())
    }

    /// The largest stamp (0 without slots).
    pub fn max(&self) -> u16 {
        self.distinct().max().unwrap_or(0)
    }

    /// Replaces every stamp `s` by `f(s)`.
    pub fn map(&mut self, f: impl Fn(u16) -> u16) {
        match self {
            Stamps::Runs(runs) => {
                for r in runs.iter_mut() {
                    r.rel = f(r.rel);
                }
                merge(runs);
            }
            Stamps::Slots(s) => {
                for rel in s.iter_mut() {
                    *rel = f(*rel);
                }
            }
        }
    }

    /// Adds `slot` to `run`, the slots being written at the stamp `rel`: a slot right
    /// after the run extends it; any other closes it (its slots get `rel`, once) and
    /// starts the next. [`Stamps::fill`] the last run when the writes end.
    pub fn extend_run(&mut self, run: &mut Range<usize>, slot: usize, rel: u16) {
        if slot == run.end && run.start < run.end {
            run.end += 1;
        } else {
            self.fill(std::mem::replace(run, slot..slot + 1), rel);
        }
    }

    /// Gives the slots of `range` (within `0..len`) the stamp `rel`.
    pub fn fill(&mut self, range: Range<usize>, rel: u16) {
        let len = self.len();
        let (a, b) = (range.start.min(len), range.end.min(len));
        if a >= b {
            return;
        }
        match self {
            Stamps::Runs(runs) => {
                // The run holding slot a, and the first run ending after b.
                let i = runs.partition_point(|r| r.end as usize <= a);
                let j = runs.partition_point(|r| r.end as usize <= b);
                let start_i = if i == 0 { 0 } else { runs[i - 1].end as usize };
                let mut new = [Run { end: 0, rel: 0 }; 2];
                let mut n = 0;
                if start_i < a {
                    new[n] = Run {
                        end: a as u32,
                        rel: runs[i].rel,
                    };
                    n += 1;
                }
                new[n] = Run { end: b as u32, rel };
                n += 1;
                runs.splice(i..j, new[..n].iter().copied());
                merge(runs);
                self.fit();
            }
            Stamps::Slots(s) => {
                if a == 0 && b == len {
                    *self = Stamps::Runs(vec![Run {
                        end: len as u32,
                        rel,
                    }]);
                } else {
                    s[a..b].fill(rel);
                }
            }
        }
    }

    /// Appends `n` slots with the stamp `rel`.
    pub fn extend(&mut self, n: usize, rel: u16) {
        if n == 0 {
            return;
        }
        let len = self.len();
        match self {
            Stamps::Runs(runs) => {
                let end = (len + n) as u32;
                match runs.last_mut() {
                    Some(r) if r.rel == rel => r.end = end,
                    _ => runs.push(Run { end, rel }),
                }
                self.fit();
            }
            Stamps::Slots(s) => {
                let mut v = std::mem::take(s).into_vec();
                v.resize(len + n, rel);
                *s = v.into_boxed_slice();
            }
        }
    }
}

/// Merges neighbouring runs of equal stamp.
fn merge(runs: &mut Vec<Run>) {
    runs.dedup_by(|later, earlier| {
        if later.rel == earlier.rel {
            earlier.end = later.end;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random writes as a node's frames make them (ranges of slots, appends, shifts of
    /// every stamp), applied to [`Stamps`] and to a plain array: the same stamps.
    #[test]
    fn runs_give_the_stamps_a_plain_array_gives() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..150 {
            let mut s = Stamps::default();
            let mut plain: Vec<u16> = Vec::new();
            let scattered = round % 4 == 0;
            for _ in 0..200 {
                match rng.u8(0..10) {
                    0 => {
                        let n = rng.usize(0..40);
                        let rel = rng.u16(0..6);
                        s.extend(n, rel);
                        plain.resize(plain.len() + n, rel);
                    }
                    1 => {
                        let shift = rng.u16(0..3);
                        let f = |r: u16| if r == 0 { 0 } else { r.saturating_add(shift) };
                        s.map(f);
                        plain.iter_mut().for_each(|r| *r = f(*r));
                    }
                    _ if !plain.is_empty() => {
                        let (a, b) = if scattered {
                            let a = rng.usize(0..plain.len());
                            (a, a + 1)
                        } else {
                            let a = rng.usize(0..plain.len());
                            (a, rng.usize(a..=plain.len()))
                        };
                        let rel = rng.u16(0..6);
                        s.fill(a..b, rel);
                        plain[a..b].fill(rel);
                    }
                    _ => {}
                }
                assert_eq!(s.len(), plain.len());
                assert_eq!(s.iter().collect::<Vec<_>>(), plain);
                for (i, &r) in plain.iter().enumerate() {
                    assert_eq!(s.get(i), r);
                }
                assert_eq!(s.max(), plain.iter().copied().max().unwrap_or(0));
                assert!(
                    s.heap_bytes() <= plain.len() * 2 + 8 * size_of::<Run>(),
                    "{} heap bytes for {} slots",
                    s.heap_bytes(),
                    plain.len()
                );
                assert_eq!(
                    Stamps::from_slots(plain.iter().copied())
                        .iter()
                        .collect::<Vec<_>>(),
                    plain
                );
                if let Stamps::Runs(runs) = &s {
                    assert!(
                        runs.windows(2)
                            .all(|w| w[0].rel != w[1].rel && w[0].end < w[1].end)
                    );
                }
            }
        }
    }

    #[test]
    fn a_cycle_of_three_frames_is_three_runs() {
        let mut s = Stamps::default();
        s.extend(216, 5);
        s.extend(216, 6);
        s.extend(216, 6);
        assert_eq!(s.runs(), 2, "equal neighbours merge");
        for cycle in 0..10u16 {
            s.fill(0..216, 10 + cycle);
            s.fill(216..432, 11 + cycle);
            s.fill(432..648, 12 + cycle);
            assert_eq!(s.runs(), 3);
        }
        assert_eq!(s.get(0), 19);
        assert_eq!(s.get(647), 21);
        assert!(s.heap_bytes() <= 4 * size_of::<Run>());
        // A series the last frame did not refresh keeps its stamp.
        s.fill(432..500, 30);
        s.fill(501..648, 30);
        assert_eq!((s.get(499), s.get(500), s.get(501)), (30, 21, 30));
        assert_eq!(s.runs(), 5);
    }
}
