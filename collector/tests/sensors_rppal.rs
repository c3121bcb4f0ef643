//! GPIO inputs with rppal: off a Raspberry Pi they fail with a clear message, never a
//! panic.
#![cfg(feature = "rppal")]

mod sensors_support;

use pimon_collector::sensors::gpio::open_line;
use pimon_collector::sensors::{SensorStatus, Sensors, SensorsConfig, parse_gpio_line};
use sensors_support::Recorder;

/// Whether this machine is a Raspberry Pi (then the off-Pi path cannot be tested).
fn on_a_pi() -> bool {
    std::fs::read_to_string("/proc/device-tree/model")
        .map(|m| m.contains("Raspberry Pi"))
        .unwrap_or(false)
}

#[test]
fn rppal_off_a_pi_says_so() {
    if on_a_pi() {
        eprintln!("skipped: this machine is a Raspberry Pi");
        return;
    }
    let input = parse_gpio_line("gpio = rppal 17 door pull_up").unwrap();
    let Err(error) = open_line(&input) else {
        panic!("rppal opened a pin on a machine that is not a Raspberry Pi");
    };
    assert!(
        error.starts_with("rppal: not a Raspberry Pi (") && error.ends_with(')'),
        "{error}"
    );

    // Through Sensors: reported as missing, nothing pushed, no panic.
    let config = SensorsConfig {
        gpio: vec![input],
        ..SensorsConfig::default()
    };
    let mut sensors = Sensors::start(&config);
    let mut sink = Recorder::default();
    sensors.collect(&mut sink);
    assert!(sink.samples.is_empty());
    let report = sensors.report();
    assert_eq!(report.sensors[0].status, SensorStatus::Missing(error));
    assert!(!report.all_found());
}
