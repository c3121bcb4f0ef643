//! The aggregator's ingest (`pimon_aggregator::ingest::Ingest`) on a sequence of
//! datagrams from the network, then what leaves it: the acks, the InfluxDB line protocol
//! and the `/metrics` exposition (both formats). The `decode` target covers the wire
//! format; this one covers what the aggregator does with whatever decodes, notably
//! label values of any text.
//!
//! Input: `(mode | len | len bytes)…`. Each datagram is raw bytes (`mode` bit 0 clear)
//! or a data frame built from the bytes (node, boot id, sequence numbers, timestamp
//! skew, catalog metrics with label values taken from the bytes, values of every
//! kind), so the fuzzer reaches the store without learning the wire format. Bit 1
//! rolls the batch back instead of committing it; bits 2-7 advance the clock. The low
//! bit of `len` picks one of two source addresses; its bit 1 seals the batch instead
//! (pipelining: it is committed, or rolled back with the batch after it, once the next
//! datagram is ingested).
//!
//! Properties beyond "no panic":
//! - an answer is never larger than the datagram it answers (no key file: the sender
//!   is unverified), and is a valid ack for a decoded frame's (or probe's) node and
//!   boot id, or a refusal of a datagram refused by authentication naming the node and
//!   boot id of its header;
//! - the line count reported (by `ingest` and `finish_lines`) is the number of lines
//!   appended, and every line is well formed: measurement and tags, fields, integer
//!   timestamp, separated by unescaped spaces;
//! - every exposition line is a comment or `name{label="value",…} number`, with the
//!   label values correctly escaped, and OpenMetrics ends with `# EOF`;
//! - every remote write sample line of a stored frame reads back
//!   (`remote_write::samples`) as a valid series with the node as `instance`, and a
//!   datagram not stored renders none.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::prom::{self, Sources};
use pimon_aggregator::remote_write::samples as rw_samples;
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::CATALOG;
use pimon_protocol::frame::peek_node;
use pimon_protocol::text::influx::Precision;
use pimon_protocol::text::prometheus::Format;
use pimon_protocol::{
    DataHeader, EncodedLabels, FrameWriter, MAX_DATAGRAM, MAX_LABELS, Message, Value, decode, seal,
};

const T0: u64 = 1_700_000_000_000;
const NODES: [&str; 4] = ["pi", "garage", "n\"=, \\x", "ü"];

