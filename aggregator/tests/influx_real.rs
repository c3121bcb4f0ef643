//! The InfluxDB output against the real servers from Debian's packages: influxd 1.x (`influxdb`) and
//! VictoriaMetrics (`victoria-metrics`, for the `/write` and `/api/v2/write` APIs).
//! A server that cannot start fails the test with the reason (see `support::servers`).

use pimon_test_support as support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pimon_aggregator::influx::{InfluxConfig, InfluxOutput, RetryConfig};
use pimon_aggregator::spool::FsyncPolicy;
use serde_json::{Value, json};
use support::servers::{Influxd, VictoriaMetrics, free_port};

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    smol::block_on(f)
}

fn quick(mut c: InfluxConfig) -> InfluxConfig {
    c.retry = RetryConfig {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(250),
        jitter: 0.2,
    };
    c.timeout = Duration::from_secs(10);
    c.flush_interval = Duration::from_millis(100);
    c
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// Escaping per element, every field type, exact values back from `/query`.
#[test]
fn influxd_v1_write_then_query_returns_exact_values() {
    let influxd = Influxd::start();
    influxd.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(quick(InfluxConfig::v1(
        influxd.url(),
        "pimon",
        spool.path(),
    )))
    .unwrap();
    let t = 1_700_000_000_123_456_789u64;
    let frame = format!(
        "cpu,cpu=cpu-total,host=pi\\ one usage_idle=97.25,usage_user=0.1 {t}\n\
         disk,host=pi\\ one,path=/mnt/a\\,b\\=c free=123456789012i,inodes_free=42i {t}\n\
         system,host=pi\\ one uptime=3600i,n_users=0i,load1=0.0001 {t}\n\
         weird\\,meas\\ urement,host=pi\\ one note=\"say \\\"hi\\\" \\\\ bye\",ok=true {t}\n"
    );
    block_on(out.submit(frame.as_bytes())).unwrap();
    assert!(
        block_on(out.flush(Duration::from_secs(30))).unwrap(),
        "delivered"
    );
    assert_eq!(out.stats().lines_written.load(Ordering::Relaxed), 4);

    let cpu = influxd.rows(
        "pimon",
        "SELECT time, cpu, host, usage_idle, usage_user FROM cpu",
    );
    assert_eq!(
        cpu,
        vec![vec![
            json!(t),
            json!("cpu-total"),
            json!("pi one"),
            json!(97.25),
            json!(0.1)
        ]]
    );
    let disk = influxd.rows("pimon", "SELECT host, path, free, inodes_free FROM disk");
    assert_eq!(
        disk,
        vec![vec![
            json!(t),
            json!("pi one"),
            json!("/mnt/a,b=c"),
            json!(123456789012u64),
            json!(42)
        ]]
    );
    let system = influxd.rows("pimon", "SELECT uptime, n_users, load1 FROM system");
    assert_eq!(
        system,
        vec![vec![json!(t), json!(3600), json!(0), json!(0.0001)]]
    );
    let weird = influxd.rows(
        "pimon",
        r#"SELECT host, note, ok FROM "weird,meas urement""#,
    );
    assert_eq!(
        weird,
        vec![vec![
            json!(t),
            json!("pi one"),
            json!(r#"say "hi" \ bye"#),
            json!(true)
        ]]
    );
    // Integers stay integers in InfluxDB's schema.
    let types = influxd.rows("pimon", "SHOW FIELD KEYS FROM disk");
    assert!(
        types.contains(&vec![json!("free"), json!("integer")]),
        "{types:?}"
    );
}

/// influxd rejects one unparsable line: it is dropped and counted, the rest lands.
/// A field type conflict names no line: the rest is stored, the point counted.
#[test]
fn influxd_bad_line_is_dropped_and_counted_while_good_lines_land() {
    let influxd = Influxd::start();
    influxd.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let out = InfluxOutput::open(quick(InfluxConfig::v1(
        influxd.url(),
        "pimon",
        spool.path(),
    )))
    .unwrap();
    let batch = "m,host=a v=1i 1000000000\n\
                 m,host=bad v= 1000000000\n\
                 m,host=b v=2i 1000000000\n\
                 m,host=c v=3i 1000000000\n";
    block_on(out.submit(batch.as_bytes())).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(30))).unwrap());
    let s = out.stats();
    assert_eq!(s.lines_dropped_bad_data.load(Ordering::Relaxed), 1);
    let rows = influxd.rows("pimon", "SELECT host, v FROM m");
    assert_eq!(
        rows,
        vec![
            vec![json!(1_000_000_000u64), json!("a"), json!(1)],
            vec![json!(1_000_000_000u64), json!("b"), json!(2)],
            vec![json!(1_000_000_000u64), json!("c"), json!(3)],
        ]
    );

    // Type conflict: v is an integer in this shard; a float names no line.
    let batch = "m,host=d v=4.5 1000000000\nm,host=e v=5i 1000000000\n";
    block_on(out.submit(batch.as_bytes())).unwrap();
    assert!(block_on(out.flush(Duration::from_secs(30))).unwrap());
    assert_eq!(s.lines_dropped_bad_data.load(Ordering::Relaxed), 2);
    let hosts: Vec<Value> = influxd
        .rows("pimon", "SELECT host, v FROM m")
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(hosts, vec![json!("a"), json!("b"), json!("c"), json!("e")]);
}

