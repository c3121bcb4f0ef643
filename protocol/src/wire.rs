//! Low-level pieces shared by every message: the 16-byte preamble and a bounded writer.
//!
//! ```text
//! offset  size  field
//! 0       2     magic "PM" (0x50 0x4D)
//! 2       1     version: major << 4 | minor (1.0 = 0x10)
//! 3       1     kind (0x01 data, 0x02 ack, 0x03 refusal and 0x04 probe: protocol 1.2)
//! 4       1     flags (bit 0: MAC present; bit 2: resync, protocol 1.1)
//! 5       1     key id (0 when no MAC)
//! 6       1     part index (data; 0 in acks)
//! 7       1     part count (data; 0 in acks)
//! 8       8     boot id, u64 little-endian
//! ```
//! All later fields are postcard-encoded (LEB128 varints, zigzag for signed, strings as
//! varint length + UTF-8 bytes). Nothing here panics on any input.

use crate::Error;
use serde::{Deserialize, Serialize};

/// The two magic bytes that start every pimon datagram: `PM`.
pub const MAGIC: [u8; 2] = *b"PM";
/// Major protocol version this build speaks.
pub const VERSION_MAJOR: u8 = 1;
/// Minor protocol version this build writes.
pub const VERSION_MINOR: u8 = 0;
/// Length of the fixed preamble.
pub const PREAMBLE_LEN: usize = 16;
/// Byte offset of the part count in the preamble (patched by [`crate::seal`]).
pub(crate) const PART_COUNT_OFFSET: usize = 7;

/// Message kind (byte 3 of the preamble). Unknown kinds are kept, not rejected, so a
/// reader can say what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Collector → aggregator: samples.
    Data,
    /// Aggregator → collector: what is stored and what is missing.
    Ack,
    /// Aggregator → collector (1.2): why a datagram was refused, unauthenticated.
    Refusal,
    /// Collector → aggregator (1.2): an empty data frame that asks "would you take my
    /// frames?" without being stored.
    Probe,
    /// A kind this build does not know.
    Unknown(u8),
}

impl From<u8> for Kind {
    fn from(raw: u8) -> Self {
        match raw {
            0x01 => Kind::Data,
            0x02 => Kind::Ack,
            0x03 => Kind::Refusal,
            0x04 => Kind::Probe,
            other => Kind::Unknown(other),
        }
    }
}

impl From<Kind> for u8 {
    fn from(kind: Kind) -> u8 {
        match kind {
            Kind::Data => 0x01,
            Kind::Ack => 0x02,
            Kind::Refusal => 0x03,
            Kind::Probe => 0x04,
            Kind::Unknown(raw) => raw,
        }
    }
}

/// Flag bit 0: the datagram ends with a 16-byte MAC.
pub const FLAG_MAC: u8 = 0x01;
/// Flag bit 1: reserved for encryption; a 1.x reader that sees it rejects the datagram.
pub const FLAG_ENCRYPTED: u8 = 0x02;
/// Flag bit 2 (protocol 1.1, data frames): *resync*. The collector got an ack for its
/// node and boot id that speaks of sequence numbers it never sent, so the receiver's
/// window for this boot is wrong; this frame (a new cycle, never a resend) asks the
/// receiver to rebuild it from the frame's resend floor. A 1.0 reader ignores the bit.
/// See docs/PROTOCOL.md, section 6.4.
pub const FLAG_RESYNC: u8 = 0x04;
/// Minor version of a frame that uses [`FLAG_RESYNC`] (writers write the lowest version
/// that has every feature they use).
pub const VERSION_MINOR_RESYNC: u8 = 1;
/// Minor version of refusals and probes (kinds 0x03 and 0x04; docs/PROTOCOL.md,
/// sections 5.1 and 5.2). A 1.0 or 1.1 reader rejects them as an unknown kind.
pub const VERSION_MINOR_PROBE: u8 = 2;
/// Minor version of a data frame with a group of more than [`LEGACY_MAX_LABELS`] labels
/// (docs/PROTOCOL.md, section 9): a 1.2 reader refuses such a group as a bad group.
pub const VERSION_MINOR_WIDE_LABELS: u8 = 3;
/// Most labels a group had before protocol 1.3.
pub const LEGACY_MAX_LABELS: usize = 4;
/// Flag bits a 1.0 reader must understand; any other set bit is ignored.
const FLAGS_MUST_UNDERSTAND: u8 = FLAG_ENCRYPTED;

