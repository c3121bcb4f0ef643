//! `/proc/stat`: CPU time per mode (total and per CPU) and the system-wide counters.
//!
//! ```text
//! cpu  1393280 32966 572056 13343292 6130 0 17875 0 0 0
//! cpu0 340740 8225 147018 3330118 1576 0 11286 0 0 0
//! intr 478493201 0 0 …
//! ctxt 796213465
//! btime 1719830584
//! processes 2046218
//! procs_running 2
//! procs_blocked 0
//! ```
//!
//! CPU times are USER_HZ ticks (jiffies), as the kernel prints them. Kernels older than
//! 2.6.33 print fewer than ten modes; the missing trailing ones read as 0.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, lines, parse_u64, words};
use crate::sink::SampleSink;

/// Time one CPU (or all CPUs together) spent in each mode, in USER_HZ ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: u64,
    /// Niced processes in user mode.
    pub nice: u64,
    /// Kernel mode.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Waiting for I/O.
    pub iowait: u64,
    /// Servicing hardware interrupts.
    pub irq: u64,
    /// Servicing soft interrupts.
    pub softirq: u64,
    /// Stolen by the hypervisor.
    pub steal: u64,
    /// Running a guest (already included in `user`).
    pub guest: u64,
    /// Running a niced guest (already included in `nice`).
    pub guest_nice: u64,
}

impl CpuTimes {
    /// The eight non-guest modes in the kernel's (and the catalog's) order: user, nice,
    /// system, idle, iowait, irq, softirq, steal.
    pub fn modes(&self) -> [u64; 8] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
    }

    /// Parses the numbers after the `cpu`/`cpuN` word (at least four: user nice system idle).
    fn parse<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> Result<Self, ParseError> {
        let mut values = [0u64; 10];
        let mut count = 0usize;
        for slot in values.iter_mut() {
            match fields.next() {
                Some(word) => {
                    *slot = parse_u64(word)?;
                    count += 1;
                }
                None => break,
            }
        }
        if count < 4 {
            return Err(ParseError::Malformed("at least 4 CPU time fields"));
        }
        let [
            user,
            nice,
            system,
            idle,
            iowait,
            irq,
            softirq,
            steal,
            guest,
            guest_nice,
        ] = values;
        Ok(CpuTimes {
            user,
            nice,
            system,
            idle,
            iowait,
            irq,
            softirq,
            steal,
            guest,
            guest_nice,
        })
    }
}

/// The parsed `/proc/stat`: system-wide figures, and [`Stat::cpus`] for per-CPU times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a> {
    /// The `cpu` line: all CPUs together.
    pub total: CpuTimes,
    /// `ctxt`: context switches since boot.
    pub context_switches: u64,
    /// First number of `intr`: interrupts serviced since boot.
    pub interrupts: u64,
    /// `processes`: forks since boot.
    pub forks: u64,
    /// `procs_running`: runnable processes.
    pub procs_running: u64,
    /// `procs_blocked`: processes blocked on I/O.
    pub procs_blocked: u64,
    /// `btime`: boot time, seconds since the Unix epoch.
    pub boot_time: u64,
    input: &'a [u8],
}

impl<'a> Stat<'a> {
    /// The per-CPU lines (`cpuN`), in file order, as `(N, times)`. Offline CPUs have no
    /// line, so numbers may skip. A malformed line yields an error and the rest continue.
    pub fn cpus(&self) -> impl Iterator<Item = Result<(u32, CpuTimes), ParseError>> + 'a {
        lines(self.input).filter_map(|line| {
            let mut fields = words(line);
            let number = fields.next()?.strip_prefix(b"cpu")?;
            if number.is_empty() {
                return None; // the total line
            }
            Some(parse_cpu_number(number).and_then(|n| Ok((n, CpuTimes::parse(fields)?))))
        })
    }
}

