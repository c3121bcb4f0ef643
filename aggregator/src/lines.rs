//! A stored data frame as InfluxDB line protocol, Telegraf style.
//!
//! Every sample of the frame whose catalog row has an InfluxDB schema becomes a field;
//! the fields of one sample group that share measurement and tag schema are merged into
//! one line (`cpu,cpu=cpu0,host=pi time_user=1.5,time_system=0.5 <ts>`), as Telegraf
//! writes them. Each line also gets what Telegraf computes from the same numbers
//! ([`crate::telegraf`]: `usage_*`, `used_percent`, the `mode` tag…), and a group may
//! add lines no catalog row maps to (`swap`). The `host` tag is the node name; the
//! timestamp is the frame's (or the receive time when the frame's clock was off, see
//! [`crate::ingest`]). All escaping and number formatting is
//! `pimon_protocol::text::influx`.

use std::fmt;

use pimon_protocol::catalog::{InfluxSchema, Metric, TagRule};
use pimon_protocol::frame::Visit;
use pimon_protocol::text::influx::{self, FieldValue, Precision, Tag, TagSet};
use pimon_protocol::{DataFrame, MAX_LABELS, Value};

use crate::telegraf::cpu::{CpuHistory, CpuKey, Cycle, USAGE_FIELDS};
use crate::telegraf::{self, CycleContext, Extras, Group};

/// Reusable scratch space for [`write_frame`].
#[derive(Debug, Default)]
pub struct LineScratch {
    group: Vec<(&'static Metric, Value)>,
    done: Vec<bool>,
    fields: Vec<(&'static str, FieldValue<'static>)>,
}

/// Appends the lines of `frame` to `out`; returns how many lines were written. With the
/// node's `history`, CPU lines get Telegraf's `usage_*` (and a cycle that waited for
/// this one gets its line).
///
/// The frame was validated when it was parsed; this is a second walk over its body
/// ([`DataFrame::visit`]), which hands each group's labels over once.
pub fn write_frame(
    out: &mut String,
    frame: &DataFrame<'_>,
    timestamp_ms: i64,
    precision: Precision,
    scratch: &mut LineScratch,
    history: Option<&mut CpuHistory>,
) -> Result<usize, fmt::Error> {
    let h = frame.header;
    scratch.group.clear();
    let mut writer = FrameLines {
        out,
        host: h.node,
        precision,
        scratch,
        ctx: CycleContext {
            cycle: Cycle::of(h.boot_id, h.seq, h.part, h.parts),
            timestamp_ms,
            user_hz: h.user_hz,
            history,
            late: heapless::Vec::new(),
        },
        labels: heapless::Vec::new(),
        lines: Ok(0),
    };
    frame.visit(&mut writer);
    writer.flush();
    let FrameLines {
        out,
        host,
        ctx,
        mut lines,
        ..
    } = writer;
    for late in &ctx.late {
        lines = lines.and_then(|n| {
            Ok(n + write_usage(
                out,
                host,
                late.key,
                &late.usage,
                late.timestamp_ms,
                precision,
            )?)
        });
    }
    lines
}

/// Renders a frame as [`DataFrame::visit`] walks it: the samples of a run of groups
/// with the same labels are gathered and written as that run's lines when the labels
/// change (or the frame ends).
struct FrameLines<'o, 'f, 'h> {
    out: &'o mut String,
    host: &'f str,
    precision: Precision,
    scratch: &'o mut LineScratch,
    ctx: CycleContext<'h>,
    /// The labels of the run being gathered.
    labels: heapless::Vec<&'f str, MAX_LABELS>,
    /// Lines written so far, or the first error.
    lines: Result<usize, fmt::Error>,
}

impl FrameLines<'_, '_, '_> {
    /// Writes the gathered run's lines.
    fn flush(&mut self) {
        if self.scratch.group.is_empty() {
            return;
        }
        if let Ok(n) = self.lines {
            self.lines = write_group(
                self.out,
                self.host,
                &self.labels,
                self.precision,
                self.scratch,
                &mut self.ctx,
            )
            .map(|written| n + written);
        }
        self.scratch.group.clear();
    }
}

impl<'f> Visit<'f> for FrameLines<'_, 'f, '_> {
    fn group(&mut self, labels: &[&'f str]) {
        if labels != self.labels.as_slice() {
            self.flush();
            self.labels.clear();
            // The decoder checked at most MAX_LABELS values.
            let _ = self.labels.extend_from_slice(labels);
        }
    }

    fn sample(&mut self, metric: &'static Metric, value: Value) {
        if metric.influx.is_some() {
            self.scratch.group.push((metric, value));
        }
    }
}

