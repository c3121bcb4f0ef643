//! The config and key file parsers and the merge of flags over file over defaults.

use super::*;
use crate::source::SourceKind;

fn err(text: &str) -> (usize, String) {
    let e = ConfigFile::parse(text).unwrap_err();
    (e.line, e.problem)
}

#[test]
fn parses_every_key_and_section() {
    let cfg = ConfigFile::parse(
        "# comment\naggregator = \"router.lan:9797\"  # trailing\nNode = pi\nroot=/host\n\
         interval = 1m\nring-bytes = 2M\nlinger = 0s\ni2c = bme280 /dev/i2c-1 0x76 garden\n\
         [filters]\nnetdev_exclude = lo\n[sensors]\ngpio = /dev/gpiochip0 17 door\n\
         [key]\nid = 4\nsecret = base64:AAE=\n",
    )
    .unwrap();
    assert_eq!(cfg.aggregator.as_deref(), Some("router.lan:9797"));
    assert_eq!(cfg.node.as_deref(), Some("pi"));
    assert_eq!(cfg.root, Some(PathBuf::from("/host")));
    assert_eq!(cfg.interval, Some(Duration::from_secs(60)));
    assert_eq!(cfg.ring_bytes, Some(2 << 20));
    assert_eq!(cfg.linger, Some(Duration::ZERO));
    assert_eq!(cfg.key.as_ref().map(Key::id), Some(4));
    assert_eq!(cfg.filters.len(), 1);
    assert_eq!(
        (cfg.filters[0].line, cfg.filters[0].value.as_str()),
        (10, "lo")
    );
    let sensors: Vec<(usize, &str)> = cfg
        .sensor_lines
        .iter()
        .map(|e| (e.line, e.key.as_str()))
        .collect();
    assert_eq!(sensors, [(8, "i2c"), (12, "gpio")]);
}

#[test]
fn errors_name_the_line_and_the_problem() {
    assert_eq!(err("node = pi\nintervall = 10s\n").0, 2);
    assert!(
        err("intervall = 10s")
            .1
            .contains("unknown key \"intervall\"")
    );
    assert_eq!(
        err("\n\ninterval = 10\n"),
        (
            3,
            "interval: \"10\" needs a unit: ms, s, m or h (for example 10s)".into()
        )
    );
    assert_eq!(err("[sensor garden]\n").0, 1);
    assert!(err("[filters\n").1.contains("closing"));
    assert!(err("just words\n").1.contains("key = value"));
    assert_eq!(err("node = \"pi\n").1, "unterminated quote");
    assert_eq!(err("[key]\nid = 1\n"), (1, "[key] needs `secret`".into()));
    assert_eq!(err("[key]\nid = 300\n").0, 2);
    assert!(err("[key]\nid = 1\nsecret = hex:\n").1.contains("hex"));
    assert!(
        err("[key]\nid=1\nsecret=hex:00\nkey_file=/k\n")
            .1
            .contains("unknown key")
    );
    assert!(
        err("key_file=/k\n[key]\nid=1\nsecret=hex:00\n")
            .1
            .contains("both")
    );
}

#[test]
fn key_file_formats() {
    assert_eq!(parse_key_file("1 hex:00ff\n").unwrap().id(), 1);
    assert_eq!(
        parse_key_file("  # c\n\n255 c2VjcmV0   # base64\n")
            .unwrap()
            .id(),
        255
    );
    assert_eq!(parse_key_file("0 0011").unwrap().id(), 0);
    let long = format!("1 hex:{}", "00".repeat(33));
    assert!(
        parse_key_file(&long)
            .unwrap_err()
            .problem
            .contains("1 to 32 bytes")
    );
    let e = parse_key_file("1 hex:00\n2 hex:01\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(
        parse_key_file("pi 1 hex:00\n")
            .unwrap_err()
            .problem
            .contains("KEY_ID SECRET")
    );
    assert!(parse_key_file("# nothing\n").is_err());
    assert_eq!(decode_secret("hex:6b6579").unwrap().as_slice(), b"key");
    assert_eq!(decode_secret("a2V5").unwrap().as_slice(), b"key");
    assert_eq!(decode_secret("base64:a2V5").unwrap().as_slice(), b"key");
}

