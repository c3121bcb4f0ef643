//! The readers on the Raspberry Pi 4 fixture tree (`tests/fixtures/pi4`), value by value.

mod sources_support;

use pimon_collector::source::{SourceKind, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use sources_support::{
    Recorder, TreeCopy, fixture_config, fixture_root, i, one_cycle, statvfs_size, u,
};

/// Every source but `cgroup` and `powersupply`: the captured tree has no cgroup
/// filesystem (the cgroup source has its own trees, `fixtures/cgroup-*`, tested in
/// `sources_cgroup.rs`) and a Pi has no power supply (`fixtures/laptop` has two).
#[test]
fn every_source_is_present() {
    let (sources, _) = one_cycle("pi4");
    for kind in SourceKind::ALL {
        if kind == SourceKind::Cgroup || kind == SourceKind::PowerSupply {
            assert!(matches!(sources.status(kind), SourceStatus::Absent(_)));
        } else {
            assert_eq!(sources.status(kind), &SourceStatus::Present, "{kind}");
        }
    }
}

#[test]
fn interrupts_one_label_set_per_irq_one_row_per_cpu() {
    let (_, r) = one_cycle("pi4");
    let timer = ["11", "GICv2", "30 Level arch_timer"];
    assert_eq!(r.value(id::INTERRUPTS_CPU0, &timer), u(9864151));
    assert_eq!(r.value(id::INTERRUPTS_CPU3, &timer), u(7035624));
    let ipi = ["IPI3", "Function call interrupts", ""];
    assert_eq!(r.value(id::INTERRUPTS_CPU1, &ipi), u(4012345));
    assert_eq!(r.count(id::INTERRUPTS_CPU0), 27);
    assert_eq!(r.count(id::INTERRUPTS_CPU4), 0);
}

#[test]
fn stat_system_and_per_cpu() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::STAT_CONTEXT_SWITCHES, &[]), u(796213465));
    assert_eq!(r.value(id::STAT_INTERRUPTS, &[]), u(478493201));
    assert_eq!(r.value(id::STAT_FORKS, &[]), u(2046218));
    assert_eq!(r.value(id::STAT_PROCS_RUNNING, &[]), u(2));
    assert_eq!(r.value(id::STAT_PROCS_BLOCKED, &[]), u(0));
    assert_eq!(r.value(id::STAT_BOOT_TIME, &[]), u(1719830584));
    let cpu0 = [340740, 8225, 147018, 3330118, 1576, 0, 11286, 0, 0, 0];
    let ids = [
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
    ];
    for (metric, value) in ids.into_iter().zip(cpu0) {
        assert_eq!(r.value(metric, &["0"]), u(value), "metric {metric}");
    }
    assert_eq!(r.value(id::CPU_SECONDS_USER, &["3"]), u(353428));
    assert_eq!(r.value(id::CPU_SECONDS_IDLE, &["2"]), u(3338938));
    assert_eq!(
        r.label_sets(id::CPU_SECONDS_USER),
        [["0"], ["1"], ["2"], ["3"]].map(|l| l.map(String::from).to_vec())
    );
}

#[test]
fn load_uptime_meminfo_pressure_throttled() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::LOAD1, &[]), u(52));
    assert_eq!(r.value(id::LOAD5, &[]), u(58));
    assert_eq!(r.value(id::LOAD15, &[]), u(59));
    assert_eq!(r.value(id::UPTIME, &[]), u(35482156));
    assert_eq!(r.value(id::MEM_MEMTOTAL, &[]), u(3885328));
    assert_eq!(r.value(id::MEM_MEMAVAILABLE, &[]), u(3293460));
    assert_eq!(r.value(id::MEM_ACTIVE_ANON, &[]), u(1560));
    assert_eq!(r.value(id::MEM_INACTIVE_FILE, &[]), u(652716));
    assert_eq!(r.value(id::MEM_HIGHTOTAL, &[]), u(3084288));
    assert_eq!(r.value(id::MEM_CMAFREE, &[]), u(500932));
    let meminfo = r
        .samples
        .iter()
        .filter(|s| (id::MEM_MEMTOTAL..=id::MEM_DIRECTMAP1G).contains(&s.metric))
        .count();
    assert_eq!(
        meminfo, 45,
        "every line of the Pi 4 meminfo is in the catalog"
    );
    assert_eq!(r.value(id::PRESSURE_CPU_WAITING, &[]), u(48213377));
    assert_eq!(r.value(id::PRESSURE_CPU_STALLED, &[]), u(0));
    assert_eq!(r.value(id::PRESSURE_MEMORY_WAITING, &[]), u(1207));
    assert_eq!(r.value(id::PRESSURE_MEMORY_STALLED, &[]), u(1100));
    assert_eq!(r.value(id::PRESSURE_IO_WAITING, &[]), u(19455012));
    assert_eq!(r.value(id::PRESSURE_IO_STALLED, &[]), u(18003417));
    for metric in id::RPI_UNDER_VOLTAGE..=id::RPI_THROTTLED_FLAGS {
        assert_eq!(r.value(metric, &[]), u(0));
    }
}

