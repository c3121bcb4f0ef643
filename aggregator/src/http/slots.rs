//! The connections being served, and which one gives way when a new client finds every
//! slot taken.
//!
//! A client that opens connections and sends its request head a byte at a time
//! (slowloris) must not keep a scrape out. Two rules make sure it cannot:
//! - every request head has a total deadline (the connection's timeout from when the
//!   server starts waiting for it, idle keep-alive time included), enforced by the
//!   connection itself;
//! - when all `max_connections` slots are taken, the new client is not made to wait:
//!   the connection that has been waiting longest for a request head gives way (a
//!   trickling attacker's, or an idle keep-alive one; a client whose idle connection is
//!   closed simply opens a new one). Only when every slot is answering a request does
//!   the newcomer wait — and a response running longer than the timeout gives way too,
//!   so no one waits more than the timeout for a slot.
//!
//! Each connection has a [`Phase`] (what it is doing, since when) that the accept loop
//! reads; giving way is dropping the connection's eviction sender, which ends its task.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smol::channel::{self, Receiver, Sender};

use crate::atomic::AtomicU64;

/// Top bit of a phase: the connection is answering a request.
const ANSWERING: u64 = 1 << 63;

/// What a connection is doing and since when, readable by the accept loop.
#[derive(Debug)]
pub struct Phase {
    epoch: Instant,
    /// Milliseconds since `epoch` when the phase began, `ANSWERING` or not.
    state: AtomicU64,
}

impl Phase {
    fn now_ms(&self) -> u64 {
        self.epoch
            .elapsed()
            .as_millis()
            .min(u128::from(ANSWERING - 1)) as u64
    }

    /// The connection now waits for a request head.
    pub fn waiting(&self) {
        self.state.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The connection now answers a request.
    pub fn answering(&self) {
        self.state
            .store(self.now_ms() | ANSWERING, Ordering::Relaxed);
    }

    /// (answering, milliseconds since `epoch` when this phase began).
    fn read(&self) -> (bool, u64) {
        let s = self.state.load(Ordering::Relaxed);
        (s & ANSWERING != 0, s & !ANSWERING)
    }
}

struct Slot {
    id: u64,
    phase: Arc<Phase>,
    /// Dropping it ends the connection's task.
    _evict: Sender<()>,
}

/// Why a connection gave way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It was waiting for a request head (idle, or trickling one in).
    Waiting,
    /// It was answering for longer than the timeout (a client not reading).
    Answering,
}

/// The connections being served.
pub struct Slots {
    epoch: Instant,
    max: usize,
    slots: Mutex<Vec<Slot>>,
    next_id: AtomicU64,
    freed_tx: Sender<()>,
    freed_rx: Receiver<()>,
}

/// A connection's place in [`Slots`]; leaving it frees the slot.
pub struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    /// Phase of the connection.
    pub phase: Arc<Phase>,
    /// Completes (with an error) when the connection must give way.
    pub evicted: Receiver<()>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.remove(self.id);
        let _ = self.slots.freed_tx.try_send(());
    }
}

