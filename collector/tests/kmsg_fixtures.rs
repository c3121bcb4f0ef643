//! The kernel log source on fixture `/dev/kmsg` streams built from real kernel message
//! formats (`tests/fixtures/*/dev/kmsg`, `tests/fixtures/kmsg/`): every built-in rule,
//! series by series, with dictionary lines, `c`/`+` continuations, `\xNN` escapes,
//! sequence gaps, user-space records, rules from the config file, and a stream that
//! grows between cycles.

mod sources_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pimon_collector::parse::kmsg::{Joiner, parse_records};
use pimon_collector::parse::log_rule::{BUILTIN_RULES, Rule};
use pimon_collector::source::{SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::catalog::id;
use sources_support::{Recorder, fixture_root, one_cycle, u};

/// Every fixture stream of the kernel log.
fn streams() -> Vec<PathBuf> {
    let fixtures = fixture_root("");
    vec![
        fixtures.join("pi4/dev/kmsg"),
        fixtures.join("kmsg/pi4-sd-failure.kmsg"),
        fixtures.join("pizero/dev/kmsg"),
        fixtures.join("x86/dev/kmsg"),
        fixtures.join("kmsg/pi5-arm64.kmsg"),
    ]
}

/// Only the kernel log source, under `root`.
fn kmsg_only(root: &Path, rules: &[&str]) -> SourcesConfig {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Kmsg);
    SourcesConfig {
        root: root.to_path_buf(),
        sources,
        kmsg_rules: rules.iter().map(|r| r.to_string()).collect(),
        ..SourcesConfig::default()
    }
}

fn collect(sources: &mut Sources) -> Recorder {
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r
}

/// The `(event, device, count)` series of a cycle, in push order.
fn series(r: &Recorder) -> Vec<(String, String, u64)> {
    r.label_sets(id::KERNEL_EVENTS)
        .into_iter()
        .map(|labels| {
            let l: Vec<&str> = labels.iter().map(String::as_str).collect();
            let count = match r.value(id::KERNEL_EVENTS, &l) {
                pimon_protocol::Value::Unsigned(n) => n,
                v => panic!("{v:?}"),
            };
            (labels[0].clone(), labels[1].clone(), count)
        })
        .collect()
}

fn expect(list: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    list.iter()
        .map(|(e, d, c)| (e.to_string(), d.to_string(), *c))
        .collect()
}

/// A temporary root whose `dev/kmsg` holds `bytes`.
struct TempRoot(PathBuf);

impl TempRoot {
    fn new(name: &str, bytes: &[u8]) -> TempRoot {
        let dir = std::env::temp_dir().join(format!("pimon-kmsg-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("dev")).unwrap();
        fs::write(dir.join("dev/kmsg"), bytes).unwrap();
        TempRoot(dir)
    }
    fn append(&self, bytes: &[u8]) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.0.join("dev/kmsg"))
            .unwrap();
        f.write_all(bytes).unwrap();
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn pi4_tree_a_weak_power_supply() {
    let (sources, r) = one_cycle("pi4");
    assert_eq!(sources.status(SourceKind::Kmsg), &SourceStatus::Present);
    assert_eq!(sources.error_count(SourceKind::Kmsg), 0);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(17));
    assert_eq!(r.value(id::KERNEL_LOG_MISSED, &[]), u(0));
    // "Voltage normalised" is not an event; systemd's line is user space's.
    assert_eq!(series(&r), expect(&[("under_voltage", "hwmon0", 2)]));
}

#[test]
fn pi4_sd_card_failure_oom_and_usb() {
    let root = TempRoot::new(
        "sd",
        &fs::read(fixture_root("kmsg/pi4-sd-failure.kmsg")).unwrap(),
    );
    let mut sources = Sources::open(&kmsg_only(&root.0, &[]));
    let r = collect(&mut sources);
    assert_eq!(sources.error_count(SourceKind::Kmsg), 0);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(30));
    assert_eq!(r.value(id::KERNEL_LOG_MISSED, &[]), u(0));
    // The sdhci register dump after the timeout is one error, not five; the
    // process name keeps the kernel's escape of its tab.
    assert_eq!(
        series(&r),
        expect(&[
            ("under_voltage", "hwmon0", 2),
            ("mmc_error", "mmc0", 1),
            ("mmc_error", "mmcblk0", 1),
            ("io_error", "mmcblk0", 1),
            ("io_error", "mmcblk0p2", 1),
            ("fs_error", "mmcblk0p2", 2),
            ("fs_readonly", "mmcblk0p2", 1),
            ("oom_kill", "my\\x09app", 1),
            ("usb_disconnect", "1-1.3", 1),
        ])
    );
}

