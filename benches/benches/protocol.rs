//! Protocol hot paths: encode, decode and render the first datagram of a Raspberry Pi 4
//! cycle as the load generator replays it (`fleet`: the real collector's cycle on the
//! Pi 4 fixture).
//!
//! `cargo bench -p pimon-benches --bench protocol`

use pimon_benches::fleet::{Cycle, SimNode, Template};
use pimon_benches::timing::bench;
use pimon_protocol::text::prometheus::{Format, write_metric_sample};
use pimon_protocol::{DataFrame, Key};

fn main() {
    let key = Key::new(1, b"0123456789abcdef0123456789abcdef").unwrap();
    let template = Template::from_fixture("pi4").expect("the Pi 4 fixture");
    let mut node = SimNode::new(1, 42);
    let mut cycle = Cycle::default();
    node.next_cycle(&template, &mut cycle, 1_700_000_000_000, 10_000, Some(&key));
    println!(
        "cycle: {} datagrams, {} bytes, {} values, {:.2} bytes/value (MAC included)",
        cycle.datagrams().count(),
        cycle.bytes(),
        cycle.values,
        cycle.bytes() as f64 / cycle.values as f64
    );
    let frame = cycle.datagrams().next().expect("a datagram").to_vec();
    let values = DataFrame::parse(&frame).unwrap().samples().count();
    println!("first datagram: {} bytes, {values} values", frame.len());

    bench("encode + seal a whole cycle (keyed)", || {
        node.next_cycle(&template, &mut cycle, 1_700_000_000_000, 10_000, Some(&key));
        cycle.bytes()
    });
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
