//! Acks and refusals: aggregator → collector.
//!
//! An [`Ack`] (kind 0x02) says what is stored; a [`Refusal`] (kind 0x03, protocol 1.2)
//! says why a datagram was *not* taken, so a collector with the wrong key can log the
//! cause instead of staying silent.
//!
//! ```text
//! preamble (16 bytes, kind 0x02, part index and count 0, boot id of the acked node)
//! body     node: str, acked_below: varint u64, seen_below: varint u64,
//!          gap_count: varint (0..=16), gaps × gap_count: start: varint u64, len: varint u64
//! mac      16 bytes when flag bit 0 is set
//! ```
//! Meaning: every sequence number below `acked_below` is stored (or given up: the
//! collector said via `resend_floor` it no longer holds it). In `acked_below..seen_below`
//! everything is stored except the listed gaps, which the aggregator still wants. Numbers
//! from `seen_below` up have not been seen. Gaps ascend, do not overlap and lie below
//! `seen_below`.

use crate::wire::{self, Kind, Out, PREAMBLE_LEN, Preamble, VERSION_MINOR_PROBE};
use crate::{Error, FLAG_MAC, Key, MAC_LEN, MAX_DATAGRAM};
use serde::{Deserialize, Serialize};

/// Most gap ranges one ack carries.
pub const MAX_GAPS: usize = 16;

/// A run of missing sequence numbers: `start..start + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// First missing sequence number.
    pub start: u64,
    /// How many are missing (at least 1).
    pub len: u64,
}

impl Gap {
    /// True when `seq` lies in this gap.
    pub fn contains(&self, seq: u64) -> bool {
        seq >= self.start && seq - self.start < self.len
    }
}

/// An acknowledgement, parsed or to be emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack<'a> {
    /// Node the ack is for.
    pub node: &'a str,
    /// Boot id the sequence numbers belong to.
    pub boot_id: u64,
    /// Everything below this is stored.
    pub acked_below: u64,
    /// One past the highest sequence number this ack speaks for.
    pub seen_below: u64,
    /// Missing runs within `acked_below..seen_below`.
    pub gaps: heapless::Vec<Gap, MAX_GAPS>,
    /// Key id of the MAC (`None`: unauthenticated). Set by `parse`; ignored by `emit`,
    /// which uses the key it is given.
    pub key_id: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct AckFields<'a> {
    #[serde(borrow)]
    node: &'a str,
    acked_below: u64,
    seen_below: u64,
    gaps: heapless::Vec<Gap, MAX_GAPS>,
}

impl<'a> Ack<'a> {
    /// Encoded length of this ack with or without a MAC.
    pub fn buffer_len(&self, keyed: bool) -> usize {
        let mut scratch = [0u8; MAX_DATAGRAM];
        self.emit(&mut scratch, None).unwrap_or(0) + if keyed { MAC_LEN } else { 0 }
    }

