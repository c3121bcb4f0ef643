//! Telegraf's computed fields: what Telegraf's default inputs write that is not one
//! kernel number but a function of several (`mem.used_percent`, `disk.used`, the `mode`
//! tag) or of two cycles (`cpu.usage_*`).
//!
//! The catalog maps each kernel number to its Telegraf measurement and field; these
//! modules compute the rest, with Telegraf's own formulas (transcribed from Telegraf's
//! inputs and gopsutil, cited in each module, down to the order of floating-point
//! operations), so that the lines equal what Telegraf writes on the same machine:
//!
//! - [`cpu`]: `cpu` `usage_*` against the previous cycle (the only state kept, per node);
//! - [`mem`]: `mem` `used`, `used_percent`, `available_percent`, `cached`, the fields
//!   Telegraf writes as 0 when the kernel lacks them, and the `swap` line;
//! - [`disk`]: `disk` `used`, `used_percent`, `inodes_used`, `inodes_used_percent`, the
//!   `mode` tag, and no line for a filesystem of size 0;
//! - [`system`]: `system` `uptime` (rounded up, as `sysinfo(2)` does) and
//!   `uptime_format`; `processes` with every field Telegraf writes (0 when no process
//!   is in that state);
//! - `interrupts` `total`: the sum of the IRQ's `CPU<n>` fields;
//! - [`net`]: the `net` line with `interface=all`, the `/proc/net/snmp` counters the
//!   netstat source sends as `nstat` fields, under Telegraf's `net` names.
//!
//! Everything is computed from one sample group of one frame — the samples a source
//! pushed with one label set, which the collector keeps in one datagram
//! (docs/PROTOCOL.md §4.2) — so a frame's lines never wait for another frame, except
//! `usage_*`, which waits for the previous cycle ([`cpu`]).

pub mod cpu;
pub mod disk;
pub mod mem;
pub mod net;
pub mod system;

use pimon_protocol::Value;
use pimon_protocol::catalog::{InfluxSchema, Metric};
use pimon_protocol::text::influx::{FieldValue, Tag};

use cpu::{CpuHistory, CpuKey, Cycle, LateUsage, Times};

/// The samples of a frame pushed with one label set.
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    /// The label values.
    pub labels: &'a [&'a str],
    /// The samples, in frame order.
    pub samples: &'a [(&'static Metric, Value)],
}

impl Group<'_> {
    /// The raw value of catalog row `id` as an unsigned integer (the kernel's units), if
    /// the group has it and it is one.
    pub fn raw(&self, id: u16) -> Option<u64> {
        self.samples
            .iter()
            .find(|(m, _)| m.id == id)
            .and_then(|(_, v)| match *v {
                Value::Unsigned(v) => Some(v),
                Value::Signed(v) => u64::try_from(v).ok(),
                _ => None,
            })
    }

    /// Whether the group has catalog row `id`.
    pub fn has(&self, id: u16) -> bool {
        self.samples.iter().any(|(m, _)| m.id == id)
    }

    /// The raw values of `ids`, when the group has all of them.
    fn all<const N: usize>(&self, ids: &[u16; N]) -> Option<[u64; N]> {
        let mut out = [0u64; N];
        for (slot, &id) in out.iter_mut().zip(ids) {
            *slot = self.raw(id)?;
        }
        Some(out)
    }
}

/// A derived field's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Derived {
    /// An integer field (`42i`): Telegraf's uint64 and int fields.
    Int(i64),
    /// A float field.
    Float(f64),
    /// The string field kept in [`Extras::text`].
    Text,
}

/// Most derived fields on one line (`mem` has the most).
pub const MAX_DERIVED: usize = 40;

