//! Disks that are read-only or full under the outputs, on real size-limited
//! filesystems (a `tmpfs` mounted by the test with `size=`; the tests need root, as
//! in CI, and fail saying so otherwise).
//!
//! - the spool directory (or the `--lp-out` file) on a read-only filesystem: the
//!   aggregator refuses to start and names the path;
//! - the spool's disk fills before the spool's own cap, `when_full = "drop_oldest"`:
//!   acks go on, the oldest lines are dropped for InfluxDB and counted exactly;
//! - the same with `refuse_new`: nothing is acked while the disk is full, the
//!   collectors keep their frames, and when space returns (and InfluxDB) everything is
//!   stored once, in InfluxDB and in the `--lp-out` file (which must not get the lines
//!   again on every refused resend);
//! - the `--lp-out` file's disk fills: when space returns it resumes by itself, with
//!   every frame once and no torn line.

use std::thread;
use std::time::Duration;

use pimon_e2e::arrival;
use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::fleet::{self, TRIO};
use pimon_e2e::mounts::Tmpfs;
use pimon_e2e::pimon::AggregatorSetup;
use pimon_e2e::process;
use pimon_e2e::scenario::{self, FILE_TIMEOUT, Scenario};
use pimon_e2e::support::servers::{Influxd, free_port};
use pimon_e2e::wait;

const DB: &str = "pimon";

