//! Data frames: collector → aggregator.
//!
//! ```text
//! preamble (16 bytes, kind 0x01)            see `wire`
//! header   node: str, seq: varint u64, resend_floor: varint u64,
//!          timestamp_ms: varint u64, interval_ms: varint u32, user_hz: varint u16
//! groups   until the MAC (or the end):
//!          label_count: varint (0..=4), labels: str × label_count,
//!          sample_count: varint (1..=127, so always one byte),
//!          samples × sample_count: key: varint u64 = (id_delta << 2) | value_kind, value
//! mac      16 bytes when flag bit 0 is set
//! ```
//! `id_delta` is the metric id for the first sample of a group and the difference to the
//! previous sample's id after that, so consecutive catalog ids cost one byte each.
//! `value_kind`: 0 unsigned varint, 1 signed zigzag varint, 2 f32 LE, 3 f64 LE.
//!
//! A *probe* (kind 0x04, protocol 1.2; [`write_probe`], [`DataFrame::parse_probe`]) is a
//! data frame with no groups under another kind: the aggregator checks it exactly like a
//! frame (authentication, node allowed) and answers with an ack or a refusal, but stores
//! nothing and changes no state, so `pimon-collector --check` can try a round trip while
//! the real collector runs.
//!
//! Decoding never panics and never reads past the input: [`DataFrame::parse`] walks the
//! whole body once, so the [`Samples`] iterator afterwards cannot fail.

use crate::catalog::{self, Metric};
use crate::wire::{
    self, FLAG_RESYNC, Kind, Out, PART_COUNT_OFFSET, PREAMBLE_LEN, Preamble, VERSION_MINOR_PROBE,
};
use crate::{Error, FLAG_MAC, Key, MAC_LEN, MAX_DATAGRAM, Value};
use serde::{Deserialize, Serialize};

/// Most labels one sample group carries (4 before protocol 1.3; node_exporter's info
/// metrics need up to 12: `node_os_info`, `node_cpu_info`, `node_network_info`).
pub const MAX_LABELS: usize = 12;
/// Longest label value in bytes.
pub const MAX_LABEL_LEN: usize = 255;
/// Longest encoded label list ([`EncodedLabels`]) in bytes.
pub const MAX_ENCODED_LABELS: usize = 512;
/// Most samples in one group (keeps the count a one-byte varint).
pub const MAX_GROUP_SAMPLES: u8 = 127;

const KIND_UNSIGNED: u64 = 0;
const KIND_SIGNED: u64 = 1;
const KIND_F32: u64 = 2;
const KIND_F64: u64 = 3;

/// Header fields of a data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataHeader<'a> {
    /// Node name (UTF-8, 1..=32 bytes): the `instance` label and `host` tag.
    pub node: &'a str,
    /// Random id chosen at every collector start.
    pub boot_id: u64,
    /// Sequence number of this datagram, monotonic per boot id, starting at 0.
    pub seq: u64,
    /// The collector holds no frame below this sequence number any more: the receiver
    /// need not wait for lower ones.
    pub resend_floor: u64,
    /// Unix time of the collection in milliseconds.
    pub timestamp_ms: u64,
    /// Collection interval in milliseconds.
    pub interval_ms: u32,
    /// The node's USER_HZ (CPU jiffies per second), for converting CPU times.
    pub user_hz: u16,
    /// Index of this part within the cycle (0-based).
    pub part: u8,
    /// Number of parts of the cycle.
    pub parts: u8,
    /// Key id of the MAC, `None` for an unauthenticated frame.
    pub key_id: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct HeaderFields<'a> {
    #[serde(borrow)]
    node: &'a str,
    seq: u64,
    resend_floor: u64,
    timestamp_ms: u64,
    interval_ms: u32,
    user_hz: u16,
}

/// A label list encoded once, to open groups in any number of frames without re-encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodedLabels {
    bytes: heapless::Vec<u8, MAX_ENCODED_LABELS>,
}

impl core::fmt::Debug for EncodedLabels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EncodedLabels")
            .field("bytes", &self.as_bytes())
            .finish()
    }
}

impl Default for EncodedLabels {
    fn default() -> Self {
        EncodedLabels {
            bytes: heapless::Vec::new(),
        }
    }
}

