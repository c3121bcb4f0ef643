//! pimon's generator: the files that are written from tables in the code, so they
//! cannot drift from it.
//!
//! ```text
//! cargo xtask codegen           # rewrites every generated file
//! cargo xtask codegen --check   # fails naming each file that differs (CI)
//! ```
//!
//! What it writes:
//! - `docs/METRICS.md`'s tables ([`metrics_doc`]): from the catalog, the collector's
//!   source table and the aggregator's own metric tables;
//! - the Grafana dashboards, `deploy/grafana/dashboards/*.json` ([`dashboards`]): from
//!   their panel list, every metric name checked against the catalog and the
//!   aggregator's tables.
//!
//! It reads and writes files only: no network, no server, so CI runs `--check` before
//! the tests.

mod dashboards;
mod json;
mod metrics_doc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A file the generator writes, relative to the repository's root, and its text.
struct Generated {
    path: String,
    text: String,
}

/// How to regenerate, in every message that says a file is out of date.
const REGENERATE: &str = "cargo xtask codegen";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives in the repository")
        .to_path_buf()
}

fn read(root: &Path, path: &str) -> Result<String, String> {
    std::fs::read_to_string(root.join(path)).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Every generated file, as it should be now.
fn generate(root: &Path) -> Result<Vec<Generated>, String> {
    let mut files = vec![Generated {
        path: metrics_doc::PATH.to_string(),
        text: metrics_doc::generate(&read(root, metrics_doc::PATH)?)?,
    }];
    for (path, text) in dashboards::generate()? {
        files.push(Generated { path, text });
    }
    Ok(files)
}

/// Where `current` and `wanted` first differ: (line number, the two lines).
fn first_difference(current: &str, wanted: &str) -> (usize, String, String) {
    let mut a = current.lines();
    let mut b = wanted.lines();
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (x, y) => {
                return (
                    line,
                    x.unwrap_or("<end of file>").to_string(),
                    y.unwrap_or("<end of file>").to_string(),
                );
            }
        }
    }
}

/// Compares (`check`) or writes every generated file; the files out of date, each
/// with a message.
fn codegen(root: &Path, check: bool) -> Result<Vec<String>, String> {
    let mut stale = Vec::new();
    for file in generate(root)? {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == file.text {
            continue;
        }
        if check {
            let (line, was, wanted) = first_difference(&current, &file.text);
            stale.push(format!(
                "{} is out of date (edited by hand, or its table changed): first difference at line {line}\n  in the file: {was}\n  generated:   {wanted}",
                file.path
            ));
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            std::fs::write(&path, &file.text)
                .map_err(|e| format!("cannot write {}: {e}", file.path))?;
            println!("wrote {}", file.path);
        }
    }
    Ok(stale)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["codegen"] => false,
        ["codegen", "--check"] => true,
        _ => {
            eprintln!("usage: cargo xtask codegen [--check]");
            return ExitCode::from(2);
        }
    };
    match codegen(&root(), check) {
        Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
        Ok(stale) => {
            for message in stale {
                eprintln!("{message}");
            }
            eprintln!("Regenerate with `{REGENERATE}` and review the diff.");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the generated files under a temporary root.
    fn generated_tree(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pimon-xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for file in generate(&root()).unwrap() {
            let path = dir.join(&file.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file.text).unwrap();
        }
        dir
    }

    #[test]
    fn check_names_a_generated_file_edited_by_hand_and_codegen_repairs_it() {
        let dir = generated_tree("edited");
        assert_eq!(codegen(&dir, true).unwrap(), Vec::<String>::new());

        let doc = dir.join(metrics_doc::PATH);
        let text = std::fs::read_to_string(&doc).unwrap();
        let edited = text.replacen(
            "| `pimon_node_up` | gauge |",
            "| `pimon_node_up` | counter |",
            1,
        );
        assert_ne!(edited, text);
        std::fs::write(&doc, edited).unwrap();
        let board = dir.join("deploy/grafana/dashboards/pimon-fleet-prometheus.json");
        std::fs::write(&board, "{}\n").unwrap();

        let stale = codegen(&dir, true).unwrap();
        assert_eq!(stale.len(), 2, "{stale:?}");
        assert!(
            stale[0].starts_with("docs/METRICS.md is out of date"),
            "{}",
            stale[0]
        );
        assert!(
            stale[0].contains("| `pimon_node_up` | counter |"),
            "{}",
            stale[0]
        );
        assert!(
            stale[1].starts_with(
                "deploy/grafana/dashboards/pimon-fleet-prometheus.json is out of date"
            ),
            "{}",
            stale[1]
        );

        // Without --check the files are rewritten, and then agree.
        codegen(&dir, false).unwrap();
        assert_eq!(codegen(&dir, true).unwrap(), Vec::<String>::new());
        assert_eq!(std::fs::read_to_string(&doc).unwrap(), text);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_committed_generated_files_are_current() {
        let stale = codegen(&root(), true).unwrap();
        assert!(
            stale.is_empty(),
            "{}\nRegenerate with `{REGENERATE}`.",
            stale.join("\n")
        );
    }
}
