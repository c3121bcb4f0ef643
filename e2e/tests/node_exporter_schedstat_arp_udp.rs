//! node_exporter's `schedstat`, `arp` and `udp_queues` families, pimon against the real
//! node_exporter (`prometheus-node-exporter`, Debian's 1.5) on the same fixture trees
//! (`collector/tests/fixtures/{pi4,pizero,x86}`): the host collector's
//! `--root TREE --once --print prom` and node_exporter's `--path.procfs TREE/proc` with
//! only those three collectors give the same families, `# TYPE` lines, label sets and
//! values, and the catalog (what the aggregator writes) has node_exporter's `# HELP`.
//! A tree with thousands of UDP sockets (a `/proc/net/udp` many times the collector's
//! 64 KiB read buffer) gives the same sums too: the file is streamed, not truncated; and
//! so does the live `/proc/net/udp` (a `seq_file`) with thousands of sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use pimon_e2e::exposition::{family_of_key, samples_by_key};
use pimon_e2e::pimon::{assert_print_prom_equals_node_exporter, print_prom};
use pimon_e2e::support::peers::NodeExporter;
use pimon_test_support::fixtures::tree;

const PREFIXES: [&str; 3] = ["node_schedstat_", "node_arp_", "node_udp_queues"];

/// Compares the three families on `root`; returns node_exporter's samples.
fn compare(root: &Path, name: &str) -> BTreeMap<String, f64> {
    let procfs = root.join("proc").display().to_string();
    let sysfs = root.join("sys").display().to_string();
    let rootfs = root.display().to_string();
    assert_print_prom_equals_node_exporter(
        root,
        name,
        &PREFIXES,
        &[
            "--path.procfs",
            &procfs,
            "--path.sysfs",
            &sysfs,
            "--path.rootfs",
            &rootfs,
            "--collector.disable-defaults",
            "--collector.schedstat",
            "--collector.arp",
            "--collector.udp_queues",
        ],
    )
}

fn fixture(name: &str, families: &[&str]) {
    let theirs = compare(&tree(name), name);
    let seen: BTreeSet<&str> = theirs.keys().map(|k| family_of_key(k)).collect();
    let want: BTreeSet<&str> = families.iter().copied().collect();
    assert_eq!(
        seen, want,
        "{name}: node_exporter's families on the fixture"
    );
}

const ALL: [&str; 5] = [
    "node_arp_entries",
    "node_schedstat_running_seconds_total",
    "node_schedstat_timeslices_total",
    "node_schedstat_waiting_seconds_total",
    "node_udp_queues",
];

#[test]
fn pi4_equals_node_exporter() {
    fixture("pi4", &ALL);
}

#[test]
fn pizero_without_ipv6_equals_node_exporter() {
    fixture("pizero", &ALL);
}

#[test]
fn x86_equals_node_exporter() {
    fixture("x86", &ALL);
}

/// One `/proc/net/udp` line as the kernel writes it (padded to 127 columns).
fn udp4_line(out: &mut String, i: u32, tx: u32, rx: u32) {
    let line = format!(
        "{:5}: {:08X}:{:04X} 00000000:0000 07 {tx:08X}:{rx:08X} 00:00000000 00000000  1000        0 {} 2 0000000000000000 0",
        i % 128,
        0x0100_007F_u32,
        1024 + i,
        100_000 + i
    );
    writeln!(out, "{line:<127}").unwrap();
}

#[test]
fn thousands_of_udp_sockets_are_summed_past_the_read_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("proc/net");
    std::fs::create_dir_all(&net).unwrap();
    let mut udp = format!(
        "{:<127}\n",
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops"
    );
    for i in 0..6000 {
        udp4_line(&mut udp, i, i % 7 * 256, i % 13 * 768);
    }
    assert!(udp.len() > 10 * 64 * 1024, "{} bytes", udp.len());
    std::fs::write(net.join("udp"), &udp).unwrap();
    let theirs = compare(dir.path(), "many-sockets");
    let rx = theirs[r#"node_udp_queues{ip="v4",queue="rx"}"#];
    let expected_rx: u32 = (0..6000).map(|i| i % 13 * 768).sum();
    assert_eq!(rx, f64::from(expected_rx));
}

/// `node_udp_queues{ip="v4",queue="rx"}` from one `--print prom` text.
fn live_rx(text: &str) -> f64 {
    samples_by_key(text, &PREFIXES).0[r#"node_udp_queues{ip="v4",queue="rx"}"#]
}

/// The real `/proc/net/udp` (a `seq_file`, read on from where each read stopped) with
/// 3000 sockets of this test, one in seven holding a datagram: pimon's sum covers them
/// all and equals node_exporter's, read on the same host right after (other processes'
/// sockets can change in between: a few attempts).
#[test]
fn live_udp_with_thousands_of_sockets_equals_node_exporter() {
    let sockets: Vec<std::net::UdpSocket> = (0..3000)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let queued: Vec<_> = sockets.iter().step_by(7).collect();
    for s in &queued {
        sender
            .send_to(&[0x55; 100], s.local_addr().unwrap())
            .unwrap();
    }
    let size = std::fs::read("/proc/net/udp").unwrap().len();
    assert!(size > 5 * 64 * 1024, "/proc/net/udp is {size} bytes");
    let ne = NodeExporter::start_with(&["--collector.disable-defaults", "--collector.udp_queues"]);
    let mut last = (0.0, 0.0);
    for _ in 0..5 {
        let mine = live_rx(&print_prom(Path::new("/"), "live"));
        let theirs = live_rx(&String::from_utf8_lossy(&ne.page()));
        assert!(
            mine >= (queued.len() * 100) as f64,
            "{mine} bytes queued for {} datagrams of 100 bytes",
            queued.len()
        );
        if mine == theirs {
            eprintln!("live: {size} bytes of /proc/net/udp, rx {mine} in both");
            return;
        }
        last = (mine, theirs);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("pimon and node_exporter differ on the live host: {last:?}");
}
