//! `/proc/pressure/{cpu,memory,io}` (PSI, kernel 4.20+):
//!
//! ```text
//! some avg10=1.25 avg60=0.87 avg300=0.61 total=48213377
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! ```
//!
//! Averages are percentages, returned in hundredths without floats; `total` is
//! microseconds of stall. `cpu` has a `full` line only since 5.13.

use super::{ParseError, lines, parse_decimal_fixed, parse_u64, words};

/// One `some` or `full` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PressureLine {
    /// 10-second average share of time stalled, in hundredths of a percent.
    pub avg10: u64,
    /// 60-second average, in hundredths of a percent.
    pub avg60: u64,
    /// 300-second average, in hundredths of a percent.
    pub avg300: u64,
    /// Total stall time, microseconds.
    pub total_us: u64,
}

/// The parsed pressure file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// Some tasks stalled.
    pub some: PressureLine,
    /// All non-idle tasks stalled (absent for `cpu` before 5.13).
    pub full: Option<PressureLine>,
}

fn parse_line<'a>(mut fields: impl Iterator<Item = &'a [u8]>) -> Result<PressureLine, ParseError> {
    let mut value = |key: &'static str| -> Result<&'a [u8], ParseError> {
        let word = fields.next().ok_or(ParseError::MissingField(key))?;
        let (name, val) = word
            .split_at_checked(key.len())
            .ok_or(ParseError::MissingField(key))?;
        match val.split_first() {
            Some((b'=', number)) if name == key.as_bytes() => Ok(number),
            _ => Err(ParseError::MissingField(key)),
        }
    };
    Ok(PressureLine {
        avg10: parse_decimal_fixed(value("avg10")?, 2)?,
        avg60: parse_decimal_fixed(value("avg60")?, 2)?,
        avg300: parse_decimal_fixed(value("avg300")?, 2)?,
        total_us: parse_u64(value("total")?)?,
    })
}

/// Parses one `/proc/pressure/*` file.
pub fn parse_pressure(input: &[u8]) -> Result<Pressure, ParseError> {
    let mut some = None;
    let mut full = None;
    let mut any = false;
    for line in lines(input) {
        any = true;
        let mut fields = words(line);
        match fields.next() {
            Some(b"some") => some = Some(parse_line(fields)?),
            Some(b"full") => full = Some(parse_line(fields)?),
            _ => return Err(ParseError::Malformed("`some` or `full`")),
        }
    }
    if !any {
        return Err(ParseError::Empty);
    }
    Ok(Pressure {
        some: some.ok_or(ParseError::MissingField("some"))?,
        full,
    })
}

/// Parses `/proc/pressure/irq` (6.1+ with `CONFIG_IRQ_TIME_ACCOUNTING`), which has
/// only a `full` line: IRQ time stalls every task, so there is no `some`.
pub fn parse_pressure_irq(input: &[u8]) -> Result<PressureLine, ParseError> {
    let mut full = None;
    for line in lines(input) {
        let mut fields = words(line);
        match fields.next() {
            Some(b"full") => full = Some(parse_line(fields)?),
            Some(b"some") => {}
            _ => return Err(ParseError::Malformed("`some` or `full`")),
        }
    }
    full.ok_or(ParseError::MissingField("full"))
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_pressure(input);
    let _ = parse_pressure_irq(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        let cpu = parse_pressure(fixture!("pi4/proc/pressure/cpu")).unwrap();
        assert_eq!(
            cpu.some,
            PressureLine {
                avg10: 125,
                avg60: 87,
                avg300: 61,
                total_us: 48213377
            }
        );
        assert_eq!(
            cpu.full,
            Some(PressureLine {
                avg10: 0,
                avg60: 0,
                avg300: 0,
                total_us: 0
            })
        );
        let io = parse_pressure(fixture!("x86/proc/pressure/io")).unwrap();
        assert_eq!(io.some.total_us, 310294877);
        assert_eq!(
            io.full.map(|f| (f.avg10, f.total_us)),
            Some((29, 291203394))
        );
    }

    #[test]
    fn irq_has_only_full() {
        assert_eq!(
            parse_pressure_irq(fixture!("x86/proc/pressure/irq")).map(|l| l.total_us),
            Ok(1790386)
        );
        assert_eq!(
            parse_pressure_irq(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"),
            Err(ParseError::MissingField("full"))
        );
        assert_eq!(parse_pressure_irq(b"\n"), Err(ParseError::MissingField("full")));
        assert_eq!(
            parse_pressure_irq(b"full avg10=0.00\n"),
            Err(ParseError::MissingField("avg60"))
        );
    }

    #[test]
    fn old_cpu_file_without_full() {
        let p = parse_pressure(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n").unwrap();
        assert_eq!(p.full, None);
        assert_eq!(p.some.total_us, 12);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_pressure(b""), Err(ParseError::Empty));
        assert_eq!(
            parse_pressure(b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"),
            Err(ParseError::MissingField("some"))
        );
        assert_eq!(
            parse_pressure(b"some avg10=0.00 avg60=0.00 total=0\n"),
            Err(ParseError::MissingField("avg300"))
        );
        assert_eq!(
            parse_pressure(b"some avg10=x avg60=0.00 avg300=0.00 total=0\n"),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_pressure(b"half\n"),
            Err(ParseError::Malformed("`some` or `full`"))
        );
        assert_eq!(
            parse_pressure(b"some a\n"),
            Err(ParseError::MissingField("avg10"))
        );
    }
}