/// The parsed preamble of any datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// Minor version of the writer (major is always [`VERSION_MAJOR`] once parsed).
    pub minor: u8,
    /// Message kind.
    pub kind: Kind,
    /// Flag byte as sent.
    pub flags: u8,
    /// Key id of the MAC (0 without MAC).
    pub key_id: u8,
    /// Part index (data frames).
    pub part: u8,
    /// Part count (data frames).
    pub parts: u8,
    /// Random id chosen by the collector at every start.
    pub boot_id: u64,
}

impl Preamble {
    /// Parses and checks the preamble of `bytes` (magic, major version, flags).
    pub fn parse(bytes: &[u8]) -> Result<Preamble, Error> {
        let p: &[u8; PREAMBLE_LEN] = bytes
            .get(..PREAMBLE_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(if bytes.len() >= 2 && bytes[..2] != MAGIC {
                Error::DecodeBadMagic
            } else {
                Error::DecodeTooShort
            })?;
        if p[0..2] != MAGIC {
            return Err(Error::DecodeBadMagic);
        }
        if p[2] >> 4 != VERSION_MAJOR {
            return Err(Error::DecodeUnsupportedVersion(p[2]));
        }
        if p[4] & FLAGS_MUST_UNDERSTAND != 0 {
            return Err(Error::DecodeUnsupportedFlags(p[4]));
        }
        let mut boot = [0u8; 8];
        boot.copy_from_slice(&p[8..16]);
        Ok(Preamble {
            minor: p[2] & 0x0f,
            kind: Kind::from(p[3]),
            flags: p[4],
            key_id: p[5],
            part: p[6],
            parts: p[7],
            boot_id: u64::from_le_bytes(boot),
        })
    }

    /// True when the datagram carries a MAC.
    pub fn has_mac(&self) -> bool {
        self.flags & FLAG_MAC != 0
    }

    /// Writes the preamble (version 1.`minor`) into the first 16 bytes of `out`.
    pub(crate) fn emit(&self, out: &mut [u8]) -> Result<(), Error> {
        let p = out.get_mut(..PREAMBLE_LEN).ok_or(Error::EncodeBufferFull)?;
        p[0..2].copy_from_slice(&MAGIC);
        p[2] = (VERSION_MAJOR << 4) | (self.minor & 0x0f);
        p[3] = self.kind.into();
        p[4] = self.flags;
        p[5] = self.key_id;
        p[6] = self.part;
        p[7] = self.parts;
        p[8..16].copy_from_slice(&self.boot_id.to_le_bytes());
        Ok(())
    }
}

/// A writer that appends postcard-encoded values to a caller's buffer, never past `limit`.
pub(crate) struct Out<'b> {
    pub(crate) buf: &'b mut [u8],
    pub(crate) len: usize,
    pub(crate) limit: usize,
}

impl<'b> Out<'b> {
    pub(crate) fn new(buf: &'b mut [u8], start: usize, limit: usize) -> Self {
        let limit = limit.min(buf.len());
        Out {
            buf,
            len: start,
            limit,
        }
    }

    /// Appends one postcard-encoded value; on `EncodeBufferFull` nothing is written.
    pub(crate) fn put<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let room = self
            .buf
            .get_mut(self.len..self.limit)
            .ok_or(Error::EncodeBufferFull)?;
        let used = postcard::to_slice(value, room)
            .map_err(|_| Error::EncodeBufferFull)?
            .len();
        self.len += used;
        Ok(())
    }

    pub(crate) fn put_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(Error::EncodeBufferFull)?;
        if end > self.limit {
            return Err(Error::EncodeBufferFull);
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(Error::EncodeBufferFull)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Takes one postcard-encoded value off the front of `input`.
pub(crate) fn take<'a, T: Deserialize<'a>>(input: &mut &'a [u8]) -> Result<T, Error> {
    let (value, rest) = postcard::take_from_bytes(input).map_err(crate::error::from_postcard)?;
    *input = rest;
    Ok(value)
}

/// Takes one LEB128 varint off the front of `input` exactly as postcard decodes an
/// integer of `max` varint bytes whose last byte may hold at most `last_max` (`u64`: 10
/// and 1, `u32`: 5 and 15): overlong forms are accepted, a varint longer than `max` or
/// with too large a last byte is [`Error::DecodeBadVarint`], one cut short
/// [`Error::DecodeTooShort`]. Written out for the per-sample fields of a frame, where
/// postcard's generic path costs several times more (this module's tests check it
/// against postcard on any bytes).
#[inline(always)]
fn take_varint(input: &mut &[u8], max: u32, last_max: u8) -> Result<u64, Error> {
    // Most fields of a frame are one byte.
    if let Some((&b, rest)) = input.split_first()
        && b < 0x80
    {
        *input = rest;
        return Ok(u64::from(b));
    }
    let mut out = 0u64;
    for i in 0..max {
        let Some((&b, rest)) = input.split_first() else {
            return Err(Error::DecodeTooShort);
        };
        *input = rest;
        out |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i == max - 1 && b > last_max {
                return Err(Error::DecodeBadVarint);
            }
            return Ok(out);
        }
    }
    Err(Error::DecodeBadVarint)
}

