//! The aggregator's TOML config file (`pimon_aggregator::config::parse_toml`) on any
//! text, then what `--check-config` does with an accepted one (`validate`, `describe`).
//!
//! Properties beyond "no panic":
//! - an error's location (`origin:line:col`) is inside the file;
//! - `describe` never shows a secret: replacing every password and every non-empty
//!   token leaves its output unchanged (whether one is set is shown, not a secret);
//! - the InfluxDB URLs of an accepted config are valid base URLs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::config::{Config, describe, parse_toml, validate};
use pimon_aggregator::http_client::HttpUrl;
use pimon_aggregator::influx::InfluxApi;

const ORIGIN: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_toml(text, ORIGIN) {
        Err(e) => check_error_location(text, &e.key),
        Ok(config) => {
            let _ = validate(&config);
            let shown = describe(&config);
            assert_eq!(
                describe(&without_secrets(&config)),
                shown,
                "describe shows a secret"
            );
            for output in &config.influx {
                assert!(HttpUrl::parse(&output.url).is_ok(), "{:?}", output.url);
            }
        }
    }
});

/// `fuzz.toml:LINE:COL` must point into `text` (1-based, the column within the line).
fn check_error_location(text: &str, key: &str) {
    let Some(at) = key.strip_prefix(ORIGIN).and_then(|r| r.strip_prefix(':')) else {
        return;
    };
    let Some((line, col)) = at.split_once(':') else {
        panic!("location {key:?} without a column");
    };
    let (line, col): (usize, usize) = (line.parse().unwrap(), col.parse().unwrap());
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        (1..=lines.len()).contains(&line),
        "{key:?} in {} lines",
        lines.len()
    );
    assert!((1..=lines[line - 1].len() + 1).contains(&col), "{key:?}");
}

/// `config` with every password and token replaced.
fn without_secrets(config: &Config) -> Config {
    let mut c = config.clone();
    for output in &mut c.influx {
        match &mut output.api {
            InfluxApi::V1 { password, .. } => {
                if password.is_some() {
                    *password = Some("x".into());
                }
            }
            // An empty token is shown as "no token": its absence is not a secret.
            InfluxApi::V2 { token, .. } => {
                if !token.is_empty() {
                    *token = "y".into();
                }
            }
        }
    }
    c
}
