//! The readers on the Pi Zero fixture tree (kernel 4.14, 1 core): no PSI, 11-field
//! diskstats, `w1_slave` with a failing CRC, IIO raw × scale + offset, a hwmon chip
//! without `device` link, under-voltage flags.

mod sources_support;

use std::time::Duration;

use pimon_collector::source::{SourceKind, SourceStatus, Sources};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use sources_support::{Recorder, fixture_config, i, one_cycle, u};

/// No PSI (4.20+) and no `/run/utmp` (nobody logged in since boot on this Zero).
#[test]
fn pressure_and_users_are_absent_everything_else_present() {
    let (sources, r) = one_cycle("pizero");
    for kind in [SourceKind::Pressure, SourceKind::Users] {
        assert!(
            matches!(sources.status(kind), SourceStatus::Absent(_)),
            "{kind}"
        );
    }
    for kind in SourceKind::ALL {
        // No cgroup filesystem in the captured tree (see fixtures/cgroup-rpi), no utmp,
        // and no power supply (a Pi has none).
        if !matches!(
            kind,
            SourceKind::Pressure | SourceKind::Cgroup | SourceKind::Users | SourceKind::PowerSupply
        ) {
            assert_eq!(sources.status(kind), &SourceStatus::Present, "{kind}");
        }
    }
    assert!(
        !r.samples
            .iter()
            .any(|s| (id::PRESSURE_CPU_WAITING..=id::PRESSURE_IO_STALLED).contains(&s.metric))
    );
    assert!(sources.report().to_string().contains("pressure: absent ("));
}

#[test]
fn one_cpu_and_old_meminfo() {
    let (_, r) = one_cycle("pizero");
    assert_eq!(
        r.label_sets(id::CPU_SECONDS_USER),
        vec![vec!["0".to_string()]]
    );
    assert_eq!(r.value(id::CPU_SECONDS_USER, &["0"]), u(182339));
    assert_eq!(r.value(id::CPU_SECONDS_IDLE, &["0"]), u(2874411));
    assert_eq!(r.value(id::STAT_BOOT_TIME, &[]), u(1561967040));
    assert_eq!(r.value(id::LOAD1, &[]), u(107));
    assert_eq!(r.value(id::UPTIME, &[]), u(3129307));
    assert_eq!(r.value(id::MEM_MEMTOTAL, &[]), u(443976));
    assert!(!r.has(id::MEM_HIGHTOTAL, &[]), "no highmem on the Zero");
    assert!(
        !r.has(id::MEM_KRECLAIMABLE, &[]),
        "4.14 has no KReclaimable"
    );
    assert_eq!(r.value(id::CPUFREQ_SCALING_CUR, &["0"]), u(700_000));
    assert_eq!(r.value(id::CPUFREQ_SCALING_MAX, &["0"]), u(1_000_000));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_MIN, &["0"]), u(700_000));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_MAX, &["0"]), u(1_000_000));
    assert_eq!(r.value(id::NET_RECEIVE_DROP, &["wlan0"]), u(1208));
    assert_eq!(r.count(id::NET_RECEIVE_BYTES), 2);
}

#[test]
fn diskstats_without_discard_and_flush_fields() {
    let (_, r) = one_cycle("pizero");
    let disk = [
        10231, 4021, 574818, 54120, 8190, 10320, 297112, 189240, 0, 98430, 243390,
    ];
    for (offset, value) in (0u16..).zip(disk) {
        assert_eq!(
            r.value(id::DISK_READS_COMPLETED + offset, &["mmcblk0"]),
            u(value)
        );
    }
    assert!(!r.has(id::DISK_DISCARDS_COMPLETED, &["mmcblk0"]));
    assert!(!r.has(id::DISK_FLUSH_REQUESTS, &["mmcblk0"]));
    assert_eq!(
        r.count(id::DISK_READS_COMPLETED),
        3,
        "mmcblk0, p1, p2; ram/loop excluded"
    );
}

