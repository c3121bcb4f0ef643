//! All line-protocol outputs together: what the aggregator hands each stored frame's
//! lines to.

use std::sync::atomic::Ordering;

use smol::channel::Receiver;

use crate::influx::lp_file::LpFileOutput;
use crate::influx::output::{InfluxOutput, OutputError};

/// Any combination of InfluxDB outputs and one line-protocol file/stdout output.
#[derive(Debug, Default)]
pub struct LineOutputs {
    influx: Vec<InfluxOutput>,
    lp: Option<LpFileOutput>,
}

impl LineOutputs {
    /// Combines the given outputs.
    pub fn new(influx: Vec<InfluxOutput>, lp: Option<LpFileOutput>) -> LineOutputs {
        LineOutputs { influx, lp }
    }

    /// True when there is no output at all (then there is nothing to render).
    pub fn is_empty(&self) -> bool {
        self.influx.is_empty() && self.lp.is_none()
    }

    /// The InfluxDB outputs (for their stats).
    pub fn influx(&self) -> &[InfluxOutput] {
        &self.influx
    }

    /// The file/stdout output, if any.
    pub fn lp(&self) -> Option<&LpFileOutput> {
        self.lp.as_ref()
    }

    /// Hands `\n`-terminated lines to every output. `Ok` means every InfluxDB output
    /// spooled them (durable as its fsync policy says, see [`InfluxOutput::submit`]): the
    /// frames may be acknowledged. On an InfluxDB output's error the other outputs still
    /// get the lines, and the first error is returned: do not acknowledge (the collector
    /// resends; InfluxDB overwrites the duplicate points).
    ///
    /// The file/stdout output is not a durable path, so its write errors (e.g. a closed
    /// pipe) do not block acknowledgements: they are counted in
    /// [`LpFileStats::write_errors`](crate::influx::LpFileStats::write_errors) and logged
    /// (the first, then every 1000th). Input that is not whole lines is an error.
    pub async fn submit(&self, lines: &[u8]) -> Result<(), OutputError> {
        let mut first_error = None;
        for output in &self.influx {
            if let Err(e) = output.submit(lines).await {
                first_error.get_or_insert(e);
            }
        }
        if let Some(lp) = &self.lp {
            match lp.submit(lines).await {
                Ok(()) => {}
                Err(e @ OutputError::InvalidLines(_)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    let errors = lp.stats().write_errors.load(Ordering::Relaxed);
                    if errors % 1000 == 1 {
                        eprintln!(
                            "pimon-aggregator: line protocol output: {e} ({errors} write errors so far)"
                        );
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs every output's task until `shutdown` closes; each then flushes within its
    /// own bound. Returns the first error, after all have finished.
    pub async fn run(&self, shutdown: Receiver<()>) -> Result<(), OutputError> {
        let executor = smol::LocalExecutor::new();
        let mut tasks = Vec::new();
        for output in &self.influx {
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
