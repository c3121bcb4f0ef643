//! # pimon-aggregator
//!
//! The server of pimon: receives collector frames over UDP, verifies, de-duplicates and
//! acks them, keeps the latest value of every series in a bounded store, serves it to
//! Prometheus on `/metrics`, and hands every stored frame as InfluxDB line protocol to
//! the configured outputs.
//!
//! Modules, from the wire inwards:
//! - [`udp`]: listening sockets (large receive buffer, kernel drop counter, batched
//!   receive).
//! - [`ingest`]: datagram → decision, pure and synchronous (decode, MAC, sequence
//!   window, store, lines, ack).
//! - [`evidence`]: which boot a frame belongs to, and when a frame may move a node's
//!   state (no stray packet silences a node).
//! - [`timeline`]: the time each stored frame gets (distinct, increasing, repeatable).
//! - [`node`], [`series`] (its [`stamps`]), [`store`]: per-node state and the bounded
//!   latest-value store.
//! - [`persist`]: node protocol state on disk (snapshot + journal), kept across restarts.
//! - [`keys`]: the key file.
//! - [`lines`]: a frame as Telegraf-style line protocol; [`telegraf`]: what Telegraf
//!   computes from the same numbers (`usage_*`, `used_percent`, the `swap` line…).
//! - [`influx`], [`spool`], [`http_client`]: where lines go: InfluxDB 1.x/2.x through a
//!   durable spool, and the `--lp-out` file or stdout; [`remote_write`]: Prometheus
//!   remote write receivers through the same kind of spool; [`delivery`]: the spool
//!   reading, batching, retries and shutdown both kinds of output share.
//! - [`prom`], [`http`]: the `/metrics` exposition and the HTTP server; [`status`]: the
//!   status page (`/`, `/node/<name>`, `/api/nodes`).
//! - [`ingress`]: the other inputs: Pushgateway pushes, scraped exporters, collectd.
//! - [`config`]: TOML file and command line.
//! - [`server`]: ties it together: [`server::run`].
//! - [`stats`]: the aggregator's own counters ([`atomic`]: 64-bit on every target);
//!   [`rejects`]: rate-limited log lines for rejected datagrams; [`ack_limit`]: acks that
//!   confirm nothing new, per destination.

pub mod ack_limit;
pub mod atomic;
pub mod config;
pub mod delivery;
pub mod evidence;
pub mod http;
pub mod http_client;
pub mod influx;
pub mod ingest;
pub mod ingress;
pub mod keys;
pub mod lines;
pub mod log;
pub mod node;
pub mod persist;
pub mod prom;
pub mod rejects;
pub mod remote_write;
pub mod render;
pub mod self_lines;
pub mod self_metrics;
pub mod series;
pub mod server;
pub mod spool;
pub mod stamps;
pub mod stats;
pub mod status;
pub mod store;
pub mod telegraf;
pub mod timeline;
pub mod udp;
pub mod window;
