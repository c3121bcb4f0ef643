//! A collector's fake wall clock: the collector's test-only offset file
//! (`PIMON_TEST_CLOCK_OFFSET_FILE`, see `collector/src/clock.rs`). Each reading of the
//! collector's wall clock adds the milliseconds the file holds at that moment, so a
//! test steps the clock forward, back, or to 1970 while the collector runs. The file
//! is replaced atomically (write, then rename), so a reading never sees half a number.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

/// The collector's environment variable.
pub const OFFSET_FILE_VAR: &str = "PIMON_TEST_CLOCK_OFFSET_FILE";

/// An offset file in its own temp dir; 0 at first.
pub struct FakeClock {
    dir: TempDir,
    path: PathBuf,
}

impl FakeClock {
    /// A clock that starts right (offset 0).
    pub fn new() -> FakeClock {
        let dir = tempfile::Builder::new()
            .prefix("pimon-e2e-clock-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("offset_ms");
        let clock = FakeClock { dir, path };
        clock.set_offset_ms(0);
        clock
    }

    /// The file to give the collector.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// From now on the collector's clock is `offset_ms` off the real one.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        let tmp = self.dir.path().join("offset_ms.tmp");
        fs::write(&tmp, format!("{offset_ms}\n")).expect("write the clock offset");
        fs::rename(&tmp, &self.path).expect("replace the clock offset");
    }

    /// Sets the collector's clock to `unix_ms` (now).
    pub fn set_now_ms(&self, unix_ms: u64) {
        self.set_offset_ms(unix_ms as i64 - now_ms() as i64);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

/// The real Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
