//! `/proc/stat` → system-wide `STAT_*` (unlabelled) and per-CPU `CPU_SECONDS_*`,
//! `CPU_GUEST_SECONDS_*` (label `cpu`), in jiffies.

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{SysFile, fmt_u32};
use super::log::ErrorCounter;
use crate::parse::stat::parse_stat;
use crate::sink::SampleSink;

/// Catalog ids of the eight non-guest modes, in [`crate::parse::stat::CpuTimes::modes`] order.
const MODE_IDS: [u16; 8] = [
    id::CPU_SECONDS_USER,
    id::CPU_SECONDS_NICE,
    id::CPU_SECONDS_SYSTEM,
    id::CPU_SECONDS_IDLE,
    id::CPU_SECONDS_IOWAIT,
    id::CPU_SECONDS_IRQ,
    id::CPU_SECONDS_SOFTIRQ,
    id::CPU_SECONDS_STEAL,
];

/// Reads `/proc/stat`.
#[derive(Debug)]
pub(crate) struct StatReader {
    file: SysFile,
}

impl StatReader {
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        Ok(StatReader {
            file: SysFile::open(root.join("proc/stat"))?,
        })
    }

    pub(crate) fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let path = self.file.path();
        let bytes = match self.file.read(scratch) {
            Ok(bytes) => bytes,
            Err(e) => return errors.fail(format_args!("{}: {e}", path.display())),
        };
        let stat = match parse_stat(bytes) {
            Ok(stat) => stat,
            Err(e) => return errors.fail(format_args!("{}: {e}", path.display())),
        };
        sink.labels(&[]);
        sink.push(
            id::STAT_CONTEXT_SWITCHES,
            Value::Unsigned(stat.context_switches),
        );
        sink.push(id::STAT_INTERRUPTS, Value::Unsigned(stat.interrupts));
        sink.push(id::STAT_FORKS, Value::Unsigned(stat.forks));
        sink.push(id::STAT_PROCS_RUNNING, Value::Unsigned(stat.procs_running));
        sink.push(id::STAT_PROCS_BLOCKED, Value::Unsigned(stat.procs_blocked));
        sink.push(id::STAT_BOOT_TIME, Value::Unsigned(stat.boot_time));
        for cpu in stat.cpus() {
            let (number, times) = match cpu {
                Ok(cpu) => cpu,
                Err(e) => {
                    errors.fail(format_args!("{}: {e}", path.display()));
                    continue;
                }
            };
            let mut digits = [0u8; 10];
            sink.labels(&[fmt_u32(number, &mut digits)]);
            for (metric, value) in MODE_IDS.into_iter().zip(times.modes()) {
                sink.push(metric, Value::Unsigned(value));
            }
            sink.push(id::CPU_GUEST_SECONDS_USER, Value::Unsigned(times.guest));
            sink.push(
                id::CPU_GUEST_SECONDS_NICE,
                Value::Unsigned(times.guest_nice),
            );
        }
    }
}
