//! docs/INSTALL.md works as written: every fenced block marked `<!-- runnable -->` on the
//! line before it runs, in order, with `bash -e -o pipefail` in one temp dir, the
//! built binaries first on `PATH`, against loopback servers this test starts (a real
//! `influxd`; `promtool` from the machine). A block marked `<!-- runnable: FILE -->` is
//! not run but written to FILE in that dir (a config file the next blocks check).
//!
//! The guide's commands name the places a user has (`http://127.0.0.1:8086`,
//! `/etc/prometheus/prometheus.yml`); the test replaces exactly those with its own
//! (the influxd it started, the file a block wrote) and nothing else. `pimon-collector`
//! on `PATH` is a wrapper adding `--aggregator` of an aggregator the test starts on
//! loopback: without it the collector would send to this machine's default gateway
//! (on a Pi, the router), and tests send nothing off loopback. Blocks that need
//! a Pi, ssh, sudo on a real system or a network stay unmarked; the test asserts a
//! minimum number of marked blocks so marking cannot silently vanish. A failure names
//! each failing block by its line and shows its output.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program, host_binary};
use pimon_e2e::pimon::Aggregator;
use pimon_e2e::process::Proc;
use pimon_e2e::repo_root;
use pimon_e2e::support::servers::Influxd;

/// Fewer marked blocks than this means markers were lost.
const MIN_RUNNABLE: usize = 6;
/// Longest a block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// A marked block: the line of its opening fence, its info string, the file it is
/// written to (`runnable: FILE`) or `None` (run it), and its text.
struct Block {
    line: usize,
    info: String,
    writes: Option<String>,
    text: String,
}

/// The marked blocks of `markdown`, in order.
fn marked_blocks(markdown: &str) -> Vec<Block> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let marker = lines[i].trim();
        let mark = marker
            .strip_prefix("<!-- runnable")
            .and_then(|m| m.strip_suffix("-->"));
        if let (Some(mark), Some(fence)) = (mark, lines.get(i + 1)) {
            let info = fence
                .strip_prefix("```")
                .unwrap_or_else(|| panic!("INSTALL.md:{}: a marker not before a fence", i + 1));
            let end = (i + 2..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .unwrap_or_else(|| panic!("INSTALL.md:{}: block not closed", i + 2));
            let writes = mark.trim().strip_prefix(':').map(|f| f.trim().to_string());
            blocks.push(Block {
                line: i + 2,
                info: info.trim().to_string(),
                writes,
                text: lines[i + 2..end].join("\n") + "\n",
            });
            i = end;
        }
        i += 1;
    }
    blocks
}

#[test]
fn the_runnable_blocks_of_install_md_run() {
    let guide = std::fs::read_to_string(repo_root().join("docs/INSTALL.md")).expect("INSTALL.md");
    let blocks = marked_blocks(&guide);
    assert!(
        blocks.len() >= MIN_RUNNABLE,
        "only {} blocks marked <!-- runnable --> in docs/INSTALL.md (at least {MIN_RUNNABLE})",
        blocks.len()
    );
    let influxd = Influxd::start();
    let aggregator = Aggregator::start(&Launcher::host(Program::Aggregator), &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    for link in ["deploy", "scripts"] {
        std::os::unix::fs::symlink(repo_root().join(link), dir.path().join(link))
            .expect("link the repository's files");
    }
    let bin_dir = host_binary(Program::Collector)
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let wrappers = dir.path().join(".bin");
    std::fs::create_dir(&wrappers).expect("wrapper dir");
    let wrapper = wrappers.join("pimon-collector");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --aggregator {} \"$@\"\n",
            host_binary(Program::Collector).display(),
            aggregator.udp
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod the wrapper");
    let path = format!(
        "{}:{}:{}",
        wrappers.display(),
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let stand_ins = [
        ("http://127.0.0.1:8086", influxd.url().to_string()),
        (
            "/etc/prometheus/prometheus.yml",
            dir.path().join("prometheus.yml").display().to_string(),
        ),
    ];
    let mut failures = Vec::new();
    let mut outputs = String::new();
    for block in &blocks {
        let mut text = block.text.clone();
        for (place, here) in &stand_ins {
            text = text.replace(place, here);
        }
        if let Some(file) = &block.writes {
            std::fs::write(dir.path().join(file), &text).expect("write the block's file");
            continue;
        }
        assert_eq!(
            block.info, "sh",
            "INSTALL.md:{}: a runnable block must be ```sh",
            block.line
        );
        match run_block(dir.path(), &path, &text) {
            Ok(stdout) => outputs.push_str(&stdout),
            Err(report) => failures.push(format!(
                "INSTALL.md:{}:\n{}\n{report}",
                block.line, block.text
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runnable blocks of docs/INSTALL.md failed:\n\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n\n")
    );
    // `--check` reached the aggregator.
    assert!(
        outputs.contains("round trip: acked in "),
        "--check's round trip:\n{outputs}"
    );
    // The CREATE DATABASE block did create it.
    let out = Command::new("curl")
        .args(["-fsS", "-G", &format!("{}/query", influxd.url())])
        .args(["--data-urlencode", "q=SHOW DATABASES"])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"pimon\""),
        "database pimon not created: {text}"
    );
}

/// Runs `text` with bash in `dir`: its stdout, or the report on failure.
fn run_block(dir: &Path, path: &str, text: &str) -> Result<String, String> {
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-c", text])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir);
    let mut proc = Proc::spawn("INSTALL.md block", cmd);
    match proc.wait_timeout(BLOCK_TIMEOUT) {
        Some(status) if status.success() => Ok(proc.stdout()),
        Some(status) => Err(format!("{status}\n{}", proc.output_report())),
        None => {
            proc.kill();
            Err(format!(
                "still running after {BLOCK_TIMEOUT:?}\n{}",
                proc.output_report()
            ))
        }
    }
}

#[test]
fn markers_are_found_with_their_files() {
    let blocks = marked_blocks(
        "text\n<!-- runnable -->\n```sh\necho a\n```\n```sh\nnot marked\n```\n<!-- runnable: x.yml -->\n```yaml\nk: v\n```\n",
    );
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].text.as_str()), (3, "echo a\n"));
    assert_eq!(blocks[1].writes.as_deref(), Some("x.yml"));
    assert_eq!(blocks[1].info, "yaml");
}
