//! One cycle of the Raspberry Pi 4 fixture tree, end to end: every sample the sources
//! push arrives in the sealed frames, in order, with its labels and value; the
//! collector's own figures follow; the bytes-per-value figure (MAC included) stays at
//! most 8; the default ring holds 30 minutes of this node.

mod send_support;

use pimon_collector::config::DEFAULT_RING_BYTES;
use pimon_collector::print::DecodedCycle;
use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceKind, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::catalog::id;
use pimon_protocol::{Ack, DataFrame, MAX_DATAGRAM, Value};
use send_support::{collector, fixture, test_key};

/// Records what the sources push.
#[derive(Default)]
struct Recorder {
    labels: Vec<String>,
    samples: Vec<(Vec<String>, u16, Value)>,
}

impl SampleSink for Recorder {
    fn labels(&mut self, values: &[&str]) {
        self.labels = values.iter().map(|v| v.to_string()).collect();
    }
    fn push(&mut self, metric: u16, value: Value) {
        self.samples.push((self.labels.clone(), metric, value));
    }
}

/// Filesystem sizes come from `statvfs` of the real disk under the fixture's mount
/// points and may change between two reads, the age of the last 1-wire reading grows,
/// and the clock moves; everything else is fixed bytes.
fn comparable(metric: u16, value: Value) -> Option<Value> {
    let name = pimon_protocol::catalog::lookup(metric).unwrap().prom_name;
    let varies = (name.starts_with("node_filesystem_") && name != "node_filesystem_readonly")
        || metric == id::W1_AGE
        || metric == id::TIME_SECONDS;
    (!varies).then_some(value)
}

fn ack_everything(c: &mut pimon_collector::cycle::Collector) {
    let ring = c.ring_mut();
    ring.send_unsent(0, |_, _| {});
    let n = ring.next_seq();
    let ack = Ack {
        node: "pi4",
        boot_id: 0xb007,
        acked_below: n,
        seen_below: n,
        gaps: heapless::Vec::new(),
        key_id: None,
    };
    ring.apply_ack(&ack, 0);
}

#[test]
fn every_source_sample_arrives_in_the_frames() {
    let root = fixture("pi4");
    let mut expected = Recorder::default();
    let sources = Sources::open(&SourcesConfig {
        root: root.clone(),
        ..SourcesConfig::default()
    });
    sources.settle(std::time::Duration::from_secs(3));
    let mut sources = sources;
    sources.collect(&mut expected);
    assert!(expected.samples.len() > 250, "{}", expected.samples.len());

    let mut c = collector(&root, Some(test_key()), 1 << 20, 10_000);
    let report = c.cycle(1_700_000_000_000);
    assert_eq!(report.lost_values, 0);
    assert_eq!(report.label_errors, 0);
    let key = test_key();
    let mut got = Vec::new();
    for (i, (seq, d)) in c.ring().datagrams().enumerate() {
        assert!(d.len() <= MAX_DATAGRAM);
        let f = DataFrame::parse(d).unwrap();
        f.verify(&key).unwrap();
        let h = f.header;
        assert_eq!(
            (h.seq, seq, h.part as usize, h.parts),
            (i as u64, i as u64, i, report.parts)
        );
        assert_eq!(
            (h.node, h.boot_id, h.timestamp_ms, h.interval_ms, h.user_hz),
            ("pi4", 0xb007, 1_700_000_000_000, 10_000, 100)
        );
        assert_eq!(f.unknown_samples(), 0);
        for s in f.samples() {
            got.push((
                s.labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
                s.metric.id,
                s.value,
            ));
        }
    }
    assert_eq!(got.len(), report.values as usize);
    // The sources' samples first, in order, then the collector's own figures.
    let n = expected.samples.len();
    let strip = |v: &[(Vec<String>, u16, Value)]| -> Vec<(Vec<String>, u16, Option<Value>)> {
        v.iter()
            .map(|(l, m, x)| (l.clone(), *m, comparable(*m, *x)))
            .collect()
    };
    assert_eq!(strip(&got[..n]), strip(&expected.samples));
    let own: Vec<(Vec<String>, u16)> = got[n..].iter().map(|(l, m, _)| (l.clone(), *m)).collect();
    let mut want: Vec<(Vec<String>, u16)> = vec![
        (vec![], id::COLLECTOR_CYCLE_DURATION),
        (vec![], id::COLLECTOR_FRAMES_SENT),
        (vec![], id::COLLECTOR_FRAMES_RESENT),
        (vec![], id::COLLECTOR_FRAMES_DROPPED),
        (vec![], id::COLLECTOR_VALUES_DROPPED),
    ];
    for process in [
        id::PROCESS_CPU_SECONDS,
        id::PROCESS_OPEN_FDS,
        id::PROCESS_MAX_FDS,
        id::PROCESS_VIRTUAL_MEMORY,
        id::PROCESS_RESIDENT_MEMORY,
        id::PROCESS_START_TIME,
    ] {
        want.push((vec![], process));
    }
    for kind in SourceKind::ALL {
        if *c.sources().status(kind) == SourceStatus::Present {
            for own in [
                id::COLLECTOR_SOURCE_ERRORS,
                id::SCRAPE_COLLECTOR_DURATION,
                id::SCRAPE_COLLECTOR_SUCCESS,
            ] {
                want.push((vec![kind.name().to_string()], own));
            }
        }
    }
    assert_eq!(own, want);
    assert!(
        want.len() >= 5 + 6 + 3 * 14,
        "every Pi 4 source is present in the fixture"
    );
}

