//! The running aggregator: sockets, tasks and shutdown.
//!
//! ```text
//! UDP socket ─ receive task ─┐  batches (bounded queue: back-pressure into the
//! UDP socket ─ receive task ─┼─▶ kernel's receive buffer)
//!                            ▼
//!                      ingest task ── lines, samples ──▶ outputs (InfluxDB and remote
//!                            │                            write spools, --lp-out file)
//!                            │  takes every batch queued (up to 9) as one group: one
//!                            │  output write and fsync for all of them (group commit);
//!                            │  while the outputs write a part, the next part is
//!                            │  ingested (pipelining: one part in flight, sealed)
//!                            │  after every output accepted the part (all or nothing):
//!                            └── acks ──▶ back out of the socket the frame came in on
//! HTTP task ── /metrics: streamed a piece at a time, each rendered on a blocking thread
//!              under the ingest lock (no copy of the store, no whole body); status
//!              page: snapshot under the ingest lock, render on a blocking thread;
//!              status task: the status page's history every step
//! housekeeping task: stale series, forgotten nodes, key file changes and SIGHUP
//! ```
//!
//! A part in flight is committed, and its acks sent, only once every output accepted
//! it; if one refused it, the part ingested after it is rolled back with it and neither
//! is acked ([`Ingest::seal_batch`]): the collectors resend both.
//!
//! With a state directory ([`crate::persist`]), the node state saved by the last run is
//! loaded at bind; the ingest task journals what must survive a crash before a part's
//! acks (the nodes' state as those acks answer it, not as the next part changed it),
//! and snapshots every node now and then (with no part open: the pipeline is drained
//! for it) and at shutdown.
//!
//! Shutdown (mini-redis style): when the `shutdown` future given to [`Server::run`]
//! completes, the stop channel's sender is dropped; the receive tasks, the HTTP server and
//! the housekeeping task see the channel close and end. The ingest task drains what was
//! already received (storing, submitting and acking it), then the outputs are told to
//! stop and flush (InfluxDB outputs deliver within their shutdown timeout and leave the
//! rest in the durable spool). `run` returns when all of that is done.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pimon_protocol::MAX_DATAGRAM;
use pimon_protocol::text::prometheus::Format;
use smol::Async;
use smol::channel::{self, Receiver, Sender};
use smol::future::FutureExt;

use crate::ack_limit::AckLimiter;
use crate::config::{self, Config};
use crate::http::{self, HttpStats, MetricsProvider, Scrape};
use crate::influx::{
    InfluxOutput, InfluxStats, LineOutputs, LpFileOutput, LpFileStats, OutputError,
};
use crate::ingest::{Ingest, IngestConfig};
use crate::ingress::push::{PushMethod, PushRequest, Reply};
use crate::ingress::runtime::Ingress;
use crate::keys::{KeyFile, KeyFileError, KeyRing};
use crate::log::{error, info, warning};
use crate::persist::{self, Saver, StateFile};
use crate::prom::{self, Exposition, PIECE_BYTES, Sources, StoreFigures, UdpFigures};
use crate::rejects::RejectLog;
use crate::remote_write::{RemoteWriteOutput, RemoteWriteStats};
use crate::stats::AggregatorStats;
use crate::status::Status;
use crate::store::{Snapshot, Store};
use crate::udp::{self, Batch, Listener};

/// How often stale series are dropped and the key file is checked for changes.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(2);
/// Batches waiting for the ingest task.
const QUEUE_BATCHES: usize = 8;

/// Why the server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// A socket could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The key file could not be loaded.
    Keys(KeyFileError),
    /// An output could not be opened.
    Output(OutputError),
    /// Invalid configuration.
    Config(config::ConfigError),
    /// The state directory could not be opened.
    State(std::path::PathBuf, std::io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            ServerError::Keys(e) => write!(f, "key file: {e}"),
            ServerError::Output(e) => write!(f, "output: {e}"),
            ServerError::Config(e) => write!(f, "{e}"),
            ServerError::State(d, e) => {
                write!(f, "state directory {} (--state-dir): {e}", d.display())
            }
        }
    }
}

impl std::error::Error for ServerError {}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u128::from(u64::MAX)) as u64)
}

fn lock(m: &Mutex<Ingest>) -> MutexGuard<'_, Ingest> {
    // A panic while holding the lock leaves consistent-enough state for statistics.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bound, ready-to-run aggregator.
