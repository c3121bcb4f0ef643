//! The system-information families against the real node_exporter (Debian's
//! `prometheus-node-exporter`, 1.5): on the same tree, `pimon-collector --root TREE
//! --print prom --once` and node_exporter (`--path.procfs/sysfs/rootfs TREE`, only the
//! `os` and `entropy` collectors) give the same families — name, type, label names
//! and values, value; the catalog's help, which the aggregator prints, is
//! node_exporter's — for `node_os_info`, `node_os_version`,
//! `node_entropy_available_bits` and `node_entropy_pool_size_bits`, on the `pi4`,
//! `pizero` (`usr/lib/os-release` only) and `x86` fixtures, and on os-release files
//! written to exercise go-envparse's quoting (escapes, single quotes, comments, the
//! `usr/lib` fallback; a broken file, for which the collector sends nothing as current
//! node_exporter does, where 1.5 sends empty labels from its second scrape on).
//!
//! node_exporter's `uname` and `time` collectors ignore the paths (they call
//! `uname(2)` and read the clock), so those are compared on this machine: the
//! collector on `--root /` and node_exporter give the same `node_uname_info` and
//! `node_time_zone_offset_seconds` (this machine's `/etc/localtime`), and
//! `node_time_seconds` within two seconds; the zone of each fixture tree's
//! `etc/localtime` equals node_exporter's with `TZ` naming that file. node_exporter's
//! `cpufreq` collector on the Pi trees gives the same `node_cpu_frequency_*` and
//! `node_cpu_scaling_frequency_*`.

use std::collections::BTreeMap;
use std::path::Path;

use pimon_e2e::exposition::parse_prometheus;
use pimon_e2e::pimon::print_prom;
use pimon_e2e::repo_root;
use pimon_e2e::support::peers::NodeExporter;

/// A family as both expose it: type, help, and each sample's labels (without
/// `instance`, which the collector adds) with its value.
#[derive(Debug, PartialEq)]
struct Family {
    kind: String,
    help: String,
    samples: BTreeMap<Vec<(String, String)>, f64>,
}

/// The families named `prefixes` of an exposition.
fn families(text: &str, prefixes: &[&str]) -> BTreeMap<String, Family> {
    let wanted = |name: &str| prefixes.iter().any(|p| name.starts_with(p));
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        let (field, rest) = match line.strip_prefix("# HELP ") {
            Some(rest) => ("help", rest),
            None => match line.strip_prefix("# TYPE ") {
                Some(rest) => ("type", rest),
                None => continue,
            },
        };
        let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
        if !wanted(name) {
            continue;
        }
        let family = out.entry(name.to_string()).or_insert_with(|| Family {
            kind: String::new(),
            help: String::new(),
            samples: BTreeMap::new(),
        });
        match field {
            "help" => family.help = value.to_string(),
            _ => family.kind = value.to_string(),
        }
    }
    let samples = parse_prometheus(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for s in samples.into_iter().filter(|s| wanted(&s.name)) {
        let mut labels: Vec<_> = s
            .labels
            .into_iter()
            .filter(|(k, _)| k != "instance")
            .collect();
        labels.sort();
        let family = out
            .get_mut(&s.name)
            .unwrap_or_else(|| panic!("{} without # TYPE", s.name));
        family.samples.insert(labels, s.value);
    }
    out
}

/// node_exporter's page for `root` with only `collectors` on.
fn node_exporter_page(root: &Path, collectors: &[&str]) -> String {
    let root = root.display().to_string();
    let (procfs, sysfs) = (format!("{root}/proc"), format!("{root}/sys"));
    let mut args = vec![
        "--path.procfs",
        &procfs,
        "--path.sysfs",
        &sysfs,
        "--path.rootfs",
        &root,
        "--collector.disable-defaults",
    ];
    let flags: Vec<String> = collectors
        .iter()
        .map(|c| format!("--collector.{c}"))
        .collect();
    args.extend(flags.iter().map(String::as_str));
    let node = NodeExporter::start_with(&args);
    String::from_utf8(node.page()).expect("UTF-8 exposition")
}

const TREE_FAMILIES: [&str; 2] = ["node_os_", "node_entropy_"];

