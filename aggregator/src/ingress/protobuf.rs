//! Pushed bodies in the protobuf format (`Content-Type:
//! application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
//! encoding=delimited`): a run of `io.prometheus.client.MetricFamily` messages, each
//! after its length as a varint. Go's push client sends this by default.
//!
//! A small decoder of exactly the fields the exposition has (name, help, type,
//! metrics with labels, counter/gauge/untyped values, summaries, histograms with
//! classic buckets, timestamps); unknown fields are skipped as protobuf requires, so
//! newer senders' exemplars and native-histogram fields are ignored. A family that
//! comes twice replaces the earlier one, as in the Pushgateway. Never panics, never
//! reads past the body; fuzzed (`fuzz/fuzz_targets/push_protobuf.rs`).

use std::fmt;

use super::expo::{Family, Kind, Metric, Value, is_label_name, is_metric_name};
use super::gofmt::{metric_text, quote_str};

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: &str) -> ProtoError {
    ProtoError(format!(
        "proto: cannot parse invalid wire-format data ({what})"
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(n).ok_or_else(|| bad("length"))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| bad("truncated field"))?;
        self.pos = end;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u64, Field<'a>), ProtoError> {
        let key = self.varint()?;
        let number = key >> 3;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| bad("fixed64"))?,
            )),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| bad("length"))?;
                Field::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed32
            }
            _ => return Err(bad("wire type")),
        };
        Ok((number, field))
    }
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn double(f: &Field<'_>) -> Option<f64> {
    match f {
        Field::Fixed64(v) => Some(f64::from_bits(*v)),
        _ => None,
    }
}

/// One numeric field out of a small message (`Gauge`, `Counter`, `Untyped`).
fn value_of(msg: &[u8]) -> Result<f64, ProtoError> {
    let mut r = Reader::new(msg);
    let mut v = 0.0;
    while !r.done() {
        let (n, f) = r.field()?;
        if n == 1
            && let Some(x) = double(&f)
        {
            v = x;
        }
    }
    Ok(v)
}

/// The value fields a `Metric` carried, for the type check.
#[derive(Default)]
struct Parsed {
    labels: Vec<(String, String)>,
    gauge: Option<f64>,
    counter: Option<f64>,
    untyped: Option<f64>,
    summary: Option<Value>,
    histogram: Option<Value>,
    timestamp_ms: Option<i64>,
}

fn metric(msg: &[u8]) -> Result<Parsed, ProtoError> {
    let mut p = Parsed::default();
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.field()? {
            (1, Field::Bytes(b)) => {
                let mut lr = Reader::new(b);
                let (mut name, mut value) = (String::new(), String::new());
                while !lr.done() {
                    match lr.field()? {
                        (1, Field::Bytes(s)) => name = string(s),
                        (2, Field::Bytes(s)) => value = string(s),
                        _ => {}
                    }
                }
                p.labels.push((name, value));
            }
            (2, Field::Bytes(b)) => p.gauge = Some(value_of(b)?),
            (3, Field::Bytes(b)) => p.counter = Some(value_of(b)?),
            (5, Field::Bytes(b)) => p.untyped = Some(value_of(b)?),
            (6, Field::Varint(v)) => p.timestamp_ms = Some(v as i64),
            (4, Field::Bytes(b)) => {
                let (mut count, mut sum, mut quantiles) = (None, None, Vec::new());
                let mut sr = Reader::new(b);
                while !sr.done() {
                    match sr.field()? {
                        (1, Field::Varint(v)) => count = Some(v),
                        (2, f) => sum = double(&f),
                        (3, Field::Bytes(q)) => {
                            let (mut quantile, mut value) = (0.0, 0.0);
                            let mut qr = Reader::new(q);
                            while !qr.done() {
                                match qr.field()? {
                                    (1, f) => quantile = double(&f).unwrap_or(0.0),
                                    (2, f) => value = double(&f).unwrap_or(0.0),
                                    _ => {}
                                }
                            }
                            quantiles.push((quantile, value));
                        }
                        _ => {}
                    }
                }
                p.summary = Some(Value::Summary {
                    count,
                    sum,
                    quantiles,
                });
            }
            (7, Field::Bytes(b)) => {
                let (mut count, mut sum, mut buckets) = (None, None, Vec::new());
                let mut hr = Reader::new(b);
                while !hr.done() {
                    match hr.field()? {
                        (1, Field::Varint(v)) => count = Some(v),
                        (2, f) => sum = double(&f),
                        (3, Field::Bytes(q)) => {
                            let (mut cumulative, mut bound) = (0u64, 0.0);
                            let mut br = Reader::new(q);
                            while !br.done() {
                                match br.field()? {
                                    (1, Field::Varint(v)) => cumulative = v,
                                    (2, f) => bound = double(&f).unwrap_or(0.0),
                                    _ => {}
                                }
                            }
                            buckets.push((bound, cumulative));
                        }
                        _ => {}
                    }
                }
                p.histogram = Some(Value::Histogram {
                    count,
                    sum,
                    buckets,
                });
            }
            _ => {}
        }
    }
    Ok(p)
}

