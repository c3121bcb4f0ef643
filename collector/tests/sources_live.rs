//! The readers on this machine's live `/proc` and `/sys` (not fixtures): whatever the
//! machine has must parse, with consistent labels and ids, and no allocation per cycle.

mod sources_support;

use pimon_collector::source::{SourceKind, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::catalog::id;
use sources_support::Recorder;

#[test]
fn live_machine() {
    let mut sources = Sources::open(&SourcesConfig::default());
    for kind in [
        SourceKind::Stat,
        SourceKind::Meminfo,
        SourceKind::Loadavg,
        SourceKind::Netdev,
    ] {
        assert_eq!(sources.status(kind), &SourceStatus::Present, "{kind}");
    }
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    assert!(r.has(id::MEM_MEMTOTAL, &[]));
    assert!(r.count(id::CPU_SECONDS_USER) >= 1);
    assert!(r.has(id::NET_RECEIVE_BYTES, &["lo"]));
    for kind in [
        SourceKind::Stat,
        SourceKind::Meminfo,
        SourceKind::Loadavg,
        SourceKind::Uptime,
        SourceKind::Netdev,
    ] {
        assert_eq!(sources.error_count(kind), 0, "{kind}");
    }
    // Every device of /sys/class/net, whatever answers EINVAL or EOPNOTSUPP (a device
    // that is down, lo's speed) is left out without a failure, as node_exporter does.
    assert_eq!(sources.status(SourceKind::Netclass), &SourceStatus::Present);
    assert!(r.has(id::NETCLASS_UP, &["lo"]));
    let devices = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .filter(|e| !e.file_type().unwrap().is_file())
        .count();
    assert_eq!(r.count(id::NETCLASS_UP), devices);
    assert_eq!(r.count(id::NETCLASS_INFO), devices);
    assert_eq!(sources.error_count(SourceKind::Netclass), 0);
    // A live procfs: one uname(2) call gives the strings of the six sysctl files.
    let report = sources.report().to_string();
    assert!(report.contains("uname: ok: uname(2)"), "{report}");
    let file = |name: &str| {
        let text = std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).unwrap();
        text.strip_suffix('\n').unwrap().to_owned()
    };
    let uname = r.label_sets(id::UNAME_INFO);
    assert_eq!(uname.len(), 1);
    assert_eq!(uname[0][0], file("ostype"));
    assert_eq!(uname[0][1], file("osrelease"));
    assert_eq!(uname[0][4], file("hostname"));
    assert_eq!(sources.error_count(SourceKind::Uname), 0);
    println!("{report}");
}
