//! Connection tracking: `/proc/sys/net/netfilter/nf_conntrack_{count,max}` (one number
//! each) and `/proc/net/stat/nf_conntrack`, a header line then one line per CPU of
//! hexadecimal counters:
//!
//! ```text
//! entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
//! 0000002e  00000000 00000000 00000000 00000007 000019a2 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000012
//! ```
//!
//! node_exporter (procfs) reads the statistics by position, whatever the header says
//! (columns 1 and 7 were renamed over the years; the positions it reads did not move),
//! wants 16 or 17 columns, and sums each over the CPUs; so does [`parse_conntrack_stat`].

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, FileList, ParseError, PushFn, lines, parse_u64, words};
use crate::sink::SampleSink;

/// `/proc/net/stat/nf_conntrack` summed over CPUs: the columns node_exporter exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConntrackStat {
    /// Searched entries that were found.
    pub found: u64,
    /// Packets that could not be tracked.
    pub invalid: u64,
    /// Packets already tracked.
    pub ignore: u64,
    /// Entries inserted.
    pub insert: u64,
    /// Insertions that failed.
    pub insert_failed: u64,
    /// Packets dropped by conntrack.
    pub drop: u64,
    /// Entries dropped to make room (table full).
    pub early_drop: u64,
    /// Lookups restarted by a hash table resize (column 17; 0 with 16 columns).
    pub search_restart: u64,
}

/// Parses a hexadecimal `u64` (`0000002e`).
fn hex_u64(word: &[u8]) -> Result<u64, ParseError> {
    if word.is_empty() || word.len() > 16 {
        return Err(if word.is_empty() { ParseError::InvalidNumber } else { ParseError::Overflow });
    }
    word.iter().try_fold(0u64, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ParseError::InvalidNumber),
        };
        Ok((acc << 4) | u64::from(digit))
    })
}

/// Parses `/proc/net/stat/nf_conntrack`: the header line is skipped, every other line
/// must be 16 or 17 hexadecimal columns (else the whole file is an error, as in
/// node_exporter). Sums wrap like node_exporter's `uint64` sums.
pub fn parse_conntrack_stat(input: &[u8]) -> Result<ConntrackStat, ParseError> {
    let mut rows = lines(input).filter(|l| !l.trim_ascii().is_empty());
    rows.next().ok_or(ParseError::Empty)?;
    let mut sum = ConntrackStat::default();
    for row in rows {
        let mut cols = [0u64; 17];
        let mut n = 0;
        for word in words(row) {
            let slot = cols
                .get_mut(n)
                .ok_or(ParseError::Malformed("16 or 17 columns"))?;
            *slot = hex_u64(word)?;
            n += 1;
        }
        if n < 16 {
            return Err(ParseError::Malformed("16 or 17 columns"));
        }
        sum.found = sum.found.wrapping_add(cols[2]);
        sum.invalid = sum.invalid.wrapping_add(cols[4]);
        sum.ignore = sum.ignore.wrapping_add(cols[5]);
        sum.insert = sum.insert.wrapping_add(cols[8]);
        sum.insert_failed = sum.insert_failed.wrapping_add(cols[9]);
        sum.drop = sum.drop.wrapping_add(cols[10]);
        sum.early_drop = sum.early_drop.wrapping_add(cols[11]);
        sum.search_restart = sum.search_restart.wrapping_add(cols[16]);
    }
    Ok(sum)
}

/// Parses `nf_conntrack_count` or `nf_conntrack_max`.
pub fn parse_conntrack_number(input: &[u8]) -> Result<u64, ParseError> {
    parse_u64(super::single_value(input)?)
}

/// `nf_conntrack_count` → `NF_CONNTRACK_ENTRIES`.
#[derive(Debug)]
pub struct ConntrackCount;

impl FileFormat for ConntrackCount {
    const PATH: &'static str = "proc/sys/net/netfilter/nf_conntrack_count";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        sink.labels(&[]);
        sink.push(id::NF_CONNTRACK_ENTRIES, Value::Unsigned(parse_conntrack_number(input)?));
        Ok(())
    }
}

/// `nf_conntrack_max` → `NF_CONNTRACK_ENTRIES_LIMIT`.
#[derive(Debug)]
pub struct ConntrackMax;

