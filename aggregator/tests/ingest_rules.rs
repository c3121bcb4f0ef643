//! Ingest rules, datagram by datagram, with frames built by `FrameWriter`: exact ack
//! bytes, de-duplication, reordering, gaps, resend floor, reboot, replay, MAC, unknown
//! nodes, clock skew, late resends, and rollback when the outputs refuse a batch.

mod frames;

use std::sync::Arc;

use frames::{Frame, T0, ack_bytes};
use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::keys::KeyRing;
use pimon_aggregator::stats::{AggregatorStats, AuthFailure, DecodeErrorKind, get};
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::{Number, id};
use pimon_protocol::text::influx::Precision;
use pimon_protocol::{Key, MAX_DATAGRAM, Value};

struct Harness {
    ingest: Ingest,
    stats: Arc<AggregatorStats>,
    lines: String,
    ack: [u8; MAX_DATAGRAM],
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

    /// Ingests at `now`; returns the verdict and the ack bytes.
    fn send_at(&mut self, datagram: &[u8], now: u64) -> (Verdict, Vec<u8>) {
        let o = self
            .ingest
            .ingest(datagram, now, &mut self.lines, &mut self.ack);
        (o.verdict, self.ack[..o.ack_len].to_vec())
    }

    fn send(&mut self, datagram: &[u8]) -> (Verdict, Vec<u8>) {
        self.send_at(datagram, T0)
    }

    fn counters(&self, node: &str) -> pimon_aggregator::node::NodeCounters {
        self.ingest.store.get(node).unwrap().meta.counters
    }

    fn value(&self, node: &str, metric: u16) -> Option<Number> {
        let rank = pimon_aggregator::series::family_rank(metric)?;
        let n = self.ingest.store.get(node)?;
        n.series
            .entries()
            .iter()
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

/// Regression (issue #4, found while writing docs/OPERATIONS.md): an aggregator that
/// restarts first hears a collector mid-stream; the frames below the collector's resend
/// floor were stored by the earlier run, so they must not count as missing, while the
/// ones the collector still holds are asked for.
#[test]
fn first_frame_mid_stream_starts_at_the_resend_floor_without_counting_missing() {
    let mut h = Harness::plain();
    let (v, ack) = h.send(&Frame::pi("pi").seq(120).floor(117).bytes());
    assert_eq!(v, Verdict::Stored);
    assert_eq!(ack, ack_bytes("pi", 7, 117, 121, &[(117, 3)], None));
    assert_eq!(h.counters("pi").missing, 0);
    // A later floor still counts what it gives up.
    h.send(&Frame::pi("pi").seq(121).floor(119).bytes());
    assert_eq!(h.counters("pi").missing, 2);
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
fn old_boot_id_frame_is_a_replay_and_not_acked() {
    let mut h = Harness::plain();
    let old = Frame::pi("pi").seq(0).at(T0).bytes();
    h.send(&old);
    h.send_at(
        &Frame::pi("pi").boot(8).seq(0).at(T0 + 20_000).bytes(),
        T0 + 20_000,
    );
    let (v, ack) = h.send_at(&old, T0 + 30_000);
    assert_eq!(v, Verdict::Replay);
    assert!(ack.is_empty());
    assert_eq!(get(&h.stats.replays), 1);
    assert_eq!(h.counters("pi").replays, 1);
    assert_eq!(h.ingest.store.get("pi").unwrap().meta.boot_id, 8);
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
    // A late frame of the previous run is refused, not a second restart.
    let (v, ack) = h.send_at(&Frame::pi("pi").boot(7).seq(1).bytes(), T0 + 20_000);
    assert_eq!((v, ack), (Verdict::Replay, vec![]));
    assert_eq!(h.counters("pi").boot_id_changes, 1);
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

#[test]
fn bad_missing_and_wrong_key_macs_are_dropped_and_counted() {
    let mut h = Harness::new(Some(KEYS), IngestConfig::default());
    let k = key();
    let mut tampered = Frame::pi("pi").bytes_with(Some(&k));
    let n = tampered.len();
    tampered[n - 20] ^= 1; // a value byte
    assert_eq!(
        h.send(&tampered),
        (Verdict::Auth(AuthFailure::BadMac), vec![])
    );
    assert_eq!(
        h.send(&Frame::pi("pi").bytes()),
        (Verdict::Auth(AuthFailure::MissingMac), vec![])
    );
    let other = Key::new(2, b"another key").unwrap();
    assert_eq!(
        h.send(&Frame::pi("pi").bytes_with(Some(&other))),
        (Verdict::Auth(AuthFailure::WrongKeyId), vec![])
    );
    let same_id_wrong_secret = Key::new(1, b"wrong secret").unwrap();
    assert_eq!(
        h.send(&Frame::pi("pi").bytes_with(Some(&same_id_wrong_secret))),
        (Verdict::Auth(AuthFailure::BadMac), vec![])
    );
    assert_eq!(h.stats.auth_failures_of(AuthFailure::BadMac), 2);
    assert_eq!(h.stats.auth_failures_of(AuthFailure::MissingMac), 1);
    assert_eq!(h.stats.auth_failures_of(AuthFailure::WrongKeyId), 1);
    assert!(h.ingest.store.get("pi").is_none(), "nothing stored");
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
