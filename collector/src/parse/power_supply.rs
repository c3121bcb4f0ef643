//! `/sys/class/power_supply/<supply>/`: batteries, mains adapters, USB ports, UPSes.
//!
//! One sysfs attribute per file, as the power-supply class writes it: integers in the
//! class's units (µV, µA, µW, µWh, µAh, tenths of a degree Celsius, seconds, percent)
//! and text (`status` = `Discharging`, `type` = `Battery`, …). node_exporter's
//! `powersupplyclass` collector (1.5, through procfs) exports the integer files it knows
//! as `node_power_supply_<name>` gauges (µ-units ÷ 10⁶, temperatures ÷ 10, some renamed:
//! `voltage_now` is `voltage_volt`, `cycle_count` is `cyclecount`), and the text files as
//! the labels of `node_power_supply_info` (a label only when its file is there and not
//! empty). [`NUMBERS`] and [`TEXTS`] are those lists; the reader opens what exists.

use pimon_protocol::catalog::{POWER_SUPPLY_INFO_LABELS, id};

use super::{ParseError, parse_int_value, trim_ascii, utf8};

/// The integer files node_exporter 1.5 reads, with their catalog rows, in id order.
pub const NUMBERS: [(&str, u16); 47] = [
    ("authentic", id::POWER_SUPPLY_AUTHENTIC),
    ("calibrate", id::POWER_SUPPLY_CALIBRATE),
    ("capacity", id::POWER_SUPPLY_CAPACITY),
    ("capacity_alert_max", id::POWER_SUPPLY_CAPACITY_ALERT_MAX),
    ("capacity_alert_min", id::POWER_SUPPLY_CAPACITY_ALERT_MIN),
    ("cycle_count", id::POWER_SUPPLY_CYCLECOUNT),
    ("online", id::POWER_SUPPLY_ONLINE),
    ("present", id::POWER_SUPPLY_PRESENT),
    ("time_to_empty_now", id::POWER_SUPPLY_TIME_TO_EMPTY_SECONDS),
    ("time_to_full_now", id::POWER_SUPPLY_TIME_TO_FULL_SECONDS),
    ("current_boot", id::POWER_SUPPLY_CURRENT_BOOT),
    ("current_max", id::POWER_SUPPLY_CURRENT_MAX),
    ("current_now", id::POWER_SUPPLY_CURRENT_AMPERE),
    ("energy_empty", id::POWER_SUPPLY_ENERGY_EMPTY),
    ("energy_empty_design", id::POWER_SUPPLY_ENERGY_EMPTY_DESIGN),
    ("energy_full", id::POWER_SUPPLY_ENERGY_FULL),
    ("energy_full_design", id::POWER_SUPPLY_ENERGY_FULL_DESIGN),
    ("energy_now", id::POWER_SUPPLY_ENERGY_WATTHOUR),
    ("voltage_boot", id::POWER_SUPPLY_VOLTAGE_BOOT),
    ("voltage_max", id::POWER_SUPPLY_VOLTAGE_MAX),
    ("voltage_max_design", id::POWER_SUPPLY_VOLTAGE_MAX_DESIGN),
    ("voltage_min", id::POWER_SUPPLY_VOLTAGE_MIN),
    ("voltage_min_design", id::POWER_SUPPLY_VOLTAGE_MIN_DESIGN),
    ("voltage_now", id::POWER_SUPPLY_VOLTAGE_VOLT),
    ("voltage_ocv", id::POWER_SUPPLY_VOLTAGE_OCV),
    ("charge_control_limit", id::POWER_SUPPLY_CHARGE_CONTROL_LIMIT),
    ("charge_control_limit_max", id::POWER_SUPPLY_CHARGE_CONTROL_LIMIT_MAX),
    ("charge_counter", id::POWER_SUPPLY_CHARGE_COUNTER),
    ("charge_empty", id::POWER_SUPPLY_CHARGE_EMPTY),
    ("charge_empty_design", id::POWER_SUPPLY_CHARGE_EMPTY_DESIGN),
    ("charge_full", id::POWER_SUPPLY_CHARGE_FULL),
    ("charge_full_design", id::POWER_SUPPLY_CHARGE_FULL_DESIGN),
    ("charge_now", id::POWER_SUPPLY_CHARGE_AMPERE),
    ("charge_term_current", id::POWER_SUPPLY_CHARGE_TERM_CURRENT),
    ("constant_charge_current", id::POWER_SUPPLY_CONSTANT_CHARGE_CURRENT),
    ("constant_charge_current_max", id::POWER_SUPPLY_CONSTANT_CHARGE_CURRENT_MAX),
    ("constant_charge_voltage", id::POWER_SUPPLY_CONSTANT_CHARGE_VOLTAGE),
    ("constant_charge_voltage_max", id::POWER_SUPPLY_CONSTANT_CHARGE_VOLTAGE_MAX),
    ("precharge_current", id::POWER_SUPPLY_PRECHARGE_CURRENT),
    ("input_current_limit", id::POWER_SUPPLY_INPUT_CURRENT_LIMIT),
    ("power_now", id::POWER_SUPPLY_POWER_WATT),
    ("temp", id::POWER_SUPPLY_TEMP_CELSIUS),
    ("temp_alert_max", id::POWER_SUPPLY_TEMP_ALERT_MAX_CELSIUS),
    ("temp_alert_min", id::POWER_SUPPLY_TEMP_ALERT_MIN_CELSIUS),
    ("temp_ambient", id::POWER_SUPPLY_TEMP_AMBIENT_CELSIUS),
    ("temp_max", id::POWER_SUPPLY_TEMP_MAX_CELSIUS),
    ("temp_min", id::POWER_SUPPLY_TEMP_MIN_CELSIUS),
];

