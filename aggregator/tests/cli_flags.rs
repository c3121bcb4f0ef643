//! The real binary's command line and log lines: an unknown flag, a flag without its
//! value and a malformed value are errors (exit 2) naming the flag and, for a value,
//! the form expected; log lines have the collector's shape (level word on a terminal,
//! syslog priority prefix under journald) and `--log-level` holds back the lines above
//! it.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pimon-aggregator");

/// Runs the binary to completion: (exit code, stderr).
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run pimon-aggregator");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(args: &[&str], says: &[&str]) {
    let (code, stderr) = refused(args);
    assert_eq!(code, Some(2), "pimon-aggregator {args:?}: {stderr}");
    for s in says {
        assert!(
            stderr.contains(s),
            "pimon-aggregator {args:?}: stderr lacks {s:?}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("(see pimon-aggregator --help)"),
        "{args:?}: {stderr}"
    );
}

#[test]
fn aggregator_unknown_flag_is_an_error() {
    assert_refused(&["--bogus"], &["--bogus"]);
    assert_refused(
        &["--udp", "127.0.0.1:0", "--influx-dbb", "x"],
        &["--influx-dbb"],
    );
    assert_refused(&["-x"], &["-x"]);
}

#[test]
fn aggregator_flag_without_value_names_it() {
    for flag in [
        "--udp",
        "--config",
        "--log-level",
        "--max-nodes",
        "--status-history",
    ] {
        assert_refused(&[flag], &[flag]);
    }
}

#[test]
fn aggregator_malformed_value_names_flag_and_form() {
    assert_refused(&["--udp", "nonsense"], &["--udp", "nonsense"]);
    assert_refused(&["--max-nodes", "many"], &["--max-nodes", "number"]);
    assert_refused(&["--status-history", "10"], &["--status-history", "60s"]);
    assert_refused(
        &["--log-level", "loud"],
        &["--log-level", "error, warning, notice, info or debug"],
    );
    assert_refused(&["--precision", "x"], &["--precision", "ns, us, ms or s"]);
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts the aggregator (UDP and HTTP on loopback), waits until /metrics accepts a
/// connection, stops it with SIGKILL and returns what it wrote to stderr.
fn stderr_of_a_start(extra: &[&str], journal: bool) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("stderr");
    let http = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--udp",
        "127.0.0.1:0",
        "--http",
        &http,
        "--state-dir",
        "off",
    ])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("stderr file"))
    .env_remove("JOURNAL_STREAM");
    if journal {
        cmd.env("JOURNAL_STREAM", "8:12345");
    }
    let mut child = cmd.spawn().expect("start pimon-aggregator");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&http).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "pimon-aggregator did not listen on {http} within 20 s: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The start line is written before the listeners serve; give it a moment anyway.
    std::thread::sleep(Duration::from_millis(100));
    child.kill().expect("kill");
    child.wait().expect("wait");
    std::fs::read_to_string(&log).expect("read stderr")
}

#[test]
fn aggregator_log_lines_have_the_collectors_shape_and_level() {
    let terminal = stderr_of_a_start(&[], false);
    assert!(
        terminal
            .lines()
            .any(|l| l.starts_with("notice: receiving on udp [")),
        "{terminal}"
    );
    let journal = stderr_of_a_start(&[], true);
    assert!(
        journal
            .lines()
            .any(|l| l.starts_with("<5>receiving on udp [")),
        "{journal}"
    );
    let quiet = stderr_of_a_start(&["--log-level", "warning"], false);
    assert!(!quiet.contains("receiving on"), "{quiet}");
}