fn parse_cpu_number(digits: &[u8]) -> Result<u32, ParseError> {
    u32::try_from(parse_u64(digits)?).map_err(|_| ParseError::Overflow)
}

/// Parses `/proc/stat`. All of `cpu`, `intr`, `ctxt`, `btime`, `processes`,
/// `procs_running` and `procs_blocked` are required; unknown lines are ignored.
pub fn parse_stat(input: &[u8]) -> Result<Stat<'_>, ParseError> {
    let mut total = None;
    let mut ctxt = None;
    let mut intr = None;
    let mut forks = None;
    let mut running = None;
    let mut blocked = None;
    let mut btime = None;
    let mut any = false;
    for line in lines(input) {
        any = true;
        let mut fields = words(line);
        let Some(key) = fields.next() else { continue };
        let slot = match key {
            b"cpu" => {
                total = Some(CpuTimes::parse(fields)?);
                continue;
            }
            b"ctxt" => &mut ctxt,
            b"intr" => &mut intr,
            b"processes" => &mut forks,
            b"procs_running" => &mut running,
            b"procs_blocked" => &mut blocked,
            b"btime" => &mut btime,
            _ => continue,
        };
        let value = fields
            .next()
            .ok_or(ParseError::Malformed("a value after the key"))?;
        *slot = Some(parse_u64(value)?);
    }
    if !any {
        return Err(ParseError::Empty);
    }
    Ok(Stat {
        total: total.ok_or(ParseError::MissingField("cpu"))?,
        context_switches: ctxt.ok_or(ParseError::MissingField("ctxt"))?,
        interrupts: intr.ok_or(ParseError::MissingField("intr"))?,
        forks: forks.ok_or(ParseError::MissingField("processes"))?,
        procs_running: running.ok_or(ParseError::MissingField("procs_running"))?,
        procs_blocked: blocked.ok_or(ParseError::MissingField("procs_blocked"))?,
        boot_time: btime.ok_or(ParseError::MissingField("btime"))?,
        input,
    })
}

/// `/proc/stat` as a source: the system-wide `STAT_*` (unlabelled), then per CPU
/// (label `cpu`) `CPU_SECONDS_*` and `CPU_GUEST_SECONDS_*`, in jiffies.
#[derive(Debug)]
pub struct ProcStat;

/// Catalog ids of the eight non-guest modes, in [`CpuTimes::modes`] order.
const MODE_IDS: [u16; 8] = [
    id::CPU_SECONDS_USER,
    id::CPU_SECONDS_NICE,
    id::CPU_SECONDS_SYSTEM,
    id::CPU_SECONDS_IDLE,
    id::CPU_SECONDS_IOWAIT,
    id::CPU_SECONDS_IRQ,
    id::CPU_SECONDS_SOFTIRQ,
    id::CPU_SECONDS_STEAL,
];

