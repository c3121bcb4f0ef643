//! The half of a spooled HTTP output that does not depend on what it sends.
//!
//! The InfluxDB outputs ([`crate::influx::InfluxOutput`]) and the remote write outputs
//! ([`crate::remote_write::RemoteWriteOutput`]) take records into a durable spool and
//! deliver them from one task in the same way; only what a batch becomes on the wire and
//! what the receiver's answers mean differ. This module is the shared way, written once:
//!
//! - taking records in (`Runner::stage`, [`StagedRecords`]) and waking the task;
//! - the task (`Runner::run`): it wakes when a batch's worth is pending (size) and at
//!   least every `flush_interval` (age), reads batches from the spool oldest first, has
//!   the output deliver each, and commits a batch in the spool only once it is delivered
//!   (an interrupted batch is abandoned: it is read again next time);
//! - the retry policy: an attempt's timeout never runs past the shutdown deadline
//!   (`Stop::attempt_timeout`); a failed attempt is counted, logged and retried after
//!   an exponential backoff (`Runner::wait_to_retry`);
//! - shutdown: once `shutdown` closes or receives a message, delivery goes on for at
//!   most `shutdown_timeout` (no backoff wait beyond it), the spool is synced, and what
//!   is left is sent first on the next start.
//!
//! An output supplies a `Delivery`: its log name, its counters, and how to deliver one
//! batch (encode, send, classify the answer).

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smol::Timer;
use smol::channel::{Receiver, Sender};

use crate::atomic::AtomicU64;
use crate::http_client::{self, HttpError, HttpUrl, Request, Response};
use crate::influx::OutputError;
use crate::influx::backoff::Backoff;
use crate::influx::stats::FailureClass;
use crate::log::{error, info, warning};
use crate::spool::{FsyncPolicy, Spool, SpoolStats, Staged};

/// What one kind of spooled output does its own way.
pub(crate) trait Delivery: Sized {
    /// The output kind in log lines (`influx output`, `remote write output`).
    const KIND: &'static str;
    /// What the spool's lines are, in log lines (`lines`, `samples`).
    const UNIT: &'static str;
    /// Woken by a full batch, deliver what is pending down to the last record (`true`),
    /// or only full batches, leaving the rest for the `flush_interval` tick (`false`).
    const SEND_ALL_WHEN_FULL: bool;

    /// The counters the shared half keeps.
    fn counters(&self) -> Counters<'_>;

    /// Delivers one batch of spool lines (`body`), retrying through
    /// [`Runner::wait_to_retry`] until done or stopped.
    async fn deliver(out: &Runner<Self>, body: &[u8], stop: Stop<'_>) -> Progress;
}

/// The figures the shared half moves, borrowed from an output's statistics.
pub(crate) struct Counters<'a> {
    /// Records taken into the spool.
    pub submits: &'a AtomicU64,
    /// Records refused (not acknowledged).
    pub submit_failures: &'a AtomicU64,
    /// Failed attempts, by [`FailureClass`] (index: position in [`FailureClass::ALL`]).
    pub failures: &'a [AtomicU64; FailureClass::ALL.len()],
    /// Attempts made again after a backoff.
    pub retries: &'a AtomicU64,
    /// Gauge: 1 when the last attempt succeeded.
    pub last_write_ok: &'a AtomicU64,
    /// Gauge: Unix time of the last success.
    pub last_success_unix_seconds: &'a AtomicU64,
    /// Request body bytes sent on the wire by successful attempts.
    pub bytes_sent: &'a AtomicU64,
}

impl Counters<'_> {
    /// The counter of one failure class.
    pub fn failure(&self, class: FailureClass) -> &AtomicU64 {
        &self.failures[class.index()]
    }
}

/// How the task batches the spool's records.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Batching {
    /// Most bytes of spool records read as one batch (a larger record is read alone).
    pub max_bytes: usize,
    /// Most lines read as one batch.
    pub max_lines: u64,
    /// A batch is ready (the task wakes before its tick) at this many pending lines…
    pub ready_lines: u64,
    /// …or at this many pending bytes.
    pub ready_bytes: u64,
}

/// The settings of the shared half, taken from an output's configuration.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The output's name (logs, `output` label).
    pub name: String,
    /// Its receiver as configured (logs).
    pub url: String,
    pub batching: Batching,
    /// Longest wait before pending records are sent anyway.
    pub flush_interval: Duration,
    /// Longest delivery after shutdown was requested.
    pub shutdown_timeout: Duration,
}

/// Whether a delivery finished or was cut short by shutdown or its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    Done,
    Interrupted,
}

/// When a delivery must stop: a shutdown request, a deadline, both or neither.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stop<'a> {
    shutdown: Option<&'a Receiver<()>>,
    deadline: Option<Instant>,
}

