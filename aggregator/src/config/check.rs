//! `--check-config`: the configuration described in words, secrets hidden.

#[allow(unused_imports)]
use super::*;

/// A human-readable summary of a configuration (for `--check-config`), secrets hidden.
pub fn describe(c: &Config) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "configuration OK");
    let _ = writeln!(s, "log level         {}", c.log_level.word());
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
                "http listen       {h}  (/metrics; status page /, sparklines over {} min), {} connections, timeout {}",
                c.status_history.as_secs() / 60,
                c.http_config.max_connections,
                duration_text(c.http_config.timeout)
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
        "staleness         {} intervals (stale_min {}); forget_after {} (forget_new_after {})",
        c.staleness.stale_intervals,
        duration_text(Duration::from_millis(c.staleness.stale_min_ms)),
        duration_text(Duration::from_millis(c.staleness.forget_after_ms)),
        duration_text(Duration::from_millis(c.staleness.forget_new_after_ms))
    );
    let _ = writeln!(
        s,
        "clock             max_skew {}, max_backfill {}",
        duration_text(Duration::from_millis(c.ingest.max_clock_skew_ms)),
        duration_text(Duration::from_millis(c.ingest.max_backfill_ms))
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
            "scrape            {} every {} (job {})",
            t.url,
            duration_text(t.interval),
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
            "  batches         {} bytes or {} lines, flush_interval {}, gzip {}, timeout {}",
            i.batch_max_bytes,
            i.batch_max_lines,
            duration_text(i.flush_interval),
            i.gzip,
            duration_text(i.timeout)
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
pub(super) fn fsync_text(p: FsyncPolicy) -> String {
    match p {
        FsyncPolicy::Always => "always".to_string(),
        FsyncPolicy::Never => "never".to_string(),
        FsyncPolicy::Interval(d) => format!("every {} ms", d.as_millis()),
    }
}

/// An output's API and target, secrets hidden.
pub(super) fn api_text(api: &crate::influx::InfluxApi) -> String {
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
