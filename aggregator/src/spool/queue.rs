//! The spool as a queue: [`Spool::write`]/[`Spool::append`] add records at the end
//! (making room per the full policy), [`Spool::read_batch`] reads from the delivered
//! cursor in order, [`Spool::commit`] moves the cursor and deletes delivered segments.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::spool::format::{
    self, MAX_RECORD_BYTES, RECORD_HEADER_BYTES, SEGMENT_MAGIC, count_lines, parse_header,
    record_header, record_ok, write_cursor_file,
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
    /// Valid length (file may be longer only transiently after a failed write).
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

pub(super) struct State {
    pub(super) segments: VecDeque<SegmentMeta>,
    pub(super) active: Option<Active>,
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
    /// truncating torn ones. Delivery resumes at the saved cursor.
    pub fn open(config: SpoolConfig, stats: Arc<SpoolStats>) -> Result<Spool, SpoolError> {
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
        self.stats.bytes.store(bytes, Ordering::Relaxed);
        self.stats
            .segments
            .store(st.segments.len() as u64, Ordering::Relaxed);
        self.stats.pending_records.store(records, Ordering::Relaxed);
        self.stats.pending_lines.store(lines, Ordering::Relaxed);
    }

    /// Appends one record and makes it as durable as the fsync policy says before
    /// returning: with `Always` it is fsynced; otherwise it is in the kernel's page cache.
    pub async fn append(&self, payload: &[u8]) -> Result<Position, SpoolError> {
        let pos = self.write(payload)?;
        if self.config.fsync == FsyncPolicy::Always {
            self.sync_through(pos).await?;
        }
        Ok(pos)
    }

