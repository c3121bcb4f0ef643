//! `/proc/net/arp`: the IPv4 neighbour table, one entry per line after a header.
//!
//! ```text
//! IP address       HW type     Flags       HW address            Mask     Device
//! 192.168.1.1      0x1         0x2         dc:a6:32:0f:41:7e     *        eth0
//! ```
//!
//! node_exporter's `arp` collector (1.5, reading the file through procfs) counts the
//! entries of each device, whatever their flags (an incomplete entry, `0x0`, counts
//! too). Entries of one device are not adjacent (the kernel walks its hash table), so
//! the counts are kept in a fixed table of [`MAX_DEVICES`] devices borrowed from the
//! input: no allocation. A line that does not have the six columns is a bad row.
//!
//! As a source ([`ProcNetArp`]): `node_arp_entries{device}`.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, lines, utf8, words};
use crate::sink::SampleSink;

/// Devices counted at most; entries of further devices are bad rows.
pub const MAX_DEVICES: usize = 64;

/// Entries per device, in the order the devices first appear.
#[derive(Debug)]
pub struct ArpCounts<'a> {
    devices: [(&'a str, u32); MAX_DEVICES],
    len: usize,
}

impl<'a> ArpCounts<'a> {
    /// The devices and their entry counts.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, u32)> + '_ {
        self.devices.iter().take(self.len).copied()
    }

    fn count(&mut self, device: &'a str) -> Result<(), ParseError> {
        if let Some(slot) = self.devices.iter_mut().take(self.len).find(|(d, _)| *d == device) {
            slot.1 = slot.1.saturating_add(1);
            return Ok(());
        }
        let slot = self
            .devices
            .get_mut(self.len)
            .ok_or(ParseError::Malformed("at most 64 devices"))?;
        *slot = (device, 1);
        self.len += 1;
        Ok(())
    }
}

/// The device of one entry line (its sixth and last column).
fn entry_device(line: &[u8]) -> Result<&str, ParseError> {
    let mut cols = [&b""[..]; 6];
    let mut n = 0;
    for word in words(line) {
        if let Some(slot) = cols.get_mut(n) {
            *slot = word;
        }
        n += 1;
    }
    if n != 6 {
        return Err(ParseError::Malformed("6 columns"));
    }
    utf8(cols[5])
}

/// Counts the entries of each device; every line that is not an entry goes to
/// `bad_row`. The header line (the first) is skipped.
pub fn parse_arp<'a>(input: &'a [u8], bad_row: &mut dyn FnMut(ParseError)) -> ArpCounts<'a> {
    let mut counts = ArpCounts {
        devices: [("", 0); MAX_DEVICES],
        len: 0,
    };
    for line in lines(input).skip(1) {
        if let Err(e) = entry_device(line).and_then(|d| counts.count(d)) {
            bad_row(e);
        }
    }
    counts
}

/// `/proc/net/arp` as a source: `ARP_ENTRIES` per device (label `device`).
#[derive(Debug)]
pub struct ProcNetArp;

impl FileFormat for ProcNetArp {
    const PATH: &'static str = "proc/net/arp";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        if !lines(input).next().is_some_and(|h| h.starts_with(b"IP address")) {
            return Err(ParseError::MissingField("IP address"));
        }
        for (device, entries) in parse_arp(input, bad_row).iter() {
            sink.labels(&[device]);
            sink.push(id::ARP_ENTRIES, Value::Unsigned(u64::from(entries)));
        }
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_arp(input, &mut |_| {}).iter().count();
    super::exercise_format::<ProcNetArp>(input);
}

#[cfg(test)]
mod tests {
    use super::super::recorded;
    use super::*;

    fn counts(input: &[u8]) -> Vec<(String, u32)> {
        parse_arp(input, &mut |e| panic!("{e}"))
            .iter()
            .map(|(d, n)| (d.to_string(), n))
            .collect()
    }

    #[test]
    fn pi4_incomplete_entry_counts_too() {
        assert_eq!(counts(fixture!("pi4/proc/net/arp")), [("eth0".to_string(), 3)]);
    }

    #[test]
    fn x86_devices_in_order_of_first_entry() {
        let (samples, bad, result) = recorded::push::<ProcNetArp>(fixture!("x86/proc/net/arp"));
        assert_eq!((bad, result), (vec![], Ok(())));
        assert_eq!(
            samples,
            [
                (vec!["docker0".to_string()], id::ARP_ENTRIES, Value::Unsigned(1)),
                (vec!["enp3s0".to_string()], id::ARP_ENTRIES, Value::Unsigned(4)),
            ]
        );
        assert_eq!(counts(fixture!("pizero/proc/net/arp")), [("wlan0".to_string(), 1)]);
    }

    #[test]
    fn interleaved_devices_are_summed() {
        let input = b"IP address HW type Flags HW address Mask Device\n\
            10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:01 * eth0\n\
            10.0.1.1 0x1 0x2 aa:bb:cc:dd:ee:02 * wlan0\n\
            10.0.0.2 0x1 0x2 aa:bb:cc:dd:ee:03 * eth0\n";
        assert_eq!(
            counts(input),
            [("eth0".to_string(), 2), ("wlan0".to_string(), 1)]
        );
    }

    #[test]
    fn empty_table_sends_nothing_bad_lines_are_bad_rows() {
        let header = b"IP address       HW type     Flags       HW address            Mask     Device\n";
        assert_eq!(recorded::push::<ProcNetArp>(header), (vec![], vec![], Ok(())));
        let mut input = header.to_vec();
        input.extend_from_slice(b"10.0.0.1 0x1 0x2 aa:bb:cc:dd:ee:01 *\n10.0.0.2 0x1 0x2 aa:bb:cc:dd:ee:02 * eth0\n");
        let (samples, bad, result) = recorded::push::<ProcNetArp>(&input);
        assert_eq!((bad, result), (vec![ParseError::Malformed("6 columns")], Ok(())));
        assert_eq!(samples.len(), 1);
        assert_eq!(
            recorded::push::<ProcNetArp>(b"").2,
            Err(ParseError::MissingField("IP address"))
        );
    }

    #[test]
    fn devices_beyond_the_table_are_bad_rows() {
        let mut input = b"IP address HW type Flags HW address Mask Device\n".to_vec();
        for i in 0..=MAX_DEVICES {
            input.extend_from_slice(format!("10.0.0.{i} 0x1 0x2 aa:bb:cc:dd:ee:01 * veth{i}\n").as_bytes());
        }
        let (samples, bad, _) = recorded::push::<ProcNetArp>(&input);
        assert_eq!(samples.len(), MAX_DEVICES);
        assert_eq!(bad, [ParseError::Malformed("at most 64 devices")]);
    }
}
