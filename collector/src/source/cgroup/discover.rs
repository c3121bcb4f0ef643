//! Discovery: walks the cgroup tree for workloads, names them from the files the
//! kubelet and the container runtimes leave on disk, applies the filters and keeps the
//! table in step (new workloads in, gone ones out).
//!
//! Runs at start-up and then on the re-discovery cadence, inside a cycle, so it is
//! written like the cycle: directories are listed with `getdents64` into buffers
//! allocated once, paths are built in fixed buffers, state files are read into the
//! cycle's scratch buffer. A workload already tracked is recognised by its path and
//! costs one hash and compare; only new ones are named (a scan of `/var/log/pods` or
//! `/var/log/containers`, or one read of a runtime's state file).
//!
//! A Kubernetes container without a link in `/var/log/containers` is not tracked: it
//! is a pod's sandbox (`pause`, counted in its pod) or one the kubelet has not linked
//! yet (tracked at the next re-discovery).

use crate::parse::cgroup::json::{docker_name, storage_name};
use crate::parse::cgroup::workload::{
    KUBEPODS, RUNTIME_PARENTS, Runtime, UID_LEN, is_qos_dir, is_service, is_system_subslice,
    parse_container_log, parse_pod_log, pod_container_id, pod_uid, runtime_container_id,
};

use nix::fcntl::AtFlags;

use super::dir::{Dir, RelPath};
use super::files::{Files, Hierarchies};
use super::table::{Kind, Table, path_hash};
use super::CgroupConfig;
use crate::sys::ZeroedPages;

/// Size of each directory listing buffer.
const LIST_BYTES: usize = 8 * 1024;
/// Nesting levels listed at once (kubepods → QoS → pod; system.slice → sub-slice),
/// plus one for name lookups.
const LEVELS: usize = 4;

/// What one discovery found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Found {
    /// Workloads tracked after it.
    pub(crate) tracked: usize,
    /// Newly tracked.
    pub(crate) added: usize,
    /// Dropped (gone since the last discovery).
    pub(crate) dropped: usize,
    /// Found and allowed by the filters, but the table was full.
    pub(crate) untracked: usize,
    /// Files that could not be opened for a new workload (other than it being gone).
    pub(crate) open_errors: usize,
}

/// The discovery state: buffers, and the directories names come from.
#[derive(Debug)]
pub(crate) struct Discovery {
    lists: ZeroedPages,
    path: RelPath,
    /// `<root>`, for `var/log/…` and `var/lib/…`.
    root: Dir,
    /// Kubernetes containers the last discovery found no log link for (sandboxes,
    /// mostly), by path hash, and the modification time of `/var/log/containers` then:
    /// while that directory is unchanged they are not looked up again.
    unnamed: Unnamed,
}

/// See [`Discovery::unnamed`]. Two fixed lists (the last discovery's and this one's),
/// each as long as the table.
#[derive(Debug)]
struct Unnamed {
    last: Vec<u64>,
    now: Vec<u64>,
    links_mtime: Option<(i64, i64)>,
    /// The links directory did not change since the last discovery.
    unchanged: bool,
}

/// A file's modification time (`time_t` is 32 bits on some 32-bit targets).
#[allow(clippy::useless_conversion)]
fn mtime_of(st: nix::sys::stat::FileStat) -> (i64, i64) {
    (i64::from(st.st_mtime), i64::from(st.st_mtime_nsec))
}

impl Unnamed {
    fn new(capacity: usize) -> Unnamed {
        Unnamed {
            last: Vec::with_capacity(capacity),
            now: Vec::with_capacity(capacity),
            links_mtime: None,
            unchanged: false,
        }
    }

