//! `/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6`: the kernel's protocol
//! counters, as node_exporter's `netstat` collector exports them.
//!
//! `netstat` and `snmp` are pairs of lines, a header naming the fields and a line of
//! values, both led by the protocol:
//!
//! ```text
//! TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts …
//! TcpExt: 0 0 0 12 …
//! ```
//!
//! The fields a protocol has grow with the kernel (4.14's `TcpExt` has 118, 6.18's 131,
//! `IcmpMsg` lists only the ICMP types seen so far), so a value is found by the name
//! above it, never by its position. `snmp6` is one `Ip6InOctets   1234` per line; the
//! protocol is the name up to its first `6` (node_exporter's split: `Udp6`, `UdpLite6`).
//!
//! Which fields are sent is node_exporter's default `--collector.netstat.fields` regex,
//! compiled into the catalog, widened by the fields Telegraf's system dashboard reads
//! (TCP aborts, ICMP echoes, IPv4/IPv6 errors, Tcp EstabResets): a field is sent when the
//! catalog has a row named `node_netstat_<Proto>_<Field>` ([`netstat_id`]), and only those
//! values are parsed (`Tcp: MaxConn` is `-1`). The rows are two runs of ids (the later
//! fields were appended); each file is pushed one run after the other, so ids ascend.
//!
//! A header line does not change within a boot: the netstat source keeps a
//! [`HeaderCache`] per file and passes it to [`push_header_value_cached`], which walks
//! only the value lines to the sent columns while the header lines are those kept.

use pimon_protocol::Value;
use pimon_protocol::catalog::{id, name_suffixes};

use super::text::Lines;
use super::{FileFormat, ParseError, parse_u64, words};
use crate::sink::SampleSink;

/// One protocol of a header/value file: its name and its two lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoLines<'a> {
    /// The protocol, without its colon (`TcpExt`).
    pub proto: &'a [u8],
    names: &'a [u8],
    values: &'a [u8],
}

impl<'a> ProtoLines<'a> {
    /// `(name, value)` of each field, the value's text unparsed (`-1` for `MaxConn`).
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        words(self.names).skip(1).zip(words(self.values).skip(1))
    }
}

/// The protocol of a line (`TcpExt:` → `TcpExt`), or `None` when it has no `X:` head.
fn head(line: &[u8]) -> Option<&[u8]> {
    let first = words(line).next()?;
    match first.split_last() {
        Some((b':', proto)) if !proto.is_empty() => Some(proto),
        _ => None,
    }
}

/// Iterator over the protocols of `/proc/net/netstat` or `/proc/net/snmp`; see
/// [`parse_header_value_lines`].
#[derive(Debug, Clone)]
pub struct HeaderValueLines<'a> {
    lines: Lines<'a>,
}

impl<'a> HeaderValueLines<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        self.lines.by_ref().find(|l| !l.trim_ascii().is_empty())
    }
}

impl<'a> HeaderValueLines<'a> {
    /// The next pair of lines with the same `Proto:` head, not yet checked for as many
    /// values as names ([`ProtoLines::check_counts`]).
    fn next_pair(&mut self) -> Option<Result<ProtoLines<'a>, ParseError>> {
        let names = self.next_line()?;
        let Some(proto) = head(names) else {
            return Some(Err(ParseError::Malformed("`Proto:` at the start of a line")));
        };
        let Some(values) = self.next_line() else {
            return Some(Err(ParseError::MissingField("value line")));
        };
        if head(values) != Some(proto) {
            return Some(Err(ParseError::Malformed(
                "a value line for each header line",
            )));
        }
        Some(Ok(ProtoLines {
            proto,
            names,
            values,
        }))
    }
}

impl ProtoLines<'_> {
    /// `Ok` when the value line has as many words as the header line.
    fn check_counts(&self) -> Result<(), ParseError> {
        if words(self.names).count() == words(self.values).count() {
            Ok(())
        } else {
            Err(ParseError::Malformed("as many values as names"))
        }
    }
}

impl<'a> Iterator for HeaderValueLines<'a> {
    type Item = Result<ProtoLines<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.next_pair()?.and_then(|lines| lines.check_counts().map(|()| lines)))
    }
}

/// Parses `/proc/net/netstat` or `/proc/net/snmp` lazily: one item per protocol (pair
/// of lines), an error for a pair that does not match (the next pair is read on).
pub fn parse_header_value_lines(input: &[u8]) -> HeaderValueLines<'_> {
    HeaderValueLines {
        lines: super::text::lines(input),
    }
}

/// One `/proc/net/snmp6` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snmp6Field<'a> {
    /// The name up to its first `6` (`Icmp6`).
    pub proto: &'a [u8],
    /// The rest of the name (`InMsgs`).
    pub field: &'a [u8],
    /// The value's text.
    pub value: &'a [u8],
}

