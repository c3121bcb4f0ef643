//! Ingest rules, datagram by datagram, with frames built by `FrameWriter`: exact ack
//! bytes, de-duplication, reordering, gaps, resend floor, reboot, replay, MAC, unknown
//! nodes, clock skew, late resends, and rollback when the outputs refuse a batch.

mod frames;

use std::sync::Arc;

use frames::{Frame, T0, ack_bytes};
use pimon_aggregator::ingest::{Event, Ingest, IngestConfig, Verdict};
use pimon_aggregator::keys::KeyRing;
use pimon_aggregator::stats::{AggregatorStats, AuthFailure, DecodeErrorKind, get};
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::{Number, id};
use pimon_protocol::text::influx::Precision;
use pimon_protocol::{DataHeader, Key, MAX_DATAGRAM, Reason, Refusal, Value};

/// Where the test nodes' frames come from unless a test says otherwise.
const NODE_ADDR: &str = "10.0.0.5:4000";

struct Harness {
    ingest: Ingest,
    stats: Arc<AggregatorStats>,
    lines: String,
    ack: [u8; MAX_DATAGRAM],
    events: Vec<Event>,
}

impl Harness {
    fn new(keys: Option<&str>, config: IngestConfig) -> Harness {
        let stats = Arc::new(AggregatorStats::default());
        let keys = keys.map(|k| Arc::new(KeyRing::parse(k).unwrap()));
        let store = Store::new(Limits::default(), Staleness::default(), T0);
        Harness {
            ingest: Ingest::new(store, keys, config, stats.clone()),
            stats,
            lines: String::new(),
            ack: [0; MAX_DATAGRAM],
            events: Vec::new(),
        }
    }

    fn plain() -> Harness {
        Harness::new(
            None,
            IngestConfig {
                precision: Precision::Milliseconds,
                ..IngestConfig::default()
            },
        )
    }

    /// Ingests at `now` from the node's usual address; returns the verdict and the
    /// ack bytes.
    fn send_at(&mut self, datagram: &[u8], now: u64) -> (Verdict, Vec<u8>) {
        self.send_from(datagram, NODE_ADDR, now)
    }

    fn send(&mut self, datagram: &[u8]) -> (Verdict, Vec<u8>) {
        self.send_at(datagram, T0)
    }

    /// Ingests at `now` as sent from `from` (`"10.0.0.5:4000"`).
    fn send_from(&mut self, datagram: &[u8], from: &str, now: u64) -> (Verdict, Vec<u8>) {
        let o = self.ingest.ingest(
            datagram,
            from.parse().unwrap(),
            now,
            &mut self.lines,
            &mut self.ack,
        );
        self.events.extend(o.event);
        (o.verdict, self.ack[..o.ack_len].to_vec())
    }

    /// The timestamps of the `system` lines (one per frame of `Frame::pi`), in order.
    fn system_times(&self) -> Vec<u64> {
        self.lines
            .lines()
            .filter(|l| l.starts_with("system,"))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect()
    }

    fn counters(&self, node: &str) -> pimon_aggregator::node::NodeCounters {
        self.ingest.store.get(node).unwrap().meta.counters
    }

    fn value(&self, node: &str, metric: u16) -> Option<Number> {
        let rank = pimon_aggregator::series::family_rank(metric)?;
        let n = self.ingest.store.get(node)?;
        n.series
            .entries()
            .find(|e| e.rank == rank)
            .map(|e| e.value())
    }
}

#[test]
fn first_frame_is_stored_acked_and_rendered_as_lines() {
    let mut h = Harness::plain();
    let (v, ack) = h.send(&Frame::pi("pi").bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 1, &[], None));
    assert_eq!(
        h.lines,
        "system,host=pi load1=0.25 1700000000000\n\
         cpu,cpu=cpu0,host=pi time_user=1.5,time_system=0.5 1700000000000\n\
         net,host=pi,interface=eth0 bytes_recv=1234i 1700000000000\n"
    );
    // Converted by the catalog: jiffies / USER_HZ, hundredths → load.
    assert_eq!(h.value("pi", id::CPU_SECONDS_USER), Some(Number::F64(1.5)));
    assert_eq!(
        h.value("pi", id::NET_RECEIVE_BYTES),
        Some(Number::U64(1234))
    );
    assert_eq!(h.counters("pi").received, 1);
}

#[test]
fn without_outputs_frames_are_stored_and_acked_but_not_rendered_as_lines() {
    let mut h = Harness::new(
        None,
        IngestConfig {
            render_lines: false,
            ..IngestConfig::default()
        },
    );
    let (v, ack) = h.send(&Frame::pi("pi").bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 1, &[], None));
    assert_eq!(h.lines, "");
    assert_eq!(h.value("pi", id::CPU_SECONDS_USER), Some(Number::F64(1.5)));
}

#[test]
fn duplicates_are_acked_again_but_not_stored_again() {
    let mut h = Harness::plain();
    h.send(&Frame::pi("pi").seq(0).bytes());
    let f = Frame::pi("pi").seq(2).bytes();
    h.send(&f);
    h.lines.clear();
    let (v, ack) = h.send(&f);
    assert_eq!(v, Verdict::Duplicate);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 3, &[(1, 1)], None));
    assert!(h.lines.is_empty());
    let c = h.counters("pi");
    assert_eq!((c.received, c.duplicate), (2, 1));
}

