//! Spool figures for `/metrics` (rendered by `crate::prom` per InfluxDB output).

use crate::atomic::AtomicU64;

/// Spool figures for `/metrics`. Gauges are current values; the rest only grow.
#[derive(Debug, Default)]
pub struct SpoolStats {
    /// Gauge: bytes of segment files on disk (headers included).
    pub bytes: AtomicU64,
    /// Gauge: number of segment files.
    pub segments: AtomicU64,
    /// Gauge: records appended but not yet delivered.
    pub pending_records: AtomicU64,
    /// Gauge: lines appended but not yet delivered.
    pub pending_lines: AtomicU64,
    /// Records appended (total).
    pub records_appended: AtomicU64,
    /// Undelivered records deleted because the spool was full (`DropOldest`).
    pub records_dropped_full: AtomicU64,
    /// Undelivered lines deleted because the spool was full (`DropOldest`).
    pub lines_dropped_full: AtomicU64,
    /// Undelivered payload bytes deleted because the spool was full (`DropOldest`).
    pub bytes_dropped_full: AtomicU64,
    /// Appends refused because the spool was full (`RefuseNew`), at `max_bytes` or
    /// because its disk was full.
    pub appends_refused_full: AtomicU64,
    /// Appends that found the disk full before `max_bytes` was reached; the full policy
    /// then applied (counted in the `*_dropped_full` or `appends_refused_full` figures).
    pub disk_full: AtomicU64,
    /// Segments truncated at open after their last valid record (a write cut short by a
    /// crash).
    pub torn_truncations: AtomicU64,
    /// Bytes removed by those truncations.
    pub torn_bytes: AtomicU64,
    /// Damaged spans of undelivered records skipped (a bad disk): the valid records
    /// around each are kept.
    pub corrupt_skips: AtomicU64,
    /// Bytes of those spans.
    pub corrupt_bytes: AtomicU64,
    /// Acknowledged lines lost in those spans (exact when found while reading, estimated
    /// from the span's bytes when found at open).
    pub lines_lost_corrupt: AtomicU64,
    /// fsync calls made.
    pub fsyncs: AtomicU64,
}
