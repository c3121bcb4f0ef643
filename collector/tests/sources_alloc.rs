//! `Sources::collect` performs no heap allocation after start-up, on every fixture tree
//! (including its failing thermal zone, failing statvfs and CRC failure paths).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pimon_collector::sink::SampleSink;
use pimon_collector::source::{Sources, SourcesConfig};
use pimon_protocol::Value;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A sink that only counts (allocation-free).
#[derive(Default)]
struct CountingSink {
    samples: u64,
    checksum: u64,
}

impl SampleSink for CountingSink {
    fn labels(&mut self, values: &[&str]) {
        self.checksum = self
            .checksum
            .wrapping_add(values.iter().map(|v| v.len() as u64).sum());
    }
    fn push(&mut self, metric: u16, value: Value) {
        self.samples += 1;
        self.checksum = self
            .checksum
            .wrapping_add(u64::from(metric) ^ value.as_f64().to_bits());
    }
}

fn collect_without_allocating(tree: &str) {
    let at_start = ALLOCATIONS.load(Ordering::Relaxed);
    let mut sources = Sources::open(&SourcesConfig {
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(tree),
        statvfs_timeout: Duration::from_secs(10),
        w1_interval: Duration::from_secs(3600),
        ..SourcesConfig::default()
    });
    assert!(sources.settle(Duration::from_secs(10)));
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) > at_start,
        "the counter counts"
    );
    let mut sink = CountingSink::default();
    // Warm-up: first failure log lines, lazily initialised std internals.
    for _ in 0..3 {
        sources.collect(&mut sink);
        sources.push_error_counters(&mut sink);
    }
    let per_cycle = sink.samples / 3;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        sources.collect(&mut sink);
        sources.push_error_counters(&mut sink);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(
        allocations, 0,
        "{tree}: {allocations} allocations in 1000 cycles"
    );
    assert_eq!(
        sink.samples,
        per_cycle * 1003,
        "{tree}: same samples every cycle"
    );
}

// One test function: the counter is process-wide, so trees run one after the other.
#[test]
fn zero_allocations_per_cycle_on_every_fixture_tree() {
    for tree in ["pi4", "pizero", "x86", "container"] {
        collect_without_allocating(tree);
    }
}
