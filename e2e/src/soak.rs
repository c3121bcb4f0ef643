//! The soak: a fleet of real collectors (1,000 by default, on the `pi4`, `pizero` and
//! `x86` fixture trees in turn) sending through the chaos proxy (mild loss, duplicates,
//! reordering and delay both ways) to an aggregator that writes to a real InfluxDB,
//! for a set time. Every `sample` it records the aggregator's RSS and open files, the
//! spool's size, the cycles sent (the proxy's ledger) and stored (InfluxDB, by query)
//! and what the proxy did; at the end it stops the fleet, lets the spool drain and
//! checks that what was stored equals what was sent and that nothing grew.
//!
//! Settings come from the environment (`scripts/soak` sets them for the hour-long
//! run; the CI test uses the defaults):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `PIMON_SOAK_NODES` | 1000 | collectors |
//! | `PIMON_SOAK_SECONDS` | 180 | how long the fleet sends |
//! | `PIMON_SOAK_INTERVAL` | `10s` | the collectors' interval |
//! | `PIMON_SOAK_SAMPLE_SECONDS` | 15 | time between samples |
//! | `PIMON_SOAK_REPORT` | `target/e2e-logs/soak-PID.tsv` | the samples table |

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::arrival::{self, Lost};
use crate::binaries::{Launcher, Program};
use crate::chaos::{self, ChaosConfig, ChaosProxy, Counts, Direction, Faults};
use crate::fleet::TRIO;
use crate::ledger::Ledger;
use crate::pimon::{Aggregator, AggregatorSetup, Collector, CollectorSetup, StopLine};
use crate::scrape::NodeCounters;
use crate::support::servers::Influxd;
use crate::{rng, wait};

const DB: &str = "pimon";

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// Collectors.
    pub nodes: usize,
    /// How long the fleet sends.
    pub duration: Duration,
    /// The collectors' `--interval`.
    pub interval: String,
    /// Time between samples.
    pub sample: Duration,
    /// Where the samples table goes.
    pub report: PathBuf,
}

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not valid")),
        Err(_) => default,
    }
}

impl SoakConfig {
    /// The settings from the environment (see the module docs).
    pub fn from_env() -> SoakConfig {
        SoakConfig {
            nodes: env_or("PIMON_SOAK_NODES", 1000),
            duration: Duration::from_secs(env_or("PIMON_SOAK_SECONDS", 180)),
            interval: env_or("PIMON_SOAK_INTERVAL", "10s".to_string()),
            sample: Duration::from_secs(env_or("PIMON_SOAK_SAMPLE_SECONDS", 15)),
            report: std::env::var_os("PIMON_SOAK_REPORT")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    chaos::log_dir().join(format!("soak-{}.tsv", std::process::id()))
                }),
        }
    }
}

/// One sample.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Seconds since the fleet started.
    pub at_s: u64,
    /// Aggregator RSS, KiB.
    pub rss_kib: u64,
    /// Aggregator open file descriptors.
    pub open_fds: u64,
    /// Bytes of the spool directory.
    pub spool_bytes: u64,
    /// Cycles sent (complete cycles in the ledger).
    pub cycles_sent: u64,
    /// Cycles stored in InfluxDB (`count(frames_sent)` of `pimon_collector`).
    pub cycles_stored: u64,
    /// InfluxDB's RSS, KiB.
    pub influxd_rss_kib: u64,
    /// Collectors running.
    pub collectors_up: usize,
    /// Proxy, collector → aggregator.
    pub to_aggregator: Counts,
    /// Proxy, aggregator → collector.
    pub to_collector: Counts,
}

impl Sample {
    /// The header of the samples table.
    pub const HEADER: &'static str = "seconds\trss_kib\topen_fds\tspool_bytes\tcycles_sent\tcycles_stored\tinfluxd_rss_kib\tcollectors_up\tdatagrams_to_aggregator\tdropped\tduplicated\treordered\tacks\tacks_dropped";

