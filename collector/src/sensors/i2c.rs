//! I2C sensors, read in one background thread.
//!
//! `I2cdev` allocates per transaction and a read takes 10–20 ms (the sensor converts
//! while we wait), so no I2C traffic happens on the cycle path. One thread reads every
//! configured sensor in turn, every `i2c_interval`, and stores each one's last good
//! [`Reading`] with its time in a fixed slot (a `Mutex` per sensor). The cycle only
//! copies the slots out (`I2cWorker::collect`): no allocation, no waiting on a bus.
//!
//! A sensor that fails is counted, logged when it starts failing (and when it
//! recovers), and retried after `i2c_retry_min`, doubling up to `i2c_retry_max`; its
//! driver forgets the calibration and the bus is reopened, in case the chip was
//! replaced. A bus device that does not exist (I2C not enabled) is logged once per bus
//! and retried quietly: it is absent, not failing. A reading older than `stale_after`
//! is no longer sent.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::config::{I2cSensorConfig, SensorsConfig};
use super::driver::{Driver, Reading};
use super::report::{SensorReport, SensorStatus};
use crate::log::Level;
use crate::sink::SampleSink;

/// How long `I2cWorker::report` waits for the first read of every sensor.
pub const FIRST_PASS_WAIT: Duration = Duration::from_secs(5);

/// Longest single sleep of the thread (it re-checks its schedule after it).
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Opens `/dev/i2c-N` as linux-embedded-hal's `I2cdev` (what [`super::Sensors::start`]
/// uses). One handle per sensor: `I2cdev` reopens the device whenever the address
/// changes, so sharing one between sensors would reopen it on every read.
pub fn open_i2cdev(path: &str) -> io::Result<linux_embedded_hal::I2cdev> {
    use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
    linux_embedded_hal::I2cdev::new(path).map_err(|e| match e {
        LinuxI2CError::Errno(errno) => io::Error::from_raw_os_error(errno),
        LinuxI2CError::Io(e) => e,
    })
}

/// `DelayNs` by sleeping the thread.
struct SleepDelay;

impl DelayNs for SleepDelay {
    fn delay_ns(&mut self, ns: u32) {
        thread::sleep(Duration::from_nanos(u64::from(ns)));
    }
}

/// What the worker publishes for one sensor.
struct Slot {
    last: Option<(Reading, Instant)>,
    errors: u64,
    status: SensorStatus,
}

#[derive(Default)]
struct Control {
    stop: bool,
    first_pass_done: bool,
}

struct Shared {
    slots: Box<[Mutex<Slot>]>,
    control: Mutex<Control>,
    wake: Condvar,
}

/// A poisoned lock only means the other side panicked mid-update of plain data; the
/// data is still usable, so keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The background thread and the slots it fills.
pub(crate) struct I2cWorker {
    shared: Arc<Shared>,
    sensors: Vec<I2cSensorConfig>,
    stale_after: Duration,
    thread: Option<JoinHandle<()>>,
}

impl I2cWorker {
    /// Starts the thread reading `config.i2c`, opening each sensor's bus with `open`.
    pub(crate) fn start<B, O>(config: &SensorsConfig, open: O) -> I2cWorker
    where
        B: I2c + Send + 'static,
        B::Error: core::fmt::Display,
        O: FnMut(&str) -> io::Result<B> + Send + 'static,
    {
        let slots = config
            .i2c
            .iter()
            .map(|_| {
                Mutex::new(Slot {
                    last: None,
                    errors: 0,
                    status: SensorStatus::Missing("not read yet".to_owned()),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            slots,
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
        });
        let schedule = Schedule {
            interval: config.i2c_interval,
            retry_min: config.i2c_retry_min,
            retry_max: config.i2c_retry_max.max(config.i2c_retry_min),
        };
        let tasks: Vec<Task<B>> = config.i2c.iter().map(Task::new).collect();
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("pimon-i2c".to_owned())
            .spawn(move || run(&thread_shared, tasks, schedule, open));
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                super::log(
                    Level::Warning,
                    format_args!("i2c: cannot start the sensor thread: {e}"),
                );
                for slot in shared.slots.iter() {
                    lock(slot).status = SensorStatus::Missing(format!("no I2C thread: {e}"));
                }
                lock(&shared.control).first_pass_done = true;
                None
            }
        };
        I2cWorker {
            shared,
            sensors: config.i2c.clone(),
            stale_after: config.stale_after,
            thread,
        }
    }

