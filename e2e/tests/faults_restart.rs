//! The aggregator and InfluxDB stopping, crashing and coming back while real
//! collectors send through the chaos proxy, and the spool under stress. Every frame
//! must reach InfluxDB (by query) and the `--lp-out` file, at its own timestamp,
//! and no restart may make either side count a loss that did not happen.
//!
//! - aggregator stopped (SIGTERM) and started again mid-stream on a lossy path;
//! - aggregator `kill -9`ed while InfluxDB hangs (spool filling, a batch in flight);
//! - InfluxDB killed and started again (same data) under load;
//! - one spool record damaged while the aggregator is down: only its lines are lost,
//!   and they are counted;
//! - a burst larger than the whole spool (the smallest spool, `refuse_new`, a stalled
//!   aggregator's backlog read as one batch): everything is acked and stored in the
//!   end, once, no batch is refused for its size, and refusals leave no trace in the
//!   counters or the file;
//! - recorded keyed frames replayed to a restarted aggregator: refused (the replay
//!   protection survives the restart), not written again at the receive time.

use std::thread;
use std::time::Duration;

use pimon_e2e::arrival::{self, Copies};
use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::chaos::{ChaosConfig, Faults};
use pimon_e2e::fleet::{self, TRIO};
use pimon_e2e::pimon::{AggregatorSetup, StopLine};
use pimon_e2e::process::signal_pid;
use pimon_e2e::scenario::{self, FILE_TIMEOUT, INFLUX_TIMEOUT, Scenario};
use pimon_e2e::scrape::NodeCounters;
use pimon_e2e::support::servers::{Influxd, free_port};
use pimon_e2e::{rng, spool, wait};

const DB: &str = "pimon";

/// No node counts a loss: the new aggregator run counts nothing missing, the
/// collectors dropped nothing and left nothing unacknowledged.
fn no_loss_counted(
    scrape: &pimon_e2e::scrape::Scrape,
    nodes: &[&str],
    stops: &[StopLine],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, stop) in nodes.iter().zip(stops) {
        let c = NodeCounters::of(scrape, node);
        if c.missing != 0.0 {
            problems.push(format!(
                "node {node}: pimon_node_frames_missing_total is {} although every frame was stored",
                c.missing
            ));
        }
        if c.collector_dropped != 0.0 || stop.dropped != 0 || stop.unacknowledged != 0 {
            problems.push(format!(
                "node {node}: the collector counts {} dropped on /metrics; closing line: {}",
                c.collector_dropped, stop.line
            ));
        }
    }
    problems
}

#[test]
fn aggregator_stopped_and_restarted_mid_stream_loses_doubles_and_miscounts_nothing() {
    let influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    let mut config = ChaosConfig::new(rng::seed("restart"));
    // Light loss both ways: some frames wait in gaps and some acks are lost when the
    // aggregator stops, the cases a restart must not miscount.
    config.to_aggregator = Faults::lossy(0.05, 0.0, 0.05, Duration::from_millis(10));
    config.to_collector = Faults::lossy(0.05, 0.0, 0.0, Duration::ZERO);
    let mut s = Scenario::start_with(&mut setup, "restart", config, &TRIO, |c| c);

    thread::sleep(Duration::from_secs(3));
    s.aggregator.stop(Duration::from_secs(30));
    thread::sleep(Duration::from_secs(2));
    s.aggregator = setup.start();
    thread::sleep(Duration::from_secs(3));
    s.proxy.heal();
    thread::sleep(Duration::from_millis(1500));
    let end = s.stop_fleet("after the restart");

    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "stop and restart");
    let problems = no_loss_counted(&s.aggregator.scrape(), &s.nodes(), &end.stops);
    assert!(
        problems.is_empty(),
        "after a clean restart nothing may be counted lost:\n{}\n{}\n{}",
        problems.join("\n"),
        s.proxy.describe(),
        s.aggregator.proc.output_report()
    );
}