/// A varint `u64` (see [`take_varint`]).
#[inline]
pub(crate) fn take_u64(input: &mut &[u8]) -> Result<u64, Error> {
    take_varint(input, 10, 1)
}

/// A varint `u32` (see [`take_varint`]).
#[inline]
pub(crate) fn take_u32(input: &mut &[u8]) -> Result<u32, Error> {
    // At most 5 bytes, the last holding at most 4 bits: it fits.
    take_varint(input, 5, 15).map(|v| v as u32)
}

/// A zigzag varint `i64`, as postcard writes it.
#[inline]
pub(crate) fn take_i64(input: &mut &[u8]) -> Result<i64, Error> {
    let n = take_u64(input)?;
    Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
}

/// A varint `usize` as postcard reads one on this target (a string's length).
#[inline]
pub(crate) fn take_usize(input: &mut &[u8]) -> Result<usize, Error> {
    #[cfg(target_pointer_width = "64")]
    let n = take_u64(input).map(|v| v as usize);
    #[cfg(target_pointer_width = "32")]
    let n = take_u32(input).map(|v| v as usize);
    #[cfg(target_pointer_width = "16")]
    let n = take_varint(input, 3, 3).map(|v| v as usize);
    n
}

/// A string: varint length, then UTF-8 bytes (postcard's `&str`, the same errors).
#[inline]
pub(crate) fn take_str<'a>(input: &mut &'a [u8]) -> Result<&'a str, Error> {
    let len = take_usize(input)?;
    let bytes = take_bytes(input, len)?;
    core::str::from_utf8(bytes).map_err(|_| Error::DecodeBadUtf8)
}

/// Takes `n` raw bytes off the front of `input`.
pub(crate) fn take_bytes<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
    if input.len() < n {
        return Err(Error::DecodeTooShort);
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// Ours and postcard's (through [`take`]) on the same bytes: the same value and the
    /// same rest, or the same error.
    fn same<'a, T>(bytes: &'a [u8], ours: fn(&mut &'a [u8]) -> Result<T, Error>)
    where
        T: Deserialize<'a> + PartialEq + core::fmt::Debug,
    {
        let (mut a, mut b) = (bytes, bytes);
        match (ours(&mut a), take::<T>(&mut b)) {
            (Ok(x), Ok(y)) => {
                assert_eq!(x, y, "{bytes:02x?}");
                assert_eq!(a, b, "{bytes:02x?}");
            }
            (Err(x), Err(y)) => assert_eq!(x, y, "{bytes:02x?}"),
            (x, y) => panic!("ours {x:?}, postcard {y:?}: {bytes:02x?}"),
        }
    }

    fn all(bytes: &[u8]) {
        same::<u64>(bytes, take_u64);
        same::<u32>(bytes, take_u32);
        same::<i64>(bytes, take_i64);
        same::<usize>(bytes, take_usize);
        same::<&str>(bytes, take_str);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn varints_and_strings_decode_as_postcard_does(
            bytes in prop::collection::vec(
                prop_oneof![0x80u8..=0xff, any::<u8>(), 0u8..=2, 0x0eu8..=0x11],
                0..14,
            )
        ) {
            all(&bytes);
        }

        #[test]
        fn encoded_integers_decode_as_postcard_does(v in any::<u64>(), i in any::<i64>()) {
            let mut buf = [0u8; 16];
            let n = postcard::to_slice(&v, &mut buf).unwrap().len();
            all(&buf[..n]);
            let n = postcard::to_slice(&i, &mut buf).unwrap().len();
            all(&buf[..n]);
        }
    }

    #[test]
    fn varint_edges_decode_as_postcard_does() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0x80], vec![0x80, 0x00], vec![0xff; 11]];
        for len in 1..=11 {
            for last in [0x00, 0x01, 0x02, 0x0f, 0x10, 0x7f, 0x80] {
                let mut v = vec![0xffu8; len - 1];
                v.push(last);
                cases.push(v.clone());
                v.push(0x00);
                cases.push(v);
            }
        }
        cases.push(vec![0x02, 0xc3, 0x28]);
        cases.push(vec![0x03, b'a', b'b']);
        for c in &cases {
            all(c);
        }
    }
}
