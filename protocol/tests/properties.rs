//! Property tests: any valid frame round-trips; any bytes decode without panicking;
//! the sequence window acks exactly what arrived.

use pimon_protocol::{
    Accept, Ack, DataFrame, DataHeader, EncodedLabels, Error, FrameWriter, Gap, Key, SeqWindow,
    Value, catalog, decode, seal,
};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::Unsigned),
        any::<i64>().prop_map(Value::Signed),
        any::<f32>()
            .prop_filter("NaN never equals itself", |v| !v.is_nan())
            .prop_map(Value::F32),
        any::<f64>()
            .prop_filter("NaN never equals itself", |v| !v.is_nan())
            .prop_map(Value::F64),
    ]
}

/// Known catalog ids only, so every sample comes back from `samples()`.
fn known_id() -> impl Strategy<Value = u16> {
    (0..catalog::CATALOG.len()).prop_map(|i| catalog::CATALOG[i].id)
}

type Group = (Vec<String>, Vec<(u16, Value)>);

fn group() -> impl Strategy<Value = Group> {
    (
        prop::collection::vec("[a-z0-9/_ .-]{0,20}", 0..=3),
        prop::collection::vec((known_id(), value()), 1..20),
    )
}

fn write_all(header: &DataHeader<'_>, groups: &[Group], key: Option<&Key>) -> Vec<Vec<u8>> {
    // Splits into as many frames as needed, like the collector does.
    let mut frames = Vec::new();
    let mut buf = [0u8; 1232];
    let mut part = 0u8;
    let mut h = *header;
    h.part = part;
    let mut w = FrameWriter::new(&mut buf, &h).unwrap();
    let mut pending: Vec<(usize, [u8; 1232])> = Vec::new();
    for (labels, samples) in groups {
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let enc = EncodedLabels::encode(&refs).unwrap();
        if w.begin_group(&enc) == Err(Error::EncodeBufferFull) {
            let len = w.finish();
            pending.push((len, buf));
            part += 1;
            h.part = part;
            w = FrameWriter::new(&mut buf, &h).unwrap();
            w.begin_group(&enc).unwrap();
        }
        for &(id, v) in samples {
            if w.push(id, v) == Err(Error::EncodeBufferFull) {
                let len = w.finish();
                pending.push((len, buf));
                part += 1;
                h.part = part;
                w = FrameWriter::new(&mut buf, &h).unwrap();
                w.begin_group(&enc).unwrap();
                w.push(id, v).unwrap();
            }
        }
    }
    let len = w.finish();
    pending.push((len, buf));
    let parts = pending.len() as u8;
    for (len, mut b) in pending {
        let n = seal(&mut b, len, parts, key).unwrap();
        frames.push(b[..n].to_vec());
    }
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_valid_frame_round_trips(
        node in "[a-zA-Z0-9-]{1,32}",
        boot_id in any::<u64>(),
        seq in any::<u64>(),
        ts in any::<u64>(),
        interval in any::<u32>(),
        user_hz in any::<u16>(),
        groups in prop::collection::vec(group(), 0..40),
        keyed in any::<bool>(),
    ) {
        let key = Key::new(5, b"property key").unwrap();
        let key = keyed.then_some(&key);
        let header = DataHeader {
            node: &node, boot_id, seq, resend_floor: seq / 2, timestamp_ms: ts,
            interval_ms: interval, user_hz, part: 0, parts: 1, key_id: key.map(Key::id),
        };
        let frames = write_all(&header, &groups, key);
        let mut got: Vec<(Vec<String>, u16, Value)> = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            prop_assert!(f.len() <= 1232);
            let frame = DataFrame::parse(f).unwrap();
            prop_assert_eq!(frame.header.node, node.as_str());
            prop_assert_eq!(frame.header.part as usize, i);
            prop_assert_eq!(frame.header.parts as usize, frames.len());
            prop_assert_eq!(frame.unknown_samples(), 0);
            if let Some(k) = key { frame.verify(k).unwrap(); }
            for s in frame.samples() {
                got.push((s.labels.iter().map(|l| l.to_string()).collect(), s.metric.id, s.value));
            }
        }
        let want: Vec<(Vec<String>, u16, Value)> = groups
            .iter()
            .flat_map(|(l, ss)| ss.iter().map(move |&(id, v)| (l.clone(), id, v)))
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_bytes_decode_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        if let Ok(pimon_protocol::Message::Data(f)) = decode(&bytes) {
            let _ = f.samples().count();
        }
    }

    #[test]
    fn mutated_frames_decode_without_panic(
        groups in prop::collection::vec(group(), 1..5),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let header = DataHeader {
            node: "n", boot_id: 1, seq: 1, resend_floor: 0, timestamp_ms: 1,
            interval_ms: 1, user_hz: 100, part: 0, parts: 1, key_id: None,
        };
        let mut f = write_all(&header, &groups, None).remove(0);
        for (i, b) in flips { let i = i.index(f.len()); f[i] ^= b; }
        let n = cut.index(f.len() + 1);
        if let Ok(pimon_protocol::Message::Data(d)) = decode(&f[..n]) {
            let _ = d.samples().count();
        }
    }

    #[test]
    fn ack_round_trips(
        acked_below in 0u64..1_000_000,
        runs in prop::collection::vec((1u64..50, 1u64..50), 0..=16),
        keyed in any::<bool>(),
    ) {
        let mut gaps = heapless::Vec::new();
        let mut next = acked_below;
        for (skip, len) in runs {
            let start = next + skip;
            gaps.push(Gap { start, len }).unwrap();
            next = start + len;
        }
        let ack = Ack { node: "node", boot_id: 7, acked_below, seen_below: next + 1, gaps, key_id: None };
        let key = Key::new(2, b"ack key").unwrap();
        let mut buf = [0u8; 1232];
        let n = ack.emit(&mut buf, keyed.then_some(&key)).unwrap();
        let parsed = Ack::parse(&buf[..n]).unwrap();
        prop_assert_eq!(&parsed.gaps, &ack.gaps);
        prop_assert_eq!(parsed.acked_below, acked_below);
        if keyed { parsed.verify(&buf[..n], &key).unwrap(); }
    }

    /// The window's ack says stored exactly for what arrived (or was given up below
    /// the floor), whatever the arrival order.
    #[test]
    fn window_ack_matches_arrivals(arrivals in prop::collection::vec(0u64..300, 0..400)) {
        let mut w = SeqWindow::new();
        let mut seen = std::collections::BTreeSet::new();
        for s in arrivals {
            let (verdict, missing) = w.accept(s);
            prop_assert_eq!(missing, 0);
            prop_assert_eq!(verdict == Accept::New, seen.insert(s));
        }
        let (acked_below, seen_below, gaps) = w.ack();
        let ack = Ack { node: "n", boot_id: 0, acked_below, seen_below, gaps, key_id: None };
        for s in 0..310 {
            if s < seen_below || ack.gaps.len() < 16 {
                prop_assert_eq!(ack.is_stored(s), seen.contains(&s), "seq {}", s);
            }
        }
    }

    /// A window saved as base, top and its seen words, and restored, refuses exactly
    /// what arrived before (so a graceful restart stores no frame twice) and accepts
    /// the rest.
    #[test]
    fn window_restored_from_its_seen_words_knows_every_arrival(
        arrivals in prop::collection::vec(0u64..9000, 0..400),
    ) {
        let mut w = SeqWindow::new();
        for &s in &arrivals {
            w.accept(s);
        }
        let r = SeqWindow::restore_seen(w.base(), w.top(), w.seen_words());
        prop_assert_eq!((r.base(), r.top()), (w.base(), w.top()));
        for s in w.base().saturating_sub(2)..w.top() + 2 {
            // (The missing counts differ on purpose: a restored window does not count
            // what it gives up below the old top, see `SeqWindow::restore`.)
            prop_assert_eq!(r.clone().accept(s).0, w.clone().accept(s).0, "seq {}", s);
        }
    }
}

