//! Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.
//!
//! A scrape is: for each family (see [`crate::catalog::families`]) one header
//! ([`write_family_header`] or [`write_header`]), then its samples
//! ([`write_metric_sample`] or [`write_sample`]); for OpenMetrics, [`write_eof`] at the
//! end. What differs between the two formats is handled by [`Format`]:
//!
//! | | 0.0.4 | OpenMetrics |
//! |---|---|---|
//! | counter family name in `# TYPE`/`# HELP` | `x_total` | `x` (sample names keep `_total`) |
//! | `# UNIT` line | none | when the metric has a unit |
//! | escapes in `# HELP` | `\\`, `\n` | `\\`, `\n`, `\"` |
//! | sample timestamp | integer milliseconds | seconds with 3 decimals |
//! | end of exposition | nothing | `# EOF` |
//!
//! Label values escape `\\`, `\"` and `\n` in both. Values: integers in full decimal,
//! `NaN`, `+Inf`, `-Inf`, other floats as the shortest text that reads back to the same
//! `f64` (exponent form below 1e-4 and from 1e15 on, except whole numbers below 2^53).
//!
//! ```
//! use pimon_protocol::catalog::{id, Number};
//! use pimon_protocol::text::prometheus::{write_family_header, write_metric_sample, Format};
//! use pimon_protocol::catalog::families;
//!
//! let family = families().find(|f| f.first.id == id::NET_RECEIVE_BYTES).unwrap();
//! let mut out = String::new();
//! write_family_header(&mut out, Format::Text004, family.first).unwrap();
//! write_metric_sample(&mut out, Format::Text004, family.first, "pi4", &["eth0"],
//!     Number::U64(1234), None).unwrap();
//! assert_eq!(out, concat!(
//!     "# HELP node_network_receive_bytes_total Network device statistic receive_bytes.\n",
//!     "# TYPE node_network_receive_bytes_total counter\n",
//!     "node_network_receive_bytes_total{instance=\"pi4\",device=\"eth0\"} 1234\n",
//! ));
//! ```

use core::fmt::{self, Write};

use crate::catalog::{self, Metric, MetricType, Number};

/// Which exposition format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text004,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The HTTP `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The family name used in metadata lines: OpenMetrics drops a counter's `_total`.
    pub fn family_name(self, name: &str, metric_type: MetricType) -> &str {
        match (self, metric_type) {
            (Format::OpenMetrics, MetricType::Counter) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        }
    }
}

/// Writes `# HELP` (unless `help` is empty), `# TYPE` (and for OpenMetrics `# UNIT`
/// when `unit` is not empty) for the family `name`. `name` is the sample name (`x_total` for a counter).
pub fn write_header<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    metric_type: MetricType,
    help: &str,
    unit: &str,
) -> fmt::Result {
    let family = format.family_name(name, metric_type);
    // No help text (a catalog built without the `help` feature): no `# HELP` line.
    if !help.is_empty() {
        w.write_str("# HELP ")?;
        w.write_str(family)?;
        w.write_char(' ')?;
        write_help_escaped(w, format, help)?;
        w.write_char('\n')?;
    }
    w.write_str("# TYPE ")?;
    w.write_str(family)?;
    w.write_char(' ')?;
    w.write_str(match (format, metric_type) {
        (Format::OpenMetrics, MetricType::Untyped) => "unknown",
        _ => metric_type.as_str(),
    })?;
    w.write_char('\n')?;
    if format == Format::OpenMetrics && !unit.is_empty() {
        w.write_str("# UNIT ")?;
        w.write_str(family)?;
        w.write_char(' ')?;
        w.write_str(unit)?;
        w.write_char('\n')?;
    }
    Ok(())
}

/// Writes the header of the family a catalog row belongs to (pass the family's first
/// row, [`crate::catalog::Family::first`]; any row of the family gives the same text).
pub fn write_family_header<W: Write>(w: &mut W, format: Format, metric: &Metric) -> fmt::Result {
    write_header(
        w,
        format,
        metric.prom_name,
        metric.metric_type,
        metric.help,
        metric.unit,
    )
}

