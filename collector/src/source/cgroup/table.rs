//! The fixed table of tracked cgroups.
//!
//! Its size is set once (`cgroup_max`); slots are reused as workloads come and go,
//! so discovery and churn never allocate. Each slot keeps the workload's kind, its
//! open files and its label values, the latter in one arena of
//! `MAX_ENCODED_LABELS`-byte slices allocated zeroed at start-up (pages of unused
//! slots are never touched, so they cost no memory).

use pimon_protocol::MAX_ENCODED_LABELS;

use crate::sys::ZeroedPages;
use pimon_protocol::catalog::id;

use super::files::Files;

/// Most labels of a workload (`namespace`, `pod`, `container`, `id`): four, so that
/// aggregators older than protocol 1.3 read the cgroup source's frames.
const WORKLOAD_LABELS: usize = 4;

/// The kind of workload a cgroup is; each has its catalog run and its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A Kubernetes container: `namespace`, `pod`, `container`, `id`.
    Container,
    /// A Kubernetes pod: `namespace`, `pod`, `id`.
    Pod,
    /// A Docker or Podman container: `name`, `id`.
    Docker,
    /// A systemd service: `id`.
    Service,
}

impl Kind {
    /// The id of the first row of this kind's catalog run.
    pub(crate) const fn first_id(self) -> u16 {
        match self {
            Kind::Container => id::CGROUP_K8S_CONTAINER_CPU_USAGE,
            Kind::Pod => id::CGROUP_K8S_POD_CPU_USAGE,
            Kind::Docker => id::CGROUP_DOCKER_CPU_USAGE,
            Kind::Service => id::CGROUP_SERVICE_CPU_USAGE,
        }
    }

    /// How `--check` names it.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Pod => "pod",
            Kind::Docker => "docker",
            Kind::Service => "service",
        }
    }
}

/// One tracked cgroup.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) kind: Kind,
    /// Hash of the cgroup path (the `id` label), to find it again at re-discovery.
    hash: u64,
    /// Seen by the re-discovery in progress.
    pub(crate) seen: bool,
    pub(crate) files: Files,
    /// End of each label value in the slot's arena slice.
    ends: [u16; WORKLOAD_LABELS],
    count: u8,
}

/// The table; see the module docs.
#[derive(Debug)]
pub(crate) struct Table {
    /// Reserved whole at start-up, filled by `push` up to `capacity` (never past the
    /// reservation, so never moved): pages of slots no workload has used stay untouched.
    slots: Vec<Option<Slot>>,
    capacity: usize,
    /// Paged in only where written ([`ZeroedPages`]): a node tracks far fewer
    /// workloads than the table's capacity.
    arena: ZeroedPages,
}

