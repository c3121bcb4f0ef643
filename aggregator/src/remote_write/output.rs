//! One remote write output: frames' samples go into its durable spool
//! ([`RemoteWriteOutput::stage`], part of the all-or-nothing hand-over of
//! [`crate::influx::LineOutputs::submit_rendered`]); [`RemoteWriteOutput::run`] delivers
//! them.
//!
//! # Delivery
//! The task wakes when `max_samples_per_send` samples are pending (size) and at least
//! every `flush_interval` (age). It reads a batch of up to `shards ×
//! max_samples_per_send` samples from the spool, oldest first, and splits it by series
//! into as many shards as it fills (a small batch is one request); each shard sends its
//! samples in requests of at most `max_samples_per_send`, one after the other, while
//! the shards run in parallel. A series always lands in the same shard of a batch and
//! the next batch starts only when every shard is done, so each series' samples reach
//! the receiver in timestamp order, as the specification requires. Only then is the
//! batch committed in the spool.
//!
//! # Answers (the specification's rules)
//! - 2xx: written.
//! - 5xx, 429, no connection, a timeout or an unreadable answer: the same request is
//!   sent again after an exponential backoff (capped, with jitter), logged each time;
//!   new samples keep spooling meanwhile, so nothing acknowledged is lost while the
//!   receiver is down.
//! - 413 (too large): the request is split in halves, down to one sample.
//! - any other 4xx: never retried. The request's samples are dropped, counted
//!   (`pimon_remote_write_samples_dropped_total{reason="rejected"}`) and the receiver's
//!   answer is logged as is.
//!
//! Delivery is at least once: after a crash, or a retry after a lost answer, the
//! receiver may get a sample twice; a sample with the same series, timestamp and value
//! is stored once by every Prometheus-compatible receiver.
//!
//! # Shutdown
//! Like the InfluxDB outputs: once `shutdown` closes, delivery goes on for at most
//! `shutdown_timeout`, the spool is synced, and the rest is sent on the next start.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smol::Timer;
use smol::channel::{Receiver, Sender};

use crate::http_client::{self, HttpError, HttpUrl, Request};
use crate::influx::OutputError;
use crate::influx::backoff::Backoff;
use crate::influx::output::sleep_unless_stopped;
use crate::influx::stats::FailureClass;
use crate::log::{info, warning};
use crate::remote_write::config::RemoteWriteConfig;
use crate::remote_write::proto::{RequestBuilder, encode};
use crate::remote_write::stats::{DropReason, RemoteWriteStats};
use crate::spool::{FsyncPolicy, Spool, SpoolStats, Staged};

/// Largest answer read from a receiver (error texts are small).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// A receiver's error text is logged up to this many bytes.
const LOG_TEXT_MAX: usize = 1000;
/// Most bytes of spool records read for one batch (a record larger than this is read
/// alone).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

struct Shared {
    config: RemoteWriteConfig,
    /// The receiver with its path moved into `path`.
    url: HttpUrl,
    path: String,
    headers: Vec<(String, String)>,
    spool: Spool,
    stats: Arc<RemoteWriteStats>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

/// A remote write output. Cheap to clone; clones share the spool and task.
#[derive(Clone)]
pub struct RemoteWriteOutput {
    shared: Arc<Shared>,
}

impl fmt::Debug for RemoteWriteOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteOutput")
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

/// What one request's answer means.
enum Answer {
    Written,
    Retry(FailureClass, String),
    TooLarge(String),
    Rejected(u16, String),
}

impl RemoteWriteOutput {
    /// Validates `config` and opens (and recovers) the spool; samples left in it by a
    /// previous run are delivered first once [`RemoteWriteOutput::run`] starts.
    pub fn open(config: RemoteWriteConfig) -> Result<RemoteWriteOutput, OutputError> {
        let mut url = config.validate().map_err(OutputError::Config)?;
        let path = if url.prefix.is_empty() {
            "/".to_string()
        } else {
            std::mem::take(&mut url.prefix)
        };
        let spool_stats = Arc::new(SpoolStats::default());
        let spool = Spool::open(config.spool.clone(), Arc::clone(&spool_stats))?;
        let stats = Arc::new(RemoteWriteStats {
            spool: spool_stats,
            ..RemoteWriteStats::default()
        });
        let pending = spool.pending_lines();
        if pending > 0 {
            info!(
                "remote write output '{}': {pending} spooled samples to replay",
                config.name
            );
        }
        let mut headers = vec![
            ("Content-Encoding".to_string(), "snappy".to_string()),
            (
                "Content-Type".to_string(),
                "application/x-protobuf".to_string(),
            ),
            (
                "User-Agent".to_string(),
                format!("pimon-aggregator/{}", env!("CARGO_PKG_VERSION")),
            ),
            (
                "X-Prometheus-Remote-Write-Version".to_string(),
                "0.1.0".to_string(),
            ),
        ];
        if let Some((user, password)) = &config.basic_auth {
            headers.push((
                "Authorization".to_string(),
                format!(
                    "Basic {}",
                    http_client::base64_encode(format!("{user}:{password}").as_bytes())
                ),
            ));
        }
        if let Some(token) = &config.bearer_token {
            headers.push(("Authorization".to_string(), format!("Bearer {token}")));
        }
        headers.extend(config.headers.iter().cloned());
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        Ok(RemoteWriteOutput {
            shared: Arc::new(Shared {
                url,
                path,
                headers,
                spool,
                stats,
                wake_tx,
                wake_rx,
                config,
            }),
        })
    }

