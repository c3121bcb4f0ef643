//! A UDP chaos proxy between collectors and the aggregator: it drops, duplicates,
//! reorders and delays datagrams, each direction with its own [`Faults`], seeded, logged
//! line by line, and it counts exactly what it did.
//!
//! ```text
//! collector ──▶ proxy.addr() ──[to_aggregator faults]──▶ upstream socket ──▶ aggregator
//! collector ◀── proxy.addr() ◀──[to_collector faults]─── upstream socket ◀── aggregator
//! ```
//!
//! Every collector (every source address on the listening side) gets its own upstream
//! socket, so the aggregator sees one address per collector, as on a LAN; and the
//! upstream socket is bound to a loopback address of its own chosen by *node name*
//! (`127.<20+proxy>.<n/250>.<n%250+1>`, the whole of 127/8 is loopback on Linux), so a
//! restarted collector comes back from the same IP with a new port, like a Pi does, and
//! per-address limits in the aggregator see one host per node. Two collectors that
//! share a node name share its IP; give them separate proxies to look like two hosts.
//!
//! The proxy decodes what passes with `pimon_protocol`: data frames go into the
//! [`Ledger`] (each distinct frame, copies received, copies delivered), acks are
//! counted. It can also replay a recorded frame from a node's address ([`ChaosProxy::replay`])
//! and send arbitrary bytes from it ([`ChaosProxy::send_as`]).
//!
//! Faults, per datagram and direction, drawn from a [`Rng`] per direction:
//! 1. `blackhole`: dropped (an outage);
//! 2. `drop` probability: dropped;
//! 3. `duplicate` probability: delivered twice;
//! 4. each copy waits a uniform delay in `delay`, plus, with `reorder` probability, a
//!    hold of 10–60 ms so that later datagrams overtake it.
//!
//! One thread runs the event loop (`poll(2)` over every socket, a queue of delayed
//! datagrams), so it copes with a thousand collectors. Every non-trivial action is one
//! line in the log file ([`ChaosProxy::log_path`], under `target/e2e-logs/`); clean
//! forwards are only counted. Dropping the proxy stops the thread.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pimon_protocol::Message;

use crate::ledger::{self, FrameId, Ledger};
use crate::rng::Rng;

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Collector → aggregator (data frames).
    ToAggregator,
    /// Aggregator → collector (acks).
    ToCollector,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToAggregator => 0,
            Direction::ToCollector => 1,
        }
    }

    fn arrow(self) -> &'static str {
        match self {
            Direction::ToAggregator => "c>a",
            Direction::ToCollector => "a>c",
        }
    }
}

/// The faults applied to one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Drop everything (an outage of the path).
    pub blackhole: bool,
    /// Probability of dropping a datagram.
    pub drop: f64,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Probability of holding a copy back 10–60 ms so later ones overtake it.
    pub reorder: f64,
    /// Each copy is delayed uniformly within this range.
    pub delay: (Duration, Duration),
}

impl Faults {
    /// Nothing: forward at once.
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Everything dropped.
    pub fn blackhole() -> Faults {
        Faults {
            blackhole: true,
            ..Faults::default()
        }
    }

    /// With drop probability `p`.
    pub fn drop(mut self, p: f64) -> Faults {
        self.drop = p;
        self
    }

    /// With duplicate probability `p`.
    pub fn duplicate(mut self, p: f64) -> Faults {
        self.duplicate = p;
        self
    }

    /// With reorder probability `p`.
    pub fn reorder(mut self, p: f64) -> Faults {
        self.reorder = p;
        self
    }

    /// With a uniform delay between `min` and `max`.
    pub fn delay(mut self, min: Duration, max: Duration) -> Faults {
        self.delay = (min, max.max(min));
        self
    }

    /// All four: the usual lossy, jittery path of the tests.
    pub fn lossy(drop: f64, duplicate: f64, reorder: f64, max_delay: Duration) -> Faults {
        Faults::none()
            .drop(drop)
            .duplicate(duplicate)
            .reorder(reorder)
            .delay(Duration::ZERO, max_delay)
    }
}

