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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smol::Timer;
use smol::channel::{Receiver, Sender};

use crate::http_client::{self, HttpError, HttpUrl, Request};
use crate::influx::backoff::Backoff;
use crate::influx::config::{ConfigError, InfluxConfig};
use crate::influx::request::{WriteTarget, encode_body};
use crate::influx::response::{WriteOutcome, classify};
use crate::influx::stats::{FailureClass, InfluxStats};
use crate::log::{error, info, warning};
use crate::spool::{FsyncPolicy, Spool, SpoolError, SpoolStats, Staged};

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

struct Shared {
    config: InfluxConfig,
    url: HttpUrl,
    target: WriteTarget,
    spool: Spool,
    stats: Arc<InfluxStats>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

/// An InfluxDB output (v1 or v2 API). Cheap to clone; clones share the spool and task.
#[derive(Clone)]
pub struct InfluxOutput {
    shared: Arc<Shared>,
}

impl fmt::Debug for InfluxOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxOutput")
            .field("name", &self.shared.config.name)
            .field("url", &self.shared.config.url)
            .finish_non_exhaustive()
    }
}

/// Whether a delivery finished or was cut short by shutdown or its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    Done,
    Interrupted,
}

impl InfluxOutput {
    /// Validates `config`, opens (and recovers) the spool. Lines left in the spool by a
    /// previous run are delivered first once [`InfluxOutput::run`] starts.
    pub fn open(config: InfluxConfig) -> Result<InfluxOutput, OutputError> {
        let url = config.validate().map_err(OutputError::Config)?;
        let spool_stats = Arc::new(SpoolStats::default());
        let spool = Spool::open(config.spool.clone(), Arc::clone(&spool_stats))?;
        let stats = Arc::new(InfluxStats {
            spool: spool_stats,
            ..InfluxStats::default()
        });
        let pending = spool.pending_lines();
        if pending > 0 {
            info!(
                "influx output '{}': {pending} spooled lines to replay",
                config.name
            );
        }
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        Ok(InfluxOutput {
            shared: Arc::new(Shared {
                target: WriteTarget::new(&config),
                url,
                spool,
                stats,
                wake_tx,
                wake_rx,
                config,
            }),
        })
    }

    /// The output's name (for logs and `/metrics` labels).
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Its configuration.
    pub fn config(&self) -> &InfluxConfig {
        &self.shared.config
    }

    /// Its figures for `/metrics`.
    pub fn stats(&self) -> &Arc<InfluxStats> {
        &self.shared.stats
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
        let s = &self.shared;
        if lines.is_empty() {
            return Ok(());
        }
        if lines.last() != Some(&b'\n') {
            s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        if let Err(e) = s.spool.append(lines).await {
            s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::Spool(e));
        }
        s.stats.submits.fetch_add(1, Ordering::Relaxed);
        let _ = s.wake_tx.try_send(());
        Ok(())
    }

    /// Writes `\n`-terminated lines to the spool without adding them to the queue yet:
    /// the first step of an all-or-nothing hand-over to several outputs
    /// ([`crate::influx::LineOutputs::submit`]). [`StagedLines::sync`] makes them as
    /// durable as [`InfluxOutput::submit`] would; [`StagedLines::publish`] queues them for
    /// delivery; dropping the [`StagedLines`] instead takes them back out of the spool. One
    /// hand-over at a time: meanwhile other writes fail with [`SpoolError::Busy`].
    pub fn stage(&self, lines: &[u8]) -> Result<StagedLines<'_>, OutputError> {
        let s = &self.shared;
        if lines.last() != Some(&b'\n') {
            s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        match s.spool.stage(lines) {
            Ok(staged) => Ok(StagedLines {
                output: self,
                staged,
            }),
            Err(e) => {
                s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
                Err(OutputError::Spool(e))
            }
        }
    }

    /// Lines submitted but not yet delivered.
    pub fn pending_lines(&self) -> u64 {
        self.shared.spool.pending_lines()
    }

