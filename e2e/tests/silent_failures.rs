//! The failures a new user meets first must not be silent: with the real binaries, a
//! collector whose frames go nowhere (wrong port, aggregator down) or are refused (bad
//! MAC, missing MAC, wrong key id) logs a warning naming the likely causes within a
//! bounded time, and `pimon-collector --check` reports the round trip (acked, refused
//! with the reason, nothing listening). A forged refusal changes only the log line:
//! the collector keeps sending and keeps its frames.
//!
//! Collectors run every second here, so "no ack for 3 intervals" is 3 s; the bound
//! each test waits for is 3 intervals plus generous slack for a loaded CI machine.

use std::fs;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::pimon::{AggregatorSetup, CollectorSetup, free_udp_port};
use pimon_e2e::process::Proc;
use pimon_e2e::{fixture, wait};
use pimon_protocol::{DataFrame, Reason, Refusal};

/// How long a collector at `--interval 1s` may take to report a silence.
const WARN_WITHIN: Duration = Duration::from_secs(15);
/// The warning's start.
const NO_ACK: &str = "no ack from the aggregator";

const SECRET: &str = "base64:c2VjcmV0LXNlY3JldA==";
const OTHER_SECRET: &str = "base64:b3RoZXItc2VjcmV0";

fn collector(aggregator: std::net::SocketAddr, node: &str, extra: &[&str]) -> CollectorSetup {
    CollectorSetup::new(
        &Launcher::host(Program::Collector),
        &fixture("pi4"),
        node,
        aggregator,
    )
    .interval("1s")
    .args(&["--linger", "0s"])
    .args(extra)
}

/// Waits until the collector's stderr has a line containing every word of `words`;
/// returns that line.
fn wait_for_line(proc: &mut Proc, words: &[&str], within: Duration) -> String {
    wait::until(
        within,
        &format!("a collector log line with {words:?}"),
        || {
            let stderr = proc.stderr();
            match stderr.lines().find(|l| words.iter().all(|w| l.contains(w))) {
                Some(line) => Ok(line.to_string()),
                None if !proc.is_running() => {
                    Err(format!("the collector exited\n{}", proc.output_report()))
                }
                None => Err(proc.output_report()),
            }
        },
    )
}

fn key_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).expect("write key file");
    path.display().to_string()
}

#[test]
fn a_wrong_port_is_logged_with_the_likely_causes_and_check_says_nothing_listens() {
    let nobody: std::net::SocketAddr = ([127, 0, 0, 1], free_udp_port()).into();
    let mut c = collector(nobody, "wrongport", &[]).start();
    let start = Instant::now();
    let line = wait_for_line(&mut c.proc, &[NO_ACK, "likely causes", "down"], WARN_WITHIN);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "warned before 3 intervals had passed: {line}"
    );
    assert!(
        line.contains(&nobody.to_string()),
        "names the address: {line}"
    );
    c.stop(Duration::from_secs(10));

    let out = check(nobody, "wrongport", &[]);
    assert!(
        out.contains("round trip: refused by the host: nothing listens on that UDP port"),
        "{out}"
    );
}

#[test]
fn an_aggregator_down_is_logged_and_so_is_its_return() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let mut aggregator = setup.start();
    let mut c = collector(setup.udp(), "outage", &[]).start();
    let out = check(setup.udp(), "outage", &[]);
    assert!(out.contains("round trip: acked in "), "{out}");
    wait::until(
        Duration::from_secs(15),
        "the collector's frames stored",
        || match aggregator.line_protocol().contains("host=outage") {
            true => Ok(()),
            false => Err(aggregator.proc.output_report()),
        },
    );
    assert!(
        !c.proc.stderr().contains(NO_ACK),
        "warned while acked:\n{}",
        c.proc.output_report()
    );
    aggregator.stop(Duration::from_secs(20));
    wait_for_line(&mut c.proc, &[NO_ACK, "likely causes"], WARN_WITHIN);
    let _aggregator = setup.start();
    wait_for_line(
        &mut c.proc,
        &["acks are back after"],
        Duration::from_secs(20),
    );
    let stop = c.stop(Duration::from_secs(20));
    assert!(stop.acked > 0, "{}", stop.line);
}

