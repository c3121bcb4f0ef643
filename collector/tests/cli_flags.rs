//! The `pimon-collector` binary's interface: `--help`, `--version`, flag errors,
//! `--print=wire|prom|influx` on the Pi 4 fixture, `--check` and config/key file errors
//! that name the line.

mod send_support;

use std::path::PathBuf;
use std::process::{Command, Output};

use send_support::fixture;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pimon-collector"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pimon-cli-flags-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn pi4() -> String {
    fixture("pi4").to_str().unwrap().to_string()
}

#[test]
fn help_explains_every_flag() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--aggregator HOST:PORT",
        "--node NAME",
        "--root DIR",
        "--interval DUR",
        "--cycles N",
        "--once",
        "--key-file PATH",
        "--config PATH",
        "--ring-bytes N",
        "--linger DUR",
        "--print FORMAT",
        "--check",
        "--verbose",
        "--help",
        "--version",
        "SIGTERM",
        "SIGHUP",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn version_names_target_and_commit() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let v = text(&out.stdout);
    let rest = v.trim().strip_prefix("pimon-collector 0.1.0 (").unwrap();
    let (target, commit) = rest
        .strip_suffix(')')
        .unwrap()
        .split_once(", git ")
        .unwrap();
    assert!(target.contains("linux"), "{v}");
    assert!(!commit.is_empty(), "{v}");
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    for (args, want) in [
        (&["--bogus"][..], "--bogus"),
        (&["--interval", "10"][..], "needs a unit"),
        (&["--print", "json"][..], "prom, influx, wire"),
        (
            &[
                "--node",
                "this-node-name-is-much-longer-than-32-bytes",
                "--once",
            ][..],
            "--node",
        ),
        (
            &["--node", "evil\u{1b}[2J", "--once"][..],
            "without control characters",
        ),
        (&["--aggregator", "nohost", "--once"][..], "HOST:PORT"),
        (&["--ring-bytes", "100", "--once"][..], "--ring-bytes"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn print_wire_shows_each_datagram_and_the_bytes_per_value() {
    let key = temp_file(
        "wire.key",
        "# test key\n1 hex:000102030405060708090a0b0c0d0e0f\n",
    );
    let out = run(&[
        "--root",
        &pi4(),
        "--node",
        "pi4",
        "--once",
        "--print=wire",
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let parts: Vec<(u32, u32, usize, usize)> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (i, n) = f[0].strip_prefix("part=").unwrap().split_once('/').unwrap();
            let bytes = f[1].strip_prefix("bytes=").unwrap().parse().unwrap();
            let values = f[2].strip_prefix("values=").unwrap().parse().unwrap();
            (i.parse().unwrap(), n.parse().unwrap(), bytes, values)
        })
        .collect();
    // The Pi 4 tree's cycle is a few datagrams (3 since node_exporter's netstat,
    // sockstat, vmstat and softnet families); each says its place and the count.
    let count = parts.len() as u32;
    assert!(count >= 2, "{stdout}");
    for (k, &(i, n, bytes, values)) in parts.iter().enumerate() {
        assert_eq!((i, n), (k as u32 + 1, count));
        assert!(bytes <= 1232 && values > 0);
    }
    let total_bytes: usize = parts.iter().map(|p| p.2).sum();
    let total_values: usize = parts.iter().map(|p| p.3).sum();
    let per = total_bytes as f64 / total_values as f64;
    assert_eq!(
        lines[lines.len() - 1],
        format!(
            "total parts={count} bytes={total_bytes} values={total_values} bytes/value={per:.2}"
        )
    );
    assert!(per <= 8.0);
}

#[test]
fn print_prom_and_influx_render_the_fixture() {
    let out = run(&["--root", &pi4(), "--node", "pi4", "--once", "--print=prom"]);
    assert!(out.status.success());
    let prom = text(&out.stdout);
    // /proc/loadavg of the fixture: 0.52 0.58 0.59.
    assert!(
        prom.contains("node_load1{instance=\"pi4\"} 0.52\n"),
        "{prom}"
    );
    assert!(prom.contains("# TYPE node_cpu_seconds_total counter\n"));
    assert!(prom.contains("pimon_collector_frames_sent_total{instance=\"pi4\"} 0\n"));
    assert_eq!(
        prom.matches("# TYPE node_network_receive_bytes_total")
            .count(),
        1
    );
    let out = run(&[
        "--root",
        &pi4(),
        "--node",
        "pi4",
        "--once",
        "--print",
        "influx",
    ]);
    assert!(out.status.success());
    let influx = text(&out.stdout);
    let system = influx
        .lines()
        .find(|l| l.starts_with("system,host=pi4 "))
        .unwrap();
    assert!(
        system.contains("load1=0.52,load5=0.58,load15=0.59"),
        "{system}"
    );
    // measurement+tags, fields, timestamp: two unescaped spaces ("/media/pi/USB Stick"
    // is a tag value with an escaped one).
    for line in influx.lines() {
        let unescaped = line
            .match_indices(' ')
            .filter(|&(i, _)| !line[..i].ends_with('\\'))
            .count();
        assert_eq!(unescaped, 2, "{line}");
    }
}

#[test]
fn check_reports_sources_and_exits_0() {
    let out = run(&["--root", &pi4(), "--node", "pi4", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    for line in [
        "node: pi4",
        "key: none",
        "stat: ok",
        "thermal: ok",
        "w1: ok",
    ] {
        assert!(s.contains(line), "{line} in {s}");
    }
    // Every Pi 4 fixture sample (cycle_pi4.rs checks them one by one) in three datagrams
    // (two until the netclass families).
    let cycle = s
        .lines()
        .find(|l| l.starts_with("cycle: "))
        .expect("a cycle line");
    let values: u32 = cycle["cycle: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("cycle: N values");
    assert!(values > 250, "{cycle}");
    assert!(cycle.contains("values in 3 datagram(s)"), "{cycle}");
}

#[test]
fn broken_config_or_key_names_the_line_and_fails() {
    let cfg = temp_file(
        "broken.conf",
        "node = pi4\n\n[filters]\nnetdev_exclude = lo\ndisable = wifi\n",
    );
    let out = run(&[
        "--root",
        &pi4(),
        "--check",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:5: disable: unknown source \"wifi\"",
            cfg.display()
        )),
        "{err}"
    );
    // Without --check a broken config refuses to start.
    let out = run(&[
        "--root",
        &pi4(),
        "--once",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let key = temp_file("broken.key", "# two fields expected\n1 hex:0g\n");
    let out = run(&[
        "--root",
        &pi4(),
        "--check",
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{}:2: secret:", key.display())),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--check", "--key-file", "/nonexistent/key"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/key: cannot read"));
}

#[test]
fn a_config_file_sets_what_flags_do_not() {
    let cfg = temp_file(
        "ok.conf",
        "# comment\nnode = from-config\ninterval = 1m\n[key]\nid = 9\nsecret = base64:c2VjcmV0\n",
    );
    let out = run(&[
        "--root",
        &pi4(),
        "--check",
        "--config",
        cfg.to_str().unwrap(),
        "--node",
        "from-flag",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("node: from-flag"), "flags win: {s}");
    assert!(s.contains("key: id 9 from the config file"), "{s}");
    assert!(s.contains("min at this interval"), "{s}");
}
