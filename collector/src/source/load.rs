//! `/proc/loadavg` → `LOAD1`, `LOAD5`, `LOAD15` (hundredths) and `/proc/uptime` →
//! `UPTIME` (hundredths of a second), unlabelled.

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use crate::parse::loadavg::parse_loadavg;
use crate::parse::uptime::parse_uptime;
use crate::sink::SampleSink;

/// Reads `/proc/loadavg`.
#[derive(Debug)]
pub(crate) struct LoadavgReader {
    file: SysFile,
}

impl LoadavgReader {
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        Ok(LoadavgReader {
            file: SysFile::open(root.join("proc/loadavg"))?,
        })
    }

    pub(crate) fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        match self.file.read_parse(scratch, parse_loadavg) {
            Ok(load) => {
                sink.labels(&[]);
                sink.push(id::LOAD1, Value::Unsigned(load.load1));
                sink.push(id::LOAD5, Value::Unsigned(load.load5));
                sink.push(id::LOAD15, Value::Unsigned(load.load15));
            }
            Err(e) => errors.fail(format_args!("{}: {e}", self.file.path().display())),
        }
    }
}

/// Reads `/proc/uptime`.
#[derive(Debug)]
pub(crate) struct UptimeReader {
    file: SysFile,
}

impl UptimeReader {
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        Ok(UptimeReader {
            file: SysFile::open(root.join("proc/uptime"))?,
        })
    }

    pub(crate) fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        match self.file.read_parse(scratch, parse_uptime) {
            Ok(uptime) => {
                sink.labels(&[]);
                sink.push(id::UPTIME, Value::Unsigned(uptime.uptime_centis));
            }
            Err(e) => errors.fail(format_args!("{}: {e}", self.file.path().display())),
        }
    }
}