#[test]
fn own_figures_report_the_previous_cycles() {
    let mut c = collector(&fixture("pi4"), None, 1 << 20, 10_000);
    let first = c.cycle(1);
    ack_everything(&mut c);
    c.record_duration(std::time::Duration::from_micros(1234));
    c.cycle(2);
    let d = DecodedCycle::decode(c.ring().datagrams().map(|(_, d)| d)).unwrap();
    let value = |m: u16| d.samples.iter().find(|s| s.metric.id == m).map(|s| s.value);
    assert_eq!(
        value(id::COLLECTOR_CYCLE_DURATION),
        Some(Value::Unsigned(1234))
    );
    // The first cycle's datagrams (three since the netclass families).
    assert_eq!(
        value(id::COLLECTOR_FRAMES_SENT),
        Some(Value::Unsigned(u64::from(first.parts)))
    );
    assert_eq!(first.parts, 3);
    assert_eq!(value(id::COLLECTOR_FRAMES_RESENT), Some(Value::Unsigned(0)));
    assert_eq!(
        value(id::COLLECTOR_FRAMES_DROPPED),
        Some(Value::Unsigned(0))
    );
    // The fixture's filesystem source counts one failing statvfs per cycle.
    let errors: Vec<(String, Value)> = d
        .samples
        .iter()
        .filter(|s| s.metric.id == id::COLLECTOR_SOURCE_ERRORS)
        .map(|s| (s.labels[0].clone(), s.value))
        .collect();
    assert!(errors.iter().any(|(s, _)| s == "stat"));
    assert!(errors.iter().all(|(_, v)| matches!(v, Value::Unsigned(_))));
}

#[test]
fn bytes_per_value_with_a_mac_is_at_most_8() {
    let mut c = collector(&fixture("pi4"), Some(test_key()), 1 << 20, 10_000);
    let r = c.cycle(1_700_000_000_000);
    let d = DecodedCycle::decode(c.ring().datagrams().map(|(_, d)| d)).unwrap();
    assert_eq!(d.bytes(), r.bytes);
    assert_eq!(d.values(), r.values as usize);
    let per_value = r.bytes as f64 / f64::from(r.values);
    eprintln!(
        "Pi 4 fixture, keyed: {} values in {} datagrams, {} bytes, {per_value:.2} bytes/value",
        r.values, r.parts, r.bytes
    );
    assert!(per_value <= 8.0, "{per_value}");
}

