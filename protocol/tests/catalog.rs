//! Invariants of the metric catalog: ids, Prometheus and InfluxDB
//! naming rules, family consistency, and the exact names dashboards depend on.

use std::collections::{BTreeMap, BTreeSet};

use pimon_protocol::Value;
use pimon_protocol::catalog::{
    CATALOG, CGROUP_METRICS, Conversion, FAMILY_ORDER, FieldKind, Metric, MetricType, Number,
    TagRule, families, find, id, lookup, meminfo_id,
};

fn is_prom_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn is_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.starts_with("__")
}

/// Influx names we emit stay plain (no characters that need escaping).
fn is_plain_influx_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Field keys may also have `-`, as Telegraf's `linux_sysctl_fs` writes them
/// (`file-nr`), and capitals, as Telegraf's `nstat` writes the kernel's names
/// (`TcpExtListenDrops`): line protocol escapes only `,`, `=` and space in keys.
fn is_plain_field_key(s: &str) -> bool {
    is_plain_influx_name(&s.replace('-', "_").to_ascii_lowercase()) && !s.starts_with('-')
}

fn row(prom_name: &str, const_labels: &[(&str, &str)]) -> &'static Metric {
    CATALOG
        .iter()
        .find(|m| m.prom_name == prom_name && m.const_labels == const_labels)
        .unwrap_or_else(|| panic!("no row {prom_name} {const_labels:?}"))
}

#[test]
fn ids_equal_indices_and_lookup_is_an_index() {
    assert!(CATALOG.len() > 100, "catalog has {} rows", CATALOG.len());
    assert!(CATALOG.len() < usize::from(u16::MAX));
    for (i, m) in CATALOG.iter().enumerate() {
        assert_eq!(usize::from(m.id), i, "{}", m.prom_name);
        assert_eq!(lookup(m.id), Some(m));
    }
    assert_eq!(lookup(CATALOG.len() as u16), None);
    assert_eq!(lookup(u16::MAX), None);
}

#[test]
fn id_constants_point_at_their_rows() {
    assert_eq!(id::CPU_SECONDS_USER, 0);
    assert_eq!(
        CATALOG[usize::from(id::MEM_MEMTOTAL)].prom_name,
        "node_memory_MemTotal_bytes"
    );
    assert_eq!(
        CATALOG[usize::from(id::NET_RECEIVE_BYTES)].prom_name,
        "node_network_receive_bytes_total"
    );
    assert_eq!(
        CATALOG[usize::from(id::DISK_READS_COMPLETED)].prom_name,
        "node_disk_reads_completed_total"
    );
    assert_eq!(
        CATALOG[usize::from(id::THERMAL_ZONE_TEMP)].prom_name,
        "node_thermal_zone_temp"
    );
    assert_eq!(
        CATALOG[usize::from(id::HWMON_TEMP)].prom_name,
        "node_hwmon_temp_celsius"
    );
    assert_eq!(
        CATALOG[usize::from(id::COLLECTOR_SOURCE_ERRORS)].prom_name,
        "pimon_collector_source_errors_total"
    );
}

