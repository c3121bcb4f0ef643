//! The I2C sensor drivers against embedded-hal-mock: exact bus transactions and waits,
//! datasheet example values, CRC checks.
#![cfg(feature = "i2c")]

use embedded_hal::i2c::ErrorKind;
use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Wait};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use pimon_collector::sensors::bme280::{
    self, Bme280, Calibration, Measurement, RawSample, Variant, compensate_humidity,
    compensate_pressure, compensate_temperature,
};
use pimon_collector::sensors::driver::{DriverError, Reading};
use pimon_collector::sensors::sht::{self, Family, Sht, crc8};

// ---- BME280 / BMP280 ------------------------------------------------------------------

/// The calibration of the BMP280 datasheet's worked example (BST-BMP280-DS001, 3.12),
/// with the humidity trimming of a real BME280 (dig_H1..H6 = 75, 362, 0, 313, 50, 30).
fn example_calibration() -> Calibration {
    Calibration {
        t1: 27504,
        t2: 26435,
        t3: -1000,
        p1: 36477,
        p2: -10685,
        p3: 3024,
        p4: 2855,
        p5: 140,
        p6: -7,
        p7: 15500,
        p8: -14600,
        p9: 6000,
        h1: 75,
        h2: 362,
        h3: 0,
        h4: 313,
        h5: 50,
        h6: 30,
    }
}

/// The same calibration as the chip stores it: 0x88..=0xA1 (little-endian words, 0xA0
/// unused, 0xA1 = dig_H1) and 0xE1..=0xE7 (dig_H4/H5 share 0xE5's nibbles).
fn example_registers() -> ([u8; 26], [u8; 7]) {
    let c = example_calibration();
    let mut tp = Vec::new();
    tp.extend(c.t1.to_le_bytes());
    for w in [c.t2, c.t3] {
        tp.extend(w.to_le_bytes());
    }
    tp.extend(c.p1.to_le_bytes());
    for w in [c.p2, c.p3, c.p4, c.p5, c.p6, c.p7, c.p8, c.p9] {
        tp.extend(w.to_le_bytes());
    }
    tp.push(0x00);
    tp.push(c.h1);
    let h4 = c.h4 as u16;
    let h5 = c.h5 as u16;
    let h = [
        c.h2.to_le_bytes()[0],
        c.h2.to_le_bytes()[1],
        c.h3,
        (h4 >> 4) as u8,
        (h4 & 0x0F) as u8 | ((h5 & 0x0F) << 4) as u8,
        (h5 >> 4) as u8,
        c.h6 as u8,
    ];
    (tp.try_into().unwrap(), h)
}

const ADC_T: i32 = 519_888;
const ADC_P: i32 = 415_148;
const ADC_H: i32 = 30_000;

/// The data registers 0xF7..=0xFE holding `ADC_P`, `ADC_T`, `ADC_H`.
fn data_registers() -> Vec<u8> {
    let adc20 = |v: i32| [(v >> 12) as u8, (v >> 4) as u8, ((v & 0xF) << 4) as u8];
    let mut d = Vec::new();
    d.extend(adc20(ADC_P));
    d.extend(adc20(ADC_T));
    d.extend((ADC_H as u16).to_be_bytes());
    d
}

/// The datasheet's floating-point formulas (BME280 datasheet 8.1), as an independent
/// reference for the integer ones.
fn reference_double(c: &Calibration, adc_t: f64, adc_p: f64, adc_h: f64) -> (f64, f64, f64) {
    let (t1, t2, t3) = (f64::from(c.t1), f64::from(c.t2), f64::from(c.t3));
    let var1 = (adc_t / 16384.0 - t1 / 1024.0) * t2;
    let var2 = (adc_t / 131072.0 - t1 / 8192.0) * (adc_t / 131072.0 - t1 / 8192.0) * t3;
    let t_fine = (var1 + var2).trunc();
    let t = (var1 + var2) / 5120.0;

    let mut var1 = t_fine / 2.0 - 64000.0;
    let mut var2 = var1 * var1 * f64::from(c.p6) / 32768.0;
    var2 += var1 * f64::from(c.p5) * 2.0;
    var2 = var2 / 4.0 + f64::from(c.p4) * 65536.0;
    var1 = (f64::from(c.p3) * var1 * var1 / 524288.0 + f64::from(c.p2) * var1) / 524288.0;
    var1 = (1.0 + var1 / 32768.0) * f64::from(c.p1);
    let mut p = 1048576.0 - adc_p;
    p = (p - var2 / 4096.0) * 6250.0 / var1;
    let var1 = f64::from(c.p9) * p * p / 2147483648.0;
    let var2 = p * f64::from(c.p8) / 32768.0;
    p += (var1 + var2 + f64::from(c.p7)) / 16.0;

    let v = t_fine - 76800.0;
    let mut h = (adc_h - (f64::from(c.h4) * 64.0 + f64::from(c.h5) / 16384.0 * v))
        * (f64::from(c.h2) / 65536.0
            * (1.0 + f64::from(c.h6) / 67108864.0 * v * (1.0 + f64::from(c.h3) / 67108864.0 * v)));
    h *= 1.0 - f64::from(c.h1) * h / 524288.0;
    (t, p, h.clamp(0.0, 100.0))
}

