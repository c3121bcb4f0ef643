//! A collector's clock stepping (through its test-only offset file, see
//! `e2e/src/clock.rs`) while it sends through the chaos proxy. Where the aggregator
//! must replace a frame's timestamp (the clock is off by more than `max_skew_seconds`,
//! or a resent frame is older than `max_backfill_seconds`), every frame must still get
//! a time of its own, in the order the collector made them, stored once; frames whose
//! clock was right keep their own time; and the node's series stay on `/metrics`.
//!
//! - the clock jumps 10 minutes ahead while the path is down, then comes back: the
//!   skewed backlog and the live frames after it;
//! - a backlog older than `max_backfill_seconds`;
//! - the clock steps back one minute (within the skew bound): the node's series stay,
//!   and the frames after the step do not collide with the earlier ones;
//! - a Pi booting at 1970 that NTP then corrects;
//! - a skewed node whose frames are stored again after a crash keep their times;
//! - and the fake clock itself shifts the collector's timestamps.

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use pimon_e2e::arrival::{self, Copies};
use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::chaos::{ChaosConfig, ChaosProxy, Direction, Faults};
use pimon_e2e::clock::{FakeClock, now_ms};
use pimon_e2e::fleet::Fleet;
use pimon_e2e::ledger::Ledger;
use pimon_e2e::pimon::{Aggregator, AggregatorSetup};
use pimon_e2e::process;
use pimon_e2e::scrape::Scrape;
use pimon_e2e::support::servers::Influxd;
use pimon_e2e::tree::CounterBumper;
use pimon_e2e::{fixture, rng, wait};

const DB: &str = "pimon";
const MINUTE_MS: i64 = 60_000;

/// Waits until the file and InfluxDB both hold every cycle of `node` at a distinct,
/// ordered time (`original` ones at their own).
fn assert_distinct_ordered_times(
    aggregator: &Aggregator,
    influxd: &Influxd,
    ledger: &Ledger,
    node: &str,
    original: &BTreeSet<u64>,
    file_copies: Copies,
    context: &str,
) {
    wait::poll(Duration::from_secs(30), Duration::from_millis(500), || {
        let file = arrival::read_line_protocol(&aggregator.line_protocol())?;
        let mut problems: Vec<String> =
            arrival::check_distinct_times(ledger, &file, node, original, file_copies)
                .into_iter()
                .map(|p| format!("--lp-out: {p}"))
                .collect();
        let influx = arrival::read_influxdb(influxd, DB, &[node]);
        problems.extend(
            arrival::check_distinct_times(ledger, &influx, node, original, Copies::Once)
                .into_iter()
                .map(|p| format!("InfluxDB: {p}")),
        );
        wait::none(problems)
    })
    .unwrap_or_else(|e| panic!("{context}:\n{e}\n{}", aggregator.proc.output_report()));
}

fn start_aggregator(influxd: &Influxd, toml: Option<&str>) -> (AggregatorSetup, Aggregator) {
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    if let Some(t) = toml {
        setup = setup.config(t);
    }
    let aggregator = setup.start();
    (setup, aggregator)
}

fn influxd() -> Influxd {
    let i = Influxd::start();
    i.create_database(DB);
    i
}

