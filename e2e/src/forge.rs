//! Hostile senders: frames built with the protocol's own encoder
//! (`pimon_protocol::FrameWriter`, exactly the bytes a collector would send) but with
//! whatever header an attacker likes (a node's name with a new boot id, a sequence
//! number a million ahead, a huge resend floor, a name with NUL bytes, a wrong MAC),
//! sent from a loopback address of the attacker's own (`127.66.x.y`), so that the
//! aggregator sees a sender other than the honest collectors. [`Attacker`] counts the
//! bytes it sent and the acks (and bytes) it got back.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use pimon_protocol::catalog::id;
use pimon_protocol::wire::PREAMBLE_LEN;
use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, Key, MAX_DATAGRAM, Value, seal};

/// The header fields of a forged frame.
#[derive(Clone, Debug)]
pub struct Forged {
    /// Node name (any bytes the encoder takes: 1–32 of them).
    pub node: String,
    /// Boot id.
    pub boot_id: u64,
    /// Sequence number.
    pub seq: u64,
    /// Resend floor.
    pub resend_floor: u64,
    /// Timestamp, Unix ms.
    pub timestamp_ms: u64,
    /// MAC key (`None`: unauthenticated).
    pub key: Option<Key>,
}

impl Forged {
    /// A frame of `node` with `boot_id`, `seq`, floor 0, timestamp now, no MAC.
    pub fn new(node: &str, boot_id: u64, seq: u64) -> Forged {
        Forged {
            node: node.to_string(),
            boot_id,
            seq,
            resend_floor: 0,
            timestamp_ms: crate::clock::now_ms(),
            key: None,
        }
    }

    /// With this resend floor.
    pub fn floor(mut self, resend_floor: u64) -> Forged {
        self.resend_floor = resend_floor;
        self
    }

    /// With this timestamp.
    pub fn at(mut self, timestamp_ms: u64) -> Forged {
        self.timestamp_ms = timestamp_ms;
        self
    }

    /// MACed with `key`.
    pub fn keyed(mut self, key: Key) -> Forged {
        self.key = Some(key);
        self
    }

    /// The datagram: a load average and the memory total (two fields), one part.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes_with(&[
            (id::LOAD1, Value::Unsigned(42)),
            (id::MEM_MEMTOTAL, Value::Unsigned(1024)),
        ])
    }

    /// The datagram with these unlabelled samples (ascending ids), one part.
    ///
    /// The encoder refuses what no collector may send (a name with control bytes, a
    /// resend floor above the sequence number), so the frame is encoded with stand-ins
    /// (`x`s of the name's length, floor 0) and the attacker's bytes are written over
    /// them: the name in place, the floor's varint spliced in (then sealed).
    pub fn bytes_with(&self, samples: &[(u16, Value)]) -> Vec<u8> {
        let name = self.node.as_bytes();
        assert!(
            !name.is_empty() && name.len() < 128,
            "a one-byte name length"
        );
        let stand_in = "x".repeat(name.len());
        let header = DataHeader {
            node: &stand_in,
            boot_id: self.boot_id,
            seq: self.seq,
            resend_floor: 0,
            timestamp_ms: self.timestamp_ms,
            interval_ms: 100,
            user_hz: 100,
            part: 0,
            parts: 1,
            key_id: self.key.as_ref().map(Key::id),
        };
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut w = FrameWriter::new(&mut buf, &header).expect("forged header encodes");
        if !samples.is_empty() {
            w.begin_group(&EncodedLabels::encode(&[]).expect("no labels"))
                .expect("group");
            for (metric, value) in samples {
                w.push(*metric, *value).expect("sample fits");
            }
        }
        let len = w.finish();
        // Header: name length, name, seq, floor (varints), then the rest.
        let name_at = PREAMBLE_LEN + 1;
        let mut frame = buf[..len].to_vec();
        frame[name_at..name_at + name.len()].copy_from_slice(name);
        let floor_at = name_at + name.len() + varint(self.seq).len();
        assert_eq!(frame[floor_at], 0, "the stand-in floor");
        frame.splice(floor_at..floor_at + 1, varint(self.resend_floor));
        let mut buf = [0u8; MAX_DATAGRAM];
        buf[..frame.len()].copy_from_slice(&frame);
        let len = seal(&mut buf, frame.len(), 1, self.key.as_ref()).expect("seal");
        buf[..len].to_vec()
    }
}

