//! The metric catalog: every metric pimon knows, in one table.
//!
//! Each [`Metric`] ties a numeric wire id to its Prometheus name (node_exporter's
//! where node_exporter has the metric), its InfluxDB schema (Telegraf's where Telegraf
//! has it) and the [`Conversion`] from the raw kernel unit that travels on the wire to
//! the output unit. The conversion is defined here, once, for every output.
//!
//! Ids are append-only: an id is never reused or renumbered. A retired metric keeps its
//! row. `CATALOG[i].id == i` for every row (checked by a test), so lookup is an index.
//! Every row has a named constant in [`id`] (`id::CPU_SECONDS_USER`, `id::MEM_MEMTOTAL`, …).
//!
//! ## Layout of the ids
//! Rows that a source sends with the *same instance labels* have consecutive ids (all
//! `/proc/net/dev` columns of one device, all `/proc/diskstats` fields of one disk, …):
//! the wire encodes each id as the difference to the previous sample's, so a run of
//! consecutive ids costs one byte per id.
//!
//! ## Families
//! Several rows may share one Prometheus name (a *family*): `node_cpu_seconds_total` has
//! one row per `mode`, told apart by [`Metric::const_labels`]. Rows of a family agree on
//! type, help, unit and label names (checked by a test). The rows of a family are
//! contiguous in the table today, but append-only ids cannot promise that for rows added
//! later, so exposition code must not rely on it: iterate [`families()`] (or
//! [`FAMILY_ORDER`]) to print each `# HELP`/`# TYPE` once with all of its samples.
//!
//! ## Label values
//! Instance label values are what node_exporter prints: `cpu` is the decimal CPU number
//! (`"0"`), `device` is the kernel's name (`"eth0"`, `"mmcblk0"`) except for filesystems,
//! where it is the mount source (`"/dev/mmcblk0p2"`), like node_exporter. Where Telegraf
//! spells a tag value differently (`cpu="cpu0"`, disk `device="mmcblk0p2"`),
//! [`InfluxSchema::tag_rules`] says how to derive it.

mod table;

pub use table::{CGROUP_METRICS, PER_SCALED_PPM, POWER_SUPPLY_INFO_LABELS, id};

use crate::value::Value;

/// How a metric behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic cumulative counter (reset only at reboot). Prometheus `counter`.
    Counter,
    /// A value that goes up and down. Prometheus `gauge`.
    Gauge,
    /// node_exporter's `untyped` families (`netstat`, `vmstat`): kept untyped so a
    /// query or recording rule written against node_exporter sees the same type.
    /// OpenMetrics calls it `unknown`.
    Untyped,
}

impl MetricType {
    /// The name used in a text 0.0.4 `# TYPE` line (`counter`, `gauge`, `untyped`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
        }
    }
}

/// Conversion from the raw wire value to the exported unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// Exported as sent.
    Identity,
    /// Multiplied by a constant (kB → bytes: 1024; sectors → bytes: 512; milli → 0.001).
    ///
    /// A factor `1/n` with a whole `n` (0.001, 0.01, 1e-6) is applied as a division by
    /// `n`, which is correctly rounded (`45123 / 1000` prints as `45.123`, where
    /// `45123 * 0.001` would print `45.123000000000005`), as node_exporter does.
    Scale(f64),
    /// Divided by the node's USER_HZ from the frame header (jiffies → seconds).
    PerUserHz,
}

/// An exported number: the raw value after its [`Conversion`].
///
/// Integers stay integers while the conversion keeps them exact (identity, or a whole
/// factor such as 1024 without overflow), so counters above 2^53 print exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// Exact unsigned integer.
    U64(u64),
    /// Exact signed integer.
    I64(i64),
    /// Floating point.
    F64(f64),
}

impl Number {
    /// The number as `f64` (rounded for integers above 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::U64(v) => v as f64,
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        }
    }
}

