//! Telegraf's system dashboard (grafana.com 928, "Telegraf: system dashboard", the
//! InfluxDB dashboard Raspberry Pi cluster guides use) works unmodified on pimon's data:
//! every panel query is evaluated against a real `influxd` that a real aggregator writes
//! to, fed by real collectors — one on a copy of the Pi 4 fixture tree whose counters
//! grow, one on this machine's live `/` — and at least 40 of its 46 panels show data
//! for each of the two nodes.
//!
//! The panel queries are vendored in `e2e/dashboards/telegraf-system-928.json` (source and
//! licence in the file). Grafana's work is done as Grafana does it
//! (`pimon_e2e::grafana`): builder targets rendered to InfluxQL; `$server` set to the
//! node (the dashboard's one-value host variable); the other variables' options from
//! their `SHOW TAG VALUES` queries filtered by their JavaScript regexes; the rows and the
//! panel that repeat over `$netif`, `$disk`, `$mountpoint` and `$cpu` evaluated once
//! per option, each option regex-escaped (with no option at all, once with Grafana's
//! empty "All", `()`); `$interval` 10s (the dashboard's `inter` default, the minimum of
//! its panels), `$timeFilter` the last 5 minutes. A panel shows data when one of its
//! queries, in one of its repetitions, returns a value that is not null.
//!
//! Both collectors run with the opt-in interrupts source enabled (`enable = interrupts`),
//! which the "Interrupts" panel reads. The 4 "Metrics velocity" panels read Telegraf's
//! own `internal_*` measurements and stay empty. Panels that read what is not built yet
//! (`WAITING`): until their catalog rows are here, those panels are allowed to be empty
//! and the target is lowered by their number
//! — and only then: as soon as the catalog has a source's rows, its panels count toward
//! the full 40. Every panel that stays empty must be named, with the reason, in
//! `docs/METRICS.md` ("Telegraf's system dashboard").

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::grafana::{influxql, multi_value, regex_escape, substitute, variable_options};
use pimon_e2e::pimon::{Aggregator, collector_args};
use pimon_e2e::process::Proc;
use pimon_e2e::support::http;
use pimon_e2e::support::servers::Influxd;
use pimon_e2e::tree::{CounterBumper, copy_tree};
use pimon_e2e::{fixture, repo_root};
use pimon_protocol::catalog::CATALOG;
use serde_json::Value as Json;
use tempfile::TempDir;

const DB: &str = "telegraf";
const PI_NODE: &str = "pi4-a";
const LIVE_NODE: &str = "live-d";
/// The target: panels with data out of 46.
const TARGET: usize = 40;
const INTERVAL: &str = "10s";
const TIME_FILTER: &str = "time >= now() - 5m";
/// How long the panels have to fill (derivatives need two 10 s buckets of data).
const DEADLINE: Duration = Duration::from_secs(100);

/// Panels whose data comes from a collector source (or InfluxDB fields) not built yet,
/// and the catalog row that says it is here: a Prometheus name, a prefix ending in `_`,
/// or `influx:MEASUREMENT.FIELD`.
struct Waiting {
    source: &'static str,
    /// A Prometheus name (or, ending in `_`, a prefix) of the source's catalog rows.
    marker: &'static str,
    panels: &'static [&'static str],
}

const WAITING: &[Waiting] = &[
    Waiting {
        source: "conntrack (Telegraf's conntrack)",
        marker: "node_nf_conntrack_entries",
        panels: &["Netfilter conntrack usage"],
    },
    Waiting {
        source: "vmstat (swap in/out)",
        marker: "node_vmstat_pswpin",
        panels: &["Swap I/O bytes"],
    },
];

fn in_catalog(marker: &str) -> bool {
    // `influx:MEASUREMENT.FIELD`: a row writes that InfluxDB field.
    if let Some((measurement, field)) = marker
        .strip_prefix("influx:")
        .and_then(|m| m.split_once('.'))
    {
        return CATALOG.iter().any(|m| {
            m.influx
                .as_ref()
                .is_some_and(|i| i.measurement == measurement && i.field == field)
        });
    }
    CATALOG.iter().any(|m| match marker.strip_suffix('_') {
        Some(_) => m.prom_name.starts_with(marker),
        None => m.prom_name == marker,
    })
}

/// One panel, its targets rendered to InfluxQL (variables not yet substituted).
struct Panel {
    title: String,
    /// The variable the panel (or its row) repeats over.
    repeat: Option<String>,
    queries: Vec<String>,
}

