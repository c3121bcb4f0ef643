//! `docs/METRICS.md`'s tables are generated from the catalog, the source table and the
//! aggregator's own metric tables, so the reference cannot drift from the code.
//!
//! Every catalog family (`pimon_protocol::catalog::families()`) becomes a markdown row,
//! one table per section — the sections of the source table
//! (`pimon_collector::source::METRIC_GROUPS`), then the sensors' and the collector's
//! own — between `<!-- catalog:begin -->` and `<!-- catalog:end -->`; every family of
//! the aggregator's tables (`pimon_aggregator::self_metrics::doc_sections`) a row
//! between `<!-- self-metrics:KEY:begin -->` and `<!-- self-metrics:KEY:end -->`. The
//! text around the markers is written by hand. After a change of the catalog, of a
//! section or of an aggregator table, regenerate and review the diff:
//!
//! ```text
//! cargo xtask codegen
//! ```
//!
//! A new family whose name matches no section's prefix, or a new (unit, conversion)
//! pair that [`raw_unit`] cannot describe, fails the generator with a message saying
//! what to add: it never guesses.

use std::fmt::Write as _;

use pimon_aggregator::self_metrics::{DocSection, doc_sections};

use pimon_collector::source::{MetricGroup, SourceKind};
use pimon_protocol::catalog::{
    CATALOG, Conversion, Family, FieldKind, InfluxSchema, Metric, TagRule, families,
};

/// The document, from the repository's root.
pub const PATH: &str = "docs/METRICS.md";

/// The sections, in the order of the document: the source table's, the sensors', the
/// collector's own, its process. Every family belongs to exactly one.
fn groups() -> Vec<MetricGroup> {
    let mut all = pimon_collector::source::METRIC_GROUPS.to_vec();
    all.extend_from_slice(pimon_collector::sensors::METRIC_GROUPS);
    all.push(pimon_collector::cycle::OWN_METRICS);
    all.push(pimon_collector::own_process::OWN_PROCESS_METRICS);
    all
}

/// "From …" of a section; the collector's own section also names the values of its
/// `source` label, from the source table.
fn from_text(g: &MetricGroup) -> String {
    if *g != pimon_collector::cycle::OWN_METRICS {
        return g.from.to_string();
    }
    let names: Vec<String> = SourceKind::ALL
        .iter()
        .map(|k| format!("`{}`", k.name()))
        .collect();
    format!(
        "{} The `source` label is one of {}, and `i2c` / `gpio` when such sensors are configured.",
        g.from,
        names.join(", ")
    )
}

