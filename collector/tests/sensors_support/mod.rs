//! Helpers shared by the `sensors_*` tests: a recording sink and fake GPIO lines.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pimon_collector::sensors::{GpioLine, GpioReadError};
use pimon_collector::sink::SampleSink;
use pimon_protocol::Value;

/// Every sample pushed, with the labels in force.
#[derive(Default)]
pub struct Recorder {
    labels: Vec<String>,
    pub samples: Vec<(Vec<String>, u16, Value)>,
}

impl SampleSink for Recorder {
    fn labels(&mut self, values: &[&str]) {
        self.labels = values.iter().map(|v| v.to_string()).collect();
    }

    fn push(&mut self, metric: u16, value: Value) {
        self.samples.push((self.labels.clone(), metric, value));
    }
}

impl Recorder {
    /// The samples as `(labels joined by ",", id, value)` for compact assertions.
    pub fn flat(&self) -> Vec<(String, u16, Value)> {
        self.samples
            .iter()
            .map(|(l, id, v)| (l.join(","), *id, *v))
            .collect()
    }
}

/// A GPIO line whose physical level the test sets.
pub struct FakeLine {
    pub high: Arc<AtomicBool>,
    pub broken: Arc<AtomicBool>,
}

impl GpioLine for FakeLine {
    fn is_high(&mut self) -> Result<bool, GpioReadError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(GpioReadError::new("Ioctl to get line value failed: EIO"));
        }
        Ok(self.high.load(Ordering::SeqCst))
    }
}
