//! The collector's own process figures, as client_golang's process collector exports
//! them for node_exporter (Node Exporter Full's "Node Exporter" row): CPU time,
//! virtual and resident memory, open and maximum file descriptors, start time.
//!
//! Read every cycle from `/proc/self` — the collector's own process, never under
//! `--root` — with the files opened once: `stat` with `pread` into a stack buffer; the
//! open descriptors counted by one `statx` of the open `fd` directory, whose size is
//! its number of entries since Linux 6.2 (listing it with `getdents64` made the kernel
//! build a dentry per descriptor: a tenth of a cycle's CPU on a VM), listed after a
//! seek to 0 on older kernels (size 0). Nothing is allocated per cycle. A figure that
//! cannot be read is left out of the cycle.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use crate::parse::processes::{dirent_names, parse_process_usage};
use crate::sink::SampleSink;
use crate::source::MetricGroup;
use crate::sys;

/// The `docs/METRICS.md` section of these figures.
pub const OWN_PROCESS_METRICS: MetricGroup = MetricGroup {
    title: "Collector process",
    from: "`/proc/self/stat`, `/proc/self/fd` and `RLIMIT_NOFILE` of the collector itself (not under `--root`), in every cycle, named as client_golang's process collector names them for node_exporter. `process_start_time_seconds` is when the collector started.",
    prefixes: &["process_"],
};

/// The open files of `/proc/self` and what does not change.
#[derive(Debug)]
pub struct OwnProcess {
    stat: Option<File>,
    fd_dir: Option<File>,
    page_size: u64,
    start_time_ms: u64,
}

impl OwnProcess {
    /// Opens `/proc/self/stat` and `/proc/self/fd`; `start_time_ms` is when the
    /// collector started (Unix milliseconds).
    pub fn open(start_time_ms: u64) -> OwnProcess {
        OwnProcess {
            stat: File::open("/proc/self/stat").ok(),
            fd_dir: File::open("/proc/self/fd").ok(),
            page_size: sys::page_size(),
            start_time_ms,
        }
    }

    /// Pushes the figures, unlabelled, in ascending id order (`PROCESS_*`).
    pub fn push(&mut self, sink: &mut dyn SampleSink) {
        // Room for every entry of `/proc/self/fd` in one `getdents64` (~24 bytes each; the
        // collector holds ~130 with the netclass files open): 1 KiB took 4 calls.
        let mut buf = [0u8; 4096];
        let usage = self
            .stat
            .as_ref()
            .and_then(|f| f.read_at(&mut buf, 0).ok())
            .and_then(|n| parse_process_usage(buf.get(..n)?).ok());
        sink.labels(&[]);
        if let Some(u) = usage {
            sink.push(id::PROCESS_CPU_SECONDS, Value::Unsigned(u.cpu_ticks));
        }
        if let Some(n) = self.open_fds(&mut buf) {
            sink.push(id::PROCESS_OPEN_FDS, Value::Unsigned(n));
        }
        if let Some(n) = sys::open_files_limit() {
            sink.push(id::PROCESS_MAX_FDS, Value::Unsigned(n));
        }
        if let Some(u) = usage {
            sink.push(id::PROCESS_VIRTUAL_MEMORY, Value::Unsigned(u.virtual_bytes));
            sink.push(
                id::PROCESS_RESIDENT_MEMORY,
                Value::Unsigned(u.resident_pages.saturating_mul(self.page_size)),
            );
        }
        sink.push(id::PROCESS_START_TIME, Value::Unsigned(self.start_time_ms));
    }

    /// Entries of `/proc/self/fd` (the directory's own descriptor included, as
    /// client_golang counts).
    fn open_fds(&mut self, buf: &mut [u8]) -> Option<u64> {
        let dir = self.fd_dir.as_mut()?;
        // Linux 6.2+: the size is the count (never 0: this directory is open).
        match dir.metadata().map(|m| m.len()) {
            Ok(n) if n > 0 => return Some(n),
            _ => {}
        }
        count_entries(dir, buf)
    }
}

/// Entries of the directory `dir` but `.` and `..`, listed with `getdents64` from the start.
fn count_entries(dir: &mut File, buf: &mut [u8]) -> Option<u64> {
    dir.seek(SeekFrom::Start(0)).ok()?;
    let mut count = 0;
    loop {
        let n = sys::getdents(dir.as_fd(), buf).ok()?;
        if n == 0 {
            return Some(count);
        }
        count += dirent_names(buf.get(..n)?)
            .filter(|name| !name.starts_with(b"."))
            .count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorded {
        samples: Vec<(u16, Value)>,
    }
    impl SampleSink for Recorded {
        fn labels(&mut self, values: &[&str]) {
            assert!(values.is_empty(), "unlabelled");
        }
        fn push(&mut self, metric: u16, value: Value) {
            self.samples.push((metric, value));
        }
    }

    /// The live figures of the test process itself: plausible and in id order.
    #[test]
    fn own_figures_of_this_process_are_read_in_id_order() {
        let mut own = OwnProcess::open(1_700_000_000_000);
        let mut sink = Recorded::default();
        own.push(&mut sink);
        let ids: Vec<u16> = sink.samples.iter().map(|s| s.0).collect();
        assert_eq!(
            ids,
            [
                id::PROCESS_CPU_SECONDS,
                id::PROCESS_OPEN_FDS,
                id::PROCESS_MAX_FDS,
                id::PROCESS_VIRTUAL_MEMORY,
                id::PROCESS_RESIDENT_MEMORY,
                id::PROCESS_START_TIME
            ]
        );
        let value = |i: u16| match sink.samples.iter().find(|s| s.0 == i).map(|s| s.1) {
            Some(Value::Unsigned(v)) => v,
            other => panic!("{other:?}"),
        };
        // Three standard streams, the stat file and the fd directory at least.
        assert!(value(id::PROCESS_OPEN_FDS) >= 5);
        assert!(value(id::PROCESS_MAX_FDS) >= value(id::PROCESS_OPEN_FDS));
        assert!(value(id::PROCESS_RESIDENT_MEMORY) >= 64 * 1024);
        assert!(value(id::PROCESS_VIRTUAL_MEMORY) >= value(id::PROCESS_RESIDENT_MEMORY));
        assert_eq!(value(id::PROCESS_START_TIME), 1_700_000_000_000);
    }

    /// The count from the directory's size (Linux 6.2+) is the count its listing gives;
    /// on older kernels (size 0) the listing is used. Other tests open files at the same
    /// time, so the two are compared until one pair is taken with nothing in between.
    #[test]
    fn open_descriptors_counted_from_the_fd_directory_size_equal_its_listing() {
        let mut own = OwnProcess::open(0);
        let mut buf = [0u8; 4096];
        let equal_once = (0..50).any(|_| {
            let dir = own.fd_dir.as_mut().expect("/proc/self/fd");
            let listed = count_entries(dir, &mut buf);
            let counted = own.open_fds(&mut buf);
            let listed_after = count_entries(own.fd_dir.as_mut().unwrap(), &mut buf);
            listed.is_some() && listed == counted && listed == listed_after
        });
        assert!(equal_once, "the fd count never equalled the listing");
    }
}
