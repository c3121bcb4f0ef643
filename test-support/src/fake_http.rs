//! A tiny recording HTTP/1.1 server on 127.0.0.1:0 for tests: each connection carries
//! one request (read by `Content-Length`), which is recorded byte for byte and answered
//! with the raw response the test's responder returns; then the connection is closed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// One received request.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Exactly the bytes received (head and body).
    pub raw: Vec<u8>,
    /// The request line's method.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Header lines as received.
    pub headers: Vec<(String, String)>,
    /// The body as received (still gzipped if it was).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// First header value by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub fn decoded_body(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .expect("body is not valid gzip");
            out
        } else {
            self.body.clone()
        }
    }
}

/// Raw response builder: `HTTP/1.1 {status} X`, the headers, `Content-Length`, body.
pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} Status\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

type Responder = Box<dyn FnMut(&RecordedRequest) -> Vec<u8> + Send>;

/// The fake server. Stops on drop.
pub struct FakeHttpServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl FakeHttpServer {
    /// Starts a server answering each request with `responder(request)` (raw bytes).
    pub fn start(
        responder: impl FnMut(&RecordedRequest) -> Vec<u8> + Send + 'static,
    ) -> FakeHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut responder: Responder = Box::new(responder);
        let (reqs, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(request) = read_request(&mut conn) else {
                    continue;
                };
                let answer = responder(&request);
                reqs.lock().unwrap().push(request);
                let _ = conn.write_all(&answer);
                let _ = conn.flush();
            }
        });
        FakeHttpServer {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            port,
            thread: Some(thread),
        }
    }

    /// A server that always answers `204 No Content`.
    pub fn always_204() -> FakeHttpServer {
        FakeHttpServer::start(|_| response(204, &[], ""))
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(conn: &mut TcpStream) -> Option<RecordedRequest> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while raw.len() < head_end + 4 + length {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let body = raw[head_end + 4..].to_vec();
    Some(RecordedRequest {
        raw,
        method,
        target,
        headers,
        body,
    })
}