#[test]
fn bmp280_datasheet_example_temperature_and_pressure() {
    let cal = example_calibration();
    // Datasheet: t_fine = 128422, T = 25.08 °C.
    assert_eq!(compensate_temperature(&cal, ADC_T), (2508, 128_422));
    // Datasheet: p = 100653.27 Pa with the double formula. The 64-bit integer formula
    // gives Q24.8 Pa (1/256 Pa steps): 25767233 = 100653.254 Pa, the output of the
    // datasheet's C code compiled with gcc for these inputs.
    let q24_8 = compensate_pressure(&cal, ADC_P, 128_422).unwrap();
    assert_eq!(q24_8, 25_767_233);
    let pascals = f64::from(q24_8) / 256.0;
    assert!((pascals - 100_653.27).abs() < 0.02, "{pascals}");
}

#[test]
fn bme280_humidity_matches_the_datasheet_c_code() {
    // bme280_compensate_H_int32 compiled with gcc: adc_H = 30000 at t_fine = 128422
    // with the example's humidity trimming gives 56317 (54.997 %RH).
    assert_eq!(
        compensate_humidity(&example_calibration(), ADC_H, 128_422),
        56_317
    );
}

#[test]
fn integer_formulas_agree_with_the_double_reference() {
    let cal = example_calibration();
    let (t_ref, p_ref, h_ref) =
        reference_double(&cal, f64::from(ADC_T), f64::from(ADC_P), f64::from(ADC_H));
    let (centi, t_fine) = compensate_temperature(&cal, ADC_T);
    assert!((f64::from(centi) / 100.0 - t_ref).abs() < 0.01);
    let p = f64::from(compensate_pressure(&cal, ADC_P, t_fine).unwrap()) / 256.0;
    assert!((p - p_ref).abs() < 0.05, "{p} vs {p_ref}");
    let h = f64::from(compensate_humidity(&cal, ADC_H, t_fine)) / 1024.0;
    assert!((h - h_ref).abs() < 0.01, "{h} vs {h_ref}");
    assert!((10.0..90.0).contains(&h), "{h}");
}

#[test]
fn humidity_is_clamped_to_0_and_100_percent() {
    let cal = example_calibration();
    let (_, t_fine) = compensate_temperature(&cal, ADC_T);
    assert_eq!(compensate_humidity(&cal, 0, t_fine), 0);
    assert_eq!(compensate_humidity(&cal, 0xFFFF, t_fine), 100 * 1024);
}

#[test]
fn calibration_registers_decode_including_the_shared_h4_h5_nibbles() {
    let (tp, h) = example_registers();
    assert_eq!(
        Calibration::from_registers(&tp, Some(&h)),
        example_calibration()
    );
    // Negative dig_H4/dig_H5: the MSB bytes are signed.
    let h = [0, 0, 0, 0xFF, 0xF8, 0xFE, 0x80];
    let cal = Calibration::from_registers(&tp, Some(&h));
    assert_eq!((cal.h4, cal.h5, cal.h6), (-8, -17, -128));
    // BMP280: no humidity trimming.
    let cal = Calibration::from_registers(&tp, None);
    assert_eq!((cal.h2, cal.h4, cal.h5), (0, 0, 0));
}

#[test]
fn garbage_never_panics() {
    let worst = Calibration {
        t1: u16::MAX,
        t2: i16::MIN,
        t3: i16::MAX,
        p1: u16::MAX,
        p2: i16::MIN,
        p3: i16::MAX,
        p4: i16::MIN,
        p5: i16::MAX,
        p6: i16::MIN,
        p7: i16::MAX,
        p8: i16::MIN,
        p9: i16::MAX,
        h1: u8::MAX,
        h2: i16::MIN,
        h3: u8::MAX,
        h4: i16::MIN,
        h5: i16::MAX,
        h6: i8::MIN,
    };
    for cal in [worst, Calibration::default(), example_calibration()] {
        for adc in [0, 1, 0x7FFFF, 0xFFFFF] {
            let (_, t_fine) = compensate_temperature(&cal, adc);
            let _ = compensate_pressure(&cal, adc, t_fine);
            let _ = compensate_humidity(&cal, adc & 0xFFFF, t_fine);
            for t_fine in [i32::MIN, -1, 0, i32::MAX] {
                let _ = compensate_pressure(&cal, adc, t_fine);
                let _ = compensate_humidity(&cal, adc & 0xFFFF, t_fine);
            }
        }
    }
    // dig_P1 == 0 would divide by zero.
    assert_eq!(
        compensate_pressure(&Calibration::default(), ADC_P, 128_422),
        None
    );
}

