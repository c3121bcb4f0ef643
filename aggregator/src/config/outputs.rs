//! The outputs' sections of the config file (`[[influx]]`, `[[remote_write]]`) into
//! their settings, with their defaults.

#[allow(unused_imports)]
use super::*;

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

pub(super) fn remote_write_from_section(
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
    if let Some(v) = size_key(&key("spool_max_bytes"), s.spool_max_bytes)? {
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
    let flush_interval = duration_key(
        &key("flush_interval"),
        s.flush_interval,
        &key("flush_interval_ms"),
        s.flush_interval_ms,
        AliasUnit::Millis,
    )?;
    if let Some(v) = flush_interval {
        c.flush_interval = v;
    }
    if let Some(v) = s.shards {
        c.shards = v;
    }
    let timeout = duration_key(
        &key("timeout"),
        s.timeout,
        &key("timeout_seconds"),
        s.timeout_seconds,
        AliasUnit::Seconds,
    )?;
    if let Some(v) = timeout {
        c.timeout = v;
    }
    c.validate().map_err(|e| ConfigError {
        key: key(e.field),
        problem: e.problem,
    })?;
    Ok(c)
}

pub(super) fn influx_from_section(
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
    if let Some(v) = size_key(&key("spool_max_bytes"), s.spool_max_bytes)? {
        c.spool.max_bytes = v;
    }
    if let Some(f) = s.fsync {
        c.spool.fsync = parse_fsync(&key("fsync"), &f)?;
    }
    if let Some(w) = s.when_full {
        c.spool.when_full = parse_when_full(&key("when_full"), &w)?;
    }
    if let Some(v) = size_key(&key("batch_max_bytes"), s.batch_max_bytes)? {
        c.batch_max_bytes = usize_of(v);
    }
    if let Some(v) = s.batch_max_lines {
        c.batch_max_lines = v;
    }
    let flush_interval = duration_key(
        &key("flush_interval"),
        s.flush_interval,
        &key("flush_interval_ms"),
        s.flush_interval_ms,
        AliasUnit::Millis,
    )?;
    if let Some(v) = flush_interval {
        c.flush_interval = v;
    }
    if let Some(v) = s.gzip {
        c.gzip = v;
    }
    let timeout = duration_key(
        &key("timeout"),
        s.timeout,
        &key("timeout_seconds"),
        s.timeout_seconds,
        AliasUnit::Seconds,
    )?;
    if let Some(v) = timeout {
        c.timeout = v;
    }
    c.validate().map_err(|e| ConfigError {
        key: key(e.field),
        problem: e.problem,
    })?;
    Ok(c)
}