/// `ours` (the collector's `--print prom`, which has no `# HELP` lines: the Pi build
/// leaves the catalog's help texts out) equals `theirs` in type, labels and values, and
/// the catalog's help (what the aggregator prints) is node_exporter's.
fn assert_same_families(ours: &BTreeMap<String, Family>, theirs: &BTreeMap<String, Family>) {
    let without_help = |m: &BTreeMap<String, Family>| -> Vec<(String, String, String)> {
        m.iter()
            .map(|(name, f)| (name.clone(), f.kind.clone(), format!("{:?}", f.samples)))
            .collect()
    };
    assert_eq!(without_help(ours), without_help(theirs));
    for (name, family) in theirs {
        let row = pimon_protocol::catalog::find(name, &[])
            .unwrap_or_else(|| panic!("{name} not in the catalog"));
        assert_eq!(row.help, family.help, "{name}");
    }
}

fn assert_same_on(root: &Path, expect_families: &[&str]) {
    let ours = families(&print_prom(root, "e2e"), &TREE_FAMILIES);
    let theirs = families(
        &node_exporter_page(root, &["os", "entropy"]),
        &TREE_FAMILIES,
    );
    assert_same_families(&ours, &theirs);
    let names: Vec<&str> = ours.keys().map(String::as_str).collect();
    assert_eq!(names, expect_families, "{}", root.display());
}

#[test]
fn os_release_and_entropy_equal_node_exporters_on_the_fixture_trees() {
    let all = [
        "node_entropy_available_bits",
        "node_entropy_pool_size_bits",
        "node_os_info",
        "node_os_version",
    ];
    for tree in ["pi4", "pizero", "x86"] {
        assert_same_on(
            &repo_root().join("collector/tests/fixtures").join(tree),
            &all,
        );
    }
}

