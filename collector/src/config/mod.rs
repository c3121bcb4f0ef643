//! Settings: command-line flags over the config file over the defaults, and the key file.
//!
//! ## Config file (`--config PATH`)
//!
//! `key = value` lines and `[sections]`: the syntax and every key, with an example that
//! `tests/config_doc.rs` parses, are in `docs/CONFIG.md` ("The collector's config
//! file"). Flags win over the file, the file over the defaults.
//!
//! ## Key file (`--key-file PATH`)
//!
//! One line `KEY_ID SECRET` (`#` comments and blank lines ignored): `KEY_ID` is 0–255
//! and must match the aggregator's key file; `SECRET` is 1–32 bytes written `hex:…`,
//! `base64:…`, or bare (hex when it is an even number of hex digits, otherwise base64),
//! the same spelling as the aggregator's key file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pimon_protocol::{Key, MAX_NODE_NAME};

use crate::cli::{self, Flags, PrintFormat};
use crate::failover::AggregatorAddr;
use crate::gateway;
use crate::ring::MIN_RING_BYTES;
use crate::sensors::SensorsConfig;
use crate::source::SourcesConfig;

mod file;
mod key;
mod sections;

pub use file::{ConfigFile, Entry};
pub use key::{decode_secret, load_key_file, parse_key_file};
pub use sections::{kmsg_config, sensors_config, sources_config};

/// Default `--ring-bytes`: 30 minutes of frames of a Raspberry Pi 4 at the default 10 s
/// interval, with room to spare. Measured on `tests/fixtures/pi4` with a key: one cycle
/// is about 600 values (node_exporter's hwmon info, netstat, sockstat, vmstat, softnet,
/// conntrack, netclass, uname, os-release, timex and cpufreq series included; uname and
/// os-release carry their strings as labels every cycle) in 3 datagrams of about 3330 bytes.
/// The ring keeps cycles as differences from a key cycle (`ring` module docs): with
/// every /proc counter of that node changing every cycle, 180 cycles take about
/// 232 900 bytes of ring (39 % of their wire bytes; a quiet node much less), so
/// 288 KiB holds about 228 cycles (38 minutes) of such a busy Pi 4; a node whose
/// cycles shared nothing would get about 86 (14 minutes). The ring's pages cost memory
/// only once written (an outage). `tests/cycle_pi4.rs` checks that it holds 180
/// cycles of the busy Pi 4.
pub const DEFAULT_RING_BYTES: usize = 288 * 1024;

/// Largest accepted `cgroup_max` (a slot costs up to 512 bytes of labels and a dozen
/// open files).
pub const MAX_CGROUPS: usize = 4096;

/// Longest accepted `--interval` (the wire carries it as u32 milliseconds; a day is
/// plenty).
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// A problem in a config or key file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, when the problem is in one.
    pub path: Option<PathBuf>,
    /// 1-based line number (0: the file as a whole, or a flag).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl ConfigError {
    fn at(line: usize, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            path: None,
            line,
            problem: problem.into(),
        }
    }

    fn in_file(mut self, path: &Path) -> ConfigError {
        self.path = Some(path.to_path_buf());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.line) {
            (Some(p), 0) => write!(f, "{}: {}", p.display(), self.problem),
            (Some(p), l) => write!(f, "{}:{l}: {}", p.display(), self.problem),
            (None, 0) => f.write_str(&self.problem),
            (None, l) => write!(f, "line {l}: {}", self.problem),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The default node name: the host name up to its first dot, cut to 32 bytes.
pub fn default_node_name() -> String {
    let host = crate::sys::hostname().unwrap_or_else(|| "localhost".to_string());
    node_name_from_host(&host)
}

/// `host` up to its first dot, cut to [`MAX_NODE_NAME`] bytes on a character boundary.
pub fn node_name_from_host(host: &str) -> String {
    let short = host
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(host);
    let mut end = short.len().min(MAX_NODE_NAME);
    while !short.is_char_boundary(end) {
        end -= 1;
    }
    if end == 0 {
        "localhost".to_string()
    } else {
        short[..end].to_string()
    }
}

/// The aggregators of `--aggregator` flags or the config file's `aggregator`: each a
/// `HOST:PORT` or a comma list of them, in order; at least one.
pub fn aggregator_list<'a>(
    given: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<AggregatorAddr>, String> {
    let mut list = Vec::new();
    for spec in given.into_iter().flat_map(|g| g.split(',')) {
        let spec = spec.trim();
        check_aggregator(spec)?;
        if list.iter().any(|a: &AggregatorAddr| a.spec == spec) {
            return Err(format!("{spec:?} is listed twice"));
        }
        list.push(AggregatorAddr::named(spec));
    }
    if list.is_empty() {
        return Err("no HOST:PORT given".into());
    }
    Ok(list)
}

/// Checks `HOST:PORT` syntax (resolution happens later, in `net`).
pub fn check_aggregator(spec: &str) -> Result<(), String> {
    let (host, port) = spec
        .rsplit_once(':')
        .ok_or_else(|| format!("{spec:?} is not HOST:PORT (for example 192.168.1.1:9797)"))?;
    if host.is_empty() {
        return Err(format!("{spec:?}: missing host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{spec:?}: write an IPv6 address in brackets, [::1]:9797"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "{spec:?}: port {port:?} is not a number from 1 to 65535"
        )),
    }
}

/// Everything the collector runs with, after merging.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The aggregators, in order of preference (failover list; see
    /// [`crate::failover`]).
    pub aggregators: Vec<AggregatorAddr>,
    /// How they were chosen, for `--check` and the start line.
    pub aggregator_origin: String,
    /// Node name (1..=32 bytes).
    pub node: String,
    /// Root of `/proc` and `/sys`.
    pub root: PathBuf,
    /// Collection interval.
    pub interval: Duration,
    /// Stop after this many cycles.
    pub cycles: Option<u64>,
    /// MAC key.
    pub key: Option<Key>,
    /// Where the key came from (for `--check` and reload).
    pub key_file: Option<PathBuf>,
    /// The config file, if any (reloaded on SIGHUP).
    pub config_file: Option<PathBuf>,
    /// Resend ring size.
    pub ring_bytes: usize,
    /// Wait for acks on exit.
    pub linger: Duration,
    /// Print instead of sending.
    pub print: Option<PrintFormat>,
    /// `--check`.
    pub check: bool,
    /// `-v`.
    pub verbose: bool,
    /// What the sources read (root and `[filters]`).
    pub sources: SourcesConfig,
    /// The configured sensors and pins.
    pub sensors: SensorsConfig,
}

