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
use pimon_protocol::catalog::{self, MetricType, Number};
use pimon_protocol::text::prometheus::{
    Format, write_eof, write_family_header, write_header, write_help_escaped, write_metric_sample,
    write_number, write_sample,
};

use crate::atomic::AtomicU64;
use crate::influx::LpFileStats;
use crate::influx::stats::{FailureClass, InfluxStats, LATENCY_BUCKETS_SECONDS};
use crate::ingress::runtime::Ingress;
use crate::remote_write::RemoteWriteStats;
use crate::series::{decode_set, metric_at_rank};
use crate::stats::{AggregatorStats, AuthFailure, DecodeErrorKind, get};
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
        let after = self.has_after.then_some(self.after.as_str());
        let mut last = None;
        let mut complete = true;
        for node in store.nodes_after(after, self.now_ms) {
            for e in node.entries(ranks.clone()) {
                let Some(metric) = metric_at_rank(e.rank) else {
                    continue;
                };
                if !self.header {
                    let _ = write_family_header(out, self.format, first);
                    self.header = true;
                }
                let mut labels: heapless::Vec<&str, MAX_LABELS> = heapless::Vec::new();
                for l in decode_set(node.label_set(e.labelset)) {
                    let _ = labels.push(l);
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
        if let Some(name) = last {
            self.after.clear();
            self.after.push_str(name);
            self.has_after = true;
        }
        complete
    }

    /// Writes one `pimon_node_*` sample per node after `self.after` until the piece is
    /// full; true when the family is complete.
    fn node_figure(
        &mut self,
        out: &mut String,
        store: &Store,
        figure: &NodeFigure,
        start: usize,
        target: usize,
    ) -> bool {
        let after = self.has_after.then_some(self.after.as_str());
        let mut last = None;
        let mut complete = true;
        for node in store.nodes_after(after, self.now_ms) {
            if !self.header {
                let _ = write_header(
                    out,
                    self.format,
                    figure.name,
                    figure.metric_type,
                    figure.help,
                    figure.unit,
                );
                self.header = true;
            }
            let _ = write_sample(
                out,
                self.format,
                figure.name,
                &[("instance", node.name())],
                (figure.value)(&node),
                None,
            );
            last = Some(node.name());
            if out.len() - start >= target {
                complete = false;
                break;
            }
        }
        if let Some(name) = last {
            self.after.clear();
            self.after.push_str(name);
            self.has_after = true;
        }
        complete
    }
}

/// A `pimon_node_*` family: one sample per node.
struct NodeFigure {
    name: &'static str,
    metric_type: MetricType,
    help: &'static str,
    unit: &'static str,
    value: fn(&NodeView<'_>) -> Number,
}

fn seconds_from_ms(ms: i64) -> Number {
    if ms % 1000 == 0 {
        Number::I64(ms / 1000)
    } else {
        Number::F64(ms as f64 / 1000.0)
    }
}

/// `pimon_node_*`: one sample per known node, up or not.
const NODE_FIGURES: [NodeFigure; 12] = [
    NodeFigure {
        name: "pimon_node_up",
        metric_type: MetricType::Gauge,
        help: "1 when the node sent a frame within its stale time (3 intervals, at least 30 s by default), else 0.",
        unit: "",
        value: |n| Number::U64(u64::from(n.up())),
    },
    NodeFigure {
        name: "pimon_node_last_seen_timestamp_seconds",
        metric_type: MetricType::Gauge,
        help: "Unix time the last frame of the node was stored.",
        unit: "seconds",
        value: |n| seconds_from_ms(n.meta().last_seen_ms as i64),
    },
    NodeFigure {
        name: "pimon_node_frames_received_total",
        metric_type: MetricType::Counter,
        help: "Frames of the node stored (new sequence numbers).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.received),
    },
    NodeFigure {
        name: "pimon_node_frames_duplicate_total",
        metric_type: MetricType::Counter,
        help: "Frames of the node received again after they were stored (resends that crossed an ack, replays).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.duplicate),
    },
    NodeFigure {
        name: "pimon_node_frames_missing_total",
        metric_type: MetricType::Counter,
        help: "Sequence numbers of the node given up without being received (below the collector's resend floor or out of the window).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.missing),
    },
    NodeFigure {
        name: "pimon_node_boot_id_changes_total",
        metric_type: MetricType::Counter,
        help: "Times the node's collector restarted (new boot id).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.boot_id_changes),
    },
    NodeFigure {
        name: "pimon_node_frames_replayed_total",
        metric_type: MetricType::Counter,
        help: "Frames of the node refused as replays (a retired boot id, or a keyed frame too old to start a boot).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.replays),
    },
    NodeFigure {
        name: "pimon_node_clock_skewed_frames_total",
        metric_type: MetricType::Counter,
        help: "Frames of the node stored with a time other than their own (clock off by more than the allowed skew, or stepped back).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.clock_skewed),
    },
    NodeFigure {
        name: "pimon_node_clock_skew_seconds",
        metric_type: MetricType::Gauge,
        help: "Timestamp of the node's last live frame minus its receive time.",
        unit: "seconds",
        value: |n| seconds_from_ms(n.meta().clock_skew_ms),
    },
    NodeFigure {
        name: "pimon_node_samples_refused_total",
        metric_type: MetricType::Counter,
        help: "Samples of the node not stored because it reached its series limit.",
        unit: "",
        value: |n| Number::U64(n.meta().counters.series_refused),
    },
    NodeFigure {
        name: "pimon_node_frames_unconfirmed_total",
        metric_type: MetricType::Counter,
        help: "Frames held back, not stored or acked: they would change the node's boot id or sequence window without evidence yet that they come from its collector.",
        unit: "",
        value: |n| Number::U64(n.meta().counters.unconfirmed),
    },
    NodeFigure {
        name: "pimon_node_name_conflicts_total",
        metric_type: MetricType::Counter,
        help: "Times a second collector was seen sending as this node (two hosts with one node name).",
        unit: "",
        value: |n| Number::U64(n.meta().counters.name_conflicts),
    },
];

/// Writes a family with one unlabelled sample.
fn single<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    metric_type: MetricType,
    help: &str,
    unit: &str,
    value: Number,
) -> fmt::Result {
    write_header(w, format, name, metric_type, help, unit)?;
    write_sample(w, format, name, &[], value, None)
}

fn counter(a: &AtomicU64) -> Number {
    Number::U64(get(a))
}

/// The aggregator's own figures.
pub fn render_aggregator<W: Write>(
    w: &mut W,
    format: Format,
    store: &StoreFigures,
    sources: &Sources<'_>,
) -> fmt::Result {
    use MetricType::{Counter, Gauge};
    if let Some((version, commit)) = sources.build {
        write_header(
            w,
            format,
            "pimon_aggregator_build_info",
            Gauge,
            "Version and source commit of the running aggregator (always 1).",
            "",
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_build_info",
            &[("version", version), ("commit", commit)],
            Number::U64(1),
            None,
        )?;
    }
    single(
        w,
        format,
        "pimon_aggregator_nodes",
        Gauge,
        "Nodes held in memory (up or not).",
        "",
        Number::U64(store.nodes as u64),
    )?;
    single(
        w,
        format,
        "pimon_aggregator_series",
        Gauge,
        "Series held in memory over all nodes.",
        "",
        Number::U64(store.series as u64),
    )?;
    single(
        w,
        format,
        "pimon_aggregator_store_memory_bytes",
        Gauge,
        "Approximate memory of the node store.",
        "bytes",
        Number::U64(store.memory_bytes as u64),
    )?;

    if let Some(s) = sources.stats {
        single(
            w,
            format,
            "pimon_aggregator_datagrams_received_total",
            Counter,
            "UDP datagrams received.",
            "",
            counter(&s.datagrams_received),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_received_bytes_total",
            Counter,
            "Bytes of UDP datagrams received.",
            "bytes",
            counter(&s.bytes_received),
        )?;
        write_header(
            w,
            format,
            "pimon_aggregator_decode_errors_total",
            Counter,
            "Datagrams that are not valid pimon data frames, by error.",
            "",
        )?;
        for kind in DecodeErrorKind::ALL {
            write_sample(
                w,
                format,
                "pimon_aggregator_decode_errors_total",
                &[("error", kind.label())],
                Number::U64(s.decode_errors_of(kind)),
                None,
            )?;
        }
        write_header(
            w,
            format,
            "pimon_aggregator_auth_failures_total",
            Counter,
            "Frames dropped because their MAC was missing, wrong, or made with an unknown key id.",
            "",
        )?;
        for reason in AuthFailure::ALL {
            write_sample(
                w,
                format,
                "pimon_aggregator_auth_failures_total",
                &[("reason", reason.label())],
                Number::U64(s.auth_failures_of(reason)),
                None,
            )?;
        }
        single(
            w,
            format,
            "pimon_aggregator_replays_total",
            Counter,
            "Frames refused as replays: a retired boot id, or a keyed frame too old to start a boot.",
            "",
            counter(&s.replays),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_frames_unconfirmed_total",
            Counter,
            "Frames held back: they would change a node's boot id or sequence window without evidence yet.",
            "",
            counter(&s.frames_unconfirmed),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_name_conflicts_total",
            Counter,
            "Second collectors detected sending as an existing node.",
            "",
            counter(&s.name_conflicts),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_unknown_nodes_refused_total",
            Counter,
            "Frames refused because the node has no key (or is not listed, with refuse_unknown_nodes).",
            "",
            counter(&s.unknown_nodes_refused),
        )?;
        write_header(
            w,
            format,
            "pimon_aggregator_limit_refusals_total",
            Counter,
            "Frames of new nodes (limit=\"nodes\": table full; limit=\"nodes_per_address\": table 90 % full and the address has max_new_nodes_per_address young nodes) and samples of new series (limit=\"series\") refused by a memory limit.",
            "",
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_limit_refusals_total",
            &[("limit", "nodes")],
            counter(&s.nodes_refused_limit),
            None,
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_limit_refusals_total",
            &[("limit", "nodes_per_address")],
            counter(&s.nodes_refused_address),
            None,
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_limit_refusals_total",
            &[("limit", "series")],
            counter(&s.series_refused_limit),
            None,
        )?;
        single(
            w,
            format,
            "pimon_aggregator_unknown_samples_total",
            Counter,
            "Samples skipped because their metric id is newer than this aggregator.",
            "",
            counter(&s.unknown_samples),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_clock_skewed_frames_total",
            Counter,
            "Frames stored with a time other than their own (clock off or stepped back).",
            "",
            counter(&s.clock_skewed_frames),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_nodes_forgotten_total",
            Counter,
            "Nodes removed from memory after not being seen for long.",
            "",
            counter(&s.nodes_forgotten),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_young_nodes_forgotten_total",
            Counter,
            "Nodes not yet established forgotten early (idle for their stale time) because the node table was 90 % full.",
            "",
            counter(&s.young_nodes_forgotten_pressure),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_output_failures_total",
            Counter,
            "Batches of frames the outputs did not accept; they were not acked and the collectors resend them.",
            "",
            counter(&s.output_failures),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_acks_sent_total",
            Counter,
            "Acks sent to collectors.",
            "",
            counter(&s.acks_sent),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_self_lines_total",
            Counter,
            "Lines of the aggregator's own figures (pimon_node, pimon_aggregator) taken by every InfluxDB output.",
            "",
            counter(&s.self_lines),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_ack_send_errors_total",
            Counter,
            "Acks that could not be sent.",
            "",
            counter(&s.ack_send_errors),
        )?;
        write_header(
            w,
            format,
            "pimon_aggregator_acks_limited_total",
            Counter,
            "Acks shortened or not sent: reason=\"size\" to an unauthenticated sender, never larger than its datagram; reason=\"rate\" over a destination's ack rate.",
            "",
        )?;
        for (reason, c) in [
            ("size", &s.acks_limited_size),
            ("rate", &s.acks_limited_rate),
        ] {
            write_sample(
                w,
                format,
                "pimon_aggregator_acks_limited_total",
                &[("reason", reason)],
                counter(c),
                None,
            )?;
        }
        single(
            w,
            format,
            "pimon_aggregator_state_writes_total",
            Counter,
            "Node state saves that reached the disk (snapshots and journal appends).",
            "",
            counter(&s.state_writes),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_state_write_errors_total",
            Counter,
            "Node state saves that failed; a batch whose urgent state could not be saved is not acked.",
            "",
            counter(&s.state_write_errors),
        )?;
        write_header(
            w,
            format,
            "pimon_aggregator_key_reloads_total",
            Counter,
            "Key file reloads, by result (on error the previous keys stay in force).",
            "",
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_key_reloads_total",
            &[("result", "ok")],
            counter(&s.key_reloads),
            None,
        )?;
        write_sample(
            w,
            format,
            "pimon_aggregator_key_reloads_total",
            &[("result", "error")],
            counter(&s.key_reload_failures),
            None,
        )?;
        single(
            w,
            format,
            "pimon_aggregator_scrapes_total",
            Counter,
            "/metrics requests served.",
            "",
            counter(&s.scrapes),
        )?;
        single(
            w,
            format,
            "pimon_aggregator_render_duration_seconds",
            Gauge,
            "Time spent rendering the previous complete /metrics exposition (all its pieces; not the time waiting for the client).",
            "seconds",
            Number::F64(get(&s.last_render_micros) as f64 / 1e6),
        )?;
    }

    if let Some(h) = sources.http {
        render_http(w, format, h)?;
    }

    if !sources.udp.is_empty() {
        write_header(
            w,
            format,
            "pimon_aggregator_udp_receive_buffer_bytes",
            Gauge,
            "Receive buffer (SO_RCVBUF) of each UDP listener as granted by the kernel.",
            "bytes",
        )?;
        for u in sources.udp {
            write_sample(
                w,
                format,
                "pimon_aggregator_udp_receive_buffer_bytes",
                &[("listen", &u.listen)],
                Number::U64(u.receive_buffer_bytes),
                None,
            )?;
        }
        if sources.udp.iter().any(|u| u.kernel_drops.is_some()) {
            write_header(
                w,
                format,
                "pimon_aggregator_udp_kernel_drops_total",
                Counter,
                "Datagrams the kernel dropped for the listener because its receive buffer was full.",
                "",
            )?;
            for u in sources.udp {
                if let Some(d) = u.kernel_drops {
                    write_sample(
                        w,
                        format,
                        "pimon_aggregator_udp_kernel_drops_total",
                        &[("listen", &u.listen)],
                        Number::U64(d),
                        None,
                    )?;
                }
            }
        }
    }

    if let Some(lp) = sources.lp {
        single(
            w,
            format,
            "pimon_lp_out_lines_written_total",
            Counter,
            "Lines written to the --lp-out file or stdout.",
            "",
            counter(&lp.lines_written),
        )?;
        single(
            w,
            format,
            "pimon_lp_out_written_bytes_total",
            Counter,
            "Bytes written to the --lp-out file or stdout.",
            "bytes",
            counter(&lp.bytes_written),
        )?;
        single(
            w,
            format,
            "pimon_lp_out_write_errors_total",
            Counter,
            "Write errors of the --lp-out output.",
            "",
            counter(&lp.write_errors),
        )?;
    }

    render_influx(w, format, sources.influx)?;
    crate::remote_write::stats::render(w, format, sources.remote_write)
}

/// `pimon_aggregator_http_*`: the `/metrics` server's connections.
fn render_http<W: Write>(w: &mut W, format: Format, h: &crate::http::HttpStats) -> fmt::Result {
    use MetricType::{Counter, Gauge};
    single(
        w,
        format,
        "pimon_aggregator_http_connections",
        Gauge,
        "HTTP connections open now.",
        "",
        counter(&h.connections),
    )?;
    single(
        w,
        format,
        "pimon_aggregator_http_connections_accepted_total",
        Counter,
        "HTTP connections accepted.",
        "",
        counter(&h.accepted),
    )?;
    let name = "pimon_aggregator_http_connections_closed_total";
    write_header(
        w,
        format,
        name,
        Counter,
        "HTTP connections closed by the server, by reason: head_timeout (a request head not complete within the timeout), write_timeout (a response not read within the timeout), evicted_waiting and evicted_answering (closed to make room for a new client, while waiting for a request head or answering for longer than the timeout).",
        "",
    )?;
    for (reason, c) in [
        ("head_timeout", &h.head_timeouts),
        ("write_timeout", &h.write_timeouts),
        ("evicted_waiting", &h.evicted_waiting),
        ("evicted_answering", &h.evicted_answering),
    ] {
        write_sample(w, format, name, &[("reason", reason)], counter(c), None)?;
    }
    Ok(())
}

/// `pimon_influx_*`, one sample per output (label `output`).
fn render_influx<W: Write>(
    w: &mut W,
    format: Format,
    outputs: &[(String, &InfluxStats)],
) -> fmt::Result {
    use MetricType::{Counter, Gauge};
    if outputs.is_empty() {
        return Ok(());
    }
    type Pick = fn(&InfluxStats) -> Number;
    let families: [(&str, MetricType, &str, &str, Pick); 18] = [
        (
            "pimon_influx_batches_written_total",
            Counter,
            "Write requests InfluxDB accepted.",
            "",
            |s| counter(&s.batches_written),
        ),
        (
            "pimon_influx_lines_written_total",
            Counter,
            "Lines InfluxDB accepted.",
            "",
            |s| counter(&s.lines_written),
        ),
        (
            "pimon_influx_written_bytes_total",
            Counter,
            "Uncompressed bytes of accepted write requests.",
            "bytes",
            |s| counter(&s.bytes_written),
        ),
        (
            "pimon_influx_sent_bytes_total",
            Counter,
            "Bytes sent for accepted write requests (after gzip).",
            "bytes",
            |s| counter(&s.bytes_sent),
        ),
        (
            "pimon_influx_lines_dropped_bad_data_total",
            Counter,
            "Lines InfluxDB rejected as bad data (logged and dropped).",
            "",
            |s| counter(&s.lines_dropped_bad_data),
        ),
        (
            "pimon_influx_retries_total",
            Counter,
            "Write retries after a backoff.",
            "",
            |s| counter(&s.retries),
        ),
        (
            "pimon_influx_last_write_ok",
            Gauge,
            "1 when the last write attempt succeeded.",
            "",
            |s| counter(&s.last_write_ok),
        ),
        (
            "pimon_influx_last_success_timestamp_seconds",
            Gauge,
            "Unix time of the last successful write (0: none).",
            "seconds",
            |s| counter(&s.last_success_unix_seconds),
        ),
        (
            "pimon_influx_submits_total",
            Counter,
            "Batches of frame lines accepted into the spool.",
            "",
            |s| counter(&s.submits),
        ),
        (
            "pimon_influx_submit_failures_total",
            Counter,
            "Batches of frame lines the output could not accept (not acked).",
            "",
            |s| counter(&s.submit_failures),
        ),
        (
            "pimon_influx_spool_bytes",
            Gauge,
            "Bytes of the output's on-disk spool.",
            "bytes",
            |s| counter(&s.spool.bytes),
        ),
        (
            "pimon_influx_spool_pending_lines",
            Gauge,
            "Lines in the spool not yet delivered.",
            "",
            |s| counter(&s.spool.pending_lines),
        ),
        (
            "pimon_influx_spool_lines_dropped_full_total",
            Counter,
            "Undelivered lines deleted because the spool was full.",
            "",
            |s| counter(&s.spool.lines_dropped_full),
        ),
        (
            "pimon_influx_spool_appends_refused_full_total",
            Counter,
            "Appends refused because the spool was full (refuse_new policy).",
            "",
            |s| counter(&s.spool.appends_refused_full),
        ),
        (
            "pimon_influx_spool_torn_truncations_total",
            Counter,
            "Spool segments truncated at open after their last valid record (a write cut short by a crash).",
            "",
            |s| counter(&s.spool.torn_truncations),
        ),
        (
            "pimon_influx_spool_disk_full_total",
            Counter,
            "Appends that found the spool's disk full before spool_max_bytes; when_full applied.",
            "",
            |s| counter(&s.spool.disk_full),
        ),
        (
            "pimon_influx_spool_corrupt_skips_total",
            Counter,
            "Damaged spans of undelivered spool records skipped; the valid records around them are kept.",
            "",
            |s| counter(&s.spool.corrupt_skips),
        ),
        (
            "pimon_influx_spool_lines_lost_corrupt_total",
            Counter,
            "Acknowledged lines lost in damaged spool records.",
            "",
            |s| counter(&s.spool.lines_lost_corrupt),
        ),
    ];
    for (name, metric_type, help, unit, pick) in families {
        write_header(w, format, name, metric_type, help, unit)?;
        for (output, s) in outputs {
            write_sample(w, format, name, &[("output", output)], pick(s), None)?;
        }
    }
    let name = "pimon_influx_write_failures_total";
    write_header(
        w,
        format,
        name,
        Counter,
        "Failed write attempts, by class.",
        "",
    )?;
    for (output, s) in outputs {
        for class in FailureClass::ALL {
            write_sample(
                w,
                format,
                name,
                &[("output", output), ("class", class.label())],
                Number::U64(s.failures(class)),
                None,
            )?;
        }
    }
    render_latency_histogram(w, format, outputs)
}

/// `pimon_influx_write_duration_seconds`, a histogram per output. The catalog's
/// `MetricType` has no histogram, so this one header is written here (help escaped by
/// `text::prometheus`).
fn render_latency_histogram<W: Write>(
    w: &mut W,
    format: Format,
    outputs: &[(String, &InfluxStats)],
) -> fmt::Result {
    let name = "pimon_influx_write_duration_seconds";
    w.write_str("# HELP ")?;
    w.write_str(name)?;
    w.write_char(' ')?;
    write_help_escaped(
        w,
        format,
        "Duration of successful write requests to InfluxDB.",
    )?;
    w.write_str("\n# TYPE ")?;
    w.write_str(name)?;
    w.write_str(" histogram\n")?;
    if format == Format::OpenMetrics {
        w.write_str("# UNIT ")?;
        w.write_str(name)?;
        w.write_str(" seconds\n")?;
    }
    let bucket = format!("{name}_bucket");
    let mut le = String::new();
    for (output, s) in outputs {
        let cumulative = s.latency.cumulative();
        for (i, count) in cumulative.iter().enumerate() {
            le.clear();
            match LATENCY_BUCKETS_SECONDS.get(i) {
                Some(&bound) => write_number(&mut le, Number::F64(bound))?,
                None => le.push_str("+Inf"),
            }
            write_sample(
                w,
                format,
                &bucket,
                &[("output", output), ("le", &le)],
                Number::U64(*count),
                None,
            )?;
        }
        let sum = get(&s.latency.sum_micros) as f64 / 1e6;
        write_sample(
            w,
            format,
            &format!("{name}_sum"),
            &[("output", output)],
            Number::F64(sum),
            None,
        )?;
        write_sample(
            w,
            format,
            &format!("{name}_count"),
            &[("output", output)],
            counter(&s.latency.count),
            None,
        )?;
    }
    Ok(())
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
}
