//! The running collector: timed cycles, sending, acks, resends, linger, signals.
//!
//! [`Agent`] joins a [`Collector`] (sources → frames in the ring) and a [`Net`](crate::net::Net) (UDP):
//! [`Agent::cycle`] collects and sends, [`Agent::pump`] handles acks and paced resends
//! until a deadline, [`Agent::linger`] waits for outstanding acks on exit. [`main`] is
//! the program: settings, `--check`, `--print`, or the loop:
//!
//! - the first cycle runs at once, the next ones on wall-clock multiples of the interval
//!   (every 10 s at :00, :10, …); a cycle that overruns skips the missed slots;
//! - between cycles the loop waits for acks on the socket; while frames are
//!   outstanding and the aggregator answers, it wakes every [`RESEND_TICK`] to resend
//!   what is due (gaps first, then timeouts, oldest first, at most 8 per tick); while it
//!   is silent, every [`IDLE_TICK`] (one probe per resend timeout); with every frame
//!   acked, one aggregator and its address resolved, nothing is due before the next
//!   cycle and the loop sleeps until then (or an ack, or a signal): a collector at 10 s
//!   woke 9 times a cycle for nothing before (docs/BENCHMARKS.md §2.2);
//! - SIGTERM/SIGINT end the wait at once (the socket wait returns `EINTR`); the cycle in
//!   progress is finished, then the collector lingers (`--linger`) and exits 0;
//! - SIGHUP reloads the config and key files; a broken file is logged and the running
//!   settings stay.
//!
//! After start-up nothing in this loop allocates (see `tests/alloc_*.rs`).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pimon_protocol::{Ack, MAC_LEN};

use crate::ack_watch::AckWatch;
use crate::cli::{self, Flags, PrintFormat};
use crate::config::Settings;
use crate::cycle::{Collector, CollectorConfig};
use crate::failover::{Aggregators, Switch};
use crate::frames::CycleReport;
use crate::log;
use crate::net::Received;
use crate::print::DecodedCycle;
use crate::probe;
use crate::ring::{RECORD_HEADER, ResendPolicy};
use crate::sys;

/// How often outstanding frames are checked for resending.
pub const RESEND_TICK: Duration = Duration::from_millis(100);
/// Longest wait, while frames are outstanding or an address is to be resolved, without
/// checking for a due probe or resolution.
pub const IDLE_TICK: Duration = Duration::from_secs(1);
/// Longest wait for background readers (1-wire, I2C) before a `--once` cycle.
pub const SETTLE_ONCE: Duration = Duration::from_secs(2);
/// While lingering with evicted frames unresolved, a cycle at most this often asks the
/// aggregator for an ack that speaks for them.
pub const LINGER_ASK: Duration = Duration::from_millis(250);

/// Why [`Agent::pump`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The deadline passed.
    Deadline,
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP (not yet taken: call [`sys::take_reload_request`]).
    Reload,
}

/// A collector with its network side; see the module docs.
pub struct Agent {
    /// Sources, sensors, ring.
    pub collector: Collector,
    /// The UDP side: one socket per aggregator, with failover between them.
    pub net: Aggregators,
    /// When to resend.
    pub policy: ResendPolicy,
    /// Speaks up when acks stop coming.
    pub ack_watch: AckWatch,
    epoch: Instant,
    /// When [`Agent::pump`] or [`Agent::linger`] last resent.
    last_resend: Option<Instant>,
    /// Cycles run.
    cycles: u64,
    /// The ring's `dropped` when the last cycle was made: what its frames told the
    /// aggregator (their resend floor lies above everything dropped before).
    dropped_told: u64,
}

impl Agent {
    /// Joins a collector and a network side (a [`crate::net::Net`] for one
    /// aggregator, or [`Aggregators`] for a failover list).
    pub fn new(collector: Collector, net: impl Into<Aggregators>, policy: ResendPolicy) -> Agent {
        let interval = Duration::from_millis(u64::from(collector.interval_ms()));
        Agent {
            collector,
            net: net.into(),
            policy,
            ack_watch: AckWatch::new(interval, Instant::now()),
            epoch: Instant::now(),
            last_resend: None,
            cycles: 0,
            dropped_told: 0,
        }
    }

