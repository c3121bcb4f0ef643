//! Counters from the aggregator's `/metrics`, parsed strictly
//! ([`crate::exposition::parse_prometheus`]): the aggregator's own
//! (`pimon_aggregator_*`, `pimon_lp_out_*`, `pimon_influx_*`), each node's
//! (`pimon_node_*{instance}`) and each collector's, which travel in its frames and are
//! served as the node's series (`pimon_collector_*{instance}`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::exposition::{PromSample, parse_prometheus};

/// `GET /metrics` as a scraper makes it (`Connection: close`, read to the end within
/// `timeout`), decoding a chunked body: the text and the time the whole answer took.
/// Plain sockets, linear in the body's size, so a fleet's 20 MB exposition costs the
/// test milliseconds, not the seconds a general client's decoder may take.
pub fn fetch(addr: SocketAddr, timeout: Duration) -> Result<(String, Duration), String> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut s =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: pimon\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "GET /metrics on {addr}: timed out after {} bytes",
                raw.len()
            ));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "GET /metrics on {addr}: timed out after {timeout:?} ({} bytes read)",
                    raw.len()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "GET /metrics on {addr}: after {} bytes: {e}",
                    raw.len()
                ));
            }
        }
    }
    let took = start.elapsed();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the response head")?;
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 200") {
        return Err(format!(
            "GET /metrics on {addr}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    let mut body = &raw[end + 4..];
    let text = if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::with_capacity(body.len());
        loop {
            let line_end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("a chunk size line without its end")?;
            let size_text = String::from_utf8_lossy(&body[..line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            body = &body[line_end + 2..];
            if size == 0 {
                break;
            }
            let chunk = body.get(..size).ok_or("a chunk cut short")?;
            out.extend_from_slice(chunk);
            body = body.get(size + 2..).ok_or("a chunk without its CRLF")?;
        }
        out
    } else {
        body.to_vec()
    };
    String::from_utf8(text)
        .map(|t| (t, took))
        .map_err(|_| "the exposition is not UTF-8".to_string())
}

/// One parsed `/metrics` answer.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// Every sample.
    pub samples: Vec<PromSample>,
    /// `(name, instance)` → index of the first such sample (a fleet's scrape has
    /// hundreds of thousands of samples).
    by_instance: HashMap<(String, String), usize>,
}

impl Scrape {
    /// Parses an exposition; panics naming the bad line.
    pub fn parse(text: &str) -> Scrape {
        let samples = parse_prometheus(text).unwrap_or_else(|e| panic!("/metrics: {e}"));
        let mut by_instance = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            if let Some(instance) = s.label("instance") {
                by_instance
                    .entry((s.name.clone(), instance.to_string()))
                    .or_insert(i);
            }
        }
        Scrape {
            samples,
            by_instance,
        }
    }

    /// The value of `name` with at least the labels `labels` (the first match).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
    }

    /// `name{instance="node"}` (the first such sample), 0 when absent.
    pub fn node(&self, name: &str, node: &str) -> f64 {
        self.by_instance
            .get(&(name.to_string(), node.to_string()))
            .map_or(0.0, |&i| self.samples[i].value)
    }

    /// The sum of every sample of `name` with at least `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .sum()
    }

    /// Samples whose `instance` label is `node`.
    pub fn series_of(&self, node: &str) -> usize {
        self.samples
            .iter()
            .filter(|s| s.label("instance") == Some(node))
            .count()
    }

    /// Distinct `instance` label values.
    pub fn instances(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .samples
            .iter()
            .filter_map(|s| s.label("instance").map(String::from))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The loss and duplicate counters of one node, both sides.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCounters {
    /// `pimon_node_frames_received_total`.
    pub received: f64,
    /// `pimon_node_frames_duplicate_total`.
    pub duplicate: f64,
    /// `pimon_node_frames_missing_total`.
    pub missing: f64,
    /// `pimon_node_frames_replayed_total`.
    pub replayed: f64,
    /// `pimon_node_boot_id_changes_total`.
    pub boot_id_changes: f64,
    /// The collector's `pimon_collector_frames_sent_total`.
    pub collector_sent: f64,
    /// The collector's `pimon_collector_frames_resent_total`.
    pub collector_resent: f64,
    /// The collector's `pimon_collector_frames_dropped_total`.
    pub collector_dropped: f64,
    /// `pimon_node_up`.
    pub up: f64,
}

impl NodeCounters {
    /// Reads them from a scrape.
    pub fn of(scrape: &Scrape, node: &str) -> NodeCounters {
        NodeCounters {
            received: scrape.node("pimon_node_frames_received_total", node),
            duplicate: scrape.node("pimon_node_frames_duplicate_total", node),
            missing: scrape.node("pimon_node_frames_missing_total", node),
            replayed: scrape.node("pimon_node_frames_replayed_total", node),
            boot_id_changes: scrape.node("pimon_node_boot_id_changes_total", node),
            collector_sent: scrape.node("pimon_collector_frames_sent_total", node),
            collector_resent: scrape.node("pimon_collector_frames_resent_total", node),
            collector_dropped: scrape.node("pimon_collector_frames_dropped_total", node),
            up: scrape.node("pimon_node_up", node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn serve(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            s.write_all(answer).expect("answer");
        });
        addr
    }

    #[test]
    fn fetch_reads_chunked_and_plain_bodies_and_refuses_errors() {
        let chunked = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nup 1\n\r\n3;x=y\r\nx 2\r\n0\r\n\r\n");
        assert_eq!(
            fetch(chunked, Duration::from_secs(5)).unwrap().0,
            "up 1\nx 2"
        );
        let plain = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nup 1\n");
        assert_eq!(fetch(plain, Duration::from_secs(5)).unwrap().0, "up 1\n");
        let missing = serve(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert!(
            fetch(missing, Duration::from_secs(5))
                .unwrap_err()
                .contains("404")
        );
        let torn = serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\nshort");
        assert!(fetch(torn, Duration::from_secs(5)).is_err());
    }
}
