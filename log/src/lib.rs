//! pimon's logger, one for both binaries: one line per event on stderr, ready for
//! journald.
//!
//! Each event is formatted into a fixed stack buffer and written with a single
//! `write(2)`, so lines from different threads never interleave and a line allocates
//! nothing. Under systemd (`JOURNAL_STREAM` set, meaning stderr goes to the journal)
//! lines start with the syslog priority prefix (`<3>` error … `<7>` debug), which
//! journald turns into the entry's priority; on a terminal they start with the level
//! word instead (`warning: …`). Newlines inside a message become spaces: one event, one
//! line. Lines below the level given to [`init`] are not written (the collector's `-v`
//! means `debug`, the aggregator's `--log-level`/`log_level` names a level).
//!
//! Two ways to keep a recurring failure from filling the journal:
//! - [`RateLimit`], held by the code that logs: one line per period for one failure,
//!   saying how many were suppressed (the collector, which allocates nothing per cycle).
//! - [`log_holding_repeats`]: the same line (same level, same text) is written at most
//!   once per [`REPEAT_PERIOD`]; the next one after the period ends with
//!   `(repeated K times)`. Different lines (another output, another address) are never
//!   held back by it. The aggregator logs through it; it costs a small table of recent
//!   lines (hashes, not text), no allocation per event.
//!
//! Each binary keeps a `log` module with the macros `error!`, `warning!`, `notice!`,
//! `info!` and `debug!` that call its choice of [`log`] or [`log_holding_repeats`].