    fn row(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.at_s,
            self.rss_kib,
            self.open_fds,
            self.spool_bytes,
            self.cycles_sent,
            self.cycles_stored,
            self.influxd_rss_kib,
            self.collectors_up,
            self.to_aggregator.received,
            self.to_aggregator.dropped,
            self.to_aggregator.duplicated,
            self.to_aggregator.reordered,
            self.to_collector.received,
            self.to_collector.dropped
        )
    }
}

/// What the soak found.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// The samples, in order (the last one after the spool drained).
    pub samples: Vec<Sample>,
    /// Every problem found (empty: the soak passed).
    pub problems: Vec<String>,
    /// The samples table's path.
    pub report: PathBuf,
    /// Frames the proxy saw, cycles sent, and what it did.
    pub summary: String,
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Cycles stored per host: one `frames_sent` field per cycle.
fn stored_cycles(influxd: &Influxd) -> std::collections::BTreeMap<String, u64> {
    let v = influxd.query(
        DB,
        "SELECT count(frames_sent) FROM pimon_collector GROUP BY host",
    );
    let mut out = std::collections::BTreeMap::new();
    for s in v["results"][0]["series"].as_array().into_iter().flatten() {
        let host = s["tags"]["host"].as_str().unwrap_or("").to_string();
        let n = s["values"][0][1].as_u64().unwrap_or(0);
        out.insert(host, n);
    }
    out
}

/// Raises the soft limit of open files to the hard one: the proxy holds a socket per
/// collector.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

struct Running<'a> {
    aggregator: &'a mut Aggregator,
    influxd: &'a mut Influxd,
    proxy: &'a ChaosProxy,
    collectors: &'a mut [Collector],
    spool: PathBuf,
    start: Instant,
}

impl Running<'_> {
    fn sample(&mut self) -> Sample {
        // Stored first: what is stored was sent before it.
        let stored: u64 = stored_cycles(self.influxd).values().sum();
        let sent = self.proxy.with_ledger(Ledger::complete_cycles);
        let usage = self.aggregator.usage();
        let influxd_rss = self
            .influxd
            .server
            .pid()
            .and_then(crate::process::Usage::of)
            .map_or(0, |u| u.rss_kib);
        Sample {
            at_s: self.start.elapsed().as_secs(),
            rss_kib: usage.rss_kib,
            open_fds: usage.open_fds,
            spool_bytes: dir_bytes(&self.spool),
            cycles_sent: sent,
            cycles_stored: stored,
            influxd_rss_kib: influxd_rss,
            collectors_up: self
                .collectors
                .iter_mut()
                .filter_map(|c| c.proc.is_running().then_some(()))
                .count(),
            to_aggregator: self.proxy.counts(Direction::ToAggregator),
            to_collector: self.proxy.counts(Direction::ToCollector),
        }
    }
}

