//! loadgen: a fleet of simulated collectors against a pimon-aggregator on loopback,
//! replaying real collector cycles (`pimon_benches::fleet`).
//!
//! ```text
//! loadgen --target 127.0.0.1:9797 --nodes 10000 --interval 1 --seconds 120 \
//!         --pid <aggregator pid> --metrics 127.0.0.1:9798 [--fixture pi4|pizero|x86|mixed]
//!         [--keyed] [--scrape-every 15] [--slow-readers 16] [--scrapes 3]
//! ```
//! Every node sends one cycle per `--interval` seconds (the collector's cadence; `--rate
//! R` is the same as `--interval 1/R`), the cycles of all nodes spread evenly over the
//! interval. With `--warmup S` the fleet sends for S seconds first (every node's first
//! cycles: the aggregator admits 10,000 new nodes in their first second) and the rates,
//! CPU and kernel drops reported are those of the `--seconds` that follow; what was
//! stored is counted over the whole run. A cycle is what the real collector produced on the fixture tree (Pi 4: 292
//! values in 2 datagrams), under the node's own name, boot id and sequence numbers, with
//! moving values (see `fleet`). With `--keyed` every datagram carries a MAC with the
//! benches' key, id 7. A progress line every 10 s shows the send and ack rates and the
//! aggregator's RSS.
//!
//! While it sends, optionally:
//! - `--scrape-every S`: a scraper fetches /metrics every S seconds as Prometheus does
//!   (its `Accept` header, gzip), reads the whole body and decompresses it; each scrape
//!   is reported (time, bytes on the wire and uncompressed, samples);
//! - `--slow-readers K`: K clients fetch /metrics (uncompressed) reading 4 KiB every
//!   250 ms, over and over — what must not pin memory in the aggregator.
//!
//! At the end it reports what was sent, stored (the aggregator's
//! `pimon_node_frames_received_total` over all nodes) and acknowledged (the sum over the
//! nodes of the highest `acked_below` received; frames given up count as acked), loadgen's own CPU (near 100 % it is the
//! bottleneck), the aggregator's CPU over the run (`/proc/<pid>/stat`), its RSS every
//! 10 s and its peak (`VmHWM`) with KiB per node, then fetches /metrics `--scrapes`
//! times (text, uncompressed) for the aggregator's counters and render time and the
//! nodes up and with data. With `--label NAME` the main figures are also printed as
//! `RESULT NAME.figure value unit` lines, for `scripts/bench-aggregator` and
//! `scripts/bench-regress`.
//!
//! With `--forge RATE` it is an attacker instead: it sends RATE forged frames per
//! second (1214 bytes, flagged as MACed with the benches' key id but MACed with another
//! secret, in the names of the first `--nodes` nodes) for `--seconds`, from
//! 127.0.0.2, and reports what it sent (`scripts/bench-flood`).
//!
//! Only loopback targets are accepted: benchmarks stay on this machine.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pimon_benches::fleet::{Cycle, FIXTURES, SimNode, Template};
use pimon_benches::{pi4, procstat};
use pimon_protocol::Message;

