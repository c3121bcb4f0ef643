//! Node protocol state on disk, so that an aggregator restart keeps what protects and
//! de-duplicates the nodes: boot ids (current, previous, retired), each boot's sequence
//! window (base, top, and which numbers above the base arrived), timeline and address, the node's highest time, values order,
//! counters, and when it was first and last seen. Series values are not kept (the next
//! frame of each node brings them back).
//!
//! # Files (in the state directory, `--state-dir`)
//! ```text
//! nodes          snapshot: "PIMNODE1" | generation u64 | count u32 | record* | CRC-32 u32
//! nodes.journal  "PIMJRNL1" | generation u64 | (len u32 | CRC-32 u32 of len ++ body | body)*
//! record         len u32 | body          (body: see `encode_node`, version byte first)
//! ```
//! All integers little-endian; CRC-32 is IEEE (as in the spool). A snapshot is written
//! to `nodes.tmp`, fsynced, renamed over `nodes`, and the directory fsynced; then the
//! journal is replaced the same way by an empty one carrying the new generation. A
//! journal entry is appended and fdatasynced. Loading reads the snapshot, then the
//! journal entries of the same generation in order (a later entry of a node replaces
//! the earlier), stopping at the first damaged or torn entry. A crash at any point
//! leaves either the old snapshot and journal, or the new snapshot with a journal of
//! the old generation, which is ignored (its entries are in the snapshot).
//!
//! # When state is written, and what that promises
//! - **Before the acks of a batch** that gave a node a new boot id, a new timeline
//!   segment, or a substitute time from a timeline gap for the first time, those nodes
//!   are appended to the journal (one fdatasync per such batch; a node with a good
//!   clock that does not restart never causes one). If that write
//!   fails the batch is not acked. So a frame acked before a crash is never stored again
//!   after it with a *different* time: its time depends only on the frame and that
//!   boot's saved timeline (see [`crate::timeline`]).
//! - **A snapshot of every node** every [`SNAPSHOT_EVERY`] (after a batch commits), when
//!   the journal passes [`JOURNAL_MAX_BYTES`], and at shutdown. Windows, counters and
//!   the highest time may be up to that old after a crash (`kill -9`, power loss):
//!   frames acked since are asked for again only if the collector still holds them, are
//!   stored again with the same time (an overwrite in InfluxDB, not a second point), and
//!   what is given up below the first frame heard after the restart is not counted
//!   missing (the earlier run may have stored it).
//! - Keyed frames recorded more than `max_skew` ago are refused after a restart: their
//!   boot id is retired, or unknown and too old to start a boot (see
//!   [`crate::evidence`]); the current boot's are below its saved window base, or stored
//!   again with their own time.
//!
//! [`decode_snapshot`] and [`decode_journal`] never panic on any bytes (fuzz target
//! `state_file`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ingest::Ingest;
use crate::log::warning;
use crate::node::{BootState, NodeCounters, NodeMeta};
use crate::stats::AggregatorStats;
use crate::store::Store;
use crate::timeline::{Gap, MAX_GAPS, MAX_SEGMENTS, Rule, Segment, Timeline};
use crate::window::Window;

/// Magic at the start of a snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"PIMNODE1";
/// Magic at the start of a journal.
pub const JOURNAL_MAGIC: &[u8; 8] = b"PIMJRNL1";
/// How often every node is written.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(30);
/// A journal this large is folded into a snapshot.
pub const JOURNAL_MAX_BYTES: u64 = 4 << 20;
/// Largest record accepted when loading (a node is well under 1 KiB).
const MAX_RECORD: usize = 64 * 1024;
/// Version 3 adds each boot's seen words; version 2 records (base and top only) are
/// still read.
const RECORD_VERSION: u8 = 3;
const RECORD_VERSION_BASE_TOP: u8 = 2;
/// Most seen words of a boot (the window's span, 4096 numbers).
const MAX_SEEN_WORDS: usize = (pimon_protocol::window::WINDOW / 64) as usize;
const SNAPSHOT_FILE: &str = "nodes";
const SNAPSHOT_TMP: &str = "nodes.tmp";
const JOURNAL_FILE: &str = "nodes.journal";
const JOURNAL_TMP: &str = "nodes.journal.tmp";

