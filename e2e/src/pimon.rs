//! pimon's own processes for a test: an aggregator on free 127.0.0.1 ports writing line
//! protocol to a file, and collectors pointed at it.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binaries::Launcher;
use crate::expect::Expected;
use crate::process::{self, Finished, Proc};
use crate::support::{http, servers::free_port};

/// How long an aggregator may take to answer `/metrics` after start (qemu is slow).
pub const AGGREGATOR_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times an aggregator start is tried (a free port may be taken meanwhile).
const START_ATTEMPTS: usize = 3;

/// A free UDP port on 127.0.0.1 (bound, then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind 127.0.0.1:0/udp to find a free port")
        .port()
}

/// A running `pimon-aggregator` listening on 127.0.0.1 only. Killed on drop.
pub struct Aggregator {
    /// The process.
    pub proc: Proc,
    /// Where frames go.
    pub udp: SocketAddr,
    /// Where `/metrics` is.
    pub http: SocketAddr,
    /// Its `--lp-out` file.
    pub lp_path: PathBuf,
    dir: TempDir,
}

impl Aggregator {
    /// Starts the aggregator with `--udp`, `--http` on free ports, `--lp-out` and
    /// `--spool-dir` in a temp dir, plus `extra` arguments; waits until `/metrics`
    /// answers. Panics with the reason (and the aggregator's output) if it cannot.
    pub fn start(launcher: &Launcher, extra: &[&str]) -> Aggregator {
        let mut errors = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Aggregator::try_start(launcher, extra) {
                Ok(a) => return a,
                Err(e) => errors.push(e),
            }
        }
        panic!(
            "cannot start the aggregator ({}):\n{}",
            launcher.description(),
            errors.join("\n---\n")
        );
    }

    fn try_start(launcher: &Launcher, extra: &[&str]) -> Result<Aggregator, String> {
        let dir = tempfile::Builder::new()
            .prefix("pimon-e2e-aggregator-")
            .tempdir()
            .expect("temp dir");
        let udp: SocketAddr = ([127, 0, 0, 1], free_udp_port()).into();
        let http_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let lp_path = dir.path().join("out.lp");
        let mut cmd = launcher.command();
        cmd.arg("--udp")
            .arg(udp.to_string())
            .arg("--http")
            .arg(http_addr.to_string())
            .arg("--lp-out")
            .arg(&lp_path)
            .arg("--spool-dir")
            .arg(dir.path().join("spool"))
            .args(extra);
        let mut proc = Proc::spawn("pimon-aggregator", cmd);
        let base = format!("http://{http_addr}");
        let start = Instant::now();
        loop {
            if !proc.is_running() {
                return Err(format!("exited early\n{}", proc.output_report()));
            }
            if http::probe(&base, "/metrics", Duration::from_secs(2)).is_ok_and(|r| r.status == 200)
            {
                break;
            }
            if start.elapsed() > AGGREGATOR_READY_TIMEOUT {
                return Err(format!(
                    "/metrics on {base} not answering after {AGGREGATOR_READY_TIMEOUT:?}\n{}",
                    proc.output_report()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
        Ok(Aggregator {
            proc,
            udp,
            http: http_addr,
            lp_path,
            dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// `host:port` of `/metrics`, as a Prometheus target.
    pub fn target(&self) -> String {
        self.http.to_string()
    }

    /// `GET /metrics`; panics unless 200.
    pub fn metrics(&self) -> String {
        let r = http::get(&self.base_url(), "/metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.body_text());
        r.body_text().to_string()
    }

    /// The line protocol written so far.
    pub fn line_protocol(&self) -> String {
        fs::read_to_string(&self.lp_path).unwrap_or_default()
    }

    /// The aggregator's temp dir (spool, line protocol).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Arguments of a collector reading `root` as node `node` and sending to `aggregator`
/// every second.
pub fn collector_args(root: &Path, node: &str, aggregator: SocketAddr) -> Vec<String> {
    vec![
        "--root".into(),
        root.display().to_string(),
        "--node".into(),
        node.into(),
        "--aggregator".into(),
        aggregator.to_string(),
        "--interval".into(),
        "1s".into(),
    ]
}

/// Runs a collector for `cycles` cycles (it then lingers until its frames are acked and
/// exits) within `timeout`; panics if it does not finish in time.
pub fn run_collector_cycles(
    launcher: &Launcher,
    root: &Path,
    node: &str,
    aggregator: SocketAddr,
    cycles: u32,
    timeout: Duration,
) -> Finished {
    let mut cmd = launcher.command();
    cmd.args(collector_args(root, node, aggregator))
        .arg("--cycles")
        .arg(cycles.to_string());
    process::run(
        &format!("pimon-collector ({})", launcher.description()),
        cmd,
        timeout,
    )
}

/// Starts a collector that runs until the handle drops.
pub fn start_collector(
    launcher: &Launcher,
    root: &Path,
    node: &str,
    aggregator: SocketAddr,
) -> Proc {
    let mut cmd = launcher.command();
    cmd.args(collector_args(root, node, aggregator));
    Proc::spawn(&format!("pimon-collector {node}"), cmd)
}

/// Waits up to `timeout` until the aggregator's `/metrics` and line protocol match
/// `expected`; panics with every mismatch (and the aggregator's output) otherwise.
pub fn assert_arrives(
    aggregator: &Aggregator,
    expected: &Expected,
    timeout: Duration,
    context: &str,
) {
    let start = Instant::now();
    loop {
        let mut problems = expected.check_prometheus(&aggregator.metrics());
        problems.extend(expected.check_line_protocol(&aggregator.line_protocol()));
        if problems.is_empty() {
            return;
        }
        if start.elapsed() > timeout {
            panic!(
                "{context}: {} mismatch(es) after {timeout:?}:\n{}\n{}",
                problems.len(),
                problems.join("\n"),
                aggregator.proc.output_report()
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}
