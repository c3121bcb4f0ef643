//! The aggregator on an OpenWrt router: the static `mipsel-unknown-linux-musl` build
//! (32-bit MIPS without 64-bit atomics, its counters on `portable-atomic`) runs under
//! `qemu-mipsel-static -cpu 24KEc` (MIPS32r2 without FPU, like the MT7621) and serves
//! three host collectors at once (Pi 4, Pi Zero and x86 fixture trees): every frame of
//! every collector is acknowledged, the Pi 4's values computed from the fixture's files
//! arrive on `/metrics` and in the line-protocol file, and each node is up.

use std::thread;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, PiTarget, Program};
use pimon_e2e::expect::Expected;
use pimon_e2e::pimon::{Aggregator, assert_arrives, run_collector_cycles};
use pimon_e2e::{fixture, process};

const CYCLES: u32 = 4;
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn mipsel_aggregator_under_qemu_serves_three_host_collectors() {
    let launcher = Launcher::pi(PiTarget::Mipsel, Program::Aggregator);
    let mut version = launcher.command();
    version.arg("--version");
    let v = process::run("pimon-aggregator --version", version, RUN_TIMEOUT);
    assert!(
        v.status.success() && v.stdout.contains(PiTarget::Mipsel.triple()),
        "{}: --version does not name the mipsel target\n{}",
        launcher.description(),
        v.report
    );

    let aggregator = Aggregator::start(&launcher, &[]);
    let collector = Launcher::host(Program::Collector);
    let nodes = [
        ("pi4", "pi4-to-router"),
        ("pizero", "pizero-to-router"),
        ("x86", "x86-to-router"),
    ];
    let runs: Vec<_> = nodes
        .iter()
        .map(|&(tree, node)| {
            let collector = collector.clone();
            let udp = aggregator.udp;
            thread::spawn(move || {
                run_collector_cycles(&collector, &fixture(tree), node, udp, CYCLES, RUN_TIMEOUT)
            })
        })
        .collect();
    for (run, (_, node)) in runs.into_iter().zip(nodes) {
        let run = run.join().expect("collector thread");
        assert!(
            run.status.success() && run.stderr.contains(" 0 unacknowledged"),
            "{node}: not every frame was acknowledged by the emulated router aggregator\n{}\n{}",
            run.report,
            aggregator.proc.output_report()
        );
    }

    let mut expected = Expected::pi_fixture(&fixture("pi4"), "pi4-to-router");
    expected.prom(
        "pimon_node_frames_missing_total",
        &[],
        Some(0.0),
        "the aggregator's own figures".into(),
    );
    let mut others = Vec::new();
    for (_, node) in nodes {
        let mut e = Expected::new(node);
        e.prom(
            "pimon_node_up",
            &[],
            Some(1.0),
            "the aggregator's own figures".into(),
        );
        others.push(e);
    }
    let context = format!("{} fed by three host collectors", launcher.description());
    assert_arrives(&aggregator, &expected, ARRIVAL_TIMEOUT, &context);
    for e in &others {
        assert_arrives(&aggregator, e, ARRIVAL_TIMEOUT, &context);
    }
}
