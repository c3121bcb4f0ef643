//! 1-wire DS18B20 → `W1_TEMPERATURE` (millidegrees) and `W1_AGE` (milliseconds since
//! that reading), label `sensor` (`28-000005e2fdc3`).
//!
//! A DS18B20 read blocks for ~750 ms (the conversion), so a background thread reads
//! every sensor in turn, every `interval`, and stores the last good value with its
//! time; the cycle only copies those out (no file access, no waiting). A failed read
//! (CRC `NO`, I/O error) keeps the previous good value, whose age then grows, and is
//! counted as a `w1` source error; a value older than `w1_stale_after` (the sensors'
//! `stale_after`) is no longer sent, and a sensor whose device is gone (`ENODEV`,
//! `ENOENT`: unplugged, the bus master removed) loses its value at once. A sensor
//! without a good reading is not reported.
//!
//! Sensors come and go (an unplugged probe disappears from `/sys/bus/w1/devices` after
//! the master's next searches, a new one appears): discovery runs again every
//! `rediscover` interval, and the running thread takes the new list over
//! ([`Source::renew`]), keeping the last readings of the sensors still there. The
//! thread never waits for the list's lock while it reads a sensor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::{Failure, ReadError, SysFile};
use super::log::ErrorCounter;
use super::{Source, SourceKind, SourcesConfig};
use crate::parse::w1::{is_ds18b20, parse_w1_slave, parse_w1_temperature};
use crate::sink::SampleSink;

/// Which file a sensor is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum W1File {
    /// `temperature` (kernel 5.x+): millidegrees.
    Temperature,
    /// `w1_slave`: CRC line and `t=`.
    W1Slave,
}

/// One sensor: its file and its last good reading.
#[derive(Debug)]
struct Sensor {
    name: String,
    kind: W1File,
    /// Shared with the thread while it reads (a clone of the `Arc`, no allocation).
    file: Arc<SysFile>,
    last: Option<(i64, Instant)>,
}

#[derive(Debug)]
struct Shared {
    /// The sensors, sorted by name; replaced whole by [`Source::renew`].
    sensors: Mutex<Vec<Sensor>>,
    /// Completed rounds over all sensors (for [`Source::settle`]).
    rounds: Mutex<u64>,
    round_done: Condvar,
    errors: AtomicU64,
    stop: AtomicBool,
    wake: Condvar,
}

impl Shared {
    fn sensors(&self) -> Option<MutexGuard<'_, Vec<Sensor>>> {
        self.sensors.lock().ok()
    }
}

/// The sensors and their background reader.
#[derive(Debug)]
pub(crate) struct W1Reader {
    shared: Arc<Shared>,
    interval: Duration,
    stale_after: Duration,
}