impl EncodedLabels {
    /// Encodes `labels` (count, then each as length + bytes).
    ///
    /// ```
    /// let l = pimon_protocol::EncodedLabels::encode(&["eth0"]).unwrap();
    /// assert_eq!(l.as_bytes(), &[1, 4, b'e', b't', b'h', b'0']);
    /// ```
    pub fn encode(labels: &[&str]) -> Result<EncodedLabels, Error> {
        if labels.len() > MAX_LABELS || labels.iter().any(|l| l.len() > MAX_LABEL_LEN) {
            return Err(Error::EncodeLabelsTooLong);
        }
        let mut buf = [0u8; MAX_ENCODED_LABELS];
        let mut out = Out::new(&mut buf, 0, MAX_ENCODED_LABELS);
        out.put(&(labels.len() as u32))
            .map_err(|_| Error::EncodeLabelsTooLong)?;
        for l in labels {
            out.put(*l).map_err(|_| Error::EncodeLabelsTooLong)?;
        }
        let len = out.len;
        let mut bytes = heapless::Vec::new();
        bytes
            .extend_from_slice(&buf[..len])
            .map_err(|_| Error::EncodeLabelsTooLong)?;
        Ok(EncodedLabels { bytes })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes one data frame into a caller's buffer.
///
/// Open a group with [`begin_group`](Self::begin_group), [`push`](Self::push) samples,
/// and when `push` says [`Error::EncodeBufferFull`], [`finish`](Self::finish) this frame
/// and continue in a new one. Nothing is ever written past the buffer or past
/// [`MAX_DATAGRAM`] (less the MAC when keyed). A failed call leaves the frame unchanged.
///
/// ```
/// use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, Value, seal};
/// let header = DataHeader {
///     node: "pi", boot_id: 1, seq: 2, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
///     user_hz: 100, part: 0, parts: 1, key_id: None,
/// };
/// let mut buf = [0u8; 1232];
/// let mut w = FrameWriter::new(&mut buf, &header).unwrap();
/// w.begin_group(&EncodedLabels::encode(&["eth0"]).unwrap()).unwrap();
/// w.push(5, Value::Unsigned(300)).unwrap();
/// let len = w.finish();
/// let len = seal(&mut buf, len, 1, None).unwrap();
/// assert_eq!(&buf[..len], &[
///     b'P', b'M', 0x10, 0x01, 0x00, 0x00, 0x00, 0x01, 1, 0, 0, 0, 0, 0, 0, 0, // preamble
///     2, b'p', b'i', 2, 0, 3, 0x90, 0x4e, 100,                                 // header
///     1, 4, b'e', b't', b'h', b'0', 1,                                          // group
///     20, 0xac, 0x02,                                                           // id 5, 300
/// ][..]);
/// ```
pub struct FrameWriter<'b> {
    out: Out<'b>,
    /// Where the groups begin (the length of preamble and header).
    body_start: usize,
    /// Start of the open group (its label bytes), if any.
    group_start: Option<usize>,
    /// Offset of the open group's sample count byte.
    count_pos: usize,
    count: u8,
    prev_id: u16,
}

impl<'b> FrameWriter<'b> {
    /// Starts a frame with `header` (part count is patched later by [`seal`]).
    pub fn new(buf: &'b mut [u8], header: &DataHeader<'_>) -> Result<FrameWriter<'b>, Error> {
        if crate::node_name_error(header.node).is_some() {
            return Err(Error::EncodeBadNodeName);
        }
        if header.resend_floor > header.seq {
            return Err(Error::EncodeBadFloor);
        }
        let (flags, key_id, mac) = match header.key_id {
            Some(id) => (FLAG_MAC, id, MAC_LEN),
            None => (0, 0, 0),
        };
        Preamble {
            minor: wire::VERSION_MINOR,
            kind: Kind::Data,
            flags,
            key_id,
            part: header.part,
            parts: header.parts,
            boot_id: header.boot_id,
        }
        .emit(buf)?;
        let mut out = Out::new(buf, PREAMBLE_LEN, MAX_DATAGRAM - mac);
        out.put(&HeaderFields {
            node: header.node,
            seq: header.seq,
            resend_floor: header.resend_floor,
            timestamp_ms: header.timestamp_ms,
            interval_ms: header.interval_ms,
            user_hz: header.user_hz,
        })?;
        Ok(FrameWriter {
            body_start: out.len,
            out,
            group_start: None,
            count_pos: 0,
            count: 0,
            prev_id: 0,
        })
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len
    }

    /// True when no sample has been written yet.
    pub fn is_empty(&self) -> bool {
        self.group_start.is_none()
    }

    /// Opens a group: following samples carry `labels`. An open group without samples
    /// is dropped when the next opens or the frame finishes.
    pub fn begin_group(&mut self, labels: &EncodedLabels) -> Result<(), Error> {
        self.close_group();
        let start = self.out.len;
        // Room for the labels, the count byte and one smallest sample (2 bytes).
        if start + labels.as_bytes().len() + 3 > self.out.limit {
            return Err(Error::EncodeBufferFull);
        }
        self.out.put_bytes(labels.as_bytes())?;
        // The label count is the list's first byte (a one-byte varint: at most 12).
        if labels
            .as_bytes()
            .first()
            .is_some_and(|&n| usize::from(n) > wire::LEGACY_MAX_LABELS)
        {
            self.raise_minor(wire::VERSION_MINOR_WIDE_LABELS);
        }
        self.count_pos = self.out.len;
        self.out.put_bytes(&[0])?;
        self.group_start = Some(start);
        self.count = 0;
        self.prev_id = 0;
        Ok(())
    }

    /// Adds one sample to the open group. Ids should ascend within a group; a lower or
    /// equal id, or a full group, reopens the same labels automatically.
    pub fn push(&mut self, metric: u16, value: Value) -> Result<(), Error> {
        let Some(start) = self.group_start else {
            return Err(Error::EncodeLabelsTooLong);
        };
        let saved = (
            self.out.len,
            self.count_pos,
            self.count,
            self.prev_id,
            self.group_start,
        );
        if self.count > 0 && (metric <= self.prev_id || self.count == MAX_GROUP_SAMPLES) {
            // Reopen: copy the open group's label bytes to a new group.
            let labels_len = self.count_pos - start;
            let new_start = self.out.len;
            if new_start + labels_len + 1 > self.out.limit {
                return Err(Error::EncodeBufferFull);
            }
            self.out
                .buf
                .copy_within(start..start + labels_len, new_start);
            self.out.len += labels_len;
            self.count_pos = self.out.len;
            self.out.put_bytes(&[0])?;
            self.group_start = Some(new_start);
            self.count = 0;
            self.prev_id = 0;
        }
        let delta = u64::from(metric - self.prev_id);
        let res = match value {
            Value::Unsigned(v) => self
                .out
                .put(&(delta << 2 | KIND_UNSIGNED))
                .and_then(|_| self.out.put(&v)),
            Value::Signed(v) => self
                .out
                .put(&(delta << 2 | KIND_SIGNED))
                .and_then(|_| self.out.put(&v)),
            Value::F32(v) => self
                .out
                .put(&(delta << 2 | KIND_F32))
                .and_then(|_| self.out.put_bytes(&v.to_le_bytes())),
            Value::F64(v) => self
                .out
                .put(&(delta << 2 | KIND_F64))
                .and_then(|_| self.out.put_bytes(&v.to_le_bytes())),
        };
        if let Err(e) = res {
            (
                self.out.len,
                self.count_pos,
                self.count,
                self.prev_id,
                self.group_start,
            ) = saved;
            return Err(e);
        }
        self.count += 1;
        self.prev_id = metric;
        self.out.buf[self.count_pos] = self.count;
        Ok(())
    }