    /// Writes the ack into `buf`, with a MAC when `key` is given; returns its length.
    ///
    /// ```
    /// use pimon_protocol::{Ack, Gap};
    /// let mut gaps = heapless::Vec::new();
    /// gaps.push(Gap { start: 7, len: 2 }).unwrap();
    /// let ack = Ack { node: "pi", boot_id: 1, acked_below: 5, seen_below: 10, gaps, key_id: None };
    /// let mut buf = [0u8; 64];
    /// let n = ack.emit(&mut buf, None).unwrap();
    /// assert_eq!(&buf[..n], &[
    ///     b'P', b'M', 0x10, 0x02, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ///     2, b'p', b'i', 5, 10, 1, 7, 2,
    /// ][..]);
    /// assert_eq!(Ack::parse(&buf[..n]).unwrap(), ack);
    /// ```
    pub fn emit(&self, buf: &mut [u8], key: Option<&Key>) -> Result<usize, Error> {
        if crate::node_name_error(self.node).is_some() {
            return Err(Error::EncodeBadNodeName);
        }
        if !gaps_valid(&self.gaps, self.acked_below, self.seen_below) {
            return Err(Error::EncodeBadGaps);
        }
        let (flags, key_id, mac) = match key {
            Some(k) => (FLAG_MAC, k.id(), MAC_LEN),
            None => (0, 0, 0),
        };
        Preamble {
            minor: wire::VERSION_MINOR,
            kind: Kind::Ack,
            flags,
            key_id,
            part: 0,
            parts: 0,
            boot_id: self.boot_id,
        }
        .emit(buf)?;
        let mut out = Out::new(buf, PREAMBLE_LEN, MAX_DATAGRAM - mac);
        out.put(&AckFields {
            node: self.node,
            acked_below: self.acked_below,
            seen_below: self.seen_below,
            gaps: self.gaps.clone(),
        })?;
        let len = out.len;
        match key {
            Some(k) => {
                let end = len + MAC_LEN;
                let tag = k.compute(buf.get(..len).ok_or(Error::EncodeBufferFull)?);
                buf.get_mut(len..end)
                    .ok_or(Error::EncodeBufferFull)?
                    .copy_from_slice(&tag);
                Ok(end)
            }
            None => Ok(len),
        }
    }

    /// Writes the ack like [`emit`](Self::emit), in at most `max_len` bytes (MAC
    /// included): when it does not fit, gaps are left out from the last one and
    /// `seen_below` is lowered to the start of the first gap left out, so the ack stays
    /// exact — it says less, never something false. Returns the length written, or
    /// [`Error::EncodeBufferFull`] when not even the ack without gaps fits.
    ///
    /// A receiver answers an unauthenticated datagram with at most as many bytes as it
    /// got, so acks cannot amplify a flood sent with a forged source address.
    ///
    /// ```
    /// use pimon_protocol::{Ack, Gap};
    /// let mut gaps = heapless::Vec::new();
    /// gaps.push(Gap { start: 7, len: 2 }).unwrap();
    /// gaps.push(Gap { start: 10, len: 1 }).unwrap();
    /// let ack = Ack { node: "pi", boot_id: 1, acked_below: 5, seen_below: 12, gaps, key_id: None };
    /// let mut buf = [0u8; 64];
    /// let full = ack.emit(&mut buf, None).unwrap();
    /// let n = ack.emit_within(&mut buf, None, full - 1).unwrap();
    /// let short = Ack::parse(&buf[..n]).unwrap();
    /// assert_eq!((short.seen_below, short.gaps.len()), (10, 1));
    /// ```
    pub fn emit_within(
        &self,
        buf: &mut [u8],
        key: Option<&Key>,
        max_len: usize,
    ) -> Result<usize, Error> {
        let n = self.emit(buf, key)?;
        if n <= max_len {
            return Ok(n);
        }
        let mut ack = self.clone();
        loop {
            match ack.gaps.pop() {
                Some(g) => ack.seen_below = g.start,
                None if ack.seen_below > ack.acked_below => ack.seen_below = ack.acked_below,
                None => return Err(Error::EncodeBufferFull),
            }
            if ack.buffer_len(key.is_some()) <= max_len {
                return ack.emit(buf, key);
            }
        }
    }

