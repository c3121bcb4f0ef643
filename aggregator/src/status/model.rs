//! What the status page says about a node, derived from a store [`Snapshot`] and the
//! [`History`]: up or down, last seen, CPU temperature, Raspberry Pi throttling and
//! under-voltage, load, memory and disk use, frames missing — and its problems, which
//! decide the order of the list (worst first).
//!
//! Definitions (also in docs/STATUS.md):
//! - CPU temperature: the hottest `node_thermal_zone_temp`, else the hottest
//!   `node_hwmon_temp_celsius`;
//! - throttled: `pimon_rpi_throttled`, `pimon_rpi_frequency_capped` or
//!   `pimon_rpi_soft_temp_limit` is 1 now; under-voltage: `pimon_rpi_under_voltage` now;
//! - memory used: 1 − MemAvailable / MemTotal;
//! - disk used: the fullest filesystem, 1 − avail / size (what non-root users see);
//! - frames missing: the node's counter, and how much it grew in the history window.
//!
//! Pushed, scraped and collectd groups (the inputs' table, not the node store) are
//! listed too ([`group_view`]): named by their grouping labels, with the same figures
//! read from node_exporter's names when they carry them (a scraped node_exporter); a
//! scrape target whose last scrape failed (`up` 0) is down.

use pimon_protocol::catalog::id;

use crate::ingress::expo::Value as ExpoValue;
use crate::ingress::groups::{Group, Source};
use crate::ingress::pushpath::GroupingKey;
use crate::series::{decode_set, metric_at_rank};
use crate::status::history::{History, Sample};
use crate::store::{SnapNode, Snapshot};

/// A CPU this hot (°C) is a problem: Raspberry Pis throttle from 80–85 °C.
pub const HOT_CELSIUS: f64 = 80.0;

/// A problem of a node, in the order the list sorts by (worst first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// No frame within its stale time.
    Down,
    /// Raspberry Pi under-voltage now.
    UnderVoltage,
    /// Raspberry Pi throttled, frequency-capped or at its soft temperature limit now.
    Throttled,
    /// CPU at or above [`HOT_CELSIUS`].
    Hot,
    /// Frames given up in the history window.
    FramesMissing,
}

impl Problem {
    /// The word shown and used in JSON.
    pub fn label(self) -> &'static str {
        match self {
            Problem::Down => "down",
            Problem::UnderVoltage => "under-voltage",
            Problem::Throttled => "throttled",
            Problem::Hot => "hot",
            Problem::FramesMissing => "frames missing",
        }
    }
}

/// One node as the status page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// The node's name (a group's: its grouping labels, `job="…",instance="…"`).
    pub name: String,
    /// What fed it: `pimon` (the node store: collectors, collectd hosts' common
    /// plugins), `push`, `scrape` or `collectd` (a group of the inputs).
    pub source: &'static str,
    /// Seen within its stale time.
    pub up: bool,
    /// Receive time of its last frame (Unix ms).
    pub last_seen_ms: u64,
    /// CPU temperature (°C).
    pub cpu_temp: Option<f64>,
    /// Throttled now (Raspberry Pi).
    pub throttled: bool,
    /// Under-voltage now (Raspberry Pi).
    pub under_voltage: bool,
    /// Under-voltage has occurred since boot (Raspberry Pi).
    pub under_voltage_occurred: bool,
    /// 1-minute load.
    pub load1: Option<f64>,
    /// Memory in use, 0..1.
    pub memory_used: Option<f64>,
    /// The fullest filesystem: used 0..1 and its mount point.
    pub disk_used: Option<(f64, String)>,
    /// The frames-missing counter.
    pub frames_missing: u64,
    /// How much it grew in the history window.
    pub frames_missing_recent: u64,
    /// Its problems, worst first.
    pub problems: Vec<Problem>,
}

impl NodeView {
    /// The worst problem, if any (the sort key).
    pub fn worst(&self) -> Option<Problem> {
        self.problems.first().copied()
    }