/// Runs the soak; panics only when something cannot start.
pub fn run(config: &SoakConfig) -> SoakReport {
    raise_open_files_limit();
    let mut influxd = Influxd::start();
    influxd.create_database(DB);
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator))
        .without_lp_out()
        .influx(influxd.url(), DB);
    let spool = setup.spool_dir();
    let mut aggregator = setup.start();
    let mut chaos = ChaosConfig::new(rng::seed("soak"));
    chaos.record_bytes = false;
    chaos.to_aggregator = Faults::lossy(0.02, 0.01, 0.02, Duration::from_millis(20));
    chaos.to_collector = Faults::lossy(0.02, 0.01, 0.0, Duration::from_millis(5));
    let proxy = ChaosProxy::start("soak", aggregator.udp, chaos);

    let interval = crate::cli_duration(&config.interval);
    let launcher = Launcher::host(Program::Collector);
    let phase = Instant::now();
    let mut collectors: Vec<Collector> = (0..config.nodes)
        .map(|i| {
            let (tree, _) = TRIO[i % TRIO.len()];
            CollectorSetup::new(
                &launcher,
                &crate::fixture(tree),
                &format!("soak-{i:04}"),
                proxy.addr(),
            )
            .interval(&config.interval)
            .start()
        })
        .collect();
    eprintln!(
        "soak: {} collectors started in {:.1} s",
        config.nodes,
        phase.elapsed().as_secs_f64()
    );
    let mut table = format!("{}\n", Sample::HEADER);
    let mut report = SoakReport {
        report: config.report.clone(),
        ..SoakReport::default()
    };
    // The table is rewritten at every sample: a path it cannot be written to fails the
    // soak now, not an hour of samples later.
    if let Err(e) = fs::write(&config.report, &table) {
        report.problems.push(format!(
            "cannot write the samples table {}: {e}",
            config.report.display()
        ));
        return report;
    }
    let start = Instant::now();
    {
        let mut running = Running {
            aggregator: &mut aggregator,
            influxd: &mut influxd,
            proxy: &proxy,
            collectors: &mut collectors,
            spool: spool.clone(),
            start,
        };
        while start.elapsed() < config.duration {
            let next = config
                .sample
                .min(config.duration.saturating_sub(start.elapsed()));
            thread::sleep(next);
            let s = running.sample();
            let _ = writeln!(table, "{}", s.row());
            eprintln!("soak: {}", s.row());
            let _ = fs::write(&config.report, &table);
            report.samples.push(s);
            if !running.aggregator.proc.is_running() {
                report.problems.push(format!(
                    "the aggregator died\n{}",
                    running.aggregator.proc.output_report()
                ));
                return report;
            }
        }
    }

    // The end: no more faults for an interval and a bit (a frame lost just before is
    // asked for again once the next cycle shows the gap), then the fleet stops
    // (lingering for its acks) and the spool drains.
    proxy.heal();
    thread::sleep(interval + Duration::from_secs(3));
    let phase = Instant::now();
    for c in &mut collectors {
        c.proc.signal(libc::SIGTERM);
    }
    let stops: Vec<(String, Option<StopLine>)> = collectors
        .iter_mut()
        .map(|c| {
            let line = match c.proc.wait_timeout(Duration::from_secs(30)) {
                Some(_) => StopLine::find(&c.proc.stderr()),
                None => None,
            };
            (c.node.clone(), line)
        })
        .collect();
    proxy.wait_idle(Duration::from_secs(10));
    eprintln!(
        "soak: fleet stopped in {:.1} s",
        phase.elapsed().as_secs_f64()
    );
    let phase = Instant::now();
    let ledger = proxy.ledger();
    let sent_by_node: Vec<(String, u64)> = ledger
        .nodes()
        .iter()
        .map(|n| (n.to_string(), ledger.cycles(n).len() as u64))
        .collect();
    let drained = wait::poll(Duration::from_secs(180), Duration::from_secs(2), || {
        let stored = stored_cycles(&influxd);
        let behind: Vec<String> = sent_by_node
            .iter()
            .filter(|(n, sent)| stored.get(n).copied().unwrap_or(0) != *sent)
            .map(|(n, sent)| {
                format!(
                    "{n}: {sent} sent, {} stored",
                    stored.get(n).copied().unwrap_or(0)
                )
            })
            .collect();
        if behind.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} nodes differ, e.g. {}",
                behind.len(),
                behind[..behind.len().min(5)].join("; ")
            ))
        }
    });
    eprintln!(
        "soak: InfluxDB caught up in {:.1} s",
        phase.elapsed().as_secs_f64()
    );
    let mut running = Running {
        aggregator: &mut aggregator,
        influxd: &mut influxd,
        proxy: &proxy,
        collectors: &mut collectors,
        spool,
        start,
    };
    let last = running.sample();
    let _ = writeln!(table, "{}", last.row());
    let _ = fs::write(&config.report, &table);
    report.samples.push(last);

    if let Err(e) = drained {
        report.problems.push(format!(
            "stored ≠ sent in InfluxDB (cycles per node, after the spool drained): {e}"
        ));
    }
    // Every field of a few nodes of each tree, exactly once at its own time.
    let checked: Vec<&str> = sent_by_node
        .iter()
        .take(6)
        .map(|(n, _)| n.as_str())
        .collect();
    // An hour of one node's fields is more than one query response may hold: read
    // them a measurement at a time.
    let stored = arrival::read_influxdb_by_measurement(&influxd, DB, &checked);
    report.problems.extend(arrival::check_exactly_once(
        &ledger,
        &stored,
        &checked,
        &Lost::new(),
    ));
    let scrape = aggregator.scrape();
    let mut counted = Vec::new();
    for (node, stop) in &stops {
        let c = NodeCounters::of(&scrape, node);
        match stop {
            Some(s) if s.dropped == 0 && s.unacknowledged == 0 && c.missing == 0.0 => {}
            Some(s) => counted.push(format!(
                "{node}: missing {} on the aggregator; {}",
                c.missing, s.line
            )),
            None => counted.push(format!("{node}: did not stop cleanly")),
        }
    }
    if !counted.is_empty() {
        report.problems.push(format!(
            "{} nodes counted a loss or did not stop, e.g.:\n{}",
            counted.len(),
            counted[..counted.len().min(10)].join("\n")
        ));
    }
    report.problems.extend(flatness(&report.samples));
    report.summary = format!(
        "{} nodes, {} frames, {} cycles sent; {}; kernel drops at the aggregator {}",
        config.nodes,
        ledger.frames.len(),
        sent_by_node.iter().map(|(_, n)| n).sum::<u64>(),
        proxy.describe(),
        scrape.sum("pimon_aggregator_udp_kernel_drops_total", &[])
    );
    report
}