struct Args {
    target: SocketAddr,
    nodes: usize,
    first_node: usize,
    interval_s: f64,
    seconds: f64,
    pid: Option<u32>,
    metrics: Option<SocketAddr>,
    keyed: bool,
    scrapes: usize,
    fixture: String,
    scrape_every: Option<f64>,
    slow_readers: usize,
    label: Option<String>,
    forge: f64,
    sockets: usize,
    warmup_s: f64,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen --target ADDR [--nodes N] [--first-node I] [--interval S | --rate R] \
         [--seconds S] [--fixture pi4|pizero|x86|mixed] [--pid AGGREGATOR_PID] \
         [--metrics HTTP_ADDR] [--keyed] [--scrape-every S] [--slow-readers K] [--scrapes K] \
         [--label NAME] [--forge RATE] [--sockets K] [--warmup S]\n\
         Simulates N collectors replaying the real collector's cycle of a fixture tree\n\
         (collector/tests/fixtures/<name>; default pi4: 292 values in 2 datagrams).\n\
         --interval: seconds between two cycles of a node (default 1); --rate R = --interval 1/R.\n\
         --first-node: number of the first node (two instances: give them disjoint ranges).\n\
         --keyed: MAC every frame with key id 7, secret \"0123456789abcdef0123456789abcdef\".\n\
         --scrape-every: fetch /metrics like Prometheus (gzip) every S seconds while sending.\n\
         --slow-readers: K clients reading /metrics at 16 KiB/s, over and over, while sending.\n\
         --scrapes: fetch /metrics K times at the end (default 3).\n\
         --label: also print the figures as `RESULT NAME.figure value unit` lines.\n\
         --forge RATE: send RATE forged frames/s (wrong MAC) instead, from 127.0.0.2.\n\
         --sockets K: send from K sockets (source ports), node i always from socket i mod K,\n\
         as a fleet does from many ports (default 1).\n\
         --warmup: send for S seconds before the measured --seconds (default 0): rates, CPU\n\
         and kernel drops are the measured window's, stored frames the whole run's."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: "127.0.0.1:9797".parse().unwrap(),
        nodes: 100,
        first_node: 0,
        interval_s: 1.0,
        seconds: 30.0,
        pid: None,
        metrics: None,
        keyed: false,
        scrapes: 3,
        fixture: "pi4".to_string(),
        scrape_every: None,
        slow_readers: 0,
        label: None,
        forge: 0.0,
        sockets: 1,
        warmup_s: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<f64>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--target" => a.target = val().parse().unwrap_or_else(|_| usage()),
            "--nodes" => a.nodes = val().parse().unwrap_or_else(|_| usage()),
            "--first-node" => a.first_node = val().parse().unwrap_or_else(|_| usage()),
            "--interval" => a.interval_s = num(val()),
            "--rate" => a.interval_s = 1.0 / num(val()),
            "--seconds" => a.seconds = num(val()),
            "--pid" => a.pid = Some(val().parse().unwrap_or_else(|_| usage())),
            "--metrics" => a.metrics = Some(val().parse().unwrap_or_else(|_| usage())),
            "--keyed" => a.keyed = true,
            "--scrapes" => a.scrapes = val().parse().unwrap_or_else(|_| usage()),
            "--fixture" => a.fixture = val(),
            "--scrape-every" => a.scrape_every = Some(num(val())),
            "--slow-readers" => a.slow_readers = val().parse().unwrap_or_else(|_| usage()),
            "--label" => a.label = Some(val()),
            "--forge" => a.forge = val().parse().unwrap_or_else(|_| usage()),
            "--sockets" => a.sockets = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => a.warmup_s = num(val()),
            _ => usage(),
        }
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if a.nodes == 0
        || !positive(a.interval_s)
        || !positive(a.seconds)
        || a.seconds > 1800.0
        || !(0.0..=600.0).contains(&a.warmup_s)
        || a.scrape_every.is_some_and(|s| !positive(s))
    {
        eprintln!(
            "loadgen: --nodes ≥ 1, --interval (or --rate) > 0, --scrape-every > 0, 0 < --seconds ≤ 1800 and 0 ≤ --warmup ≤ 600"
        );
        std::process::exit(2);
    }
    if !a.target.ip().is_loopback() || a.metrics.is_some_and(|m| !m.ip().is_loopback()) {
        eprintln!("loadgen: refusing a non-loopback address: benchmarks stay on this machine");
        std::process::exit(2);
    }
    if (a.scrape_every.is_some() || a.slow_readers > 0) && a.metrics.is_none() {
        eprintln!("loadgen: --scrape-every and --slow-readers need --metrics");
        std::process::exit(2);
    }
    a
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What Prometheus 2.x sends.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// A response body as sent: `Content-Length`, chunked, or up to the close.
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

