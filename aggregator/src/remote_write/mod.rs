//! Prometheus remote write 1.0 outputs (`--remote-write-url`, `[[remote_write]]`): for
//! fleets whose data lives in a distributed engine (VictoriaMetrics, Mimir, Thanos
//! receive, Cortex, or Prometheus with `--web.enable-remote-write-receiver`) rather
//! than in one aggregator.
//!
//! What is sent is what the InfluxDB outputs get, in Prometheus' words: every sample of
//! every stored frame, with the frame's timestamp, under node_exporter's names and
//! labels (`instance` = node) plus the output's external labels. Each output has the
//! same durable spool as an InfluxDB output and takes part in the same all-or-nothing
//! hand-over ([`crate::influx::LineOutputs`]): a frame is acknowledged only once every
//! output's spool holds it, so nothing acknowledged is lost while a receiver is down.
//!
//! Module map: [`samples`] the spool's record format (frame → sample lines, and back);
//! [`proto`] lines → `WriteRequest` protobuf, snappy; [`output`] the spool, batching,
//! shards and the specification's retry rules; [`config`] settings; [`stats`] the
//! `pimon_remote_write_*` figures. User guide: `docs/REMOTE_WRITE.md`.

pub mod config;
pub mod output;
pub mod proto;
pub mod samples;
pub mod stats;

pub use config::RemoteWriteConfig;
pub use output::{RemoteWriteOutput, StagedSamples};
pub use stats::RemoteWriteStats;
