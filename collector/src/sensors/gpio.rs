//! GPIO inputs: the level of configured pins, read on every cycle.
//!
//! Two backends: the Linux GPIO character device (`/dev/gpiochipN`) through
//! linux-embedded-hal's `CdevPin` (feature `gpio`), and rppal's register access on a
//! Raspberry Pi (feature `rppal`; elsewhere it fails with "rppal: not a Raspberry Pi
//! (…)"). A read is one ioctl (cdev) or one load from the mapped GPIO registers
//! (rppal) and neither allocates, so pins are read on the cycle path itself.
//!
//! Backends report the *physical* level; `active_low` is applied by `GpioInput`, so
//! every backend means the same by it. The cdev line is also requested with the
//! kernel's `ACTIVE_LOW` flag so `gpioinfo` shows it (CdevPin's `is_high` still returns
//! the physical level).

use core::fmt::{self, Write as _};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::config::{GpioBackend, GpioInputConfig};
use super::report::{SensorReport, SensorStatus};
use crate::log::Level;
use crate::sink::SampleSink;

/// Why a pin read failed; the message lives in a fixed buffer (no allocation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpioReadError(heapless::String<96>);

impl GpioReadError {
    /// An error with the `Display` text of `cause` (cut at 96 bytes).
    pub fn new(cause: impl fmt::Display) -> Self {
        let mut message = heapless::String::new();
        // A message longer than the buffer is cut; the error is reported either way.
        let _ = write!(Truncating(&mut message), "{cause}");
        GpioReadError(message)
    }
}

impl fmt::Display for GpioReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes what fits and drops the rest.
struct Truncating<'a, const N: usize>(&'a mut heapless::String<N>);

impl<const N: usize> fmt::Write for Truncating<'_, N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// An opened input line.
pub trait GpioLine: Send {
    /// The physical level: `true` when the pin is high.
    fn is_high(&mut self) -> Result<bool, GpioReadError>;
}

/// An opened line, or why it could not be opened (one log line, and `--check`).
pub type OpenedLine = Result<Box<dyn GpioLine>, String>;

/// Opens the configured line with the backend the config names. Errors say what failed
/// and are meant for one log line and `--check`.
pub fn open_line(config: &GpioInputConfig) -> OpenedLine {
    match &config.backend {
        GpioBackend::Cdev { chip } => open_cdev(chip, config),
        GpioBackend::Rppal => open_rppal(config),
    }
}

#[cfg(feature = "gpio")]
fn open_cdev(chip_path: &str, config: &GpioInputConfig) -> OpenedLine {
    use linux_embedded_hal::CdevPin;
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};

    let mut chip = Chip::new(chip_path).map_err(|e| format!("{chip_path}: {e}"))?;
    let line = chip
        .get_line(config.line)
        .map_err(|e| format!("{chip_path} line {}: {e}", config.line))?;
    let mut flags = LineRequestFlags::INPUT;
    if config.active_low {
        flags |= LineRequestFlags::ACTIVE_LOW;
    }
    let handle = line
        .request(flags, 0, "pimon-collector")
        .map_err(|e| format!("{chip_path} line {}: request as input: {e}", config.line))?;
    let pin = CdevPin::new(handle).map_err(|e| format!("{chip_path} line {}: {e}", config.line))?;
    Ok(Box::new(CdevLine(pin)))
}

#[cfg(not(feature = "gpio"))]
fn open_cdev(_chip: &str, _config: &GpioInputConfig) -> OpenedLine {
    Err("this pimon-collector was built without the `gpio` feature".to_owned())
}

/// A character-device line through linux-embedded-hal.
#[cfg(feature = "gpio")]
struct CdevLine(linux_embedded_hal::CdevPin);

#[cfg(feature = "gpio")]
impl GpioLine for CdevLine {
    fn is_high(&mut self) -> Result<bool, GpioReadError> {
        embedded_hal::digital::InputPin::is_high(&mut self.0).map_err(GpioReadError::new)
    }
}

