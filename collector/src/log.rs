//! Logging: one line per event on stderr, ready for journald.
//!
//! Each event is formatted into a fixed stack buffer and written with a single
//! `write(2)`, so lines from different threads never interleave and logging allocates
//! nothing. Under systemd (`JOURNAL_STREAM` set, meaning stderr goes to the journal)
//! lines start with the syslog priority prefix (`<3>` error … `<7>` debug), which
//! journald turns into the entry's priority; on a terminal they start with the level
//! word instead. Debug lines are printed only with `-v`.
//!
//! [`RateLimit`] keeps a recurring failure to one line per period and says how many
//! were suppressed in between.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Severity of a log line (syslog numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed and was not done.
    Error = 3,
    /// Something unexpected that the collector works around.
    Warning = 4,
    /// Normal but significant (start, stop, reload).
    Notice = 5,
    /// Informational.
    Info = 6,
    /// Detail for `-v`.
    Debug = 7,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

const STYLE_UNSET: u8 = 0;
const STYLE_PLAIN: u8 = 1;
const STYLE_JOURNAL: u8 = 2;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static STYLE: AtomicU8 = AtomicU8::new(STYLE_UNSET);

/// Sets verbosity (`-v`: debug lines too) and detects journald. Call once at start.
pub fn init(verbose: bool) {
    let level = if verbose { Level::Debug } else { Level::Info };
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    STYLE.store(
        if journal { STYLE_JOURNAL } else { STYLE_PLAIN },
        Ordering::Relaxed,
    );
}

/// True when lines of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Longest line written; longer messages are cut and end with `…`.
pub const MAX_LINE: usize = 1024;

/// A `fmt::Write` into a fixed buffer that cuts instead of failing.
struct LineBuf {
    buf: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep 4 bytes for "…\n".
        let room = MAX_LINE - 4 - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        // One event, one line: newlines inside a message become spaces.
        for (dst, &b) in self.buf[self.len..self.len + take]
            .iter_mut()
            .zip(s.as_bytes())
        {
            *dst = if b == b'\n' { b' ' } else { b };
        }
        self.len += take;
        if take < s.len() {
            self.cut = true;
        }
        Ok(())
    }
}

/// Formats one event as it would be written (without the trailing newline).
pub fn format_line(
    level: Level,
    journal: bool,
    args: fmt::Arguments<'_>,
) -> ([u8; MAX_LINE], usize) {
    let mut line = LineBuf {
        buf: [0; MAX_LINE],
        len: 0,
        cut: false,
    };
    let _ = if journal {
        write!(line, "<{}>", level as u8)
    } else {
        write!(line, "{}: ", level.word())
    };
    let _ = line.write_fmt(args);
    if line.cut {
        let end = "…".len();
        line.buf[line.len..line.len + end].copy_from_slice("…".as_bytes());
        line.len += end;
    }
    (line.buf, line.len)
}

/// Writes one event line to stderr if `level` is enabled.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let journal = STYLE.load(Ordering::Relaxed) == STYLE_JOURNAL;
    let (mut buf, mut len) = format_line(level, journal, args);
    buf[len] = b'\n';
    len += 1;
    // stderr is unbuffered: this is one write(2). A failed log write is ignored.
    let _ = std::io::stderr().write_all(&buf[..len]);
}

/// Logs at error level: `error!("cannot read {}: {}", path, e)`.
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($arg)*)) };
}
/// Logs at warning level.
macro_rules! warning {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warning, format_args!($($arg)*)) };
}
/// Logs at notice level.
macro_rules! notice {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Notice, format_args!($($arg)*)) };
}
/// Logs at info level.
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($arg)*)) };
}
/// Logs at debug level (printed with `-v`).
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($arg)*)) };
}
#[allow(unused_imports)]
pub(crate) use {debug, error, info, notice, warning};

/// Lets one event through per period; counts the ones held back.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pimon_collector::log::RateLimit;
/// let mut limit = RateLimit::new(Duration::from_secs(60));
/// let t = Instant::now();
/// assert_eq!(limit.check(t), Some(0));
/// assert_eq!(limit.check(t + Duration::from_secs(1)), None);
/// assert_eq!(limit.check(t + Duration::from_secs(61)), Some(1)); // one suppressed
/// ```
#[derive(Debug, Clone)]
pub struct RateLimit {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    /// At most one event per `period`.
    pub const fn new(period: Duration) -> RateLimit {
        RateLimit {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when an event at `now` may be logged (`n` were suppressed since the
    /// last one logged); `None` when it must be suppressed.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < self.period => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(core::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Level, journal: bool, args: fmt::Arguments<'_>) -> String {
        let (buf, len) = format_line(level, journal, args);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    #[test]
    fn journal_prefix_or_level_word() {
        assert_eq!(line(Level::Error, true, format_args!("x {}", 1)), "<3>x 1");
        assert_eq!(line(Level::Warning, false, format_args!("y")), "warning: y");
        assert_eq!(line(Level::Debug, true, format_args!("z")), "<7>z");
    }

    #[test]
    fn one_line_per_event_and_long_lines_are_cut_on_a_char_boundary() {
        assert_eq!(line(Level::Info, false, format_args!("a\nb")), "info: a b");
        let long = "é".repeat(2000);
        let l = line(Level::Info, false, format_args!("{long}"));
        assert!(l.len() < MAX_LINE && l.ends_with('…'), "{}", l.len());
    }

    #[test]
    fn rate_limit_counts_suppressed() {
        let mut r = RateLimit::new(Duration::from_millis(100));
        let t = Instant::now();
        assert_eq!(r.check(t), Some(0));
        for i in 1..=5 {
            assert_eq!(r.check(t + Duration::from_millis(i)), None);
        }
        assert_eq!(r.check(t + Duration::from_millis(100)), Some(5));
        assert_eq!(r.check(t + Duration::from_millis(150)), None);
    }
}