/// What a line gets beyond its catalog fields.
#[derive(Debug)]
pub struct Extras<'a> {
    /// Tags added, or replacing a catalog tag with the same key.
    pub tags: heapless::Vec<Tag<'a>, 2>,
    /// Fields replacing a catalog field with the same key, or added.
    pub fields: heapless::Vec<(&'static str, Derived), MAX_DERIVED>,
    /// Fields added only when the line has no field with the key (Telegraf writes 0 for
    /// what the kernel does not have).
    pub defaults: heapless::Vec<(&'static str, Derived), MAX_DERIVED>,
    /// Telegraf writes no such line (a filesystem of size 0).
    pub skip: bool,
    /// The text of a [`Derived::Text`] field.
    pub text: heapless::String<48>,
}

impl Default for Extras<'_> {
    fn default() -> Self {
        Extras::new()
    }
}

/// The extras of a line that gets none (most lines): one shared value, so rendering a
/// line does not build (and zero) an [`Extras`] of a few KiB.
pub static NO_EXTRAS: Extras<'static> = Extras::new();

impl Extras<'_> {
    /// No tags, no fields, no defaults.
    pub const fn new() -> Self {
        Extras {
            tags: heapless::Vec::new(),
            fields: heapless::Vec::new(),
            defaults: heapless::Vec::new(),
            skip: false,
            text: heapless::String::new(),
        }
    }

    fn set(&mut self, key: &'static str, value: Derived) {
        let _ = self.fields.push((key, value));
    }

    fn fill(&mut self, key: &'static str, value: Derived) {
        let _ = self.defaults.push((key, value));
    }

    /// The field value of `d` (the text borrowed from `self`).
    pub fn value(&self, d: Derived) -> FieldValue<'_> {
        match d {
            Derived::Int(v) => FieldValue::Integer(v),
            Derived::Float(v) => FieldValue::Float(v),
            Derived::Text => FieldValue::String(&self.text),
        }
    }
}

/// An unsigned count or byte size as Telegraf's InfluxDB output writes uint64 without
/// `uint_support`: an integer, saturated at `i64::MAX`.
fn int(v: u64) -> Derived {
    Derived::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Where a frame's cycle stands, for the `usage_*` of its CPU lines.
#[derive(Debug)]
pub struct CycleContext<'h> {
    /// The frame's cycle.
    pub cycle: Cycle,
    /// The timestamp its lines get (Unix ms).
    pub timestamp_ms: i64,
    /// The node's USER_HZ.
    pub user_hz: u16,
    /// The node's CPU counters of recent cycles; `None`: no `usage_*`.
    pub history: Option<&'h mut CpuHistory>,
    /// Cycles that waited for this one: their `usage_*`, to write after the frame.
    pub late: heapless::Vec<LateUsage, 8>,
}

/// Whether [`line_extras`] may give a line of `measurement` anything: when not, its
/// extras are [`NO_EXTRAS`].
pub fn has_line_extras(measurement: &str) -> bool {
    matches!(
        measurement,
        "cpu" | "mem" | "disk" | "system" | "processes" | "interrupts"
    )
}

/// The extras of the line of `schema` written from `group`.
pub fn line_extras<'a>(
    schema: &InfluxSchema,
    group: &Group<'a>,
    ctx: &mut CycleContext<'_>,
) -> Extras<'a> {
    let mut extras = Extras::default();
    match schema.measurement {
        "cpu" => cpu_usage(schema, group, ctx, &mut extras),
        "mem" => mem::mem(group, &mut extras),
        "disk" => disk::disk(group, &mut extras),
        "system" => system::system(group, &mut extras),
        "processes" => system::processes(group, &mut extras),
        "interrupts" => interrupts_total(group, &mut extras),
        _ => {}
    }
    extras
}

