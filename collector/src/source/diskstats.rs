//! `/proc/diskstats` → `DISK_*` per device (label `device`): 11, 15 or 17 fields as the
//! kernel has them, counters extended past 32-bit wraps by [`Wrap32`].

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{NameLists, Source, SourcesConfig};
use crate::parse::diskstats::{DISK_FIELDS_MAX, parse_diskstats};
use crate::parse::filter::disk_excluded_by_default;
use crate::parse::wrap::Wrap32;
use crate::sink::SampleSink;

/// Field 9 (I/Os in progress) is a gauge, not a counter: never wrap-extended.
const IO_NOW_FIELD: usize = 8;

/// Wrap state of one device, found by (major, minor).
#[derive(Debug, Clone, Copy)]
struct DiskSlot {
    major: u32,
    minor: u32,
    fields: [Wrap32; DISK_FIELDS_MAX],
}

/// Reads `/proc/diskstats`.
#[derive(Debug)]
pub(crate) struct DiskstatsReader {
    file: SysFile,
    filter: NameLists,
    /// Fixed slots (capacity reserved at start-up); a device beyond them is reported
    /// without wrap extension.
    slots: Vec<DiskSlot>,
}

impl DiskstatsReader {
    fn slot(&mut self, major: u32, minor: u32) -> Option<&mut DiskSlot> {
        let index = match self
            .slots
            .iter()
            .position(|s| s.major == major && s.minor == minor)
        {
            Some(index) => index,
            None if self.slots.len() < self.slots.capacity() => {
                self.slots.push(DiskSlot {
                    major,
                    minor,
                    fields: [Wrap32::new(); DISK_FIELDS_MAX],
                });
                self.slots.len() - 1
            }
            None => return None,
        };
        self.slots.get_mut(index)
    }
}

impl Source for DiskstatsReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(DiskstatsReader {
            file: SysFile::open_under(&config.root, "proc/diskstats")?,
            filter: config.disk_devices.clone(),
            slots: Vec::with_capacity(config.max_disks),
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let bytes = match self.file.read(scratch) {
            Ok(bytes) => bytes,
            Err(e) => return errors.fail(format_args!("{}: {e}", self.file.path().display())),
        };
        for disk in parse_diskstats(bytes) {
            let disk = match disk {
                Ok(disk) => disk,
                Err(e) => {
                    errors.fail(format_args!("{}: {e}", self.file.path().display()));
                    continue;
                }
            };
            if !self.filter.allows(disk.name, disk_excluded_by_default) {
                continue;
            }
            sink.labels(&[disk.name]);
            let mut slot = self.slot(disk.major, disk.minor);
            for (index, &raw) in disk.fields().iter().enumerate() {
                let value = match slot.as_deref_mut().and_then(|s| s.fields.get_mut(index)) {
                    Some(wrap) if index != IO_NOW_FIELD => wrap.extend(raw),
                    _ => raw,
                };
                let offset = u16::try_from(index).unwrap_or(u16::MAX);
                sink.push(id::DISK_READS_COMPLETED + offset, Value::Unsigned(value));
            }
        }
    }
}
