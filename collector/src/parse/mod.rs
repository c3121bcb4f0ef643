//! Pure parsers for the `/proc` and `/sys` files the collector reads.
//!
//! Every parser is a function over `&[u8]` (the bytes of one file as read) that returns
//! typed values or a [`ParseError`]. They are `no_std`, never allocate and never panic,
//! whatever the input: slices are taken with `get`, arithmetic is checked, and nothing
//! is unwrapped. Formats with a variable number of rows (`/proc/net/dev`,
//! `/proc/diskstats`, `/proc/meminfo`, mounts) are parsed lazily by iterators that yield
//! one `Result` per row, so one bad row can be skipped without losing the others.
//!
//! One module per format; [`filter`] holds node_exporter's default device and filesystem
//! filters as hand-written matchers, and [`wrap`] extends 32-bit kernel counters.

/// Bytes of a fixture file (tests only), relative to `collector/tests/fixtures/`.
#[cfg(test)]
macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
        .as_slice()
    };
}

pub mod cpufreq;
pub mod diskstats;
pub mod filter;
pub mod hwmon;
pub mod iio;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod netdev;
pub mod pressure;
pub mod route;
pub mod stat;
pub mod thermal;
pub mod throttled;
pub mod uptime;
pub mod w1;
pub mod wrap;

mod text;

pub use text::{parse_decimal_fixed, parse_i64, parse_u64, trim_ascii};

use core::fmt;

/// Why a file's bytes could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The input was empty (or only whitespace).
    Empty,
    /// A field or line that the format requires is missing (names it).
    MissingField(&'static str),
    /// A number was expected but the text is not one (empty, sign misplaced, stray byte).
    InvalidNumber,
    /// A number does not fit its type.
    Overflow,
    /// Text that must be UTF-8 (a name, a label) is not.
    InvalidUtf8,
    /// The structure does not match the format (names what was expected).
    Malformed(&'static str),
    /// A caller-provided buffer is too small for the decoded text.
    BufferTooSmall,
    /// A 1-wire reading failed its CRC check (`crc=.. NO`).
    CrcMismatch,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty input"),
            ParseError::MissingField(name) => write!(f, "missing field `{name}`"),
            ParseError::InvalidNumber => f.write_str("invalid number"),
            ParseError::Overflow => f.write_str("number out of range"),
            ParseError::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            ParseError::Malformed(what) => write!(f, "malformed input: expected {what}"),
            ParseError::BufferTooSmall => f.write_str("buffer too small for decoded text"),
            ParseError::CrcMismatch => f.write_str("1-wire CRC check failed"),
        }
    }
}

impl core::error::Error for ParseError {}

/// Iterator over the lines of `input` (split at `\n`, without the newline), skipping
/// lines that are empty or only whitespace.
pub(crate) fn lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    input
        .split(|&b| b == b'\n')
        .filter(|line| !trim_ascii(line).is_empty())
}

/// Iterator over the whitespace-separated words of `line`.
pub(crate) fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// `bytes` as `&str`, or [`ParseError::InvalidUtf8`].
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, ParseError> {
    core::str::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8)
}

/// The single line of a one-value sysfs file, trimmed; [`ParseError::Empty`] if none.
pub(crate) fn single_value(input: &[u8]) -> Result<&[u8], ParseError> {
    let trimmed = trim_ascii(input);
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(trimmed)
}

/// Parses a sysfs file holding one text value (a name, type or label): the trimmed
/// content as UTF-8, which must be non-empty and a single line.
pub fn parse_text_value(input: &[u8]) -> Result<&str, ParseError> {
    let value = single_value(input)?;
    if value.contains(&b'\n') {
        return Err(ParseError::Malformed("a single line"));
    }
    utf8(value)
}

/// Parses a sysfs file holding one signed decimal integer (millidegrees, millivolts…).
pub fn parse_int_value(input: &[u8]) -> Result<i64, ParseError> {
    parse_i64(single_value(input)?)
}

/// Parses a sysfs file holding one unsigned decimal integer (kHz, alarm flags…).
pub fn parse_uint_value(input: &[u8]) -> Result<u64, ParseError> {
    parse_u64(single_value(input)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_value_is_trimmed_single_line() {
        assert_eq!(parse_text_value(b"cpu-thermal\n"), Ok("cpu-thermal"));
        assert_eq!(parse_text_value(b"\n"), Err(ParseError::Empty));
        assert_eq!(
            parse_text_value(b"a\nb\n"),
            Err(ParseError::Malformed("a single line"))
        );
        assert_eq!(parse_text_value(b"\xff\n"), Err(ParseError::InvalidUtf8));
    }

    #[test]
    fn int_values() {
        assert_eq!(parse_int_value(b"-1250\n"), Ok(-1250));
        assert_eq!(parse_uint_value(b"1500000\n"), Ok(1_500_000));
        assert_eq!(parse_uint_value(b"-1\n"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn display_names_the_problem() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            ParseError::MissingField("btime").to_string(),
            "missing field `btime`"
        );
    }
}
