//! The I2C background thread with mock buses, and GPIO inputs with fake lines: what
//! `Sensors::collect` pushes (ids, labels, values), error counting, retry with backoff,
//! missing buses and stale readings (I2C sensors, GPIO inputs).
#![cfg(feature = "i2c")]

mod sensors_support;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use pimon_collector::sensors::{
    GpioInputConfig, GpioLine, I2cSensorConfig, SensorStatus, Sensors, SensorsConfig,
    parse_gpio_line, parse_i2c_line,
};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use sensors_support::{FakeLine, Recorder};

const BEEF_FRAME: [u8; 6] = [0xBE, 0xEF, 0x92, 0xBE, 0xEF, 0x92];
/// T = 0x6666 (25.000 °C), RH = 0x8000 (SHT4x: 56.501 %RH).
const MILD_FRAME: [u8; 6] = [0x66, 0x66, 0x93, 0x80, 0x00, 0xA2];

fn i2c(line: &str) -> I2cSensorConfig {
    parse_i2c_line(line).unwrap()
}

fn config(i2c: Vec<I2cSensorConfig>, gpio: Vec<GpioInputConfig>) -> SensorsConfig {
    SensorsConfig {
        i2c,
        gpio,
        // One read per sensor in these tests unless a retry is due.
        i2c_interval: Duration::from_secs(3600),
        i2c_retry_min: Duration::from_millis(20),
        i2c_retry_max: Duration::from_millis(40),
        ..SensorsConfig::default()
    }
}

fn no_gpio(_: &GpioInputConfig) -> Result<Box<dyn GpioLine>, String> {
    Err("no GPIO in this test".to_owned())
}

/// Waits until `done` holds (at most 5 s).
fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn thread_reads_every_sensor_and_collect_pushes_ids_labels_values() {
    // Both sensors on one bus: the worker reads them in config order, each through its
    // own handle (the opener is called once per sensor).
    let mut bus = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, MILD_FRAME.to_vec()),
        I2c::write(0x45, vec![0x24, 0x00]),
        I2c::read(0x45, BEEF_FRAME.to_vec()),
    ]);
    let opened = Arc::new(AtomicUsize::new(0));
    let (mock, count) = (bus.clone(), Arc::clone(&opened));
    let open = move |path: &str| {
        assert_eq!(path, "/dev/i2c-1");
        count.fetch_add(1, Ordering::SeqCst);
        Ok(mock.clone())
    };
    let cfg = config(
        vec![
            i2c("i2c = sht4x /dev/i2c-1 0x44 attic"),
            i2c("i2c = sht31 /dev/i2c-1 0x45 cellar"),
        ],
        vec![],
    );
    let mut sensors = Sensors::start_with(&cfg, open, no_gpio);

    let report = sensors.report();
    assert!(report.all_found(), "{report}");
    assert_eq!(
        report.to_string(),
        "i2c attic (sht4x /dev/i2c-1 0x44 attic): found SHT4x\n\
         i2c cellar (sht3x /dev/i2c-1 0x45 cellar): found SHT3x\n"
    );

    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert_eq!(
        sink.flat(),
        vec![
            ("attic".into(), id::I2C_TEMPERATURE, Value::F64(25.0)),
            ("attic".into(), id::I2C_HUMIDITY, Value::F64(56.501)),
            ("cellar".into(), id::I2C_TEMPERATURE, Value::F64(85.523)),
            ("cellar".into(), id::I2C_HUMIDITY, Value::F64(74.585)),
        ]
    );
    // The cycle copies the slots: a second collect pushes the same, no bus traffic.
    let mut again = Recorder::default();
    sensors.collect(&mut again);
    assert_eq!(again.flat(), sink.flat());
    assert_eq!(sensors.i2c_errors(), 0);
    assert_eq!(opened.load(Ordering::SeqCst), 2);

    drop(sensors); // stops and joins the thread
    bus.done();
}

#[test]
fn bme280_pushes_temperature_humidity_pressure_in_id_order() {
    // Datasheet example calibration (see sensors_drivers.rs), adc_T 519888,
    // adc_P 415148, adc_H 30000.
    let tp: Vec<u8> = [
        27504u16.to_le_bytes(),
        26435i16.to_le_bytes(),
        (-1000i16).to_le_bytes(),
        36477u16.to_le_bytes(),
        (-10685i16).to_le_bytes(),
        3024i16.to_le_bytes(),
        2855i16.to_le_bytes(),
        140i16.to_le_bytes(),
        (-7i16).to_le_bytes(),
        15500i16.to_le_bytes(),
        (-14600i16).to_le_bytes(),
        6000i16.to_le_bytes(),
        [0x00, 75],
    ]
    .concat();
    let h = vec![0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E];
    let data = vec![0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30];
    let mut bus = I2cMock::new(&[
        I2c::write_read(0x77, vec![0xD0], vec![0x60]),
        I2c::write_read(0x77, vec![0x88], tp),
        I2c::write_read(0x77, vec![0xE1], h),
        I2c::write(0x77, vec![0xF2, 0x01, 0xF4, 0x25]),
        I2c::write_read(0x77, vec![0xF7], data),
    ]);
    let mock = bus.clone();
    let cfg = config(vec![i2c("bme280 /dev/i2c-1 0x77 garden")], vec![]);
    let mut sensors = Sensors::start_with(&cfg, move |_: &str| Ok(mock.clone()), no_gpio);
    let report = sensors.report();
    assert_eq!(
        report.sensors[0].status,
        SensorStatus::Found("BME280 (chip id 0x60)".into())
    );
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert_eq!(
        sink.flat(),
        vec![
            ("garden".into(), id::I2C_TEMPERATURE, Value::F64(25.08)),
            ("garden".into(), id::I2C_HUMIDITY, Value::F64(54.997)),
            ("garden".into(), id::I2C_PRESSURE, Value::F64(100_653.254)),
        ]
    );
    const { assert!(id::I2C_TEMPERATURE < id::I2C_HUMIDITY && id::I2C_HUMIDITY < id::I2C_PRESSURE) };
    drop(sensors);
    bus.done();
}

