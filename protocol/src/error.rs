//! The one error type of the protocol crate.

use core::fmt;

/// Everything that can go wrong encoding or decoding a pimon datagram.
///
/// Variants are prefixed with the phase they belong to (`Encode…`, `Decode…`). The
/// `Display` text is written for an operator reading a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The caller's buffer (or the 1232-byte datagram limit) has no room for what was pushed.
    EncodeBufferFull,
    /// A node name is empty, longer than [`crate::MAX_NODE_NAME`] bytes, or holds a
    /// control character (see [`crate::node_name_error`]).
    EncodeBadNodeName,
    /// More than [`crate::MAX_LABELS`] labels, a label longer than [`crate::MAX_LABEL_LEN`]
    /// bytes, or encoded labels longer than [`crate::MAX_ENCODED_LABELS`].
    EncodeLabelsTooLong,
    /// More gaps than [`crate::MAX_GAPS`] in an ack, or a gap of length 0.
    EncodeBadGaps,
    /// A part index not below the part count, or a part count of 0.
    EncodeBadPart,
    /// The header asks for a MAC but no key was given to `seal`, or the other way round.
    EncodeKeyMismatch,
    /// A resend floor above the frame's own sequence number (the sender still holds the
    /// frame it sends, so its floor is at most its sequence number).
    EncodeBadFloor,
    /// The datagram ends before a field does.
    DecodeTooShort,
    /// The datagram is longer than [`crate::MAX_DATAGRAM`] bytes.
    DecodeTooLong,
    /// The first two bytes are not `PM`: not a pimon datagram.
    DecodeBadMagic,
    /// The major protocol version is not one this build speaks.
    DecodeUnsupportedVersion(u8),
    /// The message kind byte is not one this build knows.
    DecodeUnknownKind(u8),
    /// A flag bit this build must understand but does not (for example encryption).
    DecodeUnsupportedFlags(u8),
    /// A varint is longer than its type allows or overflows it.
    DecodeBadVarint,
    /// A string field is not valid UTF-8.
    DecodeBadUtf8,
    /// The node name is empty or longer than [`crate::MAX_NODE_NAME`] bytes.
    DecodeBadNodeName,
    /// The node name holds a control character (U+0000–U+001F, U+007F–U+009F): it would
    /// become a label value and a tag no one can type or read.
    DecodeNodeNameControl,
    /// The resend floor is above the frame's sequence number: no sender writes that.
    DecodeBadFloor,
    /// A group has more than [`crate::MAX_LABELS`] labels, a label is too long, or a group
    /// has no samples.
    DecodeBadGroup,
    /// Part index not below part count, or part count 0.
    DecodeBadPart,
    /// An ack has more than [`crate::MAX_GAPS`] gaps, an empty gap, or gaps out of order.
    DecodeBadGaps,
    /// Bytes remain after the last field of a message that has a fixed end.
    DecodeTrailingBytes,
    /// The frame is unauthenticated but a key is required, or a MAC check was asked of
    /// a frame that carries none.
    DecodeMissingMac,
    /// The MAC does not match: wrong key, or the bytes were altered.
    DecodeBadMac,
    /// The MAC was made with a key id the verifier was not given.
    DecodeWrongKeyId(u8),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EncodeBufferFull => f.write_str("encode: buffer full"),
            Error::EncodeBadNodeName => {
                f.write_str("encode: node name empty or longer than 32 bytes")
            }
            Error::EncodeLabelsTooLong => {
                f.write_str("encode: too many labels or a label too long")
            }
            Error::EncodeBadGaps => f.write_str("encode: too many or empty gaps in ack"),
            Error::EncodeBadPart => f.write_str("encode: part index not below part count"),
            Error::EncodeKeyMismatch => f.write_str("encode: MAC flag and key disagree"),
            Error::EncodeBadFloor => {
                f.write_str("encode: resend floor above the frame's sequence number")
            }
            Error::DecodeTooShort => f.write_str("datagram truncated: ends inside a field"),
            Error::DecodeTooLong => f.write_str("datagram longer than 1232 bytes"),
            Error::DecodeBadMagic => f.write_str("not a pimon datagram (bad magic)"),
            Error::DecodeUnsupportedVersion(v) => write!(
                f,
                "unsupported protocol version {}.{} (this build speaks 1.x)",
                v >> 4,
                v & 0x0f
            ),
            Error::DecodeUnknownKind(k) => write!(f, "unknown message kind {k:#04x}"),
            Error::DecodeUnsupportedFlags(b) => write!(f, "unsupported flags {b:#04x}"),
            Error::DecodeBadVarint => f.write_str("malformed varint"),
            Error::DecodeBadUtf8 => f.write_str("string is not valid UTF-8"),
            Error::DecodeBadNodeName => f.write_str("node name empty or longer than 32 bytes"),
            Error::DecodeNodeNameControl => f.write_str("node name contains a control character"),
            Error::DecodeBadFloor => f.write_str("resend floor above the sequence number"),
            Error::DecodeBadGroup => f.write_str("malformed sample group (labels or count)"),
            Error::DecodeBadPart => f.write_str("part index not below part count"),
            Error::DecodeBadGaps => f.write_str("malformed gap list in ack"),
            Error::DecodeTrailingBytes => f.write_str("trailing bytes after message"),
            Error::DecodeMissingMac => f.write_str("frame carries no MAC but a key is configured"),
            Error::DecodeBadMac => f.write_str("MAC check failed (wrong key or altered frame)"),
            Error::DecodeWrongKeyId(id) => write!(f, "frame MAC made with unknown key id {id}"),
        }
    }
}

impl core::error::Error for Error {}

/// Maps postcard's decode errors onto ours.
pub(crate) fn from_postcard(e: postcard::Error) -> Error {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => Error::DecodeTooShort,
        postcard::Error::DeserializeBadUtf8 | postcard::Error::DeserializeBadChar => {
            Error::DecodeBadUtf8
        }
        postcard::Error::SerializeBufferFull => Error::EncodeBufferFull,
        // The only custom serde error: heapless refusing a 17th gap in an ack.
        postcard::Error::SerdeDeCustom => Error::DecodeBadGaps,
        _ => Error::DecodeBadVarint,
    }
}
