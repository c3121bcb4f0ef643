//! hwmon → `HWMON_*` (labels `chip`, `sensor`), in sysfs units (millidegrees,
//! millivolts, milliamps, RPM, microwatts): inputs, limits (`temp1_crit_hyst`,
//! `in0_min`, `fan1_target`) and alarm flags, among them the Raspberry Pi `rpi_volt`
//! under-voltage alarm (`in0_lcrit_alarm`).
//!
//! Chips, sensors and their files are discovered at start-up and again every
//! `rediscover` (a reloaded driver's chip comes back as another `hwmonN`: its label,
//! from the device path, stays the same, so its series go on). The `chip` label is
//! node_exporter's: from the `device` link's resolved path (`platform_coretemp_0`,
//! `thermal_thermal_zone0` for a thermal zone's chip, `ieee80211_phy0` for a Wi-Fi
//! PHY's), else the cleaned `name` file, else the directory name, as node_exporter 1.5
//! names them (later versions also give chips that share a parent device distinct
//! labels: not done here). `sensor` is `temp1`, `in0`, ….
//!
//! node_exporter's info series come with them, value 1, so that dashboards can join on
//! `chip`: `HWMON_CHIP_NAMES` (`chip_name` = the cleaned `name` file, for every chip
//! that has one, even without sensors) and `HWMON_SENSOR_LABEL` (`label` = a sensor's
//! `*_label` file, for every sensor type node_exporter reads). Both are read at
//! discovery: they do not change while the driver stays loaded.
//!
//! Each temperature input is also sent as `TEMP` under the name Telegraf's `temp` input
//! gives it (the chip's `name` file, else the `device` link's name, then `_` and the
//! sensor's lower-cased label with spaces as `_`: `cpu_thermal`,
//! `coretemp_package_id_0`), so InfluxDB gets Telegraf's `temp` series.

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::hwmon::{
    chip_name, clean_name, is_sensor_type, parse_hwmon_dir_name,
    parse_hwmon_text, parse_hwmon_value, parse_sensor_file_name,
};
use crate::sink::SampleSink;

/// The sensor files sent: type, item (`temp`, `crit_hyst` of `temp1_crit_hyst`) and
/// catalog id. A table, not a `match`: smaller code in the collector.
const SENSOR_FILES: &[(&str, &str, u16)] = &[
    ("temp", "input", id::HWMON_TEMP),
    ("temp", "max", id::HWMON_TEMP_MAX),
    ("temp", "crit", id::HWMON_TEMP_CRIT),
    ("temp", "min", id::HWMON_TEMP_MIN),
    ("temp", "max_hyst", id::HWMON_TEMP_MAX_HYST),
    ("temp", "crit_hyst", id::HWMON_TEMP_CRIT_HYST),
    ("temp", "max_alarm", id::HWMON_TEMP_MAX_ALARM),
    ("temp", "crit_alarm", id::HWMON_TEMP_CRIT_ALARM),
    ("temp", "alarm", id::HWMON_TEMP_ALARM),
    ("in", "input", id::HWMON_IN),
    ("in", "lcrit_alarm", id::HWMON_IN_LCRIT_ALARM),
    ("in", "min", id::HWMON_IN_MIN),
    ("in", "max", id::HWMON_IN_MAX),
    ("in", "alarm", id::HWMON_IN_ALARM),
    ("fan", "input", id::HWMON_FAN),
    ("fan", "min", id::HWMON_FAN_MIN),
    ("fan", "max", id::HWMON_FAN_MAX),
    ("fan", "target", id::HWMON_FAN_TARGET),
    ("fan", "alarm", id::HWMON_FAN_ALARM),
    ("curr", "input", id::HWMON_CURR),
    ("power", "input", id::HWMON_POWER),
    ("power", "average", id::HWMON_POWER_AVERAGE),
];

/// The catalog id for a sensor file (`kind`, `item`), or `None` when not collected.
pub fn hwmon_id(kind: &str, item: &str) -> Option<u16> {
    SENSOR_FILES
        .iter()
        .find(|(k, i, _)| *k == kind && *i == item)
        .map(|f| f.2)
}

/// One sensor (`temp1`) of a chip and its value files.
#[derive(Debug)]
pub(crate) struct Sensor {
    pub(crate) name: String,
    /// Its `*_label`, if any (for `--check`).
    pub(crate) label: Option<String>,
    /// Telegraf's `sensor` tag for a temperature input (`TEMP`).
    telegraf: Option<String>,
    index: u32,
    files: Vec<(u16, SysFile)>,
}

/// One chip (`hwmonN`).
#[derive(Debug)]
pub(crate) struct Chip {
    pub(crate) number: u32,
    pub(crate) chip: String,
    /// The `name` file, if any.
    pub(crate) name: Option<String>,
    /// The `name` file cleaned as node_exporter's `chip_name` label, if not empty.
    chip_name: Option<String>,
    pub(crate) sensors: Vec<Sensor>,
}

/// Reads every chip's sensors.
#[derive(Debug)]
pub(crate) struct HwmonReader {
    pub(crate) chips: Vec<Chip>,
}

/// node_exporter's chip label for the `hwmonN` directory `dir`.
fn chip_label(dir: &Path, number: u32, name: Option<&str>) -> String {
    let mut buf = [0u8; 256];
    if let Ok(device) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = device
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        let dev_type = device
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        if let Ok(chip) = chip_name(dev_type, dev_name, &mut buf)
            && !chip.is_empty()
        {
            return chip.to_owned();
        }
    }
    if let Some(name) = name
        && let Ok(clean) = clean_name(name.as_bytes(), &mut buf)
        && !clean.is_empty()
    {
        return clean.to_owned();
    }
    format!("hwmon{number}")
}

