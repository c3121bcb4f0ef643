//! What a Raspberry Pi fixture tree must produce at the aggregator, computed from the
//! fixture's own files with the kernel's and the firmware's rules, independently of the
//! collector's parsers:
//!
//! | source file | Prometheus | line protocol |
//! |---|---|---|
//! | `proc/stat` `cpuN` jiffies ÷ USER_HZ | `node_cpu_seconds_total{cpu,mode}` | `cpu,cpu=cpuN time_<mode>` |
//! | `proc/meminfo` kB × 1024 | `node_memory_<Key>_bytes` | `mem` `total`, `free`, … (integers) |
//! | `sys/class/thermal/thermal_zoneN/temp` ÷ 1000 | `node_thermal_zone_temp{zone,type}` | `pimon_thermal,type=<type>,zone=N temp` |
//! | `sys/class/hwmon/hwmonN/temp*_input` ÷ 1000 (the zones without any) | | Telegraf's `temp,sensor=<name> temp` |
//! | `…/soc:firmware/get_throttled` (hex) bits 0–3, 16–19 | `pimon_rpi_<flag>[_occurred]`, `pimon_rpi_throttled_flags` | `pimon_rpi` fields |
//! | `sys/bus/w1/devices/28-*/temperature` (or `w1_slave` `t=` when its CRC says YES) ÷ 1000 | `pimon_w1_temperature_celsius{sensor}` | `pimon_w1,sensor=… temperature` |
//!
//! A 1-wire sensor whose `w1_slave` CRC says NO must be absent. The checks compare
//! floats with a relative tolerance of 1e-9 and report every mismatch at once.

use std::fs;
use std::path::Path;

use crate::exposition::{parse_line_protocol, parse_prometheus};

/// Linux's USER_HZ, the unit of `/proc/stat`: 100 on every architecture pimon targets
/// (the collector reads it with `sysconf(_SC_CLK_TCK)` and sends it in each frame).
pub const USER_HZ: f64 = 100.0;

/// `/proc/stat` CPU modes in column order, as node_exporter names them.
pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// `/proc/meminfo` keys checked, with their Telegraf `mem` field names.
pub const MEMINFO_KEYS: [(&str, &str); 6] = [
    ("MemTotal", "total"),
    ("MemFree", "free"),
    ("MemAvailable", "available"),
    ("Buffers", "buffered"),
    ("SwapTotal", "swap_total"),
    ("SwapFree", "swap_free"),
];

/// The Raspberry Pi firmware's `get_throttled` flags: (bit, metric suffix).
pub const THROTTLED_BITS: [(u32, &str); 8] = [
    (0, "under_voltage"),
    (1, "frequency_capped"),
    (2, "throttled"),
    (3, "soft_temp_limit"),
    (16, "under_voltage_occurred"),
    (17, "frequency_capped_occurred"),
    (18, "throttled_occurred"),
    (19, "soft_temp_limit_occurred"),
];

/// One expected Prometheus sample (`value: None`: the series must be absent).
#[derive(Clone, Debug)]
pub struct PromWant {
    /// Metric name.
    pub name: String,
    /// Every label, `instance` included.
    pub labels: Vec<(String, String)>,
    /// The value, or `None` for absent.
    pub value: Option<f64>,
    /// Where the expectation comes from, for messages.
    pub source: String,
}

/// One expected line-protocol field (`value: None`: no point with these tags).
#[derive(Clone, Debug)]
pub struct InfluxWant {
    /// Measurement.
    pub measurement: String,
    /// Every tag, `host` included.
    pub tags: Vec<(String, String)>,
    /// Field key.
    pub field: String,
    /// The value, or `None` for absent.
    pub value: Option<f64>,
    /// Whether the field must be written as an integer.
    pub integer: bool,
    /// Where the expectation comes from, for messages.
    pub source: String,
}

/// Everything one node must show.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// The node name (`instance` label, `host` tag).
    pub node: String,
    /// Prometheus samples.
    pub prom: Vec<PromWant>,
    /// Line-protocol fields.
    pub influx: Vec<InfluxWant>,
}

fn read(root: &Path, rel: &str) -> String {
    let path = root.join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Relative comparison for values that went through f64 conversions.
pub fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-9 * want.abs().max(1.0)
}

impl Expected {
    /// An empty expectation for `node`.
    pub fn new(node: &str) -> Expected {
        Expected {
            node: node.to_string(),
            ..Expected::default()
        }
    }

    /// Expects a Prometheus sample of this node (`instance` is added).
    pub fn prom(&mut self, name: &str, extra: &[(&str, &str)], value: Option<f64>, source: String) {
        let mut l = labels(&[("instance", &self.node)]);
        l.extend(labels(extra));
        self.prom.push(PromWant {
            name: name.into(),
            labels: l,
            value,
            source,
        });
    }

    /// Expects a line-protocol field of this node (`host` is added).
    pub fn influx(
        &mut self,
        measurement: &str,
        extra: &[(&str, &str)],
        field: &str,
        value: Option<f64>,
        integer: bool,
        source: String,
    ) {
        let mut t = labels(&[("host", &self.node)]);
        t.extend(labels(extra));
        self.influx.push(InfluxWant {
            measurement: measurement.into(),
            tags: t,
            field: field.into(),
            value,
            integer,
            source,
        });
    }

