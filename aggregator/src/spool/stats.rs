//! Spool figures for `/metrics` (rendered by `crate::prom` per InfluxDB output).

use std::sync::atomic::AtomicU64;

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
    /// Appends refused because the spool was full (`RefuseNew`).
    pub appends_refused_full: AtomicU64,
    /// Segments truncated at a torn or corrupt record (on open or while reading).
    pub torn_truncations: AtomicU64,
    /// Bytes removed by those truncations.
    pub torn_bytes: AtomicU64,
    /// fsync calls made.
    pub fsyncs: AtomicU64,
}