#[test]
fn skipped_measurement_is_rejected() {
    let cal = example_calibration();
    let raw = RawSample::from_registers(&[0x80, 0, 0, 0x80, 0, 0, 0x80, 0]).unwrap();
    assert_eq!(
        Measurement::compensate(&cal, &raw),
        Err(DriverError::NoMeasurement)
    );
    assert_eq!(RawSample::from_registers(&[0; 7]), None);
}

fn bme280_identify(address: u8, chip_id: u8) -> Vec<I2c> {
    let (tp, h) = example_registers();
    let mut t = vec![
        I2c::write_read(address, vec![0xD0], vec![chip_id]),
        I2c::write_read(address, vec![0x88], tp.to_vec()),
    ];
    if chip_id == bme280::CHIP_ID_BME280 {
        t.push(I2c::write_read(address, vec![0xE1], h.to_vec()));
    }
    t
}

fn bme280_measure(address: u8) -> Vec<I2c> {
    vec![
        // ctrl_hum = ×1, then ctrl_meas = T×1, P×1, forced: one transaction.
        I2c::write(address, vec![0xF2, 0x01, 0xF4, 0x25]),
        I2c::write_read(address, vec![0xF7], data_registers()),
    ]
}

#[test]
fn bme280_identifies_then_measures_with_exact_transactions() {
    let mut expected = bme280_identify(0x76, 0x60);
    expected.extend(bme280_measure(0x76));
    // The second read reuses the calibration.
    expected.extend(bme280_measure(0x76));
    let mut i2c = I2cMock::new(&expected);
    let mut delay = CheckedDelay::new(&[Wait::delay_us(10_000), Wait::delay_us(10_000)]);

    let mut sensor = Bme280::new(0x76);
    let first = sensor.measure(&mut i2c, &mut delay).unwrap();
    let second = sensor.measure(&mut i2c, &mut delay).unwrap();
    i2c.done();
    delay.done();

    assert_eq!(sensor.variant(), Some(Variant::Bme280));
    assert_eq!(sensor.describe(), "BME280 (chip id 0x60)");
    assert_eq!(first, second);
    let cal = example_calibration();
    let (_, t_fine) = compensate_temperature(&cal, ADC_T);
    let q24_8 = compensate_pressure(&cal, ADC_P, t_fine).unwrap();
    let q22_10 = compensate_humidity(&cal, ADC_H, t_fine);
    assert_eq!(
        first,
        Reading {
            temperature_milli_celsius: 25_080,
            humidity_milli_percent: Some(((u64::from(q22_10) * 1000 + 512) / 1024) as u32),
            pressure_milli_pascals: Some((u64::from(q24_8) * 1000 + 128) / 256),
        }
    );
    // 25767233 / 256 Pa = 100653.2539 Pa; 54.997 %RH (see the tests above).
    assert_eq!(first.pressure_milli_pascals, Some(100_653_254));
    assert_eq!(first.humidity_milli_percent, Some(54_997));
}

#[test]
fn bmp280_reads_no_humidity() {
    let mut expected = bme280_identify(0x77, 0x58);
    expected.push(I2c::write(0x77, vec![0xF4, 0x25]));
    expected.push(I2c::write_read(
        0x77,
        vec![0xF7],
        data_registers()[..6].to_vec(),
    ));
    let mut i2c = I2cMock::new(&expected);
    let mut sensor = Bme280::new(0x77);
    let reading = sensor.measure(&mut i2c, &mut NoopDelay::new()).unwrap();
    i2c.done();
    assert_eq!(sensor.describe(), "BMP280 (chip id 0x58)");
    assert_eq!(reading.temperature_milli_celsius, 25_080);
    assert_eq!(reading.humidity_milli_percent, None);
    assert!(reading.pressure_milli_pascals.is_some());
}

#[test]
fn bme280_rejects_another_chip_and_bus_errors() {
    let mut i2c = I2cMock::new(&[
        I2c::write_read(0x76, vec![0xD0], vec![0x61]),
        I2c::write_read(0x76, vec![0xD0], vec![0]).with_error(ErrorKind::Other),
    ]);
    let mut sensor = Bme280::new(0x76);
    let mut delay = NoopDelay::new();
    assert_eq!(
        sensor.measure(&mut i2c, &mut delay),
        Err(DriverError::UnknownChipId(0x61))
    );
    assert_eq!(
        sensor.measure(&mut i2c, &mut delay),
        Err(DriverError::Bus(ErrorKind::Other))
    );
    i2c.done();
    assert_eq!(sensor.variant(), None);
}