#[test]
fn reordering_and_gaps_show_in_acks_until_filled() {
    let mut h = Harness::plain();
    h.send(&Frame::pi("pi").seq(0).bytes());
    // 3 and 5 arrive before 1, 2, 4.
    let (_, ack) = h.send(&Frame::pi("pi").seq(3).bytes());
    assert_eq!(ack, ack_bytes("pi", 7, 1, 4, &[(1, 2)], None));
    let (_, ack) = h.send(&Frame::pi("pi").seq(5).bytes());
    assert_eq!(ack, ack_bytes("pi", 7, 1, 6, &[(1, 2), (4, 1)], None));
    let (v, ack) = h.send(&Frame::pi("pi").seq(2).bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 6, &[(1, 1), (4, 1)], None));
    h.send(&Frame::pi("pi").seq(1).bytes());
    let (_, ack) = h.send(&Frame::pi("pi").seq(4).bytes());
    assert_eq!(ack, ack_bytes("pi", 7, 6, 6, &[], None));
    let c = h.counters("pi");
    assert_eq!((c.received, c.duplicate, c.missing), (6, 0, 0));
    // A resend of a long-done frame: acked, counted as duplicate.
    let (v, ack) = h.send(&Frame::pi("pi").seq(0).bytes());
    assert_eq!(v, Verdict::Old);
    assert_eq!(ack, ack_bytes("pi", 7, 6, 6, &[], None));
}

#[test]
fn resend_floor_gives_up_gaps_and_counts_them_missing() {
    let mut h = Harness::plain();
    h.send(&Frame::pi("pi").seq(0).bytes());
    h.send(&Frame::pi("pi").seq(4).bytes());
    // The collector dropped 1..3 from its ring: floor 3 gives up 1 and 2.
    let (_, ack) = h.send(&Frame::pi("pi").seq(5).floor(3).bytes());
    assert_eq!(ack, ack_bytes("pi", 7, 3, 6, &[(3, 1)], None));
    assert_eq!(h.counters("pi").missing, 2);
}

/// Regression (found while writing docs/OPERATIONS.md): an aggregator that restarts
/// first hears a collector mid-stream; the frames below the first one it hears may have
/// been stored by the earlier run, so giving them up does not count as missing, while
/// the ones the collector still holds are asked for.
#[test]
fn first_frame_mid_stream_starts_at_the_resend_floor_without_counting_missing() {
    let mut h = Harness::plain();
    let (v, ack) = h.send(&Frame::pi("pi").seq(120).floor(117).bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 117, 121, &[(117, 3)], None));
    assert_eq!(h.counters("pi").missing, 0);
    // Giving up 117 and 118 (below the first frame heard) counts nothing...
    h.send(&Frame::pi("pi").seq(121).floor(119).bytes());
    assert_eq!(h.counters("pi").missing, 0);
    // ...a gap above it does.
    h.send(&Frame::pi("pi").seq(124).floor(119).bytes());
    h.send(&Frame::pi("pi").seq(125).floor(124).bytes());
    assert_eq!(h.counters("pi").missing, 2, "122 and 123");
}

#[test]
fn new_boot_id_with_newer_timestamp_is_a_reboot() {
    let mut h = Harness::plain();
    h.send(&Frame::pi("pi").seq(0).bytes());
    h.send(&Frame::pi("pi").seq(1).at(T0 + 10_000).bytes());
    let (v, ack) = h.send_at(
        &Frame::pi("pi").boot(8).seq(0).at(T0 + 20_000).bytes(),
        T0 + 20_000,
    );
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 8, 1, 1, &[], None));
    let c = h.counters("pi");
    assert_eq!((c.boot_id_changes, c.received), (1, 3));
}

#[test]
fn late_frames_of_the_previous_boot_are_stored_once_then_held_after_the_grace_time() {
    let mut h = Harness::plain();
    let old = Frame::pi("pi").seq(0).at(T0).bytes();
    h.send(&old);
    h.send_at(
        &Frame::pi("pi").boot(8).seq(0).at(T0 + 20_000).bytes(),
        T0 + 20_000,
    );
    // Within two intervals of the restart: a resend of boot 7 that was in flight is
    // stored (once) and acked for boot 7; its values do not replace boot 8's.
    let late = Frame::pi("pi").seq(1).at(T0 + 10_000).bytes();
    let (v, ack) = h.send_at(&late, T0 + 30_000);
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 2, 2, &[], None));
    assert_eq!(h.send_at(&old, T0 + 30_000).0, Verdict::Old);
    // After that, boot 7 still sending is not a late frame: held, not stored.
    let (v, ack) = h.send_at(&Frame::pi("pi").seq(2).bytes(), T0 + 41_000);
    assert_eq!(v, Verdict::Unconfirmed);
    assert!(ack.is_empty());
    assert_eq!(h.counters("pi").unconfirmed, 1);
    assert_eq!(h.ingest.store.get("pi").unwrap().meta.boot_id(), 8);
}

#[test]
fn unkeyed_restart_with_a_clock_reset_is_accepted() {
    // A Pi without RTC restarts at 1970: without keys, its new boot id is taken.
    let mut h = Harness::plain();
    h.send(&Frame::pi("pi").seq(0).bytes());
    let (v, ack) = h.send_at(
        &Frame::pi("pi").boot(8).seq(0).at(5_000).bytes(),
        T0 + 20_000,
    );
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 8, 1, 1, &[], None));
    // A late frame of the previous run is stored for that run, not a second restart.
    let (v, ack) = h.send_at(&Frame::pi("pi").boot(7).seq(1).bytes(), T0 + 20_000);
    assert_eq!(
        (v, ack),
        (Verdict::Stored, ack_bytes("pi", 7, 2, 2, &[], None))
    );
    assert_eq!(h.counters("pi").boot_id_changes, 1);
    assert_eq!(h.ingest.store.get("pi").unwrap().meta.boot_id(), 8);
}

