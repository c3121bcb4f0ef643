//! Proven under emulation: the static Raspberry Pi builds of
//! `pimon-collector` run under `qemu-user-static` with the oldest CPU of their target,
//! read a Raspberry Pi fixture tree through `--root`, and send to a host
//! `pimon-aggregator` on 127.0.0.1. The Pi's CPU, memory, thermal zone, throttling flags
//! and 1-wire sensor must arrive in `/metrics` and in the line-protocol output with the
//! values computed from the fixture's files (`pimon_e2e::expect`).
//!
//! | build | qemu | fixture |
//! |---|---|---|
//! | armv7-unknown-linux-musleabihf | `qemu-arm-static -cpu cortex-a7` (Pi 2) | `pi4` |
//! | arm-unknown-linux-musleabihf | `qemu-arm-static -cpu arm1176` (Pi Zero) | `pizero` |
//! | aarch64-unknown-linux-musl | `qemu-aarch64-static -cpu cortex-a53` (Pi 3) | `pi4` |
//!
//! Plus the control that makes the ARMv6 run mean something: the armv7 build must not
//! run on the ARM1176.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Launcher, PiTarget, Program};
use pimon_e2e::expect::Expected;
use pimon_e2e::pimon::{
    Aggregator, assert_arrives, collector_args, run_collector_cycles, start_collector,
};
use pimon_e2e::{fixture, process};

/// Signal number of SIGILL (illegal instruction) on Linux.
const SIGILL: i32 = 4;

/// Cycles each emulated collector runs (1 s apart).
const CYCLES: u32 = 2;
/// Bound on one emulated collector run: the cycles, acks, and qemu's start-up.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the aggregator may take to show everything (the line-protocol file is
/// written in batches).
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The aggregator's own view of the node: up, nothing missing.
fn expect_node_health(expected: &mut Expected, frames: f64) {
    let why = || "the aggregator's own figures".to_string();
    expected.prom("pimon_node_up", &[], Some(1.0), why());
    expected.prom("pimon_node_frames_missing_total", &[], Some(0.0), why());
    expected.prom("pimon_node_frames_received_total", &[], Some(frames), why());
}

fn collector_under_qemu_reports_the_fixture(target: PiTarget, fixture_name: &str, node: &str) {
    let collector = Launcher::pi(target, Program::Collector);

    // The binary is the build for this target (its --version names the target).
    let mut version = collector.command();
    version.arg("--version");
    let v = process::run("pimon-collector --version", version, RUN_TIMEOUT);
    assert!(
        v.status.success(),
        "{}: --version failed\n{}",
        collector.description(),
        v.report
    );
    assert!(
        v.stdout.contains(target.triple()),
        "{}: --version does not name {}: {}",
        collector.description(),
        target.triple(),
        v.stdout
    );

    // The Pi builds leave the text renderings out (feature print-text): `wire` works,
    // `prom` is refused with a reason (exit 2), never a panic or an empty print.
    let root = fixture(fixture_name);
    let mut wire = collector.command();
    wire.args(["--once", "--print", "wire", "--node", node, "--root"])
        .arg(&root);
    let w = process::run("pimon-collector --print wire", wire, RUN_TIMEOUT);
    assert!(
        w.status.success() && w.stdout.contains("total parts="),
        "{}: --print wire\n{}",
        collector.description(),
        w.report
    );
    let mut prom = collector.command();
    prom.args(["--once", "--print", "prom", "--node", node, "--root"])
        .arg(&root);
    let p = process::run("pimon-collector --print prom", prom, RUN_TIMEOUT);
    assert!(
        p.status.code() == Some(2) && p.stderr.contains("this build prints `wire` only"),
        "{}: --print prom on a Pi build must be refused with its reason\n{}",
        collector.description(),
        p.report
    );

    let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
    let mut expected = Expected::pi_fixture(&root, node);

    let run = run_collector_cycles(&collector, &root, node, aggregator.udp, CYCLES, RUN_TIMEOUT);
    assert!(
        run.status.success(),
        "{} exited with {}\n{}",
        collector.description(),
        run.status,
        run.report
    );
    // Every frame was acked: the aggregator's acks made it back into the emulated process.
    assert!(
        run.stderr
            .contains(&format!("stopping after {CYCLES} cycle(s)"))
            && run.stderr.contains(" 0 unacknowledged"),
        "{}: not every frame acked\n{}",
        collector.description(),
        run.report
    );
    let frames = frames_sent(&run.stderr)
        .unwrap_or_else(|| panic!("no frame count in the collector's log\n{}", run.report));
    expect_node_health(&mut expected, frames as f64);

    assert_arrives(
        &aggregator,
        &expected,
        ARRIVAL_TIMEOUT,
        &format!("{} reading {}", collector.description(), root.display()),
    );
}

