//! The InfluxDB output against a scripted fake server on 127.0.0.1:0: exact request
//! bytes, bad-line handling, retries, batching, shutdown.

use pimon_test_support as support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pimon_aggregator::influx::{
    FailureClass, InfluxApi, InfluxConfig, InfluxOutput, LineOutputs, LpFileConfig, LpFileOutput,
    LpTarget, RetryConfig,
};
use support::fake_http::{FakeHttpServer, response};

fn fast_retry() -> RetryConfig {
    RetryConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        jitter: 0.0,
    }
}

fn v1(url: &str, spool: &std::path::Path) -> InfluxConfig {
    let mut c = InfluxConfig::v1(url, "pimon", spool);
    c.retry = fast_retry();
    c.timeout = Duration::from_secs(5);
    c
}

fn lines(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .flat_map(|i| format!("cpu,host=n{i} usage_idle={i}i 1700000000000000000\n").into_bytes())
        .collect()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    smol::block_on(f)
}

#[test]
fn v1_request_bytes_are_exact_and_gzip_body_decodes_to_the_lines() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let data = lines(0..3);
    block_on(out.submit(&data)).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    let port = server.url.rsplit(':').next().unwrap();
    let expected_head = format!(
        "POST /write?db=pimon&precision=ns HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: pimon-aggregator/{}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        r.body.len()
    );
    assert_eq!(
        String::from_utf8_lossy(&r.raw[..r.raw.len() - r.body.len()]),
        expected_head
    );
    assert_eq!(r.decoded_body(), data);
    let stats = out.stats().snapshot();
    assert_eq!((stats.batches_written, stats.lines_written), (1, 3));
    assert_eq!(stats.spool_pending_lines, 0);
}

#[test]
fn v1_credentials_and_v2_token_requests() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let mut c = v1(&format!("{}/prefix/", server.url), spool.path());
    c.gzip = false;
    c.api = InfluxApi::V1 {
        db: "db one".into(),
        rp: Some("weekly".into()),
        user: Some("admin".into()),
        password: Some("s3cr&t".into()),
        basic_auth: false,
    };
    let out = InfluxOutput::open(c).unwrap();
    block_on(out.submit(&lines(0..1))).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    drop(out);

    let spool2 = tempfile::tempdir().unwrap();
    let mut c = InfluxConfig::v2(
        &server.url,
        "my org",
        "pimon/autogen",
        "T0KEN",
        spool2.path(),
    );
    c.gzip = false;
    c.precision = pimon_aggregator::influx::Precision::Seconds;
    let out = InfluxOutput::open(c).unwrap();
    block_on(out.submit(b"m v=1i 1700000000\n")).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].target,
        "/prefix/write?db=db%20one&rp=weekly&precision=ns&u=admin&p=s3cr%26t"
    );
    assert_eq!(reqs[0].header("content-encoding"), None);
    assert_eq!(reqs[0].body, lines(0..1));
    assert_eq!(
        reqs[1].target,
        "/api/v2/write?org=my%20org&bucket=pimon%2Fautogen&precision=s"
    );
    assert_eq!(reqs[1].header("authorization"), Some("Token T0KEN"));
    assert_eq!(reqs[1].body, b"m v=1i 1700000000\n");
}

/// A server that rejects lines containing `BAD` the way InfluxDB 1.x does (naming them)
/// and stores the rest.
fn influx1_like(stored: Arc<Mutex<Vec<String>>>) -> FakeHttpServer {
    FakeHttpServer::start(move |req| {
        let body = String::from_utf8(req.decoded_body()).unwrap();
        let bad: Vec<&str> = body.lines().filter(|l| l.contains("BAD")).collect();
        stored.lock().unwrap().extend(
            body.lines()
                .filter(|l| !l.contains("BAD"))
                .map(String::from),
        );
        if bad.is_empty() {
            response(204, &[], "")
        } else {
            let msg: Vec<String> = bad
                .iter()
                .map(|l| format!("unable to parse '{l}': invalid field format"))
                .collect();
            let json = serde_json::json!({ "error": format!("partial write: {} dropped=0", msg.join("\n")) });
            response(
                400,
                &[("Content-Type", "application/json")],
                &json.to_string(),
            )
        }
    })
}

#[test]
fn named_bad_line_is_dropped_counted_and_the_rest_resent_without_it() {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let server = influx1_like(Arc::clone(&stored));
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let mut data = lines(0..2);
    data.extend_from_slice(b"cpu,host=x usage_idle=BAD 1700000000000000000\n");
    data.extend_from_slice(&lines(2..4));
    block_on(out.submit(&data)).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        2,
        "one rejected request, one retry without the line"
    );
    assert_eq!(reqs[1].decoded_body(), [lines(0..2), lines(2..4)].concat());
    let s = out.stats();
    assert_eq!(s.lines_dropped_bad_data.load(Ordering::Relaxed), 1);
    assert_eq!(s.failures(FailureClass::BadData), 1);
    assert_eq!(s.lines_written.load(Ordering::Relaxed), 4);
}

