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

use flate2::Compression;
use flate2::write::GzEncoder;
use pimon_aggregator::prom::{Exposition, PIECE_BYTES};
use pimon_benches::fleet::{Template, stored_fleet};
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
    let ing = stored_fleet(&template, nodes, 1000, 42, NOW, NOW + 10);
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
