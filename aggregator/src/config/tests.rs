//! The config file, the flags and their errors.

use super::*;

fn args(a: &[&str]) -> Result<Command, ConfigError> {
    parse_args(a.iter().map(|s| s.to_string()))
}

fn run_config(a: &[&str]) -> Config {
    match args(a).unwrap() {
        Command::Run(c) | Command::Check(c) => *c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn defaults() {
    let c = run_config(&[]);
    assert_eq!(c.udp, vec!["0.0.0.0:9797".parse::<SocketAddr>().unwrap()]);
    assert_eq!(c.http, Some("127.0.0.1:9798".parse().unwrap()));
    assert_eq!(c.udp_receive_buffer, 4 << 20);
    assert!(c.key_file.is_none() && c.lp_out.is_none() && c.influx.is_empty());
}

#[test]
fn flags_override_and_repeat() {
    let c = run_config(&[
        "--udp",
        "127.0.0.1:1",
        "--udp",
        "[::1]:2",
        "--http",
        "off",
        "--lp-out",
        "-",
        "--max-nodes",
        "5",
        "--precision",
        "ms",
    ]);
    assert_eq!(c.udp.len(), 2);
    assert!(c.udp[1].is_ipv6());
    assert_eq!(c.http, None);
    assert_eq!(c.lp_out.unwrap().target, LpTarget::Stdout);
    assert_eq!(c.limits.max_nodes, 5);
    assert_eq!(c.ingest.precision, Precision::Milliseconds);
    assert!(matches!(
        args(&["--check-config"]).unwrap(),
        Command::Check(_)
    ));
    assert!(matches!(args(&["--help"]).unwrap(), Command::Help));
    assert!(matches!(args(&["-V"]).unwrap(), Command::Version));
}

#[test]
fn flag_errors_name_the_flag() {
    let e = args(&["--max-nodes", "lots"]).unwrap_err();
    assert_eq!(e.key, "--max-nodes");
    let e = args(&["--udp", "nowhere"]).unwrap_err();
    assert_eq!(e.key, "--udp");
    let e = args(&["--bogus"]).unwrap_err();
    assert!(e.problem.contains("--bogus"), "{e}");
    let e = args(&["--refuse-unknown-nodes"]).unwrap_err();
    assert_eq!(e.key, "auth.refuse_unknown_nodes");
    let e = args(&["--influx-db", "x"]).unwrap_err();
    assert_eq!(e.key, "--influx-url");
}

#[test]
fn toml_every_section() {
    let c = parse_toml(
        r#"
[udp]
listen = ["127.0.0.1:9000", "[::]:9001"]
receive_buffer_bytes = 1000
batch = 8
[http]
listen = "127.0.0.1:9002"
max_connections = 3
timeout_seconds = 2
[auth]
key_file = "/k"
refuse_unknown_nodes = true
[limits]
max_nodes = 7
max_series_per_node = 8
max_series_total = 9
max_new_nodes_per_address = 10
[state]
dir = "/tmp/state"
[staleness]
stale_intervals = 4
stale_min_seconds = 5
forget_after_seconds = 6
forget_new_after_seconds = 7
[clock]
max_skew_seconds = 8
max_backfill_seconds = 9
[output]
lp_out = "/tmp/x.lp"
lp_out_fsync = "2s"
precision = "s"
[[influx]]
url = "http://127.0.0.1:8086"
db = "pimon"
spool_dir = "/tmp/s1"
fsync = "500ms"
[[influx]]
name = "v2"
url = "http://127.0.0.1:8428"
org = "o"
bucket = "b"
token = "t"
spool_dir = "/tmp/s2"
when_full = "refuse_new"
"#,
        "test.toml",
    )
    .unwrap();
    assert_eq!(c.udp.len(), 2);
    assert_eq!((c.udp_receive_buffer, c.udp_batch), (1000, 8));
    assert_eq!(c.http_config.max_connections, 3);
    assert!(c.ingest.refuse_unknown_nodes);
    assert_eq!(
        c.limits,
        Limits {
            max_nodes: 7,
            max_series_per_node: 8,
            max_series_total: 9,
            max_new_nodes_per_address: 10,
        }
    );
    assert_eq!(c.state_path(), Some(PathBuf::from("/tmp/state")));
    assert_eq!(c.staleness.stale_intervals, 4);
    assert_eq!(c.staleness.forget_new_after_ms, 7000);
    assert_eq!(c.ingest.max_backfill_ms, 9000);
    assert_eq!(c.ingest.precision, Precision::Seconds);
    assert_eq!(
        c.lp_out.as_ref().map(|lp| lp.fsync),
        Some(FsyncPolicy::Interval(Duration::from_secs(2)))
    );
    assert_eq!(c.influx.len(), 2);
    assert_eq!(
        c.influx[0].spool.fsync,
        FsyncPolicy::Interval(Duration::from_millis(500))
    );
    assert_eq!(c.influx[0].precision, Precision::Seconds);
    assert_eq!(c.influx[1].name, "v2");
    assert_eq!(c.influx[1].spool.when_full, SpoolFullPolicy::RefuseNew);
}

#[test]
fn toml_errors_name_key_and_line() {
    let e = parse_toml("[limits]\nmax_nodes = \"many\"\n", "a.toml").unwrap_err();
    assert!(e.key.starts_with("a.toml:2:"), "{e}");
    let e = parse_toml("[limits]\nmax_nodez = 1\n", "a.toml").unwrap_err();
    assert!(
        e.key.starts_with("a.toml:2:") && e.problem.contains("max_nodez"),
        "{e}"
    );
    let e = parse_toml("[limits]\nmax_nodes = 0\n", "a.toml").unwrap_err();
    assert_eq!(e.to_string(), "limits.max_nodes: must be greater than 0");
    let e = parse_toml("[udp]\nlisten = [\"x\"]\n", "a.toml").unwrap_err();
    assert_eq!(e.key, "udp.listen");
    let e = parse_toml("[[influx]]\nurl = \"http://h:1\"\n", "a.toml").unwrap_err();
    assert_eq!(e.key, "influx[0].db");
    let e = parse_toml("[output]\nlp_out_fsync = \"always\"\n", "a.toml").unwrap_err();
    assert_eq!(e.to_string(), "output.lp_out_fsync: needs output.lp_out");
    let e = parse_toml(
        "[[influx]]\nurl = \"http://h:1\"\ndb = \"d\"\nfsync = \"sometimes\"\n",
        "a.toml",
    )
    .unwrap_err();
    assert_eq!(e.key, "influx[0].fsync");
    let e = parse_toml("[[influx]]\nurl = \"ftp://h\"\ndb = \"d\"\n", "a.toml").unwrap_err();
    assert_eq!(e.key, "influx[0].url");
}

#[test]
fn state_dir_defaults_next_to_the_first_spool_and_can_be_set_or_turned_off() {
    assert_eq!(
        run_config(&[]).state_path(),
        None,
        "no InfluxDB output: none"
    );
    let influx = [
        "--influx-url",
        "http://127.0.0.1:8086",
        "--influx-db",
        "pimon",
        "--spool-dir",
        "/var/lib/pimon/spool",
    ];
    assert_eq!(
        run_config(&influx).state_path(),
        Some(PathBuf::from("/var/lib/pimon/spool.state"))
    );
    let mut off = influx.to_vec();
    off.extend(["--state-dir", "off"]);
    assert_eq!(run_config(&off).state_path(), None);
    assert_eq!(
        run_config(&["--state-dir", "/s", "--max-new-nodes-per-address", "3"]).state_path(),
        Some(PathBuf::from("/s"))
    );
    assert_eq!(args(&["--state-dir", ""]).unwrap_err().key, "--state-dir");
    let e = parse_toml("[state]\ndir = \"\"\n", "a.toml").unwrap_err();
    assert_eq!(e.key, "state.dir");
}

#[test]
fn version_line_format() {
    let v = version_line();
    assert!(v.starts_with("pimon-aggregator 0.1.0 ("), "{v}");
    assert!(v.contains(", git "), "{v}");
}

#[test]
fn help_lists_exactly_the_flags_the_parser_takes() {
    let options = &HELP[..HELP.find("CONFIG FILE").unwrap()];
    let documented: std::collections::BTreeSet<&str> = options
        .lines()
        .filter_map(|l| l.strip_prefix("    --"))
        .filter_map(|f| f.split_whitespace().next())
        .collect();
    let without_value = ["config", "refuse-unknown-nodes", "push", "check-config"];
    for name in &documented {
        assert!(
            Flag::with_value(name).is_some() || without_value.contains(name),
            "--help documents --{name}, which the parser does not take"
        );
    }
    for name in VALUE_FLAGS.iter().chain(&without_value) {
        assert!(
            documented.contains(name),
            "the parser takes --{name}, which --help does not document"
        );
    }
    // And the parser takes every one of them with a value (or refuses the value itself,
    // never the flag).
    for name in VALUE_FLAGS {
        if let Err(e) = args(&[&format!("--{name}"), "x"]) {
            assert!(!e.problem.contains("invalid option"), "--{name}: {e}");
        }
    }
}

/// Every duration key of the file: section (with what it needs besides), new name, its
/// older integer alias, and one value in each spelling.
const DURATION_KEYS: &[(&str, &str, &str, &str, &str)] = &[
    ("[http]", "timeout", "timeout_seconds", "\"2s\"", "2"),
    (
        "[http]",
        "status_history",
        "status_history_seconds",
        "\"2h\"",
        "7200",
    ),
    (
        "[staleness]",
        "stale_min",
        "stale_min_seconds",
        "\"5s\"",
        "5",
    ),
    (
        "[staleness]",
        "forget_after",
        "forget_after_seconds",
        "\"6m\"",
        "360",
    ),
    (
        "[staleness]",
        "forget_new_after",
        "forget_new_after_seconds",
        "\"7s\"",
        "7",
    ),
    ("[clock]", "max_skew", "max_skew_seconds", "\"8s\"", "8"),
    (
        "[clock]",
        "max_backfill",
        "max_backfill_seconds",
        "\"9h\"",
        "32400",
    ),
    (
        "[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"d\"",
        "flush_interval",
        "flush_interval_ms",
        "\"250ms\"",
        "250",
    ),
    (
        "[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"d\"",
        "timeout",
        "timeout_seconds",
        "\"3s\"",
        "3",
    ),
    (
        "[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"",
        "flush_interval",
        "flush_interval_ms",
        "\"1500ms\"",
        "1500",
    ),
    (
        "[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"",
        "timeout",
        "timeout_seconds",
        "\"1m\"",
        "60",
    ),
    (
        "[push]",
        "expire_after",
        "expire_after_seconds",
        "\"1m\"",
        "60",
    ),
    (
        "[[scrape]]\nurl = \"http://127.0.0.1:9100/metrics\"",
        "interval",
        "interval_seconds",
        "\"30s\"",
        "30",
    ),
    (
        "[[scrape]]\nurl = \"http://127.0.0.1:9100/metrics\"",
        "timeout",
        "timeout_seconds",
        "\"5s\"",
        "5",
    ),
];

/// The config key as errors name it: `http.timeout`, `influx[0].timeout`.
fn full_key(section: &str, key: &str) -> String {
    let header = section.lines().next().unwrap();
    let name = header.trim_matches(|c| c == '[' || c == ']');
    if header.starts_with("[[") {
        format!("{name}[0].{key}")
    } else {
        format!("{name}.{key}")
    }
}

#[test]
fn every_duration_key_reads_the_same_under_its_new_name_and_its_older_alias() {
    for &(section, new, old, new_value, old_value) in DURATION_KEYS {
        let default = format!("{:?}", parse_toml(&format!("{section}\n"), "t").unwrap());
        let by_new = parse_toml(&format!("{section}\n{new} = {new_value}\n"), "t")
            .unwrap_or_else(|e| panic!("{new}: {e}"));
        let by_old = parse_toml(&format!("{section}\n{old} = {old_value}\n"), "t")
            .unwrap_or_else(|e| panic!("{old}: {e}"));
        let (by_new, by_old) = (format!("{by_new:?}"), format!("{by_old:?}"));
        assert_eq!(
            by_new, by_old,
            "{section} {new} = {new_value} vs {old} = {old_value}"
        );
        assert_ne!(
            by_new, default,
            "{section} {new} = {new_value} changed nothing"
        );
    }
    // The two durations the store keeps in milliseconds, checked by value too.
    let c = parse_toml(
        "[clock]\nmax_skew = \"1500ms\"\n[staleness]\nstale_min = \"2m\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.ingest.max_clock_skew_ms, 1500);
    assert_eq!(c.staleness.stale_min_ms, 120_000);
}

#[test]
fn a_duration_key_given_under_both_names_is_an_error_naming_both() {
    for &(section, new, old, new_value, old_value) in DURATION_KEYS {
        let text = format!("{section}\n{new} = {new_value}\n{old} = {old_value}\n");
        let e = parse_toml(&text, "t").expect_err(&text);
        assert_eq!(e.key, full_key(section, new), "{e}");
        assert!(e.problem.contains(&full_key(section, old)), "{e}");
    }
}

#[test]
fn a_malformed_duration_names_the_key_and_the_grammar() {
    for &(section, new, _, _, _) in DURATION_KEYS {
        for bad in ["\"10\"", "\"1.5s\"", "\"ten seconds\"", "\"\""] {
            let text = format!("{section}\n{new} = {bad}\n");
            let e = parse_toml(&text, "t").expect_err(&text);
            assert_eq!(e.key, full_key(section, new), "{e}");
            assert!(e.problem.contains("ms, s, m or h"), "{e}");
        }
    }
    // A bare TOML integer under the new name: the file and line, and the grammar.
    let e = parse_toml("[http]\ntimeout = 10\n", "f.toml").unwrap_err();
    assert_eq!(e.key, "f.toml:2:11", "{e}");
    assert!(e.problem.contains("ms, s, m or h"), "{e}");
}

#[test]
fn max_clock_skew_flag_takes_a_duration_or_bare_seconds() {
    let by_duration = run_config(&["--max-clock-skew", "2m"]);
    let by_seconds = run_config(&["--max-clock-skew", "120"]);
    assert_eq!(by_duration.ingest.max_clock_skew_ms, 120_000);
    assert_eq!(by_seconds.ingest.max_clock_skew_ms, 120_000);
    let e = args(&["--max-clock-skew", "2 minutes"]).unwrap_err();
    assert_eq!(e.key, "--max-clock-skew");
    assert!(e.problem.contains("ms, s, m or h"), "{e}");
}

#[test]
fn check_config_prints_durations_in_the_grammar() {
    let c = parse_toml(
        "[http]\ntimeout = \"90s\"\n[clock]\nmax_skew = \"5m\"\n[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"d\"\nflush_interval = \"200ms\"\n",
        "t",
    )
    .unwrap();
    let text = describe(&c);
    assert!(text.contains("timeout 90s"), "{text}");
    assert!(text.contains("max_skew 5m,"), "{text}");
    assert!(text.contains("flush_interval 200ms,"), "{text}");
}

#[test]
fn check_config_says_whether_a_secret_is_set_but_never_shows_it() {
    let outputs = |token: &str| {
        format!(
            "[[influx]]\nname = \"v2\"\nurl = \"http://127.0.0.1:8086\"\norg = \"o\"\nbucket = \"b\"\n{token}\
             [[influx]]\nname = \"v1\"\nurl = \"http://127.0.0.1:8087\"\ndb = \"d\"\nuser = \"u\"\npassword = \"pw-s3cret\"\n"
        )
    };
    let with_token = describe(&parse_toml(&outputs("token = \"tok-s3cret\"\n"), "t").unwrap());
    assert!(!with_token.contains("s3cret"), "{with_token}");
    assert!(
        with_token.contains("bucket b, token hidden"),
        "{with_token}"
    );
    assert!(
        with_token.contains("user u (password hidden)"),
        "{with_token}"
    );
    // No token (InfluxDB 1.8's 2.x API without auth): no Authorization header is sent,
    // and --check-config says so instead of claiming a hidden one.
    let without_token = describe(&parse_toml(&outputs(""), "t").unwrap());
    assert!(
        without_token.contains("bucket b, no token"),
        "{without_token}"
    );
}

#[test]
fn a_zero_duration_where_one_is_needed_names_the_key_as_written() {
    let e = parse_toml("[http]\ntimeout_seconds = 0\n", "t").unwrap_err();
    assert_eq!(e.key, "http.timeout_seconds", "{e}");
    let e = parse_toml("[http]\ntimeout = \"0s\"\n", "t").unwrap_err();
    assert_eq!(e.key, "http.timeout", "{e}");
    let e = parse_toml("[staleness]\nforget_after = \"0ms\"\n", "t").unwrap_err();
    assert_eq!(e.key, "staleness.forget_after", "{e}");
}

/// Every size key of the file: section (with what it needs besides) and name.
const SIZE_KEYS: &[(&str, &str)] = &[
    ("[udp]", "receive_buffer_bytes"),
    (
        "[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"d\"",
        "spool_max_bytes",
    ),
    (
        "[[influx]]\nurl = \"http://127.0.0.1:8086\"\ndb = \"d\"",
        "batch_max_bytes",
    ),
    (
        "[[remote_write]]\nurl = \"http://127.0.0.1:8428/api/v1/write\"",
        "spool_max_bytes",
    ),
    ("[push]", "max_body_bytes"),
    (
        "[[scrape]]\nurl = \"http://127.0.0.1:9100/metrics\"",
        "max_body_bytes",
    ),
];

#[test]
fn every_size_key_takes_bytes_or_the_collectors_size_grammar() {
    for &(section, key) in SIZE_KEYS {
        let default = format!("{:?}", parse_toml(&format!("{section}\n"), "t").unwrap());
        let by_text = parse_toml(&format!("{section}\n{key} = \"3M\"\n"), "t")
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let by_number = parse_toml(&format!("{section}\n{key} = 3145728\n"), "t")
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let (by_text, by_number) = (format!("{by_text:?}"), format!("{by_number:?}"));
        assert_eq!(by_text, by_number, "{section} {key}");
        assert_ne!(by_text, default, "{section} {key} = \"3M\" changed nothing");
        let e = parse_toml(&format!("{section}\n{key} = \"3G\"\n"), "t").unwrap_err();
        assert_eq!(e.key, full_key(section, key), "{e}");
        assert!(e.problem.contains("K or M"), "{e}");
    }
    let e = parse_toml("[udp]\nreceive_buffer_bytes = -1\n", "f.toml").unwrap_err();
    assert!(e.key.starts_with("f.toml:2:"), "{e}");
    assert!(e.problem.contains("K or M"), "{e}");
    let c = run_config(&["--udp-receive-buffer", "8M"]);
    assert_eq!(c.udp_receive_buffer, 8 << 20);
    let e = args(&["--udp-receive-buffer", "lots"]).unwrap_err();
    assert_eq!(e.key, "--udp-receive-buffer");
}