/// The ids of rows a source sends with the same labels are consecutive, in the order
/// the kernel writes the values (the wire encodes id deltas: a run costs a byte per id).
#[test]
fn rows_sharing_instance_labels_have_consecutive_ids() {
    fn consecutive(ids: &[u16]) {
        for pair in ids.windows(2) {
            assert_eq!(pair[0] + 1, pair[1], "{:?}", ids);
        }
    }
    consecutive(&[
        id::CPU_SECONDS_USER,
        id::CPU_SECONDS_NICE,
        id::CPU_SECONDS_SYSTEM,
        id::CPU_SECONDS_IDLE,
        id::CPU_SECONDS_IOWAIT,
        id::CPU_SECONDS_IRQ,
        id::CPU_SECONDS_SOFTIRQ,
        id::CPU_SECONDS_STEAL,
        id::CPU_GUEST_SECONDS_USER,
        id::CPU_GUEST_SECONDS_NICE,
    ]);
    consecutive(&[
        id::CPUFREQ_SCALING_CUR,
        id::CPUFREQ_SCALING_MIN,
        id::CPUFREQ_SCALING_MAX,
    ]);
    consecutive(&[id::LOAD1, id::LOAD5, id::LOAD15]);
    assert_eq!(id::NET_TRANSMIT_COMPRESSED - id::NET_RECEIVE_BYTES, 15);
    assert_eq!(id::DISK_FLUSH_REQUESTS_TIME - id::DISK_READS_COMPLETED, 16);
    assert_eq!(id::FS_DEVICE_ERROR - id::FS_SIZE, 6);
    assert_eq!(id::MEM_DIRECTMAP1G - id::MEM_MEMTOTAL + 1, 64);
    consecutive(&[
        id::HWMON_TEMP,
        id::HWMON_TEMP_MAX,
        id::HWMON_TEMP_CRIT,
        id::HWMON_IN,
        id::HWMON_IN_LCRIT_ALARM,
        id::HWMON_FAN,
        id::HWMON_CURR,
        id::HWMON_POWER,
        id::HWMON_POWER_AVERAGE,
    ]);
    consecutive(&[id::W1_TEMPERATURE, id::W1_AGE]);
    consecutive(&[id::IIO_TEMPERATURE, id::IIO_HUMIDITY, id::IIO_PRESSURE]);
    consecutive(&[id::I2C_TEMPERATURE, id::I2C_HUMIDITY, id::I2C_PRESSURE]);
    // cgroups: one run per kind of workload, each in CGROUP_PROM order.
    for first in [
        id::CGROUP_K8S_CONTAINER_CPU_USAGE,
        id::CGROUP_K8S_POD_CPU_USAGE,
        id::CGROUP_DOCKER_CPU_USAGE,
        id::CGROUP_SERVICE_CPU_USAGE,
    ] {
        let run: Vec<u16> = (first..first + CGROUP_METRICS as u16).collect();
        consecutive(&run);
        let labels = CATALOG[usize::from(first)].labels;
        for &i in &run {
            assert_eq!(CATALOG[usize::from(i)].labels, labels);
        }
    }
    // That each source's rows with one label set form one run (the unlabelled ones
    // included) is checked where the sources are known: xtask/src/metrics_doc.rs (`cargo test -p xtask`).
    // A rule over all unlabelled rows at once could not hold: ids are append-only, so a
    // new source's unlabelled rows come after everything else.
    // Each source's run has one label set.
    for (first, last) in [
        (id::CPU_SECONDS_USER, id::CPUFREQ_SCALING_MAX),
        (id::NET_RECEIVE_BYTES, id::NET_TRANSMIT_COMPRESSED),
        (id::DISK_READS_COMPLETED, id::DISK_FLUSH_REQUESTS_TIME),
        (id::FS_SIZE, id::FS_DEVICE_ERROR),
        (id::HWMON_TEMP, id::HWMON_POWER_AVERAGE),
    ] {
        let labels = CATALOG[usize::from(first)].labels;
        for m in &CATALOG[usize::from(first)..=usize::from(last)] {
            assert_eq!(m.labels, labels, "{}", m.prom_name);
        }
    }
}

#[test]
fn prometheus_names_types_units_and_labels_are_valid() {
    for m in CATALOG {
        assert!(is_prom_name(m.prom_name), "{}", m.prom_name);
        assert!(
            // process_: the collector's own process, as client_golang names it.
            ["node_", "pimon_", "container_", "process_"]
                .iter()
                .any(|p| m.prom_name.starts_with(p)),
            "{}",
            m.prom_name
        );
        match m.metric_type {
            MetricType::Counter => assert!(m.prom_name.ends_with("_total"), "{}", m.prom_name),
            MetricType::Gauge | MetricType::Untyped => {
                assert!(!m.prom_name.ends_with("_total"), "{}", m.prom_name)
            }
        }
        if !m.unit.is_empty() {
            let base = m.prom_name.strip_suffix("_total").unwrap_or(m.prom_name);
            assert!(
                base.ends_with(&format!("_{}", m.unit)),
                "{} unit {}",
                m.prom_name,
                m.unit
            );
        }
        assert!(
            !m.help.is_empty() && !m.help.contains('\n'),
            "{}",
            m.prom_name
        );
        assert!(
            m.labels.len() <= pimon_protocol::MAX_LABELS,
            "{}",
            m.prom_name
        );
        let mut names = BTreeSet::new();
        names.insert("instance"); // added by the aggregator
        for name in m.labels.iter().chain(m.const_labels.iter().map(|(k, _)| k)) {
            assert!(is_label_name(name), "{}: label {name}", m.prom_name);
            assert!(names.insert(name), "{}: label {name} twice", m.prom_name);
        }
    }
}

