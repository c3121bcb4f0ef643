//! The Grafana dashboards, `deploy/grafana/dashboards/*.json`, from one panel list.
//!
//! Two boards ("pimon fleet" and "pimon / workloads"), each in two flavours: PromQL on
//! node_exporter's and cAdvisor's names, and InfluxQL on Telegraf's schema. A panel is
//! written once with both queries; a query is kept whole in the JSON (`targets[].expr`
//! for Prometheus, `targets[].query` with `rawQuery: true` for InfluxDB) so the e2e
//! tests can run every query against real servers.
//!
//! Every metric name a PromQL query uses and every measurement an InfluxQL query reads
//! is checked against the catalog and the aggregator's tables ([`check_names`]): a
//! renamed or mistyped metric fails the generator instead of leaving an empty panel.

use pimon_protocol::catalog::CATALOG;

use crate::json::{Json, obj};

/// Where the dashboards live, from the repository's root.
const DIR: &str = "deploy/grafana/dashboards";

/// Prometheus node selector.
const I: &str = "instance=~\"$instance\"";
/// InfluxDB node selector.
const H: &str = "\"host\" =~ /^$host$/";
const RI: &str = "$__rate_interval";
const GB: &str = "GROUP BY time($__interval), ";

/// `rate(metric{selector}[$__rate_interval])`.
fn rate_sel(metric: &str, selector: &str) -> String {
    format!("rate({metric}{{{selector}}}[{RI}])")
}

/// `rate(metric{instance=~"$instance"}[$__rate_interval])`.
fn rate(metric: &str) -> String {
    rate_sel(metric, I)
}

/// A raw InfluxQL query over the dashboard's time range and host selection.
fn flux(select: &str, measurement: &str, group: &str) -> String {
    flux_where(select, measurement, group, "")
}

/// [`flux`] with one more condition.
fn flux_where(select: &str, measurement: &str, group: &str, filter: &str) -> String {
    let extra = if filter.is_empty() {
        String::new()
    } else {
        format!(" AND {filter}")
    };
    format!("SELECT {select} FROM \"{measurement}\" WHERE {H}{extra} AND $timeFilter {GB}{group}")
}

/// The aggregator's own figures (measurement `pimon_aggregator`, no host tag).
fn aggregator_query(select: &str) -> String {
    format!(
        "SELECT {select} FROM \"pimon_aggregator\" WHERE $timeFilter GROUP BY time($__interval)"
    )
}

/// `non_negative_derivative(agg("field"), 1s) AS "alias"`.
fn deriv(field: &str, alias: &str, agg: &str) -> String {
    format!("non_negative_derivative({agg}(\"{field}\"), 1s) AS \"{alias}\"")
}

