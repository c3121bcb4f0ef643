//! collectd value lists → pimon's names, so a collectd host shows up in the same
//! dashboards as a pimon node. The host becomes the node (`instance` on `/metrics`,
//! `host` in InfluxDB).
//!
//! | collectd (plugin/type) | catalog rows (node_exporter / Telegraf) |
//! |---|---|
//! | cpu/cpu (`user` … `steal`, jiffies) | `node_cpu_seconds_total{cpu,mode}` / `cpu,cpu=cpuN time_*` (USER_HZ 100) |
//! | memory/memory (`free`, `buffered`, `cached`, `slab_recl`, `slab_unrecl`) | `node_memory_*_bytes` / `mem` |
//! | load/load | `node_load1/5/15` / `system load1/5/15` |
//! | interface/if_octets, if_packets, if_errors, if_dropped | `node_network_{receive,transmit}_*_total{device}` / `net` |
//! | disk/disk_octets, disk_ops, disk_merged, disk_io_time, pending_operations | `node_disk_*{device}` / `diskio` |
//! | df/df_complex, df_inodes | `node_filesystem_{avail,free,size}_bytes`, `_files`, `_files_free{mountpoint}` / `disk` |
//! | thermal/temperature | `node_thermal_zone_temp{zone,type}` / `temp` |
//! | uptime/uptime | `pimon_uptime_seconds`, `node_boot_time_seconds` / `system uptime`, `kernel boot_time` |
//!
//! Not in the catalog, mapped by name (group series, see [`super::super::groups`]):
//! wireless/signal_power → `node_wifi_station_signal_dbm{device}` (Telegraf
//! `wireless level`; noise and quality → `wireless noise`, `link`), conntrack →
//! `node_nf_conntrack_entries`, `_limit` (Telegraf `conntrack ip_conntrack_count`,
//! `ip_conntrack_max`). Everything else: `collectd_<plugin>_<type>_<ds>[_total]` with
//! the labels `write_prometheus` gives (`<plugin>=<plugin instance>`, `type=<type
//! instance>`, `instance=<host>`), and InfluxDB's collectd schema
//! (`<plugin>_<ds>,host,instance,type,type_instance value=`).
//!
//! df: collectd reports mount points mangled (`root` for `/`, `var-log` for
//! `/var/log`; `-` inside a name reads back as `/`) and no device or file-system
//! type, so those labels are empty. Size and free bytes are sums of `free`,
//! `reserved` and `used`, computed once all three of a mount point were seen.

use std::collections::HashMap;
use std::fmt::Write as _;

use pimon_protocol::Value as WireValue;
use pimon_protocol::catalog::{self, id};
use pimon_protocol::text::influx::{FieldValue, Precision, Tag, write_line, write_metric_line};

use super::packet::{Value, ValueList};
use super::typesdb::{TypesDb, fallback_names};
use crate::ingress::expo::Kind;

/// collectd reads `/proc/stat` in USER_HZ, 100 on every Linux it runs on.
pub const USER_HZ: u16 = 100;

/// A value for a catalog row.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogSample {
    /// Catalog id.
    pub id: u16,
    /// Instance label values in the row's order.
    pub labels: Vec<String>,
    /// Value in the wire unit (the row's conversion applies).
    pub raw: WireValue,
}

/// A value for a group series.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignSample {
    /// Family name.
    pub name: String,
    /// Counter or gauge.
    pub kind: Kind,
    /// `# HELP`.
    pub help: String,
    /// Labels (sorted).
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// What a value list became.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Mapped {
    /// Values for catalog rows of the host's node.
    pub catalog: Vec<CatalogSample>,
    /// Values for the host's group.
    pub foreign: Vec<ForeignSample>,
    /// The type was in no types.db (data sources named `value…`).
    pub unknown_type: bool,
}

/// The mapper, with the little state df needs.
#[derive(Debug, Default)]
pub struct Mapper {
    /// (host, mount, inodes?) → free, reserved, used.
    df: HashMap<(String, String, bool), [Option<f64>; 3]>,
}

fn round_u64(v: f64) -> WireValue {
    WireValue::Unsigned(if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    })
}

fn whole(v: Value) -> WireValue {
    match v {
        Value::Counter(x) | Value::Absolute(x) => WireValue::Unsigned(x),
        Value::Derive(x) => WireValue::Unsigned(x.max(0) as u64),
        Value::Gauge(x) => round_u64(x),
    }
}