    /// A discovery starts: is `/var/log/containers` as it was?
    fn start(&mut self, root: &Dir) {
        let mtime = nix::sys::stat::fstatat(
            root.fd(),
            &b"var/log/containers"[..],
            AtFlags::empty(),
        )
        .ok()
        .map(mtime_of);
        self.unchanged = mtime.is_some() && mtime == self.links_mtime;
        self.links_mtime = mtime;
        core::mem::swap(&mut self.last, &mut self.now);
        self.now.clear();
    }

    /// Whether the container at `hash` had no link last time and cannot have one now.
    fn known(&self, hash: u64) -> bool {
        self.unchanged && self.last.contains(&hash)
    }

    /// Remembers a container without a link (while there is room: never grows).
    fn remember(&mut self, hash: u64) {
        if self.now.len() < self.now.capacity() {
            self.now.push(hash);
        }
    }
}

/// A candidate workload: its kind and, for naming, the key in the name sources.
#[derive(Debug, Clone, Copy)]
enum Candidate<'a> {
    Service,
    Pod { uid: &'a str },
    Container { id: &'a str },
    Runtime { runtime: Runtime, id: &'a str },
}

/// Everything [`Discovery::offer`] needs besides the path.
struct Context<'c> {
    h: &'c Hierarchies,
    table: &'c mut Table,
    config: &'c CgroupConfig,
    scratch: &'c mut [u8],
    found: Found,
}

impl Discovery {
    /// Discovery for a table of `capacity` workloads.
    pub(crate) fn new(root: Dir, capacity: usize) -> Discovery {
        Discovery {
            lists: ZeroedPages::new(LIST_BYTES * LEVELS),
            path: RelPath::new(),
            root,
            unnamed: Unnamed::new(capacity),
        }
    }

    /// Walks the tree, updates `table`, returns what changed.
    pub(crate) fn run(
        &mut self,
        h: &Hierarchies,
        table: &mut Table,
        config: &CgroupConfig,
        scratch: &mut [u8],
    ) -> Found {
        // Workloads gone since the last discovery leave first, so a full table has
        // room for the ones that replaced them in this same pass.
        let gone = table.retain(|id| {
            let rel = id.strip_prefix('/').unwrap_or(id);
            nix::sys::stat::fstatat(h.tree.fd(), rel.as_bytes(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .is_ok()
        });
        table.unsee_all();
        self.unnamed.start(&self.root);
        let mut cx = Context {
            h,
            table,
            config,
            scratch,
            found: Found::default(),
        };
        let (levels, naming) = self.lists.split_at_mut(LIST_BYTES * (LEVELS - 1));
        let mut bufs = levels.chunks_mut(LIST_BYTES);
        let (Some(b0), Some(b1), Some(b2)) = (bufs.next(), bufs.next(), bufs.next()) else {
            return cx.found;
        };
        let names = Names {
            root: &self.root,
            buf: naming,
        };
        let mut walk = Walk {
            path: &mut self.path,
            names,
            unnamed: &mut self.unnamed,
        };
        walk.services(&mut cx, b0, b1);
        for top in KUBEPODS {
            walk.kubepods(&mut cx, top, [&mut *b0, &mut *b1, &mut *b2]);
        }
        for (parent, runtime, prefix, suffix) in RUNTIME_PARENTS {
            walk.runtime(&mut cx, b0, parent, runtime, prefix, suffix);
        }
        cx.found.dropped = gone + cx.table.drop_unseen();
        cx.found.tracked = cx.table.len();
        cx.found
    }
}

/// Where names come from.
struct Names<'a> {
    root: &'a Dir,
    buf: &'a mut [u8],
}

struct Walk<'a> {
    path: &'a mut RelPath,
    names: Names<'a>,
    unnamed: &'a mut Unnamed,
}

impl Walk<'_> {
    /// The directory at the current path in the tree, if it exists.
    fn open(&self, h: &Hierarchies) -> Option<Dir> {
        h.tree.dir(self.path.as_bytes()).ok()
    }

    /// `system.slice/*.service` and `system.slice/system-*.slice/*.service`.
    fn services(&mut self, cx: &mut Context<'_>, b0: &mut [u8], b1: &mut [u8]) {
        self.path.truncate(0);
        if self.path.push(b"system.slice").is_none() {
            return;
        }
        let Some(dir) = self.open(cx.h) else { return };
        let _ = dir.each(b0, &mut |e| {
            if !e.may_be_dir() {
                return true;
            }
            if is_service(e.name) {
                self.offer_child(cx, e.name, Candidate::Service);
            } else if is_system_subslice(e.name) {
                let Some(at) = self.path.push(e.name) else {
                    return true;
                };
                if let Some(sub) = self.open(cx.h) {
                    let _ = sub.each(b1, &mut |e2| {
                        if e2.may_be_dir() && is_service(e2.name) {
                            self.offer_child(cx, e2.name, Candidate::Service);
                        }
                        true
                    });
                }
                self.path.truncate(at);
            }
            true
        });
    }

    /// Pods and their containers under `kubepods` or `kubepods.slice`.
    fn kubepods(&mut self, cx: &mut Context<'_>, top: &str, bufs: [&mut [u8]; 3]) {
        let [b0, b1, b2] = bufs;
        self.path.truncate(0);
        if self.path.push(top.as_bytes()).is_none() {
            return;
        }
        let Some(dir) = self.open(cx.h) else { return };
        let _ = dir.each(b0, &mut |e| {
            if !e.may_be_dir() {
                return true;
            }
            if is_qos_dir(e.name) {
                let Some(at) = self.path.push(e.name) else {
                    return true;
                };
                if let Some(qos) = self.open(cx.h) {
                    let _ = qos.each(b1, &mut |pod| {
                        if pod.may_be_dir() {
                            self.pod(cx, pod.name, b2);
                        }
                        true
                    });
                }
                self.path.truncate(at);
            } else {
                self.pod(cx, e.name, b1);
            }
            true
        });
    }

    /// A pod's directory (if `name` is one) and its containers.
    fn pod(&mut self, cx: &mut Context<'_>, name: &[u8], buf: &mut [u8]) {
        let mut uid = [0u8; UID_LEN];
        let Some(uid) = pod_uid(name, &mut uid) else {
            return;
        };
        let Some(at) = self.path.push(name) else {
            return;
        };
        self.offer(cx, Candidate::Pod { uid });
        if let Some(dir) = self.open(cx.h) {
            let _ = dir.each(buf, &mut |c| {
                if c.may_be_dir()
                    && let Some(id) = pod_container_id(c.name)
                {
                    self.offer_child(cx, c.name, Candidate::Container { id });
                }
                true
            });
        }
        self.path.truncate(at);
    }

    /// Docker and Podman containers under one of the runtimes' parents.
    fn runtime(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        parent: &str,
        runtime: Runtime,
        prefix: &str,
        suffix: &str,
    ) {
        self.path.truncate(0);
        if self.path.push(parent.as_bytes()).is_none() {
            return;
        }
        let Some(dir) = self.open(cx.h) else { return };
        let _ = dir.each(buf, &mut |e| {
            if e.may_be_dir()
                && let Some(id) = runtime_container_id(e.name, prefix, suffix)
            {
                self.offer_child(cx, e.name, Candidate::Runtime { runtime, id });
            }
            true
        });
    }

    /// Offers the child `name` of the current path.
    fn offer_child(&mut self, cx: &mut Context<'_>, name: &[u8], candidate: Candidate<'_>) {
        let Some(at) = self.path.push(name) else {
            return;
        };
        self.offer(cx, candidate);
        self.path.truncate(at);
    }

    /// The cgroup at the current path: marks it seen if tracked, else names, filters
    /// and tracks it.
    fn offer(&mut self, cx: &mut Context<'_>, candidate: Candidate<'_>) {
        // The `id` label: the path with a leading `/`, as cAdvisor writes it.
        let mut id_buf = [0u8; RelPath::CAPACITY + 1];
        let rel = self.path.as_bytes();
        let Some(id_bytes) = id_buf.get_mut(..rel.len() + 1) else {
            return;
        };
        id_bytes[0] = b'/';
        id_bytes[1..].copy_from_slice(rel);
        let Ok(id) = core::str::from_utf8(id_bytes) else {
            return;
        };
        if let Some(slot) = cx.table.find(id) {
            slot.seen = true;
            return;
        }
        let config = cx.config;
        let mut name_buf = [0u8; 256];
        let mut pod_buf = [0u8; 256];
        let mut ns_buf = [0u8; 64];
        let labels: heapless::Vec<&str, 4> = match candidate {
            Candidate::Service => {
                let unit = id.rsplit('/').next().unwrap_or(id);
                if !config.units.allows(unit, |_| false) {
                    return;
                }
                heapless::Vec::from_slice(&[id]).unwrap_or_default()
            }
            Candidate::Pod { uid } => {
                let Some((ns, pod)) = self.names.pod(uid, &mut ns_buf, &mut pod_buf) else {
                    return;
                };
                if !config.namespaces.allows(ns, |_| false) {
                    return;
                }
                heapless::Vec::from_slice(&[ns, pod, id]).unwrap_or_default()
            }
            Candidate::Container { id: cid } => {
                let hash = path_hash(id.as_bytes());
                if self.unnamed.known(hash) {
                    self.unnamed.remember(hash);
                    return;
                }
                let Some((ns, pod, container)) =
                    self.names
                        .container(cid, &mut ns_buf, &mut pod_buf, &mut name_buf)
                else {
                    self.unnamed.remember(hash);
                    return;
                };
                if !config.namespaces.allows(ns, |_| false)
                    || !config.names.allows(container, |_| false)
                {
                    return;
                }
                heapless::Vec::from_slice(&[ns, pod, container, id]).unwrap_or_default()
            }
            Candidate::Runtime { runtime, id: cid } => {
                let name = self
                    .names
                    .runtime(runtime, cid, cx.scratch, &mut name_buf)
                    .unwrap_or("");
                if !config.names.allows(name, |_| false) {
                    return;
                }
                heapless::Vec::from_slice(&[name, id]).unwrap_or_default()
            }
        };
        let kind = match candidate {
            Candidate::Service => Kind::Service,
            Candidate::Pod { .. } => Kind::Pod,
            Candidate::Container { .. } => Kind::Container,
            Candidate::Runtime { .. } => Kind::Docker,
        };
        if cx.table.len() >= cx.table.capacity() {
            cx.found.untracked += 1;
            return;
        }
        let files = match Files::open(cx.h, self.path) {
            Ok(files) => files,
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                cx.found.untracked += 1;
                return;
            }
            Err(_) => {
                cx.found.open_errors += 1;
                return;
            }
        };
        if cx.table.insert(kind, &labels, files) {
            cx.found.added += 1;
        } else {
            cx.found.untracked += 1;
        }
    }
}