impl Source for W1Reader {
    /// Discovers `28-*` devices. `Err` when none.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let dir = config.root.join("sys/bus/w1/devices");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut sensors = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if !is_ds18b20(&name) {
                continue;
            }
            let path = entry.path();
            let (file, kind) = match SysFile::open(path.join("temperature")) {
                Ok(file) => (file, W1File::Temperature),
                Err(_) => match SysFile::open(path.join("w1_slave")) {
                    Ok(file) => (file, W1File::W1Slave),
                    Err(_) => continue,
                },
            };
            sensors.push(Sensor {
                name,
                kind,
                file: Arc::new(file),
                last: None,
            });
        }
        if sensors.is_empty() {
            return Err(format!("no DS18B20 (28-*) under {}", dir.display()));
        }
        sensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(W1Reader {
            shared: Arc::new(Shared {
                sensors: Mutex::new(sensors),
                rounds: Mutex::new(0),
                round_done: Condvar::new(),
                errors: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                wake: Condvar::new(),
            }),
            interval: config.w1_interval,
            stale_after: config.w1_stale_after,
        })
    }

    /// Starts the background thread.
    fn start(&mut self) -> Result<(), String> {
        let shared = Arc::clone(&self.shared);
        let interval = self.interval;
        std::thread::Builder::new()
            .name("pimon-w1".into())
            .stack_size(64 * 1024)
            .spawn(move || background(&shared, interval))
            .map(drop)
            .map_err(|e| format!("cannot start the 1-wire thread: {e}"))
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// Takes the freshly discovered sensors over when they differ (the thread reads the
    /// new list from its next sensor on), keeping the readings of those still there.
    fn renew(&mut self, fresh: W1Reader) {
        let (Some(mut current), Some(mut found)) = (self.shared.sensors(), fresh.shared.sensors())
        else {
            return;
        };
        let same = current.len() == found.len()
            && current
                .iter()
                .zip(found.iter())
                .all(|(a, b)| a.name == b.name && a.kind == b.kind);
        if same {
            return;
        }
        for sensor in found.iter_mut() {
            sensor.last = current
                .iter()
                .find(|old| old.name == sensor.name)
                .and_then(|old| old.last);
        }
        std::mem::swap(&mut *current, &mut *found);
    }

    /// Waits until every sensor has been read once (or `timeout`); true if so.
    fn settle(&self, timeout: Duration) -> bool {
        let Ok(rounds) = self.shared.rounds.lock() else {
            return false;
        };
        self.shared
            .round_done
            .wait_timeout_while(rounds, timeout, |r| *r == 0)
            .map(|(r, _)| *r > 0)
            .unwrap_or(false)
    }

    /// One line per sensor, with the file it is read from.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(sensors) = self.shared.sensors() else {
            return Ok(());
        };
        sensors.iter().try_for_each(|s| {
            let file = match s.kind {
                W1File::Temperature => "temperature",
                W1File::W1Slave => "w1_slave",
            };
            write!(f, "\n  sensor {} ({file})", s.name)
        })
    }

    fn collect(
        &mut self,
        _scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        errors.add_logged_elsewhere(self.shared.errors.swap(0, Ordering::Relaxed));
        let Some(sensors) = self.shared.sensors() else {
            return;
        };
        let now = Instant::now();
        for sensor in sensors.iter() {
            let Some((millidegrees, at)) = sensor.last else {
                continue;
            };
            let age = now.saturating_duration_since(at);
            if age > self.stale_after {
                continue;
            }
            let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            sink.labels(&[&sensor.name]);
            sink.push(id::W1_TEMPERATURE, Value::Signed(millidegrees));
            sink.push(id::W1_AGE, Value::Unsigned(age_ms));
        }
    }
}

impl Drop for W1Reader {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }
}

/// Whether a read failure says the device is gone (not a passing bus or CRC error).
fn device_gone(failure: &Failure) -> bool {
    matches!(failure, Failure::Read(ReadError::Io(e))
        if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ENOENT)))
}

/// The background loop: read every sensor, publish, sleep `interval`, until stopped.
fn background(shared: &Shared, interval: Duration) {
    let mut buf = [0u8; 256];
    let mut log = ErrorCounter::new(SourceKind::W1);
    while !shared.stop.load(Ordering::Relaxed) {
        let mut index = 0;
        loop {
            // Take the sensor's file out of the list (an Arc clone), read it unlocked.
            let Some((file, kind)) = shared
                .sensors()
                .and_then(|s| s.get(index).map(|s| (Arc::clone(&s.file), s.kind)))
            else {
                break;
            };
            let parse = match kind {
                W1File::Temperature => parse_w1_temperature,
                W1File::W1Slave => parse_w1_slave,
            };
            let result = file.read_parse(&mut buf, parse);
            if let Err(e) = &result {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                log.fail(format_args!("{}: {e}", file.path().display()));
            }
            // Publish, unless the list was renewed meanwhile (then this slot is another
            // sensor's, or gone).
            if let Some(mut sensors) = shared.sensors()
                && let Some(sensor) = sensors.get_mut(index)
                && Arc::ptr_eq(&sensor.file, &file)
            {
                match result {
                    Ok(millidegrees) => sensor.last = Some((millidegrees, Instant::now())),
                    Err(e) if device_gone(&e) => sensor.last = None,
                    Err(_) => {}
                }
            }
            index += 1;
        }
        if let Ok(mut rounds) = shared.rounds.lock() {
            *rounds += 1;
            shared.round_done.notify_all();
        }
        // Sleep `interval`, waking early when stopped.
        let Ok(rounds) = shared.rounds.lock() else {
            return;
        };
        let _ = shared
            .wake
            .wait_timeout_while(rounds, interval, |_| !shared.stop.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::ParseError;

    #[test]
    fn only_a_vanished_device_loses_its_reading_at_once() {
        let io = |code| Failure::Read(ReadError::Io(std::io::Error::from_raw_os_error(code)));
        assert!(device_gone(&io(libc::ENODEV)), "sysfs node removed");
        assert!(device_gone(&io(libc::ENOENT)));
        assert!(!device_gone(&io(libc::EIO)), "a bus error passes");
        assert!(!device_gone(&Failure::Parse(ParseError::CrcMismatch)));
    }
}