/// Why state bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The bytes end inside a field.
    Truncated,
    /// Not a state file of this version (magic).
    BadMagic,
    /// The checksum does not match.
    BadChecksum,
    /// A record's version byte is unknown.
    UnknownVersion(u8),
    /// A field holds a value that cannot be (a bad node name, unordered segments …).
    BadValue(&'static str),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Truncated => f.write_str("truncated"),
            StateError::BadMagic => f.write_str("not a pimon node state file"),
            StateError::BadChecksum => f.write_str("checksum mismatch"),
            StateError::UnknownVersion(v) => write!(f, "unknown record version {v}"),
            StateError::BadValue(what) => write!(f, "bad value: {what}"),
        }
    }
}

impl std::error::Error for StateError {}

// ---- encoding ----------------------------------------------------------------------

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => {
            out.push(1);
            put_u64(out, v);
        }
        None => out.push(0),
    }
}

fn put_ip(out: &mut Vec<u8>, ip: Option<IpAddr>) {
    match ip {
        None => out.push(0),
        Some(IpAddr::V4(a)) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
}

fn put_addr(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
    put_ip(out, addr.map(|a| a.ip()));
    if let Some(a) = addr {
        out.extend_from_slice(&a.port().to_le_bytes());
    }
}

fn put_boot(out: &mut Vec<u8>, b: &BootState, version: u8) {
    put_u64(out, b.boot_id);
    put_u64(out, b.window.base());
    put_u64(out, b.window.top());
    // Which frames above the base arrived (none unless a gap is open): without them a
    // frame stored above a gap would be stored again after a graceful restart when its
    // ack had been lost.
    if version != RECORD_VERSION_BASE_TOP {
        let seen = b.window.seen_words();
        out.push(seen.len() as u8);
        for w in seen {
            put_u64(out, w);
        }
    }
    put_u64(out, b.since_ms);
    put_u64(out, b.last_stored_ms);
    put_addr(out, b.addr);
    out.push(u8::from(b.timeline.evicted()));
    put_opt_u64(out, b.timeline.last_cycle());
    out.push(b.timeline.segments().len() as u8);
    for s in b.timeline.segments() {
        put_u64(out, s.from_cycle);
        put_u64(out, s.rule.offset as u64);
        put_u64(out, s.rule.floor);
    }
    out.push(b.timeline.gaps().len() as u8);
    for g in b.timeline.gaps() {
        put_u64(out, g.from_cycle);
        put_u64(out, g.to_cycle);
        put_u64(out, g.above_ms);
        put_u64(out, g.below_ms);
        out.push(u8::from(g.used));
    }
}

/// Appends the record body of one node.
pub fn encode_node(out: &mut Vec<u8>, name: &str, m: &NodeMeta) {
    encode_node_as(out, name, m, RECORD_VERSION);
}

fn encode_node_as(out: &mut Vec<u8>, name: &str, m: &NodeMeta, version: u8) {
    out.push(version);
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    let c = &m.counters;
    for v in [
        c.received,
        c.duplicate,
        c.missing,
        c.boot_id_changes,
        c.clock_skewed,
        c.replays,
        c.series_refused,
        c.unconfirmed,
        c.name_conflicts,
    ] {
        put_u64(out, v);
    }
    put_u64(out, m.first_seen_ms);
    put_u64(out, m.last_seen_ms);
    put_opt_u64(out, m.max_time_ms);
    put_opt_u64(out, m.values_seq);
    out.extend_from_slice(&m.interval_ms.to_le_bytes());
    put_u64(out, m.clock_skew_ms as u64);
    out.push(u8::from(m.clock_bad));
    put_opt_u64(out, m.key_id.map(u64::from));
    put_ip(out, m.admitted_from);
    for r in m.retired {
        put_opt_u64(out, r);
    }
    put_boot(out, &m.current, version);
    match &m.previous {
        Some(p) => {
            out.push(1);
            put_boot(out, p, version);
        }
        None => out.push(0),
    }
}

/// Length-prefixed record bodies, ready to be written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Records {
    bytes: Vec<u8>,
    count: u32,
}

