//! `node_os_info` and `node_os_version` from `etc/os-release`, else
//! `usr/lib/os-release`, under the root (see [`crate::parse::os_release`]).
//!
//! The file is read when the source is discovered, not every cycle: it changes only
//! when the system is upgraded. Its values are kept as strings and sent every cycle
//! without allocation; the source counts as hot-plug, so discovery reads the file
//! again every `rediscover` (an upgrade shows within a minute, logged as
//! `re-discovered` with the new `PRETTY_NAME`).

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::os_release::{
    PATHS, PRETTY_NAME, VERSION_ID, VERSION_LABELS, parse_os_release, version_number,
};
use crate::sink::SampleSink;

/// The values read at discovery.
pub(crate) struct OsReleaseReader {
    /// In `KEYS` order, empty when absent.
    values: [String; 12],
    /// `node_os_version`, when `VERSION_ID` starts with a positive number.
    version: Option<f64>,
}

impl Source for OsReleaseReader {
    /// `Err` when neither file can be read, or the first that can does not parse (as
    /// node_exporter, which then sends nothing).
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let mut why = String::new();
        for rel in PATHS {
            let path = config.root.join(rel);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    why = format!("{}: {e}", path.display());
                    continue;
                }
            };
            let mut buf = vec![0u8; bytes.len()];
            let os = parse_os_release(&bytes, &mut buf)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(OsReleaseReader {
                values: os.values.map(String::from),
                version: version_number(os.values[VERSION_ID]).filter(|&v| v > 0.0),
            });
        }
        Err(why)
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// The `PRETTY_NAME`.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ": {}", self.values[PRETTY_NAME])
    }

    fn collect(&mut self, _: &mut [u8], sink: &mut dyn SampleSink, _: &mut ErrorCounter) {
        let values = self.values.each_ref().map(String::as_str);
        sink.labels(&values);
        sink.push(id::OS_INFO, Value::Unsigned(1));
        if let Some(version) = self.version {
            sink.labels(&VERSION_LABELS.map(|i| values[i]));
            sink.push(id::OS_VERSION, Value::F64(version));
        }
    }
}
