//! Pure parsers for the `/proc` and `/sys` files the collector reads.
//!
//! Every parser is a function over `&[u8]` (the bytes of one file as read) that returns
//! typed values or a [`ParseError`]. They are `no_std`, never allocate and never panic,
//! whatever the input: slices are taken with `get`, arithmetic is checked, and nothing
//! is unwrapped. Formats with a variable number of rows (`/proc/net/dev`,
//! `/proc/diskstats`, `/proc/meminfo`, mounts) are parsed lazily by iterators that yield
//! one `Result` per row, so one bad row can be skipped without losing the others.
//!
//! One module per format, declared by the source table (`source_table.rs`): each has
//! its parsers, their unit tests over fixture files, and `exercise`, which runs every
//! parser of the module over some bytes to the end (the never-panic test and the
//! `proc_parsers` fuzz target reach every format through [`exercise`]). A format that
//! makes a whole source by itself — one file, samples from its bytes alone — implements
//! [`FileFormat`] and needs no reader code. [`filter`] holds node_exporter's default
//! device and filesystem filters as hand-written matchers, and [`wrap`] extends 32-bit
//! kernel counters.

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

pub mod filter;
pub mod log_rule;
pub mod route;
pub mod wrap;

mod text;

pub(crate) use text::fmt_u32;
pub use text::{parse_decimal_fixed, parse_i64, parse_u64, trim_ascii};

use core::fmt;

use crate::sink::SampleSink;

/// Declares every source's format module and [`exercise`] from the source table.
macro_rules! declare_formats {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident $name:literal { format: $format:ident, $($rest:tt)* }
    )*) => {
        $( pub mod $format; )*

        /// Runs every parser of every format (and of the shared helpers) over `input`,
        /// iterators to their end, helpers on what they return. For the never-panic
        /// test and the `proc_parsers` fuzz target: whatever the bytes, this returns.
        #[doc(hidden)]
        pub fn exercise(input: &[u8]) {
            $( $format::exercise(input); )*
            filter::exercise(input);
            log_rule::exercise(input);
            route::exercise(input);
            text::exercise(input);
            let _ = parse_text_value(input);
            let _ = parse_int_value(input);
            let _ = parse_uint_value(input);
        }
    };
}

source_table!(declare_formats);

/// A format that makes a whole source by itself: one file under the root, re-read every
/// cycle, its samples a function of its bytes alone. The `std` shell reads it with
/// `source::OneFile` — such a source needs no reader code (CONTRIBUTING.md).
pub trait FileFormat {
    /// The file, relative to the root (`proc/loadavg`).
    const PATH: &'static str;

    /// Parses `input` (the whole file) and pushes its samples with catalog ids, in raw
    /// kernel units. A row that does not parse goes to `bad_row` and is skipped; `Err`
    /// when nothing in the file could be used. No allocation.
    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError>;
}

/// [`FileFormat::push_samples`]'s signature: what a [`FileList`] names for each file.
pub type PushFn =
    fn(&[u8], &mut dyn SampleSink, &mut dyn FnMut(ParseError)) -> Result<(), ParseError>;

/// A source made of a few files read together, each a [`FileFormat`]
/// (`/proc/net/netstat` + `snmp` + `snmp6`): `(path under the root, required, push)`.
/// The source is absent when a required file is; an optional one (`snmp6` without
/// IPv6) is skipped. The `std` shell reads it with `source::Files`: no reader code.
pub trait FileList {
    /// The files, in collection order.
    const FILES: &'static [(&'static str, bool, PushFn)];
}

/// Runs [`FileFormat::push_samples`] of `F` over `input` into a sink that drops
/// everything (for the formats' `exercise`).
pub(crate) fn exercise_format<F: FileFormat>(input: &[u8]) {
    struct Discard;
    impl SampleSink for Discard {
        fn labels(&mut self, _: &[&str]) {}
        fn push(&mut self, _: u16, _: pimon_protocol::Value) {}
    }
    let _ = F::push_samples(input, &mut Discard, &mut |_| {});
}

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
    text::NonBlankLines(text::lines(input))
}

/// Iterator over the whitespace-separated words of `line`.
pub(crate) fn words(line: &[u8]) -> text::Words<'_> {
    text::Words::new(line)
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

/// A [`FileFormat`] for a file that holds one unsigned number (`entropy_avail`,
/// `nf_conntrack_max`): one unlabelled sample of catalog row `$id`, parsed by
/// [`parse_uint_value`].
macro_rules! one_number_file {
    ($(#[$doc:meta])* $name:ident, $path:literal, $id:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl $crate::parse::FileFormat for $name {
            const PATH: &'static str = $path;

            fn push_samples(
                input: &[u8],
                sink: &mut dyn $crate::sink::SampleSink,
                _bad_row: &mut dyn FnMut($crate::parse::ParseError),
            ) -> Result<(), $crate::parse::ParseError> {
                let value = $crate::parse::parse_uint_value(input)?;
                sink.labels(&[]);
                sink.push($id, pimon_protocol::Value::Unsigned(value));
                Ok(())
            }
        }
    };
}
pub(crate) use one_number_file;

/// What a [`FileFormat`] pushes, recorded, for the formats' unit tests.
#[cfg(test)]
pub(crate) mod recorded {
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use pimon_protocol::Value;

    use super::{FileFormat, ParseError, SampleSink};

    /// One sample: the labels in force, the catalog id, the value.
    pub(crate) type Sample = (Vec<String>, u16, Value);

    /// Runs `F::push_samples` over `input`: the samples, the rows it skipped, its result.
    pub(crate) fn push<F: FileFormat>(
        input: &[u8],
    ) -> (Vec<Sample>, Vec<ParseError>, Result<(), ParseError>) {
        push_with(|sink, bad| F::push_samples(input, sink, bad))
    }

    /// Runs `push` (a push function with state of its own) into a recorder: the samples,
    /// the rows it skipped, its result.
    pub(crate) fn push_with(
        push: impl FnOnce(&mut dyn SampleSink, &mut dyn FnMut(ParseError)) -> Result<(), ParseError>,
    ) -> (Vec<Sample>, Vec<ParseError>, Result<(), ParseError>) {
        struct Recorder {
            labels: Vec<String>,
            samples: Vec<Sample>,
        }
        impl SampleSink for Recorder {
            fn labels(&mut self, values: &[&str]) {
                self.labels = values.iter().map(|v| v.to_string()).collect();
            }
            fn push(&mut self, metric: u16, value: Value) {
                self.samples.push((self.labels.clone(), metric, value));
            }
        }
        let mut sink = Recorder {
            labels: Vec::new(),
            samples: Vec::new(),
        };
        let mut bad = Vec::new();
        let result = push(&mut sink, &mut |e| bad.push(e));
        (sink.samples, bad, result)
    }
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
