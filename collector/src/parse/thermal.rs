//! Thermal zones: `/sys/class/thermal/thermal_zoneN/{temp,type}`, and cooling devices:
//! `/sys/class/thermal/cooling_deviceN/{cur_state,max_state,type}`.
//!
//! `temp` is millidegrees Celsius (signed: some zones read below zero), `type` a name
//! such as `cpu-thermal` or `x86_pkg_temp` (`gpio-fan`, `Processor` for a cooling
//! device). A cooling state is a signed integer: `intel_powerclamp` reads -1 when idle.

use super::{ParseError, parse_int_value, parse_text_value, parse_u64};

/// Parses a zone's `temp`: millidegrees Celsius.
pub fn parse_zone_temp(input: &[u8]) -> Result<i64, ParseError> {
    parse_int_value(input)
}

/// Parses a zone's `type`.
pub fn parse_zone_type(input: &[u8]) -> Result<&str, ParseError> {
    parse_text_value(input)
}

/// The zone number of a `thermal_zoneN` directory name, or `None` for any other name
/// (`cooling_device0`, …).
pub fn parse_zone_dir_name(name: &[u8]) -> Option<u32> {
    dir_number(name, b"thermal_zone")
}

/// The number of a `cooling_deviceN` directory name.
pub fn parse_cooling_device_dir_name(name: &[u8]) -> Option<u32> {
    dir_number(name, b"cooling_device")
}

/// Parses a cooling device's `cur_state` or `max_state`.
pub fn parse_cooling_state(input: &[u8]) -> Result<i64, ParseError> {
    parse_int_value(input)
}

/// `N` of a directory named `prefix` + decimal digits.
pub(crate) fn dir_number(name: &[u8], prefix: &[u8]) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?;
    if digits.first() == Some(&b'+') {
        return None;
    }
    u32::try_from(parse_u64(digits).ok()?).ok()
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_zone_temp(input);
    let _ = parse_zone_type(input);
    let _ = parse_zone_dir_name(input);
    let _ = parse_cooling_device_dir_name(input);
    let _ = parse_cooling_state(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_zone_temp(fixture!("pi4/sys/class/thermal/thermal_zone0/temp")),
            Ok(45277)
        );
        assert_eq!(
            parse_zone_type(fixture!("pi4/sys/class/thermal/thermal_zone0/type")),
            Ok("cpu-thermal")
        );
        assert_eq!(
            parse_zone_type(fixture!("x86/sys/class/thermal/thermal_zone3/type")),
            Ok("INT3400 Thermal")
        );
        assert_eq!(
            parse_zone_type(fixture!("pi4/sys/class/thermal/cooling_device0/type")),
            Ok("gpio-fan")
        );
        assert_eq!(
            parse_cooling_state(fixture!("pi4/sys/class/thermal/cooling_device0/cur_state")),
            Ok(0)
        );
        assert_eq!(
            parse_cooling_state(fixture!("pi4/sys/class/thermal/cooling_device0/max_state")),
            Ok(1)
        );
        assert_eq!(
            parse_cooling_state(fixture!("x86/sys/class/thermal/cooling_device1/cur_state")),
            Ok(-1)
        );
    }

    #[test]
    fn values_and_names() {
        assert_eq!(parse_zone_temp(b"-5000\n"), Ok(-5000));
        assert_eq!(parse_zone_temp(b""), Err(ParseError::Empty));
        assert_eq!(parse_zone_dir_name(b"thermal_zone12"), Some(12));
        assert_eq!(parse_zone_dir_name(b"thermal_zone"), None);
        assert_eq!(parse_zone_dir_name(b"thermal_zone+1"), None);
        assert_eq!(parse_zone_dir_name(b"cooling_device0"), None);
        assert_eq!(parse_cooling_device_dir_name(b"cooling_device3"), Some(3));
        assert_eq!(parse_cooling_device_dir_name(b"thermal_zone0"), None);
        assert_eq!(parse_cooling_state(b"-1\n"), Ok(-1));
    }
}
