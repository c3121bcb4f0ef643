//! A rate limit on acks per destination, so the aggregator cannot be used to reflect
//! traffic at someone else.
//!
//! Anyone can send a datagram with a forged source address; the ack goes to that
//! address. Two rules keep that harmless:
//! - an ack to an unauthenticated sender is never larger than the datagram it answers
//!   (`pimon_protocol::Ack::emit_within`, in [`crate::ingest`]): no amplification;
//! - acks that confirm nothing new (a duplicate or long-done frame sent again, which a
//!   replayed capture is) are limited per destination address to [`ACKS_PER_SECOND`]
//!   with bursts of [`BURST`]. Acks of newly stored frames are one per new frame, and a
//!   collector needs only one ack to learn everything stored, so honest collectors are
//!   not slowed.
//!
//! The buckets live in a fixed table of [`SLOTS`] entries indexed by a keyed hash of
//! the address: memory is bounded whatever the number of senders, and destinations that
//! share a slot share its budget (the stricter outcome).

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;

/// Acks per second per destination that confirm nothing new.
pub const ACKS_PER_SECOND: u64 = 20;
/// Burst of such acks.
pub const BURST: u64 = 40;
/// Buckets in the table.
pub const SLOTS: usize = 4096;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Tokens × 1000 (millitokens), refilled at `ACKS_PER_SECOND` × 1000 per second.
    milli: u64,
    last_ms: u64,
}

/// Token buckets per destination address; see the [module docs](self).
#[derive(Debug)]
pub struct AckLimiter {
    slots: Box<[Bucket]>,
    hasher: RandomState,
}

impl Default for AckLimiter {
    fn default() -> Self {
        AckLimiter {
            slots: vec![
                Bucket {
                    milli: BURST * 1000,
                    last_ms: 0,
                };
                SLOTS
            ]
            .into_boxed_slice(),
            hasher: RandomState::new(),
        }
    }
}

impl AckLimiter {
    /// True when an ack that confirms nothing new may go to `to` at `now_ms` (and takes
    /// a token for it).
    pub fn allow(&mut self, to: SocketAddr, now_ms: u64) -> bool {
        let i = (self.hasher.hash_one(to) % SLOTS as u64) as usize;
        let b = &mut self.slots[i];
        let elapsed = now_ms.saturating_sub(b.last_ms);
        b.milli = b
            .milli
            .saturating_add(elapsed.saturating_mul(ACKS_PER_SECOND))
            .min(BURST * 1000);
        b.last_ms = b.last_ms.max(now_ms);
        if b.milli >= 1000 {
            b.milli -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_steady_rate_per_destination() {
        let mut l = AckLimiter::default();
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let slot = |l: &AckLimiter, x: SocketAddr| l.hasher.hash_one(x) % SLOTS as u64;
        let b = (4001..)
            .map(|port| SocketAddr::from(([192, 0, 2, 2], port)))
            .find(|&b| slot(&l, b) != slot(&l, a))
            .unwrap();
        let allowed = (0..100).filter(|_| l.allow(a, 1_000)).count();
        assert_eq!(allowed as u64, BURST);
        // Another destination has its own budget.
        assert!(l.allow(b, 1_000));
        // One second later: ACKS_PER_SECOND more.
        let allowed = (0..100).filter(|_| l.allow(a, 2_000)).count();
        assert_eq!(allowed as u64, ACKS_PER_SECOND);
        // A clock that goes back does not refill or panic.
        assert!(!l.allow(a, 0));
    }
}
