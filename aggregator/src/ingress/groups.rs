//! The table of *foreign* series: what pushes, scrapes and unknown collectd plugins
//! bring, which the catalog does not describe (any name, type, help and labels).
//!
//! Series live in *groups*, keyed by their grouping labels (a push's
//! `job`/`instance`/…, a scrape target's `job`/`instance`, a collectd host). A group
//! holds whole metric families, each metric already carrying the group's labels.
//! Pushes follow the Pushgateway ([`Groups::check_push`], then [`Groups::apply`] once
//! the outputs took the lines): PUT replaces the group, POST replaces the families it
//! names, DELETE removes the group; every pushed group gets `push_time_seconds` and
//! `push_failure_time_seconds`; a push whose metrics carry timestamps, repeat a
//! label set, or disagree in type with a family already held (here or in the catalog)
//! is refused with the Pushgateway's words, and stamps `push_failure_time_seconds`.
//!
//! Bounded like the node store: at most `max_groups` groups, `max_series_per_group`
//! series in one group, and `max_series_total` over this table and the node store
//! together; a push or scrape over a limit is refused whole (and counted by the
//! caller). Groups not changed for `expire_after` are dropped by [`Groups::expire`].
//!
//! `/metrics` ([`Groups::render`]): one `# HELP`/`# TYPE` per family name across all
//! groups, families sorted by name, metrics by label set, as the Pushgateway exposes
//! them; families whose name is a catalog family are written inside the catalog's
//! block instead ([`Groups::render_samples_of`]), so no family is split.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::{self, Write};

use pimon_protocol::catalog::{self, MetricType, Number};
use pimon_protocol::text::prometheus::{
    Format, write_help_escaped, write_label_value_escaped, write_number,
};

use super::expo::{Family, Kind, Metric, Value};
use super::gofmt::{metric_text, quote_str};
use super::pushpath::GroupingKey;

/// `push_time_seconds`.
pub const PUSH_TIME: &str = "push_time_seconds";
/// `push_failure_time_seconds`.
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";
const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// Where a group's data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Pushgateway API.
    Push,
    /// A `[[scrape]]` target.
    Scrape,
    /// collectd (plugins without a catalog mapping).
    Collectd,
}

/// Bounds of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLimits {
    /// Most groups held.
    pub max_groups: usize,
    /// Most series (exposition samples) in one group.
    pub max_series_per_group: usize,
    /// Most series over this table and the node store.
    pub max_series_total: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        GroupLimits {
            max_groups: 10_000,
            max_series_per_group: 10_000,
            max_series_total: 2_000_000,
        }
    }
}

/// One group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Where it comes from.
    pub source: Source,
    /// Its families by name; every metric has the group's labels, sorted.
    pub families: BTreeMap<String, Family>,
    /// Unix seconds of the last successful push (0: none).
    pub push_time: f64,
    /// Unix seconds of the last failed push (0: none).
    pub push_failure_time: f64,
    /// Unix ms of the last change (push, failure, scrape, packet).
    pub last_change_ms: u64,
    series: usize,
}

impl Group {
    fn new(source: Source) -> Group {
        Group {
            source,
            families: BTreeMap::new(),
            push_time: 0.0,
            push_failure_time: 0.0,
            last_change_ms: 0,
            series: 0,
        }
    }

    /// Series (exposition samples) of the group, its push timestamps included.
    pub fn series(&self) -> usize {
        self.series
    }

    fn recount(&mut self) {
        let stamps = if self.source == Source::Push { 2 } else { 0 };
        self.series = stamps + series_of(self.families.values());
    }
}

fn series_of<'a>(families: impl Iterator<Item = &'a Family>) -> usize {
    families
        .flat_map(|f| &f.metrics)
        .map(|m| m.value.sample_count())
        .sum()
}

/// Why a push or a scrape's data was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Inconsistent or invalid metrics: the Pushgateway's 400 (the text after
    /// `pushed metrics are invalid or inconsistent with existing metrics: `).
    Invalid(String),
    /// More series than `max_series_per_group`.
    SeriesPerGroup,
    /// `max_groups` reached and this would be a new group.
    Groups,
    /// `max_series_total` would be exceeded.
    SeriesTotal,
}

