//! The files of one tracked cgroup, opened once when it is discovered and re-read
//! every cycle, and the values read from them.
//!
//! On a cgroup v2 host everything is in the cgroup's directory of the one tree. On a
//! hybrid host the unified tree has `cpu.stat` (usage, user, system) and the pressure
//! files, and the v1 controllers' hierarchies have the rest under the same path:
//! memory (`memory.usage_in_bytes`, `memory.stat` with `total_*`,
//! `memory.limit_in_bytes`, `memory.oom_control`), `pids.current`, blkio's recursive
//! service counters and the cpu controller's throttling (`cpu.stat`). A file that does
//! not exist (a controller not enabled for that subtree, no swap accounting, no PSI)
//! is simply not read.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::parse::ParseError;
use crate::parse::cgroup::{
    CpuStat, IoTotals, MemoryStat, parse_blkio_recursive, parse_count, parse_cpu_stat,
    parse_io_stat, parse_memory_limit, parse_memory_stat, parse_oom_kills, working_set,
};
use crate::parse::pressure::{Pressure, parse_pressure};

use super::dir::{Dir, RelPath};

/// The hierarchies files are opened in.
#[derive(Debug)]
pub(crate) struct Hierarchies {
    /// The v2 tree (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on a hybrid host).
    pub(crate) tree: Dir,
    /// v1 controllers of a hybrid host (`None` on v2, or when not mounted).
    pub(crate) v1_memory: Option<Dir>,
    pub(crate) v1_pids: Option<Dir>,
    pub(crate) v1_blkio: Option<Dir>,
    pub(crate) v1_cpu: Option<Dir>,
}

impl Hierarchies {
    /// Whether this is a hybrid host (v1 controllers next to the unified tree).
    pub(crate) fn hybrid(&self) -> bool {
        self.v1_memory.is_some() || self.v1_pids.is_some() || self.v1_blkio.is_some()
    }
}

/// Which format a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    CpuStat,
    Throttling,
    MemoryCurrent,
    MemoryStat,
    Swap,
    Limit,
    OomKills,
    IoStat,
    BlkioBytes,
    BlkioOps,
    Tasks,
    PressureCpu,
    PressureMemory,
    PressureIo,
}

/// Most files one cgroup has open.
const MAX_FILES: usize = 12;

/// The open files of one cgroup.
#[derive(Debug, Default)]
pub(crate) struct Files {
    files: [Option<(Format, File)>; MAX_FILES],
}

/// What one cycle read from a cgroup (`None`: not available here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Values {
    pub(crate) cpu: CpuStat,
    pub(crate) memory_current: Option<u64>,
    pub(crate) memory: MemoryStat,
    pub(crate) swap: Option<u64>,
    pub(crate) limit: Option<u64>,
    pub(crate) oom_kills: Option<u64>,
    pub(crate) io: Option<IoTotals>,
    pub(crate) tasks: Option<u64>,
    pub(crate) pressure: [Option<Pressure>; 3],
}

impl Values {
    /// cAdvisor's working set (usage − inactive file), when the usage is known.
    pub(crate) fn working_set(&self) -> Option<u64> {
        self.memory_current
            .map(|usage| working_set(usage, self.memory.inactive_file))
    }
}

/// The cgroup is gone (the workload stopped): drop it, no error.
#[derive(Debug)]
pub(crate) struct Gone;

#[derive(Debug)]
pub(crate) enum FileError {
    Io(io::Error),
    TooBig,
    Parse(ParseError),
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::Io(e) => match e.raw_os_error() {
                Some(code) => write!(f, "{} (os error {code})", e.kind()),
                None => write!(f, "{}", e.kind()),
            },
            FileError::TooBig => f.write_str("file larger than the read buffer"),
            FileError::Parse(e) => e.fmt(f),
        }
    }
}