/// The text files: `node_power_supply_info`'s labels after `power_supply`, in the
/// catalog row's label order (the catalog's list, so the two cannot drift).
pub const TEXTS: &[&str] = POWER_SUPPLY_INFO_LABELS.split_at(1).1;

/// Bytes read of a text attribute (the class writes at most a page; names are short).
pub const TEXT_READ_BYTES: usize = 128;

/// An integer attribute (`-1250000`, with its newline).
pub fn parse_number(input: &[u8]) -> Result<i64, ParseError> {
    parse_int_value(input)
}

/// A text attribute, trimmed as procfs trims it; empty when the file is (then
/// node_exporter leaves the label out, which Prometheus cannot tell from `""`).
pub fn parse_text(input: &[u8]) -> Result<&str, ParseError> {
    utf8(trim_ascii(input))
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_number(input);
    let _ = parse_text(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_in_id_order_and_distinct() {
        assert!(NUMBERS.windows(2).all(|w| w[0].1 < w[1].1));
        assert!(id::POWER_SUPPLY_INFO > NUMBERS[NUMBERS.len() - 1].1);
    }

    #[test]
    fn laptop_battery_files() {
        assert_eq!(parse_number(fixture!("laptop/sys/class/power_supply/BAT0/voltage_now")), Ok(12_184_000));
        assert_eq!(parse_number(fixture!("laptop/sys/class/power_supply/BAT0/capacity")), Ok(87));
        assert_eq!(parse_number(b"-1250000\n"), Ok(-1_250_000));
        assert_eq!(parse_text(fixture!("laptop/sys/class/power_supply/BAT0/serial_number")), Ok("790"));
        assert_eq!(parse_text(fixture!("laptop/sys/class/power_supply/AC/type")), Ok("Mains"));
        assert_eq!(parse_text(b"\n"), Ok(""));
        assert_eq!(parse_number(b"n/a\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_text(b"\xff\n"), Err(ParseError::InvalidUtf8));
    }
}
