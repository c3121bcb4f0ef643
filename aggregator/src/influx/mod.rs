//! Line-protocol outputs: InfluxDB 1.x (`POST /write`), InfluxDB 2.x
//! (`POST /api/v2/write`), and a file or stdout (`--lp-out PATH|-`).
//!
//! The input is already-rendered line protocol (see `pimon_protocol::text`): one or more
//! `\n`-terminated lines per stored frame. Each InfluxDB output writes them first to its
//! durable spool ([`crate::spool`]); [`InfluxOutput::submit`] returning `Ok` is the
//! moment the frame counts as stored for this output and may be acknowledged. A
//! background task ([`InfluxOutput::run`]) batches, gzips and sends, retries with
//! backoff, drops and counts lines InfluxDB rejects as bad data, and replays the spool in
//! order after an outage or a restart. See `docs/INFLUXDB.md` for the user-facing guide.
//!
//! Module map: [`config`] settings, [`output`] the InfluxDB output and its task,
//! [`request`] request building, [`response`] response classification (which lines
//! are bad), [`backoff`] retry delays, [`stats`] figures for `/metrics`, [`lp_file`] the
//! file/stdout output, [`outputs`] all outputs together.

pub mod backoff;
pub mod config;
pub mod lp_file;
pub mod output;
pub mod outputs;
pub mod request;
pub mod response;
pub mod stats;

pub use config::{ConfigError, InfluxApi, InfluxConfig, Precision, RetryConfig};
pub use lp_file::{LpFileConfig, LpFileOutput, LpFileStats, LpTarget};
pub use output::{InfluxOutput, OutputError, StagedLines};
pub use outputs::LineOutputs;
pub use stats::{FailureClass, InfluxStats, InfluxStatsSnapshot, LATENCY_BUCKETS_SECONDS};
