//! Telegraf's `cpu` `usage_*` fields: each CPU's share of time per mode since the
//! previous collection, computed from two cycles' counters exactly as Telegraf's `cpu`
//! input computes them (`plugins/inputs/cpu/cpu.go`, with gopsutil's `/proc/stat`
//! parsing: jiffies as `f64` divided by USER_HZ).
//!
//! # Which previous cycle
//! Counters travel raw (DESIGN.md, principle 4), so a rate needs the previous cycle's
//! counters — the *true* predecessor: the cycle whose last part has the sequence number
//! just below this cycle's first part (the parts of one cycle have consecutive sequence
//! numbers, so a frame's cycle is `seq - part ..= seq - part + parts - 1`). Frames arrive
//! in order in the steady state, but a resend after an outage or a reordering network
//! can bring a cycle before its predecessor; so [`CpuHistory`] keeps, per node, the
//! counters of the last two cycles of each CPU (and of `cpu-total`), keyed by boot id
//! and cycle:
//!
//! - a cycle whose predecessor is known gets `usage_*` against it;
//! - a cycle whose predecessor is not (first cycle of a boot, a lost or late frame) gets
//!   no `usage_*` — never a value against some older cycle;
//! - when the late predecessor arrives, the cycle that waited for it gets its `usage_*`
//!   then, written as a line with the waiting cycle's own timestamp (InfluxDB merges it
//!   into that point);
//! - a cycle stored again (a resend after the outputs refused a batch) finds the same
//!   neighbours and writes the same values.
//!
//! Memory: a record is 120 bytes; a Raspberry Pi 4 (4 CPUs and the total) holds 10.

use pimon_protocol::catalog::id;

/// Counters of one CPU in one cycle, in `/proc/stat` column order: user, nice, system,
/// idle, iowait, irq, softirq, steal, guest, guest_nice (jiffies).
pub type Times = [u64; 10];

/// The catalog ids of [`Times`] for one CPU (`node_cpu_seconds_total`, guest modes).
pub const CPU_IDS: [u16; 10] = [
    id::CPU_SECONDS_USER,
    id::CPU_SECONDS_NICE,
    id::CPU_SECONDS_SYSTEM,
    id::CPU_SECONDS_IDLE,
    id::CPU_SECONDS_IOWAIT,
    id::CPU_SECONDS_IRQ,
    id::CPU_SECONDS_SOFTIRQ,
    id::CPU_SECONDS_STEAL,
    id::CPU_GUEST_SECONDS_USER,
    id::CPU_GUEST_SECONDS_NICE,
];

/// The catalog ids of [`Times`] for all CPUs together (the `cpu` line).
pub const TOTAL_IDS: [u16; 10] = [
    id::CPU_TOTAL_SECONDS_USER,
    id::CPU_TOTAL_SECONDS_NICE,
    id::CPU_TOTAL_SECONDS_SYSTEM,
    id::CPU_TOTAL_SECONDS_IDLE,
    id::CPU_TOTAL_SECONDS_IOWAIT,
    id::CPU_TOTAL_SECONDS_IRQ,
    id::CPU_TOTAL_SECONDS_SOFTIRQ,
    id::CPU_TOTAL_SECONDS_STEAL,
    id::CPU_TOTAL_SECONDS_GUEST,
    id::CPU_TOTAL_SECONDS_GUEST_NICE,
];

/// Telegraf's `usage_*` field names, in the order [`usage`] returns them.
pub const USAGE_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// Which CPU: its number, or [`CpuKey::TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuKey(pub u16);

impl CpuKey {
    /// All CPUs together (Telegraf's `cpu-total`).
    pub const TOTAL: CpuKey = CpuKey(u16::MAX);
}

/// The cycle a frame belongs to, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// The collector run.
    pub boot_id: u64,
    /// Sequence number of the cycle's first part.
    pub first: u64,
    /// Sequence number of its last part.
    pub last: u64,
}

