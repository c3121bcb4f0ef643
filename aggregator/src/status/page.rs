//! The status page's HTML (`/`, `/node/<name>`) and JSON (`/api/nodes`).
//!
//! Self-contained on purpose: the CSS is inline, the sparklines are inline SVG, there
//! is no script, font or image from anywhere — the page works offline on a router and
//! costs one request. It refreshes itself (`<meta http-equiv="refresh">`), and on a
//! narrow screen each node becomes a card (one CSS media query). Every text that comes
//! from a node (its name, label values such as mount points) goes through [`escape`]:
//! a node named `<script>` is shown as text. JSON strings go through [`json_string`].

use std::fmt::Write;

use crate::ingress::expo::Value as ExpoValue;
use crate::ingress::groups::Group;
use crate::series::{decode_set, metric_at_rank};
use crate::status::history::{NodeHistory, POINTS};
use crate::status::model::{NodeView, Problem};
use crate::store::{SnapNode, Snapshot};

/// Seconds between the page's own reloads.
pub const REFRESH_SECONDS: u32 = 10;

/// `text` with `& < > " '` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a JSON string literal, quotes included.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` too, so the JSON can never close a <script> it is pasted into.
            c if (c as u32) < 0x20 || c == '<' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percent-encodes a node name for a `/node/<name>` link (unreserved bytes stay).
pub fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes a `/node/<name>` path segment; `None` when it is not valid percent-encoded
/// UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `2023-11-14 22:13:20 UTC` for a Unix time in ms.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(now_ms: u64, then_ms: u64) -> String {
    if then_ms == 0 {
        return "never".to_string();
    }
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7_199 => format!("{} min ago", s / 60),
        7_200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "—".to_string(), f)
}

fn percent(v: f64) -> String {
    format!("{:.0} %", v * 100.0)
}

/// An inline SVG sparkline of `values` (one per step, `None`/NaN for gaps); `class`
/// names it for styling and tests. A single point is a dot.
fn sparkline(out: &mut String, class: &str, title: &str, values: &[Option<f32>]) {
    const W: f32 = 120.0;
    const H: f32 = 24.0;
    let finite = values.iter().filter_map(|v| v.filter(|x| x.is_finite()));
    let (lo, hi) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let _ = write!(
        out,
        "<svg class=\"spark {class}\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">"
    );
    if lo.is_finite() {
        let _ = write!(
            out,
            "<title>{} over the last {} points: {lo:.1} to {hi:.1}</title>",
            escape(title),
            values.len()
        );
        let span = hi - lo;
        let step = W / (values.len().max(2) - 1) as f32;
        let mut run: Vec<(f32, f32)> = Vec::new();
        let flush = |out: &mut String, run: &mut Vec<(f32, f32)>| {
            match run.as_slice() {
                [] => {}
                [(x, y)] => {
                    let _ = write!(out, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.5\"/>");
                }
                points => {
                    out.push_str("<polyline points=\"");
                    for (x, y) in points {
                        let _ = write!(out, "{x:.1},{y:.1} ");
                    }
                    out.push_str("\"/>");
                }
            }
            run.clear();
        };
        for (i, v) in values.iter().enumerate() {
            match v.filter(|x| x.is_finite()) {
                Some(v) => {
                    // A flat series is drawn across the middle.
                    let y = if span > f32::EPSILON {
                        H - 2.0 - (v - lo) / span * (H - 4.0)
                    } else {
                        H / 2.0
                    };
                    run.push((i as f32 * step, y));
                }
                None => flush(out, &mut run),
            }
        }
        flush(out, &mut run);
    } else {
        let _ = write!(out, "<title>{}: no values yet</title>", escape(title));
    }
    out.push_str("</svg>");
}

fn history_values(
    history: Option<&NodeHistory>,
    now_step: u32,
) -> (Vec<Option<f32>>, Vec<Option<f32>>) {
    match history {
        Some(h) => h
            .series(now_step)
            .map(|p| (p.map(|(t, _)| t), p.map(|(_, l)| l)))
            .unzip(),
        None => (vec![None; POINTS], vec![None; POINTS]),
    }
}

