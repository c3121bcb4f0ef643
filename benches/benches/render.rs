//! `/metrics` rendering at fleet scale, without HTTP: a store of N nodes that each sent
//! one real Raspberry Pi 4 cycle (285 values, `fleet::Template`), rendered as the server
//! streams it (pieces of `PIECE_BYTES`), as text and gzipped as the server does.
//!
//! `cargo bench -p pimon-benches --bench render [-- NODES]`      (default 10,000)
//!
//! Prints the store's own memory estimate per node, the exposition's size, and the
//! median time of a whole render (text only, then text + gzip at the server's level)
//! with its cost per sample. The running server's figures (render time per scrape while
//! ingesting, RSS) are `scripts/bench-aggregator`'s.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use pimon_aggregator::prom::{Exposition, PIECE_BYTES};
use pimon_aggregator::store::Store;
use pimon_benches::fleet::{Template, stored_fleet};
use pimon_benches::procstat;
use pimon_benches::timing::bench;
use pimon_protocol::text::prometheus::Format;

const NOW: u64 = 1_700_000_000_000;

/// Renders the node part of the exposition of `store` piece by piece into `piece`,
/// handing each piece to `sink`, as the server does.
fn render(store: &Store, piece: &mut String, sink: &mut dyn FnMut(&str)) {
    let mut e = Exposition::new(Format::Text004, NOW);
    loop {
        piece.clear();
        let more = e.nodes_piece(piece, store, None, PIECE_BYTES);
        sink(piece);
        if !more {
            return;
        }
    }
}

/// The exposition of `store` gzipped as the server sends it; returns its bytes.
fn render_gzip(store: &Store, piece: &mut String) -> usize {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    let mut n = 0;
    render(store, piece, &mut |p| {
        let _ = gz.write_all(p.as_bytes());
        n += gz.get_ref().len();
        gz.get_mut().clear();
    });
    n + gz.finish().map_or(0, |v| v.len())
}

fn main() {
    let nodes: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let template = Template::from_fixture("pi4").expect("the Pi 4 fixture");
    let ingest = stored_fleet(&template, nodes, 400, 1, NOW, NOW);
    let store = &ingest.store;
    println!(
        "store: {} nodes, {} series, {:.0} bytes per node (pimon_aggregator_store_memory_bytes / nodes)",
        store.node_count(),
        store.series_count(),
        store.memory_bytes() as f64 / nodes as f64
    );
    let mut piece = String::with_capacity(2 * PIECE_BYTES);
    let (mut bytes, mut samples, mut pieces) = (0usize, 0usize, 0usize);
    render(store, &mut piece, &mut |p| {
        bytes += p.len();
        samples += p.lines().filter(|l| !l.starts_with('#')).count();
        pieces += 1;
    });
    let gz_bytes = render_gzip(store, &mut piece);
    println!(
        "exposition: {bytes} bytes, {samples} samples, {pieces} pieces; gzip {gz_bytes} bytes"
    );
    let text_ns = bench("render (text, 64 KiB pieces)", || {
        let mut n = 0;
        render(store, &mut piece, &mut |p| n += p.len());
        n
    });
    let gzip_ns = bench("render + gzip (fast, as served)", || {
        render_gzip(store, &mut piece)
    });
    // CPU time is what a loaded machine distorts least (wall time waits for the core).
    let me = std::process::id();
    let cpu = |f: &mut dyn FnMut()| {
        let start = procstat::cpu_seconds(me).unwrap_or(0.0);
        for _ in 0..5 {
            f();
        }
        (procstat::cpu_seconds(me).unwrap_or(0.0) - start) / 5.0 * 1e3
    };
    let text_cpu = cpu(&mut || render(store, &mut piece, &mut |_| {}));
    let gzip_cpu = cpu(&mut || {
        render_gzip(store, &mut piece);
    });
    println!(
        "cpu per render: text {text_cpu:.0} ms, text + gzip {gzip_cpu:.0} ms (mean of 5, /proc/self/stat)"
    );
    println!(
        "RESULT render.pi4.{nodes}.text_ms {:.1} ms ({:.0} ns per sample, {:.0} MB/s)",
        text_ns / 1e6,
        text_ns / samples as f64,
        bytes as f64 / text_ns * 1e3
    );
    println!(
        "RESULT render.pi4.{nodes}.gzip_ms {:.1} ms ({:.0} ns per sample; gzip body {:.1} % of the text)",
        gzip_ns / 1e6,
        gzip_ns / samples as f64,
        100.0 * gz_bytes as f64 / bytes as f64
    );
    println!("RESULT render.pi4.{nodes}.text_cpu_ms {text_cpu:.1} ms");
    println!("RESULT render.pi4.{nodes}.gzip_cpu_ms {gzip_cpu:.1} ms");
}