/// Reads a chunked body's data (RFC 9112 7.1), trailers ignored.
struct Dechunk<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Dechunk<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.inner.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}"))
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One fetch of /metrics.
struct Fetch {
    /// Body bytes on the wire (after de-chunking, before gunzip).
    wire_bytes: u64,
    /// Exposition bytes (after gunzip).
    text_bytes: u64,
    /// Lines that are samples.
    samples: u64,
    seconds: f64,
    gzip: bool,
    chunked: bool,
    /// `pimon_aggregator_render_duration_seconds` in it: the previous scrape's render.
    render_seconds: Option<f64>,
}

/// GET /metrics (`prometheus_like`: Prometheus' `Accept` header and gzip), every line
/// of the exposition handed to `on_line` as it arrives.
fn fetch(
    addr: SocketAddr,
    prometheus_like: bool,
    mut on_line: impl FnMut(&str),
) -> io::Result<Fetch> {
    let t = Instant::now();
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let extra = if prometheus_like {
        format!("Accept: {PROMETHEUS_ACCEPT}\r\nAccept-Encoding: gzip\r\n")
    } else {
        String::new()
    };
    (&s).write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut status = String::new();
    r.read_line(&mut status)?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("status {:?}", status.trim())));
    }
    let (mut framing, mut gzip) = (Framing::Close, false);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(v.parse().map_err(io::Error::other)?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            framing = Framing::Chunked;
        } else if k.eq_ignore_ascii_case("content-encoding") && v.eq_ignore_ascii_case("gzip") {
            gzip = true;
        }
    }
    let chunked = matches!(framing, Framing::Chunked);
    let body: Box<dyn Read> = match framing {
        Framing::Length(n) => Box::new(r.take(n)),
        Framing::Chunked => Box::new(Dechunk {
            inner: r,
            left: 0,
            done: false,
        }),
        Framing::Close => Box::new(r),
    };
    let wire = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: body,
        bytes: wire.clone(),
    };
    let text: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let mut lines = BufReader::with_capacity(64 * 1024, text);
    let (mut text_bytes, mut samples) = (0u64, 0u64);
    let mut render_seconds = None;
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        text_bytes += n as u64;
        let l = line.trim_end_matches('\n');
        if !l.is_empty() && !l.starts_with('#') {
            samples += 1;
            if l.starts_with("pimon_aggregator_render") {
                render_seconds =
                    render_seconds.or(sample_value(l, "pimon_aggregator_render_duration_seconds"));
            }
        }
        on_line(l);
    }
    Ok(Fetch {
        wire_bytes: wire.load(Ordering::Relaxed),
        text_bytes,
        samples,
        seconds: t.elapsed().as_secs_f64(),
        gzip,
        chunked,
        render_seconds,
    })
}

/// The value of a sample line of `name` (with or without labels).
fn sample_value(line: &str, name: &str) -> Option<f64> {
    let rest = line.strip_prefix(name)?;
    if !(rest.starts_with(' ') || rest.starts_with('{')) {
        return None;
    }
    line.rsplit(' ').next()?.parse().ok()
}