#[test]
fn aggregator_killed_with_spool_and_batches_in_flight_loses_nothing_acknowledged() {
    let mut influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    let mut config = ChaosConfig::new(rng::seed("kill -9"));
    config.to_aggregator = Faults::lossy(0.03, 0.0, 0.03, Duration::from_millis(10));
    config.to_collector = Faults::lossy(0.03, 0.0, 0.0, Duration::ZERO);
    let mut s = Scenario::start_with(&mut setup, "kill9", config, &TRIO, |c| c);

    thread::sleep(Duration::from_secs(2));
    // InfluxDB down: the spool fills and the output retries; frames are still acked.
    influxd.stop();
    thread::sleep(Duration::from_secs(2));
    s.aggregator.crash();
    thread::sleep(Duration::from_secs(1));
    s.aggregator = setup.start();
    influxd.start_again();
    thread::sleep(Duration::from_secs(3));
    s.proxy.heal();
    thread::sleep(Duration::from_millis(1500));
    let end = s.stop_fleet("after the crash");

    let nodes = s.nodes();
    let none = Default::default();
    // A frame written and then re-sent because the crash came before its ack may be
    // written again, identically; none may be missing or differ.
    fleet::assert_file(
        &s.aggregator,
        &end.ledger,
        &nodes,
        &none,
        Copies::AtLeastOnceIdentical,
        FILE_TIMEOUT,
        "kill -9",
    );
    fleet::assert_influx_exactly_once(
        &influxd,
        DB,
        &end.ledger,
        &nodes,
        &none,
        INFLUX_TIMEOUT,
        "kill -9",
    );
    let problems = no_loss_counted(&s.aggregator.scrape(), &nodes, &end.stops);
    assert!(
        problems.is_empty(),
        "after a crash and restart nothing acked may be counted lost:\n{}\n{}",
        problems.join("\n"),
        s.proxy.describe()
    );
}

#[test]
fn influxdb_hanging_does_not_stop_the_acks_and_gets_every_point_when_it_resumes() {
    let influxd = Influxd::start();
    influxd.create_database(DB);
    let influx_pid = influxd.server.pid().expect("influxd runs");
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    // 12 KiB rings hold about 3 s of these trees (two blocks of 16 cycles, kept as
    // differences from a key cycle): if acks waited for InfluxDB, a 4 s hang would
    // overflow them.
    let mut s = Scenario::start(&mut setup, "influx-hang", &TRIO, |c| {
        c.args(&["--ring-bytes", "12K"])
    });
    thread::sleep(Duration::from_secs(1));
    signal_pid(influx_pid, libc::SIGSTOP);
    thread::sleep(Duration::from_secs(4));
    signal_pid(influx_pid, libc::SIGCONT);
    thread::sleep(Duration::from_secs(2));
    let end = s.stop_fleet("after InfluxDB hung");

    let problems = no_loss_counted(&s.aggregator.scrape(), &s.nodes(), &end.stops);
    assert!(
        problems.is_empty(),
        "a hanging InfluxDB must not stop the acks (the spool holds the lines):\n{}\n{}",
        problems.join("\n"),
        s.aggregator.proc.output_report()
    );
    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "influxd hang");
}

#[test]
fn influxdb_killed_and_restarted_under_load_gets_every_point() {
    let mut influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    let mut s = Scenario::start(&mut setup, "influx-restart", &TRIO, |c| c);

    thread::sleep(Duration::from_secs(2));
    influxd.stop();
    thread::sleep(Duration::from_secs(3));
    influxd.start_again();
    thread::sleep(Duration::from_secs(2));
    let end = s.stop_fleet("after InfluxDB came back");

    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "influxd restart");
    let scrape = s.aggregator.scrape();
    assert!(
        scrape.sum("pimon_influx_write_failures_total", &[]) > 0.0,
        "the outage must have been seen by the output (write failures counted)"
    );
    let problems = no_loss_counted(&scrape, &s.nodes(), &end.stops);
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        s.proxy.describe()
    );
    s.assert_counters_agree(&end, "counters disagree with what the proxy did");
}

