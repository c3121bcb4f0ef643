//! Directory entries as `getdents64(2)` writes them into a buffer:
//!
//! ```text
//! u64 d_ino, i64 d_off, u16 d_reclen, u8 d_type, d_name (NUL-terminated, padded)
//! ```
//!
//! in the machine's byte order, one record after another, each `d_reclen` bytes.
//! Reading directories this way (instead of `std::fs::read_dir`, which allocates a
//! name per entry) keeps cgroup discovery free of heap allocation.

/// `d_type` of a directory.
pub const DT_DIR: u8 = 4;
/// `d_type` when the filesystem does not say (the caller must `stat` to know).
pub const DT_UNKNOWN: u8 = 0;

/// Offset of `d_name` in a record.
const NAME_OFFSET: usize = 19;

/// One directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// `d_type` ([`DT_DIR`], [`DT_UNKNOWN`], …).
    pub kind: u8,
    /// The name, without its NUL.
    pub name: &'a [u8],
}

impl Dirent<'_> {
    /// `.` or `..`.
    pub fn is_dot(&self) -> bool {
        self.name == b"." || self.name == b".."
    }

    /// A directory, or possibly one (the filesystem did not say).
    pub fn may_be_dir(&self) -> bool {
        self.kind == DT_DIR || self.kind == DT_UNKNOWN
    }
}

/// Iterator over the records of a `getdents64` buffer; see [`dirents`].
#[derive(Debug, Clone)]
pub struct Dirents<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        let reclen_bytes = self.rest.get(16..18)?;
        let reclen = usize::from(u16::from_ne_bytes([reclen_bytes[0], reclen_bytes[1]]));
        // A record shorter than its header or past the buffer ends the walk (the
        // kernel never writes one; a damaged buffer must not loop or panic).
        let (record, rest) = match self.rest.split_at_checked(reclen) {
            Some(split) if reclen > NAME_OFFSET => split,
            _ => {
                self.rest = &[];
                return None;
            }
        };
        self.rest = rest;
        let kind = *record.get(18)?;
        let name = record.get(NAME_OFFSET..)?;
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(Dirent {
            kind,
            name: name.get(..len)?,
        })
    }
}

/// The entries in `buf`, the bytes one `getdents64` call wrote.
pub fn dirents(buf: &[u8]) -> Dirents<'_> {
    Dirents { rest: buf }
}

/// Runs the iterator over `input` to its end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    for e in dirents(input) {
        let _ = (e.is_dot(), e.may_be_dir());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the kernel writes it (8-byte aligned length).
    fn record(out: &mut [u8], at: usize, kind: u8, name: &[u8]) -> usize {
        let len = (NAME_OFFSET + name.len() + 1).div_ceil(8) * 8;
        out[at..at + 8].copy_from_slice(&7u64.to_ne_bytes());
        out[at + 8..at + 16].copy_from_slice(&1i64.to_ne_bytes());
        out[at + 16..at + 18].copy_from_slice(&(len as u16).to_ne_bytes());
        out[at + 18] = kind;
        out[at + 19..at + 19 + name.len()].copy_from_slice(name);
        at + len
    }

    #[test]
    fn records_in_order_and_damage_ends_the_walk() {
        let mut buf = [0u8; 256];
        let mut end = record(&mut buf, 0, DT_DIR, b".");
        end = record(&mut buf, end, DT_DIR, b"kubepods");
        end = record(&mut buf, end, 8, b"cgroup.procs");
        let all: heapless::Vec<Dirent<'_>, 4> = dirents(&buf[..end]).collect();
        assert_eq!(all.len(), 3);
        assert!(all[0].is_dot());
        assert_eq!((all[1].name, all[1].may_be_dir()), (&b"kubepods"[..], true));
        assert_eq!((all[2].name, all[2].may_be_dir()), (&b"cgroup.procs"[..], false));
        // Truncated, zero-length and oversized records end the walk.
        assert_eq!(dirents(&buf[..end - 3]).count(), 2);
        let mut bad = buf;
        bad[16..18].copy_from_slice(&0u16.to_ne_bytes());
        assert_eq!(dirents(&bad[..end]).count(), 0);
        bad[16..18].copy_from_slice(&u16::MAX.to_ne_bytes());
        assert_eq!(dirents(&bad[..end]).count(), 0);
    }
}
