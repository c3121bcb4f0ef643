//! cgroup files: the per-workload CPU, memory, IO, task and pressure figures.
//!
//! cgroup v2 (`/sys/fs/cgroup/<path>/`):
//!
//! ```text
//! cpu.stat        usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 10\n…
//! memory.current  52428800
//! memory.stat     anon 41943040\nfile 8388608\n…\ninactive_file 4194304\n…
//! memory.max      max | 268435456
//! memory.events   low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n…
//! io.stat         8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n…
//! pids.current    12
//! cpu.pressure    some avg10=… total=123\nfull avg10=… total=45   (see `pressure`)
//! ```
//!
//! and the cgroup v1 files a hybrid host keeps in its per-controller hierarchies (the
//! same path under `/sys/fs/cgroup/{cpu,memory,blkio,pids}/`): `cpu.stat`
//! (`throttled_time` in nanoseconds), `memory.usage_in_bytes`, `memory.stat` (`total_*`
//! keys: the whole subtree, as cAdvisor reads them), `memory.limit_in_bytes`,
//! `memory.oom_control` (`oom_kill`), `blkio.throttle.io_service{_bytes,d}_recursive`
//! (`8:0 Read 4096`). One parser per format takes both spellings where they differ
//! only in key names.
//!
//! [`working_set`] is cAdvisor's and `kubectl top`'s working set: usage minus
//! inactive file pages (`inactive_file` on v2, `total_inactive_file` on v1), never
//! below zero.
//!
//! The submodules turn names into workloads: [`workload`] reads cgroup directory
//! names and the log file names Kubernetes writes, [`dirent`] the records `getdents64`
//! fills a buffer with, [`json`] the container name out of a runtime's state file.

pub mod dirent;
pub mod json;
pub mod workload;

use super::{ParseError, lines, parse_u64, single_value, words};

/// `cpu.stat`: microseconds and period counts (`None`: the key is absent, e.g. the
/// throttling keys without the cpu controller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStat {
    /// `usage_usec`: CPU time of all tasks.
    pub usage_us: Option<u64>,
    /// `user_usec`.
    pub user_us: Option<u64>,
    /// `system_usec`.
    pub system_us: Option<u64>,
    /// `nr_periods`: elapsed CFS enforcement periods.
    pub periods: Option<u64>,
    /// `nr_throttled`: periods in which the cgroup was throttled.
    pub throttled_periods: Option<u64>,
    /// `throttled_usec` (v2), or v1's `throttled_time` nanoseconds ÷ 1000.
    pub throttled_us: Option<u64>,
}

/// Iterator over `key value` lines: `(key, value)`; a line with another shape is an
/// error item.
fn key_values(input: &[u8]) -> impl Iterator<Item = Result<(&[u8], u64), ParseError>> {
    lines(input).map(|line| {
        let mut w = words(line);
        match (w.next(), w.next(), w.next()) {
            (Some(key), Some(value), None) => Ok((key, parse_u64(value)?)),
            _ => Err(ParseError::Malformed("`key value`")),
        }
    })
}

/// Parses `cpu.stat` (v2, or the v1 cpu controller's: `nr_periods`, `nr_throttled`,
/// `throttled_time`). Unknown keys are skipped; an empty file or a malformed line is
/// an error.
pub fn parse_cpu_stat(input: &[u8]) -> Result<CpuStat, ParseError> {
    let mut s = CpuStat::default();
    let mut any = false;
    for kv in key_values(input) {
        let (key, value) = kv?;
        any = true;
        match key {
            b"usage_usec" => s.usage_us = Some(value),
            b"user_usec" => s.user_us = Some(value),
            b"system_usec" => s.system_us = Some(value),
            b"nr_periods" => s.periods = Some(value),
            b"nr_throttled" => s.throttled_periods = Some(value),
            b"throttled_usec" => s.throttled_us = Some(value),
            b"throttled_time" => s.throttled_us = Some(value / 1000),
            _ => {}
        }
    }
    if any { Ok(s) } else { Err(ParseError::Empty) }
}

/// The `memory.stat` keys pimon sends (bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStat {
    /// Anonymous memory: v2 `anon`, v1 `total_rss` (cAdvisor's RSS).
    pub rss: Option<u64>,
    /// Page cache: v2 `file`, v1 `total_cache`.
    pub cache: Option<u64>,
    /// Inactive file pages: v2 `inactive_file`, v1 `total_inactive_file`.
    pub inactive_file: Option<u64>,
    /// v1 `total_swap` (v2 has `memory.swap.current` instead).
    pub swap: Option<u64>,
}

