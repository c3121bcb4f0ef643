//! UDP listeners: socket set-up, batched receive, and the kernel's drop counter.
//!
//! - Sockets are made with `socket2` so the receive buffer (`SO_RCVBUF`, default
//!   4 MiB) is set before any traffic, and `[::]:PORT` is dual-stack (IPv4 and IPv6 on
//!   one socket: `IPV6_V6ONLY` off). The kernel caps `SO_RCVBUF` at
//!   `net.core.rmem_max`; the buffer actually granted is exported and a smaller one is
//!   logged with the `sysctl` to raise the cap.
//! - Receive is batched: after the socket becomes readable, datagrams are read with
//!   non-blocking `recv_from` until `WouldBlock` or the batch is full, then handed over
//!   as one batch. Decoding happens elsewhere, so it never holds up the socket.
//! - Datagrams the kernel dropped because the buffer was full are the `drops` column
//!   of `/proc/net/udp` / `/proc/net/udp6` for the socket's inode
//!   ([`kernel_drops`]).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use pimon_protocol::MAX_DATAGRAM;
use smol::Async;
use socket2::{Domain, Protocol, Socket, Type};

/// A bound UDP listener.
#[derive(Debug)]
pub struct Listener {
    /// The socket, registered with smol's reactor.
    pub socket: Async<UdpSocket>,
    /// The address actually bound (port resolved).
    pub local: SocketAddr,
    /// The receive buffer the kernel granted (bytes, as `getsockopt` reports it).
    pub receive_buffer: usize,
    /// Inode of the socket, to find it in `/proc/net/udp*`.
    pub inode: Option<u64>,
}

/// Binds `addr` with a receive buffer of `recv_buffer` bytes. `[::]` is dual-stack.
pub fn bind(addr: SocketAddr, recv_buffer: usize) -> io::Result<Listener> {
    let domain = Domain::for_address(addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Dual-stack: accept IPv4 too (as v4-mapped addresses). Best effort.
        let _ = socket.set_only_v6(false);
    }
    if recv_buffer > 0 {
        // The kernel caps this at net.core.rmem_max; the result is read back below.
        let _ = socket.set_recv_buffer_size(recv_buffer);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let receive_buffer = socket.recv_buffer_size().unwrap_or(0);
    let std_socket: UdpSocket = socket.into();
    let local = std_socket.local_addr()?;
    let inode = socket_inode(&std_socket);
    Ok(Listener {
        socket: Async::new(std_socket)?,
        local,
        receive_buffer,
        inode,
    })
}

/// The socket's inode, from the `socket:[N]` link in `/proc/self/fd`.
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    parse_socket_link(link.to_str()?)
}

/// `socket:[12345]` → 12345.
pub fn parse_socket_link(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The rows of `/proc/net/udp` or `/proc/net/udp6`: each socket's local address
/// (`hex address:hex port`), inode and `drops` column. Never panics on any text.
fn proc_net_udp_rows(text: &str) -> impl Iterator<Item = (&str, u64, Option<u64>)> {
    // Skip the header line; rows print "tx_queue:rx_queue" and "tr:tm->when" as one
    // field each.
    text.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        if fields.len() < 13 {
            return None;
        }
        Some((fields[1], fields[9].parse().ok()?, fields[12].parse().ok()))
    })
}

/// Finds the `drops` column of the socket with `inode` in the text of `/proc/net/udp`
/// or `/proc/net/udp6`. Never panics on any text.
pub fn parse_proc_net_udp_drops(text: &str, inode: u64) -> Option<u64> {
    proc_net_udp_rows(text).find_map(|(_, i, drops)| (i == inode).then_some(drops)?)
}

/// The `drops` of the sockets bound to local `port`, summed, in the text of
/// `/proc/net/udp` or `/proc/net/udp6`; `None` when none is. Never panics on any text.
pub fn parse_proc_net_udp_port_drops(text: &str, port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    proc_net_udp_rows(text)
        .filter(|(local, _, _)| local.ends_with(&want))
        .map(|(_, _, drops)| drops)
        .reduce(|a, b| Some(a? + b?))?
}

/// Reads `/proc/net/udp` and `/proc/net/udp6` until `parse` finds its socket, up to
/// three times.
///
/// The kernel writes those tables a page at a time and resumes each page at a position
/// counted in the table: when other sockets open or close between two pages, a line
/// can be skipped. A socket that is not found is therefore looked for again before the
/// answer is "unknown".
fn read_proc_net_udp(parse: impl Fn(&str) -> Option<u64>) -> Option<u64> {
    (0..3).find_map(|_| {
        ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            parse(&text)
        })
    })
}

/// Datagrams the kernel dropped for the socket with `inode` (full receive buffer),
/// from `/proc/net/udp` and `/proc/net/udp6`.
pub fn kernel_drops(inode: u64) -> Option<u64> {
    read_proc_net_udp(|text| parse_proc_net_udp_drops(text, inode))
}

/// Datagrams the kernel dropped for the sockets bound to local `port` (another
/// process's: the benchmarks' load generator watches the aggregator's).
pub fn kernel_drops_at_port(port: u16) -> Option<u64> {
    read_proc_net_udp(|text| parse_proc_net_udp_port_drops(text, port))
}