impl Records {
    /// Adds one node.
    pub fn push(&mut self, name: &str, meta: &NodeMeta) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&[0; 4]);
        encode_node(&mut self.bytes, name, meta);
        let len = (self.bytes.len() - at - 4) as u32;
        self.bytes[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The nodes named in `names` (those still there) as the acks of the batch being
    /// acked answer them: with the next batch already ingested (pipelining), as they
    /// were before it ([`Ingest::acked_meta`]).
    pub fn acked(ing: &Ingest, names: &[Box<str>]) -> Records {
        let mut r = Records::default();
        for name in names {
            if let Some(meta) = ing.acked_meta(name) {
                r.push(name, meta);
            }
        }
        r
    }

    /// Every node of `store`.
    pub fn all(store: &Store) -> Records {
        let mut r = Records::default();
        for (name, n) in store.nodes() {
            r.push(name, &n.meta);
        }
        r
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.bytes[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_at_checked(4)?;
            let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
            let (body, tail) = tail.split_at_checked(len)?;
            rest = tail;
            Some(body)
        })
    }
}

/// The bytes of a snapshot of `records` with `generation`.
pub fn snapshot_bytes(generation: u64, records: &Records) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.bytes.len() + 24);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    put_u64(&mut out, generation);
    out.extend_from_slice(&records.count.to_le_bytes());
    out.extend_from_slice(&records.bytes);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The journal entries of `records`.
pub fn journal_entries(records: &Records) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.bytes.len() + 8 * records.len());
    for body in records.iter() {
        let len = (body.len() as u32).to_le_bytes();
        let mut h = crc32fast::Hasher::new();
        h.update(&len);
        h.update(body);
        out.extend_from_slice(&len);
        out.extend_from_slice(&h.finalize().to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

fn journal_header(generation: u64) -> Vec<u8> {
    let mut out = JOURNAL_MAGIC.to_vec();
    put_u64(&mut out, generation);
    out
}

// ---- decoding ----------------------------------------------------------------------

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(StateError::Truncated)?;
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        Ok(self.bytes(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, StateError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StateError::BadValue("flag")),
        }
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, StateError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, StateError> {
        Ok(if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        })
    }

    fn ip(&mut self) -> Result<Option<IpAddr>, StateError> {
        Ok(match self.u8()? {
            0 => None,
            4 => {
                let b = self.bytes(4)?;
                Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(self.bytes(16)?);
                Some(IpAddr::V6(Ipv6Addr::from(a)))
            }
            _ => return Err(StateError::BadValue("address family")),
        })
    }

    fn addr(&mut self) -> Result<Option<SocketAddr>, StateError> {
        let Some(ip) = self.ip()? else {
            return Ok(None);
        };
        let b = self.bytes(2)?;
        Ok(Some(SocketAddr::new(ip, u16::from_le_bytes([b[0], b[1]]))))
    }

    fn boot(&mut self, version: u8) -> Result<BootState, StateError> {
        let boot_id = self.u64()?;
        let base = self.u64()?;
        let top = self.u64()?;
        let mut seen = [0u64; MAX_SEEN_WORDS];
        let words = if version == RECORD_VERSION_BASE_TOP {
            0
        } else {
            usize::from(self.u8()?)
        };
        if words > MAX_SEEN_WORDS {
            return Err(StateError::BadValue("seen word count"));
        }
        for w in &mut seen[..words] {
            *w = self.u64()?;
        }
        let since_ms = self.u64()?;
        let last_stored_ms = self.u64()?;
        let addr = self.addr()?;
        let evicted = self.bool()?;
        let last_cycle = self.opt_u64()?;
        let n = usize::from(self.u8()?);
        if n > MAX_SEGMENTS {
            return Err(StateError::BadValue("segment count"));
        }
        let mut segments = heapless::Vec::<Segment, MAX_SEGMENTS>::new();
        for _ in 0..n {
            let from_cycle = self.u64()?;
            let rule = Rule {
                offset: self.u64()? as i64,
                floor: self.u64()?,
            };
            segments
                .push(Segment { from_cycle, rule })
                .map_err(|_| StateError::BadValue("segment count"))?;
        }
        let n = usize::from(self.u8()?);
        if n > MAX_GAPS {
            return Err(StateError::BadValue("gap count"));
        }
        let mut gaps = heapless::Vec::<Gap, MAX_GAPS>::new();
        for _ in 0..n {
            let gap = Gap {
                from_cycle: self.u64()?,
                to_cycle: self.u64()?,
                above_ms: self.u64()?,
                below_ms: self.u64()?,
                used: self.bool()?,
            };
            gaps.push(gap)
                .map_err(|_| StateError::BadValue("gap count"))?;
        }
        let timeline = Timeline::restore(&segments, &gaps, evicted, last_cycle).ok_or(
            StateError::BadValue("segments out of order or an empty gap"),
        )?;
        Ok(BootState {
            boot_id,
            window: Window::restore_seen(base, top, seen[..words].iter().copied()),
            timeline,
            addr,
            since_ms,
            last_stored_ms,
            heard: false,
        })
    }
}

