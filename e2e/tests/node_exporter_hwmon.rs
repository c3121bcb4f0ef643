//! hwmon, thermal zones and cooling devices against the real node_exporter: the host
//! collector's `--once --print prom` (the exposition the aggregator renders) on the
//! `pi4`, `pizero` and `x86` fixture trees, and `prometheus-node-exporter` (1.5, with
//! only its `hwmon` and `thermal_zone` collectors) reading the same trees through
//! `--path.sysfs`/`--path.procfs`. For every `node_hwmon_*`, `node_thermal_zone_*` and
//! `node_cooling_device_*` family both send, the two have the same series (names, label
//! sets) with the same values — the chip labels derived from the device links
//! (`thermal_thermal_zone0`, `ieee80211_phy0`), `node_hwmon_chip_names`,
//! `node_hwmon_sensor_label`, the alarm flags scaled as node_exporter scales them.
//!
//! The x86 tree is read from a copy without `thermal_zone2`, whose unreadable `temp`
//! (a directory) makes node_exporter 1.5's whole `thermal_zone` collector fail (pimon
//! skips that zone alone: `sources_x86.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use pimon_e2e::binaries::{Program, host_binary};
use pimon_e2e::exposition::parse_prometheus;
use pimon_e2e::fixture;
use pimon_e2e::support::http;
use pimon_e2e::support::servers::{
    ServerProcess, find_binary, free_port, start_with_retries, status_is,
};
use pimon_e2e::tree::copy_tree;

/// Series of the compared families: name → (sorted labels → value).
type Series = BTreeMap<String, BTreeMap<Vec<(String, String)>, f64>>;

const FAMILIES: [&str; 3] = ["node_hwmon_", "node_thermal_zone_", "node_cooling_device_"];

fn series(text: &str, drop_labels: &[&str]) -> Series {
    let mut out = Series::new();
    for s in parse_prometheus(text).unwrap_or_else(|e| panic!("{e}")) {
        if !FAMILIES.iter().any(|p| s.name.starts_with(p)) {
            continue;
        }
        let mut labels: Vec<(String, String)> = s
            .labels
            .into_iter()
            .filter(|(n, _)| !drop_labels.contains(&n.as_str()))
            .collect();
        labels.sort();
        let previous = out
            .entry(s.name.clone())
            .or_default()
            .insert(labels, s.value);
        assert!(previous.is_none(), "{} sent twice", s.name);
    }
    out
}

/// node_exporter's page for the tree at `root`.
fn node_exporter(root: &Path) -> String {
    let binary = find_binary("prometheus-node-exporter", "prometheus-node-exporter")
        .unwrap_or_else(|e| panic!("{e}"));
    let server = start_with_retries("prometheus-node-exporter", || {
        let port = free_port();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let args = vec![
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--path.sysfs={}", root.join("sys").display()),
            format!("--path.procfs={}", root.join("proc").display()),
            "--collector.disable-defaults".to_string(),
            "--collector.hwmon".to_string(),
            "--collector.thermal_zone".to_string(),
        ];
        let mut server =
            ServerProcess::spawn("prometheus-node-exporter", &binary, &args, dir, port);
        server.wait_ready(|base| status_is(base, "/metrics", 200))?;
        Ok(server)
    });
    let page = http::get(&server.base_url, "/metrics");
    assert_eq!(page.status, 200, "{}", page.body_text());
    let text = page.body_text().to_string();
    assert!(
        !text.contains("node_scrape_collector_success{collector=\"thermal_zone\"} 0")
            && !text.contains("node_scrape_collector_success{collector=\"hwmon\"} 0"),
        "a node_exporter collector failed on {}:\n{}",
        root.display(),
        server.log_tail()
    );
    text
}

/// The collector's `--once --print prom` for the tree at `root`.
fn pimon(root: &Path) -> String {
    let out = Command::new(host_binary(Program::Collector))
        .args(["--once", "--print", "prom", "--root"])
        .arg(root)
        .output()
        .expect("run pimon-collector");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 exposition")
}

/// Compares the families both send; returns how many series were compared.
fn compare(tree: &str, root: &Path, must_share: &[&str]) -> usize {
    let theirs = series(&node_exporter(root), &[]);
    let ours = series(&pimon(root), &["instance"]);
    let mut problems = Vec::new();
    let mut compared = 0;
    for (name, our_series) in &ours {
        let Some(their_series) = theirs.get(name) else {
            continue;
        };
        let our_labels: BTreeSet<_> = our_series.keys().collect();
        let their_labels: BTreeSet<_> = their_series.keys().collect();
        for only in our_labels.difference(&their_labels) {
            problems.push(format!("{name}{only:?}: pimon only"));
        }
        for only in their_labels.difference(&our_labels) {
            problems.push(format!("{name}{only:?}: node_exporter only"));
        }
        for (labels, ours) in our_series {
            if let Some(theirs) = their_series.get(labels) {
                compared += 1;
                // node_exporter multiplies by 0.001 (84.85000000000001), pimon divides.
                if (ours - theirs).abs() > 1e-9 * theirs.abs().max(1.0) {
                    problems.push(format!(
                        "{name}{labels:?}: pimon {ours}, node_exporter {theirs}"
                    ));
                }
            }
        }
    }
    for name in must_share {
        if !(ours.contains_key(*name) && theirs.contains_key(*name)) {
            problems.push(format!("{name}: not sent by both"));
        }
    }
    assert!(
        problems.is_empty(),
        "{tree}: pimon and node_exporter differ:\n{}",
        problems.join("\n")
    );
    eprintln!("{tree}: {compared} series equal to node_exporter's");
    compared
}

#[test]
fn pi4_hwmon_thermal_and_cooling_equal_node_exporter() {
    let n = compare(
        "pi4",
        &fixture("pi4"),
        &[
            "node_hwmon_chip_names",
            "node_hwmon_temp_celsius",
            "node_hwmon_in_lcrit_alarm_volts",
            "node_hwmon_fan_rpm",
            "node_hwmon_fan_max_rpm",
            "node_hwmon_fan_target_rpm",
            "node_thermal_zone_temp",
            "node_cooling_device_cur_state",
            "node_cooling_device_max_state",
        ],
    );
    assert!(n >= 12, "{n}");
}

#[test]
fn pizero_hwmon_and_thermal_equal_node_exporter() {
    compare(
        "pizero",
        &fixture("pizero"),
        &[
            "node_hwmon_chip_names",
            "node_hwmon_in_lcrit_alarm_volts",
            "node_thermal_zone_temp",
        ],
    );
}

#[test]
fn x86_hwmon_thermal_and_cooling_equal_node_exporter() {
    let (_dir, root) = copy_tree(&fixture("x86"));
    std::fs::remove_dir_all(root.join("sys/class/thermal/thermal_zone2")).unwrap();
    let n = compare(
        "x86",
        &root,
        &[
            "node_hwmon_chip_names",
            "node_hwmon_sensor_label",
            "node_hwmon_temp_celsius",
            "node_hwmon_temp_min_celsius",
            "node_hwmon_temp_crit_alarm_celsius",
            "node_hwmon_temp_alarm",
            "node_hwmon_in_max_volts",
            "node_hwmon_in_alarm",
            "node_hwmon_fan_alarm",
            "node_hwmon_power_watt",
            "node_thermal_zone_temp",
            "node_cooling_device_cur_state",
            "node_cooling_device_max_state",
        ],
    );
    assert!(n >= 60, "{n}");
}
