//! Which mount table the filesystem source reads, on a host and in the Kubernetes
//! DaemonSet.
//!
//! In the DaemonSet the host's `/` is mounted at `/host` and the collector runs with
//! `--root /host`. `/host/proc/self/mounts` is then the *collector container's* mount
//! table, so the source reads `<root>/proc/1/mounts` (the host init's) and falls back to
//! `<root>/proc/self/mounts` only when that cannot be opened.
//!
//! The `container` fixture tree is the pod's view of a Pi 4 k3s node: `proc/1/mounts`
//! holds the node's mounts, `proc/self/mounts` the container's (overlay root,
//! `/etc/hosts`, the host's mounts again under `/host/…`).

mod sources_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use pimon_collector::source::{SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::catalog::id;
use sources_support::{Recorder, fixture_config, fixture_root, statvfs_size, u};

const K3S_SHM: &str = "/run/k3s/containerd/io.containerd.grpc.v1.cri/sandboxes/\
                       9f2c4e61a8b03d57c1e2f4a6b8d0c2e4f6a8b0d2c4e6f8a0b2d4c6e8f0a2b4c6/shm";
const KUBELET_TOKEN: &str = "/var/lib/kubelet/pods/6f1c2b8e-4d0a-4f5e-9a3b-2c7d8e9f0a1b/\
                             volumes/kubernetes.io~projected/kube-api-access-x7k2p";

/// Only the filesystem source, rooted at `root`.
fn filesystem_only(root: PathBuf) -> SourcesConfig {
    let mut config = SourcesConfig {
        root,
        ..fixture_config("container")
    };
    config.sources = SourceSet::none();
    config.sources.insert(SourceKind::Filesystem);
    config
}

/// One cycle of the filesystem source under `root`.
fn collect(root: PathBuf) -> Recorder {
    let mut sources = Sources::open(&filesystem_only(root));
    assert_eq!(
        sources.status(SourceKind::Filesystem),
        &SourceStatus::Present
    );
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r
}

/// `[device, fstype, mountpoint]` label sets, as the recorder keeps them.
fn labels(sets: &[[&str; 3]]) -> Vec<Vec<String>> {
    sets.iter()
        .map(|s| s.iter().map(|v| v.to_string()).collect())
        .collect()
}

/// A temporary root holding the container fixture's `proc/self/mounts` and nothing of
/// `proc/1` (as under `hidepid=`, `ProtectProc=invisible`, or in an older fixture).
fn root_without_pid1(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pimon-h12-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("proc/self")).unwrap();
    std::fs::copy(
        fixture_root("container").join("proc/self/mounts"),
        dir.join("proc/self/mounts"),
    )
    .unwrap();
    dir
}

#[test]
fn issue_5_the_host_init_mount_table_is_read_not_the_containers() {
    let root = fixture_root("container");
    let r = collect(root.clone());
    // The node's filesystems, in the host table's order; pseudo filesystems, overlays
    // and nsfs are excluded by node_exporter's defaults. Nothing of the container's own
    // table (`/etc/hosts`, `/host/…`) appears.
    assert_eq!(
        r.label_sets(id::FS_READONLY),
        labels(&[
            ["/dev/mmcblk0p2", "ext4", "/"],
            ["tmpfs", "tmpfs", "/run"],
            ["tmpfs", "tmpfs", "/run/lock"],
            ["/dev/mmcblk0p1", "vfat", "/boot/firmware"],
            ["/dev/sda1", "ext4", "/var/lib/rancher"],
            ["shm", "tmpfs", K3S_SHM],
            ["tmpfs", "tmpfs", KUBELET_TOKEN],
        ])
    );

    // statvfs lands under the root: `/` is the tree itself, the others are its
    // directories (the same filesystem here), all writable per the host table.
    let (size, files) = statvfs_size(&root);
    for mountpoint in [
        "/",
        "/run",
        "/run/lock",
        "/boot/firmware",
        "/var/lib/rancher",
    ] {
        let set = r
            .label_sets(id::FS_SIZE)
            .into_iter()
            .find(|l| l[2] == mountpoint)
            .unwrap_or_else(|| panic!("no size for {mountpoint}"));
        let set: Vec<&str> = set.iter().map(String::as_str).collect();
        assert_eq!(r.value(id::FS_SIZE, &set), u(size), "{mountpoint}");
        assert_eq!(r.value(id::FS_FILES, &set), u(files), "{mountpoint}");
        assert_eq!(r.value(id::FS_READONLY, &set), u(0), "{mountpoint}");
        assert_eq!(r.value(id::FS_DEVICE_ERROR, &set), u(0), "{mountpoint}");
    }
    // The pod volumes' directories are not in the tree: statvfs fails, as counted.
    for set in [["shm", "tmpfs", K3S_SHM], ["tmpfs", "tmpfs", KUBELET_TOKEN]] {
        assert_eq!(r.value(id::FS_DEVICE_ERROR, &set), u(1));
        assert!(!r.has(id::FS_SIZE, &set));
    }
}