/// Rows of a family share type, help, unit and constant label names. Their instance
/// labels may differ (a cgroup family has one row per kind of workload, each with the
/// cAdvisor labels that have a value for it: `id` for a service, `namespace`, `pod`,
/// `container`, `id` for a Kubernetes container); rows with the same instance labels
/// differ by their constant labels, so no two rows can print the same series.
#[test]
fn rows_of_a_family_agree_and_differ_by_labels() {
    let mut by_name: BTreeMap<&str, Vec<&Metric>> = BTreeMap::new();
    for m in CATALOG {
        by_name.entry(m.prom_name).or_default().push(m);
    }
    for (name, rows) in &by_name {
        let first = rows[0];
        let mut label_sets = BTreeSet::new();
        let const_keys: BTreeSet<_> = first.const_labels.iter().map(|(k, _)| *k).collect();
        for m in rows {
            assert_eq!(m.metric_type, first.metric_type, "{name}");
            assert_eq!(m.help, first.help, "{name}");
            assert_eq!(m.unit, first.unit, "{name}");
            let keys: BTreeSet<_> = m.const_labels.iter().map(|(k, _)| *k).collect();
            assert_eq!(keys, const_keys, "{name}: const label names differ");
            assert!(
                label_sets.insert((m.labels, m.const_labels)),
                "{name} {:?} {:?} twice",
                m.labels,
                m.const_labels
            );
        }
    }
}

#[test]
fn family_order_lists_every_row_once_grouped_by_name() {
    let mut sorted: Vec<u16> = FAMILY_ORDER.to_vec();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..CATALOG.len() as u16).collect::<Vec<_>>());

    let fams: Vec<_> = families().collect();
    let names: Vec<&str> = fams.iter().map(|f| f.first.prom_name).collect();
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "a family appears twice");
    assert_eq!(
        fams.iter().map(|f| f.ids.len()).sum::<usize>(),
        CATALOG.len()
    );
    for f in &fams {
        assert!(f.rows().all(|m| m.prom_name == f.first.prom_name));
        assert!(f.ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f.first.id, f.ids[0]);
    }
    let guest = fams
        .iter()
        .find(|f| f.first.prom_name == "node_cpu_guest_seconds_total");
    assert_eq!(
        guest.map(|f| f.ids),
        Some(&[id::CPU_GUEST_SECONDS_USER, id::CPU_GUEST_SECONDS_NICE][..])
    );
}

