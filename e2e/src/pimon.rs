//! pimon's own processes for a test: an aggregator on fixed 127.0.0.1 ports writing
//! line protocol to a file (restartable on the same ports, spool and file: stopped
//! with SIGTERM, killed with SIGKILL, started again), and collectors pointed at it (or
//! at a chaos proxy) that run a few cycles, or until stopped with SIGTERM, when their
//! closing log line tells what they sent, resent, dropped and left unacknowledged.

use std::ffi::OsString;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::binaries::Launcher;
use crate::clock::FakeClock;
use crate::expect::Expected;
use crate::process::{self, Finished, Proc, Usage};
use crate::scrape::Scrape;
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

/// How to run an aggregator, kept so it can be started again after a stop or a crash
/// with the same ports, temp dir, line-protocol file and spool.
pub struct AggregatorSetup {
    launcher: Launcher,
    dir: Arc<TempDir>,
    udp: SocketAddr,
    http: SocketAddr,
    lp_path: PathBuf,
    lp_out: bool,
    args: Vec<OsString>,
    started: bool,
}

impl AggregatorSetup {
    /// `--udp`, `--http` on free 127.0.0.1 ports, `--lp-out DIR/out.lp` and
    /// `--spool-dir DIR/spool` in a new temp dir.
    pub fn new(launcher: &Launcher) -> AggregatorSetup {
        let dir = tempfile::Builder::new()
            .prefix("pimon-e2e-aggregator-")
            .tempdir()
            .expect("temp dir");
        let lp_path = dir.path().join("out.lp");
        AggregatorSetup {
            launcher: launcher.clone(),
            udp: ([127, 0, 0, 1], free_udp_port()).into(),
            http: ([127, 0, 0, 1], free_port()).into(),
            lp_path,
            lp_out: true,
            dir: Arc::new(dir),
            args: Vec::new(),
            started: false,
        }
    }

    /// Adds arguments.
    pub fn args<S: Into<OsString> + Clone>(mut self, args: &[S]) -> AggregatorSetup {
        self.args.extend(args.iter().cloned().map(Into::into));
        self
    }

    /// Writes `--lp-out` to `path` instead (a file on a small filesystem, say).
    pub fn lp_out_at(mut self, path: &Path) -> AggregatorSetup {
        self.lp_path = path.to_path_buf();
        self
    }

    /// No `--lp-out` (a long soak would fill the disk with it).
    pub fn without_lp_out(mut self) -> AggregatorSetup {
        self.lp_out = false;
        self
    }

    /// An InfluxDB 1.x output: `--influx-url URL --influx-db DB`, spooling in
    /// [`AggregatorSetup::spool_dir`].
    pub fn influx(self, url: &str, db: &str) -> AggregatorSetup {
        self.args(&["--influx-url", url, "--influx-db", db])
    }

    /// A config file with `toml` (`--config DIR/aggregator.toml`).
    pub fn config(self, toml: &str) -> AggregatorSetup {
        let path = self.dir.path().join("aggregator.toml");
        fs::write(&path, toml).expect("write aggregator.toml");
        let path = path.into_os_string();
        self.args(&[OsString::from("--config"), path])
    }

    /// The temp dir (spool, line protocol, config).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR/spool`, the `--spool-dir` of the command-line InfluxDB output.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// The `--lp-out` file.
    pub fn lp_path(&self) -> &Path {
        &self.lp_path
    }

    /// Where frames go (the same on every start).
    pub fn udp(&self) -> SocketAddr {
        self.udp
    }

    /// Starts it and waits until `/metrics` answers; panics with the reason (and the
    /// aggregator's output) if it cannot. The first start may move to other free
    /// ports if one was taken meanwhile; a restart keeps them.
    pub fn start(&mut self) -> Aggregator {
        let mut errors = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match self.try_start() {
                Ok(a) => {
                    self.started = true;
                    return a;
                }
                Err(e) => errors.push(e),
            }
            if !self.started {
                self.udp = ([127, 0, 0, 1], free_udp_port()).into();
                self.http = ([127, 0, 0, 1], free_port()).into();
            } else {
                thread::sleep(Duration::from_millis(500));
            }
        }
        panic!(
            "cannot start the aggregator ({}):\n{}",
            self.launcher.description(),
            errors.join("\n---\n")
        );
    }

    fn try_start(&self) -> Result<Aggregator, String> {
        let mut cmd = self.launcher.command();
        cmd.arg("--udp")
            .arg(self.udp.to_string())
            .arg("--http")
            .arg(self.http.to_string())
            .arg("--spool-dir")
            .arg(self.spool_dir());
        if self.lp_out {
            cmd.arg("--lp-out").arg(&self.lp_path);
        }
        cmd.args(&self.args);
        let mut proc = Proc::spawn("pimon-aggregator", cmd);
        let base = format!("http://{}", self.http);
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
            thread::sleep(Duration::from_millis(50));
        }
        Ok(Aggregator {
            proc,
            udp: self.udp,
            http: self.http,
            lp_path: self.lp_path.clone(),
            dir: Arc::clone(&self.dir),
        })
    }
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
    dir: Arc<TempDir>,
}

