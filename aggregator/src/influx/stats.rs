//! Counters and gauges of one InfluxDB output, for `/metrics`.
//!
//! All fields are atomics updated with `Relaxed` ordering; read them with
//! `load(Ordering::Relaxed)` or take a [`InfluxStats::snapshot`]. Counters only grow
//! (Prometheus `counter`, suffix `_total`); fields documented as gauges go up and down.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::atomic::AtomicU64;
use crate::spool::SpoolStats;

/// Upper bounds (seconds) of the write-latency histogram buckets; a last, implicit
/// `+Inf` bucket follows.
pub const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Why a write attempt failed; each class has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// Could not connect, or the connection broke (InfluxDB down or unreachable).
    Connect,
    /// No complete response within the timeout.
    Timeout,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 429 Too Many Requests.
    Throttled,
    /// HTTP 401 or 403: credentials or token wrong or lacking permission.
    Unauthorized,
    /// HTTP 404: database/bucket/org not found (or wrong URL prefix).
    NotFound,
    /// HTTP 400/422 with bad data: lines were identified and dropped, or the batch split.
    BadData,
    /// HTTP 413: batch too large; it is split.
    TooLarge,
    /// Any other status, or a response that was not valid HTTP.
    Other,
}

impl FailureClass {
    /// Every class, in a fixed order (for rendering).
    pub const ALL: [FailureClass; 9] = [
        FailureClass::Connect,
        FailureClass::Timeout,
        FailureClass::ServerError,
        FailureClass::Throttled,
        FailureClass::Unauthorized,
        FailureClass::NotFound,
        FailureClass::BadData,
        FailureClass::TooLarge,
        FailureClass::Other,
    ];

    /// Its position in [`FailureClass::ALL`]: the index of its counter in an array of
    /// counters per class.
    pub fn index(self) -> usize {
        FailureClass::ALL
            .iter()
            .position(|&c| c == self)
            .unwrap_or(FailureClass::ALL.len() - 1)
    }

    /// Short label value, e.g. for `pimon_influx_write_failures_total{class="connect"}`.
    pub fn label(self) -> &'static str {
        match self {
            FailureClass::Connect => "connect",
            FailureClass::Timeout => "timeout",
            FailureClass::ServerError => "server_error",
            FailureClass::Throttled => "throttled",
            FailureClass::Unauthorized => "unauthorized",
            FailureClass::NotFound => "not_found",
            FailureClass::BadData => "bad_data",
            FailureClass::TooLarge => "too_large",
            FailureClass::Other => "other",
        }
    }

    /// Whether the same request is retried after a backoff (the other classes change
    /// the request: drop lines or split the batch).
    pub fn is_retried(self) -> bool {
        !matches!(self, FailureClass::BadData | FailureClass::TooLarge)
    }
}

/// Write-latency histogram of successful write requests (request start to response).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS_SECONDS`], then `+Inf`.
    pub buckets: [AtomicU64; LATENCY_BUCKETS_SECONDS.len() + 1],
    /// Sum of all observed latencies, in microseconds.
    pub sum_micros: AtomicU64,
    /// Number of observations.
    pub count: AtomicU64,
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn observe(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let index = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            latency.as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts (Prometheus `_bucket{le=…}` values), `+Inf` last.
    pub fn cumulative(&self) -> [u64; LATENCY_BUCKETS_SECONDS.len() + 1] {
        let mut out = [0; LATENCY_BUCKETS_SECONDS.len() + 1];
        let mut running = 0;
        for (slot, bucket) in out.iter_mut().zip(&self.buckets) {
            running += bucket.load(Ordering::Relaxed);
            *slot = running;
        }
        out
    }
}

