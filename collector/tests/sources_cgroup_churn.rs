//! Pods come and go while the collector runs: in a temporary copy of the k3s fixture,
//! pods are created (cgroup directories and the kubelet's log names) and removed
//! between cycles, with re-discovery in every cycle. New pods are tracked with their
//! names, removed ones are dropped, the table slots are reused — and no cycle
//! allocates, discovery and churn included (a counting global allocator; this file
//! holds one test so nothing else allocates meanwhile).

mod sources_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceKind, SourceSet, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use pimon_test_support::alloc;
use sources_support::{Recorder, fixture_root};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Counts samples and keeps the last `pimon_cgroup_workloads_untracked`, without
/// allocating.
#[derive(Default)]
struct Count {
    samples: u64,
    untracked: u64,
}

impl SampleSink for Count {
    fn labels(&mut self, _: &[&str]) {}
    fn push(&mut self, metric: u16, value: Value) {
        self.samples += 1;
        if let (true, Value::Unsigned(v)) = (metric == id::CGROUP_WORKLOADS_UNTRACKED, value) {
            self.untracked = v;
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A pod of the `churn` namespace with one container `app`: its cgroup directories
/// (files copied from an existing pod) and the kubelet's log names.
struct Pod {
    name: String,
    uid: String,
    cid: String,
}

impl Pod {
    fn new(i: u32) -> Pod {
        Pod {
            name: format!("job-{i:04}"),
            uid: format!("{i:08x}-0000-4000-a000-00000000c0de"),
            cid: format!("{i:08x}{}", "ab".repeat(28)),
        }
    }

    fn dir(&self, root: &Path) -> PathBuf {
        root.join(format!("sys/fs/cgroup/kubepods/besteffort/pod{}", self.uid))
    }

    fn create(&self, root: &Path, template: &Path) {
        let dir = self.dir(root);
        copy_tree(template, &dir);
        // The template's own containers are not this pod's.
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
        copy_tree(template, &dir.join(&self.cid));
        for e in std::fs::read_dir(dir.join(&self.cid)).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
        let log = format!("churn_{}_{}/app/0.log", self.name, self.uid);
        std::fs::create_dir_all(root.join("var/log/pods").join(&log).parent().unwrap()).unwrap();
        std::fs::write(root.join("var/log/pods").join(&log), b"").unwrap();
        std::os::unix::fs::symlink(
            format!("/var/log/pods/{log}"),
            root.join(format!(
                "var/log/containers/{}_churn_app-{}.log",
                self.name, self.cid
            )),
        )
        .unwrap();
    }

    fn remove(&self, root: &Path) {
        std::fs::remove_dir_all(self.dir(root)).unwrap();
        std::fs::remove_dir_all(
            root.join(format!("var/log/pods/churn_{}_{}", self.name, self.uid)),
        )
        .unwrap();
        std::fs::remove_file(root.join(format!(
            "var/log/containers/{}_churn_app-{}.log",
            self.name, self.cid
        )))
        .unwrap();
    }

    fn labels(&self) -> [String; 4] {
        [
            "churn".into(),
            self.name.clone(),
            "app".into(),
            format!("/kubepods/besteffort/pod{}/{}", self.uid, self.cid),
        ]
    }
}

fn tracked_pods(sources: &mut Sources) -> Vec<String> {
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r.label_sets(id::CGROUP_K8S_CONTAINER_CPU_USAGE)
        .into_iter()
        .filter(|l| l[0] == "churn")
        .map(|l| l[1].clone())
        .collect()
}

#[test]
fn pods_created_and_removed_while_collecting_allocate_nothing() {
    let root = std::env::temp_dir().join(format!("pimon-cgroup-churn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    copy_tree(&fixture_root("cgroup-k3s"), &root);
    let template = std::fs::read_dir(root.join("sys/fs/cgroup/kubepods/burstable"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("pod"))
        .unwrap()
        .path();
    let template_copy =
        std::env::temp_dir().join(format!("pimon-cgroup-tpl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&template_copy);
    copy_tree(&template, &template_copy);

    let mut only = SourceSet::none();
    only.insert(SourceKind::Cgroup);
    let mut config = SourcesConfig {
        root: root.clone(),
        sources: only,
        ..SourcesConfig::default()
    };
    config.cgroup.rediscover = Duration::ZERO; // a discovery in every cycle
    // 17 in the tree and 3 live churn pods of 2 cgroups each (pod, container): full.
    config.cgroup.max = 23;
    let mut sources = Sources::open(&config);
    let mut sink = Count::default();
    for _ in 0..3 {
        sources.collect(&mut sink); // warm-up
    }
    assert!(tracked_pods(&mut sources).is_empty());

    let mut alive: Vec<Pod> = Vec::new();
    let mut allocations = 0;
    let mut cycles = 0;
    for i in 0..30u32 {
        // Two pods in, one out, every round; at most 3 alive (the table stays in bounds).
        let pod = Pod::new(i);
        pod.create(&root, &template_copy);
        alive.push(pod);
        if alive.len() > 3 {
            alive.remove(0).remove(&root);
        }
        let before = alloc::allocations();
        sources.collect(&mut sink);
        allocations += alloc::allocations() - before;
        cycles += 1;
        // Pods that went away leave the table before their replacements come in: with
        // room for exactly the live ones, none is left out, even for one cycle.
        assert_eq!(
            sink.untracked, 0,
            "round {i}: a full table left new pods out"
        );

        let mut want: Vec<String> = alive.iter().map(|p| p.name.clone()).collect();
        let mut got = tracked_pods(&mut sources);
        want.sort();
        got.sort();
        assert_eq!(got, want, "round {i}");
    }
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in {cycles} cycles with discovery and churn"
    );
    assert_eq!(sources.error_count(SourceKind::Cgroup), 0);

    // The names and path of one pod, exactly.
    let mut r = Recorder::default();
    sources.collect(&mut r);
    let last = alive.last().unwrap().labels();
    let labels: Vec<&str> = last.iter().map(String::as_str).collect();
    assert!(
        r.has(id::CGROUP_K8S_CONTAINER_CPU_USAGE, &labels),
        "{labels:?}"
    );
    assert!(r.has(
        id::CGROUP_K8S_POD_CPU_USAGE,
        &[
            "churn",
            &alive.last().unwrap().name,
            labels[3].rsplit_once('/').unwrap().0
        ]
    ));
    assert!(sink.samples > 0);
    std::fs::remove_dir_all(&root).unwrap();
    std::fs::remove_dir_all(&template_copy).unwrap();
}
