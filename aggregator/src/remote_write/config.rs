//! Settings of one remote write output and their validation.

use std::path::PathBuf;
use std::time::Duration;

use crate::http_client::HttpUrl;
use crate::influx::RetryConfig;
use crate::influx::config::{ConfigError, MIN_SPOOL_BYTES};
use crate::remote_write::samples::valid_label_name;
use crate::spool::SpoolConfig;

/// Most parallel requests one output may have in flight.
pub const MAX_SHARDS: usize = 32;

/// Headers the specification reserves for the sender (and that the HTTP client writes
/// itself): a user may not set them.
pub const RESERVED_HEADERS: [&str; 8] = [
    "content-encoding",
    "content-type",
    "content-length",
    "user-agent",
    "x-prometheus-remote-write-version",
    "host",
    "connection",
    "authorization",
];

/// Everything one remote write output needs. Build with [`RemoteWriteConfig::new`] and
/// adjust fields; [`RemoteWriteConfig::validate`] names the first bad field.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWriteConfig {
    /// Name used in logs and as the `output` label on `/metrics`.
    pub name: String,
    /// The receiver's URL with its path, e.g. `http://vm:8428/api/v1/write` or
    /// `http://prometheus:9090/api/v1/write` (no TLS, see [`crate::http_client`]).
    pub url: String,
    /// Labels added to every series that does not have them (`site`, `region`),
    /// sorted by name.
    pub external_labels: Vec<(String, String)>,
    /// Extra request headers (for example `X-Scope-OrgID` for Mimir or Cortex); the
    /// [`RESERVED_HEADERS`] are refused.
    pub headers: Vec<(String, String)>,
    /// `Authorization: Basic` user and password.
    pub basic_auth: Option<(String, String)>,
    /// `Authorization: Bearer` token.
    pub bearer_token: Option<String>,
    /// Most samples in one request (default 2000, Prometheus' own default).
    pub max_samples_per_send: usize,
    /// Pending samples are sent at least this often (default 1 s): the age bound of a
    /// batch; a full batch goes at once.
    pub flush_interval: Duration,
    /// Most requests in flight at once (default 4). A batch is split into at most this
    /// many shards by series, each shard's requests sent in order, so every series'
    /// samples arrive in timestamp order; a small batch is one request.
    pub shards: usize,
    /// Timeout of one request: connect, send and response (default 10 s).
    pub timeout: Duration,
    /// Backoff between retries (5xx, 429, connection errors, timeouts).
    pub retry: RetryConfig,
    /// The durable spool (directory, bound, fsync policy).
    pub spool: SpoolConfig,
    /// On shutdown, keep delivering for at most this long (default 5 s).
    pub shutdown_timeout: Duration,
}

impl RemoteWriteConfig {
    /// An output to `url` with defaults, spooling in `spool_dir`.
    pub fn new(url: &str, spool_dir: impl Into<PathBuf>) -> RemoteWriteConfig {
        RemoteWriteConfig {
            name: "remote_write".to_string(),
            url: url.to_string(),
            external_labels: Vec::new(),
            headers: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            max_samples_per_send: 2000,
            flush_interval: Duration::from_secs(1),
            shards: 4,
            timeout: Duration::from_secs(10),
            retry: RetryConfig::default(),
            spool: SpoolConfig::new(spool_dir),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// Checks every field; the error names the field and the problem.
    pub fn validate(&self) -> Result<HttpUrl, ConfigError> {
        let err = |field: &'static str, problem: String| Err(ConfigError { field, problem });
        let url = match HttpUrl::parse(&self.url) {
            Ok(u) => u,
            Err(e) => return err("url", format!("{:?}: {e}", self.url)),
        };
        for (i, (name, value)) in self.external_labels.iter().enumerate() {
            if !valid_label_name(name) || name.starts_with("__") {
                return err(
                    "external_labels",
                    format!("{name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __…)"),
                );
            }
            if value.is_empty() {
                return err("external_labels", format!("{name}: empty value"));
            }
            if self.external_labels[..i].iter().any(|(n, _)| n == name) {
                return err("external_labels", format!("{name} given twice"));
            }
        }
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_HEADERS.contains(&lower.as_str()) {
                return err(
                    "headers",
                    format!(
                        "{name} is set by pimon itself (basic_auth, bearer_token for Authorization)"
                    ),
                );
            }
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || value.bytes().any(|b| b == b'\r' || b == b'\n')
            {
                return err("headers", format!("{name:?}: not a valid header"));
            }
        }
        if self.basic_auth.is_some() && self.bearer_token.is_some() {
            return err(
                "bearer_token",
                "give either basic_auth or bearer_token".into(),
            );
        }
        if self.max_samples_per_send == 0 {
            return err("max_samples_per_send", "must be at least 1".into());
        }
        if self.flush_interval.is_zero() {
            return err("flush_interval", "must be greater than zero".into());
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return err("shards", format!("must be 1 to {MAX_SHARDS}"));
        }
        if self.timeout.is_zero() {
            return err("timeout", "must be greater than zero".into());
        }
        if self.retry.initial.is_zero() || self.retry.max < self.retry.initial {
            return err("retry", "initial must be > 0 and max >= initial".into());
        }
        if self.spool.max_bytes < MIN_SPOOL_BYTES {
            return err(
                "spool_max_bytes",
                format!(
                    "must be at least {MIN_SPOOL_BYTES} (1 MiB): a spool holds whole receive batches"
                ),
            );
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = RemoteWriteConfig::new("http://127.0.0.1:8428/api/v1/write", "/tmp/x");
        assert!(ok.validate().is_ok());
        let field = |f: fn(&mut RemoteWriteConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate().unwrap_err().field
        };
        assert_eq!(field(|c| c.url = "https://h/x".into()), "url");
        assert_eq!(
            field(|c| c.external_labels = vec![("1x".into(), "a".into())]),
            "external_labels"
        );
        assert_eq!(
            field(|c| c.external_labels = vec![("__name__".into(), "a".into())]),
            "external_labels"
        );
        assert_eq!(
            field(|c| c.external_labels = vec![("site".into(), String::new())]),
            "external_labels"
        );
        assert_eq!(
            field(|c| c.headers = vec![("Content-Encoding".into(), "gzip".into())]),
            "headers"
        );
        assert_eq!(
            field(|c| c.headers = vec![("X-Scope-OrgID".into(), "a\r\nb".into())]),
            "headers"
        );
        assert_eq!(field(|c| c.shards = 0), "shards");
        assert_eq!(
            field(|c| c.max_samples_per_send = 0),
            "max_samples_per_send"
        );
        assert_eq!(field(|c| c.spool.max_bytes = 1000), "spool_max_bytes");
    }
}
