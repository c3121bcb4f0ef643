//! Device and filesystem filters: node_exporter's defaults as hand-written matchers (no
//! regex engine on a Pi), plus simple configurable name lists.
//!
//! Defaults (node_exporter 1.8):
//! - diskstats device exclude `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`
//! - filesystem mount-point exclude
//!   `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
//! - filesystem type exclude `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|`
//!   `devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|`
//!   `rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$`

/// `s` minus its longest prefix of ASCII digits, and that prefix's length.
fn skip_digits(s: &[u8]) -> (&[u8], usize) {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    (s.get(n..).unwrap_or_default(), n)
}

/// Whether `s` is one or more ASCII digits and nothing else.
fn all_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(u8::is_ascii_digit)
}

/// node_exporter's default diskstats exclusion:
/// `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$` — RAM disks, loop devices,
/// floppies, partitions of `sd`/`hd`/`vd`/`xvd` disks and of NVMe namespaces.
pub fn disk_excluded_by_default(name: &str) -> bool {
    let name = name.as_bytes();
    let prefixed = |prefix: &[u8]| name.strip_prefix(prefix).is_some_and(all_digits);
    if prefixed(b"ram") || prefixed(b"zram") || prefixed(b"loop") || prefixed(b"fd") {
        return true;
    }
    for disk in [&b"hd"[..], b"sd", b"vd", b"xvd"] {
        if let Some(&[letter, ref rest @ ..]) = name.strip_prefix(disk)
            && letter.is_ascii_lowercase()
            && all_digits(rest)
        {
            return true;
        }
    }
    // nvme\d+n\d+p\d+
    if let Some(rest) = name.strip_prefix(b"nvme") {
        let (rest, n) = skip_digits(rest);
        if n > 0
            && let Some(rest) = rest.strip_prefix(b"n")
        {
            let (rest, n) = skip_digits(rest);
            if n > 0
                && let Some(rest) = rest.strip_prefix(b"p")
            {
                return all_digits(rest);
            }
        }
    }
    false
}

/// node_exporter's default mount-point exclusion:
/// `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`.
pub fn mount_point_excluded_by_default(mount_point: &str) -> bool {
    let Some(rest) = mount_point.strip_prefix('/') else {
        return false;
    };
    // `dir` itself or anything below it.
    let at_or_below = |dir: &str| {
        rest.strip_prefix(dir)
            .is_some_and(|r| r.is_empty() || r.starts_with('/'))
    };
    // `dir/` followed by at least one character (`.+` then `($|/)` always matches).
    let strictly_below = |dir: &str| {
        rest.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| !r.is_empty())
    };
    at_or_below("dev")
        || at_or_below("proc")
        || at_or_below("sys")
        || strictly_below("run/credentials")
        || strictly_below("var/lib/docker")
        || strictly_below("var/lib/containers/storage")
}

/// Filesystem types node_exporter excludes by default.
pub const DEFAULT_EXCLUDED_FS_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "erofs",
    "sysfs",
    "tracefs",
];

/// node_exporter's default filesystem-type exclusion (exact match on
/// [`DEFAULT_EXCLUDED_FS_TYPES`]).
pub fn fs_type_excluded_by_default(fs_type: &str) -> bool {
    DEFAULT_EXCLUDED_FS_TYPES.contains(&fs_type)
}

/// Filesystem types whose `statfs` answers from the kernel's in-memory counters of a
/// local device: stat'd on the cycle's own thread. Every other type (NFS, CIFS, FUSE,
/// Ceph, 9p, ZFS, anything unknown) goes to a worker with a timeout, as a hung server
/// would block the call.
const INLINE_STATFS_FS_TYPES: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "vfat", "exfat", "tmpfs", "ramfs", "overlay",
    "squashfs",
];

/// Whether `statfs` on a filesystem of type `fs_type` is safe inline (see
/// `INLINE_STATFS_FS_TYPES`).
///
/// ```
/// use pimon_collector::parse::filter::statfs_is_local;
/// assert!(statfs_is_local("ext4"));
/// assert!(!statfs_is_local("nfs4"));
/// assert!(!statfs_is_local("fuse.sshfs"));
/// ```
pub fn statfs_is_local(fs_type: &str) -> bool {
    INLINE_STATFS_FS_TYPES.contains(&fs_type)
}

