//! Settings: command-line flags over the config file over the defaults, and the key file.
//!
//! ## Config file (`--config PATH`)
//!
//! ```text
//! # /etc/pimon/collector.conf: `key = value`, `#` comments, optional "quotes"
//! aggregator = router.lan:9797     # or a failover list: a.lan:9797, b.lan:9797
//! node = pi-kitchen
//! interval = 10s
//! key_file = /etc/pimon/key        # or a [key] section, below
//! ring_bytes = 1M
//! linger = 5s
//! root = /
//!
//! # Sensors (lines handed to the sensor module; see docs/SENSORS.md)
//! i2c = bme280 /dev/i2c-1 0x76 garden
//! gpio = /dev/gpiochip0 17 door active_low
//!
//! [filters]                        # what the sources read
//! netdev_exclude = docker0 veth*   # names, or prefixes ending in `*` (netdev and netclass)
//! diskstats_include = mmcblk0 sda  # an include list replaces node_exporter's defaults
//! mountpoint_exclude = /boot*
//! fstype_defaults = false          # drop node_exporter's default fs-type exclusion
//! disable = w1 iio                 # sources not to read (names as in --check)
//! enable = interrupts              # opt-in sources to read (node_exporter's opt-in ones)
//! statvfs_timeout = 1s             # a hung mount is skipped after this
//! processes_every = 1              # scan /proc/[pid] every N cycles
//! rediscover = 60s                 # look for sensors that came or went (0s: never)
//! cgroup_namespace_exclude = kube-system   # Kubernetes namespaces (pods, containers)
//! cgroup_unit_include = nginx.service k3s*  # systemd services
//! cgroup_name_exclude = pause*     # container names (Kubernetes, Docker, Podman)
//! cgroup_max = 256                 # workloads tracked; more are counted, logged once
//! cgroup_rediscover = 30s          # how often new and gone workloads are looked for
//! cgroup_every = 1                 # read the workloads every N cycles
//!
//! i2c_interval = 10s               # sensor timing ([sensors] or top level)
//!
//! [kmsg]                           # kernel log events (docs/METRICS.md, "Kernel log")
//! rule = nvme_timeout facility=kern nvme {device}: I/O * timeout*
//! rule = "- *brcmf_* error*"       # `-` drops; quote a rule that holds `#`
//! max_series = 64                  # (event, device) pairs counted apart
//!
//! [key]                            # the key inline instead of key_file
//! id = 1
//! secret = hex:00112233445566778899aabbccddeeff
//! ```
//!
//! Keys are case-insensitive and `-` equals `_` (`ring-bytes` = `ring_bytes`). Any key
//! of the top level may also be written in a `[collector]` section. Sensor lines
//! (`i2c`, `gpio`, `i2c_interval`, `i2c_retry_min`, `i2c_retry_max`, `stale_after`) may
//! be in the top level or a `[sensors]` section. `[filters]` lists are separated by
//! spaces or commas; `*_defaults` take `true`/`false`. Every error names the file, the line and the problem;
//! a file with an error is refused whole (on SIGHUP the running settings stay).
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

use pimon_protocol::auth::MAX_KEY_LEN;
use pimon_protocol::{Key, MAX_NODE_NAME};

use crate::cli::{self, Flags, PrintFormat};
use crate::failover::AggregatorAddr;
use crate::gateway;
use crate::parse::log_rule::Rule;
use crate::ring::MIN_RING_BYTES;
use crate::sensors::{self, SensorsConfig};
use crate::source::{NameLists, SourceKind, SourcesConfig};

/// Default `--ring-bytes`: 30 minutes of frames of a Raspberry Pi 4 at the default 10 s
/// interval, with room to spare. Measured on `tests/fixtures/pi4` with a key: one cycle
/// is 599 values (node_exporter's hwmon info, netstat, sockstat, vmstat, softnet,
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

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The key, lower case, `-` replaced by `_`.
    pub key: String,
    /// The value, trimmed, quotes removed.
    pub value: String,
}

