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
use std::time::Duration;

use smol::channel::Receiver;

use crate::delivery::{
    Batching, Counters, Delivery, Progress, Runner, Settings, StagedRecords, Stop, post,
};
use crate::http_client::{self, HttpUrl, Request};
use crate::influx::OutputError;
use crate::influx::backoff::Backoff;
use crate::influx::stats::FailureClass;
use crate::remote_write::config::RemoteWriteConfig;
use crate::remote_write::proto::{RequestBuilder, encode};
use crate::remote_write::stats::{DropReason, RemoteWriteStats};
use crate::spool::SpoolStats;

/// Largest answer read from a receiver (error texts are small).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// A receiver's error text is logged up to this many bytes.
const LOG_TEXT_MAX: usize = 1000;
/// Most bytes of spool records read for one batch (a record larger than this is read
/// alone).
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// The remote write half of the output; the spool and the task are [`Runner`]'s.
pub(crate) struct RemoteWriteDelivery {
    config: RemoteWriteConfig,
    /// The receiver with its path moved into `path`.
    url: HttpUrl,
    path: String,
    headers: Vec<(String, String)>,
    stats: Arc<RemoteWriteStats>,
}

/// A remote write output. Cheap to clone; clones share the spool and task.
#[derive(Clone)]
pub struct RemoteWriteOutput {
    shared: Arc<Runner<RemoteWriteDelivery>>,
}

impl fmt::Debug for RemoteWriteOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteOutput")
            .field("name", &self.config().name)
            .field("url", &self.config().url)
            .finish_non_exhaustive()
    }
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
        let stats = Arc::new(RemoteWriteStats {
            spool: Arc::clone(&spool_stats),
            ..RemoteWriteStats::default()
        });
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
        let settings = Settings {
            name: config.name.clone(),
            url: config.url.clone(),
            batching: Batching {
                max_bytes: MAX_BATCH_BYTES,
                max_lines: (config.max_samples_per_send * config.shards) as u64,
                ready_lines: config.max_samples_per_send as u64,
                ready_bytes: u64::MAX,
            },
            flush_interval: config.flush_interval,
            shutdown_timeout: config.shutdown_timeout,
        };
        let spool_config = config.spool.clone();
        let delivery = RemoteWriteDelivery {
            url,
            path,
            headers,
            stats,
            config,
        };
        Ok(RemoteWriteOutput {
            shared: Arc::new(Runner::open(delivery, settings, spool_config, spool_stats)?),
        })
    }

    /// The output's name (for logs and the `output` label).
    pub fn name(&self) -> &str {
        &self.config().name
    }

    /// Its configuration.
    pub fn config(&self) -> &RemoteWriteConfig {
        &self.shared.delivery.config
    }

    /// Its figures for `/metrics`.
    pub fn stats(&self) -> &Arc<RemoteWriteStats> {
        &self.shared.delivery.stats
    }

    /// Samples handed over but not yet delivered.
    pub fn pending_samples(&self) -> u64 {
        self.shared.pending()
    }

    /// Writes sample lines ([`crate::remote_write::samples`]) to the spool without
    /// queueing them yet: see [`crate::influx::InfluxOutput::stage`], whose contract
    /// this follows exactly.
    pub fn stage(&self, samples: &[u8]) -> Result<StagedSamples<'_>, OutputError> {
        self.shared.stage(samples)
    }

    /// Delivers everything pending now (retrying with backoff), giving up after
    /// `within`. Returns whether the spool is empty. For tests and tools.
    pub async fn flush(&self, within: Duration) -> Result<bool, OutputError> {
        self.shared.flush(within).await
    }

    /// The delivery task (see the module docs); run exactly one per output.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        self.shared.run(shutdown).await
    }
}

/// Samples in an output's spool, not yet queued for delivery: see
/// [`RemoteWriteOutput::stage`].
pub type StagedSamples<'a> = StagedRecords<'a>;

impl Delivery for RemoteWriteDelivery {
    const KIND: &'static str = "remote write output";
    const UNIT: &'static str = "samples";
    const SEND_ALL_WHEN_FULL: bool = true;

