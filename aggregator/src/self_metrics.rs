//! The aggregator's own metric families (`pimon_node_*`, `pimon_aggregator_*`, the
//! inputs' `pimon_ingress_*`/`pimon_push_*`/`pimon_scrape_*`/`pimon_collectd_*`,
//! `pimon_lp_out_*`, `pimon_influx_*`, `pimon_remote_write_*`) as tables, one row per
//! family: name, type, unit, labels, help, and how to read the value.
//!
//! # Why tables
//! Each family used to be a hand-written `write_header` + `write_sample` call, and its
//! help text a second, hand-kept copy in `docs/METRICS.md`; the two drifted. Now a row
//! is the one place a family is described: [`render_table`] writes the exposition as a
//! loop over a table, and `cargo xtask codegen` writes METRICS.md's tables of the
//! aggregator's metrics from [`doc_sections`]. Adding a figure is adding a row.
//!
//! The help is written once, in the wording of the reference (markdown code spans and
//! bold allowed); the `# HELP` line carries it without the markdown ([`write_help`]).

use std::fmt::{self, Write};

use pimon_protocol::catalog::{MetricType, Number};
use pimon_protocol::text::prometheus::{Format, write_help_escaped, write_number, write_sample};

use crate::atomic::AtomicU64;
use crate::http::HttpStats;
use crate::influx::LpFileStats;
use crate::influx::stats::{FailureClass, InfluxStats, LATENCY_BUCKETS_SECONDS};
use crate::prom::{StoreFigures, UdpFigures};
use crate::stats::{AggregatorStats, AuthFailure, DecodeErrorKind, get};

/// The type of a family (the tables use `Counter`, `Gauge` and, with
/// [`Read::Histogram`], `Histogram`).
pub use crate::ingress::expo::Kind;

/// Where a sample's labels are handed to: (labels, value).
pub type Emit<'a> = dyn FnMut(&[(&str, &str)], Number) -> fmt::Result + 'a;

/// A histogram's figures: cumulative bucket counts (one per bound, then `+Inf`), the
/// sum and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramFigures {
    /// Cumulative counts, one per bound of the table row, then `+Inf`.
    pub cumulative: Vec<u64>,
    /// Sum of the observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// How a family's samples are read from the figures `S` of one instance.
