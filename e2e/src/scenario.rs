//! The stage most fault scenarios set, and how they end: an aggregator, the chaos
//! proxy in front of it, and a [`Fleet`] of real collectors sending through the proxy;
//! at the end the fleet is stopped, the proxy drained, the aggregator checked alive,
//! and what arrived counted. Each test keeps only its scenario: what it does to the
//! path, the aggregator, InfluxDB or the disk in between, and what it expects.

use std::time::Duration;

use crate::chaos::{ChaosConfig, ChaosProxy};
use crate::fleet::{self, Fleet};
use crate::ledger::Ledger;
use crate::pimon::{Aggregator, AggregatorSetup, CollectorSetup, StopLine};
use crate::rng;
use crate::support::servers::Influxd;

/// How long the `--lp-out` file may take to hold every frame after the fleet stopped.
pub const FILE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long InfluxDB may take to hold every frame after the fleet stopped (the output
/// may be in a backoff after an outage).
pub const INFLUX_TIMEOUT: Duration = Duration::from_secs(40);

/// A running scenario. The aggregator may be replaced (restarted from its setup)
/// while it runs. (Dropped collectors first, the aggregator last.)
pub struct Scenario {
    pub fleet: Fleet,
    pub proxy: ChaosProxy,
    pub aggregator: Aggregator,
}

/// What a scenario left behind once its fleet stopped.
pub struct End {
    /// The collectors' closing lines, in the fleet's order.
    pub stops: Vec<StopLine>,
    /// Every frame the collectors sent, as the proxy saw it.
    pub ledger: Ledger,
}

impl Scenario {
    /// Starts `setup`'s aggregator, a proxy named `name` with a clean path both ways (a
    /// test may add faults later), and one collector per `(fixture, node)` set up by
    /// `configure`.
    pub fn start(
        setup: &mut AggregatorSetup,
        name: &str,
        nodes: &[(&str, &str)],
        configure: impl Fn(CollectorSetup) -> CollectorSetup,
    ) -> Scenario {
        Scenario::start_with(
            setup,
            name,
            ChaosConfig::new(rng::seed(name)),
            nodes,
            configure,
        )
    }

    /// [`Scenario::start`] with the proxy's faults given from the first frame.
    pub fn start_with(
        setup: &mut AggregatorSetup,
        name: &str,
        chaos: ChaosConfig,
        nodes: &[(&str, &str)],
        configure: impl Fn(CollectorSetup) -> CollectorSetup,
    ) -> Scenario {
        let aggregator = setup.start();
        let proxy = ChaosProxy::start(name, aggregator.udp, chaos);
        let fleet = Fleet::start(nodes, proxy.addr(), configure);
        Scenario {
            aggregator,
            proxy,
            fleet,
        }
    }

    /// The node names.
    pub fn nodes(&self) -> Vec<&str> {
        self.fleet.nodes()
    }

    /// Stops the fleet, waits until the proxy has passed on everything, and checks
    /// that the aggregator is still running (`after` says when, for the panic).
    pub fn stop_fleet(&mut self, after: &str) -> End {
        let stops = self.fleet.stop();
        assert!(
            self.proxy.wait_idle(Duration::from_secs(5)),
            "{}",
            self.proxy.describe()
        );
        self.aggregator.assert_running(after);
        End {
            stops,
            ledger: self.proxy.ledger(),
        }
    }

    /// Waits until the `--lp-out` file and, with `influx` (server, database), InfluxDB
    /// hold every frame of every node exactly once at its own timestamp.
    pub fn assert_stored_exactly_once(
        &self,
        end: &End,
        influx: Option<(&Influxd, &str)>,
        context: &str,
    ) {
        let nodes = self.nodes();
        let none = Default::default();
        fleet::assert_file_exactly_once(
            &self.aggregator,
            &end.ledger,
            &nodes,
            &none,
            FILE_TIMEOUT,
            context,
        );
        if let Some((influxd, db)) = influx {
            fleet::assert_influx_exactly_once(
                influxd,
                db,
                &end.ledger,
                &nodes,
                &none,
                INFLUX_TIMEOUT,
                context,
            );
        }
    }

    /// Both sides' counters equal what the proxy did ([`fleet::counter_problems`]).
    pub fn assert_counters_agree(&self, end: &End, why: &str) {
        let problems =
            fleet::counter_problems(&self.aggregator, &self.proxy, &self.nodes(), &end.stops);
        assert!(
            problems.is_empty(),
            "{why}:\n{}\n{}\n{}",
            problems.join("\n"),
            self.proxy.describe(),
            self.aggregator.proc.output_report()
        );
    }
}

/// Every collector got every frame acknowledged and dropped none (closing lines).
pub fn assert_all_acked(aggregator: &Aggregator, nodes: &[&str], stops: &[StopLine], why: &str) {
    let unacked: Vec<String> = nodes
        .iter()
        .zip(stops)
        .filter(|(_, s)| s.unacknowledged > 0 || s.dropped > 0)
        .map(|(n, s)| format!("{n}: {}", s.line))
        .collect();
    assert!(
        unacked.is_empty(),
        "{why}:\n{}\n{}",
        unacked.join("\n"),
        aggregator.proc.output_report()
    );
}
