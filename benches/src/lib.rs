//! pimon benchmarks and load generators.
//!
//! - `src/bin/loadgen.rs`: simulates a fleet of collectors against an aggregator on
//!   loopback and reports what the aggregator used (CPU, RSS) and showed (`/metrics`).
//! - `benches/`: hot paths (parse, encode, decode, render) and whole-cycle figures.
//!
//! Results and the exact commands are in `docs/BENCHMARKS.md`.

pub mod fleet;
pub mod procstat;
pub mod timing;
