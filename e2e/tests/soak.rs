//! The soak, short version (3 minutes, 1,000 collectors by default): see
//! `e2e/src/soak.rs` for what it runs and checks, and `scripts/soak` for the hour-long
//! run with the same code. Stored = sent in InfluxDB, nothing counted lost, the
//! aggregator's memory, open files and spool flat.

use pimon_e2e::soak::{self, SoakConfig};

#[test]
fn a_fleet_through_a_lossy_path_stores_everything_and_nothing_grows() {
    let config = SoakConfig::from_env();
    eprintln!("soak: {config:?}");
    let report = soak::run(&config);
    eprintln!(
        "soak: {}\nsoak: samples in {}",
        report.summary,
        report.report.display()
    );
    assert!(
        report.problems.is_empty(),
        "soak of {} nodes for {:?}: {} problem(s):\n{}\n{}\nsamples: {}",
        config.nodes,
        config.duration,
        report.problems.len(),
        report.problems.join("\n"),
        report.summary,
        report.report.display()
    );
}
