//! `/proc/sys/kernel/random/entropy_avail` and `poolsize`: one decimal number each, in
//! bits (`256`: since Linux 5.18 both are always 256; older kernels have a 4096-bit
//! pool that fills and drains).
//!
//! As a source ([`EntropyFiles`], read by `source::Files`): node_exporter's
//! `node_entropy_available_bits` and `node_entropy_pool_size_bits`; Telegraf's `kernel`
//! `entropy_avail`.

use pimon_protocol::catalog::id;

use super::{FileFormat, FileList, ParseError, PushFn, one_number_file, parse_uint_value};

/// Parses either file: bits.
pub fn parse_bits(input: &[u8]) -> Result<u64, ParseError> {
    parse_uint_value(input)
}

one_number_file!(
    /// `entropy_avail` → `ENTROPY_AVAILABLE_BITS`.
    EntropyAvail,
    "proc/sys/kernel/random/entropy_avail",
    id::ENTROPY_AVAILABLE_BITS
);

one_number_file!(
    /// `poolsize` → `ENTROPY_POOL_SIZE_BITS`.
    PoolSize,
    "proc/sys/kernel/random/poolsize",
    id::ENTROPY_POOL_SIZE_BITS
);

/// The entropy source's files, both required.
#[derive(Debug)]
pub struct EntropyFiles;

impl FileList for EntropyFiles {
    const FILES: &'static [(&'static str, bool, PushFn)] = &[
        (EntropyAvail::PATH, true, EntropyAvail::push_samples),
        (PoolSize::PATH, true, PoolSize::push_samples),
    ];
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_bits(input);
    super::exercise_format::<EntropyAvail>(input);
    super::exercise_format::<PoolSize>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;
    use pimon_protocol::Value;

    #[test]
    fn fixtures() {
        assert_eq!(parse_bits(fixture!("pi4/proc/sys/kernel/random/entropy_avail")), Ok(256));
        assert_eq!(parse_bits(fixture!("pi4/proc/sys/kernel/random/poolsize")), Ok(256));
        // 4.14: a 4096-bit pool, partly full.
        assert_eq!(parse_bits(fixture!("pizero/proc/sys/kernel/random/entropy_avail")), Ok(1871));
        assert_eq!(parse_bits(fixture!("pizero/proc/sys/kernel/random/poolsize")), Ok(4096));
    }

    #[test]
    fn samples_of_the_source() {
        let (samples, bad, result) =
            recorded::push::<EntropyAvail>(fixture!("pizero/proc/sys/kernel/random/entropy_avail"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(samples, [(vec![], id::ENTROPY_AVAILABLE_BITS, Value::Unsigned(1871))]);
        let (samples, _, _) =
            recorded::push::<PoolSize>(fixture!("pizero/proc/sys/kernel/random/poolsize"));
        assert_eq!(samples, [(vec![], id::ENTROPY_POOL_SIZE_BITS, Value::Unsigned(4096))]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_bits(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_bits(b"-1\n"), Err(ParseError::InvalidNumber));
        let (_, _, result) = recorded::push::<PoolSize>(b"x\n");
        assert_eq!(result, Err(ParseError::InvalidNumber));
    }
}
