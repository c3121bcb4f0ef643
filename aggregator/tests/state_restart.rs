//! Node protocol state across aggregator restarts (`--state-dir`): a frame stored again
//! after a crash gets the time it got before; a restarted aggregator counts nothing
//! missing that its previous run stored; keyed recordings are refused after a restart;
//! counters and boot ids survive. The crash case drives `Ingest` and `persist` as the
//! server does (the journal written before acks, no snapshot after); the restart cases
//! run the real server twice on one state directory, over UDP.

mod frames;
mod running;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use frames::{Frame, T0, ack_bytes};
use pimon_aggregator::config::StateDir;
use pimon_aggregator::influx::{LpFileConfig, LpTarget};
use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::persist::{self, Records, StateFile};
use pimon_aggregator::server::{Server, ServerError, now_ms};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::text::influx::Precision;
use pimon_protocol::{Key, MAX_DATAGRAM};
use running::{Running, client, local_config, metrics, recv, send_for_ack};

fn ingest() -> Ingest {
    Ingest::new(
        Store::new(Limits::default(), Staleness::default(), T0),
        None,
        IngestConfig {
            precision: Precision::Milliseconds,
            ..IngestConfig::default()
        },
        Arc::new(AggregatorStats::default()),
    )
}

/// Ingests `frames` at `now` as one committed batch, journalling what is urgent first
/// (as the server does before the acks); returns the `system` line times.
fn batch(ing: &mut Ingest, file: &mut StateFile, frames: &[Vec<u8>], now: u64) -> Vec<u64> {
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
    ing.begin_batch();
    for f in frames {
        let o = ing.ingest(
            f,
            "10.0.0.5:4000".parse().unwrap(),
            now,
            &mut lines,
            &mut ack,
        );
        assert_eq!(o.verdict, Verdict::Stored);
    }
    let urgent = ing.take_urgent();
    file.append(&Records::acked(ing, &urgent)).unwrap();
    ing.commit_batch();
    lines
        .lines()
        .filter(|l| l.starts_with("system,"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn reopen(dir: &Path) -> (Ingest, StateFile) {
    let (file, loaded) = StateFile::open(dir, T0).unwrap();
    let mut ing = ingest();
    persist::restore(&mut ing.store, loaded.nodes);
    (ing, file)
}

#[test]
fn an_acked_frame_stored_again_after_a_crash_gets_the_same_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ing, mut file) = reopen(dir.path());
    // A Pi at 1970: its first frame starts a timeline segment (journalled before the
    // ack); the next three are stored and acked, and then the aggregator crashes (no
    // snapshot).
    let frame = |seq: u64| Frame::pi("pi").seq(seq).at(60_000 + seq * 10_000).bytes();
    let mut times = batch(&mut ing, &mut file, &[frame(0)], T0);
    times.extend(batch(
        &mut ing,
        &mut file,
        &[frame(1), frame(2), frame(3)],
        T0 + 1,
    ));
    drop((ing, file));
    // An hour later the same frames arrive again (acks lost, or a replay): they are
    // stored again — with the times they had, so InfluxDB overwrites, not doubles.
    let (mut ing, mut file) = reopen(dir.path());
    let again = batch(
        &mut ing,
        &mut file,
        &[frame(1), frame(2), frame(3)],
        T0 + 3_600_000,
    );
    assert_eq!(again, times[1..]);
    // And the next new frame continues after them.
    let next = batch(&mut ing, &mut file, &[frame(4)], T0 + 3_600_000);
    assert!(next[0] > times[3], "{next:?} after {times:?}");
}

fn config_with_state(dir: &Path) -> pimon_aggregator::config::Config {
    let mut c = local_config();
    c.state_dir = StateDir::Dir(dir.join("state"));
    c
}

fn sample(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_restarted_aggregator_counts_nothing_missing_that_its_previous_run_stored() {
    let dir = tempfile::tempdir().unwrap();
    let sock = client();
    let now = now_ms();
    let f = |seq: u64, floor: u64| Frame::pi("pi").seq(seq).floor(floor).at(now).bytes();
    // Run 1 stores 100..=120 but 105; the collector's floor stays at 105.
    let server = Running::start(config_with_state(dir.path()));
    for seq in (100..=120).filter(|&s| s != 105) {
        send_for_ack(&sock, server.udp, &f(seq, 100));
    }
    server.stop().unwrap();
    // Run 2: the next frame, the resend of 105, then a floor past everything.
    let server = Running::start(config_with_state(dir.path()));
    // The saved window keeps which numbers above its base arrived: only 105 is asked
    // for again, the frames run 1 stored and acked above it are known.
    let ack = send_for_ack(&sock, server.udp, &f(121, 105));
    assert_eq!(ack, ack_bytes("pi", 7, 105, 122, &[(105, 1)], None));
    send_for_ack(&sock, server.udp, &f(105, 105));
    let ack = send_for_ack(&sock, server.udp, &f(122, 122));
    assert_eq!(ack, ack_bytes("pi", 7, 123, 123, &[], None));
    let text = metrics(server.http);
    assert_eq!(
        sample(&text, "pimon_node_frames_missing_total{instance=\"pi\"}"),
        Some(0),
        "{text}"
    );
    // Counters carry over: 20 + 3 frames stored.
    assert_eq!(
        sample(&text, "pimon_node_frames_received_total{instance=\"pi\"}"),
        Some(23)
    );
}

/// A frame stored above an open gap whose ack was lost is resent to the restarted
/// aggregator: it must be a duplicate, not stored a second time (the `--lp-out` file
/// held it twice before the saved window kept what arrived above its base).
#[test]
fn a_frame_resent_after_a_clean_restart_is_not_stored_again() {
    let dir = tempfile::tempdir().unwrap();
    let sock = client();
    let now = now_ms();
    let f = |seq: u64| Frame::pi("pi").seq(seq).floor(0).at(now + seq).bytes();
    let server = Running::start(config_with_state(dir.path()));
    for seq in [0, 1, 3] {
        send_for_ack(&sock, server.udp, &f(seq));
    }
    server.stop().unwrap();
    let server = Running::start(config_with_state(dir.path()));
    let ack = send_for_ack(&sock, server.udp, &f(3));
    assert_eq!(ack, ack_bytes("pi", 7, 2, 4, &[(2, 1)], None));
    let text = metrics(server.http);
    assert_eq!(
        sample(&text, "pimon_node_frames_received_total{instance=\"pi\"}"),
        Some(3),
        "{text}"
    );
    assert_eq!(
        sample(&text, "pimon_node_frames_duplicate_total{instance=\"pi\"}"),
        Some(1),
        "{text}"
    );
}

#[test]
fn keyed_recordings_are_refused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "pi 1 hex:0102030405060708\n").unwrap();
    let key = Key::new(1, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let lp = dir.path().join("out.lp");
    let config = || {
        let mut c = config_with_state(dir.path());
        c.key_file = Some(keys.clone());
        c.ingest.max_clock_skew_ms = 1_000;
        c.lp_out = Some(LpFileConfig {
            flush_interval: Duration::from_millis(10),
            ..LpFileConfig::new(LpTarget::File(lp.clone()))
        });
        c
    };
    let sock = client();
    // Run 1: the node's boot 7, then (restarted) boot 8. An eavesdropper records them.
    let server = Running::start(config());
    let t = now_ms();
    let boot7 = Frame::pi("pi").boot(7).seq(0).at(t).bytes_with(Some(&key));
    let boot8 = Frame::pi("pi")
        .boot(8)
        .seq(0)
        .at(t + 1)
        .bytes_with(Some(&key));
    send_for_ack(&sock, server.udp, &boot7);
    send_for_ack(&sock, server.udp, &boot8);
    server.stop().unwrap();
    let lines_before = std::fs::read_to_string(&lp).unwrap().lines().count();
    assert_eq!(lines_before, 6, "two frames of three lines");
    // More than max_skew later, the aggregator restarts and the recordings are replayed
    // from elsewhere: nothing is stored again.
    std::thread::sleep(Duration::from_millis(1_200));
    let server = Running::start(config());
    let replayer = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    replayer
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for recording in [&boot7, &boot8] {
        replayer.send_to(recording, server.udp).unwrap();
        // boot 8 is the current boot: its frame is long done, acked again, not stored.
        let _ = recv(&replayer);
    }
    // A frame of some older run, recorded long ago (a boot id never seen).
    let older = Frame::pi("pi")
        .boot(3)
        .seq(9)
        .at(t - 60_000)
        .bytes_with(Some(&key));
    replayer.send_to(&older, server.udp).unwrap();
    assert_eq!(recv(&replayer), None, "refused, not acked");
    // The node itself goes on.
    let live = Frame::pi("pi")
        .boot(8)
        .seq(1)
        .at(now_ms())
        .bytes_with(Some(&key));
    let ack = send_for_ack(&sock, server.udp, &live);
    assert_eq!(ack, ack_bytes("pi", 8, 2, 2, &[], Some(&key)));
    let text = metrics(server.http);
    server.stop().unwrap();
    let lines_after = std::fs::read_to_string(&lp).unwrap().lines().count();
    assert_eq!(
        lines_after,
        lines_before + 3,
        "only the live frame was stored"
    );
    assert_eq!(
        sample(&text, "pimon_node_boot_id_changes_total{instance=\"pi\"}"),
        Some(1)
    );
}

#[test]
fn a_state_directory_that_cannot_be_created_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let mut c = local_config();
    c.state_dir = StateDir::Dir(file.join("state"));
    let err = Server::bind(c).unwrap_err();
    assert!(matches!(err, ServerError::State(..)));
    let text = err.to_string();
    assert!(
        text.contains("not-a-dir/state") && text.contains("--state-dir"),
        "{text}"
    );
}
