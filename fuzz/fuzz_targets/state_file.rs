//! The aggregator's node state files (`pimon_aggregator::persist`) on whatever a crash,
//! a bad disk or a stray file leaves: the snapshot and journal decoders, and
//! `StateFile::open` on a directory holding the bytes.
//!
//! Input: `flags | body…`
//! - `flags` bit 0: the body is a snapshot (else a journal); bit 1: fix the checksums
//!   (the snapshot's, or every journal entry's) so the fuzzer reaches the record decoder
//!   without learning CRC-32; bit 2: also open a state directory holding the file (a
//!   journal is paired with an empty snapshot of its generation).
//!
//! Properties beyond "no panic":
//! - what decodes re-encodes to bytes that decode to the same nodes (a snapshot with
//!   the same generation; journal entries all good);
//! - a directory opens to the snapshot's nodes overridden by the journal's, and opening
//!   it again (after `open` wrote a fresh snapshot) gives the same nodes.
#![no_main]

use std::fs;

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::persist::{
    JOURNAL_MAGIC, Records, StateFile, decode_journal, decode_snapshot, journal_entries,
    snapshot_bytes,
};

/// Recomputes the CRC of every journal entry after the 16-byte header, as far as the
/// lengths allow.
fn fix_journal(bytes: &mut [u8]) {
    let mut at = 16;
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes(head[..4].try_into().unwrap()) as usize;
        let Some(end) = at.checked_add(8 + len).filter(|&e| e <= bytes.len()) else {
            return;
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&bytes[at..at + 4]);
        h.update(&bytes[at + 8..end]);
        bytes[at + 4..at + 8].copy_from_slice(&h.finalize().to_le_bytes());
        at = end;
    }
}

fn records(nodes: &[(String, pimon_aggregator::node::NodeMeta)]) -> Records {
    let mut r = Records::default();
    for (name, meta) in nodes {
        r.push(name, meta);
    }
    r
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mut bytes = body.to_vec();
    let snapshot = flags & 1 != 0;
    if flags & 2 != 0 {
        if snapshot {
            if bytes.len() >= 4 {
                let n = bytes.len() - 4;
                let crc = crc32fast::hash(&bytes[..n]);
                bytes[n..].copy_from_slice(&crc.to_le_bytes());
            }
        } else {
            fix_journal(&mut bytes);
        }
    }
    let mut generation = 0;
    if snapshot {
        if let Ok((g, nodes)) = decode_snapshot(&bytes) {
            generation = g;
            let again = snapshot_bytes(g, &records(&nodes));
            assert_eq!(decode_snapshot(&again), Ok((g, nodes)));
        }
    } else {
        let j = decode_journal(&bytes);
        assert!(j.torn_bytes <= bytes.len());
        if let Some(g) = j.generation {
            generation = g;
            let mut again = JOURNAL_MAGIC.to_vec();
            again.extend_from_slice(&g.to_le_bytes());
            again.extend(journal_entries(&records(&j.nodes)));
            let re = decode_journal(&again);
            assert_eq!(re.nodes, j.nodes);
            assert_eq!(re.torn_bytes, 0);
        }
    }
    if flags & 4 == 0 {
        return;
    }
    // A fresh directory per input, on tmpfs where there is one.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("pimon-fuzz-state-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    if snapshot {
        fs::write(dir.join("nodes"), &bytes).unwrap();
    } else {
        fs::write(
            dir.join("nodes"),
            snapshot_bytes(generation, &Records::default()),
        )
        .unwrap();
        fs::write(dir.join("nodes.journal"), &bytes).unwrap();
    }
    let (file, loaded) = StateFile::open(&dir, 0).expect("open never fails on content");
    drop(file);
    let (_, again) = StateFile::open(&dir, 0).expect("reopen");
    assert_eq!(again.nodes, loaded.nodes);
    assert!(again.damaged.is_none());
    let _ = fs::remove_dir_all(&dir);
});