#[test]
fn window_slides_and_counts_what_it_gave_up() {
    let mut w = SeqWindow::new();
    assert_eq!(w.accept(0), (Accept::New, 0));
    // 5000 is beyond the 4096 window: 1..=904 are given up (904 numbers).
    assert_eq!(w.accept(5000), (Accept::New, 904));
    assert_eq!(w.base(), 905);
    assert_eq!(w.accept(3), (Accept::Old, 0));
    // The sender says it holds nothing below 4990.
    assert_eq!(w.raise_floor(4990), 4990 - 905);
    let (acked_below, seen_below, gaps) = w.ack();
    assert_eq!((acked_below, seen_below), (4990, 5001));
    assert_eq!(
        &gaps[..],
        &[Gap {
            start: 4990,
            len: 10
        }]
    );
    // A huge jump gives up everything in between without looping over it.
    assert_eq!(w.accept(u64::MAX - 1).0, Accept::New);
}

#[test]
fn window_with_more_gaps_than_fit_lowers_seen_below() {
    let mut w = SeqWindow::new();
    for s in (0..100).step_by(2) {
        w.accept(s);
    }
    let (acked_below, seen_below, gaps) = w.ack();
    assert_eq!(acked_below, 1);
    assert_eq!(gaps.len(), 16);
    assert_eq!(gaps[15], Gap { start: 31, len: 1 });
    assert_eq!(seen_below, 33);
}

/// A sequence number or resend floor anywhere up to `u64::MAX` never overflows the
/// window's arithmetic (a forged frame can carry any value), and what it gives up stays
/// a count of real numbers.
#[test]
fn window_arithmetic_never_overflows_up_to_u64_max() {
    let mut w = SeqWindow::new();
    w.accept(0);
    let (_, a) = w.accept(u64::MAX);
    let (_, b) = w.accept(u64::MAX - 1);
    let c = w.raise_floor(u64::MAX);
    // Given up: 1..u64::MAX but for the seen u64::MAX - 1.
    let total = a.checked_add(b).and_then(|s| s.checked_add(c));
    assert_eq!(total, Some(u64::MAX - 2), "{a} + {b} + {c}");
    assert_eq!(w.accept(5), (Accept::Old, 0));
    let (acked_below, seen_below, _) = w.ack();
    assert!(acked_below <= seen_below);
}