    /// The output's name (for logs and the `output` label).
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Its configuration.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.shared.config
    }

    /// Its figures for `/metrics`.
    pub fn stats(&self) -> &Arc<RemoteWriteStats> {
        &self.shared.stats
    }

    /// Samples handed over but not yet delivered.
    pub fn pending_samples(&self) -> u64 {
        self.shared.spool.pending_lines()
    }

    /// Writes sample lines ([`crate::remote_write::samples`]) to the spool without
    /// queueing them yet: see [`crate::influx::InfluxOutput::stage`], whose contract
    /// this follows exactly.
    pub fn stage(&self, samples: &[u8]) -> Result<StagedSamples<'_>, OutputError> {
        let s = &self.shared;
        if samples.last() != Some(&b'\n') {
            s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        match s.spool.stage(samples) {
            Ok(staged) => Ok(StagedSamples {
                output: self,
                staged,
            }),
            Err(e) => {
                s.stats.submit_failures.fetch_add(1, Ordering::Relaxed);
                Err(OutputError::Spool(e))
            }
        }
    }

    /// Delivers everything pending now (retrying with backoff), giving up after
    /// `within`. Returns whether the spool is empty. For tests and tools.
    pub async fn flush(&self, within: Duration) -> Result<bool, OutputError> {
        let deadline = Instant::now() + within;
        let progress = self.send_pending(true, None, Some(deadline)).await?;
        Ok(progress == Progress::Done && self.pending_samples() == 0)
    }