/// `deriv` of each (field, alias), joined by `, `.
fn derivs(pairs: &[(&str, &str)], agg: &str) -> String {
    pairs
        .iter()
        .map(|(field, alias)| deriv(field, alias, agg))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A query and its legend.
type Target = (String, String);

fn t(query: impl Into<String>, legend: &str) -> Target {
    (query.into(), legend.to_string())
}

/// One panel, in both flavours (an empty target list leaves it out of that one).
#[derive(Clone)]
struct Panel {
    title: &'static str,
    stat: bool,
    unit: &'static str,
    width: i64,
    max: Option<i64>,
    stack: bool,
    prom: Vec<Target>,
    influx: Vec<Target>,
}

fn panel(title: &'static str, unit: &'static str) -> Panel {
    Panel {
        title,
        stat: false,
        unit,
        width: 12,
        max: None,
        stack: false,
        prom: Vec::new(),
        influx: Vec::new(),
    }
}

impl Panel {
    fn stat(mut self) -> Panel {
        self.stat = true;
        self
    }
    fn width(mut self, w: i64) -> Panel {
        self.width = w;
        self
    }
    fn max(mut self, max: i64) -> Panel {
        self.max = Some(max);
        self
    }
    fn stack(mut self) -> Panel {
        self.stack = true;
        self
    }
    /// One Prometheus target.
    fn prom1(self, query: impl Into<String>, legend: &str) -> Panel {
        self.prom(vec![t(query, legend)])
    }
    /// One InfluxDB target.
    fn influx1(self, query: impl Into<String>, legend: &str) -> Panel {
        self.influx(vec![t(query, legend)])
    }
    fn prom(mut self, targets: Vec<Target>) -> Panel {
        self.prom = targets;
        self
    }
    fn influx(mut self, targets: Vec<Target>) -> Panel {
        self.influx = targets;
        self
    }
}

/// A row of panels.
type Row = (&'static str, Vec<Panel>);

const FS_EXCLUDED: &str = "fstype!~\"tmpfs|devtmpfs|ramfs|squashfs|overlay\"";
const FS_EXCLUDED_INFLUX: &str = "\"fstype\" !~ /^(tmpfs|devtmpfs|ramfs|squashfs|overlay)$/";
const THROTTLE_FLAGS: [&str; 4] = [
    "under_voltage",
    "frequency_capped",
    "throttled",
    "soft_temp_limit",
];

fn fleet_rows() -> Vec<Row> {
    vec![
        (
            "Fleet health",
            vec![
                panel("Nodes up", "none")
                    .stat()
                    .width(4)
                    .prom1("sum(pimon_node_up)", "up")
                    .influx1(
                        "SELECT count(distinct(\"host\")) FROM (SELECT last(\"load1\") FROM \"system\" WHERE time > now() - 1m GROUP BY \"host\")",
                        "reporting in the last minute",
                    ),
                panel("Nodes down", "none")
                    .stat()
                    .width(4)
                    .prom1("count(pimon_node_up == 0) or vector(0)", "down")
                    .influx1(
                        "SELECT sum(\"down\") FROM (SELECT last(\"down\") AS \"down\" FROM \"pimon_node\" WHERE time > now() - 1m GROUP BY \"host\")",
                        "down",
                    ),
                panel("Seconds since last frame", "s")
                    .width(8)
                    .prom1(
                        format!("time() - pimon_node_last_seen_timestamp_seconds{{{I}}}"),
                        "{{instance}}",
                    )
                    .influx1(
                        flux("last(\"seconds_since_last_frame\")", "pimon_node", "\"host\""),
                        "$tag_host",
                    ),
                panel("Node up", "none")
                    .width(8)
                    .prom1(format!("pimon_node_up{{{I}}}"), "{{instance}}")
                    .influx1(
                        flux("count(\"load1\")", "system", "\"host\""),
                        "$tag_host reports",
                    ),
                panel("Frames missing", "short")
                    .width(8)
                    .prom1(
                        format!("increase(pimon_node_frames_missing_total{{{I}}}[{RI}])"),
                        "{{instance}}",
                    )
                    .influx1(
                        flux(
                            "non_negative_difference(max(\"frames_missing\")) AS \"missing\"",
                            "pimon_node",
                            "\"host\""),
                        "$tag_host",
                    ),
                panel("Collector resends and drops", "ops")
                    .width(8)
                    .prom(vec![
                        t(rate("pimon_collector_frames_resent_total"), "{{instance}} resent"),
                        t(rate("pimon_collector_frames_dropped_total"), "{{instance}} dropped"),
                    ])
                    .influx1(
                        flux(
                            &derivs(&[("frames_resent", "resent"), ("frames_dropped", "dropped")], "max"),
                            "pimon_collector",
                            "\"host\""),
                        "$tag_host $col",
                    ),
                panel("Collector cycle duration", "s")
                    .width(8)
                    .prom1(
                        format!("pimon_collector_cycle_duration_seconds{{{I}}}"),
                        "{{instance}}",
                    )
                    .influx1(
                        flux("mean(\"cycle_duration\")", "pimon_collector", "\"host\""),
                        "$tag_host",
                    ),
                panel("Uptime", "s")
                    .width(8)
                    .prom1(format!("pimon_uptime_seconds{{{I}}}"), "{{instance}}")
                    .influx1(
                        flux("last(\"uptime\")", "system", "\"host\""),
                        "$tag_host",
                    ),
            ],
        ),
        (
            "CPU and load",
            vec![
                panel("CPU busy", "percentunit")
                    .max(1)
                    .prom1(
                        format!(
                            "1 - avg by (instance) ({})",
                            rate_sel("node_cpu_seconds_total", &format!("{I},mode=\"idle\""))
                        ),
                        "{{instance}}",
                    )
                    .influx1(
                        format!(
                            "SELECT 1 - mean(\"idle\") AS \"busy\" FROM (SELECT {} FROM \"cpu\" WHERE {H} AND $timeFilter {GB}\"host\", \"cpu\") WHERE $timeFilter {GB}\"host\"",
                            deriv("time_idle", "idle", "mean")
                        ),
                        "$tag_host",
                    ),
                panel("CPU by mode (share of all cores)", "percentunit")
                    .stack()
                    .prom1(
                        format!(
                            "avg by (instance, mode) ({})",
                            rate_sel("node_cpu_seconds_total", &format!("{I},mode!=\"idle\""))
                        ),
                        "{{instance}} {{mode}}",
                    )
                    .influx1(
                        flux(
                            &["user", "nice", "system", "iowait", "irq", "softirq", "steal"]
                                .iter()
                                .map(|m| deriv(&format!("time_{m}"), m, "mean"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            "cpu",
                            "\"host\", \"cpu\""),
                        "$tag_host $tag_cpu $col",
                    ),
                panel("Load average (1m)", "short")
                    .prom1(format!("node_load1{{{I}}}"), "{{instance}}")
                    .influx1(
                        flux("mean(\"load1\")", "system", "\"host\""),
                        "$tag_host",
                    ),
                panel("CPU frequency", "hertz")
                    .prom1(
                        format!("avg by (instance) (node_cpu_scaling_frequency_hertz{{{I}}})"),
                        "{{instance}}",
                    )
                    // linux_cpu is in kHz, like Telegraf's.
                    .influx1(
                        flux("mean(\"scaling_cur_freq\") * 1000", "linux_cpu", "\"host\""),
                        "$tag_host",
                    ),
            ],
        ),
        (
            "Memory",
            vec![
                panel("Memory used", "bytes")
                    .prom1(
                        format!(
                            "node_memory_MemTotal_bytes{{{I}}} - node_memory_MemAvailable_bytes{{{I}}}"
                        ),
                        "{{instance}}",
                    )
                    .influx1(
                        flux(
                            "mean(\"total\") - mean(\"available\") AS \"used\"",
                            "mem",
                            "\"host\""),
                        "$tag_host",
                    ),
                panel("Memory available", "percentunit")
                    .max(1)
                    .prom1(
                        format!(
                            "node_memory_MemAvailable_bytes{{{I}}} / node_memory_MemTotal_bytes{{{I}}}"
                        ),
                        "{{instance}}",
                    )
                    .influx1(
                        flux(
                            "mean(\"available\") / mean(\"total\") AS \"available\"",
                            "mem",
                            "\"host\""),
                        "$tag_host",
                    ),
            ],
        ),
        (
            "Temperature and throttling",
            vec![
                panel("Thermal zones", "celsius")
                    .prom1(
                        format!("node_thermal_zone_temp{{{I}}}"),
                        "{{instance}} {{type}}",
                    )
                    .influx1(
                        flux("mean(\"temp\")", "temp", "\"host\", \"sensor\""),
                        "$tag_host $tag_sensor",
                    ),
                panel("Hardware monitor temperatures", "celsius")
                    .prom1(
                        format!("node_hwmon_temp_celsius{{{I}}}"),
                        "{{instance}} {{chip}} {{sensor}}",
                    )
                    .influx1(
                        flux(
                            "mean(\"temp\")",
                            "pimon_hwmon",
                            "\"host\", \"chip\", \"sensor\""),
                        "$tag_host $tag_chip $tag_sensor",
                    ),
                panel("Throttling now (Raspberry Pi firmware)", "bool_yes_no")
                    .prom(
                        THROTTLE_FLAGS
                            .iter()
                            .map(|f| {
                                t(format!("pimon_rpi_{f}{{{I}}}"), &format!("{{{{instance}}}} {f}"))
                            })
                            .collect(),
                    )
                    .influx1(
                        flux(
                            &THROTTLE_FLAGS
                                .iter()
                                .map(|f| format!("max(\"{f}\") AS \"{f}\""))
                                .collect::<Vec<_>>()
                                .join(", "),
                            "pimon_rpi",
                            "\"host\""),
                        "$tag_host $col",
                    ),
                panel("Throttling since boot (Raspberry Pi firmware)", "bool_yes_no")
                    .prom(
                        THROTTLE_FLAGS
                            .iter()
                            .map(|f| {
                                t(
                                    format!("pimon_rpi_{f}_occurred{{{I}}}"),
                                    &format!("{{{{instance}}}} {f}"),
                                )
                            })
                            .collect(),
                    )
                    .influx1(
                        flux(
                            &THROTTLE_FLAGS
                                .iter()
                                .map(|f| format!("max(\"{f}_occurred\") AS \"{f}\""))
                                .collect::<Vec<_>>()
                                .join(", "),
                            "pimon_rpi",
                            "\"host\""),
                        "$tag_host $col since boot",
                    ),
                panel("Under-voltage alarm (hwmon rpi_volt)", "bool_yes_no")
                    .prom1(
                        format!("node_hwmon_in_lcrit_alarm_volts{{{I}}} > bool 0"),
                        "{{instance}} {{chip}} {{sensor}}",
                    )
                    .influx1(
                        flux(
                            "max(\"in_lcrit_alarm\")",
                            "pimon_hwmon",
                            "\"host\", \"chip\", \"sensor\""),
                        "$tag_host $tag_chip $tag_sensor",
                    ),
            ],
        ),
        (
            "Disk and filesystems",
            vec![
                panel("Disk read and write", "Bps")
                    .prom(vec![
                        t(rate("node_disk_read_bytes_total"), "{{instance}} {{device}} read"),
                        t(rate("node_disk_written_bytes_total"), "{{instance}} {{device}} write"),
                    ])
                    .influx1(
                        flux(
                            &derivs(&[("read_bytes", "read"), ("write_bytes", "write")], "mean"),
                            "diskio",
                            "\"host\", \"name\""),
                        "$tag_host $tag_name $col",
                    ),
                panel("Disk busy", "percentunit")
                    .prom1(
                        rate("node_disk_io_time_seconds_total"),
                        "{{instance}} {{device}}",
                    )
                    // Telegraf's io_time is milliseconds.
                    .influx1(
                        flux(
                            "non_negative_derivative(mean(\"io_time\"), 1ms) AS \"busy\"",
                            "diskio",
                            "\"host\", \"name\""),
                        "$tag_host $tag_name",
                    ),
                panel("Filesystem space available", "bytes")
                    .prom1(
                        format!("node_filesystem_avail_bytes{{{I},{FS_EXCLUDED}}}"),
                        "{{instance}} {{mountpoint}}",
                    )
                    .influx1(
                        flux_where("last(\"free\")", "disk", "\"host\", \"path\"", FS_EXCLUDED_INFLUX),
                        "$tag_host $tag_path",
                    ),
                panel("Filesystem used", "percentunit")
                    .max(1)
                    .prom1(
                        format!(
                            "1 - node_filesystem_avail_bytes{{{I},{FS_EXCLUDED}}} / node_filesystem_size_bytes{{{I},{FS_EXCLUDED}}}"
                        ),
                        "{{instance}} {{mountpoint}}",
                    )
                    .influx1(
                        flux_where(
                            "1 - last(\"free\") / last(\"total\") AS \"used\"",
                            "disk",
                            "\"host\", \"path\"",
                            FS_EXCLUDED_INFLUX,
                        ),
                        "$tag_host $tag_path",
                    ),
            ],
        ),
        (
            "Kernel log",
            vec![
                panel("Kernel events since boot", "none")
                    .prom1(
                        format!("pimon_kernel_events_total{{{I}}}"),
                        "{{instance}} {{event}} {{device}}",
                    )
                    .influx1(
                        flux(
                            "last(\"count\")",
                            "kernel_events",
                            "\"host\", \"event\", \"device\""),
                        "$tag_host $tag_event $tag_device",
                    ),
                panel("Kernel events per minute", "none")
                    .prom1(
                        format!("60 * {}", rate("pimon_kernel_events_total")),
                        "{{instance}} {{event}} {{device}}",
                    )
                    .influx1(
                        flux(
                            "non_negative_derivative(last(\"count\"), 1m)",
                            "kernel_events",
                            "\"host\", \"event\", \"device\""),
                        "$tag_host $tag_event $tag_device",
                    ),
                panel("Kernel log records read and missed", "rps")
                    .prom(vec![
                        t(rate("pimon_kernel_log_records_total"), "{{instance}} read"),
                        t(rate("pimon_kernel_log_missed_records_total"), "{{instance}} missed"),
                    ])
                    .influx1(
                        flux(
                            &derivs(&[("records", "read"), ("missed", "missed")], "mean"),
                            "pimon_kernel_log",
                            "\"host\""),
                        "$tag_host $col",
                    ),
            ],
        ),
        (
            "Network",
            vec![
                panel("Network traffic", "Bps")
                    .prom(vec![
                        t(
                            rate_sel("node_network_receive_bytes_total", &format!("{I},device!=\"lo\"")),
                            "{{instance}} {{device}} in",
                        ),
                        t(
                            rate_sel("node_network_transmit_bytes_total", &format!("{I},device!=\"lo\"")),
                            "{{instance}} {{device}} out",
                        ),
                    ])
                    .influx1(
                        flux_where(
                            &derivs(&[("bytes_recv", "in"), ("bytes_sent", "out")], "mean"),
                            "net",
                            "\"host\", \"interface\"",
                            "\"interface\" != 'lo'",
                        ),
                        "$tag_host $tag_interface $col",
                    ),
                panel("Network errors and drops", "pps")
                    .prom(vec![
                        t(rate("node_network_receive_errs_total"), "{{instance}} {{device}} rx errs"),
                        t(rate("node_network_transmit_errs_total"), "{{instance}} {{device}} tx errs"),
                        t(rate("node_network_receive_drop_total"), "{{instance}} {{device}} rx drop"),
                        t(rate("node_network_transmit_drop_total"), "{{instance}} {{device}} tx drop"),
                    ])
                    .influx1(
                        flux(
                            &derivs(
                                &[
                                    ("err_in", "rx errs"),
                                    ("err_out", "tx errs"),
                                    ("drop_in", "rx drop"),
                                    ("drop_out", "tx drop"),
                                ],
                                "mean",
                            ),
                            "net",
                            "\"host\", \"interface\""),
                        "$tag_host $tag_interface $col",
                    ),
            ],
        ),
        (
            "Sensors",
            vec![
                panel("1-wire temperature", "celsius")
                    .prom1(
                        format!("pimon_w1_temperature_celsius{{{I}}}"),
                        "{{instance}} {{sensor}}",
                    )
                    .influx1(
                        flux("mean(\"temperature\")", "pimon_w1", "\"host\", \"sensor\""),
                        "$tag_host $tag_sensor",
                    ),
                sensor_panel("IIO and I2C temperature", "celsius", "temperature_celsius", "temperature", ""),
                sensor_panel("Relative humidity", "humidity", "humidity_percent", "humidity", ""),
                sensor_panel("Air pressure", "pressurehpa", "pressure_pascals", "pressure", " / 100"),
            ],
        ),
        (
            "Aggregator",
            vec![
                panel("Datagrams received", "pps")
                    .prom1(
                        format!("rate(pimon_aggregator_datagrams_received_total[{RI}])"),
                        "received",
                    )
                    .influx1(
                        aggregator_query(&deriv("datagrams_received", "received", "max")),
                        "$col",
                    ),
                panel("Frames rejected", "pps")
                    .prom(vec![
                        t(
                            format!("rate(pimon_aggregator_auth_failures_total[{RI}])"),
                            "authentication failed",
                        ),
                        t(
                            format!("rate(pimon_aggregator_decode_errors_total[{RI}])"),
                            "undecodable",
                        ),
                        t(format!("rate(pimon_aggregator_replays_total[{RI}])"), "replays"),
                    ])
                    .influx1(
                        aggregator_query(
                            &derivs(
                                &[
                                    ("auth_failures", "authentication failed"),
                                    ("decode_errors", "undecodable"),
                                    ("replays", "replays"),
                                ],
                                "max",
                            ),
                        ),
                        "$col",
                    ),
                panel("Series stored", "short")
                    .prom1("pimon_aggregator_series", "series")
                    .influx1(
                        aggregator_query("last(\"series\") AS \"series\""),
                        "$col",
                    ),
            ],
        ),
    ]
}

/// An IIO and an I2C sensor's quantity in one panel: `pimon_{iio,i2c}_<prom>`, field
/// `<field>` of `pimon_iio` / `pimon_i2c`, `scale` appended to both queries.
fn sensor_panel(
    title: &'static str,
    unit: &'static str,
    prom: &str,
    field: &str,
    scale: &str,
) -> Panel {
    panel(title, unit)
        .prom(vec![
            t(
                format!("pimon_iio_{prom}{{{I}}}{scale}"),
                "{{instance}} {{name}} {{device}}",
            ),
            t(
                format!("pimon_i2c_{prom}{{{I}}}{scale}"),
                "{{instance}} {{sensor}}",
            ),
        ])
        .influx(vec![
            t(
                flux(
                    &format!("mean(\"{field}\"){scale}"),
                    "pimon_iio",
                    "\"host\", \"name\", \"device\"",
                ),
                "$tag_host $tag_name $tag_device",
            ),
            t(
                flux(
                    &format!("mean(\"{field}\"){scale}"),
                    "pimon_i2c",
                    "\"host\", \"sensor\"",
                ),
                "$tag_host $tag_sensor",
            ),
        ])
}

/// Series per "top" panel (Prometheus; InfluxQL has no topk across series).
const TOP: u32 = 10;
/// Kubernetes containers (pod-level cgroups excluded).
const POD: &str = "container!=\"\", pod!=\"\"";
const SERVICE: &str = "id=~\"/system.slice/.+[.]service\"";
/// Docker and Podman containers.
const RUNTIME: &str = "name!=\"\"";

/// The systemd unit name (after the last `/` of the cgroup path) as label `unit`.
fn unit_label(expr: &str) -> String {
    format!("label_replace({expr}, \"unit\", \"$1\", \"id\", \".*/([^/]+)\")")
}

/// InfluxQL: a per-container value summed per pod.
fn pod_sum(select_inner: &str, alias: &str, measurement: &str) -> String {
    let inner = format!(
        "SELECT {select_inner} AS \"{alias}\" FROM \"{measurement}\" WHERE {H} AND $timeFilter {GB}\"host\", \"namespace\", \"pod_name\", \"container_name\""
    );
    format!(
        "SELECT sum(\"{alias}\") AS \"{alias}\" FROM ({inner}) WHERE $timeFilter {GB}\"host\", \"namespace\", \"pod_name\""
    )
}

fn workload_rows() -> Vec<Row> {
    let pod_selector = format!("{I}, {POD}");
    let service_selector = format!("{I}, {SERVICE}");
    let runtime_selector = format!("{I}, {RUNTIME}");
    vec![
        (
            "Kubernetes pods",
            vec![
                panel("Top CPU by pod (cores)", "short")
                    .prom1(
                        format!(
                            "topk({TOP}, sum by (instance, namespace, pod) ({}))",
                            rate_sel("container_cpu_usage_seconds_total", &pod_selector)
                        ),
                        "{{instance}} {{namespace}}/{{pod}}",
                    )
                    .influx1(
                        pod_sum(
                            "non_negative_derivative(mean(\"cpu_usage_core_nanoseconds\"), 1s) / 1000000000",
                            "cores",
                            "kubernetes_pod_container",
                        ),
                        "$tag_host $tag_namespace/$tag_pod_name",
                    ),
                panel("Top memory by pod (working set)", "bytes")
                    .prom1(
                        format!(
                            "topk({TOP}, sum by (instance, namespace, pod) (container_memory_working_set_bytes{{{pod_selector}}}))"
                        ),
                        "{{instance}} {{namespace}}/{{pod}}",
                    )
                    .influx1(
                        pod_sum(
                            "mean(\"memory_working_set_bytes\")",
                            "working_set",
                            "kubernetes_pod_container",
                        ),
                        "$tag_host $tag_namespace/$tag_pod_name",
                    ),
                panel("CPU throttling by pod", "percentunit").prom1(
                    format!(
                        "sum by (instance, namespace, pod) ({}) / (sum by (instance, namespace, pod) ({}) > 0)",
                        rate_sel("container_cpu_cfs_throttled_periods_total", &pod_selector),
                        rate_sel("container_cpu_cfs_periods_total", &pod_selector)
                    ),
                    "{{instance}} {{namespace}}/{{pod}}",
                ),
                panel("OOM kills by pod", "short").prom1(
                    format!(
                        "sum by (instance, namespace, pod) (increase(container_oom_events_total{{{pod_selector}}}[{RI}]))"
                    ),
                    "{{instance}} {{namespace}}/{{pod}}",
                ),
            ],
        ),
        (
            "systemd services",
            vec![
                panel("Top CPU by service (cores)", "short")
                    .prom1(
                        format!(
                            "topk({TOP}, {})",
                            unit_label(&rate_sel(
                                "container_cpu_usage_seconds_total",
                                &service_selector
                            ))
                        ),
                        "{{instance}} {{unit}}",
                    )
                    .influx1(
                        flux(
                            "non_negative_derivative(mean(\"cpu_usage_nanoseconds\"), 1s) / 1000000000 AS \"cores\"",
                            "pimon_systemd_unit",
                            "\"host\", \"name\""),
                        "$tag_host $tag_name",
                    ),
                panel("Top memory by service", "bytes")
                    .prom1(
                        format!(
                            "topk({TOP}, {})",
                            unit_label(&format!("container_memory_usage_bytes{{{service_selector}}}"))
                        ),
                        "{{instance}} {{unit}}",
                    )
                    .influx1(
                        flux("mean(\"mem_current\")", "systemd_units", "\"host\", \"name\""),
                        "$tag_host $tag_name",
                    ),
            ],
        ),
        (
            "Docker and Podman containers",
            vec![
                panel("Top CPU by container (cores)", "short")
                    .prom1(
                        format!(
                            "topk({TOP}, sum by (instance, name) ({}))",
                            rate_sel("container_cpu_usage_seconds_total", &runtime_selector)
                        ),
                        "{{instance}} {{name}}",
                    )
                    .influx1(
                        flux(
                            "non_negative_derivative(mean(\"usage_total\"), 1s) / 1000000000 AS \"cores\"",
                            "docker_container_cpu",
                            "\"host\", \"container_name\""),
                        "$tag_host $tag_container_name",
                    ),
                panel("Top memory by container (working set)", "bytes")
                    .prom1(
                        format!(
                            "topk({TOP}, sum by (instance, name) (container_memory_working_set_bytes{{{runtime_selector}}}))"
                        ),
                        "{{instance}} {{name}}",
                    )
                    .influx1(
                        flux(
                            "mean(\"usage\")",
                            "docker_container_mem",
                            "\"host\", \"container_name\""),
                        "$tag_host $tag_container_name",
                    ),
            ],
        ),
    ]
}

/// Prometheus or InfluxDB.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Prometheus,
    Influxdb,
}

impl Flavour {
    const ALL: [Flavour; 2] = [Flavour::Prometheus, Flavour::Influxdb];

    fn name(self) -> &'static str {
        match self {
            Flavour::Prometheus => "prometheus",
            Flavour::Influxdb => "influxdb",
        }
    }

    /// The provisioned data source: (name, uid).
    fn default_source(self) -> (&'static str, &'static str) {
        match self {
            Flavour::Prometheus => ("pimon Prometheus", "pimon-prometheus"),
            Flavour::Influxdb => ("pimon InfluxDB", "pimon-influxdb"),
        }
    }

    /// The node variable's name.
    fn node_var(self) -> &'static str {
        match self {
            Flavour::Prometheus => "instance",
            Flavour::Influxdb => "host",
        }
    }

    fn targets(self, p: &Panel) -> &[Target] {
        match self {
            Flavour::Prometheus => &p.prom,
            Flavour::Influxdb => &p.influx,
        }
    }
}

/// One board in one flavour.
struct BoardFile {
    file: &'static str,
    uid: &'static str,
    title: &'static str,
    /// The node variable's query.
    nodes: &'static str,
}

/// A board: its rows, description, tags and its two files.
struct Board {
    rows: Vec<Row>,
    description: &'static str,
    tags: &'static [&'static str],
    prometheus: BoardFile,
    influxdb: BoardFile,
}

