//! Fixture trees whose counters grow, for queries that need changing counters
//! (`rate()`, `non_negative_derivative()`): the committed fixtures are static files, so a
//! test copies one to a temp dir and a [`CounterBumper`] rewrites its counter files
//! once a second while collectors read it.
//!
//! The kernel log (`dev/kmsg`, when the tree has one) grows by one SD card error record
//! per second, appended: the collector follows it from where it stopped.
//!
//! The collector opens each file once and re-reads it with `pread` from offset 0, so the
//! files are rewritten in place (same inode), never replaced. Counters only grow, so the
//! new text is never shorter and a concurrent read never sees an empty file; the rewrite
//! also happens half a second off the collectors' wall-clock-aligned cycles.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// Copies the tree at `src` (symbolic links kept, as `cp -a` does) into a new temp dir;
/// returns the dir and the copy's root.
pub fn copy_tree(src: &Path) -> (TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("pimon-e2e-tree-")
        .tempdir()
        .expect("temp dir");
    let dst = dir.path().join("root");
    let status = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(&dst)
        .status()
        .expect("run cp -a");
    assert!(
        status.success(),
        "cp -a {} {} failed",
        src.display(),
        dst.display()
    );
    (dir, dst)
}

/// Adds `step × (column + 1)` to the counters of `text` at `tick`: the numbers after a
/// `cpuN` label in `/proc/stat`, after `iface:` in `/proc/net/dev`, after the device
/// name in `/proc/diskstats`. Other lines stay as they are.
pub fn bump(file: CounterFile, text: &str, tick: u64) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let (head, numbers) = match file {
            CounterFile::Stat if line.starts_with("cpu") => split_after_words(line, 1),
            CounterFile::NetDev if line.contains(':') => {
                let colon = line.find(':').expect("checked");
                (&line[..=colon], &line[colon + 1..])
            }
            CounterFile::DiskStats if !line.trim().is_empty() => split_after_words(line, 3),
            CounterFile::CgroupCpuStat if !line.trim().is_empty() => split_after_words(line, 1),
            _ => {
                out.push_str(line);
                out.push('\n');
                continue;
            }
        };
        out.push_str(head);
        for (column, n) in numbers.split_whitespace().enumerate() {
            let n: u64 = n.parse().unwrap_or(0);
            let step = match file {
                CounterFile::Stat => 7,
                CounterFile::NetDev => 1500,
                CounterFile::DiskStats => 3,
                // microseconds of CPU and CFS periods: a tenth of a core, 10 periods/s
                CounterFile::CgroupCpuStat => 100_000 / (column as u64 + 1),
            };
            out.push(' ');
            out.push_str(&(n + tick * step * (column as u64 + 1)).to_string());
        }
        out.push('\n');
    }
    out
}

/// The first `words` whitespace-separated words of `line` and the rest.
fn split_after_words(line: &str, words: usize) -> (&str, &str) {
    let mut end = 0;
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if in_word {
                seen += 1;
                if seen == words {
                    end = i;
                    break;
                }
            }
            in_word = false;
        } else {
            in_word = true;
            end = line.len();
        }
    }
    (&line[..end], &line[end..])
}

/// The sequence number after the last record of a `/dev/kmsg` stream (0 if none).
pub fn next_kmsg_seq(stream: &str) -> u64 {
    stream
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(',').nth(1)?.parse::<u64>().ok())
        .max()
        .map_or(0, |s| s + 1)
}

/// A counter file the bumper knows how to grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterFile {
    /// `proc/stat` (per-CPU jiffies).
    Stat,
    /// `proc/net/dev`.
    NetDev,
    /// `proc/diskstats`.
    DiskStats,
    /// A cgroup's `cpu.stat` (`key value` lines), anywhere under `sys/fs/cgroup`.
    CgroupCpuStat,
}

impl CounterFile {
    fn path(self) -> &'static str {
        match self {
            CounterFile::Stat => "proc/stat",
            CounterFile::NetDev => "proc/net/dev",
            CounterFile::DiskStats => "proc/diskstats",
            CounterFile::CgroupCpuStat => "sys/fs/cgroup",
        }
    }
}

/// Grows the counters of a tree once a second until dropped.
pub struct CounterBumper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CounterBumper {
    /// Starts bumping `proc/stat`, `proc/net/dev`, `proc/diskstats` and every cgroup's
    /// `cpu.stat` under `root` (those that exist), and appending to `dev/kmsg` (if it
    /// exists), at half past every wall-clock second.
    pub fn start(root: &Path) -> CounterBumper {
        let mut files: Vec<(CounterFile, PathBuf, String)> = [
            CounterFile::Stat,
            CounterFile::NetDev,
            CounterFile::DiskStats,
        ]
        .into_iter()
        .filter_map(|f| {
            let path = root.join(f.path());
            let text = fs::read_to_string(&path).ok()?;
            Some((f, path, text))
        })
        .collect();
        let mut dirs = vec![root.join(CounterFile::CgroupCpuStat.path())];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                } else if entry.file_name() == "cpu.stat"
                    && let Ok(text) = fs::read_to_string(&path)
                {
                    files.push((CounterFile::CgroupCpuStat, path, text));
                }
            }
        }
        assert!(
            !files.is_empty(),
            "no counter file under {}",
            root.display()
        );
        let kmsg = root.join("dev/kmsg");
        let mut kmsg_seq = fs::read_to_string(&kmsg).ok().map(|t| next_kmsg_seq(&t));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut tick = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let into_second = now.subsec_millis();
                let wait = (1500 - into_second) % 1000;
                thread::sleep(Duration::from_millis(u64::from(wait.max(1))));
                tick += 1;
                for (file, path, original) in &files {
                    let text = bump(*file, original, tick);
                    let mut f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .expect("open counter file for writing");
                    f.write_all(text.as_bytes()).expect("rewrite counter file");
                    f.set_len(text.len() as u64).expect("truncate counter file");
                }
                if let Some(seq) = kmsg_seq.as_mut() {
                    let record = format!(
                        "3,{seq},{},-;mmc0: Timeout waiting for hardware interrupt.\n",
                        tick * 1_000_000
                    );
                    *seq += 1;
                    OpenOptions::new()
                        .append(true)
                        .open(&kmsg)
                        .and_then(|mut f| f.write_all(record.as_bytes()))
                        .expect("append to dev/kmsg");
                }
            }
        });
        CounterBumper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for CounterBumper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_appends_continue_the_sequence() {
        assert_eq!(
            next_kmsg_seq("6,41,0,-;a\n SUBSYSTEM=usb\n3,42,1,-;b\n"),
            43
        );
        assert_eq!(next_kmsg_seq(""), 0);
    }

    #[test]
    fn stat_cpu_lines_grow_and_the_rest_stays() {
        let text = "cpu  10 20\ncpu0 1 2\nbtime 1719830584\n";
        assert_eq!(
            bump(CounterFile::Stat, text, 2),
            "cpu 24 48\ncpu0 15 30\nbtime 1719830584\n"
        );
    }

    #[test]
    fn net_dev_counts_after_the_colon_and_diskstats_after_the_name() {
        let net = "Inter-|   Receive\n face |bytes\n  eth0: 100 5\n";
        assert_eq!(
            bump(CounterFile::NetDev, net, 1),
            "Inter-|   Receive\n face |bytes\n  eth0: 1600 3005\n"
        );
        let disk = " 179       0 mmcblk0 48270 15213\n";
        assert_eq!(
            bump(CounterFile::DiskStats, disk, 1),
            " 179       0 mmcblk0 48273 15219\n"
        );
    }
}
