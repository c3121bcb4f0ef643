//! A stored frame as timestamped Prometheus samples: the record format of a
//! remote-write output's spool.
//!
//! Ingest writes one line per sample of every stored frame, in the Prometheus text
//! format with a millisecond timestamp, named and labelled exactly as `/metrics` shows
//! the series (node_exporter's names, `instance` = node, the catalog's conversions):
//!
//! ```text
//! node_cpu_seconds_total{instance="pi4",cpu="0",mode="user"} 1.5 1700000000000
//! ```
//!
//! The timestamp is the frame's (or the receive time when the node's clock was off,
//! see [`crate::ingest`]), the same as the InfluxDB lines get: two aggregators storing
//! the same frame write the same sample.
//!
//! Why text and not protobuf in the spool: a spool record is whole lines (one record
//! format, one recovery path and one staged hand-over for every output, see
//! [`crate::spool`]), and a spool stays readable with `less`. The output turns the lines
//! into a `WriteRequest` when it sends them ([`crate::remote_write::proto`]); the
//! parser here, [`split_line`] and [`parse_series`], reads only this format, never
//! panics, and refuses anything else with a [`ParseError`] (the line is dropped and
//! counted, never sent half-read).

use std::fmt;

use pimon_protocol::DataFrame;
use pimon_protocol::catalog;
use pimon_protocol::text::prometheus::{Format, write_metric_sample};

use crate::series::family_rank;

/// Appends one sample line per known sample of `frame`, stamped `timestamp_ms`.
/// Returns how many lines were written.
pub fn write_frame(
    out: &mut String,
    frame: &DataFrame<'_>,
    timestamp_ms: i64,
) -> Result<usize, fmt::Error> {
    let node = frame.header.node;
    let user_hz = frame.header.user_hz;
    let mut written = 0;
    for sample in frame.samples() {
        // The rows /metrics shows (every catalog row today).
        if family_rank(sample.metric.id).is_none() {
            continue;
        }
        // A meminfo key without a row whose name is refused: not on /metrics either.
        if catalog::sample_name(sample.metric, &sample.labels).is_none() {
            continue;
        }
        let value = sample.metric.conversion.convert(sample.value, user_hz);
        write_metric_sample(
            out,
            Format::Text004,
            sample.metric,
            node,
            &sample.labels,
            value,
            Some(timestamp_ms),
        )?;
        written += 1;
    }
    Ok(written)
}

/// Why a spool line is not a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8.
    NotUtf8,
    /// The metric name is missing or not `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    BadName,
    /// The label block is malformed (name, `=`, quotes, escapes, separators).
    BadLabels,
    /// A label name is repeated.
    DuplicateLabel,
    /// The value is missing or not a number.
    BadValue,
    /// The timestamp is missing or not an integer of milliseconds.
    BadTimestamp,
    /// Something follows the timestamp.
    TrailingData,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::NotUtf8 => "not UTF-8",
            ParseError::BadName => "bad metric name",
            ParseError::BadLabels => "malformed labels",
            ParseError::DuplicateLabel => "repeated label name",
            ParseError::BadValue => "bad value",
            ParseError::BadTimestamp => "bad timestamp",
            ParseError::TrailingData => "data after the timestamp",
        })
    }
}

impl std::error::Error for ParseError {}

/// One line cut in its parts: the series (`name{labels}`, still escaped: the key that
/// groups samples of one series), the value and the timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitLine<'a> {
    /// `name` or `name{…}` exactly as written.
    pub series: &'a str,
    /// The value.
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Splits a line (without its `\n`) into series, value and timestamp.
pub fn split_line(line: &[u8]) -> Result<SplitLine<'_>, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    let name_end = line.find(['{', ' ']).ok_or(ParseError::BadValue)?;
    if !valid_metric_name(&line[..name_end]) {
        return Err(ParseError::BadName);
    }
    let series_end = if line[name_end..].starts_with('{') {
        name_end + label_block_len(&line[name_end..])?
    } else {
        name_end
    };
    let rest = line[series_end..]
        .strip_prefix(' ')
        .ok_or(ParseError::BadLabels)?;
    let mut fields = rest.split(' ');
    let value = fields.next().ok_or(ParseError::BadValue)?;
    let value = parse_value(value).ok_or(ParseError::BadValue)?;
    let ts = fields.next().ok_or(ParseError::BadTimestamp)?;
    let timestamp_ms = ts.parse::<i64>().map_err(|_| ParseError::BadTimestamp)?;
    if fields.next().is_some() {
        return Err(ParseError::TrailingData);
    }
    Ok(SplitLine {
        series: &line[..series_end],
        value,
        timestamp_ms,
    })
}

/// Label names and unescaped values, in the order written.
pub type Labels = Vec<(String, String)>;