pub enum Read<S> {
    /// One sample without labels of its own.
    Value(fn(&S) -> Number),
    /// Any number of samples (none leaves the family out when no instance has one),
    /// each with the labels the row names.
    Samples(fn(&S, &mut Emit<'_>) -> fmt::Result),
    /// A histogram with these upper bounds (seconds).
    Histogram(&'static [f64], fn(&S) -> HistogramFigures),
}

/// One family: what the exposition and the reference say of it, and how to read it.
pub struct Family<R> {
    /// Sample name (`…_total` for a counter).
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Unit for OpenMetrics' `# UNIT` and the reference (empty: none).
    pub unit: &'static str,
    /// The labels the reference lists for it: its samples' own and, where the text
    /// does not say them, the instance's (`listen`, `version`/`commit`; the node
    /// tables' `instance` and the outputs' `output` are said by the section).
    pub labels: &'static [&'static str],
    /// What it means, in the reference's words (markdown).
    pub help: &'static str,
    /// How to read it.
    pub read: R,
}

/// A table row, every field given.
pub const fn row<R>(
    name: &'static str,
    kind: Kind,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    read: R,
) -> Family<R> {
    Family {
        name,
        kind,
        unit,
        labels,
        help,
        read,
    }
}

/// A counter with one unlabelled sample per instance.
pub const fn counter<S>(
    name: &'static str,
    help: &'static str,
    read: fn(&S) -> Number,
) -> Family<Read<S>> {
    row(name, Kind::Counter, "", &[], help, Read::Value(read))
}

/// A counter in bytes with one unlabelled sample per instance.
pub const fn bytes_counter<S>(
    name: &'static str,
    help: &'static str,
    read: fn(&S) -> Number,
) -> Family<Read<S>> {
    row(name, Kind::Counter, "bytes", &[], help, Read::Value(read))
}

/// A gauge with one unlabelled sample per instance.
pub const fn gauge<S>(
    name: &'static str,
    unit: &'static str,
    help: &'static str,
    read: fn(&S) -> Number,
) -> Family<Read<S>> {
    row(name, Kind::Gauge, unit, &[], help, Read::Value(read))
}

/// A family whose samples carry `labels`.
pub const fn labelled<S>(
    name: &'static str,
    kind: Kind,
    unit: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    read: fn(&S, &mut Emit<'_>) -> fmt::Result,
) -> Family<Read<S>> {
    row(name, kind, unit, labels, help, Read::Samples(read))
}

/// A counter's value now.
pub fn load(a: &AtomicU64) -> Number {
    Number::U64(get(a))
}

/// Writes `help` for a `# HELP` line: the markdown code spans' backticks and the bold
/// stars left out, then escaped as `format` wants.
pub fn write_help<W: Write>(w: &mut W, format: Format, help: &str) -> fmt::Result {
    for span in help.split('`') {
        for part in span.split("**") {
            write_help_escaped(w, format, part)?;
        }
    }
    Ok(())
}

/// Writes `# HELP`, `# TYPE` and for OpenMetrics `# UNIT` of a family.
pub fn write_family_header<W: Write, R>(w: &mut W, format: Format, f: &Family<R>) -> fmt::Result {
    let name = match f.kind {
        Kind::Counter => format.family_name(f.name, MetricType::Counter),
        _ => f.name,
    };
    w.write_str("# HELP ")?;
    w.write_str(name)?;
    w.write_char(' ')?;
    write_help(w, format, f.help)?;
    w.write_str("\n# TYPE ")?;
    w.write_str(name)?;
    w.write_char(' ')?;
    w.write_str(f.kind.as_str())?;
    w.write_char('\n')?;
    if format == Format::OpenMetrics && !f.unit.is_empty() {
        w.write_str("# UNIT ")?;
        w.write_str(name)?;
        w.write_char(' ')?;
        w.write_str(f.unit)?;
        w.write_char('\n')?;
    }
    Ok(())
}

/// Most labels a sample of these tables has: the instance's and its own.
const MAX_SAMPLE_LABELS: usize = 4;

/// The instance's labels, then the sample's own.
fn joined<'a>(
    instance: &[(&'a str, &'a str)],
    own: &[(&'a str, &'a str)],
) -> heapless::Vec<(&'a str, &'a str), MAX_SAMPLE_LABELS> {
    let mut all = heapless::Vec::new();
    for l in instance.iter().chain(own) {
        let _ = all.push(*l);
    }
    all
}

/// Writes every family of `table`, each with the samples of every instance (an
/// instance: its labels, such as `output="influx"`, and its figures). A family
/// no instance has a sample of is left out.
pub fn render_table<W: Write, S>(
    w: &mut W,
    format: Format,
    table: &[Family<Read<S>>],
    instances: &[(&[(&str, &str)], &S)],
) -> fmt::Result {
    for family in table {
        let mut header = false;
        for (instance, figures) in instances {
            let mut emit = |labels: &[(&str, &str)], value: Number| -> fmt::Result {
                if !header {
                    write_family_header(w, format, family)?;
                    header = true;
                }
                write_sample(
                    w,
                    format,
                    family.name,
                    &joined(instance, labels),
                    value,
                    None,
                )
            };
            match &family.read {
                Read::Value(read) => emit(&[], read(figures))?,
                Read::Samples(read) => read(figures, &mut emit)?,
                Read::Histogram(bounds, read) => {
                    if !header {
                        write_family_header(w, format, family)?;
                        header = true;
                    }
                    write_histogram(w, format, family.name, instance, bounds, &read(figures))?;
                }
            }
        }
    }
    Ok(())
}

/// The `_bucket`, `_sum` and `_count` samples of one instance's histogram.
fn write_histogram<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    instance: &[(&str, &str)],
    bounds: &[f64],
    h: &HistogramFigures,
) -> fmt::Result {
    let bucket = format!("{name}_bucket");
    let mut le = String::new();
    for (i, count) in h.cumulative.iter().enumerate() {
        le.clear();
        match bounds.get(i) {
            Some(&bound) => write_number(&mut le, Number::F64(bound))?,
            None => le.push_str("+Inf"),
        }
        let labels = joined(instance, &[("le", &le)]);
        write_sample(w, format, &bucket, &labels, Number::U64(*count), None)?;
    }
    let labels = joined(instance, &[]);
    write_sample(
        w,
        format,
        &format!("{name}_sum"),
        &labels,
        Number::F64(h.sum),
        None,
    )?;
    write_sample(
        w,
        format,
        &format!("{name}_count"),
        &labels,
        Number::U64(h.count),
        None,
    )
}

/// `pimon_aggregator_build_info`: rendered with the instance labels `version` and
/// `commit`.
pub const BUILD: &[Family<Read<()>>] = &[labelled(
    "pimon_aggregator_build_info",
    Kind::Gauge,
    "",
    &["version", "commit"],
    "Always 1; the running version.",
    |_, emit| emit(&[], Number::U64(1)),
)];

/// The node store's totals.
pub const STORE: &[Family<Read<StoreFigures>>] = &[
    gauge(
        "pimon_aggregator_nodes",
        "",
        "Nodes held in memory (up or not).",
        |s| Number::U64(s.nodes as u64),
    ),
    gauge(
        "pimon_aggregator_series",
        "",
        "Series held in memory over all nodes.",
        |s| Number::U64(s.series as u64),
    ),
    gauge(
        "pimon_aggregator_store_memory_bytes",
        "bytes",
        "Approximate memory of the node store.",
        |s| Number::U64(s.memory_bytes as u64),
    ),
];

/// The aggregator's counters ([`AggregatorStats`]).
pub const STATS: &[Family<Read<AggregatorStats>>] = &[
    counter(
        "pimon_aggregator_datagrams_received_total",
        "UDP datagrams received (anything, valid or not).",
        |s| load(&s.datagrams_received),
    ),
    bytes_counter(
        "pimon_aggregator_received_bytes_total",
        "Bytes of those datagrams.",
        |s| load(&s.bytes_received),
    ),
    labelled(
        "pimon_aggregator_decode_errors_total",
        Kind::Counter,
        "",
        &["error"],
        "Datagrams that are not valid pimon data frames, by error: `too_short`, `too_long`, `bad_magic` (not pimon traffic), `unsupported_version` (a collector with a newer major version), `unknown_kind`, `unsupported_flags`, `bad_varint`, `bad_utf8`, `bad_node_name`, `node_name_control_char` (NUL, newline, escape … in the node name), `bad_resend_floor` (floor above the sequence number), `bad_group`, `bad_part`, `unexpected_ack`, `other` (PROTOCOL.md §10).",
        |s, emit| {
            for kind in DecodeErrorKind::ALL {
                emit(
                    &[("error", kind.label())],
                    Number::U64(s.decode_errors_of(kind)),
                )?;
            }
            Ok(())
        },
    ),
    labelled(
        "pimon_aggregator_auth_failures_total",
        Kind::Counter,
        "",
        &["reason"],
        "Frames dropped by authentication: `missing_mac` (the node needs a key, the frame has no MAC), `bad_mac`, `wrong_key_id` (a key id the node has no key for, or a MAC while no key file is configured).",
        |s, emit| {
            for reason in AuthFailure::ALL {
                emit(
                    &[("reason", reason.label())],
                    Number::U64(s.auth_failures_of(reason)),
                )?;
            }
            Ok(())
        },
    ),
    counter(
        "pimon_aggregator_replays_total",
        "Frames refused as replays, all nodes (see `pimon_node_frames_replayed_total`), and keyed frames of unknown nodes with a timestamp more than `max_skew_seconds` off.",
        |s| load(&s.replays),
    ),
    counter(
        "pimon_aggregator_frames_unconfirmed_total",
        "Frames held back, all nodes (see `pimon_node_frames_unconfirmed_total`).",
        |s| load(&s.frames_unconfirmed),
    ),
    counter(
        "pimon_aggregator_name_conflicts_total",
        "Second collectors detected, all nodes (see `pimon_node_name_conflicts_total`).",
        |s| load(&s.name_conflicts),
    ),
    counter(
        "pimon_aggregator_unknown_nodes_refused_total",
        "Frames refused because the node has no key (or is not listed, with `refuse_unknown_nodes`).",
        |s| load(&s.unknown_nodes_refused),
    ),
    labelled(
        "pimon_aggregator_limit_refusals_total",
        Kind::Counter,
        "",
        &["limit"],
        "`limit=\"nodes\"`: frames of new nodes refused at `max_nodes`; `limit=\"nodes_per_address\"`: frames of new nodes refused because the table is 90 % full and their address (IPv4, or IPv6 /64) already has `max_new_nodes_per_address` nodes not yet established; `limit=\"series\"`: samples of new series refused at `max_series_per_node` / `max_series_total`.",
        |s, emit| {
            emit(&[("limit", "nodes")], load(&s.nodes_refused_limit))?;
            emit(
                &[("limit", "nodes_per_address")],
                load(&s.nodes_refused_address),
            )?;
            emit(&[("limit", "series")], load(&s.series_refused_limit))
        },
    ),
    counter(
        "pimon_aggregator_unknown_samples_total",
        "Samples skipped because their metric id is newer than this aggregator (a newer collector; upgrade the aggregator).",
        |s| load(&s.unknown_samples),
    ),
    counter(
        "pimon_aggregator_clock_skewed_frames_total",
        "Frames stored with a time other than their own, all nodes.",
        |s| load(&s.clock_skewed_frames),
    ),
    counter(
        "pimon_aggregator_nodes_forgotten_total",
        "Nodes removed from memory after not being seen for long.",
        |s| load(&s.nodes_forgotten),
    ),
    counter(
        "pimon_aggregator_young_nodes_forgotten_total",
        "Of those, nodes not yet established (10 frames over 5 minutes) forgotten early, idle for their stale time, because the node table was 90 % full.",
        |s| load(&s.young_nodes_forgotten_pressure),
    ),
    counter(
        "pimon_aggregator_output_failures_total",
        "Batches of frames the outputs did not accept (spool error or full with `refuse_new`); not acked, so the collectors resend them.",
        |s| load(&s.output_failures),
    ),
    counter(
        "pimon_aggregator_acks_sent_total",
        "Acks sent to collectors, refusals included (protocol 1.2: the unauthenticated answer to a frame refused for its MAC, key id or node; they go through the same `reason=\"rate\"` limit as acks that confirm nothing new).",
        |s| load(&s.acks_sent),
    ),
    counter(
        "pimon_aggregator_self_lines_total",
        "Lines of the aggregator's own figures (`pimon_node`, `pimon_aggregator`, every 10 s; docs/INFLUXDB.md) taken into the spool of every InfluxDB output. The collectors' lines (`--lp-out` holds them) plus these are what the spools' written, dropped and pending lines add up to.",
        |s| load(&s.self_lines),
    ),
    counter(
        "pimon_aggregator_ack_send_errors_total",
        "Acks that could not be sent (the collector resends; the aggregator de-duplicates).",
        |s| load(&s.ack_send_errors),
    ),
    labelled(
        "pimon_aggregator_acks_limited_total",
        Kind::Counter,
        "",
        &["reason"],
        "`reason=\"size\"`: acks to unauthenticated senders shortened (gaps left out) or not sent, never larger than the datagram they answer; `reason=\"rate\"`: acks that confirm nothing new (to a duplicate or long-done frame) not sent, over 20 per second per destination.",
        |s, emit| {
            emit(&[("reason", "size")], load(&s.acks_limited_size))?;
            emit(&[("reason", "rate")], load(&s.acks_limited_rate))
        },
    ),
    counter(
        "pimon_aggregator_state_writes_total",
        "Node state saves that reached the disk: journal appends before acks, snapshots (OPERATIONS.md §6).",
        |s| load(&s.state_writes),
    ),
    counter(
        "pimon_aggregator_state_write_errors_total",
        "Node state saves that failed; a batch whose state could not be saved is not acked until a save succeeds.",
        |s| load(&s.state_write_errors),
    ),
    labelled(
        "pimon_aggregator_key_reloads_total",
        Kind::Counter,
        "",
        &["result"],
        "Key file reloads, `result=\"ok\"` or `\"error\"` (on error the previous keys stay in force).",
        |s, emit| {
            emit(&[("result", "ok")], load(&s.key_reloads))?;
            emit(&[("result", "error")], load(&s.key_reload_failures))
        },
    ),
    counter(
        "pimon_aggregator_scrapes_total",
        "`/metrics` requests served.",
        |s| load(&s.scrapes),
    ),
    gauge(
        "pimon_aggregator_render_duration_seconds",
        "seconds",
        "Time spent rendering the previous complete `/metrics` exposition: all its pieces (each under the store's lock) and the aggregator's figures; not the time spent waiting for the client or compressing.",
        |s| Number::F64(get(&s.last_render_micros) as f64 / 1e6),
    ),
];

/// The `/metrics` server's connections ([`HttpStats`]).
pub const HTTP: &[Family<Read<HttpStats>>] = &[
    gauge(
        "pimon_aggregator_http_connections",
        "",
        "HTTP connections open now (at most `[http] max_connections`).",
        |h| load(&h.connections),
    ),
    counter(
        "pimon_aggregator_http_connections_accepted_total",
        "HTTP connections accepted.",
        |h| load(&h.accepted),
    ),
    labelled(
        "pimon_aggregator_http_connections_closed_total",
        Kind::Counter,
        "",
        &["reason"],
        "HTTP connections the server closed: `head_timeout` (a request head not complete within `[http] timeout_seconds`, idle keep-alive time included), `write_timeout` (the client did not take a piece of the response within the timeout), `evicted_waiting` (all slots were taken: the connection that had waited longest for a request head made room for a new client), `evicted_answering` (all slots were answering: one answering for longer than the timeout made room). Steady growth of the last three means slow or hostile clients (OPERATIONS.md).",
        |h, emit| {
            for (reason, c) in [
                ("head_timeout", &h.head_timeouts),
                ("write_timeout", &h.write_timeouts),
                ("evicted_waiting", &h.evicted_waiting),
                ("evicted_answering", &h.evicted_answering),
            ] {
                emit(&[("reason", reason)], load(c))?;
            }
            Ok(())
        },
    ),
];

/// Each UDP listener's socket, rendered with the instance label `listen`.
pub const UDP: &[Family<Read<UdpFigures>>] = &[
    labelled(
        "pimon_aggregator_udp_receive_buffer_bytes",
        Kind::Gauge,
        "bytes",
        &["listen"],
        "`SO_RCVBUF` of each UDP listener as granted by the kernel (capped by `net.core.rmem_max`).",
        |u, emit| emit(&[], Number::U64(u.receive_buffer_bytes)),
    ),
    labelled(
        "pimon_aggregator_udp_kernel_drops_total",
        Kind::Counter,
        "",
        &["listen"],
        "Datagrams the kernel dropped for the listener because its receive buffer was full (the `drops` column of `/proc/net/udp`); only when readable.",
        |u, emit| match u.kernel_drops {
            Some(d) => emit(&[], Number::U64(d)),
            None => Ok(()),
        },
    ),
];

/// The `--lp-out` output ([`LpFileStats`]).
pub const LP_OUT: &[Family<Read<LpFileStats>>] = &[
    counter(
        "pimon_lp_out_lines_written_total",
        "Lines written to the `--lp-out` file (and synced per `lp_out_fsync`) or stdout.",
        |lp| load(&lp.lines_written),
    ),
    bytes_counter("pimon_lp_out_written_bytes_total", "Bytes written.", |lp| {
        load(&lp.bytes_written)
    }),
    counter(
        "pimon_lp_out_write_errors_total",
        "Failed writes. A file: the batch was refused for every output and not acked (the collectors resend; what got in is cut off). Stdout (best effort): those lines are lost for stdout, acks are not held back.",
        |lp| load(&lp.write_errors),
    ),
];

/// One InfluxDB output ([`InfluxStats`]), rendered with the instance label `output`.
pub const INFLUX: &[Family<Read<InfluxStats>>] = &[
    counter(
        "pimon_influx_batches_written_total",
        "Write requests InfluxDB accepted.",
        |s| load(&s.batches_written),
    ),
    counter(
        "pimon_influx_lines_written_total",
        "Lines InfluxDB accepted.",
        |s| load(&s.lines_written),
    ),
    bytes_counter(
        "pimon_influx_written_bytes_total",
        "Uncompressed bytes of accepted write requests.",
        |s| load(&s.bytes_written),
    ),
    bytes_counter(
        "pimon_influx_sent_bytes_total",
        "Bytes sent for accepted write requests (after gzip).",
        |s| load(&s.bytes_sent),
    ),
    counter(
        "pimon_influx_lines_dropped_bad_data_total",
        "Lines InfluxDB rejected as bad data (each logged in full, then dropped).",
        |s| load(&s.lines_dropped_bad_data),
    ),
    counter(
        "pimon_influx_retries_total",
        "Write retries after a backoff.",
        |s| load(&s.retries),
    ),
    gauge(
        "pimon_influx_last_write_ok",
        "",
        "1 when the last write attempt succeeded.",
        |s| load(&s.last_write_ok),
    ),
    gauge(
        "pimon_influx_last_success_timestamp_seconds",
        "seconds",
        "Unix time of the last successful write (0: none yet).",
        |s| load(&s.last_success_unix_seconds),
    ),
    counter(
        "pimon_influx_submits_total",
        "Batches of frame lines accepted into the spool.",
        |s| load(&s.submits),
    ),
    counter(
        "pimon_influx_submit_failures_total",
        "Batches the output could not accept (spool error, full disk, or full with `refuse_new`): not acked.",
        |s| load(&s.submit_failures),
    ),
    gauge(
        "pimon_influx_spool_bytes",
        "bytes",
        "Bytes of the output's on-disk spool.",
        |s| load(&s.spool.bytes),
    ),
    gauge(
        "pimon_influx_spool_pending_lines",
        "",
        "Lines in the spool not yet delivered.",
        |s| load(&s.spool.pending_lines),
    ),
    counter(
        "pimon_influx_spool_lines_dropped_full_total",
        "Undelivered lines deleted because the spool was full (`drop_oldest`). **Acknowledged data lost.**",
        |s| load(&s.spool.lines_dropped_full),
    ),
    counter(
        "pimon_influx_spool_appends_refused_full_total",
        "Appends refused because the spool was full (`refuse_new`), at `spool_max_bytes` or on a full disk; the collectors keep and resend.",
        |s| load(&s.spool.appends_refused_full),
    ),
    counter(
        "pimon_influx_spool_torn_truncations_total",
        "Spool segments truncated at start-up after their last valid record (a write cut short by a crash).",
        |s| load(&s.spool.torn_truncations),
    ),
    counter(
        "pimon_influx_spool_disk_full_total",
        "Appends that found the spool's disk full before `spool_max_bytes`; `when_full` applied (then counted as dropped or refused as well).",
        |s| load(&s.spool.disk_full),
    ),
    counter(
        "pimon_influx_spool_corrupt_skips_total",
        "Damaged spans of undelivered spool records skipped (disk damage); the valid records around them are delivered.",
        |s| load(&s.spool.corrupt_skips),
    ),
    counter(
        "pimon_influx_spool_lines_lost_corrupt_total",
        "Acknowledged lines lost in those damaged spans (exact when found while reading, estimated when found at start-up). **Acknowledged data lost.**",
        |s| load(&s.spool.lines_lost_corrupt),
    ),
    labelled(
        "pimon_influx_write_failures_total",
        Kind::Counter,
        "",
        &["class"],
        "Failed write attempts by class: `connect`, `timeout`, `server_error`, `throttled`, `unauthorized`, `not_found`, `bad_data`, `too_large`, `other` (INFLUXDB.md, \"Errors and retries\").",
        |s, emit| {
            for class in FailureClass::ALL {
                emit(&[("class", class.label())], Number::U64(s.failures(class)))?;
            }
            Ok(())
        },
    ),
    row(
        "pimon_influx_write_duration_seconds",
        Kind::Histogram,
        "seconds",
        &["le"],
        "Duration of successful write requests; buckets 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms, 500 ms, 1 s, 2.5 s, 10 s, `+Inf`.",
        Read::Histogram(&LATENCY_BUCKETS_SECONDS, |s| HistogramFigures {
            cumulative: s.latency.cumulative().to_vec(),
            sum: get(&s.latency.sum_micros) as f64 / 1e6,
            count: get(&s.latency.count),
        }),
    ),
];

/// A table of the reference: one row per family, as `docs/METRICS.md` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRow {
    /// Sample name.
    pub name: &'static str,
    /// Type.
    pub kind: Kind,
    /// Unit (empty: none).
    pub unit: &'static str,
    /// Labels, the instance's first when the table shows them.
    pub labels: Vec<&'static str>,
    /// Help (markdown).
    pub help: &'static str,
}

