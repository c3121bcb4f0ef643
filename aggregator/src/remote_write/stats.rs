//! Figures of one remote write output, and their `pimon_remote_write_*` families
//! (a table of [`crate::self_metrics`]).
//!
//! Counters only grow (`_total`); the fields documented as gauges go up and down. All
//! atomics are updated with `Relaxed` ordering.

use std::sync::Arc;

use crate::atomic::AtomicU64;
use crate::influx::stats::FailureClass;
use crate::self_metrics::{Family, Kind, Read, bytes_counter, counter, gauge, labelled, load};
use crate::spool::SpoolStats;

/// Why samples were dropped instead of delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The receiver answered 4xx (not 429): the request can never succeed, and the
    /// specification forbids retrying it.
    Rejected,
    /// A spool line that is not a sample (a damaged record that passed its CRC cannot
    /// happen; this guards the parser).
    Malformed,
}

impl DropReason {
    /// Every reason, in rendering order.
    pub const ALL: [DropReason; 2] = [DropReason::Rejected, DropReason::Malformed];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Rejected => "rejected",
            DropReason::Malformed => "malformed",
        }
    }
}

/// Figures of one remote write output.
#[derive(Debug, Default)]
pub struct RemoteWriteStats {
    /// Requests the receiver accepted (2xx).
    pub requests_written: AtomicU64,
    /// Samples in those requests.
    pub samples_written: AtomicU64,
    /// Compressed bytes of those requests.
    pub bytes_sent: AtomicU64,
    /// Samples dropped, by [`DropReason`].
    pub samples_dropped: [AtomicU64; DropReason::ALL.len()],
    /// Failed attempts, by [`FailureClass`] (`bad_data`: a 4xx answer; `too_large`: a
    /// 413, after which the request is split).
    pub failures: [AtomicU64; FailureClass::ALL.len()],
    /// Requests sent again after a backoff (5xx, 429, connection errors, timeouts).
    pub retries: AtomicU64,
    /// Gauge: 1 when the last attempt succeeded.
    pub last_write_ok: AtomicU64,
    /// Gauge: Unix time of the last success (0: none yet).
    pub last_success_unix_seconds: AtomicU64,
    /// Batches of frame samples accepted into the spool.
    pub submits: AtomicU64,
    /// Batches of frame samples the output could not accept (not acknowledged).
    pub submit_failures: AtomicU64,
    /// The spool's figures (its "lines" are samples).
    pub spool: Arc<SpoolStats>,
}

impl RemoteWriteStats {
    /// The counter of a failure class.
    pub fn failure(&self, class: FailureClass) -> &AtomicU64 {
        &self.failures[class.index()]
    }

    /// The counter of a drop reason.
    pub fn dropped(&self, reason: DropReason) -> &AtomicU64 {
        &self.samples_dropped[reason as usize]
    }
}

/// One remote write output's families ([`RemoteWriteStats`]), rendered with the
/// instance label `output` by [`crate::prom::render_outputs`].
pub const REMOTE_WRITE: &[Family<Read<RemoteWriteStats>>] = &[
    counter(
        "pimon_remote_write_requests_total",
        "Requests the receiver accepted (2xx).",
        |s| load(&s.requests_written),
    ),
    counter(
        "pimon_remote_write_samples_written_total",
        "Samples in those requests.",
        |s| load(&s.samples_written),
    ),
    bytes_counter(
        "pimon_remote_write_sent_bytes_total",
        "Bytes (snappy-compressed) of accepted requests.",
        |s| load(&s.bytes_sent),
    ),
    counter(
        "pimon_remote_write_retries_total",
        "Requests sent again after a backoff (5xx, 429, connection errors, timeouts).",
        |s| load(&s.retries),
    ),
    gauge(
        "pimon_remote_write_last_write_ok",
        "",
        "1 when the last attempt succeeded.",
        |s| load(&s.last_write_ok),
    ),
    gauge(
        "pimon_remote_write_last_success_timestamp_seconds",
        "seconds",
        "Unix time of the last accepted request (0: none yet).",
        |s| load(&s.last_success_unix_seconds),
    ),
    counter(
        "pimon_remote_write_submits_total",
        "Batches of frame samples accepted into the spool.",
        |s| load(&s.submits),
    ),
    counter(
        "pimon_remote_write_submit_failures_total",
        "Batches the output could not accept (spool error, full disk, or full with `refuse_new`): not acked.",
        |s| load(&s.submit_failures),
    ),
    gauge(
        "pimon_remote_write_spool_bytes",
        "bytes",
        "Bytes of the output's on-disk spool.",
        |s| load(&s.spool.bytes),
    ),
    gauge(
        "pimon_remote_write_spool_pending_samples",
        "",
        "Samples in the spool not yet delivered.",
        |s| load(&s.spool.pending_lines),
    ),
    counter(
        "pimon_remote_write_spool_samples_dropped_full_total",
        "Undelivered samples deleted because the spool was full (`drop_oldest`). **Acknowledged data lost.**",
        |s| load(&s.spool.lines_dropped_full),
    ),
    counter(
        "pimon_remote_write_spool_appends_refused_full_total",
        "Appends refused because the spool was full (`refuse_new`); the collectors keep and resend.",
        |s| load(&s.spool.appends_refused_full),
    ),
    counter(
        "pimon_remote_write_spool_torn_truncations_total",
        "Spool segments truncated at start-up after their last valid record.",
        |s| load(&s.spool.torn_truncations),
    ),
    counter(
        "pimon_remote_write_spool_disk_full_total",
        "Appends that found the spool's disk full before `spool_max_bytes`.",
        |s| load(&s.spool.disk_full),
    ),
    counter(
        "pimon_remote_write_spool_corrupt_skips_total",
        "Damaged spans of undelivered spool records skipped.",
        |s| load(&s.spool.corrupt_skips),
    ),
    counter(
        "pimon_remote_write_spool_samples_lost_corrupt_total",
        "Acknowledged samples lost in those spans. **Acknowledged data lost.**",
        |s| load(&s.spool.lines_lost_corrupt),
    ),
    labelled(
        "pimon_remote_write_samples_dropped_total",
        Kind::Counter,
        "",
        &["reason"],
        "Samples dropped instead of delivered: `rejected` (a 4xx answer, never retried by the specification) or `malformed` (a spool line that is not a sample). **Lost for that receiver.**",
        |s, emit| {
            for reason in DropReason::ALL {
                emit(&[("reason", reason.label())], load(s.dropped(reason)))?;
            }
            Ok(())
        },
    ),
    labelled(
        "pimon_remote_write_failures_total",
        Kind::Counter,
        "",
        &["class"],
        "Failed attempts by class: `connect`, `timeout`, `server_error`, `throttled`, `bad_data` (a 4xx), `too_large` (413, split), `other`; the other classes of the InfluxDB outputs stay 0.",
        |s, emit| {
            for class in FailureClass::ALL {
                emit(&[("class", class.label())], load(s.failure(class)))?;
            }
            Ok(())
        },
    ),
];
