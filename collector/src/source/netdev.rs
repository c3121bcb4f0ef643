//! `/proc/net/dev` → `NET_*` per interface (label `device`), raw counters.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{NameLists, Source, SourcesConfig};
use crate::parse::netdev::parse_net_dev;
use crate::sink::SampleSink;

/// Reads `/proc/net/dev`.
#[derive(Debug)]
pub(crate) struct NetDevReader {
    file: SysFile,
    filter: NameLists,
}

impl Source for NetDevReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(NetDevReader {
            file: SysFile::open_under(&config.root, "proc/net/dev")?,
            filter: config.net_devices.clone(),
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let bytes = match self.file.read(scratch) {
            Ok(bytes) => bytes,
            Err(e) => return errors.fail(format_args!("{}: {e}", self.file.path().display())),
        };
        for dev in parse_net_dev(bytes) {
            let dev = match dev {
                Ok(dev) => dev,
                Err(e) => {
                    errors.fail(format_args!("{}: {e}", self.file.path().display()));
                    continue;
                }
            };
            if !self.filter.allows(dev.name, |_| false) {
                continue;
            }
            sink.labels(&[dev.name]);
            for (offset, value) in (0u16..).zip(dev.counters) {
                sink.push(id::NET_RECEIVE_BYTES + offset, Value::Unsigned(value));
            }
        }
    }
}
