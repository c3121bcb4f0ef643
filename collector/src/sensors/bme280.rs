//! Bosch BME280 (temperature, humidity, pressure) and BMP280 (temperature, pressure).
//!
//! Forced mode: each read starts one conversion with ×1 oversampling and the IIR filter
//! off — Bosch's recommended "weather monitoring" setting (BME280 datasheet 3.5.1) —
//! waits for it and burst-reads the data registers. The chip sleeps in between.
//!
//! Compensation uses the datasheet's integer formulas (BME280 datasheet 4.2.3, BMP280
//! 3.11.3): 32-bit for temperature and humidity, 64-bit for pressure; wrapping
//! arithmetic as in Bosch's C, so garbage from a broken chip gives garbage, never a
//! panic. Written here rather than taken from the `bme280` crate, which compensates in
//! `f32` (losing pressure resolution), clamps silently and treats a BMP280 as a BME280
//! with humidity.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use super::driver::{DriverError, Reading};

/// `id` register value of a BME280.
pub const CHIP_ID_BME280: u8 = 0x60;
/// `id` register value of a BMP280 (0x56 and 0x57 are its engineering samples).
pub const CHIP_ID_BMP280: u8 = 0x58;

/// Register addresses.
pub mod reg {
    /// `id`.
    pub const CHIP_ID: u8 = 0xD0;
    /// First of 26 calibration bytes `calib00..calib25` (0x88–0xA1).
    pub const CALIB_00: u8 = 0x88;
    /// First of 7 humidity calibration bytes `calib26..calib32` (0xE1–0xE7), BME280 only.
    pub const CALIB_26: u8 = 0xE1;
    /// `ctrl_hum`, BME280 only; takes effect at the next write of `ctrl_meas`.
    pub const CTRL_HUM: u8 = 0xF2;
    /// `ctrl_meas`: temperature and pressure oversampling, mode.
    pub const CTRL_MEAS: u8 = 0xF4;
    /// First data register `press_msb` (0xF7–0xFE: pressure, temperature, humidity).
    pub const DATA: u8 = 0xF7;
}

/// `ctrl_hum`: humidity oversampling ×1.
pub const CTRL_HUM_X1: u8 = 0b001;
/// `ctrl_meas`: temperature ×1 (`001`), pressure ×1 (`001`), forced mode (`01`).
pub const CTRL_MEAS_FORCED_X1: u8 = (0b001 << 5) | (0b001 << 2) | 0b01;
/// Wait after starting a conversion: the datasheet's maximum for ×1/×1/×1 is
/// 1.25 + 2.3 + 2.875 + 2.875 = 9.3 ms (BME280 datasheet 9.1).
pub const MEASURE_WAIT_US: u32 = 10_000;

/// A register's reset value, left in place when no conversion has run (20-bit ADCs).
const ADC_20_SKIPPED: i32 = 0x80000;
/// The humidity register's reset value (16-bit ADC).
const ADC_16_SKIPPED: i32 = 0x8000;

/// Which of the two chips answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Temperature, humidity, pressure.
    Bme280,
    /// Temperature, pressure.
    Bmp280,
}

impl Variant {
    /// The variant for an `id` register value.
    pub fn from_chip_id(id: u8) -> Option<Variant> {
        match id {
            CHIP_ID_BME280 => Some(Variant::Bme280),
            CHIP_ID_BMP280 | 0x56 | 0x57 => Some(Variant::Bmp280),
            _ => None,
        }
    }
}

/// The trimming parameters burnt into each chip (`dig_*` in the datasheet).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Calibration {
    pub t1: u16,
    pub t2: i16,
    pub t3: i16,
    pub p1: u16,
    pub p2: i16,
    pub p3: i16,
    pub p4: i16,
    pub p5: i16,
    pub p6: i16,
    pub p7: i16,
    pub p8: i16,
    pub p9: i16,
    pub h1: u8,
    pub h2: i16,
    pub h3: u8,
    pub h4: i16,
    pub h5: i16,
    pub h6: i8,
}

