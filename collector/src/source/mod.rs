//! The sources: thin `std` readers over the [`crate::parse`] parsers.
//!
//! Every source is one entry of the source table (`source_table.rs`), which generates
//! [`SourceKind`], its names and the opening of each reader. A reader implements
//! `Source`: `open` finds what to read under the configured root (default `/`, so a
//! fixture tree or a container's `/host` is read the same way) and opens it once; every
//! cycle `collect` re-reads the files with `pread` at offset 0 into one fixed scratch
//! buffer and pushes samples with catalog ids, in raw kernel units, into a
//! [`SampleSink`] — without heap allocation. A format that makes a whole source by
//! itself ([`crate::parse::FileFormat`]) is read by the generic `OneFile` reader.
//!
//! A source that is absent (no file, no device) is logged once at start-up and skipped.
//! A read or parse failure is counted per source ([`Sources::error_count`], sent as
//! `COLLECTOR_SOURCE_ERRORS{source}` by [`Sources::push_error_counters`]) and logged at
//! a limited rate; the other sources, and the other items of the same source (thermal
//! zones, hwmon sensors, mounts), are still collected.
//!
//! ## Re-discovery
//!
//! Devices come and go while the collector runs: a driver is reloaded (its sysfs files
//! vanish, the old descriptors fail for ever, `hwmon1` comes back as `hwmon3`), a
//! DS18B20 is unplugged and plugged in again, a sensor driver probes after the
//! collector started. So discovery is not only a start-up step: every
//! [`SourcesConfig::rediscover`] (default 60 s), within a cycle, an absent source is
//! looked for again, and a present source whose items can change (`Source::hotplug`:
//! thermal, hwmon, 1-wire, IIO, cpufreq, netclass) is discovered again and takes over what was
//! found (`Source::renew`: by default the fresh reader replaces the old one; 1-wire
//! keeps its thread and its last readings), or discovers in place (`Source::refresh`:
//! netclass keeps the open files of the devices still there and opens only new ones). A source that is gone is logged and stops
//! being sent; one that appears or changes is logged with what it now reads. Discovery
//! allocates (directory listings, names, paths); the cycles in between do not.
//!
//! Labels are node_exporter's, in the catalog's label order. Within a label set the ids
//! ascend; unlabelled metrics are pushed first (stat, load, uptime, meminfo, pressure,
//! throttling), then the labelled ones.

mod file;
mod log;
mod statvfs;

use std::any::Any;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use crate::parse::filter::NameFilter;
use crate::sink::SampleSink;
use crate::sys::ZeroedPages;

pub use cgroup::CgroupConfig;
use file::{Files, OneFile};
pub use hwmon::hwmon_id;
pub use log::FAILURE_LOG_INTERVAL;
pub use meminfo::meminfo_id;

use log::ErrorCounter;

/// A source's reader: found and opened by discovery, then read every cycle.
pub(crate) trait Source: Any + Send {
    /// Finds what to read under `config.root` and opens it (may allocate). `Err(why)`
    /// when the source is absent here (`why` is logged once). No background work yet:
    /// see [`Source::start`].
    fn open(config: &SourcesConfig) -> Result<Self, String>
    where
        Self: Sized;