impl Stop<'_> {
    /// Shutdown was requested (the channel closed or holds a message).
    pub fn requested(&self) -> bool {
        self.shutdown
            .is_some_and(|rx| rx.is_closed() || !rx.is_empty())
    }

    /// The timeout of the next attempt: `max`, cut to what is left before the deadline;
    /// `None` when there must be no next attempt (shutdown, or no time left).
    pub fn attempt_timeout(&self, max: Duration) -> Option<Duration> {
        if self.requested() {
            return None;
        }
        let timeout = match self.deadline {
            Some(d) => max.min(d.saturating_duration_since(Instant::now())),
            None => max,
        };
        (!timeout.is_zero()).then_some(timeout)
    }

    /// Sleeps `delay`; false if shutdown was requested or the deadline comes first.
    pub async fn sleep(&self, delay: Duration) -> bool {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left < delay {
                Timer::after(left).await;
                return false;
            }
        }
        match self.shutdown {
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
}

/// A spool and its delivery task, with the output-specific half `D`.
pub(crate) struct Runner<D> {
    pub delivery: D,
    pub settings: Settings,
    pub spool: Spool,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

impl<D: Delivery> Runner<D> {
    /// Opens (and recovers) the spool; records left in it by a previous run are
    /// delivered first once [`Runner::run`] starts.
    pub fn open(
        delivery: D,
        settings: Settings,
        spool_config: crate::spool::SpoolConfig,
        spool_stats: std::sync::Arc<SpoolStats>,
    ) -> Result<Runner<D>, OutputError> {
        let spool = Spool::open(spool_config, spool_stats)?;
        let (wake_tx, wake_rx) = smol::channel::bounded(1);
        let runner = Runner {
            delivery,
            settings,
            spool,
            wake_tx,
            wake_rx,
        };
        let pending = runner.spool.pending_lines();
        if pending > 0 {
            info!(
                "{} '{}': {pending} spooled {} to replay",
                D::KIND,
                runner.settings.name,
                D::UNIT
            );
        }
        Ok(runner)
    }

    /// Logs a warning about this output (a retry, dropped data, data left behind).
    pub fn log(&self, what: fmt::Arguments<'_>) {
        warning!("{} '{}': {what}", D::KIND, self.settings.name);
    }

    /// Logs an error of this output's spool.
    fn log_error(&self, what: fmt::Arguments<'_>) {
        error!("{} '{}': {what}", D::KIND, self.settings.name);
    }

    /// Lines handed over but not yet delivered.
    pub fn pending(&self) -> u64 {
        self.spool.pending_lines()
    }

    /// Writes `\n`-terminated lines to the spool without queueing them yet: see
    /// [`crate::influx::InfluxOutput::stage`].
    pub fn stage(&self, lines: &[u8]) -> Result<StagedRecords<'_>, OutputError> {
        let counters = self.delivery.counters();
        if lines.last() != Some(&b'\n') {
            counters.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        match self.spool.stage(lines) {
            Ok(staged) => Ok(StagedRecords {
                staged,
                submits: counters.submits,
                submit_failures: counters.submit_failures,
                wake: &self.wake_tx,
            }),
            Err(e) => {
                counters.submit_failures.fetch_add(1, Ordering::Relaxed);
                Err(OutputError::Spool(e))
            }
        }
    }

    /// Appends `\n`-terminated lines to the spool and queues them: see
    /// [`crate::influx::InfluxOutput::submit`].
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        let counters = self.delivery.counters();
        if lines.is_empty() {
            return Ok(());
        }
        if lines.last() != Some(&b'\n') {
            counters.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        if let Err(e) = self.spool.append(lines).await {
            counters.submit_failures.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::Spool(e));
        }
        counters.submits.fetch_add(1, Ordering::Relaxed);
        let _ = self.wake_tx.try_send(());
        Ok(())
    }

    /// Delivers everything pending now (retrying with backoff), giving up after
    /// `within`. Returns whether the spool is empty.
    pub async fn flush(&self, within: Duration) -> Result<bool, OutputError> {
        let stop = Stop {
            shutdown: None,
            deadline: Some(Instant::now() + within),
        };
        let progress = self.send_pending(true, stop).await?;
        Ok(progress == Progress::Done && self.pending() == 0)
    }

