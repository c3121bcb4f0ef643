//! What Grafana does with a dashboard before a query reaches the server, for tests that
//! evaluate dashboards (ours and stock ones) panel by panel: walk the panels of the rows,
//! render a query-builder target to InfluxQL, resolve a query variable's options (from
//! `SHOW TAG VALUES` or Prometheus' `label_values(…)`), interpolate variables, and ask
//! the server whether a query returns data.
//!
//! Written from Grafana's InfluxDB data source (the classic front-end code of Grafana
//! 6–9: `influx_query_model.ts`, `query_part.ts`, `datasource.ts`'s
//! `interpolateQueryExpr`) and its templating (`metricNamesToVariableValues`,
//! `stringToJsRegex`, `kbn.regexEscape`):
//!
//! - builder targets: `SELECT <parts> FROM "<measurement>" WHERE (<tags>) AND
//!   $timeFilter GROUP BY <time, tags> fill(…)`; a field is `"quoted"`, a function wraps
//!   what comes before (`mean("x")`, `non_negative_derivative(mean("x"), 1s)`), math is
//!   appended (`last("x") * -1 + 100`); tag conditions after the first carry their
//!   `AND`/`OR`; `=`, `!=` values are single-quoted, regex ones written as they are;
//! - a variable's options: the query's `value` column, kept when the variable's regex (a
//!   JavaScript regex: `/…/flags`, or anchored `^…$` when written without slashes)
//!   matches, replaced by its first group when it has one, deduplicated;
//! - interpolation in a query: a variable that is neither multi-value nor "include All"
//!   is inserted as is; otherwise each value is regex-escaped (`kbn.regexEscape`), and
//!   several are joined as `(a|b)` (one stays bare; none gives `()`).
//!
//! The Prometheus side, from Grafana's Prometheus data source (`datasource.ts`'s
//! `interpolateQueryExpr`, `prometheusRegularEscape`, `prometheusSpecialRegexEscape`,
//! and `metric_find_query.ts` for `label_values`):
//!
//! - a variable that is neither multi-value nor "include All" goes in as is (only `'`
//!   escaped); otherwise each value's regex metacharacters get two backslashes (PromQL's
//!   double-quoted string turns them into the one the regex needs), and several values
//!   are joined as `(a|b)`;
//! - `label_values(selector, label)` is the label-values API (`/api/v1/label/LABEL/values`)
//!   restricted with `match[]=selector`; `label_values(label)` is the same unrestricted;
//! - a panel's target is an instant query when it says `instant: true` and not `range`,
//!   a range query otherwise; hidden targets are not run; a panel shows data when one of
//!   its targets returns a number that is not NaN.

use std::collections::BTreeMap;

use fancy_regex::Regex;
use pimon_test_support::http;
use pimon_test_support::servers::Prometheus;
use serde_json::Value as Json;

