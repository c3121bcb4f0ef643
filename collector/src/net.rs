//! The network side: one UDP socket to the aggregator, and the acks coming back.
//!
//! - `--aggregator HOST:PORT` is resolved at start. A failed resolution is not fatal:
//!   frames wait in the ring, and resolution is retried (at most every
//!   [`RESOLVE_RETRY`]). A send that fails with anything but "buffer full" also
//!   triggers a new resolution, so a DHCP/DNS change of the aggregator's address is
//!   followed. (Resolution allocates inside libc/std; it happens only at start and
//!   after failures, never in a healthy steady state.)
//! - The socket is unconnected (`send_to`), bound to an ephemeral port of the target's
//!   address family; acks come back to that port.
//! - The socket is non-blocking; [`Net::wait_ack`] takes a waiting datagram at once
//!   or waits with `poll(2)` up to a timeout (millisecond precision, returning early on
//!   a signal; a zero timeout only looks), and checks it: an ack, for this node and boot id, with a valid MAC when a
//!   key is configured (a keyed collector ignores unauthenticated acks). Anything else
//!   is counted and ignored.
//!
//! No allocation on the send and receive paths.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use pimon_protocol::{Ack, Key, MAX_DATAGRAM, Reason, Refusal};

use crate::log::{self, RateLimit};

/// Shortest time between two resolutions of the aggregator's address.
pub const RESOLVE_RETRY: Duration = Duration::from_secs(10);

/// Counters of the network side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// Sends that failed (including while the address was unresolved).
    pub send_errors: u64,
    /// Acks accepted.
    pub acks: u64,
    /// Datagrams received and ignored (not an ack, other node or boot, bad MAC).
    pub ignored: u64,
    /// Resolutions of the aggregator's address attempted.
    pub resolutions: u64,
}

/// What [`Net::wait_ack`] saw.
///
/// The ack is returned by value, borrowing the receive buffer: no heap, once per wait.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Received<'a> {
    /// A checked ack for this node and boot.
    Ack(Ack<'a>),
    /// A refusal (protocol 1.2) naming our node and boot: the aggregator says why it
    /// did not take our frames. Unauthenticated, so only a hint for the log (counted in
    /// [`NetStats::ignored`] too: it changes nothing else).
    Refused(Reason),
    /// A datagram that was not a valid ack for us (counted in [`NetStats::ignored`]).
    Ignored,
    /// Nothing arrived within the timeout.
    Timeout,
    /// A signal interrupted the wait.
    Interrupted,
}

/// The UDP socket to the aggregator.
pub struct Net {
    spec: String,
    /// An address that needs no resolution (the default gateway).
    fixed: Option<SocketAddr>,
    node: String,
    boot_id: u64,
    key: Option<Key>,
    target: Option<SocketAddr>,
    socket: Option<UdpSocket>,
    resolve_due: bool,
    last_resolve: Option<Instant>,
    log_limit: RateLimit,
    stats: NetStats,
    buf: [u8; MAX_DATAGRAM + 1],
}

impl Net {
    /// A sender to `spec` (`HOST:PORT`) for `node` and `boot_id`, MAC-checking acks
    /// with `key`. Resolves at once; a failure is logged and retried later.
    pub fn new(spec: &str, node: &str, boot_id: u64, key: Option<Key>) -> Net {
        Net::build(spec, None, node, boot_id, key)
    }

    /// A sender to a known address (shown as `spec`), which is never resolved: the
    /// default gateway, a link-local IPv6 router with its interface.
    pub fn to_addr(
        spec: &str,
        addr: SocketAddr,
        node: &str,
        boot_id: u64,
        key: Option<Key>,
    ) -> Net {
        Net::build(spec, Some(addr), node, boot_id, key)
    }

    fn build(
        spec: &str,
        fixed: Option<SocketAddr>,
        node: &str,
        boot_id: u64,
        key: Option<Key>,
    ) -> Net {
        let mut net = Net {
            spec: spec.to_string(),
            fixed,
            node: node.to_string(),
            boot_id,
            key,
            target: None,
            socket: None,
            resolve_due: true,
            last_resolve: None,
            log_limit: RateLimit::new(Duration::from_secs(60)),
            stats: NetStats::default(),
            buf: [0; MAX_DATAGRAM + 1],
        };
        net.maintain(Instant::now());
        net
    }

