//! `/proc/schedstat` (`CONFIG_SCHEDSTATS`): per-CPU run-queue statistics.
//!
//! ```text
//! version 15
//! timestamp 4383910093
//! cpu0 0 0 61729731 24613720 31984822 17412909 41298371039122 9012839182734 37092817
//! domain0 f 43445 42828 25 333 24 0 2 0 …
//! ```
//!
//! A `cpuN` line has nine numbers: `sched_yield` calls, a legacy 0, `schedule` calls,
//! of which to idle, wake-ups, of which local, then the three node_exporter exports:
//! nanoseconds spent running tasks (`rq_cpu_time`), nanoseconds tasks waited on the run
//! queue (`run_delay`) and timeslices run (`pcount`). `domainN` lines (load balancing
//! per scheduling domain) and the header lines are skipped, as by node_exporter
//! (procfs), which matches `cpu(\d+)` followed by nine numbers.
//!
//! As a source ([`ProcSchedstat`]): node_exporter's `node_schedstat_*{cpu}` families.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, lines, parse_u64, utf8, words};
use crate::sink::SampleSink;

/// One `cpuN` line's figures node_exporter exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedstatCpu<'a> {
    /// The CPU's number, as written after `cpu` (`"0"`).
    pub cpu: &'a str,
    /// Nanoseconds the CPU spent running tasks.
    pub running_ns: u64,
    /// Nanoseconds tasks spent waiting on this CPU's run queue.
    pub waiting_ns: u64,
    /// Timeslices run on this CPU.
    pub timeslices: u64,
}

/// Parses one `cpuN` line; `None` for any other line (header, `domainN`).
fn parse_line(line: &[u8]) -> Option<Result<SchedstatCpu<'_>, ParseError>> {
    let mut it = words(line);
    let cpu = it.next()?.strip_prefix(b"cpu")?;
    if cpu.is_empty() || !cpu.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(parse_cpu(cpu, it))
}

fn parse_cpu<'a>(
    cpu: &'a [u8],
    mut numbers: impl Iterator<Item = &'a [u8]>,
) -> Result<SchedstatCpu<'a>, ParseError> {
    let mut cols = [0u64; 9];
    for col in &mut cols {
        *col = parse_u64(numbers.next().ok_or(ParseError::Malformed("9 numbers after cpuN"))?)?;
    }
    Ok(SchedstatCpu {
        cpu: utf8(cpu)?,
        running_ns: cols[6],
        waiting_ns: cols[7],
        timeslices: cols[8],
    })
}

/// Parses `schedstat` lazily: one item per `cpuN` line.
pub fn parse_schedstat(input: &[u8]) -> impl Iterator<Item = Result<SchedstatCpu<'_>, ParseError>> {
    lines(input).filter_map(parse_line)
}

/// `schedstat` as a source: the `SCHEDSTAT_*` rows with label `cpu`.
#[derive(Debug)]
pub struct ProcSchedstat;

impl FileFormat for ProcSchedstat {
    const PATH: &'static str = "proc/schedstat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let mut any = false;
        for line in parse_schedstat(input) {
            let c = match line {
                Ok(c) => c,
                Err(e) => {
                    bad_row(e);
                    continue;
                }
            };
            any = true;
            sink.labels(&[c.cpu]);
            sink.push(id::SCHEDSTAT_RUNNING_SECONDS, Value::Unsigned(c.running_ns));
            sink.push(id::SCHEDSTAT_WAITING_SECONDS, Value::Unsigned(c.waiting_ns));
            sink.push(id::SCHEDSTAT_TIMESLICES, Value::Unsigned(c.timeslices));
        }
        if any { Ok(()) } else { Err(ParseError::Empty) }
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    parse_schedstat(input).for_each(drop);
    super::exercise_format::<ProcSchedstat>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    #[test]
    fn pi4_four_cpus_domain_lines_skipped() {
        let cpus: Vec<_> = parse_schedstat(fixture!("pi4/proc/schedstat"))
            .map(Result::unwrap)
            .collect();
        assert_eq!(cpus.len(), 4);
        assert_eq!(
            cpus[0],
            SchedstatCpu {
                cpu: "0",
                running_ns: 41_298_371_039_122,
                waiting_ns: 9_012_839_182_734,
                timeslices: 37_092_817,
            }
        );
        assert_eq!(cpus[3].cpu, "3");
        assert_eq!(cpus[3].waiting_ns, 4_701_928_374_620);
    }

    #[test]
    fn pizero_one_cpu_without_domains() {
        let (samples, bad, result) =
            recorded::push::<ProcSchedstat>(fixture!("pizero/proc/schedstat"));
        assert_eq!((bad, result), (vec![], Ok(())));
        let cpu0 = vec!["0".to_string()];
        assert_eq!(
            samples,
            [
                (cpu0.clone(), id::SCHEDSTAT_RUNNING_SECONDS, Value::Unsigned(5_918_203_948_271)),
                (cpu0.clone(), id::SCHEDSTAT_WAITING_SECONDS, Value::Unsigned(2_817_394_019_283)),
                (cpu0, id::SCHEDSTAT_TIMESLICES, Value::Unsigned(12_920_193)),
            ]
        );
    }

    #[test]
    fn x86_eight_cpus_two_domains_each() {
        let (samples, bad, result) = recorded::push::<ProcSchedstat>(fixture!("x86/proc/schedstat"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(samples.len(), 8 * 3);
        assert_eq!(samples[21].0, ["7"]);
    }

    #[test]
    fn short_or_bad_cpu_line_is_a_bad_row_others_kept() {
        let input = b"version 15\ncpu0 1 0 2 3 4 5 6\ncpu1 1 0 2 3 4 5 6 7 x\ncpux 1 2\ncpu2 0 0 0 0 0 0 10 20 30\n";
        let (samples, bad, result) = recorded::push::<ProcSchedstat>(input);
        assert_eq!(
            bad,
            [ParseError::Malformed("9 numbers after cpuN"), ParseError::InvalidNumber]
        );
        assert_eq!(result, Ok(()));
        let values: Vec<_> = samples.iter().map(|s| (s.0[0].as_str(), s.2)).collect();
        assert_eq!(
            values,
            [("2", Value::Unsigned(10)), ("2", Value::Unsigned(20)), ("2", Value::Unsigned(30))]
        );
        assert_eq!(recorded::push::<ProcSchedstat>(b"version 15\n").2, Err(ParseError::Empty));
    }
}