impl Cycle {
    /// The cycle of the frame with `seq`, part `part` of `parts`.
    pub fn of(boot_id: u64, seq: u64, part: u8, parts: u8) -> Cycle {
        let first = seq.saturating_sub(u64::from(part));
        Cycle {
            boot_id,
            first,
            last: first.saturating_add(u64::from(parts.max(1)) - 1),
        }
    }

    fn follows(&self, previous: &Cycle) -> bool {
        self.boot_id == previous.boot_id && previous.last.checked_add(1) == Some(self.first)
    }
}

/// Telegraf's `usage_*` of the interval from `prev` to `cur`, in [`USAGE_FIELDS`]
/// order; `None` where Telegraf writes none: the total time went backwards (Telegraf
/// reports an error) or did not move.
pub fn usage(prev: &Times, cur: &Times, user_hz: u16) -> Option<[f64; 10]> {
    // gopsutil: strconv.ParseFloat(field) / ClocksPerSec, ClocksPerSec = sysconf(CLK_TCK).
    let hz = f64::from(if user_hz == 0 { 100 } else { user_hz });
    let seconds = |t: &Times| t.map(|v| v as f64 / hz);
    let [
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    ] = seconds(cur);
    let [
        l_user,
        l_nice,
        l_system,
        l_idle,
        l_iowait,
        l_irq,
        l_softirq,
        l_steal,
        l_guest,
        l_guest_nice,
    ] = seconds(prev);
    // totalCPUTime: t.User + t.System + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
    // + t.Idle, summed in this order (floating-point addition is not associative).
    let total = user + system + nice + iowait + irq + softirq + steal + idle;
    let last_total = l_user + l_system + l_nice + l_iowait + l_irq + l_softirq + l_steal + l_idle;
    let delta = total - last_total;
    if delta.is_nan() || delta <= 0.0 {
        return None;
    }
    Some([
        100.0 * (user - l_user - (guest - l_guest)) / delta,
        100.0 * (system - l_system) / delta,
        100.0 * (idle - l_idle) / delta,
        100.0 * (nice - l_nice - (guest_nice - l_guest_nice)) / delta,
        100.0 * (iowait - l_iowait) / delta,
        100.0 * (irq - l_irq) / delta,
        100.0 * (softirq - l_softirq) / delta,
        100.0 * (steal - l_steal) / delta,
        100.0 * (guest - l_guest) / delta,
        100.0 * (guest_nice - l_guest_nice) / delta,
    ])
}

/// One CPU's counters in one cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Record {
    cycle: Cycle,
    key: CpuKey,
    /// The timestamp (Unix ms) the cycle's lines were written with.
    timestamp_ms: i64,
    user_hz: u16,
    /// Insertion order, for keeping the two latest of a key.
    stamp: u32,
    times: Times,
}

/// A cycle that waited for the cycle just stored: its `usage_*`, to be written with its
/// own timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LateUsage {
    /// The CPU.
    pub key: CpuKey,
    /// The waiting cycle's timestamp (Unix ms).
    pub timestamp_ms: i64,
    /// Its `usage_*`, in [`USAGE_FIELDS`] order.
    pub usage: [f64; 10],
}

/// What [`CpuHistory::record`] found for a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Found {
    /// `usage_*` of the cycle itself (its predecessor was known).
    pub usage: Option<[f64; 10]>,
    /// `usage_*` of its successor, which arrived first and waited for it.
    pub late: Option<LateUsage>,
}

/// Records kept per CPU: the cycle before the latest, for a successor that arrives
/// late, and the latest.
const KEEP_PER_CPU: usize = 2;

/// Per node: the latest cycles' counters of each CPU (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct CpuHistory {
    records: Vec<Record>,
    stamp: u32,
}

