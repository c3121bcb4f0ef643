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

use pimon_e2e::exposition::parse_prometheus;
use pimon_e2e::fixture;
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;
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
    let sysfs = format!("--path.sysfs={}", root.join("sys").display());
    let procfs = format!("--path.procfs={}", root.join("proc").display());
    let server = NodeExporter::start_with(&[
        &sysfs,
        &procfs,
        "--collector.disable-defaults",
        "--collector.hwmon",
        "--collector.thermal_zone",
    ]);
    let text = String::from_utf8(server.page()).expect("UTF-8 exposition");
    assert!(
        !text.contains("node_scrape_collector_success{collector=\"thermal_zone\"} 0")
            && !text.contains("node_scrape_collector_success{collector=\"hwmon\"} 0"),
        "a node_exporter collector failed on {}:\n{text}",
        root.display(),
    );
    text
}

/// Compares the families both send; returns how many series were compared.
fn compare(tree: &str, root: &Path, must_share: &[&str]) -> usize {
    let theirs = series(&node_exporter(root), &[]);
    let ours = series(&print_prom(root, "hwmon"), &["instance"]);
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

/// Chips without a `device` link (a driver that registers its hwmon device without a
/// parent, as thermal zones did before 5.x: `/sys/devices/virtual/hwmon/hwmonN`) are
/// named from their `name` file, cleaned (`ACPI Tz` → `acpi_tz`), or `hwmonN` without
/// one; the Wi-Fi PHY's chip of the x86 tree (`ieee80211_phy0`, its `device` is the
/// PHY of the `ieee80211` class) is in the same comparison.
#[test]
fn chips_without_a_device_link_are_named_as_by_node_exporter() {
    let (_dir, root) = copy_tree(&fixture("x86"));
    std::fs::remove_dir_all(root.join("sys/class/thermal/thermal_zone2")).unwrap();
    for (dir, name) in [("hwmon5", Some("ACPI Tz\n")), ("hwmon6", None)] {
        let chip = root.join("sys/class/hwmon").join(dir);
        std::fs::create_dir_all(&chip).unwrap();
        if let Some(name) = name {
            std::fs::write(chip.join("name"), name).unwrap();
        }
        std::fs::write(chip.join("temp1_input"), "41000\n").unwrap();
    }
    compare(
        "x86 + parentless chips",
        &root,
        &["node_hwmon_temp_celsius"],
    );
    let ours = series(&print_prom(&root, "hwmon"), &["instance"]);
    let chips: BTreeSet<&str> = ours["node_hwmon_temp_celsius"]
        .keys()
        .flat_map(|labels| labels.iter())
        .filter(|(k, _)| k == "chip")
        .map(|(_, v)| v.as_str())
        .collect();
    for chip in ["acpi_tz", "hwmon6", "ieee80211_phy0"] {
        assert!(chips.contains(chip), "{chip} not in {chips:?}");
    }
}
