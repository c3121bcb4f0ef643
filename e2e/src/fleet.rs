//! Honest collectors for a fault scenario: several real `pimon-collector`s on the
//! fixture trees (`pi4`, `pizero`, `x86`), fast cycles, all sending to one address
//! (an aggregator or a chaos proxy), stopped together with SIGTERM at the end; and the
//! end-of-scenario checks every fault test makes, by counting what arrived.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use crate::arrival::{self, Copies, Lost, Stored};
use crate::binaries::{Launcher, Program};
use crate::chaos::ChaosProxy;
use crate::ledger::{FrameId, Ledger};
use crate::pimon::{Aggregator, Collector, CollectorSetup, StopLine};
use crate::scrape::NodeCounters;
use crate::support::servers::Influxd;
use crate::tree::copy_tree;
use crate::wait;

/// The usual trio: (fixture tree, node name).
pub const TRIO: [(&str, &str); 3] = [("pi4", "pi4-a"), ("pizero", "pizero-b"), ("x86", "x86-c")];

/// How long a collector may take to linger and exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Collectors started together.
pub struct Fleet {
    /// How each was started (to start one again).
    pub setups: Vec<CollectorSetup>,
    /// The running collectors (same order).
    pub collectors: Vec<Collector>,
    /// Tree copies, when asked for.
    trees: Vec<(TempDir, PathBuf)>,
}

impl Fleet {
    /// Starts one collector per `(fixture, node)` sending to `to`, each set up by
    /// `configure` (interval, ring, key, clock …; the default is 100 ms cycles and a
    /// 10 s linger). The fixture trees are read in place.
    pub fn start(
        nodes: &[(&str, &str)],
        to: SocketAddr,
        configure: impl Fn(CollectorSetup) -> CollectorSetup,
    ) -> Fleet {
        Fleet::start_on(nodes, to, false, configure)
    }

    /// Like [`Fleet::start`] on copies of the trees (the test changes them).
    pub fn start_on_copies(
        nodes: &[(&str, &str)],
        to: SocketAddr,
        configure: impl Fn(CollectorSetup) -> CollectorSetup,
    ) -> Fleet {
        Fleet::start_on(nodes, to, true, configure)
    }

    fn start_on(
        nodes: &[(&str, &str)],
        to: SocketAddr,
        copies: bool,
        configure: impl Fn(CollectorSetup) -> CollectorSetup,
    ) -> Fleet {
        let launcher = Launcher::host(Program::Collector);
        let mut trees = Vec::new();
        let mut setups = Vec::new();
        for (tree, node) in nodes {
            let root = if copies {
                let (dir, root) = copy_tree(&crate::fixture(tree));
                trees.push((dir, root.clone()));
                root
            } else {
                crate::fixture(tree)
            };
            setups.push(configure(CollectorSetup::new(&launcher, &root, node, to)));
        }
        let collectors = setups.iter().map(CollectorSetup::start).collect();
        Fleet {
            setups,
            collectors,
            trees,
        }
    }

    /// The root of collector `i`'s tree copy (with [`Fleet::start_on_copies`]).
    pub fn tree(&self, i: usize) -> &std::path::Path {
        &self.trees[i].1
    }

    /// The node names.
    pub fn nodes(&self) -> Vec<&str> {
        self.setups.iter().map(CollectorSetup::node).collect()
    }

    /// Panics with its output if a collector died.
    pub fn assert_running(&mut self, context: &str) {
        for c in &mut self.collectors {
            c.assert_running(context);
        }
    }

    /// Stops every collector (SIGTERM to all at once, each lingers and exits) and
    /// returns their closing lines.
    pub fn stop(&mut self) -> Vec<StopLine> {
        for c in &mut self.collectors {
            c.proc.signal(libc::SIGTERM);
        }
        self.collectors
            .iter_mut()
            .map(|c| c.wait_stopped(STOP_TIMEOUT))
            .collect()
    }
}

/// The node's frames the proxy never delivered: lost for good if the collector gave
/// them up (ring overflow), else still to come.
pub fn undelivered(ledger: &Ledger, node: &str) -> Lost {
    ledger.never_delivered(node).into_iter().collect()
}

/// Waits until the `--lp-out` file holds every cycle of `nodes` exactly once at its
/// own timestamp (frames in `lost` excepted); panics with every problem after
/// `timeout`.
pub fn assert_file_exactly_once(
    aggregator: &Aggregator,
    ledger: &Ledger,
    nodes: &[&str],
    lost: &Lost,
    timeout: Duration,
    context: &str,
) -> Stored {
    assert_file(
        aggregator,
        ledger,
        nodes,
        lost,
        Copies::Once,
        timeout,
        context,
    )
}

