//! Hostile senders against a running server over real UDP on loopback, beside an honest
//! node: forged datagrams (a new boot id, a sequence number far ahead, a replay from two
//! boots back) from another address do not silence the node; acks that confirm nothing
//! new are rate-limited per destination; an ack to an unauthenticated sender is never
//! larger than its datagram; node names with control characters are refused and counted;
//! a wrong window is rebuilt when the node's collector asks for a resync.
//!
//! The attacker's socket is bound to 127.0.0.2 (any 127/8 address is loopback on
//! Linux), the honest node's to 127.0.0.1: different addresses, as on a LAN.

mod frames;
mod running;

use std::net::UdpSocket;
use std::time::Duration;

use frames::{Frame, ack_bytes};
use pimon_aggregator::server::now_ms;
use pimon_aggregator::stats::get;
use running::{Running, client, local_config, metrics, recv, send_for_ack, wait_until};

fn attacker() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.2:0")
        .expect("binding 127.0.0.2 (loopback /8) is needed for a second address");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// The value of an unlabelled or fully labelled sample line `name{…} value`.
fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn forged_datagrams_from_another_address_do_not_silence_a_node() {
    let server = Running::start(local_config());
    let honest = client();
    let evil = attacker();
    let now = now_ms();
    let mut seq = 0;
    let honest_frame = |boot: u64, seq: u64| {
        let ack = send_for_ack(
            &honest,
            server.udp,
            &Frame::pi("pi").boot(boot).seq(seq).at(now).bytes(),
        );
        assert_eq!(
            ack,
            ack_bytes("pi", boot, seq + 1, seq + 1, &[], None),
            "seq {seq}"
        );
    };
    // The node restarts twice (same address, new boot ids): boot 7, 8, then 9.
    let recorded = Frame::pi("pi").boot(7).seq(1).at(now).bytes();
    honest_frame(7, 0);
    honest_frame(7, 1);
    honest_frame(8, 0);
    honest_frame(9, 0);
    seq += 1;
    let forgeries = [
        // A new random boot id.
        Frame::pi("pi").boot(0x5eed_f00d).seq(0).at(now).bytes(),
        // The current boot id, a million ahead.
        Frame::pi("pi")
            .boot(9)
            .seq(1_000_000)
            .floor(999_999)
            .at(now)
            .bytes(),
        // A recording from two boots back.
        recorded,
    ];
    for forged in &forgeries {
        evil.send_to(forged, server.udp).unwrap();
        assert_eq!(recv(&evil), None, "no ack for a forged frame");
        honest_frame(9, seq);
        seq += 1;
    }
    let text = metrics(server.http);
    assert_eq!(
        sample(&text, "pimon_node_frames_missing_total{instance=\"pi\"}"),
        Some(0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "pimon_node_frames_received_total{instance=\"pi\"}"),
        Some(4 + forgeries.len() as u64)
    );
    assert_eq!(sample(&text, "pimon_aggregator_replays_total"), Some(1));
    assert_eq!(
        sample(
            &text,
            "pimon_node_frames_unconfirmed_total{instance=\"pi\"}"
        ),
        Some(2)
    );
}

