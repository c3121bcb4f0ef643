//! Configuration: a TOML file (every option) and command-line flags (the common ones;
//! a flag overrides the file). Errors name the key (and for TOML syntax, the line) and
//! the problem. See [`HELP`] for the full list, and `--check-config`.
//!
//! The module is split along its seams: `file.rs` is the TOML schema and its parsing,
//! `flags.rs` the command line and `--help`, `outputs.rs` the InfluxDB and remote write
//! outputs' sections, `check.rs` the `--check-config` description. What they share (the
//! validated [`Config`], errors, value parsers and [`validate`]) is here.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pimon_protocol::text::influx::Precision;
use serde::Deserialize;

use crate::http::HttpConfig;
use crate::influx::{InfluxConfig, LpFileConfig, LpTarget};
use crate::ingest::IngestConfig;
use crate::ingress::config::{self as ingress_config, IngressConfig};
use crate::remote_write::RemoteWriteConfig;
use crate::spool::{FsyncPolicy, SpoolFullPolicy};
use crate::store::{Limits, Staleness};

mod check;
mod durations;
mod file;
mod flags;
mod outputs;
mod sizes;
#[cfg(test)]
mod tests;

// The parts see each other's items through here (and `use super::*` in each).
#[allow(unused_imports)]
use {check::*, durations::*, file::*, flags::*, outputs::*, sizes::*};

pub use check::describe;
pub(crate) use durations::{AliasUnit, DurationText, duration_key};
pub use file::{load_file, parse_toml};
pub use flags::{HELP, parse_args};
pub use outputs::{
    DEFAULT_REMOTE_WRITE_SPOOL_DIR, DEFAULT_SPOOL_DIR, default_remote_write_spool_dir,
};
pub(crate) use sizes::{SizeText, size_key, usize_of};

/// The complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// UDP listen addresses.
    pub udp: Vec<SocketAddr>,
    /// SO_RCVBUF wanted.
    pub udp_receive_buffer: usize,
    /// Datagrams read per wake-up.
    pub udp_batch: usize,
    /// HTTP listen address (`None`: no HTTP server).
    pub http: Option<SocketAddr>,
    /// HTTP server settings.
    pub http_config: HttpConfig,
    /// Span of the status page's sparklines.
    pub status_history: Duration,
    /// Key file.
    pub key_file: Option<PathBuf>,
    /// Ingest settings.
    pub ingest: IngestConfig,
    /// Store limits.
    pub limits: Limits,
    /// Staleness.
    pub staleness: Staleness,
    /// `--lp-out`.
    pub lp_out: Option<LpFileConfig>,
    /// InfluxDB outputs.
    pub influx: Vec<InfluxConfig>,
    /// Prometheus remote write outputs.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Pushes, scrapes, collectd ([`crate::ingress`]).
    pub ingress: IngressConfig,
    /// Where node protocol state is kept across restarts.
    pub state_dir: StateDir,
    /// The most detailed log level written (`--log-level`, `log_level`).
    pub log_level: crate::log::Level,
}

/// Where node protocol state is kept across restarts (see [`crate::persist`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StateDir {
    /// Next to the first InfluxDB output's spool (`SPOOL_DIR.state`); none without an
    /// InfluxDB output.
    #[default]
    NextToSpool,
    /// Not kept.
    Off,
    /// This directory.
    Dir(PathBuf),
}

impl StateDir {
    fn parse(s: &str) -> StateDir {
        if s == "off" {
            StateDir::Off
        } else {
            StateDir::Dir(PathBuf::from(s))
        }
    }
}

impl Config {
    /// The state directory in effect, if any.
    pub fn state_path(&self) -> Option<PathBuf> {
        match &self.state_dir {
            StateDir::Off => None,
            StateDir::Dir(d) => Some(d.clone()),
            StateDir::NextToSpool => self.influx.first().map(|o| {
                let mut name = o.spool.dir.clone().into_os_string();
                name.push(".state");
                PathBuf::from(name)
            }),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            udp: vec![SocketAddr::from(([0, 0, 0, 0], 9797))],
            udp_receive_buffer: 4 * 1024 * 1024,
            udp_batch: 64,
            http: Some(SocketAddr::from(([127, 0, 0, 1], 9798))),
            http_config: HttpConfig::default(),
            status_history: crate::status::DEFAULT_HISTORY,
            key_file: None,
            ingest: IngestConfig::default(),
            limits: Limits::default(),
            staleness: Staleness::default(),
            lp_out: None,
            influx: Vec::new(),
            remote_write: Vec::new(),
            ingress: IngressConfig::default(),
            state_dir: StateDir::NextToSpool,
            log_level: crate::log::Level::Info,
        }
    }
}

