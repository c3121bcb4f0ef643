//! The outputs together (`LineOutputs`): a batch is kept by every output or by none, the
//! `--lp-out` file holds whole lines, and a receive batch larger than the spool is handed
//! over in parts that fit (the whole server, frames over UDP).

mod frames;
mod running;
use pimon_test_support as support;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use frames::Frame;
use pimon_aggregator::influx::OutputError;
use pimon_aggregator::influx::{
    InfluxConfig, InfluxOutput, LineOutputs, LpFileConfig, LpFileOutput, LpTarget,
};
use pimon_aggregator::server::{Server, now_ms};
use pimon_aggregator::spool::{FsyncPolicy, SpoolError, SpoolFullPolicy};
use pimon_protocol::Message;
use support::fake_http::FakeHttpServer;

/// A URL where nothing listens (InfluxDB down): lines stay in the spool.
fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

fn lp_file(path: &Path) -> LpFileOutput {
    LpFileOutput::open(LpFileConfig::new(LpTarget::File(path.to_path_buf()))).unwrap()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// The collector resends a frame its aggregator did not acknowledge because the
/// InfluxDB output's spool refused it: the `--lp-out` file must not take the frame's
/// lines on every attempt, only once, when every output takes them.
#[test]
fn a_refusing_output_keeps_the_others_from_storing_the_lines_on_every_resend() {
    let influxdb = FakeHttpServer::always_204();
    let spool = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.lp");
    // The output's task does not run: nothing is delivered until `flush` below.
    let mut c = InfluxConfig::v1(&influxdb.url, "pimon", spool.path());
    c.spool.max_bytes = 1 << 20;
    c.spool.when_full = SpoolFullPolicy::RefuseNew;
    c.spool.fsync = FsyncPolicy::Never;
    let influx = InfluxOutput::open(c).unwrap();
    let outputs = LineOutputs::new(vec![influx.clone()], Some(lp_file(&file)));
    // Fill the spool: InfluxDB is down.
    let filler: Vec<u8> = (0..2000)
        .flat_map(|i| format!("filler,host=x v={i}i {i}\n").into_bytes())
        .collect();
    let frame = b"cpu,host=pi usage_idle=97.5 1700000000000000000\n";
    let small = b"cpu,host=pi usage_idle=11.1 1600000000000000000\n";
    assert_eq!(frame.len(), small.len());
    let (mut held_bytes, mut held_lines) = (0, 0);
    for chunk in [&filler[..], &small[..]] {
        loop {
            match smol::block_on(outputs.submit(chunk)) {
                Ok(()) => {
                    held_bytes += chunk.len();
                    held_lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                }
                Err(OutputError::Spool(SpoolError::Full)) => break,
                Err(e) => panic!("{e}"),
            }
        }
    }
    for _resend in 0..3 {
        assert!(smol::block_on(outputs.submit(frame)).is_err());
    }
    smol::block_on(outputs.lp().unwrap().flush()).unwrap();
    let held = std::fs::read(&file).unwrap();
    assert_eq!(count(&held, frame), 0, "a refused frame is in the file");
    assert_eq!(held.len(), held_bytes);
    assert_eq!(influx.pending_lines(), held_lines);
    // InfluxDB takes the spool, then the resend is taken by both outputs, once.
    assert!(smol::block_on(influx.flush(Duration::from_secs(10))).unwrap());
    smol::block_on(outputs.submit(frame)).unwrap();
    smol::block_on(outputs.lp().unwrap().flush()).unwrap();
    assert_eq!(count(&std::fs::read(&file).unwrap(), frame), 1);
    assert_eq!(influx.pending_lines(), 1);
    let refused = &influx.stats().spool.appends_refused_full;
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 5);
}

#[test]
fn the_lp_file_is_cut_back_to_whole_lines_at_open_and_appended_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.lp");
    std::fs::write(&file, b"a v=1i 1\nb v=2i 2\nc v=3").unwrap();
    let lp = lp_file(&file);
    smol::block_on(lp.submit(b"d v=4i 4\n")).unwrap();
    smol::block_on(lp.flush()).unwrap();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"a v=1i 1\nb v=2i 2\nd v=4i 4\n"
    );
    // A file without any line end is not cut: probably not line protocol.
    std::fs::write(&file, b"not line protocol").unwrap();
    let err = LpFileOutput::open(LpFileConfig::new(LpTarget::File(file.clone()))).unwrap_err();
    assert!(
        err.to_string().contains("not a line-protocol file"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"not line protocol");
}

