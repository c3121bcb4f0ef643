//! Decodes any bytes as a pimon datagram; whatever decodes is re-encoded and must
//! decode to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_protocol::{
    Ack, DataFrame, DataHeader, EncodedLabels, Error, FrameWriter, Key, MAX_ENCODED_LABELS,
    Message, Refusal, decode, seal,
};

fuzz_target!(|data: &[u8]| {
    let key = Key::new(1, b"fuzz").unwrap();
    match decode(data) {
        Ok(Message::Data(frame)) => {
            let _ = frame.verify(&key);
            reencode_data(&frame);
        }
        Ok(Message::Ack(ack)) => {
            let _ = ack.verify(data, &key);
            let mut buf = [0u8; 1232];
            let n = ack.emit(&mut buf, None).expect("a decoded ack re-encodes");
            let again = Ack::parse(&buf[..n]).expect("a re-encoded ack decodes");
            assert_eq!(again.gaps, ack.gaps);
            assert_eq!(again.acked_below, ack.acked_below);
            assert_eq!(again.seen_below, ack.seen_below);
            assert_eq!(again.node, ack.node);
        }
        Ok(Message::Refusal(refusal)) => {
            let mut buf = [0u8; 1232];
            let n = refusal
                .emit(&mut buf)
                .expect("a decoded refusal re-encodes");
            assert!(n <= data.len(), "a refusal never grows when re-encoded");
            assert_eq!(Refusal::parse(&buf[..n]), Ok(refusal));
        }
        Ok(Message::Probe(probe)) => {
            let _ = probe.verify(&key);
            let mut buf = [0u8; 1232];
            let n = pimon_protocol::frame::write_probe(
                &mut buf,
                &DataHeader {
                    key_id: None,
                    ..probe.header
                },
                None,
            )
            .expect("a decoded probe re-encodes");
            let again = DataFrame::parse_probe(&buf[..n]).expect("a re-encoded probe decodes");
            assert_eq!(again.header.node, probe.header.node);
            assert_eq!(again.header.boot_id, probe.header.boot_id);
        }
        Err(_) => {}
    }
});

/// Re-encodes the known samples of `frame` and checks they decode identically.
fn reencode_data(frame: &DataFrame<'_>) {
    let header = DataHeader {
        part: 0,
        parts: 1,
        key_id: None,
        ..frame.header
    };
    let mut buf = [0u8; 1232];
    let mut w = FrameWriter::new(&mut buf, &header).expect("decoded header re-encodes");
    let mut want = Vec::new();
    for s in frame.samples() {
        // The wire allows 12 labels of 255 bytes (docs/PROTOCOL.md); this encoder keeps
        // a label set to 512 encoded bytes: a longer one decodes but is not re-encoded.
        let labels = match EncodedLabels::encode(&s.labels) {
            Ok(labels) => labels,
            Err(Error::EncodeLabelsTooLong) => {
                // Refused only for that: count and lengths are varints (one byte below
                // 128, two up to 255).
                let varint = |n: usize| if n < 128 { 1 } else { 2 };
                let encoded: usize = varint(s.labels.len())
                    + s.labels.iter().map(|l| varint(l.len()) + l.len()).sum::<usize>();
                assert!(encoded > MAX_ENCODED_LABELS, "labels of {encoded} bytes refused");
                continue;
            }
            Err(e) => panic!("decoded labels do not re-encode: {e}"),
        };
        match w
            .begin_group(&labels)
            .and_then(|()| w.push(s.metric.id, s.value))
        {
            Ok(()) => want.push(s),
            // Unknown samples were dropped, so the known ones fit; but one group per
            // sample costs more bytes than the original grouping.
            Err(Error::EncodeBufferFull) => break,
            Err(e) => panic!("re-encoding failed: {e}"),
        }
    }
    let len = w.finish();
    if frame.resync() {
        pimon_protocol::frame::set_resync(&mut buf[..len]).expect("resync flag");
    }
    let len = seal(&mut buf, len, 1, None).expect("seal");
    let again = DataFrame::parse(&buf[..len]).expect("re-encoded frame decodes");
    assert_eq!(again.resync(), frame.resync());
    let got: Vec<_> = again.samples().collect();
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(&want) {
        assert_eq!(a.metric.id, b.metric.id);
        assert_eq!(a.labels, b.labels);
        // NaN != NaN, so compare bit patterns.
        assert_eq!(format!("{:?}", a.value), format!("{:?}", b.value));
    }
}