#[test]
fn cpufreq_in_khz() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::CPUFREQ_SCALING_CUR, &["0"]), u(1_800_000));
    assert_eq!(r.value(id::CPUFREQ_SCALING_CUR, &["1"]), u(600_000));
    assert_eq!(r.value(id::CPUFREQ_SCALING_MIN, &["3"]), u(600_000));
    assert_eq!(r.value(id::CPUFREQ_SCALING_MAX, &["2"]), u(1_800_000));
    assert_eq!(r.count(id::CPUFREQ_SCALING_CUR), 4);
}

#[test]
fn cpufreq_hardware_limits_and_current_frequency_in_khz() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_CUR, &["1"]), u(600_000));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_MIN, &["0"]), u(600_000));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_MAX, &["3"]), u(1_800_000));
    assert_eq!(r.count(id::CPUFREQ_CPUINFO_MAX), 4);
}

#[test]
fn cpufreq_sends_no_current_frequency_it_cannot_open() {
    let tree = TreeCopy::new("pi4", "cpufreq-unreadable");
    // As for a collector not running as root: `cpuinfo_cur_freq` is mode 0400.
    std::fs::remove_file(tree.path("sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_cur_freq"))
        .unwrap();
    let mut sources = Sources::open(&SourcesConfig {
        root: tree.root.clone(),
        ..fixture_config("pi4")
    });
    assert!(sources.settle(std::time::Duration::from_secs(10)));
    let mut r = Recorder::default();
    sources.collect(&mut r);
    assert!(!r.has(id::CPUFREQ_CPUINFO_CUR, &["0"]));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_CUR, &["1"]), u(600_000));
    assert_eq!(r.value(id::CPUFREQ_CPUINFO_MAX, &["0"]), u(1_800_000));
}

#[test]
fn netdev_every_interface() {
    let (_, r) = one_cycle("pi4");
    let eth0 = [
        2919380613, 7140577, 0, 16, 0, 0, 0, 81234, 389126422, 2830140, 0, 0, 0, 0, 0, 0,
    ];
    for (offset, value) in (0u16..).zip(eth0) {
        assert_eq!(r.value(id::NET_RECEIVE_BYTES + offset, &["eth0"]), u(value));
    }
    assert_eq!(r.value(id::NET_TRANSMIT_PACKETS, &["lo"]), u(12044));
    assert_eq!(r.value(id::NET_RECEIVE_BYTES, &["wlan0"]), u(0));
    assert_eq!(r.count(id::NET_TRANSMIT_COMPRESSED), 3);
}

