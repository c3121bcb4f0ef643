//! The kernel log source on this machine's real `/dev/kmsg`: lines written to it (as
//! root) are counted by a config rule and not mistaken for kernel events, and a ring
//! overrun (`EPIPE`) is counted as missed records while reading goes on.
//!
//! Writing to `/dev/kmsg` needs root (CAP_SYSLOG is not enough: the file is 0644 root);
//! without it these tests fail and say so. The kernel rate-limits writes per open file
//! (10 per 5 s with `printk.devkmsg=ratelimit`, the default), so each batch of writes
//! uses a fresh open. Lines are written at level info, below the console's level.

mod sources_support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use pimon_collector::source::{SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use sources_support::Recorder;

/// Writes `lines` to `/dev/kmsg`, reopening every 10 lines (the per-open rate limit).
fn write_kmsg(lines: &[String]) {
    for chunk in lines.chunks(10) {
        let mut kmsg = OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")
            .unwrap_or_else(|e| {
                panic!(
                    "cannot open /dev/kmsg for writing ({e}): this live test needs root on a \
                     Linux machine with /dev/kmsg (uid {})",
                    std::fs::metadata("/proc/self")
                        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
                        .unwrap_or(u32::MAX)
                )
            });
        for line in chunk {
            // One write is one record.
            kmsg.write_all(line.as_bytes())
                .unwrap_or_else(|e| panic!("writing {line:?} to /dev/kmsg: {e}"));
        }
    }
}

fn live_kmsg(rules: &[String]) -> Sources {
    let mut set = SourceSet::none();
    set.insert(SourceKind::Kmsg);
    let sources = Sources::open(&SourcesConfig {
        root: Path::new("/").to_path_buf(),
        sources: set,
        kmsg_rules: rules.to_vec(),
        ..SourcesConfig::default()
    });
    match sources.status(SourceKind::Kmsg) {
        SourceStatus::Present => sources,
        other => panic!("/dev/kmsg cannot be read on this machine: {other:?}"),
    }
}

fn collect(sources: &mut Sources) -> Recorder {
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r
}

fn unsigned(v: Value) -> u64 {
    match v {
        Value::Unsigned(n) => n,
        other => panic!("{other:?}"),
    }
}

#[test]
fn lines_written_to_dev_kmsg_are_counted_by_a_config_rule_not_as_kernel_events() {
    let tag = format!("run{}", std::process::id());
    let mut sources =
        live_kmsg(&["pimon_live facility=user pimon-live-test {device}: event *".into()]);
    let before = collect(&mut sources);
    assert!(!before.has(id::KERNEL_EVENTS, &["pimon_live", &tag]));
    // <14> is facility user, level info. The second line reads like the OOM killer's,
    // but user space wrote it: the built-in rules count kernel messages only.
    write_kmsg(&[
        format!("<14>pimon-live-test {tag}: event one\n"),
        format!("<14>pimon-live-test {tag}: event two\n"),
        format!("<14>Out of memory: Killed process 1 (pimon-{tag}) total-vm:1kB\n"),
    ]);
    let after = collect(&mut sources);
    assert_eq!(
        unsigned(after.value(id::KERNEL_EVENTS, &["pimon_live", &tag])),
        2,
        "the two lines written to /dev/kmsg were not counted"
    );
    let oom = format!("pimon-{tag}");
    assert!(!after.has(id::KERNEL_EVENTS, &["oom_kill", &oom]));
    assert!(
        unsigned(after.value(id::KERNEL_LOG_RECORDS, &[]))
            >= unsigned(before.value(id::KERNEL_LOG_RECORDS, &[])) + 3
    );
    assert_eq!(sources.error_count(SourceKind::Kmsg), 0);
}

#[test]
fn an_overrun_ring_is_counted_as_missed_and_reading_goes_on() {
    let tag = format!("overrun{}", std::process::id());
    let mut sources = live_kmsg(&[format!("pimon_overrun facility=user pimon-{tag} *")]);
    let first = collect(&mut sources);
    let missed_before = unsigned(first.value(id::KERNEL_LOG_MISSED, &[]));
    // Lines of ~1000 bytes, written in rounds of 1 MiB until the reader finds a gap
    // (the ring is 128 KiB to a few MiB); at most 32 MiB.
    let filler = "x".repeat(960);
    let mut written = 0u64;
    for round in 0..32 {
        let lines: Vec<String> = (0..1024)
            .map(|i| format!("<14>pimon-{tag} {round}.{i} {filler}\n"))
            .collect();
        write_kmsg(&lines);
        written += lines.len() as u64;
        let r = collect(&mut sources);
        let missed = unsigned(r.value(id::KERNEL_LOG_MISSED, &[]));
        if missed > missed_before {
            let counted = unsigned(r.value(id::KERNEL_EVENTS, &["pimon_overrun", ""]));
            // Every line written was either read (and counted) or missed; other
            // processes may log meanwhile, so missed records can be theirs too.
            assert!(counted < written, "{counted} of {written}");
            assert!(
                counted + (missed - missed_before) >= written,
                "{counted} + {missed} < {written}"
            );
            assert_eq!(
                sources.error_count(SourceKind::Kmsg),
                0,
                "EPIPE is not a failure"
            );
            // Reading goes on after the overrun.
            write_kmsg(&[format!("<14>pimon-{tag} after\n")]);
            let r = collect(&mut sources);
            assert_eq!(
                unsigned(r.value(id::KERNEL_EVENTS, &["pimon_overrun", ""])),
                counted + 1
            );
            return;
        }
    }
    panic!("32 MiB written to /dev/kmsg without overrunning the kernel's ring between reads");
}
