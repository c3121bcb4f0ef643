//! Shared by the `cycle_*`, `send_*` and `alloc_*` tests: fixture collectors and a fake
//! aggregator on 127.0.0.1 that stores and acks like the real one
//! (`pimon_protocol::SeqWindow` + `Ack`), and can drop frames, drop only its acks, or
//! play absent.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pimon_collector::cycle::{Collector, CollectorConfig};
use pimon_collector::net::Net;
use pimon_collector::ring::ResendPolicy;
use pimon_collector::run::Agent;
use pimon_collector::sensors::SensorsConfig;
use pimon_collector::source::{SourceKind, SourcesConfig};
use pimon_protocol::{Accept, Ack, DataFrame, Key, MAX_DATAGRAM, SeqWindow};

/// `collector/tests/fixtures/<tree>`.
pub fn fixture(tree: &str) -> PathBuf {
    pimon_test_support::fixtures::tree(tree)
}

/// The key the keyed tests use (id 7, 32 bytes).
pub fn test_key() -> Key {
    Key::new(7, b"0123456789abcdef0123456789abcdef").unwrap()
}

/// A collector reading `root`, node `pi4`, boot id 0xb007.
pub fn collector(root: &Path, key: Option<Key>, ring_bytes: usize, interval_ms: u32) -> Collector {
    let sources = SourcesConfig {
        root: root.to_path_buf(),
        ..SourcesConfig::default()
    };
    collector_with(&sources, key, ring_bytes, interval_ms)
}

/// A collector over `sources` (its root and settings) with the test key, settled.
pub fn collector_with(
    sources: &SourcesConfig,
    key: Option<Key>,
    ring_bytes: usize,
    interval_ms: u32,
) -> Collector {
    let config = CollectorConfig {
        node: "pi4".into(),
        boot_id: 0xb007,
        interval_ms,
        user_hz: 100,
        key,
        ring_bytes,
    };
    let c = Collector::new(config, sources, &SensorsConfig::default());
    c.settle(Duration::from_secs(3));
    c
}

/// An agent on `root` sending to `aggregator` with a fast resend policy. The sending
/// tests count on the Pi 4 tree as a workload of two parts per cycle: its netclass
/// source, which made it three, is left out.
pub fn agent(root: &Path, aggregator: SocketAddr, key: Option<Key>, ring_bytes: usize) -> Agent {
    let mut sources = SourcesConfig {
        root: root.to_path_buf(),
        ..SourcesConfig::default()
    };
    sources.sources.remove(SourceKind::Netclass);
    let c = collector_with(&sources, key.clone(), ring_bytes, 20);
    let net = Net::new(&aggregator.to_string(), "pi4", 0xb007, key);
    let policy = ResendPolicy {
        timeout_ms: 150,
        gap_holdoff_ms: 40,
        max_per_tick: 8,
    };
    Agent::new(c, net, policy)
}

/// What the fake aggregator does with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Store and ack everything.
    Ack,
    /// Drop every third datagram received (first sends and resends alike).
    DropEveryThird,
}

/// What the fake aggregator saw.
#[derive(Debug, Default, Clone)]
pub struct AggLog {
    /// Every data frame received while present, in arrival order: (seq, new?).
    pub arrivals: Vec<(u64, bool)>,
    /// Sequence numbers stored.
    pub stored: BTreeSet<u64>,
    /// Datagrams dropped on purpose (DropEveryThird) or while absent.
    pub dropped: u64,
    /// Frames whose MAC did not verify (or were unauthenticated when keyed).
    pub bad_mac: u64,
    /// Acks sent.
    pub acks: u64,
    /// Acks not sent on purpose (see [`FakeAggregator::set_ack_loss`]).
    pub acks_lost: u64,
    /// The highest resend floor seen.
    pub floor: u64,
    /// Sequence numbers given up by the window (below the collector's floor).
    pub given_up: u64,
    /// Where acks went (the collector's socket).
    pub peer: Option<SocketAddr>,
}

/// A fake aggregator on its own thread.
pub struct FakeAggregator {
    pub addr: SocketAddr,
    pub present: Arc<AtomicBool>,
    /// 0: every ack is sent; n: only every n-th (the others are lost on the way back).
    ack_one_in: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<AggLog>>,
    handle: Option<JoinHandle<()>>,
}

