//! Proven under emulation: the router may itself be a Pi. The static armv7
//! `pimon-aggregator` runs under `qemu-arm-static -cpu cortex-a7`, receives the frames of
//! a host `pimon-collector` reading the Pi 4 fixture through `--root`, acks them, and
//! serves the values computed from the fixture's files on `/metrics` and in its
//! line-protocol file.

use std::time::Duration;

use pimon_e2e::binaries::{Launcher, PiTarget, Program};
use pimon_e2e::expect::Expected;
use pimon_e2e::pimon::{Aggregator, assert_arrives, run_collector_cycles};
use pimon_e2e::{fixture, process};

const CYCLES: u32 = 3;
const RUN_TIMEOUT: Duration = Duration::from_secs(90);
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn armv7_aggregator_under_qemu_cortex_a7_receives_a_host_collector() {
    let launcher = Launcher::pi(PiTarget::Armv7, Program::Aggregator);
    let mut version = launcher.command();
    version.arg("--version");
    let v = process::run("pimon-aggregator --version", version, RUN_TIMEOUT);
    assert!(
        v.status.success() && v.stdout.contains(PiTarget::Armv7.triple()),
        "{}: --version does not name the armv7 target\n{}",
        launcher.description(),
        v.report
    );

    let aggregator = Aggregator::start(&launcher, &[]);
    let root = fixture("pi4");
    let node = "pi4-to-qemu-router";
    let mut expected = Expected::pi_fixture(&root, node);
    expected.prom(
        "pimon_node_up",
        &[],
        Some(1.0),
        "the aggregator's own figures".into(),
    );
    expected.prom(
        "pimon_node_frames_missing_total",
        &[],
        Some(0.0),
        "the aggregator's own figures".into(),
    );

    let collector = Launcher::host(Program::Collector);
    let run = run_collector_cycles(&collector, &root, node, aggregator.udp, CYCLES, RUN_TIMEOUT);
    assert!(
        run.status.success() && run.stderr.contains(" 0 unacknowledged"),
        "the host collector did not get every frame acked by the emulated aggregator\n{}\n{}",
        run.report,
        aggregator.proc.output_report()
    );

    assert_arrives(
        &aggregator,
        &expected,
        ARRIVAL_TIMEOUT,
        &format!("{} fed by the host collector", launcher.description()),
    );
}
