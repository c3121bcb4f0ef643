//! stored_once: stores N cycles of 100 simulated Raspberry Pi 4 nodes (the fixture's real
//! cycle, unkeyed) through the aggregator's ingest and exits — the program callgrind
//! counts instructions of (docs/BENCHMARKS.md §3.6).
//!
//! ```text
//! stored_once N        (1 ≤ N ≤ 11)
//! ```
//! Every datagram of 11 cycles is encoded before the first is ingested, whatever N, so
//! running it for N = 1 and N = 11 and dividing the difference of the instruction
//! counts by 1,000 (100 nodes × 10 cycles) gives the instructions of storing one
//! node's cycle once its series are known (encoding and set-up excluded).

use std::sync::Arc;

use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_benches::fleet::{Cycle, SimNode, Template};
use pimon_protocol::MAX_DATAGRAM;

const NOW: u64 = 1_700_000_000_000;
const NODES: usize = 100;
const CYCLES: u64 = 11;

fn main() {
    let n = match std::env::args().nth(1).map(|a| a.parse::<u64>()) {
        Some(Ok(n)) if (1..=CYCLES).contains(&n) => n,
        _ => {
            eprintln!("usage: stored_once N (1 ≤ N ≤ {CYCLES})");
            std::process::exit(2);
        }
    };
    let store = Store::new(Limits::default(), Staleness::default(), NOW);
    let config = IngestConfig {
        render_lines: false,
        ..IngestConfig::default()
    };
    let stats = Arc::new(AggregatorStats::default());
    let mut ing = Ingest::new(store, None, config, stats);
    let from = "127.0.0.2:4000".parse().expect("an address");
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
    let template = Template::from_fixture("pi4").expect("the pi4 fixture tree");
    let mut nodes: Vec<SimNode> = (0..NODES).map(|i| SimNode::new(i, 42)).collect();
    let mut cycle = Box::<Cycle>::default();
    // datagrams[c]: every node's datagrams of cycle c.
    let mut datagrams: Vec<Vec<Vec<u8>>> = Vec::new();
    for c in 0..CYCLES {
        let mut all = Vec::new();
        for node in &mut nodes {
            node.next_cycle(&template, &mut cycle, NOW + c * 1000, 1000, None);
            all.extend(cycle.datagrams().map(|d| d.to_vec()));
        }
        datagrams.push(all);
    }
    let mut stored = 0u64;
    for (c, all) in datagrams.iter().take(n as usize).enumerate() {
        let now = NOW + c as u64 * 1000 + 10;
        for d in all {
            let o = ing.ingest(std::hint::black_box(d), from, now, &mut lines, &mut ack);
            stored += u64::from(o.verdict == Verdict::Stored);
        }
    }
    assert_eq!(
        stored,
        datagrams
            .iter()
            .take(n as usize)
            .map(Vec::len)
            .sum::<usize>() as u64
    );
    println!(
        "stored {stored} datagrams ({n} cycles of {NODES} nodes), {} series",
        ing.store.series_count()
    );
}