    /// `down`, `problem` or `ok`.
    pub fn state(&self) -> &'static str {
        match self.worst() {
            Some(Problem::Down) => "down",
            Some(_) => "problem",
            None => "ok",
        }
    }

    /// What the history records of it.
    pub fn sample(&self) -> Sample {
        Sample {
            temp: self.cpu_temp,
            load: self.load1,
            missing: self.frames_missing,
        }
    }
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// The catalog rows [`view`] reads.
const SUMMARY_IDS: [u16; 12] = [
    id::THERMAL_ZONE_TEMP,
    id::HWMON_TEMP,
    id::RPI_THROTTLED,
    id::RPI_FREQUENCY_CAPPED,
    id::RPI_SOFT_TEMP_LIMIT,
    id::RPI_UNDER_VOLTAGE,
    id::RPI_UNDER_VOLTAGE_OCCURRED,
    id::LOAD1,
    id::MEM_MEMTOTAL,
    id::MEM_MEMAVAILABLE,
    id::FS_SIZE,
    id::FS_AVAIL,
];

/// The family ranks of the rows [`view`] reads, sorted: all a snapshot for the
/// overview needs to copy ([`crate::store::Store::snapshot_summary`]).
pub fn summary_ranks() -> &'static [u16] {
    static RANKS: std::sync::LazyLock<Vec<u16>> = std::sync::LazyLock::new(|| {
        let mut r: Vec<u16> = SUMMARY_IDS
            .iter()
            .filter_map(|&id| crate::series::family_rank(id))
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    });
    &RANKS
}

