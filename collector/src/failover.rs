//! Several aggregators, no single point of failure: the collector sends to the first
//! aggregator of its list that acknowledges, fails over when acks stop, and fails back
//! when the first one answers again.
//!
//! - **Active.** Frames go to one aggregator at a time, the first of the list at start.
//! - **Failing over.** When frames have waited [`Failover::delay_ms`] without an ack
//!   from the active aggregator — three collection intervals, at least 2 s, at most
//!   30 s — the next aggregator of the list becomes active and every frame still in the
//!   ring is resent to it (oldest first, paced like any resend). The switch is logged
//!   once; when a whole round of the list went by without an ack, further switches are
//!   not logged until an aggregator answers again. The new aggregator starts its window
//!   at the ring's resend floor, so it asks for exactly what it lacks.
//! - **Failing back.** While not on the first aggregator, the new frames of one cycle
//!   every [`Failover::probe_every_ms`] (four failover delays, at least 10 s) also go to
//!   every aggregator before the active one. When one of them acknowledges (an ack
//!   arriving on its socket), it becomes active again. A frame stored by both is the
//!   same point in every output: same series, same timestamp (the frame's).
//! - **Where acks come from.** Each aggregator has its own UDP socket ([`Net`]), so an
//!   ack is known to come from the aggregator its socket sends to, whatever source
//!   address a multi-homed router answers from.
//!
//! [`Failover`] is the pure decision (times in, switches out, unit-tested);
//! [`Aggregators`] joins it to one [`Net`] per aggregator. Nothing here allocates in
//! the steady state.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pimon_protocol::Key;

use crate::net::{Net, NetStats, Received};

/// Shortest failover delay.
pub const MIN_DELAY: Duration = Duration::from_secs(2);
/// Longest failover delay.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Shortest time between two fail-back probes.
pub const MIN_PROBE_EVERY: Duration = Duration::from_secs(10);

/// One aggregator of the list: as given (`HOST:PORT`), or an address already known
/// (the default gateway, a link-local IPv6 router with its interface).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorAddr {
    /// What to show and, without `addr`, what to resolve: `router.lan:9797`.
    pub spec: String,
    /// The address when it needs no resolution.
    pub addr: Option<SocketAddr>,
}

impl AggregatorAddr {
    /// An aggregator given as `HOST:PORT`, resolved when used.
    pub fn named(spec: &str) -> AggregatorAddr {
        AggregatorAddr {
            spec: spec.to_string(),
            addr: None,
        }
    }
}

impl fmt::Display for AggregatorAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// A change of the active aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// The active one did not acknowledge for `silent_ms`: frames go to `to` now.
    FailOver {
        /// The silent aggregator.
        from: usize,
        /// The next one.
        to: usize,
        /// How long frames waited without an ack.
        silent_ms: u64,
        /// A whole round of the list went by without an ack: do not log this one.
        quiet: bool,
    },
    /// `to`, earlier in the list, acknowledged a probe: frames go back to it.
    FailBack {
        /// The aggregator left.
        from: usize,
        /// The preferred one, answering again.
        to: usize,
    },
}

/// The failover decision: which aggregator is active, when to switch, when to probe.
#[derive(Debug, Clone)]
pub struct Failover {
    count: usize,
    active: usize,
    delay_ms: u64,
    probe_every_ms: u64,
    /// Since when frames have waited for an ack from the active aggregator.
    waiting_since: Option<u64>,
    last_probe_ms: u64,
    /// Failovers since the last ack from an active aggregator.
    silent_switches: usize,
}

impl Failover {
    /// `count` aggregators (at least one), collection interval `interval_ms`, starting
    /// on the first at `now_ms`.
    pub fn new(count: usize, interval_ms: u64, now_ms: u64) -> Failover {
        let delay =
            Duration::from_millis(interval_ms.saturating_mul(3)).clamp(MIN_DELAY, MAX_DELAY);
        let probe = (delay * 4).max(MIN_PROBE_EVERY);
        Failover {
            count: count.max(1),
            active: 0,
            delay_ms: delay.as_millis() as u64,
            probe_every_ms: probe.as_millis() as u64,
            waiting_since: None,
            last_probe_ms: now_ms,
            silent_switches: 0,
        }
    }

    /// Index of the active aggregator.
    pub fn active(&self) -> usize {
        self.active
    }

