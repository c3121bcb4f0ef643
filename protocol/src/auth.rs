//! Frame authentication: a 16-byte keyed BLAKE2s MAC over every byte before it.
//!
//! The MAC is BLAKE2s in keyed mode (RFC 7693 §2.5) with a 16-byte output, computed
//! over the whole datagram up to the MAC. Verification compares in constant time.

use crate::Error;
use blake2::Blake2sMac;
use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, KeyInit, Mac, Update};

/// Length of the MAC trailer in bytes.
pub const MAC_LEN: usize = 16;
/// Longest key BLAKE2s accepts.
pub const MAX_KEY_LEN: usize = 32;

type Blake2sMac128 = Blake2sMac<U16>;

/// A shared secret with the id that travels in the preamble (so keys can rotate).
#[derive(Clone)]
pub struct Key {
    id: u8,
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Key {{ id: {}, len: {}, bytes: <redacted> }}",
            self.id, self.len
        )
    }
}

impl Key {
    /// A key from 1 to 32 secret bytes. Returns `None` for an empty or longer key.
    ///
    /// ```
    /// let key = pimon_protocol::Key::new(1, b"correct horse battery staple").unwrap();
    /// assert_eq!(key.id(), 1);
    /// assert!(pimon_protocol::Key::new(1, b"").is_none());
    /// ```
    pub fn new(id: u8, secret: &[u8]) -> Option<Key> {
        if secret.is_empty() || secret.len() > MAX_KEY_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_LEN];
        bytes[..secret.len()].copy_from_slice(secret);
        Some(Key {
            id,
            len: secret.len() as u8,
            bytes,
        })
    }

    /// The key id written into the preamble.
    pub fn id(&self) -> u8 {
        self.id
    }

    fn secret(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn mac(&self) -> Blake2sMac128 {
        // A 1..=32 byte key is always accepted by keyed BLAKE2s.
        match <Blake2sMac128 as KeyInit>::new_from_slice(self.secret()) {
            Ok(m) => m,
            Err(_) => unreachable_key(),
        }
    }

    /// The 16-byte MAC of `data`.
    ///
    /// ```
    /// let key = pimon_protocol::Key::new(7, b"k").unwrap();
    /// assert_eq!(key.compute(b"abc").len(), 16);
    /// ```
    pub fn compute(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let mut m = self.mac();
        Update::update(&mut m, data);
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&m.finalize_fixed());
        out
    }

    /// Checks `tag` against the MAC of `data` in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> Result<(), Error> {
        let mut m = self.mac();
        Update::update(&mut m, data);
        m.verify_slice(tag).map_err(|_| Error::DecodeBadMac)
    }
}

#[cold]
fn unreachable_key() -> ! {
    // Key::new guarantees 1..=32 bytes, which BLAKE2s always accepts.
    unreachable!("BLAKE2s rejected a key of 1..=32 bytes")
}

/// Splits a datagram into (authenticated bytes, MAC) and verifies it with `key`.
pub(crate) fn verify_datagram(datagram: &[u8], key_id: u8, key: &Key) -> Result<(), Error> {
    if key.id() != key_id {
        return Err(Error::DecodeWrongKeyId(key_id));
    }
    let split = datagram
        .len()
        .checked_sub(MAC_LEN)
        .ok_or(Error::DecodeTooShort)?;
    let (data, tag) = datagram.split_at(split);
    key.verify(data, tag)
}