fn boards() -> Vec<Board> {
    vec![
        Board {
            rows: fleet_rows(),
            description: "Raspberry Pi fleet monitored by pimon: CPU, memory, temperature and throttling, disk, network, sensors and pimon's own health. Generated by cargo xtask codegen.",
            tags: &["raspberry-pi"],
            prometheus: BoardFile {
                file: "pimon-fleet-prometheus.json",
                uid: "pimon-fleet-prometheus",
                title: "pimon fleet (Prometheus)",
                nodes: "label_values(node_load1, instance)",
            },
            influxdb: BoardFile {
                file: "pimon-fleet-influxdb.json",
                uid: "pimon-fleet-influxdb",
                title: "pimon fleet (InfluxDB)",
                nodes: "SHOW TAG VALUES FROM \"system\" WITH KEY = \"host\"",
            },
        },
        Board {
            rows: workload_rows(),
            description: "Which Kubernetes pod, Docker or Podman container or systemd service uses each node's CPU and memory, from pimon's cgroup source (cAdvisor's names). Generated by cargo xtask codegen.",
            tags: &["kubernetes", "containers"],
            prometheus: BoardFile {
                file: "pimon-workloads-prometheus.json",
                uid: "pimon-workloads-prometheus",
                title: "pimon / workloads (Prometheus)",
                nodes: "label_values(container_cpu_usage_seconds_total, instance)",
            },
            influxdb: BoardFile {
                file: "pimon-workloads-influxdb.json",
                uid: "pimon-workloads-influxdb",
                title: "pimon / workloads (InfluxDB)",
                nodes: "SHOW TAG VALUES FROM /^(kubernetes_pod_container|docker_container_cpu|systemd_units)$/ WITH KEY = \"host\"",
            },
        },
    ]
}