pub struct Server {
    config: Config,
    listeners: Vec<Arc<Listener>>,
    http: Option<Async<TcpListener>>,
    http_addr: Option<SocketAddr>,
    ingest: Arc<Mutex<Ingest>>,
    stats: Arc<AggregatorStats>,
    outputs: Arc<LineOutputs>,
    key_file: Option<KeyFile>,
    reload_tx: Sender<()>,
    reload_rx: Receiver<()>,
    inputs: Option<Arc<Ingress>>,
    saver: Option<Saver>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("udp", &self.udp_addrs())
            .field("http", &self.http_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds every socket, loads the keys and opens the outputs.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        config::validate(&config).map_err(ServerError::Config)?;
        let mut listeners = Vec::new();
        for &addr in &config.udp {
            let l = udp::bind(addr, config.udp_receive_buffer)
                .map_err(|e| ServerError::Bind(addr, e))?;
            if config.udp_receive_buffer > 0 && l.receive_buffer < config.udp_receive_buffer {
                warning!(
                    "udp {}: receive buffer is {} bytes, asked for {}; raise the kernel's cap with `sysctl -w net.core.rmem_max={}`",
                    l.local,
                    l.receive_buffer,
                    config.udp_receive_buffer,
                    config.udp_receive_buffer
                );
            }
            listeners.push(Arc::new(l));
        }
        let (http, http_addr) = match config.http {
            Some(addr) => {
                let l = TcpListener::bind(addr).map_err(|e| ServerError::Bind(addr, e))?;
                let local = l.local_addr().map_err(|e| ServerError::Bind(addr, e))?;
                (
                    Some(Async::new(l).map_err(|e| ServerError::Bind(addr, e))?),
                    Some(local),
                )
            }
            None => (None, None),
        };
        let mut key_file = config.key_file.clone().map(KeyFile::new);
        let keys = match &mut key_file {
            Some(kf) => Some(Arc::new(kf.load().map_err(ServerError::Keys)?)),
            None => None,
        };
        let mut influx = Vec::new();
        for c in &config.influx {
            influx.push(InfluxOutput::open(c.clone()).map_err(ServerError::Output)?);
        }
        let lp = match &config.lp_out {
            Some(c) => Some(LpFileOutput::open(c.clone()).map_err(ServerError::Output)?),
            None => None,
        };
        let mut remote_write = Vec::new();
        for c in &config.remote_write {
            remote_write.push(RemoteWriteOutput::open(c.clone()).map_err(ServerError::Output)?);
        }
        let outputs = LineOutputs::new(influx, lp).with_remote_write(remote_write);
        let stats = Arc::new(AggregatorStats::default());
        let store = Store::new(config.limits, config.staleness, now_ms());
        let render_threads = thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let ingest_config = IngestConfig {
            render_lines: outputs.wants_lines(),
            render_samples: outputs.wants_samples(),
            render_chunk: render_chunk(render_threads, outputs.max_batch_bytes()),
            render_threads,
            ..config.ingest
        };
        let mut ingest = Ingest::new(store, keys, ingest_config, stats.clone());
        let saver = match config.state_path() {
            Some(dir) => {
                let (file, loaded) = StateFile::open(&dir, now_ms())
                    .map_err(|e| ServerError::State(dir.clone(), e))?;
                if let Some((aside, e)) = &loaded.damaged {
                    error!(
                        "node state in {} was damaged ({e}); moved to {}, starting without it",
                        dir.display(),
                        aside.display()
                    );
                }
                let found = loaded.nodes.len();
                let restored = persist::restore(&mut ingest.store, loaded.nodes);
                info!(
                    "node state: {restored} of {found} nodes restored from {} ({} journal entries{})",
                    dir.display(),
                    loaded.journal_entries,
                    if loaded.journal_torn_bytes > 0 {
                        format!(
                            ", a torn tail of {} bytes ignored",
                            loaded.journal_torn_bytes
                        )
                    } else {
                        String::new()
                    }
                );
                Some(Saver::new(file, stats.clone()))
            }
            None => None,
        };
        let ingest = Arc::new(Mutex::new(ingest));
        let outputs = Arc::new(outputs);
        let inputs = match config.ingress.any() {
            true => {
                let mut inputs = Ingress::new(
                    config.ingress.clone(),
                    config.limits.max_series_total,
                    outputs.clone(),
                    ingest.clone(),
                    config.ingest.precision,
                );
                inputs.bind_collectd().map_err(|problem| {
                    ServerError::Config(config::ConfigError {
                        key: "--collectd-udp".into(),
                        problem,
                    })
                })?;
                Some(Arc::new(inputs))
            }
            false => None,
        };
        let (reload_tx, reload_rx) = channel::bounded(1);
        Ok(Server {
            config,
            listeners,
            http,
            http_addr,
            ingest,
            stats,
            outputs,
            key_file,
            reload_tx,
            reload_rx,
            inputs,
            saver,
        })
    }

