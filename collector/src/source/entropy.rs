//! `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `/proc/sys/kernel/random/{entropy_avail,poolsize}` (see [`crate::parse::entropy`]),
//! both re-read every cycle, unlabelled.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::entropy::{PATHS, parse_bits};
use crate::sink::SampleSink;

/// The two files, with their ids.
pub(crate) struct EntropyReader {
    files: [(SysFile, u16); 2],
}

impl Source for EntropyReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let [avail, pool] = PATHS;
        Ok(EntropyReader {
            files: [
                (SysFile::open_under(&config.root, avail)?, id::ENTROPY_AVAILABLE_BITS),
                (SysFile::open_under(&config.root, pool)?, id::ENTROPY_POOL_SIZE_BITS),
            ],
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        sink.labels(&[]);
        for (file, metric) in &self.files {
            match file.read_parse(scratch, parse_bits) {
                Ok(bits) => sink.push(*metric, Value::Unsigned(bits)),
                Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
    }
}
