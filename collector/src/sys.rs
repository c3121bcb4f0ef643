//! The few OS calls std does not offer, through `libc`. The only module of the crate
//! allowed `unsafe`; every block says why it is sound.
//!
//! - Signals: SIGTERM/SIGINT set a stop flag, SIGHUP a reload flag. Handlers only store
//!   to atomics (async-signal-safe). They are installed without `SA_RESTART`, so a
//!   blocking `recv` in the main loop returns `EINTR` and the loop sees the flag at once.
//! - `sysconf(_SC_CLK_TCK)`: the node's USER_HZ.
//! - `getrandom(2)`: the random boot id.
//! - `gethostname(2)`: the default node name.
//! - `poll(2)`: waiting for an ack with millisecond precision (a socket read timeout
//!   is rounded to the kernel's tick) and returning at once on a signal.
//! - `getdents64(2)`: directory entries into a caller's buffer (cgroup discovery;
//!   `std::fs::read_dir` allocates per entry).
//! - `setrlimit(RLIMIT_NOFILE)`: the soft open-file limit up to the hard one (the
//!   cgroup source keeps a dozen files open per tracked workload).

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_reload(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
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
    install(libc::SIGTERM, on_stop)?;
    install(libc::SIGINT, on_stop)?;
    install(libc::SIGHUP, on_reload)
}

/// True once SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks the main loop to stop (as SIGTERM would); for tests and `--cycles`.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
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
/// `Ok(false)`: timeout; `Err` with kind `Interrupted` when a signal arrived.
pub fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: std::time::Duration,
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Round up so a wait of 0.5 ms still waits, and never wait forever.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and the
    // count passed is 1; the fd is borrowed, so it stays open during the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => Err(std::io::Error::last_os_error()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
