//! Spool recovery (`pimon_aggregator::spool::Spool::open`) on whatever a crash, a bad
//! disk or a stray file leaves: the fuzz bytes become one or two segment files (and
//! maybe a cursor file) in a fresh spool directory, which is then opened and drained.
//!
//! Input: `flags | skip | split | cursor_record | ids | cursor_offset: u16 LE | body…`
//! - `flags` bit 0: start each segment with the magic; bit 1: fix every record's CRC
//!   (except record number `skip`), so the fuzzer reaches valid records without
//!   learning CRC-32; bit 2: split the body at `split` into two segments; bit 3: write a
//!   cursor file, bits 4-5 its segment (none, the first, the second, or another id);
//!   bit 6: the cursor is at the end of record `cursor_record` of its segment (else at
//!   `cursor_offset`); bit 7: read in small batches.
//! - `ids`: bits 0-1 the second segment's id (2, 3, 2^40 or u64::MAX; the first is 1),
//!   bits 2-3 the "other" cursor id (u64::MAX, one past the second, 7 or 2^41).
//!
//! Properties beyond "no panic":
//! - what is delivered is exactly the payloads of the CRC-valid records before the first
//!   bad one in each segment, in segment order, minus what the cursor says was
//!   delivered (an independent reading of the format, here);
//! - torn segments are truncated to their valid length, empty ones removed;
//! - batches respect their limits, their line counts are right, and the pending-lines
//!   gauge matches;
//! - a record written after recovery is delivered, also after a restart (unless no
//!   segment id is left above the ones on disk, when the write must fail), and once
//!   delivered a reopened spool delivers nothing.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::spool::{
    FsyncPolicy, MAX_RECORD_BYTES, SEGMENT_MAGIC, Spool, SpoolConfig, SpoolFullPolicy, SpoolStats,
};

const MAGIC_LEN: u64 = SEGMENT_MAGIC.len() as u64;

/// A record as an independent reader sees it: where it ends and its payload.
struct Record {
    end: u64,
    payload: Vec<u8>,
}

/// The CRC-valid records at the start of a segment file, in order.
fn valid_records(file: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    if file.get(..SEGMENT_MAGIC.len()) != Some(&SEGMENT_MAGIC[..]) {
        return out;
    }
    let mut at = SEGMENT_MAGIC.len();
    while let Some(header) = file.get(at..at + 8) {
        let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
        if len as u64 > MAX_RECORD_BYTES {
            break;
        }
        let Some(payload) = file.get(at + 8..at + 8 + len) else {
            break;
        };
        let mut h = crc32fast_like::Hasher::new();
        h.update(&header[..4]);
        h.update(payload);
        if h.finalize() != crc {
            break;
        }
        at += 8 + len;
        out.push(Record {
            end: at as u64,
            payload: payload.to_vec(),
        });
    }
    out
}

/// Rewrites the CRC of every whole record in `file` (which starts with the magic),
/// except record number `skip`.
fn fix_crcs(file: &mut [u8], skip: u8) {
    let mut at = SEGMENT_MAGIC.len();
    let mut n = 0u8;
    while at + 8 <= file.len() {
        let len = u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        if at + 8 + len > file.len() {
            break;
        }
        if n != skip {
            let mut h = crc32fast_like::Hasher::new();
            h.update(&file[at..at + 4]);
            h.update(&file[at + 8..at + 8 + len]);
            let crc = h.finalize();
            file[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        }
        n = n.wrapping_add(1);
        at += 8 + len;
    }
}

fn segment_name(id: u64) -> String {
    format!("{id:020}.seg")
}

fn cursor_bytes(segment: u64, offset: u64) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..8].copy_from_slice(&segment.to_le_bytes());
    b[8..16].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32fast_like::hash(&b[..16]);
    b[16..].copy_from_slice(&crc.to_le_bytes());
    b
}

const DIR_PREFIX: &str = "pimon-fuzz-spool-";

/// A fresh, empty directory for this process (on tmpfs when there is one: recovery
/// fsyncs).
fn fresh_dir() -> PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    // libFuzzer exits without unwinding: remove what earlier runs left behind.
    SWEPT.call_once(|| remove_dirs_of_dead_processes(&base));
    let dir = base.join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the spool dir");
    dir
}

