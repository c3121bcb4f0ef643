//! `/proc/net/sockstat` and `/proc/net/sockstat6`: sockets in use per protocol.
//!
//! ```text
//! sockets: used 231
//! TCP: inuse 9 orphan 0 tw 4 alloc 12 mem 3
//! UDP: inuse 6 mem 4
//! FRAG: inuse 0 memory 0
//! ```
//!
//! `mem` is in pages. node_exporter's `sockstat` collector exports each pair as
//! `node_sockstat_<PROTO>_<key>` (`sockets: used` as `node_sockstat_sockets_used`), and
//! `<PROTO>_mem_bytes` = mem × its own page size: the node's, which the `std` shell
//! sets once at start ([`set_page_size`]), as Pis run kernels with 4 KiB and 16 KiB
//! pages. A pair is sent when the catalog has its row ([`sockstat_id`]).

use pimon_protocol::Value;
use pimon_protocol::catalog::{id, name_suffixes};

use core::sync::atomic::{AtomicU32, Ordering};

use super::{FileFormat, FileList, ParseError, PushFn, lines, parse_u64, words};
use crate::sink::SampleSink;

/// The node's page size in bytes (4096 until [`set_page_size`]).
static PAGE_SIZE: AtomicU32 = AtomicU32::new(4096);

/// Sets the page size `mem_bytes` is computed with (the collector's start-up does).
pub fn set_page_size(bytes: u32) {
    PAGE_SIZE.store(bytes, Ordering::Relaxed);
}

/// One `key value` pair of a line, with the line's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockstatPair<'a> {
    /// The protocol without its colon (`TCP`, `sockets`).
    pub proto: &'a [u8],
    /// The key (`inuse`).
    pub key: &'a [u8],
    /// The value.
    pub value: u64,
}

/// Parses one line, calling `pair` for each of its pairs.
fn parse_line<'a>(
    line: &'a [u8],
    pair: &mut dyn FnMut(SockstatPair<'a>),
) -> Result<(), ParseError> {
    let mut w = words(line);
    let proto = match w.next().and_then(|p| p.split_last()) {
        Some((b':', proto)) if !proto.is_empty() => proto,
        _ => return Err(ParseError::Malformed("`PROTO:` at the start of a line")),
    };
    let mut any = false;
    while let Some(key) = w.next() {
        let value = w.next().ok_or(ParseError::MissingField("value"))?;
        pair(SockstatPair {
            proto,
            key,
            value: parse_u64(value)?,
        });
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err(ParseError::MissingField("key"))
    }
}

/// Calls `pair` for every pair of the file; `bad_row` for each line that does not parse
/// (its pairs before the error are kept). Returns whether any line parsed.
pub fn parse_sockstat<'a>(
    input: &'a [u8],
    pair: &mut dyn FnMut(SockstatPair<'a>),
    bad_row: &mut dyn FnMut(ParseError),
) -> bool {
    let mut any = false;
    for line in lines(input).filter(|l| !l.trim_ascii().is_empty()) {
        match parse_line(line, pair) {
            Ok(()) => any = true,
            Err(e) => bad_row(e),
        }
    }
    any
}

/// The catalog id of `node_sockstat_<proto>_<key>`, or `None`.
pub fn sockstat_id(proto: &[u8], key: &[u8]) -> Option<u16> {
    let i = NAMES.iter().position(|n| {
        n.as_bytes()
            .strip_prefix(proto)
            .and_then(|n| n.strip_prefix(b"_"))
            .is_some_and(|n| n == key)
    })?;
    Some(id::SOCKSTAT_SOCKETS_USED + i as u16)
}

/// `<proto>_<key>` of every sockstat row, from the catalog at compile time.
static NAMES: [&str; (id::SOCKSTAT_FRAG6_MEMORY - id::SOCKSTAT_SOCKETS_USED + 1) as usize] =
    name_suffixes(id::SOCKSTAT_SOCKETS_USED, "node_sockstat_");

/// Pushes the samples of a `sockstat` or `sockstat6` file (unlabelled, in the file's
/// order, `mem_bytes` after `mem`); `page_size` is the node's, in bytes.
pub fn push_sockstat(
    input: &[u8],
    page_size: u64,
    sink: &mut dyn SampleSink,
    bad_row: &mut dyn FnMut(ParseError),
) -> Result<(), ParseError> {
    sink.labels(&[]);
    let mut push = |p: SockstatPair<'_>| {
        if let Some(row) = sockstat_id(p.proto, p.key) {
            sink.push(row, Value::Unsigned(p.value));
            if p.key == b"mem"
                && let Some(bytes_row) = sockstat_id(p.proto, b"mem_bytes")
            {
                sink.push(bytes_row, Value::Unsigned(p.value.saturating_mul(page_size)));
            }
        }
    };
    if parse_sockstat(input, &mut push, bad_row) {
        Ok(())
    } else {
        Err(ParseError::Empty)
    }
}

/// `/proc/net/sockstat`.
#[derive(Debug)]
pub struct ProcNetSockstat;

