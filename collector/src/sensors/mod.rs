//! Sensors on the Pi's pins: I2C sensors read from user space and GPIO input levels.
//!
//! - **I2C** (feature `i2c`): BME280/BMP280 ([`bme280`]) and SHT3x/SHT4x ([`sht`])
//!   through linux-embedded-hal's `I2cdev`, read in one background thread ([`i2c`]);
//!   the cycle copies the last good readings out of fixed slots.
//! - **GPIO** (features `gpio`, `rppal`): pin levels through the GPIO character device
//!   or rppal, read on the cycle ([`gpio`]).
//!
//! [`Sensors::start`] opens everything in a [`SensorsConfig`] (built with
//! [`parse_i2c_line`] / [`parse_gpio_line`] from the config file),
//! [`Sensors::collect`] pushes the values into the cycle's [`SampleSink`] without
//! allocating, and [`Sensors::report`] says for `--check` which ones answer. A sensor
//! or pin that is missing is logged once and skipped; the cycle never waits for one.
//!
//! Metrics (see the catalog): `I2C_TEMPERATURE`, `I2C_HUMIDITY`, `I2C_PRESSURE` with
//! label `sensor` (the configured name), sent as `F64` in °C, %RH and Pa; `GPIO_LEVEL`
//! with labels `pin` (the line number) and `name`, `Unsigned` 0/1 after `active_low`.
//! Config syntax and Raspberry Pi setup: `docs/SENSORS.md`.

#[cfg(feature = "i2c")]
pub mod bme280;
pub mod config;
#[cfg(feature = "i2c")]
pub mod driver;
pub mod gpio;
#[cfg(feature = "i2c")]
pub mod i2c;
pub mod report;
#[cfg(feature = "i2c")]
pub mod sht;

pub use config::{
    GpioBackend, GpioInputConfig, I2cChip, I2cSensorConfig, Pull, SensorsConfig, parse_gpio_line,
    parse_i2c_line,
};
pub use gpio::{GpioLine, GpioReadError, OpenedLine};
pub use report::{SensorReport, SensorStatus, SensorsReport};

use crate::sink::SampleSink;
use crate::source::MetricGroup;
use gpio::GpioInput;

/// The `docs/METRICS.md` sections of the sensors.
pub const METRIC_GROUPS: &[MetricGroup] = &[
    MetricGroup {
        title: "I2C",
        from: "sensors read from user space over `/dev/i2c-*` (`i2c = ...` config lines, docs/SENSORS.md; label `sensor` = the configured name), sent in the exported unit.",
        prefixes: &["pimon_i2c_"],
    },
    MetricGroup {
        title: "GPIO",
        from: "GPIO input pins, read every cycle through the kernel's GPIO character device or rppal (`gpio = ...` config lines, docs/SENSORS.md; labels `pin` and `name`); `active_low` is applied before sending.",
        prefixes: &["pimon_gpio_"],
    },
];

/// One log line through the collector's journald-friendly logger.
fn log(level: crate::log::Level, args: core::fmt::Arguments<'_>) {
    crate::log::log(level, args);
}

/// The configured I2C sensors and GPIO inputs, opened.
pub struct Sensors {
    #[cfg(feature = "i2c")]
    i2c: Option<i2c::I2cWorker>,
    /// I2C sensors configured in a build without the `i2c` feature.
    #[cfg(not(feature = "i2c"))]
    i2c_unbuilt: Vec<I2cSensorConfig>,
    gpio: Vec<GpioInput>,
}

impl Sensors {
    /// Opens every configured GPIO input and starts the I2C thread (when any I2C sensor
    /// is configured), with the real devices: `I2cdev`, `CdevPin`, rppal.
    pub fn start(config: &SensorsConfig) -> Sensors {
        Self::start_with_gpio(config, gpio::open_line)
    }

    /// Like [`Sensors::start`], but opens GPIO inputs with `open_gpio` (tests give fake
    /// lines).
    pub fn start_with_gpio(
        config: &SensorsConfig,
        open_gpio: impl FnMut(&GpioInputConfig) -> OpenedLine,
    ) -> Sensors {
        #[cfg(feature = "i2c")]
        {
            Self::start_with(config, i2c::open_i2cdev, open_gpio)
        }
        #[cfg(not(feature = "i2c"))]
        {
            if !config.i2c.is_empty() {
                log(
                    crate::log::Level::Warning,
                    format_args!(
                        "i2c: {} sensor(s) configured, but this pimon-collector was built \
                     without the `i2c` feature; they are skipped",
                        config.i2c.len()
                    ),
                );
            }
            Sensors {
                i2c_unbuilt: config.i2c.clone(),
                gpio: Self::open_gpio(config, open_gpio),
            }
        }
    }

