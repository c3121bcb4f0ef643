//! End to end with a real Prometheus (Debian's `prometheus`, started by the harness in
//! `pimon_test_support::servers`): it scrapes a running aggregator with `honor_labels: true` (and its
//! OpenMetrics `Accept` header); the query API shows every node's series with the
//! node's `instance` label and the converted values.

mod frames;
mod running;
use pimon_test_support as support;

use std::time::Duration;

use frames::Frame;
use pimon_aggregator::server::now_ms;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use running::{Running, client, local_config, send_for_ack};
use support::servers::Prometheus;

fn by_instance(result: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = result
        .iter()
        .map(|r| {
            (
                r["metric"]["instance"].as_str().unwrap_or("").to_string(),
                r["value"][1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn prometheus_scrapes_nodes_with_their_instance_labels() {
    let server = Running::start(local_config());
    let sock = client();
    let now = now_ms();
    send_for_ack(&sock, server.udp, &Frame::pi("pi-a").at(now).bytes());
    let b = Frame::pi("pi-b").at(now).group(
        &["0", "cpu-thermal"],
        &[(id::THERMAL_ZONE_TEMP, Value::Signed(45123))],
    );
    send_for_ack(&sock, server.udp, &b.bytes());

    let target = server.http.to_string();
    let prom = Prometheus::start(&[&target]);
    let wait = Duration::from_secs(20);

    let load = prom.query_until_nonempty("node_load1", wait);
    assert_eq!(
        by_instance(&load),
        [
            ("pi-a".to_string(), "0.25".to_string()),
            ("pi-b".to_string(), "0.25".to_string())
        ],
        "targets: {:?}",
        prom.targets()
    );
    // honor_labels kept our instance, and the job label is Prometheus' own.
    assert_eq!(load[0]["metric"]["job"], "pimon");

    let cpu = prom.query(r#"node_cpu_seconds_total{instance="pi-a",cpu="0",mode="user"}"#);
    assert_eq!(by_instance(&cpu), [("pi-a".to_string(), "1.5".to_string())]);
    let rx = prom.query(r#"node_network_receive_bytes_total{device="eth0"}"#);
    assert_eq!(by_instance(&rx).len(), 2);
    assert_eq!(rx[0]["value"][1], "1234");
    let temp = prom.query(r#"node_thermal_zone_temp{type="cpu-thermal"}"#);
    assert_eq!(
        by_instance(&temp),
        [("pi-b".to_string(), "45.123".to_string())]
    );
    let up = prom.query("pimon_node_up");
    assert_eq!(
        by_instance(&up),
        [
            ("pi-a".to_string(), "1".to_string()),
            ("pi-b".to_string(), "1".to_string())
        ]
    );

    let targets = prom.targets();
    assert!(
        targets
            .iter()
            .all(|(_, health, err)| health == "up" && err.is_empty()),
        "{targets:?}"
    );
    // The aggregator's own figures are scraped too (no instance label: Prometheus adds
    // the target address).
    let datagrams = prom.query("pimon_aggregator_datagrams_received_total");
    assert_eq!(datagrams.len(), 1);
    assert_eq!(datagrams[0]["metric"]["instance"], target.as_str());
}
