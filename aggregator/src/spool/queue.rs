//! The spool as a queue: [`Spool::stage`] (or [`Spool::write`]/[`Spool::append`]) adds
//! records at the end, making room per the full policy; [`Spool::read_batch`] reads from
//! the delivered cursor in order; [`Spool::commit`] moves the cursor and deletes
//! delivered segments.
//!
//! # Staged records
//! An output that is one of several must not keep lines the others refused: the frame
//! is not acknowledged, the collector resends it, and the lines would be stored again on
//! every resend. So a record can be written in two steps: [`Spool::stage`] writes it at
//! the end of the active segment, invisible to [`Spool::read_batch`] and to the pending
//! gauges; [`Staged::sync`] makes it durable; [`Staged::publish`] makes it part of the
//! queue, or dropping the [`Staged`] cuts it off the file again. One record at a time
//! may be staged; other writes wait for it with [`SpoolError::Busy`].
//!
//! # A full disk
//! When the filesystem runs out of space before `max_bytes` (`ENOSPC`, `EDQUOT`), the
//! full policy applies just as at `max_bytes`, counted in
//! [`SpoolStats::disk_full`]: `DropOldest` deletes the oldest segments until the record
//! fits (and refuses with [`SpoolError::DiskFull`] when nothing is left to delete: the
//! disk is full of something else); `RefuseNew` refuses. A partly written record is cut
//! off, so nothing is left half-written, and the next write after space returns simply
//! succeeds.
//!
//! # Counting exactly what is dropped
//! The batch a reader holds (from [`Spool::read_batch`] until [`Spool::commit`] or
//! [`Spool::abandon`]) is in memory and may still reach InfluxDB after its segment was
//! deleted for space: its lines are not counted dropped with the segment. They count as
//! dropped only if the reader gives the batch up ([`Spool::abandon`], or reads another
//! batch without committing it); committed, they were delivered. Until then they count
//! as pending, so pending + dropped is always what was written and not delivered.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::log::error;
use crate::spool::format::{
    self, MAX_RECORD_BYTES, RECORD_HEADER_BYTES, SEGMENT_MAGIC, count_lines, parse_header,
    record_header, record_valid, write_cursor_file,
};
use crate::spool::{
    FsyncPolicy, Position, SpoolBatch, SpoolConfig, SpoolError, SpoolFullPolicy, SpoolStats,
};

/// Once the active segment has been fully delivered and is at least this big, it is
/// closed and deleted (so a healthy spool stays small on disk).
const RECYCLE_DELIVERED_ACTIVE_BYTES: u64 = 1024 * 1024;

#[derive(Debug)]
pub(super) struct SegmentMeta {
    pub(super) id: u64,
    /// Length on disk, a staged record included.
    pub(super) len: u64,
    pub(super) records: u64,
    pub(super) lines: u64,
    /// Records/lines before the delivered cursor (only non-zero in the cursor segment).
    pub(super) records_done: u64,
    pub(super) lines_done: u64,
}

pub(super) struct Active {
    pub(super) id: u64,
    pub(super) file: Arc<File>,
}

/// The batch a reader holds (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    pub(super) segment: u64,
    pub(super) start: u64,
    pub(super) records: u64,
    pub(super) lines: u64,
    pub(super) bytes: u64,
    /// Its segment was deleted for space: only this batch in memory holds its lines.
    pub(super) orphaned: bool,
}

/// A record on disk but not yet visible (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StagedRecord {
    pub(super) segment: u64,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) lines: u64,
}

pub(super) struct State {
    /// Segment bookkeeping. A segment's `len` is its length on disk, a staged record
    /// included; its `records`/`lines` count published records only.
    pub(super) segments: VecDeque<SegmentMeta>,
    pub(super) active: Option<Active>,
    /// The staged record, if any (always in the active segment).
    pub(super) staged: Option<StagedRecord>,
    /// The batch handed to the reader and not committed yet.
    pub(super) in_flight: Option<InFlight>,
    /// Delivered cursor.
    pub(super) cursor: Position,
    /// Everything up to here is fsynced.
    pub(super) synced: Position,
    pub(super) next_id: u64,
}

