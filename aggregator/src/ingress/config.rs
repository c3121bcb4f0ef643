//! Settings of the inputs: the `[push]`, `[[scrape]]` and `[collectd]` sections of the
//! config file and the `--push`, `--collectd-udp`, `--collectd-auth-file` flags.
//!
//! The one rule that is not a plain value: pushes through a listener that is not on
//! loopback need credentials (`bearer_tokens` or `basic_auth`), checked by
//! [`validate`], so an aggregator on `0.0.0.0` never takes anonymous pushes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{
    AliasUnit, ConfigError, DurationText, SizeText, duration_key, size_key, usize_of,
};

/// The Pushgateway API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Accept pushes on the HTTP listener.
    pub enabled: bool,
    /// Largest body (after gzip decoding).
    pub max_body_bytes: usize,
    /// Most groups held (pushed, scraped and collectd groups together).
    pub max_groups: usize,
    /// Most series in one group.
    pub max_series_per_group: usize,
    /// A group not pushed again for this long is dropped (`None`: kept forever, as
    /// the Pushgateway does).
    pub expire_after: Option<Duration>,
    /// Accepted `Authorization: Bearer` tokens.
    pub bearer_tokens: Vec<String>,
    /// Accepted `Authorization: Basic` users, as `user:password`.
    pub basic_auth: Vec<String>,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            enabled: false,
            max_body_bytes: 4 << 20,
            max_groups: 1_000,
            max_series_per_group: 10_000,
            expire_after: Some(Duration::from_secs(24 * 3600)),
            bearer_tokens: Vec::new(),
            basic_auth: Vec::new(),
        }
    }
}

/// One `[[scrape]]` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    /// `http://host:port/path`.
    pub url: String,
    /// `job` label.
    pub job: String,
    /// Time between scrapes.
    pub interval: Duration,
    /// Time allowed for one scrape.
    pub timeout: Duration,
    /// Extra labels for every sample.
    pub labels: Vec<(String, String)>,
    /// Scraped labels win over the target's (Prometheus `honor_labels`).
    pub honor_labels: bool,
    /// `Authorization: Bearer`.
    pub bearer_token: Option<String>,
    /// `Authorization: Basic` as `user:password`.
    pub basic_auth: Option<String>,
    /// Largest page accepted (after gzip decoding).
    pub max_body_bytes: usize,
}

/// The collectd listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectdConfig {
    /// UDP address.
    pub listen: SocketAddr,
    /// collectd's `AuthFile` (`user: password` lines).
    pub auth_file: Option<PathBuf>,
    /// collectd's `SecurityLevel`.
    pub security_level: SecurityLevel,
    /// collectd's `types.db` files for plugins pimon has no table for.
    pub types_db: Vec<PathBuf>,
}

/// collectd's `SecurityLevel` of a `<Listen>` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    /// Everything is accepted (signed packets are checked when possible).
    None,
    /// Only signed (or encrypted) packets.
    Sign,
    /// Only encrypted packets.
    Encrypt,
}

/// All input settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngressConfig {
    /// `[push]`.
    pub push: PushConfig,
    /// `[[scrape]]`.
    pub scrape: Vec<ScrapeTarget>,
    /// `[collectd]` (`None`: off).
    pub collectd: Option<CollectdConfig>,
}

impl IngressConfig {
    /// True when anything besides frames is taken in.
    pub fn any(&self) -> bool {
        self.push.enabled || !self.scrape.is_empty() || self.collectd.is_some()
    }
}

/// `[push]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PushSection {
    enabled: Option<bool>,
    max_body_bytes: Option<SizeText>,
    max_groups: Option<usize>,
    max_series_per_group: Option<usize>,
    expire_after: Option<DurationText>,
    expire_after_seconds: Option<u64>,
    bearer_tokens: Option<Vec<String>>,
    basic_auth: Option<Vec<String>>,
}

/// One `[[scrape]]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSection {
    url: Option<String>,
    job: Option<String>,
    interval: Option<DurationText>,
    interval_seconds: Option<u64>,
    timeout: Option<DurationText>,
    timeout_seconds: Option<u64>,
    labels: Option<std::collections::BTreeMap<String, String>>,
    honor_labels: Option<bool>,
    bearer_token: Option<String>,
    basic_auth: Option<String>,
    max_body_bytes: Option<SizeText>,
}

/// `[collectd]` in the config file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CollectdSection {
    listen: Option<String>,
    auth_file: Option<PathBuf>,
    security_level: Option<String>,
    types_db: Option<Vec<PathBuf>>,
}

