//! Files opened once and re-read from offset 0 each cycle, into a caller's buffer; and
//! [`OneFile`], the reader of every [`FileFormat`] source, and [`Files`], of every
//! [`FileList`] source.

use std::fmt;
use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::{FileFormat, FileList, PushFn};
use crate::sink::SampleSink;

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
    /// Under `proc/sys/`: see [`SYSCTL_READ_BYTES`].
    sysctl: bool,
    /// A read shorter than asked, of at most this many bytes, is the end of the file
    /// (0: only a read of 0 bytes is): see [`SHORT_READ_ENDS`].
    short_read_ends: usize,
}

/// procfs files whose end a short read tells, sparing the `pread` that would return 0:
/// the path's last components, and the longest short read that is the end.
///
/// The kernel prints these through `seq_file`. One read returns what fits in the
/// seq_file's buffer (one page, at least 4096 bytes; larger only for a record that
/// does not fit in one): a file of a single record (`single_open`: `stat`, `meminfo`,
/// `net/netstat`…) is whole in it, so any read shorter than asked is the end; a file of
/// many records stops short of the end only when the next record did not fit, so a
/// read of at most 4096 − (longest record) bytes is the end — records of the files
/// listed are under 512 bytes (one socket, device or counter each; not `diskstats`,
/// whose record is a disk with all its partitions). The read that returns 0 is not free: for `net/udp` and
/// `net/udp6` it walks the whole socket hash table again (~65 µs each on a 24 GiB
/// machine, as much as the read itself: docs/BENCHMARKS.md §2.2). Only files on a
/// procfs get this (a fixture tree's regular files end at a short read anyway; a FUSE
/// stand-in such as lxcfs is left alone).
const SHORT_READ_ENDS: [(&str, usize); 15] = [
    ("proc/stat", usize::MAX),
    ("proc/meminfo", usize::MAX),
    ("proc/loadavg", usize::MAX),
    ("proc/pressure/cpu", usize::MAX),
    ("proc/pressure/memory", usize::MAX),
    ("proc/pressure/io", usize::MAX),
    ("net/netstat", usize::MAX),
    ("net/snmp", usize::MAX),
    ("net/snmp6", usize::MAX),
    ("net/sockstat", usize::MAX),
    ("net/sockstat6", usize::MAX),
    ("net/udp", MANY_RECORDS_END),
    ("net/udp6", MANY_RECORDS_END),
    ("net/dev", MANY_RECORDS_END),
    ("proc/vmstat", MANY_RECORDS_END),
];

/// See [`SHORT_READ_ENDS`]: one page less the longest record.
const MANY_RECORDS_END: usize = 4096 - 512;

/// The most a `/proc/sys` file is asked for per `pread`. The kernel allocates and zeroes
/// a buffer of the size asked for on every read of a sysctl (`proc_sys_call_handler`),
/// so a 64 KiB scratch buffer cost two 64 KiB clears per file and cycle; a sysctl
/// value is far shorter than this, and a read shorter than asked is all of it.
const SYSCTL_READ_BYTES: usize = 4096;

/// Whether `path` names a file under a `proc/sys/` directory.
fn is_sysctl(path: &Path) -> bool {
    path.as_os_str()
        .as_encoded_bytes()
        .windows(9)
        .any(|w| w == b"proc/sys/")
}