/// Writes the header of the family a sample of `metric` with these instance label
/// values belongs to: [`write_family_header`] for most rows; for a row named by its
/// label ([`crate::catalog::named_by_label`]) the header of that sample's own name, as
/// node_exporter writes it (`Memory information field Balloon_bytes.`). Nothing for a
/// sample that is not exported ([`crate::catalog::sample_name`] is `None`).
pub fn write_sample_family_header<W: Write>(
    w: &mut W,
    format: Format,
    metric: &Metric,
    label_values: &[&str],
) -> fmt::Result {
    if !catalog::named_by_label(metric) {
        return write_family_header(w, format, metric);
    }
    let Some(name) = catalog::sample_name(metric, label_values) else {
        return Ok(());
    };
    // A key is `[A-Za-z0-9_]` only: nothing in the name or the help needs escaping.
    let write_name = |w: &mut W| match (format, name.metric_type) {
        (Format::OpenMetrics, MetricType::Counter) => {
            let key = name.key.strip_suffix("_total").unwrap_or(name.key);
            w.write_str(name.prefix)
                .and_then(|_| w.write_str(key))
                .and_then(|_| w.write_str(name.suffix))
        }
        _ => write!(w, "{name}"),
    };
    // Without the `help` feature the catalog has no help texts: no `# HELP` line.
    if !metric.help.is_empty() {
        w.write_str("# HELP ")?;
        write_name(w)?;
        w.write_str(" Memory information field ")?;
        w.write_str(name.key)?;
        w.write_str(name.suffix)?;
        w.write_str(".\n")?;
    }
    w.write_str("# TYPE ")?;
    write_name(w)?;
    w.write_char(' ')?;
    w.write_str(name.metric_type.as_str())?;
    w.write_char('\n')?;
    if format == Format::OpenMetrics && !metric.unit.is_empty() {
        w.write_str("# UNIT ")?;
        write_name(w)?;
        w.write_char(' ')?;
        w.write_str(metric.unit)?;
        w.write_char('\n')?;
    }
    Ok(())
}

/// Writes `help` escaped for a `# HELP` line: `\` → `\\`, newline → `\n`, and for
/// OpenMetrics also `"` → `\"`.
pub fn write_help_escaped<W: Write>(w: &mut W, format: Format, help: &str) -> fmt::Result {
    let quote = format == Format::OpenMetrics;
    write_escaped(w, help, |c| match c {
        '\\' => Some("\\\\"),
        '\n' => Some("\\n"),
        '"' if quote => Some("\\\""),
        _ => None,
    })
}

/// Writes a label value escaped for use between double quotes: `\` → `\\`,
/// `"` → `\"`, newline → `\n`.
pub fn write_label_value_escaped<W: Write>(w: &mut W, value: &str) -> fmt::Result {
    write_escaped(w, value, |c| match c {
        '\\' => Some("\\\\"),
        '"' => Some("\\\""),
        '\n' => Some("\\n"),
        _ => None,
    })
}

/// Writes `s`, replacing the characters `escape` maps, in runs (no per-char writes for
/// the common case of nothing to escape). Every character any caller escapes is one of
/// `\\`, `"` and newline, so a byte scan for those says whether `char_indices` is
/// needed at all (the common case: not).
fn write_escaped<W: Write>(
    w: &mut W,
    s: &str,
    escape: impl Fn(char) -> Option<&'static str>,
) -> fmt::Result {
    if !s.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return w.write_str(s);
    }
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if let Some(replacement) = escape(c) {
            w.write_str(s.get(start..i).unwrap_or(""))?;
            w.write_str(replacement)?;
            start = i + c.len_utf8();
        }
    }
    w.write_str(s.get(start..).unwrap_or(""))
}

/// Writes one sample line: `name{k="v",…} value [timestamp]\n`. Labels are written in
/// the order given; no braces when there are none. Label names are not checked.
pub fn write_sample<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    labels: &[(&str, &str)],
    value: Number,
    timestamp_ms: Option<i64>,
) -> fmt::Result {
    w.write_str(name)?;
    let mut labels_out = LabelWriter::new(w);
    for (k, v) in labels {
        labels_out.label(k, v)?;
    }
    labels_out.finish()?;
    write_value_and_timestamp(w, format, value, timestamp_ms)
}