impl FileFormat for ProcNetSockstat {
    const PATH: &'static str = "proc/net/sockstat";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let page_size = u64::from(PAGE_SIZE.load(Ordering::Relaxed));
        push_sockstat(input, page_size, sink, bad_row)
    }
}

/// The sockstat source's files: `sockstat` (required) and `sockstat6` (absent with
/// `ipv6.disable=1`), the same format.
#[derive(Debug)]
pub struct SockstatFiles;

impl FileList for SockstatFiles {
    const FILES: &'static [(&'static str, bool, PushFn)] = &[
        (ProcNetSockstat::PATH, true, ProcNetSockstat::push_samples),
        ("proc/net/sockstat6", false, ProcNetSockstat::push_samples),
    ];
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    super::exercise_format::<ProcNetSockstat>(input);
    let _ = sockstat_id(input, input);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    fn pushed(input: &[u8], page_size: u64) -> (Vec<(u16, u64)>, Vec<ParseError>) {
        struct Rec(Vec<(u16, u64)>);
        impl SampleSink for Rec {
            fn labels(&mut self, l: &[&str]) {
                assert!(l.is_empty());
            }
            fn push(&mut self, row: u16, v: Value) {
                match v {
                    Value::Unsigned(v) => self.0.push((row, v)),
                    other => panic!("{other:?}"),
                }
            }
        }
        let mut rec = Rec(Vec::new());
        let mut bad = Vec::new();
        let _ = push_sockstat(input, page_size, &mut rec, &mut |e| bad.push(e));
        (rec.0, bad)
    }

    #[test]
    fn pi4_sockstat_and_sockstat6() {
        let (samples, bad) = pushed(fixture!("pi4/proc/net/sockstat"), 4096);
        assert!(bad.is_empty());
        assert_eq!(
            samples,
            [
                (id::SOCKSTAT_SOCKETS_USED, 231),
                (id::SOCKSTAT_TCP_INUSE, 9),
                (id::SOCKSTAT_TCP_ORPHAN, 0),
                (id::SOCKSTAT_TCP_TW, 4),
                (id::SOCKSTAT_TCP_ALLOC, 12),
                (id::SOCKSTAT_TCP_MEM, 3),
                (id::SOCKSTAT_TCP_MEM_BYTES, 12288),
                (id::SOCKSTAT_UDP_INUSE, 6),
                (id::SOCKSTAT_UDP_MEM, 4),
                (id::SOCKSTAT_UDP_MEM_BYTES, 16384),
                (id::SOCKSTAT_UDPLITE_INUSE, 0),
                (id::SOCKSTAT_RAW_INUSE, 0),
                (id::SOCKSTAT_FRAG_INUSE, 0),
                (id::SOCKSTAT_FRAG_MEMORY, 0),
            ]
        );
        let (samples, bad) = pushed(fixture!("pi4/proc/net/sockstat6"), 4096);
        assert!(bad.is_empty());
        assert_eq!(
            samples,
            [
                (id::SOCKSTAT_TCP6_INUSE, 4),
                (id::SOCKSTAT_UDP6_INUSE, 3),
                (id::SOCKSTAT_UDPLITE6_INUSE, 0),
                (id::SOCKSTAT_RAW6_INUSE, 1),
                (id::SOCKSTAT_FRAG6_INUSE, 0),
                (id::SOCKSTAT_FRAG6_MEMORY, 0),
            ]
        );
    }

    #[test]
    fn mem_bytes_uses_the_nodes_page_size() {
        // A Pi 5 kernel (kernel_2712.img) runs with 16 KiB pages.
        let (samples, _) = pushed(fixture!("pizero/proc/net/sockstat"), 16384);
        assert!(samples.contains(&(id::SOCKSTAT_TCP_MEM_BYTES, 16384)));
        assert!(samples.contains(&(id::SOCKSTAT_UDP_MEM_BYTES, 32768)));
    }

    #[test]
    fn bad_lines_are_skipped() {
        let (samples, bad) = pushed(
            b"sockets used 1\nTCP: inuse\nUDP: inuse x\nRAW:\nFRAG: inuse 2 memory 3\n",
            4096,
        );
        assert_eq!(
            bad,
            [
                ParseError::Malformed("`PROTO:` at the start of a line"),
                ParseError::MissingField("value"),
                ParseError::InvalidNumber,
                ParseError::MissingField("key"),
            ]
        );
        assert_eq!(
            samples,
            [(id::SOCKSTAT_FRAG_INUSE, 2), (id::SOCKSTAT_FRAG_MEMORY, 3)]
        );
        let mut bad = Vec::new();
        struct Nothing;
        impl SampleSink for Nothing {
            fn labels(&mut self, _: &[&str]) {}
            fn push(&mut self, _: u16, _: Value) {}
        }
        assert_eq!(
            push_sockstat(b"\n", 4096, &mut Nothing, &mut |e| bad.push(e)),
            Err(ParseError::Empty)
        );
        // A protocol a future kernel may add is skipped.
        assert_eq!(sockstat_id(b"MPTCP", b"inuse"), None);
        assert_eq!(sockstat_id(b"TCP", b"memory"), None);
        assert_eq!(sockstat_id(b"sockets", b"used"), Some(id::SOCKSTAT_SOCKETS_USED));
    }
}
