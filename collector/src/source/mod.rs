//! The sources: thin `std` readers over the [`crate::parse`] parsers.
//!
//! [`Sources::open`] discovers what the machine has under the configured root (default
//! `/`, so a fixture tree or a container's `/host` is read the same way), opens every
//! file once, and starts the background threads (1-wire reads, `statvfs`). Each
//! [`Sources::collect`] then re-reads the files with `pread` at offset 0 into one fixed
//! scratch buffer and pushes samples with catalog ids, in raw kernel units, into a
//! [`SampleSink`] — without heap allocation.
//!
//! A source that is absent (no file, no device) is logged once at start-up and skipped.
//! A read or parse failure is counted per source ([`Sources::error_count`], sent as
//! `COLLECTOR_SOURCE_ERRORS{source}` by [`Sources::push_error_counters`]) and logged at
//! a limited rate; the other sources, and the other items of the same source (thermal
//! zones, hwmon sensors, mounts), are still collected.
//!
//! Labels are node_exporter's, in the catalog's label order. Within a label set the ids
//! ascend; unlabelled metrics are pushed first (stat, load, uptime, meminfo, pressure,
//! throttling), then the labelled ones.

mod cpufreq;
mod diskstats;
mod file;
mod filesystem;
mod hwmon;
mod iio;
mod load;
mod log;
mod meminfo;
mod netdev;
mod pressure;
mod stat;
mod statvfs;
mod thermal;
mod throttled;
mod w1;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use crate::parse::filter::NameFilter;
use crate::sink::SampleSink;

pub use hwmon::hwmon_id;
pub use log::FAILURE_LOG_INTERVAL;
pub use meminfo::meminfo_id;
pub use throttled::GET_THROTTLED_PATH;

/// One source (the `source` label of `COLLECTOR_SOURCE_ERRORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// `/proc/stat`.
    Stat,
    /// `/proc/loadavg`.
    Loadavg,
    /// `/proc/uptime`.
    Uptime,
    /// `/proc/meminfo`.
    Meminfo,
    /// `/proc/pressure/*`.
    Pressure,
    /// Raspberry Pi `get_throttled`.
    Throttled,
    /// cpufreq.
    Cpufreq,
    /// `/proc/net/dev`.
    Netdev,
    /// `/proc/diskstats`.
    Diskstats,
    /// Mounts and `statvfs`.
    Filesystem,
    /// Thermal zones.
    Thermal,
    /// hwmon.
    Hwmon,
    /// 1-wire DS18B20.
    W1,
    /// IIO sensors.
    Iio,
}

impl SourceKind {
    /// Every source, in collection order.
    pub const ALL: [SourceKind; 14] = [
        SourceKind::Stat,
        SourceKind::Loadavg,
        SourceKind::Uptime,
        SourceKind::Meminfo,
        SourceKind::Pressure,
        SourceKind::Throttled,
        SourceKind::Cpufreq,
        SourceKind::Netdev,
        SourceKind::Diskstats,
        SourceKind::Filesystem,
        SourceKind::Thermal,
        SourceKind::Hwmon,
        SourceKind::W1,
        SourceKind::Iio,
    ];

    /// The name used in logs, the `source` label and configuration (`netdev`, `w1`).
    pub const fn name(self) -> &'static str {
        match self {
            SourceKind::Stat => "stat",
            SourceKind::Loadavg => "loadavg",
            SourceKind::Uptime => "uptime",
            SourceKind::Meminfo => "meminfo",
            SourceKind::Pressure => "pressure",
            SourceKind::Throttled => "throttled",
            SourceKind::Cpufreq => "cpufreq",
            SourceKind::Netdev => "netdev",
            SourceKind::Diskstats => "diskstats",
            SourceKind::Filesystem => "filesystem",
            SourceKind::Thermal => "thermal",
            SourceKind::Hwmon => "hwmon",
            SourceKind::W1 => "w1",
            SourceKind::Iio => "iio",
        }
    }

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

/// A set of sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSet(u32);