/// Whether `name` matches `pattern`: exact, or a prefix when the pattern ends in `*`
/// (`"veth*"`, `"/mnt/*"`); a lone `*` matches everything.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A configurable include/exclude list of names (patterns per [`name_matches`]).
///
/// A name passes when the include list is empty or one include pattern matches it, and
/// no exclude pattern matches it.
#[derive(Debug, Clone, Copy)]
pub struct NameFilter<'a, S: AsRef<str>> {
    /// Names to keep (all when empty).
    pub include: &'a [S],
    /// Names to drop.
    pub exclude: &'a [S],
}

impl<S: AsRef<str>> NameFilter<'_, S> {
    /// Whether `name` passes the filter.
    pub fn allows(&self, name: &str) -> bool {
        let included =
            self.include.is_empty() || self.include.iter().any(|p| name_matches(p.as_ref(), name));
        included && !self.exclude.iter().any(|p| name_matches(p.as_ref(), name))
    }
}

/// Runs every matcher over `input` as a name and as a pattern (see
/// [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let Ok(text) = core::str::from_utf8(input) else {
        return;
    };
    let _ = disk_excluded_by_default(text);
    let _ = mount_point_excluded_by_default(text);
    let _ = fs_type_excluded_by_default(text);
    let (pattern, name) = text.split_once('\n').unwrap_or((text, text));
    let list = [pattern];
    let _ = NameFilter {
        include: &list,
        exclude: &list,
    }
    .allows(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks() {
        for excluded in [
            "ram0",
            "ram15",
            "zram0",
            "loop0",
            "loop12",
            "fd0",
            "sda1",
            "sdz12",
            "hda1",
            "vdb3",
            "xvda1",
            "nvme0n1p1",
            "nvme10n2p33",
        ] {
            assert!(disk_excluded_by_default(excluded), "{excluded}");
        }
        for kept in [
            "sda",
            "nvme0n1",
            "mmcblk0",
            "mmcblk0p1",
            "mmcblk0p2",
            "dm-0",
            "md0",
            "ram",
            "loop",
            "sdaa1",
            "sda1x",
            "nvme0n1p",
            "nvmen1p1",
            "nvme0p1",
            "xvd1",
            "sr0",
            "zram",
            "sdA1",
        ] {
            assert!(!disk_excluded_by_default(kept), "{kept}");
        }
    }

    #[test]
    fn mount_points() {
        for excluded in [
            "/dev",
            "/dev/shm",
            "/proc",
            "/proc/sys/fs/binfmt_misc",
            "/sys",
            "/sys/fs/cgroup",
            "/run/credentials/systemd-resolved.service",
            "/var/lib/docker/overlay2/x/merged",
            "/var/lib/containers/storage/overlay",
        ] {
            assert!(mount_point_excluded_by_default(excluded), "{excluded}");
        }
        for kept in [
            "/",
            "/boot",
            "/boot/firmware",
            "/devices",
            "/run",
            "/run/credentials",
            "/run/credentials/",
            "/var/lib/docker",
            "/var/lib/dockerd/x",
            "/system",
            "/run/user/1000",
            "dev",
            "/media/pi/USB Stick",
        ] {
            assert!(!mount_point_excluded_by_default(kept), "{kept}");
        }
    }

    #[test]
    fn fs_types() {
        for excluded in [
            "proc", "sysfs", "cgroup", "cgroup2", "overlay", "squashfs", "tracefs",
        ] {
            assert!(fs_type_excluded_by_default(excluded), "{excluded}");
        }
        for kept in [
            "ext4",
            "vfat",
            "tmpfs",
            "nfs4",
            "btrfs",
            "xfs",
            "cgroup3",
            "fuse.sshfs",
        ] {
            assert!(!fs_type_excluded_by_default(kept), "{kept}");
        }
    }

    #[test]
    fn name_lists() {
        let none: NameFilter<'_, &str> = NameFilter {
            include: &[],
            exclude: &[],
        };
        assert!(none.allows("eth0"));
        let f = NameFilter {
            include: &["eth*", "wlan0"][..],
            exclude: &["eth1"][..],
        };
        assert!(f.allows("eth0"));
        assert!(f.allows("wlan0"));
        assert!(!f.allows("eth1"));
        assert!(!f.allows("lo"));
        let all_but = NameFilter {
            include: &[][..],
            exclude: &["veth*", "docker0"][..],
        };
        assert!(all_but.allows("eth0"));
        assert!(!all_but.allows("veth12ab"));
        assert!(!all_but.allows("docker0"));
        assert!(name_matches("*", "anything"));
    }
}
