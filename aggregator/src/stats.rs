//! The aggregator's own figures: atomics shared by the receive, ingest and HTTP tasks
//! and rendered on `/metrics` as `pimon_aggregator_*`.
//!
//! Per-node figures live with the node (see [`crate::node`]); these are the ones that
//! belong to no node (or to a node that was refused, so has no state).

use std::sync::atomic::Ordering;

use pimon_protocol::Error;

use crate::atomic::AtomicU64;

/// Why a datagram could not be decoded: the `error` label of
/// `pimon_aggregator_decode_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Ends inside a field.
    TooShort,
    /// Over 1232 bytes.
    TooLong,
    /// Not `PM`: not pimon traffic.
    BadMagic,
    /// A major version other than 1.
    UnsupportedVersion,
    /// A kind byte that is not 1 or 2 — or an ack sent to the aggregator.
    UnknownKind,
    /// A must-understand flag (encryption).
    UnsupportedFlags,
    /// Malformed varint or metric id over 16 bits.
    BadVarint,
    /// A string that is not UTF-8.
    BadUtf8,
    /// Node name empty or over 32 bytes.
    BadNodeName,
    /// Node name with a control character (NUL, newline, escape …).
    NodeNameControl,
    /// Resend floor above the frame's sequence number.
    BadFloor,
    /// Malformed sample group.
    BadGroup,
    /// Part index not below part count.
    BadPart,
    /// A well-formed ack sent to the aggregator (acks go the other way).
    UnexpectedAck,
    /// Anything else the protocol crate reports.
    Other,
}

impl DecodeErrorKind {
    /// Every kind, in rendering order.
    pub const ALL: [DecodeErrorKind; 15] = [
        DecodeErrorKind::TooShort,
        DecodeErrorKind::TooLong,
        DecodeErrorKind::BadMagic,
        DecodeErrorKind::UnsupportedVersion,
        DecodeErrorKind::UnknownKind,
        DecodeErrorKind::UnsupportedFlags,
        DecodeErrorKind::BadVarint,
        DecodeErrorKind::BadUtf8,
        DecodeErrorKind::BadNodeName,
        DecodeErrorKind::NodeNameControl,
        DecodeErrorKind::BadFloor,
        DecodeErrorKind::BadGroup,
        DecodeErrorKind::BadPart,
        DecodeErrorKind::UnexpectedAck,
        DecodeErrorKind::Other,
    ];

    /// The label value (`too_short`, …).
    pub fn label(self) -> &'static str {
        match self {
            DecodeErrorKind::TooShort => "too_short",
            DecodeErrorKind::TooLong => "too_long",
            DecodeErrorKind::BadMagic => "bad_magic",
            DecodeErrorKind::UnsupportedVersion => "unsupported_version",
            DecodeErrorKind::UnknownKind => "unknown_kind",
            DecodeErrorKind::UnsupportedFlags => "unsupported_flags",
            DecodeErrorKind::BadVarint => "bad_varint",
            DecodeErrorKind::BadUtf8 => "bad_utf8",
            DecodeErrorKind::BadNodeName => "bad_node_name",
            DecodeErrorKind::NodeNameControl => "node_name_control_char",
            DecodeErrorKind::BadFloor => "bad_resend_floor",
            DecodeErrorKind::BadGroup => "bad_group",
            DecodeErrorKind::BadPart => "bad_part",
            DecodeErrorKind::UnexpectedAck => "unexpected_ack",
            DecodeErrorKind::Other => "other",
        }
    }

    /// Classifies a decode error of the protocol crate.
    pub fn of(e: Error) -> DecodeErrorKind {
        match e {
            Error::DecodeTooShort => DecodeErrorKind::TooShort,
            Error::DecodeTooLong => DecodeErrorKind::TooLong,
            Error::DecodeBadMagic => DecodeErrorKind::BadMagic,
            Error::DecodeUnsupportedVersion(_) => DecodeErrorKind::UnsupportedVersion,
            Error::DecodeUnknownKind(_) => DecodeErrorKind::UnknownKind,
            Error::DecodeUnsupportedFlags(_) => DecodeErrorKind::UnsupportedFlags,
            Error::DecodeBadVarint => DecodeErrorKind::BadVarint,
            Error::DecodeBadUtf8 => DecodeErrorKind::BadUtf8,
            Error::DecodeBadNodeName => DecodeErrorKind::BadNodeName,
            Error::DecodeNodeNameControl => DecodeErrorKind::NodeNameControl,
            Error::DecodeBadFloor => DecodeErrorKind::BadFloor,
            Error::DecodeBadGroup => DecodeErrorKind::BadGroup,
            Error::DecodeBadPart => DecodeErrorKind::BadPart,
            _ => DecodeErrorKind::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why an authenticated check failed: the `reason` label of
/// `pimon_aggregator_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A key is required for the node but the frame has no MAC.
    MissingMac,
    /// The MAC does not match.
    BadMac,
    /// The frame names a key id the node has no key for (or no keys are configured).
    WrongKeyId,
}

impl AuthFailure {
    /// Every reason, in rendering order.
    pub const ALL: [AuthFailure; 3] = [
        AuthFailure::MissingMac,
        AuthFailure::BadMac,
        AuthFailure::WrongKeyId,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::MissingMac => "missing_mac",
            AuthFailure::BadMac => "bad_mac",
            AuthFailure::WrongKeyId => "wrong_key_id",
        }
    }
}

