//! Connection tracking: `/proc/sys/net/netfilter/nf_conntrack_count` and
//! `nf_conntrack_max`, one number each: node_exporter's `node_nf_conntrack_entries` and
//! `node_nf_conntrack_entries_limit`, Telegraf's `conntrack` fields. Absent while the
//! `nf_conntrack` module is not loaded (no firewall rule or container runtime needs it).
//!
//! node_exporter also sums `/proc/net/stat/nf_conntrack` over CPUs
//! (`node_nf_conntrack_stat_*`): not sent, to keep the Pi Zero build within its size
//! budget (Node Exporter Full does not chart them).

use pimon_protocol::catalog::id;

use super::{FileFormat, FileList, ParseError, PushFn, one_number_file, parse_u64};

/// Parses `nf_conntrack_count` or `nf_conntrack_max`.
pub fn parse_conntrack_number(input: &[u8]) -> Result<u64, ParseError> {
    parse_u64(super::single_value(input)?)
}
one_number_file!(
    /// `nf_conntrack_count` → `NF_CONNTRACK_ENTRIES`.
    ConntrackCount,
    "proc/sys/net/netfilter/nf_conntrack_count",
    id::NF_CONNTRACK_ENTRIES
);

one_number_file!(
    /// `nf_conntrack_max` → `NF_CONNTRACK_ENTRIES_LIMIT`.
    ConntrackMax,
    "proc/sys/net/netfilter/nf_conntrack_max",
    id::NF_CONNTRACK_ENTRIES_LIMIT
);

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
    use pimon_protocol::Value;

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
