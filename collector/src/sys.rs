//! The few OS calls std does not offer, through `libc`. The only module of the crate
//! allowed `unsafe`; every block says why it is sound.
//!
//! - Signals: SIGTERM/SIGINT set a stop flag, SIGHUP a reload flag. Handlers store to
//!   atomics and write one byte to a self-pipe (both async-signal-safe). They are
//!   installed without `SA_RESTART`, so a blocking `recv` in the main loop returns
//!   `EINTR`; and [`wait_readable`] polls the pipe too, so a signal that lands between
//!   the loop's look at the flags and its `poll` (the loop may wait a whole interval
//!   when every frame is acked) still ends the wait at once.
//! - `sysconf(_SC_CLK_TCK)`: the node's USER_HZ.
//! - `getrandom(2)`: the random boot id.
//! - `gethostname(2)`: the default node name.
//! - `uname(2)`: the machine, where `/proc/sys/kernel/arch` is missing (`node_uname_info`).
//! - `poll(2)`: waiting for an ack with millisecond precision (a socket read timeout
//!   is rounded to the kernel's tick) and returning at once on a signal.
//! - `mmap(2)`: zeroed buffers that cost memory only where written ([`ZeroedPages`]).
//! - `madvise(2)`: start-up code leaves the resident set ([`release_startup_code`]).
//! - `getdents64(2)`: directory entries into a caller's buffer (cgroup discovery and
//!   the process scan; `std::fs::read_dir` allocates per entry).
//! - `setrlimit(RLIMIT_NOFILE)`: the soft open-file limit up to the hard one (the
//!   cgroup source keeps a dozen files open per tracked workload).
//! - `sysconf(_SC_PAGESIZE)`, `getrlimit(RLIMIT_NOFILE)`: the collector's own process
//!   figures ([`crate::own_process`]).
//! - `adjtimex(2)`, read-only (`modes` = 0): the kernel's clock discipline (the timex
//!   source, [`crate::parse::timex`]).
//! - `prctl(PR_SET_NAME)`: the crate's own `pthread_setname_np` (below) for the static
//!   musl builds, which keeps musl's printf out of the binary (aarch64).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

/// The self-pipe's ends (-1: not made): the handlers write to `WAKE_WRITE`,
/// [`wait_readable`] polls `WAKE_READ`.
static WAKE_READ: AtomicI32 = AtomicI32::new(-1);
static WAKE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
    wake();
}

extern "C" fn on_reload(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
    wake();
}

