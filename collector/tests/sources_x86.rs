//! The readers on the x86 fixture tree: 8 CPUs, NVMe with partitions, pressure,
//! several thermal zones one of which fails to read, four hwmon chips; no Raspberry Pi
//! sources.

mod sources_support;

use pimon_collector::source::{SourceKind, SourceStatus};
use pimon_protocol::catalog::id;
use sources_support::{i, one_cycle, u};

#[test]
fn pi_only_sources_are_absent() {
    let (sources, _) = one_cycle("x86");
    for kind in [SourceKind::Throttled, SourceKind::W1, SourceKind::Iio] {
        assert!(
            matches!(sources.status(kind), SourceStatus::Absent(_)),
            "{kind}"
        );
    }
    for kind in [
        SourceKind::Stat,
        SourceKind::Pressure,
        SourceKind::Hwmon,
        SourceKind::Thermal,
    ] {
        assert_eq!(sources.status(kind), &SourceStatus::Present, "{kind}");
    }
    let mut r = sources_support::Recorder::default();
    sources.push_error_counters(&mut r);
    assert!(
        !r.has(id::COLLECTOR_SOURCE_ERRORS, &["w1"]),
        "absent sources have no counter"
    );
}

#[test]
fn eight_cpus_and_hugepages() {
    let (_, r) = one_cycle("x86");
    assert_eq!(r.count(id::CPU_SECONDS_USER), 8);
    assert_eq!(r.value(id::CPU_SECONDS_USER, &["7"]), u(819340));
    assert_eq!(r.value(id::CPU_SECONDS_IRQ, &["0"]), u(18));
    assert_eq!(r.value(id::CPU_SECONDS_SYSTEM, &["7"]), u(297728));
    assert_eq!(r.value(id::STAT_PROCS_BLOCKED, &[]), u(1));
    assert_eq!(r.value(id::MEM_HUGEPAGES_TOTAL, &[]), u(0));
    assert_eq!(r.value(id::MEM_HUGEPAGESIZE, &[]), u(2048));
    assert_eq!(r.value(id::MEM_VMALLOCTOTAL, &[]), u(34359738367));
    assert_eq!(r.value(id::MEM_DIRECTMAP1G, &[]), u(17825792));
    assert_eq!(r.value(id::CPUFREQ_SCALING_CUR, &["4"]), u(4_200_000));
    assert_eq!(r.value(id::PRESSURE_IO_STALLED, &[]), u(291203394));
    // 6.1+ with CONFIG_IRQ_TIME_ACCOUNTING (Ubuntu): /proc/pressure/irq, only `full`.
    assert_eq!(r.value(id::PRESSURE_IRQ_STALLED, &[]), u(1790386));
}

#[test]
fn nvme_partitions_and_loops_excluded_discard_flush_kept() {
    let (_, r) = one_cycle("x86");
    assert_eq!(
        r.label_sets(id::DISK_READS_COMPLETED),
        [["nvme0n1"], ["dm-0"]].map(|l| l.map(String::from).to_vec())
    );
    let tail = [20391, 0, 81234112, 2039, 812394, 21094];
    for (metric, value) in (id::DISK_DISCARDS_COMPLETED..=id::DISK_FLUSH_REQUESTS_TIME).zip(tail) {
        assert_eq!(r.value(metric, &["nvme0n1"]), u(value));
    }
    assert_eq!(r.value(id::DISK_WRITTEN_BYTES, &["nvme0n1"]), u(612938471));
    assert_eq!(
        r.count(id::NET_RECEIVE_BYTES),
        5,
        "no default netdev exclusion: docker0 and its veth too"
    );
    assert_eq!(r.value(id::NET_RECEIVE_BYTES, &["enp3s0"]), u(98123847123));
}

