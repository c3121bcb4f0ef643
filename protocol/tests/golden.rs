//! Golden byte vectors: the exact bytes of every message kind.
//!
//! If one of these fails, the wire format changed: that is a protocol version bump
//! (docs/PROTOCOL.md, "Versioning"), not a test to update.

use pimon_protocol::{
    Ack, DataFrame, DataHeader, EncodedLabels, Error, FrameWriter, Gap, Key, MAX_DATAGRAM, Message,
    Value, decode, seal,
};

fn header(key_id: Option<u8>) -> DataHeader<'static> {
    DataHeader {
        node: "pi4",
        boot_id: 0x0123_4567_89ab_cdef,
        seq: 300,
        resend_floor: 290,
        timestamp_ms: 1_700_000_000_000,
        interval_ms: 10_000,
        user_hz: 100,
        part: 0,
        parts: 1,
        key_id,
    }
}

/// One frame with an unlabelled group and a labelled one, every value kind.
fn sample_frame(key: Option<&Key>) -> Vec<u8> {
    let mut buf = [0u8; 1232];
    let mut w = FrameWriter::new(&mut buf, &header(key.map(Key::id))).unwrap();
    w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
    w.push(1, Value::Unsigned(5)).unwrap();
    w.push(2, Value::Signed(-3)).unwrap();
    w.begin_group(&EncodedLabels::encode(&["cpu-thermal", "0"]).unwrap())
        .unwrap();
    w.push(3, Value::F32(1.5)).unwrap();
    w.push(10, Value::F64(-0.25)).unwrap();
    let len = w.finish();
    let len = seal(&mut buf, len, 1, key).unwrap();
    buf[..len].to_vec()
}

const PREAMBLE_UNKEYED: [u8; 16] = [
    b'P', b'M', 0x10, 0x01, 0x00, 0x00, 0x00, 0x01, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
];

const HEADER: [u8; 17] = [
    3, b'p', b'i', b'4', // node
    0xac, 0x02, // seq 300
    0xa2, 0x02, // resend floor 290
    0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // timestamp 1_700_000_000_000 ms
    0x90, 0x4e, // interval 10_000 ms
    100,  // USER_HZ
];

const BODY: [u8; 36] = [
    0, 2, // group: no labels, 2 samples
    0x04, 5, // id 1 (delta 1 << 2 | unsigned), 5
    0x05, 5, // id 2 (delta 1 << 2 | signed), zigzag(-3) = 5
    2, 11, b'c', b'p', b'u', b'-', b't', b'h', b'e', b'r', b'm', b'a', b'l', 1, b'0',
    2, // group
    0x0e, 0x00, 0x00, 0xc0, 0x3f, // id 3 (3 << 2 | f32), 1.5
    0x1f, 0, 0, 0, 0, 0, 0, 0xd0, 0xbf, // id 10 (delta 7 << 2 | f64), -0.25
];

#[test]
fn data_frame_unkeyed_exact_bytes() {
    let bytes = sample_frame(None);
    let mut want = PREAMBLE_UNKEYED.to_vec();
    want.extend_from_slice(&HEADER);
    want.extend_from_slice(&BODY);
    assert_eq!(bytes, want);
}

#[test]
fn data_frame_keyed_exact_bytes_and_mac() {
    let key = Key::new(3, b"0123456789abcdef0123456789abcdef").unwrap();
    let bytes = sample_frame(Some(&key));
    let mut want = PREAMBLE_UNKEYED.to_vec();
    want[4] = 0x01; // flags: MAC
    want[5] = 3; // key id
    want.extend_from_slice(&HEADER);
    want.extend_from_slice(&BODY);
    assert_eq!(&bytes[..want.len()], &want[..]);
    assert_eq!(bytes.len(), want.len() + 16);
    // The MAC is keyed BLAKE2s-128 over everything before it.
    assert_eq!(&bytes[want.len()..], &key.compute(&want));
    assert_eq!(
        &bytes[want.len()..],
        &[
            0x91, 0xf5, 0x92, 0x80, 0xee, 0x61, 0x28, 0x22, 0x1f, 0xf7, 0x21, 0xe9, 0xd3, 0x6a,
            0x4b, 0xe3
        ],
        "MAC bytes (computed independently with Python's hashlib.blake2s(key=…, digest_size=16))"
    );
    let Message::Data(frame) = decode(&bytes).unwrap() else {
        panic!("not data")
    };
    frame.verify(&key).unwrap();
    let other = Key::new(3, b"another key").unwrap();
    assert_eq!(frame.verify(&other), Err(Error::DecodeBadMac));
    let rotated = Key::new(4, b"0123456789abcdef0123456789abcdef").unwrap();
    assert_eq!(frame.verify(&rotated), Err(Error::DecodeWrongKeyId(3)));
}

