//! The process scan → `PROCESSES_*`, unlabelled: node_exporter's `processes` collector
//! (opt-in there) and Telegraf's `processes` input read the same `/proc/[pid]/stat`
//! files, so one scan serves both.
//!
//! A scan lists `/proc` with `getdents64` into a buffer allocated at start (`read_dir`
//! would allocate per entry) and opens each process's `stat` relative to the `/proc`
//! descriptor kept open (`openat(proc, "<pid>/stat")`: the kernel walks two path
//! components, not four), reads it into the shared scratch buffer and closes it: no
//! allocation. A process with several threads also has `/proc/[pid]/task` opened the
//! same way and each `task/<tid>/stat` read relative to it, for node_exporter's
//! `node_processes_threads_state` (the main thread's state is the process's, as
//! node_exporter takes it). On a procfs, a read that does not fill the buffer is the end
//! of a `stat` (a `single_open` file: its whole text comes in the first read), so one
//! `read` per file, not two (open, read, close: three calls a process or thread instead
//! of four). A process that exits during the scan (its files gone, `ENOENT`/`ESRCH`) is
//! simply not counted; other failures are.
//!
//! Sent: pids, threads, the limits (`pid_max`, `threads-max`), then the count of each
//! state letter some process is in (node_exporter sends only states seen), then the
//! threads' states the same way.
//!
//! The scan costs ~8 µs of CPU per process and thread, mostly the kernel's (docs/
//! BENCHMARKS.md, 2.8: ~33 ms with 1,200 processes and 4,000 threads), so it runs every
//! `[filters] processes_every = N` cycles only — unset, about every minute
//! ([`super::processes_every_for`]) — and **the cycles between send the last scan's
//! values again**, from the figures this reader keeps (no `/proc` read, no allocation):
//! every cycle carries the family, as every scrape of node_exporter and every Telegraf
//! interval do, so the aggregator never lets it go stale; the values are at most
//! N − 1 intervals old. A scan that cannot list `/proc` sends nothing until the next
//! scan that can.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd};

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{ReadError, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::processes::{StateCounts, TaskStat, dirent_names, parse_task_stat, task_id};
use crate::parse::{ParseError, parse_uint_value};
use crate::sink::SampleSink;
use crate::sys::{self, ZeroedPages};

/// Bytes of `/proc` directory entries read per `getdents64` call.
const PROC_DENTS: usize = 16 * 1024;
/// Bytes of one process's `task` directory entries read per call.
const TASK_DENTS: usize = 4 * 1024;

/// What one scan found: sent by the scan's cycle and again by the cycles until the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Scan {
    /// Processes by state (their total: `node_processes_pids`).
    processes: StateCounts,
    /// Threads by state.
    threads: StateCounts,
    /// The processes' `num_threads` summed (`node_processes_threads`).
    thread_total: u64,
    /// `pid_max`, `threads-max` (`None`: absent, or failed in the scan).
    max_processes: Option<u64>,
    max_threads: Option<u64>,
}

impl Scan {
    fn push(&self, sink: &mut dyn SampleSink) {
        sink.labels(&[]);
        sink.push(id::PROCESSES_PIDS, Value::Unsigned(self.processes.total));
        sink.push(id::PROCESSES_THREADS, Value::Unsigned(self.thread_total));
        for (metric, value) in [
            (id::PROCESSES_MAX_PROCESSES, self.max_processes),
            (id::PROCESSES_MAX_THREADS, self.max_threads),
        ] {
            if let Some(v) = value {
                sink.push(metric, Value::Unsigned(v));
            }
        }
        for (first, counts) in [
            (id::PROCESSES_STATE_R, &self.processes),
            (id::PROCESSES_THREADS_STATE_R, &self.threads),
        ] {
            for (i, &count) in counts.by_state.iter().enumerate() {
                if count > 0 {
                    sink.push(first + i as u16, Value::Unsigned(count));
                }
            }
        }
    }
}

