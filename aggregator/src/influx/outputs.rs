//! All durable outputs together: what the aggregator hands each stored frame's lines
//! (InfluxDB outputs, the `--lp-out` file) and samples (remote write outputs,
//! [`crate::remote_write`]) to.
//!
//! # All or nothing
//! Frames are acknowledged only when every durable output (each InfluxDB and remote
//! write output's spool, an `--lp-out` file) holds them. When one output refuses, the
//! frames are not acknowledged and the collectors send them again — so the other
//! outputs must not keep the lines either, or they would hold them once more after
//! every resend (an `--lp-out` file with the same lines over and over, a spool filling
//! with copies). [`LineOutputs::submit_rendered`] therefore goes in two steps: each
//! spool *stages* its part, lines or samples (written, invisible to its delivery task,
//! see [`crate::spool::Staged`]) and syncs it; then the file is appended and synced;
//! only when all of that worked are the staged records published. Any failure drops the staged lines again, so a refused batch
//! leaves no trace in any output. The file comes last because an appended line may be
//! seen at once by a reader of the file (`tail -f`), while staged spool records are seen
//! by nobody. Stdout is not durable: it is written last, best effort.

use std::sync::atomic::Ordering;

use smol::channel::Receiver;

use crate::influx::lp_file::LpFileOutput;
use crate::influx::output::{InfluxOutput, OutputError};
use crate::log::error;
use crate::remote_write::RemoteWriteOutput;

/// Any combination of InfluxDB outputs, remote write outputs and one line-protocol
/// file/stdout output.
#[derive(Debug, Default)]
pub struct LineOutputs {
    influx: Vec<InfluxOutput>,
    remote_write: Vec<RemoteWriteOutput>,
    lp: Option<LpFileOutput>,
    /// One hand-over at a time (a spool stages one record at a time).
    gate: smol::lock::Mutex<()>,
}

impl LineOutputs {
    /// Combines the given outputs.
    pub fn new(influx: Vec<InfluxOutput>, lp: Option<LpFileOutput>) -> LineOutputs {
        LineOutputs {
            influx,
            remote_write: Vec::new(),
            lp,
            gate: smol::lock::Mutex::new(()),
        }
    }

    /// Adds remote write outputs (they take the samples of
    /// [`LineOutputs::submit_rendered`]).
    pub fn with_remote_write(mut self, outputs: Vec<RemoteWriteOutput>) -> LineOutputs {
        self.remote_write = outputs;
        self
    }

    /// True when there is no output at all (then there is nothing to render).
    pub fn is_empty(&self) -> bool {
        !self.wants_lines() && !self.wants_samples()
    }

    /// Some output takes line protocol (an InfluxDB output or `--lp-out`).
    pub fn wants_lines(&self) -> bool {
        !self.influx.is_empty() || self.lp.is_some()
    }

    /// Some output takes samples (a remote write output).
    pub fn wants_samples(&self) -> bool {
        !self.remote_write.is_empty()
    }

    /// The remote write outputs (for their stats).
    pub fn remote_write(&self) -> &[RemoteWriteOutput] {
        &self.remote_write
    }

    /// The InfluxDB outputs (for their stats).
    pub fn influx(&self) -> &[InfluxOutput] {
        &self.influx
    }

    /// The file/stdout output, if any.
    pub fn lp(&self) -> Option<&LpFileOutput> {
        self.lp.as_ref()
    }

    /// The most bytes of lines (or of samples) one [`LineOutputs::submit_rendered`]
    /// should carry: an eighth of the smallest spool, so that a batch plus the one frame
    /// that may overshoot it fits in any spool as one record (`spool_max_bytes` is at
    /// least 1 MiB, a frame's lines or samples a few hundred KiB at most). Unbounded
    /// without spools.
    pub fn max_batch_bytes(&self) -> usize {
        let influx = self.influx.iter().map(|o| o.config().spool.max_bytes);
        let remote = self.remote_write.iter().map(|o| o.config().spool.max_bytes);
        influx
            .chain(remote)
            .map(|b| b / 8)
            .min()
            .map_or(usize::MAX, |b| usize::try_from(b).unwrap_or(usize::MAX))
    }