#[test]
fn unidentifiable_bad_line_is_isolated_by_bounded_splitting() {
    // Rejects any batch containing BAD with a message naming nothing (like a type
    // conflict from a server that rejects the whole batch).
    let delivered = Arc::new(Mutex::new(Vec::<String>::new()));
    let d = Arc::clone(&delivered);
    let server = FakeHttpServer::start(move |req| {
        let body = String::from_utf8(req.decoded_body()).unwrap();
        if body.contains("BAD") {
            response(400, &[], r#"{"error":"field type conflict"}"#)
        } else {
            d.lock().unwrap().extend(body.lines().map(String::from));
            response(204, &[], "")
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let mut data = lines(0..20);
    data.extend_from_slice(b"cpu,host=x usage_idle=1i,BAD=1 1\n");
    data.extend_from_slice(&lines(20..43));
    block_on(out.submit(&data)).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(20))).unwrap());
    let n = 44;
    let requests = server.requests().len();
    assert!(requests < 2 * n, "{requests} requests for {n} lines");
    assert!(
        requests <= 2 * 6 + 1,
        "one bad line costs about 2·log2(n) requests, got {requests}"
    );
    let got = delivered.lock().unwrap().clone();
    let expected: Vec<String> = String::from_utf8([lines(0..20), lines(20..43)].concat())
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(got, expected, "good lines delivered once each, in order");
    assert_eq!(
        out.stats().lines_dropped_bad_data.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_batch_of_only_bad_lines_ends_without_looping() {
    let server = FakeHttpServer::start(|_| response(400, &[], r#"{"error":"bad timestamp"}"#));
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    block_on(out.submit(&lines(0..16))).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(20))).unwrap());
    assert_eq!(
        server.requests().len(),
        31,
        "2n-1 requests for n=16 bad lines"
    );
    assert_eq!(
        out.stats().lines_dropped_bad_data.load(Ordering::Relaxed),
        16
    );
}

#[test]
fn server_errors_and_missing_database_are_retried_with_backoff_until_healed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = FakeHttpServer::start(move |_| match c.fetch_add(1, Ordering::SeqCst) {
        0 => response(503, &[], "overloaded"),
        1 => response(429, &[], ""),
        2 => response(
            404,
            &[("X-Influxdb-Error", "database not found: \"pimon\"")],
            r#"{"error":"database not found: \"pimon\""}"#,
        ),
        3 => response(401, &[], r#"{"error":"authorization failed"}"#),
        _ => response(204, &[], ""),
    });
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let data = lines(0..5);
    block_on(out.submit(&data)).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 5);
    for r in &reqs {
        assert_eq!(
            r.decoded_body(),
            data,
            "the same batch is retried unchanged"
        );
    }
    let s = out.stats();
    for class in [
        FailureClass::ServerError,
        FailureClass::Throttled,
        FailureClass::NotFound,
        FailureClass::Unauthorized,
    ] {
        assert_eq!(s.failures(class), 1, "{class:?}");
    }
    assert_eq!(s.retries.load(Ordering::Relaxed), 4);
    assert_eq!(s.lines_dropped_bad_data.load(Ordering::Relaxed), 0);
    assert_eq!(s.lines_written.load(Ordering::Relaxed), 5);
}

#[test]
fn connection_refused_keeps_lines_spooled_and_flush_gives_up_at_its_deadline() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spool = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let out = InfluxOutput::open(v1(&url, spool.path())).unwrap();
    block_on(out.submit(&lines(0..7))).unwrap();
    let started = Instant::now();
    assert!(!block_on(out.flush(Duration::from_millis(300))).unwrap());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(out.pending_lines(), 7);
    assert!(out.stats().failures(FailureClass::Connect) >= 1);
    drop(out);
    // A new output on the same spool still has them and delivers them once InfluxDB is up.
    let server = FakeHttpServer::always_204();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    assert_eq!(out.pending_lines(), 7);
    assert!(block_on(out.flush(Duration::from_secs(10))).unwrap());
    assert_eq!(server.requests()[0].decoded_body(), lines(0..7));
}

