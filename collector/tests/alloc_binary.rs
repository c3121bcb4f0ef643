//! The zero-allocation property checked from outside: the binary's own
//! counting allocator (`PIMON_ALLOC_STATS=1`) reports the same total allocations for
//! `--cycles 10` and `--cycles 1000` at `--interval 1ms`, sending to an acking
//! aggregator on 127.0.0.1: the steady state allocates nothing. Run on the Pi 4 fixture
//! tree and on the live `/proc`.

mod send_support;

use std::process::Command;

use send_support::{Behaviour, FakeAggregator};

/// Runs the collector for `cycles` cycles; returns (allocations, frames the aggregator
/// stored).
fn allocations(root: &str, cycles: u32) -> (u64, usize) {
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    let out = Command::new(env!("CARGO_BIN_EXE_pimon-collector"))
        .args([
            "--root",
            root,
            "--node",
            "alloc",
            "--interval",
            "1ms",
            "--linger",
            "5s",
        ])
        .args([
            "--aggregator",
            &agg.addr.to_string(),
            "--cycles",
            &cycles.to_string(),
        ])
        .env("PIMON_ALLOC_STATS", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("alloc-stats: allocations="))
        .unwrap_or_else(|| panic!("no alloc-stats line in {stderr}"));
    let n = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        stderr.contains(&format!("stopping after {cycles} cycle(s)")),
        "{stderr}"
    );
    assert!(stderr.contains(" 0 unacknowledged"), "{stderr}");
    (n, agg.log().stored.len())
}

fn same_allocations_for_10_and_1000_cycles(root: &str) {
    let (few, stored_few) = allocations(root, 10);
    let (many, stored_many) = allocations(root, 1000);
    eprintln!("{root}: {few} allocations for 10 cycles, {many} for 1000");
    assert!(
        stored_few >= 10 && stored_many >= 1000,
        "{stored_few} {stored_many}"
    );
    assert_eq!(few, many, "allocations grew with the number of cycles");
}

#[test]
fn pi4_fixture() {
    let root = send_support::fixture("pi4");
    same_allocations_for_10_and_1000_cycles(root.to_str().unwrap());
}

#[test]
fn live_proc() {
    same_allocations_for_10_and_1000_cycles("/");
}
