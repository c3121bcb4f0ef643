//! The collector speaks up when the aggregator stops acking.
//!
//! A collector whose frames go nowhere (aggregator down, wrong address or port, a
//! firewall, a key the aggregator does not accept) still "sends" without error: UDP
//! has no connection to fail. The only symptom is that no ack comes back. [`AckWatch`]
//! turns that into a log line: when no ack has come for [`SILENT_INTERVALS`] collection
//! intervals while frames wait in the ring, it logs once, with the likely causes, and
//! again every [`REPEAT`] while the silence lasts; the first ack after a warning logs
//! that acks are back.
//!
//! An aggregator of protocol 1.2 answers a frame it refuses with a refusal that names
//! the cause (bad MAC, missing MAC, wrong key id, node not allowed, no keys). A refusal
//! is not authenticated — anyone can forge one — so it only picks the cause the line
//! names; it never stops sending and never drops a frame (the ring does not see it).

use std::time::{Duration, Instant};

use pimon_protocol::Reason;

use crate::log;

/// Intervals without an ack (with frames waiting) before the first warning.
pub const SILENT_INTERVALS: u32 = 3;
/// Shortest time between two warnings of one silence.
pub const REPEAT: Duration = Duration::from_secs(600);

/// What a refusal's reason means for the user, and what to fix.
pub fn explain(reason: Reason) -> &'static str {
    match reason {
        Reason::BadMac => {
            "bad MAC: the aggregator has a key with this key id for this node, but a different secret"
        }
        Reason::MissingMac => {
            "missing MAC: the aggregator requires a key for this node and this collector has none (set [key] or --key-file)"
        }
        Reason::WrongKeyId => {
            "wrong key id: the aggregator has no key with this collector's key id for this node"
        }
        Reason::UnknownNode => {
            "unknown node: the aggregator's key file does not allow this node name"
        }
        Reason::NotKeyed => {
            "not keyed: this collector authenticates its frames but the aggregator has no key file"
        }
        Reason::Other(_) => "a reason this collector does not know (a newer aggregator)",
    }
}

/// The likely causes of a silence without a refusal.
pub const SILENT_CAUSES: &str = "the aggregator is down or not listening on that port, \
     the address or port is wrong, a firewall drops UDP, or the key does not match \
     (an aggregator older than protocol 1.2 does not say which)";

/// Watches acks and refusals; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct AckWatch {
    interval: Duration,
    /// The last ack, or the start.
    since: Instant,
    /// The last refusal's reason since the last ack.
    refused: Option<Reason>,
    /// Refusals since the last ack.
    refusals: u64,
    /// The last warning of the current silence.
    warned: Option<Instant>,
}

impl AckWatch {
    /// A watch for a collector that sends every `interval`, started at `now`.
    pub fn new(interval: Duration, now: Instant) -> AckWatch {
        AckWatch {
            interval,
            since: now,
            refused: None,
            refusals: 0,
            warned: None,
        }
    }

    /// A new interval (reload).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// How long without an ack makes a silence.
    pub fn silence(&self) -> Duration {
        self.interval.saturating_mul(SILENT_INTERVALS)
    }

    /// An ack came at `now`: logs that acks are back if a silence was reported.
    pub fn acked(&mut self, now: Instant) {
        if self.warned.is_some() {
            log::notice!(
                "acks are back after {} s without",
                now.saturating_duration_since(self.since).as_secs()
            );
        }
        self.since = now;
        self.refused = None;
        self.refusals = 0;
        self.warned = None;
    }

    /// A refusal naming this node and boot came (unauthenticated: a hint only).
    pub fn refused(&mut self, reason: Reason) {
        self.refused = Some(reason);
        self.refusals += 1;
    }

    /// Logs a warning when the silence is long enough and one is due; `unacked` frames
    /// wait in the ring, `to` is where they go. Returns true when it logged.
    pub fn check(
        &mut self,
        now: Instant,
        unacked: usize,
        to: Option<std::net::SocketAddr>,
    ) -> bool {
        let silent = now.saturating_duration_since(self.since);
        if unacked == 0 || silent < self.silence() {
            return false;
        }
        if self
            .warned
            .is_some_and(|t| now.saturating_duration_since(t) < REPEAT)
        {
            return false;
        }
        self.warned = Some(now);
        let to = Target(to);
        match self.refused {
            Some(reason) => log::warning!(
                "no ack from the aggregator {to} for {} s ({unacked} frame(s) kept in the ring for resending): it refused {} frame(s): {} (an unauthenticated hint; sending goes on)",
                silent.as_secs(),
                self.refusals,
                explain(reason)
            ),
            None => log::warning!(
                "no ack from the aggregator {to} for {} s ({unacked} frame(s) kept in the ring for resending); likely causes: {SILENT_CAUSES}",
                silent.as_secs()
            ),
        }
        true
    }
}

/// The destination in a log line, without allocating.
struct Target(Option<std::net::SocketAddr>);

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "at {addr}"),
            None => f.write_str("(address not resolved)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_after_silent_intervals_then_every_repeat_and_resets_on_ack() {
        let t0 = Instant::now();
        let mut w = AckWatch::new(Duration::from_secs(10), t0);
        assert!(!w.check(t0 + Duration::from_secs(29), 3, None));
        assert!(
            !w.check(t0 + Duration::from_secs(31), 0, None),
            "nothing waits"
        );
        assert!(w.check(t0 + Duration::from_secs(31), 3, None));
        assert!(
            !w.check(t0 + Duration::from_secs(60), 3, None),
            "rate-limited"
        );
        assert!(w.check(t0 + Duration::from_secs(32) + REPEAT, 3, None));
        w.acked(t0 + Duration::from_secs(700));
        assert!(!w.check(t0 + Duration::from_secs(701), 3, None));
        assert!(w.check(t0 + Duration::from_secs(731), 3, None));
    }

    #[test]
    fn a_refusal_names_the_cause_but_an_ack_forgets_it() {
        let t0 = Instant::now();
        let mut w = AckWatch::new(Duration::from_secs(1), t0);
        w.refused(Reason::BadMac);
        assert_eq!(w.refused, Some(Reason::BadMac));
        w.acked(t0);
        assert_eq!((w.refused, w.refusals), (None, 0));
    }
}
