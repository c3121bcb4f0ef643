//! loadgen: a simulated fleet of collectors against a pimon-aggregator on loopback.
//!
//! ```text
//! loadgen --target 127.0.0.1:9797 --nodes 10000 --rate 1 --seconds 60 \
//!         --pid <aggregator pid> --metrics 127.0.0.1:9798 [--keyed] [--scrapes 5]
//! ```
//! Sends `nodes × rate` frames per second (each node its own name, boot id and sequence
//! numbers, ~70 values per frame; with `--keyed` each frame carries a MAC with the
//! benches' key, id 7), counts acks, prints a progress line every 10 s, and at the end
//! reports:
//! - what was sent and acked (acks that fall behind the send rate mark the ingest
//!   ceiling), and loadgen's own CPU (when it nears 100 % loadgen is the bottleneck);
//! - the aggregator's CPU over the run (from `/proc/<pid>/stat`), its RSS and peak RSS,
//!   and RSS growth per node over its RSS before the run;
//! - `/metrics` fetched `--scrapes` times: bytes, fetch time, the aggregator's own
//!   render time (`pimon_aggregator_render_duration_seconds`, of the previous scrape),
//!   nodes up and nodes with data, and the aggregator's datagram and kernel-drop counters.
//!
//! With `--forge RATE` it is an attacker instead: it sends RATE forged frames per
//! second (1214 bytes, flagged as MACed with the benches' key id but MACed with another
//! secret, in the names of the first `--nodes` nodes) for `--seconds`, from
//! 127.0.0.2, and reports what it sent (`scripts/bench-flood`).
//!
//! Only loopback targets are accepted: benchmarks stay on this machine.

use pimon_benches::fleet::SimNode;
use pimon_benches::{pi4, procstat};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    target: SocketAddr,
    nodes: usize,
    first_node: usize,
    rate: f64,
    seconds: f64,
    pid: Option<u32>,
    metrics: Option<SocketAddr>,
    keyed: bool,
    scrapes: usize,
    forge: f64,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --target ADDR [--nodes N] [--first-node I] [--rate FRAMES_PER_NODE_PER_S] \
         [--seconds S] [--pid AGGREGATOR_PID] [--metrics HTTP_ADDR] [--keyed] [--scrapes K] [--forge RATE]\n\
         Simulates N collectors (~70 values per frame) against an aggregator on loopback.\n\
         --first-node: number of the first node (two instances: give them disjoint ranges).\n\
         --keyed: MAC every frame with key id 7, secret \"0123456789abcdef0123456789abcdef\".\n\
         --scrapes: fetch /metrics K times at the end (default 3).\n\
         --forge RATE: send RATE forged frames/s (wrong MAC) instead, from 127.0.0.2."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: "127.0.0.1:9797".parse().unwrap(),
        nodes: 100,
        first_node: 0,
        rate: 1.0,
        seconds: 30.0,
        pid: None,
        metrics: None,
        keyed: false,
        scrapes: 3,
        forge: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--target" => a.target = val().parse().unwrap_or_else(|_| usage()),
            "--nodes" => a.nodes = val().parse().unwrap_or_else(|_| usage()),
            "--first-node" => a.first_node = val().parse().unwrap_or_else(|_| usage()),
            "--rate" => a.rate = val().parse().unwrap_or_else(|_| usage()),
            "--seconds" => a.seconds = val().parse().unwrap_or_else(|_| usage()),
            "--pid" => a.pid = Some(val().parse().unwrap_or_else(|_| usage())),
            "--metrics" => a.metrics = Some(val().parse().unwrap_or_else(|_| usage())),
            "--keyed" => a.keyed = true,
            "--scrapes" => a.scrapes = val().parse().unwrap_or_else(|_| usage()),
            "--forge" => a.forge = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if a.nodes == 0 || !positive(a.rate) || !positive(a.seconds) || a.seconds > 600.0 {
        eprintln!("loadgen: --nodes ≥ 1, --rate > 0 and 0 < --seconds ≤ 600");
        std::process::exit(2);
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

/// What one GET /metrics showed.
struct Scrape {
    bytes: usize,
    seconds: f64,
    /// Nodes with `pimon_node_up{…} 1`.
    up: usize,
    /// Nodes with a `node_load1` sample (their series are in the exposition).
    with_data: usize,
    /// `pimon_aggregator_render_duration_seconds`: the previous render.
    render_seconds: Option<f64>,
    datagrams: Option<f64>,
    acks_sent: Option<f64>,
    ack_send_errors: Option<f64>,
    kernel_drops: Option<f64>,
    store_bytes: Option<f64>,
    series: Option<f64>,
}

/// The value of the first sample of `name` (with or without labels).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            return None;
        }
        l.rsplit(' ').next()?.parse().ok()
    })
}

