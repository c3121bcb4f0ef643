//! pimon-aggregator library (work in progress).

pub mod http_client;
pub mod influx;
pub mod spool;