/// One byte into the self-pipe, from a signal handler: `write(2)` is async-signal-safe;
/// a full pipe (`EAGAIN`) is already readable, which is all a waiter needs.
fn wake() {
    let fd = WAKE_WRITE.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    // SAFETY: `__errno_location` returns this thread's errno, always valid; it is saved
    // and restored so the code the signal interrupted sees its own errno.
    let saved = unsafe { *libc::__errno_location() };
    // SAFETY: `fd` is the self-pipe's write end, open for the life of the process (never
    // closed once published); the one byte comes from a live local.
    unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// Makes the self-pipe once (non-blocking, close-on-exec); `Err` if `pipe2` fails.
fn make_wake_pipe() -> std::io::Result<()> {
    if WAKE_READ.load(Ordering::SeqCst) >= 0 {
        return Ok(());
    }
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints that `pipe2` fills.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if WAKE_READ
        .compare_exchange(-1, fds[0], Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        WAKE_WRITE.store(fds[1], Ordering::SeqCst);
    } else {
        // Another thread made it first.
        // SAFETY: both fds were just made by this call and are not shared.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
    Ok(())
}

/// Empties the self-pipe (its bytes only said "look at the flags").
fn drain_wake_pipe(fd: libc::c_int) {
    let mut buf = [0u8; 64];
    // SAFETY: `fd` is the self-pipe's non-blocking read end; `buf` is a live local of
    // the length passed.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) -> std::io::Result<()> {
    // SAFETY: `sigaction` is a plain C struct for which all-zero bytes are a valid value
    // (empty mask, no flags, null handler), then the fields we need are set.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = 0; // no SA_RESTART: blocking calls return EINTR
    // SAFETY: `sa_mask` is a valid sigset_t owned by `action`; sigemptyset only writes it.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised and outlives the call; the handler is an
    // `extern "C" fn(c_int)` that only stores to a static atomic, which is
    // async-signal-safe. The old action is not needed (null).
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Installs the SIGTERM/SIGINT (stop) and SIGHUP (reload) handlers.
pub fn install_signal_handlers() -> std::io::Result<()> {
    make_wake_pipe()?;
    install(libc::SIGTERM, on_stop)?;
    install(libc::SIGINT, on_stop)?;
    install(libc::SIGHUP, on_reload)
}

/// True once SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// True when SIGHUP arrived and was not taken yet.
pub fn reload_requested() -> bool {
    RELOAD.load(Ordering::SeqCst)
}

/// True (once) when SIGHUP arrived since the last call.
pub fn take_reload_request() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

/// Waits until `fd` is readable or `timeout` passes. `Ok(true)`: readable;
/// `Ok(false)`: timeout; `Err` with kind `Interrupted` when a signal arrived, also one
/// that arrived since the last wait (the self-pipe, see the module docs).
pub fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: std::time::Duration,
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let wake = WAKE_READ.load(Ordering::SeqCst);
    // `poll` skips an entry whose fd is negative (no self-pipe: handlers not installed).
    let mut pfds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // Round up so a wait of 0.5 ms still waits, and never wait forever.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // A look without waiting (`Duration::ZERO`) leaves the self-pipe alone: its byte is
    // for the next real wait, which must not miss it.
    let count: libc::nfds_t = if ms == 0 { 1 } else { 2 };
    // SAFETY: `pfds` is an array of two valid, initialised pollfds that outlives the
    // call, and the count passed is at most its length; the fd is borrowed, so it stays
    // open during the call, and the self-pipe is never closed once published.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), count, ms) };
    let result = match rc {
        0 => Ok(false),
        n if n > 0 && pfds[1].revents == 0 => Ok(true),
        n if n > 0 => Err(std::io::Error::from(std::io::ErrorKind::Interrupted)),
        _ => Err(std::io::Error::last_os_error()),
    };
    if wake >= 0 && matches!(&result, Err(e) if e.kind() == std::io::ErrorKind::Interrupted) {
        drain_wake_pipe(wake);
    }
    result
}

/// Whether `fd` has an exceptional condition pending (`POLLPRI` or `POLLERR`), without
/// waiting. A procfs mount table (`/proc/PID/mounts`) reports one once after the mount
/// namespace changed (a mount, an unmount, a remount) since it was opened or last
/// reported (`mounts_poll` in the kernel). `Err` when `poll` itself fails.
pub fn exception_pending(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and the
    // count passed is 1; the fd is borrowed, so it stays open during the call. A zero
    // timeout never blocks.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0)
}

/// Whether `fd` is a file of a procfs (`PROC_SUPER_MAGIC`); false when `fstatfs` fails.
pub fn is_procfs(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `statfs` is a valid value of the plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live, writable statfs the kernel fills; the fd is borrowed, so
    // it stays open during the call.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) };
    // `f_type`'s C type differs between targets (signed, unsigned, 32 or 64 bits).
    rc == 0 && i128::from(st.f_type) == 0x9fa0
}

/// The node's USER_HZ (clock ticks per second of `/proc/stat` CPU times); 100 when
/// sysconf cannot tell.
pub fn user_hz() -> u16 {
    // SAFETY: sysconf takes an integer name and returns a long; no memory is passed.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u16::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

/// A random u64 from the kernel (`getrandom`), or a mix of time and pid if that fails.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: the pointer and length describe `bytes`, a live, writable 8-byte buffer;
    // getrandom writes at most that many bytes.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n == 8 {
        return u64::from_le_bytes(bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // splitmix64 of time ^ pid.
    let mut z = t ^ (u64::from(std::process::id()) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Drops this process's read-only mappings of its own executable from its resident set
/// (`MADV_DONTNEED`), so start-up code and constants (flags, config, discovery, help
/// texts, relocation tables) stop counting; what the cycles run comes back on first
/// use from the page cache. Only mappings without a private (anonymous) page are
/// released — they are exact copies of the file, so nothing is lost; a read-only
/// mapping holding relocated `RELRO` pointers has private pages and is left alone.
/// Allocates (reads `/proc/self/smaps`): for after start-up. Returns the bytes released.
pub fn release_startup_code() -> std::io::Result<usize> {
    use std::io::Read as _;
    use std::os::unix::fs::MetadataExt;
    let exe = std::fs::metadata("/proc/self/exe")?.ino();
    // Read in one go, into a buffer of about its size: smaps lists every mapping.
    let mut smaps = String::with_capacity(32 * 1024);
    std::fs::File::open("/proc/self/smaps")?.read_to_string(&mut smaps)?;
    let mut released = 0;
    for (range, anonymous_kb) in clean_read_only_mappings_of(&smaps, exe) {
        if anonymous_kb != 0 {
            continue;
        }
        let len = range.end.saturating_sub(range.start);
        // SAFETY: `range` is a private, read-only mapping of this process's executable
        // with no anonymous page: every page is the file's own, unmodified (nothing can
        // write it: it is not writable, and relocations are done). MADV_DONTNEED only
        // unmaps those pages; the next access faults the same bytes back in from the
        // page cache, so code and constants in it stay valid for every reference.
        let rc =
            unsafe { libc::madvise(range.start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        released += len;
    }
    Ok(released)
}

/// `(address range, Anonymous kB)` of every mapping in `smaps` (the text of
/// `/proc/self/smaps`) of the file with inode `inode` that is neither writable nor
/// shared.
fn clean_read_only_mappings_of(smaps: &str, inode: u64) -> Vec<(std::ops::Range<usize>, u64)> {
    let mut found = Vec::new();
    let mut current: Option<std::ops::Range<usize>> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            // start-end perms offset dev inode path
            let perms = fields.next().unwrap_or_default();
            let map_inode = fields.nth(2).and_then(|i| i.parse::<u64>().ok());
            current = (map_inode == Some(inode)
                && perms.starts_with('r')
                && perms.ends_with('p')
                && !perms.contains('w'))
            .then_some(start..end);
        } else if first == "Anonymous:"
            && let Some(range) = current.take()
        {
            let kb = fields
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(u64::MAX);
            found.push((range, kb));
        }
    }
    found
}

/// Zeroed memory straight from the kernel (a private anonymous `mmap`): a page costs
/// nothing until it is written, whatever the C library's `calloc` does (some zero
/// every byte of a fresh block, making it all resident at once). For the collector's
/// large buffers that are written a little at a time: the resend ring's arena, the
/// sources' read buffer. Falls back to the heap if the mapping fails.
pub struct ZeroedPages(Pages);

enum Pages {
    Mapped {
        ptr: std::ptr::NonNull<u8>,
        len: usize,
    },
    Heap(Box<[u8]>),
}

// SAFETY: `ZeroedPages` owns its mapping exclusively (like a `Box<[u8]>`); nothing else
// refers to it, so moving it to another thread is sound.
unsafe impl Send for ZeroedPages {}

impl ZeroedPages {
    /// `len` zero bytes.
    pub fn new(len: usize) -> ZeroedPages {
        if len > 0 {
            // SAFETY: a fresh private anonymous mapping: no address hint, no file; the
            // kernel returns MAP_FAILED or the start of `len` readable and writable
            // bytes that are zero and belong to no one else.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr != libc::MAP_FAILED
                && let Some(ptr) = std::ptr::NonNull::new(ptr.cast::<u8>())
            {
                return ZeroedPages(Pages::Mapped { ptr, len });
            }
        }
        ZeroedPages(Pages::Heap(vec![0u8; len].into_boxed_slice()))
    }
}

/// No bytes (no mapping): what `std::mem::take` leaves behind.
impl Default for ZeroedPages {
    fn default() -> ZeroedPages {
        ZeroedPages(Pages::Heap(Box::default()))
    }
}

impl std::ops::Deref for ZeroedPages {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            // SAFETY: `ptr..ptr + len` is the live mapping this value owns (unmapped
            // only in `drop`), readable, initialised (zero or written since); the
            // shared borrow of `self` keeps it from being written meanwhile.
            Pages::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), *len) },
            Pages::Heap(b) => b,
        }
    }
}

