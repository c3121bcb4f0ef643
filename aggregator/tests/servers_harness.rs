//! Self-tests of the real-server harness (`pimon_test_support::servers`): each Debian-packaged server starts on 127.0.0.1, answers, and is gone
//! after its handle drops; a missing binary is reported with the package to install.

use pimon_test_support as support;

use std::net::TcpStream;
use std::time::Duration;

use support::fake_http::{FakeHttpServer, response};
use support::servers::{Influxd, Prometheus, VictoriaMetrics, find_binary, promtool_check_metrics};

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

#[test]
fn missing_binary_names_the_package() {
    let err = find_binary("pimon-no-such-server", "pimon-no-such-package").unwrap_err();
    assert!(
        err.contains("apt-get install -y pimon-no-such-package"),
        "{err}"
    );
}

#[test]
fn influxd_starts_answers_and_is_killed_on_drop() {
    let influxd = Influxd::start();
    let port = influxd.server.port;
    assert!(influxd.url().starts_with("http://127.0.0.1:"));
    influxd.create_database("harness");
    let v = influxd.query("harness", "SHOW DATABASES");
    assert!(v.to_string().contains("harness"), "{v}");
    drop(influxd);
    assert!(!port_open(port), "influxd still listening after drop");
}

#[test]
fn prometheus_scrapes_a_target_with_honor_labels() {
    let exposition = "# HELP demo_value A demo.\n# TYPE demo_value gauge\ndemo_value{instance=\"pi-1\",job=\"custom\"} 42\n";
    let target = FakeHttpServer::start(move |_| {
        response(
            200,
            &[("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            exposition,
        )
    });
    let target_addr = target.url.trim_start_matches("http://").to_string();
    let prom = Prometheus::start(&[&target_addr]);
    let result = prom.query_until_nonempty("demo_value", Duration::from_secs(30));
    assert_eq!(result.len(), 1, "targets: {:?}", prom.targets());
    // honor_labels keeps the exposed instance/job instead of the scrape's own.
    assert_eq!(result[0]["metric"]["instance"], "pi-1");
    assert_eq!(result[0]["metric"]["job"], "custom");
    assert_eq!(result[0]["value"][1], "42");
    let req = &target.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/metrics");
}

#[test]
fn promtool_accepts_good_and_rejects_bad_expositions() {
    promtool_check_metrics(b"# HELP up_total Things.\n# TYPE up_total counter\nup_total 1\n")
        .unwrap();
    let err = promtool_check_metrics(b"# TYPE x gauge\nx{a=\"1\" 1\n").unwrap_err();
    assert!(!err.is_empty());
}

#[test]
fn victoria_metrics_starts_and_serves_queries() {
    let vm = VictoriaMetrics::start();
    let r = support::http::post(vm.url(), "/write", &[], b"harness,host=a v=1.5\n");
    assert_eq!(r.status, 204, "{}", r.body_text());
    let mut found = Vec::new();
    for _ in 0..40 {
        found = vm.query("harness_v");
        if !found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["value"][1], "1.5");
}
