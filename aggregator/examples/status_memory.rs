//! Memory of the status page's history per node (`pimon_aggregator::status::history`),
//! measured with a counting allocator: the live heap bytes after recording one sample
//! for N nodes (names like `pi-kitchen-0042`), divided by N — the rings, the map's
//! nodes and the names, everything the history holds.
//!
//!     cargo run --release -p pimon-aggregator --example status_memory
//!
//! (`scripts/bench-router` runs it; the figures are in docs/BENCHMARKS.md.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use pimon_aggregator::status::history::{History, NodeHistory, POINTS, Sample};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
        let before = LIVE.load(Ordering::Relaxed);
        let mut history = History::new(3_600_000);
        for (step, name) in (0..60u64).flat_map(|s| names.iter().map(move |n| (s, n))) {
            history.record(name, step * 60_000, sample);
        }
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        println!(
            "{nodes:>6} nodes, 60 steps each: {bytes} bytes, {:.0} bytes per node (name of {} bytes included)",
            bytes as f64 / nodes as f64,
            names[0].len()
        );
        assert_eq!(history.len(), nodes);
    }
}
