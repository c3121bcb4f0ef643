//! The command line: `--help` and the flags, applied over the config file.

#[allow(unused_imports)]
use super::*;

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
    --udp-receive-buffer BYTES socket receive buffer [default: 4194304] (or 4M); the kernel
                               caps it at net.core.rmem_max (raise with sysctl -w
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
    --max-clock-skew DUR       a frame timestamp further ahead (or a clock stepped back) gets
                               a substitute time, distinct and in the node's order
                               [default: 5m]; a bare number is seconds (older form)
    --push                     accept Pushgateway pushes (PUT/POST/DELETE /metrics/job/...)
                               on the --http listener; credentials in [push] (required
                               when the listener is not loopback)
    --collectd-udp ADDR        receive collectd's network protocol on ADDR (off by default;
                               collectd's port is 25826)
    --collectd-auth-file FILE  collectd AuthFile (`user: password` lines) for signed and
                               encrypted packets
    --collectd-security-level none|sign|encrypt
                               least security a collectd packet needs [default: none]
    --log-level LEVEL          most detailed log lines written: error, warning, notice,
                               info or debug [default: info]
    --check-config             check the configuration, print it, and exit
    -h, --help                 this text
    -V, --version              version, target and commit

CONFIG FILE (TOML; every key optional, defaults shown):
    # Durations are strings: a whole number and a unit, ms, s, m or h (\"500ms\",
    # \"10s\", \"5m\"). The older integer keys with the unit in the name
    # (timeout_seconds = 10, flush_interval_ms = 1000, ...) are still accepted
    # instead of the new name, not together with it.
    log_level = \"info\"               # error | warning | notice | info | debug

    [udp]
    listen = [\"0.0.0.0:9797\"]        # addresses, IPv4 or IPv6
    receive_buffer_bytes = 4194304   # bytes, or \"4M\" (K, M: x 1024)
    batch = 64                       # datagrams read per wake-up

    [http]
    listen = \"127.0.0.1:9798\"        # \"off\" disables
    max_connections = 64
    timeout = \"10s\"                  # a whole request head; each piece of a response
    status_history = \"1h\"            # span of the status page's sparklines (60 points)

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
    stale_min = \"30s\"                # ... but never sooner
    forget_after = \"24h\"             # node (and pimon_node_up) forgotten after this
    forget_new_after = \"10m\"         # ... for nodes not yet established (10 frames
                                     # over 5 min); when 90 % full, their stale time

    [clock]
    max_skew = \"5m\"                  # frame ahead by more: a substitute time
    max_backfill = \"168h\"            # frame older than this (a backlog): stored at a
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
    flush_interval = \"1s\"
    gzip = true
    timeout = \"10s\"

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
    flush_interval = \"1s\"            # pending samples are sent at least this often
    shards = 4                       # most requests in flight (split by series)
    timeout = \"10s\"

    [push]                           # Pushgateway API on the http listener (docs/INPUTS.md)
    enabled = true                   # the section alone enables it
    max_body_bytes = 4194304         # after gzip decoding
    max_groups = 1000                # grouping keys (also scrape targets, collectd hosts)
    max_series_per_group = 10000
    expire_after = \"24h\"             # \"0s\": keep groups forever, as the Pushgateway does
    bearer_tokens = [\"...\"]          # Authorization: Bearer; needed off loopback
    basic_auth = [\"user:password\"]   # ... or Authorization: Basic

    [[scrape]]                       # any number of Prometheus exporters to scrape
    url = \"http://127.0.0.1:9100/metrics\"
    job = \"node\"                     # job label; instance is the URL's host:port
    interval = \"15s\"
    timeout = \"10s\"
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

/// The flags that take a value: variant and name, one table. It generates the
/// [`Flag`] enum, so applying the flags is an exhaustive `match` (a flag added here and
/// not applied does not compile) and the parser accepts exactly these names.
macro_rules! value_flags {
    ($($variant:ident = $name:literal,)*) => {
        /// A command-line flag with its value as given, applied over the config file in
        /// the order given.
        #[derive(Debug, Clone)]
        pub(super) enum Flag {
            /// `--refuse-unknown-nodes`.
            RefuseUnknownNodes,
            /// `--push`.
            Push,
            $(
                #[doc = concat!("`--", $name, " VALUE`.")]
                $variant(String),
            )*
        }

        /// The names of the flags that take a value, in the table's order (the test
        /// that `--help` lists exactly the flags the parser takes).
        #[cfg(test)]
        pub(super) const VALUE_FLAGS: &[&str] = &[$($name),*];

        impl Flag {
            /// The variant of `--name VALUE`; `None` when `name` takes no value or is
            /// not a flag.
            pub(super) fn with_value(name: &str) -> Option<fn(String) -> Flag> {
                match name {
                    $($name => Some(Flag::$variant),)*
                    _ => None,
                }
            }

            /// `--name`, as errors name it.
            pub(super) fn key(&self) -> &'static str {
                match self {
                    Flag::RefuseUnknownNodes => "--refuse-unknown-nodes",
                    Flag::Push => "--push",
                    $(Flag::$variant(_) => concat!("--", $name),)*
                }
            }
        }
    };
}

value_flags! {
    Udp = "udp",
    UdpReceiveBuffer = "udp-receive-buffer",
    Http = "http",
    KeyFile = "key-file",
    LpOut = "lp-out",
    Precision = "precision",
    InfluxUrl = "influx-url",
    InfluxDb = "influx-db",
    InfluxOrg = "influx-org",
    InfluxBucket = "influx-bucket",
    InfluxToken = "influx-token",
    StatusHistory = "status-history",
    RemoteWriteUrl = "remote-write-url",
    RemoteWriteSpoolDir = "remote-write-spool-dir",
    SpoolDir = "spool-dir",
    StateDir = "state-dir",
    MaxNodes = "max-nodes",
    MaxNewNodesPerAddress = "max-new-nodes-per-address",
    MaxSeriesPerNode = "max-series-per-node",
    StaleIntervals = "stale-intervals",
    MaxClockSkew = "max-clock-skew",
    CollectdUdp = "collectd-udp",
    CollectdAuthFile = "collectd-auth-file",
    CollectdSecurityLevel = "collectd-security-level",
    LogLevel = "log-level",
}

/// Parses the command line (without the program name). An unknown flag, a flag
/// without its value and a value that does not parse are errors naming the flag.
pub fn parse_args<I>(args: I) -> Result<Command, ConfigError>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut config_file: Option<PathBuf> = None;
    let mut flags: Vec<Flag> = Vec::new();
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
            Long("refuse-unknown-nodes") => flags.push(Flag::RefuseUnknownNodes),
            Long("push") => flags.push(Flag::Push),
            Long("config") => {
                config_file = Some(parser.value().map_err(lex_err)?.into());
            }
            Long(name) => {
                let Some(flag) = Flag::with_value(name) else {
                    return Err(lex_err(Long(name).unexpected()));
                };
                let key = format!("--{name}");
                let value = parser.value().map_err(lex_err)?;
                let value = value.into_string().map_err(|v| ConfigError {
                    key,
                    problem: format!("{v:?} is not valid UTF-8"),
                })?;
                flags.push(flag(value));
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

pub(super) fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.parse()
        .or_else(|_| err(key, format!("{v:?} is not a valid number")))
}

pub(super) fn apply_flags(c: &mut Config, flags: &[Flag]) -> Result<(), ConfigError> {
    let mut udp_from_flags = false;
    let (mut url, mut db, mut org, mut bucket, mut token, mut spool) =
        (None, None, None, None, None, None);
    let (mut rw_urls, mut rw_spools) = (Vec::new(), Vec::new());
    // Applied after the loop: they need the collectd input, from a flag or the file.
    let (mut collectd_auth_file, mut collectd_security_level) = (None, None);
    for flag in flags {
        let key = flag.key();
        match flag {
            Flag::RefuseUnknownNodes => c.ingest.refuse_unknown_nodes = true,
            Flag::Push => c.ingress.push.enabled = true,
            Flag::LogLevel(v) => c.log_level = parse_log_level(key, v)?,
            Flag::CollectdUdp(v) => {
                let listen = parse_addr(key, v)?;
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
            Flag::CollectdAuthFile(v) => collectd_auth_file = Some(PathBuf::from(v)),
            Flag::CollectdSecurityLevel(v) => {
                collectd_security_level = Some(ingress_config::parse_security_level(key, v)?)
            }
            Flag::Udp(v) => {
                if !udp_from_flags {
                    c.udp.clear();
                    udp_from_flags = true;
                }
                c.udp.push(parse_addr(key, v)?);
            }
            Flag::UdpReceiveBuffer(v) => c.udp_receive_buffer = usize_of(parse_size(key, v)?),
            Flag::Http(v) => {
                c.http = if v == "off" {
                    None
                } else {
                    Some(parse_addr(key, v)?)
                }
            }
            Flag::KeyFile(v) => c.key_file = Some(PathBuf::from(v)),
            Flag::LpOut(v) => c.lp_out = Some(LpFileConfig::new(LpTarget::parse(v))),
            Flag::Precision(v) => {
                c.ingest.precision = parse_precision(key, v)?;
                for i in &mut c.influx {
                    i.precision = c.ingest.precision;
                }
            }
            Flag::InfluxUrl(v) => url = Some(v.clone()),
            Flag::InfluxDb(v) => db = Some(v.clone()),
            Flag::InfluxOrg(v) => org = Some(v.clone()),
            Flag::InfluxBucket(v) => bucket = Some(v.clone()),
            Flag::InfluxToken(v) => token = Some(v.clone()),
            Flag::SpoolDir(v) => spool = Some(PathBuf::from(v)),
            Flag::RemoteWriteUrl(v) => rw_urls.push(v.clone()),
            Flag::StatusHistory(v) => {
                c.status_history =
                    parse_duration(v)
                        .filter(|d| d.as_secs() >= 60)
                        .ok_or_else(|| ConfigError {
                            key: key.to_string(),
                            problem: format!("{v:?}: a duration of at least 60s, like 30m or 1h"),
                        })?;
            }
            Flag::RemoteWriteSpoolDir(v) => rw_spools.push(PathBuf::from(v)),
            Flag::StateDir(v) => {
                if v.is_empty() {
                    return err(key, "empty: give a directory or off");
                }
                c.state_dir = StateDir::parse(v);
            }
            Flag::MaxNodes(v) => c.limits.max_nodes = positive(key, parse_num(key, v)?)?,
            Flag::MaxNewNodesPerAddress(v) => {
                c.limits.max_new_nodes_per_address = positive(key, parse_num(key, v)?)?
            }
            Flag::MaxSeriesPerNode(v) => {
                c.limits.max_series_per_node = positive(key, parse_num(key, v)?)?
            }
            Flag::StaleIntervals(v) => {
                c.staleness.stale_intervals = positive(key, parse_num(key, v)?)?
            }
            Flag::MaxClockSkew(v) => {
                // A bare number is seconds: the flag's older form, kept for scripts.
                c.ingest.max_clock_skew_ms = match v.parse::<u64>() {
                    Ok(seconds) => seconds.saturating_mul(1000),
                    Err(_) => millis(parse_duration(v).ok_or_else(|| ConfigError {
                        key: key.to_string(),
                        problem: format!("{v:?}: expected {DURATION_FORM}"),
                    })?),
                }
            }
        }
    }
    if collectd_auth_file.is_some() || collectd_security_level.is_some() {
        let Some(cd) = c.ingress.collectd.as_mut() else {
            let key = if collectd_auth_file.is_some() {
                "--collectd-auth-file"
            } else {
                "--collectd-security-level"
            };
            return err(key, "needs --collectd-udp ADDR (or [collectd] listen)");
        };
        if let Some(path) = collectd_auth_file {
            cd.auth_file = Some(path);
        }
        if let Some(level) = collectd_security_level {
            cd.security_level = level;
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
