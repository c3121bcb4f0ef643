//! The process scan every N cycles (`[filters] processes_every`): the cycles between
//! scans send the last scan's values again, without reading `/proc`, and the next scan
//! takes in what changed.

mod sources_support;

use std::path::Path;

use pimon_collector::source::{SourceKind, SourceSet, Sources, SourcesConfig};
use pimon_protocol::catalog::{find, id};
use sources_support::{Recorder, TreeCopy, u};

fn processes_every(root: &Path, every: u32) -> Sources {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Processes);
    Sources::open(&SourcesConfig {
        root: root.to_path_buf(),
        sources,
        processes_every: every,
        ..SourcesConfig::default()
    })
}

fn cycle(sources: &mut Sources) -> Recorder {
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    r
}

fn state(letter: &str) -> u16 {
    find("node_processes_state", &[("state", letter)])
        .unwrap()
        .id
}

fn thread_state(letter: &str) -> u16 {
    find("node_processes_threads_state", &[("thread_state", letter)])
        .unwrap()
        .id
}

/// A new running process and a raised `pid_max` between two scans (every 3rd cycle):
/// the two cycles after the first scan send exactly its samples, the next scan counts
/// the new process and the new limit, and the cycle after it sends those.
#[test]
fn the_cycles_between_scans_resend_the_last_scan_and_the_next_scan_updates_it() {
    let tree = TreeCopy::new("pi4", "processes-resend");
    let mut sources = processes_every(&tree.root, 3);
    let first = cycle(&mut sources);
    assert_eq!(first.value(id::PROCESSES_PIDS, &[]), u(11));
    assert_eq!(first.value(id::PROCESSES_THREADS, &[]), u(14));
    assert_eq!(first.value(state("R"), &[]), u(1));
    assert_eq!(first.value(thread_state("R"), &[]), u(2));
    assert_eq!(first.value(id::PROCESSES_MAX_PROCESSES, &[]), u(32768));

    std::fs::create_dir(tree.path("proc/5000")).unwrap();
    std::fs::write(
        tree.path("proc/5000/stat"),
        "5000 (make) R 1 5000 5000 0 -1 4194560 120 0 0 0 10 5 0 0 20 0 1 0 100 10485760 320 4294967295 65536 67212 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    // In place (the source keeps the file open).
    std::fs::write(tree.path("proc/sys/kernel/pid_max"), "4194304\n").unwrap();

    for n in 2..=3 {
        assert_eq!(
            cycle(&mut sources).samples,
            first.samples,
            "cycle {n} sends the first scan's samples"
        );
    }
    let second = cycle(&mut sources);
    assert_eq!(second.value(id::PROCESSES_PIDS, &[]), u(12));
    assert_eq!(second.value(id::PROCESSES_THREADS, &[]), u(15));
    assert_eq!(second.value(state("R"), &[]), u(2));
    assert_eq!(second.value(thread_state("R"), &[]), u(3));
    assert_eq!(second.value(id::PROCESSES_MAX_PROCESSES, &[]), u(4194304));
    assert_eq!(cycle(&mut sources).samples, second.samples);
    assert_eq!(sources.error_count(SourceKind::Processes), 0);
}

/// `processes_every = 1` scans every cycle: a change shows in the very next cycle.
#[test]
fn scanning_every_cycle_sees_a_change_at_once() {
    let tree = TreeCopy::new("pi4", "processes-every-cycle");
    let mut sources = processes_every(&tree.root, 1);
    assert_eq!(cycle(&mut sources).value(id::PROCESSES_PIDS, &[]), u(11));
    std::fs::remove_dir_all(tree.path("proc/2841")).unwrap();
    assert_eq!(cycle(&mut sources).value(id::PROCESSES_PIDS, &[]), u(10));
}

/// The success figure node_exporter's dashboards show for each collector
/// (`node_scrape_collector_success{collector="processes"}`) as the cycle pushed it.
fn scrape_success(sources: &Sources) -> pimon_protocol::Value {
    let mut r = Recorder::default();
    sources.push_error_counters(&mut r);
    r.value(id::SCRAPE_COLLECTOR_SUCCESS, &["processes"])
}

/// A scan that fails (a `stat` that cannot be parsed) reports failure not only in its
/// own cycle but in the cycles that resend its values, until a scan succeeds again.
#[test]
fn a_failed_scan_stays_a_failure_in_the_cycles_that_resend_it() {
    let tree = TreeCopy::new("pi4", "processes-failed-scan");
    let mut sources = processes_every(&tree.root, 3);
    cycle(&mut sources);
    assert_eq!(scrape_success(&sources), u(1));
    std::fs::write(tree.path("proc/2841/stat"), "garbage\n").unwrap();
    cycle(&mut sources);
    cycle(&mut sources);
    cycle(&mut sources); // the second scan: fails on 2841
    let errors = sources.error_count(SourceKind::Processes);
    assert!(errors > 0, "the bad stat is counted");
    assert_eq!(scrape_success(&sources), u(0));
    for n in 1..=2 {
        cycle(&mut sources);
        assert_eq!(
            scrape_success(&sources),
            u(0),
            "resend {n} after the failed scan"
        );
    }
    assert_eq!(
        sources.error_count(SourceKind::Processes),
        errors,
        "a resend is not a new failure"
    );
    std::fs::remove_dir_all(tree.path("proc/2841")).unwrap();
    cycle(&mut sources); // the third scan: succeeds
    assert_eq!(scrape_success(&sources), u(1));
}
