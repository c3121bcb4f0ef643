//! Hostile senders beside honest collectors: each attack runs against a real
//! aggregator while real collectors send through the chaos proxy (which records
//! their frames and gives each node its own loopback address); the check is what the
//! honest nodes got stored — every frame once, at its own time, nothing counted
//! missing or dropped on either side.
//!
//! - one forged datagram (unkeyed): a new boot id, the node's boot id with `seq`
//!   10^6 ahead, a huge resend floor; and a late frame from two boots ago, from the
//!   node's own address;
//! - node names with NUL and control bytes: refused and counted, never a node;
//! - a flood of made-up node names filling `--max-nodes`: a new real node is still
//!   admitted, and the refusals are visible;
//! - ack amplification: no ack to an unverified sender is larger than the datagram
//!   that asked for it, and a burst from one source is not acked datagram for
//!   datagram;
//! - a forged-MAC flood (keyed) at 50,000 datagrams/s: honest frames keep being stored
//!   during the flood;
//! - two collectors with one node name: detected and logged once with both addresses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::chaos::{ChaosConfig, ChaosProxy};
use pimon_e2e::fleet::{self, Fleet};
use pimon_e2e::forge::{Attacker, Forged};
use pimon_e2e::ledger::FrameId;
use pimon_e2e::pimon::{Aggregator, AggregatorSetup, StopLine};
use pimon_e2e::scrape::NodeCounters;
use pimon_e2e::{rng, wait};

/// An aggregator with honest collectors behind a fault-free proxy.
struct Honest {
    _setup: AggregatorSetup,
    aggregator: Aggregator,
    proxy: ChaosProxy,
    fleet: Fleet,
}

impl Honest {
    fn start(
        name: &str,
        nodes: &[(&str, &str)],
        aggregator_args: &[&str],
        collector_args: &[&str],
    ) -> Honest {
        let mut setup =
            AggregatorSetup::new(&Launcher::host(Program::Aggregator)).args(aggregator_args);
        let aggregator = setup.start();
        let proxy = ChaosProxy::start(name, aggregator.udp, ChaosConfig::new(rng::seed(name)));
        let fleet = Fleet::start(nodes, proxy.addr(), |c| c.args(collector_args));
        Honest {
            _setup: setup,
            aggregator,
            proxy,
            fleet,
        }
    }

    /// The honest node's current boot id and next sequence number.
    fn position(&self, node: &str) -> (u64, u64) {
        let ledger = self.proxy.ledger();
        let last = ledger
            .of(node)
            .max_by_key(|(_, r)| r.first_seen)
            .unwrap_or_else(|| panic!("no frame of {node} yet"));
        (last.0.boot_id, last.0.seq + 1)
    }

    /// Lets the honest collectors run `more`, stops them, and checks that everything
    /// they sent was stored once and nothing was counted lost.
    fn finish(mut self, more: Duration, context: &str) -> (Aggregator, Vec<StopLine>) {
        thread::sleep(more);
        self.aggregator.assert_running(context);
        let stops = self.fleet.stop();
        assert!(self.proxy.wait_idle(Duration::from_secs(5)));
        let nodes = self.fleet.nodes();
        let ledger = self.proxy.ledger();
        fleet::assert_file_exactly_once(
            &self.aggregator,
            &ledger,
            &nodes,
            &Default::default(),
            Duration::from_secs(15),
            context,
        );
        let scrape = self.aggregator.scrape();
        let mut problems = Vec::new();
        for (node, stop) in nodes.iter().zip(&stops) {
            let c = NodeCounters::of(&scrape, node);
            if c.missing != 0.0 {
                problems.push(format!("node {node}: {} frames counted missing", c.missing));
            }
            if stop.dropped != 0 || stop.unacknowledged != 0 || c.collector_dropped != 0.0 {
                problems.push(format!("node {node}: {}", stop.line));
            }
        }
        assert!(
            problems.is_empty(),
            "{context}: the honest nodes must lose nothing and count nothing lost:\n{}\n{}",
            problems.join("\n"),
            self.aggregator.proc.output_report()
        );
        // The figures docs/RELIABILITY.md §7 quotes (`--nocapture`).
        let usage = self.aggregator.usage();
        let frames: usize = nodes.iter().map(|n| ledger.frame_count(n)).sum();
        eprintln!(
            "figures: {context}: {frames} honest frames sent, all stored once, none counted lost; aggregator RSS {} KiB (peak {} KiB)",
            usage.rss_kib, usage.peak_rss_kib
        );
        (self.aggregator, stops)
    }
}

const PI4: [(&str, &str); 1] = [("pi4", "pi4-honest")];

