//! Two aggregators, no single point of failure, end to end with the real binaries: two
//! `pimon-aggregator`s write the same real `influxd` (line protocol) and the same real
//! `victoria-metrics` (remote write, `-dedup.minScrapeInterval=1ms` as the HA recipe in
//! docs/INSTALL.md says); three host collectors list both
//! (`--aggregator A,B`) and send every 250 ms. Under that load the first aggregator is
//! killed with SIGKILL: the collectors fail over to the second (logged once each) and
//! resend what the first had not acknowledged; the first is started again on its spool
//! (it delivers what it had acknowledged before dying) and the collectors fail back.
//!
//! Then every point is counted in both stores by query: each collector's cycles are
//! there exactly once — none missing, none doubled (a frame stored by both aggregators
//! is the same point: same series, same timestamp).

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::fixture;
use pimon_e2e::pimon::free_udp_port;
use pimon_e2e::process::Proc;
use pimon_e2e::support::servers::{Influxd, VictoriaMetrics};
use pimon_e2e::support::{http, servers::free_port};
use pimon_e2e::tree::copy_tree;

const CYCLES: u32 = 100;
const INTERVAL: &str = "250ms";
const NODES: [&str; 3] = ["ha-1", "ha-2", "ha-3"];

/// One aggregator's fixed ports and state directory (kept across its restart).
struct Site {
    udp: SocketAddr,
    http: SocketAddr,
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        Site {
            udp: ([127, 0, 0, 1], free_udp_port()).into(),
            http: ([127, 0, 0, 1], free_port()).into(),
            dir: tempfile::Builder::new()
                .prefix("pimon-e2e-ha-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    fn start(&self, name: &str, influx: &str, vm: &str) -> Proc {
        let mut cmd = Launcher::host(Program::Aggregator).command();
        cmd.args([
            "--udp",
            &self.udp.to_string(),
            "--http",
            &self.http.to_string(),
        ])
        .args(["--influx-url", influx, "--influx-db", "pimon"])
        .arg("--spool-dir")
        .arg(self.dir.path().join("spool-influx"))
        .args(["--remote-write-url", &format!("{vm}/api/v1/write")])
        .arg("--remote-write-spool-dir")
        .arg(self.dir.path().join("spool-rw"));
        let mut proc = Proc::spawn(name, cmd);
        let base = format!("http://{}", self.http);
        let start = Instant::now();
        while !http::probe(&base, "/metrics", Duration::from_secs(1)).is_ok_and(|r| r.status == 200)
        {
            assert!(
                proc.is_running() && start.elapsed() < Duration::from_secs(30),
                "{name} did not start\n{}",
                proc.output_report()
            );
            thread::sleep(Duration::from_millis(50));
        }
        proc
    }
}

#[test]
fn killing_the_first_aggregator_under_load_loses_and_doubles_nothing() {
    let influx = Influxd::start();
    influx.create_database("pimon");
    let vm = VictoriaMetrics::start_with(&["-dedup.minScrapeInterval=1ms"]);
    let (a, b) = (Site::new(), Site::new());
    let mut agg_a = a.start("aggregator A", influx.url(), vm.url());
    let mut agg_b = b.start("aggregator B", influx.url(), vm.url());

    let list = format!("{},{}", a.udp, b.udp);
    let trees: Vec<_> = NODES.iter().map(|_| copy_tree(&fixture("pi4"))).collect();
    let mut collectors: Vec<Proc> = NODES
        .iter()
        .zip(&trees)
        .map(|(node, (_dir, root))| {
            let mut cmd = Launcher::host(Program::Collector).command();
            cmd.arg("--root")
                .arg(root)
                .args(["--node", node, "--aggregator", &list])
                .args(["--interval", INTERVAL, "--cycles", &CYCLES.to_string()])
                .args(["--linger", "20s"]);
            Proc::spawn(&format!("collector {node}"), cmd)
        })
        .collect();

    // Under load: kill A with SIGKILL (its spool holds what it acknowledged and had not
    // delivered yet), let the collectors fail over, then start A again on its spool.
    thread::sleep(Duration::from_secs(5));
    agg_a.kill();
    thread::sleep(Duration::from_secs(5));
    let report_a1 = agg_a.output_report();
    agg_a = a.start("aggregator A (restarted)", influx.url(), vm.url());

    for (c, node) in collectors.iter_mut().zip(NODES) {
        let status = c.wait_or_panic(Duration::from_secs(120));
        let log = c.stderr();
        assert!(
            status.success() && log.contains(" 0 unacknowledged"),
            "{node}: not every frame acknowledged\n{}",
            c.output_report()
        );
        let failovers = log.matches("did not acknowledge").count();
        let failbacks = log.matches("acknowledges again").count();
        assert_eq!(
            (failovers, failbacks),
            (1, 1),
            "{node}: one failover to B and one fail back to A, each logged once\n{log}"
        );
        assert!(
            log.contains(&format!("aggregator {} did not acknowledge", a.udp))
                && log.contains(&format!("aggregator {} acknowledges again", a.udp)),
            "{log}"
        );
    }

    // Both aggregators stop gracefully: they deliver everything they acknowledged.
    for agg in [&mut agg_a, &mut agg_b] {
        let status = agg.terminate(Duration::from_secs(30));
        assert!(
            status.success() && !agg.stderr().contains("in the spool"),
            "an aggregator did not deliver everything before stopping\n{}",
            agg.output_report()
        );
    }

    for node in NODES {
        let rows = influx.rows(
            "pimon",
            &format!("SELECT count(load1) FROM \"system\" WHERE host = '{node}'"),
        );
        let count = rows.first().and_then(|r| r.get(1)).and_then(|v| v.as_u64());
        assert_eq!(
            count,
            Some(u64::from(CYCLES)),
            "InfluxDB: {node}'s {CYCLES} cycles exactly once (none missing, none doubled)\n{report_a1}\n{}\n{}",
            agg_a.output_report(),
            agg_b.output_report()
        );
        // A minute ahead: every sample, the last second's too, inside the window.
        let ahead = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let result = vm.query_at(
            &format!("count_over_time(node_load1{{instance=\"{node}\"}}[1h])"),
            ahead,
        );
        let count = result
            .first()
            .and_then(|r| r["value"][1].as_str())
            .and_then(|v| v.parse::<f64>().ok());
        if count != Some(f64::from(CYCLES)) {
            let export = vm.export(&format!("node_load1{{instance=\"{node}\"}}"));
            panic!(
                "VictoriaMetrics: {node}'s {CYCLES} cycles exactly once: {result:?}\n{export:?}\n{report_a1}\n{}\n{}",
                agg_a.output_report(),
                agg_b.output_report()
            );
        }
    }
    drop(trees);
}
