//! The rows of the catalog and their [`id`] constants, generated from one list so the
//! two can never disagree.
//!
//! Sources of the names: node_exporter's collectors (`cpu`, `stat`, `meminfo`,
//! `loadavg`, `netdev`, `diskstats`, `filesystem`, `pressure`, `thermal_zone`, `hwmon`,
//! `cpufreq`) for Prometheus, and Telegraf's inputs (`cpu` with `collect_cpu_time`,
//! `mem`, `system`, `kernel`, `processes`, `net`, `diskio`, `disk`, `temp`, `linux_cpu`,
//! `kernel`'s `pressure`) for InfluxDB. Everything neither has is `pimon_`-prefixed.
//!
//! APPEND ONLY: new rows go at the end; never reorder, remove or reuse a row.

use super::Conversion::{self, Identity, PerUserHz, Scale};
use super::FieldKind::{self, Float, Integer};
use super::MetricType::{self, Counter, Gauge, Untyped};
use super::{InfluxSchema, Metric, TagRule};

/// Generates the private `Index` enum (which numbers the rows), the public [`id`]
/// constants and `ROWS`, from one list of `NAME = row;`.
macro_rules! catalog {
    ($($name:ident = $row:expr;)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        #[repr(u16)]
        enum Index { $($name,)* }

        /// The wire id of every catalog row, by name: `CATALOG[id::X as usize].id == id::X`.
        ///
        /// Names are systematic: source prefix (`CPU_`, `STAT_`, `LOAD`, `MEM_` + the
        /// `/proc/meminfo` key, `NET_`, `DISK_`, `FS_`, `PRESSURE_`, `THERMAL_`, `HWMON_`,
        /// `CPUFREQ_`, `RPI_`, `W1_`, `IIO_`, `I2C_`, `GPIO_`, `COLLECTOR_`, `KERNEL_`) and the
        /// quantity.
        pub mod id {
            $(
                #[doc = concat!("Wire id of the catalog row `", stringify!($name), "`.")]
                pub const $name: u16 = super::Index::$name as u16;
            )*
        }

        pub(super) const ROWS: &[Metric] = &[$(Metric { id: id::$name, ..$row },)*];
    };
}

/// A row without id (the macro sets it).
#[allow(clippy::too_many_arguments)]
const fn m(
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    labels: &'static [&'static str],
    const_labels: &'static [(&'static str, &'static str)],
    conversion: Conversion,
    influx: Option<InfluxSchema>,
) -> Metric {
    Metric {
        id: 0,
        prom_name,
        metric_type,
        help: if cfg!(feature = "help") { help } else { "" },
        unit,
        labels,
        const_labels,
        conversion,
        influx,
    }
}

/// An InfluxDB schema.
const fn ix(
    measurement: &'static str,
    field: &'static str,
    tags: &'static [&'static str],
    tag_rules: &'static [TagRule],
    const_tags: &'static [(&'static str, &'static str)],
    conversion: Conversion,
    kind: FieldKind,
) -> Option<InfluxSchema> {
    Some(InfluxSchema {
        measurement,
        field,
        tags,
        const_tags,
        tag_rules,
        conversion,
        kind,
    })
}

/// An InfluxDB schema without tags.
const fn ix0(
    measurement: &'static str,
    field: &'static str,
    conversion: Conversion,
    kind: FieldKind,
) -> Option<InfluxSchema> {
    ix(measurement, field, &[], &[], &[], conversion, kind)
}

// ---- /proc/stat per CPU, cpufreq --------------------------------------------------

const CPU: &[&str] = &["cpu"];

const fn cpu_seconds(mode: &'static [(&'static str, &'static str)], field: &'static str) -> Metric {
    m(
        Counter,
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
        "seconds",
        CPU,
        mode,
        PerUserHz,
        ix(
            "cpu",
            field,
            CPU,
            &[TagRule::Prefix("cpu")],
            &[],
            PerUserHz,
            Float,
        ),
    )
}

const fn cpu_guest_seconds(
    mode: &'static [(&'static str, &'static str)],
    field: &'static str,
) -> Metric {
    m(
        Counter,
        "node_cpu_guest_seconds_total",
        "Seconds the CPUs spent in guests (VMs) for each mode.",
        "seconds",
        CPU,
        mode,
        PerUserHz,
        ix(
            "cpu",
            field,
            CPU,
            &[TagRule::Prefix("cpu")],
            &[],
            PerUserHz,
            Float,
        ),
    )
}

/// cpufreq files are in kHz; node_exporter exports hertz, Telegraf's `linux_cpu` kHz.
const fn cpufreq(prom_name: &'static str, help: &'static str, field: &'static str) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        "hertz",
        CPU,
        &[],
        Scale(1000.0),
        ix("linux_cpu", field, CPU, &[], &[], Identity, Integer),
    )
}

// ---- /proc/meminfo ------------------------------------------------------------------

/// A `/proc/meminfo` field in kB, exported in bytes.
const fn mem_bytes(
    prom_name: &'static str,
    help: &'static str,
    influx: Option<InfluxSchema>,
) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        "bytes",
        &[],
        &[],
        Scale(1024.0),
        influx,
    )
}

/// A `/proc/meminfo` field without unit (the `HugePages_*` page counts).
const fn mem_count(
    prom_name: &'static str,
    help: &'static str,
    influx: Option<InfluxSchema>,
) -> Metric {
    m(Gauge, prom_name, help, "", &[], &[], Identity, influx)
}

/// A Telegraf `mem` field in bytes.
const fn tg_mem(field: &'static str) -> Option<InfluxSchema> {
    ix0("mem", field, Scale(1024.0), Integer)
}

/// A field of the `pimon_meminfo` measurement (meminfo keys Telegraf's `mem` lacks).
const fn px_mem(field: &'static str) -> Option<InfluxSchema> {
    ix0("pimon_meminfo", field, Scale(1024.0), Integer)
}

/// node_exporter's row for a meminfo key with a kB unit: `node_memory_<Key>_bytes`.
macro_rules! mem {
    ($key:literal, $influx:expr) => {
        mem_bytes(
            concat!("node_memory_", $key, "_bytes"),
            concat!("Memory information field ", $key, "_bytes."),
            $influx,
        )
    };
}

/// node_exporter's row for a meminfo key without unit: `node_memory_<Key>`.
macro_rules! mem_pages {
    ($key:literal, $influx:expr) => {
        mem_count(
            concat!("node_memory_", $key),
            concat!("Memory information field ", $key, "."),
            $influx,
        )
    };
}

/// The label of the meminfo rows named by their key ([`super::sample_name`]).
const MEMINFO_KEY: &[&str] = &["key"];

// ---- /proc/net/dev --------------------------------------------------------------------

const DEVICE: &[&str] = &["device"];
const INTERFACE: &[&str] = &["interface"];

const fn net(prom_name: &'static str, help: &'static str, influx: Option<InfluxSchema>) -> Metric {
    m(Counter, prom_name, help, "", DEVICE, &[], Identity, influx)
}

const fn net_bytes(
    prom_name: &'static str,
    help: &'static str,
    influx: Option<InfluxSchema>,
) -> Metric {
    m(
        Counter,
        prom_name,
        help,
        "bytes",
        DEVICE,
        &[],
        Identity,
        influx,
    )
}

const fn tg_net(field: &'static str) -> Option<InfluxSchema> {
    ix("net", field, INTERFACE, &[], &[], Identity, Integer)
}

const fn px_net(field: &'static str) -> Option<InfluxSchema> {
    ix("pimon_net", field, INTERFACE, &[], &[], Identity, Integer)
}

// ---- /proc/diskstats --------------------------------------------------------------------

const NAME: &[&str] = &["name"];

const fn disk(
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    conversion: Conversion,
    influx: Option<InfluxSchema>,
) -> Metric {
    m(
        metric_type,
        prom_name,
        help,
        unit,
        DEVICE,
        &[],
        conversion,
        influx,
    )
}

/// Telegraf `diskio` field; `conversion` from the raw diskstats unit.
const fn tg_diskio(field: &'static str, conversion: Conversion) -> Option<InfluxSchema> {
    ix("diskio", field, NAME, &[], &[], conversion, Integer)
}

const fn px_diskio(field: &'static str) -> Option<InfluxSchema> {
    ix("pimon_diskio", field, NAME, &[], &[], Identity, Integer)
}

/// Milliseconds (the kernel's unit for diskstats times) → seconds.
const MS: Conversion = Scale(0.001);

// ---- filesystems ----------------------------------------------------------------------

const FS: &[&str] = &["device", "fstype", "mountpoint"];
const FS_TAGS: &[&str] = &["device", "fstype", "path"];
/// Telegraf's `disk` drops `/dev/` from the device.
const FS_RULES: &[TagRule] = &[
    TagRule::StripPrefix("/dev/"),
    TagRule::Verbatim,
    TagRule::Verbatim,
];

const fn fs(
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    influx: Option<InfluxSchema>,
) -> Metric {
    m(Gauge, prom_name, help, unit, FS, &[], Identity, influx)
}

const fn tg_disk(field: &'static str) -> Option<InfluxSchema> {
    ix("disk", field, FS_TAGS, FS_RULES, &[], Identity, Integer)
}

const fn px_fs(field: &'static str) -> Option<InfluxSchema> {
    ix(
        "pimon_filesystem",
        field,
        FS_TAGS,
        FS_RULES,
        &[],
        Identity,
        Integer,
    )
}

// ---- /proc/pressure ---------------------------------------------------------------------

/// PSI `total=` is microseconds; Telegraf's `pressure` measurement keeps them.
const fn pressure(
    prom_name: &'static str,
    help: &'static str,
    tags: &'static [(&'static str, &'static str)],
) -> Metric {
    m(
        Counter,
        prom_name,
        help,
        "seconds",
        &[],
        &[],
        Scale(0.000_001),
        ix("pressure", "total", &[], &[], tags, Identity, Integer),
    )
}

// ---- hwmon ------------------------------------------------------------------------------

const HWMON: &[&str] = &["chip", "sensor"];

/// A hwmon value; `conversion` from the sysfs unit (milli-, micro-) to the SI unit.
const fn hwmon(
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    conversion: Conversion,
    field: &'static str,
) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        unit,
        HWMON,
        &[],
        conversion,
        ix("pimon_hwmon", field, HWMON, &[], &[], conversion, Float),
    )
}

/// A hwmon `*_alarm` limit flag that node_exporter names and scales as a value of its
/// sensor's unit (`temp1_crit_alarm` → `node_hwmon_temp_crit_alarm_celsius`, 0.001 per
/// raised alarm); InfluxDB gets the plain 0/1.
const fn hwmon_alarm(
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    conversion: Conversion,
    field: &'static str,
) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        unit,
        HWMON,
        &[],
        conversion,
        ix("pimon_hwmon", field, HWMON, &[], &[], Identity, Integer),
    )
}

/// A hwmon `alarm` status, unitless 0/1 (`node_hwmon_temp_alarm`).
const fn hwmon_status(prom_name: &'static str, help: &'static str, field: &'static str) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        "",
        HWMON,
        &[],
        Identity,
        ix("pimon_hwmon", field, HWMON, &[], &[], Identity, Integer),
    )
}

// ---- Raspberry Pi firmware get_throttled ---------------------------------------------------

const fn rpi(prom_name: &'static str, help: &'static str, field: &'static str) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        "",
        &[],
        &[],
        Identity,
        ix0("pimon_rpi", field, Identity, Integer),
    )
}

// ---- sensors ------------------------------------------------------------------------------

const SENSOR: &[&str] = &["sensor"];
const IIO: &[&str] = &["device", "name"];

#[allow(clippy::too_many_arguments)]
const fn sensor(
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    labels: &'static [&'static str],
    conversion: Conversion,
    measurement: &'static str,
    field: &'static str,
) -> Metric {
    m(
        Gauge,
        prom_name,
        help,
        unit,
        labels,
        &[],
        conversion,
        ix(measurement, field, labels, &[], &[], conversion, Float),
    )
}

// ---- the collector's own figures -------------------------------------------------------------

const fn collector_counter(
    prom_name: &'static str,
    help: &'static str,
    field: &'static str,
) -> Metric {
    m(
        Counter,
        prom_name,
        help,
        "",
        &[],
        &[],
        Identity,
        ix0("pimon_collector", field, Identity, Integer),
    )
}

// ---- cgroups: services, Kubernetes containers and pods, Docker/Podman containers -------

/// The cAdvisor side of a cgroup metric (the same for every kind of workload).
struct CgroupProm {
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    const_labels: &'static [(&'static str, &'static str)],
    conversion: Conversion,
}

/// Microseconds (cgroup `cpu.stat`, PSI) → seconds.
const US: Conversion = Scale(0.000_001);
/// Microseconds → nanoseconds (Telegraf's unit for container CPU times).
const US_TO_NS: Conversion = Scale(1000.0);

const fn cgp(
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    conversion: Conversion,
) -> CgroupProm {
    CgroupProm {
        metric_type,
        prom_name,
        help,
        unit,
        const_labels: &[],
        conversion,
    }
}

/// Number of metrics sent per cgroup; each kind of workload has one row per metric, in
/// this order, with consecutive ids (`<first id of the kind> + index`).
pub const CGROUP_METRICS: usize = 24;

/// cAdvisor's names, help texts and units (`lib/metrics/prometheus.go`), in the order
/// the collector sends them. `container_cpu_usage_seconds_total` carries cAdvisor's
/// `cpu="total"` (cgroup v2 has no per-CPU usage).
const CGROUP_PROM: [CgroupProm; CGROUP_METRICS] = [
    CgroupProm {
        const_labels: &[("cpu", "total")],
        ..cgp(
            Counter,
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            "seconds",
            US,
        )
    },
    cgp(
        Counter,
        "container_cpu_user_seconds_total",
        "Cumulative user cpu time consumed in seconds.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_cpu_system_seconds_total",
        "Cumulative system cpu time consumed in seconds.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_cpu_cfs_periods_total",
        "Number of elapsed enforcement period intervals.",
        "",
        Identity,
    ),
    cgp(
        Counter,
        "container_cpu_cfs_throttled_periods_total",
        "Number of throttled period intervals.",
        "",
        Identity,
    ),
    cgp(
        Counter,
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled.",
        "seconds",
        US,
    ),
    cgp(
        Gauge,
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        "bytes",
        Identity,
    ),
    cgp(
        Gauge,
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        "bytes",
        Identity,
    ),
    cgp(
        Gauge,
        "container_memory_rss",
        "Size of RSS in bytes.",
        "",
        Identity,
    ),
    cgp(
        Gauge,
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        "",
        Identity,
    ),
    cgp(
        Gauge,
        "container_memory_swap",
        "Container swap usage in bytes.",
        "",
        Identity,
    ),
    cgp(
        Gauge,
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        "bytes",
        Identity,
    ),
    cgp(
        Counter,
        "container_oom_events_total",
        "Count of out of memory events observed for the container",
        "",
        Identity,
    ),
    cgp(
        Counter,
        "container_fs_reads_bytes_total",
        "Cumulative count of bytes read",
        "bytes",
        Identity,
    ),
    cgp(
        Counter,
        "container_fs_writes_bytes_total",
        "Cumulative count of bytes written",
        "bytes",
        Identity,
    ),
    cgp(
        Counter,
        "container_fs_reads_total",
        "Cumulative count of reads completed",
        "",
        Identity,
    ),
    cgp(
        Counter,
        "container_fs_writes_total",
        "Cumulative count of writes completed",
        "",
        Identity,
    ),
    cgp(
        Gauge,
        "container_threads",
        "Number of threads running inside the container",
        "",
        Identity,
    ),
    cgp(
        Counter,
        "container_pressure_cpu_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to CPU congestion.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_pressure_cpu_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to CPU congestion.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_pressure_memory_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to memory congestion.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_pressure_memory_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to memory congestion.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_pressure_io_waiting_seconds_total",
        "Total time duration tasks in the container have waited due to IO congestion.",
        "seconds",
        US,
    ),
    cgp(
        Counter,
        "container_pressure_io_stalled_seconds_total",
        "Total time duration no tasks in the container could make progress due to IO congestion.",
        "seconds",
        US,
    ),
];

