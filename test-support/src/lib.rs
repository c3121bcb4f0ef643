//! # pimon-test-support: test code that lives once
//!
//! Shared by the integration tests of the collector and the aggregator, the benchmarks
//! and the end-to-end crate (`publish = false`, a dev-dependency only: no binary links
//! it).
//!
//! - [`alloc`]: a counting global allocator (allocations, bytes, live and peak heap,
//!   per-thread counts) for the zero-allocation proofs and memory measurements.
//! - [`fixtures`]: the path of a fixture tree of the collector's (`pi4`, `pizero`, `x86`).
//! - [`exposition`]: strict parsers of Prometheus text (0.0.4) and InfluxDB line
//!   protocol, and the structure rules of a whole exposition.
//! - [`servers`] (feature `servers`, like the three below): start the **real** servers from Debian's packages on 127.0.0.1, on an
//!   ephemeral free port, with their data in a temp dir, wait until they answer, and
//!   kill them when the handle is dropped:
//!   - [`servers::Influxd`] — `influxd` 1.x from the `influxdb` package
//!     (`/usr/bin/influxd`); v1 `/write`, `/query`;
//!   - [`servers::Prometheus`] — `prometheus` from `prometheus` (`/usr/bin/prometheus`),
//!     scraping the targets you give with `honor_labels: true` every second; plus
//!     [`servers::promtool_check_metrics`] (`/usr/bin/promtool`);
//!   - [`servers::VictoriaMetrics`] — `victoria-metrics` from `victoria-metrics`
//!     (`/usr/bin/victoria-metrics`); Influx `/write` and `/api/v2/write`, export/query.
//!
//!   A server that cannot start makes the test **fail** (panic) with the reason: binary
//!   missing (and which apt package provides it), port in use, or the tail of its log.
//!   Never a silent pass. Install them with
//!   `apt-get install -y influxdb prometheus victoria-metrics`.
//! - [`peers`]: the real peers of the aggregator's inputs, same rules:
//!   [`peers::Pushgateway`] (`prometheus-pushgateway`), [`peers::NodeExporter`]
//!   (`prometheus-node-exporter`), [`peers::Collectd`] (`collectd-core`, sending with
//!   its `network` plugin and writing its `csv` plugin's files), [`peers::Nginx`]
//!   (`nginx-light`, the TLS reverse proxy of `deploy/nginx/`).
//! - [`fake_http`]: a tiny recording HTTP server on 127.0.0.1:0 with scripted
//!   responses, for asserting exact request bytes.
//! - [`http`]: blocking GET/POST helpers for tests (over the aggregator's HTTP client).

pub mod alloc;
pub mod exposition;
#[cfg(feature = "servers")]
pub mod fake_http;
pub mod fixtures;
#[cfg(feature = "servers")]
pub mod http;
#[cfg(feature = "servers")]
pub mod peers;
#[cfg(feature = "servers")]
pub mod servers;