#[test]
fn os_release_quoting_equals_node_exporters() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // node_exporter needs a proc/ (empty: no entropy files, so no entropy families).
    for dir in ["etc", "proc", "sys"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let write = |text: &str| std::fs::write(root.join("etc/os-release"), text).unwrap();
    write(concat!(
        "# a comment\n",
        "  export NAME = \"Pi \\\"OS\\\" \\\\ \\/ \\u00e9\\ud83d\\ude00\" # trailing\n",
        "ID='ra''spi # an'\n",
        "ID_LIKE=debian   # comment after blanks\n",
        "PRETTY_NAME=pre\"quo ted\"post\n",
        "VARIANT=\"tab\\there\"\n",
        "VARIANT_ID=\n",
        "BUILD_ID=2024-07-04\n",
        "IMAGE_ID=rpi\n",
        "IMAGE_VERSION=1.2\n",
        "VERSION=\"12 (bookworm)\"\n",
        "VERSION_CODENAME=bookworm\n",
        "VERSION_ID=2024.07.4\n",
        "ID=raspbian\n",
        "Some.Key/x=ignored\n",
    ));
    assert_same_on(root, &["node_os_info", "node_os_version"]);
    // No leading number in VERSION_ID: neither sends node_os_version.
    write("NAME=Arch\nID=arch\nVERSION_ID=rolling\n");
    assert_same_on(root, &["node_os_info"]);
    // One broken line: the file fails, and the collector sends nothing, as current
    // node_exporter does. 1.5 does so only on its first scrape: it then caches the
    // file's mtime with the failed parse's empty values and sends those (all 12 labels
    // empty) from the second on — the page read here, after the readiness scrape.
    write("NAME=Debian\nID=\"debian\nVERSION_ID=12\n");
    assert_eq!(
        families(&print_prom(root, "e2e"), &TREE_FAMILIES),
        BTreeMap::new()
    );
    let theirs = families(&node_exporter_page(root, &["os"]), &TREE_FAMILIES);
    let labels: Vec<_> = theirs["node_os_info"].samples.keys().cloned().collect();
    assert!(
        labels.len() == 1 && labels[0].iter().all(|(_, v)| v.is_empty()),
        "{theirs:?}"
    );
    // etc/os-release gone: usr/lib/os-release is read.
    std::fs::remove_file(root.join("etc/os-release")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib")).unwrap();
    std::fs::write(
        root.join("usr/lib/os-release"),
        "NAME=\"Fallback\"\nVERSION_ID=1\n",
    )
    .unwrap();
    assert_same_on(root, &["node_os_info", "node_os_version"]);
}

#[test]
fn uname_and_time_equal_node_exporters_on_this_machine() {
    let root = Path::new("/");
    let theirs_page = node_exporter_page(root, &["uname", "time"]);
    let ours_page = print_prom(root, "e2e");
    assert_same_families(
        &families(&ours_page, &["node_uname_"]),
        &families(&theirs_page, &["node_uname_"]),
    );
    // This machine's /etc/localtime, read by both.
    assert_same_families(
        &families(&ours_page, &["node_time_zone_"]),
        &families(&theirs_page, &["node_time_zone_"]),
    );
    let ours = families(&ours_page, &["node_time_seconds"]);
    let theirs = families(&theirs_page, &["node_time_seconds"]);
    let (a, b) = (&ours["node_time_seconds"], &theirs["node_time_seconds"]);
    assert_eq!(a.kind, b.kind);
    let row = pimon_protocol::catalog::find("node_time_seconds", &[]).unwrap();
    assert_eq!(row.help, b.help);
    let (ta, tb) = (a.samples[&vec![]], b.samples[&vec![]]);
    assert!((ta - tb).abs() < 2.0, "ours {ta}, node_exporter's {tb}");
}

/// node_exporter 1.5's `cpufreq` collector on the Pi trees (the cpufreq-dt driver's
/// files): the hardware limits, the current frequency (`cpuinfo_cur_freq`, readable
/// here: the tests run as root, as the fixture's captures did) and the scaled ones. 1.5
/// has no `node_cpu_scaling_governor` (1.6 added it): the assertion on the names keeps
/// that visible if the peer changes.
#[test]
fn cpufreq_equals_node_exporters_on_the_pi_trees() {
    let prefixes = ["node_cpu_frequency_", "node_cpu_scaling_"];
    for tree in ["pi4", "pizero"] {
        let root = repo_root().join("collector/tests/fixtures").join(tree);
        let ours = families(&print_prom(&root, "e2e"), &prefixes);
        let theirs = families(&node_exporter_page(&root, &["cpufreq"]), &prefixes);
        assert_same_families(&ours, &theirs);
        let names: Vec<&str> = ours.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "node_cpu_frequency_hertz",
                "node_cpu_frequency_max_hertz",
                "node_cpu_frequency_min_hertz",
                "node_cpu_scaling_frequency_hertz",
                "node_cpu_scaling_frequency_max_hertz",
                "node_cpu_scaling_frequency_min_hertz",
            ],
            "{tree}"
        );
    }
}

/// The zone of a tree's `etc/localtime` (a link under the root on `pi4`: London; a copy
/// of Sydney on `x86`; none on `pizero`: UTC) is the zone node_exporter's `time`
/// collector gives, now, with `TZ` naming the same file (Go's `time.Local` reads `TZ`
/// first, an absolute path as a TZif file; `--path.rootfs` does not move it). Zones
/// with DST, links and the POSIX TZ footer past 2037 are checked against `zdump` in
/// `collector/src/parse/time.rs`.
#[test]
fn time_zone_equals_node_exporters_for_the_same_zone_file() {
    let fixtures = repo_root().join("collector/tests/fixtures");
    let prefixes = ["node_time_zone_"];
    for (tree, file) in [
        ("pi4", "pi4/usr/share/zoneinfo/Europe/London"),
        ("x86", "x86/etc/localtime"),
        ("pizero", "pizero/no-such-zone-file"),
    ] {
        let ours = families(&print_prom(&fixtures.join(tree), "e2e"), &prefixes);
        let tz = fixtures.join(file).display().to_string();
        let node = NodeExporter::start_with_env(
            &[("TZ", &tz)],
            &["--collector.disable-defaults", "--collector.time"],
        );
        let page = String::from_utf8(node.page()).expect("UTF-8 exposition");
        let theirs = families(&page, &prefixes);
        assert_same_families(&ours, &theirs);
        assert_eq!(ours.len(), 1, "{tree}: {ours:?}");
    }
}