/// What the proxy did in one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams received.
    pub received: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// Datagrams sent on (copies included).
    pub delivered: u64,
    /// Bytes sent on.
    pub delivered_bytes: u64,
    /// Dropped by the `drop` probability.
    pub dropped: u64,
    /// Dropped by `blackhole`.
    pub blackholed: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Copies held back to be overtaken.
    pub reordered: u64,
    /// Copies delayed (a non-zero delay).
    pub delayed: u64,
    /// Datagrams that were neither a data frame (to the aggregator) nor an ack (back).
    pub undecodable: u64,
    /// Send errors (the aggregator not running: ECONNREFUSED, …).
    pub send_errors: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.received_bytes += other.received_bytes;
        self.delivered += other.delivered;
        self.delivered_bytes += other.delivered_bytes;
        self.dropped += other.dropped;
        self.blackholed += other.blackholed;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.delayed += other.delayed;
        self.undecodable += other.undecodable;
        self.send_errors += other.send_errors;
    }
}

/// Settings of a proxy.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Faults towards the aggregator.
    pub to_aggregator: Faults,
    /// Faults towards the collectors.
    pub to_collector: Faults,
    /// Keep each frame's bytes for [`ChaosProxy::replay`] (off for long soaks).
    pub record_bytes: bool,
}

impl ChaosConfig {
    /// No faults yet, frames recorded.
    pub fn new(seed: u64) -> ChaosConfig {
        ChaosConfig {
            seed,
            to_aggregator: Faults::none(),
            to_collector: Faults::none(),
            record_bytes: true,
        }
    }
}

/// Per-proxy index in this process: separates the proxies' loopback address ranges.
static PROXIES: AtomicU32 = AtomicU32::new(0);

/// A node's upstream socket and its collectors' addresses.
struct Client {
    /// Where its collector sends from.
    downstream: SocketAddr,
    /// The node name (from its first frame), or `?ADDR`.
    node: Arc<str>,
    /// Its socket towards the aggregator.
    upstream: Arc<UdpSocket>,
}

struct State {
    upstream_target: SocketAddr,
    faults: [Faults; 2],
    counts: HashMap<Arc<str>, [Counts; 2]>,
    ledger: Ledger,
    recorded: HashMap<FrameId, Vec<u8>>,
    record_bytes: bool,
    clients: Vec<Client>,
    node_ips: HashMap<Arc<str>, Ipv4Addr>,
    pending: usize,
    fatal: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
}

/// The running proxy; stops when dropped.
pub struct ChaosProxy {
    name: String,
    listen: SocketAddr,
    seed: u64,
    log_path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    base_ip: [u8; 2],
}