#[test]
fn pizero_old_kernel_continuations_and_a_ring_that_lost_its_start() {
    let (sources, r) = one_cycle("pizero");
    assert_eq!(sources.error_count(SourceKind::Kmsg), 0);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(15));
    // The first record read is number 1042: the 1042 before it were overwritten.
    assert_eq!(r.value(id::KERNEL_LOG_MISSED, &[]), u(1042));
    assert_eq!(
        series(&r),
        expect(&[
            ("under_voltage", "", 2),
            ("mmc_error", "mmc0", 1),
            ("mmc_error", "mmcblk0", 1),
            ("io_error", "mmcblk0", 2),
            // `c` + `+` records joined into one message, counted once.
            ("fs_error", "mmcblk0p2", 1),
            ("hung_task", "jbd2/mmcblk0p2-", 1),
            ("oom_kill", "python3", 1),
            ("usb_reset", "1-1", 1),
        ])
    );
}

#[test]
fn x86_throttling_oom_segfault_hung_task_nvme_f2fs() {
    let (_, r) = one_cycle("x86");
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(22));
    assert_eq!(r.value(id::KERNEL_LOG_MISSED, &[]), u(0));
    // The last record is user space writing a kernel-like line: not counted.
    assert_eq!(
        series(&r),
        expect(&[
            ("throttling", "CPU3", 2),
            ("oom_kill", "stress-ng-vm", 1),
            ("oom_kill", "java", 1),
            ("segfault", "firefox", 1),
            ("hung_task", "kworker/u16", 1),
            ("io_error", "nvme0n1", 2),
            ("usb_reset", "3-2", 1),
            ("fs_error", "sdb1", 1),
            ("fs_readonly", "sdb1", 1),
        ])
    );
}

#[test]
fn pi5_arm64_fault_formats() {
    let root = TempRoot::new(
        "pi5",
        &fs::read(fixture_root("kmsg/pi5-arm64.kmsg")).unwrap(),
    );
    let mut sources = Sources::open(&kmsg_only(&root.0, &[]));
    let r = collect(&mut sources);
    // An alignment fault is SIGBUS, not a segfault.
    assert_eq!(
        series(&r),
        expect(&[
            ("under_voltage", "hwmon2", 1),
            ("segfault", "crashy", 2),
            ("segfault", "old-kernel", 1),
        ])
    );
}

/// Each built-in rule is the first to match at least one fixture record, as the
/// source matches (continuations joined): none is dead or shadowed by another.
#[test]
fn every_builtin_rule_counts_a_fixture_record() {
    let rules: Vec<Rule> = BUILTIN_RULES
        .iter()
        .map(|l| Rule::parse(l).unwrap())
        .collect();
    let mut hits = vec![0usize; rules.len()];
    let mut first_match = |text: &pimon_collector::parse::kmsg::Record<'_>| {
        if let Some(i) = rules.iter().position(|r| r.matches(text).is_some()) {
            hits[i] += 1;
        }
    };
    for path in streams() {
        let bytes = fs::read(&path).unwrap();
        let mut joiner = Joiner::<1024>::default();
        for record in parse_records(&bytes) {
            let record = record.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match record.flags {
                b'+' => assert!(joiner.append(record.text)),
                b'c' => joiner.start(&record),
                _ => {
                    if let Some(joined) = joiner.take() {
                        first_match(&joined);
                    }
                    first_match(&record);
                }
            }
        }
    }
    for (line, n) in BUILTIN_RULES.iter().zip(&hits) {
        assert!(*n > 0, "no fixture record is counted by {line:?}");
    }
}

