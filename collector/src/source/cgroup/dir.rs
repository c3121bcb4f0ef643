//! Directories and files opened relative to an open directory, and directory listings
//! read into a caller's buffer: what cgroup discovery needs, without heap allocation
//! (paths are short byte strings made on the stack; `getdents64` fills a fixed
//! buffer).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use crate::parse::cgroup::dirent::{Dirent, dirents};

/// An open directory.
#[derive(Debug)]
pub(crate) struct Dir(OwnedFd);

fn flags_dir() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

impl Dir {
    /// Opens `path` (start-up only: the path may allocate).
    pub(crate) fn open(path: &Path) -> io::Result<Dir> {
        Ok(Dir(File::open(path)?.into()))
    }

    /// The directory's descriptor (for `*at` calls).
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Opens the directory `rel` below this one (`rel` relative, without a leading `/`;
    /// empty for this directory again).
    pub(crate) fn dir(&self, rel: &[u8]) -> io::Result<Dir> {
        let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
        openat(self.0.as_fd(), rel, flags_dir(), Mode::empty())
            .map(Dir)
            .map_err(io::Error::from)
    }

    /// Opens the file `rel` below this directory read-only.
    pub(crate) fn file(&self, rel: &[u8]) -> io::Result<File> {
        openat(
            self.0.as_fd(),
            rel,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(io::Error::from)
    }

    /// Calls `f` with every entry (`.` and `..` left out) until it returns `false`,
    /// reading the listing (from its start) into `buf` as often as needed.
    ///
    /// `f` is a trait object: one copy of the listing loop serves every walk (the
    /// collector's size budget).
    pub(crate) fn each(
        &self,
        buf: &mut [u8],
        f: &mut dyn FnMut(Dirent<'_>) -> bool,
    ) -> io::Result<()> {
        nix::unistd::lseek(self.0.as_fd(), 0, nix::unistd::Whence::SeekSet)?;
        loop {
            let n = crate::sys::getdents(self.0.as_fd(), buf)?;
            if n == 0 {
                return Ok(());
            }
            for entry in dirents(buf.get(..n).unwrap_or_default()) {
                if !entry.is_dot() && !f(entry) {
                    return Ok(());
                }
            }
        }
    }
}

/// A relative path built in a fixed buffer, one segment at a time.
#[derive(Debug)]
pub(crate) struct RelPath {
    buf: [u8; RelPath::CAPACITY],
    len: usize,
}

impl RelPath {
    /// Longest path; longer ones are not walked (cgroup paths are ~200 bytes at most).
    pub(crate) const CAPACITY: usize = 512;

    pub(crate) const fn new() -> RelPath {
        RelPath {
            buf: [0; RelPath::CAPACITY],
            len: 0,
        }
    }

    /// Appends `/segment` (just `segment` when empty); returns the length before, for
    /// [`RelPath::truncate`], or `None` (nothing appended) when it does not fit.
    pub(crate) fn push(&mut self, segment: &[u8]) -> Option<usize> {
        let before = self.len;
        let sep = usize::from(before > 0);
        let end = before + sep + segment.len();
        let dst = self.buf.get_mut(before..end)?;
        if sep == 1 {
            dst[0] = b'/';
        }
        dst[sep..].copy_from_slice(segment);
        self.len = end;
        Some(before)
    }

    /// Cuts back to `len` bytes.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The path with `/file` appended, in `out`; `None` when it does not fit.
    pub(crate) fn join<'o>(&self, file: &[u8], out: &'o mut [u8; RelPath::CAPACITY]) -> Option<&'o [u8]> {
        let path = self.as_bytes();
        let sep = usize::from(!path.is_empty());
        let end = path.len() + sep + file.len();
        let dst = out.get_mut(..end)?;
        dst[..path.len()].copy_from_slice(path);
        if sep == 1 {
            dst[path.len()] = b'/';
        }
        dst[path.len() + sep..].copy_from_slice(file);
        Some(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_path_push_truncate_join() {
        let mut p = RelPath::new();
        assert_eq!(p.push(b"kubepods"), Some(0));
        let at = p.push(b"burstable").unwrap();
        assert_eq!(p.as_bytes(), b"kubepods/burstable");
        let mut out = [0u8; RelPath::CAPACITY];
        assert_eq!(p.join(b"cpu.stat", &mut out).unwrap(), b"kubepods/burstable/cpu.stat");
        p.truncate(at);
        assert_eq!(p.as_bytes(), b"kubepods");
        assert_eq!(p.push(&[b'x'; RelPath::CAPACITY]), None);
        assert_eq!(p.as_bytes(), b"kubepods");
        assert_eq!(RelPath::new().join(b"f", &mut out).unwrap(), b"f");
    }

    #[test]
    fn listing_a_directory_without_read_dir() {
        let dir = std::env::temp_dir().join(format!("pimon-cgroup-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..200 {
            std::fs::write(dir.join(format!("file-with-a-longish-name-{i:03}")), b"x").unwrap();
        }
        let d = Dir::open(&dir).unwrap();
        // A small buffer: the listing takes many getdents calls.
        let mut buf = [0u8; 256];
        let mut names = Vec::new();
        d.each(&mut buf, &mut |e| {
            names.push(String::from_utf8(e.name.to_vec()).unwrap());
            true
        })
        .unwrap();
        assert_eq!(names.len(), 201);
        assert!(names.contains(&"sub".to_string()));
        let sub = d.dir(b"sub").unwrap();
        assert!(sub.file(b"nothing").is_err());
        assert!(d.file(b"file-with-a-longish-name-007").is_ok());
        let mut first = 0;
        d.each(&mut buf, &mut |_| {
            first += 1;
            false
        })
        .unwrap();
        assert_eq!(first, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
