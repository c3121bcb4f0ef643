//! Source selection, filters, and roots where sources are missing or broken.

mod sources_support;

use std::path::{Path, PathBuf};

use pimon_collector::source::{
    NameLists, SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig, meminfo_id,
};
use pimon_protocol::catalog::{CATALOG, id};
use sources_support::{Recorder, fixture_config, u};

/// A fresh temporary root for one test.
fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pimon-h1-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy(from_fixture: &str, root: &Path, rel: &str) {
    let src = sources_support::fixture_root(from_fixture).join(rel);
    let dst = root.join(rel);
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(src, dst).unwrap();
}

#[test]
fn missing_sources_are_skipped_and_the_rest_collected() {
    let root = temp_root("missing");
    copy("pi4", &root, "proc/stat");
    copy("pi4", &root, "proc/loadavg");
    let mut sources = Sources::open(&SourcesConfig {
        root: root.clone(),
        sources: SourceSet::all(),
        ..SourcesConfig::default()
    });
    assert_eq!(sources.status(SourceKind::Stat), &SourceStatus::Present);
    assert_eq!(sources.status(SourceKind::Loadavg), &SourceStatus::Present);
    for kind in SourceKind::ALL {
        // The time and timex sources read the clock, no file: they are always there.
        if !matches!(
            kind,
            SourceKind::Stat | SourceKind::Loadavg | SourceKind::Time | SourceKind::Timex
        ) {
            assert!(
                matches!(sources.status(kind), SourceStatus::Absent(_)),
                "{kind}"
            );
        }
    }
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    assert_eq!(r.value(id::LOAD1, &[]), u(52));
    assert_eq!(r.value(id::STAT_FORKS, &[]), u(2046218));
    assert_eq!(
        sources.error_counts().count(),
        4,
        "stat, loadavg, time, timex"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_source_that_breaks_is_counted_and_the_cycle_completes() {
    let root = temp_root("broken");
    copy("pi4", &root, "proc/stat");
    copy("pi4", &root, "proc/meminfo");
    let mut sources = Sources::open(&SourcesConfig {
        root: root.clone(),
        ..SourcesConfig::default()
    });
    // The file is rewritten in place with garbage: the open descriptor sees it.
    std::fs::write(root.join("proc/stat"), b"garbage\n").unwrap();
    for _ in 0..3 {
        let mut r = Recorder::default();
        sources.collect(&mut r);
        assert!(r.has(id::MEM_MEMTOTAL, &[]), "meminfo still collected");
        assert!(!r.has(id::STAT_FORKS, &[]));
    }
    assert_eq!(sources.error_count(SourceKind::Stat), 3);
    assert_eq!(sources.error_count(SourceKind::Meminfo), 0);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_file_larger_than_the_buffer_is_a_counted_failure() {
    let mut config = fixture_config("pi4");
    config.read_buffer_bytes = 512; // /proc/stat of the Pi 4 fixture is larger
    let mut sources = Sources::open(&config);
    let mut r = Recorder::default();
    sources.collect(&mut r);
    assert!(!r.has(id::STAT_FORKS, &[]));
    assert!(sources.error_count(SourceKind::Stat) >= 1);
    assert_eq!(r.value(id::LOAD1, &[]), u(52));
}

#[test]
fn opt_in_sources_are_disabled_by_default() {
    let sources = Sources::open(&SourcesConfig {
        root: sources_support::fixture_root("pi4"),
        ..SourcesConfig::default()
    });
    for kind in SourceKind::OPT_IN {
        assert_eq!(sources.status(kind), &SourceStatus::Disabled, "{kind}");
    }
    assert_eq!(sources.status(SourceKind::Netstat), &SourceStatus::Present);
}

#[test]
fn disabled_sources_are_not_opened() {
    let mut config = fixture_config("pi4");
    config.sources = SourceSet::none();
    config.sources.insert(SourceKind::Netdev);
    let mut sources = Sources::open(&config);
    assert_eq!(sources.status(SourceKind::Stat), &SourceStatus::Disabled);
    let mut r = Recorder::default();
    sources.collect(&mut r);
    assert!(
        r.samples
            .iter()
            .all(|s| (id::NET_RECEIVE_BYTES..=id::NET_TRANSMIT_COMPRESSED).contains(&s.metric))
    );
    assert!(sources.report().to_string().contains("stat: disabled"));
    assert_eq!(SourceKind::from_name("w1"), Some(SourceKind::W1));
    assert_eq!(SourceKind::from_name("nope"), None);
}

#[test]
fn configurable_filters() {
    let mut config = fixture_config("pi4");
    config.net_devices = NameLists {
        defaults: false,
        include: vec!["eth*".into(), "wlan0".into()],
        exclude: vec!["wlan0".into()],
    };
    // An explicit include list replaces the default exclusion.
    config.disk_devices = NameLists {
        defaults: true,
        include: vec!["ram0".into(), "mmcblk0".into()],
        exclude: vec![],
    };
    config.fs_types = NameLists {
        defaults: true,
        include: vec![],
        exclude: vec!["tmpfs".into()],
    };
    let mut sources = Sources::open(&config);
    let mut r = Recorder::default();
    sources.collect(&mut r);
    assert_eq!(
        r.label_sets(id::NET_RECEIVE_BYTES),
        vec![vec!["eth0".to_string()]]
    );
    // One device filter for every node_network_* family: /sys/class/net too.
    assert_eq!(
        r.label_sets(id::NETCLASS_UP),
        vec![vec!["eth0".to_string()]]
    );
    assert_eq!(r.count(id::NETCLASS_INFO), 1);
    assert_eq!(
        r.label_sets(id::DISK_READS_COMPLETED),
        vec![vec!["ram0".to_string()], vec!["mmcblk0".to_string()]]
    );
    assert!(
        r.label_sets(id::FS_READONLY)
            .iter()
            .all(|l| l[1] != "tmpfs")
    );
    assert_eq!(r.count(id::FS_READONLY), 3);
}

/// Every `MEM_*` row of the catalog is reachable from its kernel field name, and the
/// mapping's ids are the rows named after those fields.
#[test]
fn meminfo_names_match_the_catalog() {
    let mut rows = 0;
    for row in CATALOG
        .iter()
        .filter(|m| m.prom_name.starts_with("node_memory_"))
        // The two rows of the keys without a row, named from their label.
        .filter(|m| !pimon_protocol::catalog::named_by_label(m))
    {
        let key = row.prom_name.trim_start_matches("node_memory_");
        let key = key.strip_suffix("_bytes").unwrap_or(key);
        let kernel = match key {
            "Active_anon" => "Active(anon)",
            "Inactive_anon" => "Inactive(anon)",
            "Active_file" => "Active(file)",
            "Inactive_file" => "Inactive(file)",
            other => other,
        };
        assert_eq!(meminfo_id(kernel), Some(row.id), "{kernel}");
        rows += 1;
    }
    assert_eq!(rows, 64);
    assert_eq!(meminfo_id("NoSuchField"), None);
}

/// The cycle may own `Sources` on any thread.
#[test]
fn sources_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Sources>();
}