#[test]
fn config_rules_come_first_and_can_drop() {
    let root = TempRoot::new(
        "config",
        &fs::read(fixture_root("kmsg/pi4-sd-failure.kmsg")).unwrap(),
    );
    let cfg = kmsg_only(
        &root.0,
        &[
            "power facility=kern level<=crit SUBSYSTEM=hwmon hwmon {device}: *",
            "- *Buffer I/O error*",
            "usb_storage facility=kern usb-storage {device}: *",
        ],
    );
    let mut sources = Sources::open(&cfg);
    let r = collect(&mut sources);
    let s = series(&r);
    assert!(s.contains(&("power".into(), "hwmon0".into(), 2)), "{s:?}");
    assert!(!s.iter().any(|(e, _, _)| e == "under_voltage"), "{s:?}");
    assert!(
        !s.iter()
            .any(|(e, d, _)| e == "io_error" && d == "mmcblk0p2"),
        "{s:?}"
    );
    assert!(
        s.contains(&("usb_storage".into(), "1-1.3:1.0".into(), 1)),
        "{s:?}"
    );
    let report = sources.report().to_string();
    let expected = format!(
        "kmsg: ok: {} rules (3 from the config file), 64 series at most",
        BUILTIN_RULES.len() + 3
    );
    assert!(report.contains(&expected), "{report}");
}

#[test]
fn a_growing_stream_is_followed_across_cycles() {
    let root = TempRoot::new("grow", b"6,0,1,-;usb 1-1: new high-speed USB device\n");
    let mut sources = Sources::open(&kmsg_only(&root.0, &[]));
    let r = collect(&mut sources);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(1));
    assert!(series(&r).is_empty());
    // A record arrives in two writes, the cut inside its dictionary: it waits.
    root.append(b"6,1,2,-;usb 1-1: USB disconnect, device number 2\n SUBSYS");
    let r = collect(&mut sources);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(1));
    root.append(b"TEM=usb\n3,5,3,-;I/O error, dev sda, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n");
    let r = collect(&mut sources);
    assert_eq!(r.value(id::KERNEL_LOG_RECORDS, &[]), u(3));
    assert_eq!(r.value(id::KERNEL_LOG_MISSED, &[]), u(3));
    assert_eq!(
        series(&r),
        expect(&[("usb_disconnect", "1-1", 1), ("io_error", "sda", 1)])
    );
    assert_eq!(sources.error_count(SourceKind::Kmsg), 0);
}

#[test]
fn damaged_records_are_counted_failures_and_the_rest_is_read() {
    let root = TempRoot::new(
        "damaged",
        b"6,0,1,-;fine\nnot a record\n\xff\xfe\n3,1,2,-;Buffer I/O error on dev sdz1, logical block 1, lost async page write\n",
    );
    let mut sources = Sources::open(&kmsg_only(&root.0, &[]));
    let r = collect(&mut sources);
    assert_eq!(series(&r), expect(&[("io_error", "sdz1", 1)]));
    assert_eq!(sources.error_count(SourceKind::Kmsg), 1);
}

#[test]
fn absent_without_dev_kmsg() {
    let root = fixture_root("container");
    let sources = Sources::open(&kmsg_only(&root, &[]));
    match sources.status(SourceKind::Kmsg) {
        SourceStatus::Absent(why) => assert!(why.contains("dev/kmsg"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// docs/METRICS.md lists every built-in rule as it is, in order.
#[test]
fn metrics_doc_lists_the_builtin_rules_in_order() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/METRICS.md");
    let doc = fs::read_to_string(&path).unwrap();
    let listed: Vec<&str> = doc
        .lines()
        .skip_while(|l| *l != "| built-in rule |")
        .skip(2)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix("| `")?.strip_suffix("` |"))
        .collect();
    assert_eq!(
        listed,
        BUILTIN_RULES,
        "the built-in rule table of {} is out of date",
        path.display()
    );
}
