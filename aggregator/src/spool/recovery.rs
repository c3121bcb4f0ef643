//! Recovery: what the spool makes of whatever a crash, a bad disk or a stray file left
//! in its directory — at [`Spool::open`], and when [`Spool::read_batch`] meets a record
//! that went bad after opening.
//!
//! Every record's length, CRC and shape (whole lines) is checked ([`format::scan_records`]):
//!
//! - **A torn tail** (bytes after the last valid record, at open) is a write cut short by
//!   a crash: the file is truncated there and the event counted
//!   ([`SpoolStats::torn_truncations`](crate::spool::SpoolStats::torn_truncations),
//!   `torn_bytes`). With `fsync = always` such a record was never acknowledged.
//! - **A damaged span with valid records after it** (a bad sector, a flipped bit) costs
//!   only its own bytes: the scan resynchronises at the next valid record, and the
//!   segment is rewritten with the undelivered valid records only (temp file + rename,
//!   so a crash in between leaves the old file or the new one). The span is counted
//!   (`corrupt_skips`, `corrupt_bytes`) with the acknowledged lines it held
//!   (`lines_lost_corrupt`: exact when found while reading, since the spool knows what
//!   it wrote; estimated from the span at open).
//! - Damage in what the cursor says was delivered is left alone: nothing reads it again.
//!
//! Delivery resumes at the saved cursor. Opening never panics on any file content (fuzz
//! target `spool_recover`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::log::{error, warning};
use crate::spool::format::{
    self, CURSOR_FILE, RecordSpan, SEGMENT_MAGIC, Scan, estimate_lines, read_cursor_file,
    scan_records, write_cursor_file,
};
use crate::spool::queue::SegmentMeta;
use crate::spool::{FsyncPolicy, Position, Spool, SpoolError};

const MAGIC_LEN: u64 = SEGMENT_MAGIC.len() as u64;
/// Suffix of a segment being rewritten; a leftover one is an interrupted repair.
const REPAIR_SUFFIX: &str = ".seg.repair";

/// One segment file, judged against the delivered cursor.
#[derive(Debug)]
pub(super) struct SegmentCheck {
    /// Valid records, in file order.
    records: Vec<RecordSpan>,
    /// Damaged byte ranges.
    damaged: Vec<(u64, u64)>,
    /// How many leading records were delivered.
    delivered: usize,
    /// Where undelivered data starts.
    boundary: u64,
}

impl SegmentCheck {
    /// Checks a whole segment file at open; `None` when it does not start with the magic
    /// (then nothing in it can be trusted). `cursor` is the saved offset when the
    /// delivered cursor is in this segment; see [`delivered_at_open`].
    fn at_open(bytes: &[u8], cursor: Option<u64>) -> Option<SegmentCheck> {
        let Scan { records, damaged } = scan(bytes)?;
        let delivered = delivered_at_open(&records, cursor);
        let boundary = delivered
            .checked_sub(1)
            .map_or(MAGIC_LEN, |k| records[k].end);
        Some(SegmentCheck {
            records,
            damaged,
            delivered,
            boundary,
        })
    }

    /// Checks a segment that was damaged while open. The cursor is the spool's own, a
    /// true record boundary of the file as it was: records starting before it were
    /// delivered, the rest were not.
    fn while_reading(bytes: &[u8], cursor: u64) -> Option<SegmentCheck> {
        let Scan { records, damaged } = scan(bytes)?;
        let delivered = records.iter().take_while(|r| r.start < cursor).count();
        Some(SegmentCheck {
            records,
            damaged,
            delivered,
            boundary: cursor,
        })
    }

    /// End of the last valid record (the magic when there is none).
    fn valid_len(&self) -> u64 {
        self.records.last().map_or(MAGIC_LEN, |r| r.end)
    }

    fn undelivered(&self) -> &[RecordSpan] {
        &self.records[self.delivered..]
    }

    /// Damaged spans reaching past the delivered boundary; with `but_tail`, not the one
    /// after the last valid record.
    fn lost_spans(&self, but_tail: bool) -> impl Iterator<Item = (u64, u64)> + '_ {
        let valid_len = self.valid_len();
        self.damaged
            .iter()
            .copied()
            .filter(move |&(start, end)| end > self.boundary && !(but_tail && start >= valid_len))
    }

    /// The damaged bytes after the last valid record, if any.
    fn tail(&self) -> Option<(u64, u64)> {
        let valid_len = self.valid_len();
        self.damaged
            .last()
            .copied()
            .filter(|&(s, _)| s >= valid_len)
    }
}

/// The records and damage of a whole segment file; `None` without the magic.
fn scan(bytes: &[u8]) -> Option<Scan> {
    if bytes.get(..SEGMENT_MAGIC.len()) != Some(&SEGMENT_MAGIC[..]) {
        return None;
    }
    Some(scan_records(&bytes[SEGMENT_MAGIC.len()..], MAGIC_LEN))
}

