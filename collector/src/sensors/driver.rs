//! What the I2C drivers share: the reading they produce, their error, and the dispatch
//! from a configured chip to its driver.

use core::fmt;

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::bme280::Bme280;
use super::config::I2cChip;
use super::sht::{Family, Sht};

/// One measurement, in fixed-point integers (exact, and cheap to keep in a slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Temperature in milli-degrees Celsius.
    pub temperature_milli_celsius: i32,
    /// Relative humidity in milli-percent (BME280, SHT3x, SHT4x; not BMP280).
    pub humidity_milli_percent: Option<u32>,
    /// Air pressure in milli-pascals (BME280/BMP280).
    pub pressure_milli_pascals: Option<u64>,
}

/// Why a driver could not produce a reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverError<E> {
    /// The bus transaction failed (no device at the address, bus error, …).
    Bus(E),
    /// A Sensirion CRC did not match: the data was corrupted on the wire.
    Crc {
        /// The CRC byte the sensor sent.
        received: u8,
        /// The CRC of the data bytes as received.
        computed: u8,
    },
    /// The chip id register holds a value of another chip.
    UnknownChipId(u8),
    /// The calibration data is unusable (e.g. BME280 `dig_P1 == 0`).
    BadCalibration,
    /// The data registers still hold their reset value: no measurement was made.
    NoMeasurement,
}

impl DriverError<core::convert::Infallible> {
    /// The same error for any bus error type (this one has no bus error).
    pub fn widen<E>(self) -> DriverError<E> {
        match self {
            DriverError::Bus(never) => match never {},
            DriverError::Crc { received, computed } => DriverError::Crc { received, computed },
            DriverError::UnknownChipId(id) => DriverError::UnknownChipId(id),
            DriverError::BadCalibration => DriverError::BadCalibration,
            DriverError::NoMeasurement => DriverError::NoMeasurement,
        }
    }
}

impl<E: fmt::Display> fmt::Display for DriverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Bus(e) => write!(f, "bus error: {e}"),
            DriverError::Crc { received, computed } => write!(
                f,
                "CRC mismatch (received {received:#04x}, computed {computed:#04x})"
            ),
            DriverError::UnknownChipId(id) => write!(f, "unexpected chip id {id:#04x}"),
            DriverError::BadCalibration => f.write_str("unusable calibration data"),
            DriverError::NoMeasurement => f.write_str("no measurement in the data registers"),
        }
    }
}

/// The driver for one configured chip.
#[derive(Debug, Clone)]
pub enum Driver {
    /// BME280 / BMP280.
    Bme280(Bme280),
    /// SHT3x or SHT4x.
    Sht(Sht),
}

impl Driver {
    /// The driver for `chip` at `address`.
    pub fn new(chip: I2cChip, address: u8) -> Driver {
        match chip {
            I2cChip::Bme280 => Driver::Bme280(Bme280::new(address)),
            I2cChip::Sht3x => Driver::Sht(Sht::new(Family::Sht3x, address)),
            I2cChip::Sht4x => Driver::Sht(Sht::new(Family::Sht4x, address)),
        }
    }

    /// Reads one measurement (initialising the chip first when needed).
    pub fn measure<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Reading, DriverError<I::Error>> {
        match self {
            Driver::Bme280(d) => d.measure(i2c, delay),
            Driver::Sht(d) => d.measure(i2c, delay),
        }
    }

    /// Forgets what was learnt from the chip (calibration), so the next
    /// [`Driver::measure`] starts over: after a failure the chip may have been replaced
    /// or power-cycled.
    pub fn reset(&mut self) {
        if let Driver::Bme280(d) = self {
            d.forget();
        }
    }

    /// What the chip is, for `--check` (e.g. `BME280 (chip id 0x60)`).
    pub fn describe(&self) -> String {
        match self {
            Driver::Bme280(d) => d.describe(),
            Driver::Sht(d) => d.describe(),
        }
    }
}
