//! A collector on the Raspberry Pi 4 fixture tree (`collector/tests/fixtures/pi4`), set up
//! as the shipped binary would be (keyed, default sources and filters), for the cycle
//! benchmarks (`benches/collector_cycle.rs`, `src/bin/cycle_once.rs`).

use std::path::PathBuf;
use std::time::Duration;

use pimon_collector::cycle::{Collector, CollectorConfig};
use pimon_collector::sensors::SensorsConfig;
use pimon_collector::source::SourcesConfig;
use pimon_protocol::{Ack, Key};

/// `collector/tests/fixtures/pi4` in this checkout.
pub fn fixture_root() -> PathBuf {
    crate::fleet::fixture_root("pi4")
}

/// The key the benches use (id 7, 32 bytes): every frame carries a MAC, as in production.
pub fn key() -> Key {
    Key::new(7, b"0123456789abcdef0123456789abcdef").expect("a 32-byte key")
}

/// Node name in the frames: Raspberry Pi OS's default hostname.
pub const NODE: &str = "raspberrypi";

/// A keyed collector on `root` with the default sources, a 1 MiB ring and a 10 s
/// interval; waits (at most 3 s) for the 1-wire background reader's first value.
pub fn collector(root: PathBuf) -> Collector {
    let config = CollectorConfig {
        node: NODE.into(),
        boot_id: 0x5eed_b007,
        interval_ms: 10_000,
        user_hz: 100,
        key: Some(key()),
        ring_bytes: 1 << 20,
    };
    let sources = SourcesConfig {
        root,
        ..SourcesConfig::default()
    };
    let c = Collector::new(config, &sources, &SensorsConfig::default());
    c.settle(Duration::from_secs(3));
    c
}

/// Marks everything sent so far as stored, as the aggregator's ack would, so the ring
/// stays short (steady state with a healthy aggregator). Allocation-free.
pub fn ack_all(c: &mut Collector, now_ms: u64) {
    let next = c.ring().next_seq();
    let ack = Ack {
        node: NODE,
        boot_id: c.config().boot_id,
        acked_below: next,
        seen_below: next,
        gaps: Default::default(),
        key_id: None,
    };
    c.ring_mut().apply_ack(&ack, now_ms);
}