#[test]
fn influx_names_are_plain_and_series_unique() {
    let mut seen = BTreeSet::new();
    for m in CATALOG {
        let Some(ix) = m.influx else { continue };
        assert!(is_plain_influx_name(ix.measurement), "{}", m.prom_name);
        assert!(is_plain_field_key(ix.field), "{}", m.prom_name);
        assert_eq!(
            ix.tags.len(),
            m.labels.len(),
            "{}: one tag per label",
            m.prom_name
        );
        assert!(
            ix.tag_rules.is_empty() || ix.tag_rules.len() == ix.tags.len(),
            "{}",
            m.prom_name
        );
        let mut tag_keys = BTreeSet::new();
        tag_keys.insert("host"); // added by the aggregator
        // An empty tag key leaves its label out of InfluxDB (a cgroup's path `id`).
        let tag_keys_written = ix.tags.iter().filter(|k| !k.is_empty());
        for key in tag_keys_written.chain(ix.const_tags.iter().map(|(k, _)| k)) {
            assert!(is_plain_influx_name(key), "{}: tag {key}", m.prom_name);
            assert!(tag_keys.insert(key), "{}: tag {key} twice", m.prom_name);
        }
        let mut tags: Vec<&str> = ix.tags.to_vec();
        tags.extend(
            ix.const_tags
                .iter()
                .map(|(k, v)| format!("{k}={v}").leak() as &str),
        );
        tags.sort_unstable();
        assert!(
            seen.insert((ix.measurement, tags, ix.field)),
            "{}: influx series {}.{} used twice",
            m.prom_name,
            ix.measurement,
            ix.field
        );
        // A field has one type in InfluxDB: every row writing it agrees.
        for other in CATALOG {
            if let Some(o) = other.influx
                && o.measurement == ix.measurement
                && o.field == ix.field
            {
                assert_eq!(o.kind, ix.kind, "{}.{}", ix.measurement, ix.field);
            }
        }
    }
}

#[test]
fn every_row_of_the_default_sources_goes_to_influx() {
    for m in CATALOG {
        assert!(m.influx.is_some(), "{} has no InfluxDB schema", m.prom_name);
    }
}

#[test]
fn node_exporter_names_labels_and_units() {
    let cpu = row("node_cpu_seconds_total", &[("mode", "iowait")]);
    assert_eq!(cpu.labels, ["cpu"]);
    assert_eq!(cpu.metric_type, MetricType::Counter);
    assert_eq!(cpu.conversion, Conversion::PerUserHz);
    for mode in [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ] {
        row("node_cpu_seconds_total", &[("mode", mode)]);
    }
    row("node_cpu_guest_seconds_total", &[("mode", "user")]);
    row("node_cpu_guest_seconds_total", &[("mode", "nice")]);
    for name in [
        "node_context_switches_total",
        "node_intr_total",
        "node_forks_total",
        "node_procs_running",
        "node_procs_blocked",
        "node_boot_time_seconds",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_memory_MemAvailable_bytes",
        "node_memory_Active_anon_bytes",
        "node_memory_Inactive_file_bytes",
        "node_memory_Committed_AS_bytes",
        "node_memory_NFS_Unstable_bytes",
        "node_memory_HugePages_Total",
        "node_memory_Hugepagesize_bytes",
        "node_memory_DirectMap4k_bytes",
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
        "node_pressure_io_waiting_seconds_total",
    ] {
        let m = row(name, &[]);
        assert!(m.labels.is_empty(), "{name}");
    }
    assert_eq!(row("node_load1", &[]).conversion, Conversion::Scale(0.01));
    assert_eq!(
        row("node_memory_MemTotal_bytes", &[]).conversion,
        Conversion::Scale(1024.0)
    );
    assert_eq!(
        row("node_memory_HugePages_Free", &[]).conversion,
        Conversion::Identity
    );
    assert_eq!(
        row("node_memory_MemFree_bytes", &[]).help,
        "Memory information field MemFree_bytes."
    );

    for dir in ["receive", "transmit"] {
        for stat in ["bytes", "packets", "errs", "drop", "fifo", "compressed"] {
            let m = row(&format!("node_network_{dir}_{stat}_total"), &[]);
            assert_eq!(m.labels, ["device"]);
        }
    }
    for stat in [
        "receive_frame",
        "receive_multicast",
        "transmit_colls",
        "transmit_carrier",
    ] {
        row(&format!("node_network_{stat}_total"), &[]);
    }

    let read_bytes = row("node_disk_read_bytes_total", &[]);
    assert_eq!(
        (read_bytes.labels, read_bytes.conversion),
        (&["device"][..], Conversion::Scale(512.0))
    );
    assert_eq!(
        row("node_disk_written_bytes_total", &[]).conversion,
        Conversion::Scale(512.0)
    );
    assert_eq!(
        row("node_disk_read_time_seconds_total", &[]).conversion,
        Conversion::Scale(0.001)
    );
    assert_eq!(row("node_disk_io_now", &[]).metric_type, MetricType::Gauge);
    assert_eq!(
        row("node_disk_discarded_sectors_total", &[]).conversion,
        Conversion::Identity
    );
    for name in [
        "node_disk_reads_completed_total",
        "node_disk_reads_merged_total",
        "node_disk_writes_completed_total",
        "node_disk_writes_merged_total",
        "node_disk_write_time_seconds_total",
        "node_disk_io_time_seconds_total",
        "node_disk_io_time_weighted_seconds_total",
        "node_disk_discards_completed_total",
        "node_disk_discards_merged_total",
        "node_disk_discard_time_seconds_total",
        "node_disk_flush_requests_total",
        "node_disk_flush_requests_time_seconds_total",
    ] {
        assert_eq!(row(name, &[]).labels, ["device"], "{name}");
    }

    for name in [
        "node_filesystem_size_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "node_filesystem_readonly",
    ] {
        assert_eq!(
            row(name, &[]).labels,
            ["device", "fstype", "mountpoint"],
            "{name}"
        );
    }

    let zone = row("node_thermal_zone_temp", &[]);
    assert_eq!(
        (zone.labels, zone.conversion),
        (&["zone", "type"][..], Conversion::Scale(0.001))
    );
    let hwmon = row("node_hwmon_temp_celsius", &[]);
    assert_eq!(hwmon.labels, ["chip", "sensor"]);
    assert_eq!(row("node_hwmon_in_volts", &[]).labels, ["chip", "sensor"]);
    assert_eq!(row("node_hwmon_fan_rpm", &[]).labels, ["chip", "sensor"]);
    assert_eq!(row("node_hwmon_curr_amps", &[]).labels, ["chip", "sensor"]);
    assert_eq!(
        row("node_hwmon_power_watt", &[]).conversion,
        Conversion::Scale(0.000_001)
    );
    assert_eq!(
        row("node_hwmon_in_lcrit_alarm_volts", &[]).labels,
        ["chip", "sensor"]
    );

    let freq = row("node_cpu_scaling_frequency_hertz", &[]);
    assert_eq!(
        (freq.labels, freq.conversion),
        (&["cpu"][..], Conversion::Scale(1000.0))
    );
    row("node_cpu_scaling_frequency_min_hertz", &[]);
    row("node_cpu_scaling_frequency_max_hertz", &[]);
}

