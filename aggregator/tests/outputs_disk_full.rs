//! A disk that fills up, for real: a size-limited tmpfs mounted for each test (`mount -t
//! tmpfs -o size=…`, needs root or `CAP_SYS_ADMIN`; a test that cannot mount fails and
//! says so). The spool must apply its `when_full` policy when the disk fills before its
//! own cap, counted; the `--lp-out` file must refuse a batch it cannot write without
//! leaving a torn line; and both must resume by themselves once space returns.

mod frames;
mod running;
use pimon_test_support as support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use frames::Frame;
use pimon_aggregator::influx::{
    InfluxConfig, InfluxOutput, LineOutputs, LpFileConfig, LpFileOutput, LpTarget, OutputError,
};
use pimon_aggregator::server::now_ms;
use pimon_aggregator::spool::{
    FsyncPolicy, Spool, SpoolConfig, SpoolError, SpoolFullPolicy, SpoolStats,
};
use pimon_protocol::Message;
use support::fake_http::FakeHttpServer;

/// A tmpfs of a fixed size on a fresh directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount(8) for the disk-full tests: {e}"));
        assert!(
            out.status.success(),
            "cannot mount a {size} tmpfs for the disk-full tests (they need root or \
             CAP_SYS_ADMIN, e.g. a privileged CI container): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file of `bytes` that takes that much of the filesystem (something else on the
    /// same disk); deleting it is "space returns".
    fn filler(&self, bytes: usize) -> PathBuf {
        let path = self.path().join("filler");
        fs::write(&path, vec![0xAAu8; bytes]).unwrap();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn record(i: usize) -> Vec<u8> {
    // About 4 KiB of whole lines.
    (0..64)
        .flat_map(|k| format!("disk,host=n{i} k={k}i,v=\"{:040}\" {i}\n", i * 64 + k).into_bytes())
        .collect()
}

fn spool_config(dir: &Path, when_full: SpoolFullPolicy) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        max_bytes: 64 << 20, // far above the disk
        segment_bytes: Some(64 << 10),
        fsync: FsyncPolicy::Always,
        when_full,
    }
}

#[test]
fn spool_on_a_full_disk_drops_its_oldest_segments_counted_and_keeps_accepting() {
    let disk = Tmpfs::mount("512k");
    let stats = Arc::new(SpoolStats::default());
    let cfg = spool_config(&disk.path().join("spool"), SpoolFullPolicy::DropOldest);
    let spool = Spool::open(cfg.clone(), Arc::clone(&stats)).unwrap();
    const N: usize = 400; // about 1.6 MB through a 512 KiB disk
    for i in 0..N {
        smol::block_on(spool.append(&record(i)))
            .unwrap_or_else(|e| panic!("append {i} on a full disk with drop_oldest: {e}"));
    }
    assert!(
        stats.disk_full.load(Ordering::Relaxed) > 0,
        "disk full counted"
    );
    let dropped = stats.records_dropped_full.load(Ordering::Relaxed);
    assert!(dropped > 0);
    let mut kept = Vec::new();
    while let Some(batch) = spool.read_batch(1 << 20, 1 << 20).unwrap() {
        kept.extend_from_slice(&batch.body);
        spool.commit(&batch).unwrap();
    }
    let kept_records = kept.iter().filter(|&&b| b == b'\n').count() / 64;
    assert_eq!(
        kept_records as u64 + dropped,
        N as u64,
        "every record delivered or counted"
    );
    assert!(kept.ends_with(&record(N - 1)), "the newest are kept");
    assert_eq!(
        stats.lines_dropped_full.load(Ordering::Relaxed),
        dropped * 64
    );
    // Nothing half-written stays behind.
    drop(spool);
    let reopened = Arc::new(SpoolStats::default());
    let spool = Spool::open(cfg, Arc::clone(&reopened)).unwrap();
    assert_eq!(reopened.torn_truncations.load(Ordering::Relaxed), 0);
    assert_eq!(spool.read_batch(1 << 20, 1 << 20).unwrap(), None);
}