/// `/sys/class/net`: eth0 up at 1000 Mbit/s, lo, and wlan0 administratively down (its
/// `carrier`, `dormant`, `speed` and `duplex` answer EINVAL on a real Pi: absent here).
#[test]
fn netclass_every_device_as_node_exporter_reads_it() {
    let (sources, r) = one_cycle("pi4");
    let eth0 = [
        (id::NETCLASS_UP, 1),
        (id::NETCLASS_ADDRESS_ASSIGN_TYPE, 0),
        (id::NETCLASS_CARRIER, 1),
        (id::NETCLASS_CARRIER_CHANGES, 4),
        (id::NETCLASS_CARRIER_UP_CHANGES, 2),
        (id::NETCLASS_CARRIER_DOWN_CHANGES, 2),
        (id::NETCLASS_DEVICE_ID, 0),
        (id::NETCLASS_DORMANT, 0),
        (id::NETCLASS_FLAGS, 0x1003),
        (id::NETCLASS_IFACE_ID, 2),
        (id::NETCLASS_IFACE_LINK, 2),
        (id::NETCLASS_IFACE_LINK_MODE, 0),
        (id::NETCLASS_MTU, 1500),
        (id::NETCLASS_NAME_ASSIGN_TYPE, 1),
        (id::NETCLASS_NET_DEV_GROUP, 0),
        (id::NETCLASS_SPEED, 1000),
        (id::NETCLASS_TRANSMIT_QUEUE_LENGTH, 1000),
        (id::NETCLASS_PROTOCOL_TYPE, 1),
    ];
    for (metric, value) in eth0 {
        let got = match r.value(metric, &["eth0"]) {
            Value::Signed(v) => v,
            Value::Unsigned(v) => v as i64,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, value, "metric {metric}");
    }
    assert_eq!(r.value(id::NET_RECEIVE_NOHANDLER, &["eth0"]), u(0));
    assert_eq!(
        r.value(
            id::NETCLASS_INFO,
            &[
                "eth0",
                "dc:a6:32:8f:1e:5b",
                "ff:ff:ff:ff:ff:ff",
                "full",
                "up",
                "up",
                ""
            ]
        ),
        u(1)
    );
    assert_eq!(r.value(id::NETCLASS_UP, &["lo"]), u(0), "operstate unknown");
    assert_eq!(r.value(id::NETCLASS_MTU, &["lo"]), i(65536));
    assert_eq!(r.value(id::NETCLASS_PROTOCOL_TYPE, &["lo"]), i(772));
    assert!(!r.has(id::NETCLASS_SPEED, &["lo"]));
    assert_eq!(
        r.label_sets(id::NETCLASS_INFO)[1],
        [
            "lo",
            "00:00:00:00:00:00",
            "00:00:00:00:00:00",
            "",
            "unknown",
            "up",
            ""
        ]
    );
    assert_eq!(r.value(id::NETCLASS_UP, &["wlan0"]), u(0));
    assert_eq!(r.value(id::NETCLASS_CARRIER_DOWN_CHANGES, &["wlan0"]), i(1));
    assert_eq!(r.value(id::NETCLASS_IFACE_LINK_MODE, &["wlan0"]), i(1));
    for missing in [
        id::NETCLASS_CARRIER,
        id::NETCLASS_DORMANT,
        id::NETCLASS_SPEED,
    ] {
        assert!(!r.has(missing, &["wlan0"]), "metric {missing}");
    }
    assert_eq!(
        r.label_sets(id::NETCLASS_INFO)[2],
        [
            "wlan0",
            "e4:5f:01:2a:7c:91",
            "ff:ff:ff:ff:ff:ff",
            "",
            "down",
            "down",
            ""
        ]
    );
    assert_eq!(
        r.label_sets(id::NETCLASS_UP),
        [["eth0"], ["lo"], ["wlan0"]].map(|l| l.map(String::from).to_vec())
    );
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}

#[test]
fn diskstats_default_filter_and_all_17_fields() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(
        r.label_sets(id::DISK_READS_COMPLETED),
        [["mmcblk0"], ["mmcblk0p1"], ["mmcblk0p2"]].map(|l| l.map(String::from).to_vec()),
        "ram* and loop* are excluded, mmcblk partitions kept (node_exporter's default)"
    );
    let p2 = [
        47797, 13576, 2812572, 30743, 1202559, 1183240, 29311230, 2514338, 0, 1417432, 2545081, 0,
        0, 0, 0, 0, 0,
    ];
    for (offset, value) in (0u16..).zip(p2) {
        assert_eq!(
            r.value(id::DISK_READS_COMPLETED + offset, &["mmcblk0p2"]),
            u(value)
        );
    }
    assert_eq!(id::DISK_READS_COMPLETED + 16, id::DISK_FLUSH_REQUESTS_TIME);
}