fn forged_datagram_test(name: &str, forge: impl FnOnce(&str, u64, u64) -> Forged) {
    let honest = Honest::start(name, &PI4, &[], &[]);
    thread::sleep(Duration::from_secs(1));
    let (boot, next) = honest.position("pi4-honest");
    let forged = forge("pi4-honest", boot, next);
    let mut attacker = Attacker::bind(7);
    attacker.send(honest.aggregator.udp, &forged.bytes());
    honest.finish(Duration::from_secs(3), name);
}

#[test]
fn a_forged_new_boot_id_does_not_silence_an_honest_node() {
    forged_datagram_test("forged new boot id", |node, boot, _| {
        Forged::new(node, boot ^ 0x5eed_5eed_5eed_5eed, 0)
    });
}

#[test]
fn a_forged_sequence_number_a_million_ahead_does_not_silence_an_honest_node() {
    forged_datagram_test("forged seq", |node, boot, next| {
        Forged::new(node, boot, next + 1_000_000)
    });
}

#[test]
fn a_forged_huge_resend_floor_does_not_silence_an_honest_node() {
    forged_datagram_test("forged floor", |node, boot, next| {
        Forged::new(node, boot, next).floor(u64::MAX - 1)
    });
}

#[test]
fn a_late_frame_from_two_boots_ago_does_not_take_the_node_over() {
    let node = "pi4-reboots";
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let aggregator = setup.start();
    let proxy = ChaosProxy::start(
        "old boot",
        aggregator.udp,
        ChaosConfig::new(rng::seed("old boot")),
    );
    // Two earlier runs of the collector, then the current one.
    for _ in 0..2 {
        let mut run = Fleet::start(&[("pi4", node)], proxy.addr(), |c| c);
        thread::sleep(Duration::from_millis(800));
        run.stop();
    }
    let mut current = Fleet::start(&[("pi4", node)], proxy.addr(), |c| c);
    thread::sleep(Duration::from_secs(1));
    let ledger = proxy.ledger();
    let boots = ledger.boot_ids(node);
    assert_eq!(boots.len(), 3, "three runs of the collector: {boots:?}");
    // A late frame of the first run arrives from the node's own address.
    let late = FrameId {
        node: Arc::from(node),
        boot_id: boots[0],
        seq: 3,
    };
    proxy.replay(&late);
    thread::sleep(Duration::from_secs(3));
    let stops = current.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));

    let ledger = proxy.ledger();
    let current_boot = boots[2];
    let current_frames: usize = ledger
        .of(node)
        .filter(|(k, _)| k.boot_id == current_boot)
        .count();
    let file =
        pimon_e2e::arrival::read_line_protocol(&aggregator.line_protocol()).expect("line protocol");
    let missing: Vec<u64> = ledger
        .cycles(node)
        .into_iter()
        .filter(|c| c.boot_id == current_boot)
        .filter(|c| {
            file.at(node, c.timestamp_ms as i64 * pimon_e2e::arrival::NS_PER_MS) < c.fields()
        })
        .map(|c| c.timestamp_ms)
        .collect();
    assert!(
        missing.is_empty() && stops[0].unacknowledged == 0,
        "after a late frame of boot {:016x} (two runs ago), {} of the current run's cycles were not stored ({current_frames} frames sent); closing line: {}\n{}",
        boots[0],
        missing.len(),
        stops[0].line,
        aggregator.proc.output_report()
    );
    let c = NodeCounters::of(&aggregator.scrape(), node);
    assert_eq!(
        c.missing, 0.0,
        "nothing of the current run may be counted missing"
    );
    drop(setup);
}

#[test]
fn node_names_with_nul_or_control_bytes_are_refused_and_counted() {
    let honest = Honest::start("control names", &PI4, &[], &[]);
    let before = honest
        .aggregator
        .scrape()
        .sum("pimon_aggregator_decode_errors_total", &[]);
    let names = ["evil\0", "ev\u{1}l", "tab\tname", "new\nline", "del\u{7f}"];
    let mut attacker = Attacker::bind(8);
    for (i, name) in names.iter().enumerate() {
        attacker.send(
            honest.aggregator.udp,
            &Forged::new(name, 1000 + i as u64, 0).bytes(),
        );
    }
    thread::sleep(Duration::from_millis(500));
    let scrape = honest.aggregator.scrape();
    let bad: Vec<String> = scrape
        .instances()
        .into_iter()
        .filter(|i| i.chars().any(char::is_control))
        .collect();
    assert!(
        bad.is_empty(),
        "nodes with control bytes in their names on /metrics: {bad:?}"
    );
    let counted = scrape.sum("pimon_aggregator_decode_errors_total", &[]) - before;
    assert_eq!(
        counted,
        names.len() as f64,
        "each frame with a control byte in its node name must be refused and counted as a decode error"
    );
    let file = pimon_e2e::arrival::read_line_protocol(&honest.aggregator.line_protocol())
        .expect("line protocol");
    let hosts: Vec<&String> = file
        .points
        .keys()
        .filter(|h| h.chars().any(char::is_control))
        .collect();
    assert!(hosts.is_empty(), "line protocol written for {hosts:?}");
    honest.finish(Duration::from_secs(1), "control names");
}

