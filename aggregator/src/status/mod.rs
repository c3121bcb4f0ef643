//! The status page: the fleet at a glance, served by the aggregator itself on its HTTP
//! port — `GET /` (every node, problems first), `GET /node/<name>` (one node's current
//! values) and `GET /api/nodes` (the same as JSON). Nothing outside the aggregator is
//! needed: no script, font or CDN, so it works offline on a router and on a phone.
//!
//! Every node of the store is listed, whatever fed it, and every pushed, scraped and
//! collectd group of the inputs ([`crate::ingress`]) beside them. The page is rendered from a
//! store snapshot (copied under the ingest lock, formatted after it, like `/metrics`)
//! and a small bounded [`history`] for the sparklines, recorded by [`Status::run`] every
//! step (a minute by default: `--status-history 1h` / 60 points).
//!
//! Module map: [`history`] the per-node rings; [`model`] what the page says about a
//! node and how problems sort; [`page`] HTML and JSON, escaping. User guide:
//! `docs/STATUS.md`.

pub mod history;
pub mod model;
pub mod page;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use smol::channel::Receiver;
use smol::future::FutureExt;

use crate::ingest::Ingest;
use crate::ingress::groups::Group;
use crate::ingress::runtime::Ingress;
use crate::store::Snapshot;
use history::History;
use model::NodeView;

/// Default span of the sparklines.
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(3600);
/// The history is sampled at least this often (within a step the newest value wins).
const SAMPLE_AT_LEAST_EVERY: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The status page's state: the history, and a snapshot buffer reused between
/// requests.
#[derive(Debug)]
pub struct Status {
    ingest: Arc<Mutex<Ingest>>,
    inputs: Option<Arc<Ingress>>,
    history: Mutex<History>,
    snapshot: Mutex<Snapshot>,
}

/// A response body and its content type.
pub type Page = (&'static str, Vec<u8>);

impl Status {
    /// A status page over `ingest`'s store with sparklines spanning `history`.
    pub fn new(ingest: Arc<Mutex<Ingest>>, history: Duration) -> Status {
        Status {
            ingest,
            inputs: None,
            history: Mutex::new(History::new(history.as_millis() as u64)),
            snapshot: Mutex::new(Snapshot::default()),
        }
    }

    /// Lists the groups of `inputs` (pushes, scrapes, collectd) beside the nodes.
    pub fn with_inputs(mut self, inputs: Option<Arc<Ingress>>) -> Status {
        self.inputs = inputs;
        self
    }

    /// The views of the inputs' groups (taken under the group table's lock alone).
    fn group_views(&self) -> Vec<NodeView> {
        match &self.inputs {
            Some(inputs) => inputs
                .groups()
                .iter()
                .map(|(key, group)| model::group_view(key, group))
                .collect(),
            None => Vec::new(),
        }
    }

    /// A copy of the group shown as `name`.
    fn group_named(&self, name: &str) -> Option<Group> {
        let inputs = self.inputs.as_ref()?;
        let groups = inputs.groups();
        groups
            .iter()
            .find(|(key, _)| model::group_name(key) == name)
            .map(|(_, g)| g.clone())
    }

    /// Records every node's and group's current values in the history (and forgets
    /// the nodes the store forgot, the groups the table dropped).
    pub fn record(&self, now_ms: u64) {
        let groups = self.group_views();
        let mut snap = lock(&self.snapshot);
        lock(&self.ingest)
            .store
            .snapshot_summary(now_ms, &mut snap, model::summary_ranks(), None);
        let mut history = lock(&self.history);
        for node in &snap.nodes {
            // A node that is down has no fresh values: record nothing, a gap.
            if node.up {
                let v = model::view(&snap, node);
                history.record(&v.name, now_ms, v.sample());
            }
        }
        for v in groups.iter().filter(|v| v.up) {
            history.record(&v.name, now_ms, v.sample());
        }
        let names: std::collections::BTreeSet<&str> = snap
            .nodes
            .iter()
            .map(|n| snap.name(n))
            .chain(groups.iter().map(|v| v.name.as_str()))
            .collect();
        history.retain(|n| names.contains(n));
    }

    /// Samples the history every step (and at least every 10 s) until `stop` closes.
    pub async fn run(self: Arc<Self>, stop: Receiver<()>) {
        let every = Duration::from_millis(lock(&self.history).step_ms()).min(SAMPLE_AT_LEAST_EVERY);
        loop {
            self.record(crate::server::now_ms());
            let stopped = async {
                let _ = stop.recv().await;
                true
            };
            let tick = async {
                smol::Timer::after(every).await;
                false
            };
            if tick.or(stopped).await {
                return;
            }
        }
    }

    /// The page for `path` (`/`, `/api/nodes`, `/node/<name>`), or `None` (404) for
    /// any other path and for a node the store does not know.
    pub fn respond(&self, path: &str, now_ms: u64) -> Option<Page> {
        let wanted = match path {
            "/" | "/index.html" => Route::Index,
            "/api/nodes" => Route::Api,
            p => Route::Node(page::decode_segment(p.strip_prefix("/node/")?)?),
        };
        let groups = self.group_views();
        let mut snap = lock(&self.snapshot);
        // The overview reads a few families of every node; a node's page all of its.
        let full = match &wanted {
            Route::Node(name) => Some(name.as_str()),
            _ => None,
        };
        lock(&self.ingest)
            .store
            .snapshot_summary(now_ms, &mut snap, model::summary_ranks(), full);
        let history = lock(&self.history);
        let html = "text/html; charset=utf-8";
        Some(match wanted {
            Route::Index => {
                let views = model::views(&snap, &groups, &history);
                (html, page::index(&views, &history, now_ms).into_bytes())
            }
            Route::Api => {
                let views = model::views(&snap, &groups, &history);
                (
                    "application/json",
                    page::api(&views, &history, now_ms).into_bytes(),
                )
            }
            Route::Node(name) => {
                let views = model::views(&snap, &groups, &history);
                let view = views.iter().find(|v| v.name == name)?;
                let body = match snap.nodes.iter().find(|n| snap.name(n) == name) {
                    Some(node) => page::node(view, &snap, node, &history, now_ms),
                    None => page::group(view, &self.group_named(&name)?, &history, now_ms),
                };
                (html, body.into_bytes())
            }
        })
    }
}

enum Route {
    Index,
    Api,
    Node(String),
}
