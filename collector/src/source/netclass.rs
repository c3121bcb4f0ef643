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
use crate::parse::{ParseError, parse_uint_value};
use crate::sink::SampleSink;

/// One device's open attribute files.
#[derive(Debug)]
struct Device {
    name: String,
    /// The numeric attributes that exist, in id order.
    numbers: Vec<(u16, SysFile)>,
    /// [`TEXT_ATTRIBUTES`], where they exist.
    texts: [Option<SysFile>; TEXT_ATTRIBUTES.len()],
    rx_nohandler: Option<SysFile>,
}

/// Reads every network device's attributes.
#[derive(Debug)]
pub(crate) struct NetclassReader {
    devices: Vec<Device>,
}

fn open_device(dir: &Path, name: String) -> Device {
    let numbers = NUMERIC_ATTRIBUTES
        .iter()
        .filter_map(|&(file, metric)| Some((metric, SysFile::open_optional(dir.join(file))?)))
        .collect();
    Device {
        name,
        numbers,
        texts: TEXT_ATTRIBUTES.map(|file| SysFile::open_optional(dir.join(file))),
        rx_nohandler: SysFile::open_optional(dir.join("statistics/rx_nohandler")),
    }
}

/// The device was removed (its files answer `ENODEV`).
struct Gone;

/// Why an attribute gave no value, when that is not left out without complaint.
enum Unread {
    Gone,
    Failed(Failure),
}

/// Reads `file` into `buf` and parses it; `Ok(None)` when it is left out (see the
/// module docs).
fn read<'b, T>(
    file: &SysFile,
    buf: &'b mut [u8],
    parse: impl FnOnce(&'b [u8]) -> Result<T, ParseError>,
) -> Result<Option<T>, Unread> {
    match file.read_once(buf) {
        Ok(bytes) => parse(bytes)
            .map(Some)
            .map_err(|e| Unread::Failed(Failure::Parse(e))),
        Err(e) => match e.raw_os_error() {
            Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT | libc::EACCES | libc::EPERM) => {
                Ok(None)
            }
            Some(libc::ENODEV) => Err(Unread::Gone),
            _ => Err(Unread::Failed(Failure::Read(ReadError::Io(e)))),
        },
    }
}

impl Device {
    /// Pushes the device's samples; [`Gone`] when it was removed (then nothing of the
    /// device, or only part of its first label set, was pushed).
    fn collect(&self, sink: &mut dyn SampleSink, errors: &mut ErrorCounter) -> Result<(), Gone> {
        let mut fail = |file: &SysFile, e: Failure| {
            errors.fail(format_args!("{}: {e}", file.path().display()));
        };
        // Text first: `operstate` decides `node_network_up`, and a removed device is
        // noticed before anything is pushed.
        let mut bufs = [[0u8; TEXT_READ_BYTES]; TEXT_ATTRIBUTES.len()];
        let mut texts = [""; TEXT_ATTRIBUTES.len()];
        for ((file, buf), text) in self.texts.iter().zip(&mut bufs).zip(&mut texts) {
            let Some(file) = file else { continue };
            match read(file, buf, parse_attribute_text) {
                Ok(value) => *text = value.unwrap_or_default(),
                Err(Unread::Gone) => return Err(Gone),
                Err(Unread::Failed(e)) => fail(file, e),
            }
        }
        sink.labels(&[&self.name]);
        sink.push(
            id::NETCLASS_UP,
            Value::Unsigned(u64::from(texts[OPERSTATE] == "up")),
        );
        let mut flags = None;
        let mut buf = [0u8; 64];
        for (metric, file) in &self.numbers {
            match read(file, &mut buf, parse_attribute_int) {
                Ok(Some(value)) => {
                    sink.push(*metric, Value::Signed(value));
                    if *metric == id::NETCLASS_FLAGS {
                        flags = Some(value);
                    }
                }
                Ok(None) => {}
                Err(Unread::Gone) => return Err(Gone),
                Err(Unread::Failed(e)) => fail(file, e),
            }
        }
        if let Some(file) = &self.rx_nohandler {
            match read(file, &mut buf, parse_uint_value) {
                Ok(Some(value)) => sink.push(id::NET_RECEIVE_NOHANDLER, Value::Unsigned(value)),
                Ok(None) => {}
                Err(Unread::Gone) => return Err(Gone),
                Err(Unread::Failed(e)) => fail(file, e),
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

impl Source for NetclassReader {
    /// `Err` when `sys/class/net` cannot be listed or no device passes the filter.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/class/net");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut devices: Vec<Device> = entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| !t.is_file()))
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                if !config.net_devices.allows(&name, |_| false) {
                    return None;
                }
                Some(open_device(&entry.path(), name))
            })
            .collect();
        if devices.is_empty() {
            return Err(format!("no network device under {}", dir.display()));
        }
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(NetclassReader { devices })
    }

    fn hotplug(&self) -> bool {
        true
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
        for device in &self.devices {
            // A removed device pushes nothing; discovery drops it.
            let _ = device.collect(sink, errors);
        }
    }
}
