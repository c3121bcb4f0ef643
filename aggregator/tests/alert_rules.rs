//! The suggested Prometheus alert rules (`deploy/prometheus/pimon-alerts.yml`,
//! explained in docs/OPERATIONS.md) are valid, behave as their unit tests say, and name
//! only metrics pimon really exports.
//!
//! - `promtool check rules` parses every rule and expression;
//! - `promtool test rules` runs `deploy/prometheus/pimon-alerts.test.yml`: input series,
//!   the alerts that must (and must not) fire, their labels and rendered annotations;
//! - every `pimon_*` / `node_*` name in both files is a catalog family or a family of the
//!   aggregator's own exposition (promtool cannot know a misspelt metric name: the rule
//!   would silently never fire);
//! - every `event` a rule selects on `pimon_kernel_events_total` is an event of the
//!   collector's built-in kernel log rules (`collector/src/parse/log_rule.rs`), for the
//!   same reason.
//!
//! Needs `promtool` (Debian package `prometheus`); without it the test fails and says
//! so — it is never skipped.

use pimon_test_support as support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pimon_aggregator::influx::{InfluxStats, LpFileStats};
use pimon_aggregator::prom::{self, Sources, UdpFigures};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::CATALOG;
use pimon_protocol::text::prometheus::Format;

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus")
}

/// Runs `promtool <args>` in the rules directory; `Err` is promtool's whole output.
fn promtool(args: &[&str]) -> Result<String, String> {
    let binary =
        support::servers::find_binary("promtool", "prometheus").unwrap_or_else(|e| panic!("{e}"));
    let output = Command::new(&binary)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[test]
fn promtool_check_rules_accepts_the_rules_file() {
    let out = promtool(&["check", "rules", "pimon-alerts.yml"]).unwrap_or_else(|e| {
        panic!("promtool check rules deploy/prometheus/pimon-alerts.yml failed:\n{e}")
    });
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    let out = promtool(&["test", "rules", "pimon-alerts.test.yml"]).unwrap_or_else(|e| {
        panic!("promtool test rules deploy/prometheus/pimon-alerts.test.yml failed:\n{e}")
    });
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every family name the aggregator's `/metrics` can show: the catalog's and those of
/// a full exposition (a node, every kind of source) of the aggregator's own.
fn exported_families() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = CATALOG.iter().map(|m| m.prom_name.to_string()).collect();
    let now_ms = 1_700_000_000_000;
    let mut store = Store::new(Limits::default(), Staleness::default(), now_ms);
    store
        .admit("pi-1", 1, None, now_ms)
        .expect("room for one node");
    let stats = AggregatorStats::default();
    let influx = InfluxStats::default();
    let lp = LpFileStats::default();
    let udp = [UdpFigures {
        listen: "0.0.0.0:9797".to_string(),
        receive_buffer_bytes: 4 << 20,
        kernel_drops: Some(0),
    }];
    let outputs = [("influx".to_string(), &influx)];
    let http = pimon_aggregator::http::HttpStats::default();
    let remote = pimon_aggregator::remote_write::RemoteWriteStats::default();
    let remote_write = [("remote_write".to_string(), &remote)];
    let sources = Sources {
        stats: Some(&stats),
        http: Some(&http),
        udp: &udp,
        influx: &outputs,
        lp: Some(&lp),
        remote_write: &remote_write,
        build: Some(("0.0.0", "0000000")),
        ingress: None,
    };
    let mut text = String::new();
    prom::render(&mut text, Format::Text004, &store, now_ms, &sources);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default();
            names.insert(name.to_string());
        }
    }
    // Guard the guard: the exposition really had the aggregator's own families.
    for must in [
        "pimon_node_up",
        "pimon_influx_spool_pending_lines",
        "pimon_lp_out_write_errors_total",
    ] {
        assert!(
            names.contains(must),
            "{must} missing from the exposition:\n{text}"
        );
    }
    names
}

/// Identifiers in `text` that start with `pimon_` or `node_` (metric names; alert
/// names are CamelCase, label names carry no such prefix).
fn metric_names(text: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| is_ident(c)) {
        let tail = &rest[start..];
        let end = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
        let word = &tail[..end];
        if word.starts_with("pimon_") || word.starts_with("node_") {
            names.insert(word.to_string());
        }
        rest = &tail[end..];
    }
    names
}

#[test]
fn rules_and_their_tests_name_only_exported_metrics() {
    let exported = exported_families();
    let mut unknown = Vec::new();
    let mut used = 0;
    for file in ["pimon-alerts.yml", "pimon-alerts.test.yml"] {
        let path = rules_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for name in metric_names(&text) {
            used += 1;
            if !exported.contains(&name) {
                unknown.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        used > 20,
        "only {used} metric names found: is the scan broken?"
    );
    assert!(
        unknown.is_empty(),
        "metrics that pimon does not export (misspelt, or renamed in the catalog or \
         aggregator/src/prom.rs):\n  {}",
        unknown.join("\n  ")
    );
}

#[test]
fn the_name_scan_finds_names_and_only_names() {
    let names = metric_names(
        "expr: increase(pimon_node_frames_missing_total[30m]) > 0 and node_load1{job=\"pimon\"}\n\
         alert: PimonNodeDown # pimon-alerts.yml spool_max_bytes",
    );
    let expected: BTreeSet<String> = ["node_load1", "pimon_node_frames_missing_total"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, expected);
}

/// The event names of the collector's built-in kernel log rules, read from the source
/// (`BUILTIN_RULES` in `collector/src/parse/log_rule.rs`: one `"EVENT …"` string per
/// line; `-` rules count nothing).
fn builtin_kernel_events() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../collector/src/parse/log_rule.rs");
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table = source
        .split("pub const BUILTIN_RULES")
        .nth(1)
        .and_then(|t| t.split("];").next())
        .unwrap_or_else(|| panic!("no BUILTIN_RULES table in {}", path.display()));
    table
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|rule| rule.split_whitespace().next())
        .filter(|event| *event != "-")
        .map(str::to_string)
        .collect()
}

/// The values an `event="…"` or `event=~"a|b"` matcher names in `text`.
fn selected_events(text: &str) -> BTreeSet<String> {
    let mut events = BTreeSet::new();
    for (i, _) in text.match_indices("event=") {
        let rest = &text[i + "event=".len()..];
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        if let Some(value) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
            events.extend(value.split('|').map(str::to_string));
        }
    }
    events
}

#[test]
fn kernel_log_alerts_select_events_the_collector_counts() {
    let builtin = builtin_kernel_events();
    for must in [
        "mmc_error",
        "io_error",
        "fs_error",
        "fs_readonly",
        "under_voltage",
        "oom_kill",
    ] {
        assert!(
            builtin.contains(must),
            "{must} not in {builtin:?}: is the scan broken?"
        );
    }
    let path = rules_dir().join("pimon-alerts.yml");
    let rules = std::fs::read_to_string(&path).unwrap();
    let selected = selected_events(&rules);
    assert!(
        selected.len() >= 5,
        "only {selected:?} selected: is the scan broken?"
    );
    let unknown: Vec<&String> = selected.difference(&builtin).collect();
    assert!(
        unknown.is_empty(),
        "alerts select kernel events no built-in rule produces: {unknown:?} (built-in: {builtin:?})"
    );
    assert_eq!(
        selected_events(r#"x{event=~"a|b"} unless y{event="c"}"#),
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
    );
}
