//! The timex families against the real node_exporter (Debian's
//! `prometheus-node-exporter`, 1.5, only `--collector.timex`) on this machine: both
//! call `adjtimex(2)` (the paths do not apply), so `pimon-collector --root / --print
//! prom --once` and node_exporter's page, read a moment apart, give the same 17
//! `node_timex_*` families with the same types and label sets, the catalog's help is
//! node_exporter's, and the values are equal: exactly for the ones that only change
//! when the NTP daemon reconfigures the clock (status, loop time constant, tick, PPS
//! shift, TAI offset, sync status), within a tolerance for the ones the kernel moves
//! every second (offsets and errors, frequencies, PPS counts).

use std::collections::BTreeMap;
use std::path::Path;

use pimon_e2e::exposition::parse_prometheus;
use pimon_e2e::pimon::print_prom;
use pimon_e2e::support::peers::NodeExporter;

/// Per family: `# TYPE`, `# HELP` (empty when absent) and each sample's sorted label
/// pairs (without `instance`, which the collector adds) with its value.
type Families = BTreeMap<String, (String, String, Vec<(Vec<(String, String)>, f64)>)>;

fn timex_families(text: &str) -> Families {
    let mut out = Families::new();
    for line in text.lines() {
        let (help, rest) = match (line.strip_prefix("# HELP "), line.strip_prefix("# TYPE ")) {
            (Some(rest), _) => (true, rest),
            (_, Some(rest)) => (false, rest),
            _ => continue,
        };
        let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
        if name.starts_with("node_timex_") {
            let family = out.entry(name.to_string()).or_default();
            *(if help { &mut family.1 } else { &mut family.0 }) = text.to_string();
        }
    }
    let samples = parse_prometheus(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for s in samples
        .into_iter()
        .filter(|s| s.name.starts_with("node_timex_"))
    {
        let mut labels: Vec<_> = s
            .labels
            .into_iter()
            .filter(|(k, _)| k != "instance")
            .collect();
        labels.sort();
        let family = out
            .get_mut(&s.name)
            .unwrap_or_else(|| panic!("{} untyped", s.name));
        family.2.push((labels, s.value));
    }
    out
}

/// How far apart the two reads may be: 0 for values that hold still.
fn tolerance(name: &str) -> f64 {
    match name {
        "node_timex_status"
        | "node_timex_loop_time_constant"
        | "node_timex_tick_seconds"
        | "node_timex_pps_shift_seconds"
        | "node_timex_tai_offset_seconds"
        | "node_timex_sync_status" => 0.0,
        // PPS events, at most one a second.
        n if n.ends_with("_total") => 5.0,
        // maxerror grows by 500 µs a second between NTP updates; offsets are slewed.
        n if n.ends_with("_seconds") => 0.01,
        // 1 ppm.
        _ => 1e-6,
    }
}

#[test]
fn timex_equals_node_exporters_on_this_machine() {
    let node = NodeExporter::start_with(&["--collector.disable-defaults", "--collector.timex"]);
    let theirs = timex_families(&String::from_utf8(node.page()).expect("UTF-8 exposition"));
    let ours = timex_families(&print_prom(Path::new("/"), "e2e"));

    assert_eq!(theirs.len(), 17, "{theirs:?}");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, (kind, help, samples)) in &theirs {
        let (our_kind, _, our_samples) = &ours[name];
        assert_eq!(our_kind, kind, "{name}");
        let row = pimon_protocol::catalog::find(name, &[])
            .unwrap_or_else(|| panic!("{name} not in the catalog"));
        assert_eq!(row.help, help, "{name}");
        let labels = |s: &[(Vec<(String, String)>, f64)]| -> Vec<_> {
            s.iter().map(|(l, _)| l.clone()).collect()
        };
        assert_eq!(labels(our_samples), labels(samples), "{name}");
        for ((_, ours), (_, theirs)) in our_samples.iter().zip(samples) {
            assert!(
                (ours - theirs).abs() <= tolerance(name),
                "{name}: ours {ours}, node_exporter's {theirs}"
            );
        }
    }
}
