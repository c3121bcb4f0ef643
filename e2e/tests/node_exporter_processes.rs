//! node_exporter's `processes` family (opt-in there), pimon against the real node_exporter
//! (`prometheus-node-exporter`, Debian's 1.5) on the fixture trees that hold
//! `/proc/[pid]` directories (`collector/tests/fixtures/{pi4,pizero}`): the host
//! collector's `--root TREE --once --print prom` and node_exporter's
//! `--path.procfs TREE/proc --collector.processes` give the same families, `# TYPE`
//! lines, label sets and values (processes and threads by state, the pid and thread
//! counts and limits), and the catalog has node_exporter's `# HELP`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pimon_e2e::exposition::family_of_key;
use pimon_e2e::pimon::assert_print_prom_equals_node_exporter;
use pimon_test_support::fixtures::tree;

const PREFIXES: [&str; 1] = ["node_processes_"];

/// Compares the family on `root`; returns node_exporter's samples.
fn compare(root: &Path, name: &str) -> BTreeMap<String, f64> {
    let procfs = root.join("proc").display().to_string();
    assert_print_prom_equals_node_exporter(
        root,
        name,
        &PREFIXES,
        &[
            "--path.procfs",
            &procfs,
            "--collector.disable-defaults",
            "--collector.processes",
        ],
    )
}

const ALL: [&str; 6] = [
    "node_processes_max_processes",
    "node_processes_max_threads",
    "node_processes_pids",
    "node_processes_state",
    "node_processes_threads",
    "node_processes_threads_state",
];

fn fixture(name: &str) -> BTreeMap<String, f64> {
    let theirs = compare(&tree(name), name);
    let seen: BTreeSet<&str> = theirs.keys().map(|k| family_of_key(k)).collect();
    let want: BTreeSet<&str> = ALL.iter().copied().collect();
    assert_eq!(
        seen, want,
        "{name}: node_exporter's families on the fixture"
    );
    theirs
}

/// Eleven processes, rsyslogd with four threads (one of them in `R`, one in `D`): the
/// threads are read from `task/<tid>/stat`, the main thread's state is the process's.
#[test]
fn pi4_equals_node_exporter() {
    let theirs = fixture("pi4");
    assert_eq!(theirs["node_processes_pids{}"], 11.0);
    assert_eq!(theirs["node_processes_threads{}"], 14.0);
    assert_eq!(
        theirs[r#"node_processes_threads_state{thread_state="R"}"#],
        2.0
    );
}

#[test]
fn pizero_equals_node_exporter() {
    fixture("pizero");
}
