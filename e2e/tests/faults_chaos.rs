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
use pimon_e2e::chaos::{ChaosConfig, Direction, Faults};
use pimon_e2e::fleet::{self, TRIO};
use pimon_e2e::pimon::AggregatorSetup;
use pimon_e2e::scenario::{FILE_TIMEOUT, Scenario};
use pimon_e2e::support::servers::Influxd;
use pimon_e2e::{rng, wait};

const DB: &str = "pimon";

#[test]
fn a_lossy_duplicating_reordering_path_loses_and_doubles_nothing() {
    let influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).influx(influxd.url(), DB);
    let mut config = ChaosConfig::new(rng::seed("lossy path"));
    config.to_aggregator = Faults::lossy(0.10, 0.05, 0.10, Duration::from_millis(20));
    config.to_collector = Faults::lossy(0.10, 0.05, 0.10, Duration::from_millis(20));
    let mut s = Scenario::start_with(&mut setup, "lossy", config, &TRIO, |c| c);

    thread::sleep(Duration::from_secs(8));
    s.fleet.assert_running("under chaos");
    s.aggregator.assert_running("under chaos");
    s.proxy.heal();
    thread::sleep(Duration::from_millis(1500));
    let end = s.stop_fleet("after the chaos");

    let to_agg = s.proxy.counts(Direction::ToAggregator);
    let to_col = s.proxy.counts(Direction::ToCollector);
    assert!(
        to_agg.dropped > 10
            && to_agg.duplicated > 5
            && to_agg.reordered > 10
            && to_col.dropped > 10,
        "the proxy must really have hurt both directions: {}",
        s.proxy.describe()
    );
    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "lossy path");
    s.assert_counters_agree(&end, "counters disagree with what the proxy did");
}

#[test]
fn acks_lost_long_enough_to_overflow_the_ring_count_no_loss_on_either_side() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    // 12 KiB hold about two blocks of 16 cycles of these trees (the ring keeps
    // cycles as differences from a key cycle; these fixtures hardly change): 4 s
    // without acks (40 cycles) overflow it.
    let mut s = Scenario::start(&mut setup, "acks-lost", &TRIO, |c| {
        c.args(&["--ring-bytes", "12K"])
    });
    thread::sleep(Duration::from_secs(1));
    s.proxy
        .set_faults(Direction::ToCollector, Faults::blackhole());
    thread::sleep(Duration::from_secs(4));
    s.proxy.heal();
    thread::sleep(Duration::from_secs(2));
    let end = s.stop_fleet("after the ack outage");

    assert!(
        s.proxy.counts(Direction::ToCollector).blackholed > 20,
        "acks must really have been lost: {}",
        s.proxy.describe()
    );
    for node in s.nodes() {
        assert!(
            end.ledger.never_delivered(node).is_empty(),
            "only acks were dropped, yet frames of {node} were not delivered: {}",
            s.proxy.describe()
        );
    }
    s.assert_stored_exactly_once(&end, None, "acks lost");
    s.assert_counters_agree(&end, "every frame was stored, so no side may count a loss");
}

#[test]
fn frames_lost_in_a_ring_overflow_are_counted_the_same_on_both_sides() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    // A 48 KiB ring holds about 100 cycles of the Pi 4 tree (three frames each, kept
    // as differences from a key cycle every 16: the fixture hardly changes, so the
    // default ring would hold more than the aggregator's window): at 20 ms a 6 s
    // outage overflows it by about 200 cycles. On a loaded machine the collector makes
    // fewer cycles, so the outage lasts until it has sent 900 frames (300 cycles) the
    // aggregator never got.
    let mut s = Scenario::start(
        &mut setup,
        "ring-overflow",
        &[("pi4", "pi4-overflow")],
        |c| c.interval("20ms").args(&["--ring-bytes", "48K"]),
    );
    thread::sleep(Duration::from_millis(500));
    s.proxy
        .set_faults(Direction::ToAggregator, Faults::blackhole());
    thread::sleep(Duration::from_secs(6));
    let node = s.nodes()[0];
    wait::poll(Duration::from_secs(30), Duration::from_millis(200), || {
        let held_back = s.proxy.ledger().never_delivered(node).len();
        (held_back >= 900)
            .then_some(())
            .ok_or(format!("{held_back} frames sent during the outage"))
    })
    .unwrap_or_else(|e| {
        panic!(
            "the outage must outlast the ring: {e}\n{}",
            s.proxy.describe()
        )
    });
    s.proxy.heal();
    thread::sleep(Duration::from_secs(4));
    let end = s.stop_fleet("after the outage");

    let nodes = s.nodes();
    let lost = fleet::undelivered(&end.ledger, nodes[0]);
    assert!(
        lost.len() > 50,
        "the outage must have overflowed the ring: {} frames never delivered\n{}",
        lost.len(),
        s.proxy.describe()
    );
    fleet::assert_file_exactly_once(
        &s.aggregator,
        &end.ledger,
        &nodes,
        &lost,
        FILE_TIMEOUT,
        "ring overflow",
    );
    s.assert_counters_agree(
        &end,
        &format!(
            "{} frames were lost in the ring overflow (seqs {}); both sides must count exactly them",
            lost.len(),
            fleet::ids(&lost)
        ),
    );
}