fn family(msg: &[u8]) -> Result<(Family, Vec<Parsed>), ProtoError> {
    let (mut name, mut help, mut kind) = (String::new(), None, 3u64);
    let mut metrics = Vec::new();
    let mut r = Reader::new(msg);
    while !r.done() {
        match r.field()? {
            (1, Field::Bytes(b)) => name = string(b),
            (2, Field::Bytes(b)) => help = Some(string(b)),
            (3, Field::Varint(v)) => kind = v,
            (4, Field::Bytes(b)) => metrics.push(metric(b)?),
            _ => {}
        }
    }
    let kind = match kind {
        0 => Kind::Counter,
        1 => Kind::Gauge,
        2 => Kind::Summary,
        4 => Kind::Histogram,
        _ => Kind::Untyped,
    };
    Ok((
        Family {
            name,
            help,
            kind,
            metrics: Vec::new(),
        },
        metrics,
    ))
}

/// A metric the exposition format could not have carried: a value field that is not
/// its family's type, a bad or repeated label name, a bad family name.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Family name.
    pub name: String,
    /// The metric's labels as sent.
    pub labels: Vec<(String, String)>,
    /// The value field it has (`gauge`, …) and its value.
    pub field: &'static str,
    /// See `field`.
    pub value: Value,
    /// What is wrong: the text after `collected metric "x" { … } `.
    pub problem: String,
    /// The whole message is `problem` alone (a family name error).
    pub bare: bool,
}

impl Invalid {
    /// The Pushgateway's text, after the group's labels were applied to the metric
    /// (grouping labels win, `instance=""` added), as its check sees it.
    pub fn message(&self, key: &super::pushpath::GroupingKey) -> String {
        if self.bare {
            return self.problem.clone();
        }
        let mut f = Family {
            name: self.name.clone(),
            help: None,
            kind: Kind::Untyped,
            metrics: vec![Metric {
                labels: self.labels.clone(),
                value: self.value.clone(),
                timestamp_ms: None,
            }],
        };
        super::groups::sanitize(&mut f, key);
        format!(
            "collected metric {} {{ {}}} {}",
            quote_str(self.name.as_bytes()),
            metric_text(&f.metrics[0].labels, self.field, &self.value),
            self.problem
        )
    }
}

/// A decoded body: the families, and the first metric that is not valid (the
/// Pushgateway's 400 `pushed metrics are invalid …`).
pub type Decoded = (Vec<Family>, Option<Invalid>);

