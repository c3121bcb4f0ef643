//! Which workload a cgroup directory is, and its names, from names alone.
//!
//! cgroup directory names, by layout (`<id>` = 64 hex digits, `<uid>` = a pod UID):
//!
//! | layout | pod | container |
//! |---|---|---|
//! | Kubernetes, cgroupfs driver (k3s) | `kubepods/[burstable/\|besteffort/]pod<uid>` | `…/<id>` (containerd), `…/crio-<id>` |
//! | Kubernetes, systemd driver (kubeadm) | `kubepods.slice/[kubepods-burstable.slice/]kubepods-[burstable-]pod<uid with _>.slice` | `…/cri-containerd-<id>.scope`, `…/crio-<id>.scope`, `…/docker-<id>.scope` |
//! | Docker | — | `docker/<id>` (cgroupfs), `system.slice/docker-<id>.scope` (systemd) |
//! | Podman | — | `libpod_parent/libpod-<id>` (cgroupfs), `machine.slice/libpod-<id>.scope` (systemd) |
//! | systemd | — | services: `system.slice/<unit>.service`, `system.slice/system-<x>.slice/<unit>.service` |
//!
//! Kubernetes names come from the files the kubelet writes for log shippers:
//! `/var/log/pods/<namespace>_<pod>_<uid>/` and the links
//! `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`. Namespaces, pod and
//! container names are DNS names (no `_`), so the splits are unambiguous.

/// Length of a container id.
pub const ID_LEN: usize = 64;
/// Length of a pod UID (`8-4-4-4-12` hex digits and dashes).
pub const UID_LEN: usize = 36;

fn is_hex_id(s: &[u8]) -> bool {
    s.len() == ID_LEN && s.iter().all(u8::is_ascii_hexdigit)
}

/// A pod UID: 36 bytes of hex digits and `-` (or `_`, the systemd driver's spelling).
fn is_uid(s: &[u8]) -> bool {
    s.len() == UID_LEN
        && s.iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b'-' || b == b'_')
}

/// `s` without `prefix` and `suffix`, when it has both.
fn between<'a>(s: &'a [u8], prefix: &[u8], suffix: &[u8]) -> Option<&'a [u8]> {
    s.strip_prefix(prefix)?.strip_suffix(suffix)
}

/// The Kubernetes top-level cgroup: `kubepods` (cgroupfs) or `kubepods.slice` (systemd).
pub const KUBEPODS: [&str; 2] = ["kubepods", "kubepods.slice"];

/// A QoS class level under `kubepods`: `burstable`, `besteffort`, or their systemd
/// slices (guaranteed pods sit directly under `kubepods`).
pub fn is_qos_dir(name: &[u8]) -> bool {
    matches!(
        name,
        b"burstable"
            | b"besteffort"
            | b"kubepods-burstable.slice"
            | b"kubepods-besteffort.slice"
    )
}

/// The UID of a pod's cgroup directory (`pod<uid>`, `kubepods-pod<uid>.slice`,
/// `kubepods-<qos>-pod<uid>.slice`), written into `out` with `-` (the systemd driver
/// writes `_`), or `None` when `name` is not a pod's.
pub fn pod_uid<'o>(name: &[u8], out: &'o mut [u8; UID_LEN]) -> Option<&'o str> {
    let raw = match name.strip_prefix(b"pod") {
        Some(uid) => uid,
        None => {
            let inner = between(name, b"kubepods-", b".slice")?;
            let at = inner.windows(3).position(|w| w == b"pod")?;
            inner.get(at + 3..)?
        }
    };
    if !is_uid(raw) {
        return None;
    }
    for (o, &b) in out.iter_mut().zip(raw) {
        *o = if b == b'_' { b'-' } else { b };
    }
    core::str::from_utf8(out).ok()
}