/// [`copy_into`] for three values at once.
fn copy3<'b>(
    a: &str,
    b: &str,
    c: &str,
    ab: &'b mut [u8],
    bb: &'b mut [u8],
    cb: &'b mut [u8],
) -> Option<(&'b str, &'b str, &'b str)> {
    Some((copy_into(a, ab)?, copy_into(b, bb)?, copy_into(c, cb)?))
}

/// Copies `s` into `buf` and returns the copy, or `None` when it does not fit.
fn copy_into<'b>(s: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let dst = buf.get_mut(..s.len())?;
    dst.copy_from_slice(s.as_bytes());
    core::str::from_utf8(dst).ok()
}

impl Names<'_> {
    /// `(namespace, pod)` of the pod with `uid`, from `/var/log/pods/<ns>_<pod>_<uid>`.
    fn pod<'b>(
        &mut self,
        uid: &str,
        ns_buf: &'b mut [u8],
        pod_buf: &'b mut [u8],
    ) -> Option<(&'b str, &'b str)> {
        let dir = self.root.dir(b"var/log/pods").ok()?;
        let mut found: Option<(&'b str, &'b str)> = None;
        let mut ns_buf = Some(ns_buf);
        let mut pod_buf = Some(pod_buf);
        let _ = dir.each(self.buf, &mut |e| {
            let Some(log) = parse_pod_log(e.name) else {
                return true;
            };
            if log.uid != uid {
                return true;
            }
            if let (Some(nb), Some(pb)) = (ns_buf.take(), pod_buf.take()) {
                found = copy_into(log.namespace, nb).zip(copy_into(log.pod, pb));
            }
            false
        });
        found
    }

    /// `(namespace, pod, container)` of the container `id`, from
    /// `/var/log/containers/<pod>_<ns>_<container>-<id>.log`.
    fn container<'b>(
        &mut self,
        id: &str,
        ns_buf: &'b mut [u8],
        pod_buf: &'b mut [u8],
        name_buf: &'b mut [u8],
    ) -> Option<(&'b str, &'b str, &'b str)> {
        let dir = self.root.dir(b"var/log/containers").ok()?;
        let mut found = None;
        let mut bufs = Some((ns_buf, pod_buf, name_buf));
        let _ = dir.each(self.buf, &mut |e| {
            let Some(log) = parse_container_log(e.name) else {
                return true;
            };
            if log.id != id {
                return true;
            }
            if let Some((nb, pb, cb)) = bufs.take() {
                found = copy3(log.namespace, log.pod, log.container, nb, pb, cb);
            }
            false
        });
        found
    }

    /// A Docker or Podman container's name from the runtime's state on disk.
    fn runtime<'b>(
        &mut self,
        runtime: Runtime,
        id: &str,
        scratch: &mut [u8],
        out: &'b mut [u8],
    ) -> Option<&'b str> {
        let mut path = [0u8; 160];
        match runtime {
            Runtime::Docker => {
                let rel = join3(
                    b"var/lib/docker/containers/",
                    id.as_bytes(),
                    b"/config.v2.json",
                    &mut path,
                )?;
                let bytes = read_into(self.root, rel, scratch)?;
                copy_into(core::str::from_utf8(docker_name(bytes)?).ok()?, out)
            }
            Runtime::Podman => {
                // containers/storage keeps one list per storage driver.
                let overlay = b"var/lib/containers/storage/overlay-containers/containers.json";
                let vfs = b"var/lib/containers/storage/vfs-containers/containers.json";
                let name = read_into(self.root, overlay, scratch)
                    .and_then(|bytes| storage_name(bytes, id.as_bytes()))
                    .and_then(|n| core::str::from_utf8(n).ok());
                if let Some(name) = name {
                    return copy_into(name, out);
                }
                let bytes = read_into(self.root, vfs, scratch)?;
                copy_into(core::str::from_utf8(storage_name(bytes, id.as_bytes())?).ok()?, out)
            }
        }
    }
}

fn join3<'o>(a: &[u8], b: &[u8], c: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let end = a.len() + b.len() + c.len();
    let dst = out.get_mut(..end)?;
    dst[..a.len()].copy_from_slice(a);
    dst[a.len()..a.len() + b.len()].copy_from_slice(b);
    dst[a.len() + b.len()..].copy_from_slice(c);
    Some(dst)
}

/// Reads the whole file `rel` under `root` into `buf` (`None` if it cannot be read or
/// does not fit).
fn read_into<'b>(root: &Dir, rel: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    use std::os::unix::fs::FileExt;
    let file = root.file(rel).ok()?;
    let mut len = 0;
    loop {
        let rest = buf.get_mut(len..)?;
        if rest.is_empty() {
            return None;
        }
        match file.read_at(rest, len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.get(..len)
}
