//! The running binary and its signals: SIGTERM/SIGINT finish the cycle, linger
//! for outstanding acks and exit 0; `--linger` is bounded when the aggregator is gone
//! and resends gaps while it waits; SIGHUP reloads the config (a broken one is refused
//! with its line and the collector keeps running).

mod send_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use send_support::{Behaviour, FakeAggregator, fixture};

/// Datagrams of one unkeyed cycle of the Pi 4 fixture (three since the netclass
/// families).
const FRAMES: usize = 3;

/// The collector as a child process, with its stderr collected.
struct Collector {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Collector {
    fn start(args: &[&str]) -> Collector {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pimon-collector"))
            .args(["--root", fixture("pi4").to_str().unwrap(), "--node", "pi4"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Collector { child, stderr }
    }

    #[allow(unsafe_code)] // kill(2): std has no way to send a chosen signal
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill takes a pid and a signal number; the child is ours and alive
        // (or a zombie we have not reaped, so the pid cannot be reused).
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0);
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `text`.
    fn wait_for_log(&self, text: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        while !self.stderr().contains(text) {
            assert!(Instant::now() < end, "no {text:?} in:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit; returns the status and how long it took.
    fn wait_exit(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50)); // let the reader finish
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < timeout,
                "still running:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_at_once_and_exits_0() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let agg = FakeAggregator::start(Behaviour::Ack, None);
        let mut c = Collector::start(&["--aggregator", &agg.addr.to_string(), "--interval", "1h"]);
        wait_until("the first cycle", Duration::from_secs(10), || {
            agg.log().stored.len() == FRAMES
        });
        std::thread::sleep(Duration::from_millis(100));
        c.signal(signal);
        let (status, took) = c.wait_exit(Duration::from_secs(5));
        assert_eq!(status.code(), Some(0), "{}", c.stderr());
        assert!(took < Duration::from_secs(2), "{took:?}");
        let log = c.stderr();
        assert!(
            log.contains(&format!("stopping after 1 cycle(s): {FRAMES} frames sent")),
            "{log}"
        );
        assert!(log.contains(" 0 unacknowledged;"), "{log}");
    }
}

#[test]
fn linger_is_bounded_when_the_aggregator_is_gone() {
    let agg = FakeAggregator::start(Behaviour::Ack, None);
    agg.set_present(false);
    let mut c = Collector::start(&[
        "--aggregator",
        &agg.addr.to_string(),
        "--interval",
        "1h",
        "--linger",
        "700ms",
    ]);
    wait_until("the first frames", Duration::from_secs(10), || {
        agg.log().dropped >= FRAMES as u64
    });
    c.signal(libc::SIGTERM);
    let (status, took) = c.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "{took:?}"
    );
    let log = c.stderr();
    assert!(
        log.contains(&format!(
            "waiting up to 700ms for {FRAMES} unacknowledged frame(s)"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("{FRAMES} unacknowledged (lost on exit)")),
        "{log}"
    );
}

#[test]
fn linger_resends_gaps_until_everything_is_acked() {
    let agg = FakeAggregator::start(Behaviour::DropEveryThird, None);
    let mut c = Collector::start(&[
        "--aggregator",
        &agg.addr.to_string(),
        "--interval",
        "100ms",
        "--cycles",
        "6",
        "--linger",
        "10s",
    ]);
    let (status, _) = c.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    let log = agg.log();
    assert!(log.dropped >= 4, "{log:?}");
    assert_eq!(
        log.stored.iter().copied().collect::<Vec<_>>(),
        (0..6 * FRAMES as u64).collect::<Vec<u64>>()
    );
    let stderr = c.stderr();
    assert!(
        stderr.contains(&format!(
            "stopping after 6 cycle(s): {} frames sent",
            6 * FRAMES
        )),
        "{stderr}"
    );
    assert!(stderr.contains(" 0 unacknowledged;"), "{stderr}");
}

#[test]
fn sighup_reloads_the_config_and_refuses_a_broken_one() {
    let first = FakeAggregator::start(Behaviour::Ack, None);
    let second = FakeAggregator::start(Behaviour::Ack, None);
    let dir = std::env::temp_dir().join(format!("pimon-cli-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg: PathBuf = dir.join("collector.conf");
    std::fs::write(
        &cfg,
        format!("aggregator = {}\ninterval = 1h\n", first.addr),
    )
    .unwrap();
    let mut c = Collector::start(&["--config", cfg.to_str().unwrap()]);
    wait_until("the first cycle", Duration::from_secs(10), || {
        first.log().stored.len() == FRAMES
    });

    std::fs::write(&cfg, "aggregator = 127.0.0.1:1\ninterval = 1 hour\n").unwrap();
    c.signal(libc::SIGHUP);
    c.wait_for_log(
        &format!("reload: {}:2: interval:", cfg.display()),
        Duration::from_secs(5),
    );
    assert!(c.stderr().contains("keeping the running configuration"));

    std::fs::write(
        &cfg,
        format!("aggregator = {}\ninterval = 100ms\n", second.addr),
    )
    .unwrap();
    c.signal(libc::SIGHUP);
    c.wait_for_log("configuration reloaded", Duration::from_secs(5));
    // The new interval and aggregator take effect: cycles every 100 ms to `second`.
    wait_until(
        "frames at the new aggregator",
        Duration::from_secs(10),
        || second.log().stored.len() >= 6,
    );
    assert_eq!(
        first.log().stored.len(),
        FRAMES,
        "nothing more to the old aggregator"
    );
    c.signal(libc::SIGTERM);
    let (status, _) = c.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", c.stderr());
    let _ = std::fs::remove_dir_all(&dir);
}