#[test]
fn spool_on_a_full_disk_refuses_new_counted_and_resumes_when_space_returns() {
    let disk = Tmpfs::mount("512k");
    let filler = disk.filler(128 << 10);
    let stats = Arc::new(SpoolStats::default());
    let cfg = spool_config(&disk.path().join("spool"), SpoolFullPolicy::RefuseNew);
    let spool = Spool::open(cfg.clone(), Arc::clone(&stats)).unwrap();
    let mut accepted = Vec::new();
    let mut i = 0;
    loop {
        match smol::block_on(spool.append(&record(i))) {
            Ok(_) => accepted.extend(record(i)),
            Err(SpoolError::DiskFull(_)) => break,
            Err(e) => panic!("append {i}: {e}"),
        }
        i += 1;
        assert!(i < 1000, "a 512 KiB disk never filled");
    }
    assert!(!accepted.is_empty());
    assert_eq!(stats.disk_full.load(Ordering::Relaxed), 1);
    assert_eq!(stats.appends_refused_full.load(Ordering::Relaxed), 1);
    assert_eq!(stats.records_dropped_full.load(Ordering::Relaxed), 0);
    // Still full: refused again, nothing half-written.
    assert!(matches!(
        smol::block_on(spool.append(&record(i))),
        Err(SpoolError::DiskFull(_))
    ));
    assert_eq!(stats.appends_refused_full.load(Ordering::Relaxed), 2);
    // Space returns: the same record goes in.
    fs::remove_file(filler).unwrap();
    smol::block_on(spool.append(&record(i)))
        .expect("the spool takes records again once space returns");
    accepted.extend(record(i));
    drop(spool);
    let reopened = Arc::new(SpoolStats::default());
    let spool = Spool::open(cfg, Arc::clone(&reopened)).unwrap();
    assert_eq!(reopened.torn_truncations.load(Ordering::Relaxed), 0);
    let mut all = Vec::new();
    while let Some(batch) = spool.read_batch(1 << 20, 1 << 20).unwrap() {
        all.extend_from_slice(&batch.body);
        spool.commit(&batch).unwrap();
    }
    assert_eq!(all, accepted);
}

#[test]
fn lp_file_on_a_full_disk_refuses_without_a_torn_line_and_resumes_when_space_returns() {
    let disk = Tmpfs::mount("256k");
    let filler = disk.filler(128 << 10);
    let file = disk.path().join("out.lp");
    let lp = LpFileOutput::open(LpFileConfig::new(LpTarget::File(file.clone()))).unwrap();
    let outputs = LineOutputs::new(Vec::new(), Some(lp));
    let mut accepted = Vec::new();
    let mut i = 0;
    loop {
        match smol::block_on(outputs.submit(&record(i))) {
            Ok(()) => accepted.extend(record(i)),
            Err(OutputError::Io(_)) => break,
            Err(e) => panic!("{e}"),
        }
        i += 1;
        assert!(i < 1000, "a 256 KiB disk never filled");
    }
    assert!(!accepted.is_empty());
    assert_eq!(fs::read(&file).unwrap(), accepted, "whole lines only");
    assert!(smol::block_on(outputs.submit(&record(i))).is_err());
    assert_eq!(fs::read(&file).unwrap(), accepted);
    let errors = &outputs.lp().unwrap().stats().write_errors;
    assert_eq!(errors.load(Ordering::Relaxed), 2);
    // Space returns: the same batch (the collectors resend it) goes through.
    fs::remove_file(filler).unwrap();
    smol::block_on(outputs.submit(&record(i)))
        .expect("the file output takes lines again once space returns");
    accepted.extend(record(i));
    assert_eq!(fs::read(&file).unwrap(), accepted);
}