#[test]
fn telegraf_measurements_fields_and_tags() {
    let cpu = row("node_cpu_seconds_total", &[("mode", "user")])
        .influx
        .unwrap();
    assert_eq!(
        (cpu.measurement, cpu.field, cpu.tags),
        ("cpu", "time_user", &["cpu"][..])
    );
    assert_eq!(cpu.tag_rule(0).parts("3"), ("cpu", "3"));
    assert_eq!(cpu.kind, FieldKind::Float);

    let ix = |name: &str| row(name, &[]).influx.unwrap();
    assert_eq!(
        (
            ix("node_memory_MemAvailable_bytes").measurement,
            ix("node_memory_MemAvailable_bytes").field
        ),
        ("mem", "available")
    );
    assert_eq!(ix("node_memory_MemTotal_bytes").kind, FieldKind::Integer);
    assert_eq!(ix("node_memory_Shmem_bytes").field, "shared");
    assert_eq!(ix("node_memory_Cached_bytes").measurement, "pimon_meminfo");
    assert_eq!(
        (ix("node_load15").measurement, ix("node_load15").field),
        ("system", "load15")
    );
    assert_eq!(ix("node_forks_total").field, "processes_forked");
    // /proc/stat's procs_blocked counts threads; Telegraf's processes.blocked counts
    // processes in state D.
    assert_eq!(
        (
            ix("node_procs_blocked").measurement,
            ix("node_procs_blocked").field
        ),
        ("pimon_kernel", "procs_blocked")
    );
    let state = |s: &str| row("node_processes_state", &[("state", s)]).influx.unwrap();
    assert_eq!(
        (state("D").measurement, state("D").field),
        ("processes", "blocked")
    );
    assert_eq!(state("Z").field, "zombies");
    assert_eq!(state("T").field, "stopped");
    assert_eq!(ix("node_processes_pids").field, "total");
    assert_eq!(ix("node_processes_threads").field, "total_threads");
    let total = row("pimon_cpu_total_seconds_total", &[("mode", "idle")])
        .influx
        .unwrap();
    assert_eq!(
        (total.measurement, total.field, total.const_tags),
        ("cpu", "time_idle", &[("cpu", "cpu-total")][..])
    );
    assert_eq!(ix("pimon_cpus_online").field, "n_cpus");
    assert_eq!(ix("pimon_users_sessions").field, "n_users");
    let temp = row("pimon_temp_celsius", &[]).influx.unwrap();
    assert_eq!(
        (temp.measurement, temp.field, temp.tags),
        ("temp", "temp", &["sensor"][..])
    );

    let rx = ix("node_network_receive_bytes_total");
    assert_eq!(
        (rx.measurement, rx.field, rx.tags),
        ("net", "bytes_recv", &["interface"][..])
    );
    assert_eq!(ix("node_network_transmit_drop_total").field, "drop_out");

    let rt = ix("node_disk_read_time_seconds_total");
    assert_eq!(
        (rt.measurement, rt.field, rt.tags),
        ("diskio", "read_time", &["name"][..])
    );
    assert_eq!(
        rt.conversion,
        Conversion::Identity,
        "Telegraf keeps milliseconds"
    );
    assert_eq!(
        ix("node_disk_read_bytes_total").conversion,
        Conversion::Scale(512.0)
    );
    assert_eq!(ix("node_disk_io_now").field, "iops_in_progress");

    let avail = ix("node_filesystem_avail_bytes");
    assert_eq!(
        (avail.measurement, avail.field, avail.tags),
        ("disk", "free", &["device", "fstype", "path"][..])
    );
    assert_eq!(avail.tag_rule(0).parts("/dev/mmcblk0p2"), ("", "mmcblk0p2"));
    assert_eq!(avail.tag_rule(0).parts("tmpfs"), ("", "tmpfs"));
    assert_eq!(avail.tag_rule(2), TagRule::Verbatim);

    let psi = ix("node_pressure_io_stalled_seconds_total");
    assert_eq!((psi.measurement, psi.field), ("pressure", "total"));
    assert_eq!(psi.const_tags, [("resource", "io"), ("type", "full")]);

    // Telegraf's temp input reads hwmon (pimon_temp_celsius): zones have their own.
    let zone = ix("node_thermal_zone_temp");
    assert_eq!(
        (zone.measurement, zone.field, zone.tags),
        ("pimon_thermal", "temp", &["zone", "type"][..])
    );
}

