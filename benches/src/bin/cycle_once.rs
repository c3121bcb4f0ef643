//! cycle_once: runs N collection cycles on the Raspberry Pi 4 fixture tree and exits —
//! the program that callgrind counts instructions of (`scripts/bench-collector-instructions`).
//!
//! ```text
//! cycle_once N [ROOT]
//! ```
//! Each cycle is what the collector does every interval with a healthy aggregator: read
//! every source, encode, MAC, into the ring, send the datagrams over UDP to a socket on
//! 127.0.0.1 (that never reads), and apply an ack for them. Running it for N = 100 and
//! N = 1100 and dividing the difference of the instruction counts by 1000 gives the
//! instructions of one steady-state cycle, start-up excluded. ROOT defaults to the Pi 4
//! fixture; `/` measures the live machine.

use std::net::UdpSocket;
use std::path::PathBuf;

use pimon_benches::pi4;
use pimon_collector::net::Net;
use pimon_collector::ring::ResendPolicy;
use pimon_collector::run::Agent;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = match args.next().map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: cycle_once N [ROOT]");
            std::process::exit(2);
        }
    };
    let root = args.next().map_or_else(pi4::fixture_root, PathBuf::from);
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = sink.local_addr().expect("local addr").to_string();
    let net = Net::new(&addr, pi4::NODE, 0x5eed_b007, Some(pi4::key()));
    let mut agent = Agent::new(
        pi4::collector(root),
        net,
        ResendPolicy::for_interval(10_000),
    );
    let (mut values, mut bytes) = (0u64, 0u64);
    for i in 0..n {
        let r = agent.cycle(1_700_000_000_000 + i * 10_000);
        values += u64::from(r.values);
        bytes += r.bytes as u64;
        let now = agent.now_ms();
        pi4::ack_all(&mut agent.collector, now);
    }
    println!("{n} cycles, {values} values, {bytes} bytes");
}