/// Decodes a delimited body.
pub fn parse_delimited(body: &[u8]) -> Result<Decoded, ProtoError> {
    let mut r = Reader::new(body);
    let mut out: Vec<Family> = Vec::new();
    let mut invalid = None;
    while !r.done() {
        let n = usize::try_from(r.varint()?).map_err(|_| bad("length"))?;
        let msg = r.take(n)?;
        let (mut fam, parsed) = family(msg)?;
        if !is_metric_name(&fam.name) {
            invalid.get_or_insert(Invalid {
                name: fam.name.clone(),
                labels: Vec::new(),
                field: "untyped",
                value: Value::Scalar(0.0),
                problem: format!(
                    "{} is not a valid metric name",
                    quote_str(fam.name.as_bytes())
                ),
                bare: true,
            });
            continue;
        }
        for p in parsed {
            let (field, value) = match fam.kind {
                Kind::Counter => ("counter", p.counter.map(Value::Scalar)),
                Kind::Gauge => ("gauge", p.gauge.map(Value::Scalar)),
                Kind::Untyped => ("untyped", p.untyped.map(Value::Scalar)),
                Kind::Summary => ("summary", p.summary.clone()),
                Kind::Histogram => ("histogram", p.histogram.clone()),
            };
            let mut sorted = p.labels.clone();
            sorted.sort();
            let (shown_field, shown_value) = [
                ("gauge", p.gauge.map(Value::Scalar)),
                ("counter", p.counter.map(Value::Scalar)),
                ("summary", p.summary.clone()),
                ("untyped", p.untyped.map(Value::Scalar)),
                ("histogram", p.histogram.clone()),
            ]
            .into_iter()
            .find_map(|(f, v)| v.map(|v| (f, v)))
            .unwrap_or((field, Value::Scalar(0.0)));
            let problem = if value.is_none() {
                Some(format!("is not a {}", fam.kind.proto_name()))
            } else if let Some((n, _)) = sorted.iter().find(|(n, _)| !is_label_name(n)) {
                Some(format!("has a label with an invalid name: {n}"))
            } else {
                sorted
                    .windows(2)
                    .find(|w| w[0].0 == w[1].0)
                    .map(|w| format!("has two or more labels with the same name: {}", w[0].0))
            };
            if let Some(problem) = problem {
                invalid.get_or_insert(Invalid {
                    name: fam.name.clone(),
                    labels: p.labels.clone(),
                    field: shown_field,
                    value: shown_value,
                    problem,
                    bare: false,
                });
                continue;
            }
            if let Some(value) = value {
                fam.metrics.push(Metric {
                    labels: p.labels,
                    value,
                    timestamp_ms: p.timestamp_ms,
                });
            }
        }
        // A family that comes twice replaces the earlier one.
        out.retain(|f| f.name != fam.name);
        if !fam.metrics.is_empty() {
            out.push(fam);
        }
    }
    Ok((out, invalid))
}

