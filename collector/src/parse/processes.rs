//! The process scan: `/proc` directory entries (`getdents64` records), `/proc/[pid]/stat`
//! and the counts node_exporter's `processes` collector and Telegraf's `processes` input
//! make of them.
//!
//! ```text
//! 1234 (kworker/0:1-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 37 0 0 20 0 1 0 12 …
//! ```
//!
//! `stat` is read after the *last* `)`: the command name may hold spaces and
//! parentheses. The state is the first field after it, the thread count the eighteenth.

use super::{ParseError, parse_u64, words};

/// The state letters of `/proc/[pid]/stat` counted separately, in the catalog's order
/// (`PROCESSES_STATE_*`): the kernel's `task_state_array` since 4.14, and `W` (paging
/// before 2.6, waking in 2.6.33–3.13) for Telegraf's `paging`.
pub const STATES: [u8; 10] = *b"RSDTtXZPIW";

/// Where `letter` is in [`STATES`] (`None` for a letter counted in no state: `x`, `K` of
/// 2.6.33–3.13 kernels).
pub fn state_index(letter: u8) -> Option<usize> {
    STATES.iter().position(|&s| s == letter)
}

/// What one `/proc/[pid]/stat` (or `/proc/[pid]/task/[tid]/stat`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskStat {
    /// The state letter (`R`, `S`, `D`, …).
    pub state: u8,
    /// Threads in the process (`num_threads`).
    pub threads: u64,
}

/// Parses a `stat` file of a process or thread.
pub fn parse_task_stat(input: &[u8]) -> Result<TaskStat, ParseError> {
    if input.trim_ascii().is_empty() {
        return Err(ParseError::Empty);
    }
    let close = input
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(ParseError::Malformed("(comm)"))?;
    let mut fields = words(input.get(close + 1..).unwrap_or_default());
    let state = fields
        .next()
        .and_then(|f| f.first().copied())
        .ok_or(ParseError::MissingField("state"))?;
    // ppid … nice: 16 fields between the state and num_threads.
    let threads = fields.nth(16).ok_or(ParseError::MissingField("num_threads"))?;
    Ok(TaskStat {
        state,
        threads: parse_u64(threads)?,
    })
}

/// What a process's own `/proc/self/stat` says of its cost (client_golang's process
/// collector's `process_cpu_seconds_total`, `_virtual_memory_bytes`,
/// `_resident_memory_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessUsage {
    /// `utime` + `stime`, in clock ticks (USER_HZ).
    pub cpu_ticks: u64,
    /// `vsize`, bytes.
    pub virtual_bytes: u64,
    /// `rss`, pages.
    pub resident_pages: u64,
}

/// Parses `/proc/[pid]/stat` for [`ProcessUsage`].
///
/// ```
/// use pimon_collector::parse::processes::{ProcessUsage, parse_process_usage};
/// let stat = b"7 (pimon collector) S 1 7 7 0 -1 4194560 150 0 0 0 12 5 0 0 20 0 2 0 99 4612096 230 18446744073709551615\n";
/// assert_eq!(
///     parse_process_usage(stat),
///     Ok(ProcessUsage { cpu_ticks: 17, virtual_bytes: 4_612_096, resident_pages: 230 })
/// );
/// ```
pub fn parse_process_usage(input: &[u8]) -> Result<ProcessUsage, ParseError> {
    let close = input
        .iter()
        .rposition(|&b| b == b')')
        .ok_or(ParseError::Malformed("(comm)"))?;
    // After the name: state (0) … utime (11), stime (12) … vsize (20), rss (21).
    let mut fields = words(input.get(close + 1..).unwrap_or_default());
    let mut field = |skip: usize, name: &'static str| {
        fields
            .nth(skip)
            .ok_or(ParseError::MissingField(name))
            .and_then(parse_u64)
    };
    let utime = field(11, "utime")?;
    let stime = field(0, "stime")?;
    let virtual_bytes = field(7, "vsize")?;
    let resident_pages = field(0, "rss")?;
    Ok(ProcessUsage {
        cpu_ticks: utime.saturating_add(stime),
        virtual_bytes,
        resident_pages,
    })
}

/// The process (or thread) id a `/proc` directory entry names: all digits, no leading
/// zero; `None` for every other entry (`self`, `net`, `.`).
pub fn task_id(name: &[u8]) -> Option<u32> {
    if name.first() == Some(&b'0') {
        return None;
    }
    u32::try_from(parse_u64(name).ok()?).ok()
}

