//! `/proc/meminfo` → `MEM_*` (kB, or a count for `HugePages_*`), unlabelled; every
//! other key → `MEM_OTHER_BYTES` / `MEM_OTHER` labelled with node_exporter's spelling of
//! the key (the aggregator names them `node_memory_<key>_bytes` / `node_memory_<key>`,
//! as node_exporter does), at most [`MAX_OTHER_KEYS`] a cycle.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::{self, ErrorCounter};
use super::{Source, SourceKind, SourcesConfig};
use crate::parse::meminfo::{MemField, exporter_key, parse_meminfo};
use crate::sink::SampleSink;

/// The catalog id of a `/proc/meminfo` field as the kernel names it (`Active(anon)`),
/// or `None` for a field the catalog does not have.
pub fn meminfo_id(name: &str) -> Option<u16> {
    Some(match name {
        "MemTotal" => id::MEM_MEMTOTAL,
        "MemFree" => id::MEM_MEMFREE,
        "MemAvailable" => id::MEM_MEMAVAILABLE,
        "Buffers" => id::MEM_BUFFERS,
        "Cached" => id::MEM_CACHED,
        "SwapCached" => id::MEM_SWAPCACHED,
        "Active" => id::MEM_ACTIVE,
        "Inactive" => id::MEM_INACTIVE,
        "Active(anon)" => id::MEM_ACTIVE_ANON,
        "Inactive(anon)" => id::MEM_INACTIVE_ANON,
        "Active(file)" => id::MEM_ACTIVE_FILE,
        "Inactive(file)" => id::MEM_INACTIVE_FILE,
        "Unevictable" => id::MEM_UNEVICTABLE,
        "Mlocked" => id::MEM_MLOCKED,
        "HighTotal" => id::MEM_HIGHTOTAL,
        "HighFree" => id::MEM_HIGHFREE,
        "LowTotal" => id::MEM_LOWTOTAL,
        "LowFree" => id::MEM_LOWFREE,
        "MmapCopy" => id::MEM_MMAPCOPY,
        "SwapTotal" => id::MEM_SWAPTOTAL,
        "SwapFree" => id::MEM_SWAPFREE,
        "Zswap" => id::MEM_ZSWAP,
        "Zswapped" => id::MEM_ZSWAPPED,
        "Dirty" => id::MEM_DIRTY,
        "Writeback" => id::MEM_WRITEBACK,
        "AnonPages" => id::MEM_ANONPAGES,
        "Mapped" => id::MEM_MAPPED,
        "Shmem" => id::MEM_SHMEM,
        "KReclaimable" => id::MEM_KRECLAIMABLE,
        "Slab" => id::MEM_SLAB,
        "SReclaimable" => id::MEM_SRECLAIMABLE,
        "SUnreclaim" => id::MEM_SUNRECLAIM,
        "KernelStack" => id::MEM_KERNELSTACK,
        "ShadowCallStack" => id::MEM_SHADOWCALLSTACK,
        "PageTables" => id::MEM_PAGETABLES,
        "SecPageTables" => id::MEM_SECPAGETABLES,
        "NFS_Unstable" => id::MEM_NFS_UNSTABLE,
        "Bounce" => id::MEM_BOUNCE,
        "WritebackTmp" => id::MEM_WRITEBACKTMP,
        "CommitLimit" => id::MEM_COMMITLIMIT,
        "Committed_AS" => id::MEM_COMMITTED_AS,
        "VmallocTotal" => id::MEM_VMALLOCTOTAL,
        "VmallocUsed" => id::MEM_VMALLOCUSED,
        "VmallocChunk" => id::MEM_VMALLOCCHUNK,
        "Percpu" => id::MEM_PERCPU,
        "HardwareCorrupted" => id::MEM_HARDWARECORRUPTED,
        "AnonHugePages" => id::MEM_ANONHUGEPAGES,
        "ShmemHugePages" => id::MEM_SHMEMHUGEPAGES,
        "ShmemPmdMapped" => id::MEM_SHMEMPMDMAPPED,
        "FileHugePages" => id::MEM_FILEHUGEPAGES,
        "FilePmdMapped" => id::MEM_FILEPMDMAPPED,
        "CmaTotal" => id::MEM_CMATOTAL,
        "CmaFree" => id::MEM_CMAFREE,
        "Unaccepted" => id::MEM_UNACCEPTED,
        "HugePages_Total" => id::MEM_HUGEPAGES_TOTAL,
        "HugePages_Free" => id::MEM_HUGEPAGES_FREE,
        "HugePages_Rsvd" => id::MEM_HUGEPAGES_RSVD,
        "HugePages_Surp" => id::MEM_HUGEPAGES_SURP,
        "Hugepagesize" => id::MEM_HUGEPAGESIZE,
        "Hugetlb" => id::MEM_HUGETLB,
        "DirectMap4k" => id::MEM_DIRECTMAP4K,
        "DirectMap4M" => id::MEM_DIRECTMAP4M,
        "DirectMap2M" => id::MEM_DIRECTMAP2M,
        "DirectMap1G" => id::MEM_DIRECTMAP1G,
        _ => return None,
    })
}

/// At most this many keys without a row a cycle (the first in the file) go through
/// `MEM_OTHER_BYTES` / `MEM_OTHER` (the kernel adds a key or two a year; a file with
/// more is not a kernel's, and each key is a series of the node at the aggregator).
pub const MAX_OTHER_KEYS: usize = 32;