#![forbid(unsafe_code)]
// `#[inline]` on the functions the collector calls: its build (opt-level "z", fat LTO)
// comes out 64 bytes smaller on armv6 with them than without.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::{self, Write as _};
use std::hash::Hasher;
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Severity of a log line (syslog numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Level {
    /// Something failed and was not done.
    Error = 3,
    /// Something unexpected that the program works around.
    Warning = 4,
    /// Normal but significant (start, stop, reload).
    Notice = 5,
    /// Informational.
    #[default]
    Info = 6,
    /// Detail (the collector's `-v`, the aggregator's `--log-level debug`).
    Debug = 7,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warning,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    /// The word of a terminal line and of `--log-level`.
    #[inline]
    pub fn word(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// Parses a level word (`warn` for `warning` too).
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "warn" => Some(Level::Warning),
            _ => Level::ALL.into_iter().find(|l| l.word() == s),
        }
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);

/// Sets the level (lines of it and more severe are written) and detects journald.
/// Call once at start; before, lines of `info` and more severe are written in the
/// terminal style.
#[inline]
pub fn init(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    JOURNAL.store(
        std::env::var_os("JOURNAL_STREAM").is_some(),
        Ordering::Relaxed,
    );
}

/// True when lines of `level` are written.
#[inline]
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Longest line written, newline included; longer messages are cut and end with `…`.
pub const MAX_LINE: usize = 1024;

/// Room kept after the message for `…`, ` (repeated K times)` and the newline.
const TAIL: usize = "…".len() + " (repeated 18446744073709551615 times)".len() + 1;

/// One event line in a fixed buffer: a `fmt::Write` that cuts instead of failing.
pub struct Line {
    buf: [u8; MAX_LINE],
    len: usize,
    cut: bool,
}

impl fmt::Write for Line {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_LINE - TAIL - self.len;
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

impl Line {
    /// The line as it is written, without the trailing newline.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The line as text (it is UTF-8: it is cut on character boundaries).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Appends ` (repeated K times)`, the count of the same line held back before it.
    pub fn push_repeated(&mut self, repeated: u64) {
        // TAIL keeps the room: this is never cut.
        let mut tail = Tail {
            buf: [0; TAIL],
            len: 0,
        };
        let _ = write!(tail, " (repeated {repeated} times)");
        let end = self.len + tail.len;
        self.buf[self.len..end].copy_from_slice(&tail.buf[..tail.len]);
        self.len = end;
    }

    /// Writes the line and a newline to stderr, in one `write(2)` (stderr is
    /// unbuffered). A failed log write is ignored.
    #[inline]
    pub fn write_to_stderr(mut self) {
        self.buf[self.len] = b'\n';
        let _ = std::io::stderr().write_all(&self.buf[..=self.len]);
    }
}

/// The bytes of ` (repeated K times)`.
struct Tail {
    buf: [u8; TAIL],
    len: usize,
}

impl fmt::Write for Tail {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats one event as it is written (without the trailing newline): the prefix of
/// `level` (`<3>` under journald, `error: ` on a terminal), then the message on one line.
#[inline]
pub fn format_line(level: Level, journal: bool, args: fmt::Arguments<'_>) -> Line {
    let mut line = Line {
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
    line
}

/// Writes one event line to stderr if `level` is enabled.
#[inline]
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    format_line(level, JOURNAL.load(Ordering::Relaxed), args).write_to_stderr();
}

/// The same line is written at most once per this period by [`log_holding_repeats`].
pub const REPEAT_PERIOD: Duration = Duration::from_secs(60);

/// Lines remembered for [`REPEAT_PERIOD`]; past this many, the ones older than the
/// period are forgotten (a flood of distinct lines cannot grow the table without bound
/// for longer than a period).
const REMEMBERED: usize = 4096;

static REPEATS: Mutex<Option<Repeats>> = Mutex::new(None);

/// Writes one event line to stderr if `level` is enabled and the same line was not
/// written within [`REPEAT_PERIOD`]; the first one written after the period says how
/// many were held back (see the crate docs).
pub fn log_holding_repeats(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let mut line = format_line(level, JOURNAL.load(Ordering::Relaxed), args);
    // The prefix names the level: the key is the level and the text.
    let mut h = DefaultHasher::new();
    h.write(line.as_bytes());
    let admitted = {
        let mut repeats = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
        repeats
            .get_or_insert_with(Repeats::default)
            .admit(h.finish(), Instant::now())
    };
    let Some(repeated) = admitted else {
        return;
    };
    if repeated > 0 {
        line.push_repeated(repeated);
    }
    line.write_to_stderr();
}

/// When each recent line was last written, and how many of it were held back since.
#[derive(Default)]
pub struct Repeats {
    last: HashMap<u64, (Instant, u64)>,
}

impl Repeats {
    /// `Some(k)` when a line with this key may be written at `now` (`k` held back since
    /// it last was); `None` when it is a repeat within [`REPEAT_PERIOD`].
    pub fn admit(&mut self, key: u64, now: Instant) -> Option<u64> {
        if self.last.len() >= REMEMBERED {
            self.last
                .retain(|_, (t, _)| now.saturating_duration_since(*t) < REPEAT_PERIOD);
        }
        match self.last.get_mut(&key) {
            Some((t, held)) if now.saturating_duration_since(*t) < REPEAT_PERIOD => {
                *held += 1;
                None
            }
            _ => {
                let held = self.last.insert(key, (now, 0)).map_or(0, |(_, held)| held);
                Some(held)
            }
        }
    }
}

/// Lets one event through per period; counts the ones held back.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pimon_log::RateLimit;
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
    #[inline]
    pub const fn new(period: Duration) -> RateLimit {
        RateLimit {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when an event at `now` may be logged (`n` were suppressed since the
    /// last one logged); `None` when it must be suppressed.
    #[inline]
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

/// Defines the level macros of a binary's `log` module, each calling `$log` (a path to
/// [`log`] or [`log_holding_repeats`]) with its level:
/// `pimon_log::level_macros!($ crate::log::log);` defines `error!`, `warning!`,
/// `notice!`, `info!` and `debug!`, used as `warning!("cannot read {}: {e}", path)`.
/// (The leading `$` is passed in so that the macros it defines can take arguments.)
#[macro_export]
macro_rules! level_macros {
    ($d:tt $log:path) => {
        $crate::level_macros!(@ $d $log;
            error => Error, warning => Warning, notice => Notice, info => Info, debug => Debug);
    };
    (@ $d:tt $log:path; $($name:ident => $level:ident),*) => {$(
        #[allow(unused_macros)]
        macro_rules! $name {
            ($d($d arg:tt)*) => {
                $log($crate::Level::$level, format_args!($d($d arg)*))
            };
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Level, journal: bool, args: fmt::Arguments<'_>) -> String {
        format_line(level, journal, args).as_str().to_string()
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
        let mut l = format_line(Level::Info, false, format_args!("{long}"));
        assert!(l.as_str().ends_with('…'), "{}", l.as_str());
        // Even a cut line has room for the count of repeats and the newline.
        l.push_repeated(u64::MAX);
        assert!(l.as_bytes().len() < MAX_LINE, "{}", l.as_bytes().len());
        assert!(
            l.as_str()
                .ends_with("… (repeated 18446744073709551615 times)")
        );
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

    #[test]
    fn a_repeat_within_the_period_is_held_back_and_counted() {
        let mut r = Repeats::default();
        let t = Instant::now();
        assert_eq!(r.admit(1, t), Some(0));
        for i in 1..=5 {
            assert_eq!(r.admit(1, t + Duration::from_secs(i)), None);
        }
        // Another line is not held back by the first.
        assert_eq!(r.admit(2, t + Duration::from_secs(1)), Some(0));
        assert_eq!(r.admit(1, t + REPEAT_PERIOD), Some(5));
        let mut l = format_line(Level::Warning, false, format_args!("udp receive: EAGAIN"));
        l.push_repeated(5);
        assert_eq!(
            l.as_str(),
            "warning: udp receive: EAGAIN (repeated 5 times)"
        );
        assert_eq!(r.admit(1, t + REPEAT_PERIOD + Duration::from_secs(1)), None);
    }

    #[test]
    fn distinct_lines_past_the_table_size_do_not_grow_it_beyond_a_period() {
        let mut r = Repeats::default();
        let t = Instant::now();
        for k in 0..REMEMBERED as u64 {
            assert_eq!(r.admit(k, t), Some(0));
        }
        assert_eq!(r.admit(u64::MAX, t + REPEAT_PERIOD), Some(0));
        assert_eq!(r.last.len(), 1, "the old entries are forgotten");
    }

    #[test]
    fn level_words_parse_back() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.word()), Some(l));
        }
        assert_eq!(Level::parse("warn"), Some(Level::Warning));
        assert_eq!(Level::parse("loud"), None);
        assert_eq!(Level::default(), Level::Info);
    }

    #[test]
    fn levels_below_the_threshold_are_not_enabled() {
        init(Level::Warning);
        assert!(enabled(Level::Error) && enabled(Level::Warning));
        assert!(!enabled(Level::Notice) && !enabled(Level::Debug));
        init(Level::Debug);
        assert!(enabled(Level::Debug));
    }
}
