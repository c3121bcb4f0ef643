//! Responses: small fixed ones whole, `/metrics` a piece at a time.
//!
//! A `/metrics` body is produced by a [`Scrape`] in pieces of about 64 KiB of text and
//! sent as it is produced, so a response never holds more than one piece (and, with
//! gzip, one compressor) whatever the size of the fleet:
//! - when the first piece is the whole exposition (a small fleet), it is sent with
//!   `Content-Length`, gzipped whole when asked;
//! - otherwise with `Transfer-Encoding: chunked`, one chunk per piece, the gzip stream
//!   (when asked) running across the pieces; an HTTP/1.0 client, which has no chunked
//!   encoding, gets the body up to the end of the connection instead.
//!
//! A `HEAD` response is the `GET` response's head: the first piece is rendered to know
//! which of the two it is, and nothing more.

use std::future::Future;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;
use pimon_protocol::text::prometheus::Format;

use super::request::{Method, Request};
use crate::ingress::push::Reply as PushReply;

/// One scrape's exposition, produced a piece at a time.
pub trait Scrape: Send + 'static {
    /// Appends the next piece to `out` (empty on entry). Returns false when it was the
    /// last piece (the exposition is complete).
    fn next_piece(&mut self, out: &mut String) -> bool;
}

/// What the server serves on `/metrics`.
pub trait MetricsProvider: Send + Sync + 'static {
    /// The exposition of one scrape.
    type Scrape: Scrape;

    /// Starts a scrape in `format`.
    fn scrape(&self, format: Format) -> Self::Scrape;

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
    fn push_precheck(&self, _request: &Request) -> Option<PushReply> {
        None
    }

    /// A push answered without reading its body (too large, malformed): for counting.
    fn push_unread(&self, reply: PushReply) -> PushReply {
        reply
    }

    /// Answers a push (see [`crate::ingress::runtime::Ingress::push`]).
    fn push(&self, _request: &Request, _body: Vec<u8>) -> impl Future<Output = PushReply> + Send {
        std::future::ready(PushReply::error(405, "pushes are not enabled"))
    }
}

const HELP_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>pimon-aggregator</title></head><body>\n\
<h1>pimon-aggregator</h1>\n\
<p>Metrics of every pimon collector node, with node_exporter's names and an\n\
<code>instance</code> label per node: <a href=\"/metrics\">/metrics</a>.</p>\n\
<p>Scrape it with <code>honor_labels: true</code> so Prometheus keeps the node names:</p>\n\
<pre>scrape_configs:\n  - job_name: pimon\n    honor_labels: true\n    static_configs:\n      - targets: ['aggregator-host:9798']</pre>\n\
</body></html>\n";