/// A checked change, applied with [`Groups::apply`] once the outputs took its lines.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The group.
    pub key: GroupingKey,
    /// What the group will hold (its families after the change).
    pub group: Group,
    /// The families the request brought (sanitized), for the outputs.
    pub pushed: Vec<Family>,
}

/// The table.
#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<GroupingKey, Group>,
    limits: GroupLimits,
    series: usize,
}

impl Groups {
    /// An empty table with these limits.
    pub fn new(limits: GroupLimits) -> Groups {
        Groups {
            groups: BTreeMap::new(),
            limits,
            series: 0,
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Series over all groups.
    pub fn series(&self) -> usize {
        self.series
    }

    /// A group.
    pub fn get(&self, key: &GroupingKey) -> Option<&Group> {
        self.groups.get(key)
    }

    /// All groups, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&GroupingKey, &Group)> {
        self.groups.iter()
    }

    /// Checks a push (`replace`: PUT, else POST) of `families` to the group `key`.
    /// `other_series` is what the node store holds (for `max_series_total`).
    pub fn check_push(
        &self,
        key: &GroupingKey,
        mut families: Vec<Family>,
        replace: bool,
        other_series: usize,
    ) -> Result<Plan, Refusal> {
        if families
            .iter()
            .any(|f| f.metrics.iter().any(|m| m.timestamp_ms.is_some()))
        {
            return Err(Refusal::Invalid(
                "pushed metrics must not have timestamps".into(),
            ));
        }
        // The Pushgateway sets its own push timestamps.
        families.retain(|f| f.name != PUSH_TIME && f.name != PUSH_FAILURE_TIME);
        for f in &mut families {
            sanitize(f, key);
        }
        let mut group = self
            .groups
            .get(key)
            .cloned()
            .unwrap_or_else(|| Group::new(Source::Push));
        group.source = Source::Push;
        if replace {
            group.families.clear();
        }
        for f in &families {
            group.families.insert(f.name.clone(), f.clone());
        }
        group.recount();
        self.check_consistency(key, &group)?;
        self.check_limits(key, &group, other_series)?;
        Ok(Plan {
            key: key.clone(),
            group,
            pushed: families,
        })
    }

    /// Checks that `families` may become the whole content of the group `key` (a
    /// scrape or a collectd host): limits only; families whose type disagrees with a
    /// family already held elsewhere are dropped (returned as the second value).
    pub fn check_replace(
        &self,
        key: &GroupingKey,
        source: Source,
        families: Vec<Family>,
        other_series: usize,
    ) -> Result<(Plan, usize), Refusal> {
        let mut group = Group::new(source);
        if let Some(old) = self.groups.get(key) {
            group.push_time = old.push_time;
            group.push_failure_time = old.push_failure_time;
        }
        // Every other group's family names and types, once (a scrape page has hundreds
        // of families; checking each against every group would be quadratic).
        let mut known: BTreeMap<String, Kind> = BTreeMap::new();
        for (k, g) in &self.groups {
            if k != key {
                for (name, f) in &g.families {
                    known.entry(name.clone()).or_insert(f.kind);
                }
            }
        }
        let mut dropped = 0;
        let mut kept = Vec::with_capacity(families.len());
        for f in families {
            let clash = catalog_kind(&f.name).is_some_and(|k| k != f.kind)
                || known.get(&f.name).is_some_and(|&k| k != f.kind)
                || is_reserved(&f.name)
                || collides(&f.name, f.kind, &known);
            if clash {
                dropped += 1;
                continue;
            }
            known.insert(f.name.clone(), f.kind);
            group.families.insert(f.name.clone(), f.clone());
            kept.push(f);
        }
        group.recount();
        self.check_limits(key, &group, other_series)?;
        Ok((
            Plan {
                key: key.clone(),
                group,
                pushed: kept,
            },
            dropped,
        ))
    }

    fn check_limits(
        &self,
        key: &GroupingKey,
        group: &Group,
        other_series: usize,
    ) -> Result<(), Refusal> {
        if group.series > self.limits.max_series_per_group {
            return Err(Refusal::SeriesPerGroup);
        }
        let old = self.groups.get(key);
        if old.is_none() && self.groups.len() >= self.limits.max_groups {
            return Err(Refusal::Groups);
        }
        let total = self.series - old.map_or(0, |g| g.series) + group.series + other_series;
        if total > self.limits.max_series_total && group.series > old.map_or(0, |g| g.series) {
            return Err(Refusal::SeriesTotal);
        }
        Ok(())
    }

    /// The Pushgateway's gather check, for the families of `candidate` (which would
    /// replace the group `key`): one type per family name over all groups and the
    /// catalog, no label set twice, no explicit `quantile` on a summary. Groups are
    /// visited in key order (the Pushgateway's order is Go's map order, i.e. random).
    fn check_consistency(&self, key: &GroupingKey, candidate: &Group) -> Result<(), Refusal> {
        let mut errors: Vec<String> = Vec::new();
        for name in candidate.families.keys() {
            if is_reserved(name) {
                errors.push(format!(
                    "metric family name {} is reserved for pimon's own figures",
                    quote_str(name.as_bytes())
                ));
            }
        }
        errors.extend(self.suffix_collisions(key, candidate));
        for (name, family) in &candidate.families {
            // The reference type: the catalog's, else the first group holding the name.
            let reference = catalog_kind(name).or_else(|| {
                self.groups
                    .iter()
                    .map(|(k, g)| if k == key { candidate } else { g })
                    .chain((!self.groups.contains_key(key)).then_some(candidate))
                    .find_map(|g| g.families.get(name).map(|f| f.kind))
            });
            let reference = reference.unwrap_or(family.kind);
            let mut seen: HashSet<&[(String, String)]> = HashSet::new();
            for (k, g) in &self.groups {
                if k == key {
                    continue;
                }
                if let Some(f) = g.families.get(name) {
                    for m in &f.metrics {
                        if f.kind != reference {
                            errors.push(not_a(name, f.kind, m, reference));
                        }
                        seen.insert(&m.labels);
                    }
                }
            }
            for m in &family.metrics {
                if family.kind != reference {
                    errors.push(not_a(name, family.kind, m, reference));
                    continue;
                }
                if family.kind == Kind::Summary && m.labels.iter().any(|(n, _)| n == "quantile") {
                    errors.push(format!(
                        "collected metric {} {{ {}}} must not have an explicit \"quantile\" label",
                        quote_str(name.as_bytes()),
                        metric_text(&m.labels, field_of(family.kind), &m.value)
                    ));
                    continue;
                }
                if !seen.insert(&m.labels) {
                    errors.push(format!(
                        "collected metric {} {{ {}}} was collected before with the same name and label values",
                        quote_str(name.as_bytes()),
                        metric_text(&m.labels, field_of(family.kind), &m.value)
                    ));
                }
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(Refusal::Invalid(errors.remove(0))),
            n => {
                let mut s = format!("{n} error(s) occurred:");
                for e in errors {
                    s.push_str("\n* ");
                    s.push_str(&e);
                }
                Err(Refusal::Invalid(s))
            }
        }
    }

    /// Client_golang's `checkSuffixCollisions` over all families (names in order, so
    /// the words do not depend on map order): `x_count`/`x_sum` beside a summary `x`,
    /// and `x_bucket` beside a histogram `x`, would read as one family. Only
    /// collisions involving `candidate`'s families are reported.
    fn suffix_collisions(&self, key: &GroupingKey, candidate: &Group) -> Vec<String> {
        let mut kinds: BTreeMap<&str, (Kind, bool)> = BTreeMap::new();
        let groups = self
            .groups
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(_, g)| (g, false))
            .chain(std::iter::once((candidate, true)));
        for (g, mine) in groups {
            for (name, f) in &g.families {
                let e = kinds.entry(name.as_str()).or_insert((f.kind, false));
                e.1 |= mine;
            }
        }
        let mut errors = Vec::new();
        for (&name, &(kind, mine)) in &kinds {
            for (suffix, cut) in [("_count", 6), ("_sum", 4), ("_bucket", 7)] {
                let Some(base) = name.strip_suffix(suffix).filter(|_| name.len() > cut) else {
                    continue;
                };
                let Some(&(base_kind, base_mine)) = kinds.get(base) else {
                    continue;
                };
                if !(mine || base_mine) {
                    continue;
                }
                match base_kind {
                    Kind::Summary if suffix != "_bucket" => errors.push(format!(
                        "collected metric named {} collides with previously collected summary named {}",
                        quote_str(name.as_bytes()),
                        quote_str(base.as_bytes())
                    )),
                    Kind::Histogram => errors.push(format!(
                        "collected metric named {} collides with previously collected histogram named {}",
                        quote_str(name.as_bytes()),
                        quote_str(base.as_bytes())
                    )),
                    _ => {}
                }
            }
            let _ = kind;
        }
        errors
    }

    /// Applies a checked change at `now_ms`; a push also stamps `push_time_seconds`.
    pub fn apply(&mut self, plan: Plan, now_ms: u64) {
        let Plan { key, mut group, .. } = plan;
        if group.source == Source::Push {
            group.push_time = now_ms as f64 / 1000.0;
        }
        group.last_change_ms = now_ms;
        group.recount();
        let old = self.groups.insert(key, group.clone());
        self.series = self.series - old.map_or(0, |g| g.series) + group.series;
    }

    /// A refused push: stamps `push_failure_time_seconds` (creating the group with
    /// only its timestamps if it did not exist), as the Pushgateway does.
    pub fn note_failure(&mut self, key: &GroupingKey, now_ms: u64) {
        if !self.groups.contains_key(key) && self.groups.len() >= self.limits.max_groups {
            return;
        }
        let group = self
            .groups
            .entry(key.clone())
            .or_insert_with(|| Group::new(Source::Push));
        let before = group.series;
        group.push_failure_time = now_ms as f64 / 1000.0;
        group.last_change_ms = now_ms;
        group.recount();
        self.series = self.series - before + group.series;
    }

    /// Removes a group (DELETE); returns whether it existed.
    pub fn remove(&mut self, key: &GroupingKey) -> bool {
        match self.groups.remove(key) {
            Some(g) => {
                self.series -= g.series;
                true
            }
            None => false,
        }
    }

    /// Drops groups of `source` not changed for `after_ms`; returns how many.
    pub fn expire(&mut self, source: Source, now_ms: u64, after_ms: u64) -> usize {
        let before = self.groups.len();
        let mut freed = 0;
        self.groups.retain(|_, g| {
            let keep = g.source != source || now_ms.saturating_sub(g.last_change_ms) <= after_ms;
            if !keep {
                freed += g.series;
            }
            keep
        });
        self.series -= freed;
        before - self.groups.len()
    }

    /// Writes every family whose name is not a catalog family, after the catalog's.
    pub fn render<W: Write>(&self, w: &mut W, format: Format) -> fmt::Result {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for g in self.groups.values() {
            names.extend(g.families.keys().map(String::as_str));
            if g.source == Source::Push {
                names.insert(PUSH_TIME);
                names.insert(PUSH_FAILURE_TIME);
            }
        }
        for name in names {
            if catalog_kind(name).is_some() {
                continue;
            }
            self.render_family(w, format, name, true)?;
        }
        Ok(())
    }

    /// Writes the samples of the family `name` (a catalog family, whose header the
    /// caller wrote or writes when this returns true); returns whether any was written.
    pub fn render_samples_of<W: Write>(
        &self,
        w: &mut W,
        format: Format,
        name: &str,
    ) -> Result<bool, fmt::Error> {
        self.render_family(w, format, name, false)
    }

    /// True when some group holds the family `name`.
    pub fn has_family(&self, name: &str) -> bool {
        self.groups.values().any(|g| g.families.contains_key(name))
    }

    fn render_family<W: Write>(
        &self,
        w: &mut W,
        format: Format,
        name: &str,
        header: bool,
    ) -> Result<bool, fmt::Error> {
        let stamps = name == PUSH_TIME || name == PUSH_FAILURE_TIME;
        let mut kind = None;
        let mut help = None;
        let mut metrics: Vec<&Metric> = Vec::new();
        let mut stamp_metrics: Vec<Metric> = Vec::new();
        for (key, g) in &self.groups {
            if stamps && g.source == Source::Push {
                let value = if name == PUSH_TIME {
                    g.push_time
                } else {
                    g.push_failure_time
                };
                let mut labels: Vec<(String, String)> =
                    key.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                if !key.contains_key("instance") {
                    labels.push(("instance".into(), String::new()));
                    labels.sort();
                }
                stamp_metrics.push(Metric {
                    labels,
                    value: Value::Scalar(value),
                    timestamp_ms: None,
                });
                kind = Some(Kind::Gauge);
                help = Some(if name == PUSH_TIME {
                    PUSH_TIME_HELP
                } else {
                    PUSH_FAILURE_TIME_HELP
                });
                continue;
            }
            let Some(f) = g.families.get(name) else {
                continue;
            };
            let k = *kind.get_or_insert(f.kind);
            if f.kind != k {
                continue;
            }
            if help.is_none() {
                help = f.help.as_deref();
            }
            metrics.extend(&f.metrics);
        }
        metrics.extend(stamp_metrics.iter());
        let Some(kind) = kind else {
            return Ok(false);
        };
        if metrics.is_empty() {
            return Ok(false);
        }
        metrics.sort_by(|a, b| a.labels.cmp(&b.labels));
        if header {
            write_family_header(w, format, name, kind, help)?;
        }
        for m in metrics {
            write_metric(w, format, name, kind, m)?;
        }
        Ok(true)
    }
}

/// Prefixes of pimon's own figures: a group may not hold such a family (its samples
/// would split pimon's block of that family on `/metrics`).
pub const RESERVED_PREFIXES: &[&str] = &[
    "pimon_aggregator_",
    "pimon_node_",
    "pimon_influx_",
    "pimon_lp_out_",
    "pimon_push_",
    "pimon_scrape_",
    "pimon_collectd_",
    "pimon_ingress_",
];

/// client_golang's suffix rule for one family against the names `known`: `x_count`,
/// `x_sum` beside a summary or histogram `x`, `x_bucket` beside a histogram.
fn collides(name: &str, kind: Kind, known: &BTreeMap<String, Kind>) -> bool {
    for suffix in ["_count", "_sum", "_bucket"] {
        if let Some(base) = name.strip_suffix(suffix).filter(|b| !b.is_empty()) {
            match known.get(base) {
                Some(Kind::Summary) if suffix != "_bucket" => return true,
                Some(Kind::Histogram) => return true,
                _ => {}
            }
        }
    }
    let has = |suffix: &str| known.contains_key(&format!("{name}{suffix}"));
    match kind {
        Kind::Summary => has("_count") || has("_sum"),
        Kind::Histogram => has("_count") || has("_sum") || has("_bucket"),
        _ => false,
    }
}

/// True for the names of pimon's own figures.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The type of the catalog family `name`, if it is one.
pub fn catalog_kind(name: &str) -> Option<Kind> {
    catalog::families()
        .find(|f| f.first.prom_name == name)
        .map(|f| match f.first.metric_type {
            MetricType::Counter => Kind::Counter,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Untyped => Kind::Untyped,
        })
}

fn field_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Untyped => "untyped",
        Kind::Summary => "summary",
        Kind::Histogram => "histogram",
    }
}