const STYLE: &str = "\
:root{color-scheme:light dark;--ok:#2e7d32;--warn:#b26a00;--down:#c62828;--muted:#777}\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;padding:12px;max-width:1200px}\
h1{font-size:20px;margin:4px 0}p.sum{margin:4px 0 12px;color:var(--muted)}\
table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;text-align:left;border-bottom:1px solid #8884;vertical-align:middle}\
th{font-weight:600;font-size:12px;color:var(--muted)}td.num{text-align:right;font-variant-numeric:tabular-nums}\
tr.down td.state{color:var(--down);font-weight:700}tr.problem td.state{color:var(--warn);font-weight:700}tr.ok td.state{color:var(--ok)}\
tr.down{background:#c628281a}tr.problem{background:#b26a0014}\
.flag{display:inline-block;padding:0 6px;margin:1px 2px;border-radius:8px;font-size:12px;background:#8883}\
.spark polyline{fill:none;stroke:currentColor;stroke-width:1.5}.spark circle{fill:currentColor}\
.spark.temp{color:#d84315}.spark.load{color:#1565c0}a{color:inherit}\
@media (max-width:700px){thead{display:none}table,tbody,tr,td{display:block;width:auto}\
tr{border:1px solid #8886;border-radius:8px;margin:0 0 10px;padding:4px}td{border:0;padding:2px 6px}\
td[data-label]::before{content:attr(data-label)': ';color:var(--muted);font-size:12px}td.num{text-align:left}}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
}

fn flags(out: &mut String, v: &NodeView) {
    for p in &v.problems {
        if *p != Problem::Down {
            let _ = write!(out, "<span class=\"flag\">{}</span>", p.label());
        }
    }
    if v.under_voltage_occurred && !v.under_voltage {
        out.push_str("<span class=\"flag\">under-voltage since boot</span>");
    }
}

/// The fleet page (`GET /`): every node, problems first.
pub fn index(views: &[NodeView], history: &crate::status::history::History, now_ms: u64) -> String {
    let mut out = String::with_capacity(2048 + views.len() * 1200);
    head(&mut out, "pimon fleet");
    let down = views.iter().filter(|v| !v.up).count();
    let problems = views.iter().filter(|v| v.up && v.worst().is_some()).count();
    let _ = writeln!(
        out,
        "<h1>pimon fleet</h1><p class=\"sum\">{} nodes: {} up, {down} down, {problems} with problems · {} · refreshes every {REFRESH_SECONDS} s · <a href=\"/api/nodes\">JSON</a> · <a href=\"/metrics\">/metrics</a></p>",
        views.len(),
        views.len() - down,
        utc(now_ms)
    );
    out.push_str(
        "<table><thead><tr><th>node</th><th>state</th><th>last seen</th><th>CPU</th><th>flags</th>\
         <th>load</th><th>memory</th><th>disk</th><th>frames missing</th><th>CPU °C, last hour</th>\
         <th>load, last hour</th></tr></thead><tbody>\n",
    );
    let now_step = history.step_of(now_ms);
    for v in views {
        let name = escape(&v.name);
        let (temps, loads) = history_values(history.get(&v.name), now_step);
        let _ = write!(
            out,
            "<tr class=\"node {state}\" data-node=\"{name}\" data-state=\"{state}\">\
             <td data-label=\"node\"><a href=\"/node/{link}\">{name}</a>{source}</td>\
             <td class=\"state\" data-label=\"state\">{state}</td>\
             <td data-label=\"last seen\" title=\"{seen_utc}\">{seen}</td>\
             <td class=\"num\" data-label=\"CPU\">{temp}</td><td data-label=\"flags\">",
            state = v.state(),
            link = path_segment(&v.name),
            source = source_tag(v),
            seen_utc = utc(v.last_seen_ms),
            seen = ago(now_ms, v.last_seen_ms),
            temp = opt(v.cpu_temp, |t| format!("{t:.1} °C")),
        );
        flags(&mut out, v);
        let _ = write!(
            out,
            "</td><td class=\"num\" data-label=\"load\">{load}</td>\
             <td class=\"num\" data-label=\"memory\">{mem}</td>\
             <td class=\"num\" data-label=\"disk\">{disk}</td>\
             <td class=\"num\" data-label=\"frames missing\">{missing}</td><td data-label=\"CPU °C\">",
            load = opt(v.load1, |l| format!("{l:.2}")),
            mem = opt(v.memory_used, percent),
            disk = match &v.disk_used {
                Some((u, m)) => format!("{} <small>{}</small>", percent(*u), escape(m)),
                None => "—".to_string(),
            },
            missing = if v.frames_missing_recent > 0 {
                format!(
                    "{} ({} in the last hour)",
                    v.frames_missing, v.frames_missing_recent
                )
            } else {
                v.frames_missing.to_string()
            },
        );
        sparkline(&mut out, "temp", "CPU temperature °C", &temps);
        out.push_str("</td><td data-label=\"load\">");
        sparkline(&mut out, "load", "1-minute load", &loads);
        out.push_str("</td></tr>\n");
    }
    if views.is_empty() {
        out.push_str("<tr><td colspan=\"11\">No node has sent anything yet.</td></tr>\n");
    }
    out.push_str(
        "</tbody></table><p class=\"sum\">Prometheus: scrape <a href=\"/metrics\">/metrics</a> \
         with <code>honor_labels: true</code>, so each node keeps its <code>instance</code> label.</p>\
         </body></html>\n",
    );
    out
}

