//! One InfluxDB output: [`InfluxOutput::submit`] spools lines durably (the caller may
//! then acknowledge the frame), [`InfluxOutput::run`] delivers them in batches.
//!
//! # Delivery
//! The writer task wakes when `batch_max_lines` lines or `batch_max_bytes` bytes are
//! pending, and at least every `flush_interval`; it reads a batch from the spool (oldest
//! first), gzips it and POSTs it. Only after InfluxDB answered 2xx is the batch
//! committed in the spool (and its segment deleted once fully delivered).
//!
//! - Connection errors, timeouts, 5xx, 429, 401/403 and 404 (database not found): the
//!   same request is retried after an exponential backoff (capped, with jitter), logged
//!   each time, counted by class. New lines keep going to the spool meanwhile, so a
//!   fixed password or a created database heals the output without losing data.
//! - 400/422 bad data: each line the server names is logged, dropped and counted, and
//!   the rest of the batch is sent again without it. A 1.x `partial write` that names no
//!   line (type conflict, retention) means the server stored the rest: counted, done.
//!   When no line can be identified, the batch is split in halves, recursively, until
//!   the bad line is alone and dropped: at most `2n − 1` requests for `n` lines, never
//!   an endless loop. 413 (too large) splits the same way.
//!
//! Delivery is at-least-once: after a crash, or a retry following a lost response,
//! InfluxDB may receive a line twice; it stores a point once per series and timestamp,
//! so a duplicate overwrites itself.
//!
//! # Shutdown
//! [`InfluxOutput::run`] returns when its `shutdown` channel is closed (every sender
//! dropped) or receives a message: it then keeps delivering for at most
//! `shutdown_timeout` (no backoff wait beyond it), fsyncs the spool, and returns. What
//! was not delivered stays in the spool and is sent first on the next start.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use smol::channel::Receiver;

use crate::delivery::{
    Batching, Counters, Delivery, Progress, Runner, Settings, StagedRecords, Stop, post,
};
use crate::http_client::{HttpUrl, Request};
use crate::influx::backoff::Backoff;
use crate::influx::config::{ConfigError, InfluxConfig};
use crate::influx::request::{WriteTarget, encode_body};
use crate::influx::response::{WriteOutcome, classify};
use crate::influx::stats::{FailureClass, InfluxStats};
use crate::spool::{SpoolError, SpoolStats};

/// Largest response body read from InfluxDB (error texts are small).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Bodies larger than this are gzipped on a blocking thread, off the executor.
const GZIP_OFF_EXECUTOR_BYTES: usize = 64 * 1024;
/// A dropped line is logged up to this many bytes.
const LOG_LINE_MAX: usize = 1000;

/// Errors of the line outputs.
#[derive(Debug)]
pub enum OutputError {
    /// A configuration value is invalid.
    Config(ConfigError),
    /// The spool failed (I/O error, full with `RefuseNew`, record too large, in use).
    Spool(SpoolError),
    /// The submitted bytes are not whole lines (must be empty or end with `\n`).
    InvalidLines(&'static str),
    /// Writing the line-protocol file or stdout failed.
    Io(io::Error),
    /// The line-protocol file could not be opened (or its end checked).
    File(PathBuf, io::Error),
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::Config(e) => write!(f, "invalid InfluxDB output config: {e}"),
            OutputError::Spool(e) => write!(f, "{e}"),
            OutputError::InvalidLines(why) => write!(f, "invalid line protocol input: {why}"),
            OutputError::Io(e) => write!(f, "line protocol output: {e}"),
            OutputError::File(path, e) => {
                write!(f, "line protocol file {}: {e}", path.display())
            }
        }
    }
}

impl std::error::Error for OutputError {}

impl From<SpoolError> for OutputError {
    fn from(e: SpoolError) -> Self {
        OutputError::Spool(e)
    }
}

/// The InfluxDB half of the output; the spool and the task are [`Runner`]'s.
pub(crate) struct InfluxDelivery {
    config: InfluxConfig,
    url: HttpUrl,
    target: WriteTarget,
    stats: Arc<InfluxStats>,
}

/// An InfluxDB output (v1 or v2 API). Cheap to clone; clones share the spool and task.
#[derive(Clone)]
pub struct InfluxOutput {
    shared: Arc<Runner<InfluxDelivery>>,
}

impl fmt::Debug for InfluxOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxOutput")
            .field("name", &self.config().name)
            .field("url", &self.config().url)
            .finish_non_exhaustive()
    }
}