/// Sum of every sample of `name` (over its label sets).
fn sample_sum(text: &str, name: &str) -> Option<f64> {
    let mut any = false;
    let sum = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .inspect(|_| any = true)
        .sum();
    any.then_some(sum)
}

fn scrape(addr: SocketAddr) -> std::io::Result<Scrape> {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    let seconds = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&body);
    let up = text
        .lines()
        .filter(|l| l.starts_with("pimon_node_up{") && l.ends_with(" 1"))
        .count();
    let with_data = text
        .lines()
        .filter(|l| l.starts_with("node_load1{"))
        .count();
    Ok(Scrape {
        bytes: body.len(),
        seconds,
        up,
        with_data,
        render_seconds: sample(&text, "pimon_aggregator_render_duration_seconds"),
        datagrams: sample_sum(&text, "pimon_aggregator_datagrams_received_total"),
        acks_sent: sample_sum(&text, "pimon_aggregator_acks_sent_total"),
        ack_send_errors: sample_sum(&text, "pimon_aggregator_ack_send_errors_total"),
        kernel_drops: sample_sum(&text, "pimon_aggregator_udp_kernel_drops_total"),
        store_bytes: sample(&text, "pimon_aggregator_store_memory_bytes"),
        series: sample(&text, "pimon_aggregator_series"),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `--forge`: forged frames at `args.forge` per second; prints what was sent.
fn forge(args: &Args) {
    let sock = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    sock.set_nonblocking(true).expect("nonblocking");
    let names: Vec<String> = (args.first_node..args.first_node + args.nodes)
        .map(|i| SimNode::new(i, 0).name)
        .collect();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 1232];
    for (i, name) in names.iter().enumerate() {
        let len = pimon_benches::fleet::forged_frame(&mut buf, name, i as u64, now_ms());
        frames.push(buf[..len].to_vec());
    }
    let start = Instant::now();
    let (mut sent, mut errors, mut next) = (0u64, 0u64, 0usize);
    while start.elapsed().as_secs_f64() < args.seconds {
        let due = (start.elapsed().as_secs_f64() * args.forge) as u64;
        while sent + errors < due {
            match sock.send_to(&frames[next], args.target) {
                Ok(_) => sent += 1,
                Err(_) => errors += 1,
            }
            next = (next + 1) % frames.len();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "forged sent          {sent} ({:.0}/s of {:.0}/s asked), send errors {errors}",
        sent as f64 / elapsed,
        args.forge
    );
}

fn main() {
    let args = parse_args();
    if args.forge > 0.0 {
        forge(&args);
        return;
    }
    let key = args.keyed.then(pi4::key);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_nonblocking(true).expect("nonblocking");
    let seed = now_ms();
    let mut nodes: Vec<SimNode> = (args.first_node..args.first_node + args.nodes)
        .map(|i| SimNode::new(i, seed))
        .collect();
    let total_rate = args.nodes as f64 * args.rate;
    let me = std::process::id();
    let rss0 = args.pid.and_then(|p| procstat::status_kb(p, "VmRSS"));
    let cpu0 = args.pid.and_then(procstat::cpu_seconds);
    let my_cpu0 = procstat::cpu_seconds(me);
    let start = Instant::now();
    let (mut sent, mut bytes, mut values, mut acks, mut send_errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut buf = [0u8; 1232];
    let mut rx = [0u8; 1500];
    let mut next = 0usize;
    let (mut last_report, mut last_sent, mut last_acks) = (0.0f64, 0u64, 0u64);
    while start.elapsed().as_secs_f64() < args.seconds {
        let due = (start.elapsed().as_secs_f64() * total_rate) as u64;
        while sent + send_errors < due {
            let node = &mut nodes[next];
            next = (next + 1) % args.nodes;
            let (len, v) = node.next_frame(&mut buf, now_ms(), key.as_ref());
            match sock.send_to(&buf[..len], args.target) {
                Ok(_) => {
                    sent += 1;
                    bytes += len as u64;
                    values += v as u64;
                }
                Err(_) => send_errors += 1,
            }
            if (sent + send_errors) % 64 == 0 {
                while sock.recv_from(&mut rx).is_ok() {
                    acks += 1;
                }
            }
        }
        while sock.recv_from(&mut rx).is_ok() {
            acks += 1;
        }
        let t = start.elapsed().as_secs_f64();
        if t - last_report >= 10.0 {
            eprintln!(
                "loadgen: t={t:.0}s sent {:.0}/s acks {:.0}/s",
                (sent - last_sent) as f64 / (t - last_report),
                (acks - last_acks) as f64 / (t - last_report)
            );
            (last_report, last_sent, last_acks) = (t, sent, acks);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = args.pid.and_then(procstat::cpu_seconds);
    let my_cpu1 = procstat::cpu_seconds(me);
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
        "datagrams sent       {sent} ({:.0}/s of {total_rate:.0}/s asked), send errors {send_errors}",
        sent as f64 / elapsed
    );
    println!(
        "values sent          {values} ({:.1} bytes/value, {})",
        bytes as f64 / values.max(1) as f64,
        if args.keyed { "keyed" } else { "unkeyed" }
    );
    println!(
        "acks received        {acks} ({:.1} % of sent)",
        100.0 * acks as f64 / sent.max(1) as f64
    );
    if let (Some(a), Some(b)) = (my_cpu0, my_cpu1) {
        println!(
            "loadgen cpu          {:.1} % of one core",
            100.0 * (b - a) / elapsed
        );
    }
    if let Some(pid) = args.pid {
        if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
            println!(
                "aggregator cpu       {:.1} % of one core",
                100.0 * (c1 - c0) / elapsed
            );
        }
        let rss = procstat::status_kb(pid, "VmRSS").unwrap_or(0);
        let hwm = procstat::status_kb(pid, "VmHWM").unwrap_or(0);
        let base = rss0.unwrap_or(0);
        println!(
            "aggregator rss       {:.1} MiB (peak {:.1} MiB, {:.1} MiB before the run)",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0,
            base as f64 / 1024.0
        );
        println!(
            "aggregator KiB/node  {:.2} (RSS / nodes), {:.2} (RSS growth / nodes), {:.2} (peak / nodes)",
            rss as f64 / args.nodes as f64,
            rss.saturating_sub(base) as f64 / args.nodes as f64,
            hwm as f64 / args.nodes as f64
        );
    }
    if let Some(m) = args.metrics {
        let mut fetch = Vec::new();
        let mut render = Vec::new();
        let mut last = None;
        for i in 0..args.scrapes.max(1) {
            match scrape(m) {
                Ok(s) => {
                    fetch.push(s.seconds * 1000.0);
                    // The first scrape reports a render from before the run.
                    if i > 0
                        && let Some(r) = s.render_seconds
                    {
                        render.push(r * 1000.0);
                    }
                    last = Some(s);
                }
                Err(e) => println!("/metrics             scrape failed: {e}"),
            }
        }
        if let Some(s) = last {
            println!(
                "/metrics             {} bytes; fetch {:.1} ms median of {} (max {:.1} ms)",
                s.bytes,
                median(fetch.clone()),
                fetch.len(),
                fetch.iter().copied().fold(0.0, f64::max)
            );
            if !render.is_empty() {
                println!(
                    "/metrics render      {:.1} ms median of {} (aggregator's own timing)",
                    median(render.clone()),
                    render.len()
                );
            }
            println!(
                "nodes up in /metrics {} of {} ({:.1} %), with data {} ({:.1} %)",
                s.up,
                args.nodes,
                100.0 * s.up as f64 / args.nodes as f64,
                s.with_data,
                100.0 * s.with_data as f64 / args.nodes as f64
            );
            let show = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.0}"));
            println!(
                "aggregator counters  datagrams {}, acks sent {} (send errors {}), kernel drops {}, \
                 series {}, store {} bytes",
                show(s.datagrams),
                show(s.acks_sent),
                show(s.ack_send_errors),
                show(s.kernel_drops),
                show(s.series),
                show(s.store_bytes)
            );
        }
    }
}