impl Aggregator {
    /// Starts an aggregator with `--udp`, `--http` on free ports, `--lp-out` and
    /// `--spool-dir` in a temp dir, plus `extra` arguments; waits until `/metrics`
    /// answers. Panics with the reason (and the aggregator's output) if it cannot.
    pub fn start(launcher: &Launcher, extra: &[&str]) -> Aggregator {
        AggregatorSetup::new(launcher).args(extra).start()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// `host:port` of `/metrics`, as a Prometheus target.
    pub fn target(&self) -> String {
        self.http.to_string()
    }

    /// `GET /metrics` (within 30 s); panics unless 200.
    pub fn metrics(&self) -> String {
        crate::scrape::fetch(self.http, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// `GET /metrics`, parsed.
    pub fn scrape(&self) -> Scrape {
        Scrape::parse(&self.metrics())
    }

    /// The line protocol written so far.
    pub fn line_protocol(&self) -> String {
        fs::read_to_string(&self.lp_path).unwrap_or_default()
    }

    /// The aggregator's temp dir (spool, line protocol).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Memory and descriptors now.
    pub fn usage(&mut self) -> Usage {
        let report = self.proc.output_report();
        self.proc
            .usage()
            .unwrap_or_else(|| panic!("the aggregator is not running\n{report}"))
    }

    /// SIGTERM (drain, flush, exit) and wait; panics unless it exits 0 within
    /// `timeout`.
    pub fn stop(&mut self, timeout: Duration) {
        let status = self.proc.terminate(timeout);
        assert!(
            status.success(),
            "the aggregator did not stop cleanly on SIGTERM: {status}\n{}",
            self.proc.output_report()
        );
    }

    /// `kill -9`: a crash, nothing flushed.
    pub fn crash(&mut self) {
        self.proc.kill();
    }

    /// Panics with its output if it is not running (it crashed or exited).
    pub fn assert_running(&mut self, context: &str) {
        if !self.proc.is_running() {
            panic!(
                "{context}: the aggregator is not running\n{}",
                self.proc.output_report()
            );
        }
    }
}

/// One cycle of the host collector on `root` as `--once --print prom` prints it (node
/// `node`; nothing is sent): what the node_exporter comparisons read.
pub fn print_prom(root: &Path, node: &str) -> String {
    print_prom_with(root, node, &[])
}

/// The host collector's `--print prom` on `root` against node_exporter 1.5 started with
/// `node_exporter_args`, over the families starting with one of `prefixes`: the samples
/// (names, label sets, values) and the `# HELP` / `# TYPE` lines must be equal. The Pi
/// collector carries no help texts (its `--print prom` writes `# TYPE` only), so the
/// catalog's `# HELP` lines are added, as the aggregator writes them. Returns
/// node_exporter's samples.
pub fn assert_print_prom_equals_node_exporter(
    root: &Path,
    node: &str,
    prefixes: &[&str],
    node_exporter_args: &[&str],
) -> std::collections::BTreeMap<String, f64> {
    use crate::exposition::{family_of_key, samples_by_key};
    let ne = crate::support::peers::NodeExporter::start_with(node_exporter_args);
    let (theirs, their_meta) = samples_by_key(&String::from_utf8_lossy(&ne.page()), prefixes);
    let (mine, mut my_meta) = samples_by_key(&print_prom(root, node), prefixes);
    assert_eq!(mine, theirs, "{node}: samples differ");
    let their_families: std::collections::BTreeSet<&str> =
        theirs.keys().map(|k| family_of_key(k)).collect();
    for f in
        pimon_protocol::catalog::families().filter(|f| their_families.contains(f.first.prom_name))
    {
        my_meta.insert(format!("# HELP {} {}", f.first.prom_name, f.first.help));
    }
    assert_eq!(my_meta, their_meta, "{node}: # HELP / # TYPE lines differ");
    eprintln!("{node}: {} samples equal to node_exporter's", theirs.len());
    theirs
}

/// [`print_prom`] with more flags (`--config FILE`).
pub fn print_prom_with(root: &Path, node: &str, args: &[&std::ffi::OsStr]) -> String {
    let mut cmd = std::process::Command::new(crate::binaries::host_binary(
        crate::binaries::Program::Collector,
    ));
    cmd.arg("--root")
        .arg(root)
        .args(["--node", node, "--once", "--print", "prom"])
        .args(["--aggregator", "127.0.0.1:9797"])
        .args(args);
    let done = process::run("pimon-collector --print prom", cmd, Duration::from_secs(60));
    assert!(done.status.success(), "{}", done.report);
    done.stdout
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

/// How to run one collector: tree, node name, where to send, interval, extra flags and
/// optionally a [`FakeClock`].
#[derive(Clone, Debug)]
pub struct CollectorSetup {
    launcher: Launcher,
    root: PathBuf,
    node: String,
    aggregator: SocketAddr,
    interval: String,
    args: Vec<String>,
    clock: Option<PathBuf>,
}

impl CollectorSetup {
    /// `--root root --node node --aggregator aggregator --interval 100ms --linger 10s`.
    pub fn new(launcher: &Launcher, root: &Path, node: &str, aggregator: SocketAddr) -> Self {
        CollectorSetup {
            launcher: launcher.clone(),
            root: root.to_path_buf(),
            node: node.to_string(),
            aggregator,
            interval: "100ms".into(),
            args: vec!["--linger".into(), "10s".into()],
            clock: None,
        }
    }

    /// Another `--interval`.
    pub fn interval(mut self, interval: &str) -> Self {
        self.interval = interval.to_string();
        self
    }

    /// More flags (`--ring-bytes 16K`, `--key-file F`, …).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Its wall clock follows `clock`.
    pub fn clock(mut self, clock: &FakeClock) -> Self {
        self.clock = Some(clock.path().to_path_buf());
        self
    }

    /// The node name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Starts it.
    pub fn start(&self) -> Collector {
        let mut cmd = self.launcher.command();
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--node")
            .arg(&self.node)
            .arg("--aggregator")
            .arg(self.aggregator.to_string())
            .arg("--interval")
            .arg(&self.interval)
            .args(&self.args);
        if let Some(path) = &self.clock {
            cmd.env(crate::clock::OFFSET_FILE_VAR, path);
        }
        Collector {
            node: self.node.clone(),
            proc: Proc::spawn(&format!("pimon-collector {}", self.node), cmd),
        }
    }
}

/// A running collector. Killed on drop.
pub struct Collector {
    /// Its node name.
    pub node: String,
    /// The process.
    pub proc: Proc,
}

impl Collector {
    /// SIGTERM: it finishes the cycle, lingers for acks, logs its totals and exits 0.
    /// Panics unless that happens within `timeout`; returns the totals.
    pub fn stop(&mut self, timeout: Duration) -> StopLine {
        self.proc.signal(libc::SIGTERM);
        self.wait_stopped(timeout)
    }

    /// After a SIGTERM ([`Proc::signal`]): waits for the exit and returns the totals,
    /// as [`Collector::stop`] does.
    pub fn wait_stopped(&mut self, timeout: Duration) -> StopLine {
        let status: ExitStatus = self.proc.wait_or_panic(timeout);
        assert!(
            status.success(),
            "collector {} did not exit 0 on SIGTERM: {status}\n{}",
            self.node,
            self.proc.output_report()
        );
        StopLine::find(&self.proc.stderr()).unwrap_or_else(|| {
            panic!(
                "collector {}: no `stopping after …` line\n{}",
                self.node,
                self.proc.output_report()
            )
        })
    }

    /// Panics with its output if it is not running.
    pub fn assert_running(&mut self, context: &str) {
        if !self.proc.is_running() {
            panic!(
                "{context}: collector {} is not running\n{}",
                self.node,
                self.proc.output_report()
            );
        }
    }
}

/// A collector's closing line: `stopping after N cycle(s): S frames sent, R resent, A
/// acked, D dropped from the ring, U unacknowledged[ (lost on exit)]; …`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopLine {
    /// The line itself.
    pub line: String,
    /// Cycles run.
    pub cycles: u64,
    /// Frames sent (first sends).
    pub sent: u64,
    /// Frames resent.
    pub resent: u64,
    /// Frames acked.
    pub acked: u64,
    /// Frames dropped from the ring unacked.
    pub dropped: u64,
    /// Frames still unacknowledged at exit.
    pub unacknowledged: u64,
}

impl StopLine {
    /// Finds and parses the line in a collector's stderr.
    pub fn find(stderr: &str) -> Option<StopLine> {
        let line = stderr
            .lines()
            .rev()
            .find(|l| l.contains("stopping after "))?;
        let rest = &line[line.find("stopping after ")? + "stopping after ".len()..];
        let number_before = |what: &str| -> Option<u64> {
            let end = rest.find(what)?;
            rest[..end]
                .trim_end()
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        Some(StopLine {
            line: line.to_string(),
            cycles: number_before(" cycle")?,
            sent: number_before(" frames sent")?,
            resent: number_before(" resent")?,
            acked: number_before(" acked")?,
            dropped: number_before(" dropped from the ring")?,
            unacknowledged: number_before(" unacknowledged")?,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_closing_line_parses() {
        let stderr = "notice: pimon-collector 0.1.0 starting\n\
            notice: stopping after 52 cycle(s): 104 frames sent, 7 resent, 100 acked, 4 dropped from the ring, 0 unacknowledged; 0 send errors, 98 acks, 0 ignored datagrams\n";
        assert_eq!(
            StopLine::find(stderr),
            Some(StopLine {
                line: stderr.lines().nth(1).unwrap().to_string(),
                cycles: 52,
                sent: 104,
                resent: 7,
                acked: 100,
                dropped: 4,
                unacknowledged: 0
            })
        );
        let lost = "<5>stopping after 1 cycle(s): 2 frames sent, 0 resent, 0 acked, 0 dropped from the ring, 2 unacknowledged (lost on exit); 0 send errors, 0 acks, 0 ignored datagrams";
        assert_eq!(StopLine::find(lost).unwrap().unacknowledged, 2);
        assert_eq!(StopLine::find("nothing"), None);
    }
}