/// Parses `/proc/net/snmp6` lazily. Like node_exporter, a line without two words or
/// without a `6` in its name is skipped.
pub fn parse_snmp6(input: &[u8]) -> impl Iterator<Item = Snmp6Field<'_>> {
    super::text::lines(input).filter_map(|line| {
        let mut w = words(line);
        let name = w.next()?;
        let value = w.next()?;
        let six = name.iter().position(|&b| b == b'6')?;
        let (proto, field) = name.split_at_checked(six + 1)?;
        Some(Snmp6Field {
            proto,
            field,
            value,
        })
    })
}

/// The catalog rows of node_exporter's default netstat fields, in id order.
const DEFAULT_ROWS: core::ops::RangeInclusive<u16> =
    id::NETSTAT_TCPEXT_SYNCOOKIESSENT..=id::NETSTAT_UDPLITE6_INERRORS;
/// The rows appended later for Telegraf's dashboard (fields beyond node_exporter's default
/// filter), in id order.
const EXTRA_ROWS: core::ops::RangeInclusive<u16> =
    id::NETSTAT_TCPEXT_TCPABORTONDATA..=id::NETSTAT_IP6_OUTNOROUTES;

/// `<Proto>_<Field>` of every default netstat row, from the catalog at compile time.
const DEFAULT_KEYS: [&str; (*DEFAULT_ROWS.end() - *DEFAULT_ROWS.start() + 1) as usize] =
    name_suffixes(*DEFAULT_ROWS.start(), "node_netstat_");
/// `<Proto>_<Field>` of every extra netstat row.
const EXTRA_KEYS: [&str; (*EXTRA_ROWS.end() - *EXTRA_ROWS.start() + 1) as usize] =
    name_suffixes(*EXTRA_ROWS.start(), "node_netstat_");

/// Words of a [`KeyFilter`].
const FILTER_WORDS: usize = 16;

/// A one-hash Bloom filter of a run's `(protocol length, field)` pairs, built at compile
/// time: a field whose bit is clear has no row in the run, so the ~90 % of a file's
/// fields that are not sent cost a few instructions instead of a scan of the
/// protocol's rows. A set bit may be another field's (the scan then decides).
type KeyFilter = [u64; FILTER_WORDS];

/// The filter bit of field `field` of a protocol whose name is `proto_len` bytes.
const fn filter_bit(proto_len: usize, field: &[u8]) -> usize {
    let n = field.len();
    let (first, mid, last) = match n {
        0 => (0, 0, 0),
        _ => (field[0] as usize, field[n / 2] as usize, field[n - 1] as usize),
    };
    (proto_len * 131 + n * 31 + first * 7 + mid * 17 + last * 3) % (FILTER_WORDS * 64)
}

/// The filter of `keys` (`<Proto>_<Field>`; no protocol name has a `_`, which
/// `every_row_is_found_by_its_name` checks through [`netstat_id`]).
const fn key_filter(keys: &[&str]) -> KeyFilter {
    let mut filter = [0u64; FILTER_WORDS];
    let mut i = 0;
    while i < keys.len() {
        let key = keys[i].as_bytes();
        let mut p = 0;
        while p < key.len() && key[p] != b'_' {
            p += 1;
        }
        if p < key.len() {
            let bit = filter_bit(p, key.split_at(p + 1).1);
            filter[bit / 64] |= 1 << (bit % 64);
        }
        i += 1;
    }
    filter
}

/// One contiguous run of netstat rows and their keys. Within a run, each protocol's rows
/// are contiguous and in the kernel's order; a file is pushed one run at a time, so the
/// ids of a frame's group ascend.
#[derive(Debug, Clone)]
struct Run {
    rows: core::ops::RangeInclusive<u16>,
    keys: &'static [&'static str],
    filter: KeyFilter,
}

/// The runs, in id order.
static RUNS: [Run; 2] = [
    Run {
        rows: DEFAULT_ROWS,
        keys: &DEFAULT_KEYS,
        filter: key_filter(&DEFAULT_KEYS),
    },
    Run {
        rows: EXTRA_ROWS,
        keys: &EXTRA_KEYS,
        filter: key_filter(&EXTRA_KEYS),
    },
];

impl Run {
    /// `<Proto>_<Field>` of a row of this run (`TcpExt_ListenDrops`).
    fn key_of(&self, row: u16) -> &'static [u8] {
        row.checked_sub(*self.rows.start())
            .and_then(|i| self.keys.get(usize::from(i)))
            .map_or(&[], |k| k.as_bytes())
    }

    /// The rows of `proto` in this run: `start..end`, empty if none.
    fn proto_rows(&self, proto: &[u8]) -> core::ops::Range<u16> {
        let of_proto = |row: &u16| {
            let key = self.key_of(*row);
            key.len() > proto.len()
                && key.starts_with(proto)
                && key.get(proto.len()) == Some(&b'_')
        };
        let Some(start) = self.rows.clone().find(of_proto) else {
            return 0..0;
        };
        let end = self
            .rows
            .clone()
            .skip_while(|r| *r < start)
            .find(|r| !of_proto(r))
            .unwrap_or(self.rows.end() + 1);
        start..end
    }

    /// The row of `field` among `rows` (those of its protocol in this run).
    fn field_row(&self, rows: core::ops::Range<u16>, proto_len: usize, field: &[u8]) -> Option<u16> {
        let bit = filter_bit(proto_len, field);
        if self.filter.get(bit / 64).is_none_or(|w| w >> (bit % 64) & 1 == 0) {
            return None;
        }
        rows.into_iter()
            .find(|&r| self.key_of(r).get(proto_len + 1..) == Some(field))
    }
}

