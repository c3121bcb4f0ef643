//! The inputs at run time: the group table behind a lock, the outputs, and the
//! order of a change: check → lines to the outputs → apply.
//!
//! "Acked" means the same as for frames: a push is answered 2xx only once the outputs
//! accepted its lines (the InfluxDB spool has them); when they refuse, the push is
//! answered 503 and the table is left as it was, so the client's retry is not a
//! duplicate. Changes are serialised by one async lock, so a check still holds when
//! its change is applied.

use std::fmt::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use pimon_protocol::text::influx::Precision;
use pimon_protocol::text::prometheus::Format;

use std::net::SocketAddr;

use super::collectd::listener::{self, Bound};
use super::config::IngressConfig;
use super::expo::{self, Family};
use super::groups::{GroupLimits, Groups, Plan, Refusal, Source};
use super::lines::write_families;
use super::protobuf;
use super::push::{self, PushMethod, PushRequest, Reply};
use super::pushpath::{self, GroupingKey, PathError};
use super::stats::{IngressStats, PushResult};
use crate::influx::LineOutputs;
use crate::ingest::Ingest;

/// Why a scrape's or collectd's data was not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A limit refused it.
    Limit(Refusal),
    /// The outputs refused the lines (the data is on `/metrics` but not spooled).
    Outputs(String),
}

/// The inputs' shared state.
pub struct Ingress {
    config: IngressConfig,
    groups: Mutex<Groups>,
    writer: smol::lock::Mutex<()>,
    stats: Arc<IngressStats>,
    outputs: Arc<LineOutputs>,
    nodes: Arc<Mutex<Ingest>>,
    precision: Precision,
    collectd: Mutex<Option<Bound>>,
    collectd_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingress")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ingress {
    /// The inputs over `outputs`; `nodes` is the node store (for the shared
    /// `max_series_total`).
    pub fn new(
        config: IngressConfig,
        max_series_total: usize,
        outputs: Arc<LineOutputs>,
        nodes: Arc<Mutex<Ingest>>,
        precision: Precision,
    ) -> Ingress {
        let limits = GroupLimits {
            max_groups: config.push.max_groups,
            max_series_per_group: config.push.max_series_per_group,
            max_series_total,
        };
        Ingress {
            config,
            groups: Mutex::new(Groups::new(limits)),
            writer: smol::lock::Mutex::new(()),
            stats: Arc::new(IngressStats::default()),
            outputs,
            nodes,
            precision,
            collectd: Mutex::new(None),
            collectd_addr: None,
        }
    }

    /// Binds the collectd socket (when configured) and reads its AuthFile and
    /// types.db files.
    pub fn bind_collectd(&mut self) -> Result<(), String> {
        if let Some(c) = &self.config.collectd {
            let bound = listener::bind(c)?;
            self.collectd_addr = Some(bound.local);
            self.collectd = Mutex::new(Some(bound));
        }
        Ok(())
    }

    /// The bound collectd address.
    pub fn collectd_addr(&self) -> Option<SocketAddr> {
        self.collectd_addr
    }

    /// The bound collectd socket, for its task (once).
    pub fn take_collectd(&self) -> Option<Bound> {
        lock(&self.collectd).take()
    }

    /// Replaces the content of the group `key` without writing lines (the caller
    /// wrote them): collectd hosts.
    pub async fn set_group(
        &self,
        key: &GroupingKey,
        source: Source,
        families: Vec<Family>,
        now_ms: u64,
    ) -> Result<usize, Refusal> {
        let _writer = self.writer.lock().await;
        let other = self.node_series();
        let (plan, dropped) = self.groups().check_replace(key, source, families, other)?;
        self.groups().apply(plan, now_ms);
        Ok(dropped)
    }

    /// The settings.
    pub fn config(&self) -> &IngressConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<IngressStats> {
        &self.stats
    }

    /// The node store (collectd's catalog values go there).
    pub fn nodes(&self) -> &Arc<Mutex<Ingest>> {
        &self.nodes
    }

