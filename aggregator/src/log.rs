//! Logging: one line per event on stderr, ready for journald — the collector's shape.
//!
//! The same levels and line format as `pimon_collector::log`: under systemd
//! (`JOURNAL_STREAM` set, meaning stderr goes to the journal) a line starts with the
//! syslog priority prefix (`<3>` error … `<7>` debug), which journald turns into the
//! entry's priority; on a terminal it starts with the level word (`warning: …`). Lines
//! above the level of `--log-level` (config `log_level`, default `info`) are not
//! written. Newlines inside a message become spaces: one event, one line.
//!
//! **Repeats.** The same message (same level, same text) is written at most once per
//! [`REPEAT_PERIOD`]; the next one after the period says how many were held back,
//! `… (repeated K times)`. A failure that recurs every 100 ms (a socket error, an
//! output that cannot write) shows once a minute instead of filling the journal, and
//! different messages (another output, another address) are never held back by it.
//! The code is the aggregator's own rather than the collector's: the collector's
//! logger is allocation-free for its budget, this one allocates a line per event.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// Severity of a log line (syslog numbering), the collector's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Level {
    /// Something failed and was not done.
    Error = 3,
    /// Something unexpected that the aggregator works around.
    Warning = 4,
    /// Normal but significant (start, stop, reload).
    Notice = 5,
    /// Informational.
    #[default]
    Info = 6,
    /// Detail.
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

/// The same message is written at most once per this period.
pub const REPEAT_PERIOD: Duration = Duration::from_secs(60);

/// Messages remembered for [`REPEAT_PERIOD`]; past this many, the ones older than the
/// period are forgotten (a flood of distinct messages cannot grow the table without
/// bound for longer than a period).
const REMEMBERED: usize = 4096;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);
static REPEATS: Mutex<Option<Repeats>> = Mutex::new(None);

/// Sets the level and detects journald. Call once at start (before, lines of `info`
/// and more severe are written in the terminal style).
pub fn init(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    JOURNAL.store(
        std::env::var_os("JOURNAL_STREAM").is_some(),
        Ordering::Relaxed,
    );
}

/// True when lines of `level` are written.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Formats one event as it is written, without the trailing newline: the level prefix,
/// the message on one line, and the count of repeats held back before it, if any.
pub fn format_line(level: Level, journal: bool, message: &str, repeated: u64) -> String {
    let mut line = if journal {
        format!("<{}>", level as u8)
    } else {
        format!("{}: ", level.word())
    };
    line.extend(message.chars().map(|c| if c == '\n' { ' ' } else { c }));
    if repeated > 0 {
        line.push_str(&format!(" (repeated {repeated} times)"));
    }
    line
}

/// When each recent message was last written, and how many of it were held back since.
#[derive(Default)]
pub struct Repeats {
    last: HashMap<u64, (Instant, u64)>,
}

impl Repeats {
    /// `Some(k)` when a message with this key may be written at `now` (`k` held back
    /// since it last was); `None` when it is a repeat within [`REPEAT_PERIOD`].
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

fn key(level: Level, message: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (level as u8).hash(&mut h);
    message.hash(&mut h);
    h.finish()
}

/// Writes one event line to stderr if `level` is enabled and it is not a repeat held
/// back (see the module docs).
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let message = args.to_string();
    let admitted = {
        let mut repeats = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
        repeats
            .get_or_insert_with(Repeats::default)
            .admit(key(level, &message), Instant::now())
    };
    let Some(repeated) = admitted else {
        return;
    };
    let mut line = format_line(level, JOURNAL.load(Ordering::Relaxed), &message, repeated);
    line.push('\n');
    // One write(2) per line (stderr is unbuffered): lines of threads never interleave.
    // A failed log write is ignored.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Defines one macro per level, `warning!("cannot read {}: {e}", path)` writing a line
/// of that level (`$d` is a `$`, so the macros it defines can take arguments).
macro_rules! level_macros {
    ($d:tt $($name:ident => $level:ident),*) => {$(
        #[allow(unused_macros)]
        macro_rules! $name {
            ($d($d arg:tt)*) => {
                $crate::log::log($crate::log::Level::$level, format_args!($d($d arg)*))
            };
        }
    )*};
}
level_macros!($ error => Error, warning => Warning, notice => Notice, info => Info, debug => Debug);

#[allow(unused_imports)]
pub(crate) use {debug, error, info, notice, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_prefix_or_level_word_as_the_collector_writes_them() {
        assert_eq!(format_line(Level::Error, true, "x 1", 0), "<3>x 1");
        assert_eq!(format_line(Level::Warning, false, "y", 0), "warning: y");
        assert_eq!(format_line(Level::Debug, true, "z", 0), "<7>z");
        assert_eq!(format_line(Level::Info, false, "a\nb", 0), "info: a b");
    }

    #[test]
    fn a_repeat_within_the_period_is_held_back_and_counted() {
        let mut r = Repeats::default();
        let t = Instant::now();
        assert_eq!(r.admit(1, t), Some(0));
        for i in 1..=5 {
            assert_eq!(r.admit(1, t + Duration::from_secs(i)), None);
        }
        // Another message is not held back by the first.
        assert_eq!(r.admit(2, t + Duration::from_secs(1)), Some(0));
        assert_eq!(r.admit(1, t + REPEAT_PERIOD), Some(5));
        assert_eq!(
            format_line(Level::Warning, false, "udp receive: EAGAIN", 5),
            "warning: udp receive: EAGAIN (repeated 5 times)"
        );
        assert_eq!(r.admit(1, t + REPEAT_PERIOD + Duration::from_secs(1)), None);
    }

    #[test]
    fn distinct_messages_past_the_table_size_do_not_grow_it_beyond_a_period() {
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
}