/// What a config file says (each field `None`/empty when the file does not set it).
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// `aggregator`.
    pub aggregator: Option<String>,
    /// `node`.
    pub node: Option<String>,
    /// `root`.
    pub root: Option<PathBuf>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `key_file`.
    pub key_file: Option<PathBuf>,
    /// `[key]` section.
    pub key: Option<Key>,
    /// `ring_bytes`.
    pub ring_bytes: Option<usize>,
    /// `linger`.
    pub linger: Option<Duration>,
    /// `[filters]` lines, for the sources.
    pub filters: Vec<Entry>,
    /// `i2c…`/`gpio…` lines, for the sensor module, in file order.
    pub sensor_lines: Vec<Entry>,
    /// `[kmsg]` lines, for the kernel log source, in file order.
    pub kmsg_lines: Vec<Entry>,
}

const TOP_KEYS: &str =
    "aggregator, node, root, interval, key_file, ring_bytes, linger, and the sensor keys";
const SENSOR_KEYS: &str = "i2c, gpio, i2c_interval, i2c_retry_min, i2c_retry_max, stale_after";

fn is_sensor_key(k: &str) -> bool {
    matches!(
        k,
        "i2c" | "gpio" | "i2c_interval" | "i2c_retry_min" | "i2c_retry_max" | "stale_after"
    )
}

/// Splits `line` into content and comment: `#` starts a comment outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn unquote(v: &str) -> Result<&str, &'static str> {
    match v.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or("unterminated quote"),
        None if v.contains('"') => Err("a quote in the middle of a value"),
        None => Ok(v),
    }
}

impl ConfigFile {
    /// Parses config file text.
    pub fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        let mut cfg = ConfigFile::default();
        let mut section = String::new();
        let mut key_id: Option<(usize, u8)> = None;
        let mut key_secret: Option<(usize, Vec<u8>)> = None;
        let mut key_line = 0;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| ConfigError::at(n, "section header without closing `]`"))?
                    .trim()
                    .to_ascii_lowercase();
                match name.as_str() {
                    "collector" | "filters" | "sensors" | "kmsg" => {}
                    "key" => key_line = n,
                    _ => {
                        return Err(ConfigError::at(
                            n,
                            format!(
                                "unknown section [{name}] (known: [collector], [filters], [key], [kmsg], [sensors])"
                            ),
                        ));
                    }
                }
                section = name;
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| {
                ConfigError::at(n, format!("expected `key = value`, found {line:?}"))
            })?;
            let key = k.trim().to_ascii_lowercase().replace('-', "_");
            if key.is_empty() {
                return Err(ConfigError::at(n, "missing key before `=`"));
            }
            let value = unquote(v.trim())
                .map_err(|p| ConfigError::at(n, p))?
                .to_string();
            let entry = Entry {
                line: n,
                key,
                value,
            };
            match section.as_str() {
                "" | "collector" => cfg.top_level(entry)?,
                "sensors" => cfg.sensor_line(entry)?,
                "filters" => cfg.filters.push(entry),
                "kmsg" => cfg.kmsg_lines.push(entry),
                "key" => match entry.key.as_str() {
                    "id" => {
                        key_id = Some((
                            n,
                            parse_key_id(&entry.value).map_err(|p| ConfigError::at(n, p))?,
                        ))
                    }
                    "secret" => {
                        key_secret = Some((
                            n,
                            decode_secret(&entry.value)
                                .map_err(|p| ConfigError::at(n, p))?
                                .to_vec(),
                        ))
                    }
                    other => {
                        return Err(ConfigError::at(
                            n,
                            format!("unknown key {other:?} in [key] (known: id, secret)"),
                        ));
                    }
                },
                // Section names are checked when the header is read.
                _ => {}
            }
        }
        match (key_id, key_secret) {
            (None, None) => {}
            (Some((_, id)), Some((n, secret))) => cfg.key = Some(make_key(n, id, &secret)?),
            (None, Some(_)) => return Err(ConfigError::at(key_line, "[key] needs `id`")),
            (Some(_), None) => return Err(ConfigError::at(key_line, "[key] needs `secret`")),
        }
        if cfg.key.is_some() && cfg.key_file.is_some() {
            return Err(ConfigError::at(
                key_line,
                "both key_file and a [key] section: use one",
            ));
        }
        Ok(cfg)
    }

    fn sensor_line(&mut self, e: Entry) -> Result<(), ConfigError> {
        if is_sensor_key(&e.key) {
            self.sensor_lines.push(e);
            Ok(())
        } else {
            Err(ConfigError::at(
                e.line,
                format!(
                    "unknown key {:?} in [sensors] (known: {SENSOR_KEYS})",
                    e.key
                ),
            ))
        }
    }

    fn top_level(&mut self, e: Entry) -> Result<(), ConfigError> {
        let n = e.line;
        let bad = |p: String| ConfigError::at(n, format!("{}: {p}", e.key));
        match e.key.as_str() {
            "aggregator" => self.aggregator = Some(e.value.clone()),
            "node" => self.node = Some(e.value.clone()),
            "root" => self.root = Some(PathBuf::from(&e.value)),
            "interval" => self.interval = Some(cli::parse_duration(&e.value).map_err(bad)?),
            "key_file" => self.key_file = Some(PathBuf::from(&e.value)),
            "ring_bytes" => self.ring_bytes = Some(cli::parse_bytes(&e.value).map_err(bad)?),
            "linger" => self.linger = Some(cli::parse_duration(&e.value).map_err(bad)?),
            k if is_sensor_key(k) => self.sensor_lines.push(e),
            k => {
                return Err(ConfigError::at(
                    n,
                    format!("unknown key {k:?} (known: {TOP_KEYS})"),
                ));
            }
        }
        Ok(())
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::at(0, format!("cannot read: {e}")).in_file(path))?;
        ConfigFile::parse(&text).map_err(|e| e.in_file(path))
    }
}