/// [`assert_file_exactly_once`] with a choice of how many copies are fine.
pub fn assert_file(
    aggregator: &Aggregator,
    ledger: &Ledger,
    nodes: &[&str],
    lost: &Lost,
    copies: Copies,
    timeout: Duration,
    context: &str,
) -> Stored {
    wait::poll(timeout, Duration::from_millis(250), || {
        let stored = arrival::read_line_protocol(&aggregator.line_protocol())?;
        wait::none(arrival::check_cycles(ledger, &stored, nodes, lost, copies)).map(|_| stored)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{context}: the --lp-out file {} does not hold every frame {} after {timeout:?}:\n{e}\n{}",
            aggregator.lp_path.display(),
            match copies {
                Copies::Once => "exactly once",
                Copies::AtLeastOnceIdentical => "at least once (identical copies)",
            },
            aggregator.proc.output_report()
        )
    })
}

/// Waits until InfluxDB holds every cycle of `nodes` at its own timestamp (frames in
/// `lost` excepted); panics with every problem after `timeout`.
pub fn assert_influx_exactly_once(
    influxd: &Influxd,
    db: &str,
    ledger: &Ledger,
    nodes: &[&str],
    lost: &Lost,
    timeout: Duration,
    context: &str,
) {
    wait::poll(timeout, Duration::from_millis(500), || {
        let stored = arrival::read_influxdb(influxd, db, nodes);
        wait::none(arrival::check_exactly_once(ledger, &stored, nodes, lost))
    })
    .unwrap_or_else(|e| {
        panic!("{context}: InfluxDB does not hold every frame after {timeout:?}:\n{e}")
    })
}

/// The counters of both sides against what the proxy did, when the aggregator ran
/// all along: stored = distinct frames delivered; duplicates = extra copies delivered;
/// missing (aggregator) = dropped (collector, on `/metrics` and in its closing line)
/// = frames never delivered; the collector's first sends and resends = what the proxy
/// received from it. Returns every mismatch.
pub fn counter_problems(
    aggregator: &Aggregator,
    proxy: &ChaosProxy,
    nodes: &[&str],
    stops: &[StopLine],
) -> Vec<String> {
    let ledger = proxy.ledger();
    let scrape = aggregator.scrape();
    let mut problems = Vec::new();
    let aggregator_drops = scrape.sum("pimon_aggregator_udp_kernel_drops_total", &[]);
    if aggregator_drops > 0.0 {
        problems.push(format!(
            "the aggregator's socket dropped {aggregator_drops} datagrams (kernel receive buffer): the counts cannot match exactly"
        ));
    }
    let kernel_drops = proxy.kernel_drops();
    if kernel_drops > 0 {
        problems.push(format!(
            "the proxy's own sockets dropped {kernel_drops} datagrams (kernel receive buffers): its counts cannot be trusted"
        ));
    }
    for (node, stop) in nodes.iter().zip(stops) {
        let c = NodeCounters::of(&scrape, node);
        let frames = ledger.frame_count(node) as f64;
        let lost = ledger.never_delivered(node).len() as f64;
        let mut expect = |what: &str, got: f64, want: f64| {
            if got != want {
                problems.push(format!(
                    "node {node}: {what} is {got}, the proxy says {want}"
                ));
            }
        };
        expect(
            "pimon_node_frames_received_total (aggregator)",
            c.received,
            frames - lost,
        );
        expect(
            "pimon_node_frames_duplicate_total (aggregator)",
            c.duplicate,
            ledger.extra_deliveries(node) as f64,
        );
        expect(
            "pimon_node_frames_missing_total (aggregator)",
            c.missing,
            lost,
        );
        expect(
            "pimon_collector_frames_dropped_total (collector, on /metrics)",
            c.collector_dropped,
            lost,
        );
        expect(
            "frames dropped from the ring (collector's closing line)",
            stop.dropped as f64,
            lost,
        );
        expect(
            "frames sent (collector's closing line)",
            stop.sent as f64,
            frames,
        );
        expect(
            "frames resent (collector's closing line)",
            stop.resent as f64,
            ledger.resends_seen(node) as f64,
        );
        expect(
            "frames unacknowledged at exit (collector's closing line)",
            stop.unacknowledged as f64,
            0.0,
        );
        if problems
            .last()
            .is_some_and(|p| p.starts_with(&format!("node {node}:")))
        {
            problems.push(format!(
                "node {node}: the collector's closing line: {}",
                stop.line
            ));
        }
    }
    problems
}

/// Ids of frames, for messages.
pub fn ids(frames: &BTreeSet<FrameId>) -> String {
    frames
        .iter()
        .map(|f| f.seq.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