proptest! {
    /// An ack cut to a byte budget stays exact: whatever it says is stored is stored
    /// in the full ack, whatever it lists as missing is missing; it never exceeds the
    /// budget.
    #[test]
    fn ack_within_a_budget_is_a_truthful_prefix(
        arrivals in prop::collection::vec(0u64..200, 1..200),
        budget in 16usize..120,
    ) {
        let mut w = SeqWindow::new();
        for s in &arrivals {
            w.accept(*s);
        }
        let (acked_below, seen_below, gaps) = w.ack();
        let full = Ack { node: "pi", boot_id: 7, acked_below, seen_below, gaps, key_id: None };
        let mut buf = [0u8; 1232];
        match full.emit_within(&mut buf, None, budget) {
            Ok(n) => {
                prop_assert!(n <= budget);
                let short = Ack::parse(&buf[..n]).unwrap();
                prop_assert_eq!(short.acked_below, full.acked_below);
                for seq in 0..full.seen_below {
                    if seq < short.seen_below {
                        prop_assert_eq!(short.is_stored(seq), full.is_stored(seq), "seq {}", seq);
                    }
                }
            }
            Err(e) => {
                prop_assert_eq!(e, Error::EncodeBufferFull);
                let bare = Ack { gaps: heapless::Vec::new(), seen_below: acked_below, ..full.clone() };
                prop_assert!(bare.buffer_len(false) > budget);
            }
        }
    }
}

/// A receiver that first hears a boot mid-stream (restart) counts nothing below that
/// first number as missing, even across a slide of the whole window, but counts what
/// goes missing above it; `reset` starts over without counting.
#[test]
fn window_counts_missing_only_from_the_first_number_heard() {
    let mut w = SeqWindow::new();
    w.uncount_below(100);
    w.accept(100);
    assert_eq!(w.raise_floor(90), 0);
    assert_eq!(w.accept(102), (Accept::New, 0));
    assert_eq!(w.raise_floor(103), 1, "101 was expected after 100");
    let mut w = SeqWindow::restore(50, 60);
    w.uncount_below(70);
    w.accept(70);
    // 10,000 is a whole window past: 50..=5904 given up, only 71..=5904 counted.
    let (_, missing) = w.accept(10_000);
    assert_eq!(missing, 5904 - 71 + 1);
    w.reset(20);
    assert_eq!((w.base(), w.top()), (20, 20));
    assert_eq!(w.accept(25), (Accept::New, 0));
    assert_eq!(w.raise_floor(30), 0, "all below the uncounted bound");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The duration grammar never panics, on any text; what it accepts re-renders in
    /// milliseconds to the same duration.
    #[test]
    fn duration_parser_never_panics_and_round_trips(text in ".{0,24}") {
        if let Ok(d) = pimon_protocol::duration::parse_duration(&text) {
            let again = pimon_protocol::duration::parse_duration(&format!("{}ms", d.as_millis()));
            prop_assert_eq!(again, Ok(d));
        }
    }

    /// The size grammar never panics, on any text; what it accepts re-renders in bytes
    /// to the same size.
    #[test]
    fn size_parser_never_panics_and_round_trips(text in ".{0,24}") {
        if let Ok(n) = pimon_protocol::size::parse_size(&text) {
            prop_assert_eq!(pimon_protocol::size::parse_size(&n.to_string()), Ok(n));
        }
    }

    /// Every whole number with every unit parses to its value (or `TooLong` past
    /// `u64::MAX` milliseconds).
    #[test]
    fn durations_of_every_unit(n in any::<u64>(), unit in 0usize..5) {
        use pimon_protocol::duration::{DurationError, parse_duration};
        let (suffix, ms_per) = [("ms", 1u64), ("s", 1_000), ("m", 60_000), ("min", 60_000), ("h", 3_600_000)][unit];
        let expected = n.checked_mul(ms_per).map(core::time::Duration::from_millis).ok_or(DurationError::TooLong);
        prop_assert_eq!(parse_duration(&format!("{n}{suffix}")), expected);
    }
}

#[test]
fn seen_words_of_a_window_at_the_end_of_the_number_space_do_not_overflow() {
    let mut w = SeqWindow::restore(u64::MAX - 10, u64::MAX - 10);
    assert_eq!(w.accept(u64::MAX - 5), (Accept::New, 0));
    assert_eq!(w.accept(u64::MAX - 1), (Accept::New, 0));
    let words: Vec<u64> = w.seen_words().collect();
    assert_eq!(words, [1 << 5 | 1 << 9]);
    // The whole state in parts: u64::MAX, seen, is above the saturated top.
    assert_eq!(w.accept(u64::MAX), (Accept::New, 0));
    assert_eq!(w.seen_words().collect::<Vec<u64>>(), [1 << 5 | 1 << 9]);
    assert_eq!(w.first_word(), 1 << 5 | 1 << 9 | 1 << 10);
    let r = SeqWindow::from_parts(w.base(), w.top(), w.uncounted_below(), w.first_word());
    assert_eq!(r, w);
}