/// Starts an aggregator that requires keys (`pi-*` nodes, key id 1), a collector with
/// `collector_key` (None: no key), and returns the warning it logs and its `--check`.
fn keyed_mismatch(node: &str, collector_key: Option<&str>) -> (String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = key_file(
        dir.path(),
        "aggregator.keys",
        &format!("{node} 1 {SECRET}\n"),
    );
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).args(&["--key-file", &keys]);
    let _aggregator = setup.start();
    let mut extra = Vec::new();
    let key;
    if let Some(text) = collector_key {
        key = key_file(dir.path(), "collector.key", text);
        extra = vec!["--key-file", key.as_str()];
    }
    let mut c = collector(setup.udp(), node, &extra).start();
    let line = wait_for_line(&mut c.proc, &[NO_ACK, "it refused"], WARN_WITHIN);
    c.stop(Duration::from_secs(10));
    let out = check(setup.udp(), node, &extra);
    (line, out)
}

#[test]
fn a_bad_mac_is_logged_and_checked() {
    let (line, check) = keyed_mismatch("pi-badmac", Some(&format!("1 {OTHER_SECRET}\n")));
    assert!(line.contains("bad MAC"), "{line}");
    assert!(check.contains("round trip: refused: bad MAC"), "{check}");
}

#[test]
fn a_missing_mac_is_logged_and_checked() {
    let (line, check) = keyed_mismatch("pi-nomac", None);
    assert!(line.contains("missing MAC"), "{line}");
    assert!(
        check.contains("round trip: refused: missing MAC"),
        "{check}"
    );
}

#[test]
fn a_wrong_key_id_is_logged_and_checked() {
    let (line, check) = keyed_mismatch("pi-keyid", Some(&format!("2 {SECRET}\n")));
    assert!(line.contains("wrong key id"), "{line}");
    assert!(
        check.contains("round trip: refused: wrong key id"),
        "{check}"
    );
}

#[test]
fn check_with_the_right_key_is_acked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = key_file(
        dir.path(),
        "aggregator.keys",
        &format!("pi-good 1 {SECRET}\n"),
    );
    let key = key_file(dir.path(), "collector.key", &format!("1 {SECRET}\n"));
    let mut setup =
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).args(&["--key-file", &keys]);
    let aggregator = setup.start();
    let out = check(setup.udp(), "pi-good", &["--key-file", &key]);
    assert!(out.contains("round trip: acked in "), "{out}");
    let lp = aggregator.line_protocol();
    assert!(!lp.contains("pi-good"), "a probe stores nothing: {lp}");
}

/// A fake aggregator that answers every frame with a forged refusal (bad MAC): the
/// collector logs the cause but keeps sending new frames and keeps every frame in its
/// ring (none is dropped or taken as acked).
#[test]
fn a_forged_refusal_neither_stops_sending_nor_drops_frames() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let addr = socket.local_addr().expect("addr");
    let mut c = collector(addr, "forged", &[]).start();
    let start = Instant::now();
    let mut frames = 0u64;
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(6) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Ok(frame) = DataFrame::parse(&buf[..n]) else {
            continue;
        };
        frames += 1;
        let refusal = Refusal {
            node: frame.header.node,
            boot_id: frame.header.boot_id,
            reason: Reason::BadMac,
        };
        let mut out = [0u8; 64];
        let len = refusal.emit(&mut out).expect("emit refusal");
        socket.send_to(&out[..len], from).expect("send refusal");
    }
    let line = wait_for_line(&mut c.proc, &[NO_ACK, "bad MAC"], WARN_WITHIN);
    assert!(line.contains("sending goes on"), "{line}");
    let stop = c.stop(Duration::from_secs(10));
    assert!(
        stop.sent >= 5,
        "the collector kept sending new frames after refusals: {}",
        stop.line
    );
    assert!(
        frames > stop.sent,
        "resends went on too ({frames} received): {}",
        stop.line
    );
    assert_eq!(stop.acked, 0, "{}", stop.line);
    assert_eq!(stop.dropped, 0, "{}", stop.line);
    assert_eq!(
        stop.unacknowledged, stop.sent,
        "every frame kept: {}",
        stop.line
    );
}

/// `pimon-collector --check` against `aggregator`: stdout and stderr.
fn check(aggregator: std::net::SocketAddr, node: &str, extra: &[&str]) -> String {
    let out = Command::new(pimon_e2e::binaries::host_binary(Program::Collector))
        .arg("--root")
        .arg(fixture("pi4"))
        .args(["--node", node, "--aggregator", &aggregator.to_string()])
        .args(extra)
        .arg("--check")
        .output()
        .expect("run pimon-collector --check");
    let text = format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = text.contains("round trip: refused:");
    assert_eq!(
        out.status.code(),
        Some(if refused { 1 } else { 0 }),
        "--check exits 1 when refused, 0 otherwise: {text}"
    );
    text
}