#[test]
fn conversions_are_exact_where_they_can_be() {
    let mt = row("node_memory_MemTotal_bytes", &[]);
    assert_eq!(
        mt.conversion.convert(Value::Unsigned(3_884_096), 100),
        Number::U64(3_977_314_304)
    );
    // Overflow of a whole factor falls back to float instead of wrapping.
    assert_eq!(
        mt.conversion.convert(Value::Unsigned(u64::MAX), 100),
        Number::F64(u64::MAX as f64 * 1024.0)
    );
    let rx = row("node_network_receive_bytes_total", &[]);
    assert_eq!(
        rx.conversion.convert(Value::Unsigned(u64::MAX - 1), 100),
        Number::U64(u64::MAX - 1)
    );
    // Millidegrees divide like node_exporter's `/ 1000.0`: prints as 45.123.
    let zone = row("node_thermal_zone_temp", &[]);
    let Number::F64(t) = zone.conversion.convert(Value::Signed(45_123), 100) else {
        panic!()
    };
    assert_eq!(t.to_string(), "45.123");
    assert_eq!(
        zone.conversion.convert(Value::Signed(-5_500), 100),
        Number::F64(-5.5)
    );
    // USER_HZ from the header; 0 means 100.
    let user = row("node_cpu_seconds_total", &[("mode", "user")]);
    assert_eq!(
        user.conversion.convert(Value::Unsigned(12_345), 100),
        Number::F64(123.45)
    );
    assert_eq!(
        user.conversion.convert(Value::Unsigned(500), 250),
        Number::F64(2.0)
    );
    assert_eq!(
        user.conversion.convert(Value::Unsigned(500), 0),
        Number::F64(5.0)
    );
    let load = row("node_load1", &[]);
    assert_eq!(
        load.conversion.convert(Value::Unsigned(87), 100),
        Number::F64(0.87)
    );
    let psi = row("node_pressure_cpu_waiting_seconds_total", &[]);
    assert_eq!(
        psi.conversion.convert(Value::Unsigned(1_088_168_194), 100),
        Number::F64(1088.168194)
    );
    assert_eq!(Conversion::Scale(2.5).apply(2.0, 100), 5.0);
    assert_eq!(Conversion::Scale(0.3).apply(10.0, 100), 0.3 * 10.0);
}

