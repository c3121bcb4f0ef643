//! Sending with resend against a real UDP socket on 127.0.0.1: a fake
//! aggregator that stores and acks with `SeqWindow` + `Ack` like the real one; one that
//! drops every third datagram; one whose acks are lost on the way back; one that is
//! absent for a while (or starts after the collector and first hears it mid-stream); a
//! ring too small for the outage, and one holding more than the aggregator's window.
//! The collector side is the real thing: fixture sources (Pi 4: two parts per cycle),
//! the frame sink, the ring, `Net`, `Agent::pump`/`linger`.

mod send_support;

use std::time::{Duration, Instant};

use pimon_collector::cycle::RING_CYCLES_PER_BLOCK;
use pimon_collector::ring::MIN_RING_BYTES;
use pimon_protocol::window::WINDOW;
use send_support::{Behaviour, FakeAggregator, agent, fixture, run_cycles, test_key};

const INTERVAL: Duration = Duration::from_millis(25);
const BIG_RING: usize = 1 << 20;

fn all(n: u64) -> Vec<u64> {
    (0..n).collect()
}

#[test]
fn every_frame_is_stored_and_acked_once() {
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    let mut a = agent(&fixture("pi4"), agg.addr, None, BIG_RING);
    a.policy.timeout_ms = 5_000; // no resend even on a slow, loaded machine
    run_cycles(&mut a, 20, INTERVAL);
    assert!(a.linger(Duration::from_secs(5)), "all acked");
    let sent = a.collector.ring().next_seq();
    assert_eq!(sent, 60, "the Pi 4 fixture cycle is three parts");
    let log = agg.log();
    assert_eq!(log.stored.iter().copied().collect::<Vec<_>>(), all(sent));
    assert!(
        log.arrivals.iter().all(|&(_, new)| new),
        "no duplicates: nothing resent"
    );
    let s = a.collector.ring().stats();
    assert_eq!((s.sent, s.resent, s.dropped, s.acked), (60, 0, 0, 60));
    assert!(a.collector.ring().is_empty());
    assert_eq!(
        log.peer,
        a.net
            .local_addr()
            .map(|l| (std::net::Ipv4Addr::LOCALHOST, l.port()).into())
    );
}

#[test]
fn a_receiver_dropping_every_third_frame_gets_them_all() {
    let agg = FakeAggregator::start(Behaviour::DropEveryThird, None);
    let mut a = agent(&fixture("pi4"), agg.addr, None, BIG_RING);
    run_cycles(&mut a, 30, INTERVAL);
    assert!(a.linger(Duration::from_secs(10)), "all acked in the end");
    let sent = a.collector.ring().next_seq();
    let log = agg.log();
    assert_eq!(
        log.stored.iter().copied().collect::<Vec<_>>(),
        all(sent),
        "nothing lost"
    );
    let s = a.collector.ring().stats();
    assert!(log.dropped >= sent / 3, "{} dropped of {sent}", log.dropped);
    assert!(s.resent >= log.dropped.min(sent / 3), "{s:?}");
    // Paced, not a storm: each drop costs few resends (a resend can be dropped too).
    assert!(
        s.resent <= 3 * log.dropped + 4,
        "{s:?} for {} drops",
        log.dropped
    );
    assert_eq!(s.dropped, 0);
    // A late arrival is a resend: it fills a gap below what was already seen.
    let mut highest = 0;
    let mut late = 0;
    for &(seq, new) in &log.arrivals {
        if new && seq < highest {
            late += 1;
        }
        highest = highest.max(seq);
    }
    assert!(late > 0);
}

