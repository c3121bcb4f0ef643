//! Every query of the Grafana dashboards in
//! `deploy/grafana/dashboards/` returns data from real servers fed by real pimon:
//!
//! - every PromQL `expr` of `pimon-fleet-prometheus.json` against a real Prometheus
//!   scraping a real aggregator with `honor_labels: true`;
//! - every InfluxQL `query` of `pimon-fleet-influxdb.json` against a real `influxd`
//!   that the same aggregator writes to (`--influx-url`, `--influx-db`);
//! - the node variables' queries (`label_values(node_load1, instance)`,
//!   `SHOW TAG VALUES FROM "system" WITH KEY = "host"`) list every collector's node;
//! - the same for "pimon / workloads" (`pimon-workloads-*.json`: top CPU and memory by
//!   pod, service and container), fed by collectors on copies of the `cgroup-k3s` and
//!   `cgroup-docker` fixtures whose cgroups' `cpu.stat` counters grow every second.
//!
//! The fleet: host `pimon-collector`s reading copies of the `pi4`, `pizero` and `x86`
//! fixture trees whose counters grow once a second (`rate()` and
//! `non_negative_derivative()` need changing counters; the committed fixtures are
//! static), one reading the live `/`, and frames with I2C sensor values sent with
//! `pimon_protocol::FrameWriter` straight to the aggregator (no fixture tree can
//! produce I2C readings: they come from `/dev/i2c-N`). The frames are the protocol's
//! own encoding sent to the real aggregator over UDP, exactly as a collector would.
//!
//! Grafana's variables are substituted as Grafana does for a multi-value selection of
//! every node: `$instance`/`$host` become `(node1|node2|…)`; `$__rate_interval` is 30s,
//! `$__interval` 2s, `$timeFilter` is `time >= now() - 5m`. A failure lists every query
//! that returned nothing (or an error) with its panel, its text and the answer.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::grafana::{
    dashboard_panels, multi_value, prometheus_has_data, prometheus_label_values,
    prometheus_multi_value, substitute,
};
use pimon_e2e::pimon::{Aggregator, start_collector};
use pimon_e2e::process::Proc;
use pimon_e2e::support::http;
use pimon_e2e::support::servers::{Influxd, Prometheus};
use pimon_e2e::tree::{CounterBumper, copy_tree};
use pimon_e2e::{fixture, repo_root};
use pimon_protocol::catalog::id;
use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, MAX_DATAGRAM, Value, seal};
use serde_json::Value as Json;
use tempfile::TempDir;

/// Fixture trees and the node name each collector reports.
const FIXTURE_NODES: [(&str, &str); 3] =
    [("pi4", "pi4-a"), ("pizero", "pizero-b"), ("x86", "x86-c")];
/// The collector reading this machine's live `/`.
const LIVE_NODE: &str = "live-d";
/// cgroup fixture trees (the "pimon / workloads" dashboards) and their nodes.
const WORKLOAD_NODES: [(&str, &str); 2] = [("cgroup-k3s", "k3s-e"), ("cgroup-docker", "docker-f")];
/// The node whose I2C readings are sent as frames by the test.
const I2C_NODE: &str = "pi-garden";
/// The InfluxDB database.
const DB: &str = "pimon";
/// `$__rate_interval`: at least 4 scrape intervals (Grafana's rule) and room for the
/// test's whole run.
const RATE_INTERVAL: &str = "30s";
/// `$__interval`: one bucket holds about two of the collectors' 1 s cycles.
const INTERVAL: &str = "2s";
/// `$timeFilter` for a dashboard showing the last 5 minutes.
const TIME_FILTER: &str = "time >= now() - 5m";
/// How long every query has to return data (Prometheus needs ≥ 2 scrapes for rate()).
const DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------
// The dashboards' queries

/// One query of a dashboard.
#[derive(Clone, Debug)]
struct Query {
    /// `panel title / refId`.
    place: String,
    /// The query as in the dashboard.
    raw: String,
    /// The query with the variables substituted.
    text: String,
}

