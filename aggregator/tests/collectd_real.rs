//! collectd in, against the real thing: a real `collectd` (Debian's `collectd-core`)
//! sends to a running aggregator with each security level (none, sign, encrypt) while
//! its own `csv` plugin writes the same values to files. Every csv row must be in the
//! aggregator's line protocol with the same value at the same timestamp (under
//! Telegraf's names for the mapped plugins, InfluxDB's collectd names for the rest),
//! and `/metrics` must show the latest with node_exporter's names and
//! `instance=<host>`. In each run a second collectd sends what that level must refuse
//! (forged signature, unsigned, not encrypted): its host never appears and the refusal
//! is counted by kind.

mod running;
use pimon_test_support as support;

use std::time::{Duration, Instant};

use pimon_aggregator::influx::{LpFileConfig, LpTarget};
use pimon_aggregator::ingress::config::{CollectdConfig, SecurityLevel};
use pimon_protocol::text::influx::Precision;
use running::{Running, local_config};
use support::http;
use support::peers::{Collectd, Sender};

/// The value of `field` on the line starting with `prefix` at `ts_ms`.
fn lp_value(lp: &str, prefix: &str, field: &str, ts_ms: i64) -> Option<f64> {
    let suffix = format!(" {ts_ms}");
    lp.lines()
        .filter(|l| l.starts_with(prefix) && l.ends_with(&suffix))
        .find_map(|l| {
            let fields = l[prefix.len()..l.len() - suffix.len()].to_string();
            fields.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == field).then(|| v.trim_end_matches('i').parse().ok())?
            })
        })
}