#[test]
fn failing_thermal_zone_does_not_drop_the_others() {
    let (sources, r) = one_cycle("x86");
    assert_eq!(r.value(id::THERMAL_ZONE_TEMP, &["0", "acpitz"]), i(27800));
    assert_eq!(
        r.value(id::THERMAL_ZONE_TEMP, &["1", "x86_pkg_temp"]),
        i(45000)
    );
    assert_eq!(
        r.value(id::THERMAL_ZONE_TEMP, &["3", "INT3400 Thermal"]),
        i(20000)
    );
    assert!(!r.has(id::THERMAL_ZONE_TEMP, &["2", "iwlwifi_1"]));
    assert_eq!(r.count(id::THERMAL_ZONE_TEMP), 3);
    assert_eq!(sources.error_count(SourceKind::Thermal), 1);
    assert!(sources.report().to_string().contains("zone 2 (iwlwifi_1)"));
}

#[test]
fn hwmon_chips_named_like_node_exporter() {
    let (_, r) = one_cycle("x86");
    assert_eq!(
        r.value(id::HWMON_TEMP, &["lnxsybus:01_lnxtherm:00", "temp1"]),
        i(27800)
    );
    assert_eq!(
        r.value(id::HWMON_TEMP_CRIT, &["lnxsybus:01_lnxtherm:00", "temp1"]),
        i(105000)
    );
    assert_eq!(r.value(id::HWMON_TEMP, &["nvme_nvme0", "temp1"]), i(38850));
    assert_eq!(
        r.value(id::HWMON_TEMP_MAX, &["nvme_nvme0", "temp1"]),
        i(84850)
    );
    for (sensor, temp) in [
        ("temp1", 45000),
        ("temp2", 43000),
        ("temp3", 44000),
        ("temp4", 42000),
        ("temp5", 45000),
    ] {
        let labels = ["platform_coretemp_0", sensor];
        assert_eq!(r.value(id::HWMON_TEMP, &labels), i(temp));
        assert_eq!(r.value(id::HWMON_TEMP_MAX, &labels), i(80000));
        assert_eq!(r.value(id::HWMON_TEMP_CRIT, &labels), i(100000));
    }
    let nct = "platform_nct6775_656";
    assert_eq!(r.value(id::HWMON_IN, &[nct, "in0"]), i(912));
    assert_eq!(r.value(id::HWMON_IN, &[nct, "in1"]), i(1016));
    assert_eq!(r.value(id::HWMON_FAN, &[nct, "fan2"]), i(1180));
    assert_eq!(r.value(id::HWMON_CURR, &[nct, "curr1"]), i(1250));
    assert_eq!(r.value(id::HWMON_POWER, &[nct, "power1"]), i(12_500_000));
}

#[test]
fn hwmon_labels_in_the_report() {
    let (sources, _) = one_cycle("x86");
    let report = sources.report().to_string();
    assert!(
        report.contains(
            "chip platform_coretemp_0 (hwmon2, coretemp): temp1 \"Package id 0\" temp2 \"Core 0\""
        ),
        "{report}"
    );
    assert!(report.contains("chip nvme_nvme0 (hwmon1, nvme): temp1 \"Composite\""));
}

#[test]
fn filesystems_exclusions_and_missing_mount_points() {
    let (sources, r) = one_cycle("x86");
    assert_eq!(
        r.label_sets(id::FS_DEVICE_ERROR),
        [
            ["tmpfs", "tmpfs", "/run"],
            ["/dev/mapper/vg0-root", "ext4", "/"],
            ["/dev/nvme0n1p1", "vfat", "/boot/efi"],
            ["nas:/export/media", "nfs4", "/mnt/nas media"],
            ["tmpfs", "tmpfs", "/run/user/1000"],
        ]
        .map(|l| l.map(String::from).to_vec()),
        "squashfs, overlay, nsfs, /run/credentials/…, /sys, /proc, /dev excluded"
    );
    assert_eq!(
        r.value(
            id::FS_DEVICE_ERROR,
            &["/dev/nvme0n1p1", "vfat", "/boot/efi"]
        ),
        u(0)
    );
    assert_eq!(
        r.value(
            id::FS_DEVICE_ERROR,
            &["nas:/export/media", "nfs4", "/mnt/nas media"]
        ),
        u(1)
    );
    assert_eq!(sources.error_count(SourceKind::Filesystem), 1);
}