/// Where one cgroup metric goes in InfluxDB for one kind of workload.
struct CgroupField {
    measurement: &'static str,
    field: &'static str,
    conversion: Conversion,
    const_tags: &'static [(&'static str, &'static str)],
}

const fn cgf(
    measurement: &'static str,
    field: &'static str,
    conversion: Conversion,
) -> CgroupField {
    CgroupField {
        measurement,
        field,
        conversion,
        const_tags: &[],
    }
}

/// The fields of a `pimon_*` measurement (what Telegraf has no field for), in
/// [`CGROUP_PROM`] order; integers, CPU times in nanoseconds like Telegraf's, PSI in
/// microseconds like Telegraf's `pressure.total`.
const fn pimon_cgroup_fields(measurement: &'static str) -> [CgroupField; CGROUP_METRICS] {
    [
        cgf(measurement, "cpu_usage_nanoseconds", US_TO_NS),
        cgf(measurement, "cpu_user_nanoseconds", US_TO_NS),
        cgf(measurement, "cpu_system_nanoseconds", US_TO_NS),
        cgf(measurement, "cpu_periods", Identity),
        cgf(measurement, "cpu_throttled_periods", Identity),
        cgf(measurement, "cpu_throttled_nanoseconds", US_TO_NS),
        cgf(measurement, "memory_usage_bytes", Identity),
        cgf(measurement, "memory_working_set_bytes", Identity),
        cgf(measurement, "memory_rss_bytes", Identity),
        cgf(measurement, "memory_cache_bytes", Identity),
        cgf(measurement, "memory_swap_bytes", Identity),
        cgf(measurement, "memory_limit_bytes", Identity),
        cgf(measurement, "oom_kills", Identity),
        cgf(measurement, "io_read_bytes", Identity),
        cgf(measurement, "io_write_bytes", Identity),
        cgf(measurement, "io_reads", Identity),
        cgf(measurement, "io_writes", Identity),
        cgf(measurement, "tasks", Identity),
        cgf(measurement, "pressure_cpu_some_us", Identity),
        cgf(measurement, "pressure_cpu_full_us", Identity),
        cgf(measurement, "pressure_memory_some_us", Identity),
        cgf(measurement, "pressure_memory_full_us", Identity),
        cgf(measurement, "pressure_io_some_us", Identity),
        cgf(measurement, "pressure_io_full_us", Identity),
    ]
}

/// A kind of workload: its instance labels (cAdvisor's that have a value for it; at
/// most 4 travel on the wire) and its InfluxDB tags and fields.
struct Workload {
    labels: &'static [&'static str],
    /// One per label; `""` leaves the label out of InfluxDB (the cgroup path `id`,
    /// which Telegraf does not tag either).
    tags: &'static [&'static str],
    tag_rules: &'static [TagRule],
    fields: [CgroupField; CGROUP_METRICS],
}

/// Replaces field `i` of `fields` (const fn: arrays cannot be indexed mutably by
/// spread syntax).
const fn with_field(
    mut fields: [CgroupField; CGROUP_METRICS],
    i: usize,
    field: CgroupField,
) -> [CgroupField; CGROUP_METRICS] {
    fields[i] = field;
    fields
}

/// Applies [`with_field`] for each `(index, field)`.
macro_rules! fields {
    ($base:expr $(, $i:literal => $field:expr)* $(,)?) => {{
        let f = $base;
        $(let f = with_field(f, $i, $field);)*
        f
    }};
}

const CPU_TOTAL: &[(&str, &str)] = &[("cpu", "cpu-total")];
const DEVICE_TOTAL: &[(&str, &str)] = &[("device", "total")];

/// A Telegraf `docker_container_*` field.
const fn docker(
    measurement: &'static str,
    field: &'static str,
    conversion: Conversion,
    const_tags: &'static [(&'static str, &'static str)],
) -> CgroupField {
    CgroupField {
        measurement,
        field,
        conversion,
        const_tags,
    }
}

/// A Kubernetes container (`kubepods…/pod<uid>/<container id>`): Telegraf's
/// `kubernetes_pod_container` where it has the field.
const K8S_CONTAINER: Workload = Workload {
    labels: &["namespace", "pod", "container", "id"],
    tags: &["namespace", "pod_name", "container_name", ""],
    tag_rules: &[],
    fields: fields!(pimon_cgroup_fields("pimon_kubernetes_pod_container"),
        0 => cgf("kubernetes_pod_container", "cpu_usage_core_nanoseconds", US_TO_NS),
        6 => cgf("kubernetes_pod_container", "memory_usage_bytes", Identity),
        7 => cgf("kubernetes_pod_container", "memory_working_set_bytes", Identity),
        8 => cgf("kubernetes_pod_container", "memory_rss_bytes", Identity),
    ),
};

/// A Kubernetes pod (`kubepods…/pod<uid>`, all its containers and the sandbox):
/// Telegraf has no pod measurement.
const K8S_POD: Workload = Workload {
    labels: &["namespace", "pod", "id"],
    tags: &["namespace", "pod_name", ""],
    tag_rules: &[],
    fields: pimon_cgroup_fields("pimon_kubernetes_pod"),
};

/// A Docker or Podman container: Telegraf's `docker_container_cpu` (`cpu=cpu-total`),
/// `_mem` (`usage` is its working set, usage − inactive_file) and `_blkio`
/// (`device=total`).
const DOCKER_CONTAINER: Workload = Workload {
    labels: &["name", "id"],
    tags: &["container_name", ""],
    tag_rules: &[],
    fields: fields!(pimon_cgroup_fields("pimon_docker_container"),
        0 => docker("docker_container_cpu", "usage_total", US_TO_NS, CPU_TOTAL),
        1 => docker("docker_container_cpu", "usage_in_usermode", US_TO_NS, CPU_TOTAL),
        2 => docker("docker_container_cpu", "usage_in_kernelmode", US_TO_NS, CPU_TOTAL),
        3 => docker("docker_container_cpu", "throttling_periods", Identity, CPU_TOTAL),
        4 => docker("docker_container_cpu", "throttling_throttled_periods", Identity, CPU_TOTAL),
        5 => docker("docker_container_cpu", "throttling_throttled_time", US_TO_NS, CPU_TOTAL),
        7 => docker("docker_container_mem", "usage", Identity, &[]),
        11 => docker("docker_container_mem", "limit", Identity, &[]),
        13 => docker("docker_container_blkio", "io_service_bytes_recursive_read", Identity,
            DEVICE_TOTAL),
        14 => docker("docker_container_blkio", "io_service_bytes_recursive_write", Identity,
            DEVICE_TOTAL),
        15 => docker("docker_container_blkio", "io_serviced_recursive_read", Identity,
            DEVICE_TOTAL),
        16 => docker("docker_container_blkio", "io_serviced_recursive_write", Identity,
            DEVICE_TOTAL),
    ),
};

/// A systemd service (`system.slice/…/<unit>.service`): Telegraf's `systemd_units`
/// (tag `name` = the unit) for `mem_current` and `swap_current`.
const SYSTEMD_SERVICE: Workload = Workload {
    labels: &["id"],
    tags: &["name"],
    tag_rules: &[TagRule::LastSegment],
    fields: fields!(pimon_cgroup_fields("pimon_systemd_unit"),
        6 => cgf("systemd_units", "mem_current", Identity),
        10 => cgf("systemd_units", "swap_current", Identity),
    ),
};

/// The row of metric `i` (in [`CGROUP_PROM`] order) for workload `w`.
const fn cg(w: &Workload, i: usize) -> Metric {
    let p = &CGROUP_PROM[i];
    let f = &w.fields[i];
    Metric {
        const_labels: p.const_labels,
        ..m(
            p.metric_type,
            p.prom_name,
            p.help,
            p.unit,
            w.labels,
            &[],
            p.conversion,
            ix(
                f.measurement,
                f.field,
                w.tags,
                w.tag_rules,
                f.const_tags,
                f.conversion,
                Integer,
            ),
        )
    }
}

// ---- Telegraf's inputs: what its schema needs beyond node_exporter's families ---------

/// A mode of the `/proc/stat` `cpu` line (all CPUs together): Telegraf's `cpu-total`.
const fn cpu_total_seconds(
    mode: &'static [(&'static str, &'static str)],
    field: &'static str,
) -> Metric {
    m(
        Counter,
        "pimon_cpu_total_seconds_total",
        "Seconds all CPUs together spent in each mode: the cpu line of /proc/stat (guest and guest_nice are also counted in user and nice).",
        "seconds",
        &[],
        mode,
        PerUserHz,
        ix(
            "cpu",
            field,
            &[],
            &[],
            &[("cpu", "cpu-total")],
            PerUserHz,
            Float,
        ),
    )
}

/// node_exporter's `node_processes_state`: processes in one state (`/proc/[pid]/stat`).
const fn process_state(
    state: &'static [(&'static str, &'static str)],
    field: &'static str,
) -> Metric {
    m(
        Gauge,
        "node_processes_state",
        "Number of processes in each state.",
        "",
        &[],
        state,
        Identity,
        ix0("processes", field, Identity, Integer),
    )
}

/// node_exporter's `node_processes_threads_state`: threads in one state (Telegraf has
/// none: `pimon_processes`).
const fn thread_state(
    state: &'static [(&'static str, &'static str)],
    field: &'static str,
) -> Metric {
    m(
        Gauge,
        "node_processes_threads_state",
        "Number of threads in each state.",
        "",
        &[],
        state,
        Identity,
        ix0("pimon_processes", field, Identity, Integer),
    )
}

// ---- /proc/net/{netstat,snmp,snmp6,sockstat,sockstat6,softnet_stat}, /proc/vmstat --------

/// A row of node_exporter's `netstat` collector: `node_netstat_<Proto>_<Field>`, untyped,
/// help `Statistic <Proto><Field>.`; Telegraf's `nstat` field `<Proto><Field>` under the
/// tag `name` = the file. Only the fields node_exporter's default
/// `--collector.netstat.fields` keeps have a row: the rows are the filter.
macro_rules! netstat {
    ($file:literal, $proto:literal, $field:literal) => {
        m(
            Untyped,
            concat!("node_netstat_", $proto, "_", $field),
            concat!("Statistic ", $proto, $field, "."),
            "",
            &[],
            &[],
            Identity,
            ix(
                "nstat",
                concat!($proto, $field),
                &[],
                &[],
                &[("name", $file)],
                Identity,
                Integer,
            ),
        )
    };
}

/// node_exporter's `node_interrupts_total` for the CPU of constant label `cpu` (labels
/// `type`: the IRQ's name, `info`, `devices`), and Telegraf's `interrupts` field
/// `CPU<n>` (tags `irq`, `type`, `device`): one row per CPU, so an IRQ's counts share one
/// label set and make one Telegraf line. `total` is computed by the aggregator.
const fn interrupts(cpu: &'static [(&'static str, &'static str)], field: &'static str) -> Metric {
    m(
        Counter,
        "node_interrupts_total",
        "Interrupt details.",
        "",
        &["type", "info", "devices"],
        cpu,
        Identity,
        ix(
            "interrupts",
            field,
            &["irq", "type", "device"],
            &[],
            &[],
            Identity,
            Integer,
        ),
    )
}

/// A row of node_exporter's `sockstat` collector: `node_sockstat_<PROTO>_<key>`, gauge,
/// help `Number of <PROTO> sockets in state <key>.`. Telegraf has no such input:
/// `pimon_sockstat`, the field lower-cased.
macro_rules! sockstat {
    ($proto:literal, $key:literal, $field:literal) => {
        sockstat!($proto, $key, $field, "", Identity)
    };
    ($proto:literal, $key:literal, $field:literal, $unit:literal, $conv:expr) => {
        m(
            Gauge,
            concat!("node_sockstat_", $proto, "_", $key),
            concat!("Number of ", $proto, " sockets in state ", $key, "."),
            $unit,
            &[],
            &[],
            $conv,
            ix0("pimon_sockstat", $field, $conv, Integer),
        )
    };
}

/// A row of node_exporter's `vmstat` collector (untyped, as node_exporter has it), and
/// Telegraf's `kernel_vmstat` field of the same name.
macro_rules! vmstat {
    ($field:literal) => {
        m(
            Untyped,
            concat!("node_vmstat_", $field),
            concat!("/proc/vmstat information field ", $field, "."),
            "",
            &[],
            &[],
            Identity,
            ix0("kernel_vmstat", $field, Identity, Integer),
        )
    };
}

/// A row of node_exporter's `softnet` collector, per CPU (label `cpu`).
const fn softnet(
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    field: &'static str,
) -> Metric {
    m(
        metric_type,
        prom_name,
        help,
        "",
        CPU,
        &[],
        Identity,
        ix("pimon_softnet", field, CPU, &[], &[], Identity, Integer),
    )
}

/// A row of node_exporter's `udp_queues` (constant labels `ip` and `queue`).
macro_rules! udp_queues {
    ($ip:literal, $queue:literal) => {
        m(
            Gauge,
            "node_udp_queues",
            "Number of allocated memory in the kernel for UDP datagrams in bytes.",
            "",
            &[],
            &[("ip", $ip), ("queue", $queue)],
            Identity,
            ix(
                "pimon_udp_queues",
                "bytes",
                &[],
                &[],
                &[("ip", $ip), ("queue", $queue)],
                Identity,
                Integer,
            ),
        )
    };
}