    /// Whether a datagram waits on the socket now (without taking it).
    pub fn readable_now(&self) -> bool {
        self.socket
            .as_ref()
            .is_some_and(|s| crate::sys::wait_readable(s.as_fd(), Duration::ZERO).unwrap_or(false))
    }

    /// Counters so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// The resolved aggregator address, if any.
    pub fn target(&self) -> Option<SocketAddr> {
        self.target
    }

    /// The local address of the socket, if bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Replaces the key (SIGHUP reload).
    pub fn set_key(&mut self, key: Option<Key>) {
        self.key = key;
    }

    /// Whether [`maintain`](Self::maintain) has an address to resolve.
    pub fn resolving(&self) -> bool {
        self.resolve_due
    }

    /// Resolves the aggregator's address if a resolution is due and allowed now.
    pub fn maintain(&mut self, now: Instant) {
        if !self.resolve_due
            || self
                .last_resolve
                .is_some_and(|t| now.saturating_duration_since(t) < RESOLVE_RETRY)
        {
            return;
        }
        self.last_resolve = Some(now);
        self.stats.resolutions += 1;
        let resolved = match self.fixed {
            Some(addr) => Ok(Some(addr)),
            None => self.spec.to_socket_addrs().map(|mut a| a.next()),
        };
        match resolved {
            Ok(Some(addr)) => {
                if let Err(e) = self.bind_for(addr) {
                    log::error!("cannot open a UDP socket for {addr}: {e}");
                    return;
                }
                if self.target != Some(addr) {
                    log::info!("sending to {} ({addr})", self.spec);
                }
                self.target = Some(addr);
                self.resolve_due = false;
            }
            Ok(None) => log::warning!("aggregator {}: no address found; will retry", self.spec),
            Err(e) => log::warning!("aggregator {}: cannot resolve ({e}); will retry", self.spec),
        }
    }

    fn bind_for(&mut self, addr: SocketAddr) -> std::io::Result<()> {
        let same_family = self
            .socket
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .is_some_and(|l| l.is_ipv4() == addr.is_ipv4());
        if !same_family {
            let any: SocketAddr = if addr.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(any)?;
            socket.set_nonblocking(true)?;
            self.socket = Some(socket);
        }
        Ok(())
    }

    /// Sends one datagram. Failures are counted, logged at a limited rate, and make the
    /// next [`maintain`](Self::maintain) resolve the address again; the datagram stays
    /// in the ring and is resent on timeout.
    pub fn send(&mut self, datagram: &[u8]) {
        let (Some(socket), Some(target)) = (&self.socket, self.target) else {
            self.stats.send_errors += 1;
            return;
        };
        match socket.send_to(datagram, target) {
            Ok(_) => self.stats.sent += 1,
            Err(e) => {
                self.stats.send_errors += 1;
                if e.kind() != ErrorKind::WouldBlock {
                    self.resolve_due = true;
                }
                if let Some(suppressed) = self.log_limit.check(Instant::now()) {
                    log::warning!(
                        "send to {target} failed: {} ({suppressed} similar not logged)",
                        e.kind()
                    );
                }
            }
        }
    }