    fn close_group(&mut self) {
        if let Some(start) = self.group_start
            && self.count == 0
        {
            self.out.len = start;
            self.group_start = None;
        }
    }

    /// Where the open group begins (`None` when no group is open), for
    /// [`move_since`](Self::move_since).
    pub fn open_group_mark(&self) -> Option<GroupMark> {
        self.group_start.map(GroupMark)
    }

    /// Whether `mark` is where this frame's first group begins: moving from there
    /// would leave nothing behind, so there is no point.
    pub fn is_first_group(&self, mark: GroupMark) -> bool {
        mark.0 <= self.body_start
    }

    /// Bytes written from `mark` to the end.
    pub fn len_since(&self, mark: GroupMark) -> usize {
        self.out.len.saturating_sub(mark.0)
    }

    /// Moves every group from `mark` (taken with [`open_group_mark`](Self::open_group_mark)
    /// in this frame) to the end of `next`: this frame ends where `mark` was, and the
    /// open group goes on in `next`, so samples pushed to `next` continue it. The bytes
    /// move as they are (a group's ids are relative to its own first sample).
    ///
    /// A sender uses it to keep a run of groups in one datagram when the frame fills up
    /// in its middle. Returns where the run begins in `next`;
    /// [`Error::EncodeBufferFull`] (and nothing changed) when it does not fit there.
    pub fn move_since(
        &mut self,
        mark: GroupMark,
        next: &mut FrameWriter<'_>,
    ) -> Result<GroupMark, Error> {
        let from = mark.0;
        let to = self.out.len;
        if from < self.body_start || from > to || self.group_start.is_some_and(|g| g < from) {
            return Err(Error::EncodeBufferFull);
        }
        let tail = self.out.buf.get(from..to).ok_or(Error::EncodeBufferFull)?;
        let base = next.out.len;
        next.out.put_bytes(tail)?;
        // The moved groups' features go with them (a wide label group: 1.3).
        if let Some(&version) = self.out.buf.get(2) {
            next.raise_minor(version & 0x0f);
        }
        next.group_start = self.group_start.map(|g| base + (g - from));
        if next.group_start.is_some() {
            next.count_pos = base + (self.count_pos - from);
        }
        next.count = self.count;
        next.prev_id = self.prev_id;
        self.out.len = from;
        self.group_start = None;
        self.count = 0;
        self.prev_id = 0;
        Ok(GroupMark(base))
    }

    /// Makes the preamble's minor version at least `minor` (writers write the lowest
    /// version that has every feature they use).
    fn raise_minor(&mut self, minor: u8) {
        if let Some(v) = self.out.buf.get_mut(2)
            && *v & 0x0f < minor
        {
            *v = (wire::VERSION_MAJOR << 4) | minor;
        }
    }

    /// Ends the frame and returns its length, not yet sealed (see [`seal`]).
    pub fn finish(mut self) -> usize {
        self.close_group();
        self.out.len
    }
}

/// Where a group begins in a frame being written: see [`FrameWriter::move_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMark(usize);

/// Marks a frame written by [`FrameWriter`] (not yet sealed) as a *resync* frame: sets
/// [`FLAG_RESYNC`] and writes protocol version 1.1 (docs/PROTOCOL.md, section 6.4). Call
/// it before [`seal`], which MACs the flag byte with the rest.
///
/// ```
/// use pimon_protocol::{DataFrame, DataHeader, FrameWriter, frame::set_resync, seal};
/// let header = DataHeader {
///     node: "pi", boot_id: 1, seq: 2, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
///     user_hz: 100, part: 0, parts: 1, key_id: None,
/// };
/// let mut buf = [0u8; 1232];
/// let len = FrameWriter::new(&mut buf, &header).unwrap().finish();
/// set_resync(&mut buf[..len]).unwrap();
/// let len = seal(&mut buf, len, 1, None).unwrap();
/// assert_eq!(&buf[2..5], &[0x11, 0x01, 0x04]); // version 1.1, data, resync
/// assert!(DataFrame::parse(&buf[..len]).unwrap().resync());
/// ```
pub fn set_resync(frame: &mut [u8]) -> Result<(), Error> {
    let pre = Preamble::parse(frame)?;
    if pre.kind != Kind::Data {
        return Err(Error::DecodeUnknownKind(pre.kind.into()));
    }
    // Preamble::parse checked the length.
    frame[2] = (wire::VERSION_MAJOR << 4) | wire::VERSION_MINOR_RESYNC.max(pre.minor);
    frame[4] |= FLAG_RESYNC;
    Ok(())
}

