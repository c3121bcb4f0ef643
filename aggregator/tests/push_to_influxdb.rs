//! Pushes through the durable outputs: a push reaches a real InfluxDB 1.x (Debian's
//! `influxdb`) in Telegraf's `inputs.prometheus` schema, and a push is answered 200
//! only when every output took its lines — while the spool refuses (full, InfluxDB
//! down, `when_full = "refuse_new"`) the answer is 503 and the group stays as it was.

mod running;
use pimon_test_support as support;

use std::time::Duration;

use pimon_aggregator::influx::InfluxConfig;
use pimon_aggregator::spool::{FsyncPolicy, SpoolFullPolicy};
use running::{Running, local_config, wait_until};
use support::http;
use support::servers::Influxd;

fn push(base: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let r = http::request(base, method, path, &[], body).unwrap();
    (r.status, r.body_text())
}

#[test]
fn pushes_reach_influxdb_in_telegrafs_prometheus_schema() {
    let influx = Influxd::start();
    influx.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let mut config = local_config();
    let mut out = InfluxConfig::v1(influx.url(), "pimon", spool.path());
    out.flush_interval = Duration::from_millis(100);
    config.influx.push(out);
    config.ingress.push.enabled = true;
    let pimon = Running::start(config);
    let base = format!("http://{}", pimon.http);
    let body = b"# TYPE jobs_done_total counter\njobs_done_total{queue=\"a b\"} 42\n\
        # TYPE temp gauge\ntemp 21.5\nplain 7\n\
        # TYPE lat histogram\nlat_bucket{le=\"0.1\"} 3\nlat_bucket{le=\"+Inf\"} 5\nlat_sum 1.25\nlat_count 5\n\
        # TYPE sz summary\nsz{quantile=\"0.5\"} 9\nsz_sum 30\nsz_count 4\n";
    assert_eq!(
        push(&base, "PUT", "/metrics/job/batch/instance/edge1", body),
        (200, String::new())
    );

    let q = |query: &str| influx.rows("pimon", query);
    let mut rows = Vec::new();
    let arrived = wait_until(Duration::from_secs(20), || {
        rows = q(
            "SELECT counter FROM jobs_done_total WHERE job = 'batch' AND instance = 'edge1' AND queue = 'a b'",
        );
        !rows.is_empty()
    });
    assert!(arrived, "no pushed rows in InfluxDB");
    assert_eq!(rows[0][1], 42.0);
    assert_eq!(q("SELECT gauge FROM temp WHERE job = 'batch'")[0][1], 21.5);
    assert_eq!(q("SELECT value FROM plain WHERE job = 'batch'")[0][1], 7.0);
    let h = q("SELECT \"0.1\", \"+Inf\", \"count\", \"sum\" FROM lat WHERE job = 'batch'");
    assert_eq!(h[0][1..], [3.0, 5.0, 5.0, 1.25]);
    let s = q("SELECT \"0.5\", \"count\", \"sum\" FROM sz WHERE job = 'batch'");
    assert_eq!(s[0][1..], [9.0, 4.0, 30.0]);
    pimon.stop().unwrap();
}

#[test]
fn a_push_is_answered_503_while_the_outputs_refuse_and_the_group_stays() {
    let spool = tempfile::tempdir().unwrap();
    let mut config = local_config();
    // InfluxDB is down (nothing on port 9) and the spool refuses once full.
    let mut out = InfluxConfig::v1("http://127.0.0.1:9", "pimon", spool.path());
    out.spool.max_bytes = 1 << 20;
    out.spool.when_full = SpoolFullPolicy::RefuseNew;
    out.spool.fsync = FsyncPolicy::Never;
    config.influx.push(out);
    config.ingress.push.enabled = true;
    let pimon = Running::start(config);
    let base = format!("http://{}", pimon.http);

    let page: String = (0..2000).map(|i| format!("filler_{i} {i}\n")).collect();
    let mut accepted = 0;
    let refused = loop {
        let body = format!("{page}marker {accepted}\n");
        let (status, text) = push(&base, "PUT", "/metrics/job/fill", body.as_bytes());
        match status {
            200 => accepted += 1,
            503 => break text,
            other => panic!("{other}: {text}"),
        }
        assert!(accepted < 200, "the spool never filled");
    };
    assert!(accepted > 0);
    assert!(
        refused.starts_with("the outputs did not accept the push"),
        "{refused}"
    );
    let metrics = http::get(&base, "/metrics").body_text();
    assert!(
        metrics.contains(&format!(
            "marker{{instance=\"\",job=\"fill\"}} {}\n",
            accepted - 1
        )),
        "the group holds the last accepted push"
    );
    assert!(
        metrics.contains("pimon_push_requests_total{result=\"outputs_refused\"} 1\n"),
        "{metrics}"
    );
    pimon.stop().unwrap();
}
