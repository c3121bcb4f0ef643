//! Request heads: a pure parser that never panics, and the content negotiation of
//! `/metrics` (format from `Accept`, gzip from `Accept-Encoding`).

use pimon_protocol::text::prometheus::Format;

use crate::ingress::http_body::Framing;

/// Longest request head (request line and headers).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

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
    /// HTTP/1.1 (chunked responses allowed); HTTP/1.0 otherwise.
    pub http11: bool,
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
        http11,
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
        assert!(r.http11);
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
        assert!(!r.http11);
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
