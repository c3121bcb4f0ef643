//! Hostile HTTP clients of `/metrics` beside a legitimate scraper:
//!
//! - slowloris: 80 connections trickling a request head one byte every 2 s hold
//!   every slot; a legitimate scrape must still be served within its timeout (10 s,
//!   Prometheus' default scrape timeout);
//! - 16 scrapers that read a large exposition (1,000 real-sized nodes) a few bytes at
//!   a time: the aggregator's RSS must stay bounded (streamed, bounded memory per
//!   connection) while they are connected and after they go, and a legitimate
//!   scrape is still served within its timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::chaos::{ChaosConfig, ChaosProxy};
use pimon_e2e::fleet::Fleet;
use pimon_e2e::pimon::{Aggregator, AggregatorSetup};
use pimon_e2e::{rng, wait};

/// A legitimate scrape's timeout.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One whole `GET /metrics` as a scraper makes it, within `SCRAPE_TIMEOUT`: the time
/// it took, or why it failed.
fn legitimate_scrape(aggregator: &Aggregator) -> Result<Duration, String> {
    pimon_e2e::scrape::fetch(aggregator.http, SCRAPE_TIMEOUT).map(|(_, took)| took)
}

/// The value of an unlabelled sample `name` in exposition `text` (a fleet's
/// exposition is too large to parse in full just for that).
fn unlabelled(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Clients that run until dropped.
struct Clients {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `n` connections, each sending a request head one byte every `every`, never
/// finishing it (and reconnecting when the server closes it).
fn slowloris(to: SocketAddr, n: usize, every: Duration) -> Clients {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let head = b"GET /metrics HTTP/1.1\r\nHost: pimon\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = TcpStream::connect(to) else {
                        thread::sleep(every);
                        continue;
                    };
                    for b in head.iter().cycle() {
                        if stop.load(Ordering::Relaxed) || s.write_all(&[*b]).is_err() {
                            break;
                        }
                        thread::sleep(every);
                    }
                }
            })
        })
        .collect();
    Clients { stop, threads }
}

#[test]
fn slowloris_connections_do_not_keep_a_legitimate_scrape_past_its_timeout() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let mut aggregator = setup.start();
    let proxy = ChaosProxy::start(
        "slowloris",
        aggregator.udp,
        ChaosConfig::new(rng::seed("slowloris")),
    );
    let mut fleet = Fleet::start(&[("pizero", "pizero-scraped")], proxy.addr(), |c| c);
    let attack = slowloris(aggregator.http, 80, Duration::from_secs(2));
    // Let them take every slot.
    thread::sleep(Duration::from_secs(2));
    let mut results = Vec::new();
    for _ in 0..2 {
        results.push(legitimate_scrape(&aggregator));
        thread::sleep(Duration::from_secs(1));
    }
    drop(attack);
    eprintln!("figures: legitimate scrapes beside 80 slowloris connections: {results:?}");
    aggregator.assert_running("after slowloris");
    fleet.stop();
    let bad: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            Ok(t) if *t < SCRAPE_TIMEOUT => None,
            Ok(t) => Some(format!("took {t:?}")),
            Err(e) => Some(e.clone()),
        })
        .collect();
    assert!(
        bad.is_empty(),
        "with 80 slowloris connections open, a legitimate scrape must be served within {SCRAPE_TIMEOUT:?}: {bad:?}"
    );
    drop(setup);
}