impl Slots {
    /// Room for `max` connections (at least one).
    pub fn new(max: usize) -> Arc<Slots> {
        let (freed_tx, freed_rx) = channel::bounded(1);
        Arc::new(Slots {
            epoch: Instant::now(),
            max: max.max(1),
            slots: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            freed_tx,
            freed_rx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remove(&self, id: u64) {
        self.lock().retain(|s| s.id != id);
    }

    /// Connections held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a slot for a new connection, making one free if all are taken (see the
    /// module docs); waits only while every slot answers a request for less than
    /// `timeout`. `on_eviction` is told about each connection that gave way.
    pub async fn take(
        self: &Arc<Self>,
        timeout: Duration,
        mut on_eviction: impl FnMut(Eviction),
    ) -> SlotGuard {
        loop {
            {
                let mut slots = self.lock();
                if slots.len() >= self.max
                    && let Some((i, why)) = choose_eviction(&slots, timeout)
                {
                    // Dropping its sender ends the evicted connection's task.
                    slots.swap_remove(i);
                    on_eviction(why);
                }
                if slots.len() < self.max {
                    let phase = Arc::new(Phase {
                        epoch: self.epoch,
                        state: AtomicU64::new(0),
                    });
                    phase.waiting();
                    let (evict_tx, evict_rx) = channel::bounded(1);
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    slots.push(Slot {
                        id,
                        phase: phase.clone(),
                        _evict: evict_tx,
                    });
                    return SlotGuard {
                        slots: self.clone(),
                        id,
                        phase,
                        evicted: evict_rx,
                    };
                }
            }
            // Every slot answers a request: wait for one to end, or for one to run
            // past the timeout.
            let freed = self.freed_rx.recv();
            smol::future::or(async { freed.await.is_ok() }, async {
                smol::Timer::after(Duration::from_millis(100)).await;
                false
            })
            .await;
        }
    }
}

/// The connection to give way: the one waiting longest for a request head, else one
/// answering for longer than `timeout` (the longest). Of two that began their phase in
/// the same millisecond, the older connection.
fn choose_eviction(slots: &[Slot], timeout: Duration) -> Option<(usize, Eviction)> {
    let earliest = |answering: bool| {
        slots
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.phase.read(), s.id))
            .filter(|(_, (a, _), _)| *a == answering)
            .min_by_key(|(_, (_, since), id)| (*since, *id))
            .map(|(i, (_, since), _)| (i, since))
    };
    if let Some((i, _)) = earliest(false) {
        return Some((i, Eviction::Waiting));
    }
    let now = slots.first()?.phase.now_ms();
    earliest(true)
        .filter(|&(_, since)| u128::from(now.saturating_sub(since)) > timeout.as_millis())
        .map(|(i, _)| (i, Eviction::Answering))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn a_full_house_evicts_the_longest_waiting_connection() {
        smol::block_on(async {
            let slots = Slots::new(3);
            let mut evicted = Vec::new();
            let a = slots.take(T, |e| evicted.push(e)).await;
            std::thread::sleep(Duration::from_millis(5));
            let b = slots.take(T, |e| evicted.push(e)).await;
            let c = slots.take(T, |e| evicted.push(e)).await;
            b.phase.answering();
            assert_eq!(slots.len(), 3);
            // a waited longest: it gives way; its task learns it from `evicted`.
            let d = slots.take(T, |e| evicted.push(e)).await;
            assert_eq!(evicted, [Eviction::Waiting]);
            assert!(a.evicted.recv().await.is_err());
            assert!(c.evicted.try_recv().is_err_and(|e| e.is_empty()));
            assert_eq!(slots.len(), 3);
            drop((a, b, c, d));
            assert!(slots.is_empty());
        });
    }

    #[test]
    fn answering_connections_give_way_only_after_the_timeout() {
        smol::block_on(async {
            let slots = Slots::new(1);
            let a = slots.take(T, |_| {}).await;
            a.phase.answering();
            // Within the timeout the newcomer waits; when `a` ends, it gets the slot.
            let waiter = smol::spawn({
                let slots = slots.clone();
                async move {
                    slots
                        .take(T, |_| panic!("nothing to evict"))
                        .await
                        .phase
                        .read()
                        .0
                }
            });
            smol::Timer::after(Duration::from_millis(150)).await;
            assert_eq!(slots.len(), 1);
            drop(a);
            assert!(!waiter.await);
            // Past the timeout an answering connection gives way.
            let slots = Slots::new(1);
            let b = slots.take(T, |_| {}).await;
            b.phase.answering();
            let mut evicted = Vec::new();
            let _c = slots
                .take(Duration::from_millis(50), |e| evicted.push(e))
                .await;
            assert_eq!(evicted, [Eviction::Answering]);
            assert!(b.evicted.recv().await.is_err());
        });
    }
}
