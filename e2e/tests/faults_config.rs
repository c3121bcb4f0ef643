//! Bad flags, bad config files and unusable paths for both binaries: each run must
//! end on its own (no hang), with a non-zero exit status (2 for a bad flag or file, 1
//! for a resource that cannot be used at start), no panic, and an error that names
//! the problem: the flag, key (with the file's line), or path at fault. Every case
//! runs, and a failure lists all the cases that went wrong with their output.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::fixture;
use pimon_e2e::process;

/// The status a case must end with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Exit {
    /// Exactly this code.
    Code(i32),
}

/// One bad invocation: arguments (`{dir}` is the case's temp dir), files to write
/// there first, the exit status, and words the error must contain.
struct Case {
    args: Vec<String>,
    files: Vec<(&'static str, &'static str)>,
    exit: Exit,
    mentions: Vec<String>,
}

fn case(args: &[&str], exit: i32, mentions: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        files: Vec::new(),
        exit: Exit::Code(exit),
        mentions: mentions.iter().map(|s| s.to_string()).collect(),
    }
}

fn with_file(mut c: Case, name: &'static str, text: &'static str) -> Case {
    c.files.push((name, text));
    c
}

/// Runs every case with `base` arguments first; returns one message per case that
/// went wrong.
fn run_cases(program: Program, base: &[String], cases: Vec<Case>) -> Vec<String> {
    let launcher = Launcher::host(program);
    let mut problems = Vec::new();
    for c in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in &c.files {
            fs::write(dir.path().join(name), text).expect("write case file");
        }
        let d = dir.path().display().to_string();
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{dir}", &d)).collect();
        let mut cmd = launcher.command();
        cmd.args(base).args(&args);
        let name = format!("{} {}", program.file_name(), args.join(" "))
            .escape_debug()
            .to_string();
        let mut proc = process::Proc::spawn(&name, cmd);
        let Some(status) = proc.wait_timeout(Duration::from_secs(10)) else {
            problems.push(format!(
                "{name}: still running after 10 s (it must refuse to start)\n{}",
                proc.output_report()
            ));
            continue;
        };
        let stderr = proc.stderr();
        let mut wrong = Vec::new();
        match (c.exit, status.code()) {
            (Exit::Code(want), Some(got)) if got == want => {}
            (Exit::Code(want), Some(got)) => wrong.push(format!("exit {got}, want {want}")),
            (Exit::Code(want), None) => {
                wrong.push(format!("killed by a signal (a crash), want exit {want}"))
            }
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            wrong.push("it panicked".into());
        }
        let mentions: Vec<String> = c.mentions.iter().map(|m| m.replace("{dir}", &d)).collect();
        for m in &mentions {
            if !stderr.contains(m.as_str()) {
                wrong.push(format!("the error does not mention {m:?}"));
            }
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "{name}: {}\n  stderr: {}",
                wrong.join("; "),
                stderr.trim()
            ));
        }
    }
    problems
}

