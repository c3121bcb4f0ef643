//! `/proc/meminfo` → `MEM_*` (kB, or a count for `HugePages_*`), unlabelled.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::{self, ErrorCounter};
use super::{Source, SourceKind, SourcesConfig};
use crate::parse::meminfo::parse_meminfo;
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

/// Reads `/proc/meminfo`.
#[derive(Debug)]
pub(crate) struct MeminfoReader {
    file: SysFile,
    /// Fields of the file that the catalog does not know (logged at start, `--check`).
    unknown: Vec<String>,
}

/// Fields of `file` that the catalog does not know.
fn unknown_fields(file: &SysFile) -> Vec<String> {
    // The file's own size (a read buffer's worth would stay in the heap for nothing).
    let Ok(bytes) = std::fs::read(file.path()) else {
        return Vec::new();
    };
    parse_meminfo(&bytes)
        .flatten()
        .filter(|f| meminfo_id(f.name).is_none())
        .map(|f| f.name.to_owned())
        .collect()
}

impl Source for MeminfoReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let file = SysFile::open_under(&config.root, "proc/meminfo")?;
        let unknown = unknown_fields(&file);
        if !unknown.is_empty() {
            log::note(
                SourceKind::Meminfo,
                format_args!("fields not in the catalog, not sent: {}", unknown.join(", ")),
            );
        }
        Ok(MeminfoReader { file, unknown })
    }

    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unknown.is_empty() {
            return Ok(());
        }
        write!(f, "; not in the catalog: {}", self.unknown.join(", "))
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
        for field in parse_meminfo(bytes) {
            match field {
                Ok(field) => {
                    if let Some(metric) = meminfo_id(field.name) {
                        sink.push(metric, Value::Unsigned(field.value));
                    }
                }
                Err(e) => errors.fail(format_args!("{}: {e}", self.file.path().display())),
            }
        }
    }
}
