//! The zero-allocation proof shared by `alloc_cycle_pi4.rs` and `alloc_cycle_live.rs`:
//! a counting global allocator (every thread counts: the sources' background readers
//! too) and a single-threaded loop of full steady-state cycles — read every source,
//! encode into the ring with a MAC, send over UDP to an inline aggregator on 127.0.0.1
//! that verifies, drops every fifth datagram and acks with a MAC; receive and verify
//! the acks, apply them, resend the gaps.

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use pimon_collector::net::Net;
use pimon_collector::ring::ResendPolicy;
use pimon_collector::run::Agent;
use pimon_collector::source::SourcesConfig;
use pimon_protocol::{Ack, DataFrame, MAX_DATAGRAM, SeqWindow};
use pimon_test_support::alloc;

#[path = "../send_support/mod.rs"]
pub mod send_support;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

pub use alloc::allocations;

/// An aggregator served inline (non-blocking), allocation-free: stores with a
/// `SeqWindow`, acks every frame it keeps, drops every fifth.
struct InlineAggregator {
    socket: UdpSocket,
    window: SeqWindow,
    key: pimon_protocol::Key,
    received: u64,
    stored: u64,
    buf: [u8; MAX_DATAGRAM + 1],
}

impl InlineAggregator {
    fn serve(&mut self) {
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            self.received += 1;
            if self.received.is_multiple_of(5) {
                continue;
            }
            let Ok(frame) = DataFrame::parse(&self.buf[..n]) else {
                continue;
            };
            if frame.verify(&self.key).is_err() {
                continue;
            }
            let h = frame.header;
            self.window.raise_floor(h.resend_floor);
            if self.window.accept(h.seq).0 == pimon_protocol::Accept::New {
                self.stored += 1;
            }
            let (acked_below, seen_below, gaps) = self.window.ack();
            let ack = Ack {
                node: h.node,
                boot_id: h.boot_id,
                acked_below,
                seen_below,
                gaps,
                key_id: None,
            };
            let mut out = [0u8; 256];
            if let Ok(len) = ack.emit(&mut out, Some(&self.key)) {
                let _ = self.socket.send_to(&out[..len], from);
            }
        }
    }
}

/// What the measured cycles did.
#[derive(Debug)]
pub struct Outcome {
    pub allocations: u64,
    pub values: u64,
    pub sent: u64,
    pub resent: u64,
    pub acked: u64,
    pub stored: u64,
}

/// Builds an agent on `root`, warms up, then runs `cycles` full cycles and counts the
/// allocations they made.
pub fn steady_state(root: &Path, warmup: u32, cycles: u32) -> Outcome {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr = socket.local_addr().unwrap();
    let mut agg = InlineAggregator {
        socket,
        window: SeqWindow::new(),
        key: send_support::test_key(),
        received: 0,
        stored: 0,
        buf: [0; MAX_DATAGRAM + 1],
    };
    // Timed re-discovery (sensors every `rediscover`, workloads every
    // `cgroup_rediscover`) walks directories and may allocate by design; it is not the
    // steady state, and on a loaded machine these cycles can outlast its period, so the
    // test turns it off. Its own bounds are tested in `sources_cgroup_churn.rs` and the
    // sensor re-discovery tests.
    let mut sources = SourcesConfig {
        root: root.to_path_buf(),
        rediscover: Duration::ZERO,
        // Cycles that scan /proc/[pid] and cycles that send the last scan again.
        processes_every: 3,
        ..SourcesConfig::default()
    };
    sources.cgroup.rediscover = Duration::from_secs(24 * 3600);
    let collector =
        send_support::collector_with(&sources, Some(send_support::test_key()), 1 << 20, 10);
    let net = Net::new(
        &addr.to_string(),
        "pi4",
        0xb007,
        Some(send_support::test_key()),
    );
    let policy = ResendPolicy {
        timeout_ms: 50,
        gap_holdoff_ms: 5,
        max_per_tick: 8,
    };
    let mut agent = Agent::new(collector, net, policy);
    let mut values = 0u64;
    let mut one = |agent: &mut Agent, agg: &mut InlineAggregator, i: u32| {
        let r = agent.cycle(1_700_000_000_000 + u64::from(i) * 10);
        values += u64::from(r.values);
        for _ in 0..3 {
            agg.serve();
            while agent.receive(Duration::ZERO) {}
            agent.resend();
        }
    };
    for i in 0..warmup {
        one(&mut agent, &mut agg, i);
    }
    let before_stats = agent.collector.ring().stats();
    let stored_before = agg.stored;
    let before = allocations();
    for i in warmup..warmup + cycles {
        one(&mut agent, &mut agg, i);
    }
    let allocs = allocations() - before;
    let s = agent.collector.ring().stats();
    Outcome {
        allocations: allocs,
        values,
        sent: s.sent - before_stats.sent,
        resent: s.resent - before_stats.resent,
        acked: s.acked - before_stats.acked,
        stored: agg.stored - stored_before,
    }
}
