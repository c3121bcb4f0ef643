//! Sensirion SHT3x (SHT30/31/35) and SHT4x (SHT40/41/45) temperature and humidity
//! sensors: one single-shot measurement per read, CRC-checked.
//!
//! Written here rather than taken from crates.io: the `sht3x` crate is on embedded-hal
//! 0.2, and `sht4x` pulls the `fixed` crate (and typenum) for two conversions that are
//! three integer lines each. Both chips answer the same way — a command, a wait, six
//! bytes (`T msb, T lsb, CRC, RH msb, RH lsb, CRC`) — so one module serves both.
//!
//! Datasheets: SHT3x-DIS (v7, 2022) sections 4.3–4.13; SHT4x (v6.6, 2024) sections
//! 4.4–4.6.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::driver::{DriverError, Reading};

/// CRC-8 of Sensirion's sensors: polynomial 0x31 (x⁸+x⁵+x⁴+1), initial value 0xFF, no
/// reflection, no final XOR. The datasheet's example: `crc8(&[0xBE, 0xEF]) == 0x92`.
pub fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0xFFu8;
    for &byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x31
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The two CRC-checked words of a measurement: `(temperature ticks, humidity ticks)`.
pub fn check_words(frame: &[u8; 6]) -> Result<(u16, u16), DriverError<core::convert::Infallible>> {
    for word in [&frame[0..3], &frame[3..6]] {
        let computed = crc8(&word[..2]);
        if computed != word[2] {
            return Err(DriverError::Crc {
                received: word[2],
                computed,
            });
        }
    }
    Ok((
        u16::from_be_bytes([frame[0], frame[1]]),
        u16::from_be_bytes([frame[3], frame[4]]),
    ))
}

/// `-45 + 175 · ticks / 65535` °C (both families), in milli-degrees, rounded.
pub fn temperature_milli_celsius(ticks: u16) -> i32 {
    -45_000 + scale(ticks, 175_000)
}

/// SHT3x: `100 · ticks / 65535` %RH, in milli-percent, rounded.
pub fn sht3x_humidity_milli_percent(ticks: u16) -> u32 {
    scale(ticks, 100_000).unsigned_abs()
}

/// SHT4x: `-6 + 125 · ticks / 65535` %RH, cropped to 0–100 % as the datasheet advises
/// (the formula reaches -6 % and 119 % at its ends), in milli-percent, rounded.
pub fn sht4x_humidity_milli_percent(ticks: u16) -> u32 {
    (-6_000 + scale(ticks, 125_000))
        .clamp(0, 100_000)
        .unsigned_abs()
}

/// `full · ticks / 65535`, rounded to nearest.
fn scale(ticks: u16, full: u32) -> i32 {
    let scaled = (u64::from(full) * u64::from(ticks) + 32_767) / 65_535;
    // At most `full` (≤ 175 000), which fits an i32.
    i32::try_from(scaled).unwrap_or(i32::MAX)
}

/// Which family: their commands, waits and humidity formulas differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SHT30/31/35.
    Sht3x,
    /// SHT40/41/45.
    Sht4x,
}

impl Family {
    /// The single-shot, high-repeatability measurement command.
    /// SHT3x: 0x2400 (clock stretching disabled); SHT4x: 0xFD (high precision).
    pub fn measure_command(self) -> &'static [u8] {
        match self {
            Family::Sht3x => &[0x24, 0x00],
            Family::Sht4x => &[0xFD],
        }
    }

    /// How long to wait before reading the result: the datasheets' maximum measurement
    /// duration (SHT3x 15 ms, SHT4x 8.3 ms) plus margin.
    pub fn measure_wait_us(self) -> u32 {
        match self {
            Family::Sht3x => 16_000,
            Family::Sht4x => 9_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Family::Sht3x => "SHT3x",
            Family::Sht4x => "SHT4x",
        }
    }
}

/// One SHT3x or SHT4x at an address.
#[derive(Debug, Clone)]
pub struct Sht {
    family: Family,
    address: u8,
}

impl Sht {
    /// A sensor of `family` at 7-bit `address`; nothing is sent until [`Sht::measure`].
    pub fn new(family: Family, address: u8) -> Self {
        Sht { family, address }
    }

    /// What the sensor is, for `--check`.
    pub fn describe(&self) -> String {
        self.family.name().to_owned()
    }

    /// One single-shot measurement: command, wait, read 6 bytes, check both CRCs.
    pub fn measure<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Reading, DriverError<I::Error>> {
        i2c.write(self.address, self.family.measure_command())
            .map_err(DriverError::Bus)?;
        delay.delay_us(self.family.measure_wait_us());
        let mut frame = [0u8; 6];
        i2c.read(self.address, &mut frame)
            .map_err(DriverError::Bus)?;
        let (t_ticks, rh_ticks) = check_words(&frame).map_err(DriverError::widen)?;
        let humidity = match self.family {
            Family::Sht3x => sht3x_humidity_milli_percent(rh_ticks),
            Family::Sht4x => sht4x_humidity_milli_percent(rh_ticks),
        };
        Ok(Reading {
            temperature_milli_celsius: temperature_milli_celsius(t_ticks),
            humidity_milli_percent: Some(humidity),
            pressure_milli_pascals: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_datasheet_example() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
        assert_eq!(crc8(&[]), 0xFF);
    }

    #[test]
    fn conversion_end_points() {
        assert_eq!(temperature_milli_celsius(0), -45_000);
        assert_eq!(temperature_milli_celsius(0xFFFF), 130_000);
        assert_eq!(sht3x_humidity_milli_percent(0xFFFF), 100_000);
        assert_eq!(sht4x_humidity_milli_percent(0), 0);
        assert_eq!(sht4x_humidity_milli_percent(0xFFFF), 100_000);
    }
}