#[test]
fn under_voltage_throttled_and_rpi_volt_alarm() {
    let (_, r) = one_cycle("pizero");
    let expected = [1, 0, 1, 0, 1, 0, 1, 0];
    for (metric, value) in (id::RPI_UNDER_VOLTAGE..=id::RPI_SOFT_TEMP_LIMIT_OCCURRED).zip(expected)
    {
        assert_eq!(r.value(metric, &[]), u(value), "metric {metric}");
    }
    assert_eq!(r.value(id::RPI_THROTTLED_FLAGS, &[]), u(0x50005));
    // No `device` link: the chip label is the cleaned `name`.
    assert_eq!(
        r.value(id::HWMON_IN_LCRIT_ALARM, &["rpi_volt", "in0"]),
        i(1)
    );
    // Its chip_names series says the same name twice; no cooling device on a Pi Zero.
    assert_eq!(
        r.label_sets(id::HWMON_CHIP_NAMES),
        [["rpi_volt", "rpi_volt"]]
    );
    assert_eq!(r.count(id::COOLING_DEVICE_CUR_STATE), 0);
    assert_eq!(
        r.value(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]),
        i(38546)
    );
}

#[test]
fn w1_slave_crc_failure_is_counted_and_not_reported() {
    let (sources, r) = one_cycle("pizero");
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-0000075a1b2c"]), i(23750));
    assert!(r.has(id::W1_AGE, &["28-0000075a1b2c"]));
    assert!(
        !r.has(id::W1_TEMPERATURE, &["28-00000830e4f1"]),
        "CRC NO: no value"
    );
    assert_eq!(sources.error_count(SourceKind::W1), 1);
    assert!(
        sources
            .report()
            .to_string()
            .contains("sensor 28-0000075a1b2c (w1_slave)\n  sensor 28-00000830e4f1 (w1_slave)")
    );
}

