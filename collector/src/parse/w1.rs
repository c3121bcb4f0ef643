//! 1-wire DS18B20 thermometers: `/sys/bus/w1/devices/28-*/temperature` (kernel 5.x+,
//! millidegrees) or the older `w1_slave`, whose first line carries the kernel's CRC
//! verdict:
//!
//! ```text
//! 53 01 4b 46 7f ff 0c 10 e9 : crc=e9 YES
//! 53 01 4b 46 7f ff 0c 10 e9 t=21187
//! ```

use super::{ParseError, parse_i64, parse_int_value, trim_ascii};

/// DS18B20 family code: device directories are named `28-<serial>`.
pub const DS18B20_PREFIX: &str = "28-";

/// Whether a `/sys/bus/w1/devices` entry is a DS18B20 (`28-000005e2fdc3`).
pub fn is_ds18b20(name: &str) -> bool {
    name.len() > DS18B20_PREFIX.len() && name.starts_with(DS18B20_PREFIX)
}

/// Parses `temperature`: millidegrees Celsius.
pub fn parse_w1_temperature(input: &[u8]) -> Result<i64, ParseError> {
    parse_int_value(input)
}

/// Parses `w1_slave`: the temperature in millidegrees Celsius from `t=`, after checking
/// the first line ends in `YES` ([`ParseError::CrcMismatch`] when it says `NO`).
pub fn parse_w1_slave(input: &[u8]) -> Result<i64, ParseError> {
    let mut lines = input
        .split(|&b| b == b'\n')
        .map(trim_ascii)
        .filter(|l| !l.is_empty());
    let crc_line = lines.next().ok_or(ParseError::Empty)?;
    if !crc_line.windows(4).any(|w| w == b"crc=") {
        return Err(ParseError::MissingField("crc"));
    }
    if crc_line.ends_with(b"NO") {
        return Err(ParseError::CrcMismatch);
    }
    if !crc_line.ends_with(b"YES") {
        return Err(ParseError::Malformed("`YES` or `NO` after the CRC"));
    }
    let data_line = lines.next().ok_or(ParseError::MissingField("t"))?;
    let at = data_line
        .windows(2)
        .position(|w| w == b"t=")
        .ok_or(ParseError::MissingField("t"))?;
    parse_i64(data_line.get(at + 2..).unwrap_or_default())
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_w1_temperature(input);
    let _ = parse_w1_slave(input);
    if let Ok(text) = core::str::from_utf8(input) {
        let _ = is_ds18b20(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_w1_temperature(fixture!(
                "pi4/sys/bus/w1/devices/28-3c01d607d4a1/temperature"
            )),
            Ok(21187)
        );
        assert_eq!(
            parse_w1_slave(fixture!("pi4/sys/bus/w1/devices/28-3c01d607d4a1/w1_slave")),
            Ok(21187)
        );
        assert_eq!(
            parse_w1_slave(fixture!(
                "pizero/sys/bus/w1/devices/28-0000075a1b2c/w1_slave"
            )),
            Ok(23750)
        );
        assert_eq!(
            parse_w1_slave(fixture!(
                "pizero/sys/bus/w1/devices/28-00000830e4f1/w1_slave"
            )),
            Err(ParseError::CrcMismatch)
        );
    }

    #[test]
    fn edge_cases() {
        assert_eq!(parse_w1_slave(b"aa : crc=aa YES\naa t=-1250\n"), Ok(-1250));
        assert_eq!(parse_w1_slave(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_w1_slave(b"aa : crc=aa YES\n"),
            Err(ParseError::MissingField("t"))
        );
        assert_eq!(
            parse_w1_slave(b"aa : crc=aa MAYBE\naa t=1\n"),
            Err(ParseError::Malformed("`YES` or `NO` after the CRC"))
        );
        assert_eq!(
            parse_w1_slave(b"aa YES\naa t=1\n"),
            Err(ParseError::MissingField("crc"))
        );
        assert_eq!(
            parse_w1_slave(b"aa : crc=aa YES\naa t=\n"),
            Err(ParseError::InvalidNumber)
        );
        assert!(is_ds18b20("28-000005e2fdc3"));
        assert!(!is_ds18b20("28-"));
        assert!(!is_ds18b20("w1_bus_master1"));
        assert!(!is_ds18b20("10-000802b4a1f2"));
    }
}
