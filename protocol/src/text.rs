//! Text renderings of samples, shared by the aggregator (`/metrics`, InfluxDB writes)
//! and the collector (`--print=prom`, `--print=influx`).
//!
//! Everything here writes into a [`core::fmt::Write`] (a `String`, a fixed
//! `heapless::String`, a counting sink) and never allocates: `no_std` like the rest of
//! the crate.
//!
//! - [`prometheus`]: the Prometheus text exposition format 0.0.4 and its OpenMetrics
//!   1.0 variant: family headers, escaped labels, values, timestamps.
//! - [`influx`]: InfluxDB line protocol: per-element escaping, typed fields, sorted tags,
//!   timestamps in a chosen precision, several fields per line (as Telegraf writes).
//!
//! Numbers come in as [`Number`] (the raw wire value after its catalog
//! [`Conversion`](crate::catalog::Conversion)), so integers print exactly.

pub mod influx;
pub mod prometheus;

pub use crate::catalog::Number;
