//! hwmon → `HWMON_*` (labels `chip`, `sensor`), in sysfs units (millidegrees,
//! millivolts, milliamps, RPM, microwatts); includes the Raspberry Pi `rpi_volt`
//! under-voltage alarm (`in0_lcrit_alarm`).
//!
//! Chips, sensors and their files are discovered at start-up and again every
//! `rediscover` (a reloaded driver's chip comes back as another `hwmonN`: its label,
//! from the device path, stays the same, so its series go on). The `chip` label is
//! node_exporter's: from the `device` link's resolved path (`platform_coretemp_0`),
//! else the cleaned `name` file, else the directory name. `sensor` is `temp1`, `in0`, ….

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::hwmon::{
    chip_name, clean_name, parse_hwmon_dir_name, parse_hwmon_text, parse_hwmon_value,
    parse_sensor_file_name,
};
use crate::sink::SampleSink;

/// The catalog id for a sensor file (`kind`, `item`), or `None` when not collected.
pub fn hwmon_id(kind: &str, item: &str) -> Option<u16> {
    Some(match (kind, item) {
        ("temp", "input") => id::HWMON_TEMP,
        ("temp", "max") => id::HWMON_TEMP_MAX,
        ("temp", "crit") => id::HWMON_TEMP_CRIT,
        ("in", "input") => id::HWMON_IN,
        ("in", "lcrit_alarm") => id::HWMON_IN_LCRIT_ALARM,
        ("fan", "input") => id::HWMON_FAN,
        ("curr", "input") => id::HWMON_CURR,
        ("power", "input") => id::HWMON_POWER,
        ("power", "average") => id::HWMON_POWER_AVERAGE,
        _ => return None,
    })
}

/// One sensor (`temp1`) of a chip and its value files.
#[derive(Debug)]
pub(crate) struct Sensor {
    pub(crate) name: String,
    /// Its `*_label`, if any (for `--check`).
    pub(crate) label: Option<String>,
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

fn open_chip(dir: &Path, number: u32) -> Chip {
    let name = read_text(&dir.join("name"));
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
            let Some(metric) = hwmon_id(parsed.kind, parsed.item) else {
                continue;
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
                        label: read_text(&sub.join(format!("{sensor_name}_label"))),
                        index: parsed.index,
                        files: Vec::new(),
                    });
                    let last = sensors.len() - 1;
                    &mut sensors[last]
                }
            };
            if sensor.files.iter().any(|(m, _)| *m == metric) {
                continue; // already found in hwmonN/
            }
            if let Some(file) = SysFile::open_optional(entry.path()) {
                sensor.files.push((metric, file));
            }
        }
    }
    sensors.retain(|s| !s.files.is_empty());
    for sensor in &mut sensors {
        sensor.files.sort_by_key(|(metric, _)| *metric);
    }
    // Sensors ordered by their first id (temp before in before fan…), then index.
    sensors.sort_by_key(|s| (s.files.first().map_or(u16::MAX, |f| f.0), s.index));
    Chip {
        number,
        chip,
        name,
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
            .filter(|chip| !chip.sensors.is_empty())
            .collect();
        if chips.is_empty() {
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
            for sensor in &chip.sensors {
                sink.labels(&[&chip.chip, &sensor.name]);
                for (metric, file) in &sensor.files {
                    match file.read_parse(scratch, parse_hwmon_value) {
                        Ok(value) => sink.push(*metric, Value::Signed(value)),
                        Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
                    }
                }
            }
        }
    }
}