/// A data frame built from `bytes`.
fn build_frame(bytes: &[u8], now: u64) -> Vec<u8> {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let header = DataHeader {
        node: NODES[usize::from(at(0) & 3)],
        boot_id: u64::from(at(0) >> 2 & 3),
        seq: u64::from(at(1) & 15),
        resend_floor: u64::from(at(1) >> 4 & 15).min(u64::from(at(1) & 15)),
        timestamp_ms: now
            .wrapping_add(u64::from(at(2)).wrapping_mul(60_000))
            .wrapping_sub(7_680_000),
        interval_ms: u32::from(at(3)) * 1000,
        user_hz: u16::from(at(4)),
        part: 0,
        parts: 1,
        key_id: None,
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let Ok(mut w) = FrameWriter::new(&mut buf, &header) else {
        return Vec::new();
    };
    // Groups: metric byte, value kind byte, then label text up to a 0 byte.
    let mut rest = bytes.get(5..).unwrap_or_default();
    while let [metric, kind, tail @ ..] = rest {
        let metric = &CATALOG[usize::from(*metric) % CATALOG.len()];
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let text = String::from_utf8_lossy(&tail[..end]);
        rest = tail.get(end + 1..).unwrap_or_default();
        let values: Vec<&str> = text.split('\u{1}').collect();
        let labels: Vec<&str> = (0..metric.labels.len().min(MAX_LABELS))
            .map(|i| values.get(i).copied().unwrap_or(""))
            .collect();
        let Ok(encoded) = EncodedLabels::encode(&labels) else {
            continue;
        };
        let x = u64::from(*kind) << 24 | end as u64;
        let value = match kind & 3 {
            0 => Value::Unsigned(x),
            1 => Value::Signed(-(x as i64)),
            2 => Value::F32(f32::from_bits(x as u32 | u32::from(*kind) << 24)),
            _ => Value::F64(f64::from_bits(x.rotate_left(u32::from(*kind)))),
        };
        if w.begin_group(&encoded)
            .and_then(|()| w.push(metric.id, value))
            .is_err()
        {
            break;
        }
    }
    let len = w.finish();
    match seal(&mut buf, len, 1, None) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let stats = Arc::new(AggregatorStats::default());
    let store = Store::new(
        Limits {
            max_nodes: 3,
            ..Limits::default()
        },
        Staleness::default(),
        T0,
    );
    // Lines rendered the way a busy server renders them (crate::render): each frame
    // copied at ingest and rendered, parsed again, when the batch's lines are finished.
    let config = IngestConfig {
        precision: Precision::Milliseconds,
        render_samples: true,
        render_chunk: 2,
        render_threads: 2,
        ..IngestConfig::default()
    };
    let mut ingest = Ingest::new(store, None, config, stats.clone());
    let mut now = T0;
    let mut lines = String::new();
    let mut samples = String::new();
    let mut ack = [0u8; MAX_DATAGRAM];
    let addrs: [std::net::SocketAddr; 2] = [
        "10.0.0.5:4000".parse().unwrap(),
        "10.6.6.6:5000".parse().unwrap(),
    ];
    // A sealed batch waiting for its outputs' answer: refused or not.
    let mut sealed: Option<bool> = None;
    let mut rest = data;
    while let [mode, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(take);
        rest = after;
        now += u64::from(mode >> 2) * 1000;
        let datagram = if mode & 1 == 0 {
            bytes.to_vec()
        } else {
            build_frame(bytes, now)
        };
        ingest.begin_batch_of(2);
        let before = lines.len();
        let from = addrs[usize::from(*len & 1)];
        let outcome = ingest.ingest(&datagram, from, now, &mut lines, &mut ack);
        let rendered = outcome.lines + ingest.finish_lines(&mut lines);
        let added = &lines[before..];
        assert_eq!(added.matches('\n').count(), rendered);
        for line in added.lines() {
            check_line_protocol(line);
        }
        ingest.take_samples(&mut samples);
        if outcome.verdict != Verdict::Stored {
            assert!(samples.is_empty(), "samples of a frame not stored");
        }
        if !samples.is_empty() {
            let Ok(Message::Data(frame)) = decode(&datagram) else {
                panic!("samples for a datagram that is not a frame");
            };
            for line in samples.lines() {
                let split = rw_samples::split_line(line.as_bytes())
                    .unwrap_or_else(|e| panic!("unreadable sample line ({e}): {line:?}"));
                let (_, labels) = rw_samples::parse_series(split.series)
                    .unwrap_or_else(|e| panic!("unreadable series ({e}): {line:?}"));
                assert_eq!(
                    labels.first().map(|(n, v)| (n.as_str(), v.as_str())),
                    Some(("instance", frame.header.node)),
                    "{line:?}"
                );
            }
        }
        if outcome.ack_len > 0 {
            check_answer(&datagram, outcome.verdict, &ack[..outcome.ack_len]);
        }
        // As the server pipelines: the batch before (sealed, with the outputs) is
        // finished after this one is ingested; refused, it takes this one with it.
        let refused = mode & 2 != 0;
        if let Some(sealed_refused) = sealed.take() {
            if sealed_refused {
                ingest.rollback_sealed();
                assert!(!ingest.in_batch() && !ingest.has_sealed());
                continue;
            }
            ingest.commit_sealed();
        }
        if *len & 2 != 0 {
            ingest.seal_batch();
            sealed = Some(refused);
        } else if refused {
            ingest.rollback_batch();
        } else {
            ingest.commit_batch();
        }
    }
    match sealed {
        Some(true) => ingest.rollback_sealed(),
        Some(false) => ingest.commit_sealed(),
        None => {}
    }
    assert!(!ingest.has_sealed());
    let sources = Sources {
        stats: Some(&stats),
        ..Sources::default()
    };
    for format in [Format::Text004, Format::OpenMetrics] {
        let mut out = String::new();
        prom::render(&mut out, format, &ingest.store, now, &sources);
        check_exposition(&out, format);
        // Streamed in the smallest pieces (one node's samples of one family each), the
        // node part is the same text.
        let mut streamed = String::new();
        let mut exposition = prom::Exposition::new(format, now);
        while exposition.nodes_piece(&mut streamed, &ingest.store, None, 1) {}
        assert!(
            out.starts_with(&streamed),
            "streamed pieces differ from one go"
        );
    }
});