#[test]
fn a_flood_of_made_up_node_names_does_not_lock_out_a_new_real_node() {
    let max_nodes = 100;
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator))
        .args(&["--max-nodes", &max_nodes.to_string()]);
    let aggregator = setup.start();
    let proxy = ChaosProxy::start(
        "node flood",
        aggregator.udp,
        ChaosConfig::new(rng::seed("node flood")),
    );
    // 300 made-up names, 10 frames each, from one address.
    let mut attacker = Attacker::bind(9);
    for seq in 0..10 {
        for n in 0..300u64 {
            attacker.send(
                aggregator.udp,
                &Forged::new(&format!("fake-{n:04}"), n + 1, seq).bytes(),
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(Duration::from_millis(500));
    let refused: f64 = aggregator
        .scrape()
        .samples
        .iter()
        .filter(|s| {
            s.name == "pimon_aggregator_limit_refusals_total"
                && s.label("limit").is_some_and(|l| l.starts_with("nodes"))
        })
        .map(|s| s.value)
        .sum();
    assert!(
        refused > 0.0,
        "the flood must have hit a node limit (pimon_aggregator_limit_refusals_total{{limit=\"nodes…\"}})"
    );
    // A real node arrives now.
    let honest = Honest {
        fleet: Fleet::start(&[("pizero", "pizero-new")], proxy.addr(), |c| c),
        _setup: setup,
        aggregator,
        proxy,
    };
    let (aggregator, _) = honest.finish(
        Duration::from_secs(5),
        "a new node after a made-up-name flood",
    );
    let log = aggregator.proc.stderr();
    assert!(
        log.lines().any(|l| l.contains("new node refused")
            && (l.contains("max-nodes") || l.contains("max_nodes") || l.contains("max_new_nodes"))),
        "the refusal must be in the log with its cause:\n{log}"
    );
}

#[test]
fn acks_to_an_unverified_sender_are_never_larger_than_what_it_sent() {
    let honest = Honest::start("amplification", &PI4, &[], &[]);
    let udp = honest.aggregator.udp;
    let mut attacker = Attacker::bind(10);
    // Every other sequence number: 16 gaps for the ack to list.
    for seq in (0..=32).step_by(2) {
        attacker.send(udp, &Forged::new("amp", 77, seq).bytes());
        attacker.drain(Duration::from_millis(5));
    }
    // Late acks of those must not be counted as answers to the tiny datagrams below (on
    // a loaded machine an ack can take longer than 20 ms).
    attacker.drain(Duration::from_millis(500));
    // The smallest datagram that still asks for an ack, one at a time.
    let tiny = Forged::new("amp", 77, 32).bytes_with(&[]);
    let mut worst = (0usize, 0usize);
    for _ in 0..20 {
        let before = attacker.received_bytes;
        attacker.send(udp, &tiny);
        attacker.drain(Duration::from_millis(100));
        let got = (attacker.received_bytes - before) as usize;
        if got > worst.0 {
            worst = (got, tiny.len());
        }
    }
    // A burst from the same source.
    let burst_sent = attacker.sent;
    let burst_acks = attacker.received;
    for _ in 0..1000 {
        attacker.send(udp, &tiny);
    }
    attacker.drain(Duration::from_millis(500));
    let burst_acks = attacker.received - burst_acks;
    let burst_sent = attacker.sent - burst_sent;
    assert!(
        worst.0 <= worst.1,
        "a {}-byte datagram from an unverified sender got {} bytes of acks back (largest ack {} bytes)",
        worst.1,
        worst.0,
        attacker.largest_received
    );
    assert!(
        attacker.received_bytes <= attacker.sent_bytes,
        "bytes out {} > bytes in {} for an unverified sender",
        attacker.received_bytes,
        attacker.sent_bytes
    );
    assert!(
        burst_acks * 2 <= burst_sent,
        "{burst_acks} acks for a burst of {burst_sent} datagrams from one source: acks must be rate-limited"
    );
    honest.finish(Duration::from_secs(1), "ack amplification");
}

const KEY_SECRET: &str = "hex:00112233445566778899aabbccddeeff";

#[test]
fn a_forged_mac_flood_does_not_stop_honest_keyed_frames_from_being_stored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let aggregator_keys = dir.path().join("keys");
    let collector_key = dir.path().join("collector.key");
    std::fs::write(&aggregator_keys, format!("* 1 {KEY_SECRET}\n")).expect("key file");
    std::fs::write(&collector_key, format!("1 {KEY_SECRET}\n")).expect("key file");
    let honest = Honest::start(
        "mac flood",
        &[("pi4", "pi4-keyed"), ("pizero", "pizero-keyed")],
        &["--key-file", &aggregator_keys.display().to_string()],
        &["--key-file", &collector_key.display().to_string()],
    );
    thread::sleep(Duration::from_secs(1));
    // Real frames of an honest node with their MAC broken: the full decode is the
    // expensive path, so the MAC must be checked first.
    let ledger = honest.proxy.ledger();
    let template = ledger
        .of("pi4-keyed")
        .find(|(_, r)| r.part == 0)
        .and_then(|(k, _)| honest.proxy.recorded(k))
        .expect("a recorded keyed frame");
    let udp = honest.aggregator.udp;
    let nodes = ["pi4-keyed", "pizero-keyed"];
    let received = |a: &Aggregator| -> Vec<f64> {
        let s = a.scrape();
        nodes
            .iter()
            .map(|n| NodeCounters::of(&s, n).received)
            .collect()
    };
    let before = received(&honest.aggregator);
    let frames_before: Vec<usize> = nodes.iter().map(|n| ledger.frame_count(n)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut attacker = Attacker::bind(11);
            // 500 copies, each with another bad MAC.
            let batch: Vec<Vec<u8>> = (0..500u32)
                .map(|i| {
                    let mut d = template.clone();
                    let n = d.len();
                    d[n - 4..].copy_from_slice(&i.to_le_bytes());
                    d
                })
                .collect();
            let start = Instant::now();
            let mut n = 0u64;
            // 50,000 datagrams/s: a batch of 500 every 10 ms.
            while !stop.load(Ordering::Relaxed) {
                attacker.send_batch(udp, &batch);
                n += 500;
                let due = start + Duration::from_micros(n * 20);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
            }
            attacker.sent
        })
    };
    let flood_for = Duration::from_secs(5);
    thread::sleep(flood_for);
    let during = received(&honest.aggregator);
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().expect("flooder");
    let ledger = honest.proxy.ledger();
    let mut problems = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let produced = (ledger.frame_count(node) - frames_before[i]) as f64;
        let stored = during[i] - before[i];
        if stored < 0.9 * produced {
            problems.push(format!(
                "{node}: {stored} of its {produced} frames stored during the flood"
            ));
        }
    }
    let rate = sent as f64 / flood_for.as_secs_f64();
    for (i, node) in nodes.iter().enumerate() {
        eprintln!(
            "figures: forged-MAC flood at {rate:.0} datagrams/s for {flood_for:?}: {node} had {} of its {} frames stored during it",
            during[i] - before[i],
            ledger.frame_count(node) - frames_before[i]
        );
    }
    assert!(
        problems.is_empty(),
        "under a forged-MAC flood of {rate:.0} datagrams/s honest frames must keep being stored:\n{}\n{}",
        problems.join("\n"),
        honest.aggregator.proc.output_report()
    );
    honest.finish(Duration::from_secs(2), "forged-MAC flood");
}

