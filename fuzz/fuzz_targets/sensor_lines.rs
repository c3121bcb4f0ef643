//! Sensor config lines (`pimon_collector::sensors::parse_i2c_line` and
//! `parse_gpio_line`) on every line of any text, each fed to both parsers.
//!
//! Properties beyond "no panic":
//! - a parsed line re-renders (`Display`, the documented config syntax) to text that
//!   parses to the same sensor, with or without the `i2c =` / `gpio =` key in front;
//! - parsed values are within their documented limits (address 0x03-0x77 and one the
//!   chip can have, names of at most 32 bytes from the allowed characters, rppal pins
//!   0-53, pulls only with rppal);
//! - `SensorsConfig::add_*` accepts a sensor unless its name or bus address / pin is
//!   already taken.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_collector::sensors::config::{MAX_NAME_LEN, RPPAL_MAX_PIN};
use pimon_collector::sensors::{GpioBackend, Pull, SensorsConfig, parse_gpio_line, parse_i2c_line};

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut sensors = SensorsConfig::default();
    for line in text.lines().take(32) {
        if let Ok(s) = parse_i2c_line(line) {
            assert!((0x03..=0x77).contains(&s.address) && s.chip.addresses().contains(&s.address));
            assert!(valid_name(&s.name) && s.bus.starts_with('/'));
            let rendered = s.to_string();
            assert_eq!(parse_i2c_line(&rendered).as_ref(), Ok(&s), "{rendered:?}");
            assert_eq!(
                parse_i2c_line(&format!("i2c = {rendered}")).as_ref(),
                Ok(&s)
            );
            let taken = sensors
                .i2c
                .iter()
                .any(|o| o.name == s.name || (o.bus == s.bus && o.address == s.address));
            assert_eq!(sensors.add_i2c(s).is_ok(), !taken);
        }
        if let Ok(g) = parse_gpio_line(line) {
            assert!(valid_name(&g.name));
            if g.backend == GpioBackend::Rppal {
                assert!(g.line <= RPPAL_MAX_PIN);
            } else {
                assert_eq!(g.pull, Pull::None);
            }
            let rendered = g.to_string();
            assert_eq!(parse_gpio_line(&rendered).as_ref(), Ok(&g), "{rendered:?}");
            assert_eq!(
                parse_gpio_line(&format!("gpio={rendered} # x")).as_ref(),
                Ok(&g)
            );
            let taken = sensors
                .gpio
                .iter()
                .any(|o| o.name == g.name || (o.backend == g.backend && o.line == g.line));
            assert_eq!(sensors.add_gpio(g).is_ok(), !taken);
        }
    }
});
