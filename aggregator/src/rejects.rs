//! Rate-limited log lines for rejected datagrams.
//!
//! Every rejected datagram is counted in `/metrics`; this adds the log line design
//! principle 8 asks for, without letting a flood fill the journal: at most one line per
//! kind of rejection every [`REJECT_LOG_INTERVAL`], naming the sender and how many
//! similar lines were held back since the last one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ingest::Verdict;

/// Shortest time between two log lines of the same kind.
pub const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(10);

const KINDS: usize = 5;

/// Per-kind rate limiter for rejection log lines.
#[derive(Debug, Default)]
pub struct RejectLog {
    last: [Option<Instant>; KINDS],
    suppressed: [u64; KINDS],
}

impl RejectLog {
    /// Notes `verdict` for a datagram from `from`; returns the line to log, if one is due.
    /// Stored, duplicate and old frames are not rejections and return `None`.
    pub fn note(&mut self, verdict: Verdict, from: SocketAddr, now: Instant) -> Option<String> {
        let (kind, what) = match verdict {
            Verdict::Stored | Verdict::Duplicate | Verdict::Old => return None,
            Verdict::Decode(k) => (0, format!("not a valid pimon frame ({})", k.label())),
            Verdict::Auth(a) => (1, format!("authentication failed ({})", a.label())),
            Verdict::Replay => (2, "replayed frame of an older boot id".to_string()),
            Verdict::UnknownNode => (3, "node not allowed by the key file".to_string()),
            Verdict::NodeLimit => (4, "new node refused: --max-nodes reached".to_string()),
        };
        if self.last[kind].is_some_and(|t| now.duration_since(t) < REJECT_LOG_INTERVAL) {
            self.suppressed[kind] += 1;
            return None;
        }
        let held = std::mem::take(&mut self.suppressed[kind]);
        self.last[kind] = Some(now);
        Some(if held > 0 {
            format!(
                "pimon-aggregator: rejected datagram from {from}: {what} ({held} similar not logged)"
            )
        } else {
            format!("pimon-aggregator: rejected datagram from {from}: {what}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::AuthFailure;

    #[test]
    fn one_line_per_kind_per_interval_with_the_held_back_count() {
        let mut log = RejectLog::default();
        let from: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(log.note(Verdict::Stored, from, t0), None);
        let first = log
            .note(Verdict::Auth(AuthFailure::BadMac), from, t0)
            .unwrap();
        assert!(
            first.starts_with(
                "pimon-aggregator: rejected datagram from 192.0.2.7:4000: authentication failed ("
            ),
            "{first}"
        );
        assert!(!first.contains("not logged"), "{first}");
        for _ in 0..5 {
            assert_eq!(log.note(Verdict::Auth(AuthFailure::BadMac), from, t0), None);
        }
        // Another kind has its own budget.
        assert!(log.note(Verdict::Replay, from, t0).is_some());
        let later = t0 + REJECT_LOG_INTERVAL;
        let again = log
            .note(Verdict::Auth(AuthFailure::BadMac), from, later)
            .unwrap();
        assert!(again.ends_with("(5 similar not logged)"), "{again}");
    }
}
