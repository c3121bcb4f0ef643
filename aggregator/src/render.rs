//! A batch's line protocol, rendered on every core.
//!
//! Rendering a stored frame's lines ([`crate::lines`]) is most of ingesting a real
//! frame with an output, and it needs only the frame, the time it was stored at and the
//! node's CPU history (Telegraf's `usage_*`). Inside a batch ([`crate::ingest`]), a
//! stored frame is therefore not rendered at once: it is copied here
//! ([`Deferred::push`]), and [`Deferred::render`] renders the frames gathered so far on
//! the calling thread and on `threads - 1` render threads started once, while routing,
//! windows, time and the store stay on the ingest thread.
//!
//! # Order
//! The nodes are dealt to the threads in the order they first appear; a thread renders
//! its nodes' frames in the order they were stored and the threads' lines are appended
//! in thread order. So each node's lines keep their order, and its CPU history sees its
//! cycles in order; lines of different nodes may come out in another order than their
//! frames came in, which an InfluxDB write does not depend on (every line carries its
//! own timestamp).
//!
//! # Threads
//! A render thread waits on its channel for work and hands it back when done; it ends
//! when [`Deferred`] is dropped (its sender goes). A render thread that cannot be
//! started at first is done without (its share stays on the calling thread). A render
//! thread cannot die with work in hand and the process go on: the release build aborts
//! on a panic; in a build that unwinds, the calling thread panics too.

use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use pimon_protocol::DataFrame;
use pimon_protocol::text::influx::Precision;

use crate::lines::{self, LineScratch};
use crate::log::warning;
use crate::store::Store;
use crate::telegraf::cpu::CpuHistory;

/// Stored frames waiting to be rendered, and the threads that render them.
#[derive(Debug)]
pub struct Deferred {
    /// The frames' datagrams, back to back, and the frames (shared with the render
    /// threads while they render; unshared again after).
    frames: Arc<Frames>,
    /// Names of the frames' nodes, back to back, in the order they first appear; node
    /// `k` is `names[nodes[k].clone()]`.
    names: String,
    nodes: Vec<Range<usize>>,
    /// The calling thread's share.
    local: Shard,
    workers: Vec<Worker>,
}

#[derive(Debug, Default, Clone)]
struct Frames {
    bytes: Vec<u8>,
    jobs: Vec<Job>,
}

#[derive(Debug, Clone)]
struct Job {
    datagram: Range<usize>,
    timestamp_ms: i64,
    /// Index into [`Deferred::nodes`].
    node: usize,
}

/// One thread's share of a render: its nodes' histories in, its lines out.
#[derive(Debug, Default)]
struct Shard {
    out: String,
    scratch: LineScratch,
    /// The CPU history of this shard's nodes while they render: node `k` of the batch
    /// is at `k / threads` of shard `k % threads` (`None`: the node has none).
    histories: Vec<Option<CpuHistory>>,
    lines: usize,
}

/// What a render thread is handed, and hands back.
struct Work {
    frames: Arc<Frames>,
    /// This shard's index and the number of shards.
    index: usize,
    threads: usize,
    precision: Precision,
    shard: Shard,
}

#[derive(Debug)]
struct Worker {
    /// `None` while the shard is out with the thread.
    shard: Option<Shard>,
    work: Sender<Work>,
    done: Receiver<Work>,
}

