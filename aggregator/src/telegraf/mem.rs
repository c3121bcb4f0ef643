//! Telegraf's `mem` and `swap` from `/proc/meminfo`'s group: `plugins/inputs/mem/mem.go`
//! and `plugins/inputs/swap/swap.go` on gopsutil's `mem_linux.go`
//! (`fillFromMeminfoWithContext`, `SwapMemoryWithContext`).
//!
//! - `cached` is `Cached + SReclaimable` (gopsutil adds them), in bytes;
//! - `available` is `MemAvailable`; a kernel without it (before 3.14) gets
//!   `Cached + SReclaimable + MemFree` when it also lacks `Active(file)`,
//!   `Inactive(file)` or `SReclaimable`, else gopsutil estimates it from
//!   `/proc/zoneinfo`'s watermarks, which the collector does not send: then `available`,
//!   `used` and the percentages are left out rather than guessed;
//! - `used` is `total - available` (uint64, wrapping as Go's does);
//! - `used_percent = 100 * float64(used) / float64(total)`, `available_percent` alike;
//! - every field of Telegraf's Linux list that the kernel does not print is written as 0
//!   (gopsutil's struct starts zeroed), as Telegraf does;
//! - `swap`: `total`, `free` (`SwapTotal`, `SwapFree`: the same numbers `sysinfo(2)` gives
//!   gopsutil), `used = total - free`, `used_percent = float64(total - free) /
//!   float64(total) * 100.0` (0 without swap). Its `in`/`out` counters are `/proc/vmstat`'s
//!   `pswpin`/`pswpout` × 4096 (gopsutil's page size, whatever the machine's), written
//!   from the vmstat source's group when the catalog has those rows
//!   (`node_vmstat_pswpin`/`pswpout`, looked up by name: they come with the vmstat
//!   source).

use pimon_protocol::catalog::id;

use super::{Derived, Extras, Group, int};

/// Telegraf's Linux `mem` fields that are a `/proc/meminfo` key as is, in kB (× 1024):
/// written as 0 when the kernel lacks the key.
pub(super) const KB_FIELDS: [(&str, u16); 26] = [
    ("active", id::MEM_ACTIVE),
    ("buffered", id::MEM_BUFFERS),
    ("commit_limit", id::MEM_COMMITLIMIT),
    ("committed_as", id::MEM_COMMITTED_AS),
    ("dirty", id::MEM_DIRTY),
    ("free", id::MEM_MEMFREE),
    ("high_free", id::MEM_HIGHFREE),
    ("high_total", id::MEM_HIGHTOTAL),
    ("huge_page_size", id::MEM_HUGEPAGESIZE),
    ("inactive", id::MEM_INACTIVE),
    ("low_free", id::MEM_LOWFREE),
    ("low_total", id::MEM_LOWTOTAL),
    ("mapped", id::MEM_MAPPED),
    ("page_tables", id::MEM_PAGETABLES),
    ("shared", id::MEM_SHMEM),
    ("slab", id::MEM_SLAB),
    ("sreclaimable", id::MEM_SRECLAIMABLE),
    ("sunreclaim", id::MEM_SUNRECLAIM),
    ("swap_cached", id::MEM_SWAPCACHED),
    ("swap_free", id::MEM_SWAPFREE),
    ("swap_total", id::MEM_SWAPTOTAL),
    ("vmalloc_chunk", id::MEM_VMALLOCCHUNK),
    ("vmalloc_total", id::MEM_VMALLOCTOTAL),
    ("vmalloc_used", id::MEM_VMALLOCUSED),
    ("write_back_tmp", id::MEM_WRITEBACKTMP),
    ("write_back", id::MEM_WRITEBACK),
];

/// Telegraf's `huge_pages_*`: page counts, not kB.
pub(super) const COUNT_FIELDS: [(&str, u16); 2] = [
    ("huge_pages_free", id::MEM_HUGEPAGES_FREE),
    ("huge_pages_total", id::MEM_HUGEPAGES_TOTAL),
];

/// Bytes of a meminfo key (gopsutil: `t * 1024`, uint64 wrapping).
fn bytes(group: &Group<'_>, key: u16) -> Option<u64> {
    group.raw(key).map(|kb| kb.wrapping_mul(1024))
}

