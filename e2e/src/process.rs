//! A child process for one test: stdout and stderr go to files in its own temp dir
//! (never a pipe that could fill up and block it), and it is killed (SIGKILL) and reaped
//! when its handle drops, which also happens when the test panics. Tests can also
//! signal it (SIGTERM for a graceful stop, SIGSTOP/SIGCONT to freeze it) and read its
//! memory and open descriptors from `/proc`.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running (or finished) child process. Killed on drop.
pub struct Proc {
    name: String,
    child: Option<Child>,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    _dir: TempDir,
}

impl Proc {
    /// Spawns `cmd` with stdin from /dev/null and its output in files. `name` is used in
    /// messages. Panics if it cannot start.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let dir = tempfile::Builder::new()
            .prefix("pimon-e2e-proc-")
            .tempdir()
            .expect("temp dir for process output");
        let stdout_path = dir.path().join("stdout");
        let stderr_path = dir.path().join("stderr");
        let stdout = File::create(&stdout_path).expect("create stdout file");
        let stderr = File::create(&stderr_path).expect("create stderr file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            status: None,
            stdout_path,
            stderr_path,
            _dir: dir,
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the exit; panics with the output if it takes longer than `timeout`
    /// (the process is then killed by the drop).
    pub fn wait_or_panic(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(status) => status,
            None => panic!(
                "{} did not finish within {timeout:?}\n{}",
                self.name,
                self.output_report()
            ),
        }
    }

    /// The exit status if the process has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.status = Some(status);
        }
        self.status
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_status().is_none()
    }

    /// Everything it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Name, status and the tails of stdout and stderr, for failure messages.
    pub fn output_report(&self) -> String {
        fn tail(s: &str) -> &str {
            let mut start = s.len().saturating_sub(3000);
            while !s.is_char_boundary(start) {
                start += 1;
            }
            &s[start..]
        }
        format!(
            "--- {} ({}) stdout:\n{}\n--- stderr:\n{}",
            self.name,
            match self.status {
                Some(s) => s.to_string(),
                None => "running".to_string(),
            },
            tail(&self.stdout()),
            tail(&self.stderr())
        )
    }

    /// The process id (while it has not been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `signal` (`libc::SIGTERM`, `SIGSTOP`, `SIGCONT`, …) if it still runs.
    pub fn signal(&mut self, signal: i32) {
        if self.is_running()
            && let Some(pid) = self.pid()
        {
            // SAFETY: kill(2) on our own child's pid (not yet reaped, so the pid cannot
            // have been reused) has no memory effects.
            let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
            assert_eq!(
                rc,
                0,
                "kill({pid}, {signal}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit; panics with the output if it
    /// is still running then (the drop kills it).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_or_panic(timeout)
    }

    /// Memory and descriptors of the running process, from `/proc/PID`.
    pub fn usage(&mut self) -> Option<Usage> {
        if !self.is_running() {
            return None;
        }
        Usage::of(self.pid()?)
    }

    /// SIGKILL and reap now (also done on drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.status.is_none() {
                let _ = child.kill();
            }
            if let Ok(status) = child.wait() {
                self.status.get_or_insert(status);
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to completion within `timeout` and returns the finished process (status,
/// stdout, stderr). Panics with its output when it takes longer.
pub fn run(name: &str, cmd: Command, timeout: Duration) -> Finished {
    let mut proc = Proc::spawn(name, cmd);
    let status = proc.wait_or_panic(timeout);
    Finished {
        status,
        stdout: proc.stdout(),
        stderr: proc.stderr(),
        report: proc.output_report(),
    }
}

/// A process that ran to the end.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// Status and output tails, for failure messages.
    pub report: String,
}

/// Sends `signal` to process `pid` (a server of the real-server harness, say: SIGSTOP
/// to make it hang, SIGCONT to resume it).
pub fn signal_pid(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory effects.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// What a process holds, from `/proc/PID/status` and `/proc/PID/fd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Resident set size now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Peak resident set size (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl Usage {
    /// Reads the figures of process `pid`; `None` if it is gone.
    pub fn of(pid: u32) -> Option<Usage> {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        let open_fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(Usage {
            rss_kib: kib("VmRSS:"),
            peak_rss_kib: kib("VmHWM:"),
            open_fds,
        })
    }
}
