//! `Sensors::collect` allocates nothing: I2C readings are copied out of their slots and
//! GPIO lines are read in place, as the collector's steady state requires. Allocations
//! are counted per thread, so the I2C thread's own (it allocates per transaction, by
//! design) do not mask or fake the cycle's.
#![cfg(feature = "i2c")]

mod sensors_support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use pimon_collector::sensors::{
    GpioInputConfig, GpioLine, Sensors, SensorsConfig, parse_gpio_line, parse_i2c_line,
};
use pimon_collector::sink::SampleSink;
use pimon_protocol::Value;
use pimon_test_support::alloc;
use sensors_support::FakeLine;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Counts samples without storing them.
#[derive(Default)]
struct CountingSink {
    samples: u64,
    sum: f64,
}

impl SampleSink for CountingSink {
    fn labels(&mut self, _values: &[&str]) {}
    fn push(&mut self, _metric: u16, value: Value) {
        self.samples += 1;
        self.sum += value.as_f64();
    }
}

#[test]
fn collect_allocates_nothing_over_1000_cycles() {
    let mut bus = I2cMock::new(&[
        I2c::write(0x44, vec![0xFD]),
        I2c::read(0x44, vec![0x66, 0x66, 0x93, 0x80, 0x00, 0xA2]),
    ]);
    let mock = bus.clone();
    let config = SensorsConfig {
        i2c: vec![parse_i2c_line("sht4x /dev/i2c-1 0x44 attic").unwrap()],
        gpio: vec![
            parse_gpio_line("/dev/gpiochip0 17 door active_low").unwrap(),
            parse_gpio_line("/dev/gpiochip0 27 bell").unwrap(),
        ],
        i2c_interval: Duration::from_secs(3600),
        ..SensorsConfig::default()
    };
    let open_gpio = |_: &GpioInputConfig| -> Result<Box<dyn GpioLine>, String> {
        Ok(Box::new(FakeLine {
            high: Arc::new(AtomicBool::new(true)),
            broken: Arc::default(),
        }))
    };
    let mut sensors = Sensors::start_with(&config, move |_: &str| Ok(mock.clone()), open_gpio);
    assert!(sensors.report().all_found());

    let mut sink = CountingSink::default();
    sensors.collect(&mut sink); // warm-up
    let ((), allocations) = alloc::count_on_this_thread(|| {
        for _ in 0..1000 {
            sensors.collect(&mut sink);
        }
    });

    assert_eq!(allocations, 0, "collect allocated");
    // 2 I2C values + 2 GPIO levels per cycle, so the loop really pushed.
    assert_eq!(sink.samples, 4 * 1001);
    drop(sensors);
    bus.done();
}
