//! The `--lp-out PATH|-` output: plain line protocol appended to a file, or written to
//! stdout (`-`). For keeping a plain-text copy, and for piping into other tools (e.g.
//! `influx write`, `telegraf --input-stdin`).
//!
//! # A file is a durable output
//! Frames are acknowledged only once their lines are in the file, written and made as
//! durable as the output's [`FsyncPolicy`] says — the rule of the InfluxDB outputs'
//! spools. [`LpFileOutput::submit`] writes the lines at the end of the file (the
//! aggregator's only writer), then with `Always` (default) fsyncs on a blocking thread;
//! with `Interval(d)` [`LpFileOutput::run`] fsyncs every `d`; with `Never` the kernel
//! writes back when it likes. So a `kill -9` loses no acknowledged line, and with
//! `Always` neither does a power loss.
//!
//! When a write fails (the disk is full, an I/O error) whatever part of it reached the
//! file is cut off again: the file holds whole lines only, the submit fails, the frames
//! are not acknowledged and the collectors send them again. Nothing is kept in memory,
//! so the output resumes by itself as soon as a write succeeds (space freed). At open, a
//! partial last line (from a crash of an older version mid-write) is cut off and logged.
//!
//! # Stdout, a pipe or a device is best effort
//! Lines for stdout (`-`), or a path that is no regular file (a FIFO, `/dev/stdout`, a
//! terminal), are buffered and written per batch (`batch_max_bytes`, at least every
//! `flush_interval`, and at shutdown) on a blocking thread (`smol::Unblock`), so a slow
//! reader slows this output but never stalls the executor. Such a stream cannot be
//! synced or cut back, so its errors (a closed pipe) are counted and logged, never hold
//! back acknowledgements, and what it could not write is lost for it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use smol::Timer;
use smol::Unblock;
use smol::channel::Receiver;
use smol::io::AsyncWriteExt;

use crate::atomic::AtomicU64;
use crate::influx::output::OutputError;
use crate::log::{error, warning};
use crate::spool::FsyncPolicy;
use crate::spool::format::count_lines;

/// A partial last line longer than this at open is not cut off: the file is refused
/// (it is probably not a line-protocol file).
const MAX_PARTIAL_LINE: u64 = 1024 * 1024;

/// Where the lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LpTarget {
    /// Standard output (`-`).
    Stdout,
    /// A file, created if missing, appended to.
    File(PathBuf),
}

impl LpTarget {
    /// `-` is stdout, anything else a file path.
    pub fn parse(arg: &str) -> LpTarget {
        if arg == "-" {
            LpTarget::Stdout
        } else {
            LpTarget::File(PathBuf::from(arg))
        }
    }
}

/// Settings of the line-protocol file/stdout output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LpFileConfig {
    /// Stdout or file.
    pub target: LpTarget,
    /// A stream (stdout, a pipe, a device): buffer size that triggers a write (default
    /// 64 KiB).
    pub batch_max_bytes: usize,
    /// A stream: buffered lines are written at least this often (default 1 s).
    pub flush_interval: Duration,
    /// A regular file: when written lines are forced to stable storage (default
    /// `Always`).
    pub fsync: FsyncPolicy,
}

impl LpFileConfig {
    /// Defaults for `target`.
    pub fn new(target: LpTarget) -> LpFileConfig {
        LpFileConfig {
            target,
            batch_max_bytes: 64 * 1024,
            flush_interval: Duration::from_secs(1),
            fsync: FsyncPolicy::Always,
        }
    }
}

/// Figures of the line-protocol file output.
#[derive(Debug, Default)]
pub struct LpFileStats {
    /// Lines written (a file: and synced per the fsync policy; a stream: and flushed).
    pub lines_written: AtomicU64,
    /// Bytes written.
    pub bytes_written: AtomicU64,
    /// Failed writes. A file: the batch was refused and not acknowledged (the collectors
    /// resend it). A stream: the buffered lines were discarded (lost for it only).
    pub write_errors: AtomicU64,
}

struct StreamState {
    out: Unblock<Box<dyn io::Write + Send>>,
    buf: Vec<u8>,
}

enum Sink {
    /// Stdout, a pipe, a device: best effort.
    Stream(smol::lock::Mutex<StreamState>),
    /// The file and the length of its whole lines (where the next write goes).
    File {
        file: Arc<File>,
        len: smol::lock::Mutex<u64>,
    },
}

/// The line-protocol file/stdout output.
pub struct LpFileOutput {
    config: LpFileConfig,
    sink: Sink,
    stats: Arc<LpFileStats>,
}

impl std::fmt::Debug for LpFileOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LpFileOutput")
            .field("target", &self.config.target)
            .finish_non_exhaustive()
    }
}

impl LpFileOutput {
    /// Opens the file (created if missing; a partial last line is cut off) or stdout.
    pub fn open(config: LpFileConfig) -> Result<LpFileOutput, OutputError> {
        let stream = |out: Box<dyn io::Write + Send>| {
            Sink::Stream(smol::lock::Mutex::new(StreamState {
                out: Unblock::new(out),
                buf: Vec::with_capacity(config.batch_max_bytes.min(1 << 20)),
            }))
        };
        let sink = match &config.target {
            LpTarget::Stdout => stream(Box::new(io::stdout())),
            LpTarget::File(path) => {
                let named = |e| OutputError::File(path.clone(), e);
                let mut file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(named)?;
                if !file.metadata().map_err(named)?.is_file() {
                    // A FIFO, a terminal, /dev/stdout: written like stdout.
                    return Ok(LpFileOutput {
                        sink: stream(Box::new(file)),
                        config,
                        stats: Arc::new(LpFileStats::default()),
                    });
                }
                let len = whole_lines_len(&mut file).map_err(named)?;
                let on_disk = file.metadata().map_err(named)?.len();
                if len < on_disk {
                    file.set_len(len).map_err(named)?;
                    warning!(
                        "line protocol output {}: cut off a partial last line ({} bytes)",
                        path.display(),
                        on_disk - len
                    );
                }
                Sink::File {
                    file: Arc::new(file),
                    len: smol::lock::Mutex::new(len),
                }
            }
        };
        Ok(LpFileOutput {
            config,
            sink,
            stats: Arc::new(LpFileStats::default()),
        })
    }