#[test]
fn data_frame_decodes_header_and_counts_samples() {
    let bytes = sample_frame(None);
    let frame = DataFrame::parse(&bytes).unwrap();
    assert_eq!(frame.header, header(None));
    assert_eq!(frame.known_samples() + frame.unknown_samples(), 4);
    assert_eq!(
        frame.verify(&Key::new(1, b"k").unwrap()),
        Err(Error::DecodeMissingMac)
    );
}

#[test]
fn ack_exact_bytes() {
    let mut gaps = heapless::Vec::new();
    gaps.push(Gap { start: 295, len: 2 }).unwrap();
    gaps.push(Gap { start: 299, len: 1 }).unwrap();
    let ack = Ack {
        node: "pi4",
        boot_id: 0x0123_4567_89ab_cdef,
        acked_below: 295,
        seen_below: 301,
        gaps,
        key_id: None,
    };
    let mut buf = [0u8; 128];
    let n = ack.emit(&mut buf, None).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            b'P', b'M', 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45,
            0x23, 0x01, // preamble
            3, b'p', b'i', b'4', // node
            0xa7, 0x02, // acked below 295
            0xad, 0x02, // seen below 301
            2, 0xa7, 0x02, 2, 0xab, 0x02, 1, // gaps
        ][..]
    );
    let parsed = Ack::parse(&buf[..n]).unwrap();
    assert_eq!(parsed, ack);
    assert!(parsed.is_stored(294));
    assert!(!parsed.is_stored(295));
    assert!(!parsed.is_stored(296));
    assert!(parsed.is_stored(297));
    assert!(!parsed.is_stored(299));
    assert!(parsed.is_stored(300));
    assert!(!parsed.is_stored(301));

    let key = Key::new(9, b"secret").unwrap();
    let n = ack.emit(&mut buf, Some(&key)).unwrap();
    assert_eq!(buf[4], 0x01);
    assert_eq!(buf[5], 9);
    let parsed = Ack::parse(&buf[..n]).unwrap();
    parsed.verify(&buf[..n], &key).unwrap();
    buf[20] ^= 1;
    let tampered = Ack::parse(&buf[..n]).unwrap();
    assert_eq!(tampered.verify(&buf[..n], &key), Err(Error::DecodeBadMac));
}

