//! Connection tracking: `/proc/sys/net/netfilter/nf_conntrack_count` and
//! `nf_conntrack_max`, one number each: node_exporter's `node_nf_conntrack_entries` and
//! `node_nf_conntrack_entries_limit`, Telegraf's `conntrack` fields. Absent while the
//! `nf_conntrack` module is not loaded (no firewall rule or container runtime needs it).
//!
//! node_exporter also sums `/proc/net/stat/nf_conntrack` over CPUs
//! (`node_nf_conntrack_stat_*`): not sent, to keep the Pi Zero build within its size
//! budget (Node Exporter Full does not chart them).

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, FileList, ParseError, PushFn, parse_u64};
use crate::sink::SampleSink;

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

/// The conntrack source's files: the two sysctls, both required.
#[derive(Debug)]
pub struct ConntrackFiles;

impl FileList for ConntrackFiles {
    const FILES: &'static [(&'static str, bool, PushFn)] = &[
        (ConntrackCount::PATH, true, ConntrackCount::push_samples),
        (ConntrackMax::PATH, true, ConntrackMax::push_samples),
    ];
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    super::exercise_format::<ConntrackCount>(input);
    super::exercise_format::<ConntrackMax>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    #[test]
    fn fixtures() {
        let (samples, bad, result) =
            recorded::push::<ConntrackCount>(fixture!("pi4/proc/sys/net/netfilter/nf_conntrack_count"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(samples, [(vec![], id::NF_CONNTRACK_ENTRIES, Value::Unsigned(46))]);
        let (samples, _, _) =
            recorded::push::<ConntrackMax>(fixture!("pizero/proc/sys/net/netfilter/nf_conntrack_max"));
        assert_eq!(samples, [(vec![], id::NF_CONNTRACK_ENTRIES_LIMIT, Value::Unsigned(7680))]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_conntrack_number(b"x\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_conntrack_number(b"\n"), Err(ParseError::Empty));
        assert_eq!(recorded::push::<ConntrackMax>(b"-1\n").2, Err(ParseError::InvalidNumber));
    }
}