    /// Its figures.
    pub fn stats(&self) -> &Arc<LpFileStats> {
        &self.stats
    }

    /// Whether this output holds back acknowledgements until its lines are written
    /// (a regular file: yes; stdout, a pipe or a device: no, see the module docs).
    pub fn is_durable(&self) -> bool {
        matches!(self.sink, Sink::File { .. })
    }

    /// Hands over `\n`-terminated lines. A file: `Ok` once they are written and synced
    /// per the fsync policy; on `Err` the file is as before. A stream: buffered; written
    /// when the buffer reaches the batch size; errors are returned (and counted) but a
    /// caller should not hold back acknowledgements for them.
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        if lines.is_empty() {
            return Ok(());
        }
        if lines.last() != Some(&b'\n') {
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        match &self.sink {
            Sink::File { file, len } => self.append_to_file(file, len, lines).await,
            Sink::Stream(state) => {
                let mut state = state.lock().await;
                state.buf.extend_from_slice(lines);
                if state.buf.len() >= self.config.batch_max_bytes {
                    self.write_stream(&mut state).await?;
                }
                Ok(())
            }
        }
    }

    async fn append_to_file(
        &self,
        file: &Arc<File>,
        len: &smol::lock::Mutex<u64>,
        lines: &[u8],
    ) -> Result<(), OutputError> {
        let mut len = len.lock().await;
        let start = *len;
        // Written (and fsynced) on a blocking thread, from a copy: the ingest task goes
        // on with the next part meanwhile (a part is megabytes; copying it costs a
        // fraction of writing it into the page cache).
        let fsync = self.config.fsync == FsyncPolicy::Always;
        let (file_w, bytes) = (Arc::clone(file), lines.to_vec());
        let result = smol::unblock(move || {
            file_w.write_all_at(&bytes, start)?;
            if fsync {
                file_w.sync_data()?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = result {
            // Whole lines only: cut off what part of the batch got in.
            let _ = file.set_len(start);
            self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            return Err(OutputError::Io(e));
        }
        *len = start + lines.len() as u64;
        self.stats
            .lines_written
            .fetch_add(count_lines(lines), Ordering::Relaxed);
        self.stats
            .bytes_written
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// A stream: writes and flushes whatever is buffered. A file: fsyncs unless the
    /// policy is `Never` (its lines are written already).
    pub async fn flush(&self) -> Result<(), OutputError> {
        match &self.sink {
            Sink::Stream(state) => {
                let mut state = state.lock().await;
                self.write_stream(&mut state).await
            }
            Sink::File { file, len } => {
                if self.config.fsync == FsyncPolicy::Never {
                    return Ok(());
                }
                let _writes_wait = len.lock().await;
                let file = Arc::clone(file);
                smol::unblock(move || file.sync_data())
                    .await
                    .map_err(OutputError::Io)
            }
        }
    }

    async fn write_stream(&self, state: &mut StreamState) -> Result<(), OutputError> {
        if state.buf.is_empty() {
            return Ok(());
        }
        let StreamState { out, buf } = state;
        let result = async {
            out.write_all(buf).await?;
            out.flush().await
        }
        .await;
        let lines = count_lines(buf);
        let bytes = buf.len() as u64;
        buf.clear();
        match result {
            Ok(()) => {
                self.stats.lines_written.fetch_add(lines, Ordering::Relaxed);
                self.stats.bytes_written.fetch_add(bytes, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
                Err(OutputError::Io(e))
            }
        }
    }

    /// Until `shutdown` is closed or receives a message: a stream is flushed every
    /// `flush_interval`; a file with `Interval(d)` is fsynced every `d`. Then flushes
    /// (or fsyncs) once more and returns.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let every = match (&self.sink, self.config.fsync) {
            (Sink::Stream(_), _) => Some(self.config.flush_interval),
            (Sink::File { .. }, FsyncPolicy::Interval(d)) => Some(d),
            (Sink::File { .. }, _) => None,
        };
        loop {
            let tick = async {
                match every {
                    Some(d) => Timer::after(d).await,
                    None => std::future::pending().await,
                };
                true
            };
            let stop = async {
                let _ = shutdown.recv().await;
                false
            };
            let keep_going = smol::future::or(stop, tick).await;
            if let Err(e) = self.flush().await {
                error!("line protocol output: {e}");
            }
            if !keep_going {
                return Ok(());
            }
        }
    }
}

/// The length of `file` up to and including its last newline (0 when empty). A
/// non-empty file whose last `MAX_PARTIAL_LINE` bytes hold no newline is refused rather
/// than cut: it is probably not a line-protocol file.
fn whole_lines_len(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let tail_len = len.min(MAX_PARTIAL_LINE);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(len - tail_len))?;
    file.read_exact(&mut tail)?;
    match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => Ok(len - tail_len + i as u64 + 1),
        None if len == 0 => Ok(0),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "no line end in its last {tail_len} bytes: not a line-protocol file? (refusing to cut it)"
            ),
        )),
    }
}