impl Format {
    /// The file name of this format (for logs).
    fn name(self) -> &'static str {
        match self {
            Format::CpuStat | Format::Throttling => "cpu.stat",
            Format::MemoryCurrent => "memory.current",
            Format::MemoryStat => "memory.stat",
            Format::Swap => "memory.swap.current",
            Format::Limit => "memory.max",
            Format::OomKills => "memory.events",
            Format::IoStat => "io.stat",
            Format::BlkioBytes => "blkio.throttle.io_service_bytes_recursive",
            Format::BlkioOps => "blkio.throttle.io_serviced_recursive",
            Format::Tasks => "pids.current",
            Format::PressureCpu => "cpu.pressure",
            Format::PressureMemory => "memory.pressure",
            Format::PressureIo => "io.pressure",
        }
    }
}

/// `(hierarchy, file name, format)` of every file, in reading order.
fn layout(h: &Hierarchies) -> [(Option<&Dir>, &'static [u8], Format); 14] {
    let tree = Some(&h.tree);
    // v2 files are in the tree; on a hybrid host the v1 hierarchy (when mounted) has
    // them instead, under their v1 names.
    let (mem, mem_current, mem_limit, oom) = match &h.v1_memory {
        Some(m) => (
            Some(m),
            &b"memory.usage_in_bytes"[..],
            &b"memory.limit_in_bytes"[..],
            &b"memory.oom_control"[..],
        ),
        None => (tree, &b"memory.current"[..], &b"memory.max"[..], &b"memory.events"[..]),
    };
    let hybrid = h.hybrid();
    let pids = if hybrid { h.v1_pids.as_ref() } else { tree };
    let v2_only = |d| if hybrid { None } else { d };
    [
        (tree, b"cpu.stat", Format::CpuStat),
        (h.v1_cpu.as_ref(), b"cpu.stat", Format::Throttling),
        (mem, mem_current, Format::MemoryCurrent),
        (mem, b"memory.stat", Format::MemoryStat),
        (v2_only(tree), b"memory.swap.current", Format::Swap),
        (mem, mem_limit, Format::Limit),
        (mem, oom, Format::OomKills),
        (v2_only(tree), b"io.stat", Format::IoStat),
        (h.v1_blkio.as_ref(), b"blkio.throttle.io_service_bytes_recursive", Format::BlkioBytes),
        (h.v1_blkio.as_ref(), b"blkio.throttle.io_serviced_recursive", Format::BlkioOps),
        (pids, b"pids.current", Format::Tasks),
        (tree, b"cpu.pressure", Format::PressureCpu),
        (tree, b"memory.pressure", Format::PressureMemory),
        (tree, b"io.pressure", Format::PressureIo),
    ]
}

/// Whether an error says the cgroup (or its directory) is gone.
fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ENOENT | libc::ESTALE))
}