    /// Pushes every sensor's last good reading that is younger than `stale_after`
    /// (temperature, humidity, pressure as each chip has them). No allocation.
    pub(crate) fn collect(&self, sink: &mut dyn SampleSink) {
        let now = Instant::now();
        for (sensor, slot) in self.sensors.iter().zip(self.shared.slots.iter()) {
            let last = lock(slot).last;
            let Some((reading, at)) = last else { continue };
            if now.saturating_duration_since(at) > self.stale_after {
                continue;
            }
            sink.labels(&[&sensor.name]);
            let milli = |v: f64| Value::F64(v / 1000.0);
            sink.push(
                id::I2C_TEMPERATURE,
                milli(f64::from(reading.temperature_milli_celsius)),
            );
            if let Some(h) = reading.humidity_milli_percent {
                sink.push(id::I2C_HUMIDITY, milli(f64::from(h)));
            }
            if let Some(p) = reading.pressure_milli_pascals {
                sink.push(id::I2C_PRESSURE, milli(p as f64));
            }
        }
    }

    /// Failed reads of all sensors so far.
    pub(crate) fn errors(&self) -> u64 {
        self.shared.slots.iter().map(|s| lock(s).errors).sum()
    }

    /// Found/missing per sensor, after waiting (at most [`FIRST_PASS_WAIT`]) until every
    /// sensor has been tried once.
    pub(crate) fn report(&self) -> Vec<SensorReport> {
        let control = lock(&self.shared.control);
        let _done = self
            .shared
            .wake
            .wait_timeout_while(control, FIRST_PASS_WAIT, |c| !c.first_pass_done)
            .unwrap_or_else(PoisonError::into_inner);
        drop(_done);
        self.sensors
            .iter()
            .zip(self.shared.slots.iter())
            .map(|(sensor, slot)| {
                let slot = lock(slot);
                SensorReport {
                    kind: "i2c",
                    name: sensor.name.clone(),
                    device: sensor.to_string(),
                    status: slot.status.clone(),
                    errors: slot.errors,
                }
            })
            .collect()
    }
}

impl Drop for I2cWorker {
    fn drop(&mut self) {
        lock(&self.shared.control).stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panicked worker has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy)]
struct Schedule {
    interval: Duration,
    retry_min: Duration,
    retry_max: Duration,
}

/// The worker's own state for one sensor.
struct Task<B> {
    config: I2cSensorConfig,
    driver: Driver,
    bus: Option<B>,
    due: Instant,
    backoff: Option<Duration>,
    /// Whether the last attempt failed (failures are logged when they start).
    failing: bool,
}

enum Failure {
    /// The bus device does not exist: I2C not enabled, or the wrong bus number.
    BusMissing(String),
    /// Anything else: counted.
    Failed(String),
}

