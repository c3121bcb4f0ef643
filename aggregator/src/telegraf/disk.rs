//! Telegraf's `disk` from a filesystem's group (labels `device`, `fstype`,
//! `mountpoint`): `plugins/inputs/disk/disk.go` on gopsutil's `disk_unix.go`
//! (`UsageWithContext`, from `statfs(2)` with `f_bsize`, as the collector's `statvfs`).
//!
//! - no line for a filesystem of size 0 (Telegraf skips "dummy filesystems");
//! - `used = (f_blocks - f_bfree) × f_bsize` = size − free (node_exporter's free counts
//!   the root-reserved blocks; Telegraf's `free` is `f_bavail`, the catalog's `avail`);
//! - `used_percent = float64(used) / (float64(used) + float64(free)) * 100` (0 when both
//!   are 0), with Telegraf's `free`;
//! - `inodes_used = files - files_free` (0 when `files < files_free`: gopsutil returns
//!   before computing it), `inodes_used_percent` as `used_percent` with the inodes;
//! - the `mode` tag: `rw`, or `ro` when the mount options have `ro` (the collector's
//!   `node_filesystem_readonly`; `/proc/mounts` always names one of the two);
//! - the `device` tag is the fstype when the mount source is `none` or empty.
//!
//! Telegraf's optional `label` tag (a device-mapper name from `/sys/block/*/dm/name`)
//! is not written.

use pimon_protocol::catalog::id;
use pimon_protocol::text::influx::Tag;

use super::{Derived, Extras, Group, int};

/// Tag values do not outlive the group they come from.
pub(super) fn disk<'a>(group: &Group<'a>, extras: &mut Extras<'a>) {
    let Some(size) = group.raw(id::FS_SIZE) else {
        return;
    };
    if size == 0 {
        extras.skip = true;
        return;
    }
    if let Some(readonly) = group.raw(id::FS_READONLY) {
        let mode = if readonly == 0 { "rw" } else { "ro" };
        let _ = extras.tags.push(Tag::new("mode", mode));
    }
    if let (Some(&device), Some(&fstype)) = (group.labels.first(), group.labels.get(1))
        && (device.is_empty() || device == "none")
    {
        let _ = extras.tags.push(Tag::new("device", fstype));
    }
    if let (Some(free_all), Some(free)) = (group.raw(id::FS_FREE), group.raw(id::FS_AVAIL)) {
        let used = size.wrapping_sub(free_all);
        let used_percent = if used.wrapping_add(free) > 0 {
            used as f64 / (used as f64 + free as f64) * 100.0
        } else {
            0.0
        };
        extras.set("used", int(used));
        extras.set("used_percent", Derived::Float(used_percent));
    }
    if let (Some(files), Some(files_free)) = (group.raw(id::FS_FILES), group.raw(id::FS_FILES_FREE))
    {
        let inodes_used = files.saturating_sub(files_free);
        let percent = if inodes_used.wrapping_add(files_free) > 0 {
            inodes_used as f64 / (inodes_used as f64 + files_free as f64) * 100.0
        } else {
            0.0
        };
        extras.set("inodes_used", int(inodes_used));
        extras.set("inodes_used_percent", Derived::Float(percent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Value;
    use pimon_protocol::catalog::{Metric, lookup};

    fn fs(values: [u64; 6]) -> Vec<(&'static Metric, Value)> {
        (id::FS_SIZE..=id::FS_READONLY)
            .zip(values)
            .map(|(id, v)| (lookup(id).unwrap(), Value::Unsigned(v)))
            .collect()
    }

    fn field(e: &Extras<'_>, key: &str) -> Option<Derived> {
        e.fields.iter().find(|(k, _)| *k == key).map(|&(_, v)| v)
    }

    /// statfs of a 29 GiB root: blocks 7 577 226 × 4096, bfree 6 212 394, bavail
    /// 5 897 004; files 1 900 544, ffree 1 760 412; mounted rw.
    #[test]
    fn used_percent_and_inodes_as_gopsutil_and_telegraf_compute_them() {
        let bs = 4096u64;
        let samples = fs([
            7_577_226 * bs,
            6_212_394 * bs,
            5_897_004 * bs,
            1_900_544,
            1_760_412,
            0,
        ]);
        let labels = ["/dev/mmcblk0p2", "ext4", "/"];
        let mut e = Extras::default();
        disk(
            &Group {
                labels: &labels,
                samples: &samples,
            },
            &mut e,
        );
        let used = (7_577_226u64 - 6_212_394) * bs;
        let free = 5_897_004u64 * bs;
        assert_eq!(field(&e, "used"), Some(int(used)));
        assert_eq!(
            field(&e, "used_percent"),
            Some(Derived::Float(
                used as f64 / (used as f64 + free as f64) * 100.0
            ))
        );
        assert_eq!(field(&e, "inodes_used"), Some(int(140_132)));
        assert_eq!(
            field(&e, "inodes_used_percent"),
            Some(Derived::Float(
                140_132.0 / (140_132.0 + 1_760_412.0) * 100.0
            ))
        );
        assert_eq!(e.tags.as_slice(), [Tag::new("mode", "rw")]);
        assert!(!e.skip);
    }

    #[test]
    fn read_only_none_devices_and_empty_filesystems() {
        let samples = fs([4096, 0, 0, 0, 0, 1]);
        let labels = ["none", "squashfs", "/snap/core/1"];
        let mut e = Extras::default();
        disk(
            &Group {
                labels: &labels,
                samples: &samples,
            },
            &mut e,
        );
        assert_eq!(
            e.tags.as_slice(),
            [Tag::new("mode", "ro"), Tag::new("device", "squashfs")]
        );
        assert_eq!(field(&e, "used_percent"), Some(Derived::Float(100.0)));
        assert_eq!(field(&e, "inodes_used_percent"), Some(Derived::Float(0.0)));

        let empty = fs([0, 0, 0, 0, 0, 0]);
        let mut e = Extras::default();
        disk(
            &Group {
                labels: &labels,
                samples: &empty,
            },
            &mut e,
        );
        assert!(e.skip, "Telegraf writes no line for a filesystem of size 0");
    }
}