/// Leading records a saved cursor offset `c` covers: all of them when it points past
/// the valid data (damage after delivery); up to the record that ends — or the one that
/// starts — at `c`; none when `c` is no record boundary (then some records are sent
/// twice, never skipped: at-least-once).
fn delivered_at_open(records: &[RecordSpan], cursor: Option<u64>) -> usize {
    let Some(c) = cursor else { return 0 };
    if c > records.last().map_or(MAGIC_LEN, |r| r.end) {
        return records.len();
    }
    if let Some(i) = records.iter().position(|r| r.end == c) {
        return i + 1;
    }
    records.iter().position(|r| r.start == c).unwrap_or(0)
}

/// Why a segment is being settled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// At open: a damaged tail is a torn write.
    Open,
    /// While reading: this many undelivered lines were written; every damaged byte is
    /// damage, and the loss is counted exactly.
    Reading { undelivered_lines: u64 },
}

impl Spool {
    pub(super) fn recover(&self) -> Result<(), SpoolError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.config.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = format::segment_id(name) {
                ids.push(id);
            } else if name.ends_with(REPAIR_SUFFIX) {
                // A repair cut short: the original segment is still there (or already
                // replaced by a finished copy).
                fs::remove_file(entry.path())?;
            }
        }
        ids.sort_unstable();
        let saved_cursor = read_cursor_file(&self.config.dir.join(CURSOR_FILE));
        let mut st = self.lock();
        for id in ids {
            let path = self.segment_path(id);
            if saved_cursor.is_some_and(|c| id < c.segment) {
                // Wholly delivered (its removal was cut short): whatever it holds,
                // nothing in it is lost.
                fs::remove_file(&path)?;
                continue;
            }
            let bytes = fs::read(&path)?;
            let cursor_here = saved_cursor.filter(|c| c.segment == id).map(|c| c.offset);
            let Some(check) = SegmentCheck::at_open(&bytes, cursor_here) else {
                self.count_torn(&path, 0, bytes.len() as u64);
                fs::remove_file(&path)?;
                continue;
            };
            let Some(meta) =
                self.settle_segment(id, &bytes, &check, cursor_here.is_some(), Moment::Open)?
            else {
                continue;
            };
            st.next_id = st.next_id.max(id.saturating_add(1));
            st.segments.push_back(meta);
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
            // (A segment rewritten by a repair has no delivered records left.)
            Some(first) if first.records_done > 0 => Position {
                segment: first.id,
                offset: saved_cursor.map_or(MAGIC_LEN, |c| c.offset),
            },
            Some(first) => Position {
                segment: first.id,
                offset: MAGIC_LEN,
            },
            None => Position {
                segment: st.next_id,
                offset: MAGIC_LEN,
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

    /// A record of `segment` failed its check while being read (the disk changed under
    /// the spool): rewrites the segment with the undelivered records that are still
    /// valid, counts exactly what was lost, and moves the cursor to the segment's new
    /// start. Returns `false` when the segment holds a staged record (try again once it
    /// is published or discarded).
    pub(super) fn repair_while_reading(&self, segment: u64) -> Result<bool, SpoolError> {
        let mut st = self.lock();
        if st.staged.as_ref().is_some_and(|s| s.segment == segment) {
            return Ok(false);
        }
        let Some(index) = st.segments.iter().position(|s| s.id == segment) else {
            return Ok(true);
        };
        if st.active.as_ref().is_some_and(|a| a.id == segment) {
            // Never append after damage: the next record starts a new segment.
            self.close_active(&mut st)?;
        }
        let path = self.segment_path(segment);
        let (len, undelivered_lines) = {
            let m = &st.segments[index];
            (m.len, m.lines - m.lines_done)
        };
        let mut bytes = fs::read(&path)?;
        bytes.truncate(len as usize);
        let cursor_here = st.cursor.segment == segment;
        let cursor = if cursor_here {
            st.cursor.offset
        } else {
            MAGIC_LEN
        };
        let moment = Moment::Reading { undelivered_lines };
        let meta = match SegmentCheck::while_reading(&bytes, cursor) {
            Some(check) => self.settle_segment(segment, &bytes, &check, cursor_here, moment)?,
            None => {
                self.count_lost(&path, 1, len, undelivered_lines);
                if cursor_here {
                    self.save_cursor_at_start(segment)?;
                }
                fs::remove_file(&path)?;
                None
            }
        };
        match meta {
            Some(meta) => st.segments[index] = meta,
            None => {
                st.segments.remove(index);
            }
        }
        if st.cursor.segment == segment {
            st.cursor = match st.segments.iter().find(|s| s.id >= segment) {
                Some(s) => Position {
                    segment: s.id,
                    offset: MAGIC_LEN,
                },
                None => Position {
                    segment: st.next_id,
                    offset: MAGIC_LEN,
                },
            };
        }
        self.publish_gauges(&st);
        Ok(true)
    }

    /// Makes segment `id`'s file hold what can still be delivered, counting what was
    /// damaged (see the module docs). `cursor_here`: the delivered cursor is in this
    /// segment (a rewrite then moves it to the segment's start, saved first). Returns
    /// its bookkeeping, or `None` when nothing is left in it (the file is removed).
    fn settle_segment(
        &self,
        id: u64,
        bytes: &[u8],
        check: &SegmentCheck,
        cursor_here: bool,
        moment: Moment,
    ) -> Result<Option<SegmentMeta>, SpoolError> {
        let path = self.segment_path(id);
        let at_open = moment == Moment::Open;
        let lost: Vec<(u64, u64)> = check.lost_spans(at_open).collect();
        if at_open && let Some((start, end)) = check.tail() {
            self.count_torn(&path, start, end - start);
        }
        let keep = check.undelivered();
        let kept_lines: u64 = keep.iter().map(|r| r.lines).sum();
        if !lost.is_empty() || !at_open {
            let lost_bytes: u64 = lost.iter().map(|(s, e)| e - s).sum();
            let lost_lines = match moment {
                Moment::Reading { undelivered_lines } => {
                    undelivered_lines.saturating_sub(kept_lines)
                }
                Moment::Open => lost
                    .iter()
                    .map(|&(s, e)| estimate_lines(&bytes[s as usize..e as usize]))
                    .sum(),
            };
            if !lost.is_empty() || lost_lines > 0 {
                self.count_lost(&path, lost.len() as u64, lost_bytes, lost_lines);
            }
            if keep.is_empty() {
                if cursor_here {
                    self.save_cursor_at_start(id)?;
                }
                fs::remove_file(&path)?;
                return Ok(None);
            }
            let len = self.rewrite_segment(id, bytes, keep, cursor_here)?;
            return Ok(Some(SegmentMeta {
                id,
                len,
                records: keep.len() as u64,
                lines: kept_lines,
                records_done: 0,
                lines_done: 0,
            }));
        }
        if check.records.is_empty() {
            fs::remove_file(&path)?;
            return Ok(None);
        }
        let valid_len = check.valid_len();
        if valid_len < bytes.len() as u64 {
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(valid_len)?;
            f.sync_all()?;
        }
        let done = &check.records[..check.delivered];
        Ok(Some(SegmentMeta {
            id,
            len: valid_len,
            records: check.records.len() as u64,
            lines: check.records.iter().map(|r| r.lines).sum(),
            records_done: done.len() as u64,
            lines_done: done.iter().map(|r| r.lines).sum(),
        }))
    }

    /// Writes `keep` (records of `bytes`) as segment `id`'s new content: temp file,
    /// fsync, cursor moved to the segment's start (when it is in it), rename. A crash
    /// before the rename leaves the old file and at worst a cursor at its start (records
    /// sent twice, none skipped). Returns the new length.
    fn rewrite_segment(
        &self,
        id: u64,
        bytes: &[u8],
        keep: &[RecordSpan],
        cursor_here: bool,
    ) -> Result<u64, SpoolError> {
        let mut out = Vec::with_capacity(bytes.len());
        out.extend_from_slice(SEGMENT_MAGIC);
        for r in keep {
            out.extend_from_slice(&bytes[r.start as usize..r.end as usize]);
        }
        let path = self.segment_path(id);
        let tmp = self.config.dir.join(format!("{id:020}{REPAIR_SUFFIX}"));
        fs::write(&tmp, &out)?;
        let durable = self.config.fsync != FsyncPolicy::Never;
        if durable {
            File::open(&tmp)?.sync_all()?;
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        if cursor_here {
            self.save_cursor_at_start(id)?;
        }
        fs::rename(&tmp, &path)?;
        if durable {
            File::open(&self.config.dir)?.sync_all()?;
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(out.len() as u64)
    }

    /// Saves the cursor at the start of segment `id` (durably unless `fsync = never`).
    fn save_cursor_at_start(&self, id: u64) -> io::Result<()> {
        let at = Position {
            segment: id,
            offset: MAGIC_LEN,
        };
        write_cursor_file(&self.config.dir, at)?;
        if self.config.fsync != FsyncPolicy::Never {
            File::open(self.config.dir.join(CURSOR_FILE))?.sync_all()?;
            File::open(&self.config.dir)?.sync_all()?;
            self.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
        }
        Ok(())
    }

    fn count_torn(&self, path: &Path, at: u64, bytes: u64) {
        self.stats.torn_truncations.fetch_add(1, Ordering::Relaxed);
        self.stats.torn_bytes.fetch_add(bytes, Ordering::Relaxed);
        warning!(
            "spool: {}: torn or corrupt record at offset {at}, truncated {bytes} bytes",
            path.display(),
        );
    }

    fn count_lost(&self, path: &Path, spans: u64, bytes: u64, lines: u64) {
        self.stats.corrupt_skips.fetch_add(spans, Ordering::Relaxed);
        self.stats.corrupt_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.stats
            .lines_lost_corrupt
            .fetch_add(lines, Ordering::Relaxed);
        error!(
            "spool: {}: {spans} damaged span(s) of undelivered records skipped ({bytes} bytes, {lines} lines lost); the valid records around them are kept",
            path.display(),
        );
    }
}
