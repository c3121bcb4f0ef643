//! The collector's config file (`pimon_collector::config::ConfigFile::parse`) on any
//! text, then what start-up does with an accepted one: `Settings::merge` (which builds
//! the sources' filters and the sensors from their lines).
//!
//! Properties beyond "no panic":
//! - errors and entries name a line of the file; entry keys are normalised (lower case,
//!   `_` for `-`);
//! - an accepted file never has both a `[key]` section and a `key_file`;
//! - accepted `[kmsg]` rules parse again as the kernel log source parses them;
//! - the sensor lines the file accepted build the same sensors when each value is
//!   parsed again from its own rendering (see the `sensor_lines` target).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pimon_collector::cli::Flags;
use pimon_collector::config::{ConfigFile, Settings, kmsg_config, sensors_config, sources_config};
use pimon_collector::parse::log_rule::Rule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line_count = text.lines().count();
    let file = match ConfigFile::parse(text) {
        Ok(file) => file,
        Err(e) => {
            assert!(e.line <= line_count, "{e}");
            return;
        }
    };
    assert!(!(file.key.is_some() && file.key_file.is_some()));
    for entry in file.filters.iter().chain(&file.sensor_lines).chain(&file.kmsg_lines) {
        assert!((1..=line_count).contains(&entry.line));
        assert!(!entry.key.is_empty());
        assert!(!entry.key.contains('-') && !entry.key.bytes().any(|b| b.is_ascii_uppercase()));
    }
    if let Ok(mut sources) = sources_config(Path::new("/"), &file.filters)
        && kmsg_config(&mut sources, &file.kmsg_lines).is_ok()
    {
        // Every accepted `[kmsg] rule` parses again as the source will parse it.
        for rule in &sources.kmsg_rules {
            assert!(Rule::parse(rule).is_ok(), "{rule:?}");
        }
    }
    if let Ok(sensors) = sensors_config(&file.sensor_lines) {
        for s in &sensors.i2c {
            assert_eq!(
                pimon_collector::sensors::parse_i2c_line(&s.to_string()).as_ref(),
                Ok(s)
            );
        }
        for g in &sensors.gpio {
            assert_eq!(
                pimon_collector::sensors::parse_gpio_line(&g.to_string()).as_ref(),
                Ok(g)
            );
        }
    }
    // Merging reads the key file a config names: keep the fuzzer off the disk.
    if file.key_file.is_none()
        && let Ok(settings) = Settings::merge(&Flags::default(), file)
    {
        assert!(!settings.node.is_empty() && settings.node.len() <= 32);
        assert!(settings.interval_ms() >= 1);
    }
});