#[test]
fn run_batches_by_line_count_and_flushes_on_shutdown() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let mut c = v1(&server.url, spool.path());
    c.batch_max_lines = 10;
    c.flush_interval = Duration::from_secs(3600);
    let out = InfluxOutput::open(c).unwrap();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let runner = {
        let out = out.clone();
        std::thread::spawn(move || block_on(out.run(stop_rx)))
    };
    for i in 0..25 {
        block_on(out.submit(&lines(i..i + 1))).unwrap();
    }
    // Two full batches go out without waiting for the (one hour) flush interval.
    let start = Instant::now();
    while server.requests().len() < 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.requests().len(), 2);
    drop(stop_tx);
    runner.join().unwrap().unwrap();
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        3,
        "the remaining 5 lines are flushed at shutdown"
    );
    let all: Vec<u8> = reqs.iter().flat_map(|r| r.decoded_body()).collect();
    assert_eq!(all, lines(0..25));
    assert_eq!(
        reqs.iter()
            .map(|r| r.decoded_body().iter().filter(|&&b| b == b'\n').count())
            .collect::<Vec<_>>(),
        vec![10, 10, 5]
    );
}

#[test]
fn run_flushes_on_the_interval_and_shutdown_is_bounded_when_influx_is_down() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let mut c = v1(&server.url, spool.path());
    c.flush_interval = Duration::from_millis(100);
    let out = InfluxOutput::open(c).unwrap();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let runner = {
        let out = out.clone();
        std::thread::spawn(move || block_on(out.run(stop_rx)))
    };
    block_on(out.submit(&lines(0..3))).unwrap();
    let start = Instant::now();
    while server.requests().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.requests().len(), 1, "sent within the flush interval");
    drop(stop_tx);
    runner.join().unwrap().unwrap();

    // Now with InfluxDB down: shutdown returns within shutdown_timeout, lines stay spooled.
    let port = support::servers::free_port();
    let spool = tempfile::tempdir().unwrap();
    let mut c = v1(&format!("http://127.0.0.1:{port}"), spool.path());
    c.shutdown_timeout = Duration::from_millis(500);
    c.retry.initial = Duration::from_secs(30);
    c.retry.max = Duration::from_secs(30);
    let out = InfluxOutput::open(c).unwrap();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let runner = {
        let out = out.clone();
        std::thread::spawn(move || block_on(out.run(stop_rx)))
    };
    block_on(out.submit(&lines(0..4))).unwrap();
    std::thread::sleep(Duration::from_millis(1500)); // first attempt fails, 30 s backoff
    let stopping = Instant::now();
    drop(stop_tx);
    runner.join().unwrap().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        stopping.elapsed()
    );
    assert_eq!(out.pending_lines(), 4);
}

#[test]
fn invalid_input_is_refused_not_stored() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    assert!(block_on(out.submit(b"no newline")).is_err());
    block_on(out.submit(b"")).unwrap();
    assert_eq!(out.pending_lines(), 0);
    assert!(InfluxOutput::open(InfluxConfig::v1("https://x:1", "db", spool.path())).is_err());
    let err = InfluxOutput::open(InfluxConfig::v1("http://x:1", "", spool.path())).unwrap_err();
    assert!(err.to_string().contains("db"), "{err}");
}

#[test]
fn lp_file_output_appends_plain_lines_and_line_outputs_fan_out() {
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.lp");
    std::fs::write(&path, b"existing\n").unwrap();
    let lp = LpFileOutput::open(LpFileConfig::new(LpTarget::File(path.clone()))).unwrap();
    let influx = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let outputs = LineOutputs::new(vec![influx.clone()], Some(lp));
    block_on(outputs.submit(&lines(0..2))).unwrap();
    block_on(outputs.submit(&lines(2..3))).unwrap();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    drop(stop_tx);
    block_on(outputs.run(stop_rx)).unwrap();
    let mut expected = b"existing\n".to_vec();
    expected.extend(lines(0..3));
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    let sent: HashSet<Vec<u8>> = server.requests().iter().map(|r| r.decoded_body()).collect();
    assert_eq!(sent.into_iter().flatten().count(), lines(0..3).len());
    assert_eq!(
        outputs
            .lp()
            .unwrap()
            .stats()
            .lines_written
            .load(Ordering::Relaxed),
        3
    );
}

#[test]
fn lp_out_to_a_device_is_best_effort_and_never_holds_back_acknowledgement() {
    // /dev/full is no regular file: written like stdout, best effort. (A regular file
    // that cannot be written refuses the batch: outputs_disk_full.rs.)
    let server = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let mut lp_config = LpFileConfig::new(LpTarget::File("/dev/full".into()));
    lp_config.batch_max_bytes = 1; // write on every submit
    let lp = LpFileOutput::open(lp_config).unwrap();
    assert!(!lp.is_durable());
    let influx = InfluxOutput::open(v1(&server.url, spool.path())).unwrap();
    let outputs = LineOutputs::new(vec![influx.clone()], Some(lp));
    block_on(outputs.submit(&lines(0..2))).unwrap();
    assert_eq!(
        outputs
            .lp()
            .unwrap()
            .stats()
            .write_errors
            .load(Ordering::Relaxed),
        1
    );
    assert_eq!(
        influx.pending_lines(),
        2,
        "the durable output still has the lines"
    );
    assert!(block_on(outputs.submit(b"no newline")).is_err());
}
