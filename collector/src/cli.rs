//! Command-line flags (parsed with `lexopt`, which costs a few KiB of binary).
//!
//! [`parse`] turns the arguments into a [`Command`]. Flags only record what was given;
//! [`crate::config`] merges them over the config file and the defaults.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where frames go without `--aggregator` when the machine has no default route (with
/// one, they go to the default gateway: see [`crate::gateway`]).
pub const DEFAULT_AGGREGATOR: &str = crate::gateway::FALLBACK;
/// Default `--interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default `--linger`.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(5);

/// The `--help` text.
pub const HELP: &str = "\
pimon-collector: reads /proc, /sys and sensors and sends compact UDP frames to a
pimon-aggregator, keeping unacknowledged frames to resend them.

Usage: pimon-collector [OPTIONS]

Options:
  --aggregator HOST:PORT  Where to send frames. HOST may be a name or an IPv4/IPv6
                          address ([::1]:9797); it is resolved at start and again after
                          send failures. Repeat it (or give a comma list, a:9797,b:9797)
                          for failover: frames go to the first that acknowledges; after
                          3 intervals (2 to 30 s) without an ack the next one gets them
                          and every unacknowledged frame, and the first gets them back
                          once it answers again. Default: the default gateway (from
                          <root>/proc/net/route, else ipv6_route) port 9797, since the
                          aggregator runs on the router; 127.0.0.1:9797 without a default
                          route. --check says which it chose and why.
  --node NAME             Node name, 1-32 bytes: the `instance` label and `host` tag
                          (default: the hostname up to its first dot, cut to 32 bytes).
  --root DIR              Read /proc and /sys under DIR (default /): a fixture tree, or a
                          container's view of the host mounted at /host.
  --interval DUR          Collection interval: 250ms, 10s, 1m, 1h (default 10s). Cycles
                          are aligned to the wall clock (every 10 s at :00, :10, ...).
  --cycles N              Stop after N cycles (then linger, then exit 0).
  --once                  Same as --cycles 1.
  --key-file PATH         Authenticate every frame with a BLAKE2s MAC. The file holds one
                          line `KEY_ID SECRET`: KEY_ID 0-255 (must match the aggregator's
                          key file), SECRET 1-32 bytes as `hex:...`, `base64:...`, or bare
                          (hex when it is an even number of hex digits, else base64).
                          `#` starts a comment. Acks are then accepted only with a valid MAC.
  --config PATH           Config file: `key = value` lines with the options above (no
                          `--`; `-` and `_` alike), sensor lines `i2c = ...` and
                          `gpio = ...` (docs/SENSORS.md), and sections [filters] (device
                          and filesystem filters, sources to disable, `rediscover` = how
                          often to look for sensors that came or went, default 60s, the
                          cgroup source's cgroup_max, cgroup_rediscover, cgroup_every and
                          namespace, unit and container name filters) and [key] (id,
                          secret). Command-line flags win. SIGHUP reloads it. Errors name
                          the line and the problem.
  --ring-bytes N          Size of the resend ring: unacknowledged frames kept for resending
                          (default: about 30 minutes of a Raspberry Pi 4 at 10 s). Suffixes
                          K and M (KiB, MiB) are accepted. The oldest frames are dropped
                          (and counted) when it is full.
  --linger DUR            On exit (after --cycles, on SIGTERM/SIGINT) wait up to DUR for
                          outstanding acks, resending gaps (default 5s; 0s: do not wait).
  --print FORMAT          Print what each cycle would send instead of sending it:
                          prom (Prometheus text), influx (InfluxDB line protocol), wire
                          (one line per datagram: part=I/N bytes=B values=V, I from 1,
                          then a total with bytes per value). Combine with --once for a
                          single snapshot.
  --check                 Report which sources and sensors are found, the size of a cycle
                          and how long the ring lasts, and try one round trip to the
                          aggregator (acked, refused with the reason, or no answer in
                          2 s); exit 1 on a broken config or key file, when a configured
                          sensor is not found, or when the aggregator refuses the frames.
  -v, --verbose           Also log debug lines.
  -h, --help              Print this help.
  -V, --version           Print the version, target and source commit.

Signals: SIGTERM/SIGINT finish the cycle, linger, exit 0. SIGHUP reloads --config and
--key-file. Logs go to stderr, one line per event (journald priority prefixes under
systemd).

Exit status: 0 when done (or stopped by a signal); 1 when --check finds a problem;
2 for a bad flag, config file or key file.
";

