//! A reader of the aggregator's spool files, to damage one record on purpose: segment
//! files `<id>.seg` start with the magic `PIMSPL01`, then records of
//! `u32 LE length | u32 LE CRC-32 | payload` (the format documented in the
//! aggregator's spool module). A file that does not follow it fails the test with what
//! was found, so a format change shows here at once.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The magic at the start of a segment.
pub const SEGMENT_MAGIC: &[u8; 8] = b"PIMSPL01";

/// One record of a segment.
#[derive(Clone, Debug)]
pub struct Record {
    /// Its segment file.
    pub segment: PathBuf,
    /// Offset of its header in the file.
    pub offset: u64,
    /// Its payload: line protocol.
    pub payload: Vec<u8>,
}

/// The segment files of a spool directory, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read spool dir {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// Every record of a segment, in order; panics if the file is not a segment.
pub fn records(segment: &Path) -> Vec<Record> {
    let bytes = fs::read(segment).unwrap_or_else(|e| panic!("read {}: {e}", segment.display()));
    assert!(
        bytes.starts_with(SEGMENT_MAGIC),
        "{} does not start with the spool magic {:?}: the spool format changed?",
        segment.display(),
        String::from_utf8_lossy(SEGMENT_MAGIC)
    );
    let mut out = Vec::new();
    let mut at = SEGMENT_MAGIC.len();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + 8 + len;
        if end > bytes.len() {
            break; // torn tail
        }
        out.push(Record {
            segment: segment.to_path_buf(),
            offset: at as u64,
            payload: bytes[at + 8..end].to_vec(),
        });
        at = end;
    }
    out
}

/// Flips one byte in the middle of `record`'s payload (its CRC no longer matches).
pub fn corrupt(record: &Record) {
    let at = record.offset + 8 + record.payload.len() as u64 / 2;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&record.segment)
        .expect("open the segment");
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut b).expect("read");
    b[0] ^= 0x5a;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&b).expect("write");
    f.sync_all().expect("sync");
}
