//! Which sensors and pins to read, and the parsing of their config-file lines.
//!
//! The CLI's config reader hands each `i2c = …` and `gpio = …` line to
//! [`parse_i2c_line`] / [`parse_gpio_line`] and adds the line number to the error; the
//! errors name the problem and show the expected syntax. The syntax is documented in
//! `docs/SENSORS.md`:
//!
//! ```text
//! i2c  = TYPE BUS ADDRESS NAME                     # i2c = bme280 /dev/i2c-1 0x76 garden
//! gpio = CHIP LINE NAME [active_low]               # gpio = /dev/gpiochip0 17 door active_low
//! gpio = rppal BCM NAME [active_low] [pull_up|pull_down]
//! ```

use std::fmt;
use std::time::Duration;

/// Longest accepted sensor or pin name (it becomes a label value in every frame).
pub const MAX_NAME_LEN: usize = 32;

/// Highest BCM GPIO number rppal accepts (BCM2835..BCM2711 have GPIO 0–53).
pub const RPPAL_MAX_PIN: u32 = 53;

/// An I2C sensor model this collector has a driver for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum I2cChip {
    /// Bosch BME280 (temperature, humidity, pressure) or BMP280 (no humidity); the
    /// driver tells them apart by the chip id, so `bme280` and `bmp280` both mean this.
    Bme280,
    /// Sensirion SHT30/SHT31/SHT35 (temperature, humidity).
    Sht3x,
    /// Sensirion SHT40/SHT41/SHT45 (temperature, humidity).
    Sht4x,
}

impl I2cChip {
    /// The config-file word for the chip.
    pub fn as_str(self) -> &'static str {
        match self {
            I2cChip::Bme280 => "bme280",
            I2cChip::Sht3x => "sht3x",
            I2cChip::Sht4x => "sht4x",
        }
    }

    /// The 7-bit addresses the chip can answer at (set by its address pin or variant).
    pub fn addresses(self) -> &'static [u8] {
        match self {
            I2cChip::Bme280 => &[0x76, 0x77],
            I2cChip::Sht3x => &[0x44, 0x45],
            // SHT40-AD1B 0x44, SHT40-BD1B 0x45, SHT40-CD1B 0x46.
            I2cChip::Sht4x => &[0x44, 0x45, 0x46],
        }
    }

    fn parse(word: &str) -> Option<I2cChip> {
        let chip = match word.to_ascii_lowercase().as_str() {
            "bme280" | "bmp280" => I2cChip::Bme280,
            "sht3x" | "sht30" | "sht31" | "sht35" => I2cChip::Sht3x,
            "sht4x" | "sht40" | "sht41" | "sht45" => I2cChip::Sht4x,
            _ => return None,
        };
        Some(chip)
    }
}

impl fmt::Display for I2cChip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One I2C sensor: `i2c = TYPE BUS ADDRESS NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2cSensorConfig {
    /// The driver to use.
    pub chip: I2cChip,
    /// The bus device, e.g. `/dev/i2c-1`.
    pub bus: String,
    /// 7-bit address, e.g. `0x76`.
    pub address: u8,
    /// The `sensor` label value.
    pub name: String,
}

impl fmt::Display for I2cSensorConfig {
    /// `bme280 /dev/i2c-1 0x76 garden`: the config line's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {:#04x} {}",
            self.chip, self.bus, self.address, self.name
        )
    }
}

/// Where a GPIO input is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpioBackend {
    /// The Linux GPIO character device (`/dev/gpiochipN`), feature `gpio`.
    Cdev {
        /// The chip device path, e.g. `/dev/gpiochip0`.
        chip: String,
    },
    /// rppal's direct register access on a Raspberry Pi (BCM numbering), feature `rppal`.
    Rppal,
}

/// The internal pull resistor to enable on an input (rppal only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pull {
    /// Leave the pull as it is (the default; set it in `config.txt` for the cdev backend).
    #[default]
    None,
    /// Enable the pull-up resistor.
    Up,
    /// Enable the pull-down resistor.
    Down,
}

/// One GPIO input: `gpio = CHIP LINE NAME [active_low]` or
/// `gpio = rppal BCM NAME [active_low] [pull_up|pull_down]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioInputConfig {
    /// How the pin is read.
    pub backend: GpioBackend,
    /// The line offset on the chip (cdev) or BCM GPIO number (rppal); the `pin` label.
    pub line: u32,
    /// The `name` label value.
    pub name: String,
    /// Report 1 when the pin is low (a switch to ground closed reads 1).
    pub active_low: bool,
    /// Internal pull resistor (rppal only).
    pub pull: Pull,
}

impl fmt::Display for GpioInputConfig {
    /// `/dev/gpiochip0 17 door active_low`: the config line's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backend {
            GpioBackend::Cdev { chip } => write!(f, "{chip}")?,
            GpioBackend::Rppal => f.write_str("rppal")?,
        }
        write!(f, " {} {}", self.line, self.name)?;
        if self.active_low {
            f.write_str(" active_low")?;
        }
        match self.pull {
            Pull::None => Ok(()),
            Pull::Up => f.write_str(" pull_up"),
            Pull::Down => f.write_str(" pull_down"),
        }
    }
}

