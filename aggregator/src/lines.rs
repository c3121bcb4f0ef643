//! A stored data frame as InfluxDB line protocol, Telegraf style.
//!
//! Every sample of the frame whose catalog row has an InfluxDB schema becomes a field;
//! the fields of one sample group that share measurement and tag schema are merged into
//! one line (`cpu,cpu=cpu0,host=pi time_user=1.5,time_system=0.5 <ts>`), as Telegraf
//! writes them. The `host` tag is the node name; the timestamp is the frame's (or the
//! receive time when the frame's clock was off, see [`crate::ingest`]). All escaping and
//! number formatting is `pimon_protocol::text::influx`.

use std::fmt;

use pimon_protocol::catalog::{InfluxSchema, Metric};
use pimon_protocol::text::influx::{self, Precision};
use pimon_protocol::{DataFrame, MAX_LABELS, Value};

/// Reusable scratch space for [`write_frame`].
#[derive(Debug, Default)]
pub struct LineScratch {
    group: Vec<(&'static Metric, Value)>,
    done: Vec<bool>,
}

/// Appends the lines of `frame` to `out`; returns how many lines were written.
pub fn write_frame(
    out: &mut String,
    frame: &DataFrame<'_>,
    timestamp_ms: i64,
    precision: Precision,
    scratch: &mut LineScratch,
) -> Result<usize, fmt::Error> {
    let host = frame.header.node;
    let user_hz = frame.header.user_hz;
    let mut lines = 0;
    let mut labels: heapless::Vec<&str, MAX_LABELS> = heapless::Vec::new();
    scratch.group.clear();
    for sample in frame.samples() {
        if sample.labels != labels && !scratch.group.is_empty() {
            lines += write_group(
                out,
                host,
                &labels,
                user_hz,
                timestamp_ms,
                precision,
                scratch,
            )?;
            scratch.group.clear();
        }
        labels = sample.labels;
        if sample.metric.influx.is_some() {
            scratch.group.push((sample.metric, sample.value));
        }
    }
    if !scratch.group.is_empty() {
        lines += write_group(
            out,
            host,
            &labels,
            user_hz,
            timestamp_ms,
            precision,
            scratch,
        )?;
        scratch.group.clear();
    }
    Ok(lines)
}

/// Same measurement and same way of deriving tags from the same labels: one line.
fn same_line(a: &InfluxSchema, b: &InfluxSchema) -> bool {
    a.measurement == b.measurement
        && a.tags == b.tags
        && a.const_tags == b.const_tags
        && a.tag_rules == b.tag_rules
}

fn write_group(
    out: &mut String,
    host: &str,
    labels: &[&str],
    user_hz: u16,
    timestamp_ms: i64,
    precision: Precision,
    scratch: &mut LineScratch,
) -> Result<usize, fmt::Error> {
    let group = &scratch.group;
    scratch.done.clear();
    scratch.done.resize(group.len(), false);
    let mut lines = 0;
    for i in 0..group.len() {
        if scratch.done[i] {
            continue;
        }
        let Some(schema) = group[i].0.influx.as_ref() else {
            continue;
        };
        for (done, (metric, _)) in scratch.done.iter_mut().zip(group).skip(i) {
            if let Some(other) = metric.influx.as_ref()
                && same_line(schema, other)
            {
                *done = true;
            }
        }
        let done = &scratch.done;
        let fields = (i..group.len()).filter_map(|j| {
            let other = group[j].0.influx.as_ref()?;
            // Rows of this line: marked in this round (j ≥ i) and with the same schema.
            if !(done[j] && same_line(schema, other)) {
                return None;
            }
            influx::field_value(other, group[j].1, user_hz).map(|v| (other.field, v))
        });
        let tags = influx::metric_tags(schema, host, labels);
        if influx::write_line(
            out,
            schema.measurement,
            tags.as_slice(),
            fields,
            Some(timestamp_ms),
            precision,
        )? {
            lines += 1;
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::catalog::id;
    use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, seal};

    type Group<'a> = (&'a [&'a str], &'a [(u16, Value)]);

    fn frame(buf: &mut [u8; 1232], groups: &[Group<'_>]) -> usize {
        let header = DataHeader {
            node: "pi 4",
            boot_id: 1,
            seq: 0,
            resend_floor: 0,
            timestamp_ms: 1_700_000_000_000,
            interval_ms: 10_000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: None,
        };
        let mut w = FrameWriter::new(buf, &header).unwrap();
        for (labels, samples) in groups {
            w.begin_group(&EncodedLabels::encode(labels).unwrap())
                .unwrap();
            for &(id, v) in *samples {
                w.push(id, v).unwrap();
            }
        }
        let len = w.finish();
        seal(buf, len, 1, None).unwrap()
    }

    #[test]
    fn merges_fields_of_one_measurement_and_tag_set() {
        let mut buf = [0u8; 1232];
        let len = frame(
            &mut buf,
            &[
                (
                    &["0"],
                    &[
                        (id::CPU_SECONDS_USER, Value::Unsigned(150)),
                        (id::CPU_SECONDS_SYSTEM, Value::Unsigned(50)),
                    ],
                ),
                (&["1"], &[(id::CPU_SECONDS_USER, Value::Unsigned(7))]),
            ],
        );
        let f = DataFrame::parse(&buf[..len]).unwrap();
        let mut out = String::new();
        let n = write_frame(
            &mut out,
            &f,
            1_700_000_000_000,
            Precision::Seconds,
            &mut LineScratch::default(),
        )
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            out,
            "cpu,cpu=cpu0,host=pi\\ 4 time_user=1.5,time_system=0.5 1700000000\n\
             cpu,cpu=cpu1,host=pi\\ 4 time_user=0.07 1700000000\n"
        );
    }
}
