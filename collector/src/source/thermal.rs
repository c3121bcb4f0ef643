//! Thermal zones → `THERMAL_ZONE_TEMP` (labels `zone`, `type`), millidegrees; cooling
//! devices (a fan, CPU frequency capping) → `COOLING_DEVICE_CUR_STATE` and
//! `COOLING_DEVICE_MAX_STATE` (labels `name` = N of `cooling_deviceN`, `type`), as
//! node_exporter's `thermal_zone` collector sends them.
//!
//! Zones and cooling devices are discovered at start-up and again every `rediscover`; a zone whose `temp`
//! fails to read (ENODATA from a disabled zone, EAGAIN, …) is counted as a failure and
//! skipped for this cycle, and the other zones are still reported.
//!
//! Telegraf's `temp` input reads hwmon, and the thermal zones only on a machine where no
//! hwmon chip has a temperature input. So does `TEMP` (label `sensor` = the zone's
//! type): the hwmon source sends it, or, without hwmon temperatures, this one.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::thermal::{
    parse_cooling_device_dir_name, parse_cooling_state, parse_zone_dir_name, parse_zone_temp,
    parse_zone_type,
};
use crate::sink::SampleSink;

/// One zone.
#[derive(Debug)]
struct Zone {
    number: u32,
    zone_label: String,
    kind: String,
    temp: SysFile,
}

/// One cooling device.
#[derive(Debug)]
struct CoolingDevice {
    number: u32,
    name: String,
    kind: String,
    cur_state: SysFile,
    max_state: SysFile,
}

/// Reads every thermal zone's `temp` and every cooling device's states.
#[derive(Debug)]
pub(crate) struct ThermalReader {
    zones: Vec<Zone>,
    cooling: Vec<CoolingDevice>,
    /// No hwmon chip has a temperature input: the zones are Telegraf's `temp` sensors.
    telegraf_temp: bool,
}

/// Whether any `hwmon*/temp*_input` (or `hwmon*/device/temp*_input`) exists under `dir`
/// (`sys/class/hwmon`): where Telegraf's `temp` input looks first.
fn hwmon_has_temperature(dir: &std::path::Path) -> bool {
    let Ok(chips) = std::fs::read_dir(dir) else {
        return false;
    };
    chips.flatten().any(|chip| {
        [chip.path(), chip.path().join("device")].iter().any(|sub| {
            std::fs::read_dir(sub).is_ok_and(|files| {
                files.flatten().any(|f| {
                    let name = f.file_name();
                    let name = name.to_string_lossy();
                    name.starts_with("temp") && name.ends_with("_input")
                })
            })
        })
    })
}

impl Source for ThermalReader {
    /// `Err` when there is no zone.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/class/thermal");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut zones = Vec::new();
        let mut cooling = Vec::new();
        for entry in entries.flatten() {
            let dir_name = entry.file_name();
            let path = entry.path();
            let read_type = || {
                let bytes = std::fs::read(path.join("type")).ok()?;
                parse_zone_type(&bytes).ok().map(str::to_owned)
            };
            if let Some(number) = parse_cooling_device_dir_name(dir_name.as_encoded_bytes()) {
                let Some(kind) = read_type() else {
                    continue;
                };
                let open = |file| SysFile::open_optional(path.join(file));
                if let (Some(cur_state), Some(max_state)) = (open("cur_state"), open("max_state"))
                {
                    // In number order, without another sort's code in the binary.
                    let at = cooling.partition_point(|c: &CoolingDevice| c.number < number);
                    cooling.insert(
                        at,
                        CoolingDevice {
                        number,
                        name: number.to_string(),
                        kind,
                        cur_state,
                        max_state,
                    },
                    );
                }
                continue;
            }
            let Some(number) = parse_zone_dir_name(dir_name.as_encoded_bytes()) else {
                continue;
            };
            let Some(kind) = read_type() else {
                continue;
            };
            let Some(temp) = SysFile::open_optional(path.join("temp")) else {
                continue;
            };
            zones.push(Zone {
                number,
                zone_label: number.to_string(),
                kind,
                temp,
            });
        }
        if zones.is_empty() && cooling.is_empty() {
            return Err(format!("no {}/thermal_zone*", dir.display()));
        }
        zones.sort_by_key(|z| z.number);
        let telegraf_temp = !hwmon_has_temperature(&config.root.join("sys/class/hwmon"));
        Ok(ThermalReader {
            zones,
            cooling,
            telegraf_temp,
        })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// One line per zone and per cooling device.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.zones
            .iter()
            .try_for_each(|z| write!(f, "\n  zone {} ({})", z.zone_label, z.kind))?;
        self.cooling
            .iter()
            .try_for_each(|c| write!(f, "\n  cooling device {} ({})", c.name, c.kind))
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for zone in &self.zones {
            match zone.temp.read_parse(scratch, parse_zone_temp) {
                Ok(millidegrees) => {
                    sink.labels(&[&zone.zone_label, &zone.kind]);
                    sink.push(id::THERMAL_ZONE_TEMP, Value::Signed(millidegrees));
                    if self.telegraf_temp {
                        sink.labels(&[&zone.kind]);
                        sink.push(id::TEMP, Value::Signed(millidegrees));
                    }
                }
                Err(e) => errors.fail(format_args!("{}: {e}", zone.temp.path().display())),
            }
        }
        for device in &self.cooling {
            sink.labels(&[&device.name, &device.kind]);
            for (metric, file) in [
                (id::COOLING_DEVICE_CUR_STATE, &device.cur_state),
                (id::COOLING_DEVICE_MAX_STATE, &device.max_state),
            ] {
                match file.read_parse(scratch, parse_cooling_state) {
                    Ok(state) => sink.push(metric, Value::Signed(state)),
                    Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
                }
            }
        }
    }
}
