//! The aggregator's HTTP server request parser (`pimon_aggregator::http::parse_request`)
//! on any bytes a client may send, and the response built for whatever parses.
//!
//! Properties beyond "no panic":
//! - a complete head is found only when `\r\n\r\n` is there, within the 8 KiB limit;
//! - bytes after the head do not change the result, and every shorter prefix of the
//!   head is "not complete yet" (the server parses a growing buffer);
//! - the response to a parsed request is well-formed HTTP that the aggregator's own
//!   client parser reads back, with the status the method and path call for; a
//!   `/metrics` body that takes several pieces is chunked (gzip across the pieces) for
//!   HTTP/1.1 and delimited by the close for HTTP/1.0, and reads back as the exposition.
//!   client parser reads back, with the status the method and path call for;
//! - the status page's `/node/<name>` segment decoder (`status::page::decode_segment`)
//!   never panics, and what it decodes encodes back to a segment that decodes the same.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::http::{
    HttpError, MAX_REQUEST_HEAD, Method, MetricsProvider, Request, Scrape, parse_request,
    respond,
};
use pimon_aggregator::http_client::parse_response;
use pimon_protocol::text::prometheus::Format;

/// Serves a fixed exposition that names the format it was asked for, in one piece
/// (`Fixed(1)`) or several.
struct Fixed(usize);

struct FixedScrape {
    format: Format,
    left: usize,
}

impl Scrape for FixedScrape {
    fn next_piece(&mut self, out: &mut String) -> bool {
        self.left -= 1;
        out.push_str(piece(self.format, self.left == 0));
        self.left > 0
    }
}

impl MetricsProvider for Fixed {
    type Scrape = FixedScrape;
    fn scrape(&self, format: Format) -> FixedScrape {
        FixedScrape {
            format,
            left: self.0.max(1),
        }
    }
}

fn piece(format: Format, last: bool) -> &'static str {
    match (format, last) {
        (Format::Text004, _) => "# text\nup 1\n",
        (_, false) => "# openmetrics\nup 1\n",
        (_, true) => "# openmetrics\nup 1\n# EOF\n",
    }
}

fn exposition(format: Format, pieces: usize) -> String {
    (0..pieces).map(|i| piece(format, i + 1 == pieces)).collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let result = parse_request(data);
    let end = find(data, b"\r\n\r\n");
    match &result {
        Ok(None) => {
            assert!(end.is_none(), "a complete head was not seen");
            assert!(data.len() <= MAX_REQUEST_HEAD);
        }
        Err(HttpError::HeadTooLarge) => {
            assert!(end.map_or(data.len(), |e| e + 4) > MAX_REQUEST_HEAD);
        }
        Err(HttpError::BadRequest) => assert!(end.is_some()),
        Ok(Some(request)) => check_request(data, request),
    }
});

fn check_request(data: &[u8], request: &Request) {
    if let Some(name) = request
        .path
        .strip_prefix("/node/")
        .and_then(pimon_aggregator::status::page::decode_segment)
    {
        let again = pimon_aggregator::status::page::path_segment(&name);
        assert_eq!(
            pimon_aggregator::status::page::decode_segment(&again).as_deref(),
            Some(name.as_str())
        );
    }
    let head_len = request.head_len;
    assert_eq!(find(data, b"\r\n\r\n").map(|e| e + 4), Some(head_len));
    assert!(head_len <= MAX_REQUEST_HEAD);
    assert!(!request.path.contains('?'));
    // What follows the head (a pipelined request, a body) does not matter.
    assert_eq!(
        parse_request(&data[..head_len]).as_ref(),
        Ok(&Some(request.clone()))
    );
    // A head arriving in pieces is "not complete" until its last byte.
    for cut in [0, head_len / 2, head_len - 1] {
        assert_eq!(
            parse_request(&data[..cut]),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
    check_response(request);
}

fn check_response(request: &Request) {
    // One piece: the whole body with its length; three: streamed.
    for pieces in [1, 3] {
        check_response_of(request, pieces);
    }
}

fn check_response_of(request: &Request, pieces: usize) {
    let wire = respond(request, &Fixed(pieces));
    // Pushes (PUT/POST/DELETE) are routed to the push handler before `respond`; what
    // reaches it with any method but GET or HEAD is refused.
    let want_status = match (request.method, request.path.as_str()) {
        (Method::Put | Method::Post | Method::Delete | Method::Other, _) => 405,
        (_, "/metrics" | "/") => 200,
        _ => 404,
    };
    let metrics = want_status == 200 && request.path == "/metrics";
    let streamed = metrics && pieces > 1;
    let head_end = find(&wire, b"\r\n\r\n").expect("response has a complete head") + 4;
    let head = std::str::from_utf8(&wire[..head_end]).expect("response head is UTF-8");
    // An HTTP/1.0 client gets a streamed body up to the close.
    let keep_alive = request.keep_alive && !(streamed && !request.http11);
    let connection = if keep_alive { "keep-alive" } else { "close" };
    assert!(
        head.contains(&format!("\r\nConnection: {connection}\r\n")),
        "{head}"
    );
    assert_eq!(
        head.contains("\r\nTransfer-Encoding: chunked\r\n"),
        streamed && request.http11,
        "{head}"
    );
    if request.method == Method::Head {
        // No body, but the head says what GET would send: the client parser (which
        // does not know the method) would wait for it, so check the head only.
        assert!(
            head.starts_with(&format!("HTTP/1.1 {want_status} ")),
            "{head}"
        );
        assert_eq!(wire.len(), head_end);
        return;
    }
    let response = parse_response(&wire).expect("our client parses our server's response");
    assert_eq!(response.status, want_status);
    if !streamed {
        let length: usize = response
            .header("content-length")
            .expect("Content-Length is sent with a whole body")
            .parse()
            .expect("Content-Length is a number");
        assert_eq!(length, response.body.len());
        assert_eq!(wire.len(), head_end + length, "nothing after the body");
    } else {
        assert_eq!(response.header("content-length"), None);
    }
    let gzip = response.header("content-encoding") == Some("gzip");
    assert_eq!(gzip, metrics && request.gzip);
    if metrics {
        let body = if gzip {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&response.body[..])
                .read_to_end(&mut text)
                .expect("the gzip stream is whole");
            text
        } else {
            response.body.clone()
        };
        assert_eq!(body, exposition(request.format, pieces).as_bytes());
    }
}
