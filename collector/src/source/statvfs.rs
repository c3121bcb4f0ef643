//! `statvfs` off the cycle's thread, with a timeout, so a hung network mount never
//! blocks the cycle; local filesystems ([`statfs_is_local`](crate::parse::filter::statfs_is_local))
//! are stat'd inline ([`StatvfsPool::stat_inline`]): the hand-off to a worker and back
//! cost ~185 µs per cycle on a Pi with a few mounts, more than the calls themselves.
//!
//! A fixed pool of persistent worker threads, each with one fixed job slot (a path
//! buffer): the cycle hands a path to an idle worker and waits at most `timeout`. A
//! worker that does not answer in time stays *busy* with that path until the kernel
//! returns; meanwhile the same mount is skipped without waiting ([`StatOutcome::Stuck`])
//! and other mounts use the other workers. When it returns, the mount is tried again
//! on the next cycle. No allocation after start-up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;

/// Longest path (root + mount point) a job slot holds; longer mounts are skipped.
/// Below nix's 1024-byte stack limit, so the C string is built without allocation.
pub(crate) const PATH_CAP: usize = 1023;

/// What `statvfs` reported, in bytes and inodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsStats {
    pub(crate) size: u64,
    pub(crate) free: u64,
    pub(crate) avail: u64,
    pub(crate) files: u64,
    pub(crate) files_free: u64,
}

/// The result of one [`StatvfsPool::stat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatOutcome {
    /// The filesystem's figures.
    Ok(FsStats),
    /// `statvfs` failed (ENOENT, EACCES, …).
    Failed(Errno),
    /// No answer within the timeout: the mount is now stuck.
    TimedOut,
    /// A worker is still stuck on this mount from an earlier cycle: skipped.
    Stuck,
    /// Every worker is stuck on some mount: skipped.
    NoWorker,
    /// Root + mount point longer than [`PATH_CAP`].
    PathTooLong,
}

#[derive(Debug)]
struct Slot {
    path: [u8; PATH_CAP],
    len: usize,
    requested: u64,
    answered: u64,
    result: Result<FsStats, Errno>,
}

impl Slot {
    fn busy(&self) -> bool {
        self.requested != self.answered
    }
}

#[derive(Debug)]
struct Worker {
    slot: Mutex<Slot>,
    changed: Condvar,
    stop: AtomicBool,
}

/// The worker pool.
#[derive(Debug)]
pub(crate) struct StatvfsPool {
    workers: Vec<Arc<Worker>>,
    timeout: Duration,
}

#[allow(clippy::useless_conversion)] // the field types differ between 32- and 64-bit libcs
fn statvfs(path: &[u8]) -> Result<FsStats, Errno> {
    let s = nix::sys::statvfs::statvfs(path)?;
    let unit = match u64::from(s.fragment_size()) {
        0 => u64::from(s.block_size()),
        n => n,
    };
    Ok(FsStats {
        size: u64::from(s.blocks()).saturating_mul(unit),
        free: u64::from(s.blocks_free()).saturating_mul(unit),
        avail: u64::from(s.blocks_available()).saturating_mul(unit),
        files: u64::from(s.files()),
        files_free: u64::from(s.files_free()),
    })
}

/// `prefix` + `path` written at the start of `buf`; `None` when it does not fit.
fn join<'b>(buf: &'b mut [u8], prefix: &[u8], path: &[u8]) -> Option<&'b [u8]> {
    let dst = buf.get_mut(..prefix.len().checked_add(path.len())?)?;
    let (head, tail) = dst.split_at_mut(prefix.len());
    head.copy_from_slice(prefix);
    tail.copy_from_slice(path);
    Some(dst)
}

fn work(worker: &Worker) {
    let mut path = [0u8; PATH_CAP];
    loop {
        let Ok(slot) = worker.slot.lock() else {
            return;
        };
        let Ok(slot) = worker
            .changed
            .wait_while(slot, |s| !s.busy() && !worker.stop.load(Ordering::Relaxed))
        else {
            return;
        };
        if worker.stop.load(Ordering::Relaxed) {
            return;
        }
        let job = slot.requested;
        let len = slot.len;
        let (Some(dst), Some(src)) = (path.get_mut(..len), slot.path.get(..len)) else {
            return;
        };
        dst.copy_from_slice(src);
        drop(slot);
        let result = statvfs(path.get(..len).unwrap_or_default());
        let Ok(mut slot) = worker.slot.lock() else {
            return;
        };
        slot.result = result;
        slot.answered = job;
        worker.changed.notify_all();
    }
}