#[test]
fn bme280_forget_makes_the_next_read_identify_again() {
    let mut expected = bme280_identify(0x76, 0x60);
    expected.extend(bme280_measure(0x76));
    expected.extend(bme280_identify(0x76, 0x60));
    expected.extend(bme280_measure(0x76));
    let mut i2c = I2cMock::new(&expected);
    let mut sensor = Bme280::new(0x76);
    let mut delay = NoopDelay::new();
    sensor.measure(&mut i2c, &mut delay).unwrap();
    sensor.forget();
    sensor.measure(&mut i2c, &mut delay).unwrap();
    i2c.done();
}

// ---- SHT3x / SHT4x --------------------------------------------------------------------

#[test]
fn crc8_datasheet_example() {
    // SHT3x-DIS table 20 / SHT4x section 4.4: CRC(0xBEEF) = 0x92.
    assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    assert_eq!(crc8(&[0x00, 0x00]), 0x81);
}

/// `T = 0xBEEF, RH = 0xBEEF`, both with the datasheet's CRC 0x92.
const BEEF_FRAME: [u8; 6] = [0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x92];

#[test]
fn sht3x_single_shot_with_exact_transactions() {
    let mut i2c = I2cMock::new(&[
        I2c::write(0x44, vec![0x24, 0x00]),
        I2c::read(0x44, BEEF_FRAME.to_vec()),
    ]);
    let mut delay = CheckedDelay::new(&[Wait::delay_us(16_000)]);
    let reading = Sht::new(Family::Sht3x, 0x44)
        .measure(&mut i2c, &mut delay)
        .unwrap();
    i2c.done();
    delay.done();
    // -45 + 175 · 48879/65535 = 85.523 °C; 100 · 48879/65535 = 74.585 %RH.
    assert_eq!(
        reading,
        Reading {
            temperature_milli_celsius: 85_523,
            humidity_milli_percent: Some(74_585),
            pressure_milli_pascals: None,
        }
    );
}

#[test]
fn sht4x_single_shot_with_exact_transactions() {
    let mut i2c = I2cMock::new(&[
        I2c::write(0x45, vec![0xFD]),
        I2c::read(0x45, BEEF_FRAME.to_vec()),
    ]);
    let mut delay = CheckedDelay::new(&[Wait::delay_us(9_000)]);
    let reading = Sht::new(Family::Sht4x, 0x45)
        .measure(&mut i2c, &mut delay)
        .unwrap();
    i2c.done();
    delay.done();
    // -6 + 125 · 48879/65535 = 87.231 %RH.
    assert_eq!(reading.temperature_milli_celsius, 85_523);
    assert_eq!(reading.humidity_milli_percent, Some(87_231));
}

#[test]
fn sht_bad_crc_is_rejected() {
    for (frame, received) in [
        ([0xBE, 0xEF, 0x93, 0xBE, 0xEF, 0x92], 0x93),
        ([0xBE, 0xEF, 0x92, 0xBE, 0xEE, 0x92], 0x92),
    ] {
        let mut i2c = I2cMock::new(&[
            I2c::write(0x44, vec![0xFD]),
            I2c::read(0x44, frame.to_vec()),
        ]);
        let result = Sht::new(Family::Sht4x, 0x44).measure(&mut i2c, &mut NoopDelay::new());
        i2c.done();
        let computed = crc8(&frame[if received == 0x93 { 0..2 } else { 3..5 }]);
        assert_eq!(result, Err(DriverError::Crc { received, computed }));
    }
    assert!(sht::check_words(&[0; 6]).is_err());
}

#[test]
fn sht_nack_is_a_bus_error() {
    let mut i2c =
        I2cMock::new(&[
            I2c::write(0x44, vec![0x24, 0x00]).with_error(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            )),
        ]);
    let result = Sht::new(Family::Sht3x, 0x44).measure(&mut i2c, &mut NoopDelay::new());
    i2c.done();
    assert!(matches!(
        result,
        Err(DriverError::Bus(ErrorKind::NoAcknowledge(_)))
    ));
    assert!(result.unwrap_err().to_string().starts_with("bus error: "));
}

#[test]
fn sht_conversions_round_to_nearest() {
    // 0x6666 = 26214: 175 · 26214/65535 = 69.99979 → 25.000 °C.
    assert_eq!(sht::temperature_milli_celsius(0x6666), 25_000);
    assert_eq!(sht::sht3x_humidity_milli_percent(0x8000), 50_001);
    // SHT4x humidity is cropped at both ends.
    assert_eq!(sht::sht4x_humidity_milli_percent(0x0100), 0);
    assert_eq!(sht::sht4x_humidity_milli_percent(0xFF00), 100_000);
}
