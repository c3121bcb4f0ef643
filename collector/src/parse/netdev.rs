//! `/proc/net/dev`: two header lines, then one line per interface.
//!
//! ```text
//! Inter-|   Receive                                                |  Transmit
//!  face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
//!   eth0: 2919380613  7140577    0   16    0     0          0     81234 389126422  2830140    0    0    0     0       0          0
//! ```
//!
//! The 16 counters are returned in file order, which is also the order of the catalog's
//! `NET_*` ids (`NET_RECEIVE_BYTES` … `NET_TRANSMIT_COMPRESSED`).

use super::{ParseError, parse_u64, utf8, words};

/// Number of counters per interface.
pub const NET_DEV_FIELDS: usize = 16;

/// One interface's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDev<'a> {
    /// Interface name (`eth0`).
    pub name: &'a str,
    /// Receive bytes, packets, errs, drop, fifo, frame, compressed, multicast; then
    /// transmit bytes, packets, errs, drop, fifo, colls, carrier, compressed.
    pub counters: [u64; NET_DEV_FIELDS],
}

/// Iterator over the interfaces of `/proc/net/dev`; see [`parse_net_dev`].
#[derive(Debug, Clone)]
pub struct NetDevs<'a> {
    lines: super::text::Lines<'a>,
}

impl<'a> Iterator for NetDevs<'a> {
    type Item = Result<NetDev<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            // Header lines contain `|`; interface lines never do.
            if line.trim_ascii().is_empty() || line.contains(&b'|') {
                continue;
            }
            return Some(parse_line(line));
        }
    }
}

fn parse_line(line: &[u8]) -> Result<NetDev<'_>, ParseError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::Malformed("`interface:`"))?;
    let name = utf8(line.get(..colon).unwrap_or_default().trim_ascii())?;
    if name.is_empty() {
        return Err(ParseError::Malformed("an interface name"));
    }
    let mut fields = words(line.get(colon + 1..).unwrap_or_default());
    let mut counters = [0u64; NET_DEV_FIELDS];
    for slot in counters.iter_mut() {
        *slot = parse_u64(fields.next().ok_or(ParseError::Malformed("16 counters"))?)?;
    }
    if fields.next().is_some() {
        return Err(ParseError::Malformed("16 counters"));
    }
    Ok(NetDev { name, counters })
}

/// Parses `/proc/net/dev` lazily, one interface (or one error) per line.
pub fn parse_net_dev(input: &[u8]) -> NetDevs<'_> {
    NetDevs {
        lines: super::text::lines(input),
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    parse_net_dev(input).for_each(drop);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture() {
        let mut it = parse_net_dev(fixture!("pi4/proc/net/dev"));
        let lo = it.next().unwrap().unwrap();
        assert_eq!(lo.name, "lo");
        assert_eq!(
            lo.counters,
            [
                1843712, 12044, 0, 0, 0, 0, 0, 0, 1843712, 12044, 0, 0, 0, 0, 0, 0
            ]
        );
        let eth0 = it.next().unwrap().unwrap();
        assert_eq!(eth0.name, "eth0");
        assert_eq!(
            eth0.counters,
            [
                2919380613, 7140577, 0, 16, 0, 0, 0, 81234, 389126422, 2830140, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(it.next().unwrap().unwrap().name, "wlan0");
        assert_eq!(it.next(), None);
    }

    #[test]
    fn old_kernel_without_space_after_colon() {
        let mut it = parse_net_dev(b"  eth0:4294967296 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n");
        let dev = it.next().unwrap().unwrap();
        assert_eq!(dev.counters[0], 4294967296);
        assert_eq!(dev.counters[15], 15);
    }

    #[test]
    fn errors() {
        let mut it = parse_net_dev(
            b"eth0: 1 2 3\nnocolon 1\n: 1\nwlan0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        );
        assert_eq!(it.next(), Some(Err(ParseError::Malformed("16 counters"))));
        assert_eq!(it.next(), Some(Err(ParseError::Malformed("`interface:`"))));
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("an interface name")))
        );
        assert_eq!(it.next(), Some(Err(ParseError::Malformed("16 counters"))));
        assert_eq!(it.next(), None);
    }
}
