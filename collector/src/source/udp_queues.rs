//! `/proc/net/udp` and `/proc/net/udp6` → `node_udp_queues{ip,queue}` (node_exporter's
//! `udp_queues` collector). Each file is streamed through the scratch buffer line by
//! line ([`SysFile::for_each_line`]), so thousands of sockets need no bigger buffer and
//! no allocation.

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::udp_queues::{UdpQueues, push_samples};
use crate::sink::SampleSink;

/// `udp` (required) and `udp6` (absent without IPv6: then only `ip="v4"` is sent, as by
/// node_exporter).
#[derive(Debug)]
pub(crate) struct UdpQueuesReader {
    v4: SysFile,
    v6: Option<SysFile>,
}

/// Sums one file's queues; `None` (counted) when it does not read.
fn sum(file: &SysFile, scratch: &mut [u8], errors: &mut ErrorCounter) -> Option<UdpQueues> {
    let mut sums = UdpQueues::default();
    let mut header = true;
    let mut bad = None;
    let read = file.for_each_line(scratch, |line| {
        if std::mem::take(&mut header) {
            return;
        }
        if let Err(e) = sums.add_line(line) {
            bad = Some(e);
        }
    });
    if let Err(e) = read {
        errors.fail(format_args!("{}: {e}", file.path().display()));
        return None;
    }
    if let Some(e) = bad {
        errors.fail(format_args!("{}: {e}", file.path().display()));
    }
    Some(sums)
}

impl Source for UdpQueuesReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(UdpQueuesReader {
            v4: SysFile::open_under(&config.root, "proc/net/udp")?,
            v6: SysFile::open_optional(config.root.join("proc/net/udp6")),
        })
    }

    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.v6.is_some() { ": udp udp6" } else { ": udp" })
    }

    fn collect(&mut self, scratch: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        let v4 = sum(&self.v4, scratch, errors);
        let v6 = self.v6.as_ref().and_then(|f| sum(f, scratch, errors));
        if v4.is_some() || v6.is_some() {
            push_samples(v4, v6, sink);
        }
    }
}