/// InfluxDB down → lines spool; it starts (without the database: 404s, retried);
/// the database is created → everything is replayed in order.
#[test]
fn influxd_down_then_up_replays_the_spool_in_order() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let spool = tempfile::tempdir().unwrap();
    let mut config = quick(InfluxConfig::v1(&url, "pimon", spool.path()));
    config.batch_max_lines = 7; // several batches and segments to replay
    config.spool.segment_bytes = Some(512);
    let out = InfluxOutput::open(config).unwrap();
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let runner = {
        let out = out.clone();
        thread::spawn(move || block_on(out.run(stop_rx)))
    };
    let t0 = 1_600_000_000_000_000_000u64;
    // 40 distinct points, then 20 overwrites of one point: the survivor tells the order.
    for i in 0..40u64 {
        let line = format!("replay,host=n seq={i}i {}\n", t0 + i * 1_000_000_000);
        block_on(out.submit(line.as_bytes())).unwrap();
    }
    for k in 0..20u64 {
        let line = format!("order,host=n last={k}i {t0}\n");
        block_on(out.submit(line.as_bytes())).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(10), || out
            .stats()
            .failures(pimon_aggregator::influx::FailureClass::Connect)
            > 0),
        "writes fail while InfluxDB is down"
    );
    assert_eq!(out.pending_lines(), 60, "everything is in the spool");
    assert!(out.stats().spool.bytes.load(Ordering::Relaxed) > 60 * 30);

    let influxd = Influxd::start_on(port);
    assert!(
        wait_until(Duration::from_secs(20), || out
            .stats()
            .failures(pimon_aggregator::influx::FailureClass::NotFound)
            > 0),
        "database missing: 404, retried"
    );
    assert_eq!(out.pending_lines(), 60, "nothing dropped on 404");
    influxd.create_database("pimon");
    assert!(
        wait_until(Duration::from_secs(30), || out.pending_lines() == 0),
        "replayed"
    );
    drop(stop_tx);
    runner.join().unwrap().unwrap();

    let rows = influxd.rows("pimon", "SELECT seq FROM replay");
    let seqs: Vec<Value> = rows.iter().map(|r| r[1].clone()).collect();
    assert_eq!(seqs, (0..40).map(|i| json!(i)).collect::<Vec<_>>());
    let last = influxd.rows("pimon", "SELECT last FROM \"order\"");
    assert_eq!(
        last,
        vec![vec![json!(t0), json!(19)]],
        "replayed in submission order"
    );
    assert_eq!(
        out.stats().lines_dropped_bad_data.load(Ordering::Relaxed),
        0
    );
    assert_eq!(
        out.stats()
            .spool
            .records_dropped_full
            .load(Ordering::Relaxed),
        0
    );
}

/// Child side of the kill -9 test: runs only when the parent sets the env vars.
#[test]
fn kill9_child_process() {
    let (Ok(spool_dir), Ok(url)) = (
        std::env::var("PIMON_KILL9_SPOOL"),
        std::env::var("PIMON_KILL9_URL"),
    ) else {
        return;
    };
    let mut config = quick(InfluxConfig::v1(&url, "pimon", spool_dir));
    config.spool.fsync = FsyncPolicy::Interval(Duration::from_secs(3600)); // page cache only
    let out = InfluxOutput::open(config).unwrap();
    let stdout = std::io::stdout();
    for i in 0u64.. {
        let line = format!(
            "acked,host=child seq={i}i {}\n",
            1_600_000_000_000_000_000 + i
        );
        block_on(out.submit(line.as_bytes())).unwrap();
        let mut lock = stdout.lock();
        writeln!(lock, "ACKED {i}").unwrap();
        lock.flush().unwrap();
        thread::sleep(Duration::from_millis(2));
    }
}

