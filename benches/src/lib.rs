//! pimon benchmarks and load generators.
//!
//! - `src/bin/loadgen.rs`: simulates a fleet of collectors against an aggregator on
//!   loopback and reports what the aggregator used (CPU, RSS) and showed (`/metrics`).
//! - `src/bin/cycle_once.rs`: N collector cycles on the Pi 4 fixture, for callgrind.
//! - `src/pi4.rs`: a collector on the Raspberry Pi 4 fixture tree, shared by those.
//! - `benches/`: hot paths (parse, encode, decode, render) and whole-cycle figures.
//!
//! Results and the exact commands are in `docs/BENCHMARKS.md`.

pub mod fleet;
pub mod pi4;
pub mod procstat;
pub mod timing;