/// The view of one node of `snap` (without the history-based figures).
pub fn view(snap: &Snapshot, node: &SnapNode) -> NodeView {
    let mut zone_temp = None;
    let mut hwmon_temp = None;
    let (mut throttled, mut under_voltage, mut under_voltage_occurred) = (false, false, false);
    let mut load1 = None;
    let (mut mem_total, mut mem_available) = (None, None);
    // Per filesystem (label set): size, avail.
    let mut fs: Vec<(u16, Option<f64>, Option<f64>)> = Vec::new();
    for e in snap.entries(node) {
        let Some(metric) = metric_at_rank(e.rank) else {
            continue;
        };
        let v = e.value().as_f64();
        if !v.is_finite() {
            continue;
        }
        match metric.id {
            id::THERMAL_ZONE_TEMP => zone_temp = max_opt(zone_temp, v),
            id::HWMON_TEMP => hwmon_temp = max_opt(hwmon_temp, v),
            id::RPI_THROTTLED | id::RPI_FREQUENCY_CAPPED | id::RPI_SOFT_TEMP_LIMIT => {
                throttled |= v != 0.0
            }
            id::RPI_UNDER_VOLTAGE => under_voltage |= v != 0.0,
            id::RPI_UNDER_VOLTAGE_OCCURRED => under_voltage_occurred |= v != 0.0,
            id::LOAD1 => load1 = Some(v),
            id::MEM_MEMTOTAL => mem_total = Some(v),
            id::MEM_MEMAVAILABLE => mem_available = Some(v),
            id::FS_SIZE | id::FS_AVAIL => {
                let slot = match fs.iter().position(|f| f.0 == e.labelset) {
                    Some(i) => i,
                    None => {
                        fs.push((e.labelset, None, None));
                        fs.len() - 1
                    }
                };
                if metric.id == id::FS_SIZE {
                    fs[slot].1 = Some(v);
                } else {
                    fs[slot].2 = Some(v);
                }
            }
            _ => {}
        }
    }
    let memory_used = match (mem_total, mem_available) {
        (Some(t), Some(a)) if t > 0.0 => Some((1.0 - a / t).clamp(0.0, 1.0)),
        _ => None,
    };
    let disk_used = fs
        .iter()
        .filter_map(|&(set, size, avail)| {
            let (size, avail) = (size?, avail?);
            (size > 0.0).then(|| ((1.0 - avail / size).clamp(0.0, 1.0), set))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(used, set)| {
            // FS labels: device, fstype, mountpoint.
            let mount = decode_set(snap.label_set(node, set)).nth(2).unwrap_or("?");
            (used, mount.to_string())
        });
    let cpu_temp = zone_temp.or(hwmon_temp);
    let mut v = NodeView {
        name: snap.name(node).to_string(),
        source: "pimon",
        up: node.up,
        last_seen_ms: node.last_seen_ms,
        cpu_temp,
        throttled,
        under_voltage,
        under_voltage_occurred,
        load1,
        memory_used,
        disk_used,
        frames_missing: node.counters.missing,
        frames_missing_recent: 0,
        problems: Vec::new(),
    };
    v.problems = problems(&v);
    v
}

fn problems(v: &NodeView) -> Vec<Problem> {
    let mut p = Vec::new();
    if !v.up {
        p.push(Problem::Down);
    }
    if v.under_voltage {
        p.push(Problem::UnderVoltage);
    }
    if v.throttled {
        p.push(Problem::Throttled);
    }
    if v.cpu_temp.is_some_and(|t| t >= HOT_CELSIUS) {
        p.push(Problem::Hot);
    }
    if v.frames_missing_recent > 0 {
        p.push(Problem::FramesMissing);
    }
    p
}

/// A group's name on the page: its grouping labels, `job="backup",instance="nas"`
/// (quotes and backslashes in values escaped as in the exposition).
pub fn group_name(key: &GroupingKey) -> String {
    let mut out = String::new();
    for (i, (k, v)) in key.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The view of a pushed, scraped or collectd group (see the module docs).
pub fn group_view(key: &GroupingKey, group: &Group) -> NodeView {
    let mut zone_temp = None;
    let mut hwmon_temp = None;
    let (mut load1, mut mem_total, mut mem_available) = (None, None, None);
    let mut up = true;
    // Per mount point: size, avail.
    let mut fs: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
    for (name, family) in &group.families {
        for m in &family.metrics {
            let ExpoValue::Scalar(v) = m.value else {
                continue;
            };
            if !v.is_finite() {
                continue;
            }
            match name.as_str() {
                "up" if group.source == Source::Scrape => up &= v != 0.0,
                "node_thermal_zone_temp" => zone_temp = max_opt(zone_temp, v),
                "node_hwmon_temp_celsius" => hwmon_temp = max_opt(hwmon_temp, v),
                "node_load1" => load1 = Some(v),
                "node_memory_MemTotal_bytes" => mem_total = Some(v),
                "node_memory_MemAvailable_bytes" => mem_available = Some(v),
                "node_filesystem_size_bytes" | "node_filesystem_avail_bytes" => {
                    let mount = label(&m.labels, "mountpoint").unwrap_or("?");
                    let slot = match fs.iter().position(|f| f.0 == mount) {
                        Some(i) => i,
                        None => {
                            fs.push((mount.to_string(), None, None));
                            fs.len() - 1
                        }
                    };
                    if name == "node_filesystem_size_bytes" {
                        fs[slot].1 = Some(v);
                    } else {
                        fs[slot].2 = Some(v);
                    }
                }
                _ => {}
            }
        }
    }
    let memory_used = match (mem_total, mem_available) {
        (Some(t), Some(a)) if t > 0.0 => Some((1.0 - a / t).clamp(0.0, 1.0)),
        _ => None,
    };
    let disk_used = fs
        .into_iter()
        .filter_map(|(mount, size, avail)| {
            let (size, avail) = (size?, avail?);
            (size > 0.0).then(|| ((1.0 - avail / size).clamp(0.0, 1.0), mount))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut v = NodeView {
        name: group_name(key),
        source: match group.source {
            Source::Push => "push",
            Source::Scrape => "scrape",
            Source::Collectd => "collectd",
        },
        up,
        last_seen_ms: group.last_change_ms,
        cpu_temp: zone_temp.or(hwmon_temp),
        throttled: false,
        under_voltage: false,
        under_voltage_occurred: false,
        load1,
        memory_used,
        disk_used,
        frames_missing: 0,
        frames_missing_recent: 0,
        problems: Vec::new(),
    };
    v.problems = problems(&v);
    v
}

/// Every node of `snap` and every group of `groups`, with the history's
/// frames-missing growth, worst problems first, then by name.
pub fn views(snap: &Snapshot, groups: &[NodeView], history: &History) -> Vec<NodeView> {
    let now_step = history.step_of(snap.now_ms);
    let mut out: Vec<NodeView> = snap
        .nodes
        .iter()
        .map(|n| {
            let mut v = view(snap, n);
            v.frames_missing_recent = history
                .get(&v.name)
                .map_or(0, |h| h.missing_growth(now_step, v.frames_missing));
            v.problems = problems(&v);
            v
        })
        .chain(groups.iter().cloned())
        .collect();
    out.sort_by(|a, b| {
        let rank = |v: &NodeView| v.worst().map_or(u8::MAX, |p| p as u8);
        rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::expo;
    use crate::ingress::groups::{GroupLimits, Groups};

    fn group(source: Source, key: &GroupingKey, page: &str) -> Group {
        let mut groups = Groups::new(GroupLimits::default());
        let families = expo::parse(page.as_bytes()).expect("page parses");
        let (plan, _) = groups
            .check_replace(key, source, families, 0)
            .expect("taken");
        groups.apply(plan, 1_000);
        groups.get(key).expect("stored").clone()
    }

    fn key(pairs: &[(&str, &str)]) -> GroupingKey {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_scraped_node_exporter_gets_its_fullest_filesystem_and_up_from_its_scrape() {
        let k = key(&[("job", "node"), ("instance", "nas:9100")]);
        // Typed as node_exporter types them (an untyped family under a catalog name
        // would clash with the catalog's gauge and be dropped).
        let page = "\
# TYPE node_filesystem_size_bytes gauge
node_filesystem_size_bytes{mountpoint=\"/\"} 100
node_filesystem_size_bytes{mountpoint=\"/srv\"} 100
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{mountpoint=\"/\"} 80
node_filesystem_avail_bytes{mountpoint=\"/srv\"} 5
# TYPE node_thermal_zone_temp gauge
node_thermal_zone_temp{zone=\"0\"} 40
# TYPE node_hwmon_temp_celsius gauge
node_hwmon_temp_celsius{chip=\"x\"} 90
up 1
";
        let v = group_view(&k, &group(Source::Scrape, &k, page));
        assert_eq!(v.name, "instance=\"nas:9100\",job=\"node\"");
        assert_eq!(v.source, "scrape");
        assert!(v.up);
        assert_eq!(v.last_seen_ms, 1_000);
        assert_eq!(v.disk_used, Some((0.95, "/srv".to_string())));
        assert_eq!(v.cpu_temp, Some(40.0), "thermal zones before hwmon");
        assert!(v.problems.is_empty());

        let failed = group_view(&k, &group(Source::Scrape, &k, "up 0\n"));
        assert!(!failed.up);
        assert_eq!(failed.problems, [Problem::Down]);
        // `up` means nothing special in a push or a collectd group.
        let pushed = group_view(&k, &group(Source::Push, &k, "up 0\n"));
        assert!(pushed.up && pushed.problems.is_empty());
        assert_eq!(pushed.source, "push");
    }

    #[test]
    fn group_names_escape_quotes_and_backslashes_like_the_exposition() {
        assert_eq!(
            group_name(&key(&[("job", "a\"b\\c\nd"), ("instance", "")])),
            "instance=\"\",job=\"a\\\"b\\\\c\\nd\""
        );
    }
}
