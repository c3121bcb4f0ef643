//! The GPIO character-device backend on paths that are not GPIO chips: a clear error
//! naming the path, never a panic (GPIO inputs through `CdevPin`).
//! The read path itself is covered with fake lines in `sensors_thread.rs`; this machine
//! has no `/dev/gpiochip*` and no gpio-sim module.
#![cfg(feature = "gpio")]

mod sensors_support;

use pimon_collector::sensors::gpio::open_line;
use pimon_collector::sensors::{SensorStatus, Sensors, SensorsConfig, parse_gpio_line};
use sensors_support::Recorder;

fn open_error(line: &str) -> String {
    match open_line(&parse_gpio_line(line).unwrap()) {
        Ok(_) => panic!("`{line}` opened"),
        Err(e) => e,
    }
}

#[test]
fn missing_chip_names_the_path() {
    let error = open_error("gpio = /dev/gpiochip-h7-absent 17 door");
    assert!(
        error.starts_with("/dev/gpiochip-h7-absent: ") && error.contains("No such file"),
        "{error}"
    );
}

#[test]
fn a_device_that_is_not_a_gpio_chip_is_refused() {
    // /dev/null opens but does not answer the GPIO chip-info ioctl.
    let error = open_error("gpio = /dev/null 17 door active_low");
    assert!(error.starts_with("/dev/null: "), "{error}");
}

#[test]
fn sensors_report_the_missing_chip_and_push_nothing() {
    let config = SensorsConfig {
        gpio: vec![parse_gpio_line("gpio = /dev/gpiochip-h7-absent 4 pir").unwrap()],
        ..SensorsConfig::default()
    };
    let mut sensors = Sensors::start(&config);
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
    let report = sensors.report();
    assert!(matches!(
        &report.sensors[0].status,
        SensorStatus::Missing(why) if why.starts_with("/dev/gpiochip-h7-absent: ")
    ));
}

#[test]
fn reload_replaces_the_configured_inputs() {
    let config = |line: &str| SensorsConfig {
        gpio: vec![parse_gpio_line(line).unwrap()],
        ..SensorsConfig::default()
    };
    let mut sensors = Sensors::start(&config("/dev/gpiochip-h7-absent 4 pir"));
    sensors.reload(&config("/dev/gpiochip-h7-absent 17 door"));
    let names: Vec<String> = sensors
        .report()
        .sensors
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["door"]);
}
