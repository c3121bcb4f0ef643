//! Settings of one InfluxDB output (v1 or v2 API) and their validation.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::http_client::HttpUrl;
use crate::spool::SpoolConfig;

/// The smallest `spool_max_bytes`: the aggregator hands a spool at most an eighth of
/// its size at once plus one frame's lines (a few hundred KiB at most), which must fit.
pub const MIN_SPOOL_BYTES: u64 = 1024 * 1024;

/// Which write API the server speaks, with its target and credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum InfluxApi {
    /// InfluxDB 1.x `POST /write?db=…&rp=…&precision=…` (also VictoriaMetrics `/write`).
    V1 {
        /// Database (`db=`). Must exist: a 404 "database not found" is retried with
        /// backoff while lines keep spooling, so creating it later heals the output.
        db: String,
        /// Retention policy (`rp=`); `None`: the database's default.
        rp: Option<String>,
        /// User name, when InfluxDB has `auth-enabled`.
        user: Option<String>,
        /// Password for `user`.
        password: Option<String>,
        /// Send the credentials as `Authorization: Basic …` instead of the `u=`/`p=`
        /// query parameters (which may end up in proxy logs).
        basic_auth: bool,
    },
    /// InfluxDB 2.x `POST /api/v2/write?org=…&bucket=…&precision=…` with
    /// `Authorization: Token …` (also InfluxDB 1.8+ and VictoriaMetrics).
    V2 {
        /// Organisation name (`org=`).
        org: String,
        /// Bucket name (`bucket=`); for 1.8 compatibility `db/rp`.
        bucket: String,
        /// API token; empty sends no `Authorization` header.
        token: String,
    },
}

impl fmt::Debug for InfluxApi {
    // Never print secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfluxApi::V1 {
                db,
                rp,
                user,
                basic_auth,
                ..
            } => f
                .debug_struct("V1")
                .field("db", db)
                .field("rp", rp)
                .field("user", user)
                .field("password", &"<redacted>")
                .field("basic_auth", basic_auth)
                .finish(),
            InfluxApi::V2 { org, bucket, .. } => f
                .debug_struct("V2")
                .field("org", org)
                .field("bucket", bucket)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// Timestamp precision of the lines, sent as the `precision=` parameter. It must match
/// the precision the lines were rendered in, hence the protocol crate's one type.
pub use pimon_protocol::text::influx::Precision;

/// Exponential backoff between retries of a failed write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryConfig {
    /// First delay (default 500 ms); doubled after each consecutive failure.
    pub initial: Duration,
    /// Upper bound on the delay (default 60 s).
    pub max: Duration,
    /// Random spread as a fraction of the delay, 0.0..=1.0 (default 0.2 → ±10 %), so
    /// several aggregators do not retry in lock-step.
    pub jitter: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            jitter: 0.2,
        }
    }
}

/// Everything one InfluxDB output needs. Build with [`InfluxConfig::v1`] or
/// [`InfluxConfig::v2`] and adjust fields; [`InfluxConfig::validate`] names the first
/// bad field.
#[derive(Clone, Debug, PartialEq)]
pub struct InfluxConfig {
    /// Name used in logs and as a `/metrics` label (e.g. `influx`).
    pub name: String,
    /// Base URL `http://host:port[/prefix]` (no TLS, see [`crate::http_client`]).
    pub url: String,
    /// API, target and credentials.
    pub api: InfluxApi,
    /// Timestamp precision of the submitted lines.
    pub precision: Precision,
    /// A batch is sent as soon as this many bytes are pending (default 1 MiB); also
    /// the largest request body (one spool record bigger than this is sent alone).
    pub batch_max_bytes: usize,
    /// A batch is sent as soon as this many lines are pending (default 5000).
    pub batch_max_lines: u64,
    /// Pending lines are sent at least this often (default 1 s).
    pub flush_interval: Duration,
    /// gzip request bodies (`Content-Encoding: gzip`, default on).
    pub gzip: bool,
    /// Timeout of one write request: connect, send and response (default 10 s).
    pub timeout: Duration,
    /// Backoff between retries.
    pub retry: RetryConfig,
    /// The durable spool (directory, bound, fsync policy).
    pub spool: SpoolConfig,
    /// On shutdown, keep delivering for at most this long (default 5 s); whatever is
    /// left stays in the spool for the next start.
    pub shutdown_timeout: Duration,
}

