//! Industrial I/O sensors in sysfs: `/sys/bus/iio/devices/iio:deviceN/in_<channel>_*`.
//!
//! A channel is either *processed* (`in_temp_input`) or *raw* with a scale and an
//! optional offset (`in_temp_raw`, `in_temp_scale`, `in_temp_offset`); the IIO ABI
//! defines `processed = (raw + offset) × scale`. Values are decimals the kernel prints
//! with up to nine fraction digits (`100.826113281`, `-15887.515151`), so they are
//! parsed into fixed point with nine decimals ([`Nano`]) without floats. Units after
//! processing: temperature milli-°C, relative humidity milli-percent, pressure kPa.

use super::{ParseError, parse_text_value, parse_u64, single_value};

/// Channel names the collector reads, with their catalog meaning.
pub const CHANNEL_TEMPERATURE: &str = "temp";
/// Relative humidity channel.
pub const CHANNEL_HUMIDITY: &str = "humidityrelative";
/// Pressure channel.
pub const CHANNEL_PRESSURE: &str = "pressure";

const NANO: i64 = 1_000_000_000;

/// A decimal with nine fraction digits: `Nano(1_500_000_000)` is 1.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nano(pub i64);

impl Nano {
    /// The whole value, if it has no fraction.
    pub const fn as_integer(self) -> Option<i64> {
        if self.0 % NANO == 0 {
            Some(self.0 / NANO)
        } else {
            None
        }
    }

    /// The value as `f64` (nearest).
    pub fn as_f64(self) -> f64 {
        let whole = self.0 / NANO;
        let frac = self.0 % NANO;
        whole as f64 + frac as f64 / NANO as f64
    }
}

/// Parses one IIO value (`22370`, `100.826113281`, `-15887.515151`); fraction digits
/// beyond nine are truncated.
pub fn parse_iio_value(input: &[u8]) -> Result<Nano, ParseError> {
    let text = single_value(input)?;
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (
            digits.get(..dot).unwrap_or_default(),
            Some(digits.get(dot + 1..).unwrap_or_default()),
        ),
        None => (digits, None),
    };
    if int_part.first() == Some(&b'+') {
        return Err(ParseError::InvalidNumber);
    }
    let whole = i64::try_from(parse_u64(int_part)?).map_err(|_| ParseError::Overflow)?;
    let mut frac: i64 = 0;
    if let Some(frac_part) = frac_part {
        if frac_part.is_empty() || !frac_part.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::InvalidNumber);
        }
        for i in 0..9 {
            let digit = frac_part.get(i).map_or(0, |&b| i64::from(b - b'0'));
            frac = frac * 10 + digit; // at most 999_999_999
        }
    }
    let magnitude = whole
        .checked_mul(NANO)
        .and_then(|v| v.checked_add(frac))
        .ok_or(ParseError::Overflow)?;
    Ok(Nano(if negative { -magnitude } else { magnitude }))
}

/// `(raw + offset) × scale`, the IIO ABI's processed value, with checked arithmetic.
pub fn iio_processed(raw: Nano, offset: Nano, scale: Nano) -> Result<Nano, ParseError> {
    let sum = i128::from(raw.0) + i128::from(offset.0);
    let product = sum
        .checked_mul(i128::from(scale.0))
        .ok_or(ParseError::Overflow)?
        / i128::from(NANO);
    i64::try_from(product)
        .map(Nano)
        .map_err(|_| ParseError::Overflow)
}

/// Parses the device's `name` (`bme280`).
pub fn parse_iio_name(input: &[u8]) -> Result<&str, ParseError> {
    parse_text_value(input)
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    if let Ok(v) = parse_iio_value(input) {
        let _ = iio_processed(v, v, v);
        let _ = iio_processed(v, Nano(i64::MIN), Nano(i64::MAX));
        let _ = v.as_f64();
        let _ = v.as_integer();
    }
    let _ = parse_iio_name(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_bme280_processed_channels() {
        let dev = |f: &str| match f {
            "t" => fixture!("pi4/sys/bus/iio/devices/iio:device0/in_temp_input"),
            "h" => fixture!("pi4/sys/bus/iio/devices/iio:device0/in_humidityrelative_input"),
            _ => fixture!("pi4/sys/bus/iio/devices/iio:device0/in_pressure_input"),
        };
        assert_eq!(parse_iio_value(dev("t")), Ok(Nano(22_370 * NANO)));
        assert_eq!(parse_iio_value(dev("t")).unwrap().as_integer(), Some(22370));
        assert_eq!(parse_iio_value(dev("h")).unwrap().as_integer(), Some(48213));
        let p = parse_iio_value(dev("p")).unwrap();
        assert_eq!(p, Nano(100_826_113_281));
        assert_eq!(p.as_integer(), None);
        assert!((p.as_f64() - 100.826113281).abs() < 1e-12);
        assert_eq!(
            parse_iio_name(fixture!("pi4/sys/bus/iio/devices/iio:device0/name")),
            Ok("bme280")
        );
    }

    #[test]
    fn pizero_hdc100x_raw_scale_offset() {
        let raw = parse_iio_value(fixture!(
            "pizero/sys/bus/iio/devices/iio:device0/in_temp_raw"
        ))
        .unwrap();
        let scale = parse_iio_value(fixture!(
            "pizero/sys/bus/iio/devices/iio:device0/in_temp_scale"
        ))
        .unwrap();
        let offset = parse_iio_value(fixture!(
            "pizero/sys/bus/iio/devices/iio:device0/in_temp_offset"
        ))
        .unwrap();
        assert_eq!(offset, Nano(-15_887_515_151_000));
        // (25000 - 15887.515151) × 2.517700195 = 22942.504…
        let t = iio_processed(raw, offset, scale).unwrap();
        assert_eq!(t, Nano(22_942_504_881_261));
    }

    #[test]
    fn values() {
        assert_eq!(parse_iio_value(b"-0.5\n"), Ok(Nano(-500_000_000)));
        assert_eq!(parse_iio_value(b"1.0000000009\n"), Ok(Nano(NANO)));
        assert_eq!(parse_iio_value(b"1.\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_iio_value(b"1.-5\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_iio_value(b"-\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_iio_value(b"+1\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_iio_value(b"9223372037\n"), Err(ParseError::Overflow));
        assert_eq!(
            iio_processed(Nano(i64::MAX), Nano(i64::MAX), Nano(i64::MAX)),
            Err(ParseError::Overflow)
        );
    }
}