/// collectd's df instance back to a mount point.
pub fn mount_point(instance: &str) -> String {
    if instance == "root" {
        "/".into()
    } else {
        format!("/{}", instance.replace('-', "/"))
    }
}

fn label_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

impl Mapper {
    /// Maps one value list; appends its InfluxDB lines to `lines`.
    pub fn map(
        &mut self,
        vl: &ValueList,
        types: &TypesDb,
        precision: Precision,
        lines: &mut String,
    ) -> Mapped {
        let mut out = Mapped::default();
        let (names, unknown) = match types.names(&vl.type_, vl.values.len()) {
            Some(n) => (n.to_vec(), false),
            None => (fallback_names(vl.values.len()), true),
        };
        out.unknown_type = unknown;
        let ts = vl.time_ms();
        for (value, ds) in vl.values.iter().zip(&names) {
            if !self.map_known(vl, ds, *value, &mut out) {
                self.map_other(vl, ds, *value, &mut out, lines, precision);
            }
        }
        for s in &out.catalog {
            if let Some(metric) = catalog::lookup(s.id) {
                let labels: Vec<&str> = s.labels.iter().map(String::as_str).collect();
                let _ = write_metric_line(
                    lines,
                    metric,
                    &vl.host,
                    &labels,
                    s.raw,
                    USER_HZ,
                    Some(ts),
                    precision,
                );
            }
        }
        out
    }