#[test]
fn keyed_new_boot_id_with_an_older_timestamp_is_a_replay() {
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    h.send(&Frame::pi("pi").seq(0).bytes_with(Some(&k)));
    // A recorded frame of some older run (boot id never seen, older timestamp).
    let (v, _) = h.send_at(
        &Frame::pi("pi")
            .boot(3)
            .seq(9)
            .at(T0 - 3_600_000)
            .bytes_with(Some(&k)),
        T0 + 1000,
    );
    assert_eq!(v, Verdict::Replay);
    // A real restart: newer timestamp.
    let (v, _) = h.send_at(
        &Frame::pi("pi")
            .boot(9)
            .seq(0)
            .at(T0 + 20_000)
            .bytes_with(Some(&k)),
        T0 + 20_000,
    );
    assert_eq!(v, Verdict::Stored);
}

const KEYS: &str = "pi 1 hex:00112233445566778899aabbccddeeff\n";

fn key() -> Key {
    Key::new(
        1,
        &[
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ],
    )
    .unwrap()
}

#[test]
fn good_mac_is_stored_and_the_ack_is_maced_with_the_same_key() {
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    let (v, ack) = h.send(&Frame::pi("pi").bytes_with(Some(&k)));
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 1, 1, &[], Some(&k)));
}

/// The refusal the aggregator answers with: unauthenticated, never larger than the
/// datagram it answers.
fn refusal(node: &str, reason: Reason, answered: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = Refusal {
        node,
        boot_id: 7,
        reason,
    }
    .emit_within(&mut buf, answered.len())
    .expect("a refusal fits in the datagram it answers");
    buf[..n].to_vec()
}

#[test]
fn bad_missing_and_wrong_key_macs_are_dropped_counted_and_refused_with_the_reason() {
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    let mut tampered = Frame::pi("pi").bytes_with(Some(&k));
    let n = tampered.len();
    tampered[n - 20] ^= 1; // a value byte
    assert_eq!(
        h.send(&tampered),
        (
            Verdict::Auth(AuthFailure::BadMac),
            refusal("pi", Reason::BadMac, &tampered)
        )
    );
    let unkeyed = Frame::pi("pi").bytes();
    assert_eq!(
        h.send(&unkeyed),
        (
            Verdict::Auth(AuthFailure::MissingMac),
            refusal("pi", Reason::MissingMac, &unkeyed)
        )
    );
    let other = Key::new(2, b"another key").unwrap();
    let wrong_id = Frame::pi("pi").bytes_with(Some(&other));
    assert_eq!(
        h.send(&wrong_id),
        (
            Verdict::Auth(AuthFailure::WrongKeyId),
            refusal("pi", Reason::WrongKeyId, &wrong_id)
        )
    );
    let same_id_wrong_secret = Key::new(1, b"wrong secret").unwrap();
    let wrong_secret = Frame::pi("pi").bytes_with(Some(&same_id_wrong_secret));
    assert_eq!(
        h.send(&wrong_secret),
        (
            Verdict::Auth(AuthFailure::BadMac),
            refusal("pi", Reason::BadMac, &wrong_secret)
        )
    );
    let stranger = Frame::pi("stranger").bytes_with(Some(&k));
    let mut h2 = Harness::new(
        Some(KEYS),
        IngestConfig {
            refuse_unknown_nodes: true,
            ..IngestConfig::default()
        },
    );
    assert_eq!(
        h2.send(&stranger),
        (
            Verdict::UnknownNode,
            refusal("stranger", Reason::UnknownNode, &stranger)
        )
    );
    assert_eq!(h.stats.auth_failures_of(AuthFailure::BadMac), 2);
    assert_eq!(h.stats.auth_failures_of(AuthFailure::MissingMac), 1);
    assert_eq!(h.stats.auth_failures_of(AuthFailure::WrongKeyId), 1);
    assert!(h.ingest.store.get("pi").is_none(), "nothing stored");
}

#[test]
fn a_probe_is_answered_like_a_frame_and_stores_nothing() {
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    let header = DataHeader {
        node: "pi",
        boot_id: 7,
        seq: 0,
        resend_floor: 0,
        timestamp_ms: 0,
        interval_ms: 10_000,
        user_hz: 100,
        part: 0,
        parts: 1,
        key_id: Some(1),
    };
    let mut buf = [0u8; 128];
    let n = pimon_protocol::frame::write_probe(&mut buf, &header, Some(&k)).unwrap();
    assert_eq!(
        h.send(&buf[..n]),
        (Verdict::Probe, ack_bytes("pi", 7, 0, 0, &[], Some(&k)))
    );
    assert!(h.ingest.store.get("pi").is_none(), "a probe stores nothing");
    let n = pimon_protocol::frame::write_probe(
        &mut buf,
        &DataHeader {
            key_id: None,
            ..header
        },
        None,
    )
    .unwrap();
    assert_eq!(
        h.send(&buf[..n]),
        (
            Verdict::Auth(AuthFailure::MissingMac),
            refusal("pi", Reason::MissingMac, &buf[..n])
        )
    );
}

#[test]
fn maced_frame_without_key_file_is_refused() {
    let mut h = Harness::plain();
    assert_eq!(
        h.send(&Frame::pi("pi").bytes_with(Some(&key()))).0,
        Verdict::Auth(AuthFailure::WrongKeyId)
    );
}

#[test]
fn unknown_node_is_refused_with_keys() {
    // No `*` default: a node without a line has no key.
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    assert_eq!(
        h.send(&Frame::pi("stranger").bytes_with(Some(&k))).0,
        Verdict::UnknownNode
    );
    assert_eq!(get(&h.stats.unknown_nodes_refused), 1);
    // With a `*` default, refuse_unknown_nodes still admits only listed nodes.
    let keys =
        "pi 1 hex:00112233445566778899aabbccddeeff\n* 1 hex:00112233445566778899aabbccddeeff\n";
    let mut open = Harness::new(Some(keys), IngestConfig::default());
    assert_eq!(
        open.send(&Frame::pi("stranger").bytes_with(Some(&k))).0,
        Verdict::Stored
    );
    let cfg = IngestConfig {
        refuse_unknown_nodes: true,
        ..IngestConfig::default()
    };
    let mut strict = Harness::new(Some(keys), cfg);
    assert_eq!(
        strict.send(&Frame::pi("stranger").bytes_with(Some(&k))).0,
        Verdict::UnknownNode
    );
    assert_eq!(
        strict.send(&Frame::pi("pi").bytes_with(Some(&k))).0,
        Verdict::Stored
    );
}