/// The catalog id of netstat field `<proto>_<field>`, or `None` for a field that has no
/// row (node_exporter's default filter drops it and Telegraf's dashboard does not read it).
pub fn netstat_id(proto: &[u8], field: &[u8]) -> Option<u16> {
    RUNS.iter()
        .find_map(|run| run.field_row(run.proto_rows(proto), proto.len(), field))
}

/// Pushes the kept fields of a `netstat` or `snmp` file: one pass per run.
fn push_header_value(
    input: &[u8],
    sink: &mut dyn SampleSink,
    bad_row: &mut dyn FnMut(ParseError),
) -> Result<(), ParseError> {
    let mut any = false;
    sink.labels(&[]);
    for (pass, run) in RUNS.iter().enumerate() {
        let mut pairs = parse_header_value_lines(input);
        while let Some(item) = pairs.next_pair() {
            // The first pass checks every pair (and reports the bad ones); a later one
            // only those it sends fields of.
            let lines = match item {
                Ok(lines) => lines,
                Err(e) => {
                    if pass == 0 {
                        bad_row(e);
                    }
                    continue;
                }
            };
            let rows = run.proto_rows(lines.proto);
            if pass != 0 && rows.is_empty() {
                continue;
            }
            if let Err(e) = lines.check_counts() {
                if pass == 0 {
                    bad_row(e);
                }
                continue;
            }
            any = true;
            if rows.is_empty() {
                continue;
            }
            for (name, value) in lines.fields() {
                if let Some(row) = run.field_row(rows.clone(), lines.proto.len(), name) {
                    match parse_u64(value) {
                        Ok(v) => sink.push(row, Value::Unsigned(v)),
                        Err(e) => bad_row(e),
                    }
                }
            }
        }
    }
    if any { Ok(()) } else { Err(ParseError::Empty) }
}

/// Bytes of header lines a [`HeaderCache`] keeps (a file's are ~2.3 KiB on the Pi 4's
/// 6.1 kernel, ~3.5 KiB with `MPTcpExt` on x86); a file with more is parsed in full
/// every cycle.
const CACHE_HEADER_BYTES: usize = 8192;
/// Protocols (pairs of lines) a [`HeaderCache`] keeps (`snmp` has 6).
const CACHE_PAIRS: usize = 8;
/// Sent columns a [`HeaderCache`] keeps: each is one row, a row at most once per file.
const CACHE_COLUMNS: usize = DEFAULT_KEYS.len() + EXTRA_KEYS.len();

/// What [`push_header_value_cached`] keeps of a `netstat` or `snmp` file across cycles:
/// its header lines, which do not change within a boot (`IcmpMsg`'s grows when a new
/// ICMP type is seen), and for each sent column its index in the value line and its
/// row. While the header lines are byte for byte those kept, the value lines are only
/// walked to those columns, instead of every name being split and looked up. Fixed
/// arrays: nothing is allocated after the cache is.
#[derive(Clone)]
pub struct HeaderCache {
    /// Pairs kept; 0 when there is nothing to reuse (the next push takes the full path).
    pairs: usize,
    /// The header lines, each with its `\n`, one after the other.
    headers: [u8; CACHE_HEADER_BYTES],
    /// The end of pair `i`'s header line in `headers`.
    header_end: [u16; CACHE_PAIRS],
    /// The length of pair `i`'s protocol name (the line starts with it and a `:`).
    proto_len: [u16; CACHE_PAIRS],
    /// The words of pair `i`'s header line (the value line must have as many).
    words: [u16; CACHE_PAIRS],
    /// The end of pair `i`'s columns in `cols`/`slot`.
    cols_end: [u16; CACHE_PAIRS],
    /// The sent columns (word index in the line, the `Proto:` head being 0), by pair,
    /// ascending within a pair.
    cols: [u16; CACHE_COLUMNS],
    /// The push position of each of `cols`.
    slot: [u16; CACHE_COLUMNS],
    /// The row of each push position, in push order (that of the full path).
    rows: [u16; CACHE_COLUMNS],
    /// Push positions.
    sent: usize,
}

impl core::fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderCache")
            .field("pairs", &self.pairs)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Default for HeaderCache {
    fn default() -> Self {
        HeaderCache {
            pairs: 0,
            headers: [0; CACHE_HEADER_BYTES],
            header_end: [0; CACHE_PAIRS],
            proto_len: [0; CACHE_PAIRS],
            words: [0; CACHE_PAIRS],
            cols_end: [0; CACHE_PAIRS],
            cols: [0; CACHE_COLUMNS],
            slot: [0; CACHE_COLUMNS],
            rows: [0; CACHE_COLUMNS],
            sent: 0,
        }
    }
}