impl std::ops::DerefMut for ZeroedPages {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            // SAFETY: as in `deref`, and the exclusive borrow of `self` makes this the
            // only reference to the mapping while it lives.
            Pages::Mapped { ptr, len } => unsafe {
                std::slice::from_raw_parts_mut(ptr.as_ptr(), *len)
            },
            Pages::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for ZeroedPages {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for ZeroedPages {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl std::fmt::Debug for ZeroedPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ZeroedPages({} bytes)", self.len())
    }
}

impl Drop for ZeroedPages {
    fn drop(&mut self) {
        if let Pages::Mapped { ptr, len } = self.0 {
            // SAFETY: the mapping was created by `new` with this address and length and
            // is unmapped only here; no reference to it outlives `self`.
            unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
        }
    }
}

/// The host name (as `hostname` prints it), or `None`.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, a live writable buffer; the kernel
    // writes at most `len` bytes (the name, NUL-terminated when it fits).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..len].to_vec())
        .ok()
        .filter(|s| !s.is_empty())
}

/// The machine `uname(2)` reports (`aarch64`, `armv7l`; under a 32-bit personality the
/// compat name), or `None`. For `node_uname_info` on kernels without
/// `/proc/sys/kernel/arch`.
pub fn uname_machine() -> Option<String> {
    // SAFETY: `utsname` is a C struct of byte arrays, for which all-zero bytes are valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to `uts`, a live, writable utsname that outlives the call;
    // the kernel fills its fixed-size arrays with NUL-terminated strings.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = uts
        .machine
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).ok()
}