/// What to print instead of sending (`--print`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintFormat {
    /// Prometheus text exposition.
    Prom,
    /// InfluxDB line protocol.
    Influx,
    /// One line per datagram: `part=I/N bytes=B values=V`.
    Wire,
}

impl PrintFormat {
    /// Parses `prom`, `influx` or `wire`.
    pub fn parse(s: &str) -> Option<PrintFormat> {
        match s {
            "prom" | "prometheus" => Some(PrintFormat::Prom),
            "influx" | "influxdb" => Some(PrintFormat::Influx),
            "wire" => Some(PrintFormat::Wire),
            _ => None,
        }
    }
}

/// The flags given on the command line (`None`/`false`: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--aggregator HOST:PORT` (repeatable, each maybe a comma list), in order.
    pub aggregator: Vec<String>,
    /// `--node NAME`.
    pub node: Option<String>,
    /// `--root DIR`.
    pub root: Option<PathBuf>,
    /// `--interval DUR`.
    pub interval: Option<Duration>,
    /// `--cycles N` / `--once`.
    pub cycles: Option<u64>,
    /// `--key-file PATH`.
    pub key_file: Option<PathBuf>,
    /// `--config PATH`.
    pub config: Option<PathBuf>,
    /// `--ring-bytes N`.
    pub ring_bytes: Option<usize>,
    /// `--linger DUR`.
    pub linger: Option<Duration>,
    /// `--print FORMAT`.
    pub print: Option<PrintFormat>,
    /// `--check`.
    pub check: bool,
    /// `-v`.
    pub verbose: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Collect (or print, or check) with these flags.
    Run(Flags),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// A command-line error, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<lexopt::Error> for CliError {
    fn from(e: lexopt::Error) -> Self {
        CliError(e.to_string())
    }
}

/// `pimon-collector 0.1.0 (<target>, git <commit>)`.
pub fn version() -> String {
    format!(
        "pimon-collector {} ({}, git {})",
        env!("CARGO_PKG_VERSION"),
        env!("PIMON_TARGET"),
        env!("PIMON_GIT_COMMIT")
    )
}

/// Parses a duration in the grammar both binaries share
/// ([`pimon_protocol::duration`]: a whole number and `ms`, `s`, `m` or `h`: `250ms`,
/// `10s`, `1m`), with the collector's wording of the errors.
///
/// ```
/// use std::time::Duration;
/// use pimon_collector::cli::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
/// assert!(parse_duration("10").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use pimon_protocol::duration::{self, DurationError};
    duration::parse_duration(s).map_err(|e| match e {
        DurationError::NotANumber => {
            format!("{s:?} is not a duration (examples: 250ms, 10s, 1m)")
        }
        DurationError::MissingUnit => {
            format!("{s:?} needs a unit: ms, s, m or h (for example {s}s)")
        }
        DurationError::UnknownUnit => format!("{s:?}: unknown unit (use ms, s, m or h)"),
        DurationError::TooLong => format!("{s:?}: too long"),
    })
}

/// Parses a byte size in the grammar both binaries share ([`pimon_protocol::size`]: a
/// whole number with an optional `K`/`KiB` or `M`/`MiB` suffix).
///
/// ```
/// use pimon_collector::cli::parse_bytes;
/// assert_eq!(parse_bytes("4096"), Ok(4096));
/// assert_eq!(parse_bytes("2M"), Ok(2 << 20));
/// ```
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    use pimon_protocol::size::{SizeError, parse_size};
    let s = s.trim();
    let bytes = parse_size(s).map_err(|e| match e {
        SizeError::NotANumber => format!("{s:?} is not a byte count (examples: 1048576, 512K, 2M)"),
        SizeError::UnknownUnit => format!("{s:?}: unknown size suffix (use K or M)"),
        SizeError::TooLarge => format!("{s:?}: too large"),
    })?;
    usize::try_from(bytes).map_err(|_| format!("{s:?}: too large"))
}