#[test]
fn failing_sensor_is_counted_retried_with_backoff_and_recovers() {
    let nack = ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
    let mut bus = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]).with_error(nack),
        // A corrupted frame counts as a failure too.
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, [0x66, 0x66, 0x00, 0x80, 0x00, 0xA2].to_vec()),
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, MILD_FRAME.to_vec()),
    ]);
    let opened = Arc::new(AtomicUsize::new(0));
    let (mock, count) = (bus.clone(), Arc::clone(&opened));
    let open = move |_: &str| {
        count.fetch_add(1, Ordering::SeqCst);
        Ok(mock.clone())
    };
    let cfg = config(vec![i2c("sht4x /dev/i2c-1 0x44 attic")], vec![]);
    let started = Instant::now();
    let mut sensors = Sensors::start_with(&cfg, open, no_gpio);

    // First pass: failed, counted, reported with the reason; nothing is pushed.
    let report = sensors.report();
    assert_eq!(sensors.i2c_errors(), 1);
    let SensorStatus::Missing(why) = &report.sensors[0].status else {
        panic!("{report}")
    };
    assert!(why.starts_with("sht4x at 0x44: bus error"), "{why}");
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());

    // Retries after 20 ms (CRC error) and 40 ms more (success).
    let mut sink = Recorder::default();
    wait_for(|| {
        sensors.collect(&mut sink);
        !sink.samples.is_empty()
    });
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(sensors.i2c_errors(), 2);
    assert_eq!(
        sink.flat()[0],
        ("attic".into(), id::I2C_TEMPERATURE, Value::F64(25.0))
    );
    let report = sensors.report();
    assert!(report.all_found());
    assert_eq!(report.sensors[0].errors, 2);
    // The bus is reopened after each failure (the chip may have been replaced).
    assert_eq!(opened.load(Ordering::SeqCst), 3);
    drop(sensors);
    bus.done();
}

#[test]
fn missing_bus_is_reported_not_counted_and_other_sensors_still_read() {
    let mut bus = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, MILD_FRAME.to_vec()),
    ]);
    let mock = bus.clone();
    let open = move |path: &str| {
        if path == "/dev/i2c-1" {
            Ok(mock.clone())
        } else {
            Err(io::Error::from(io::ErrorKind::NotFound))
        }
    };
    let cfg = config(
        vec![
            i2c("sht3x /dev/i2c-7 0x44 shed"),
            i2c("sht4x /dev/i2c-1 0x44 attic"),
        ],
        vec![],
    );
    let mut sensors = Sensors::start_with(&cfg, open, no_gpio);
    let report = sensors.report();
    assert!(!report.all_found());
    let missing: Vec<_> = report.missing().map(|s| s.name.as_str()).collect();
    assert_eq!(missing, ["shed"]);
    assert_eq!(
        report.sensors[0].status,
        SensorStatus::Missing(
            "bus /dev/i2c-7 does not exist (is I2C enabled? see docs/SENSORS.md)".into()
        )
    );
    assert_eq!(sensors.i2c_errors(), 0);
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    let labels: Vec<String> = sink.flat().into_iter().map(|(l, _, _)| l).collect();
    assert_eq!(labels, ["attic", "attic"]);
    drop(sensors);
    bus.done();
}

#[test]
fn real_i2cdev_on_a_missing_bus_is_reported_without_panic() {
    let cfg = config(vec![i2c("bme280 /dev/i2c-h7-absent 0x76 garden")], vec![]);
    let mut sensors = Sensors::start(&cfg);
    let report = sensors.report();
    assert_eq!(
        report.sensors[0].status,
        SensorStatus::Missing(
            "bus /dev/i2c-h7-absent does not exist (is I2C enabled? see docs/SENSORS.md)".into()
        )
    );
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
}

#[test]
fn stale_reading_is_no_longer_sent() {
    let mut bus = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, MILD_FRAME.to_vec()),
    ]);
    let mock = bus.clone();
    let cfg = SensorsConfig {
        stale_after: Duration::from_millis(50),
        ..config(vec![i2c("sht4x /dev/i2c-1 0x44 attic")], vec![])
    };
    let mut sensors = Sensors::start_with(&cfg, move |_: &str| Ok(mock.clone()), no_gpio);
    assert!(sensors.report().all_found());
    std::thread::sleep(Duration::from_millis(80));
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty(), "{:?}", sink.flat());
    drop(sensors);
    bus.done();
}