#[test]
fn the_default_ring_holds_thirty_minutes_of_a_pi4() {
    // 180 cycles = 30 minutes at 10 s, aggregator unreachable: nothing may drop.
    let mut c = collector(
        &fixture("pi4"),
        Some(test_key()),
        DEFAULT_RING_BYTES,
        10_000,
    );
    let mut parts = 0;
    for i in 0..180u64 {
        let report = c.cycle(1_700_000_000_000 + i * 10_000);
        assert_eq!(report.lost_values, 0, "cycle {i} did not fit the ring");
        parts += usize::from(report.parts);
        c.ring_mut().send_unsent(i * 10_000, |_, _| {});
    }
    let ring = c.ring();
    assert_eq!(
        ring.stats().dropped,
        0,
        "used {} of {}",
        ring.used_bytes(),
        ring.capacity()
    );
    assert_eq!(ring.len(), parts);
    assert_eq!(ring.resend_floor(), 0);
    let mut more = 0;
    while c.ring().stats().dropped == 0 {
        c.cycle(0);
        more += 1;
    }
    eprintln!(
        "default ring ({DEFAULT_RING_BYTES} bytes): {} cycles of the Pi 4 fixture",
        180 + more - 1
    );
}

/// Adds `step` to every number of four digits or more in `text` (the counters and
/// gauges of a /proc file; shorter numbers are device numbers, CPU ids and the like).
fn bump_numbers(text: &str, step: u64) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 4 {
            let n: u64 = digits.parse().unwrap_or(0);
            out.push_str(&(n + step).to_string());
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    let mut prev_word = false;
    for ch in text.chars() {
        if ch.is_ascii_digit() && !(prev_word && digits.is_empty()) {
            digits.push(ch);
            continue;
        }
        flush(&mut digits, &mut out);
        prev_word = ch.is_ascii_alphanumeric() || ch == '_';
        out.push(ch);
    }
    flush(&mut digits, &mut out);
    out
}

#[test]
fn the_default_ring_holds_thirty_minutes_of_a_busy_pi4_whose_counters_all_change() {
    // A copy of the Pi 4 fixture whose /proc counters all move before every cycle
    // (by different amounts each cycle): the ring keeps cycles as differences from a
    // key cycle, so what it holds depends on how much changes; this is about the most.
    let dir = std::env::temp_dir().join(format!("pimon-busy-pi4-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture("pi4"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let files = [
        "proc/stat",
        "proc/diskstats",
        "proc/meminfo",
        "proc/vmstat",
        "proc/net/dev",
        "proc/net/netstat",
        "proc/net/snmp",
        "proc/net/snmp6",
        "proc/uptime",
    ];
    let original: Vec<(std::path::PathBuf, String)> = files
        .iter()
        .map(|f| dir.join(f))
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect();
    assert!(original.len() >= 8, "{}", original.len());
    let mut c = collector(&dir, Some(test_key()), DEFAULT_RING_BYTES, 10_000);
    let mut parts = 0;
    let mut sent = Vec::new();
    for i in 0..180u64 {
        for (p, text) in &original {
            std::fs::write(p, bump_numbers(text, i * i * 37 + i * 1013)).unwrap();
        }
        let report = c.cycle(1_700_000_000_000 + i * 10_000);
        assert_eq!(report.lost_values, 0, "cycle {i} did not fit the ring");
        parts += usize::from(report.parts);
        c.ring_mut()
            .send_unsent(i * 10_000, |_, d| sent.push(d.to_vec()));
    }
    let ring = c.ring();
    let used = ring.used_bytes();
    assert_eq!(ring.len(), parts, "used {used} of {}", ring.capacity());
    assert_eq!(ring.oldest_held(), 0);
    // What it will resend is what it sent, and the values did change.
    let mut held = Vec::new();
    ring.for_each_datagram(|_, d| held.push(d.to_vec()));
    assert_eq!(held, sent);
    assert_ne!(sent[0][40..], sent[parts - 3][40..]);
    let wire: usize = sent.iter().map(Vec::len).sum();
    eprintln!(
        "busy Pi 4, 180 cycles: {wire} bytes sent, {used} bytes held in the ring ({:.0} %), ring {DEFAULT_RING_BYTES}",
        100.0 * used as f64 / wire as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
