//! The key file: which shared secret authenticates which node.
//!
//! Like collectd's `AuthFile`, one entry per line:
//!
//! ```text
//! # node      key id   secret (1..=32 bytes)
//! pi-kitchen  1        hex:6b6974636865e2809973656372657421
//! pi-garage   1        base64:Z2FyYWdlIHNlY3JldA==
//! pi-garage   2        0123456789abcdef0123456789abcdef   # bare: hex if it is even-length hex, else base64
//! *           1        hex:000102030405060708090a0b0c0d0e0f
//! ```
//!
//! - A node may have several keys (different key ids), so keys can rotate: add the new
//!   key under a new id, switch the collectors, then remove the old line.
//! - `*` is the default for nodes that have no line of their own. A node that has lines
//!   uses only its own keys.
//! - `#` starts a comment; blank lines are ignored.
//! - Errors name the line and the problem; a file with any error is refused as a whole
//!   (on reload the previous keys stay in force).
//!
//! The aggregator re-reads the file when its modification time or size changes (checked
//! every few seconds) and on SIGHUP.

use pimon_protocol::auth::decode_secret;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pimon_protocol::Key;
use pimon_protocol::auth::MAX_KEY_LEN;

/// All keys of the key file.
#[derive(Debug, Default, Clone)]
pub struct KeyRing {
    nodes: HashMap<Box<str>, Vec<Key>>,
    default: Vec<Key>,
}

/// A problem in the key file: the line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileError {
    /// File name, when read from a file.
    pub path: Option<PathBuf>,
    /// 1-based line number (0: the file itself, e.g. unreadable).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}:", p.display())?;
        }
        if self.line > 0 {
            write!(f, "{}: ", self.line)?;
        } else if self.path.is_some() {
            f.write_str(" ")?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for KeyFileError {}

impl KeyRing {
    /// Parses the text of a key file.
    ///
    /// ```
    /// let ring = pimon_aggregator::keys::KeyRing::parse("pi 1 hex:0011\n* 2 hex:ff\n").unwrap();
    /// assert_eq!(ring.keys_for("pi").unwrap()[0].id(), 1);
    /// assert_eq!(ring.keys_for("other").unwrap()[0].id(), 2);
    /// ```
    pub fn parse(text: &str) -> Result<KeyRing, KeyFileError> {
        let mut ring = KeyRing::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |problem: String| KeyFileError {
                path: None,
                line: line_no,
                problem,
            };
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [node, id, secret] = fields[..] else {
                return Err(err(format!(
                    "expected `node key_id secret`, found {} field(s)",
                    fields.len()
                )));
            };
            if node != "*" && (node.len() > pimon_protocol::MAX_NODE_NAME) {
                return Err(err(format!("node name {node:?} is longer than 32 bytes")));
            }
            let id: u8 = id
                .parse()
                .map_err(|_| err(format!("key id {id:?} is not a number from 0 to 255")))?;
            let bytes = decode_secret(secret).map_err(|p| err(format!("secret: {p}")))?;
            let key = Key::new(id, &bytes).ok_or_else(|| {
                err(format!(
                    "secret must be 1 to {MAX_KEY_LEN} bytes, is {}",
                    bytes.len()
                ))
            })?;
            let list = if node == "*" {
                &mut ring.default
            } else {
                ring.nodes.entry(node.into()).or_default()
            };
            if list.iter().any(|k| k.id() == id) {
                return Err(err(format!("node {node:?} has key id {id} twice")));
            }
            list.push(key);
        }
        Ok(ring)
    }

    /// Reads and parses a key file.
    pub fn load(path: &Path) -> Result<KeyRing, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyFileError {
            path: Some(path.to_path_buf()),
            line: 0,
            problem: format!("cannot read: {e}"),
        })?;
        KeyRing::parse(&text).map_err(|e| KeyFileError {
            path: Some(path.to_path_buf()),
            ..e
        })
    }

    /// The keys that may authenticate `node`: its own lines, or the `*` default. `None`
    /// when neither exists.
    pub fn keys_for(&self, node: &str) -> Option<&[Key]> {
        match self.nodes.get(node) {
            Some(keys) => Some(keys),
            None if !self.default.is_empty() => Some(&self.default),
            None => None,
        }
    }

    /// True when `node` has its own line(s) (not just the `*` default).
    pub fn is_listed(&self, node: &str) -> bool {
        self.nodes.contains_key(node)
    }

    /// Number of named nodes (the `*` default not counted).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// A key file and what was last loaded from it: reload when it changed.
