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

/// Whether `payload` is what `header` promises (length and CRC).
pub fn record_ok(header: &[u8; 8], payload: &[u8]) -> bool {
    let (len, crc) = parse_header(header);
    len == payload.len() as u64 && record_crc(&header[..4], payload) == crc
}

/// Number of lines (`\n` bytes) in a payload.
pub fn count_lines(payload: &[u8]) -> u64 {
    payload.iter().filter(|&&b| b == b'\n').count() as u64
}

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
