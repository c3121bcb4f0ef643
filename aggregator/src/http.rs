//! A minimal HTTP/1.1 server for `/metrics`, on smol.
//!
//! - `GET /metrics` (and `HEAD`): the exposition. Prometheus text format 0.0.4
//!   (`text/plain; version=0.0.4; charset=utf-8`), or OpenMetrics 1.0.0 when the
//!   `Accept` header prefers `application/openmetrics-text`; gzip when
//!   `Accept-Encoding` allows it.
//! - Other pages the provider serves ([`MetricsProvider::page`]: the status page `/`,
//!   `/node/<name>`, `/api/nodes`, see [`crate::status`]); without them `GET /` is a
//!   short help page. Other paths: 404; other methods: 405.
//! - With pushes enabled, `PUT`/`POST`/`DELETE /metrics/job/…`: the Pushgateway API;
//!   the body is read here ([`crate::ingress::http_body`]) and the request handed to
//!   [`MetricsProvider::push`].
//! - Bounded: at most `max_connections` at once (further clients wait in the kernel's
//!   accept queue), a request head of at most 8 KiB, and a timeout on reading a request
//!   and on writing a response. Keep-alive is supported.
//!
//! Request parsing ([`parse_request`]) is a pure function that never panics.

use std::future::Future;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use pimon_protocol::text::prometheus::Format;
use smol::Async;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::lock::Semaphore;

use crate::ingress::http_body::{self, Framing};
use crate::ingress::push::Reply;

/// Longest request head (request line and headers).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Settings of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time allowed to receive a request head (and idle time between keep-alive
    /// requests), and to write a response.
    pub timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 64,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the server serves on `/metrics`.
pub trait MetricsProvider: Send + Sync + 'static {
    /// Renders the exposition in `format` into `out` (empty on entry).
    fn render(&self, format: Format, out: String) -> impl Future<Output = String> + Send;

    /// Takes back a body buffer for reuse.
    fn recycle(&self, _buf: String) {}

    /// Another page at `path` (the status page): its content type and body, or `None`
    /// when the provider has none there.
    fn page(&self, _path: &str) -> impl Future<Output = Option<(&'static str, Vec<u8>)>> + Send {
        std::future::ready(None)
    }

    /// The largest push body read, when the Pushgateway API is on (`None`: PUT,
    /// POST and DELETE are answered 405).
    fn push_body_limit(&self) -> Option<usize> {
        None
    }

    /// Checked before a push's body is read (credentials): `Some` answers at once.
    fn push_precheck(&self, _request: &Request) -> Option<Reply> {
        None
    }

    /// A push answered without reading its body (too large, malformed): for counting.
    fn push_unread(&self, reply: Reply) -> Reply {
        reply
    }

    /// Answers a push (see [`crate::ingress::runtime::Ingress::push`]).
    fn push(&self, _request: &Request, _body: Vec<u8>) -> impl Future<Output = Reply> + Send {
        std::future::ready(Reply::error(405, "pushes are not enabled"))
    }
}

/// The method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// PUT (pushes).
    Put,
    /// POST (pushes).
    Post,
    /// DELETE (pushes).
    Delete,
    /// Anything else.
    Other,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Path without the query string.
    pub path: String,
    /// Format the client prefers.
    pub format: Format,
    /// The client accepts a gzip body.
    pub gzip: bool,
    /// The connection stays open after the response.
    pub keep_alive: bool,
    /// Length of the head including the blank line.
    pub head_len: usize,
    /// How the body is framed.
    pub framing: Framing,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// `Authorization`, `Content-Encoding`, `Content-Type` (for pushes).
    pub authorization: Option<String>,
    /// See `authorization`.
    pub content_encoding: Option<String>,
    /// See `authorization`.
    pub content_type: Option<String>,
}

/// Why a request head was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Not HTTP/1.x, or a malformed line.
    BadRequest,
    /// The head is longer than [`MAX_REQUEST_HEAD`].
    HeadTooLarge,
}

/// Parses a request head from the start of `buf`: `Ok(None)` when it is not complete yet.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_REQUEST_HEAD {
            Err(HttpError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if end + 4 > MAX_REQUEST_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::BadRequest)?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().ok_or(HttpError::BadRequest)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequest);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HttpError::BadRequest),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Method::Other,
        _ => return Err(HttpError::BadRequest),
    };
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut accept = "";
    let mut accept_encoding = "";
    let mut keep_alive = http11;
    let mut has_body = false;
    let mut framing = Framing::None;
    let mut expect_continue = false;
    let (mut authorization, mut content_encoding, mut content_type) = (None, None, None);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(HttpError::BadRequest)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("accept") {
            accept = value;
        } else if name.eq_ignore_ascii_case("accept-encoding") {
            accept_encoding = value;
        } else if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            has_body = value != "0";
            let n = value.parse().map_err(|_| HttpError::BadRequest)?;
            if framing == Framing::None {
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
            if value.eq_ignore_ascii_case("chunked") {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-encoding") {
            content_encoding = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_string());
        }
    }
    Ok(Some(Request {
        method,
        path,
        format: negotiate_format(accept),
        gzip: accepts_gzip(accept_encoding),
        // A request with a body we do not read: close after answering.
        keep_alive: keep_alive && !has_body,
        head_len: end + 4,
        framing,
        expect_continue,
        authorization,
        content_encoding,
        content_type,
    }))
}

