//! Shared by the `sources_*` tests: a recording sink, fixture configs, and checks every
//! cycle must pass (label counts match the catalog, ids ascend within a label set).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceSet, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::lookup;

/// One pushed sample with the labels in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<String>,
    pub metric: u16,
    pub value: Value,
    /// Index of the `labels()` call this sample followed.
    pub run: usize,
}

/// Records everything a cycle pushes.
#[derive(Debug, Default)]
pub struct Recorder {
    labels: Vec<String>,
    runs: usize,
    pub samples: Vec<Sample>,
}

impl SampleSink for Recorder {
    fn labels(&mut self, values: &[&str]) {
        self.labels = values.iter().map(|s| s.to_string()).collect();
        self.runs += 1;
    }

    fn push(&mut self, metric: u16, value: Value) {
        self.samples.push(Sample {
            labels: self.labels.clone(),
            metric,
            value,
            run: self.runs,
        });
    }
}

impl Recorder {
    /// The value of `metric` with exactly `labels`; panics unless there is exactly one.
    pub fn value(&self, metric: u16, labels: &[&str]) -> Value {
        let found: Vec<_> = self
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels == labels)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "metric {} ({}) with labels {labels:?}: {found:?}",
            metric,
            lookup(metric).map_or("?", |m| m.prom_name)
        );
        found[0].value
    }

    /// Whether any sample of `metric` has `labels`.
    pub fn has(&self, metric: u16, labels: &[&str]) -> bool {
        self.samples
            .iter()
            .any(|s| s.metric == metric && s.labels == labels)
    }

    /// The distinct label sets `metric` was pushed with, in push order.
    pub fn label_sets(&self, metric: u16) -> Vec<Vec<String>> {
        let mut sets: Vec<Vec<String>> = Vec::new();
        for s in self.samples.iter().filter(|s| s.metric == metric) {
            if !sets.contains(&s.labels) {
                sets.push(s.labels.clone());
            }
        }
        sets
    }

    /// Samples of `metric`.
    pub fn count(&self, metric: u16) -> usize {
        self.samples.iter().filter(|s| s.metric == metric).count()
    }

    /// Checks every sample against the catalog: known id, as many label values as the
    /// row has label names, ids strictly ascending within one `labels()` run, and no
    /// (metric, labels) pair twice.
    pub fn check_consistency(&self) {
        for (i, s) in self.samples.iter().enumerate() {
            let row = lookup(s.metric).unwrap_or_else(|| panic!("unknown id {}", s.metric));
            assert_eq!(
                s.labels.len(),
                row.labels.len(),
                "{} pushed with labels {:?}, catalog has {:?}",
                row.prom_name,
                s.labels,
                row.labels
            );
            if let Some(prev) = i.checked_sub(1).map(|p| &self.samples[p])
                && prev.run == s.run
            {
                assert!(
                    prev.metric < s.metric,
                    "ids not ascending within a label set: {} then {} for {:?}",
                    prev.metric,
                    s.metric,
                    s.labels
                );
            }
            let dups = self
                .samples
                .iter()
                .filter(|o| o.metric == s.metric && o.labels == s.labels)
                .count();
            assert_eq!(
                dups, 1,
                "{} {:?} pushed {dups} times",
                row.prom_name, s.labels
            );
        }
    }
}

/// The fixture tree `name` (`pi4`, `pizero`, `x86`).
pub fn fixture_root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Default configuration rooted at a fixture tree, with generous timeouts for a busy
/// test machine.
pub fn fixture_config(name: &str) -> SourcesConfig {
    SourcesConfig {
        root: fixture_root(name),
        // The opt-in sources too: the fixture trees have their files.
        sources: SourceSet::all(),
        statvfs_timeout: Duration::from_secs(10),
        w1_interval: Duration::from_secs(3600),
        ..SourcesConfig::default()
    }
}

/// Opens a fixture tree, waits for the background readers, runs one cycle.
pub fn one_cycle(name: &str) -> (Sources, Recorder) {
    let mut sources = Sources::open(&fixture_config(name));
    assert!(
        sources.settle(Duration::from_secs(10)),
        "background readers did not settle"
    );
    let mut recorder = Recorder::default();
    sources.collect(&mut recorder);
    recorder.check_consistency();
    (sources, recorder)
}

/// A copy of the fixture tree `name` in a fresh temporary directory (symbolic links
/// copied as links), for tests that change the tree while sources read it.
pub struct TreeCopy {
    pub root: PathBuf,
}

impl TreeCopy {
    pub fn new(name: &str, test: &str) -> TreeCopy {
        fn copy(from: &std::path::Path, to: &std::path::Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap().flatten() {
                let (src, dst) = (entry.path(), to.join(entry.file_name()));
                let kind = entry.file_type().unwrap();
                if kind.is_symlink() {
                    std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
                } else if kind.is_dir() {
                    copy(&src, &dst);
                } else {
                    std::fs::copy(&src, &dst).unwrap();
                }
            }
        }
        let root = std::env::temp_dir().join(format!("pimon-{test}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        copy(&fixture_root(name), &root);
        TreeCopy { root }
    }

    /// `root/<rel>`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Replaces the file `rel` by a new one (a new inode: a descriptor opened on the old
    /// file does not see it) with `content`.
    pub fn replace(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, content).unwrap();
    }
}

impl Drop for TreeCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `statvfs` of a path of the test machine: (size, files) in bytes and inodes.
pub fn statvfs_size(path: &std::path::Path) -> (u64, u64) {
    let s = nix::sys::statvfs::statvfs(path).unwrap();
    #[allow(clippy::useless_conversion)]
    let unit = match u64::from(s.fragment_size()) {
        0 => u64::from(s.block_size()),
        n => n,
    };
    #[allow(clippy::useless_conversion)]
    (u64::from(s.blocks()) * unit, u64::from(s.files()))
}

pub fn u(v: u64) -> Value {
    Value::Unsigned(v)
}

pub fn i(v: i64) -> Value {
    Value::Signed(v)
}
