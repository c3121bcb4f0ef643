//! Text renderings (Prometheus exposition and InfluxDB line protocol): exact expected strings, and
//! independent oracles reading our output back.
//!
//! Oracles: the `influxdb-line-protocol` crate (InfluxDB IOx's parser) for line
//! protocol; for the Prometheus text, a strict exposition parser written here
//! (`expo` below), because `prometheus-parse` 0.2 splits a label value at `,` and `=`
//! inside the quotes and keeps `\"` escapes (checked: `a="1,b=2"` reads as `a="1"`,
//! `b="2"`), so it cannot judge escaping.

use influxdb_line_protocol::{FieldValue as OracleField, parse_lines};
use pimon_protocol::Value;
use pimon_protocol::catalog::{
    CATALOG, MetricType, Number, families, id, lookup, named_by_label, sample_name,
};
use pimon_protocol::text::influx::{
    self, FieldValue, Precision, Tag, field_value, metric_tags, write_line, write_metric_line,
};
use pimon_protocol::text::prometheus::{
    Format, write_eof, write_family_header, write_header, write_help_escaped,
    write_label_value_escaped, write_metric_sample, write_number, write_sample,
    write_sample_family_header,
};
use proptest::prelude::*;

/// A strict reader of the Prometheus text format 0.0.4 / OpenMetrics, used as oracle.
mod expo {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Line {
        Help(String, String),
        Type(String, String),
        Unit(String, String),
        Eof,
        Sample(Sample),
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct Sample {
        pub name: String,
        pub labels: Vec<(String, String)>,
        pub value: f64,
        pub timestamp: Option<String>,
    }

    fn name_len(s: &str, label: bool) -> usize {
        s.char_indices()
            .take_while(|&(i, c)| {
                c == '_'
                    || c.is_ascii_alphabetic()
                    || (!label && c == ':')
                    || (i > 0 && c.is_ascii_digit())
            })
            .count()
    }