/// Parses `memory.stat` of v2 or of the v1 memory controller (its `total_*` keys, the
/// whole subtree; the v1 keys without `total_` are this cgroup alone and skipped).
pub fn parse_memory_stat(input: &[u8]) -> Result<MemoryStat, ParseError> {
    let mut s = MemoryStat::default();
    let mut any = false;
    for kv in key_values(input) {
        let (key, value) = kv?;
        any = true;
        match key {
            b"anon" | b"total_rss" => s.rss = Some(value),
            b"file" | b"total_cache" => s.cache = Some(value),
            b"inactive_file" | b"total_inactive_file" => s.inactive_file = Some(value),
            b"total_swap" => s.swap = Some(value),
            _ => {}
        }
    }
    if any { Ok(s) } else { Err(ParseError::Empty) }
}

/// cAdvisor's working set: `usage` − inactive file pages, at least 0; `usage` when the
/// inactive file figure is unknown.
pub fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    usage.saturating_sub(inactive_file.unwrap_or(0))
}

/// Above this a memory limit means "no limit" (cAdvisor's `maxMemorySize`, 2^62: the
/// v1 kernel writes `9223372036854771712`).
pub const UNLIMITED_ABOVE: u64 = 1 << 62;

/// Parses `memory.max` (v2, `max` = no limit) or `memory.limit_in_bytes` (v1): the
/// limit in bytes, or 0 for none, as cAdvisor exports `container_spec_memory_limit_bytes`.
pub fn parse_memory_limit(input: &[u8]) -> Result<u64, ParseError> {
    let value = single_value(input)?;
    if value == b"max" {
        return Ok(0);
    }
    let limit = parse_u64(value)?;
    Ok(if limit > UNLIMITED_ABOVE { 0 } else { limit })
}

/// Parses a file holding one unsigned integer (`memory.current`,
/// `memory.swap.current`, `pids.current`, `memory.usage_in_bytes`).
pub fn parse_count(input: &[u8]) -> Result<u64, ParseError> {
    parse_u64(single_value(input)?)
}

/// The `oom_kill` count of `memory.events` (v2) or `memory.oom_control` (v1, kernel
/// 4.13+): processes the OOM killer killed in the cgroup (and, on v2, below it).
pub fn parse_oom_kills(input: &[u8]) -> Result<u64, ParseError> {
    let mut found = None;
    for line in lines(input) {
        let mut w = words(line);
        if let (Some(b"oom_kill"), Some(value)) = (w.next(), w.next()) {
            found = Some(parse_u64(value)?);
        }
    }
    found.ok_or(ParseError::MissingField("oom_kill"))
}

/// IO totals over every device (cAdvisor has one series per device; the wire has no
/// room for a fifth label, so pimon sends the sum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoTotals {
    /// Bytes read.
    pub read_bytes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Read operations.
    pub reads: u64,
    /// Write operations.
    pub writes: u64,
}

/// Parses v2 `io.stat` (`MAJ:MIN rbytes=… wbytes=… rios=… wios=… …` per device) into
/// the sums over its devices. Empty is valid (no IO yet): all zero.
pub fn parse_io_stat(input: &[u8]) -> Result<IoTotals, ParseError> {
    let mut t = IoTotals::default();
    for line in lines(input) {
        let mut w = words(line);
        let device = w.next().ok_or(ParseError::Malformed("MAJ:MIN"))?;
        if !device.contains(&b':') {
            return Err(ParseError::Malformed("MAJ:MIN"));
        }
        for field in w {
            let Some(eq) = field.iter().position(|&b| b == b'=') else {
                return Err(ParseError::Malformed("key=value"));
            };
            let (key, value) = (field.get(..eq).unwrap_or(b""), field.get(eq + 1..));
            let sum = match key {
                b"rbytes" => &mut t.read_bytes,
                b"wbytes" => &mut t.write_bytes,
                b"rios" => &mut t.reads,
                b"wios" => &mut t.writes,
                _ => continue,
            };
            let value = parse_u64(value.unwrap_or(b""))?;
            *sum = sum.checked_add(value).ok_or(ParseError::Overflow)?;
        }
    }
    Ok(t)
}

/// Parses a v1 `blkio.throttle.io_service_bytes_recursive` or `…io_serviced_recursive`
/// file (`8:0 Read 4096` lines and a closing `Total N`): the sums of the `Read` and
/// the `Write` lines over every device.
pub fn parse_blkio_recursive(input: &[u8]) -> Result<(u64, u64), ParseError> {
    let (mut read, mut write) = (0u64, 0u64);
    for line in lines(input) {
        let mut w = words(line);
        let (Some(first), second, third) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let (op, value) = match (second, third) {
            (Some(op), Some(value)) if first.contains(&b':') => (op, value),
            (Some(_), None) if first == b"Total" => continue,
            _ => return Err(ParseError::Malformed("`MAJ:MIN Op value` or `Total N`")),
        };
        let sum = match op {
            b"Read" => &mut read,
            b"Write" => &mut write,
            _ => continue,
        };
        *sum = sum
            .checked_add(parse_u64(value)?)
            .ok_or(ParseError::Overflow)?;
    }
    Ok((read, write))
}

