//! The `/metrics` exposition: every node's series under node_exporter's names, per-node
//! `pimon_node_*` figures and the aggregator's own `pimon_aggregator_*` /
//! `pimon_influx_*` figures.
//!
//! Rendering works on a [`Snapshot`] (copied from the store under its lock, formatted
//! after releasing it) into a reused `String`. Families come from the catalog
//! ([`catalog::families`]): each gets one `# HELP`/`# TYPE`, then the samples of all its
//! rows for every node (nodes by name), so families never interleave. Because every
//! node's entries are sorted by family rank, one cursor per node walks them once.
//! A family without any sample is left out. All names, label escaping and number
//! formats come from `pimon_protocol::text::prometheus`.
//!
//! Every sample has `instance="<node name>"`: scrape the aggregator with
//! `honor_labels: true` so Prometheus keeps it instead of the aggregator's address.

use std::fmt::{self, Write};

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
use crate::series::{decode_set, family_rank, metric_at_rank};
use crate::stats::{AggregatorStats, AuthFailure, DecodeErrorKind, get};
use crate::store::{SnapNode, Snapshot};

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

/// Renders the whole exposition into `out` (appended).
pub fn render(out: &mut String, format: Format, snap: &Snapshot, sources: &Sources<'_>) {
    // Writing to a String cannot fail.
    let _ = render_nodes_with(out, format, snap, sources.ingress)
        .and_then(|_| sources.ingress.map_or(Ok(()), |i| i.render(out, format)))
        .and_then(|_| render_node_figures(out, format, snap))
        .and_then(|_| render_aggregator(out, format, snap, sources))
        .and_then(|_| write_eof(out, format));
}

/// The catalog families: every node's fresh series.
pub fn render_nodes<W: Write>(w: &mut W, format: Format, snap: &Snapshot) -> fmt::Result {
    render_nodes_with(w, format, snap, None)
}

/// The catalog families; samples of a catalog family that groups of `ingress` hold
/// (a pushed node_exporter page) follow the nodes' in the same block.
pub fn render_nodes_with<W: Write>(
    w: &mut W,
    format: Format,
    snap: &Snapshot,
    ingress: Option<&Ingress>,
) -> fmt::Result {
    let mut cursors = vec![0usize; snap.nodes.len()];
    for family in catalog::families() {
        let Some(start) = family.ids.first().and_then(|&id| family_rank(id)) else {
            continue;
        };
        let end = start as usize + family.ids.len();
        let mut header = false;
        for (node, cursor) in snap.nodes.iter().zip(cursors.iter_mut()) {
            let entries = snap.entries(node);
            let instance = snap.name(node);
            while let Some(e) = entries.get(*cursor) {
                if usize::from(e.rank) >= end {
                    break;
                }
                *cursor += 1;
                let Some(metric) = metric_at_rank(e.rank) else {
                    continue;
                };
                if !header {
                    write_family_header(w, format, family.first)?;
                    header = true;
                }
                let mut labels: heapless::Vec<&str, MAX_LABELS> = heapless::Vec::new();
                for l in decode_set(snap.label_set(node, e.labelset)) {
                    let _ = labels.push(l);
                }
                write_metric_sample(w, format, metric, instance, &labels, e.value, None)?;
            }
        }
        if let Some(ingress) = ingress {
            let name = family.first.prom_name;
            if !header && ingress.has_family(name) {
                write_family_header(w, format, family.first)?;
                header = true;
            }
            if header {
                ingress.render_samples_of(w, format, name)?;
            }
        }
    }
    Ok(())
}

