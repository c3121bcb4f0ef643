//! Files opened once and re-read from offset 0 each cycle, into a caller's buffer.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Why a re-read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The read itself failed (ENODATA, EAGAIN, EIO, EISDIR…).
    Io(io::Error),
    /// The file filled the whole buffer: it may be truncated, so it is not parsed.
    TooBig(usize),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // `io::Error`'s own Display allocates (strerror); kind and code do not.
            ReadError::Io(e) => match e.raw_os_error() {
                Some(code) => write!(f, "{} (os error {code})", e.kind()),
                None => write!(f, "{}", e.kind()),
            },
            ReadError::TooBig(n) => write!(f, "file larger than the {n}-byte read buffer"),
        }
    }
}

/// Why a source's file gave no value: the read or the parse failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Reading failed.
    Read(ReadError),
    /// The bytes did not parse.
    Parse(crate::parse::ParseError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Read(e) => e.fmt(f),
            Failure::Parse(e) => e.fmt(f),
        }
    }
}

/// An open `/proc` or `/sys` file, re-read with `pread` at offset 0.
#[derive(Debug)]
pub(crate) struct SysFile {
    file: File,
    path: PathBuf,
}

impl SysFile {
    /// Opens `path` read-only.
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let file = File::open(&path)?;
        Ok(SysFile { file, path })
    }

    /// Opens `path` if it exists and can be opened; `None` otherwise.
    pub(crate) fn open_optional(path: PathBuf) -> Option<Self> {
        SysFile::open(path).ok()
    }

    /// The path the file was opened from (for logs).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole file from offset 0 into `buf` and returns the bytes read.
    /// No allocation. [`ReadError::TooBig`] if the file fills `buf` completely.
    pub(crate) fn read<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], ReadError> {
        let mut len = 0usize;
        while let Some(rest) = buf.get_mut(len..) {
            if rest.is_empty() {
                return Err(ReadError::TooBig(len));
            }
            match self.file.read_at(rest, len as u64) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        Ok(buf.get(..len).unwrap_or_default())
    }

    /// Reads the file into `buf` and parses it with `parse`.
    pub(crate) fn read_parse<'b, T>(
        &self,
        buf: &'b mut [u8],
        parse: impl FnOnce(&'b [u8]) -> Result<T, crate::parse::ParseError>,
    ) -> Result<T, Failure> {
        parse(self.read(buf).map_err(Failure::Read)?).map_err(Failure::Parse)
    }
}

/// Formats `n` in decimal into `buf` (label values such as `cpu="3"`), no allocation.
pub(crate) fn fmt_u32(n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut b = [0u8; 10];
        assert_eq!(fmt_u32(0, &mut b), "0");
        assert_eq!(fmt_u32(17, &mut b), "17");
        assert_eq!(fmt_u32(u32::MAX, &mut b), "4294967295");
    }

    #[test]
    fn reread_and_too_big() {
        let dir = std::env::temp_dir().join(format!("pimon-h1-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"12345\n").unwrap();
        let file = SysFile::open(path.clone()).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(file.read(&mut buf).unwrap(), b"12345\n");
        std::fs::write(&path, b"7\n").unwrap();
        assert_eq!(file.read(&mut buf).unwrap(), b"7\n");
        let mut small = [0u8; 2];
        assert!(matches!(file.read(&mut small), Err(ReadError::TooBig(2))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
