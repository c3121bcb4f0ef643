//! collectd's binary network protocol in: OpenWrt routers and old installs that run
//! collectd send to `--collectd-udp ADDR` as to a collectd server (`<Server>` in its
//! `network` plugin), with `SecurityLevel` none, sign or encrypt and an `AuthFile`.
//!
//! - [`packet`]: parts and value lists; [`crypto`]: signatures and encryption;
//!   [`authfile`]: the users; [`typesdb`]: data-source names of types.
//! - [`mapping`]: the common plugins (cpu, memory, load, interface, disk, df,
//!   thermal, uptime, wireless, conntrack) onto the catalog's rows, so a collectd
//!   host is a node like a pimon node (node_exporter names on `/metrics`, Telegraf's
//!   in InfluxDB); everything else under `collectd_…` as collectd's `write_prometheus`
//!   names it (InfluxDB: the `<plugin>_<ds>` measurements of InfluxDB's collectd
//!   input).
//! - [`listener`]: the UDP socket task.

pub mod authfile;
pub mod crypto;
pub mod listener;
pub mod mapping;
pub mod packet;
pub mod typesdb;