    /// The delivery task: batches, sends, retries, fsyncs (`Interval` policy) until
    /// `shutdown` is closed or receives a message; then delivers for at most
    /// `shutdown_timeout` and returns. Run exactly one per output.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let spool = &self.spool;
        let syncer = async {
            if let FsyncPolicy::Interval(every) = spool.config().fsync {
                loop {
                    Timer::after(every).await;
                    if let Err(e) = spool.sync().await {
                        self.log_error(format_args!("spool fsync failed: {e}"));
                    }
                }
            }
            std::future::pending::<()>().await;
        };
        smol::future::or(self.write_loop(&shutdown), syncer).await;
        let drain = Stop {
            shutdown: None,
            deadline: Some(Instant::now() + self.settings.shutdown_timeout),
        };
        let progress = match self.send_pending(true, drain).await {
            Ok(p) => p,
            Err(e) => {
                self.log_error(format_args!("{e}"));
                Progress::Interrupted
            }
        };
        if spool.config().fsync != FsyncPolicy::Never
            && let Err(e) = spool.sync().await
        {
            self.log_error(format_args!("spool fsync failed: {e}"));
        }
        let left = self.pending();
        if progress != Progress::Done || left > 0 {
            self.log(format_args!(
                "shutting down with {left} {} in the spool (sent on next start)",
                D::UNIT
            ));
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
        loop {
            let mut tick = Timer::after(self.settings.flush_interval);
            let send_all = loop {
                if self.batch_ready() {
                    break D::SEND_ALL_WHEN_FULL;
                }
                let data = async {
                    let _ = self.wake_rx.recv().await;
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
            let stop = Stop {
                shutdown: Some(shutdown),
                deadline: None,
            };
            match self.send_pending(send_all, stop).await {
                Ok(Progress::Done) => {}
                Ok(Progress::Interrupted) => return,
                Err(e) => {
                    self.log_error(format_args!("{e}"));
                    Timer::after(self.settings.flush_interval).await;
                }
            }
        }
    }

    fn batch_ready(&self) -> bool {
        let b = &self.settings.batching;
        self.spool.pending_lines() >= b.ready_lines || self.spool.pending_bytes() >= b.ready_bytes
    }

    /// Sends batches while a full batch is pending (or, with `all`, until the spool is
    /// empty). Stops early on shutdown or at the deadline.
    async fn send_pending(&self, all: bool, stop: Stop<'_>) -> Result<Progress, OutputError> {
        let b = &self.settings.batching;
        loop {
            if !all && !self.batch_ready() {
                return Ok(Progress::Done);
            }
            if stop.requested() {
                return Ok(Progress::Interrupted);
            }
            let Some(batch) = self.spool.read_batch(b.max_bytes, b.max_lines)? else {
                return Ok(Progress::Done);
            };
            match D::deliver(self, &batch.body, stop).await {
                Progress::Done => self.spool.commit(&batch)?,
                Progress::Interrupted => {
                    self.spool.abandon(&batch);
                    return Ok(Progress::Interrupted);
                }
            }
        }
    }

    /// After a failed attempt: counts it, logs it, and sleeps the backoff's next delay.
    /// False when shutdown or the deadline came first (do not retry).
    pub async fn wait_to_retry(
        &self,
        backoff: &mut Backoff,
        class: FailureClass,
        message: &str,
        stop: Stop<'_>,
    ) -> bool {
        let counters = self.delivery.counters();
        counters.failure(class).fetch_add(1, Ordering::Relaxed);
        counters.last_write_ok.store(0, Ordering::Relaxed);
        let delay = backoff.next_delay();
        self.log(format_args!(
            "write to {} failed ({}): {message}; retry {} in {:.1}s, {} {} spooled",
            self.settings.url,
            class.label(),
            backoff.failures(),
            delay.as_secs_f64(),
            self.spool.pending_lines(),
            D::UNIT
        ));
        if !stop.sleep(delay).await {
            return false;
        }
        counters.retries.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// After a successful attempt that sent `body_bytes` on the wire.
    pub fn count_success(&self, body_bytes: usize) {
        let counters = self.delivery.counters();
        counters
            .bytes_sent
            .fetch_add(body_bytes as u64, Ordering::Relaxed);
        counters.last_write_ok.store(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        counters
            .last_success_unix_seconds
            .store(now.as_secs(), Ordering::Relaxed);
    }
}

/// One POST; a transport failure comes back as the class it counts under and its text.
pub(crate) async fn post(
    url: &HttpUrl,
    request: &Request<'_>,
    timeout: Duration,
    max_response_bytes: usize,
) -> Result<Response, (FailureClass, String)> {
    http_client::send(url, request, timeout, max_response_bytes)
        .await
        .map_err(|e| match e {
            HttpError::Timeout => (
                FailureClass::Timeout,
                format!("no response within {timeout:?}"),
            ),
            e @ (HttpError::Connect(_) | HttpError::Io(_)) => {
                (FailureClass::Connect, e.to_string())
            }
            e => (FailureClass::Other, e.to_string()),
        })
}

/// Records in an output's spool, not yet queued for delivery: see
/// [`crate::influx::InfluxOutput::stage`].
#[must_use = "staged records are taken back out of the spool when dropped"]
#[derive(Debug)]
pub struct StagedRecords<'a> {
    staged: Staged<'a>,
    submits: &'a AtomicU64,
    submit_failures: &'a AtomicU64,
    wake: &'a Sender<()>,
}

impl StagedRecords<'_> {
    /// Makes the records as durable as the spool's fsync policy says.
    pub async fn sync(&self) -> Result<(), OutputError> {
        self.staged.sync().await.map_err(|e| {
            self.submit_failures.fetch_add(1, Ordering::Relaxed);
            OutputError::Spool(e)
        })
    }

    /// Queues the records for delivery (the output's task is woken).
    pub fn publish(self) {
        self.staged.publish();
        self.submits.fetch_add(1, Ordering::Relaxed);
        let _ = self.wake.try_send(());
    }
}
