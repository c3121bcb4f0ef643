//! The TOML config file: its schema (every section and key) and its parsing into a
//! [`Config`], with errors naming the key and line.

#[allow(unused_imports)]
use super::*;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) log_level: Option<String>,
    pub(super) udp: Option<UdpSection>,
    pub(super) http: Option<HttpSection>,
    pub(super) auth: Option<AuthSection>,
    pub(super) limits: Option<LimitsSection>,
    pub(super) staleness: Option<StalenessSection>,
    pub(super) clock: Option<ClockSection>,
    pub(super) output: Option<OutputSection>,
    pub(super) influx: Option<Vec<InfluxSection>>,
    pub(super) remote_write: Option<Vec<RemoteWriteSection>>,
    pub(super) push: Option<ingress_config::PushSection>,
    pub(super) scrape: Option<Vec<ingress_config::ScrapeSection>>,
    pub(super) collectd: Option<ingress_config::CollectdSection>,
    pub(super) state: Option<StateSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateSection {
    pub(super) dir: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UdpSection {
    pub(super) listen: Option<Vec<String>>,
    pub(super) receive_buffer_bytes: Option<SizeText>,
    pub(super) batch: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpSection {
    pub(super) listen: Option<String>,
    pub(super) max_connections: Option<usize>,
    pub(super) timeout: Option<DurationText>,
    pub(super) timeout_seconds: Option<u64>,
    pub(super) status_history: Option<DurationText>,
    pub(super) status_history_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthSection {
    pub(super) key_file: Option<PathBuf>,
    pub(super) refuse_unknown_nodes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    pub(super) max_nodes: Option<usize>,
    pub(super) max_series_per_node: Option<usize>,
    pub(super) max_series_total: Option<usize>,
    pub(super) max_new_nodes_per_address: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StalenessSection {
    pub(super) stale_intervals: Option<u32>,
    pub(super) stale_min: Option<DurationText>,
    pub(super) stale_min_seconds: Option<u64>,
    pub(super) forget_after: Option<DurationText>,
    pub(super) forget_after_seconds: Option<u64>,
    pub(super) forget_new_after: Option<DurationText>,
    pub(super) forget_new_after_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClockSection {
    pub(super) max_skew: Option<DurationText>,
    pub(super) max_skew_seconds: Option<u64>,
    pub(super) max_backfill: Option<DurationText>,
    pub(super) max_backfill_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputSection {
    pub(super) lp_out: Option<String>,
    pub(super) lp_out_fsync: Option<String>,
    pub(super) precision: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct InfluxSection {
    pub(super) name: Option<String>,
    pub(super) url: Option<String>,
    pub(super) db: Option<String>,
    pub(super) rp: Option<String>,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) basic_auth: Option<bool>,
    pub(super) org: Option<String>,
    pub(super) bucket: Option<String>,
    pub(super) token: Option<String>,
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) spool_max_bytes: Option<SizeText>,
    pub(super) fsync: Option<String>,
    pub(super) when_full: Option<String>,
    pub(super) batch_max_bytes: Option<SizeText>,
    pub(super) batch_max_lines: Option<u64>,
    pub(super) flush_interval: Option<DurationText>,
    pub(super) flush_interval_ms: Option<u64>,
    pub(super) gzip: Option<bool>,
    pub(super) timeout: Option<DurationText>,
    pub(super) timeout_seconds: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoteWriteSection {
    pub(super) name: Option<String>,
    pub(super) url: Option<String>,
    pub(super) external_labels: Option<std::collections::BTreeMap<String, String>>,
    pub(super) headers: Option<std::collections::BTreeMap<String, String>>,
    pub(super) basic_auth_user: Option<String>,
    pub(super) basic_auth_password: Option<String>,
    pub(super) bearer_token: Option<String>,
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) spool_max_bytes: Option<SizeText>,
    pub(super) fsync: Option<String>,
    pub(super) when_full: Option<String>,
    pub(super) max_samples_per_send: Option<usize>,
    pub(super) flush_interval: Option<DurationText>,
    pub(super) flush_interval_ms: Option<u64>,
    pub(super) shards: Option<usize>,
    pub(super) timeout: Option<DurationText>,
    pub(super) timeout_seconds: Option<u64>,
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
    if let Some(l) = file.log_level {
        c.log_level = parse_log_level("log_level", &l)?;
    }
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
        if let Some(v) = size_key("udp.receive_buffer_bytes", u.receive_buffer_bytes)? {
            c.udp_receive_buffer = usize_of(v);
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
        let timeout = positive_duration_key(
            "http.timeout",
            h.timeout,
            "http.timeout_seconds",
            h.timeout_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = timeout {
            c.http_config.timeout = v;
        }
        let history = positive_duration_key(
            "http.status_history",
            h.status_history,
            "http.status_history_seconds",
            h.status_history_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = history {
            c.status_history = v;
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
        let stale_min = duration_key(
            "staleness.stale_min",
            s.stale_min,
            "staleness.stale_min_seconds",
            s.stale_min_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = stale_min {
            c.staleness.stale_min_ms = millis(v);
        }
        let forget_after = positive_duration_key(
            "staleness.forget_after",
            s.forget_after,
            "staleness.forget_after_seconds",
            s.forget_after_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = forget_after {
            c.staleness.forget_after_ms = millis(v);
        }
        let forget_new_after = positive_duration_key(
            "staleness.forget_new_after",
            s.forget_new_after,
            "staleness.forget_new_after_seconds",
            s.forget_new_after_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = forget_new_after {
            c.staleness.forget_new_after_ms = millis(v);
        }
    }
    if let Some(k) = file.clock {
        let max_skew = duration_key(
            "clock.max_skew",
            k.max_skew,
            "clock.max_skew_seconds",
            k.max_skew_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = max_skew {
            c.ingest.max_clock_skew_ms = millis(v);
        }
        let max_backfill = duration_key(
            "clock.max_backfill",
            k.max_backfill,
            "clock.max_backfill_seconds",
            k.max_backfill_seconds,
            AliasUnit::Seconds,
        )?;
        if let Some(v) = max_backfill {
            c.ingest.max_backfill_ms = millis(v);
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

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
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
