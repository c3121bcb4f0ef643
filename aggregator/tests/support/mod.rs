//! Test support shared by the aggregator's integration tests. Include it from any
//! `aggregator/tests/*.rs` with `mod support;`.
//!
//! - [`servers`]: start the **real** servers from Debian's packages on 127.0.0.1, on an
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
//! - [`peers`]: the real peers of the inputs (issue 13), same rules:
//!   [`peers::Pushgateway`] (`prometheus-pushgateway`), [`peers::NodeExporter`]
//!   (`prometheus-node-exporter`), [`peers::Collectd`] (`collectd-core`, sending with
//!   its `network` plugin and writing its `csv` plugin's files), [`peers::Nginx`]
//!   (`nginx-light`, the TLS reverse proxy of `deploy/nginx/`).
//! - [`fake_http`]: a tiny recording HTTP server on 127.0.0.1:0 with scripted
//!   responses, for asserting exact request bytes.
//! - [`http`]: blocking GET/POST helpers for tests (over the crate's own HTTP client).
//!
//! Each test file uses only part of this, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod fake_http;
pub mod http;
pub mod peers;
pub mod servers;