/// The container id of a container's cgroup directory under a pod (`<id>`,
/// `cri-containerd-<id>.scope`, `crio-<id>[.scope]`, `docker-<id>.scope`); `None` for
/// anything else (`crio-conmon-<id>.scope`, control files).
pub fn pod_container_id(name: &[u8]) -> Option<&str> {
    let id = if is_hex_id(name) {
        name
    } else {
        let inner = name.strip_suffix(b".scope").unwrap_or(name);
        ["cri-containerd-", "crio-", "docker-"]
            .iter()
            .find_map(|p| inner.strip_prefix(p.as_bytes()))?
    };
    is_hex_id(id).then(|| core::str::from_utf8(id).ok())?
}

/// A container runtime outside Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Docker (names in `/var/lib/docker/containers/<id>/config.v2.json`).
    Docker,
    /// Podman (names in containers/storage's `containers.json`).
    Podman,
}

/// Where a runtime keeps its containers' cgroups: the parent directory (relative to
/// the cgroup root), the runtime, and how a container's directory is named there.
pub const RUNTIME_PARENTS: [(&str, Runtime, &str, &str); 4] = [
    ("docker", Runtime::Docker, "", ""),
    ("system.slice", Runtime::Docker, "docker-", ".scope"),
    ("libpod_parent", Runtime::Podman, "libpod-", ""),
    ("machine.slice", Runtime::Podman, "libpod-", ".scope"),
];

/// The container id of `name` under a runtime parent (`prefix<id>suffix`).
pub fn runtime_container_id<'a>(name: &'a [u8], prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = between(name, prefix.as_bytes(), suffix.as_bytes())?;
    is_hex_id(id).then(|| core::str::from_utf8(id).ok())?
}

/// A systemd service unit's cgroup (`<unit>.service`; not a template's
/// `<name>@.service`, which has no cgroup).
pub fn is_service(name: &[u8]) -> bool {
    name.len() > b".service".len() && name.ends_with(b".service") && !name.ends_with(b"@.service")
}

/// A slice under `system.slice` that holds template instances (`system-getty.slice`).
pub fn is_system_subslice(name: &[u8]) -> bool {
    name.starts_with(b"system-") && name.ends_with(b".slice")
}

/// What the name of a link in `/var/log/containers` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerLog<'a> {
    /// Pod name.
    pub pod: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Container name (in the pod spec).
    pub container: &'a str,
    /// Container id (64 hex digits).
    pub id: &'a str,
}

/// Parses `<pod>_<namespace>_<container>-<id>.log`.
pub fn parse_container_log(name: &[u8]) -> Option<ContainerLog<'_>> {
    let stem = core::str::from_utf8(name.strip_suffix(b".log")?).ok()?;
    let (rest, id) = stem.rsplit_once('-')?;
    if !is_hex_id(id.as_bytes()) {
        return None;
    }
    let mut parts = rest.split('_');
    let (pod, namespace, container) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || pod.is_empty() || namespace.is_empty() || container.is_empty()
    {
        return None;
    }
    Some(ContainerLog {
        pod,
        namespace,
        container,
        id,
    })
}

/// What the name of a directory in `/var/log/pods` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodLog<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Pod name.
    pub pod: &'a str,
    /// Pod UID.
    pub uid: &'a str,
}

/// Parses `<namespace>_<pod>_<uid>`.
pub fn parse_pod_log(name: &[u8]) -> Option<PodLog<'_>> {
    let name = core::str::from_utf8(name).ok()?;
    let mut parts = name.split('_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || namespace.is_empty() || pod.is_empty() || !is_uid(uid.as_bytes())
    {
        return None;
    }
    Some(PodLog {
        namespace,
        pod,
        uid,
    })
}

