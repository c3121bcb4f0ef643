//! `pimon-aggregator --help` tells the truth about defaults: every `[default: X]` of a
//! flag is what `--check-config` shows when the flag is not given, and the CONFIG FILE
//! sample's keys (the ones that are defaults, not examples) give the same effective
//! configuration as an empty file. An InfluxDB output gets the same name from flags
//! and from a file, so its `output` label does not change when a user moves to
//! `--config`.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_pimon-aggregator");
/// Flags that make every part of the configuration show in `--check-config`.
const SHOW_ALL: [&str; 8] = [
    "--influx-url",
    "http://127.0.0.1:8086",
    "--influx-db",
    "pimon",
    "--collectd-udp",
    "127.0.0.1:25826",
    "--remote-write-url",
    "http://127.0.0.1:8428/api/v1/write",
];

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run pimon-aggregator");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pimon-aggregator {args:?}: {:?}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `(flag, default)` for every flag whose help says `[default: …]`.
fn documented_flag_defaults(help: &str) -> Vec<(String, String)> {
    let options = &help[..help.find("CONFIG FILE").expect("a CONFIG FILE section")];
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in options.lines() {
        let t = line.trim_start();
        if let Some(flag) = t.strip_prefix("--") {
            let name = flag.split_whitespace().next().unwrap_or("").to_string();
            entries.push((name, t.to_string()));
        } else if let Some(last) = entries.last_mut() {
            last.1.push(' ');
            last.1.push_str(t);
        }
    }
    entries
        .into_iter()
        .filter_map(|(flag, text)| {
            let start = text.find("[default: ")? + "[default: ".len();
            let end = start + text[start..].find(']')?;
            Some((flag, text[start..end].to_string()))
        })
        .collect()
}

#[test]
fn every_documented_flag_default_is_the_effective_one() {
    let help = run(&["--help"]);
    let effective = run(&[&["--check-config"][..], &SHOW_ALL[..]].concat());
    let defaults = documented_flag_defaults(&help);
    assert!(defaults.len() >= 10, "too few defaults found: {defaults:?}");
    let mut problems = Vec::new();
    for (flag, default) in &defaults {
        let expected = match flag.as_str() {
            "udp" => format!("udp listen        {default}\n"),
            "log-level" => format!("log level         {default}\n"),
            "udp-receive-buffer" => format!("udp receive buf   {default} bytes"),
            "http" => format!("http listen       {default} "),
            "precision" => format!("precision         {default}\n"),
            "spool-dir" => format!("  spool           {default} ("),
            "state-dir" => {
                assert!(default.contains("SPOOL_DIR.state"), "{default}");
                "state dir         /var/lib/pimon/spool.state\n".to_string()
            }
            "max-nodes" => format!("limits            {default} nodes"),
            "max-new-nodes-per-address" => format!("({default} new per address"),
            "max-series-per-node" => format!(", {default} series per node"),
            "stale-intervals" => format!("staleness         {default} intervals"),
            "max-clock-skew" => format!("max_skew {default},"),
            "collectd-security-level" => format!("security {default}\n"),
            "status-history" => {
                assert_eq!(default, "1h", "update the expectation below");
                "sparklines over 60 min".to_string()
            }
            "remote-write-spool-dir" => {
                let first = default.split(',').next().unwrap_or_default();
                format!(" spool {first} ")
            }
            other => {
                problems.push(format!(
                    "--{other} documents [default: {default}] but this test does not know where --check-config shows it: add it"
                ));
                continue;
            }
        };
        if !effective.contains(&expected) {
            problems.push(format!(
                "--{flag}: --help says [default: {default}], --check-config lacks {expected:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n--check-config:\n{effective}",
        problems.join("\n")
    );
}

/// The CONFIG FILE sample of `--help` without its comments and example-only parts
/// (paths of files that must exist, sections that enable a feature).
fn sample_defaults(help: &str) -> String {
    let sample = &help[help.find("CONFIG FILE").expect("CONFIG FILE")..];
    let sample = &sample[..sample
        .find("PROMETHEUS:")
        .expect("PROMETHEUS after the sample")];
    let examples_only = [
        "[state]",
        "[push]",
        "[[scrape]]",
        "[collectd]",
        "[[remote_write]]",
    ];
    let mut out = String::new();
    let mut skip = false;
    for line in sample.lines().skip(1) {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        if code.starts_with('[') {
            skip = examples_only.contains(&code);
        }
        if skip || code.starts_with("key_file") {
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

#[test]
fn the_config_file_sample_of_help_is_the_default_configuration() {
    let help = run(&["--help"]);
    let sample = sample_defaults(&help);
    assert!(
        !sample.contains("lp_out ="),
        "lp_out has no default, so the sample must not set it:\n{sample}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let documented = dir.path().join("documented.toml");
    std::fs::write(&documented, &sample).expect("write");
    let minimal = dir.path().join("minimal.toml");
    std::fs::write(
        &minimal,
        "[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"pimon\"\n",
    )
    .expect("write");
    let from_sample = run(&["--check-config", "--config", documented.to_str().unwrap()]);
    let from_defaults = run(&["--check-config", "--config", minimal.to_str().unwrap()]);
    assert_eq!(
        from_sample, from_defaults,
        "the sample's values differ from the defaults; sample:\n{sample}"
    );
    let from_flags = run(&[
        "--check-config",
        "--influx-url",
        "http://127.0.0.1:8086",
        "--influx-db",
        "pimon",
    ]);
    assert_eq!(
        from_flags, from_defaults,
        "an output from flags and one from a file differ (name, spool, defaults)"
    );
    assert!(from_flags.contains("influx influx "), "{from_flags}");
    assert!(
        !from_flags.contains("V1 {") && !from_flags.contains("Some("),
        "a readable configuration, not a Rust struct:\n{from_flags}"
    );
}