#[test]
fn garbage_is_counted_by_kind() {
    let mut h = Harness::plain();
    assert_eq!(
        h.send(b"GET / HTTP/1.1").0,
        Verdict::Decode(DecodeErrorKind::BadMagic)
    );
    assert_eq!(h.send(b"PM").0, Verdict::Decode(DecodeErrorKind::TooShort));
    let mut long = Frame::pi("pi").bytes();
    long.resize(1233, 0);
    assert_eq!(h.send(&long).0, Verdict::Decode(DecodeErrorKind::TooLong));
    let ack = ack_bytes("pi", 1, 0, 0, &[], None);
    assert_eq!(
        h.send(&ack).0,
        Verdict::Decode(DecodeErrorKind::UnexpectedAck)
    );
    let mut truncated = Frame::pi("pi").bytes();
    truncated.truncate(truncated.len() - 1);
    assert!(matches!(h.send(&truncated).0, Verdict::Decode(_)));
    assert_eq!(h.stats.decode_errors_of(DecodeErrorKind::BadMagic), 1);
    assert_eq!(h.stats.decode_errors_of(DecodeErrorKind::TooLong), 1);
    assert_eq!(h.ingest.store.node_count(), 0);
}

#[test]
fn live_frame_with_skewed_clock_uses_receive_time() {
    let mut h = Harness::plain();
    // A Pi without RTC: 1970 + a bit.
    let (v, _) = h.send_at(&Frame::pi("pi").at(60_000).bytes(), T0);
    assert_eq!(v, Verdict::Stored);
    assert!(h.lines.ends_with(" 1700000000000\n"), "{}", h.lines);
    let m = &h.ingest.store.get("pi").unwrap().meta;
    assert_eq!(m.clock_skew_ms, 60_000 - T0 as i64);
    assert!(m.clock_bad);
    assert_eq!(get(&h.stats.clock_skewed_frames), 1);
    // Within the bound: the frame's own time.
    h.lines.clear();
    h.send_at(&Frame::pi("pi").seq(1).at(T0 + 10_000).bytes(), T0 + 10_500);
    assert!(h.lines.ends_with(" 1700000010000\n"), "{}", h.lines);
    assert!(!h.ingest.store.get("pi").unwrap().meta.clock_bad);
}

#[test]
fn resent_frame_keeps_its_old_timestamp_but_not_the_latest_value() {
    let mut h = Harness::plain();
    let t = T0 + 3_600_000;
    h.send_at(
        &Frame::new("pi")
            .seq(0)
            .at(t - 20_000)
            .group(&[], &[(id::LOAD1, Value::Unsigned(10))])
            .bytes(),
        t,
    );
    h.send_at(
        &Frame::new("pi")
            .seq(2)
            .at(t)
            .group(&[], &[(id::LOAD1, Value::Unsigned(30))])
            .bytes(),
        t,
    );
    h.lines.clear();
    // seq 1, resent late: an hour-old backfill is fine; its value is older than the stored one.
    let (v, _) = h.send_at(
        &Frame::new("pi")
            .seq(1)
            .at(t - 10_000)
            .group(&[], &[(id::LOAD1, Value::Unsigned(20))])
            .bytes(),
        t + 1,
    );
    assert_eq!(v, Verdict::Stored);
    assert_eq!(
        h.lines,
        format!("system,host=pi load1=0.2 {}\n", t - 10_000)
    );
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.3)));
    // 20 s off for a live frame and an hour-old resend are both within bounds.
    assert_eq!(get(&h.stats.clock_skewed_frames), 0);
}

#[test]
fn rollback_makes_the_batch_new_again() {
    let mut h = Harness::plain();
    h.ingest.begin_batch();
    h.send(&Frame::pi("pi").seq(0).bytes());
    h.send(&Frame::pi("new").seq(0).bytes());
    h.ingest.commit_batch();
    h.ingest.begin_batch();
    h.send(&Frame::pi("pi").seq(1).bytes());
    h.send(&Frame::pi("other").seq(0).bytes());
    h.ingest.rollback_batch();
    // "other" was created by the refused batch: gone. "pi" is back to seq 1 unseen.
    assert!(h.ingest.store.get("other").is_none());
    assert_eq!(h.counters("pi").received, 1);
    let (v, ack) = h.send(&Frame::pi("pi").seq(1).bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 2, 2, &[], None));
}

/// A frame of node `node` with sequence number `seq` and load1 = `load` / 100.
fn load_frame(node: &str, seq: u64, load: u64) -> Vec<u8> {
    Frame::new(node)
        .seq(seq)
        .group(&[], &[(id::LOAD1, Value::Unsigned(load))])
        .bytes()
}

#[test]
fn a_sealed_batch_commits_its_own_values_while_the_next_batch_is_open() {
    let mut h = Harness::plain();
    h.ingest.begin_batch();
    assert_eq!(h.send(&load_frame("pi", 0, 10)).0, Verdict::Stored);
    h.ingest.seal_batch();
    assert!(h.ingest.has_sealed());
    // The next batch is ingested while the outputs write the sealed one.
    h.ingest.begin_batch();
    assert_eq!(h.send(&load_frame("pi", 1, 20)).0, Verdict::Stored);
    assert_eq!(
        h.value("pi", id::LOAD1),
        None,
        "nothing visible before a commit"
    );
    h.ingest.commit_sealed();
    assert!(!h.ingest.has_sealed());
    assert_eq!(
        h.value("pi", id::LOAD1),
        Some(Number::F64(0.1)),
        "the sealed batch's value, not the open batch's"
    );
    h.ingest.commit_batch();
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.2)));
    assert_eq!(h.counters("pi").received, 2);
}