impl InfluxOutput {
    /// Validates `config`, opens (and recovers) the spool. Lines left in the spool by a
    /// previous run are delivered first once [`InfluxOutput::run`] starts.
    pub fn open(config: InfluxConfig) -> Result<InfluxOutput, OutputError> {
        let url = config.validate().map_err(OutputError::Config)?;
        let spool_stats = Arc::new(SpoolStats::default());
        let stats = Arc::new(InfluxStats {
            spool: Arc::clone(&spool_stats),
            ..InfluxStats::default()
        });
        let settings = Settings {
            name: config.name.clone(),
            url: config.url.clone(),
            batching: Batching {
                max_bytes: config.batch_max_bytes,
                max_lines: config.batch_max_lines,
                ready_lines: config.batch_max_lines,
                ready_bytes: config.batch_max_bytes as u64,
            },
            flush_interval: config.flush_interval,
            shutdown_timeout: config.shutdown_timeout,
        };
        let spool_config = config.spool.clone();
        let delivery = InfluxDelivery {
            target: WriteTarget::new(&config),
            url,
            stats,
            config,
        };
        Ok(InfluxOutput {
            shared: Arc::new(Runner::open(delivery, settings, spool_config, spool_stats)?),
        })
    }

    /// The output's name (for logs and `/metrics` labels).
    pub fn name(&self) -> &str {
        &self.config().name
    }

    /// Its configuration.
    pub fn config(&self) -> &InfluxConfig {
        &self.shared.delivery.config
    }

    /// Its figures for `/metrics`.
    pub fn stats(&self) -> &Arc<InfluxStats> {
        &self.shared.delivery.stats
    }

    /// Hands over one or more `\n`-terminated lines (typically one stored frame).
    ///
    /// **Guarantee:** when this returns `Ok`, the lines are a record in the spool file,
    /// written with `write(2)`; with `FsyncPolicy::Always` (the default) also fsynced.
    /// So a kill -9 of the aggregator right after `Ok` loses nothing (the kernel has the
    /// data; with `Always` even a power loss does not). The caller may acknowledge the
    /// frame. The lines will be delivered, in submission order, at least once — unless
    /// InfluxDB rejects one as bad data (logged, counted) or the spool overflows with
    /// `DropOldest` (counted in [`SpoolStats::records_dropped_full`]).
    ///
    /// On `Err` nothing was stored: do not acknowledge. Empty input is a no-op.
    ///
    /// **Throughput:** each call is one spool record and, with `Always`, waits for an
    /// fsync (concurrent calls share one). To ingest thousands of frames per second, hand
    /// over the lines of a whole receive batch in one call (or make calls concurrently)
    /// and acknowledge those frames once it returns; one awaited call per frame would be
    /// limited to one fsync per frame.
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        self.shared.submit(lines).await
    }

    /// Writes `\n`-terminated lines to the spool without adding them to the queue yet:
    /// the first step of an all-or-nothing hand-over to several outputs
    /// ([`crate::influx::LineOutputs::submit`]). [`StagedLines::sync`] makes them as
    /// durable as [`InfluxOutput::submit`] would; [`StagedLines::publish`] queues them for
    /// delivery; dropping the [`StagedLines`] instead takes them back out of the spool. One
    /// hand-over at a time: meanwhile other writes fail with [`SpoolError::Busy`].
    pub fn stage(&self, lines: &[u8]) -> Result<StagedLines<'_>, OutputError> {
        self.shared.stage(lines)
    }

    /// Lines submitted but not yet delivered.
    pub fn pending_lines(&self) -> u64 {
        self.shared.pending()
    }

    /// Delivers everything pending now (retrying with backoff), giving up after
    /// `within`. Returns whether the spool is empty. For tests and tools; the aggregator
    /// uses [`InfluxOutput::run`].
    pub async fn flush(&self, within: Duration) -> Result<bool, OutputError> {
        self.shared.flush(within).await
    }

    /// The writer task: batches, sends, retries, fsyncs (`Interval` policy) until
    /// `shutdown` is closed or receives a message; then flushes for at most
    /// `shutdown_timeout` and returns. Run exactly one per output.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        self.shared.run(shutdown).await
    }
}

/// Lines in an output's spool, not yet queued for delivery: see [`InfluxOutput::stage`].
pub type StagedLines<'a> = StagedRecords<'a>;

impl Delivery for InfluxDelivery {
    const KIND: &'static str = "influx output";
    const UNIT: &'static str = "lines";
    const SEND_ALL_WHEN_FULL: bool = false;