fn err<T>(key: impl Into<String>, problem: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError {
        key: key.into(),
        problem: problem.into(),
    })
}

fn positive(key: &str, v: usize) -> Result<usize, ConfigError> {
    if v > 0 {
        Ok(v)
    } else {
        err(key, "must be greater than 0")
    }
}

/// Parses a collectd `SecurityLevel` word.
pub fn parse_security_level(key: &str, s: &str) -> Result<SecurityLevel, ConfigError> {
    match s.to_ascii_lowercase().as_str() {
        "none" => Ok(SecurityLevel::None),
        "sign" => Ok(SecurityLevel::Sign),
        "encrypt" => Ok(SecurityLevel::Encrypt),
        _ => err(key, format!("{s:?}: expected none, sign or encrypt")),
    }
}

/// Applies the file's sections to `c`.
pub fn from_sections(
    c: &mut IngressConfig,
    push: Option<PushSection>,
    scrape: Option<Vec<ScrapeSection>>,
    collectd: Option<CollectdSection>,
) -> Result<(), ConfigError> {
    if let Some(p) = push {
        let d = &mut c.push;
        d.enabled = p.enabled.unwrap_or(true);
        if let Some(v) = size_key("push.max_body_bytes", p.max_body_bytes)? {
            d.max_body_bytes = positive("push.max_body_bytes", usize_of(v))?;
        }
        if let Some(v) = p.max_groups {
            d.max_groups = positive("push.max_groups", v)?;
        }
        if let Some(v) = p.max_series_per_group {
            d.max_series_per_group = positive("push.max_series_per_group", v)?;
        }
        let expire_after = duration_key(
            "push.expire_after",
            p.expire_after,
            "push.expire_after_seconds",
            p.expire_after_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = expire_after {
            d.expire_after = (!v.is_zero()).then_some(v);
        }
        d.bearer_tokens = p.bearer_tokens.unwrap_or_default();
        d.basic_auth = p.basic_auth.unwrap_or_default();
        if let Some(bad) = d.basic_auth.iter().position(|u| !u.contains(':')) {
            return err(
                format!("push.basic_auth[{bad}]"),
                "expected \"user:password\"",
            );
        }
        if d.bearer_tokens.iter().any(String::is_empty) {
            return err("push.bearer_tokens", "a token must not be empty");
        }
    }
    for (i, s) in scrape.unwrap_or_default().into_iter().enumerate() {
        let key = |k: &str| format!("scrape[{i}].{k}");
        let Some(url) = s.url else {
            return err(key("url"), "missing");
        };
        if let Err(e) = crate::http_client::HttpUrl::parse(&url) {
            return err(key("url"), format!("{url:?}: {e}"));
        }
        let interval = duration_key(
            &key("interval"),
            s.interval,
            &key("interval_seconds"),
            s.interval_seconds,
            AliasUnit::Seconds,
        )?
        .unwrap_or(Duration::from_secs(15));
        let timeout = duration_key(
            &key("timeout"),
            s.timeout,
            &key("timeout_seconds"),
            s.timeout_seconds,
            AliasUnit::Seconds,
        )?
        .unwrap_or(Duration::from_secs(10));
        if interval.is_zero() || timeout.is_zero() {
            return err(key("interval"), "interval and timeout must be > 0");
        }
        if timeout > interval {
            return err(key("timeout"), "must not be longer than the interval");
        }
        let labels: Vec<(String, String)> = s.labels.unwrap_or_default().into_iter().collect();
        if let Some((k, _)) = labels
            .iter()
            .find(|(k, _)| !super::expo::is_label_name(k) || k.starts_with("__"))
        {
            return err(key("labels"), format!("{k:?} is not a label name"));
        }
        if s.basic_auth.as_ref().is_some_and(|u| !u.contains(':')) {
            return err(key("basic_auth"), "expected \"user:password\"");
        }
        c.scrape.push(ScrapeTarget {
            url,
            job: s.job.unwrap_or_else(|| "scrape".into()),
            interval,
            timeout,
            labels,
            honor_labels: s.honor_labels.unwrap_or(false),
            bearer_token: s.bearer_token,
            basic_auth: s.basic_auth,
            max_body_bytes: size_key(&key("max_body_bytes"), s.max_body_bytes)?
                .map_or(16 << 20, usize_of),
        });
    }
    if let Some(s) = collectd {
        let Some(listen) = s.listen else {
            return err("collectd.listen", "missing (e.g. \"0.0.0.0:25826\")");
        };
        let listen = listen
            .parse()
            .or_else(|_| err("collectd.listen", format!("{listen:?} is not an address")))?;
        c.collectd = Some(CollectdConfig {
            listen,
            auth_file: s.auth_file,
            security_level: match s.security_level {
                Some(l) => parse_security_level("collectd.security_level", &l)?,
                None => SecurityLevel::None,
            },
            types_db: s.types_db.unwrap_or_default(),
        });
    }
    Ok(())
}

/// Checks the inputs against the HTTP listener.
pub fn validate(c: &IngressConfig, http: Option<SocketAddr>) -> Result<(), ConfigError> {
    let p = &c.push;
    if p.enabled {
        let Some(addr) = http else {
            return err(
                "push.enabled",
                "needs the HTTP listener (http.listen is off)",
            );
        };
        if !addr.ip().is_loopback() && p.bearer_tokens.is_empty() && p.basic_auth.is_empty() {
            return err(
                "push.bearer_tokens",
                format!(
                    "pushes on {addr} (not loopback) need credentials: set push.bearer_tokens or push.basic_auth"
                ),
            );
        }
    }
    if let Some(cd) = &c.collectd
        && cd.security_level != SecurityLevel::None
        && cd.auth_file.is_none()
    {
        return err(
            "collectd.auth_file",
            "security level sign or encrypt needs an auth file (--collectd-auth-file)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_pushes_need_credentials() {
        let mut c = IngressConfig::default();
        c.push.enabled = true;
        assert!(validate(&c, Some("127.0.0.1:9798".parse().unwrap())).is_ok());
        let e = validate(&c, Some("0.0.0.0:9798".parse().unwrap())).unwrap_err();
        assert_eq!(e.key, "push.bearer_tokens");
        c.push.bearer_tokens.push("t".into());
        assert!(validate(&c, Some("0.0.0.0:9798".parse().unwrap())).is_ok());
        assert_eq!(validate(&c, None).unwrap_err().key, "push.enabled");
    }

    #[test]
    fn sections_and_flags() {
        use crate::config::{Command, parse_args, parse_toml};
        let c = parse_toml(
            r#"
[http]
listen = "0.0.0.0:9798"
[push]
max_body_bytes = 1000
max_groups = 5
max_series_per_group = 6
expire_after_seconds = 0
bearer_tokens = ["t"]
basic_auth = ["u:p"]
[[scrape]]
url = "http://127.0.0.1:9100/metrics"
job = "node"
interval_seconds = 30
labels = { site = "attic" }
honor_labels = true
[collectd]
listen = "127.0.0.1:25826"
auth_file = "/etc/pimon/collectd.passwd"
security_level = "Encrypt"
"#,
            "a.toml",
        )
        .unwrap();
        let i = &c.ingress;
        assert!(i.push.enabled);
        assert_eq!((i.push.max_body_bytes, i.push.max_groups), (1000, 5));
        assert_eq!(i.push.expire_after, None);
        assert_eq!(i.scrape[0].job, "node");
        assert_eq!(i.scrape[0].interval, Duration::from_secs(30));
        assert_eq!(i.scrape[0].labels, [("site".into(), "attic".into())]);
        assert!(i.scrape[0].honor_labels);
        assert_eq!(
            i.collectd.as_ref().unwrap().security_level,
            SecurityLevel::Encrypt
        );
        let e = parse_toml("[push]\nbasic_auth = [\"nocolon\"]\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "push.basic_auth[0]");
        let e = parse_toml("[[scrape]]\nurl = \"https://x\"\n", "a.toml").unwrap_err();
        assert_eq!(e.key, "scrape[0].url");
        let e = parse_toml(
            "[collectd]\nlisten = \"127.0.0.1:1\"\nsecurity_level = \"sign\"\n",
            "a.toml",
        )
        .and_then(|c| crate::config::validate(&c).map(|_| c))
        .unwrap_err();
        assert_eq!(e.key, "collectd.auth_file");

        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        let Ok(Command::Run(c)) = args(&[
            "--push",
            "--collectd-udp",
            "127.0.0.1:25826",
            "--collectd-auth-file",
            "/k",
            "--collectd-security-level",
            "sign",
        ]) else {
            panic!("flags");
        };
        assert!(c.ingress.push.enabled);
        let cd = c.ingress.collectd.unwrap();
        assert_eq!(cd.security_level, SecurityLevel::Sign);
        assert_eq!(cd.auth_file.as_deref(), Some(std::path::Path::new("/k")));
        let e = args(&["--collectd-auth-file", "/k"]).unwrap_err();
        assert_eq!(e.key, "--collectd-auth-file");
        let e = args(&["--push", "--http", "0.0.0.0:9798"]).unwrap_err();
        assert_eq!(e.key, "push.bearer_tokens");
    }
}
