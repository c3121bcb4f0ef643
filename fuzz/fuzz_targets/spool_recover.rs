//! Spool recovery (`pimon_aggregator::spool::Spool::open`, `spool/recovery.rs`) on
//! whatever a crash, a bad disk or a stray file leaves: the fuzz bytes become one or two
//! segment files (and maybe a cursor file) in a fresh spool directory, which is then
//! opened and drained — and, optionally, damaged again after opening, so that the
//! read-time repair runs too.
//!
//! Input: `flags | skip | split | cursor_record | ids | cursor_offset: u16 LE | body…`
//! - `flags` bit 0: start each segment with the magic; bit 1: fix every record's CRC
//!   (except record number `skip`), so the fuzzer reaches valid records without
//!   learning CRC-32; bit 2: split the body at `split` into two segments; bit 3: write a
//!   cursor file, bits 4-5 its segment (none, the first, the second, or another id);
//!   bit 6: the cursor is at the end of record `cursor_record` of its segment (else at
//!   `cursor_offset`); bit 7: read in small batches.
//! - `ids`: bits 0-1 the second segment's id (2, 3, 2^40 or u64::MAX; the first is 1),
//!   bits 2-3 the "other" cursor id (u64::MAX, one past the second, 7 or 2^41); bit 4:
//!   after opening, flip a byte of the first segment's undelivered part, at
//!   `(bits 5-7 × 7 + cursor_record)` past its start, before draining.
//!
//! Properties beyond "no panic":
//! - what is delivered is exactly the payloads of the valid records of each segment —
//!   found by resynchronising past damaged bytes — in segment order, minus what the
//!   cursor says was delivered (an independent reading of the format, here);
//! - a segment with damage between undelivered records is rewritten with exactly its
//!   undelivered records; otherwise a torn tail is truncated; empty ones are removed;
//! - damage found while reading costs exactly the damaged records, and the lines lost
//!   are counted exactly;
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

/// A record as an independent reader sees it: where it starts and ends, its payload.
#[derive(Clone)]
struct Record {
    start: u64,
    end: u64,
    payload: Vec<u8>,
}

/// The payload of a valid record at `at`: length ≤ the maximum, within the file, a
/// payload of whole lines, and the CRC of length and payload.
fn valid_at(file: &[u8], at: usize) -> Option<&[u8]> {
    let header = file.get(at..at.checked_add(8)?)?;
    let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
    if len == 0 || len as u64 > MAX_RECORD_BYTES {
        return None;
    }
    let payload = file.get(at + 8..at + 8 + len)?;
    if payload.last() != Some(&b'\n') {
        return None;
    }
    let mut h = crc32fast_like::Hasher::new();
    h.update(&header[..4]);
    h.update(payload);
    (h.finalize() == crc).then_some(payload)
}

/// The valid records of a segment file, in order: after the magic, a record follows the
/// last one, or — past damaged bytes — starts at the next offset where one is valid.
/// Also whether damaged bytes lie between valid records (not only after the last).
fn valid_records(file: &[u8]) -> (Vec<Record>, Damaged) {
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    if file.get(..SEGMENT_MAGIC.len()) != Some(&SEGMENT_MAGIC[..]) {
        return (out, damaged);
    }
    let mut at = SEGMENT_MAGIC.len();
    while at < file.len() {
        if let Some(payload) = valid_at(file, at) {
            let end = at + 8 + payload.len();
            out.push(Record {
                start: at as u64,
                end: end as u64,
                payload: payload.to_vec(),
            });
            at = end;
        } else {
            let next = (at + 1..file.len())
                .find(|&p| valid_at(file, p).is_some())
                .unwrap_or(file.len());
            damaged.push((at as u64, next as u64));
            at = next;
        }
    }
    (out, damaged)
}

/// Damaged byte ranges of a segment file.
type Damaged = Vec<(u64, u64)>;

/// Leading records the cursor offset covers: all when past the valid data, up to the
/// record ending (or starting) there, none when it is no record boundary.
fn delivered_count(recs: &[Record], off: u64) -> usize {
    let valid_len = recs.last().map_or(MAGIC_LEN, |r| r.end);
    if off > valid_len {
        recs.len()
    } else if let Some(k) = recs.iter().position(|r| r.end == off) {
        k + 1
    } else {
        recs.iter().position(|r| r.start == off).unwrap_or(0)
    }
}

