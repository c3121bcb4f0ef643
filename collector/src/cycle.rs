//! One collection cycle: sources, sensors and the collector's own figures → frames.
//!
//! A [`Collector`] owns what a cycle reads ([`Sources`], [`Sensors`]) and the resend
//! [`Ring`]. [`Collector::cycle`] pushes, in this order, into one
//! [`FrameSink`](crate::frames::FrameSink) that writes straight into the ring:
//!
//! 1. every source (`/proc`, `/sys`), then every sensor and pin;
//! 2. the collector's own figures, unlabelled: `COLLECTOR_CYCLE_DURATION` (µs, of the
//!    previous cycle: reading, encoding and sending), `COLLECTOR_FRAMES_SENT`,
//!    `_RESENT`, `_DROPPED` (the ring's counters), then its process figures
//!    (`PROCESS_*`, [`OwnProcess`]);
//! 3. `COLLECTOR_SOURCE_ERRORS{source}` with node_exporter's
//!    `SCRAPE_COLLECTOR_DURATION`/`_SUCCESS` of this cycle for every present source,
//!    and the errors for `i2c` and `gpio` when sensors of that kind are configured.
//!
//! The parts wait in the ring, sealed, until the caller sends them
//! ([`Ring::send_unsent`]). Nothing here allocates once the collector is built.

use std::time::Duration;

use pimon_protocol::catalog::id;
use pimon_protocol::{Key, Value};

use crate::frames::{CycleHeader, CycleReport, encode_cycle};
use crate::log::{self, RateLimit};
use crate::own_process::OwnProcess;
use crate::ring::Ring;
use crate::sensors::{Sensors, SensorsConfig};
use crate::sink::SampleSink;
use crate::source::{MetricGroup, Sources, SourcesConfig};

/// Cycles per block of the resend ring (a key cycle stored whole, then followers stored
/// as differences from it: `ring` module docs). 16 keeps a Pi 4's cycle in about a
/// third of its wire bytes; longer blocks save little more and leave the ring in
/// larger steps when it overflows.
pub const RING_CYCLES_PER_BLOCK: u8 = 16;
use crate::sys::ZeroedPages;

/// The `docs/METRICS.md` section of the collector's own figures.
pub const OWN_METRICS: MetricGroup = MetricGroup {
    title: "Collector self-metrics",
    from: "the collector's own figures, in every cycle: the previous cycle's duration, the resend ring's counters, failed reads per source (label `source`), and node_exporter's scrape figures per source (label `collector`: how long the source took this cycle, and 1 when it failed nothing).",
    prefixes: &["pimon_collector_", "node_scrape_collector_"],
};

/// What a [`Collector`] needs besides its sources.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Node name (1..=32 bytes).
    pub node: String,
    /// Random id of this run.
    pub boot_id: u64,
    /// Collection interval in milliseconds (carried in every frame).
    pub interval_ms: u32,
    /// The node's USER_HZ.
    pub user_hz: u16,
    /// MAC key, if frames are authenticated.
    pub key: Option<Key>,
    /// Resend ring size in bytes.
    pub ring_bytes: usize,
}

/// Sources, sensors and the resend ring; see the module docs.
pub struct Collector {
    config: CollectorConfig,
    sources: Sources,
    sources_config: SourcesConfig,
    sensors: Sensors,
    sensors_config: SensorsConfig,
    ring: Ring<ZeroedPages>,
    own_process: OwnProcess,
    last_duration_us: u64,
    lost_values: u64,
    lost_log: RateLimit,
}

impl Collector {
    /// Opens the sources and sensors and maps the ring ([`ZeroedPages`]: zeroed lazily by
    /// the kernel, so untouched ring pages cost no memory, whatever the libc's `calloc`
    /// does).
    ///
    /// A `ring_bytes` below [`MIN_RING_BYTES`](crate::ring::MIN_RING_BYTES) is raised
    /// to it (the config refuses those anyway).
    pub fn new(
        config: CollectorConfig,
        sources_config: &SourcesConfig,
        sensors_config: &SensorsConfig,
    ) -> Collector {
        Collector::with_parts(
            config,
            Sources::open(sources_config),
            sources_config.clone(),
            Sensors::start(sensors_config),
            sensors_config.clone(),
        )
    }

