//! The aggregator's HTTP client on any bytes a server (InfluxDB, or anything listening
//! on that port) may answer: `parse_response` and `complete_response_len` (when the
//! client stops reading), and `HttpUrl::parse` on the same bytes as a URL.
//!
//! Properties beyond "no panic":
//! - when `complete_response_len` says the response ends at `n`, parsing the first `n`
//!   bytes gives exactly what parsing everything gives (the client stops reading
//!   there), and a response that parses with framing (no-body status, Content-Length,
//!   chunked) is always recognised as complete;
//! - a parsed response re-encoded with Content-Length, and again chunked, parses back
//!   to the same status, headers and body;
//! - a `ResponseEnd` fed the bytes in pieces (as reads deliver them) stops where
//!   `complete_response_len` on the same prefix does, with the same answer as on all;
//! - a parsed URL re-rendered as `http://host:port/prefix` parses to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::http_client::{
    HttpUrl, Response, ResponseEnd, ResponseError, complete_response_len, parse_response,
};

fuzz_target!(|data: &[u8]| {
    let parsed = parse_response(data);
    let complete = complete_response_len(data);
    if let Ok(Some(n)) = complete {
        assert!(n <= data.len());
        assert_eq!(
            parse_response(&data[..n]),
            parsed,
            "stopping at {n} changes the parse"
        );
    }
    in_pieces(data, &complete);
    if let Ok(r) = &parsed {
        let framed = has_no_body(r.status) || is_chunked(r) || r.header("content-length").is_some();
        if framed {
            assert!(
                matches!(complete, Ok(Some(_))),
                "{complete:?} for a framed response"
            );
        }
        round_trip(r, data.first().copied().unwrap_or(1));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(url) = HttpUrl::parse(text)
    {
        let again = format!("http://{}{}", url.host_header(), url.prefix);
        assert_eq!(HttpUrl::parse(&again).as_ref(), Ok(&url), "{again}");
        assert!(url.port > 0 && !url.host.is_empty() && !url.prefix.ends_with('/'));
    }
});

/// Feeds `data` to a `ResponseEnd` in pieces whose sizes come from the data itself.
fn in_pieces(data: &[u8], whole: &Result<Option<usize>, ResponseError>) {
    let mut end = ResponseEnd::default();
    let mut n = 0;
    let mut step = 1;
    loop {
        n = (n + step).min(data.len());
        step = usize::from(data.get(n.wrapping_sub(1)).copied().unwrap_or(0) % 17) + 1;
        let got = end.update(&data[..n]);
        if !matches!(got, Ok(None)) || n == data.len() {
            assert_eq!(got, complete_response_len(&data[..n]), "in pieces, at {n}");
            assert_eq!(&got, whole, "stopped at {n} of {}", data.len());
            return;
        }
    }
}

fn has_no_body(status: u16) -> bool {
    status == 204 || status == 304 || (100..200).contains(&status)
}

fn is_chunked(r: &Response) -> bool {
    r.header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// Re-encodes `r` with Content-Length and chunked (chunks of `chunk` bytes) and checks
/// both parse back to `r` (with the framing headers replaced).
fn round_trip(r: &Response, chunk: u8) {
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("content-length")
                && !n.eq_ignore_ascii_case("transfer-encoding")
        })
        .cloned()
        .collect();
    let head = |framing: (&str, String)| {
        let mut out = format!("HTTP/1.1 {:03} Whatever\r\n", r.status).into_bytes();
        for (n, v) in headers.iter().chain([&(framing.0.to_string(), framing.1)]) {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    let expect = |framing: (&str, &str)| Response {
        status: r.status,
        headers: headers
            .iter()
            .cloned()
            .chain([(framing.0.to_string(), framing.1.to_string())])
            .collect(),
        body: r.body.clone(),
    };

    let len = r.body.len().to_string();
    let mut wire = head(("Content-Length", len.clone()));
    wire.extend_from_slice(&r.body);
    assert_eq!(parse_response(&wire), Ok(expect(("Content-Length", &len))));
    assert_eq!(complete_response_len(&wire), Ok(Some(wire.len())));

    if has_no_body(r.status) {
        // 1xx, 204 and 304 end with the head, whatever the headers say.
        return;
    }
    let mut wire = head(("Transfer-Encoding", "chunked".into()));
    for piece in r.body.chunks(usize::from(chunk.max(1))) {
        wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        parse_response(&wire),
        Ok(expect(("Transfer-Encoding", "chunked")))
    );
    assert_eq!(complete_response_len(&wire), Ok(Some(wire.len())));
    // Cut anywhere before the end, a chunked body is never complete.
    let cut = wire.len() - 1 - usize::from(chunk) % wire.len().min(64);
    assert_eq!(
        complete_response_len(&wire[..cut]).map(|n| n.is_some()),
        Ok(false)
    );
    assert!(matches!(
        parse_response(&wire[..cut]),
        Err(ResponseError::IncompleteHead | ResponseError::BadChunk)
    ));
}