#[test]
fn an_absent_aggregator_loses_nothing_and_gets_the_backlog_oldest_first() {
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    let mut a = agent(&fixture("pi4"), agg.addr, None, BIG_RING);
    let start = std::time::Instant::now();
    run_cycles(&mut a, 15, INTERVAL);
    let silent_ms = start.elapsed().as_millis() as u64;
    let backlog = a.collector.ring().next_seq();
    assert_eq!(
        a.collector.ring().outstanding() as u64,
        backlog,
        "nothing acked while absent"
    );
    let probes = a.collector.ring().stats().resent;
    assert!(
        probes <= 1 + silent_ms / a.policy.timeout_ms,
        "a silent aggregator gets one probe per timeout, not the whole ring: {probes}"
    );
    // The aggregator appears (a fresh one: it first hears the collector mid-stream).
    agg.set_present(true);
    run_cycles(&mut a, 10, INTERVAL);
    assert!(a.linger(Duration::from_secs(10)));
    let sent = a.collector.ring().next_seq();
    let log = agg.log();
    assert_eq!(
        log.stored.iter().copied().collect::<Vec<_>>(),
        all(sent),
        "nothing lost"
    );
    assert_eq!(a.collector.ring().stats().dropped, 0);
    // The backlog (sequence numbers from before it appeared) arrived oldest first.
    let backlog_order: Vec<u64> = log
        .arrivals
        .iter()
        .filter(|&&(s, new)| new && s < backlog)
        .map(|&(s, _)| s)
        .collect();
    let first = backlog_order.first().copied();
    let mut sorted = backlog_order.clone();
    sorted.sort_unstable();
    // The first backlog frame it hears may be a probe of the oldest (0) or any frame in
    // flight when it appeared; everything it then asks for comes in ascending order.
    assert_eq!(
        backlog_order[1..],
        sorted[..]
            .iter()
            .copied()
            .filter(|&s| Some(s) != first)
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(backlog_order.len() as u64, backlog);
}

/// Runs cycles until no evicted frame is waiting for an ack's verdict (the verdict on a
/// missing one waits `LOST_VERDICT_AFTER_MS` after its last send), then two more so the
/// aggregator hears the raised floor, then lingers.
fn settle(a: &mut pimon_collector::run::Agent) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.collector.ring().unresolved() > 0 && Instant::now() < deadline {
        run_cycles(a, 1, INTERVAL);
    }
    assert_eq!(
        a.collector.ring().unresolved(),
        0,
        "every eviction resolved"
    );
    run_cycles(a, 2, INTERVAL);
    assert!(a.linger(Duration::from_secs(10)));
}

#[test]
fn lost_acks_are_not_counted_as_ring_overflow() {
    // Every frame arrives; 7 of 8 acks are lost on the way back. The tiny ring must evict
    // frames before their ack comes through, but the aggregator stored them: nothing
    // may be counted dropped, on either side.
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_ack_loss(8);
    let mut a = agent(&fixture("pi4"), agg.addr, None, MIN_RING_BYTES);
    let mut most_unresolved = 0;
    for _ in 0..40 {
        run_cycles(&mut a, 1, INTERVAL);
        most_unresolved = most_unresolved.max(a.collector.ring().unresolved());
    }
    assert!(
        most_unresolved > 0,
        "the ring overflowed while acks were lost"
    );
    agg.set_ack_loss(0);
    settle(&mut a);
    let log = agg.log();
    let ring = a.collector.ring();
    let sent = ring.next_seq();
    assert_eq!(log.stored.iter().copied().collect::<Vec<_>>(), all(sent));
    assert!(log.acks_lost > 0);
    let s = ring.stats();
    assert_eq!(s.dropped, 0, "nothing was lost: {s:?}");
    assert_eq!(log.given_up, 0);
    assert_eq!(s.acked, sent, "{s:?}");
}