fn remove_dirs_of_dead_processes(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn config(dir: &Path) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 1 << 20,
        segment_bytes: Some(1 << 16),
        fsync: FsyncPolicy::Never,
        when_full: SpoolFullPolicy::DropOldest,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<7>() else {
        return;
    };
    let [flags, skip, split, cursor_record, ids, lo, hi] = *head;
    let second_id = [2, 3, 1 << 40, u64::MAX][usize::from(ids & 3)];
    let parts: Vec<(u64, &[u8])> = if flags & 4 != 0 {
        let at = usize::from(split).min(body.len());
        vec![(1, &body[..at]), (second_id, &body[at..])]
    } else {
        vec![(1, body)]
    };
    let files: Vec<(u64, Vec<u8>)> = parts
        .iter()
        .map(|&(id, part)| {
            let mut file = Vec::new();
            if flags & 1 != 0 {
                file.extend_from_slice(SEGMENT_MAGIC);
            }
            file.extend_from_slice(part);
            if flags & 2 != 0 && file.starts_with(SEGMENT_MAGIC) {
                fix_crcs(&mut file, skip);
            }
            (id, file)
        })
        .collect();
    let records: Vec<(u64, Vec<Record>)> = files
        .iter()
        .map(|(id, f)| (*id, valid_records(f)))
        .collect();

    let dir = fresh_dir();
    for (id, file) in &files {
        fs::write(dir.join(segment_name(*id)), file).unwrap();
    }
    let cursor = (flags & 8 != 0).then(|| {
        let other = [u64::MAX, second_id.saturating_add(1), 7, 1 << 41][usize::from(ids >> 2 & 3)];
        let segment = [0, 1, second_id, other][usize::from(flags >> 4 & 3)];
        let offset = if flags & 64 != 0 {
            // The end of a record (or the start of the segment), where a real cursor is.
            let recs = records
                .iter()
                .find(|(id, _)| *id == segment)
                .map_or(&[][..], |(_, r)| r.as_slice());
            match usize::from(cursor_record) % (recs.len() + 1) {
                0 => MAGIC_LEN,
                k => recs[k - 1].end,
            }
        } else {
            u64::from(u16::from_le_bytes([lo, hi]))
        };
        fs::write(dir.join("cursor"), cursor_bytes(segment, offset)).unwrap();
        (segment, offset)
    });

    // What must be delivered: per segment, the valid records after the cursor.
    let mut expected = Vec::new();
    for (id, recs) in &records {
        let first = match cursor {
            Some((seg, _)) if seg > *id => recs.len(),
            Some((seg, off)) if seg == *id => {
                let valid_len = recs.last().map_or(MAGIC_LEN, |r| r.end);
                if off > valid_len {
                    recs.len()
                } else if off == MAGIC_LEN {
                    0
                } else {
                    // Not at a record boundary: nothing counts as delivered.
                    recs.iter().position(|r| r.end == off).map_or(0, |k| k + 1)
                }
            }
            _ => 0,
        };
        for r in &recs[first..] {
            expected.extend_from_slice(&r.payload);
        }
    }
    // The id the next new segment gets: above every segment with data and the cursor.
    let next_id = records
        .iter()
        .filter(|(_, recs)| !recs.is_empty())
        .map(|(id, _)| id.saturating_add(1))
        .chain(cursor.map(|(seg, _)| seg.saturating_add(1)))
        .fold(1, u64::max);
    let expected_lines = expected.iter().filter(|&&b| b == b'\n').count() as u64;

    let stats = Arc::new(SpoolStats::default());
    let spool =
        Spool::open(config(&dir), Arc::clone(&stats)).expect("recovery never fails on content");
    assert_eq!(stats.pending_lines.load(Ordering::Relaxed), expected_lines);
    for (id, recs) in &records {
        // Gone when empty or wholly delivered; else cut to its valid length.
        if let Ok(meta) = fs::metadata(dir.join(segment_name(*id))) {
            assert!(
                !recs.is_empty(),
                "a segment without valid records is removed"
            );
            assert_eq!(
                meta.len(),
                recs.last().unwrap().end,
                "truncated to its valid length"
            );
        }
    }

    let (max_bytes, max_lines) = if flags & 128 != 0 {
        (16, 2)
    } else {
        (1 << 20, 1 << 20)
    };
    let mut delivered = Vec::new();
    while let Some(batch) = spool.read_batch(max_bytes, max_lines).unwrap() {
        assert!(batch.records >= 1);
        let lines = batch.body.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(batch.lines, lines);
        if batch.records > 1 {
            assert!(batch.body.len() <= max_bytes && batch.lines <= max_lines);
        }
        delivered.extend_from_slice(&batch.body);
        spool.commit(&batch).unwrap();
    }
    assert_eq!(
        delivered, expected,
        "delivered records differ from the valid ones"
    );
    assert_eq!(stats.pending_lines.load(Ordering::Relaxed), 0);

    // The recovered spool takes new records, and one not delivered yet survives a
    // restart.
    let record = b"fuzz v=1i 1\n";
    let written = spool.write(record);
    if next_id == u64::MAX {
        // No id sorts after the last one: refused, never written where it would be lost.
        assert!(written.is_err(), "segment {:?} after id u64::MAX", written);
        return;
    }
    assert_eq!(written.unwrap().segment, next_id);
    drop(spool);
    let spool = Spool::open(config(&dir), Arc::default()).unwrap();
    let batch = spool.read_batch(1 << 20, 1 << 20).unwrap();
    assert_eq!(
        batch.as_ref().map(|b| &b.body[..]),
        Some(&record[..]),
        "a record written after recovery is lost at the next restart (cursor {cursor:?})"
    );
    spool.commit(&batch.unwrap()).unwrap();
    drop(spool);

    // Delivered is delivered, also after a restart.
    let spool = Spool::open(config(&dir), Arc::default()).unwrap();
    assert_eq!(spool.read_batch(1 << 20, 1 << 20).unwrap(), None);
});

/// CRC-32 (IEEE), written out here so the oracle does not share code with the spool.
mod crc32fast_like {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    static TABLE: [u32; 256] = table();

    pub struct Hasher(u32);

    impl Hasher {
        pub fn new() -> Hasher {
            Hasher(!0)
        }
        pub fn update(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = TABLE[((self.0 ^ u32::from(b)) & 0xFF) as usize] ^ (self.0 >> 8);
            }
        }
        pub fn finalize(self) -> u32 {
            !self.0
        }
    }

    pub fn hash(bytes: &[u8]) -> u32 {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finalize()
    }
}
