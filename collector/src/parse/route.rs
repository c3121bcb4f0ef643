//! `/proc/net/route` and `/proc/net/ipv6_route`: the default gateway, which is where a
//! collector without `--aggregator` sends (the aggregator runs on the router).
//!
//! `/proc/net/route` has a header line, then one tab-separated row per IPv4 route:
//!
//! ```text
//! Iface  Destination  Gateway   Flags  RefCnt  Use  Metric  Mask      MTU  Window  IRTT
//! eth0   00000000     0100A8C0  0003   0       0    100     00000000  0    0       0
//! ```
//!
//! Addresses are the kernel's `__be32` printed as a native-endian integer in hex, so
//! `0100A8C0` on a little-endian machine is 192.168.0.1; [`default_gateway_v4`] decodes
//! them for the machine it runs on (the file is always read where it was written).
//!
//! `/proc/net/ipv6_route` has no header; each row is `dest dest_plen src src_plen
//! next_hop metric refcnt use flags iface`, addresses as 32 hex digits in network
//! order, numbers in hex.
//!
//! A default route is destination 0 with prefix (mask) 0, up (`RTF_UP`), via a gateway
//! (`RTF_GATEWAY`), not a reject route; among several, the lowest metric wins (the
//! kernel's choice), then the first listed. Rows that do not parse are skipped.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{lines, words};

/// The route is up.
const RTF_UP: u32 = 0x1;
/// The route goes through a gateway.
const RTF_GATEWAY: u32 = 0x2;
/// A reject (unreachable) route.
const RTF_REJECT: u32 = 0x200;

/// A default route: its gateway, interface and metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRoute<'a, A> {
    /// The gateway's address.
    pub gateway: A,
    /// The interface name as the kernel lists it (`eth0`, `wlan0`).
    pub iface: &'a [u8],
    /// The route's metric (lower wins).
    pub metric: u32,
}

fn hex_u32(field: &[u8]) -> Option<u32> {
    if field.is_empty() || field.len() > 8 {
        return None;
    }
    let mut v: u32 = 0;
    for &b in field {
        let d = (b as char).to_digit(16)?;
        v = v.checked_mul(16)?.checked_add(d)?;
    }
    Some(v)
}

fn hex_ipv6(field: &[u8]) -> Option<Ipv6Addr> {
    if field.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, out) in bytes.iter_mut().enumerate() {
        let pair = field.get(2 * i..2 * i + 2)?;
        *out = u8::try_from(hex_u32(pair)?).ok()?;
    }
    Some(Ipv6Addr::from(bytes))
}

fn usable(flags: u32) -> bool {
    flags & RTF_UP != 0 && flags & RTF_GATEWAY != 0 && flags & RTF_REJECT == 0
}

fn better<A>(best: &Option<DefaultRoute<'_, A>>, metric: u32) -> bool {
    best.as_ref().is_none_or(|b| metric < b.metric)
}

/// The IPv4 default route with the lowest metric in `/proc/net/route`, if any.
pub fn default_gateway_v4(input: &[u8]) -> Option<DefaultRoute<'_, Ipv4Addr>> {
    let mut best = None;
    for line in lines(input) {
        let mut f = words(line);
        let (Some(iface), Some(dest), Some(gw), Some(flags)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let (_refcnt, _use) = (f.next(), f.next());
        let (Some(metric), Some(mask)) = (f.next(), f.next()) else {
            continue;
        };
        let (Some(dest), Some(gw), Some(flags), Some(mask)) =
            (hex_u32(dest), hex_u32(gw), hex_u32(flags), hex_u32(mask))
        else {
            continue; // the header line, or a row that is not one
        };
        let Some(metric) = super::parse_u64(metric)
            .ok()
            .and_then(|m| u32::try_from(m).ok())
        else {
            continue;
        };
        if dest != 0 || mask != 0 || gw == 0 || !usable(flags) || !better(&best, metric) {
            continue;
        }
        best = Some(DefaultRoute {
            gateway: Ipv4Addr::from(gw.to_ne_bytes()),
            iface,
            metric,
        });
    }
    best
}

/// The IPv6 default route with the lowest metric in `/proc/net/ipv6_route`, if any.
pub fn default_gateway_v6(input: &[u8]) -> Option<DefaultRoute<'_, Ipv6Addr>> {
    let mut best = None;
    for line in lines(input) {
        let mut f = words(line);
        let (Some(dest), Some(plen), Some(_src), Some(_src_plen), Some(hop), Some(metric)) =
            (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let (_refcnt, _use) = (f.next(), f.next());
        let (Some(flags), Some(iface)) = (f.next(), f.next()) else {
            continue;
        };
        let (Some(dest), Some(plen), Some(hop), Some(metric), Some(flags)) = (
            hex_ipv6(dest),
            hex_u32(plen),
            hex_ipv6(hop),
            hex_u32(metric),
            hex_u32(flags),
        ) else {
            continue;
        };
        if !dest.is_unspecified()
            || plen != 0
            || hop.is_unspecified()
            || iface == b"lo"
            || !usable(flags)
            || !better(&best, metric)
        {
            continue;
        }
        best = Some(DefaultRoute {
            gateway: hop,
            iface,
            metric,
        });
    }
    best
}

/// Runs both routing-table parsers over `input` (the never-panic test and the
/// `proc_parsers` fuzz target): a gateway found is a real one.
#[doc(hidden)]
pub fn exercise(input: &[u8]) {
    if let Some(r) = default_gateway_v4(input) {
        assert!(!r.gateway.is_unspecified() && !r.iface.is_empty());
    }
    if let Some(r) = default_gateway_v6(input) {
        assert!(!r.gateway.is_unspecified() && r.iface != b"lo");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &[u8] =
        b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
        eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
        eth0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";

    #[test]
    fn the_default_route_with_the_lowest_metric() {
        let r = default_gateway_v4(ROUTE).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(r.gateway, Ipv4Addr::new(192, 168, 0, 1));
        }
        assert_eq!((r.iface, r.metric), (&b"eth0"[..], 100));
    }

    #[test]
    fn no_default_route_no_gateway() {
        assert_eq!(default_gateway_v4(b""), None);
        // Only the local network: no gateway.
        let local =
            b"Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
            eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(default_gateway_v4(local), None);
        // A default route that is down, or a reject route.
        let down = b"eth0\t00000000\t0100A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t00000000\t0100A8C0\t0203\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(default_gateway_v4(down), None);
    }

    #[test]
    fn ipv6_default_route_via_a_link_local_router() {
        let v6 = b"00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n\
            fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n\
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000022233fffe445566 00000400 00000002 00000000 00000003 wlan0\n\
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000064 00000002 00000000 00000003 eth0\n";
        let r = default_gateway_v6(v6).unwrap();
        assert_eq!(r.gateway, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!((r.iface, r.metric), (&b"eth0"[..], 100));
    }

    #[test]
    fn never_panics_on_any_bytes() {
        let mut seed = 0x2545_f491u32;
        for len in 0..600 {
            let bytes: [u8; 600] = core::array::from_fn(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                b"0123456789abcdefF \t\n\xffz"[(seed % 21) as usize]
            });
            let _ = default_gateway_v4(&bytes[..len]);
            let _ = default_gateway_v6(&bytes[..len]);
        }
    }
}