    /// Starts background work (a reader thread) once the reader is in use; not called
    /// for a reader that only [`Source::renew`]s another.
    fn start(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// Whether what [`Source::open`] finds can change while the collector runs (devices
    /// come and go): then discovery runs again every `rediscover` interval.
    fn hotplug(&self) -> bool {
        false
    }

    /// Discovery ran again and found `fresh`: take it over, keeping what must survive.
    /// The default replaces `self` (its files close, `fresh`'s are read from now on).
    fn renew(&mut self, fresh: Self)
    where
        Self: Sized,
    {
        *self = fresh;
    }

    /// Discovers again in place, keeping what is still valid (the open files of devices
    /// still there) instead of a fresh [`Source::open`] and [`Source::renew`]: `None`
    /// when the reader has no such way (the default), else what discovery found (`Err`:
    /// the source is gone). May allocate.
    fn refresh(&mut self, _config: &SourcesConfig) -> Option<Result<(), String>> {
        None
    }

    /// Reads once and pushes the samples into `sink`, using `scratch` for file bytes.
    /// Failures are counted (and logged at a limited rate) in `errors`; what can be read
    /// is still pushed. No heap allocation.
    fn collect(&mut self, scratch: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter);

    /// Waits at most `timeout` until a background reader has first values; true when it
    /// has (or there is none).
    fn settle(&self, _timeout: Duration) -> bool {
        true
    }

    /// What was found, written after `NAME: ok` by `--check` (`": cpus 0 1 2 3"`, one
    /// indented line per zone…).
    fn details(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// A section of `docs/METRICS.md`: catalog families one source (or sensor kind) sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricGroup {
    /// The section title.
    pub title: &'static str,
    /// Where the values come from (markdown, after "From ").
    pub from: &'static str,
    /// Prometheus name prefixes of its families.
    pub prefixes: &'static [&'static str],
}

/// Generates [`SourceKind`], the reader modules, the opening of readers and
/// [`METRIC_GROUPS`] from the source table.
macro_rules! declare_sources {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident $name:literal {
            format: $format:ident,
            reader: $reader:ty,
            $(module: $module:ident,)?
            docs: [$( ($title:literal, $from:literal, [$($prefix:literal),* $(,)?]) ),* $(,)?],
        }
    )*) => {
        $($( mod $module; )?)*

        /// One source (the `source` label of `COLLECTOR_SOURCE_ERRORS`), in collection
        /// order: the order of the source table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum SourceKind {
            $( $(#[doc = $doc])* $kind, )*
        }

        impl SourceKind {
            /// Every source, in collection order.
            pub const ALL: [SourceKind; [$($name),*].len()] = [$(SourceKind::$kind),*];

            /// The name used in logs, the `source` label and configuration (`netdev`,
            /// `w1`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(SourceKind::$kind => $name,)*
                }
            }

            /// Discovers and opens this source's reader.
            fn open_reader(self, config: &SourcesConfig) -> Result<Box<dyn Source>, String> {
                match self {
                    $(SourceKind::$kind => <$reader as Source>::open(config)
                        .map(|r| Box::new(r) as Box<dyn Source>),)*
                }
            }

            /// Discovers this source again and lets `reader` (this kind's) take over
            /// what was found. `Err(why)` when it is gone.
            fn rediscover(self, reader: &mut dyn Source, config: &SourcesConfig) -> Result<(), String> {
                match self {
                    $(SourceKind::$kind => {
                        let reader: &mut dyn Any = reader;
                        let Some(current) = reader.downcast_mut::<$reader>() else {
                            return Err(format!("not a {} reader", $name));
                        };
                        if let Some(found) = current.refresh(config) {
                            return found;
                        }
                        current.renew(<$reader as Source>::open(config)?);
                        Ok(())
                    })*
                }
            }
        }

        /// The `docs/METRICS.md` sections of the sources, in table order.
        pub const METRIC_GROUPS: &[MetricGroup] = &[
            $($(MetricGroup { title: $title, from: $from, prefixes: &[$($prefix),*] },)*)*
        ];
    };
}

source_table!(declare_sources);

impl SourceKind {
    /// Sources read only when the configuration enables them (`enable = …`), as
    /// node_exporter's disabled-by-default collectors: `/proc/interrupts` (tens of label
    /// sets per cycle).
    pub const OPT_IN: [SourceKind; 1] = [SourceKind::Interrupts];

