//! The kernel log, `<root>/dev/kmsg` → `KERNEL_EVENTS{event,device}` by rule, and the
//! records read and missed (`KERNEL_LOG_RECORDS`, `KERNEL_LOG_MISSED`).
//!
//! Unlike every other source, this one is not re-read from offset 0: the file stays
//! open and each cycle reads what was added since the last one. `/dev/kmsg` is opened
//! non-blocking, so a cycle reads until `EAGAIN` and never waits. A fresh open starts
//! at the oldest record still in the kernel's ring, so the counts are "since boot" (as
//! far as the ring reaches back) and survive a collector restart. When the kernel
//! overwrites records before they are read, `read` fails once with `EPIPE` and goes on
//! from the oldest record left; the sequence numbers say how many were lost, counted in
//! `KERNEL_LOG_MISSED` (the records gone before the first read count too).
//!
//! The character device returns one record per `read`. A regular file in its place (a
//! fixture under `--root`, a saved stream) is read from offset 0 to its end and then
//! followed as it grows, split into records by [`record_len`]; a record is taken at
//! the end of the file once its last line has its newline.
//!
//! Records are matched against the config file's rules, then the built-in ones
//! ([`BUILTIN_RULES`]); the first match counts. `c`/`+` continuation records are joined
//! first. Counts live in a table of fixed capacity (`[kmsg] max_series`) allocated at
//! start-up: once it is full, a new device of an event counts under `device="other"`,
//! which keeps label values that come from the log (process names) bounded. No
//! allocation per record or per cycle.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::PathBuf;

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::kmsg::{Joiner, Record, parse_record, record_len};
use crate::parse::log_rule::{BUILTIN_RULES, Rule};
use crate::sink::SampleSink;
use crate::sys::ZeroedPages;

/// The read buffer: larger than the longest record the kernel returns (8 KiB with
/// its dictionary).
pub const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Longest `device` label value; a longer capture is cut here.
pub const MAX_DEVICE_LEN: usize = 32;

/// Longest message rebuilt from continuation records (the kernel's own limit for one
/// message is 1024 bytes).
const MAX_JOINED_LEN: usize = 1024;

/// The `device` value of events beyond the series table's capacity.
pub const OVERFLOW_DEVICE: &str = "other";

/// A dictionary condition: key and value.
type DictEntry = (Box<[u8]>, Box<[u8]>);

/// A rule with its own bytes (the config file's lines outlive no borrow).
#[derive(Debug)]
struct OwnedRule {
    /// Index into [`Tally::events`]; `None` for a drop (`-`) rule.
    event: Option<u16>,
    max_level: u8,
    facility: Option<u32>,
    dict: Option<DictEntry>,
    pattern: Box<[u8]>,
    needle: Box<[u8]>,
}

impl OwnedRule {
    fn rule(&self) -> Rule<'_> {
        Rule {
            event: None,
            max_level: self.max_level,
            facility: self.facility,
            dict: self.dict.as_ref().map(|(k, v)| (&k[..], &v[..])),
            pattern: &self.pattern,
            needle: &self.needle,
        }
    }
}

/// One `(event, device)` count.
#[derive(Debug, Clone, Copy)]
struct Series {
    event: u16,
    device: [u8; MAX_DEVICE_LEN],
    device_len: u8,
    count: u64,
}

impl Series {
    fn device(&self) -> &str {
        let bytes = self.device.get(..usize::from(self.device_len)).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or(OVERFLOW_DEVICE)
    }
}

/// The rules and what they counted.
#[derive(Debug)]
pub(crate) struct Tally {
    rules: Vec<OwnedRule>,
    events: Vec<Box<str>>,
    series: Vec<Series>,
    max_series: usize,
    next_seq: Option<u64>,
    records: u64,
    missed: u64,
}

impl Tally {
    /// The config file's rules (checked when the file was read), then the built-in ones.
    pub(crate) fn new(user_rules: &[String], max_series: usize) -> Result<Tally, String> {
        let mut rules = Vec::new();
        let mut events: Vec<Box<str>> = Vec::new();
        let lines = user_rules
            .iter()
            .map(String::as_str)
            .chain(BUILTIN_RULES.iter().copied());
        for line in lines {
            let rule = Rule::parse(line).map_err(|e| format!("rule {line:?}: {e}"))?;
            let event = rule.event.map(|name| match events.iter().position(|e| &**e == name) {
                Some(i) => i,
                None => {
                    events.push(name.into());
                    events.len() - 1
                }
            });
            rules.push(OwnedRule {
                event: event.map(|i| u16::try_from(i).unwrap_or(u16::MAX)),
                max_level: rule.max_level,
                facility: rule.facility,
                dict: rule.dict.map(|(k, v)| (k.into(), v.into())),
                pattern: rule.pattern.into(),
                needle: rule.needle.into(),
            });
        }
        // One "other" series per event on top of `max_series`, so overflow always fits.
        let series = Vec::with_capacity(max_series + events.len());
        Ok(Tally {
            rules,
            events,
            series,
            max_series,
            next_seq: None,
            records: 0,
            missed: 0,
        })
    }