    /// A collector over already opened sources and sensors (tests use fake GPIO lines).
    pub fn with_parts(
        config: CollectorConfig,
        sources: Sources,
        sources_config: SourcesConfig,
        sensors: Sensors,
        sensors_config: SensorsConfig,
    ) -> Collector {
        let bytes = config
            .ring_bytes
            .clamp(crate::ring::MIN_RING_BYTES, u32::MAX as usize);
        let ring = match Ring::new(ZeroedPages::new(bytes)) {
            Some(r) => r.with_compaction(RING_CYCLES_PER_BLOCK),
            None => unreachable_ring(),
        };
        Collector {
            config,
            sources,
            sources_config,
            sensors,
            sensors_config,
            ring,
            own_process: OwnProcess::open(crate::clock::wall_ms()),
            last_duration_us: 0,
            lost_values: 0,
            lost_log: RateLimit::new(Duration::from_secs(300)),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &CollectorConfig {
        &self.config
    }

    /// The resend ring.
    pub fn ring(&self) -> &Ring<ZeroedPages> {
        &self.ring
    }

    /// The resend ring, to send, ack and resend.
    pub fn ring_mut(&mut self) -> &mut Ring<ZeroedPages> {
        &mut self.ring
    }

    /// The sources (for `--check` reports and error counts).
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// The sensors (for `--check` reports).
    pub fn sensors_mut(&mut self) -> &mut Sensors {
        &mut self.sensors
    }

    /// Samples dropped because a cycle did not fit the ring (see
    /// [`CycleReport::lost_values`]), since start.
    pub fn lost_values(&self) -> u64 {
        self.lost_values
    }

    /// Records how long the last cycle took (sent with the next cycle).
    pub fn record_duration(&mut self, d: Duration) {
        self.last_duration_us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    }

    /// Replaces the MAC key (SIGHUP).
    pub fn set_key(&mut self, key: Option<Key>) {
        self.config.key = key;
    }

    /// The interval carried in frames.
    pub fn interval_ms(&self) -> u32 {
        self.config.interval_ms
    }

    /// Changes the interval carried in frames (SIGHUP).
    pub fn set_interval_ms(&mut self, interval_ms: u32) {
        self.config.interval_ms = interval_ms;
    }

    /// Reopens the sources if their configuration changed (SIGHUP).
    pub fn reconfigure_sources(&mut self, config: &SourcesConfig) {
        if *config != self.sources_config {
            self.sources = Sources::open(config);
            self.sources_config = config.clone();
            log::notice!("sources reopened with the new configuration");
        }
    }

    /// Restarts the sensors if their configuration changed (SIGHUP).
    pub fn reconfigure_sensors(&mut self, config: &SensorsConfig) {
        if *config != self.sensors_config {
            // reload releases the old GPIO lines before requesting them again.
            self.sensors.reload(config);
            self.sensors_config = config.clone();
            log::notice!("sensors restarted with the new configuration");
        }
    }

    /// Waits (at most `timeout`) for background readers' first values (1-wire, I2C).
    pub fn settle(&self, timeout: Duration) -> bool {
        self.sources.settle(timeout)
    }

    /// Collects one cycle into the ring, stamped `timestamp_ms` (Unix milliseconds).
    /// The parts are sealed and wait as unsent datagrams.
    pub fn cycle(&mut self, timestamp_ms: u64) -> CycleReport {
        let header = CycleHeader {
            node: &self.config.node,
            boot_id: self.config.boot_id,
            timestamp_ms,
            interval_ms: self.config.interval_ms,
            user_hz: self.config.user_hz,
        };
        let stats = self.ring.stats();
        let own = OwnFigures {
            cycle_duration_us: self.last_duration_us,
            frames_sent: stats.sent,
            frames_resent: stats.resent,
            frames_dropped: stats.dropped,
            values_dropped: self.lost_values,
        };
        let sources = &mut self.sources;
        let sensors = &mut self.sensors;
        let sensors_config = &self.sensors_config;
        let own_process = &mut self.own_process;
        let report = encode_cycle(&mut self.ring, &header, self.config.key.as_ref(), |sink| {
            sources.collect(sink);
            sensors.collect(sink);
            own.push(sink);
            own_process.push(sink);
            sources.push_error_counters(sink);
            if !sensors_config.i2c.is_empty() {
                sink.labels(&["i2c"]);
                sink.push(
                    id::COLLECTOR_SOURCE_ERRORS,
                    Value::Unsigned(sensors.i2c_errors()),
                );
            }
            if !sensors_config.gpio.is_empty() {
                sink.labels(&["gpio"]);
                sink.push(
                    id::COLLECTOR_SOURCE_ERRORS,
                    Value::Unsigned(sensors.gpio_errors()),
                );
            }
        });
        if report.lost_values > 0 {
            self.lost_values += u64::from(report.lost_values);
            if let Some(suppressed) = self.lost_log.check(std::time::Instant::now()) {
                log::warning!(
                    "cycle did not fit: {} values dropped ({} parts written; ring {} bytes, \
                     {} label errors; {suppressed} similar not logged)",
                    report.lost_values,
                    report.parts,
                    self.ring.capacity(),
                    report.label_errors
                );
            }
        }
        report
    }
}

#[cold]
fn unreachable_ring() -> ! {
    // `with_parts` clamps the size to what Ring::new accepts.
    panic!("resend ring size out of range")
}

/// The collector's own figures, pushed with every cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnFigures {
    /// Duration of the previous cycle in microseconds.
    pub cycle_duration_us: u64,
    /// Frames sent (first sends).
    pub frames_sent: u64,
    /// Frames resent.
    pub frames_resent: u64,
    /// Frames dropped from the ring unacked.
    pub frames_dropped: u64,
    /// Samples not sent because a cycle did not fit (see [`CycleReport::lost_values`]).
    pub values_dropped: u64,
}

impl OwnFigures {
    /// Pushes the figures, unlabelled, in ascending id order.
    pub fn push(&self, sink: &mut dyn SampleSink) {
        sink.labels(&[]);
        sink.push(
            id::COLLECTOR_CYCLE_DURATION,
            Value::Unsigned(self.cycle_duration_us),
        );
        sink.push(id::COLLECTOR_FRAMES_SENT, Value::Unsigned(self.frames_sent));
        sink.push(
            id::COLLECTOR_FRAMES_RESENT,
            Value::Unsigned(self.frames_resent),
        );
        sink.push(
            id::COLLECTOR_FRAMES_DROPPED,
            Value::Unsigned(self.frames_dropped),
        );
        sink.push(
            id::COLLECTOR_VALUES_DROPPED,
            Value::Unsigned(self.values_dropped),
        );
    }
}