    /// Like [`Sensors::start`], but opens each I2C sensor's bus with `open_i2c` (given
    /// the bus path) and GPIO inputs with `open_gpio`: tests give mock buses and fake
    /// lines.
    #[cfg(feature = "i2c")]
    pub fn start_with<B, O>(
        config: &SensorsConfig,
        open_i2c: O,
        open_gpio: impl FnMut(&GpioInputConfig) -> OpenedLine,
    ) -> Sensors
    where
        B: embedded_hal::i2c::I2c + Send + 'static,
        B::Error: core::fmt::Display,
        O: FnMut(&str) -> std::io::Result<B> + Send + 'static,
    {
        let i2c = (!config.i2c.is_empty()).then(|| i2c::I2cWorker::start(config, open_i2c));
        Sensors {
            i2c,
            gpio: Self::open_gpio(config, open_gpio),
        }
    }

    fn open_gpio(
        config: &SensorsConfig,
        mut open: impl FnMut(&GpioInputConfig) -> OpenedLine,
    ) -> Vec<GpioInput> {
        config
            .gpio
            .iter()
            .map(|input| GpioInput::open(input, &mut open))
            .collect()
    }

    /// Pushes this cycle's sensor values: each I2C sensor's last good reading (unless
    /// older than `stale_after`), then each GPIO input's level, read now. Allocates
    /// nothing and never waits for a bus.
    pub fn collect(&mut self, sink: &mut dyn SampleSink) {
        #[cfg(feature = "i2c")]
        if let Some(i2c) = &self.i2c {
            i2c.collect(sink);
        }
        for input in &mut self.gpio {
            input.collect(sink);
        }
    }

    /// Found or missing, per configured sensor and pin, for `--check`. Waits (at most
    /// 5 s) until the I2C thread has tried every sensor once; reads every pin.
    pub fn report(&mut self) -> SensorsReport {
        let mut sensors = Vec::new();
        #[cfg(feature = "i2c")]
        if let Some(i2c) = &self.i2c {
            sensors.extend(i2c.report());
        }
        #[cfg(not(feature = "i2c"))]
        sensors.extend(self.i2c_unbuilt.iter().map(|sensor| SensorReport {
            kind: "i2c",
            name: sensor.name.clone(),
            device: sensor.to_string(),
            status: SensorStatus::Missing(
                "this pimon-collector was built without the `i2c` feature".to_owned(),
            ),
            errors: 0,
        }));
        sensors.extend(self.gpio.iter_mut().map(GpioInput::report));
        SensorsReport { sensors }
    }

    /// Releases every GPIO line and stops the I2C thread (waiting for its current read).
    /// Afterwards [`Sensors::collect`] pushes nothing and [`Sensors::report`] is empty.
    pub fn stop(&mut self) {
        #[cfg(feature = "i2c")]
        {
            self.i2c = None;
        }
        #[cfg(not(feature = "i2c"))]
        self.i2c_unbuilt.clear();
        self.gpio.clear();
    }

    /// Applies a new config (SIGHUP): [`Sensors::stop`], then [`Sensors::start`].
    ///
    /// Use this rather than `sensors = Sensors::start(&new)`: that opens the new lines
    /// while the old ones are still held, and the kernel grants a GPIO line to one
    /// request at a time, so every unchanged input would fail with "Device or resource
    /// busy".
    pub fn reload(&mut self, config: &SensorsConfig) {
        self.stop();
        *self = Sensors::start(config);
    }

    /// Failed I2C reads so far, all sensors (for the `source_errors` counter).
    pub fn i2c_errors(&self) -> u64 {
        #[cfg(feature = "i2c")]
        if let Some(i2c) = &self.i2c {
            return i2c.errors();
        }
        0
    }

    /// Failed GPIO reads so far, all pins (for the `source_errors` counter).
    pub fn gpio_errors(&self) -> u64 {
        self.gpio.iter().map(GpioInput::errors).sum()
    }
}