impl StatvfsPool {
    /// Starts `workers` threads (at least one).
    pub(crate) fn start(workers: usize, timeout: Duration) -> std::io::Result<Self> {
        let mut pool = Vec::with_capacity(workers.max(1));
        for n in 0..workers.max(1) {
            let worker = Arc::new(Worker {
                slot: Mutex::new(Slot {
                    path: [0; PATH_CAP],
                    len: 0,
                    requested: 0,
                    answered: 0,
                    result: Err(Errno::UnknownErrno),
                }),
                changed: Condvar::new(),
                stop: AtomicBool::new(false),
            });
            let thread_worker = Arc::clone(&worker);
            // Wait until the thread runs: its start-up allocations (thread handle,
            // thread-locals) then happen now, not in some later cycle.
            let started = Arc::new(std::sync::Barrier::new(2));
            let thread_started = Arc::clone(&started);
            std::thread::Builder::new()
                .name(format!("pimon-statvfs{n}"))
                .stack_size(64 * 1024)
                .spawn(move || {
                    thread_started.wait();
                    work(&thread_worker)
                })?;
            started.wait();
            pool.push(worker);
        }
        Ok(StatvfsPool {
            workers: pool,
            timeout,
        })
    }

    /// `statvfs(prefix + path)` on the caller's thread (a local filesystem: see the
    /// module docs), with the path built on the stack.
    pub(crate) fn stat_inline(&self, prefix: &[u8], path: &[u8]) -> StatOutcome {
        let mut buf = [0u8; PATH_CAP];
        let Some(joined) = join(&mut buf, prefix, path) else {
            return StatOutcome::PathTooLong;
        };
        match statvfs(joined) {
            Ok(stats) => StatOutcome::Ok(stats),
            Err(errno) => StatOutcome::Failed(errno),
        }
    }

    /// `statvfs(prefix + path)` on a worker, waiting at most the timeout.
    pub(crate) fn stat(&self, prefix: &[u8], path: &[u8]) -> StatOutcome {
        let Some(len) = prefix
            .len()
            .checked_add(path.len())
            .filter(|&n| n <= PATH_CAP)
        else {
            return StatOutcome::PathTooLong;
        };
        let mut idle = None;
        for worker in &self.workers {
            let Ok(slot) = worker.slot.lock() else {
                continue;
            };
            if slot.busy() {
                let current = slot.path.get(..slot.len).unwrap_or_default();
                if current.len() == len && current.starts_with(prefix) && current.ends_with(path) {
                    return StatOutcome::Stuck;
                }
            } else if idle.is_none() {
                idle = Some(worker);
            }
        }
        let Some(worker) = idle else {
            return StatOutcome::NoWorker;
        };
        let Ok(mut slot) = worker.slot.lock() else {
            return StatOutcome::NoWorker;
        };
        if join(&mut slot.path, prefix, path).is_none() {
            return StatOutcome::PathTooLong;
        }
        slot.len = len;
        slot.requested = slot.requested.wrapping_add(1);
        let job = slot.requested;
        worker.changed.notify_all();
        let Ok((slot, _)) = worker
            .changed
            .wait_timeout_while(slot, self.timeout, |s| s.answered != job)
        else {
            return StatOutcome::NoWorker;
        };
        if slot.answered != job {
            return StatOutcome::TimedOut;
        }
        match slot.result {
            Ok(stats) => StatOutcome::Ok(stats),
            Err(errno) => StatOutcome::Failed(errno),
        }
    }
}

impl Drop for StatvfsPool {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.stop.store(true, Ordering::Relaxed);
            worker.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_a_real_directory_and_fails_on_a_missing_one() {
        let pool = StatvfsPool::start(1, Duration::from_secs(5)).unwrap();
        let StatOutcome::Ok(stats) = pool.stat(b"", b"/") else {
            panic!("statvfs / failed");
        };
        assert!(stats.size > 0 && stats.avail <= stats.free && stats.free <= stats.size);
        assert_eq!(
            pool.stat(b"/nonexistent-pimon", b"/x"),
            StatOutcome::Failed(Errno::ENOENT)
        );
        let long = [b'a'; PATH_CAP];
        assert_eq!(pool.stat(b"/", &long), StatOutcome::PathTooLong);
        // Inline: the same answers on the caller's thread.
        let StatOutcome::Ok(inline) = pool.stat_inline(b"", b"/") else {
            panic!("inline statvfs / failed");
        };
        assert_eq!((inline.size, inline.files), (stats.size, stats.files));
        assert_eq!(
            pool.stat_inline(b"/nonexistent-pimon", b"/x"),
            StatOutcome::Failed(Errno::ENOENT)
        );
        assert_eq!(pool.stat_inline(b"/", &long), StatOutcome::PathTooLong);
    }

    #[test]
    fn a_hung_mount_times_out_then_is_skipped_without_waiting() {
        // Simulate a hung mount: stop the only worker's thread, so a job is never
        // answered, as when statvfs blocks on a dead NFS server.
        let pool = StatvfsPool::start(1, Duration::from_millis(50)).unwrap();
        pool.workers[0].stop.store(true, Ordering::Relaxed);
        pool.workers[0].changed.notify_all();
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        assert_eq!(pool.stat(b"", b"/mnt/nas"), StatOutcome::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
        let started = std::time::Instant::now();
        assert_eq!(pool.stat(b"", b"/mnt/nas"), StatOutcome::Stuck);
        assert_eq!(pool.stat(b"", b"/"), StatOutcome::NoWorker);
        assert!(started.elapsed() < Duration::from_millis(40));
    }
}
