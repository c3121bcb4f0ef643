//! The durable on-disk spool: an append-only, bounded write-ahead log of
//! line-protocol records, one per hand-over of lines to an InfluxDB output.
//!
//! Module map: [`format`](mod@format) the bytes on disk (segment magic, record header
//! and CRC, the cursor file, the resynchronising scan); [`recovery`] what
//! [`Spool::open`] — and a read that meets damage — does with whatever a crash or a bad
//! disk left; [`queue`] the [`Spool`] itself (stage or append, make room, read in order,
//! commit); [`stats`] its figures for `/metrics`.
//!
//! Every line an InfluxDB output accepts goes through the spool first, whether InfluxDB
//! is up or not: the spool is the output's queue. The writer task reads records back in
//! order, sends them, and [`Spool::commit`]s what InfluxDB took. So "replay in order after
//! an outage" and "replay after a restart" are the normal path, not a special one.
//!
//! # On disk
//! Segment files `<20-digit id>.seg` (ids increase) of CRC'd records, each record one or
//! more `\n`-terminated lines, and a `cursor` file saying how far delivery got (see
//! [`format`](mod@format)). The cursor is replaced by write-to-temp + rename after each
//! delivered batch and is not fsynced, so after a crash a few batches may be delivered twice;
//! InfluxDB overwrites a point with the same series and timestamp, so that is harmless
//! (at-least-once delivery). [`Spool::open`] checks every record and never panics on any
//! file content; a damaged record costs only its own lines (see [`recovery`]).
//!
//! # Durability ([`FsyncPolicy`])
//! - `Always` (default): [`Spool::append`] returns only after the record is fsynced
//!   (`fdatasync`). Concurrent appends share one fsync (group commit). Survives kill -9
//!   and power loss.
//! - `Interval(d)`: appends return once the record is written to the file (the kernel's
//!   page cache); the output's task fsyncs every `d`. Survives kill -9 of the aggregator
//!   (the kernel still has the data); a power loss or kernel crash may lose up to `d`.
//! - `Never`: like `Interval` but the kernel decides when to write back (typically within
//!   30 s). Use for a spool on tmpfs, or when flash wear matters more than power loss.
//!
//! When a segment fills up and a new one starts, the old one is fsynced (except with
//! `Never`) and, with `Always`, the directory too, so the new file's name is durable.
//!
//! # Bound ([`SpoolFullPolicy`])
//! The spool never holds more than `max_bytes` of segment files. When an append would
//! exceed it, the default `DropOldest` deletes the oldest whole segments (the oldest data,
//! already acknowledged to collectors) and counts the records, lines and bytes lost; the
//! newest data is kept because it is what dashboards and alerts need. `RefuseNew` instead
//! fails the append with [`SpoolError::Full`], so the aggregator does not acknowledge and
//! the collectors keep the frames in their own (bounded) rings and resend them later.
//! Segments are at most a quarter of `max_bytes`, so `DropOldest` drops at most about a
//! quarter of the spool at a time. A disk that fills before `max_bytes` gets the same
//! policy (see [`queue`]).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub mod format;
pub mod queue;
pub mod recovery;
pub mod stats;
#[cfg(test)]
mod tests;

pub use format::{MAX_RECORD_BYTES, RECORD_HEADER_BYTES, SEGMENT_MAGIC};
pub use queue::{Spool, Staged};
pub use stats::SpoolStats;

/// When appended records are forced to stable storage. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// fsync before [`Spool::append`] returns (default).
    #[default]
    Always,
    /// fsync every this often (driven by the output's task via [`Spool::sync`]).
    Interval(Duration),
    /// Never fsync explicitly.
    Never,
}

/// What to do when the spool is full. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SpoolFullPolicy {
    /// Delete the oldest segments to make room (default); counted.
    #[default]
    DropOldest,
    /// Fail the append with [`SpoolError::Full`].
    RefuseNew,
}

/// Spool settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Directory for the segment files; created if missing. One spool per directory.
    pub dir: PathBuf,
    /// Upper bound on the total size of the segment files.
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started. `None`: a quarter of
    /// `max_bytes`, capped at 16 MiB. Always clamped to at most a quarter of `max_bytes`.
    pub segment_bytes: Option<u64>,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// What to do when full.
    pub when_full: SpoolFullPolicy,
}

impl SpoolConfig {
    /// Defaults: 256 MiB, fsync always, drop oldest when full.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: None,
            fsync: FsyncPolicy::Always,
            when_full: SpoolFullPolicy::DropOldest,
        }
    }

    fn effective_segment_bytes(&self) -> u64 {
        let quarter = (self.max_bytes / 4).max(1);
        self.segment_bytes
            .unwrap_or(16 * 1024 * 1024)
            .min(quarter)
            .max(64)
    }
}

/// Errors from the spool.
#[derive(Debug)]
pub enum SpoolError {
    /// A file operation failed.
    Io(io::Error),
    /// The spool is full and the policy is `RefuseNew`.
    Full,
    /// The spool's filesystem is full (before `max_bytes`) and the policy is
    /// `RefuseNew`, or `DropOldest` found nothing left to delete.
    DiskFull(io::Error),
    /// A single record larger than [`MAX_RECORD_BYTES`] or than the spool itself.
    RecordTooLarge(u64),
    /// The payload is not whole lines (empty, or no final newline).
    NotLines,
    /// Another record is staged and not yet published or discarded.
    Busy,
    /// Another spool in this process has this directory open.
    InUse(PathBuf),
    /// The spool directory could not be created, opened or recovered.
    Open(PathBuf, io::Error),
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Io(e) => write!(f, "spool I/O error: {e}"),
            SpoolError::Full => f.write_str("spool full (policy: refuse new data)"),
            SpoolError::DiskFull(e) => write!(f, "the spool's disk is full: {e}"),
            SpoolError::RecordTooLarge(n) => {
                write!(f, "record of {n} bytes exceeds the spool's limits")
            }
            SpoolError::NotLines => f.write_str("a spool record must be whole lines"),
            SpoolError::Busy => f.write_str("another spool record is staged"),
            SpoolError::InUse(p) => write!(f, "spool directory {} is already in use", p.display()),
            SpoolError::Open(p, e) => write!(f, "spool directory {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for SpoolError {}

impl From<io::Error> for SpoolError {
    fn from(e: io::Error) -> Self {
        SpoolError::Io(e)
    }
}

/// Where a record ended: returned by [`Spool::write`], awaited by [`Spool::sync_through`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Segment id.
    pub segment: u64,
    /// Byte offset just past the record.
    pub offset: u64,
}

/// Records read back for delivery: a contiguous run from one segment, starting at the
/// delivered cursor. Pass it to [`Spool::commit`] once InfluxDB has taken it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolBatch {
    /// Segment the records come from.
    pub segment: u64,
    /// Offset of the first record.
    pub start: u64,
    /// Offset just past the last record.
    pub end: u64,
    /// Number of records.
    pub records: u64,
    /// Number of lines (`\n` count).
    pub lines: u64,
    /// The records' payloads, concatenated (whole lines).
    pub body: Vec<u8>,
}