/// A response with a fixed body (`Content-Length`); no body for `HEAD`.
pub fn simple_response(
    status: &str,
    content_type: &str,
    body: &str,
    keep_alive: bool,
    head_only: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    for (k, v) in extra {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    // A response to HEAD has no body: on a kept-alive connection the client would read
    // it as the start of the next response (found by fuzzing).
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// The answer to one request.
pub enum Reply<S: Scrape> {
    /// The whole response.
    Whole(Vec<u8>),
    /// `/metrics`, produced a piece at a time.
    Metrics(MetricsResponse<S>),
}

/// A page of the provider's (small, whole): gzipped when asked and worth it.
fn page_response(request: &Request, content_type: &str, body: Vec<u8>) -> Vec<u8> {
    let gzip = request.gzip && body.len() > 1024;
    let body = if gzip {
        let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
        let _ = enc.write_all(&body);
        enc.finish().unwrap_or_default()
    } else {
        body
    };
    let mut out = Vec::with_capacity(256 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {}\r\n{}\r\n",
        body.len(),
        if request.keep_alive {
            "keep-alive"
        } else {
            "close"
        },
        if gzip {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        }
    );
    if request.method != Method::Head {
        out.extend_from_slice(&body);
    }
    out
}

/// Decides the answer to `request` (nothing is rendered yet). `page` is what the
/// provider's [`MetricsProvider::page`] gave for the request's path, if anything.
pub fn reply<P: MetricsProvider>(
    request: &Request,
    provider: &P,
    page: Option<(&'static str, Vec<u8>)>,
) -> Reply<P::Scrape> {
    let keep_alive = request.keep_alive;
    let head_only = request.method == Method::Head;
    const TEXT: &str = "text/plain; charset=utf-8";
    match (request.method, request.path.as_str()) {
        (Method::Put | Method::Post | Method::Delete | Method::Other, _) => {
            Reply::Whole(simple_response(
                "405 Method Not Allowed",
                TEXT,
                "only GET and HEAD\n",
                keep_alive,
                false,
                &[("Allow", "GET, HEAD")],
            ))
        }
        (_, "/metrics") => Reply::Metrics(MetricsResponse::new(
            provider.scrape(request.format),
            request,
        )),
        _ if page.is_some() => {
            let (content_type, body) = page.unwrap_or_default();
            Reply::Whole(page_response(request, content_type, body))
        }
        (_, "/") => Reply::Whole(simple_response(
            "200 OK",
            "text/html; charset=utf-8",
            HELP_PAGE,
            keep_alive,
            head_only,
            &[],
        )),
        _ => Reply::Whole(simple_response(
            "404 Not Found",
            TEXT,
            "not found: try /metrics\n",
            keep_alive,
            head_only,
            &[],
        )),
    }
}

/// Builds the whole response to `request` in one go: what the server sends, for tests
/// and fuzzing (the server sends `/metrics` as it is produced).
/// Pages of the provider ([`MetricsProvider::page`]) are not asked for here.
pub fn respond<P: MetricsProvider>(request: &Request, provider: &P) -> Vec<u8> {
    match reply(request, provider, None) {
        Reply::Whole(bytes) => bytes,
        Reply::Metrics(mut response) => {
            let mut all = Vec::new();
            loop {
                let more = response.advance();
                all.extend_from_slice(response.wire());
                if !more {
                    return all;
                }
            }
        }
    }
}

/// How the body of a `/metrics` response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Nothing sent yet.
    Start,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Up to the end of the connection (HTTP/1.0).
    UntilClose,
    /// Everything is sent.
    Done,
}

/// A `/metrics` response in progress; see the module docs.
pub struct MetricsResponse<S> {
    scrape: S,
    content_type: &'static str,
    keep_alive: bool,
    head_only: bool,
    http11: bool,
    gzip: Option<GzEncoder<Vec<u8>>>,
    framing: Framing,
    /// The piece of text being sent.
    text: String,
    /// The bytes to send next.
    wire: Vec<u8>,
}

impl<S: Scrape> MetricsResponse<S> {
    fn new(scrape: S, request: &Request) -> MetricsResponse<S> {
        MetricsResponse {
            scrape,
            content_type: request.format.content_type(),
            keep_alive: request.keep_alive,
            head_only: request.method == Method::Head,
            http11: request.http11,
            gzip: request
                .gzip
                .then(|| GzEncoder::new(Vec::new(), Compression::fast())),
            framing: Framing::Start,
            text: String::new(),
            wire: Vec::new(),
        }
    }

    /// The bytes produced by the last [`advance`](Self::advance).
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The connection may serve another request after this response (false when the
    /// body ends with the connection).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// Produces the next bytes to send (the head with the first piece, then a piece at
    /// a time) into [`wire`](Self::wire). Returns false when nothing follows them.
    pub fn advance(&mut self) -> bool {
        self.wire.clear();
        self.text.clear();
        match self.framing {
            Framing::Start => self.start(),
            Framing::Chunked | Framing::UntilClose => {
                let more = self.scrape.next_piece(&mut self.text);
                self.put_piece(!more);
                if !more {
                    self.framing = Framing::Done;
                }
                more
            }
            Framing::Done => false,
        }
    }

    fn start(&mut self) -> bool {
        let more = self.scrape.next_piece(&mut self.text);
        let gzip = self.gzip.is_some();
        if !more {
            // The whole exposition: sent with its length.
            let body: &[u8] = match &mut self.gzip {
                Some(gz) => {
                    let _ = gz.write_all(self.text.as_bytes());
                    let _ = gz.try_finish();
                    gz.get_ref()
                }
                None => self.text.as_bytes(),
            };
            let length = body.len().to_string();
            write_head(
                &mut self.wire,
                self.content_type,
                ("Content-Length", &length),
                gzip,
                self.keep_alive,
            );
            if !self.head_only {
                self.wire.extend_from_slice(body);
            }
            self.framing = Framing::Done;
            return false;
        }
        let framing = if self.http11 {
            ("Transfer-Encoding", "chunked")
        } else {
            // No chunked encoding before HTTP/1.1: the end of the connection ends the
            // body, and no length header is sent (HEAD says the same as GET).
            self.keep_alive = false;
            ("", "")
        };
        write_head(
            &mut self.wire,
            self.content_type,
            framing,
            gzip,
            self.keep_alive,
        );
        if self.head_only {
            self.framing = Framing::Done;
            return false;
        }
        self.framing = if self.http11 {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        self.put_piece(false);
        true
    }

    /// Appends the piece in `text` to `wire` as it goes on the wire (gzipped, as a
    /// chunk); `last` ends the gzip stream and the chunked body.
    fn put_piece(&mut self, last: bool) {
        let data: &[u8] = match &mut self.gzip {
            Some(gz) => {
                gz.get_mut().clear();
                let _ = gz.write_all(self.text.as_bytes());
                if last {
                    let _ = gz.try_finish();
                }
                gz.get_ref()
            }
            None => self.text.as_bytes(),
        };
        let chunked = self.framing == Framing::Chunked;
        if chunked && !data.is_empty() {
            let _ = write!(self.wire, "{:x}\r\n", data.len());
            self.wire.extend_from_slice(data);
            self.wire.extend_from_slice(b"\r\n");
        } else if !chunked {
            self.wire.extend_from_slice(data);
        }
        if chunked && last {
            self.wire.extend_from_slice(b"0\r\n\r\n");
        }
    }
}

/// The head of a 200 response to `/metrics`; `framing` is a header (name, value), or
/// an empty name for none.
fn write_head(
    out: &mut Vec<u8>,
    content_type: &str,
    framing: (&str, &str),
    gzip: bool,
    keep_alive: bool,
) {
    let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n");
    if !framing.0.is_empty() {
        let _ = write!(out, "{}: {}\r\n", framing.0, framing.1);
    }
    let _ = write!(
        out,
        "{}Vary: Accept, Accept-Encoding\r\nConnection: {}\r\n\r\n",
        if gzip {
            "Content-Encoding: gzip\r\n"
        } else {
            ""
        },
        if keep_alive { "keep-alive" } else { "close" }
    );
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::http::parse_request;
    use crate::http_client::parse_response;

    /// Serves `pieces` copies of a fixed text, one per piece.
    struct Pieces(usize);

    struct PiecesScrape {
        left: usize,
    }

    const PIECE: &str = "# TYPE up gauge\nup 1\n";

    impl Scrape for PiecesScrape {
        fn next_piece(&mut self, out: &mut String) -> bool {
            out.push_str(PIECE);
            self.left = self.left.saturating_sub(1);
            self.left > 0
        }
    }

    impl MetricsProvider for Pieces {
        type Scrape = PiecesScrape;
        fn scrape(&self, _: Format) -> PiecesScrape {
            PiecesScrape { left: self.0 }
        }
    }

    fn request(text: &str) -> Request {
        parse_request(text.as_bytes()).unwrap().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> String {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn one_piece_goes_with_its_length() {
        let wire = respond(&request("GET /metrics HTTP/1.1\r\n\r\n"), &Pieces(1));
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("content-length"), Some("21"));
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.body, PIECE.as_bytes());
        let wire = respond(
            &request("GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"),
            &Pieces(1),
        );
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(gunzip(&r.body), PIECE);
    }

    #[test]
    fn many_pieces_go_chunked_and_gzip_runs_across_them() {
        let wire = respond(&request("GET /metrics HTTP/1.1\r\n\r\n"), &Pieces(5));
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("connection"), Some("keep-alive"));
        assert_eq!(r.body, PIECE.repeat(5).as_bytes());
        assert!(wire.ends_with(b"\r\n0\r\n\r\n"));
        let wire = respond(
            &request("GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"),
            &Pieces(5),
        );
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert_eq!(gunzip(&r.body), PIECE.repeat(5));
    }

    #[test]
    fn http10_gets_the_body_up_to_the_close() {
        let wire = respond(
            &request("GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            &Pieces(3),
        );
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.header("content-length"), None);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.body, PIECE.repeat(3).as_bytes());
        // A single piece keeps its length and the connection.
        let wire = respond(
            &request("GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            &Pieces(1),
        );
        let r = parse_response(&wire).unwrap();
        assert_eq!(r.header("content-length"), Some("21"));
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }

    #[test]
    fn head_is_the_get_head_without_a_body() {
        for version in ["1.1", "1.0"] {
            for pieces in [1, 4] {
                let get = format!("GET /metrics HTTP/{version}\r\nConnection: keep-alive\r\n\r\n");
                let get = respond(&request(&get), &Pieces(pieces));
                let head =
                    format!("HEAD /metrics HTTP/{version}\r\nConnection: keep-alive\r\n\r\n");
                let head = respond(&request(&head), &Pieces(pieces));
                let end = get.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                assert_eq!(head, get[..end], "HTTP/{version}, {pieces} pieces");
            }
        }
    }

    /// Fuzz target `http_request`, input `HEAD ? HTTP/1.0\r\n…`: the 404 answer to a
    /// HEAD request carried the body, which a kept-alive client reads as the next response.
    #[test]
    fn fuzz_head_of_unknown_path_has_no_body() {
        let req = request("HEAD ? HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let resp = respond(&req, &Pieces(1));
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 24\r\n"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "no body after the head: {text:?}"
        );
        let get = request("GET ? HTTP/1.0\r\n\r\n");
        let resp = respond(&get, &Pieces(1));
        assert!(resp.ends_with(b"\r\n\r\nnot found: try /metrics\n"));
    }
}
