//! The process scan (`processes` source) over this machine's live `/proc`, next to
//! node_exporter's `processes` collector scraped alone.
//!
//! `cargo bench -p pimon-benches --bench processes`
//!
//! Prints the number of processes and threads, then:
//! - one cycle of the `processes` source: wall time (median of 15 batches) and CPU time
//!   (user + system from `/proc/self/stat` over 2,000 cycles);
//! - when `/usr/bin/prometheus-node-exporter` exists (Debian's `prometheus-node-exporter`):
//!   its CPU per scrape with only `--collector.processes` enabled, over 300 scrapes
//!   (CPU from `/proc/PID/stat` before and after; the scrape is a plain HTTP/1.0 GET on
//!   127.0.0.1), so the ratio is measured in the same run on the same `/proc`.
//!
//! Results: docs/BENCHMARKS.md, section 2.8.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pimon_benches::procstat;
use pimon_benches::timing::bench;
use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceKind, SourceSet, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;

/// A sink that keeps the pids and threads counts.
#[derive(Default)]
struct Counts {
    pids: u64,
    threads: u64,
}

impl SampleSink for Counts {
    fn labels(&mut self, _: &[&str]) {}
    fn push(&mut self, metric: u16, value: Value) {
        match metric {
            id::PROCESSES_PIDS => self.pids = value.as_f64() as u64,
            id::PROCESSES_THREADS => self.threads = value.as_f64() as u64,
            _ => {}
        }
    }
}

fn cpu_of(pid: u32) -> f64 {
    procstat::cpu_seconds(pid).expect("/proc/PID/stat")
}

fn scrape(port: u16) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to node_exporter");
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("response");
    body.len()
}

/// node_exporter with only its processes collector, killed on drop.
struct NodeExporter(Child, u16);

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_exporter() -> Option<NodeExporter> {
    let bin = Path::new("/usr/bin/prometheus-node-exporter");
    if !bin.exists() {
        println!("node_exporter: {} not installed, skipped", bin.display());
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin)
        .args([
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults",
            "--collector.processes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    let ne = NodeExporter(child, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node_exporter did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(ne)
}

fn main() {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Processes);
    let config = SourcesConfig {
        root: "/".into(),
        sources,
        ..SourcesConfig::default()
    };
    let mut sources = Sources::open(&config);
    let mut counts = Counts::default();
    sources.collect(&mut counts);
    println!(
        "-- live /proc: {} processes, {} threads",
        counts.pids, counts.threads
    );

    let wall = bench("processes source: one cycle", || {
        sources.collect(&mut counts);
    });
    const CYCLES: u32 = 2_000;
    let me = std::process::id();
    let start = cpu_of(me);
    for _ in 0..CYCLES {
        sources.collect(&mut counts);
    }
    let pimon = (cpu_of(me) - start) / f64::from(CYCLES);
    println!(
        "pimon processes source: CPU {:.1} µs per cycle (wall {:.1} µs)",
        pimon * 1e6,
        wall / 1e3
    );

    if let Some(ne) = node_exporter() {
        for _ in 0..20 {
            scrape(ne.1);
        }
        const SCRAPES: u32 = 300;
        let pid = ne.0.id();
        let start = cpu_of(pid);
        for _ in 0..SCRAPES {
            scrape(ne.1);
        }
        let ne_cpu = (cpu_of(pid) - start) / f64::from(SCRAPES);
        println!(
            "node_exporter --collector.processes: CPU {:.1} µs per scrape; pimon/node_exporter = 1/{:.1}",
            ne_cpu * 1e6,
            ne_cpu / pimon
        );
    }
}
