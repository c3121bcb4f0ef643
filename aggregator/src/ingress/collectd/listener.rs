//! The collectd UDP listener: receive a batch of packets, parse and map them, hand
//! their lines to the outputs in one submit, then store: catalog values on the
//! host's node in the node store, the rest in the host's group.
//!
//! collectd's protocol has no acknowledgement, so nothing is resent: a batch the
//! outputs refuse is still shown on `/metrics` and counted
//! (`pimon_collectd_outputs_refused_total`). The AuthFile is re-read when it changes,
//! as collectd does. Every refusal is counted by kind (`pimon_collectd_*`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pimon_protocol::catalog;
use pimon_protocol::text::prometheus::Format;
use smol::Async;
use smol::channel::Receiver;
use smol::future::FutureExt;

use super::authfile::Users;
use super::mapping::{CatalogSample, Mapper, USER_HZ};
use super::packet::{self, Problem};
use super::typesdb::TypesDb;
use crate::atomic::AtomicU64;
use crate::ingest::Ingest;
use crate::ingress::config::CollectdConfig;
use crate::ingress::expo::{Family, Kind, Metric, Value};
use crate::ingress::groups::Source;
use crate::ingress::pushpath::GroupingKey;
use crate::ingress::runtime::Ingress;
use crate::log::{error, warning};
use crate::self_metrics as sm;
use crate::series::family_rank;
use crate::server::now_ms;

/// Largest datagram read (collectd's default buffer is 1452 bytes; its maximum 65535).
pub const MAX_PACKET: usize = 65_535;
/// Packets handled per batch.
pub const BATCH: usize = 64;

/// Counters of the collectd input.
#[derive(Debug, Default)]
pub struct CollectdStats {
    /// Packets received.
    pub packets: AtomicU64,
    /// Bytes received.
    pub bytes: AtomicU64,
    problems: [AtomicU64; Problem::ALL.len()],
    /// Value lists stored on catalog rows.
    pub lists_catalog: AtomicU64,
    /// Value lists stored as `collectd_*` (or wireless/conntrack) series.
    pub lists_other: AtomicU64,
    /// Value lists of a type in no types.db.
    pub unknown_type: AtomicU64,
    /// Value lists of a new host refused by `max_nodes` / `max_groups`.
    pub hosts_refused: AtomicU64,
    /// Values refused by a series limit.
    pub values_refused: AtomicU64,
    /// Batches whose lines the outputs refused (still shown on /metrics).
    pub outputs_refused: AtomicU64,
}

