//! Real servers from Debian's packages, started for one test (see the crate docs).
//!
//! | handle | apt package | binary |
//! |---|---|---|
//! | [`Influxd`] | `influxdb` (1.6.7) | `/usr/bin/influxd` |
//! | [`Prometheus`] | `prometheus` (2.42) | `/usr/bin/prometheus`, `/usr/bin/promtool` |
//! | [`VictoriaMetrics`] | `victoria-metrics` (1.79) | `/usr/bin/victoria-metrics` |
//!
//! Every server listens on 127.0.0.1 only, on a port picked free just before start,
//! keeps all its data and logs in its own temp dir, and is killed (SIGKILL) and reaped
//! when its handle drops. Start functions panic with the reason when the server cannot
//! start or does not become ready in time, so the test fails and says why.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http;

/// How long a server may take to become ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1 (bound, then released; the caller binds it soon after).
pub fn free_port() -> u16 {
    let listener =
        TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0 to find a free port");
    listener.local_addr().expect("local_addr").port()
}

/// Finds an executable by name in the usual Debian locations and `$PATH`; the error says
/// which package to install.
pub fn find_binary(name: &str, package: &str) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = vec![
        "/usr/bin".into(),
        "/usr/sbin".into(),
        "/usr/local/bin".into(),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "`{name}` not found in /usr/bin, /usr/sbin or $PATH: install the Debian package `{package}` (apt-get install -y {package})"
    ))
}

/// A running server process with its temp dir. Killed on drop.
pub struct ServerProcess {
    /// Short name for messages, e.g. `influxd`.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// The HTTP port.
    pub port: u16,
    child: Option<Child>,
    log_path: PathBuf,
    dir: TempDir,
    binary: PathBuf,
    args: Vec<String>,
}

impl ServerProcess {
    /// Spawns `binary args…` with stdout/stderr to `<dir>/server.log`.
    pub fn spawn(
        name: &'static str,
        binary: &Path,
        args: &[String],
        dir: TempDir,
        port: u16,
    ) -> ServerProcess {
        let log_path = dir.path().join("server.log");
        let mut server = ServerProcess {
            name,
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            child: None,
            log_path,
            dir,
            binary: binary.to_path_buf(),
            args: args.to_vec(),
        };
        server.launch();
        server
    }

    /// Starts the process (output appended to the log).
    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open server log");
        let log2 = log.try_clone().expect("clone log handle");
        let child = Command::new(&self.binary)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({}): {e}",
                    self.name,
                    self.binary.display()
                )
            });
        self.child = Some(child);
    }

    /// The process id while it runs (to SIGSTOP/SIGCONT it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the process (SIGTERM, see [`ServerProcess::terminate`]) and starts it again
    /// with the same arguments, port and data (an outage of the server, not a new one).
    /// Does not wait for it.
    pub fn respawn(&mut self) {
        self.terminate();
        self.launch();
    }

    /// The server's temp dir (config, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last ~4 KiB of the server's output.
    pub fn log_tail(&self) -> String {
        let Ok(mut f) = File::open(&self.log_path) else {
            return String::from("(no log)");
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }

    /// Polls `ready` every 100 ms until it returns true; `Err` with the log tail if
    /// the process exits or [`READY_TIMEOUT`] passes.
    pub fn wait_ready(&mut self, mut ready: impl FnMut(&str) -> bool) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "{} exited before becoming ready ({status}); port {} may be in use. Log tail:\n{}",
                    self.name,
                    self.port,
                    self.log_tail()
                ));
            }
            if ready(&self.base_url) {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "{} not ready on {} after {:?}. Log tail:\n{}",
                    self.name,
                    self.base_url,
                    READY_TIMEOUT,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits up to 30 s for the server to finish (flushing its data) and
    /// reaps it; SIGKILL if it does not. A clean outage: [`ServerProcess::respawn`]
    /// brings it back with everything it had acknowledged.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL and reap now (also done on drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn status_is(base: &str, path: &str, wanted: u16) -> bool {
    http::probe(base, path, Duration::from_secs(1)).is_ok_and(|r| r.status == wanted)
}

/// How many times a start is tried (a free port can be taken by a parallel test between
/// [`free_port`] and the server's bind).
pub const START_ATTEMPTS: usize = 3;

