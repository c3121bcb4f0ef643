//! The power-supply reader on the laptop fixture tree (`tests/fixtures/laptop`: a
//! ThinkPad's ACPI battery `BAT0` and mains adapter `AC`), value by value.

mod sources_support;

use pimon_collector::source::{SourceKind, SourceStatus};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use sources_support::one_cycle;

fn s(v: i64) -> Value {
    Value::Signed(v)
}

#[test]
fn battery_and_mains_attributes_in_kernel_units() {
    let (sources, r) = one_cycle("laptop");
    assert_eq!(
        sources.status(SourceKind::PowerSupply),
        &SourceStatus::Present
    );
    assert_eq!(sources.error_count(SourceKind::PowerSupply), 0);
    let bat = ["BAT0"];
    assert_eq!(r.value(id::POWER_SUPPLY_CAPACITY, &bat), s(87));
    assert_eq!(r.value(id::POWER_SUPPLY_CYCLECOUNT, &bat), s(312));
    assert_eq!(r.value(id::POWER_SUPPLY_PRESENT, &bat), s(1));
    assert_eq!(r.value(id::POWER_SUPPLY_VOLTAGE_VOLT, &bat), s(12_184_000));
    assert_eq!(
        r.value(id::POWER_SUPPLY_VOLTAGE_MIN_DESIGN, &bat),
        s(11_520_000)
    );
    assert_eq!(r.value(id::POWER_SUPPLY_POWER_WATT, &bat), s(6_735_000));
    assert_eq!(
        r.value(id::POWER_SUPPLY_ENERGY_WATTHOUR, &bat),
        s(39_250_000)
    );
    assert_eq!(r.value(id::POWER_SUPPLY_ENERGY_FULL, &bat), s(45_120_000));
    assert_eq!(
        r.value(id::POWER_SUPPLY_ENERGY_FULL_DESIGN, &bat),
        s(57_020_000)
    );
    // `alarm`, `charge_control_*_threshold` and `charge_behaviour` are files node_exporter
    // 1.5 does not read: nothing else of BAT0 is sent.
    let battery_rows = r.samples.iter().filter(|x| x.labels == ["BAT0"]).count();
    assert_eq!(battery_rows, 9);
    assert_eq!(r.value(id::POWER_SUPPLY_ONLINE, &["AC"]), s(0));
    assert!(!r.has(id::POWER_SUPPLY_PRESENT, &["AC"]));
}

#[test]
fn info_labels_are_the_text_files_empty_where_missing() {
    let (_, r) = one_cycle("laptop");
    // power_supply, capacity_level, charge_type, health, manufacturer, model_name, scope,
    // serial_number, status, technology, type, usb_type
    let bat = [
        "BAT0",
        "Normal",
        "",
        "",
        "SMP",
        "5B10W13930",
        "",
        "790",
        "Discharging",
        "Li-poly",
        "Battery",
        "",
    ];
    assert_eq!(r.value(id::POWER_SUPPLY_INFO, &bat), Value::Unsigned(1));
    let ac = ["AC", "", "", "", "", "", "", "", "", "", "Mains", ""];
    assert_eq!(r.value(id::POWER_SUPPLY_INFO, &ac), Value::Unsigned(1));
    r.check_consistency();
}

#[test]
fn a_pi_has_no_power_supply() {
    for tree in ["pi4", "pizero"] {
        let (sources, _) = one_cycle(tree);
        let status = sources.status(SourceKind::PowerSupply);
        assert!(
            matches!(status, SourceStatus::Absent(_)),
            "{tree}: {status:?}"
        );
    }
}