/// "Flat": after the first third of the run (the store fills, buffers settle), the
/// aggregator's RSS grows by at most 10 % + 8 MiB, its open files by at most 8, the
/// spool stays under 64 MiB, and InfluxDB keeps up (stored within two intervals' worth
/// of cycles of sent).
fn flatness(samples: &[Sample]) -> Vec<String> {
    let mut problems = Vec::new();
    let running = &samples[..samples.len().saturating_sub(1)];
    if running.len() < 3 {
        problems.push(format!("only {} samples: run longer", running.len()));
        return problems;
    }
    let settled = &running[running.len() / 3..];
    let base = &settled[0];
    for s in settled {
        if s.rss_kib > base.rss_kib + base.rss_kib / 10 + 8 * 1024 {
            problems.push(format!(
                "aggregator RSS grew from {} KiB at {} s to {} KiB at {} s",
                base.rss_kib, base.at_s, s.rss_kib, s.at_s
            ));
        }
        if s.open_fds > base.open_fds + 8 {
            problems.push(format!(
                "aggregator open files grew from {} at {} s to {} at {} s",
                base.open_fds, base.at_s, s.open_fds, s.at_s
            ));
        }
    }
    let max_collectors = running.iter().map(|s| s.collectors_up).max().unwrap_or(0);
    for s in running {
        if s.spool_bytes > 64 << 20 {
            problems.push(format!("spool {} bytes at {} s", s.spool_bytes, s.at_s));
        }
        if s.collectors_up < max_collectors {
            problems.push(format!(
                "{} of {max_collectors} collectors running at {} s",
                s.collectors_up, s.at_s
            ));
        }
    }
    for s in settled {
        let lag = s.cycles_sent.saturating_sub(s.cycles_stored);
        if lag > 2 * max_collectors as u64 + 50 {
            problems.push(format!(
                "InfluxDB behind by {lag} cycles at {} s ({} sent, {} stored)",
                s.at_s, s.cycles_sent, s.cycles_stored
            ));
        }
    }
    problems.dedup();
    problems
}