/// Runs every name parser over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let mut uid = [0u8; UID_LEN];
    let _ = pod_uid(input, &mut uid);
    let _ = pod_container_id(input);
    let _ = is_qos_dir(input);
    let _ = is_service(input);
    let _ = is_system_subslice(input);
    for (_, _, prefix, suffix) in RUNTIME_PARENTS {
        let _ = runtime_container_id(input, prefix, suffix);
    }
    let _ = parse_container_log(input);
    let _ = parse_pod_log(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "5f7e3b9a-2c41-4d8e-9a6b-0c1d2e3f4a5b";

    #[test]
    fn pod_directories_of_both_drivers() {
        let mut out = [0u8; UID_LEN];
        assert_eq!(pod_uid(format!("pod{UID}").as_bytes(), &mut out), Some(UID));
        let systemd = format!("kubepods-burstable-pod{}.slice", UID.replace('-', "_"));
        assert_eq!(pod_uid(systemd.as_bytes(), &mut out), Some(UID));
        let guaranteed = format!("kubepods-pod{}.slice", UID.replace('-', "_"));
        assert_eq!(pod_uid(guaranteed.as_bytes(), &mut out), Some(UID));
        assert_eq!(pod_uid(b"burstable", &mut out), None);
        assert_eq!(pod_uid(b"kubepods-burstable.slice", &mut out), None);
        assert_eq!(pod_uid(b"pod1234", &mut out), None);
        assert!(is_qos_dir(b"besteffort") && is_qos_dir(b"kubepods-burstable.slice"));
    }

    #[test]
    fn container_directories() {
        assert_eq!(pod_container_id(ID.as_bytes()), Some(ID));
        for name in [
            format!("cri-containerd-{ID}.scope"),
            format!("crio-{ID}.scope"),
            format!("crio-{ID}"),
            format!("docker-{ID}.scope"),
        ] {
            assert_eq!(pod_container_id(name.as_bytes()), Some(ID), "{name}");
        }
        assert_eq!(pod_container_id(format!("crio-conmon-{ID}.scope").as_bytes()), None);
        assert_eq!(pod_container_id(b"cpu.stat"), None);
        assert_eq!(pod_container_id(&ID.as_bytes()[1..]), None);
        assert_eq!(
            runtime_container_id(format!("docker-{ID}.scope").as_bytes(), "docker-", ".scope"),
            Some(ID)
        );
        assert_eq!(
            runtime_container_id(format!("libpod-conmon-{ID}.scope").as_bytes(), "libpod-", ".scope"),
            None
        );
        assert_eq!(runtime_container_id(ID.as_bytes(), "", ""), Some(ID));
    }

    #[test]
    fn services() {
        assert!(is_service(b"ssh.service"));
        assert!(is_service(b"getty@tty1.service"));
        assert!(!is_service(b"getty@.service"));
        assert!(!is_service(b".service"));
        assert!(!is_service(b"docker.socket"));
        assert!(is_system_subslice(b"system-getty.slice"));
        assert!(!is_system_subslice(b"user.slice"));
    }

    #[test]
    fn kubelet_log_names() {
        let name = format!("coredns-6799fbcd5-x7k2p_kube-system_coredns-{ID}.log");
        assert_eq!(
            parse_container_log(name.as_bytes()),
            Some(ContainerLog {
                pod: "coredns-6799fbcd5-x7k2p",
                namespace: "kube-system",
                container: "coredns",
                id: ID
            })
        );
        // Container names may hold dashes: the id is after the last one.
        let name = format!("web-0_shop_log-shipper-{ID}.log");
        assert_eq!(
            parse_container_log(name.as_bytes()).map(|l| l.container),
            Some("log-shipper")
        );
        assert_eq!(parse_container_log(b"x_y_z-123.log"), None);
        assert_eq!(parse_container_log(format!("a_b-{ID}.log").as_bytes()), None);
        assert_eq!(
            parse_pod_log(format!("kube-system_coredns-6799fbcd5-x7k2p_{UID}").as_bytes()),
            Some(PodLog {
                namespace: "kube-system",
                pod: "coredns-6799fbcd5-x7k2p",
                uid: UID
            })
        );
        assert_eq!(parse_pod_log(b"a_b_c"), None);
        assert_eq!(parse_pod_log(format!("a_b_c_{UID}").as_bytes()), None);
    }
}
