//! `/proc/net/udp` and `/proc/net/udp6`: one socket per line after a header.
//!
//! ```text
//!    sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
//!   490: 00000000:14E9 00000000:0000 07 00000000:00000900 00:00000000 00000000   108        0 14990 2 00000000 17
//! ```
//!
//! node_exporter's `udp_queues` collector (procfs' `NetUDPSummary`) sums the fifth
//! column, `tx_queue:rx_queue` (bytes of memory the kernel holds for the socket's
//! queued datagrams, hexadecimal), over every socket of each file: `node_udp_queues`
//! with `ip` = `v4`/`v6` and `queue` = `tx`/`rx`. A host can have thousands of sockets
//! (128 bytes a line in `udp`), so the reader streams the file through its buffer line
//! by line ([`UdpQueues::add_line`]) rather than reading it whole; a line needs at least
//! procfs' ten columns.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::text::parse_hex_u32;
use super::{ParseError, lines, words};
use crate::sink::SampleSink;

/// The sums of one file's queues, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpQueues {
    /// Sum of `tx_queue`.
    pub tx: u64,
    /// Sum of `rx_queue`.
    pub rx: u64,
}

impl UdpQueues {
    /// Adds one socket line (not the header).
    pub fn add_line(&mut self, line: &[u8]) -> Result<(), ParseError> {
        let mut cols = words(line);
        let queues = cols.nth(4).ok_or(ParseError::Malformed("10 columns"))?;
        if cols.nth(4).is_none() {
            return Err(ParseError::Malformed("10 columns"));
        }
        let mut halves = queues.splitn(2, |&b| b == b':');
        let (Some(tx), Some(rx)) = (halves.next(), halves.next()) else {
            return Err(ParseError::Malformed("tx_queue:rx_queue"));
        };
        let (tx, rx) = (parse_hex_u32(tx)?, parse_hex_u32(rx)?);
        self.tx = self.tx.saturating_add(u64::from(tx));
        self.rx = self.rx.saturating_add(u64::from(rx));
        Ok(())
    }
}

/// Sums a whole file's bytes (the header, its first line, skipped); bad lines go to
/// `bad_row`. The reader streams instead; this is for tests and [`exercise`].
pub fn parse_udp(input: &[u8], bad_row: &mut dyn FnMut(ParseError)) -> UdpQueues {
    let mut sums = UdpQueues::default();
    for line in lines(input).skip(1) {
        if let Err(e) = sums.add_line(line) {
            bad_row(e);
        }
    }
    sums
}

/// Pushes `node_udp_queues` for `udp` and, when the file exists, `udp6` (no labels
/// beyond the rows' constant `ip` and `queue`).
pub fn push_samples(v4: Option<UdpQueues>, v6: Option<UdpQueues>, sink: &mut dyn SampleSink) {
    sink.labels(&[]);
    if let Some(q) = v4 {
        sink.push(id::UDP_QUEUES_V4_TX, Value::Unsigned(q.tx));
        sink.push(id::UDP_QUEUES_V4_RX, Value::Unsigned(q.rx));
    }
    if let Some(q) = v6 {
        sink.push(id::UDP_QUEUES_V6_TX, Value::Unsigned(q.tx));
        sink.push(id::UDP_QUEUES_V6_RX, Value::Unsigned(q.rx));
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let q = parse_udp(input, &mut |_| {});
    let _ = UdpQueues::default().add_line(input);
    struct Discard;
    impl SampleSink for Discard {
        fn labels(&mut self, _: &[&str]) {}
        fn push(&mut self, _: u16, _: Value) {}
    }
    push_samples(Some(q), Some(q), &mut Discard);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(input: &[u8]) -> UdpQueues {
        parse_udp(input, &mut |e| panic!("{e}"))
    }

    #[test]
    fn pi4_v4_and_v6() {
        assert_eq!(
            sums(fixture!("pi4/proc/net/udp")),
            UdpQueues { tx: 0x340, rx: 0x900 + 0x2A00 }
        );
        assert_eq!(sums(fixture!("pi4/proc/net/udp6")), UdpQueues { tx: 0, rx: 0x480 });
    }

    #[test]
    fn pizero_and_x86() {
        assert_eq!(sums(fixture!("pizero/proc/net/udp")), UdpQueues { tx: 0, rx: 0x300 });
        assert_eq!(
            sums(fixture!("x86/proc/net/udp")),
            UdpQueues { tx: 0x500, rx: 0x1B00 + 0x12C00 }
        );
        assert_eq!(sums(fixture!("x86/proc/net/udp6")), UdpQueues { tx: 0x200, rx: 0xD80 });
    }

    #[test]
    fn header_only_sums_to_zero() {
        assert_eq!(sums(b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"), UdpQueues::default());
    }

    #[test]
    fn bad_lines_are_bad_rows_and_skipped() {
        let mut bad = Vec::new();
        let input = b"header\n\
            1: 00000000:0044 00000000:0000 07 00000010:00000020 00:00000000 00000000 0 0 1 2\n\
            2: 00000000:0044 00000000:0000 07 00000010:00000020 00:00000000\n\
            3: 00000000:0044 00000000:0000 07 0000001000000020 00:00000000 00000000 0 0 1 2\n\
            4: 00000000:0044 00000000:0000 07 00000010:zz 00:00000000 00000000 0 0 1 2\n";
        let q = parse_udp(input, &mut |e| bad.push(e));
        assert_eq!(q, UdpQueues { tx: 0x10, rx: 0x20 });
        assert_eq!(
            bad,
            [
                ParseError::Malformed("10 columns"),
                ParseError::Malformed("tx_queue:rx_queue"),
                ParseError::InvalidNumber
            ]
        );
    }
}