/// A `/sys/class/power_supply/<supply>/` integer file under node_exporter's name
/// (label `power_supply`); InfluxDB gets it in `pimon_power_supply`.
macro_rules! power_supply {
    ($name:literal, $unit:literal, $conversion:expr, $kind:expr) => {
        m(
            Gauge,
            concat!("node_power_supply_", $name),
            concat!($name, " value of /sys/class/power_supply/<power_supply>."),
            $unit,
            &["power_supply"],
            &[],
            $conversion,
            ix(
                "pimon_power_supply",
                $name,
                &["power_supply"],
                &[],
                &[],
                $conversion,
                $kind,
            ),
        )
    };
}

/// `node_power_supply_info`'s labels: the supply, then its text files (the collector
/// reads the files by these names).
pub const POWER_SUPPLY_INFO_LABELS: &[&str] = &[
    "power_supply",
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "scope",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
];

/// Its InfluxDB tags: a line holds at most 8 with `host`, so `charge_type`, `health`,
/// `scope`, `serial_number` and `usb_type` (a serial number would also make a series per
/// battery swap) have no tag key.
const POWER_SUPPLY_INFO_TAGS: &[&str] = &[
    "power_supply",
    "capacity_level",
    "",
    "",
    "manufacturer",
    "model_name",
    "",
    "",
    "status",
    "technology",
    "type",
    "",
];

// ---- /sys/class/net (node_exporter's netclass) -----------------------------------------

/// A `/sys/class/net/<device>/` attribute under node_exporter's netclass name (label
/// `device`); InfluxDB gets it in `pimon_netclass` (Telegraf has no such input).
const fn netclass(
    metric_type: MetricType,
    prom_name: &'static str,
    help: &'static str,
    unit: &'static str,
    conversion: Conversion,
    field: &'static str,
) -> Metric {
    m(
        metric_type,
        prom_name,
        help,
        unit,
        DEVICE,
        &[],
        conversion,
        ix(
            "pimon_netclass",
            field,
            INTERFACE,
            &[],
            &[],
            Identity,
            Integer,
        ),
    )
}

/// node_exporter's info labels of a network device, in its order.
const NETCLASS_INFO_LABELS: &[&str] = &[
    "device",
    "address",
    "broadcast",
    "duplex",
    "operstate",
    "adminstate",
    "ifalias",
];
const NETCLASS_INFO_TAGS: &[&str] = &[
    "interface",
    "address",
    "broadcast",
    "duplex",
    "operstate",
    "adminstate",
    "ifalias",
];

/// adjtimex(2)'s scaled ppm (parts per million × 2^16, `ppsfreq`, `stabil`) → a ratio,
/// as node_exporter divides (`ppm16frac`): 1 / (10^6 × 2^16).
pub const PER_SCALED_PPM: f64 = 1.0 / 65_536_000_000.0;