/// Encodes families as a delimited body (tests, fuzz seeds).
pub fn encode_delimited(families: &[Family]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
    fn double(out: &mut Vec<u8>, field: u64, v: f64) {
        varint(out, field << 3 | 1);
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    let mut out = Vec::new();
    for f in families {
        let mut fam = Vec::new();
        bytes(&mut fam, 1, f.name.as_bytes());
        if let Some(h) = &f.help {
            bytes(&mut fam, 2, h.as_bytes());
        }
        varint(&mut fam, 3 << 3);
        varint(
            &mut fam,
            match f.kind {
                Kind::Counter => 0,
                Kind::Gauge => 1,
                Kind::Summary => 2,
                Kind::Untyped => 3,
                Kind::Histogram => 4,
            },
        );
        for m in &f.metrics {
            let mut msg = Vec::new();
            for (k, v) in &m.labels {
                let mut pair = Vec::new();
                bytes(&mut pair, 1, k.as_bytes());
                bytes(&mut pair, 2, v.as_bytes());
                bytes(&mut msg, 1, &pair);
            }
            let mut inner = Vec::new();
            let field = match &m.value {
                Value::Scalar(v) => {
                    double(&mut inner, 1, *v);
                    match f.kind {
                        Kind::Counter => 3,
                        Kind::Gauge => 2,
                        _ => 5,
                    }
                }
                Value::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    if let Some(c) = count {
                        varint(&mut inner, 1 << 3);
                        varint(&mut inner, *c);
                    }
                    if let Some(v) = sum {
                        double(&mut inner, 2, *v);
                    }
                    for (q, v) in quantiles {
                        let mut qm = Vec::new();
                        double(&mut qm, 1, *q);
                        double(&mut qm, 2, *v);
                        bytes(&mut inner, 3, &qm);
                    }
                    4
                }
                Value::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    if let Some(c) = count {
                        varint(&mut inner, 1 << 3);
                        varint(&mut inner, *c);
                    }
                    if let Some(v) = sum {
                        double(&mut inner, 2, *v);
                    }
                    for (le, c) in buckets {
                        let mut b = Vec::new();
                        varint(&mut b, 1 << 3);
                        varint(&mut b, *c);
                        double(&mut b, 2, *le);
                        bytes(&mut inner, 3, &b);
                    }
                    7
                }
            };
            bytes(&mut msg, field, &inner);
            if let Some(ts) = m.timestamp_ms {
                varint(&mut msg, 6 << 3);
                varint(&mut msg, ts as u64);
            }
            bytes(&mut fam, 4, &msg);
        }
        varint(&mut out, fam.len() as u64);
        out.extend_from_slice(&fam);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::expo;

    #[test]
    fn round_trip_of_every_type() {
        let fams = expo::parse(
            b"# HELP c Requests.\n# TYPE c counter\nc{a=\"1\"} 3\n# TYPE g gauge\ng -1.5\nu 7\n\
              # TYPE s summary\ns{quantile=\"0.5\"} 2\ns_sum 7\ns_count 3\n\
              # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n",
        )
        .unwrap();
        let body = encode_delimited(&fams);
        let (back, invalid) = parse_delimited(&body).unwrap();
        assert_eq!(invalid, None);
        assert_eq!(back, fams);
    }

    #[test]
    fn invalid_metrics_and_broken_bytes() {
        let gauge = encode_delimited(&expo::parse(b"# TYPE g gauge\ng 1\n").unwrap());
        // The family's type (field 3) turned to COUNTER: its metric carries a gauge.
        let mut body = gauge.clone();
        let pos = body.windows(2).position(|w| w == [0x18, 1]).unwrap();
        body[pos + 1] = 0;
        let (ok, invalid) = parse_delimited(&body).unwrap();
        assert!(ok.is_empty());
        let key = crate::ingress::pushpath::parse("/metrics/job/pb").unwrap();
        assert_eq!(
            invalid.unwrap().message(&key),
            "collected metric \"g\" { label:<name:\"instance\" value:\"\" > label:<name:\"job\" value:\"pb\" > gauge:<value:1 > } is not a COUNTER"
        );
        assert!(parse_delimited(&gauge[..gauge.len() - 1]).is_err());
        assert!(parse_delimited(&[0xff; 11]).is_err());
        assert_eq!(parse_delimited(b"").unwrap(), (vec![], None));
    }

    /// Fuzz target `push_protobuf`: a family named `p\xb5_t` came back among the
    /// decoded families (with the error reported beside it), so a caller that stored
    /// the families would have served an unparsable name.
    #[test]
    fn families_with_an_invalid_name_are_reported_not_returned() {
        let mut body = encode_delimited(&expo::parse(b"pb_t 1\n").unwrap());
        let at = body.windows(4).position(|w| w == b"pb_t").unwrap();
        body[at + 1] = 0xb5;
        let (families, invalid) = parse_delimited(&body).unwrap();
        assert_eq!(families, vec![]);
        let key = crate::ingress::pushpath::parse("/metrics/job/pb").unwrap();
        assert!(
            invalid
                .unwrap()
                .message(&key)
                .ends_with("is not a valid metric name")
        );
    }
}
