//! `/proc/uptime`: `354821.56 1372093.27` — seconds since boot and summed idle seconds
//! of all CPUs, returned in hundredths of a second without floats.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, parse_decimal_fixed, words};
use crate::sink::SampleSink;

/// The parsed `/proc/uptime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uptime {
    /// Time since boot, in hundredths of a second.
    pub uptime_centis: u64,
    /// Idle time summed over all CPUs, in hundredths of a second.
    pub idle_centis: u64,
}

/// Parses `/proc/uptime`.
pub fn parse_uptime(input: &[u8]) -> Result<Uptime, ParseError> {
    let mut fields = words(input);
    let uptime = fields.next().ok_or(ParseError::Empty)?;
    let idle = fields.next().ok_or(ParseError::MissingField("idle"))?;
    Ok(Uptime {
        uptime_centis: parse_decimal_fixed(uptime, 2)?,
        idle_centis: parse_decimal_fixed(idle, 2)?,
    })
}

/// `/proc/uptime` as a source: `UPTIME` (hundredths of a second), unlabelled.
#[derive(Debug)]
pub struct ProcUptime;

impl FileFormat for ProcUptime {
    const PATH: &'static str = "proc/uptime";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let uptime = parse_uptime(input)?;
        sink.labels(&[]);
        sink.push(id::UPTIME, Value::Unsigned(uptime.uptime_centis));
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_uptime(input);
    super::exercise_format::<ProcUptime>(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_uptime(fixture!("pi4/proc/uptime")),
            Ok(Uptime {
                uptime_centis: 35482156,
                idle_centis: 137209327
            })
        );
        assert_eq!(
            parse_uptime(fixture!("pizero/proc/uptime")),
            Ok(Uptime {
                uptime_centis: 3129307,
                idle_centis: 2874411
            })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_uptime(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_uptime(b"12.5\n"),
            Err(ParseError::MissingField("idle"))
        );
        assert_eq!(parse_uptime(b"12,5 1\n"), Err(ParseError::InvalidNumber));
    }
}
