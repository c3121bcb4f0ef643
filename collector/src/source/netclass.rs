//! `/sys/class/net/<device>/` → node_exporter's netclass families (label `device`):
//! `node_network_up`, the attributes (`NETCLASS_*`: carrier, speed, MTU, flags, …),
//! `node_network_receive_nohandler_total` and `node_network_info`.
//!
//! Devices are the entries of `/sys/class/net` that are not regular files (symlinks
//! into `/sys/devices/…` on a real system; `bonding_masters` is a file), filtered by
//! the netdev source's device lists (`netdev_include`/`netdev_exclude`: one filter for
//! every `node_network_*` family; node_exporter's netclass default, `^$`, excludes
//! nothing either). They come and go (Docker's veths, USB adapters), so discovery runs
//! again every `rediscover`; its files are opened then and each is read with one
//! `pread` per cycle, into stack buffers, without allocation.
//!
//! Like node_exporter (procfs), an attribute that does not exist or does not read is
//! left out without complaint: the kernel answers `EINVAL` for `carrier`, `speed`,
//! `duplex` and `dormant` of a device that is down and for `name_assign_type` of an
//! unnamed one, `EOPNOTSUPP` for `speed` without ethtool support. A device whose files
//! answer `ENODEV` was removed: it is skipped until discovery drops it. Other read
//! errors and values that do not parse are counted failures (node_exporter would send
//! 0 for a number that does not parse). `node_network_up` is 1 when `operstate` reads
//! `up`; `node_network_info`'s `adminstate` is `up` when `flags` has `IFF_UP`.
//!
//! `node_network_receive_nohandler_total` is node_exporter's netdev family, read there
//! over rtnetlink (`rx_nohandler` of the link's stats); it is not in `/proc/net/dev`, so
//! it is read here from `statistics/rx_nohandler`, the same kernel counter.

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{Failure, ReadError, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::netclass::{
    NUMERIC_ATTRIBUTES, OPERSTATE, TEXT_ATTRIBUTES, TEXT_READ_BYTES, admin_state,
    parse_attribute_int, parse_attribute_text,
};
use crate::sink::SampleSink;

/// One device's open attribute files.
#[derive(Debug)]
struct Device {
    name: String,
    /// Its files answered `ENODEV`: the device was removed (discovery opens it again if
    /// a device of that name is there then).
    gone: bool,
    /// [`TEXT_ATTRIBUTES`], where they exist.
    texts: [Option<SysFile>; TEXT_ATTRIBUTES.len()],
    /// The numeric attributes that exist, in id order.
    numbers: Vec<(u16, SysFile)>,
}

/// Reads every network device's attributes.
#[derive(Debug)]
pub(crate) struct NetclassReader {
    devices: Vec<Device>,
}

fn open_device(dir: &Path, name: String) -> Device {
    let mut device = Device {
        name,
        gone: false,
        texts: Default::default(),
        numbers: Vec::new(),
    };
    for (slot, file) in device.texts.iter_mut().zip(TEXT_ATTRIBUTES) {
        *slot = SysFile::open_optional(dir.join(file));
    }
    for (file, metric) in NUMERIC_ATTRIBUTES {
        if let Some(file) = SysFile::open_optional(dir.join(file)) {
            device.numbers.push((metric, file));
        }
    }
    device
}

/// The device was removed (its files answer `ENODEV`).
struct Gone;

/// Reads `file` into `buf`: its bytes, or `None` when it is left out (see the module
/// docs) or failed (counted in `errors`).
fn read<'b>(
    file: &SysFile,
    buf: &'b mut [u8],
    errors: &mut ErrorCounter,
) -> Result<Option<&'b [u8]>, Gone> {
    match file.read_once(buf) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => match e.raw_os_error() {
            Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT | libc::EACCES | libc::EPERM) => {
                Ok(None)
            }
            Some(libc::ENODEV) => Err(Gone),
            _ => {
                failed(file, Failure::Read(ReadError::Io(e)), errors);
                Ok(None)
            }
        },
    }
}

fn failed(file: &SysFile, e: Failure, errors: &mut ErrorCounter) {
    errors.fail(format_args!("{}: {e}", file.path().display()));
}