impl Calibration {
    /// Decodes `calib00..calib25` (0x88–0xA1) and, for a BME280, `calib26..calib32`
    /// (0xE1–0xE7), per the BME280 datasheet table 16.
    pub fn from_registers(tp: &[u8; 26], humidity: Option<&[u8; 7]>) -> Calibration {
        let u = |i: usize| u16::from_le_bytes([tp[i], tp[i + 1]]);
        let s = |i: usize| i16::from_le_bytes([tp[i], tp[i + 1]]);
        let mut cal = Calibration {
            t1: u(0),
            t2: s(2),
            t3: s(4),
            p1: u(6),
            p2: s(8),
            p3: s(10),
            p4: s(12),
            p5: s(14),
            p6: s(16),
            p7: s(18),
            p8: s(20),
            p9: s(22),
            h1: tp[25],
            ..Calibration::default()
        };
        if let Some(h) = humidity {
            cal.h2 = i16::from_le_bytes([h[0], h[1]]);
            cal.h3 = h[2];
            // dig_H4 = 0xE4[7:0] << 4 | 0xE5[3:0]; dig_H5 = 0xE6[7:0] << 4 | 0xE5[7:4];
            // the MSB bytes are signed (Bosch's BME280_SensorAPI does the same).
            cal.h4 = (i16::from(h[3] as i8) * 16) | i16::from(h[4] & 0x0F);
            cal.h5 = (i16::from(h[5] as i8) * 16) | i16::from(h[4] >> 4);
            cal.h6 = h[6] as i8;
        }
        cal
    }
}

/// The raw ADC values of one conversion (20-bit temperature and pressure, 16-bit
/// humidity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSample {
    /// `adc_T`.
    pub temperature: i32,
    /// `adc_P`.
    pub pressure: i32,
    /// `adc_H` (BME280 only).
    pub humidity: Option<i32>,
}

impl RawSample {
    /// Decodes the burst read from 0xF7: 6 bytes (BMP280) or 8 bytes (BME280).
    pub fn from_registers(data: &[u8]) -> Option<RawSample> {
        let adc20 = |i: usize| {
            i32::from(data[i]) << 12 | i32::from(data[i + 1]) << 4 | i32::from(data[i + 2]) >> 4
        };
        match data.len() {
            6 | 8 => Some(RawSample {
                pressure: adc20(0),
                temperature: adc20(3),
                humidity: (data.len() == 8).then(|| i32::from(data[6]) << 8 | i32::from(data[7])),
            }),
            _ => None,
        }
    }
}

/// Datasheet `BME280_compensate_T_int32`: `(temperature in 0.01 °C, t_fine)`.
pub fn compensate_temperature(cal: &Calibration, adc_t: i32) -> (i32, i32) {
    let t1 = i32::from(cal.t1);
    let var1 = ((adc_t >> 3).wrapping_sub(t1 << 1)).wrapping_mul(i32::from(cal.t2)) >> 11;
    let d = (adc_t >> 4).wrapping_sub(t1);
    let var2 = ((d.wrapping_mul(d) >> 12).wrapping_mul(i32::from(cal.t3))) >> 14;
    let t_fine = var1.wrapping_add(var2);
    let centi = t_fine.wrapping_mul(5).wrapping_add(128) >> 8;
    (centi, t_fine)
}