#[test]
fn merge_flags_over_file_over_defaults() {
    let file = ConfigFile::parse("node = from-file\ninterval = 1m\n").unwrap();
    let flags = Flags {
        interval: Some(Duration::from_secs(5)),
        ..Flags::default()
    };
    let s = Settings::merge(&flags, file).unwrap();
    assert_eq!(s.node, "from-file");
    assert_eq!(s.interval, Duration::from_secs(5));
    // The root "/" of this machine: the aggregator is its default gateway or, without
    // a default route, 127.0.0.1:9797; either way it was not given.
    assert_eq!(s.aggregators.len(), 1);
    assert!(s.aggregator_origin.contains("no --aggregator given"));
    assert_eq!(s.ring_bytes, DEFAULT_RING_BYTES);
    assert_eq!(s.linger, cli::DEFAULT_LINGER);
    assert_eq!(s.root, PathBuf::from("/"));
    let bad = |f: Flags| {
        Settings::merge(&f, ConfigFile::default())
            .unwrap_err()
            .problem
    };
    assert!(
        bad(Flags {
            node: Some("x".repeat(33)),
            ..Flags::default()
        })
        .contains("--node")
    );
    assert!(
        bad(Flags {
            aggregator: vec!["host".into()],
            ..Flags::default()
        })
        .contains("HOST:PORT")
    );
    assert!(
        bad(Flags {
            aggregator: vec!["::1:9797".into()],
            ..Flags::default()
        })
        .contains("brackets")
    );
    assert!(
        bad(Flags {
            aggregator: vec!["a:1".into(), "b:2,a:1".into()],
            ..Flags::default()
        })
        .contains("twice")
    );
    assert!(
        bad(Flags {
            ring_bytes: Some(100),
            ..Flags::default()
        })
        .contains("--ring-bytes")
    );
    assert!(
        bad(Flags {
            interval: Some(Duration::ZERO),
            ..Flags::default()
        })
        .contains("--interval")
    );
    assert!(check_aggregator("[::1]:9797").is_ok());
}

#[test]
fn opt_in_sources_run_only_when_enabled() {
    let merged = |text: &str| {
        Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap())
            .unwrap()
            .sources
            .sources
    };
    let defaults = merged("");
    assert!(!defaults.contains(SourceKind::Interrupts));
    assert!(defaults.contains(SourceKind::Processes));
    let enabled = merged("[filters]\nenable = interrupts\n");
    assert!(enabled.contains(SourceKind::Interrupts));
    assert!(enabled.contains(SourceKind::Stat));
    let err = ConfigFile::parse("[filters]\nenable = irq\n")
        .and_then(|f| Settings::merge(&Flags::default(), f).map(drop));
    assert!(
        format!("{err:?}").contains("enable: unknown source"),
        "{err:?}"
    );
}

#[test]
fn the_process_scan_runs_about_every_minute_unless_configured() {
    let at = |interval: &str, text: &str| {
        let flags = Flags {
            interval: Some(crate::cli::parse_duration(interval).unwrap()),
            ..Flags::default()
        };
        Settings::merge(&flags, ConfigFile::parse(text).unwrap())
            .unwrap()
            .sources
            .processes_every
    };
    assert_eq!(at("1s", ""), 60);
    assert_eq!(
        at("10s", ""),
        6,
        "the default interval scans every 6th cycle"
    );
    assert_eq!(at("7s", ""), 8);
    assert_eq!(at("45s", ""), 1);
    assert_eq!(at("1m", ""), 1);
    assert_eq!(at("5m", ""), 1);
    assert_eq!(at("250ms", ""), 60, "at most every 60th cycle");
    assert_eq!(at("1s", "[filters]\nprocesses_every = 1\n"), 1);
    assert_eq!(at("10s", "[filters]\nprocesses_every = 3\n"), 3);
}

