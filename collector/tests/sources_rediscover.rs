//! Sensors that go away come back: a copy of the Pi 4 fixture tree is changed while the
//! sources read it — an hwmon chip renumbered by a driver reload, a thermal zone and an
//! IIO device removed and re-added, a DS18B20 unplugged and plugged in again, a 1-wire
//! probe whose reads keep failing — and discovery, run again every `rediscover`, finds
//! what is there now.
//!
//! Regular files stand in for sysfs here: a descriptor of a removed file still reads
//! its old bytes (in sysfs it fails with `ENODEV`), so the tests replace files with new
//! ones and check that the *new* file's value is read after re-discovery.

mod sources_support;

use std::time::{Duration, Instant};

use pimon_collector::source::{SourceKind, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::catalog::id;
use sources_support::{Recorder, TreeCopy, i, u};

const REDISCOVER: Duration = Duration::from_millis(150);

fn config(tree: &TreeCopy) -> SourcesConfig {
    SourcesConfig {
        root: tree.root.clone(),
        statvfs_timeout: Duration::from_secs(10),
        w1_interval: Duration::from_millis(20),
        w1_stale_after: Duration::from_millis(400),
        rediscover: REDISCOVER,
        ..SourcesConfig::default()
    }
}

fn cycle(sources: &mut Sources) -> Recorder {
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r
}

/// Cycles until `done` holds for one (at most 5 s); returns that cycle.
fn cycle_until(sources: &mut Sources, what: &str, done: impl Fn(&Recorder) -> bool) -> Recorder {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = cycle(sources);
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const CPU_THERMAL: [&str; 2] = ["thermal_thermal_zone0", "temp1"];

#[test]
fn a_renumbered_hwmon_chip_is_read_again_under_the_same_label() {
    let tree = TreeCopy::new("pi4", "rediscover-hwmon");
    let mut sources = Sources::open(&config(&tree));
    assert_eq!(
        cycle(&mut sources).value(id::HWMON_TEMP, &CPU_THERMAL),
        i(45277)
    );
    // The driver is reloaded: hwmon1 is gone, the chip comes back as hwmon7 with new
    // files (the old descriptors are dead).
    std::fs::rename(
        tree.path("sys/class/hwmon/hwmon1"),
        tree.path("sys/class/hwmon/hwmon7"),
    )
    .unwrap();
    tree.replace("sys/class/hwmon/hwmon7/temp1_input", "51250\n");
    let r = cycle_until(&mut sources, "the new hwmon7 file is read", |r| {
        r.has(id::HWMON_TEMP, &CPU_THERMAL) && r.value(id::HWMON_TEMP, &CPU_THERMAL) == i(51250)
    });
    assert_eq!(
        r.count(id::HWMON_TEMP),
        1,
        "one chip, not the old and the new"
    );
    let report = sources.report().to_string();
    assert!(
        report.contains("chip thermal_thermal_zone0 (hwmon7, cpu_thermal): temp1"),
        "{report}"
    );
}

#[test]
fn a_removed_thermal_zone_and_iio_device_stop_and_come_back_when_re_added() {
    let tree = TreeCopy::new("pi4", "rediscover-zone");
    let mut sources = Sources::open(&config(&tree));
    let bme = ["iio:device0", "bme280"];
    let first = cycle(&mut sources);
    assert_eq!(
        first.value(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]),
        i(45277)
    );
    assert_eq!(first.value(id::IIO_TEMPERATURE, &bme), i(22370));

    let zone = tree.path("sys/class/thermal/thermal_zone0");
    let iio = tree.path("sys/bus/iio/devices/iio:device0");
    let saved_iio = tree.path("iio-saved");
    std::fs::remove_dir_all(&zone).unwrap();
    // The fan's cooling device goes too, or the thermal source would stay present.
    std::fs::remove_dir_all(tree.path("sys/class/thermal/cooling_device0")).unwrap();
    std::fs::rename(&iio, &saved_iio).unwrap();
    cycle_until(&mut sources, "the removed zone and device are gone", |r| {
        !r.has(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]) && !r.has(id::IIO_TEMPERATURE, &bme)
    });
    for kind in [SourceKind::Thermal, SourceKind::Iio] {
        assert!(
            matches!(sources.status(kind), SourceStatus::Absent(_)),
            "{kind}: {:?}",
            sources.status(kind)
        );
    }
    let mut counters = Recorder::default();
    sources.push_error_counters(&mut counters);
    assert!(!counters.has(id::COLLECTOR_SOURCE_ERRORS, &["thermal"]));

    // Plugged in again (the zone with a new reading).
    std::fs::create_dir(&zone).unwrap();
    std::fs::write(zone.join("type"), "cpu-thermal\n").unwrap();
    std::fs::write(zone.join("temp"), "47125\n").unwrap();
    std::fs::rename(&saved_iio, &iio).unwrap();
    let r = cycle_until(&mut sources, "the zone and the device are back", |r| {
        r.has(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]) && r.has(id::IIO_TEMPERATURE, &bme)
    });
    assert_eq!(
        r.value(id::THERMAL_ZONE_TEMP, &["0", "cpu-thermal"]),
        i(47125)
    );
    assert_eq!(r.value(id::IIO_TEMPERATURE, &bme), i(22370));
    assert_eq!(sources.status(SourceKind::Thermal), &SourceStatus::Present);
}

