//! cpufreq → `CPUFREQ_SCALING_{CUR,MIN,MAX}` and `CPUFREQ_CPUINFO_{CUR,MIN,MAX}` per CPU
//! (label `cpu`), in kHz.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::cpufreq::{parse_cpu_dir_name, parse_khz};
use crate::parse::fmt_u32;
use crate::sink::SampleSink;

/// `cpuinfo_cur_freq` is mode 0400 on most drivers: a collector not running as root
/// cannot open it and does not send it (node_exporter skips it too).
const FILES: [(&str, u16); 6] = [
    ("scaling_cur_freq", id::CPUFREQ_SCALING_CUR),
    ("scaling_min_freq", id::CPUFREQ_SCALING_MIN),
    ("scaling_max_freq", id::CPUFREQ_SCALING_MAX),
    ("cpuinfo_cur_freq", id::CPUFREQ_CPUINFO_CUR),
    ("cpuinfo_min_freq", id::CPUFREQ_CPUINFO_MIN),
    ("cpuinfo_max_freq", id::CPUFREQ_CPUINFO_MAX),
];

/// One CPU's open files.
#[derive(Debug)]
struct Cpu {
    number: u32,
    files: Vec<(SysFile, u16)>,
}

/// Reads every CPU's cpufreq files, discovered at start-up and again every
/// `rediscover` (CPUs go offline and online, the driver is reloaded).
#[derive(Debug)]
pub(crate) struct CpufreqReader {
    cpus: Vec<Cpu>,
}

impl Source for CpufreqReader {
    /// `Err` when no CPU has cpufreq files.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/devices/system/cpu");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cpus = Vec::new();
        for entry in entries.flatten() {
            let Some(number) = parse_cpu_dir_name(entry.file_name().as_encoded_bytes()) else {
                continue;
            };
            let files: Vec<_> = FILES
                .iter()
                .filter_map(|(name, metric)| {
                    SysFile::open_optional(entry.path().join("cpufreq").join(name))
                        .map(|f| (f, *metric))
                })
                .collect();
            if !files.is_empty() {
                cpus.push(Cpu { number, files });
            }
        }
        if cpus.is_empty() {
            return Err(format!("no {}/cpu*/cpufreq", dir.display()));
        }
        cpus.sort_by_key(|c| c.number);
        Ok(CpufreqReader { cpus })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// The CPU numbers found.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ": cpus")?;
        self.cpus.iter().try_for_each(|c| write!(f, " {}", c.number))
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for cpu in &self.cpus {
            let mut digits = [0u8; 10];
            sink.labels(&[fmt_u32(cpu.number, &mut digits)]);
            for (file, metric) in &cpu.files {
                match file.read_parse(scratch, parse_khz) {
                    Ok(khz) => sink.push(*metric, Value::Unsigned(khz)),
                    Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
                }
            }
        }
    }
}
