//! `kill -9` of the real `pimon-aggregator` binary writing `--lp-out` to a file: every
//! frame it acknowledged has all its lines in the file, exactly once, after a crash and
//! a restart, and the file holds whole lines only.
//!
//! The aggregator used to buffer the file's lines for up to a second and acknowledge
//! the frames first: a crash lost the acknowledged lines of that second (the collector
//! had dropped them from its ring).

mod frames;
mod running;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use frames::Frame;
use pimon_aggregator::server::now_ms;
use pimon_protocol::Message;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_aggregator(udp: SocketAddr, lp_out: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pimon-aggregator"))
        .args(["--udp", &udp.to_string(), "--http", "off", "--lp-out"])
        .arg(lp_out)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start pimon-aggregator")
}

/// Sends `frame` until an ack says it is stored (`acked_below > seq`).
fn send_until_acked(client: &UdpSocket, to: SocketAddr, frame: &Frame, log: &Path) {
    let bytes = frame.bytes();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        client.send_to(&bytes, to).unwrap();
        while let Some(ack) = running::recv(client) {
            if let Ok(Message::Ack(a)) = pimon_protocol::decode(&ack)
                && a.boot_id == frame.boot_id
                && a.acked_below > frame.seq
            {
                return;
            }
        }
    }
    panic!(
        "frame {} not acknowledged within 20 s; aggregator log:\n{}",
        frame.seq,
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Lines per timestamp (the last field of each line); panics on a partial line.
fn lines_per_timestamp(file: &Path) -> HashMap<String, usize> {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the file ends with a partial line"
    );
    let mut out = HashMap::new();
    for line in text.lines() {
        let ts = line.rsplit(' ').next().unwrap().to_string();
        assert!(ts.parse::<u64>().is_ok(), "not a whole line: {line:?}");
        *out.entry(ts).or_insert(0) += 1;
    }
    out
}

#[test]
fn kill9_after_acks_loses_no_acknowledged_line_of_the_lp_out_file() {
    const PER_RUN: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.lp");
    let log = dir.path().join("aggregator.log");
    let udp: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let client = running::client();
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let t0 = now_ms() - 2 * PER_RUN * 10;
    let frame = |seq: u64| Frame::pi("pi-crash").seq(seq).floor(seq).at(t0 + seq * 10);
    let ns = |seq: u64| ((t0 + seq * 10) * 1_000_000).to_string();

    for run in 0..2 {
        let mut child = spawn_aggregator(udp, &file, &log);
        for seq in run * PER_RUN..(run + 1) * PER_RUN {
            send_until_acked(&client, udp, &frame(seq), &log);
        }
        child.kill().unwrap(); // SIGKILL, right after the last ack
        child.wait().unwrap();

        let held = lines_per_timestamp(&file);
        let per_frame = held.get(&ns(0)).copied().unwrap_or(0);
        assert!(per_frame > 0, "frame 0 is not in the file");
        let acked = (run + 1) * PER_RUN;
        let missing: Vec<u64> = (0..acked)
            .filter(|&seq| held.get(&ns(seq)) != Some(&per_frame))
            .collect();
        assert!(
            missing.is_empty(),
            "run {run}: {} of {acked} acknowledged frames missing or incomplete in the file: {missing:?}",
            missing.len()
        );
        assert_eq!(held.len() as u64, acked, "only acknowledged frames");
    }
}