#[test]
fn a_refused_sealed_batch_rolls_back_the_batch_ingested_on_top_of_it() {
    let mut h = Harness::plain();
    h.ingest.begin_batch();
    h.send(&load_frame("pi", 0, 10));
    h.ingest.commit_batch();
    h.ingest.begin_batch();
    h.send(&load_frame("pi", 1, 20));
    h.send(&load_frame("new", 0, 30));
    h.ingest.seal_batch();
    h.ingest.begin_batch();
    h.send(&load_frame("pi", 2, 40));
    h.send(&load_frame("newer", 0, 50));
    h.ingest.rollback_sealed();
    // Both batches are gone: the nodes they created, and "pi" back to seq 1 unseen.
    assert!(!h.ingest.has_sealed());
    assert!(!h.ingest.in_batch());
    assert!(h.ingest.store.get("new").is_none());
    assert!(h.ingest.store.get("newer").is_none());
    assert_eq!(h.counters("pi").received, 1);
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.1)));
    // The collector's resends are stored again, in order.
    h.ingest.begin_batch();
    assert_eq!(h.send(&load_frame("pi", 1, 20)).0, Verdict::Stored);
    assert_eq!(h.send(&load_frame("pi", 2, 40)).0, Verdict::Stored);
    h.ingest.commit_batch();
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.4)));
    assert_eq!(h.counters("pi").received, 3);
}

#[test]
fn the_state_journaled_for_a_sealed_batch_is_its_own_not_the_open_batchs() {
    let mut h = Harness::plain();
    h.ingest.begin_batch();
    h.send(&load_frame("pi", 0, 10));
    h.send(&load_frame("pi", 1, 10));
    h.ingest.seal_batch();
    h.ingest.begin_batch();
    h.send(&load_frame("pi", 2, 10));
    // The sealed batch's acks answer seq 0 and 1: what a crash must find journaled.
    let acked = h.ingest.acked_meta("pi").expect("pi");
    assert_eq!(acked.counters.received, 2);
    assert_eq!(
        h.counters("pi").received,
        3,
        "the open batch's state is newer"
    );
    h.ingest.commit_sealed();
    h.ingest.commit_batch();
    assert_eq!(h.ingest.acked_meta("pi").unwrap().counters.received, 3);
}

#[test]
fn unknown_metric_ids_are_skipped_and_counted() {
    let mut h = Harness::plain();
    let f = Frame::new("pi").group(
        &[],
        &[
            (id::LOAD1, Value::Unsigned(1)),
            (60_000, Value::Unsigned(2)),
        ],
    );
    assert_eq!(h.send(&f.bytes()).0, Verdict::Stored);
    assert_eq!(get(&h.stats.unknown_samples), 1);
    assert_eq!(h.ingest.store.get("pi").unwrap().series.len(), 1);
}

// ---- Regression tests: nothing lost, nothing doubled, no one silences a node ----------

fn strictly_increasing(times: &[u64]) -> bool {
    times.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn frames_given_a_substitute_time_get_distinct_times_in_sequence_order() {
    // A Pi without RTC (clock near 1970) sends a backlog of 4 cycles that arrives in one
    // receive batch: one receive time for all. Each must keep its own point.
    let mut h = Harness::plain();
    for seq in 0..4 {
        let f = Frame::pi("pi").seq(seq).at(60_000 + seq * 10_000).bytes();
        assert_eq!(h.send_at(&f, T0).0, Verdict::Stored);
    }
    let times = h.system_times();
    assert_eq!(times.len(), 4);
    assert!(strictly_increasing(&times), "{times:?}");
    // A resend that fills a gap while the clock is still bad lands between its
    // neighbours.
    h.lines.clear();
    h.send_at(&Frame::pi("pi").seq(5).at(110_000).bytes(), T0 + 1);
    h.send_at(&Frame::pi("pi").seq(4).at(100_000).bytes(), T0 + 2);
    let more = h.system_times();
    assert!(
        times[3] < more[1] && more[1] < more[0],
        "{times:?} {more:?}"
    );
}

#[test]
fn a_late_frame_from_two_boots_ago_does_not_take_the_node_over() {
    let mut h = Harness::plain();
    let from = "10.0.0.5:4000";
    let two_ago = Frame::pi("pi").boot(7).seq(3).bytes();
    h.send_from(&Frame::pi("pi").boot(7).seq(2).bytes(), from, T0);
    h.send_from(
        &Frame::pi("pi").boot(8).seq(0).bytes(),
        "10.0.0.5:4001",
        T0 + 10_000,
    );
    h.send_from(
        &Frame::pi("pi").boot(9).seq(0).bytes(),
        "10.0.0.5:4002",
        T0 + 20_000,
    );
    // Boot 7's frame arrives very late (from the node's own address).
    let (v, ack) = h.send_from(&two_ago, from, T0 + 25_000);
    assert_ne!(v, Verdict::Stored);
    assert!(ack.is_empty());
    for seq in 1..20 {
        let t = T0 + 20_000 + seq * 10_000;
        let f = Frame::pi("pi").boot(9).seq(seq).at(t).bytes();
        assert_eq!(
            h.send_from(&f, "10.0.0.5:4002", t).0,
            Verdict::Stored,
            "seq {seq}"
        );
    }
    assert_eq!(h.ingest.store.get("pi").unwrap().meta.boot_id(), 9);
}

#[test]
fn frames_stored_by_an_earlier_run_are_not_counted_missing_after_a_restart() {
    // Run 1 stores 100..=120 but for 105; the collector holds 105..=120 (its ring pops
    // only from the head), so its resend floor stays 105.
    let mut run1 = Harness::plain();
    for seq in (100..=120).filter(|&s| s != 105) {
        run1.send(&Frame::pi("pi").seq(seq).floor(100).bytes());
    }
    assert_eq!(run1.counters("pi").missing, 0);
    // The aggregator restarts (no state kept): the collector's next frame, then the
    // resend of 105, then a floor past everything once 105..=120 are acked.
    let mut run2 = Harness::plain();
    assert_eq!(
        run2.send(&Frame::pi("pi").seq(121).floor(105).bytes()).0,
        Verdict::Stored
    );
    assert_eq!(
        run2.send(&Frame::pi("pi").seq(105).floor(105).bytes()).0,
        Verdict::Stored
    );
    run2.send(&Frame::pi("pi").seq(122).floor(122).bytes());
    assert_eq!(run2.counters("pi").missing, 0);
}

#[test]
fn a_clock_stepped_back_within_the_skew_keeps_the_series_current() {
    let mut h = Harness::plain();
    let load = |v: u64| Frame::new("pi").group(&[], &[(id::LOAD1, Value::Unsigned(v))]);
    h.send_at(&load(10).seq(0).at(T0).bytes(), T0);
    h.send_at(&load(11).seq(1).at(T0 + 10_000).bytes(), T0 + 10_000);
    // NTP steps the node's clock back by 60 s (within the 300 s bound).
    for seq in 2..6 {
        let now = T0 + seq * 10_000;
        let f = load(10 + seq).seq(seq).at(now - 60_000).bytes();
        assert_eq!(h.send_at(&f, now).0, Verdict::Stored);
    }
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.15)));
    h.ingest.store.sweep(T0 + 51_000);
    assert_eq!(
        h.ingest.store.get("pi").unwrap().series.len(),
        1,
        "not expired"
    );
    let times: Vec<u64> = h
        .lines
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(strictly_increasing(&times), "{times:?}");
}

