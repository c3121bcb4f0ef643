//! What a counter increment costs in the aggregator's portable form
//! (`pimon_aggregator::atomic::AtomicU64`) next to the alternatives, on the machine it
//! runs on — meant for the 32-bit MIPS build under qemu (`scripts/bench-router`), where
//! it is `portable-atomic`'s lock-based fallback, against a native 32-bit atomic (what
//! the hardware does in one LL/SC loop) and a `Mutex<u64>` (the cfg'd fallback one
//! would write by hand).
//!
//!     atomic_cost [ITERATIONS]      (default 2,000,000)
//!
//! Prints nanoseconds per `fetch_add` for each, single-threaded (the aggregator's
//! counters are bumped by one task at a time; contention is not the question).

use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use pimon_aggregator::atomic::AtomicU64;

fn per_op(iterations: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed().as_nanos() as f64 / iterations as f64
}

fn main() {
    let iterations: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let native32 = AtomicU32::new(0);
    let portable64 = AtomicU64::new(0);
    let mutex64 = Mutex::new(0u64);
    // Warm up, then measure each twice and keep the faster run.
    let mut best = [f64::INFINITY; 3];
    for _ in 0..3 {
        best[0] = best[0].min(per_op(iterations, || {
            black_box(&native32).fetch_add(1, Ordering::Relaxed);
        }));
        best[1] = best[1].min(per_op(iterations, || {
            black_box(&portable64).fetch_add(1, Ordering::Relaxed);
        }));
        best[2] = best[2].min(per_op(iterations, || {
            *black_box(&mutex64)
                .lock()
                .unwrap_or_else(|e| e.into_inner()) += 1;
        }));
    }
    println!(
        "target {}: 64-bit atomics native: {}",
        std::env::consts::ARCH,
        cfg!(target_has_atomic = "64")
    );
    println!(
        "{:<44} {:>8.1} ns per increment",
        "AtomicU32 (native)", best[0]
    );
    println!(
        "{:<44} {:>8.1} ns per increment",
        "pimon_aggregator::atomic::AtomicU64", best[1]
    );
    println!("{:<44} {:>8.1} ns per increment", "Mutex<u64>", best[2]);
    println!(
        "check: {} {} {}",
        native32.load(Ordering::Relaxed),
        portable64.load(Ordering::Relaxed),
        mutex64.lock().map(|m| *m).unwrap_or(0)
    );
}
