//! Logging through the shared logger ([`pimon_log`]: one line per event on stderr,
//! ready for journald, formatted in a stack buffer and written with one `write(2)`).
//! The collector writes every line it is asked to ([`log`]: nothing allocated, its
//! budget) and keeps recurring failures down with a [`RateLimit`] where they recur.
//! Debug lines are printed only with `-v`.

pub use pimon_log::{Level, MAX_LINE, RateLimit, enabled, format_line, log};

/// Sets verbosity (`-v`: debug lines too) and detects journald. Call once at start.
pub fn init(verbose: bool) {
    pimon_log::init(if verbose { Level::Debug } else { Level::Info });
}

pimon_log::level_macros!($ crate::log::log);

#[allow(unused_imports)]
pub(crate) use {debug, error, info, notice, warning};