/// Scans `/proc` every `every` cycles and sends the last scan every cycle.
#[derive(Debug)]
pub(crate) struct ProcessesReader {
    /// `<root>/proc`, open as a directory: the scan's paths are relative to it.
    proc_dir: File,
    pid_max: Option<SysFile>,
    threads_max: Option<SysFile>,
    proc_dents: ZeroedPages,
    task_dents: ZeroedPages,
    /// A `stat` read shorter than asked is its end (`/proc` is a procfs; elsewhere, a
    /// fixture tree, the read of 0 bytes is).
    short_read_ends: bool,
    /// Scan every this many cycles.
    every: u32,
    /// Cycles since the last scan.
    since_scan: u32,
    /// The last scan's figures (`None`: no scan listed `/proc` yet, or the last failed to).
    last: Option<Scan>,
    /// The last scan counted a failure (its values, or none, are what the cycles
    /// until the next scan send).
    last_failed: bool,
}

/// A relative path built on the stack: `<pid>/stat`, `<pid>/task`, `<tid>/stat`.
struct RelPath {
    bytes: [u8; 32],
    len: usize,
}

impl RelPath {
    /// `dir` + `file`, or `None` when too long (a process id has at most 10 digits).
    fn new(dir: &[u8], file: &[u8]) -> Option<RelPath> {
        let mut p = RelPath {
            bytes: [0; 32],
            len: dir.len().checked_add(file.len())?,
        };
        let (d, f) = p.bytes.get_mut(..p.len)?.split_at_mut(dir.len());
        d.copy_from_slice(dir);
        f.copy_from_slice(file);
        Some(p)
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Why a file of the scan gave nothing (`Display` without allocating, as
/// [`ReadError`]'s).
#[derive(Debug)]
enum ScanError {
    Read(ReadError),
    Parse(ParseError),
    PathTooLong,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Read(e) => e.fmt(f),
            ScanError::Parse(e) => e.fmt(f),
            ScanError::PathTooLong => f.write_str("path too long"),
        }
    }
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Read(ReadError::Io(e))
    }
}

/// Whether a failure means the process (or thread) exited during the scan.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH)
}

/// Opens `rel` below the directory `dir` (`Ok(None)`: the task exited).
fn open_below(dir: BorrowedFd<'_>, rel: &RelPath, flags: OFlag) -> io::Result<Option<File>> {
    match openat(dir, rel.as_bytes(), flags | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(e) => {
            let e = io::Error::from(e);
            if vanished(&e) { Ok(None) } else { Err(e) }
        }
    }
}