fn dashboard(file: &str) -> Json {
    let path = repo_root().join("deploy/grafana/dashboards").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// Every target's `key` (`expr` or `query`) in the panels, rows' nested panels included,
/// as (`panel title / refId`, query).
fn dashboard_queries(dash: &Json, key: &str) -> Vec<(String, String)> {
    dashboard_panels(dash, key)
        .into_iter()
        .flat_map(|p| {
            p.targets
                .into_iter()
                .map(move |t| (format!("{} / {}", p.title, t.ref_id), t.query))
        })
        .collect()
}

/// The nodes as Grafana's multi-value variables hold them.
fn node_values(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| n.to_string()).collect()
}

fn prometheus_vars(nodes: &[&str]) -> Vec<(String, String)> {
    vec![
        (
            "instance".into(),
            prometheus_multi_value(&node_values(nodes)),
        ),
        ("__rate_interval".into(), RATE_INTERVAL.to_string()),
        ("__interval".into(), INTERVAL.to_string()),
    ]
}

fn influx_vars(nodes: &[&str]) -> Vec<(String, String)> {
    vec![
        ("host".into(), multi_value(&node_values(nodes))),
        ("timeFilter".into(), TIME_FILTER.to_string()),
        ("__interval".into(), INTERVAL.to_string()),
    ]
}

fn queries(file: &str, key: &str, vars: &[(String, String)]) -> Vec<Query> {
    let all = dashboard_queries(&dashboard(file), key);
    assert!(!all.is_empty(), "{file}: no queries");
    all.into_iter()
        .map(|(place, raw)| {
            let text = substitute(&raw, vars).unwrap_or_else(|e| panic!("{file} {place}: {e}"));
            Query { place, raw, text }
        })
        .collect()
}