/// The six `uname(2)` strings, each up to its NUL, in the order of
/// [`crate::parse::uname::FILES`]: sysname, release, version, machine, nodename,
/// domainname. On the stack: no allocation.
pub struct UtsNames([[u8; 65]; 6]);

impl UtsNames {
    /// String `i` (see [`UtsNames`]), without its NUL; empty past the sixth.
    pub fn get(&self, i: usize) -> &[u8] {
        let field = self.0.get(i).map_or(&[][..], |f| &f[..]);
        let len = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        field.get(..len).unwrap_or_default()
    }
}

/// `uname(2)`: the strings of `/proc/sys/kernel/{ostype,…}` in one call (`None` when it
/// fails).
pub fn uts_names() -> Option<UtsNames> {
    // SAFETY: `utsname` is a C struct of byte arrays, for which all-zero bytes are valid.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to `uts`, a live, writable utsname that outlives the call;
    // the kernel fills its fixed-size arrays with NUL-terminated strings.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let mut out = [[0u8; 65]; 6];
    let fields = [
        &uts.sysname,
        &uts.release,
        &uts.version,
        &uts.machine,
        &uts.nodename,
        &uts.domainname,
    ];
    for (dst, src) in out.iter_mut().zip(fields) {
        for (d, &c) in dst.iter_mut().zip(src.iter()) {
            *d = c as u8;
        }
    }
    Some(UtsNames(out))
}

