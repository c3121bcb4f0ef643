//! Configuration: a TOML file (every option) and command-line flags (the common ones;
//! a flag overrides the file). Errors name the key (and for TOML syntax, the line) and
//! the problem. See [`HELP`] for the full list, and `--check-config`.

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

/// `--help` text.
pub const HELP: &str = "\
pimon-aggregator: receives pimon collector frames over UDP, acks them, serves the latest
values to Prometheus on /metrics and writes every frame as InfluxDB line protocol.

USAGE:
    pimon-aggregator [OPTIONS]

OPTIONS (a flag overrides the same setting of --config):
    --config FILE              TOML configuration file (every option; see below)
    --udp ADDR                 UDP address to receive frames on; repeatable, IPv4 or IPv6
                               [default: 0.0.0.0:9797]; [::]:9797 receives IPv4 and IPv6
    --udp-receive-buffer BYTES socket receive buffer [default: 4194304]; the kernel caps it
                               at net.core.rmem_max (raise with sysctl -w
                               net.core.rmem_max=8388608)
    --http ADDR|off            HTTP address for /metrics, the status page (/, /node/NAME,
                               /api/nodes) and pushes (with --push) [default:
                               127.0.0.1:9798]; use
                               --http 0.0.0.0:9798 to let a Prometheus on another host
                               scrape it (and phones on the LAN see the status page)
    --status-history DUR       span of the status page's sparklines, 60 points
                               [default: 1h]; e.g. 30m, 6h
    --key-file FILE            keys: one `node key_id secret` per line (`*` = any node);
                               with it, frames need a valid MAC. Re-read when it changes
                               and on SIGHUP
    --refuse-unknown-nodes     accept only nodes named in the key file
    --lp-out PATH|-            write line protocol to a file (appended, synced before frames
                               are acked) or stdout (-) or a pipe (best effort)
    --precision ns|us|ms|s     timestamp precision of line protocol [default: ns]
    --influx-url URL           write to InfluxDB at URL (http://host:8086)
    --influx-db DB             ... InfluxDB 1.x database (POST /write)
    --influx-org ORG           ... InfluxDB 2.x organisation (POST /api/v2/write)
    --influx-bucket BUCKET     ... InfluxDB 2.x bucket
    --influx-token TOKEN       ... InfluxDB 2.x token (prefer the config file)
    --spool-dir DIR            durable spool of that output [default: /var/lib/pimon/spool]
    --remote-write-url URL     write samples to a Prometheus remote write receiver
                               (http://vm:8428/api/v1/write, Mimir, Thanos, Prometheus with
                               --web.enable-remote-write-receiver); repeatable
    --remote-write-spool-dir DIR  durable spool of the Nth --remote-write-url, in order
                               [default: /var/lib/pimon/spool-remote-write, -1, -2, ...]
    --state-dir DIR|off        node protocol state (boot ids, windows, timelines), kept
                               across restarts [default: next to the first InfluxDB
                               spool, SPOOL_DIR.state; none without InfluxDB output]
    --max-nodes N              most nodes held [default: 10000]
    --max-new-nodes-per-address N
                               with the node table 90 % full, no more new nodes from an
                               address with N not yet established ones [default: 64]
    --max-series-per-node N    most series per node [default: 8000]
    --stale-intervals N        a node's series vanish after N missed intervals [default: 3]
    --max-clock-skew SECONDS   a frame timestamp further ahead (or a clock stepped back) gets
                               a substitute time, distinct and in the node's order
                               [default: 300]
    --push                     accept Pushgateway pushes (PUT/POST/DELETE /metrics/job/...)
                               on the --http listener; credentials in [push] (required
                               when the listener is not loopback)
    --collectd-udp ADDR        receive collectd's network protocol on ADDR (off by default;
                               collectd's port is 25826)
    --collectd-auth-file FILE  collectd AuthFile (`user: password` lines) for signed and
                               encrypted packets
    --collectd-security-level none|sign|encrypt
                               least security a collectd packet needs [default: none]
    --check-config             check the configuration, print it, and exit
    -h, --help                 this text
    -V, --version              version, target and commit

CONFIG FILE (TOML; every key optional, defaults shown):
    [udp]
    listen = [\"0.0.0.0:9797\"]        # addresses, IPv4 or IPv6
    receive_buffer_bytes = 4194304
    batch = 64                       # datagrams read per wake-up

    [http]
    listen = \"127.0.0.1:9798\"        # \"off\" disables
    max_connections = 64
    timeout_seconds = 10             # a whole request head; each piece of a response
    status_history_seconds = 3600    # span of the status page's sparklines (60 points)

    [auth]
    key_file = \"/etc/pimon/keys\"     # unset: no authentication
    refuse_unknown_nodes = false

    [limits]
    max_nodes = 10000                # new nodes beyond are refused (counted)
    max_series_per_node = 8000       # a busy k3s node with the cgroup source: ~3,700
    max_series_total = 4000000       # 10,000 Raspberry Pi 4 (285 each) fit
    max_new_nodes_per_address = 64  # when 90 % full: new nodes per address (IPv6: /64)

    [staleness]
    stale_intervals = 3              # series vanish after this many missed intervals
    stale_min_seconds = 30           # ... but never sooner
    forget_after_seconds = 86400     # node (and pimon_node_up) forgotten after this
    forget_new_after_seconds = 600   # ... for nodes not yet established (10 frames
                                     # over 5 min); when 90 % full, their stale time

    [clock]
    max_skew_seconds = 300           # frame ahead by more: a substitute time
    max_backfill_seconds = 604800    # frame older than this (a backlog): stored at a
                                     # substitute time from this bound on, distinct
                                     # and in the node's order

    [state]
    dir = \"/var/lib/pimon/state\"     # node protocol state; \"off\" disables; default:
                                     # SPOOL_DIR.state of the first [[influx]]

    [output]
    # lp_out = \"-\"                   # file path or - for stdout; default: none
    # lp_out_fsync = \"always\"        # with lp_out: a file's lines are written before
                                     # the ack and synced: always | never | an interval
                                     # like \"1s\" [default: always]
    precision = \"ns\"

    [[influx]]                       # any number of InfluxDB outputs
    name = \"influx\"
    url = \"http://127.0.0.1:8086\"
    db = \"pimon\"                     # 1.x: db (+ rp, user, password, basic_auth)
    # org = \"o\"  bucket = \"b\"  token = \"t\"   # 2.x instead of db
    spool_dir = \"/var/lib/pimon/spool\"   # each output needs its own
    spool_max_bytes = 268435456      # at least 1048576 (1 MiB)
    fsync = \"always\"                 # always | never | an interval like \"1s\"
    when_full = \"drop_oldest\"        # drop_oldest | refuse_new
    batch_max_bytes = 1048576
    batch_max_lines = 5000
    flush_interval_ms = 1000
    gzip = true
    timeout_seconds = 10

    [[remote_write]]                 # any number of Prometheus remote write outputs
    name = \"remote_write\"
    url = \"http://127.0.0.1:8428/api/v1/write\"
    external_labels = { site = \"home\" }   # added to every series
    headers = { X-Scope-OrgID = \"pimon\" }  # extra headers (not the reserved ones)
    # basic_auth_user = \"u\"  basic_auth_password = \"p\"  or  bearer_token = \"t\"
    spool_dir = \"/var/lib/pimon/spool-remote-write\"
    spool_max_bytes = 268435456      # at least 1048576 (1 MiB)
    fsync = \"always\"                 # always | never | an interval like \"1s\"
    when_full = \"drop_oldest\"        # drop_oldest | refuse_new
    max_samples_per_send = 2000      # samples per request
    flush_interval_ms = 1000         # pending samples are sent at least this often
    shards = 4                       # most requests in flight (split by series)
    timeout_seconds = 10

    [push]                           # Pushgateway API on the http listener (docs/INPUTS.md)
    enabled = true                   # the section alone enables it
    max_body_bytes = 4194304         # after gzip decoding
    max_groups = 1000                # grouping keys (also scrape targets, collectd hosts)
    max_series_per_group = 10000
    expire_after_seconds = 86400     # 0: keep groups forever, as the Pushgateway does
    bearer_tokens = [\"...\"]          # Authorization: Bearer; needed off loopback
    basic_auth = [\"user:password\"]   # ... or Authorization: Basic

    [[scrape]]                       # any number of Prometheus exporters to scrape
    url = \"http://127.0.0.1:9100/metrics\"
    job = \"node\"                     # job label; instance is the URL's host:port
    interval_seconds = 15
    timeout_seconds = 10
    labels = { site = \"attic\" }      # added to every sample
    honor_labels = false             # true: the page's labels win over these
    # bearer_token = \"t\"  basic_auth = \"user:password\"

    [collectd]                       # collectd's network protocol (binary, UDP)
    listen = \"0.0.0.0:25826\"
    auth_file = \"/etc/pimon/collectd.passwd\"
    security_level = \"none\"          # none | sign | encrypt
    types_db = [\"/usr/share/collectd/types.db\"]

PROMETHEUS: scrape with honor_labels so each node keeps its instance label:
    scrape_configs:
      - job_name: pimon
        honor_labels: true
        static_configs:
          - targets: ['ROUTER:9798']

SIGNALS: SIGTERM/SIGINT stop receiving, flush the outputs (or leave the rest in the
spool) and exit 0; SIGHUP re-reads the key file.
";

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

// ---- TOML ------------------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    udp: Option<UdpSection>,
    http: Option<HttpSection>,
    auth: Option<AuthSection>,
    limits: Option<LimitsSection>,
    staleness: Option<StalenessSection>,
    clock: Option<ClockSection>,
    output: Option<OutputSection>,
    influx: Option<Vec<InfluxSection>>,
    remote_write: Option<Vec<RemoteWriteSection>>,
    push: Option<ingress_config::PushSection>,
    scrape: Option<Vec<ingress_config::ScrapeSection>>,
    collectd: Option<ingress_config::CollectdSection>,
    state: Option<StateSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSection {
    dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UdpSection {
    listen: Option<Vec<String>>,
    receive_buffer_bytes: Option<usize>,
    batch: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    listen: Option<String>,
    max_connections: Option<usize>,
    timeout_seconds: Option<u64>,
    status_history_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    key_file: Option<PathBuf>,
    refuse_unknown_nodes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_nodes: Option<usize>,
    max_series_per_node: Option<usize>,
    max_series_total: Option<usize>,
    max_new_nodes_per_address: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StalenessSection {
    stale_intervals: Option<u32>,
    stale_min_seconds: Option<u64>,
    forget_after_seconds: Option<u64>,
    forget_new_after_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockSection {
    max_skew_seconds: Option<u64>,
    max_backfill_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    lp_out: Option<String>,
    lp_out_fsync: Option<String>,
    precision: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InfluxSection {
    name: Option<String>,
    url: Option<String>,
    db: Option<String>,
    rp: Option<String>,
    user: Option<String>,
    password: Option<String>,
    basic_auth: Option<bool>,
    org: Option<String>,
    bucket: Option<String>,
    token: Option<String>,
    spool_dir: Option<PathBuf>,
    spool_max_bytes: Option<u64>,
    fsync: Option<String>,
    when_full: Option<String>,
    batch_max_bytes: Option<usize>,
    batch_max_lines: Option<u64>,
    flush_interval_ms: Option<u64>,
    gzip: Option<bool>,
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RemoteWriteSection {
    name: Option<String>,
    url: Option<String>,
    external_labels: Option<std::collections::BTreeMap<String, String>>,
    headers: Option<std::collections::BTreeMap<String, String>>,
    basic_auth_user: Option<String>,
    basic_auth_password: Option<String>,
    bearer_token: Option<String>,
    spool_dir: Option<PathBuf>,
    spool_max_bytes: Option<u64>,
    fsync: Option<String>,
    when_full: Option<String>,
    max_samples_per_send: Option<usize>,
    flush_interval_ms: Option<u64>,
    shards: Option<usize>,
    timeout_seconds: Option<u64>,
}

/// Default spool directory of the first remote write output (the next ones add `-1`,
/// `-2`, …).
pub const DEFAULT_REMOTE_WRITE_SPOOL_DIR: &str = "/var/lib/pimon/spool-remote-write";

/// The default spool directory of the `i`th remote write output.
pub fn default_remote_write_spool_dir(i: usize) -> PathBuf {
    if i == 0 {
        PathBuf::from(DEFAULT_REMOTE_WRITE_SPOOL_DIR)
    } else {
        PathBuf::from(format!("{DEFAULT_REMOTE_WRITE_SPOOL_DIR}-{i}"))
    }
}

/// Default spool directory of an InfluxDB output.
pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/pimon/spool";

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

/// `500ms`, `2s`, `1m`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))?;
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

fn parse_when_full(key: &str, w: &str) -> Result<SpoolFullPolicy, ConfigError> {
    match w {
        "drop_oldest" => Ok(SpoolFullPolicy::DropOldest),
        "refuse_new" => Ok(SpoolFullPolicy::RefuseNew),
        _ => err(key, format!("{w:?}: expected drop_oldest or refuse_new")),
    }
}

fn remote_write_from_section(
    i: usize,
    s: RemoteWriteSection,
) -> Result<RemoteWriteConfig, ConfigError> {
    let key = |k: &str| format!("remote_write[{i}].{k}");
    let Some(url) = s.url else {
        return err(key("url"), "missing");
    };
    let spool_dir = s
        .spool_dir
        .unwrap_or_else(|| default_remote_write_spool_dir(i));
    let mut c = RemoteWriteConfig::new(&url, spool_dir);
    c.name = match s.name {
        Some(n) => n,
        None if i > 0 => format!("remote_write{i}"),
        None => c.name,
    };
    // BTreeMap: sorted by name, as every series' labels must be.
    c.external_labels = s.external_labels.unwrap_or_default().into_iter().collect();
    c.headers = s.headers.unwrap_or_default().into_iter().collect();
    c.basic_auth = match (s.basic_auth_user, s.basic_auth_password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => {
            return err(
                key("basic_auth_user"),
                "basic_auth_user and basic_auth_password go together",
            );
        }
    };
    c.bearer_token = s.bearer_token;
    if let Some(v) = s.spool_max_bytes {
        c.spool.max_bytes = v;
    }
    if let Some(f) = s.fsync {
        c.spool.fsync = parse_fsync(&key("fsync"), &f)?;
    }
    if let Some(w) = s.when_full {
        c.spool.when_full = parse_when_full(&key("when_full"), &w)?;
    }
    if let Some(v) = s.max_samples_per_send {
        c.max_samples_per_send = v;
    }
    if let Some(v) = s.flush_interval_ms {
        c.flush_interval = Duration::from_millis(v);
    }
    if let Some(v) = s.shards {
        c.shards = v;
    }
    if let Some(v) = s.timeout_seconds {
        c.timeout = Duration::from_secs(v);
    }
    c.validate().map_err(|e| ConfigError {
        key: key(e.field),
        problem: e.problem,
    })?;
    Ok(c)
}

fn parse_precision(key: &str, s: &str) -> Result<Precision, ConfigError> {
    Precision::parse(s).map_or_else(|| err(key, format!("{s:?}: expected ns, us, ms or s")), Ok)
}

fn influx_from_section(
    i: usize,
    s: InfluxSection,
    precision: Precision,
) -> Result<InfluxConfig, ConfigError> {
    let key = |k: &str| format!("influx[{i}].{k}");
    let Some(url) = s.url else {
        return err(key("url"), "missing");
    };
    let spool_dir = s
        .spool_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SPOOL_DIR));
    let mut c = match (s.db, s.org, s.bucket) {
        (Some(db), None, None) => {
            let mut c = InfluxConfig::v1(&url, &db, spool_dir);
            if let crate::influx::InfluxApi::V1 {
                rp,
                user,
                password,
                basic_auth,
                ..
            } = &mut c.api
            {
                *rp = s.rp;
                *user = s.user;
                *password = s.password;
                *basic_auth = s.basic_auth.unwrap_or(false);
            }
            c
        }
        (None, Some(org), Some(bucket)) => {
            if s.rp.is_some() || s.user.is_some() || s.password.is_some() {
                return err(key("rp/user/password"), "only for the 1.x API (with db)");
            }
            InfluxConfig::v2(
                &url,
                &org,
                &bucket,
                s.token.as_deref().unwrap_or(""),
                spool_dir,
            )
        }
        (None, None, None) => {
            return err(
                key("db"),
                "missing: give db (InfluxDB 1.x) or org and bucket (2.x)",
            );
        }
        (Some(_), _, _) => {
            return err(
                key("db"),
                "give either db (1.x) or org and bucket (2.x), not both",
            );
        }
        _ => return err(key("bucket"), "the 2.x API needs both org and bucket"),
    };
    if let Some(n) = s.name {
        c.name = n;
    } else if i > 0 {
        c.name = format!("influx{i}");
    }
    c.precision = precision;
    if let Some(v) = s.spool_max_bytes {
        c.spool.max_bytes = v;
    }
    if let Some(f) = s.fsync {
        c.spool.fsync = parse_fsync(&key("fsync"), &f)?;
    }
    if let Some(w) = s.when_full {
        c.spool.when_full = parse_when_full(&key("when_full"), &w)?;
    }
    if let Some(v) = s.batch_max_bytes {
        c.batch_max_bytes = v;
    }
    if let Some(v) = s.batch_max_lines {
        c.batch_max_lines = v;
    }
    if let Some(v) = s.flush_interval_ms {
        c.flush_interval = Duration::from_millis(v);
    }
    if let Some(v) = s.gzip {
        c.gzip = v;
    }
    if let Some(v) = s.timeout_seconds {
        c.timeout = Duration::from_secs(v);
    }
    c.validate().map_err(|e| ConfigError {
        key: key(e.field),
        problem: e.problem,
    })?;
    Ok(c)
}

/// Parses the text of a TOML config file into a [`Config`] (defaults for what is not
/// given). `origin` names the file in errors.
pub fn parse_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((0, 0));
        ConfigError {
            key: if line > 0 {
                format!("{origin}:{line}:{col}")
            } else {
                origin.to_string()
            },
            problem: e.message().to_string(),
        }
    })?;
    let mut c = Config::default();
    if let Some(u) = file.udp {
        if let Some(list) = u.listen {
            if list.is_empty() {
                return err("udp.listen", "needs at least one address");
            }
            c.udp = list
                .iter()
                .map(|s| parse_addr("udp.listen", s))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = u.receive_buffer_bytes {
            c.udp_receive_buffer = v;
        }
        if let Some(v) = u.batch {
            c.udp_batch = positive("udp.batch", v)?;
        }
    }
    if let Some(h) = file.http {
        if let Some(l) = h.listen {
            c.http = if l == "off" || l.is_empty() {
                None
            } else {
                Some(parse_addr("http.listen", &l)?)
            };
        }
        if let Some(v) = h.max_connections {
            c.http_config.max_connections = positive("http.max_connections", v)?;
        }
        if let Some(v) = h.timeout_seconds {
            c.http_config.timeout = Duration::from_secs(positive("http.timeout_seconds", v)?);
        }
        if let Some(v) = h.status_history_seconds {
            c.status_history = Duration::from_secs(positive("http.status_history_seconds", v)?);
        }
    }
    if let Some(a) = file.auth {
        c.key_file = a.key_file;
        c.ingest.refuse_unknown_nodes = a.refuse_unknown_nodes.unwrap_or(false);
    }
    if let Some(l) = file.limits {
        if let Some(v) = l.max_nodes {
            c.limits.max_nodes = positive("limits.max_nodes", v)?;
        }
        if let Some(v) = l.max_series_per_node {
            c.limits.max_series_per_node = positive("limits.max_series_per_node", v)?;
        }
        if let Some(v) = l.max_series_total {
            c.limits.max_series_total = positive("limits.max_series_total", v)?;
        }
        if let Some(v) = l.max_new_nodes_per_address {
            c.limits.max_new_nodes_per_address = positive("limits.max_new_nodes_per_address", v)?;
        }
    }
    if let Some(s) = file.staleness {
        if let Some(v) = s.stale_intervals {
            c.staleness.stale_intervals = positive("staleness.stale_intervals", v)?;
        }
        if let Some(v) = s.stale_min_seconds {
            c.staleness.stale_min_ms = v.saturating_mul(1000);
        }
        if let Some(v) = s.forget_after_seconds {
            c.staleness.forget_after_ms =
                positive("staleness.forget_after_seconds", v)?.saturating_mul(1000);
        }
        if let Some(v) = s.forget_new_after_seconds {
            c.staleness.forget_new_after_ms =
                positive("staleness.forget_new_after_seconds", v)?.saturating_mul(1000);
        }
    }
    if let Some(k) = file.clock {
        if let Some(v) = k.max_skew_seconds {
            c.ingest.max_clock_skew_ms = v.saturating_mul(1000);
        }
        if let Some(v) = k.max_backfill_seconds {
            c.ingest.max_backfill_ms = v.saturating_mul(1000);
        }
    }
    if let Some(o) = file.output {
        if let Some(p) = o.precision {
            c.ingest.precision = parse_precision("output.precision", &p)?;
        }
        if let Some(lp) = o.lp_out {
            c.lp_out = Some(LpFileConfig::new(LpTarget::parse(&lp)));
        }
        if let Some(f) = o.lp_out_fsync {
            let fsync = parse_fsync("output.lp_out_fsync", &f)?;
            match &mut c.lp_out {
                Some(lp) => lp.fsync = fsync,
                None => return err("output.lp_out_fsync", "needs output.lp_out"),
            }
        }
    }
    if let Some(dir) = file.state.and_then(|s| s.dir) {
        if dir.is_empty() {
            return err("state.dir", "empty: give a directory or \"off\"");
        }
        c.state_dir = StateDir::parse(&dir);
    }
    for (i, s) in file.influx.unwrap_or_default().into_iter().enumerate() {
        c.influx
            .push(influx_from_section(i, s, c.ingest.precision)?);
    }
    for (i, s) in file
        .remote_write
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        c.remote_write.push(remote_write_from_section(i, s)?);
    }
    ingress_config::from_sections(&mut c.ingress, file.push, file.scrape, file.collectd)?;
    Ok(c)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Reads and parses a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .or_else(|e| err(path.display().to_string(), format!("cannot read: {e}")))?;
    parse_toml(&text, &path.display().to_string())
}

/// Parses the command line (without the program name).
pub fn parse_args<I>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut config_file: Option<PathBuf> = None;
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    let mut check = false;
    let lex_err = |e: lexopt::Error| ConfigError {
        key: "command line".into(),
        problem: e.to_string(),
    };
    while let Some(arg) = parser.next().map_err(lex_err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("check-config") => check = true,
            Long("refuse-unknown-nodes") => flags.push(("refuse-unknown-nodes".into(), None)),
            Long("push") => flags.push(("push".into(), None)),
            Long("config") => {
                config_file = Some(parser.value().map_err(lex_err)?.into());
            }
            Long(
                name @ ("udp"
                | "udp-receive-buffer"
                | "http"
                | "key-file"
                | "lp-out"
                | "precision"
                | "influx-url"
                | "influx-db"
                | "influx-org"
                | "influx-bucket"
                | "influx-token"
                | "status-history"
                | "remote-write-url"
                | "remote-write-spool-dir"
                | "spool-dir"
                | "state-dir"
                | "max-nodes"
                | "max-new-nodes-per-address"
                | "max-series-per-node"
                | "stale-intervals"
                | "max-clock-skew"
                | "collectd-udp"
                | "collectd-auth-file"
                | "collectd-security-level"),
            ) => {
                let name = name.to_string();
                let value = parser.value().map_err(lex_err)?;
                let value = value.into_string().map_err(|v| ConfigError {
                    key: format!("--{name}"),
                    problem: format!("{v:?} is not valid UTF-8"),
                })?;
                flags.push((name, Some(value)));
            }
            other => return Err(lex_err(other.unexpected())),
        }
    }
    let mut c = match &config_file {
        Some(p) => load_file(p)?,
        None => Config::default(),
    };
    apply_flags(&mut c, &flags)?;
    validate(&c)?;
    Ok(if check {
        Command::Check(Box::new(c))
    } else {
        Command::Run(Box::new(c))
    })
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, ConfigError> {
    v.parse()
        .or_else(|_| err(format!("--{flag}"), format!("{v:?} is not a valid number")))
}

fn apply_flags(c: &mut Config, flags: &[(String, Option<String>)]) -> Result<(), ConfigError> {
    let mut udp_from_flags = false;
    let (mut url, mut db, mut org, mut bucket, mut token, mut spool) =
        (None, None, None, None, None, None);
    let (mut rw_urls, mut rw_spools) = (Vec::new(), Vec::new());
    for (name, value) in flags {
        let v = value.as_deref().unwrap_or("");
        let key = format!("--{name}");
        match name.as_str() {
            "refuse-unknown-nodes" => c.ingest.refuse_unknown_nodes = true,
            "push" => c.ingress.push.enabled = true,
            "collectd-udp" => {
                let listen = parse_addr(&key, v)?;
                let cd = c
                    .ingress
                    .collectd
                    .get_or_insert_with(|| ingress_config::CollectdConfig {
                        listen,
                        auth_file: None,
                        security_level: ingress_config::SecurityLevel::None,
                        types_db: Vec::new(),
                    });
                cd.listen = listen;
            }
            "collectd-auth-file" | "collectd-security-level" => {}
            "udp" => {
                if !udp_from_flags {
                    c.udp.clear();
                    udp_from_flags = true;
                }
                c.udp.push(parse_addr(&key, v)?);
            }
            "udp-receive-buffer" => c.udp_receive_buffer = parse_num(name, v)?,
            "http" => {
                c.http = if v == "off" {
                    None
                } else {
                    Some(parse_addr(&key, v)?)
                }
            }
            "key-file" => c.key_file = Some(PathBuf::from(v)),
            "lp-out" => c.lp_out = Some(LpFileConfig::new(LpTarget::parse(v))),
            "precision" => {
                c.ingest.precision = parse_precision(&key, v)?;
                for i in &mut c.influx {
                    i.precision = c.ingest.precision;
                }
            }
            "influx-url" => url = Some(v.to_string()),
            "influx-db" => db = Some(v.to_string()),
            "influx-org" => org = Some(v.to_string()),
            "influx-bucket" => bucket = Some(v.to_string()),
            "influx-token" => token = Some(v.to_string()),
            "spool-dir" => spool = Some(PathBuf::from(v)),
            "remote-write-url" => rw_urls.push(v.to_string()),
            "status-history" => {
                c.status_history =
                    parse_duration(v)
                        .filter(|d| d.as_secs() >= 60)
                        .ok_or_else(|| ConfigError {
                            key: key.clone(),
                            problem: format!("{v:?}: a duration of at least 60s, like 30m or 1h"),
                        })?;
            }
            "remote-write-spool-dir" => rw_spools.push(PathBuf::from(v)),
            "state-dir" => {
                if v.is_empty() {
                    return err(key, "empty: give a directory or off");
                }
                c.state_dir = StateDir::parse(v);
            }
            "max-nodes" => c.limits.max_nodes = positive(&key, parse_num(name, v)?)?,
            "max-new-nodes-per-address" => {
                c.limits.max_new_nodes_per_address = positive(&key, parse_num(name, v)?)?
            }
            "max-series-per-node" => {
                c.limits.max_series_per_node = positive(&key, parse_num(name, v)?)?
            }
            "stale-intervals" => c.staleness.stale_intervals = positive(&key, parse_num(name, v)?)?,
            "max-clock-skew" => {
                c.ingest.max_clock_skew_ms = parse_num::<u64>(name, v)?.saturating_mul(1000)
            }
            _ => {}
        }
    }
    for (name, value) in flags {
        let v = value.as_deref().unwrap_or("");
        let key = format!("--{name}");
        let Some(cd) = c.ingress.collectd.as_mut() else {
            if name.starts_with("collectd-") {
                return err(key, "needs --collectd-udp ADDR (or [collectd] listen)");
            }
            continue;
        };
        match name.as_str() {
            "collectd-auth-file" => cd.auth_file = Some(PathBuf::from(v)),
            "collectd-security-level" => {
                cd.security_level = ingress_config::parse_security_level(&key, v)?
            }
            _ => {}
        }
    }
    if url.is_some() || db.is_some() || org.is_some() || bucket.is_some() || token.is_some() {
        let Some(url) = url else {
            return err(
                "--influx-url",
                "missing (needed with --influx-db/--influx-org/--influx-bucket)",
            );
        };
        let section = InfluxSection {
            // The name a config file's output gets by default, so the `output` label
            // stays when a user moves from flags to `--config`; "influx-cli" only
            // when a config file's output already has that name.
            name: Some(
                if c.influx.iter().any(|o| o.name == "influx") {
                    "influx-cli"
                } else {
                    "influx"
                }
                .into(),
            ),
            url: Some(url),
            db,
            org,
            bucket,
            token,
            spool_dir: spool,
            ..InfluxSection::default()
        };
        let i = c.influx.len();
        let cfg = influx_from_section(i, section, c.ingest.precision).map_err(|e| ConfigError {
            key: e
                .key
                .replace(&format!("influx[{i}]."), "--influx-")
                .replace('_', "-"),
            problem: e.problem,
        })?;
        c.influx.push(cfg);
    }
    if rw_spools.len() > rw_urls.len() {
        return err(
            "--remote-write-spool-dir",
            "more spool directories than --remote-write-url outputs",
        );
    }
    let first = c.remote_write.len();
    for (n, url) in rw_urls.into_iter().enumerate() {
        let i = first + n;
        let section = RemoteWriteSection {
            name: Some(if n == 0 {
                "remote-write-cli".into()
            } else {
                format!("remote-write-cli{n}")
            }),
            url: Some(url),
            spool_dir: Some(
                rw_spools
                    .get(n)
                    .cloned()
                    .unwrap_or_else(|| default_remote_write_spool_dir(i)),
            ),
            ..RemoteWriteSection::default()
        };
        let cfg = remote_write_from_section(i, section).map_err(|e| ConfigError {
            key: e
                .key
                .replace(&format!("remote_write[{i}]."), "--remote-write-")
                .replace('_', "-"),
            problem: e.problem,
        })?;
        c.remote_write.push(cfg);
    }
    Ok(())
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

/// A human-readable summary of a configuration (for `--check-config`), secrets hidden.
pub fn describe(c: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "configuration OK");
    for a in &c.udp {
        let _ = writeln!(s, "udp listen        {a}");
    }
    let _ = writeln!(
        s,
        "udp receive buf   {} bytes, batch {} datagrams",
        c.udp_receive_buffer, c.udp_batch
    );
    match c.http {
        Some(h) => {
            let _ = writeln!(
                s,
                "http listen       {h}  (/metrics; status page /, sparklines over {} min), {} connections, timeout {} s",
                c.status_history.as_secs() / 60,
                c.http_config.max_connections,
                c.http_config.timeout.as_secs()
            );
        }
        None => {
            let _ = writeln!(s, "http              off");
        }
    }
    match &c.key_file {
        Some(k) => {
            let _ = writeln!(
                s,
                "key file          {}  (refuse unknown nodes: {})",
                k.display(),
                c.ingest.refuse_unknown_nodes
            );
        }
        None => {
            let _ = writeln!(s, "key file          none: frames are not authenticated");
        }
    }
    let _ = writeln!(
        s,
        "limits            {} nodes ({} new per address when 90 % full), {} series per node, {} series in total",
        c.limits.max_nodes,
        c.limits.max_new_nodes_per_address,
        c.limits.max_series_per_node,
        c.limits.max_series_total
    );
    match c.state_path() {
        Some(d) => {
            let _ = writeln!(s, "state dir         {}", d.display());
        }
        None => {
            let _ = writeln!(
                s,
                "state dir         none: node state (boot ids, windows) is lost on restart"
            );
        }
    }
    let _ = writeln!(
        s,
        "staleness         {} intervals (at least {} s); forget after {} s ({} s for new nodes)",
        c.staleness.stale_intervals,
        c.staleness.stale_min_ms / 1000,
        c.staleness.forget_after_ms / 1000,
        c.staleness.forget_new_after_ms / 1000
    );
    let _ = writeln!(
        s,
        "clock             max skew {} s, max backfill {} s",
        c.ingest.max_clock_skew_ms / 1000,
        c.ingest.max_backfill_ms / 1000
    );
    let _ = writeln!(s, "precision         {}", c.ingest.precision.as_str());
    if let Some(lp) = &c.lp_out {
        let target = match &lp.target {
            LpTarget::Stdout => "stdout".to_string(),
            LpTarget::File(p) => p.display().to_string(),
        };
        let durability = match &lp.target {
            LpTarget::Stdout => "best effort".to_string(),
            LpTarget::File(_) => format!("fsync {}", fsync_text(lp.fsync)),
        };
        let _ = writeln!(s, "lp-out            {target}  ({durability})");
    }
    if c.ingress.push.enabled {
        let _ = writeln!(
            s,
            "push              on /metrics/job/... ({} tokens, {} users), {} groups, {} series per group",
            c.ingress.push.bearer_tokens.len(),
            c.ingress.push.basic_auth.len(),
            c.ingress.push.max_groups,
            c.ingress.push.max_series_per_group
        );
    }
    for t in &c.ingress.scrape {
        let _ = writeln!(
            s,
            "scrape            {} every {} s (job {})",
            t.url,
            t.interval.as_secs(),
            t.job
        );
    }
    if let Some(cd) = &c.ingress.collectd {
        let _ = writeln!(
            s,
            "collectd          udp {} security {}",
            cd.listen,
            match cd.security_level {
                ingress_config::SecurityLevel::None => "none",
                ingress_config::SecurityLevel::Sign => "sign",
                ingress_config::SecurityLevel::Encrypt => "encrypt",
            }
        );
    }
    for i in &c.influx {
        let _ = writeln!(s, "influx {:10} {} {}", i.name, i.url, api_text(&i.api));
        let _ = writeln!(
            s,
            "  spool           {} (max {} bytes, fsync {}, when full {})",
            i.spool.dir.display(),
            i.spool.max_bytes,
            fsync_text(i.spool.fsync),
            match i.spool.when_full {
                SpoolFullPolicy::DropOldest => "drop_oldest",
                SpoolFullPolicy::RefuseNew => "refuse_new",
            }
        );
        let _ = writeln!(
            s,
            "  batches         {} bytes or {} lines, flushed every {} ms, gzip {}, timeout {} s",
            i.batch_max_bytes,
            i.batch_max_lines,
            i.flush_interval.as_millis(),
            i.gzip,
            i.timeout.as_secs()
        );
    }
    for r in &c.remote_write {
        let labels: Vec<String> = r
            .external_labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let _ = writeln!(
            s,
            "remote write {:10} {} spool {}  ({} shards, {} samples per request, external labels: {})",
            r.name,
            r.url,
            r.spool.dir.display(),
            r.shards,
            r.max_samples_per_send,
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(",")
            }
        );
    }
    s
}

/// A fsync policy as a config file spells it.
fn fsync_text(p: FsyncPolicy) -> String {
    match p {
        FsyncPolicy::Always => "always".to_string(),
        FsyncPolicy::Never => "never".to_string(),
        FsyncPolicy::Interval(d) => format!("every {} ms", d.as_millis()),
    }
}

/// An output's API and target, secrets hidden.
fn api_text(api: &crate::influx::InfluxApi) -> String {
    match api {
        crate::influx::InfluxApi::V1 {
            db,
            rp,
            user,
            password,
            basic_auth,
        } => format!(
            "1.x db {db}, retention policy {}, {}",
            rp.as_deref().unwrap_or("default"),
            match (user, password.is_some(), basic_auth) {
                (None, _, _) => "no credentials".to_string(),
                (Some(u), true, true) => format!("user {u} (password hidden, basic auth)"),
                (Some(u), true, false) => format!("user {u} (password hidden)"),
                (Some(u), false, _) => format!("user {u}, no password"),
            }
        ),
        crate::influx::InfluxApi::V2 { org, bucket, token } => format!(
            "2.x org {org}, bucket {bucket}, {}",
            if token.is_empty() {
                "no token"
            } else {
                "token hidden"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Command, ConfigError> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    fn run_config(a: &[&str]) -> Config {
        match args(a).unwrap() {
            Command::Run(c) | Command::Check(c) => *c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run_config(&[]);
        assert_eq!(c.udp, vec!["0.0.0.0:9797".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.http, Some("127.0.0.1:9798".parse().unwrap()));
        assert_eq!(c.udp_receive_buffer, 4 << 20);
        assert!(c.key_file.is_none() && c.lp_out.is_none() && c.influx.is_empty());
    }

    #[test]
    fn flags_override_and_repeat() {
        let c = run_config(&[
            "--udp",
            "127.0.0.1:1",
            "--udp",
            "[::1]:2",
            "--http",
            "off",
            "--lp-out",
            "-",
            "--max-nodes",
            "5",
            "--precision",
            "ms",
        ]);
        assert_eq!(c.udp.len(), 2);
        assert!(c.udp[1].is_ipv6());
        assert_eq!(c.http, None);
        assert_eq!(c.lp_out.unwrap().target, LpTarget::Stdout);
        assert_eq!(c.limits.max_nodes, 5);
        assert_eq!(c.ingest.precision, Precision::Milliseconds);
        assert!(matches!(
            args(&["--check-config"]).unwrap(),
            Command::Check(_)
        ));
        assert!(matches!(args(&["--help"]).unwrap(), Command::Help));
        assert!(matches!(args(&["-V"]).unwrap(), Command::Version));
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let e = args(&["--max-nodes", "lots"]).unwrap_err();
        assert_eq!(e.key, "--max-nodes");
        let e = args(&["--udp", "nowhere"]).unwrap_err();
        assert_eq!(e.key, "--udp");
        let e = args(&["--bogus"]).unwrap_err();
        assert!(e.problem.contains("--bogus"), "{e}");
        let e = args(&["--refuse-unknown-nodes"]).unwrap_err();
        assert_eq!(e.key, "auth.refuse_unknown_nodes");
        let e = args(&["--influx-db", "x"]).unwrap_err();
        assert_eq!(e.key, "--influx-url");
    }

    #[test]
    fn toml_every_section() {
        let c = parse_toml(
            r#"
[udp]
listen = ["127.0.0.1:9000", "[::]:9001"]
receive_buffer_bytes = 1000
batch = 8
[http]
listen = "127.0.0.1:9002"
max_connections = 3
timeout_seconds = 2
[auth]
key_file = "/k"
refuse_unknown_nodes = true
[limits]
max_nodes = 7
max_series_per_node = 8
max_series_total = 9
max_new_nodes_per_address = 10
[state]
dir = "/tmp/state"
[staleness]
stale_intervals = 4
stale_min_seconds = 5
forget_after_seconds = 6
forget_new_after_seconds = 7
[clock]
max_skew_seconds = 8
max_backfill_seconds = 9
[output]
lp_out = "/tmp/x.lp"
lp_out_fsync = "2s"
precision = "s"
[[influx]]
url = "http://127.0.0.1:8086"
db = "pimon"
spool_dir = "/tmp/s1"
fsync = "500ms"
[[influx]]
name = "v2"
url = "http://127.0.0.1:8428"
org = "o"
bucket = "b"
token = "t"
spool_dir = "/tmp/s2"
when_full = "refuse_new"
"#,
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.udp.len(), 2);
        assert_eq!((c.udp_receive_buffer, c.udp_batch), (1000, 8));
        assert_eq!(c.http_config.max_connections, 3);
        assert!(c.ingest.refuse_unknown_nodes);
        assert_eq!(
            c.limits,
            Limits {
                max_nodes: 7,
                max_series_per_node: 8,
                max_series_total: 9,
                max_new_nodes_per_address: 10,
            }
        );
        assert_eq!(c.state_path(), Some(PathBuf::from("/tmp/state")));
        assert_eq!(c.staleness.stale_intervals, 4);
        assert_eq!(c.staleness.forget_new_after_ms, 7000);
        assert_eq!(c.ingest.max_backfill_ms, 9000);
        assert_eq!(c.ingest.precision, Precision::Seconds);
        assert_eq!(
            c.lp_out.as_ref().map(|lp| lp.fsync),
            Some(FsyncPolicy::Interval(Duration::from_secs(2)))
        );
        assert_eq!(c.influx.len(), 2);
        assert_eq!(
            c.influx[0].spool.fsync,
            FsyncPolicy::Interval(Duration::from_millis(500))
        );
        assert_eq!(c.influx[0].precision, Precision::Seconds);
        assert_eq!(c.influx[1].name, "v2");
        assert_eq!(c.influx[1].spool.when_full, SpoolFullPolicy::RefuseNew);
    }

    #[test]
    fn toml_errors_name_key_and_line() {
        let e = parse_toml("[limits]\nmax_nodes = \"many\"\n", "a.toml").unwrap_err();
        assert!(e.key.starts_with("a.toml:2:"), "{e}");
        let e = parse_toml("[limits]\nmax_nodez = 1\n", "a.toml").unwrap_err();
        assert!(
            e.key.starts_with("a.toml:2:") && e.problem.contains("max_nodez"),
            "{e}"
        );
        let e = parse_toml("[limits]\nmax_nodes = 0\n", "a.toml").unwrap_err();
        assert_eq!(e.to_string(), "limits.max_nodes: must be greater than 0");
        let e = parse_toml("[udp]\nlisten = [\"x\"]\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "udp.listen");
        let e = parse_toml("[[influx]]\nurl = \"http://h:1\"\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "influx[0].db");
        let e = parse_toml("[output]\nlp_out_fsync = \"always\"\n", "a.toml").unwrap_err();
        assert_eq!(e.to_string(), "output.lp_out_fsync: needs output.lp_out");
        let e = parse_toml(
            "[[influx]]\nurl = \"http://h:1\"\ndb = \"d\"\nfsync = \"sometimes\"\n",
            "a.toml",
        )
        .unwrap_err();
        assert_eq!(e.key, "influx[0].fsync");
        let e = parse_toml("[[influx]]\nurl = \"ftp://h\"\ndb = \"d\"\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "influx[0].url");
    }

    #[test]
    fn state_dir_defaults_next_to_the_first_spool_and_can_be_set_or_turned_off() {
        assert_eq!(
            run_config(&[]).state_path(),
            None,
            "no InfluxDB output: none"
        );
        let influx = [
            "--influx-url",
            "http://127.0.0.1:8086",
            "--influx-db",
            "pimon",
            "--spool-dir",
            "/var/lib/pimon/spool",
        ];
        assert_eq!(
            run_config(&influx).state_path(),
            Some(PathBuf::from("/var/lib/pimon/spool.state"))
        );
        let mut off = influx.to_vec();
        off.extend(["--state-dir", "off"]);
        assert_eq!(run_config(&off).state_path(), None);
        assert_eq!(
            run_config(&["--state-dir", "/s", "--max-new-nodes-per-address", "3"]).state_path(),
            Some(PathBuf::from("/s"))
        );
        assert_eq!(args(&["--state-dir", ""]).unwrap_err().key, "--state-dir");
        let e = parse_toml("[state]\ndir = \"\"\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "state.dir");
    }

    #[test]
    fn version_line_format() {
        let v = version_line();
        assert!(v.starts_with("pimon-aggregator 0.1.0 ("), "{v}");
        assert!(v.contains(", git "), "{v}");
    }
}
