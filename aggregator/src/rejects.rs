//! Rate-limited log lines for rejected datagrams.
//!
//! Every rejected datagram is counted in `/metrics`; this adds the log line design
//! principle 8 asks for, without letting a flood fill the journal: at most one line per
//! kind of rejection every [`REJECT_LOG_INTERVAL`], naming the sender, the cause, and
//! how many similar lines were held back since the last one. Events (a name conflict)
//! go through the same limiter.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ingest::{Event, Verdict};

/// Shortest time between two log lines of the same kind.
pub const REJECT_LOG_INTERVAL: Duration = Duration::from_secs(10);

const KINDS: usize = 9;
const EVENT_NAME_CONFLICT: usize = 8;

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
            Verdict::Stored | Verdict::Duplicate | Verdict::Old | Verdict::Probe => return None,
            Verdict::Decode(k) => (0, format!("not a valid pimon frame ({})", k.label())),
            Verdict::Auth(a) => (1, format!("authentication failed ({})", a.label())),
            Verdict::Replay => (
                2,
                "frame of a retired boot id, or a keyed frame too old to start a boot (replay)"
                    .to_string(),
            ),
            Verdict::UnknownNode => (3, "node not allowed by the key file".to_string()),
            Verdict::NodeLimit => (
                4,
                "new node refused: node table full (limits.max_nodes, --max-nodes); \
                 new nodes idle for their stale time are forgotten while it is this full"
                    .to_string(),
            ),
            Verdict::AddressLimit => (
                5,
                "new node refused: this address already has limits.max_new_nodes_per_address \
                 nodes that are not yet established"
                    .to_string(),
            ),
            Verdict::Unconfirmed => (
                6,
                "frame held back: it would change its node's boot id or sequence window \
                 and is not confirmed yet (a real collector resends it)"
                    .to_string(),
            ),
        };
        self.line_at(kind, now, |held| {
            format!("rejected datagram from {from}: {what}{held}")
        })
    }

    /// Notes an event; returns the line to log, if one is due.
    pub fn event(&mut self, event: &Event, now: Instant) -> Option<String> {
        match event {
            Event::NameConflict {
                node,
                current,
                other,
            } => {
                let current_from = current.1.map_or("?".to_string(), |a| a.to_string());
                self.line_at(EVENT_NAME_CONFLICT, now, |held| {
                    format!(
                        "node {node:?}: two collectors send as this node: \
                         boot {:#018x} from {current_from} (stored) and boot {:#018x} from {} \
                         (held back); give each host its own node name (--node){held}",
                        current.0, other.0, other.1
                    )
                })
            }
        }
    }

    fn line_at(
        &mut self,
        kind: usize,
        now: Instant,
        text: impl FnOnce(String) -> String,
    ) -> Option<String> {
        if self.last[kind].is_some_and(|t| now.duration_since(t) < REJECT_LOG_INTERVAL) {
            self.suppressed[kind] += 1;
            return None;
        }
        let held = std::mem::take(&mut self.suppressed[kind]);
        self.last[kind] = Some(now);
        Some(text(if held > 0 {
            format!(" ({held} similar not logged)")
        } else {
            String::new()
        }))
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
            first.starts_with("rejected datagram from 192.0.2.7:4000: authentication failed ("),
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

    #[test]
    fn refusals_name_their_cause_and_a_name_conflict_names_both_senders() {
        let mut log = RejectLog::default();
        let from: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let t0 = Instant::now();
        let full = log.note(Verdict::NodeLimit, from, t0).unwrap();
        assert!(full.contains("node table full"), "{full}");
        let addr = log.note(Verdict::AddressLimit, from, t0).unwrap();
        assert!(addr.contains("max_new_nodes_per_address"), "{addr}");
        let event = Event::NameConflict {
            node: "pi".into(),
            current: (7, Some("192.0.2.1:4000".parse().unwrap())),
            other: (9, "192.0.2.2:5000".parse().unwrap()),
        };
        let line = log.event(&event, t0).unwrap();
        assert_eq!(
            line,
            "node \"pi\": two collectors send as this node: boot \
             0x0000000000000007 from 192.0.2.1:4000 (stored) and boot 0x0000000000000009 \
             from 192.0.2.2:5000 (held back); give each host its own node name (--node)"
        );
        assert_eq!(log.event(&event, t0), None, "rate-limited like the rest");
    }
}
