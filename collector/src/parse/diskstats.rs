//! `/proc/diskstats`: `major minor name` then 11, 15 or 17 counters per device.
//!
//! ```text
//!  179       0 mmcblk0 48270 15213 2857538 31286 1202561 1183240 29311232 2514339 0 1417860 2545672 0 0 0 0 0 0
//! ```
//!
//! Fields (Documentation/admin-guide/iostats.rst), in the order of the catalog's
//! `DISK_*` ids: reads completed, reads merged, sectors read, ms reading, writes
//! completed, writes merged, sectors written, ms writing, I/Os in progress, ms doing
//! I/O, weighted ms doing I/O; since 4.18 discards completed, discards merged, sectors
//! discarded, ms discarding; since 5.5 flushes completed, ms flushing. Lines with more
//! than 17 (a future kernel) keep the first 17.

use super::{ParseError, parse_u64, utf8, words};

/// The most counters a line carries (kernel 5.5+).
pub const DISK_FIELDS_MAX: usize = 17;

/// One device's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStat<'a> {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Kernel device name (`mmcblk0p2`, `nvme0n1`).
    pub name: &'a str,
    values: [u64; DISK_FIELDS_MAX],
    count: u8,
}

impl DiskStat<'_> {
    /// The counters the kernel printed: 11 (before 4.18), 15 (4.18+, discards) or 17
    /// (5.5+, flushes), in file order.
    pub fn fields(&self) -> &[u64] {
        self.values
            .get(..usize::from(self.count))
            .unwrap_or(&self.values)
    }
}

/// Iterator over the devices of `/proc/diskstats`; see [`parse_diskstats`].
#[derive(Debug, Clone)]
pub struct DiskStats<'a> {
    lines: super::text::Lines<'a>,
}

impl<'a> Iterator for DiskStats<'a> {
    type Item = Result<DiskStat<'a>, ParseError>;

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

fn parse_u32(word: Option<&[u8]>, name: &'static str) -> Result<u32, ParseError> {
    let value = parse_u64(word.ok_or(ParseError::MissingField(name))?)?;
    u32::try_from(value).map_err(|_| ParseError::Overflow)
}

fn parse_line(line: &[u8]) -> Result<DiskStat<'_>, ParseError> {
    let mut fields = words(line);
    let major = parse_u32(fields.next(), "major")?;
    let minor = parse_u32(fields.next(), "minor")?;
    let name = utf8(fields.next().ok_or(ParseError::MissingField("name"))?)?;
    let mut values = [0u64; DISK_FIELDS_MAX];
    let mut count = 0u8;
    for slot in values.iter_mut() {
        match fields.next() {
            Some(word) => {
                *slot = parse_u64(word)?;
                count += 1;
            }
            None => break,
        }
    }
    if !matches!(count, 11 | 15 | 17) {
        return Err(ParseError::Malformed("11, 15 or 17 counters"));
    }
    Ok(DiskStat {
        major,
        minor,
        name,
        values,
        count,
    })
}

/// Parses `/proc/diskstats` lazily, one device (or one error) per line.
pub fn parse_diskstats(input: &[u8]) -> DiskStats<'_> {
    DiskStats {
        lines: super::text::lines(input),
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    for disk in parse_diskstats(input).flatten() {
        let _ = disk.fields();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture_has_17_fields() {
        let disk = parse_diskstats(fixture!("pi4/proc/diskstats"))
            .map(|d| d.unwrap())
            .find(|d| d.name == "mmcblk0p2")
            .unwrap();
        assert_eq!((disk.major, disk.minor), (179, 2));
        assert_eq!(
            disk.fields(),
            [
                47797, 13576, 2812572, 30743, 1202559, 1183240, 29311230, 2514338, 0, 1417432,
                2545081, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(parse_diskstats(fixture!("pi4/proc/diskstats")).count(), 9);
    }

    #[test]
    fn pizero_old_kernel_has_11_fields() {
        let disk = parse_diskstats(fixture!("pizero/proc/diskstats"))
            .map(|d| d.unwrap())
            .find(|d| d.name == "mmcblk0")
            .unwrap();
        assert_eq!(
            disk.fields(),
            [
                10231, 4021, 574818, 54120, 8190, 10320, 297112, 189240, 0, 98430, 243390
            ]
        );
    }

    #[test]
    fn x86_nvme_has_discard_and_flush() {
        let disk = parse_diskstats(fixture!("x86/proc/diskstats"))
            .map(|d| d.unwrap())
            .find(|d| d.name == "nvme0n1")
            .unwrap();
        assert_eq!((disk.major, disk.minor), (259, 0));
        assert_eq!(disk.fields().len(), 17);
        assert_eq!(
            disk.fields().get(11..),
            Some(&[20391, 0, 81234112, 2039, 812394, 21094][..])
        );
    }

    #[test]
    fn fifteen_fields_and_more_than_seventeen() {
        let d = parse_diskstats(b"8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n")
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(d.fields().len(), 15);
        let d = parse_diskstats(b"8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n")
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(d.fields().len(), 17);
        assert_eq!(d.fields().last(), Some(&17));
    }

    #[test]
    fn errors() {
        let mut it = parse_diskstats(
            b"8 0 sda 1 2 3\n8\nx 0 sda\n4294967296 0 sda\n8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12\n",
        );
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("11, 15 or 17 counters")))
        );
        assert_eq!(it.next(), Some(Err(ParseError::MissingField("minor"))));
        assert_eq!(it.next(), Some(Err(ParseError::InvalidNumber)));
        assert_eq!(it.next(), Some(Err(ParseError::Overflow)));
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("11, 15 or 17 counters")))
        );
        assert_eq!(it.next(), None);
    }
}