impl Device {
    /// Pushes the device's samples; [`Gone`] when it was removed (then nothing of the
    /// device, or only part of its first label set, was pushed).
    fn collect(&self, sink: &mut dyn SampleSink, errors: &mut ErrorCounter) -> Result<(), Gone> {
        // Text first: `operstate` decides `node_network_up`, and a removed device is
        // noticed before anything is pushed.
        let mut bufs = [[0u8; TEXT_READ_BYTES]; TEXT_ATTRIBUTES.len()];
        let mut texts = [""; TEXT_ATTRIBUTES.len()];
        for ((file, buf), text) in self.texts.iter().zip(&mut bufs).zip(&mut texts) {
            let Some(file) = file else { continue };
            if let Some(bytes) = read(file, buf, errors)? {
                match parse_attribute_text(bytes) {
                    Ok(value) => *text = value,
                    Err(e) => failed(file, Failure::Parse(e), errors),
                }
            }
        }
        sink.labels(&[&self.name]);
        sink.push(
            id::NETCLASS_UP,
            Value::Unsigned(u64::from(texts[OPERSTATE] == "up")),
        );
        let mut flags = None;
        let mut buf = [0u8; 32];
        for (metric, file) in &self.numbers {
            let Some(bytes) = read(file, &mut buf, errors)? else {
                continue;
            };
            match parse_attribute_int(bytes) {
                Ok(value) if *metric == id::NET_RECEIVE_NOHANDLER => {
                    // A counter the kernel prints unsigned (%lu).
                    sink.push(*metric, Value::Unsigned(value as u64));
                }
                Ok(value) => {
                    sink.push(*metric, Value::Signed(value));
                    if *metric == id::NETCLASS_FLAGS {
                        flags = Some(value);
                    }
                }
                Err(e) => failed(file, Failure::Parse(e), errors),
            }
        }
        let [address, broadcast, duplex, operstate, ifalias] = texts;
        sink.labels(&[
            &self.name,
            address,
            broadcast,
            duplex,
            operstate,
            admin_state(flags),
            ifalias,
        ]);
        sink.push(id::NETCLASS_INFO, Value::Unsigned(1));
        Ok(())
    }
}

impl Device {
    /// Whether the open files still are those of the device now named `self.name` in
    /// `dir`: not removed, and its open `ifindex` reads as the one under that name
    /// (another device may have taken the name). False when it cannot tell.
    fn still_at(&self, dir: &Path) -> bool {
        if self.gone {
            return false;
        }
        let Some((_, open)) = self.numbers.iter().find(|(m, _)| *m == id::NETCLASS_IFACE_ID) else {
            return false;
        };
        let mut buf = [0u8; 32];
        let Ok(held) = open.read_once(&mut buf).map(parse_attribute_int) else {
            return false;
        };
        let Ok(now) = std::fs::read(dir.join("ifindex")) else {
            return false;
        };
        matches!((held, parse_attribute_int(&now)), (Ok(a), Ok(b)) if a == b)
    }
}

/// Lists `sys/class/net` and opens each device that passes the filter, in name order;
/// a device of `kept` still there under its name ([`Device::still_at`]) is moved over
/// with its open files instead of opening them again.
fn discover(config: &SourcesConfig, kept: &mut Vec<Device>) -> Result<Vec<Device>, String> {
    let dir = config.root.join("sys/class/net");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut devices: Vec<Device> = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !config.net_devices.allows(&name, |_| false) {
            continue;
        }
        let path = entry.path();
        let device = match kept.iter().position(|d| d.name == name) {
            Some(i) if kept[i].still_at(&path) => kept.swap_remove(i),
            _ => open_device(&path, name),
        };
        // A regular file (`bonding_masters`) has no attribute files under it.
        if device.numbers.is_empty() && device.texts.iter().all(Option::is_none) {
            continue;
        }
        // In name order (as node_exporter's output is).
        let at = devices.partition_point(|d| d.name < device.name);
        devices.insert(at, device);
    }
    if devices.is_empty() {
        return Err(format!("no network device under {}", dir.display()));
    }
    Ok(devices)
}

impl Source for NetclassReader {
    /// `Err` when `sys/class/net` cannot be listed or no device passes the filter.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(NetclassReader {
            devices: discover(config, &mut Vec::new())?,
        })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// Keeps the open files of the devices still there (rediscovery used to open every
    /// device's ~20 files again, ~500 µs a minute on a machine with a few devices:
    /// docs/BENCHMARKS.md §2.2); the devices that are gone close theirs.
    fn refresh(&mut self, config: &SourcesConfig) -> Option<Result<(), String>> {
        let mut kept = std::mem::take(&mut self.devices);
        Some(discover(config, &mut kept).map(|devices| self.devices = devices))
    }

    /// The devices, on one line.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ":")?;
        for device in &self.devices {
            write!(f, " {}", device.name)?;
        }
        Ok(())
    }

    fn collect(
        &mut self,
        _scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for device in &mut self.devices {
            // A removed device pushes nothing; discovery drops it (or opens the device
            // that has its name then).
            if device.collect(sink, errors).is_err() {
                device.gone = true;
            }
        }
    }
}