impl FileFormat for ProcStat {
    const PATH: &'static str = "proc/stat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let stat = parse_stat(input)?;
        sink.labels(&[]);
        sink.push(
            id::STAT_CONTEXT_SWITCHES,
            Value::Unsigned(stat.context_switches),
        );
        sink.push(id::STAT_INTERRUPTS, Value::Unsigned(stat.interrupts));
        sink.push(id::STAT_FORKS, Value::Unsigned(stat.forks));
        sink.push(id::STAT_PROCS_RUNNING, Value::Unsigned(stat.procs_running));
        sink.push(id::STAT_PROCS_BLOCKED, Value::Unsigned(stat.procs_blocked));
        sink.push(id::STAT_BOOT_TIME, Value::Unsigned(stat.boot_time));
        for cpu in stat.cpus() {
            let (number, times) = match cpu {
                Ok(cpu) => cpu,
                Err(e) => {
                    bad_row(e);
                    continue;
                }
            };
            let mut digits = [0u8; 10];
            sink.labels(&[super::fmt_u32(number, &mut digits)]);
            for (metric, value) in MODE_IDS.into_iter().zip(times.modes()) {
                sink.push(metric, Value::Unsigned(value));
            }
            sink.push(id::CPU_GUEST_SECONDS_USER, Value::Unsigned(times.guest));
            sink.push(
                id::CPU_GUEST_SECONDS_NICE,
                Value::Unsigned(times.guest_nice),
            );
        }
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    if let Ok(stat) = parse_stat(input) {
        let _ = stat.total.modes();
        for (_, times) in stat.cpus().flatten() {
            let _ = times.modes();
        }
    }
    super::exercise_format::<ProcStat>(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture_value_by_value() {
        let stat = parse_stat(fixture!("pi4/proc/stat")).unwrap();
        assert_eq!(
            stat.total,
            CpuTimes {
                user: 1393280,
                nice: 32966,
                system: 572056,
                idle: 13343292,
                iowait: 6130,
                irq: 0,
                softirq: 17875,
                steal: 0,
                guest: 0,
                guest_nice: 0
            }
        );
        assert_eq!(stat.context_switches, 796213465);
        assert_eq!(stat.interrupts, 478493201);
        assert_eq!(stat.forks, 2046218);
        assert_eq!(stat.procs_running, 2);
        assert_eq!(stat.procs_blocked, 0);
        assert_eq!(stat.boot_time, 1719830584);
        let mut cpus = stat.cpus();
        assert_eq!(
            cpus.next(),
            Some(Ok((
                0,
                CpuTimes {
                    user: 340740,
                    nice: 8225,
                    system: 147018,
                    idle: 3330118,
                    iowait: 1576,
                    irq: 0,
                    softirq: 11286,
                    ..CpuTimes::default()
                }
            )))
        );
        let rest: [u32; 3] = core::array::from_fn(|_| cpus.next().unwrap().unwrap().0);
        assert_eq!(rest, [1, 2, 3]);
        assert_eq!(cpus.next(), None);
    }

    #[test]
    fn x86_has_eight_cpus_and_pizero_one() {
        let x86 = parse_stat(fixture!("x86/proc/stat")).unwrap();
        assert_eq!(x86.cpus().count(), 8);
        let (n, times) = x86.cpus().last().unwrap().unwrap();
        assert_eq!(n, 7);
        assert_eq!(
            times.modes(),
            [819340, 1327, 297728, 9816903, 11334, 0, 4420, 0]
        );
        let zero = parse_stat(fixture!("pizero/proc/stat")).unwrap();
        assert_eq!(zero.cpus().count(), 1);
        assert_eq!(zero.total.user, 182339);
        assert_eq!(zero.boot_time, 1561967040);
    }

    #[test]
    fn old_kernel_with_fewer_modes_reads_zero_for_missing() {
        let input = b"cpu 1 2 3 4\ncpu0 1 2 3 4\nintr 5\nctxt 6\nbtime 7\nprocesses 8\nprocs_running 9\nprocs_blocked 10\n";
        let stat = parse_stat(input).unwrap();
        assert_eq!(stat.total.idle, 4);
        assert_eq!(stat.total.steal, 0);
        assert_eq!(stat.cpus().next(), Some(Ok((0, stat.total))));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_stat(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_stat(b"cpu 1 2 3 4\n"),
            Err(ParseError::MissingField("ctxt"))
        );
        assert_eq!(
            parse_stat(b"cpu 1 2 3\n"),
            Err(ParseError::Malformed("at least 4 CPU time fields"))
        );
        assert_eq!(parse_stat(b"cpu 1 2 x 4\n"), Err(ParseError::InvalidNumber));
        let input = b"cpu 1 2 3 4\ncpux 1 2 3 4\nintr 5\nctxt 6\nbtime 7\nprocesses 8\nprocs_running 9\nprocs_blocked 10\n";
        let stat = parse_stat(input).unwrap();
        assert_eq!(stat.cpus().next(), Some(Err(ParseError::InvalidNumber)));
    }
}
