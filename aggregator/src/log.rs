//! Logging through the shared logger ([`pimon_log`]: one line per event on stderr,
//! ready for journald, the collector's levels and line format). Lines above the level
//! of `--log-level` (config `log_level`, default `info`) are not written.
//!
//! **Repeats.** The aggregator logs through [`log`], which holds repeats back: the same
//! line (same level, same text) is written at most once per [`REPEAT_PERIOD`]; the next
//! one after the period says how many were held back, `… (repeated K times)`. A failure
//! that recurs every 100 ms (a socket error, an output that cannot write) shows once a
//! minute instead of filling the journal, and different lines (another output, another
//! address) are never held back by it.

pub use pimon_log::{Level, REPEAT_PERIOD, enabled, init};

/// Writes one event line to stderr if `level` is enabled and it is not a repeat held
/// back (see the module docs).
pub fn log(level: Level, args: std::fmt::Arguments<'_>) {
    pimon_log::log_holding_repeats(level, args);
}

pimon_log::level_macros!($ crate::log::log);

#[allow(unused_imports)]
pub(crate) use {debug, error, info, notice, warning};