    /// Reads a quoted label value (after the opening quote); returns it and the rest
    /// after the closing quote.
    pub fn quoted(s: &str) -> Result<(String, &str), String> {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((out, &s[i + 1..])),
                '\\' => match chars.next() {
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, 'n')) => out.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {s:?}")),
                },
                '\n' => return Err("raw newline in label value".into()),
                c => out.push(c),
            }
        }
        Err(format!("unterminated label value {s:?}"))
    }

    fn help_text(s: &str, openmetrics: bool) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('"') if openmetrics => out.push('"'),
                    other => return Err(format!("bad escape {other:?} in HELP {s:?}")),
                },
                '"' if openmetrics => return Err("unescaped quote in OpenMetrics HELP".into()),
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn value(s: &str) -> Result<f64, String> {
        match s {
            "NaN" => Ok(f64::NAN),
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            _ if s
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.e".contains(&b)) =>
            {
                s.parse().map_err(|e| format!("bad value {s:?}: {e}"))
            }
            _ => Err(format!("bad value {s:?}")),
        }
    }

    pub fn parse_line(line: &str, openmetrics: bool) -> Result<Line, String> {
        if let Some(rest) = line.strip_prefix("# ") {
            if rest == "EOF" {
                return Ok(Line::Eof);
            }
            let (kind, rest) = rest.split_once(' ').ok_or("bad comment")?;
            let n = name_len(rest, false);
            let (name, rest) = rest.split_at(n);
            let text = rest
                .strip_prefix(' ')
                .ok_or(format!("no text after {name}"))?;
            return match kind {
                "HELP" => Ok(Line::Help(name.into(), help_text(text, openmetrics)?)),
                "TYPE" => Ok(Line::Type(name.into(), text.into())),
                "UNIT" if openmetrics => Ok(Line::Unit(name.into(), text.into())),
                _ => Err(format!("unknown comment {kind}")),
            };
        }
        let n = name_len(line, false);
        if n == 0 {
            return Err(format!("no metric name in {line:?}"));
        }
        let (name, mut rest) = line.split_at(n);
        let mut labels = Vec::new();
        if let Some(mut l) = rest.strip_prefix('{') {
            loop {
                let n = name_len(l, true);
                if n == 0 {
                    return Err(format!("bad label name at {l:?}"));
                }
                let (label, after) = l.split_at(n);
                let after = after.strip_prefix("=\"").ok_or("expected =\"")?;
                let (value, after) = quoted(after)?;
                labels.push((label.to_string(), value));
                if let Some(a) = after.strip_prefix(',') {
                    l = a;
                } else if let Some(a) = after.strip_prefix('}') {
                    rest = a;
                    break;
                } else {
                    return Err(format!("expected , or }} at {after:?}"));
                }
            }
        }
        let rest = rest
            .strip_prefix(' ')
            .ok_or("expected space before value")?;
        let (v, ts) = match rest.split_once(' ') {
            Some((v, ts)) => (v, Some(ts.to_string())),
            None => (rest, None),
        };
        if let Some(ts) = &ts {
            let ok = if openmetrics {
                ts.parse::<f64>().is_ok()
            } else {
                ts.parse::<i64>().is_ok()
            };
            if !ok {
                return Err(format!("bad timestamp {ts:?}"));
            }
        }
        Ok(Line::Sample(Sample {
            name: name.into(),
            labels,
            value: value(v)?,
            timestamp: ts,
        }))
    }

    /// Parses a whole exposition and checks the structure: every line ends with `\n`,
    /// HELP/TYPE once per family and before its samples, families not interleaved,
    /// every series unique, `# EOF` last for OpenMetrics.
    pub fn parse(text: &str, openmetrics: bool) -> Result<Vec<Line>, String> {
        if !text.is_empty() && !text.ends_with('\n') {
            return Err("no final newline".into());
        }
        let lines: Vec<Line> = text
            .lines()
            .map(|l| parse_line(l, openmetrics))
            .collect::<Result<_, _>>()?;
        let mut done: Vec<String> = Vec::new();
        let mut current: Option<(String, String)> = None; // family name, type
        let mut series = std::collections::BTreeSet::new();
        for (i, line) in lines.iter().enumerate() {
            match line {
                Line::Help(name, _) | Line::Type(name, _) | Line::Unit(name, _) => {
                    if current.as_ref().is_some_and(|(c, _)| c != name) {
                        done.push(current.take().unwrap().0);
                    }
                    if done.contains(name) {
                        return Err(format!("family {name} metadata after its end"));
                    }
                    if let Line::Type(_, t) = line {
                        current = Some((name.clone(), t.clone()));
                    } else if current.is_none() {
                        current = Some((name.clone(), String::new()));
                    }
                }
                Line::Sample(s) => {
                    let (family, ty) =
                        current.as_ref().ok_or(format!("{} without TYPE", s.name))?;
                    let ok = s.name == *family
                        || (openmetrics && ty == "counter" && s.name == format!("{family}_total"));
                    if !ok {
                        return Err(format!("sample {} inside family {family}", s.name));
                    }
                    if !series.insert((s.name.clone(), s.labels.clone())) {
                        return Err(format!("series {} {:?} twice", s.name, s.labels));
                    }
                }
                Line::Eof => {
                    if !openmetrics || i + 1 != lines.len() {
                        return Err("misplaced # EOF".into());
                    }
                }
            }
        }
        if openmetrics && lines.last() != Some(&Line::Eof) {
            return Err("no # EOF".into());
        }
        Ok(lines)
    }
}

fn prom(f: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut out = String::new();
    f(&mut out).unwrap();
    out
}

fn number(n: Number) -> String {
    prom(|w| write_number(w, n))
}

// ---- Prometheus ------------------------------------------------------------------------

