//! A real aggregator (`Server::bind` + `run`) on 127.0.0.1 ephemeral ports, in a thread,
//! stopped through its shutdown future; plus raw HTTP and UDP helpers. Used by the core
//! server tests (`udp_*`, `http_*`, `limits_*`, `prom_*`). Include with `mod running;`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pimon_aggregator::config::Config;
use pimon_aggregator::ingest::Ingest;
use pimon_aggregator::server::Server;
use pimon_aggregator::stats::AggregatorStats;

/// Defaults with every socket on 127.0.0.1:0.
pub fn local_config() -> Config {
    Config {
        udp: vec!["127.0.0.1:0".parse().unwrap()],
        udp_receive_buffer: 1 << 20,
        http: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}

/// A running aggregator.
pub struct Running {
    pub udp: SocketAddr,
    pub http: SocketAddr,
    pub ingest: Arc<Mutex<Ingest>>,
    pub stats: Arc<AggregatorStats>,
    /// The collectd listener, when configured.
    pub collectd: Option<SocketAddr>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Running {
    pub fn start(config: Config) -> Running {
        let server = Server::bind(config).expect("bind");
        let udp = server.udp_addrs()[0];
        let http = server.http_addr().expect("http");
        let ingest = server.ingest();
        let stats = server.stats();
        let collectd = server.inputs().and_then(|i| i.collectd_addr());
        let (tx, rx) = smol::channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            smol::block_on(server.run(async move {
                let _ = rx.recv().await;
            }))
            .map_err(|e| e.to_string())
        });
        Running {
            udp,
            http,
            ingest,
            stats,
            collectd,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// Completes the shutdown future and waits for `run` to return.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.take();
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("server thread panicked")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw HTTP exchange: sends `request` bytes, reads until the server closes.
/// Returns (head, body), the body de-chunked when it was sent chunked.
pub fn http_raw(addr: SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read response");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8(all[..split].to_vec()).unwrap();
    let body = &all[split + 4..];
    let body = if header(&head, "transfer-encoding") == Some("chunked") {
        dechunk(body).expect("a well-formed chunked body")
    } else {
        body.to_vec()
    };
    (head, body)
}

/// A header's value in a response head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The data of a whole chunked body (`None` if it is cut short or malformed).
pub fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(data);
        }
        data.extend_from_slice(body.get(..size)?);
        if body.get(size..size + 2)? != b"\r\n" {
            return None;
        }
        body = &body[size + 2..];
    }
}

/// Reads one response from `s` (which stays open for keep-alive): its head, and its
/// body by `Content-Length`, chunked, or up to the close. Returns (head, body).
pub fn read_response(s: &mut impl Read) -> std::io::Result<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).map_err(std::io::Error::other)?;
    let mut body = Vec::new();
    if header(&head, "transfer-encoding") == Some("chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                s.read_exact(&mut byte)?;
                line.push(byte[0]);
            }
            let size =
                std::str::from_utf8(&line[..line.len() - 2]).map_err(std::io::Error::other)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0u8; size + 2];
            s.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = header(&head, "content-length") {
        body.resize(len.parse().map_err(std::io::Error::other)?, 0);
        s.read_exact(&mut body)?;
    } else {
        s.read_to_end(&mut body)?;
    }
    Ok((head.trim_end().to_string(), body))
}

/// `GET path` with extra header lines (each ending in `\r\n`), `Connection: close`.
pub fn get(addr: SocketAddr, path: &str, headers: &str) -> (String, Vec<u8>) {
    http_raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n"),
    )
}

/// The text exposition.
pub fn metrics(addr: SocketAddr) -> String {
    let (head, body) = get(addr, "/metrics", "");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    String::from_utf8(body).unwrap()
}

/// A UDP socket on 127.0.0.1 that waits at most 5 s for a datagram.
pub fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `datagram` and returns the next datagram received (the ack).
pub fn send_for_ack(sock: &UdpSocket, to: SocketAddr, datagram: &[u8]) -> Vec<u8> {
    sock.send_to(datagram, to).unwrap();
    recv(sock).expect("an ack")
}

/// The next datagram, or `None` after the socket's timeout.
pub fn recv(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}