#[test]
fn find_and_meminfo_id_name_rows() {
    assert_eq!(
        find("node_cpu_seconds_total", &[("mode", "idle")]).map(|m| m.id),
        Some(id::CPU_SECONDS_IDLE)
    );
    assert_eq!(find("node_cpu_seconds_total", &[]), None);
    assert_eq!(find("node_load1", &[]).map(|m| m.id), Some(id::LOAD1));
    for (key, want) in [
        (&b"MemTotal"[..], Some(id::MEM_MEMTOTAL)),
        (b"Active(anon)", Some(id::MEM_ACTIVE_ANON)),
        (b"Inactive(file)", Some(id::MEM_INACTIVE_FILE)),
        (b"Committed_AS", Some(id::MEM_COMMITTED_AS)),
        (b"NFS_Unstable", Some(id::MEM_NFS_UNSTABLE)),
        (b"HugePages_Total", Some(id::MEM_HUGEPAGES_TOTAL)),
        (b"Hugepagesize", Some(id::MEM_HUGEPAGESIZE)),
        (b"DirectMap4k", Some(id::MEM_DIRECTMAP4K)),
        (b"Active_anon", Some(id::MEM_ACTIVE_ANON)),
        (b"Active", Some(id::MEM_ACTIVE)),
        (b"Activ", None),
        (b"MemTotal:", None),
        (b"", None),
        (b"GPUActive", None),
    ] {
        assert_eq!(meminfo_id(key), want, "{}", String::from_utf8_lossy(key));
    }
    // Every meminfo row is reachable from its kernel key.
    for i in id::MEM_MEMTOTAL..=id::MEM_DIRECTMAP1G {
        let m = lookup(i).unwrap();
        let field = m.prom_name.strip_prefix("node_memory_").unwrap();
        let field = field.strip_suffix("_bytes").unwrap_or(field);
        let key = match field.strip_suffix("_anon").or(field.strip_suffix("_file")) {
            Some(base) if field.starts_with("Active") || field.starts_with("Inactive") => {
                format!("{base}({})", &field[base.len() + 1..])
            }
            _ => field.to_string(),
        };
        assert_eq!(meminfo_id(key.as_bytes()), Some(i), "{key}");
    }
}