/// The kernel clock discipline from a read-only `adjtimex(2)` (`modes` = 0, which needs
/// no privilege and changes nothing), or the call's error.
// The fields are C `long` and `int`: `i64::from` widens on 32-bit targets and is the
// identity on 64-bit ones.
#[allow(clippy::useless_conversion)]
pub fn adjtimex() -> std::io::Result<crate::parse::timex::ClockDiscipline> {
    // SAFETY: `timex` is a plain C struct of integers, for which all-zero bytes are a
    // valid value; zero `modes` makes the call read-only.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to `tx`, a live, writable timex that outlives the call; the
    // kernel only fills it in.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(crate::parse::timex::ClockDiscipline {
        state,
        offset: i64::from(tx.offset),
        freq: i64::from(tx.freq),
        maxerror: i64::from(tx.maxerror),
        esterror: i64::from(tx.esterror),
        status: i64::from(tx.status),
        constant: i64::from(tx.constant),
        tick: i64::from(tx.tick),
        ppsfreq: i64::from(tx.ppsfreq),
        jitter: i64::from(tx.jitter),
        shift: i64::from(tx.shift),
        stabil: i64::from(tx.stabil),
        jitcnt: i64::from(tx.jitcnt),
        calcnt: i64::from(tx.calcnt),
        errcnt: i64::from(tx.errcnt),
        stbcnt: i64::from(tx.stbcnt),
        tai: i64::from(tx.tai),
    })
}

/// Reads the next directory entries of the open directory `dir` into `buf` (see
/// `parse::cgroup::dirent` for the record format); 0 at the end. Rewind with a seek
/// to 0 to read the directory again.
pub fn getdents(dir: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: the pointer and length describe `buf`, a live writable buffer the
        // kernel writes at most `len` bytes into; the fd is borrowed, so it stays open
        // during the call. getdents64 takes exactly (int fd, void *dirp, size_t count).
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The size of a memory page in bytes (4096 when sysconf cannot tell).
pub fn page_size() -> u64 {
    // SAFETY: sysconf takes an integer name and returns a long; no memory is passed.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// The soft limit of open files (`RLIMIT_NOFILE`), `None` when unknown.
// `rlim_t` is 32 bits on some 32-bit targets: the cast is not a no-op everywhere.
#[allow(clippy::unnecessary_cast)]
pub fn open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit that outlives the call.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0)
        .then_some(limit.rlim_cur as u64)
}

/// Raises the soft limit of open files to at least `wanted` (at most the hard limit,
/// which needs no privilege). Returns the soft limit in force afterwards.
// `rlim_t` is 32 bits on some 32-bit targets: the casts are not no-ops everywhere.
#[allow(clippy::unnecessary_cast)]
pub fn raise_open_files_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit that outlives the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    let current = limit.rlim_cur as u64;
    let target = (wanted as libc::rlim_t).min(limit.rlim_max);
    if target <= limit.rlim_cur {
        return current;
    }
    let raised = libc::rlimit {
        rlim_cur: target,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `raised` is a valid rlimit that outlives the call; a soft limit at or
    // below the hard limit is always allowed.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        target as u64
    } else {
        current
    }
}