#[test]
fn ring_overflow_is_counted_once_by_both_sides() {
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    // Room for about three Pi 4 cycles.
    let mut a = agent(&fixture("pi4"), agg.addr, None, MIN_RING_BYTES);
    run_cycles(&mut a, 12, INTERVAL);
    let ring = a.collector.ring();
    let (sent, held_from) = (ring.next_seq(), ring.oldest_held());
    assert_eq!(sent, 36);
    assert!(held_from > 0, "oldest frames left the ring");
    // No ack can say yet whether they were stored: not dropped, the floor stays.
    assert_eq!(ring.stats().dropped, 0);
    assert_eq!(ring.unresolved(), held_from);
    assert_eq!(ring.resend_floor(), 0);
    agg.set_present(true);
    settle(&mut a);
    let log = agg.log();
    let ring = a.collector.ring();
    let (sent, s) = (ring.next_seq(), ring.stats());
    // What did not arrive is exactly what both sides count: the collector's dropped,
    // the aggregator's given up (missing), each frame once.
    let missing: Vec<u64> = (0..sent).filter(|s| !log.stored.contains(s)).collect();
    assert!(!missing.is_empty());
    assert_eq!(
        s.dropped,
        missing.len() as u64,
        "{s:?}, missing {missing:?}"
    );
    assert_eq!(log.given_up, missing.len() as u64);
    assert!(missing.iter().all(|&m| m < log.floor));
    assert_eq!(s.acked + s.dropped, sent);
}

#[test]
fn a_collector_stopping_right_after_a_ring_overflow_settles_its_losses_with_the_aggregator() {
    // As above, but the collector stops (lingers) as soon as the aggregator is back:
    // its evicted frames are not resolved yet (the ack that lists them comes within a
    // second of their last send), and an ack that resolves them while it lingers
    // raises a floor the aggregator never hears of unless another frame carries it.
    // Linger must close the books: both sides count the same frames lost.
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    let mut a = agent(&fixture("pi4"), agg.addr, None, MIN_RING_BYTES);
    run_cycles(&mut a, 12, INTERVAL);
    assert!(
        a.collector.ring().unresolved() > 0,
        "frames left the ring unacked"
    );
    agg.set_present(true);
    let cycles = a.cycles();
    assert!(
        a.linger(Duration::from_secs(10)),
        "the books close within the linger"
    );
    let ring = a.collector.ring();
    let (sent, s) = (ring.next_seq(), ring.stats());
    assert_eq!(ring.unresolved(), 0, "every eviction resolved");
    let log = agg.log();
    let missing: Vec<u64> = (0..sent).filter(|s| !log.stored.contains(s)).collect();
    assert!(!missing.is_empty());
    assert_eq!(
        (s.dropped, log.given_up),
        (missing.len() as u64, missing.len() as u64),
        "the collector's dropped and the aggregator's given up are what did not arrive: {missing:?}"
    );
    assert_eq!(s.acked + s.dropped, sent);
    assert!(a.cycles() > cycles, "lingering ran cycles to ask for acks");
}

