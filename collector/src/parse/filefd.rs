//! `/proc/sys/fs/file-nr`: file handles allocated, allocated but unused (always 0 since
//! Linux 2.6), and the maximum (`fs.file-max`), separated by tabs: `2080⇥0⇥388532`.
//!
//! As a source ([`FileNr`]): node_exporter's `node_filefd_allocated` and
//! `node_filefd_maximum`, Telegraf's `linux_sysctl_fs` `file-nr` and `file-max`.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, parse_u64, words};
use crate::sink::SampleSink;

/// The parsed `file-nr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHandles {
    /// Allocated file handles.
    pub allocated: u64,
    /// Allocated but unused (0 on every kernel since 2.6).
    pub unused: u64,
    /// The most the kernel will allocate (`fs.file-max`).
    pub maximum: u64,
}

/// Parses `file-nr`.
pub fn parse_file_nr(input: &[u8]) -> Result<FileHandles, ParseError> {
    let mut fields = words(input);
    let allocated = fields.next().ok_or(ParseError::Empty)?;
    let unused = fields.next().ok_or(ParseError::MissingField("unused"))?;
    let maximum = fields.next().ok_or(ParseError::MissingField("maximum"))?;
    if fields.next().is_some() {
        return Err(ParseError::Malformed("three numbers"));
    }
    Ok(FileHandles {
        allocated: parse_u64(allocated)?,
        unused: parse_u64(unused)?,
        maximum: parse_u64(maximum)?,
    })
}

/// `file-nr` as a source: `FILEFD_ALLOCATED`, `FILEFD_MAXIMUM`, unlabelled.
#[derive(Debug)]
pub struct FileNr;

impl FileFormat for FileNr {
    const PATH: &'static str = "proc/sys/fs/file-nr";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let handles = parse_file_nr(input)?;
        sink.labels(&[]);
        sink.push(id::FILEFD_ALLOCATED, Value::Unsigned(handles.allocated));
        sink.push(id::FILEFD_MAXIMUM, Value::Unsigned(handles.maximum));
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_file_nr(input);
    super::exercise_format::<FileNr>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_file_nr(fixture!("pi4/proc/sys/fs/file-nr")),
            Ok(FileHandles {
                allocated: 2080,
                unused: 0,
                maximum: 388532
            })
        );
        // systemd raises fs.file-max to LONG_MAX on 64-bit machines.
        assert_eq!(
            parse_file_nr(fixture!("x86/proc/sys/fs/file-nr")).map(|h| h.maximum),
            Ok(9223372036854775807)
        );
    }

    #[test]
    fn samples_of_the_source() {
        let (samples, bad, result) = recorded::push::<FileNr>(fixture!("pizero/proc/sys/fs/file-nr"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(
            samples,
            [
                (vec![], id::FILEFD_ALLOCATED, Value::Unsigned(672)),
                (vec![], id::FILEFD_MAXIMUM, Value::Unsigned(44208)),
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_file_nr(b"\n"), Err(ParseError::Empty));
        assert_eq!(
            parse_file_nr(b"12\t0\n"),
            Err(ParseError::MissingField("maximum"))
        );
        assert_eq!(
            parse_file_nr(b"12\t0\t9\t1\n"),
            Err(ParseError::Malformed("three numbers"))
        );
        assert_eq!(parse_file_nr(b"12\t-\t9\n"), Err(ParseError::InvalidNumber));
        assert_eq!(
            parse_file_nr(b"1\t0\t18446744073709551616\n"),
            Err(ParseError::Overflow)
        );
    }
}
