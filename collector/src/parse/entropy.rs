//! `/proc/sys/kernel/random/entropy_avail` and `poolsize`: one decimal number each, in
//! bits (`256`: since Linux 5.18 both are always 256; older kernels have a 4096-bit
//! pool that fills and drains).
//!
//! As a source (`crate::source::entropy`): node_exporter's `node_entropy_available_bits`
//! and `node_entropy_pool_size_bits`; Telegraf's `kernel` `entropy_avail`.

use super::{ParseError, parse_uint_value};

/// The files under the root: available bits, pool size.
pub const PATHS: [&str; 2] = [
    "proc/sys/kernel/random/entropy_avail",
    "proc/sys/kernel/random/poolsize",
];

/// Parses either file: bits.
pub fn parse_bits(input: &[u8]) -> Result<u64, ParseError> {
    parse_uint_value(input)
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_bits(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(parse_bits(fixture!("pi4/proc/sys/kernel/random/entropy_avail")), Ok(256));
        assert_eq!(parse_bits(fixture!("pi4/proc/sys/kernel/random/poolsize")), Ok(256));
        // 4.14: a 4096-bit pool, partly full.
        assert_eq!(parse_bits(fixture!("pizero/proc/sys/kernel/random/entropy_avail")), Ok(1871));
        assert_eq!(parse_bits(fixture!("pizero/proc/sys/kernel/random/poolsize")), Ok(4096));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_bits(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_bits(b"-1\n"), Err(ParseError::InvalidNumber));
    }
}