/// Runs `attempt` up to [`START_ATTEMPTS`] times; panics with every reason if none works.
pub fn start_with_retries<T>(name: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let mut errors = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match attempt() {
            Ok(t) => return t,
            Err(e) => errors.push(e),
        }
    }
    panic!(
        "cannot start {name} ({START_ATTEMPTS} attempts):\n{}",
        errors.join("\n---\n")
    );
}

// ---------------------------------------------------------------------------------
// InfluxDB 1.x

/// A running `influxd` 1.x.
pub struct Influxd {
    /// The process; `server.base_url` is the HTTP API.
    pub server: ServerProcess,
}

impl Influxd {
    /// Starts influxd on a free port.
    pub fn start() -> Influxd {
        start_with_retries("influxd", || Influxd::try_start_on(free_port()))
    }

    /// Starts influxd with its HTTP API on `port` (e.g. a port an output was already
    /// pointed at while the server was down). Panics with the reason on failure.
    pub fn start_on(port: u16) -> Influxd {
        start_with_retries("influxd", || Influxd::try_start_on(port))
    }

    fn try_start_on(port: u16) -> Result<Influxd, String> {
        let binary = find_binary("influxd", "influxdb").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("pimon-influxd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().display().to_string();
        let rpc_port = free_port();
        let config = format!(
            r#"reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{d}/meta"

[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
  auth-enabled = false
  pprof-enabled = false

[ifql]
  enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"#
        );
        let config_path = dir.path().join("influxdb.conf");
        fs::File::create(&config_path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .expect("write influxdb.conf");
        let args = vec!["-config".to_string(), config_path.display().to_string()];
        let mut server = ServerProcess::spawn("influxd", &binary, &args, dir, port);
        server.wait_ready(|base| status_is(base, "/ping", 204))?;
        Ok(Influxd { server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.base_url
    }

    /// Kills influxd (SIGKILL, as a crash); its data stays for [`Influxd::start_again`].
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts the killed influxd again on the same port with the same data, and waits
    /// until it answers; panics with the log tail if it cannot.
    pub fn start_again(&mut self) {
        self.server.kill();
        self.server.launch();
        if let Err(e) = self.server.wait_ready(|base| status_is(base, "/ping", 204)) {
            panic!("influxd did not come back: {e}");
        }
    }

    /// Runs an InfluxQL statement with `POST /query` (for CREATE/DROP); panics unless 200
    /// without an `error` in the result.
    pub fn execute(&self, statement: &str) {
        let body = http::query_string(&[("q", statement)]);
        let r = http::post(
            self.url(),
            "/query",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "influxd {statement}: {}", r.body_text());
        assert!(
            !r.body_text().contains("\"error\""),
            "influxd {statement}: {}",
            r.body_text()
        );
    }

    /// `CREATE DATABASE name`.
    pub fn create_database(&self, name: &str) {
        self.execute(&format!("CREATE DATABASE \"{name}\""));
    }

    /// Runs a query (`GET /query?db=…&q=…&epoch=ns`) and returns the JSON.
    pub fn query(&self, db: &str, q: &str) -> serde_json::Value {
        let qs = http::query_string(&[("db", db), ("q", q), ("epoch", "ns")]);
        let r = http::get(self.url(), &format!("/query?{qs}"));
        assert_eq!(r.status, 200, "influxd query {q}: {}", r.body_text());
        http::json(&r)
    }

    /// Rows of the first series of a query's first result, each as the JSON array of
    /// column values (column names in [`Influxd::columns`]). Empty if no series.
    pub fn rows(&self, db: &str, q: &str) -> Vec<Vec<serde_json::Value>> {
        let v = self.query(db, q);
        let mut out = Vec::new();
        if let Some(series) = v["results"][0]["series"].as_array() {
            for s in series {
                if let Some(values) = s["values"].as_array() {
                    for row in values {
                        out.push(row.as_array().cloned().unwrap_or_default());
                    }
                }
            }
        }
        out
    }

    /// Column names of a query's first series.
    pub fn columns(&self, db: &str, q: &str) -> Vec<String> {
        let v = self.query(db, q);
        v["results"][0]["series"][0]["columns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------
// Prometheus

/// One scrape job of [`Prometheus::start_jobs`].
#[derive(Clone, Copy, Debug)]
pub struct ScrapeJob<'a> {
    /// `job_name`: the `job` label of what it scrapes.
    pub name: &'a str,
    /// `honor_labels: true` keeps the scraped `instance` (the aggregator exposes one per
    /// node); `false` sets `instance` to the target's `host:port`, as for any exporter.
    pub honor_labels: bool,
    /// `host:port` of each `/metrics`.
    pub targets: &'a [&'a str],
}

/// A running Prometheus scraping the given targets.
pub struct Prometheus {
    /// The process; `server.base_url` is the web/API address.
    pub server: ServerProcess,
}

impl Prometheus {
    /// Starts Prometheus with one job `pimon` that scrapes `targets` (`host:port`, path
    /// `/metrics`) every second with `honor_labels: true`.
    pub fn start(targets: &[&str]) -> Prometheus {
        Prometheus::start_jobs(&[ScrapeJob {
            name: "pimon",
            honor_labels: true,
            targets,
        }])
    }

    /// Starts Prometheus scraping each job's targets (`host:port`, path `/metrics`) every
    /// second: a pimon aggregator beside a real exporter, each under its own `job`.
    pub fn start_jobs(jobs: &[ScrapeJob<'_>]) -> Prometheus {
        start_with_retries("prometheus", || Prometheus::try_start(jobs))
    }

    fn try_start(jobs: &[ScrapeJob<'_>]) -> Result<Prometheus, String> {
        let binary = find_binary("prometheus", "prometheus").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("pimon-prometheus-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let mut config =
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n"
                .to_string();
        for job in jobs {
            let list = job
                .targets
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(", ");
            config += &format!(
                "  - job_name: {}\n    honor_labels: {}\n    scrape_interval: 1s\n    metrics_path: /metrics\n    static_configs:\n      - targets: [{list}]\n",
                job.name, job.honor_labels
            );
        }
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, config).expect("write prometheus.yml");
        let args = vec![
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_string(),
        ];
        let mut server = ServerProcess::spawn("prometheus", &binary, &args, dir, port);
        server.wait_ready(|base| status_is(base, "/-/ready", 200))?;
        Ok(Prometheus { server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.base_url
    }

    /// Starts Prometheus as a remote write receiver (`--web.enable-remote-write-receiver`,
    /// `POST /api/v1/write`), scraping nothing.
    pub fn start_receiver() -> Prometheus {
        start_with_retries("prometheus", Prometheus::try_start_receiver)
    }

    fn try_start_receiver() -> Result<Prometheus, String> {
        let binary = find_binary("prometheus", "prometheus").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("pimon-prometheus-rw-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let config_path = dir.path().join("prometheus.yml");
        fs::write(&config_path, "global:\n  evaluation_interval: 1s\n")
            .expect("write prometheus.yml");
        let args = vec![
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--web.enable-remote-write-receiver".to_string(),
            "--log.level=warn".to_string(),
        ];
        let mut server = ServerProcess::spawn("prometheus", &binary, &args, dir, port);
        server.wait_ready(|base| status_is(base, "/-/ready", 200))?;
        Ok(Prometheus { server })
    }

    /// Kills the server and starts it again on the same port with the same data (it
    /// replays its WAL); waits until it is ready. Panics with the log if it is not.
    pub fn restart(&mut self) {
        self.server.respawn();
        self.server
            .wait_ready(|base| status_is(base, "/-/ready", 200))
            .unwrap_or_else(|e| panic!("prometheus restart: {e}"));
    }

    /// Instant query (`/api/v1/query`); returns `data.result` (a JSON array of
    /// `{metric: {...}, value: [ts, "v"]}`). Panics unless `status` is `success`.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let qs = http::query_string(&[("query", promql)]);
        let r = http::get(self.url(), &format!("/api/v1/query?{qs}"));
        let v = http::json(&r);
        assert_eq!(
            v["status"],
            "success",
            "prometheus query {promql}: {}",
            r.body_text()
        );
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Repeats [`Prometheus::query`] until it returns a non-empty result or `timeout`
    /// passes (then returns the last, possibly empty, result).
    pub fn query_until_nonempty(&self, promql: &str, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let r = self.query(promql);
            if !r.is_empty() || start.elapsed() > timeout {
                return r;
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// The scrape targets' health (`/api/v1/targets`), as `(scrapeUrl, health, lastError)`.
    pub fn targets(&self) -> Vec<(String, String, String)> {
        let v = http::json(&http::get(self.url(), "/api/v1/targets"));
        v["data"]["activeTargets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| {
                        (
                            t["scrapeUrl"].as_str().unwrap_or("").to_string(),
                            t["health"].as_str().unwrap_or("").to_string(),
                            t["lastError"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `promtool check metrics` on an exposition; `Err` holds promtool's complaints
/// (lint problems or parse errors). Panics if promtool is missing.
pub fn promtool_check_metrics(exposition: &[u8]) -> Result<(), String> {
    let binary = find_binary("promtool", "prometheus").unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(binary)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    let mut stdin = child.stdin.take().expect("promtool stdin");
    let data = exposition.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let output = child.wait_with_output().expect("wait for promtool");
    let _ = writer.join();
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

// ---------------------------------------------------------------------------------
// VictoriaMetrics

/// A running single-node VictoriaMetrics.
pub struct VictoriaMetrics {
    /// The process; `server.base_url` is the HTTP API (Influx `/write`,
    /// `/api/v2/write`, Prometheus `/api/v1/query`, `/api/v1/export`).
    pub server: ServerProcess,
}

impl VictoriaMetrics {
    /// Starts VictoriaMetrics on a free port. Retention is 100 years so test timestamps
    /// are never "too old"; the search latency offset is 0 so fresh points are visible.
    pub fn start() -> VictoriaMetrics {
        VictoriaMetrics::start_with(&[])
    }

    /// Like [`VictoriaMetrics::start`] with extra flags (`-dedup.minScrapeInterval=1ms`).
    pub fn start_with(extra: &[&str]) -> VictoriaMetrics {
        start_with_retries("victoria-metrics", || VictoriaMetrics::try_start(extra))
    }

    fn try_start(extra: &[&str]) -> Result<VictoriaMetrics, String> {
        let binary =
            find_binary("victoria-metrics", "victoria-metrics").unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::Builder::new()
            .prefix("pimon-vm-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let mut args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.path().join("data").display()),
            "-retentionPeriod=100y".to_string(),
            "-search.latencyOffset=0s".to_string(),
            "-search.disableCache".to_string(),
            "-loggerLevel=WARN".to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut server = ServerProcess::spawn("victoria-metrics", &binary, &args, dir, port);
        server.wait_ready(|base| status_is(base, "/health", 200))?;
        Ok(VictoriaMetrics { server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.base_url
    }

    /// Kills the server and starts it again on the same port with the same data;
    /// waits until it is ready. Panics with the log if it is not.
    pub fn restart(&mut self) {
        self.server.respawn();
        self.server
            .wait_ready(|base| status_is(base, "/health", 200))
            .unwrap_or_else(|e| panic!("victoria-metrics restart: {e}"));
    }

    /// Makes recently ingested samples searchable now (`/internal/force_flush`).
    pub fn force_flush(&self) {
        let r = http::get(self.url(), "/internal/force_flush");
        assert!(
            r.status == 200 || r.status == 204,
            "force_flush: {} {}",
            r.status,
            r.body_text()
        );
    }

    /// `/api/v1/export?match[]=SELECTOR`: one JSON object per series, each
    /// `{"metric":{...},"values":[...],"timestamps":[ms...]}`. Flushes first.
    pub fn export(&self, selector: &str) -> Vec<serde_json::Value> {
        self.force_flush();
        let qs = http::query_string(&[("match[]", selector)]);
        let r = http::get(self.url(), &format!("/api/v1/export?{qs}"));
        assert_eq!(r.status, 200, "export {selector}: {}", r.body_text());
        r.body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_slice(l).unwrap_or_else(|e| panic!("export line not JSON ({e})"))
            })
            .collect()
    }

    /// Instant query (`/api/v1/query`), like [`Prometheus::query`]. Flushes first.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        self.query_with(&[("query", promql)])
    }

    /// Instant query at `time` (Unix seconds): VictoriaMetrics evaluates a query
    /// without `time` at the current whole second, so samples written within the last
    /// second are not counted yet; a time a little ahead counts them.
    pub fn query_at(&self, promql: &str, time: u64) -> Vec<serde_json::Value> {
        self.query_with(&[("query", promql), ("time", &time.to_string())])
    }

    fn query_with(&self, params: &[(&str, &str)]) -> Vec<serde_json::Value> {
        let promql = params[0].1;
        self.force_flush();
        let qs = http::query_string(params);
        let r = http::get(self.url(), &format!("/api/v1/query?{qs}"));
        let v = http::json(&r);
        assert_eq!(
            v["status"],
            "success",
            "vm query {promql}: {}",
            r.body_text()
        );
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}