#[test]
fn a_damaged_spool_record_loses_only_its_own_lines_and_counts_them() {
    // InfluxDB is down (nothing listens on its port) while the fleet sends: every line
    // waits in the spool.
    let influx_port = free_port();
    let influx_url = format!("http://127.0.0.1:{influx_port}");
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(&influx_url, DB);
    let mut s = Scenario::start(&mut setup, "spool-damage", &TRIO, |c| c);
    thread::sleep(Duration::from_secs(3));
    let stops = s.fleet.stop();
    assert!(stops.iter().all(|s| s.unacknowledged == 0), "{stops:?}");
    s.aggregator.stop(Duration::from_secs(30));

    // Damage one record in the middle of the fullest segment.
    let segments = spool::segments(&setup.spool_dir());
    let (segment_records, _) = segments
        .iter()
        .map(|s| (spool::records(s), s))
        .max_by_key(|(r, _)| r.len())
        .unwrap_or_else(|| panic!("no spool segment in {}", setup.spool_dir().display()));
    assert!(
        segment_records.len() >= 5,
        "the spool must hold several records: {} in the fullest segment",
        segment_records.len()
    );
    let victim = &segment_records[segment_records.len() / 2];
    let damaged = arrival::read_line_protocol(&String::from_utf8_lossy(&victim.payload))
        .expect("a spool record is line protocol");
    let damaged_lines = String::from_utf8_lossy(&victim.payload).lines().count();
    spool::corrupt(victim);

    let influxd = Influxd::start_on(influx_port);
    influxd.create_database(DB);
    s.aggregator = setup.start();
    let aggregator = &s.aggregator;
    let nodes = s.nodes();
    let ledger = s.proxy.ledger();
    wait::poll(Duration::from_secs(40), Duration::from_millis(500), || {
        let stored = arrival::read_influxdb(&influxd, DB, &nodes);
        let mut problems = Vec::new();
        for node in &nodes {
            for c in ledger.cycles(node) {
                let ts = c.timestamp_ms as i64 * arrival::NS_PER_MS;
                let want = c.fields() - damaged.at(node, ts);
                let got = stored.at(node, ts);
                if got != want {
                    problems.push(format!(
                        "node {node} cycle {}: {got} fields in InfluxDB, {want} expected ({} were in the damaged record)",
                        c.timestamp_ms,
                        damaged.at(node, ts)
                    ));
                }
            }
        }
        wait::none(problems)
    })
    .unwrap_or_else(|e| {
        let scrape = aggregator.scrape();
        let influx: Vec<String> = scrape
            .samples
            .iter()
            .filter(|s| s.name.starts_with("pimon_influx_spool"))
            .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
            .collect();
        panic!(
            "only the damaged record's lines ({damaged_lines}) may be missing from InfluxDB:\n{e}\n{}\n{}",
            influx.join("\n"),
            aggregator.proc.output_report()
        )
    });
    let scrape = aggregator.scrape();
    let counted: Vec<String> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.name.contains("spool") && s.name.contains("lines") && s.name.ends_with("_total")
        })
        .filter(|s| s.value == damaged_lines as f64)
        .map(|s| s.name.clone())
        .collect();
    assert!(
        !counted.is_empty(),
        "the {damaged_lines} lines of the damaged record must be counted by a pimon_influx_spool_*lines*_total counter; /metrics has:\n{}",
        scrape
            .samples
            .iter()
            .filter(|s| s.name.contains("spool"))
            .map(|s| format!("{} {}", s.name, s.value))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_spool_smaller_than_a_burst_still_acks_and_stores_everything_once() {
    let influxd = Influxd::start();
    influxd.create_database(DB);
    let aggregator_launcher = Launcher::host(Program::Aggregator);
    let spool_dir = tempfile::tempdir().expect("temp dir");
    // The smallest spool (1 MiB), refuse_new (a full spool refuses, not acked), and
    // receive batches of up to 1,024 datagrams: the burst below is one batch of more
    // lines than the whole spool holds.
    let toml = format!(
        "[udp]\nbatch = 1024\n[[influx]]\nurl = \"{}\"\ndb = \"{DB}\"\nspool_dir = \"{}\"\nspool_max_bytes = 1048576\nwhen_full = \"refuse_new\"\nflush_interval_ms = 50\n",
        influxd.url(),
        spool_dir.path().display()
    );
    let mut setup = AggregatorSetup::new(&aggregator_launcher).config(&toml);
    let six = [
        TRIO[0],
        TRIO[1],
        TRIO[2],
        ("pi4", "pi4-d"),
        ("pizero", "pizero-e"),
        ("x86", "x86-f"),
    ];
    let mut s = Scenario::start(&mut setup, "small-spool", &six, |c| c);
    thread::sleep(Duration::from_secs(1));
    // The aggregator stalls (SIGSTOP) while the fleet sends: its socket queues the
    // frames, read as one batch when it resumes.
    let frozen_from = pimon_e2e::clock::now_ms();
    s.aggregator.proc.signal(libc::SIGSTOP);
    thread::sleep(Duration::from_secs(5));
    s.aggregator.proc.signal(libc::SIGCONT);
    let frozen_to = pimon_e2e::clock::now_ms();
    thread::sleep(Duration::from_secs(6));
    let end = s.stop_fleet("with a small spool");

    let nodes = s.nodes();
    let aggregator = &s.aggregator;
    let ledger = &end.ledger;
    scenario::assert_all_acked(
        aggregator,
        &nodes,
        &end.stops,
        "a small spool must not stop the acks",
    );
    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "small spool");
    // The burst really was larger than the spool.
    let burst: usize = aggregator
        .line_protocol()
        .lines()
        .filter(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|t| t.parse::<i64>().ok())
                .is_some_and(|ns| {
                    (frozen_from as i64..frozen_to as i64).contains(&(ns / arrival::NS_PER_MS))
                })
        })
        .map(|l| l.len() + 1)
        .sum();
    assert!(
        burst > 1 << 20,
        "the stalled aggregator's backlog was only {burst} bytes of lines; it must exceed the 1 MiB spool"
    );
    let scrape = aggregator.scrape();
    let mut problems = Vec::new();
    for node in &nodes {
        let c = NodeCounters::of(&scrape, node);
        let frames = ledger.frame_count(node) as f64;
        if c.received != frames {
            problems.push(format!(
                "node {node}: pimon_node_frames_received_total is {} for {frames} distinct frames (refused batches counted?)",
                c.received
            ));
        }
        if c.missing != 0.0 {
            problems.push(format!("node {node}: {} frames counted missing", c.missing));
        }
    }
    // A batch may be refused because the spool is full for now (refuse_new); never
    // because it is larger than the spool could ever hold.
    let failures = scrape.sum("pimon_aggregator_output_failures_total", &[]);
    let full = scrape.sum("pimon_influx_spool_appends_refused_full_total", &[]);
    if failures > full {
        problems.push(format!(
            "{failures} batches refused by the outputs, only {full} of them because the spool was full: the others were too large for it"
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\n{}",
        problems.join("\n"),
        aggregator.proc.output_report()
    );
}

#[test]
fn recorded_keyed_frames_replayed_after_a_restart_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = dir.path().join("keys");
    let key = dir.path().join("collector.key");
    std::fs::write(&keys, "* 1 hex:00112233445566778899aabbccddeeff\n").expect("key file");
    std::fs::write(&key, "1 hex:00112233445566778899aabbccddeeff\n").expect("key file");
    let keys = keys.display().to_string();
    // Frames more than 2 s off the aggregator's clock are "old" for a live frame.
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator)).args(&[
        "--key-file",
        &keys,
        "--max-clock-skew",
        "2",
    ]);
    let node = "pi4-keyed-replay";
    let key = key.display().to_string();
    let mut s = Scenario::start(&mut setup, "keyed-replay", &[("pi4", node)], |c| {
        c.args(&["--key-file", &key])
    });
    thread::sleep(Duration::from_secs(2));
    let stops = s.fleet.stop();
    assert_eq!(stops[0].unacknowledged, 0, "{}", stops[0].line);
    s.aggregator.stop(Duration::from_secs(30));
    s.aggregator = setup.start();
    thread::sleep(Duration::from_secs(3));
    // Someone recorded the node's keyed frames and plays them back now, from the
    // node's own address: all older than the skew bound, all already stored.
    let ledger = s.proxy.ledger();
    let recorded: Vec<_> = ledger.of(node).map(|(k, _)| k.clone()).take(10).collect();
    for id in &recorded {
        s.proxy.replay(id);
    }
    thread::sleep(Duration::from_secs(1));
    s.aggregator.assert_running("after the replay");
    let aggregator = &s.aggregator;
    let none = Default::default();
    fleet::assert_file_exactly_once(
        aggregator,
        &ledger,
        &[node],
        &none,
        Duration::from_secs(5),
        "keyed replay after a restart",
    );
    let scrape = aggregator.scrape();
    assert_eq!(
        NodeCounters::of(&scrape, node).received,
        0.0,
        "the restarted aggregator stored {} replayed frames of {node}",
        NodeCounters::of(&scrape, node).received
    );
}