    /// The delivery task (see the module docs); run exactly one per output.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let spool = &self.shared.spool;
        let syncer = async {
            if let FsyncPolicy::Interval(every) = spool.config().fsync {
                loop {
                    Timer::after(every).await;
                    if let Err(e) = spool.sync().await {
                        self.log(format_args!("spool fsync failed: {e}"));
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        smol::future::or(self.write_loop(&shutdown), syncer).await;
        let deadline = Instant::now() + self.shared.config.shutdown_timeout;
        let progress = match self.send_pending(true, None, Some(deadline)).await {
            Ok(p) => p,
            Err(e) => {
                self.log(format_args!("{e}"));
                Progress::Interrupted
            }
        };
        if spool.config().fsync != FsyncPolicy::Never
            && let Err(e) = spool.sync().await
        {
            self.log(format_args!("spool fsync failed: {e}"));
        }
        let left = self.pending_samples();
        if progress != Progress::Done || left > 0 {
            self.log(format_args!(
                "shutting down with {left} samples in the spool (sent on next start)"
            ));
        }
        Ok(())
    }

    fn log(&self, what: fmt::Arguments<'_>) {
        warning!("remote write output '{}': {what}", self.name());
    }

    async fn write_loop(&self, shutdown: &Receiver<()>) {
        enum Wake {
            Data,
            Tick,
            Shutdown,
        }
        let s = &self.shared;
        loop {
            let mut tick = Timer::after(s.config.flush_interval);
            loop {
                if self.batch_ready() {
                    break;
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
                    Wake::Tick => break,
                    Wake::Shutdown => return,
                }
            }
            match self.send_pending(true, Some(shutdown), None).await {
                Ok(Progress::Done) => {}
                Ok(Progress::Interrupted) => return,
                Err(e) => {
                    self.log(format_args!("{e}"));
                    Timer::after(s.config.flush_interval).await;
                }
            }
        }
    }

    fn batch_ready(&self) -> bool {
        let s = &self.shared;
        s.spool.pending_lines() >= s.config.max_samples_per_send as u64
    }

    /// Sends batches until the spool is empty (or, without `all`, until less than a
    /// full request is pending). Stops early on shutdown or at the deadline.
    async fn send_pending(
        &self,
        all: bool,
        shutdown: Option<&Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Result<Progress, OutputError> {
        let s = &self.shared;
        let max_lines = (s.config.max_samples_per_send * s.config.shards) as u64;
        loop {
            if !all && !self.batch_ready() {
                return Ok(Progress::Done);
            }
            if shutdown.is_some_and(shutdown_requested) {
                return Ok(Progress::Interrupted);
            }
            let Some(batch) = s.spool.read_batch(MAX_BATCH_BYTES, max_lines)? else {
                return Ok(Progress::Done);
            };
            match self.deliver(&batch.body, shutdown, deadline).await {
                Progress::Done => s.spool.commit(&batch)?,
                Progress::Interrupted => return Ok(Progress::Interrupted),
            }
        }
    }

    /// Delivers one batch: split by series into shards sent in parallel.
    async fn deliver(
        &self,
        body: &[u8],
        shutdown: Option<&Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Progress {
        let per_request = self.shared.config.max_samples_per_send;
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let shards = lines
            .len()
            .div_ceil(per_request)
            .clamp(1, self.shared.config.shards);
        let mut parts: Vec<Vec<&[u8]>> = vec![Vec::new(); shards];
        for line in lines {
            parts[shard_of(line, shards)].push(line);
        }
        if shards == 1 {
            return self.send_shard(&parts[0], shutdown, deadline).await;
        }
        let executor = smol::LocalExecutor::new();
        let tasks: Vec<_> = parts
            .iter()
            .map(|part| executor.spawn(self.send_shard(part, shutdown, deadline)))
            .collect();
        executor
            .run(async {
                let mut progress = Progress::Done;
                for task in tasks {
                    if task.await == Progress::Interrupted {
                        progress = Progress::Interrupted;
                    }
                }
                progress
            })
            .await
    }

    /// Sends one shard's samples in requests of at most `max_samples_per_send`, in
    /// order (see the module docs for the answers).
    async fn send_shard(
        &self,
        lines: &[&[u8]],
        shutdown: Option<&Receiver<()>>,
        deadline: Option<Instant>,
    ) -> Progress {
        let s = &self.shared;
        let mut queue: VecDeque<&[&[u8]]> = lines.chunks(s.config.max_samples_per_send).collect();
        let mut backoff = Backoff::new(s.config.retry);
        while let Some(chunk) = queue.pop_front() {
            let mut builder = RequestBuilder::new(&s.config.external_labels);
            for line in chunk {
                if let Err(e) = builder.push(line) {
                    let dropped = s.stats.dropped(DropReason::Malformed);
                    if dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
                        self.log(format_args!(
                            "dropped a spool line that is not a sample ({e}): {}",
                            shown(line)
                        ));
                    }
                }
            }
            let samples = builder.samples() as u64;
            if samples == 0 {
                continue;
            }
            let body = encode(&builder.finish());
            loop {
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
                match self.write_once(&body, timeout).await {
                    Answer::Written => {
                        let st = &s.stats;
                        st.requests_written.fetch_add(1, Ordering::Relaxed);
                        st.samples_written.fetch_add(samples, Ordering::Relaxed);
                        st.bytes_sent
                            .fetch_add(body.len() as u64, Ordering::Relaxed);
                        st.last_write_ok.store(1, Ordering::Relaxed);
                        let now = SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default();
                        st.last_success_unix_seconds
                            .store(now.as_secs(), Ordering::Relaxed);
                        backoff.reset();
                        break;
                    }
                    Answer::Retry(class, message) => {
                        s.stats.failure(class).fetch_add(1, Ordering::Relaxed);
                        s.stats.last_write_ok.store(0, Ordering::Relaxed);
                        let delay = backoff.next_delay();
                        self.log(format_args!(
                            "write to {} failed ({}): {message}; retry {} in {:.1}s, {} samples spooled",
                            s.config.url,
                            class.label(),
                            backoff.failures(),
                            delay.as_secs_f64(),
                            s.spool.pending_lines()
                        ));
                        if !sleep_unless_stopped(delay, shutdown, deadline).await {
                            return Progress::Interrupted;
                        }
                        s.stats.retries.fetch_add(1, Ordering::Relaxed);
                    }
                    Answer::TooLarge(message) => {
                        s.stats
                            .failure(FailureClass::TooLarge)
                            .fetch_add(1, Ordering::Relaxed);
                        if chunk.len() > 1 {
                            let (a, b) = chunk.split_at(chunk.len() / 2);
                            queue.push_front(b);
                            queue.push_front(a);
                        } else {
                            s.stats
                                .dropped(DropReason::Rejected)
                                .fetch_add(samples, Ordering::Relaxed);
                            self.log(format_args!(
                                "receiver refused a single sample as too large (413), dropped: {message}"
                            ));
                        }
                        break;
                    }
                    Answer::Rejected(status, message) => {
                        s.stats
                            .failure(FailureClass::BadData)
                            .fetch_add(1, Ordering::Relaxed);
                        s.stats
                            .dropped(DropReason::Rejected)
                            .fetch_add(samples, Ordering::Relaxed);
                        s.stats.last_write_ok.store(0, Ordering::Relaxed);
                        self.log(format_args!(
                            "receiver refused a request of {samples} samples with HTTP {status} (not retried, dropped): {message}"
                        ));
                        break;
                    }
                }
            }
        }
        Progress::Done
    }

    /// One POST of a request body.
    async fn write_once(&self, body: &[u8], timeout: Duration) -> Answer {
        let s = &self.shared;
        let headers: Vec<(&str, &str)> = s
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = Request {
            method: "POST",
            path_and_query: &s.path,
            headers: &headers,
            body,
        };
        match http_client::send(&s.url, &request, timeout, MAX_RESPONSE_BYTES).await {
            Ok(r) => {
                let text = || shown(&r.body);
                match r.status {
                    200..=299 => Answer::Written,
                    413 => Answer::TooLarge(text()),
                    429 => Answer::Retry(FailureClass::Throttled, format!("HTTP 429: {}", text())),
                    500..=599 => Answer::Retry(
                        FailureClass::ServerError,
                        format!("HTTP {}: {}", r.status, text()),
                    ),
                    400..=499 => Answer::Rejected(r.status, text()),
                    other => {
                        Answer::Retry(FailureClass::Other, format!("HTTP {other}: {}", text()))
                    }
                }
            }
            Err(HttpError::Timeout) => Answer::Retry(
                FailureClass::Timeout,
                format!("no response within {timeout:?}"),
            ),
            Err(e @ (HttpError::Connect(_) | HttpError::Io(_))) => {
                Answer::Retry(FailureClass::Connect, e.to_string())
            }
            Err(e) => Answer::Retry(FailureClass::Other, e.to_string()),
        }
    }
}

/// The shard of a sample line among `shards`: a hash of its series (`name{labels}`),
/// so a series always goes to the same shard.
fn shard_of(line: &[u8], shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    let series = match crate::remote_write::samples::split_line(line) {
        Ok(s) => s.series.as_bytes(),
        Err(_) => line,
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    series.hash(&mut h);
    (h.finish() % shards as u64) as usize
}

/// Text for a log line, cut at [`LOG_TEXT_MAX`] bytes.
fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(LOG_TEXT_MAX)];
    let mut s = String::from_utf8_lossy(cut).trim().to_string();
    if cut.len() < bytes.len() {
        s.push('…');
    }
    s
}

fn shutdown_requested(shutdown: &Receiver<()>) -> bool {
    shutdown.is_closed() || !shutdown.is_empty()
}

/// Samples in an output's spool, not yet queued for delivery: see
/// [`RemoteWriteOutput::stage`].
#[must_use = "staged samples are taken back out of the spool when dropped"]
#[derive(Debug)]
pub struct StagedSamples<'a> {
    output: &'a RemoteWriteOutput,
    staged: Staged<'a>,
}

impl StagedSamples<'_> {
    /// Makes the samples as durable as the spool's fsync policy says.
    pub async fn sync(&self) -> Result<(), OutputError> {
        self.staged.sync().await.map_err(|e| {
            let stats = &self.output.shared.stats;
            stats.submit_failures.fetch_add(1, Ordering::Relaxed);
            OutputError::Spool(e)
        })
    }

    /// Queues the samples for delivery (the output's task is woken).
    pub fn publish(self) {
        let s = &self.output.shared;
        self.staged.publish();
        s.stats.submits.fetch_add(1, Ordering::Relaxed);
        let _ = s.wake_tx.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_always_lands_in_the_same_shard() {
        let a = b"x{instance=\"a\"} 1 100";
        let a_later = b"x{instance=\"a\"} 2 200";
        for shards in 1..=8 {
            assert_eq!(shard_of(a, shards), shard_of(a_later, shards));
            assert!(shard_of(a, shards) < shards);
        }
        let spread: std::collections::HashSet<usize> = (0..64)
            .map(|i| shard_of(format!("x{{instance=\"n{i}\"}} 1 1").as_bytes(), 4))
            .collect();
        assert_eq!(spread.len(), 4, "64 series use every shard");
    }
}