impl<B> Task<B>
where
    B: I2c,
    B::Error: core::fmt::Display,
{
    fn new(config: &I2cSensorConfig) -> Self {
        Task {
            config: config.clone(),
            driver: Driver::new(config.chip, config.address),
            bus: None,
            due: Instant::now(),
            backoff: None,
            failing: false,
        }
    }

    fn read(
        &mut self,
        open: &mut dyn FnMut(&str) -> io::Result<B>,
        delay: &mut SleepDelay,
    ) -> Result<Reading, Failure> {
        let bus = match &mut self.bus {
            Some(bus) => bus,
            None => match open(&self.config.bus) {
                Ok(bus) => self.bus.insert(bus),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Failure::BusMissing(format!(
                        "bus {} does not exist (is I2C enabled? see docs/SENSORS.md)",
                        self.config.bus
                    )));
                }
                Err(e) => return Err(Failure::Failed(format!("{}: {e}", self.config.bus))),
            },
        };
        self.driver.measure(bus, delay).map_err(|e| {
            Failure::Failed(format!(
                "{} at {:#04x}: {e}",
                self.config.chip, self.config.address
            ))
        })
    }

    /// One read; updates the slot and schedules the next attempt.
    fn attempt(
        &mut self,
        slot: &Mutex<Slot>,
        schedule: Schedule,
        open: &mut dyn FnMut(&str) -> io::Result<B>,
        delay: &mut SleepDelay,
        missing_buses_logged: &mut Vec<String>,
    ) {
        let result = self.read(open, delay);
        let now = Instant::now();
        let name = &self.config.name;
        match result {
            Ok(reading) => {
                let mut slot = lock(slot);
                slot.last = Some((reading, now));
                if self.failing || !matches!(slot.status, SensorStatus::Found(_)) {
                    slot.status = SensorStatus::Found(self.driver.describe());
                }
                if self.failing {
                    super::log(
                        Level::Notice,
                        format_args!(
                            "i2c {name}: reading again ({} failed reads so far)",
                            slot.errors
                        ),
                    );
                }
                self.failing = false;
                self.backoff = None;
                self.due = now + schedule.interval;
                return;
            }
            Err(Failure::BusMissing(why)) => {
                if !missing_buses_logged.contains(&self.config.bus) {
                    super::log(
                        Level::Warning,
                        format_args!("i2c: {why}; its sensors are skipped until it appears"),
                    );
                    missing_buses_logged.push(self.config.bus.clone());
                }
                lock(slot).status = SensorStatus::Missing(why);
            }
            Err(Failure::Failed(why)) => {
                self.bus = None;
                self.driver.reset();
                let mut slot = lock(slot);
                slot.errors += 1;
                if !self.failing {
                    let retry = self.backoff.unwrap_or(schedule.retry_min);
                    super::log(
                        Level::Warning,
                        format_args!("i2c {name}: {why}; retrying in {retry:?}, then less often"),
                    );
                }
                slot.status = SensorStatus::Missing(why);
                self.failing = true;
            }
        }
        let backoff = self.backoff.unwrap_or(schedule.retry_min);
        self.due = now + backoff;
        self.backoff = Some((backoff * 2).min(schedule.retry_max));
    }
}

/// The thread: read what is due, sleep until the next one is due or until stopped.
fn run<B, O>(shared: &Shared, mut tasks: Vec<Task<B>>, schedule: Schedule, mut open: O)
where
    B: I2c,
    B::Error: core::fmt::Display,
    O: FnMut(&str) -> io::Result<B>,
{
    let mut delay = SleepDelay;
    let mut missing_buses_logged = Vec::new();
    loop {
        for (task, slot) in tasks.iter_mut().zip(shared.slots.iter()) {
            if lock(&shared.control).stop {
                return;
            }
            if task.due <= Instant::now() {
                task.attempt(
                    slot,
                    schedule,
                    &mut open,
                    &mut delay,
                    &mut missing_buses_logged,
                );
            }
        }
        let mut control = lock(&shared.control);
        if !control.first_pass_done {
            control.first_pass_done = true;
            shared.wake.notify_all();
        }
        let next_due = tasks.iter().map(|t| t.due).min();
        let wait = next_due.map_or(IDLE_WAIT, |due| {
            due.saturating_duration_since(Instant::now()).min(IDLE_WAIT)
        });
        let (control, _) = shared
            .wake
            .wait_timeout_while(control, wait, |c| !c.stop)
            .unwrap_or_else(PoisonError::into_inner);
        if control.stop {
            return;
        }
    }
}