    fn counters(&self) -> Counters<'_> {
        let st = &self.stats;
        Counters {
            submits: &st.submits,
            submit_failures: &st.submit_failures,
            failures: &st.failures,
            retries: &st.retries,
            last_write_ok: &st.last_write_ok,
            last_success_unix_seconds: &st.last_success_unix_seconds,
            bytes_sent: &st.bytes_sent,
        }
    }

    /// Delivers one batch: split by series into shards sent in parallel.
    async fn deliver(out: &Runner<Self>, body: &[u8], stop: Stop<'_>) -> Progress {
        let per_request = out.delivery.config.max_samples_per_send;
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let shards = lines
            .len()
            .div_ceil(per_request)
            .clamp(1, out.delivery.config.shards);
        let mut parts: Vec<Vec<&[u8]>> = vec![Vec::new(); shards];
        for line in lines {
            parts[shard_of(line, shards)].push(line);
        }
        if shards == 1 {
            return send_shard(out, &parts[0], stop).await;
        }
        let executor = smol::LocalExecutor::new();
        let tasks: Vec<_> = parts
            .iter()
            .map(|part| executor.spawn(send_shard(out, part, stop)))
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
}

/// Sends one shard's samples in requests of at most `max_samples_per_send`, in
/// order (see the module docs for the answers).
async fn send_shard(
    out: &Runner<RemoteWriteDelivery>,
    lines: &[&[u8]],
    stop: Stop<'_>,
) -> Progress {
    let d = &out.delivery;
    let mut queue: VecDeque<&[&[u8]]> = lines.chunks(d.config.max_samples_per_send).collect();
    let mut backoff = Backoff::new(d.config.retry);
    while let Some(chunk) = queue.pop_front() {
        let mut builder = RequestBuilder::new(&d.config.external_labels);
        for line in chunk {
            if let Err(e) = builder.push(line) {
                let dropped = d.stats.dropped(DropReason::Malformed);
                if dropped.fetch_add(1, Ordering::Relaxed).is_multiple_of(1000) {
                    out.log(format_args!(
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
            let Some(timeout) = stop.attempt_timeout(d.config.timeout) else {
                return Progress::Interrupted;
            };
            match d.write_once(&body, timeout).await {
                Answer::Written => {
                    let st = &d.stats;
                    st.requests_written.fetch_add(1, Ordering::Relaxed);
                    st.samples_written.fetch_add(samples, Ordering::Relaxed);
                    out.count_success(body.len());
                    backoff.reset();
                    break;
                }
                Answer::Retry(class, message) => {
                    if !out.wait_to_retry(&mut backoff, class, &message, stop).await {
                        return Progress::Interrupted;
                    }
                }
                Answer::TooLarge(message) => {
                    d.stats
                        .failure(FailureClass::TooLarge)
                        .fetch_add(1, Ordering::Relaxed);
                    if chunk.len() > 1 {
                        let (a, b) = chunk.split_at(chunk.len() / 2);
                        queue.push_front(b);
                        queue.push_front(a);
                    } else {
                        d.stats
                            .dropped(DropReason::Rejected)
                            .fetch_add(samples, Ordering::Relaxed);
                        out.log(format_args!(
                            "receiver refused a single sample as too large (413), dropped: {message}"
                        ));
                    }
                    break;
                }
                Answer::Rejected(status, message) => {
                    d.stats
                        .failure(FailureClass::BadData)
                        .fetch_add(1, Ordering::Relaxed);
                    d.stats
                        .dropped(DropReason::Rejected)
                        .fetch_add(samples, Ordering::Relaxed);
                    d.stats.last_write_ok.store(0, Ordering::Relaxed);
                    out.log(format_args!(
                        "receiver refused a request of {samples} samples with HTTP {status} (not retried, dropped): {message}"
                    ));
                    break;
                }
            }
        }
    }
    Progress::Done
}

impl RemoteWriteDelivery {
    /// One POST of a request body.
    async fn write_once(&self, body: &[u8], timeout: Duration) -> Answer {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = Request {
            method: "POST",
            path_and_query: &self.path,
            headers: &headers,
            body,
        };
        match post(&self.url, &request, timeout, MAX_RESPONSE_BYTES).await {
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
            Err((class, message)) => Answer::Retry(class, message),
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