/// What the aggregator sent back for `datagram` (no key file: the sender is
/// unverified): never larger than the datagram, and either an ack of a data frame or
/// probe that decodes, for its node and boot id, or a refusal of a datagram refused by
/// authentication, naming the node and boot id its header carries (its body is not
/// read: a refusal tells a sender with the wrong key why, whatever it sent).
fn check_answer(datagram: &[u8], verdict: Verdict, answer: &[u8]) {
    assert!(
        answer.len() <= datagram.len(),
        "an answer larger than its datagram"
    );
    match decode(answer) {
        Ok(Message::Ack(a)) => {
            let (Ok(Message::Data(frame)) | Ok(Message::Probe(frame))) = decode(datagram) else {
                panic!("an ack for a datagram that is not a frame or probe");
            };
            assert_eq!(
                (a.node, a.boot_id),
                (frame.header.node, frame.header.boot_id)
            );
        }
        Ok(Message::Refusal(r)) => {
            assert!(
                matches!(verdict, Verdict::Auth(_) | Verdict::UnknownNode),
                "a refusal for {verdict:?}"
            );
            let (pre, node) = peek_node(datagram).expect("a refused datagram names its node");
            assert_eq!((r.node, r.boot_id), (node, pre.boot_id));
        }
        other => panic!("an answer that is neither an ack nor a refusal: {other:?}"),
    }
}

/// `measurement[,tag=value…] field=value[,…] timestamp`, split at spaces not escaped
/// by `\` and not inside a quoted field string (as InfluxDB reads it).
fn check_line_protocol(line: &str) {
    let mut sections = vec![String::new()];
    let mut chars = line.chars();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next().expect("a line ends in a lone backslash");
                sections.last_mut().unwrap().extend(['\\', next]);
            }
            // Quotes delimit string field values; in tags they are plain characters.
            '"' if sections.len() == 2 => {
                quoted = !quoted;
                sections.last_mut().unwrap().push(c);
            }
            ' ' if !quoted => sections.push(String::new()),
            '\n' | '\r' if !quoted => panic!("a raw line break in {line:?}"),
            c => sections.last_mut().unwrap().push(c),
        }
    }
    assert!(!quoted, "unterminated string in {line:?}");
    assert_eq!(sections.len(), 3, "{line:?}");
    assert!(
        !sections[0].is_empty() && !sections[0].starts_with(','),
        "{line:?}"
    );
    assert!(sections[1].contains('='), "{line:?}");
    assert!(sections[2].parse::<i64>().is_ok(), "timestamp of {line:?}");
}

/// Every line: `# …` or `name{label="value",…} value [timestamp]`.
fn check_exposition(text: &str, format: Format) {
    if format == Format::OpenMetrics {
        assert!(text.ends_with("# EOF\n"), "no # EOF");
    }
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = &line[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "metric name in {line:?}"
        );
        let mut rest = &line[name_end..];
        if let Some(labels) = rest.strip_prefix('{') {
            rest = parse_labels(labels).unwrap_or_else(|| panic!("labels of {line:?}"));
        }
        let mut fields = rest
            .strip_prefix(' ')
            .expect("a space before the value")
            .split(' ');
        let value = fields.next().unwrap();
        assert!(
            matches!(value, "NaN" | "+Inf" | "-Inf") || value.parse::<f64>().is_ok(),
            "value of {line:?}"
        );
        if let Some(ts) = fields.next() {
            assert!(ts.parse::<f64>().is_ok(), "timestamp of {line:?}");
        }
        assert!(fields.next().is_none(), "{line:?}");
    }
}

/// Parses `label="value",…}` and returns what follows the `}`.
fn parse_labels(mut s: &str) -> Option<&str> {
    loop {
        if let Some(after) = s.strip_prefix('}') {
            return Some(after);
        }
        let eq = s.find('=')?;
        let name = &s[..eq];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let mut chars = s[eq + 1..].strip_prefix('"')?.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()? {
                    (_, '\\' | '"' | 'n') => {}
                    _ => return None,
                },
                (i, '"') => break i,
                (_, '\n') => return None,
                _ => {}
            }
        };
        s = &s[eq + 2 + end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}
