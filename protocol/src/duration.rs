//! The one duration grammar of pimon's flags and config files, both binaries.
//!
//! A duration is a whole number followed by a unit, nothing between them:
//!
//! | unit | meaning | example |
//! |---|---|---|
//! | `ms` | milliseconds | `250ms` |
//! | `s` | seconds | `10s` |
//! | `m` (or `min`) | minutes | `1m` |
//! | `h` | hours | `2h` |
//!
//! White space around it is ignored; a bare number is refused (is `10` seconds or
//! milliseconds?), and so are fractions (`1.5s`: write `1500ms`), signs and compound
//! forms (`1h30m`: write `90m`). The resolution is a millisecond; a value past
//! `u64::MAX` milliseconds is [`DurationError::TooLong`]. What range a setting accepts
//! (non-zero, at least a minute…) is the caller's to check.
//!
//! It lives here, `no_std` and without allocation, because the collector (tight binary
//! budget, hand-written config parser) and the aggregator (TOML, lexopt) both need it;
//! it never panics, on any input (`tests/properties.rs`, fuzz target `durations`).
//!
//! ```
//! use core::time::Duration;
//! use pimon_protocol::duration::{parse_duration, DurationError};
//! assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
//! assert_eq!(parse_duration(" 10s "), Ok(Duration::from_secs(10)));
//! assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
//! assert_eq!(parse_duration("1min"), Ok(Duration::from_secs(60)));
//! assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
//! assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
//! assert_eq!(parse_duration("10"), Err(DurationError::MissingUnit));
//! assert_eq!(parse_duration("1.5s"), Err(DurationError::UnknownUnit));
//! assert_eq!(parse_duration("s"), Err(DurationError::NotANumber));
//! assert_eq!(parse_duration("99999999999999999999ms"), Err(DurationError::TooLong));
//! ```

use core::fmt;
use core::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// It does not start with a digit (empty, a sign, a word).
    NotANumber,
    /// A number without a unit.
    MissingUnit,
    /// A unit other than `ms`, `s`, `m`, `min`, `h` (or a fraction, or trailing text).
    UnknownUnit,
    /// More than `u64::MAX` milliseconds.
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DurationError::NotANumber => "not a duration",
            DurationError::MissingUnit => "needs a unit: ms, s, m or h",
            DurationError::UnknownUnit => "unknown unit (use ms, s, m or h)",
            DurationError::TooLong => "too long",
        })
    }
}

/// Parses a duration in the grammar of the module docs.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text
        .split_at_checked(digits)
        .ok_or(DurationError::NotANumber)?;
    if number.is_empty() {
        return Err(DurationError::NotANumber);
    }
    let mut n: u64 = 0;
    for digit in number.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(DurationError::TooLong)?;
    }
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "" => return Err(DurationError::MissingUnit),
        _ => return Err(DurationError::UnknownUnit),
    };
    n.checked_mul(ms_per_unit)
        .map(Duration::from_millis)
        .ok_or(DurationError::TooLong)
}
