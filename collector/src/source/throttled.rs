//! Raspberry Pi firmware `get_throttled` → the eight `RPI_*` flags (0/1) and
//! `RPI_THROTTLED_FLAGS` (the raw mask), unlabelled.

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use crate::parse::throttled::parse_throttled;
use crate::sink::SampleSink;

/// Where the firmware driver exposes `get_throttled`, under the root.
pub const GET_THROTTLED_PATH: &str = "sys/devices/platform/soc/soc:firmware/get_throttled";

/// Ids of the flags, in [`crate::parse::throttled::Throttled::flags`] order.
const FLAG_IDS: [u16; 8] = [
    id::RPI_UNDER_VOLTAGE,
    id::RPI_FREQUENCY_CAPPED,
    id::RPI_THROTTLED,
    id::RPI_SOFT_TEMP_LIMIT,
    id::RPI_UNDER_VOLTAGE_OCCURRED,
    id::RPI_FREQUENCY_CAPPED_OCCURRED,
    id::RPI_THROTTLED_OCCURRED,
    id::RPI_SOFT_TEMP_LIMIT_OCCURRED,
];

/// Reads `get_throttled`.
#[derive(Debug)]
pub(crate) struct ThrottledReader {
    file: SysFile,
}

impl ThrottledReader {
    pub(crate) fn open(root: &Path) -> std::io::Result<Self> {
        Ok(ThrottledReader {
            file: SysFile::open(root.join(GET_THROTTLED_PATH))?,
        })
    }

    pub(crate) fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        match self.file.read_parse(scratch, parse_throttled) {
            Ok(t) => {
                sink.labels(&[]);
                for (metric, set) in FLAG_IDS.into_iter().zip(t.flags()) {
                    sink.push(metric, Value::Unsigned(u64::from(set)));
                }
                sink.push(
                    id::RPI_THROTTLED_FLAGS,
                    Value::Unsigned(u64::from(t.bits())),
                );
            }
            Err(e) => errors.fail(format_args!("{}: {e}", self.file.path().display())),
        }
    }
}