fn datasource(flavour: Flavour) -> Json {
    obj([
        ("type", flavour.name().into()),
        ("uid", "${datasource}".into()),
    ])
}

fn target(flavour: Flavour, reference: char, (query, legend): &Target) -> Json {
    match flavour {
        Flavour::Prometheus => obj([
            ("datasource", datasource(flavour)),
            ("refId", reference.to_string().into()),
            ("expr", query.as_str().into()),
            ("legendFormat", legend.as_str().into()),
            ("range", true.into()),
        ]),
        Flavour::Influxdb => obj([
            ("datasource", datasource(flavour)),
            ("refId", reference.to_string().into()),
            ("query", query.as_str().into()),
            ("rawQuery", true.into()),
            ("resultFormat", "time_series".into()),
            ("alias", legend.as_str().into()),
        ]),
    }
}

fn panel_json(flavour: Flavour, p: &Panel, id: i64, x: i64, y: i64, w: i64, h: i64) -> Json {
    let mut defaults = obj([("unit", p.unit.into())]);
    if let Some(max) = p.max {
        defaults.set("min", 0i64);
        defaults.set("max", max);
    }
    if !p.stat {
        defaults.set(
            "custom",
            obj([
                ("drawStyle", "line".into()),
                ("lineWidth", 1i64.into()),
                ("fillOpacity", (if p.stack { 10i64 } else { 0 }).into()),
                ("showPoints", "never".into()),
                ("spanNulls", false.into()),
                (
                    "stacking",
                    obj([
                        ("mode", (if p.stack { "normal" } else { "none" }).into()),
                        ("group", "A".into()),
                    ]),
                ),
            ]),
        );
    }
    let options = if p.stat {
        obj([
            (
                "reduceOptions",
                obj([
                    ("calcs", vec!["lastNotNull"].into()),
                    ("fields", "".into()),
                    ("values", false.into()),
                ]),
            ),
            ("colorMode", "value".into()),
            ("graphMode", "none".into()),
            ("textMode", "auto".into()),
        ])
    } else {
        obj([
            (
                "legend",
                obj([
                    ("displayMode", "list".into()),
                    ("placement", "bottom".into()),
                    ("showLegend", true.into()),
                ]),
            ),
            (
                "tooltip",
                obj([("mode", "multi".into()), ("sort", "desc".into())]),
            ),
        ])
    };
    let targets = flavour
        .targets(p)
        .iter()
        .zip('A'..)
        .map(|(target_spec, reference)| target(flavour, reference, target_spec))
        .collect();
    obj([
        ("id", id.into()),
        ("type", (if p.stat { "stat" } else { "timeseries" }).into()),
        ("title", p.title.into()),
        ("datasource", datasource(flavour)),
        (
            "gridPos",
            obj([
                ("x", x.into()),
                ("y", y.into()),
                ("w", w.into()),
                ("h", h.into()),
            ]),
        ),
        (
            "fieldConfig",
            obj([("defaults", defaults), ("overrides", Json::Array(vec![]))]),
        ),
        ("options", options),
        ("targets", Json::Array(targets)),
    ])
}