/// A per-node family: `# HELP`/`# TYPE`, then one sample per node.
#[allow(clippy::too_many_arguments)]
fn node_family<W: Write>(
    w: &mut W,
    format: Format,
    snap: &Snapshot,
    name: &str,
    metric_type: MetricType,
    help: &str,
    unit: &str,
    value: impl Fn(&SnapNode) -> Number,
) -> fmt::Result {
    if snap.nodes.is_empty() {
        return Ok(());
    }
    write_header(w, format, name, metric_type, help, unit)?;
    for node in &snap.nodes {
        write_sample(
            w,
            format,
            name,
            &[("instance", snap.name(node))],
            value(node),
            None,
        )?;
    }
    Ok(())
}

fn seconds_from_ms(ms: i64) -> Number {
    if ms % 1000 == 0 {
        Number::I64(ms / 1000)
    } else {
        Number::F64(ms as f64 / 1000.0)
    }
}

/// `pimon_node_*`: one sample per known node, up or not.
pub fn render_node_figures<W: Write>(w: &mut W, format: Format, snap: &Snapshot) -> fmt::Result {
    use MetricType::{Counter, Gauge};
    node_family(
        w,
        format,
        snap,
        "pimon_node_up",
        Gauge,
        "1 when the node sent a frame within its stale time (3 intervals, at least 30 s by default), else 0.",
        "",
        |n| Number::U64(u64::from(n.up)),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_last_seen_timestamp_seconds",
        Gauge,
        "Unix time the last frame of the node was stored.",
        "seconds",
        |n| seconds_from_ms(n.last_seen_ms as i64),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_frames_received_total",
        Counter,
        "Frames of the node stored (new sequence numbers).",
        "",
        |n| Number::U64(n.counters.received),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_frames_duplicate_total",
        Counter,
        "Frames of the node received again after they were stored (resends that crossed an ack, replays).",
        "",
        |n| Number::U64(n.counters.duplicate),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_frames_missing_total",
        Counter,
        "Sequence numbers of the node given up without being received (below the collector's resend floor or out of the window).",
        "",
        |n| Number::U64(n.counters.missing),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_boot_id_changes_total",
        Counter,
        "Times the node's collector restarted (new boot id).",
        "",
        |n| Number::U64(n.counters.boot_id_changes),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_frames_replayed_total",
        Counter,
        "Frames of the node refused as replays (a retired boot id, or a keyed frame too old to start a boot).",
        "",
        |n| Number::U64(n.counters.replays),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_clock_skewed_frames_total",
        Counter,
        "Frames of the node stored with a time other than their own (clock off by more than the allowed skew, or stepped back).",
        "",
        |n| Number::U64(n.counters.clock_skewed),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_clock_skew_seconds",
        Gauge,
        "Timestamp of the node's last live frame minus its receive time.",
        "seconds",
        |n| seconds_from_ms(n.clock_skew_ms),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_samples_refused_total",
        Counter,
        "Samples of the node not stored because it reached its series limit.",
        "",
        |n| Number::U64(n.counters.series_refused),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_frames_unconfirmed_total",
        Counter,
        "Frames held back, not stored or acked: they would change the node's boot id or sequence window without evidence yet that they come from its collector.",
        "",
        |n| Number::U64(n.counters.unconfirmed),
    )?;
    node_family(
        w,
        format,
        snap,
        "pimon_node_name_conflicts_total",
        Counter,
        "Times a second collector was seen sending as this node (two hosts with one node name).",
        "",
        |n| Number::U64(n.counters.name_conflicts),
    )?;
    Ok(())
}

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
    snap: &Snapshot,
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
        Number::U64(snap.nodes.len() as u64),
    )?;
    single(
        w,
        format,
        "pimon_aggregator_series",
        Gauge,
        "Series held in memory over all nodes.",
        "",
        Number::U64(snap.series_total as u64),
    )?;
    single(
        w,
        format,
        "pimon_aggregator_store_memory_bytes",
        Gauge,
        "Approximate memory of the node store.",
        "bytes",
        Number::U64(snap.memory_bytes as u64),
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
            "Time the previous /metrics rendering took.",
            "seconds",
            Number::F64(get(&s.last_render_micros) as f64 / 1e6),
        )?;
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