    /// Writes one record to the active segment (no fsync). Makes room first per the
    /// full policy. Returns where the record ends.
    pub fn write(&self, payload: &[u8]) -> Result<Position, SpoolError> {
        let len = payload.len() as u64;
        let record_bytes = RECORD_HEADER_BYTES + len;
        if len > MAX_RECORD_BYTES
            || record_bytes + SEGMENT_MAGIC.len() as u64 > self.config.max_bytes
        {
            return Err(SpoolError::RecordTooLarge(len));
        }
        let mut st = self.lock();
        // Start a new segment when the active one is full.
        let active_len = st.segments.back().map(|s| s.len).unwrap_or(0);
        let active_has_records = st.segments.back().is_some_and(|s| s.records > 0);
        if st.active.is_some()
            && active_has_records
            && active_len + record_bytes > self.segment_bytes
        {
            self.close_active(&mut st)?;
        }
        // Conservatively reserve room for a new segment's magic too: dropping the oldest
        // segment may retire the active one.
        self.make_room(&mut st, record_bytes + SEGMENT_MAGIC.len() as u64)?;
        if st.active.is_none() {
            self.open_new_segment(&mut st)?;
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
        let written = (&*file)
            .write_all(&header)
            .and_then(|()| (&*file).write_all(payload));
        if let Err(e) = written {
            // Cut off the partial record; if even that fails, abandon the segment (the
            // torn tail is ignored because the reader trusts `len`, and truncated at open).
            if file.set_len(start).is_err() || (&*file).seek(SeekFrom::Start(start)).is_err() {
                let _ = self.close_active(&mut st);
            }
            return Err(SpoolError::Io(e));
        }
        let lines = count_lines(payload);
        meta.len += record_bytes;
        meta.records += 1;
        meta.lines += lines;
        let pos = Position {
            segment: id,
            offset: meta.len,
        };
        self.stats.records_appended.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(record_bytes, Ordering::Relaxed);
        self.stats.pending_records.fetch_add(1, Ordering::Relaxed);
        self.stats.pending_lines.fetch_add(lines, Ordering::Relaxed);
        Ok(pos)
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
            let Some(oldest) = st.segments.pop_front() else {
                return Ok(());
            };
            if st.active.as_ref().is_some_and(|a| a.id == oldest.id) {
                st.active = None;
            }
            let records = oldest.records - oldest.records_done;
            let lines = oldest.lines - oldest.lines_done;
            self.stats
                .records_dropped_full
                .fetch_add(records, Ordering::Relaxed);
            self.stats
                .lines_dropped_full
                .fetch_add(lines, Ordering::Relaxed);
            self.stats.bytes_dropped_full.fetch_add(
                oldest.len.saturating_sub(SEGMENT_MAGIC.len() as u64),
                Ordering::Relaxed,
            );
            eprintln!(
                "pimon-aggregator: spool full ({} bytes max): dropped oldest segment {} with {records} undelivered records ({lines} lines)",
                self.config.max_bytes, oldest.id
            );
            remove_file_if_exists(&self.segment_path(oldest.id))?;
            if st.cursor.segment <= oldest.id {
                st.cursor = Position {
                    segment: st.segments.front().map(|s| s.id).unwrap_or(st.next_id),
                    offset: SEGMENT_MAGIC.len() as u64,
                };
            }
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
        file.write_all(SEGMENT_MAGIC)?;
        if self.config.fsync == FsyncPolicy::Always {
            file.sync_all()?;
            File::open(&self.config.dir)?.sync_all()?;
            self.stats.fsyncs.fetch_add(2, Ordering::Relaxed);
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
    fn close_active(&self, st: &mut State) -> Result<(), SpoolError> {
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
            if s.id == st.cursor.segment {
                total += s.len.saturating_sub(st.cursor.offset);
            } else if s.id > st.cursor.segment {
                total += s.len.saturating_sub(SEGMENT_MAGIC.len() as u64);
            }
        }
        total
    }

    /// Reads the next undelivered records, in order, from the cursor: at least one
    /// record (if any), then more while the batch stays within `max_bytes` and
    /// `max_lines`. Stops at a segment boundary. `Ok(None)` when everything was delivered.
    ///
    /// A record that fails its CRC while reading (disk damage after opening) ends the
    /// segment: the rest of it is counted as torn and skipped.
    pub fn read_batch(
        &self,
        max_bytes: usize,
        max_lines: u64,
    ) -> Result<Option<SpoolBatch>, SpoolError> {
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
                let (id, len) = (meta.id, meta.len);
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
            while batch.end < end {
                if reader.read_exact(&mut header).is_err() {
                    self.mark_corrupt(segment, batch.end, batch.records, batch.lines);
                    break;
                }
                let (len, _) = parse_header(&header);
                if batch.end + RECORD_HEADER_BYTES + len > end {
                    self.mark_corrupt(segment, batch.end, batch.records, batch.lines);
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
                if reader.read_exact(&mut batch.body[body_start..]).is_err() {
                    batch.body.truncate(body_start);
                    self.mark_corrupt(segment, batch.end, batch.records, batch.lines);
                    break;
                }
                if !record_ok(&header, &batch.body[body_start..]) {
                    batch.body.truncate(body_start);
                    self.mark_corrupt(segment, batch.end, batch.records, batch.lines);
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
            if batch.records == 0 {
                // The first record was corrupt; the segment was cut there. Try again.
                continue;
            }
            return Ok(Some(batch));
        }
    }

    /// A record at `offset` in `segment` is unreadable: cut the segment there. The
    /// `records_ok`/`lines_ok` read before it (from the cursor) stay deliverable; the
    /// file itself is truncated at the next [`Spool::open`].
    fn mark_corrupt(&self, segment: u64, offset: u64, records_ok: u64, lines_ok: u64) {
        let mut st = self.lock();
        let is_active = st.active.as_ref().is_some_and(|a| a.id == segment);
        let Some(meta) = st.segments.iter_mut().find(|s| s.id == segment) else {
            return;
        };
        if offset >= meta.len {
            return;
        }
        let cut = meta.len - offset;
        eprintln!(
            "pimon-aggregator: spool: segment {segment}: corrupt record at offset {offset}; skipping {cut} bytes"
        );
        self.stats.torn_truncations.fetch_add(1, Ordering::Relaxed);
        self.stats.torn_bytes.fetch_add(cut, Ordering::Relaxed);
        meta.len = offset;
        meta.records = (meta.records_done + records_ok).min(meta.records);
        meta.lines = (meta.lines_done + lines_ok).min(meta.lines);
        if is_active {
            // Never append after a hole.
            let _ = self.close_active(&mut st);
        }
        self.publish_gauges(&st);
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

fn remove_file_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