    /// How long frames may wait for an ack before the next aggregator is tried.
    pub fn delay_ms(&self) -> u64 {
        self.delay_ms
    }

    /// How often aggregators earlier in the list are probed while not active.
    pub fn probe_every_ms(&self) -> u64 {
        self.probe_every_ms
    }

    /// Called often (every wait for acks) with the frames not yet acknowledged: fails
    /// over when they have waited too long.
    pub fn tick(&mut self, now_ms: u64, outstanding: usize) -> Option<Switch> {
        if outstanding == 0 {
            self.waiting_since = None;
            return None;
        }
        let since = *self.waiting_since.get_or_insert(now_ms);
        let silent_ms = now_ms.saturating_sub(since);
        if self.count < 2 || silent_ms < self.delay_ms {
            return None;
        }
        let from = self.active;
        self.active = (from + 1) % self.count;
        self.waiting_since = Some(now_ms);
        self.silent_switches += 1;
        Some(Switch::FailOver {
            from,
            to: self.active,
            silent_ms,
            quiet: self.silent_switches > self.count,
        })
    }

    /// An ack arrived from aggregator `by`: the active one is alive, or an earlier one
    /// answered a probe and becomes active again.
    pub fn acked(&mut self, by: usize) -> Option<Switch> {
        if by > self.active {
            // A late ack from an aggregator left behind: it stored those frames, but
            // frames keep going where they go.
            return None;
        }
        self.waiting_since = None;
        self.silent_switches = 0;
        if by == self.active {
            return None;
        }
        let from = self.active;
        self.active = by;
        Some(Switch::FailBack { from, to: by })
    }

    /// At the start of a cycle: whether its new frames also go to the aggregators
    /// before the active one (a fail-back probe).
    pub fn probe_due(&mut self, now_ms: u64) -> bool {
        if self.active == 0 || now_ms.saturating_sub(self.last_probe_ms) < self.probe_every_ms {
            return false;
        }
        self.last_probe_ms = now_ms;
        true
    }
}

/// One [`Net`] per aggregator, and the [`Failover`] between them: what the collector
/// sends through.
pub struct Aggregators {
    list: Vec<AggregatorAddr>,
    nets: Vec<Net>,
    failover: Failover,
    probing: bool,
    node: String,
    boot_id: u64,
    key: Option<Key>,
    interval_ms: u64,
}

impl From<Net> for Aggregators {
    /// A single aggregator behind an existing [`Net`] (no failover).
    fn from(net: Net) -> Aggregators {
        let spec = net.target().map_or_else(String::new, |a| a.to_string());
        Aggregators {
            list: vec![AggregatorAddr::named(&spec)],
            nets: vec![net],
            failover: Failover::new(1, 0, 0),
            probing: false,
            node: String::new(),
            boot_id: 0,
            key: None,
            interval_ms: 0,
        }
    }
}

impl Aggregators {
    /// Sockets for every aggregator of `list` (resolved now; a failure is retried),
    /// for `node` and `boot_id`, acks checked with `key`.
    pub fn new(
        list: &[AggregatorAddr],
        node: &str,
        boot_id: u64,
        key: Option<Key>,
        interval_ms: u64,
        now_ms: u64,
    ) -> Aggregators {
        let nets = list
            .iter()
            .map(|a| match a.addr {
                Some(addr) => Net::to_addr(&a.spec, addr, node, boot_id, key.clone()),
                None => Net::new(&a.spec, node, boot_id, key.clone()),
            })
            .collect();
        Aggregators {
            list: list.to_vec(),
            nets,
            failover: Failover::new(list.len(), interval_ms, now_ms),
            probing: false,
            node: node.to_string(),
            boot_id,
            key,
            interval_ms,
        }
    }

    /// The aggregators, in order of preference.
    pub fn list(&self) -> &[AggregatorAddr] {
        &self.list
    }

    /// Index of the active aggregator.
    pub fn active(&self) -> usize {
        self.failover.active()
    }

    /// The failover's timing.
    pub fn failover(&self) -> &Failover {
        &self.failover
    }

    /// The active aggregator's resolved address, if any.
    pub fn target(&self) -> Option<SocketAddr> {
        self.nets.get(self.active()).and_then(Net::target)
    }