impl Settings {
    /// Merges `flags` over the config file they name (if any) over the defaults, and
    /// loads the key file.
    pub fn load(flags: &Flags) -> Result<Settings, ConfigError> {
        let file = match &flags.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        // Errors with a line number but no file come from the config file's content.
        Settings::merge(flags, file).map_err(|e| match (&flags.config, &e.path) {
            (Some(path), None) if e.line > 0 => e.in_file(path),
            _ => e,
        })
    }

    /// Merges `flags` over `file` over the defaults and loads the key file.
    pub fn merge(flags: &Flags, file: ConfigFile) -> Result<Settings, ConfigError> {
        let flag_err = |flag: &str, p: String| ConfigError::at(0, format!("--{flag}: {p}"));
        let root = flags
            .root
            .clone()
            .or(file.root)
            .unwrap_or_else(|| PathBuf::from("/"));
        let (aggregators, aggregator_origin) = if !flags.aggregator.is_empty() {
            let list = aggregator_list(flags.aggregator.iter().map(String::as_str))
                .map_err(|p| flag_err("aggregator", p))?;
            (list, "given with --aggregator".to_string())
        } else if let Some(a) = &file.aggregator {
            let list = aggregator_list([a.as_str()]).map_err(|p| flag_err("aggregator", p))?;
            (list, "from the config file".to_string())
        } else {
            let c = gateway::default_aggregator(&root);
            let addr = AggregatorAddr {
                spec: c.spec,
                addr: Some(c.addr),
            };
            (vec![addr], c.why)
        };
        let node = match flags.node.clone().or(file.node) {
            Some(n) => n,
            None => default_node_name(),
        };
        if pimon_protocol::node_name_error(&node).is_some() {
            return Err(flag_err(
                "node",
                format!("{node:?} must be 1 to {MAX_NODE_NAME} bytes without control characters"),
            ));
        }
        let interval = flags
            .interval
            .or(file.interval)
            .unwrap_or(cli::DEFAULT_INTERVAL);
        if interval < Duration::from_millis(1) || interval > MAX_INTERVAL {
            return Err(flag_err("interval", "must be from 1ms to 24h".into()));
        }
        let ring_bytes = flags
            .ring_bytes
            .or(file.ring_bytes)
            .unwrap_or(DEFAULT_RING_BYTES);
        if ring_bytes < MIN_RING_BYTES || u32::try_from(ring_bytes).is_err() {
            return Err(flag_err(
                "ring-bytes",
                format!("{ring_bytes} is outside {MIN_RING_BYTES} bytes to 4 GiB"),
            ));
        }
        let linger = flags.linger.or(file.linger).unwrap_or(cli::DEFAULT_LINGER);
        let key_file = flags.key_file.clone().or(file.key_file);
        let key = match (&key_file, file.key) {
            (Some(path), _) => Some(load_key_file(path)?),
            (None, key) => key,
        };
        let mut sources = sources_config(&root, &file.filters)?;
        if sources.processes_every == 0 {
            sources.processes_every = crate::source::processes_every_for(interval);
        }
        kmsg_config(&mut sources, &file.kmsg_lines)?;
        let sensors = sensors_config(&file.sensor_lines)?;
        // One staleness rule for every sensor read in the background.
        sources.w1_stale_after = sensors.stale_after;
        Ok(Settings {
            aggregators,
            aggregator_origin,
            node,
            root,
            interval,
            cycles: flags.cycles,
            key,
            key_file,
            config_file: flags.config.clone(),
            ring_bytes,
            linger,
            print: flags.print,
            check: flags.check,
            verbose: flags.verbose,
            sources,
            sensors,
        })
    }

    /// The interval in milliseconds, as the wire carries it.
    pub fn interval_ms(&self) -> u32 {
        u32::try_from(self.interval.as_millis()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests;
