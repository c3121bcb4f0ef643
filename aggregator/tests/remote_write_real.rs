//! Remote write against the real receivers from Debian's packages: `victoria-metrics`
//! (`/api/v1/write`) and `prometheus --web.enable-remote-write-receiver`. A running
//! aggregator receives frames over UDP and acknowledges them; every sample of every
//! acknowledged frame is then read back through the receiver's query API, by count,
//! with its value, its frame's timestamp, node_exporter's name and labels and the
//! external labels — across an outage of the receiver in the middle (stopped, frames
//! acknowledged meanwhile from the spool, receiver started again on its data).

mod frames;
mod running;
use pimon_test_support as support;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use frames::Frame;
use pimon_aggregator::influx::RetryConfig;
use pimon_aggregator::remote_write::RemoteWriteConfig;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use running::{Running, client, local_config, metrics, send_for_ack};
use support::servers::{Prometheus, VictoriaMetrics};

/// Samples in each test frame: load1, memory total, CPU 0 user and system.
const SAMPLES_PER_FRAME: u64 = 4;
/// Frames before the outage, and during it.
const BEFORE: u64 = 15;
const DURING: u64 = 15;
const ARRIVAL: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn aggregator(url: &str, spool: &std::path::Path) -> Running {
    let mut rw = RemoteWriteConfig::new(url, spool);
    rw.name = "receiver".into();
    rw.external_labels = vec![("site".into(), "lab".into())];
    rw.flush_interval = Duration::from_millis(100);
    // Small requests and several shards: the batches are split the way a big fleet's are.
    rw.max_samples_per_send = 7;
    rw.shards = 3;
    rw.retry = RetryConfig {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
        jitter: 0.0,
    };
    let mut c = local_config();
    c.remote_write = vec![rw];
    Running::start(c)
}

/// The frame with sequence number `seq` of `node`, stamped one second apart from `t0`.
fn frame(node: &str, seq: u64, t0: u64) -> Vec<u8> {
    Frame::new(node)
        .seq(seq)
        .at(t0 + seq * 1000)
        .group(
            &[],
            &[
                (id::LOAD1, Value::Unsigned(seq)),
                (id::MEM_MEMTOTAL, Value::Unsigned(1000 + seq)),
            ],
        )
        .group(
            &["0"],
            &[
                (id::CPU_SECONDS_USER, Value::Unsigned(100 * seq)),
                (id::CPU_SECONDS_SYSTEM, Value::Unsigned(50 * seq)),
            ],
        )
        .bytes()
}

/// Sends frames `seqs` and checks each is acknowledged (stored in every output's spool).
fn send_acked(udp: SocketAddr, node: &str, seqs: std::ops::Range<u64>, t0: u64) {
    let sock = client();
    for seq in seqs {
        let ack = send_for_ack(&sock, udp, &frame(node, seq, t0));
        let ack = pimon_protocol::Ack::parse(&ack).expect("an ack");
        assert_eq!(ack.acked_below, seq + 1, "frame {seq} acknowledged");
    }
}

