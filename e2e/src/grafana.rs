//! What Grafana does with an InfluxDB dashboard before a query reaches the server, for
//! tests that evaluate stock dashboards panel by panel: render a query-builder target
//! to InfluxQL, resolve a query variable's options, and interpolate variables.
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

use fancy_regex::Regex;
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
}