#[derive(Debug)]
pub struct KeyFile {
    path: PathBuf,
    stamp: Option<(SystemTime, u64)>,
}

impl KeyFile {
    /// Watches `path` (nothing read yet).
    pub fn new(path: PathBuf) -> KeyFile {
        KeyFile { path, stamp: None }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn current_stamp(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }

    /// Loads the file unconditionally (start-up, SIGHUP).
    pub fn load(&mut self) -> Result<KeyRing, KeyFileError> {
        let stamp = self.current_stamp();
        let ring = KeyRing::load(&self.path)?;
        self.stamp = stamp;
        Ok(ring)
    }

    /// Loads the file if its modification time or size changed since the last load;
    /// `None` when unchanged.
    pub fn reload_if_changed(&mut self) -> Option<Result<KeyRing, KeyFileError>> {
        let stamp = self.current_stamp();
        if stamp.is_some() && stamp == self.stamp {
            return None;
        }
        match KeyRing::load(&self.path) {
            Ok(ring) => {
                self.stamp = stamp;
                Some(Ok(ring))
            }
            Err(e) => {
                // Report a broken file once per change, not on every poll.
                self.stamp = stamp;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_base64_default_and_comments() {
        let ring = KeyRing::parse(
            "# comment\n\npi 1 hex:00ff  # trailing\npi 2 base64:AAE=\n* 7 6b6579\n",
        )
        .unwrap();
        let pi = ring.keys_for("pi").unwrap();
        assert_eq!(pi.len(), 2);
        assert_eq!(pi[1].id(), 2);
        assert!(ring.is_listed("pi"));
        assert!(!ring.is_listed("other"));
        assert_eq!(ring.keys_for("other").unwrap()[0].id(), 7);
        // The MAC made with the decoded secret matches one made with the raw bytes.
        let raw = Key::new(1, &[0x00, 0xff]).unwrap();
        assert_eq!(pi[0].compute(b"x"), raw.compute(b"x"));
        let raw = Key::new(2, &[0x00, 0x01]).unwrap();
        assert_eq!(pi[1].compute(b"x"), raw.compute(b"x"));
        let raw = Key::new(7, b"key").unwrap();
        assert_eq!(
            ring.keys_for("zz").unwrap()[0].compute(b"x"),
            raw.compute(b"x")
        );
    }

    #[test]
    fn no_default_means_no_keys_for_unlisted() {
        let ring = KeyRing::parse("pi 1 hex:01\n").unwrap();
        assert!(ring.keys_for("other").is_none());
    }

    #[test]
    fn errors_name_line_and_problem() {
        let e = KeyRing::parse("pi 1 hex:01\npi x hex:01\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.problem.contains("key id"), "{e}");
        let e = KeyRing::parse("pi 1\n").unwrap_err();
        assert_eq!(
            (e.line, e.problem.as_str()),
            (1, "expected `node key_id secret`, found 2 field(s)")
        );
        let e = KeyRing::parse("pi 1 hex:0\n").unwrap_err();
        assert!(e.problem.starts_with("secret: not valid hex"), "{e}");
        let long = "ab".repeat(33);
        let e = KeyRing::parse(&format!("pi 1 hex:{long}\n")).unwrap_err();
        assert_eq!(e.problem, "secret must be 1 to 32 bytes, is 33");
        let e = KeyRing::parse("pi 1 hex:01\npi 1 hex:02\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = KeyRing::parse("pi 1 base64:!!!!\n").unwrap_err();
        assert!(e.problem.contains("base64"), "{e}");
    }

    #[test]
    fn key_file_reloads_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "pi 1 hex:01\n").unwrap();
        let mut kf = KeyFile::new(path.clone());
        assert!(kf.load().is_ok());
        assert!(kf.reload_if_changed().is_none());
        std::fs::write(&path, "pi 1 hex:01\npi 2 hex:0203\n").unwrap();
        let ring = kf.reload_if_changed().unwrap().unwrap();
        assert_eq!(ring.keys_for("pi").unwrap().len(), 2);
        std::fs::write(&path, "broken line\n").unwrap();
        assert!(kf.reload_if_changed().unwrap().is_err());
        assert!(kf.reload_if_changed().is_none());
    }
}