/// What the end-of-run scrape showed.
#[derive(Default)]
struct Summary {
    /// Nodes with `pimon_node_up{…} 1`.
    up: usize,
    /// Nodes with a `node_load1` sample (their series are in the exposition).
    with_data: usize,
    /// Sums over label sets of the aggregator's counters.
    figures: Vec<(&'static str, f64)>,
}

const FIGURES: [&str; 8] = [
    "pimon_aggregator_render_duration_seconds",
    "pimon_aggregator_datagrams_received_total",
    "pimon_aggregator_acks_sent_total",
    "pimon_aggregator_ack_send_errors_total",
    "pimon_aggregator_udp_kernel_drops_total",
    "pimon_aggregator_series",
    "pimon_aggregator_store_memory_bytes",
    "pimon_node_frames_received_total",
];

impl Summary {
    fn line(&mut self, l: &str) {
        if l.starts_with("pimon_node_up{") && l.ends_with(" 1") {
            self.up += 1;
        } else if l.starts_with("node_load1{") {
            self.with_data += 1;
        } else if l.starts_with("pimon_aggregator_") || l.starts_with("pimon_node_frames_r") {
            for name in FIGURES {
                if let Some(v) = sample_value(l, name) {
                    match self.figures.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, sum)) => *sum += v,
                        None => self.figures.push((name, v)),
                    }
                }
            }
        }
    }

    fn get(&self, name: &str) -> Option<f64> {
        self.figures.iter().find(|(n, _)| *n == name).map(|f| f.1)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Samples the aggregator's RSS every second until `stop`; returns (seconds, kB).
fn rss_sampler(pid: u32, start: Instant, stop: Arc<AtomicBool>) -> JoinHandle<Vec<(f64, u64)>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Some(kb) = procstat::status_kb(pid, "VmRSS") {
                samples.push((start.elapsed().as_secs_f64(), kb));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    })
}