/// A batch of received datagrams stored back to back in one buffer.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    /// (start, len, source) of each datagram.
    items: Vec<(u32, u16, SocketAddr)>,
}

impl Batch {
    /// An empty batch with room for `count` full-size datagrams.
    pub fn with_capacity(count: usize) -> Batch {
        Batch {
            data: Vec::with_capacity(count * MAX_DATAGRAM),
            items: Vec::with_capacity(count),
        }
    }

    /// Removes every datagram (keeps the buffers).
    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
    }

    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Appends one datagram.
    pub fn push(&mut self, datagram: &[u8], from: SocketAddr) {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(datagram);
        self.items.push((start, datagram.len() as u16, from));
    }

    /// Datagram `i` and its source.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let &(start, len, from) = self.items.get(i)?;
        let start = start as usize;
        let datagram = self
            .data
            .get(start..start + usize::from(len))
            .unwrap_or(&[]);
        Some((datagram, from))
    }

    /// The datagrams and their sources.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.items.iter().map(|&(start, len, from)| {
            let start = start as usize;
            (
                self.data
                    .get(start..start + usize::from(len))
                    .unwrap_or(&[]),
                from,
            )
        })
    }
}

/// Waits until the socket is readable, then reads up to `max` datagrams into `batch`
/// without blocking. Returns the number read (at least 1) or an error.
///
/// A datagram longer than [`MAX_DATAGRAM`] is kept as its first `MAX_DATAGRAM + 1`
/// bytes, so decoding reports it as too long.
pub async fn recv_batch(
    socket: &Async<UdpSocket>,
    batch: &mut Batch,
    max: usize,
) -> io::Result<usize> {
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    let mut n = 0;
    loop {
        match socket.get_ref().recv_from(&mut buf) {
            Ok((len, from)) => {
                batch.push(&buf[..len], from);
                n += 1;
                if n >= max {
                    return Ok(n);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if n > 0 {
                    return Ok(n);
                }
                socket.readable().await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ICMP port unreachable from an earlier ack shows up as ECONNREFUSED on some
            // systems: not an error of this socket.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Err(e) => {
                if n > 0 {
                    return Ok(n);
                }
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_NET_UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n\
  269: 00000000:14D5 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 19301 2 0000000000000000 0         \n\
 1155: 00000000:2645 00000000:0000 07 00000000:00034000 00:00000000 00000000     0        0 554433 2 0000000000000000 1234      \n";

    #[test]
    fn drops_of_our_inode() {
        assert_eq!(parse_proc_net_udp_drops(PROC_NET_UDP, 554433), Some(1234));
        assert_eq!(parse_proc_net_udp_drops(PROC_NET_UDP, 19301), Some(0));
        assert_eq!(parse_proc_net_udp_drops(PROC_NET_UDP, 1), None);
        assert_eq!(parse_proc_net_udp_drops("", 1), None);
        assert_eq!(parse_proc_net_udp_drops("x\ny z\n\u{0}", 1), None);
    }

    #[test]
    fn drops_at_a_port_are_summed_over_its_sockets() {
        // 0x2645 is bound twice (SO_REUSEPORT), 0x14D5 once.
        let two = format!(
            "{PROC_NET_UDP} 1156: 0100007F:2645 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 554434 2 0000000000000000 6\n"
        );
        assert_eq!(parse_proc_net_udp_port_drops(&two, 0x2645), Some(1240));
        assert_eq!(parse_proc_net_udp_port_drops(PROC_NET_UDP, 0x14D5), Some(0));
        assert_eq!(parse_proc_net_udp_port_drops(PROC_NET_UDP, 80), None);
        assert_eq!(parse_proc_net_udp_port_drops("x\ny z\n\u{0}", 80), None);
    }

    #[test]
    fn socket_link() {
        assert_eq!(parse_socket_link("socket:[554433]"), Some(554433));
        assert_eq!(parse_socket_link("pipe:[1]"), None);
        assert_eq!(parse_socket_link("socket:[x]"), None);
    }

    #[test]
    fn bound_socket_is_found_in_proc() {
        let l = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        assert!(l.receive_buffer > 0);
        let inode = l.inode.expect("inode of the socket");
        assert_eq!(kernel_drops(inode), Some(0));
    }

    #[test]
    fn batch_receives_several_datagrams() {
        smol::block_on(async {
            let l = bind("127.0.0.1:0".parse().unwrap(), 0).unwrap();
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..5u8 {
                tx.send_to(&[i; 3], l.local).unwrap();
            }
            let mut batch = Batch::with_capacity(8);
            let mut got = 0;
            while got < 5 {
                got += recv_batch(&l.socket, &mut batch, 8).await.unwrap();
            }
            let items: Vec<Vec<u8>> = batch.iter().map(|(d, _)| d.to_vec()).collect();
            assert_eq!(items, (0..5u8).map(|i| vec![i; 3]).collect::<Vec<_>>());
            assert!(
                batch
                    .iter()
                    .all(|(_, from)| from == tx.local_addr().unwrap())
            );
        });
    }
}