    /// Delivers everything pending now (retrying with backoff), giving up after
    /// `within`. Returns whether the spool is empty. For tests and tools; the aggregator
    /// uses [`InfluxOutput::run`].
    pub async fn flush(&self, within: Duration) -> Result<bool, OutputError> {
        let deadline = Instant::now() + within;
        let progress = self.send_pending(true, None, Some(deadline)).await?;
        Ok(progress == Progress::Done && self.pending_lines() == 0)
    }

    /// The writer task: batches, sends, retries, fsyncs (`Interval` policy) until
    /// `shutdown` is closed or receives a message; then flushes for at most
    /// `shutdown_timeout` and returns. Run exactly one per output.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let spool = &self.shared.spool;
        let syncer = async {
            if let FsyncPolicy::Interval(every) = spool.config().fsync {
                loop {
                    Timer::after(every).await;
                    if let Err(e) = spool.sync().await {
                        error!("influx output '{}': spool fsync failed: {e}", self.name());
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        let writer = self.write_loop(&shutdown);
        smol::future::or(writer, async {
            syncer.await;
        })
        .await;
        let progress = self.drain().await;
        if spool.config().fsync != FsyncPolicy::Never
            && let Err(e) = spool.sync().await
        {
            error!("influx output '{}': spool fsync failed: {e}", self.name());
        }
        let left = self.pending_lines();
        if progress != Progress::Done || left > 0 {
            warning!(
                "influx output '{}': shutting down with {left} lines in the spool (sent on next start)",
                self.name()
            );
        }
        Ok(())
    }

    /// Runs until shutdown is requested.
    async fn write_loop(&self, shutdown: &Receiver<()>) {
        enum Wake {
            Data,
            Tick,
            Shutdown,
        }
        let s = &self.shared;
        loop {
            let mut tick = Timer::after(s.config.flush_interval);
            let flush_all = loop {
                if self.batch_ready() {
                    break false;
                }
                let data = async {
                    let _ = s.wake_rx.recv().await;
                    Wake::Data
                };
                let timer = async {
                    (&mut tick).await;
                    Wake::Tick
                };
                let stop = async {
                    let _ = shutdown.recv().await;
                    Wake::Shutdown
                };
                match smol::future::or(smol::future::or(stop, timer), data).await {
                    Wake::Data => continue,
                    Wake::Tick => break true,
                    Wake::Shutdown => return,
                }
            };
            match self.send_pending(flush_all, Some(shutdown), None).await {
                Ok(Progress::Done) => {}
                Ok(Progress::Interrupted) => return,
                Err(e) => {
                    error!("influx output '{}': {e}", self.name());
                    Timer::after(s.config.flush_interval).await;
                }
            }
        }
    }

    /// After shutdown: deliver for at most `shutdown_timeout`.
    async fn drain(&self) -> Progress {
        let deadline = Instant::now() + self.shared.config.shutdown_timeout;
        match self.send_pending(true, None, Some(deadline)).await {
            Ok(p) => p,
            Err(e) => {
                error!("influx output '{}': {e}", self.name());
                Progress::Interrupted
            }
        }
    }

    fn batch_ready(&self) -> bool {
        let s = &self.shared;
        s.spool.pending_lines() >= s.config.batch_max_lines
            || s.spool.pending_bytes() >= s.config.batch_max_bytes as u64
    }

    /// Sends batches while a full batch is pending (or, with `all`, until the spool is
    /// empty). Stops early on shutdown or at the deadline.
    async fn send_pending(
        &self,
        all: bool,
        shutdown: Option<&Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Result<Progress, OutputError> {
        let s = &self.shared;
        loop {
            if !all && !self.batch_ready() {
                return Ok(Progress::Done);
            }
            if shutdown.is_some_and(shutdown_requested) {
                return Ok(Progress::Interrupted);
            }
            let Some(batch) = s
                .spool
                .read_batch(s.config.batch_max_bytes, s.config.batch_max_lines)?
            else {
                return Ok(Progress::Done);
            };
            match self.deliver(&batch.body, shutdown, deadline).await {
                Progress::Done => s.spool.commit(&batch)?,
                Progress::Interrupted => {
                    s.spool.abandon(&batch);
                    return Ok(Progress::Interrupted);
                }
            }
        }
    }

    /// Delivers one batch of lines (see the module docs for the rules).
    async fn deliver(
        &self,
        body: &[u8],
        shutdown: Option<&Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Progress {
        let s = &self.shared;
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let mut queue: VecDeque<Vec<usize>> = VecDeque::new();
        queue.push_back((0..lines.len()).collect());
        let mut backoff = Backoff::new(s.config.retry);
        let mut payload = Vec::with_capacity(body.len());
        while let Some(mut chunk) = queue.pop_front() {
            while !chunk.is_empty() {
                if shutdown.is_some_and(shutdown_requested) {
                    return Progress::Interrupted;
                }
                let timeout = match deadline {
                    Some(d) => s
                        .config
                        .timeout
                        .min(d.saturating_duration_since(Instant::now())),
                    None => s.config.timeout,
                };
                if timeout.is_zero() {
                    return Progress::Interrupted;
                }
                payload.clear();
                let chunk_lines: Vec<&[u8]> = chunk.iter().map(|&i| lines[i]).collect();
                for line in &chunk_lines {
                    payload.extend_from_slice(line);
                    payload.push(b'\n');
                }
                match self.write_once(&payload, &chunk_lines, timeout).await {
                    WriteOutcome::Written => {
                        backoff.reset();
                        break;
                    }
                    WriteOutcome::Rejected(rejection) => {
                        s.stats
                            .failure_counter(FailureClass::BadData)
                            .fetch_add(1, Ordering::Relaxed);
                        if !rejection.offending.is_empty() {
                            for &k in rejection.offending.iter().rev() {
                                self.log_dropped(chunk_lines[k], &rejection.message);
                                chunk.remove(k);
                            }
                            s.stats
                                .lines_dropped_bad_data
                                .fetch_add(rejection.offending.len() as u64, Ordering::Relaxed);
                            continue;
                        }
                        if rejection.rest_written {
                            let dropped = rejection.dropped.unwrap_or(0).min(chunk.len() as u64);
                            warning!(
                                "influx output '{}': InfluxDB stored the batch except {dropped} points: {}",
                                self.name(),
                                rejection.message
                            );
                            s.stats
                                .lines_dropped_bad_data
                                .fetch_add(dropped, Ordering::Relaxed);
                            s.stats.batches_written.fetch_add(1, Ordering::Relaxed);
                            s.stats
                                .lines_written
                                .fetch_add(chunk.len() as u64 - dropped, Ordering::Relaxed);
                            backoff.reset();
                            break;
                        }
                        if self.split_or_drop(
                            &mut chunk,
                            &mut queue,
                            &chunk_lines,
                            &rejection.message,
                        ) {
                            break;
                        }
                    }
                    WriteOutcome::TooLarge(message) => {
                        s.stats
                            .failure_counter(FailureClass::TooLarge)
                            .fetch_add(1, Ordering::Relaxed);
                        if self.split_or_drop(&mut chunk, &mut queue, &chunk_lines, &message) {
                            break;
                        }
                    }
                    WriteOutcome::Failed(class, message) => {
                        s.stats
                            .failure_counter(class)
                            .fetch_add(1, Ordering::Relaxed);
                        s.stats.last_write_ok.store(0, Ordering::Relaxed);
                        let delay = backoff.next_delay();
                        warning!(
                            "influx output '{}': write to {} failed ({}): {message}; retry {} in {:.1}s, {} lines spooled",
                            self.name(),
                            s.config.url,
                            class.label(),
                            backoff.failures(),
                            delay.as_secs_f64(),
                            s.spool.pending_lines()
                        );
                        if !sleep_unless_stopped(delay, shutdown, deadline).await {
                            return Progress::Interrupted;
                        }
                        s.stats.retries.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        Progress::Done
    }

    /// Bad data that names no line, or too large: a single line is dropped (returns
    /// true: chunk done); otherwise the chunk is halved, the second half queued first.
    fn split_or_drop(
        &self,
        chunk: &mut Vec<usize>,
        queue: &mut VecDeque<Vec<usize>>,
        chunk_lines: &[&[u8]],
        message: &str,
    ) -> bool {
        if chunk.len() <= 1 {
            if let Some(line) = chunk_lines.first() {
                self.log_dropped(line, message);
                self.shared
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

    fn log_dropped(&self, line: &[u8], message: &str) {
        let shown = &line[..line.len().min(LOG_LINE_MAX)];
        warning!(
            "influx output '{}': InfluxDB rejected a line, dropped: {}{} (server said: {message})",
            self.name(),
            String::from_utf8_lossy(shown),
            if shown.len() < line.len() { "…" } else { "" }
        );
    }

    /// One POST of `payload` (`lines` are its lines, for naming bad ones).
    async fn write_once(&self, payload: &[u8], lines: &[&[u8]], timeout: Duration) -> WriteOutcome {
        let s = &self.shared;
        let body = if s.config.gzip && payload.len() > GZIP_OFF_EXECUTOR_BYTES {
            let owned = payload.to_vec();
            smol::unblock(move || encode_body(&owned, true)).await
        } else {
            encode_body(payload, s.config.gzip)
        };
        let headers: Vec<(&str, &str)> = s
            .target
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let request = Request {
            method: "POST",
            path_and_query: &s.target.path_and_query,
            headers: &headers,
            body: &body,
        };
        let started = Instant::now();
        match http_client::send(&s.url, &request, timeout, MAX_RESPONSE_BYTES).await {
            Ok(response) => {
                let outcome = classify(&response, lines);
                if outcome == WriteOutcome::Written {
                    let st = &s.stats;
                    st.latency.observe(started.elapsed());
                    st.batches_written.fetch_add(1, Ordering::Relaxed);
                    st.lines_written
                        .fetch_add(lines.len() as u64, Ordering::Relaxed);
                    st.bytes_written
                        .fetch_add(payload.len() as u64, Ordering::Relaxed);
                    st.bytes_sent
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    st.last_write_ok.store(1, Ordering::Relaxed);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    st.last_success_unix_seconds
                        .store(now.as_secs(), Ordering::Relaxed);
                }
                outcome
            }
            Err(HttpError::Timeout) => WriteOutcome::Failed(
                FailureClass::Timeout,
                format!("no response within {timeout:?}"),
            ),
            Err(e @ (HttpError::Connect(_) | HttpError::Io(_))) => {
                WriteOutcome::Failed(FailureClass::Connect, e.to_string())
            }
            Err(e) => WriteOutcome::Failed(FailureClass::Other, e.to_string()),
        }
    }
}

/// Lines in an output's spool, not yet queued for delivery: see [`InfluxOutput::stage`].
#[must_use = "staged lines are taken back out of the spool when dropped"]
#[derive(Debug)]
pub struct StagedLines<'a> {
    output: &'a InfluxOutput,
    staged: Staged<'a>,
}

impl StagedLines<'_> {
    /// Makes the lines as durable as the spool's fsync policy says.
    pub async fn sync(&self) -> Result<(), OutputError> {
        self.staged.sync().await.map_err(|e| {
            let stats = &self.output.shared.stats;
            stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            OutputError::Spool(e)
        })
    }

    /// Queues the lines for delivery (the output's task is woken).
    pub fn publish(self) {
        let s = &self.output.shared;
        self.staged.publish();
        s.stats.submits.fetch_add(1, Ordering::Relaxed);
        let _ = s.wake_tx.try_send(());
    }
}

fn shutdown_requested(shutdown: &Receiver<()>) -> bool {
    shutdown.is_closed() || !shutdown.is_empty()
}

/// Sleeps `delay`; false if shutdown was requested or the deadline comes first.
pub(crate) async fn sleep_unless_stopped(
    delay: Duration,
    shutdown: Option<&Receiver<()>>,
    deadline: Option<Instant>,
) -> bool {
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        if left < delay {
            Timer::after(left).await;
            return false;
        }
    }
    match shutdown {
        None => {
            Timer::after(delay).await;
            true
        }
        Some(rx) => {
            let sleep = async {
                Timer::after(delay).await;
                true
            };
            let stop = async {
                let _ = rx.recv().await;
                false
            };
            smol::future::or(stop, sleep).await
        }
    }
}