#[test]
fn a_line_protocol_file_or_spool_that_cannot_be_opened_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, b"not a directory\n").unwrap();
    for path in [dir.path().join("no/such/dir/out.lp"), a_file.join("out.lp")] {
        let err = LpFileOutput::open(LpFileConfig::new(LpTarget::File(path.clone())))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
    let spool_dir = a_file.join("spool");
    let Err(err) = InfluxOutput::open(InfluxConfig::v1(&closed_port_url(), "d", spool_dir.clone()))
    else {
        panic!("a spool under a regular file must not open");
    };
    let err = err.to_string();
    assert!(err.contains(&spool_dir.display().to_string()), "{err}");
}

/// `--lp-out /dev/stdout` or a FIFO cannot be synced or cut back: it is a best-effort
/// stream like `-` (a pwrite there would fail and refuse every batch, forever).
#[test]
fn lp_out_to_a_fifo_is_a_best_effort_stream() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    let lp = lp_file(&fifo);
    assert!(!lp.is_durable());
    smol::block_on(lp.submit(b"a v=1i 1\n")).unwrap();
    smol::block_on(lp.flush()).unwrap();
    // The output holds the FIFO open read-write, so its data waits for a reader.
    let mut reader = std::fs::File::open(&fifo).unwrap();
    let mut got = [0u8; 9];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a v=1i 1\n");
}

/// A receive batch of 1,000 frames renders about 2 MB of lines: more than the 1 MiB
/// spool holds as one record. It used to fail with `RecordTooLarge` on every attempt,
/// so nothing was acknowledged, ever. It is now handed over in parts that fit.
#[test]
fn a_receive_batch_larger_than_the_spool_is_split_and_every_frame_acked() {
    const FRAMES: u64 = 1000;
    let spool = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.lp");
    let mut config = running::local_config();
    config.udp_batch = 1024;
    config.udp_receive_buffer = 4 << 20;
    let mut influx = InfluxConfig::v1(&closed_port_url(), "pimon", spool.path());
    influx.spool.max_bytes = 1 << 20;
    influx.spool.fsync = FsyncPolicy::Never;
    influx.shutdown_timeout = Duration::from_millis(100); // InfluxDB is down
    config.influx = vec![influx];
    config.lp_out = Some(LpFileConfig::new(LpTarget::File(file.clone())));
    let server = Server::bind(config).unwrap();
    let udp = server.udp_addrs()[0];
    let http = server.http_addr().unwrap();
    let stats = server.stats();
    // Queue every frame in the socket before the server reads: one receive batch.
    let client = running::client();
    let t0 = now_ms() - FRAMES;
    for seq in 0..FRAMES {
        let frame = Frame::realistic("pi-big", seq).seq(seq).at(t0 + seq);
        client.send_to(&frame.bytes(), udp).unwrap();
    }
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let thread = std::thread::spawn(move || {
        smol::block_on(server.run(async move {
            let _ = stop_rx.recv().await;
        }))
    });
    let acked_below = highest_ack(&client, udp);
    assert!(
        running::wait_until(Duration::from_secs(5), || stats
            .datagrams_received
            .load(std::sync::atomic::Ordering::Relaxed)
            == FRAMES),
        "the kernel dropped datagrams: raise net.core.rmem_max to 4 MiB for this test"
    );
    assert_eq!(acked_below, FRAMES, "every frame is acknowledged");
    let metrics = running::metrics(http);
    drop(stop_tx);
    thread.join().unwrap().unwrap();

    let held = std::fs::read(&file).unwrap();
    let lines = held.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(held.len() > 1 << 20, "the batch was larger than the spool");
    let timestamps: HashSet<&[u8]> = held
        .split(|&b| b == b'\n')
        .filter_map(|l| l.rsplit(|&b| b == b' ').next())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(timestamps.len() as u64, FRAMES, "every frame in the file");
    // The spool kept what fits and counted what it dropped for room: nothing else but
    // the aggregator's own lines, written from the first housekeeping tick (2 s) on
    // when the run is slow.
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    let pending = value("pimon_influx_spool_pending_lines{");
    let dropped = value("pimon_influx_spool_lines_dropped_full_total{");
    let self_lines = value("pimon_aggregator_self_lines_total ");
    assert_eq!(pending + dropped, lines + self_lines);
    assert!(value("pimon_influx_spool_bytes{") <= 1 << 20);
}

/// Reads acks until none comes for a second; returns the highest `acked_below`.
fn highest_ack(client: &UdpSocket, _from: SocketAddr) -> u64 {
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut best = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Some(bytes) = running::recv(client) else {
            if best > 0 {
                break;
            }
            continue;
        };
        if let Ok(Message::Ack(ack)) = pimon_protocol::decode(&bytes) {
            best = best.max(ack.acked_below);
        }
    }
    best
}
