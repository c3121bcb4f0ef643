//! The process scan → `PROCESSES_*`, unlabelled: node_exporter's `processes` collector
//! (opt-in there) and Telegraf's `processes` input read the same `/proc/[pid]/stat`
//! files, so one scan serves both.
//!
//! Every cycle, `/proc` is listed with `getdents64` into a buffer allocated at start
//! (`read_dir` would allocate per entry), and each process's `stat` is opened by a path
//! built on the stack, read into the shared scratch buffer and closed: no allocation. A
//! process with several threads also has `/proc/[pid]/task/*/stat` read, for
//! node_exporter's `node_processes_threads_state` (the main thread's state is the
//! process's, as node_exporter takes it). A process that exits during the scan (its
//! files gone, `ENOENT`/`ESRCH`) is simply not counted; other failures are.
//!
//! Sent: pids, threads, the limits (`pid_max`, `threads-max`), then the count of each
//! state letter some process is in (node_exporter sends only states seen), then the
//! threads' states the same way.
//!
//! The scan costs the kernel several microseconds per process and thread (docs/
//! BENCHMARKS.md, 2.7): `[filters] processes_every = N` scans every N cycles only, and
//! sends nothing in between. Unset, it is about every 10 s (every cycle at the default
//! 10 s interval, every 10th at 1 s: [`super::processes_every_for`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{ReadError, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::processes::{StateCounts, TaskStat, dirent_names, parse_task_stat, task_id};
use crate::parse::{ParseError, parse_uint_value};
use crate::sink::SampleSink;
use crate::sys;

/// Bytes of `/proc` directory entries read per `getdents64` call.
const PROC_DENTS: usize = 16 * 1024;
/// Bytes of one process's `task` directory entries read per call.
const TASK_DENTS: usize = 4 * 1024;
/// Longest path built (std opens paths under 384 bytes without allocating).
const PATH_MAX: usize = 383;

/// Scans `/proc` every cycle.
#[derive(Debug)]
pub(crate) struct ProcessesReader {
    /// `<root>/proc`, open as a directory.
    proc_dir: File,
    /// Its path, the prefix of every path built.
    proc_path: Box<[u8]>,
    pid_max: Option<SysFile>,
    threads_max: Option<SysFile>,
    proc_dents: Box<[u8]>,
    task_dents: Box<[u8]>,
    /// Scan every this many cycles.
    every: u32,
    /// Cycles since the last scan.
    since_scan: u32,
}