#[test]
fn w1_reports_last_good_value_with_growing_age() {
    let mut config = fixture_config("pizero");
    config.w1_interval = Duration::from_secs(3600);
    let mut sources = Sources::open(&config);
    assert!(sources.settle(Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(30));
    let mut r = Recorder::default();
    sources.collect(&mut r);
    let Value::Unsigned(age) = r.value(id::W1_AGE, &["28-0000075a1b2c"]) else {
        panic!()
    };
    assert!(age >= 30, "age {age} ms");
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-0000075a1b2c"]), i(23750));
}

#[test]
fn iio_raw_times_scale_plus_offset() {
    let (_, r) = one_cycle("pizero");
    let hdc = ["iio:device0", "hdc100x"];
    // (25000 − 15887.515151) × 2.517700195 = 22942.504881261 milli °C.
    assert_eq!(
        r.value(id::IIO_TEMPERATURE, &hdc),
        Value::F64(22942.504881261)
    );
    // 30000 × 1.525878906 = 45776.36718 milli-percent.
    assert_eq!(r.value(id::IIO_HUMIDITY, &hdc), Value::F64(45776.36718));
    assert!(!r.has(id::IIO_PRESSURE, &hdc));
}

#[test]
fn filesystems_root_and_boot() {
    let (_, r) = one_cycle("pizero");
    assert_eq!(
        r.label_sets(id::FS_READONLY),
        [
            ["/dev/root", "ext4", "/"],
            ["tmpfs", "tmpfs", "/run"],
            ["/dev/mmcblk0p1", "vfat", "/boot"]
        ]
        .map(|l| l.map(String::from).to_vec())
    );
    assert_eq!(
        r.value(id::FS_DEVICE_ERROR, &["/dev/root", "ext4", "/"]),
        u(0)
    );
    assert_eq!(
        r.value(id::FS_DEVICE_ERROR, &["/dev/mmcblk0p1", "vfat", "/boot"]),
        u(0)
    );
    // /run does not exist in this tree.
    assert_eq!(
        r.value(id::FS_DEVICE_ERROR, &["tmpfs", "tmpfs", "/run"]),
        u(1)
    );
}

/// No hwmon chip reports a temperature: the thermal zone is Telegraf's temp sensor,
/// named by its type, as Telegraf's temp input falls back to zones.
#[test]
fn thermal_zone_is_the_telegraf_temp_sensor_without_hwmon_temperatures() {
    let (_, r) = one_cycle("pizero");
    assert_eq!(r.value(id::TEMP, &["cpu-thermal"]), i(38546));
    assert_eq!(r.label_sets(id::TEMP).len(), 1);
}

/// A process with three threads: its task directory is read (the main thread takes the
/// process's state).
#[test]
fn processes_and_the_threads_of_a_multithreaded_one() {
    let (_, r) = one_cycle("pizero");
    assert_eq!(r.value(id::PROCESSES_PIDS, &[]), u(7));
    assert_eq!(r.value(id::PROCESSES_THREADS, &[]), u(9));
    assert_eq!(r.value(id::PROCESSES_STATE_S, &[]), u(5));
    assert_eq!(r.value(id::PROCESSES_STATE_D, &[]), u(1));
    assert_eq!(r.value(id::PROCESSES_STATE_R, &[]), u(1));
    assert_eq!(r.value(id::PROCESSES_THREADS_STATE_S, &[]), u(7));
    assert_eq!(r.value(id::PROCESSES_THREADS_STATE_R, &[]), u(1));
    assert_eq!(r.value(id::PROCESSES_THREADS_STATE_D, &[]), u(1));
}

/// Kernel 4.14: no `carrier_up_count`/`carrier_down_count` (4.16+), and `lo` has no
/// `name_assign_type` (EINVAL: unnamed); wlan0 (brcmfmac) has no ethtool speed.
#[test]
fn netclass_on_an_old_kernel() {
    let (sources, r) = one_cycle("pizero");
    assert_eq!(r.value(id::NETCLASS_UP, &["wlan0"]), u(1));
    assert_eq!(r.value(id::NETCLASS_CARRIER_CHANGES, &["wlan0"]), i(3));
    assert_eq!(r.value(id::NETCLASS_IFACE_LINK_MODE, &["wlan0"]), i(1));
    assert_eq!(r.count(id::NETCLASS_CARRIER_UP_CHANGES), 0);
    assert_eq!(r.count(id::NETCLASS_CARRIER_DOWN_CHANGES), 0);
    assert_eq!(r.count(id::NETCLASS_SPEED), 0);
    assert!(!r.has(id::NETCLASS_NAME_ASSIGN_TYPE, &["lo"]));
    assert_eq!(r.value(id::NETCLASS_NAME_ASSIGN_TYPE, &["wlan0"]), i(1));
    assert_eq!(
        r.label_sets(id::NETCLASS_INFO),
        [
            [
                "lo",
                "00:00:00:00:00:00",
                "00:00:00:00:00:00",
                "",
                "unknown",
                "up",
                ""
            ],
            [
                "wlan0",
                "b8:27:eb:5d:40:e2",
                "ff:ff:ff:ff:ff:ff",
                "",
                "up",
                "up",
                ""
            ],
        ]
        .map(|l| l.map(String::from).to_vec())
    );
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}

/// Raspbian stretch on 4.14: no `proc/sys/kernel/arch` (the machine is `uname(2)`'s, of
/// the machine running the test), only `usr/lib/os-release`, a 4096-bit entropy pool.
#[test]
fn uname_without_arch_os_release_fallback_entropy() {
    let (sources, r) = one_cycle("pizero");
    let machine = pimon_collector::sys::uname_machine().expect("uname(2)");
    let uname = [
        "Linux",
        "4.14.98+",
        "#1200 Tue Feb 12 20:11:02 GMT 2019",
        machine.as_str(),
        "pizero",
        "(none)",
    ];
    assert_eq!(r.value(id::UNAME_INFO, &uname), u(1));
    let report = sources.report().to_string();
    assert!(
        report.contains(&format!("uname: ok: machine {machine} from uname(2)")),
        "{report}"
    );
    assert_eq!(
        r.label_sets(id::OS_INFO)[0][6],
        "Raspbian GNU/Linux 9 (stretch)"
    );
    assert_eq!(
        r.value(
            id::OS_VERSION,
            &["raspbian", "debian", "Raspbian GNU/Linux"]
        ),
        Value::F64(9.0)
    );
    assert_eq!(r.value(id::ENTROPY_AVAILABLE_BITS, &[]), u(1871));
    assert_eq!(r.value(id::ENTROPY_POOL_SIZE_BITS, &[]), u(4096));
    // No etc/localtime: UTC, as Go's time.Local (node_exporter) has it.
    assert_eq!(r.value(id::TIME_ZONE_OFFSET, &["UTC"]), i(0));
}
