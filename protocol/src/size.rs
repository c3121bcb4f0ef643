//! The one byte-size grammar of pimon's flags and config files, both binaries.
//!
//! A size is a whole number of bytes, optionally followed by a binary multiple:
//!
//! | suffix | meaning | example |
//! |---|---|---|
//! | none or `B` | bytes | `4096` |
//! | `K` (`k`, `KiB`, `KB`, `kB`) | × 1024 | `512K` |
//! | `M` (`MiB`, `MB`) | × 1024² | `256M` |
//!
//! White space around it, and between number and suffix, is ignored. `K` is 1024, not
//! 1000: buffers and spools are counted in pages. A value past `u64::MAX` bytes is
//! [`SizeError::TooLarge`]; what range a setting accepts is the caller's to check.
//!
//! It lives here, `no_std` and without allocation, beside [`crate::duration`], because
//! the collector (`ring_bytes`, `--ring-bytes`) and the aggregator (`spool_max_bytes`,
//! `--udp-receive-buffer`, …) both read sizes; it never panics, on any input
//! (`tests/properties.rs`, fuzz target `durations`).
//!
//! ```
//! use pimon_protocol::size::{parse_size, SizeError};
//! assert_eq!(parse_size("4096"), Ok(4096));
//! assert_eq!(parse_size(" 512K "), Ok(512 << 10));
//! assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
//! assert_eq!(parse_size("1G"), Err(SizeError::UnknownUnit));
//! assert_eq!(parse_size("K"), Err(SizeError::NotANumber));
//! assert_eq!(parse_size("99999999999999999999"), Err(SizeError::TooLarge));
//! ```

use core::fmt;

/// Why a text is not a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    /// It does not start with a digit (empty, a sign, a word).
    NotANumber,
    /// A suffix other than `B`, `K`, `M` (and their spellings), or trailing text.
    UnknownUnit,
    /// More than `u64::MAX` bytes.
    TooLarge,
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SizeError::NotANumber => "not a byte count",
            SizeError::UnknownUnit => "unknown size suffix (use K or M)",
            SizeError::TooLarge => "too large",
        })
    }
}

/// Parses a size in the grammar of the module docs, in bytes.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at_checked(digits).ok_or(SizeError::NotANumber)?;
    if number.is_empty() {
        return Err(SizeError::NotANumber);
    }
    let mut n: u64 = 0;
    for digit in number.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(SizeError::TooLarge)?;
    }
    let multiple: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" | "KB" | "kB" => 1 << 10,
        "M" | "MiB" | "MB" => 1 << 20,
        _ => return Err(SizeError::UnknownUnit),
    };
    n.checked_mul(multiple).ok_or(SizeError::TooLarge)
}
