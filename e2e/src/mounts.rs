//! Small filesystems for disk-full and read-only faults: a `tmpfs` of a given size
//! mounted on a temp dir (`mount -t tmpfs -o size=…`), remountable read-only and back,
//! and fillable to the last byte. Unmounted (lazily, so an open file cannot block it)
//! when the handle drops.
//!
//! Mounting needs root (CAP_SYS_ADMIN): the tests run as root in CI. If the mount
//! fails, the test fails and says why; it is never skipped.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A mounted tmpfs.
pub struct Tmpfs {
    dir: TempDir,
    mounted: bool,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel) on a new temp dir.
    /// Panics with the reason if it cannot (not root, no CAP_SYS_ADMIN, no `mount`).
    pub fn mount(bytes: u64) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("pimon-e2e-tmpfs-")
            .tempdir()
            .expect("temp dir");
        let target = dir.path().display().to_string();
        if let Err(e) = run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={bytes},mode=0755"),
            "pimon-e2e",
            &target,
        ]) {
            panic!(
                "cannot mount a {bytes}-byte tmpfs on {target} for a disk-full test: {e}. \
                 These tests need root (CAP_SYS_ADMIN) to mount; CI runs them as root."
            );
        }
        Tmpfs { dir, mounted: true }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Remounts it read-only (`mount -o remount,ro`): writes fail with EROFS even as
    /// root. Panics if that fails.
    pub fn read_only(&self) {
        let target = self.dir.path().display().to_string();
        run(&["mount", "-o", "remount,ro", &target]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Remounts it writable.
    pub fn writable(&self) {
        let target = self.dir.path().display().to_string();
        run(&["mount", "-o", "remount,rw", &target]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Fills the free space with the file `name` (until ENOSPC); returns the bytes
    /// written.
    pub fn fill(&self, name: &str) -> u64 {
        let mut f = File::create(self.join(name)).expect("create the filler file");
        let block = vec![0x55u8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // Sub-block remainders.
        while let Ok(n) = f.write(&block[..1]) {
            if n == 0 {
                break;
            }
            written += 1;
        }
        written
    }

    /// Removes a file (the filler), giving its space back.
    pub fn remove(&self, name: &str) {
        fs::remove_file(self.join(name)).expect("remove the filler file");
    }

    /// Bytes free now (statvfs via `df`-free arithmetic of `stat -f`).
    pub fn free_bytes(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.dir.path())
            .output()
            .expect("run stat -f");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .map(|n| n.parse::<u64>().unwrap_or(0));
        it.next().unwrap_or(0) * it.next().unwrap_or(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.mounted {
            let target = self.dir.path().display().to_string();
            let _ = run(&["umount", "-l", &target]);
            self.mounted = false;
        }
    }
}
