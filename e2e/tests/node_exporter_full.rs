//! Grafana's **Node Exporter Full** (grafana.com 1860: `prometheus/node-exporter-full.json`
//! of rfmoz/grafana-dashboards, vendored unmodified in `e2e/dashboards/`, source and
//! licence in its README) measured panel by panel on pimon, with the real node_exporter on
//! the same machine as the reference: without `node_uname_info` the dashboard's menus are
//! empty and it shows nothing at all.
//!
//! One real Prometheus scrapes two jobs every second: `pimon`, a real aggregator
//! (`honor_labels: true`: each node is its own `instance`) fed by host collectors on
//! copies of the `pi4`, `pizero` and `x86` fixture trees whose counters grow once a
//! second and one on the live `/`; and `node`, Debian's `prometheus-node-exporter` on the
//! live host (its default collectors, `instance` = its `127.0.0.1:PORT`).
//!
//! The dashboard's variables are resolved as Grafana resolves them, never set by hand:
//! `job` from `label_values(node_uname_info, job)`, `nodename` from
//! `label_values(node_uname_info{job="$job"}, nodename)`, `node` from
//! `label_values(node_uname_info{job="$job", nodename="$nodename"}, instance)`; each
//! combination is one view of the dashboard
//! (`pimon_e2e::grafana::prometheus_variable_bindings`). Without `node_uname_info` a
//! job has no view: Grafana's menus are empty, and so is every panel.
//!
//! In a view every panel's targets (hidden ones left out) get `$job`, `$nodename`,
//! `$node`, `$__rate_interval` and `$__interval` and run as Grafana runs them: instant
//! targets as instant queries, the others as range queries over the run so far. A panel
//! shows data when one of its targets returns a number. The report: panels with data per
//! row of the dashboard and per view; for the live pimon node, each panel without data
//! with the metric names it misses (no series for that `job` and `instance`), and the
//! missing metric families by the number of empty panels that select them.
//!
//! The live node is the comparison (pimon and node_exporter read the same machine):
//! `pimon shows data in N panels, node_exporter in M`, N asserted against a floor that
//! only goes up. Because pimon's variables may not resolve at all (before
//! `node_uname_info`), the same panels are also measured with `$job` and `$node` set by
//! hand for each pimon node: printed as `-/N` and floored separately, a diagnostic of the
//! metric families, never the measure of the dashboard. Whether the variables resolve is
//! its own test, `node_exporter_full_variables_resolve_from_pimon_metrics`.
//!
//! The numbers are in `docs/DASHBOARDS.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::grafana::{
    Binding, DashboardPanel, dashboard_panels, prometheus_has_data, prometheus_label_values,
    prometheus_range_has_data, prometheus_variable_bindings, promql_metric_names,
    substitute_binding,
};
use pimon_e2e::pimon::{Aggregator, start_collector};
use pimon_e2e::process::Proc;
use pimon_e2e::support::peers::NodeExporter;
use pimon_e2e::support::servers::{Prometheus, ScrapeJob};
use pimon_e2e::tree::{CounterBumper, copy_tree};
use pimon_e2e::wait;
use pimon_e2e::{fixture, repo_root};
use serde_json::Value as Json;
use tempfile::TempDir;

/// The vendored dashboard and where it comes from (`e2e/dashboards/README.md`).
const DASHBOARD: &str = "e2e/dashboards/node-exporter-full.json";
const UPSTREAM: &str = "rfmoz/grafana-dashboards@4b1729d";
/// Fixture trees and the node name each collector reports.
const FIXTURE_NODES: [(&str, &str); 3] =
    [("pi4", "pi4-a"), ("pizero", "pizero-b"), ("x86", "x86-c")];
/// The collector reading this machine's live `/`, beside node_exporter.
const LIVE_NODE: &str = "live-d";
/// Prometheus' jobs.
const PIMON_JOB: &str = "pimon";
const NODE_EXPORTER_JOB: &str = "node";
/// `$__rate_interval`: Grafana's rule (at least 4 scrape intervals) with room for a
/// loaded machine, as in `dashboards.rs`.
const RATE_INTERVAL: &str = "30s";
/// `$__interval`, also the range queries' step.
const INTERVAL: &str = "2s";
/// Scrapes of each job before measuring: `rate()` needs two, a few more for slow runs.
const WARM_UP_SCRAPES: u32 = 8;
/// Bound of the warm-up.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(40);