    /// Cycles run so far (the ones [`Agent::linger`] adds included).
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// Milliseconds since the agent started (the ring's clock).
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Collects one cycle stamped `timestamp_ms`, sends its parts, and records the
    /// cycle's duration (sent with the next cycle).
    pub fn cycle(&mut self, timestamp_ms: u64) -> CycleReport {
        let start = Instant::now();
        self.dropped_told = self.collector.ring().stats().dropped;
        let report = self.collector.cycle(timestamp_ms);
        self.cycles += 1;
        let now = self.now_ms();
        let net = &mut self.net;
        net.begin_cycle(now);
        self.collector
            .ring_mut()
            .send_unsent(now, |_, datagram| net.send(datagram));
        net.end_cycle();
        let took = start.elapsed();
        self.collector.record_duration(took);
        let unacked = self.collector.ring().outstanding();
        self.ack_watch
            .check(Instant::now(), unacked, self.net.target());
        log::debug!(
            "cycle {}: {} values in {} part(s), {} bytes, {} µs",
            report.first_seq,
            report.values,
            report.parts,
            report.bytes,
            took.as_micros()
        );
        report
    }

    /// Resends what is due, at most once per [`RESEND_TICK`]: the loops wake on every
    /// ack, and `policy.max_per_tick` must bound the resends per tick, not per ack (a
    /// returning aggregator acking a long backlog would otherwise get 8 more datagrams
    /// for each ack, until its receive buffer overflows).
    fn resend_paced(&mut self) {
        let now = Instant::now();
        if self
            .last_resend
            .is_some_and(|t| now.saturating_duration_since(t) < RESEND_TICK)
        {
            return;
        }
        self.last_resend = Some(now);
        self.resend();
    }

    /// Resends what is due now; returns how many.
    pub fn resend(&mut self) -> usize {
        let now = self.now_ms();
        let net = &mut self.net;
        self.collector
            .ring_mut()
            .resend_due(now, &self.policy, |_, datagram| net.send(datagram))
    }

    /// Waits up to `wait` for one datagram and applies it if it is an ack for us.
    /// Returns true when an ack was applied.
    pub fn receive(&mut self, wait: Duration) -> bool {
        let now = self.now_ms();
        let (from, got) = self.net.wait_ack(wait);
        let applied = match got {
            Received::Ack(ack) => {
                self.ack_watch.acked(Instant::now());
                let ring = self.collector.ring_mut();
                let was = ring.resyncing();
                ring.apply_ack(&ack, now);
                if ring.resyncing() && !was {
                    log::warning!(
                        "the aggregator acked sequence number {} but the next one is {}: its window for this boot is wrong; new frames ask it to resync",
                        ack.acked_below.max(ack.seen_below),
                        ring.next_seq()
                    );
                }
                true
            }
            Received::Refused(reason) => {
                self.ack_watch.refused(reason);
                false
            }
            Received::Ignored | Received::Timeout | Received::Interrupted => false,
        };
        if applied && let Some(switch) = self.net.acked(from) {
            self.switched(switch);
        }
        applied
    }

    /// Fails over when the active aggregator has not acknowledged for too long
    /// (see [`crate::failover`]).
    fn check_failover(&mut self) {
        let outstanding = self.collector.ring().outstanding();
        if let Some(switch) = self.net.tick(self.now_ms(), outstanding) {
            self.switched(switch);
        }
    }

    fn switched(&mut self, switch: Switch) {
        let resent = match switch {
            // The new aggregator has none of the unacknowledged frames.
            Switch::FailOver { .. } => self.collector.ring_mut().want_all(),
            // The returning one asks for what it lacks in its first ack.
            Switch::FailBack { .. } => 0,
        };
        if let Some(line) = self.net.describe(switch, resent) {
            log::warning!("{line}");
        }
    }

    /// Handles acks and resends until `deadline`, a stop request or a reload request.
    pub fn pump(&mut self, deadline: Instant) -> Wake {
        loop {
            if sys::stop_requested() {
                return Wake::Stop;
            }
            if sys::reload_requested() {
                return Wake::Reload;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wake::Deadline;
            }
            self.net.maintain(now);
            self.check_failover();
            self.resend_paced();
            // Resends are due at tick granularity only while the aggregator answers (a
            // silent one gets one probe per timeout; an ack wakes the wait anyway).
            let ring = self.collector.ring();
            let outstanding = ring.outstanding();
            let tick = if outstanding == 0 && self.net.idle() {
                // Nothing to resend, probe or resolve before the next cycle.
                Duration::MAX
            } else if outstanding > 0 && ring.heard_within(self.now_ms(), self.policy.timeout_ms) {
                RESEND_TICK
            } else {
                IDLE_TICK
            };
            // A signal that came since the loop looked at the flags ends this wait at once
            // (the handlers' self-pipe, `sys`), though it may last until the next cycle.
            self.receive(deadline.saturating_duration_since(now).min(tick));
        }
    }

