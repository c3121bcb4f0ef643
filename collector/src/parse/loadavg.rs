//! `/proc/loadavg`: `0.52 0.58 0.59 2/312 28456`.
//!
//! Load averages are returned in hundredths without floats (`0.52` → 52), the kernel's
//! own precision.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, parse_decimal_fixed, parse_u64, words};
use crate::sink::SampleSink;

/// The parsed `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadAvg {
    /// 1-minute load average, in hundredths.
    pub load1: u64,
    /// 5-minute load average, in hundredths.
    pub load5: u64,
    /// 15-minute load average, in hundredths.
    pub load15: u64,
    /// Runnable scheduling entities (before the `/`).
    pub runnable: u64,
    /// Existing scheduling entities (after the `/`).
    pub total: u64,
    /// Most recently created PID.
    pub last_pid: u64,
}

/// Parses `/proc/loadavg`.
pub fn parse_loadavg(input: &[u8]) -> Result<LoadAvg, ParseError> {
    let mut fields = words(input);
    let mut next = |name| fields.next().ok_or(ParseError::MissingField(name));
    let first = next("load1");
    let first = match first {
        Err(_) if input.trim_ascii().is_empty() => return Err(ParseError::Empty),
        other => other?,
    };
    let load1 = parse_decimal_fixed(first, 2)?;
    let load5 = parse_decimal_fixed(next("load5")?, 2)?;
    let load15 = parse_decimal_fixed(next("load15")?, 2)?;
    let procs = next("runnable/total")?;
    let slash = procs
        .iter()
        .position(|&b| b == b'/')
        .ok_or(ParseError::Malformed("runnable/total"))?;
    let runnable = parse_u64(procs.get(..slash).unwrap_or_default())?;
    let total = parse_u64(procs.get(slash + 1..).unwrap_or_default())?;
    let last_pid = parse_u64(next("last_pid")?)?;
    Ok(LoadAvg {
        load1,
        load5,
        load15,
        runnable,
        total,
        last_pid,
    })
}

/// `/proc/loadavg` as a source: `LOAD1`, `LOAD5`, `LOAD15` (hundredths), unlabelled.
#[derive(Debug)]
pub struct ProcLoadavg;

impl FileFormat for ProcLoadavg {
    const PATH: &'static str = "proc/loadavg";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let load = parse_loadavg(input)?;
        sink.labels(&[]);
        sink.push(id::LOAD1, Value::Unsigned(load.load1));
        sink.push(id::LOAD5, Value::Unsigned(load.load5));
        sink.push(id::LOAD15, Value::Unsigned(load.load15));
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_loadavg(input);
    super::exercise_format::<ProcLoadavg>(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_loadavg(fixture!("pi4/proc/loadavg")),
            Ok(LoadAvg {
                load1: 52,
                load5: 58,
                load15: 59,
                runnable: 2,
                total: 312,
                last_pid: 28456
            })
        );
        assert_eq!(
            parse_loadavg(fixture!("x86/proc/loadavg")),
            Ok(LoadAvg {
                load1: 214,
                load5: 187,
                load15: 162,
                runnable: 4,
                total: 1523,
                last_pid: 412907
            })
        );
    }

    #[test]
    fn samples_of_the_source() {
        let (samples, bad, result) =
            super::super::recorded::push::<ProcLoadavg>(fixture!("pi4/proc/loadavg"));
        assert_eq!((bad, result), (vec![], Ok(())));
        let unlabelled = |metric, v| (vec![], metric, Value::Unsigned(v));
        assert_eq!(
            samples,
            [
                unlabelled(id::LOAD1, 52),
                unlabelled(id::LOAD5, 58),
                unlabelled(id::LOAD15, 59)
            ]
        );
        let (samples, _, result) = super::super::recorded::push::<ProcLoadavg>(b"0.1 x\n");
        assert_eq!((samples, result), (vec![], Err(ParseError::InvalidNumber)));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_loadavg(b"\n"), Err(ParseError::Empty));
        assert_eq!(
            parse_loadavg(b"0.1 0.2\n"),
            Err(ParseError::MissingField("load15"))
        );
        assert_eq!(
            parse_loadavg(b"0.1 0.2 0.3 4 5\n"),
            Err(ParseError::Malformed("runnable/total"))
        );
        assert_eq!(
            parse_loadavg(b"0.1 0.2 0.3 4/ 5\n"),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_loadavg(b"a 0.2 0.3 1/2 5\n"),
            Err(ParseError::InvalidNumber)
        );
    }
}