impl FakeAggregator {
    /// Starts listening on 127.0.0.1 (present unless told otherwise).
    pub fn start(behaviour: Behaviour, key: Option<Key>) -> FakeAggregator {
        FakeAggregator::start_on("127.0.0.1:0".parse().unwrap(), behaviour, key)
            .expect("bind 127.0.0.1:0")
    }

    /// Starts listening on `addr` (a loopback address).
    pub fn start_on(
        addr: SocketAddr,
        behaviour: Behaviour,
        key: Option<Key>,
    ) -> std::io::Result<FakeAggregator> {
        assert!(addr.ip().is_loopback(), "tests send to loopback only");
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = socket.local_addr()?;
        let present = Arc::new(AtomicBool::new(true));
        let ack_one_in = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(AggLog::default()));
        let (p, a, s, l) = (
            present.clone(),
            ack_one_in.clone(),
            stop.clone(),
            log.clone(),
        );
        let handle = std::thread::spawn(move || serve(socket, behaviour, key, &p, &a, &s, &l));
        Ok(FakeAggregator {
            addr,
            present,
            ack_one_in,
            stop,
            log,
            handle: Some(handle),
        })
    }

    /// A snapshot of what it saw.
    pub fn log(&self) -> AggLog {
        self.log.lock().unwrap().clone()
    }

    /// Sets whether it listens (absent: receives and discards, as nobody listening).
    pub fn set_present(&self, present: bool) {
        self.present.store(present, Ordering::SeqCst);
    }

    /// Loses acks on the way back: only every `one_in`-th ack is sent (0: all are).
    /// Frames are still stored.
    pub fn set_ack_loss(&self, one_in: u64) {
        self.ack_one_in.store(one_in, Ordering::SeqCst);
    }
}

impl Drop for FakeAggregator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    socket: UdpSocket,
    behaviour: Behaviour,
    key: Option<Key>,
    present: &AtomicBool,
    ack_one_in: &AtomicU64,
    stop: &AtomicBool,
    log: &Mutex<AggLog>,
) {
    let mut acks_made = 0u64;
    let mut window = SeqWindow::new();
    let mut boot: Option<u64> = None;
    let mut received = 0u64;
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let mut log = log.lock().unwrap();
        if !present.load(Ordering::SeqCst) {
            log.dropped += 1;
            continue;
        }
        received += 1;
        if behaviour == Behaviour::DropEveryThird && received.is_multiple_of(3) {
            log.dropped += 1;
            continue;
        }
        let Ok(frame) = DataFrame::parse(&buf[..n]) else {
            continue;
        };
        if let Some(k) = &key
            && frame.verify(k).is_err()
        {
            log.bad_mac += 1;
            continue;
        }
        let h = frame.header;
        if boot != Some(h.boot_id) {
            boot = Some(h.boot_id);
            window = SeqWindow::new();
        }
        log.given_up += window.raise_floor(h.resend_floor);
        log.floor = log.floor.max(h.resend_floor);
        let (accept, missing) = window.accept(h.seq);
        log.given_up += missing;
        let new = accept == Accept::New;
        log.arrivals.push((h.seq, new));
        if new {
            log.stored.insert(h.seq);
        }
        let (acked_below, seen_below, gaps) = window.ack();
        let ack = Ack {
            node: h.node,
            boot_id: h.boot_id,
            acked_below,
            seen_below,
            gaps,
            key_id: None,
        };
        let one_in = ack_one_in.load(Ordering::SeqCst);
        acks_made += 1;
        if one_in > 0 && !acks_made.is_multiple_of(one_in) {
            log.acks_lost += 1;
            continue;
        }
        let mut out = [0u8; MAX_DATAGRAM];
        if let Ok(len) = ack.emit(&mut out, key.as_ref()) {
            let _ = socket.send_to(&out[..len], from);
            log.acks += 1;
            log.peer = Some(from);
        }
    }
}

/// Runs `cycles` cycles `interval` apart, handling acks and resends in between.
pub fn run_cycles(agent: &mut Agent, cycles: u32, interval: Duration) {
    for i in 0..cycles {
        agent.cycle(1_700_000_000_000 + u64::from(i) * interval.as_millis() as u64);
        agent.pump(std::time::Instant::now() + interval);
    }
}
