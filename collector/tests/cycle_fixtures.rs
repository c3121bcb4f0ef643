//! A cycle of each fixture tree (Pi 4, Pi Zero, x86) encodes into valid datagrams of at
//! most 1232 bytes, with consecutive sequence numbers, one timestamp, every value
//! accounted for, and a bytes-per-value figure at most 8 with a MAC.

mod send_support;

use pimon_collector::print::DecodedCycle;
use pimon_protocol::{DataFrame, MAX_DATAGRAM};
use send_support::{collector, fixture, test_key};

fn check_tree(tree: &str, min_values: u32) {
    let mut c = collector(&fixture(tree), Some(test_key()), 1 << 20, 10_000);
    let first = c.cycle(1_700_000_000_000);
    c.ring_mut().send_unsent(0, |_, _| {});
    let second = c.cycle(1_700_000_010_000);
    assert_eq!(first.lost_values + second.lost_values, 0);
    assert!(second.values >= min_values, "{tree}: {second:?}");
    assert_eq!(second.first_seq, u64::from(first.parts));
    // The second cycle is kept as differences from the first: read it decoded.
    let mut held = Vec::new();
    c.ring()
        .for_each_datagram(|seq, d| held.push((seq, d.to_vec())));
    let mut values = 0;
    for (seq, d) in held.iter().skip(usize::from(first.parts)) {
        let (seq, d) = (*seq, &d[..]);
        assert!(d.len() <= MAX_DATAGRAM);
        let f = DataFrame::parse(d).unwrap();
        f.verify(&test_key()).unwrap();
        assert_eq!(f.header.seq, seq);
        assert_eq!(f.header.timestamp_ms, 1_700_000_010_000);
        assert_eq!(u64::from(f.header.part), seq - second.first_seq);
        values += u32::from(f.known_samples());
    }
    assert_eq!(values, second.values);
    let d = DecodedCycle::decode(held.iter().map(|(_, d)| &d[..])).unwrap();
    let per_value = d.bytes() as f64 / d.values() as f64;
    eprintln!(
        "{tree}: {} values/cycle, {per_value:.2} bytes/value with MAC",
        second.values
    );
    assert!(per_value <= 8.0, "{tree}: {per_value}");
}

#[test]
fn pi4() {
    check_tree("pi4", 250);
}

#[test]
fn pizero() {
    check_tree("pizero", 100);
}

#[test]
fn x86() {
    check_tree("x86", 200);
}