impl SourceSet {
    /// Every source.
    pub const fn all() -> Self {
        SourceSet((1 << SourceKind::ALL.len()) - 1)
    }
    /// No source.
    pub const fn none() -> Self {
        SourceSet(0)
    }
    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: SourceKind) -> bool {
        self.0 & (1 << kind as u32) != 0
    }
    /// Adds `kind`.
    pub fn insert(&mut self, kind: SourceKind) {
        self.0 |= 1 << kind as u32;
    }
    /// Removes `kind`.
    pub fn remove(&mut self, kind: SourceKind) {
        self.0 &= !(1 << kind as u32);
    }
}

impl Default for SourceSet {
    fn default() -> Self {
        SourceSet::all()
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
    /// `/proc/net/dev` interfaces (node_exporter has no default exclusion).
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
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            root: PathBuf::from("/"),
            sources: SourceSet::all(),
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
        }
    }
}

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

/// Every enabled source, open.
#[derive(Debug)]
pub struct Sources {
    root: PathBuf,
    scratch: Vec<u8>,
    status: Vec<SourceStatus>,
    errors: Vec<log::ErrorCounter>,
    stat: Option<stat::StatReader>,
    loadavg: Option<load::LoadavgReader>,
    uptime: Option<load::UptimeReader>,
    meminfo: Option<meminfo::MeminfoReader>,
    pressure: Option<pressure::PressureReader>,
    throttled: Option<throttled::ThrottledReader>,
    cpufreq: Option<cpufreq::CpufreqReader>,
    netdev: Option<netdev::NetDevReader>,
    diskstats: Option<diskstats::DiskstatsReader>,
    filesystem: Option<filesystem::FilesystemReader>,
    thermal: Option<thermal::ThermalReader>,
    hwmon: Option<hwmon::HwmonReader>,
    w1: Option<w1::W1Reader>,
    iio: Option<iio::IioReader>,
    unknown_meminfo: Vec<String>,
}

impl Sources {
    /// Opens every enabled source under `config.root`. Never fails: an absent source is
    /// logged once and skipped (see [`Sources::status`]).
    pub fn open(config: &SourcesConfig) -> Sources {
        let root = config.root.as_path();
        let mut status = vec![SourceStatus::Disabled; SourceKind::ALL.len()];
        let mut take = |kind: SourceKind, opened: Result<(), String>| {
            if let Some(slot) = status.get_mut(kind.index()) {
                *slot = match opened {
                    Ok(()) => SourceStatus::Present,
                    Err(why) => {
                        log::absent(kind, format_args!("{why}"));
                        SourceStatus::Absent(why)
                    }
                };
            }
        };
        let enabled = |kind| config.sources.contains(kind);

        /// Opens `kind` if enabled; records its status.
        macro_rules! open {
            ($kind:expr, $open:expr) => {
                if enabled($kind) {
                    match $open {
                        Ok(reader) => {
                            take($kind, Ok(()));
                            Some(reader)
                        }
                        Err(why) => {
                            take($kind, Err(why));
                            None
                        }
                    }
                } else {
                    None
                }
            };
        }
        fn io<T>(r: std::io::Result<T>, root: &std::path::Path, what: &str) -> Result<T, String> {
            r.map_err(|e| format!("{}: {e}", root.join(what).display()))
        }

        let stat = open!(
            SourceKind::Stat,
            io(stat::StatReader::open(root), root, "proc/stat")
        );
        let loadavg = open!(
            SourceKind::Loadavg,
            io(load::LoadavgReader::open(root), root, "proc/loadavg")
        );
        let uptime = open!(
            SourceKind::Uptime,
            io(load::UptimeReader::open(root), root, "proc/uptime")
        );
        let meminfo = open!(
            SourceKind::Meminfo,
            io(meminfo::MeminfoReader::open(root), root, "proc/meminfo")
        );
        let pressure = open!(
            SourceKind::Pressure,
            io(pressure::PressureReader::open(root), root, "proc/pressure")
        );
        let throttled = open!(
            SourceKind::Throttled,
            io(
                throttled::ThrottledReader::open(root),
                root,
                GET_THROTTLED_PATH
            )
        );
        let cpufreq = open!(SourceKind::Cpufreq, cpufreq::CpufreqReader::open(root));
        let netdev = open!(
            SourceKind::Netdev,
            io(
                netdev::NetDevReader::open(root, &config.net_devices),
                root,
                "proc/net/dev"
            )
        );
        let diskstats = open!(
            SourceKind::Diskstats,
            io(
                diskstats::DiskstatsReader::open(root, &config.disk_devices, config.max_disks),
                root,
                "proc/diskstats"
            )
        );
        let filesystem = open!(
            SourceKind::Filesystem,
            io(
                filesystem::FilesystemReader::open(
                    root,
                    &config.mount_points,
                    &config.fs_types,
                    config.statvfs_workers,
                    config.statvfs_timeout,
                ),
                root,
                "proc/self/mounts"
            )
        );
        let thermal = open!(SourceKind::Thermal, thermal::ThermalReader::open(root));
        let hwmon = open!(SourceKind::Hwmon, hwmon::HwmonReader::open(root));
        let w1 = open!(SourceKind::W1, w1::W1Reader::open(root, config.w1_interval));
        let iio = open!(SourceKind::Iio, iio::IioReader::open(root));

        let mut scratch = vec![0u8; config.read_buffer_bytes.max(256)];
        let unknown_meminfo = meminfo
            .as_ref()
            .map(|m| m.unknown_fields(&mut scratch))
            .unwrap_or_default();
        if !unknown_meminfo.is_empty() {
            log::note(
                SourceKind::Meminfo,
                format_args!(
                    "fields not in the catalog, not sent: {}",
                    unknown_meminfo.join(", ")
                ),
            );
        }
        Sources {
            root: config.root.clone(),
            scratch,
            status,
            errors: SourceKind::ALL
                .map(log::ErrorCounter::new)
                .into_iter()
                .collect(),
            stat,
            loadavg,
            uptime,
            meminfo,
            pressure,
            throttled,
            cpufreq,
            netdev,
            diskstats,
            filesystem,
            thermal,
            hwmon,
            w1,
            iio,
            unknown_meminfo,
        }
    }

