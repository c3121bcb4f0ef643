//! `--print`: what a cycle would send, as text, from the sealed datagrams themselves.
//!
//! The datagrams are decoded again ([`DataFrame::parse`]), so what is printed is what
//! the aggregator would receive, rendered with `pimon_protocol::text` exactly as the
//! aggregator renders it:
//!
//! - `wire`: one line per datagram, `part=I/N bytes=B values=V`, and a summary line
//!   `total parts=N bytes=B values=V bytes/value=X`;
//! - `prom`: Prometheus text 0.0.4, one `# HELP`/`# TYPE` per family (catalog order),
//!   labelled `instance=<node>`, without timestamps (like a scrape);
//! - `influx`: InfluxDB line protocol with the node as `host` tag, the fields of one
//!   measurement and tag set merged into one line (as Telegraf writes), nanosecond
//!   timestamps.
//!
//! Printing allocates (it is not the sending path). `prom` and `influx` need the
//! `print-text` feature (the catalog's names and schemas, and the renderers); without
//! it only the datagrams are decoded, not their samples, and the table stays out of the
//! binary.

use std::fmt::Write as _;

use pimon_protocol::catalog::Metric;
#[cfg(feature = "print-text")]
use pimon_protocol::catalog::{self, InfluxSchema};
#[cfg(feature = "print-text")]
use pimon_protocol::text::influx::{self, FieldValue, Precision};
#[cfg(feature = "print-text")]
use pimon_protocol::text::prometheus::{self, Format};
use pimon_protocol::{DataFrame, Value};

use crate::cli::PrintFormat;

/// One decoded sample, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct PrintedSample {
    /// The catalog row.
    pub metric: &'static Metric,
    /// Instance label values.
    pub labels: Vec<String>,
    /// Raw value.
    pub value: Value,
}

/// The decoded content of one cycle.
#[derive(Debug, Clone, Default)]
pub struct DecodedCycle {
    /// Node name from the frames.
    pub node: String,
    /// USER_HZ from the frames.
    pub user_hz: u16,
    /// Timestamp from the frames.
    pub timestamp_ms: u64,
    /// `(part, parts, bytes, values)` per datagram.
    pub datagrams: Vec<(u8, u8, usize, u16)>,
    /// Every known sample, in frame order.
    pub samples: Vec<PrintedSample>,
}

impl DecodedCycle {
    /// Decodes the datagrams of one cycle; undecodable ones are reported as errors.
    pub fn decode<'a>(
        datagrams: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<DecodedCycle, String> {
        let mut out = DecodedCycle::default();
        for d in datagrams {
            let f = DataFrame::parse(d).map_err(|e| format!("a datagram does not decode: {e}"))?;
            out.node = f.header.node.to_string();
            out.user_hz = f.header.user_hz;
            out.timestamp_ms = f.header.timestamp_ms;
            let values = f.known_samples() + f.unknown_samples();
            out.datagrams
                .push((f.header.part, f.header.parts, d.len(), values));
            #[cfg(feature = "print-text")]
            for s in f.samples() {
                out.samples.push(PrintedSample {
                    metric: s.metric,
                    labels: s.labels.iter().map(|l| l.to_string()).collect(),
                    value: s.value,
                });
            }
        }
        Ok(out)
    }

    /// Total datagram bytes.
    pub fn bytes(&self) -> usize {
        self.datagrams.iter().map(|d| d.2).sum()
    }

    /// Total values.
    pub fn values(&self) -> usize {
        self.datagrams.iter().map(|d| usize::from(d.3)).sum()
    }

    /// Renders in `format`.
    pub fn render(&self, format: PrintFormat) -> String {
        match format {
            #[cfg(feature = "print-text")]
            PrintFormat::Prom => self.render_prom(),
            #[cfg(feature = "print-text")]
            PrintFormat::Influx => self.render_influx(),
            // Without `print-text` the command line refuses the other formats.
            _ => self.render_wire(),
        }
    }

    /// `part=I/N bytes=B values=V` per datagram, then a total line.
    pub fn render_wire(&self) -> String {
        let mut out = String::new();
        for &(part, parts, bytes, values) in &self.datagrams {
            let _ = writeln!(
                out,
                "part={}/{parts} bytes={bytes} values={values}",
                part + 1
            );
        }
        let (bytes, values) = (self.bytes(), self.values());
        let per = if values == 0 {
            0.0
        } else {
            bytes as f64 / values as f64
        };
        let _ = writeln!(
            out,
            "total parts={} bytes={bytes} values={values} bytes/value={per:.2}",
            self.datagrams.len()
        );
        out
    }

