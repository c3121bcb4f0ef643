//! `Sensors::collect` allocates nothing: I2C readings are copied out of their slots and
//! GPIO lines are read in place (issue 3, "The cycle": zero heap allocations in the
//! steady state). Allocations are counted per thread, so the I2C thread's own (it
//! allocates per transaction, by design) do not mask or fake the cycle's.
#![cfg(feature = "i2c")]

mod sensors_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as I2c};
use pimon_collector::sensors::{
    GpioInputConfig, GpioLine, Sensors, SensorsConfig, parse_gpio_line, parse_i2c_line,
};
use pimon_collector::sink::SampleSink;
use pimon_protocol::Value;
use sensors_support::FakeLine;

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter only
// touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    COUNTING.with(|c| c.set(true));
    for _ in 0..1000 {
        sensors.collect(&mut sink);
    }
    COUNTING.with(|c| c.set(false));
    let allocations = ALLOCATIONS.with(Cell::get);

    assert_eq!(allocations, 0, "collect allocated");
    // 2 I2C values + 2 GPIO levels per cycle, so the loop really pushed.
    assert_eq!(sink.samples, 4 * 1001);
    drop(sensors);
    bus.done();
}