    /// Accounts one whole message (continuations already joined).
    fn count(&mut self, record: &Record<'_>) {
        for rule in &self.rules {
            if let Some(device) = rule.rule().matches(record) {
                if let Some(event) = rule.event {
                    add(&mut self.series, self.max_series, event, device);
                }
                return;
            }
        }
    }

    /// Accounts a record's sequence number: a gap is records the kernel overwrote.
    fn sequence(&mut self, seq: u64) {
        self.records = self.records.saturating_add(1);
        let expected = self.next_seq.unwrap_or(0);
        if seq > expected {
            self.missed = self.missed.saturating_add(seq - expected);
        }
        if seq >= expected {
            self.next_seq = Some(seq.saturating_add(1));
        }
    }

    /// Records read so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Records missed so far.
    pub(crate) fn missed(&self) -> u64 {
        self.missed
    }

    /// `(event, device, count)` of every series, in the order they first occurred.
    pub(crate) fn series(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        self.series.iter().map(|s| {
            let event = self.events.get(usize::from(s.event)).map_or("", |e| &**e);
            (event, s.device(), s.count)
        })
    }

    fn push_samples(&self, sink: &mut dyn SampleSink) {
        sink.labels(&[]);
        sink.push(id::KERNEL_LOG_RECORDS, Value::Unsigned(self.records()));
        sink.push(id::KERNEL_LOG_MISSED, Value::Unsigned(self.missed()));
        for (event, device, count) in self.series() {
            sink.labels(&[event, device]);
            sink.push(id::KERNEL_EVENTS, Value::Unsigned(count));
        }
    }
}

/// Adds one to `(event, device)`, or to `(event, "other")` when the table is full or the
/// device is not UTF-8. Never grows `series` past its capacity.
fn add(series: &mut Vec<Series>, max_series: usize, event: u16, device: &[u8]) {
    let device = device.get(..MAX_DEVICE_LEN).unwrap_or(device);
    let device = match std::str::from_utf8(device) {
        Ok(d) => d.as_bytes(),
        Err(_) => OVERFLOW_DEVICE.as_bytes(),
    };
    let find = |series: &[Series], device: &[u8]| {
        series.iter().position(|s| {
            s.event == event && s.device.get(..usize::from(s.device_len)) == Some(device)
        })
    };
    let index = match find(series, device) {
        Some(i) => Some(i),
        None if series.len() < max_series => new_series(series, event, device),
        None => match find(series, OVERFLOW_DEVICE.as_bytes()) {
            Some(i) => Some(i),
            None => new_series(series, event, OVERFLOW_DEVICE.as_bytes()),
        },
    };
    if let Some(s) = index.and_then(|i| series.get_mut(i)) {
        s.count = s.count.saturating_add(1);
    }
}

fn new_series(series: &mut Vec<Series>, event: u16, device: &[u8]) -> Option<usize> {
    if series.len() == series.capacity() {
        return None;
    }
    let mut s = Series {
        event,
        device: [0; MAX_DEVICE_LEN],
        device_len: 0,
        count: 0,
    };
    let n = device.len().min(MAX_DEVICE_LEN);
    s.device.get_mut(..n)?.copy_from_slice(device.get(..n)?);
    s.device_len = u8::try_from(n).ok()?;
    series.push(s);
    Some(series.len() - 1)
}

/// What reading the log turns records into: the tally, and the continuation being
/// joined.
#[derive(Debug)]
pub(crate) struct Events {
    tally: Tally,
    joiner: Joiner<MAX_JOINED_LEN>,
    bad_records: u64,
}

impl Events {
    pub(crate) fn new(tally: Tally) -> Events {
        Events {
            tally,
            joiner: Joiner::default(),
            bad_records: 0,
        }
    }

