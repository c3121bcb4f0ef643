//! Bounded waits: poll a check until it passes or a deadline passes, then fail with
//! the check's last answer (what was still missing), never hang.

use std::thread;
use std::time::{Duration, Instant};

/// Polls `check` every `every` until it returns `Ok`, for at most `timeout`; returns
/// the value, or the last error after the timeout.
pub fn poll<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() >= timeout => return Err(e),
            Err(_) => thread::sleep(every),
        }
    }
}

/// Like [`poll`] every 200 ms, panicking with `what` and the last answer on timeout.
pub fn until<T>(timeout: Duration, what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    poll(timeout, Duration::from_millis(200), check)
        .unwrap_or_else(|e| panic!("{what}: not true after {timeout:?}:\n{e}"))
}

/// `Ok(())` if `problems` is empty, else the problems, one per line.
pub fn none(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