#[test]
fn a_forged_huge_sequence_number_does_not_move_the_window() {
    let mut h = Harness::plain();
    let node = "10.0.0.5:4000";
    for seq in 0..3 {
        h.send_from(&Frame::pi("pi").seq(seq).bytes(), node, T0);
    }
    let forged = "10.6.6.6:5000";
    let (v, ack) = h.send_from(&Frame::pi("pi").seq(1_000_002).bytes(), forged, T0);
    assert_ne!(v, Verdict::Stored);
    assert!(ack.is_empty());
    // Anything up to u64::MAX, with the floor too: refused, and no arithmetic overflow.
    for (seq, floor) in [(u64::MAX, 0), (u64::MAX, u64::MAX), (u64::MAX - 1, 3)] {
        let f = Frame::pi("pi").seq(seq).floor(floor).bytes();
        assert_ne!(h.send_from(&f, forged, T0).0, Verdict::Stored);
    }
    let (v, ack) = h.send_from(&Frame::pi("pi").seq(3).bytes(), node, T0 + 10_000);
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 4, 4, &[], None));
    assert_eq!(h.counters("pi").missing, 0);
}

#[test]
fn a_refused_batch_leaves_no_values_and_no_counters_behind() {
    let mut h = Harness::plain();
    let frame = |seq: u64, load: u64, at: u64| {
        Frame::new("pi")
            .seq(seq)
            .at(at)
            .group(
                &[],
                &[
                    (id::LOAD1, Value::Unsigned(load)),
                    (60_000, Value::Unsigned(1)),
                ],
            )
            .bytes()
    };
    h.send(&frame(0, 10, T0));
    let before = (
        get(&h.stats.clock_skewed_frames),
        get(&h.stats.unknown_samples),
    );
    // A live frame with a skewed clock and an unknown metric, in a batch the outputs
    // refuse (twice: the collector resends).
    for _ in 0..2 {
        h.ingest.begin_batch();
        assert_eq!(
            h.send_at(&frame(1, 50, 60_000), T0 + 10_000).0,
            Verdict::Stored
        );
        assert_eq!(
            h.value("pi", id::LOAD1),
            Some(Number::F64(0.1)),
            "not visible before the outputs took it"
        );
        h.ingest.rollback_batch();
        assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.1)));
        assert_eq!(
            (
                get(&h.stats.clock_skewed_frames),
                get(&h.stats.unknown_samples)
            ),
            before
        );
    }
    h.ingest.begin_batch();
    assert_eq!(
        h.send_at(&frame(1, 50, 60_000), T0 + 10_000).0,
        Verdict::Stored
    );
    h.ingest.commit_batch();
    assert_eq!(h.value("pi", id::LOAD1), Some(Number::F64(0.5)));
    assert_eq!(
        (
            get(&h.stats.clock_skewed_frames),
            get(&h.stats.unknown_samples)
        ),
        (before.0 + 1, before.1 + 1)
    );
    let c = h.counters("pi");
    assert_eq!((c.received, c.clock_skewed), (2, 1));
}

