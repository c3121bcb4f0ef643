//! Filesystems → `FS_*` (labels `device`, `fstype`, `mountpoint`): the mount table
//! (kept between cycles and read again only when `poll` on it reports a change of the
//! mount namespace — a procfs mount table does, `POLLPRI`; a table that is no procfs
//! file, as in a fixture tree, is read every cycle), node_exporter's default fs-type and
//! mount-point exclusions, `statvfs` of `<root>/<mountpoint>` through [`StatvfsPool`].
//!
//! A mount whose `statvfs` fails, times out or is still stuck reports only
//! `FS_READONLY` and `FS_DEVICE_ERROR` = 1, like node_exporter.
//!
//! ## Which mount table: `<root>/proc/1/mounts`, else `<root>/proc/self/mounts`
//!
//! The node's filesystems are those of the host's init, so the table is read from
//! `<root>/proc/1/mounts` (what node_exporter reads too), chosen once at start and
//! logged:
//!
//! - **Kubernetes DaemonSet** (`deploy/kubernetes/`: the host's `/` at `/host`,
//!   `--root /host`): `/host/proc` is the host's procfs, so `proc/1` is the host's init
//!   and its table lists the node's filesystems, and `statvfs` of `/host/<mountpoint>`
//!   reaches them through the recursive bind. `/host/proc/self/mounts` would be the
//!   *collector's* mount namespace: the container's overlay root, `/etc/hosts`, and the
//!   host's mounts again under `/host/…` — not the node's.
//! - **systemd unit** (`deploy/systemd/`): `ProtectSystem=strict`, `PrivateTmp=`,
//!   `ProtectHome=` and `PrivateMounts=` give the service a mount namespace of its own.
//!   Its `/proc/self/mounts` shows every filesystem `ro` (the read-only bind remounts of
//!   `ProtectSystem=strict`: `node_filesystem_readonly` would be 1 everywhere) plus the
//!   private `/tmp` and `/var/tmp` binds as extra filesystems; `/proc/1/mounts` is the
//!   host's real table. `statvfs` still runs in the service's namespace, where each
//!   host mount sits at the same path (only made read-only), so the sizes are the
//!   host's. (`ProtectHome=yes` covers `/home`, `/root` and `/run/user` with an
//!   inaccessible node: filesystems mounted there — a separate `/home`, the
//!   `/run/user/<uid>` tmpfs — cannot be measured from inside the unit with either
//!   table; `ProtectHome=read-only` would leave them measurable.) `/proc/1/mounts` is
//!   world-readable (no ptrace check), so the dynamic user reads it; the unit keeps
//!   `ProtectProc=default`.
//! - **Directly on the host, or a fixture tree**: `proc/1/mounts` and `proc/self/mounts`
//!   are the same table; a tree without `proc/1/mounts` uses `proc/self/mounts`.
//!
//! When `proc/1/mounts` cannot be opened — `/proc` mounted `hidepid=`,
//! `ProtectProc=invisible`, a tree without it — the reader falls back to
//! `<root>/proc/self/mounts` and logs why (in a container that table is the container's
//! own, which the log line says).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{ReadError, SysFile};
use super::log::{self, ErrorCounter};
use super::statvfs::{StatOutcome, StatvfsPool};
use super::{NameLists, Source, SourceKind, SourcesConfig};
use crate::parse::filter::{
    fs_type_excluded_by_default, mount_point_excluded_by_default, statfs_is_local,
};
use crate::parse::mounts::parse_mounts;
use crate::sink::SampleSink;

/// Longest decoded device or mount point; longer ones are skipped (counted).
const NAME_CAP: usize = 512;

/// The host init's mount table, under the root: preferred (see the module doc).
const HOST_MOUNTS: &str = "proc/1/mounts";
/// This process's mount table, under the root: the fallback.
const OWN_MOUNTS: &str = "proc/self/mounts";