fn parse_key_id(s: &str) -> Result<u8, String> {
    s.parse()
        .map_err(|_| format!("key id {s:?} is not a number from 0 to 255"))
}

fn make_key(line: usize, id: u8, secret: &[u8]) -> Result<Key, ConfigError> {
    Key::new(id, secret).ok_or_else(|| {
        ConfigError::at(
            line,
            format!(
                "secret must be 1 to {MAX_KEY_LEN} bytes, is {}",
                secret.len()
            ),
        )
    })
}

/// Parses key file text: one `KEY_ID SECRET` line.
///
/// ```
/// let key = pimon_collector::config::parse_key_file("# pi\n3 hex:00ff\n").unwrap();
/// assert_eq!(key.id(), 3);
/// ```
pub fn parse_key_file(text: &str) -> Result<Key, ConfigError> {
    let mut found: Option<(usize, Key)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, secret] = fields[..] else {
            return Err(ConfigError::at(
                n,
                format!("expected `KEY_ID SECRET`, found {} field(s)", fields.len()),
            ));
        };
        if let Some((first, _)) = found {
            return Err(ConfigError::at(
                n,
                format!("a second key (the first is on line {first}); the collector uses one"),
            ));
        }
        let id = parse_key_id(id).map_err(|p| ConfigError::at(n, p))?;
        let secret =
            decode_secret(secret).map_err(|p| ConfigError::at(n, format!("secret: {p}")))?;
        found = Some((n, make_key(n, id, &secret)?));
    }
    found
        .map(|(_, k)| k)
        .ok_or_else(|| ConfigError::at(0, "no key in the file (expected a `KEY_ID SECRET` line)"))
}

/// Secrets are decoded exactly as the aggregator does it (one implementation, in the
/// protocol crate).
pub use pimon_protocol::auth::decode_secret;

/// Reads and parses a key file.
pub fn load_key_file(path: &Path) -> Result<Key, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::at(0, format!("cannot read: {e}")).in_file(path))?;
    parse_key_file(&text).map_err(|e| e.in_file(path))
}

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

/// Words of a list value: separated by spaces or commas.
fn list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn boolean(e: &Entry) -> Result<bool, ConfigError> {
    match e.value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        v => Err(ConfigError::at(
            e.line,
            format!("{}: {v:?} is not true or false", e.key),
        )),
    }
}

