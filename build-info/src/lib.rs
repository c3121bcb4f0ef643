//! What `--version` reports, stamped into a binary by its build script.
//!
//! Both binaries' `build.rs` call [`emit`], which sets two compile-time environment
//! variables for `env!`:
//! - `PIMON_TARGET`: the target triple being built for (cargo's `TARGET`).
//! - `PIMON_GIT_COMMIT`: the source commit, 12 hex digits, with `-dirty` when tracked
//!   files had uncommitted changes; `unknown` when there is no way to tell.
//!
//! The commit comes from the first of these that answers:
//! 1. the `PIMON_GIT_COMMIT` environment variable (distribution builds, containers);
//! 2. `.cargo_vcs_info.json`, which `cargo package` writes into a crate tarball;
//! 3. `git` run in the crate's directory (adds `-dirty`);
//! 4. reading `.git/HEAD` and the ref it names directly, for build containers without a
//!    `git` binary (no dirty check possible).
//!
//! It never fails the build. It reruns only when HEAD or the current branch moves, or the
//! calling crate's own `src/` changes, so a normal edit-build cycle stays incremental; the
//! `-dirty` flag therefore reflects edits in that crate, not in other workspace crates.
//!
//! It is a build-dependency only: compiled for the host, it adds nothing to either binary.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Number of hex digits of the commit hash that `--version` shows.
const SHORT_HASH_LEN: usize = 12;

/// Prints the `cargo::` lines that set `PIMON_TARGET` and `PIMON_GIT_COMMIT` for the
/// crate whose build script calls it (found through `CARGO_MANIFEST_DIR`).
pub fn emit() {
    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo::rustc-env=PIMON_TARGET={}", sanitize(&target));

    println!("cargo::rerun-if-env-changed=PIMON_GIT_COMMIT");
    println!("cargo::rerun-if-changed=src");
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = commit_from_env()
        .or_else(|| commit_from_cargo_vcs_info(&manifest_dir))
        .or_else(|| commit_from_git_dir(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo::rustc-env=PIMON_GIT_COMMIT={commit}");
}

/// Keeps only characters that are safe in a version string (and in a `cargo::` line).
fn sanitize(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        .take(64)
        .collect()
}

/// Shortens a full hex object id; `None` unless it looks like one.
fn short_hash(hex: &str) -> Option<String> {
    let hex = hex.trim();
    let valid = hex.len() >= SHORT_HASH_LEN && hex.chars().all(|c| c.is_ascii_hexdigit());
    valid.then(|| hex[..SHORT_HASH_LEN].to_ascii_lowercase())
}

fn commit_from_env() -> Option<String> {
    let value = sanitize(&env::var("PIMON_GIT_COMMIT").ok()?);
    (!value.is_empty()).then_some(value)
}

/// `cargo package` records `{"git": {"sha1": "…", "dirty": true}, …}`.
fn commit_from_cargo_vcs_info(manifest_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(manifest_dir.join(".cargo_vcs_info.json")).ok()?;
    let after_key = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let value_start = after_key.find('"')? + 1;
    let value_len = after_key[value_start..].find('"')?;
    let hash = short_hash(&after_key[value_start..value_start + value_len])?;
    let dirty = text.contains("\"dirty\": true") || text.contains("\"dirty\":true");
    Some(if dirty { hash + "-dirty" } else { hash })
}

/// Finds the repository around the crate, registers its HEAD and current ref for
/// rerun, and asks `git` (or, without `git`, the files) for the commit.
fn commit_from_git_dir(manifest_dir: &Path) -> Option<String> {
    let git_dir = find_git_dir(manifest_dir)?;
    // Linked worktrees keep branch refs in the main repository ("commondir").
    let common_dir = fs::read_to_string(git_dir.join("commondir"))
        .map(|rel| git_dir.join(rel.trim()))
        .unwrap_or_else(|_| git_dir.clone());

    let head_path = git_dir.join("HEAD");
    rerun_if_exists(&head_path);
    let head = fs::read_to_string(&head_path).ok()?;
    let head = head.trim();
    let from_files = match head.strip_prefix("ref:") {
        Some(reference) => {
            let reference = reference.trim();
            let loose = common_dir.join(reference);
            if loose.is_file() {
                rerun_if_exists(&loose);
                fs::read_to_string(&loose).ok().and_then(|h| short_hash(&h))
            } else {
                let packed = common_dir.join("packed-refs");
                rerun_if_exists(&packed);
                // The loose ref file appears when the branch next moves.
                rerun_if_exists(&common_dir.join("refs/heads"));
                packed_ref(&packed, reference)
            }
        }
        None => short_hash(head), // detached HEAD holds the hash itself
    };

    commit_from_git_command(manifest_dir).or(from_files)
}

/// Walks up from `start` to the first `.git` directory, or follows a `.git` file's
/// `gitdir:` line (worktrees, submodules).
fn find_git_dir(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        if dot_git.is_file() {
            let text = fs::read_to_string(&dot_git).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            return Some(dir.join(target));
        }
    }
    None
}

fn packed_ref(packed_refs: &Path, reference: &str) -> Option<String> {
    let text = fs::read_to_string(packed_refs).ok()?;
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with('^'))
        .find_map(|line| {
            let (hash, name) = line.split_once(' ')?;
            (name.trim() == reference)
                .then(|| short_hash(hash))
                .flatten()
        })
}

