//! The spool's bytes on disk, read and written only here.
//!
//! A segment file `<20-digit id>.seg` starts with the 8-byte magic [`SEGMENT_MAGIC`],
//! then records:
//!
//! ```text
//! u32 LE payload length | u32 LE CRC-32 (IEEE) of (length bytes ++ payload) | payload
//! ```
//!
//! The `cursor` file holds `segment id (u64 LE) | offset (u64 LE) | CRC-32 of those 16
//! bytes`: every record before that offset of that segment (and every older segment)
//! was delivered. Nothing here panics on any input: lengths are checked before slicing.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::spool::Position;

/// Magic at the start of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PIMSPL01";
/// Bytes before each record's payload (length + CRC).
pub const RECORD_HEADER_BYTES: u64 = 8;
/// Largest payload a record may have.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;
/// The delivered cursor's file name in the spool directory.
pub const CURSOR_FILE: &str = "cursor";
/// Written first, then renamed over [`CURSOR_FILE`].
pub const CURSOR_TMP_FILE: &str = "cursor.tmp";

/// The file name of segment `id`.
pub fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// The segment id a file name stands for (`<20 digits>.seg`), if it is one.
pub fn segment_id(file_name: &str) -> Option<u64> {
    let stem = file_name.strip_suffix(".seg")?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}

/// The 8-byte header of a record with this payload.
pub fn record_header(payload: &[u8]) -> [u8; 8] {
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = record_crc(&header[..4], payload);
    header[4..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// The payload length and CRC a record header claims.
pub fn parse_header(header: &[u8; 8]) -> (u64, u32) {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

/// CRC-32 of a record: over its length bytes, then its payload.
pub fn record_crc(len_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// Whether `payload` is what `header` promises (length and CRC) and is what the spool
/// writes: one or more whole lines. Anything else is damage.
pub fn record_valid(header: &[u8; 8], payload: &[u8]) -> bool {
    let (len, crc) = parse_header(header);
    len == payload.len() as u64
        && payload.last() == Some(&b'\n')
        && record_crc(&header[..4], payload) == crc
}

/// The end of the valid record that starts at `at` in `buf`, if one does.
pub fn record_at(buf: &[u8], at: usize) -> Option<usize> {
    let header: &[u8; 8] = buf.get(at..at.checked_add(8)?)?.try_into().ok()?;
    let (len, _) = parse_header(header);
    if len == 0 || len > MAX_RECORD_BYTES {
        return None;
    }
    let end = at.checked_add(8)?.checked_add(len as usize)?;
    // The cheap test first: a payload ends with a newline.
    let payload = buf.get(at + 8..end)?;
    if payload.last() != Some(&b'\n') {
        return None;
    }
    record_valid(header, payload).then_some(end)
}

/// A valid record of a segment: byte offsets in the file, and its line count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSpan {
    /// Offset of its header.
    pub start: u64,
    /// Offset just past its payload.
    pub end: u64,
    /// Lines in its payload.
    pub lines: u64,
}

/// Valid records and the damaged spans between and after them.
#[derive(Debug, Default)]
pub struct Scan {
    /// Valid records, in file order.
    pub records: Vec<RecordSpan>,
    /// Byte ranges `(start, end)` that are no valid record.
    pub damaged: Vec<(u64, u64)>,
}

/// Reads records from the start of `buf`, which holds a segment's bytes from file offset
/// `base` (after the magic). A record that is not valid does not end the scan: the scan
/// resynchronises at the next offset where a valid record starts, so one damaged record
/// costs only its own lines, not the rest of its segment. A false resync needs a CRC-32
/// match on bytes that also end with a newline: about one in 2^32 candidate offsets.
pub fn scan_records(buf: &[u8], base: u64) -> Scan {
    let mut scan = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        if let Some(end) = record_at(buf, at) {
            scan.records.push(RecordSpan {
                start: base + at as u64,
                end: base + end as u64,
                lines: count_lines(&buf[at + 8..end]),
            });
            at = end;
            continue;
        }
        let next = (at + 1..buf.len())
            .find(|&p| record_at(buf, p).is_some())
            .unwrap_or(buf.len());
        scan.damaged.push((base + at as u64, base + next as u64));
        at = next;
    }
    scan
}

/// How many lines a damaged span held, as far as can be told: when the length fields
/// still chain through the span exactly, the newlines of those payloads (exact when only
/// payload bytes or CRCs were hit); otherwise every newline byte in the span.
pub fn estimate_lines(span: &[u8]) -> u64 {
    let mut at = 0usize;
    let mut lines = 0;
    while let Some(header) = span.get(at..at + 8) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let Some(payload) = span.get(at + 8..(at + 8).saturating_add(len)) else {
            break;
        };
        lines += count_lines(payload);
        at += 8 + len;
    }
    if at == span.len() {
        lines
    } else {
        count_lines(span)
    }
}

/// Number of lines (`\n` bytes) in a payload.
pub fn count_lines(payload: &[u8]) -> u64 {
    // Counted in byte lanes over runs of 255 bytes (a lane cannot overflow), which
    // the compiler turns into wide compares: the plain count widened every byte to a
    // usize, and counting the lines of an `--lp-out` part was 4 % of ingest's CPU.
    payload
        .chunks(255)
        .map(|run| {
            let newlines = run.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'));
            u64::from(newlines)
        })
        .sum()
}

/// The saved cursor, or `None` when the file is missing or damaged (then nothing counts as
/// delivered: at-least-once).
pub fn read_cursor_file(path: &Path) -> Option<Position> {
    let bytes = fs::read(path).ok()?;
    if bytes.len() != 20 {
        return None;
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().ok()?);
    if crc32fast::hash(&bytes[..16]) != crc {
        return None;
    }
    Some(Position {
        segment: u64::from_le_bytes(bytes[..8].try_into().ok()?),
        offset: u64::from_le_bytes(bytes[8..16].try_into().ok()?),
    })
}

/// Saves the cursor: written to a temp file, then renamed over the old one.
pub fn write_cursor_file(dir: &Path, cursor: Position) -> io::Result<()> {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(&cursor.segment.to_le_bytes());
    bytes[8..16].copy_from_slice(&cursor.offset.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(CURSOR_TMP_FILE);
    fs::write(&tmp, bytes)?;
    fs::rename(tmp, dir.join(CURSOR_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_across_the_runs_of_255_bytes() {
        for len in [0, 1, 254, 255, 256, 510, 511, 1000, 70_000] {
            for every in [1, 2, 7, 300] {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| if i % every == 0 { b'\n' } else { b'x' })
                    .collect();
                let naive = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
                assert_eq!(count_lines(&bytes), naive, "len {len}, every {every}");
            }
        }
    }
}