/// Whether these modules may write field `field` of `measurement`: its value is not
/// one sample of one frame but depends on other samples, on the previous cycle, or on
/// a sample being absent (Telegraf's zeros). A frame's sample count does not predict
/// these, so a check that every sample sent became exactly one field (the end-to-end
/// suite's) leaves them out on both sides; their values are tested against Telegraf's
/// formulas in each module and in `tests/telegraf_lines.rs`.
pub fn is_computed(measurement: &str, field: &str) -> bool {
    match measurement {
        "cpu" => cpu::USAGE_FIELDS.contains(&field),
        "mem" => {
            matches!(
                field,
                "cached" | "available" | "used" | "used_percent" | "available_percent"
            ) || mem::KB_FIELDS.iter().any(|(f, _)| *f == field)
                || mem::COUNT_FIELDS.iter().any(|(f, _)| *f == field)
        }
        "disk" => matches!(
            field,
            "used" | "used_percent" | "inodes_used" | "inodes_used_percent"
        ),
        "system" => matches!(field, "uptime" | "uptime_format"),
        "processes" => {
            field == "stopped" || field == "parked" || system::ZERO_FIELDS.contains(&field)
        }
        // Only from `group_lines`: no catalog row maps to `swap`.
        "swap" => true,
        "net" => net::is_protocol_field(field),
        "interrupts" => field == "total",
        _ => false,
    }
}

/// Lines Telegraf writes that no catalog row maps to, computed from `group`: `swap`
/// from `/proc/meminfo`'s group, its `in`/`out` from `/proc/vmstat`'s, `net`
/// `interface=all` from the netstat source's. Calls `line(measurement, extras)` for each
/// (the line's tags: `host` and the extras' tags).
pub fn group_lines<'a>(group: &Group<'a>, mut line: impl FnMut(&'static str, &Extras<'a>)) {
    if let Some(swap) = mem::swap(group) {
        line("swap", &swap);
    }
    if let Some(io) = mem::PSWP_IDS.and_then(|ids| mem::swap_io(group, ids)) {
        line("swap", &io);
    }
    if let Some(all) = net::all(group) {
        line("net", &all);
    }
}

/// Telegraf's `interrupts` `total`: the sum of the IRQ's `CPU<n>` fields (its group is
/// one IRQ's counts, one row per CPU).
fn interrupts_total(group: &Group<'_>, extras: &mut Extras<'_>) {
    let mut total = 0u64;
    for (metric, value) in group.samples {
        if metric.influx.is_some_and(|s| s.measurement == "interrupts")
            && let Value::Unsigned(v) = *value
        {
            total = total.wrapping_add(v);
        }
    }
    extras.set("total", int(total));
}

/// `usage_*` of a CPU line (a CPU's group, or the unlabelled group's `cpu-total`).
fn cpu_usage(
    schema: &InfluxSchema,
    group: &Group<'_>,
    ctx: &mut CycleContext<'_>,
    extras: &mut Extras<'_>,
) {
    let total = schema.const_tags.contains(&("cpu", "cpu-total"));
    let (key, ids) = if total {
        (CpuKey::TOTAL, &cpu::TOTAL_IDS)
    } else {
        let Some(number) = group.labels.first().and_then(|l| l.parse::<u16>().ok()) else {
            return;
        };
        (CpuKey(number), &cpu::CPU_IDS)
    };
    let Some(times): Option<Times> = group.all(ids) else {
        return;
    };
    let Some(history) = ctx.history.as_deref_mut() else {
        return;
    };
    let found = history.record(ctx.cycle, key, ctx.timestamp_ms, ctx.user_hz, times);
    if let Some(usage) = found.usage {
        for (key, value) in cpu::USAGE_FIELDS.iter().zip(usage) {
            extras.set(key, Derived::Float(value));
        }
    }
    if let Some(late) = found.late {
        let _ = ctx.late.push(late);
    }
}

#[cfg(test)]
mod computed_tests {
    use super::*;
    use pimon_protocol::catalog::CATALOG;

