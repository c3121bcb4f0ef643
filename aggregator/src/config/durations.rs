//! Duration keys of the config file: one name, one grammar, one older alias.
//!
//! Every duration of the TOML file is a string in the grammar both binaries share
//! ([`pimon_protocol::duration`]: `timeout = "10s"`, `flush_interval = "200ms"`), under
//! a name without a unit, spelled as the collector spells the same idea (`interval`,
//! `timeout`). The aggregator's older integer keys with the unit in the name
//! (`timeout_seconds = 10`, `flush_interval_ms = 200`) stay accepted as aliases, since
//! users have them in their files; giving both is an error naming both, so no file
//! means two things at once.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// What a duration looks like, for errors.
pub(crate) const DURATION_FORM: &str =
    "a duration: a whole number and a unit, ms, s, m or h, like \"500ms\", \"10s\", \"5m\"";

/// A duration key's value as written (a TOML string); parsed by [`duration_key`], so
/// the error names the key.
#[derive(Debug, Clone)]
pub(crate) struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string, {DURATION_FORM}")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<DurationText, E> {
                Ok(DurationText(s.to_owned()))
            }
        }
        d.deserialize_str(Text)
    }
}

/// The unit of an older integer alias.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AliasUnit {
    /// `*_seconds`.
    Seconds,
    /// `*_ms`.
    Millis,
}

/// The value of the duration key `name` (a full key: `http.timeout`), given either as
/// `value` or as the older integer key `alias` (`http.timeout_seconds`); `None` when
/// neither is given. Both at once, or a value outside the grammar, is an error naming
/// the key.
pub(crate) fn duration_key(
    name: &str,
    value: Option<DurationText>,
    alias: &str,
    alias_value: Option<u64>,
    unit: AliasUnit,
) -> Result<Option<Duration>, ConfigError> {
    match (value, alias_value) {
        (Some(_), Some(_)) => Err(ConfigError {
            key: name.to_string(),
            problem: format!("given twice, as {name} and as {alias} (its older name): keep one"),
        }),
        (Some(DurationText(text)), None) => pimon_protocol::duration::parse_duration(&text)
            .map(Some)
            .map_err(|e| ConfigError {
                key: name.to_string(),
                problem: format!("{text:?}: {e}; expected {DURATION_FORM}"),
            }),
        (None, Some(n)) => Ok(Some(match unit {
            AliasUnit::Seconds => Duration::from_secs(n),
            AliasUnit::Millis => Duration::from_millis(n),
        })),
        (None, None) => Ok(None),
    }
}

/// [`duration_key`] for a setting that must not be zero; that error names the key as
/// the file gives it (`http.timeout_seconds = 0` is `http.timeout_seconds`'s fault).
pub(crate) fn positive_duration_key(
    name: &str,
    value: Option<DurationText>,
    alias: &str,
    alias_value: Option<u64>,
    unit: AliasUnit,
) -> Result<Option<Duration>, ConfigError> {
    let given_as = if alias_value.is_some() { alias } else { name };
    match duration_key(name, value, alias, alias_value, unit)? {
        Some(d) if d.is_zero() => Err(ConfigError {
            key: given_as.to_string(),
            problem: "must be greater than 0".to_string(),
        }),
        d => Ok(d),
    }
}

/// Milliseconds of `d`, saturating (the grammar caps at `u64::MAX` ms anyway).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `d` in the grammar, in the largest unit that is exact (`90s`, `5m`, `200ms`), as
/// `--check-config` prints it.
pub(crate) fn duration_text(d: Duration) -> String {
    let ms = millis(d);
    match ms {
        0 => "0s".to_string(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}