/// Writes a probe (kind 0x04, protocol 1.2): a data frame of `header` without groups
/// (part 0 of 1), MACed with `key` when `header.key_id` is set. Returns its length.
///
/// The aggregator answers it as it would answer that frame — an ack for its boot id
/// (MACed with the key that verified it) or a [`crate::Refusal`] — without storing it.
///
/// ```
/// use pimon_protocol::{DataFrame, DataHeader, frame::write_probe};
/// let header = DataHeader {
///     node: "pi", boot_id: 9, seq: 0, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
///     user_hz: 100, part: 0, parts: 1, key_id: None,
/// };
/// let mut buf = [0u8; 64];
/// let n = write_probe(&mut buf, &header, None).unwrap();
/// assert_eq!(&buf[..n], &[
///     b'P', b'M', 0x12, 0x04, 0x00, 0x00, 0x00, 0x01, 9, 0, 0, 0, 0, 0, 0, 0, // preamble
///     2, b'p', b'i', 0, 0, 3, 0x90, 0x4e, 100,                                 // header
/// ][..]);
/// assert_eq!(DataFrame::parse_probe(&buf[..n]).unwrap().header, header);
/// assert!(DataFrame::parse(&buf[..n]).is_err(), "a probe is not a data frame");
/// ```
pub fn write_probe(
    buf: &mut [u8],
    header: &DataHeader<'_>,
    key: Option<&Key>,
) -> Result<usize, Error> {
    let header = DataHeader {
        part: 0,
        parts: 1,
        ..*header
    };
    let len = FrameWriter::new(buf, &header)?.finish();
    // FrameWriter wrote the 16-byte preamble.
    buf[2] = (wire::VERSION_MAJOR << 4) | VERSION_MINOR_PROBE;
    buf[3] = Kind::Probe.into();
    seal(buf, len, 1, key)
}

/// The preamble and node name of a data frame (or a probe), read without decoding the rest: enough
/// to pick the key and check the MAC over the raw bytes before spending time on the
/// body (a forged frame is rejected for the price of its MAC). Checks the length, the
/// preamble, the kind, room for the MAC when flagged, and the node name.
///
/// ```
/// use pimon_protocol::{DataHeader, FrameWriter, frame::peek_node, seal};
/// let header = DataHeader {
///     node: "pi", boot_id: 1, seq: 2, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
///     user_hz: 100, part: 0, parts: 1, key_id: None,
/// };
/// let mut buf = [0u8; 1232];
/// let len = FrameWriter::new(&mut buf, &header).unwrap().finish();
/// let len = seal(&mut buf, len, 1, None).unwrap();
/// let (pre, node) = peek_node(&buf[..len]).unwrap();
/// assert_eq!((pre.boot_id, node), (1, "pi"));
/// ```
pub fn peek_node(datagram: &[u8]) -> Result<(Preamble, &str), Error> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Error::DecodeTooLong);
    }
    let pre = Preamble::parse(datagram)?;
    if pre.kind != Kind::Data && pre.kind != Kind::Probe {
        return Err(Error::DecodeUnknownKind(pre.kind.into()));
    }
    let mut rest = datagram
        .get(PREAMBLE_LEN..body_end(datagram, &pre)?)
        .ok_or(Error::DecodeTooShort)?;
    let node: &str = wire::take(&mut rest)?;
    if let Some(e) = crate::node_name_error(node) {
        return Err(e);
    }
    Ok((pre, node))
}

/// Where the authenticated part of a data frame ends (before the MAC, if flagged).
fn body_end(datagram: &[u8], pre: &Preamble) -> Result<usize, Error> {
    if pre.has_mac() {
        datagram
            .len()
            .checked_sub(MAC_LEN)
            .filter(|&e| e >= PREAMBLE_LEN)
            .ok_or(Error::DecodeTooShort)
    } else {
        Ok(datagram.len())
    }
}

/// Finishes a frame written by [`FrameWriter`]: sets the part count and, when the header
/// named a key id, appends the MAC made with `key`. Returns the datagram length.
///
/// The part count is only known once a cycle's last frame is written, so every part of
/// the cycle is sealed at the end.
pub fn seal(buf: &mut [u8], len: usize, parts: u8, key: Option<&Key>) -> Result<usize, Error> {
    let pre = Preamble::parse(buf.get(..len).ok_or(Error::EncodeBufferFull)?)?;
    if parts == 0 || pre.part >= parts {
        return Err(Error::EncodeBadPart);
    }
    buf[PART_COUNT_OFFSET] = parts;
    match (pre.has_mac(), key) {
        (true, Some(key)) if key.id() == pre.key_id => {
            let end = len + MAC_LEN;
            if end > buf.len() || end > MAX_DATAGRAM {
                return Err(Error::EncodeBufferFull);
            }
            let tag = key.compute(&buf[..len]);
            buf[len..end].copy_from_slice(&tag);
            Ok(end)
        }
        (false, None) => Ok(len),
        _ => Err(Error::EncodeKeyMismatch),
    }
}

/// A decoded data frame: a checked view over the datagram's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataFrame<'a> {
    /// Header fields.
    pub header: DataHeader<'a>,
    /// Minor version of the writer.
    pub minor: u8,
    flags: u8,
    datagram: &'a [u8],
    body: &'a [u8],
    known: u16,
    unknown: u16,
}