/// `kbn.regexEscape`: a backslash before each of `\ ^ $ * + ? . ( ) | [ ] { } /`.
pub fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\^$*+?.()|[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text that replaces a multi-value or "include All" variable holding `values`.
pub fn multi_value(values: &[String]) -> String {
    let escaped: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
    match escaped.as_slice() {
        [one] => one.clone(),
        many => format!("({})", many.join("|")),
    }
}

/// Grafana's `stringToJsRegex`: `/body/flags`, or `^body$` without slashes.
pub fn js_regex(text: &str) -> Result<Regex, String> {
    let (body, flags) = match text.strip_prefix('/') {
        None => (format!("^{text}$"), String::new()),
        Some(rest) => {
            let end = rest
                .rfind('/')
                .ok_or_else(|| format!("{text:?} is not a valid regular expression"))?;
            (rest[..end].to_string(), rest[end + 1..].to_string())
        }
    };
    let inline: String = flags.chars().filter(|c| "ims".contains(*c)).collect();
    let pattern = if inline.is_empty() {
        body
    } else {
        format!("(?{inline}){body}")
    };
    Regex::new(&pattern).map_err(|e| format!("{text:?}: {e}"))
}

/// A variable's options from the values its query returned, filtered by its `regex`
/// as Grafana filters them.
pub fn variable_options(values: &[String], regex: &str) -> Result<Vec<String>, String> {
    let filter = if regex.is_empty() {
        None
    } else {
        Some(js_regex(regex)?)
    };
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let kept = match &filter {
            None => Some(value.clone()),
            Some(re) => re
                .captures(value)
                .map_err(|e| e.to_string())?
                .map(|c| c.get(1).map_or(value.clone(), |g| g.as_str().to_string())),
        };
        if let Some(v) = kept
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    Ok(out)
}

/// Replaces `$name` and `${name}` in `text` with `values` (longest names first); `Err`
/// names any `$variable` left.
pub fn substitute(text: &str, values: &[(String, String)]) -> Result<String, String> {
    let mut values = values.to_vec();
    values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = text.to_string();
    for (name, value) in &values {
        out = out.replace(&format!("${{{name}}}"), value);
        out = out.replace(&format!("${name}"), value);
    }
    let left: Vec<&str> = out
        .match_indices('$')
        .filter(|(i, _)| {
            out[i + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '{')
        })
        .map(|(i, _)| &out[i..])
        .collect();
    if left.is_empty() {
        Ok(out)
    } else {
        Err(format!("unsubstituted variable in {text:?}: {left:?}"))
    }
}

/// The InfluxQL of a target: its raw `query`, or the query builder's rendering.
pub fn influxql(target: &Json) -> Result<String, String> {
    if target["rawQuery"].as_bool().unwrap_or(false) {
        return target["query"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("raw target without query: {target}"));
    }
    let measurement = target["measurement"]
        .as_str()
        .ok_or_else(|| format!("builder target without measurement: {target}"))?;
    let mut selects = Vec::new();
    for parts in target["select"].as_array().into_iter().flatten() {
        let mut text = String::new();
        for part in parts.as_array().into_iter().flatten() {
            let params: Vec<String> = part["params"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| match p {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            text = match part["type"].as_str().unwrap_or("") {
                "field" => format!("\"{}\"", params.first().cloned().unwrap_or_default()),
                "math" => format!("{text} {}", params.join(" ")),
                "alias" => format!("{text} AS \"{}\"", params.join("")),
                function => {
                    let mut args = vec![text];
                    args.extend(params);
                    format!("{function}({})", args.join(", "))
                }
            };
        }
        selects.push(text);
    }
    let mut conditions = Vec::new();
    for (i, tag) in target["tags"].as_array().into_iter().flatten().enumerate() {
        let key = tag["key"].as_str().unwrap_or("");
        let value = tag["value"].as_str().unwrap_or("");
        let operator = match tag["operator"].as_str() {
            Some(op) => op.to_string(),
            None if value.starts_with('/') && value.ends_with('/') => "=~".into(),
            None => "=".into(),
        };
        let value = if operator == "=~" || operator == "!~" || operator == "<" || operator == ">" {
            value.to_string()
        } else {
            format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
        };
        let condition = if i > 0 {
            format!("{} ", tag["condition"].as_str().unwrap_or("AND"))
        } else {
            String::new()
        };
        conditions.push(format!("{condition}\"{key}\" {operator} {value}"));
    }
    let policy = target["policy"].as_str().unwrap_or("default");
    let from = if policy == "default" {
        format!("\"{measurement}\"")
    } else {
        format!("\"{policy}\".\"{measurement}\"")
    };
    let mut query = format!("SELECT {} FROM {from} WHERE ", selects.join(", "));
    if !conditions.is_empty() {
        query += &format!("({}) AND ", conditions.join(" "));
    }
    query += "$timeFilter";
    let mut group_by = String::new();
    for (i, part) in target["groupBy"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let kind = part["type"].as_str().unwrap_or("");
        let param = part["params"][0].as_str().unwrap_or("");
        if i > 0 {
            group_by += if kind == "fill" { " " } else { ", " };
        }
        group_by += &match kind {
            "time" => format!("time({param})"),
            "fill" => format!("fill({param})"),
            _ => format!("\"{param}\""),
        };
    }
    if !group_by.is_empty() {
        query += &format!(" GROUP BY {group_by}");
    }
    if let Some(fill) = target["fill"].as_str() {
        query += &format!(" fill({fill})");
    }
    if target["orderByTime"].as_str() == Some("DESC") {
        query += " ORDER BY time DESC";
    }
    Ok(query)
}

// ---------------------------------------------------------------------------------
// Panels and rows

/// One target (query) of a panel.
#[derive(Clone, Debug)]
pub struct PanelTarget {
    pub ref_id: String,
    /// The query as in the dashboard (`expr` or `query`), variables not substituted.
    pub query: String,
    /// Grafana runs it as an instant query (`instant: true` without `range: true`).
    pub instant: bool,
    /// `hide: true`: Grafana does not run it.
    pub hidden: bool,
}

/// A panel and the row it sits in.
#[derive(Clone, Debug)]
pub struct DashboardPanel {
    /// The title of the row above the panel (`""` before the first row).
    pub row: String,
    pub title: String,
    pub targets: Vec<PanelTarget>,
}

/// Every panel of a dashboard that is not a row, in order, each with its row: an
/// expanded row's panels follow it at the top level, a collapsed row holds its panels in
/// its own `panels`. `key` is the targets' query field (`expr` for Prometheus, `query`
/// for InfluxDB raw queries); a target without it panics, naming the panel.
pub fn dashboard_panels(dash: &Json, key: &str) -> Vec<DashboardPanel> {
    fn panel(p: &Json, row: &str, key: &str) -> DashboardPanel {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        let targets = p["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let ref_id = t["refId"].as_str().unwrap_or("?").to_string();
                let query = t[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{title} / {ref_id}: target without {key}: {t}"))
                    .to_string();
                PanelTarget {
                    ref_id,
                    query,
                    instant: t["instant"].as_bool() == Some(true)
                        && t["range"].as_bool() != Some(true),
                    hidden: t["hide"].as_bool() == Some(true),
                }
            })
            .collect();
        DashboardPanel {
            row: row.to_string(),
            title,
            targets,
        }
    }
    let mut out = Vec::new();
    let mut row = String::new();
    for p in dash["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            row = p["title"].as_str().unwrap_or("?").to_string();
            for nested in p["panels"].as_array().into_iter().flatten() {
                out.push(panel(nested, &row, key));
            }
        } else {
            out.push(panel(p, &row, key));
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Prometheus variables and queries

/// `prometheusRegularEscape` (Grafana's default, without the feature toggle
/// `prometheusSpecialCharsInLabelValues`): a one-value variable's value in a PromQL
/// query, `'` written `\\'`.
pub fn prometheus_regular_escape(value: &str) -> String {
    value.replace('\'', "\\\\'")
}

/// `prometheusSpecialRegexEscape`: one value of a multi-value variable, for `=~"…"`: a
/// backslash becomes four, a regex metacharacter gets two before it (PromQL's string
/// turns them into what the regex needs).
pub fn prometheus_regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\\\\\"),
            '$' | '^' | '*' | '{' | '}' | '[' | ']' | '+' | '?' | '.' | '(' | ')' | '|' => {
                out.push_str("\\\\");
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A multi-value (or "include All") variable holding `values`, in a PromQL query.
pub fn prometheus_multi_value(values: &[String]) -> String {
    let escaped: Vec<String> = values.iter().map(|v| prometheus_regex_escape(v)).collect();
    match escaped.as_slice() {
        [one] => one.clone(),
        many => format!("({})", many.join("|")),
    }
}

/// A Prometheus API answer's `data`, or the answer as the error.
fn prometheus_api(prom: &Prometheus, path_and_query: &str) -> Result<Json, String> {
    let r = http::request(prom.url(), "GET", path_and_query, &[], b"")?;
    let body = r.body_text().to_string();
    let v: Json = serde_json::from_str(&body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {}: {body}", r.status));
    }
    Ok(v["data"].clone())
}

/// `Ok` when a Prometheus instant query returns at least one number that is not NaN;
/// `Err` with the answer otherwise.
pub fn prometheus_has_data(prom: &Prometheus, query: &str) -> Result<(), String> {
    let qs = http::query_string(&[("query", query)]);
    let data = prometheus_api(prom, &format!("/api/v1/query?{qs}"))?;
    let number = |x: &Json| {
        x[1].as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .is_some_and(|f| !f.is_nan())
    };
    let has_data = match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| number(&s["value"]))),
        Some("scalar") => number(&data["result"]),
        _ => false,
    };
    if has_data {
        Ok(())
    } else {
        Err(format!("no data: {data}"))
    }
}

/// `Ok` when a Prometheus range query from `start` to `end` (Unix seconds) every
/// `step` returns at least one number that is not NaN, as a time-series panel draws it.
pub fn prometheus_range_has_data(
    prom: &Prometheus,
    query: &str,
    (start, end): (f64, f64),
    step: &str,
) -> Result<(), String> {
    let (start, end) = (format!("{start:.3}"), format!("{end:.3}"));
    let qs = http::query_string(&[
        ("query", query),
        ("start", &start),
        ("end", &end),
        ("step", step),
    ]);
    let data = prometheus_api(prom, &format!("/api/v1/query_range?{qs}"))?;
    let has_data = data["result"].as_array().is_some_and(|series| {
        series.iter().any(|s| {
            s["values"].as_array().is_some_and(|points| {
                points.iter().any(|p| {
                    p[1].as_str()
                        .and_then(|x| x.parse::<f64>().ok())
                        .is_some_and(|f| !f.is_nan())
                })
            })
        })
    });
    if has_data {
        Ok(())
    } else {
        Err(format!("no data: {data}"))
    }
}

/// The values of Grafana's `label_values(selector, label)` or `label_values(label)`
/// variable query (variables already substituted), in Prometheus' (sorted) order.
pub fn prometheus_label_values(prom: &Prometheus, query: &str) -> Result<Vec<String>, String> {
    let args = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| format!("not a label_values(…) query: {query}"))?;
    let (selector, label) = match args.rsplit_once(',') {
        Some((selector, label)) => (Some(selector.trim()), label.trim()),
        None => (None, args.trim()),
    };
    let path = match selector {
        Some(s) => format!(
            "/api/v1/label/{label}/values?{}",
            http::query_string(&[("match[]", s)])
        ),
        None => format!("/api/v1/label/{label}/values"),
    };
    let data = prometheus_api(prom, &path).map_err(|e| format!("{query}: {e}"))?;
    Ok(data
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect())
}

/// The values a dashboard's variables take for one view of it: name (without `$`) →
/// the text that replaces `$name`.
pub type Binding = BTreeMap<String, String>;

/// Every combination of values Grafana can show for a Prometheus dashboard's query
/// variables (`templating.list`, in order): each variable's query is interpolated with
/// the values of the ones before it, its options are the `label_values` answer filtered
/// by its regex; a one-value variable gives one combination per option, a multi-value
/// or "include All" one a single combination with all its options (Grafana's "All"). A
/// variable without options ends its combinations: none reaches the panels (Grafana
/// shows them empty). `fixed` are the built-in ones (`__rate_interval`, …).
/// Data-source variables are not in queries and are skipped.
pub fn prometheus_variable_bindings(
    prom: &Prometheus,
    dash: &Json,
    fixed: &[(&str, &str)],
) -> Result<Vec<Binding>, String> {
    let base: Binding = fixed
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut bindings = vec![base];
    for var in dash["templating"]["list"].as_array().into_iter().flatten() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().ok_or("a variable without name")?;
        let query = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .or(var["definition"].as_str())
            .ok_or_else(|| format!("variable {name}: no query"))?;
        let regex = var["regex"].as_str().unwrap_or("");
        let multi =
            var["multi"].as_bool() == Some(true) || var["includeAll"].as_bool() == Some(true);
        let mut next = Vec::new();
        for binding in &bindings {
            let values: Vec<(String, String)> = binding
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let query = substitute(query, &values).map_err(|e| format!("variable {name}: {e}"))?;
            let options = variable_options(&prometheus_label_values(prom, &query)?, regex)?;
            if options.is_empty() {
                continue;
            }
            if multi {
                let mut b = binding.clone();
                b.insert(name.to_string(), prometheus_multi_value(&options));
                next.push(b);
            } else {
                for option in options {
                    let mut b = binding.clone();
                    b.insert(name.to_string(), prometheus_regular_escape(&option));
                    next.push(b);
                }
            }
        }
        bindings = next;
    }
    Ok(bindings)
}

/// [`substitute`] with a [`Binding`].
pub fn substitute_binding(text: &str, binding: &Binding) -> Result<String, String> {
    let values: Vec<(String, String)> = binding
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    substitute(text, &values)
}

/// The metric names a PromQL query selects: every name written right before a `{`
/// outside a string (Grafana dashboards select with label matchers,
/// `name{instance="$node"}`).
pub fn promql_metric_names(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
            None if c == '{' => {
                let end = query[..i].trim_end().len();
                let start = query[..end]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .map_or(0, |j| j + 1);
                let name = &query[start..end];
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
                    && !out.iter().any(|n| n == name)
                {
                    out.push(name.to_string());
                }
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_targets_render_as_grafana_renders_them() {
        let t: Json = serde_json::from_str(
            r#"{"measurement": "cpu", "policy": "default",
                "select": [[{"params": ["usage_idle"], "type": "field"},
                            {"params": [], "type": "last"},
                            {"params": ["* -1 + 100"], "type": "math"}]],
                "groupBy": [{"params": ["$interval"], "type": "time"},
                            {"params": ["null"], "type": "fill"}],
                "tags": [{"key": "host", "operator": "=~", "value": "/^$server$/"},
                         {"condition": "AND", "key": "cpu", "operator": "=", "value": "cpu-total"}]}"#,
        )
        .unwrap();
        assert_eq!(
            influxql(&t).unwrap(),
            "SELECT last(\"usage_idle\") * -1 + 100 FROM \"cpu\" WHERE (\"host\" =~ /^$server$/ \
             AND \"cpu\" = 'cpu-total') AND $timeFilter GROUP BY time($interval) fill(null)"
        );
        let t: Json = serde_json::from_str(
            r#"{"measurement": "interrupts", "policy": "default",
                "select": [[{"params": ["total"], "type": "field"}, {"params": [], "type": "mean"},
                            {"params": ["10s"], "type": "non_negative_derivative"}]],
                "groupBy": [{"params": ["$__interval"], "type": "time"}, {"params": ["irq"], "type": "tag"},
                            {"params": ["host"], "type": "tag"}, {"params": ["null"], "type": "fill"}],
                "tags": [{"key": "host", "operator": "=~", "value": "/^$server$/"}]}"#,
        )
        .unwrap();
        assert_eq!(
            influxql(&t).unwrap(),
            "SELECT non_negative_derivative(mean(\"total\"), 10s) FROM \"interrupts\" WHERE \
             (\"host\" =~ /^$server$/) AND $timeFilter GROUP BY time($__interval), \"irq\", \
             \"host\" fill(null)"
        );
    }

    #[test]
    fn variable_regexes_are_javascript_regexes() {
        let values: Vec<String> = ["lo", "eth0", "veth12ab", "all", "tap0", "wlan0"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            variable_options(&values, "^(?!.*veth|all|tap).*$").unwrap(),
            ["lo", "eth0", "wlan0"]
        );
        let cpus: Vec<String> = ["cpu-total", "cpu0", "cpu1"].map(String::from).to_vec();
        assert_eq!(
            variable_options(&cpus, "/cpu[0-9]/").unwrap(),
            ["cpu0", "cpu1"]
        );
        let disks: Vec<String> = ["sda", "sda1", "mmcblk0", "nvme0n1", "nvme0n1p1", "vda"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            variable_options(&disks, "[a-z]d[\\D]$|nvme[\\d]n[\\d]$").unwrap(),
            ["sda", "nvme0n1", "vda"]
        );
        assert_eq!(
            variable_options(&cpus, "/cpu(\\d)/").unwrap(),
            ["0", "1"],
            "a group replaces the value"
        );
    }

    #[test]
    fn multi_values_are_escaped_and_joined() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(multi_value(&v(&["/", "/boot"])), "(\\/|\\/boot)");
        assert_eq!(multi_value(&v(&["eth0"])), "eth0");
        assert_eq!(multi_value(&[]), "()");
        assert_eq!(
            substitute(
                "x =~ /^$server$/ AND $timeFilter",
                &[
                    ("server".into(), "pi".into()),
                    ("timeFilter".into(), "time > 0".into())
                ]
            )
            .unwrap(),
            "x =~ /^pi$/ AND time > 0"
        );
        assert!(substitute("$other", &[]).is_err());
    }

    #[test]
    fn promql_metric_names_are_the_selected_names() {
        assert_eq!(
            promql_metric_names(
                "sum by (cpu) (rate(node_cpu_seconds_total{mode=\"idle\"}[$__rate_interval])) \
                 / scalar(count(node_load1 {instance=\"$node\"})) + up{job=~\"a{2}\"}"
            ),
            ["node_cpu_seconds_total", "node_load1", "up"]
        );
    }

    #[test]
    fn prometheus_values_are_escaped_as_grafana_does() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(prometheus_regular_escape("pi.b"), "pi.b");
        assert_eq!(prometheus_regular_escape("it's"), "it\\\\'s");
        assert_eq!(
            prometheus_multi_value(&v(&["pi-a", "pi.b"])),
            "(pi-a|pi\\\\.b)"
        );
        assert_eq!(prometheus_multi_value(&v(&["eth0"])), "eth0");
        assert_eq!(prometheus_regex_escape("a\\b"), "a\\\\\\\\b");
    }

    #[test]
    fn panels_of_expanded_and_collapsed_rows_carry_their_row() {
        let dash: Json = serde_json::from_str(
            r#"{"panels": [
                {"type": "stat", "title": "top", "targets": [{"refId": "A", "expr": "up"}]},
                {"type": "row", "title": "Open", "collapsed": false, "panels": []},
                {"type": "stat", "title": "a", "targets": [{"refId": "A", "expr": "x", "instant": true}]},
                {"type": "row", "title": "Shut", "collapsed": true, "panels": [
                    {"type": "timeseries", "title": "b", "targets": [
                        {"refId": "A", "expr": "y", "instant": true, "range": true},
                        {"refId": "B", "expr": "z", "hide": true}]}]}]}"#,
        )
        .unwrap();
        let panels = dashboard_panels(&dash, "expr");
        let rows: Vec<(&str, &str)> = panels
            .iter()
            .map(|p| (p.row.as_str(), p.title.as_str()))
            .collect();
        assert_eq!(rows, [("", "top"), ("Open", "a"), ("Shut", "b")]);
        assert!(panels[1].targets[0].instant);
        assert!(!panels[2].targets[0].instant, "range wins");
        assert!(panels[2].targets[1].hidden);
    }
}
