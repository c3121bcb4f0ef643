//! The Pushgateway's URL paths: `/metrics/job/<job>{/<label>/<value>}`, with
//! `<name>@base64/<value>` for values in base64url (RFC 4648, padding optional) so
//! that values may contain `/` or be empty.
//!
//! Decoding follows the Pushgateway: the path is percent-decoded first (so `%2F`
//! splits like `/`, as Go's router sees it), then split; errors are its words
//! (`odd number of components in label string "/lab"`, `improper label name "__a"`,
//! `invalid base64 encoding for label x="!!": illegal base64 data at input byte 0`).
//! Never panics on any input; fuzzed (`fuzz/fuzz_targets/push_path.rs`).

use std::collections::BTreeMap;

use super::expo::is_label_name;
use super::gofmt::quote_str;

/// The labels that name a group (`job` included), sorted by name.
pub type GroupingKey = BTreeMap<String, String>;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not a push path at all (answered 404, as the Pushgateway's router does).
    NotFound,
    /// A bad push path: answered 400 with this text.
    Bad(String),
}

/// Decodes the path of a push request (without the query string).
pub fn parse(raw_path: &str) -> Result<GroupingKey, PathError> {
    let path = percent_decode(raw_path).ok_or(PathError::Bad("invalid URL escape".into()))?;
    let path = String::from_utf8_lossy(&path).into_owned();
    let (rest, job_base64) = if let Some(r) = path.strip_prefix("/metrics/job@base64/") {
        (r, true)
    } else if let Some(r) = path.strip_prefix("/metrics/job/") {
        (r, false)
    } else {
        return Err(PathError::NotFound);
    };
    let (job, labels) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if job.is_empty() {
        // The router has no route for an empty `:job` segment.
        return Err(PathError::NotFound);
    }
    let job = if job_base64 {
        match decode_base64(job) {
            Ok(j) => j,
            Err((partial, at)) => {
                return Err(PathError::Bad(format!(
                    "invalid base64 encoding in job name {}: illegal base64 data at input byte {at}",
                    quote_str(&partial)
                )));
            }
        }
    } else {
        job.as_bytes().to_vec()
    };
    let mut key = split_labels(labels)?;
    if job.is_empty() {
        return Err(PathError::Bad("job name is required".into()));
    }
    key.insert("job".into(), String::from_utf8_lossy(&job).into_owned());
    Ok(key)
}

fn split_labels(labels: &str) -> Result<GroupingKey, PathError> {
    let mut out = GroupingKey::new();
    if labels.len() <= 1 {
        return Ok(out);
    }
    let components: Vec<&str> = labels[1..].split('/').collect();
    if !components.len().is_multiple_of(2) {
        return Err(PathError::Bad(format!(
            "odd number of components in label string {}",
            quote_str(labels.as_bytes())
        )));
    }
    for pair in components.chunks(2) {
        let (name, value) = (pair[0], pair[1]);
        let trimmed = name.strip_suffix("@base64").unwrap_or(name);
        if !is_label_name(trimmed) || trimmed.starts_with("__") {
            return Err(PathError::Bad(format!(
                "improper label name {}",
                quote_str(trimmed.as_bytes())
            )));
        }
        if name == trimmed {
            out.insert(trimmed.to_string(), value.to_string());
            continue;
        }
        match decode_base64(value) {
            Ok(v) => {
                out.insert(
                    trimmed.to_string(),
                    String::from_utf8_lossy(&v).into_owned(),
                );
            }
            Err((_, at)) => {
                return Err(PathError::Bad(format!(
                    "invalid base64 encoding for label {trimmed}={}: illegal base64 data at input byte {at}",
                    quote_str(value.as_bytes())
                )));
            }
        }
    }
    Ok(out)
}

/// Percent-decoding as Go's URL parser does for paths (`None` on a bad escape).
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex(*b.get(i + 1)?)?;
            let lo = hex(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Base64url without padding after trimming trailing `=`, as Go's
/// `base64.RawURLEncoding`: on error, the bytes decoded so far and the offset of the
/// bad input byte.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, (Vec<u8>, usize)> {
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut quantum = [0u8; 4];
    let mut i = 0;
    while i < s.len() {
        let mut n = 0;
        while n < 4 && i < s.len() {
            let v = match s[i] {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'a'..=b'z' => c - b'a' + 26,
                c @ b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => return Err((out, i)),
            };
            quantum[n] = v;
            n += 1;
            i += 1;
        }
        match n {
            4 => {
                out.push(quantum[0] << 2 | quantum[1] >> 4);
                out.push(quantum[1] << 4 | quantum[2] >> 2);
                out.push(quantum[2] << 6 | quantum[3]);
            }
            3 => {
                out.push(quantum[0] << 2 | quantum[1] >> 4);
                out.push(quantum[1] << 4 | quantum[2] >> 2);
            }
            2 => out.push(quantum[0] << 2 | quantum[1] >> 4),
            _ => return Err((out, i - 1)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupingKey {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn bad(path: &str) -> String {
        match parse(path) {
            Err(PathError::Bad(s)) => s,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn plain_and_base64_paths() {
        assert_eq!(
            parse("/metrics/job/j1/instance/i1").unwrap(),
            key(&[("instance", "i1"), ("job", "j1")])
        );
        assert_eq!(parse("/metrics/job/j1/").unwrap(), key(&[("job", "j1")]));
        assert_eq!(
            parse("/metrics/job@base64/Zm9vL2Jhcg/a@base64/=").unwrap(),
            key(&[("a", ""), ("job", "foo/bar")])
        );
        assert_eq!(parse("/metrics/job/a%20b").unwrap(), key(&[("job", "a b")]));
    }

    #[test]
    fn errors_in_the_pushgateways_words() {
        assert_eq!(
            bad("/metrics/job/j6/lab"),
            "odd number of components in label string \"/lab\""
        );
        assert_eq!(bad("/metrics/job/j7/__a/b"), "improper label name \"__a\"");
        assert_eq!(bad("/metrics/job/j7/1a/b"), "improper label name \"1a\"");
        assert_eq!(
            bad("/metrics/job/m15/x@base64/!!"),
            "invalid base64 encoding for label x=\"!!\": illegal base64 data at input byte 0"
        );
        assert_eq!(
            bad("/metrics/job@base64/!!"),
            "invalid base64 encoding in job name \"\": illegal base64 data at input byte 0"
        );
        assert_eq!(
            bad("/metrics/job/a%2Fb"),
            "odd number of components in label string \"/b\""
        );
        assert_eq!(bad("/metrics/job@base64/="), "job name is required");
        assert_eq!(parse("/metrics/job/"), Err(PathError::NotFound));
        assert_eq!(parse("/metrics"), Err(PathError::NotFound));
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Zm8").unwrap(), b"fo");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("YWJjZ"), Err((b"abc".to_vec(), 4)));
        assert_eq!(decode_base64("YW!j"), Err((vec![], 2)));
    }
}