    pub(crate) fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Takes one record's bytes (header and dictionary lines).
    fn feed(&mut self, bytes: &[u8]) {
        let record = match parse_record(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.bad_records = self.bad_records.saturating_add(1);
                return;
            }
        };
        self.tally.sequence(record.seq);
        match record.flags {
            b'+' if self.joiner.append(record.text) => {}
            b'c' => {
                if let Some(joined) = self.joiner.take() {
                    self.tally.count(&joined);
                }
                self.joiner.start(&record);
            }
            _ => {
                if let Some(joined) = self.joiner.take() {
                    self.tally.count(&joined);
                }
                self.tally.count(&record);
            }
        }
    }

    /// Takes a stream of records back to back; returns how many bytes formed whole
    /// records (the rest waits for more bytes, unless `at_end`).
    fn feed_stream(&mut self, bytes: &[u8], at_end: bool) -> usize {
        let mut used = 0;
        while let Some(rest) = bytes.get(used..) {
            // Blank lines between records are not records.
            let blank = rest.iter().take_while(|&&b| b == b'\n').count();
            used += blank;
            let rest = rest.get(blank..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            let len = match record_len(rest, at_end) {
                Some(len) => len,
                None if at_end => rest.len(),
                None => break,
            };
            self.feed(rest.get(..len).unwrap_or_default());
            used += len;
        }
        used
    }
}

/// How the log is read: one record per `read` (the character device) or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Device,
    Stream,
}

