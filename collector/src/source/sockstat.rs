//! `/proc/net/sockstat` and (when IPv6 is on) `/proc/net/sockstat6` → `SOCKSTAT_*`,
//! unlabelled: node_exporter's `sockstat` collector. `mem_bytes` needs the node's page
//! size, which the `no_std` parser cannot know: the reader asks once at start.

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::sockstat::push_sockstat;
use crate::sink::SampleSink;

/// Reads `sockstat` (required) and `sockstat6` (absent with `ipv6.disable=1`).
#[derive(Debug)]
pub(crate) struct SockstatReader {
    files: Vec<SysFile>,
    page_size: u64,
}

impl Source for SockstatReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let mut files = vec![SysFile::open_under(&config.root, "proc/net/sockstat")?];
        files.extend(SysFile::open_optional(config.root.join("proc/net/sockstat6")));
        Ok(SockstatReader {
            files,
            page_size: crate::sys::page_size(),
        })
    }

    /// Whether IPv6 sockets are read.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.files.len() < 2 {
            f.write_str("; no sockstat6 (IPv6 off)")?;
        }
        Ok(())
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for file in &self.files {
            let path = file.path();
            let bytes = match file.read(scratch) {
                Ok(bytes) => bytes,
                Err(e) => {
                    errors.fail(format_args!("{}: {e}", path.display()));
                    continue;
                }
            };
            let mut bad_row = |e| errors.fail(format_args!("{}: {e}", path.display()));
            if let Err(e) = push_sockstat(bytes, self.page_size, sink, &mut bad_row) {
                bad_row(e);
            }
        }
    }
}
