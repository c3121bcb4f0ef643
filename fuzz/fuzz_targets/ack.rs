//! The collector's handling of acks from the network: `net::check_ack` (parse, node,
//! boot id, MAC) and then `Ring::apply_ack` on a ring of sent datagrams, for a sequence
//! of datagrams.
//!
//! Input: `ring | (mode | len | len bytes)…`. `ring` sets how many cycles of how many
//! parts were sent into a small ring (so old ones were evicted). Each datagram is raw
//! bytes (`mode` bit 0 clear) or an ack built from the bytes (sequence numbers near the
//! ring's, gaps, keyed when bit 1, for another node when bit 2, one byte flipped when
//! bit 3), so the fuzzer reaches the ring without learning the wire format.
//!
//! Properties beyond "no panic":
//! - an accepted ack is for this node and boot id, and when a key is set, carries a
//!   valid MAC; a keyed collector accepts nothing an unkeyed one would refuse;
//! - `apply_ack` does exactly what a model of the ring says: which held datagrams
//!   become acked, which are marked for resend, which evicted ones an ack resolves
//!   (stored: acked; in a gap: dropped), the resend floor, what is outstanding; acks
//!   speaking of sequence numbers not sent yet change nothing;
//! - afterwards, the gap resends are exactly the held datagrams marked for resend.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use pimon_collector::net::check_ack;
use pimon_collector::ring::{AckEffect, MIN_RING_BYTES, ResendPolicy, Ring};
use pimon_protocol::{Ack, DataHeader, EncodedLabels, FrameWriter, Gap, Key, MAX_GAPS, Value};

const NODE: &str = "pi";
const BOOT: u64 = 7;

/// Fills `ring` with `cycles` cycles of `parts` parts, all sent at time 0.
fn fill(ring: &mut Ring<Vec<u8>>, cycles: usize, parts: usize, key: Option<&Key>) {
    for _ in 0..cycles {
        let mut space = ring.open_cycle();
        for p in 0..parts {
            let Ok(slot) = space.next_slot() else { break };
            let h = DataHeader {
                node: NODE,
                boot_id: BOOT,
                seq: slot.seq,
                resend_floor: slot.resend_floor,
                timestamp_ms: 1,
                interval_ms: 10_000,
                user_hz: 100,
                part: p as u8,
                parts: 1,
                key_id: key.map(Key::id),
            };
            let mut w = FrameWriter::new(slot.buf, &h).unwrap();
            w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
            // Big parts, so the small ring evicts.
            for i in 0..40u16 {
                w.push(i + 1, Value::Unsigned(u64::from(i) << 40)).unwrap();
            }
            let len = w.finish();
            space.finish_slot(len);
        }
        let n = space.parts();
        ring.seal_pending(n as u8, key);
        ring.send_unsent(0, |_, _| {});
    }
}

/// An ack built from `bytes`, around the sequence numbers `0..next_seq`.
fn build_ack(bytes: &[u8], mode: u8, next_seq: u64, key: &Key) -> Vec<u8> {
    let at = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
    let range = next_seq + 3;
    let acked_below = at(0) % range;
    let seen_below = acked_below + at(1) % (range - acked_below + 1);
    let mut gaps = heapless::Vec::<Gap, MAX_GAPS>::new();
    let mut next = acked_below;
    for pair in bytes.get(2..).unwrap_or_default().chunks(2).take(MAX_GAPS) {
        let start = next + u64::from(pair[0]) % 3;
        let len = 1 + u64::from(pair.get(1).copied().unwrap_or(0)) % 3;
        if start + len > seen_below {
            break;
        }
        gaps.push(Gap { start, len }).unwrap();
        next = start + len;
    }
    let ack = Ack {
        node: if mode & 4 != 0 { "other" } else { NODE },
        boot_id: BOOT,
        acked_below,
        seen_below,
        gaps,
        key_id: None,
    };
    let mut buf = [0u8; 1232];
    let n = ack
        .emit(&mut buf, (mode & 2 != 0).then_some(key))
        .expect("a valid ack emits");
    let mut out = buf[..n].to_vec();
    if mode & 8 != 0 {
        let i = usize::from(bytes.first().copied().unwrap_or(0)) % out.len();
        out[i] ^= 0x20;
    }
    out
}

/// What the ring should hold, per the protocol's `Ack::is_stored`.
struct Model {
    held: Vec<u64>,
    acked: BTreeSet<u64>,
    wanted: BTreeSet<u64>,
    /// Evicted before any ack: unresolved until an ack speaks for them (all were last
    /// sent at time 0, and acks come at 1000 ms, when a gap's verdict counts).
    unresolved: BTreeSet<u64>,
    /// Resolved evicted numbers: (stored, missing).
    resolved: (u64, u64),
}