/// Runs every parser of this module and its submodules over `input` (see
/// [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_cpu_stat(input);
    let _ = parse_memory_stat(input);
    let _ = parse_memory_limit(input);
    let _ = parse_count(input);
    let _ = parse_oom_kills(input);
    let _ = parse_io_stat(input);
    let _ = parse_blkio_recursive(input);
    dirent::exercise(input);
    json::exercise(input);
    workload::exercise(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_stat_v2_and_v1_throttling() {
        let v2 = parse_cpu_stat(fixture!(
            "cgroup-k3s/sys/fs/cgroup/kubepods/burstable/pod2bb435a4-8964-4bcb-a1ec-c37dd19fbfc9/cpu.stat"
        ))
        .unwrap();
        assert!(v2.usage_us.is_some() && v2.user_us.is_some() && v2.periods.is_some());
        let s = parse_cpu_stat(
            b"usage_usec 900\nuser_usec 600\nsystem_usec 300\nnr_periods 5\nnr_throttled 2\nthrottled_usec 70\nnr_bursts 0\n",
        )
        .unwrap();
        assert_eq!(
            s,
            CpuStat {
                usage_us: Some(900),
                user_us: Some(600),
                system_us: Some(300),
                periods: Some(5),
                throttled_periods: Some(2),
                throttled_us: Some(70),
            }
        );
        let v1 = parse_cpu_stat(b"nr_periods 10\nnr_throttled 1\nthrottled_time 2500000\n").unwrap();
        assert_eq!(
            (v1.periods, v1.throttled_periods, v1.throttled_us, v1.usage_us),
            (Some(10), Some(1), Some(2500), None)
        );
        assert_eq!(parse_cpu_stat(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_cpu_stat(b"usage_usec\n"),
            Err(ParseError::Malformed("`key value`"))
        );
        assert_eq!(parse_cpu_stat(b"usage_usec x\n"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn memory_stat_and_the_working_set() {
        let v2 = parse_memory_stat(b"anon 100\nfile 50\nkernel 7\nactive_file 20\ninactive_file 30\n")
            .unwrap();
        assert_eq!(
            v2,
            MemoryStat {
                rss: Some(100),
                cache: Some(50),
                inactive_file: Some(30),
                swap: None
            }
        );
        // v1: the total_* keys (whole subtree) win over this cgroup's own.
        let v1 = parse_memory_stat(
            b"cache 1\nrss 2\ninactive_file 3\ntotal_cache 10\ntotal_rss 20\ntotal_swap 5\ntotal_inactive_file 30\n",
        )
        .unwrap();
        assert_eq!(
            v1,
            MemoryStat {
                rss: Some(20),
                cache: Some(10),
                inactive_file: Some(30),
                swap: Some(5)
            }
        );
        assert_eq!(working_set(1000, Some(300)), 700);
        assert_eq!(working_set(100, Some(300)), 0, "never below zero");
        assert_eq!(working_set(1000, None), 1000);
    }

    #[test]
    fn limits_counts_and_oom_kills() {
        assert_eq!(parse_memory_limit(b"max\n"), Ok(0));
        assert_eq!(parse_memory_limit(b"268435456\n"), Ok(268_435_456));
        assert_eq!(parse_memory_limit(b"9223372036854771712\n"), Ok(0));
        assert_eq!(parse_memory_limit(b""), Err(ParseError::Empty));
        assert_eq!(parse_count(b"12\n"), Ok(12));
        assert_eq!(
            parse_oom_kills(b"low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 0\n"),
            Ok(1)
        );
        assert_eq!(
            parse_oom_kills(b"oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"),
            Ok(3)
        );
        assert_eq!(
            parse_oom_kills(b"low 0\n"),
            Err(ParseError::MissingField("oom_kill"))
        );
    }

    #[test]
    fn io_is_summed_over_devices() {
        let t = parse_io_stat(
            b"179:0 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6\n",
        )
        .unwrap();
        assert_eq!(
            t,
            IoTotals {
                read_bytes: 1001,
                write_bytes: 2002,
                reads: 13,
                writes: 24
            }
        );
        assert_eq!(parse_io_stat(b""), Ok(IoTotals::default()));
        assert_eq!(
            parse_io_stat(b"rbytes=1\n"),
            Err(ParseError::Malformed("MAJ:MIN"))
        );
        let (r, w) = parse_blkio_recursive(
            b"8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n179:0 Read 1\nTotal 12289\n",
        )
        .unwrap();
        assert_eq!((r, w), (4097, 8192));
        assert_eq!(parse_blkio_recursive(b"Total 0\n"), Ok((0, 0)));
    }
}