/// Datasheet `BME280_compensate_P_int64`: pressure in Pa as Q24.8 (1/256 Pa), or
/// `None` when the calibration would divide by zero.
pub fn compensate_pressure(cal: &Calibration, adc_p: i32, t_fine: i32) -> Option<u32> {
    let (p1, p2, p3) = (i64::from(cal.p1), i64::from(cal.p2), i64::from(cal.p3));
    let (p4, p5, p6) = (i64::from(cal.p4), i64::from(cal.p5), i64::from(cal.p6));
    let (p7, p8, p9) = (i64::from(cal.p7), i64::from(cal.p8), i64::from(cal.p9));
    let mut var1 = i64::from(t_fine) - 128_000;
    let mut var2 = var1.wrapping_mul(var1).wrapping_mul(p6);
    var2 = var2.wrapping_add(var1.wrapping_mul(p5) << 17);
    var2 = var2.wrapping_add(p4 << 35);
    var1 =
        (var1.wrapping_mul(var1).wrapping_mul(p3) >> 8).wrapping_add(var1.wrapping_mul(p2) << 12);
    var1 = ((1i64 << 47).wrapping_add(var1)).wrapping_mul(p1) >> 33;
    if var1 == 0 {
        return None;
    }
    let mut p = 1_048_576 - i64::from(adc_p);
    p = ((p << 31).wrapping_sub(var2))
        .wrapping_mul(3125)
        .wrapping_div(var1);
    let var1 = p9.wrapping_mul(p >> 13).wrapping_mul(p >> 13) >> 25;
    let var2 = p8.wrapping_mul(p) >> 19;
    p = (p.wrapping_add(var1).wrapping_add(var2) >> 8).wrapping_add(p7 << 4);
    Some(p as u32)
}

/// Datasheet `bme280_compensate_H_int32`: relative humidity in %RH as Q22.10 (1/1024 %).
pub fn compensate_humidity(cal: &Calibration, adc_h: i32, t_fine: i32) -> u32 {
    let (h1, h2, h3) = (i32::from(cal.h1), i32::from(cal.h2), i32::from(cal.h3));
    let (h4, h5, h6) = (i32::from(cal.h4), i32::from(cal.h5), i32::from(cal.h6));
    let mut v = t_fine.wrapping_sub(76_800);
    let left = ((adc_h << 14)
        .wrapping_sub(h4 << 20)
        .wrapping_sub(h5.wrapping_mul(v)))
    .wrapping_add(16_384)
        >> 15;
    let right = ((((v.wrapping_mul(h6) >> 10).wrapping_mul((v.wrapping_mul(h3) >> 11) + 32_768))
        >> 10)
        .wrapping_add(2_097_152))
    .wrapping_mul(h2)
    .wrapping_add(8192)
        >> 14;
    v = left.wrapping_mul(right);
    v = v.wrapping_sub((((v >> 15).wrapping_mul(v >> 15) >> 7).wrapping_mul(h1)) >> 4);
    (v.clamp(0, 419_430_400) >> 12) as u32
}

/// A compensated measurement in the datasheet's fixed-point units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// Temperature in 0.01 °C.
    pub temperature_centi_celsius: i32,
    /// Pressure in Pa, Q24.8.
    pub pressure_q24_8: u32,
    /// Humidity in %RH, Q22.10 (BME280 only).
    pub humidity_q22_10: Option<u32>,
}

impl Measurement {
    /// Compensates a raw sample.
    pub fn compensate(
        cal: &Calibration,
        raw: &RawSample,
    ) -> Result<Measurement, DriverError<core::convert::Infallible>> {
        let skipped = raw.temperature == ADC_20_SKIPPED
            || raw.pressure == ADC_20_SKIPPED
            || raw.humidity == Some(ADC_16_SKIPPED);
        if skipped {
            return Err(DriverError::NoMeasurement);
        }
        let (temperature_centi_celsius, t_fine) = compensate_temperature(cal, raw.temperature);
        let pressure_q24_8 =
            compensate_pressure(cal, raw.pressure, t_fine).ok_or(DriverError::BadCalibration)?;
        Ok(Measurement {
            temperature_centi_celsius,
            pressure_q24_8,
            humidity_q22_10: raw.humidity.map(|h| compensate_humidity(cal, h, t_fine)),
        })
    }

    /// The same in the collector's milli-units, rounded to nearest.
    pub fn reading(&self) -> Reading {
        Reading {
            temperature_milli_celsius: self.temperature_centi_celsius.saturating_mul(10),
            humidity_milli_percent: self
                .humidity_q22_10
                .map(|h| ((u64::from(h) * 1000 + 512) / 1024) as u32),
            pressure_milli_pascals: Some((u64::from(self.pressure_q24_8) * 1000 + 128) / 256),
        }
    }
}

