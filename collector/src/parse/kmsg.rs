//! `/dev/kmsg` records (Documentation/ABI/testing/dev-kmsg):
//!
//! ```text
//! 3,1234,56789012,-;mmc0: error -110 whilst initialising SD card
//! 6,1235,56789100,-,caller=T42;usb 1-1.2: USB disconnect, device number 4
//!  SUBSYSTEM=usb
//!  DEVICE=c189:3
//! ```
//!
//! A record is one header line, `prio,seq,ts_usec,flags[,more…];message`, followed by
//! dictionary lines that start with a space (` KEY=value`). `prio` is
//! `facility << 3 | level`; kernel messages have facility 0, messages that user space
//! wrote to `/dev/kmsg` have another (1 by default). `flags` is `-` for a whole
//! message, `c` for the start of a message that `+` records continue (kernels before
//! 5.10 stored `pr_cont` fragments as separate records; newer ones join them before the
//! reader sees them). Fields the kernel may add later come before the `;` and are
//! skipped. Bytes below 0x20, from 0x7f and `\` itself are escaped as `\xNN` by the
//! kernel, so the message text is printable ASCII; rules match that escaped text.
//!
//! Reading the character device returns exactly one record per `read`; a file (a
//! fixture, a saved log) holds many records back to back, which [`record_len`] splits
//! without knowing where reads ended. Nothing here allocates.

use super::{ParseError, parse_u64};

/// Syslog levels, most severe first (the low three bits of `prio`).
pub const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One `/dev/kmsg` record, borrowed from the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Syslog level, 0 (emerg) to 7 (debug).
    pub level: u8,
    /// Syslog facility: 0 for the kernel, 1 (user) for what user space wrote.
    pub facility: u32,
    /// Sequence number: consecutive within a boot; a gap means records were
    /// overwritten in the kernel's ring before they were read.
    pub seq: u64,
    /// Microseconds since boot (monotonic clock).
    pub ts_usec: u64,
    /// `b'-'` whole message, `b'c'` continued by the next records, `b'+'` continuation.
    pub flags: u8,
    /// The message text as the kernel escaped it, without the newline.
    pub text: &'a [u8],
    /// The dictionary lines (each ` KEY=value\n`), as read; empty when there are none.
    pub dict: &'a [u8],
}

impl<'a> Record<'a> {
    /// The value of dictionary key `key` (`SUBSYSTEM`, `DEVICE`), if the record has it.
    pub fn dict_value(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.dict.split(|&b| b == b'\n').find_map(|line| {
            let entry = line.strip_prefix(b" ")?;
            let rest = entry.strip_prefix(key)?;
            rest.strip_prefix(b"=")
        })
    }

    /// Whether this record continues the previous one (`+`).
    pub fn is_continuation(&self) -> bool {
        self.flags == b'+'
    }
}

/// Parses one record: a header line and its dictionary lines (`input` as one `read` of
/// `/dev/kmsg` returns it, or as [`record_len`] cuts it from a file). A missing final
/// newline is accepted.
pub fn parse_record(input: &[u8]) -> Result<Record<'_>, ParseError> {
    if input.is_empty() {
        return Err(ParseError::Empty);
    }
    let (line, dict) = match input.iter().position(|&b| b == b'\n') {
        Some(end) => (
            input.get(..end).unwrap_or_default(),
            input.get(end + 1..).unwrap_or_default(),
        ),
        None => (input, &[][..]),
    };
    let semicolon = line
        .iter()
        .position(|&b| b == b';')
        .ok_or(ParseError::Malformed("`;` after the record's prefix"))?;
    let prefix = line.get(..semicolon).unwrap_or_default();
    let text = line.get(semicolon + 1..).unwrap_or_default();
    let mut fields = prefix.split(|&b| b == b',');
    let prio = parse_u64(fields.next().unwrap_or_default())?;
    let seq = parse_u64(fields.next().ok_or(ParseError::MissingField("seq"))?)?;
    let ts_usec = parse_u64(fields.next().ok_or(ParseError::MissingField("ts_usec"))?)?;
    let flags = match fields.next() {
        Some(&[flag]) => flag,
        // Kernels before 3.6's flags field, and extensions that replaced it, are
        // read as whole messages.
        None => b'-',
        Some(_) => return Err(ParseError::Malformed("a one-character flags field")),
    };
    let facility = u32::try_from(prio >> 3).map_err(|_| ParseError::Overflow)?;
    Ok(Record {
        level: (prio & 7) as u8,
        facility,
        seq,
        ts_usec,
        flags,
        text,
        dict,
    })
}

