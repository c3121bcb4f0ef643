//! `node_uname_info`: 1, labelled with the `uname(2)` strings, read every cycle from
//! `/proc/sys/kernel/{ostype,osrelease,version,arch,hostname,domainname}` (see
//! [`crate::parse::uname`]), so a host name changed while the collector runs shows at
//! once, as node_exporter's does.
//!
//! When those files are a procfs's (the live system, or a container's `/host/proc`:
//! a UTS sysctl shows the reader's namespace either way), one `uname(2)` call reads the
//! same six strings instead of six files, as node_exporter does (each sysctl read
//! allocates and frees a kernel buffer: docs/BENCHMARKS.md §2.2). A fixture tree's
//! regular files are read.
//!
//! The six files are read into six slices of the scratch buffer (a UTS string is at
//! most 64 bytes), so their strings are the labels without a copy. Without
//! `proc/sys/kernel/arch` (kernels before 6.0) the machine is `uname(2)`'s, asked once
//! at start.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::uname::{FILES, MACHINE, MAX_UTS_LEN, parse_uts_string};
use crate::sink::SampleSink;

/// Bytes of scratch per file: a UTS string, its newline, and room to see a longer one.
const SLICE: usize = MAX_UTS_LEN + 2;

/// Where the machine comes from.
enum Machine {
    /// `proc/sys/kernel/arch`, read every cycle.
    File,
    /// `uname(2)` at start (no `arch` file).
    Uname(String),
}

/// Reads the five (or six) files every cycle, or calls `uname(2)`.
pub(crate) struct UnameReader {
    /// In [`FILES`] order; `None` for `arch` when the machine is [`Machine::Uname`].
    files: [Option<SysFile>; 6],
    machine: Machine,
    /// The files are a procfs's: `uname(2)` gives the same strings in one call.
    syscall: bool,
}

impl Source for UnameReader {
    /// `Err` when one of the five files every kernel has cannot be opened (no procfs
    /// under the root).
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let mut files: [Option<SysFile>; 6] = Default::default();
        for (i, (slot, rel)) in files.iter_mut().zip(FILES).enumerate() {
            *slot = if i == MACHINE {
                SysFile::open_optional(config.root.join(rel))
            } else {
                Some(SysFile::open_under(&config.root, rel)?)
            };
        }
        let machine = match files[MACHINE] {
            Some(_) => Machine::File,
            None => Machine::Uname(
                crate::sys::uname_machine().ok_or("uname(2) failed and no arch file")?,
            ),
        };
        let syscall = files[0].as_ref().is_some_and(|f| crate::sys::is_procfs(f.fd()))
            && crate::sys::uts_names().is_some();
        Ok(UnameReader {
            files,
            machine,
            syscall,
        })
    }

    /// Where the machine comes from.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.machine {
            _ if self.syscall => write!(f, ": uname(2)"),
            Machine::File => Ok(()),
            Machine::Uname(m) => write!(f, ": machine {m} from uname(2)"),
        }
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let mut labels = [""; 6];
        if self.syscall {
            let Some(names) = crate::sys::uts_names() else {
                return errors.fail(format_args!("uname(2) failed"));
            };
            for (i, label) in labels.iter_mut().enumerate() {
                match std::str::from_utf8(names.get(i)) {
                    Ok(value) => *label = value,
                    // One string missing would make another series: send none.
                    Err(_) => return errors.fail(format_args!("uname(2): a string not UTF-8")),
                }
            }
            sink.labels(&labels);
            sink.push(id::UNAME_INFO, Value::Unsigned(1));
            return;
        }
        let mut rest = scratch;
        for (i, file) in self.files.iter().enumerate() {
            let Some(file) = file else {
                if let Machine::Uname(m) = &self.machine {
                    labels[i] = m;
                }
                continue;
            };
            let n = SLICE.min(rest.len());
            let (slice, tail) = std::mem::take(&mut rest).split_at_mut(n);
            rest = tail;
            match file.read_parse(slice, parse_uts_string) {
                Ok(value) => labels[i] = value,
                // One string missing would make another series: send none.
                Err(e) => {
                    return errors.fail(format_args!("{}: {e}", file.path().display()));
                }
            }
        }
        sink.labels(&labels);
        sink.push(id::UNAME_INFO, Value::Unsigned(1));
    }
}
