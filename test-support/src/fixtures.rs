//! Where the collector's fixture trees are: `collector/tests/fixtures/<tree>` (`pi4`,
//! `pizero`, `x86`, …), the captured `/proc` and `/sys` files every crate's tests read.
//! One place, so a test in any crate names a tree and nothing else.

use std::path::PathBuf;

/// `collector/tests/fixtures` in this checkout.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../collector/tests/fixtures")
}

/// The fixture tree `name` (`collector/tests/fixtures/<name>`), or a file below the
/// fixtures (`kmsg/pi5-arm64.kmsg`). Panics, naming the path, when there is nothing
/// there: a misspelt name fails here, not as a source that found nothing.
pub fn tree(name: &str) -> PathBuf {
    let tree = dir().join(name);
    assert!(tree.exists(), "no fixture at {}", tree.display());
    tree
}