/// The node variable's definition of a dashboard.
fn node_variable(file: &str, name: &str) -> String {
    let dash = dashboard(file);
    dash["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == name)
        .and_then(|v| v["definition"].as_str())
        .unwrap_or_else(|| panic!("{file}: no variable {name} with a definition"))
        .to_string()
}

// ---------------------------------------------------------------------------------
// Answers: does a query return data?

/// `Ok` when an InfluxQL query returns at least one row with a non-null value.
fn influx_has_data(influxd: &Influxd, query: &str) -> Result<(), String> {
    let qs = http::query_string(&[("db", DB), ("q", query), ("epoch", "ms")]);
    let r = http::request(influxd.url(), "GET", &format!("/query?{qs}"), &[], b"")?;
    let body = r.body_text().to_string();
    let v: Json = serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    let result = &v["results"][0];
    if r.status != 200 || v.get("error").is_some() || result.get("error").is_some() {
        return Err(format!("HTTP {}: {body}", r.status));
    }
    let has_data = result["series"].as_array().is_some_and(|series| {
        series.iter().any(|s| {
            s["values"].as_array().is_some_and(|rows| {
                rows.iter().any(|row| {
                    row.as_array()
                        .is_some_and(|cols| cols.iter().skip(1).any(|c| !c.is_null()))
                })
            })
        })
    });
    if has_data {
        Ok(())
    } else {
        Err(format!("no data: {body}"))
    }
}

/// The values of the first column of every series of an InfluxQL answer.
fn influx_column_values(
    influxd: &Influxd,
    query: &str,
    column: &str,
) -> Result<Vec<String>, String> {
    let v = influxd.query(DB, query);
    let mut out = Vec::new();
    for s in v["results"][0]["series"].as_array().into_iter().flatten() {
        let cols = s["columns"].as_array().cloned().unwrap_or_default();
        let idx = cols
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| format!("no column {column}: {v}"))?;
        for row in s["values"].as_array().into_iter().flatten() {
            if let Some(x) = row[idx].as_str() {
                out.push(x.to_string());
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// The fleet

/// Sends one frame a second with a node's I2C sensor readings, as a collector with an
/// `i2c = bme280 …` line would, until dropped.
struct I2cFrames {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl I2cFrames {
    fn start(aggregator: SocketAddr, node: &'static str) -> I2cFrames {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1:0/udp");
        let now_ms = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_millis() as u64
        };
        let boot_id = now_ms() ^ 0x5eed_1d00_0000_0000;
        let labels = EncodedLabels::encode(&["garden"]).expect("labels");
        let thread = thread::spawn(move || {
            let mut seq = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let header = DataHeader {
                    node,
                    boot_id,
                    seq,
                    resend_floor: seq,
                    timestamp_ms: now_ms(),
                    interval_ms: 1000,
                    user_hz: 100,
                    part: 0,
                    parts: 1,
                    key_id: None,
                };
                let mut buf = [0u8; MAX_DATAGRAM];
                let mut w = FrameWriter::new(&mut buf, &header).expect("frame header");
                w.begin_group(&labels).expect("group");
                w.push(id::I2C_TEMPERATURE, Value::F32(18.25))
                    .expect("temperature");
                w.push(id::I2C_HUMIDITY, Value::F32(61.5))
                    .expect("humidity");
                w.push(id::I2C_PRESSURE, Value::F32(101_325.0))
                    .expect("pressure");
                let len = w.finish();
                let len = seal(&mut buf, len, 1, None).expect("seal");
                let _ = socket.send_to(&buf[..len], aggregator);
                seq += 1;
                thread::sleep(Duration::from_secs(1));
            }
        });
        I2cFrames {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for I2cFrames {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything running for the test; dropping it stops it all (fields drop in order:
/// senders first, servers last).
struct Fleet {
    _collectors: Vec<Proc>,
    _i2c: I2cFrames,
    _bumpers: Vec<CounterBumper>,
    _trees: Vec<TempDir>,
    prometheus: Prometheus,
    aggregator: Aggregator,
    influxd: Influxd,
}

impl Fleet {
    fn start() -> Fleet {
        let influxd = Influxd::start();
        influxd.create_database(DB);
        let aggregator = Aggregator::start(
            &Launcher::host(Program::Aggregator),
            &["--influx-url", influxd.url(), "--influx-db", DB],
        );
        let prometheus = Prometheus::start(&[&aggregator.target()]);

        let collector = Launcher::host(Program::Collector);
        let mut trees = Vec::new();
        let mut bumpers = Vec::new();
        let mut collectors = Vec::new();
        for (name, node) in FIXTURE_NODES.into_iter().chain(WORKLOAD_NODES) {
            let (dir, root) = copy_tree(&fixture(name));
            bumpers.push(CounterBumper::start(&root));
            collectors.push(start_collector(&collector, &root, node, aggregator.udp));
            trees.push(dir);
        }
        collectors.push(start_collector(
            &collector,
            std::path::Path::new("/"),
            LIVE_NODE,
            aggregator.udp,
        ));
        let i2c = I2cFrames::start(aggregator.udp, I2C_NODE);
        Fleet {
            _collectors: collectors,
            _i2c: i2c,
            _bumpers: bumpers,
            _trees: trees,
            prometheus,
            aggregator,
            influxd,
        }
    }
}

/// One check and its last answer.
struct Check<'a> {
    what: String,
    query: &'a str,
    run: Box<dyn Fn() -> Result<(), String> + 'a>,
    last: String,
}

/// The checks of one dashboard pair: every query returns data, and the node menus list
/// `nodes`.
fn add_checks<'a>(
    checks: &mut Vec<Check<'a>>,
    fleet: &'a Fleet,
    (prom_file, influx_file): (&'a str, &'a str),
    nodes: &'a [&'a str],
    (promql, influxql): (&'a [Query], &'a [Query]),
    (prom_variable, influx_variable): (&'a str, &'a str),
) {
    for q in promql {
        checks.push(Check {
            what: format!("{prom_file} {}: {}", q.place, q.raw),
            query: &q.text,
            run: Box::new(|| prometheus_has_data(&fleet.prometheus, &q.text)),
            last: String::new(),
        });
    }
    for q in influxql {
        checks.push(Check {
            what: format!("{influx_file} {}: {}", q.place, q.raw),
            query: &q.text,
            run: Box::new(|| influx_has_data(&fleet.influxd, &q.text)),
            last: String::new(),
        });
    }
    // The "Node" menus: Grafana's label_values(METRIC, LABEL).
    let prom = &fleet.prometheus;
    checks.push(Check {
        what: format!("{prom_file} variable instance: {prom_variable} lists {nodes:?}"),
        query: prom_variable,
        run: Box::new(move || {
            let values = prometheus_label_values(prom, prom_variable)?;
            let missing: Vec<_> = nodes
                .iter()
                .filter(|n| !values.iter().any(|v| v == *n))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing {missing:?} in {values:?}"))
            }
        }),
        last: String::new(),
    });
    let influxd = &fleet.influxd;
    checks.push(Check {
        what: format!("{influx_file} variable host: {influx_variable} lists {nodes:?}"),
        query: influx_variable,
        run: Box::new(move || {
            let values = influx_column_values(influxd, influx_variable, "value")?;
            let missing: Vec<_> = nodes
                .iter()
                .filter(|n| !values.iter().any(|v| v == *n))
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing {missing:?} in {values:?}"))
            }
        }),
        last: String::new(),
    });
}

/// The dashboards, each as (Prometheus file, InfluxDB file, nodes its node menus must
/// list).
fn boards() -> [(&'static str, &'static str, Vec<&'static str>); 2] {
    let fleet_nodes = FIXTURE_NODES
        .iter()
        .map(|(_, n)| *n)
        .chain([LIVE_NODE])
        .collect();
    let workload_nodes = WORKLOAD_NODES.iter().map(|(_, n)| *n).collect();
    [
        (
            "pimon-fleet-prometheus.json",
            "pimon-fleet-influxdb.json",
            fleet_nodes,
        ),
        (
            "pimon-workloads-prometheus.json",
            "pimon-workloads-influxdb.json",
            workload_nodes,
        ),
    ]
}

#[test]
fn every_dashboard_query_returns_data_from_real_prometheus_and_influxdb() {
    let mut all_nodes: Vec<&str> = FIXTURE_NODES
        .iter()
        .chain(WORKLOAD_NODES.iter())
        .map(|(_, n)| *n)
        .chain([LIVE_NODE, I2C_NODE])
        .collect();
    all_nodes.sort_unstable();

    let fleet = Fleet::start();
    let boards = boards();
    let prepared: Vec<_> = boards
        .iter()
        .map(|(prom_file, influx_file, nodes)| {
            (
                *prom_file,
                *influx_file,
                nodes,
                queries(prom_file, "expr", &prometheus_vars(&all_nodes)),
                queries(influx_file, "query", &influx_vars(&all_nodes)),
                node_variable(prom_file, "instance"),
                node_variable(influx_file, "host"),
            )
        })
        .collect();

    let mut checks: Vec<Check> = Vec::new();
    for (prom_file, influx_file, nodes, promql, influxql, prom_variable, influx_variable) in
        &prepared
    {
        add_checks(
            &mut checks,
            &fleet,
            (prom_file, influx_file),
            nodes,
            (promql, influxql),
            (prom_variable, influx_variable),
        );
    }
    let total = checks.len();

    let start = Instant::now();
    loop {
        for check in &mut checks {
            check.last = match (check.run)() {
                Ok(()) => String::new(),
                Err(e) => e,
            };
        }
        checks.retain(|c| !c.last.is_empty());
        if checks.is_empty() || start.elapsed() > DEADLINE {
            break;
        }
        thread::sleep(Duration::from_secs(1));
    }
    let report: Vec<String> = checks
        .iter()
        .map(|c| format!("- {}\n  ran: {}\n  answer: {}", c.what, c.query, c.last))
        .collect();
    assert!(
        report.is_empty(),
        "{} of {total} dashboard queries returned no data after {DEADLINE:?}:\n{}\n\nPrometheus targets: {:?}\n{}",
        report.len(),
        report.join("\n"),
        fleet.prometheus.targets(),
        fleet.aggregator.proc.output_report()
    );
}

#[test]
fn every_dashboard_query_is_substituted_completely() {
    let nodes = ["pi-a", "pi.b"];
    let prom = queries(
        "pimon-fleet-prometheus.json",
        "expr",
        &prometheus_vars(&nodes),
    );
    assert!(
        prom.iter()
            .any(|q| q.text.contains(r#"instance=~"(pi-a|pi\\.b)""#))
    );
    let influx = queries("pimon-fleet-influxdb.json", "query", &influx_vars(&nodes));
    assert!(
        influx
            .iter()
            .any(|q| q.text.contains(r#""host" =~ /^(pi-a|pi\.b)$/"#))
    );
    assert!(influx.iter().all(|q| !q.text.contains("$timeFilter")));
    assert!(substitute("rate(x[$__range])", &prometheus_vars(&nodes)).is_err());
    assert_eq!(
        substitute("a ${__interval} $__interval", &prometheus_vars(&nodes)).unwrap(),
        "a 2s 2s"
    );
    assert_eq!(
        substitute("x{instance=~\"$instance\"}", &prometheus_vars(&["pi-a"])).unwrap(),
        "x{instance=~\"pi-a\"}",
        "one node is not parenthesised"
    );
}
