//! node_exporter's `meminfo` collector, pimon against the real node_exporter
//! (`prometheus-node-exporter`, Debian's 1.5, only `--collector.meminfo`) on the same
//! fixture trees: node_exporter exports every key of `/proc/meminfo`, also those the
//! catalog has no row for, and so must pimon. The `meminfo-other` tree has three such
//! keys (`Balloon:` and `FooBar(anon):` in kB, a unitless `FooPages_Total:`).
//!
//! - A real collector sends the tree to a real aggregator: every `node_memory_*` sample
//!   of its `/metrics` (name, labels but `instance`, value) and every `# HELP`/`# TYPE`
//!   line equals node_exporter's.
//! - `pimon-collector --print prom` gives the same samples on `meminfo-other`, `pi4`,
//!   `pizero` and `x86`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::exposition::samples_by_key;
use pimon_e2e::pimon::{Aggregator, print_prom, start_collector};
use pimon_e2e::support::peers::NodeExporter;
use pimon_e2e::wait;
use pimon_test_support::fixtures::tree;

const PREFIXES: [&str; 1] = ["node_memory_"];

/// node_exporter's meminfo page on `root`: samples and `# HELP`/`# TYPE` lines.
fn node_exporter(root: &Path) -> (BTreeMap<String, f64>, std::collections::BTreeSet<String>) {
    let procfs = root.join("proc").display().to_string();
    let ne = NodeExporter::start_with(&[
        "--path.procfs",
        &procfs,
        "--collector.disable-defaults",
        "--collector.meminfo",
    ]);
    samples_by_key(&String::from_utf8_lossy(&ne.page()), &PREFIXES)
}

#[test]
fn keys_without_a_row_on_metrics_equal_node_exporters() {
    let root = tree("meminfo-other");
    let (theirs, their_meta) = node_exporter(&root);
    for key in [
        "node_memory_Balloon_bytes{}",
        "node_memory_FooBar_anon_bytes{}",
        "node_memory_FooPages_Total{}",
        "node_memory_Unaccepted_bytes{}",
    ] {
        assert!(theirs.contains_key(key), "node_exporter has no {key}");
    }
    assert_eq!(theirs["node_memory_Balloon_bytes{}"], 524288.0 * 1024.0);

    let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
    let _collector = start_collector(
        &Launcher::host(Program::Collector),
        &root,
        "vm",
        aggregator.udp,
    );
    let (mine, my_meta) = wait::until(
        Duration::from_secs(30),
        "the aggregator's node_memory_* equal node_exporter's",
        || {
            let (mine, meta) = samples_by_key(&aggregator.metrics(), &PREFIXES);
            if mine == theirs {
                Ok((mine, meta))
            } else {
                let missing: Vec<_> = theirs.keys().filter(|k| !mine.contains_key(*k)).collect();
                let extra: Vec<_> = mine.keys().filter(|k| !theirs.contains_key(*k)).collect();
                let differ: Vec<_> = theirs
                    .iter()
                    .filter(|(k, v)| mine.get(*k).is_some_and(|m| m != *v))
                    .collect();
                Err(format!(
                    "missing {missing:?}\nextra {extra:?}\ndiffering {differ:?}"
                ))
            }
        },
    );
    assert_eq!(mine.len(), 58, "55 keys with a row and 3 without");
    assert_eq!(my_meta, their_meta, "# HELP / # TYPE lines differ");
}

#[test]
fn print_prom_equals_node_exporter_on_every_tree() {
    for name in ["meminfo-other", "pi4", "pizero", "x86"] {
        let root = tree(name);
        let (theirs, _) = node_exporter(&root);
        let (mine, _) = samples_by_key(&print_prom(&root, name), &PREFIXES);
        assert_eq!(mine, theirs, "{name}: node_memory_* samples differ");
        eprintln!("{name}: {} node_memory_* samples equal", theirs.len());
    }
}