/// The names in a buffer of `linux_dirent64` records as `getdents64(2)` fills it:
/// `d_ino` (8 bytes), `d_off` (8), `d_reclen` (2), `d_type` (1), then the name up to a
/// NUL, padded to `d_reclen`. Stops at the end or at a record that does not fit.
pub fn dirent_names(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    core::iter::from_fn(move || {
        let reclen = usize::from(u16::from_ne_bytes([*rest.get(16)?, *rest.get(17)?]));
        if reclen < 20 {
            rest = &[];
            return None;
        }
        let record = rest.get(..reclen)?;
        rest = rest.get(reclen..).unwrap_or_default();
        let name = record.get(19..).unwrap_or_default();
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(name.get(..end).unwrap_or_default())
    })
}

/// Counts of one scan: processes (or threads) by state, and their total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Count per letter of [`STATES`].
    pub by_state: [u64; STATES.len()],
    /// Every task counted, whatever its state (Telegraf's `total`).
    pub total: u64,
}

impl StateCounts {
    /// Counts one task in `state`.
    pub fn add(&mut self, state: u8) {
        self.total += 1;
        if let Some(slot) = state_index(state).and_then(|i| self.by_state.get_mut(i)) {
            *slot += 1;
        }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    if let Ok(stat) = parse_task_stat(input) {
        let mut counts = StateCounts::default();
        counts.add(stat.state);
    }
    let _ = parse_process_usage(input);
    for name in dirent_names(input) {
        let _ = task_id(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_of_a_kernel_thread_and_of_a_name_with_parentheses() {
        let kworker = b"1234 (kworker/0:1-events) I 2 0 0 0 -1 69238880 0 0 0 0 0 37 0 0 20 0 1 0 12 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(
            parse_task_stat(kworker),
            Ok(TaskStat {
                state: b'I',
                threads: 1
            })
        );
        let odd = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 7 0 99 1000 20\n";
        assert_eq!(
            parse_task_stat(odd),
            Ok(TaskStat {
                state: b'S',
                threads: 7
            })
        );
    }

    #[test]
    fn stat_errors() {
        assert_eq!(parse_task_stat(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_task_stat(b"1 comm S 1"),
            Err(ParseError::Malformed("(comm)"))
        );
        assert_eq!(
            parse_task_stat(b"1 (x)"),
            Err(ParseError::MissingField("state"))
        );
        assert_eq!(
            parse_task_stat(b"1 (x) S 1 2 3"),
            Err(ParseError::MissingField("num_threads"))
        );
        assert_eq!(
            parse_task_stat(b"1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 x"),
            Err(ParseError::InvalidNumber)
        );
    }

    #[test]
    fn task_ids_are_plain_decimal() {
        assert_eq!(task_id(b"1"), Some(1));
        assert_eq!(task_id(b"4194304"), Some(4_194_304));
        for name in [&b"self"[..], b"0", b"01", b"", b"1a", b"99999999999"] {
            assert_eq!(task_id(name), None, "{name:?}");
        }
    }

    /// `linux_dirent64` records as the kernel writes them, the last one cut short.
    #[test]
    fn dirents_are_read_until_a_record_does_not_fit() {
        fn record(out: &mut [u8], at: usize, name: &[u8]) -> usize {
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            out[at + 16..at + 18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            out[at + 18] = 4; // DT_DIR
            out[at + 19..at + 19 + name.len()].copy_from_slice(name);
            at + reclen
        }
        let mut buf = [0u8; 128];
        let mut at = record(&mut buf, 0, b".");
        at = record(&mut buf, at, b"1");
        at = record(&mut buf, at, b"self");
        at = record(&mut buf, at, b"31337");
        let names: [&[u8]; 4] = [b".", b"1", b"self", b"31337"];
        assert!(dirent_names(&buf[..at]).eq(names));
        assert!(dirent_names(&buf[..at - 1]).eq(names[..3].iter().copied()));
        assert_eq!(dirent_names(&[0u8; 40]).count(), 0);
    }

    #[test]
    fn counts_by_state() {
        let mut c = StateCounts::default();
        for s in *b"RSSSZIxt" {
            c.add(s);
        }
        assert_eq!(c.total, 8);
        assert_eq!(c.by_state, [1, 3, 0, 0, 1, 0, 1, 0, 1, 0]);
    }
}
