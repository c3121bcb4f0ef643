//! `/proc/pressure/{cpu,memory,io}` → `PRESSURE_*` (`total=` microseconds of `some`, and
//! of `full` where the kernel has it), unlabelled; and `/proc/pressure/irq` (6.1+, only
//! `full`) → `PRESSURE_IRQ_STALLED` where the kernel has it.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::pressure::{parse_pressure, parse_pressure_irq};
use crate::sink::SampleSink;

/// Resource name and the ids of its `some` and `full` totals.
const RESOURCES: [(&str, u16, u16); 3] = [
    ("cpu", id::PRESSURE_CPU_WAITING, id::PRESSURE_CPU_STALLED),
    (
        "memory",
        id::PRESSURE_MEMORY_WAITING,
        id::PRESSURE_MEMORY_STALLED,
    ),
    ("io", id::PRESSURE_IO_WAITING, id::PRESSURE_IO_STALLED),
];

/// Reads the pressure files that exist.
#[derive(Debug)]
pub(crate) struct PressureReader {
    files: Vec<(SysFile, u16, u16)>,
    /// `/proc/pressure/irq`, when the kernel has it.
    irq: Option<SysFile>,
}

impl Source for PressureReader {
    /// `Err` when none of the three files can be opened (no PSI: kernel < 4.20 or
    /// `psi=0`).
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("proc/pressure");
        let mut files = Vec::new();
        let mut last_error = None;
        for (name, some, full) in RESOURCES {
            match SysFile::open(dir.join(name)) {
                Ok(file) => files.push((file, some, full)),
                Err(e) => last_error = Some(e),
            }
        }
        match (files.is_empty(), last_error) {
            (true, Some(e)) => Err(format!("{}: {e}", dir.display())),
            _ => Ok(PressureReader {
                files,
                irq: SysFile::open_optional(dir.join("irq")),
            }),
        }
    }

    /// Which resources were found.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ":")?;
        self.files
            .iter()
            .map(|(file, _, _)| file)
            .chain(&self.irq)
            .filter_map(|file| file.path().file_name().and_then(|n| n.to_str()))
            .try_for_each(|r| write!(f, " {r}"))
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        sink.labels(&[]);
        for (file, some_id, full_id) in &self.files {
            match file.read_parse(scratch, parse_pressure) {
                Ok(p) => {
                    sink.push(*some_id, Value::Unsigned(p.some.total_us));
                    if let Some(full) = p.full {
                        sink.push(*full_id, Value::Unsigned(full.total_us));
                    }
                }
                Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
        if let Some(file) = &self.irq {
            match file.read_parse(scratch, parse_pressure_irq) {
                Ok(full) => sink.push(id::PRESSURE_IRQ_STALLED, Value::Unsigned(full.total_us)),
                Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
    }
}