/// One BME280 or BMP280 at an address. Learns which one and its calibration on the
/// first [`Bme280::measure`].
#[derive(Debug, Clone)]
pub struct Bme280 {
    address: u8,
    chip: Option<(Variant, u8, Calibration)>,
}

impl Bme280 {
    /// A chip at 7-bit `address` (0x76 or 0x77); nothing is sent yet.
    pub fn new(address: u8) -> Self {
        Bme280 {
            address,
            chip: None,
        }
    }

    /// The variant found by the last identification, if any.
    pub fn variant(&self) -> Option<Variant> {
        self.chip.map(|(variant, _, _)| variant)
    }

    /// Forgets the identification and calibration; the next read starts over.
    pub fn forget(&mut self) {
        self.chip = None;
    }

    /// What the chip is, for `--check`.
    pub fn describe(&self) -> String {
        match self.chip {
            Some((Variant::Bme280, id, _)) => format!("BME280 (chip id {id:#04x})"),
            Some((Variant::Bmp280, id, _)) => format!("BMP280 (chip id {id:#04x})"),
            None => "BME280/BMP280 (not identified)".to_owned(),
        }
    }

    /// Reads the chip id and the calibration (`write_read` of 0xD0, 0x88 and, for a
    /// BME280, 0xE1).
    pub fn identify<I: I2c>(&mut self, i2c: &mut I) -> Result<Variant, DriverError<I::Error>> {
        let mut id = [0u8];
        i2c.write_read(self.address, &[reg::CHIP_ID], &mut id)
            .map_err(DriverError::Bus)?;
        let variant = Variant::from_chip_id(id[0]).ok_or(DriverError::UnknownChipId(id[0]))?;
        let mut tp = [0u8; 26];
        i2c.write_read(self.address, &[reg::CALIB_00], &mut tp)
            .map_err(DriverError::Bus)?;
        let mut h = [0u8; 7];
        let humidity = if variant == Variant::Bme280 {
            i2c.write_read(self.address, &[reg::CALIB_26], &mut h)
                .map_err(DriverError::Bus)?;
            Some(&h)
        } else {
            None
        };
        let cal = Calibration::from_registers(&tp, humidity);
        if cal.p1 == 0 {
            return Err(DriverError::BadCalibration);
        }
        self.chip = Some((variant, id[0], cal));
        Ok(variant)
    }

    /// One forced-mode measurement: identifies the chip if needed, writes `ctrl_hum`
    /// (BME280) and `ctrl_meas` in one transaction, waits [`MEASURE_WAIT_US`], reads
    /// the data registers and compensates them.
    pub fn measure<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Reading, DriverError<I::Error>> {
        let (variant, cal) = match self.chip {
            Some((variant, _, cal)) => (variant, cal),
            None => {
                self.identify(i2c)?;
                match self.chip {
                    Some((variant, _, cal)) => (variant, cal),
                    None => return Err(DriverError::BadCalibration),
                }
            }
        };
        let mut data = [0u8; 8];
        let data = match variant {
            Variant::Bme280 => {
                // Register/value pairs in one write (datasheet 6.2.1).
                let start = [
                    reg::CTRL_HUM,
                    CTRL_HUM_X1,
                    reg::CTRL_MEAS,
                    CTRL_MEAS_FORCED_X1,
                ];
                i2c.write(self.address, &start).map_err(DriverError::Bus)?;
                &mut data[..]
            }
            Variant::Bmp280 => {
                i2c.write(self.address, &[reg::CTRL_MEAS, CTRL_MEAS_FORCED_X1])
                    .map_err(DriverError::Bus)?;
                &mut data[..6]
            }
        };
        delay.delay_us(MEASURE_WAIT_US);
        i2c.write_read(self.address, &[reg::DATA], data)
            .map_err(DriverError::Bus)?;
        let raw = RawSample::from_registers(data).ok_or(DriverError::NoMeasurement)?;
        let measurement = Measurement::compensate(&cal, &raw).map_err(DriverError::widen)?;
        Ok(measurement.reading())
    }
}
