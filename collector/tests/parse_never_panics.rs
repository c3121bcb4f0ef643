//! Every parser, on arbitrary bytes and on randomly damaged fixture files, returns a
//! value or a `ParseError` — it never panics (and the iterators always terminate).
//! Which parsers: every format of the source table, through `parse::exercise`.

use std::path::Path;
use std::sync::LazyLock;

use pimon_collector::parse;
use proptest::prelude::*;

/// Runs every parser over `bytes`, consuming the iterators completely: the list is
/// generated from the source table (`parse::exercise`), so a new format is in it.
fn parse_everything(bytes: &[u8]) {
    parse::exercise(bytes);
}

/// Every file of every fixture tree (`tests/fixtures/*`), so a new source's fixture is
/// damaged too without being listed here.
static FIXTURES: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&path, out);
            } else if kind.is_file() {
                // An empty file (a cgroup's `cgroup.procs`) has no byte to damage.
                let bytes = std::fs::read(&path).unwrap();
                if !bytes.is_empty() {
                    out.push(bytes);
                }
            }
        }
    }
    let mut files = Vec::new();
    walk(&pimon_test_support::fixtures::dir(), &mut files);
    assert!(files.len() > 100, "{} fixture files", files.len());
    files
});

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
    }

    #[test]
    fn text_like_bytes(text in "[ -~\n\t]{0,400}") {
        parse_everything(text.as_bytes());
    }

    #[test]
    fn damaged_fixture_files(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = which.get(&FIXTURES).clone();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let len = cut.index(bytes.len() + 1);
        bytes.truncate(len);
        parse_everything(&bytes);
    }
}

#[test]
fn extreme_numbers() {
    for input in [
        &b"99999999999999999999999999"[..],
        b"-99999999999999999999999",
        b"cpu 18446744073709551615 18446744073709551615 1 1\n",
        b"9223372036.854775807\n",
        b"-9223372036.854775808\n",
        b"ffffffffff\n",
    ] {
        parse_everything(input);
    }
}
