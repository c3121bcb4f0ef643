//! The `/metrics` exposition: every node's series under node_exporter's names, per-node
//! `pimon_node_*` figures and the aggregator's own `pimon_aggregator_*` /
//! `pimon_influx_*` figures.
//!
//! # Streamed, never whole
//! At fleet scale the exposition is large (10,000 Raspberry Pi 4 nodes: about 2.9
//! million samples, 230 MB of text), so it is never built whole, and the store is never
//! copied for it. An [`Exposition`] renders it a piece at a time ([`PIECE_BYTES`] of
//! text, give or take one node's samples of one family) straight from the store: the
//! caller holds the store's lock for one piece, sends the piece, and asks for the next.
//! Between pieces the exposition remembers only where it is: the family, and the name
//! of the last node it wrote in that family.
//!
//! Families come from the catalog ([`catalog::families`]): each gets one
//! `# HELP`/`# TYPE`, then the samples of all its rows for every node (nodes by name),
//! so families never interleave — also when nodes come and go between pieces: a node
//! shows in the families not yet written, and a series is written at most once, as a
//! node's samples of a family are written in one piece. A family without any sample is
//! left out. The time that decides what is stale is the scrape's start, for every
//! piece. Pushed samples of a catalog family ([`crate::ingress`]) follow the nodes' in
//! its block; the other pushed families come after the catalog's. All names, label escaping and number formats come from
//! `pimon_protocol::text::prometheus`.
//!
//! Every sample has `instance="<node name>"`: scrape the aggregator with
//! `honor_labels: true` so Prometheus keeps it instead of the aggregator's address.

use std::fmt::{self, Write};
use std::ops::Range;

use pimon_protocol::MAX_LABELS;
use pimon_protocol::catalog::{self, Number};
use pimon_protocol::text::prometheus::{
    Format, write_eof, write_family_header, write_label_value_escaped, write_metric_sample,
    write_number, write_sample, write_sample_family_header,
};

use crate::influx::LpFileStats;
use crate::influx::stats::InfluxStats;
use crate::ingress::runtime::Ingress;
use crate::remote_write::RemoteWriteStats;
use crate::self_metrics::{self, Family, Kind, Read, render_table};
use crate::series::{decode_set, metric_at_rank};
use crate::stats::AggregatorStats;
use crate::store::{NodeView, Store};

/// Text one piece of a streamed exposition aims at.
pub const PIECE_BYTES: usize = 64 * 1024;

/// One UDP listener's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFigures {
    /// The address as configured/bound (`0.0.0.0:9797`).
    pub listen: String,
    /// SO_RCVBUF as the kernel reports it (bytes).
    pub receive_buffer_bytes: u64,
    /// Datagrams the kernel dropped for this socket (full buffer), if known.
    pub kernel_drops: Option<u64>,
}

/// Everything the exposition shows besides the store.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    /// The aggregator's counters.
    pub stats: Option<&'a AggregatorStats>,
    /// The HTTP server's counters.
    pub http: Option<&'a crate::http::HttpStats>,
    /// UDP listeners.
    pub udp: &'a [UdpFigures],
    /// InfluxDB outputs: (name, figures).
    pub influx: &'a [(String, &'a InfluxStats)],
    /// The `--lp-out` output's figures.
    pub lp: Option<&'a LpFileStats>,
    /// Remote write outputs: (name, figures).
    pub remote_write: &'a [(String, &'a RemoteWriteStats)],
    /// Version and commit for `pimon_aggregator_build_info`.
    pub build: Option<(&'a str, &'a str)>,
    /// Pushed, scraped and collectd series ([`crate::ingress`]).
    pub ingress: Option<&'a Ingress>,
}

/// The store's totals, as the aggregator's own figures show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreFigures {
    /// Nodes held (up or not).
    pub nodes: usize,
    /// Series held (fresh or not).
    pub series: usize,
    /// Approximate memory of the store.
    pub memory_bytes: usize,
}

impl StoreFigures {
    /// The figures of `store` now.
    pub fn of(store: &Store) -> StoreFigures {
        StoreFigures {
            nodes: store.node_count(),
            series: store.series_count(),
            memory_bytes: store.memory_bytes(),
        }
    }
}

/// Renders the whole exposition at `now_ms` into `out` (appended): what a scrape sends,
/// in one go (tests, fuzzing; the server streams it with [`Exposition`]).
pub fn render(out: &mut String, format: Format, store: &Store, now_ms: u64, sources: &Sources<'_>) {
    let mut exposition = Exposition::new(format, now_ms);
    while exposition.nodes_piece(out, store, sources.ingress, usize::MAX) {}
    // Writing to a String cannot fail.
    let _ = render_aggregator(out, format, &StoreFigures::of(store), sources)
        .and_then(|_| write_eof(out, format));
}