    /// Reads every present source once and pushes its samples into `sink`. Never
    /// fails; failures are counted per source. No heap allocation.
    pub fn collect(&mut self, sink: &mut dyn SampleSink) {
        let scratch = self.scratch.as_mut_slice();
        let errors = &mut self.errors;

        /// Runs `$reader.collect(scratch, sink, counter)` when the source is present.
        macro_rules! run {
            ($field:expr, $kind:expr) => {
                if let (Some(reader), Some(errors)) =
                    ($field.as_mut(), errors.get_mut($kind.index()))
                {
                    reader.collect(scratch, sink, errors);
                }
            };
        }
        run!(self.stat, SourceKind::Stat);
        run!(self.loadavg, SourceKind::Loadavg);
        run!(self.uptime, SourceKind::Uptime);
        run!(self.meminfo, SourceKind::Meminfo);
        run!(self.pressure, SourceKind::Pressure);
        run!(self.throttled, SourceKind::Throttled);
        run!(self.cpufreq, SourceKind::Cpufreq);
        run!(self.netdev, SourceKind::Netdev);
        run!(self.diskstats, SourceKind::Diskstats);
        run!(self.filesystem, SourceKind::Filesystem);
        run!(self.thermal, SourceKind::Thermal);
        run!(self.hwmon, SourceKind::Hwmon);
        if let (Some(reader), Some(errors)) =
            (self.w1.as_mut(), errors.get_mut(SourceKind::W1.index()))
        {
            reader.collect(sink, errors);
        }
        run!(self.iio, SourceKind::Iio);
    }

    /// Waits (at most `timeout`) until the background readers have a first value
    /// (1-wire sensors take ~750 ms each). Useful before a `--once` cycle and in tests.
    /// True when every background reader has completed a round.
    pub fn settle(&self, timeout: Duration) -> bool {
        self.w1.as_ref().is_none_or(|w1| w1.settle(timeout))
    }