/// The metric name and the labels of a [`SplitLine::series`].
pub fn parse_series(series: &str) -> Result<(&str, Labels), ParseError> {
    let (name, block) = match series.find('{') {
        Some(i) => (&series[..i], &series[i..]),
        None => (series, ""),
    };
    if !valid_metric_name(name) {
        return Err(ParseError::BadName);
    }
    let mut labels = Labels::new();
    if block.is_empty() {
        return Ok((name, labels));
    }
    if label_block_len(block)? != block.len() {
        return Err(ParseError::BadLabels);
    }
    let mut rest = &block[1..block.len() - 1];
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(ParseError::BadLabels)?;
        let label = &rest[..eq];
        if !valid_label_name(label) {
            return Err(ParseError::BadLabels);
        }
        let after = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or(ParseError::BadLabels)?;
        let (value, used) = unescape_quoted(after)?;
        // `__name__` is the metric name, given before the braces.
        if label == "__name__" || labels.iter().any(|(n, _)| n == label) {
            return Err(ParseError::DuplicateLabel);
        }
        labels.push((label.to_string(), value));
        rest = &after[used..];
        rest = match rest.strip_prefix(',') {
            Some(r) if !r.is_empty() => r,
            Some(_) => return Err(ParseError::BadLabels),
            None if rest.is_empty() => rest,
            None => return Err(ParseError::BadLabels),
        };
    }
    Ok((name, labels))
}

/// Length of the `{…}` block at the start of `s`, honouring quotes and escapes.
fn label_block_len(s: &str) -> Result<usize, ParseError> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'{') {
        return Err(ParseError::BadLabels);
    }
    let mut in_quotes = false;
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match (in_quotes, b) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_quotes = !in_quotes,
            (false, b'}') => return Ok(i + 1),
            _ => {}
        }
        i += 1;
    }
    Err(ParseError::BadLabels)
}

/// Reads a quoted label value (after its opening quote) up to the closing quote;
/// returns the unescaped value and the bytes used, closing quote included.
fn unescape_quoted(s: &str) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                _ => return Err(ParseError::BadLabels),
            },
            '\n' => return Err(ParseError::BadLabels),
            c => out.push(c),
        }
    }
    Err(ParseError::BadLabels)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the remote write spec's metric name.
