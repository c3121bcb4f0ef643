//! Sensors that go away and come back while a real collector reads a copy of the
//! Pi 4 fixture tree: a thermal zone, an hwmon chip (which comes back renumbered, as
//! after a driver reload), a DS18B20 on 1-wire and a BME280 on IIO.
//!
//! Unplugging is played as the kernel does it: the old files stop giving readings
//! (they are emptied, so a descriptor the collector kept open reads nothing, like
//! ENODEV from a removed sysfs node) and their directories disappear. Plugging back
//! in creates new directories and files (new inodes) with new values. The node's
//! series must leave `/metrics` while the sensors are gone (1-wire must not keep its
//! last value) and come back with the new values, within a bounded time. The collector
//! looks for sensors again every `[filters] rediscover` (60 s by default; 1 s here, so
//! the test is quick).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::fleet::Fleet;
use pimon_e2e::pimon::AggregatorSetup;
use pimon_e2e::scrape::Scrape;
use pimon_e2e::wait;

/// The collector's `[filters] rediscover` in this test.
const REDISCOVER_CONFIG: &str = "[filters]\nrediscover = 1s\n";
/// How long a collector may take to notice a sensor left or came back: a few
/// rediscover periods.
const REDISCOVERY: Duration = Duration::from_secs(15);

/// One sensor: its directory under the tree, where it comes back, its series and
/// its value files with the new readings.
struct Sensor {
    dir: &'static str,
    back_as: &'static str,
    series: (&'static str, &'static [(&'static str, &'static str)]),
    new_files: &'static [(&'static str, &'static str)],
    new_value: f64,
}

const SENSORS: [Sensor; 4] = [
    Sensor {
        dir: "sys/class/thermal/thermal_zone0",
        back_as: "sys/class/thermal/thermal_zone0",
        series: ("node_thermal_zone_temp", &[("zone", "0")]),
        new_files: &[("temp", "51000\n")],
        new_value: 51.0,
    },
    Sensor {
        dir: "sys/class/hwmon/hwmon1",
        back_as: "sys/class/hwmon/hwmon3",
        series: (
            "node_hwmon_temp_celsius",
            &[("chip", "thermal_thermal_zone0"), ("sensor", "temp1")],
        ),
        new_files: &[("temp1_input", "52000\n")],
        new_value: 52.0,
    },
    Sensor {
        dir: "sys/bus/w1/devices/28-3c01d607d4a1",
        back_as: "sys/bus/w1/devices/28-3c01d607d4a1",
        series: (
            "pimon_w1_temperature_celsius",
            &[("sensor", "28-3c01d607d4a1")],
        ),
        new_files: &[
            ("temperature", "30500\n"),
            (
                "w1_slave",
                "e8 01 4b 46 7f ff 0c 10 a4 : crc=a4 YES\ne8 01 4b 46 7f ff 0c 10 a4 t=30500\n",
            ),
        ],
        new_value: 30.5,
    },
    Sensor {
        dir: "sys/bus/iio/devices/iio:device0",
        back_as: "sys/bus/iio/devices/iio:device0",
        series: (
            "pimon_iio_temperature_celsius",
            &[("device", "iio:device0")],
        ),
        new_files: &[("in_temp_input", "23500\n")],
        new_value: 23.5,
    },
];

/// `Err` with its output if the collector is not running (a config it refuses).
fn fleet_alive(fleet: &mut Fleet) -> Result<(), String> {
    let c = &mut fleet.collectors[0];
    if c.proc.is_running() {
        Ok(())
    } else {
        Err(format!("the collector exited\n{}", c.proc.output_report()))
    }
}

fn value(scrape: &Scrape, node: &str, sensor: &Sensor) -> Option<f64> {
    let mut labels = vec![("instance", node)];
    labels.extend_from_slice(sensor.series.1);
    scrape.get(sensor.series.0, &labels)
}