    /// The source named `name` (see [`SourceKind::name`]).
    pub fn from_name(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.name() == name)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of sources: one bit per [`SourceKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSet(u64);

// Every source has its bit (a `u32` silently wrapped once the 33rd source came).
const _: () = assert!(SourceKind::ALL.len() < 64);

impl SourceSet {
    /// Every source.
    pub const fn all() -> Self {
        SourceSet((1 << SourceKind::ALL.len()) - 1)
    }
    /// Every source but the opt-in ones ([`SourceKind::OPT_IN`]): what runs unless the
    /// configuration says otherwise.
    pub const fn defaults() -> Self {
        let mut bits = SourceSet::all().0;
        let mut i = 0;
        while i < SourceKind::OPT_IN.len() {
            bits &= !(1 << SourceKind::OPT_IN[i] as u32);
            i += 1;
        }
        SourceSet(bits)
    }
    /// No source.
    pub const fn none() -> Self {
        SourceSet(0)
    }
    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: SourceKind) -> bool {
        self.0 & (1 << kind as u64) != 0
    }
    /// Adds `kind`.
    pub fn insert(&mut self, kind: SourceKind) {
        self.0 |= 1 << kind as u64;
    }
    /// Removes `kind`.
    pub fn remove(&mut self, kind: SourceKind) {
        self.0 &= !(1 << kind as u64);
    }
}

impl Default for SourceSet {
    fn default() -> Self {
        SourceSet::defaults()
    }
}

/// A configurable name filter: include and exclude lists (exact names, or prefixes
/// ending in `*`), on top of node_exporter's default exclusion when `defaults` is set.
///
/// A name passes when it matches the include list (or the list is empty), matches no
/// exclude pattern, and — only while the include list is empty — is not excluded by
/// the defaults. A non-empty include list replaces the defaults, as node_exporter's
/// `--collector.*.device-include` replaces its default exclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameLists {
    /// Apply node_exporter's default exclusion for this kind of name.
    pub defaults: bool,
    /// Names to keep (all when empty).
    pub include: Vec<String>,
    /// Names to drop.
    pub exclude: Vec<String>,
}

impl Default for NameLists {
    fn default() -> Self {
        NameLists {
            defaults: true,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

impl NameLists {
    /// Whether `name` passes; `excluded_by_default` is the default exclusion for this
    /// kind of name (see [`crate::parse::filter`]).
    pub fn allows(&self, name: &str, excluded_by_default: impl Fn(&str) -> bool) -> bool {
        let lists = NameFilter {
            include: &self.include,
            exclude: &self.exclude,
        };
        lists.allows(name)
            && !(self.defaults && self.include.is_empty() && excluded_by_default(name))
    }
}

/// What to read and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcesConfig {
    /// Every path is resolved under this root (`/proc/stat` → `<root>/proc/stat`).
    pub root: PathBuf,
    /// Which sources to open.
    pub sources: SourceSet,
    /// Network devices, for `/proc/net/dev` and `/sys/class/net` alike (node_exporter
    /// excludes none by default in either).
    pub net_devices: NameLists,
    /// `/proc/diskstats` devices (default: node_exporter's device exclusion).
    pub disk_devices: NameLists,
    /// Filesystem mount points (default: node_exporter's mount-point exclusion).
    pub mount_points: NameLists,
    /// Filesystem types (default: node_exporter's fs-type exclusion).
    pub fs_types: NameLists,
    /// How long a cycle waits for one `statvfs` before skipping the mount.
    pub statvfs_timeout: Duration,
    /// `statvfs` worker threads (how many hung mounts can be outlived).
    pub statvfs_workers: usize,
    /// How often the background thread reads the 1-wire sensors.
    pub w1_interval: Duration,
    /// Size of the one read buffer every file is read into; a larger file is a
    /// counted failure of its source.
    pub read_buffer_bytes: usize,
    /// Disks whose 32-bit wraps are tracked (others are sent unextended).
    pub max_disks: usize,
    /// Kernel log rules of the config file (`[kmsg] rule = …`), tried before the
    /// built-in ones; each was checked with `parse::log_rule::Rule::parse`.
    pub kmsg_rules: Vec<String>,
    /// Most `(event, device)` series the kernel log source counts separately.
    pub kmsg_max_series: usize,
    /// Scan `/proc/[pid]` every this many cycles (1: every cycle); the cycles between
    /// send the last scan's values again (no `/proc` read). 0 (the default):
    /// [`processes_every_for`] the interval, which the configuration resolves (a reader
    /// given 0 scans every cycle).
    pub processes_every: u32,
    /// How often absent sources, and sources whose devices come and go, are discovered
    /// again (see the module docs); zero: never.
    pub rediscover: Duration,
    /// A 1-wire reading older than this is not sent (the sensors' `stale_after`).
    pub w1_stale_after: Duration,
    /// The cgroup source: table size, re-discovery, filters.
    pub cgroup: CgroupConfig,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            root: PathBuf::from("/"),
            sources: SourceSet::defaults(),
            net_devices: NameLists {
                defaults: false,
                ..NameLists::default()
            },
            disk_devices: NameLists::default(),
            mount_points: NameLists::default(),
            fs_types: NameLists::default(),
            statvfs_timeout: Duration::from_secs(1),
            statvfs_workers: 2,
            w1_interval: Duration::from_secs(5),
            read_buffer_bytes: 64 * 1024,
            max_disks: 64,
            kmsg_rules: Vec::new(),
            kmsg_max_series: 64,
            processes_every: 0,
            rediscover: Duration::from_secs(60),
            w1_stale_after: Duration::from_secs(60),
            cgroup: CgroupConfig::default(),
        }
    }
}

/// How often the process scan runs when the configuration does not say
/// (`processes_every` unset): about every [`PROCESSES_SCAN_PERIOD`] — every 60th cycle
/// at 1 s, every 6th at 10 s (the default interval), every cycle at 60 s and more; at
/// most every 60th cycle (the configuration's bound: every 6 s at 100 ms). The scan
/// reads every `/proc/[pid]/stat` and task `stat` (~8 µs of CPU each, mostly the
/// kernel's: ~33 ms with 1,200 processes and 4,000 threads, docs/BENCHMARKS.md §2.8),
/// the same work as node_exporter's `processes` collector, which is opt-in there. The
/// cycles between scans send the last scan's values again, so the family is in every
/// cycle (as in every node_exporter scrape and Telegraf interval) and never goes stale
/// on the aggregator, whatever its `stale_min`; the values are less than a minute old.
pub fn processes_every_for(interval: Duration) -> u32 {
    let per_period = PROCESSES_SCAN_PERIOD.as_millis() / interval.as_millis().max(1);
    u32::try_from(per_period).unwrap_or(u32::MAX).clamp(1, 60)
}

/// See [`processes_every_for`].
pub const PROCESSES_SCAN_PERIOD: Duration = Duration::from_secs(60);

/// What [`Sources::open`] found for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// Not enabled in the configuration.
    Disabled,
    /// Enabled but not present (the reason, as logged).
    Absent(String),
    /// Opened and collected each cycle.
    Present,
}

/// One source's place in [`Sources`].
struct Slot {
    kind: SourceKind,
    status: SourceStatus,
    reader: Option<Box<dyn Source>>,
    errors: ErrorCounter,
    /// When to discover it again (`None`: never).
    next_discovery: Option<Instant>,
    /// This cycle's reading: microseconds, and whether it failed nothing (node_exporter's
    /// `node_scrape_collector_duration_seconds` and `_success`).
    scrape_us: u64,
    scrape_ok: bool,
}

/// What a slot holds, without the reader's internals (readers are not `Debug`: their
/// derived formatting code would all be linked, through the vtables, into the binary).
impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("errors", &self.errors.count())
            .field("next_discovery", &self.next_discovery)
            .finish()
    }
}

impl Slot {
    /// Opens `kind` (when enabled) and starts it.
    fn open(kind: SourceKind, config: &SourcesConfig, now: Instant) -> Slot {
        let mut slot = Slot {
            kind,
            status: SourceStatus::Disabled,
            reader: None,
            errors: ErrorCounter::new(kind),
            next_discovery: None,
            scrape_us: 0,
            scrape_ok: true,
        };
        if config.sources.contains(kind) {
            match start(kind, config) {
                Ok(reader) => slot.install(reader),
                Err(why) => {
                    log::absent(kind, format_args!("{why}"));
                    slot.status = SourceStatus::Absent(why);
                }
            }
            slot.schedule(config, now);
        }
        slot
    }

    fn install(&mut self, reader: Box<dyn Source>) {
        self.reader = Some(reader);
        self.status = SourceStatus::Present;
    }

    /// The next discovery: after `rediscover`, for an absent or a hot-plug source.
    fn schedule(&mut self, config: &SourcesConfig, now: Instant) {
        let again = self.reader.as_ref().is_none_or(|r| r.hotplug());
        self.next_discovery = (again && !config.rediscover.is_zero())
            .then(|| now.checked_add(config.rediscover))
            .flatten();
    }

    /// Discovers the source again (see the module docs). Allocates.
    fn rediscover(&mut self, config: &SourcesConfig, now: Instant) {
        let kind = self.kind;
        match self.reader.as_mut() {
            None => match start(kind, config) {
                Ok(reader) => {
                    log::found(kind, format_args!("{}", Details(reader.as_ref()).line()));
                    self.install(reader);
                }
                Err(why) => self.status = SourceStatus::Absent(why),
            },
            Some(reader) => {
                let before = Details(reader.as_ref()).line();
                match kind.rediscover(reader.as_mut(), config) {
                    Ok(()) => {
                        let now_reads = Details(reader.as_ref()).line();
                        if now_reads != before {
                            log::note(kind, format_args!("re-discovered: {now_reads}"));
                        }
                    }
                    Err(why) => {
                        log::gone(kind, format_args!("{why}"));
                        self.reader = None;
                        self.status = SourceStatus::Absent(why);
                    }
                }
            }
        }
        self.schedule(config, now);
    }
}

/// Opens `kind`'s reader and starts its background work.
fn start(kind: SourceKind, config: &SourcesConfig) -> Result<Box<dyn Source>, String> {
    let mut reader = kind.open_reader(config)?;
    reader.start()?;
    Ok(reader)
}

/// A reader's [`Source::details`] as `Display`.
struct Details<'a>(&'a dyn Source);

impl Details<'_> {
    /// The details on one line, for a log line (`zone 0 (cpu-thermal), zone 1 (…)`).
    fn line(&self) -> String {
        let text = self.to_string();
        let parts: Vec<&str> = text
            .split('\n')
            .map(|p| p.trim_start_matches([':', ';', ' ']))
            .filter(|p| !p.is_empty())
            .collect();
        parts.join(", ")
    }
}

impl fmt::Display for Details<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.details(f)
    }
}

/// Every enabled source, open.
#[derive(Debug)]
pub struct Sources {
    config: SourcesConfig,
    /// The read buffer: written only as far as files go, so most of it stays unpaged.
    scratch: ZeroedPages,
    slots: Vec<Slot>,
}

impl Sources {
    /// Opens every enabled source under `config.root`. Never fails: an absent source is
    /// logged once and skipped (see [`Sources::status`]), and looked for again every
    /// `config.rediscover`.
    pub fn open(config: &SourcesConfig) -> Sources {
        let now = Instant::now();
        if let Ok(bytes) = u32::try_from(crate::sys::page_size()) {
            crate::parse::sockstat::set_page_size(bytes);
        }
        Sources {
            config: config.clone(),
            scratch: ZeroedPages::new(config.read_buffer_bytes.max(256)),
            slots: SourceKind::ALL
                .into_iter()
                .map(|kind| Slot::open(kind, config, now))
                .collect(),
        }
    }

    /// Reads every present source once and pushes its samples into `sink`. Never
    /// fails; failures are counted per source. No heap allocation, except in a cycle
    /// where a source is due for discovery again (at most once per `rediscover` each).
    pub fn collect(&mut self, sink: &mut dyn SampleSink) {
        let now = Instant::now();
        let scratch = &mut *self.scratch;
        for slot in &mut self.slots {
            if slot.next_discovery.is_some_and(|at| now >= at) {
                slot.rediscover(&self.config, now);
            }
            if let Some(reader) = slot.reader.as_mut() {
                let (start, errors) = (Instant::now(), slot.errors.count());
                reader.collect(scratch, sink, &mut slot.errors);
                slot.scrape_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                slot.scrape_ok =
                    slot.errors.count() == errors && !slot.errors.take_resent_failure();
            }
        }
    }

    /// Waits (at most `timeout`) until the background readers have a first value
    /// (1-wire sensors take ~750 ms each). Useful before a `--once` cycle and in tests.
    /// True when every background reader has completed a round.
    pub fn settle(&self, timeout: Duration) -> bool {
        self.slots
            .iter()
            .filter_map(|s| s.reader.as_ref())
            .all(|r| r.settle(timeout))
    }

    fn slot(&self, kind: SourceKind) -> Option<&Slot> {
        self.slots.get(kind.index())
    }

    /// Failures of `kind` since start-up.
    pub fn error_count(&self, kind: SourceKind) -> u64 {
        self.slot(kind).map_or(0, |s| s.errors.count())
    }

    /// `(source, failures since start-up)` for every source that is present.
    pub fn error_counts(&self) -> impl Iterator<Item = (SourceKind, u64)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.status == SourceStatus::Present)
            .map(|s| (s.kind, s.errors.count()))
    }

    /// Pushes `COLLECTOR_SOURCE_ERRORS{source}` for every present source, with
    /// node_exporter's `SCRAPE_COLLECTOR_DURATION` (µs) and `_SUCCESS` of the last
    /// [`Sources::collect`] under the same label value.
    pub fn push_error_counters(&self, sink: &mut dyn SampleSink) {
        for s in self
            .slots
            .iter()
            .filter(|s| s.status == SourceStatus::Present)
        {
            sink.labels(&[s.kind.name()]);
            sink.push(
                id::COLLECTOR_SOURCE_ERRORS,
                Value::Unsigned(s.errors.count()),
            );
            sink.push(id::SCRAPE_COLLECTOR_DURATION, Value::Unsigned(s.scrape_us));
            sink.push(
                id::SCRAPE_COLLECTOR_SUCCESS,
                Value::Unsigned(u64::from(s.scrape_ok)),
            );
        }
    }

    /// What [`Sources::open`] found for `kind`.
    pub fn status(&self, kind: SourceKind) -> &SourceStatus {
        self.slot(kind)
            .map_or(&SourceStatus::Disabled, |s| &s.status)
    }

    /// A human-readable account of the sources and sensors found, for `--check`.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }
}

/// See [`Sources::report`].
#[derive(Debug)]
pub struct Report<'a>(&'a Sources);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        writeln!(f, "root: {}", s.config.root.display())?;
        for slot in &s.slots {
            let kind = slot.kind;
            match (&slot.status, &slot.reader) {
                (SourceStatus::Disabled, _) => writeln!(f, "{kind}: disabled")?,
                (SourceStatus::Absent(why), _) => writeln!(f, "{kind}: absent ({why})")?,
                (SourceStatus::Present, reader) => {
                    write!(f, "{kind}: ok")?;
                    if let Some(reader) = reader {
                        write!(f, "{}", Details(reader.as_ref()))?;
                    }
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_of_all_sources_holds_every_source_and_removes_one() {
        assert!(
            SourceKind::ALL.len() > 32,
            "the test wants more sources than a u32 has bits"
        );
        let mut set = SourceSet::all();
        for kind in SourceKind::ALL {
            assert!(set.contains(kind), "{kind} missing from SourceSet::all()");
        }
        let last = SourceKind::ALL[SourceKind::ALL.len() - 1];
        set.remove(last);
        assert!(!set.contains(last));
        assert!(set.contains(SourceKind::ALL[0]));
        assert!(!SourceSet::none().contains(last));
    }
}
