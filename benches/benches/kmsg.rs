//! The kernel log source with a busy log: one cycle that reads and matches 10,000 new
//! records, and the rules alone.
//!
//! `cargo bench -p pimon-benches --bench kmsg`
//!
//! The busy log is a fixture of 10,000 records built here from the collector's real
//! kernel message fixtures (`collector/tests/fixtures/{pi4,pizero,x86}/dev/kmsg`,
//! `kmsg/*.kmsg`: events, dictionary lines, continuations, escapes, user-space lines),
//! repeated and renumbered, written to a temporary root's `dev/kmsg`. Prints:
//! - the share of those records that are events;
//! - one cycle of the kernel log source over the 10,000 records (a fresh reader each
//!   time, so every cycle reads them all): wall time (median of 15 batches) and CPU time
//!   (user + system from `/proc/self/stat` over 200 cycles, minus 200 opens alone);
//! - parse + match per record without I/O (the built-in rule table);
//! - an idle cycle (nothing new in the log): what every cycle costs in the steady state;
//! - the same cycle over this machine's own `/dev/kmsg` ring, when it can be read.
//!
//! Results: docs/BENCHMARKS.md, section 2.6.

use std::hint::black_box;
use std::path::Path;

use pimon_benches::procstat;
use pimon_benches::timing::bench;
use pimon_collector::parse::kmsg::{parse_record, record_len};
use pimon_collector::parse::log_rule::{BUILTIN_RULES, Rule};
use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::Value;

const RECORDS: usize = 10_000;

/// A sink that only counts.
#[derive(Default)]
struct Count(u64);

impl SampleSink for Count {
    fn labels(&mut self, _: &[&str]) {}
    fn push(&mut self, _: u16, value: Value) {
        self.0 = self.0.wrapping_add(value.as_f64() as u64);
    }
}

/// The records of every fixture stream (header and dictionary lines, without the
/// sequence numbers' meaning).
fn fixture_records() -> Vec<Vec<u8>> {
    let fixtures = pimon_test_support::fixtures::dir();
    let mut out = Vec::new();
    for stream in [
        "pi4/dev/kmsg",
        "pizero/dev/kmsg",
        "x86/dev/kmsg",
        "kmsg/pi4-sd-failure.kmsg",
        "kmsg/pi5-arm64.kmsg",
    ] {
        let bytes = std::fs::read(fixtures.join(stream)).expect("fixture stream");
        let mut rest = &bytes[..];
        while let Some(len) = record_len(rest, true) {
            out.push(rest[..len].to_vec());
            rest = &rest[len..];
        }
    }
    out
}

/// 10,000 records, renumbered 0..10,000 so no record counts as missed.
fn busy_log() -> Vec<u8> {
    let records = fixture_records();
    let mut log = Vec::new();
    for (seq, record) in records.iter().cycle().take(RECORDS).enumerate() {
        let comma = record.iter().position(|&b| b == b',').expect("prio");
        let rest = &record[comma + 1..];
        let comma2 = rest.iter().position(|&b| b == b',').expect("seq");
        log.extend_from_slice(&record[..=comma]);
        log.extend_from_slice(seq.to_string().as_bytes());
        log.extend_from_slice(&rest[comma2..]);
    }
    log
}

fn kmsg_only(root: &Path) -> SourcesConfig {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Kmsg);
    SourcesConfig {
        root: root.to_path_buf(),
        sources,
        ..SourcesConfig::default()
    }
}

fn cpu_now() -> f64 {
    procstat::cpu_seconds(std::process::id()).expect("/proc/self/stat")
}

fn main() {
    let root = std::env::temp_dir().join(format!("pimon-bench-kmsg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("dev")).expect("temp root");
    let log = busy_log();
    std::fs::write(root.join("dev/kmsg"), &log).expect("write the busy log");
    let config = kmsg_only(&root);

    let mut sources = Sources::open(&config);
    let mut count = Count::default();
    sources.collect(&mut count);
    let rules: Vec<Rule> = BUILTIN_RULES
        .iter()
        .map(|l| Rule::parse(l).unwrap())
        .collect();
    let mut events = 0;
    let mut rest = &log[..];
    while let Some(len) = record_len(rest, true) {
        let record = parse_record(&rest[..len]).expect("record");
        if let Some(rule) = rules.iter().find(|r| r.matches(&record).is_some()) {
            events += usize::from(rule.event.is_some());
        }
        rest = &rest[len..];
    }
    println!(
        "-- busy kernel log: {RECORDS} records ({} bytes), {events} of them events, {} rules",
        log.len(),
        rules.len()
    );

    bench("kmsg cycle: 10,000 new records", || {
        let mut s = Sources::open(&config);
        let mut c = Count::default();
        s.collect(&mut c);
        c.0
    });
    bench("kmsg open alone (no collect)", || Sources::open(&config));
    const CYCLES: u32 = 200;
    let start = cpu_now();
    for _ in 0..CYCLES {
        let mut s = Sources::open(&config);
        s.collect(&mut count);
    }
    let with_collect = cpu_now() - start;
    let start = cpu_now();
    for _ in 0..CYCLES {
        black_box(Sources::open(&config));
    }
    let open_only = cpu_now() - start;
    let per_cycle = (with_collect - open_only) / f64::from(CYCLES);
    println!(
        "CPU (user+system) per cycle reading 10,000 records: {:.2} ms ({:.0} ns per record); \
         {CYCLES} cycles {with_collect:.2} s, {CYCLES} opens {open_only:.2} s",
        per_cycle * 1e3,
        per_cycle * 1e9 / RECORDS as f64
    );

    bench("parse + match 10,000 records (no I/O)", || {
        let mut rest = &log[..];
        let mut hits = 0u32;
        while let Some(len) = record_len(rest, true) {
            if let Ok(record) = parse_record(&rest[..len]) {
                hits += u32::from(rules.iter().any(|r| r.matches(&record).is_some()));
            }
            rest = &rest[len..];
        }
        hits
    });

    bench("kmsg cycle: idle log (nothing new)", || {
        sources.collect(&mut count);
    });

    let live = Sources::open(&kmsg_only(Path::new("/")));
    if live.status(SourceKind::Kmsg) == &SourceStatus::Present {
        let mut c = Count::default();
        let mut first = Sources::open(&kmsg_only(Path::new("/")));
        first.collect(&mut c);
        bench("kmsg cycle: this machine's whole ring", || {
            let mut s = Sources::open(&kmsg_only(Path::new("/")));
            let mut c = Count::default();
            s.collect(&mut c);
            c.0
        });
    }
    std::fs::remove_dir_all(&root).expect("remove temp root");
}
