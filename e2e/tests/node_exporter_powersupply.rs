//! node_exporter's `powersupplyclass` families, pimon against the real node_exporter
//! (`prometheus-node-exporter`, Debian's 1.5): on the `laptop` fixture tree (a ThinkPad's
//! ACPI battery and mains adapter) and on a tree with every attribute file node_exporter
//! 1.5 reads (distinct values, to catch a swapped name or scale), the host collector's
//! `--root TREE --once --print prom` and node_exporter's `--path.sysfs TREE/sys` with
//! only that collector give the same families, `# TYPE` lines, label sets and values, and
//! the catalog has node_exporter's `# HELP`. node_exporter leaves an info label out where
//! the file is missing or empty; pimon sends it empty: the same series in Prometheus, so
//! empty label values are dropped before comparing. On the Pi 4 tree both send nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use pimon_e2e::exposition::{family_of_key, samples_by_key};
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;
use pimon_protocol::catalog::families;
use pimon_test_support::fixtures::tree;

fn compare(root: &Path, name: &str) -> BTreeMap<String, f64> {
    let procfs = root.join("proc").display().to_string();
    let sysfs = root.join("sys").display().to_string();
    let ne = NodeExporter::start_with(&[
        "--path.procfs",
        &procfs,
        "--path.sysfs",
        &sysfs,
        "--collector.disable-defaults",
        "--collector.powersupplyclass",
    ]);
    let (theirs, their_meta) = samples_by_key(
        &String::from_utf8_lossy(&ne.page()),
        &["node_power_supply_"],
    );
    let (mine, mut my_meta) = samples_by_key(&print_prom(root, name), &["node_power_supply_"]);
    assert_eq!(mine, theirs, "{name}: samples differ");
    let their_families: BTreeSet<&str> = theirs.keys().map(|k| family_of_key(k)).collect();
    for f in families().filter(|f| their_families.contains(f.first.prom_name)) {
        my_meta.insert(format!("# HELP {} {}", f.first.prom_name, f.first.help));
    }
    assert_eq!(my_meta, their_meta, "{name}: # HELP / # TYPE lines differ");
    eprintln!("{name}: {} samples equal to node_exporter's", theirs.len());
    theirs
}

#[test]
fn laptop_battery_and_mains_equal_node_exporter() {
    let theirs = compare(&tree("laptop"), "laptop");
    assert_eq!(
        theirs[r#"node_power_supply_voltage_volt{power_supply="BAT0"}"#],
        12.184
    );
    assert_eq!(
        theirs[r#"node_power_supply_online{power_supply="AC"}"#],
        0.0
    );
    assert_eq!(theirs.len(), 12, "{theirs:?}");
}

#[test]
fn pi4_has_no_power_supply_in_either() {
    assert!(compare(&tree("pi4"), "pi4").is_empty());
}

/// Every integer file of the power-supply class node_exporter 1.5 reads, and the ones it
/// does not (`*_avg`, `temp_ambient_alert_*`), each with a distinct value; every text
/// file; a negative current (discharging) and a temperature below zero.
#[test]
fn every_attribute_equals_node_exporter() {
    let dir = tempfile::tempdir().unwrap();
    let supply = dir.path().join("sys/class/power_supply/bq27441-0");
    std::fs::create_dir_all(&supply).unwrap();
    let numbers = [
        "authentic",
        "calibrate",
        "capacity",
        "capacity_alert_max",
        "capacity_alert_min",
        "charge_avg",
        "charge_control_limit",
        "charge_control_limit_max",
        "charge_counter",
        "charge_empty",
        "charge_empty_design",
        "charge_full",
        "charge_full_design",
        "charge_now",
        "charge_term_current",
        "constant_charge_current",
        "constant_charge_current_max",
        "constant_charge_voltage",
        "constant_charge_voltage_max",
        "current_avg",
        "current_boot",
        "current_max",
        "cycle_count",
        "energy_avg",
        "energy_empty",
        "energy_empty_design",
        "energy_full",
        "energy_full_design",
        "energy_now",
        "input_current_limit",
        "online",
        "power_avg",
        "power_now",
        "precharge_current",
        "present",
        "temp_alert_max",
        "temp_alert_min",
        "temp_ambient",
        "temp_ambient_alert_max",
        "temp_ambient_alert_min",
        "temp_max",
        "temp_min",
        "time_to_empty_avg",
        "time_to_empty_now",
        "time_to_full_avg",
        "time_to_full_now",
        "voltage_avg",
        "voltage_boot",
        "voltage_max",
        "voltage_max_design",
        "voltage_min",
        "voltage_min_design",
        "voltage_now",
        "voltage_ocv",
    ];
    for (i, file) in numbers.iter().enumerate() {
        std::fs::write(supply.join(file), format!("{}\n", (i + 1) * 1000 + 7)).unwrap();
    }
    std::fs::write(supply.join("current_now"), "-1250000\n").unwrap();
    std::fs::write(supply.join("temp"), "-53\n").unwrap();
    for file in [
        "capacity_level",
        "charge_type",
        "health",
        "manufacturer",
        "model_name",
        "scope",
        "serial_number",
        "status",
        "technology",
        "type",
        "usb_type",
    ] {
        std::fs::write(supply.join(file), format!("{file} text\n")).unwrap();
    }
    std::fs::write(supply.join("usb_type"), "[C] PD PD_PPS\n").unwrap();
    let theirs = compare(dir.path(), "every-attribute");
    assert_eq!(
        theirs[r#"node_power_supply_current_ampere{power_supply="bq27441-0"}"#],
        -1.25
    );
    assert_eq!(
        theirs[r#"node_power_supply_temp_celsius{power_supply="bq27441-0"}"#],
        -5.3
    );
    // 47 gauges and the info.
    assert_eq!(theirs.len(), 48, "{theirs:?}");
}