fn not_a(name: &str, kind: Kind, m: &Metric, reference: Kind) -> String {
    format!(
        "collected metric {} {{ {}}} is not a {}",
        quote_str(name.as_bytes()),
        metric_text(&m.labels, field_of(kind), &m.value),
        reference.proto_name()
    )
}

/// The Pushgateway's `sanitizeLabels`: grouping labels override the body's, a missing
/// `instance` becomes `instance=""`, labels sorted.
pub fn sanitize(family: &mut Family, key: &GroupingKey) {
    for m in &mut family.metrics {
        for (k, v) in key {
            match m.labels.iter_mut().find(|(n, _)| n == k) {
                Some(pair) => pair.1 = v.clone(),
                None => m.labels.push((k.clone(), v.clone())),
            }
        }
        if !m.labels.iter().any(|(n, _)| n == "instance") {
            m.labels.push(("instance".into(), String::new()));
        }
        m.labels.sort();
    }
}

fn om_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Untyped => "unknown",
        k => k.as_str(),
    }
}

/// The family name in metadata lines (OpenMetrics drops a counter's `_total`).
fn meta_name(format: Format, name: &str, kind: Kind) -> &str {
    match (format, kind) {
        (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

fn write_family_header<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    kind: Kind,
    help: Option<&str>,
) -> fmt::Result {
    let family = meta_name(format, name, kind);
    if let Some(help) = help {
        w.write_str("# HELP ")?;
        w.write_str(family)?;
        w.write_char(' ')?;
        write_help_escaped(w, format, help)?;
        w.write_char('\n')?;
    }
    w.write_str("# TYPE ")?;
    w.write_str(family)?;
    w.write_char(' ')?;
    w.write_str(match format {
        Format::Text004 => kind.as_str(),
        Format::OpenMetrics => om_kind(kind),
    })?;
    w.write_char('\n')
}

fn write_labels<W: Write>(
    w: &mut W,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
) -> fmt::Result {
    if labels.is_empty() && extra.is_none() {
        return Ok(());
    }
    w.write_char('{')?;
    let mut first = true;
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    for (k, v) in all {
        if !first {
            w.write_char(',')?;
        }
        first = false;
        w.write_str(k)?;
        w.write_str("=\"")?;
        write_label_value_escaped(w, v)?;
        w.write_char('"')?;
    }
    w.write_char('}')
}

fn write_line<W: Write>(
    w: &mut W,
    name: &str,
    suffix: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    value: f64,
) -> fmt::Result {
    w.write_str(name)?;
    w.write_str(suffix)?;
    write_labels(w, labels, extra)?;
    w.write_char(' ')?;
    write_number(w, Number::F64(value))?;
    w.write_char('\n')
}

fn write_metric<W: Write>(
    w: &mut W,
    format: Format,
    name: &str,
    kind: Kind,
    m: &Metric,
) -> fmt::Result {
    let mut bound = String::new();
    match &m.value {
        Value::Scalar(v) => {
            if format == Format::OpenMetrics && kind == Kind::Counter && !name.ends_with("_total") {
                write_line(w, name, "_total", &m.labels, None, *v)
            } else {
                write_line(w, name, "", &m.labels, None, *v)
            }
        }
        Value::Summary {
            count,
            sum,
            quantiles,
        } => {
            for (q, v) in quantiles {
                bound.clear();
                write_number(&mut bound, Number::F64(*q))?;
                write_line(w, name, "", &m.labels, Some(("quantile", &bound)), *v)?;
            }
            write_line(w, name, "_sum", &m.labels, None, sum.unwrap_or(0.0))?;
            write_line(
                w,
                name,
                "_count",
                &m.labels,
                None,
                count.unwrap_or(0) as f64,
            )
        }
        Value::Histogram {
            count,
            sum,
            buckets,
        } => {
            for (le, c) in buckets {
                bound.clear();
                write_number(&mut bound, Number::F64(*le))?;
                write_line(
                    w,
                    name,
                    "_bucket",
                    &m.labels,
                    Some(("le", &bound)),
                    *c as f64,
                )?;
            }
            write_line(w, name, "_sum", &m.labels, None, sum.unwrap_or(0.0))?;
            write_line(
                w,
                name,
                "_count",
                &m.labels,
                None,
                count.unwrap_or(0) as f64,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingress::{expo, pushpath};

    fn key(path: &str) -> GroupingKey {
        pushpath::parse(path).unwrap()
    }

    fn push(
        g: &mut Groups,
        path: &str,
        body: &str,
        replace: bool,
        now: u64,
    ) -> Result<(), Refusal> {
        let k = key(path);
        match g.check_push(&k, expo::parse(body.as_bytes()).unwrap(), replace, 0) {
            Ok(plan) => {
                g.apply(plan, now);
                Ok(())
            }
            Err(e) => {
                if matches!(e, Refusal::Invalid(_)) {
                    g.note_failure(&k, now);
                }
                Err(e)
            }
        }
    }

    fn text(g: &Groups) -> String {
        let mut s = String::new();
        g.render(&mut s, Format::Text004).unwrap();
        s
    }

    #[test]
    fn put_replaces_post_merges_delete_removes() {
        let mut g = Groups::new(GroupLimits::default());
        push(
            &mut g,
            "/metrics/job/j/instance/i",
            "# TYPE a counter\na 1\nb 2\n",
            true,
            1000,
        )
        .unwrap();
        push(
            &mut g,
            "/metrics/job/j/instance/i",
            "# TYPE a counter\na 5\n",
            false,
            2000,
        )
        .unwrap();
        let t = text(&g);
        assert!(t.contains("a{instance=\"i\",job=\"j\"} 5\n"), "{t}");
        assert!(t.contains("b{instance=\"i\",job=\"j\"} 2\n"), "{t}");
        assert!(
            t.contains("push_time_seconds{instance=\"i\",job=\"j\"} 2\n"),
            "{t}"
        );
        push(&mut g, "/metrics/job/j/instance/i", "c 3\n", true, 3000).unwrap();
        let t = text(&g);
        assert!(!t.contains("\na{") && !t.contains("\nb{"), "{t}");
        assert!(
            t.contains("# TYPE c untyped\nc{instance=\"i\",job=\"j\"} 3\n"),
            "{t}"
        );
        assert_eq!(g.series(), 3);
        assert!(g.remove(&key("/metrics/job/j/instance/i")));
        assert_eq!((g.len(), g.series(), text(&g)), (0, 0, String::new()));
    }

    #[test]
    fn grouping_labels_win_and_instance_defaults_to_empty() {
        let mut g = Groups::new(GroupLimits::default());
        push(
            &mut g,
            "/metrics/job/k3/instance/i",
            "foo3{job=\"zz\"} 1\n",
            true,
            1000,
        )
        .unwrap();
        push(
            &mut g,
            "/metrics/job/k1",
            "foo{instance=\"x\"} 1\n",
            true,
            1000,
        )
        .unwrap();
        let t = text(&g);
        assert!(t.contains("foo3{instance=\"i\",job=\"k3\"} 1\n"), "{t}");
        assert!(t.contains("foo{instance=\"x\",job=\"k1\"} 1\n"), "{t}");
        assert!(
            t.contains("push_failure_time_seconds{instance=\"\",job=\"k1\"} 0\n"),
            "{t}"
        );
    }

    #[test]
    fn inconsistent_pushes_are_refused_in_the_pushgateways_words() {
        let mut g = Groups::new(GroupLimits::default());
        push(
            &mut g,
            "/metrics/job/j1",
            "# TYPE foo gauge\nfoo 3\n",
            true,
            1000,
        )
        .unwrap();
        assert_eq!(
            push(&mut g, "/metrics/job/j2", "foo 3\n", false, 2000),
            Err(Refusal::Invalid(
                "collected metric \"foo\" { label:<name:\"instance\" value:\"\" > label:<name:\"job\" value:\"j2\" > untyped:<value:3 > } is not a GAUGE".into()
            ))
        );
        assert_eq!(
            push(&mut g, "/metrics/job/j3", "a 1 1234\n", false, 2000),
            Err(Refusal::Invalid(
                "pushed metrics must not have timestamps".into()
            ))
        );
        let e = push(
            &mut g,
            "/metrics/job/j4",
            "a{x=\"1\"} 3\na{x=\"1\"} 4\n",
            false,
            2000,
        );
        assert_eq!(
            e,
            Err(Refusal::Invalid(
                "collected metric \"a\" { label:<name:\"instance\" value:\"\" > label:<name:\"job\" value:\"j4\" > label:<name:\"x\" value:\"1\" > untyped:<value:4 > } was collected before with the same name and label values".into()
            ))
        );
        let e = push(
            &mut g,
            "/metrics/job/j5",
            "# TYPE node_load1 counter\nnode_load1 3\n",
            false,
            2000,
        );
        assert!(matches!(e, Err(Refusal::Invalid(s)) if s.ends_with("is not a GAUGE")));
        let t = text(&g);
        assert!(
            t.contains("push_failure_time_seconds{instance=\"\",job=\"j2\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("push_time_seconds{instance=\"\",job=\"j2\"} 0\n"),
            "{t}"
        );
    }

    #[test]
    fn suffix_collisions_and_reserved_names_are_refused() {
        let mut g = Groups::new(GroupLimits::default());
        push(
            &mut g,
            "/metrics/job/a",
            "# TYPE s summary\ns_sum 1\ns_count 1\n",
            true,
            0,
        )
        .unwrap();
        assert_eq!(
            push(&mut g, "/metrics/job/b", "s_count 3\n", true, 0),
            Err(Refusal::Invalid(
                "collected metric named \"s_count\" collides with previously collected summary named \"s\"".into()
            ))
        );
        assert_eq!(
            push(&mut g, "/metrics/job/b", "pimon_node_up 1\n", true, 0),
            Err(Refusal::Invalid(
                "metric family name \"pimon_node_up\" is reserved for pimon's own figures".into()
            ))
        );
        let fams = expo::parse(
            b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\ns_sum 2\nok 1\n",
        )
        .unwrap();
        let (plan, dropped) = g
            .check_replace(&key("/metrics/job/scraped"), Source::Scrape, fams, 0)
            .unwrap();
        assert_eq!(dropped, 1, "s_sum collides with the summary s");
        assert!(plan.group.families.contains_key("h") && plan.group.families.contains_key("ok"));
    }

    #[test]
    fn limits_refuse_whole_pushes() {
        let mut g = Groups::new(GroupLimits {
            max_groups: 2,
            max_series_per_group: 4,
            max_series_total: 7,
        });
        assert_eq!(
            push(&mut g, "/metrics/job/a", "x 1\ny 1\nz 1\n", true, 0),
            Err(Refusal::SeriesPerGroup)
        );
        push(&mut g, "/metrics/job/a", "x 1\ny 1\n", true, 0).unwrap();
        push(&mut g, "/metrics/job/b", "x 1\n", true, 0).unwrap();
        assert_eq!(
            push(&mut g, "/metrics/job/c", "x 1\n", true, 0),
            Err(Refusal::Groups)
        );
        assert_eq!(
            push(&mut g, "/metrics/job/b", "x 1\ny 1\n", true, 0),
            Err(Refusal::SeriesTotal)
        );
        assert_eq!(g.series(), 7);
        assert_eq!(g.expire(Source::Push, 10_000, 5_000), 2);
        assert_eq!(g.series(), 0);
    }

    #[test]
    fn summaries_histograms_and_openmetrics() {
        let mut g = Groups::new(GroupLimits::default());
        push(
            &mut g,
            "/metrics/job/k8",
            "# TYPE hh histogram\nhh_bucket{le=\"1\"} 1\nhh_bucket{le=\"+Inf\"} 2\nhh_sum 3\nhh_count 2\n# TYPE c counter\nc 1\n",
            true,
            0,
        )
        .unwrap();
        let t = text(&g);
        assert!(t.contains("# TYPE hh histogram\nhh_bucket{instance=\"\",job=\"k8\",le=\"1\"} 1\nhh_bucket{instance=\"\",job=\"k8\",le=\"+Inf\"} 2\nhh_sum{instance=\"\",job=\"k8\"} 3\nhh_count{instance=\"\",job=\"k8\"} 2\n"), "{t}");
        let mut om = String::new();
        g.render(&mut om, Format::OpenMetrics).unwrap();
        assert!(
            om.contains("# TYPE c counter\nc_total{instance=\"\",job=\"k8\"} 1\n"),
            "{om}"
        );
    }
}
