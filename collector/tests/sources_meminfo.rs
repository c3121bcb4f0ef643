//! The meminfo reader on keys the catalog has no row for (`tests/fixtures/meminfo-other`:
//! `Balloon`, `FooBar(anon)`, `FooPages_Total`), value by value: they go through
//! `MEM_OTHER_BYTES` / `MEM_OTHER` labelled as node_exporter spells the key.

mod sources_support;

use pimon_collector::source::{SourceKind, SourceStatus, Sources};
use pimon_protocol::catalog::id;
use sources_support::{Recorder, TreeCopy, fixture_config, one_cycle, u};

#[test]
fn keys_without_a_row_are_sent_labelled_with_node_exporters_spelling() {
    let (sources, r) = one_cycle("meminfo-other");
    assert_eq!(sources.status(SourceKind::Meminfo), &SourceStatus::Present);
    assert_eq!(sources.error_count(SourceKind::Meminfo), 0);
    assert_eq!(r.value(id::MEM_OTHER_BYTES, &["Balloon"]), u(524288));
    assert_eq!(r.value(id::MEM_OTHER_BYTES, &["FooBar_anon"]), u(4096));
    assert_eq!(r.value(id::MEM_OTHER, &["FooPages_Total"]), u(7));
    assert_eq!(r.count(id::MEM_OTHER_BYTES), 2);
    assert_eq!(r.count(id::MEM_OTHER), 1);
    // A key with a row is sent once, through its row.
    assert_eq!(r.value(id::MEM_UNACCEPTED, &[]), u(2048));
    assert_eq!(r.value(id::MEM_MEMTOTAL, &[]), u(32581772));
    let rows = r
        .samples
        .iter()
        .filter(|s| (id::MEM_MEMTOTAL..=id::MEM_DIRECTMAP1G).contains(&s.metric))
        .count();
    assert_eq!(rows, 55, "the x86 file's 55 keys with a row");
}

/// Opens `meminfo-other` with `content` as `/proc/meminfo` and runs one cycle.
fn cycle_with(test: &str, content: &str) -> Recorder {
    let tree = TreeCopy::new("meminfo-other", test);
    tree.replace("proc/meminfo", content);
    let mut config = fixture_config("meminfo-other");
    config.root = tree.root.clone();
    let mut sources = Sources::open(&config);
    let mut recorder = Recorder::default();
    sources.collect(&mut recorder);
    recorder.check_consistency();
    recorder
}

#[test]
fn invalid_keys_and_spellings_of_known_keys_are_not_sent() {
    let r = cycle_with(
        "meminfo-invalid",
        "MemTotal: 100 kB\n\
         Active(anon): 5 kB\n\
         Active_anon: 6 kB\n\
         Bad-Key: 1 kB\n\
         Nested(a(b)): 2 kB\n\
         Käse: 3 kB\n\
         Good(x): 4 kB\n",
    );
    assert_eq!(r.value(id::MEM_MEMTOTAL, &[]), u(100));
    assert_eq!(r.value(id::MEM_ACTIVE_ANON, &[]), u(5));
    assert_eq!(r.value(id::MEM_OTHER_BYTES, &["Good_x"]), u(4));
    assert_eq!(r.count(id::MEM_OTHER_BYTES), 1, "{:?}", r.samples);
    assert_eq!(r.count(id::MEM_OTHER), 0);
}

#[test]
fn at_most_32_keys_without_a_row_a_cycle() {
    let mut content = String::from("MemTotal: 100 kB\n");
    for i in 0..40 {
        content.push_str(&format!("Extra{i}: {i} kB\n"));
    }
    let r = cycle_with("meminfo-cap", &content);
    assert_eq!(r.count(id::MEM_OTHER_BYTES), 32);
    assert_eq!(r.value(id::MEM_OTHER_BYTES, &["Extra31"]), u(31));
    assert!(!r.has(id::MEM_OTHER_BYTES, &["Extra32"]));
    assert_eq!(r.value(id::MEM_MEMTOTAL, &[]), u(100));
}
