//! ingest_once: ingests a fleet's real Raspberry Pi 4 cycles with line protocol rendered
//! (as with an InfluxDB or `--lp-out` output) and exits — the program that callgrind
//! counts the instructions of ingest per datagram with (docs/BENCHMARKS.md §3.3).
//!
//! ```text
//! ingest_once NODES CYCLES [lines|nolines]
//! valgrind --tool=callgrind --toggle-collect='*ingest_all*' target/release/ingest_once 100 20
//! ```
//! The datagrams (keyless, as `loadgen` sends them) are made before the measured part;
//! `ingest_all` ingests them in receive batches of 64 (begin, ingest, commit), as the
//! server does, so the figure is decode, routing, window, timeline, staging, rendering
//! and the store's upsert per datagram — not receive, spool or acks.

use std::sync::Arc;

use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_benches::fleet::{Cycle, SimNode, Template};
use pimon_protocol::MAX_DATAGRAM;

const NOW: u64 = 1_700_000_000_000;

#[inline(never)]
fn ingest_all(
    ing: &mut Ingest,
    datagrams: &[(u64, Vec<u8>)],
    lines: &mut String,
    mut dump: Option<&mut std::fs::File>,
) -> (usize, u64) {
    let from = "127.0.0.2:4000".parse().unwrap();
    let mut ack = [0u8; MAX_DATAGRAM];
    let (mut stored, mut bytes) = (0usize, 0u64);
    for chunk in datagrams.chunks(64) {
        lines.clear();
        ing.begin_batch_of(chunk.len());
        for (t, d) in chunk {
            let o = ing.ingest(d, from, *t, lines, &mut ack);
            stored += usize::from(o.verdict == Verdict::Stored);
        }
        ing.finish_lines(lines);
        bytes += lines.len() as u64;
        if let Some(f) = dump.as_deref_mut() {
            std::io::Write::write_all(f, lines.as_bytes()).expect("write the dump");
        }
        ing.commit_batch();
    }
    (stored, bytes)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut num = || args.next().and_then(|a| a.parse::<usize>().ok());
    let (Some(nodes), Some(cycles)) = (num(), num()) else {
        eprintln!("usage: ingest_once NODES CYCLES [lines|nolines]");
        std::process::exit(2);
    };
    let render_lines = std::env::args().nth(3).as_deref() != Some("nolines");
    let template = Template::from_fixture("pi4").expect("the pi4 fixture tree");
    let mut sims: Vec<SimNode> = (0..nodes).map(|i| SimNode::new(i, 42)).collect();
    let mut cycle = Box::<Cycle>::default();
    let mut datagrams = Vec::new();
    for c in 0..cycles as u64 {
        let t = NOW + c * 1000;
        for node in &mut sims {
            node.next_cycle(&template, &mut cycle, t, 1000, None);
            datagrams.extend(cycle.datagrams().map(|d| (t, d.to_vec())));
        }
    }
    let stats = Arc::new(AggregatorStats::default());
    let store = Store::new(Limits::default(), Staleness::default(), NOW);
    // INGEST_ONCE_THREADS=N: render the lines of 32 frames at a time on N threads, as
    // the server does on N cores (pimon_aggregator::render); default 1 (each frame's
    // lines as it is stored).
    let render_threads = std::env::var("INGEST_ONCE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    let config = IngestConfig {
        render_lines,
        render_threads,
        render_chunk: if render_threads > 1 { 32 } else { 1 },
        ..IngestConfig::default()
    };
    let mut ing = Ingest::new(store, None, config, stats);
    let mut lines = String::new();
    // INGEST_ONCE_LINES=FILE: the rendered lines, to compare two builds.
    let mut dump = std::env::var_os("INGEST_ONCE_LINES")
        .map(|p| std::fs::File::create(p).expect("create INGEST_ONCE_LINES"));
    let started = std::time::Instant::now();
    let (stored, bytes) = ingest_all(&mut ing, &datagrams, &mut lines, dump.as_mut());
    let elapsed = started.elapsed();
    println!(
        "{} datagrams ({} values per cycle), {stored} stored, {bytes} bytes of line protocol; \
         {:.1} µs a datagram ({:.0} datagrams/s), lines on {render_threads} thread(s)",
        datagrams.len(),
        cycle.values,
        elapsed.as_secs_f64() * 1e6 / datagrams.len() as f64,
        datagrams.len() as f64 / elapsed.as_secs_f64(),
    );
    assert_eq!(stored, datagrams.len());
}