/// Longest key sent through `MEM_OTHER*` (`pimon_protocol::catalog::MEMINFO_KEY_MAX`,
/// which the aggregator checks again).
const MAX_KEY_LEN: usize = 64;

/// What becomes of a key without a row of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Other<'b> {
    /// Sent with this label (node_exporter's spelling of the key).
    Sent(&'b str),
    /// node_exporter's spelling is a key with a row (`Active_anon` for a made-up
    /// `Active_anon:` line): the row's value is the kernel's, not sent twice.
    Known,
    /// Not a valid end of a Prometheus name (or longer than [`MAX_KEY_LEN`]).
    Invalid,
}

/// The label of a key that [`meminfo_id`] does not know.
fn other_key<'b>(name: &'b str, buf: &'b mut [u8; MAX_KEY_LEN]) -> Other<'b> {
    match exporter_key(name, buf) {
        None => Other::Invalid,
        // The rows whose kernel key has parentheses, under node_exporter's spelling.
        Some("Active_anon" | "Inactive_anon" | "Active_file" | "Inactive_file") => Other::Known,
        Some(key) if meminfo_id(key).is_some() => Other::Known,
        Some(key) => Other::Sent(key),
    }
}

/// Reads `/proc/meminfo`.
#[derive(Debug)]
pub(crate) struct MeminfoReader {
    file: SysFile,
    /// Keys of the file without a row of their own, sent labelled (logged at start,
    /// `--check`).
    other: Vec<String>,
    /// Keys that are not sent: invalid names, or past [`MAX_OTHER_KEYS`] (logged at
    /// start, `--check`).
    refused: Vec<String>,
    /// Keys not sent since start (invalid or past the cap), every cycle counted.
    dropped: u64,
}

/// The keys of `file` without a row of their own: (sent, not sent).
fn other_fields(file: &SysFile) -> (Vec<String>, Vec<String>) {
    // The file's own size (a read buffer's worth would stay in the heap for nothing).
    let Ok(bytes) = std::fs::read(file.path()) else {
        return (Vec::new(), Vec::new());
    };
    let (mut sent, mut refused) = (Vec::new(), Vec::new());
    let mut buf = [0u8; MAX_KEY_LEN];
    // As `collect` does: the first MAX_OTHER_KEYS keys without a row are looked at.
    let mut looked_at = 0;
    for f in parse_meminfo(&bytes).flatten() {
        if meminfo_id(f.name).is_some() {
            continue;
        }
        looked_at += 1;
        match other_key(f.name, &mut buf) {
            _ if looked_at > MAX_OTHER_KEYS => refused.push(f.name.to_owned()),
            Other::Sent(_) => sent.push(f.name.to_owned()),
            Other::Known => {}
            Other::Invalid => refused.push(f.name.to_owned()),
        }
    }
    (sent, refused)
}

impl Source for MeminfoReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let file = SysFile::open_under(&config.root, "proc/meminfo")?;
        let (other, refused) = other_fields(&file);
        if !other.is_empty() {
            log::note(
                SourceKind::Meminfo,
                format_args!(
                    "fields without a row of their own, sent as node_memory_<key>: {}",
                    other.join(", ")
                ),
            );
        }
        if !refused.is_empty() {
            log::note(
                SourceKind::Meminfo,
                format_args!(
                    "fields not sent (not a valid name, or more than {MAX_OTHER_KEYS}): {}",
                    refused.join(", ")
                ),
            );
        }
        Ok(MeminfoReader {
            file,
            other,
            refused,
            dropped: 0,
        })
    }

    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.other.is_empty() {
            write!(f, "; without a row, sent by key: {}", self.other.join(", "))?;
        }
        if !self.refused.is_empty() {
            write!(f, "; not sent: {}", self.refused.join(", "))?;
        }
        if self.dropped > 0 {
            write!(f, "; {} keys not sent since start", self.dropped)?;
        }
        Ok(())
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        let bytes = match self.file.read(scratch) {
            Ok(bytes) => bytes,
            Err(e) => return errors.fail(format_args!("{}: {e}", self.file.path().display())),
        };
        sink.labels(&[]);
        // The other keys are sent after the unlabelled rows (one label set each), from
        // this list: the file is parsed once.
        let mut others: heapless::Vec<MemField<'_>, MAX_OTHER_KEYS> = heapless::Vec::new();
        for field in parse_meminfo(bytes) {
            match field {
                Ok(field) => match meminfo_id(field.name) {
                    Some(metric) => sink.push(metric, Value::Unsigned(field.value)),
                    None => {
                        if others.push(field).is_err() {
                            self.dropped = self.dropped.saturating_add(1);
                        }
                    }
                },
                Err(e) => errors.fail(format_args!("{}: {e}", self.file.path().display())),
            }
        }
        // The label is borrowed from the read buffer, or from `buf` for a key with
        // parentheses.
        let mut buf = [0u8; MAX_KEY_LEN];
        for field in others {
            match other_key(field.name, &mut buf) {
                Other::Sent(key) => {
                    sink.labels(&[key]);
                    let metric = if field.is_kb {
                        id::MEM_OTHER_BYTES
                    } else {
                        id::MEM_OTHER
                    };
                    sink.push(metric, Value::Unsigned(field.value));
                }
                Other::Known => {}
                Other::Invalid => self.dropped = self.dropped.saturating_add(1),
            }
        }
    }
}