/// The top of a node's or group's page: name, state, figures, sparklines.
fn summary(
    out: &mut String,
    view: &NodeView,
    history: &crate::status::history::History,
    now_ms: u64,
) {
    let name = escape(&view.name);
    head(out, &format!("pimon: {}", view.name));
    let _ = write!(
        out,
        "<p><a href=\"/\">← fleet</a></p><h1>{name}</h1><p class=\"sum\"><span class=\"state\" data-state=\"{state}\">{state}</span> · {source} · last seen {seen} ({seen_utc}) · CPU {temp} · load {load} · memory {mem} · disk {disk} · frames missing {missing} ",
        state = view.state(),
        source = view.source,
        seen = ago(now_ms, view.last_seen_ms),
        seen_utc = utc(view.last_seen_ms),
        temp = opt(view.cpu_temp, |t| format!("{t:.1} °C")),
        load = opt(view.load1, |l| format!("{l:.2}")),
        mem = opt(view.memory_used, percent),
        disk = match &view.disk_used {
            Some((u, m)) => format!("{} ({})", percent(*u), escape(m)),
            None => "—".to_string(),
        },
        missing = view.frames_missing,
    );
    flags(out, view);
    out.push_str("</p><p>");
    let (temps, loads) = history_values(history.get(&view.name), history.step_of(now_ms));
    sparkline(out, "temp", "CPU temperature °C", &temps);
    out.push(' ');
    sparkline(out, "load", "1-minute load", &loads);
    out.push_str(
        "</p><table class=\"values\"><thead><tr><th>metric</th><th>labels</th><th>value</th></tr></thead><tbody>\n",
    );
}