fn lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
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
            if len > 0 {
                // Whole lines, as the spool writes them.
                file[at + 8 + len - 1] = b'\n';
            }
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
    let records: Vec<(u64, Vec<Record>, Damaged)> = files
        .iter()
        .map(|(id, f)| {
            let (recs, damaged) = valid_records(f);
            (*id, recs, damaged)
        })
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
                .find(|(id, _, _)| *id == segment)
                .map_or(&[][..], |(_, r, _)| r.as_slice());
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

    // What must be delivered: per segment, the valid records after the cursor; and what
    // each file must hold after recovery.
    let mut expected = Vec::new();
    let mut after_open: Vec<(u64, Option<Vec<u8>>, u64)> = Vec::new();
    for ((id, recs, damaged), (_, file)) in records.iter().zip(&files) {
        let first = match cursor {
            Some((seg, _)) if seg > *id => recs.len(),
            Some((seg, off)) if seg == *id => delivered_count(recs, off),
            _ => 0,
        };
        for r in &recs[first..] {
            expected.extend_from_slice(&r.payload);
        }
        // Damage among undelivered records (not only after the last one): rewritten
        // with exactly the undelivered records; else cut after the last valid record.
        let boundary = first.checked_sub(1).map_or(MAGIC_LEN, |k| recs[k].end);
        let valid_len = recs.last().map_or(MAGIC_LEN, |r| r.end);
        let repaired = damaged.iter().any(|&(s, _)| s >= boundary && s < valid_len);
        let content = if recs.is_empty() || first == recs.len() {
            None
        } else if repaired {
            let mut c = SEGMENT_MAGIC.to_vec();
            for r in &recs[first..] {
                c.extend_from_slice(&file[r.start as usize..r.end as usize]);
            }
            Some(c)
        } else {
            Some(file[..valid_len as usize].to_vec())
        };
        let undelivered_from = if repaired { MAGIC_LEN } else { boundary };
        after_open.push((*id, content, undelivered_from));
    }
    // The id the next new segment gets: above every segment with data and the cursor.
    let next_id = records
        .iter()
        .filter(|(_, recs, _)| !recs.is_empty())
        .map(|(id, _, _)| id.saturating_add(1))
        .chain(cursor.map(|(seg, _)| seg.saturating_add(1)))
        .fold(1, u64::max);
    let expected_lines = lines(&expected);

    let stats = Arc::new(SpoolStats::default());
    let spool =
        Spool::open(config(&dir), Arc::clone(&stats)).expect("recovery never fails on content");
    assert_eq!(stats.pending_lines.load(Ordering::Relaxed), expected_lines);
    for (id, content, _) in &after_open {
        let on_disk = fs::read(dir.join(segment_name(*id))).ok();
        assert_eq!(&on_disk, content, "segment {id} after recovery");
    }

    // Damage after opening: flip a byte of the first segment's undelivered part. What
    // is delivered from it is then what an independent reading of the damaged file finds
    // there, and the lines lost are counted exactly.
    let mut lost_while_reading = 0;
    let first_undelivered = |file: &[u8], from: u64| {
        valid_records(file)
            .0
            .iter()
            .find(|r| r.start >= from)
            .map(|r| r.start)
    };
    if ids & 16 != 0
        && let Some((id, Some(before), from)) = after_open.first()
        && let Some(start) = first_undelivered(before, *from)
    {
        // Within the undelivered records (all valid after recovery).
        let span = before.len() - start as usize;
        let at = start as usize + (usize::from(ids >> 5) * 7 + usize::from(cursor_record)) % span;
        let mut after = before.clone();
        after[at] ^= 0xFF;
        fs::write(dir.join(segment_name(*id)), &after).unwrap();
        let undelivered = |file: &[u8]| -> Vec<u8> {
            valid_records(file)
                .0
                .iter()
                .filter(|r| r.start >= *from)
                .flat_map(|r| r.payload.clone())
                .collect()
        };
        let (was, now) = (undelivered(before), undelivered(&after));
        lost_while_reading = lines(&was) - lines(&now);
        assert!(expected.starts_with(&was));
        let rest = expected.split_off(was.len());
        expected = [now, rest].concat();
    }
    let lost_at_open = stats.lines_lost_corrupt.load(Ordering::Relaxed);

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
    assert_eq!(
        stats.lines_lost_corrupt.load(Ordering::Relaxed) - lost_at_open,
        lost_while_reading,
        "lines lost to damage found while reading"
    );

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
