//! Aggregator ingest per datagram under a flood of forged frames: what rejecting one
//! costs now (preamble and node name, then the MAC over the raw bytes, before the body
//! is decoded) against the order before (decode the whole frame, then check its MAC),
//! and what storing a real keyed frame costs, for scale. One core; see
//! docs/BENCHMARKS.md (3.4) for the flood rates this means.
//!
//! `cargo bench -p pimon-benches --bench ingest`

use std::sync::Arc;

use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::keys::KeyRing;
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_benches::fleet::{Cycle, SimNode, Template, forged_frame};
use pimon_benches::pi4;
use pimon_benches::timing::bench;
use pimon_protocol::{DataFrame, MAX_DATAGRAM};

const NOW: u64 = 1_700_000_000_000;

fn main() {
    let keys = KeyRing::parse(
        "* 7 hex:3031323334353637383961626364656630313233343536373839616263646566\n",
    )
    .expect("the benches' key");
    let stats = Arc::new(AggregatorStats::default());
    let store = Store::new(Limits::default(), Staleness::default(), NOW);
    let config = IngestConfig {
        render_lines: false,
        ..IngestConfig::default()
    };
    let mut ing = Ingest::new(store, Some(Arc::new(keys)), config, stats.clone());
    let from = "127.0.0.2:4000".parse().unwrap();
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);

    // A real node, so the forgeries name a node that exists.
    let key = pi4::key();
    let template = Template::from_fixture("pi4").expect("the pi4 fixture tree");
    let mut node = SimNode::new(1, 42);
    let mut cycle = Box::<Cycle>::default();
    node.next_cycle(&template, &mut cycle, NOW, 1000, Some(&key));
    for d in cycle.datagrams() {
        let o = ing.ingest(d, from, NOW, &mut lines, &mut ack);
        assert_eq!(o.verdict, Verdict::Stored);
    }

    let mut forged = [0u8; MAX_DATAGRAM];
    let flen = forged_frame(&mut forged, &node.name, 1, NOW);
    let forged = &forged[..flen];
    println!("forged frame: {flen} bytes, MAC made with a wrong secret under key id 7");
    bench("ingest: reject a forged keyed frame", || {
        let o = ing.ingest(forged, from, NOW, &mut lines, &mut ack);
        assert!(matches!(o.verdict, Verdict::Auth(_)));
    });
    bench("before: decode whole frame, then MAC", || {
        DataFrame::parse(forged)
            .and_then(|f| f.verify(&key))
            .is_err()
    });
    bench("MAC over 1216 bytes alone", || {
        pimon_protocol::auth::verify(forged, &key).is_err()
    });
    // Storing: a fresh frame every time (encode + seal included, see the protocol
    // bench for that part alone).
    let mut t = NOW;
    println!(
        "a real cycle: the pi4 fixture's {} values in {} keyed datagrams",
        cycle.values,
        cycle.datagrams().count()
    );
    bench("encode + ingest a real keyed pi4 cycle (stored)", || {
        t += 1000;
        node.next_cycle(&template, &mut cycle, t, 1000, Some(&key));
        for d in cycle.datagrams() {
            let o = ing.ingest(d, from, t, &mut lines, &mut ack);
            assert_eq!(o.verdict, Verdict::Stored);
        }
    });
}