pub fn valid_metric_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, the remote write spec's label name.
pub fn valid_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A value as the exposition formats write it: a decimal or exponent number, `NaN`,
/// `+Inf`, `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        // Rust's parser also takes "inf" and "nan" spellings: not ours.
        _ if s
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::catalog::id;
    use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, Value, seal};

    fn frame(buf: &mut [u8; 1232], node: &str) -> usize {
        let header = DataHeader {
            node,
            boot_id: 1,
            seq: 0,
            resend_floor: 0,
            timestamp_ms: 1_700_000_000_123,
            interval_ms: 10_000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: None,
        };
        let mut w = FrameWriter::new(buf, &header).unwrap();
        w.begin_group(&EncodedLabels::encode(&["0"]).unwrap())
            .unwrap();
        w.push(id::CPU_SECONDS_USER, Value::Unsigned(150)).unwrap();
        w.push(id::CPU_SECONDS_SYSTEM, Value::Unsigned(50)).unwrap();
        w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
        w.push(id::MEM_MEMTOTAL, Value::Unsigned(1024)).unwrap();
        let len = w.finish();
        seal(buf, len, 1, None).unwrap()
    }

    #[test]
    fn a_frame_becomes_one_timestamped_sample_line_per_value_as_metrics_names_it() {
        let mut buf = [0u8; 1232];
        let len = frame(&mut buf, "pi \"4\"");
        let f = DataFrame::parse(&buf[..len]).unwrap();
        let mut out = String::new();
        assert_eq!(write_frame(&mut out, &f, 1_700_000_000_123).unwrap(), 3);
        assert_eq!(
            out,
            "node_cpu_seconds_total{instance=\"pi \\\"4\\\"\",cpu=\"0\",mode=\"user\"} 1.5 1700000000123\n\
             node_cpu_seconds_total{instance=\"pi \\\"4\\\"\",cpu=\"0\",mode=\"system\"} 0.5 1700000000123\n\
             node_memory_MemTotal_bytes{instance=\"pi \\\"4\\\"\"} 1048576 1700000000123\n"
        );
    }

    #[test]
    fn meminfo_keys_without_a_row_are_named_as_on_metrics_and_refused_ones_left_out() {
        let mut buf = [0u8; 1232];
        let header = DataHeader {
            node: "vm",
            boot_id: 1,
            seq: 0,
            resend_floor: 0,
            timestamp_ms: 1_700_000_000_123,
            interval_ms: 10_000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: None,
        };
        let mut w = FrameWriter::new(&mut buf, &header).unwrap();
        for (metric, key, v) in [
            (id::MEM_OTHER_BYTES, "Balloon", 524_288),
            (id::MEM_OTHER, "FooPages_Total", 7),
            (id::MEM_OTHER_BYTES, "Bad-Key", 1),
            (id::MEM_OTHER_BYTES, "MemTotal", 1),
        ] {
            w.begin_group(&EncodedLabels::encode(&[key]).unwrap())
                .unwrap();
            w.push(metric, Value::Unsigned(v)).unwrap();
        }
        let len = w.finish();
        let len = seal(&mut buf, len, 1, None).unwrap();
        let f = DataFrame::parse(&buf[..len]).unwrap();
        let mut out = String::new();
        assert_eq!(write_frame(&mut out, &f, 1_700_000_000_123).unwrap(), 2);
        assert_eq!(
            out,
            "node_memory_Balloon_bytes{instance=\"vm\"} 536870912 1700000000123\n\
             node_memory_FooPages_Total{instance=\"vm\"} 7 1700000000123\n"
        );
        let line = split_line(out.lines().next().unwrap().as_bytes()).unwrap();
        let (name, labels) = parse_series(line.series).unwrap();
        assert_eq!(name, "node_memory_Balloon_bytes");
        assert_eq!(labels, vec![("instance".to_string(), "vm".to_string())]);
    }

    #[test]
    fn written_lines_read_back_to_the_same_series_value_and_time() {
        let mut buf = [0u8; 1232];
        let len = frame(&mut buf, "a,b=\"c\"\\");
        let f = DataFrame::parse(&buf[..len]).unwrap();
        let mut out = String::new();
        write_frame(&mut out, &f, -5).unwrap();
        let first = out.lines().next().unwrap();
        let s = split_line(first.as_bytes()).unwrap();
        assert_eq!((s.value, s.timestamp_ms), (1.5, -5));
        let (name, labels) = parse_series(s.series).unwrap();
        assert_eq!(name, "node_cpu_seconds_total");
        assert_eq!(
            labels,
            vec![
                ("instance".to_string(), "a,b=\"c\"\\".to_string()),
                ("cpu".to_string(), "0".to_string()),
                ("mode".to_string(), "user".to_string()),
            ]
        );
    }

    #[test]
    fn values_and_labels_in_every_spelling() {
        for (text, want) in [
            ("x 1 0", 1.0),
            ("x -2.5e-7 0", -2.5e-7),
            ("x +Inf 0", f64::INFINITY),
            ("x -Inf 0", f64::NEG_INFINITY),
        ] {
            assert_eq!(split_line(text.as_bytes()).unwrap().value, want, "{text}");
        }
        assert!(split_line(b"x NaN 7").unwrap().value.is_nan());
        let s = split_line(b"a_b:c{l=\"} {\",m=\"x\\ny\"} 3 9").unwrap();
        assert_eq!(s.series, "a_b:c{l=\"} {\",m=\"x\\ny\"}");
        let (_, labels) = parse_series(s.series).unwrap();
        assert_eq!(labels[0].1, "} {");
        assert_eq!(labels[1].1, "x\ny");
        assert_eq!(parse_series("up").unwrap(), ("up", vec![]));
    }

    #[test]
    fn malformed_lines_are_errors_never_panics() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"", ParseError::BadValue),
            (b"\xff 1 2", ParseError::NotUtf8),
            (b"1x 1 2", ParseError::BadName),
            (b"x{ 1 2", ParseError::BadLabels),
            (b"x 1", ParseError::BadTimestamp),
            (b"x inf 2", ParseError::BadValue),
            (b"x 1 2.5", ParseError::BadTimestamp),
            (b"x 1 2 3", ParseError::TrailingData),
            (b"x{a=\"1\"}1 2", ParseError::BadLabels),
        ];
        for (line, want) in cases {
            assert_eq!(split_line(line).err(), Some(*want), "{line:?}");
        }
        for series in [
            "x{a=1}",
            "x{a=\"1\",}",
            "x{a=\"1\"b=\"2\"}",
            "x{=\"1\"}",
            "x{a=\"\\q\"}",
            "x{a=\"1\"",
        ] {
            assert_eq!(
                parse_series(series).err(),
                Some(ParseError::BadLabels),
                "{series}"
            );
        }
        assert_eq!(
            parse_series("x{a=\"1\",a=\"2\"}").err(),
            Some(ParseError::DuplicateLabel)
        );
        assert_eq!(
            parse_series("x{__name__=\"y\"}").err(),
            Some(ParseError::DuplicateLabel)
        );
        let mut seed = 0x9e37_79b9u32;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    b"x{a=\"\\n,}} 1e5NaInf-+\xc3"[(seed % 22) as usize]
                })
                .collect();
            if let Ok(s) = split_line(&bytes) {
                let _ = parse_series(s.series);
            }
        }
    }
}
