//! The wall clock that stamps frames and aligns cycles, with a test-only offset.
//!
//! End-to-end tests must show what happens when a node's clock steps (a Pi without RTC
//! boots at 1970 and NTP corrects it, an operator sets the time back) without touching
//! the test machine's clock, and `LD_PRELOAD` cannot fool a static musl binary. So when
//! the environment variable [`OFFSET_FILE_VAR`] names a file at start, every reading of
//! the wall clock adds the signed number of milliseconds that file holds *at that
//! moment* (`-3600000`, `+600000`); a test steps the clock by replacing the file
//! (write a temporary file, rename it over). A missing, empty or unparsable file counts
//! as 0.
//!
//! Without the variable (production) [`wall_ms`] is `SystemTime::now()` and one branch.
//! With it, each reading opens the file by path, reads at most 32 bytes into a stack
//! buffer and parses them: no heap allocation (std converts short paths on the stack),
//! so the zero-allocation steady state holds for the tests too. Only the wall clock
//! moves: resend timing uses the monotonic clock, as it does when a real clock steps.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the offset file (tests only).
pub const OFFSET_FILE_VAR: &str = "PIMON_TEST_CLOCK_OFFSET_FILE";

static OFFSET_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Reads [`OFFSET_FILE_VAR`] once; call at start, before the first cycle (later calls
/// change nothing).
pub fn init() {
    OFFSET_FILE.get_or_init(|| std::env::var_os(OFFSET_FILE_VAR).map(PathBuf::from));
}

/// Unix time in milliseconds, plus the test offset if one is configured (0 before
/// 1970, saturating).
pub fn wall_ms() -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i128::try_from(d.as_millis()).unwrap_or(i128::MAX))
        .unwrap_or(0);
    let shifted = real + i128::from(offset_ms());
    u64::try_from(shifted.max(0)).unwrap_or(u64::MAX)
}

/// The offset the file holds now, 0 without one.
fn offset_ms() -> i64 {
    let Some(Some(path)) = OFFSET_FILE.get() else {
        return 0;
    };
    let mut buf = [0u8; 32];
    let Ok(n) = File::open(path).and_then(|mut f| f.read(&mut buf)) else {
        return 0;
    };
    parse_offset(&buf[..n])
}

/// `-3600000`, `+600000`, `0` (surrounding whitespace allowed); anything else is 0.
fn parse_offset(bytes: &[u8]) -> i64 {
    core::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_signed_and_garbage_is_zero() {
        assert_eq!(parse_offset(b"-3600000\n"), -3_600_000);
        assert_eq!(parse_offset(b"+600000"), 600_000);
        assert_eq!(parse_offset(b" 0 "), 0);
        assert_eq!(parse_offset(b""), 0);
        assert_eq!(parse_offset(b"soon"), 0);
        assert_eq!(parse_offset(&[0xff, b'1']), 0);
    }
}