/// If `k` is `1/n` for a whole `n` in `2..=1e12`, returns `n`.
fn reciprocal_divisor(k: f64) -> Option<f64> {
    if !(k > 0.0 && k < 1.0) {
        return None;
    }
    let inv = 1.0 / k;
    if inv > 1e12 {
        return None;
    }
    let n = (inv + 0.5) as u64 as f64; // round half up; inv is positive and bounded
    let diff = if n > inv { n - inv } else { inv - n };
    (diff <= inv * 1e-12).then_some(n)
}

/// If `k` is a whole number in `1..=2^32`, returns it.
fn whole_factor(k: f64) -> Option<u64> {
    if (1.0..=4_294_967_296.0).contains(&k) {
        let n = k as u64;
        (n as f64 == k).then_some(n)
    } else {
        None
    }
}

impl Conversion {
    /// Applies the conversion. `user_hz` is the frame header's USER_HZ (0 is treated as 100).
    pub fn apply(self, raw: f64, user_hz: u16) -> f64 {
        match self {
            Conversion::Identity => raw,
            Conversion::Scale(k) => match reciprocal_divisor(k) {
                Some(n) => raw / n,
                None => raw * k,
            },
            Conversion::PerUserHz => {
                let hz = if user_hz == 0 { 100 } else { user_hz };
                raw / f64::from(hz)
            }
        }
    }

    /// Applies the conversion to a typed raw value, keeping integers exact where the
    /// conversion allows (see [`Number`]).
    pub fn convert(self, raw: Value, user_hz: u16) -> Number {
        let exact = match (self, raw) {
            (Conversion::Identity, Value::Unsigned(v)) => Some(Number::U64(v)),
            (Conversion::Identity, Value::Signed(v)) => Some(Number::I64(v)),
            (Conversion::Scale(k), Value::Unsigned(v)) => whole_factor(k)
                .and_then(|n| v.checked_mul(n))
                .map(Number::U64),
            (Conversion::Scale(k), Value::Signed(v)) => whole_factor(k)
                .and_then(|n| i64::try_from(n).ok())
                .and_then(|n| v.checked_mul(n))
                .map(Number::I64),
            _ => None,
        };
        exact.unwrap_or_else(|| Number::F64(self.apply(raw.as_f64(), user_hz)))
    }
}

/// The InfluxDB type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Float field (`1.5`). Telegraf's type for CPU times, load, temperatures.
    Float,
    /// Integer field (`42i`). Telegraf's type for byte counts and counters. A converted
    /// value that is not whole is truncated toward zero; values beyond the `i64` range
    /// saturate (InfluxDB 1.x has no unsigned type).
    Integer,
}

/// How an InfluxDB tag value is derived from the Prometheus label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRule {
    /// The label value as is.
    Verbatim,
    /// The label value with this prefix added (`cpu` label `0` → Telegraf's `cpu0`).
    Prefix(&'static str),
    /// The label value without this prefix when present (`/dev/sda1` → `sda1`).
    StripPrefix(&'static str),
    /// The part of the label value after its last `/` (a cgroup path
    /// `/system.slice/ssh.service` → the unit name `ssh.service`).
    LastSegment,
}

impl TagRule {
    /// Splits the tag value into the parts to write, in order: `(prefix, rest)`.
    /// Write `prefix` then `rest` (both escaped); no allocation needed.
    pub fn parts(self, label_value: &str) -> (&'static str, &str) {
        match self {
            TagRule::Verbatim => ("", label_value),
            TagRule::Prefix(p) => (p, label_value),
            TagRule::StripPrefix(p) => ("", label_value.strip_prefix(p).unwrap_or(label_value)),
            TagRule::LastSegment => ("", label_value.rsplit('/').next().unwrap_or(label_value)),
        }
    }
}

/// Telegraf-compatible InfluxDB schema of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InfluxSchema {
    /// Measurement name (`cpu`, `mem`, `net`, `diskio`, …).
    pub measurement: &'static str,
    /// Field key (`time_user`, `available`, `bytes_recv`, …).
    pub field: &'static str,
    /// Tag key for each instance label, in the same order as [`Metric::labels`].
    pub tags: &'static [&'static str],
    /// Tags with constant values added to every line of this metric.
    pub const_tags: &'static [(&'static str, &'static str)],
    /// How each tag value derives from its label value, in the order of `tags`; empty
    /// means [`TagRule::Verbatim`] for every tag.
    pub tag_rules: &'static [TagRule],
    /// Raw wire unit → the field's unit. Usually the same as [`Metric::conversion`];
    /// differs where Telegraf's unit differs from node_exporter's (diskio times are
    /// milliseconds in Telegraf, seconds in node_exporter).
    pub conversion: Conversion,
    /// Float or integer field.
    pub kind: FieldKind,
}