/// A path built on the stack: `<proc>/<pid>[/task/<tid>]/<file>`.
struct PathBuf {
    bytes: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf {
    fn new(prefix: &[u8]) -> Option<PathBuf> {
        let mut p = PathBuf {
            bytes: [0; PATH_MAX],
            len: 0,
        };
        p.push(prefix)?;
        Some(p)
    }

    fn push(&mut self, part: &[u8]) -> Option<()> {
        let end = self.len.checked_add(part.len())?;
        self.bytes.get_mut(self.len..end)?.copy_from_slice(part);
        self.len = end;
        Some(())
    }

    fn path(&self) -> &Path {
        Path::new(std::ffi::OsStr::from_bytes(&self.bytes[..self.len]))
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

/// Reads and parses the `stat` file at `path` (`Ok(None)`: the task exited).
fn read_stat(path: &Path, buf: &mut [u8]) -> Result<Option<TaskStat>, ScanError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if vanished(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut len = 0;
    loop {
        let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) else {
            return Err(ScanError::Read(ReadError::TooBig(len)));
        };
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => len += n,
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
    /// `<proc>/<parts…>` on the stack.
    fn path(&self, parts: &[&[u8]]) -> Result<PathBuf, ScanError> {
        let mut path = PathBuf::new(&self.proc_path).ok_or(ScanError::PathTooLong)?;
        for part in parts {
            path.push(part).ok_or(ScanError::PathTooLong)?;
        }
        Ok(path)
    }

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
        let dir = match File::open(self.path(&[b"/", name, b"/task"])?.path()) {
            Ok(d) => d,
            Err(e) if vanished(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
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
                let path = match self.path(&[b"/", name, b"/task/", tid_name, b"/stat"]) {
                    Ok(p) => p,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                match read_stat(path.path(), scratch) {
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
}

impl Source for ProcessesReader {
    /// `Err` when `/proc` cannot be listed.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let proc = config.root.join("proc");
        let proc_dir = File::open(&proc).map_err(|e| format!("{}: {e}", proc.display()))?;
        let proc_path: Box<[u8]> = proc.as_os_str().as_bytes().into();
        // Room for "/<pid>/task/<tid>/stat" after the prefix.
        if proc_path.len() + 40 > PATH_MAX {
            return Err(format!("{}: path too long", proc.display()));
        }
        let mut reader = ProcessesReader {
            proc_dir,
            proc_path,
            pid_max: SysFile::open_optional(config.root.join("proc/sys/kernel/pid_max")),
            threads_max: SysFile::open_optional(config.root.join("proc/sys/kernel/threads-max")),
            proc_dents: vec![0u8; PROC_DENTS].into_boxed_slice(),
            task_dents: vec![0u8; TASK_DENTS].into_boxed_slice(),
            every: config.processes_every.max(1),
            since_scan: u32::MAX,
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
        if self.since_scan < self.every {
            return;
        }
        self.since_scan = 0;
        let mut processes = StateCounts::default();
        let mut threads = StateCounts::default();
        let mut thread_total = 0u64;
        if let Err(e) = (&self.proc_dir).seek(SeekFrom::Start(0)) {
            return errors.fail(format_args!("/proc: {}", ReadError::Io(e)));
        }
        let mut dents = std::mem::take(&mut self.proc_dents);
        loop {
            let n = match sys::getdents(self.proc_dir.as_fd(), &mut dents) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    errors.fail(format_args!("/proc: {}", ReadError::Io(e)));
                    break;
                }
            };
            for name in dirent_names(dents.get(..n).unwrap_or_default()) {
                let Some(pid) = task_id(name) else { continue };
                let stat = self
                    .path(&[b"/", name, b"/stat"])
                    .and_then(|path| read_stat(path.path(), scratch));
                let stat = match stat {
                    Ok(Some(stat)) => stat,
                    Ok(None) => continue,
                    Err(e) => {
                        errors.fail(format_args!("/proc/{pid}/stat: {e}"));
                        continue;
                    }
                };
                processes.add(stat.state);
                thread_total += stat.threads;
                if stat.threads <= 1 {
                    threads.add(stat.state);
                } else if let Err(e) =
                    self.count_threads(name, pid, stat.state, scratch, &mut threads)
                {
                    errors.fail(format_args!("/proc/{pid}/task: {e}"));
                }
            }
        }
        self.proc_dents = dents;

        sink.labels(&[]);
        sink.push(id::PROCESSES_PIDS, Value::Unsigned(processes.total));
        sink.push(id::PROCESSES_THREADS, Value::Unsigned(thread_total));
        for (metric, file) in [
            (id::PROCESSES_MAX_PROCESSES, &self.pid_max),
            (id::PROCESSES_MAX_THREADS, &self.threads_max),
        ] {
            let Some(file) = file else { continue };
            match file.read_parse(scratch, parse_uint_value) {
                Ok(v) => sink.push(metric, Value::Unsigned(v)),
                Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
        for (first, counts) in [
            (id::PROCESSES_STATE_R, &processes),
            (id::PROCESSES_THREADS_STATE_R, &threads),
        ] {
            for (i, &count) in counts.by_state.iter().enumerate() {
                if count > 0 {
                    sink.push(first + i as u16, Value::Unsigned(count));
                }
            }
        }
    }
}