/// cAdvisor's names, units and labels for the cgroup metrics (`lib/metrics/prometheus.go`
/// and the kubelet's `containerPrometheusLabelsFunc`), and Telegraf's schemas
/// (`inputs.kubernetes`, `inputs.docker`, `inputs.systemd_units`) where they have the
/// value.
#[test]
fn cgroup_rows_use_cadvisor_names_and_telegraf_schemas() {
    let kinds = [
        (
            id::CGROUP_K8S_CONTAINER_CPU_USAGE,
            &["namespace", "pod", "container", "id"][..],
        ),
        (
            id::CGROUP_K8S_POD_CPU_USAGE,
            &["namespace", "pod", "id"][..],
        ),
        (id::CGROUP_DOCKER_CPU_USAGE, &["name", "id"][..]),
        (id::CGROUP_SERVICE_CPU_USAGE, &["id"][..]),
    ];
    let names = [
        "container_cpu_usage_seconds_total",
        "container_cpu_user_seconds_total",
        "container_cpu_system_seconds_total",
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total",
        "container_memory_usage_bytes",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_memory_cache",
        "container_memory_swap",
        "container_spec_memory_limit_bytes",
        "container_oom_events_total",
        "container_fs_reads_bytes_total",
        "container_fs_writes_bytes_total",
        "container_fs_reads_total",
        "container_fs_writes_total",
        "container_threads",
        "container_pressure_cpu_waiting_seconds_total",
        "container_pressure_cpu_stalled_seconds_total",
        "container_pressure_memory_waiting_seconds_total",
        "container_pressure_memory_stalled_seconds_total",
        "container_pressure_io_waiting_seconds_total",
        "container_pressure_io_stalled_seconds_total",
    ];
    assert_eq!(names.len(), CGROUP_METRICS);
    for (first, labels) in kinds {
        assert!(labels.len() <= pimon_protocol::MAX_LABELS);
        for (i, name) in names.iter().enumerate() {
            let m = &CATALOG[usize::from(first) + i];
            assert_eq!((m.prom_name, m.labels), (*name, labels));
        }
    }
    let usage = &CATALOG[usize::from(id::CGROUP_K8S_CONTAINER_CPU_USAGE)];
    assert_eq!(usage.const_labels, [("cpu", "total")]);
    assert_eq!(
        usage.conversion.convert(Value::Unsigned(1_500_000), 100),
        Number::F64(1.5)
    );
    let ix = |i: u16| CATALOG[usize::from(i)].influx.unwrap();
    let k8s = ix(id::CGROUP_K8S_CONTAINER_MEMORY_WORKING_SET);
    assert_eq!(
        (k8s.measurement, k8s.field, k8s.tags),
        (
            "kubernetes_pod_container",
            "memory_working_set_bytes",
            &["namespace", "pod_name", "container_name", ""][..]
        )
    );
    let k8s_cpu = ix(id::CGROUP_K8S_CONTAINER_CPU_USAGE);
    assert_eq!(k8s_cpu.field, "cpu_usage_core_nanoseconds");
    assert_eq!(
        k8s_cpu.conversion.convert(Value::Unsigned(7), 100),
        Number::U64(7000)
    );
    let docker_cpu = ix(id::CGROUP_DOCKER_CPU_USAGE);
    assert_eq!(
        (
            docker_cpu.measurement,
            docker_cpu.field,
            docker_cpu.const_tags
        ),
        (
            "docker_container_cpu",
            "usage_total",
            &[("cpu", "cpu-total")][..]
        )
    );
    let docker_mem = ix(id::CGROUP_DOCKER_MEMORY_WORKING_SET);
    assert_eq!(
        (docker_mem.measurement, docker_mem.field),
        ("docker_container_mem", "usage")
    );
    let blkio = ix(id::CGROUP_DOCKER_IO_READ_BYTES);
    assert_eq!(
        (blkio.measurement, blkio.field, blkio.const_tags),
        (
            "docker_container_blkio",
            "io_service_bytes_recursive_read",
            &[("device", "total")][..]
        )
    );
    let unit = ix(id::CGROUP_SERVICE_MEMORY_USAGE);
    assert_eq!(
        (unit.measurement, unit.field, unit.tags),
        ("systemd_units", "mem_current", &["name"][..])
    );
    assert_eq!(
        unit.tag_rule(0)
            .parts("/system.slice/system-getty.slice/getty@tty1.service"),
        ("", "getty@tty1.service")
    );
    assert_eq!(
        ix(id::CGROUP_SERVICE_CPU_USAGE).measurement,
        "pimon_systemd_unit"
    );
    assert_eq!(
        ix(id::CGROUP_K8S_POD_OOM_KILLS).measurement,
        "pimon_kubernetes_pod"
    );
}
