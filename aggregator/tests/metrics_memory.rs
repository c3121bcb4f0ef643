//! `/metrics` memory is bounded per connection, whatever the size of the fleet and the
//! speed of the readers: a response holds one piece of the exposition (and one gzip
//! compressor), never the whole body or a copy of the store, and nothing is kept after
//! it. Measured with a global allocator that tracks live heap bytes of the whole process
//! (the server runs in this test's process), so this file holds one test only.

mod frames;
mod running;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use frames::Frame;
use pimon_aggregator::server::now_ms;
use pimon_protocol::MAX_DATAGRAM;
use pimon_test_support::alloc;
use running::{Running, dechunk, header, local_config, metrics};

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

const NODES: usize = 1500;
const READERS: usize = 8;
/// What one response may hold: a piece of text (64 KiB, plus a node's samples of one
/// family), the bytes on their way to the socket, and with gzip a compressor (miniz:
/// about 300 KiB); with room to spare.
const PER_CONNECTION: isize = 640 * 1024;

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn slow_scrapers_hold_a_piece_each_not_the_exposition() {
    let server = Running::start(local_config());
    {
        let now = now_ms();
        let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
        let mut ing = server.ingest.lock().unwrap();
        let from = "127.0.0.1:4000".parse().unwrap();
        ing.begin_batch();
        for n in 0..NODES {
            let frame = Frame::realistic(&format!("pi-{n:05}"), 1).at(now);
            ing.ingest(&frame.bytes(), from, now, &mut lines, &mut ack);
        }
        ing.commit_batch();
    }
    let whole = metrics(server.http);
    let samples = whole
        .lines()
        .filter(|l| l.starts_with("node_load1{"))
        .count();
    assert_eq!(samples, NODES, "every node is in the exposition");
    let body_len = whole.len();
    drop(whole);
    std::thread::sleep(Duration::from_millis(200));

    let base = alloc::reset_peak();
    // Scrapers that read the start of the response and then stop reading.
    let mut readers: Vec<(TcpStream, Vec<u8>, bool)> = (0..READERS)
        .map(|i| {
            let gzip = i % 2 == 1;
            let mut s = TcpStream::connect(server.http).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let encoding = if gzip {
                "Accept-Encoding: gzip\r\n"
            } else {
                ""
            };
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\n{encoding}Connection: close\r\n\r\n"
            )
            .unwrap();
            let mut start = vec![0u8; 16 * 1024];
            s.read_exact(&mut start).unwrap();
            (s, start, gzip)
        })
        .collect();
    // The server renders what the sockets' buffers take, then waits for the readers.
    std::thread::sleep(Duration::from_millis(1500));
    let peak = alloc::peak_bytes() - base;
    println!(
        "exposition {:.1} MiB; {READERS} stalled scrapers: peak heap growth {:.2} MiB",
        body_len as f64 / MIB,
        peak as f64 / MIB
    );
    assert!(
        peak < READERS as isize * PER_CONNECTION,
        "{READERS} stalled scrapers of a {:.1} MiB exposition grew the heap by {:.1} MiB \
         (bound {:.1} MiB)",
        body_len as f64 / MIB,
        peak as f64 / MIB,
        (READERS as isize * PER_CONNECTION) as f64 / MIB
    );

    // Read to the end: every body is the whole exposition.
    for (mut s, mut bytes, gzip) in readers.drain(..) {
        s.read_to_end(&mut bytes).unwrap();
        let split = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(bytes[..split].to_vec()).unwrap();
        let mut body = bytes[split + 4..].to_vec();
        if header(&head, "transfer-encoding") == Some("chunked") {
            body = dechunk(&body).expect("a whole chunked body");
        }
        if gzip {
            assert_eq!(header(&head, "content-encoding"), Some("gzip"));
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut text)
                .unwrap();
            body = text;
        }
        let text = String::from_utf8(body).unwrap();
        let samples = text
            .lines()
            .filter(|l| l.starts_with("node_load1{"))
            .count();
        assert_eq!(samples, NODES, "gzip {gzip}: {head}");
    }

    // Nothing is kept once the responses are done.
    std::thread::sleep(Duration::from_millis(300));
    let kept = alloc::live_bytes() - base;
    assert!(
        kept < 1024 * 1024,
        "{:.1} MiB still held after the scrapes",
        kept as f64 / MIB
    );
}
