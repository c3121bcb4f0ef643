//! The config file's `key = value` text: sections, comments, quotes, and the top-level
//! and `[key]` keys; the other sections' lines are handed on as [`Entry`]s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pimon_protocol::Key;

use super::ConfigError;
use super::key::{decode_secret, make_key, parse_key_id};
use crate::cli;

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
pub(super) const SENSOR_KEYS: &str =
    "i2c, gpio, i2c_interval, i2c_retry_min, i2c_retry_max, stale_after";

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
