//! `/metrics` exposition: exact bytes for a small fixture store, an independent strict
//! parser as oracle (`pimon_test_support::exposition`: `prometheus-parse` is not one, it
//! splits label values at `,` and `=`, see the README), `promtool check metrics` on the
//! real exposition, OpenMetrics, staleness.

mod frames;

use std::sync::Arc;

use frames::{Frame, T0};
use pimon_aggregator::ingest::{Ingest, IngestConfig};
use pimon_aggregator::prom::{self, Sources, UdpFigures};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::id;
use pimon_protocol::text::prometheus::Format;
use pimon_protocol::{MAX_DATAGRAM, Value};
use pimon_test_support::exposition;

fn ingest_frames(frames: &[(Vec<u8>, u64)]) -> Ingest {
    let stats = Arc::new(AggregatorStats::default());
    let store = Store::new(Limits::default(), Staleness::default(), T0);
    let mut ing = Ingest::new(store, None, IngestConfig::default(), stats);
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
    for (f, now) in frames {
        ing.ingest(
            f,
            "10.0.0.5:4000".parse().unwrap(),
            *now,
            &mut lines,
            &mut ack,
        );
    }
    ing
}

fn nodes_only(ing: &Ingest, now: u64, format: Format) -> String {
    let mut out = String::new();
    prom::render_nodes(&mut out, format, &ing.store, now);
    out
}

fn fixture() -> Ingest {
    ingest_frames(&[
        (Frame::pi("pi-b").bytes(), T0),
        (
            Frame::pi("pi-a")
                .group(&["1"], &[(id::CPU_SECONDS_USER, Value::Unsigned(7))])
                .group(
                    &["0", "cpu-thermal"],
                    &[(id::THERMAL_ZONE_TEMP, Value::Signed(45123))],
                )
                .bytes(),
            T0 + 1500,
        ),
    ])
}

const FIXTURE_TEXT: &str = include_str!("prom_fixture.txt");

#[test]
fn exact_exposition_of_a_small_store() {
    let text = nodes_only(&fixture(), T0 + 2000, Format::Text004);
    if std::env::var_os("PIMON_WRITE_FIXTURE").is_some() {
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/prom_fixture.txt"),
            &text,
        )
        .unwrap();
    }
    assert_eq!(text, FIXTURE_TEXT);
}

/// The structure rules of `pimon_test_support::exposition::check_structure` (one
/// `# TYPE` per family, families not interleaved, every name+labelset unique).
fn check_structure(text: &str) {
    if let Err(e) = exposition::check_structure(text) {
        panic!("{e}\n--- exposition ---\n{text}");
    }
}

#[test]
fn fixture_passes_the_strict_parser_and_structure_rules() {
    let text = nodes_only(&fixture(), T0 + 2000, Format::Text004);
    check_structure(&text);
    let samples = exposition::parse_prometheus(&text).unwrap();
    let temp = samples
        .iter()
        .find(|s| s.name == "node_thermal_zone_temp")
        .unwrap();
    assert_eq!(temp.value, 45.123);
    assert_eq!(temp.label("instance"), Some("pi-a"));
}

/// Label values a user can put in a node name or device: `,`, `=`, `"`, `\`, `}`, newline.
fn tricky_store() -> Ingest {
    ingest_frames(&[(
        Frame::new("a,b=c\"d\\e}")
            .group(
                &["eth0,x=\"y\"\n"],
                &[(id::NET_RECEIVE_BYTES, Value::Unsigned(1))],
            )
            .bytes(),
        T0,
    )])
}

#[test]
fn tricky_label_values_round_trip_through_the_strict_parser() {
    let text = nodes_only(&tricky_store(), T0, Format::Text004);
    let samples = exposition::parse_prometheus(&text).unwrap();
    let s = samples
        .iter()
        .find(|s| s.name == "node_network_receive_bytes_total")
        .unwrap();
    assert_eq!(s.labels.len(), 2, "{:?}", s.labels);
    assert_eq!(s.label("device"), Some("eth0,x=\"y\"\n"));
    assert_eq!(s.label("instance"), Some("a,b=c\"d\\e}"));
    check_structure(&text);
}

fn full_exposition(format: Format) -> String {
    let ing = fixture();
    let stats = AggregatorStats::default();
    stats.decode_error(pimon_protocol::Error::DecodeBadMagic);
    let udp = [UdpFigures {
        listen: "0.0.0.0:9797".into(),
        receive_buffer_bytes: 8 << 20,
        kernel_drops: Some(3),
    }];
    let influx_stats = pimon_aggregator::influx::InfluxStats::default();
    influx_stats
        .latency
        .observe(std::time::Duration::from_millis(7));
    let influx = [("influx".to_string(), &influx_stats)];
    let lp = pimon_aggregator::influx::LpFileStats::default();
    let http = pimon_aggregator::http::HttpStats::default();
    let remote = pimon_aggregator::remote_write::RemoteWriteStats::default();
    let remote_write = [("vm".to_string(), &remote)];
    let sources = Sources {
        stats: Some(&stats),
        http: Some(&http),
        udp: &udp,
        influx: &influx,
        lp: Some(&lp),
        remote_write: &remote_write,
        build: Some(("0.1.0", "abc")),
        ingress: None,
    };
    let mut out = String::new();
    prom::render(&mut out, format, &ing.store, T0 + 2000, &sources);
    out
}

#[test]
#[cfg(feature = "real-servers")]
fn promtool_check_metrics_is_clean() {
    let text = full_exposition(Format::Text004);
    check_structure(&text);
    if let Err(problems) = pimon_test_support::servers::promtool_check_metrics(text.as_bytes()) {
        panic!("promtool check metrics:\n{problems}\n--- exposition ---\n{text}");
    }
    let tricky = nodes_only(&tricky_store(), T0, Format::Text004);
    pimon_test_support::servers::promtool_check_metrics(tricky.as_bytes()).unwrap();
}

#[test]
fn openmetrics_has_counter_families_without_total_and_ends_with_eof() {
    let text = full_exposition(Format::OpenMetrics);
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# TYPE node_cpu_seconds counter\n"), "{text}");
    assert!(
        text.contains("\nnode_cpu_seconds_total{instance=\"pi-a\",cpu=\"0\",mode=\"user\"} 1.5\n")
    );
    assert!(text.contains("# UNIT node_cpu_seconds seconds\n"));
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn stale_series_vanish_but_node_up_and_last_seen_stay() {
    let ing = fixture();
    let later = T0 + 31_000 + 2000; // past max(3 × 10 s, 30 s) for both nodes
    let text = nodes_only(&ing, later, Format::Text004);
    assert!(!text.contains("node_cpu_seconds_total"), "{text}");
    assert!(text.contains("pimon_node_up{instance=\"pi-a\"} 0\n"));
    assert!(
        text.contains("pimon_node_last_seen_timestamp_seconds{instance=\"pi-a\"} 1700000001.5\n")
    );
    let fresh = nodes_only(&ing, T0 + 2000, Format::Text004);
    assert!(fresh.contains("pimon_node_up{instance=\"pi-a\"} 1\n"));
}
