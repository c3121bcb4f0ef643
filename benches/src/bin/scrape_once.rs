//! scrape_once: stores one real Raspberry Pi 4 cycle (the fixture's, unkeyed) of N
//! simulated nodes, then renders `/metrics` of the store S times as the server streams
//! it (pieces of `PIECE_BYTES`), to a sink — the program callgrind counts instructions
//! of for the scrape's cost (docs/BENCHMARKS.md §3.6).
//!
//! ```text
//! scrape_once NODES SCRAPES [text|gzip|gzip-best]
//! ```
//! `text` renders only; `gzip` (the default) also compresses each piece as the server
//! does (`Compression::fast()`, the level `/metrics` is served at); `gzip-best`
//! compresses at level 6 for comparison. The store is filled before the first scrape
//! whatever SCRAPES is, so the difference of the instruction counts of SCRAPES = 1 and
//! SCRAPES = 0 is one scrape of NODES nodes. Prints the exposition's samples and bytes.

use std::io::Write;
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use pimon_aggregator::ingest::{Ingest, IngestConfig};
use pimon_aggregator::prom::{Exposition, PIECE_BYTES};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_benches::fleet::{Cycle, SimNode, Template};
use pimon_protocol::MAX_DATAGRAM;
use pimon_protocol::text::prometheus::Format;

const NOW: u64 = 1_700_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1).and_then(|a| a.parse::<u32>().ok()),
        args.get(2).map_or("gzip", String::as_str),
    );
    let (nodes, scrapes, level) = match parsed {
        (Some(n), Some(s), "text") if n > 0 => (n, s, None),
        (Some(n), Some(s), "gzip") if n > 0 => (n, s, Some(Compression::fast())),
        (Some(n), Some(s), "gzip-best") if n > 0 => (n, s, Some(Compression::new(6))),
        _ => {
            eprintln!("usage: scrape_once NODES SCRAPES [text|gzip|gzip-best]");
            std::process::exit(2);
        }
    };
    let template = Template::from_fixture("pi4").expect("the pi4 fixture tree");
    let limits = Limits {
        max_nodes: nodes,
        max_series_total: nodes * 1000,
        // The simulated fleet sends from one address.
        max_new_nodes_per_address: nodes,
        ..Limits::default()
    };
    let store = Store::new(limits, Staleness::default(), NOW);
    let config = IngestConfig {
        render_lines: false,
        ..IngestConfig::default()
    };
    let mut ing = Ingest::new(store, None, config, Arc::new(AggregatorStats::default()));
    let (mut lines, mut ack, mut cycle) = (String::new(), [0u8; MAX_DATAGRAM], Cycle::default());
    let from = "127.0.0.1:4000".parse().expect("an address");
    for i in 0..nodes {
        SimNode::new(i, 42).next_cycle(&template, &mut cycle, NOW, 1000, None);
        for d in cycle.datagrams() {
            ing.ingest(d, from, NOW + 10, &mut lines, &mut ack);
        }
    }
    let store = &ing.store;
    let mut piece = String::with_capacity(2 * PIECE_BYTES);
    let (mut text, mut body, mut samples) = (0usize, 0usize, 0usize);
    for _ in 0..scrapes {
        let mut gz = level.map(|l| GzEncoder::new(Vec::with_capacity(2 * PIECE_BYTES), l));
        let mut e = Exposition::new(Format::Text004, NOW + 1000);
        (text, body, samples) = (0, 0, 0);
        loop {
            piece.clear();
            let more = e.nodes_piece(&mut piece, store, None, PIECE_BYTES);
            text += piece.len();
            samples += piece.bytes().filter(|&b| b == b'\n').count();
            match &mut gz {
                Some(gz) => {
                    let _ = gz.write_all(piece.as_bytes());
                    body += gz.get_ref().len();
                    gz.get_mut().clear();
                }
                None => body += piece.len(),
            }
            if !more {
                break;
            }
        }
        if let Some(gz) = gz {
            body += gz.finish().map_or(0, |v| v.len());
        }
    }
    println!(
        "{nodes} nodes, {} series; {scrapes} scrapes of {text} bytes of text ({samples} lines), body {body} bytes",
        store.series_count()
    );
}