    /// A group of every catalog row of `measurement` (and optionally none), the way a
    /// source sends it, with plausible values.
    fn extras_of(measurement: &'static str, all: bool) -> Vec<(&'static str, &'static str)> {
        let rows: Vec<(&'static Metric, Value)> = if all {
            CATALOG
                .iter()
                .filter(|m| {
                    m.influx
                        .as_ref()
                        .is_some_and(|s| s.measurement == measurement)
                })
                .map(|m| (m, Value::Unsigned(4096)))
                .collect()
        } else {
            Vec::new()
        };
        let group = Group {
            labels: &[],
            samples: &rows,
        };
        let mut written = Vec::new();
        let schema = CATALOG
            .iter()
            .find_map(|m| m.influx.filter(|s| s.measurement == measurement))
            .expect("a catalog row of the measurement");
        let mut ctx = first_cycle();
        let extras = line_extras(&schema, &group, &mut ctx);
        for (f, _) in extras.fields.iter().chain(extras.defaults.iter()) {
            written.push((measurement, *f));
        }
        group_lines(&group, |m, e| {
            for (f, _) in e.fields.iter().chain(e.defaults.iter()) {
                written.push((m, *f));
            }
        });
        written
    }

    /// The context of a node's first cycle, without CPU history.
    fn first_cycle() -> CycleContext<'static> {
        CycleContext {
            cycle: Cycle {
                boot_id: 1,
                first: 1,
                last: 1,
            },
            timestamp_ms: 1_700_000_000_000,
            user_hz: 100,
            history: None,
            late: heapless::Vec::new(),
        }
    }

    /// Lines of a measurement [`has_line_extras`] leaves out get [`NO_EXTRAS`] without
    /// [`line_extras`] being asked: it must have nothing for them.
    #[test]
    fn measurements_without_line_extras_get_none_from_line_extras() {
        let mut measurements: Vec<&'static str> = CATALOG
            .iter()
            .filter_map(|m| m.influx.map(|s| s.measurement))
            .collect();
        measurements.sort_unstable();
        measurements.dedup();
        let mut without = 0;
        for measurement in measurements {
            if has_line_extras(measurement) {
                continue;
            }
            without += 1;
            let rows: Vec<(&'static Metric, Value)> = CATALOG
                .iter()
                .filter(|m| m.influx.is_some_and(|s| s.measurement == measurement))
                .map(|m| (m, Value::Unsigned(4096)))
                .collect();
            let group = Group {
                labels: &["0", "x", "y"],
                samples: &rows,
            };
            let schema = rows[0].0.influx.expect("a schema");
            let mut ctx = first_cycle();
            let e = line_extras(&schema, &group, &mut ctx);
            assert!(
                e.tags.is_empty() && e.fields.is_empty() && e.defaults.is_empty() && !e.skip,
                "{measurement}: line_extras gives {e:?}, but has_line_extras says none"
            );
        }
        assert!(without > 10, "most measurements get no extras ({without})");
    }

    #[test]
    fn interrupts_total_is_the_sum_of_the_cpus() {
        use pimon_protocol::catalog::id;
        let row = |id: u16| &CATALOG[usize::from(id)];
        let samples = [
            (row(id::INTERRUPTS_CPU0), Value::Unsigned(9864151)),
            (row(id::INTERRUPTS_CPU1), Value::Unsigned(7650437)),
            (row(id::INTERRUPTS_CPU2), Value::Unsigned(7122903)),
            (row(id::INTERRUPTS_CPU3), Value::Unsigned(7035624)),
        ];
        let group = Group {
            labels: &["11", "GICv2", "30 Level arch_timer"],
            samples: &samples,
        };
        let mut extras = Extras::default();
        interrupts_total(&group, &mut extras);
        assert_eq!(
            extras.fields.as_slice(),
            [("total", Derived::Int(9864151 + 7650437 + 7122903 + 7035624))]
        );
    }

    #[test]
    fn every_field_the_modules_write_is_listed_as_computed() {
        for measurement in ["mem", "disk", "system", "processes", "nstat", "interrupts"] {
            for all in [true, false] {
                for (m, f) in extras_of(measurement, all) {
                    assert!(is_computed(m, f), "{m}.{f} is written but not listed");
                }
            }
        }
        for f in cpu::USAGE_FIELDS {
            assert!(is_computed("cpu", f));
        }
        assert!(!is_computed("cpu", "time_user"), "a sample's field");
        assert!(!is_computed("net", "bytes_recv"), "a sample's field");
        assert!(!is_computed("interrupts", "CPU0"), "a sample's field");
    }
}
