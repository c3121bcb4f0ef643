//! Zero configuration: with no `--aggregator` (and none in the config file), the
//! collector sends to its **default gateway**, because the aggregator runs on the
//! router. Copy the binary to a Pi, run it, and the node appears.
//!
//! The gateway comes from `<root>/proc/net/route` (IPv4, preferred: home routers
//! answer on it) or else `<root>/proc/net/ipv6_route` (a link-local router gets its
//! interface index from `<root>/sys/class/net/IFACE/ifindex`), always under `--root`,
//! so a fixture tree decides what a test sends to. Without a default route the
//! collector falls back to `127.0.0.1:9797` (an aggregator on the same machine).
//! [`Choice::why`] says which and why, for `--check` and the start line.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::Path;

use crate::parse::route::{default_gateway_v4, default_gateway_v6};

/// The aggregator's port when only the host is known.
pub const DEFAULT_PORT: u16 = 9797;
/// Where to send when there is no default route.
pub const FALLBACK: &str = "127.0.0.1:9797";

/// The aggregator chosen without configuration, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// `HOST:PORT` as shown (`192.168.1.1:9797`, `[fe80::1%eth0]:9797`).
    pub spec: String,
    /// The address.
    pub addr: SocketAddr,
    /// Why this one, for `--check`: `default gateway via eth0 (from /proc/net/route)`.
    pub why: String,
}

/// The default gateway under `root`, port [`DEFAULT_PORT`]; or [`FALLBACK`].
pub fn default_aggregator(root: &Path) -> Choice {
    let route_path = root.join("proc/net/route");
    let route = std::fs::read(&route_path).unwrap_or_default();
    if let Some(r) = default_gateway_v4(&route) {
        let addr = SocketAddr::new(IpAddr::V4(r.gateway), DEFAULT_PORT);
        return Choice {
            spec: addr.to_string(),
            addr,
            why: format!(
                "the default gateway via {} (from {}; no --aggregator given)",
                String::from_utf8_lossy(r.iface),
                route_path.display()
            ),
        };
    }
    let route6_path = root.join("proc/net/ipv6_route");
    let route6 = std::fs::read(&route6_path).unwrap_or_default();
    if let Some(r) = default_gateway_v6(&route6) {
        let iface = String::from_utf8_lossy(r.iface).into_owned();
        let link_local = r.gateway.is_unicast_link_local();
        let scope = if link_local {
            let path = root.join("sys/class/net").join(&iface).join("ifindex");
            std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
        } else {
            Some(0)
        };
        if let Some(scope) = scope {
            let addr = SocketAddr::V6(SocketAddrV6::new(r.gateway, DEFAULT_PORT, 0, scope));
            let spec = if link_local {
                format!("[{}%{iface}]:{DEFAULT_PORT}", r.gateway)
            } else {
                addr.to_string()
            };
            return Choice {
                spec,
                addr,
                why: format!(
                    "the IPv6 default gateway via {iface} (from {}; no IPv4 default route, no --aggregator given)",
                    route6_path.display()
                ),
            };
        }
    }
    let addr: SocketAddr = FALLBACK
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
    Choice {
        spec: FALLBACK.to_string(),
        addr,
        why: format!(
            "no default route in {} or {}: an aggregator on this machine (no --aggregator given)",
            route_path.display(),
            route6_path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile_dir::Dir {
        let dir = tempfile_dir::Dir::new();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    /// A temp dir removed on drop (the collector has no tempfile dependency).
    mod tempfile_dir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "pimon-gateway-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn the_ipv4_default_gateway_under_root() {
        let gw = u32::from_ne_bytes([127, 0, 0, 2]);
        let t = tree(&[(
            "proc/net/route",
            &format!(
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 eth0\t00000000\t{gw:08X}\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            ),
        )]);
        let c = default_aggregator(t.path());
        assert_eq!(c.spec, "127.0.0.2:9797");
        assert_eq!(c.addr, "127.0.0.2:9797".parse().unwrap());
        assert!(c.why.contains("default gateway via eth0"), "{}", c.why);
    }

    #[test]
    fn a_link_local_ipv6_gateway_with_its_interface() {
        let t = tree(&[
            ("proc/net/route", "Iface\tDestination\tGateway\n"),
            (
                "proc/net/ipv6_route",
                "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n",
            ),
            ("sys/class/net/eth0/ifindex", "2\n"),
        ]);
        let c = default_aggregator(t.path());
        assert_eq!(c.spec, "[fe80::1%eth0]:9797");
        assert_eq!(
            c.addr,
            SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 9797, 0, 2))
        );
        assert!(c.why.contains("IPv6 default gateway via eth0"), "{}", c.why);
    }

    #[test]
    fn no_default_route_falls_back_to_this_machine() {
        let t = tree(&[]);
        let c = default_aggregator(t.path());
        assert_eq!(c.spec, FALLBACK);
        assert!(c.why.starts_with("no default route in "), "{}", c.why);
    }
}