fn dashboard() -> (Json, Vec<Panel>) {
    let path = repo_root().join("e2e/dashboards/telegraf-system-928.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dash: Json = serde_json::from_str(&text).expect("vendored dashboard is JSON");
    let panels = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .map(|p| Panel {
            title: p["title"].as_str().expect("title").to_string(),
            repeat: p["repeat"]
                .as_str()
                .or(p["row_repeat"].as_str())
                .map(str::to_string),
            queries: p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| !t["hide"].as_bool().unwrap_or(false))
                .map(|t| influxql(t).unwrap_or_else(|e| panic!("{}: {e}", p["title"])))
                .collect(),
        })
        .collect();
    (dash, panels)
}

/// The values of an InfluxQL `SHOW TAG VALUES` answer (its `value` column).
fn tag_values(influxd: &Influxd, query: &str) -> Result<Vec<String>, String> {
    let v = influxd.query(DB, query);
    if let Some(e) = v["results"][0]["error"].as_str() {
        return Err(format!("{query}: {e}"));
    }
    let mut out = Vec::new();
    for s in v["results"][0]["series"].as_array().into_iter().flatten() {
        let column = s["columns"]
            .as_array()
            .and_then(|c| c.iter().position(|c| c == "value"))
            .ok_or_else(|| format!("{query}: no value column: {v}"))?;
        for row in s["values"].as_array().into_iter().flatten() {
            if let Some(x) = row[column].as_str() {
                out.push(x.to_string());
            }
        }
    }
    Ok(out)
}

/// Whether an InfluxQL query returns a value that is not null (`Err`: the server's
/// error).
fn has_data(influxd: &Influxd, query: &str) -> Result<bool, String> {
    let qs = http::query_string(&[("db", DB), ("q", query), ("epoch", "ms")]);
    let r = http::request(influxd.url(), "GET", &format!("/query?{qs}"), &[], b"")?;
    let body = r.body_text().to_string();
    let v: Json = serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    if r.status != 200 || v.get("error").is_some() || v["results"][0].get("error").is_some() {
        return Err(format!("{query}: HTTP {}: {body}", r.status));
    }
    Ok(v["results"][0]["series"].as_array().is_some_and(|series| {
        series.iter().any(|s| {
            s["values"].as_array().is_some_and(|rows| {
                rows.iter().any(|row| {
                    row.as_array()
                        .is_some_and(|cols| cols.iter().skip(1).any(|c| !c.is_null()))
                })
            })
        })
    }))
}

