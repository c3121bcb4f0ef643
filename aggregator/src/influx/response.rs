//! Reading InfluxDB's answer to a write request: written, bad data (and which lines),
//! batch too large, or a failure to retry.
//!
//! Bad data (HTTP 400/422) is identified from the error text, which InfluxDB and
//! compatible servers put in a JSON body (`{"error":"…"}` for 1.x, `{"code":"invalid",
//! "message":"…","line":N}` for 2.x) and, for 1.x, in the `X-Influxdb-Error` header:
//! - `unable to parse '<line>': <reason>` (1.x, several joined by `\n`): the quoted text
//!   is matched exactly against the batch's lines;
//! - `"line": N` or `line N:` (2.x, 1-based line number in the request body).
//!
//! InfluxDB 1.x answers `partial write: … dropped=N` when it stored every other point
//! (type conflicts, points outside the retention policy): the text names no line, and
//! nothing needs resending. All parsing here is over untrusted text and never panics.

use std::collections::HashMap;

use crate::http_client::Response;
use crate::influx::stats::FailureClass;

/// What a write response means for the batch that was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// 2xx: every line was accepted.
    Written,
    /// 400/422: some data was refused.
    Rejected(Rejection),
    /// 413: the body is too large for the server; split the batch.
    TooLarge(String),
    /// Anything else: retry the same request after a backoff.
    Failed(FailureClass, String),
}

/// Details of a bad-data answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Indices (into the batch's lines) the server named as bad, ascending, unique.
    pub offending: Vec<usize>,
    /// The server stored all other points (1.x `partial write` naming no line).
    pub rest_written: bool,
    /// `dropped=N` from a 1.x partial write, if present.
    pub dropped: Option<u64>,
    /// The server's error text, for the log.
    pub message: String,
}

/// Classifies a response to a write of `lines` (the batch's lines, without `\n`).
pub fn classify(response: &Response, lines: &[&[u8]]) -> WriteOutcome {
    let status = response.status;
    if (200..300).contains(&status) {
        return WriteOutcome::Written;
    }
    let message = error_message(response);
    match status {
        400 | 422 => {
            let offending =
                find_offending_lines(&message, json_number(&response.body, "line"), lines);
            let dropped = partial_write_dropped(&message);
            if offending.is_empty() && dropped.is_none() && looks_like_request_error(&message) {
                // e.g. "database is required": a configuration problem, not bad data.
                return WriteOutcome::Failed(
                    FailureClass::Other,
                    format!("HTTP {status}: {message}"),
                );
            }
            WriteOutcome::Rejected(Rejection {
                rest_written: offending.is_empty()
                    && message.contains("partial write")
                    && dropped.is_some(),
                offending,
                dropped,
                message,
            })
        }
        413 => WriteOutcome::TooLarge(message),
        401 | 403 => WriteOutcome::Failed(
            FailureClass::Unauthorized,
            format!("HTTP {status}: {message}"),
        ),
        404 => WriteOutcome::Failed(FailureClass::NotFound, format!("HTTP {status}: {message}")),
        429 => WriteOutcome::Failed(FailureClass::Throttled, format!("HTTP {status}: {message}")),
        500..=599 => WriteOutcome::Failed(
            FailureClass::ServerError,
            format!("HTTP {status}: {message}"),
        ),
        _ => WriteOutcome::Failed(FailureClass::Other, format!("HTTP {status}: {message}")),
    }
}

/// Errors about the request itself (not the lines) that some servers answer with 400.
fn looks_like_request_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "database is required",
        "invalid precision",
        "bucket not found",
        "organization not found",
        "authorization",
        "unauthorized",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The error text of a response: the JSON `error` or `message` string, else the
/// `X-Influxdb-Error` header, else the body as text (truncated to 4 KiB).
pub fn error_message(response: &Response) -> String {
    if let Some(text) =
        json_string(&response.body, "error").or_else(|| json_string(&response.body, "message"))
    {
        return text;
    }
    if let Some(h) = response.header("x-influxdb-error") {
        return h.to_string();
    }
    let body = &response.body[..response.body.len().min(4096)];
    String::from_utf8_lossy(body).trim().to_string()
}

