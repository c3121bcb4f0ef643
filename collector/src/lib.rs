//! # pimon-collector
//!
//! The agent that runs on every Pi: reads `/proc`, `/sys` and sensors, encodes each
//! collection cycle into compact UDP frames (`pimon-protocol`), sends them to the
//! aggregator and keeps every unacknowledged frame in a fixed ring to resend it.
//!
//! ## The source table
//! `source_table.rs` declares every source once (kind, name, parse module, reader,
//! `docs/METRICS.md` sections); `parse` and `source` generate their lists from it.
//!
//! ## The `no_std` core (builds for `thumbv7em-none-eabihf`)
//! - [`parse`]: pure parsers for every `/proc` and `/sys` format (no panic, no alloc).
//! - [`sink`]: the [`sink::SampleSink`] contract between sources and encoders.
//! - [`frames`]: a sink that encodes one cycle into frames, straight into the ring.
//! - [`ring`]: the resend ring (fixed byte arena, acks, paced resends).
//!
//! ## The `std` shell (feature `std`, default)
//! - `source`: readers that open files under `--root` and feed the parsers.
//! - `cycle`: one cycle = sources + the collector's own figures → frames;
//!   `own_process`: its process figures (`process_*`) from `/proc/self`.
//! - `net`: the UDP socket, address resolution, ack reception and checks.
//! - `failover`: several aggregators (one `net` each): fail over when acks stop, fail
//!   back when the first answers; `gateway`: the default aggregator, the default
//!   gateway from `<root>/proc/net/route`.
//! - `run`: the timed loop (wall-clock aligned cycles, acks, resends, linger, signals).
//! - `sensors`: I2C sensors (background thread) and GPIO inputs.
//! - `cli`, `config`: flags, config file, key file. `log`: journald-friendly stderr.
//! - `clock`: the wall clock of timestamps, with a test-only offset (end-to-end tests
//!   step a collector's clock through `PIMON_TEST_CLOCK_OFFSET_FILE`).
//! - `print`: `--print` renderings of a cycle (wire, Prometheus, InfluxDB).
//! - `sys`: the only module allowed `unsafe` (signal handlers, `poll`, `sysconf`,
//!   `getrandom`, `gethostname`).
//!
//! Steady state allocates nothing: files stay open and are re-read, buffers are fixed,
//! frames are written into the ring's arena (`tests/alloc_*.rs` prove it).
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]

#[macro_use]
mod source_table;

pub mod frames;
pub mod parse;
pub mod ring;
pub mod sink;

#[cfg(feature = "std")]
pub mod ack_watch;
#[cfg(feature = "std")]
pub mod cli;
#[cfg(feature = "std")]
pub mod clock;
#[cfg(feature = "std")]
pub mod config;
#[cfg(feature = "std")]
pub mod cycle;
#[cfg(feature = "std")]
pub mod failover;
#[cfg(feature = "std")]
pub mod gateway;
#[cfg(feature = "std")]
pub mod log;
#[cfg(feature = "std")]
pub mod net;
#[cfg(feature = "std")]
pub mod own_process;
#[cfg(feature = "std")]
pub mod print;
#[cfg(feature = "std")]
pub mod probe;
#[cfg(feature = "std")]
pub mod run;
#[cfg(feature = "std")]
pub mod sensors;
#[cfg(feature = "std")]
pub mod source;
#[cfg(feature = "std")]
#[allow(unsafe_code)]
pub mod sys;