impl InfluxSchema {
    /// The rule for the tag at `index` (Verbatim when `tag_rules` is empty).
    pub fn tag_rule(&self, index: usize) -> TagRule {
        self.tag_rules
            .get(index)
            .copied()
            .unwrap_or(TagRule::Verbatim)
    }
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Wire id; equal to the row's index in [`CATALOG`].
    pub id: u16,
    /// Prometheus metric name (with `_total` for counters, unit suffix).
    pub prom_name: &'static str,
    /// Counter, gauge or untyped.
    pub metric_type: MetricType,
    /// `# HELP` text; empty when the crate is built without its `help` feature (the
    /// collector on a Pi).
    pub help: &'static str,
    /// Exported unit (`seconds`, `bytes`, `celsius`, `hertz`, `` for none); when not
    /// empty the Prometheus name ends with `_<unit>` or `_<unit>_total`.
    pub unit: &'static str,
    /// Names of the instance labels that travel on the wire with each sample, in order.
    pub labels: &'static [&'static str],
    /// Labels with constant values (for example `mode="user"` on `node_cpu_seconds_total`).
    pub const_labels: &'static [(&'static str, &'static str)],
    /// Raw wire unit → exported unit.
    pub conversion: Conversion,
    /// InfluxDB schema, or `None` when the metric is not written to InfluxDB.
    pub influx: Option<InfluxSchema>,
}

/// Every metric pimon knows; `CATALOG[i].id == i`.
pub static CATALOG: &[Metric] = table::ROWS;

/// The Prometheus names of rows `first..first + N` without `prefix`, computed at compile
/// time (`static VMSTAT: [&str; 7] = name_suffixes(id::VMSTAT_PGPGIN, "node_vmstat_")`).
/// A parser that finds a kernel field's row by the catalog's name links these `N`
/// strings, not the whole table, which the Raspberry Pi collector leaves out. A row
/// outside the catalog or a name without the prefix fails the build.
///
/// ```
/// use pimon_protocol::catalog::{id, name_suffixes};
/// static LOAD: [&str; 3] = name_suffixes(id::LOAD1, "node_");
/// assert_eq!(LOAD, ["load1", "load5", "load15"]);
/// ```
pub const fn name_suffixes<const N: usize>(first: u16, prefix: &str) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        let name = table::ROWS[first as usize + i].prom_name;
        let (head, rest) = name.split_at(prefix.len());
        let (a, b) = (head.as_bytes(), prefix.as_bytes());
        let mut j = 0;
        while j < a.len() {
            assert!(a[j] == b[j], "a row's name does not start with the prefix");
            j += 1;
        }
        out[i] = rest;
        i += 1;
    }
    out
}

/// The row with wire id `id`, or `None` for an id this build does not know.
pub fn lookup(id: u16) -> Option<&'static Metric> {
    CATALOG.get(usize::from(id))
}

/// The row with this Prometheus name and exactly these constant labels (in catalog
/// order), e.g. `find("node_cpu_seconds_total", &[("mode", "idle")])`. A linear scan:
/// for start-up and tools, not for per-sample paths (use [`id`] there).
pub fn find(prom_name: &str, const_labels: &[(&str, &str)]) -> Option<&'static Metric> {
    CATALOG
        .iter()
        .find(|m| m.prom_name == prom_name && m.const_labels == const_labels)
}

