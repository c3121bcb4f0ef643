//! 1-wire DS18B20 → `W1_TEMPERATURE` (millidegrees) and `W1_AGE` (milliseconds since
//! that reading), label `sensor` (`28-000005e2fdc3`).
//!
//! A DS18B20 read blocks for ~750 ms (the conversion), so a background thread reads
//! every sensor in turn, every `interval`, and stores the last good value with its
//! time; the cycle only copies those out (no file access, no waiting). A failed read
//! (CRC `NO`, I/O error) keeps the previous good value, whose age then grows, and is
//! counted as a `w1` source error. A sensor without a good reading yet is not reported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
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

/// A sensor's last good reading.
#[derive(Debug, Clone, Copy, Default)]
struct Last {
    good: Option<(i64, Instant)>,
}

#[derive(Debug)]
struct Shared {
    last: Mutex<Vec<Last>>,
    /// Completed rounds over all sensors (for [`W1Reader::settle`]).
    rounds: Mutex<u64>,
    round_done: Condvar,
    errors: AtomicU64,
    stop: AtomicBool,
    wake: Condvar,
}

/// The sensors and their background reader.
#[derive(Debug)]
pub(crate) struct W1Reader {
    /// Sensor names and the file each is read from (for labels and `--check`).
    pub(crate) sensors: Vec<(String, W1File)>,
    shared: Arc<Shared>,
}

impl Source for W1Reader {
    /// Discovers `28-*` devices and starts the background thread. `Err` when none.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let interval = config.w1_interval;
        let dir = config.root.join("sys/bus/w1/devices");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut sensors = Vec::new();
        let mut files = Vec::new();
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
            sensors.push((name, kind));
            files.push((file, kind));
        }
        if sensors.is_empty() {
            return Err(format!("no DS18B20 (28-*) under {}", dir.display()));
        }
        let mut order: Vec<usize> = (0..sensors.len()).collect();
        order.sort_by(|&a, &b| sensors[a].0.cmp(&sensors[b].0));
        let sensors: Vec<_> = order.iter().map(|&i| sensors[i].clone()).collect();
        let mut slots: Vec<Option<(SysFile, W1File)>> = files.into_iter().map(Some).collect();
        let files: Vec<_> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let shared = Arc::new(Shared {
            last: Mutex::new(vec![Last::default(); sensors.len()]),
            rounds: Mutex::new(0),
            round_done: Condvar::new(),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pimon-w1".into())
            .stack_size(64 * 1024)
            .spawn(move || background(&thread_shared, &files, interval))
            .map_err(|e| format!("cannot start the 1-wire thread: {e}"))?;
        Ok(W1Reader { sensors, shared })
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
        self.sensors.iter().try_for_each(|(name, file)| {
            let file = match file {
                W1File::Temperature => "temperature",
                W1File::W1Slave => "w1_slave",
            };
            write!(f, "\n  sensor {name} ({file})")
        })
    }

    fn collect(
        &mut self,
        _scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        errors.add_logged_elsewhere(self.shared.errors.swap(0, Ordering::Relaxed));
        let Ok(last) = self.shared.last.lock() else {
            return;
        };
        let now = Instant::now();
        for ((name, _), last) in self.sensors.iter().zip(last.iter()) {
            if let Some((millidegrees, at)) = last.good {
                let age_ms = u64::try_from(now.duration_since(at).as_millis()).unwrap_or(u64::MAX);
                sink.labels(&[name]);
                sink.push(id::W1_TEMPERATURE, Value::Signed(millidegrees));
                sink.push(id::W1_AGE, Value::Unsigned(age_ms));
            }
        }
    }
}

impl Drop for W1Reader {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }
}

/// The background loop: read every sensor, publish, sleep `interval`, until stopped.
fn background(shared: &Shared, files: &[(SysFile, W1File)], interval: Duration) {
    let mut buf = [0u8; 256];
    let mut log = ErrorCounter::new(SourceKind::W1);
    while !shared.stop.load(Ordering::Relaxed) {
        for (index, (file, kind)) in files.iter().enumerate() {
            let parse = match kind {
                W1File::Temperature => parse_w1_temperature,
                W1File::W1Slave => parse_w1_slave,
            };
            match file.read_parse(&mut buf, parse) {
                Ok(millidegrees) => {
                    if let Ok(mut last) = shared.last.lock()
                        && let Some(slot) = last.get_mut(index)
                    {
                        slot.good = Some((millidegrees, Instant::now()));
                    }
                }
                Err(e) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    log.fail(format_args!("{}: {e}", file.path().display()));
                }
            }
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