/// Everything the sensors need: the configured devices and the I2C timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorsConfig {
    /// I2C sensors, read in the background thread.
    pub i2c: Vec<I2cSensorConfig>,
    /// GPIO inputs, read on every cycle.
    pub gpio: Vec<GpioInputConfig>,
    /// How often each I2C sensor is read (default 10 s).
    pub i2c_interval: Duration,
    /// First retry delay after a failed read; doubles per failure (default 1 s).
    pub i2c_retry_min: Duration,
    /// Longest retry delay (default 5 min).
    pub i2c_retry_max: Duration,
    /// A reading older than this is no longer sent (default 60 s).
    pub stale_after: Duration,
}

impl Default for SensorsConfig {
    fn default() -> Self {
        SensorsConfig {
            i2c: Vec::new(),
            gpio: Vec::new(),
            i2c_interval: Duration::from_secs(10),
            i2c_retry_min: Duration::from_secs(1),
            i2c_retry_max: Duration::from_secs(300),
            stale_after: Duration::from_secs(60),
        }
    }
}

impl SensorsConfig {
    /// Whether no sensor or pin is configured.
    pub fn is_empty(&self) -> bool {
        self.i2c.is_empty() && self.gpio.is_empty()
    }

    /// Adds an I2C sensor, rejecting a second sensor with the same name or at the same
    /// bus and address.
    pub fn add_i2c(&mut self, sensor: I2cSensorConfig) -> Result<(), String> {
        for other in &self.i2c {
            if other.name == sensor.name {
                return Err(format!(
                    "I2C sensor name `{}` is already used by `i2c = {other}`",
                    sensor.name
                ));
            }
            if other.bus == sensor.bus && other.address == sensor.address {
                return Err(format!(
                    "{} address {:#04x} is already used by `i2c = {other}`",
                    sensor.bus, sensor.address
                ));
            }
        }
        self.i2c.push(sensor);
        Ok(())
    }

    /// Adds a GPIO input, rejecting a second input with the same name or on the same pin.
    pub fn add_gpio(&mut self, input: GpioInputConfig) -> Result<(), String> {
        for other in &self.gpio {
            if other.name == input.name {
                return Err(format!(
                    "GPIO input name `{}` is already used by `gpio = {other}`",
                    input.name
                ));
            }
            if other.backend == input.backend && other.line == input.line {
                return Err(format!(
                    "GPIO line {} is already read by `gpio = {other}`",
                    input.line
                ));
            }
        }
        self.gpio.push(input);
        Ok(())
    }
}

const I2C_SYNTAX: &str =
    "expected `i2c = TYPE BUS ADDRESS NAME`, e.g. `i2c = bme280 /dev/i2c-1 0x76 garden`";
const GPIO_SYNTAX: &str = "expected `gpio = CHIP LINE NAME [active_low]`, e.g. `gpio = /dev/gpiochip0 17 door active_low`, or `gpio = rppal BCM NAME [active_low] [pull_up|pull_down]`";

/// The value part of a config line: drops a `# comment`, and a leading `key =` when the
/// line starts with `key`.
fn line_value<'a>(line: &'a str, key: &str) -> &'a str {
    let line = line.split('#').next().unwrap_or("").trim();
    if let Some(rest) = line.strip_prefix(key)
        && let Some(value) = rest.trim_start().strip_prefix('=')
    {
        return value.trim();
    }
    line
}

/// Parses an `i2c = TYPE BUS ADDRESS NAME` line (or just its value).
///
/// `TYPE` is `bme280`, `bmp280`, `sht3x` (`sht30`, `sht31`, `sht35`) or `sht4x`
/// (`sht40`, `sht41`, `sht45`); `ADDRESS` is hex (`0x76`) or decimal and must be one the
/// chip can have. The error names the problem; the caller adds the line number.
pub fn parse_i2c_line(line: &str) -> Result<I2cSensorConfig, String> {
    let mut words = line_value(line, "i2c").split_whitespace();
    let (Some(chip), Some(bus), Some(address), Some(name)) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Err(format!("incomplete I2C sensor: {I2C_SYNTAX}"));
    };
    if let Some(extra) = words.next() {
        return Err(format!(
            "unexpected `{extra}` after the sensor name `{name}`: {I2C_SYNTAX}"
        ));
    }
    let chip = I2cChip::parse(chip).ok_or_else(|| {
        format!("unknown I2C sensor type `{chip}` (known: bme280, bmp280, sht3x, sht4x)")
    })?;
    if !bus.starts_with('/') {
        return Err(format!(
            "I2C bus `{bus}` is not a device path (expected e.g. /dev/i2c-1)"
        ));
    }
    let address = parse_address(address)?;
    if !chip.addresses().contains(&address) {
        let known: Vec<String> = chip
            .addresses()
            .iter()
            .map(|a| format!("{a:#04x}"))
            .collect();
        return Err(format!(
            "{chip} cannot be at address {address:#04x} (it answers at {})",
            known.join(" or ")
        ));
    }
    Ok(I2cSensorConfig {
        chip,
        bus: bus.to_owned(),
        address,
        name: parse_name(name, "sensor")?,
    })
}