impl CollectdStats {
    /// Counts a problem.
    pub fn problem(&self, p: Problem) {
        if let Some(i) = Problem::ALL.iter().position(|&x| x == p) {
            self.problems[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Problems of one kind so far.
    pub fn problems(&self, p: Problem) -> u64 {
        Problem::ALL
            .iter()
            .position(|&x| x == p)
            .map_or(0, |i| self.problems[i].load(Ordering::Relaxed))
    }

    /// Writes the counters ([`COLLECTD`]).
    pub fn render<W: Write>(&self, w: &mut W, format: Format) -> fmt::Result {
        sm::render_table(w, format, COLLECTD, &[(&[], self)])
    }
}

/// `pimon_collectd_*`, with the collectd input on.
pub const COLLECTD: &[sm::Family<sm::Read<CollectdStats>>] = &[
    sm::counter(
        "pimon_collectd_packets_received_total",
        "collectd packets received.",
        |s| sm::load(&s.packets),
    ),
    sm::bytes_counter("pimon_collectd_received_bytes_total", "Their bytes.", |s| {
        sm::load(&s.bytes)
    }),
    sm::counter(
        "pimon_collectd_unknown_type_total",
        "Value lists of a type in no types.db (data sources named `value`, `value0`, …).",
        |s| sm::load(&s.unknown_type),
    ),
    sm::counter(
        "pimon_collectd_hosts_refused_total",
        "Value lists of a new host refused by `max_nodes` or `push.max_groups`.",
        |s| sm::load(&s.hosts_refused),
    ),
    sm::counter(
        "pimon_collectd_outputs_refused_total",
        "Batches whose lines the outputs refused (shown on `/metrics`, not spooled).",
        |s| sm::load(&s.outputs_refused),
    ),
    sm::labelled(
        "pimon_collectd_bad_packets_total",
        sm::Kind::Counter,
        "",
        &["kind"],
        "Packets (or parts) refused: `bad_length`, `bad_string`, `bad_number`, `bad_values`, `bad_signature`, `bad_encryption`, `unknown_user`, `no_auth_file`, `unsigned`, `unencrypted`, `incomplete`.",
        |s, emit| {
            for (i, p) in Problem::ALL.iter().enumerate() {
                emit(&[("kind", p.label())], sm::load(&s.problems[i]))?;
            }
            Ok(())
        },
    ),
    sm::labelled(
        "pimon_collectd_value_lists_total",
        sm::Kind::Counter,
        "",
        &["stored_as"],
        "Value lists stored: `catalog` (rows of the host's node) or `other` (its group).",
        |s, emit| {
            emit(&[("stored_as", "catalog")], sm::load(&s.lists_catalog))?;
            emit(&[("stored_as", "other")], sm::load(&s.lists_other))
        },
    ),
    sm::counter(
        "pimon_collectd_values_refused_total",
        "Values refused by a series limit.",
        |s| sm::load(&s.values_refused),
    ),
];

/// At most one log line about bad packets every 10 s, with the counts by kind.
#[derive(Default)]
struct ProblemLog {
    held: [u64; Problem::ALL.len()],
    last: Option<Instant>,
}

impl ProblemLog {
    fn note(&mut self, p: Problem) {
        if let Some(i) = Problem::ALL.iter().position(|&x| x == p) {
            self.held[i] += 1;
        }
    }

    fn flush(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
            || self.held.iter().all(|&n| n == 0)
        {
            return;
        }
        self.last = Some(now);
        let mut line = String::from("collectd packets refused:");
        for (i, p) in Problem::ALL.iter().enumerate() {
            if self.held[i] > 0 {
                let _ = write!(line, " {} {}", self.held[i], p.label());
            }
        }
        line.push_str(" (pimon_collectd_bad_packets_total)");
        warning!("{line}");
        self.held = [0; Problem::ALL.len()];
    }
}

/// The AuthFile, re-read when its modification time changes.
struct AuthFile {
    path: Option<PathBuf>,
    users: Option<Users>,
    modified: Option<SystemTime>,
    checked: Instant,
}

impl AuthFile {
    fn load(path: Option<PathBuf>) -> std::io::Result<AuthFile> {
        let (users, modified) = match &path {
            Some(p) => (
                Some(Users::load(p)?),
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            ),
            None => (None, None),
        };
        Ok(AuthFile {
            path,
            users,
            modified,
            checked: Instant::now(),
        })
    }

    fn refresh(&mut self) {
        let Some(path) = &self.path else { return };
        if self.checked.elapsed() < Duration::from_secs(2) {
            return;
        }
        self.checked = Instant::now();
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified != self.modified {
            match Users::load(path) {
                Ok(u) => {
                    self.users = Some(u);
                    self.modified = modified;
                }
                Err(e) => error!(
                    "collectd auth file {} not re-read, previous users stay: {e}",
                    path.display()
                ),
            }
        }
    }
}

/// Label set → (value, Unix ms of its update).
type Series = BTreeMap<Vec<(String, String)>, (f64, u64)>;

/// One host's series outside the catalog.
#[derive(Default)]
struct HostSeries {
    /// Family name → (type, help, series).
    families: BTreeMap<String, (Kind, String, Series)>,
    stale_ms: u64,
}

impl HostSeries {
    fn families(&mut self, now: u64) -> Vec<Family> {
        let stale = self.stale_ms;
        self.families.retain(|_, (_, _, m)| {
            m.retain(|_, (_, at)| now.saturating_sub(*at) <= stale);
            !m.is_empty()
        });
        self.families
            .iter()
            .map(|(name, (kind, help, metrics))| Family {
                name: name.clone(),
                help: Some(help.clone()),
                kind: *kind,
                metrics: metrics
                    .iter()
                    .map(|(labels, (v, _))| Metric {
                        labels: labels.clone(),
                        value: Value::Scalar(*v),
                        timestamp_ms: None,
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The listener's socket, bound at start-up.
pub struct Bound {
    socket: Async<UdpSocket>,
    auth: AuthFile,
    types: TypesDb,
    /// The bound address.
    pub local: SocketAddr,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// Binds the socket and reads the AuthFile and types.db files.
pub fn bind(config: &CollectdConfig) -> Result<Bound, String> {
    let l = crate::udp::bind(config.listen, 4 << 20)
        .map_err(|e| format!("cannot listen on udp {} (collectd): {e}", config.listen))?;
    let auth = AuthFile::load(config.auth_file.clone()).map_err(|e| {
        format!(
            "collectd auth file {}: {e}",
            config
                .auth_file
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        )
    })?;
    let mut types = TypesDb::builtin();
    let mut files = config.types_db.clone();
    let debian = PathBuf::from("/usr/share/collectd/types.db");
    if files.is_empty() && debian.is_file() {
        files.push(debian);
    }
    for f in &files {
        types
            .add_file(f)
            .map_err(|e| format!("collectd types.db {}: {e}", f.display()))?;
    }
    Ok(Bound {
        socket: l.socket,
        auth,
        types,
        local: l.local,
    })
}

fn lock(m: &Mutex<Ingest>) -> std::sync::MutexGuard<'_, Ingest> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stores a host's catalog values on its node (admitted on first sight). Returns
/// false when the node limit refused a new host.
pub fn apply_catalog(
    ingest: &Mutex<Ingest>,
    host: &str,
    samples: &[CatalogSample],
    interval_ms: u64,
    now: u64,
    stats: &CollectdStats,
) -> bool {
    let mut ing = lock(ingest);
    let store = &mut ing.store;
    if store.get(host).is_none() && store.admit(host, 0, None, now).is_err() {
        return false;
    }
    if let Some(node) = store.get_mut(host) {
        node.meta.last_seen_ms = node.meta.last_seen_ms.max(now);
        node.meta.interval_ms = interval_ms.min(u64::from(u32::MAX)) as u32;
        node.meta.counters.received += 1;
    }
    let stamp = store.stamp(now);
    for s in samples {
        let (Some(rank), Some(metric)) = (family_rank(s.id), catalog::lookup(s.id)) else {
            continue;
        };
        let labels: Vec<&str> = s.labels.iter().map(String::as_str).collect();
        let value = metric.conversion.convert(s.raw, USER_HZ);
        if store.upsert(host, rank, &labels, stamp, value).is_err() {
            stats.values_refused.fetch_add(1, Ordering::Relaxed);
            if let Some(n) = store.get_mut(host) {
                n.meta.counters.series_refused += 1;
            }
        }
    }
    true
}

/// Receives and stores packets until `stop` closes.
pub async fn run(inputs: Arc<Ingress>, mut bound: Bound, stop: Receiver<()>) {
    let stats = &inputs.stats().collectd;
    let level = inputs
        .config()
        .collectd
        .as_ref()
        .map_or(crate::ingress::config::SecurityLevel::None, |c| {
            c.security_level
        });
    let mut mapper = Mapper::default();
    let mut log = ProblemLog::default();
    let mut hosts: HashMap<String, HostSeries> = HashMap::new();
    let mut buf = vec![0u8; MAX_PACKET];
    let mut packets: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    loop {
        packets.clear();
        let first = bound
            .socket
            .recv_from(&mut buf)
            .or(async {
                let _ = stop.recv().await;
                Err(std::io::ErrorKind::Interrupted.into())
            })
            .await;
        match first {
            Ok((n, _)) => packets.push(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && stop.is_closed() => return,
            Err(_) => {
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        }
        while packets.len() < BATCH {
            match bound.socket.get_ref().recv_from(&mut buf) {
                Ok((n, _)) => packets.push(buf[..n].to_vec()),
                Err(_) => break,
            }
        }
        bound.auth.refresh();
        log.flush(Instant::now());
        let now = now_ms();
        let mut lines = String::new();
        let mut catalog: Vec<(String, u64, Vec<CatalogSample>)> = Vec::new();
        let mut touched: HashSet<String> = HashSet::new();
        // At the group limit, hosts whose series all went stale make room.
        if hosts.len() >= inputs.config().push.max_groups {
            hosts.retain(|_, h| !h.families(now).is_empty());
        }
        for p in &packets {
            stats.packets.fetch_add(1, Ordering::Relaxed);
            stats.bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
            let parsed = packet::parse(p, level, bound.auth.users.as_ref());
            for problem in &parsed.problems {
                stats.problem(*problem);
                log.note(*problem);
            }
            for vl in &parsed.lists {
                if !hosts.contains_key(&vl.host) && hosts.len() >= inputs.config().push.max_groups {
                    stats.hosts_refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let mapped = mapper.map(vl, &bound.types, inputs.precision(), &mut lines);
                if mapped.unknown_type {
                    stats.unknown_type.fetch_add(1, Ordering::Relaxed);
                }
                let interval = vl.interval_ms().max(1000);
                if !mapped.catalog.is_empty() {
                    stats.lists_catalog.fetch_add(1, Ordering::Relaxed);
                    match catalog.iter_mut().find(|(h, _, _)| *h == vl.host) {
                        Some((_, _, s)) => s.extend(mapped.catalog),
                        None => catalog.push((vl.host.clone(), interval, mapped.catalog)),
                    }
                }
                if !mapped.foreign.is_empty() {
                    stats.lists_other.fetch_add(1, Ordering::Relaxed);
                    let host = hosts.entry(vl.host.clone()).or_default();
                    host.stale_ms = (interval * 3).max(30_000);
                    for s in mapped.foreign {
                        let fam = host
                            .families
                            .entry(s.name)
                            .or_insert_with(|| (s.kind, s.help, BTreeMap::new()));
                        fam.2.insert(s.labels, (s.value, now));
                    }
                    touched.insert(vl.host.clone());
                }
            }
        }
        if inputs.submit(&lines).await.is_err() {
            stats.outputs_refused.fetch_add(1, Ordering::Relaxed);
        }
        for (host, interval, samples) in &catalog {
            if !apply_catalog(inputs.nodes(), host, samples, *interval, now, stats) {
                stats.hosts_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        for host in touched {
            let Some(series) = hosts.get_mut(&host) else {
                continue;
            };
            let families = series.families(now);
            let mut key = GroupingKey::new();
            key.insert("instance".into(), host.clone());
            key.insert("job".into(), "collectd".into());
            if inputs
                .set_group(&key, Source::Collectd, families, now)
                .await
                .is_err()
            {
                stats.values_refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