    /// On exit: waits up to `max` until the books are closed with the aggregator, so
    /// that both sides count the same frames lost: every held frame acked (resending
    /// gaps and timeouts meanwhile), every evicted frame resolved by an ack (a cycle
    /// every [`LINGER_ASK`] asks for one when nothing else is in flight), and the
    /// aggregator told of every frame counted dropped (one more cycle, whose resend
    /// floor lies above them, when a drop came after the last cycle). Returns true when
    /// that was reached, false when nothing is outstanding but the deadline passed first
    /// or frames are still unacknowledged.
    pub fn linger(&mut self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        let mut asked: Option<Instant> = None;
        loop {
            let ring = self.collector.ring();
            let (outstanding, unresolved) = (ring.outstanding(), ring.unresolved());
            let untold = ring.stats().dropped != self.dropped_told;
            if outstanding == 0 && unresolved == 0 && !untold {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return outstanding == 0;
            }
            let ask_due = asked.is_none_or(|t| now.saturating_duration_since(t) >= LINGER_ASK);
            if outstanding == 0 && (untold && unresolved == 0 || unresolved > 0 && ask_due) {
                self.cycle(wall_ms());
                asked = Some(now);
            }
            self.net.maintain(now);
            self.check_failover();
            self.resend_paced();
            self.receive(deadline.saturating_duration_since(now).min(RESEND_TICK));
        }
    }
}

/// Unix time in milliseconds (0 before 1970), shifted by the test-only offset of
/// [`crate::clock`] when one is configured.
pub fn wall_ms() -> u64 {
    crate::clock::wall_ms()
}

/// The next multiple of `interval_ms` strictly after `now_ms`.
///
/// ```
/// assert_eq!(pimon_collector::run::next_boundary(12_345, 10_000), 20_000);
/// assert_eq!(pimon_collector::run::next_boundary(20_000, 10_000), 30_000);
/// ```
pub fn next_boundary(now_ms: u64, interval_ms: u64) -> u64 {
    let interval = interval_ms.max(1);
    (now_ms / interval)
        .saturating_add(1)
        .saturating_mul(interval)
}

/// The instant of the next wall-clock multiple of `interval_ms`.
fn next_cycle_at(interval_ms: u32) -> Instant {
    let now = wall_ms();
    Instant::now() + Duration::from_millis(next_boundary(now, u64::from(interval_ms)) - now)
}

fn collector_config(settings: &Settings) -> CollectorConfig {
    CollectorConfig {
        node: settings.node.clone(),
        boot_id: sys::random_u64(),
        interval_ms: settings.interval_ms(),
        user_hz: sys::user_hz(),
        key: settings.key.clone(),
        ring_bytes: settings.ring_bytes,
    }
}

/// The program after argument parsing: returns the exit code.
pub fn main(flags: Flags) -> ExitCode {
    log::init(flags.verbose);
    crate::clock::init();
    let settings = match Settings::load(&flags) {
        Ok(s) => s,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(if flags.check { 1 } else { 2 });
        }
    };
    if let Err(e) = sys::install_signal_handlers() {
        log::warning!("cannot install signal handlers: {e}");
    }
    if settings.check {
        return check(&settings);
    }
    if let Some(format) = settings.print {
        return print(&settings, format);
    }
    send(&flags, settings)
}