#[test]
fn an_unplugged_ds18b20_is_dropped_and_read_again_when_plugged_in() {
    let tree = TreeCopy::new("pi4", "rediscover-w1");
    // A second probe, so the 1-wire source stays present while one is unplugged.
    let probe = tree.path("sys/bus/w1/devices/28-3c01d607d4a1");
    let other = tree.path("sys/bus/w1/devices/28-00000a1b2c3d");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("temperature"), "18500\n").unwrap();
    let mut sources = Sources::open(&config(&tree));
    assert!(sources.settle(Duration::from_secs(5)));
    let r = cycle(&mut sources);
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-3c01d607d4a1"]), i(21187));
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-00000a1b2c3d"]), i(18500));

    // Unplugged: the kernel removes its directory.
    let saved = tree.path("w1-saved");
    std::fs::rename(&probe, &saved).unwrap();
    let r = cycle_until(&mut sources, "the unplugged probe is no longer sent", |r| {
        !r.has(id::W1_TEMPERATURE, &["28-3c01d607d4a1"])
    });
    assert_eq!(
        r.value(id::W1_TEMPERATURE, &["28-00000a1b2c3d"]),
        i(18500),
        "the other probe keeps its reading through the renewal"
    );
    assert!(!r.has(id::W1_AGE, &["28-3c01d607d4a1"]));

    // Plugged in again, reading 19.5 °C.
    std::fs::rename(&saved, &probe).unwrap();
    tree.replace("sys/bus/w1/devices/28-3c01d607d4a1/temperature", "19500\n");
    let r = cycle_until(&mut sources, "the probe is read again", |r| {
        r.has(id::W1_TEMPERATURE, &["28-3c01d607d4a1"])
    });
    assert_eq!(r.value(id::W1_TEMPERATURE, &["28-3c01d607d4a1"]), i(19500));
    assert!(
        sources
            .report()
            .to_string()
            .contains("sensor 28-3c01d607d4a1 (temperature)")
    );
}

#[test]
fn the_last_1wire_reading_is_not_sent_for_ever_when_reads_keep_failing() {
    let tree = TreeCopy::new("pi4", "rediscover-stale");
    let mut sources = Sources::open(&config(&tree));
    assert!(sources.settle(Duration::from_secs(5)));
    let sensor = ["28-3c01d607d4a1"];
    assert_eq!(
        cycle(&mut sources).value(id::W1_TEMPERATURE, &sensor),
        i(21187)
    );
    // The probe answers garbage from now on (same file: its descriptor reads it).
    std::fs::write(
        tree.path("sys/bus/w1/devices/28-3c01d607d4a1/temperature"),
        "\n",
    )
    .unwrap();
    let started = Instant::now();
    cycle_until(&mut sources, "the stale reading is dropped", |r| {
        !r.has(id::W1_TEMPERATURE, &sensor)
    });
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "kept while younger than w1_stale_after"
    );
    assert!(sources.error_count(SourceKind::W1) > 0);
    // Good readings again: sent again.
    std::fs::write(
        tree.path("sys/bus/w1/devices/28-3c01d607d4a1/temperature"),
        "20000\n",
    )
    .unwrap();
    let r = cycle_until(&mut sources, "a good reading is sent again", |r| {
        r.has(id::W1_TEMPERATURE, &sensor)
    });
    assert_eq!(r.value(id::W1_TEMPERATURE, &sensor), i(20000));
}