/// The `q` of a media range's parameters (1 when absent, 0 when malformed).
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> f32 {
    for p in params {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("q")
        {
            return v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
        }
    }
    1.0
}

/// OpenMetrics when `Accept` gives `application/openmetrics-text` a higher quality than
/// `text/plain` (and `*/*`); otherwise text 0.0.4.
pub fn negotiate_format(accept: &str) -> Format {
    let (mut om, mut text) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = quality(parts);
        if media.eq_ignore_ascii_case("application/openmetrics-text") {
            om = om.max(q);
        } else if media.eq_ignore_ascii_case("text/plain")
            || media == "*/*"
            || media.eq_ignore_ascii_case("text/*")
        {
            text = text.max(q);
        }
    }
    if om > 0.0 && om > text {
        Format::OpenMetrics
    } else {
        Format::Text004
    }
}

/// True when `Accept-Encoding` allows gzip (`gzip` or `*` with a non-zero q).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        (name.eq_ignore_ascii_case("gzip") || name == "*") && quality(parts) > 0.0
    })
}

const HELP_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>pimon-aggregator</title></head><body>\n\
<h1>pimon-aggregator</h1>\n\
<p>Metrics of every pimon collector node, with node_exporter's names and an\n\
<code>instance</code> label per node: <a href=\"/metrics\">/metrics</a>.</p>\n\
<p>Scrape it with <code>honor_labels: true</code> so Prometheus keeps the node names:</p>\n\
<pre>scrape_configs:\n  - job_name: pimon\n    honor_labels: true\n    static_configs:\n      - targets: ['aggregator-host:9798']</pre>\n\
</body></html>\n";