    /// Failures of `kind` since start-up.
    pub fn error_count(&self, kind: SourceKind) -> u64 {
        self.errors
            .get(kind.index())
            .map_or(0, log::ErrorCounter::count)
    }

    /// `(source, failures since start-up)` for every source that is present.
    pub fn error_counts(&self) -> impl Iterator<Item = (SourceKind, u64)> + '_ {
        SourceKind::ALL
            .into_iter()
            .filter(|&k| self.status(k) == &SourceStatus::Present)
            .map(|k| (k, self.error_count(k)))
    }

    /// Pushes `COLLECTOR_SOURCE_ERRORS{source}` for every present source.
    pub fn push_error_counters(&self, sink: &mut dyn SampleSink) {
        for (kind, count) in self.error_counts() {
            sink.labels(&[kind.name()]);
            sink.push(id::COLLECTOR_SOURCE_ERRORS, Value::Unsigned(count));
        }
    }

    /// What [`Sources::open`] found for `kind`.
    pub fn status(&self, kind: SourceKind) -> &SourceStatus {
        self.status
            .get(kind.index())
            .unwrap_or(&SourceStatus::Disabled)
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
        writeln!(f, "root: {}", s.root.display())?;
        for kind in SourceKind::ALL {
            match s.status(kind) {
                SourceStatus::Disabled => writeln!(f, "{kind}: disabled")?,
                SourceStatus::Absent(why) => writeln!(f, "{kind}: absent ({why})")?,
                SourceStatus::Present => {
                    write!(f, "{kind}: ok")?;
                    self.details(f, kind)?;
                    writeln!(f)?;
                }
            }
        }
        Ok(())
    }
}

impl Report<'_> {
    fn details(&self, f: &mut fmt::Formatter<'_>, kind: SourceKind) -> fmt::Result {
        let s = self.0;
        match kind {
            SourceKind::Meminfo if !s.unknown_meminfo.is_empty() => {
                write!(f, "; not in the catalog: {}", s.unknown_meminfo.join(", "))
            }
            SourceKind::Pressure => {
                let Some(p) = &s.pressure else { return Ok(()) };
                write!(f, ":")?;
                p.resources().try_for_each(|r| write!(f, " {r}"))
            }
            SourceKind::Cpufreq => {
                let Some(c) = &s.cpufreq else { return Ok(()) };
                write!(f, ": cpus")?;
                c.cpus().try_for_each(|n| write!(f, " {n}"))
            }
            SourceKind::Thermal => {
                let Some(t) = &s.thermal else { return Ok(()) };
                t.zones
                    .iter()
                    .try_for_each(|z| write!(f, "\n  zone {} ({})", z.zone_label, z.kind))
            }
            SourceKind::Hwmon => {
                let Some(h) = &s.hwmon else { return Ok(()) };
                for chip in &h.chips {
                    write!(f, "\n  chip {}", chip.chip)?;
                    if let Some(name) = &chip.name {
                        write!(f, " (hwmon{}, {name})", chip.number)?;
                    }
                    write!(f, ":")?;
                    for sensor in &chip.sensors {
                        write!(f, " {}", sensor.name)?;
                        if let Some(label) = &sensor.label {
                            write!(f, " \"{label}\"")?;
                        }
                    }
                }
                Ok(())
            }
            SourceKind::W1 => {
                let Some(w) = &s.w1 else { return Ok(()) };
                w.sensors.iter().try_for_each(|(name, file)| {
                    let file = match file {
                        w1::W1File::Temperature => "temperature",
                        w1::W1File::W1Slave => "w1_slave",
                    };
                    write!(f, "\n  sensor {name} ({file})")
                })
            }
            SourceKind::Iio => {
                let Some(i) = &s.iio else { return Ok(()) };
                for device in &i.devices {
                    write!(f, "\n  {} ({}):", device.device, device.name)?;
                    for channel in &device.channels {
                        let how = match channel.reading {
                            iio::Reading::Processed(_) => "input",
                            iio::Reading::Raw { .. } => "raw",
                        };
                        write!(f, " {} ({how})", channel.channel)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
