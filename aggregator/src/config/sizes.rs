//! Byte-size keys of the config file: a number of bytes, or a string in the size
//! grammar both binaries share ([`pimon_protocol::size`]: `spool_max_bytes = "256M"`,
//! as the collector's `ring_bytes = 64K`). The names keep `_bytes`, as the collector's.

use std::fmt;

use serde::Deserialize;

use super::ConfigError;

/// What a size looks like, for errors.
pub(crate) const SIZE_FORM: &str =
    "a number of bytes, or a string with a K or M suffix (x 1024) like \"512K\", \"256M\"";

/// A size key's value as written: a TOML integer or string; read by [`size_key`], so
/// the error names the key.
#[derive(Debug, Clone)]
pub(crate) enum SizeText {
    /// `4194304`.
    Bytes(u64),
    /// `"4M"`.
    Text(String),
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Size;
        impl serde::de::Visitor<'_> for Size {
            type Value = SizeText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(SIZE_FORM)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<SizeText, E> {
                Ok(SizeText::Bytes(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SizeText, E> {
                u64::try_from(n)
                    .map(SizeText::Bytes)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SizeText, E> {
                Ok(SizeText::Text(s.to_owned()))
            }
        }
        d.deserialize_any(Size)
    }
}

/// The value of the size key `name` in bytes; `None` when not given.
pub(crate) fn size_key(name: &str, value: Option<SizeText>) -> Result<Option<u64>, ConfigError> {
    match value {
        None => Ok(None),
        Some(SizeText::Bytes(n)) => Ok(Some(n)),
        Some(SizeText::Text(text)) => parse_size(name, &text).map(Some),
    }
}

/// A size flag's or key's text in the grammar, the error naming `key`.
pub(crate) fn parse_size(key: &str, text: &str) -> Result<u64, ConfigError> {
    pimon_protocol::size::parse_size(text).map_err(|e| ConfigError {
        key: key.to_string(),
        problem: format!("{text:?}: {e}; expected {SIZE_FORM}"),
    })
}

/// `n` as a `usize`, saturating (sizes past the address space mean "as much as there is").
pub(crate) fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