/// `N frames sent` from the collector's closing notice.
fn frames_sent(log: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains("frames sent"))?;
    let before = &line[..line.find(" frames sent")?];
    before
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn armv7_collector_under_qemu_cortex_a7_reports_the_pi4_fixture() {
    collector_under_qemu_reports_the_fixture(PiTarget::Armv7, "pi4", "pi4-qemu");
}

#[test]
fn armv6_collector_under_qemu_arm1176_reports_the_pizero_fixture() {
    collector_under_qemu_reports_the_fixture(PiTarget::Armv6, "pizero", "pizero-qemu");
}

#[test]
fn aarch64_collector_under_qemu_cortex_a53_reports_the_pi4_fixture() {
    collector_under_qemu_reports_the_fixture(PiTarget::Aarch64, "pi4", "pi4-qemu-a64");
}

/// The control for the ARMv6 test: qemu's `-cpu arm1176` really is an ARMv6, so an
/// ARMv7 build dies there (SIGILL), and the armv6 build passing above is a real ARMv6
/// build rather than an ARMv7 one that qemu would run anyway.
#[test]
fn armv7_collector_does_not_run_on_an_armv6_cpu() {
    let launcher = Launcher::pi_on_cpu(PiTarget::Armv7, Program::Collector, "arm1176");
    let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
    // qemu may write a core file of the crash into the working directory: a temp dir.
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut cmd = launcher.command();
    cmd.current_dir(cwd.path())
        .args(collector_args(
            &fixture("pi4"),
            "armv7-on-armv6",
            aggregator.udp,
        ))
        .arg("--once");
    let run = process::run(launcher.description(), cmd, RUN_TIMEOUT);
    assert_eq!(
        run.status.signal(),
        Some(SIGILL),
        "{} should die of SIGILL on an ARMv6 CPU\n{}",
        launcher.description(),
        run.report
    );
    let metrics = aggregator.metrics();
    assert!(
        !metrics.contains("armv7-on-armv6"),
        "frames from the armv7 build on an ARMv6 CPU arrived"
    );
}

/// The names of the threads of process `pid` (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .map(|c| c.trim_end().to_string())
        .collect()
}

/// The Pi builds name their threads through the collector's own `pthread_setname_np`
/// (`collector/src/sys.rs`, in place of musl's, to keep musl's printf out of the
/// binary), and the 32-bit ARM builds carry its unwinding stubs: the 1-wire reader of
/// the Pi 4 fixture must show as `pimon-w1` in `/proc` (what `top -H` shows; qemu-user
/// passes the guest's `prctl` on to the host thread), and the collector must run.
fn collector_under_qemu_names_its_threads(target: PiTarget) {
    let collector = Launcher::pi(target, Program::Collector);
    let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
    let mut proc = start_collector(&collector, &fixture("pi4"), "names", aggregator.udp);
    let pid = proc.pid().expect("the collector's pid");
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut names = Vec::new();
    while Instant::now() < deadline && proc.is_running() {
        names = thread_names(pid);
        if names.iter().any(|n| n == "pimon-w1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let running = proc.is_running();
    proc.terminate(Duration::from_secs(20));
    assert!(
        running,
        "{} stopped before naming its threads\n{}",
        collector.description(),
        proc.output_report()
    );
    assert!(
        names.iter().any(|n| n == "pimon-w1"),
        "{}: no thread named pimon-w1 (threads: {names:?})\n{}",
        collector.description(),
        proc.output_report()
    );
}

#[test]
fn armv6_collector_under_qemu_names_its_threads() {
    collector_under_qemu_names_its_threads(PiTarget::Armv6);
}

#[test]
fn aarch64_collector_under_qemu_names_its_threads() {
    collector_under_qemu_names_its_threads(PiTarget::Aarch64);
}

#[test]
fn frames_sent_reads_the_closing_notice() {
    let log = "notice: stopping after 2 cycle(s): 4 frames sent, 0 resent, 4 acked";
    assert_eq!(frames_sent(log), Some(4));
    assert_eq!(frames_sent("nothing"), None);
}