/// Where the tests write logs (the chaos proxies' action logs): `$PIMON_E2E_LOG_DIR`,
/// or `target/e2e-logs` in the repository (`CARGO_TARGET_DIR` is honoured).
pub fn log_dir() -> PathBuf {
    let dir = match std::env::var_os("PIMON_E2E_LOG_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo_root().join("target"))
            .join("e2e-logs"),
    };
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

impl ChaosProxy {
    /// Starts a proxy listening on a free 127.0.0.1 port, forwarding to `upstream`.
    /// `name` names its log file.
    pub fn start(name: &str, upstream: SocketAddr, config: ChaosConfig) -> ChaosProxy {
        let listen_socket = UdpSocket::bind("127.0.0.1:0").expect("bind the proxy on 127.0.0.1");
        enlarge_buffers(&listen_socket);
        listen_socket
            .set_nonblocking(true)
            .expect("non-blocking proxy socket");
        let listen = listen_socket.local_addr().expect("proxy address");
        let index = PROXIES.fetch_add(1, Ordering::Relaxed);
        let base_ip = [127, 20 + (index % 200) as u8];
        let log_path = log_dir().join(format!(
            "chaos-{name}-{}-{index}-seed{}.log",
            std::process::id(),
            config.seed
        ));
        let log = BufWriter::new(
            File::create(&log_path)
                .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display())),
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                upstream_target: upstream,
                faults: [config.to_aggregator, config.to_collector],
                counts: HashMap::new(),
                ledger: Ledger::default(),
                recorded: HashMap::new(),
                record_bytes: config.record_bytes,
                clients: Vec::new(),
                node_ips: HashMap::new(),
                pending: 0,
                fatal: None,
            }),
            stop: AtomicBool::new(false),
        });
        let mut event_loop = EventLoop {
            shared: Arc::clone(&shared),
            listen: listen_socket,
            // Streams by name, not creation order: the same seed and name replay the
            // same decisions whatever else the test process runs.
            rng: [
                Rng::new(config.seed, name_hash(name) << 1),
                Rng::new(config.seed, name_hash(name) << 1 | 1),
            ],
            queue: BinaryHeap::new(),
            order: 0,
            log,
            epoch: Instant::now(),
            base_ip,
            by_downstream: HashMap::new(),
            upstreams: Vec::new(),
            slots: Vec::new(),
        };
        let thread = thread::Builder::new()
            .name(format!("chaos-{name}"))
            .spawn(move || event_loop.run())
            .expect("spawn the chaos proxy thread");
        ChaosProxy {
            name: name.to_string(),
            listen,
            seed: config.seed,
            log_path,
            shared,
            thread: Some(thread),
            base_ip,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &st.fatal {
            panic!("chaos proxy {}: {e}", self.name);
        }
        st
    }

    /// Where collectors send (`--aggregator`).
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// The seed of its fault decisions.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Its action log.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log_path
    }

    /// The loopback IP node `n` (in order of first appearance) sends from.
    pub fn node_ip(&self, n: usize) -> Ipv4Addr {
        node_ip(self.base_ip, n)
    }

    /// The IP a node's frames reach the aggregator from, once it has sent.
    pub fn ip_of(&self, node: &str) -> Option<Ipv4Addr> {
        self.state().node_ips.get(node).copied()
    }

    /// Points the proxy at another aggregator address (after a restart on new ports).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state().upstream_target = upstream;
    }

    /// Changes the faults of one direction from now on.
    pub fn set_faults(&self, direction: Direction, faults: Faults) {
        self.state().faults[direction.index()] = faults;
    }

    /// Faults off in both directions.
    pub fn heal(&self) {
        let mut st = self.state();
        st.faults = [Faults::none(), Faults::none()];
    }

    /// What it did in `direction`, all nodes.
    pub fn counts(&self, direction: Direction) -> Counts {
        let st = self.state();
        let mut total = Counts::default();
        for c in st.counts.values() {
            total.add(&c[direction.index()]);
        }
        total
    }

    /// What it did in `direction` for `node`'s datagrams.
    pub fn node_counts(&self, node: &str, direction: Direction) -> Counts {
        self.state()
            .counts
            .get(node)
            .map(|c| c[direction.index()])
            .unwrap_or_default()
    }

    /// A copy of the ledger of frames.
    pub fn ledger(&self) -> Ledger {
        self.state().ledger.clone()
    }

    /// Runs `f` on the ledger without copying it (the proxy waits meanwhile: keep it
    /// short).
    pub fn with_ledger<T>(&self, f: impl FnOnce(&Ledger) -> T) -> T {
        f(&self.state().ledger)
    }

    /// The bytes of a frame as the collector sent it (with `record_bytes`).
    pub fn recorded(&self, id: &FrameId) -> Option<Vec<u8>> {
        self.state().recorded.get(id).cloned()
    }

    /// Sends `bytes` to the aggregator from `node`'s upstream socket (its address), not
    /// counted in the ledger: a forged or replayed datagram from the node's own host.
    pub fn send_as(&self, node: &str, bytes: &[u8]) {
        let (socket, target) = {
            let st = self.state();
            let client = st
                .clients
                .iter()
                .rev()
                .find(|c| &*c.node == node)
                .unwrap_or_else(|| panic!("chaos proxy {}: no client for node {node}", self.name));
            (Arc::clone(&client.upstream), st.upstream_target)
        };
        socket
            .send_to(bytes, target)
            .unwrap_or_else(|e| panic!("send as {node} to {target}: {e}"));
    }

    /// Replays a recorded frame from its node's address.
    pub fn replay(&self, id: &FrameId) {
        let bytes = self
            .recorded(id)
            .unwrap_or_else(|| panic!("chaos proxy {}: frame {id} not recorded", self.name));
        self.send_as(&id.node, &bytes);
    }

    /// Waits until no delayed datagram is queued (up to `timeout`); false if some are.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.state().pending == 0 {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Datagrams the kernel dropped on the proxy's own sockets (full receive
    /// buffers): the proxy would then not have seen everything the collectors sent,
    /// and its counts would be wrong. Tests assert this is 0.
    pub fn kernel_drops(&self) -> u64 {
        let mut addrs = vec![self.listen];
        addrs.extend(
            self.state()
                .clients
                .iter()
                .filter_map(|c| c.upstream.local_addr().ok()),
        );
        kernel_drops(&addrs)
    }

    /// One line per direction, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "chaos proxy {} (seed {}, log {}; {} datagrams dropped by the kernel on its sockets):\n  collector→aggregator {:?}\n  aggregator→collector {:?}",
            self.name,
            self.seed,
            self.log_path.display(),
            self.kernel_drops(),
            self.counts(Direction::ToAggregator),
            self.counts(Direction::ToCollector)
        )
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Receive buffer of the proxy's sockets: a collector's burst of resends must never
/// overflow it while the proxy's thread waits for a core.
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// Sets `SO_RCVBUFFORCE` (root; beyond `net.core.rmem_max`), else `SO_RCVBUF`.
fn enlarge_buffers(socket: &UdpSocket) {
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let value = SOCKET_BUFFER;
        // SAFETY: setsockopt on a live socket with a pointer to a c_int and its size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Datagrams the kernel dropped for the UDP sockets bound to `addrs` (the `drops`
/// column of `/proc/net/udp`).
fn kernel_drops(addrs: &[SocketAddr]) -> u64 {
    let Ok(table) = fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    let wanted: Vec<String> = addrs
        .iter()
        .filter_map(|a| match a {
            SocketAddr::V4(a) => Some(format!(
                "{:08X}:{:04X}",
                u32::from_le_bytes(a.ip().octets()),
                a.port()
            )),
            SocketAddr::V6(_) => None,
        })
        .collect();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            if !wanted.iter().any(|w| w == local) {
                return None;
            }
            cols.last()?.parse::<u64>().ok()
        })
        .sum()
}