#[test]
fn two_collectors_with_one_name_are_detected_and_the_active_one_keeps_storing() {
    let mut h = Harness::plain();
    let (a, b) = ("10.0.0.1:4000", "10.0.0.2:4000");
    for seq in 0..8 {
        let t = T0 + seq * 10_000;
        let fa = Frame::pi("pi").boot(7).seq(seq).at(t).bytes();
        assert_eq!(h.send_from(&fa, a, t).0, Verdict::Stored, "A seq {seq}");
        let fb = Frame::pi("pi").boot(9).seq(seq).at(t + 1).bytes();
        assert_ne!(h.send_from(&fb, b, t + 1).0, Verdict::Stored, "B seq {seq}");
    }
    let c = h.counters("pi");
    assert_eq!((c.received, c.boot_id_changes), (8, 0));
    assert_eq!((c.name_conflicts, c.unconfirmed), (1, 8));
    assert_eq!(get(&h.stats.name_conflicts), 1);
    assert_eq!(
        h.events,
        [Event::NameConflict {
            node: "pi".into(),
            current: (7, Some(a.parse().unwrap())),
            other: (9, b.parse().unwrap()),
        }],
        "reported once, with both addresses"
    );
}

#[test]
fn a_forged_new_boot_id_does_not_silence_the_node() {
    let mut h = Harness::plain();
    let node = "10.0.0.5:4000";
    for seq in 0..4 {
        let t = T0 + seq * 10_000;
        h.send_from(&Frame::pi("pi").seq(seq).at(t).bytes(), node, t);
    }
    let forged = Frame::pi("pi")
        .boot(0xdead_beef)
        .seq(0)
        .at(T0 + 35_000)
        .bytes();
    assert_ne!(
        h.send_from(&forged, "10.6.6.6:5000", T0 + 35_000).0,
        Verdict::Stored
    );
    for seq in 4..10 {
        let t = T0 + seq * 10_000;
        let f = Frame::pi("pi").seq(seq).at(t).bytes();
        assert_eq!(h.send_from(&f, node, t).0, Verdict::Stored, "seq {seq}");
    }
    assert_eq!(h.ingest.store.get("pi").unwrap().meta.boot_id(), 7);
}

#[test]
fn an_ack_to_an_unverified_sender_is_never_larger_than_its_datagram() {
    let mut h = Harness::plain();
    // 17 frames with a gap before each but the first: 16 gaps.
    for seq in (0..=32).step_by(2) {
        h.send(&Frame::pi("pi").seq(seq).bytes());
    }
    // A tiny datagram (no samples) of a long-done sequence number.
    let tiny = Frame::new("pi").seq(0).bytes();
    let (_, ack) = h.send(&tiny);
    assert!(!ack.is_empty(), "still acked");
    assert!(ack.len() <= tiny.len(), "{} > {}", ack.len(), tiny.len());
    // The shortened ack is still exact: what it says is stored, is.
    let a = pimon_protocol::Ack::parse(&ack).unwrap();
    for seq in 0..a.seen_below {
        assert_eq!(a.is_stored(seq), seq % 2 == 0, "seq {seq}");
    }
}

#[test]
fn the_mac_is_checked_before_the_frame_body_is_decoded() {
    // A forged frame with a malformed body: rejected for its MAC (the cheap check),
    // without decoding the body.
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let mut forged = Frame::pi("pi").bytes_with(Some(&key()));
    let body = 16 + 3 + 1 + 1 + 6 + 2 + 1; // preamble, node, seq, floor, ts, interval, hz
    forged[body] = 9; // label count 9: not a valid group
    assert_eq!(h.send(&forged).0, Verdict::Auth(AuthFailure::BadMac));
    assert_eq!(h.stats.auth_failures_of(AuthFailure::BadMac), 1);
}

#[test]
fn node_names_with_control_characters_are_refused_at_decode() {
    let mut h = Harness::plain();
    for bad in [0u8, b'\n', 0x1b, 0x7f] {
        let mut f = Frame::pi("evilX").bytes();
        let at = f.iter().position(|&b| b == b'X').unwrap();
        f[at] = bad;
        let (v, ack) = h.send(&f);
        assert!(matches!(v, Verdict::Decode(_)), "{bad:#x}: {v:?}");
        assert!(ack.is_empty());
    }
    assert_eq!(h.ingest.store.node_count(), 0);
}

#[test]
fn a_backlog_received_after_an_outage_keeps_its_own_timestamps() {
    // The aggregator was down for 30 minutes; the collector's ring (good clock) arrives
    // in one batch, oldest first. Each frame keeps the time it was collected at.
    let mut h = Harness::plain();
    let now = T0 + 1_800_000;
    for seq in 0..180 {
        let f = Frame::pi("pi").seq(seq).at(T0 + seq * 10_000).bytes();
        assert_eq!(h.send_at(&f, now).0, Verdict::Stored);
    }
    let times = h.system_times();
    let want: Vec<u64> = (0..180).map(|s| T0 + s * 10_000).collect();
    assert_eq!(times, want);
    assert_eq!(h.counters("pi").clock_skewed, 0);
}

#[test]
fn a_backlog_older_than_max_backfill_is_stored_at_distinct_ordered_times_within_the_bound() {
    // One-hour backfill bound. Cycles 0..3 live; 3..6 held by the collector for two
    // hours (the path was down); cycle 6 arrives live first, then the backlog.
    let mut h = Harness::new(
        None,
        IngestConfig {
            max_backfill_ms: 3_600_000,
            precision: Precision::Milliseconds,
            ..IngestConfig::default()
        },
    );
    let made = |seq: u64| T0 + seq * 10_000;
    for seq in 0..3 {
        h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), made(seq));
    }
    let now = T0 + 7_200_000;
    h.send_at(&Frame::pi("pi").seq(6).at(now).bytes(), now);
    for seq in 3..6 {
        let (v, ack) = h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), now + seq);
        assert_eq!(
            v,
            Verdict::Stored,
            "seq {seq}: acknowledged data must be stored"
        );
        assert!(!ack.is_empty());
    }
    let times = h.system_times();
    assert_eq!(times.len(), 7, "every frame stored: {times:?}");
    let mut by_seq = times.clone();
    // Lines are in arrival order: 0, 1, 2, 6, 3, 4, 5.
    by_seq.swap(3, 6);
    by_seq[3..6].rotate_left(1);
    let want_live = [made(0), made(1), made(2), now];
    assert_eq!(
        [by_seq[0], by_seq[1], by_seq[2], by_seq[6]],
        want_live,
        "live frames keep their own time"
    );
    assert!(
        strictly_increasing(&by_seq),
        "in sequence order: {by_seq:?}"
    );
    let bound = now - 3_600_000;
    assert!(
        by_seq[3..6].iter().all(|&t| t >= bound),
        "the backlog lands within the backfill bound {bound}: {by_seq:?}"
    );
    let c = h.counters("pi");
    assert_eq!((c.received, c.clock_skewed), (7, 3));
}