    /// The bound UDP addresses (ports resolved).
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local).collect()
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Sending on this re-reads the key file (SIGHUP).
    pub fn reload_handle(&self) -> Sender<()> {
        self.reload_tx.clone()
    }

    /// The aggregator's counters.
    pub fn stats(&self) -> Arc<AggregatorStats> {
        self.stats.clone()
    }

    /// The ingest state (store, keys); lock it briefly.
    pub fn ingest(&self) -> Arc<Mutex<Ingest>> {
        self.ingest.clone()
    }

    /// The pushed, scraped and collectd inputs, when any is configured.
    pub fn inputs(&self) -> Option<Arc<Ingress>> {
        self.inputs.clone()
    }

    /// Runs until `shutdown` completes, then drains, flushes and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            config,
            listeners,
            http,
            ingest,
            stats,
            outputs,
            key_file,
            reload_rx,
            reload_tx,
            inputs,
            saver,
            ..
        } = self;
        drop(reload_tx);
        let (stop_tx, stop_rx) = channel::bounded::<()>(1);
        let (batch_tx, batch_rx) = channel::bounded::<(usize, Batch)>(QUEUE_BATCHES);
        let (pool_tx, pool_rx) = channel::bounded::<Batch>(QUEUE_BATCHES + listeners.len() + 1);
        let (out_stop_tx, out_stop_rx) = channel::bounded::<()>(1);

        // The outputs' tasks run on a local executor inside this future (they are not
        // `Send`); everything else runs on smol's global executor.
        let outputs_run = outputs.run(out_stop_rx);
        let receivers: Vec<_> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                smol::spawn(receive_loop(
                    i,
                    l.clone(),
                    batch_tx.clone(),
                    pool_rx.clone(),
                    config.udp_batch,
                    stop_rx.clone(),
                ))
            })
            .collect();
        drop(batch_tx);
        let ingest_task = smol::spawn(ingest_loop(
            batch_rx,
            pool_tx,
            ingest.clone(),
            outputs.clone(),
            listeners.clone(),
            stats.clone(),
            saver,
        ));
        let housekeeping = smol::spawn(housekeeping_loop(
            ingest.clone(),
            stats.clone(),
            key_file,
            reload_rx,
            stop_rx.clone(),
            inputs.clone(),
            SelfLines {
                outputs: outputs.clone(),
                precision: config.ingest.precision,
            },
        ));
        let status = Arc::new(
            Status::new(ingest.clone(), config.status_history).with_inputs(inputs.clone()),
        );
        let status_task = http
            .is_some()
            .then(|| smol::spawn(status.clone().run(stop_rx.clone())));
        let input_tasks = match &inputs {
            Some(i) => crate::ingress::tasks::spawn(i.clone(), stop_rx.clone()),
            None => Vec::new(),
        };
        let http_task = http.map(|listener| {
            let http_stats = Arc::new(HttpStats::default());
            let provider = Arc::new(Metrics(Arc::new(MetricsState {
                status: status.clone(),
                ingest: ingest.clone(),
                stats: stats.clone(),
                udp: listeners
                    .iter()
                    .map(|l| (l.local.to_string(), l.receive_buffer as u64, l.inode))
                    .collect(),
                influx: outputs
                    .influx()
                    .iter()
                    .map(|o| (o.name().to_string(), o.stats().clone()))
                    .collect(),
                lp: outputs.lp().map(|o| o.stats().clone()),
                http: http_stats.clone(),
                remote_write: outputs
                    .remote_write()
                    .iter()
                    .map(|o| (o.name().to_string(), o.stats().clone()))
                    .collect(),
                inputs: inputs.clone(),
            })));
            let stop = stop_rx.clone();
            smol::spawn(http::serve(
                listener,
                config.http_config,
                provider,
                http_stats,
                async move {
                    let _ = stop.recv().await;
                },
            ))
        });
        drop(stop_rx);

        let main_part = async move {
            shutdown.await;
            drop(stop_tx);
            for r in receivers {
                r.await;
            }
            ingest_task.await;
            housekeeping.await;
            for t in input_tasks {
                t.await;
            }
            if let Some(t) = http_task {
                t.await;
            }
            if let Some(t) = status_task {
                t.await;
            }
            drop(out_stop_tx);
        };
        let ((), outputs_result) = smol::future::zip(main_part, outputs_run).await;
        if let Err(e) = outputs_result {
            error!("output at shutdown: {e}");
        }
        Ok(())
    }
}

/// Binds and runs until `shutdown` completes (see [`Server::run`]).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    Server::bind(config)?.run(shutdown).await
}

