//! A child process for one test: stdout and stderr go to files in its own temp dir
//! (never a pipe that could fill up and block it), and it is killed (SIGKILL) and reaped
//! when its handle drops, which also happens when the test panics.

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

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after that). Returns
    /// the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(child) = &self.child
            && self.status.is_none()
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let status = self.wait_timeout(timeout);
        self.kill();
        status.or(self.status)
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