/// FNV-1a, for comparing paths quickly.
pub(crate) fn path_hash(path: &[u8]) -> u64 {
    path.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Table {
    /// A table of `capacity` empty slots.
    pub(crate) fn new(capacity: usize) -> Table {
        Table {
            slots: Vec::with_capacity(capacity),
            capacity,
            arena: ZeroedPages::new(capacity * MAX_ENCODED_LABELS),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Tracked cgroups.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    fn labels_of<'a>(arena: &'a [u8], index: usize, slot: &Slot) -> LabelValues<'a> {
        let base = index * MAX_ENCODED_LABELS;
        let bytes = arena.get(base..base + MAX_ENCODED_LABELS).unwrap_or_default();
        LabelValues {
            bytes,
            ends: slot.ends,
            count: slot.count,
        }
    }

    /// The slot of the cgroup with `id` (its path with a leading `/`), if tracked.
    pub(crate) fn find(&mut self, id: &str) -> Option<&mut Slot> {
        let hash = path_hash(id.as_bytes());
        let arena = &self.arena[..];
        let index = self.slots.iter().enumerate().position(|(i, s)| {
            s.as_ref().is_some_and(|s| {
                s.hash == hash && Table::labels_of(arena, i, s).id() == Some(id)
            })
        })?;
        self.slots.get_mut(index)?.as_mut()
    }

    /// Tracks a new cgroup in a free slot; `false` when the table is full. `labels`
    /// are the kind's label values, the `id` last.
    pub(crate) fn insert(&mut self, kind: Kind, labels: &[&str], files: Files) -> bool {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < self.capacity => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return false,
        };
        let base = index * MAX_ENCODED_LABELS;
        let Some(dst) = self.arena.get_mut(base..base + MAX_ENCODED_LABELS) else {
            return false;
        };
        let mut ends = [0u16; WORKLOAD_LABELS];
        let mut at = 0usize;
        for (end, value) in ends.iter_mut().zip(labels) {
            let Some(d) = dst.get_mut(at..at + value.len()) else {
                return false;
            };
            d.copy_from_slice(value.as_bytes());
            at += value.len();
            *end = at as u16;
        }
        let id = labels.last().copied().unwrap_or("");
        self.slots[index] = Some(Slot {
            kind,
            hash: path_hash(id.as_bytes()),
            seen: true,
            files,
            ends,
            count: labels.len().min(WORKLOAD_LABELS) as u8,
        });
        true
    }

    /// Clears every slot's `seen` mark (a re-discovery starts).
    pub(crate) fn unsee_all(&mut self) {
        for slot in self.slots.iter_mut().flatten() {
            slot.seen = false;
        }
    }

    /// Drops the cgroups the re-discovery did not see (closing their files); returns
    /// how many.
    pub(crate) fn drop_unseen(&mut self) -> usize {
        let mut dropped = 0;
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|s| !s.seen) {
                *slot = None;
                dropped += 1;
            }
        }
        dropped
    }

    /// Drops every tracked cgroup whose path (`id`) `exists` denies; returns how many.
    pub(crate) fn retain(&mut self, mut exists: impl FnMut(&str) -> bool) -> usize {
        let mut dropped = 0;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let gone = slot.as_ref().is_some_and(|s| {
                Table::labels_of(&self.arena[..], i, s)
                    .id()
                    .is_some_and(|id| !exists(id))
            });
            if gone {
                *slot = None;
                dropped += 1;
            }
        }
        dropped
    }

    /// Drops the slot at `index` (its cgroup is gone).
    pub(crate) fn remove(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = None;
        }
    }

    /// Every tracked cgroup: `(index, slot, label values)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Slot, LabelValues<'_>)> {
        let arena = &self.arena;
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| s.as_ref().map(|s| (i, s, Table::labels_of(arena, i, s))))
    }
}

/// The label values of a slot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelValues<'a> {
    bytes: &'a [u8],
    ends: [u16; WORKLOAD_LABELS],
    count: u8,
}

impl<'a> LabelValues<'a> {
    /// Value `i` (in the kind's label order).
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        if i >= usize::from(self.count) {
            return None;
        }
        let start = if i == 0 { 0 } else { usize::from(self.ends[i - 1]) };
        let end = usize::from(*self.ends.get(i)?);
        core::str::from_utf8(self.bytes.get(start..end)?).ok()
    }

    /// The values as the sink takes them.
    pub(crate) fn as_array(&self) -> ([&'a str; WORKLOAD_LABELS], usize) {
        let mut out = [""; WORKLOAD_LABELS];
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.get(i).unwrap_or("");
        }
        (out, usize::from(self.count))
    }

    /// The cgroup path (the last value).
    pub(crate) fn id(&self) -> Option<&'a str> {
        self.get(usize::from(self.count).checked_sub(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_found_by_path() {
        let mut t = Table::new(2);
        assert!(t.insert(Kind::Service, &["/system.slice/a.service"], Files::default()));
        assert!(t.insert(
            Kind::Pod,
            &["ns", "web-0", "/kubepods/pod1"],
            Files::default()
        ));
        assert!(!t.insert(Kind::Service, &["/system.slice/c.service"], Files::default()));
        assert!(t.find("/kubepods/pod1").is_some());
        assert!(t.find("/kubepods/pod2").is_none());
        let (_, slot, labels) = t.iter().nth(1).unwrap();
        assert_eq!(slot.kind, Kind::Pod);
        let (values, count) = labels.as_array();
        assert_eq!((&values[..4], count), (&["ns", "web-0", "/kubepods/pod1", ""][..], 3));
        t.unsee_all();
        t.find("/kubepods/pod1").unwrap().seen = true;
        assert_eq!(t.drop_unseen(), 1);
        assert_eq!(t.len(), 1);
        assert!(t.insert(Kind::Service, &["/system.slice/c.service"], Files::default()));
        assert_eq!(t.iter().next().unwrap().2.id(), Some("/system.slice/c.service"));
        // Labels longer than a slot's arena do not fit.
        t.remove(0);
        let long = "x".repeat(MAX_ENCODED_LABELS + 1);
        assert!(!t.insert(Kind::Service, &[&long], Files::default()));
    }
}