/// The `--lp-out` file cannot take a batch: no other output may keep it either, or the
/// collectors' resends would be stored in the InfluxDB spool again and again.
#[test]
fn lp_file_on_a_full_disk_refuses_the_batch_for_every_output() {
    let disk = Tmpfs::mount("64k");
    let filler = disk.filler(64 << 10);
    let influxdb = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let lp = LpFileOutput::open(LpFileConfig::new(LpTarget::File(
        disk.path().join("out.lp"),
    )))
    .unwrap();
    assert!(lp.is_durable());
    let influx =
        InfluxOutput::open(InfluxConfig::v1(&influxdb.url, "pimon", spool.path())).unwrap();
    let outputs = LineOutputs::new(vec![influx.clone()], Some(lp));
    for _resend in 0..3 {
        assert!(matches!(
            smol::block_on(outputs.submit(&record(0))),
            Err(OutputError::Io(_))
        ));
    }
    assert_eq!(
        influx.pending_lines(),
        0,
        "the InfluxDB output keeps none of it"
    );
    assert!(smol::block_on(influx.flush(Duration::from_secs(5))).unwrap());
    assert!(
        influxdb.requests().is_empty(),
        "nothing was sent to InfluxDB"
    );
    fs::remove_file(filler).unwrap();
    smol::block_on(outputs.submit(&record(0))).unwrap();
    assert_eq!(influx.pending_lines(), 64);
    assert_eq!(fs::read(disk.path().join("out.lp")).unwrap(), record(0));
}

/// The whole server, frames over UDP, InfluxDB down, the spool on a disk with 128 KiB
/// free, far below `spool_max_bytes`: with `drop_oldest` every frame is still acknowledged (the
/// oldest spooled lines give way, counted); with `refuse_new` frames wait unacknowledged
/// in the collector while the disk is full and are acknowledged once space returns.
#[test]
fn server_keeps_acking_through_a_full_spool_disk_per_when_full() {
    for when_full in [SpoolFullPolicy::DropOldest, SpoolFullPolicy::RefuseNew] {
        let disk = Tmpfs::mount("256k");
        let filler = disk.filler(128 << 10);
        let mut config = running::local_config();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut influx = InfluxConfig::v1(
            &format!("http://127.0.0.1:{port}"),
            "pimon",
            disk.path().join("spool"),
        );
        influx.spool.max_bytes = 64 << 20;
        influx.spool.when_full = when_full;
        influx.shutdown_timeout = Duration::from_millis(100); // InfluxDB is down
        config.influx = vec![influx];
        let server = running::Running::start(config);
        let client = running::client();
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let t0 = now_ms() - 1000;
        let frame = |seq: u64| Frame::realistic("pi-full", seq).seq(seq).at(t0 + seq);
        let acked = |seq: u64| -> bool {
            client.send_to(&frame(seq).bytes(), server.udp).unwrap();
            while let Some(ack) = running::recv(&client) {
                if let Ok(Message::Ack(a)) = pimon_protocol::decode(&ack)
                    && a.acked_below > seq
                {
                    return true;
                }
            }
            false
        };
        let metric = |name: &str| -> u64 {
            let text = running::metrics(server.http);
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /metrics"))
        };
        // About 2 KB of lines per frame: 200 frames are 400 KB.
        let mut seq = 0;
        match when_full {
            SpoolFullPolicy::DropOldest => {
                while seq < 200 {
                    assert!(acked(seq), "frame {seq} not acknowledged (drop_oldest)");
                    seq += 1;
                }
                assert!(metric("pimon_influx_spool_disk_full_total{") > 0);
                assert!(metric("pimon_influx_spool_lines_dropped_full_total{") > 0);
            }
            SpoolFullPolicy::RefuseNew => {
                while acked(seq) {
                    seq += 1;
                    assert!(seq < 200, "128 KiB never filled");
                }
                assert!(metric("pimon_influx_spool_disk_full_total{") > 0);
                assert!(metric("pimon_influx_spool_appends_refused_full_total{") > 0);
                assert!(!acked(seq), "still full: not acknowledged");
                // Space returns: the collector's resend is acknowledged.
                fs::remove_file(&filler).unwrap();
                assert!(
                    running::wait_until(Duration::from_secs(10), || acked(seq)),
                    "frame {seq} acknowledged once space returned"
                );
            }
        }
        server.stop().unwrap();
        drop(filler);
    }
}