#[test]
fn a_source_absent_at_start_is_found_when_it_appears() {
    let tree = TreeCopy::new("pi4", "rediscover-late");
    let iio = tree.path("sys/bus/iio/devices");
    let saved = tree.path("iio-late");
    std::fs::rename(&iio, &saved).unwrap();
    let mut sources = Sources::open(&config(&tree));
    assert!(matches!(
        sources.status(SourceKind::Iio),
        SourceStatus::Absent(_)
    ));
    // The driver probes after the collector started.
    std::fs::rename(&saved, &iio).unwrap();
    let r = cycle_until(&mut sources, "the late IIO device is read", |r| {
        r.has(id::IIO_TEMPERATURE, &["iio:device0", "bme280"])
    });
    assert_eq!(
        r.value(id::IIO_HUMIDITY, &["iio:device0", "bme280"]),
        i(48213)
    );
    assert_eq!(sources.status(SourceKind::Iio), &SourceStatus::Present);
}

#[test]
fn a_container_veth_leaves_and_a_new_one_comes_with_its_own_files() {
    let tree = TreeCopy::new("x86", "rediscover-veth");
    // The bonding driver's control file lives among the devices and is not one.
    std::fs::write(tree.path("sys/class/net/bonding_masters"), "\n").unwrap();
    let mut sources = Sources::open(&config(&tree));
    let first = cycle(&mut sources);
    assert_eq!(first.count(id::NETCLASS_UP), 5);
    assert_eq!(first.value(id::NETCLASS_IFACE_ID, &["veth3a1b2c4"]), i(6));
    assert!(!first.has(id::NETCLASS_UP, &["bonding_masters"]));

    // The container stops: its veth is removed; another starts with a new veth.
    let old = tree.path("sys/devices/virtual/net/veth3a1b2c4");
    let new = tree.path("sys/devices/virtual/net/veth9f0e1d2");
    std::fs::rename(&old, &new).unwrap();
    std::fs::remove_file(tree.path("sys/class/net/veth3a1b2c4")).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/virtual/net/veth9f0e1d2",
        tree.path("sys/class/net/veth9f0e1d2"),
    )
    .unwrap();
    tree.replace("sys/devices/virtual/net/veth9f0e1d2/ifindex", "8\n");
    tree.replace("sys/devices/virtual/net/veth9f0e1d2/iflink", "7\n");
    let r = cycle_until(&mut sources, "the new veth is read", |r| {
        r.has(id::NETCLASS_UP, &["veth9f0e1d2"])
    });
    assert!(!r.has(id::NETCLASS_UP, &["veth3a1b2c4"]));
    assert_eq!(r.count(id::NETCLASS_UP), 5);
    assert_eq!(r.value(id::NETCLASS_IFACE_ID, &["veth9f0e1d2"]), i(8));
    assert_eq!(r.value(id::NETCLASS_IFACE_LINK, &["veth9f0e1d2"]), i(7));
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
    assert!(
        sources
            .report()
            .to_string()
            .contains("netclass: ok: docker0 enp3s0 lo veth9f0e1d2 wlp4s0")
    );
}

