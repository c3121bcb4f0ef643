//! cgroups → `CGROUP_*`: CPU, memory, IO, tasks and pressure of every systemd service,
//! Kubernetes pod and container, Docker and Podman container — which workload is
//! eating the Pi, without cAdvisor's tens of megabytes.
//!
//! Everything comes from `<root>/sys/fs/cgroup` (cgroup v2; a hybrid host's unified
//! tree plus its v1 controllers) and names from files on disk, never from an API:
//! see `discover` for the walk and the names, `files` for what is read, `table` for
//! the fixed table of tracked workloads. A cgroup v1-only host has no unified tree to
//! walk: the source is absent there and `--check` says so.
//!
//! Discovery runs at start-up and then every `cgroup_rediscover` (default 30 s) inside
//! a cycle; between discoveries a cycle only re-reads the open files. A workload that
//! goes away is dropped at once when its files say so (`ENODEV`) or at the next
//! discovery; its series then go stale at the aggregator. Workloads that do not fit
//! the table (`cgroup_max`) are counted (`pimon_cgroup_workloads_untracked`) and
//! logged once. Nothing here allocates after start-up, discovery and churn included.

mod dir;
mod discover;
mod files;
mod table;

use std::fmt;
use std::time::{Duration, Instant};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::log::ErrorCounter;
use super::{NameLists, Source, SourcesConfig};
use crate::log::{Level, log};
use crate::sink::SampleSink;

use dir::Dir;
use discover::{Discovery, Found};
use files::{Gone, Hierarchies, Values};
use table::Table;

/// The cgroup source's settings (`[filters]` `cgroup_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupConfig {
    /// Most workloads tracked (the table's size).
    pub max: usize,
    /// How often the tree is walked for new and gone workloads.
    pub rediscover: Duration,
    /// Read the workloads every this many cycles (1: every cycle). Between, nothing is
    /// sent for them: the aggregator's `--stale-intervals` must be above this.
    pub every: u32,
    /// Kubernetes namespaces (pods and their containers).
    pub namespaces: NameLists,
    /// systemd service units (`ssh.service`).
    pub units: NameLists,
    /// Container names (Kubernetes containers, Docker and Podman containers).
    pub names: NameLists,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        let all = NameLists {
            defaults: false,
            ..NameLists::default()
        };
        CgroupConfig {
            max: 256,
            rediscover: Duration::from_secs(30),
            every: 1,
            namespaces: all.clone(),
            units: all.clone(),
            names: all,
        }
    }
}

/// Open files per tracked workload, at most (for the open-files limit).
const FILES_PER_WORKLOAD: u64 = 12;

/// The cgroup source; see the module docs.
#[derive(Debug)]
pub(crate) struct CgroupReader {
    hierarchies: Hierarchies,
    /// Where the tree is (for `--check`).
    tree_path: std::path::PathBuf,
    table: Table,
    discovery: Discovery,
    config: CgroupConfig,
    next_discovery: Instant,
    last: Found,
    logged_full: bool,
    /// Cycles since the workloads were last read.
    since_read: u32,
}

/// Finds the cgroup hierarchies under `root`.
fn hierarchies(root: &std::path::Path) -> Result<(Hierarchies, std::path::PathBuf), String> {
    let base = root.join("sys/fs/cgroup");
    let v1 = |name: &str| Dir::open(&base.join(name)).ok();
    if base.join("cgroup.controllers").exists() {
        let tree = Dir::open(&base).map_err(|e| format!("{}: {e}", base.display()))?;
        return Ok((
            Hierarchies {
                tree,
                v1_memory: None,
                v1_pids: None,
                v1_blkio: None,
                v1_cpu: None,
            },
            base,
        ));
    }
    let unified = base.join("unified");
    if unified.join("cgroup.controllers").exists() {
        let tree = Dir::open(&unified).map_err(|e| format!("{}: {e}", unified.display()))?;
        return Ok((
            Hierarchies {
                tree,
                v1_memory: v1("memory"),
                v1_pids: v1("pids"),
                v1_blkio: v1("blkio"),
                v1_cpu: v1("cpu").or_else(|| v1("cpu,cpuacct")),
            },
            unified,
        ));
    }
    if base.join("memory").exists() || base.join("cpu").exists() {
        return Err(format!(
            "{}: cgroup v1 only (no unified hierarchy): not supported; pimon reads cgroup v2, \
             or a hybrid host's unified tree (systemd.unified_cgroup_hierarchy=1 switches to v2)",
            base.display()
        ));
    }
    Err(format!("{}: no cgroup filesystem", base.display()))
}

impl CgroupReader {
    /// Runs a discovery now and logs what changed.
    fn discover(&mut self, scratch: &mut [u8], errors: &mut ErrorCounter) {
        let found = self
            .discovery
            .run(&self.hierarchies, &mut self.table, &self.config, scratch);
        if found.untracked > 0 && !self.logged_full {
            self.logged_full = true;
            log(
                Level::Warning,
                format_args!(
                    "source cgroup: table full: {} workloads not tracked ({} tracked); raise \
                     cgroup_max in [filters] (logged once)",
                    found.untracked, found.tracked
                ),
            );
        }
        if found.open_errors > 0 {
            errors.fail(format_args!(
                "{} new workloads could not be opened",
                found.open_errors
            ));
        }
        self.last = found;
        self.next_discovery = Instant::now() + self.config.rediscover;
    }