/// Reads mounts and their `statvfs`.
#[derive(Debug)]
pub(crate) struct FilesystemReader {
    mounts: SysFile,
    /// The mount table as last read, when `mounts` is procfs's: it is read again only
    /// after `poll` reports a change of the mount namespace (see the module docs).
    table: MountTable,
    /// The root as bytes, without a trailing `/` (empty for `/`).
    prefix: Vec<u8>,
    mount_points: NameLists,
    fs_types: NameLists,
    pool: StatvfsPool,
}

impl Source for FilesystemReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let root = config.root.as_path();
        let mounts = open_mount_table(root)
            .map_err(|e| format!("{}: {e}", root.join(OWN_MOUNTS).display()))?;
        let mut prefix = root.as_os_str().as_bytes().to_vec();
        while prefix.last() == Some(&b'/') {
            prefix.pop();
        }
        let table = MountTable {
            pollable: crate::sys::is_procfs(mounts.fd()),
            bytes: Vec::new(),
            valid: false,
        };
        Ok(FilesystemReader {
            mounts,
            table,
            prefix,
            mount_points: config.mount_points.clone(),
            fs_types: config.fs_types.clone(),
            pool: StatvfsPool::start(config.statvfs_workers, config.statvfs_timeout)
                .map_err(|e| format!("cannot start the statvfs threads: {e}"))?,
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let path = self.mounts.path();
        let bytes = match self.table.current(&self.mounts, scratch) {
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
            let outcome = if statfs_is_local(mount.fstype) {
                self.pool.stat_inline(&self.prefix, mountpoint.as_bytes())
            } else {
                self.pool.stat(&self.prefix, mountpoint.as_bytes())
            };
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

/// The mount table's bytes, kept between cycles when procfs says when they change.
#[derive(Debug)]
struct MountTable {
    /// The table is a procfs mount table, whose `poll` reports changes.
    pollable: bool,
    /// Its bytes as last read (grown only when the table grew: no allocation per cycle).
    bytes: Vec<u8>,
    /// `bytes` holds a complete read not known to be out of date.
    valid: bool,
}

impl MountTable {
    /// The table's current bytes: those kept, unless `poll` reports a change (or the
    /// table is no procfs file, or the last read failed); then read again into `scratch`
    /// and kept. Reading `/proc/1/mounts` makes the kernel print every mount, ~30 µs a
    /// cycle (docs/BENCHMARKS.md §2.2); a `poll` costs about a microsecond.
    fn current<'a>(
        &'a mut self,
        file: &SysFile,
        scratch: &'a mut [u8],
    ) -> Result<&'a [u8], ReadError> {
        if self.pollable && self.valid && !crate::sys::exception_pending(file.fd()).unwrap_or(true)
        {
            return Ok(&self.bytes);
        }
        // Whatever happens now, only a complete read is kept.
        self.valid = false;
        let bytes = file.read(scratch)?;
        if self.pollable {
            self.bytes.clear();
            if bytes.len() > self.bytes.capacity() {
                // Room to grow by half before the next allocation.
                self.bytes.reserve_exact(bytes.len() + bytes.len() / 2);
            }
            self.bytes.extend_from_slice(bytes);
            self.valid = true;
        }
        Ok(bytes)
    }
}

/// Opens `<root>/proc/1/mounts`, or `<root>/proc/self/mounts` when that cannot be
/// opened; logs which, once. The error is the fallback's when neither opens.
fn open_mount_table(root: &Path) -> std::io::Result<SysFile> {
    let host_error = match SysFile::open(root.join(HOST_MOUNTS)) {
        Ok(host) => {
            log::note(
                SourceKind::Filesystem,
                format_args!(
                    "mount table {} (PID 1's: the host's)",
                    host.path().display()
                ),
            );
            return Ok(host);
        }
        Err(e) => e,
    };
    let own = SysFile::open(root.join(OWN_MOUNTS))?;
    log::note(
        SourceKind::Filesystem,
        format_args!(
            "mount table {} ({}: {host_error}); in a container this lists the \
             container's mounts, not the host's",
            own.path().display(),
            root.join(HOST_MOUNTS).display()
        ),
    );
    Ok(own)
}