/// A configuration error: where (key or flag, maybe file and line) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`limits.max_nodes`), flag (`--udp`) or file at fault.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(key: impl Into<String>, problem: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        key: key.into(),
        problem: problem.into(),
    })
}

/// What the command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// Run with this configuration.
    Run(Box<Config>),
    /// Check the configuration, print it, exit.
    Check(Box<Config>),
    /// Print help.
    Help,
    /// Print the version.
    Version,
}

fn parse_addr(key: &str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().or_else(|_| {
        err(
            key,
            format!("{s:?} is not an address like 0.0.0.0:9797 or [::]:9797"),
        )
    })
}

fn positive<T: PartialOrd + Default + Copy>(key: &str, v: T) -> Result<T, ConfigError> {
    if v > T::default() {
        Ok(v)
    } else {
        err(key, "must be greater than 0")
    }
}

fn parse_fsync(key: &str, s: &str) -> Result<FsyncPolicy, ConfigError> {
    match s {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        _ => match parse_duration(s) {
            Some(d) if !d.is_zero() => Ok(FsyncPolicy::Interval(d)),
            _ => err(
                key,
                format!("{s:?}: expected always, never, or an interval like \"1s\" or \"500ms\""),
            ),
        },
    }
}

/// A log level word: `error`, `warning`, `notice`, `info`, `debug`.
fn parse_log_level(key: &str, s: &str) -> Result<crate::log::Level, ConfigError> {
    crate::log::Level::parse(s).map_or_else(
        || {
            err(
                key,
                format!("{s:?}: expected error, warning, notice, info or debug"),
            )
        },
        Ok,
    )
}

/// A duration in the grammar both binaries share ([`pimon_protocol::duration`]:
/// `500ms`, `2s`, `1m`, `2h`).
fn parse_duration(s: &str) -> Option<Duration> {
    pimon_protocol::duration::parse_duration(s).ok()
}

fn parse_when_full(key: &str, w: &str) -> Result<SpoolFullPolicy, ConfigError> {
    match w {
        "drop_oldest" => Ok(SpoolFullPolicy::DropOldest),
        "refuse_new" => Ok(SpoolFullPolicy::RefuseNew),
        _ => err(key, format!("{w:?}: expected drop_oldest or refuse_new")),
    }
}

fn parse_precision(key: &str, s: &str) -> Result<Precision, ConfigError> {
    Precision::parse(s).map_or_else(|| err(key, format!("{s:?}: expected ns, us, ms or s")), Ok)
}

/// Checks combinations of settings.
pub fn validate(c: &Config) -> Result<(), ConfigError> {
    if c.udp.is_empty() {
        return err("udp.listen", "needs at least one address");
    }
    if c.ingest.refuse_unknown_nodes && c.key_file.is_none() {
        return err(
            "auth.refuse_unknown_nodes",
            "needs auth.key_file (--key-file): the nodes are the ones named there",
        );
    }
    ingress_config::validate(&c.ingress, c.http)?;
    let mut names = std::collections::HashSet::new();
    let mut dirs = std::collections::HashSet::new();
    for (i, o) in c.influx.iter().enumerate() {
        if !names.insert(o.name.clone()) {
            return err(
                format!("influx[{i}].name"),
                format!("{:?} is used twice", o.name),
            );
        }
        if !dirs.insert(o.spool.dir.clone()) {
            return err(
                format!("influx[{i}].spool_dir"),
                "each output needs its own spool directory",
            );
        }
    }
    let mut rw_names = std::collections::HashSet::new();
    for (i, o) in c.remote_write.iter().enumerate() {
        if !rw_names.insert(o.name.clone()) {
            return err(
                format!("remote_write[{i}].name"),
                format!("{:?} is used twice", o.name),
            );
        }
        if !dirs.insert(o.spool.dir.clone()) {
            return err(
                format!("remote_write[{i}].spool_dir"),
                "each output needs its own spool directory",
            );
        }
    }
    Ok(())
}

/// The `--version` line.
pub fn version_line() -> String {
    format!(
        "pimon-aggregator {} ({}, git {})",
        env!("CARGO_PKG_VERSION"),
        env!("PIMON_TARGET"),
        env!("PIMON_GIT_COMMIT")
    )
}
