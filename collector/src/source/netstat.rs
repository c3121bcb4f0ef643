//! `/proc/net/{netstat,snmp,snmp6}` → `node_netstat_*`. `netstat` and `snmp` keep a
//! [`HeaderCache`] each across cycles: their header lines do not change within a boot,
//! so a cycle only walks the value lines to the sent columns (the parser stays pure:
//! the cache is passed in).

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::FileFormat;
use crate::parse::netstat::{HeaderCache, ProcNetNetstat, ProcNetSnmp, ProcNetSnmp6, push_header_value_cached};
use crate::parse::ParseError;
use crate::sink::SampleSink;

/// `netstat` and `snmp` (required, as node_exporter fails without them) and `snmp6`
/// (absent on a kernel booted with `ipv6.disable=1`).
#[derive(Debug)]
pub(crate) struct NetstatReader {
    netstat: SysFile,
    snmp: SysFile,
    snmp6: Option<SysFile>,
    /// `netstat`'s and `snmp`'s, allocated once here.
    caches: Box<[HeaderCache; 2]>,
}

/// Reads `file` and hands its bytes to `push`; a failed read or parse is counted.
fn collect_file(
    file: &SysFile,
    scratch: &mut [u8],
    errors: &mut ErrorCounter,
    push: impl FnOnce(&[u8], &mut dyn FnMut(ParseError)) -> Result<(), ParseError>,
) {
    let path = file.path();
    let bytes = match file.read(scratch) {
        Ok(bytes) => bytes,
        Err(e) => return errors.fail(format_args!("{}: {e}", path.display())),
    };
    let mut bad_row = |e| errors.fail(format_args!("{}: {e}", path.display()));
    if let Err(e) = push(bytes, &mut bad_row) {
        bad_row(e);
    }
}

impl Source for NetstatReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(NetstatReader {
            netstat: SysFile::open_under(&config.root, ProcNetNetstat::PATH)?,
            snmp: SysFile::open_under(&config.root, ProcNetSnmp::PATH)?,
            snmp6: SysFile::open_optional(config.root.join(ProcNetSnmp6::PATH)),
            caches: Box::default(),
        })
    }

    /// The files read (`snmp6` may be missing without IPv6).
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.snmp6.is_some() {
            ": netstat snmp snmp6"
        } else {
            ": netstat snmp"
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let [netstat, snmp] = &mut *self.caches;
        for (file, cache) in [(&self.netstat, netstat), (&self.snmp, snmp)] {
            collect_file(file, scratch, errors, |bytes, bad_row| {
                push_header_value_cached(bytes, cache, sink, bad_row)
            });
        }
        if let Some(file) = &self.snmp6 {
            collect_file(file, scratch, errors, |bytes, bad_row| {
                ProcNetSnmp6::push_samples(bytes, sink, bad_row)
            });
        }
    }
}
