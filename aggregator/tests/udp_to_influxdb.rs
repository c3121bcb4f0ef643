//! The whole path to a real InfluxDB 1.x (Debian's `influxdb`, via `pimon_test_support::servers`):
//! frames over UDP → aggregator → durable spool → `POST /write` → queried back with
//! `/query`. The ack comes back once the lines are in the spool.

mod frames;
mod running;
use pimon_test_support as support;

use std::time::Duration;

use frames::{Frame, ack_bytes};
use pimon_aggregator::influx::InfluxConfig;
use pimon_aggregator::server::now_ms;
use running::{Running, client, local_config, send_for_ack, wait_until};
use support::servers::Influxd;

#[test]
fn frames_reach_influxdb_with_telegraf_names() {
    let influx = Influxd::start();
    influx.create_database("pimon");
    let spool = tempfile::tempdir().unwrap();
    let mut config = local_config();
    let mut out = InfluxConfig::v1(influx.url(), "pimon", spool.path());
    out.flush_interval = Duration::from_millis(100);
    config.influx.push(out);
    let server = Running::start(config);

    let sock = client();
    let ts = now_ms() / 1000 * 1000;
    let ack = send_for_ack(&sock, server.udp, &Frame::pi("pi-7").at(ts).bytes());
    assert_eq!(ack, ack_bytes("pi-7", 7, 1, 1, &[], None));

    let q = "SELECT time_user, time_system FROM cpu WHERE host = 'pi-7' AND cpu = 'cpu0'";
    let mut rows = Vec::new();
    let arrived = wait_until(Duration::from_secs(20), || {
        rows = influx.rows("pimon", q);
        !rows.is_empty()
    });
    assert!(arrived, "no cpu rows in InfluxDB");
    assert_eq!(rows[0][1], 1.5);
    assert_eq!(rows[0][2], 0.5);
    let rx = influx.rows(
        "pimon",
        "SELECT bytes_recv FROM net WHERE host = 'pi-7' AND interface = 'eth0'",
    );
    assert_eq!(rx[0][1], 1234);
    let load = influx.rows("pimon", "SELECT load1 FROM system WHERE host = 'pi-7'");
    assert_eq!(load[0][1], 0.25);
    server.stop().unwrap();
}