/// Process-wide set of open spool dirs, to refuse two spools on one directory.
static OPEN_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The spool. Cheap operations take a short internal lock; fsync runs on a blocking
/// thread (`smol::unblock`), never on the async executor.
pub struct Spool {
    pub(super) config: SpoolConfig,
    pub(super) canonical_dir: PathBuf,
    pub(super) segment_bytes: u64,
    pub(super) state: Mutex<State>,
    /// Serialises fsyncs so concurrent appends share one (group commit).
    pub(super) sync_gate: smol::lock::Mutex<()>,
    pub(super) stats: Arc<SpoolStats>,
}

impl fmt::Debug for Spool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.config.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Ok(mut dirs) = OPEN_DIRS.lock() {
            dirs.retain(|d| d != &self.canonical_dir);
        }
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `config.dir`, validating every record and
    /// truncating torn ones. Delivery resumes at the saved cursor. I/O errors name the
    /// directory ([`SpoolError::Open`]).
    pub fn open(config: SpoolConfig, stats: Arc<SpoolStats>) -> Result<Spool, SpoolError> {
        let dir = config.dir.clone();
        Spool::open_in(config, stats).map_err(|e| match e {
            SpoolError::Io(e) => SpoolError::Open(dir, e),
            e => e,
        })
    }

    fn open_in(config: SpoolConfig, stats: Arc<SpoolStats>) -> Result<Spool, SpoolError> {
        fs::create_dir_all(&config.dir)?;
        let canonical_dir = fs::canonicalize(&config.dir)?;
        {
            let mut dirs = OPEN_DIRS.lock().unwrap_or_else(|p| p.into_inner());
            if dirs.contains(&canonical_dir) {
                return Err(SpoolError::InUse(canonical_dir));
            }
            dirs.push(canonical_dir.clone());
        }
        let segment_bytes = config.effective_segment_bytes();
        let spool = Spool {
            canonical_dir,
            segment_bytes,
            state: Mutex::new(State {
                segments: VecDeque::new(),
                active: None,
                staged: None,
                in_flight: None,
                cursor: Position {
                    segment: 0,
                    offset: 0,
                },
                synced: Position {
                    segment: 0,
                    offset: 0,
                },
                next_id: 1,
            }),
            sync_gate: smol::lock::Mutex::new(()),
            stats,
            config,
        };
        spool.recover()?;
        Ok(spool)
    }

    /// The spool's statistics.
    pub fn stats(&self) -> &Arc<SpoolStats> {
        &self.stats
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn segment_path(&self, id: u64) -> PathBuf {
        format::segment_path(&self.config.dir, id)
    }

    pub(super) fn publish_gauges(&self, st: &State) {
        let (mut bytes, mut records, mut lines) = (0, 0, 0);
        for s in &st.segments {
            bytes += s.len;
            records += s.records - s.records_done;
            lines += s.lines - s.lines_done;
        }
        // A held batch whose segment is gone is still to be delivered.
        if let Some(b) = st.in_flight.filter(|b| b.orphaned) {
            records += b.records;
            lines += b.lines;
        }
        self.stats.bytes.store(bytes, Ordering::Relaxed);
        self.stats
            .segments
            .store(st.segments.len() as u64, Ordering::Relaxed);
        self.stats.pending_records.store(records, Ordering::Relaxed);
        self.stats.pending_lines.store(lines, Ordering::Relaxed);
    }

    /// Appends one record and makes it as durable as the fsync policy says before
    /// returning: with `Always` it is fsynced; otherwise it is in the kernel's page cache.
    /// Visible to readers once written, before the fsync; concurrent appends share one
    /// fsync (group commit).
    pub async fn append(&self, payload: &[u8]) -> Result<Position, SpoolError> {
        let pos = self.write(payload)?;
        if self.config.fsync == FsyncPolicy::Always {
            self.sync_through(pos).await?;
        }
        Ok(pos)
    }

    /// Writes one record to the active segment (no fsync) and makes it visible. Makes
    /// room first per the full policy. Returns where the record ends.
    pub fn write(&self, payload: &[u8]) -> Result<Position, SpoolError> {
        self.check_payload(payload)?;
        let mut st = self.lock();
        if st.staged.is_some() {
            return Err(SpoolError::Busy);
        }
        let record = self.write_record(&mut st, payload)?;
        self.publish_record(&mut st, record);
        Ok(record.position())
    }

    /// Writes one record to the active segment, invisible until
    /// [`Staged::publish`]ed (see the module docs). Makes room first per the full policy.
    pub fn stage(&self, payload: &[u8]) -> Result<Staged<'_>, SpoolError> {
        self.check_payload(payload)?;
        let mut st = self.lock();
        if st.staged.is_some() {
            return Err(SpoolError::Busy);
        }
        let record = self.write_record(&mut st, payload)?;
        st.staged = Some(record);
        Ok(Staged {
            spool: self,
            record,
            settled: false,
        })
    }

    /// The largest payload one record may have: the record and a segment's magic fit
    /// in `max_bytes`.
    pub fn max_payload(&self) -> u64 {
        self.config
            .max_bytes
            .saturating_sub(RECORD_HEADER_BYTES + SEGMENT_MAGIC.len() as u64)
            .min(MAX_RECORD_BYTES)
    }

    fn check_payload(&self, payload: &[u8]) -> Result<(), SpoolError> {
        if payload.last() != Some(&b'\n') {
            return Err(SpoolError::NotLines);
        }
        let len = payload.len() as u64;
        if len > self.max_payload() {
            return Err(SpoolError::RecordTooLarge(len));
        }
        Ok(())
    }

    /// Writes a record after the last one, applying the full policy at `max_bytes` and
    /// when the disk is full.
    fn write_record(&self, st: &mut State, payload: &[u8]) -> Result<StagedRecord, SpoolError> {
        let mut disk_full_counted = false;
        loop {
            let e = match self.try_write_record(st, payload) {
                Err(SpoolError::Io(e)) if is_disk_full(&e) => e,
                other => return other,
            };
            if !disk_full_counted {
                disk_full_counted = true;
                self.stats.disk_full.fetch_add(1, Ordering::Relaxed);
            }
            match self.config.when_full {
                SpoolFullPolicy::RefuseNew => {
                    self.stats
                        .appends_refused_full
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(SpoolError::DiskFull(e));
                }
                SpoolFullPolicy::DropOldest => {
                    if !self.drop_oldest(st, "its disk is full")? {
                        return Err(SpoolError::DiskFull(e));
                    }
                }
            }
        }
    }

    fn try_write_record(&self, st: &mut State, payload: &[u8]) -> Result<StagedRecord, SpoolError> {
        let record_bytes = RECORD_HEADER_BYTES + payload.len() as u64;
        // Start a new segment when the active one is full.
        let active_len = st.segments.back().map(|s| s.len).unwrap_or(0);
        let active_has_records = st.segments.back().is_some_and(|s| s.records > 0);
        if st.active.is_some()
            && active_has_records
            && active_len + record_bytes > self.segment_bytes
        {
            self.close_active(st)?;
        }
        // Conservatively reserve room for a new segment's magic too: dropping the oldest
        // segment may retire the active one.
        self.make_room(st, record_bytes + SEGMENT_MAGIC.len() as u64)?;
        if st.active.is_none() {
            self.open_new_segment(st)?;
        }
        let Some(active) = st.active.as_ref() else {
            return Err(SpoolError::Io(io::Error::other("no active segment")));
        };
        let file = Arc::clone(&active.file);
        let id = active.id;
        let Some(meta) = st.segments.back_mut() else {
            return Err(SpoolError::Io(io::Error::other(
                "no active segment metadata",
            )));
        };
        let start = meta.len;
        let header = record_header(payload);
        let written = file
            .write_all_at(&header, start)
            .and_then(|()| file.write_all_at(payload, start + RECORD_HEADER_BYTES));
        if let Err(e) = written {
            // Cut off the partial record; if even that fails, abandon the segment (its
            // torn tail is cut off at the next open).
            if file.set_len(start).is_err() {
                let _ = self.close_active(st);
            }
            return Err(SpoolError::Io(e));
        }
        meta.len += record_bytes;
        self.stats.bytes.fetch_add(record_bytes, Ordering::Relaxed);
        Ok(StagedRecord {
            segment: id,
            start,
            end: start + record_bytes,
            lines: count_lines(payload),
        })
    }

    /// A written record joins the queue.
    fn publish_record(&self, st: &mut State, record: StagedRecord) {
        if let Some(meta) = st.segments.iter_mut().find(|s| s.id == record.segment) {
            meta.records += 1;
            meta.lines += record.lines;
        }
        self.stats.records_appended.fetch_add(1, Ordering::Relaxed);
        self.stats.pending_records.fetch_add(1, Ordering::Relaxed);
        self.stats
            .pending_lines
            .fetch_add(record.lines, Ordering::Relaxed);
    }

    /// Cuts a staged record off its segment again.
    fn discard(&self, record: StagedRecord) {
        let mut st = self.lock();
        if st.staged != Some(record) {
            return;
        }
        st.staged = None;
        let cut = match st.active.as_ref() {
            Some(a) if a.id == record.segment => a.file.set_len(record.start),
            _ => OpenOptions::new()
                .write(true)
                .open(self.segment_path(record.segment))
                .and_then(|f| f.set_len(record.start)),
        };
        if cut.is_err() {
            // Left on disk beyond `len`, never read in this run; abandon the segment.
            let _ = self.close_active(&mut st);
        }
        if let Some(meta) = st.segments.iter_mut().find(|s| s.id == record.segment) {
            meta.len = meta.len.min(record.start);
        }
        let start = Position {
            segment: record.segment,
            offset: record.start,
        };
        st.synced = st.synced.min(start);
        self.publish_gauges(&st);
    }

    /// Deletes oldest segments (or refuses) until `need` more bytes fit.
    fn make_room(&self, st: &mut State, need: u64) -> Result<(), SpoolError> {
        loop {
            let total: u64 = st.segments.iter().map(|s| s.len).sum();
            if total + need <= self.config.max_bytes {
                return Ok(());
            }
            if self.config.when_full == SpoolFullPolicy::RefuseNew {
                self.stats
                    .appends_refused_full
                    .fetch_add(1, Ordering::Relaxed);
                return Err(SpoolError::Full);
            }
            let why = format!("it is full ({} bytes max)", self.config.max_bytes);
            if !self.drop_oldest(st, &why)? {
                return Ok(());
            }
        }
    }

    /// Deletes the oldest segment, counting its undelivered records as dropped (but not
    /// the batch a reader holds: it may still be delivered). False when there is none.
    fn drop_oldest(&self, st: &mut State, why: &str) -> Result<bool, SpoolError> {
        let Some(oldest) = st.segments.pop_front() else {
            return Ok(false);
        };
        if st.active.as_ref().is_some_and(|a| a.id == oldest.id) {
            st.active = None;
        }
        let mut records = oldest.records - oldest.records_done;
        let mut lines = oldest.lines - oldest.lines_done;
        let mut bytes = oldest.len.saturating_sub(SEGMENT_MAGIC.len() as u64);
        if let Some(held) = st
            .in_flight
            .as_mut()
            .filter(|b| b.segment == oldest.id && !b.orphaned)
        {
            held.orphaned = true;
            records = records.saturating_sub(held.records);
            lines = lines.saturating_sub(held.lines);
            bytes = bytes.saturating_sub(held.bytes);
        }
        self.count_dropped(records, lines, bytes);
        error!(
            "spool {} dropped its oldest segment {} because {why}: {records} undelivered records ({lines} lines) lost{}",
            self.config.dir.display(),
            oldest.id,
            match st.in_flight {
                Some(b) if b.segment == oldest.id =>
                    format!(" ({} lines being delivered are kept in memory)", b.lines),
                _ => String::new(),
            }
        );
        remove_file_if_exists(&self.segment_path(oldest.id))?;
        if st.cursor.segment <= oldest.id {
            st.cursor = Position {
                segment: st.segments.front().map(|s| s.id).unwrap_or(st.next_id),
                offset: SEGMENT_MAGIC.len() as u64,
            };
        }
        self.publish_gauges(st);
        Ok(true)
    }

    fn count_dropped(&self, records: u64, lines: u64, bytes: u64) {
        let s = &self.stats;
        s.records_dropped_full.fetch_add(records, Ordering::Relaxed);
        s.lines_dropped_full.fetch_add(lines, Ordering::Relaxed);
        s.bytes_dropped_full.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The reader gives up `batch` (it was not delivered): if its segment was deleted for
    /// space meanwhile, its lines are lost and counted now; otherwise they stay pending
    /// on disk and are read again.
    pub fn abandon(&self, batch: &SpoolBatch) {
        let mut st = self.lock();
        if st
            .in_flight
            .is_some_and(|b| b.segment == batch.segment && b.start == batch.start)
        {
            self.settle_in_flight(&mut st);
        }
    }

    /// Forgets the batch in flight, counting it dropped if it was orphaned.
    fn settle_in_flight(&self, st: &mut State) {
        if let Some(b) = st.in_flight.take().filter(|b| b.orphaned) {
            self.count_dropped(b.records, b.lines, b.bytes);
            self.publish_gauges(st);
        }
    }

    fn open_new_segment(&self, st: &mut State) -> Result<(), SpoolError> {
        let id = st.next_id;
        if id == u64::MAX {
            // Only a stray file or cursor naming id u64::MAX gets here: no new segment
            // would sort after it, so refuse rather than overwrite or wrap around.
            return Err(SpoolError::Io(io::Error::other(
                "no segment id left: a segment or cursor file names id 18446744073709551615",
            )));
        }
        let path = self.segment_path(id);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let mut durable = || {
            file.write_all(SEGMENT_MAGIC)?;
            if self.config.fsync == FsyncPolicy::Always {
                file.sync_all()?;
                File::open(&self.config.dir)?.sync_all()?;
                self.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
            }
            Ok::<(), io::Error>(())
        };
        if let Err(e) = durable() {
            // No half-made segment stays behind (a full disk, typically).
            let _ = fs::remove_file(&path);
            return Err(SpoolError::Io(e));
        }
        st.next_id = id + 1;
        st.active = Some(Active {
            id,
            file: Arc::new(file),
        });
        st.segments.push_back(SegmentMeta {
            id,
            len: SEGMENT_MAGIC.len() as u64,
            records: 0,
            lines: 0,
            records_done: 0,
            lines_done: 0,
        });
        if st.cursor.segment >= id || st.segments.len() == 1 {
            st.cursor = Position {
                segment: st.segments.front().map(|s| s.id).unwrap_or(id),
                offset: SEGMENT_MAGIC.len() as u64,
            };
        }
        self.stats
            .segments
            .store(st.segments.len() as u64, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(SEGMENT_MAGIC.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the active segment, fsyncing it unless the policy is `Never`, so that
    /// every segment but the active one is durable.
    pub(super) fn close_active(&self, st: &mut State) -> Result<(), SpoolError> {
        if let Some(active) = st.active.take()
            && self.config.fsync != FsyncPolicy::Never
        {
            active.file.sync_data()?;
            self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Some(meta) = st.segments.back() {
                let end = Position {
                    segment: active.id,
                    offset: meta.len,
                };
                st.synced = st.synced.max(end);
            }
        }
        Ok(())
    }

    /// Makes everything up to `pos` durable (fsync of the active segment, on a blocking
    /// thread). Concurrent callers share one fsync.
    pub async fn sync_through(&self, pos: Position) -> Result<(), SpoolError> {
        let _gate = self.sync_gate.lock().await;
        let (file, target) = {
            let st = self.lock();
            if st.synced >= pos {
                return Ok(());
            }
            match (&st.active, st.segments.back()) {
                // Older segments were fsynced when closed.
                (Some(a), Some(meta)) if a.id == pos.segment => (
                    Arc::clone(&a.file),
                    Position {
                        segment: a.id,
                        offset: meta.len,
                    },
                ),
                _ => return Ok(()),
            }
        };
        smol::unblock(move || file.sync_data()).await?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        st.synced = st.synced.max(target);
        Ok(())
    }

    /// Makes everything written so far durable (used by the `Interval` policy's timer
    /// and at shutdown).
    pub async fn sync(&self) -> Result<(), SpoolError> {
        let end = {
            let st = self.lock();
            match (&st.active, st.segments.back()) {
                (Some(a), Some(meta)) => Position {
                    segment: a.id,
                    offset: meta.len,
                },
                _ => return Ok(()),
            }
        };
        self.sync_through(end).await
    }

    /// Lines not yet delivered.
    pub fn pending_lines(&self) -> u64 {
        self.stats.pending_lines.load(Ordering::Relaxed)
    }

    /// Payload bytes not yet delivered (approximate: includes record headers).
    pub fn pending_bytes(&self) -> u64 {
        let st = self.lock();
        let mut total = 0;
        for s in &st.segments {
            let len = visible_len(&st, s);
            if s.id == st.cursor.segment {
                total += len.saturating_sub(st.cursor.offset);
            } else if s.id > st.cursor.segment {
                total += len.saturating_sub(SEGMENT_MAGIC.len() as u64);
            }
        }
        total
    }

    /// Reads the next undelivered records, in order, from the cursor: at least one
    /// record (if any), then more while the batch stays within `max_bytes` and
    /// `max_lines`. Stops at a segment boundary. `Ok(None)` when everything was delivered.
    /// The batch is the reader's until [`Spool::commit`] or [`Spool::abandon`]; reading
    /// again first abandons the one held.
    ///
    /// A record that fails its check while reading (disk damage after opening) costs only
    /// itself: the segment is repaired (see [`crate::spool::recovery`]) and reading goes
    /// on with the valid records after it.
    pub fn read_batch(
        &self,
        max_bytes: usize,
        max_lines: u64,
    ) -> Result<Option<SpoolBatch>, SpoolError> {
        self.settle_in_flight(&mut self.lock());
        loop {
            let (segment, start, end, path) = {
                let mut st = self.lock();
                let cursor = st.cursor;
                let Some(meta) = st.segments.iter().find(|s| s.id >= cursor.segment) else {
                    return Ok(None);
                };
                let start = if meta.id == cursor.segment {
                    cursor.offset
                } else {
                    SEGMENT_MAGIC.len() as u64
                };
                let (id, len) = (meta.id, visible_len(&st, meta));
                if start >= len {
                    // Fully delivered segment: only the active one can stay like this.
                    let is_active = st.active.as_ref().is_some_and(|a| a.id == id);
                    if is_active {
                        return Ok(None);
                    }
                    // A closed, fully delivered segment that was not removed yet.
                    self.remove_front_delivered(&mut st)?;
                    continue;
                }
                if cursor.segment != id {
                    st.cursor = Position {
                        segment: id,
                        offset: start,
                    };
                }
                (id, start, len, self.segment_path(id))
            };
            // Read outside the lock; the file may be deleted meanwhile (DropOldest), which
            // commit() tolerates.
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(SpoolError::Io(e)),
            };
            file.seek(SeekFrom::Start(start))?;
            let mut reader = io::BufReader::with_capacity(64 * 1024, file.take(end - start));
            let mut batch = SpoolBatch {
                segment,
                start,
                end: start,
                records: 0,
                lines: 0,
                body: Vec::new(),
            };
            let mut header = [0u8; 8];
            let mut damaged = false;
            while batch.end < end {
                if reader.read_exact(&mut header).is_err() {
                    damaged = true;
                    break;
                }
                let (len, _) = parse_header(&header);
                if batch.end + RECORD_HEADER_BYTES + len > end {
                    damaged = true;
                    break;
                }
                if batch.records > 0
                    && (batch.body.len() as u64 + len > max_bytes as u64
                        || batch.lines >= max_lines)
                {
                    break;
                }
                let body_start = batch.body.len();
                batch.body.resize(body_start + len as usize, 0);
                if reader.read_exact(&mut batch.body[body_start..]).is_err()
                    || !record_valid(&header, &batch.body[body_start..])
                {
                    damaged = true;
                    break;
                }
                let lines = count_lines(&batch.body[body_start..]);
                if batch.records > 0 && batch.lines + lines > max_lines {
                    batch.body.truncate(body_start);
                    break;
                }
                batch.records += 1;
                batch.lines += lines;
                batch.end += RECORD_HEADER_BYTES + len;
            }
            if damaged {
                // What was read so far is read again from the repaired segment.
                if self.repair_while_reading(segment)? {
                    continue;
                }
                return Ok(None);
            }
            if batch.records == 0 {
                continue;
            }
            let mut st = self.lock();
            if !st.segments.iter().any(|s| s.id == segment) {
                // Deleted for space while it was read: counted with it.
                continue;
            }
            st.in_flight = Some(InFlight {
                segment,
                start,
                records: batch.records,
                lines: batch.lines,
                bytes: batch.end - batch.start,
                orphaned: false,
            });
            return Ok(Some(batch));
        }
    }

    fn remove_front_delivered(&self, st: &mut State) -> Result<(), SpoolError> {
        while let Some(front) = st.segments.front() {
            let is_active = st.active.as_ref().is_some_and(|a| a.id == front.id);
            let delivered = front.id < st.cursor.segment
                || (front.id == st.cursor.segment && st.cursor.offset >= front.len);
            if !delivered || is_active {
                break;
            }
            let id = front.id;
            st.segments.pop_front();
            remove_file_if_exists(&self.segment_path(id))?;
            if st.cursor.segment <= id {
                st.cursor = Position {
                    segment: st.segments.front().map(|s| s.id).unwrap_or(st.next_id),
                    offset: SEGMENT_MAGIC.len() as u64,
                };
            }
        }
        self.publish_gauges(st);
        Ok(())
    }

    /// Marks a batch from [`Spool::read_batch`] as delivered: advances the cursor,
    /// deletes segments that are fully delivered, saves the cursor file. A batch whose
    /// records were meanwhile dropped for space is ignored.
    pub fn commit(&self, batch: &SpoolBatch) -> Result<(), SpoolError> {
        let mut st = self.lock();
        if st
            .in_flight
            .is_some_and(|b| b.segment == batch.segment && b.start == batch.start)
        {
            // Delivered, orphaned or not: nothing of it was lost.
            if st.in_flight.take().is_some_and(|b| b.orphaned) {
                self.publish_gauges(&st);
            }
        }
        if st.cursor
            != (Position {
                segment: batch.segment,
                offset: batch.start,
            })
        {
            return Ok(());
        }
        let Some(meta) = st.segments.iter_mut().find(|s| s.id == batch.segment) else {
            return Ok(());
        };
        meta.records_done = (meta.records_done + batch.records).min(meta.records);
        meta.lines_done = (meta.lines_done + batch.lines).min(meta.lines);
        let fully_delivered = batch.end >= meta.len;
        let big = meta.len >= RECYCLE_DELIVERED_ACTIVE_BYTES.min(self.segment_bytes);
        st.cursor = Position {
            segment: batch.segment,
            offset: batch.end,
        };
        let is_active = st.active.as_ref().is_some_and(|a| a.id == batch.segment);
        if fully_delivered && is_active && big {
            // Retire the delivered active segment; the next append starts a new one.
            st.active = None;
        }
        self.remove_front_delivered(&mut st)?;
        let cursor = st.cursor;
        drop(st);
        write_cursor_file(&self.config.dir, cursor)?;
        Ok(())
    }
}

/// How far readers may read a segment: up to a staged record.
fn visible_len(st: &State, meta: &SegmentMeta) -> u64 {
    match st.staged {
        Some(s) if s.segment == meta.id => s.start,
        _ => meta.len,
    }
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

impl StagedRecord {
    fn position(self) -> Position {
        Position {
            segment: self.segment,
            offset: self.end,
        }
    }
}

/// A record written by [`Spool::stage`]: on disk, not yet visible to readers.
/// [`Staged::publish`] adds it to the queue; dropping it unpublished cuts it off again.
#[must_use = "a staged record is discarded when dropped"]
pub struct Staged<'a> {
    spool: &'a Spool,
    record: StagedRecord,
    settled: bool,
}

impl fmt::Debug for Staged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged")
            .field("end", &self.end())
            .field("lines", &self.record.lines)
            .finish()
    }
}

impl Staged<'_> {
    /// Where the record ends.
    pub fn end(&self) -> Position {
        self.record.position()
    }

    /// Makes the record as durable as the fsync policy says: with `Always` it is
    /// fsynced (on a blocking thread); otherwise it is in the page cache already.
    pub async fn sync(&self) -> Result<(), SpoolError> {
        if self.spool.config.fsync == FsyncPolicy::Always {
            self.spool.sync_through(self.end()).await?;
        }
        Ok(())
    }

    /// Adds the record to the queue: readers see it from now on.
    pub fn publish(mut self) -> Position {
        self.settled = true;
        let mut st = self.spool.lock();
        if st.staged == Some(self.record) {
            st.staged = None;
            self.spool.publish_record(&mut st, self.record);
        }
        self.record.position()
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.spool.discard(self.record);
        }
    }
}

fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