/// The value of a one-series instant query, if it has exactly one series.
fn scalar(result: &[serde_json::Value]) -> Option<f64> {
    match result {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Polls `query` until it gives `want` or [`ARRIVAL`] passes; returns the last value.
fn wait_for(query: &dyn Fn() -> Option<f64>, want: f64) -> Option<f64> {
    let start = Instant::now();
    loop {
        let got = query();
        if got == Some(want) || start.elapsed() > ARRIVAL {
            return got;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What both receivers must hold for `node` after `frames` frames from `t0`: counted
/// with `count_over_time`, then every raw sample read back (`{…}[1h]`) with its
/// series' labels, its value and its frame's timestamp.
fn check_everything_arrived(
    query: &dyn Fn(&str) -> Vec<serde_json::Value>,
    node: &str,
    frames: u64,
    t0: u64,
    what: &str,
) {
    let sel = format!("instance=\"{node}\",site=\"lab\"");
    let want = (frames * SAMPLES_PER_FRAME) as f64;
    let count = |name: &str| {
        scalar(&query(&format!(
            "sum(count_over_time({name}{{{sel}}}[1h]))"
        )))
    };
    let arrived = wait_for(&|| count("node_memory_MemTotal_bytes"), frames as f64);
    let total: f64 = [
        arrived,
        count("node_load1"),
        count("node_cpu_seconds_total"),
    ]
    .iter()
    .map(|c| c.unwrap_or(0.0))
    .sum();
    assert_eq!(
        total, want,
        "{what}: every sample of the {frames} acknowledged frames, none twice"
    );
    let series = query(&format!("{{{sel}}}[1h]"));
    assert_eq!(series.len(), 4, "{what}: four series: {series:?}");
    for s in &series {
        let m = &s["metric"];
        let name = m["__name__"].as_str().unwrap_or_default();
        let mode = m["mode"].as_str().unwrap_or_default();
        let value_of = |seq: u64| -> f64 {
            match (name, mode) {
                ("node_load1", _) => seq as f64 / 100.0,
                ("node_memory_MemTotal_bytes", _) => ((1000 + seq) * 1024) as f64,
                ("node_cpu_seconds_total", "user") => seq as f64,
                ("node_cpu_seconds_total", "system") => seq as f64 / 2.0,
                _ => panic!("{what}: unexpected series {m}"),
            }
        };
        if name == "node_cpu_seconds_total" {
            assert_eq!(m["cpu"], "0", "{what}: {m}");
        }
        let samples: Vec<(u64, f64)> = s["values"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no raw samples in {s}"))
            .iter()
            .map(|v| {
                let ts = v[0].as_f64().expect("timestamp");
                let value: f64 = v[1].as_str().expect("value").parse().expect("number");
                ((ts * 1000.0).round() as u64, value)
            })
            .collect();
        let expected: Vec<(u64, f64)> = (0..frames)
            .map(|seq| (t0 + seq * 1000, value_of(seq)))
            .collect();
        assert_eq!(
            samples, expected,
            "{what}: {name}{{mode={mode:?}}}: each frame's value at the frame's timestamp"
        );
    }
}

fn spool_figure(http: SocketAddr, name: &str) -> f64 {
    let text = metrics(http);
    let prefix = format!("{name}{{output=\"receiver\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

#[test]
fn victoria_metrics_receives_every_acknowledged_sample_across_its_outage() {
    let mut vm = VictoriaMetrics::start();
    let spool = tempfile::tempdir().unwrap();
    let agg = aggregator(&format!("{}/api/v1/write", vm.url()), spool.path());
    let node = "rw-vm";
    let t0 = now_ms() - 60_000;
    send_acked(agg.udp, node, 0..BEFORE, t0);
    let query = |q: &str| vm.query(q);
    check_everything_arrived(&query, node, BEFORE, t0, "before the outage");

    vm.server.terminate();
    send_acked(agg.udp, node, BEFORE..BEFORE + DURING, t0);
    assert!(
        running::wait_until(Duration::from_secs(10), || {
            spool_figure(agg.http, "pimon_remote_write_spool_pending_samples")
                == (DURING * SAMPLES_PER_FRAME) as f64
        }),
        "the samples acknowledged during the outage wait in the spool"
    );
    vm.restart();
    let query = |q: &str| vm.query(q);
    check_everything_arrived(&query, node, BEFORE + DURING, t0, "after the outage");
    assert_eq!(
        spool_figure(agg.http, "pimon_remote_write_spool_pending_samples"),
        0.0
    );
    let text = metrics(agg.http);
    assert!(
        text.contains("pimon_remote_write_samples_written_total{output=\"receiver\"} 120\n"),
        "{text}"
    );
    agg.stop().unwrap();
}

#[test]
fn prometheus_receives_every_acknowledged_sample_across_its_outage() {
    let mut prom = Prometheus::start_receiver();
    let spool = tempfile::tempdir().unwrap();
    let agg = aggregator(&format!("{}/api/v1/write", prom.url()), spool.path());
    let node = "rw-prometheus";
    let t0 = now_ms() - 60_000;
    send_acked(agg.udp, node, 0..BEFORE, t0);
    let query = |q: &str| prom.query(q);
    check_everything_arrived(&query, node, BEFORE, t0, "before the outage");

    prom.server.terminate();
    send_acked(agg.udp, node, BEFORE..BEFORE + DURING, t0);
    assert!(
        running::wait_until(Duration::from_secs(10), || {
            spool_figure(agg.http, "pimon_remote_write_spool_pending_samples")
                == (DURING * SAMPLES_PER_FRAME) as f64
        }),
        "the samples acknowledged during the outage wait in the spool"
    );
    prom.restart();
    let query = |q: &str| prom.query(q);
    check_everything_arrived(&query, node, BEFORE + DURING, t0, "after the outage");
    agg.stop().unwrap();
}
