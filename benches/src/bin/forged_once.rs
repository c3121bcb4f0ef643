//! forged_once: rejects N forged keyed frames (1214 bytes, wrong MAC) and exits — the
//! program callgrind counts instructions of (`scripts/bench-flood`).
//!
//! ```text
//! forged_once N [ingest|before]
//! ```
//! `ingest` (default): through the aggregator's ingest, which checks the MAC over the
//! raw bytes before decoding the body. `before`: the order the aggregator used before —
//! decode the whole frame, then check its MAC. Running it for N = 100 and N = 1100 and
//! dividing the difference of the instruction counts by 1000 gives the instructions of
//! one rejection, set-up excluded.

use std::sync::Arc;

use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::keys::KeyRing;
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_benches::fleet::{Cycle, SimNode, Template, forged_frame};
use pimon_benches::pi4;
use pimon_protocol::{DataFrame, MAX_DATAGRAM};

const NOW: u64 = 1_700_000_000_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(Ok(n)), mode) = (args.next().map(|a| a.parse::<u64>()), args.next()) else {
        eprintln!("usage: forged_once N [ingest|before]");
        std::process::exit(2);
    };
    let before = match mode.as_deref() {
        None | Some("ingest") => false,
        Some("before") => true,
        Some(_) => {
            eprintln!("usage: forged_once N [ingest|before]");
            std::process::exit(2);
        }
    };
    let keys = KeyRing::parse(
        "* 7 hex:3031323334353637383961626364656630313233343536373839616263646566\n",
    )
    .expect("the benches' key");
    let store = Store::new(Limits::default(), Staleness::default(), NOW);
    let config = IngestConfig {
        render_lines: false,
        ..IngestConfig::default()
    };
    let stats = Arc::new(AggregatorStats::default());
    let mut ing = Ingest::new(store, Some(Arc::new(keys)), config, stats);
    let from = "127.0.0.2:4000".parse().expect("an address");
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
    let key = pi4::key();
    let template = Template::from_fixture("pi4").expect("the pi4 fixture tree");
    let mut node = SimNode::new(1, 42);
    let mut cycle = Box::<Cycle>::default();
    node.next_cycle(&template, &mut cycle, NOW, 1000, Some(&key));
    for d in cycle.datagrams() {
        ing.ingest(d, from, NOW, &mut lines, &mut ack);
    }
    let mut buf = [0u8; MAX_DATAGRAM];
    let flen = forged_frame(&mut buf, &node.name, 1, NOW);
    let forged = &buf[..flen];
    let mut rejected = 0u64;
    for _ in 0..n {
        let refused = if before {
            DataFrame::parse(std::hint::black_box(forged))
                .and_then(|f| f.verify(&key))
                .is_err()
        } else {
            matches!(
                ing.ingest(
                    std::hint::black_box(forged),
                    from,
                    NOW,
                    &mut lines,
                    &mut ack
                )
                .verdict,
                Verdict::Auth(_)
            )
        };
        rejected += u64::from(refused);
    }
    assert_eq!(rejected, n);
    println!("rejected {rejected} forged frames of {flen} bytes");
}
