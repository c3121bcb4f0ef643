//! Which boot of a node a frame belongs to, and when a frame may move the node's state.
//!
//! Without keys anyone who can send UDP can send frames in a node's name. Injecting a
//! value cannot be prevented then, but *silencing* a node must not be possible with a
//! stray packet: one forged frame with a new boot id, a sequence number far ahead, or a
//! replay from boots ago used to move the node's state so that every real frame after it
//! was refused. So a frame may move the state only on evidence:
//!
//! | the frame would… | accepted at once when | otherwise |
//! |---|---|---|
//! | start a new boot id | keyed: its MAC verifies and its timestamp is within `max_skew` of now and newer than any time used for the node; unkeyed: it comes from the IP address of the current boot | held until confirmed |
//! | move the window a whole window (4096) or more ahead | keyed; unkeyed: same address and port as the current boot | held until confirmed |
//! | rebuild the window (resync flag, sequence below what was seen) | keyed; unkeyed: same address and port | held until confirmed |
//!
//! *Confirmed* means: [`CONFIRM_FRAMES`] frames of the same claim from one sender
//! (boot id and address), with increasing sequence numbers, over at least one of the
//! node's intervals (1 to 60 s), while the current boot stored nothing — a collector that
//! moved to a new address, or came back after a long outage, does exactly that; a stray
//! or forged packet does not, and a forger racing a live node never wins. Held frames are
//! neither stored nor acked: the real collector keeps them and resends them once its
//! boot is taken.
//!
//! When a sender keeps claiming while the current boot is alive, two collectors send as
//! this node (two hosts with the same name): that is a *name conflict*, counted and
//! reported once per second sender; the current one keeps being stored. A switch back to
//! the previous boot id (the pattern of two live collectors) is reported the same way.
//!
//! Late frames of the previous boot are stored (once: its window de-duplicates) during a
//! grace time of two intervals (2 to 120 s) after the switch; after that a previous boot
//! still sending is a claim like any other. Retired boot ids (two or more runs back) are
//! refused: a late or replayed frame from two boots ago never takes a node over.

use std::net::SocketAddr;

use crate::node::{Candidate, Claim, NodeMeta};

/// Frames a claim needs to be confirmed.
pub const CONFIRM_FRAMES: u8 = 3;

/// What [`route`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A frame of the current boot.
    Current,
    /// The current boot, after rebuilding its window from the frame's resend floor.
    Resync,
    /// A late frame of the previous boot.
    Previous,
    /// Its boot id becomes the current one (a collector restart).
    Adopt {
        /// The boot was current before (a switch back): reported as a name conflict.
        switch_back: bool,
    },
    /// Held back until confirmed; `conflict` when a second live sender was just
    /// detected.
    Hold {
        /// A name conflict to report (first time for this sender).
        conflict: bool,
    },
    /// Refused: a retired boot id, or a keyed frame too old to start a boot.
    Replay,
}

/// The frame being routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// Its boot id.
    pub boot_id: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Its timestamp (Unix ms).
    pub ts_ms: u64,
    /// The resync flag.
    pub resync: bool,
    /// Its MAC verified (keyed).
    pub verified: bool,
    /// Where it came from.
    pub from: SocketAddr,
    /// Receive time (Unix ms).
    pub now_ms: u64,
}

/// The node's interval clamped to 1..60 s: how long a claim must last, and half the
/// previous boot's grace time.
pub fn span_ms(meta: &NodeMeta) -> u64 {
    u64::from(meta.interval_ms).clamp(1_000, 60_000)
}

