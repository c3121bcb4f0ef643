//! `scripts/bench-regress`: the records file is well-formed, and a comparison of RESULT
//! lines against it says ok, REGRESSION and MISSING where it should (exit status 1 for
//! the last two). The benchmarks themselves are not run in CI. Here rather than in
//! `benches/` because the script is Python: a bare `cargo test` needs only Rust.

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    pimon_e2e::repo_root()
}

fn bench_regress(args: &[&str]) -> Output {
    Command::new(repo().join("scripts/bench-regress"))
        .args(args)
        .output()
        .expect("scripts/bench-regress runs (python3)")
}

/// The first aggregator record: (figure, recorded value, better).
fn an_aggregator_record() -> (String, f64, String) {
    let records = std::fs::read_to_string(repo().join("benches/records.tsv")).unwrap();
    records
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.len() == 7 && f[5].starts_with("aggregator:") && f[4] == "lower")
        .map(|f| (f[0].to_string(), f[1].parse().unwrap(), f[4].to_string()))
        .expect("an aggregator record where lower is better")
}

#[test]
fn records_are_well_formed_and_compared_with_their_tolerance() {
    let check = bench_regress(&["--check"]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let (figure, recorded, _) = an_aggregator_record();
    let dir = tempfile::tempdir().unwrap();
    let run = |value: Option<f64>| {
        let file = dir.path().join("run.txt");
        let line = value.map_or(String::new(), |v| format!("RESULT {figure} {v} x\n"));
        std::fs::write(&file, line).unwrap();
        let out = bench_regress(&["--from", file.to_str().unwrap(), "--only", &figure]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = run(Some(recorded));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(" ok"), "{text}");
    let (code, text) = run(Some(recorded * 2.0));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("REGRESSION") && text.contains("+100.0 %"),
        "{text}"
    );
    let (code, text) = run(None);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("MISSING"), "{text}");
}
