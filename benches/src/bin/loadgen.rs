//! loadgen: a simulated fleet of collectors against a pimon-aggregator on loopback.
//!
//! ```text
//! loadgen --target 127.0.0.1:9797 --nodes 10000 --rate 1 --seconds 60 \
//!         --pid <aggregator pid> --metrics 127.0.0.1:9798
//! ```
//! Sends `nodes × rate` frames per second (each node its own name, boot id and sequence
//! numbers, ~70 values per frame), counts acks, and at the end reports the aggregator's
//! CPU use over the run (from /proc/<pid>/stat), its RSS and peak RSS, the time to fetch
//! /metrics and how many nodes it shows as up. Only loopback targets are accepted.

use pimon_benches::fleet::SimNode;
use pimon_benches::procstat;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    target: SocketAddr,
    nodes: usize,
    rate: f64,
    seconds: f64,
    pid: Option<u32>,
    metrics: Option<SocketAddr>,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --target ADDR [--nodes N] [--rate FRAMES_PER_NODE_PER_S] [--seconds S] \
         [--pid AGGREGATOR_PID] [--metrics HTTP_ADDR]\n\
         Simulates N collectors (~70 values per frame) against an aggregator on loopback."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: "127.0.0.1:9797".parse().unwrap(),
        nodes: 100,
        rate: 1.0,
        seconds: 30.0,
        pid: None,
        metrics: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--target" => a.target = val().parse().unwrap_or_else(|_| usage()),
            "--nodes" => a.nodes = val().parse().unwrap_or_else(|_| usage()),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| usage()),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| usage()),
            "--pid" => a.pid = Some(val().parse().unwrap_or_else(|_| usage())),
            "--metrics" => a.metrics = Some(val().parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    if !a.target.ip().is_loopback() || a.metrics.is_some_and(|m| !m.ip().is_loopback()) {
        eprintln!("loadgen: refusing a non-loopback address: benchmarks stay on this machine");
        std::process::exit(2);
    }
    a
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// GET /metrics; returns (bytes, seconds, nodes with pimon_node_up 1).
fn scrape(addr: SocketAddr) -> std::io::Result<(usize, f64, usize)> {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    let secs = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&body);
    let up = text
        .lines()
        .filter(|l| l.starts_with("pimon_node_up{") && l.ends_with(" 1"))
        .count();
    Ok((body.len(), secs, up))
}

fn main() {
    let args = parse_args();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_nonblocking(true).expect("nonblocking");
    let mut nodes: Vec<SimNode> = (0..args.nodes).map(|i| SimNode::new(i, now_ms())).collect();
    let total_rate = args.nodes as f64 * args.rate;
    let cpu0 = args.pid.and_then(procstat::cpu_seconds);
    let start = Instant::now();
    let (mut sent, mut bytes, mut values, mut acks, mut send_errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; 1232];
    let mut rx = [0u8; 1500];
    let mut next = 0usize;
    while start.elapsed().as_secs_f64() < args.seconds {
        let due = (start.elapsed().as_secs_f64() * total_rate) as u64;
        while sent + send_errors < due {
            let node = &mut nodes[next];
            next = (next + 1) % args.nodes;
            let (len, v) = node.next_frame(&mut buf, now_ms(), None);
            match sock.send_to(&buf[..len], args.target) {
                Ok(_) => {
                    sent += 1;
                    bytes += len as u64;
                    values += v as u64;
                }
                Err(_) => send_errors += 1,
            }
        }
        while sock.recv_from(&mut rx).is_ok() {
            acks += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(1) {
        match sock.recv_from(&mut rx) {
            Ok(_) => acks += 1,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    println!("nodes                {}", args.nodes);
    println!("seconds              {elapsed:.1}");
    println!(
        "datagrams sent       {sent} ({:.0}/s), send errors {send_errors}",
        sent as f64 / elapsed
    );
    println!(
        "values sent          {values} ({:.1} bytes/value)",
        bytes as f64 / values.max(1) as f64
    );
    println!(
        "acks received        {acks} ({:.1} % of sent)",
        100.0 * acks as f64 / sent.max(1) as f64
    );
    if let Some(pid) = args.pid {
        if let (Some(c0), Some(c1)) = (cpu0, procstat::cpu_seconds(pid)) {
            println!(
                "aggregator cpu       {:.1} % of one core",
                100.0 * (c1 - c0) / elapsed
            );
        }
        let rss = procstat::status_kb(pid, "VmRSS").unwrap_or(0);
        let hwm = procstat::status_kb(pid, "VmHWM").unwrap_or(0);
        println!(
            "aggregator rss       {:.1} MiB (peak {:.1} MiB), {:.2} KiB/node",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            rss as f64 / args.nodes as f64
        );
    }
    if let Some(m) = args.metrics {
        match scrape(m) {
            Ok((len, secs, up)) => {
                println!(
                    "/metrics             {len} bytes in {:.1} ms",
                    secs * 1000.0
                );
                println!(
                    "nodes up in /metrics {up} of {} ({:.1} %)",
                    args.nodes,
                    100.0 * up as f64 / args.nodes as f64
                );
            }
            Err(e) => println!("/metrics             scrape failed: {e}"),
        }
    }
}