    /// The local address of the active aggregator's socket, if bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.nets.get(self.active()).and_then(Net::local_addr)
    }

    /// Counters of all sockets together.
    pub fn stats(&self) -> NetStats {
        self.nets
            .iter()
            .map(Net::stats)
            .fold(NetStats::default(), |a, s| NetStats {
                sent: a.sent + s.sent,
                send_errors: a.send_errors + s.send_errors,
                acks: a.acks + s.acks,
                ignored: a.ignored + s.ignored,
                resolutions: a.resolutions + s.resolutions,
            })
    }

    /// Replaces the key (SIGHUP).
    pub fn set_key(&mut self, key: Option<Key>) {
        for net in &mut self.nets {
            net.set_key(key.clone());
        }
        self.key = key;
    }

    /// A new list (SIGHUP): unchanged, nothing happens; otherwise new sockets, and
    /// frames go to the first of the new list.
    pub fn set_aggregators(&mut self, list: &[AggregatorAddr], now_ms: u64) {
        if list != self.list.as_slice() {
            let key = self.key.clone();
            *self = Aggregators::new(
                list,
                &self.node,
                self.boot_id,
                key,
                self.interval_ms,
                now_ms,
            );
        }
    }

    /// Resolves what is due (see [`Net::maintain`]), for every aggregator.
    pub fn maintain(&mut self, now: Instant) {
        for net in &mut self.nets {
            net.maintain(now);
        }
    }

    /// At the start of a cycle: decides whether its new frames also probe the
    /// aggregators before the active one. [`Aggregators::end_cycle`] ends that.
    pub fn begin_cycle(&mut self, now_ms: u64) {
        self.probing = self.failover.probe_due(now_ms);
    }

    /// After the cycle's new frames were sent.
    pub fn end_cycle(&mut self) {
        self.probing = false;
    }

    /// Sends one datagram to the active aggregator (and, while probing, to every one
    /// before it). See [`Net::send`].
    pub fn send(&mut self, datagram: &[u8]) {
        let active = self.active();
        if self.probing {
            for net in &mut self.nets[..active] {
                net.send(datagram);
            }
        }
        if let Some(net) = self.nets.get_mut(active) {
            net.send(datagram);
        }
    }

    /// Takes a datagram waiting on any socket, or waits up to `timeout` on the active
    /// aggregator's. Returns which aggregator's socket it came from. See
    /// [`Net::wait_ack`].
    pub fn wait_ack(&mut self, timeout: Duration) -> (usize, Received<'_>) {
        let active = self.active();
        let ready = if self.nets.len() > 1 {
            (0..self.nets.len()).find(|&i| i != active && self.nets[i].readable_now())
        } else {
            None
        };
        let i = ready.unwrap_or(active);
        let wait = if ready.is_some() {
            Duration::ZERO
        } else {
            timeout
        };
        match self.nets.get_mut(i) {
            Some(net) => (i, net.wait_ack(wait)),
            None => {
                std::thread::sleep(timeout.min(Duration::from_millis(100)));
                (i, Received::Timeout)
            }
        }
    }

    /// Whether nothing is due between cycles once every frame is acked: one aggregator
    /// (no probe answer to take from another socket), its address resolved.
    pub fn idle(&self) -> bool {
        matches!(self.nets.as_slice(), [net] if !net.resolving())
    }

    /// Called every wait with the frames not yet acknowledged; see [`Failover::tick`].
    pub fn tick(&mut self, now_ms: u64, outstanding: usize) -> Option<Switch> {
        self.failover.tick(now_ms, outstanding)
    }

    /// An ack was applied from aggregator `by`; see [`Failover::acked`].
    pub fn acked(&mut self, by: usize) -> Option<Switch> {
        self.failover.acked(by)
    }

    /// The log line of a switch (`None` for one not to log), `outstanding` frames
    /// being resent.
    pub fn describe(&self, switch: Switch, outstanding: usize) -> Option<String> {
        let name = |i: usize| {
            let a = self.list.get(i).map_or("?", |a| a.spec.as_str());
            match self.nets.get(i).and_then(Net::target) {
                Some(addr) if addr.to_string() != a => format!("{a} ({addr})"),
                _ => a.to_string(),
            }
        };
        match switch {
            Switch::FailOver { quiet: true, .. } => None,
            Switch::FailOver {
                from,
                to,
                silent_ms,
                ..
            } => {
                let round = if to == 0 {
                    " (no aggregator of the list acknowledges; trying them in turn, further switches not logged until one answers)"
                } else {
                    ""
                };
                Some(format!(
                    "aggregator {} did not acknowledge for {:.1}s: sending to {} and resending {outstanding} unacknowledged frame(s){round}",
                    name(from),
                    silent_ms as f64 / 1000.0,
                    name(to),
                ))
            }
            Switch::FailBack { from, to } => Some(format!(
                "aggregator {} acknowledges again: sending to it instead of {}",
                name(to),
                name(from)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_over_after_the_bounded_delay_of_silence_and_only_then() {
        // Interval 10 s: delay 30 s (3 intervals, at most 30 s).
        let mut f = Failover::new(2, 10_000, 0);
        assert_eq!(f.delay_ms(), 30_000);
        assert_eq!(f.tick(1_000, 0), None, "nothing outstanding");
        assert_eq!(f.tick(5_000, 2), None, "frames start waiting at 5 s");
        assert_eq!(f.tick(34_999, 2), None);
        assert_eq!(
            f.tick(35_000, 2),
            Some(Switch::FailOver {
                from: 0,
                to: 1,
                silent_ms: 30_000,
                quiet: false
            })
        );
        assert_eq!(f.active(), 1);
        // The new one gets a whole delay too.
        assert_eq!(f.tick(64_999, 3), None);
        assert!(matches!(
            f.tick(65_000, 3),
            Some(Switch::FailOver { to: 0, .. })
        ));
    }

    #[test]
    fn an_ack_from_the_active_one_restarts_the_wait() {
        let mut f = Failover::new(2, 1_000, 0);
        assert_eq!(f.delay_ms(), 3_000);
        f.tick(0, 1);
        assert_eq!(f.acked(0), None);
        f.tick(2_500, 1);
        assert_eq!(f.tick(5_000, 1), None, "waiting since 2.5 s only");
        assert!(f.tick(5_500, 1).is_some());
    }

    #[test]
    fn the_delay_is_bounded_both_ways() {
        assert_eq!(Failover::new(2, 10, 0).delay_ms(), 2_000);
        assert_eq!(Failover::new(2, 3_600_000, 0).delay_ms(), 30_000);
        assert_eq!(Failover::new(2, 10, 0).probe_every_ms(), 10_000);
        assert_eq!(Failover::new(2, 10_000, 0).probe_every_ms(), 120_000);
    }

    #[test]
    fn a_single_aggregator_never_switches() {
        let mut f = Failover::new(1, 1_000, 0);
        f.tick(0, 5);
        assert_eq!(f.tick(1_000_000, 5), None);
        assert!(!f.probe_due(1_000_000));
    }

    #[test]
    fn probes_while_on_a_later_aggregator_and_fails_back_on_its_ack() {
        let mut f = Failover::new(3, 1_000, 0);
        assert!(!f.probe_due(20_000), "on the first: nothing to probe");
        f.tick(0, 1);
        f.tick(3_000, 1);
        assert_eq!(f.active(), 1);
        assert_eq!(f.probe_every_ms(), 12_000, "four delays of 3 s");
        assert!(!f.probe_due(11_999), "not before probe_every");
        assert!(f.probe_due(12_000));
        assert!(!f.probe_due(20_000), "one probe per period");
        assert!(f.probe_due(24_000));
        assert_eq!(f.acked(2), None, "a later one does not take over");
        assert_eq!(f.active(), 1);
        assert_eq!(f.acked(0), Some(Switch::FailBack { from: 1, to: 0 }));
        assert_eq!(f.active(), 0);
    }

    #[test]
    fn a_round_without_any_ack_goes_quiet_until_one_answers() {
        let mut f = Failover::new(2, 1_000, 0);
        let mut t = 0;
        let mut quiet = Vec::new();
        f.tick(t, 1);
        for _ in 0..4 {
            t += 3_000;
            match f.tick(t, 1) {
                Some(Switch::FailOver { quiet: q, .. }) => quiet.push(q),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(quiet, [false, false, true, true]);
        f.acked(f.active());
        t += 3_000;
        f.tick(t, 1);
        assert!(matches!(
            f.tick(t + 3_000, 1),
            Some(Switch::FailOver { quiet: false, .. })
        ));
    }
}