impl SysFile {
    /// Opens `path` read-only.
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let file = File::open(&path)?;
        let sysctl = is_sysctl(&path);
        let short_read_ends = if sysctl {
            // A sysctl answers whole: a short read is the end.
            usize::MAX
        } else {
            SHORT_READ_ENDS
                .iter()
                .find(|(name, _)| path.ends_with(name))
                .filter(|_| {
                    use std::os::fd::AsFd;
                    crate::sys::is_procfs(file.as_fd())
                })
                .map_or(0, |&(_, end)| end)
        };
        Ok(SysFile {
            file,
            path,
            sysctl,
            short_read_ends,
        })
    }

    /// Opens `root/rel`; the error names the path (the reason a source is absent).
    pub(crate) fn open_under(root: &Path, rel: &str) -> Result<Self, String> {
        let path = root.join(rel);
        SysFile::open(path.clone()).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Opens `path` if it exists and can be opened; `None` otherwise.
    pub(crate) fn open_optional(path: PathBuf) -> Option<Self> {
        SysFile::open(path).ok()
    }

    /// The path the file was opened from (for logs).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file's descriptor (for `poll`, `fstatfs`).
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.file.as_fd()
    }

    /// Reads the whole file from offset 0 into `buf` and returns the bytes read.
    /// No allocation. [`ReadError::TooBig`] if the file fills `buf` completely.
    pub(crate) fn read<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], ReadError> {
        let mut len = 0usize;
        while let Some(rest) = buf.get_mut(len..) {
            if rest.is_empty() {
                return Err(ReadError::TooBig(len));
            }
            let asked = if self.sysctl {
                rest.len().min(SYSCTL_READ_BYTES)
            } else {
                rest.len()
            };
            match self
                .file
                .read_at(rest.get_mut(..asked).unwrap_or_default(), len as u64)
            {
                Ok(0) => break,
                // A sysctl answers whole, and SHORT_READ_ENDS: a short read is the end
                // (one `pread`, not two).
                Ok(n) if n < asked && n <= self.short_read_ends => {
                    len += n;
                    break;
                }
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        Ok(buf.get(..len).unwrap_or_default())
    }

    /// Reads the whole file from offset 0 through `buf`, a buffer's worth at a time, and
    /// hands `line` each line (without its `\n`; a last line without one too): a file
    /// of any length in bounded memory (`/proc/net/udp` with thousands of sockets). The
    /// reads continue at the previous one's end, so a `seq_file` resumes where it
    /// stopped. [`ReadError::TooBig`] if one line does not fit in `buf`. No allocation.
    pub(crate) fn for_each_line(
        &self,
        buf: &mut [u8],
        mut line: impl FnMut(&[u8]),
    ) -> Result<(), ReadError> {
        let mut offset = 0u64;
        // `buf[..kept]` holds the start of a line the last read cut.
        let mut kept = 0usize;
        loop {
            let rest = match buf.get_mut(kept..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => return Err(ReadError::TooBig(buf.len())),
            };
            let asked = rest.len();
            let n = match self.file.read_at(rest, offset) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReadError::Io(e)),
            };
            let filled = kept + n;
            let data = buf.get(..filled).unwrap_or_default();
            if n == 0 || (n < asked && n <= self.short_read_ends) {
                // The end (SHORT_READ_ENDS: without the read that returns 0).
                let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if end > 0
                    && let Some(complete) = data.get(..end - 1)
                {
                    complete.split(|&b| b == b'\n').for_each(&mut line);
                }
                if let Some(last) = data.get(end..).filter(|l| !l.is_empty()) {
                    line(last);
                }
                return Ok(());
            }
            offset += n as u64;
            let end = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if end > 0
                && let Some(complete) = data.get(..end - 1)
            {
                complete.split(|&b| b == b'\n').for_each(&mut line);
            }
            buf.copy_within(end..filled, 0);
            kept = filled - end;
        }
    }

    /// One `pread` at offset 0 into `buf`: the bytes read. A sysfs attribute is all
    /// there after one read; a longer file is cut at `buf`'s length (procfs reads
    /// `/sys/class/net` attributes this way, 128 bytes). No allocation.
    pub(crate) fn read_once<'b>(&self, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        loop {
            match self.file.read_at(buf, 0) {
                Ok(n) => return Ok(buf.get(..n).unwrap_or_default()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
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

/// The reader of a [`FileFormat`] source: `F::PATH` under the root, opened once,
/// re-read and handed to `F::push_samples` every cycle.
pub(crate) struct OneFile<F> {
    file: SysFile,
    format: PhantomData<fn() -> F>,
}

impl<F> fmt::Debug for OneFile<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OneFile").field(&self.file.path()).finish()
    }
}

impl<F: FileFormat + 'static> Source for OneFile<F> {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(OneFile {
            file: SysFile::open_under(&config.root, F::PATH)?,
            format: PhantomData,
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        collect_one_file(&self.file, F::push_samples, scratch, sink, errors);
    }
}

/// [`FileFormat::push_samples`]'s signature.
type PushSamples = PushFn;

/// The reader of a [`FileList`] source: its files that exist, opened once, each re-read
/// and handed to its push function every cycle.
pub(crate) struct Files<L> {
    files: Vec<(SysFile, PushFn)>,
    list: PhantomData<fn() -> L>,
}

impl<L> fmt::Debug for Files<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.files.iter().map(|(file, _)| file.path()))
            .finish()
    }
}

/// Opens the files of a list that exist; `Err` names a required one that does not.
fn open_list(
    root: &Path,
    list: &[(&'static str, bool, PushFn)],
) -> Result<Vec<(SysFile, PushFn)>, String> {
    let mut files = Vec::with_capacity(list.len());
    for &(path, required, push) in list {
        match SysFile::open_under(root, path) {
            Ok(file) => files.push((file, push)),
            Err(e) if required => return Err(e),
            Err(_) => {}
        }
    }
    Ok(files)
}

impl<L: FileList + 'static> Source for Files<L> {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(Files {
            files: open_list(&config.root, L::FILES)?,
            list: PhantomData,
        })
    }

    /// The files read (an optional one may be missing: `snmp6` without IPv6).
    fn details(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        list_details(&self.files, f)
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        collect_list(&self.files, scratch, sink, errors);
    }
}