    /// Takes one waiting datagram, or waits up to `timeout` for one, and checks it (see
    /// the module docs). `Duration::ZERO` only looks. Without a socket it sleeps (at
    /// most 100 ms, so a stop request is seen).
    pub fn wait_ack(&mut self, timeout: Duration) -> Received<'_> {
        let Some(socket) = &self.socket else {
            std::thread::sleep(timeout.min(Duration::from_millis(100)));
            return Received::Timeout;
        };
        let mut waited = false;
        let n = loop {
            match socket.recv_from(&mut self.buf) {
                Ok((n, _from)) => break n,
                Err(e) if e.kind() == ErrorKind::WouldBlock && !waited && !timeout.is_zero() => {
                    waited = true;
                    match crate::sys::wait_readable(socket.as_fd(), timeout) {
                        Ok(true) => continue,
                        Ok(false) => return Received::Timeout,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {
                            return Received::Interrupted;
                        }
                        Err(_) => return Received::Timeout,
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => return Received::Interrupted,
                // WouldBlock after the wait, or an ICMP error reported on the socket.
                Err(_) => return Received::Timeout,
            }
        };
        let datagram = &self.buf[..n];
        match check_ack(datagram, &self.node, self.boot_id, self.key.as_ref()) {
            Some(ack) => {
                self.stats.acks += 1;
                Received::Ack(ack)
            }
            None => {
                self.stats.ignored += 1;
                match Refusal::parse(datagram) {
                    Ok(r) if r.node == self.node && r.boot_id == self.boot_id => {
                        Received::Refused(r.reason)
                    }
                    _ => Received::Ignored,
                }
            }
        }
    }
}

/// Parses `datagram` as an ack and accepts it only for `node` and `boot_id`, with a
/// valid MAC when `key` is given.
pub fn check_ack<'a>(
    datagram: &'a [u8],
    node: &str,
    boot_id: u64,
    key: Option<&Key>,
) -> Option<Ack<'a>> {
    let ack = Ack::parse(datagram).ok()?;
    if ack.node != node || ack.boot_id != boot_id {
        return None;
    }
    if let Some(key) = key {
        ack.verify(datagram, key).ok()?;
    }
    Some(ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pimon_protocol::Gap;

    fn ack_bytes(node: &str, boot: u64, key: Option<&Key>) -> Vec<u8> {
        let mut gaps = heapless::Vec::new();
        gaps.push(Gap { start: 1, len: 1 }).unwrap();
        let ack = Ack {
            node,
            boot_id: boot,
            acked_below: 1,
            seen_below: 3,
            gaps,
            key_id: None,
        };
        let mut buf = [0u8; 128];
        let n = ack.emit(&mut buf, key).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn acks_are_checked_for_node_boot_and_mac() {
        let key = Key::new(1, b"k1").unwrap();
        let other = Key::new(1, b"k2").unwrap();
        let plain = ack_bytes("pi", 7, None);
        let keyed = ack_bytes("pi", 7, Some(&key));
        assert!(check_ack(&plain, "pi", 7, None).is_some());
        assert!(
            check_ack(&keyed, "pi", 7, None).is_some(),
            "unkeyed collector: MAC not needed"
        );
        assert!(check_ack(&keyed, "pi", 7, Some(&key)).is_some());
        assert!(
            check_ack(&plain, "pi", 7, Some(&key)).is_none(),
            "keyed: unauthenticated ack"
        );
        assert!(
            check_ack(&keyed, "pi", 7, Some(&other)).is_none(),
            "wrong key"
        );
        assert!(check_ack(&plain, "pj", 7, None).is_none(), "other node");
        assert!(check_ack(&plain, "pi", 8, None).is_none(), "other boot");
        assert!(check_ack(b"junk", "pi", 7, None).is_none());
    }

    #[test]
    fn sends_and_receives_on_loopback() {
        let agg = UdpSocket::bind("127.0.0.1:0").unwrap();
        let spec = agg.local_addr().unwrap().to_string();
        let mut net = Net::new(&spec, "pi", 7, None);
        assert_eq!(net.target(), Some(agg.local_addr().unwrap()));
        net.send(b"hello");
        let mut buf = [0u8; 64];
        let (n, from) = agg.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert!(matches!(
            net.wait_ack(Duration::from_millis(10)),
            Received::Timeout
        ));
        agg.send_to(b"not an ack", from).unwrap();
        assert!(matches!(
            net.wait_ack(Duration::from_secs(5)),
            Received::Ignored
        ));
        agg.send_to(&ack_bytes("pi", 7, None), from).unwrap();
        match net.wait_ack(Duration::from_secs(5)) {
            Received::Ack(a) => assert_eq!((a.acked_below, a.seen_below), (1, 3)),
            other => panic!("{other:?}"),
        }
        let s = net.stats();
        assert_eq!((s.sent, s.acks, s.ignored, s.send_errors), (1, 1, 1, 0));
    }

    #[test]
    fn unresolvable_is_not_fatal_and_counts_send_errors() {
        let mut net = Net::new("missing-port", "pi", 7, None);
        assert_eq!(net.target(), None);
        net.send(b"x");
        assert_eq!(net.stats().send_errors, 1);
        assert!(matches!(
            net.wait_ack(Duration::from_millis(5)),
            Received::Timeout
        ));
    }
}