/// Decides what `f` does to the node (`meta` is updated only for a claim's progress and
/// conflict reports; the caller applies the route). `max_skew_ms` bounds how far a
/// keyed new boot's timestamp may be from now.
pub fn route(meta: &mut NodeMeta, f: &Facts, max_skew_ms: u64) -> Route {
    let cur = &meta.current;
    if f.boot_id == cur.boot_id {
        let same_socket = cur.addr == Some(f.from);
        if f.resync && cur.window.highest().is_some_and(|top| f.seq < top) {
            return if f.verified || same_socket {
                Route::Resync
            } else {
                claim(meta, f, Claim::Resync)
            };
        }
        if !f.verified && !same_socket && cur.window.is_far_ahead(f.seq) {
            return claim(meta, f, Claim::Jump);
        }
        return Route::Current;
    }
    if let Some(prev) = meta.previous.as_deref()
        && prev.boot_id == f.boot_id
    {
        let in_grace = f.now_ms.saturating_sub(cur.since_ms) <= 2 * span_ms(meta);
        if in_grace && (f.verified || !prev.window.is_far_ahead(f.seq)) {
            return Route::Previous;
        }
        return claim(meta, f, Claim::Boot);
    }
    if meta.is_retired(f.boot_id) {
        return Route::Replay;
    }
    if f.verified {
        let fresh = f.ts_ms.abs_diff(f.now_ms) <= max_skew_ms;
        let newer = meta.max_time_ms.is_none_or(|m| f.ts_ms > m);
        return if fresh && newer {
            Route::Adopt { switch_back: false }
        } else {
            Route::Replay
        };
    }
    if cur.addr.is_some_and(|a| a.ip() == f.from.ip()) {
        return Route::Adopt { switch_back: false };
    }
    claim(meta, f, Claim::Boot)
}

