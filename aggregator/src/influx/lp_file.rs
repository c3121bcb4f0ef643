//! The `--lp-out PATH|-` output: plain line protocol appended to a file, or written to
//! stdout (`-`). For watching what the aggregator produces and for piping into other
//! tools (e.g. `influx write`, `telegraf --input-stdin`).
//!
//! Lines are buffered and written (and flushed) per batch: when `batch_max_bytes` are
//! buffered, at least every `flush_interval`, and at shutdown. This output is **not** a
//! durable path: `submit` returns once the lines are in the buffer. Writes happen on a
//! blocking thread (`smol::Unblock`), so a slow reader of stdout slows this output but
//! never stalls the executor; the buffer is bounded by `batch_max_bytes` (a `submit`
//! waits for the flush when it is full).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use smol::Timer;
use smol::Unblock;
use smol::channel::Receiver;
use smol::io::AsyncWriteExt;

use crate::influx::output::OutputError;

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
    /// Buffer size that triggers a write (default 64 KiB).
    pub batch_max_bytes: usize,
    /// Buffered lines are written at least this often (default 1 s).
    pub flush_interval: Duration,
}

impl LpFileConfig {
    /// Defaults for `target`.
    pub fn new(target: LpTarget) -> LpFileConfig {
        LpFileConfig {
            target,
            batch_max_bytes: 64 * 1024,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// Figures of the line-protocol file output.
#[derive(Debug, Default)]
pub struct LpFileStats {
    /// Lines written (and flushed).
    pub lines_written: AtomicU64,
    /// Bytes written (and flushed).
    pub bytes_written: AtomicU64,
    /// Write or flush errors (the batch is discarded: this output keeps no backlog).
    pub write_errors: AtomicU64,
}

struct LpState {
    out: Unblock<Box<dyn Write + Send>>,
    buf: Vec<u8>,
}

/// The line-protocol file/stdout output.
pub struct LpFileOutput {
    config: LpFileConfig,
    state: smol::lock::Mutex<LpState>,
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
    /// Opens the file (append, create) or stdout.
    pub fn open(config: LpFileConfig) -> Result<LpFileOutput, OutputError> {
        let out: Box<dyn Write + Send> = match &config.target {
            LpTarget::Stdout => Box::new(io::stdout()),
            LpTarget::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(OutputError::Io)?,
            ),
        };
        Ok(LpFileOutput {
            state: smol::lock::Mutex::new(LpState {
                out: Unblock::new(out),
                buf: Vec::with_capacity(config.batch_max_bytes.min(1 << 20)),
            }),
            config,
            stats: Arc::new(LpFileStats::default()),
        })
    }

    /// Its figures.
    pub fn stats(&self) -> &Arc<LpFileStats> {
        &self.stats
    }

    /// Buffers `\n`-terminated lines; writes the buffer when it reaches the batch size.
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        if lines.is_empty() {
            return Ok(());
        }
        if lines.last() != Some(&b'\n') {
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        let mut state = self.state.lock().await;
        state.buf.extend_from_slice(lines);
        if state.buf.len() >= self.config.batch_max_bytes {
            self.write_buffer(&mut state).await?;
        }
        Ok(())
    }

    /// Writes and flushes whatever is buffered.
    pub async fn flush(&self) -> Result<(), OutputError> {
        let mut state = self.state.lock().await;
        self.write_buffer(&mut state).await
    }

    async fn write_buffer(&self, state: &mut LpState) -> Result<(), OutputError> {
        if state.buf.is_empty() {
            return Ok(());
        }
        let LpState { out, buf } = state;
        let result = async {
            out.write_all(buf).await?;
            out.flush().await
        }
        .await;
        let lines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
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

    /// Flushes every `flush_interval` until `shutdown` is closed or receives a message,
    /// then flushes once more and returns.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        loop {
            let tick = async {
                Timer::after(self.config.flush_interval).await;
                true
            };
            let stop = async {
                let _ = shutdown.recv().await;
                false
            };
            let keep_going = smol::future::or(stop, tick).await;
            if let Err(e) = self.flush().await {
                eprintln!("pimon-aggregator: line protocol output: {e}");
            }
            if !keep_going {
                return Ok(());
            }
        }
    }
}
