//! The Pushgateway API's HTTP side, as pure functions: who may push
//! ([`authorized`]), the body (gzip, size limit: [`decode_body`]), and the answers
//! ([`Reply`]) with the Pushgateway's status codes and bodies:
//!
//! | case | status | body |
//! |---|---|---|
//! | PUT/POST stored | 200 | empty |
//! | DELETE | 202 | empty |
//! | bad path, unparsable body (text or protobuf) | 400 | the parser's words |
//! | inconsistent metrics, timestamps | 400 | `pushed metrics are invalid or inconsistent with existing metrics: …` |
//! | no or wrong credentials | 401 | `unauthorized` (pimon only) |
//! | body over `max_body_bytes`, group over `max_series_per_group` | 413 | what limit (pimon only) |
//! | `Content-Encoding` other than gzip | 415 | which (pimon only) |
//! | `max_groups` or `max_series_total` reached, outputs refused | 503 | why (pimon only) |
//!
//! Bodies end with a newline and are `text/plain; charset=utf-8`, as Go's
//! `http.Error` writes them. The server side (locks, outputs) is
//! [`super::runtime::Ingress::push`].

use std::io::Read;

use super::config::PushConfig;

/// PUT replaces a group, POST the families it names, DELETE removes the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushMethod {
    /// PUT.
    Put,
    /// POST.
    Post,
    /// DELETE.
    Delete,
}

/// A push request.
#[derive(Debug, Clone, Copy)]
pub struct PushRequest<'a> {
    /// Method.
    pub method: PushMethod,
    /// Path, percent-encoded as received, without the query string.
    pub path: &'a str,
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// `Content-Encoding` header.
    pub content_encoding: Option<&'a str>,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body as received.
    pub body: &'a [u8],
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body (text).
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// A bodiless answer.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: String::new(),
            headers: Vec::new(),
        }
    }

    /// Go's `http.Error(w, msg, status)`: the message and a newline.
    pub fn error(status: u16, msg: &str) -> Reply {
        Reply {
            status,
            body: format!("{msg}\n"),
            headers: Vec::new(),
        }
    }

    /// The reason phrase of the status.
    pub fn reason(&self) -> &'static str {
        match self.status {
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            413 => "Payload Too Large",
            415 => "Unsupported Media Type",
            503 => "Service Unavailable",
            _ => "Unknown",
        }
    }
}

/// True when the request may push: no credentials configured, or an
/// `Authorization: Bearer <token>` / `Basic <base64 user:password>` that matches one.
pub fn authorized(config: &PushConfig, authorization: Option<&str>) -> bool {
    if config.bearer_tokens.is_empty() && config.basic_auth.is_empty() {
        return true;
    }
    let Some(header) = authorization.map(str::trim) else {
        return false;
    };
    let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return config
            .bearer_tokens
            .iter()
            .any(|t| constant_time_eq(t.as_bytes(), credentials.as_bytes()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Some(decoded) = decode_standard_base64(credentials) else {
            return false;
        };
        return config
            .basic_auth
            .iter()
            .any(|u| constant_time_eq(u.as_bytes(), &decoded));
    }
    false
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Standard base64 with padding (`Authorization: Basic`).
fn decode_standard_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let url_safe: String = s
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            '-' | '_' => '!',
            c => c,
        })
        .collect();
    super::pushpath::decode_base64(&url_safe).ok()
}

/// The answer to a body over `max` bytes.
pub fn too_large(max: usize) -> Reply {
    Reply::error(
        413,
        &format!("push body larger than push.max_body_bytes ({max} bytes)"),
    )
}

/// The body as text: gunzipped when `Content-Encoding: gzip`, at most `max` bytes.
pub fn decode_body(encoding: Option<&str>, body: &[u8], max: usize) -> Result<Vec<u8>, Reply> {
    if body.len() > max {
        return Err(too_large(max));
    }
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::with_capacity(body.len() * 4);
            let mut decoder = flate2::read::GzDecoder::new(body).take(max as u64 + 1);
            match decoder.read_to_end(&mut out) {
                Ok(_) if out.len() > max => Err(too_large(max)),
                Ok(_) => Ok(out),
                Err(e) => Err(Reply::error(400, &format!("gzip: {e}"))),
            }
        }
        Some(e) => Err(Reply::error(
            415,
            &format!("unsupported Content-Encoding {e:?}"),
        )),
    }
}

/// True for the Pushgateway's protobuf content type (delimited `MetricFamily`).
pub fn is_protobuf(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let mut parts = ct.split(';').map(str::trim);
    if !parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/vnd.google.protobuf"))
    {
        return false;
    }
    let (mut proto, mut delimited) = (false, false);
    for p in parts {
        match p.split_once('=') {
            Some(("proto", v)) => {
                proto = v.trim_matches('"') == "io.prometheus.client.MetricFamily"
            }
            Some(("encoding", v)) => delimited = v.trim_matches('"') == "delimited",
            _ => {}
        }
    }
    proto && delimited
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn credentials() {
        let mut c = PushConfig::default();
        assert!(authorized(&c, None));
        c.bearer_tokens = vec!["s3cret".into()];
        c.basic_auth = vec!["edge:pa:ss".into()];
        assert!(!authorized(&c, None));
        assert!(authorized(&c, Some("Bearer s3cret")));
        assert!(!authorized(&c, Some("Bearer s3cre")));
        // "edge:pa:ss" in standard base64.
        assert!(authorized(&c, Some("Basic ZWRnZTpwYTpzcw==")));
        assert!(!authorized(&c, Some("Basic ZWRnZTpwYTpzeA==")));
        assert!(!authorized(&c, Some("Digest x")));
    }

    #[test]
    fn bodies_gzip_and_limits() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'a'; 1000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_body(Some("gzip"), &gz, 1000).unwrap().len(), 1000);
        assert_eq!(decode_body(Some("gzip"), &gz, 999).unwrap_err().status, 413);
        assert_eq!(decode_body(None, b"abc", 2).unwrap_err().status, 413);
        assert_eq!(
            decode_body(Some("gzip"), b"abc", 9).unwrap_err().status,
            400
        );
        assert_eq!(decode_body(Some("br"), b"abc", 9).unwrap_err().status, 415);
        assert!(is_protobuf(Some(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        )));
        assert!(!is_protobuf(Some("text/plain; version=0.0.4")));
    }
}