/// Every node's part of the exposition at `now_ms` (the catalog families and the
/// `pimon_node_*` families), in one go, without pushed series.
pub fn render_nodes(out: &mut String, format: Format, store: &Store, now_ms: u64) {
    let mut exposition = Exposition::new(format, now_ms);
    while exposition.nodes_piece(out, store, None, usize::MAX) {}
}

/// Where a streamed exposition has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The catalog family starting at this family rank.
    Catalog(u16),
    /// The pushed, scraped and collectd families outside the catalog, and the inputs'
    /// counters ([`Ingress::render`]).
    Ingress,
    /// The `pimon_node_*` family [`NODE_FIGURES`]`[i]`.
    NodeFigure(usize),
    /// Every node is written.
    Done,
}

/// The node part of one scrape's exposition, rendered a piece at a time; see the
/// module docs. What comes after it (the aggregator's figures, `# EOF`) is small and
/// written by [`render_aggregator`] and `write_eof`.
#[derive(Debug, Clone)]
pub struct Exposition {
    format: Format,
    now_ms: u64,
    stage: Stage,
    /// The last node written in the current family, if any.
    after: String,
    has_after: bool,
    /// The current family's `# HELP`/`# TYPE` lines are written.
    header: bool,
    /// In a family of a row named by its label ([`catalog::named_by_label`]): the
    /// label value whose family (`node_memory_<key>_bytes`) is being written.
    key: String,
    has_key: bool,
}

/// The family of the catalog starting at family rank `start`: its first row and the
/// ranks of its rows.
fn family_at(start: u16) -> Option<(&'static catalog::Metric, Range<u16>)> {
    let first = metric_at_rank(start)?;
    let mut end = start + 1;
    while metric_at_rank(end).is_some_and(|m| m.prom_name == first.prom_name) {
        end += 1;
    }
    Some((first, start..end))
}

impl Exposition {
    /// A scrape in `format`; `now_ms` (Unix ms) decides which series are stale.
    pub fn new(format: Format, now_ms: u64) -> Exposition {
        Exposition {
            format,
            now_ms,
            stage: Stage::Catalog(0),
            after: String::new(),
            has_after: false,
            header: false,
            key: String::new(),
            has_key: false,
        }
    }