    /// Prometheus text 0.0.4.
    #[cfg(feature = "print-text")]
    pub fn render_prom(&self) -> String {
        let mut out = String::new();
        for family in catalog::families() {
            let mut header = false;
            for s in &self.samples {
                if !family.ids.contains(&s.metric.id) {
                    continue;
                }
                let labels: Vec<&str> = s.labels.iter().map(String::as_str).collect();
                if catalog::named_by_label(s.metric) {
                    // Each sample is its own family (`node_memory_<key>_bytes`).
                    let _ = prometheus::write_sample_family_header(
                        &mut out,
                        Format::Text004,
                        s.metric,
                        &labels,
                    );
                } else if !header {
                    let _ =
                        prometheus::write_family_header(&mut out, Format::Text004, family.first);
                    header = true;
                }
                let n = s.metric.conversion.convert(s.value, self.user_hz);
                let _ = prometheus::write_metric_sample(
                    &mut out,
                    Format::Text004,
                    s.metric,
                    &self.node,
                    &labels,
                    n,
                    None,
                );
            }
        }
        out
    }

    /// InfluxDB line protocol: the fields of one measurement and tag set merged into
    /// one line, lines in the order their first field appears.
    #[cfg(feature = "print-text")]
    pub fn render_influx(&self) -> String {
        struct Line<'s> {
            schema: &'static InfluxSchema,
            labels: &'s [String],
            fields: Vec<(&'static str, FieldValue<'static>)>,
        }
        let mut lines: Vec<Line<'_>> = Vec::new();
        for s in &self.samples {
            let Some(schema) = s.metric.influx.as_ref() else {
                continue;
            };
            let Some(value) = influx::field_value(schema, s.value, self.user_hz) else {
                continue;
            };
            let same = |l: &&mut Line<'_>| {
                l.schema.measurement == schema.measurement
                    && l.schema.tags == schema.tags
                    && l.schema.const_tags == schema.const_tags
                    && l.schema.tag_rules == schema.tag_rules
                    && l.labels == s.labels.as_slice()
                    && !l.fields.iter().any(|(k, _)| *k == schema.field)
            };
            match lines.iter_mut().find(|l| same(l)) {
                Some(line) => line.fields.push((schema.field, value)),
                None => lines.push(Line {
                    schema,
                    labels: &s.labels,
                    fields: vec![(schema.field, value)],
                }),
            }
        }
        let mut out = String::new();
        let ts = i64::try_from(self.timestamp_ms).ok();
        for line in lines {
            let labels: Vec<&str> = line.labels.iter().map(String::as_str).collect();
            let tags = influx::metric_tags(line.schema, &self.node, &labels);
            let _ = influx::write_line(
                &mut out,
                line.schema.measurement,
                tags.as_slice(),
                line.fields,
                ts,
                Precision::Nanoseconds,
            );
        }
        out
    }
}

#[cfg(all(test, feature = "print-text"))]
mod tests {
    use super::*;
    use crate::frames::{CycleHeader, encode_cycle};
    use crate::ring::{MIN_RING_BYTES, Ring};
    use pimon_protocol::catalog::id;

    fn cycle() -> DecodedCycle {
        let mut ring = Ring::new(vec![0u8; MIN_RING_BYTES]).unwrap();
        let header = CycleHeader {
            node: "pi4",
            boot_id: 1,
            timestamp_ms: 1_700_000_000_000,
            interval_ms: 10_000,
            user_hz: 100,
        };
        encode_cycle(&mut ring, &header, None, |s| {
            s.labels(&[]);
            s.push(id::LOAD1, Value::Unsigned(25));
            s.push(id::LOAD5, Value::Unsigned(50));
            s.labels(&["0"]);
            s.push(id::CPU_SECONDS_USER, Value::Unsigned(12345));
            s.push(id::CPU_SECONDS_NICE, Value::Unsigned(6));
            s.labels(&["1"]);
            s.push(id::CPU_SECONDS_USER, Value::Unsigned(100));
        });
        DecodedCycle::decode(ring.datagrams().map(|(_, d)| d)).unwrap()
    }

    #[test]
    fn wire_lines() {
        let c = cycle();
        let text = c.render_wire();
        let first = text.lines().next().unwrap();
        assert_eq!(first, format!("part=1/1 bytes={} values=5", c.bytes()));
        assert!(text.lines().nth(1).unwrap().starts_with("total parts=1 "));
    }

    #[test]
    fn prom_groups_families_once() {
        let text = cycle().render_prom();
        assert_eq!(
            text.matches("# TYPE node_cpu_seconds_total counter")
                .count(),
            1
        );
        assert!(
            text.contains(
                "node_cpu_seconds_total{instance=\"pi4\",cpu=\"0\",mode=\"user\"} 123.45\n"
            )
        );
        assert!(
            text.contains("node_cpu_seconds_total{instance=\"pi4\",cpu=\"1\",mode=\"user\"} 1\n")
        );
        assert!(
            text.contains("node_load1{instance=\"pi4\"} 0.25\n"),
            "{text}"
        );
    }

    #[test]
    fn influx_merges_fields() {
        let text = cycle().render_influx();
        assert!(
            text.contains(
                "cpu,cpu=cpu0,host=pi4 time_user=123.45,time_nice=0.06 1700000000000000000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("system,host=pi4 load1=0.25,load5=0.5 1700000000000000000\n"),
            "{text}"
        );
    }
}