    /// Timestamp precision of the lines.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The group table (lock briefly).
    pub fn groups(&self) -> MutexGuard<'_, Groups> {
        lock(&self.groups)
    }

    fn node_series(&self) -> usize {
        lock(&self.nodes).store.series_count()
    }

    /// Hands lines to the outputs (`Ok` when there are none or no outputs).
    pub async fn submit(&self, lines: &str) -> Result<(), String> {
        if lines.is_empty() || self.outputs.is_empty() {
            return Ok(());
        }
        self.outputs
            .submit(lines.as_bytes())
            .await
            .map_err(|e| e.to_string())
    }

    /// Handles one push request received at `now_ms`.
    pub async fn push(&self, req: PushRequest<'_>, now_ms: u64) -> Reply {
        let (result, mut reply) = self.push_inner(req, now_ms).await;
        self.stats.push(result);
        if reply.status == 401 {
            reply
                .headers
                .push(("WWW-Authenticate", "Basic realm=\"pimon push\"".into()));
        }
        reply
    }

    /// Credentials, checked before the body is read: `Some(401)` when refused.
    pub fn precheck(&self, authorization: Option<&str>) -> Option<Reply> {
        if push::authorized(&self.config.push, authorization) {
            return None;
        }
        self.stats.push(PushResult::Unauthorized);
        let mut reply = Reply::error(401, "unauthorized");
        reply
            .headers
            .push(("WWW-Authenticate", "Basic realm=\"pimon push\"".into()));
        Some(reply)
    }

    /// Counts a push answered without reading its body.
    pub fn unread(&self, reply: Reply) -> Reply {
        self.stats.push(match reply.status {
            413 => PushResult::BodyTooLarge,
            _ => PushResult::BadRequest,
        });
        reply
    }

    async fn push_inner(&self, req: PushRequest<'_>, now_ms: u64) -> (PushResult, Reply) {
        if !push::authorized(&self.config.push, req.authorization) {
            return (PushResult::Unauthorized, Reply::error(401, "unauthorized"));
        }
        let key = match pushpath::parse(req.path) {
            Ok(k) => k,
            Err(PathError::NotFound) => {
                return (
                    PushResult::BadRequest,
                    Reply::error(404, "404 page not found"),
                );
            }
            Err(PathError::Bad(msg)) => return (PushResult::BadRequest, Reply::error(400, &msg)),
        };
        let _writer = self.writer.lock().await;
        if req.method == PushMethod::Delete {
            self.groups().remove(&key);
            return (PushResult::Deleted, Reply::empty(202));
        }
        let max = self.config.push.max_body_bytes;
        let body = match push::decode_body(req.content_encoding, req.body, max) {
            Ok(b) => b,
            Err(r) if r.status == 413 => return (PushResult::BodyTooLarge, r),
            Err(r) if r.status == 415 => return (PushResult::Unsupported, r),
            Err(r) => return (PushResult::BadRequest, r),
        };
        let families = if push::is_protobuf(req.content_type) {
            match protobuf::parse_delimited(&body) {
                Ok((families, Some(invalid))) => {
                    // The Pushgateway checks timestamps first, then the metrics.
                    let msg = if families
                        .iter()
                        .any(|f| f.metrics.iter().any(|m| m.timestamp_ms.is_some()))
                    {
                        "pushed metrics must not have timestamps".to_string()
                    } else {
                        invalid.message(&key)
                    };
                    return self.refused(&key, Refusal::Invalid(msg), now_ms);
                }
                Ok((f, None)) => f,
                Err(e) => return (PushResult::BadRequest, Reply::error(400, &e.to_string())),
            }
        } else {
            match expo::parse(&body) {
                Ok(f) => f,
                Err(e) => return (PushResult::BadRequest, Reply::error(400, &e.to_string())),
            }
        };
        let other = self.node_series();
        let replace = req.method == PushMethod::Put;
        let checked = self.groups().check_push(&key, families, replace, other);
        let plan = match checked {
            Ok(p) => p,
            Err(refusal) => return self.refused(&key, refusal, now_ms),
        };
        let mut lines = String::new();
        let _ = write_families(&mut lines, &plan.pushed, now_ms as i64, self.precision);
        if let Err(e) = self.submit(&lines).await {
            return (
                PushResult::OutputsRefused,
                Reply::error(
                    503,
                    &format!("the outputs did not accept the push, retry later: {e}"),
                ),
            );
        }
        self.groups().apply(plan, now_ms);
        (PushResult::Ok, Reply::empty(200))
    }

    fn refused(&self, key: &GroupingKey, refusal: Refusal, now_ms: u64) -> (PushResult, Reply) {
        match refusal {
            Refusal::Invalid(msg) => {
                self.groups().note_failure(key, now_ms);
                (
                    PushResult::Invalid,
                    Reply::error(
                        400,
                        &format!(
                            "pushed metrics are invalid or inconsistent with existing metrics: {msg}"
                        ),
                    ),
                )
            }
            Refusal::SeriesPerGroup => (
                PushResult::SeriesPerGroup,
                Reply::error(
                    413,
                    &format!(
                        "the group would hold more than push.max_series_per_group ({}) series",
                        self.config.push.max_series_per_group
                    ),
                ),
            ),
            Refusal::Groups => (
                PushResult::Groups,
                Reply::error(
                    503,
                    &format!(
                        "push.max_groups ({}) reached: no new group is taken until one expires or is deleted",
                        self.config.push.max_groups
                    ),
                ),
            ),
            Refusal::SeriesTotal => (
                PushResult::SeriesTotal,
                Reply::error(503, "limits.max_series_total reached"),
            ),
        }
    }

    /// Replaces the whole content of the group `key` (a scrape, a collectd host) with
    /// `families`, written to the outputs with `timestamp_ms` where a sample has none.
    /// Returns how many families were dropped for a type clash.
    pub async fn replace_group(
        &self,
        key: &GroupingKey,
        source: Source,
        families: Vec<Family>,
        timestamp_ms: i64,
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        let _writer = self.writer.lock().await;
        let other = self.node_series();
        let checked = self.groups().check_replace(key, source, families, other);
        let (plan, dropped): (Plan, usize) = checked.map_err(StoreError::Limit)?;
        let mut lines = String::new();
        let _ = write_families(&mut lines, &plan.pushed, timestamp_ms, self.precision);
        let submitted = self.submit(&lines).await;
        self.groups().apply(plan, now_ms);
        submitted.map_err(StoreError::Outputs)?;
        Ok(dropped)
    }

    /// Drops expired pushed groups (and collectd hosts silent for a day).
    pub fn housekeeping(&self, now_ms: u64) {
        self.groups()
            .expire(Source::Collectd, now_ms, 24 * 3600 * 1000);
        if let Some(after) = self.config.push.expire_after {
            let n = self
                .groups()
                .expire(Source::Push, now_ms, after.as_millis() as u64);
            self.stats
                .groups_expired
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `/metrics`: the families of catalog name `name` held in groups (the caller
    /// wrote the family's header); returns whether any sample was written.
    pub fn render_samples_of<W: Write>(
        &self,
        w: &mut W,
        format: Format,
        name: &str,
    ) -> Result<bool, fmt::Error> {
        self.groups().render_samples_of(w, format, name)
    }

    /// True when some group holds the catalog family `name`.
    pub fn has_family(&self, name: &str) -> bool {
        self.groups().has_family(name)
    }

    /// `/metrics`: every other family of the groups, then the inputs' counters.
    pub fn render<W: Write>(&self, w: &mut W, format: Format) -> fmt::Result {
        let (groups, series) = {
            let g = self.groups();
            g.render(w, format)?;
            (g.len(), g.series())
        };
        self.stats.render(
            w,
            format,
            self.config.push.enabled,
            !self.config.scrape.is_empty(),
            groups,
            series,
        )?;
        if self.config.collectd.is_some() {
            self.stats.collectd.render(w, format)?;
        }
        Ok(())
    }
}