/// Parses a `gpio = CHIP LINE NAME [active_low]` or
/// `gpio = rppal BCM NAME [active_low] [pull_up|pull_down]` line (or just its value).
///
/// The error names the problem; the caller adds the line number.
pub fn parse_gpio_line(line: &str) -> Result<GpioInputConfig, String> {
    let mut words = line_value(line, "gpio").split_whitespace();
    let (Some(chip), Some(line_word), Some(name)) = (words.next(), words.next(), words.next())
    else {
        return Err(format!("incomplete GPIO input: {GPIO_SYNTAX}"));
    };
    let backend = if chip.eq_ignore_ascii_case("rppal") {
        GpioBackend::Rppal
    } else if chip.starts_with('/') {
        GpioBackend::Cdev {
            chip: chip.to_owned(),
        }
    } else {
        return Err(format!(
            "GPIO chip `{chip}` is neither a device path (e.g. /dev/gpiochip0) nor `rppal`"
        ));
    };
    let line = line_word.parse::<u32>().map_err(|_| {
        format!("GPIO line `{line_word}` is not a number (the line offset, e.g. 17 for GPIO17)")
    })?;
    if backend == GpioBackend::Rppal && line > RPPAL_MAX_PIN {
        return Err(format!(
            "rppal GPIO {line} does not exist (BCM GPIO numbers are 0-{RPPAL_MAX_PIN})"
        ));
    }
    let name = parse_name(name, "input")?;
    let mut input = GpioInputConfig {
        backend,
        line,
        name,
        active_low: false,
        pull: Pull::None,
    };
    for option in words {
        match option.to_ascii_lowercase().as_str() {
            "active_low" if !input.active_low => input.active_low = true,
            "pull_up" | "pull_down" if input.pull != Pull::None => {
                return Err(format!(
                    "`{option}`: the pull resistor of GPIO input `{}` is already set",
                    input.name
                ));
            }
            "pull_up" | "pull_down" if input.backend != GpioBackend::Rppal => {
                return Err(format!(
                    "`{option}` needs the rppal backend (`gpio = rppal …`); with the character \
                     device set the pull in /boot/firmware/config.txt, e.g. `gpio={line}=ip,pu`"
                ));
            }
            "pull_up" => input.pull = Pull::Up,
            "pull_down" => input.pull = Pull::Down,
            "active_low" => return Err("`active_low` is given twice".to_owned()),
            _ => {
                return Err(format!(
                    "unknown GPIO option `{option}` (known: active_low, pull_up, pull_down)"
                ));
            }
        }
    }
    Ok(input)
}

fn parse_address(word: &str) -> Result<u8, String> {
    let parsed = match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16),
        None => word.parse::<u8>(),
    };
    match parsed {
        Ok(address @ 0x03..=0x77) => Ok(address),
        Ok(address) => Err(format!(
            "I2C address {address:#04x} is outside the 7-bit device range 0x03-0x77"
        )),
        Err(_) => Err(format!(
            "I2C address `{word}` is not a number (expected e.g. 0x76)"
        )),
    }
}

fn parse_name(word: &str, what: &str) -> Result<String, String> {
    if word.len() > MAX_NAME_LEN {
        return Err(format!(
            "{what} name `{word}` is longer than {MAX_NAME_LEN} bytes"
        ));
    }
    if let Some(bad) = word
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
    {
        return Err(format!(
            "{what} name `{word}` contains `{bad}` (use letters, digits, `_`, `-`, `.`, `:`)"
        ));
    }
    Ok(word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i2c_line_with_and_without_key() {
        let want = I2cSensorConfig {
            chip: I2cChip::Bme280,
            bus: "/dev/i2c-1".into(),
            address: 0x76,
            name: "garden".into(),
        };
        assert_eq!(
            parse_i2c_line("i2c = bme280 /dev/i2c-1 0x76 garden"),
            Ok(want.clone())
        );
        assert_eq!(
            parse_i2c_line("  bme280 /dev/i2c-1 118 garden # shed"),
            Ok(want.clone())
        );
        assert_eq!(want.to_string(), "bme280 /dev/i2c-1 0x76 garden");
        assert_eq!(
            parse_i2c_line("i2c=SHT41 /dev/i2c-3 0x46 attic")
                .unwrap()
                .chip,
            I2cChip::Sht4x
        );
    }

    #[test]
    fn gpio_line_round_trips_through_display() {
        let input = parse_gpio_line("gpio = rppal 4 button active_low pull_up").unwrap();
        assert_eq!(input.backend, GpioBackend::Rppal);
        assert_eq!(
            (input.line, input.active_low, input.pull),
            (4, true, Pull::Up)
        );
        assert_eq!(parse_gpio_line(&input.to_string()), Ok(input));
    }
}
