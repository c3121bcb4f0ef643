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

/// Verifies the MAC of any pimon datagram with `key`, from the raw bytes: the preamble
/// must flag a MAC made with `key`'s id. Nothing after the preamble is decoded, so a
/// receiver can reject a forged datagram for the price of one MAC (see
/// [`crate::frame::peek_node`] for finding the key).
///
/// ```
/// use pimon_protocol::{Ack, Error, Key, auth::verify};
/// let key = Key::new(3, b"secret").unwrap();
/// let ack = Ack { node: "pi", boot_id: 1, acked_below: 0, seen_below: 0,
///                 gaps: heapless::Vec::new(), key_id: None };
/// let mut buf = [0u8; 64];
/// let n = ack.emit(&mut buf, Some(&key)).unwrap();
/// assert_eq!(verify(&buf[..n], &key), Ok(()));
/// buf[n - 1] ^= 1;
/// assert_eq!(verify(&buf[..n], &key), Err(Error::DecodeBadMac));
/// ```
pub fn verify(datagram: &[u8], key: &Key) -> Result<(), Error> {
    let pre = crate::Preamble::parse(datagram)?;
    if !pre.has_mac() {
        return Err(Error::DecodeMissingMac);
    }
    if datagram.len() < crate::wire::PREAMBLE_LEN + MAC_LEN {
        return Err(Error::DecodeTooShort);
    }
    verify_datagram(datagram, pre.key_id, key)
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

/// Most bytes [`decode_secret`] returns; longer text is refused (keys are 1–32 bytes,
/// the caller checks and names the exact length).
pub const MAX_DECODED_SECRET: usize = 64;

/// Decodes a key file's secret, the same way on every node and on the aggregator:
/// `hex:…`, `base64:…` (RFC 4648, `=` padding optional), or bare — hex when it is an
/// even number of hex digits, otherwise base64.
///
/// ```
/// use pimon_protocol::auth::decode_secret;
/// assert_eq!(decode_secret("hex:6b6579").unwrap().as_slice(), b"key");
/// assert_eq!(decode_secret("a2V5").unwrap().as_slice(), b"key");
/// assert_eq!(decode_secret("base64:a2V5").unwrap().as_slice(), b"key");
/// assert!(decode_secret("hex:6b6").is_err());
/// ```
pub fn decode_secret(s: &str) -> Result<heapless::Vec<u8, MAX_DECODED_SECRET>, &'static str> {
    if let Some(h) = s.strip_prefix("hex:") {
        return decode_hex(h)
            .ok_or("not valid hex (even number of 0-9a-f digits, at most 64 bytes)");
    }
    if let Some(b) = s.strip_prefix("base64:") {
        return decode_base64(b).ok_or("not valid base64 (at most 64 bytes)");
    }
    if let Some(bytes) = decode_hex(s) {
        return Ok(bytes);
    }
    decode_base64(s).ok_or("neither hex nor base64 (use a hex: or base64: prefix)")
}

fn decode_hex(s: &str) -> Option<heapless::Vec<u8, MAX_DECODED_SECRET>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = heapless::Vec::new();
    for pair in s.as_bytes().chunks_exact(2) {
        out.push(digit(pair[0])? << 4 | digit(pair[1])?).ok()?;
    }
    Some(out)
}

fn decode_base64(s: &str) -> Option<heapless::Vec<u8, MAX_DECODED_SECRET>> {
    let s = s.trim_end_matches('=');
    if s.is_empty() || s.len() % 4 == 1 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = heapless::Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = acc << 6 | val(c)?;
        }
        let bits = chunk.len() * 6;
        acc <<= 24 - bits;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(bytes.get(1..1 + bits / 8)?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode_secret;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        for (enc, dec) in [
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ] {
            let got = decode_secret(&alloc_free_concat("base64:", enc));
            assert_eq!(got.unwrap().as_slice(), dec.as_bytes(), "{enc}");
        }
        assert!(decode_secret("base64:Z").is_err());
    }

    #[test]
    fn too_long_a_secret_is_refused_not_truncated() {
        let hex65 = "ab".repeat(65);
        assert!(decode_secret(&hex65).is_err());
        assert_eq!(decode_secret(&"ab".repeat(64)).unwrap().len(), 64);
    }

    fn alloc_free_concat(a: &str, b: &str) -> heapless::String<64> {
        let mut s = heapless::String::new();
        s.push_str(a).unwrap();
        s.push_str(b).unwrap();
        s
    }
}