#[test]
fn a_network_device_still_there_keeps_its_open_files_across_rediscovery() {
    let tree = TreeCopy::new("x86", "rediscover-netclass-kept");
    let mut sources = Sources::open(&config(&tree));
    assert_eq!(
        cycle(&mut sources).value(id::NETCLASS_MTU, &["docker0"]),
        i(1500)
    );
    // A new file in place of the old one: a device opened again would read 9000.
    tree.replace("sys/devices/virtual/net/docker0/mtu", "9000\n");
    std::thread::sleep(REDISCOVER * 3);
    for _ in 0..3 {
        let r = cycle(&mut sources);
        assert_eq!(
            r.value(id::NETCLASS_MTU, &["docker0"]),
            i(1500),
            "the descriptor opened at start is still read after rediscovery"
        );
        assert_eq!(r.count(id::NETCLASS_UP), 5);
        std::thread::sleep(REDISCOVER);
    }
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}

#[test]
fn a_network_device_name_taken_by_another_device_is_opened_again() {
    let tree = TreeCopy::new("x86", "rediscover-netclass-renamed");
    let mut sources = Sources::open(&config(&tree));
    let first = cycle(&mut sources);
    assert_eq!(first.value(id::NETCLASS_IFACE_ID, &["docker0"]), i(4));
    // Another device under the same name: its own ifindex and MTU.
    tree.replace("sys/devices/virtual/net/docker0/ifindex", "11\n");
    tree.replace("sys/devices/virtual/net/docker0/mtu", "9000\n");
    let r = cycle_until(&mut sources, "the new docker0 is read", |r| {
        r.value(id::NETCLASS_IFACE_ID, &["docker0"]) == i(11)
    });
    assert_eq!(r.value(id::NETCLASS_MTU, &["docker0"]), i(9000));
    assert_eq!(r.count(id::NETCLASS_UP), 5);
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}

#[test]
fn rediscover_zero_never_looks_again() {
    let tree = TreeCopy::new("pi4", "rediscover-off");
    let mut sources = Sources::open(&SourcesConfig {
        rediscover: Duration::ZERO,
        ..config(&tree)
    });
    std::fs::rename(
        tree.path("sys/class/hwmon/hwmon1"),
        tree.path("sys/class/hwmon/hwmon7"),
    )
    .unwrap();
    tree.replace("sys/class/hwmon/hwmon7/temp1_input", "51250\n");
    std::thread::sleep(REDISCOVER * 2);
    let r = cycle(&mut sources);
    assert_eq!(
        r.value(id::HWMON_TEMP, &CPU_THERMAL),
        i(45277),
        "still the descriptor opened at start"
    );
}

/// docker0's directory in the x86 tree (files written in place below: an open
/// descriptor reads the new bytes, as a sysfs attribute's does).
const DOCKER0: &str = "sys/devices/virtual/net/docker0";

fn write_in_place(tree: &TreeCopy, file: &str, content: &str) {
    std::fs::write(tree.path(&format!("{DOCKER0}/{file}")), content).unwrap();
}