impl Model {
    fn apply(&mut self, ack: &Ack<'_>, next_seq: u64) -> AckEffect {
        let mut effect = AckEffect::default();
        if ack.seen_below > next_seq || ack.acked_below > next_seq {
            return effect;
        }
        for &seq in &self.held {
            if seq >= ack.seen_below {
                break;
            }
            if self.acked.contains(&seq) {
                continue;
            }
            if ack.is_stored(seq) {
                self.acked.insert(seq);
                self.wanted.remove(&seq);
                effect.acked += 1;
            } else if self.wanted.insert(seq) {
                effect.wanted += 1;
            }
        }
        let spoken_for: Vec<u64> = self.unresolved.range(..ack.seen_below).copied().collect();
        for seq in spoken_for {
            self.unresolved.remove(&seq);
            if ack.is_stored(seq) {
                self.resolved.0 += 1;
            } else {
                self.resolved.1 += 1;
            }
        }
        effect
    }

    /// The oldest number not given up: an unresolved evicted one, else the oldest held
    /// one not acked.
    fn floor(&self, next_seq: u64) -> u64 {
        let held = self
            .held
            .iter()
            .copied()
            .find(|s| !self.acked.contains(s))
            .unwrap_or(next_seq);
        self.unresolved.first().copied().unwrap_or(held)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, mut rest)) = data.split_first() else {
        return;
    };
    let key = Key::new(1, b"fuzz key").unwrap();
    let keyed = shape & 0x80 != 0;
    let mut ring = Ring::new(vec![0u8; MIN_RING_BYTES]).unwrap();
    let cycles = 1 + usize::from(shape & 7);
    let parts = 1 + usize::from(shape >> 3 & 3);
    fill(&mut ring, cycles, parts, keyed.then_some(&key));
    let next_seq = ring.next_seq();
    let held: Vec<u64> = ring.datagrams().map(|(seq, _)| seq).collect();
    let oldest_held = held.first().copied().unwrap_or(next_seq);
    assert_eq!(oldest_held, ring.oldest_held());
    assert_eq!(ring.resend_floor(), 0, "evicted, unacked: unresolved");
    assert_eq!(ring.unresolved(), oldest_held);
    let mut model = Model {
        held,
        acked: BTreeSet::new(),
        wanted: BTreeSet::new(),
        unresolved: (0..oldest_held).collect(),
        resolved: (0, 0),
    };

    while let [mode, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (bytes, after) = tail.split_at(take);
        rest = after;
        let datagram = if mode & 1 == 0 {
            bytes.to_vec()
        } else {
            build_ack(bytes, *mode, next_seq, &key)
        };
        let plain = check_ack(&datagram, NODE, BOOT, None);
        let checked = check_ack(&datagram, NODE, BOOT, Some(&key));
        if let Some(a) = &checked {
            assert!(plain.is_some(), "keyed accepts what unkeyed refuses");
            assert_eq!(a.key_id, Some(key.id()));
            assert!(a.verify(&datagram, &key).is_ok());
        }
        let accepted = if keyed { checked } else { plain };
        let Some(ack) = accepted else { continue };
        assert_eq!((ack.node, ack.boot_id), (NODE, BOOT));

        let outstanding = ring.outstanding();
        let want = model.apply(&ack, next_seq);
        let got = ring.apply_ack(&ack, 1_000);
        assert_eq!(got, want, "ack {ack:?}");
        assert_eq!(ring.next_seq(), next_seq);
        assert_eq!(ring.outstanding(), outstanding - got.acked);
        assert_eq!(ring.resend_floor(), model.floor(next_seq));
        assert_eq!(ring.unresolved(), model.unresolved.len() as u64);
        let stats = ring.stats();
        assert_eq!(stats.acked, model.acked.len() as u64 + model.resolved.0);
        assert_eq!(stats.dropped, model.resolved.1);
        let ignored = ack.seen_below > next_seq || ack.acked_below > next_seq;
        assert!(ignored || ring.heard_within(1_000, 1));
    }

    // Gap resends are exactly the datagrams marked for resend.
    let policy = ResendPolicy {
        timeout_ms: u64::MAX,
        gap_holdoff_ms: 0,
        max_per_tick: usize::MAX,
    };
    let mut resent = BTreeSet::new();
    ring.resend_due(2_000, &policy, |seq, _| {
        resent.insert(seq);
    });
    assert_eq!(resent, model.wanted);
});