#[test]
fn the_aggregator_refuses_bad_flags_config_and_paths_with_an_error_naming_the_problem() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to keep busy");
    let taken_addr = taken.local_addr().expect("addr").to_string();
    let base: Vec<String> = ["--udp", "127.0.0.1:0", "--http", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut cases = vec![
        case(&["--bogus"], 2, &["--bogus"]),
        case(&["--udp", "nowhere"], 2, &["--udp", "nowhere"]),
        case(&["--http", "everywhere"], 2, &["--http"]),
        case(&["--max-nodes", "0"], 2, &["--max-nodes"]),
        case(&["--max-nodes", "lots"], 2, &["--max-nodes", "lots"]),
        case(
            &["--max-series-per-node", "-1"],
            2,
            &["--max-series-per-node"],
        ),
        case(&["--stale-intervals", "0"], 2, &["--stale-intervals"]),
        case(&["--precision", "minutes"], 2, &["--precision", "minutes"]),
        case(&["--influx-db", "pimon"], 2, &["--influx-url"]),
        case(
            &["--influx-url", "ftp://127.0.0.1:1", "--influx-db", "d"],
            2,
            &["--influx-url"],
        ),
        case(&["--influx-url", "http://127.0.0.1:1"], 2, &["db"]),
        case(&["--udp"], 2, &["--udp"]),
        case(
            &["--config", "{dir}/missing.toml"],
            2,
            &["{dir}/missing.toml"],
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["a.toml:3"]),
            "a.toml",
            "[udp]\nbatch = 8\n[http\nlisten = \"127.0.0.1:0\"\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["max_nodez"]),
            "a.toml",
            "[limits]\nmax_nodez = 3\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["influx[0].db"]),
            "a.toml",
            "[[influx]]\nurl = \"http://127.0.0.1:1\"\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["spool_max_bytes"]),
            "a.toml",
            "[[influx]]\nurl = \"http://127.0.0.1:1\"\ndb = \"d\"\nspool_max_bytes = 10\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["when_full"]),
            "a.toml",
            "[[influx]]\nurl = \"http://127.0.0.1:1\"\ndb = \"d\"\nwhen_full = \"panic\"\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["fsync"]),
            "a.toml",
            "[[influx]]\nurl = \"http://127.0.0.1:1\"\ndb = \"d\"\nfsync = \"sometimes\"\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["udp.listen"]),
            "a.toml",
            "[udp]\nlisten = []\n",
        ),
        with_file(
            case(&["--config", "{dir}/a.toml"], 2, &["http.timeout_seconds"]),
            "a.toml",
            "[http]\ntimeout_seconds = 0\n",
        ),
        with_file(
            case(
                &["--config", "{dir}/a.toml"],
                2,
                &["http.timeout", "http.timeout_seconds", "keep one"],
            ),
            "a.toml",
            "[http]\ntimeout = \"5s\"\ntimeout_seconds = 5\n",
        ),
        with_file(
            case(
                &["--config", "{dir}/a.toml"],
                2,
                &["clock.max_skew", "ms, s, m or h"],
            ),
            "a.toml",
            "[clock]\nmax_skew = \"5\"\n",
        ),
        // Resources that cannot be used at start: exit 1, naming what.
        case(&["--key-file", "{dir}/no-keys"], 1, &["{dir}/no-keys"]),
        with_file(
            case(&["--key-file", "{dir}/keys"], 1, &["{dir}/keys:2"]),
            "keys",
            "pi 1 hex:00112233445566778899aabbccddeeff\npi two nothex\n",
        ),
        case(
            &["--lp-out", "{dir}/no/such/dir/out.lp"],
            1,
            &["{dir}/no/such/dir/out.lp"],
        ),
        with_file(
            case(
                &[
                    "--influx-url",
                    "http://127.0.0.1:1",
                    "--influx-db",
                    "d",
                    "--spool-dir",
                    "{dir}/a-file/spool",
                ],
                1,
                &["{dir}/a-file/spool"],
            ),
            "a-file",
            "not a directory\n",
        ),
    ];
    // The port taken by this test.
    let mut busy = case(&["--http"], 1, &[]);
    busy.args.push(taken_addr.clone());
    busy.mentions.push(taken_addr.clone());
    cases.push(busy);
    let problems = run_cases(Program::Aggregator, &base, cases);
    assert!(
        problems.is_empty(),
        "{} bad invocation(s) of pimon-aggregator not handled as they must be:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    drop(taken);
}

#[test]
fn the_collector_refuses_bad_flags_config_and_key_files_with_an_error_naming_the_problem() {
    let root = fixture("pizero");
    let base: Vec<String> = vec![
        "--root".into(),
        root.display().to_string(),
        "--aggregator".into(),
        "127.0.0.1:9".into(),
        "--once".into(),
        "--linger".into(),
        "0s".into(),
    ];
    let cases = vec![
        case(&["--bogus"], 2, &["--bogus"]),
        case(&["--interval", "10"], 2, &["--interval"]),
        case(&["--interval", "0ms"], 2, &["--interval"]),
        case(&["--interval", "soon"], 2, &["--interval"]),
        case(&["--linger", "5"], 2, &["--linger"]),
        case(&["--cycles", "abc"], 2, &["--cycles"]),
        case(&["--ring-bytes", "1"], 2, &["--ring-bytes"]),
        case(&["--ring-bytes", "5G"], 2, &["--ring-bytes"]),
        case(&["--print", "xml"], 2, &["--print"]),
        case(
            &["--node", "a-node-name-longer-than-32-bytes-is-refused"],
            2,
            &["--node"],
        ),
        case(&["--node", "evil\u{1}name"], 2, &["--node"]),
        case(&["--node", ""], 2, &["--node"]),
        case(&["--key-file", "{dir}/missing"], 2, &["{dir}/missing"]),
        with_file(
            case(&["--key-file", "{dir}/k"], 2, &["{dir}/k:1", "secret"]),
            "k",
            "7 zz!!\n",
        ),
        with_file(
            case(&["--key-file", "{dir}/k"], 2, &["{dir}/k:1"]),
            "k",
            "300 hex:00112233\n",
        ),
        case(
            &["--config", "{dir}/missing.conf"],
            2,
            &["{dir}/missing.conf"],
        ),
        with_file(
            case(
                &["--config", "{dir}/c.conf"],
                2,
                &["{dir}/c.conf:2", "interval"],
            ),
            "c.conf",
            "node = pi\ninterval = 10\n",
        ),
        with_file(
            case(
                &["--config", "{dir}/c.conf"],
                2,
                &["{dir}/c.conf:1", "bogus_key"],
            ),
            "c.conf",
            "bogus_key = 3\n",
        ),
        with_file(
            case(
                &["--config", "{dir}/c.conf"],
                2,
                &["{dir}/c.conf:1", "bme281"],
            ),
            "c.conf",
            "i2c = bme281 on the moon\n",
        ),
    ];
    let problems = run_cases(Program::Collector, &base, cases);
    assert!(
        problems.is_empty(),
        "{} bad invocation(s) of pimon-collector not handled as they must be:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    assert!(Path::new(&root).is_dir());
}
