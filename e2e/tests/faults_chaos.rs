//! Real collectors and a real aggregator (with a real InfluxDB) through the chaos
//! proxy: every frame must arrive exactly once with its own timestamp, in the
//! `--lp-out` file and in InfluxDB, and both sides' loss and duplicate counters must
//! equal what the proxy did.
//!
//! - a lossy path both ways (drops, duplicates, reordering, delay): nothing lost,
//!   nothing doubled, duplicates counted exactly;
//! - only acks lost, long enough that the collector's small ring overflows: everything
//!   was stored, so neither side may count a loss;
//! - frames lost for good (the path down longer than the ring): both sides count the
//!   same frames, and everything else is stored once.
//!
//! (The collector's peak RSS with its ring full is a memory figure of the static musl
//! build: `scripts/bench-collector-rss` measures it, not these tests, which run the
//! host build.)

use std::thread;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::chaos::{ChaosConfig, ChaosProxy, Direction, Faults};
use pimon_e2e::fleet::{self, Fleet, TRIO};
use pimon_e2e::pimon::AggregatorSetup;
use pimon_e2e::rng;
use pimon_e2e::support::servers::Influxd;
use pimon_e2e::wait;

const DB: &str = "pimon";

#[test]
fn a_lossy_duplicating_reordering_path_loses_and_doubles_nothing() {
    let influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    let mut aggregator = setup.start();
    let seed = rng::seed("lossy path");
    let mut config = ChaosConfig::new(seed);
    config.to_aggregator = Faults::lossy(0.10, 0.05, 0.10, Duration::from_millis(20));
    config.to_collector = Faults::lossy(0.10, 0.05, 0.10, Duration::from_millis(20));
    let proxy = ChaosProxy::start("lossy", aggregator.udp, config);
    let mut fleet = Fleet::start(&TRIO, proxy.addr(), |c| c);

    thread::sleep(Duration::from_secs(8));
    fleet.assert_running("under chaos");
    aggregator.assert_running("under chaos");
    proxy.heal();
    thread::sleep(Duration::from_millis(1500));
    let stops = fleet.stop();
    assert!(
        proxy.wait_idle(Duration::from_secs(5)),
        "{}",
        proxy.describe()
    );

    let nodes = fleet.nodes();
    let ledger = proxy.ledger();
    let to_agg = proxy.counts(Direction::ToAggregator);
    let to_col = proxy.counts(Direction::ToCollector);
    assert!(
        to_agg.dropped > 10
            && to_agg.duplicated > 5
            && to_agg.reordered > 10
            && to_col.dropped > 10,
        "the proxy must really have hurt both directions: {}",
        proxy.describe()
    );
    let none = Default::default();
    fleet::assert_file_exactly_once(
        &aggregator,
        &ledger,
        &nodes,
        &none,
        Duration::from_secs(15),
        "lossy path",
    );
    fleet::assert_influx_exactly_once(
        &influxd,
        DB,
        &ledger,
        &nodes,
        &none,
        Duration::from_secs(30),
        "lossy path",
    );
    let problems = fleet::counter_problems(&aggregator, &proxy, &nodes, &stops);
    assert!(
        problems.is_empty(),
        "counters disagree with what the proxy did:\n{}\n{}\n{}",
        problems.join("\n"),
        proxy.describe(),
        aggregator.proc.output_report()
    );
}

#[test]
fn acks_lost_long_enough_to_overflow_the_ring_count_no_loss_on_either_side() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let mut aggregator = setup.start();
    let proxy = ChaosProxy::start(
        "acks-lost",
        aggregator.udp,
        ChaosConfig::new(rng::seed("acks lost")),
    );
    // 24 KiB hold about 15 cycles of the Pi 4 tree: 3 s without acks overflow it.
    let mut fleet = Fleet::start(&TRIO, proxy.addr(), |c| c.args(&["--ring-bytes", "24K"]));
    thread::sleep(Duration::from_secs(1));
    proxy.set_faults(Direction::ToCollector, Faults::blackhole());
    thread::sleep(Duration::from_secs(4));
    proxy.heal();
    thread::sleep(Duration::from_secs(2));
    let stops = fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the ack outage");

    let nodes = fleet.nodes();
    let ledger = proxy.ledger();
    assert!(
        proxy.counts(Direction::ToCollector).blackholed > 20,
        "acks must really have been lost: {}",
        proxy.describe()
    );
    for node in &nodes {
        assert!(
            ledger.never_delivered(node).is_empty(),
            "only acks were dropped, yet frames of {node} were not delivered: {}",
            proxy.describe()
        );
    }
    let none = Default::default();
    fleet::assert_file_exactly_once(
        &aggregator,
        &ledger,
        &nodes,
        &none,
        Duration::from_secs(15),
        "acks lost",
    );
    let problems = fleet::counter_problems(&aggregator, &proxy, &nodes, &stops);
    assert!(
        problems.is_empty(),
        "every frame was stored, so no side may count a loss:\n{}\n{}",
        problems.join("\n"),
        proxy.describe()
    );
}

#[test]
fn frames_lost_in_a_ring_overflow_are_counted_the_same_on_both_sides() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let mut aggregator = setup.start();
    let proxy = ChaosProxy::start(
        "ring-overflow",
        aggregator.udp,
        ChaosConfig::new(rng::seed("ring overflow")),
    );
    // The default ring (about 320 KiB) holds about 210 cycles of the Pi 4 tree (two
    // frames each): at 20 ms a 6 s outage overflows it by about 90 cycles. On a loaded
    // machine the collector makes fewer cycles, so the outage lasts until it has sent
    // 600 frames (300 cycles) the aggregator never got.
    let mut fleet = Fleet::start(&[("pi4", "pi4-overflow")], proxy.addr(), |c| {
        c.interval("20ms")
    });
    thread::sleep(Duration::from_millis(500));
    proxy.set_faults(Direction::ToAggregator, Faults::blackhole());
    thread::sleep(Duration::from_secs(6));
    let node = fleet.nodes()[0];
    wait::poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let held_back = proxy.ledger().never_delivered(node).len();
        (held_back >= 600)
            .then_some(())
            .ok_or(format!("{held_back} frames sent during the outage"))
    })
    .unwrap_or_else(|e| {
        panic!(
            "the outage must outlast the ring: {e}\n{}",
            proxy.describe()
        )
    });
    proxy.heal();
    thread::sleep(Duration::from_secs(4));
    let stops = fleet.stop();
    assert!(proxy.wait_idle(Duration::from_secs(5)));
    aggregator.assert_running("after the outage");

    let nodes = fleet.nodes();
    let ledger = proxy.ledger();
    let lost = fleet::undelivered(&ledger, nodes[0]);
    assert!(
        lost.len() > 50,
        "the outage must have overflowed the ring: {} frames never delivered\n{}",
        lost.len(),
        proxy.describe()
    );
    fleet::assert_file_exactly_once(
        &aggregator,
        &ledger,
        &nodes,
        &lost,
        Duration::from_secs(15),
        "ring overflow",
    );
    let problems = fleet::counter_problems(&aggregator, &proxy, &nodes, &stops);
    assert!(
        problems.is_empty(),
        "{} frames were lost in the ring overflow (seqs {}); both sides must count exactly them:\n{}\n{}",
        lost.len(),
        fleet::ids(&lost),
        problems.join("\n"),
        proxy.describe()
    );
}
