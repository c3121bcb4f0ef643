//! Recovery: what [`Spool::open`] makes of whatever a crash, a bad disk or a stray file
//! left in the spool directory. Every record's length and CRC is checked; a torn or
//! corrupt record is cut off and counted; delivery resumes at the saved cursor. Never
//! panics on any file content (fuzz target `spool_recover`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::spool::format::{
    self, CURSOR_FILE, MAX_RECORD_BYTES, RECORD_HEADER_BYTES, SEGMENT_MAGIC, count_lines,
    parse_header, read_cursor_file, record_ok,
};
use crate::spool::queue::SegmentMeta;
use crate::spool::{Position, Spool, SpoolError};

impl Spool {
    pub(super) fn recover(&self) -> Result<(), SpoolError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.config.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = format::segment_id(name) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let saved_cursor = read_cursor_file(&self.config.dir.join(CURSOR_FILE));
        let mut st = self.lock();
        for id in ids {
            let path = self.segment_path(id);
            let scan = scan_segment(
                &path,
                saved_cursor.filter(|c| c.segment == id).map(|c| c.offset),
            )?;
            if scan.torn_bytes > 0 {
                self.stats.torn_truncations.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .torn_bytes
                    .fetch_add(scan.torn_bytes, Ordering::Relaxed);
                eprintln!(
                    "pimon-aggregator: spool: {}: torn or corrupt record at offset {}, truncated {} bytes",
                    path.display(),
                    scan.valid_len,
                    scan.torn_bytes
                );
                let f = OpenOptions::new().write(true).open(&path)?;
                f.set_len(scan.valid_len)?;
                f.sync_all()?;
            }
            if scan.records == 0 {
                fs::remove_file(&path)?;
                continue;
            }
            st.next_id = st.next_id.max(id.saturating_add(1));
            st.segments.push_back(SegmentMeta {
                id,
                len: scan.valid_len,
                records: scan.records,
                lines: scan.lines,
                records_done: scan.records_before_cursor,
                lines_done: scan.lines_before_cursor,
            });
        }
        // Segments wholly before the saved cursor were delivered; drop them.
        if let Some(c) = saved_cursor {
            // New segments must sort after the cursor even when every segment file is
            // gone, or the next open would take their records for delivered.
            st.next_id = st.next_id.max(c.segment.saturating_add(1));
            while let Some(first) = st.segments.front() {
                if first.id < c.segment
                    || (first.id == c.segment && first.records_done == first.records)
                {
                    let id = first.id;
                    st.segments.pop_front();
                    fs::remove_file(self.segment_path(id))?;
                } else {
                    break;
                }
            }
        }
        st.cursor = match st.segments.front() {
            Some(first) if first.records_done > 0 => Position {
                segment: first.id,
                offset: saved_cursor
                    .map(|c| c.offset)
                    .unwrap_or(SEGMENT_MAGIC.len() as u64),
            },
            Some(first) => Position {
                segment: first.id,
                offset: SEGMENT_MAGIC.len() as u64,
            },
            None => Position {
                segment: st.next_id,
                offset: SEGMENT_MAGIC.len() as u64,
            },
        };
        // Everything that survived recovery is on disk as far as we can tell.
        st.synced = Position {
            segment: st.next_id,
            offset: 0,
        };
        self.publish_gauges(&st);
        Ok(())
    }
}

pub(super) struct SegmentScan {
    valid_len: u64,
    torn_bytes: u64,
    records: u64,
    lines: u64,
    records_before_cursor: u64,
    lines_before_cursor: u64,
}

/// Validates a segment file record by record. Never panics on any content.
pub(super) fn scan_segment(path: &Path, cursor_offset: Option<u64>) -> io::Result<SegmentScan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut scan = SegmentScan {
        valid_len: 0,
        torn_bytes: 0,
        records: 0,
        lines: 0,
        records_before_cursor: 0,
        lines_before_cursor: 0,
    };
    let mut magic = [0u8; 8];
    if reader.read_exact(&mut magic).is_err() || &magic != SEGMENT_MAGIC {
        scan.torn_bytes = file_len;
        return Ok(scan);
    }
    let mut offset = SEGMENT_MAGIC.len() as u64;
    let mut payload = Vec::new();
    let mut header = [0u8; 8];
    loop {
        if cursor_offset == Some(offset) {
            scan.records_before_cursor = scan.records;
            scan.lines_before_cursor = scan.lines;
        }
        if offset == file_len {
            break;
        }
        if reader.read_exact(&mut header).is_err() {
            break;
        }
        let (len, _) = parse_header(&header);
        if len > MAX_RECORD_BYTES || offset + RECORD_HEADER_BYTES + len > file_len {
            break;
        }
        payload.resize(len as usize, 0);
        if reader.read_exact(&mut payload).is_err() {
            break;
        }
        if !record_ok(&header, &payload) {
            break;
        }
        offset += RECORD_HEADER_BYTES + len;
        scan.records += 1;
        scan.lines += count_lines(&payload);
    }
    scan.valid_len = offset;
    scan.torn_bytes = file_len - offset;
    if cursor_offset.is_some_and(|c| c > offset) {
        // The cursor points past the valid data (torn after delivery): all delivered.
        scan.records_before_cursor = scan.records;
        scan.lines_before_cursor = scan.lines;
    }
    Ok(scan)
}
