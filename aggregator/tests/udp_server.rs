//! The whole server over real sockets (mini-redis style: bind 127.0.0.1:0, run with a
//! shutdown future): frames over UDP get the exact ack bytes back, `/metrics` shows
//! them, keyed frames, IPv6, and a shutdown that flushes `--lp-out`.

mod frames;
mod running;

use std::time::Duration;

use frames::{Frame, ack_bytes};
use pimon_aggregator::influx::{LpFileConfig, LpTarget};
use pimon_aggregator::server::now_ms;
use pimon_protocol::{Ack, Key, Reason, Refusal};
use running::{Running, client, local_config, metrics, recv, send_for_ack, wait_until};

#[test]
fn frames_over_udp_are_acked_exactly_and_shown_on_metrics() {
    let server = Running::start(local_config());
    let sock = client();
    let now = now_ms();
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("pi-1").seq(0).at(now).bytes());
    assert_eq!(ack, ack_bytes("pi-1", 7, 1, 1, &[], None));
    // seq 2 before 1: a gap.
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("pi-1").seq(2).at(now).bytes());
    assert_eq!(ack, ack_bytes("pi-1", 7, 1, 3, &[(1, 1)], None));
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("pi-1").seq(1).at(now).bytes());
    assert_eq!(ack, ack_bytes("pi-1", 7, 3, 3, &[], None));

    let text = metrics(server.http);
    let node_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("node_")).collect();
    assert_eq!(
        node_lines,
        [
            "node_cpu_seconds_total{instance=\"pi-1\",cpu=\"0\",mode=\"user\"} 1.5",
            "node_cpu_seconds_total{instance=\"pi-1\",cpu=\"0\",mode=\"system\"} 0.5",
            "node_load1{instance=\"pi-1\"} 0.25",
            "node_network_receive_bytes_total{instance=\"pi-1\",device=\"eth0\"} 1234",
        ]
    );
    assert!(text.contains("\npimon_node_up{instance=\"pi-1\"} 1\n"));
    assert!(text.contains("\npimon_node_frames_received_total{instance=\"pi-1\"} 3\n"));
    assert!(text.contains("\npimon_aggregator_datagrams_received_total 3\n"));
    assert!(text.contains("\npimon_aggregator_acks_sent_total 3\n"));
    assert!(
        text.contains("pimon_aggregator_udp_kernel_drops_total{listen=\"127.0.0.1:"),
        "{text}"
    );
    server.stop().unwrap();
}

#[test]
fn keyed_server_acks_good_macs_with_mac_and_refuses_bad_ones_without() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "pi 3 hex:0102030405060708\n").unwrap();
    let mut config = local_config();
    config.key_file = Some(keys);
    let server = Running::start(config);
    let key = Key::new(3, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let sock = client();
    let now = now_ms();
    let ack = send_for_ack(
        &sock,
        server.udp,
        &Frame::pi("pi").at(now).bytes_with(Some(&key)),
    );
    assert_eq!(ack, ack_bytes("pi", 7, 1, 1, &[], Some(&key)));
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let wrong = Key::new(3, b"nope").unwrap();
    sock.send_to(
        &Frame::pi("pi").seq(1).at(now).bytes_with(Some(&wrong)),
        server.udp,
    )
    .unwrap();
    sock.send_to(&Frame::pi("pi").seq(1).at(now).bytes(), server.udp)
        .unwrap();
    // No ack: refusals (unauthenticated) naming the reason; two datagrams of one node
    // from one address in one receive batch get one answer, the last.
    let first = recv(&sock).expect("a refusal for the bad MAC");
    let mut reasons = vec![
        Refusal::parse(&first)
            .expect("a refusal, not an ack")
            .reason,
    ];
    if let Some(second) = recv(&sock) {
        reasons.push(
            Refusal::parse(&second)
                .expect("a refusal, not an ack")
                .reason,
        );
    }
    assert!(reasons.contains(&Reason::MissingMac), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| [Reason::BadMac, Reason::MissingMac].contains(r))
    );
    let text = metrics(server.http);
    assert!(
        text.contains("pimon_aggregator_auth_failures_total{reason=\"bad_mac\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("pimon_aggregator_auth_failures_total{reason=\"missing_mac\"} 1\n"));
}

#[test]
fn key_file_is_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "pi 1 hex:01\n").unwrap();
    let mut config = local_config();
    config.key_file = Some(keys.clone());
    let server = Running::start(config);
    let sock = client();
    let new_key = Key::new(2, &[2]).unwrap();
    // Not yet known: no ack, a refusal (wrong key id).
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    sock.send_to(
        &Frame::pi("pi").at(now_ms()).bytes_with(Some(&new_key)),
        server.udp,
    )
    .unwrap();
    let answer = recv(&sock).expect("a refusal");
    assert_eq!(
        Refusal::parse(&answer).map(|r| r.reason),
        Ok(Reason::WrongKeyId)
    );
    std::fs::write(&keys, "pi 1 hex:01\npi 2 hex:02\n").unwrap();
    let acked = wait_until(Duration::from_secs(10), || {
        sock.send_to(
            &Frame::pi("pi").at(now_ms()).bytes_with(Some(&new_key)),
            server.udp,
        )
        .unwrap();
        recv(&sock).is_some_and(|d| Ack::parse(&d).is_ok())
    });
    assert!(acked, "the new key was not picked up");
}

#[test]
fn ipv6_listener_receives_and_acks() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        panic!("IPv6 loopback is not available on this machine; this test needs it");
    }
    let mut config = local_config();
    config.udp = vec!["[::1]:0".parse().unwrap()];
    let server = Running::start(config);
    let sock = std::net::UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("v6").at(now_ms()).bytes());
    assert_eq!(ack, ack_bytes("v6", 7, 1, 1, &[], None));
}

#[test]
fn lp_out_file_holds_the_lines_of_a_frame_once_it_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.lp");
    let mut config = local_config();
    config.lp_out = Some(LpFileConfig {
        flush_interval: Duration::from_secs(3600), // stdout only: a file is not buffered
        ..LpFileConfig::new(LpTarget::File(path.clone()))
    });
    config.ingest.precision = pimon_protocol::text::influx::Precision::Seconds;
    let server = Running::start(config);
    let sock = client();
    // Live frames must carry the current time (else the receive time replaces it);
    // rounded to a second so the expected lines are exact.
    let ts = now_ms() / 1000 * 1000;
    let s = ts / 1000;
    let expected: String = [s, s + 1]
        .iter()
        .map(|s| {
            format!(
                "system,host=pi load1=0.25 {s}\ncpu,cpu=cpu0,host=pi time_user=1.5,time_system=0.5 {s}\nnet,host=pi,interface=eth0 bytes_recv=1234i {s}\n"
            )
        })
        .collect();
    send_for_ack(&sock, server.udp, &Frame::pi("pi").seq(0).at(ts).bytes());
    send_for_ack(
        &sock,
        server.udp,
        &Frame::pi("pi").seq(1).at(ts + 1000).bytes(),
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        expected,
        "in the file when acked"
    );
    server.stop().unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}