/// The queries one panel runs for `node`: one set per repetition.
fn panel_queries(
    influxd: &Influxd,
    dash: &Json,
    panel: &Panel,
    node: &str,
) -> Result<Vec<Vec<String>>, String> {
    let base = vec![
        ("server".to_string(), node.to_string()),
        ("interval".to_string(), INTERVAL.to_string()),
        ("__interval".to_string(), INTERVAL.to_string()),
        ("timeFilter".to_string(), TIME_FILTER.to_string()),
    ];
    let mut repetitions: Vec<Vec<(String, String)>> = vec![base.clone()];
    if let Some(var) = &panel.repeat {
        let def = dash["templating"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == var.as_str())
            .ok_or_else(|| format!("no variable {var}"))?;
        let query = substitute(def["query"].as_str().unwrap_or(""), &base)?;
        let options = variable_options(
            &tag_values(influxd, &query)?,
            def["regex"].as_str().unwrap_or(""),
        )?;
        repetitions = if options.is_empty() {
            // No option: the row is not repeated and its panels take the variable's
            // "All", which has no value to join.
            let mut vars = base.clone();
            vars.push((var.clone(), multi_value(&[])));
            vec![vars]
        } else {
            options
                .iter()
                .map(|o| {
                    let mut vars = base.clone();
                    vars.push((var.clone(), regex_escape(o)));
                    vars
                })
                .collect()
        };
    }
    repetitions
        .iter()
        .map(|vars| {
            panel
                .queries
                .iter()
                .map(|q| substitute(q, vars))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

/// Whether `panel` shows data for `node`; `Err` with the queries and answers otherwise.
fn panel_has_data(influxd: &Influxd, dash: &Json, panel: &Panel, node: &str) -> Result<(), String> {
    let mut tried = Vec::new();
    for queries in panel_queries(influxd, dash, panel, node)? {
        for q in queries {
            match has_data(influxd, &q) {
                Ok(true) => return Ok(()),
                Ok(false) => tried.push(format!("{q}: no data")),
                Err(e) => tried.push(e),
            }
        }
    }
    Err(tried.join("\n    "))
}

/// The panels `docs/METRICS.md` names as empty (the first column of the table in the
/// section "Telegraf's system dashboard").
fn documented_empty() -> Vec<String> {
    let path = repo_root().join("docs/METRICS.md");
    let doc = std::fs::read_to_string(&path).expect("docs/METRICS.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Telegraf's system dashboard"))
        .expect("docs/METRICS.md has a section \"Telegraf's system dashboard\"");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty() && p != "panel" && !p.starts_with("---"))
        .collect()
}

/// A node and, for each panel, whether it shows data (or the queries and answers).
type NodeResults<'p> = (&'static str, Vec<(&'p Panel, Result<(), String>)>);

/// Everything running for the test; dropping it stops it all.
struct Fleet {
    _collectors: Vec<Proc>,
    _config: TempDir,
    _bumper: CounterBumper,
    _tree: TempDir,
    _aggregator: Aggregator,
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
        let collector = Launcher::host(Program::Collector);
        let (tree, root) = copy_tree(&fixture("pi4"));
        let bumper = CounterBumper::start(&root);
        // The dashboard's "Interrupts" panel reads the opt-in interrupts source.
        let config = TempDir::new().expect("temp dir");
        let config_file = config.path().join("collector.conf");
        std::fs::write(&config_file, "[filters]\nenable = interrupts\n").expect("config");
        let start = |root: &Path, node: &str| {
            let mut cmd = collector.command();
            cmd.args(collector_args(root, node, aggregator.udp))
                .arg("--config")
                .arg(&config_file);
            Proc::spawn(&format!("pimon-collector {node}"), cmd)
        };
        let collectors = vec![start(&root, PI_NODE), start(Path::new("/"), LIVE_NODE)];
        Fleet {
            _collectors: collectors,
            _config: config,
            _bumper: bumper,
            _tree: tree,
            _aggregator: aggregator,
            influxd,
        }
    }
}

#[test]
fn telegraf_system_dashboard_shows_data_in_at_least_40_of_46_panels() {
    let (dash, panels) = dashboard();
    assert_eq!(panels.len(), 46, "the vendored dashboard has 46 panels");
    let documented = documented_empty();
    let allowance: usize = WAITING
        .iter()
        .filter(|w| !in_catalog(w.marker))
        .map(|w| w.panels.len())
        .sum();
    let target = TARGET - allowance;
    let fleet = Fleet::start();
    let influxd = &fleet.influxd;

    // Poll until every panel not documented as empty shows data, or the deadline.
    // Documented as empty, unless it waited for a source that is here now.
    let expected_empty = |title: &str| {
        documented.iter().any(|d| d == title)
            && !WAITING
                .iter()
                .any(|w| in_catalog(w.marker) && w.panels.contains(&title))
    };
    let start = Instant::now();
    let results: Vec<NodeResults> = loop {
        let results: Vec<NodeResults> = [PI_NODE, LIVE_NODE]
            .into_iter()
            .map(|node| {
                let r = panels
                    .iter()
                    .map(|p| (p, panel_has_data(influxd, &dash, p, node)))
                    .collect();
                (node, r)
            })
            .collect();
        let pending = results.iter().any(|(_, r)| {
            r.iter()
                .any(|(p, ok)| ok.is_err() && !expected_empty(&p.title))
        });
        if !pending || start.elapsed() > DEADLINE {
            break results;
        }
        thread::sleep(Duration::from_secs(3));
    };

    let mut problems = Vec::new();
    let mut report = Vec::new();
    for (node, r) in &results {
        let with_data = r.iter().filter(|(_, ok)| ok.is_ok()).count();
        report.push(format!(
            "{node}: {with_data} of {} panels show data",
            r.len()
        ));
        for (p, ok) in r {
            if let Err(why) = ok {
                let waiting = WAITING
                    .iter()
                    .find(|w| !in_catalog(w.marker) && w.panels.contains(&p.title.as_str()));
                let note = match waiting {
                    Some(w) => format!(" (waits for the {} source)", w.source),
                    None => String::new(),
                };
                report.push(format!("  empty: {}{note}\n    {why}", p.title));
                if !documented.contains(&p.title) {
                    problems.push(format!(
                        "{node}: panel {:?} shows no data and docs/METRICS.md does not say why",
                        p.title
                    ));
                }
            }
        }
        if with_data < target {
            problems.push(format!(
                "{node}: {with_data} panels show data, the target is {target} ({TARGET} less {allowance} that wait for sources of other branches)"
            ));
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        problems.is_empty(),
        "{}\n\n{}",
        problems.join("\n"),
        report.join("\n")
    );
}

/// The waiting sources' panels are panels of the dashboard (a renamed panel would
/// silently stop counting).
#[test]
fn every_waiting_and_documented_panel_is_a_panel_of_the_dashboard() {
    let (_, panels) = dashboard();
    let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
    for w in WAITING {
        for p in w.panels {
            assert!(titles.contains(p), "{p} is not a panel");
        }
    }
    for p in documented_empty() {
        assert!(
            titles.contains(&p.as_str()),
            "docs/METRICS.md names {p:?}, not a panel"
        );
    }
}
