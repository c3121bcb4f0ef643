//! The remote write output against a scripted fake receiver on 127.0.0.1:0: the
//! headers and body the specification requires (snappy block format, protobuf, sorted
//! labels, `__name__`, external labels), its retry rules (5xx and 429 retried with
//! backoff, other 4xx never), 413 splitting, batching by size and age, and shards that
//! keep each series in order.

use pimon_test_support as support;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pimon_aggregator::influx::{FailureClass, LineOutputs, RetryConfig};
use pimon_aggregator::remote_write::proto::{self, WriteRequest};
use pimon_aggregator::remote_write::stats::DropReason;
use pimon_aggregator::remote_write::{RemoteWriteConfig, RemoteWriteOutput};
use support::fake_http::{FakeHttpServer, RecordedRequest, response};

fn config(url: &str, spool: &std::path::Path) -> RemoteWriteConfig {
    let mut c = RemoteWriteConfig::new(&format!("{url}/api/v1/write"), spool);
    c.retry = RetryConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: 0.0,
    };
    c.timeout = Duration::from_secs(5);
    c
}

/// `n` sample lines of node `node`, one series per `i % series`, timestamps rising.
fn samples(node: &str, n: usize, series: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            format!(
                "node_load1{{instance=\"{node}\",x=\"{}\"}} {i} {}\n",
                i % series,
                1_700_000_000_000u64 + i as u64
            )
            .into_bytes()
        })
        .collect()
}

fn decode(r: &RecordedRequest) -> WriteRequest {
    proto::decode(&r.body, 64 << 20).expect("a snappy-compressed WriteRequest")
}

fn sample_count(r: &WriteRequest) -> usize {
    r.timeseries.iter().map(|t| t.samples.len()).sum()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    smol::block_on(f)
}

fn hand_over(output: RemoteWriteOutput, samples: &[u8]) -> LineOutputs {
    let outputs = LineOutputs::new(Vec::new(), None).with_remote_write(vec![output]);
    block_on(outputs.submit_rendered(b"", samples)).expect("spooled");
    outputs
}

#[test]
fn request_has_the_specified_headers_and_a_snappy_protobuf_body_with_sorted_labels() {
    let server = FakeHttpServer::start(|_| response(204, &[], ""));
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(&server.url, spool.path());
    c.external_labels = vec![
        ("region".into(), "eu".into()),
        ("site".into(), "home".into()),
    ];
    c.headers = vec![("X-Scope-OrgID".into(), "fleet".into())];
    c.bearer_token = Some("s3cret".into());
    let out = RemoteWriteOutput::open(c).unwrap();
    let outputs = hand_over(
        out.clone(),
        b"node_cpu_seconds_total{instance=\"pi\",cpu=\"0\",mode=\"user\"} 1.5 1700000000000\n",
    );
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/api/v1/write")
    );
    for (name, value) in [
        ("Content-Encoding", "snappy"),
        ("Content-Type", "application/x-protobuf"),
        ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ("X-Scope-OrgID", "fleet"),
        ("Authorization", "Bearer s3cret"),
    ] {
        assert_eq!(r.header(name), Some(value), "{name}");
    }
    assert!(
        r.header("User-Agent")
            .is_some_and(|ua| ua.starts_with("pimon-aggregator/")),
        "{:?}",
        r.header("User-Agent")
    );
    let w = decode(r);
    assert_eq!(w.timeseries.len(), 1);
    let labels: Vec<(&str, &str)> = w.timeseries[0]
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__", "node_cpu_seconds_total"),
            ("cpu", "0"),
            ("instance", "pi"),
            ("mode", "user"),
            ("region", "eu"),
            ("site", "home"),
        ]
    );
    let s = &w.timeseries[0].samples[0];
    assert_eq!((s.value, s.timestamp), (1.5, 1_700_000_000_000));
    assert_eq!(
        out.stats()
            .samples_written
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(outputs);
}

#[test]
fn server_errors_and_429_are_retried_with_backoff_until_written_once() {
    let answers = Arc::new(Mutex::new(vec![503u16, 429, 500]));
    let a = answers.clone();
    let server = FakeHttpServer::start(move |_| {
        let status = a.lock().unwrap().pop().unwrap_or(200);
        response(status, &[], if status == 200 { "" } else { "try later" })
    });
    let spool = tempfile::tempdir().unwrap();
    let out = RemoteWriteOutput::open(config(&server.url, spool.path())).unwrap();
    let _outputs = hand_over(out.clone(), &samples("pi", 10, 3));
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        4,
        "three failures, then the same request succeeds"
    );
    let bodies: HashSet<&Vec<u8>> = reqs.iter().map(|r| &r.body).collect();
    assert_eq!(bodies.len(), 1, "a retry sends the same request");
    assert_eq!(sample_count(&decode(&reqs[3])), 10);
    let st = out.stats();
    let load =
        |a: &pimon_aggregator::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(st.failure(FailureClass::ServerError)), 2);
    assert_eq!(load(st.failure(FailureClass::Throttled)), 1);
    assert_eq!(load(&st.retries), 3);
    assert_eq!(load(&st.samples_written), 10);
    assert_eq!(out.pending_samples(), 0);
}