/// Reads and parses the `stat` file `rel` below `dir` (`Ok(None)`: the task exited).
fn read_stat(
    dir: BorrowedFd<'_>,
    rel: Option<RelPath>,
    buf: &mut [u8],
    short_read_ends: bool,
) -> Result<Option<TaskStat>, ScanError> {
    let rel = rel.ok_or(ScanError::PathTooLong)?;
    let Some(mut file) = open_below(dir, &rel, OFlag::O_RDONLY)? else {
        return Ok(None);
    };
    let mut len = 0;
    loop {
        let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) else {
            return Err(ScanError::Read(ReadError::TooBig(len)));
        };
        let asked = rest.len();
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if short_read_ends && n < asked {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if vanished(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    parse_task_stat(buf.get(..len).unwrap_or_default())
        .map(Some)
        .map_err(ScanError::Parse)
}

impl ProcessesReader {
    /// Counts the threads of process `pid` (`name` in `/proc`, its own state `state`)
    /// by state.
    fn count_threads(
        &mut self,
        name: &[u8],
        pid: u32,
        state: u8,
        scratch: &mut [u8],
        threads: &mut StateCounts,
    ) -> Result<(), ScanError> {
        let rel = RelPath::new(name, b"/task").ok_or(ScanError::PathTooLong)?;
        let Some(dir) = open_below(
            self.proc_dir.as_fd(),
            &rel,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        )?
        else {
            return Ok(());
        };
        let mut dents = std::mem::take(&mut self.task_dents);
        let result = loop {
            let n = match sys::getdents(dir.as_fd(), &mut dents) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if vanished(&e) => break Ok(()),
                Err(e) => break Err(e.into()),
            };
            let mut failed = None;
            for tid_name in dirent_names(dents.get(..n).unwrap_or_default()) {
                let Some(tid) = task_id(tid_name) else { continue };
                if tid == pid {
                    threads.add(state);
                    continue;
                }
                let rel = RelPath::new(tid_name, b"/stat");
                match read_stat(dir.as_fd(), rel, scratch, self.short_read_ends) {
                    Ok(Some(stat)) => threads.add(stat.state),
                    Ok(None) => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                break Err(e);
            }
        };
        self.task_dents = dents;
        result
    }

    /// Reads every process (and thread) `stat`; `None` when `/proc` cannot be listed.
    fn scan(&mut self, scratch: &mut [u8], errors: &mut ErrorCounter) -> Option<Scan> {
        let mut scan = Scan::default();
        if let Err(e) = (&self.proc_dir).seek(SeekFrom::Start(0)) {
            errors.fail(format_args!("/proc: {}", ReadError::Io(e)));
            return None;
        }
        let mut dents = std::mem::take(&mut self.proc_dents);
        let mut listed = true;
        loop {
            let n = match sys::getdents(self.proc_dir.as_fd(), &mut dents) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    errors.fail(format_args!("/proc: {}", ReadError::Io(e)));
                    listed = scan.processes.total > 0;
                    break;
                }
            };
            for name in dirent_names(dents.get(..n).unwrap_or_default()) {
                let Some(pid) = task_id(name) else { continue };
                let rel = RelPath::new(name, b"/stat");
                let stat = read_stat(self.proc_dir.as_fd(), rel, scratch, self.short_read_ends);
                let stat = match stat {
                    Ok(Some(stat)) => stat,
                    Ok(None) => continue,
                    Err(e) => {
                        errors.fail(format_args!("/proc/{pid}/stat: {e}"));
                        continue;
                    }
                };
                scan.processes.add(stat.state);
                scan.thread_total += stat.threads;
                if stat.threads <= 1 {
                    scan.threads.add(stat.state);
                } else if let Err(e) =
                    self.count_threads(name, pid, stat.state, scratch, &mut scan.threads)
                {
                    errors.fail(format_args!("/proc/{pid}/task: {e}"));
                }
            }
        }
        self.proc_dents = dents;
        if !listed {
            return None;
        }
        for (slot, file) in [
            (&mut scan.max_processes, &self.pid_max),
            (&mut scan.max_threads, &self.threads_max),
        ] {
            let Some(file) = file else { continue };
            match file.read_parse(scratch, parse_uint_value) {
                Ok(v) => *slot = Some(v),
                Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
        Some(scan)
    }
}

impl Source for ProcessesReader {
    /// `Err` when `/proc` cannot be listed.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let proc = config.root.join("proc");
        let proc_dir = File::open(&proc).map_err(|e| format!("{}: {e}", proc.display()))?;
        let short_read_ends = sys::is_procfs(proc_dir.as_fd());
        let mut reader = ProcessesReader {
            proc_dir,
            pid_max: SysFile::open_optional(config.root.join("proc/sys/kernel/pid_max")),
            threads_max: SysFile::open_optional(config.root.join("proc/sys/kernel/threads-max")),
            proc_dents: ZeroedPages::new(PROC_DENTS),
            task_dents: ZeroedPages::new(TASK_DENTS),
            short_read_ends,
            every: config.processes_every.max(1),
            since_scan: u32::MAX,
            last: None,
            last_failed: false,
        };
        let n = sys::getdents(reader.proc_dir.as_fd(), &mut reader.proc_dents)
            .map_err(|e| format!("{}: {e}", proc.display()))?;
        if !dirent_names(&reader.proc_dents[..n]).any(|name| task_id(name).is_some()) {
            return Err(format!("{}: no process directories", proc.display()));
        }
        Ok(reader)
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        self.since_scan = self.since_scan.saturating_add(1);
        if self.since_scan >= self.every {
            self.since_scan = 0;
            let before = errors.count();
            self.last = self.scan(scratch, errors);
            self.last_failed = errors.count() != before;
        } else if self.last_failed {
            errors.resend_failed();
        }
        if let Some(scan) = &self.last {
            scan.push(sink);
        }
    }
}
