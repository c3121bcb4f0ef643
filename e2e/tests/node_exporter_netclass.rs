//! The netclass families against **real node_exporter** on the same `/sys`: Debian's
//! `prometheus-node-exporter` with only its netclass collector (`--path.sysfs` on a
//! fixture tree, `--collector.disable-defaults --collector.netclass`) and the host
//! collector's `--once --print prom` (rendered as the aggregator renders it) on the
//! same tree give the same `node_network_*` families, with the same types (and
//! node_exporter's help is the catalog's: the collector prints no `# HELP`), and the
//! same samples: names, label sets and values. On the `pi4`, `pizero` and
//! `x86` trees, and on this machine's live `/sys` (whose down devices answer EINVAL).
//!
//! Debian's node_exporter is 1.5: its `node_network_info` has no `adminstate` label yet
//! (node_exporter 1.6 added it, from `flags` & `IFF_UP`). That label is checked against
//! node_exporter's own `node_network_flags` instead, and left out of the comparison.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use pimon_e2e::exposition::{PromSample, families, parse_prometheus};
use pimon_e2e::fixture;
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;
use pimon_protocol::catalog::CATALOG;

/// `(name, sorted labels without instance and adminstate)` → value.
type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The families of the netclass collector: every `node_network_*` but netdev's
/// `/proc/net/dev` counters and the rtnetlink-only `receive_nohandler_total`.
fn is_netclass(name: &str) -> bool {
    name.starts_with("node_network_")
        && !(name.starts_with("node_network_receive_")
            || (name.starts_with("node_network_transmit_")
                && name != "node_network_transmit_queue_length"))
}

fn series(samples: &[PromSample]) -> Series {
    samples
        .iter()
        .filter(|s| is_netclass(&s.name))
        .map(|s| {
            let mut labels: Vec<(String, String)> = s
                .labels
                .iter()
                .filter(|(k, _)| k != "instance" && k != "adminstate")
                .cloned()
                .collect();
            labels.sort();
            ((s.name.clone(), labels), s.value)
        })
        .collect()
}

/// The `# TYPE` of the netclass families, by name.
fn types(text: &str) -> BTreeMap<String, String> {
    families(text)
        .unwrap()
        .into_iter()
        .filter(|(name, _)| is_netclass(name))
        .collect()
}

/// The `# HELP` lines of the netclass families, by name.
fn helps(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# HELP ")?.split_once(' '))
        .filter(|(name, _)| is_netclass(name))
        .map(|(name, help)| (name.to_string(), help.to_string()))
        .collect()
}

fn node_exporter(sysfs: &Path) -> String {
    let sysfs = format!("--path.sysfs={}", sysfs.display());
    let ne = NodeExporter::start_with(&[
        &sysfs,
        "--collector.disable-defaults",
        "--collector.netclass",
    ]);
    String::from_utf8(ne.page()).unwrap()
}

/// One comparison; `Err` says what differs.
fn compare(root: &Path) -> Result<usize, String> {
    let theirs_text = node_exporter(&root.join("sys"));
    let ours_text = print_prom(root, "netclass");
    let theirs = parse_prometheus(&theirs_text)?;
    let ours = parse_prometheus(&ours_text)?;
    let (want, got) = (series(&theirs), series(&ours));
    if want.is_empty() {
        return Err(format!(
            "node_exporter sent no netclass family:\n{theirs_text}"
        ));
    }
    let mut problems = Vec::new();
    for (key, value) in &want {
        match got.get(key) {
            Some(v) if v == value => {}
            Some(v) => problems.push(format!("{key:?}: node_exporter {value}, pimon {v}")),
            None => problems.push(format!("{key:?} = {value}: missing from pimon")),
        }
    }
    for key in got.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("{key:?}: pimon only"));
    }
    let (want_types, got_types) = (types(&theirs_text), types(&ours_text));
    if want_types != got_types {
        problems.push(format!(
            "family types differ:\nnode_exporter {want_types:#?}\npimon {got_types:#?}"
        ));
    }
    for (name, help) in helps(&theirs_text) {
        let row = CATALOG.iter().find(|m| m.prom_name == name);
        if row.map(|m| m.help) != Some(help.as_str()) {
            problems.push(format!(
                "{name}: node_exporter's help {help:?}, the catalog's {:?}",
                row.map(|m| m.help)
            ));
        }
    }
    // adminstate (node_exporter 1.6+): "up" when node_exporter's flags have IFF_UP.
    let flags: BTreeMap<&str, f64> = theirs
        .iter()
        .filter(|s| s.name == "node_network_flags")
        .map(|s| (s.label("device").unwrap(), s.value))
        .collect();
    for info in ours.iter().filter(|s| s.name == "node_network_info") {
        let device = info.label("device").unwrap_or_default();
        let want = match flags.get(device) {
            Some(f) if (*f as i64) & 1 == 1 => "up",
            Some(_) => "down",
            None => "unknown",
        };
        if info.label("adminstate") != Some(want) {
            problems.push(format!(
                "{device}: adminstate {:?}, flags say {want}",
                info.label("adminstate")
            ));
        }
    }
    let devices: BTreeSet<_> = want
        .keys()
        .filter(|(name, _)| name == "node_network_up")
        .collect();
    if problems.is_empty() {
        Ok(devices.len())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn the_fixture_trees_read_as_node_exporter_reads_them() {
    for (tree, devices) in [("pi4", 3), ("pizero", 2), ("x86", 5)] {
        match compare(&fixture(tree)) {
            Ok(n) => assert!(n >= devices, "{tree}: {n} devices"),
            Err(e) => panic!("{tree}:\n{e}"),
        }
    }
}

/// The live `/sys` can change between the two reads (a link flaps, a container starts):
/// three attempts.
#[test]
fn this_machines_sys_reads_as_node_exporter_reads_it() {
    let mut last = String::new();
    for _ in 0..3 {
        match compare(Path::new("/")) {
            Ok(_) => return,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("live /sys:\n{last}");
}