/// `git rev-parse` plus a dirty check; `None` if git is missing or refuses.
fn commit_from_git_command(dir: &Path) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let hash = short_hash(&String::from_utf8_lossy(&output.stdout))?;
    // --no-optional-locks: never take index.lock from inside a build.
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .output()
        .ok()?;
    let dirty = status.status.success() && !status.stdout.is_empty();
    Some(if dirty { hash + "-dirty" } else { hash })
}

/// A `rerun-if-changed` on a missing path makes cargo rerun on every build; skip those.
fn rerun_if_exists(path: &Path) {
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed by the caller.
    fn scratch(name: &str) -> PathBuf {
        let dir = env::temp_dir().join(format!("pimon-build-info-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn short_hash_keeps_twelve_lowercase_hex_digits_and_refuses_the_rest() {
        assert_eq!(
            short_hash("3AB8D6BE61E0F00D\n").as_deref(),
            Some("3ab8d6be61e0")
        );
        assert_eq!(short_hash("3ab8d6be61e"), None, "too short");
        assert_eq!(short_hash("3ab8d6be61eg"), None, "not hex");
    }

    #[test]
    fn sanitize_drops_what_a_version_string_cannot_hold() {
        assert_eq!(sanitize("abc 1.2+x\n;rm"), "abc1.2+xrm");
        assert_eq!(sanitize(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn cargo_vcs_info_gives_the_packaged_commit_and_its_dirty_flag() {
        let dir = scratch("vcs");
        let info = dir.join(".cargo_vcs_info.json");
        fs::write(
            &info,
            r#"{"git": {"sha1": "0123456789abcdef0123"}, "path_in_vcs": "x"}"#,
        )
        .unwrap();
        assert_eq!(
            commit_from_cargo_vcs_info(&dir).as_deref(),
            Some("0123456789ab")
        );
        fs::write(
            &info,
            r#"{"git":{"sha1":"0123456789abcdef0123","dirty":true}}"#,
        )
        .unwrap();
        assert_eq!(
            commit_from_cargo_vcs_info(&dir).as_deref(),
            Some("0123456789ab-dirty")
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn packed_refs_name_the_branch_commit() {
        let dir = scratch("packed");
        let packed = dir.join("packed-refs");
        fs::write(
            &packed,
            "# pack-refs with: peeled fully-peeled sorted\n\
             1111111111111111111111111111111111111111 refs/heads/other\n\
             2222222222222222222222222222222222222222 refs/heads/main\n\
             ^3333333333333333333333333333333333333333\n",
        )
        .unwrap();
        assert_eq!(
            packed_ref(&packed, "refs/heads/main").as_deref(),
            Some("222222222222")
        );
        assert_eq!(packed_ref(&packed, "refs/heads/gone"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