/// `v` as the protocol's (postcard's) unsigned varint: 7 bits a byte, low bits first.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// A sender on its own loopback address, counting what it sent and got back.
pub struct Attacker {
    socket: UdpSocket,
    /// Datagrams sent.
    pub sent: u64,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Datagrams received (acks).
    pub received: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// The largest datagram received.
    pub largest_received: usize,
}

impl Attacker {
    /// Binds `127.66.0.host:0`.
    pub fn bind(host: u8) -> Attacker {
        let ip = Ipv4Addr::new(127, 66, 0, host.max(1));
        let socket = UdpSocket::bind(SocketAddrV4::new(ip, 0))
            .unwrap_or_else(|e| panic!("bind an attacker socket on {ip}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(1)))
            .expect("read timeout");
        Attacker {
            socket,
            sent: 0,
            sent_bytes: 0,
            received: 0,
            received_bytes: 0,
            largest_received: 0,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("attacker address")
    }

    /// Sends one datagram to `to` (errors ignored: a flood does not stop for them).
    pub fn send(&mut self, to: SocketAddr, bytes: &[u8]) {
        if self.socket.send_to(bytes, to).is_ok() {
            self.sent += 1;
            self.sent_bytes += bytes.len() as u64;
        }
    }

    /// Sends every datagram of `batch` to `to` with one `sendmmsg(2)` per 64 (a flood
    /// at tens of thousands of datagrams per second from one thread); returns how
    /// many the kernel took.
    pub fn send_batch(&mut self, to: SocketAddr, batch: &[Vec<u8>]) -> usize {
        let SocketAddr::V4(to) = to else {
            panic!("the attacker sends to IPv4 loopback only, not {to}")
        };
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: to.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(to.ip().octets()),
            },
            sin_zero: [0; 8],
        };
        let mut total = 0;
        for chunk in batch.chunks(64) {
            let mut iovs: Vec<libc::iovec> = chunk
                .iter()
                .map(|d| libc::iovec {
                    iov_base: d.as_ptr() as *mut libc::c_void,
                    iov_len: d.len(),
                })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = iovs
                .iter_mut()
                .map(|iov| {
                    // SAFETY: an all-zero msghdr is a valid "no control data" header.
                    let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    h.msg_hdr.msg_name = (&addr as *const libc::sockaddr_in).cast_mut().cast();
                    h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                    h.msg_hdr.msg_iov = iov;
                    h.msg_hdr.msg_iovlen = 1;
                    h
                })
                .collect();
            // SAFETY: `msgs` holds `msgs.len()` headers whose name and iovec pointers
            // refer to `addr`, `iovs` and `chunk`, all alive across the call.
            let n = unsafe {
                libc::sendmmsg(
                    std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                    msgs.as_mut_ptr(),
                    msgs.len() as libc::c_uint,
                    0,
                )
            };
            if n > 0 {
                let n = n as usize;
                total += n;
                self.sent += n as u64;
                self.sent_bytes += chunk[..n].iter().map(|d| d.len() as u64).sum::<u64>();
            }
        }
        total
    }

    /// Reads whatever came back within `wait`, counting it; returns the datagrams.
    pub fn drain(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + wait;
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, _)) => {
                    self.received += 1;
                    self.received_bytes += n as u64;
                    self.largest_received = self.largest_received.max(n);
                    out.push(buf[..n].to_vec());
                }
                Err(_) => {
                    if Instant::now() >= deadline {
                        return out;
                    }
                }
            }
        }
    }
}