/// Figures of one InfluxDB output.
#[derive(Debug, Default)]
pub struct InfluxStats {
    /// Write requests that succeeded (2xx).
    pub batches_written: AtomicU64,
    /// Lines in those requests.
    pub lines_written: AtomicU64,
    /// Uncompressed body bytes in those requests.
    pub bytes_written: AtomicU64,
    /// Bytes sent on the wire for those requests' bodies (after gzip).
    pub bytes_sent: AtomicU64,
    /// Failed write attempts, by [`FailureClass`] (index = position in
    /// [`FailureClass::ALL`]); see [`InfluxStats::failures`].
    pub write_failures: [AtomicU64; FailureClass::ALL.len()],
    /// Lines dropped because InfluxDB rejected them as bad data (each logged).
    pub lines_dropped_bad_data: AtomicU64,
    /// Retries after a backoff (connection errors, timeouts, 5xx, 429, 401/403/404…).
    pub retries: AtomicU64,
    /// Gauge: 1 when the last write attempt succeeded, 0 when it failed or none yet.
    pub last_write_ok: AtomicU64,
    /// Gauge: Unix time (seconds) of the last successful write, 0 if none.
    pub last_success_unix_seconds: AtomicU64,
    /// `submit` calls that returned Ok (records spooled).
    pub submits: AtomicU64,
    /// `submit` calls that failed (spool I/O error, spool full with `RefuseNew`, bad input).
    pub submit_failures: AtomicU64,
    /// Latency of successful write requests.
    pub latency: LatencyHistogram,
    /// The spool's figures: bytes, pending lines, records dropped for space, torn records.
    pub spool: Arc<SpoolStats>,
}

impl InfluxStats {
    /// Counter of failures of one class.
    pub fn failures(&self, class: FailureClass) -> u64 {
        self.failure_counter(class).load(Ordering::Relaxed)
    }

    pub(crate) fn failure_counter(&self, class: FailureClass) -> &AtomicU64 {
        &self.write_failures[class.index()]
    }

    /// A plain copy of the main figures.
    pub fn snapshot(&self) -> InfluxStatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        InfluxStatsSnapshot {
            batches_written: load(&self.batches_written),
            lines_written: load(&self.lines_written),
            bytes_written: load(&self.bytes_written),
            write_failures_total: self.write_failures.iter().map(load).sum(),
            lines_dropped_bad_data: load(&self.lines_dropped_bad_data),
            retries: load(&self.retries),
            spool_bytes: load(&self.spool.bytes),
            spool_pending_lines: load(&self.spool.pending_lines),
            spool_records_dropped_full: load(&self.spool.records_dropped_full),
            spool_torn_truncations: load(&self.spool.torn_truncations),
        }
    }
}

/// A point-in-time copy of [`InfluxStats`]' main figures (for tests and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfluxStatsSnapshot {
    /// See [`InfluxStats::batches_written`].
    pub batches_written: u64,
    /// See [`InfluxStats::lines_written`].
    pub lines_written: u64,
    /// See [`InfluxStats::bytes_written`].
    pub bytes_written: u64,
    /// Sum over [`InfluxStats::write_failures`].
    pub write_failures_total: u64,
    /// See [`InfluxStats::lines_dropped_bad_data`].
    pub lines_dropped_bad_data: u64,
    /// See [`InfluxStats::retries`].
    pub retries: u64,
    /// See [`SpoolStats::bytes`].
    pub spool_bytes: u64,
    /// See [`SpoolStats::pending_lines`].
    pub spool_pending_lines: u64,
    /// See [`SpoolStats::records_dropped_full`].
    pub spool_records_dropped_full: u64,
    /// See [`SpoolStats::torn_truncations`].
    pub spool_torn_truncations: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(100));
        let c = h.cumulative();
        assert_eq!(c[0], 1);
        assert_eq!(c[3], 2); // le=0.05
        assert_eq!(c[LATENCY_BUCKETS_SECONDS.len() - 1], 2);
        assert_eq!(c[LATENCY_BUCKETS_SECONDS.len()], 3);
        assert_eq!(h.count.load(Ordering::Relaxed), 3);
        assert_eq!(h.sum_micros.load(Ordering::Relaxed), 100_031_000);
    }

    #[test]
    fn failure_counters_are_separate() {
        let s = InfluxStats::default();
        s.failure_counter(FailureClass::NotFound)
            .fetch_add(2, Ordering::Relaxed);
        s.failure_counter(FailureClass::Connect)
            .fetch_add(1, Ordering::Relaxed);
        assert_eq!(s.failures(FailureClass::NotFound), 2);
        assert_eq!(s.failures(FailureClass::Connect), 1);
        assert_eq!(s.failures(FailureClass::Timeout), 0);
        assert_eq!(s.snapshot().write_failures_total, 3);
    }
}
