//! The key file (`KEY_ID SECRET`) and the key's id and length checks, shared with the
//! config file's `[key]` section.

use std::path::Path;

use pimon_protocol::Key;
use pimon_protocol::auth::MAX_KEY_LEN;

use super::ConfigError;

pub(super) fn parse_key_id(s: &str) -> Result<u8, String> {
    s.parse()
        .map_err(|_| format!("key id {s:?} is not a number from 0 to 255"))
}

pub(super) fn make_key(line: usize, id: u8, secret: &[u8]) -> Result<Key, ConfigError> {
    Key::new(id, secret).ok_or_else(|| {
        ConfigError::at(
            line,
            format!(
                "secret must be 1 to {MAX_KEY_LEN} bytes, is {}",
                secret.len()
            ),
        )
    })
}

/// Parses key file text: one `KEY_ID SECRET` line.
///
/// ```
/// let key = pimon_collector::config::parse_key_file("# pi\n3 hex:00ff\n").unwrap();
/// assert_eq!(key.id(), 3);
/// ```
pub fn parse_key_file(text: &str) -> Result<Key, ConfigError> {
    let mut found: Option<(usize, Key)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, secret] = fields[..] else {
            return Err(ConfigError::at(
                n,
                format!("expected `KEY_ID SECRET`, found {} field(s)", fields.len()),
            ));
        };
        if let Some((first, _)) = found {
            return Err(ConfigError::at(
                n,
                format!("a second key (the first is on line {first}); the collector uses one"),
            ));
        }
        let id = parse_key_id(id).map_err(|p| ConfigError::at(n, p))?;
        let secret =
            decode_secret(secret).map_err(|p| ConfigError::at(n, format!("secret: {p}")))?;
        found = Some((n, make_key(n, id, &secret)?));
    }
    found
        .map(|(_, k)| k)
        .ok_or_else(|| ConfigError::at(0, "no key in the file (expected a `KEY_ID SECRET` line)"))
}

/// Secrets are decoded exactly as the aggregator does it (one implementation, in the
/// protocol crate).
pub use pimon_protocol::auth::decode_secret;

/// Reads and parses a key file.
pub fn load_key_file(path: &Path) -> Result<Key, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::at(0, format!("cannot read: {e}")).in_file(path))?;
    parse_key_file(&text).map_err(|e| e.in_file(path))
}