/// The sources' configuration: `root` and the `[filters]` lines.
pub fn sources_config(root: &Path, filters: &[Entry]) -> Result<SourcesConfig, ConfigError> {
    let mut cfg = SourcesConfig {
        root: root.to_path_buf(),
        ..SourcesConfig::default()
    };
    for e in filters {
        let (what, op) = e.key.rsplit_once('_').unwrap_or((e.key.as_str(), ""));
        let lists: Option<&mut NameLists> = match what {
            "netdev" => Some(&mut cfg.net_devices),
            "diskstats" => Some(&mut cfg.disk_devices),
            "mountpoint" => Some(&mut cfg.mount_points),
            "fstype" => Some(&mut cfg.fs_types),
            "cgroup_namespace" => Some(&mut cfg.cgroup.namespaces),
            "cgroup_unit" => Some(&mut cfg.cgroup.units),
            "cgroup_name" => Some(&mut cfg.cgroup.names),
            _ => None,
        };
        match (lists, op) {
            (Some(l), "include") => l.include = list(&e.value),
            (Some(l), "exclude") => l.exclude = list(&e.value),
            (Some(l), "defaults") => l.defaults = boolean(e)?,
            _ => match e.key.as_str() {
                key @ ("disable" | "enable") => {
                    for name in list(&e.value) {
                        let kind = SourceKind::from_name(&name).ok_or_else(|| {
                            let known: Vec<&str> =
                                SourceKind::ALL.iter().map(|k| k.name()).collect();
                            ConfigError::at(
                                e.line,
                                format!(
                                    "{key}: unknown source {name:?} (known: {})",
                                    known.join(", ")
                                ),
                            )
                        })?;
                        if key == "enable" {
                            cfg.sources.insert(kind);
                        } else {
                            cfg.sources.remove(kind);
                        }
                    }
                }
                "statvfs_timeout" => {
                    cfg.statvfs_timeout = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("statvfs_timeout: {p}")))?;
                }
                "processes_every" => {
                    cfg.processes_every = match e.value.parse::<u32>() {
                        Ok(n @ 1..=60) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!(
                                    "processes_every: {:?} is not a number from 1 to 60",
                                    e.value
                                ),
                            ));
                        }
                    }
                }
                "cgroup_max" => {
                    cfg.cgroup.max = match e.value.parse::<usize>() {
                        Ok(n) if (1..=MAX_CGROUPS).contains(&n) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!(
                                    "cgroup_max: {:?} is not a number from 1 to {MAX_CGROUPS}",
                                    e.value
                                ),
                            ));
                        }
                    };
                }
                "cgroup_every" => {
                    cfg.cgroup.every = match e.value.parse::<u32>() {
                        Ok(n) if (1..=60).contains(&n) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!("cgroup_every: {:?} is not a number from 1 to 60", e.value),
                            ));
                        }
                    };
                }
                "cgroup_rediscover" => {
                    cfg.cgroup.rediscover = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("cgroup_rediscover: {p}")))?;
                }
                "rediscover" => {
                    cfg.rediscover = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("rediscover: {p}")))?;
                }
                k => {
                    return Err(ConfigError::at(
                        e.line,
                        format!(
                            "unknown key {k:?} in [filters] (known: {{netdev,diskstats,mountpoint,fstype}}_{{include,exclude,defaults}}, cgroup_{{namespace,unit,name}}_{{include,exclude}}, cgroup_max, cgroup_rediscover, cgroup_every, disable, enable, statvfs_timeout, rediscover, processes_every)"
                        ),
                    ));
                }
            },
        }
    }
    Ok(cfg)
}

/// Adds the `[kmsg]` lines to the sources' configuration: `rule = …` (each checked
/// here, so a bad rule names its line) and `max_series = N`.
pub fn kmsg_config(cfg: &mut SourcesConfig, lines: &[Entry]) -> Result<(), ConfigError> {
    for e in lines {
        let at = |p: String| ConfigError::at(e.line, p);
        match e.key.as_str() {
            "rule" => {
                Rule::parse(&e.value).map_err(|p| at(format!("rule: {p}")))?;
                cfg.kmsg_rules.push(e.value.clone());
            }
            "max_series" => {
                cfg.kmsg_max_series = match e.value.parse::<usize>() {
                    Ok(n @ 1..=4096) => n,
                    _ => return Err(at(format!("max_series: {:?} is not 1 to 4096", e.value))),
                }
            }
            k => {
                return Err(at(format!(
                    "unknown key {k:?} in [kmsg] (known: rule, max_series)"
                )));
            }
        }
    }
    Ok(())
}

