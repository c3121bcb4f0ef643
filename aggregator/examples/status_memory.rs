//! Memory of the status page's history per node (`pimon_aggregator::status::history`),
//! measured with a counting allocator: the live heap bytes after recording one sample
//! for N nodes (names like `pi-kitchen-0042`), divided by N — the rings, the map's
//! nodes and the names, everything the history holds.
//!
//!     cargo run --release -p pimon-aggregator --example status_memory
//!
//! (`scripts/bench-router` runs it; the figures are in docs/BENCHMARKS.md.)

use pimon_aggregator::status::history::{History, NodeHistory, POINTS, Sample};
use pimon_test_support::alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn main() {
    println!(
        "NodeHistory: {} bytes ({POINTS} points of CPU °C, load and frames missing)",
        size_of::<NodeHistory>()
    );
    let sample = Sample {
        temp: Some(48.3),
        load: Some(0.52),
        missing: 0,
    };
    for nodes in [100usize, 1_000, 10_000] {
        let names: Vec<String> = (0..nodes).map(|i| format!("pi-kitchen-{i:04}")).collect();
        let before = alloc::live_bytes();
        let mut history = History::new(3_600_000);
        for (step, name) in (0..60u64).flat_map(|s| names.iter().map(move |n| (s, n))) {
            history.record(name, step * 60_000, sample);
        }
        let bytes = alloc::live_bytes() - before;
        println!(
            "{nodes:>6} nodes, 60 steps each: {bytes} bytes, {:.0} bytes per node (name of {} bytes included)",
            bytes as f64 / nodes as f64,
            names[0].len()
        );
        assert_eq!(history.len(), nodes);
    }
}