#[test]
fn frames_given_up_past_the_window_are_dropped_not_acked() {
    // A ring that holds more frames than the aggregator's 4096-number window, and an
    // absent aggregator. The collector gives up what falls out of the window itself
    // (dropped, and the floor says so); the aggregator never slides past anything on
    // its own, so no frame it never stored is counted acked.
    let root = tiny_tree("window");
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    let mut a = agent(&root, agg.addr, None, 1 << 20);
    let cycles = WINDOW + 500;
    for i in 0..cycles {
        a.cycle(1_700_000_000_000 + i);
    }
    let ring = a.collector.ring();
    assert_eq!(ring.next_seq(), cycles, "one part per cycle");
    assert_eq!(ring.unresolved(), 0, "the ring held everything");
    // The ring gives up a block of cycles at a time (a key cycle and the cycles kept
    // as differences from it): at most a block more than the window asks.
    let floor = ring.resend_floor();
    assert!(
        (cycles - WINDOW..cycles - WINDOW + u64::from(RING_CYCLES_PER_BLOCK)).contains(&floor),
        "{floor}"
    );
    assert_eq!(ring.stats().dropped, floor);
    // The aggregator comes back to the live frames and the backlog (not drained here:
    // what is counted must be right at any moment).
    agg.set_present(true);
    run_cycles(&mut a, 20, INTERVAL);
    let log = agg.log();
    let ring = a.collector.ring();
    let s = ring.stats();
    assert!(s.acked > 0, "acks came back: {s:?}");
    assert!(s.dropped >= cycles - WINDOW, "{s:?}");
    assert_eq!(
        log.given_up, s.dropped,
        "the aggregator gave up exactly the frames the collector dropped"
    );
    let popped = ring.resend_floor()..ring.oldest_held();
    assert!(
        popped.clone().all(|q| log.stored.contains(&q)),
        "every frame counted acked and forgotten was stored"
    );
    assert!(s.acked <= log.stored.len() as u64, "{s:?}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_returning_aggregator_gets_the_backlog_paced_per_tick_not_per_ack() {
    let root = tiny_tree("paced");
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    let mut a = agent(&root, agg.addr, None, 1 << 20);
    for i in 0..300 {
        a.cycle(1_700_000_000_000 + i);
    }
    // Everything has timed out when the aggregator comes back.
    std::thread::sleep(Duration::from_millis(a.policy.timeout_ms + 50));
    agg.set_present(true);
    let resent_before = a.collector.ring().stats().resent;
    let started = Instant::now();
    a.pump(Instant::now() + Duration::from_millis(350));
    let resent = a.collector.ring().stats().resent - resent_before;
    let ticks = started.elapsed().as_millis() as u64 / 100 + 1;
    // Each ack wakes the loop; the resends stay within max_per_tick per 100 ms tick.
    assert!(
        resent <= ticks * a.policy.max_per_tick as u64,
        "{resent} resends in {ticks} ticks"
    );
    assert!(resent > 0);
    assert!(a.linger(Duration::from_secs(10)), "the backlog drains");
    assert_eq!(agg.log().stored.len(), 300);
    std::fs::remove_dir_all(&root).unwrap();
}

/// A root with only `/proc/loadavg`: one small part per cycle.
fn tiny_tree(name: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("pimon-send-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/loadavg"), "0.52 0.58 0.59 1/123 4567\n").unwrap();
    root
}

#[test]
fn keyed_frames_and_acks_carry_valid_macs() {
    let key = test_key();
    let agg = FakeAggregator::start(Behaviour::DropEveryThird, Some(key.clone()));
    let mut a = agent(&fixture("pi4"), agg.addr, Some(key), BIG_RING);
    run_cycles(&mut a, 10, INTERVAL);
    assert!(a.linger(Duration::from_secs(10)));
    let log = agg.log();
    assert_eq!(log.bad_mac, 0);
    assert_eq!(log.stored.len() as u64, a.collector.ring().next_seq());
    assert_eq!(a.net.stats().ignored, 0, "every keyed ack verified");
}

#[test]
fn acks_with_a_wrong_key_are_ignored_and_frames_resent() {
    // The aggregator signs acks with another key (same id): the collector ignores them.
    let agg = FakeAggregator::start(
        Behaviour::Ack,
        Some(pimon_protocol::Key::new(7, b"other").unwrap()),
    );
    let mut a = agent(&fixture("pi4"), agg.addr, Some(test_key()), BIG_RING);
    run_cycles(&mut a, 3, INTERVAL);
    assert!(!a.linger(Duration::from_millis(300)), "nothing acked");
    assert_eq!(a.collector.ring().outstanding(), 9);
    assert_eq!(
        agg.log().stored.len(),
        0,
        "its MAC check refused our frames"
    );
}