#[test]
fn filesystems_filtered_with_statvfs_and_device_error() {
    let (sources, r) = one_cycle("pi4");
    let kept: Vec<Vec<String>> = r.label_sets(id::FS_DEVICE_ERROR);
    let expected: Vec<Vec<String>> = [
        ["/dev/mmcblk0p2", "ext4", "/"],
        ["tmpfs", "tmpfs", "/run"],
        ["tmpfs", "tmpfs", "/run/lock"],
        ["/dev/mmcblk0p1", "vfat", "/boot/firmware"],
        ["tmpfs", "tmpfs", "/run/user/1000"],
        ["/dev/sda1", "vfat", "/media/pi/USB Stick"],
    ]
    .map(|l| l.map(String::from).to_vec())
    .to_vec();
    assert_eq!(kept, expected);
    let root = ["/dev/mmcblk0p2", "ext4", "/"];
    assert_eq!(r.value(id::FS_DEVICE_ERROR, &root), u(0));
    assert_eq!(r.value(id::FS_READONLY, &root), u(0));
    let (size, files) = statvfs_size(&fixture_root("pi4"));
    assert_eq!(
        r.value(id::FS_SIZE, &root),
        u(size),
        "statvfs under the root"
    );
    assert_eq!(r.value(id::FS_FILES, &root), u(files));
    let Value::Unsigned(avail) = r.value(id::FS_AVAIL, &root) else {
        panic!()
    };
    let Value::Unsigned(free) = r.value(id::FS_FREE, &root) else {
        panic!()
    };
    assert!(avail <= free && free <= size);
    // The USB stick's mount point does not exist in the tree: statvfs fails.
    let usb = ["/dev/sda1", "vfat", "/media/pi/USB Stick"];
    assert_eq!(r.value(id::FS_DEVICE_ERROR, &usb), u(1));
    assert_eq!(r.value(id::FS_READONLY, &usb), u(1));
    assert!(!r.has(id::FS_SIZE, &usb));
    assert_eq!(sources.error_count(SourceKind::Filesystem), 1);
}

#[test]
fn thermal_hwmon_w1_iio() {
    let (sources, r) = one_cycle("pi4");
    assert_eq!(
        r.value(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]),
        i(45277)
    );
    assert_eq!(
        r.value(
            id::HWMON_IN_LCRIT_ALARM,
            &["soc:firmware_raspberrypi_hwmon", "in0"]
        ),
        i(0)
    );
    assert_eq!(
        r.value(id::HWMON_TEMP, &["thermal_thermal_zone0", "temp1"]),
        i(45277)
    );
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-3c01d607d4a1"]), i(21187));
    let Value::Unsigned(age_ms) = r.value(id::W1_AGE, &["28-3c01d607d4a1"]) else {
        panic!()
    };
    assert!(age_ms < 10_000, "age {age_ms} ms");
    let bme = ["iio:device0", "bme280"];
    assert_eq!(r.value(id::IIO_TEMPERATURE, &bme), i(22370));
    assert_eq!(r.value(id::IIO_HUMIDITY, &bme), i(48213));
    assert_eq!(r.value(id::IIO_PRESSURE, &bme), Value::F64(100.826113281));
    for kind in SourceKind::ALL {
        if kind != SourceKind::Filesystem {
            assert_eq!(sources.error_count(kind), 0, "{kind}");
        }
    }
}

#[test]
fn error_counters_and_report() {
    let (sources, _) = one_cycle("pi4");
    let mut r = sources_support::Recorder::default();
    sources.push_error_counters(&mut r);
    r.check_consistency();
    assert_eq!(r.value(id::COLLECTOR_SOURCE_ERRORS, &["filesystem"]), u(1));
    assert_eq!(r.value(id::COLLECTOR_SOURCE_ERRORS, &["stat"]), u(0));
    // Every source but cgroup (no cgroup filesystem in this tree) and powersupply.
    assert_eq!(
        r.count(id::COLLECTOR_SOURCE_ERRORS),
        SourceKind::ALL.len() - 2
    );
    let report = sources.report().to_string();
    for needle in [
        "stat: ok",
        "zone 0 (cpu-thermal)",
        "chip soc:firmware_raspberrypi_hwmon (hwmon0, rpi_volt): in0",
        "chip thermal_thermal_zone0 (hwmon1, cpu_thermal): temp1",
        "sensor 28-3c01d607d4a1 (temperature)",
        "iio:device0 (bme280): temp (input) humidityrelative (input) pressure (input)",
        "cpufreq: ok: cpus 0 1 2 3",
        "pressure: ok: cpu memory io",
    ] {
        assert!(report.contains(needle), "{needle:?} not in:\n{report}");
    }
}