/// The length of the first record in `input`, a stream of records back to back, when
/// it is known to be complete: its header line and every dictionary line after it.
/// At the end of `input` a record is complete only when `at_end` says no more bytes
/// follow (the next read could start with another dictionary line); `None` when more
/// bytes are needed.
pub fn record_len(input: &[u8], at_end: bool) -> Option<usize> {
    let mut end = input.iter().position(|&b| b == b'\n')? + 1;
    loop {
        match input.get(end) {
            Some(b' ') => {
                let rest = input.get(end..).unwrap_or_default();
                match rest.iter().position(|&b| b == b'\n') {
                    Some(n) => end += n + 1,
                    None if at_end => return Some(input.len()),
                    None => return None,
                }
            }
            Some(_) => return Some(end),
            None if at_end => return Some(end),
            None => return None,
        }
    }
}

/// Iterator over the records of a whole stream (a file read to its end): one `Result`
/// per record, so a damaged record is skipped without losing the others. A last
/// record without its newline is still yielded.
pub fn parse_records(input: &[u8]) -> impl Iterator<Item = Result<Record<'_>, ParseError>> {
    let mut rest = input;
    core::iter::from_fn(move || {
        // Blank lines between records (a hand-edited fixture) are not records.
        while let Some(stripped) = rest.strip_prefix(b"\n") {
            rest = stripped;
        }
        if rest.is_empty() {
            return None;
        }
        let len = record_len(rest, true).unwrap_or(rest.len()).max(1);
        let (record, tail) = rest.split_at_checked(len).unwrap_or((rest, &[]));
        rest = tail;
        Some(parse_record(record))
    })
}

/// Joins a `c` record and the `+` records that continue it into one message, in a
/// fixed buffer of `N` bytes (longer messages are cut at `N`: the kernel's own limit
/// for one message is 1024 bytes).
#[derive(Debug, Clone)]
pub struct Joiner<const N: usize> {
    text: [u8; N],
    len: usize,
    /// The `c` record's header fields (level, facility, seq), when a message is open.
    open: Option<(u8, u32, u64)>,
}

impl<const N: usize> Default for Joiner<N> {
    fn default() -> Self {
        Joiner {
            text: [0; N],
            len: 0,
            open: None,
        }
    }
}

impl<const N: usize> Joiner<N> {
    /// Whether a `c` record is waiting for its continuations.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Starts a message with a `c` record's text (a message still open is returned
    /// first by [`Joiner::take`], so call that before when [`Joiner::is_open`]).
    pub fn start(&mut self, record: &Record<'_>) {
        self.len = 0;
        self.open = Some((record.level, record.facility, record.seq));
        self.append(record.text);
    }

