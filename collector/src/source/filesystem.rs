//! Filesystems → `FS_*` (labels `device`, `fstype`, `mountpoint`): mounts from
//! `/proc/self/mounts` (re-read each cycle into the scratch buffer), node_exporter's
//! default fs-type and mount-point exclusions, `statvfs` through [`StatvfsPool`].
//!
//! A mount whose `statvfs` fails, times out or is still stuck reports only
//! `FS_READONLY` and `FS_DEVICE_ERROR` = 1, like node_exporter.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::NameLists;
use super::file::SysFile;
use super::log::ErrorCounter;
use super::statvfs::{StatOutcome, StatvfsPool};
use crate::parse::filter::{fs_type_excluded_by_default, mount_point_excluded_by_default};
use crate::parse::mounts::parse_mounts;
use crate::sink::SampleSink;

/// Longest decoded device or mount point; longer ones are skipped (counted).
const NAME_CAP: usize = 512;

/// Reads mounts and their `statvfs`.
#[derive(Debug)]
pub(crate) struct FilesystemReader {
    mounts: SysFile,
    /// The root as bytes, without a trailing `/` (empty for `/`).
    prefix: Vec<u8>,
    mount_points: NameLists,
    fs_types: NameLists,
    pool: StatvfsPool,
}

impl FilesystemReader {
    pub(crate) fn open(
        root: &Path,
        mount_points: &NameLists,
        fs_types: &NameLists,
        workers: usize,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let mounts = SysFile::open(root.join("proc/self/mounts"))?;
        let mut prefix = root.as_os_str().as_bytes().to_vec();
        while prefix.last() == Some(&b'/') {
            prefix.pop();
        }
        Ok(FilesystemReader {
            mounts,
            prefix,
            mount_points: mount_points.clone(),
            fs_types: fs_types.clone(),
            pool: StatvfsPool::start(workers, timeout)?,
        })
    }

    pub(crate) fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let path = self.mounts.path();
        let bytes = match self.mounts.read(scratch) {
            Ok(bytes) => bytes,
            Err(e) => return errors.fail(format_args!("{}: {e}", path.display())),
        };
        let mut device_buf = [0u8; NAME_CAP];
        let mut mount_buf = [0u8; NAME_CAP];
        for mount in parse_mounts(bytes) {
            let mount = match mount {
                Ok(mount) => mount,
                Err(e) => {
                    errors.fail(format_args!("{}: {e}", path.display()));
                    continue;
                }
            };
            if !self
                .fs_types
                .allows(mount.fstype, fs_type_excluded_by_default)
            {
                continue;
            }
            let (mountpoint, device) = match (
                mount.mountpoint_decoded(&mut mount_buf),
                mount.device_decoded(&mut device_buf),
            ) {
                (Ok(m), Ok(d)) => (m, d),
                (Err(e), _) | (_, Err(e)) => {
                    errors.fail(format_args!("{}: mount entry: {e}", path.display()));
                    continue;
                }
            };
            if !self
                .mount_points
                .allows(mountpoint, mount_point_excluded_by_default)
            {
                continue;
            }
            let outcome = self.pool.stat(&self.prefix, mountpoint.as_bytes());
            sink.labels(&[device, mount.fstype, mountpoint]);
            let readonly = Value::Unsigned(u64::from(mount.read_only));
            if let StatOutcome::Ok(s) = outcome {
                sink.push(id::FS_SIZE, Value::Unsigned(s.size));
                sink.push(id::FS_FREE, Value::Unsigned(s.free));
                sink.push(id::FS_AVAIL, Value::Unsigned(s.avail));
                sink.push(id::FS_FILES, Value::Unsigned(s.files));
                sink.push(id::FS_FILES_FREE, Value::Unsigned(s.files_free));
                sink.push(id::FS_READONLY, readonly);
                sink.push(id::FS_DEVICE_ERROR, Value::Unsigned(0));
                continue;
            }
            sink.push(id::FS_READONLY, readonly);
            sink.push(id::FS_DEVICE_ERROR, Value::Unsigned(1));
            match outcome {
                StatOutcome::Failed(errno) => {
                    errors.fail(format_args!("statvfs {mountpoint}: {}", errno.desc()));
                }
                StatOutcome::TimedOut => {
                    errors.fail(format_args!(
                        "statvfs {mountpoint}: no answer in time; skipped until it returns"
                    ));
                }
                StatOutcome::NoWorker => {
                    errors.fail(format_args!(
                        "statvfs {mountpoint}: every worker is stuck on a hung mount"
                    ));
                }
                StatOutcome::PathTooLong => {
                    errors.fail(format_args!("statvfs {mountpoint}: path too long"));
                }
                // Already counted when it timed out.
                StatOutcome::Stuck | StatOutcome::Ok(_) => {}
            }
        }
    }
}