impl InfluxConfig {
    fn with_api(url: &str, api: InfluxApi, spool_dir: PathBuf) -> InfluxConfig {
        InfluxConfig {
            name: "influx".to_string(),
            url: url.to_string(),
            api,
            precision: Precision::Nanoseconds,
            batch_max_bytes: 1024 * 1024,
            batch_max_lines: 5000,
            flush_interval: Duration::from_secs(1),
            gzip: true,
            timeout: Duration::from_secs(10),
            retry: RetryConfig::default(),
            spool: SpoolConfig::new(spool_dir),
            shutdown_timeout: Duration::from_secs(5),
        }
    }

    /// A v1 output with defaults, no credentials, default retention policy.
    pub fn v1(url: &str, db: &str, spool_dir: impl Into<PathBuf>) -> InfluxConfig {
        Self::with_api(
            url,
            InfluxApi::V1 {
                db: db.to_string(),
                rp: None,
                user: None,
                password: None,
                basic_auth: false,
            },
            spool_dir.into(),
        )
    }

    /// A v2 output with defaults.
    pub fn v2(
        url: &str,
        org: &str,
        bucket: &str,
        token: &str,
        spool_dir: impl Into<PathBuf>,
    ) -> InfluxConfig {
        Self::with_api(
            url,
            InfluxApi::V2 {
                org: org.to_string(),
                bucket: bucket.to_string(),
                token: token.to_string(),
            },
            spool_dir.into(),
        )
    }

    /// Checks every field; the error names the field and the problem.
    pub fn validate(&self) -> Result<HttpUrl, ConfigError> {
        let err = |field: &'static str, problem: String| Err(ConfigError { field, problem });
        let url = match HttpUrl::parse(&self.url) {
            Ok(u) => u,
            Err(e) => return err("url", format!("{:?}: {e}", self.url)),
        };
        match &self.api {
            InfluxApi::V1 {
                db, user, password, ..
            } => {
                if db.is_empty() {
                    return err("db", "must not be empty".into());
                }
                if user.is_some() != password.is_some() {
                    return err("user", "user and password must be given together".into());
                }
            }
            InfluxApi::V2 { org, bucket, .. } => {
                if org.is_empty() {
                    return err("org", "must not be empty".into());
                }
                if bucket.is_empty() {
                    return err("bucket", "must not be empty".into());
                }
            }
        }
        if self.batch_max_bytes == 0 {
            return err("batch_max_bytes", "must be at least 1".into());
        }
        if self.batch_max_lines == 0 {
            return err("batch_max_lines", "must be at least 1".into());
        }
        if self.flush_interval.is_zero() {
            return err("flush_interval", "must be greater than zero".into());
        }
        if self.timeout.is_zero() {
            return err("timeout", "must be greater than zero".into());
        }
        if self.retry.initial.is_zero() || self.retry.max < self.retry.initial {
            return err("retry", "initial must be > 0 and max >= initial".into());
        }
        if !(0.0..=1.0).contains(&self.retry.jitter) {
            return err("retry.jitter", "must be between 0.0 and 1.0".into());
        }
        if self.spool.max_bytes < MIN_SPOOL_BYTES {
            return err(
                "spool_max_bytes",
                format!(
                    "must be at least {MIN_SPOOL_BYTES} (1 MiB): a spool holds whole receive batches"
                ),
            );
        }
        if let crate::spool::FsyncPolicy::Interval(d) = self.spool.fsync
            && d.is_zero()
        {
            return err("fsync", "interval must be greater than zero".into());
        }
        Ok(url)
    }
}

/// A configuration error: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field (config key) at fault.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ConfigError {}