/// The line of `input` starting at `pos`: `(line without its \n, position after it)`.
fn line_at(input: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = input.get(pos..)?;
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b'\n' {
            return Some((rest.get(..i)?, pos + i + 1));
        }
        i += 1;
    }
    Some((rest, input.len()))
}

impl HeaderCache {
    /// Whether the next push may reuse what is kept (tests).
    pub fn is_kept(&self) -> bool {
        self.pairs != 0
    }

    /// Keeps the header lines and sent columns of `input`, or nothing when `input` is not
    /// plainly laid out (a blank line, a bad pair, more than the arrays hold): then the
    /// full path is taken every cycle, as before this cache.
    fn rebuild(&mut self, input: &[u8]) {
        self.pairs = 0;
        if self.fill(input).is_none() {
            self.pairs = 0;
        }
    }

    fn fill(&mut self, input: &[u8]) -> Option<()> {
        let mut lines: [(&[u8], &[u8]); CACHE_PAIRS] = [(&[], &[]); CACHE_PAIRS];
        let mut pairs = 0;
        let mut pos = 0;
        let mut used = 0;
        while !input.get(pos..)?.trim_ascii().is_empty() {
            let (names, next) = line_at(input, pos)?;
            let (values, next) = line_at(input, next)?;
            pos = next;
            let proto = head(names)?;
            // The line starts with `Proto:` (no leading blank), as does its value line.
            let lead = names.get(..proto.len() + 1)?;
            if lead.split_last() != Some((&b':', proto))
                || head(values) != Some(proto)
                || !values.starts_with(lead)
            {
                return None;
            }
            let n = words(names).count();
            if n != words(values).count() {
                return None;
            }
            let end = used + names.len() + 1;
            let slot = self.headers.get_mut(used..end)?;
            let (text, newline) = slot.split_at_mut(names.len());
            text.copy_from_slice(names);
            *newline.first_mut()? = b'\n';
            *lines.get_mut(pairs)? = (names, values);
            *self.header_end.get_mut(pairs)? = u16::try_from(end).ok()?;
            *self.proto_len.get_mut(pairs)? = u16::try_from(proto.len()).ok()?;
            *self.words.get_mut(pairs)? = u16::try_from(n).ok()?;
            used = end;
            pairs += 1;
        }
        if pairs == 0 {
            return None;
        }
        // Push positions in the full path's order: run, then pair, then column.
        let mut pair_of = [0u8; CACHE_COLUMNS];
        let mut col_of = [0u16; CACHE_COLUMNS];
        let mut sent = 0;
        for run in &RUNS {
            for (p, (names, _)) in lines.iter().enumerate().take(pairs) {
                let proto = head(names)?;
                let rows = run.proto_rows(proto);
                if rows.is_empty() {
                    continue;
                }
                for (col, name) in words(names).enumerate().skip(1) {
                    if let Some(row) = run.field_row(rows.clone(), proto.len(), name) {
                        *self.rows.get_mut(sent)? = row;
                        *pair_of.get_mut(sent)? = u8::try_from(p).ok()?;
                        *col_of.get_mut(sent)? = u16::try_from(col).ok()?;
                        sent += 1;
                    }
                }
            }
        }
        // The same positions grouped by pair, each pair's by column (one walk per line).
        let mut k = 0;
        for p in 0..pairs {
            let start = k;
            for s in 0..sent {
                if usize::from(*pair_of.get(s)?) == p {
                    *self.cols.get_mut(k)? = *col_of.get(s)?;
                    *self.slot.get_mut(k)? = u16::try_from(s).ok()?;
                    k += 1;
                }
            }
            // Insertion sort by column (a pair's columns are two ascending runs).
            for i in start + 1..k {
                let mut j = i;
                while j > start && self.cols.get(j - 1)? > self.cols.get(j)? {
                    self.cols.swap(j - 1, j);
                    self.slot.swap(j - 1, j);
                    j -= 1;
                }
            }
            // A column twice (a name repeated in the header) is not walked to twice.
            if self.cols.get(start..k)?.windows(2).any(|w| w[0] == w[1]) {
                return None;
            }
            *self.cols_end.get_mut(p)? = u16::try_from(k).ok()?;
        }
        self.sent = sent;
        self.pairs = pairs;
        Some(())
    }