    /// Parses an ack (not its MAC: see [`Ack::verify`]).
    pub fn parse(datagram: &'a [u8]) -> Result<Ack<'a>, Error> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Error::DecodeTooLong);
        }
        let pre = Preamble::parse(datagram)?;
        if pre.kind != Kind::Ack {
            return Err(Error::DecodeUnknownKind(pre.kind.into()));
        }
        let end = if pre.has_mac() {
            datagram
                .len()
                .checked_sub(MAC_LEN)
                .filter(|&e| e >= PREAMBLE_LEN)
                .ok_or(Error::DecodeTooShort)?
        } else {
            datagram.len()
        };
        let mut rest = datagram
            .get(PREAMBLE_LEN..end)
            .ok_or(Error::DecodeTooShort)?;
        let f: AckFields<'a> = wire::take(&mut rest)?;
        if !rest.is_empty() {
            return Err(Error::DecodeTrailingBytes);
        }
        if let Some(e) = crate::node_name_error(f.node) {
            return Err(e);
        }
        if !gaps_valid(&f.gaps, f.acked_below, f.seen_below) {
            return Err(Error::DecodeBadGaps);
        }
        Ok(Ack {
            node: f.node,
            boot_id: pre.boot_id,
            acked_below: f.acked_below,
            seen_below: f.seen_below,
            gaps: f.gaps,
            key_id: pre.has_mac().then_some(pre.key_id),
        })
    }

    /// Checks the MAC of `datagram` (the bytes this ack was parsed from) with `key`.
    pub fn verify(&self, datagram: &[u8], key: &Key) -> Result<(), Error> {
        match self.key_id {
            Some(id) => crate::auth::verify_datagram(datagram, id, key),
            None => Err(Error::DecodeMissingMac),
        }
    }

    /// True when the aggregator has stored `seq` according to this ack.
    pub fn is_stored(&self, seq: u64) -> bool {
        seq < self.acked_below
            || (seq < self.seen_below && !self.gaps.iter().any(|g| g.contains(seq)))
    }
}

fn gaps_valid(gaps: &[Gap], acked_below: u64, seen_below: u64) -> bool {
    let mut next = acked_below;
    for g in gaps {
        if g.len == 0 || g.start < next {
            return false;
        }
        match g.start.checked_add(g.len) {
            Some(end) => next = end,
            None => return false,
        }
    }
    next <= seen_below.max(acked_below)
}

/// Why an aggregator refused a datagram: the reason byte of a [`Refusal`].
///
/// Reasons this build does not know are kept as [`Reason::Other`], so a newer
/// aggregator can add some without breaking older collectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 1: the MAC does not verify with the aggregator's key of that id for the node.
    BadMac,
    /// 2: the datagram carries no MAC, but the aggregator requires a key for the node.
    MissingMac,
    /// 3: the aggregator has no key with the datagram's key id for the node.
    WrongKeyId,
    /// 4: the aggregator's key file does not allow the node (no line for it and no `*`,
    /// or `refuse_unknown_nodes`).
    UnknownNode,
    /// 5: the datagram carries a MAC, but the aggregator has no key file at all.
    NotKeyed,
    /// A reason this build does not know.
    Other(u8),
}

impl From<u8> for Reason {
    fn from(raw: u8) -> Reason {
        match raw {
            1 => Reason::BadMac,
            2 => Reason::MissingMac,
            3 => Reason::WrongKeyId,
            4 => Reason::UnknownNode,
            5 => Reason::NotKeyed,
            other => Reason::Other(other),
        }
    }
}

impl From<Reason> for u8 {
    fn from(reason: Reason) -> u8 {
        match reason {
            Reason::BadMac => 1,
            Reason::MissingMac => 2,
            Reason::WrongKeyId => 3,
            Reason::UnknownNode => 4,
            Reason::NotKeyed => 5,
            Reason::Other(raw) => raw,
        }
    }
}

impl Reason {
    /// A short name (`bad_mac`, `missing_mac`, …), the aggregator's counter label for it.
    pub fn label(self) -> &'static str {
        match self {
            Reason::BadMac => "bad_mac",
            Reason::MissingMac => "missing_mac",
            Reason::WrongKeyId => "wrong_key_id",
            Reason::UnknownNode => "unknown_node",
            Reason::NotKeyed => "not_keyed",
            Reason::Other(_) => "other",
        }
    }
}