fn text(value: OsString, flag: &str) -> Result<String, CliError> {
    value
        .into_string()
        .map_err(|v| CliError(format!("{flag}: {v:?} is not valid UTF-8")))
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, CliError> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut f = Flags::default();
    let bad = |flag: &str, e: String| CliError(format!("--{flag}: {e}"));
    while let Some(arg) = p.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('v') | Long("verbose") => f.verbose = true,
            Long("aggregator") => f.aggregator.push(text(p.value()?, "--aggregator")?),
            Long("node") => f.node = Some(text(p.value()?, "--node")?),
            Long("root") => f.root = Some(PathBuf::from(p.value()?)),
            Long("interval") => {
                let v = text(p.value()?, "--interval")?;
                f.interval = Some(parse_duration(&v).map_err(|e| bad("interval", e))?);
            }
            Long("cycles") => {
                let v = text(p.value()?, "--cycles")?;
                let n: u64 =
                    v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        bad("cycles", format!("{v:?} is not a whole number above 0"))
                    })?;
                f.cycles = Some(n);
            }
            Long("once") => f.cycles = Some(1),
            Long("key-file") => f.key_file = Some(PathBuf::from(p.value()?)),
            Long("config") => f.config = Some(PathBuf::from(p.value()?)),
            Long("ring-bytes") => {
                let v = text(p.value()?, "--ring-bytes")?;
                f.ring_bytes = Some(parse_bytes(&v).map_err(|e| bad("ring-bytes", e))?);
            }
            Long("linger") => {
                let v = text(p.value()?, "--linger")?;
                f.linger = Some(parse_duration(&v).map_err(|e| bad("linger", e))?);
            }
            Long("print") => {
                let v = text(p.value()?, "--print")?;
                let format = PrintFormat::parse(&v).ok_or_else(|| {
                    bad("print", format!("{v:?} is not one of prom, influx, wire"))
                })?;
                if format != PrintFormat::Wire && !cfg!(feature = "print-text") {
                    return Err(bad(
                        "print",
                        format!(
                            "{v:?}: this build prints `wire` only (built without the \
                             `print-text` feature, as the Raspberry Pi builds are); the \
                             aggregator's /metrics shows what this node sends, by name"
                        ),
                    ));
                }
                f.print = Some(format);
            }
            Long("check") => f.check = true,
            _ => return Err(CliError(format!("{} (see --help)", arg.unexpected()))),
        }
    }
    Ok(Command::Run(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Flags, CliError> {
        match parse(args.iter().map(OsString::from))? {
            Command::Run(f) => Ok(f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_flag() {
        let f = run(&[
            "--aggregator",
            "[::1]:9797",
            "--node=pi",
            "--root",
            "/host",
            "--interval",
            "250ms",
            "--cycles",
            "3",
            "--key-file",
            "/k",
            "--config",
            "/c",
            "--ring-bytes",
            "64K",
            "--linger=0s",
            "--print=wire",
            "--check",
            "-v",
        ])
        .unwrap();
        assert_eq!(
            f,
            Flags {
                aggregator: vec!["[::1]:9797".into()],
                node: Some("pi".into()),
                root: Some("/host".into()),
                interval: Some(Duration::from_millis(250)),
                cycles: Some(3),
                key_file: Some("/k".into()),
                config: Some("/c".into()),
                ring_bytes: Some(65536),
                linger: Some(Duration::ZERO),
                print: Some(PrintFormat::Wire),
                check: true,
                verbose: true,
            }
        );
        assert_eq!(run(&["--once"]).unwrap().cycles, Some(1));
        assert_eq!(
            run(&["--aggregator", "a:1", "--aggregator=b:2,c:3"])
                .unwrap()
                .aggregator,
            ["a:1", "b:2,c:3"]
        );
        assert_eq!(parse(["--help".into()]).unwrap(), Command::Help);
        assert_eq!(parse(["-V".into()]).unwrap(), Command::Version);
    }

    #[test]
    fn errors_name_the_flag() {
        for (args, want) in [
            (&["--interval", "10"][..], "--interval: \"10\" needs a unit"),
            (&["--interval", "5x"][..], "unknown unit"),
            (&["--cycles", "0"][..], "--cycles"),
            (&["--print", "json"][..], "--print"),
            (&["--ring-bytes", "1G"][..], "--ring-bytes"),
            (&["--bogus"][..], "--bogus"),
            (&["--node"][..], "--node"),
        ] {
            let e = run(args).unwrap_err().0;
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }

    #[test]
    fn help_mentions_every_flag() {
        for flag in [
            "--aggregator",
            "--node",
            "--root",
            "--interval",
            "--cycles",
            "--once",
            "--key-file",
            "--config",
            "--ring-bytes",
            "--linger",
            "--print",
            "--check",
            "--verbose",
            "--help",
            "--version",
        ] {
            assert!(HELP.contains(flag), "{flag}");
        }
    }
}