/// The `mem` line's computed fields; nothing unless the group is `/proc/meminfo`'s.
pub(super) fn mem(group: &Group<'_>, extras: &mut Extras<'_>) {
    let Some(total) = bytes(group, id::MEM_MEMTOTAL) else {
        return;
    };
    let free = bytes(group, id::MEM_MEMFREE).unwrap_or(0);
    let sreclaimable = bytes(group, id::MEM_SRECLAIMABLE);
    let cached = bytes(group, id::MEM_CACHED)
        .unwrap_or(0)
        .wrapping_add(sreclaimable.unwrap_or(0));
    extras.set("cached", int(cached));
    let available = match bytes(group, id::MEM_MEMAVAILABLE) {
        Some(available) => Some(available),
        None => {
            let estimated_from_zoneinfo = group.has(id::MEM_ACTIVE_FILE)
                && group.has(id::MEM_INACTIVE_FILE)
                && sreclaimable.is_some();
            let available = cached.wrapping_add(free);
            (!estimated_from_zoneinfo).then_some(available)
        }
    };
    if let Some(available) = available {
        let used = total.wrapping_sub(available);
        extras.set("available", int(available));
        extras.set("used", int(used));
        extras.set(
            "used_percent",
            Derived::Float(100.0 * used as f64 / total as f64),
        );
        extras.set(
            "available_percent",
            Derived::Float(100.0 * available as f64 / total as f64),
        );
    }
    for (field, key) in KB_FIELDS {
        extras.fill(field, int(bytes(group, key).unwrap_or(0)));
    }
    for (field, key) in COUNT_FIELDS {
        extras.fill(field, int(group.raw(key).unwrap_or(0)));
    }
}

/// Telegraf's `swap` line (its gauges) from `/proc/meminfo`'s group; `None` for any
/// other group.
pub(super) fn swap<'a>(group: &Group<'a>) -> Option<Extras<'a>> {
    let total = bytes(group, id::MEM_SWAPTOTAL)?;
    let free = bytes(group, id::MEM_SWAPFREE)?;
    let used = total.wrapping_sub(free);
    let used_percent = if total != 0 {
        used as f64 / total as f64 * 100.0
    } else {
        0.0
    };
    let mut extras = Extras::default();
    extras.set("total", int(total));
    extras.set("used", int(used));
    extras.set("free", int(free));
    extras.set("used_percent", Derived::Float(used_percent));
    Some(extras)
}

/// The catalog ids of `/proc/vmstat`'s `pswpin` and `pswpout`, if this build has them.
pub(super) static PSWP_IDS: std::sync::LazyLock<Option<[u16; 2]>> =
    std::sync::LazyLock::new(|| {
        let id = |name| pimon_protocol::catalog::find(name, &[]).map(|m| m.id);
        Some([id("node_vmstat_pswpin")?, id("node_vmstat_pswpout")?])
    });

