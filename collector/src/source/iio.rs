//! IIO sensors in sysfs → `IIO_TEMPERATURE`, `IIO_HUMIDITY`, `IIO_PRESSURE` (labels
//! `device` = `iio:deviceN`, `name`), in the IIO ABI's units: milli-°C, milli-percent,
//! kPa. A whole value travels as `Value::Signed`, a fractional one as `Value::F64`.
//!
//! Per channel the processed `in_<ch>_input` is preferred; otherwise
//! `(in_<ch>_raw + in_<ch>_offset) × in_<ch>_scale` (offset 0 and scale 1 when absent).
//! The channel may also be numbered (`in_temp0_input`). Devices are discovered at
//! start-up and again every `rediscover` (a driver that probes late, a sensor replaced).

use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{Failure, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::iio::{
    CHANNEL_HUMIDITY, CHANNEL_PRESSURE, CHANNEL_TEMPERATURE, Nano, iio_processed, parse_iio_name,
    parse_iio_value,
};
use crate::sink::SampleSink;

const CHANNELS: [(&str, u16); 3] = [
    (CHANNEL_TEMPERATURE, id::IIO_TEMPERATURE),
    (CHANNEL_HUMIDITY, id::IIO_HUMIDITY),
    (CHANNEL_PRESSURE, id::IIO_PRESSURE),
];

/// How one channel is read.
#[derive(Debug)]
pub(crate) enum Reading {
    /// `in_<ch>_input`.
    Processed(SysFile),
    /// `in_<ch>_raw`, optional `_offset` and `_scale`.
    Raw {
        raw: SysFile,
        offset: Option<SysFile>,
        scale: Option<SysFile>,
    },
}

/// One channel of a device.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) channel: &'static str,
    metric: u16,
    pub(crate) reading: Reading,
}

/// One IIO device.
#[derive(Debug)]
pub(crate) struct Device {
    pub(crate) device: String,
    pub(crate) name: String,
    pub(crate) channels: Vec<Channel>,
}

/// Reads every IIO device's temperature, humidity and pressure channels.
#[derive(Debug)]
pub(crate) struct IioReader {
    pub(crate) devices: Vec<Device>,
}

fn open_channel(dir: &Path, channel: &'static str, metric: u16) -> Option<Channel> {
    for index in ["", "0"] {
        let file =
            |attr: &str| SysFile::open_optional(dir.join(format!("in_{channel}{index}_{attr}")));
        let shared = |attr: &str| SysFile::open_optional(dir.join(format!("in_{channel}_{attr}")));
        if let Some(input) = file("input") {
            return Some(Channel {
                channel,
                metric,
                reading: Reading::Processed(input),
            });
        }
        if let Some(raw) = file("raw") {
            let offset = file("offset").or_else(|| shared("offset"));
            let scale = file("scale").or_else(|| shared("scale"));
            return Some(Channel {
                channel,
                metric,
                reading: Reading::Raw { raw, offset, scale },
            });
        }
    }
    None
}

fn read_value(file: &SysFile, scratch: &mut [u8]) -> Result<Nano, Failure> {
    file.read_parse(scratch, parse_iio_value)
}

impl Channel {
    fn read(&self, scratch: &mut [u8]) -> Result<Nano, Failure> {
        match &self.reading {
            Reading::Processed(file) => read_value(file, scratch),
            Reading::Raw { raw, offset, scale } => {
                let raw = read_value(raw, scratch)?;
                let offset = match offset {
                    Some(file) => read_value(file, scratch)?,
                    None => Nano(0),
                };
                let scale = match scale {
                    Some(file) => read_value(file, scratch)?,
                    None => Nano(1_000_000_000),
                };
                iio_processed(raw, offset, scale).map_err(Failure::Parse)
            }
        }
    }

    fn path(&self) -> &Path {
        match &self.reading {
            Reading::Processed(file) | Reading::Raw { raw: file, .. } => file.path(),
        }
    }
}

impl Source for IioReader {
    /// `Err` when no IIO device has one of the channels.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/bus/iio/devices");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut devices = Vec::new();
        for entry in entries.flatten() {
            let Ok(device) = entry.file_name().into_string() else {
                continue;
            };
            if !device.starts_with("iio:device") {
                continue;
            }
            let path = entry.path();
            let name = std::fs::read(path.join("name"))
                .ok()
                .and_then(|b| parse_iio_name(&b).ok().map(str::to_owned))
                .unwrap_or_default();
            let channels: Vec<Channel> = CHANNELS
                .iter()
                .filter_map(|&(channel, metric)| open_channel(&path, channel, metric))
                .collect();
            if !channels.is_empty() {
                devices.push(Device {
                    device,
                    name,
                    channels,
                });
            }
        }
        if devices.is_empty() {
            return Err(format!(
                "no temperature, humidity or pressure channel under {}",
                dir.display()
            ));
        }
        devices.sort_by(|a, b| {
            a.device
                .len()
                .cmp(&b.device.len())
                .then(a.device.cmp(&b.device))
        });
        Ok(IioReader { devices })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// One line per device, with its channels and how each is read.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for device in &self.devices {
            write!(f, "\n  {} ({}):", device.device, device.name)?;
            for channel in &device.channels {
                let how = match channel.reading {
                    Reading::Processed(_) => "input",
                    Reading::Raw { .. } => "raw",
                };
                write!(f, " {} ({how})", channel.channel)?;
            }
        }
        Ok(())
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        for device in &self.devices {
            sink.labels(&[&device.device, &device.name]);
            for channel in &device.channels {
                match channel.read(scratch) {
                    Ok(value) => {
                        let value = match value.as_integer() {
                            Some(whole) => Value::Signed(whole),
                            None => Value::F64(value.as_f64()),
                        };
                        sink.push(channel.metric, value);
                    }
                    Err(e) => errors.fail(format_args!("{}: {e}", channel.path().display())),
                }
            }
        }
    }
}