#[test]
fn the_fake_clock_shifts_the_collectors_timestamps() {
    let clock = FakeClock::new();
    clock.set_offset_ms(-90 * MINUTE_MS);
    let mut cmd = Launcher::host(Program::Collector).command();
    cmd.env(pimon_e2e::clock::OFFSET_FILE_VAR, clock.path())
        .args(["--root"])
        .arg(fixture("pi4"))
        .args(["--node", "clock", "--print", "influx", "--once"]);
    let before = now_ms();
    let run = process::run(
        "pimon-collector --print influx",
        cmd,
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", run.report);
    let ts_ms: Vec<i64> = run
        .stdout
        .lines()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .map(|ns| ns / arrival::NS_PER_MS)
        .collect();
    assert!(!ts_ms.is_empty(), "{}", run.report);
    let want = before as i64 - 90 * MINUTE_MS;
    assert!(
        ts_ms.iter().all(|t| (t - want).abs() < 10_000),
        "timestamps {ts_ms:?} must be 90 minutes behind {before}"
    );
}

#[test]
fn a_clock_far_ahead_and_its_backlog_keep_one_distinct_ordered_time_per_frame() {
    let influxd = influxd();
    let (_setup, mut aggregator) = start_aggregator(&influxd, None);
    let proxy = ChaosProxy::start(
        "clock-ahead",
        aggregator.udp,
        ChaosConfig::new(rng::seed("clock ahead")),
    );
    let clock = FakeClock::new();
    let mut fleet = Fleet::start(&[("pi4", "pi4-ahead")], proxy.addr(), |c| c.clock(&clock));
    thread::sleep(Duration::from_secs(1));
    let right = proxy.ledger().cycles("pi4-ahead").len();
    // Ten minutes ahead (beyond the 300 s skew bound) while the path is down: a
    // backlog of skewed frames.
    clock.set_offset_ms(10 * MINUTE_MS);
    proxy.set_faults(Direction::ToAggregator, Faults::blackhole());
    thread::sleep(Duration::from_secs(2));
    // The clock is fixed and the path back: the backlog arrives in bursts, with live
    // frames between them.
    clock.set_offset_ms(0);
    proxy.heal();
    thread::sleep(Duration::from_secs(3));
    fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the clock steps");

    let ledger = proxy.ledger();
    let now = now_ms();
    // Cycles stamped more than a minute ahead of when they were taken are the skewed
    // ones; the others keep their own time.
    let original: BTreeSet<u64> = ledger
        .cycles("pi4-ahead")
        .iter()
        .map(|c| c.timestamp_ms)
        .filter(|&t| t < now + MINUTE_MS as u64)
        .collect();
    assert!(right > 3 && original.len() < ledger.cycles("pi4-ahead").len());
    assert_distinct_ordered_times(
        &aggregator,
        &influxd,
        &ledger,
        "pi4-ahead",
        &original,
        Copies::Once,
        "a clock 10 minutes ahead, then right",
    );
}

#[test]
fn a_backlog_older_than_max_backfill_keeps_one_distinct_ordered_time_per_frame() {
    let influxd = influxd();
    let (_setup, mut aggregator) =
        start_aggregator(&influxd, Some("[clock]\nmax_backfill_seconds = 2\n"));
    let proxy = ChaosProxy::start(
        "backfill",
        aggregator.udp,
        ChaosConfig::new(rng::seed("backfill")),
    );
    let mut fleet = Fleet::start(
        &[("pi4", "pi4-backlog"), ("pizero", "pizero-backlog")],
        proxy.addr(),
        |c| c,
    );
    thread::sleep(Duration::from_secs(1));
    proxy.set_faults(Direction::ToAggregator, Faults::blackhole());
    thread::sleep(Duration::from_secs(4));
    proxy.heal();
    thread::sleep(Duration::from_secs(4));
    fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the backlog");

    let ledger = proxy.ledger();
    for node in ["pi4-backlog", "pizero-backlog"] {
        // Frames delivered within a second of being taken arrived live: they keep
        // their time.
        let live: BTreeSet<u64> = ledger
            .cycles(node)
            .iter()
            .filter(|c| {
                c.frames.iter().all(|(seq, _, _)| {
                    let r = &ledger.frames[&pimon_e2e::ledger::FrameId {
                        node: c.node.clone(),
                        boot_id: c.boot_id,
                        seq: *seq,
                    }];
                    r.first_delivered
                        .is_some_and(|d| d.duration_since(r.first_seen) < Duration::from_secs(1))
                })
            })
            .map(|c| c.timestamp_ms)
            .collect();
        assert_distinct_ordered_times(
            &aggregator,
            &influxd,
            &ledger,
            node,
            &live,
            Copies::Once,
            "a backlog older than max_backfill_seconds",
        );
    }
}

#[test]
fn a_clock_stepped_back_within_the_skew_keeps_the_nodes_series_and_their_values_moving() {
    let influxd = influxd();
    // Series go stale after 3 intervals, at least 1 s: an empty /metrics shows fast.
    let (_setup, aggregator) =
        start_aggregator(&influxd, Some("[staleness]\nstale_min_seconds = 1\n"));
    let proxy = ChaosProxy::start(
        "clock-back",
        aggregator.udp,
        ChaosConfig::new(rng::seed("clock back")),
    );
    let clock = FakeClock::new();
    // The series counted before and after the step are all sent every cycle, the
    // process family too: the scan runs about once a minute, and the cycles between
    // send its last values again (with this test's 1 s staleness, series sent only at
    // a scan would leave /metrics between scans and the count would fall).
    let mut fleet =
        Fleet::start_on_copies(&[("pi4", "pi4-back")], proxy.addr(), |c| c.clock(&clock));
    let _bumper = CounterBumper::start(fleet.tree(0));
    let node = "pi4-back";
    let user = |s: &Scrape| {
        s.get(
            "node_cpu_seconds_total",
            &[("instance", node), ("cpu", "0"), ("mode", "user")],
        )
    };
    let before = wait::until(
        Duration::from_secs(10),
        "the node's series on /metrics",
        || {
            let s = aggregator.scrape();
            let n = s.series_of(node);
            match user(&s) {
                Some(v) if n > 100 => Ok((n, v)),
                _ => Err(format!("{n} series of {node}")),
            }
        },
    );
    let stepped_at = std::time::Instant::now();
    clock.set_offset_ms(-MINUTE_MS);
    thread::sleep(Duration::from_secs(4));
    let after = aggregator.scrape();
    fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));

    assert_eq!(after.node("pimon_node_up", node), 1.0, "the node is up");
    let series = after.series_of(node);
    assert!(
        series >= before.0,
        "after the clock stepped back a minute, /metrics has {series} series of {node} (before: {}); the node's values must keep applying",
        before.0
    );
    let now_user = user(&after).unwrap_or(f64::NAN);
    assert!(
        now_user > before.1,
        "node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} must keep moving after the step back: {} before, {now_user} 4 s later",
        before.1
    );
    // Frames before the step keep their own time. The ones after it carry times the
    // node already used (a minute back): they must not collide with the earlier
    // points, so they may get substitutes, distinct and in order.
    let ledger = proxy.ledger();
    let before_step: BTreeSet<u64> = ledger
        .of(node)
        .filter(|(_, r)| r.first_seen + Duration::from_millis(200) < stepped_at)
        .map(|(_, r)| r.timestamp_ms)
        .collect();
    assert_distinct_ordered_times(
        &aggregator,
        &influxd,
        &ledger,
        node,
        &before_step,
        Copies::Once,
        "a clock stepped back a minute",
    );
}

