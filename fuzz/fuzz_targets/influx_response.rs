//! InfluxDB's answer to a write (`pimon_aggregator::influx::response`): which lines it
//! refused, from any body and `X-Influxdb-Error` header a server may send.
//!
//! Input: byte 0 picks the status and whether the text is also sent as the header; the
//! rest is the body. The batch is the body's lines plus a fixed set.
//!
//! Properties beyond "no panic":
//! - offending line indices are ascending, unique and inside the batch; "the rest was
//!   written" only for a partial write that names no line;
//! - 2xx is always `Written`;
//! - the JSON string unescaper inverts a JSON escaper: any text put in
//!   `{"error":"…"}` comes back unchanged;
//! - a 1.x error naming a batch line (`unable to parse '<line>': …`, JSON-escaped)
//!   is traced back to exactly the indices of that line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::http_client::Response;
use pimon_aggregator::influx::response::{
    WriteOutcome, classify, find_offending_lines, json_string,
};

const STATUSES: [u16; 10] = [400, 422, 413, 200, 204, 401, 404, 429, 500, 302];

const FIXED_LINES: [&[u8]; 4] = [
    b"cpu,host=a v=1i 1000000000",
    b"cpu,host=a v=bad",
    b"m,t=x s=\"it's\" 1",
    b"cpu,host=a v=1i 1000000000",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector & 15) % STATUSES.len()];
    let text = String::from_utf8_lossy(body);
    let mut headers = Vec::new();
    if selector & 16 != 0 {
        // A header value is one trimmed line.
        let line = text.lines().next().unwrap_or("").trim().to_string();
        headers.push(("X-Influxdb-Error".to_string(), line));
    }
    let response = Response {
        status,
        headers,
        body: body.to_vec(),
    };
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').take(64).collect();
    lines.extend(FIXED_LINES);

    let outcome = classify(&response, &lines);
    if (200..300).contains(&status) {
        assert_eq!(outcome, WriteOutcome::Written);
    }
    if let WriteOutcome::Rejected(r) = &outcome {
        assert!(matches!(status, 400 | 422));
        assert!(
            r.offending.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            r.offending
        );
        assert!(r.offending.iter().all(|&i| i < lines.len()));
        if r.rest_written {
            assert!(r.offending.is_empty() && r.dropped.is_some());
        }
    }

    // The unescaper inverts an escaper.
    let wrapped = format!("{{\"error\":\"{}\"}}", json_escape(&text));
    assert_eq!(
        json_string(wrapped.as_bytes(), "error").as_deref(),
        Some(&*text)
    );

    // A named line is found: pick one by the selector's high bits.
    let pick = usize::from(selector >> 5) % lines.len();
    let Ok(line) = std::str::from_utf8(lines[pick]) else {
        return;
    };
    if line.contains('\'') {
        // A quote inside the line makes the end of the quoted text ambiguous; the
        // parser takes the first end that is a batch line (see its docs).
        return;
    }
    let want: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i] == lines[pick])
        .collect();
    let message = format!("unable to parse '{line}': invalid field format");
    assert_eq!(find_offending_lines(&message, None, &lines), want);
    let body = format!("{{\"error\":\"partial write: {}\"}}", json_escape(&message));
    let answer = Response {
        status: 400,
        headers: Vec::new(),
        body: body.into_bytes(),
    };
    match classify(&answer, &lines) {
        WriteOutcome::Rejected(r) => assert_eq!(r.offending, want),
        other => panic!("{other:?} for a named line"),
    }
});

/// JSON string escaping (RFC 8259): quote, backslash and control characters; a few
/// others as `\u` escapes too, so the unescaper's `\u` path is exercised.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '/' => out.push_str("\\/"),
            '<' | '>' | '&' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) > 0xFFFF => {
                // A surrogate pair, as InfluxDB's Go encoder never does but JSON allows.
                let v = c as u32 - 0x10000;
                out.push_str(&format!(
                    "\\u{:04x}\\u{:04x}",
                    0xD800 + (v >> 10),
                    0xDC00 + (v & 0x3FF)
                ));
            }
            c => out.push(c),
        }
    }
    out
}