/// Writes one sample of a catalog row: the row's name, then the labels
/// `instance="<instance>"` (left out when `instance` is empty), the row's instance
/// labels with `label_values` in the order of [`Metric::labels`], and its constant
/// labels. A row named by its label ([`crate::catalog::named_by_label`]) is written
/// under [`crate::catalog::sample_name`], without that label, and not at all when the
/// name is refused (`None`).
///
/// `label_values` should have one value per label name; a missing value is written as
/// `""` (which Prometheus reads as "label absent") and extra values are ignored, so a
/// malformed sample never breaks the rest of the exposition.
pub fn write_metric_sample<W: Write>(
    w: &mut W,
    format: Format,
    metric: &Metric,
    instance: &str,
    label_values: &[&str],
    value: Number,
    timestamp_ms: Option<i64>,
) -> fmt::Result {
    let Some(name) = catalog::sample_name(metric, label_values) else {
        return Ok(());
    };
    // The name's parts as they are (what `Display` writes, without `fmt`).
    w.write_str(name.prefix)?;
    w.write_str(name.key)?;
    w.write_str(name.suffix)?;
    // A row named by its label has that label in the name, not among the labels.
    let skip = usize::from(catalog::named_by_label(metric));
    let mut labels = LabelWriter::new(w);
    if !instance.is_empty() {
        labels.label("instance", instance)?;
    }
    for (i, name) in metric.labels.iter().enumerate().skip(skip) {
        labels.label(name, label_values.get(i).copied().unwrap_or(""))?;
    }
    for (k, v) in metric.const_labels {
        labels.label(k, v)?;
    }
    labels.finish()?;
    write_value_and_timestamp(w, format, value, timestamp_ms)
}

/// Writes `# EOF\n` for OpenMetrics (required at the end); nothing for 0.0.4.
pub fn write_eof<W: Write>(w: &mut W, format: Format) -> fmt::Result {
    match format {
        Format::OpenMetrics => w.write_str("# EOF\n"),
        Format::Text004 => Ok(()),
    }
}

/// Writes `{`, `,` separators and `}` around labels as they come.
struct LabelWriter<'w, W> {
    w: &'w mut W,
    any: bool,
}

impl<'w, W: Write> LabelWriter<'w, W> {
    fn new(w: &'w mut W) -> Self {
        LabelWriter { w, any: false }
    }

    fn label(&mut self, name: &str, value: &str) -> fmt::Result {
        self.w.write_str(if self.any { "," } else { "{" })?;
        self.any = true;
        self.w.write_str(name)?;
        self.w.write_str("=\"")?;
        write_label_value_escaped(self.w, value)?;
        self.w.write_str("\"")
    }

    fn finish(self) -> fmt::Result {
        if self.any {
            self.w.write_char('}')
        } else {
            Ok(())
        }
    }
}

fn write_value_and_timestamp<W: Write>(
    w: &mut W,
    format: Format,
    value: Number,
    timestamp_ms: Option<i64>,
) -> fmt::Result {
    w.write_char(' ')?;
    write_number(w, value)?;
    if let Some(ms) = timestamp_ms {
        w.write_char(' ')?;
        match format {
            Format::Text004 => write!(w, "{ms}")?,
            Format::OpenMetrics => {
                let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
                write!(w, "{secs}.{millis:03}")?;
            }
        }
    }
    w.write_char('\n')
}

/// Writes a sample value as the exposition formats spell it (see the module docs).
pub fn write_number<W: Write>(w: &mut W, value: Number) -> fmt::Result {
    // Integers without `fmt`'s machinery (the same digits).
    match value {
        Number::U64(v) => w.write_str(itoa::Buffer::new().format(v)),
        Number::I64(v) => w.write_str(itoa::Buffer::new().format(v)),
        Number::F64(v) => write_float(w, v),
    }
}

/// Largest magnitude below which every integer is exact in an `f64`.
const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53

fn write_float<W: Write>(w: &mut W, v: f64) -> fmt::Result {
    if v.is_nan() {
        return w.write_str("NaN");
    }
    if v.is_infinite() {
        return w.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    }
    let magnitude = if v < 0.0 { -v } else { v };
    let whole = magnitude < EXACT_INT_LIMIT && (magnitude as u64) as f64 == magnitude;
    if whole {
        // Display writes a whole float below 2^53 as its integer (`-0` for -0.0).
        if v == 0.0 && v.is_sign_negative() {
            return w.write_str("-0");
        }
        return w.write_str(itoa::Buffer::new().format(v as i64));
    }
    if (1e-4..1e15).contains(&magnitude) {
        // Display is the shortest round-trip text and never uses an exponent.
        write!(w, "{v}")
    } else {
        write!(w, "{v:e}")
    }
}