/// Reads one record body written by [`encode_node`].
pub fn decode_node(body: &[u8]) -> Result<(String, NodeMeta), StateError> {
    let mut r = Reader(body);
    let version = r.u8()?;
    if version != RECORD_VERSION && version != RECORD_VERSION_BASE_TOP {
        return Err(StateError::UnknownVersion(version));
    }
    let len = usize::from(r.u8()?);
    let name = std::str::from_utf8(r.bytes(len)?)
        .map_err(|_| StateError::BadValue("node name"))?
        .to_string();
    if pimon_protocol::node_name_error(&name).is_some() {
        return Err(StateError::BadValue("node name"));
    }
    let mut c = [0u64; 9];
    for v in &mut c {
        *v = r.u64()?;
    }
    let counters = NodeCounters {
        received: c[0],
        duplicate: c[1],
        missing: c[2],
        boot_id_changes: c[3],
        clock_skewed: c[4],
        replays: c[5],
        series_refused: c[6],
        unconfirmed: c[7],
        name_conflicts: c[8],
    };
    let first_seen_ms = r.u64()?;
    let last_seen_ms = r.u64()?;
    let max_time_ms = r.opt_u64()?;
    let values_seq = r.opt_u64()?;
    let interval_ms = r.u32()?;
    let clock_skew_ms = r.u64()? as i64;
    let clock_bad = r.bool()?;
    let key_id = match r.opt_u64()? {
        Some(k) => Some(u8::try_from(k).map_err(|_| StateError::BadValue("key id"))?),
        None => None,
    };
    let admitted_from = r.ip()?;
    let retired = [r.opt_u64()?, r.opt_u64()?];
    let current = r.boot(version)?;
    let previous = if r.bool()? {
        Some(Box::new(r.boot(version)?))
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(StateError::BadValue("trailing bytes"));
    }
    Ok((
        name,
        NodeMeta {
            current,
            previous,
            retired,
            candidate: None,
            conflict: None,
            first_seen_ms,
            last_seen_ms,
            max_time_ms,
            values_seq,
            interval_ms,
            clock_skew_ms,
            clock_bad,
            key_id,
            admitted_from,
            counters,
        },
    ))
}

/// Reads a snapshot: its generation and nodes.
pub fn decode_snapshot(bytes: &[u8]) -> Result<(u64, Vec<(String, NodeMeta)>), StateError> {
    let (body, crc) = bytes
        .split_at_checked(bytes.len().checked_sub(4).ok_or(StateError::Truncated)?)
        .ok_or(StateError::Truncated)?;
    let mut r = Reader(body);
    if r.bytes(8)? != SNAPSHOT_MAGIC {
        return Err(StateError::BadMagic);
    }
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(StateError::BadChecksum);
    }
    let generation = r.u64()?;
    let count = r.u32()?;
    let mut nodes = Vec::new();
    for _ in 0..count {
        let len = r.u32()? as usize;
        if len > MAX_RECORD {
            return Err(StateError::BadValue("record length"));
        }
        nodes.push(decode_node(r.bytes(len)?)?);
    }
    if !r.0.is_empty() {
        return Err(StateError::BadValue("trailing bytes"));
    }
    Ok((generation, nodes))
}