impl CpuHistory {
    /// Stores the counters of `key` in `cycle` (written with `timestamp_ms`) and returns
    /// the `usage_*` they complete: the cycle's own, against its predecessor, and its
    /// successor's when that arrived first.
    pub fn record(
        &mut self,
        cycle: Cycle,
        key: CpuKey,
        timestamp_ms: i64,
        user_hz: u16,
        times: Times,
    ) -> Found {
        let mut found = Found::default();
        for r in self.records.iter().filter(|r| r.key == key) {
            if cycle.follows(&r.cycle) {
                found.usage = usage(&r.times, &times, user_hz);
            } else if r.cycle.follows(&cycle) {
                found.late = usage(&times, &r.times, r.user_hz).map(|usage| LateUsage {
                    key,
                    timestamp_ms: r.timestamp_ms,
                    usage,
                });
            }
        }
        self.stamp = self.stamp.wrapping_add(1);
        let record = Record {
            cycle,
            key,
            timestamp_ms,
            user_hz,
            stamp: self.stamp,
            times,
        };
        match self
            .records
            .iter_mut()
            .find(|r| r.key == key && r.cycle == cycle)
        {
            Some(same) => *same = record,
            None => {
                let mine = self.records.iter().filter(|r| r.key == key).count();
                if mine >= KEEP_PER_CPU
                    && let Some(oldest) = self
                        .records
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.key == key)
                        .min_by_key(|(_, r)| r.stamp)
                        .map(|(i, _)| i)
                {
                    self.records[oldest] = record;
                } else {
                    self.records.push(record);
                }
            }
        }
        found
    }

    /// Heap bytes held (for the per-node memory figure).
    pub fn heap_bytes(&self) -> usize {
        self.records.capacity() * size_of::<Record>()
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Telegraf's formula written out as in `cpu.go`, on gopsutil's floats.
    fn telegraf(prev: &Times, cur: &Times) -> [f64; 10] {
        let s = |v: u64| v as f64 / 100.0;
        let (c, l) = (cur.map(s), prev.map(s));
        let total = |t: &[f64; 10]| t[0] + t[2] + t[1] + t[4] + t[5] + t[6] + t[7] + t[3];
        let d = total(&c) - total(&l);
        [
            100.0 * (c[0] - l[0] - (c[8] - l[8])) / d,
            100.0 * (c[2] - l[2]) / d,
            100.0 * (c[3] - l[3]) / d,
            100.0 * (c[1] - l[1] - (c[9] - l[9])) / d,
            100.0 * (c[4] - l[4]) / d,
            100.0 * (c[5] - l[5]) / d,
            100.0 * (c[6] - l[6]) / d,
            100.0 * (c[7] - l[7]) / d,
            100.0 * (c[8] - l[8]) / d,
            100.0 * (c[9] - l[9]) / d,
        ]
    }

    const A: Times = [340740, 8225, 147018, 3330118, 1576, 0, 11286, 0, 0, 0];
    const B: Times = [340803, 8225, 147031, 3330989, 1577, 0, 11290, 0, 0, 0];

    #[test]
    fn usage_is_telegrafs_formula_bit_for_bit() {
        let u = usage(&A, &B, 100).unwrap();
        assert_eq!(u, telegraf(&A, &B));
        assert_eq!(u.map(f64::to_bits), telegraf(&A, &B).map(f64::to_bits));
        // 63 + 13 + 871 + 1 + 4 = 952 jiffies in the interval.
        assert!((u[0] - 100.0 * 63.0 / 952.0).abs() < 1e-9, "{u:?}");
        assert!((u[2] - 100.0 * 871.0 / 952.0).abs() < 1e-9);
    }

    #[test]
    fn guest_time_is_taken_out_of_user_and_nice() {
        let prev = [1000, 500, 0, 0, 0, 0, 0, 0, 100, 50];
        let cur = [1100, 560, 0, 40, 0, 0, 0, 0, 150, 70];
        let u = usage(&prev, &cur, 100).unwrap();
        assert_eq!(u, telegraf(&prev, &cur));
        // total delta 100 + 60 + 40 = 200; user 100 - 50 guest, nice 60 - 20 (in
        // floating point, as Telegraf gets them: 19.999999999999986, not 20).
        for (got, want) in [(u[0], 25.0), (u[3], 20.0), (u[8], 25.0), (u[9], 10.0)] {
            assert!((got - want).abs() < 1e-9, "{u:?}");
        }
    }

    #[test]
    fn no_usage_when_time_stands_still_or_runs_backwards() {
        assert_eq!(usage(&A, &A, 100), None);
        assert_eq!(usage(&B, &A, 100), None);
    }

    fn cycle(first: u64) -> Cycle {
        Cycle::of(7, first, 0, 1)
    }

    #[test]
    fn cycles_of_several_parts_follow_each_other() {
        let c = Cycle::of(7, 12, 2, 3); // seq 12 is part 2 of 3: the cycle is 10..=12
        assert_eq!((c.first, c.last), (10, 12));
        assert!(Cycle::of(7, 13, 0, 2).follows(&c));
        assert!(!Cycle::of(7, 14, 0, 2).follows(&c));
        assert!(!Cycle::of(8, 13, 0, 2).follows(&c), "another boot");
    }

    #[test]
    fn in_order_cycles_get_usage_against_their_predecessor() {
        let mut h = CpuHistory::default();
        let key = CpuKey(0);
        assert_eq!(h.record(cycle(1), key, 1000, 100, A), Found::default());
        let f = h.record(cycle(2), key, 2000, 100, B);
        assert_eq!(f.usage, usage(&A, &B, 100));
        assert_eq!(f.late, None);
        // Another CPU's counters are not this CPU's predecessor.
        assert_eq!(h.record(cycle(3), CpuKey(1), 3000, 100, B).usage, None);
    }

    #[test]
    fn a_lost_cycle_leaves_its_successor_without_usage() {
        let mut h = CpuHistory::default();
        h.record(cycle(1), CpuKey::TOTAL, 1000, 100, A);
        // Cycle 2 never arrives: cycle 3 is not computed against cycle 1.
        assert_eq!(h.record(cycle(3), CpuKey::TOTAL, 3000, 100, B).usage, None);
    }

    #[test]
    fn a_late_predecessor_completes_the_cycle_that_waited() {
        let mut h = CpuHistory::default();
        let key = CpuKey(2);
        let c = [
            A,
            B,
            [340900, 8230, 147050, 3331800, 1580, 0, 11300, 0, 0, 0],
        ];
        h.record(cycle(1), key, 1000, 100, c[0]);
        // Cycle 3 arrives before cycle 2: nothing to compute it against yet.
        assert_eq!(h.record(cycle(3), key, 3000, 100, c[2]), Found::default());
        let f = h.record(cycle(2), key, 2000, 100, c[1]);
        assert_eq!(f.usage, usage(&c[0], &c[1], 100), "cycle 2 against 1");
        assert_eq!(
            f.late,
            Some(LateUsage {
                key,
                timestamp_ms: 3000,
                usage: usage(&c[1], &c[2], 100).unwrap()
            }),
            "cycle 3 against 2, with cycle 3's time"
        );
        assert_eq!(h.len(), 2, "the two latest cycles are kept");
    }

    #[test]
    fn a_cycle_stored_again_gets_the_same_usage() {
        let mut h = CpuHistory::default();
        h.record(cycle(1), CpuKey(0), 1000, 100, A);
        let first = h.record(cycle(2), CpuKey(0), 2000, 100, B);
        let again = h.record(cycle(2), CpuKey(0), 2000, 100, B);
        assert_eq!(first, again);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn memory_stays_two_cycles_per_cpu() {
        let mut h = CpuHistory::default();
        for n in 0..100u64 {
            for cpu in 0..4 {
                h.record(cycle(n), CpuKey(cpu), n as i64, 100, A);
            }
            h.record(cycle(n), CpuKey::TOTAL, n as i64, 100, A);
        }
        assert_eq!(h.len(), 10);
        assert_eq!(size_of::<Record>(), 120);
    }
}
