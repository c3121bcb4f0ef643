//! A short run of `loadgen` (the binary, as `scripts/bench-aggregator` runs it) against
//! a real aggregator in this process: every frame of the replayed Pi 4 cycles is stored,
//! every node shows on `/metrics`, and the Prometheus-like scraper and the slow readers
//! get whole responses. The benchmark itself (minutes, large fleets) is not run in CI;
//! this keeps its tools working.

use std::process::Command;

use pimon_aggregator::config::Config;
use pimon_aggregator::server::Server;

/// Runs loadgen with `flags` against a real aggregator in this process; its stdout.
fn run_loadgen(flags: &[&str]) -> String {
    let config = Config {
        udp: vec!["127.0.0.1:0".parse().unwrap()],
        udp_receive_buffer: 1 << 20,
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    };
    let server = Server::bind(config).expect("bind");
    let udp = server.udp_addrs()[0];
    let http = server.http_addr().expect("http");
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::spawn(move || {
        smol::block_on(server.run(async move {
            let _ = stopped.recv().await;
        }))
    });
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--target", &udp.to_string(), "--metrics", &http.to_string()])
        .args(["--pid", &std::process::id().to_string()])
        .args(flags)
        .args(["--label", "smoke"])
        .output()
        .expect("loadgen runs");
    drop(stop);
    thread.join().unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A `RESULT smoke.<figure>` of loadgen's output.
fn result(stdout: &str, figure: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("RESULT smoke.{figure} ")))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no RESULT smoke.{figure} in:\n{stdout}"))
}

/// The number after `prefix` on the line that starts with it.
fn count_after(stdout: &str, prefix: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stdout}"))
}

#[test]
fn loadgen_replays_pi4_cycles_that_are_all_stored_and_scraped() {
    let stdout = run_loadgen(&[
        "--nodes",
        "40",
        "--interval",
        "1",
        "--seconds",
        "4",
        "--scrape-every",
        "1",
        "--slow-readers",
        "1",
        "--scrapes",
        "1",
    ]);
    let result = |figure: &str| result(&stdout, figure);
    // What the real collector produces on the Pi 4 fixture tree today (285 when
    // BENCHMARKS 3.6 was measured; sources added since add values).
    let values = pimon_benches::fleet::Template::from_fixture("pi4")
        .expect("the Pi 4 fixture")
        .values() as f64;
    assert!(values >= 285.0, "{values} values");
    assert_eq!(
        result("values_per_cycle"),
        values,
        "the Pi 4 fixture's cycle"
    );
    assert_eq!(result("stored_pct"), 100.0, "{stdout}");
    assert_eq!(result("nodes_with_data_pct"), 100.0, "{stdout}");
    assert_eq!(result("scrapes_failed"), 0.0, "{stdout}");
    assert!(result("scrape_samples") >= 40.0 * values, "{stdout}");
    assert_eq!(result("slow_reads_cut_off"), 0.0, "{stdout}");
    assert!(
        !stdout.contains("slow readers         1: 0 bytes read"),
        "{stdout}"
    );
}

#[test]
fn loadgen_warmup_is_left_out_of_the_rates_and_kernel_drops() {
    // 1 s of warm-up, then 2 measured seconds: the rates count the 2 seconds only.
    let stdout = run_loadgen(&[
        "--nodes",
        "20",
        "--interval",
        "0.5",
        "--warmup",
        "1",
        "--seconds",
        "2",
        "--scrapes",
        "1",
    ]);
    let measured = count_after(&stdout, "datagrams sent       ") as f64;
    let warmup = stdout
        .lines()
        .find_map(|l| l.strip_prefix("warm-up              "))
        .and_then(|rest| {
            rest.split(", ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no warm-up line in:\n{stdout}"));
    let ratio = measured / warmup;
    assert!(
        (1.5..=2.6).contains(&ratio),
        "2 measured seconds against 1 of warm-up: {measured} / {warmup} datagrams\n{stdout}"
    );
    let rate = result(&stdout, "datagrams_per_s");
    assert!(
        (rate - measured / 2.0).abs() <= 0.1 * rate,
        "the rate is the measured window's: {rate}/s, {measured} datagrams\n{stdout}"
    );
    assert_eq!(result(&stdout, "window_kernel_drops"), 0.0, "{stdout}");
    assert_eq!(result(&stdout, "window_delivered_pct"), 100.0, "{stdout}");
    // Stored is the whole run's, warm-up included.
    assert_eq!(result(&stdout, "stored_pct"), 100.0, "{stdout}");
}