/// What reading a journal found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JournalRead {
    /// Its generation (`None`: no valid header).
    pub generation: Option<u64>,
    /// The nodes of its good entries, in order.
    pub nodes: Vec<(String, NodeMeta)>,
    /// Bytes after the last good entry (a write cut short, or damage).
    pub torn_bytes: usize,
}

/// Reads a journal, entry by entry, up to the first damaged or torn one.
pub fn decode_journal(bytes: &[u8]) -> JournalRead {
    let mut out = JournalRead::default();
    let mut r = Reader(bytes);
    let header = (|| {
        if r.bytes(8)? != JOURNAL_MAGIC {
            return Err(StateError::BadMagic);
        }
        r.u64()
    })();
    let Ok(generation) = header else {
        out.torn_bytes = bytes.len();
        return out;
    };
    out.generation = Some(generation);
    loop {
        let rest = r.0;
        if rest.is_empty() {
            break;
        }
        let entry = (|| {
            let len_bytes = r.bytes(4)?;
            let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]])
                as usize;
            let crc = r.u32()?;
            if len > MAX_RECORD {
                return Err(StateError::BadValue("record length"));
            }
            let body = r.bytes(len)?;
            let mut h = crc32fast::Hasher::new();
            h.update(len_bytes);
            h.update(body);
            if h.finalize() != crc {
                return Err(StateError::BadChecksum);
            }
            decode_node(body)
        })();
        match entry {
            Ok(node) => out.nodes.push(node),
            Err(_) => {
                out.torn_bytes = rest.len();
                break;
            }
        }
    }
    out
}

// ---- files -------------------------------------------------------------------------

/// What [`StateFile::open`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The nodes, each in its latest saved state (snapshot, then journal).
    pub nodes: Vec<(String, NodeMeta)>,
    /// Journal entries applied.
    pub journal_entries: usize,
    /// Bytes of a torn or damaged journal tail that were ignored.
    pub journal_torn_bytes: usize,
    /// A damaged snapshot, moved aside to this path (the nodes start afresh).
    pub damaged: Option<(PathBuf, StateError)>,
}

