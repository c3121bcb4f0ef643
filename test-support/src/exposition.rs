//! Parsers for what the aggregator serves and writes, strict enough that a malformed
//! line fails the test instead of being skipped:
//! - Prometheus text exposition (0.0.4): `name{label="value",…} value [timestamp]`,
//!   with the label-value escapes `\\`, `\"` and `\n`; `#` lines are comments, of
//!   which [`check_structure`] reads the `# TYPE` ones to check the family rules.
//! - InfluxDB line protocol, parsed by the `influxdb-line-protocol` crate (an
//!   independent implementation, escapes included).

use influxdb_line_protocol::{FieldValue, parse_lines};

/// One Prometheus sample.
#[derive(Clone, Debug, PartialEq)]
pub struct PromSample {
    /// Metric name.
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl PromSample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if the labels are exactly `labels` (any order).
    pub fn has_labels(&self, labels: &[(String, String)]) -> bool {
        self.labels.len() == labels.len() && labels.iter().all(|(n, v)| self.label(n) == Some(v))
    }
}

/// Parses a whole exposition; `Err` names the first bad line.
pub fn parse_prometheus(text: &str) -> Result<Vec<PromSample>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?);
    }
    Ok(out)
}

/// The samples of the families whose names start with one of `prefixes`, keyed
/// `name{label="value",…}` (labels sorted; pimon's `instance` and empty values, which
/// Prometheus reads as absent labels, left out), and those
/// families' `# HELP`/`# TYPE` lines: what a comparison with node_exporter on the same
/// tree puts side by side. Panics on a malformed sample line (a test helper).
pub fn samples_by_key(
    text: &str,
    prefixes: &[&str],
) -> (
    std::collections::BTreeMap<String, f64>,
    std::collections::BTreeSet<String>,
) {
    let ours = |line: &str| {
        let name = line
            .strip_prefix("# HELP ")
            .or(line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        prefixes.iter().any(|p| name.starts_with(p))
    };
    let text: String = text
        .lines()
        .filter(|l| ours(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}"));
    let values = samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> = s
                .labels
                .into_iter()
                .filter(|(n, v)| n != "instance" && !v.is_empty())
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", s.name, labels.join(",")), s.value)
        })
        .collect();
    let meta = text
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(String::from)
        .collect();
    (values, meta)
}

/// The family name of a [`samples_by_key`] key.
pub fn family_of_key(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

/// The `# TYPE` lines of an exposition, as (family, type), in the order written.
pub fn families(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| format!("line {}: # TYPE without a type: {line}", i + 1))?;
            out.push((name.to_string(), kind.to_string()));
        }
    }
    Ok(out)
}