/// kill -9 of a process that had acknowledged lines (submit returned Ok, fsync policy
/// `interval` so only the page cache holds them): a new output on the same spool
/// delivers every acknowledged line.
#[test]
fn kill9_loses_nothing_acknowledged() {
    let influxd = Influxd::start();
    influxd.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill9_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PIMON_KILL9_SPOOL", spool.path())
        .env("PIMON_KILL9_URL", &dead_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut last_acked = None;
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if let Some(n) = line.trim().strip_prefix("ACKED ") {
            last_acked = Some(n.parse::<u64>().unwrap());
            if last_acked >= Some(300) {
                break;
            }
        }
        line.clear();
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    let last_acked = last_acked.expect("child acknowledged lines");

    let out = InfluxOutput::open(quick(InfluxConfig::v1(
        influxd.url(),
        "pimon",
        spool.path(),
    )))
    .unwrap();
    assert!(
        out.pending_lines() > last_acked,
        "every acked line is in the spool"
    );
    assert!(block_on(out.flush(Duration::from_secs(60))).unwrap());
    let rows = influxd.rows("pimon", "SELECT seq FROM acked");
    let seqs: Vec<u64> = rows.iter().map(|r| r[1].as_u64().unwrap()).collect();
    assert!(seqs.len() as u64 > last_acked);
    assert_eq!(
        seqs[..=last_acked as usize],
        (0..=last_acked).collect::<Vec<_>>()[..]
    );
}

/// A record torn by a crash mid-write is truncated at open; all complete records land.
#[test]
fn torn_spool_record_is_truncated_and_the_rest_delivered() {
    let influxd = Influxd::start();
    influxd.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let dead_url = format!("http://127.0.0.1:{}", free_port());
    {
        let out =
            InfluxOutput::open(quick(InfluxConfig::v1(&dead_url, "pimon", spool.path()))).unwrap();
        for i in 0..5u64 {
            block_on(
                out.submit(format!("torn,host=a seq={i}i {}\n", 1_000_000_000 + i).as_bytes()),
            )
            .unwrap();
        }
    }
    let segment = std::fs::read_dir(spool.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    f.write_all(&[40, 0, 0, 0, 1, 2, 3, 4]).unwrap();
    f.write_all(b"torn,host=a seq=5").unwrap(); // cut mid-record
    drop(f);

    let out = InfluxOutput::open(quick(InfluxConfig::v1(
        influxd.url(),
        "pimon",
        spool.path(),
    )))
    .unwrap();
    assert_eq!(
        out.stats().spool.torn_truncations.load(Ordering::Relaxed),
        1
    );
    assert_eq!(out.pending_lines(), 5);
    assert!(block_on(out.flush(Duration::from_secs(30))).unwrap());
    let seqs: Vec<Value> = influxd
        .rows("pimon", "SELECT seq FROM torn")
        .iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(seqs, (0..5).map(|i| json!(i)).collect::<Vec<_>>());
}

/// VictoriaMetrics takes the same lines on its InfluxDB 1.x `/write` and on the 2.x
/// `/api/v2/write` API (org, bucket, token) — the InfluxDB 2.x API check.
#[test]
fn victoria_metrics_accepts_v1_write_and_v2_api_write() {
    let vm = VictoriaMetrics::start();
    let t = now_ns() / 1_000_000 * 1_000_000; // whole milliseconds, VM's resolution
    let spool1 = tempfile::tempdir().unwrap();
    let v1 = InfluxOutput::open(quick(InfluxConfig::v1(vm.url(), "pimon", spool1.path()))).unwrap();
    let spool2 = tempfile::tempdir().unwrap();
    let mut c2 = quick(InfluxConfig::v2(
        vm.url(),
        "pimon-org",
        "pimon-bucket",
        "secret-token",
        spool2.path(),
    ));
    c2.precision = pimon_aggregator::influx::Precision::Milliseconds;
    let v2 = InfluxOutput::open(c2).unwrap();

    let v1_lines = format!("viaone,host=pi\\ 1,cpu=cpu0 usage_idle=97.5,ctx=12345i {t}\n");
    block_on(v1.submit(v1_lines.as_bytes())).unwrap();
    assert!(block_on(v1.flush(Duration::from_secs(30))).unwrap());
    let t_ms = t / 1_000_000;
    let v2_lines = format!("viatwo,host=pi\\ 2 mem_free=2048i,temp=48.25 {t_ms}\n");
    block_on(v2.submit(v2_lines.as_bytes())).unwrap();
    assert!(block_on(v2.flush(Duration::from_secs(30))).unwrap());

    let mut found = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            found = vm.export(r#"{__name__=~"viaone_.*|viatwo_.*"}"#);
            found.len() == 4
        }),
        "4 series expected, got {found:?}"
    );
    let mut series: Vec<(String, String, Value, Value)> = found
        .iter()
        .map(|s| {
            (
                s["metric"]["__name__"].as_str().unwrap().to_string(),
                s["metric"]["host"].as_str().unwrap().to_string(),
                s["values"][0].clone(),
                s["timestamps"][0].clone(),
            )
        })
        .collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        series,
        vec![
            (
                "viaone_ctx".into(),
                "pi 1".into(),
                json!(12345),
                json!(t_ms)
            ),
            (
                "viaone_usage_idle".into(),
                "pi 1".into(),
                json!(97.5),
                json!(t_ms)
            ),
            (
                "viatwo_mem_free".into(),
                "pi 2".into(),
                json!(2048),
                json!(t_ms)
            ),
            (
                "viatwo_temp".into(),
                "pi 2".into(),
                json!(48.25),
                json!(t_ms)
            ),
        ]
    );
    assert!(found.iter().any(|s| s["metric"]["cpu"] == "cpu0"));
}
