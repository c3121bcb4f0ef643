//! `--check`'s round trip: one probe to the aggregator, and what came back.
//!
//! A probe (protocol 1.2) is an empty data frame under its own kind, MACed like the
//! collector's frames: the aggregator checks it exactly as it would check a frame and
//! answers with an ack or a refusal naming the cause, but stores nothing and changes no
//! state, so `--check` can run beside the running collector. The probe has its own
//! random boot id; the answer must name it (and, with a key, carry a valid MAC).

use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use pimon_protocol::frame::write_probe;
use pimon_protocol::{DataHeader, Key, MAX_DATAGRAM, Reason, Refusal};

use crate::ack_watch::{SILENT_CAUSES, explain};
use crate::net::check_ack;

/// How long `--check` waits for the answer.
pub const WAIT: Duration = Duration::from_secs(2);

/// What one round trip found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundTrip {
    /// An ack (with a valid MAC when keyed) after this long.
    Acked(Duration),
    /// The aggregator refused the probe.
    Refused(Reason),
    /// No answer within the wait.
    NoAnswer(Duration),
    /// The host said nothing listens on that port (ICMP port unreachable).
    PortClosed,
    /// The probe could not be sent.
    Failed(String),
}

impl RoundTrip {
    /// True when the aggregator would take this collector's frames.
    pub fn is_acked(&self) -> bool {
        matches!(self, RoundTrip::Acked(_))
    }
}

impl fmt::Display for RoundTrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoundTrip::Acked(t) => write!(f, "acked in {} ms", t.as_millis()),
            RoundTrip::Refused(r) => write!(f, "refused: {}", explain(*r)),
            RoundTrip::NoAnswer(t) => write!(
                f,
                "no answer within {} s; likely causes: {SILENT_CAUSES}",
                t.as_secs()
            ),
            RoundTrip::PortClosed => f.write_str(
                "refused by the host: nothing listens on that UDP port (is the aggregator running, is the port right?)",
            ),
            RoundTrip::Failed(e) => write!(f, "cannot send: {e}"),
        }
    }
}

/// Sends one probe for `node` (interval `interval_ms`, `key`) to `to` and waits up to
/// `wait` for its answer.
pub fn round_trip(
    to: SocketAddr,
    node: &str,
    interval_ms: u32,
    key: Option<&Key>,
    wait: Duration,
) -> RoundTrip {
    let boot_id = crate::sys::random_u64();
    let header = DataHeader {
        node,
        boot_id,
        seq: 0,
        resend_floor: 0,
        timestamp_ms: crate::run::wall_ms(),
        interval_ms,
        user_hz: 100,
        part: 0,
        parts: 1,
        key_id: key.map(Key::id),
    };
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    let len = match write_probe(&mut buf, &header, key) {
        Ok(n) => n,
        Err(e) => return RoundTrip::Failed(format!("{e:?}")),
    };
    let any: SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = match UdpSocket::bind(any).and_then(|s| s.connect(to).map(|()| s)) {
        Ok(s) => s,
        Err(e) => return RoundTrip::Failed(e.to_string()),
    };
    let start = Instant::now();
    if let Err(e) = socket.send(&buf[..len]) {
        return RoundTrip::Failed(e.to_string());
    }
    loop {
        let left = wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return RoundTrip::NoAnswer(wait);
        }
        if socket.set_read_timeout(Some(left)).is_err() {
            return RoundTrip::NoAnswer(wait);
        }
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return RoundTrip::PortClosed,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return RoundTrip::NoAnswer(wait),
        };
        let datagram = &buf[..n];
        if check_ack(datagram, node, boot_id, key).is_some() {
            return RoundTrip::Acked(start.elapsed());
        }
        if let Ok(r) = Refusal::parse(datagram)
            && r.node == node
            && r.boot_id == boot_id
        {
            return RoundTrip::Refused(r.reason);
        }
    }
}
