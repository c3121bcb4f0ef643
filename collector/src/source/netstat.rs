//! `/proc/net/netstat`, `/proc/net/snmp` and (when IPv6 is on) `/proc/net/snmp6` →
//! `NETSTAT_*`, unlabelled: node_exporter's `netstat` collector, which reads the three
//! together. The formats are [`crate::parse::netstat`]'s.

use super::file::{PushSamples, SysFile, collect_one_file};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::FileFormat;
use crate::parse::netstat::{ProcNetNetstat, ProcNetSnmp, ProcNetSnmp6};
use crate::sink::SampleSink;

/// Reads the files that exist; `netstat` and `snmp` are required (as node_exporter
/// fails without them), `snmp6` is absent on a kernel booted with `ipv6.disable=1`.
#[derive(Debug)]
pub(crate) struct NetstatReader {
    files: Vec<(SysFile, PushSamples)>,
}

impl Source for NetstatReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let mut files: Vec<(SysFile, PushSamples)> = vec![
            (
                SysFile::open_under(&config.root, ProcNetNetstat::PATH)?,
                ProcNetNetstat::push_samples,
            ),
            (
                SysFile::open_under(&config.root, ProcNetSnmp::PATH)?,
                ProcNetSnmp::push_samples,
            ),
        ];
        if let Some(f) = SysFile::open_optional(config.root.join(ProcNetSnmp6::PATH)) {
            files.push((f, ProcNetSnmp6::push_samples));
        }
        Ok(NetstatReader { files })
    }

    /// Whether IPv6 counters are read.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.files.len() < 3 {
            f.write_str("; no snmp6 (IPv6 off)")?;
        }
        Ok(())
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for (file, push) in &self.files {
            collect_one_file(file, *push, scratch, sink, errors);
        }
    }
}