/// Names a thread, in place of musl's `pthread_setname_np` (Linux musl builds only).
///
/// std names every thread spawned with a name (`pimon-statvfs0`, `pimon-w1`: what `top
/// -H` and `/proc/PID/task/*/comm` show) by calling `pthread_setname_np` on the new
/// thread itself. musl does that with `prctl(PR_SET_NAME)` too, but it can also name
/// another thread, through `/proc/self/task/TID/comm`, a path it formats with
/// `snprintf`: on aarch64 the binary's only use of musl's printf (11 KiB with its
/// 128-bit float support, docs/BENCHMARKS.md 2.7; on 32-bit ARM libunwind keeps printf
/// anyway). A definition in the program is linked before the C library's, so this one
/// replaces it; it is musl's code for the calling thread (`ERANGE` over 15 bytes, then
/// `prctl`). Naming another thread, which std never does, fails with `EINVAL`.
#[cfg(all(target_os = "linux", target_env = "musl"))]
#[unsafe(no_mangle)]
pub extern "C" fn pthread_setname_np(
    thread: libc::pthread_t,
    name: *const libc::c_char,
) -> libc::c_int {
    // SAFETY: pthread_self has no preconditions; pthread_equal compares two handles.
    if unsafe { libc::pthread_equal(thread, libc::pthread_self()) } == 0 {
        return libc::EINVAL;
    }
    // SAFETY: the caller passes a NUL-terminated string (pthread_setname_np's contract;
    // std passes a CStr); strlen reads up to its NUL.
    if unsafe { libc::strlen(name) } > 15 {
        return libc::ERANGE;
    }
    // SAFETY: PR_SET_NAME reads at most 16 bytes of the NUL-terminated `name` (checked
    // above to be at most 15 bytes long) and names the calling thread.
    if unsafe { libc::prctl(libc::PR_SET_NAME, name) } == 0 {
        0
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_mappings_of_the_executable_are_chosen() {
        let smaps = "\
00400000-00410000 r--p 00000000 fe:00 42 /bin/pimon
Anonymous:             0 kB
00410000-00480000 r-xp 00010000 fe:00 42 /bin/pimon
Anonymous:             0 kB
00480000-004a0000 r--p 00080000 fe:00 42 /bin/pimon
Anonymous:            60 kB
004a0000-004b0000 rw-p 000a0000 fe:00 42 /bin/pimon
Anonymous:            12 kB
7f0000000000-7f0000001000 r--p 00000000 fe:00 43 /lib/other
Anonymous:             0 kB
7f0000002000-7f0000003000 r--s 00000000 fe:00 42 /bin/pimon
Anonymous:             0 kB
";
        let found = clean_read_only_mappings_of(smaps, 42);
        assert_eq!(
            found,
            [
                (0x400000..0x410000, 0),
                (0x410000..0x480000, 0),
                (0x480000..0x4a0000, 60)
            ]
        );
    }

    #[test]
    fn start_up_code_is_released_and_runs_again() {
        let released = release_startup_code().unwrap();
        assert!(released > 0, "this test binary's code was released");
        // The released code faults back in: this very test keeps running it.
        assert!((1..=10_000).contains(&user_hz()));
        assert!(hostname().is_some());
        assert!(
            release_startup_code().unwrap() > 0,
            "and can be released again"
        );
    }

    #[test]
    fn zeroed_pages_are_zero_writable_and_resident_only_where_written() {
        fn resident_kb(addr: usize) -> u64 {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let mut inside = false;
            for line in smaps.lines() {
                if let Some((range, _)) = line.split_once(' ')
                    && let Some((a, b)) = range.split_once('-')
                    && let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
                    inside = (a..b).contains(&addr);
                } else if inside && line.starts_with("Rss:") {
                    return line.split_whitespace().nth(1).unwrap().parse().unwrap();
                }
            }
            panic!("no mapping at {addr:#x}")
        }
        let mut pages = ZeroedPages::new(1 << 20);
        assert_eq!(pages.len(), 1 << 20);
        assert!(pages.iter().step_by(4096).all(|&b| b == 0));
        pages[5000] = 7;
        pages[(1 << 20) - 1] = 9;
        assert_eq!((pages[5000], pages[(1 << 20) - 1]), (7, 9));
        let rss = resident_kb(pages.as_ptr() as usize);
        assert!(
            rss <= 16,
            "1 MiB mapped, {rss} KiB resident after two writes"
        );
        assert!(ZeroedPages::new(0).is_empty());
    }

    #[test]
    fn user_hz_is_sane() {
        assert!((1..=10_000).contains(&user_hz()));
    }

    #[test]
    fn random_differs() {
        assert_ne!(random_u64(), random_u64());
    }

    #[test]
    fn hostname_matches_the_kernel() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname().as_deref(), Some(kernel.trim()));
    }

    #[test]
    fn a_procfs_mount_table_is_told_from_a_regular_file_and_reports_no_change_when_opened() {
        use std::os::fd::AsFd;
        let mounts = std::fs::File::open("/proc/self/mounts").unwrap();
        assert!(is_procfs(mounts.as_fd()));
        assert!(
            !exception_pending(mounts.as_fd()).unwrap(),
            "no change of the mount namespace since the open"
        );
        let exe = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_procfs(exe.as_fd()));
        assert!(!exception_pending(exe.as_fd()).unwrap());
    }

    #[test]
    fn uname_gives_the_strings_of_the_kernel_sysctl_files() {
        let names = uts_names().expect("uname(2)");
        for (i, file) in crate::parse::uname::FILES.iter().enumerate() {
            // `arch` is missing before Linux 6.0.
            let Ok(text) = std::fs::read(std::path::Path::new("/").join(file)) else {
                continue;
            };
            assert_eq!(names.get(i), text.strip_suffix(b"\n").unwrap(), "{file}");
        }
        assert!(!names.get(0).is_empty());
        assert_eq!(names.get(6), b"");
    }

    #[test]
    fn wait_readable_times_out_and_sees_data() {
        use std::os::fd::AsFd;
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let start = std::time::Instant::now();
        let ready = wait_readable(sock.as_fd(), std::time::Duration::from_millis(3)).unwrap();
        assert!(!ready);
        assert!(start.elapsed() >= std::time::Duration::from_millis(3));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        sock.send_to(b"x", sock.local_addr().unwrap()).unwrap();
        assert!(wait_readable(sock.as_fd(), std::time::Duration::from_secs(5)).unwrap());
        assert!(wait_readable(sock.as_fd(), std::time::Duration::ZERO).unwrap());
    }

    #[test]
    fn sighup_sets_the_reload_flag_and_interrupts_a_wait() {
        use std::os::fd::AsFd;
        install_signal_handlers().unwrap();
        let _ = take_reload_request();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // SAFETY: pthread_self is always valid for the calling thread.
        let me = unsafe { libc::pthread_self() };
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            // SAFETY: `me` is the test thread, alive: it waits below until this signal
            // arrives (or 5 s pass).
            unsafe { libc::pthread_kill(me, libc::SIGHUP) };
        });
        let start = std::time::Instant::now();
        let err = wait_readable(sock.as_fd(), std::time::Duration::from_secs(5)).unwrap_err();
        t.join().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
        assert!(start.elapsed() < std::time::Duration::from_secs(4));
        assert!(take_reload_request());
        assert!(!take_reload_request());

        // A signal that lands before the wait starts (after the caller looked at the
        // flags) still ends it at once: the self-pipe holds it.
        // SAFETY: raising a signal whose handler (installed above) only stores to an
        // atomic and writes to the self-pipe.
        unsafe { libc::raise(libc::SIGHUP) };
        let start = std::time::Instant::now();
        let err = wait_readable(sock.as_fd(), std::time::Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
        assert!(start.elapsed() < std::time::Duration::from_secs(4));
        assert!(take_reload_request());
        // A look without waiting leaves a pending signal to the next wait.
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGHUP) };
        assert!(!wait_readable(sock.as_fd(), std::time::Duration::ZERO).unwrap());
        let err = wait_readable(sock.as_fd(), std::time::Duration::from_secs(5)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::Interrupted);
        assert!(take_reload_request());
        // Drained: the next wait times out.
        assert!(!wait_readable(sock.as_fd(), std::time::Duration::from_millis(20)).unwrap());
    }
}