    /// The sent values of `input` by push position, when its header lines are those kept
    /// and it is laid out as when they were (each value line right after its header,
    /// with its `Proto:` and as many words, nothing after the last pair but blanks);
    /// `None` when anything differs. Pushes nothing.
    fn values<'a>(&self, input: &'a [u8], out: &mut [&'a [u8]; CACHE_COLUMNS]) -> Option<()> {
        let mut pos = 0;
        let mut header_start = 0;
        let mut col = 0;
        for p in 0..self.pairs {
            let header_end = usize::from(*self.header_end.get(p)?);
            let header = self.headers.get(header_start..header_end)?;
            header_start = header_end;
            // An exact byte compare: no hash whose collisions could mislead.
            if input.get(pos..pos + header.len())? != header {
                return None;
            }
            let (values, next) = line_at(input, pos + header.len())?;
            pos = next;
            let lead = header.get(..usize::from(*self.proto_len.get(p)?) + 1)?;
            if !values.starts_with(lead) {
                return None;
            }
            let cols_end = usize::from(*self.cols_end.get(p)?);
            // Walk the words, taking those at the sent columns, counting all.
            let mut word = 0u16;
            let mut i = lead.len();
            // `Proto:` must be a whole word, as `head` reads it.
            if values.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                return None;
            }
            word += 1;
            loop {
                while i < values.len() && values[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i == values.len() {
                    break;
                }
                let start = i;
                while i < values.len() && !values[i].is_ascii_whitespace() {
                    i += 1;
                }
                if col < cols_end && *self.cols.get(col)? == word {
                    *out.get_mut(usize::from(*self.slot.get(col)?))? = values.get(start..i)?;
                    col += 1;
                }
                word = word.checked_add(1)?;
            }
            if word != *self.words.get(p)? || col != cols_end {
                return None;
            }
        }
        if !input.get(pos..)?.trim_ascii().is_empty() {
            return None;
        }
        Some(())
    }
}

/// [`ProcNetNetstat`]'s or [`ProcNetSnmp`]'s push with a [`HeaderCache`] kept by the
/// caller across cycles: the same samples, errors and result as the full path. While
/// the header lines are those kept, only the sent columns of the value lines are
/// taken; otherwise (a new kernel field, `IcmpMsg` growing, anything odd) the full path
/// runs and the cache is rebuilt from this input.
pub fn push_header_value_cached(
    input: &[u8],
    cache: &mut HeaderCache,
    sink: &mut dyn SampleSink,
    bad_row: &mut dyn FnMut(ParseError),
) -> Result<(), ParseError> {
    if cache.pairs != 0 {
        let mut values: [&[u8]; CACHE_COLUMNS] = [&[]; CACHE_COLUMNS];
        if cache.values(input, &mut values).is_some() {
            sink.labels(&[]);
            for (&row, value) in cache.rows.iter().zip(values).take(cache.sent) {
                match parse_u64(value) {
                    Ok(v) => sink.push(row, Value::Unsigned(v)),
                    Err(e) => bad_row(e),
                }
            }
            return Ok(());
        }
    }
    let result = push_header_value(input, sink, bad_row);
    cache.rebuild(input);
    result
}

/// `/proc/net/netstat` (`TcpExt`, `IpExt`, `MPTcpExt`).
#[derive(Debug)]
pub struct ProcNetNetstat;

impl FileFormat for ProcNetNetstat {
    const PATH: &'static str = "proc/net/netstat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        push_header_value(input, sink, bad_row)
    }
}

/// `/proc/net/snmp` (`Ip`, `Icmp`, `IcmpMsg`, `Tcp`, `Udp`, `UdpLite`).
#[derive(Debug)]
pub struct ProcNetSnmp;

impl FileFormat for ProcNetSnmp {
    const PATH: &'static str = "proc/net/snmp";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        push_header_value(input, sink, bad_row)
    }
}

/// `/proc/net/snmp6` (absent when IPv6 is disabled).
#[derive(Debug)]
pub struct ProcNetSnmp6;

impl FileFormat for ProcNetSnmp6 {
    const PATH: &'static str = "proc/net/snmp6";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        sink.labels(&[]);
        let mut any = false;
        // A protocol's lines are together (`Ip6…`, then `Icmp6…`, …): its rows are looked
        // up once per run of lines, not once per line (a scan of every netstat row).
        for run in &RUNS {
            let mut last: (&[u8], core::ops::Range<u16>) = (&[], 0..0);
            for f in parse_snmp6(input) {
                any = true;
                if last.0 != f.proto {
                    last = (f.proto, run.proto_rows(f.proto));
                }
                if let Some(row) = run.field_row(last.1.clone(), f.proto.len(), f.field) {
                    match parse_u64(f.value) {
                        Ok(v) => sink.push(row, Value::Unsigned(v)),
                        Err(e) => bad_row(e),
                    }
                }
            }
        }
        if any { Ok(()) } else { Err(ParseError::Empty) }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    for lines in parse_header_value_lines(input).flatten() {
        lines.fields().for_each(drop);
    }
    parse_snmp6(input).for_each(drop);
    if let Some(w) = words(input).next() {
        let _ = netstat_id(w, w);
    }
    exercise_cached(input);
    super::exercise_format::<ProcNetNetstat>(input);
    super::exercise_format::<ProcNetSnmp>(input);
    super::exercise_format::<ProcNetSnmp6>(input);
}