impl Files {
    /// Opens the files of the cgroup at `path` (relative to every hierarchy). `Err`
    /// when its directory in the tree is gone or `cpu.stat` cannot be opened (then it
    /// is not a cgroup pimon can read), or another error (too many open files).
    pub(crate) fn open(h: &Hierarchies, path: &RelPath) -> io::Result<Files> {
        let mut files = Files::default();
        let mut slots = files.files.iter_mut();
        let mut name = [0u8; RelPath::CAPACITY];
        for (dir, file, format) in layout(h) {
            let Some(dir) = dir else { continue };
            let Some(rel) = path.join(file, &mut name) else {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            };
            match dir.file(rel) {
                Ok(f) => {
                    if let Some(slot) = slots.next() {
                        *slot = Some((format, f));
                    }
                }
                // cpu.stat is in every v2 cgroup: without it there is nothing here.
                Err(e) if format == Format::CpuStat => return Err(e),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(files)
    }

    /// How many files are open.
    pub(crate) fn count(&self) -> usize {
        self.files.iter().flatten().count()
    }

    /// Reads every file into `scratch` and parses it. Files that fail are reported to
    /// `failed` and left out; [`Gone`] when the cgroup was removed.
    pub(crate) fn read(
        &self,
        scratch: &mut [u8],
        failed: &mut dyn FnMut(&'static str, FileError),
    ) -> Result<Values, Gone> {
        let mut v = Values::default();
        for (format, file) in self.files.iter().flatten() {
            let bytes = match read_all(file, scratch) {
                Ok(b) => b,
                Err(FileError::Io(e)) if is_gone(&e) => return Err(Gone),
                Err(e) => {
                    failed(format.name(), e);
                    continue;
                }
            };
            if let Err(e) = parse_into(*format, bytes, &mut v) {
                failed(format.name(), FileError::Parse(e));
            }
        }
        Ok(v)
    }
}

/// Reads `file` from offset 0 into `buf`. A read shorter than the room left is the
/// end of the file (cgroup files are seq_files, which fill a read until their end), so
/// a file costs one `pread`, not a second one that returns 0: with a dozen files per
/// workload that halves the system calls of a cycle.
fn read_all<'b>(file: &File, buf: &'b mut [u8]) -> Result<&'b [u8], FileError> {
    let mut len = 0usize;
    loop {
        let Some(rest) = buf.get_mut(len..) else {
            return Err(FileError::TooBig);
        };
        if rest.is_empty() {
            return Err(FileError::TooBig);
        }
        let room = rest.len();
        match file.read_at(rest, len as u64) {
            Ok(0) => break,
            Ok(n) if n < room => {
                len += n;
                break;
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FileError::Io(e)),
        }
    }
    Ok(buf.get(..len).unwrap_or_default())
}

fn parse_into(format: Format, bytes: &[u8], v: &mut Values) -> Result<(), ParseError> {
    match format {
        Format::CpuStat => {
            let s = parse_cpu_stat(bytes)?;
            v.cpu.usage_us = s.usage_us;
            v.cpu.user_us = s.user_us;
            v.cpu.system_us = s.system_us;
            // v2 with the cpu controller: the throttling keys are here.
            v.cpu.periods = v.cpu.periods.or(s.periods);
            v.cpu.throttled_periods = v.cpu.throttled_periods.or(s.throttled_periods);
            v.cpu.throttled_us = v.cpu.throttled_us.or(s.throttled_us);
        }
        Format::Throttling => {
            let s = parse_cpu_stat(bytes)?;
            v.cpu.periods = s.periods;
            v.cpu.throttled_periods = s.throttled_periods;
            v.cpu.throttled_us = s.throttled_us;
        }
        Format::MemoryCurrent => v.memory_current = Some(parse_count(bytes)?),
        Format::MemoryStat => {
            v.memory = parse_memory_stat(bytes)?;
            v.swap = v.swap.or(v.memory.swap);
        }
        Format::Swap => v.swap = Some(parse_count(bytes)?),
        Format::Limit => v.limit = Some(parse_memory_limit(bytes)?),
        Format::OomKills => v.oom_kills = Some(parse_oom_kills(bytes)?),
        Format::IoStat => v.io = Some(parse_io_stat(bytes)?),
        Format::BlkioBytes => {
            let (read, write) = parse_blkio_recursive(bytes)?;
            let io = v.io.get_or_insert_with(IoTotals::default);
            io.read_bytes = read;
            io.write_bytes = write;
        }
        Format::BlkioOps => {
            let (read, write) = parse_blkio_recursive(bytes)?;
            let io = v.io.get_or_insert_with(IoTotals::default);
            io.reads = read;
            io.writes = write;
        }
        Format::Tasks => v.tasks = Some(parse_count(bytes)?),
        Format::PressureCpu => v.pressure[0] = Some(parse_pressure(bytes)?),
        Format::PressureMemory => v.pressure[1] = Some(parse_pressure(bytes)?),
        Format::PressureIo => v.pressure[2] = Some(parse_pressure(bytes)?),
    }
    Ok(())
}