async fn receive_loop(
    index: usize,
    listener: Arc<Listener>,
    tx: Sender<(usize, Batch)>,
    pool: Receiver<Batch>,
    batch_max: usize,
    stop: Receiver<()>,
) {
    let stopped = || {
        let stop = stop.clone();
        async move {
            let _ = stop.recv().await;
            Err(std::io::Error::from(std::io::ErrorKind::Interrupted))
        }
    };
    loop {
        let mut batch = pool
            .try_recv()
            .unwrap_or_else(|_| Batch::with_capacity(batch_max));
        batch.clear();
        // Cancelling is safe: recv_batch only waits while it holds no datagram.
        match udp::recv_batch(&listener.socket, &mut batch, batch_max)
            .or(stopped())
            .await
        {
            Ok(_) => {
                // Waits when the ingest queue is full: back-pressure to the kernel buffer.
                let sent = tx.send((index, batch)).or(async {
                    let _ = stopped().await;
                    Err(channel::SendError((index, Batch::default())))
                });
                if sent.await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && stop.is_closed() => return,
            Err(e) => {
                warning!("udp {}: receive: {e}", listener.local);
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Acks of one batch, the last per (destination, node), and whether any of the frames
/// it answers was new (acks that confirm nothing new are rate-limited).
#[derive(Default)]
struct PendingAcks {
    bytes: Vec<u8>,
    items: Vec<(usize, SocketAddr, usize, usize)>,
    fresh: Vec<bool>,
    /// The item of each (listener, destination, node length and name): a group of
    /// batches has hundreds of acks, and a search of the items for each was quadratic.
    index: HashMap<(usize, SocketAddr, [u8; 33]), usize>,
}

impl PendingAcks {
    fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.fresh.clear();
        self.index.clear();
    }

    fn node_of(ack: &[u8]) -> &[u8] {
        // After the 16-byte preamble: node length (one byte, ≤ 32) and the node.
        let len = ack.get(16).copied().unwrap_or(0) as usize;
        ack.get(16..17 + len).unwrap_or(&[])
    }

    fn get(&self, i: usize) -> (usize, SocketAddr, &[u8]) {
        let (listener, to, start, len) = self.items[i];
        (
            listener,
            to,
            self.bytes.get(start..start + len).unwrap_or(&[]),
        )
    }

    fn push(&mut self, listener: usize, to: SocketAddr, ack: &[u8], fresh: bool) {
        let node = Self::node_of(ack);
        let mut key = [0u8; 33];
        let existing = match key.get_mut(..node.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(node);
                let next = self.items.len();
                let at = *self.index.entry((listener, to, key)).or_insert(next);
                (at < next).then_some(at)
            }
            // Longer than a node name can be: not indexed, searched for.
            None => (0..self.items.len()).find(|&i| {
                let (l, t, b) = self.get(i);
                l == listener && t == to && Self::node_of(b) == node
            }),
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(ack);
        match existing {
            Some(i) => {
                self.items[i] = (listener, to, start, ack.len());
                self.fresh[i] |= fresh;
            }
            None => {
                self.items.push((listener, to, start, ack.len()));
                self.fresh.push(fresh);
            }
        }
    }
}

/// The datagrams of a group of receive batches, in order, each with the index of the
/// listener it came in on.
struct GroupDatagrams<'g> {
    group: &'g [(usize, Batch)],
    batch: usize,
    item: usize,
}

impl<'g> Iterator for GroupDatagrams<'g> {
    type Item = (usize, &'g [u8], SocketAddr);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (index, batch) = self.group.get(self.batch)?;
            if let Some((datagram, from)) = batch.get(self.item) {
                self.item += 1;
                return Some((*index, datagram, from));
            }
            self.batch += 1;
            self.item = 0;
        }
    }
}

/// How many stored frames' lines are rendered at a time, on `threads` threads
/// ([`crate::render`]), when a part of a batch is cut at `max_part_bytes` of lines.
/// A part may pass its size by the lines of one chunk, and must still fit in the
/// smallest spool (8 parts): one chunk per 256 KiB of a part (a frame's lines are a few
/// KiB, a few hundred at the very most), 32 at most; 1 (each frame rendered as it is
/// stored) on one core or with a part under 512 KiB.
fn render_chunk(threads: usize, max_part_bytes: usize) -> usize {
    if threads <= 1 {
        return 1;
    }
    (max_part_bytes / (256 * 1024)).clamp(1, 32)
}

/// A part whose lines are with the outputs while the next part is ingested: its
/// submission (`None`: nothing to write) and its acks.
struct InFlight {
    submit: Option<smol::Task<Submitted>>,
    acks: PendingAcks,
}

/// What the outputs answered for a part, and its buffers back for the next part.
type Submitted = (Result<(), OutputError>, String, String);

/// The buffers of a finished part, for the next part to fill.
#[derive(Default)]
struct Spare {
    lines: String,
    samples: String,
    acks: PendingAcks,
}

/// What [`ingest_loop`] keeps from part to part.
struct IngestLoop {
    ingest: Arc<Mutex<Ingest>>,
    listeners: Vec<Arc<Listener>>,
    stats: Arc<AggregatorStats>,
    saver: Option<Saver>,
    ack_limit: AckLimiter,
    failures: u64,
}

impl IngestLoop {
    /// Waits for the outputs' answer for the sealed part `part`, then [`settle`]s it.
    ///
    /// [`settle`]: IngestLoop::settle
    async fn finish(&mut self, part: InFlight, spare: &mut Spare) -> bool {
        let answered = match part.submit {
            Some(task) => Some(task.await),
            None => None,
        };
        self.settle(answered, part.acks, spare).await
    }

    /// With the outputs' answer for the sealed part (`None`: it had nothing to write),
    /// commits it and sends its `acks`, or rolls it back (and the part ingested after
    /// it, if any: its datagrams are not acked either, and the collectors resend both).
    /// Returns whether the outputs accepted it. Its buffers go back to `spare`.
    async fn settle(
        &mut self,
        answered: Option<Submitted>,
        mut acks: PendingAcks,
        spare: &mut Spare,
    ) -> bool {
        let accepted = match answered {
            Some((accepted, lines, samples)) => {
                (spare.lines, spare.samples) = (lines, samples);
                accepted
            }
            None => Ok(()),
        };
        // State that must survive a crash before these acks (a new boot id, a new
        // timeline segment); if it cannot be written, the part is kept but not acked.
        let state_saved = match (&accepted, &mut self.saver) {
            (Ok(()), Some(s)) => s.save_urgent(&self.ingest).await,
            _ => true,
        };
        {
            let mut ing = lock(&self.ingest);
            match &accepted {
                Ok(()) => ing.commit_sealed(),
                Err(_) => ing.rollback_sealed(),
            }
        }
        if let Some(s) = &mut self.saver {
            s.snapshot_if_due(&self.ingest, false).await;
        }
        let accepted = match accepted {
            Ok(()) if !state_saved => true,
            Ok(()) => {
                let now = now_ms();
                for i in 0..acks.items.len() {
                    let (l, to, bytes) = acks.get(i);
                    let Some(listener) = self.listeners.get(l) else {
                        continue;
                    };
                    if !acks.fresh[i] && !self.ack_limit.allow(to, now) {
                        AggregatorStats::inc(&self.stats.acks_limited_rate);
                        continue;
                    }
                    match listener.socket.send_to(bytes, to).await {
                        Ok(_) => AggregatorStats::inc(&self.stats.acks_sent),
                        Err(_) => AggregatorStats::inc(&self.stats.ack_send_errors),
                    }
                }
                true
            }
            Err(e) => {
                AggregatorStats::inc(&self.stats.output_failures);
                if self.failures.is_multiple_of(100) {
                    error!(
                        "outputs refused a batch ({e}); not acked, collectors will resend ({} refused so far)",
                        self.failures + 1
                    );
                }
                self.failures += 1;
                false
            }
        };
        acks.clear();
        spare.acks = acks;
        accepted
    }
}

async fn ingest_loop(
    rx: Receiver<(usize, Batch)>,
    pool: Sender<Batch>,
    ingest: Arc<Mutex<Ingest>>,
    outputs: Arc<LineOutputs>,
    listeners: Vec<Arc<Listener>>,
    stats: Arc<AggregatorStats>,
    saver: Option<Saver>,
) {
    let mut lines = String::new();
    let mut samples = String::new();
    let mut ack = [0u8; MAX_DATAGRAM];
    let mut acks = PendingAcks::default();
    // The buffers of the part before, back from the outputs.
    let mut spare = Spare::default();
    let mut rejects = RejectLog::default();
    let mut state = IngestLoop {
        ingest: ingest.clone(),
        listeners,
        stats: stats.clone(),
        saver,
        ack_limit: AckLimiter::default(),
        failures: 0,
    };
    // Pipelining: while the outputs write, fsync and answer for one part (its acks
    // wait for that), the next part is ingested, if one is already there.
    let mut in_flight: Option<InFlight> = None;
    // A receive batch is handed to the outputs in parts of at most this many bytes of
    // lines or samples (plus the one frame that crosses the bound): a part must fit in
    // every spool.
    let max_part_bytes = outputs.max_batch_bytes();
    let mut group: Vec<(usize, Batch)> = Vec::with_capacity(QUEUE_BATCHES + 1);
    loop {
        // With a part in flight, whichever comes first: the next receive batch (it is
        // ingested while the part is written), or the outputs' answer (the part is
        // finished, its acks sent, before waiting on).
        let first = match in_flight.as_mut().and_then(|part| part.submit.as_mut()) {
            Some(task) => {
                let woke = async { Ok::<_, Submitted>(rx.recv().await) }
                    .or(async { Err(task.await) })
                    .await;
                match woke {
                    Ok(next) => next,
                    Err(answered) => {
                        if let Some(part) = in_flight.take() {
                            state.settle(Some(answered), part.acks, &mut spare).await;
                        }
                        rx.recv().await
                    }
                }
            }
            None => rx.recv().await,
        };
        let Ok(first) = first else {
            break;
        };
        group.push(first);
        // Group commit: the batches that queued up meanwhile (while the last part was
        // written and fsynced) join this one, so one output write and one fsync cover
        // all of them; under load the parts grow instead of the queue.
        while group.len() <= QUEUE_BATCHES
            && let Ok(next) = rx.try_recv()
        {
            group.push(next);
        }
        let mut datagrams = GroupDatagrams {
            group: &group,
            batch: 0,
            item: 0,
        };
        let mut more = true;
        while more {
            more = false;
            lines.clear();
            acks.clear();
            {
                let mut ing = lock(&ingest);
                // Lines go to the render threads only when receive batches queued up
                // while the last group was handled: the ingest thread is behind. A
                // thread that keeps up renders as it stores (less CPU in all).
                let behind = group.len() > 1;
                let in_group = group.iter().map(|(_, b)| b.len()).sum::<usize>();
                ing.begin_batch_of(if behind { in_group } else { 0 });
                let now = now_ms();
                for (index, datagram, from) in datagrams.by_ref() {
                    stats.datagrams_received.fetch_add(1, Ordering::Relaxed);
                    stats
                        .bytes_received
                        .fetch_add(datagram.len() as u64, Ordering::Relaxed);
                    let outcome = ing.ingest(datagram, from, now, &mut lines, &mut ack);
                    if let Some(line) = rejects.note(outcome.verdict, from, Instant::now()) {
                        warning!("{line}");
                    }
                    if let Some(event) = &outcome.event
                        && let Some(line) = rejects.event(event, Instant::now())
                    {
                        warning!("{line}");
                    }
                    if outcome.ack_len > 0 {
                        let fresh = outcome.verdict == crate::ingest::Verdict::Stored;
                        acks.push(index, from, &ack[..outcome.ack_len], fresh);
                    }
                    if lines.len() >= max_part_bytes || ing.samples_len() >= max_part_bytes {
                        more = true;
                        break;
                    }
                }
                ing.finish_lines(&mut lines);
                ing.take_samples(&mut samples);
            }
            // The part before this one first: if the outputs refused it, this part,
            // ingested on top of it, is rolled back with it.
            if let Some(part) = in_flight.take()
                && !state.finish(part, &mut spare).await
            {
                continue;
            }
            lock(&ingest).seal_batch();
            let submit = if (lines.is_empty() && samples.is_empty()) || outputs.is_empty() {
                None
            } else {
                let part_lines = std::mem::replace(&mut lines, std::mem::take(&mut spare.lines));
                let part_samples =
                    std::mem::replace(&mut samples, std::mem::take(&mut spare.samples));
                let outputs = outputs.clone();
                Some(smol::spawn(async move {
                    let accepted = outputs
                        .submit_rendered(part_lines.as_bytes(), part_samples.as_bytes())
                        .await;
                    (accepted, part_lines, part_samples)
                }))
            };
            let part = InFlight {
                submit,
                acks: std::mem::replace(&mut acks, std::mem::take(&mut spare.acks)),
            };
            // The next part is ingested while this one is written (the loop's top
            // waits for whichever comes first), but not when a snapshot of every node
            // is due: it needs no batch open.
            let snapshot_due = state.saver.as_ref().is_some_and(Saver::snapshot_due);
            if !snapshot_due && part.submit.is_some() {
                in_flight = Some(part);
                // Lets the submission start its write before this task goes on.
                smol::future::yield_now().await;
            } else {
                state.finish(part, &mut spare).await;
            }
        }
        for (_, batch) in group.drain(..) {
            let _ = pool.try_send(batch);
        }
    }
    if let Some(part) = in_flight.take() {
        state.finish(part, &mut spare).await;
    }
    if let Some(s) = &mut state.saver {
        s.snapshot_if_due(&ingest, true).await;
    }
}

fn reload_keys(
    ingest: &Mutex<Ingest>,
    stats: &AggregatorStats,
    result: Result<KeyRing, KeyFileError>,
) {
    match result {
        Ok(ring) => {
            lock(ingest).set_keys(Some(Arc::new(ring)));
            AggregatorStats::inc(&stats.key_reloads);
        }
        Err(e) => {
            error!("key file not reloaded, previous keys stay: {e}");
            AggregatorStats::inc(&stats.key_reload_failures);
        }
    }
}

/// Where and how the aggregator writes its own figures ([`crate::self_lines`]).
struct SelfLines {
    outputs: Arc<LineOutputs>,
    precision: pimon_protocol::text::influx::Precision,
}

async fn housekeeping_loop(
    ingest: Arc<Mutex<Ingest>>,
    stats: Arc<AggregatorStats>,
    mut key_file: Option<KeyFile>,
    reload: Receiver<()>,
    stop: Receiver<()>,
    inputs: Option<Arc<Ingress>>,
    self_lines: SelfLines,
) {
    let mut snap = Snapshot::default();
    let mut lines = String::new();
    let mut last_self_lines: Option<Instant> = None;
    enum Wake {
        Tick,
        Reload,
        Stop,
    }
    loop {
        let wake = async {
            smol::Timer::after(HOUSEKEEPING_EVERY).await;
            Wake::Tick
        }
        .or(async {
            match reload.recv().await {
                Ok(()) => Wake::Reload,
                Err(_) => std::future::pending().await,
            }
        })
        .or(async {
            let _ = stop.recv().await;
            Wake::Stop
        })
        .await;
        match wake {
            Wake::Stop => return,
            Wake::Reload => {
                if let Some(kf) = &mut key_file {
                    let result = kf.load();
                    reload_keys(&ingest, &stats, result);
                }
            }
            Wake::Tick => {
                if let Some(kf) = &mut key_file
                    && let Some(result) = kf.reload_if_changed()
                {
                    reload_keys(&ingest, &stats, result);
                }
                if let Some(i) = &inputs {
                    i.housekeeping(now_ms());
                }
                let swept = lock(&ingest).store.sweep(now_ms());
                stats
                    .nodes_forgotten
                    .fetch_add(swept.forgotten as u64, Ordering::Relaxed);
                stats
                    .young_nodes_forgotten_pressure
                    .fetch_add(swept.young_under_pressure as u64, Ordering::Relaxed);
                let due = last_self_lines.is_none_or(|t| t.elapsed() >= crate::self_lines::EVERY);
                if due && !self_lines.outputs.influx().is_empty() {
                    last_self_lines = Some(Instant::now());
                    lock(&ingest).store.snapshot(now_ms(), &mut snap);
                    lines.clear();
                    if crate::self_lines::render(&mut lines, &snap, &stats, self_lines.precision)
                        .is_ok()
                    {
                        // Best effort: figures missed now are written again in 10 s.
                        if self_lines
                            .outputs
                            .submit_to_influx(lines.as_bytes())
                            .await
                            .is_ok()
                        {
                            let n = lines.bytes().filter(|&b| b == b'\n').count() as u64;
                            stats.self_lines.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

/// What `/metrics` and the status page read.
struct MetricsState {
    status: Arc<Status>,
    ingest: Arc<Mutex<Ingest>>,
    stats: Arc<AggregatorStats>,
    /// (listen address, receive buffer, socket inode).
    udp: Vec<(String, u64, Option<u64>)>,
    influx: Vec<(String, Arc<InfluxStats>)>,
    lp: Option<Arc<LpFileStats>>,
    http: Arc<HttpStats>,
    remote_write: Vec<(String, Arc<RemoteWriteStats>)>,
    inputs: Option<Arc<Ingress>>,
}

impl MetricsState {
    /// The aggregator's own figures and the end of the exposition.
    fn render_tail(&self, out: &mut String, format: Format, store: StoreFigures) {
        let udp: Vec<UdpFigures> = self
            .udp
            .iter()
            .map(|(listen, buf, inode)| UdpFigures {
                listen: listen.clone(),
                receive_buffer_bytes: *buf,
                kernel_drops: inode.and_then(udp::kernel_drops),
            })
            .collect();
        let influx: Vec<(String, &InfluxStats)> =
            self.influx.iter().map(|(n, s)| (n.clone(), &**s)).collect();
        let remote_write: Vec<(String, &RemoteWriteStats)> = self
            .remote_write
            .iter()
            .map(|(n, s)| (n.clone(), &**s))
            .collect();
        let sources = Sources {
            stats: Some(&self.stats),
            http: Some(&self.http),
            udp: &udp,
            influx: &influx,
            lp: self.lp.as_deref(),
            remote_write: &remote_write,
            build: Some((env!("CARGO_PKG_VERSION"), env!("PIMON_GIT_COMMIT"))),
            ingress: self.inputs.as_deref(),
        };
        // Writing to a String cannot fail.
        let _ = prom::render_aggregator(out, format, &store, &sources);
        let _ = pimon_protocol::text::prometheus::write_eof(out, format);
    }
}

/// One scrape: the store's part a piece at a time (the ingest lock held for one piece
/// only), then the aggregator's figures.
struct MetricsScrape {
    state: Arc<MetricsState>,
    format: Format,
    exposition: Exposition,
    /// Time spent rendering the pieces so far (not waiting for the client).
    rendering: Duration,
}

impl Scrape for MetricsScrape {
    fn next_piece(&mut self, out: &mut String) -> bool {
        let start = Instant::now();
        let store = {
            let ingest = lock(&self.state.ingest);
            let more = self.exposition.nodes_piece(
                out,
                &ingest.store,
                self.state.inputs.as_deref(),
                PIECE_BYTES,
            );
            (!more).then(|| StoreFigures::of(&ingest.store))
        };
        let Some(store) = store else {
            self.rendering += start.elapsed();
            return true;
        };
        self.state.render_tail(out, self.format, store);
        self.rendering += start.elapsed();
        self.state.stats.last_render_micros.store(
            self.rendering.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
        false
    }
}

struct Metrics(Arc<MetricsState>);

impl MetricsProvider for Metrics {
    type Scrape = MetricsScrape;

    fn scrape(&self, format: Format) -> MetricsScrape {
        AggregatorStats::inc(&self.0.stats.scrapes);
        MetricsScrape {
            state: self.0.clone(),
            format,
            exposition: Exposition::new(format, now_ms()),
            rendering: Duration::ZERO,
        }
    }

    fn push_body_limit(&self) -> Option<usize> {
        let inputs = self.0.inputs.as_ref()?;
        let push = &inputs.config().push;
        push.enabled.then_some(push.max_body_bytes)
    }

    fn push_precheck(&self, request: &http::Request) -> Option<Reply> {
        self.0
            .inputs
            .as_ref()?
            .precheck(request.authorization.as_deref())
    }

    fn push_unread(&self, reply: Reply) -> Reply {
        match &self.0.inputs {
            Some(i) => i.unread(reply),
            None => reply,
        }
    }

    fn push(&self, request: &http::Request, body: Vec<u8>) -> impl Future<Output = Reply> + Send {
        let inputs = self.0.inputs.clone();
        let method = match request.method {
            http::Method::Put => Some(PushMethod::Put),
            http::Method::Post => Some(PushMethod::Post),
            http::Method::Delete => Some(PushMethod::Delete),
            _ => None,
        };
        let path = request.path.clone();
        let authorization = request.authorization.clone();
        let content_encoding = request.content_encoding.clone();
        let content_type = request.content_type.clone();
        async move {
            let (Some(inputs), Some(method)) = (inputs, method) else {
                return Reply::error(405, "Method Not Allowed");
            };
            let req = PushRequest {
                method,
                path: &path,
                authorization: authorization.as_deref(),
                content_encoding: content_encoding.as_deref(),
                content_type: content_type.as_deref(),
                body: &body,
            };
            inputs.push(req, now_ms()).await
        }
    }

    fn page(&self, path: &str) -> impl Future<Output = Option<(&'static str, Vec<u8>)>> + Send {
        let status = self.0.status.clone();
        let path = path.to_string();
        smol::unblock(move || status.respond(&path, now_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(datagrams: &[&[u8]], port: u16) -> Batch {
        let mut b = Batch::with_capacity(datagrams.len());
        for d in datagrams {
            b.push(d, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        b
    }

    fn ack(node: &str, tail: u8) -> Vec<u8> {
        let mut a = vec![0u8; 16];
        a.push(node.len() as u8);
        a.extend_from_slice(node.as_bytes());
        a.push(tail);
        a
    }

    /// One ack per (listener, destination, node) goes out, the last one written, in the
    /// order the keys first came; it counts as fresh if any ack it replaced was.
    #[test]
    fn pending_acks_keep_the_last_ack_per_listener_destination_and_node() {
        let (a, b) = (
            SocketAddr::from(([127, 0, 0, 1], 1)),
            SocketAddr::from(([127, 0, 0, 1], 2)),
        );
        let mut acks = PendingAcks::default();
        acks.push(0, a, &ack("pi", 1), true);
        acks.push(0, b, &ack("pi", 2), false);
        acks.push(1, a, &ack("pi", 3), false);
        acks.push(0, a, &ack("pi2", 4), false);
        acks.push(0, a, &ack("pi", 5), false);
        acks.push(0, b, &ack("pi", 6), false);
        let got: Vec<(usize, u16, Vec<u8>, bool)> = (0..acks.items.len())
            .map(|i| {
                let (l, to, bytes) = acks.get(i);
                (l, to.port(), bytes.to_vec(), acks.fresh[i])
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, ack("pi", 5), true),
                (0, 2, ack("pi", 6), false),
                (1, 1, ack("pi", 3), false),
                (0, 1, ack("pi2", 4), false),
            ]
        );
        acks.clear();
        acks.push(0, a, &ack("pi", 7), false);
        assert_eq!((acks.items.len(), acks.get(0).2), (1, &ack("pi", 7)[..]));
    }

    /// Group commit hands the ingest loop every queued batch's datagrams in the order
    /// they were received, each with the listener it came in on (its ack goes back out
    /// of that socket), and skips empty batches.
    #[test]
    fn a_group_of_batches_yields_every_datagram_in_order_with_its_listener() {
        let group = vec![
            (0, batch(&[b"a", b"b"], 1)),
            (1, batch(&[], 2)),
            (1, batch(&[b"c"], 3)),
            (0, batch(&[b"d", b"e"], 4)),
        ];
        let got: Vec<(usize, &[u8], u16)> = GroupDatagrams {
            group: &group,
            batch: 0,
            item: 0,
        }
        .map(|(index, datagram, from)| (index, datagram, from.port()))
        .collect();
        let want: Vec<(usize, &[u8], u16)> = vec![
            (0, b"a", 1),
            (0, b"b", 1),
            (1, b"c", 3),
            (0, b"d", 4),
            (0, b"e", 4),
        ];
        assert_eq!(got, want);
    }
}