    /// The catalog mappings; false when the value list is not one of them.
    fn map_known(&mut self, vl: &ValueList, ds: &str, v: Value, out: &mut Mapped) -> bool {
        let pi = vl.plugin_instance.clone();
        let ti = vl.type_instance.as_str();
        let mut push = |id: u16, labels: Vec<String>, raw: WireValue| {
            out.catalog.push(CatalogSample { id, labels, raw });
        };
        match (vl.plugin.as_str(), vl.type_.as_str()) {
            ("cpu", "cpu") => {
                let id = match ti {
                    "user" => id::CPU_SECONDS_USER,
                    "nice" => id::CPU_SECONDS_NICE,
                    "system" => id::CPU_SECONDS_SYSTEM,
                    "idle" => id::CPU_SECONDS_IDLE,
                    "wait" => id::CPU_SECONDS_IOWAIT,
                    "interrupt" => id::CPU_SECONDS_IRQ,
                    "softirq" => id::CPU_SECONDS_SOFTIRQ,
                    "steal" => id::CPU_SECONDS_STEAL,
                    "guest" => id::CPU_GUEST_SECONDS_USER,
                    "guest_nice" => id::CPU_GUEST_SECONDS_NICE,
                    _ => return false,
                };
                push(id, vec![pi], whole(v));
            }
            ("memory", "memory") => {
                let id = match ti {
                    "free" => id::MEM_MEMFREE,
                    "buffered" => id::MEM_BUFFERS,
                    "cached" => id::MEM_CACHED,
                    "slab_recl" => id::MEM_SRECLAIMABLE,
                    "slab_unrecl" => id::MEM_SUNRECLAIM,
                    _ => return false,
                };
                push(id, vec![], round_u64(v.as_f64() / 1024.0));
            }
            ("load", "load") => {
                let id = match ds {
                    "shortterm" => id::LOAD1,
                    "midterm" => id::LOAD5,
                    "longterm" => id::LOAD15,
                    _ => return false,
                };
                push(id, vec![], round_u64(v.as_f64() * 100.0));
            }
            ("interface", t) => {
                let rx = ds == "rx";
                let id = match (t, rx) {
                    ("if_octets", true) => id::NET_RECEIVE_BYTES,
                    ("if_octets", false) => id::NET_TRANSMIT_BYTES,
                    ("if_packets", true) => id::NET_RECEIVE_PACKETS,
                    ("if_packets", false) => id::NET_TRANSMIT_PACKETS,
                    ("if_errors", true) => id::NET_RECEIVE_ERRS,
                    ("if_errors", false) => id::NET_TRANSMIT_ERRS,
                    ("if_dropped", true) => id::NET_RECEIVE_DROP,
                    ("if_dropped", false) => id::NET_TRANSMIT_DROP,
                    _ => return false,
                };
                if !matches!(ds, "rx" | "tx") {
                    return false;
                }
                push(id, vec![pi], whole(v));
            }
            ("disk", t) => {
                let (id, raw) = match (t, ds) {
                    ("disk_octets", "read") => (id::DISK_READ_BYTES, round_u64(v.as_f64() / 512.0)),
                    ("disk_octets", "write") => {
                        (id::DISK_WRITTEN_BYTES, round_u64(v.as_f64() / 512.0))
                    }
                    ("disk_ops", "read") => (id::DISK_READS_COMPLETED, whole(v)),
                    ("disk_ops", "write") => (id::DISK_WRITES_COMPLETED, whole(v)),
                    ("disk_merged", "read") => (id::DISK_READS_MERGED, whole(v)),
                    ("disk_merged", "write") => (id::DISK_WRITES_MERGED, whole(v)),
                    ("disk_io_time", "io_time") => (id::DISK_IO_TIME, whole(v)),
                    ("disk_io_time", "weighted_io_time") => (id::DISK_IO_TIME_WEIGHTED, whole(v)),
                    ("pending_operations", _) => (id::DISK_IO_NOW, whole(v)),
                    _ => return false,
                };
                push(id, vec![pi], raw);
            }
            ("df", t @ ("df_complex" | "df_inodes")) => {
                let slot = match ti {
                    "free" => 0,
                    "reserved" => 1,
                    "used" => 2,
                    _ => return false,
                };
                let inodes = t == "df_inodes";
                let key = (vl.host.clone(), pi.clone(), inodes);
                let seen = self.df.entry(key).or_default();
                seen[slot] = Some(v.as_f64());
                let labels = vec![String::new(), String::new(), mount_point(&pi)];
                if !inodes && slot == 0 {
                    push(id::FS_AVAIL, labels.clone(), round_u64(v.as_f64()));
                }
                if let [Some(free), Some(reserved), Some(used)] = *seen {
                    let (size_id, free_id) = if inodes {
                        (id::FS_FILES, id::FS_FILES_FREE)
                    } else {
                        (id::FS_SIZE, id::FS_FREE)
                    };
                    push(size_id, labels.clone(), round_u64(free + reserved + used));
                    push(free_id, labels, round_u64(free + reserved));
                }
            }
            ("thermal", "temperature") => {
                let zone = pi.strip_prefix("thermal_zone").unwrap_or(&pi).to_string();
                let c = v.as_f64();
                let milli = if c.is_finite() {
                    (c * 1000.0).round() as i64
                } else {
                    0
                };
                push(
                    id::THERMAL_ZONE_TEMP,
                    vec![zone, pi],
                    WireValue::Signed(milli),
                );
            }
            ("uptime", "uptime") => {
                let up = v.as_f64();
                push(id::UPTIME, vec![], round_u64(up * 100.0));
                let boot = vl.time_ms() as f64 / 1000.0 - up;
                push(id::STAT_BOOT_TIME, vec![], round_u64(boot));
            }
            _ => return false,
        }
        true
    }