#[test]
fn two_collectors_with_one_node_name_are_detected_and_logged_once_with_both_addresses() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let aggregator = setup.start();
    // Two proxies: two hosts, two addresses.
    let first = ChaosProxy::start(
        "twin-a",
        aggregator.udp,
        ChaosConfig::new(rng::seed("twin a")),
    );
    let second = ChaosProxy::start(
        "twin-b",
        aggregator.udp,
        ChaosConfig::new(rng::seed("twin b")),
    );
    let mut a = Fleet::start(&[("pi4", "twin")], first.addr(), |c| c);
    let mut b = Fleet::start(&[("x86", "twin")], second.addr(), |c| c);
    let addresses = wait::until(Duration::from_secs(10), "both twins sending", || {
        match (first.ip_of("twin"), second.ip_of("twin")) {
            (Some(x), Some(y)) => Ok((x.to_string(), y.to_string())),
            _ => Err("not yet".into()),
        }
    });
    thread::sleep(Duration::from_secs(4));
    a.stop();
    b.stop();
    let log = aggregator.proc.stderr();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("twin") && l.contains(&addresses.0) && l.contains(&addresses.1))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "two collectors named twin, from {} and {}, must be logged once, naming both addresses:\n{log}",
        addresses.0,
        addresses.1
    );
    drop(setup);
}
