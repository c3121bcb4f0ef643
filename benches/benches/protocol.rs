//! Protocol hot paths: encode, decode and render one Raspberry-Pi-like frame.
//!
//! `cargo bench -p pimon-benches --bench protocol`

use pimon_benches::fleet::SimNode;
use pimon_benches::timing::bench;
use pimon_protocol::text::prometheus::{Format, write_metric_sample};
use pimon_protocol::{DataFrame, Key};

fn main() {
    let key = Key::new(1, b"0123456789abcdef0123456789abcdef").unwrap();
    let mut node = SimNode::new(1, 42);
    let mut buf = [0u8; 1232];
    let (len, values) = node.next_frame(&mut buf, 1_700_000_000_000, Some(&key));
    println!(
        "frame: {len} bytes, {values} values, {:.2} bytes/value (MAC included)",
        len as f64 / values as f64
    );

    bench("encode + seal (keyed)", || {
        node.next_frame(&mut buf, 1_700_000_000_000, Some(&key)).0
    });
    let (len, _) = node.next_frame(&mut buf, 1_700_000_000_000, Some(&key));
    let frame = buf[..len].to_vec();
    bench("decode (parse + iterate samples)", || {
        let f = DataFrame::parse(&frame).unwrap();
        f.samples().count()
    });
    bench("verify MAC", || {
        DataFrame::parse(&frame).unwrap().verify(&key).is_ok()
    });
    let mut out = String::with_capacity(16 * 1024);
    bench("render frame as Prometheus text", || {
        out.clear();
        let f = DataFrame::parse(&frame).unwrap();
        for s in f.samples() {
            let v = s.metric.conversion.convert(s.value, f.header.user_hz);
            write_metric_sample(
                &mut out,
                Format::Text004,
                s.metric,
                f.header.node,
                &s.labels,
                v,
                None,
            )
            .unwrap();
        }
        out.len()
    });
}