/// The sensors' configuration from the sensor lines, in file order.
pub fn sensors_config(lines: &[Entry]) -> Result<SensorsConfig, ConfigError> {
    let mut cfg = SensorsConfig::default();
    for e in lines {
        let at = |p: String| ConfigError::at(e.line, p);
        let duration = || cli::parse_duration(&e.value).map_err(|p| at(format!("{}: {p}", e.key)));
        match e.key.as_str() {
            "i2c" => cfg
                .add_i2c(sensors::parse_i2c_line(&e.value).map_err(at)?)
                .map_err(at)?,
            "gpio" => cfg
                .add_gpio(sensors::parse_gpio_line(&e.value).map_err(at)?)
                .map_err(at)?,
            "i2c_interval" => cfg.i2c_interval = duration()?,
            "i2c_retry_min" => cfg.i2c_retry_min = duration()?,
            "i2c_retry_max" => cfg.i2c_retry_max = duration()?,
            "stale_after" => cfg.stale_after = duration()?,
            k => {
                return Err(at(format!(
                    "unknown sensor key {k:?} (known: {SENSOR_KEYS})"
                )));
            }
        }
    }
    Ok(cfg)
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
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, String) {
        let e = ConfigFile::parse(text).unwrap_err();
        (e.line, e.problem)
    }

    #[test]
    fn parses_every_key_and_section() {
        let cfg = ConfigFile::parse(
            "# comment\naggregator = \"router.lan:9797\"  # trailing\nNode = pi\nroot=/host\n\
             interval = 1m\nring-bytes = 2M\nlinger = 0s\ni2c = bme280 /dev/i2c-1 0x76 garden\n\
             [filters]\nnetdev_exclude = lo\n[sensors]\ngpio = /dev/gpiochip0 17 door\n\
             [key]\nid = 4\nsecret = base64:AAE=\n",
        )
        .unwrap();
        assert_eq!(cfg.aggregator.as_deref(), Some("router.lan:9797"));
        assert_eq!(cfg.node.as_deref(), Some("pi"));
        assert_eq!(cfg.root, Some(PathBuf::from("/host")));
        assert_eq!(cfg.interval, Some(Duration::from_secs(60)));
        assert_eq!(cfg.ring_bytes, Some(2 << 20));
        assert_eq!(cfg.linger, Some(Duration::ZERO));
        assert_eq!(cfg.key.as_ref().map(Key::id), Some(4));
        assert_eq!(cfg.filters.len(), 1);
        assert_eq!(
            (cfg.filters[0].line, cfg.filters[0].value.as_str()),
            (10, "lo")
        );
        let sensors: Vec<(usize, &str)> = cfg
            .sensor_lines
            .iter()
            .map(|e| (e.line, e.key.as_str()))
            .collect();
        assert_eq!(sensors, [(8, "i2c"), (12, "gpio")]);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(err("node = pi\nintervall = 10s\n").0, 2);
        assert!(
            err("intervall = 10s")
                .1
                .contains("unknown key \"intervall\"")
        );
        assert_eq!(
            err("\n\ninterval = 10\n"),
            (
                3,
                "interval: \"10\" needs a unit: ms, s, m or h (for example 10s)".into()
            )
        );
        assert_eq!(err("[sensor garden]\n").0, 1);
        assert!(err("[filters\n").1.contains("closing"));
        assert!(err("just words\n").1.contains("key = value"));
        assert_eq!(err("node = \"pi\n").1, "unterminated quote");
        assert_eq!(err("[key]\nid = 1\n"), (1, "[key] needs `secret`".into()));
        assert_eq!(err("[key]\nid = 300\n").0, 2);
        assert!(err("[key]\nid = 1\nsecret = hex:\n").1.contains("hex"));
        assert!(
            err("[key]\nid=1\nsecret=hex:00\nkey_file=/k\n")
                .1
                .contains("unknown key")
        );
        assert!(
            err("key_file=/k\n[key]\nid=1\nsecret=hex:00\n")
                .1
                .contains("both")
        );
    }

    #[test]
    fn key_file_formats() {
        assert_eq!(parse_key_file("1 hex:00ff\n").unwrap().id(), 1);
        assert_eq!(
            parse_key_file("  # c\n\n255 c2VjcmV0   # base64\n")
                .unwrap()
                .id(),
            255
        );
        assert_eq!(parse_key_file("0 0011").unwrap().id(), 0);
        let long = format!("1 hex:{}", "00".repeat(33));
        assert!(
            parse_key_file(&long)
                .unwrap_err()
                .problem
                .contains("1 to 32 bytes")
        );
        let e = parse_key_file("1 hex:00\n2 hex:01\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            parse_key_file("pi 1 hex:00\n")
                .unwrap_err()
                .problem
                .contains("KEY_ID SECRET")
        );
        assert!(parse_key_file("# nothing\n").is_err());
        assert_eq!(decode_secret("hex:6b6579").unwrap().as_slice(), b"key");
        assert_eq!(decode_secret("a2V5").unwrap().as_slice(), b"key");
        assert_eq!(decode_secret("base64:a2V5").unwrap().as_slice(), b"key");
    }

    #[test]
    fn merge_flags_over_file_over_defaults() {
        let file = ConfigFile::parse("node = from-file\ninterval = 1m\n").unwrap();
        let flags = Flags {
            interval: Some(Duration::from_secs(5)),
            ..Flags::default()
        };
        let s = Settings::merge(&flags, file).unwrap();
        assert_eq!(s.node, "from-file");
        assert_eq!(s.interval, Duration::from_secs(5));
        // The root "/" of this machine: the aggregator is its default gateway or, without
        // a default route, 127.0.0.1:9797; either way it was not given.
        assert_eq!(s.aggregators.len(), 1);
        assert!(s.aggregator_origin.contains("no --aggregator given"));
        assert_eq!(s.ring_bytes, DEFAULT_RING_BYTES);
        assert_eq!(s.linger, cli::DEFAULT_LINGER);
        assert_eq!(s.root, PathBuf::from("/"));
        let bad = |f: Flags| {
            Settings::merge(&f, ConfigFile::default())
                .unwrap_err()
                .problem
        };
        assert!(
            bad(Flags {
                node: Some("x".repeat(33)),
                ..Flags::default()
            })
            .contains("--node")
        );
        assert!(
            bad(Flags {
                aggregator: vec!["host".into()],
                ..Flags::default()
            })
            .contains("HOST:PORT")
        );
        assert!(
            bad(Flags {
                aggregator: vec!["::1:9797".into()],
                ..Flags::default()
            })
            .contains("brackets")
        );
        assert!(
            bad(Flags {
                aggregator: vec!["a:1".into(), "b:2,a:1".into()],
                ..Flags::default()
            })
            .contains("twice")
        );
        assert!(
            bad(Flags {
                ring_bytes: Some(100),
                ..Flags::default()
            })
            .contains("--ring-bytes")
        );
        assert!(
            bad(Flags {
                interval: Some(Duration::ZERO),
                ..Flags::default()
            })
            .contains("--interval")
        );
        assert!(check_aggregator("[::1]:9797").is_ok());
    }

    #[test]
    fn opt_in_sources_run_only_when_enabled() {
        let merged = |text: &str| {
            Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap())
                .unwrap()
                .sources
                .sources
        };
        let defaults = merged("");
        assert!(!defaults.contains(SourceKind::Interrupts));
        assert!(defaults.contains(SourceKind::Processes));
        let enabled = merged("[filters]\nenable = interrupts\n");
        assert!(enabled.contains(SourceKind::Interrupts));
        assert!(enabled.contains(SourceKind::Stat));
        let err = ConfigFile::parse("[filters]\nenable = irq\n")
            .and_then(|f| Settings::merge(&Flags::default(), f).map(drop));
        assert!(
            format!("{err:?}").contains("enable: unknown source"),
            "{err:?}"
        );
    }

    #[test]
    fn filters_and_sensors_reach_their_configs() {
        let file = ConfigFile::parse(
            "i2c = bme280 /dev/i2c-1 0x76 garden\n[sensors]\ni2c_interval = 30s\n\
             gpio = /dev/gpiochip0 17 door active_low\nstale_after = 2m\n\
             [filters]\nnetdev_exclude = docker0, veth*\ndiskstats_include = mmcblk0\n\
             fstype_defaults = no\ndisable = w1 iio\nstatvfs_timeout = 250ms\n\
             rediscover = 5m\nprocesses_every = 6\n",
        )
        .unwrap();
        let flags = Flags {
            root: Some("/host".into()),
            ..Flags::default()
        };
        let s = Settings::merge(&flags, file).unwrap();
        assert_eq!(s.sources.root, PathBuf::from("/host"));
        assert_eq!(s.sources.net_devices.exclude, ["docker0", "veth*"]);
        assert_eq!(s.sources.disk_devices.include, ["mmcblk0"]);
        assert!(!s.sources.fs_types.defaults);
        assert!(!s.sources.sources.contains(SourceKind::W1));
        assert!(!s.sources.sources.contains(SourceKind::Iio));
        assert!(s.sources.sources.contains(SourceKind::Stat));
        assert_eq!(s.sources.statvfs_timeout, Duration::from_millis(250));
        assert_eq!(s.sources.processes_every, 6);
        assert_eq!(s.sources.rediscover, Duration::from_secs(300));
        assert_eq!(
            s.sources.w1_stale_after,
            Duration::from_secs(120),
            "stale_after applies to 1-wire too"
        );
        assert_eq!(s.sensors.i2c.len(), 1);
        assert_eq!(s.sensors.gpio.len(), 1);
        assert_eq!(s.sensors.i2c_interval, Duration::from_secs(30));
        let bad = |text: &str| {
            Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap()).unwrap_err()
        };
        let e = bad("[filters]\n\ndisable = wifi\n");
        assert_eq!(e.line, 3);
        assert!(e.problem.contains("unknown source \"wifi\""), "{e}");
        assert_eq!(bad("[filters]\nnetdev_defaults = maybe\n").line, 2);
        assert_eq!(bad("[filters]\nnetdev_sideways = x\n").line, 2);
        assert_eq!(bad("[filters]\nprocesses_every = 0\n").line, 2);
        let e = bad("node = x\ni2c = bme999 /dev/i2c-1 0x76 a\n");
        assert_eq!(e.line, 2, "{e}");
        let e = bad("i2c = bme280 /dev/i2c-1 0x76 a\ni2c = bme280 /dev/i2c-1 0x77 a\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn kmsg_rules_reach_the_sources_and_bad_ones_name_their_line() {
        let file = ConfigFile::parse(
            "[kmsg]\nrule = nvme_timeout facility=kern nvme {device}: I/O * timeout*\n\
             rule = \"- *brcmf_* error #2*\"\nmax_series = 8\n",
        )
        .unwrap();
        let s = Settings::merge(&Flags::default(), file).unwrap();
        assert_eq!(
            s.sources.kmsg_rules,
            [
                "nvme_timeout facility=kern nvme {device}: I/O * timeout*",
                "- *brcmf_* error #2*"
            ]
        );
        assert_eq!(s.sources.kmsg_max_series, 8);
        let bad = |text: &str| {
            Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap()).unwrap_err()
        };
        let e = bad("[kmsg]\n\nrule = Bad {device}\n");
        assert_eq!(e.line, 3);
        assert!(e.problem.starts_with("rule: event names"), "{e}");
        let e = bad("[kmsg]\nrule = e {dev}\n");
        assert!(e.problem.contains("{device}"), "{e}");
        assert_eq!(bad("[kmsg]\nmax_series = 0\n").line, 2);
        assert!(bad("[kmsg]\nregex = x\n").problem.contains("unknown key"));
    }

    #[test]
    fn node_names_from_hosts() {
        assert_eq!(node_name_from_host("pi4.lan"), "pi4");
        assert_eq!(node_name_from_host(&"é".repeat(40)).len(), 32);
        assert_eq!(node_name_from_host(".weird"), ".weird");
        assert!(!default_node_name().is_empty());
    }
}