/// Telegraf's temp sensor names: the chip's `name`, then its lower-cased label with
/// spaces as `_`; the thermal zones are not repeated (hwmon has temperatures).
#[test]
fn temperatures_named_as_telegraf_names_them() {
    let (_, r) = one_cycle("x86");
    let names: Vec<String> = r.label_sets(id::TEMP).into_iter().flatten().collect();
    assert_eq!(
        names,
        [
            "acpitz",
            "nvme_composite",
            "coretemp_package_id_0",
            "coretemp_core_0",
            "coretemp_core_1",
            "coretemp_core_2",
            "coretemp_core_3",
            "mt7921_phy0",
        ]
    );
    assert_eq!(r.value(id::TEMP, &["coretemp_package_id_0"]), i(45000));
    assert!(
        !r.has(id::PROCESSES_PIDS, &[]),
        "no /proc/[pid] in this tree"
    );
}

/// A desktop with Docker: the ethernet (alias set by the admin, `rx_nohandler` 17), the
/// wireless card down, the `docker0` bridge and one container's veth (in the bridge:
/// `IFF_PROMISC`; `iflink` is its peer's index in the container).
#[test]
fn netclass_with_a_docker_bridge_and_a_veth() {
    let (sources, r) = one_cycle("x86");
    assert_eq!(
        r.label_sets(id::NETCLASS_UP),
        [["docker0"], ["enp3s0"], ["lo"], ["veth3a1b2c4"], ["wlp4s0"]]
            .map(|l| l.map(String::from).to_vec())
    );
    assert_eq!(r.value(id::NET_RECEIVE_NOHANDLER, &["enp3s0"]), u(17));
    assert_eq!(r.value(id::NETCLASS_NAME_ASSIGN_TYPE, &["enp3s0"]), i(4));
    assert_eq!(r.value(id::NETCLASS_SPEED, &["docker0"]), i(10000));
    assert_eq!(
        r.value(id::NETCLASS_ADDRESS_ASSIGN_TYPE, &["docker0"]),
        i(3)
    );
    assert_eq!(r.value(id::NETCLASS_FLAGS, &["veth3a1b2c4"]), i(0x1103));
    assert_eq!(r.value(id::NETCLASS_IFACE_ID, &["veth3a1b2c4"]), i(6));
    assert_eq!(r.value(id::NETCLASS_IFACE_LINK, &["veth3a1b2c4"]), i(5));
    assert_eq!(r.value(id::NETCLASS_UP, &["wlp4s0"]), u(0));
    assert!(!r.has(id::NETCLASS_CARRIER, &["wlp4s0"]));
    assert!(r.has(
        id::NETCLASS_INFO,
        &[
            "enp3s0",
            "4c:cc:6a:12:34:56",
            "ff:ff:ff:ff:ff:ff",
            "full",
            "up",
            "up",
            "uplink to switch"
        ]
    ));
    assert!(r.has(
        id::NETCLASS_INFO,
        &[
            "wlp4s0",
            "a4:c3:f0:6d:21:8e",
            "ff:ff:ff:ff:ff:ff",
            "",
            "down",
            "down",
            ""
        ]
    ));
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
    assert!(
        sources
            .report()
            .to_string()
            .contains("netclass: ok: docker0 enp3s0 lo veth3a1b2c4 wlp4s0"),
        "{}",
        sources.report()
    );
}