fn read_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    parse_hwmon_text(&bytes).ok().map(str::to_owned)
}

/// Telegraf's name for the temperature sensor with `label` of the chip in `dir` (its
/// `temp` input, `metric_format = "v2"`, the default).
fn telegraf_sensor(dir: &Path, name: Option<&str>, label: Option<&str>) -> String {
    let mut sensor = match name {
        Some(name) => name.to_owned(),
        None => std::fs::read_link(dir.join("device"))
            .ok()
            .and_then(|link| Some(link.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    };
    if let Some(label) = label.filter(|l| !l.is_empty()) {
        sensor.push('_');
        sensor.push_str(&label.to_lowercase().replace(' ', "_"));
    }
    sensor
}

fn open_chip(dir: &Path, number: u32) -> Chip {
    let raw_name = std::fs::read(dir.join("name")).ok();
    let name = raw_name
        .as_deref()
        .and_then(|raw| parse_hwmon_text(raw).ok())
        .map(str::to_owned);
    let mut buf = [0u8; 256];
    let chip_name = raw_name
        .as_deref()
        .and_then(|raw| clean_name(raw, &mut buf).ok())
        .filter(|clean| !clean.is_empty())
        .map(str::to_owned);
    let chip = chip_label(dir, number, name.as_deref());
    let mut sensors: Vec<Sensor> = Vec::new();
    // Sensor files live in hwmonN/ (and in hwmonN/device/ on old kernels).
    for sub in [dir.to_path_buf(), dir.join("device")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            let Some(parsed) = parse_sensor_file_name(file_name) else {
                continue;
            };
            let metric = match parsed.item {
                "label" if is_sensor_type(parsed.kind) => None,
                item => match hwmon_id(parsed.kind, item) {
                    Some(metric) => Some(metric),
                    None => continue,
                },
            };
            let mut buf = [0u8; 32];
            let Ok(sensor_name) = parsed.sensor(&mut buf) else {
                continue;
            };
            let sensor = match sensors.iter().position(|s| s.name == sensor_name) {
                Some(i) => &mut sensors[i],
                None => {
                    sensors.push(Sensor {
                        name: sensor_name.to_owned(),
                        label: None,
                        telegraf: None,
                        index: parsed.index,
                        files: Vec::new(),
                    });
                    let last = sensors.len() - 1;
                    &mut sensors[last]
                }
            };
            let Some(metric) = metric else {
                if sensor.label.is_none() {
                    sensor.label = read_text(&entry.path());
                }
                continue;
            };
            if sensor.files.iter().any(|(m, _)| *m == metric) {
                continue; // already found in hwmonN/
            }
            if let Some(file) = SysFile::open_optional(entry.path()) {
                sensor.files.push((metric, file));
            }
        }
    }
    sensors.retain(|s| !s.files.is_empty() || s.label.is_some());
    for sensor in &mut sensors {
        sensor.files.sort_by_key(|(metric, _)| *metric);
        if sensor.files.iter().any(|(m, _)| *m == id::HWMON_TEMP) {
            sensor.telegraf = Some(telegraf_sensor(
                dir,
                name.as_deref(),
                sensor.label.as_deref(),
            ));
        }
    }
    // Sensors ordered by their first id (temp before in before fan…), then index.
    sensors.sort_by_key(|s| (s.files.first().map_or(u16::MAX, |f| f.0), s.index));
    Chip {
        number,
        chip,
        name,
        chip_name,
        sensors,
    }
}

impl Source for HwmonReader {
    /// `Err` when there is no chip with a collected sensor.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/class/hwmon");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut chips: Vec<Chip> = entries
            .flatten()
            .filter_map(|entry| {
                let number = parse_hwmon_dir_name(entry.file_name().as_encoded_bytes())?;
                Some(open_chip(&entry.path(), number))
            })
            .filter(|chip| !chip.sensors.is_empty() || chip.chip_name.is_some())
            .collect();
        if chips.iter().all(|chip| chip.sensors.is_empty()) {
            return Err(format!("no sensors under {}/hwmon*", dir.display()));
        }
        chips.sort_by_key(|c| c.number);
        Ok(HwmonReader { chips })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// One line per chip, with its sensors.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chip in &self.chips {
            write!(f, "\n  chip {}", chip.chip)?;
            if let Some(name) = &chip.name {
                write!(f, " (hwmon{}, {name})", chip.number)?;
            }
            write!(f, ":")?;
            for sensor in &chip.sensors {
                write!(f, " {}", sensor.name)?;
                if let Some(label) = &sensor.label {
                    write!(f, " \"{label}\"")?;
                }
            }
        }
        Ok(())
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for chip in &self.chips {
            if let Some(chip_name) = &chip.chip_name {
                sink.labels(&[&chip.chip, chip_name]);
                sink.push(id::HWMON_CHIP_NAMES, Value::Unsigned(1));
            }
            for sensor in &chip.sensors {
                if let Some(label) = &sensor.label {
                    sink.labels(&[&chip.chip, &sensor.name, label]);
                    sink.push(id::HWMON_SENSOR_LABEL, Value::Unsigned(1));
                }
                if sensor.files.is_empty() {
                    continue;
                }
                sink.labels(&[&chip.chip, &sensor.name]);
                let mut input = None;
                for (metric, file) in &sensor.files {
                    match file.read_parse(scratch, parse_hwmon_value) {
                        Ok(value) => {
                            sink.push(*metric, Value::Signed(value));
                            if *metric == id::HWMON_TEMP {
                                input = Some(value);
                            }
                        }
                        Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
                    }
                }
                if let (Some(telegraf), Some(value)) = (&sensor.telegraf, input) {
                    sink.labels(&[telegraf]);
                    sink.push(id::TEMP, Value::Signed(value));
                }
            }
        }
    }
}