/// The id of the row for a `/proc/meminfo` key as the kernel writes it (`MemTotal`,
/// `Active(anon)`, `HugePages_Total`), named as node_exporter names it
/// (`node_memory_Active_anon_bytes`); `None` for keys this build has no row for.
pub fn meminfo_id(key: &[u8]) -> Option<u16> {
    (id::MEM_MEMTOTAL..=id::MEM_DIRECTMAP1G).find(|&i| {
        lookup(i).is_some_and(|m| {
            let field = m.prom_name.strip_prefix("node_memory_").unwrap_or("");
            let field = field.strip_suffix("_bytes").unwrap_or(field);
            meminfo_key_matches(key, field.as_bytes())
        })
    })
}

/// `Active(anon)` matches `Active_anon`: `(` reads as `_`, `)` is dropped.
fn meminfo_key_matches(key: &[u8], field: &[u8]) -> bool {
    let mut normalized = key.iter().filter(|&&b| b != b')').map(|&b| match b {
        b'(' => b'_',
        b => b,
    });
    let mut expected = field.iter().copied();
    loop {
        match (normalized.next(), expected.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The longest `/proc/meminfo` key sent through [`id::MEM_OTHER_BYTES`] / [`id::MEM_OTHER`]
/// (the kernel's longest today, `ShmemPmdMapped`, has 14 bytes).
pub const MEMINFO_KEY_MAX: usize = 64;

/// The Prometheus name of one sample: `prefix`, `key` and `suffix` written one after
/// the other. For most rows it is [`Metric::prom_name`] alone; for the rows named by a
/// label ([`named_by_label`]) it is `node_memory_` + the label + `_bytes` or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleName<'a> {
    /// The fixed start (the whole name for most rows).
    pub prefix: &'static str,
    /// The part from the sample's label (empty for most rows).
    pub key: &'a str,
    /// The fixed end.
    pub suffix: &'static str,
    /// The row's type, or `Counter` where node_exporter types the name a counter (its
    /// meminfo collector types every name ending in `_total` so).
    pub metric_type: MetricType,
}

impl SampleName<'_> {
    /// Whether the name is `name`.
    pub fn is(&self, name: &str) -> bool {
        name.len() == self.prefix.len() + self.key.len() + self.suffix.len()
            && name.starts_with(self.prefix)
            && name.ends_with(self.suffix)
            && name.get(self.prefix.len()..name.len() - self.suffix.len()) == Some(self.key)
    }
}

impl core::fmt::Display for SampleName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.prefix)?;
        f.write_str(self.key)?;
        f.write_str(self.suffix)
    }
}

/// Whether the Prometheus name of `metric`'s samples is made from their first label
/// (the `/proc/meminfo` keys without a row of their own, [`id::MEM_OTHER_BYTES`] and
/// [`id::MEM_OTHER`]); that label is then part of the name, not written as a label.
pub fn named_by_label(metric: &Metric) -> bool {
    metric.id == id::MEM_OTHER_BYTES || metric.id == id::MEM_OTHER
}

/// Whether `key` is usable as the meminfo key of [`id::MEM_OTHER_BYTES`] /
/// [`id::MEM_OTHER`]: 1 to [`MEMINFO_KEY_MAX`] bytes of `[A-Za-z0-9_]`, not a key with a
/// row of its own (which would print one name twice). A unitless key ending in
/// `_bytes` is refused too, so it can never print the name of a key in kB.
pub fn meminfo_other_key_ok(key: &str, in_kb: bool) -> bool {
    !key.is_empty()
        && key.len() <= MEMINFO_KEY_MAX
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && (in_kb || !key.ends_with("_bytes"))
        && meminfo_id(key.as_bytes()).is_none()
}

