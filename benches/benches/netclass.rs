//! The `netclass` source (`/sys/class/net`) alone: one cycle on the Raspberry Pi 4
//! fixture (3 devices, regular files) and on this machine's live `/sys` (sysfs: each
//! attribute's `show` runs in the kernel, some under the RTNL lock).
//!
//! `cargo bench -p pimon-benches --bench netclass`
//!
//! Prints the devices and samples of a cycle, its wall time (median of 15 batches) and
//! its CPU time (user + system from `/proc/self/stat` over 2,000 cycles).

use pimon_benches::pi4;
use pimon_benches::procstat;
use pimon_benches::timing::bench;
use pimon_collector::sink::SampleSink;
use pimon_collector::source::{SourceKind, SourceSet, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::id;

/// Counts the devices (`node_network_up`) and the samples.
#[derive(Default)]
struct Count {
    devices: usize,
    samples: usize,
}

impl SampleSink for Count {
    fn labels(&mut self, _: &[&str]) {}
    fn push(&mut self, metric: u16, _: Value) {
        self.samples += 1;
        self.devices += usize::from(metric == id::NETCLASS_UP);
    }
}

fn run(what: &str, root: std::path::PathBuf) {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Netclass);
    let mut sources = Sources::open(&SourcesConfig {
        root,
        sources,
        ..SourcesConfig::default()
    });
    let mut count = Count::default();
    sources.collect(&mut count);
    println!(
        "-- {what}: {} devices, {} samples per cycle",
        count.devices, count.samples
    );
    let wall = bench(&format!("netclass source, {what}: one cycle"), || {
        sources.collect(&mut Count::default());
    });
    const CYCLES: u32 = 2_000;
    let me = std::process::id();
    let start = procstat::cpu_seconds(me).expect("/proc/self/stat");
    for _ in 0..CYCLES {
        sources.collect(&mut Count::default());
    }
    let cpu = (procstat::cpu_seconds(me).expect("/proc/self/stat") - start) / f64::from(CYCLES);
    println!(
        "netclass source, {what}: CPU {:.1} µs per cycle (wall {:.1} µs)",
        cpu * 1e6,
        wall / 1e3
    );
}

fn main() {
    run("Pi 4 fixture", pi4::fixture_root());
    run("live /sys", "/".into());
}
