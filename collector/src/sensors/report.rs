//! What `--check` prints about the sensors: found or missing, one line each.

use std::fmt;

/// Whether a configured sensor or pin answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorStatus {
    /// It answered; what it is or what it read (`BME280 (chip id 0x60)`, `level 1`).
    Found(String),
    /// It did not answer (yet): the last error.
    Missing(String),
}

/// One configured sensor or pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorReport {
    /// `"i2c"` or `"gpio"`.
    pub kind: &'static str,
    /// The configured name (the `sensor` / `name` label).
    pub name: String,
    /// The configuration line's value, e.g. `bme280 /dev/i2c-1 0x76 garden`.
    pub device: String,
    /// Found or missing.
    pub status: SensorStatus,
    /// Failed reads so far.
    pub errors: u64,
}

impl SensorReport {
    /// Whether it answered.
    pub fn is_found(&self) -> bool {
        matches!(self.status, SensorStatus::Found(_))
    }
}

impl fmt::Display for SensorReport {
    /// `i2c garden (bme280 /dev/i2c-1 0x76 garden): found BME280 (chip id 0x60)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({}): ", self.kind, self.name, self.device)?;
        match &self.status {
            SensorStatus::Found(what) => write!(f, "found {what}")?,
            SensorStatus::Missing(why) => write!(f, "MISSING: {why}")?,
        }
        if self.errors > 0 {
            write!(f, " [{} failed reads]", self.errors)?;
        }
        Ok(())
    }
}

/// Every configured sensor and pin, in config order (I2C first, then GPIO).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SensorsReport {
    /// One entry per configured sensor or pin.
    pub sensors: Vec<SensorReport>,
}

impl SensorsReport {
    /// Whether every configured sensor and pin answered.
    pub fn all_found(&self) -> bool {
        self.sensors.iter().all(SensorReport::is_found)
    }

    /// The ones that did not answer.
    pub fn missing(&self) -> impl Iterator<Item = &SensorReport> {
        self.sensors.iter().filter(|s| !s.is_found())
    }
}

impl fmt::Display for SensorsReport {
    /// One line per sensor; `sensors: none configured` when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sensors.is_empty() {
            return writeln!(f, "sensors: none configured");
        }
        for sensor in &self.sensors {
            writeln!(f, "{sensor}")?;
        }
        Ok(())
    }
}