fn dashboard(board: &Board, flavour: Flavour) -> Json {
    let file = match flavour {
        Flavour::Prometheus => &board.prometheus,
        Flavour::Influxdb => &board.influxdb,
    };
    let mut panels = Vec::new();
    let mut id = 1;
    let mut y = 0;
    for (row_title, specs) in &board.rows {
        let present: Vec<&Panel> = specs
            .iter()
            .filter(|p| !flavour.targets(p).is_empty())
            .collect();
        if present.is_empty() {
            continue;
        }
        panels.push(obj([
            ("id", id.into()),
            ("type", "row".into()),
            ("title", (*row_title).into()),
            ("collapsed", false.into()),
            (
                "gridPos",
                obj([
                    ("x", 0i64.into()),
                    ("y", y.into()),
                    ("w", 24i64.into()),
                    ("h", 1i64.into()),
                ]),
            ),
            ("panels", Json::Array(vec![])),
        ]));
        id += 1;
        y += 1;
        let mut x = 0;
        let height = 8;
        for p in present {
            if x + p.width > 24 {
                x = 0;
                y += height;
            }
            panels.push(panel_json(flavour, p, id, x, y, p.width, height));
            id += 1;
            x += p.width;
        }
        y += height;
    }
    let (source_name, source_uid) = flavour.default_source();
    let node_query = match flavour {
        Flavour::Prometheus => obj([("query", file.nodes.into()), ("refId", "instance".into())]),
        Flavour::Influxdb => file.nodes.into(),
    };
    let mut tags = vec!["pimon"];
    tags.extend_from_slice(board.tags);
    tags.push(flavour.name());
    obj([
        ("uid", file.uid.into()),
        ("title", file.title.into()),
        ("description", board.description.into()),
        ("tags", tags.into()),
        ("editable", true.into()),
        ("graphTooltip", 1i64.into()),
        ("refresh", "30s".into()),
        ("schemaVersion", 39i64.into()),
        ("version", 1i64.into()),
        (
            "time",
            obj([("from", "now-6h".into()), ("to", "now".into())]),
        ),
        ("timezone", "".into()),
        ("annotations", obj([("list", Json::Array(vec![]))])),
        ("links", Json::Array(vec![])),
        (
            "templating",
            obj([(
                "list",
                Json::Array(vec![
                    obj([
                        ("name", "datasource".into()),
                        ("label", "Data source".into()),
                        ("type", "datasource".into()),
                        ("query", flavour.name().into()),
                        (
                            "current",
                            obj([("text", source_name.into()), ("value", source_uid.into())]),
                        ),
                        ("hide", 0i64.into()),
                        ("refresh", 1i64.into()),
                        ("regex", "".into()),
                    ]),
                    obj([
                        ("name", flavour.node_var().into()),
                        ("label", "Node".into()),
                        ("type", "query".into()),
                        ("datasource", datasource(flavour)),
                        ("definition", file.nodes.into()),
                        ("query", node_query),
                        ("refresh", 2i64.into()),
                        ("multi", true.into()),
                        ("includeAll", true.into()),
                        ("allValue", ".*".into()),
                        (
                            "current",
                            obj([
                                ("text", vec!["All"].into()),
                                ("value", vec!["$__all"].into()),
                            ]),
                        ),
                        ("sort", 1i64.into()),
                        ("hide", 0i64.into()),
                        ("regex", "".into()),
                    ]),
                ]),
            )]),
        ),
        ("panels", Json::Array(panels)),
    ])
}