/// The rules a whole exposition must keep beyond each line's syntax: one `# TYPE` per
/// family, every sample under a `# TYPE` (its name, or its name less `_bucket`, `_sum`,
/// `_count` or `_total`), the families not interleaved, every name and label set once.
/// `Err` names the first rule broken.
pub fn check_structure(text: &str) -> Result<(), String> {
    let types = families(text)?;
    let samples = parse_prometheus(text)?;
    let mut seen_types = std::collections::HashSet::new();
    for (name, _) in &types {
        if !seen_types.insert(name.as_str()) {
            return Err(format!("second # TYPE for {name}"));
        }
    }
    let family_of = |sample: &str| {
        types
            .iter()
            .map(|(f, _)| f.as_str())
            .filter(|f| {
                sample == *f
                    || sample
                        .strip_prefix(f)
                        .is_some_and(|s| ["_bucket", "_sum", "_count", "_total"].contains(&s))
            })
            .max_by_key(|f| f.len())
    };
    let mut finished = std::collections::HashSet::new();
    let mut current = "";
    let mut unique = std::collections::HashSet::new();
    for sample in &samples {
        let family = family_of(&sample.name)
            .ok_or_else(|| format!("sample {} has no # TYPE", sample.name))?;
        if family != current {
            if finished.contains(family) {
                return Err(format!("family {family} interleaved"));
            }
            finished.insert(std::mem::replace(&mut current, family));
        }
        let mut labels = sample.labels.clone();
        labels.sort();
        if !unique.insert((sample.name.clone(), labels)) {
            return Err(format!(
                "duplicate series {} {:?}",
                sample.name, sample.labels
            ));
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_sample(line: &str) -> Result<PromSample, String> {
    let name_end = line.find(|c| !is_name_char(c)).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let label = &rest[..eq];
            if label.is_empty() || !label.chars().all(is_name_char) {
                return Err(format!("bad label name {label:?}"));
            }
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            labels.push((label.to_string(), value));
            rest = &rest[end + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("expected , or } after a label".into());
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(format!("bad timestamp {ts:?}"));
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(PromSample {
        name: name.to_string(),
        labels,
        value,
    })
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// A field value of a line-protocol point.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// `123i`.
    Integer(i64),
    /// `123u`.
    Unsigned(u64),
    /// `1.5`.
    Float(f64),
    /// `"text"`.
    Text(String),
    /// `t`/`f`.
    Bool(bool),
}

impl Field {
    /// The value as a number (integers converted), `None` for text.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Field::Integer(v) => Some(v as f64),
            Field::Unsigned(v) => Some(v as f64),
            Field::Float(v) => Some(v),
            Field::Bool(b) => Some(f64::from(u8::from(b))),
            Field::Text(_) => None,
        }
    }

    /// Whether it was written as an integer (`i` or `u`).
    pub fn is_integer(&self) -> bool {
        matches!(self, Field::Integer(_) | Field::Unsigned(_))
    }
}

/// One line-protocol point, unescaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Measurement.
    pub measurement: String,
    /// Tags in the order written.
    pub tags: Vec<(String, String)>,
    /// Fields in the order written.
    pub fields: Vec<(String, Field)>,
    /// Timestamp as written.
    pub timestamp: Option<i64>,
}

impl Point {
    /// The value of tag `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True if the tags are exactly `tags` (any order).
    pub fn has_tags(&self, tags: &[(String, String)]) -> bool {
        self.tags.len() == tags.len() && tags.iter().all(|(n, v)| self.tag(n) == Some(v))
    }

    /// The field `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// Parses line protocol with the `influxdb-line-protocol` crate. A line still being
/// written (the last one, without its newline) is left out; any other bad line is an
/// `Err` naming it.
pub fn parse_line_protocol(text: &str) -> Result<Vec<Point>, String> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut out = Vec::new();
    for (i, parsed) in parse_lines(complete).enumerate() {
        let line = parsed.map_err(|e| format!("line protocol line {}: {e}", i + 1))?;
        let tags = line
            .series
            .tag_set
            .as_ref()
            .map(|set| {
                set.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let fields = line
            .field_set
            .iter()
            .map(|(k, v)| {
                let f = match v {
                    FieldValue::I64(v) => Field::Integer(*v),
                    FieldValue::U64(v) => Field::Unsigned(*v),
                    FieldValue::F64(v) => Field::Float(*v),
                    FieldValue::String(s) => Field::Text(s.to_string()),
                    FieldValue::Boolean(b) => Field::Bool(*b),
                };
                (k.to_string(), f)
            })
            .collect();
        out.push(Point {
            measurement: line.series.measurement.to_string(),
            tags,
            fields,
            timestamp: line.timestamp,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_lines_with_escapes_and_comments() {
        let text = "# HELP x y\n# TYPE x gauge\nx 1\n\
                    node_filesystem_avail_bytes{instance=\"pi\",mountpoint=\"/media/a \\\"b\\\\\"} 2.5e3 1700\n\
                    up{a=\"1\",} NaN\n";
        let s = parse_prometheus(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "x");
        assert_eq!(s[1].label("mountpoint"), Some("/media/a \"b\\"));
        assert_eq!(s[1].value, 2500.0);
        assert!(s[2].value.is_nan());
    }

    #[test]
    fn prometheus_bad_lines_are_errors() {
        for bad in [
            "x",
            "x{a=1} 2",
            "x{a=\"1\" 2",
            "x 1 2 3",
            "x{a=\"\\q\"} 1",
            "1x 2",
        ] {
            assert!(parse_prometheus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn structure_rules() {
        let good = "# TYPE a counter\na_total 1\n# TYPE b gauge\nb{x=\"1\"} 2\nb{x=\"2\"} 3\n";
        assert_eq!(check_structure(good), Ok(()));
        for (bad, rule) in [
            ("a 1\n", "no # TYPE"),
            ("# TYPE a gauge\n# TYPE a gauge\na 1\n", "second # TYPE"),
            (
                "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"1\"} 1\n",
                "interleaved",
            ),
            (
                "# TYPE a gauge\na{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n",
                "duplicate",
            ),
        ] {
            let err = check_structure(bad).unwrap_err();
            assert!(err.contains(rule), "{bad:?}: {err}");
        }
    }

    #[test]
    fn line_protocol_with_escapes_and_a_partial_last_line() {
        let text = "disk,host=pi,path=/media/USB\\ Stick free=3i,ro=t 1700\nmem,host=pi total=";
        let p = parse_line_protocol(text).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].tag("path"), Some("/media/USB Stick"));
        assert_eq!(p[0].field("free"), Some(&Field::Integer(3)));
        assert_eq!(p[0].field("ro"), Some(&Field::Bool(true)));
        assert_eq!(p[0].timestamp, Some(1700));
        assert!(parse_line_protocol("bad line\n").is_err());
    }
}