#[test]
fn errors_name_what_is_wrong() {
    let good = sample_frame(None);
    assert_eq!(decode(&[]), Err(Error::DecodeTooShort));
    assert_eq!(decode(b"PM"), Err(Error::DecodeTooShort));
    assert_eq!(decode(b"XXXXXXXXXXXXXXXXXXXX"), Err(Error::DecodeBadMagic));
    let mut v2 = good.clone();
    v2[2] = 0x20;
    assert_eq!(decode(&v2), Err(Error::DecodeUnsupportedVersion(0x20)));
    assert_eq!(
        Error::DecodeUnsupportedVersion(0x20).to_string(),
        "unsupported protocol version 2.0 (this build speaks 1.x)"
    );
    let mut kind = good.clone();
    kind[3] = 0x7f;
    assert_eq!(decode(&kind), Err(Error::DecodeUnknownKind(0x7f)));
    let mut enc = good.clone();
    enc[4] = 0x02;
    assert_eq!(decode(&enc), Err(Error::DecodeUnsupportedFlags(0x02)));
    let mut part = good.clone();
    part[6] = 1;
    assert_eq!(decode(&part), Err(Error::DecodeBadPart));
    assert_eq!(decode(&good[..good.len() - 1]), Err(Error::DecodeTooShort));
    let mut varint = good.clone();
    varint.truncate(16 + HEADER.len());
    varint.extend_from_slice(&[
        0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    assert_eq!(decode(&varint), Err(Error::DecodeBadVarint));
    let mut long = good.clone();
    long.resize(1233, 0);
    assert_eq!(decode(&long), Err(Error::DecodeTooLong));
    let mut trailing = [0u8; 128];
    let ack = Ack {
        node: "n",
        boot_id: 1,
        acked_below: 0,
        seen_below: 0,
        gaps: heapless::Vec::new(),
        key_id: None,
    };
    let n = ack.emit(&mut trailing, None).unwrap();
    assert_eq!(decode(&trailing[..n + 1]), Err(Error::DecodeTrailingBytes));
}

#[test]
fn newer_minor_version_with_unknown_metrics_decodes_and_counts_them() {
    // A 1.3 writer with metric ids this build does not know (16000, 16001).
    let mut buf = [0u8; 1232];
    let mut w = FrameWriter::new(&mut buf, &header(None)).unwrap();
    w.begin_group(&EncodedLabels::encode(&["x"]).unwrap())
        .unwrap();
    w.push(16000, Value::Unsigned(1)).unwrap();
    w.push(16001, Value::F64(2.0)).unwrap();
    let len = w.finish();
    let len = seal(&mut buf, len, 1, None).unwrap();
    buf[2] = 0x13;
    let frame = DataFrame::parse(&buf[..len]).unwrap();
    assert_eq!(frame.minor, 3);
    assert_eq!(frame.unknown_samples(), 2);
    assert_eq!(frame.known_samples(), 0);
    assert_eq!(frame.samples().count(), 0);
}

/// A run of groups moved to the next part keeps its bytes, and the open group goes on
/// there: the first frame ends where the run began, the second holds the whole run.
#[test]
fn groups_moved_to_the_next_part_keep_their_bytes_and_continue() {
    let mut first = [0u8; 1232];
    let mut w = FrameWriter::new(&mut first, &header(None)).unwrap();
    w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
    w.push(1, Value::Unsigned(5)).unwrap();
    w.push(2, Value::Signed(-3)).unwrap();
    w.begin_group(&EncodedLabels::encode(&["cpu-thermal", "0"]).unwrap())
        .unwrap();
    let mark = w.open_group_mark().unwrap();
    assert!(!w.is_first_group(mark));
    w.push(3, Value::F32(1.5)).unwrap();
    assert_eq!(w.len_since(mark), 21);

    let mut second = [0u8; 1232];
    let mut h = header(None);
    h.seq += 1;
    h.part = 1;
    let mut next = FrameWriter::new(&mut second, &h).unwrap();
    let moved = w.move_since(mark, &mut next).unwrap();
    assert!(next.is_first_group(moved));
    assert_eq!(next.open_group_mark(), Some(moved));
    next.push(10, Value::F64(-0.25)).unwrap();
    let len = w.finish();
    let len = seal(&mut first, len, 2, None).unwrap();
    assert_eq!(&first[16 + HEADER.len()..len], &BODY[..6]);
    let len = next.finish();
    let len = seal(&mut second, len, 2, None).unwrap();
    assert_eq!(&second[16 + HEADER.len()..len], &BODY[6..]);

    // A run that does not fit in the next frame stays where it is.
    let mut buf = [0u8; 1232];
    let mut w = FrameWriter::new(&mut buf, &header(None)).unwrap();
    w.begin_group(&EncodedLabels::encode(&["a"]).unwrap())
        .unwrap();
    w.push(1, Value::Unsigned(5)).unwrap();
    w.begin_group(&EncodedLabels::encode(&["b"]).unwrap())
        .unwrap();
    let mark = w.open_group_mark().unwrap();
    for id in 1..40 {
        w.push(id, Value::Unsigned(u64::MAX)).unwrap();
    }
    let before = w.len();
    let mut other = [0u8; 200];
    let mut small = FrameWriter::new(&mut other, &header(None)).unwrap();
    let small_len = small.len();
    assert_eq!(w.move_since(mark, &mut small), Err(Error::EncodeBufferFull));
    assert_eq!((w.len(), small.len()), (before, small_len));
    w.push(40, Value::Unsigned(1)).unwrap();
}

#[test]
fn resync_frame_exact_bytes_and_a_1_0_reader_ignores_the_flag() {
    // Protocol 1.1: version byte 0x11, flag bit 2; everything else as in 1.0.
    let key = Key::new(3, b"0123456789abcdef0123456789abcdef").unwrap();
    let mut buf = [0u8; 1232];
    let len = FrameWriter::new(&mut buf, &header(Some(3)))
        .unwrap()
        .finish();
    pimon_protocol::frame::set_resync(&mut buf[..len]).unwrap();
    let len = seal(&mut buf, len, 1, Some(&key)).unwrap();
    let mut want = PREAMBLE_UNKEYED.to_vec();
    want[2] = 0x11; // version 1.1
    want[4] = 0x05; // flags: MAC, resync
    want[5] = 3;
    want.extend_from_slice(&HEADER);
    assert_eq!(&buf[..len - 16], &want[..]);
    let frame = DataFrame::parse(&buf[..len]).unwrap();
    assert!(frame.resync());
    assert_eq!(frame.minor, 1);
    frame.verify(&key).unwrap();
    assert_eq!(pimon_protocol::auth::verify(&buf[..len], &key), Ok(()));
    // Without the flag: not a resync frame.
    assert!(!DataFrame::parse(&sample_frame(None)).unwrap().resync());
}

#[test]
fn node_names_with_control_characters_and_floors_above_seq_are_refused() {
    let good = sample_frame(None);
    // "pi4" → "pi\0", "pi\x1b", "pi\x7f", and U+0085 (NEL, two bytes: a 4-byte name).
    for bad in [0u8, 0x1b, 0x7f] {
        let mut f = good.clone();
        f[16 + 3] = bad;
        assert_eq!(decode(&f), Err(Error::DecodeNodeNameControl), "{bad:#x}");
        assert_eq!(
            pimon_protocol::frame::peek_node(&f).map(|(_, n)| n),
            Err(Error::DecodeNodeNameControl)
        );
    }
    assert_eq!(
        pimon_protocol::node_name_error("p\u{85}i"),
        Some(Error::DecodeNodeNameControl)
    );
    assert_eq!(pimon_protocol::node_name_error("pi-ü 4"), None);
    let mut buf = [0u8; 1232];
    let mut h = header(None);
    h.node = "evil\0";
    assert!(matches!(
        FrameWriter::new(&mut buf, &h),
        Err(Error::EncodeBadNodeName)
    ));
    let ack = Ack {
        node: "evil\n",
        boot_id: 1,
        acked_below: 0,
        seen_below: 0,
        gaps: heapless::Vec::new(),
        key_id: None,
    };
    assert_eq!(ack.emit(&mut buf, None), Err(Error::EncodeBadNodeName));
    // Floor 301 > seq 300: the floor's varint is the same length as 290's.
    let mut floor = good.clone();
    floor[16 + 6] = 0xad; // 0xad 0x02 = 301
    assert_eq!(decode(&floor), Err(Error::DecodeBadFloor));
    let mut h = header(None);
    h.resend_floor = 301;
    assert!(matches!(
        FrameWriter::new(&mut buf, &h),
        Err(Error::EncodeBadFloor)
    ));
}

#[test]
fn refusal_exact_bytes_never_authenticated_and_unknown_to_a_1_1_ack_reader() {
    use pimon_protocol::{Reason, Refusal};
    let refusal = Refusal {
        node: "pi4",
        boot_id: 0x0123_4567_89ab_cdef,
        reason: Reason::WrongKeyId,
    };
    let mut buf = [0u8; 64];
    let n = refusal.emit(&mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        &[
            b'P', b'M', 0x12, 0x03, 0x00, 0x00, 0x00, 0x00, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45,
            0x23, 0x01, // preamble (1.2, kind 3)
            3, b'p', b'i', b'4', // node
            3,    // reason: wrong key id
        ][..]
    );
    assert_eq!(decode(&buf[..n]), Ok(Message::Refusal(refusal)));
    // What an older collector does with it: its ack parser rejects the kind.
    assert_eq!(Ack::parse(&buf[..n]), Err(Error::DecodeUnknownKind(3)));
    // Reasons this build does not know survive a round trip.
    buf[20] = 200;
    assert_eq!(
        Refusal::parse(&buf[..n]).unwrap().reason,
        Reason::Other(200)
    );
    // A refusal claiming a MAC is invalid.
    buf[4] = 0x01;
    assert!(Refusal::parse(&buf[..n]).is_err());
    // Never larger than the datagram it answers.
    assert_eq!(
        refusal.emit_within(&mut buf, n - 1),
        Err(Error::EncodeBufferFull)
    );
}

#[test]
fn probe_exact_bytes_is_not_a_data_frame() {
    let key = Key::new(9, b"secret").unwrap();
    let mut buf = [0u8; 128];
    let n = pimon_protocol::frame::write_probe(&mut buf, &header(Some(9)), Some(&key)).unwrap();
    assert_eq!(
        &buf[..n - 16],
        &[
            b'P', b'M', 0x12, 0x04, 0x01, 0x09, 0x00, 0x01, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45,
            0x23, 0x01, // preamble (1.2, kind 4, MAC, key 9, part 0 of 1)
            3, b'p', b'i', b'4', // node
            0xac, 0x02, // seq 300
            0xa2, 0x02, // resend floor 290
            0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31, // timestamp
            0x90, 0x4e, // interval 10 000 ms
            100,  // user_hz
        ][..]
    );
    let probe = DataFrame::parse_probe(&buf[..n]).unwrap();
    probe.verify(&key).unwrap();
    assert_eq!(probe.samples().count(), 0);
    assert_eq!(
        DataFrame::parse(&buf[..n]),
        Err(Error::DecodeUnknownKind(4))
    );
}

/// A group of more than 4 labels (node_exporter's info metrics) makes the frame 1.3, also
/// after the group moved to the next part; frames with narrower groups keep 1.0, so a
/// 1.2 aggregator still reads them.
#[test]
fn a_group_of_more_than_four_labels_is_written_as_1_3_and_reads_back() {
    let h = header(None);
    let wide = [
        "Linux",
        "(none)",
        "aarch64",
        "pi4",
        "6.1.0-rpi7-rpi-v8",
        "#1 SMP PREEMPT",
    ];
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut w = FrameWriter::new(&mut buf, &h).unwrap();
    w.begin_group(&EncodedLabels::encode(&wide[..4]).unwrap())
        .unwrap();
    w.push(5, Value::Unsigned(1)).unwrap();
    w.finish();
    assert_eq!(buf[2], 0x10, "four labels stay 1.0");

    let mut w = FrameWriter::new(&mut buf, &h).unwrap();
    w.begin_group(&EncodedLabels::encode(&wide).unwrap())
        .unwrap();
    w.push(5, Value::Unsigned(1)).unwrap();
    let len = w.finish();
    let len = seal(&mut buf, len, 1, None).unwrap();
    assert_eq!(buf[2], 0x13, "six labels are 1.3");
    {
        let f = DataFrame::parse(&buf[..len]).unwrap();
        let s = f.samples().next().unwrap();
        assert_eq!(s.labels.as_slice(), &wide[..]);
    }

    // Moved to the next part, the group takes its version along.
    let mut first = [0u8; MAX_DATAGRAM];
    let mut w = FrameWriter::new(&mut first, &h).unwrap();
    w.begin_group(&EncodedLabels::encode(&["a"]).unwrap())
        .unwrap();
    w.push(5, Value::Unsigned(1)).unwrap();
    let mark_labels = EncodedLabels::encode(&wide).unwrap();
    w.begin_group(&mark_labels).unwrap();
    let mark = w.open_group_mark().unwrap();
    w.push(5, Value::Unsigned(2)).unwrap();
    let mut next = FrameWriter::new(&mut buf, &h).unwrap();
    w.move_since(mark, &mut next).unwrap();
    let len = next.finish();
    assert_eq!(buf[2], 0x13);
    let len = seal(&mut buf, len, 1, None).unwrap();
    let f = DataFrame::parse(&buf[..len]).unwrap();
    assert_eq!(f.samples().next().unwrap().labels.len(), 6);

    // Thirteen labels are refused by the encoder.
    let thirteen = [""; 13];
    assert!(EncodedLabels::encode(&thirteen).is_err());
}