impl FileFormat for ConntrackMax {
    const PATH: &'static str = "proc/sys/net/netfilter/nf_conntrack_max";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        sink.labels(&[]);
        let max = parse_conntrack_number(input)?;
        sink.push(id::NF_CONNTRACK_ENTRIES_LIMIT, Value::Unsigned(max));
        Ok(())
    }
}

/// `/proc/net/stat/nf_conntrack` → the `NF_CONNTRACK_STAT_*` sums.
#[derive(Debug)]
pub struct ConntrackStatFile;

impl FileFormat for ConntrackStatFile {
    const PATH: &'static str = "proc/net/stat/nf_conntrack";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let s = parse_conntrack_stat(input)?;
        sink.labels(&[]);
        let values = [
            s.found,
            s.invalid,
            s.ignore,
            s.insert,
            s.insert_failed,
            s.drop,
            s.early_drop,
            s.search_restart,
        ];
        for (row, v) in (id::NF_CONNTRACK_STAT_FOUND..).zip(values) {
            sink.push(row, Value::Unsigned(v));
        }
        Ok(())
    }
}

/// The conntrack source's files: the two sysctls (required: absent while the
/// `nf_conntrack` module is not loaded) and the per-CPU statistics.
#[derive(Debug)]
pub struct ConntrackFiles;

impl FileList for ConntrackFiles {
    const FILES: &'static [(&'static str, bool, PushFn)] = &[
        (ConntrackCount::PATH, true, ConntrackCount::push_samples),
        (ConntrackMax::PATH, true, ConntrackMax::push_samples),
        (ConntrackStatFile::PATH, false, ConntrackStatFile::push_samples),
    ];
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    super::exercise_format::<ConntrackCount>(input);
    super::exercise_format::<ConntrackMax>(input);
    super::exercise_format::<ConntrackStatFile>(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_sums_its_four_cpus() {
        assert_eq!(
            parse_conntrack_stat(fixture!("pi4/proc/net/stat/nf_conntrack")),
            Ok(ConntrackStat {
                found: 0,
                invalid: 0x7 + 0x2 + 0x1 + 0x3,
                ignore: 0x19a2 + 0x811 + 0x6f0 + 0x93e,
                insert: 0,
                insert_failed: 0,
                drop: 0,
                early_drop: 0,
                search_restart: 0x12 + 0x4 + 0x9 + 0x1,
            })
        );
        assert_eq!(
            parse_conntrack_number(fixture!("pi4/proc/sys/net/netfilter/nf_conntrack_count")),
            Ok(46)
        );
        assert_eq!(
            parse_conntrack_number(fixture!("pi4/proc/sys/net/netfilter/nf_conntrack_max")),
            Ok(65536)
        );
    }

    #[test]
    fn pizero_old_header_same_positions() {
        let s = parse_conntrack_stat(fixture!("pizero/proc/net/stat/nf_conntrack")).unwrap();
        assert_eq!((s.found, s.invalid, s.insert, s.search_restart), (0x1d, 0x2, 0x55, 0));
    }

    #[test]
    fn errors() {
        let header = "entries searched found\n";
        let short = format!("{header}0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
        assert_eq!(
            parse_conntrack_stat(short.as_bytes()),
            Err(ParseError::Malformed("16 or 17 columns"))
        );
        let long = format!("{header}{}\n", ["0"; 18].join(" "));
        assert_eq!(
            parse_conntrack_stat(long.as_bytes()),
            Err(ParseError::Malformed("16 or 17 columns"))
        );
        let bad = format!("{header}{} zz\n", ["0"; 15].join(" "));
        assert_eq!(parse_conntrack_stat(bad.as_bytes()), Err(ParseError::InvalidNumber));
        let sixteen = format!("{header}{}\n", ["1"; 16].join(" "));
        assert_eq!(
            parse_conntrack_stat(sixteen.as_bytes()).map(|s| (s.drop, s.search_restart)),
            Ok((1, 0))
        );
        assert_eq!(parse_conntrack_stat(b""), Err(ParseError::Empty));
        assert_eq!(hex_u64(b"10000000000000000"), Err(ParseError::Overflow));
        assert_eq!(hex_u64(b"ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(parse_conntrack_number(b"x\n"), Err(ParseError::InvalidNumber));
    }
}