/// The state directory: a snapshot and a journal (see the [module docs](self)).
#[derive(Debug)]
pub struct StateFile {
    dir: PathBuf,
    journal: File,
    journal_bytes: u64,
    generation: u64,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/tmp`, fsyncs, renames it to `dir/name` and fsyncs `dir`.
fn replace_file(dir: &Path, tmp: &str, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp_path = dir.join(tmp);
    let mut f = File::create(&tmp_path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp_path, dir.join(name))?;
    sync_dir(dir)
}

impl StateFile {
    /// Opens (creating) `dir`, loads what is saved there, and starts a new generation
    /// holding it. A damaged snapshot is moved aside (`nodes.damaged-<ms>`) and
    /// reported in [`Loaded::damaged`]; only I/O errors fail.
    pub fn open(dir: &Path, now_ms: u64) -> io::Result<(StateFile, Loaded)> {
        fs::create_dir_all(dir)?;
        let mut loaded = Loaded::default();
        let snap_path = dir.join(SNAPSHOT_FILE);
        let mut generation = 0;
        let mut nodes: Vec<(String, NodeMeta)> = Vec::new();
        match fs::read(&snap_path) {
            Ok(bytes) => match decode_snapshot(&bytes) {
                Ok((g, n)) => {
                    generation = g;
                    nodes = n;
                }
                Err(e) => {
                    let aside = dir.join(format!("{SNAPSHOT_FILE}.damaged-{now_ms}"));
                    fs::rename(&snap_path, &aside)?;
                    loaded.damaged = Some((aside, e));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if loaded.damaged.is_none() {
            match fs::read(dir.join(JOURNAL_FILE)) {
                Ok(bytes) => {
                    let j = decode_journal(&bytes);
                    if j.generation == Some(generation) {
                        loaded.journal_entries = j.nodes.len();
                        loaded.journal_torn_bytes = j.torn_bytes;
                        for (name, meta) in j.nodes {
                            match nodes.iter_mut().find(|(n, _)| *n == name) {
                                Some(slot) => slot.1 = meta,
                                None => nodes.push((name, meta)),
                            }
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // Start a clean generation with what was loaded.
        let mut records = Records::default();
        for (name, meta) in &nodes {
            records.push(name, meta);
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(JOURNAL_FILE))?;
        let mut file = StateFile {
            dir: dir.to_path_buf(),
            journal,
            journal_bytes: 0,
            generation,
        };
        file.snapshot(&records)?;
        loaded.nodes = nodes;
        Ok((file, loaded))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes appended to the journal since the last snapshot.
    pub fn journal_bytes(&self) -> u64 {
        self.journal_bytes
    }

    /// Appends `records` to the journal and fdatasyncs it.
    pub fn append(&mut self, records: &Records) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let bytes = journal_entries(records);
        self.journal.write_all(&bytes)?;
        self.journal.sync_data()?;
        self.journal_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes `records` (every node) as a new snapshot and starts an empty journal.
    pub fn snapshot(&mut self, records: &Records) -> io::Result<()> {
        let next = self.generation.wrapping_add(1);
        replace_file(
            &self.dir,
            SNAPSHOT_TMP,
            SNAPSHOT_FILE,
            &snapshot_bytes(next, records),
        )?;
        self.generation = next;
        replace_file(&self.dir, JOURNAL_TMP, JOURNAL_FILE, &journal_header(next))?;
        self.journal = OpenOptions::new()
            .append(true)
            .open(self.dir.join(JOURNAL_FILE))?;
        self.journal_bytes = 0;
        Ok(())
    }
}

// ---- the server's use -----------------------------------------------------------------

/// Puts loaded nodes into `store`, most recently seen first (as many as `max_nodes`
/// allows). Returns how many were restored.
pub fn restore(store: &mut Store, mut nodes: Vec<(String, NodeMeta)>) -> usize {
    nodes.sort_by_key(|(_, m)| std::cmp::Reverse(m.last_seen_ms));
    nodes
        .into_iter()
        .filter(|(name, meta)| store.restore(name, meta.clone()))
        .count()
}

/// Shortest time between two log lines about failed state writes.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(60);

/// Saves node state from the server's ingest task: the urgent part of a batch before
/// its acks, every node now and then. The file I/O runs on a blocking thread.
#[derive(Debug)]
pub struct Saver {
    file: Arc<Mutex<StateFile>>,
    stats: Arc<AggregatorStats>,
    /// Nodes whose urgent save failed: retried with the next batch (acks wait).
    pending: Vec<Box<str>>,
    last_snapshot: Instant,
    last_error_log: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Saver {
    /// Saves into `file` (opened and loaded by [`StateFile::open`]).
    pub fn new(file: StateFile, stats: Arc<AggregatorStats>) -> Saver {
        Saver {
            file: Arc::new(Mutex::new(file)),
            stats,
            pending: Vec::new(),
            last_snapshot: Instant::now(),
            last_error_log: None,
        }
    }

    fn failed(&mut self, what: &str, e: &io::Error) {
        AggregatorStats::inc(&self.stats.state_write_errors);
        if self
            .last_error_log
            .is_none_or(|t| t.elapsed() >= ERROR_LOG_EVERY)
        {
            self.last_error_log = Some(Instant::now());
            let dir = lock(&self.file).dir().display().to_string();
            warning!("node state in {dir}: {what} failed: {e}; acks wait until it can be written");
        }
    }

    /// Call with the batch still open, after the outputs accepted it: journals the
    /// nodes whose new boot id or timeline rule must survive a crash before their
    /// frames are acked. Returns false when that failed: commit the batch (the outputs
    /// hold its lines) but do not send its acks; the nodes are retried with the next
    /// batch.
    pub async fn save_urgent(&mut self, ingest: &Mutex<Ingest>) -> bool {
        let records = {
            let mut ing = lock(ingest);
            for name in ing.take_urgent() {
                if !self.pending.contains(&name) {
                    self.pending.push(name);
                }
            }
            if self.pending.is_empty() {
                return true;
            }
            Records::acked(&ing, &self.pending)
        };
        let file = self.file.clone();
        match smol::unblock(move || lock(&file).append(&records)).await {
            Ok(()) => {
                AggregatorStats::inc(&self.stats.state_writes);
                self.pending.clear();
                true
            }
            Err(e) => {
                self.failed("journal append", &e);
                false
            }
        }
    }

    /// True when [`SNAPSHOT_EVERY`] has passed or the journal is large: the next
    /// [`Saver::snapshot_if_due`] writes every node, if no batch is open then.
    pub fn snapshot_due(&self) -> bool {
        lock(&self.file).journal_bytes() >= JOURNAL_MAX_BYTES
            || self.last_snapshot.elapsed() >= SNAPSHOT_EVERY
    }

    /// Call after a batch committed (or at shutdown with `force`): writes every node
    /// when [`SNAPSHOT_EVERY`] has passed or the journal is large.
    pub async fn snapshot_if_due(&mut self, ingest: &Mutex<Ingest>, force: bool) {
        if !force && !self.snapshot_due() {
            return;
        }
        let records = {
            let ing = lock(ingest);
            if ing.in_batch() || ing.has_sealed() {
                return;
            }
            Records::all(&ing.store)
        };
        self.last_snapshot = Instant::now();
        let file = self.file.clone();
        match smol::unblock(move || lock(&file).snapshot(&records)).await {
            Ok(()) => AggregatorStats::inc(&self.stats.state_writes),
            Err(e) => self.failed("snapshot", &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Accept;

    fn meta() -> NodeMeta {
        let mut m = NodeMeta::new(7, 1_000);
        m.current.window.accept(0);
        m.current.window.accept(5);
        m.current.addr = Some("10.0.0.5:4000".parse().unwrap());
        let c = crate::timeline::Clock {
            now_ms: 1_700_000_000_000,
            max_skew_ms: 300_000,
            max_backfill_ms: 604_800_000,
            tick_ms: 1,
        };
        m.adopt(8, 2_000);
        m.adopt(9, 3_000);
        let frame = |cycle, ts_ms| crate::timeline::FrameAt {
            cycle,
            ts_ms,
            parts: 1,
            interval_ms: 10_000,
        };
        let seen = |above| crate::timeline::Seen {
            above,
            done_below: 0,
        };
        m.current
            .timeline
            .stamp(&frame(0, 60_000), seen(0), &c, None);
        // A frame skipping two cycles (a gap), and a frame of the gap far ahead.
        m.current
            .timeline
            .stamp(&frame(3, 90_000), seen(1), &c, Some(c.now_ms));
        m.current
            .timeline
            .stamp(&frame(1, 9_000_000), seen(4), &c, Some(c.now_ms + 30_000));
        assert!(m.current.timeline.gaps()[0].used);
        m.current.addr = Some("[2001:db8::5]:4001".parse().unwrap());
        m.max_time_ms = Some(1_700_000_000_000);
        m.values_seq = Some(3);
        m.key_id = Some(4);
        m.clock_skew_ms = -5;
        m.admitted_from = Some("10.0.0.5".parse().unwrap());
        m.counters.received = 11;
        m.counters.name_conflicts = 2;
        m
    }

    #[test]
    fn a_node_round_trips_without_its_transient_parts() {
        let mut m = meta();
        // A gap open at 1..5 in the current boot.
        m.current.window.accept(0);
        m.current.window.accept(5);
        let mut out = Vec::new();
        encode_node(&mut out, "pi-ü", &m);
        let (name, back) = decode_node(&out).unwrap();
        assert_eq!(name, "pi-ü");
        // The window keeps base, top and what arrived above the base (not the bound of
        // what is counted missing); the rest is equal.
        let restored = |w: &Window| Window::restore_seen(w.base(), w.top(), w.seen_words());
        let mut want = m.clone();
        want.current.window = restored(&m.current.window);
        assert_eq!(want.current.window.seen_words(), [1 << 4]);
        let prev = want.previous.as_mut().unwrap();
        prev.window = restored(&prev.window);
        assert_eq!(back, want);
        assert_eq!(back.retired, [Some(7), None]);
    }

    /// A frame stored above a gap whose ack was lost is sent again after a graceful
    /// restart: the restored window must know it arrived.
    #[test]
    fn a_frame_stored_above_a_gap_is_a_duplicate_after_a_restart() {
        let mut m = meta();
        m.current.window.accept(0);
        m.current.window.accept(5);
        let mut out = Vec::new();
        encode_node(&mut out, "pi", &m);
        let (_, mut back) = decode_node(&out).unwrap();
        assert_eq!(back.current.window.accept(5).0, Accept::Duplicate);
        assert_eq!(back.current.window.accept(3).0, Accept::New);
    }

    #[test]
    fn a_version_2_record_without_seen_words_is_still_read() {
        let m = meta();
        let mut out = Vec::new();
        encode_node_as(&mut out, "pi", &m, RECORD_VERSION_BASE_TOP);
        let (_, back) = decode_node(&out).unwrap();
        let w = &m.current.window;
        assert_eq!(back.current.window, Window::restore(w.base(), w.top()));
        assert_eq!(back.counters, m.counters);
    }

    #[test]
    fn snapshots_and_journals_round_trip_and_never_panic_on_damage() {
        let mut records = Records::default();
        records.push("a", &meta());
        records.push("b", &NodeMeta::new(1, 0));
        let snap = snapshot_bytes(3, &records);
        let (g, nodes) = decode_snapshot(&snap).unwrap();
        assert_eq!((g, nodes.len()), (3, 2));
        let mut journal = journal_header(3);
        journal.extend(journal_entries(&records));
        let j = decode_journal(&journal);
        assert_eq!((j.generation, j.nodes.len(), j.torn_bytes), (Some(3), 2, 0));
        for cut in 0..snap.len() {
            assert!(decode_snapshot(&snap[..cut]).is_err());
            let mut flipped = snap.clone();
            flipped[cut] ^= 0x40;
            assert!(decode_snapshot(&flipped).is_err(), "byte {cut}");
        }
        for cut in 0..journal.len() {
            let j = decode_journal(&journal[..cut]);
            assert!(j.nodes.len() <= 2);
            let mut flipped = journal.clone();
            flipped[cut] ^= 0x40;
            let _ = decode_journal(&flipped);
        }
        // A torn last entry: the first survives.
        let j = decode_journal(&journal[..journal.len() - 3]);
        assert_eq!(j.nodes.len(), 1);
        assert!(j.torn_bytes > 0);
    }

    #[test]
    fn open_loads_snapshot_then_journal_of_the_same_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, loaded) = StateFile::open(dir.path(), 0).unwrap();
        assert!(loaded.nodes.is_empty());
        let mut a = Records::default();
        a.push("a", &NodeMeta::new(1, 0));
        f.snapshot(&a).unwrap();
        let mut later = NodeMeta::new(2, 0);
        later.counters.received = 42;
        let mut j = Records::default();
        j.push("a", &later);
        j.push("b", &NodeMeta::new(3, 0));
        f.append(&j).unwrap();
        drop(f);
        let (_, loaded) = StateFile::open(dir.path(), 0).unwrap();
        let names: Vec<&str> = loaded.nodes.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(loaded.nodes[0].1.counters.received, 42);
        assert_eq!(loaded.journal_entries, 2);
        // A crash between the snapshot's rename and the journal's reset: the journal of
        // the old generation is ignored (its entries are in the snapshot).
        let snap = fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap();
        let (g, _) = decode_snapshot(&snap).unwrap();
        let mut stale = journal_header(g - 1);
        let mut older = Records::default();
        older.push("a", &NodeMeta::new(99, 0));
        stale.extend(journal_entries(&older));
        fs::write(dir.path().join(JOURNAL_FILE), stale).unwrap();
        let (_, loaded) = StateFile::open(dir.path(), 0).unwrap();
        assert_eq!(loaded.nodes[0].1.boot_id(), 2);
        assert_eq!(loaded.journal_entries, 0);
    }

    #[test]
    fn a_damaged_snapshot_is_moved_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT_FILE), b"PIMNODE1 garbage").unwrap();
        let (_, loaded) = StateFile::open(dir.path(), 1234).unwrap();
        let (aside, _) = loaded.damaged.unwrap();
        assert_eq!(aside, dir.path().join("nodes.damaged-1234"));
        assert!(aside.exists());
        assert!(loaded.nodes.is_empty());
        // And a fresh, valid snapshot took its place.
        assert!(decode_snapshot(&fs::read(dir.path().join(SNAPSHOT_FILE)).unwrap()).is_ok());
    }
}