/// [`push_header_value_cached`] over `input` with a cache built from `input` (the cached
/// path), then over altered copies of it with that cache (the checks that fall back).
fn exercise_cached(input: &[u8]) {
    struct Discard;
    impl SampleSink for Discard {
        fn labels(&mut self, _: &[&str]) {}
        fn push(&mut self, _: u16, _: Value) {}
    }
    let mut cache = HeaderCache::default();
    let push = |bytes: &[u8], cache: &mut HeaderCache| {
        let _ = push_header_value_cached(bytes, cache, &mut Discard, &mut |_| {});
    };
    push(input, &mut cache);
    push(input, &mut cache);
    let kept = cache.clone();
    for cut in [input.len() / 2, input.len().saturating_sub(1)] {
        push(input.get(..cut).unwrap_or_default(), &mut cache);
        cache.clone_from(&kept);
        push(input.get(cut..).unwrap_or_default(), &mut cache);
        cache.clone_from(&kept);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::super::recorded;
    use super::*;

    fn pushed<F: FileFormat>(input: &[u8]) -> Vec<(u16, u64)> {
        let (samples, bad, result) = recorded::push::<F>(input);
        assert_eq!((bad, result), (vec![], Ok(())));
        samples
            .into_iter()
            .map(|(labels, row, value)| {
                assert!(labels.is_empty());
                match value {
                    Value::Unsigned(v) => (row, v),
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn every_row_is_found_by_its_name() {
        for (run, row) in RUNS.iter().flat_map(|r| r.rows.clone().map(move |row| (r, row))) {
            let key = run.key_of(row);
            let split = key.iter().position(|&b| b == b'_').unwrap();
            assert_eq!(
                netstat_id(&key[..split], &key[split + 1..]),
                Some(row),
                "{}",
                core::str::from_utf8(key).unwrap()
            );
        }
        assert_eq!(netstat_id(b"Tcp", b"MaxConn"), None);
        assert_eq!(netstat_id(b"TcpExt", b"InErrs"), None);
        assert_eq!(netstat_id(b"Tc", b"p_InErrs"), None);
        assert_eq!(netstat_id(b"IcmpMsg", b"InType3"), None);
        assert_eq!(netstat_id(b"", b""), None);
    }

    #[test]
    fn pi4_netstat_and_snmp() {
        assert_eq!(
            pushed::<ProcNetNetstat>(fixture!("pi4/proc/net/netstat")),
            [
                (id::NETSTAT_TCPEXT_SYNCOOKIESSENT, 0),
                (id::NETSTAT_TCPEXT_SYNCOOKIESRECV, 0),
                (id::NETSTAT_TCPEXT_SYNCOOKIESFAILED, 0),
                (id::NETSTAT_TCPEXT_LISTENOVERFLOWS, 0),
                (id::NETSTAT_TCPEXT_LISTENDROPS, 0),
                (id::NETSTAT_TCPEXT_TCPTIMEOUTS, 1187),
                (id::NETSTAT_TCPEXT_TCPOFOQUEUE, 3411),
                (id::NETSTAT_TCPEXT_TCPSYNRETRANS, 212),
                (id::NETSTAT_TCPEXT_TCPRCVQDROP, 0),
                (id::NETSTAT_IPEXT_INOCTETS, 5316773981),
                (id::NETSTAT_IPEXT_OUTOCTETS, 1947823304),
                (id::NETSTAT_TCPEXT_TCPABORTONDATA, 0),
                (id::NETSTAT_TCPEXT_TCPABORTONCLOSE, 0),
                (id::NETSTAT_TCPEXT_TCPABORTONMEMORY, 0),
                (id::NETSTAT_TCPEXT_TCPABORTONTIMEOUT, 0),
                (id::NETSTAT_TCPEXT_TCPABORTONLINGER, 0),
                (id::NETSTAT_TCPEXT_TCPABORTFAILED, 0),
            ]
        );
        let snmp = pushed::<ProcNetSnmp>(fixture!("pi4/proc/net/snmp"));
        assert_eq!(snmp.len(), 30);
        assert_eq!(
            snmp[19..],
            [
                (id::NETSTAT_IP_INHDRERRORS, 61992),
                (id::NETSTAT_IP_INADDRERRORS, 0),
                (id::NETSTAT_IP_INUNKNOWNPROTOS, 91498),
                (id::NETSTAT_IP_INDISCARDS, 0),
                (id::NETSTAT_IP_OUTDISCARDS, 17),
                (id::NETSTAT_IP_OUTNOROUTES, 0),
                (id::NETSTAT_ICMP_INECHOS, 67801),
                (id::NETSTAT_ICMP_INECHOREPS, 87),
                (id::NETSTAT_ICMP_OUTECHOS, 5860),
                (id::NETSTAT_ICMP_OUTECHOREPS, 71402),
                (id::NETSTAT_TCP_ESTABRESETS, 0),
            ]
        );
        assert_eq!(snmp[0], (id::NETSTAT_IP_FORWARDING, 2));
        assert!(snmp.contains(&(id::NETSTAT_TCP_CURRESTAB, 7)));
        assert!(snmp.contains(&(id::NETSTAT_TCP_INERRS, 3)));
        assert!(snmp.contains(&(id::NETSTAT_UDP_RCVBUFERRORS, 0)));
        assert_eq!(snmp[18], (id::NETSTAT_UDPLITE_INERRORS, 0));
        assert!(snmp.windows(2).all(|w| w[0].0 < w[1].0));
        let snmp6 = pushed::<ProcNetSnmp6>(fixture!("pi4/proc/net/snmp6"));
        assert_eq!(snmp6.len(), 18);
        assert_eq!(snmp6[0], (id::NETSTAT_IP6_INOCTETS, 48735161));
        assert!(snmp6.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn pizero_old_kernel_has_fewer_fields() {
        // 4.14's TcpExt has no TCPRcvQDrop (5.0): that family is absent, as in
        // node_exporter on the same kernel.
        let netstat = pushed::<ProcNetNetstat>(fixture!("pizero/proc/net/netstat"));
        assert_eq!(netstat.len(), 16);
        assert!(netstat.iter().all(|(row, _)| *row != id::NETSTAT_TCPEXT_TCPRCVQDROP));
        assert!(netstat.contains(&(id::NETSTAT_TCPEXT_TCPSYNRETRANS, 31)));
        assert!(netstat.contains(&(id::NETSTAT_TCPEXT_TCPABORTONMEMORY, 83817)));
        let snmp = pushed::<ProcNetSnmp>(fixture!("pizero/proc/net/snmp"));
        assert_eq!(snmp.len(), 30);
        assert!(snmp.contains(&(id::NETSTAT_TCP_ESTABRESETS, 42)));
        // IPv6 disabled on the kernel command line: no snmp6 (the reader skips it).
    }

    #[test]
    fn x86_fields_are_found_by_name() {
        let netstat = pushed::<ProcNetNetstat>(fixture!("x86/proc/net/netstat"));
        assert_eq!(netstat.len(), 17);
        let snmp6 = pushed::<ProcNetSnmp6>(fixture!("x86/proc/net/snmp6"));
        assert_eq!(snmp6.len(), 18);
        assert!(snmp6.contains(&(id::NETSTAT_IP6_OUTNOROUTES, 0)));
    }

    #[test]
    fn each_file_pushes_ascending_ids_though_the_rows_are_two_runs() {
        let files = [
            recorded::push::<ProcNetNetstat>(fixture!("pi4/proc/net/netstat")).0,
            recorded::push::<ProcNetSnmp>(fixture!("pi4/proc/net/snmp")).0,
            recorded::push::<ProcNetSnmp6>(fixture!("pi4/proc/net/snmp6")).0,
            recorded::push::<ProcNetNetstat>(fixture!("pizero/proc/net/netstat")).0,
            recorded::push::<ProcNetSnmp>(fixture!("pizero/proc/net/snmp")).0,
            recorded::push::<ProcNetSnmp6>(fixture!("x86/proc/net/snmp6")).0,
        ];
        for pushed in files {
            assert!(pushed.iter().any(|s| s.1 >= *EXTRA_ROWS.start()));
            assert!(pushed.windows(2).all(|w| w[0].1 < w[1].1));
        }
    }

    #[test]
    fn names_match_values_by_header_not_position() {
        // Fields reordered and a field a future kernel may add: still found by name.
        let input = b"Tcp: New InSegs MaxConn\nTcp: 9 77 -1\nUdp: NoPorts\nUdp: 4\n";
        assert_eq!(
            pushed::<ProcNetSnmp>(input),
            [(id::NETSTAT_TCP_INSEGS, 77), (id::NETSTAT_UDP_NOPORTS, 4)]
        );
    }

    #[test]
    fn a_broken_pair_is_skipped_and_the_rest_read() {
        let input = b"Tcp: InSegs OutSegs\nTcp: 1\nUdp: NoPorts\nUdp: 4\nIp: Forwarding\nIcmp: 1\n";
        let (samples, bad, result) = recorded::push::<ProcNetSnmp>(input);
        assert_eq!(result, Ok(()));
        assert_eq!(
            bad,
            [
                ParseError::Malformed("as many values as names"),
                ParseError::Malformed("a value line for each header line"),
            ]
        );
        assert_eq!(samples.len(), 1);
        let mut it = parse_header_value_lines(b"garbage\nTcp: 1\n");
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("`Proto:` at the start of a line")))
        );
        let mut it = parse_header_value_lines(b"Tcp: InSegs\n");
        assert_eq!(it.next(), Some(Err(ParseError::MissingField("value line"))));
        assert_eq!(it.next(), None);
        assert_eq!(
            recorded::push::<ProcNetNetstat>(b"\n").2,
            Err(ParseError::Empty)
        );
        let (_, bad, _) = recorded::push::<ProcNetSnmp>(b"Tcp: InSegs\nTcp: x\n");
        assert_eq!(bad, [ParseError::InvalidNumber]);
    }

    /// [`push_header_value_cached`] with `cache`, recorded.
    fn pushed_cached(
        input: &[u8],
        cache: &mut HeaderCache,
    ) -> (Vec<recorded::Sample>, Vec<ParseError>, Result<(), ParseError>) {
        recorded::push_with(|sink, bad_row| push_header_value_cached(input, cache, sink, bad_row))
    }

    /// The full path's record of `input` (both files take the same push).
    fn pushed_full(input: &[u8]) -> (Vec<recorded::Sample>, Vec<ParseError>, Result<(), ParseError>) {
        recorded::push::<ProcNetSnmp>(input)
    }

    #[test]
    fn kept_headers_give_the_full_paths_samples_on_every_fixture() {
        for input in [
            fixture!("pi4/proc/net/netstat"),
            fixture!("pi4/proc/net/snmp"),
            fixture!("pizero/proc/net/netstat"),
            fixture!("pizero/proc/net/snmp"),
            fixture!("x86/proc/net/netstat"),
            fixture!("x86/proc/net/snmp"),
        ] {
            let full = pushed_full(input);
            assert!(full.0.len() >= 16);
            let mut cache = HeaderCache::default();
            for cycle in 0..3 {
                assert_eq!(pushed_cached(input, &mut cache), full, "cycle {cycle}");
                assert!(cache.is_kept(), "cycle {cycle}");
            }
        }
    }

    #[test]
    fn a_header_changing_mid_run_is_read_by_name_and_kept_anew() {
        let before: &[u8] = b"Tcp: RtoMin InSegs OutSegs\nTcp: 200 10 20\nIcmpMsg: InType3\nIcmpMsg: 5\nUdp: NoPorts\nUdp: 4\n";
        // IcmpMsg gains a type, and a kernel reorders Tcp and adds a field.
        let after: &[u8] = b"Tcp: OutSegs New InSegs RtoMin\nTcp: 21 7 11 200\nIcmpMsg: InType0 InType3\nIcmpMsg: 1 5\nUdp: NoPorts\nUdp: 5\n";
        let mut cache = HeaderCache::default();
        assert_eq!(pushed_cached(before, &mut cache), pushed_full(before));
        assert_eq!(pushed_cached(before, &mut cache).0.len(), 3);
        let changed = pushed_cached(after, &mut cache);
        assert_eq!(changed, pushed_full(after));
        let values: Vec<_> = changed.0.iter().map(|s| (s.1, s.2)).collect();
        assert_eq!(
            values,
            [
                (id::NETSTAT_TCP_OUTSEGS, Value::Unsigned(21)),
                (id::NETSTAT_TCP_INSEGS, Value::Unsigned(11)),
                (id::NETSTAT_UDP_NOPORTS, Value::Unsigned(5)),
            ]
        );
        assert!(cache.is_kept());
        // The new header is the one kept now: the next cycle reads by it.
        let next: &[u8] = b"Tcp: OutSegs New InSegs RtoMin\nTcp: 30 7 12 200\nIcmpMsg: InType0 InType3\nIcmpMsg: 1 5\nUdp: NoPorts\nUdp: 6\n";
        assert_eq!(pushed_cached(next, &mut cache), pushed_full(next));
        assert_eq!(pushed_cached(next, &mut cache).0[0].2, Value::Unsigned(30));
        // And back.
        assert_eq!(pushed_cached(before, &mut cache), pushed_full(before));
    }

    #[test]
    fn odd_input_under_kept_headers_is_reported_as_by_the_full_path() {
        let good: &[u8] = b"Tcp: InSegs OutSegs\nTcp: 1 2\nUdp: NoPorts\nUdp: 4\n";
        let odd: [&[u8]; 9] = [
            b"Tcp: InSegs OutSegs\nTcp: 1\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\nTcp: 1 2 3\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\nTcp: x 2\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\nUdp: 1 2\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\nTcp:1 2\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\n\nTcp: 1 2\nUdp: NoPorts\nUdp: 4\n",
            b"Tcp: InSegs OutSegs\nTcp: 1 2\nUdp: NoPorts\nUdp: 4\nIp: Forwarding\n",
            b"Tcp: InSegs OutSegs\nTcp: 1 2\nUdp: NoPorts\n",
            b"Tcp: InSegs OutSegs\nTcp: 1 2\n",
        ];
        for input in odd {
            let mut cache = HeaderCache::default();
            assert_eq!(pushed_cached(good, &mut cache), pushed_full(good));
            assert!(cache.is_kept());
            assert_eq!(
                pushed_cached(input, &mut cache),
                pushed_full(input),
                "{}",
                core::str::from_utf8(input).unwrap()
            );
            assert_eq!(pushed_cached(good, &mut cache), pushed_full(good));
        }
        // Not kept when the layout is not plain: the full path every cycle.
        let mut cache = HeaderCache::default();
        let blank: &[u8] = b"\nTcp: InSegs\nTcp: 1\n";
        assert_eq!(pushed_cached(blank, &mut cache), pushed_full(blank));
        assert!(!cache.is_kept());
        assert_eq!(pushed_cached(blank, &mut cache), pushed_full(blank));
    }

    #[test]
    fn snmp6_splits_at_the_first_six() {
        let f: Vec<_> = parse_snmp6(b"UdpLite6InErrors 3\nIcmp6InType133 2\nNoSix 1\nLonely\n")
            .collect();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].proto, f[0].field), (&b"UdpLite6"[..], &b"InErrors"[..]));
        assert_eq!(
            pushed::<ProcNetSnmp6>(b"UdpLite6InErrors 3\nIcmp6InType133 2\n"),
            [(id::NETSTAT_UDPLITE6_INERRORS, 3)]
        );
    }
}
