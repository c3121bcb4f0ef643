//! Figures of one remote write output, and their `pimon_remote_write_*` exposition.
//!
//! Counters only grow (`_total`); the fields documented as gauges go up and down. All
//! atomics are updated with `Relaxed` ordering.

use std::fmt::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use pimon_protocol::catalog::{MetricType, Number};
use pimon_protocol::text::prometheus::{Format, write_header, write_sample};

use crate::atomic::AtomicU64;
use crate::influx::stats::FailureClass;
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
        let i = FailureClass::ALL
            .iter()
            .position(|&c| c == class)
            .unwrap_or(FailureClass::ALL.len() - 1);
        &self.failures[i]
    }

    /// The counter of a drop reason.
    pub fn dropped(&self, reason: DropReason) -> &AtomicU64 {
        &self.samples_dropped[reason as usize]
    }
}

fn load(a: &AtomicU64) -> Number {
    Number::U64(a.load(Ordering::Relaxed))
}

/// Writes the `pimon_remote_write_*` families, one sample per output (label
/// `output`). Nothing when there is no remote write output.
pub fn render<W: Write>(
    w: &mut W,
    format: Format,
    outputs: &[(String, &RemoteWriteStats)],
) -> fmt::Result {
    use MetricType::{Counter, Gauge};
    if outputs.is_empty() {
        return Ok(());
    }
    type Pick = fn(&RemoteWriteStats) -> Number;
    let families: [(&str, MetricType, &str, &str, Pick); 16] = [
        (
            "pimon_remote_write_requests_total",
            Counter,
            "Remote write requests the receiver accepted.",
            "",
            |s| load(&s.requests_written),
        ),
        (
            "pimon_remote_write_samples_written_total",
            Counter,
            "Samples in remote write requests the receiver accepted.",
            "",
            |s| load(&s.samples_written),
        ),
        (
            "pimon_remote_write_sent_bytes_total",
            Counter,
            "Bytes (snappy-compressed) of accepted remote write requests.",
            "bytes",
            |s| load(&s.bytes_sent),
        ),
        (
            "pimon_remote_write_retries_total",
            Counter,
            "Remote write requests sent again after a backoff.",
            "",
            |s| load(&s.retries),
        ),
        (
            "pimon_remote_write_last_write_ok",
            Gauge,
            "1 when the last remote write attempt succeeded.",
            "",
            |s| load(&s.last_write_ok),
        ),
        (
            "pimon_remote_write_last_success_timestamp_seconds",
            Gauge,
            "Unix time of the last accepted remote write request (0: none).",
            "seconds",
            |s| load(&s.last_success_unix_seconds),
        ),
        (
            "pimon_remote_write_submits_total",
            Counter,
            "Batches of frame samples accepted into the spool.",
            "",
            |s| load(&s.submits),
        ),
        (
            "pimon_remote_write_submit_failures_total",
            Counter,
            "Batches of frame samples the output could not accept (not acked).",
            "",
            |s| load(&s.submit_failures),
        ),
        (
            "pimon_remote_write_spool_bytes",
            Gauge,
            "Bytes of the output's on-disk spool.",
            "bytes",
            |s| load(&s.spool.bytes),
        ),
        (
            "pimon_remote_write_spool_pending_samples",
            Gauge,
            "Samples in the spool not yet delivered.",
            "",
            |s| load(&s.spool.pending_lines),
        ),
        (
            "pimon_remote_write_spool_samples_dropped_full_total",
            Counter,
            "Undelivered samples deleted because the spool was full.",
            "",
            |s| load(&s.spool.lines_dropped_full),
        ),
        (
            "pimon_remote_write_spool_appends_refused_full_total",
            Counter,
            "Appends refused because the spool was full (refuse_new policy).",
            "",
            |s| load(&s.spool.appends_refused_full),
        ),
        (
            "pimon_remote_write_spool_torn_truncations_total",
            Counter,
            "Spool segments truncated at open after their last valid record.",
            "",
            |s| load(&s.spool.torn_truncations),
        ),
        (
            "pimon_remote_write_spool_disk_full_total",
            Counter,
            "Appends that found the spool's disk full before spool_max_bytes.",
            "",
            |s| load(&s.spool.disk_full),
        ),
        (
            "pimon_remote_write_spool_corrupt_skips_total",
            Counter,
            "Damaged spans of undelivered spool records skipped.",
            "",
            |s| load(&s.spool.corrupt_skips),
        ),
        (
            "pimon_remote_write_spool_samples_lost_corrupt_total",
            Counter,
            "Acknowledged samples lost in damaged spool records.",
            "",
            |s| load(&s.spool.lines_lost_corrupt),
        ),
    ];
    for (name, metric_type, help, unit, pick) in families {
        write_header(w, format, name, metric_type, help, unit)?;
        for (output, s) in outputs {
            write_sample(w, format, name, &[("output", output)], pick(s), None)?;
        }
    }
    let name = "pimon_remote_write_samples_dropped_total";
    write_header(
        w,
        format,
        name,
        Counter,
        "Samples dropped instead of delivered, by reason.",
        "",
    )?;
    for (output, s) in outputs {
        for reason in DropReason::ALL {
            write_sample(
                w,
                format,
                name,
                &[("output", output), ("reason", reason.label())],
                load(s.dropped(reason)),
                None,
            )?;
        }
    }
    let name = "pimon_remote_write_failures_total";
    write_header(
        w,
        format,
        name,
        Counter,
        "Failed remote write attempts, by class.",
        "",
    )?;
    for (output, s) in outputs {
        for class in FailureClass::ALL {
            write_sample(
                w,
                format,
                name,
                &[("output", output), ("class", class.label())],
                load(s.failure(class)),
                None,
            )?;
        }
    }
    Ok(())
}