/// Telegraf's `swap` counters (`in`, `out`: pages swapped × 4096) from the group with
/// the rows `pswp` (`pswpin`, `pswpout`); `None` for any other group.
pub(super) fn swap_io<'a>(group: &Group<'a>, pswp: [u16; 2]) -> Option<Extras<'a>> {
    let pages_in = group.raw(pswp[0])?;
    let pages_out = group.raw(pswp[1])?;
    let mut extras = Extras::default();
    extras.set("in", int(pages_in.wrapping_mul(4 * 1024)));
    extras.set("out", int(pages_out.wrapping_mul(4 * 1024)));
    Some(extras)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Value;
    use pimon_protocol::catalog::{Metric, lookup};

    fn group(samples: &[(u16, u64)]) -> Vec<(&'static Metric, Value)> {
        samples
            .iter()
            .map(|&(id, v)| (lookup(id).unwrap(), Value::Unsigned(v)))
            .collect()
    }

    fn field(extras: &Extras<'_>, key: &str) -> Option<Derived> {
        extras
            .fields
            .iter()
            .chain(&extras.defaults)
            .find(|(k, _)| *k == key)
            .map(|&(_, v)| v)
    }

    /// Keys of the Pi 4 fixture's `/proc/meminfo` (kB), through gopsutil's and
    /// Telegraf's arithmetic written out.
    #[test]
    fn pi4_meminfo_as_telegraf_computes_it() {
        let samples = group(&[
            (id::MEM_MEMTOTAL, 3885328),
            (id::MEM_MEMFREE, 2164584),
            (id::MEM_MEMAVAILABLE, 3293460),
            (id::MEM_BUFFERS, 86344),
            (id::MEM_CACHED, 1163476),
            (id::MEM_SWAPTOTAL, 102396),
            (id::MEM_SWAPFREE, 102396),
            (id::MEM_SRECLAIMABLE, 74512),
        ]);
        let g = Group {
            labels: &[],
            samples: &samples,
        };
        let mut e = Extras::default();
        mem(&g, &mut e);
        let total = 3885328u64 * 1024;
        let available = 3293460u64 * 1024;
        let used = total - available;
        assert_eq!(field(&e, "used"), Some(int(used)));
        assert_eq!(
            field(&e, "used_percent"),
            Some(Derived::Float(100.0 * used as f64 / total as f64))
        );
        assert_eq!(
            field(&e, "available_percent"),
            Some(Derived::Float(100.0 * available as f64 / total as f64))
        );
        assert_eq!(field(&e, "cached"), Some(int((1163476 + 74512) * 1024)));
        // Not in this group: Telegraf writes 0.
        assert_eq!(field(&e, "dirty"), Some(Derived::Int(0)));
        assert_eq!(field(&e, "free"), Some(int(2164584 * 1024)));

        let swap = swap(&g).unwrap();
        assert_eq!(field(&swap, "total"), Some(int(102396 * 1024)));
        assert_eq!(field(&swap, "used"), Some(Derived::Int(0)));
        assert_eq!(field(&swap, "used_percent"), Some(Derived::Float(0.0)));
    }

    #[test]
    fn without_memavailable_the_simple_estimate_or_nothing() {
        // 2.6.x before Active(file): Cached + SReclaimable + MemFree.
        let old = group(&[
            (id::MEM_MEMTOTAL, 1000),
            (id::MEM_MEMFREE, 300),
            (id::MEM_CACHED, 200),
            (id::MEM_SRECLAIMABLE, 50),
        ]);
        let mut e = Extras::default();
        mem(
            &Group {
                labels: &[],
                samples: &old,
            },
            &mut e,
        );
        assert_eq!(field(&e, "available"), Some(int(550 * 1024)));
        assert_eq!(field(&e, "used"), Some(int(450 * 1024)));
        // 3.x before 3.14: gopsutil reads /proc/zoneinfo; not guessed here.
        let zoneinfo = group(&[
            (id::MEM_MEMTOTAL, 1000),
            (id::MEM_MEMFREE, 300),
            (id::MEM_CACHED, 200),
            (id::MEM_SRECLAIMABLE, 50),
            (id::MEM_ACTIVE_FILE, 10),
            (id::MEM_INACTIVE_FILE, 10),
        ]);
        let mut e = Extras::default();
        mem(
            &Group {
                labels: &[],
                samples: &zoneinfo,
            },
            &mut e,
        );
        assert_eq!(field(&e, "available"), None);
        assert_eq!(field(&e, "used_percent"), None);
        assert_eq!(field(&e, "cached"), Some(int(250 * 1024)));
    }

    #[test]
    fn swap_in_and_out_are_pages_times_4096() {
        // Two stand-in rows: the vmstat rows come with the vmstat source.
        let samples = group(&[(id::LOAD1, 3), (id::LOAD5, 250)]);
        let g = Group {
            labels: &[],
            samples: &samples,
        };
        let io = swap_io(&g, [id::LOAD1, id::LOAD5]).unwrap();
        assert_eq!(field(&io, "in"), Some(Derived::Int(12_288)));
        assert_eq!(field(&io, "out"), Some(Derived::Int(1_024_000)));
        assert!(swap_io(&g, [id::LOAD15, id::LOAD5]).is_none());
    }

    #[test]
    fn swap_used_percent_follows_gopsutil_and_other_groups_have_no_swap() {
        let samples = group(&[(id::MEM_SWAPTOTAL, 3), (id::MEM_SWAPFREE, 2)]);
        let g = Group {
            labels: &[],
            samples: &samples,
        };
        let s = swap(&g).unwrap();
        assert_eq!(
            field(&s, "used_percent"),
            Some(Derived::Float((3072.0 - 2048.0) / 3072.0 * 100.0))
        );
        let other = group(&[(id::LOAD1, 3)]);
        assert!(
            swap(&Group {
                labels: &[],
                samples: &other
            })
            .is_none()
        );
    }
}
