//! # pimon-e2e: end-to-end tests
//!
//! Helpers shared by the tests in `e2e/tests/`; the test index is `e2e/README.md`, the
//! guarantees the fault tests prove are `docs/RELIABILITY.md`. Everything here runs
//! **real binaries**: the release `pimon-collector` and `pimon-aggregator` built for
//! this machine, the static Raspberry Pi builds of `scripts/build-pi` under
//! `qemu-user-static`, and Debian's `prometheus` and `influxd` (through the
//! aggregator's real-server harness). All of it on loopback, bounded in time, and every
//! process is killed (every mount unmounted) when its handle drops, also when a test
//! panics.
//!
//! Running things:
//! - [`binaries`]: where the binaries are (`PIMON_HOST_BIN_DIR`, `PIMON_PI_BIN_DIR`, set
//!   by `scripts/test-e2e`), and how to launch one: directly or under qemu with the
//!   oldest CPU of its target. A missing variable or binary fails the test and says how
//!   to build it; nothing is skipped.
//! - [`process`]: a child process whose output goes to files, killed on drop; signals;
//!   its memory and open files.
//! - [`pimon`]: aggregators (restartable on the same ports, spool and file) and
//!   collectors (stopped with SIGTERM, their closing line read).
//! - [`fleet`]: several collectors on the fixture trees; the end-of-scenario checks.
//! - [`scenario`]: aggregator + chaos proxy + fleet started together, stopped and
//!   checked together: the stage of the fault tests.
//! - [`support`]: the `pimon-test-support` crate (real Prometheus, InfluxDB, HTTP
//!   helpers), shared with the aggregator's tests.
//!
//! Faults:
//! - [`chaos`]: the UDP chaos proxy between collectors and aggregator (drop, duplicate,
//!   reorder, delay, per direction, seeded, logged, counted).
//! - [`clock`]: a collector's fake wall clock. [`mounts`]: small and read-only
//!   filesystems. [`forge`]: hostile senders. [`spool`]: damaging a spool record.
//! - [`rng`]: the seeded generator (`PIMON_E2E_SEED`). [`wait`]: bounded polling.
//!
//! Counting what arrived:
//! - [`ledger`]: every frame the collectors sent, as the proxy saw it.
//! - [`arrival`]: the `--lp-out` file and InfluxDB against the ledger, cycle by cycle.
//! - [`scrape`]: `/metrics` counters of both sides.
//! - [`expect`]: what a fixture tree must produce, computed from the fixture's files
//!   (not copied from a run), and the check of `/metrics` and line protocol against it.
//! - [`exposition`]: strict parsers of the aggregator's Prometheus text and line
//!   protocol (the latter with the `influxdb-line-protocol` crate as oracle), from
//!   `pimon-test-support`.
//! - [`tree`]: copies of fixture trees whose counters grow while a collector reads them.
//! - [`grafana`]: what Grafana does to a dashboard's queries (panels and rows, builder
//!   targets to InfluxQL, variable options and their regexes, Prometheus `label_values`
//!   variables, interpolation) and whether Prometheus returns data for one.
//!
//! The long run: [`soak`].

pub mod arrival;
pub mod binaries;
// System calls std does not wrap (socket options, sendmmsg, poll, kill, rlimits),
// each with a `// SAFETY:` comment.
#[allow(unsafe_code)]
pub mod chaos;
pub mod clock;
pub mod expect;
pub mod fleet;
// System calls std does not wrap (socket options, sendmmsg, poll, kill, rlimits),
// each with a `// SAFETY:` comment.
#[allow(unsafe_code)]
pub mod forge;
pub mod grafana;
pub mod ledger;
pub mod mounts;
pub mod pimon;
// System calls std does not wrap (socket options, sendmmsg, poll, kill, rlimits),
// each with a `// SAFETY:` comment.
#[allow(unsafe_code)]
pub mod process;
pub mod rng;
pub mod scenario;
pub mod scrape;
// System calls std does not wrap (socket options, sendmmsg, poll, kill, rlimits),
// each with a `// SAFETY:` comment.
#[allow(unsafe_code)]
pub mod soak;
pub mod spool;
pub mod tree;
pub mod wait;

pub use pimon_test_support as support;
pub use pimon_test_support::exposition;

use std::path::PathBuf;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ has a parent")
        .to_path_buf()
}

/// A fixture tree of the collector's tests: `collector/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    pimon_test_support::fixtures::tree(name)
}

/// A duration as the collector's `--interval` spells it: `100ms`, `10s`, `1m`.
pub fn cli_duration(s: &str) -> std::time::Duration {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or_else(|| panic!("{s:?}: no unit"));
    let n: u64 = s[..split]
        .parse()
        .unwrap_or_else(|_| panic!("{s:?}: no number"));
    match &s[split..] {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n * 60),
        "h" => std::time::Duration::from_secs(n * 3600),
        u => panic!("{s:?}: unknown unit {u:?}"),
    }
}
