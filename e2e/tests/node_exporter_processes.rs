//! node_exporter's `processes` family (opt-in there), pimon against the real node_exporter
//! (`prometheus-node-exporter`, Debian's 1.5) on the fixture trees that hold
//! `/proc/[pid]` directories (`collector/tests/fixtures/{pi4,pizero}`): the host
//! collector's `--root TREE --once --print prom` and node_exporter's
//! `--path.procfs TREE/proc --collector.processes` give the same families, `# TYPE`
//! lines, label sets and values (processes and threads by state, the pid and thread
//! counts and limits), and the catalog has node_exporter's `# HELP`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pimon_e2e::exposition::{family_of_key, samples_by_key};
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;
use pimon_protocol::catalog::families;
use pimon_test_support::fixtures::tree;

const PREFIXES: [&str; 1] = ["node_processes_"];

/// Compares the family on `root`; returns node_exporter's samples.
fn compare(root: &Path, name: &str) -> BTreeMap<String, f64> {
    let procfs = root.join("proc").display().to_string();
    let ne = NodeExporter::start_with(&[
        "--path.procfs",
        &procfs,
        "--collector.disable-defaults",
        "--collector.processes",
    ]);
    let (theirs, their_meta) = samples_by_key(&String::from_utf8_lossy(&ne.page()), &PREFIXES);
    let (mine, my_meta) = samples_by_key(&print_prom(root, name), &PREFIXES);
    assert_eq!(mine, theirs, "{name}: samples differ");
    // The Pi collector carries no help texts (its `--print prom` writes `# TYPE` only):
    // the `# HELP` lines are the catalog's, as the aggregator writes them.
    let their_families: BTreeSet<&str> = theirs.keys().map(|k| family_of_key(k)).collect();
    let mut my_meta = my_meta;
    for f in families().filter(|f| their_families.contains(f.first.prom_name)) {
        my_meta.insert(format!("# HELP {} {}", f.first.prom_name, f.first.help));
    }
    assert_eq!(my_meta, their_meta, "{name}: # HELP / # TYPE lines differ");
    eprintln!("{name}: {} samples equal to node_exporter's", theirs.len());
    theirs
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
