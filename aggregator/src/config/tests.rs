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
