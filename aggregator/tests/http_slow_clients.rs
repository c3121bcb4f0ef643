//! Clients that hold connections without finishing a request (slowloris) must not keep
//! a scrape out: a request head has a total deadline, and a new client takes the slot
//! of the connection that has waited longest for a head.

mod frames;
mod running;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use frames::Frame;
use pimon_aggregator::server::now_ms;
use running::{Running, client, local_config, read_response, send_for_ack};

/// `count` connections that send a request line and then one header byte every
/// `every`, never finishing the head, until `stop`; reconnecting when the server
/// closes one. Returns how many connections it opened in all.
fn tricklers(
    addr: SocketAddr,
    count: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        let open = || {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").ok()?;
            Some(s)
        };
        let mut conns: Vec<Option<TcpStream>> = (0..count).map(|_| open()).collect();
        let mut opened = count;
        while !stop.load(Ordering::Relaxed) {
            for c in &mut conns {
                let alive = c.as_mut().is_some_and(|s| s.write_all(b"a").is_ok());
                if !alive {
                    *c = open();
                    opened += 1;
                }
            }
            std::thread::sleep(every);
        }
        opened
    })
}

#[test]
fn a_scrape_is_served_while_trickling_connections_hold_every_slot() {
    let config = local_config();
    let max = config.http_config.max_connections;
    let timeout = config.http_config.timeout;
    let server = Running::start(config);
    send_for_ack(&client(), server.udp, &Frame::pi("pi").at(now_ms()).bytes());
    let stop = Arc::new(AtomicBool::new(false));
    // More trickling connections than slots, each sending a byte every 300 ms: far
    // within any per-read timeout.
    let attack = tricklers(
        server.http,
        max + 16,
        Duration::from_millis(300),
        stop.clone(),
    );
    std::thread::sleep(Duration::from_millis(1500));

    let start = Instant::now();
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let response = read_response(&mut s);
    let waited = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let opened = attack.join().unwrap();
    let (head, body) = response.unwrap_or_else(|e| {
        panic!("no answer within the {timeout:?} timeout ({e}) while {max}+16 connections trickled")
    });
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("node_load1{instance=\"pi\"} 0.25\n"));
    // Served at once, not after some attacker's connection timed out.
    assert!(
        waited < Duration::from_secs(3),
        "the scrape waited {waited:?}"
    );
    let evicted = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "pimon_aggregator_http_connections_closed_total{reason=\"evicted_waiting\"} ",
            )
        })
        .expect("the eviction counter")
        .parse::<u64>()
        .unwrap();
    assert!(
        evicted >= 1,
        "{evicted} evicted; the attack opened {opened}"
    );
}

#[test]
fn a_request_head_trickled_in_is_cut_off_at_its_deadline() {
    let mut config = local_config();
    config.http_config.timeout = Duration::from_millis(600);
    let server = Running::start(config);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").unwrap();
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let closed_after = loop {
        // One byte every 100 ms: each read is far within the timeout.
        let _ = s.write_all(b"a");
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Ok(n) => panic!("an answer to an unfinished head: {:?}", &buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => break start.elapsed(),
        }
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "a head trickled in for 4 s is still being read (timeout 600 ms)"
        );
    };
    assert!(
        closed_after >= Duration::from_millis(500),
        "closed after {closed_after:?}: before its deadline"
    );
    let text = running::metrics(server.http);
    assert!(
        text.contains(
            "pimon_aggregator_http_connections_closed_total{reason=\"head_timeout\"} 1\n"
        ),
        "{}",
        text.lines()
            .filter(|l| l.contains("http_connections"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn idle_keep_alive_connections_make_room_for_a_new_client() {
    let mut config = local_config();
    config.http_config.max_connections = 2;
    let server = Running::start(config);
    // Two clients that scraped once and keep their connections open, idle.
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(server.http).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            read_response(&mut s).unwrap();
            s
        })
        .collect();
    let start = Instant::now();
    let text = running::metrics(server.http);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(text.contains(
        "pimon_aggregator_http_connections_closed_total{reason=\"evicted_waiting\"} 1\n"
    ));
    // The one that waited longest was closed; the other still works.
    let mut buf = [0u8; 1];
    match idle[0].read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the longest idle connection is still open: {other:?}"),
    }
    idle[1]
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut idle[1]).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
}