#[test]
fn acks_that_confirm_nothing_new_are_rate_limited_per_destination() {
    let server = Running::start(local_config());
    let sock = client();
    let f = Frame::pi("pi").seq(0).at(now_ms()).bytes();
    send_for_ack(&sock, server.udp, &f);
    // The same frame 300 times (a replayed capture aimed at this address), spaced so
    // that most arrive in batches of their own (acks are coalesced per batch).
    let start = std::time::Instant::now();
    for _ in 0..300 {
        sock.send_to(&f, server.udp).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(wait_until(Duration::from_secs(10), || get(&server
        .stats
        .datagrams_received)
        >= 301));
    let elapsed = start.elapsed().as_secs_f64();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut acks = 0u64;
    while recv(&sock).is_some() {
        acks += 1;
    }
    let text = metrics(server.http);
    let limited = sample(
        &text,
        "pimon_aggregator_acks_limited_total{reason=\"rate\"}",
    )
    .unwrap();
    println!("{acks} acks, {limited} held back, for 300 duplicates in {elapsed:.2} s");
    // At most the burst (40) plus what the rate (20/s) refilled meanwhile.
    let most = 40 + (20.0 * (elapsed + 1.0)) as u64;
    assert!(
        acks <= most,
        "{acks} acks for 300 duplicates in {elapsed:.2} s"
    );
    assert!(limited >= 300 - most - 100, "{limited} limited; {text}");
    assert!(acks + limited <= 300);
    // A new frame is always acked.
    let ack = send_for_ack(
        &sock,
        server.udp,
        &Frame::pi("pi").seq(1).at(now_ms()).bytes(),
    );
    assert_eq!(ack, ack_bytes("pi", 7, 2, 2, &[], None));
}

#[test]
fn an_ack_to_an_unauthenticated_sender_is_never_larger_than_its_datagram() {
    let server = Running::start(local_config());
    let sock = client();
    let now = now_ms();
    // 16 gaps: every other frame.
    for seq in (0..=32).step_by(2) {
        send_for_ack(&sock, server.udp, &Frame::pi("pi").seq(seq).at(now).bytes());
    }
    let tiny = Frame::new("pi").seq(34).at(now).bytes();
    let ack = send_for_ack(&sock, server.udp, &tiny);
    assert!(ack.len() <= tiny.len(), "{} > {}", ack.len(), tiny.len());
    let text = metrics(server.http);
    assert!(
        sample(
            &text,
            "pimon_aggregator_acks_limited_total{reason=\"size\"}"
        )
        .unwrap()
            >= 1,
        "{text}"
    );
}

#[test]
fn node_names_with_control_characters_are_refused_and_counted() {
    let server = Running::start(local_config());
    let sock = client();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut f = Frame::pi("evilX").at(now_ms()).bytes();
    let at = f.iter().position(|&b| b == b'X').unwrap();
    f[at] = 0;
    sock.send_to(&f, server.udp).unwrap();
    assert_eq!(recv(&sock), None);
    assert!(wait_until(Duration::from_secs(5), || {
        sample(
            &metrics(server.http),
            "pimon_aggregator_decode_errors_total{error=\"node_name_control_char\"}",
        ) == Some(1)
    }));
    assert_eq!(server.ingest.lock().unwrap().store.node_count(), 0);
}

#[test]
fn a_resync_from_the_nodes_address_rebuilds_a_wrong_window() {
    let server = Running::start(local_config());
    let sock = client();
    let now = now_ms();
    send_for_ack(&sock, server.udp, &Frame::pi("pi").seq(0).at(now).bytes());
    // The window went wrong (as a forged frame from the node's own address, or a
    // damaged state file, would leave it): a million ahead.
    {
        let mut ing = server.ingest.lock().unwrap();
        let w = &mut ing.store.get_mut("pi").unwrap().meta.current.window;
        *w = pimon_aggregator::window::Window::restore(1_000_000, 1_000_000);
        w.accept(1_000_000);
    }
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("pi").seq(1).at(now).bytes());
    assert_eq!(
        ack,
        ack_bytes("pi", 7, 1_000_001, 1_000_001, &[], None),
        "nonsense"
    );
    // The collector's next cycle asks for a resync; from another address it is held...
    let evil = attacker();
    let resync = Frame::pi("pi").seq(3).floor(1).at(now).resync().bytes();
    evil.send_to(&resync, server.udp).unwrap();
    assert_eq!(recv(&evil), None);
    // ...from the node's own, taken: 1 and 2 are asked for, 3 is stored.
    let ack = send_for_ack(&sock, server.udp, &resync);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 4, &[(1, 2)], None));
    send_for_ack(
        &sock,
        server.udp,
        &Frame::pi("pi").seq(1).floor(1).at(now).bytes(),
    );
    let ack = send_for_ack(
        &sock,
        server.udp,
        &Frame::pi("pi").seq(2).floor(1).at(now).bytes(),
    );
    assert_eq!(ack, ack_bytes("pi", 7, 4, 4, &[], None));
    let text = metrics(server.http);
    assert_eq!(
        sample(&text, "pimon_node_frames_missing_total{instance=\"pi\"}"),
        Some(0)
    );
}