catalog! {
    // /proc/stat, per CPU (label `cpu` = CPU number, "0"); USER_HZ ticks.
    CPU_SECONDS_USER = cpu_seconds(&[("mode", "user")], "time_user");
    CPU_SECONDS_NICE = cpu_seconds(&[("mode", "nice")], "time_nice");
    CPU_SECONDS_SYSTEM = cpu_seconds(&[("mode", "system")], "time_system");
    CPU_SECONDS_IDLE = cpu_seconds(&[("mode", "idle")], "time_idle");
    CPU_SECONDS_IOWAIT = cpu_seconds(&[("mode", "iowait")], "time_iowait");
    CPU_SECONDS_IRQ = cpu_seconds(&[("mode", "irq")], "time_irq");
    CPU_SECONDS_SOFTIRQ = cpu_seconds(&[("mode", "softirq")], "time_softirq");
    CPU_SECONDS_STEAL = cpu_seconds(&[("mode", "steal")], "time_steal");
    CPU_GUEST_SECONDS_USER = cpu_guest_seconds(&[("mode", "user")], "time_guest");
    CPU_GUEST_SECONDS_NICE = cpu_guest_seconds(&[("mode", "nice")], "time_guest_nice");
    // cpufreq, per CPU; kHz.
    CPUFREQ_SCALING_CUR = cpufreq(
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
        "scaling_cur_freq",
    );
    CPUFREQ_SCALING_MIN = cpufreq(
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
        "scaling_min_freq",
    );
    CPUFREQ_SCALING_MAX = cpufreq(
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
        "scaling_max_freq",
    );

    // /proc/stat, whole system.
    STAT_CONTEXT_SWITCHES = m(Counter, "node_context_switches_total",
        "Total number of context switches.", "", &[], &[], Identity,
        ix0("kernel", "context_switches", Identity, Integer));
    STAT_INTERRUPTS = m(Counter, "node_intr_total",
        "Total number of interrupts serviced.", "", &[], &[], Identity,
        ix0("kernel", "interrupts", Identity, Integer));
    STAT_FORKS = m(Counter, "node_forks_total",
        "Total number of forks.", "", &[], &[], Identity,
        ix0("kernel", "processes_forked", Identity, Integer));
    // Threads, not processes: Telegraf's processes.running and .blocked come from the
    // /proc/[pid] scan (PROCESSES_STATE_R, _D).
    STAT_PROCS_RUNNING = m(Gauge, "node_procs_running",
        "Number of processes in runnable state.", "", &[], &[], Identity,
        ix0("pimon_kernel", "procs_running", Identity, Integer));
    STAT_PROCS_BLOCKED = m(Gauge, "node_procs_blocked",
        "Number of processes blocked waiting for I/O to complete.", "", &[], &[], Identity,
        ix0("pimon_kernel", "procs_blocked", Identity, Integer));
    STAT_BOOT_TIME = m(Gauge, "node_boot_time_seconds",
        "Node boot time, in unixtime.", "seconds", &[], &[], Identity,
        ix0("kernel", "boot_time", Identity, Integer));

    // /proc/loadavg (hundredths on the wire), /proc/uptime (hundredths of a second).
    LOAD1 = m(Gauge, "node_load1", "1m load average.", "", &[], &[], Scale(0.01),
        ix0("system", "load1", Scale(0.01), Float));
    LOAD5 = m(Gauge, "node_load5", "5m load average.", "", &[], &[], Scale(0.01),
        ix0("system", "load5", Scale(0.01), Float));
    LOAD15 = m(Gauge, "node_load15", "15m load average.", "", &[], &[], Scale(0.01),
        ix0("system", "load15", Scale(0.01), Float));
    UPTIME = m(Gauge, "pimon_uptime_seconds",
        "Seconds since the node booted, from /proc/uptime.", "seconds", &[], &[], Scale(0.01),
        ix0("system", "uptime", Scale(0.01), Integer));

    // /proc/meminfo, in the kernel's order; kB on the wire. Telegraf's `mem.cached` is
    // Cached + SReclaimable, so Cached goes to `pimon_meminfo`.
    MEM_MEMTOTAL = mem!("MemTotal", tg_mem("total"));
    MEM_MEMFREE = mem!("MemFree", tg_mem("free"));
    MEM_MEMAVAILABLE = mem!("MemAvailable", tg_mem("available"));
    MEM_BUFFERS = mem!("Buffers", tg_mem("buffered"));
    MEM_CACHED = mem!("Cached", px_mem("cached"));
    MEM_SWAPCACHED = mem!("SwapCached", tg_mem("swap_cached"));
    MEM_ACTIVE = mem!("Active", tg_mem("active"));
    MEM_INACTIVE = mem!("Inactive", tg_mem("inactive"));
    MEM_ACTIVE_ANON = mem!("Active_anon", px_mem("active_anon"));
    MEM_INACTIVE_ANON = mem!("Inactive_anon", px_mem("inactive_anon"));
    MEM_ACTIVE_FILE = mem!("Active_file", px_mem("active_file"));
    MEM_INACTIVE_FILE = mem!("Inactive_file", px_mem("inactive_file"));
    MEM_UNEVICTABLE = mem!("Unevictable", px_mem("unevictable"));
    MEM_MLOCKED = mem!("Mlocked", px_mem("mlocked"));
    MEM_HIGHTOTAL = mem!("HighTotal", tg_mem("high_total"));
    MEM_HIGHFREE = mem!("HighFree", tg_mem("high_free"));
    MEM_LOWTOTAL = mem!("LowTotal", tg_mem("low_total"));
    MEM_LOWFREE = mem!("LowFree", tg_mem("low_free"));
    MEM_MMAPCOPY = mem!("MmapCopy", px_mem("mmap_copy"));
    MEM_SWAPTOTAL = mem!("SwapTotal", tg_mem("swap_total"));
    MEM_SWAPFREE = mem!("SwapFree", tg_mem("swap_free"));
    MEM_ZSWAP = mem!("Zswap", px_mem("zswap"));
    MEM_ZSWAPPED = mem!("Zswapped", px_mem("zswapped"));
    MEM_DIRTY = mem!("Dirty", tg_mem("dirty"));
    MEM_WRITEBACK = mem!("Writeback", tg_mem("write_back"));
    MEM_ANONPAGES = mem!("AnonPages", px_mem("anon_pages"));
    MEM_MAPPED = mem!("Mapped", tg_mem("mapped"));
    MEM_SHMEM = mem!("Shmem", tg_mem("shared"));
    MEM_KRECLAIMABLE = mem!("KReclaimable", px_mem("kreclaimable"));
    MEM_SLAB = mem!("Slab", tg_mem("slab"));
    MEM_SRECLAIMABLE = mem!("SReclaimable", tg_mem("sreclaimable"));
    MEM_SUNRECLAIM = mem!("SUnreclaim", tg_mem("sunreclaim"));
    MEM_KERNELSTACK = mem!("KernelStack", px_mem("kernel_stack"));
    MEM_SHADOWCALLSTACK = mem!("ShadowCallStack", px_mem("shadow_call_stack"));
    MEM_PAGETABLES = mem!("PageTables", tg_mem("page_tables"));
    MEM_SECPAGETABLES = mem!("SecPageTables", px_mem("sec_page_tables"));
    MEM_NFS_UNSTABLE = mem!("NFS_Unstable", px_mem("nfs_unstable"));
    MEM_BOUNCE = mem!("Bounce", px_mem("bounce"));
    MEM_WRITEBACKTMP = mem!("WritebackTmp", tg_mem("write_back_tmp"));
    MEM_COMMITLIMIT = mem!("CommitLimit", tg_mem("commit_limit"));
    MEM_COMMITTED_AS = mem!("Committed_AS", tg_mem("committed_as"));
    MEM_VMALLOCTOTAL = mem!("VmallocTotal", tg_mem("vmalloc_total"));
    MEM_VMALLOCUSED = mem!("VmallocUsed", tg_mem("vmalloc_used"));
    MEM_VMALLOCCHUNK = mem!("VmallocChunk", tg_mem("vmalloc_chunk"));
    MEM_PERCPU = mem!("Percpu", px_mem("percpu"));
    MEM_HARDWARECORRUPTED = mem!("HardwareCorrupted", px_mem("hardware_corrupted"));
    MEM_ANONHUGEPAGES = mem!("AnonHugePages", px_mem("anon_huge_pages"));
    MEM_SHMEMHUGEPAGES = mem!("ShmemHugePages", px_mem("shmem_huge_pages"));
    MEM_SHMEMPMDMAPPED = mem!("ShmemPmdMapped", px_mem("shmem_pmd_mapped"));
    MEM_FILEHUGEPAGES = mem!("FileHugePages", px_mem("file_huge_pages"));
    MEM_FILEPMDMAPPED = mem!("FilePmdMapped", px_mem("file_pmd_mapped"));
    MEM_CMATOTAL = mem!("CmaTotal", px_mem("cma_total"));
    MEM_CMAFREE = mem!("CmaFree", px_mem("cma_free"));
    MEM_UNACCEPTED = mem!("Unaccepted", px_mem("unaccepted"));
    MEM_HUGEPAGES_TOTAL = mem_pages!("HugePages_Total",
        ix0("mem", "huge_pages_total", Identity, Integer));
    MEM_HUGEPAGES_FREE = mem_pages!("HugePages_Free",
        ix0("mem", "huge_pages_free", Identity, Integer));
    MEM_HUGEPAGES_RSVD = mem_pages!("HugePages_Rsvd",
        ix0("pimon_meminfo", "huge_pages_rsvd", Identity, Integer));
    MEM_HUGEPAGES_SURP = mem_pages!("HugePages_Surp",
        ix0("pimon_meminfo", "huge_pages_surp", Identity, Integer));
    MEM_HUGEPAGESIZE = mem!("Hugepagesize", tg_mem("huge_page_size"));
    MEM_HUGETLB = mem!("Hugetlb", px_mem("hugetlb"));
    MEM_DIRECTMAP4K = mem!("DirectMap4k", px_mem("direct_map_4k"));
    MEM_DIRECTMAP4M = mem!("DirectMap4M", px_mem("direct_map_4m"));
    MEM_DIRECTMAP2M = mem!("DirectMap2M", px_mem("direct_map_2m"));
    MEM_DIRECTMAP1G = mem!("DirectMap1G", px_mem("direct_map_1g"));

    // /proc/pressure/{cpu,memory,io}: `total=` microseconds of `some`, then `full`.
    PRESSURE_CPU_WAITING = pressure("node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
        &[("resource", "cpu"), ("type", "some")]);
    // node_exporter (up to 1.9) has no name for the CPU `full` line: pimon_ by the rule.
    PRESSURE_CPU_STALLED = pressure("pimon_pressure_cpu_stalled_seconds_total",
        "Total time in seconds no process could make progress due to CPU congestion",
        &[("resource", "cpu"), ("type", "full")]);
    PRESSURE_MEMORY_WAITING = pressure("node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
        &[("resource", "memory"), ("type", "some")]);
    PRESSURE_MEMORY_STALLED = pressure("node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
        &[("resource", "memory"), ("type", "full")]);
    PRESSURE_IO_WAITING = pressure("node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
        &[("resource", "io"), ("type", "some")]);
    PRESSURE_IO_STALLED = pressure("node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
        &[("resource", "io"), ("type", "full")]);

    // Raspberry Pi firmware `get_throttled` (hex), one 0/1 row per flag, and the raw mask.
    RPI_UNDER_VOLTAGE = rpi("pimon_rpi_under_voltage",
        "Raspberry Pi under-voltage detected now (get_throttled bit 0).", "under_voltage");
    RPI_FREQUENCY_CAPPED = rpi("pimon_rpi_frequency_capped",
        "Raspberry Pi ARM frequency capped now (get_throttled bit 1).", "frequency_capped");
    RPI_THROTTLED = rpi("pimon_rpi_throttled",
        "Raspberry Pi currently throttled (get_throttled bit 2).", "throttled");
    RPI_SOFT_TEMP_LIMIT = rpi("pimon_rpi_soft_temp_limit",
        "Raspberry Pi soft temperature limit active now (get_throttled bit 3).",
        "soft_temp_limit");
    RPI_UNDER_VOLTAGE_OCCURRED = rpi("pimon_rpi_under_voltage_occurred",
        "Raspberry Pi under-voltage has occurred since boot (get_throttled bit 16).",
        "under_voltage_occurred");
    RPI_FREQUENCY_CAPPED_OCCURRED = rpi("pimon_rpi_frequency_capped_occurred",
        "Raspberry Pi ARM frequency capping has occurred since boot (get_throttled bit 17).",
        "frequency_capped_occurred");
    RPI_THROTTLED_OCCURRED = rpi("pimon_rpi_throttled_occurred",
        "Raspberry Pi throttling has occurred since boot (get_throttled bit 18).",
        "throttled_occurred");
    RPI_SOFT_TEMP_LIMIT_OCCURRED = rpi("pimon_rpi_soft_temp_limit_occurred",
        "Raspberry Pi soft temperature limit has occurred since boot (get_throttled bit 19).",
        "soft_temp_limit_occurred");
    RPI_THROTTLED_FLAGS = rpi("pimon_rpi_throttled_flags",
        "Raspberry Pi firmware get_throttled bit mask, as read.", "throttled_flags");

    // The collector's own figures.
    COLLECTOR_CYCLE_DURATION = m(Gauge, "pimon_collector_cycle_duration_seconds",
        "Duration of the collector's last collection cycle.", "seconds", &[], &[],
        Scale(0.000_001),
        ix0("pimon_collector", "cycle_duration", Scale(0.000_001), Float));
    COLLECTOR_FRAMES_SENT = collector_counter("pimon_collector_frames_sent_total",
        "Frames sent by the collector, first sends only.", "frames_sent");
    COLLECTOR_FRAMES_RESENT = collector_counter("pimon_collector_frames_resent_total",
        "Frames sent again because they were not acknowledged.", "frames_resent");
    COLLECTOR_FRAMES_DROPPED = collector_counter("pimon_collector_frames_dropped_total",
        "Frames given up unstored: evicted from the resend ring and reported missing by the aggregator, or past its window.",
        "frames_dropped");
    COLLECTOR_VALUES_DROPPED = collector_counter("pimon_collector_values_dropped_total",
        "Samples not sent because a cycle did not fit the resend ring or a label was too long.",
        "values_dropped");

    // /proc/net/dev, per interface, in the file's column order.
    NET_RECEIVE_BYTES = net_bytes("node_network_receive_bytes_total",
        "Network device statistic receive_bytes.", tg_net("bytes_recv"));
    NET_RECEIVE_PACKETS = net("node_network_receive_packets_total",
        "Network device statistic receive_packets.", tg_net("packets_recv"));
    NET_RECEIVE_ERRS = net("node_network_receive_errs_total",
        "Network device statistic receive_errs.", tg_net("err_in"));
    NET_RECEIVE_DROP = net("node_network_receive_drop_total",
        "Network device statistic receive_drop.", tg_net("drop_in"));
    NET_RECEIVE_FIFO = net("node_network_receive_fifo_total",
        "Network device statistic receive_fifo.", px_net("fifo_in"));
    NET_RECEIVE_FRAME = net("node_network_receive_frame_total",
        "Network device statistic receive_frame.", px_net("frame_in"));
    NET_RECEIVE_COMPRESSED = net("node_network_receive_compressed_total",
        "Network device statistic receive_compressed.", px_net("compressed_in"));
    NET_RECEIVE_MULTICAST = net("node_network_receive_multicast_total",
        "Network device statistic receive_multicast.", px_net("multicast_in"));
    NET_TRANSMIT_BYTES = net_bytes("node_network_transmit_bytes_total",
        "Network device statistic transmit_bytes.", tg_net("bytes_sent"));
    NET_TRANSMIT_PACKETS = net("node_network_transmit_packets_total",
        "Network device statistic transmit_packets.", tg_net("packets_sent"));
    NET_TRANSMIT_ERRS = net("node_network_transmit_errs_total",
        "Network device statistic transmit_errs.", tg_net("err_out"));
    NET_TRANSMIT_DROP = net("node_network_transmit_drop_total",
        "Network device statistic transmit_drop.", tg_net("drop_out"));
    NET_TRANSMIT_FIFO = net("node_network_transmit_fifo_total",
        "Network device statistic transmit_fifo.", px_net("fifo_out"));
    NET_TRANSMIT_COLLS = net("node_network_transmit_colls_total",
        "Network device statistic transmit_colls.", px_net("colls_out"));
    NET_TRANSMIT_CARRIER = net("node_network_transmit_carrier_total",
        "Network device statistic transmit_carrier.", px_net("carrier_out"));
    NET_TRANSMIT_COMPRESSED = net("node_network_transmit_compressed_total",
        "Network device statistic transmit_compressed.", px_net("compressed_out"));

    // /proc/diskstats, per device, in the file's field order; sectors are 512 bytes,
    // times milliseconds.
    DISK_READS_COMPLETED = disk(Counter, "node_disk_reads_completed_total",
        "The total number of reads completed successfully.", "", Identity,
        tg_diskio("reads", Identity));
    DISK_READS_MERGED = disk(Counter, "node_disk_reads_merged_total",
        "The total number of reads merged.", "", Identity,
        tg_diskio("merged_reads", Identity));
    DISK_READ_BYTES = disk(Counter, "node_disk_read_bytes_total",
        "The total number of bytes read successfully.", "bytes", Scale(512.0),
        tg_diskio("read_bytes", Scale(512.0)));
    DISK_READ_TIME = disk(Counter, "node_disk_read_time_seconds_total",
        "The total number of seconds spent by all reads.", "seconds", MS,
        tg_diskio("read_time", Identity));
    DISK_WRITES_COMPLETED = disk(Counter, "node_disk_writes_completed_total",
        "The total number of writes completed successfully.", "", Identity,
        tg_diskio("writes", Identity));
    DISK_WRITES_MERGED = disk(Counter, "node_disk_writes_merged_total",
        "The number of writes merged.", "", Identity,
        tg_diskio("merged_writes", Identity));
    DISK_WRITTEN_BYTES = disk(Counter, "node_disk_written_bytes_total",
        "The total number of bytes written successfully.", "bytes", Scale(512.0),
        tg_diskio("write_bytes", Scale(512.0)));
    DISK_WRITE_TIME = disk(Counter, "node_disk_write_time_seconds_total",
        "This is the total number of seconds spent by all writes.", "seconds", MS,
        tg_diskio("write_time", Identity));
    DISK_IO_NOW = disk(Gauge, "node_disk_io_now",
        "The number of I/Os currently in progress.", "", Identity,
        tg_diskio("iops_in_progress", Identity));
    DISK_IO_TIME = disk(Counter, "node_disk_io_time_seconds_total",
        "Total seconds spent doing I/Os.", "seconds", MS,
        tg_diskio("io_time", Identity));
    DISK_IO_TIME_WEIGHTED = disk(Counter, "node_disk_io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.", "seconds", MS,
        tg_diskio("weighted_io_time", Identity));
    DISK_DISCARDS_COMPLETED = disk(Counter, "node_disk_discards_completed_total",
        "The total number of discards completed successfully.", "", Identity,
        px_diskio("discards"));
    DISK_DISCARDS_MERGED = disk(Counter, "node_disk_discards_merged_total",
        "The total number of discards merged.", "", Identity,
        px_diskio("merged_discards"));
    DISK_DISCARDED_SECTORS = disk(Counter, "node_disk_discarded_sectors_total",
        "The total number of sectors discarded successfully.", "", Identity,
        px_diskio("discarded_sectors"));
    DISK_DISCARD_TIME = disk(Counter, "node_disk_discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.", "seconds", MS,
        px_diskio("discard_time"));
    DISK_FLUSH_REQUESTS = disk(Counter, "node_disk_flush_requests_total",
        "The total number of flush requests completed successfully", "", Identity,
        px_diskio("flushes"));
    DISK_FLUSH_REQUESTS_TIME = disk(Counter, "node_disk_flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.", "seconds", MS,
        px_diskio("flush_time"));

    // Filesystems (statvfs, already in bytes/inodes), labels device, fstype, mountpoint.
    FS_SIZE = fs("node_filesystem_size_bytes", "Filesystem size in bytes.", "bytes",
        tg_disk("total"));
    FS_FREE = fs("node_filesystem_free_bytes", "Filesystem free space in bytes.", "bytes",
        px_fs("free"));
    FS_AVAIL = fs("node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.", "bytes",
        tg_disk("free"));
    FS_FILES = fs("node_filesystem_files", "Filesystem total file nodes.", "",
        tg_disk("inodes_total"));
    FS_FILES_FREE = fs("node_filesystem_files_free", "Filesystem total free file nodes.", "",
        tg_disk("inodes_free"));
    FS_READONLY = fs("node_filesystem_readonly", "Filesystem read-only status.", "",
        px_fs("readonly"));
    FS_DEVICE_ERROR = fs("node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.", "",
        px_fs("device_error"));

    // Thermal zones, labels zone ("0") and type ("cpu-thermal"); millidegrees. Telegraf's
    // temp input names these by hwmon (TEMP).
    THERMAL_ZONE_TEMP = m(Gauge, "node_thermal_zone_temp", "Zone temperature in Celsius",
        "", &["zone", "type"], &[], Scale(0.001),
        ix("pimon_thermal", "temp", &["zone", "type"], &[], &[], Scale(0.001), Float));

    // hwmon, labels chip and sensor as node_exporter derives them.
    HWMON_TEMP = hwmon("node_hwmon_temp_celsius",
        "Hardware monitor for temperature (input)", "celsius", Scale(0.001), "temp");
    HWMON_TEMP_MAX = hwmon("node_hwmon_temp_max_celsius",
        "Hardware monitor for temperature (max)", "celsius", Scale(0.001), "temp_max");
    HWMON_TEMP_CRIT = hwmon("node_hwmon_temp_crit_celsius",
        "Hardware monitor for temperature (crit)", "celsius", Scale(0.001), "temp_crit");
    HWMON_IN = hwmon("node_hwmon_in_volts",
        "Hardware monitor for voltage (input)", "volts", Scale(0.001), "in");
    // node_exporter scales every `in*` file by 0.001, alarms included: rpi_volt's
    // in0_lcrit_alarm=1 is exported as 0.001 under this name (dashboards test `> 0`).
    // InfluxDB gets the plain 0/1.
    HWMON_IN_LCRIT_ALARM = m(Gauge, "node_hwmon_in_lcrit_alarm_volts",
        "Hardware monitor for voltage (lcrit_alarm)", "volts", HWMON, &[], Scale(0.001),
        ix("pimon_hwmon", "in_lcrit_alarm", HWMON, &[], &[], Identity, Integer));
    HWMON_FAN = hwmon("node_hwmon_fan_rpm",
        "Hardware monitor for fan revolutions per minute (input)", "rpm", Identity, "fan");
    HWMON_CURR = hwmon("node_hwmon_curr_amps",
        "Hardware monitor for current (input)", "amps", Scale(0.001), "curr");
    HWMON_POWER = hwmon("node_hwmon_power_watt",
        "Hardware monitor for power usage in watts (input)", "watt", Scale(0.000_001), "power");
    HWMON_POWER_AVERAGE = hwmon("node_hwmon_power_average_watt",
        "Hardware monitor for power usage in watts (average)", "watt", Scale(0.000_001),
        "power_average");

    // 1-wire DS18B20, label sensor ("28-000005e2fdc3"); millidegrees, age in ms.
    W1_TEMPERATURE = sensor("pimon_w1_temperature_celsius",
        "Last good temperature read from a 1-wire sensor.", "celsius", SENSOR, Scale(0.001),
        "pimon_w1", "temperature");
    W1_AGE = sensor("pimon_w1_age_seconds",
        "Age of the last good 1-wire reading.", "seconds", SENSOR, Scale(0.001),
        "pimon_w1", "age");

    // IIO sysfs sensors, labels device ("iio:device0") and name ("bme280"); kernel units:
    // milli-degrees Celsius, milli-percent relative humidity, kilopascal.
    IIO_TEMPERATURE = sensor("pimon_iio_temperature_celsius",
        "Temperature from an IIO sensor.", "celsius", IIO, Scale(0.001),
        "pimon_iio", "temperature");
    IIO_HUMIDITY = sensor("pimon_iio_humidity_percent",
        "Relative humidity from an IIO sensor.", "percent", IIO, Scale(0.001),
        "pimon_iio", "humidity");
    IIO_PRESSURE = sensor("pimon_iio_pressure_pascals",
        "Air pressure from an IIO sensor.", "pascals", IIO, Scale(1000.0),
        "pimon_iio", "pressure");

    // I2C sensors read from user space, label sensor (the configured name); sent in the
    // exported unit.
    I2C_TEMPERATURE = sensor("pimon_i2c_temperature_celsius",
        "Temperature from an I2C sensor.", "celsius", SENSOR, Identity,
        "pimon_i2c", "temperature");
    I2C_HUMIDITY = sensor("pimon_i2c_humidity_percent",
        "Relative humidity from an I2C sensor.", "percent", SENSOR, Identity,
        "pimon_i2c", "humidity");
    I2C_PRESSURE = sensor("pimon_i2c_pressure_pascals",
        "Air pressure from an I2C sensor.", "pascals", SENSOR, Identity,
        "pimon_i2c", "pressure");

    // GPIO inputs, labels pin ("17") and name (configured).
    GPIO_LEVEL = m(Gauge, "pimon_gpio_level", "Level of a GPIO input pin (0 or 1).", "",
        &["pin", "name"], &[], Identity,
        ix("pimon_gpio", "level", &["pin", "name"], &[], &[], Identity, Integer));

    // The collector's errors by source, label source ("meminfo", "w1", …).
    COLLECTOR_SOURCE_ERRORS = m(Counter, "pimon_collector_source_errors_total",
        "Failed reads by source.", "", &["source"], &[], Identity,
        ix("pimon_collector", "source_errors", &["source"], &[], &[], Identity, Integer));

    // The kernel log (`/dev/kmsg`): records that matched an event rule, labels event
    // ("mmc_error", "oom_kill", …) and device (what the event is about, "" if nothing);
    // and the records read and missed (overwritten in the kernel's ring unread).
    KERNEL_EVENTS = m(Counter, "pimon_kernel_events_total",
        "Kernel log messages that matched an event rule, by event and device, since boot.",
        "", &["event", "device"], &[], Identity,
        ix("kernel_events", "count", &["event", "device"], &[], &[], Identity, Integer));
    KERNEL_LOG_RECORDS = m(Counter, "pimon_kernel_log_records_total",
        "Kernel log records read by the collector.", "", &[], &[], Identity,
        ix0("pimon_kernel_log", "records", Identity, Integer));
    KERNEL_LOG_MISSED = m(Counter, "pimon_kernel_log_missed_records_total",
        "Kernel log records of this boot overwritten in the kernel's ring before the collector read them.",
        "", &[], &[], Identity,
        ix0("pimon_kernel_log", "missed", Identity, Integer));
    // /proc/sys/fs/file-nr, unlabelled.
    FILEFD_ALLOCATED = m(Gauge, "node_filefd_allocated", "File descriptor statistics: allocated.",
        "", &[], &[], Identity, ix0("linux_sysctl_fs", "file-nr", Identity, Integer));
    FILEFD_MAXIMUM = m(Gauge, "node_filefd_maximum", "File descriptor statistics: maximum.",
        "", &[], &[], Identity, ix0("linux_sysctl_fs", "file-max", Identity, Integer));

    // cgroups (cAdvisor's names), one run of CGROUP_METRICS rows per kind of workload, in
    // CGROUP_PROM order: Kubernetes containers, pods, Docker/Podman containers, systemd
    // services. Then how many workloads the table holds and how many did not fit.
    CGROUP_K8S_CONTAINER_CPU_USAGE = cg(&K8S_CONTAINER, 0);
    CGROUP_K8S_CONTAINER_CPU_USER = cg(&K8S_CONTAINER, 1);
    CGROUP_K8S_CONTAINER_CPU_SYSTEM = cg(&K8S_CONTAINER, 2);
    CGROUP_K8S_CONTAINER_CFS_PERIODS = cg(&K8S_CONTAINER, 3);
    CGROUP_K8S_CONTAINER_CFS_THROTTLED_PERIODS = cg(&K8S_CONTAINER, 4);
    CGROUP_K8S_CONTAINER_CFS_THROTTLED = cg(&K8S_CONTAINER, 5);
    CGROUP_K8S_CONTAINER_MEMORY_USAGE = cg(&K8S_CONTAINER, 6);
    CGROUP_K8S_CONTAINER_MEMORY_WORKING_SET = cg(&K8S_CONTAINER, 7);
    CGROUP_K8S_CONTAINER_MEMORY_RSS = cg(&K8S_CONTAINER, 8);
    CGROUP_K8S_CONTAINER_MEMORY_CACHE = cg(&K8S_CONTAINER, 9);
    CGROUP_K8S_CONTAINER_MEMORY_SWAP = cg(&K8S_CONTAINER, 10);
    CGROUP_K8S_CONTAINER_MEMORY_LIMIT = cg(&K8S_CONTAINER, 11);
    CGROUP_K8S_CONTAINER_OOM_KILLS = cg(&K8S_CONTAINER, 12);
    CGROUP_K8S_CONTAINER_IO_READ_BYTES = cg(&K8S_CONTAINER, 13);
    CGROUP_K8S_CONTAINER_IO_WRITE_BYTES = cg(&K8S_CONTAINER, 14);
    CGROUP_K8S_CONTAINER_IO_READS = cg(&K8S_CONTAINER, 15);
    CGROUP_K8S_CONTAINER_IO_WRITES = cg(&K8S_CONTAINER, 16);
    CGROUP_K8S_CONTAINER_THREADS = cg(&K8S_CONTAINER, 17);
    CGROUP_K8S_CONTAINER_PSI_CPU_SOME = cg(&K8S_CONTAINER, 18);
    CGROUP_K8S_CONTAINER_PSI_CPU_FULL = cg(&K8S_CONTAINER, 19);
    CGROUP_K8S_CONTAINER_PSI_MEMORY_SOME = cg(&K8S_CONTAINER, 20);
    CGROUP_K8S_CONTAINER_PSI_MEMORY_FULL = cg(&K8S_CONTAINER, 21);
    CGROUP_K8S_CONTAINER_PSI_IO_SOME = cg(&K8S_CONTAINER, 22);
    CGROUP_K8S_CONTAINER_PSI_IO_FULL = cg(&K8S_CONTAINER, 23);
    CGROUP_K8S_POD_CPU_USAGE = cg(&K8S_POD, 0);
    CGROUP_K8S_POD_CPU_USER = cg(&K8S_POD, 1);
    CGROUP_K8S_POD_CPU_SYSTEM = cg(&K8S_POD, 2);
    CGROUP_K8S_POD_CFS_PERIODS = cg(&K8S_POD, 3);
    CGROUP_K8S_POD_CFS_THROTTLED_PERIODS = cg(&K8S_POD, 4);
    CGROUP_K8S_POD_CFS_THROTTLED = cg(&K8S_POD, 5);
    CGROUP_K8S_POD_MEMORY_USAGE = cg(&K8S_POD, 6);
    CGROUP_K8S_POD_MEMORY_WORKING_SET = cg(&K8S_POD, 7);
    CGROUP_K8S_POD_MEMORY_RSS = cg(&K8S_POD, 8);
    CGROUP_K8S_POD_MEMORY_CACHE = cg(&K8S_POD, 9);
    CGROUP_K8S_POD_MEMORY_SWAP = cg(&K8S_POD, 10);
    CGROUP_K8S_POD_MEMORY_LIMIT = cg(&K8S_POD, 11);
    CGROUP_K8S_POD_OOM_KILLS = cg(&K8S_POD, 12);
    CGROUP_K8S_POD_IO_READ_BYTES = cg(&K8S_POD, 13);
    CGROUP_K8S_POD_IO_WRITE_BYTES = cg(&K8S_POD, 14);
    CGROUP_K8S_POD_IO_READS = cg(&K8S_POD, 15);
    CGROUP_K8S_POD_IO_WRITES = cg(&K8S_POD, 16);
    CGROUP_K8S_POD_THREADS = cg(&K8S_POD, 17);
    CGROUP_K8S_POD_PSI_CPU_SOME = cg(&K8S_POD, 18);
    CGROUP_K8S_POD_PSI_CPU_FULL = cg(&K8S_POD, 19);
    CGROUP_K8S_POD_PSI_MEMORY_SOME = cg(&K8S_POD, 20);
    CGROUP_K8S_POD_PSI_MEMORY_FULL = cg(&K8S_POD, 21);
    CGROUP_K8S_POD_PSI_IO_SOME = cg(&K8S_POD, 22);
    CGROUP_K8S_POD_PSI_IO_FULL = cg(&K8S_POD, 23);
    CGROUP_DOCKER_CPU_USAGE = cg(&DOCKER_CONTAINER, 0);
    CGROUP_DOCKER_CPU_USER = cg(&DOCKER_CONTAINER, 1);
    CGROUP_DOCKER_CPU_SYSTEM = cg(&DOCKER_CONTAINER, 2);
    CGROUP_DOCKER_CFS_PERIODS = cg(&DOCKER_CONTAINER, 3);
    CGROUP_DOCKER_CFS_THROTTLED_PERIODS = cg(&DOCKER_CONTAINER, 4);
    CGROUP_DOCKER_CFS_THROTTLED = cg(&DOCKER_CONTAINER, 5);
    CGROUP_DOCKER_MEMORY_USAGE = cg(&DOCKER_CONTAINER, 6);
    CGROUP_DOCKER_MEMORY_WORKING_SET = cg(&DOCKER_CONTAINER, 7);
    CGROUP_DOCKER_MEMORY_RSS = cg(&DOCKER_CONTAINER, 8);
    CGROUP_DOCKER_MEMORY_CACHE = cg(&DOCKER_CONTAINER, 9);
    CGROUP_DOCKER_MEMORY_SWAP = cg(&DOCKER_CONTAINER, 10);
    CGROUP_DOCKER_MEMORY_LIMIT = cg(&DOCKER_CONTAINER, 11);
    CGROUP_DOCKER_OOM_KILLS = cg(&DOCKER_CONTAINER, 12);
    CGROUP_DOCKER_IO_READ_BYTES = cg(&DOCKER_CONTAINER, 13);
    CGROUP_DOCKER_IO_WRITE_BYTES = cg(&DOCKER_CONTAINER, 14);
    CGROUP_DOCKER_IO_READS = cg(&DOCKER_CONTAINER, 15);
    CGROUP_DOCKER_IO_WRITES = cg(&DOCKER_CONTAINER, 16);
    CGROUP_DOCKER_THREADS = cg(&DOCKER_CONTAINER, 17);
    CGROUP_DOCKER_PSI_CPU_SOME = cg(&DOCKER_CONTAINER, 18);
    CGROUP_DOCKER_PSI_CPU_FULL = cg(&DOCKER_CONTAINER, 19);
    CGROUP_DOCKER_PSI_MEMORY_SOME = cg(&DOCKER_CONTAINER, 20);
    CGROUP_DOCKER_PSI_MEMORY_FULL = cg(&DOCKER_CONTAINER, 21);
    CGROUP_DOCKER_PSI_IO_SOME = cg(&DOCKER_CONTAINER, 22);
    CGROUP_DOCKER_PSI_IO_FULL = cg(&DOCKER_CONTAINER, 23);
    CGROUP_SERVICE_CPU_USAGE = cg(&SYSTEMD_SERVICE, 0);
    CGROUP_SERVICE_CPU_USER = cg(&SYSTEMD_SERVICE, 1);
    CGROUP_SERVICE_CPU_SYSTEM = cg(&SYSTEMD_SERVICE, 2);
    CGROUP_SERVICE_CFS_PERIODS = cg(&SYSTEMD_SERVICE, 3);
    CGROUP_SERVICE_CFS_THROTTLED_PERIODS = cg(&SYSTEMD_SERVICE, 4);
    CGROUP_SERVICE_CFS_THROTTLED = cg(&SYSTEMD_SERVICE, 5);
    CGROUP_SERVICE_MEMORY_USAGE = cg(&SYSTEMD_SERVICE, 6);
    CGROUP_SERVICE_MEMORY_WORKING_SET = cg(&SYSTEMD_SERVICE, 7);
    CGROUP_SERVICE_MEMORY_RSS = cg(&SYSTEMD_SERVICE, 8);
    CGROUP_SERVICE_MEMORY_CACHE = cg(&SYSTEMD_SERVICE, 9);
    CGROUP_SERVICE_MEMORY_SWAP = cg(&SYSTEMD_SERVICE, 10);
    CGROUP_SERVICE_MEMORY_LIMIT = cg(&SYSTEMD_SERVICE, 11);
    CGROUP_SERVICE_OOM_KILLS = cg(&SYSTEMD_SERVICE, 12);
    CGROUP_SERVICE_IO_READ_BYTES = cg(&SYSTEMD_SERVICE, 13);
    CGROUP_SERVICE_IO_WRITE_BYTES = cg(&SYSTEMD_SERVICE, 14);
    CGROUP_SERVICE_IO_READS = cg(&SYSTEMD_SERVICE, 15);
    CGROUP_SERVICE_IO_WRITES = cg(&SYSTEMD_SERVICE, 16);
    CGROUP_SERVICE_THREADS = cg(&SYSTEMD_SERVICE, 17);
    CGROUP_SERVICE_PSI_CPU_SOME = cg(&SYSTEMD_SERVICE, 18);
    CGROUP_SERVICE_PSI_CPU_FULL = cg(&SYSTEMD_SERVICE, 19);
    CGROUP_SERVICE_PSI_MEMORY_SOME = cg(&SYSTEMD_SERVICE, 20);
    CGROUP_SERVICE_PSI_MEMORY_FULL = cg(&SYSTEMD_SERVICE, 21);
    CGROUP_SERVICE_PSI_IO_SOME = cg(&SYSTEMD_SERVICE, 22);
    CGROUP_SERVICE_PSI_IO_FULL = cg(&SYSTEMD_SERVICE, 23);
    CGROUP_WORKLOADS_TRACKED = m(Gauge, "pimon_cgroup_workloads_tracked",
        "Workloads (cgroups) the collector reads each cycle: the entries of its table.", "",
        &[], &[], Identity, ix0("pimon_cgroup", "tracked", Identity, Integer));
    CGROUP_WORKLOADS_UNTRACKED = m(Gauge, "pimon_cgroup_workloads_untracked",
        "Workloads (cgroups) found at the last discovery but not read: the table is full.",
        "", &[], &[], Identity, ix0("pimon_cgroup", "untracked", Identity, Integer));

    // Telegraf's inputs (cpu, system, processes, temp): /proc/stat's `cpu` line (all
    // CPUs, Telegraf's cpu-total) and its count of online CPUs; the /proc/[pid] scan
    // (node_exporter's opt-in processes collector, Telegraf's processes); utmp's user
    // sessions; temperatures named as Telegraf's temp input names them.
    CPU_TOTAL_SECONDS_USER = cpu_total_seconds(&[("mode", "user")], "time_user");
    CPU_TOTAL_SECONDS_NICE = cpu_total_seconds(&[("mode", "nice")], "time_nice");
    CPU_TOTAL_SECONDS_SYSTEM = cpu_total_seconds(&[("mode", "system")], "time_system");
    CPU_TOTAL_SECONDS_IDLE = cpu_total_seconds(&[("mode", "idle")], "time_idle");
    CPU_TOTAL_SECONDS_IOWAIT = cpu_total_seconds(&[("mode", "iowait")], "time_iowait");
    CPU_TOTAL_SECONDS_IRQ = cpu_total_seconds(&[("mode", "irq")], "time_irq");
    CPU_TOTAL_SECONDS_SOFTIRQ = cpu_total_seconds(&[("mode", "softirq")], "time_softirq");
    CPU_TOTAL_SECONDS_STEAL = cpu_total_seconds(&[("mode", "steal")], "time_steal");
    CPU_TOTAL_SECONDS_GUEST = cpu_total_seconds(&[("mode", "guest")], "time_guest");
    CPU_TOTAL_SECONDS_GUEST_NICE = cpu_total_seconds(&[("mode", "guest_nice")],
        "time_guest_nice");
    STAT_CPUS_ONLINE = m(Gauge, "pimon_cpus_online",
        "CPUs online: the cpuN lines of /proc/stat.", "", &[], &[], Identity,
        ix0("system", "n_cpus", Identity, Integer));
    PROCESSES_PIDS = m(Gauge, "node_processes_pids", "Number of PIDs", "", &[], &[],
        Identity, ix0("processes", "total", Identity, Integer));
    PROCESSES_THREADS = m(Gauge, "node_processes_threads", "Allocated threads in system",
        "", &[], &[], Identity, ix0("processes", "total_threads", Identity, Integer));
    PROCESSES_MAX_PROCESSES = m(Gauge, "node_processes_max_processes",
        "Number of max PIDs limit", "", &[], &[], Identity,
        ix0("pimon_processes", "max_processes", Identity, Integer));
    PROCESSES_MAX_THREADS = m(Gauge, "node_processes_max_threads",
        "Limit of threads in the system", "", &[], &[], Identity,
        ix0("pimon_processes", "max_threads", Identity, Integer));
    // One row per state letter of /proc/[pid]/stat (the kernel's task_state_array since
    // 4.14; W stays for older kernels); Telegraf counts T and t together as `stopped`.
    PROCESSES_STATE_R = process_state(&[("state", "R")], "running");
    PROCESSES_STATE_S = process_state(&[("state", "S")], "sleeping");
    PROCESSES_STATE_D = process_state(&[("state", "D")], "blocked");
    PROCESSES_STATE_T = process_state(&[("state", "T")], "stopped");
    PROCESSES_STATE_LOWER_T = m(Gauge, "node_processes_state",
        "Number of processes in each state.", "", &[], &[("state", "t")], Identity,
        ix0("pimon_processes", "traced", Identity, Integer));
    PROCESSES_STATE_X = process_state(&[("state", "X")], "dead");
    PROCESSES_STATE_Z = process_state(&[("state", "Z")], "zombies");
    PROCESSES_STATE_P = process_state(&[("state", "P")], "parked");
    PROCESSES_STATE_I = process_state(&[("state", "I")], "idle");
    PROCESSES_STATE_W = process_state(&[("state", "W")], "paging");
    PROCESSES_THREADS_STATE_R = thread_state(&[("thread_state", "R")], "threads_running");
    PROCESSES_THREADS_STATE_S = thread_state(&[("thread_state", "S")], "threads_sleeping");
    PROCESSES_THREADS_STATE_D = thread_state(&[("thread_state", "D")], "threads_blocked");
    PROCESSES_THREADS_STATE_T = thread_state(&[("thread_state", "T")], "threads_stopped");
    PROCESSES_THREADS_STATE_LOWER_T = thread_state(&[("thread_state", "t")],
        "threads_traced");
    PROCESSES_THREADS_STATE_X = thread_state(&[("thread_state", "X")], "threads_dead");
    PROCESSES_THREADS_STATE_Z = thread_state(&[("thread_state", "Z")], "threads_zombies");
    PROCESSES_THREADS_STATE_P = thread_state(&[("thread_state", "P")], "threads_parked");
    PROCESSES_THREADS_STATE_I = thread_state(&[("thread_state", "I")], "threads_idle");
    PROCESSES_THREADS_STATE_W = thread_state(&[("thread_state", "W")], "threads_paging");
    USERS_SESSIONS = m(Gauge, "pimon_users_sessions",
        "Logged-in user sessions: USER_PROCESS records of /var/run/utmp.", "", &[], &[],
        Identity, ix0("system", "n_users", Identity, Integer));
    USERS_UNIQUE = m(Gauge, "pimon_users_unique",
        "Distinct user names among the logged-in sessions.", "", &[], &[], Identity,
        ix0("system", "n_unique_users", Identity, Integer));
    TEMP = m(Gauge, "pimon_temp_celsius",
        "Temperature of each hwmon sensor (each thermal zone when no hwmon sensor reports one), named as Telegraf's temp input names it: the chip's name, then _ and its label.",
        "celsius", &["sensor"], &[], Scale(0.001),
        ix("temp", "temp", &["sensor"], &[], &[], Scale(0.001), Float));

    // The collector's own process (client_golang's process collector, which
    // node_exporter exports: Node Exporter Full's "Node Exporter" row), from
    // /proc/self/stat, /proc/self/fd and RLIMIT_NOFILE.
    PROCESS_CPU_SECONDS = m(Counter, "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.", "seconds", &[], &[], PerUserHz,
        ix0("pimon_collector", "process_cpu_seconds", PerUserHz, Float));
    PROCESS_OPEN_FDS = m(Gauge, "process_open_fds", "Number of open file descriptors.", "",
        &[], &[], Identity, ix0("pimon_collector", "process_open_fds", Identity, Integer));
    PROCESS_MAX_FDS = m(Gauge, "process_max_fds", "Maximum number of open file descriptors.",
        "", &[], &[], Identity, ix0("pimon_collector", "process_max_fds", Identity, Integer));
    PROCESS_VIRTUAL_MEMORY = m(Gauge, "process_virtual_memory_bytes",
        "Virtual memory size in bytes.", "bytes", &[], &[], Identity,
        ix0("pimon_collector", "process_virtual_memory_bytes", Identity, Integer));
    PROCESS_RESIDENT_MEMORY = m(Gauge, "process_resident_memory_bytes",
        "Resident memory size in bytes.", "bytes", &[], &[], Identity,
        ix0("pimon_collector", "process_resident_memory_bytes", Identity, Integer));
    PROCESS_START_TIME = m(Gauge, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", "seconds", &[], &[],
        Scale(0.001), ix0("pimon_collector", "process_start_time", Scale(0.001), Float));

    // Per source, label collector (the source's name: "stat", "meminfo", …), sent with
    // COLLECTOR_SOURCE_ERRORS in one group: node_exporter's scrape figures.
    SCRAPE_COLLECTOR_DURATION = m(Gauge, "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.", "seconds", &["collector"], &[],
        Scale(0.000_001),
        ix("pimon_collector", "source_duration", &["source"], &[], &[], Scale(0.000_001), Float));
    SCRAPE_COLLECTOR_SUCCESS = m(Gauge, "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.", "", &["collector"], &[], Identity,
        ix("pimon_collector", "source_success", &["source"], &[], &[], Identity, Integer));

    // hwmon limits and alarm flags (labels chip and sensor), as node_exporter names them
    // from the file name (`temp1_max_hyst` → `node_hwmon_temp_max_hyst_celsius`); sysfs
    // units, converted as the sensor's input. The ones Node Exporter Full and common
    // chips use: each row costs the armv6 collector about 200 bytes.
    HWMON_TEMP_MIN = hwmon("node_hwmon_temp_min_celsius",
        "Hardware monitor for temperature (min)", "celsius", Scale(0.001), "temp_min");
    HWMON_TEMP_MAX_HYST = hwmon("node_hwmon_temp_max_hyst_celsius",
        "Hardware monitor for temperature (max_hyst)", "celsius", Scale(0.001),
        "temp_max_hyst");
    HWMON_TEMP_CRIT_HYST = hwmon("node_hwmon_temp_crit_hyst_celsius",
        "Hardware monitor for temperature (crit_hyst)", "celsius", Scale(0.001),
        "temp_crit_hyst");
    HWMON_TEMP_MAX_ALARM = hwmon_alarm("node_hwmon_temp_max_alarm_celsius",
        "Hardware monitor for temperature (max_alarm)", "celsius", Scale(0.001),
        "temp_max_alarm");
    HWMON_TEMP_CRIT_ALARM = hwmon_alarm("node_hwmon_temp_crit_alarm_celsius",
        "Hardware monitor for temperature (crit_alarm)", "celsius", Scale(0.001),
        "temp_crit_alarm");
    HWMON_TEMP_ALARM = hwmon_status("node_hwmon_temp_alarm",
        "Hardware sensor alarm status (temp)", "temp_alarm");
    HWMON_IN_MIN = hwmon("node_hwmon_in_min_volts",
        "Hardware monitor for voltage (min)", "volts", Scale(0.001), "in_min");
    HWMON_IN_MAX = hwmon("node_hwmon_in_max_volts",
        "Hardware monitor for voltage (max)", "volts", Scale(0.001), "in_max");
    HWMON_IN_ALARM = hwmon_status("node_hwmon_in_alarm",
        "Hardware sensor alarm status (in)", "in_alarm");
    HWMON_FAN_MIN = hwmon("node_hwmon_fan_min_rpm",
        "Hardware monitor for fan revolutions per minute (min)", "rpm", Identity, "fan_min");
    HWMON_FAN_MAX = hwmon("node_hwmon_fan_max_rpm",
        "Hardware monitor for fan revolutions per minute (max)", "rpm", Identity, "fan_max");
    HWMON_FAN_TARGET = hwmon("node_hwmon_fan_target_rpm",
        "Hardware monitor for fan revolutions per minute (target)", "rpm", Identity,
        "fan_target");
    HWMON_FAN_ALARM = hwmon_status("node_hwmon_fan_alarm",
        "Hardware sensor alarm status (fan)", "fan_alarm");
    // Info series (value 1): the chip's `name` file, cleaned, and each sensor's `*_label`.
    HWMON_CHIP_NAMES = m(Gauge, "node_hwmon_chip_names",
        "Annotation metric for human-readable chip names", "", &["chip", "chip_name"], &[],
        Identity, ix("pimon_hwmon", "chip_names", &["chip", "chip_name"], &[], &[], Identity,
            Integer));
    HWMON_SENSOR_LABEL = m(Gauge, "node_hwmon_sensor_label", "Label for given chip and sensor",
        "", &["chip", "sensor", "label"], &[], Identity,
        ix("pimon_hwmon", "sensor_label", &["chip", "sensor", "label"], &[], &[], Identity,
            Integer));
    // Thermal cooling devices, labels name ("0" of cooling_device0) and type ("gpio-fan").
    COOLING_DEVICE_CUR_STATE = m(Gauge, "node_cooling_device_cur_state",
        "Current throttle state of the cooling device", "", &["name", "type"], &[], Identity,
        ix("pimon_cooling_device", "cur_state", &["name", "type"], &[], &[], Identity,
            Integer));
    COOLING_DEVICE_MAX_STATE = m(Gauge, "node_cooling_device_max_state",
        "Maximum throttle state of the cooling device", "", &["name", "type"], &[], Identity,
        ix("pimon_cooling_device", "max_state", &["name", "type"], &[], &[], Identity,
            Integer));

    // node_exporter's netstat (default field filter), in the kernel's order within each
    // file: /proc/net/netstat, /proc/net/snmp, /proc/net/snmp6.
    NETSTAT_TCPEXT_SYNCOOKIESSENT = netstat!("netstat", "TcpExt", "SyncookiesSent");
    NETSTAT_TCPEXT_SYNCOOKIESRECV = netstat!("netstat", "TcpExt", "SyncookiesRecv");
    NETSTAT_TCPEXT_SYNCOOKIESFAILED = netstat!("netstat", "TcpExt", "SyncookiesFailed");
    NETSTAT_TCPEXT_LISTENOVERFLOWS = netstat!("netstat", "TcpExt", "ListenOverflows");
    NETSTAT_TCPEXT_LISTENDROPS = netstat!("netstat", "TcpExt", "ListenDrops");
    NETSTAT_TCPEXT_TCPTIMEOUTS = netstat!("netstat", "TcpExt", "TCPTimeouts");
    NETSTAT_TCPEXT_TCPOFOQUEUE = netstat!("netstat", "TcpExt", "TCPOFOQueue");
    NETSTAT_TCPEXT_TCPSYNRETRANS = netstat!("netstat", "TcpExt", "TCPSynRetrans");
    NETSTAT_TCPEXT_TCPRCVQDROP = netstat!("netstat", "TcpExt", "TCPRcvQDrop");
    NETSTAT_IPEXT_INOCTETS = netstat!("netstat", "IpExt", "InOctets");
    NETSTAT_IPEXT_OUTOCTETS = netstat!("netstat", "IpExt", "OutOctets");
    NETSTAT_IP_FORWARDING = netstat!("snmp", "Ip", "Forwarding");
    NETSTAT_ICMP_INMSGS = netstat!("snmp", "Icmp", "InMsgs");
    NETSTAT_ICMP_INERRORS = netstat!("snmp", "Icmp", "InErrors");
    NETSTAT_ICMP_OUTMSGS = netstat!("snmp", "Icmp", "OutMsgs");
    NETSTAT_TCP_ACTIVEOPENS = netstat!("snmp", "Tcp", "ActiveOpens");
    NETSTAT_TCP_PASSIVEOPENS = netstat!("snmp", "Tcp", "PassiveOpens");
    NETSTAT_TCP_CURRESTAB = netstat!("snmp", "Tcp", "CurrEstab");
    NETSTAT_TCP_INSEGS = netstat!("snmp", "Tcp", "InSegs");
    NETSTAT_TCP_OUTSEGS = netstat!("snmp", "Tcp", "OutSegs");
    NETSTAT_TCP_RETRANSSEGS = netstat!("snmp", "Tcp", "RetransSegs");
    NETSTAT_TCP_INERRS = netstat!("snmp", "Tcp", "InErrs");
    NETSTAT_TCP_OUTRSTS = netstat!("snmp", "Tcp", "OutRsts");
    NETSTAT_UDP_INDATAGRAMS = netstat!("snmp", "Udp", "InDatagrams");
    NETSTAT_UDP_NOPORTS = netstat!("snmp", "Udp", "NoPorts");
    NETSTAT_UDP_INERRORS = netstat!("snmp", "Udp", "InErrors");
    NETSTAT_UDP_OUTDATAGRAMS = netstat!("snmp", "Udp", "OutDatagrams");
    NETSTAT_UDP_RCVBUFERRORS = netstat!("snmp", "Udp", "RcvbufErrors");
    NETSTAT_UDP_SNDBUFERRORS = netstat!("snmp", "Udp", "SndbufErrors");
    NETSTAT_UDPLITE_INERRORS = netstat!("snmp", "UdpLite", "InErrors");
    NETSTAT_IP6_INOCTETS = netstat!("snmp6", "Ip6", "InOctets");
    NETSTAT_IP6_OUTOCTETS = netstat!("snmp6", "Ip6", "OutOctets");
    NETSTAT_ICMP6_INMSGS = netstat!("snmp6", "Icmp6", "InMsgs");
    NETSTAT_ICMP6_INERRORS = netstat!("snmp6", "Icmp6", "InErrors");
    NETSTAT_ICMP6_OUTMSGS = netstat!("snmp6", "Icmp6", "OutMsgs");
    NETSTAT_UDP6_INDATAGRAMS = netstat!("snmp6", "Udp6", "InDatagrams");
    NETSTAT_UDP6_NOPORTS = netstat!("snmp6", "Udp6", "NoPorts");
    NETSTAT_UDP6_INERRORS = netstat!("snmp6", "Udp6", "InErrors");
    NETSTAT_UDP6_OUTDATAGRAMS = netstat!("snmp6", "Udp6", "OutDatagrams");
    NETSTAT_UDP6_RCVBUFERRORS = netstat!("snmp6", "Udp6", "RcvbufErrors");
    NETSTAT_UDP6_SNDBUFERRORS = netstat!("snmp6", "Udp6", "SndbufErrors");
    NETSTAT_UDPLITE6_INERRORS = netstat!("snmp6", "UdpLite6", "InErrors");
    // node_exporter's sockstat: /proc/net/sockstat, then sockstat6, in the kernel's order
    // (`mem` is in pages; `mem_bytes` is mem × the node's page size, computed by the
    // collector, which knows it).
    SOCKSTAT_SOCKETS_USED = m(Gauge, "node_sockstat_sockets_used",
        "Number of IPv4 sockets in use.", "", &[], &[], Identity,
        ix0("pimon_sockstat", "sockets_used", Identity, Integer));
    SOCKSTAT_TCP_INUSE = sockstat!("TCP", "inuse", "tcp_inuse");
    SOCKSTAT_TCP_ORPHAN = sockstat!("TCP", "orphan", "tcp_orphan");
    SOCKSTAT_TCP_TW = sockstat!("TCP", "tw", "tcp_tw");
    SOCKSTAT_TCP_ALLOC = sockstat!("TCP", "alloc", "tcp_alloc");
    SOCKSTAT_TCP_MEM = sockstat!("TCP", "mem", "tcp_mem");
    SOCKSTAT_TCP_MEM_BYTES = sockstat!("TCP", "mem_bytes", "tcp_mem_bytes", "bytes", Identity);
    SOCKSTAT_UDP_INUSE = sockstat!("UDP", "inuse", "udp_inuse");
    SOCKSTAT_UDP_MEM = sockstat!("UDP", "mem", "udp_mem");
    SOCKSTAT_UDP_MEM_BYTES = sockstat!("UDP", "mem_bytes", "udp_mem_bytes", "bytes", Identity);
    SOCKSTAT_UDPLITE_INUSE = sockstat!("UDPLITE", "inuse", "udplite_inuse");
    SOCKSTAT_RAW_INUSE = sockstat!("RAW", "inuse", "raw_inuse");
    SOCKSTAT_FRAG_INUSE = sockstat!("FRAG", "inuse", "frag_inuse");
    SOCKSTAT_FRAG_MEMORY = sockstat!("FRAG", "memory", "frag_memory");
    SOCKSTAT_TCP6_INUSE = sockstat!("TCP6", "inuse", "tcp6_inuse");
    SOCKSTAT_UDP6_INUSE = sockstat!("UDP6", "inuse", "udp6_inuse");
    SOCKSTAT_UDPLITE6_INUSE = sockstat!("UDPLITE6", "inuse", "udplite6_inuse");
    SOCKSTAT_RAW6_INUSE = sockstat!("RAW6", "inuse", "raw6_inuse");
    SOCKSTAT_FRAG6_INUSE = sockstat!("FRAG6", "inuse", "frag6_inuse");
    SOCKSTAT_FRAG6_MEMORY = sockstat!("FRAG6", "memory", "frag6_memory");
    // node_exporter's vmstat (default field filter `^(oom_kill|pgpg|pswp|pg.*fault).*`:
    // every /proc/vmstat key it keeps), in the kernel's order.
    VMSTAT_PGPGIN = vmstat!("pgpgin");
    VMSTAT_PGPGOUT = vmstat!("pgpgout");
    VMSTAT_PSWPIN = vmstat!("pswpin");
    VMSTAT_PSWPOUT = vmstat!("pswpout");
    VMSTAT_PGFAULT = vmstat!("pgfault");
    VMSTAT_PGMAJFAULT = vmstat!("pgmajfault");
    VMSTAT_OOM_KILL = vmstat!("oom_kill");
    // node_exporter's softnet, per CPU: /proc/net/softnet_stat's columns.
    SOFTNET_PROCESSED = softnet(Counter, "node_softnet_processed_total",
        "Number of processed packets", "processed");
    SOFTNET_DROPPED = softnet(Counter, "node_softnet_dropped_total",
        "Number of dropped packets", "dropped");
    SOFTNET_TIMES_SQUEEZED = softnet(Counter, "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota", "times_squeezed");
    SOFTNET_CPU_COLLISION = softnet(Counter, "node_softnet_cpu_collision_total",
        "Number of collision occur while obtaining device lock while transmitting",
        "cpu_collision");
    SOFTNET_RECEIVED_RPS = softnet(Counter, "node_softnet_received_rps_total",
        "Number of times cpu woken up received_rps", "received_rps");
    SOFTNET_FLOW_LIMIT_COUNT = softnet(Counter, "node_softnet_flow_limit_count_total",
        "Number of times flow limit has been reached", "flow_limit_count");
    SOFTNET_BACKLOG_LEN = softnet(Gauge, "node_softnet_backlog_len", "Softnet backlog status",
        "backlog_len");
    // node_exporter's conntrack: /proc/sys/net/netfilter/nf_conntrack_{count,max}
    // (Telegraf's conntrack input). Its nf_conntrack_stat_* sums are not sent (size).
    NF_CONNTRACK_ENTRIES = m(Gauge, "node_nf_conntrack_entries",
        "Number of currently allocated flow entries for connection tracking.", "", &[], &[],
        Identity, ix0("conntrack", "ip_conntrack_count", Identity, Integer));
    NF_CONNTRACK_ENTRIES_LIMIT = m(Gauge, "node_nf_conntrack_entries_limit",
        "Maximum size of connection tracking table.", "", &[], &[], Identity,
        ix0("conntrack", "ip_conntrack_max", Identity, Integer));
    // /proc/pressure/irq (6.1+): only a `full` line.
    PRESSURE_IRQ_STALLED = pressure("node_pressure_irq_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IRQ congestion",
        &[("resource", "irq"), ("type", "full")]);

    // /sys/class/net/<device>/ (node_exporter's netclass), label device, in the order
    // node_exporter writes them; `speed` is sent in Mbit/s as the kernel writes it. Then
    // statistics/rx_nohandler (node_exporter reads it over netlink in its netdev
    // collector), and the info row with its seven labels.
    NETCLASS_UP = netclass(Gauge, "node_network_up",
        "Value is 1 if operstate is 'up', 0 otherwise.", "", Identity, "up");
    NETCLASS_ADDRESS_ASSIGN_TYPE = netclass(Gauge, "node_network_address_assign_type",
        "Network device property: address_assign_type", "", Identity, "address_assign_type");
    NETCLASS_CARRIER = netclass(Gauge, "node_network_carrier",
        "Network device property: carrier", "", Identity, "carrier");
    NETCLASS_CARRIER_CHANGES = netclass(Counter, "node_network_carrier_changes_total",
        "Network device property: carrier_changes_total", "", Identity, "carrier_changes");
    NETCLASS_CARRIER_UP_CHANGES = netclass(Counter, "node_network_carrier_up_changes_total",
        "Network device property: carrier_up_changes_total", "", Identity,
        "carrier_up_changes");
    NETCLASS_CARRIER_DOWN_CHANGES = netclass(Counter,
        "node_network_carrier_down_changes_total",
        "Network device property: carrier_down_changes_total", "", Identity,
        "carrier_down_changes");
    NETCLASS_DEVICE_ID = netclass(Gauge, "node_network_device_id",
        "Network device property: device_id", "", Identity, "device_id");
    NETCLASS_DORMANT = netclass(Gauge, "node_network_dormant",
        "Network device property: dormant", "", Identity, "dormant");
    NETCLASS_FLAGS = netclass(Gauge, "node_network_flags",
        "Network device property: flags", "", Identity, "flags");
    NETCLASS_IFACE_ID = netclass(Gauge, "node_network_iface_id",
        "Network device property: iface_id", "", Identity, "iface_id");
    NETCLASS_IFACE_LINK = netclass(Gauge, "node_network_iface_link",
        "Network device property: iface_link", "", Identity, "iface_link");
    NETCLASS_IFACE_LINK_MODE = netclass(Gauge, "node_network_iface_link_mode",
        "Network device property: iface_link_mode", "", Identity, "iface_link_mode");
    NETCLASS_MTU = netclass(Gauge, "node_network_mtu_bytes",
        "Network device property: mtu_bytes", "bytes", Identity, "mtu");
    NETCLASS_NAME_ASSIGN_TYPE = netclass(Gauge, "node_network_name_assign_type",
        "Network device property: name_assign_type", "", Identity, "name_assign_type");
    NETCLASS_NET_DEV_GROUP = netclass(Gauge, "node_network_net_dev_group",
        "Network device property: net_dev_group", "", Identity, "net_dev_group");
    NETCLASS_SPEED = netclass(Gauge, "node_network_speed_bytes",
        "Network device property: speed_bytes", "bytes", Scale(125_000.0), "speed_mbits");
    NETCLASS_TRANSMIT_QUEUE_LENGTH = netclass(Gauge, "node_network_transmit_queue_length",
        "Network device property: transmit_queue_length", "", Identity,
        "transmit_queue_length");
    NETCLASS_PROTOCOL_TYPE = netclass(Gauge, "node_network_protocol_type",
        "Network device property: protocol_type", "", Identity, "protocol_type");
    NET_RECEIVE_NOHANDLER = net("node_network_receive_nohandler_total",
        "Network device statistic receive_nohandler.", px_net("nohandler_in"));
    NETCLASS_INFO = m(Gauge, "node_network_info",
        "Non-numeric data from /sys/class/net/<iface>, value is always 1.", "",
        NETCLASS_INFO_LABELS, &[], Identity,
        ix("pimon_netclass", "info", NETCLASS_INFO_TAGS, &[], &[], Identity, Integer));

    // node_exporter's uname, os, entropy and time collectors (Node Exporter Full's
    // variables are `label_values(node_uname_info, …)`). Info metrics are 1 with the
    // strings as labels; InfluxDB gets them as tags of a `pimon_` measurement, the
    // os-release keys that are empty on most systems left out (an empty tag key).
    UNAME_INFO = m(Gauge, "node_uname_info",
        "Labeled system information as provided by the uname system call.", "",
        &["sysname", "release", "version", "machine", "nodename", "domainname"], &[],
        Identity, ix("pimon_uname", "info",
            &["sysname", "release", "version", "machine", "nodename", "domainname"], &[],
            &[], Identity, Integer));
    OS_INFO = m(Gauge, "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        "", &["build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
            "variant", "variant_id", "version", "version_codename", "version_id"], &[],
        Identity, ix("pimon_os", "info", &["", "id", "id_like", "", "", "name", "pretty_name",
            "", "", "version", "version_codename", "version_id"], &[], &[], Identity, Integer));
    OS_VERSION = m(Gauge, "node_os_version",
        "Metric containing the major.minor part of the OS version.", "",
        &["id", "id_like", "name"], &[], Identity,
        ix("pimon_os", "version", &["id", "id_like", "name"], &[], &[], Identity, Float));
    ENTROPY_AVAILABLE_BITS = m(Gauge, "node_entropy_available_bits",
        "Bits of available entropy.", "bits", &[], &[], Identity,
        ix0("kernel", "entropy_avail", Identity, Integer));
    ENTROPY_POOL_SIZE_BITS = m(Gauge, "node_entropy_pool_size_bits",
        "Bits of entropy pool.", "bits", &[], &[], Identity,
        ix0("pimon_kernel", "entropy_pool_size", Identity, Integer));
    TIME_SECONDS = m(Gauge, "node_time_seconds",
        "System time in seconds since epoch (1970).", "seconds", &[], &[], Scale(0.001),
        ix0("pimon_time", "seconds", Scale(0.001), Float));

    // node_exporter's timex collector: adjtimex(2)'s kernel clock discipline (Node
    // Exporter Full's "System Timesync"). Offsets and jitter are sent in nanoseconds
    // (the collector scales microseconds when STA_NANO is off), the frequency as the
    // ratio node_exporter computes (1 + freq / 2^16 ppm); InfluxDB gets `pimon_timex`.
    TIMEX_OFFSET_SECONDS = m(Gauge, "node_timex_offset_seconds",
        "Time offset in between local system and reference clock.", "seconds", &[], &[],
        Scale(0.000_000_001), ix0("pimon_timex", "offset_seconds", Scale(0.000_000_001), Float));
    TIMEX_FREQUENCY_ADJUSTMENT_RATIO = m(Gauge, "node_timex_frequency_adjustment_ratio",
        "Local clock frequency adjustment.", "ratio", &[], &[], Identity,
        ix0("pimon_timex", "frequency_adjustment_ratio", Identity, Float));
    TIMEX_MAXERROR_SECONDS = m(Gauge, "node_timex_maxerror_seconds",
        "Maximum error in seconds.", "seconds", &[], &[], Scale(0.000_001),
        ix0("pimon_timex", "maxerror_seconds", Scale(0.000_001), Float));
    TIMEX_ESTIMATED_ERROR_SECONDS = m(Gauge, "node_timex_estimated_error_seconds",
        "Estimated error in seconds.", "seconds", &[], &[], Scale(0.000_001),
        ix0("pimon_timex", "estimated_error_seconds", Scale(0.000_001), Float));
    TIMEX_STATUS = m(Gauge, "node_timex_status",
        "Value of the status array bits.", "", &[], &[], Identity,
        ix0("pimon_timex", "status", Identity, Integer));
    TIMEX_LOOP_TIME_CONSTANT = m(Gauge, "node_timex_loop_time_constant",
        "Phase-locked loop time constant.", "", &[], &[], Identity,
        ix0("pimon_timex", "loop_time_constant", Identity, Integer));
    TIMEX_TICK_SECONDS = m(Gauge, "node_timex_tick_seconds",
        "Seconds between clock ticks.", "seconds", &[], &[], Scale(0.000_001),
        ix0("pimon_timex", "tick_seconds", Scale(0.000_001), Float));
    TIMEX_PPS_FREQUENCY_HERTZ = m(Gauge, "node_timex_pps_frequency_hertz",
        "Pulse per second frequency.", "hertz", &[], &[], Scale(PER_SCALED_PPM),
        ix0("pimon_timex", "pps_frequency_hertz", Scale(PER_SCALED_PPM), Float));
    TIMEX_PPS_JITTER_SECONDS = m(Gauge, "node_timex_pps_jitter_seconds",
        "Pulse per second jitter.", "seconds", &[], &[], Scale(0.000_000_001),
        ix0("pimon_timex", "pps_jitter_seconds", Scale(0.000_000_001), Float));
    TIMEX_PPS_SHIFT_SECONDS = m(Gauge, "node_timex_pps_shift_seconds",
        "Pulse per second interval duration.", "seconds", &[], &[], Identity,
        ix0("pimon_timex", "pps_shift_seconds", Identity, Integer));
    TIMEX_PPS_STABILITY_HERTZ = m(Gauge, "node_timex_pps_stability_hertz",
        "Pulse per second stability, average of recent frequency changes.", "hertz", &[],
        &[], Scale(PER_SCALED_PPM),
        ix0("pimon_timex", "pps_stability_hertz", Scale(PER_SCALED_PPM), Float));
    TIMEX_PPS_JITTER_TOTAL = m(Counter, "node_timex_pps_jitter_total",
        "Pulse per second count of jitter limit exceeded events.", "", &[], &[], Identity,
        ix0("pimon_timex", "pps_jitter_total", Identity, Integer));
    TIMEX_PPS_CALIBRATION_TOTAL = m(Counter, "node_timex_pps_calibration_total",
        "Pulse per second count of calibration intervals.", "", &[], &[], Identity,
        ix0("pimon_timex", "pps_calibration_total", Identity, Integer));
    TIMEX_PPS_ERROR_TOTAL = m(Counter, "node_timex_pps_error_total",
        "Pulse per second count of calibration errors.", "", &[], &[], Identity,
        ix0("pimon_timex", "pps_error_total", Identity, Integer));
    TIMEX_PPS_STABILITY_EXCEEDED_TOTAL = m(Counter, "node_timex_pps_stability_exceeded_total",
        "Pulse per second count of stability limit exceeded events.", "", &[], &[], Identity,
        ix0("pimon_timex", "pps_stability_exceeded_total", Identity, Integer));
    TIMEX_TAI_OFFSET_SECONDS = m(Gauge, "node_timex_tai_offset_seconds",
        "International Atomic Time (TAI) offset.", "seconds", &[], &[], Identity,
        ix0("pimon_timex", "tai_offset_seconds", Identity, Integer));
    TIMEX_SYNC_STATUS = m(Gauge, "node_timex_sync_status",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).", "", &[], &[],
        Identity, ix0("pimon_timex", "sync_status", Identity, Integer));

    // cpufreq's hardware limits and the current frequency the driver reports
    // (`cpuinfo_cur_freq` is readable by root only on most drivers: not sent otherwise,
    // as node_exporter skips it), Telegraf's `linux_cpu` fields of the same names.
    CPUFREQ_CPUINFO_CUR = cpufreq(
        "node_cpu_frequency_hertz",
        "Current cpu thread frequency in hertz.",
        "cpuinfo_cur_freq",
    );
    CPUFREQ_CPUINFO_MIN = cpufreq(
        "node_cpu_frequency_min_hertz",
        "Minimum cpu thread frequency in hertz.",
        "cpuinfo_min_freq",
    );
    CPUFREQ_CPUINFO_MAX = cpufreq(
        "node_cpu_frequency_max_hertz",
        "Maximum cpu thread frequency in hertz.",
        "cpuinfo_max_freq",
    );

    // node_exporter's time collector: the zone of `etc/localtime` now.
    TIME_ZONE_OFFSET = m(Gauge, "node_time_zone_offset_seconds",
        "System time zone offset in seconds.", "seconds", &["time_zone"], &[], Identity,
        ix("pimon_time", "zone_offset", &["time_zone"], &[], &[], Identity, Integer));
    // netstat fields beyond node_exporter's default filter that Telegraf's system
    // dashboard reads (its `nstat` input keeps every field): "TCP aborts", "ICMP packets",
    // "IPv4 errors", "IPv6 errors", and Tcp EstabResets for `net` `interface=all`
    // ("TCP handshake issues"). node_exporter names them so with a widened
    // `--collector.netstat.fields`. Same order rules as the rows above.
    NETSTAT_TCPEXT_TCPABORTONDATA = netstat!("netstat", "TcpExt", "TCPAbortOnData");
    NETSTAT_TCPEXT_TCPABORTONCLOSE = netstat!("netstat", "TcpExt", "TCPAbortOnClose");
    NETSTAT_TCPEXT_TCPABORTONMEMORY = netstat!("netstat", "TcpExt", "TCPAbortOnMemory");
    NETSTAT_TCPEXT_TCPABORTONTIMEOUT = netstat!("netstat", "TcpExt", "TCPAbortOnTimeout");
    NETSTAT_TCPEXT_TCPABORTONLINGER = netstat!("netstat", "TcpExt", "TCPAbortOnLinger");
    NETSTAT_TCPEXT_TCPABORTFAILED = netstat!("netstat", "TcpExt", "TCPAbortFailed");
    NETSTAT_IP_INHDRERRORS = netstat!("snmp", "Ip", "InHdrErrors");
    NETSTAT_IP_INADDRERRORS = netstat!("snmp", "Ip", "InAddrErrors");
    NETSTAT_IP_INUNKNOWNPROTOS = netstat!("snmp", "Ip", "InUnknownProtos");
    NETSTAT_IP_INDISCARDS = netstat!("snmp", "Ip", "InDiscards");
    NETSTAT_IP_OUTDISCARDS = netstat!("snmp", "Ip", "OutDiscards");
    NETSTAT_IP_OUTNOROUTES = netstat!("snmp", "Ip", "OutNoRoutes");
    NETSTAT_ICMP_INECHOS = netstat!("snmp", "Icmp", "InEchos");
    NETSTAT_ICMP_INECHOREPS = netstat!("snmp", "Icmp", "InEchoReps");
    NETSTAT_ICMP_OUTECHOS = netstat!("snmp", "Icmp", "OutEchos");
    NETSTAT_ICMP_OUTECHOREPS = netstat!("snmp", "Icmp", "OutEchoReps");
    NETSTAT_TCP_ESTABRESETS = netstat!("snmp", "Tcp", "EstabResets");
    NETSTAT_IP6_INHDRERRORS = netstat!("snmp6", "Ip6", "InHdrErrors");
    NETSTAT_IP6_INADDRERRORS = netstat!("snmp6", "Ip6", "InAddrErrors");
    NETSTAT_IP6_INUNKNOWNPROTOS = netstat!("snmp6", "Ip6", "InUnknownProtos");
    NETSTAT_IP6_INDISCARDS = netstat!("snmp6", "Ip6", "InDiscards");
    NETSTAT_IP6_OUTDISCARDS = netstat!("snmp6", "Ip6", "OutDiscards");
    NETSTAT_IP6_OUTNOROUTES = netstat!("snmp6", "Ip6", "OutNoRoutes");

    // node_exporter's opt-in interrupts collector (/proc/interrupts), one row per CPU
    // (CPUs past the eighth are not sent); Telegraf's `interrupts` input.
    INTERRUPTS_CPU0 = interrupts(&[("cpu", "0")], "CPU0");
    INTERRUPTS_CPU1 = interrupts(&[("cpu", "1")], "CPU1");
    INTERRUPTS_CPU2 = interrupts(&[("cpu", "2")], "CPU2");
    INTERRUPTS_CPU3 = interrupts(&[("cpu", "3")], "CPU3");
    INTERRUPTS_CPU4 = interrupts(&[("cpu", "4")], "CPU4");
    INTERRUPTS_CPU5 = interrupts(&[("cpu", "5")], "CPU5");
    INTERRUPTS_CPU6 = interrupts(&[("cpu", "6")], "CPU6");
    INTERRUPTS_CPU7 = interrupts(&[("cpu", "7")], "CPU7");

    // node_exporter's schedstat: /proc/schedstat's cpuN lines (nanoseconds on the wire).
    SCHEDSTAT_RUNNING_SECONDS = m(Counter, "node_schedstat_running_seconds_total",
        "Number of seconds CPU spent running a process.", "seconds", CPU, &[],
        Scale(0.000_000_001),
        ix("pimon_schedstat", "running_seconds", CPU, &[], &[], Scale(0.000_000_001), Float));
    SCHEDSTAT_WAITING_SECONDS = m(Counter, "node_schedstat_waiting_seconds_total",
        "Number of seconds spent by processing waiting for this CPU.", "seconds", CPU, &[],
        Scale(0.000_000_001),
        ix("pimon_schedstat", "waiting_seconds", CPU, &[], &[], Scale(0.000_000_001), Float));
    SCHEDSTAT_TIMESLICES = m(Counter, "node_schedstat_timeslices_total",
        "Number of timeslices executed by CPU.", "", CPU, &[], Identity,
        ix("pimon_schedstat", "timeslices", CPU, &[], &[], Identity, Integer));
    // node_exporter's arp: /proc/net/arp's entries per device.
    ARP_ENTRIES = m(Gauge, "node_arp_entries", "ARP entries by device", "", &["device"], &[],
        Identity, ix("pimon_arp", "entries", &["device"], &[], &[], Identity, Integer));
    // node_exporter's udp_queues: /proc/net/udp{,6}'s tx_queue and rx_queue summed.
    UDP_QUEUES_V4_TX = udp_queues!("v4", "tx");
    UDP_QUEUES_V4_RX = udp_queues!("v4", "rx");
    UDP_QUEUES_V6_TX = udp_queues!("v6", "tx");
    UDP_QUEUES_V6_RX = udp_queues!("v6", "rx");
    // node_exporter's powersupplyclass: /sys/class/power_supply/<supply>/ integer files
    // (node_exporter 1.5's names; µ-units and tenths of a degree on the wire).
    POWER_SUPPLY_AUTHENTIC = power_supply!("authentic", "", Identity, Integer);
    POWER_SUPPLY_CALIBRATE = power_supply!("calibrate", "", Identity, Integer);
    POWER_SUPPLY_CAPACITY = power_supply!("capacity", "", Identity, Integer);
    POWER_SUPPLY_CAPACITY_ALERT_MAX = power_supply!("capacity_alert_max", "", Identity, Integer);
    POWER_SUPPLY_CAPACITY_ALERT_MIN = power_supply!("capacity_alert_min", "", Identity, Integer);
    POWER_SUPPLY_CYCLECOUNT = power_supply!("cyclecount", "", Identity, Integer);
    POWER_SUPPLY_ONLINE = power_supply!("online", "", Identity, Integer);
    POWER_SUPPLY_PRESENT = power_supply!("present", "", Identity, Integer);
    POWER_SUPPLY_TIME_TO_EMPTY_SECONDS = power_supply!("time_to_empty_seconds", "seconds", Identity, Integer);
    POWER_SUPPLY_TIME_TO_FULL_SECONDS = power_supply!("time_to_full_seconds", "seconds", Identity, Integer);
    POWER_SUPPLY_CURRENT_BOOT = power_supply!("current_boot", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CURRENT_MAX = power_supply!("current_max", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CURRENT_AMPERE = power_supply!("current_ampere", "", Scale(0.000_001), Float);
    POWER_SUPPLY_ENERGY_EMPTY = power_supply!("energy_empty", "", Scale(0.000_001), Float);
    POWER_SUPPLY_ENERGY_EMPTY_DESIGN = power_supply!("energy_empty_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_ENERGY_FULL = power_supply!("energy_full", "", Scale(0.000_001), Float);
    POWER_SUPPLY_ENERGY_FULL_DESIGN = power_supply!("energy_full_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_ENERGY_WATTHOUR = power_supply!("energy_watthour", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_BOOT = power_supply!("voltage_boot", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_MAX = power_supply!("voltage_max", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_MAX_DESIGN = power_supply!("voltage_max_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_MIN = power_supply!("voltage_min", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_MIN_DESIGN = power_supply!("voltage_min_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_VOLT = power_supply!("voltage_volt", "", Scale(0.000_001), Float);
    POWER_SUPPLY_VOLTAGE_OCV = power_supply!("voltage_ocv", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_CONTROL_LIMIT = power_supply!("charge_control_limit", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_CONTROL_LIMIT_MAX = power_supply!("charge_control_limit_max", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_COUNTER = power_supply!("charge_counter", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_EMPTY = power_supply!("charge_empty", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_EMPTY_DESIGN = power_supply!("charge_empty_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_FULL = power_supply!("charge_full", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_FULL_DESIGN = power_supply!("charge_full_design", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_AMPERE = power_supply!("charge_ampere", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CHARGE_TERM_CURRENT = power_supply!("charge_term_current", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CONSTANT_CHARGE_CURRENT = power_supply!("constant_charge_current", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CONSTANT_CHARGE_CURRENT_MAX = power_supply!("constant_charge_current_max", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CONSTANT_CHARGE_VOLTAGE = power_supply!("constant_charge_voltage", "", Scale(0.000_001), Float);
    POWER_SUPPLY_CONSTANT_CHARGE_VOLTAGE_MAX = power_supply!("constant_charge_voltage_max", "", Scale(0.000_001), Float);
    POWER_SUPPLY_PRECHARGE_CURRENT = power_supply!("precharge_current", "", Scale(0.000_001), Float);
    POWER_SUPPLY_INPUT_CURRENT_LIMIT = power_supply!("input_current_limit", "", Scale(0.000_001), Float);
    POWER_SUPPLY_POWER_WATT = power_supply!("power_watt", "", Scale(0.000_001), Float);
    POWER_SUPPLY_TEMP_CELSIUS = power_supply!("temp_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_TEMP_ALERT_MAX_CELSIUS = power_supply!("temp_alert_max_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_TEMP_ALERT_MIN_CELSIUS = power_supply!("temp_alert_min_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_TEMP_AMBIENT_CELSIUS = power_supply!("temp_ambient_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_TEMP_MAX_CELSIUS = power_supply!("temp_max_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_TEMP_MIN_CELSIUS = power_supply!("temp_min_celsius", "celsius", Scale(0.1), Float);
    POWER_SUPPLY_INFO = m(Gauge, "node_power_supply_info",
        "info of /sys/class/power_supply/<power_supply>.", "", POWER_SUPPLY_INFO_LABELS, &[],
        Identity, ix("pimon_power_supply", "info", POWER_SUPPLY_INFO_TAGS, &[], &[], Identity,
            Integer));
    // /proc/meminfo keys without a row above (`Balloon`, a newer kernel's field): label
    // `key` is node_exporter's spelling of the key (`Foo(anon)` → `Foo_anon`), and the
    // Prometheus name is made from it, `node_memory_<key>_bytes` (kB on the wire) or
    // `node_memory_<key>` (no unit), by `catalog::sample_name`; `KEY` in the names here
    // stands for the key. Telegraf's `mem` has a fixed field list: InfluxDB gets them as
    // `pimon_meminfo_other` lines tagged `key`.
    MEM_OTHER_BYTES = m(Gauge, "node_memory_KEY_bytes",
        "Memory information field KEY_bytes (a /proc/meminfo key in kB without a row of its own; node_exporter's name and help).",
        "bytes", MEMINFO_KEY, &[], Scale(1024.0),
        ix("pimon_meminfo_other", "bytes", MEMINFO_KEY, &[], &[], Scale(1024.0), Integer));
    MEM_OTHER = m(Gauge, "node_memory_KEY",
        "Memory information field KEY (a /proc/meminfo key without unit and without a row of its own; node_exporter's name and help).",
        "", MEMINFO_KEY, &[], Identity,
        ix("pimon_meminfo_other", "value", MEMINFO_KEY, &[], &[], Identity, Integer));
}