/// Serves HTTP on `listener` until `shutdown` completes.
pub async fn serve<P: MetricsProvider>(
    listener: Async<TcpListener>,
    config: HttpConfig,
    provider: Arc<P>,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let accept_loop = async {
        loop {
            let permit = limit.acquire_arc().await;
            let (stream, peer) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("pimon-aggregator: http accept: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let provider = provider.clone();
            smol::spawn(async move {
                let _ = serve_connection(stream, peer, config, &*provider).await;
                drop(permit);
            })
            .detach();
        }
    };
    accept_loop.or(shutdown).await;
}

async fn with_timeout<T>(
    d: Duration,
    f: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    f.or(async {
        smol::Timer::after(d).await;
        Err(std::io::ErrorKind::TimedOut.into())
    })
    .await
}

async fn serve_connection<P: MetricsProvider>(
    mut stream: Async<TcpStream>,
    _peer: SocketAddr,
    config: HttpConfig,
    provider: &P,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Read one request head.
        let request = loop {
            match parse_request(&buf) {
                Ok(Some(r)) => break Ok(r),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            let n = with_timeout(config.timeout, stream.read(&mut chunk)).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let (status, text) = match e {
                    HttpError::BadRequest => ("400 Bad Request", "bad request\n"),
                    HttpError::HeadTooLarge => (
                        "431 Request Header Fields Too Large",
                        "request head too large\n",
                    ),
                };
                let resp = simple_response(status, text, false, &[]);
                with_timeout(config.timeout, stream.write_all(&resp)).await?;
                return Ok(());
            }
        };
        buf.drain(..request.head_len);
        if let Some(limit) = provider.push_body_limit()
            && matches!(request.method, Method::Put | Method::Post | Method::Delete)
            && request.path.starts_with("/metrics/")
        {
            let reply = match provider.push_precheck(&request) {
                Some(reply) => reply,
                None => {
                    let body = http_body::read_body(
                        &mut stream,
                        &mut buf,
                        request.framing,
                        request.expect_continue,
                        limit,
                        config.timeout,
                    )
                    .await?;
                    match body {
                        Ok(body) => provider.push(&request, body).await,
                        Err(reply) => provider.push_unread(reply),
                    }
                }
            };
            let response = http_body::encode_reply(&reply);
            with_timeout(config.timeout, stream.write_all(&response)).await?;
            with_timeout(config.timeout, stream.flush()).await?;
            return Ok(());
        }
        let keep_alive = request.keep_alive;
        let response = respond(&request, provider).await;
        with_timeout(config.timeout, stream.write_all(&response)).await?;
        with_timeout(config.timeout, stream.flush()).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn simple_response(status: &str, body: &str, keep_alive: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in extra {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// Builds the whole response (head and body) to `request`.
pub async fn respond<P: MetricsProvider>(request: &Request, provider: &P) -> Vec<u8> {
    let keep_alive = request.keep_alive;
    if !matches!(request.method, Method::Get | Method::Head) {
        return simple_response(
            "405 Method Not Allowed",
            "only GET and HEAD\n",
            keep_alive,
            &[("Allow", "GET, HEAD")],
        );
    }
    let head_only = request.method == Method::Head;
    let (content_type, body, gzip): (&str, Vec<u8>, bool) = match request.path.as_str() {
        "/metrics" => {
            let text = provider.render(request.format, String::new()).await;
            let body = if request.gzip {
                gzip(text.as_bytes())
            } else {
                text.as_bytes().to_vec()
            };
            provider.recycle(text);
            (request.format.content_type(), body, request.gzip)
        }
        path => match provider.page(path).await {
            Some((content_type, body)) => {
                if request.gzip && body.len() > 1024 {
                    (content_type, gzip(&body), true)
                } else {
                    (content_type, body, false)
                }
            }
            None if path == "/" => (
                "text/html; charset=utf-8",
                HELP_PAGE.as_bytes().to_vec(),
                false,
            ),
            None => return not_found(head_only, keep_alive),
        },
    };
    let mut out = Vec::with_capacity(256 + if head_only { 0 } else { body.len() });
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}Vary: Accept, Accept-Encoding\r\nConnection: {}\r\n\r\n",
        body.len(),
        if gzip {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        },
        if keep_alive { "keep-alive" } else { "close" }
    );
    if !head_only {
        out.extend_from_slice(&body);
    }
    out
}

fn not_found(head_only: bool, keep_alive: bool) -> Vec<u8> {
    let body = "not found: try /metrics\n";
    let mut response = simple_response("404 Not Found", body, keep_alive, &[]);
    if head_only {
        // A response to HEAD has no body: on a kept-alive connection the client
        // would read it as the start of the next response (found by fuzzing).
        response.truncate(response.len() - body.len());
    }
    response
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_scrape_request() {
        let req = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n\r\nGET";
        let r = parse_request(req).unwrap().unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/metrics");
        assert_eq!(r.format, Format::OpenMetrics);
        assert!(r.gzip);
        assert!(r.keep_alive);
        assert_eq!(r.head_len, req.len() - 3);
    }

    #[test]
    fn text_format_by_default_and_when_preferred() {
        assert_eq!(negotiate_format(""), Format::Text004);
        assert_eq!(
            negotiate_format("text/plain;version=0.0.4"),
            Format::Text004
        );
        assert_eq!(
            negotiate_format("application/openmetrics-text;q=0.5,text/plain"),
            Format::Text004
        );
        assert_eq!(
            negotiate_format("application/openmetrics-text; version=1.0.0"),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate_format("application/openmetrics-text;q=0"),
            Format::Text004
        );
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }

    #[test]
    fn incomplete_bad_and_huge_heads() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(
            parse_request(b"GET / SPDY/3\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            parse_request(b"GET  / HTTP/1.1\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n"),
            Err(HttpError::BadRequest)
        );
        let huge = vec![b'a'; MAX_REQUEST_HEAD + 1];
        assert_eq!(parse_request(&huge), Err(HttpError::HeadTooLarge));
        let r = parse_request(b"POST /metrics HTTP/1.0\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, Method::Post);
        assert_eq!(r.framing, Framing::Length(5));
        assert!(!r.keep_alive);
    }

    /// Fuzz target `http_request`, input `HEAD ? HTTP/1.0\r\n…`: the 404 answer to a
    /// HEAD request carried the body, which a kept-alive client reads as the next response.
    #[test]
    fn fuzz_head_of_unknown_path_has_no_body() {
        struct Never;
        impl MetricsProvider for Never {
            fn render(&self, _: Format, out: String) -> impl Future<Output = String> + Send {
                std::future::ready(out)
            }
        }
        let req = parse_request(b"HEAD ? HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        let resp = smol::block_on(respond(&req, &Never));
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 24\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "no body after the head: {text:?}"
        );
        let get = parse_request(b"GET ? HTTP/1.0\r\n\r\n").unwrap().unwrap();
        let resp = smol::block_on(respond(&get, &Never));
        assert!(resp.ends_with(b"\r\n\r\nnot found: try /metrics\n"));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes() {
        let mut seed = 0x1234_5678u32;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    b"GET /\r\n: HTP1.0a\xff"[(seed % 17) as usize]
                })
                .collect();
            let _ = parse_request(&bytes);
        }
    }
}