#[test]
fn a_pi_booting_at_1970_then_syncing_ntp_keeps_every_frame_once_at_a_sane_time() {
    let influxd = influxd();
    let (_setup, mut aggregator) = start_aggregator(&influxd, None);
    let proxy = ChaosProxy::start("1970", aggregator.udp, ChaosConfig::new(rng::seed("1970")));
    let clock = FakeClock::new();
    // A Pi without RTC: the clock starts at the epoch plus its uptime.
    clock.set_now_ms(100_000);
    let node = "pi-1970";
    let mut fleet = Fleet::start(&[("pizero", node)], proxy.addr(), |c| c.clock(&clock));
    thread::sleep(Duration::from_secs(2));
    // NTP syncs.
    clock.set_offset_ms(0);
    let synced_at = now_ms();
    thread::sleep(Duration::from_secs(2));
    let scrape = aggregator.scrape();
    fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the 1970 boot");

    let ledger = proxy.ledger();
    let cycles = ledger.cycles(node);
    let early = cycles
        .iter()
        .filter(|c| c.timestamp_ms < 1_000_000_000_000)
        .count();
    assert!(
        early >= 10,
        "the collector must have sent 1970 frames: {early}"
    );
    let original: BTreeSet<u64> = cycles
        .iter()
        .map(|c| c.timestamp_ms)
        .filter(|&t| t >= synced_at)
        .collect();
    assert_distinct_ordered_times(
        &aggregator,
        &influxd,
        &ledger,
        node,
        &original,
        Copies::Once,
        "1970 then NTP",
    );
    let file = arrival::read_line_protocol(&aggregator.line_protocol()).expect("line protocol");
    let year_2000_ns = 946_684_800_000 * arrival::NS_PER_MS;
    let ancient: Vec<i64> = file
        .times(node)
        .into_iter()
        .filter(|&t| t < year_2000_ns)
        .collect();
    assert!(
        ancient.is_empty(),
        "points stored at 1970 times: {ancient:?}"
    );
    assert_eq!(
        scrape.node("pimon_node_up", node),
        1.0,
        "the node is up after NTP synced"
    );
    assert!(
        scrape.series_of(node) > 100,
        "its series are on /metrics after NTP synced"
    );
}

#[test]
fn a_skewed_node_stored_again_after_a_crash_keeps_the_same_times() {
    let influxd = influxd();
    let (mut setup, aggregator) = start_aggregator(&influxd, None);
    let proxy = ChaosProxy::start(
        "skew-crash",
        aggregator.udp,
        ChaosConfig::new(rng::seed("skew crash")),
    );
    let clock = FakeClock::new();
    clock.set_offset_ms(30 * MINUTE_MS);
    let node = "pi4-skew-crash";
    let mut fleet = Fleet::start(&[("pi4", node)], proxy.addr(), |c| c.clock(&clock));
    thread::sleep(Duration::from_secs(2));
    // The acks of the last second are lost, then the aggregator crashes: the frames
    // it stored in that second come again to the next run.
    proxy.set_faults(Direction::ToCollector, Faults::blackhole());
    thread::sleep(Duration::from_secs(1));
    let mut aggregator = aggregator;
    aggregator.crash();
    let mut aggregator = setup.start();
    proxy.heal();
    thread::sleep(Duration::from_secs(2));
    fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the crash");

    let ledger = proxy.ledger();
    assert_distinct_ordered_times(
        &aggregator,
        &influxd,
        &ledger,
        node,
        &BTreeSet::new(),
        Copies::AtLeastOnceIdentical,
        "a skewed node across a crash",
    );
}