impl<'a> DataFrame<'a> {
    /// Parses and validates a whole data frame (not the MAC: see [`verify`](Self::verify)).
    pub fn parse(datagram: &'a [u8]) -> Result<DataFrame<'a>, Error> {
        Self::parse_kind(datagram, Kind::Data, &mut ())
    }

    /// Parses and validates a data frame exactly as [`parse`](Self::parse) does (the
    /// same checks, the same errors: it is the same pass) and, in that pass, hands
    /// `visit` the header and every group's labels and known samples in frame order,
    /// so a reader that wants every sample needs no second walk over the body
    /// ([`samples`](Self::samples)).
    ///
    /// On an error `visit` may have seen part of the frame: whoever keeps what it saw
    /// drops it then.
    ///
    /// ```
    /// use pimon_protocol::{DataFrame, DataHeader, EncodedLabels, FrameWriter, Value, seal};
    /// use pimon_protocol::catalog::Metric;
    /// use pimon_protocol::frame::Visit;
    ///
    /// struct Sum(u64);
    /// impl<'a> Visit<'a> for Sum {
    ///     fn group(&mut self, _labels: &[&'a str]) {}
    ///     fn sample(&mut self, _metric: &'static Metric, value: Value) {
    ///         if let Value::Unsigned(v) = value {
    ///             self.0 += v;
    ///         }
    ///     }
    /// }
    /// let header = DataHeader {
    ///     node: "pi", boot_id: 1, seq: 2, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
    ///     user_hz: 100, part: 0, parts: 1, key_id: None,
    /// };
    /// let mut buf = [0u8; 1232];
    /// let mut w = FrameWriter::new(&mut buf, &header).unwrap();
    /// w.begin_group(&EncodedLabels::encode(&["eth0"]).unwrap()).unwrap();
    /// w.push(5, Value::Unsigned(300)).unwrap();
    /// w.push(6, Value::Unsigned(12)).unwrap();
    /// let len = w.finish();
    /// let len = seal(&mut buf, len, 1, None).unwrap();
    /// let mut sum = Sum(0);
    /// let frame = DataFrame::parse_with(&buf[..len], &mut sum).unwrap();
    /// assert_eq!((sum.0, frame.known_samples()), (312, 2));
    /// ```
    pub fn parse_with(
        datagram: &'a [u8],
        visit: &mut impl Visit<'a>,
    ) -> Result<DataFrame<'a>, Error> {
        Self::parse_kind(datagram, Kind::Data, visit)
    }

    /// Parses and validates a probe ([`write_probe`]): a frame of kind 0x04 without
    /// groups (any group is [`Error::DecodeTrailingBytes`]).
    pub fn parse_probe(datagram: &'a [u8]) -> Result<DataFrame<'a>, Error> {
        let probe = Self::parse_kind(datagram, Kind::Probe, &mut ())?;
        if !probe.body.is_empty() {
            return Err(Error::DecodeTrailingBytes);
        }
        Ok(probe)
    }

    fn parse_kind(
        datagram: &'a [u8],
        kind: Kind,
        visit: &mut impl Visit<'a>,
    ) -> Result<DataFrame<'a>, Error> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(Error::DecodeTooLong);
        }
        let pre = Preamble::parse(datagram)?;
        if pre.kind != kind {
            return Err(Error::DecodeUnknownKind(pre.kind.into()));
        }
        if pre.parts == 0 || pre.part >= pre.parts {
            return Err(Error::DecodeBadPart);
        }
        let mut rest = datagram
            .get(PREAMBLE_LEN..body_end(datagram, &pre)?)
            .ok_or(Error::DecodeTooShort)?;
        let h: HeaderFields<'a> = wire::take(&mut rest)?;
        if let Some(e) = crate::node_name_error(h.node) {
            return Err(e);
        }
        if h.resend_floor > h.seq {
            return Err(Error::DecodeBadFloor);
        }
        let body = rest;
        let header = DataHeader {
            node: h.node,
            boot_id: pre.boot_id,
            seq: h.seq,
            resend_floor: h.resend_floor,
            timestamp_ms: h.timestamp_ms,
            interval_ms: h.interval_ms,
            user_hz: h.user_hz,
            part: pre.part,
            parts: pre.parts,
            key_id: pre.has_mac().then_some(pre.key_id),
        };
        visit.header(&header);
        let (known, unknown) = validate_body(body, visit)?;
        Ok(DataFrame {
            header,
            minor: pre.minor,
            flags: pre.flags,
            datagram,
            body,
            known,
            unknown,
        })
    }

    /// Checks the frame's MAC with `key`.
    pub fn verify(&self, key: &Key) -> Result<(), Error> {
        match self.header.key_id {
            Some(id) => crate::auth::verify_datagram(self.datagram, id, key),
            None => Err(Error::DecodeMissingMac),
        }
    }

    /// True when the sender set [`FLAG_RESYNC`]: the acks it got for this boot spoke of
    /// sequence numbers it never sent (docs/PROTOCOL.md, section 6.4).
    pub fn resync(&self) -> bool {
        self.flags & FLAG_RESYNC != 0
    }

    /// Number of samples whose metric id this build knows.
    pub fn known_samples(&self) -> u16 {
        self.known
    }

    /// Number of samples skipped because their metric id is newer than this build.
    pub fn unknown_samples(&self) -> u16 {
        self.unknown
    }

    /// Hands `visit` every group's labels and known samples again, in frame order, as
    /// [`parse_with`](Self::parse_with) did (not the header): a second reader of an
    /// already validated frame, without the copy of the labels that each item of
    /// [`samples`](Self::samples) carries. A group's labels come once per group.
    ///
    /// ```
    /// use pimon_protocol::{DataFrame, DataHeader, EncodedLabels, FrameWriter, Value, seal};
    /// use pimon_protocol::catalog::Metric;
    /// use pimon_protocol::frame::Visit;
    ///
    /// #[derive(Default)]
    /// struct Seen(Vec<String>);
    /// impl<'a> Visit<'a> for Seen {
    ///     fn group(&mut self, labels: &[&'a str]) {
    ///         self.0.push(labels.join(","));
    ///     }
    ///     fn sample(&mut self, metric: &'static Metric, value: Value) {
    ///         self.0.push(format!("{}={value:?}", metric.id));
    ///     }
    /// }
    /// let header = DataHeader {
    ///     node: "pi", boot_id: 1, seq: 2, resend_floor: 0, timestamp_ms: 3, interval_ms: 10_000,
    ///     user_hz: 100, part: 0, parts: 1, key_id: None,
    /// };
    /// let mut buf = [0u8; 1232];
    /// let mut w = FrameWriter::new(&mut buf, &header).unwrap();
    /// w.begin_group(&EncodedLabels::encode(&["eth0"]).unwrap()).unwrap();
    /// w.push(5, Value::Unsigned(300)).unwrap();
    /// w.push(6, Value::Unsigned(12)).unwrap();
    /// let len = w.finish();
    /// let len = seal(&mut buf, len, 1, None).unwrap();
    /// let frame = DataFrame::parse(&buf[..len]).unwrap();
    /// let mut seen = Seen::default();
    /// frame.visit(&mut seen);
    /// assert_eq!(seen.0, ["eth0", "5=Unsigned(300)", "6=Unsigned(12)"]);
    /// ```
    pub fn visit(&self, visit: &mut impl Visit<'a>) {
        // The body was validated when the frame was parsed: this walk cannot fail.
        let _ = validate_body(self.body, visit);
    }

    /// The known samples, in frame order.
    pub fn samples(&self) -> Samples<'a> {
        Samples {
            rest: self.body,
            labels: heapless::Vec::new(),
            left: 0,
            prev_id: 0,
        }
    }
}