#[test]
fn a_spool_or_line_protocol_file_on_a_read_only_filesystem_is_refused_at_start_naming_it() {
    let ro = Tmpfs::mount(1 << 20);
    ro.read_only();
    let launcher = Launcher::host(Program::Aggregator);
    let spool = ro.join("spool");
    let lp = ro.join("out.lp");
    let runs = [
        (
            vec![
                "--influx-url".to_string(),
                "http://127.0.0.1:1".into(),
                "--influx-db".into(),
                DB.into(),
                "--spool-dir".into(),
                spool.display().to_string(),
            ],
            spool.display().to_string(),
        ),
        (
            vec!["--lp-out".to_string(), lp.display().to_string()],
            lp.display().to_string(),
        ),
    ];
    let mut problems = Vec::new();
    for (args, path) in runs {
        let mut cmd = launcher.command();
        cmd.args(["--udp", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(&args);
        let mut proc = process::Proc::spawn("pimon-aggregator", cmd);
        match proc.wait_timeout(Duration::from_secs(10)) {
            None => problems.push(format!("{args:?}: still running with a read-only {path}")),
            Some(status) => {
                let stderr = proc.stderr();
                if status.code() != Some(1)
                    || !stderr.contains(&path)
                    || stderr.contains("panicked")
                {
                    problems.push(format!(
                        "{args:?}: exit {status}, must be 1 with an error naming {path}: {}",
                        stderr.trim()
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// An aggregator whose InfluxDB output spools on `disk` (InfluxDB down at first: its
/// port is free) and writes `--lp-out` to the normal temp dir.
fn spool_on(disk: &Tmpfs, when_full: &str) -> (AggregatorSetup, u16) {
    let port = free_port();
    let toml = format!(
        "[[influx]]\nurl = \"http://127.0.0.1:{port}\"\ndb = \"{DB}\"\nspool_dir = \"{}\"\nspool_max_bytes = 67108864\nwhen_full = \"{when_full}\"\nflush_interval_ms = 100\n",
        disk.join("spool").display()
    );
    (
        AggregatorSetup::new(&Launcher::host(Program::Aggregator)).config(&toml),
        port,
    )
}

#[test]
fn a_spool_disk_full_before_the_cap_drops_the_oldest_keeps_acking_and_counts_exactly() {
    // 1 MiB fills in a few seconds of the trio's lines; the spool's cap is 64 MiB.
    let disk = Tmpfs::mount(1 << 20);
    let (mut setup, influx_port) = spool_on(&disk, "drop_oldest");
    let mut s = Scenario::start(&mut setup, "spool-disk-full", &TRIO, |c| c);
    thread::sleep(Duration::from_secs(8));
    let free_while_running = disk.free_bytes();
    let end = s.stop_fleet("with a full spool disk");
    let nodes = s.nodes();
    let aggregator = &s.aggregator;
    scenario::assert_all_acked(
        aggregator,
        &nodes,
        &end.stops,
        &format!(
            "a full spool disk with drop_oldest must not stop the acks (free: {free_while_running} bytes)"
        ),
    );

    // InfluxDB comes up: it gets everything the spool kept; the rest is counted.
    let influxd = Influxd::start_on(influx_port);
    influxd.create_database(DB);
    let file = fleet::assert_file_exactly_once(
        aggregator,
        &end.ledger,
        &nodes,
        &Default::default(),
        FILE_TIMEOUT,
        "spool disk full",
    );
    let text = aggregator.line_protocol();
    let written: usize = file.points.values().sum();
    wait::poll(Duration::from_secs(40), Duration::from_millis(500), || {
        let lines = arrival::lines_in_influxdb(&text, &influxd, DB, &nodes)?;
        let scrape = aggregator.scrape();
        let dropped = scrape.sum("pimon_influx_spool_lines_dropped_full_total", &[]) as usize;
        let pending = scrape.sum("pimon_influx_spool_pending_lines", &[]) as usize;
        // The spool also holds the aggregator's own figures (not in --lp-out): what it
        // took of them, and what InfluxDB has of them, close the sum.
        let own = scrape.sum("pimon_aggregator_self_lines_total", &[]) as usize;
        let own_stored = self_lines_in_influxdb(&influxd);
        if dropped > 0
            && pending == 0
            && lines.partial == 0
            && lines.present + own_stored + dropped == written + own
        {
            Ok(())
        } else {
            Err(format!(
                "{written} lines acked (in the --lp-out file): {} in InfluxDB, {} partly, {} not; {own} lines of the aggregator's own figures spooled, {own_stored} in InfluxDB; {dropped} counted dropped from the full spool, {pending} pending",
                lines.present, lines.partial, lines.absent
            ))
        }
    })
    .unwrap_or_else(|e| {
        panic!(
            "every acked line must be in InfluxDB or counted dropped:\n{e}\n{}",
            aggregator.proc.output_report()
        )
    });
}

#[test]
fn a_spool_disk_full_with_refuse_new_holds_the_acks_and_recovers_when_space_returns() {
    let disk = Tmpfs::mount(4 << 20);
    let (mut setup, influx_port) = spool_on(&disk, "refuse_new");
    let mut s = Scenario::start(&mut setup, "spool-refuse", &TRIO, |c| c);
    thread::sleep(Duration::from_secs(1));
    // The disk is full: appends fail, batches are refused, collectors keep resending.
    disk.fill("filler");
    thread::sleep(Duration::from_secs(3));
    let refused = s
        .aggregator
        .scrape()
        .sum("pimon_aggregator_output_failures_total", &[]);
    disk.remove("filler");
    let influxd = Influxd::start_on(influx_port);
    influxd.create_database(DB);
    thread::sleep(Duration::from_secs(3));
    let end = s.stop_fleet("after the disk was full");
    assert!(refused > 0.0, "the full disk must have refused batches");

    scenario::assert_all_acked(
        &s.aggregator,
        &s.nodes(),
        &end.stops,
        "once space returned everything must be acked",
    );
    s.assert_stored_exactly_once(&end, Some((&influxd, DB)), "refuse_new, disk full");
}

#[test]
fn the_line_protocol_file_resumes_by_itself_after_its_disk_was_full() {
    let disk = Tmpfs::mount(8 << 20);
    let lp = disk.join("out.lp");
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator)).lp_out_at(&lp);
    let mut s = Scenario::start(&mut setup, "lp-disk-full", &TRIO, |c| c);
    thread::sleep(Duration::from_secs(1));
    disk.fill("filler");
    thread::sleep(Duration::from_secs(3));
    disk.remove("filler");
    thread::sleep(Duration::from_secs(3));
    let end = s.stop_fleet("after the disk was full");

    scenario::assert_all_acked(
        &s.aggregator,
        &s.nodes(),
        &end.stops,
        "every frame must be acked once the disk has space again",
    );
    s.assert_stored_exactly_once(&end, None, "the --lp-out file after its disk was full");
}

/// Points of the aggregator's own figures in InfluxDB (`pimon_node`, one per node and
/// write; `pimon_aggregator`, one per write): each is one line it spooled.
fn self_lines_in_influxdb(influxd: &Influxd) -> usize {
    let mut n = 0;
    for (measurement, field) in [("pimon_node", "up"), ("pimon_aggregator", "nodes")] {
        let v = influxd.query(
            DB,
            &format!("SELECT count(\"{field}\") FROM \"{measurement}\""),
        );
        if let Some(err) = v["results"][0]["error"].as_str() {
            panic!("influxd count of {measurement}: {err}");
        }
        n += v["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0) as usize;
    }
    n
}
