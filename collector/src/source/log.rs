//! Logging for sources through [`crate::log`] (one `write(2)` per line, journald
//! priorities): absent sources once at start-up, sources found or gone later once each,
//! failures counted and logged at a
//! limited rate.

use std::fmt;
use std::time::{Duration, Instant};

use super::SourceKind;
use crate::log::{Level, log};

/// At most one failure line per source per this interval (the first failure is always
/// logged; the next line says how many were not).
pub const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(300);

/// Logs that a source is absent and skipped (called once, at start-up).
pub(crate) fn absent(kind: SourceKind, why: fmt::Arguments<'_>) {
    log(
        Level::Notice,
        format_args!("source {}: absent ({why}); skipped", kind.name()),
    );
}

/// Logs that an absent source was found (by discovery after start-up).
pub(crate) fn found(kind: SourceKind, what: fmt::Arguments<'_>) {
    log(
        Level::Notice,
        format_args!("source {}: found: {what}", kind.name()),
    );
}

/// Logs that a present source is gone (discovery found nothing any more).
pub(crate) fn gone(kind: SourceKind, why: fmt::Arguments<'_>) {
    log(
        Level::Warning,
        format_args!(
            "source {}: gone ({why}); looked for again later",
            kind.name()
        ),
    );
}

/// Logs a note about a source.
pub(crate) fn note(kind: SourceKind, what: fmt::Arguments<'_>) {
    log(Level::Info, format_args!("source {}: {what}", kind.name()));
}

/// Failure counter of one source, with rate-limited logging.
#[derive(Debug)]
pub(crate) struct ErrorCounter {
    kind: SourceKind,
    count: u64,
    last_log: Option<Instant>,
    unlogged: u64,
    /// This cycle sent values of an earlier read that failed ([`Self::resend_failed`]).
    resent_failure: bool,
}

impl ErrorCounter {
    pub(crate) const fn new(kind: SourceKind) -> Self {
        ErrorCounter {
            kind,
            count: 0,
            last_log: None,
            resent_failure: false,
            unlogged: 0,
        }
    }

    /// Failures since start-up.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }

    /// A reader on a slower cadence sends, in a cycle between its reads, the values of
    /// a read that failed: the cycle is not a success
    /// (`node_scrape_collector_success` 0), though nothing new failed or is counted.
    pub(crate) fn resend_failed(&mut self) {
        self.resent_failure = true;
    }

    /// Whether [`Self::resend_failed`] was called since the last call of this.
    pub(crate) fn take_resent_failure(&mut self) -> bool {
        std::mem::take(&mut self.resent_failure)
    }

    /// Adds failures that were already logged by a background thread.
    pub(crate) fn add_logged_elsewhere(&mut self, n: u64) {
        self.count = self.count.saturating_add(n);
    }

    /// Counts one failure and logs it unless a line was logged for this source within
    /// [`FAILURE_LOG_INTERVAL`]. No allocation.
    pub(crate) fn fail(&mut self, what: fmt::Arguments<'_>) {
        self.count = self.count.saturating_add(1);
        let now = Instant::now();
        let due = self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= FAILURE_LOG_INTERVAL);
        if !due {
            self.unlogged = self.unlogged.saturating_add(1);
            return;
        }
        if self.unlogged > 0 {
            log(
                Level::Warning,
                format_args!(
                    "source {}: {what} ({} more failures not logged, {} in total)",
                    self.kind.name(),
                    self.unlogged,
                    self.count
                ),
            );
        } else {
            log(
                Level::Warning,
                format_args!("source {}: {what}", self.kind.name()),
            );
        }
        self.unlogged = 0;
        self.last_log = Some(now);
    }
}
