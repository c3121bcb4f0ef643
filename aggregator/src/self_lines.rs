//! The aggregator's own figures as line protocol, for InfluxDB dashboards.
//!
//! Prometheus scrapes `pimon_node_*` and `pimon_aggregator_*` from `/metrics`; an
//! InfluxDB user has no scraper, so the fleet dashboard's health panels (nodes down,
//! seconds since a node's last frame, frames missing, the aggregator row) would have
//! nothing to show. Every [`EVERY`] the aggregator writes the same figures to its
//! InfluxDB outputs (not to `--lp-out`, which holds the collectors' lines only), as
//! Telegraf's `internal` plugin does for Telegraf:
//!
//! ```text
//! pimon_node,host=pi4 up=1i,down=0i,seconds_since_last_frame=1.2,frames_received=120i,frames_missing=0i,boot_id_changes=0i TS
//! pimon_aggregator datagrams_received=130i,acks_sent=120i,auth_failures=0i,decode_errors=0i,replays=0i,unknown_nodes_refused=0i,nodes=1i,series=300i TS
//! ```

use std::sync::atomic::Ordering;
use std::time::Duration;

use pimon_protocol::text::influx::{FieldValue, Precision, Tag, write_line};

use crate::stats::AggregatorStats;
use crate::store::Snapshot;

/// How often the figures are written.
pub const EVERY: Duration = Duration::from_secs(10);

/// The measurement of the per-node lines.
pub const NODE_MEASUREMENT: &str = "pimon_node";
/// The measurement of the aggregator's line.
pub const AGGREGATOR_MEASUREMENT: &str = "pimon_aggregator";
/// Every measurement these lines use (the dashboards' generator checks its queries
/// against them).
pub const MEASUREMENTS: [&str; 2] = [NODE_MEASUREMENT, AGGREGATOR_MEASUREMENT];

fn int(v: u64) -> FieldValue<'static> {
    FieldValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

/// Appends one `pimon_node` line per node and one `pimon_aggregator` line, stamped
/// `snap.now_ms`.
pub fn render(
    out: &mut String,
    snap: &Snapshot,
    stats: &AggregatorStats,
    precision: Precision,
) -> std::fmt::Result {
    let ts = Some(i64::try_from(snap.now_ms).unwrap_or(i64::MAX));
    for node in &snap.nodes {
        let since_ms = snap.now_ms.saturating_sub(node.last_seen_ms);
        write_line(
            out,
            NODE_MEASUREMENT,
            &[Tag::new("host", snap.name(node))],
            [
                ("up", int(u64::from(node.up))),
                ("down", int(u64::from(!node.up))),
                (
                    "seconds_since_last_frame",
                    FieldValue::Float(since_ms as f64 / 1000.0),
                ),
                ("frames_received", int(node.counters.received)),
                ("frames_missing", int(node.counters.missing)),
                ("boot_id_changes", int(node.counters.boot_id_changes)),
            ],
            ts,
            precision,
        )?;
    }
    let load = |a: &crate::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let sum = |a: &[crate::atomic::AtomicU64]| a.iter().map(load).sum::<u64>();
    write_line(
        out,
        AGGREGATOR_MEASUREMENT,
        &[],
        [
            ("datagrams_received", int(load(&stats.datagrams_received))),
            ("acks_sent", int(load(&stats.acks_sent))),
            ("auth_failures", int(sum(&stats.auth_failures))),
            ("decode_errors", int(sum(&stats.decode_errors))),
            ("replays", int(load(&stats.replays))),
            (
                "unknown_nodes_refused",
                int(load(&stats.unknown_nodes_refused)),
            ),
            ("nodes", int(snap.nodes.len() as u64)),
            ("series", int(snap.series_total as u64)),
        ],
        ts,
        precision,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aggregator_line_carries_its_counters_at_the_snapshot_time() {
        let stats = AggregatorStats::default();
        stats.datagrams_received.store(130, Ordering::Relaxed);
        stats.replays.store(2, Ordering::Relaxed);
        let mut snap = Snapshot::default();
        snap.now_ms = 1_700_000_000_000;
        let mut out = String::new();
        render(&mut out, &snap, &stats, Precision::Seconds).unwrap();
        assert_eq!(
            out,
            "pimon_aggregator datagrams_received=130i,acks_sent=0i,auth_failures=0i,decode_errors=0i,replays=2i,unknown_nodes_refused=0i,nodes=0i,series=0i 1700000000\n"
        );
    }
}