#[test]
fn gpio_levels_follow_the_pin_and_active_low() {
    let door_high = Arc::new(AtomicBool::new(false));
    let bell_high = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(false));
    let (d, b, k) = (door_high.clone(), bell_high.clone(), broken.clone());
    let open = move |input: &GpioInputConfig| -> Result<Box<dyn GpioLine>, String> {
        let high = if input.name == "door" {
            d.clone()
        } else {
            b.clone()
        };
        Ok(Box::new(FakeLine {
            high,
            broken: if input.name == "bell" {
                k.clone()
            } else {
                Arc::default()
            },
        }))
    };
    let cfg = config(
        vec![],
        vec![
            parse_gpio_line("gpio = /dev/gpiochip0 17 door active_low").unwrap(),
            parse_gpio_line("gpio = /dev/gpiochip0 27 bell").unwrap(),
        ],
    );
    let mut sensors = Sensors::start_with_gpio(&cfg, open);

    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    // Both pins low: the active-low door reads 1.
    assert_eq!(
        sink.flat(),
        vec![
            ("17,door".into(), id::GPIO_LEVEL, Value::Unsigned(1)),
            ("27,bell".into(), id::GPIO_LEVEL, Value::Unsigned(0)),
        ]
    );
    door_high.store(true, Ordering::SeqCst);
    bell_high.store(true, Ordering::SeqCst);
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert_eq!(
        sink.flat(),
        vec![
            ("17,door".into(), id::GPIO_LEVEL, Value::Unsigned(0)),
            ("27,bell".into(), id::GPIO_LEVEL, Value::Unsigned(1)),
        ]
    );

    // A failing read is counted and pushes nothing for that pin only.
    broken.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let mut sink = Recorder::default();
        sensors.collect(&mut sink);
        assert_eq!(sink.flat().len(), 1);
    }
    assert_eq!(sensors.gpio_errors(), 3);
    let report = sensors.report();
    assert_eq!(
        report.to_string(),
        "gpio door (/dev/gpiochip0 17 door active_low): found level 0\n\
         gpio bell (/dev/gpiochip0 27 bell): MISSING: read failed: Ioctl to get line value \
         failed: EIO [3 failed reads]\n"
    );
    broken.store(false, Ordering::SeqCst);
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert_eq!(sink.flat().len(), 2);
}

#[test]
fn gpio_that_cannot_be_opened_is_reported_and_skipped() {
    let cfg = config(
        vec![],
        vec![parse_gpio_line("gpio = /dev/gpiochip0 17 door").unwrap()],
    );
    let mut sensors = Sensors::start_with_gpio(&cfg, |_: &GpioInputConfig| {
        Err("/dev/gpiochip0 line 17: request as input: Device or resource busy".to_owned())
    });
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
    assert_eq!(sensors.gpio_errors(), 0);
    let report = sensors.report();
    assert_eq!(
        report.sensors[0].status,
        SensorStatus::Missing(
            "/dev/gpiochip0 line 17: request as input: Device or resource busy".into()
        )
    );
}

/// A line the "kernel" grants to one holder at a time, like a GPIO character device.
struct ExclusiveLine(Arc<AtomicBool>);

impl GpioLine for ExclusiveLine {
    fn is_high(&mut self) -> Result<bool, pimon_collector::sensors::GpioReadError> {
        Ok(true)
    }
}

impl Drop for ExclusiveLine {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

#[test]
fn stop_releases_lines_so_a_reload_can_take_them_again() {
    let held = Arc::new(AtomicBool::new(false));
    let open = |held: &Arc<AtomicBool>| {
        let held = Arc::clone(held);
        move |_: &GpioInputConfig| -> Result<Box<dyn GpioLine>, String> {
            if held.swap(true, Ordering::SeqCst) {
                return Err("Device or resource busy".to_owned());
            }
            Ok(Box::new(ExclusiveLine(Arc::clone(&held))))
        }
    };
    let cfg = config(
        vec![],
        vec![parse_gpio_line("/dev/gpiochip0 17 door").unwrap()],
    );
    let mut sensors = Sensors::start_with_gpio(&cfg, open(&held));
    assert!(sensors.report().all_found());

    // Starting the new set while the old one holds the line fails...
    let mut overlapping = Sensors::start_with_gpio(&cfg, open(&held));
    assert!(!overlapping.report().all_found());
    drop(overlapping);

    // ...stopping first (what `reload` does) works.
    sensors.stop();
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
    assert!(sensors.report().sensors.is_empty());
    sensors = Sensors::start_with_gpio(&cfg, open(&held));
    assert!(sensors.report().all_found());
}

#[test]
fn nothing_configured_starts_nothing() {
    let mut sensors = Sensors::start(&SensorsConfig::default());
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
    assert_eq!(sensors.report().to_string(), "sensors: none configured\n");
}