    /// Adds a `+` record's text to the open message; false when none is open.
    pub fn append(&mut self, text: &[u8]) -> bool {
        if self.open.is_none() {
            return false;
        }
        let room = self.text.get_mut(self.len..).unwrap_or_default();
        let n = room.len().min(text.len());
        if let (Some(dst), Some(src)) = (room.get_mut(..n), text.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.len += n;
        true
    }

    /// Closes the open message and returns it as a record (flags `-`, no dictionary),
    /// or `None` when none is open.
    pub fn take(&mut self) -> Option<Record<'_>> {
        let (level, facility, seq) = self.open.take()?;
        Some(Record {
            level,
            facility,
            seq,
            ts_usec: 0,
            flags: b'-',
            text: self.text.get(..self.len).unwrap_or_default(),
            dict: &[],
        })
    }
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let mut joiner = Joiner::<64>::default();
    for record in parse_records(input).flatten() {
        let _ = record.dict_value(b"SUBSYSTEM");
        match record.flags {
            b'c' => {
                let _ = joiner.take();
                joiner.start(&record);
            }
            b'+' => {
                joiner.append(record.text);
            }
            _ => {
                let _ = joiner.take();
            }
        }
    }
    let _ = joiner.take();
    let _ = parse_record(input);
    let _ = record_len(input, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_text_and_dictionary() {
        let r = parse_record(
            b"6,339,5140900,-;usb 1-1.2: USB disconnect, device number 4\n SUBSYSTEM=usb\n DEVICE=c189:3\n",
        )
        .unwrap();
        assert_eq!((r.level, r.facility, r.seq, r.ts_usec), (6, 0, 339, 5140900));
        assert_eq!(r.flags, b'-');
        assert_eq!(r.text, b"usb 1-1.2: USB disconnect, device number 4");
        assert_eq!(r.dict_value(b"SUBSYSTEM"), Some(&b"usb"[..]));
        assert_eq!(r.dict_value(b"DEVICE"), Some(&b"c189:3"[..]));
        assert_eq!(r.dict_value(b"DEV"), None);
    }

    #[test]
    fn user_space_facility_extra_fields_and_escapes() {
        let r = parse_record(b"12,7,99,-,caller=T1;pimon: tab\\x09and\\x5c\n").unwrap();
        assert_eq!((r.level, r.facility), (4, 1));
        assert_eq!(r.text, b"pimon: tab\\x09and\\x5c");
        let r = parse_record(b"4,8,100;no flags field").unwrap();
        assert_eq!((r.flags, r.text), (b'-', &b"no flags field"[..]));
    }

    #[test]
    fn damaged_records_are_errors() {
        assert_eq!(parse_record(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_record(b"6,1,2,- no semicolon\n"),
            Err(ParseError::Malformed("`;` after the record's prefix"))
        );
        assert_eq!(parse_record(b"x,1,2,-;t\n"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_record(b"6;t\n"), Err(ParseError::MissingField("seq")));
        assert_eq!(
            parse_record(b"6,1,2,--;t\n"),
            Err(ParseError::Malformed("a one-character flags field"))
        );
    }

    #[test]
    fn record_len_waits_for_possible_dictionary_lines() {
        let two = b"6,1,0,-;a\n SUBSYSTEM=x\n6,2,0,-;b\n";
        assert_eq!(record_len(two, false), Some(23));
        assert_eq!(record_len(b"6,2,0,-;b\n", false), None);
        assert_eq!(record_len(b"6,2,0,-;b\n", true), Some(10));
        assert_eq!(record_len(b"6,2,0,-;b\n SUBSYS", false), None);
        assert_eq!(record_len(b"6,2,0,-;b\n SUBSYS", true), Some(17));
        assert_eq!(record_len(b"6,2,0,-;no newline yet", true), None);
    }

    #[test]
    fn records_of_a_stream() {
        let stream = b"6,1,0,-;a\n SUBSYSTEM=x\n\n6,2,0,c;b\n6,3,0,+;c\nbad\n6,4,0,-;d";
        extern crate std;
        let got: std::vec::Vec<_> = parse_records(stream).collect();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].unwrap().dict_value(b"SUBSYSTEM"), Some(&b"x"[..]));
        assert_eq!(got[2].unwrap().flags, b'+');
        assert!(got[3].is_err());
        assert_eq!(got[4].unwrap().text, b"d");
    }

    #[test]
    fn joiner_joins_continuations_and_cuts_at_capacity() {
        let mut j = Joiner::<8>::default();
        assert!(!j.append(b"orphan"));
        let start = parse_record(b"4,10,0,c;abc").unwrap();
        j.start(&start);
        assert!(j.append(b"def"));
        assert!(j.append(b"ghijk"));
        let joined = j.take().unwrap();
        assert_eq!((joined.seq, joined.level, joined.text), (10, 4, &b"abcdefgh"[..]));
        assert!(j.take().is_none());
    }
}