/// Reads records with `read` until there are none left (`EAGAIN` or end of file) and
/// feeds them to `events`. `buf[..*pending]` holds the start of a record a previous
/// call could not finish (stream mode). Read failures other than `EPIPE` (records
/// overwritten: the next read goes on) are returned.
fn drain(
    mode: Mode,
    buf: &mut [u8],
    pending: &mut usize,
    events: &mut Events,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> io::Result<()> {
    loop {
        if *pending >= buf.len() {
            // One record larger than the buffer: not a kernel record; drop it.
            events.bad_records = events.bad_records.saturating_add(1);
            *pending = 0;
        }
        let space = buf.get_mut(*pending..).unwrap_or_default();
        match read(space) {
            Ok(0) => break,
            Ok(n) if mode == Mode::Device => events.feed(buf.get(..n).unwrap_or_default()),
            Ok(n) => {
                let filled = *pending + n;
                let used = events.feed_stream(buf.get(..filled).unwrap_or_default(), false);
                buf.copy_within(used..filled, 0);
                *pending = filled - used;
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    // At the end of what a file holds now, its last record is taken when it ends with
    // a newline; a record cut inside a line waits for the rest (a file that grows).
    let whole_lines = buf.get(..*pending).is_some_and(|b| b.ends_with(b"\n"));
    if mode == Mode::Stream && whole_lines {
        let used = events.feed_stream(buf.get(..*pending).unwrap_or_default(), true);
        buf.copy_within(used..*pending, 0);
        *pending -= used.min(*pending);
    }
    Ok(())
}

/// Reads `<root>/dev/kmsg`.
pub(crate) struct KmsgReader {
    file: File,
    path: PathBuf,
    mode: Mode,
    buf: ZeroedPages,
    pending: usize,
    events: Events,
}

impl fmt::Debug for KmsgReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsgReader")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl KmsgReader {
    /// Reads everything available now (what `collect` does before pushing).
    pub(crate) fn read_available(&mut self) -> io::Result<()> {
        let file = &mut self.file;
        drain(
            self.mode,
            &mut self.buf,
            &mut self.pending,
            &mut self.events,
            |b| file.read(b),
        )
    }
}

impl Source for KmsgReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let path = config.root.join("dev/kmsg");
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let is_device = file
            .metadata()
            .map(|m| m.file_type().is_char_device())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let tally = Tally::new(&config.kmsg_rules, config.kmsg_max_series)?;
        Ok(KmsgReader {
            file,
            path,
            mode: if is_device { Mode::Device } else { Mode::Stream },
            buf: ZeroedPages::new(READ_BUFFER_BYTES),
            pending: 0,
            events: Events::new(tally),
        })
    }

    fn details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tally = self.events.tally();
        write!(
            f,
            ": {} rules ({} from the config file), {} series at most",
            tally.rules.len(),
            tally.rules.len() - BUILTIN_RULES.len(),
            tally.max_series
        )
    }

    fn collect(
        &mut self,
        _scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let bad_before = self.events.bad_records;
        if let Err(e) = self.read_available() {
            let e = super::file::ReadError::Io(e);
            errors.fail(format_args!("{}: {e}", self.path.display()));
        }
        let bad = self.events.bad_records - bad_before;
        if bad > 0 {
            errors.fail(format_args!(
                "{}: {bad} records that do not parse",
                self.path.display()
            ));
        }
        self.events.tally().push_samples(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(rules: &[&str], max_series: usize) -> Events {
        let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
        Events::new(Tally::new(&rules, max_series).unwrap())
    }

    fn counts(events: &Events) -> Vec<(String, String, u64)> {
        events
            .tally()
            .series()
            .map(|(e, d, c)| (e.to_string(), d.to_string(), c))
            .collect()
    }

    /// A scripted `read`: each step is the bytes of one read or an error.
    fn script(
        steps: Vec<io::Result<&'static [u8]>>,
    ) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
        let mut steps = steps.into_iter();
        move |buf| match steps.next() {
            Some(Ok(bytes)) => {
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(bytes.len())
            }
            Some(Err(e)) => Err(e),
            None => Err(io::Error::from(io::ErrorKind::WouldBlock)),
        }
    }

    #[test]
    fn epipe_is_not_an_error_and_the_gap_is_missed() {
        let mut ev = events(&[], 8);
        let mut buf = [0u8; 256];
        let mut pending = 0;
        let read = script(vec![
            Ok(b"3,0,1,-;mmc0: error -110 whilst initialising SD card\n"),
            Err(io::Error::from_raw_os_error(libc::EPIPE)),
            Ok(b"3,5,2,-;mmc0: error -110 whilst initialising SD card\n"),
        ]);
        drain(Mode::Device, &mut buf, &mut pending, &mut ev, read).unwrap();
        assert_eq!((ev.tally().records(), ev.tally().missed()), (2, 4));
        assert_eq!(counts(&ev), [("mmc_error".into(), "mmc0".into(), 2)]);
        let failing = script(vec![Err(io::Error::from_raw_os_error(libc::EIO))]);
        assert!(drain(Mode::Device, &mut buf, &mut pending, &mut ev, failing).is_err());
    }

    #[test]
    fn a_stream_split_anywhere_gives_the_same_records() {
        let stream: &[u8] = b"6,0,1,-;usb 1-1: USB disconnect, device number 2\n SUBSYSTEM=usb\n\
            4,1,2,c;partial \n4,2,3,+;line\n3,3,4,-;Buffer I/O error on dev sda1, logical block 0\n";
        for cut in 0..stream.len() {
            let mut ev = events(&["cont level<=warning partial line"], 8);
            let mut buf = [0u8; 256];
            let mut pending = 0;
            let (a, b) = stream.split_at(cut);
            // A read of 0 bytes is the end of the file: the parts are never empty.
            let mut parts = [a, b].into_iter().filter(|p| !p.is_empty());
            let read = move |buf: &mut [u8]| match parts.next() {
                Some(p) => {
                    buf[..p.len()].copy_from_slice(p);
                    Ok(p.len())
                }
                None => Ok(0),
            };
            drain(Mode::Stream, &mut buf, &mut pending, &mut ev, read).unwrap();
            assert_eq!(ev.tally().records(), 4, "cut at {cut}");
            assert_eq!(ev.bad_records, 0, "cut at {cut}");
            assert_eq!(
                counts(&ev),
                [
                    ("usb_disconnect".into(), "1-1".into(), 1),
                    ("cont".into(), "".into(), 1),
                    ("io_error".into(), "sda1".into(), 1),
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn full_table_counts_under_other_without_growing() {
        let mut ev = events(&[], 2);
        for name in ["a", "b", "c", "d"] {
            let line = format!("3,0,0,-;Out of memory: Killed process 1 ({name}) total-vm:1kB\n");
            ev.feed(line.as_bytes());
        }
        ev.feed(b"3,0,0,-;Out of memory: Killed process 1 (a) total-vm:1kB\n");
        assert_eq!(
            counts(&ev),
            [
                ("oom_kill".into(), "a".into(), 2),
                ("oom_kill".into(), "b".into(), 1),
                ("oom_kill".into(), "other".into(), 2),
            ]
        );
        assert!(ev.tally.series.len() <= ev.tally.series.capacity());
    }

    #[test]
    fn long_devices_are_cut_and_user_rules_come_first() {
        let mut ev = events(&["mine *Killed process*", "- *ignored*"], 8);
        ev.feed(b"3,0,0,-;Out of memory: Killed process 1 (x) total-vm:1kB\n");
        ev.feed(b"3,1,0,-;mmc0: ignored\n");
        let long = format!("3,2,0,-;usb {}: USB disconnect, device number 9\n", "9".repeat(40));
        ev.feed(long.as_bytes());
        assert_eq!(
            counts(&ev),
            [
                ("mine".into(), "".into(), 1),
                ("usb_disconnect".into(), "9".repeat(MAX_DEVICE_LEN), 1),
            ]
        );
    }
}
