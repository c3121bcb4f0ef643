//! The real `pimon-collector` binary choosing its aggregators: with none configured it
//! sends to the default gateway of `<root>/proc/net/route` — here a fixture route file
//! pointing at a loopback address, so nothing ever goes to this machine's real gateway —
//! and `--check` says which address it chose and why; with several it fails over and
//! logs the switch once.

mod send_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use send_support::{Behaviour, FakeAggregator};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pimon-collector"))
        .args(args)
        .output()
        .expect("run pimon-collector")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A root whose only file is `proc/net/route` (and `proc/net/ipv6_route` when given).
struct Root(PathBuf);

impl Root {
    fn new(route: &str, ipv6_route: Option<&str>) -> Root {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("pimon-cli-failover-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/net")).unwrap();
        std::fs::write(dir.join("proc/net/route"), route).unwrap();
        if let Some(v6) = ipv6_route {
            std::fs::write(dir.join("proc/net/ipv6_route"), v6).unwrap();
        }
        Root(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `/proc/net/route` with a default route via `gateway` (a loopback address) on eth0.
fn route_via(gateway: [u8; 4]) -> String {
    format!(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
         eth0\t00000000\t{:08X}\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
        u32::from_ne_bytes(gateway)
    )
}

/// A loopback address other than 127.0.0.1, different for every run.
fn loopback_gateway() -> [u8; 4] {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    [
        127,
        1 + (n % 250) as u8,
        (n >> 8) as u8,
        1 + (n >> 16) as u8 % 250,
    ]
}

#[test]
fn without_aggregator_it_sends_to_the_default_gateway_of_its_root() {
    let gw = loopback_gateway();
    let addr = SocketAddr::from((gw, 9797));
    let agg = FakeAggregator::start_on(addr, Behaviour::Ack, None).unwrap_or_else(|e| {
        panic!("cannot listen on {addr} (the fixture gateway, port 9797): {e}; is something bound to 0.0.0.0:9797?")
    });
    let root = Root::new(&route_via(gw), None);
    let out = run(&[
        "--root",
        root.path(),
        "--node",
        "gw",
        "--once",
        "--linger",
        "5s",
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "aggregator {addr} (the default gateway via eth0 (from {}/proc/net/route; no --aggregator given))",
            root.path()
        )),
        "{err}"
    );
    assert!(err.contains(" 0 unacknowledged"), "{err}");
    assert!(!agg.log().stored.is_empty(), "the gateway got the frames");
}

#[test]
fn check_says_which_address_it_chose_and_why() {
    let gw = loopback_gateway();
    let root = Root::new(&route_via(gw), None);
    let out = run(&["--root", root.path(), "--node", "gw", "--check"]);
    let s = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let addr = SocketAddr::from((gw, 9797));
    assert!(s.contains(&format!("aggregator: {addr} ({addr})\n")), "{s}");
    assert!(
        s.contains("aggregator chosen: the default gateway via eth0"),
        "{s}"
    );

    // No IPv4 default route: the IPv6 one (a next hop on loopback, never a real router).
    let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000001 00000400 00000001 00000000 00000003 eth1\n";
    let root = Root::new("Iface\tDestination\tGateway\n", Some(v6));
    let s = text(&run(&["--root", root.path(), "--node", "gw", "--check"]).stdout);
    assert!(s.contains("aggregator: [::1]:9797 ([::1]:9797)\n"), "{s}");
    assert!(s.contains("the IPv6 default gateway via eth1"), "{s}");

    // No default route at all: this machine.
    let root = Root::new("Iface\tDestination\tGateway\n", None);
    let s = text(&run(&["--root", root.path(), "--node", "gw", "--check"]).stdout);
    assert!(
        s.contains("aggregator: 127.0.0.1:9797 (127.0.0.1:9797)\n"),
        "{s}"
    );
    assert!(s.contains("aggregator chosen: no default route in "), "{s}");

    // Given: the gateway is not looked at.
    let s = text(
        &run(&[
            "--root",
            root.path(),
            "--node",
            "gw",
            "--check",
            "--aggregator",
            "127.0.0.1:1,127.0.0.1:2",
            "--aggregator",
            "127.0.0.1:3",
        ])
        .stdout,
    );
    for want in [
        "aggregator: 127.0.0.1:1 (127.0.0.1:1, first choice)\n",
        "aggregator: 127.0.0.1:2 (127.0.0.1:2, failover 1)\n",
        "aggregator: 127.0.0.1:3 (127.0.0.1:3, failover 2)\n",
        "aggregator chosen: given with --aggregator\n",
    ] {
        assert!(s.contains(want), "{want:?} in\n{s}");
    }
}

#[test]
fn a_silent_first_aggregator_is_left_once_and_logged_once() {
    let first = FakeAggregator::start(Behaviour::Ack, None);
    first.set_present(false);
    let second = FakeAggregator::start(Behaviour::Ack, None);
    let list = format!("{},{}", first.addr, second.addr);
    let out = run(&[
        "--root",
        pimon_test_support::fixtures::tree("pi4").to_str().unwrap(),
        "--node",
        "pi4",
        "--aggregator",
        &list,
        "--interval",
        "100ms",
        "--cycles",
        "40",
        "--linger",
        "5s",
    ]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let switches: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("did not acknowledge"))
        .collect();
    assert_eq!(switches.len(), 1, "logged once:\n{err}");
    assert!(
        switches[0].contains(&format!(
            "aggregator {} did not acknowledge for 2.",
            first.addr
        )) && switches[0].contains(&format!("sending to {} and resending", second.addr)),
        "{}",
        switches[0]
    );
    assert!(err.contains(" 0 unacknowledged"), "{err}");
    // Every frame (three parts per Pi 4 cycle since the netclass families) reached the
    // second.
    assert_eq!(second.log().stored.len(), 40 * 3, "{err}");
}