    /// CPU, memory, thermal zones, throttling flags and 1-wire sensors of a Raspberry Pi
    /// fixture tree at `root`, reported as `node`.
    pub fn pi_fixture(root: &Path, node: &str) -> Expected {
        let mut e = Expected::new(node);
        e.cpu(root);
        e.memory(root);
        e.thermal(root);
        e.throttled(root);
        e.one_wire(root);
        assert!(
            e.prom.len() > 20,
            "fixture {} yields too few expectations: {:?}",
            root.display(),
            e.prom
        );
        e
    }

    fn cpu(&mut self, root: &Path) {
        let stat = read(root, "proc/stat");
        let mut cpus = 0;
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            let Some(cpu) = fields
                .next()
                .and_then(|f| f.strip_prefix("cpu"))
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            cpus += 1;
            for (mode, jiffies) in CPU_MODES.iter().zip(fields) {
                let jiffies: u64 = jiffies.parse().expect("proc/stat jiffies");
                let seconds = jiffies as f64 / USER_HZ;
                let source = format!("proc/stat cpu{cpu} {mode} {jiffies} jiffies / {USER_HZ}");
                self.prom(
                    "node_cpu_seconds_total",
                    &[("cpu", cpu), ("mode", mode)],
                    Some(seconds),
                    source.clone(),
                );
                let cpu_tag = format!("cpu{cpu}");
                self.influx(
                    "cpu",
                    &[("cpu", &cpu_tag)],
                    &format!("time_{mode}"),
                    Some(seconds),
                    false,
                    source,
                );
            }
        }
        assert!(cpus > 0, "no cpuN line in {}/proc/stat", root.display());
    }

    fn memory(&mut self, root: &Path) {
        let meminfo = read(root, "proc/meminfo");
        for (key, field) in MEMINFO_KEYS {
            let kb: u64 = meminfo
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("{key} in {}/proc/meminfo", root.display()));
            let bytes = (kb * 1024) as f64;
            let source = format!("proc/meminfo {key} {kb} kB * 1024");
            self.prom(
                &format!("node_memory_{key}_bytes"),
                &[],
                Some(bytes),
                source.clone(),
            );
            self.influx("mem", &[], field, Some(bytes), true, source);
        }
    }

    fn thermal(&mut self, root: &Path) {
        let dir = root.join("sys/class/thermal");
        let mut zones: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|d| d.ok())
            .filter_map(|d| {
                let name = d.file_name().into_string().ok()?;
                Some((name.strip_prefix("thermal_zone")?.to_string(), d.path()))
            })
            .collect();
        zones.sort();
        assert!(!zones.is_empty(), "no thermal zone in {}", dir.display());
        let mut zone_temps = Vec::new();
        for (zone, path) in zones {
            let kind = fs::read_to_string(path.join("type")).expect("thermal zone type");
            let kind = kind.trim();
            let milli: i64 = fs::read_to_string(path.join("temp"))
                .expect("thermal zone temp")
                .trim()
                .parse()
                .expect("thermal zone temp is an integer");
            let celsius = milli as f64 / 1000.0;
            let source = format!("thermal_zone{zone}/temp {milli} / 1000");
            self.prom(
                "node_thermal_zone_temp",
                &[("zone", &zone), ("type", kind)],
                Some(celsius),
                source.clone(),
            );
            self.influx(
                "pimon_thermal",
                &[("type", kind), ("zone", &zone)],
                "temp",
                Some(celsius),
                false,
                source.clone(),
            );
            zone_temps.push((kind.to_string(), celsius, source));
        }
        // Telegraf's temp input: hwmon temperatures (named by the chip's name file; the
        // Pi trees have no labels), the thermal zones only when there are none.
        let mut hwmon_temps = Vec::new();
        for chip in fs::read_dir(root.join("sys/class/hwmon"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(name) = fs::read_to_string(chip.path().join("name")) else {
                continue;
            };
            for file in fs::read_dir(chip.path()).into_iter().flatten().flatten() {
                let file_name = file.file_name().into_string().unwrap_or_default();
                if file_name.starts_with("temp") && file_name.ends_with("_input") {
                    let milli: i64 = fs::read_to_string(file.path())
                        .expect("hwmon temp")
                        .trim()
                        .parse()
                        .expect("hwmon temp is an integer");
                    let source = format!("{}/{file_name} {milli} / 1000", chip.path().display());
                    hwmon_temps.push((name.trim().to_string(), milli as f64 / 1000.0, source));
                }
            }
        }
        let telegraf = if hwmon_temps.is_empty() {
            zone_temps
        } else {
            hwmon_temps
        };
        for (sensor, celsius, source) in telegraf {
            self.influx(
                "temp",
                &[("sensor", &sensor)],
                "temp",
                Some(celsius),
                false,
                source,
            );
        }
    }

    fn throttled(&mut self, root: &Path) {
        let text = read(root, "sys/devices/platform/soc/soc:firmware/get_throttled");
        let hex = text.trim();
        let mask = u32::from_str_radix(hex.trim_start_matches("0x"), 16)
            .unwrap_or_else(|e| panic!("get_throttled {hex:?} is not hex: {e}"));
        for (bit, flag) in THROTTLED_BITS {
            let set = f64::from((mask >> bit) & 1);
            let source = format!("get_throttled 0x{mask:x} bit {bit}");
            self.prom(&format!("pimon_rpi_{flag}"), &[], Some(set), source.clone());
            self.influx("pimon_rpi", &[], flag, Some(set), true, source);
        }
        let source = format!("get_throttled {hex:?} read as hex");
        self.prom(
            "pimon_rpi_throttled_flags",
            &[],
            Some(f64::from(mask)),
            source.clone(),
        );
        self.influx(
            "pimon_rpi",
            &[],
            "throttled_flags",
            Some(f64::from(mask)),
            true,
            source,
        );
    }

    fn one_wire(&mut self, root: &Path) {
        let dir = root.join("sys/bus/w1/devices");
        let mut sensors: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|d| d.ok())
            .filter_map(|d| d.file_name().into_string().ok())
            .filter(|n| n.starts_with("28-"))
            .collect();
        sensors.sort();
        assert!(
            !sensors.is_empty(),
            "no DS18B20 (28-*) in {}",
            dir.display()
        );
        let mut good = 0;
        for sensor in sensors {
            let path = dir.join(&sensor);
            let (milli, source) = match fs::read_to_string(path.join("temperature")) {
                Ok(t) => (
                    Some(t.trim().parse::<i64>().expect("w1 temperature")),
                    format!("{sensor}/temperature {}", t.trim()),
                ),
                Err(_) => {
                    let slave = fs::read_to_string(path.join("w1_slave")).expect("w1_slave");
                    let mut lines = slave.lines();
                    let crc_ok = lines.next().is_some_and(|l| l.trim_end().ends_with("YES"));
                    let t = lines
                        .next()
                        .and_then(|l| l.split("t=").nth(1))
                        .and_then(|t| t.trim().parse::<i64>().ok());
                    if crc_ok {
                        (t, format!("{sensor}/w1_slave t={t:?} (CRC YES)"))
                    } else {
                        (None, format!("{sensor}/w1_slave CRC NO: no reading"))
                    }
                }
            };
            let celsius = milli.map(|m| m as f64 / 1000.0);
            good += usize::from(celsius.is_some());
            self.prom(
                "pimon_w1_temperature_celsius",
                &[("sensor", &sensor)],
                celsius,
                source.clone(),
            );
            self.influx(
                "pimon_w1",
                &[("sensor", &sensor)],
                "temperature",
                celsius,
                false,
                source,
            );
        }
        assert!(good > 0, "no good 1-wire reading in {}", dir.display());
    }

    /// Every way `exposition` (the aggregator's `/metrics`) differs from the
    /// expectations; empty when all match.
    pub fn check_prometheus(&self, exposition: &str) -> Vec<String> {
        let samples = match parse_prometheus(exposition) {
            Ok(s) => s,
            Err(e) => return vec![format!("/metrics does not parse: {e}")],
        };
        let mut problems = Vec::new();
        for want in &self.prom {
            let found: Vec<f64> = samples
                .iter()
                .filter(|s| s.name == want.name && s.has_labels(&want.labels))
                .map(|s| s.value)
                .collect();
            let ok = match want.value {
                Some(v) => found.len() == 1 && close(found[0], v),
                None => found.is_empty(),
            };
            if !ok {
                problems.push(format!(
                    "/metrics {}{:?}: want {}, found {found:?} ({})",
                    want.name,
                    want.labels,
                    want.value.map_or("absent".to_string(), |v| v.to_string()),
                    want.source
                ));
            }
        }
        problems
    }

    /// Every way `lp` (the aggregator's line protocol) differs from the expectations;
    /// empty when all match (some point of the right series has each field's value).
    pub fn check_line_protocol(&self, lp: &str) -> Vec<String> {
        let points = match parse_line_protocol(lp) {
            Ok(p) => p,
            Err(e) => return vec![e],
        };
        let mut problems = Vec::new();
        for want in &self.influx {
            let series: Vec<_> = points
                .iter()
                .filter(|p| p.measurement == want.measurement && p.has_tags(&want.tags))
                .collect();
            let ok = match want.value {
                None => series.is_empty(),
                Some(v) => series.iter().any(|p| {
                    p.field(&want.field).is_some_and(|f| {
                        f.is_integer() == want.integer && f.as_f64().is_some_and(|g| close(g, v))
                    })
                }),
            };
            if !ok {
                let seen: Vec<_> = series.iter().filter_map(|p| p.field(&want.field)).collect();
                problems.push(format!(
                    "line protocol {} {:?} {}: want {}{}, found {seen:?} in {} point(s) ({})",
                    want.measurement,
                    want.tags,
                    want.field,
                    want.value.map_or("absent".to_string(), |v| v.to_string()),
                    if want.integer { " (integer)" } else { "" },
                    series.len(),
                    want.source
                ));
            }
        }
        problems
    }
}