fn metric(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(series) && l.as_bytes().get(series.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct Check {
    dir: &'static str,
    file: &'static str,
    /// (column, line prefix with `{h}` for the host, field, factor csv → line).
    columns: &'static [(usize, &'static str, &'static str, f64)],
    tolerance: f64,
}

const CHECKS: &[Check] = &[
    Check {
        dir: "cpu-0",
        file: "cpu-user",
        columns: &[(0, "cpu,cpu=cpu0,host={h} ", "time_user", 0.01)],
        tolerance: 1e-9,
    },
    Check {
        dir: "load",
        file: "load",
        // Carried in hundredths, like /proc/loadavg on a pimon node.
        columns: &[
            (0, "system,host={h} ", "load1", 1.0),
            (1, "system,host={h} ", "load5", 1.0),
            (2, "system,host={h} ", "load15", 1.0),
        ],
        tolerance: 0.0051,
    },
    Check {
        dir: "memory",
        file: "memory-free",
        columns: &[(0, "mem,host={h} ", "free", 1.0)],
        tolerance: 0.0,
    },
    Check {
        dir: "interface-lo",
        file: "if_octets",
        columns: &[
            (0, "net,host={h},interface=lo ", "bytes_recv", 1.0),
            (1, "net,host={h},interface=lo ", "bytes_sent", 1.0),
        ],
        tolerance: 0.0,
    },
    Check {
        dir: "uptime",
        file: "uptime",
        columns: &[(0, "system,host={h} ", "uptime", 1.0)],
        tolerance: 0.0,
    },
    Check {
        dir: "processes",
        file: "ps_state-running",
        columns: &[(
            0,
            "processes_value,host={h},type=ps_state,type_instance=running ",
            "value",
            1.0,
        )],
        tolerance: 0.0,
    },
];

fn run_level(level: SecurityLevel, good: Sender<'_>, bad: Sender<'_>, refusal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("passwd");
    std::fs::write(&auth, "alice: s3cret\n").unwrap();
    let lp = dir.path().join("out.lp");
    let mut config = local_config();
    config.ingest.precision = Precision::Milliseconds;
    config.lp_out = Some(LpFileConfig::new(LpTarget::File(lp.clone())));
    config.ingress.collectd = Some(CollectdConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        auth_file: Some(auth),
        security_level: level,
        types_db: vec!["/usr/share/collectd/types.db".into()],
    });
    let pimon = Running::start(config);
    let port = pimon.collectd.expect("collectd listener").port();
    let mut sender = Collectd::start(port, good);
    let mut intruder = Collectd::start(port, bad);

    // Four seconds of values.
    let start = Instant::now();
    let wanted = format!("system,host={} ", good.host);
    loop {
        let text = std::fs::read_to_string(&lp).unwrap_or_default();
        if text
            .lines()
            .filter(|l| l.starts_with(&wanted) && l.contains("load1="))
            .count()
            >= 4
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{level:?}: no values from collectd after 30 s; collectd said:\n{}\nlines:\n{text}",
            sender.server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Stopped, but their csv files stay until the handles drop.
    sender.server.kill();
    intruder.server.kill();
    std::thread::sleep(Duration::from_millis(500));
    let page = http::get(&format!("http://{}", pimon.http), "/metrics").body_text();
    // The line-protocol file output writes in batches: give it time to catch up.
    std::thread::sleep(Duration::from_millis(1500));
    let text = std::fs::read_to_string(&lp).unwrap();
    let latest_ts = |prefix: &str, field: &str| {
        let field = format!(" {field}=");
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(&field))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .max()
            .unwrap_or(0)
    };

    // The csv plugin's rows, in the line protocol.
    for check in CHECKS {
        let mut compared = 0;
        for (epoch, values) in sender.rows(good.host, check.dir, check.file) {
            let ts = (epoch * 1000.0).round() as i64;
            let mut all_there = true;
            for &(col, prefix, field, factor) in check.columns {
                let prefix = prefix.replace("{h}", good.host);
                if ts > latest_ts(&prefix, field) {
                    // Still in collectd's send buffer when it was stopped.
                    all_there = false;
                    continue;
                }
                let expected = values[col] * factor;
                let got = lp_value(&text, &prefix, field, ts).unwrap_or_else(|| {
                    panic!("{level:?}: csv {}/{} row at {ts} ms not in the line protocol as {prefix}{field}=…", check.dir, check.file)
                });
                assert!(
                    (got - expected).abs() <= check.tolerance.max(expected.abs() * 1e-12),
                    "{level:?}: {}/{} at {ts}: csv {expected}, line protocol {got}",
                    check.dir,
                    check.file
                );
            }
            if all_there {
                compared += 1;
            }
        }
        assert!(
            compared >= 2,
            "{level:?} {}/{}: only {compared} rows compared",
            check.dir,
            check.file
        );
    }
    // /metrics has the latest, under node_exporter's names.
    let load_ts = latest_ts(&format!("system,host={} ", good.host), "load1");
    let load1 = lp_value(
        &text,
        &format!("system,host={} ", good.host),
        "load1",
        load_ts,
    )
    .unwrap();
    assert_eq!(
        metric(&page, &format!("node_load1{{instance=\"{}\"}}", good.host)),
        Some(load1),
        "{page}"
    );
    let mem_prefix = format!("mem,host={} ", good.host);
    let mem_ts = latest_ts(&mem_prefix, "free");
    assert_eq!(
        metric(
            &page,
            &format!("node_memory_MemFree_bytes{{instance=\"{}\"}}", good.host)
        ),
        lp_value(&text, &mem_prefix, "free", mem_ts)
    );
    assert!(
        page.contains(&format!("pimon_node_up{{instance=\"{}\"}} 1", good.host)),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "collectd_processes_ps_state{{instance=\"{}\",processes=\"running\"}} ",
            good.host
        )),
        "{page}"
    );
    // The refused sender left no trace but its counter.
    assert!(
        !page.contains(bad.host) && !text.contains(bad.host),
        "{} was refused",
        bad.host
    );
    let refused = metric(
        &page,
        &format!("pimon_collectd_bad_packets_total{{kind=\"{refusal}\"}}"),
    )
    .unwrap();
    assert!(refused > 0.0, "{level:?}: {refusal} counted: {page}");
    pimon.stop().unwrap();
}

#[test]
fn collectd_unsigned_with_security_level_none() {
    run_level(
        SecurityLevel::None,
        Sender {
            host: "cd-none",
            level: "None",
            user: "",
            password: "",
        },
        Sender {
            host: "cd-forged",
            level: "Sign",
            user: "alice",
            password: "guess",
        },
        "bad_signature",
    );
}

#[test]
fn collectd_signed_with_security_level_sign() {
    run_level(
        SecurityLevel::Sign,
        Sender {
            host: "cd-sign",
            level: "Sign",
            user: "alice",
            password: "s3cret",
        },
        Sender {
            host: "cd-plain",
            level: "None",
            user: "",
            password: "",
        },
        "unsigned",
    );
}

#[test]
fn collectd_encrypted_with_security_level_encrypt() {
    run_level(
        SecurityLevel::Encrypt,
        Sender {
            host: "cd-encr",
            level: "Encrypt",
            user: "alice",
            password: "s3cret",
        },
        Sender {
            host: "cd-signed",
            level: "Sign",
            user: "alice",
            password: "s3cret",
        },
        "unencrypted",
    );
}