/// [`Files::details`], once in the binary rather than once per list.
fn list_details(files: &[(SysFile, PushFn)], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(":")?;
    files
        .iter()
        .filter_map(|(file, _)| file.path().file_name()?.to_str())
        .try_for_each(|name| write!(f, " {name}"))
}

/// [`Files::collect`], once in the binary rather than once per list.
fn collect_list(
    files: &[(SysFile, PushFn)],
    scratch: &mut [u8],
    sink: &mut dyn SampleSink,
    errors: &mut ErrorCounter,
) {
    for (file, push) in files {
        collect_one_file(file, *push, scratch, sink, errors);
    }
}

/// The body of every [`OneFile::collect`], once in the binary rather than once per
/// format.
#[inline(never)]
fn collect_one_file(
    file: &SysFile,
    push: PushSamples,
    scratch: &mut [u8],
    sink: &mut dyn SampleSink,
    errors: &mut ErrorCounter,
) {
    let path = file.path();
    let bytes = match file.read(scratch) {
        Ok(bytes) => bytes,
        Err(e) => return errors.fail(format_args!("{}: {e}", path.display())),
    };
    let mut bad_row = |e| errors.fail(format_args!("{}: {e}", path.display()));
    if let Err(e) = push(bytes, sink, &mut bad_row) {
        bad_row(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_file_longer_than_one_request_is_read_whole() {
        let dir = std::env::temp_dir()
            .join(format!("pimon-sysctl-{}", std::process::id()))
            .join("proc/sys/kernel");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long");
        let text: Vec<u8> = (0..SYSCTL_READ_BYTES + 904)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        std::fs::write(&path, &text).unwrap();
        let file = SysFile::open(path.clone()).unwrap();
        assert!(file.sysctl, "a path under proc/sys/ is a sysctl");
        let mut buf = vec![0u8; 65536];
        assert_eq!(file.read(&mut buf).unwrap(), &text[..]);
        // Exactly one request long: the next read (0 bytes) ends it.
        std::fs::write(&path, &text[..SYSCTL_READ_BYTES]).unwrap();
        assert_eq!(file.read(&mut buf).unwrap(), &text[..SYSCTL_READ_BYTES]);
        std::fs::write(&path, b"256\n").unwrap();
        assert_eq!(file.read(&mut buf).unwrap(), b"256\n");
        assert!(!SysFile::open(std::env::temp_dir()).unwrap().sysctl);
        std::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_short_read_ends_only_the_procfs_files_that_tell_their_end_by_it() {
        let udp = SysFile::open(PathBuf::from("/proc/net/udp")).unwrap();
        assert_eq!(udp.short_read_ends, MANY_RECORDS_END);
        let stat = SysFile::open(PathBuf::from("/proc/stat")).unwrap();
        assert_eq!(stat.short_read_ends, usize::MAX);
        let mounts = SysFile::open(PathBuf::from("/proc/self/mounts")).unwrap();
        assert_eq!(
            mounts.short_read_ends, 0,
            "mount lines have no length bound"
        );
        // The same name in a fixture tree: a regular file, read to its 0-byte end.
        let dir = std::env::temp_dir()
            .join(format!("pimon-short-read-{}", std::process::id()))
            .join("proc/net");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("udp"), b"header\n").unwrap();
        let fixture = SysFile::open(dir.join("udp")).unwrap();
        assert_eq!(fixture.short_read_ends, 0);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();

        // Read whole either way: the header, every socket line, the last newline.
        let mut buf = vec![0u8; 65536];
        let text = udp.read(&mut buf).unwrap().to_vec();
        assert!(
            text.trim_ascii_start().starts_with(b"sl  local_address"),
            "{text:?}"
        );
        assert!(text.ends_with(b"\n"));
        let mut lines = 0;
        udp.for_each_line(&mut buf, |l| {
            assert!(!l.is_empty());
            lines += 1;
        })
        .unwrap();
        assert!(lines >= 1);
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

    #[test]
    fn lines_stream_through_a_buffer_smaller_than_the_file() {
        let dir = std::env::temp_dir().join(format!("pimon-file-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, format!("{text}last")).unwrap();
        let file = SysFile::open(path.clone()).unwrap();
        let mut buf = [0u8; 64];
        let mut seen = Vec::new();
        file.for_each_line(&mut buf, |l| {
            seen.push(String::from_utf8(l.to_vec()).unwrap())
        })
        .unwrap();
        assert_eq!(seen.len(), 1001);
        assert_eq!(
            (seen[0].as_str(), seen[999].as_str()),
            ("line 0", "line 999")
        );
        assert_eq!(seen[1000], "last");
        let mut tiny = [0u8; 4];
        assert!(matches!(
            file.for_each_line(&mut tiny, |_| {}),
            Err(ReadError::TooBig(4))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