/// Records a claim's frame and says whether it is confirmed now.
fn claim(meta: &mut NodeMeta, f: &Facts, what: Claim) -> Route {
    let span = span_ms(meta);
    let same = |c: &Candidate| c.claim == what && c.boot_id == f.boot_id && c.addr == f.from;
    let cand = match &mut meta.candidate {
        Some(c) if same(c) => {
            if f.seq > c.last_seq {
                c.frames = c.frames.saturating_add(1);
                c.last_seq = f.seq;
            }
            c.last_ms = f.now_ms;
            **c
        }
        // One sender at a time: a busy slot is not taken over until it goes quiet.
        Some(c) if f.now_ms.saturating_sub(c.last_ms) <= span => {
            return Route::Hold { conflict: false };
        }
        slot => {
            let c = Candidate {
                claim: what,
                boot_id: f.boot_id,
                addr: f.from,
                first_ms: f.now_ms,
                last_ms: f.now_ms,
                frames: 1,
                last_seq: f.seq,
            };
            *slot = Some(Box::new(c));
            c
        }
    };
    let confirmed = cand.frames >= CONFIRM_FRAMES && f.now_ms.saturating_sub(cand.first_ms) >= span;
    if !confirmed {
        return Route::Hold { conflict: false };
    }
    let quiet = meta.current.last_stored_ms < cand.first_ms;
    if !quiet {
        let report = meta.conflict != Some((cand.boot_id, cand.addr));
        meta.conflict = Some((cand.boot_id, cand.addr));
        return Route::Hold { conflict: report };
    }
    meta.candidate = None;
    match what {
        Claim::Boot => {
            let switch_back = meta
                .previous
                .as_ref()
                .is_some_and(|p| p.boot_id == f.boot_id);
            Route::Adopt { switch_back }
        }
        Claim::Jump => Route::Current,
        Claim::Resync => Route::Resync,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn node() -> NodeMeta {
        let mut m = NodeMeta::new(7, NOW);
        m.current.addr = Some("10.0.0.5:4000".parse().unwrap());
        m.current.window.accept(0);
        m.current.last_stored_ms = NOW;
        m.interval_ms = 10_000;
        m
    }

    fn facts(boot_id: u64, seq: u64, from: &str, now_ms: u64) -> Facts {
        Facts {
            boot_id,
            seq,
            ts_ms: now_ms,
            resync: false,
            verified: false,
            from: from.parse().unwrap(),
            now_ms,
        }
    }

    #[test]
    fn a_new_boot_from_the_nodes_ip_is_a_restart() {
        let mut m = node();
        let f = facts(8, 0, "10.0.0.5:4001", NOW + 1);
        assert_eq!(
            route(&mut m, &f, 300_000),
            Route::Adopt { switch_back: false }
        );
    }

    #[test]
    fn a_new_boot_from_elsewhere_is_held_until_confirmed_while_the_node_is_quiet() {
        let mut m = node();
        let at = |seq, t| facts(8, seq, "10.0.0.9:4000", NOW + t);
        assert_eq!(
            route(&mut m, &at(0, 1_000), 300_000),
            Route::Hold { conflict: false }
        );
        assert_eq!(
            route(&mut m, &at(0, 2_000), 300_000),
            Route::Hold { conflict: false }
        );
        assert_eq!(
            route(&mut m, &at(1, 5_000), 300_000),
            Route::Hold { conflict: false }
        );
        // Three frames, but less than one interval since the first.
        assert_eq!(
            route(&mut m, &at(2, 9_000), 300_000),
            Route::Hold { conflict: false }
        );
        assert_eq!(
            route(&mut m, &at(3, 11_000), 300_000),
            Route::Adopt { switch_back: false }
        );
        assert!(m.candidate.is_none());
    }

    #[test]
    fn a_claim_while_the_node_is_alive_is_a_conflict_reported_once() {
        let mut m = node();
        let mut reports = 0;
        for i in 0..10u64 {
            let t = NOW + i * 10_000;
            m.current.last_stored_ms = t; // the node keeps storing
            let r = route(&mut m, &facts(9, i, "10.0.0.2:4000", t + 1), 300_000);
            match r {
                Route::Hold { conflict } => reports += usize::from(conflict),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(reports, 1);
    }

    #[test]
    fn far_ahead_from_another_address_is_a_jump_claim_from_the_same_socket_it_is_taken() {
        let mut m = node();
        let far = facts(7, 10_000, "10.6.6.6:5000", NOW);
        assert_eq!(
            route(&mut m, &far, 300_000),
            Route::Hold { conflict: false }
        );
        assert_eq!(m.candidate.as_ref().unwrap().claim, Claim::Jump);
        let own = facts(7, 10_000, "10.0.0.5:4000", NOW);
        assert_eq!(route(&mut m, &own, 300_000), Route::Current);
        let near = facts(7, 4000, "10.6.6.6:5000", NOW);
        assert_eq!(route(&mut m, &near, 300_000), Route::Current);
    }

    #[test]
    fn resync_needs_the_same_socket_or_a_key() {
        let mut m = node();
        m.current.window.accept(500);
        let mut f = facts(7, 3, "10.6.6.6:5000", NOW);
        f.resync = true;
        assert_eq!(route(&mut m, &f, 300_000), Route::Hold { conflict: false });
        f.verified = true;
        assert_eq!(route(&mut m, &f, 300_000), Route::Resync);
        let mut own = facts(7, 3, "10.0.0.5:4000", NOW);
        own.resync = true;
        assert_eq!(route(&mut m, &own, 300_000), Route::Resync);
        // A resync flag on a frame above what was seen changes nothing.
        own.seq = 501;
        assert_eq!(route(&mut m, &own, 300_000), Route::Current);
    }

    #[test]
    fn previous_boot_in_grace_then_a_claim_and_retired_boots_are_replays() {
        let mut m = node();
        m.adopt(8, NOW + 10_000);
        m.current.addr = Some("10.0.0.5:4001".parse().unwrap());
        let late = facts(7, 1, "10.0.0.5:4000", NOW + 15_000);
        assert_eq!(route(&mut m, &late, 300_000), Route::Previous);
        let after = facts(7, 2, "10.0.0.5:4000", NOW + 31_000);
        assert_eq!(
            route(&mut m, &after, 300_000),
            Route::Hold { conflict: false }
        );
        m.adopt(9, NOW + 40_000);
        let two_ago = facts(7, 3, "10.0.0.5:4000", NOW + 41_000);
        assert_eq!(route(&mut m, &two_ago, 300_000), Route::Replay);
    }

    #[test]
    fn keyed_new_boots_need_a_fresh_and_newer_timestamp() {
        let mut m = node();
        m.max_time_ms = Some(NOW);
        let mut f = facts(8, 0, "10.9.9.9:1", NOW + 20_000);
        f.verified = true;
        assert_eq!(
            route(&mut m, &f, 300_000),
            Route::Adopt { switch_back: false }
        );
        f.ts_ms = NOW - 1; // recorded earlier
        assert_eq!(route(&mut m, &f, 300_000), Route::Replay);
        f.ts_ms = NOW + 20_000 - 301_000; // older than max skew
        m.max_time_ms = None;
        assert_eq!(route(&mut m, &f, 300_000), Route::Replay);
    }

    #[test]
    fn a_busy_claim_slot_is_not_taken_over_until_it_goes_quiet() {
        let mut m = node();
        route(&mut m, &facts(8, 0, "10.0.0.9:1", NOW), 300_000);
        route(&mut m, &facts(99, 0, "10.6.6.6:1", NOW + 100), 300_000);
        assert_eq!(m.candidate.as_ref().unwrap().boot_id, 8);
        route(&mut m, &facts(99, 0, "10.6.6.6:1", NOW + 20_000), 300_000);
        assert_eq!(m.candidate.as_ref().unwrap().boot_id, 99);
    }
}
