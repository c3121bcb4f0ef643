//! Inputs besides pimon's own frames: what the fleet already speaks.
//!
//! - Pushgateway-compatible pushes on the `--http` listener ([`push`]),
//! - scraped Prometheus exporters (`[[scrape]]`, [`scrape`]),
//! - collectd's binary network protocol (`--collectd-udp`, [`collectd`]).
//!
//! Pushed and scraped series have names, types and labels pimon's catalog does not
//! know; they live in a separate bounded table of *groups* ([`groups`]), rendered on
//! `/metrics` after the catalog families and written to the outputs as line protocol
//! ([`lines`]) through the same submit path as frames. collectd values of the common
//! plugins land on catalog rows of a node named after the collectd host, like a pimon
//! node; the rest become groups too.
//!
//! The layers: pure parsers ([`expo`], [`pushpath`], `collectd::packet`), the
//! Pushgateway's semantics over the group table ([`groups`]), and thin async shells
//! (HTTP handler, scrape loop, UDP listener) that the server wires in.

pub mod collectd;
pub mod config;
pub mod expo;
pub mod gofmt;
pub mod groups;
pub mod http_body;
pub mod lines;
pub mod protobuf;
pub mod push;
pub mod pushpath;
pub mod runtime;
pub mod scrape;
pub mod stats;
pub mod tasks;