/// Finds the lines named in `message` (see the module docs). `json_line` is a 1-based
/// line number from a `"line"` JSON field.
pub fn find_offending_lines(message: &str, json_line: Option<u64>, lines: &[&[u8]]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut by_text: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        by_text.entry(line).or_default().push(i);
    }
    let msg = message.as_bytes();
    const MARKER: &[u8] = b"unable to parse '";
    let mut search = 0;
    while let Some(at) = find(&msg[search..], MARKER) {
        let start = search + at + MARKER.len();
        let candidate = &msg[start..];
        // The quoted line ends at a `'` followed by `:` or the end; the line itself may
        // contain `'`, so try each such end and take the first that is a batch line.
        for (p, &b) in candidate.iter().enumerate() {
            if b == b'\''
                && matches!(candidate.get(p + 1), None | Some(b':'))
                && let Some(indices) = by_text.get(&candidate[..p])
            {
                found.extend_from_slice(indices);
                break;
            }
        }
        search = start;
    }
    if found.is_empty() {
        let mut numbers: Vec<u64> = json_line.into_iter().collect();
        numbers.extend(line_numbers(message));
        for n in numbers {
            if n >= 1 && (n as usize) <= lines.len() {
                found.push(n as usize - 1);
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// `line N:` occurrences (2.x messages).
fn line_numbers(message: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let bytes = message.as_bytes();
    let mut search = 0;
    while let Some(at) = find(&bytes[search..], b"line ") {
        let start = search + at + 5;
        let digits = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0
            && digits <= 12
            && bytes.get(start + digits) == Some(&b':')
            && let Ok(n) = message[start..start + digits].parse()
        {
            out.push(n);
        }
        search = start;
    }
    out
}

/// `dropped=N` in a 1.x partial-write message.
pub fn partial_write_dropped(message: &str) -> Option<u64> {
    let at = message.rfind("dropped=")?;
    let digits: String = message[at + 8..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The string value of top-level-ish key `key` in a JSON object (first occurrence),
/// unescaped. Not a full JSON parser: enough for InfluxDB's flat error objects.
pub fn json_string(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let pattern = format!("\"{key}\"");
    let mut search = 0;
    while let Some(at) = text[search..].find(&pattern) {
        let after = search + at + pattern.len();
        let rest = text[after..].trim_start();
        if let Some(rest) = rest.strip_prefix(':') {
            let rest = rest.trim_start();
            if let Some(value) = rest.strip_prefix('"') {
                return unescape_json_string(value);
            }
            return None;
        }
        search = after;
    }
    None
}

/// The non-negative integer value of `key` in a JSON object.
pub fn json_number(body: &[u8], key: &str) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let pattern = format!("\"{key}\"");
    let at = text.find(&pattern)?;
    let rest = text[at + pattern.len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Decodes a JSON string body (after the opening quote) up to the closing quote.
fn unescape_json_string(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hi = hex4(&mut chars)?;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        if chars.next()? != '\\' || chars.next()? != 'u' {
                            return None;
                        }
                        let lo = hex4(&mut chars)?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return None;
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    const LINES: [&[u8]; 4] = [
        b"cpu,host=a v=1i 1000000000",
        b"cpu,host=a v=bad",
        b"cpu,host=c v=",
        b"cpu,host=b v=2i 1000000000",
    ];

    #[test]
    fn names_unparsable_lines_from_influxdb_1x_body() {
        // Captured from influxd 1.6.7 (Debian): a partial write naming two bad lines.
        let body = r#"{"error":"partial write: unable to parse 'cpu,host=a v=bad': invalid boolean\nunable to parse 'cpu,host=c v=': missing field value dropped=0"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &LINES) else {
            panic!("not rejected")
        };
        assert_eq!(r.offending, vec![1, 2]);
        assert!(!r.rest_written);
        assert_eq!(r.dropped, Some(0));
    }

    #[test]
    fn line_containing_quotes_and_json_escapes_is_matched_exactly() {
        let lines: [&[u8]; 2] = [b"m,t=x s=\"it's\" 1", b"m,t=x s=\"<a>\\\\\" bad"];
        let body =
            r#"{"error":"unable to parse 'm,t=x s=\"\u003ca\u003e\\\\\" bad': bad timestamp"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &lines) else {
            panic!()
        };
        assert_eq!(r.offending, vec![1]);
        let body = r#"{"error":"unable to parse 'm,t=x s=\"it's\" 1': whatever"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &lines) else {
            panic!()
        };
        assert_eq!(r.offending, vec![0]);
    }

    #[test]
    fn partial_write_without_line_means_rest_was_stored() {
        // Captured from influxd 1.6.7: a field type conflict.
        let body = r#"{"error":"partial write: field type conflict: input field \"v\" on measurement \"cpu\" is type float, already exists as type integer dropped=1"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &LINES) else {
            panic!()
        };
        assert!(r.offending.is_empty());
        assert!(r.rest_written);
        assert_eq!(r.dropped, Some(1));
    }

    #[test]
    fn v2_line_numbers() {
        let body = r#"{"code":"invalid","line":3,"message":"failed to parse line protocol: errors encountered on line(s):\nline 3: missing field value"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &LINES) else {
            panic!()
        };
        assert_eq!(r.offending, vec![2]);
        assert!(!r.rest_written);
        let body = r#"{"code":"invalid","message":"line 2: x\nline 99: out of range\nline 4: y"}"#;
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], body), &LINES) else {
            panic!()
        };
        assert_eq!(r.offending, vec![1, 3]);
    }

    #[test]
    fn unidentified_bad_data_names_nothing() {
        let WriteOutcome::Rejected(r) = classify(&response(400, &[], "garbage"), &LINES) else {
            panic!()
        };
        assert!(r.offending.is_empty());
        assert!(!r.rest_written);
    }

    #[test]
    fn statuses_map_to_classes() {
        let c = |s| classify(&response(s, &[], r#"{"error":"x"}"#), &LINES);
        assert_eq!(c(204), WriteOutcome::Written);
        assert_eq!(c(200), WriteOutcome::Written);
        assert!(matches!(
            c(401),
            WriteOutcome::Failed(FailureClass::Unauthorized, _)
        ));
        assert!(matches!(
            c(403),
            WriteOutcome::Failed(FailureClass::Unauthorized, _)
        ));
        assert!(matches!(
            c(404),
            WriteOutcome::Failed(FailureClass::NotFound, _)
        ));
        assert!(matches!(
            c(429),
            WriteOutcome::Failed(FailureClass::Throttled, _)
        ));
        assert!(matches!(
            c(503),
            WriteOutcome::Failed(FailureClass::ServerError, _)
        ));
        assert!(matches!(
            c(405),
            WriteOutcome::Failed(FailureClass::Other, _)
        ));
        assert!(matches!(c(413), WriteOutcome::TooLarge(_)));
        // A 400 about the request, not the data, is retried, never bisected into drops.
        let r = classify(
            &response(400, &[], r#"{"error":"database is required"}"#),
            &LINES,
        );
        assert!(matches!(r, WriteOutcome::Failed(FailureClass::Other, _)));
    }

    #[test]
    fn message_sources() {
        let r = response(
            404,
            &[("X-Influxdb-Error", "database not found: \"x\"")],
            "",
        );
        assert_eq!(error_message(&r), "database not found: \"x\"");
        let r = response(404, &[], r#"{"error":"database not found: \"nodb\""}"#);
        assert_eq!(error_message(&r), "database not found: \"nodb\"");
        let r = response(500, &[], "  plain text  ");
        assert_eq!(error_message(&r), "plain text");
    }

    #[test]
    fn never_panics_on_hostile_text() {
        let inputs = [
            "",
            "\"error\"",
            "{\"error\":",
            "{\"error\":\"\\u12",
            "{\"error\":\"\\ud800\\u0041\"}",
            "{\"error\":\"unable to parse '",
            "{\"error\":\"unable to parse 'cpu,host=a v=bad",
            "line 99999999999999999999: x",
            "line : x line 1",
            "dropped=",
            "dropped=99999999999999999999999",
            "{\"line\": 18446744073709551615}",
            "é unable to parse 'é': é line 1:",
        ];
        for body in inputs {
            for status in [400, 413, 422, 500] {
                let _ = classify(&response(status, &[], body), &LINES);
            }
            let _ = classify(&response(400, &[], body), &[]);
        }
    }
}