    /// Hands `\n`-terminated lines to every output, all or nothing (see the module
    /// docs). `Ok` means every durable output holds them, as durable as its fsync policy
    /// says: the frames may be acknowledged. `Err` (the first output's error) means no
    /// output kept them: do not acknowledge; the collectors resend.
    ///
    /// Stdout is not a durable path: its write errors (e.g. a closed pipe) do not block
    /// acknowledgements; they are counted in
    /// [`LpFileStats::write_errors`](crate::influx::LpFileStats::write_errors) and logged
    /// (the first, then every 1000th). Input that is not whole lines is an error.
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        self.submit_rendered(lines, b"").await
    }

    /// Like [`LineOutputs::submit`], with the same frames' samples for the remote
    /// write outputs ([`crate::remote_write::samples`]): `Ok` means every InfluxDB
    /// spool and the file hold `lines` and every remote write spool holds `samples`;
    /// `Err` means none kept anything. Either may be empty when no output wants it.
    pub async fn submit_rendered(&self, lines: &[u8], samples: &[u8]) -> Result<(), OutputError> {
        let lines_go = !lines.is_empty() && self.wants_lines();
        let samples_go = !samples.is_empty() && self.wants_samples();
        if !lines_go && !samples_go {
            return Ok(());
        }
        if (lines_go && lines.last() != Some(&b'\n'))
            || (samples_go && samples.last() != Some(&b'\n'))
        {
            return Err(OutputError::InvalidLines("must end with a newline"));
        }
        let _one_at_a_time = self.gate.lock().await;
        // Dropping the staged records on any early return takes them back out of the
        // spools.
        let mut staged = Vec::with_capacity(self.influx.len());
        if lines_go {
            for output in &self.influx {
                staged.push(output.stage(lines)?);
            }
        }
        let mut staged_samples = Vec::with_capacity(self.remote_write.len());
        if samples_go {
            for output in &self.remote_write {
                staged_samples.push(output.stage(samples)?);
            }
        }
        for s in &staged {
            s.sync().await?;
        }
        for s in &staged_samples {
            s.sync().await?;
        }
        if lines_go && let Some(lp) = self.lp.as_ref().filter(|lp| lp.is_durable()) {
            lp.submit(lines).await?;
        }
        for s in staged {
            s.publish();
        }
        for s in staged_samples {
            s.publish();
        }
        if lines_go
            && let Some(lp) = self.lp.as_ref().filter(|lp| !lp.is_durable())
            && let Err(e) = lp.submit(lines).await
        {
            let errors = lp.stats().write_errors.load(Ordering::Relaxed);
            if errors % 1000 == 1 {
                error!("line protocol output: {e} ({errors} write errors so far)");
            }
        }
        Ok(())
    }

    /// Hands `lines` to the InfluxDB outputs only (not `--lp-out`), best effort: the
    /// aggregator's own figures ([`crate::self_lines`]), which no collector resends.
    /// Waits for the hand-over gate like [`LineOutputs::submit`], so it never makes a
    /// batch of frames fail as busy. Returns the first error.
    pub async fn submit_to_influx(&self, lines: &[u8]) -> Result<(), OutputError> {
        let _one_at_a_time = self.gate.lock().await;
        let mut result = Ok(());
        for output in &self.influx {
            if let Err(e) = output.submit(lines).await
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    /// Runs every output's task until `shutdown` closes; each then flushes within its
    /// own bound. Returns the first error, after all have finished.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let executor = smol::LocalExecutor::new();
        let mut tasks = Vec::new();
        for output in &self.influx {
            tasks.push(executor.spawn(output.run(shutdown.clone())));
        }
        for output in &self.remote_write {
            tasks.push(executor.spawn(output.run(shutdown.clone())));
        }
        if let Some(lp) = &self.lp {
            tasks.push(executor.spawn(lp.run(shutdown.clone())));
        }
        drop(shutdown);
        executor
            .run(async {
                let mut first_error = None;
                for task in tasks {
                    if let Err(e) = task.await {
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            })
            .await
    }
}