    /// The scrape's time.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn next_stage(&mut self, stage: Stage) {
        self.stage = stage;
        self.has_after = false;
        self.header = false;
        self.has_key = false;
    }

    /// Appends the next piece of the node part to `out`: at least `target` bytes
    /// unless the node part ends first (a node's samples of one family are never cut,
    /// so a piece may exceed `target` by those). Returns true while more follows.
    ///
    /// The groups of `ingress` (pushes, scrapes, collectd) are bounded by their own
    /// limits and written whole: a catalog family's pushed samples after the nodes' in
    /// the same block, the other families after the catalog's. Their lock is taken
    /// while the caller holds the store's (never the other way round).
    pub fn nodes_piece(
        &mut self,
        out: &mut String,
        store: &Store,
        ingress: Option<&Ingress>,
        target: usize,
    ) -> bool {
        let start = out.len();
        // Writing to a String cannot fail.
        while out.len() - start < target {
            match self.stage {
                Stage::Catalog(rank) => match family_at(rank) {
                    Some((first, ranks)) if catalog::named_by_label(first) => {
                        let end = ranks.end;
                        if self.keyed_families(out, store, ranks, start, target) {
                            self.next_stage(Stage::Catalog(end));
                        }
                    }
                    Some((first, ranks)) => {
                        let end = ranks.end;
                        if self.catalog_family(out, store, first, ranks, start, target) {
                            if let Some(ingress) = ingress {
                                self.pushed_samples(out, ingress, first);
                            }
                            self.next_stage(Stage::Catalog(end));
                        }
                    }
                    None => self.next_stage(Stage::Ingress),
                },
                Stage::Ingress => {
                    if let Some(ingress) = ingress {
                        let _ = ingress.render(out, self.format);
                    }
                    self.next_stage(Stage::NodeFigure(0));
                }
                Stage::NodeFigure(i) => match NODE_FIGURES.get(i) {
                    Some(figure) => {
                        if self.node_figure(out, store, figure, start, target) {
                            self.next_stage(Stage::NodeFigure(i + 1));
                        }
                    }
                    None => self.next_stage(Stage::Done),
                },
                Stage::Done => return false,
            }
        }
        self.stage != Stage::Done
    }

    /// Writes the samples of the catalog family `first` that groups of `ingress` hold
    /// (a pushed node_exporter page), after the nodes'.
    fn pushed_samples(&mut self, out: &mut String, ingress: &Ingress, first: &catalog::Metric) {
        if !self.header && ingress.has_family(first.prom_name) {
            let _ = write_family_header(out, self.format, first);
            self.header = true;
        }
        if self.header {
            let _ = ingress.render_samples_of(out, self.format, first.prom_name);
        }
    }

    /// Writes the family's samples of the nodes after `self.after` until the piece is
    /// full; true when the family is complete.
    fn catalog_family(
        &mut self,
        out: &mut String,
        store: &Store,
        first: &'static catalog::Metric,
        ranks: Range<u16>,
        start: usize,
        target: usize,
    ) -> bool {
        self.node_samples(
            out,
            store,
            ranks,
            (start, target),
            |_, _| true,
            |out, format, _, _| {
                let _ = write_family_header(out, format, first);
            },
        )
    }

    /// Writes the families of a row named by its label ([`catalog::named_by_label`]:
    /// the meminfo keys without a row, `node_memory_<key>_bytes`): one family per key,
    /// keys in byte order, each with its nodes' samples, until the piece is full; true
    /// when every key is written. Samples whose name [`catalog::sample_name`] refuses
    /// are left out. Pushed samples never join these families (their names are not the
    /// row's).
    fn keyed_families(
        &mut self,
        out: &mut String,
        store: &Store,
        ranks: Range<u16>,
        start: usize,
        target: usize,
    ) -> bool {
        loop {
            if !self.has_key {
                match next_key(store, self.now_ms, ranks.clone(), None) {
                    Some(key) => {
                        self.key = key;
                        self.has_key = true;
                        self.has_after = false;
                        self.header = false;
                    }
                    None => return true,
                }
            }
            let key = std::mem::take(&mut self.key);
            let complete = self.node_samples(
                out,
                store,
                ranks.clone(),
                (start, target),
                |metric, labels| {
                    labels.first() == Some(&key.as_str())
                        && catalog::sample_name(metric, labels).is_some()
                },
                |out, format, metric, labels| {
                    let _ = write_sample_family_header(out, format, metric, labels);
                },
            );
            self.key = key;
            if !complete {
                return false;
            }
            // This key is done: the next one.
            match next_key(store, self.now_ms, ranks.clone(), Some(&self.key)) {
                Some(key) => {
                    self.key = key;
                    self.has_after = false;
                    self.header = false;
                }
                None => {
                    self.has_key = false;
                    return true;
                }
            }
        }
    }

    /// Writes the samples at `ranks` of the nodes after `self.after` until the piece is
    /// full (`(start, target)`: the piece began at `start` and holds `target` bytes);
    /// true when every node is written. Samples `keep` refuses are left out; before the
    /// first one kept, `header` writes the family's header.
    fn node_samples(
        &mut self,
        out: &mut String,
        store: &Store,
        ranks: Range<u16>,
        (start, target): (usize, usize),
        keep: impl Fn(&catalog::Metric, &[&str]) -> bool,
        header: impl Fn(&mut String, Format, &catalog::Metric, &[&str]),
    ) -> bool {
        let after = self.has_after.then_some(self.after.as_str());
        let mut last = None;
        let mut complete = true;
        let mut line = LineParts::default();
        for node in store.nodes_after(after, self.now_ms) {
            line.rank = None;
            for e in node.entries(ranks.clone()) {
                let Some(metric) = metric_at_rank(e.rank) else {
                    continue;
                };
                let mut labels: heapless::Vec<&str, MAX_LABELS> = heapless::Vec::new();
                for l in decode_set(node.label_set(e.labelset)) {
                    let _ = labels.push(l);
                }
                if !keep(metric, &labels) {
                    continue;
                }
                if !self.header {
                    header(out, self.format, metric, &labels);
                    self.header = true;
                }
                if line.write(out, e.rank, metric, node.name(), &labels, e.value()) {
                    continue;
                }
                let _ = write_metric_sample(
                    out,
                    self.format,
                    metric,
                    node.name(),
                    &labels,
                    e.value(),
                    None,
                );
            }
            last = Some(node.name());
            if out.len() - start >= target {
                complete = false;
                break;
            }
        }
        self.resume_after(last);
        complete
    }

    /// Where the next piece starts: after node `last`, when this one wrote any.
    fn resume_after(&mut self, last: Option<&str>) {
        if let Some(name) = last {
            self.after.clear();
            self.after.push_str(name);
            self.has_after = true;
        }
    }

    /// Writes one `pimon_node_*` sample per node after `self.after` until the piece is
    /// full; true when the family is complete.
    fn node_figure(
        &mut self,
        out: &mut String,
        store: &Store,
        figure: &Family<NodeRead>,
        start: usize,
        target: usize,
    ) -> bool {
        let after = self.has_after.then_some(self.after.as_str());
        let mut last = None;
        let mut complete = true;
        for node in store.nodes_after(after, self.now_ms) {
            if !self.header {
                let _ = self_metrics::write_family_header(out, self.format, figure);
                self.header = true;
            }
            let _ = write_sample(
                out,
                self.format,
                figure.name,
                &[("instance", node.name())],
                (figure.read)(&node),
                None,
            );
            last = Some(node.name());
            if out.len() - start >= target {
                complete = false;
                break;
            }
        }
        self.resume_after(last);
        complete
    }
}