/// One generated table of `docs/METRICS.md`: the name of its markers
/// (`<!-- self-metrics:KEY:begin -->`), whether its label column lists only the labels
/// besides `output` ("extra labels"), and its rows.
#[derive(Debug, Clone)]
pub struct DocSection {
    /// Marker name.
    pub key: &'static str,
    /// The label column is "extra labels" (the instance label is said in the text).
    pub extra_labels: bool,
    /// The families, in exposition order.
    pub rows: Vec<DocRow>,
}

fn doc_rows<R>(instance: &[&'static str], table: &[Family<R>]) -> Vec<DocRow> {
    table
        .iter()
        .map(|f| DocRow {
            name: f.name,
            kind: f.kind,
            unit: f.unit,
            labels: instance.iter().chain(f.labels).copied().collect(),
            help: f.help,
        })
        .collect()
}

/// The reference's tables of the aggregator's own metrics, from the tables above,
/// [`crate::prom::NODE_FIGURES`], the inputs' ([`crate::ingress::stats::HELD`],
/// [`crate::ingress::stats::PUSH`], [`crate::ingress::stats::SCRAPE`],
/// [`crate::ingress::collectd::listener::COLLECTD`]) and
/// [`crate::remote_write::stats::REMOTE_WRITE`].
pub fn doc_sections() -> Vec<DocSection> {
    let mut aggregator = doc_rows(&[], BUILD);
    aggregator.extend(doc_rows(&[], STORE));
    aggregator.extend(doc_rows(&[], STATS));
    aggregator.extend(doc_rows(&[], HTTP));
    aggregator.extend(doc_rows(&[], UDP));
    let mut inputs = doc_rows(&[], crate::ingress::stats::HELD);
    inputs.extend(doc_rows(&[], crate::ingress::stats::PUSH));
    inputs.extend(doc_rows(&[], crate::ingress::stats::SCRAPE));
    inputs.extend(doc_rows(&[], crate::ingress::collectd::listener::COLLECTD));
    vec![
        DocSection {
            key: "node",
            extra_labels: false,
            rows: doc_rows(&["instance"], &crate::prom::NODE_FIGURES),
        },
        DocSection {
            key: "aggregator",
            extra_labels: false,
            rows: aggregator,
        },
        DocSection {
            key: "inputs",
            extra_labels: false,
            rows: inputs,
        },
        DocSection {
            key: "lp-out",
            extra_labels: false,
            rows: doc_rows(&[], LP_OUT),
        },
        DocSection {
            key: "influx",
            extra_labels: true,
            rows: doc_rows(&[], INFLUX),
        },
        DocSection {
            key: "remote-write",
            extra_labels: true,
            rows: doc_rows(&[], crate::remote_write::stats::REMOTE_WRITE),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lines_leave_out_the_markdown() {
        let mut out = String::new();
        write_help(
            &mut out,
            Format::OpenMetrics,
            "`limit=\"nodes\"`: refused. **Data lost.**",
        )
        .unwrap();
        assert_eq!(out, "limit=\\\"nodes\\\": refused. Data lost.");
    }

    #[test]
    fn a_family_without_samples_is_left_out_and_instance_labels_come_first() {
        let none = UdpFigures {
            listen: "0.0.0.0:9797".to_string(),
            receive_buffer_bytes: 212_992,
            kernel_drops: None,
        };
        let mut out = String::new();
        render_table(
            &mut out,
            Format::Text004,
            UDP,
            &[(&[("listen", none.listen.as_str())], &none)],
        )
        .unwrap();
        assert!(
            out.contains(
                "\npimon_aggregator_udp_receive_buffer_bytes{listen=\"0.0.0.0:9797\"} 212992\n"
            ),
            "{out}"
        );
        assert!(!out.contains("kernel_drops"), "{out}");
    }

    #[test]
    fn every_self_metric_name_is_unique_and_counters_end_in_total() {
        let mut seen = std::collections::BTreeSet::new();
        for section in doc_sections() {
            for row in section.rows {
                assert!(seen.insert(row.name), "{} twice", row.name);
                assert_eq!(
                    row.kind == Kind::Counter,
                    row.name.ends_with("_total"),
                    "{}",
                    row.name
                );
                assert!(!row.help.is_empty(), "{} has no help", row.name);
            }
        }
    }
}