/// One decoded sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// The catalog row of the metric.
    pub metric: &'static Metric,
    /// Instance label values, in the order of `metric.labels`.
    pub labels: heapless::Vec<&'a str, MAX_LABELS>,
    /// The raw value.
    pub value: Value,
}

/// Iterator over the known samples of a [`DataFrame`].
pub struct Samples<'a> {
    rest: &'a [u8],
    labels: heapless::Vec<&'a str, MAX_LABELS>,
    left: u8,
    prev_id: u16,
}

impl<'a> Iterator for Samples<'a> {
    type Item = Sample<'a>;

    fn next(&mut self) -> Option<Sample<'a>> {
        loop {
            if self.left == 0 {
                if self.rest.is_empty() {
                    return None;
                }
                let (labels, count) = take_group_header(&mut self.rest).ok()?;
                self.labels = labels;
                self.left = count;
                self.prev_id = 0;
            }
            let (id, value) = take_sample(&mut self.rest, self.prev_id).ok()?;
            self.left -= 1;
            self.prev_id = id;
            if let Some(metric) = catalog::lookup(id) {
                return Some(Sample {
                    metric,
                    labels: self.labels.clone(),
                    value,
                });
            }
        }
    }
}

fn take_group_header<'a>(
    rest: &mut &'a [u8],
) -> Result<(heapless::Vec<&'a str, MAX_LABELS>, u8), Error> {
    let n = wire::take_u32(rest)?;
    if n as usize > MAX_LABELS {
        return Err(Error::DecodeBadGroup);
    }
    let mut labels = heapless::Vec::new();
    for _ in 0..n {
        let l = wire::take_str(rest)?;
        if l.len() > MAX_LABEL_LEN {
            return Err(Error::DecodeBadGroup);
        }
        labels.push(l).map_err(|_| Error::DecodeBadGroup)?;
    }
    let count: u8 = wire::take_bytes(rest, 1)?[0];
    if count == 0 || count > MAX_GROUP_SAMPLES {
        return Err(Error::DecodeBadGroup);
    }
    Ok((labels, count))
}