/// Floors of the panels showing data, per pimon node: (node, with the variables
/// resolved as Grafana resolves them, with `$job` and `$node` set by hand). What main gave
/// when this test came: 0 resolved everywhere (no `node_uname_info`: the menus are
/// empty); by hand the fixture nodes' numbers (fixed by their trees) and, for the live
/// node, a few below this machine's 64 (the host decides some panels: swap, hwmon, …).
/// With node_exporter's families (`node_uname_info`, hwmon chip names and limits,
/// netclass, netstat, sockstat, vmstat, softnet, process and scrape figures), then
/// timex (the 6 panels of "System Timesync"), then cpufreq's limits, schedstat, arp and
/// udp_queues: pi4 113, pizero 103, x86 112 of 125, resolved as Grafana does; the live
/// node 109 on the 2-core CI VM (floored a little
/// lower: the host decides some panels).
/// **These floors only go up**: raise them to what a branch reaches.
const PIMON_FLOORS: [(&str, usize, usize); 4] = [
    (LIVE_NODE, 103, 103),
    ("pi4-a", 113, 113),
    ("pizero-b", 103, 103),
    ("x86-c", 112, 112),
];
/// node_exporter on this host, well below the 105 it showed here (the host decides some
/// panels): under it, the harness is broken and measures nothing.
const NODE_EXPORTER_FLOOR: usize = 80;

// ---------------------------------------------------------------------------------
// The dashboard

