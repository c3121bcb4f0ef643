//! `/proc/net/softnet_stat`: one line per online CPU of hexadecimal `%08x` columns.
//!
//! ```text
//! 0015d2a1 00000000 0000001c 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
//! ```
//!
//! Columns: processed, dropped, time squeezed, five zeros (was fastroute), CPU
//! collisions (0 since 4.15), received RPS (2.6.39+), flow limit count (3.11+), backlog
//! length and the CPU's number (5.14+), input and process queue lengths (6.2+). A kernel
//! that skips an offline CPU gives its number in column 13; before 5.14 the CPU is the
//! line's number. Missing columns read as 0, as in node_exporter (procfs), which also
//! needs at least 9 columns.
//!
//! As a source ([`SoftnetStat`]): node_exporter's `node_softnet_*{cpu}` families.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::text::{fmt_u32, parse_hex_u32};
use super::{FileFormat, ParseError, lines, words};
use crate::sink::SampleSink;

/// One CPU's line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftnetCpu {
    /// The CPU's number (column 13, else the line's number).
    pub cpu: u32,
    /// Packets processed.
    pub processed: u32,
    /// Packets dropped (backlog full).
    pub dropped: u32,
    /// Times `net_rx_action` ran out of budget or time with work left.
    pub time_squeezed: u32,
    /// Device-lock collisions while transmitting (always 0 since 4.15).
    pub cpu_collision: u32,
    /// Times this CPU was woken by an RPS IPI.
    pub received_rps: u32,
    /// Times the flow limit was reached.
    pub flow_limit_count: u32,
    /// Packets in the backlog queues now.
    pub backlog_len: u32,
}

/// Parses one line; `index` is its number (the CPU before 5.14).
fn parse_line(line: &[u8], index: u32) -> Result<SoftnetCpu, ParseError> {
    let mut cols = [0u32; 13];
    let mut n = 0;
    for word in words(line) {
        if let Some(slot) = cols.get_mut(n) {
            *slot = parse_hex_u32(word)?;
        }
        n += 1;
    }
    if n < 9 {
        return Err(ParseError::Malformed("at least 9 columns"));
    }
    Ok(SoftnetCpu {
        cpu: if n >= 13 { cols[12] } else { index },
        processed: cols[0],
        dropped: cols[1],
        time_squeezed: cols[2],
        cpu_collision: cols[8],
        received_rps: cols[9],
        flow_limit_count: cols[10],
        backlog_len: cols[11],
    })
}

/// Parses `softnet_stat` lazily: one item per CPU line.
pub fn parse_softnet_stat(input: &[u8]) -> impl Iterator<Item = Result<SoftnetCpu, ParseError>> {
    lines(input)
        .filter(|l| !l.trim_ascii().is_empty())
        .zip(0u32..)
        .map(|(line, index)| parse_line(line, index))
}

/// `softnet_stat` as a source: the `SOFTNET_*` rows with label `cpu`.
#[derive(Debug)]
pub struct SoftnetStat;

impl FileFormat for SoftnetStat {
    const PATH: &'static str = "proc/net/softnet_stat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let mut any = false;
        for line in parse_softnet_stat(input) {
            let c = match line {
                Ok(c) => c,
                Err(e) => {
                    bad_row(e);
                    continue;
                }
            };
            any = true;
            let mut buf = [0u8; 10];
            sink.labels(&[fmt_u32(c.cpu, &mut buf)]);
            let values = [
                (id::SOFTNET_PROCESSED, c.processed),
                (id::SOFTNET_DROPPED, c.dropped),
                (id::SOFTNET_TIMES_SQUEEZED, c.time_squeezed),
                (id::SOFTNET_CPU_COLLISION, c.cpu_collision),
                (id::SOFTNET_RECEIVED_RPS, c.received_rps),
                (id::SOFTNET_FLOW_LIMIT_COUNT, c.flow_limit_count),
                (id::SOFTNET_BACKLOG_LEN, c.backlog_len),
            ];
            for (row, v) in values {
                sink.push(row, Value::Unsigned(u64::from(v)));
            }
        }
        if any { Ok(()) } else { Err(ParseError::Empty) }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    parse_softnet_stat(input).for_each(drop);
    super::exercise_format::<SoftnetStat>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    #[test]
    fn pi4_kernel_6_6_has_15_columns() {
        let cpus: Vec<_> = parse_softnet_stat(fixture!("pi4/proc/net/softnet_stat"))
            .map(Result::unwrap)
            .collect();
        assert_eq!(cpus.len(), 4);
        assert_eq!(
            cpus[0],
            SoftnetCpu {
                cpu: 0,
                processed: 0x15d2a1,
                time_squeezed: 0x1c,
                ..SoftnetCpu::default()
            }
        );
        assert_eq!(
            cpus[3],
            SoftnetCpu {
                cpu: 3,
                processed: 0x419c,
                dropped: 3,
                backlog_len: 2,
                ..SoftnetCpu::default()
            }
        );
    }

    #[test]
    fn pizero_kernel_4_14_has_11_columns() {
        let (samples, bad, result) =
            recorded::push::<SoftnetStat>(fixture!("pizero/proc/net/softnet_stat"));
        assert_eq!((bad, result), (vec![], Ok(())));
        let u = |v| Value::Unsigned(v);
        let cpu0 = vec!["0".to_string()];
        assert_eq!(
            samples,
            [
                (cpu0.clone(), id::SOFTNET_PROCESSED, u(0x4c2e7)),
                (cpu0.clone(), id::SOFTNET_DROPPED, u(0)),
                (cpu0.clone(), id::SOFTNET_TIMES_SQUEEZED, u(2)),
                (cpu0.clone(), id::SOFTNET_CPU_COLLISION, u(0)),
                (cpu0.clone(), id::SOFTNET_RECEIVED_RPS, u(0)),
                (cpu0.clone(), id::SOFTNET_FLOW_LIMIT_COUNT, u(0)),
                (cpu0, id::SOFTNET_BACKLOG_LEN, u(0)),
            ]
        );
    }

    #[test]
    fn cpu_is_column_13_when_present() {
        // An offline CPU 1 is skipped by the kernel: the second line is CPU 2.
        let input = b"00000001 0 0 0 0 0 0 0 0 0 0 0 00000000\n00000002 0 0 0 0 0 0 0 0 0 0 0 00000002\n";
        let cpus: Vec<_> = parse_softnet_stat(input).map(|c| c.unwrap().cpu).collect();
        assert_eq!(cpus, [0, 2]);
        let old: Vec<_> = parse_softnet_stat(b"1 0 0 0 0 0 0 0 0 5\n2 0 0 0 0 0 0 0 0 6\n")
            .map(|c| c.unwrap())
            .collect();
        assert_eq!((old[1].cpu, old[1].received_rps), (1, 6));
    }

    #[test]
    fn errors() {
        let mut it = parse_softnet_stat(b"1 2 3\nzz 0 0 0 0 0 0 0 0\nffffffff1 0 0 0 0 0 0 0 0\n");
        assert_eq!(it.next(), Some(Err(ParseError::Malformed("at least 9 columns"))));
        assert_eq!(it.next(), Some(Err(ParseError::InvalidNumber)));
        assert_eq!(it.next(), Some(Err(ParseError::Overflow)));
        assert_eq!(it.next(), None);
        assert_eq!(recorded::push::<SoftnetStat>(b"\n").2, Err(ParseError::Empty));
    }
}