/// Counters of the whole aggregator. All `Relaxed`: they are statistics.
#[derive(Debug, Default)]
pub struct AggregatorStats {
    /// Datagrams read from the UDP sockets.
    pub datagrams_received: AtomicU64,
    /// Bytes of those datagrams.
    pub bytes_received: AtomicU64,
    /// Datagrams that failed to decode, by [`DecodeErrorKind`].
    pub decode_errors: [AtomicU64; DecodeErrorKind::ALL.len()],
    /// Frames dropped for authentication, by [`AuthFailure`].
    pub auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    /// Frames refused as replays: a retired boot id, or a keyed frame too old to start
    /// a boot.
    pub replays: AtomicU64,
    /// Frames held back: they would move a node's state (new boot id, sequence jump,
    /// resync) without enough evidence yet (docs/PROTOCOL.md 6.2).
    pub frames_unconfirmed: AtomicU64,
    /// Second collectors detected sending as an existing node.
    pub name_conflicts: AtomicU64,
    /// Frames from a node that is not allowed (`refuse_unknown_nodes`, or no key).
    pub unknown_nodes_refused: AtomicU64,
    /// Frames from a new node refused because `max_nodes` was reached.
    pub nodes_refused_limit: AtomicU64,
    /// Frames from a new node refused because its address already had
    /// `max_new_nodes_per_address` young nodes.
    pub nodes_refused_address: AtomicU64,
    /// Young nodes forgotten early because the node table was under pressure.
    pub young_nodes_forgotten_pressure: AtomicU64,
    /// Samples refused because a node had `max_series_per_node` series (or the label
    /// space of the node, or `max_series` in total, was full).
    pub series_refused_limit: AtomicU64,
    /// Samples with a metric id this build does not know (newer collector), skipped.
    pub unknown_samples: AtomicU64,
    /// Frames stored with a time other than their own (clock off, or older than
    /// `max_backfill`; see `crate::timeline`).
    pub clock_skewed_frames: AtomicU64,
    /// Nodes forgotten after not being seen for long.
    pub nodes_forgotten: AtomicU64,
    /// Batches the outputs did not accept: their frames were not acked (the collectors
    /// resend them).
    pub output_failures: AtomicU64,
    /// Acks sent.
    pub acks_sent: AtomicU64,
    /// Lines of the aggregator's own figures (`crate::self_lines`) every InfluxDB
    /// output took into its spool: beside the collectors' lines, what a count of the
    /// spool's lines (written + dropped + pending) must add up to.
    pub self_lines: AtomicU64,
    /// Acks that could not be sent (socket error).
    pub ack_send_errors: AtomicU64,
    /// Acks to unauthenticated senders shortened (gaps left out) or not sent, to stay
    /// no larger than the datagram they answer.
    pub acks_limited_size: AtomicU64,
    /// Acks not sent because their destination exceeded its ack rate.
    pub acks_limited_rate: AtomicU64,
    /// Node state saves that reached the disk (snapshots and journal appends).
    pub state_writes: AtomicU64,
    /// Node state saves that failed (the batch is not acked; see docs/OPERATIONS.md).
    pub state_write_errors: AtomicU64,
    /// `/metrics` requests served.
    pub scrapes: AtomicU64,
    /// Duration of the last `/metrics` rendering, in microseconds.
    pub last_render_micros: AtomicU64,
    /// Key file reloads that succeeded.
    pub key_reloads: AtomicU64,
    /// Key file reloads that failed (the previous keys stay in force).
    pub key_reload_failures: AtomicU64,
}

impl AggregatorStats {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a decode error.
    pub fn decode_error(&self, e: Error) {
        self.decode_error_kind(DecodeErrorKind::of(e));
    }

    /// Counts a decode error of a given kind.
    pub fn decode_error_kind(&self, kind: DecodeErrorKind) {
        Self::inc(&self.decode_errors[kind.index()]);
    }

    /// Decode errors of one kind so far.
    pub fn decode_errors_of(&self, kind: DecodeErrorKind) -> u64 {
        self.decode_errors[kind.index()].load(Ordering::Relaxed)
    }

    /// Counts an authentication failure.
    pub fn auth_failure(&self, reason: AuthFailure) {
        Self::inc(&self.auth_failures[reason as usize]);
    }

    /// Authentication failures of one reason so far.
    pub fn auth_failures_of(&self, reason: AuthFailure) -> u64 {
        self.auth_failures[reason as usize].load(Ordering::Relaxed)
    }
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_error_kinds_index_their_own_slot() {
        for (i, k) in DecodeErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let s = AggregatorStats::default();
        s.decode_error(Error::DecodeBadMagic);
        s.decode_error(Error::DecodeBadMagic);
        s.decode_error(Error::DecodeTooShort);
        assert_eq!(s.decode_errors_of(DecodeErrorKind::BadMagic), 2);
        assert_eq!(s.decode_errors_of(DecodeErrorKind::TooShort), 1);
        assert_eq!(s.decode_errors_of(DecodeErrorKind::BadGroup), 0);
    }
}