#[inline(always)]
fn take_sample(rest: &mut &[u8], prev_id: u16) -> Result<(u16, Value), Error> {
    let key = wire::take_u64(rest)?;
    let id = u16::try_from(key >> 2)
        .ok()
        .and_then(|d| prev_id.checked_add(d))
        .ok_or(Error::DecodeBadVarint)?;
    let value = match key & 3 {
        KIND_UNSIGNED => Value::Unsigned(wire::take_u64(rest)?),
        KIND_SIGNED => Value::Signed(wire::take_i64(rest)?),
        KIND_F32 => {
            let b = wire::take_bytes(rest, 4)?;
            Value::F32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        _ => {
            let b = wire::take_bytes(rest, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Value::F64(f64::from_le_bytes(a))
        }
    };
    Ok((id, value))
}

/// What [`DataFrame::parse_with`] hands over while it validates a frame, in frame
/// order: the header (checked), then each group's label values and the group's samples
/// of the metrics this build knows (samples of newer ids are skipped, as
/// [`DataFrame::samples`] skips them).
pub trait Visit<'a> {
    /// The frame's header, before any group.
    fn header(&mut self, _header: &DataHeader<'a>) {}
    /// A group opens: the samples that follow carry these label values (at most
    /// [`MAX_LABELS`], each valid UTF-8 of at most [`MAX_LABEL_LEN`] bytes).
    fn group(&mut self, labels: &[&'a str]);
    /// A sample of the open group.
    fn sample(&mut self, metric: &'static Metric, value: Value);
}

/// Visits nothing: [`DataFrame::parse`].
impl<'a> Visit<'a> for () {
    #[inline(always)]
    fn group(&mut self, _labels: &[&'a str]) {}
    #[inline(always)]
    fn sample(&mut self, _metric: &'static Metric, _value: Value) {}
}

/// Walks the body once, handing `visit` what it finds; returns (known, unknown) sample
/// counts.
fn validate_body<'a>(mut rest: &'a [u8], visit: &mut impl Visit<'a>) -> Result<(u16, u16), Error> {
    let (mut known, mut unknown) = (0u16, 0u16);
    while !rest.is_empty() {
        let (labels, count) = take_group_header(&mut rest)?;
        visit.group(&labels);
        let mut prev = 0;
        for _ in 0..count {
            let (id, value) = take_sample(&mut rest, prev)?;
            prev = id;
            match catalog::lookup(id) {
                Some(metric) => {
                    known = known.saturating_add(1);
                    visit.sample(metric, value);
                }
                None => unknown = unknown.saturating_add(1),
            }
        }
    }
    Ok((known, unknown))
}

#[cfg(test)]
mod tests {
    //! The one-pass decoder against the former one (postcard's generic decoding of
    //! every field, then a second walk for the samples), kept here as the reference:
    //! the same frames accepted, the same errors, the same samples.
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    /// The former group header: postcard for the count and each label.
    fn reference_group_header<'a>(
        rest: &mut &'a [u8],
    ) -> Result<(heapless::Vec<&'a str, MAX_LABELS>, u8), Error> {
        let n: u32 = wire::take(rest)?;
        if n as usize > MAX_LABELS {
            return Err(Error::DecodeBadGroup);
        }
        let mut labels = heapless::Vec::new();
        for _ in 0..n {
            let l: &str = wire::take(rest)?;
            if l.len() > MAX_LABEL_LEN {
                return Err(Error::DecodeBadGroup);
            }
            labels.push(l).map_err(|_| Error::DecodeBadGroup)?;
        }
        let count: u8 = wire::take_bytes(rest, 1)?[0];
        if count == 0 || count > MAX_GROUP_SAMPLES {
            return Err(Error::DecodeBadGroup);
        }
        Ok((labels, count))
    }

    /// The former sample: postcard for the key and the integers.
    fn reference_sample(rest: &mut &[u8], prev_id: u16) -> Result<(u16, Value), Error> {
        let key: u64 = wire::take(rest)?;
        let id = u16::try_from(key >> 2)
            .ok()
            .and_then(|d| prev_id.checked_add(d))
            .ok_or(Error::DecodeBadVarint)?;
        let value = match key & 3 {
            KIND_UNSIGNED => Value::Unsigned(wire::take(rest)?),
            KIND_SIGNED => Value::Signed(wire::take(rest)?),
            KIND_F32 => {
                let b = wire::take_bytes(rest, 4)?;
                Value::F32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => {
                let b = wire::take_bytes(rest, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::F64(f64::from_le_bytes(a))
            }
        };
        Ok((id, value))
    }

    type Decoded<'a> = Vec<(heapless::Vec<&'a str, MAX_LABELS>, u16, Value)>;

    /// A group to write: its label values and its (metric id, value) samples.
    type Group = (Vec<String>, Vec<(u16, Value)>);

    /// The former body validation, then the samples the former iterator gave.
    fn reference_body(body: &[u8]) -> Result<(u16, u16, Decoded<'_>), Error> {
        let (mut known, mut unknown) = (0u16, 0u16);
        let mut samples = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let (labels, count) = reference_group_header(&mut rest)?;
            let mut prev = 0;
            for _ in 0..count {
                let (id, value) = reference_sample(&mut rest, prev)?;
                prev = id;
                if catalog::lookup(id).is_some() {
                    known = known.saturating_add(1);
                    samples.push((labels.clone(), id, value));
                } else {
                    unknown = unknown.saturating_add(1);
                }
            }
        }
        Ok((known, unknown, samples))
    }

    #[derive(Default)]
    struct Collect<'a> {
        header: Option<DataHeader<'a>>,
        labels: heapless::Vec<&'a str, MAX_LABELS>,
        samples: Decoded<'a>,
    }

    impl<'a> Visit<'a> for Collect<'a> {
        fn header(&mut self, header: &DataHeader<'a>) {
            self.header = Some(*header);
        }
        fn group(&mut self, labels: &[&'a str]) {
            self.labels = labels.iter().copied().collect();
        }
        fn sample(&mut self, metric: &'static Metric, value: Value) {
            self.samples.push((self.labels.clone(), metric.id, value));
        }
    }

    /// Bit patterns, so that NaN equals NaN.
    fn bits(samples: &Decoded<'_>) -> Vec<(Vec<String>, u16, u8, u64)> {
        samples
            .iter()
            .map(|(labels, id, v)| {
                let (kind, b) = match *v {
                    Value::Unsigned(x) => (0, x),
                    Value::Signed(x) => (1, x as u64),
                    Value::F32(x) => (2, u64::from(x.to_bits())),
                    Value::F64(x) => (3, x.to_bits()),
                };
                (labels.iter().map(|l| l.to_string()).collect(), *id, kind, b)
            })
            .collect()
    }

    /// A body as bytes: the one-pass decoder accepts exactly what the reference does,
    /// with the same error, and finds the same samples, by its visitor and by
    /// [`DataFrame::samples`].
    fn check_body(body: &[u8]) {
        let mut datagram = Vec::new();
        let header = DataHeader {
            node: "pi",
            boot_id: 7,
            seq: 3,
            resend_floor: 1,
            timestamp_ms: 1_700_000_000_000,
            interval_ms: 1000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: None,
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        let len = FrameWriter::new(&mut buf, &header).unwrap().finish();
        datagram.extend_from_slice(&buf[..len]);
        datagram.extend_from_slice(body);
        if datagram.len() > MAX_DATAGRAM {
            return;
        }
        let reference = reference_body(body);
        let mut seen = Collect::default();
        let got = DataFrame::parse_with(&datagram, &mut seen);
        let plain = DataFrame::parse(&datagram);
        match (&reference, &got) {
            (Ok((known, unknown, samples)), Ok(frame)) => {
                assert_eq!(
                    (frame.known_samples(), frame.unknown_samples()),
                    (*known, *unknown)
                );
                assert_eq!(seen.header, Some(header));
                assert_eq!(bits(&seen.samples), bits(samples));
                let walked: Decoded<'_> = frame
                    .samples()
                    .map(|s| (s.labels, s.metric.id, s.value))
                    .collect();
                assert_eq!(bits(&walked), bits(samples));
            }
            (Err(want), Err(e)) => assert_eq!(e, want, "body {body:02x?}"),
            _ => panic!("reference {reference:?}, one pass {got:?}, body {body:02x?}"),
        }
        assert_eq!(
            plain.map(|f| (f.known, f.unknown)),
            got.map(|f| (f.known, f.unknown))
        );
    }

    /// A valid body: groups of real catalog ids and all four kinds of values.
    fn valid_body(groups: &[Group]) -> Vec<u8> {
        let header = DataHeader {
            node: "pi",
            boot_id: 7,
            seq: 3,
            resend_floor: 1,
            timestamp_ms: 1_700_000_000_000,
            interval_ms: 1000,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: None,
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        let empty = FrameWriter::new(&mut buf, &header).unwrap().finish();
        let mut w = FrameWriter::new(&mut buf, &header).unwrap();
        'groups: for (labels, samples) in groups {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let Ok(encoded) = EncodedLabels::encode(&labels) else {
                continue;
            };
            if w.begin_group(&encoded).is_err() {
                break;
            }
            for &(id, v) in samples {
                if w.push(id, v).is_err() {
                    break 'groups;
                }
            }
        }
        let len = w.finish();
        buf[empty..len].to_vec()
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<u64>().prop_map(Value::Unsigned),
            (0u64..300).prop_map(Value::Unsigned),
            any::<i64>().prop_map(Value::Signed),
            any::<f32>().prop_map(Value::F32),
            any::<f64>().prop_map(Value::F64),
        ]
    }

    fn groups() -> impl Strategy<Value = Vec<Group>> {
        let label = prop_oneof!["[a-z0-9]{0,12}", ".{0,3}", "[a-z]{120,140}"];
        let ids = (0u16..(catalog::CATALOG.len() as u16 + 40), value());
        prop::collection::vec(
            (
                prop::collection::vec(label, 0..6),
                prop::collection::vec(ids, 1..20),
            ),
            0..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn one_pass_decodes_valid_bodies_as_the_reference(groups in groups()) {
            check_body(&valid_body(&groups));
        }

        #[test]
        fn one_pass_rejects_mutated_bodies_as_the_reference(
            groups in groups(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut body = valid_body(&groups);
            for (at, byte) in flips {
                if !body.is_empty() {
                    let i = at.index(body.len());
                    body[i] = byte;
                }
            }
            check_body(&body);
            let keep = cut.index(body.len() + 1);
            check_body(&body[..keep]);
        }

        #[test]
        fn one_pass_rejects_any_bytes_as_the_reference(
            body in prop::collection::vec(
                prop_oneof![any::<u8>(), 0x80u8..=0xff, 0u8..4],
                0..64,
            )
        ) {
            check_body(&body);
        }
    }

    #[test]
    fn varint_edges_decode_as_the_reference() {
        // Keys and values at the edges of postcard's varints: longest forms, a last
        // byte one too large, overlong zeros, one byte too many, cut short.
        let ten = |last: u8| {
            let mut v = vec![0xffu8; 9];
            v.push(last);
            v
        };
        let cases: Vec<Vec<u8>> = vec![
            vec![0x00, 0x01, 0x04, 0x05],
            [vec![0x00, 0x01, 0x04], ten(0x01)].concat(),
            [vec![0x00, 0x01, 0x04], ten(0x02)].concat(),
            [vec![0x00, 0x01, 0x04], ten(0x81)].concat(),
            [vec![0x00, 0x01, 0x04], vec![0x80; 10], vec![0x00]].concat(),
            vec![0x00, 0x01, 0x84, 0x80, 0x80, 0x00, 0x07],
            vec![0x00, 0x01, 0x85, 0x00, 0x05],
            vec![
                0x00, 0x01, 0x05, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            vec![0x00, 0x01, 0x05, 0xff, 0xff],
            vec![0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x04, 0x00],
            vec![0x80, 0x80, 0x80, 0x80, 0x0f, 0x01, 0x04, 0x00],
            vec![0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x04, 0x00],
            vec![0x01, 0x81, 0x80, 0x00, b'a', 0x01, 0x04, 0x00],
            vec![0x01, 0x02, 0xc3, 0x28, 0x01, 0x04, 0x00],
            vec![0x01, 0x05, b'a'],
            vec![0x0d, 0x01, 0x04, 0x00],
            vec![0x00, 0x00],
            vec![0x00, 0x80, 0x04, 0x00],
            vec![0x00, 0x01, 0x06, 0x00, 0x00],
            vec![0x00, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00],
            vec![0x00, 0x01, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ];
        for body in cases {
            check_body(&body);
        }
        let mut long_label = vec![0x01, 0x80, 0x02];
        long_label.extend_from_slice(&[b'x'; 256]);
        long_label.extend_from_slice(&[0x01, 0x04, 0x00]);
        check_body(&long_label);
    }
}