/// Limits, alarm flags, chip names and sensor labels as node_exporter sends them, and a
/// Wi-Fi PHY's chip (a class device: `ieee80211_phy0` from the device path).
#[test]
fn hwmon_limits_alarms_and_info_series() {
    let (sources, r) = one_cycle("x86");
    assert_eq!(
        r.label_sets(id::HWMON_CHIP_NAMES),
        [
            ["lnxsybus:01_lnxtherm:00", "acpitz"],
            ["nvme_nvme0", "nvme"],
            ["platform_coretemp_0", "coretemp"],
            ["platform_nct6775_656", "nct6798"],
            ["ieee80211_phy0", "mt7921_phy0"],
        ]
    );
    assert_eq!(
        r.value(id::HWMON_TEMP, &["ieee80211_phy0", "temp1"]),
        i(41000)
    );
    let labels = r.label_sets(id::HWMON_SENSOR_LABEL);
    assert_eq!(labels.len(), 6, "{labels:?}");
    assert_eq!(labels[0], ["nvme_nvme0", "temp1", "Composite"]);
    assert_eq!(labels[1], ["platform_coretemp_0", "temp1", "Package id 0"]);
    assert_eq!(
        r.value(
            id::HWMON_SENSOR_LABEL,
            &["platform_coretemp_0", "temp5", "Core 3"]
        ),
        u(1)
    );
    let nvme = ["nvme_nvme0", "temp1"];
    assert_eq!(r.value(id::HWMON_TEMP_MIN, &nvme), i(-273150));
    assert_eq!(r.value(id::HWMON_TEMP_ALARM, &nvme), i(0));
    for core in ["temp1", "temp2", "temp3", "temp4", "temp5"] {
        let labels = ["platform_coretemp_0", core];
        assert_eq!(r.value(id::HWMON_TEMP_CRIT_ALARM, &labels), i(0));
    }
    let nct = "platform_nct6775_656";
    assert_eq!(r.value(id::HWMON_IN_MIN, &[nct, "in0"]), i(0));
    assert_eq!(r.value(id::HWMON_IN_MAX, &[nct, "in0"]), i(1744));
    assert_eq!(r.value(id::HWMON_IN_ALARM, &[nct, "in0"]), i(0));
    assert_eq!(r.value(id::HWMON_IN_ALARM, &[nct, "in1"]), i(1));
    assert_eq!(r.value(id::HWMON_FAN_MIN, &[nct, "fan2"]), i(0));
    assert_eq!(r.value(id::HWMON_FAN_ALARM, &[nct, "fan2"]), i(0));
    // fan2_pulses is not sent (node_exporter's fallback family, not in the catalog).
    assert_eq!(
        r.label_sets(id::COOLING_DEVICE_CUR_STATE),
        [
            ["0", "Processor"],
            ["1", "intel_powerclamp"],
            ["2", "TCC Offset"]
        ]
    );
    assert_eq!(
        r.value(id::COOLING_DEVICE_CUR_STATE, &["1", "intel_powerclamp"]),
        i(-1)
    );
    assert_eq!(
        r.value(id::COOLING_DEVICE_MAX_STATE, &["2", "TCC Offset"]),
        i(63)
    );
    assert_eq!(sources.error_count(SourceKind::Hwmon), 0);
}

/// Ubuntu 24.04 on 6.8: `os-release` with `ID_LIKE` and a `major.minor` version.
#[test]
fn uname_os_release_entropy() {
    let (_, r) = one_cycle("x86");
    let uname = [
        "Linux",
        "6.8.0-45-generic",
        "#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024",
        "x86_64",
        "desktop",
        "(none)",
    ];
    assert_eq!(r.value(id::UNAME_INFO, &uname), u(1));
    assert_eq!(
        r.value(id::OS_VERSION, &["ubuntu", "debian", "Ubuntu"]),
        pimon_protocol::Value::F64(24.04)
    );
    assert_eq!(r.label_sets(id::OS_INFO)[0][6], "Ubuntu 24.04.1 LTS");
    assert_eq!(r.value(id::ENTROPY_AVAILABLE_BITS, &[]), u(256));
    // etc/localtime is Australia/Sydney (a plain file): AEDT or AEST.
    let zone = r.label_sets(id::TIME_ZONE_OFFSET)[0][0].clone();
    let want = match zone.as_str() {
        "AEDT" => 39600,
        "AEST" => 36000,
        other => panic!("zone {other}"),
    };
    assert_eq!(r.value(id::TIME_ZONE_OFFSET, &[zone.as_str()]), i(want));
}
