//! The kernel log's record parser and event rules (`pimon_collector::parse::kmsg`,
//! `parse::log_rule`) on any bytes: the first line is a rule (as a `[kmsg] rule =`
//! line), the rest a `/dev/kmsg` stream (a fixture file, or what a `read` returned).
//!
//! Properties beyond "no panic":
//! - a stream cut anywhere and split with `record_len` chunk by chunk (as the source
//!   reads a file that grows) gives the same records as `parse_records` on the whole;
//! - a parsed record's level is 0–7 and its text has no newline;
//! - a match's `device` capture is a non-empty part of the text that starts with the
//!   rule's `{device:PREFIX}`; a pattern without capture matches with an empty one;
//! - a joined continuation never exceeds its buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_collector::parse::kmsg::{Joiner, Record, parse_record, parse_records, record_len};
use pimon_collector::parse::log_rule::{BUILTIN_RULES, Rule};

fuzz_target!(|data: &[u8]| {
    let (first, stream) = match data.iter().position(|&b| b == b'\n') {
        Some(n) => (&data[..n], &data[n + 1..]),
        None => (data, &[][..]),
    };
    let user = std::str::from_utf8(first).ok().and_then(|l| Rule::parse(l).ok());
    let builtin: Vec<Rule> = BUILTIN_RULES.iter().map(|l| Rule::parse(l).unwrap()).collect();

    let whole: Vec<_> = parse_records(stream).collect();
    let mut joiner = Joiner::<64>::default();
    for record in whole.iter().flatten() {
        assert!(record.level <= 7);
        assert!(!record.text.contains(&b'\n'));
        for rule in user.iter().chain(&builtin) {
            check_match(rule, record);
        }
        match record.flags {
            b'c' => joiner.start(record),
            b'+' => {
                joiner.append(record.text);
            }
            _ => {}
        }
        if let Some(joined) = joiner.take() {
            assert!(joined.text.len() <= 64);
            for rule in user.iter().chain(&builtin) {
                check_match(rule, &joined);
            }
        }
    }

    // Chunked splitting agrees with the whole stream (records that end with a newline;
    // blank lines between records are skipped by both).
    if stream.ends_with(b"\n") {
        let cut = usize::from(first.first().copied().unwrap_or(0)) % (stream.len() + 1);
        let chunked = split_chunked(&stream[..cut], &stream[cut..]);
        let expected: Vec<Vec<u8>> = whole_records(stream);
        assert_eq!(chunked, expected, "cut at {cut}");
    }
});

fn check_match(rule: &Rule, record: &Record) {
    let Some(device) = rule.matches(record) else {
        return;
    };
    // `{device}` or `{device:PREFIX}`; any other `{…` (`{deviceh…`) is literal text.
    let has_capture = rule.pattern.windows(8).any(|w| w == b"{device}" || w == b"{device:");
    if has_capture {
        assert!(!device.is_empty());
        let start = device.as_ptr() as usize - record.text.as_ptr() as usize;
        assert!(start + device.len() <= record.text.len());
    } else {
        assert!(device.is_empty());
    }
}

/// The bytes of each record of a whole stream, as `parse_records` cuts them.
fn whole_records(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = stream;
    loop {
        while let Some(r) = rest.strip_prefix(b"\n") {
            rest = r;
        }
        if rest.is_empty() {
            return out;
        }
        let len = record_len(rest, true).unwrap_or(rest.len()).max(1);
        out.push(rest[..len].to_vec());
        let _ = parse_record(&rest[..len]);
        rest = &rest[len..];
    }
}

/// Splits `a` then `a + b` the way the source does for a growing file: whole records
/// of what has arrived, the rest kept; at the end, what is left.
fn split_chunked(a: &[u8], b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for (chunk, at_end) in [(a, false), (b, true)] {
        pending.extend_from_slice(chunk);
        let mut used = 0;
        loop {
            while pending.get(used) == Some(&b'\n') {
                used += 1;
            }
            let rest = &pending[used..];
            if rest.is_empty() {
                break;
            }
            match record_len(rest, at_end) {
                Some(len) => {
                    out.push(rest[..len].to_vec());
                    used += len;
                }
                None if at_end => {
                    out.push(rest.to_vec());
                    used = pending.len();
                }
                None => break,
            }
        }
        pending.drain(..used);
    }
    out
}