#[cfg(feature = "rppal")]
fn open_rppal(config: &GpioInputConfig) -> OpenedLine {
    use super::config::Pull;
    use rppal::gpio::{Error, Gpio};

    let gpio = Gpio::new().map_err(|e| match e {
        Error::UnknownModel => format!("rppal: not a Raspberry Pi ({e})"),
        other => format!("rppal: {other}"),
    })?;
    let bcm = u8::try_from(config.line)
        .map_err(|_| format!("rppal: GPIO {} does not exist", config.line))?;
    let pin = gpio
        .get(bcm)
        .map_err(|e| format!("rppal: GPIO {bcm}: {e}"))?;
    let input = match config.pull {
        Pull::None => pin.into_input(),
        Pull::Up => pin.into_input_pullup(),
        Pull::Down => pin.into_input_pulldown(),
    };
    Ok(Box::new(RppalLine(input)))
}

#[cfg(not(feature = "rppal"))]
fn open_rppal(_config: &GpioInputConfig) -> OpenedLine {
    Err("this pimon-collector was built without the `rppal` feature".to_owned())
}

/// A pin through rppal.
#[cfg(feature = "rppal")]
struct RppalLine(rppal::gpio::InputPin);

#[cfg(feature = "rppal")]
impl GpioLine for RppalLine {
    fn is_high(&mut self) -> Result<bool, GpioReadError> {
        Ok(self.0.is_high())
    }
}

/// One configured input: its labels, its line (if it opened) and its error count.
pub(crate) struct GpioInput {
    config: GpioInputConfig,
    /// The `pin` label ("17"), formatted once.
    pin_label: String,
    line: OpenedLine,
    errors: u64,
    /// Whether the last read failed (a failure is logged when it starts, not every cycle).
    failing: bool,
}

impl GpioInput {
    /// Opens the input with `open`; a failure is logged once and reported by `--check`.
    pub(crate) fn open(
        config: &GpioInputConfig,
        open: &mut dyn FnMut(&GpioInputConfig) -> OpenedLine,
    ) -> GpioInput {
        let line = open(config);
        if let Err(e) = &line {
            super::log(
                Level::Warning,
                format_args!(
                    "gpio {}: cannot open `gpio = {config}`: {e}; input skipped",
                    config.name
                ),
            );
        }
        GpioInput {
            config: config.clone(),
            pin_label: config.line.to_string(),
            line,
            errors: 0,
            failing: false,
        }
    }

    /// Reads the pin and pushes its level; a failed read is counted and pushes nothing.
    pub(crate) fn collect(&mut self, sink: &mut dyn SampleSink) {
        let Ok(line) = &mut self.line else { return };
        match line.is_high() {
            Ok(high) => {
                if self.failing {
                    self.failing = false;
                    super::log(
                        Level::Notice,
                        format_args!(
                            "gpio {}: reads again ({} errors so far)",
                            self.config.name, self.errors
                        ),
                    );
                }
                let level = high != self.config.active_low;
                sink.labels(&[&self.pin_label, &self.config.name]);
                sink.push(id::GPIO_LEVEL, Value::Unsigned(u64::from(level)));
            }
            Err(e) => {
                self.errors += 1;
                if !self.failing {
                    self.failing = true;
                    super::log(
                        Level::Warning,
                        format_args!("gpio {}: read failed: {e}", self.config.name),
                    );
                }
            }
        }
    }

    /// Failed reads so far.
    pub(crate) fn errors(&self) -> u64 {
        self.errors
    }

    /// Found (with the last level) or missing (with the reason).
    pub(crate) fn report(&mut self) -> SensorReport {
        let status = match &mut self.line {
            Err(e) => SensorStatus::Missing(e.clone()),
            Ok(line) => match line.is_high() {
                Ok(high) => SensorStatus::Found(format!(
                    "level {}",
                    u8::from(high != self.config.active_low)
                )),
                Err(e) => SensorStatus::Missing(format!("read failed: {e}")),
            },
        };
        SensorReport {
            kind: "gpio",
            name: self.config.name.clone(),
            device: self.config.to_string(),
            status,
            errors: self.errors,
        }
    }
}