#[test]
fn values_follow_the_files_cycle_after_cycle() {
    // Files are re-read each cycle: two cycles give the same values on a static tree.
    // Not static: the 1-wire reading's age, statvfs of the fixture's mount points,
    // which are directories on this machine's (shared, changing) disk, and the clock.
    let (mut sources, first) = one_cycle("pi4");
    let mut second = sources_support::Recorder::default();
    sources.collect(&mut second);
    let live = [
        id::W1_AGE,
        id::FS_FREE,
        id::FS_AVAIL,
        id::FS_FILES_FREE,
        id::FS_SIZE,
        id::FS_FILES,
        id::TIME_SECONDS,
    ];
    let strip = |r: &sources_support::Recorder| {
        r.samples
            .iter()
            .filter(|s| !live.contains(&s.metric))
            .map(|s| (s.labels.clone(), s.metric, s.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&first), strip(&second));
}

/// `/proc/[pid]/stat` of eleven processes (rsyslogd with four threads), counted as
/// node_exporter's processes collector and Telegraf's processes input count them.
#[test]
fn processes_by_state_and_threads_by_state() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::PROCESSES_PIDS, &[]), u(11));
    assert_eq!(r.value(id::PROCESSES_THREADS, &[]), u(14));
    assert_eq!(r.value(id::PROCESSES_MAX_PROCESSES, &[]), u(32768));
    assert_eq!(r.value(id::PROCESSES_MAX_THREADS, &[]), u(29958));
    let state = |s: &str| {
        pimon_protocol::catalog::find("node_processes_state", &[("state", s)])
            .unwrap()
            .id
    };
    let thread = |s: &str| {
        pimon_protocol::catalog::find("node_processes_threads_state", &[("thread_state", s)])
            .unwrap()
            .id
    };
    for (letter, processes, threads) in [
        ("R", 1, 2),
        ("S", 6, 7),
        ("D", 1, 2),
        ("Z", 1, 1),
        ("T", 1, 1),
        ("I", 1, 1),
    ] {
        assert_eq!(r.value(state(letter), &[]), u(processes), "state {letter}");
        assert_eq!(
            r.value(thread(letter), &[]),
            u(threads),
            "thread state {letter}"
        );
    }
    // States no process is in are not sent, as node_exporter does.
    for letter in ["t", "X", "P", "W"] {
        assert!(!r.has(state(letter), &[]), "state {letter}");
        assert!(!r.has(thread(letter), &[]), "thread state {letter}");
    }
}

/// Telegraf's system.n_users and n_unique_users: two sessions of `pi` (tty1, pts/0).
#[test]
fn users_from_utmp() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::USERS_SESSIONS, &[]), u(2));
    assert_eq!(r.value(id::USERS_UNIQUE, &[]), u(1));
}

/// The `cpu` line as Telegraf's cpu-total, the CPU count as its system.n_cpus, and the
/// hwmon temperature under Telegraf's sensor name (the thermal zone is not repeated:
/// Telegraf reads zones only without hwmon temperatures).
#[test]
fn telegraf_cpu_total_cpu_count_and_temp() {
    let (_, r) = one_cycle("pi4");
    assert_eq!(r.value(id::CPU_TOTAL_SECONDS_USER, &[]), u(1393280));
    assert_eq!(r.value(id::CPU_TOTAL_SECONDS_IDLE, &[]), u(13343292));
    assert_eq!(r.value(id::STAT_CPUS_ONLINE, &[]), u(4));
    assert_eq!(r.value(id::TEMP, &["cpu_thermal"]), i(45277));
    assert_eq!(r.label_sets(id::TEMP), [["cpu_thermal".to_string()]]);
}