impl Deferred {
    /// Renders on the calling thread and up to `threads - 1` render threads.
    pub fn new(threads: usize) -> Deferred {
        let mut workers = Vec::new();
        for i in 1..threads.max(1) {
            match Worker::start(i) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    warning!("render thread {i} not started ({e}): rendering on fewer threads");
                    break;
                }
            }
        }
        Deferred {
            frames: Arc::default(),
            names: String::new(),
            nodes: Vec::new(),
            local: Shard::default(),
            workers,
        }
    }

    /// Number of frames waiting.
    pub fn len(&self) -> usize {
        self.frames.jobs.len()
    }

    /// True when no frame waits.
    pub fn is_empty(&self) -> bool {
        self.frames.jobs.is_empty()
    }

    /// Drops the waiting frames.
    pub fn clear(&mut self) {
        let frames = Arc::make_mut(&mut self.frames);
        frames.bytes.clear();
        frames.jobs.clear();
        self.names.clear();
        self.nodes.clear();
    }

    /// Keeps the frame in `datagram` (already parsed and stored) of node `node`, to be
    /// rendered with `timestamp_ms`.
    pub fn push(&mut self, datagram: &[u8], node: &str, timestamp_ms: i64) {
        let at = match self
            .nodes
            .iter()
            .position(|r| self.names.get(r.clone()) == Some(node))
        {
            Some(at) => at,
            None => {
                let start = self.names.len();
                self.names.push_str(node);
                self.nodes.push(start..self.names.len());
                self.nodes.len() - 1
            }
        };
        let frames = Arc::make_mut(&mut self.frames);
        let start = frames.bytes.len();
        frames.bytes.extend_from_slice(datagram);
        frames.jobs.push(Job {
            datagram: start..frames.bytes.len(),
            timestamp_ms,
            node: at,
        });
    }

    /// Renders every waiting frame, appends the lines to `out` and returns how many
    /// lines were written. The nodes' CPU histories are taken from `store` for the
    /// time of the call and put back after.
    pub fn render(&mut self, store: &mut Store, precision: Precision, out: &mut String) -> usize {
        if self.is_empty() {
            return 0;
        }
        let threads = (self.workers.len() + 1).min(self.nodes.len()).max(1);
        for (k, range) in self.nodes.iter().enumerate() {
            let name = self.names.get(range.clone()).unwrap_or("");
            let history = store
                .get_mut(name)
                .map(|n| std::mem::take(&mut n.cpu_history));
            shard(&mut self.local, &mut self.workers, k % threads)
                .histories
                .push(history);
        }
        for (i, worker) in self.workers.iter_mut().enumerate().take(threads - 1) {
            let work = Work {
                frames: Arc::clone(&self.frames),
                index: i + 1,
                threads,
                precision,
                shard: worker.shard.take().unwrap_or_default(),
            };
            if let Err(mpsc::SendError(mut work)) = worker.work.send(work) {
                // The thread is gone: its share is rendered here.
                work.render();
                worker.shard = Some(work.shard);
            }
        }
        self.local.render(&self.frames, 0, threads, precision);
        for worker in self.workers.iter_mut().take(threads - 1) {
            if worker.shard.is_none() {
                let work = worker
                    .done
                    .recv()
                    .expect("a render thread ended with work in hand");
                worker.shard = Some(work.shard);
            }
        }
        for (k, range) in self.nodes.iter().enumerate() {
            let name = self.names.get(range.clone()).unwrap_or("");
            let history = shard(&mut self.local, &mut self.workers, k % threads)
                .histories
                .get_mut(k / threads)
                .and_then(Option::take);
            if let (Some(history), Some(node)) = (history, store.get_mut(name)) {
                node.cpu_history = history;
            }
        }
        let mut lines = 0;
        for i in 0..threads {
            let shard = shard(&mut self.local, &mut self.workers, i);
            out.push_str(&shard.out);
            lines += shard.lines;
            shard.out.clear();
            shard.histories.clear();
            shard.lines = 0;
        }
        self.clear();
        lines
    }
}

/// Shard `i` of a render: the calling thread's (0) or a render thread's.
fn shard<'s>(local: &'s mut Shard, workers: &'s mut [Worker], i: usize) -> &'s mut Shard {
    match i {
        0 => local,
        i => workers[i - 1].shard.get_or_insert_with(Shard::default),
    }
}

impl Worker {
    fn start(i: usize) -> std::io::Result<Worker> {
        let (work_tx, work_rx) = mpsc::channel::<Work>();
        let (done_tx, done_rx) = mpsc::channel::<Work>();
        thread::Builder::new()
            .name(format!("render-{i}"))
            .spawn(move || {
                while let Ok(mut work) = work_rx.recv() {
                    work.render();
                    // Unshare the frames before handing back, so the caller can reuse them.
                    work.frames = Arc::default();
                    if done_tx.send(work).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Worker {
            shard: Some(Shard::default()),
            work: work_tx,
            done: done_rx,
        })
    }
}

impl Work {
    fn render(&mut self) {
        self.shard
            .render(&self.frames, self.index, self.threads, self.precision);
    }
}

impl Shard {
    /// Renders the frames of the nodes dealt to shard `index` of `threads`.
    fn render(&mut self, frames: &Frames, index: usize, threads: usize, precision: Precision) {
        for job in frames.jobs.iter().filter(|j| j.node % threads == index) {
            // It parsed when it was ingested: the same bytes parse again.
            let Some(frame) = frames
                .bytes
                .get(job.datagram.clone())
                .and_then(|d| DataFrame::parse(d).ok())
            else {
                continue;
            };
            let history = self
                .histories
                .get_mut(job.node / threads)
                .and_then(Option::as_mut);
            let before = self.out.len();
            match lines::write_frame(
                &mut self.out,
                &frame,
                job.timestamp_ms,
                precision,
                &mut self.scratch,
                history,
            ) {
                Ok(n) => self.lines += n,
                Err(_) => self.out.truncate(before),
            }
        }
    }
}