    /// Series outside the catalog: wireless and conntrack by name, the rest as
    /// `write_prometheus` names them.
    fn map_other(
        &mut self,
        vl: &ValueList,
        ds: &str,
        v: Value,
        out: &mut Mapped,
        lines: &mut String,
        precision: Precision,
    ) {
        let ts = Some(vl.time_ms());
        let host = vl.host.as_str();
        let value = v.as_f64();
        let pi = vl.plugin_instance.as_str();
        let ti = vl.type_instance.as_str();
        // Telegraf-named lines for the two plugins it has inputs for.
        let telegraf = match (vl.plugin.as_str(), vl.type_.as_str(), ti) {
            ("wireless", "signal_power", _) => Some(("wireless", "level", Some(pi))),
            ("wireless", "signal_noise", _) => Some(("wireless", "noise", Some(pi))),
            ("wireless", "signal_quality", _) => Some(("wireless", "link", Some(pi))),
            ("conntrack", "conntrack", "") => Some(("conntrack", "ip_conntrack_count", None)),
            ("conntrack", "conntrack", "max") => Some(("conntrack", "ip_conntrack_max", None)),
            _ => None,
        };
        let prom_name = match (vl.plugin.as_str(), vl.type_.as_str(), ti) {
            ("wireless", "signal_power", _) => Some("node_wifi_station_signal_dbm"),
            ("conntrack", "conntrack", "") => Some("node_nf_conntrack_entries"),
            ("conntrack", "conntrack", "max") => Some("node_nf_conntrack_entries_limit"),
            _ => None,
        };
        let kind = if matches!(v, Value::Gauge(_)) {
            Kind::Gauge
        } else {
            Kind::Counter
        };
        match prom_name {
            Some(name) => {
                let mut labels = vec![("instance".to_string(), host.to_string())];
                if vl.plugin == "wireless" {
                    labels.push(("device".into(), pi.to_string()));
                }
                labels.sort();
                out.foreign.push(ForeignSample {
                    name: name.into(),
                    kind: Kind::Gauge,
                    help: format!(
                        "collectd {}/{} of the host, named as node_exporter names it.",
                        vl.plugin, vl.type_
                    ),
                    labels,
                    value,
                });
            }
            None => {
                let mut name = String::from("collectd");
                if vl.plugin != vl.type_ {
                    name.push('_');
                    name.push_str(&vl.plugin);
                }
                name.push('_');
                name.push_str(&vl.type_);
                if ds != "value" {
                    name.push('_');
                    name.push_str(ds);
                }
                if matches!(v, Value::Counter(_) | Value::Derive(_)) {
                    name.push_str("_total");
                }
                let name: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let mut labels = Vec::new();
                if !pi.is_empty() {
                    labels.push((label_name(&vl.plugin), pi.to_string()));
                }
                if !ti.is_empty() {
                    let n = if pi.is_empty() {
                        label_name(&vl.plugin)
                    } else {
                        "type".to_string()
                    };
                    labels.push((n, ti.to_string()));
                }
                labels.push(("instance".into(), host.to_string()));
                labels.sort();
                labels.dedup_by(|a, b| a.0 == b.0);
                let mut help = String::new();
                let _ = write!(
                    help,
                    "write_prometheus plugin: '{}' Type: '{}', Dstype: '{}', Dsname: '{}'",
                    vl.plugin,
                    vl.type_,
                    v.kind(),
                    ds
                );
                out.foreign.push(ForeignSample {
                    name,
                    kind,
                    help,
                    labels,
                    value,
                });
            }
        }
        match telegraf {
            Some((measurement, field, interface)) => {
                let mut tags = vec![Tag::new("host", host)];
                if let Some(i) = interface {
                    tags.push(Tag::new("interface", i));
                }
                let _ = write_line(
                    lines,
                    measurement,
                    &tags,
                    [(field, FieldValue::Float(value))],
                    ts,
                    precision,
                );
            }
            None => {
                let measurement = format!("{}_{}", vl.plugin, ds);
                let tags = [
                    Tag::new("host", host),
                    Tag::new("instance", pi),
                    Tag::new("type", &vl.type_),
                    Tag::new("type_instance", ti),
                ];
                let _ = write_line(
                    lines,
                    &measurement,
                    &tags,
                    [("value", FieldValue::Float(value))],
                    ts,
                    precision,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::collectd::packet::{self, build};
    use crate::ingress::config::SecurityLevel;

    fn lists(p: Vec<u8>) -> Vec<ValueList> {
        packet::parse(&p, SecurityLevel::None, None).lists
    }

    fn map_one(m: &mut Mapper, p: Vec<u8>, lines: &mut String) -> Mapped {
        let db = TypesDb::builtin();
        let vl = &lists(p)[0];
        m.map(vl, &db, Precision::Seconds, lines)
    }

    #[test]
    fn common_plugins_land_on_catalog_rows_and_telegraf_lines() {
        let mut m = Mapper::default();
        let mut lines = String::new();
        let cpu = map_one(
            &mut m,
            build::value_list(
                "r1",
                "cpu",
                "0",
                "cpu",
                "wait",
                1_700_000_000,
                10,
                &[Value::Derive(250)],
            ),
            &mut lines,
        );
        assert_eq!(
            cpu.catalog,
            vec![CatalogSample {
                id: id::CPU_SECONDS_IOWAIT,
                labels: vec!["0".into()],
                raw: WireValue::Unsigned(250)
            }]
        );
        let load = map_one(
            &mut m,
            build::value_list(
                "r1",
                "load",
                "",
                "load",
                "",
                1_700_000_000,
                10,
                &[Value::Gauge(0.5), Value::Gauge(0.25), Value::Gauge(1.0)],
            ),
            &mut lines,
        );
        assert_eq!(load.catalog.len(), 3);
        assert_eq!(load.catalog[0].raw, WireValue::Unsigned(50));
        map_one(
            &mut m,
            build::value_list(
                "r1",
                "interface",
                "eth0",
                "if_octets",
                "",
                1_700_000_000,
                10,
                &[Value::Derive(1000), Value::Derive(2000)],
            ),
            &mut lines,
        );
        assert_eq!(
            lines,
            "cpu,cpu=cpu0,host=r1 time_iowait=2.5 1700000000\n\
             system,host=r1 load1=0.5 1700000000\n\
             system,host=r1 load5=0.25 1700000000\n\
             system,host=r1 load15=1 1700000000\n\
             net,host=r1,interface=eth0 bytes_recv=1000i 1700000000\n\
             net,host=r1,interface=eth0 bytes_sent=2000i 1700000000\n"
        );
    }

    #[test]
    fn df_sums_once_all_three_are_seen() {
        let mut m = Mapper::default();
        let mut lines = String::new();
        let free = map_one(
            &mut m,
            build::value_list(
                "r1",
                "df",
                "var-log",
                "df_complex",
                "free",
                1,
                10,
                &[Value::Gauge(100.0)],
            ),
            &mut lines,
        );
        assert_eq!(free.catalog.len(), 1);
        assert_eq!(free.catalog[0].labels, ["", "", "/var/log"]);
        map_one(
            &mut m,
            build::value_list(
                "r1",
                "df",
                "var-log",
                "df_complex",
                "reserved",
                1,
                10,
                &[Value::Gauge(10.0)],
            ),
            &mut lines,
        );
        let used = map_one(
            &mut m,
            build::value_list(
                "r1",
                "df",
                "var-log",
                "df_complex",
                "used",
                1,
                10,
                &[Value::Gauge(50.0)],
            ),
            &mut lines,
        );
        assert_eq!(
            used.catalog
                .iter()
                .map(|s| (s.id, s.raw))
                .collect::<Vec<_>>(),
            [
                (id::FS_SIZE, WireValue::Unsigned(160)),
                (id::FS_FREE, WireValue::Unsigned(110))
            ]
        );
        assert_eq!(mount_point("root"), "/");
    }

    #[test]
    fn other_plugins_as_write_prometheus_and_influxdb_name_them() {
        let mut m = Mapper::default();
        let mut lines = String::new();
        let r = map_one(
            &mut m,
            build::value_list(
                "r1",
                "processes",
                "",
                "ps_state",
                "running",
                1_700_000_000,
                10,
                &[Value::Gauge(3.0)],
            ),
            &mut lines,
        );
        assert_eq!(r.foreign[0].name, "collectd_processes_ps_state");
        assert_eq!(
            r.foreign[0].labels,
            [
                ("instance".to_string(), "r1".to_string()),
                ("processes".to_string(), "running".to_string())
            ]
        );
        assert!(r.unknown_type);
        let r = map_one(
            &mut m,
            build::value_list(
                "r1",
                "interface",
                "eth0",
                "if_octets",
                "",
                1_700_000_000,
                10,
                &[Value::Derive(5), Value::Derive(6)],
            ),
            &mut String::new(),
        );
        assert!(r.foreign.is_empty());
        let r = map_one(
            &mut m,
            build::value_list(
                "r1",
                "irq",
                "",
                "irq",
                "7",
                1_700_000_000,
                10,
                &[Value::Derive(9)],
            ),
            &mut lines,
        );
        assert_eq!(r.foreign[0].name, "collectd_irq_total");
        assert_eq!(r.foreign[0].kind, Kind::Counter);
        let r = map_one(
            &mut m,
            build::value_list(
                "r1",
                "conntrack",
                "",
                "conntrack",
                "max",
                1_700_000_000,
                10,
                &[Value::Gauge(65536.0)],
            ),
            &mut lines,
        );
        assert_eq!(r.foreign[0].name, "node_nf_conntrack_entries_limit");
        assert!(
            lines.contains(
                "processes_value,host=r1,type=ps_state,type_instance=running value=3 1700000000\n"
            ),
            "{lines}"
        );
        assert!(
            lines.contains("conntrack,host=r1 ip_conntrack_max=65536 1700000000\n"),
            "{lines}"
        );
    }
}