/// Prometheus names the dashboards may use: the catalog's and the aggregator's.
fn known_prometheus_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CATALOG.iter().map(|m| m.prom_name).collect();
    for section in pimon_aggregator::self_metrics::doc_sections() {
        names.extend(section.rows.iter().map(|r| r.name));
    }
    names
}

/// InfluxDB measurements the dashboards may read: the catalog's and the aggregator's
/// own lines'.
fn known_measurements() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CATALOG
        .iter()
        .filter_map(|m| m.influx.as_ref().map(|s| s.measurement))
        .collect();
    names.extend(pimon_aggregator::self_lines::MEASUREMENTS);
    names
}

/// The metric-like words of a PromQL expression: identifiers with a `_` that are not
/// label names (`by (…)`, `label="…"`, `label_replace`'s arguments are quoted).
fn promql_metrics(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    let mut in_braces = false;
    let mut in_quotes = false;
    let mut in_by = 0usize;
    while i < bytes.len() {
        let c = bytes[i];
        if in_quotes {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_quotes = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => in_quotes = true,
            b'{' => in_braces = true,
            b'}' => in_braces = false,
            b'[' => {
                // A range: skip to `]`.
                while i < bytes.len() && bytes[i] != b']' {
                    i += 1;
                }
            }
            b')' if in_by > 0 => in_by = 0,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &expr[start..i];
                if word == "by" {
                    in_by = 1;
                } else if !in_braces
                    && in_by == 0
                    && word.contains('_')
                    && word != "label_replace"
                    && word != "label_values"
                    && !word.starts_with("__")
                {
                    out.push(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The measurements of an InfluxQL query (`FROM "name"`, or the names in a
/// `FROM /^(a|b)$/` regex).
fn influxql_measurements(query: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in query.split("FROM ").skip(1) {
        if let Some(rest) = part.strip_prefix('"')
            && let Some(end) = rest.find('"')
        {
            out.push(&rest[..end]);
        } else if let Some(rest) = part.strip_prefix("/^(")
            && let Some(end) = rest.find(")$/")
        {
            out.extend(rest[..end].split('|'));
        }
    }
    out
}

/// Every name the boards use exists; else what is missing, where.
fn check_names(boards: &[Board]) -> Result<(), String> {
    let prometheus = known_prometheus_names();
    let measurements = known_measurements();
    let mut problems = Vec::new();
    for board in boards {
        let queries = board
            .rows
            .iter()
            .flat_map(|(_, panels)| panels)
            .flat_map(|p| {
                p.prom
                    .iter()
                    .map(move |q| (p.title, Flavour::Prometheus, q))
                    .chain(
                        p.influx
                            .iter()
                            .map(move |q| (p.title, Flavour::Influxdb, q)),
                    )
            });
        let nodes = [
            (
                board.prometheus.title,
                Flavour::Prometheus,
                board.prometheus.nodes,
            ),
            (
                board.influxdb.title,
                Flavour::Influxdb,
                board.influxdb.nodes,
            ),
        ];
        let all = queries
            .map(|(title, flavour, (query, _))| (title, flavour, query.as_str()))
            .chain(nodes);
        for (title, flavour, query) in all {
            match flavour {
                Flavour::Prometheus => {
                    let query = query
                        .strip_prefix("label_values(")
                        .map_or(query, |q| q.split(',').next().unwrap_or(q));
                    for name in promql_metrics(query) {
                        if !prometheus.contains(&name) {
                            problems.push(format!(
                                "panel `{title}`: `{name}` is neither a catalog family nor one of the aggregator's metrics"
                            ));
                        }
                    }
                }
                Flavour::Influxdb => {
                    for name in influxql_measurements(query) {
                        if !measurements.contains(&name) {
                            problems.push(format!(
                                "panel `{title}`: measurement `{name}` is written neither by the catalog nor by the aggregator's own lines"
                            ));
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Every dashboard: (path from the repository's root, text).
pub fn generate() -> Result<Vec<(String, String)>, String> {
    let boards = boards();
    check_names(&boards)?;
    let mut files = Vec::new();
    for board in &boards {
        for flavour in Flavour::ALL {
            let file = match flavour {
                Flavour::Prometheus => board.prometheus.file,
                Flavour::Influxdb => board.influxdb.file,
            };
            files.push((format!("{DIR}/{file}"), dashboard(board, flavour).pretty()));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promql_metric_names_are_found_and_labels_are_not() {
        assert_eq!(
            promql_metrics(
                "topk(10, sum by (instance, namespace, pod) (rate(container_cpu_usage_seconds_total{instance=~\"$instance\", container!=\"\"}[$__rate_interval])))"
            ),
            vec!["container_cpu_usage_seconds_total"]
        );
        assert_eq!(
            promql_metrics(
                "node_memory_MemTotal_bytes{x=\"a_b\"} - node_memory_MemAvailable_bytes"
            ),
            vec![
                "node_memory_MemTotal_bytes",
                "node_memory_MemAvailable_bytes"
            ]
        );
    }

    #[test]
    fn a_panel_naming_a_metric_that_does_not_exist_fails_the_generator() {
        let mut boards = boards();
        boards[0].rows[0].1.push(
            panel("Typo", "none")
                .prom1("rate(node_cpu_second_total[5m])", "x")
                .influx1(flux("mean(\"x\")", "cpuu", "\"host\""), "x"),
        );
        let e = check_names(&boards).unwrap_err();
        assert!(e.contains("`node_cpu_second_total` is neither"), "{e}");
        assert!(e.contains("measurement `cpuu`"), "{e}");
        assert!(check_names(&self::boards()).is_ok());
    }
}
