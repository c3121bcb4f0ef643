//! `/proc/meminfo`: one `Name: value [kB]` line per field.
//!
//! ```text
//! MemTotal:        3885328 kB
//! Active(anon):       1560 kB
//! HugePages_Total:       0
//! ```
//!
//! Names are yielded as the kernel prints them (`Active(anon)`); node_exporter's metric
//! names spell them `Active_anon`, which the reader maps.

use super::{ParseError, parse_u64, utf8, words};

/// One `/proc/meminfo` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemField<'a> {
    /// The field name before the colon (`MemTotal`, `Active(anon)`).
    pub name: &'a str,
    /// The number as printed.
    pub value: u64,
    /// Whether the line ends in `kB` (the value is kibibytes) rather than being a count.
    pub is_kb: bool,
}

/// Iterator over the fields of `/proc/meminfo`; see [`parse_meminfo`].
#[derive(Debug, Clone)]
pub struct MemInfo<'a> {
    lines: super::text::Lines<'a>,
}

impl<'a> Iterator for MemInfo<'a> {
    type Item = Result<MemField<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            if line.trim_ascii().is_empty() {
                continue;
            }
            return Some(parse_line(line));
        }
    }
}

fn parse_line(line: &[u8]) -> Result<MemField<'_>, ParseError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::Malformed("`name:` at the start of a line"))?;
    let name = utf8(line.get(..colon).unwrap_or_default().trim_ascii())?;
    if name.is_empty() {
        return Err(ParseError::Malformed("a field name"));
    }
    let mut rest = words(line.get(colon + 1..).unwrap_or_default());
    let value = parse_u64(rest.next().ok_or(ParseError::MissingField("value"))?)?;
    let is_kb = match rest.next() {
        None => false,
        Some(b"kB") => true,
        Some(_) => return Err(ParseError::Malformed("`kB` or nothing after the value")),
    };
    if rest.next().is_some() {
        return Err(ParseError::Malformed("end of line after the unit"));
    }
    Ok(MemField { name, value, is_kb })
}

/// Parses `/proc/meminfo` lazily: each line yields one field or an error for that line.
/// An empty input yields nothing (use `.next().is_none()` to detect it).
pub fn parse_meminfo(input: &[u8]) -> MemInfo<'_> {
    MemInfo {
        lines: super::text::lines(input),
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    parse_meminfo(input).for_each(drop);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture() {
        let mut it = parse_meminfo(fixture!("pi4/proc/meminfo"));
        assert_eq!(
            it.next(),
            Some(Ok(MemField {
                name: "MemTotal",
                value: 3885328,
                is_kb: true
            }))
        );
        let fields: heapless::Vec<MemField<'_>, 64> = parse_meminfo(fixture!("pi4/proc/meminfo"))
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(fields.len(), 45);
        let find = |n: &str| fields.iter().find(|f| f.name == n).unwrap().value;
        assert_eq!(find("MemAvailable"), 3293460);
        assert_eq!(find("Active(anon)"), 1560);
        assert_eq!(find("HighTotal"), 3084288);
        assert_eq!(find("CmaFree"), 500932);
    }

    #[test]
    fn x86_hugepages_have_no_unit() {
        let fields: heapless::Vec<MemField<'_>, 64> = parse_meminfo(fixture!("x86/proc/meminfo"))
            .map(|f| f.unwrap())
            .collect();
        let huge = fields.iter().find(|f| f.name == "HugePages_Total").unwrap();
        assert_eq!((huge.value, huge.is_kb), (0, false));
        let vmalloc = fields.iter().find(|f| f.name == "VmallocTotal").unwrap();
        assert_eq!((vmalloc.value, vmalloc.is_kb), (34359738367, true));
    }

    #[test]
    fn bad_line_does_not_stop_the_others() {
        let mut it =
            parse_meminfo(b"MemTotal: 1 kB\nGarbage\nMemFree: x kB\nBuffers: 3 MB\nCached: 4 kB\n");
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("`name:` at the start of a line")))
        );
        assert_eq!(it.next(), Some(Err(ParseError::InvalidNumber)));
        assert!(it.next().unwrap().is_err());
        assert_eq!(
            it.next(),
            Some(Ok(MemField {
                name: "Cached",
                value: 4,
                is_kb: true
            }))
        );
        assert_eq!(it.next(), None);
        assert_eq!(parse_meminfo(b"").next(), None);
    }
}
