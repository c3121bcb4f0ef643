//! A minimal timing harness: runs a closure in batches and reports the median time per
//! call. No dependencies; for instruction counts run the same bench under callgrind
//! (see docs/BENCHMARKS.md).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Times `f` and prints `name: median ns/iter (min … max)` over 15 batches.
pub fn bench<T>(name: &str, mut f: impl FnMut() -> T) -> f64 {
    // Size the batch to take about 20 ms.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if t.elapsed() > Duration::from_millis(20) || batch > 1 << 30 {
            break;
        }
        batch *= 2;
    }
    let mut per_iter: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    per_iter.sort_by(f64::total_cmp);
    let median = per_iter[per_iter.len() / 2];
    println!(
        "{name:<40} {:>12} ns/iter  (min {:.0}, max {:.0})",
        format!("{median:.0}"),
        per_iter[0],
        per_iter[per_iter.len() - 1]
    );
    median
}
