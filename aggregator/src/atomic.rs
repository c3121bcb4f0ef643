//! The aggregator's counters are 64-bit atomics on every target, including the 32-bit
//! MIPS of OpenWrt routers (`mipsel-unknown-linux-musl`), which has no 64-bit atomic
//! instructions and so no `std::sync::atomic::AtomicU64`.
//!
//! Where the target has 64-bit atomics this is std's type (no cost, no dependency);
//! elsewhere it is `portable-atomic`'s, which keeps the same API and falls back to a
//! small lock (a seqlock-style spinlock table) around a plain `u64`. Counters are
//! updated a few times per received batch, never in a tight loop, so the fallback's
//! cost does not show; `docs/BENCHMARKS.md` ("64-bit counters on 32-bit MIPS") has the
//! measured cost per increment of both forms under qemu.
//!
//! Every module that keeps a 64-bit counter imports it from here, never from std.

#[cfg(target_has_atomic = "64")]
pub use std::sync::atomic::AtomicU64;

#[cfg(not(target_has_atomic = "64"))]
pub use portable_atomic::AtomicU64;
