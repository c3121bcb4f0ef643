//! `[[scrape]]` against the real thing: a running aggregator scrapes a real
//! `prometheus-node-exporter` every second; its page comes out on `/metrics` with
//! `job`/`instance` and `up 1`, and in the line-protocol output in Telegraf's
//! `inputs.prometheus` schema, with node_exporter's values. A dead target is `up 0`
//! and counted; credentials go out as configured (checked on a recording server).

mod running;
use pimon_test_support as support;

use std::time::{Duration, Instant};

use pimon_aggregator::influx::{LpFileConfig, LpTarget};
use pimon_aggregator::ingress::config::ScrapeTarget;
use running::{Running, local_config};
use support::fake_http::{FakeHttpServer, response};
use support::http;
use support::peers::NodeExporter;

fn target(url: &str, job: &str) -> ScrapeTarget {
    ScrapeTarget {
        url: url.to_string(),
        job: job.to_string(),
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        labels: vec![("site".into(), "attic".into())],
        honor_labels: false,
        bearer_token: None,
        basic_auth: None,
        max_body_bytes: 16 << 20,
    }
}

fn metrics(pimon: &Running) -> String {
    http::get(&format!("http://{}", pimon.http), "/metrics").body_text()
}

fn wait_for(pimon: &Running, what: &str) -> String {
    let start = Instant::now();
    loop {
        let page = metrics(pimon);
        if page.contains(what) {
            return page;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} not on /metrics after 20 s:\n{page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn value_of(page: &str, series: &str) -> f64 {
    let line = page
        .lines()
        .find(|l| l.starts_with(series))
        .unwrap_or_else(|| panic!("{series} missing"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn scrapes_a_real_node_exporter_into_metrics_and_line_protocol() {
    let node = NodeExporter::start();
    let port = node.server.port;
    let dir = tempfile::tempdir().unwrap();
    let lp = dir.path().join("out.lp");
    let mut config = local_config();
    config.lp_out = Some(LpFileConfig::new(LpTarget::File(lp.clone())));
    config.ingress.scrape = vec![
        target(&format!("http://127.0.0.1:{port}/metrics"), "node"),
        target("http://127.0.0.1:9/metrics", "dead"),
    ];
    let pimon = Running::start(config);
    let instance = format!("instance=\"127.0.0.1:{port}\",job=\"node\",site=\"attic\"");
    // Targets start at a random point of their interval: wait for both.
    wait_for(
        &pimon,
        "up{instance=\"127.0.0.1:9\",job=\"dead\",site=\"attic\"} 0\n",
    );
    let page = wait_for(&pimon, &format!("up{{{instance}}} 1\n"));
    let theirs = String::from_utf8(node.page()).unwrap();
    let boot = theirs
        .lines()
        .find(|l| l.starts_with("node_boot_time_seconds "))
        .unwrap();
    let boot: f64 = boot.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        value_of(&page, &format!("node_boot_time_seconds{{{instance}}}")),
        boot
    );
    assert_eq!(
        page.matches("# TYPE node_boot_time_seconds gauge").count(),
        1
    );
    assert!(value_of(&page, &format!("scrape_samples_scraped{{{instance}}}")) > 100.0);
    assert!(
        page.contains("pimon_scrape_scrapes_total{result=\"failed\"} "),
        "{page}"
    );
    assert!(value_of(&page, "pimon_scrape_scrapes_total{result=\"ok\"}") >= 1.0);
    assert!(value_of(&page, "pimon_scrape_scrapes_total{result=\"failed\"}") >= 1.0);

    // Telegraf's inputs.prometheus schema in the line-protocol output.
    let start = Instant::now();
    let wanted = format!(
        "node_boot_time_seconds,instance=127.0.0.1:{port},job=node,site=attic gauge={boot} "
    );
    loop {
        let text = std::fs::read_to_string(&lp).unwrap_or_default();
        if text.contains(&wanted) {
            assert!(text.contains(&format!(
                "up,instance=127.0.0.1:{port},job=node,site=attic gauge=1 "
            )));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{wanted} not in {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    pimon.stop().unwrap();
}

#[test]
fn scrape_requests_carry_credentials_and_accept_headers() {
    let page = "# TYPE app_requests_total counter\napp_requests_total{instance=\"inner\"} 5\n";
    let server = FakeHttpServer::start(move |_| {
        response(200, &[("Content-Type", "text/plain; version=0.0.4")], page)
    });
    let mut bearer = target(&format!("{}/metrics", server.url), "bearer");
    bearer.bearer_token = Some("tok".into());
    let mut basic = target(&format!("{}/app/metrics", server.url), "basic");
    basic.basic_auth = Some("u:p".into());
    basic.honor_labels = true;
    let mut config = local_config();
    config.ingress.scrape = vec![bearer, basic];
    let pimon = Running::start(config);
    let addr = server.url.trim_start_matches("http://");
    wait_for(
        &pimon,
        "app_requests_total{instance=\"inner\",job=\"basic\"",
    );
    let page = wait_for(&pimon, "job=\"bearer\",site=\"attic\"} 5\n");
    assert!(
        page.contains(&format!(
            "app_requests_total{{exported_instance=\"inner\",instance=\"{addr}\",job=\"bearer\",site=\"attic\"}} 5\n"
        )),
        "{page}"
    );
    let requests = server.requests();
    let auth = |path: &str| {
        requests
            .iter()
            .find(|r| r.target == path)
            .and_then(|r| r.header("authorization").map(str::to_string))
    };
    assert_eq!(auth("/metrics").as_deref(), Some("Bearer tok"));
    assert_eq!(auth("/app/metrics").as_deref(), Some("Basic dTpw"));
    assert!(
        requests
            .iter()
            .all(|r| r.header("accept") == Some(pimon_aggregator::ingress::scrape::ACCEPT))
    );
    pimon.stop().unwrap();
}
