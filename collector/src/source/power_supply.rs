//! `/sys/class/power_supply/<supply>/` → node_exporter's `powersupplyclass` families
//! (label `power_supply`): `node_power_supply_<attribute>` for each integer file the
//! supply has ([`NUMBERS`]) and `node_power_supply_info` with its text files
//! ([`TEXTS`]) as labels.
//!
//! Supplies come and go (a USB charger, a wireless mouse's battery, a UPS), so discovery
//! runs again every `rediscover`; each attribute file is opened then and read with one
//! `pread` per cycle into a stack buffer, without allocation. Like node_exporter
//! (procfs), a file that does not read with `ENODATA`, `EINVAL`, `EOPNOTSUPP` or `ENOENT`
//! (a battery removed from its bay, a gauge that is asleep) is left out; other read
//! errors and numbers that do not parse are counted failures (node_exporter fails the
//! scrape).

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{Failure, ReadError, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::power_supply::{NUMBERS, TEXT_READ_BYTES, TEXTS, parse_number, parse_text};
use crate::sink::SampleSink;

/// One supply's open attribute files.
#[derive(Debug)]
struct Supply {
    name: String,
    /// The integer files that exist, in id order.
    numbers: Vec<(u16, SysFile)>,
    /// [`TEXTS`], where they exist.
    texts: [Option<SysFile>; TEXTS.len()],
}

/// Reads every power supply's attributes.
#[derive(Debug)]
pub(crate) struct PowerSupplyReader {
    supplies: Vec<Supply>,
}

fn open_supply(dir: &Path, name: String) -> Supply {
    let mut supply = Supply {
        name,
        numbers: Vec::new(),
        texts: Default::default(),
    };
    for (file, metric) in NUMBERS {
        if let Some(file) = SysFile::open_optional(dir.join(file)) {
            supply.numbers.push((metric, file));
        }
    }
    for (slot, file) in supply.texts.iter_mut().zip(TEXTS.iter().copied()) {
        *slot = SysFile::open_optional(dir.join(file));
    }
    supply
}

fn failed(file: &SysFile, e: Failure, errors: &mut ErrorCounter) {
    errors.fail(format_args!("{}: {e}", file.path().display()));
}

/// Reads `file` into `buf`: its bytes, or `None` when it is left out (see the module
/// docs) or failed (counted).
fn read<'b>(file: &SysFile, buf: &'b mut [u8], errors: &mut ErrorCounter) -> Option<&'b [u8]> {
    match file.read_once(buf) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            if !matches!(
                e.raw_os_error(),
                Some(libc::ENODATA | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT | libc::ENODEV)
            ) {
                failed(file, Failure::Read(ReadError::Io(e)), errors);
            }
            None
        }
    }
}

impl Supply {
    fn collect(&self, sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        sink.labels(&[&self.name]);
        let mut buf = [0u8; 32];
        for (metric, file) in &self.numbers {
            let Some(bytes) = read(file, &mut buf, errors) else {
                continue;
            };
            match parse_number(bytes) {
                Ok(value) => sink.push(*metric, Value::Signed(value)),
                Err(e) => failed(file, Failure::Parse(e), errors),
            }
        }
        let mut bufs = [[0u8; TEXT_READ_BYTES]; TEXTS.len()];
        let mut labels = [""; TEXTS.len() + 1];
        labels[0] = &self.name;
        for ((file, buf), label) in self.texts.iter().zip(&mut bufs).zip(&mut labels[1..]) {
            let Some(file) = file else { continue };
            if let Some(bytes) = read(file, buf, errors) {
                match parse_text(bytes) {
                    Ok(value) => *label = value,
                    Err(e) => failed(file, Failure::Parse(e), errors),
                }
            }
        }
        sink.labels(&labels);
        sink.push(id::POWER_SUPPLY_INFO, Value::Unsigned(1));
    }
}

impl Source for PowerSupplyReader {
    /// `Err` when `sys/class/power_supply` cannot be listed or has no supply (a
    /// Raspberry Pi has none; node_exporter then sends nothing either).
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/class/power_supply");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut supplies: Vec<Supply> = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            // Symbolic links into `/sys/devices/…` (directories in a copied tree).
            if !entry.path().is_dir() {
                continue;
            }
            let supply = open_supply(&entry.path(), name);
            let at = supplies.partition_point(|s| s.name < supply.name);
            supplies.insert(at, supply);
        }
        if supplies.is_empty() {
            return Err(format!("no power supply under {}", dir.display()));
        }
        Ok(PowerSupplyReader { supplies })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// The supplies, on one line.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ":")?;
        for supply in &self.supplies {
            write!(f, " {}", supply.name)?;
        }
        Ok(())
    }

    fn collect(&mut self, _: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        for supply in &self.supplies {
            supply.collect(sink, errors);
        }
    }
}