#[test]
fn acks_for_another_boot_or_node_are_ignored() {
    use pimon_protocol::Ack;
    let agg = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut a = agent(&fixture("pi4"), agg.local_addr().unwrap(), None, BIG_RING);
    a.cycle(1);
    let mut buf = [0u8; 1500];
    // The Pi 4 fixture's cycle is three datagrams.
    let (_, from) = agg.recv_from(&mut buf).unwrap();
    agg.recv_from(&mut buf).unwrap();
    agg.recv_from(&mut buf).unwrap();
    for (node, boot) in [("pi4", 0xb008), ("pi5", 0xb007)] {
        let ack = Ack {
            node,
            boot_id: boot,
            acked_below: 3,
            seen_below: 3,
            gaps: heapless::Vec::new(),
            key_id: None,
        };
        let n = ack.emit(&mut buf, None).unwrap();
        agg.send_to(&buf[..n], from).unwrap();
        assert!(!a.receive(Duration::from_secs(2)));
    }
    assert_eq!(a.collector.ring().outstanding(), 3);
    assert_eq!(a.net.stats().ignored, 2);
    let ack = Ack {
        node: "pi4",
        boot_id: 0xb007,
        acked_below: 3,
        seen_below: 3,
        gaps: heapless::Vec::new(),
        key_id: None,
    };
    let n = ack.emit(&mut buf, None).unwrap();
    agg.send_to(&buf[..n], from).unwrap();
    assert!(a.receive(Duration::from_secs(2)));
    assert!(a.collector.ring().is_empty());
}

/// An aggregator whose window for this boot is wrong (a forged frame moved it a
/// million ahead, or its saved state was damaged) acks numbers the collector never
/// sent. The collector answers with the resync flag on its new frames; an aggregator
/// that honours it (as pimon's does, docs/PROTOCOL.md 6.4) rebuilds its window from
/// their resend floor, and everything is stored.
#[test]
fn a_nonsensical_ack_is_answered_with_a_resync_and_nothing_is_lost() {
    use pimon_protocol::{Accept, Ack, DataFrame, MAX_DATAGRAM, SeqWindow};
    use std::sync::{Arc, Mutex};
    let agg = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    agg.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let addr = agg.local_addr().unwrap();
    let stored = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let resyncs = Arc::new(Mutex::new(0u32));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (st, rs, sp) = (stored.clone(), resyncs.clone(), stop.clone());
    let server = std::thread::spawn(move || {
        let mut window = SeqWindow::restore(1_000_000, 1_000_000);
        window.accept(1_000_000);
        let mut buf = [0u8; 2048];
        while !sp.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, from)) = agg.recv_from(&mut buf) else {
                continue;
            };
            let Ok(f) = DataFrame::parse(&buf[..n]) else {
                continue;
            };
            let h = f.header;
            if f.resync() && window.highest().is_some_and(|top| h.seq < top) {
                window.reset(h.resend_floor);
                *rs.lock().unwrap() += 1;
            }
            window.raise_floor(h.resend_floor);
            if window.accept(h.seq).0 == Accept::New {
                st.lock().unwrap().insert(h.seq);
            }
            let (acked_below, seen_below, gaps) = window.ack();
            let ack = Ack {
                node: h.node,
                boot_id: h.boot_id,
                acked_below,
                seen_below,
                gaps,
                key_id: None,
            };
            let mut out = [0u8; MAX_DATAGRAM];
            let len = ack.emit(&mut out, None).unwrap();
            let _ = agg.send_to(&out[..len], from);
        }
    });
    let mut a = agent(&fixture("pi4"), addr, None, BIG_RING);
    run_cycles(&mut a, 10, INTERVAL);
    let lingered = a.linger(Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert!(lingered, "everything acked in the end");
    assert!(!a.collector.ring().resyncing());
    assert_eq!(*resyncs.lock().unwrap(), 1, "one resync was enough");
    let sent = a.collector.ring().next_seq();
    assert_eq!(
        stored.lock().unwrap().iter().copied().collect::<Vec<_>>(),
        all(sent),
        "every frame stored"
    );
    assert_eq!(a.collector.ring().stats().dropped, 0);
}