/// The parts of a sample line that a node's samples of one catalog row share, written
/// once per (node, row) rather than once per sample: `name{instance="<node>"` and the
/// constant labels with the closing brace. What [`write_metric_sample`] writes, in
/// fewer and larger writes (label values still escaped per sample).
#[derive(Default)]
struct LineParts {
    /// The row the parts are of (`None`: none yet for this node).
    rank: Option<u16>,
    head: String,
    tail: String,
}

impl LineParts {
    /// Writes the sample line as [`write_metric_sample`] would (no timestamp); false
    /// (nothing written) for the samples it leaves to it: rows named by their label
    /// and a node without a name.
    fn write(
        &mut self,
        out: &mut String,
        rank: u16,
        metric: &catalog::Metric,
        instance: &str,
        labels: &[&str],
        value: Number,
    ) -> bool {
        if catalog::named_by_label(metric) || instance.is_empty() {
            return false;
        }
        if self.rank != Some(rank) {
            self.rank = Some(rank);
            self.head.clear();
            self.head.push_str(metric.prom_name);
            self.head.push_str("{instance=\"");
            let _ = write_label_value_escaped(&mut self.head, instance);
            self.head.push('"');
            self.tail.clear();
            for (k, v) in metric.const_labels {
                self.tail.push(',');
                self.tail.push_str(k);
                self.tail.push_str("=\"");
                let _ = write_label_value_escaped(&mut self.tail, v);
                self.tail.push('"');
            }
            self.tail.push_str("} ");
        }
        out.push_str(&self.head);
        for (i, name) in metric.labels.iter().enumerate() {
            out.push(',');
            out.push_str(name);
            out.push_str("=\"");
            let _ = write_label_value_escaped(out, labels.get(i).copied().unwrap_or(""));
            out.push('"');
        }
        out.push_str(&self.tail);
        let _ = write_number(out, value);
        out.push('\n');
        true
    }
}

/// The smallest first label above `after` among the nodes' exported samples of the
/// rows at `ranks` (a row named by its label): the next family of
/// [`Exposition::keyed_families`].
fn next_key(store: &Store, now_ms: u64, ranks: Range<u16>, after: Option<&str>) -> Option<String> {
    let mut best: Option<&str> = None;
    for node in store.nodes_after(None, now_ms) {
        for e in node.entries(ranks.clone()) {
            let Some(metric) = metric_at_rank(e.rank) else {
                continue;
            };
            let Some(key) = decode_set(node.label_set(e.labelset)).next() else {
                continue;
            };
            if after.is_some_and(|a| key <= a) || best.is_some_and(|b| key >= b) {
                continue;
            }
            if catalog::sample_name(metric, &[key]).is_some() {
                best = Some(key);
            }
        }
    }
    best.map(str::to_owned)
}

