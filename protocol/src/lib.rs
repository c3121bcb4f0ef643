//! # pimon-protocol
//!
//! The wire format shared by `pimon-collector` and `pimon-aggregator`, and by any
//! microcontroller that wants to speak it: `#![no_std]`, no allocation, no `unsafe`.
//!
//! Layers, bottom up:
//! - [`wire`]: the 16-byte preamble every datagram starts with, postcard field encoding.
//! - [`frame`]: data frames (collector → aggregator): header + groups of samples.
//!   [`FrameWriter`] encodes into the caller's buffer, [`DataFrame::parse`] decodes.
//! - [`ack`]: acks (aggregator → collector): what is stored, which gaps to resend; and
//!   refusals (1.2): why a datagram was not taken.
//! - [`auth`]: the optional 16-byte keyed BLAKE2s MAC on every datagram.
//! - [`window`]: the receiver's sequence window (de-duplication, replays, acks).
//! - [`catalog`]: every metric: wire id, Prometheus and InfluxDB names, unit conversion.
//! - [`value`]: typed raw values.
//!
//! The byte-level specification is `docs/PROTOCOL.md`.
//!
//! ## No-panic contract
//! Every decoding function accepts any byte slice and returns either a value or an
//! [`Error`]; it never panics, never reads outside the slice and never allocates.
//! Encoding writes only into the caller's buffer and returns
//! [`Error::EncodeBufferFull`] instead of growing or overrunning it.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Unit tests use `std` (collections, proptest).
#[cfg(test)]
extern crate std;

pub mod ack;
pub mod auth;
pub mod catalog;
pub mod duration;
mod error;
pub mod frame;
pub mod size;
pub mod text;
pub mod value;
pub mod window;
pub mod wire;

pub use ack::{Ack, Gap, MAX_GAPS, Reason, Refusal};
pub use auth::{Key, MAC_LEN};
pub use error::Error;
pub use frame::{
    DataFrame, DataHeader, EncodedLabels, FrameWriter, GroupMark, MAX_ENCODED_LABELS,
    MAX_LABEL_LEN, MAX_LABELS, Sample, Samples, seal,
};
pub use value::Value;
pub use window::{Accept, SeqWindow};
pub use wire::{FLAG_MAC, FLAG_RESYNC, Kind, Preamble};

/// Largest datagram (UDP payload, MAC included): fits any IPv6 path without fragmenting.
pub const MAX_DATAGRAM: usize = 1232;
/// Longest node name in bytes.
pub const MAX_NODE_NAME: usize = 32;

/// Why `name` cannot be a node name, if it cannot: empty or longer than
/// [`MAX_NODE_NAME`] bytes ([`Error::DecodeBadNodeName`]), or holding a control
/// character, U+0000–U+001F or U+007F–U+009F ([`Error::DecodeNodeNameControl`]). A node
/// name becomes the `instance` label and the `host` tag, so it must be printable.
///
/// ```
/// use pimon_protocol::{Error, node_name_error};
/// assert_eq!(node_name_error("pi-4"), None);
/// assert_eq!(node_name_error(""), Some(Error::DecodeBadNodeName));
/// assert_eq!(node_name_error("evil\0"), Some(Error::DecodeNodeNameControl));
/// ```
pub fn node_name_error(name: &str) -> Option<Error> {
    if name.is_empty() || name.len() > MAX_NODE_NAME {
        Some(Error::DecodeBadNodeName)
    } else if name.chars().any(char::is_control) {
        Some(Error::DecodeNodeNameControl)
    } else {
        None
    }
}

/// Any decoded datagram.
// An ack holds its 16 gaps inline (no allocation in this crate); 300 bytes on the stack
// is fine for a value that lives for one datagram.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// A data frame.
    Data(DataFrame<'a>),
    /// An ack.
    Ack(Ack<'a>),
    /// A refusal (1.2).
    Refusal(Refusal<'a>),
    /// A probe (1.2): an empty data frame that asks for an answer, not to be stored.
    Probe(DataFrame<'a>),
}

/// Decodes any pimon datagram (MAC not checked: call `verify` on the result).
///
/// ```
/// assert_eq!(
///     pimon_protocol::decode(b"GET / HTTP/1.1"),
///     Err(pimon_protocol::Error::DecodeBadMagic)
/// );
/// ```
pub fn decode(datagram: &[u8]) -> Result<Message<'_>, Error> {
    match Preamble::parse(datagram)?.kind {
        Kind::Data => DataFrame::parse(datagram).map(Message::Data),
        Kind::Ack => Ack::parse(datagram).map(Message::Ack),
        Kind::Refusal => Refusal::parse(datagram).map(Message::Refusal),
        Kind::Probe => DataFrame::parse_probe(datagram).map(Message::Probe),
        Kind::Unknown(k) => Err(Error::DecodeUnknownKind(k)),
    }
}
