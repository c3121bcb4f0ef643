//! Foreign families as InfluxDB line protocol, in Telegraf's `inputs.prometheus`
//! schema (`metric_version = 1`, its default): one measurement per metric family,
//! every label a tag, and the value in a field named after the type:
//!
//! | type | fields |
//! |---|---|
//! | counter | `counter` |
//! | gauge | `gauge` |
//! | untyped | `value` |
//! | summary | `count`, `sum`, one per quantile named by it (`0.5`, `0.99`) |
//! | histogram | `count`, `sum`, one per bucket named by its bound (`0.1`, `+Inf`) |
//!
//! So Grafana panels built on Telegraf's scrapes of the same exporters work on pushed
//! and scraped data. NaN values are left out (Telegraf does the same; line protocol
//! has no NaN). The timestamp is the sample's own when it had one (scrapes), else
//! the push or scrape time. Escaping is `pimon_protocol::text::influx`'s.

use std::fmt;

use pimon_protocol::text::influx::{FieldValue, Precision, Tag, write_line};

use super::expo::{Family, Kind, Value};
use super::gofmt::format_g;

/// Appends the lines of `families` to `out`; returns how many were written.
pub fn write_families(
    out: &mut String,
    families: &[Family],
    timestamp_ms: i64,
    precision: Precision,
) -> Result<usize, fmt::Error> {
    let mut lines = 0;
    let mut tags: Vec<Tag<'_>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut fields: Vec<(usize, f64)> = Vec::new();
    for family in families {
        for m in &family.metrics {
            tags.clear();
            tags.extend(m.labels.iter().map(|(k, v)| Tag::new(k, v)));
            names.clear();
            fields.clear();
            match &m.value {
                Value::Scalar(v) => {
                    names.push(
                        match family.kind {
                            Kind::Counter => "counter",
                            Kind::Gauge => "gauge",
                            _ => "value",
                        }
                        .into(),
                    );
                    fields.push((0, *v));
                }
                Value::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    for (q, v) in quantiles {
                        names.push(format_g(*q));
                        fields.push((names.len() - 1, *v));
                    }
                    names.push("count".into());
                    fields.push((names.len() - 1, count.unwrap_or(0) as f64));
                    names.push("sum".into());
                    fields.push((names.len() - 1, sum.unwrap_or(0.0)));
                }
                Value::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    for (le, c) in buckets {
                        names.push(format_g(*le));
                        fields.push((names.len() - 1, *c as f64));
                    }
                    names.push("count".into());
                    fields.push((names.len() - 1, count.unwrap_or(0) as f64));
                    names.push("sum".into());
                    fields.push((names.len() - 1, sum.unwrap_or(0.0)));
                }
            }
            let names = &names;
            let written = write_line(
                out,
                &family.name,
                &tags,
                fields
                    .iter()
                    .map(|&(i, v)| (names[i].as_str(), FieldValue::Float(v))),
                Some(m.timestamp_ms.unwrap_or(timestamp_ms)),
                precision,
            )?;
            if written {
                lines += 1;
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::expo;

    #[test]
    fn telegraf_prometheus_v1_schema() {
        let fams = expo::parse(
            b"# TYPE c counter\nc{job=\"j\",instance=\"\",path=\"a b\"} 3\n# TYPE g gauge\ng NaN\nu 1.5\n\
              # TYPE s summary\ns{quantile=\"0.5\"} 2\ns_sum 7\ns_count 3\n\
              # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_sum 9\nh_count 4\n",
        )
        .unwrap();
        let mut out = String::new();
        let n =
            write_families(&mut out, &fams, 1_700_000_000_000, Precision::Milliseconds).unwrap();
        assert_eq!(n, 4, "{out}");
        assert_eq!(
            out,
            "c,job=j,path=a\\ b counter=3 1700000000000\n\
             u value=1.5 1700000000000\n\
             s 0.5=2,count=3,sum=7 1700000000000\n\
             h 0.1=1,+Inf=4,count=4,sum=9 1700000000000\n"
        );
    }
}