#[test]
fn filters_and_sensors_reach_their_configs() {
    let file = ConfigFile::parse(
        "i2c = bme280 /dev/i2c-1 0x76 garden\n[sensors]\ni2c_interval = 30s\n\
         gpio = /dev/gpiochip0 17 door active_low\nstale_after = 2m\n\
         [filters]\nnetdev_exclude = docker0, veth*\ndiskstats_include = mmcblk0\n\
         fstype_defaults = no\ndisable = w1 iio\nstatvfs_timeout = 250ms\n\
         rediscover = 5m\nprocesses_every = 6\n",
    )
    .unwrap();
    let flags = Flags {
        root: Some("/host".into()),
        ..Flags::default()
    };
    let s = Settings::merge(&flags, file).unwrap();
    assert_eq!(s.sources.root, PathBuf::from("/host"));
    assert_eq!(s.sources.net_devices.exclude, ["docker0", "veth*"]);
    assert_eq!(s.sources.disk_devices.include, ["mmcblk0"]);
    assert!(!s.sources.fs_types.defaults);
    assert!(!s.sources.sources.contains(SourceKind::W1));
    assert!(!s.sources.sources.contains(SourceKind::Iio));
    assert!(s.sources.sources.contains(SourceKind::Stat));
    assert_eq!(s.sources.statvfs_timeout, Duration::from_millis(250));
    assert_eq!(s.sources.processes_every, 6);
    assert_eq!(s.sources.rediscover, Duration::from_secs(300));
    assert_eq!(
        s.sources.w1_stale_after,
        Duration::from_secs(120),
        "stale_after applies to 1-wire too"
    );
    assert_eq!(s.sensors.i2c.len(), 1);
    assert_eq!(s.sensors.gpio.len(), 1);
    assert_eq!(s.sensors.i2c_interval, Duration::from_secs(30));
    let bad = |text: &str| {
        Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap()).unwrap_err()
    };
    let e = bad("[filters]\n\ndisable = wifi\n");
    assert_eq!(e.line, 3);
    assert!(e.problem.contains("unknown source \"wifi\""), "{e}");
    assert_eq!(bad("[filters]\nnetdev_defaults = maybe\n").line, 2);
    assert_eq!(bad("[filters]\nnetdev_sideways = x\n").line, 2);
    assert_eq!(bad("[filters]\nprocesses_every = 0\n").line, 2);
    let e = bad("node = x\ni2c = bme999 /dev/i2c-1 0x76 a\n");
    assert_eq!(e.line, 2, "{e}");
    let e = bad("i2c = bme280 /dev/i2c-1 0x76 a\ni2c = bme280 /dev/i2c-1 0x77 a\n");
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn kmsg_rules_reach_the_sources_and_bad_ones_name_their_line() {
    let file = ConfigFile::parse(
        "[kmsg]\nrule = nvme_timeout facility=kern nvme {device}: I/O * timeout*\n\
         rule = \"- *brcmf_* error #2*\"\nmax_series = 8\n",
    )
    .unwrap();
    let s = Settings::merge(&Flags::default(), file).unwrap();
    assert_eq!(
        s.sources.kmsg_rules,
        [
            "nvme_timeout facility=kern nvme {device}: I/O * timeout*",
            "- *brcmf_* error #2*"
        ]
    );
    assert_eq!(s.sources.kmsg_max_series, 8);
    let bad = |text: &str| {
        Settings::merge(&Flags::default(), ConfigFile::parse(text).unwrap()).unwrap_err()
    };
    let e = bad("[kmsg]\n\nrule = Bad {device}\n");
    assert_eq!(e.line, 3);
    assert!(e.problem.starts_with("rule: event names"), "{e}");
    let e = bad("[kmsg]\nrule = e {dev}\n");
    assert!(e.problem.contains("{device}"), "{e}");
    assert_eq!(bad("[kmsg]\nmax_series = 0\n").line, 2);
    assert!(bad("[kmsg]\nregex = x\n").problem.contains("unknown key"));
}

#[test]
fn node_names_from_hosts() {
    assert_eq!(node_name_from_host("pi4.lan"), "pi4");
    assert_eq!(node_name_from_host(&"é".repeat(40)).len(), 32);
    assert_eq!(node_name_from_host(".weird"), ".weird");
    assert!(!default_node_name().is_empty());
}