    /// Discovers if due, then reads every tracked workload and pushes its samples;
    /// drops the ones that went away.
    fn read(&mut self, scratch: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        if Instant::now() >= self.next_discovery {
            self.discover(scratch, errors);
        }
        let mut gone: heapless::Vec<usize, 16> = heapless::Vec::new();
        let mut more_gone = false;
        for (index, slot, labels) in self.table.iter() {
            let mut failed = |file: &'static str, e: files::FileError| {
                errors.fail(format_args!(
                    "{}/{file}: {e}",
                    labels.id().unwrap_or("?")
                ));
            };
            match slot.files.read(scratch, &mut failed) {
                Ok(values) => {
                    let (values_arr, n) = labels.as_array();
                    sink.labels(values_arr.get(..n).unwrap_or_default());
                    CgroupReader::push(sink, slot.kind.first_id(), &values);
                }
                Err(Gone) => {
                    if gone.push(index).is_err() {
                        more_gone = true;
                    }
                }
            }
        }
        for index in gone {
            self.table.remove(index);
        }
        if more_gone {
            // More went than one cycle drops at once: the next discovery finishes.
            self.next_discovery = Instant::now();
        }
    }

    /// Pushes one workload's samples, in its catalog run's order.
    fn push(sink: &mut dyn SampleSink, first: u16, v: &Values) {
        let mut put = |offset: u16, value: Option<u64>| {
            if let Some(value) = value {
                sink.push(first + offset, Value::Unsigned(value));
            }
        };
        put(0, v.cpu.usage_us);
        put(1, v.cpu.user_us);
        put(2, v.cpu.system_us);
        put(3, v.cpu.periods);
        put(4, v.cpu.throttled_periods);
        put(5, v.cpu.throttled_us);
        put(6, v.memory_current);
        put(7, v.working_set());
        put(8, v.memory.rss);
        put(9, v.memory.cache);
        put(10, v.swap);
        put(11, v.limit);
        put(12, v.oom_kills);
        put(13, v.io.map(|io| io.read_bytes));
        put(14, v.io.map(|io| io.write_bytes));
        put(15, v.io.map(|io| io.reads));
        put(16, v.io.map(|io| io.writes));
        put(17, v.tasks);
        for (i, p) in v.pressure.iter().enumerate() {
            let at = 18 + 2 * i as u16;
            put(at, p.map(|p| p.some.total_us));
            put(at + 1, p.and_then(|p| p.full).map(|f| f.total_us));
        }
    }
}

impl Source for CgroupReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let (hierarchies, tree_path) = hierarchies(&config.root)?;
        let root = Dir::open(&config.root).map_err(|e| format!("{}: {e}", config.root.display()))?;
        let cfg = config.cgroup.clone();
        crate::sys::raise_open_files_limit(64 + FILES_PER_WORKLOAD * cfg.max as u64);
        let mut reader = CgroupReader {
            hierarchies,
            tree_path,
            table: Table::new(cfg.max),
            discovery: Discovery::new(root, cfg.max),
            config: cfg,
            next_discovery: Instant::now(),
            last: Found::default(),
            logged_full: false,
            since_read: u32::MAX,
        };
        let mut scratch = vec![0u8; config.read_buffer_bytes.max(256)];
        let mut errors = ErrorCounter::new(super::SourceKind::Cgroup);
        reader.discover(&mut scratch, &mut errors);
        Ok(reader)
    }

    fn collect(&mut self, scratch: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        self.since_read = self.since_read.saturating_add(1);
        if self.since_read >= self.config.every.max(1) {
            self.since_read = 0;
            self.read(scratch, sink, errors);
        }
        sink.labels(&[]);
        sink.push(
            id::CGROUP_WORKLOADS_TRACKED,
            Value::Unsigned(self.table.len() as u64),
        );
        sink.push(
            id::CGROUP_WORKLOADS_UNTRACKED,
            Value::Unsigned(self.last.untracked as u64),
        );
    }

    /// The tree, then one line per tracked workload.
    fn details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.hierarchies.hybrid() {
            "hybrid: unified tree and v1 controllers"
        } else {
            "v2"
        };
        write!(
            f,
            ": {} ({mode}), {} of at most {} workloads tracked, {} not (table full)",
            self.tree_path.display(),
            self.table.len(),
            self.table.capacity(),
            self.last.untracked
        )?;
        for (_, slot, labels) in self.table.iter() {
            let (values, n) = labels.as_array();
            write!(f, "\n  {} ", slot.kind.name())?;
            let names = values.get(..n.saturating_sub(1)).unwrap_or_default();
            for (i, name) in names.iter().enumerate() {
                write!(f, "{}{name}", if i > 0 { "/" } else { "" })?;
            }
            if !names.is_empty() {
                write!(f, " ")?;
            }
            write!(f, "{} ({} files)", labels.id().unwrap_or("?"), slot.files.count())?;
        }
        Ok(())
    }
}