/// How a `pimon_node_*` family reads a node's sample.
pub type NodeRead = fn(&NodeView<'_>) -> Number;

fn seconds_from_ms(ms: i64) -> Number {
    if ms % 1000 == 0 {
        Number::I64(ms / 1000)
    } else {
        Number::F64(ms as f64 / 1000.0)
    }
}

/// A `pimon_node_*` family: one sample per node, labelled `instance`.
const fn node_figure(
    name: &'static str,
    kind: Kind,
    unit: &'static str,
    help: &'static str,
    read: NodeRead,
) -> Family<NodeRead> {
    self_metrics::row(name, kind, unit, &[], help, read)
}

/// `pimon_node_*`: one sample per known node, up or not.
pub const NODE_FIGURES: [Family<NodeRead>; 12] = [
    node_figure(
        "pimon_node_up",
        Kind::Gauge,
        "",
        "1 when the node sent a frame within its stale time (3 intervals, at least 30 s by default), else 0.",
        |n| Number::U64(u64::from(n.up())),
    ),
    node_figure(
        "pimon_node_last_seen_timestamp_seconds",
        Kind::Gauge,
        "seconds",
        "Unix time the last frame of the node was stored.",
        |n| seconds_from_ms(n.meta().last_seen_ms as i64),
    ),
    node_figure(
        "pimon_node_frames_received_total",
        Kind::Counter,
        "",
        "Frames of the node stored (new sequence numbers).",
        |n| Number::U64(n.meta().counters.received),
    ),
    node_figure(
        "pimon_node_frames_duplicate_total",
        Kind::Counter,
        "",
        "Frames received again after they were stored: resends that crossed an ack, or replays within the window. Harmless; acked again, not stored again.",
        |n| Number::U64(n.meta().counters.duplicate),
    ),
    node_figure(
        "pimon_node_frames_missing_total",
        Kind::Counter,
        "",
        "Sequence numbers given up without being received: below the collector's resend floor (its ring overflowed) or out of the 4096-frame window. **Data lost.** Not counted for numbers below the first one this aggregator run heard of the boot (an earlier run may have stored them).",
        |n| Number::U64(n.meta().counters.missing),
    ),
    node_figure(
        "pimon_node_boot_id_changes_total",
        Kind::Counter,
        "",
        "Times the node's collector restarted (new boot id; counters of the node may reset).",
        |n| Number::U64(n.meta().counters.boot_id_changes),
    ),
    node_figure(
        "pimon_node_frames_replayed_total",
        Kind::Counter,
        "",
        "Frames refused as replays: a retired boot id (two or more collector runs ago: a very late or recorded frame), or — keyed — a new boot whose timestamp is more than `max_skew_seconds` off or not newer than the node's last time (a restarted node whose clock is behind, or a recording).",
        |n| Number::U64(n.meta().counters.replays),
    ),
    node_figure(
        "pimon_node_clock_skewed_frames_total",
        Kind::Counter,
        "",
        "Frames stored with a time other than their own: the node's clock was ahead by more than `max_skew_seconds` (300), behind by more than `max_backfill_seconds`, or went back (INFLUXDB.md, \"Timestamps\").",
        |n| Number::U64(n.meta().counters.clock_skewed),
    ),
    node_figure(
        "pimon_node_clock_skew_seconds",
        Kind::Gauge,
        "seconds",
        "Timestamp of the node's last live frame minus its receive time.",
        |n| seconds_from_ms(n.meta().clock_skew_ms),
    ),
    node_figure(
        "pimon_node_samples_refused_total",
        Kind::Counter,
        "",
        "Samples not stored for `/metrics` because the node reached `max_series_per_node` (or its label space). InfluxDB still gets them.",
        |n| Number::U64(n.meta().counters.series_refused),
    ),
    node_figure(
        "pimon_node_frames_unconfirmed_total",
        Kind::Counter,
        "",
        "Frames held back (not stored, not acked): they would change the node's boot id, move its window 4096 or more ahead, or rebuild it, without evidence yet that they come from its collector (PROTOCOL.md §6.2). A real collector resends them once confirmed.",
        |n| Number::U64(n.meta().counters.unconfirmed),
    ),
    node_figure(
        "pimon_node_name_conflicts_total",
        Kind::Counter,
        "",
        "Times a second collector was seen sending as this node while the first was alive (two hosts with one name); logged once per second sender with both addresses.",
        |n| Number::U64(n.meta().counters.name_conflicts),
    ),
];

/// The aggregator's own figures: a loop over the tables of
/// [`crate::self_metrics`], each with the instances it has now.
pub fn render_aggregator<W: Write>(
    w: &mut W,
    format: Format,
    store: &StoreFigures,
    sources: &Sources<'_>,
) -> fmt::Result {
    if let Some((version, commit)) = sources.build {
        let labels = [("version", version), ("commit", commit)];
        render_table(w, format, self_metrics::BUILD, &[(&labels, &())])?;
    }
    render_table(w, format, self_metrics::STORE, &[(&[], store)])?;
    if let Some(s) = sources.stats {
        render_table(w, format, self_metrics::STATS, &[(&[], s)])?;
    }
    if let Some(h) = sources.http {
        render_table(w, format, self_metrics::HTTP, &[(&[], h)])?;
    }
    let udp: Vec<[(&str, &str); 1]> = sources
        .udp
        .iter()
        .map(|u| [("listen", u.listen.as_str())])
        .collect();
    let udp: Vec<(&[(&str, &str)], &UdpFigures)> = udp
        .iter()
        .zip(sources.udp)
        .map(|(labels, u)| (labels.as_slice(), u))
        .collect();
    render_table(w, format, self_metrics::UDP, &udp)?;
    if let Some(lp) = sources.lp {
        render_table(w, format, self_metrics::LP_OUT, &[(&[], lp)])?;
    }
    render_outputs(w, format, self_metrics::INFLUX, sources.influx)?;
    render_outputs(
        w,
        format,
        crate::remote_write::stats::REMOTE_WRITE,
        sources.remote_write,
    )
}

/// The families of `table` for every output, labelled `output` = its name.
pub fn render_outputs<W: Write, S>(
    w: &mut W,
    format: Format,
    table: &[Family<Read<S>>],
    outputs: &[(String, &S)],
) -> fmt::Result {
    let labels: Vec<[(&str, &str); 1]> = outputs
        .iter()
        .map(|(name, _)| [("output", name.as_str())])
        .collect();
    let instances: Vec<(&[(&str, &str)], &S)> = labels
        .iter()
        .zip(outputs)
        .map(|(labels, (_, s))| (labels.as_slice(), *s))
        .collect();
    render_table(w, format, table, &instances)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use pimon_protocol::catalog::id;

    use super::*;
    use crate::series::family_rank;
    use crate::store::{Limits, Staleness};

    const NOW: u64 = 1_700_000_000_000;

    /// A node with CPU, load, network and thermal series (labels with quotes too).
    fn add_node(store: &mut Store, name: &str, value: u64) {
        let n = store.admit(name, 1, None, NOW).unwrap();
        n.meta.last_seen_ms = NOW;
        n.meta.interval_ms = 10_000;
        let stamp = store.stamp(NOW);
        let mut put = |metric: u16, labels: &[&str], v: Number| {
            let rank = family_rank(metric).unwrap();
            store.upsert(name, rank, labels, stamp, v).unwrap();
        };
        for cpu in ["0", "1"] {
            put(id::CPU_SECONDS_USER, &[cpu], Number::U64(value));
            put(id::CPU_SECONDS_IDLE, &[cpu], Number::U64(value + 1));
        }
        put(id::LOAD1, &[], Number::U64(value));
        put(
            id::NET_RECEIVE_BYTES,
            &["eth\"0"],
            Number::U64(value * 1000),
        );
        put(
            id::THERMAL_ZONE_TEMP,
            &["0", "cpu-thermal"],
            Number::I64(45123),
        );
    }

    fn store(nodes: usize) -> Store {
        let mut s = Store::new(Limits::default(), Staleness::default(), NOW - 60_000);
        for i in 0..nodes {
            add_node(&mut s, &format!("pi-{i:03}"), i as u64);
        }
        s
    }

    fn streamed(store: &Store, format: Format, target: usize) -> (String, usize) {
        let mut out = String::new();
        let mut pieces = 0;
        let mut e = Exposition::new(format, NOW);
        loop {
            let before = out.len();
            let more = e.nodes_piece(&mut out, store, None, target);
            pieces += 1;
            assert!(
                out.len() > before || !more,
                "a piece that is not the last is never empty"
            );
            if !more {
                return (out, pieces);
            }
        }
    }

    /// The sample lines as [`write_metric_sample`] writes them, one call per sample (how
    /// they were written before [`LineParts`]).
    fn reference_samples(store: &Store, format: Format) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rank = 0;
        while let Some((first, ranks)) = family_at(rank) {
            rank = ranks.end;
            if catalog::named_by_label(first) {
                continue;
            }
            for node in store.nodes_after(None, NOW) {
                for e in node.entries(ranks.clone()) {
                    let metric = metric_at_rank(e.rank).unwrap();
                    let labels: Vec<&str> = decode_set(node.label_set(e.labelset)).collect();
                    let mut line = String::new();
                    write_metric_sample(
                        &mut line,
                        format,
                        metric,
                        node.name(),
                        &labels,
                        e.value(),
                        None,
                    )
                    .unwrap();
                    lines.push(line);
                }
            }
        }
        lines
    }

    #[test]
    fn sample_lines_written_in_shared_parts_are_what_write_metric_sample_writes() {
        let mut s = store(3);
        // Names and label values that need escaping, and constant labels (CPU modes).
        add_node(&mut s, "pi-\"q\"\\x", 7);
        add_node(&mut s, "pi-é\nz", 8);
        for format in [Format::Text004, Format::OpenMetrics] {
            let mut text = String::new();
            render_nodes(&mut text, format, &s, NOW);
            let samples: Vec<String> = text
                .split_inclusive('\n')
                .filter(|l| !l.starts_with('#') && !l.starts_with("pimon_node_"))
                .map(str::to_owned)
                .collect();
            let want = reference_samples(&s, format);
            assert!(want.iter().any(|l| l.contains("mode=\"idle\"")));
            assert!(
                want.iter()
                    .any(|l| l.contains("instance=\"pi-\\\"q\\\"\\\\x\""))
            );
            assert_eq!(samples, want, "{format:?}");
        }
    }

    #[test]
    fn streamed_pieces_make_the_same_text_as_one_go() {
        let s = store(40);
        for format in [Format::Text004, Format::OpenMetrics] {
            let mut whole = String::new();
            render_nodes(&mut whole, format, &s, NOW);
            assert!(whole.contains("node_load1{instance=\"pi-039\"} 39\n"));
            for target in [1, 100, 4096] {
                let (text, pieces) = streamed(&s, format, target);
                assert_eq!(text, whole, "{format:?}, pieces of {target} bytes");
                if target == 1 {
                    // One node's samples of one family per piece.
                    assert!(pieces > 40 * 5, "{pieces} pieces");
                }
            }
        }
    }

    #[test]
    fn a_piece_holds_whole_node_families_and_little_more_than_its_target() {
        let s = store(200);
        let mut e = Exposition::new(Format::Text004, NOW);
        let mut out = String::new();
        while e.nodes_piece(&mut out, &s, None, 1024) {
            // A node's samples of one family are at most a few hundred bytes here.
            assert!(out.len() < 1024 + 512, "{} bytes", out.len());
            assert!(out.ends_with('\n'));
            out.clear();
        }
    }

    /// Families once and contiguous, no series twice.
    fn check_structure(text: &str) {
        let mut families = BTreeSet::new();
        let mut series = BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(families.insert(name.clone()), "{name} twice");
                current = name;
            } else if !line.starts_with('#') {
                let key = line.rsplit_once(' ').unwrap().0;
                assert!(key.starts_with(current.as_str()), "{key} outside {current}");
                assert!(series.insert(key.to_string()), "{key} twice");
            }
        }
    }

    #[test]
    fn nodes_coming_and_going_between_pieces_never_repeat_a_family_or_a_series() {
        let mut s = store(30);
        let mut e = Exposition::new(Format::Text004, NOW);
        let mut out = String::new();
        let mut step = 0;
        while e.nodes_piece(&mut out, &s, None, 1) {
            step += 1;
            // As many nodes go as come: every family's pass sees churn, and the
            // store stays small however many pieces the scrape takes.
            match step % 8 {
                // A node sorting before every other, one after, one in the middle.
                0 => add_node(&mut s, &format!("a-{step}"), 7),
                1 => add_node(&mut s, &format!("z-{step}"), 7),
                2 => add_node(&mut s, &format!("pi-010-{step}"), 7),
                // ... and they go again.
                3 => drop(s.remove(&format!("a-{}", step - 3))),
                4 => drop(s.remove(&format!("z-{}", step - 3))),
                5 => drop(s.remove(&format!("pi-010-{}", step - 3))),
                6 => drop(s.remove(&format!("pi-{:03}", step % 20))),
                // A known node's values move.
                _ => add_node(&mut s, "pi-005", step),
            }
        }
        check_structure(&out);
        // Nodes there from the start to the end show in every family.
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("pimon_node_up{instance=\"pi-029\"}"))
                .count(),
            1
        );
        assert!(out.contains("node_load1{instance=\"pi-029\"} 29\n"));
    }

    /// Meminfo keys without a row on some nodes: `Balloon` on every node, `Zzz` on
    /// odd ones, a unitless `FooPages_Total` on node 0, and keys no renderer may name.
    fn store_with_other_meminfo_keys(nodes: usize) -> Store {
        let mut s = store(nodes);
        let stamp = s.stamp(NOW);
        let bytes = family_rank(id::MEM_OTHER_BYTES).unwrap();
        let count = family_rank(id::MEM_OTHER).unwrap();
        for i in 0..nodes {
            let name = format!("pi-{i:03}");
            let mut put = |rank, key: &str, v| {
                s.upsert(&name, rank, &[key], stamp, Number::U64(v))
                    .unwrap();
            };
            put(bytes, "Balloon", 1024 * i as u64);
            if i % 2 == 1 {
                put(bytes, "Zzz", 1);
            }
            if i == 0 {
                put(count, "FooPages_Total", 7);
                put(bytes, "Bad-Key", 1);
                put(bytes, "MemTotal", 1);
                put(count, "Foo_bytes", 1);
            }
        }
        s
    }

    #[test]
    fn meminfo_keys_without_a_row_are_one_family_each_across_nodes() {
        let s = store_with_other_meminfo_keys(12);
        for format in [Format::Text004, Format::OpenMetrics] {
            let mut whole = String::new();
            render_nodes(&mut whole, format, &s, NOW);
            check_structure(&whole);
            for target in [1, 100, 4096] {
                let (text, _) = streamed(&s, format, target);
                assert_eq!(text, whole, "{format:?}, pieces of {target} bytes");
            }
            // The store holds converted values (bytes); the key is in the name.
            assert!(
                whole.contains("\nnode_memory_Balloon_bytes{instance=\"pi-003\"} 3072\n"),
                "{whole}"
            );
            assert!(whole.contains("\nnode_memory_Zzz_bytes{instance=\"pi-011\"} 1\n"));
            assert!(!whole.contains("node_memory_Zzz_bytes{instance=\"pi-010\"}"));
            assert!(whole.contains("\nnode_memory_FooPages_Total{instance=\"pi-000\"} 7\n"));
            assert_eq!(whole.matches("node_memory_Balloon_bytes{").count(), 12);
            for refused in ["Bad", "MemTotal", "Foo_bytes", "KEY", "key="] {
                assert!(!whole.contains(refused), "{refused}: {whole}");
            }
        }
    }

    #[test]
    fn the_whole_exposition_ends_with_the_aggregator_and_eof() {
        let s = store(3);
        let mut text = String::new();
        render(&mut text, Format::OpenMetrics, &s, NOW, &Sources::default());
        check_structure(&text);
        assert!(text.contains("\npimon_aggregator_nodes 3\n"));
        assert!(text.contains("\npimon_aggregator_series 21\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    /// Every family the aggregator's figures render is a row of the reference's tables
    /// with the same type, and every row of those tables (but the inputs', which need
    /// a running input) is rendered: the exposition and METRICS.md come from one table.
    #[test]
    fn every_rendered_self_metric_is_a_documented_row_and_back() {
        let stats = AggregatorStats::default();
        let http = crate::http::HttpStats::default();
        let lp = LpFileStats::default();
        let influx = InfluxStats::default();
        let remote_write = RemoteWriteStats::default();
        let udp = [UdpFigures {
            listen: "0.0.0.0:9797".to_string(),
            receive_buffer_bytes: 1,
            kernel_drops: Some(2),
        }];
        let influx_outputs = [("influx".to_string(), &influx)];
        let remote_write_outputs = [("remote_write".to_string(), &remote_write)];
        let sources = Sources {
            stats: Some(&stats),
            http: Some(&http),
            udp: &udp,
            influx: &influx_outputs,
            lp: Some(&lp),
            remote_write: &remote_write_outputs,
            build: Some(("1.2.3", "abc")),
            ingress: None,
        };
        let mut text = String::new();
        render(&mut text, Format::Text004, &store(1), NOW, &sources);
        check_structure(&text);
        let rendered: BTreeSet<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter(|l| l.starts_with("pimon_") && !l.starts_with("pimon_rpi"))
            .map(|l| {
                let (name, kind) = l.split_once(' ').unwrap();
                (name.to_string(), kind.to_string())
            })
            .collect();
        let documented: BTreeSet<(String, String)> = self_metrics::doc_sections()
            .into_iter()
            .filter(|s| s.key != "inputs")
            .flat_map(|s| s.rows)
            .map(|r| (r.name.to_string(), r.kind.as_str().to_string()))
            .collect();
        assert_eq!(rendered, documented);
        // Values and labels come through the loop.
        assert!(
            text.contains("\npimon_aggregator_build_info{version=\"1.2.3\",commit=\"abc\"} 1\n")
        );
        assert!(
            text.contains("\npimon_aggregator_udp_kernel_drops_total{listen=\"0.0.0.0:9797\"} 2\n")
        );
        assert!(text.contains(
            "\npimon_remote_write_failures_total{output=\"remote_write\",class=\"connect\"} 0\n"
        ));
        assert!(text.contains(
            "\npimon_influx_write_duration_seconds_bucket{output=\"influx\",le=\"+Inf\"} 0\n"
        ));
        assert!(
            text.contains("\npimon_influx_write_duration_seconds_count{output=\"influx\"} 0\n")
        );
    }
}