/// Sends both parts of a real Pi 4 cycle (captured from a collector) for `nodes`
/// made-up nodes of the same name length: a store of real-sized nodes.
fn populate(aggregator: &Aggregator, nodes: usize) {
    let proxy = ChaosProxy::start(
        "capture",
        aggregator.udp,
        ChaosConfig::new(rng::seed("capture")),
    );
    // A long interval: the copies' series stay fresh (3 intervals) for the whole test.
    let mut source = Fleet::start(&[("pi4", "n-capture")], proxy.addr(), |c| c.interval("1m"));
    let parts = wait::until(Duration::from_secs(10), "a captured Pi 4 cycle", || {
        let ledger = proxy.ledger();
        let cycle = ledger
            .cycles("n-capture")
            .into_iter()
            .find(|c| c.complete())
            .ok_or("no complete cycle yet")?;
        Ok(cycle
            .frames
            .iter()
            .map(|(seq, _, _)| {
                proxy
                    .recorded(&pimon_e2e::ledger::FrameId {
                        node: cycle.node.clone(),
                        boot_id: cycle.boot_id,
                        seq: *seq,
                    })
                    .expect("recorded")
            })
            .collect::<Vec<_>>())
    });
    source.stop();
    let mut attacker = pimon_e2e::forge::Attacker::bind(20);
    // The name is a length byte and 9 bytes right after the 16-byte preamble.
    assert_eq!(parts[0][16] as usize, "n-capture".len());
    for n in 0..nodes {
        let name = format!("n-{n:07}");
        let batch: Vec<Vec<u8>> = parts
            .iter()
            .map(|p| {
                let mut d = p.clone();
                d[17..26].copy_from_slice(name.as_bytes());
                d
            })
            .collect();
        attacker.send_batch(aggregator.udp, &batch);
        if n % 100 == 99 {
            thread::sleep(Duration::from_millis(20));
        }
    }
    wait::until(Duration::from_secs(20), "every made-up node stored", || {
        let have =
            unlabelled(&aggregator.metrics(), "pimon_aggregator_nodes").unwrap_or(0.0) as usize;
        if have > nodes {
            Ok(())
        } else {
            Err(format!("{have} nodes"))
        }
    });
}

/// `n` clients that request `/metrics` and read the answer 100 bytes every 100 ms.
fn slow_readers(to: SocketAddr, n: usize) -> Clients {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..n)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(to) else {
                    return;
                };
                let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: pimon\r\n\r\n");
                let mut buf = [0u8; 100];
                while !stop.load(Ordering::Relaxed) {
                    if matches!(s.read(&mut buf), Ok(0) | Err(_)) {
                        return;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    Clients { stop, threads }
}

#[test]
fn slow_reading_scrapers_keep_the_aggregators_memory_bounded() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator));
    let mut aggregator = setup.start();
    populate(&aggregator, 1000);
    // One complete scrape first, as Prometheus would have made: the baseline includes
    // whatever one scrape keeps.
    let alone = legitimate_scrape(&aggregator);
    let exposition = aggregator.metrics();
    let body = exposition.len();
    let series = exposition
        .lines()
        .filter(|l| l.contains("instance=\"n-"))
        .count();
    assert!(
        series > 200_000,
        "the store must hold 1,000 real-sized nodes for this test: {series} series of them on /metrics ({body} bytes)"
    );
    drop(exposition);
    let base = aggregator.usage().rss_kib;
    let readers = slow_readers(aggregator.http, 16);
    thread::sleep(Duration::from_secs(5));
    let during = aggregator.usage().rss_kib;
    let scrape = legitimate_scrape(&aggregator);
    drop(readers);
    thread::sleep(Duration::from_secs(2));
    let after = aggregator.usage().rss_kib;
    let peak = aggregator.usage().peak_rss_kib;
    aggregator.assert_running("after the slow readers");
    eprintln!(
        "figures: /metrics {body} bytes, a scrape alone {alone:?}, beside 16 slow readers {scrape:?}; RSS {base} KiB before, {during} KiB with them, {after} KiB after, peak {peak} KiB"
    );
    let bound_kib = 64 * 1024;
    assert!(
        during.saturating_sub(base) < bound_kib && after.saturating_sub(base) < bound_kib,
        "16 slow readers of a {body}-byte /metrics grew the aggregator's RSS from {base} KiB to {during} KiB ({after} KiB after they left); each connection's memory must be bounded (growth < {} MiB)",
        bound_kib / 1024
    );
    let t = scrape
        .unwrap_or_else(|e| panic!("a legitimate scrape beside the slow readers failed: {e}"));
    assert!(
        t < SCRAPE_TIMEOUT,
        "a legitimate scrape beside the slow readers took {t:?}"
    );
    drop(setup);
}
