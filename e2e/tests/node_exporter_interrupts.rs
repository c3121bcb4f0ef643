//! node_exporter's opt-in `interrupts` collector, pimon against the real node_exporter
//! (`prometheus-node-exporter`, Debian's 1.5) on the same fixture trees
//! (`collector/tests/fixtures/{pi4,pizero,x86}`): the host collector's `--root TREE
//! --once --print prom` with `[filters] enable = interrupts` and node_exporter's
//! `--path.procfs TREE/proc --collector.interrupts` give the same `node_interrupts_total`
//! samples (labels `cpu`, `type`, `info`, `devices` and values), `# TYPE` line and, from
//! the catalog, `# HELP`. Without `enable`, pimon sends none (opt-in, as node_exporter).

use std::ffi::OsStr;

use pimon_e2e::exposition::samples_by_key;
use pimon_e2e::pimon::{print_prom, print_prom_with};
use pimon_e2e::support::peers::NodeExporter;
use pimon_protocol::catalog::families;
use pimon_test_support::fixtures::tree;

const FAMILY: &str = "node_interrupts_total";

fn compare(name: &str) {
    let root = tree(name);
    let procfs = root.join("proc").display().to_string();
    let ne = NodeExporter::start_with(&[
        "--path.procfs",
        &procfs,
        "--collector.disable-defaults",
        "--collector.interrupts",
    ]);
    let (theirs, their_meta) = samples_by_key(&String::from_utf8_lossy(&ne.page()), &[FAMILY]);

    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("collector.conf");
    std::fs::write(&config, "[filters]\nenable = interrupts\n").unwrap();
    let (mine, my_meta) = samples_by_key(
        &print_prom_with(&root, name, &[OsStr::new("--config"), config.as_os_str()]),
        &[FAMILY],
    );

    assert!(
        theirs.len() > 10,
        "{name}: node_exporter gave only {theirs:?}"
    );
    assert_eq!(mine, theirs, "{name}: samples differ");
    // The Pi collector carries no help texts: the `# HELP` line is the catalog's.
    let mut my_meta = my_meta;
    let family = families()
        .find(|f| f.first.prom_name == FAMILY)
        .expect("a catalog family");
    my_meta.retain(|l| l.starts_with("# TYPE"));
    my_meta.insert(format!("# HELP {FAMILY} {}", family.first.help));
    assert_eq!(my_meta, their_meta, "{name}: # HELP / # TYPE lines differ");
    eprintln!("{name}: {} samples equal to node_exporter's", theirs.len());

    let (default, _) = samples_by_key(&print_prom(&root, name), &[FAMILY]);
    assert!(
        default.is_empty(),
        "{name}: sent without `enable = interrupts`"
    );
}

#[test]
fn pi4_equals_node_exporter() {
    compare("pi4");
}

#[test]
fn pizero_equals_node_exporter() {
    compare("pizero");
}

#[test]
fn x86_equals_node_exporter() {
    compare("x86");
}
