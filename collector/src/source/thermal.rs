//! Thermal zones → `THERMAL_ZONE_TEMP` (labels `zone`, `type`), millidegrees.
//!
//! Zones are discovered at start-up and again every `rediscover`; a zone whose `temp`
//! fails to read (ENODATA from a disabled zone, EAGAIN, …) is counted as a failure and
//! skipped for this cycle, and the other zones are still reported.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::thermal::{parse_zone_dir_name, parse_zone_temp, parse_zone_type};
use crate::sink::SampleSink;

/// One zone.
#[derive(Debug)]
struct Zone {
    number: u32,
    zone_label: String,
    kind: String,
    temp: SysFile,
}

/// Reads every thermal zone's `temp`.
#[derive(Debug)]
pub(crate) struct ThermalReader {
    zones: Vec<Zone>,
}

impl Source for ThermalReader {
    /// `Err` when there is no zone.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/class/thermal");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut zones = Vec::new();
        for entry in entries.flatten() {
            let Some(number) = parse_zone_dir_name(entry.file_name().as_encoded_bytes()) else {
                continue;
            };
            let path = entry.path();
            let Ok(type_bytes) = std::fs::read(path.join("type")) else {
                continue;
            };
            let Ok(kind) = parse_zone_type(&type_bytes) else {
                continue;
            };
            let Some(temp) = SysFile::open_optional(path.join("temp")) else {
                continue;
            };
            zones.push(Zone {
                number,
                zone_label: number.to_string(),
                kind: kind.to_owned(),
                temp,
            });
        }
        if zones.is_empty() {
            return Err(format!("no {}/thermal_zone*", dir.display()));
        }
        zones.sort_by_key(|z| z.number);
        Ok(ThermalReader { zones })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// One line per zone.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.zones
            .iter()
            .try_for_each(|z| write!(f, "\n  zone {} ({})", z.zone_label, z.kind))
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
                }
                Err(e) => errors.fail(format_args!("{}: {e}", zone.temp.path().display())),
            }
        }
    }
}
