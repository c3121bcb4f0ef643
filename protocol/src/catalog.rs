//! The metric catalog: every metric pimon knows, in one table.
//!
//! Each [`Metric`] ties a numeric wire id to its Prometheus name (node_exporter's
//! where node_exporter has the metric), its InfluxDB schema (Telegraf's where Telegraf
//! has it) and the [`Conversion`] from the raw kernel unit that travels on the wire to
//! the output unit. The conversion is defined here, once, for every output.
//!
//! Ids are append-only: an id is never reused or renumbered. A retired metric keeps its
//! row. `CATALOG[i].id == i` for every row (checked by a test), so lookup is an index.

/// How a metric behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic cumulative counter (reset only at reboot). Prometheus `counter`.
    Counter,
    /// A value that goes up and down. Prometheus `gauge`.
    Gauge,
}

/// Conversion from the raw wire value to the exported unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// Exported as sent.
    Identity,
    /// Multiplied by a constant (kB → bytes: 1024; sectors → bytes: 512; milli → 0.001).
    Scale(f64),
    /// Divided by the node's USER_HZ from the frame header (jiffies → seconds).
    PerUserHz,
}

impl Conversion {
    /// Applies the conversion. `user_hz` is the frame header's USER_HZ (0 is treated as 100).
    pub fn apply(self, raw: f64, user_hz: u16) -> f64 {
        match self {
            Conversion::Identity => raw,
            Conversion::Scale(k) => raw * k,
            Conversion::PerUserHz => {
                let hz = if user_hz == 0 { 100 } else { user_hz };
                raw / f64::from(hz)
            }
        }
    }
}

/// Telegraf-compatible InfluxDB schema of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InfluxSchema {
    /// Measurement name (`cpu`, `mem`, `net`, `diskio`, …).
    pub measurement: &'static str,
    /// Field key (`usage_user`, `available`, `bytes_recv`, …).
    pub field: &'static str,
    /// Tag key for each instance label, in the same order as [`Metric::labels`].
    pub tags: &'static [&'static str],
    /// Tags with constant values added to every line of this metric.
    pub const_tags: &'static [(&'static str, &'static str)],
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// Wire id; equal to the row's index in [`CATALOG`].
    pub id: u16,
    /// Prometheus metric name (with `_total` for counters, unit suffix).
    pub prom_name: &'static str,
    /// Counter or gauge.
    pub metric_type: MetricType,
    /// `# HELP` text.
    pub help: &'static str,
    /// Exported unit (`seconds`, `bytes`, `celsius`, `hertz`, `` for none).
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