/// Empties every regular file of `dir` in place (descriptors held open now read
/// nothing), then moves `dir` to `parked`.
fn unplug(dir: &Path, parked: &Path) {
    for entry in fs::read_dir(dir).expect("read sensor dir") {
        let path = entry.expect("entry").path();
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_file())
        {
            fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .expect("empty a sensor file");
        }
    }
    fs::rename(dir, parked).expect("move the sensor away");
}

/// Copies `original` (the fixture's directory) to `dir` as new files and writes the
/// new readings.
fn plug(original: &Path, dir: &Path, files: &[(&str, &str)]) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(original)
        .arg(dir)
        .status()
        .expect("run cp -a");
    assert!(
        status.success(),
        "cp -a {} {}",
        original.display(),
        dir.display()
    );
    for (name, text) in files {
        fs::write(dir.join(name), text).expect("write a new reading");
    }
}

#[test]
fn sensors_removed_and_added_back_leave_and_come_back_with_their_new_values() {
    let mut setup = AggregatorSetup::new(&Launcher::host(Program::Aggregator))
        .config("[staleness]\nstale_min_seconds = 1\n");
    let aggregator = setup.start();
    let node = "pi4-sensors";
    let config_dir = tempfile::tempdir().expect("temp dir");
    let config = config_dir.path().join("collector.conf");
    fs::write(&config, REDISCOVER_CONFIG).expect("collector config");
    let config = config.display().to_string();
    let mut fleet = Fleet::start_on_copies(&[("pi4", node)], aggregator.udp, |c| {
        c.args(&["--config", &config])
    });
    let root: PathBuf = fleet.tree(0).to_path_buf();
    let parked =
        tempfile::tempdir_in(root.parent().expect("tree in a temp dir")).expect("temp dir");

    wait::until(Duration::from_secs(15), "every sensor on /metrics", || {
        fleet_alive(&mut fleet)?;
        let s = aggregator.scrape();
        let missing: Vec<&str> = SENSORS
            .iter()
            .filter(|x| value(&s, node, x).is_none())
            .map(|x| x.series.0)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing {missing:?}"))
        }
    });

    for (i, s) in SENSORS.iter().enumerate() {
        unplug(&root.join(s.dir), &parked.path().join(i.to_string()));
    }
    wait::poll(REDISCOVERY, Duration::from_millis(250), || {
        let s = aggregator.scrape();
        let still: Vec<String> = SENSORS
            .iter()
            .filter_map(|x| value(&s, node, x).map(|v| format!("{} = {v}", x.series.0)))
            .collect();
        if still.is_empty() {
            Ok(())
        } else {
            Err(still.join(", "))
        }
    })
    .unwrap_or_else(|e| {
        panic!("{REDISCOVERY:?} after the sensors were removed, /metrics still shows them: {e}")
    });
    fleet.assert_running("sensors removed");

    let fixture = pimon_e2e::fixture("pi4");
    for s in &SENSORS {
        plug(&fixture.join(s.dir), &root.join(s.back_as), s.new_files);
    }
    wait::poll(REDISCOVERY, Duration::from_millis(250), || {
        let s = aggregator.scrape();
        let wrong: Vec<String> = SENSORS
            .iter()
            .filter(|x| value(&s, node, x) != Some(x.new_value))
            .map(|x| format!("{} is {:?}, want {}", x.series.0, value(&s, node, x), x.new_value))
            .collect();
        if wrong.is_empty() { Ok(()) } else { Err(wrong.join("\n")) }
    })
    .unwrap_or_else(|e| {
        panic!(
            "{REDISCOVERY:?} after the sensors came back (hwmon1 as hwmon3), /metrics does not show their new values:\n{e}\n{}",
            fleet.collectors[0].proc.output_report()
        )
    });
    let stops = fleet.stop();
    assert_eq!(stops[0].unacknowledged, 0, "{}", stops[0].line);
    drop(setup);
}
