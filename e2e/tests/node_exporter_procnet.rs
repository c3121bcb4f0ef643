//! node_exporter's `netstat`, `sockstat`, `vmstat`, `softnet` and `conntrack` families,
//! pimon against
//! the real node_exporter (`prometheus-node-exporter`, Debian's 1.5) on the same fixture
//! trees (`collector/tests/fixtures/{pi4,pizero,x86}`): the host collector's
//! `--root TREE --once --print prom` and node_exporter's `--path.procfs TREE/proc` with
//! only those five collectors give the same families, `# TYPE` lines, label sets and
//! values, and the catalog (what the aggregator writes) has node_exporter's `# HELP`.
//!
//! node_exporter runs with today's upstream default `--collector.netstat.fields` (1.5's
//! lacks `TCPOFOQueue` and `TCPRcvQDrop`, which upstream added since), widened by the
//! fields Telegraf's system dashboard reads, which pimon sends too. Families 1.5 does
//! not have (`node_softnet_{cpu_collision,received_rps,flow_limit_count}_total` and
//! `node_softnet_backlog_len`, node_exporter 1.7+) are listed and must be pimon's only
//! extra families; their values are checked by the collector's unit tests. pimon does
//! not send node_exporter's `node_nf_conntrack_stat_*` (the Pi Zero build's size).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pimon_e2e::exposition::{family_of_key, samples_by_key};
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;
use pimon_protocol::catalog::families;

/// node_exporter's `--collector.netstat.fields` default as of its `master` (2026):
/// `collector/netstat_linux.go`, widened by the fields Telegraf's system dashboard reads
/// (TCP aborts, ICMP echoes, IPv4/IPv6 errors, Tcp EstabResets). pimon's catalog rows
/// are this filter.
const NETSTAT_FIELDS: &str = concat!(
    "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors)",
    "|TcpExt_(TCPAbortOnData|TCPAbortOnClose|TCPAbortOnMemory|TCPAbortOnTimeout|TCPAbortOnLinger|TCPAbortFailed)|Ip6?_(InHdrErrors|InAddrErrors|InUnknownProtos|InDiscards|OutDiscards|OutNoRoutes)|Icmp_(InEchos|InEchoReps|OutEchos|OutEchoReps)|Tcp_EstabResets)$"
);

const PREFIXES: [&str; 5] = [
    "node_netstat_",
    "node_sockstat_",
    "node_vmstat_",
    "node_softnet_",
    "node_nf_conntrack_",
];

/// Families node_exporter 1.5 does not export (added in 1.7).
const NEWER_THAN_1_5: [&str; 4] = [
    "node_softnet_backlog_len",
    "node_softnet_cpu_collision_total",
    "node_softnet_flow_limit_count_total",
    "node_softnet_received_rps_total",
];

fn tree(name: &str) -> PathBuf {
    pimon_test_support::fixtures::tree(name)
}

/// node_exporter's families pimon does not send (the Pi Zero build's size budget).
fn not_sent(family: &str) -> bool {
    family.starts_with("node_nf_conntrack_stat_")
}

fn compare(name: &str) {
    let root = tree(name);
    let procfs = root.join("proc").display().to_string();
    let sysfs = root.join("sys").display().to_string();
    let fields = format!("--collector.netstat.fields={NETSTAT_FIELDS}");
    let ne = NodeExporter::start_with(&[
        "--path.procfs",
        &procfs,
        "--path.sysfs",
        &sysfs,
        "--collector.disable-defaults",
        "--collector.netstat",
        "--collector.sockstat",
        "--collector.vmstat",
        "--collector.softnet",
        "--collector.conntrack",
        &fields,
    ]);
    let (mut theirs, mut their_meta) =
        samples_by_key(&String::from_utf8_lossy(&ne.page()), &PREFIXES);
    theirs.retain(|k, _| !not_sent(family_of_key(k)));
    their_meta.retain(|l| !l.split(' ').nth(2).is_some_and(not_sent));
    let (mine, my_meta) = samples_by_key(&print_prom(&root, name), &PREFIXES);

    assert!(
        theirs.len() > 40,
        "{name}: node_exporter gave only {theirs:?}"
    );
    let their_families: BTreeSet<&str> = theirs.keys().map(|k| family_of_key(k)).collect();
    let my_families: BTreeSet<&str> = mine.keys().map(|k| family_of_key(k)).collect();
    let extra: Vec<&str> = my_families.difference(&their_families).copied().collect();
    assert_eq!(extra, NEWER_THAN_1_5, "{name}: families only pimon has");
    let missing: Vec<&str> = their_families.difference(&my_families).copied().collect();
    assert!(
        missing.is_empty(),
        "{name}: families pimon lacks: {missing:?}"
    );
    let mine_shared: BTreeMap<_, _> = mine
        .iter()
        .filter(|(k, _)| their_families.contains(family_of_key(k)))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(mine_shared, theirs, "{name}: samples differ");
    // The Pi collector carries no help texts (its `--print prom` writes `# TYPE` only):
    // the `# HELP` lines are the catalog's, as the aggregator writes them.
    let mut my_meta: BTreeSet<_> = my_meta
        .into_iter()
        .filter(|l| {
            !NEWER_THAN_1_5
                .iter()
                .any(|f| l.split(' ').nth(2) == Some(f))
        })
        .collect();
    for f in families().filter(|f| their_families.contains(f.first.prom_name)) {
        my_meta.insert(format!("# HELP {} {}", f.first.prom_name, f.first.help));
    }
    assert_eq!(my_meta, their_meta, "{name}: # HELP / # TYPE lines differ");
    eprintln!("{name}: {} samples equal to node_exporter's", theirs.len());
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