    fn counters(&self) -> Counters<'_> {
        let st = &self.stats;
        Counters {
            submits: &st.submits,
            submit_failures: &st.submit_failures,
            failures: &st.write_failures,
            retries: &st.retries,
            last_write_ok: &st.last_write_ok,
            last_success_unix_seconds: &st.last_success_unix_seconds,
            bytes_sent: &st.bytes_sent,
        }
    }

    /// Delivers one batch of lines (see the module docs for the rules).
    async fn deliver(out: &Runner<Self>, body: &[u8], stop: Stop<'_>) -> Progress {
        let d = &out.delivery;
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut queue: VecDeque<Vec<usize>> = VecDeque::new();
        queue.push_back((0..lines.len()).collect());
        let mut backoff = Backoff::new(d.config.retry);
        let mut payload = Vec::with_capacity(body.len());
        while let Some(mut chunk) = queue.pop_front() {
            while !chunk.is_empty() {
                let Some(timeout) = stop.attempt_timeout(d.config.timeout) else {
                    return Progress::Interrupted;
                };
                payload.clear();
                let chunk_lines: Vec<&[u8]> = chunk.iter().map(|&i| lines[i]).collect();
                for line in &chunk_lines {
                    payload.extend_from_slice(line);
                    payload.push(b'\n');
                }
                match d.write_once(out, &payload, &chunk_lines, timeout).await {
                    WriteOutcome::Written => {
                        backoff.reset();
                        break;
                    }
                    WriteOutcome::Rejected(rejection) => {
                        d.stats
                            .failure_counter(FailureClass::BadData)
                            .fetch_add(1, Ordering::Relaxed);
                        if !rejection.offending.is_empty() {
                            for &k in rejection.offending.iter().rev() {
                                log_dropped(out, chunk_lines[k], &rejection.message);
                                chunk.remove(k);
                            }
                            d.stats
                                .lines_dropped_bad_data
                                .fetch_add(rejection.offending.len() as u64, Ordering::Relaxed);
                            continue;
                        }
                        if rejection.rest_written {
                            let dropped = rejection.dropped.unwrap_or(0).min(chunk.len() as u64);
                            out.log(format_args!(
                                "InfluxDB stored the batch except {dropped} points: {}",
                                rejection.message
                            ));
                            d.stats
                                .lines_dropped_bad_data
                                .fetch_add(dropped, Ordering::Relaxed);
                            d.stats.batches_written.fetch_add(1, Ordering::Relaxed);
                            d.stats
                                .lines_written
                                .fetch_add(chunk.len() as u64 - dropped, Ordering::Relaxed);
                            backoff.reset();
                            break;
                        }
                        if split_or_drop(
                            out,
                            &mut chunk,
                            &mut queue,
                            &chunk_lines,
                            &rejection.message,
                        ) {
                            break;
                        }
                    }
                    WriteOutcome::TooLarge(message) => {
                        d.stats
                            .failure_counter(FailureClass::TooLarge)
                            .fetch_add(1, Ordering::Relaxed);
                        if split_or_drop(out, &mut chunk, &mut queue, &chunk_lines, &message) {
                            break;
                        }
                    }
                    WriteOutcome::Failed(class, message) => {
                        if !out.wait_to_retry(&mut backoff, class, &message, stop).await {
                            return Progress::Interrupted;
                        }
                    }
                }
            }
        }
        Progress::Done
    }
}

impl InfluxDelivery {
    /// One POST of `payload` (`lines` are its lines, for naming bad ones).
    async fn write_once(
        &self,
        out: &Runner<Self>,
        payload: &[u8],
        lines: &[&[u8]],
        timeout: Duration,
    ) -> WriteOutcome {
        let body = if self.config.gzip && payload.len() > GZIP_OFF_EXECUTOR_BYTES {
            let owned = payload.to_vec();
            smol::unblock(move || encode_body(&owned, true)).await
        } else {
            encode_body(payload, self.config.gzip)
        };
        let headers: Vec<(&str, &str)> = self
            .target
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let request = Request {
            method: "POST",
            path_and_query: &self.target.path_and_query,
            headers: &headers,
            body: &body,
        };
        let started = Instant::now();
        match post(&self.url, &request, timeout, MAX_RESPONSE_BYTES).await {
            Ok(response) => {
                let outcome = classify(&response, lines);
                if outcome == WriteOutcome::Written {
                    let st = &self.stats;
                    st.latency.observe(started.elapsed());
                    st.batches_written.fetch_add(1, Ordering::Relaxed);
                    st.lines_written
                        .fetch_add(lines.len() as u64, Ordering::Relaxed);
                    st.bytes_written
                        .fetch_add(payload.len() as u64, Ordering::Relaxed);
                    out.count_success(body.len());
                }
                outcome
            }
            Err((class, message)) => WriteOutcome::Failed(class, message),
        }
    }
}

/// Bad data that names no line, or too large: a single line is dropped (returns
/// true: chunk done); otherwise the chunk is halved, the second half queued first.
fn split_or_drop(
    out: &Runner<InfluxDelivery>,
    chunk: &mut Vec<usize>,
    queue: &mut VecDeque<Vec<usize>>,
    chunk_lines: &[&[u8]],
    message: &str,
) -> bool {
    if chunk.len() <= 1 {
        if let Some(line) = chunk_lines.first() {
            log_dropped(out, line, message);
            out.delivery
                .stats
                .lines_dropped_bad_data
                .fetch_add(1, Ordering::Relaxed);
        }
        chunk.clear();
        return true;
    }
    let second = chunk.split_off(chunk.len() / 2);
    queue.push_front(second);
    false
}

fn log_dropped(out: &Runner<InfluxDelivery>, line: &[u8], message: &str) {
    let shown = &line[..line.len().min(LOG_LINE_MAX)];
    out.log(format_args!(
        "InfluxDB rejected a line, dropped: {}{} (server said: {message})",
        String::from_utf8_lossy(shown),
        if shown.len() < line.len() { "…" } else { "" }
    ));
}