/// A node's page (`GET /node/<name>`): its summary, sparklines and every current
/// value.
pub fn node(
    view: &NodeView,
    snap: &Snapshot,
    node: &SnapNode,
    history: &crate::status::history::History,
    now_ms: u64,
) -> String {
    let mut out = String::with_capacity(4096 + snap.entries(node).len() * 120);
    summary(&mut out, view, history, now_ms);
    for e in snap.entries(node) {
        let Some(metric) = metric_at_rank(e.rank) else {
            continue;
        };
        let mut labels = String::new();
        let values: Vec<&str> = decode_set(snap.label_set(node, e.labelset)).collect();
        // The name as /metrics writes it (`node_memory_<key>_bytes` for a meminfo key
        // without a row, whose `key` label is then part of the name).
        let Some(name) = pimon_protocol::catalog::sample_name(metric, &values) else {
            continue;
        };
        let skip = usize::from(pimon_protocol::catalog::named_by_label(metric));
        for (k, v) in metric.labels.iter().zip(&values).skip(skip) {
            let _ = write!(labels, "{}=\"{}\" ", escape(k), escape(v));
        }
        for (k, v) in metric.const_labels {
            let _ = write!(labels, "{}=\"{}\" ", escape(k), escape(v));
        }
        let mut value = String::new();
        let _ = pimon_protocol::text::prometheus::write_number(&mut value, e.value());
        value_row(&mut out, &name.to_string(), &labels, &value);
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

fn value_row(out: &mut String, metric: &str, labels: &str, value: &str) {
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
        escape(metric),
        labels.trim_end(),
        escape(value)
    );
}

/// A pushed, scraped or collectd group's page (`GET /node/<name>` with its grouping
/// labels as name): its summary and every current value (histograms and summaries
/// as their count and sum).
pub fn group(
    view: &NodeView,
    group: &Group,
    history: &crate::status::history::History,
    now_ms: u64,
) -> String {
    let mut out = String::with_capacity(4096 + group.series() * 120);
    summary(&mut out, view, history, now_ms);
    for (name, family) in &group.families {
        for m in &family.metrics {
            let mut labels = String::new();
            for (k, v) in &m.labels {
                let _ = write!(labels, "{}=\"{}\" ", escape(k), escape(v));
            }
            let value = match &m.value {
                ExpoValue::Scalar(v) => format!("{v}"),
                ExpoValue::Summary { count, sum, .. } | ExpoValue::Histogram { count, sum, .. } => {
                    format!(
                        "count {}, sum {}",
                        count.map_or_else(|| "—".to_string(), |c| c.to_string()),
                        sum.map_or_else(|| "—".to_string(), |s| format!("{s}"))
                    )
                }
            };
            value_row(&mut out, name, &labels, &value);
        }
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

/// A small tag after the name for what is not a pimon node (`push`, `scrape`,
/// `collectd`).
fn source_tag(v: &NodeView) -> String {
    match v.source {
        "pimon" => String::new(),
        s => format!(" <span class=\"flag source\">{s}</span>"),
    }
}

fn json_number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => "null".to_string(),
    }
}

/// `GET /api/nodes`: the same as the fleet page, as JSON (an array, worst first).
pub fn api(views: &[NodeView], history: &crate::status::history::History, now_ms: u64) -> String {
    let mut out = String::with_capacity(256 + views.len() * 1500);
    let now_step = history.step_of(now_ms);
    out.push('[');
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let problems: Vec<String> = v.problems.iter().map(|p| json_string(p.label())).collect();
        let (temps, loads) = history_values(history.get(&v.name), now_step);
        let list = |values: &[Option<f32>]| {
            values
                .iter()
                .map(|x| json_number(x.map(f64::from)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = write!(
            out,
            "\n{{\"name\":{},\"source\":\"{}\",\"state\":\"{}\",\"up\":{},\"last_seen_unix_ms\":{},\"cpu_temp_celsius\":{},\
             \"throttled\":{},\"under_voltage\":{},\"under_voltage_occurred\":{},\"load1\":{},\
             \"memory_used_ratio\":{},\"disk_used_ratio\":{},\"disk_mountpoint\":{},\
             \"frames_missing\":{},\"frames_missing_last_hour\":{},\"problems\":[{}],\
             \"history\":{{\"step_seconds\":{},\"cpu_temp_celsius\":[{}],\"load1\":[{}]}}}}",
            json_string(&v.name),
            v.source,
            v.state(),
            v.up,
            v.last_seen_ms,
            json_number(v.cpu_temp),
            v.throttled,
            v.under_voltage,
            v.under_voltage_occurred,
            json_number(v.load1),
            json_number(v.memory_used),
            json_number(v.disk_used.as_ref().map(|d| d.0)),
            v.disk_used
                .as_ref()
                .map_or_else(|| "null".to_string(), |d| json_string(&d.1)),
            v.frames_missing,
            v.frames_missing_recent,
            problems.join(","),
            history.step_ms() as f64 / 1000.0,
            list(&temps),
            list(&loads),
        );
    }
    out.push_str("\n]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_every_special_character() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(escape("pi-4 ü"), "pi-4 ü");
    }

    #[test]
    fn json_strings_escape_quotes_controls_and_angle_brackets() {
        assert_eq!(
            json_string("a\"b\\c\n<\u{1}"),
            "\"a\\\"b\\\\c\\n\\u003c\\u0001\""
        );
    }

    #[test]
    fn node_names_round_trip_through_the_link() {
        for name in ["pi4", "a b/c?d#e%f", "<script>", "ü-π", ""] {
            let seg = path_segment(name);
            assert!(
                seg.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
            );
            assert_eq!(decode_segment(&seg).as_deref(), Some(name));
        }
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%ff"), None, "not UTF-8");
        assert_eq!(decode_segment("%4"), None);
    }

    #[test]
    fn utc_and_ago() {
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(ago(100_000, 88_000), "12 s ago");
        assert_eq!(ago(1_000_000, 700_000), "5 min ago");
        assert_eq!(ago(1, 0), "never");
    }

    #[test]
    fn sparklines_draw_runs_dots_and_gaps() {
        let mut s = String::new();
        sparkline(
            &mut s,
            "temp",
            "t",
            &[Some(1.0), Some(2.0), None, Some(3.0)],
        );
        assert_eq!(s.matches("<polyline").count(), 1);
        assert_eq!(s.matches("<circle").count(), 1);
        assert!(s.starts_with("<svg class=\"spark temp\""));
        let mut s = String::new();
        sparkline(&mut s, "load", "l", &[None, None]);
        assert!(!s.contains("polyline") && s.contains("no values yet"));
    }
}