#[test]
fn a_backlog_made_with_a_clock_far_ahead_arriving_after_a_right_frame_stays_before_it() {
    // Cycles 0..3 live with a right clock; 3..6 made while the clock was 10 minutes
    // ahead and the path down; the clock corrected, cycle 6 arrives first, then the
    // backlog. The backlog must stay between cycle 2 and cycle 6, in order, and the
    // frames after it keep their own (right) time.
    let mut h = Harness::plain();
    let made = |seq: u64| T0 + seq * 10_000;
    let ahead = 600_000;
    for seq in 0..3 {
        h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), made(seq));
    }
    h.send_at(&Frame::pi("pi").seq(6).at(made(6)).bytes(), made(6));
    for seq in 3..6 {
        let f = Frame::pi("pi").seq(seq).at(made(seq) + ahead).bytes();
        assert_eq!(h.send_at(&f, made(6) + seq).0, Verdict::Stored);
    }
    for seq in 7..9 {
        h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), made(seq));
    }
    let times = h.system_times();
    // Arrival order 0, 1, 2, 6, 3, 4, 5, 7, 8 → sequence order.
    let by_seq: Vec<u64> = [0, 1, 2, 4, 5, 6, 3, 7, 8]
        .iter()
        .map(|&i| times[i])
        .collect();
    assert!(
        strictly_increasing(&by_seq),
        "in sequence order: {by_seq:?}"
    );
    for (seq, &t) in by_seq.iter().enumerate() {
        if !(3..6).contains(&seq) {
            assert_eq!(
                t,
                made(seq as u64),
                "seq {seq} had a right clock: its own time"
            );
        }
    }
}

#[test]
fn a_backlog_made_with_a_clock_far_ahead_whose_oldest_frame_comes_first_stays_in_order() {
    // As above, but the collector's probe (its oldest held frame) arrives first.
    let mut h = Harness::plain();
    let made = |seq: u64| T0 + seq * 10_000;
    let ahead = 600_000;
    for seq in 0..3 {
        h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), made(seq));
    }
    let arrive = made(6);
    h.send_at(&Frame::pi("pi").seq(3).at(made(3) + ahead).bytes(), arrive);
    h.send_at(&Frame::pi("pi").seq(6).at(made(6)).bytes(), arrive + 1);
    for seq in 4..6 {
        let f = Frame::pi("pi").seq(seq).at(made(seq) + ahead).bytes();
        h.send_at(&f, arrive + seq);
    }
    for seq in 7..9 {
        h.send_at(&Frame::pi("pi").seq(seq).at(made(seq)).bytes(), made(seq));
    }
    let times = h.system_times();
    // Arrival order 0, 1, 2, 3, 6, 4, 5, 7, 8 → sequence order.
    let by_seq: Vec<u64> = [0, 1, 2, 3, 5, 6, 4, 7, 8]
        .iter()
        .map(|&i| times[i])
        .collect();
    assert!(
        strictly_increasing(&by_seq),
        "in sequence order: {by_seq:?}"
    );
    for (seq, &t) in by_seq.iter().enumerate() {
        if !(3..6).contains(&seq) {
            assert_eq!(
                t,
                made(seq as u64),
                "seq {seq} had a right clock: its own time"
            );
        }
    }
}

/// With lines rendered, the values are staged from the same pass over the samples that
/// renders the lines: the store must end up exactly as when no lines are rendered (a
/// second walk of its own), for new, late (resent) and batched frames, groups of several
/// label sets included.
#[test]
fn values_staged_while_rendering_lines_equal_those_staged_without_lines() {
    let mut with_lines = Harness::plain();
    let mut without = Harness::new(
        None,
        IngestConfig {
            precision: Precision::Milliseconds,
            render_lines: false,
            ..IngestConfig::default()
        },
    );
    for h in [&mut with_lines, &mut without] {
        h.send(&Frame::realistic("pi", 1).seq(0).bytes());
        // 2 before 1: 1 is stored (lines) but must not move the values back.
        h.send(&Frame::realistic("pi", 3).seq(2).floor(0).bytes());
        h.send(&Frame::realistic("pi", 2).seq(1).floor(0).bytes());
        h.ingest.begin_batch();
        h.send(&Frame::realistic("pi", 4).seq(3).floor(0).bytes());
        h.send(&Frame::realistic("pi", 5).seq(4).floor(0).bytes());
        h.ingest.commit_batch();
    }
    assert!(
        with_lines.lines.lines().count() > 5 * 5,
        "lines were rendered"
    );
    assert!(without.lines.is_empty());
    let entries = |h: &Harness| {
        h.ingest
            .store
            .get("pi")
            .unwrap()
            .series
            .entries()
            .collect::<Vec<_>>()
    };
    assert_eq!(entries(&with_lines), entries(&without));
    assert_eq!(
        with_lines.value("pi", id::CPU_SECONDS_USER),
        without.value("pi", id::CPU_SECONDS_USER)
    );
    // The newest frame's values (v = 5), not the late one's.
    let load1 = with_lines.value("pi", id::LOAD1);
    assert_eq!(load1, Some(Number::F64(0.05)), "{load1:?}");
}