/// The group of a family, or why there is none.
fn group_of(name: &str) -> Result<usize, String> {
    let groups = groups();
    // The longest matching prefix decides, so a section of rows appended later to a
    // source (ids never move, so they cannot join the source's run) can name them
    // beside the source's own shorter prefix.
    let longest = |g: &MetricGroup| {
        g.prefixes
            .iter()
            .filter(|p| name.starts_with(**p))
            .map(|p| p.len())
            .max()
    };
    let best = groups.iter().filter_map(longest).max();
    let hits: Vec<usize> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| best.is_some() && longest(g) == best)
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "family `{name}` matches no section: add its prefix to the `docs` of its entry in collector/src/source_table.rs (or to the sensors' METRIC_GROUPS)"
        )),
        many => Err(format!(
            "family `{name}` matches several sections equally ({}): make their prefixes distinct",
            many.iter()
                .map(|&i| groups[i].title)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// What the raw value on the wire is, for a row with a conversion (`None` for
/// [`Conversion::Identity`]: the wire carries the exported value).
fn raw_unit(m: &Metric) -> Result<Option<&'static str>, String> {
    use Conversion::{Identity, PerUserHz, Scale};
    // Rows whose exported unit does not say what the raw value is.
    match m.prom_name {
        // node_exporter's name has no unit; the kernel writes millidegrees.
        "node_thermal_zone_temp" => return Ok(Some("millidegrees Celsius")),
        // node_exporter scales every hwmon `in*` file by 0.001, alarm flags included.
        "node_hwmon_in_lcrit_alarm_volts" => return Ok(Some("alarm flag 0 or 1")),
        _ => {}
    }
    let raw = match (m.unit, m.conversion) {
        (_, Identity) => return Ok(None),
        ("seconds", PerUserHz) => "jiffies (USER_HZ ticks)",
        ("seconds", Scale(0.001)) => "milliseconds",
        ("seconds", Scale(0.000_001)) => "microseconds",
        ("seconds", Scale(0.000_000_001)) => "nanoseconds",
        ("hertz", Scale(k)) if k == pimon_protocol::catalog::PER_SCALED_PPM => {
            "parts per million × 2^16 (adjtimex's scaled ppm)"
        }
        ("seconds", Scale(0.01)) => "hundredths of a second",
        ("", Scale(0.01)) => "hundredths",
        ("bytes", Scale(1024.0)) => "kB (KiB)",
        ("bytes", Scale(512.0)) => "512-byte sectors",
        ("bytes", Scale(125_000.0)) => "Mbit/s (a link's `speed`)",
        ("hertz", Scale(1000.0)) => "kHz",
        ("celsius", Scale(0.001)) => "millidegrees Celsius",
        ("volts", Scale(0.001)) => "millivolts",
        ("amps", Scale(0.001)) => "milliamperes",
        ("watt", Scale(0.000_001)) => "microwatts",
        ("percent", Scale(0.001)) => "milli-percent",
        ("pascals", Scale(1000.0)) => "kilopascals",
        // The power-supply class: node_exporter's names say volt, ampere, watt, watthour
        // or nothing; the files are in µV, µA, µW, µWh, µAh.
        ("", Scale(0.000_001)) => "micro-units (µV, µA, µW, µWh, µAh)",
        ("celsius", Scale(0.1)) => "tenths of a degree Celsius",
        (unit, conversion) => {
            return Err(format!(
                "`{}`: no description of the raw unit for unit {unit:?} with {conversion:?}: \
                 add it to raw_unit() in xtask/src/metrics_doc.rs",
                m.prom_name
            ));
        }
    };
    Ok(Some(raw))
}

/// `÷ 1000`, `× 1024`, `÷ USER_HZ`, `as sent`.
fn conversion_text(c: Conversion) -> String {
    match c {
        Conversion::Identity => "as sent".to_string(),
        Conversion::PerUserHz => "÷ USER_HZ".to_string(),
        Conversion::Scale(k) if k > 0.0 && k < 1.0 => {
            let n = (1.0 / k).round();
            if (n * k - 1.0).abs() < 1e-9 {
                format!("÷ {n}")
            } else {
                format!("× {k}")
            }
        }
        Conversion::Scale(k) => format!("× {k}"),
    }
}

/// The "on the wire" cell: raw unit and conversion to the Prometheus value.
fn wire_cell(m: &Metric) -> Result<String, String> {
    Ok(match raw_unit(m)? {
        None if m.unit.is_empty() => "as sent".to_string(),
        None => format!("{}, as sent", m.unit),
        Some(raw) => format!("{raw} {}", conversion_text(m.conversion)),
    })
}

fn code(s: &str) -> String {
    format!("`{s}`")
}

/// Escapes text for a table cell.
fn cell_text(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `0`, `0–7`, or `3, 9`.
fn ids_text(ids: &[u16]) -> String {
    let contiguous = ids.windows(2).all(|w| w[1] == w[0] + 1);
    match ids {
        [] => String::new(),
        [one] => one.to_string(),
        [first, .., last] if contiguous => format!("{first}–{last}"),
        _ => ids
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `key="value"` pairs of a row's constant labels.
fn const_labels_text(m: &Metric) -> String {
    m.const_labels
        .iter()
        .map(|(k, v)| code(&format!("{k}=\"{v}\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the rows of a family have different instance labels (one row per kind of
/// cgroup workload).
fn labels_differ(rows: &[&Metric]) -> bool {
    rows.iter().any(|r| r.labels != rows[0].labels)
}

/// What tells a row from the others of its family: its instance labels when those
/// differ, then its constant labels.
fn row_key(rows: &[&Metric], m: &Metric) -> String {
    let consts = const_labels_text(m);
    if !labels_differ(rows) {
        return consts;
    }
    let labels = m
        .labels
        .iter()
        .map(|l| code(l))
        .collect::<Vec<_>>()
        .join(" ");
    if consts.is_empty() || rows.iter().all(|r| r.const_labels == m.const_labels) {
        labels
    } else {
        format!("{labels} {consts}")
    }
}

/// `instance`, the row's labels, then the constant labels: with their value for a
/// one-row family, with the values of all rows for a larger one. Rows with different
/// instance labels are listed one label set per row.
fn labels_cell(rows: &[&Metric]) -> String {
    let first = rows[0];
    let mut parts = vec![code("instance")];
    if labels_differ(rows) {
        let sets: Vec<String> = rows
            .iter()
            .map(|r| {
                r.labels
                    .iter()
                    .map(|l| code(l))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        parts.push(format!("one of: {}", sets.join(" / ")));
    } else {
        parts.extend(first.labels.iter().map(|l| code(l)));
    }
    if rows.len() == 1 || rows.iter().all(|r| r.const_labels == first.const_labels) {
        parts.extend(
            first
                .const_labels
                .iter()
                .map(|(k, v)| code(&format!("{k}=\"{v}\""))),
        );
    } else {
        for (i, (key, _)) in first.const_labels.iter().enumerate() {
            let values: Vec<String> = rows
                .iter()
                .filter_map(|r| r.const_labels.get(i).map(|(_, v)| code(v)))
                .collect();
            parts.push(format!("{} ({})", code(key), values.join(", ")));
        }
    }
    parts.join(", ")
}

/// The tags of a line: `host`, one per label (with how its value is derived), the
/// constant tags.
fn tags_text(m: &Metric, s: &InfluxSchema) -> String {
    let mut parts = vec![code("host")];
    for (i, tag) in s.tags.iter().enumerate() {
        let label = m.labels.get(i).copied().unwrap_or("?");
        if tag.is_empty() {
            continue; // the label is not written to InfluxDB
        }
        parts.push(match s.tag_rule(i) {
            TagRule::Verbatim if *tag == label => code(tag),
            TagRule::Verbatim => format!("{} (label {})", code(tag), code(label)),
            TagRule::Prefix(p) => format!("{} = \"{p}\" + label {}", code(tag), code(label)),
            TagRule::StripPrefix(p) => {
                format!("{} = label {} without \"{p}\"", code(tag), code(label))
            }
            TagRule::LastSegment => {
                format!("{} = label {} after its last `/`", code(tag), code(label))
            }
        });
    }
    parts.extend(s.const_tags.iter().map(|(k, v)| code(&format!("{k}={v}"))));
    parts.join(", ")
}

fn kind_text(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Float => "float",
        FieldKind::Integer => "integer",
    }
}

/// Everything of a row's InfluxDB schema but the field key.
fn influx_head(m: &Metric, s: &InfluxSchema) -> String {
    format!(
        "{}, {} {}; tags: {}",
        code(s.measurement),
        kind_text(s.kind),
        conversion_text(s.conversion),
        tags_text(m, s)
    )
}

/// The InfluxDB cell: measurement and field (one per row), field type, conversion from
/// the wire, tags. Rows that share all but the field are listed by constant label.
fn influx_cell(rows: &[&Metric]) -> String {
    let schemas: Vec<Option<&InfluxSchema>> = rows.iter().map(|m| m.influx.as_ref()).collect();
    if schemas.iter().all(Option::is_none) {
        return "— (not written)".to_string();
    }
    let heads: Vec<Option<String>> = rows
        .iter()
        .map(|m| m.influx.as_ref().map(|s| influx_head(m, s)))
        .collect();
    let shared = heads.iter().all(|h| h.is_some() && *h == heads[0]);
    match (rows, shared) {
        ([m], _) => {
            let s = m.influx.as_ref().expect("checked above");
            format!(
                "{} {}",
                code(&format!("{}.{}", s.measurement, s.field)),
                cell_text(&format!(
                    "({}, {}); tags: {}",
                    kind_text(s.kind),
                    conversion_text(s.conversion),
                    tags_text(m, s)
                ))
            )
        }
        (_, true) => {
            let fields: Vec<String> = rows
                .iter()
                .filter_map(|m| {
                    m.influx
                        .as_ref()
                        .map(|s| format!("{} ({})", code(s.field), row_key(rows, m)))
                })
                .collect();
            format!(
                "{}<br>fields: {}",
                cell_text(heads[0].as_deref().unwrap_or("")),
                fields.join(", ")
            )
        }
        (_, false) => rows
            .iter()
            .map(|m| match &m.influx {
                Some(s) => format!(
                    "{}: {} {}",
                    row_key(rows, m),
                    code(&format!("{}.{}", s.measurement, s.field)),
                    cell_text(&influx_head(m, s))
                ),
                None => format!("{}: —", row_key(rows, m)),
            })
            .collect::<Vec<_>>()
            .join("<br>"),
    }
}

/// A cell that is the same for every row of the family, or one line per row.
fn per_row_cell(
    rows: &[&Metric],
    f: impl Fn(&Metric) -> Result<String, String>,
) -> Result<String, String> {
    let values = rows.iter().map(|m| f(m)).collect::<Result<Vec<_>, _>>()?;
    if values.iter().all(|v| *v == values[0]) {
        return Ok(values[0].clone());
    }
    Ok(rows
        .iter()
        .zip(&values)
        .map(|(m, v)| format!("{}: {v}", row_key(rows, m)))
        .collect::<Vec<_>>()
        .join("<br>"))
}

/// One table row for a family.
fn family_row(family: &Family) -> Result<String, String> {
    let rows: Vec<&Metric> = family.rows().collect();
    let first = family.first;
    let unit = if first.unit.is_empty() {
        "—"
    } else {
        first.unit
    };
    Ok(format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |",
        ids_text(family.ids),
        code(first.prom_name),
        first.metric_type.as_str(),
        unit,
        labels_cell(&rows),
        per_row_cell(&rows, wire_cell)?,
        influx_cell(&rows),
        cell_text(first.help),
    ))
}

/// GitHub's anchor for a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The generated catalog section, markers excluded.
fn render() -> Result<String, String> {
    let groups = groups();
    let mut by_group: Vec<Vec<Family>> = groups.iter().map(|_| Vec::new()).collect();
    for family in families() {
        by_group[group_of(family.first.prom_name)?].push(family);
    }
    if let Some(empty) = groups.iter().zip(&by_group).find(|(_, f)| f.is_empty()) {
        return Err(format!(
            "section `{}` has no family: give it the prefix of a catalog family, or remove it",
            empty.0.title
        ));
    }
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\n<!-- Generated by `cargo xtask codegen` (xtask/src/metrics_doc.rs) from pimon_protocol::catalog and the source table; do not edit by hand. -->\n"
    );
    let _ = writeln!(
        w,
        "{} metric families in {} catalog rows (wire ids 0–{}).\n",
        by_group.iter().map(Vec::len).sum::<usize>(),
        CATALOG.len(),
        CATALOG.len() - 1
    );
    let _ = writeln!(w, "| source | families |\n|---|---|");
    for (g, fams) in groups.iter().zip(&by_group) {
        let _ = writeln!(
            w,
            "| [{}](#{}) | {} |",
            g.title,
            anchor(g.title),
            fams.len()
        );
    }
    for (g, fams) in groups.iter().zip(&by_group) {
        let _ = writeln!(w, "\n### {}\n\nFrom {}\n", g.title, from_text(g));
        let _ = writeln!(
            w,
            "| id | Prometheus name | type | unit | labels | on the wire → Prometheus | InfluxDB (Telegraf schema) | help |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        for family in fams {
            let _ = writeln!(w, "{}", family_row(family)?);
        }
    }
    let _ = writeln!(w);
    Ok(out)
}

/// One row of an aggregator table.
fn self_metric_row(row: &pimon_aggregator::self_metrics::DocRow) -> String {
    let unit = if row.unit.is_empty() { "—" } else { row.unit };
    let labels = if row.labels.is_empty() {
        "—".to_string()
    } else {
        row.labels
            .iter()
            .map(|l| code(l))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "| {} | {} | {} | {} | {} |",
        code(row.name),
        row.kind.as_str(),
        unit,
        labels,
        cell_text(row.help)
    )
}

/// The generated table of an aggregator section, markers excluded.
fn render_self_metrics(section: &DocSection) -> String {
    let mut out = String::from("\n\n");
    let labels = if section.extra_labels {
        "extra labels"
    } else {
        "labels"
    };
    let _ = writeln!(
        out,
        "| Prometheus name | type | unit | {labels} | meaning |\n|---|---|---|---|---|"
    );
    for row in &section.rows {
        let _ = writeln!(out, "{}", self_metric_row(row));
    }
    out.push('\n');
    out
}

/// Replaces the text between `<!-- {key}:begin -->` and `<!-- {key}:end -->` with
/// `generated`.
fn replace_between(doc: &str, key: &str, generated: &str) -> Result<String, String> {
    let begin = format!("<!-- {key}:begin -->");
    let end = format!("<!-- {key}:end -->");
    let start = doc
        .find(&begin)
        .ok_or_else(|| format!("{PATH} has no `{begin}` marker"))?
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .ok_or_else(|| format!("{PATH} has no `{end}` marker after `{begin}`"))?
        + start;
    Ok(format!("{}{generated}{}", &doc[..start], &doc[stop..]))
}

/// `doc` with every generated part rewritten from the code.
pub fn generate(doc: &str) -> Result<String, String> {
    let mut doc = replace_between(doc, "catalog", &render()?)?;
    for section in doc_sections() {
        let key = format!("self-metrics:{}", section.key);
        doc = replace_between(&doc, &key, &render_self_metrics(&section))?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_family_has_exactly_one_group_and_a_described_wire_unit() {
        let mut problems = Vec::new();
        for family in families() {
            if let Err(e) = group_of(family.first.prom_name) {
                problems.push(e);
            }
            for m in family.rows() {
                if let Err(e) = raw_unit(m) {
                    problems.push(e);
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// Rows that one section (one source) sends with the same label names have consecutive
    /// ids: the wire encodes each id as the difference to the previous sample's, so such a
    /// run costs a byte per id. A new source appends its rows at the end of the catalog
    /// (ids are append-only) and keeps this rule; a row appended later to an existing
    /// source starts a section of its own (`IRQ pressure`).
    #[test]
    fn each_sections_rows_with_the_same_labels_are_one_run() {
        let mut problems = Vec::new();
        for (index, group) in groups().iter().enumerate() {
            let mut runs: BTreeMap<&[&str], Vec<u16>> = BTreeMap::new();
            for m in CATALOG {
                if group_of(m.prom_name) == Ok(index) {
                    runs.entry(m.labels).or_default().push(m.id);
                }
            }
            for (labels, ids) in runs {
                if ids.windows(2).any(|w| w[1] != w[0] + 1) {
                    problems.push(format!(
                        "section `{}`, labels {labels:?}: ids {ids:?} are not one run \
                         (a row appended later to a source gets a section of its own in \
                         the source table's `docs`: CONTRIBUTING.md)",
                        group.title
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The generator says what the catalog says (guards against a renderer that emits
    /// plausible but wrong cells).
    #[test]
    fn rendered_rows_match_known_catalog_rows() {
        let text = render().unwrap_or_else(|e| panic!("{e}"));
        let row = |name: &str| -> String {
            text.lines()
                .find(|l| l.contains(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("no row for {name}"))
                .to_string()
        };
        let cpu = row("node_cpu_seconds_total");
        assert!(cpu.starts_with("| 0–7 | `node_cpu_seconds_total` | counter | seconds | `instance`, `cpu`, `mode` (`user`, `nice`, `system`, `idle`, `iowait`, `irq`, `softirq`, `steal`) | jiffies (USER_HZ ticks) ÷ USER_HZ |"), "{cpu}");
        assert!(cpu.contains("`cpu`, float ÷ USER_HZ; tags: `host`, `cpu` = \"cpu\" + label `cpu`<br>fields: `time_user` (`mode=\"user\"`), `time_nice` (`mode=\"nice\"`)"), "{cpu}");

        let mem = row("node_memory_MemTotal_bytes");
        assert!(mem.contains("| gauge | bytes | `instance` | kB (KiB) × 1024 | `mem.total` (integer, × 1024); tags: `host` |"), "{mem}");

        let read_time = row("node_disk_read_time_seconds_total");
        assert!(read_time.contains("| milliseconds ÷ 1000 | `diskio.read_time` (integer, as sent); tags: `host`, `name` (label `device`) |"), "{read_time}");

        let avail = row("node_filesystem_avail_bytes");
        assert!(avail.contains("`disk.free` (integer, as sent); tags: `host`, `device` = label `device` without \"/dev/\", `fstype`, `path` (label `mountpoint`)"), "{avail}");

        let psi = row("node_pressure_io_stalled_seconds_total");
        assert!(psi.contains("| microseconds ÷ 1000000 | `pressure.total` (integer, as sent); tags: `host`, `resource=io`, `type=full` |"), "{psi}");

        let under_voltage = row("pimon_rpi_under_voltage");
        assert!(
            under_voltage.contains(
                "| gauge | — | `instance` | as sent | `pimon_rpi.under_voltage` (integer, as sent)"
            ),
            "{under_voltage}"
        );

        // Every family appears exactly once.
        for family in families() {
            let needle = format!("| `{}` |", family.first.prom_name);
            assert_eq!(text.matches(&needle).count(), 1, "{needle}");
        }
    }
}