/// A refusal (kind 0x03, protocol 1.2): the aggregator did not take a datagram of
/// `node` and boot `boot_id`, for `reason`.
///
/// ```text
/// preamble (16 bytes, version 1.2, kind 0x03, flags 0, key id 0, parts 0,
///           boot id of the refused datagram)
/// body     node: str, reason: u8
/// ```
/// A refusal is never authenticated (the aggregator could not verify the sender, so it
/// has no key to MAC with), so a receiver must treat it as a hint for a log line and
/// never as a reason to stop sending or to forget a frame. It is never larger than the
/// datagram it answers ([`Refusal::emit_within`]) and is rate-limited per source.
///
/// ```
/// use pimon_protocol::{Reason, Refusal};
/// let refusal = Refusal { node: "pi", boot_id: 1, reason: Reason::BadMac };
/// let mut buf = [0u8; 32];
/// let n = refusal.emit(&mut buf).unwrap();
/// assert_eq!(&buf[..n], &[
///     b'P', b'M', 0x12, 0x03, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
///     2, b'p', b'i', 1,
/// ][..]);
/// assert_eq!(Refusal::parse(&buf[..n]).unwrap(), refusal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal<'a> {
    /// Node of the refused datagram.
    pub node: &'a str,
    /// Boot id of the refused datagram.
    pub boot_id: u64,
    /// Why it was refused.
    pub reason: Reason,
}

#[derive(Serialize, Deserialize)]
struct RefusalFields<'a> {
    #[serde(borrow)]
    node: &'a str,
    reason: u8,
}

impl<'a> Refusal<'a> {
    /// Writes the refusal into `buf`; returns its length (at most 16 + 1 + 32 + 1).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if crate::node_name_error(self.node).is_some() {
            return Err(Error::EncodeBadNodeName);
        }
        Preamble {
            minor: VERSION_MINOR_PROBE,
            kind: Kind::Refusal,
            flags: 0,
            key_id: 0,
            part: 0,
            parts: 0,
            boot_id: self.boot_id,
        }
        .emit(buf)?;
        let mut out = Out::new(buf, PREAMBLE_LEN, MAX_DATAGRAM);
        out.put(&RefusalFields {
            node: self.node,
            reason: self.reason.into(),
        })?;
        Ok(out.len)
    }

    /// Writes the refusal like [`emit`](Self::emit) only if it takes at most `max_len`
    /// bytes (the length of the datagram it answers): a refusal never amplifies a flood
    /// sent with a forged source address. Otherwise [`Error::EncodeBufferFull`].
    ///
    /// ```
    /// use pimon_protocol::{Error, Reason, Refusal};
    /// let refusal = Refusal { node: "pi", boot_id: 1, reason: Reason::MissingMac };
    /// let mut buf = [0u8; 64];
    /// assert_eq!(refusal.emit_within(&mut buf, 20), Ok(20));
    /// assert_eq!(refusal.emit_within(&mut buf, 19), Err(Error::EncodeBufferFull));
    /// ```
    pub fn emit_within(&self, buf: &mut [u8], max_len: usize) -> Result<usize, Error> {
        let n = self.emit(buf)?;
        if n > max_len {
            return Err(Error::EncodeBufferFull);
        }
        Ok(n)
    }

    /// Parses a refusal. One with flag bit 0 (a MAC) is invalid: refusals are never
    /// authenticated.
    pub fn parse(datagram: &'a [u8]) -> Result<Refusal<'a>, Error> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Error::DecodeTooLong);
        }
        let pre = Preamble::parse(datagram)?;
        if pre.kind != Kind::Refusal {
            return Err(Error::DecodeUnknownKind(pre.kind.into()));
        }
        if pre.has_mac() {
            return Err(Error::DecodeUnsupportedFlags(pre.flags));
        }
        let mut rest = datagram.get(PREAMBLE_LEN..).ok_or(Error::DecodeTooShort)?;
        let f: RefusalFields<'a> = wire::take(&mut rest)?;
        if !rest.is_empty() {
            return Err(Error::DecodeTrailingBytes);
        }
        if let Some(e) = crate::node_name_error(f.node) {
            return Err(e);
        }
        Ok(Refusal {
            node: f.node,
            boot_id: pre.boot_id,
            reason: Reason::from(f.reason),
        })
    }
}
