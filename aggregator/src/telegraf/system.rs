//! Telegraf's `system` fields from `/proc/uptime`'s group and its `processes` fields
//! from the process scan's group (`plugins/inputs/system/system.go`,
//! `plugins/inputs/processes/processes_notwindows.go`).
//!
//! - `uptime`: gopsutil reads `sysinfo(2)`, which rounds the boot-time clock *up* to the
//!   second (`tv_sec + (tv_nsec ? 1 : 0)`); `/proc/uptime` truncates it to hundredths, so
//!   Telegraf's value is the whole seconds plus one (except at an exact second, once in
//!   10⁹ nanoseconds); `uptime_format` is Telegraf's `formatUptime` of it
//!   (`"3 days, 18:47"`, `" 2:05"` under a day).
//! - `processes`: every field Telegraf's Linux `/proc` scan writes, 0 for a state no
//!   process is in (node_exporter's counts, which the collector sends, leave those out);
//!   `stopped` counts states `T` and `t` together; `unknown` is always 0 (Telegraf counts
//!   an unknown letter in `total` only); `parked` is written as Telegraf writes it: 1
//!   when any process is parked, however many.

use pimon_protocol::catalog::id;

use super::{Derived, Extras, Group, int};

/// Telegraf's `formatUptime`: `"%d day%s, "` when a day or more, then `"%2d:%02d"`.
pub fn format_uptime(uptime: u64, out: &mut impl core::fmt::Write) -> core::fmt::Result {
    let days = uptime / (60 * 60 * 24);
    if days != 0 {
        let s = if days > 1 { "s" } else { "" };
        write!(out, "{days} day{s}, ")?;
    }
    let minutes = uptime / 60;
    let hours = (minutes / 60) % 24;
    write!(out, "{hours:2}:{:02}", minutes % 60)
}

/// `uptime` and `uptime_format`, on the line of `/proc/uptime`'s group.
pub(super) fn system(group: &Group<'_>, extras: &mut Extras<'_>) {
    let Some(hundredths) = group.raw(id::UPTIME) else {
        return;
    };
    let uptime = hundredths / 100 + 1;
    extras.set("uptime", int(uptime));
    extras.text.clear();
    if format_uptime(uptime, &mut extras.text).is_ok() {
        extras.set("uptime_format", Derived::Text);
    }
}

/// Telegraf's processes fields written as 0 when the scan found no such process.
pub(super) const ZERO_FIELDS: [&str; 11] = [
    "blocked",
    "zombies",
    "stopped",
    "running",
    "sleeping",
    "total",
    "unknown",
    "dead",
    "paging",
    "total_threads",
    "idle",
];

/// The `processes` line of the process scan's group.
pub(super) fn processes(group: &Group<'_>, extras: &mut Extras<'_>) {
    if !group.has(id::PROCESSES_PIDS) {
        return;
    }
    let stopped = group.raw(id::PROCESSES_STATE_T).unwrap_or(0)
        + group.raw(id::PROCESSES_STATE_LOWER_T).unwrap_or(0);
    extras.set("stopped", int(stopped));
    if group.raw(id::PROCESSES_STATE_P).is_some_and(|n| n > 0) {
        extras.set("parked", Derived::Int(1));
    }
    for field in ZERO_FIELDS {
        extras.fill(field, Derived::Int(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Value;
    use pimon_protocol::catalog::{Metric, lookup};

    fn format(uptime: u64) -> String {
        let mut s = String::new();
        format_uptime(uptime, &mut s).unwrap();
        s
    }

    /// `formatUptime`'s format, worked by hand: `%2d:%02d`, the day plural.
    #[test]
    fn uptime_format_is_telegrafs() {
        assert_eq!(format(0), " 0:00");
        assert_eq!(format(125), " 0:02");
        assert_eq!(format(3 * 3600 + 25 * 60), " 3:25");
        assert_eq!(format(86_400), "1 day,  0:00");
        assert_eq!(format(354_821), "4 days,  2:33");
        assert_eq!(format(1_209_383), "13 days, 23:56");
    }

    fn samples(s: &[(u16, u64)]) -> Vec<(&'static Metric, Value)> {
        s.iter()
            .map(|&(id, v)| (lookup(id).unwrap(), Value::Unsigned(v)))
            .collect()
    }

    #[test]
    fn uptime_rounds_up_like_sysinfo() {
        let s = samples(&[(id::UPTIME, 35_482_156)]);
        let mut e = Extras::default();
        system(
            &Group {
                labels: &[],
                samples: &s,
            },
            &mut e,
        );
        assert_eq!(e.fields[0], ("uptime", Derived::Int(354_822)));
        assert_eq!(e.fields[1], ("uptime_format", Derived::Text));
        assert_eq!(e.text.as_str(), "4 days,  2:33");
    }

    #[test]
    fn processes_fill_telegrafs_fields() {
        let s = samples(&[
            (id::PROCESSES_PIDS, 11),
            (id::PROCESSES_STATE_T, 1),
            (id::PROCESSES_STATE_LOWER_T, 2),
            (id::PROCESSES_STATE_P, 4),
        ]);
        let mut e = Extras::default();
        processes(
            &Group {
                labels: &[],
                samples: &s,
            },
            &mut e,
        );
        assert_eq!(
            e.fields.as_slice(),
            [("stopped", Derived::Int(3)), ("parked", Derived::Int(1))]
        );
        assert_eq!(e.defaults.len(), 11);
        assert!(e.defaults.iter().all(|&(_, v)| v == Derived::Int(0)));
    }
}