/// `--check`: what is found, whether the settings are valid.
fn check(settings: &Settings) -> ExitCode {
    let mut collector = Collector::new(
        collector_config(settings),
        &settings.sources,
        &settings.sensors,
    );
    collector.settle(SETTLE_ONCE);
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "{}", cli::version());
    let _ = writeln!(
        out,
        "config: {}",
        settings
            .config_file
            .as_ref()
            .map_or("none".into(), |p| format!("{} ok", p.display()))
    );
    let _ = writeln!(out, "node: {}", settings.node);
    let mut probe_to = Vec::new();
    for (i, a) in settings.aggregators.iter().enumerate() {
        let role = match (i, settings.aggregators.len()) {
            (_, 1) => String::new(),
            (0, _) => ", first choice".to_string(),
            (i, _) => format!(", failover {i}"),
        };
        let addr = match a.addr {
            Some(addr) => Ok(addr),
            None => match std::net::ToSocketAddrs::to_socket_addrs(a.spec.as_str()) {
                Ok(mut it) => it.next().ok_or_else(|| "no address found".to_string()),
                Err(e) => Err(format!("cannot resolve now: {e}")),
            },
        };
        let resolved = match &addr {
            Ok(addr) => addr.to_string(),
            Err(e) => e.clone(),
        };
        let _ = writeln!(out, "aggregator: {} ({resolved}{role})", a.spec);
        if let Ok(addr) = addr {
            probe_to.push((a.spec.clone(), addr));
        }
    }
    let _ = writeln!(out, "aggregator chosen: {}", settings.aggregator_origin);
    match (&settings.key, &settings.key_file) {
        (Some(k), Some(p)) => {
            let _ = writeln!(out, "key: id {} from {}", k.id(), p.display());
        }
        (Some(k), None) => {
            let _ = writeln!(out, "key: id {} from the config file", k.id());
        }
        _ => {
            let _ = writeln!(out, "key: none (frames are not authenticated)");
        }
    }
    let mut refused = false;
    for (spec, addr) in &probe_to {
        let answer = probe::round_trip(
            *addr,
            &settings.node,
            settings.interval_ms(),
            settings.key.as_ref(),
            probe::WAIT,
        );
        refused |= matches!(answer, probe::RoundTrip::Refused(_));
        match settings.aggregators.len() {
            1 => {
                let _ = writeln!(out, "round trip: {answer}");
            }
            _ => {
                let _ = writeln!(out, "round trip to {spec}: {answer}");
            }
        }
    }
    let report = collector.cycle(wall_ms());
    let per_cycle = report.bytes + usize::from(report.parts) * RECORD_HEADER;
    let span_s =
        (settings.ring_bytes / per_cycle.max(1)) as u64 * settings.interval.as_secs().max(1);
    let _ = writeln!(
        out,
        "cycle: {} values in {} datagram(s), {} bytes ({:.2} bytes/value{})",
        report.values,
        report.parts,
        report.bytes,
        report.bytes as f64 / f64::from(report.values.max(1)),
        if settings.key.is_some() {
            format!(", MAC {MAC_LEN} bytes each")
        } else {
            String::new()
        }
    );
    // The ring keeps most cycles as differences from a key cycle (ring module docs):
    // what they cost depends on how much changes, so say the floor (cycles that share
    // nothing) and the usual (a third to a half of the wire bytes).
    let _ = writeln!(
        out,
        "ring: {} bytes, at least {} cycles ({} min at this interval) of this node; \
         cycles are kept as differences from a key cycle, usually in a third to a half \
         of their bytes, so about {} min",
        settings.ring_bytes,
        settings.ring_bytes / per_cycle.max(1),
        span_s / 60,
        span_s * 2 / 60
    );
    let _ = write!(out, "sources:\n{}", collector.sources().report());
    let sensors = collector.sensors_mut().report();
    let mut missing = 0;
    if !sensors.sensors.is_empty() {
        let _ = writeln!(out, "sensors:");
        for s in &sensors.sensors {
            let _ = writeln!(out, "  {s}");
            missing += usize::from(!s.is_found());
        }
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
    if missing > 0 {
        log::error!("{missing} configured sensor(s) not found");
        return ExitCode::from(1);
    }
    if refused {
        log::error!("the aggregator refuses this collector's frames (see round trip)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `--print`: render each cycle instead of sending it.
fn print(settings: &Settings, format: PrintFormat) -> ExitCode {
    let mut collector = Collector::new(
        collector_config(settings),
        &settings.sources,
        &settings.sensors,
    );
    collector.settle(SETTLE_ONCE);
    // Each cycle is printed from the ring's datagrams, stored whole.
    collector.ring_mut().set_compaction(0);
    let mut done = 0u64;
    loop {
        collector.cycle(wall_ms());
        let ring = collector.ring_mut();
        let text = match DecodedCycle::decode(ring.datagrams().map(|(_, d)| d)) {
            Ok(c) => c.render(format),
            Err(e) => {
                log::error!("{e}");
                return ExitCode::from(1);
            }
        };
        // Forget the printed frames: nothing waits for an ack.
        let next = ring.next_seq();
        let all = Ack {
            node: "-",
            boot_id: 0,
            acked_below: next,
            seen_below: next,
            gaps: heapless::Vec::new(),
            key_id: None,
        };
        ring.apply_ack(&all, 0);
        let mut stdout = std::io::stdout().lock();
        if stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
            .is_err()
        {
            return ExitCode::SUCCESS; // stdout closed (e.g. `| head`)
        }
        drop(stdout);
        done += 1;
        if settings.cycles.is_some_and(|n| done >= n) || sys::stop_requested() {
            return ExitCode::SUCCESS;
        }
        let deadline = next_cycle_at(settings.interval_ms());
        while Instant::now() < deadline && !sys::stop_requested() {
            std::thread::sleep(
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(RESEND_TICK),
            );
        }
        if sys::stop_requested() {
            return ExitCode::SUCCESS;
        }
    }
}

/// The collector proper: cycles, sending, acks, until `--cycles` or a stop signal.
fn send(flags: &Flags, mut settings: Settings) -> ExitCode {
    let config = collector_config(&settings);
    let aggregators: Vec<&str> = settings
        .aggregators
        .iter()
        .map(|a| a.spec.as_str())
        .collect();
    log::notice!(
        "{} starting: node {} boot id {:016x}, aggregator {} ({}), interval {} ms, ring {} bytes, {}",
        cli::version(),
        config.node,
        config.boot_id,
        aggregators.join(", "),
        settings.aggregator_origin,
        config.interval_ms,
        settings.ring_bytes,
        if config.key.is_some() {
            "frames authenticated"
        } else {
            "no key (frames not authenticated)"
        }
    );
    let net = Aggregators::new(
        &settings.aggregators,
        &config.node,
        config.boot_id,
        config.key.clone(),
        u64::from(config.interval_ms),
        0,
    );
    let collector = Collector::new(config, &settings.sources, &settings.sensors);
    if settings.cycles == Some(1) {
        collector.settle(SETTLE_ONCE);
    }
    let policy = ResendPolicy::for_interval(u64::from(settings.interval_ms()));
    let mut agent = Agent::new(collector, net, policy);
    let mut done = 0u64;
    'cycles: loop {
        agent.cycle(wall_ms());
        done += 1;
        if done == 1 {
            release_startup_code();
        }
        if settings.cycles.is_some_and(|n| done >= n) {
            break;
        }
        let mut deadline = next_cycle_at(settings.interval_ms());
        loop {
            match agent.pump(deadline) {
                Wake::Deadline => break,
                Wake::Stop => break 'cycles,
                Wake::Reload => {
                    sys::take_reload_request();
                    reload(flags, &mut settings, &mut agent);
                    // The interval may have changed: wait for its next boundary.
                    deadline = next_cycle_at(settings.interval_ms());
                }
            }
        }
        if sys::stop_requested() {
            break;
        }
    }
    let outstanding = agent.collector.ring().outstanding();
    if outstanding > 0 && !settings.linger.is_zero() {
        log::info!(
            "waiting up to {:?} for {outstanding} unacknowledged frame(s)",
            settings.linger
        );
    }
    let all_acked = settings.linger.is_zero() && outstanding == 0 || agent.linger(settings.linger);
    let s = agent.collector.ring().stats();
    let n = agent.net.stats();
    let ring = agent.collector.ring();
    log::notice!(
        "stopping after {} cycle(s): {} frames sent, {} resent, {} acked, {} dropped from the ring, {} evicted unconfirmed, {} unacknowledged{}; {} send errors, {} acks, {} ignored datagrams",
        agent.cycles(),
        s.sent,
        s.resent,
        s.acked,
        s.dropped,
        ring.unresolved(),
        ring.outstanding(),
        if all_acked { "" } else { " (lost on exit)" },
        n.send_errors,
        n.acks,
        n.ignored
    );
    ExitCode::SUCCESS
}

/// Gives back the pages of start-up code (see [`sys::release_startup_code`]).
fn release_startup_code() {
    match sys::release_startup_code() {
        Ok(bytes) => log::debug!("start-up code released: {} KiB of mappings", bytes / 1024),
        Err(e) => log::debug!("start-up code not released: {e}"),
    }
}

/// SIGHUP: reload the config and key files and apply what can change while running.
fn reload(flags: &Flags, settings: &mut Settings, agent: &mut Agent) {
    let new = match Settings::load(flags) {
        Ok(s) => s,
        Err(e) => {
            log::error!("reload: {e}; keeping the running configuration");
            return;
        }
    };
    if new.node != settings.node {
        log::warning!(
            "reload: a new node name takes effect after a restart; keeping {}",
            settings.node
        );
    }
    if new.ring_bytes != settings.ring_bytes {
        log::warning!("reload: a new ring size takes effect after a restart");
    }
    agent.net.set_key(new.key.clone());
    agent.collector.set_key(new.key.clone());
    let now = agent.now_ms();
    agent.net.set_aggregators(&new.aggregators, now);
    agent.collector.set_interval_ms(new.interval_ms());
    agent.policy = ResendPolicy::for_interval(u64::from(new.interval_ms()));
    agent
        .ack_watch
        .set_interval(Duration::from_millis(u64::from(new.interval_ms())));
    agent.collector.reconfigure_sources(&new.sources);
    agent.collector.reconfigure_sensors(&new.sensors);
    let node = std::mem::take(&mut settings.node);
    let ring_bytes = settings.ring_bytes;
    *settings = Settings {
        node,
        ring_bytes,
        ..new
    };
    log::notice!("configuration reloaded");
}