#[test]
fn counter_family_header_and_samples_text004() {
    let user = lookup(id::CPU_SECONDS_USER).unwrap();
    let idle = lookup(id::CPU_SECONDS_IDLE).unwrap();
    let out = prom(|w| {
        write_family_header(w, Format::Text004, user)?;
        write_metric_sample(
            w,
            Format::Text004,
            user,
            "pi4",
            &["0"],
            Number::F64(1234.56),
            None,
        )?;
        write_metric_sample(
            w,
            Format::Text004,
            idle,
            "pi4",
            &["0"],
            Number::F64(98765.0),
            Some(1_700_000_000_123),
        )?;
        write_eof(w, Format::Text004)
    });
    assert_eq!(
        out,
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n\
         # TYPE node_cpu_seconds_total counter\n\
         node_cpu_seconds_total{instance=\"pi4\",cpu=\"0\",mode=\"user\"} 1234.56\n\
         node_cpu_seconds_total{instance=\"pi4\",cpu=\"0\",mode=\"idle\"} 98765 1700000000123\n"
    );
    expo::parse(&out, false).unwrap();
}

#[test]
fn openmetrics_differs_where_the_spec_does() {
    let rx = lookup(id::NET_RECEIVE_BYTES).unwrap();
    let load = lookup(id::LOAD1).unwrap();
    let out = prom(|w| {
        write_family_header(w, Format::OpenMetrics, rx)?;
        write_metric_sample(
            w,
            Format::OpenMetrics,
            rx,
            "pi4",
            &["eth0"],
            Number::U64(7),
            Some(1_700_000_000_123),
        )?;
        write_family_header(w, Format::OpenMetrics, load)?;
        write_metric_sample(
            w,
            Format::OpenMetrics,
            load,
            "pi4",
            &[],
            Number::F64(0.87),
            Some(-1),
        )?;
        write_header(
            w,
            Format::OpenMetrics,
            "x_seconds",
            MetricType::Gauge,
            "say \"hi\"\\\n",
            "seconds",
        )?;
        write_eof(w, Format::OpenMetrics)
    });
    assert_eq!(
        out,
        "# HELP node_network_receive_bytes Network device statistic receive_bytes.\n\
         # TYPE node_network_receive_bytes counter\n\
         # UNIT node_network_receive_bytes bytes\n\
         node_network_receive_bytes_total{instance=\"pi4\",device=\"eth0\"} 7 1700000000.123\n\
         # HELP node_load1 1m load average.\n\
         # TYPE node_load1 gauge\n\
         node_load1{instance=\"pi4\"} 0.87 -1.999\n\
         # HELP x_seconds say \\\"hi\\\"\\\\\\n\n\
         # TYPE x_seconds gauge\n\
         # UNIT x_seconds seconds\n\
         # EOF\n"
    );
    expo::parse(&out, true).unwrap();
    assert_eq!(
        Format::Text004.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        Format::OpenMetrics
            .content_type()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
}

#[test]
fn help_escaping_text004_keeps_quotes() {
    let out = prom(|w| write_help_escaped(w, Format::Text004, "a \"b\" c\\d\ne"));
    assert_eq!(out, "a \"b\" c\\\\d\\ne");
}

/// node_exporter's netstat and vmstat families are untyped: `untyped` in text 0.0.4,
/// `unknown` in OpenMetrics (which has no `untyped`), the name kept as is.
#[test]
fn untyped_families_in_both_formats() {
    let text = prom(|w| {
        write_header(
            w,
            Format::Text004,
            "node_vmstat_pgfault",
            MetricType::Untyped,
            "h",
            "",
        )
    });
    assert!(
        text.contains("# TYPE node_vmstat_pgfault untyped\n"),
        "{text}"
    );
    let om = prom(|w| {
        write_header(
            w,
            Format::OpenMetrics,
            "node_vmstat_pgfault",
            MetricType::Untyped,
            "h",
            "",
        )
    });
    assert!(om.contains("# TYPE node_vmstat_pgfault unknown\n"), "{om}");
    let row = lookup(id::VMSTAT_PGFAULT).unwrap();
    assert_eq!(
        (row.prom_name, row.metric_type),
        ("node_vmstat_pgfault", MetricType::Untyped)
    );
}

#[test]
fn label_values_are_escaped_and_read_back() {
    let nasty = "a,b=c \"q\" back\\slash\nnew é🙂 {x}";
    let out = prom(|w| {
        write_header(w, Format::Text004, "m", MetricType::Gauge, "h", "")?;
        write_sample(
            w,
            Format::Text004,
            "m",
            &[("l", nasty), ("e", "")],
            Number::I64(-3),
            None,
        )
    });
    assert_eq!(
        out.lines().nth(2).unwrap(),
        "m{l=\"a,b=c \\\"q\\\" back\\\\slash\\nnew é🙂 {x}\",e=\"\"} -3"
    );
    let lines = expo::parse(&out, false).unwrap();
    let expo::Line::Sample(s) = &lines[2] else {
        panic!()
    };
    assert_eq!(
        s.labels,
        [
            ("l".to_string(), nasty.to_string()),
            ("e".into(), "".into())
        ]
    );
    assert_eq!(s.value, -3.0);
}

#[test]
fn missing_label_values_are_empty_and_extra_ones_ignored() {
    let fs = lookup(id::FS_SIZE).unwrap();
    let out = prom(|w| {
        write_metric_sample(
            w,
            Format::Text004,
            fs,
            "",
            &["/dev/root"],
            Number::U64(1),
            None,
        )
    });
    assert_eq!(
        out,
        "node_filesystem_size_bytes{device=\"/dev/root\",fstype=\"\",mountpoint=\"\"} 1\n"
    );
    let load = lookup(id::LOAD5).unwrap();
    let out =
        prom(|w| write_metric_sample(w, Format::Text004, load, "", &["x"], Number::U64(1), None));
    assert_eq!(out, "node_load5 1\n");
}

#[test]
fn values_are_spelled_as_prometheus_does() {
    let cases: &[(Number, &str)] = &[
        (Number::U64(u64::MAX), "18446744073709551615"),
        (Number::I64(i64::MIN), "-9223372036854775808"),
        (Number::F64(0.0), "0"),
        (Number::F64(-0.0), "-0"),
        (Number::F64(1.0), "1"),
        (Number::F64(3_977_314_304.0), "3977314304"),
        (Number::F64(0.1), "0.1"),
        (Number::F64(45.123), "45.123"),
        (Number::F64(-273.15), "-273.15"),
        (Number::F64(1e-4), "0.0001"),
        (Number::F64(1.5e-5), "1.5e-5"),
        (Number::F64(123_456_789_012.5), "123456789012.5"),
        (Number::F64(9_007_199_254_740_991.0), "9007199254740991"),
        (Number::F64(1e16), "1e16"),
        (Number::F64(2.5e300), "2.5e300"),
        (Number::F64(f64::MIN_POSITIVE), "2.2250738585072014e-308"),
        (Number::F64(f64::NAN), "NaN"),
        (Number::F64(f64::INFINITY), "+Inf"),
        (Number::F64(f64::NEG_INFINITY), "-Inf"),
    ];
    for (n, want) in cases {
        assert_eq!(number(*n), *want, "{n:?}");
    }
}

/// A whole scrape for two nodes over every catalog family: the oracle accepts it, each
/// family has one header, and every value and label reads back.
#[test]
fn full_scrape_over_the_catalog_is_well_formed() {
    for format in [Format::Text004, Format::OpenMetrics] {
        let om = format == Format::OpenMetrics;
        let mut out = String::new();
        let mut expected = Vec::new();
        // The rows named by their label have a test of their own (below).
        for family in families().filter(|f| !named_by_label(f.first)) {
            write_family_header(&mut out, format, family.first).unwrap();
            for node in ["pi-1", "pi \"2\""] {
                for m in family.rows() {
                    let values: Vec<String> =
                        m.labels.iter().map(|l| format!("{l},={node}")).collect();
                    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                    let raw = Value::Unsigned(u64::from(m.id) * 1000 + 7);
                    let n = m.conversion.convert(raw, 100);
                    write_metric_sample(
                        &mut out,
                        format,
                        m,
                        node,
                        &refs,
                        n,
                        Some(1_700_000_000_000),
                    )
                    .unwrap();
                    expected.push((
                        m.prom_name,
                        node.to_string(),
                        values,
                        m.const_labels,
                        n.as_f64(),
                    ));
                }
            }
        }
        write_eof(&mut out, format).unwrap();
        let lines = expo::parse(&out, om).unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let samples: Vec<_> = lines
            .iter()
            .filter_map(|l| {
                if let expo::Line::Sample(s) = l {
                    Some(s)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(samples.len(), expected.len());
        for (s, (name, node, values, consts, v)) in samples.iter().zip(&expected) {
            assert_eq!(s.name, *name);
            assert_eq!(s.labels[0], ("instance".to_string(), node.clone()));
            let rest: Vec<&str> = s.labels[1..1 + values.len()]
                .iter()
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(rest, values.iter().map(String::as_str).collect::<Vec<_>>());
            let cl: Vec<(&str, &str)> = s.labels[1 + values.len()..]
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(cl, *consts);
            assert_eq!(s.value, *v, "{name}");
        }
        let headers = lines
            .iter()
            .filter(|l| matches!(l, expo::Line::Type(..)))
            .count();
        assert_eq!(
            headers,
            families().filter(|f| !named_by_label(f.first)).count()
        );
        assert!(CATALOG.len() > headers, "some families have several rows");
    }
}

/// A meminfo key without a row of its own is written as node_exporter writes it: its
/// own family `node_memory_<key>_bytes` (value in bytes) or `node_memory_<key>`, with
/// node_exporter's help, the `key` label in the name and not among the labels.
#[test]
fn meminfo_keys_without_a_row_are_named_as_node_exporter_names_them() {
    let bytes = lookup(id::MEM_OTHER_BYTES).unwrap();
    let count = lookup(id::MEM_OTHER).unwrap();
    let scrape = |format| {
        let mut out = String::new();
        for (m, key, raw) in [
            (bytes, "Balloon", 524_288),
            (bytes, "FooBar_anon", 4096),
            (count, "FooPages_Total", 7),
            (count, "Foo_total", 9),
        ] {
            write_sample_family_header(&mut out, format, m, &[key]).unwrap();
            let n = m.conversion.convert(Value::Unsigned(raw), 100);
            write_metric_sample(&mut out, format, m, "pi4", &[key], n, None).unwrap();
        }
        out
    };
    assert_eq!(
        scrape(Format::Text004),
        concat!(
            "# HELP node_memory_Balloon_bytes Memory information field Balloon_bytes.\n",
            "# TYPE node_memory_Balloon_bytes gauge\n",
            "node_memory_Balloon_bytes{instance=\"pi4\"} 536870912\n",
            "# HELP node_memory_FooBar_anon_bytes Memory information field FooBar_anon_bytes.\n",
            "# TYPE node_memory_FooBar_anon_bytes gauge\n",
            "node_memory_FooBar_anon_bytes{instance=\"pi4\"} 4194304\n",
            "# HELP node_memory_FooPages_Total Memory information field FooPages_Total.\n",
            "# TYPE node_memory_FooPages_Total gauge\n",
            "node_memory_FooPages_Total{instance=\"pi4\"} 7\n",
            // node_exporter types a meminfo name ending in `_total` a counter.
            "# HELP node_memory_Foo_total Memory information field Foo_total.\n",
            "# TYPE node_memory_Foo_total counter\n",
            "node_memory_Foo_total{instance=\"pi4\"} 9\n",
        )
    );
    let mut om = scrape(Format::OpenMetrics);
    write_eof(&mut om, Format::OpenMetrics).unwrap();
    assert!(
        om.contains("# UNIT node_memory_Balloon_bytes bytes\n"),
        "{om}"
    );
    assert!(om.contains("# TYPE node_memory_Foo counter\n"), "{om}");
    expo::parse(&om, true).unwrap_or_else(|e| panic!("{e}\n{om}"));
    expo::parse(&scrape(Format::Text004), false).unwrap();
}

/// A key that is not a valid end of a name, or that names a row of its own, is not
/// written at all (neither header nor sample): one refused sample never breaks a scrape.
#[test]
fn refused_meminfo_keys_write_nothing() {
    let bytes = lookup(id::MEM_OTHER_BYTES).unwrap();
    let count = lookup(id::MEM_OTHER).unwrap();
    for (m, key) in [
        (bytes, "Bad-Key"),
        (bytes, "Active(anon)"),
        (bytes, ""),
        (bytes, "a\"b"),
        (bytes, "MemTotal"),
        (bytes, "Active_anon"),
        (count, "HugePages_Total"),
        (count, "Foo_bytes"),
        (bytes, "x".repeat(65).leak()),
    ] {
        let mut out = String::new();
        write_sample_family_header(&mut out, Format::Text004, m, &[key]).unwrap();
        write_metric_sample(
            &mut out,
            Format::Text004,
            m,
            "pi4",
            &[key],
            Number::U64(1),
            None,
        )
        .unwrap();
        assert_eq!(out, "", "{key}");
        assert_eq!(sample_name(m, &[key]), None, "{key}");
    }
    assert!(sample_name(bytes, &["x".repeat(64).as_str()]).is_some());
    assert!(sample_name(bytes, &[]).is_none());
    // Every other row is named by its catalog name.
    let cpu = lookup(id::CPU_SECONDS_USER).unwrap();
    let name = sample_name(cpu, &["0"]).unwrap();
    assert!(name.is("node_cpu_seconds_total"));
    assert_eq!(name.to_string(), "node_cpu_seconds_total");
}

proptest! {
    #[test]
    fn any_label_value_round_trips(s in "\\PC*|[\\\\\"\n,={} a-z]*") {
        let mut out = String::new();
        write_label_value_escaped(&mut out, &s).unwrap();
        prop_assert!(!out.contains('\n'));
        out.push('"');
        let (back, rest) = expo::quoted(&out).unwrap();
        prop_assert_eq!(back, s);
        prop_assert_eq!(rest, "");
    }

    #[test]
    fn any_help_text_round_trips(s in "\\PC*|[\\\\\"\n a-z]*", om in any::<bool>()) {
        let format = if om { Format::OpenMetrics } else { Format::Text004 };
        let mut out = String::new();
        write_header(&mut out, format, "m", MetricType::Gauge, &s, "").unwrap();
        write_eof(&mut out, format).unwrap();
        let lines = expo::parse(&out, om).unwrap();
        if s.is_empty() {
            // No help text, no `# HELP` line.
            prop_assert!(matches!(&lines[0], expo::Line::Type(..)));
        } else {
            prop_assert_eq!(&lines[0], &expo::Line::Help("m".into(), s));
        }
    }

    #[test]
    fn any_finite_float_reads_back_exactly(v in any::<f64>()) {
        let text = number(Number::F64(v));
        let back: f64 = match text.as_str() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().unwrap(),
        };
        prop_assert!(back == v || (v.is_nan() && back.is_nan()), "{} -> {}", v, text);
    }
}

// ---- InfluxDB line protocol ---------------------------------------------------------------

fn lp(
    measurement: &str,
    tags: &[Tag<'_>],
    fields: &[(&str, FieldValue<'_>)],
    ts: Option<i64>,
    precision: Precision,
) -> (bool, String) {
    let mut out = String::new();
    let written = write_line(
        &mut out,
        measurement,
        tags,
        fields.iter().copied(),
        ts,
        precision,
    )
    .unwrap();
    (written, out)
}

#[test]
fn line_with_typed_fields_and_sorted_tags() {
    let (written, out) = lp(
        "system",
        &[
            Tag::new("zone", "b"),
            Tag::new("host", "pi4"),
            Tag::new("arch", "armv7"),
        ],
        &[
            ("load1", FieldValue::Float(0.87)),
            ("n_cpus", FieldValue::Integer(4)),
            ("big", FieldValue::UInteger(u64::MAX)),
            ("ok", FieldValue::Boolean(true)),
            ("whole", FieldValue::Float(2.0)),
            ("note", FieldValue::String("say \"hi\" C:\\")),
        ],
        Some(1_700_000_000_123),
        Precision::Nanoseconds,
    );
    assert!(written);
    assert_eq!(
        out,
        "system,arch=armv7,host=pi4,zone=b load1=0.87,n_cpus=4i,big=18446744073709551615u,\
         ok=true,whole=2,note=\"say \\\"hi\\\" C:\\\\\" 1700000000123000000\n"
    );
    let parsed: Vec<_> = parse_lines(&out).collect::<Result<_, _>>().unwrap();
    assert_eq!(parsed.len(), 1);
    let fields: Vec<_> = parsed[0]
        .field_set
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    assert_eq!(fields[0], ("load1".to_string(), OracleField::F64(0.87)));
    assert_eq!(fields[1].1, OracleField::I64(4));
    assert_eq!(fields[2].1, OracleField::U64(u64::MAX));
    assert_eq!(fields[3].1, OracleField::Boolean(true));
    assert_eq!(fields[4].1, OracleField::F64(2.0));
    let OracleField::String(note) = &fields[5].1 else {
        panic!()
    };
    assert_eq!(note.to_string(), "say \"hi\" C:\\");
    assert_eq!(parsed[0].timestamp, Some(1_700_000_000_123_000_000));
}

#[test]
fn nan_and_inf_fields_are_skipped_and_an_empty_line_is_not_written() {
    let (written, out) = lp(
        "temp",
        &[Tag::new("sensor", "x")],
        &[
            ("a", FieldValue::Float(f64::NAN)),
            ("b", FieldValue::Float(1.5)),
            ("c", FieldValue::Float(f64::INFINITY)),
        ],
        None,
        Precision::Seconds,
    );
    assert!(written);
    assert_eq!(out, "temp,sensor=x b=1.5\n");
    let (written, out) = lp(
        "temp",
        &[Tag::new("sensor", "x")],
        &[
            ("a", FieldValue::Float(f64::NAN)),
            ("", FieldValue::Integer(1)),
        ],
        Some(5),
        Precision::Seconds,
    );
    assert!(!written);
    assert_eq!(out, "");
    let (written, out) = lp(
        "",
        &[],
        &[("a", FieldValue::Integer(1))],
        None,
        Precision::Seconds,
    );
    assert_eq!((written, out.as_str()), (false, ""));
}

#[test]
fn timestamps_in_every_precision() {
    let ms = 1_700_000_000_123;
    for (p, want) in [
        (Precision::Nanoseconds, "1700000000123000000"),
        (Precision::Microseconds, "1700000000123000"),
        (Precision::Milliseconds, "1700000000123"),
        (Precision::Seconds, "1700000000"),
    ] {
        let (_, out) = lp("m", &[], &[("f", FieldValue::Integer(1))], Some(ms), p);
        assert_eq!(out, format!("m f=1i {want}\n"));
        assert_eq!(Precision::parse(p.as_str()), Some(p));
    }
    assert_eq!(Precision::Seconds.from_unix_ms(-1), -1, "rounded down");
    assert_eq!(
        Precision::Nanoseconds.from_unix_ms(i64::MAX),
        i128::from(i64::MAX) * 1_000_000
    );
}

#[test]
fn tags_empty_or_repeated_are_handled() {
    let (_, out) = lp(
        "m",
        &[
            Tag::new("b", "1"),
            Tag::new("a", ""),
            Tag::new("", "x"),
            Tag::new("b", "2"),
            Tag::new("c", "3"),
        ],
        &[("f", FieldValue::Integer(1))],
        None,
        Precision::Nanoseconds,
    );
    assert_eq!(out, "m,b=1,c=3 f=1i\n");
}

#[test]
fn escaping_per_element_exact_and_read_back() {
    let (_, out) = lp(
        "my meas,x=y",
        &[Tag::new("tag key,=", "val ue,=\"é"), Tag::new("t", "a\\b")],
        &[("fi eld,=", FieldValue::String("q\"\\z"))],
        Some(1),
        Precision::Nanoseconds,
    );
    assert_eq!(
        out,
        "my\\ meas\\,x=y,t=a\\b,tag\\ key\\,\\==val\\ ue\\,\\=\"é fi\\ eld\\,\\==\"q\\\"\\\\z\" 1000000\n"
    );
    let line = parse_lines(&out).next().unwrap().unwrap();
    assert_eq!(line.series.measurement.to_string(), "my meas,x=y");
    let tags: Vec<(String, String)> = line
        .series
        .tag_set
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        tags,
        [
            ("t".into(), "a\\b".into()),
            ("tag key,=".into(), "val ue,=\"é".into())
        ]
    );
    assert_eq!(line.field_set[0].0.to_string(), "fi eld,=");
}

#[test]
fn unrepresentable_characters_follow_telegraf() {
    // Line ends and a backslash that would escape a separator cannot be carried: line
    // ends become `\n`-style text, such a backslash is dropped.
    let (_, out) = lp(
        "m\\",
        &[Tag::new("t", "a\nb\tc\\"), Tag::new("u", "x\\,y")],
        &[("f\\", FieldValue::String("l1\nl2"))],
        None,
        Precision::Nanoseconds,
    );
    assert_eq!(out, "m,t=a\\nb\\tc,u=x\\,y f=\"l1\\nl2\"\n");
    assert_eq!(out.matches('\n').count(), 1);
    parse_lines(&out).next().unwrap().unwrap();
}

#[test]
fn catalog_rows_become_telegraf_lines() {
    let cpu = lookup(id::CPU_SECONDS_USER).unwrap();
    let mut out = String::new();
    write_metric_line(
        &mut out,
        cpu,
        "pi4",
        &["2"],
        Value::Unsigned(12_345),
        100,
        Some(1_000),
        Precision::Seconds,
    )
    .unwrap();
    assert_eq!(out, "cpu,cpu=cpu2,host=pi4 time_user=123.45 1\n");

    out.clear();
    let mem = lookup(id::MEM_MEMTOTAL).unwrap();
    write_metric_line(
        &mut out,
        mem,
        "pi4",
        &[],
        Value::Unsigned(3_884_096),
        100,
        None,
        Precision::Seconds,
    )
    .unwrap();
    assert_eq!(out, "mem,host=pi4 total=3977314304i\n");

    out.clear();
    let avail = lookup(id::FS_AVAIL).unwrap();
    write_metric_line(
        &mut out,
        avail,
        "pi4",
        &["/dev/mmcblk0p2", "ext4", "/"],
        Value::Unsigned(1 << 30),
        100,
        None,
        Precision::Seconds,
    )
    .unwrap();
    assert_eq!(
        out,
        "disk,device=mmcblk0p2,fstype=ext4,host=pi4,path=/ free=1073741824i\n"
    );

    out.clear();
    let psi = lookup(id::PRESSURE_MEMORY_STALLED).unwrap();
    write_metric_line(
        &mut out,
        psi,
        "pi4",
        &[],
        Value::Unsigned(1_429_641),
        100,
        None,
        Precision::Seconds,
    )
    .unwrap();
    assert_eq!(
        out,
        "pressure,host=pi4,resource=memory,type=full total=1429641i\n"
    );

    out.clear();
    let uptime = lookup(id::UPTIME).unwrap();
    write_metric_line(
        &mut out,
        uptime,
        "pi4",
        &[],
        Value::Unsigned(12_345_678),
        100,
        None,
        Precision::Seconds,
    )
    .unwrap();
    assert_eq!(
        out, "system,host=pi4 uptime=123456i\n",
        "integer field truncates"
    );

    out.clear();
    let zone = lookup(id::THERMAL_ZONE_TEMP).unwrap();
    let written = write_metric_line(
        &mut out,
        zone,
        "pi4",
        &["0", "cpu-thermal"],
        Value::F32(f32::NAN),
        100,
        None,
        Precision::Seconds,
    )
    .unwrap();
    assert!(!written && out.is_empty(), "NaN writes nothing");

    // Telegraf-style merge: several catalog fields of one measurement and tag set.
    out.clear();
    let ids = [
        id::DISK_READS_COMPLETED,
        id::DISK_READ_BYTES,
        id::DISK_READ_TIME,
    ];
    let raws = [
        Value::Unsigned(2353),
        Value::Unsigned(61_231),
        Value::Unsigned(1303),
    ];
    let schema = lookup(ids[0]).unwrap().influx.as_ref().unwrap();
    let tags = metric_tags(schema, "pi4", &["mmcblk0"]);
    let fields = ids.iter().zip(raws).filter_map(|(&i, raw)| {
        let s = lookup(i)?.influx.as_ref()?;
        Some((s.field, field_value(s, raw, 100)?))
    });
    write_line(
        &mut out,
        schema.measurement,
        tags.as_slice(),
        fields,
        Some(1_578_326_400_000),
        Precision::Nanoseconds,
    )
    .unwrap();
    assert_eq!(
        out,
        "diskio,host=pi4,name=mmcblk0 reads=2353i,read_bytes=31350272i,read_time=1303i 1578326400000000000\n"
    );
}

#[test]
fn every_catalog_row_writes_a_line_the_oracle_reads() {
    let mut out = String::new();
    for m in CATALOG {
        let values: Vec<String> = m.labels.iter().map(|l| format!("{l} ,=\"x")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert!(
            write_metric_line(
                &mut out,
                m,
                "host 1",
                &refs,
                Value::Signed(-12_345),
                100,
                Some(1),
                Precision::Milliseconds
            )
            .unwrap(),
            "{}",
            m.prom_name
        );
    }
    let lines: Vec<_> = parse_lines(&out).collect::<Result<_, _>>().unwrap();
    assert_eq!(lines.len(), CATALOG.len());
    for (line, m) in lines.iter().zip(CATALOG) {
        let ix = m.influx.unwrap();
        assert_eq!(line.series.measurement.to_string(), ix.measurement);
        assert_eq!(line.field_set[0].0.to_string(), ix.field);
        let n_tags = line.series.tag_set.as_ref().map_or(0, |t| t.len());
        assert_eq!(
            n_tags,
            // `host`, every tag with a key (an empty key leaves its label out), the
            // constant tags.
            1 + ix.tags.iter().filter(|k| !k.is_empty()).count() + ix.const_tags.len(),
            "{}",
            m.prom_name
        );
    }
}

/// Strings that every reader takes back unchanged: no line ends, and no backslash next
/// to another backslash, before an escaped character or at the end.
fn portable() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,=\"é🙂_.:/\\\\-]{1,24}".prop_filter("ambiguous backslash", |s| {
        let b = s.as_bytes();
        b.last() != Some(&b'\\')
            && !b
                .windows(2)
                .any(|w| w[0] == b'\\' && (b"\\ ,=".contains(&w[1])))
    })
}

proptest! {
    #[test]
    fn portable_names_round_trip_through_the_oracle(
        measurement in portable(),
        key in portable(),
        value in portable(),
        field in portable(),
        text in "\\PC*",
        v in any::<i64>(),
        f in any::<f64>(),
    ) {
        let tags = [Tag::new(&key, &value), Tag::new("host", "pi")];
        let mut out = String::new();
        let fields = [
            (field.as_str(), FieldValue::Integer(v)),
            ("f", FieldValue::Float(f)),
            ("s", FieldValue::String(&text)),
        ];
        let written = write_line(&mut out, &measurement, &tags, fields, Some(7), Precision::Seconds).unwrap();
        prop_assert!(written);
        prop_assert_eq!(out.matches('\n').count(), 1);
        let line = parse_lines(&out).next().unwrap().unwrap();
        prop_assert_eq!(line.series.measurement.to_string(), measurement);
        let tags: Vec<(String, String)> = line.series.tag_set.unwrap().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        prop_assert!(tags.contains(&(key.clone(), value.clone())));
        prop_assert_eq!(line.field_set[0].0.to_string(), field);
        prop_assert_eq!(line.field_set[0].1.clone(), OracleField::I64(v));
        if f.is_finite() {
            prop_assert_eq!(line.field_set[1].1.clone(), OracleField::F64(f));
        }
        // By position, not by key: the generated field name may itself be "s" (seen).
        let s = &line.field_set[2];
        prop_assert_eq!(s.0.to_string(), "s");
        if let OracleField::String(s) = &s.1 {
            let expected = text.replace('\n', "\\n").replace('\r', "\\r");
            prop_assert_eq!(s.to_string(), expected);
        } else {
            prop_assert!(false, "not a string field");
        }
    }
}

#[test]
fn tag_set_capacity_is_bounded() {
    let mut set = influx::TagSet::new();
    for _ in 0..influx::MAX_TAGS {
        assert!(set.push(Tag::new("k", "v")));
    }
    assert!(!set.push(Tag::new("k", "v")));
    assert_eq!(set.as_slice().len(), influx::MAX_TAGS);
}