#[test]
fn link_and_administrative_attributes_are_read_again_when_the_link_or_the_flags_change() {
    let tree = TreeCopy::new("x86", "netclass-held");
    let mut sources = Sources::open(&SourcesConfig {
        rediscover: Duration::ZERO,
        ..config(&tree)
    });
    let first = cycle(&mut sources);
    assert_eq!(first.value(id::NETCLASS_MTU, &["docker0"]), i(1500));
    assert_eq!(first.value(id::NETCLASS_SPEED, &["docker0"]), i(10000));
    assert_eq!(
        first.value(id::NETCLASS_CARRIER_UP_CHANGES, &["docker0"]),
        i(3)
    );
    // An MTU and a speed set with the link untouched (no carrier change, same flags
    // and operstate): both held; the counter read every cycle moves.
    write_in_place(
        &tree, "mtu", "9000
",
    );
    write_in_place(
        &tree, "speed", "1000
",
    );
    write_in_place(
        &tree,
        "statistics/rx_nohandler",
        "7
",
    );
    for _ in 0..2 {
        let r = cycle(&mut sources);
        assert_eq!(
            r.value(id::NETCLASS_MTU, &["docker0"]),
            i(1500),
            "the MTU is the one read at discovery"
        );
        assert_eq!(r.value(id::NETCLASS_SPEED, &["docker0"]), i(10000));
        assert_eq!(r.value(id::NET_RECEIVE_NOHANDLER, &["docker0"]), u(7));
    }
    // The link went down and up again (renegotiated): carrier_changes moved by two.
    write_in_place(
        &tree,
        "carrier_changes",
        "7
",
    );
    write_in_place(
        &tree,
        "carrier_up_count",
        "4
",
    );
    write_in_place(
        &tree,
        "carrier_down_count",
        "3
",
    );
    let r = cycle(&mut sources);
    assert_eq!(r.value(id::NETCLASS_CARRIER_CHANGES, &["docker0"]), i(7));
    assert_eq!(r.value(id::NETCLASS_CARRIER_UP_CHANGES, &["docker0"]), i(4));
    assert_eq!(
        r.value(id::NETCLASS_CARRIER_DOWN_CHANGES, &["docker0"]),
        i(3)
    );
    assert_eq!(r.value(id::NETCLASS_SPEED, &["docker0"]), i(1000));
    assert_eq!(r.value(id::NETCLASS_MTU, &["docker0"]), i(9000));
    // Dormant (802.1X not yet done): operstate changes, the carrier does not.
    write_in_place(
        &tree, "dormant", "1
",
    );
    write_in_place(
        &tree,
        "operstate",
        "dormant
",
    );
    let r = cycle(&mut sources);
    assert_eq!(r.value(id::NETCLASS_DORMANT, &["docker0"]), i(1));
    assert_eq!(r.value(id::NETCLASS_UP, &["docker0"]), u(0));
    write_in_place(
        &tree, "dormant", "0
",
    );
    write_in_place(
        &tree,
        "operstate",
        "up
",
    );
    // The device is set down and gets a new address: the flags change.
    write_in_place(
        &tree, "flags", "0x1002
",
    );
    write_in_place(
        &tree,
        "address",
        "02:42:00:00:00:01
",
    );
    let r = cycle(&mut sources);
    assert_eq!(r.value(id::NETCLASS_FLAGS, &["docker0"]), i(0x1002));
    assert_eq!(r.value(id::NETCLASS_DORMANT, &["docker0"]), i(0));
    let info = r
        .label_sets(id::NETCLASS_INFO)
        .into_iter()
        .find(|l| l[0] == "docker0")
        .unwrap();
    assert_eq!(info[1], "02:42:00:00:00:01");
    assert_eq!(info[5], "down", "adminstate from the new flags");
    // The same values again without a change: still sent every cycle.
    let r = cycle(&mut sources);
    assert_eq!(r.value(id::NETCLASS_MTU, &["docker0"]), i(9000));
    assert_eq!(r.value(id::NETCLASS_SPEED, &["docker0"]), i(1000));
    assert_eq!(
        r.count(id::NETCLASS_TRANSMIT_QUEUE_LENGTH),
        first.count(id::NETCLASS_TRANSMIT_QUEUE_LENGTH)
    );
    assert_eq!(r.count(id::NETCLASS_INFO), 5);
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}

#[test]
fn administrative_network_attributes_are_read_again_at_rediscovery() {
    let tree = TreeCopy::new("x86", "netclass-held-rediscover");
    let mut sources = Sources::open(&config(&tree));
    assert_eq!(
        cycle(&mut sources).value(id::NETCLASS_IFACE_LINK_MODE, &["docker0"]),
        i(0)
    );
    write_in_place(&tree, "link_mode", "1\n");
    write_in_place(&tree, "ifalias", "bridge of the containers\n");
    let r = cycle_until(&mut sources, "the new link_mode is read", |r| {
        r.value(id::NETCLASS_IFACE_LINK_MODE, &["docker0"]) == i(1)
    });
    let info = r
        .label_sets(id::NETCLASS_INFO)
        .into_iter()
        .find(|l| l[0] == "docker0")
        .unwrap();
    assert_eq!(info[6], "bridge of the containers");
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
}