/// FNV-1a of a proxy's name.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn node_ip(base: [u8; 2], n: usize) -> Ipv4Addr {
    Ipv4Addr::new(base[0], base[1], (n / 250) as u8, (n % 250 + 1) as u8)
}

/// A delayed copy.
struct Pending {
    direction: Direction,
    client: usize,
    frame: Option<FrameId>,
    bytes: Vec<u8>,
}

struct EventLoop {
    shared: Arc<Shared>,
    listen: UdpSocket,
    rng: [Rng; 2],
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    order: u64,
    log: BufWriter<File>,
    epoch: Instant,
    base_ip: [u8; 2],
    by_downstream: HashMap<SocketAddr, usize>,
    /// The clients' upstream sockets, by client index (the loop's own copy).
    upstreams: Vec<Arc<UdpSocket>>,
    /// Delayed copies; `queue` entries point here.
    slots: Vec<Option<Pending>>,
}

impl EventLoop {
    fn run(&mut self) {
        let mut buf = vec![0u8; 65_536];
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = self
                .queue
                .peek()
                .map(|Reverse((due, _, _))| due.saturating_duration_since(now))
                .unwrap_or(Duration::from_millis(20))
                .min(Duration::from_millis(20));
            let mut fds: Vec<libc::pollfd> = std::iter::once(self.listen.as_raw_fd())
                .chain(self.upstreams.iter().map(|s| s.as_raw_fd()))
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `fds` is a live, writable array of `fds.len()` pollfd structs.
            let n = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    wait.as_millis().max(1) as libc::c_int,
                )
            };
            if n > 0 {
                for (i, fd) in fds.iter().enumerate() {
                    if fd.revents == 0 {
                        continue;
                    }
                    if i == 0 {
                        self.drain_listen(&mut buf);
                    } else {
                        self.drain_upstream(i - 1, &mut buf);
                    }
                }
            }
            self.deliver_due();
        }
        let _ = self.log.flush();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fatal(&self, message: String) {
        self.lock().fatal.get_or_insert(message);
    }

    fn drain_listen(&mut self, buf: &mut [u8]) {
        loop {
            match self.listen.recv_from(buf) {
                Ok((n, from)) => {
                    let bytes = buf[..n].to_vec();
                    let Some(client) = self.client_for(from, &bytes) else {
                        return;
                    };
                    self.handle(Direction::ToAggregator, client, bytes);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return, // ICMP errors of earlier sends: nothing to do
            }
        }
    }

    fn drain_upstream(&mut self, client: usize, buf: &mut [u8]) {
        let socket = Arc::clone(&self.upstreams[client]);
        loop {
            match socket.recv_from(buf) {
                Ok((n, _)) => self.handle(Direction::ToCollector, client, buf[..n].to_vec()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return, // ECONNREFUSED from an aggregator that is down
            }
        }
    }

    /// The client of a collector address, created (with its upstream socket) on its
    /// first datagram.
    fn client_for(&mut self, from: SocketAddr, first: &[u8]) -> Option<usize> {
        if let Some(&i) = self.by_downstream.get(&from) {
            return Some(i);
        }
        let node: Arc<str> = match pimon_protocol::decode(first) {
            Ok(Message::Data(f)) => Arc::from(f.header.node),
            _ => Arc::from(format!("?{from}").as_str()),
        };
        let ip = {
            let mut st = self.lock();
            let n = st.node_ips.len();
            *st.node_ips
                .entry(node.clone())
                .or_insert_with(|| node_ip(self.base_ip, n))
        };
        let socket = match UdpSocket::bind(SocketAddrV4::new(ip, 0)) {
            Ok(s) => s,
            Err(e) => {
                self.fatal(format!("cannot bind an upstream socket on {ip}: {e}"));
                return None;
            }
        };
        socket
            .set_nonblocking(true)
            .expect("non-blocking upstream socket");
        enlarge_buffers(&socket);
        let socket = Arc::new(socket);
        let index = self.upstreams.len();
        self.upstreams.push(Arc::clone(&socket));
        self.by_downstream.insert(from, index);
        let local = socket.local_addr().ok();
        self.lock().clients.push(Client {
            downstream: from,
            node: node.clone(),
            upstream: socket,
        });
        let t = self.epoch.elapsed().as_millis();
        let _ = writeln!(
            self.log,
            "{t} client {index}: collector {from} node {node} upstream {local:?}"
        );
        Some(index)
    }

    fn handle(&mut self, direction: Direction, client: usize, bytes: Vec<u8>) {
        let now = Instant::now();
        let d = direction.index();
        let (faults, node, frame, what) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let faults = st.faults[d];
            let client_node = st.clients[client].node.clone();
            let (frame, what, node) = match (direction, pimon_protocol::decode(&bytes)) {
                (Direction::ToAggregator, Ok(Message::Data(_))) => {
                    let (id, record) = ledger::describe(&bytes, now).expect("decoded above");
                    let what = format!(
                        "data {id} part {}/{} ts {}",
                        record.part + 1,
                        record.parts,
                        record.timestamp_ms
                    );
                    let entry = st.ledger.frames.entry(id.clone()).or_insert(record);
                    entry.received += 1;
                    if st.record_bytes && entry.received == 1 {
                        st.recorded.insert(id.clone(), bytes.clone());
                    }
                    (Some(id.clone()), what, id.node)
                }
                (Direction::ToCollector, Ok(Message::Ack(a))) => (
                    None,
                    format!(
                        "ack {} boot {:016x} below {} seen {} gaps {}",
                        a.node,
                        a.boot_id,
                        a.acked_below,
                        a.seen_below,
                        a.gaps.len()
                    ),
                    client_node,
                ),
                _ => {
                    st.counts.entry(client_node.clone()).or_default()[d].undecodable += 1;
                    (
                        None,
                        format!("undecodable {} bytes", bytes.len()),
                        client_node,
                    )
                }
            };
            let c = &mut st.counts.entry(node.clone()).or_default()[d];
            c.received += 1;
            c.received_bytes += bytes.len() as u64;
            (faults, node, frame, what)
        };
        let t = self.epoch.elapsed().as_millis();
        let arrow = direction.arrow();
        let rng = &mut self.rng[d];
        if faults.blackhole || rng.chance(faults.drop) {
            let blackhole = faults.blackhole;
            let mut st = self.lock();
            let c = &mut st.counts.entry(node).or_default()[d];
            if blackhole {
                c.blackholed += 1;
            } else {
                c.dropped += 1;
            }
            drop(st);
            let why = if blackhole { "blackhole" } else { "drop" };
            let _ = writeln!(self.log, "{t} {arrow} {why} {what}");
            return;
        }
        let copies = if rng.chance(faults.duplicate) { 2 } else { 1 };
        let mut plan = Vec::with_capacity(copies);
        for _ in 0..copies {
            let base = rng.range(
                faults.delay.0.as_millis() as u64,
                faults.delay.1.as_millis() as u64,
            );
            let hold = if rng.chance(faults.reorder) {
                rng.range(10, 60)
            } else {
                0
            };
            plan.push((base, hold));
        }
        {
            let mut st = self.lock();
            let c = &mut st.counts.entry(node).or_default()[d];
            c.duplicated += copies as u64 - 1;
            for (base, hold) in &plan {
                c.reordered += u64::from(*hold > 0);
                c.delayed += u64::from(base + hold > 0);
            }
        }
        for (copy, (base, hold)) in plan.into_iter().enumerate() {
            let wait = base + hold;
            if copies > 1 || wait > 0 {
                let _ = writeln!(
                    self.log,
                    "{t} {arrow} copy {}/{copies} delay {base} ms hold {hold} ms {what}",
                    copy + 1
                );
            }
            let pending = Pending {
                direction,
                client,
                frame: frame.clone(),
                bytes: bytes.clone(),
            };
            if wait == 0 {
                self.send(pending);
            } else {
                self.enqueue(now + Duration::from_millis(wait), pending);
            }
        }
    }

    fn enqueue(&mut self, due: Instant, pending: Pending) {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(pending);
                i
            }
            None => {
                self.slots.push(Some(pending));
                self.slots.len() - 1
            }
        };
        self.order += 1;
        self.queue.push(Reverse((due, self.order, slot)));
        self.lock().pending += 1;
    }

    fn deliver_due(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((due, _, slot))) = self.queue.peek().copied() {
            if due > now {
                break;
            }
            self.queue.pop();
            let pending = self.slots[slot].take();
            self.lock().pending -= 1;
            if let Some(p) = pending {
                self.send(p);
            }
        }
    }

    fn send(&mut self, p: Pending) {
        let (result, node) = {
            let st = self.lock();
            let client = &st.clients[p.client];
            let node = client.node.clone();
            let result = match p.direction {
                Direction::ToAggregator => client.upstream.send_to(&p.bytes, st.upstream_target),
                Direction::ToCollector => self.listen.send_to(&p.bytes, client.downstream),
            };
            (result, node)
        };
        let mut guard = self.lock();
        let st = &mut *guard;
        let node = p.frame.as_ref().map_or(node, |f| f.node.clone());
        let c = &mut st.counts.entry(node).or_default()[p.direction.index()];
        match result {
            Ok(_) => {
                c.delivered += 1;
                c.delivered_bytes += p.bytes.len() as u64;
                if let Some(id) = &p.frame
                    && let Some(r) = st.ledger.frames.get_mut(id)
                {
                    r.delivered += 1;
                    r.first_delivered.get_or_insert_with(Instant::now);
                }
            }
            Err(_) => c.send_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::Forged;

    /// Sends 400 data frames through a proxy with `faults` towards an upstream socket
    /// that answers each datagram with 3 bytes; returns the proxy, what the upstream got
    /// and what the client got back.
    fn run(seed: u64, faults: Faults) -> (ChaosProxy, u64, u64) {
        let upstream = UdpSocket::bind("127.0.0.1:0").expect("upstream");
        upstream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let done = Arc::new(AtomicBool::new(false));
        let mut config = ChaosConfig::new(seed);
        config.to_aggregator = faults;
        let proxy = ChaosProxy::start("self-test", upstream.local_addr().expect("addr"), config);
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        client
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("timeout");
        let echo = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut got = 0u64;
                let mut buf = [0u8; 2048];
                loop {
                    match upstream.recv_from(&mut buf) {
                        Ok((_, from)) => {
                            got += 1;
                            let _ = upstream.send_to(b"ack", from);
                        }
                        Err(_) if done.load(Ordering::Relaxed) => return got,
                        Err(_) => {}
                    }
                }
            })
        };
        let mut back = 0u64;
        let mut buf = [0u8; 64];
        for seq in 0..400 {
            let frame = Forged::new("self-test", 1, seq).bytes();
            client.send_to(&frame, proxy.addr()).expect("send");
            thread::sleep(Duration::from_micros(200));
            while client.recv(&mut buf).is_ok() {
                back += 1;
            }
        }
        assert!(proxy.wait_idle(Duration::from_secs(5)));
        // Answers in flight back through the proxy.
        thread::sleep(Duration::from_millis(200));
        done.store(true, Ordering::Relaxed);
        let got = echo.join().expect("echo");
        assert!(proxy.wait_idle(Duration::from_secs(5)));
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        while client.recv(&mut buf).is_ok() {
            back += 1;
        }
        (proxy, got, back)
    }

    #[test]
    fn the_proxy_counts_exactly_what_it_did_and_the_seed_decides_what() {
        let faults = Faults::lossy(0.2, 0.1, 0.1, Duration::from_millis(3));
        let (proxy, upstream_got, _) = run(42, faults);
        let c = proxy.counts(Direction::ToAggregator);
        assert_eq!(c.received, 400);
        assert_eq!(c.delivered, upstream_got, "{c:?}");
        assert_eq!(c.delivered, c.received - c.dropped + c.duplicated, "{c:?}");
        assert!(
            c.dropped > 40 && c.duplicated > 15 && c.reordered > 15,
            "{c:?}"
        );
        let ledger = proxy.ledger();
        assert_eq!(ledger.frame_count("self-test"), 400);
        let delivered: u64 = ledger
            .of("self-test")
            .map(|(_, r)| u64::from(r.delivered))
            .sum();
        assert_eq!(delivered, c.delivered);
        assert_eq!(ledger.never_delivered("self-test").len() as u64, c.dropped);
        assert_eq!(ledger.extra_deliveries("self-test"), c.duplicated);
        let back = proxy.counts(Direction::ToCollector);
        assert_eq!(back.received, upstream_got);
        assert_eq!(
            back.undecodable, upstream_got,
            "3-byte answers are not acks"
        );
        assert_eq!(proxy.kernel_drops(), 0);

        // The same seed drops the same frames; another seed others.
        let dropped = |p: &ChaosProxy| p.ledger().never_delivered("self-test");
        let (again, _, _) = run(42, faults);
        assert_eq!(dropped(&proxy), dropped(&again));
        let (other, _, _) = run(43, faults);
        assert_ne!(dropped(&proxy), dropped(&other));
    }

    #[test]
    fn a_blackhole_delivers_nothing_and_heal_restores_the_path() {
        let (proxy, upstream_got, back) = run(7, Faults::blackhole());
        let c = proxy.counts(Direction::ToAggregator);
        assert_eq!(
            (c.received, c.blackholed, c.delivered, upstream_got, back),
            (400, 400, 0, 0, 0)
        );
        let (proxy, upstream_got, back) = run(7, Faults::none());
        let c = proxy.counts(Direction::ToAggregator);
        assert_eq!((c.delivered, upstream_got, back), (400, 400, 400));
        assert_eq!(c.delayed + c.dropped + c.duplicated + c.reordered, 0);
        assert!(
            proxy
                .ip_of("self-test")
                .is_some_and(|ip| ip.octets()[0] == 127)
        );
    }
}
