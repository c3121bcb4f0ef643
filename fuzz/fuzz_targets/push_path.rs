//! Push request framing: the Pushgateway URL path with its grouping key
//! (`ingress::pushpath::parse`, percent-decoding and base64url), chunked request
//! bodies (`ingress::http_body::decode_chunked`) and `Authorization` headers
//! (`ingress::push::authorized`).
//!
//! Input layout: the bytes up to the first `\n` are the path, the rest a chunked body
//! (and, as text, an Authorization header).
//!
//! Properties beyond "no panic":
//! - a parsed grouping key has `job`, and label names that are valid and not `__…`;
//! - a path built back from the key (every value base64url-encoded) parses to the
//!   same key;
//! - a decoded chunked body is never longer than the limit, and re-chunking it
//!   decodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingress::config::PushConfig;
use pimon_aggregator::ingress::expo::is_label_name;
use pimon_aggregator::ingress::http_body::{Chunked, decode_chunked};
use pimon_aggregator::ingress::push::authorized;
use pimon_aggregator::ingress::pushpath;

fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    if out.is_empty() {
        out.push('=');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (path, rest) = data.split_at(split);
    let rest = rest.get(1..).unwrap_or(&[]);
    if let Ok(path) = std::str::from_utf8(path)
        && let Ok(key) = pushpath::parse(path)
    {
        assert!(key.contains_key("job"));
        for name in key.keys() {
            assert!(is_label_name(name) && !name.starts_with("__"), "{name:?}");
        }
        let mut rebuilt = format!("/metrics/job@base64/{}", b64url(key["job"].as_bytes()));
        for (k, v) in &key {
            if k != "job" {
                rebuilt.push_str(&format!("/{k}@base64/{}", b64url(v.as_bytes())));
            }
        }
        // Values that were not valid UTF-8 were replaced; the rebuilt key is stable.
        assert_eq!(pushpath::parse(&rebuilt).as_ref(), Ok(&key), "{rebuilt}");
    }
    if let Chunked::Done(body) = decode_chunked(rest, 4096) {
        assert!(body.len() <= 4096);
        let mut again = Vec::new();
        for c in body.chunks(7) {
            again.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            again.extend_from_slice(c);
            again.extend_from_slice(b"\r\n");
        }
        again.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(decode_chunked(&again, 4096), Chunked::Done(body));
    }
    let config = PushConfig {
        bearer_tokens: vec!["token".into()],
        basic_auth: vec!["user:pass".into()],
        ..PushConfig::default()
    };
    let header = String::from_utf8_lossy(rest);
    let _ = authorized(&config, Some(&header));
});