fn dashboard() -> (Json, Vec<DashboardPanel>) {
    let path = repo_root().join(DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dash: Json = serde_json::from_str(&text).expect("the vendored dashboard is JSON");
    let panels = dashboard_panels(&dash, "expr");
    (dash, panels)
}

/// The rows in the dashboard's order, each with its number of panels.
fn rows(panels: &[DashboardPanel]) -> Vec<(&str, usize)> {
    let mut rows: Vec<(&str, usize)> = Vec::new();
    for p in panels {
        match rows.last_mut() {
            Some((row, n)) if *row == p.row => *n += 1,
            _ => rows.push((&p.row, 1)),
        }
    }
    rows
}

/// Grafana's built-in variables.
fn builtins() -> [(&'static str, &'static str); 2] {
    [("__rate_interval", RATE_INTERVAL), ("__interval", INTERVAL)]
}

// ---------------------------------------------------------------------------------
// The fleet

/// Everything running for a test; dropping it stops it all (senders first).
struct Fleet {
    _collectors: Vec<Proc>,
    _bumpers: Vec<CounterBumper>,
    _trees: Vec<TempDir>,
    _node_exporter: NodeExporter,
    prometheus: Prometheus,
    aggregator: Aggregator,
    /// Unix seconds before anything was scraped: the range queries' start.
    started: f64,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

fn pimon_nodes() -> Vec<&'static str> {
    FIXTURE_NODES
        .iter()
        .map(|(_, n)| *n)
        .chain([LIVE_NODE])
        .collect()
}

impl Fleet {
    fn start() -> Fleet {
        let started = unix_now();
        let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
        let node_exporter = NodeExporter::start();
        let aggregator_target = aggregator.target();
        let node_exporter_target = node_exporter
            .url()
            .strip_prefix("http://")
            .expect("http:// URL")
            .to_string();
        let prometheus = Prometheus::start_jobs(&[
            ScrapeJob {
                name: PIMON_JOB,
                honor_labels: true,
                targets: &[&aggregator_target],
            },
            ScrapeJob {
                name: NODE_EXPORTER_JOB,
                honor_labels: false,
                targets: &[&node_exporter_target],
            },
        ]);
        let collector = Launcher::host(Program::Collector);
        let mut trees = Vec::new();
        let mut bumpers = Vec::new();
        let mut collectors = Vec::new();
        for (name, node) in FIXTURE_NODES {
            let (dir, root) = copy_tree(&fixture(name));
            bumpers.push(CounterBumper::start(&root));
            collectors.push(start_collector(&collector, &root, node, aggregator.udp));
            trees.push(dir);
        }
        collectors.push(start_collector(
            &collector,
            Path::new("/"),
            LIVE_NODE,
            aggregator.udp,
        ));
        Fleet {
            _collectors: collectors,
            _bumpers: bumpers,
            _trees: trees,
            _node_exporter: node_exporter,
            prometheus,
            aggregator,
            started,
        }
    }

    /// Waits until both jobs were scraped [`WARM_UP_SCRAPES`] times and every pimon
    /// node has series; panics naming what is missing.
    fn warm_up(&self) {
        let prom = &self.prometheus;
        wait::until(WARM_UP_TIMEOUT, "warm-up", || {
            let mut missing = Vec::new();
            for job in [PIMON_JOB, NODE_EXPORTER_JOB] {
                let q = format!("count_over_time(up{{job=\"{job}\"}}[1m]) >= {WARM_UP_SCRAPES}");
                if prometheus_has_data(prom, &q).is_err() {
                    missing.push(format!("{WARM_UP_SCRAPES} scrapes of job {job}"));
                }
            }
            for node in pimon_nodes() {
                let q = format!("node_load1{{job=\"{PIMON_JOB}\",instance=\"{node}\"}}");
                if prometheus_has_data(prom, &q).is_err() {
                    missing.push(format!("{q} (the collector's frames)"));
                }
            }
            wait::none(missing).map_err(|e| {
                format!(
                    "{e}\nPrometheus targets: {:?}\n{}",
                    prom.targets(),
                    self.aggregator.proc.output_report()
                )
            })
        });
    }
}

// ---------------------------------------------------------------------------------
// Measuring

/// What one panel showed in one view.
struct PanelResult {
    has_data: bool,
    /// For a panel without data: the metrics it selects that have no series for the
    /// view's job and instance.
    missing: Vec<String>,
}

/// One view of the dashboard: a job and instance with its variables.
struct View {
    /// The column title: `node_exporter` or the pimon node.
    name: String,
    binding: Binding,
    /// Grafana reaches it through the variables (false: set by hand).
    resolved: bool,
    panels: Vec<PanelResult>,
}

/// Runs a panel's targets in a view until one returns data.
fn panel_has_data(
    prom: &Prometheus,
    panel: &DashboardPanel,
    binding: &Binding,
    range: (f64, f64),
) -> bool {
    panel.targets.iter().filter(|t| !t.hidden).any(|t| {
        let query = substitute_binding(&t.query, binding)
            .unwrap_or_else(|e| panic!("{} / {}: {e}", panel.title, t.ref_id));
        if t.instant {
            prometheus_has_data(prom, &query).is_ok()
        } else {
            prometheus_range_has_data(prom, &query, range, INTERVAL).is_ok()
        }
    })
}

/// Whether a metric has a series for the view's job and instance (cached per view).
fn has_metric(
    prom: &Prometheus,
    cache: &mut BTreeMap<String, bool>,
    binding: &Binding,
    metric: &str,
) -> bool {
    *cache.entry(metric.to_string()).or_insert_with(|| {
        let q = format!(
            "count({{__name__=\"{metric}\",job=\"{}\",instance=\"{}\"}})",
            binding["job"], binding["node"]
        );
        prometheus_has_data(prom, &q).is_ok()
    })
}

fn measure(prom: &Prometheus, panels: &[DashboardPanel], view: &mut View, range: (f64, f64)) {
    let mut cache = BTreeMap::new();
    view.panels = panels
        .iter()
        .map(|p| {
            let has_data = panel_has_data(prom, p, &view.binding, range);
            let mut missing = Vec::new();
            if !has_data {
                for t in p.targets.iter().filter(|t| !t.hidden) {
                    for m in promql_metric_names(&t.query) {
                        if !missing.contains(&m) && !has_metric(prom, &mut cache, &view.binding, &m)
                        {
                            missing.push(m);
                        }
                    }
                }
            }
            PanelResult { has_data, missing }
        })
        .collect();
}

fn with_data(view: &View) -> usize {
    view.panels.iter().filter(|p| p.has_data).count()
}

/// Grafana's views of a job: the variable combinations whose `job` is `job`.
fn job_bindings(bindings: &[Binding], job: &str) -> Vec<Binding> {
    bindings
        .iter()
        .filter(|b| b["job"] == job)
        .cloned()
        .collect()
}

/// A metric's family: `node_` and its next word (`node_netstat`), or the first word
/// (`process`).
fn family(metric: &str) -> &str {
    let words = if metric.starts_with("node_") { 2 } else { 1 };
    match metric.match_indices('_').nth(words - 1) {
        Some((i, _)) => &metric[..i],
        None => metric,
    }
}

/// The report: panels with data per row and view, the live node's empty panels with
/// the metrics they miss, the metrics that would fill the most panels.
fn report(panels: &[DashboardPanel], views: &[View], live: &View, reference: &View) -> String {
    let mut out = Vec::new();
    out.push(format!(
        "Node Exporter Full ({UPSTREAM}): {} panels in {} rows",
        panels.len(),
        rows(panels).iter().filter(|(r, _)| !r.is_empty()).count()
    ));
    out.push(
        "panels with data per row; -/N: Grafana's variables do not reach this node (it \
         shows nothing), N with $job and $node set by hand"
            .to_string(),
    );
    let width = panels.iter().map(|p| p.row.len()).max().unwrap_or(0) + 6;
    let mut header = format!("{:width$}", "row (panels)");
    for v in views {
        header += &format!(" | {:>13}", v.name);
    }
    out.push(header);
    let cell = |v: &View, n: usize| {
        if v.resolved {
            format!("{n}")
        } else {
            format!("-/{n}")
        }
    };
    let mut first = 0;
    for (row, count) in rows(panels) {
        let mut line = format!("{:width$}", format!("{row} ({count})"));
        for v in views {
            let n = v.panels[first..first + count]
                .iter()
                .filter(|p| p.has_data)
                .count();
            line += &format!(" | {:>13}", cell(v, n));
        }
        out.push(line);
        first += count;
    }
    let mut total = format!("{:width$}", format!("total ({})", panels.len()));
    for v in views {
        total += &format!(" | {:>13}", cell(v, with_data(v)));
    }
    out.push(total);

    out.push(format!(
        "\n{LIVE_NODE} (pimon on the live /) without data, and the metrics it misses \
         (* also empty for node_exporter):"
    ));
    // family -> (panels that miss one of its metrics, the metrics)
    let mut families: BTreeMap<&str, (usize, Vec<&str>)> = BTreeMap::new();
    for (i, (p, r)) in panels.iter().zip(&live.panels).enumerate() {
        if r.has_data {
            continue;
        }
        let star = if reference.panels[i].has_data {
            ""
        } else {
            "*"
        };
        let why = if r.missing.is_empty() {
            "every metric present, the query returns nothing".to_string()
        } else {
            r.missing.join(", ")
        };
        out.push(format!("- {}{star} / {}: {why}", p.row, p.title));
        let mut counted: Vec<&str> = Vec::new();
        for m in &r.missing {
            let (panels, metrics) = families.entry(family(m)).or_default();
            if !counted.contains(&family(m)) {
                counted.push(family(m));
                *panels += 1;
            }
            if !metrics.contains(&m.as_str()) {
                metrics.push(m);
            }
        }
    }
    let mut top: Vec<(&str, (usize, Vec<&str>))> = families.into_iter().collect();
    top.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    out.push(format!(
        "\nmissing on {LIVE_NODE}, by family and the number of empty panels that select it:"
    ));
    for (f, (n, metrics)) in &top {
        out.push(format!("  {n:3}  {f}_*: {}", metrics.join(" ")));
    }
    out.join("\n")
}

#[test]
fn node_exporter_full_shows_data_from_pimon_and_node_exporter() {
    let (dash, panels) = dashboard();
    let fleet = Fleet::start();
    fleet.warm_up();
    let prom = &fleet.prometheus;

    let bindings = prometheus_variable_bindings(prom, &dash, &builtins())
        .unwrap_or_else(|e| panic!("variables: {e}"));
    let reference = job_bindings(&bindings, NODE_EXPORTER_JOB);
    assert_eq!(
        reference.len(),
        1,
        "node_exporter's variables resolve to one view (or the harness is broken): {bindings:?}"
    );
    let pimon = job_bindings(&bindings, PIMON_JOB);

    let mut views = vec![View {
        name: "node_exporter".to_string(),
        binding: reference[0].clone(),
        resolved: true,
        panels: Vec::new(),
    }];
    for node in [LIVE_NODE]
        .into_iter()
        .chain(FIXTURE_NODES.iter().map(|(_, n)| *n))
    {
        let resolved = pimon.iter().find(|b| b["node"] == node);
        let binding = resolved.cloned().unwrap_or_else(|| {
            let mut b: Binding = builtins()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            b.insert("job".into(), PIMON_JOB.into());
            b.insert("nodename".into(), String::new());
            b.insert("node".into(), node.into());
            b
        });
        views.push(View {
            name: node.to_string(),
            binding,
            resolved: resolved.is_some(),
            panels: Vec::new(),
        });
    }
    let range = (fleet.started, unix_now());
    for view in &mut views {
        measure(prom, &panels, view, range);
    }

    let (reference, live) = (&views[0], &views[1]);
    let resolved: Vec<String> = bindings
        .iter()
        .map(|b| {
            format!(
                "job={} nodename={} node={}",
                b["job"], b["nodename"], b["node"]
            )
        })
        .collect();
    let text = format!(
        "Grafana's variables (from node_uname_info) reach {} view(s): {}\n{}",
        resolved.len(),
        resolved.join("; "),
        report(&panels, &views, live, reference)
    );
    let resolved_count = |v: &View| if v.resolved { with_data(v) } else { 0 };
    let reference_count = with_data(reference);
    println!(
        "{text}\n\npimon shows data in {} of {} panels of Node Exporter Full ({} with \
         $job/$node set by hand), node_exporter in {reference_count} (same host)",
        resolved_count(live),
        panels.len(),
        with_data(live),
    );
    let mut problems = Vec::new();
    if reference_count < NODE_EXPORTER_FLOOR {
        problems.push(format!(
            "node_exporter shows data in {reference_count} panels, under \
             {NODE_EXPORTER_FLOOR}: the harness is broken"
        ));
    }
    // On the same machine, at least as many panels as node_exporter itself (the live
    // node; the fixture nodes are held by their floors).
    if resolved_count(live) < reference_count {
        problems.push(format!(
            "pimon on the live host shows data in {} panels, node_exporter in \
             {reference_count}: fewer than the exporter the dashboard was built for",
            resolved_count(live)
        ));
    }
    for (node, floor, by_hand_floor) in PIMON_FLOORS {
        let v = views
            .iter()
            .find(|v| v.name == node)
            .expect("a view per node");
        if resolved_count(v) < floor {
            problems.push(format!(
                "{node}: {} panels with data, the floor is {floor}",
                resolved_count(v)
            ));
        }
        if with_data(v) < by_hand_floor {
            problems.push(format!(
                "{node}: {} panels with data with $job/$node set by hand, the floor is \
                 {by_hand_floor}",
                with_data(v)
            ));
        }
    }
    assert!(problems.is_empty(), "{}\n\n{text}", problems.join("\n"));
}

/// Grafana's menus reach every pimon node: `job` lists `pimon`, `nodename` is not empty
/// for it, and the `node` menus together list each collector's node. Needs
/// `node_uname_info` (with `nodename`) from every collector.
#[test]
fn node_exporter_full_variables_resolve_from_pimon_metrics() {
    let (dash, _) = dashboard();
    let fleet = Fleet::start();
    fleet.warm_up();
    let prom = &fleet.prometheus;
    let bindings = prometheus_variable_bindings(prom, &dash, &builtins())
        .unwrap_or_else(|e| panic!("variables: {e}"));
    let pimon = job_bindings(&bindings, PIMON_JOB);
    let reached: Vec<&str> = pimon.iter().map(|b| b["node"].as_str()).collect();
    let unreached: Vec<&str> = pimon_nodes()
        .into_iter()
        .filter(|n| !reached.contains(n))
        .collect();
    let jobs = prometheus_label_values(prom, "label_values(node_uname_info, job)")
        .unwrap_or_else(|e| panic!("{e}"));
    let empty_nodename: Vec<&Binding> = pimon.iter().filter(|b| b["nodename"].is_empty()).collect();
    assert!(
        jobs.iter().any(|j| j == PIMON_JOB) && unreached.is_empty() && empty_nodename.is_empty(),
        "Node Exporter Full's variables do not reach pimon's nodes:\n\
         job: label_values(node_uname_info, job) = {jobs:?} (wants {PIMON_JOB:?})\n\
         nodes no (job, nodename, node) combination reaches: {unreached:?}\n\
         combinations with an empty nodename: {empty_nodename:?}\n\
         all combinations: {bindings:?}"
    );
}

/// Every panel is read with its row, and every target is substituted completely with the
/// dashboard's variables and Grafana's built-ins (no server needed).
#[test]
fn node_exporter_full_queries_are_read_and_substituted_completely() {
    let (dash, panels) = dashboard();
    let names: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .expect("templating")
        .iter()
        .filter(|v| v["type"] == "query")
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["job", "nodename", "node"]);
    let rows = rows(&panels);
    assert!(rows.len() >= 10, "rows: {rows:?}");
    assert!(
        panels.iter().all(|p| !p.row.is_empty()),
        "a panel above the first row"
    );
    let mut binding: Binding = builtins()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [("job", "pimon"), ("nodename", "pi"), ("node", "pi4-a")] {
        binding.insert(k.into(), v.into());
    }
    for p in &panels {
        assert!(
            p.targets.iter().any(|t| !t.hidden),
            "{} / {}: no target Grafana runs",
            p.row,
            p.title
        );
        for t in &p.targets {
            let q = substitute_binding(&t.query, &binding)
                .unwrap_or_else(|e| panic!("{} / {}: {e}", p.title, t.ref_id));
            assert!(q.contains("instance=\"pi4-a\""), "{}: {q}", p.title);
            assert!(!promql_metric_names(&q).is_empty(), "{}: {q}", p.title);
        }
    }
}
