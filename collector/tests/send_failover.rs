//! Several aggregators (`--aggregator a --aggregator b`): two fake aggregators on
//! 127.0.0.1 that store and ack like the real one. The collector side is the real
//! thing: fixture sources, the ring, one `Net` per aggregator, `Agent::pump`.
//!
//! The first stops acknowledging: within the bounded delay (3 intervals, at least 2 s)
//! the second gets the new frames and every frame the first did not acknowledge; the
//! first comes back: a probe reaches it and frames go back to it. No frame is lost,
//! and every frame ends up stored by at least one of them.

mod send_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pimon_collector::failover::{AggregatorAddr, Aggregators};
use pimon_collector::ring::ResendPolicy;
use pimon_collector::run::Agent;
use send_support::{Behaviour, FakeAggregator, collector, fixture};

const INTERVAL_MS: u32 = 100;

fn agent(aggregators: &[&FakeAggregator]) -> Agent {
    let list: Vec<AggregatorAddr> = aggregators
        .iter()
        .map(|a| AggregatorAddr::named(&a.addr.to_string()))
        .collect();
    let c = collector(&fixture("pi4"), None, 1 << 20, INTERVAL_MS);
    let net = Aggregators::new(&list, "pi4", 0xb007, None, u64::from(INTERVAL_MS), 0);
    Agent::new(c, net, ResendPolicy::for_interval(u64::from(INTERVAL_MS)))
}

/// Runs cycles for `span`, one every interval, handling acks and resends.
fn run_for(agent: &mut Agent, span: Duration, ts: &mut u64) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        agent.cycle(*ts);
        *ts += u64::from(INTERVAL_MS);
        agent.pump(Instant::now() + Duration::from_millis(u64::from(INTERVAL_MS)));
    }
}

#[test]
fn fails_over_to_the_second_resending_the_ring_then_fails_back_losing_nothing() {
    let a = FakeAggregator::start(Behaviour::Ack, None);
    let b = FakeAggregator::start(Behaviour::Ack, None);
    let mut agent = agent(&[&a, &b]);
    let delay = agent.net.failover().delay_ms();
    assert_eq!(delay, 2_000, "3 intervals of 100 ms, at least 2 s");
    let mut ts = 1_700_000_000_000;

    run_for(&mut agent, Duration::from_millis(500), &mut ts);
    assert_eq!(agent.net.active(), 0, "the first acknowledges");
    assert!(b.log().stored.is_empty(), "nothing to the second yet");

    // The first stops acknowledging (it receives and drops, as a dead router).
    a.set_present(false);
    let stopped = Instant::now();
    let acked_by_a = a.log().stored.clone();
    while agent.net.active() == 0 {
        assert!(
            stopped.elapsed() < Duration::from_millis(delay + 1_500),
            "no failover within the delay"
        );
        run_for(&mut agent, Duration::from_millis(100), &mut ts);
    }
    let took = stopped.elapsed();
    assert!(
        took >= Duration::from_millis(delay - 200),
        "failed over after {took:?}, before the delay"
    );
    run_for(&mut agent, Duration::from_millis(1_000), &mut ts);
    assert_eq!(
        agent.collector.ring().outstanding(),
        0,
        "the second acked all"
    );
    let b_log = b.log();
    let first_to_b = *b_log.stored.first().unwrap();
    assert!(
        (0..first_to_b).all(|s| acked_by_a.contains(&s) || a.log().stored.contains(&s)),
        "every frame the second did not get was stored by the first"
    );
    assert!(
        b_log
            .stored
            .iter()
            .any(|s| !acked_by_a.contains(s) && *s < first_to_b + 5),
        "frames the first did not acknowledge were resent to the second"
    );

    // The first answers again: a probe within probe_every brings frames back to it.
    a.set_present(true);
    let back = Instant::now();
    let probe_every = agent.net.failover().probe_every_ms();
    while agent.net.active() != 0 {
        assert!(
            back.elapsed() < Duration::from_millis(probe_every + 2_000),
            "no fail back within the probe period"
        );
        run_for(&mut agent, Duration::from_millis(200), &mut ts);
    }
    let b_before = b.log().stored.len();
    run_for(&mut agent, Duration::from_millis(500), &mut ts);
    assert!(agent.linger(Duration::from_secs(5)), "all acked in the end");
    assert_eq!(
        b.log().stored.len(),
        b_before,
        "new frames go to the first again"
    );

    let sent = agent.collector.ring().next_seq();
    let stored: BTreeSet<u64> = a.log().stored.union(&b.log().stored).copied().collect();
    assert_eq!(
        stored,
        (0..sent).collect::<BTreeSet<u64>>(),
        "every frame stored by one of them"
    );
    let s = agent.collector.ring().stats();
    assert_eq!(s.dropped, 0);
    assert_eq!(s.acked, sent);
}

#[test]
fn a_single_aggregator_is_never_left() {
    let a = FakeAggregator::start(Behaviour::Ack, None);
    a.set_present(false);
    let mut agent = agent(&[&a]);
    let mut ts = 1_700_000_000_000;
    run_for(&mut agent, Duration::from_millis(2_500), &mut ts);
    assert_eq!(agent.net.active(), 0);
    assert!(agent.collector.ring().outstanding() > 0);
    a.set_present(true);
    run_for(&mut agent, Duration::from_millis(500), &mut ts);
    assert!(agent.linger(Duration::from_secs(5)));
}