/// The Prometheus name of a sample of `metric` with these instance label values, or
/// `None` when the sample is not exported (a meminfo key that
/// [`meminfo_other_key_ok`] refuses): the one rule every renderer (`/metrics`,
/// remote write, the status page, the collector's `--print prom`) follows.
pub fn sample_name<'a>(metric: &Metric, label_values: &[&'a str]) -> Option<SampleName<'a>> {
    if !named_by_label(metric) {
        return Some(SampleName {
            prefix: metric.prom_name,
            key: "",
            suffix: "",
            metric_type: metric.metric_type,
        });
    }
    let key = *label_values.first()?;
    let in_kb = metric.id == id::MEM_OTHER_BYTES;
    if !meminfo_other_key_ok(key, in_kb) {
        return None;
    }
    let suffix = if in_kb { "_bytes" } else { "" };
    // node_exporter's meminfo collector: a name ending in `_total` is a counter.
    let metric_type = if !in_kb && key.ends_with("_total") {
        MetricType::Counter
    } else {
        metric.metric_type
    };
    Some(SampleName {
        prefix: "node_memory_",
        key,
        suffix,
        metric_type,
    })
}

const ROW_COUNT: usize = table::ROWS.len();

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Computes [`FAMILY_ORDER`] at compile time.
const fn family_order() -> [u16; ROW_COUNT] {
    let rows = table::ROWS;
    let mut order = [0u16; ROW_COUNT];
    let mut placed = [false; ROW_COUNT];
    let mut n = 0;
    let mut first = 0;
    while first < ROW_COUNT {
        if !placed[first] {
            let mut j = first;
            while j < ROW_COUNT {
                if !placed[j] && str_eq(rows[j].prom_name, rows[first].prom_name) {
                    placed[j] = true;
                    order[n] = j as u16;
                    n += 1;
                }
                j += 1;
            }
        }
        first += 1;
    }
    order
}

/// Every row id, grouped by Prometheus family: families in the order of their first
/// row, the rows of a family in id order. Consecutive entries with the same
/// [`Metric::prom_name`] form one family; [`families()`] iterates them.
pub static FAMILY_ORDER: [u16; ROW_COUNT] = family_order();

/// One Prometheus metric family: the rows that share a name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Family {
    /// The first row of the family (name, type, help, unit and labels are the family's).
    pub first: &'static Metric,
    /// Ids of all rows of the family, the first included, in id order.
    pub ids: &'static [u16],
}

impl Family {
    /// The rows of the family.
    pub fn rows(&self) -> impl Iterator<Item = &'static Metric> + 'static {
        self.ids.iter().filter_map(|&id| lookup(id))
    }
}

/// Iterator over the Prometheus families of the catalog; see [`families()`].
#[derive(Debug, Clone)]
pub struct Families {
    pos: usize,
}

impl Iterator for Families {
    type Item = Family;

    fn next(&mut self) -> Option<Family> {
        let start = self.pos;
        let first = lookup(*FAMILY_ORDER.get(start)?)?;
        let mut end = start + 1;
        while let Some(m) = FAMILY_ORDER.get(end).and_then(|&id| lookup(id)) {
            if m.prom_name != first.prom_name {
                break;
            }
            end += 1;
        }
        self.pos = end;
        Some(Family {
            first,
            ids: FAMILY_ORDER.get(start..end)?,
        })
    }
}

/// The catalog's Prometheus families, each once, in the order of their first row.
///
/// Exposition code prints one `# HELP`/`# TYPE` per family, then the samples of all
/// its rows, so families never interleave:
///
/// ```
/// use pimon_protocol::catalog::families;
/// let cpu = families().find(|f| f.first.prom_name == "node_cpu_seconds_total").unwrap();
/// assert_eq!(cpu.ids.len(), 8); // user nice system idle iowait irq softirq steal
/// ```
pub fn families() -> Families {
    Families { pos: 0 }
}