/// Same measurement and same way of deriving tags from the same labels: one line.
fn same_line(a: &InfluxSchema, b: &InfluxSchema) -> bool {
    same(a.measurement.as_bytes(), b.measurement.as_bytes())
        && same(a.tags, b.tags)
        && same(a.const_tags, b.const_tags)
        && same(a.tag_rules, b.tag_rules)
}

/// `a == b`, answered without comparing the elements when both are the same static
/// (the catalog's rows of one line share them: this runs for every pair of a group's
/// samples).
fn same<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

fn write_group(
    out: &mut String,
    host: &str,
    labels: &[&str],
    precision: Precision,
    scratch: &mut LineScratch,
    ctx: &mut CycleContext<'_>,
) -> Result<usize, fmt::Error> {
    let user_hz = ctx.user_hz;
    let timestamp_ms = ctx.timestamp_ms;
    let group = &scratch.group;
    let view = Group {
        labels,
        samples: group,
    };
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
        scratch.fields.clear();
        for (done, (metric, value)) in scratch.done.iter_mut().zip(group).skip(i) {
            if let Some(other) = metric.influx.as_ref()
                && same_line(schema, other)
            {
                *done = true;
                if let Some(v) = influx::field_value(other, *value, user_hz) {
                    scratch.fields.push((other.field, v));
                }
            }
        }
        let computed;
        let extras = if telegraf::has_line_extras(schema.measurement) {
            computed = telegraf::line_extras(schema, &view, ctx);
            &computed
        } else {
            &telegraf::NO_EXTRAS
        };
        if extras.skip {
            continue;
        }
        let mut tags = influx::metric_tags(schema, host, labels);
        for tag in &extras.tags {
            tags.set(*tag);
        }
        if write_merged(
            out,
            schema.measurement,
            &tags,
            &scratch.fields,
            extras,
            timestamp_ms,
            precision,
        )? {
            lines += 1;
        }
    }
    let mut result = Ok(());
    telegraf::group_lines(&view, |measurement, extras| {
        if result.is_err() {
            return;
        }
        let mut tags = TagSet::new();
        if !host.is_empty() {
            tags.push(Tag::new("host", host));
        }
        for tag in &extras.tags {
            tags.set(*tag);
        }
        match write_merged(
            out,
            measurement,
            &tags,
            &[],
            extras,
            timestamp_ms,
            precision,
        ) {
            Ok(true) => lines += 1,
            Ok(false) => {}
            Err(e) => result = Err(e),
        }
    });
    result.map(|()| lines)
}

/// Writes one line: the catalog's `fields` (those the extras do not replace), the
/// extras' fields, and their defaults for keys still missing.
fn write_merged(
    out: &mut String,
    measurement: &str,
    tags: &TagSet<'_>,
    fields: &[(&'static str, FieldValue<'static>)],
    extras: &Extras<'_>,
    timestamp_ms: i64,
    precision: Precision,
) -> Result<bool, fmt::Error> {
    let replaced = |key: &str| extras.fields.iter().any(|(k, _)| *k == key);
    let catalog = fields
        .iter()
        .filter(|(k, _)| !replaced(k))
        .map(|&(k, v)| (k, v));
    let derived = extras.fields.iter().map(|&(k, d)| (k, extras.value(d)));
    let defaults = extras
        .defaults
        .iter()
        .filter(|(k, _)| !replaced(k) && !fields.iter().any(|(f, _)| f == k))
        .map(|&(k, d)| (k, extras.value(d)));
    influx::write_line(
        out,
        measurement,
        tags.as_slice(),
        catalog.chain(derived).chain(defaults),
        Some(timestamp_ms),
        precision,
    )
}

/// The `usage_*` line of a cycle that waited for its predecessor.
fn write_usage(
    out: &mut String,
    host: &str,
    key: CpuKey,
    usage: &[f64; 10],
    timestamp_ms: i64,
    precision: Precision,
) -> Result<usize, fmt::Error> {
    let mut digits = itoa_buf();
    let cpu = if key == CpuKey::TOTAL {
        Tag::new("cpu", "cpu-total")
    } else {
        Tag::with_rule("cpu", TagRule::Prefix("cpu"), fmt_u16(key.0, &mut digits))
    };
    let mut tags = TagSet::new();
    tags.push(cpu);
    if !host.is_empty() {
        tags.push(Tag::new("host", host));
    }
    let fields = USAGE_FIELDS
        .iter()
        .zip(usage)
        .map(|(&k, &v)| (k, FieldValue::Float(v)));
    let written = influx::write_line(
        out,
        "cpu",
        tags.as_slice(),
        fields,
        Some(timestamp_ms),
        precision,
    )?;
    Ok(usize::from(written))
}

fn itoa_buf() -> [u8; 5] {
    [0; 5]
}

/// The decimal digits of `n` in `buf`.
fn fmt_u16(mut n: u16, buf: &mut [u8; 5]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("")
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
            None,
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