/// Fetches /metrics like Prometheus every `every` seconds until `stop`; returns what
/// each fetch showed (failed ones: `None`).
fn scraper(
    addr: SocketAddr,
    every: f64,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Option<Fetch>>> {
    std::thread::spawn(move || {
        let mut fetches = Vec::new();
        let mut next = every;
        while !stop.load(Ordering::Relaxed) {
            let t = start.elapsed().as_secs_f64();
            if t < next {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            next += every;
            match fetch(addr, true, |_| {}) {
                Ok(f) => {
                    eprintln!(
                        "loadgen: t={t:.0}s scrape: {:.0} ms, {} bytes on the wire ({}{}), {} bytes of text, {} samples; previous render {}",
                        f.seconds * 1000.0,
                        f.wire_bytes,
                        if f.gzip { "gzip" } else { "identity" },
                        if f.chunked { ", chunked" } else { "" },
                        f.text_bytes,
                        f.samples,
                        f.render_seconds
                            .map_or("?".to_string(), |r| format!("{:.0} ms", r * 1000.0))
                    );
                    fetches.push(Some(f));
                }
                Err(e) => {
                    eprintln!("loadgen: t={t:.0}s scrape failed: {e}");
                    fetches.push(None);
                }
            }
        }
        fetches
    })
}

/// What a slow reader did.
#[derive(Default)]
struct SlowReads {
    /// Bodies read to the end.
    done: u64,
    /// Responses that ended early (an error or the server closing before the end).
    cut_off: u64,
    bytes: u64,
}

/// Reads /metrics at 16 KiB/s, over and over, until `stop`.
fn slow_reader(addr: SocketAddr, stop: Arc<AtomicBool>) -> JoinHandle<SlowReads> {
    std::thread::spawn(move || {
        let mut reads = SlowReads::default();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            // Ok(true): read to the end; Ok(false): stopped before the end.
            let result = (|| -> io::Result<bool> {
                let mut s = TcpStream::connect(addr)?;
                s.set_read_timeout(Some(Duration::from_secs(60)))?;
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let (mut tail, mut chunked, mut first) = (Vec::new(), false, true);
                while !stop.load(Ordering::Relaxed) {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        // A chunked body ends with its last chunk, else with the close.
                        if chunked && !tail.ends_with(b"0\r\n\r\n") {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        return Ok(true);
                    }
                    if first {
                        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                        chunked = head.contains("transfer-encoding: chunked");
                        first = false;
                    }
                    reads.bytes += n as u64;
                    tail.clear();
                    tail.extend_from_slice(&buf[n.saturating_sub(7)..n]);
                    std::thread::sleep(Duration::from_millis(250));
                }
                Ok(false)
            })();
            match result {
                Ok(true) => reads.done += 1,
                Ok(false) => {}
                Err(_) => {
                    reads.cut_off += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
            }
        }
        reads
    })
}

/// The node number in `node-00042`.
fn node_number(name: &str) -> Option<usize> {
    name.strip_prefix("node-")?.parse().ok()
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
    let names: Vec<&str> = if args.fixture == "mixed" {
        FIXTURES.to_vec()
    } else {
        vec![args.fixture.as_str()]
    };
    let templates: Vec<Template> = names
        .iter()
        .map(|n| {
            Template::from_fixture(n).unwrap_or_else(|e| {
                eprintln!("loadgen: {e}");
                std::process::exit(2)
            })
        })
        .collect();
    let socks: Vec<UdpSocket> = (0..args.sockets.max(1))
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("nonblocking");
            s
        })
        .collect();
    let seed = now_ms();
    let mut nodes: Vec<SimNode> = (args.first_node..args.first_node + args.nodes)
        .map(|i| SimNode::new(i, seed))
        .collect();
    let interval_ms = (args.interval_s * 1000.0)
        .round()
        .clamp(1.0, u32::MAX as f64) as u32;
    let cycle_rate = args.nodes as f64 / args.interval_s;
    let mut cycle = Cycle::default();
    let mut sample_cycle = Cycle::default();
    for t in &templates {
        SimNode::new(0, 0).next_cycle(t, &mut sample_cycle, now_ms(), interval_ms, key.as_ref());
        println!(
            "fixture              {}: {} values in {} datagrams ({} bytes, {}), {} label sets, {} counters",
            t.fixture,
            t.values(),
            sample_cycle.datagrams().count(),
            sample_cycle.bytes(),
            if args.keyed { "keyed" } else { "unkeyed" },
            t.label_sets(),
            t.counters()
        );
    }
    println!(
        "cadence              one cycle per node every {} s ({cycle_rate:.0} cycles/s in all)",
        args.interval_s
    );
    let me = std::process::id();
    let rss0 = args.pid.and_then(|p| procstat::status_kb(p, "VmRSS"));
    let (mut cpu0, mut my_cpu0) = (None, None);
    let mut drops0 = None;
    // Counts at the start of the measured window: (cycles, datagrams, bytes, values).
    let mut at_window = (0u64, 0u64, 0u64, 0u64);
    let mut window_start: Option<Instant> = None;
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let rss = args.pid.map(|p| rss_sampler(p, start, stop.clone()));
    let scrape = args
        .scrape_every
        .zip(args.metrics)
        .map(|(every, m)| scraper(m, every, start, stop.clone()));
    let slow: Vec<_> = (0..args.slow_readers)
        .filter_map(|_| args.metrics.map(|m| slow_reader(m, stop.clone())))
        .collect();

    let (mut cycles, mut sent, mut bytes, mut values, mut send_errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut acks = 0u64;
    let mut acked_below = vec![0u64; args.nodes];
    let mut rx = [0u8; 1500];
    let mut note_ack = |datagram: &[u8]| {
        if let Ok(Message::Ack(a)) = pimon_protocol::decode(datagram)
            && let Some(i) = node_number(a.node).and_then(|n| n.checked_sub(args.first_node))
            && let Some(slot) = acked_below.get_mut(i)
        {
            *slot = (*slot).max(a.acked_below);
        }
    };
    let mut next = 0usize;
    let (mut last_report, mut last_sent, mut last_acks) = (0.0f64, 0u64, 0u64);
    while start.elapsed().as_secs_f64() < args.warmup_s + args.seconds {
        if window_start.is_none() && start.elapsed().as_secs_f64() >= args.warmup_s {
            window_start = Some(Instant::now());
            cpu0 = args.pid.and_then(procstat::cpu_seconds);
            my_cpu0 = procstat::cpu_seconds(me);
            drops0 = pimon_aggregator::udp::kernel_drops_at_port(args.target.port());
            at_window = (cycles, sent, bytes, values);
        }
        let due = (start.elapsed().as_secs_f64() * cycle_rate) as u64;
        while cycles < due {
            let i = next;
            next = (next + 1) % args.nodes;
            let template = &templates[i % templates.len()];
            nodes[i].next_cycle(template, &mut cycle, now_ms(), interval_ms, key.as_ref());
            cycles += 1;
            let sock = &socks[i % socks.len()];
            for d in cycle.datagrams() {
                match sock.send_to(d, args.target) {
                    Ok(_) => {
                        sent += 1;
                        bytes += d.len() as u64;
                    }
                    Err(_) => send_errors += 1,
                }
            }
            values += cycle.values as u64;
            if cycles % 32 == 0 {
                while let Ok((n, _)) = sock.recv_from(&mut rx) {
                    acks += 1;
                    note_ack(&rx[..n]);
                }
            }
        }
        for sock in &socks {
            while let Ok((n, _)) = sock.recv_from(&mut rx) {
                acks += 1;
                note_ack(&rx[..n]);
            }
        }
        let t = start.elapsed().as_secs_f64();
        if t - last_report >= 10.0 {
            let rss = args
                .pid
                .and_then(|p| procstat::status_kb(p, "VmRSS"))
                .map_or(String::new(), |kb| {
                    format!(", aggregator rss {:.1} MiB", mib(kb))
                });
            eprintln!(
                "loadgen: t={t:.0}s sent {:.0} datagrams/s, acks {:.0}/s{rss}",
                (sent - last_sent) as f64 / (t - last_report),
                (acks - last_acks) as f64 / (t - last_report)
            );
            (last_report, last_sent, last_acks) = (t, sent, acks);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = window_start.unwrap_or(start).elapsed().as_secs_f64();
    let cpu1 = args.pid.and_then(procstat::cpu_seconds);
    let my_cpu1 = procstat::cpu_seconds(me);
    let drops1 = pimon_aggregator::udp::kernel_drops_at_port(args.target.port());
    let total_sent = sent;
    // From here on, the figures of the measured window.
    let (cycles, sent, bytes, values) = (
        cycles - at_window.0,
        sent - at_window.1,
        bytes - at_window.2,
        values - at_window.3,
    );
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(1) {
        let mut got = false;
        for sock in &socks {
            while let Ok((n, _)) = sock.recv_from(&mut rx) {
                acks += 1;
                note_ack(&rx[..n]);
                got = true;
            }
        }
        if !got {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    stop.store(true, Ordering::Relaxed);
    // (figure, value, unit) for the RESULT lines.
    let mut results: Vec<(&str, f64, &str)> = Vec::new();
    let frames_acked: u64 = acked_below.iter().sum();
    println!("nodes                {}", args.nodes);
    println!("seconds              {elapsed:.1}");
    if args.warmup_s > 0.0 {
        println!(
            "warm-up              {:.1} s before them, {} datagrams (not in the rates below)",
            args.warmup_s,
            total_sent - sent
        );
    }
    println!(
        "cycles sent          {cycles} ({:.0}/s of {cycle_rate:.0}/s asked)",
        cycles as f64 / elapsed
    );
    println!(
        "datagrams sent       {sent} ({:.0}/s), send errors {send_errors}",
        sent as f64 / elapsed
    );
    println!(
        "values sent          {values} ({:.2} bytes/value, {})",
        bytes as f64 / values.max(1) as f64,
        if args.keyed { "keyed" } else { "unkeyed" }
    );
    println!("acks received        {acks} datagrams");
    println!(
        "frames acked         {frames_acked} ({:.1} % of sent)",
        100.0 * frames_acked as f64 / total_sent.max(1) as f64
    );
    if let (Some(d0), Some(d1)) = (drops0, drops1) {
        let drops = d1.saturating_sub(d0);
        println!(
            "kernel drops         {drops} in these {elapsed:.1} s ({:.2} % of their datagrams; /proc/net/udp)",
            100.0 * drops as f64 / sent.max(1) as f64
        );
        results.push(("window_kernel_drops", drops as f64, "datagrams"));
        results.push((
            "window_delivered_pct",
            100.0 - 100.0 * drops as f64 / sent.max(1) as f64,
            "%",
        ));
    }
    results.push(("datagrams_per_s", sent as f64 / elapsed, "1/s"));
    results.push((
        "values_per_cycle",
        values as f64 / cycles.max(1) as f64,
        "values",
    ));
    results.push(("bytes_per_value", bytes as f64 / values.max(1) as f64, "B"));
    if let (Some(a), Some(b)) = (my_cpu0, my_cpu1) {
        println!(
            "loadgen cpu          {:.1} % of one core",
            100.0 * (b - a) / elapsed
        );
        results.push(("loadgen_cpu", 100.0 * (b - a) / elapsed, "%"));
    }
    if let Some(scrape) = scrape {
        let fetches = scrape.join().unwrap_or_default();
        let ok: Vec<&Fetch> = fetches.iter().flatten().collect();
        let failed = fetches.len() - ok.len();
        if let Some(last) = ok.last() {
            let ms: Vec<f64> = ok.iter().map(|f| f.seconds * 1000.0).collect();
            // A scrape reports the render of the one before it: skip the first.
            let render: Vec<f64> = ok
                .iter()
                .skip(1)
                .filter_map(|f| f.render_seconds)
                .map(|r| r * 1000.0)
                .collect();
            let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            println!(
                "scrapes while sending {} ok, {failed} failed; fetch {:.0} ms median (max {:.0} ms); \
                 render {:.0} ms median (max {:.0} ms); last: {} bytes on the wire ({}{}), {} bytes of text, {} samples",
                ok.len(),
                median(ms.clone()),
                max(&ms),
                median(render.clone()),
                max(&render),
                last.wire_bytes,
                if last.gzip { "gzip" } else { "identity" },
                if last.chunked { ", chunked" } else { "" },
                last.text_bytes,
                last.samples
            );
            results.push(("scrape_ms", median(ms.clone()), "ms"));
            results.push(("scrape_ms_max", max(&ms), "ms"));
            if !render.is_empty() {
                results.push(("render_ms", median(render.clone()), "ms"));
                results.push(("render_ms_max", max(&render), "ms"));
            }
            results.push(("scrape_wire_bytes", last.wire_bytes as f64, "B"));
            results.push(("scrape_text_bytes", last.text_bytes as f64, "B"));
            results.push(("scrape_samples", last.samples as f64, "samples"));
        } else {
            println!("scrapes while sending none succeeded ({failed} failed)");
        }
        results.push(("scrapes_failed", failed as f64, "scrapes"));
    }
    let mut slow_reads = SlowReads::default();
    for h in slow {
        if let Ok(r) = h.join() {
            slow_reads.done += r.done;
            slow_reads.cut_off += r.cut_off;
            slow_reads.bytes += r.bytes;
        }
    }
    if args.slow_readers > 0 {
        println!(
            "slow readers         {}: {} bytes read, {} bodies read to the end, {} cut off",
            args.slow_readers, slow_reads.bytes, slow_reads.done, slow_reads.cut_off
        );
        results.push(("slow_reads_cut_off", slow_reads.cut_off as f64, "responses"));
    }
    if let Some(pid) = args.pid {
        if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
            println!(
                "aggregator cpu       {:.1} % of one core",
                100.0 * (c1 - c0) / elapsed
            );
            results.push(("aggregator_cpu", 100.0 * (c1 - c0) / elapsed, "%"));
        }
        let timeline = rss.and_then(|h| h.join().ok()).unwrap_or_default();
        let every_10s: Vec<String> = timeline
            .iter()
            .scan(-10.0f64, |last, &(t, kb)| {
                Some((t - *last >= 10.0).then(|| {
                    *last = t;
                    format!("{:.1}", mib(kb))
                }))
            })
            .flatten()
            .collect();
        println!(
            "aggregator rss/10 s  {} MiB (sampled every second, max {:.1} MiB)",
            every_10s.join(" "),
            mib(timeline.iter().map(|s| s.1).max().unwrap_or(0))
        );
        let rss = procstat::status_kb(pid, "VmRSS").unwrap_or(0);
        let hwm = procstat::status_kb(pid, "VmHWM").unwrap_or(0);
        let base = rss0.unwrap_or(0);
        println!(
            "aggregator rss       {:.1} MiB (peak {:.1} MiB, {:.1} MiB before the run)",
            mib(rss),
            mib(hwm),
            mib(base)
        );
        println!(
            "aggregator KiB/node  {:.2} (RSS / nodes), {:.2} (RSS growth / nodes), {:.2} (peak / nodes)",
            rss as f64 / args.nodes as f64,
            rss.saturating_sub(base) as f64 / args.nodes as f64,
            hwm as f64 / args.nodes as f64
        );
        results.push(("rss_mib", mib(rss), "MiB"));
        results.push(("peak_mib", mib(hwm), "MiB"));
        results.push(("kib_per_node", rss as f64 / args.nodes as f64, "KiB"));
        results.push(("peak_kib_per_node", hwm as f64 / args.nodes as f64, "KiB"));
    }
    if let Some(m) = args.metrics {
        let (mut fetch_ms, mut render_ms) = (Vec::new(), Vec::new());
        let mut last = None;
        for i in 0..args.scrapes.max(1) {
            let mut summary = Summary::default();
            match fetch(m, false, |l| summary.line(l)) {
                Ok(f) => {
                    fetch_ms.push(f.seconds * 1000.0);
                    // The first scrape reports a render from before the run.
                    if i > 0
                        && let Some(r) = summary.get(FIGURES[0])
                    {
                        render_ms.push(r * 1000.0);
                    }
                    last = Some((f, summary));
                }
                Err(e) => println!("/metrics             scrape failed: {e}"),
            }
        }
        if let Some((f, s)) = last {
            println!(
                "/metrics             {} bytes, {} samples{}; fetch {:.1} ms median of {} (max {:.1} ms)",
                f.text_bytes,
                f.samples,
                if f.chunked { ", chunked" } else { "" },
                median(fetch_ms.clone()),
                fetch_ms.len(),
                fetch_ms.iter().copied().fold(0.0, f64::max)
            );
            if !render_ms.is_empty() {
                println!(
                    "/metrics render      {:.1} ms median of {} (aggregator's own timing)",
                    median(render_ms.clone()),
                    render_ms.len()
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
            if let Some(stored) = s.get("pimon_node_frames_received_total") {
                println!(
                    "frames stored        {stored:.0} ({:.1} % of sent{}; the aggregator's pimon_node_frames_received_total)",
                    100.0 * stored / total_sent.max(1) as f64,
                    if args.warmup_s > 0.0 {
                        ", warm-up included"
                    } else {
                        ""
                    }
                );
                results.push(("stored_pct", 100.0 * stored / total_sent.max(1) as f64, "%"));
            }
            results.push((
                "nodes_with_data_pct",
                100.0 * s.with_data as f64 / args.nodes as f64,
                "%",
            ));
            if let Some(d) = s.get("pimon_aggregator_udp_kernel_drops_total") {
                results.push(("kernel_drops", d, "datagrams"));
            }
            let show = |name: &str| s.get(name).map_or("?".to_string(), |v| format!("{v:.0}"));
            println!(
                "aggregator counters  datagrams {}, acks sent {} (send errors {}), kernel drops {}, \
                 series {}, store {} bytes",
                show(FIGURES[1]),
                show(FIGURES[2]),
                show(FIGURES[3]),
                show(FIGURES[4]),
                show(FIGURES[5]),
                show(FIGURES[6])
            );
        }
    }
    if let Some(label) = &args.label {
        for (figure, value, unit) in results {
            println!("RESULT {label}.{figure} {value:.2} {unit}");
        }
    }
}
