//! `/proc/vmstat`: one `name value` line per kernel VM counter (`pgfault 411822093`).
//!
//! As a source ([`ProcVmstat`]): node_exporter's `vmstat` collector with its default
//! `--collector.vmstat.fields` (`^(oom_kill|pgpg|pswp|pg.*fault).*`), compiled into
//! the catalog: a line is sent when the catalog has `node_vmstat_<name>`
//! ([`vmstat_id`]) — `pgpgin`, `pgpgout`, `pswpin`, `pswpout`, `pgfault`,
//! `pgmajfault`, `oom_kill` on every kernel so far. Telegraf's `kernel_vmstat` fields of
//! the same names.

use pimon_protocol::Value;
use pimon_protocol::catalog::{id, name_suffixes};

use super::{FileFormat, ParseError, lines, parse_u64, words};
use crate::sink::SampleSink;

/// Parses `/proc/vmstat` lazily: `(name, value)` per line, an error for a line that is
/// not two words with a number second.
pub fn parse_vmstat(input: &[u8]) -> impl Iterator<Item = Result<(&[u8], u64), ParseError>> {
    lines(input).map(|line| {
        let mut w = words(line);
        let name = w.next().ok_or(ParseError::Empty)?;
        let value = w.next().ok_or(ParseError::MissingField("value"))?;
        if w.next().is_some() {
            return Err(ParseError::Malformed("`name value`"));
        }
        Ok((name, parse_u64(value)?))
    })
}

/// The catalog id of `/proc/vmstat` field `name`, or `None` for one node_exporter's
/// default filter drops.
pub fn vmstat_id(name: &[u8]) -> Option<u16> {
    // Most of the file's ~170 names start with a byte no kept field starts with.
    let first = usize::from(*name.first()?);
    if FIRST_BYTES[first / 64] >> (first % 64) & 1 == 0 {
        return None;
    }
    let i = FIELDS.iter().position(|f| f.as_bytes() == name)?;
    Some(id::VMSTAT_PGPGIN + i as u16)
}

/// The kept field names, from the catalog's rows at compile time (`pgpgin`, …).
static FIELDS: [&str; FIELD_COUNT] = FIELD_NAMES;
/// How many fields are kept.
const FIELD_COUNT: usize = (id::VMSTAT_OOM_KILL - id::VMSTAT_PGPGIN + 1) as usize;
/// [`FIELDS`] as a constant, for [`FIRST_BYTES`].
const FIELD_NAMES: [&str; FIELD_COUNT] = name_suffixes(id::VMSTAT_PGPGIN, "node_vmstat_");

/// The set of first bytes of the kept fields' names (bit `b` of 256).
static FIRST_BYTES: [u64; 4] = {
    let mut set = [0u64; 4];
    let mut i = 0;
    while i < FIELD_COUNT {
        let b = FIELD_NAMES[i].as_bytes()[0] as usize;
        set[b / 64] |= 1 << (b % 64);
        i += 1;
    }
    set
};

/// `/proc/vmstat` as a source: the kept fields, unlabelled, in the file's order.
#[derive(Debug)]
pub struct ProcVmstat;

impl FileFormat for ProcVmstat {
    const PATH: &'static str = "proc/vmstat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        sink.labels(&[]);
        let mut any = false;
        for line in parse_vmstat(input) {
            match line {
                Ok((name, value)) => {
                    any = true;
                    if let Some(row) = vmstat_id(name) {
                        sink.push(row, Value::Unsigned(value));
                    }
                }
                Err(e) => bad_row(e),
            }
        }
        if any { Ok(()) } else { Err(ParseError::Empty) }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    parse_vmstat(input).for_each(drop);
    let _ = vmstat_id(input);
    super::exercise_format::<ProcVmstat>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    fn u(v: u64) -> Value {
        Value::Unsigned(v)
    }

    #[test]
    fn pi4_kept_fields_in_kernel_order() {
        let (samples, bad, result) = recorded::push::<ProcVmstat>(fixture!("pi4/proc/vmstat"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(
            samples,
            [
                (vec![], id::VMSTAT_PGPGIN, u(2209874)),
                (vec![], id::VMSTAT_PGPGOUT, u(8812366)),
                (vec![], id::VMSTAT_PSWPIN, u(1288)),
                (vec![], id::VMSTAT_PSWPOUT, u(5210)),
                (vec![], id::VMSTAT_PGFAULT, u(411822093)),
                (vec![], id::VMSTAT_PGMAJFAULT, u(30571)),
                (vec![], id::VMSTAT_OOM_KILL, u(1)),
            ]
        );
    }

    #[test]
    fn pizero_and_x86() {
        let (samples, bad, _) = recorded::push::<ProcVmstat>(fixture!("pizero/proc/vmstat"));
        assert!(bad.is_empty());
        assert_eq!(samples.len(), 7);
        assert_eq!(samples[4], (vec![], id::VMSTAT_PGFAULT, u(31877412)));
        let (samples, bad, _) = recorded::push::<ProcVmstat>(fixture!("x86/proc/vmstat"));
        assert!(bad.is_empty());
        assert_eq!(samples.len(), 7);
    }

    #[test]
    fn every_kept_field_passes_the_first_byte_set() {
        for (i, name) in FIELDS.iter().enumerate() {
            assert_eq!(
                vmstat_id(name.as_bytes()),
                Some(id::VMSTAT_PGPGIN + i as u16),
                "{name}"
            );
        }
    }

    #[test]
    fn filter_is_the_catalog() {
        assert_eq!(vmstat_id(b"pgmajfault"), Some(id::VMSTAT_PGMAJFAULT));
        // Not matched by ^(oom_kill|pgpg|pswp|pg.*fault).*
        assert_eq!(vmstat_id(b"nr_free_pages"), None);
        assert_eq!(vmstat_id(b"pgsteal_kswapd"), None);
        assert_eq!(vmstat_id(b"thp_fault_alloc"), None);
        assert_eq!(vmstat_id(b""), None);
    }

    #[test]
    fn bad_lines_are_skipped() {
        let (samples, bad, result) =
            recorded::push::<ProcVmstat>(b"pgfault x\npgpgin 1 2\npswpin\noom_kill 3\n");
        assert_eq!(result, Ok(()));
        assert_eq!(
            bad,
            [
                ParseError::InvalidNumber,
                ParseError::Malformed("`name value`"),
                ParseError::MissingField("value"),
            ]
        );
        assert_eq!(samples, [(vec![], id::VMSTAT_OOM_KILL, u(3))]);
        assert_eq!(recorded::push::<ProcVmstat>(b"").2, Err(ParseError::Empty));
    }
}