/// node_exporter's info series and the gpio-fan overlay's chip and cooling device:
/// `node_hwmon_chip_names` joins the `chip` label (derived from the device path) to
/// the chip's `name`, as Node Exporter Full's hardware panels do.
#[test]
fn hwmon_chip_names_fan_limits_and_cooling_device() {
    let (sources, r) = one_cycle("pi4");
    assert_eq!(
        r.label_sets(id::HWMON_CHIP_NAMES),
        [
            ["soc:firmware_raspberrypi_hwmon", "rpi_volt"],
            ["thermal_thermal_zone0", "cpu_thermal"],
            ["platform_gpio_fan_0", "gpio_fan"],
        ]
    );
    for labels in r.label_sets(id::HWMON_CHIP_NAMES) {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        assert_eq!(r.value(id::HWMON_CHIP_NAMES, &labels), u(1));
    }
    assert_eq!(
        r.count(id::HWMON_SENSOR_LABEL),
        0,
        "no *_label files on a Pi"
    );
    let fan = ["platform_gpio_fan_0", "fan1"];
    assert_eq!(r.value(id::HWMON_FAN, &fan), i(0));
    assert_eq!(r.value(id::HWMON_FAN_MIN, &fan), i(0));
    assert_eq!(r.value(id::HWMON_FAN_MAX, &fan), i(5000));
    assert_eq!(r.value(id::HWMON_FAN_TARGET, &fan), i(0));
    assert_eq!(
        r.value(id::COOLING_DEVICE_CUR_STATE, &["0", "gpio-fan"]),
        i(0)
    );
    assert_eq!(
        r.value(id::COOLING_DEVICE_MAX_STATE, &["0", "gpio-fan"]),
        i(1)
    );
    assert_eq!(r.count(id::COOLING_DEVICE_CUR_STATE), 1);
    // The fan is no temperature: Telegraf's temp sensors stay cpu_thermal alone.
    assert_eq!(r.label_sets(id::TEMP), [["cpu_thermal".to_string()]]);
    let report = sources.report().to_string();
    for needle in [
        "chip platform_gpio_fan_0 (hwmon2, gpio_fan): fan1",
        "cooling device 0 (gpio-fan)",
    ] {
        assert!(report.contains(needle), "{needle:?} not in:\n{report}");
    }
    assert_eq!(sources.error_count(SourceKind::Hwmon), 0);
    assert_eq!(sources.error_count(SourceKind::Thermal), 0);
}

/// node_exporter's uname, os, entropy and time families (Raspberry Pi OS 32-bit on a
/// 32-bit 6.6 kernel: `arch` is there, so the machine is the tree's, not this host's).
#[test]
fn uname_os_release_entropy_and_time() {
    let (_, r) = one_cycle("pi4");
    let uname = [
        "Linux",
        "6.6.31+rpt-rpi-v7l",
        "#1 SMP Raspbian 1:6.6.31-1+rpt1 (2024-05-29)",
        "armv7l",
        "raspberrypi",
        "(none)",
    ];
    assert_eq!(r.value(id::UNAME_INFO, &uname), u(1));
    let os = [
        "",
        "raspbian",
        "debian",
        "",
        "",
        "Raspbian GNU/Linux",
        "Raspbian GNU/Linux 12 (bookworm)",
        "",
        "",
        "12 (bookworm)",
        "bookworm",
        "12",
    ];
    assert_eq!(r.value(id::OS_INFO, &os), u(1));
    assert_eq!(
        r.value(
            id::OS_VERSION,
            &["raspbian", "debian", "Raspbian GNU/Linux"]
        ),
        pimon_protocol::Value::F64(12.0)
    );
    assert_eq!(r.value(id::ENTROPY_AVAILABLE_BITS, &[]), u(256));
    assert_eq!(r.value(id::ENTROPY_POOL_SIZE_BITS, &[]), u(256));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let pimon_protocol::Value::Unsigned(ms) = r.value(id::TIME_SECONDS, &[]) else {
        panic!("node_time_seconds is sent in milliseconds");
    };
    assert!(ms <= before && before - ms < 60_000, "{ms} vs {before}");
}

/// `etc/localtime` is a link to `/usr/share/zoneinfo/Europe/London`, taken under the
/// root: GMT in winter, BST in summer.
#[test]
fn time_zone_through_the_link_under_the_root() {
    let (_, r) = one_cycle("pi4");
    let zones = r.label_sets(id::TIME_ZONE_OFFSET);
    assert_eq!(zones.len(), 1);
    let zone = zones[0][0].as_str();
    let want = match zone {
        "GMT" => i(0),
        "BST" => i(3600),
        other => panic!("zone {other}"),
    };
    assert_eq!(r.value(id::TIME_ZONE_OFFSET, &[zone]), want);
}
