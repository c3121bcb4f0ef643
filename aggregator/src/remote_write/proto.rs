//! The remote write 1.0 wire format: a `WriteRequest` protobuf, snappy-compressed in
//! the block format.
//!
//! The messages are derived with `prost` from the schema the specification gives
//! (`prometheus/prompb/remote.proto`, fields 1 and 2 only; 3 — metadata — is left out
//! of 1.0). [`RequestBuilder`] turns spool lines ([`crate::remote_write::samples`]) into
//! one request: samples of one series share a `TimeSeries` (its labels sent once), in
//! timestamp order; every label set carries `__name__`, the external labels the series
//! does not already have (the series' own labels win, as in Prometheus), no empty
//! values, and is sorted by name, as the specification requires.

use std::collections::HashMap;

use crate::remote_write::samples::{self, ParseError};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, `__name__` included, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value (never empty).
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Builds one `WriteRequest` from spool lines.
#[derive(Debug, Default)]
pub struct RequestBuilder<'e> {
    external: &'e [(String, String)],
    index: HashMap<String, usize>,
    request: WriteRequest,
    samples: usize,
}

impl<'e> RequestBuilder<'e> {
    /// An empty request; `external` labels (valid names, non-empty values) are added
    /// to every series that lacks them.
    pub fn new(external: &'e [(String, String)]) -> RequestBuilder<'e> {
        RequestBuilder {
            external,
            index: HashMap::new(),
            request: WriteRequest::default(),
            samples: 0,
        }
    }

    /// Adds the sample of one spool line (without its `\n`).
    pub fn push(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let s = samples::split_line(line)?;
        let i = match self.index.get(s.series) {
            Some(&i) => i,
            None => {
                let labels = self.labels(s.series)?;
                let i = self.request.timeseries.len();
                self.request.timeseries.push(TimeSeries {
                    labels,
                    samples: Vec::new(),
                });
                self.index.insert(s.series.to_string(), i);
                i
            }
        };
        self.request.timeseries[i].samples.push(Sample {
            value: s.value,
            timestamp: s.timestamp_ms,
        });
        self.samples += 1;
        Ok(())
    }

    fn labels(&self, series: &str) -> Result<Vec<Label>, ParseError> {
        let (name, own) = samples::parse_series(series)?;
        let mut labels: Vec<Label> = Vec::with_capacity(own.len() + 1 + self.external.len());
        labels.push(Label {
            name: "__name__".into(),
            value: name.into(),
        });
        for (n, v) in own {
            if !v.is_empty() {
                labels.push(Label { name: n, value: v });
            }
        }
        for (n, v) in self.external {
            if !labels.iter().any(|l| &l.name == n) {
                labels.push(Label {
                    name: n.clone(),
                    value: v.clone(),
                });
            }
        }
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(labels)
    }

    /// Samples added.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Series in the request.
    pub fn series(&self) -> usize {
        self.request.timeseries.len()
    }

    /// The request, each series' samples in timestamp order (a frame resent after an
    /// outage may have been stored after newer ones).
    pub fn finish(mut self) -> WriteRequest {
        for ts in &mut self.request.timeseries {
            ts.samples.sort_by_key(|s| s.timestamp);
        }
        self.request
    }
}

/// The HTTP body: the request's protobuf encoding, snappy-compressed (block format).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(request);
    // Compressing into a Vec sized by max_compress_len cannot fail.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Why a body could not be decoded (receivers and tests).
#[derive(Debug)]
pub enum DecodeError {
    /// Not snappy block format.
    Snappy(snap::Error),
    /// Not a `WriteRequest`.
    Protobuf(prost::DecodeError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Snappy(e) => write!(f, "snappy: {e}"),
            DecodeError::Protobuf(e) => write!(f, "protobuf: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a body made by [`encode`] (or any remote write 1.0 sender). Refuses bodies
/// that would decompress to more than `max_bytes`.
pub fn decode(body: &[u8], max_bytes: usize) -> Result<WriteRequest, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(DecodeError::Snappy)?;
    if len > max_bytes {
        return Err(DecodeError::Snappy(snap::Error::TooBig {
            given: len as u64,
            max: max_bytes as u64,
        }));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    prost::Message::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ts: &TimeSeries) -> Vec<(&str, &str)> {
        ts.labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn labels_sorted_with_name_external_labels_added_unless_present_and_no_empty_values() {
        let external = vec![
            ("site".to_string(), "home".to_string()),
            ("instance".to_string(), "never-used".to_string()),
        ];
        let mut b = RequestBuilder::new(&external);
        b.push(
            b"node_cpu_seconds_total{instance=\"pi\",cpu=\"0\",mode=\"user\",empty=\"\"} 1.5 20",
        )
        .unwrap();
        let r = b.finish();
        assert_eq!(
            names(&r.timeseries[0]),
            [
                ("__name__", "node_cpu_seconds_total"),
                ("cpu", "0"),
                ("instance", "pi"),
                ("mode", "user"),
                ("site", "home"),
            ]
        );
    }

    #[test]
    fn samples_of_one_series_share_it_in_timestamp_order() {
        let mut b = RequestBuilder::new(&[]);
        b.push(b"a{instance=\"x\"} 3 300").unwrap();
        b.push(b"b{instance=\"x\"} 9 100").unwrap();
        b.push(b"a{instance=\"x\"} 1 100").unwrap();
        b.push(b"a{instance=\"y\"} 2 200").unwrap();
        assert_eq!((b.samples(), b.series()), (4, 3));
        let r = b.finish();
        let a = &r.timeseries[0];
        assert_eq!(
            a.samples
                .iter()
                .map(|s| (s.timestamp, s.value))
                .collect::<Vec<_>>(),
            [(100, 1.0), (300, 3.0)]
        );
    }

    #[test]
    fn body_is_snappy_block_protobuf_that_decodes_to_the_same_request() {
        let mut b = RequestBuilder::new(&[]);
        b.push(b"up{instance=\"pi\"} 1 1700000000000").unwrap();
        let r = b.finish();
        let body = encode(&r);
        // Snappy block format starts with the uncompressed length as a varint (no
        // stream identifier chunk, which the framed format would start with).
        assert_ne!(body.first(), Some(&0xff));
        let raw = prost::Message::encode_to_vec(&r);
        assert_eq!(snap::raw::decompress_len(&body).unwrap(), raw.len());
        assert_eq!(decode(&body, 1 << 20).unwrap(), r);
        assert!(decode(&body, 2).is_err(), "bounded");
        assert!(decode(b"\x05junk", 1 << 20).is_err());
    }

    #[test]
    fn a_malformed_line_is_refused_and_leaves_the_request_as_it_was() {
        let mut b = RequestBuilder::new(&[]);
        assert!(b.push(b"x{a=1} 1 1").is_err());
        assert_eq!((b.samples(), b.series()), (0, 0));
    }
}