#[test]
fn issue_5_without_proc_1_mounts_the_own_table_is_the_fallback() {
    let root = root_without_pid1("fallback");
    let r = collect(root.clone());
    // The container's table: no `/` of the node at all, the host's mounts under
    // `/host/…` and the files the runtime bound in. This is what the DaemonSet would
    // report if `/host/proc/1` were hidden — hence the log line at start.
    assert_eq!(
        r.label_sets(id::FS_READONLY),
        labels(&[
            ["/dev/mmcblk0p2", "ext4", "/host"],
            ["tmpfs", "tmpfs", "/host/dev/shm"],
            ["tmpfs", "tmpfs", "/host/run"],
            ["tmpfs", "tmpfs", "/host/run/lock"],
            ["shm", "tmpfs", &format!("/host{K3S_SHM}")],
            ["/dev/mmcblk0p1", "vfat", "/host/boot/firmware"],
            ["/dev/sda1", "ext4", "/host/var/lib/rancher"],
            ["tmpfs", "tmpfs", &format!("/host{KUBELET_TOKEN}")],
            ["/dev/mmcblk0p2", "ext4", "/etc/hosts"],
            ["/dev/sda1", "ext4", "/etc/hostname"],
            ["/dev/sda1", "ext4", "/etc/resolv.conf"],
        ])
    );
    assert_eq!(
        r.value(id::FS_READONLY, &["/dev/mmcblk0p2", "ext4", "/host"]),
        u(1)
    );
    // None of those paths exists under this root.
    assert_eq!(r.count(id::FS_SIZE), 0);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn no_mount_table_at_all_makes_the_source_absent_naming_the_fallback() {
    let root = root_without_pid1("none");
    std::fs::remove_file(root.join("proc/self/mounts")).unwrap();
    let sources = Sources::open(&filesystem_only(root.clone()));
    match sources.status(SourceKind::Filesystem) {
        SourceStatus::Absent(why) => assert!(why.contains("proc/self/mounts"), "{why}"),
        other => panic!("expected absent, got {other:?}"),
    }
    std::fs::remove_dir_all(&root).unwrap();
}

/// `pimon-collector --root ROOT --check`: its stderr.
fn check_stderr(root: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pimon-collector"))
        .args(["--aggregator", "127.0.0.1:9797", "--node", "t", "--check"])
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn issue_5_the_table_in_use_is_logged_once_at_start() {
    let root = fixture_root("container");
    let stderr = check_stderr(&root);
    let host = format!("mount table {}", root.join("proc/1/mounts").display());
    assert_eq!(stderr.matches(&host).count(), 1, "{stderr}");
    assert!(!stderr.contains("proc/self/mounts"), "{stderr}");

    let root = root_without_pid1("log");
    let stderr = check_stderr(&root);
    let line = stderr
        .lines()
        .find(|l| l.contains("mount table"))
        .unwrap_or_else(|| panic!("no mount table line:\n{stderr}"));
    assert!(
        line.contains(&root.join("proc/self/mounts").display().to_string()),
        "{line}"
    );
    // Says why proc/1/mounts was not used, and what the fallback means in a container.
    assert!(
        line.contains(&root.join("proc/1/mounts").display().to_string()),
        "{line}"
    );
    assert!(line.contains("container's mounts"), "{line}");
    assert_eq!(stderr.matches("mount table").count(), 1, "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_live_mount_table_kept_between_cycles_gives_what_a_fresh_read_gives() {
    // On procfs the table is read once and then only when `poll` reports a change: the
    // later cycles must send the same filesystems as a reader that has just read it.
    let mut sources = Sources::open(&filesystem_only(PathBuf::from("/")));
    let mut kept = Recorder::default();
    for _ in 0..3 {
        kept = Recorder::default();
        sources.collect(&mut kept);
        kept.check_consistency();
    }
    let fresh = collect(PathBuf::from("/"));
    assert!(
        fresh.count(id::FS_READONLY) > 0,
        "this machine has filesystems"
    );
    assert_eq!(
        kept.label_sets(id::FS_READONLY),
        fresh.label_sets(id::FS_READONLY)
    );
    assert_eq!(sources.error_count(SourceKind::Filesystem), 0);
}