#[test]
fn a_4xx_answer_is_never_retried_its_samples_dropped_and_counted() {
    let server = FakeHttpServer::start(|r| {
        // The request holding sample value 0 is bad; the next one is fine.
        let w = decode(r);
        let bad = w
            .timeseries
            .iter()
            .any(|t| t.samples.iter().any(|s| s.value == 0.0));
        if bad {
            response(400, &[], "out of order sample")
        } else {
            response(204, &[], "")
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(&server.url, spool.path());
    c.max_samples_per_send = 5;
    c.shards = 1;
    let out = RemoteWriteOutput::open(c).unwrap();
    let _outputs = hand_over(out.clone(), &samples("pi", 10, 1));
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        2,
        "one refused request, not retried; one written"
    );
    let st = out.stats();
    let load =
        |a: &pimon_aggregator::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(st.dropped(DropReason::Rejected)), 5);
    assert_eq!(load(&st.samples_written), 5);
    assert_eq!(load(&st.retries), 0);
    assert_eq!(load(st.failure(FailureClass::BadData)), 1);
}

#[test]
fn a_413_answer_splits_the_request_down_to_what_fits() {
    let server = FakeHttpServer::start(|r| {
        if sample_count(&decode(r)) > 3 {
            response(413, &[], "too big")
        } else {
            response(204, &[], "")
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(&server.url, spool.path());
    c.shards = 1;
    let out = RemoteWriteOutput::open(c).unwrap();
    let _outputs = hand_over(out.clone(), &samples("pi", 12, 12));
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let written: usize = server
        .requests()
        .iter()
        .map(decode)
        .filter(|w| sample_count(w) <= 3)
        .map(|w| sample_count(&w))
        .sum();
    assert_eq!(written, 12, "every sample written once after the splits");
    let load =
        |a: &pimon_aggregator::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(out.stats().dropped(DropReason::Rejected)), 0);
}

#[test]
fn a_refused_connection_is_retried_and_the_spool_delivers_once_the_receiver_is_up() {
    // A port with nothing listening, then a receiver on it.
    let port = support::servers::free_port();
    let spool = tempfile::tempdir().unwrap();
    let out =
        RemoteWriteOutput::open(config(&format!("http://127.0.0.1:{port}"), spool.path())).unwrap();
    let _outputs = hand_over(out.clone(), &samples("pi", 4, 2));
    assert!(!block_on(out.flush(Duration::from_millis(300))).unwrap());
    assert_eq!(out.pending_samples(), 4, "kept in the spool");
    let load =
        |a: &pimon_aggregator::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert!(load(out.stats().failure(FailureClass::Connect)) >= 1);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the port");
    let received = Arc::new(Mutex::new(0usize));
    let r = received.clone();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap();
            all.extend_from_slice(&buf[..n]);
            if let Some(h) = all.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&all[..h]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap();
                if all.len() >= h + 4 + len {
                    let w = proto::decode(&all[h + 4..h + 4 + len], 1 << 20).unwrap();
                    *r.lock().unwrap() = sample_count(&w);
                    conn.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
                    return;
                }
            }
        }
    });
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    server.join().unwrap();
    assert_eq!(*received.lock().unwrap(), 4);
}

#[test]
fn a_batch_split_into_shards_keeps_every_series_in_timestamp_order() {
    let server = FakeHttpServer::start(move |_| response(204, &[], ""));
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(&server.url, spool.path());
    c.max_samples_per_send = 10;
    c.shards = 4;
    let out = RemoteWriteOutput::open(c).unwrap();
    // 400 samples of 20 series: four shards of ten requests each.
    let _outputs = hand_over(out.clone(), &samples("pi", 400, 20));
    assert!(block_on(out.flush(Duration::from_secs(20))).unwrap());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 40, "400 samples, 10 per request");
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen = 0;
    for r in &reqs {
        let w = decode(r);
        assert!(sample_count(&w) <= 10);
        for t in &w.timeseries {
            let key = format!("{:?}", t.labels);
            for s in &t.samples {
                let prev = last.insert(key.clone(), s.timestamp);
                assert!(
                    prev.is_none_or(|p| p < s.timestamp),
                    "series {key} went back in time: {prev:?} then {}",
                    s.timestamp
                );
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 400);
    assert_eq!(last.len(), 20);
}

#[test]
fn a_partial_batch_is_sent_after_the_flush_interval_a_full_one_at_once() {
    let server = FakeHttpServer::start(|_| response(204, &[], ""));
    let spool = tempfile::tempdir().unwrap();
    let mut c = config(&server.url, spool.path());
    c.max_samples_per_send = 50;
    c.flush_interval = Duration::from_millis(700);
    let out = RemoteWriteOutput::open(c).unwrap();
    let outputs = Arc::new(LineOutputs::new(Vec::new(), None).with_remote_write(vec![out.clone()]));
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let runner = {
        let outputs = outputs.clone();
        std::thread::spawn(move || block_on(outputs.run(stop_rx)))
    };
    let wait_for = |n: usize, within: Duration| {
        let start = Instant::now();
        while server.requests().len() < n && start.elapsed() < within {
            std::thread::sleep(Duration::from_millis(10));
        }
        start.elapsed()
    };
    // A full request's worth goes at once (size).
    let started = Instant::now();
    block_on(outputs.submit_rendered(b"", &samples("a", 50, 5))).unwrap();
    wait_for(1, Duration::from_secs(5));
    let full_after = started.elapsed();
    assert_eq!(server.requests().len(), 1);
    // A few samples wait for the flush interval (age).
    let started = Instant::now();
    block_on(outputs.submit_rendered(b"", &samples("b", 3, 3))).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.requests().len(), 1, "3 samples do not go at once");
    wait_for(2, Duration::from_secs(5));
    let partial_after = started.elapsed();
    assert_eq!(server.requests().len(), 2);
    assert!(
        full_after < Duration::from_millis(500),
        "a full batch took {full_after:?}"
    );
    assert!(
        partial_after >= Duration::from_millis(400),
        "a partial batch went after {partial_after:?}, before the flush interval"
    );
    drop(stop_tx);
    runner.join().unwrap().unwrap();
}
