//! The real peers of pimon's inputs, from Debian's packages, started for one test
//! like the servers in [`crate::servers`] (127.0.0.1 only, free port, temp dir,
//! killed on drop, a failed start panics with the reason and the apt package).
//!
//! | handle | apt package | binary |
//! |---|---|---|
//! | [`Pushgateway`] | `prometheus-pushgateway` (1.5) | `/usr/bin/prometheus-pushgateway` |
//! | [`NodeExporter`] | `prometheus-node-exporter` (1.5) | `/usr/bin/prometheus-node-exporter` |
//! | [`Collectd`] | `collectd-core` (5.12) | `/usr/sbin/collectd` |
//! | [`Nginx`] | `nginx-light` (1.22) | `/usr/sbin/nginx` |

use std::time::Duration;

use crate::http;
use crate::servers::{ServerProcess, find_binary, free_port, start_with_retries, status_is};

/// A running `prometheus-pushgateway` (no persistence file).
pub struct Pushgateway {
    /// The process; `server.base_url` is its API.
    pub server: ServerProcess,
}

impl Pushgateway {
    /// Starts one and waits for `/-/ready`.
    pub fn start() -> Pushgateway {
        let binary = find_binary("prometheus-pushgateway", "prometheus-pushgateway")
            .unwrap_or_else(|e| panic!("{e}"));
        start_with_retries("prometheus-pushgateway", || {
            let port = free_port();
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            // Debian's build persists to /var/lib/prometheus/pushgateway.data by
            // default and restores it at start: keep this one's state in its temp dir.
            let args = vec![
                format!("--web.listen-address=127.0.0.1:{port}"),
                format!(
                    "--persistence.file={}/pushgateway.data",
                    dir.path().display()
                ),
            ];
            let mut server =
                ServerProcess::spawn("prometheus-pushgateway", &binary, &args, dir, port);
            server.wait_ready(|base| status_is(base, "/-/ready", 200))?;
            Ok(Pushgateway { server })
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.base_url
    }
}

/// A running `prometheus-node-exporter`.
pub struct NodeExporter {
    /// The process; `server.base_url` serves `/metrics`.
    pub server: ServerProcess,
}

impl NodeExporter {
    /// Starts one with its default collectors and waits for `/metrics`.
    pub fn start() -> NodeExporter {
        // Debian's default textfile directory may hold files of the host.
        NodeExporter::start_with(&["--no-collector.textfile"])
    }

    /// Starts one with `flags` (besides the listen address) and waits for `/metrics`:
    /// `--path.procfs DIR --collector.disable-defaults --collector.netstat …` reads a
    /// fixture tree with chosen collectors.
    pub fn start_with(flags: &[&str]) -> NodeExporter {
        NodeExporter::start_with_env(&[], flags)
    }

    /// As [`NodeExporter::start_with`], with `env` (`("TZ", "/path/zone")`) added to its
    /// environment (run through `env(1)`).
    pub fn start_with_env(env: &[(&str, &str)], flags: &[&str]) -> NodeExporter {
        let node_exporter = find_binary("prometheus-node-exporter", "prometheus-node-exporter")
            .unwrap_or_else(|e| panic!("{e}"));
        let (binary, leading) = if env.is_empty() {
            (node_exporter, Vec::new())
        } else {
            let env_binary = find_binary("env", "coreutils").unwrap_or_else(|e| panic!("{e}"));
            let mut leading: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            leading.push(node_exporter.display().to_string());
            (env_binary, leading)
        };
        start_with_retries("prometheus-node-exporter", || {
            let port = free_port();
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let mut args = leading.clone();
            args.push(format!("--web.listen-address=127.0.0.1:{port}"));
            args.extend(flags.iter().map(|f| f.to_string()));
            let mut server =
                ServerProcess::spawn("prometheus-node-exporter", &binary, &args, dir, port);
            server.wait_ready(|base| status_is(base, "/metrics", 200))?;
            Ok(NodeExporter { server })
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.server.base_url
    }

    /// One page of `/metrics`.
    pub fn page(&self) -> Vec<u8> {
        let r = http::get(self.url(), "/metrics");
        assert_eq!(r.status, 200, "node_exporter /metrics: {}", r.body_text());
        r.body
    }
}

/// How long to wait for a peer that is not an HTTP server.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// `nginx` running one config (the TLS proxy of `deploy/nginx/pimon-tls.conf`).
pub struct Nginx {
    /// The process; `server.port` is its TLS port.
    pub server: ServerProcess,
}

impl Nginx {
    /// Runs `nginx -c <dir>/nginx.conf` where `config(dir, port)` writes the config
    /// text; waits until the port accepts connections.
    pub fn start(config: impl Fn(&std::path::Path, u16) -> String) -> Nginx {
        let binary = find_binary("nginx", "nginx-light").unwrap_or_else(|e| panic!("{e}"));
        start_with_retries("nginx", || {
            let port = free_port();
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, config(dir.path(), port)).map_err(|e| e.to_string())?;
            let args = vec![
                "-p".to_string(),
                dir.path().display().to_string(),
                "-c".to_string(),
                conf.display().to_string(),
                "-g".to_string(),
                "daemon off;".to_string(),
            ];
            let mut server = ServerProcess::spawn("nginx", &binary, &args, dir, port);
            server.wait_ready(|_| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())?;
            Ok(Nginx { server })
        })
    }
}

/// Runs `curl -sS` with `args`, returning (HTTP status, headers and body as text).
/// Panics when curl is missing or cannot run.
pub fn curl(args: &[&str]) -> (u16, String) {
    let binary = find_binary("curl", "curl").unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(binary)
        .args(["-sS", "-i", "--max-time", "30"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last status line (after a `100 Continue`, the real one).
    let status = text
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A `collectd` daemon sending with its `network` plugin to pimon and writing
/// every value with its `csv` plugin (`StoreRates false`: raw counters), every second.
pub struct Collectd {
    /// The process (`server.port` is unused).
    pub server: ServerProcess,
    /// The `csv` plugin's data directory (`<csv>/<host>/<plugin>-<instance>/…`).
    pub csv: std::path::PathBuf,
}

/// How a [`Collectd`] signs or encrypts.
#[derive(Clone, Copy, Debug)]
pub struct Sender<'a> {
    /// `Hostname`.
    pub host: &'a str,
    /// `SecurityLevel` of its `<Server>` (`None`, `Sign`, `Encrypt`).
    pub level: &'a str,
    /// `Username`/`Password` (when signing or encrypting).
    pub user: &'a str,
    /// See `user`.
    pub password: &'a str,
}

impl Collectd {
    /// Starts collectd sending to `127.0.0.1:port` as `sender` says, with the
    /// plugins cpu, memory, load, interface, uptime, df, disk, processes, conntrack.
    pub fn start(port: u16, sender: Sender<'_>) -> Collectd {
        let binary = find_binary("collectd", "collectd-core").unwrap_or_else(|e| panic!("{e}"));
        // collectd's csv plugin refuses paths with a component starting with a dot,
        // which tempfile's default names do.
        let dir = tempfile::Builder::new()
            .prefix("pimon-collectd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().display().to_string();
        let csv = dir.path().join("csv");
        let credentials = if sender.level == "None" {
            String::new()
        } else {
            format!(
                "    Username \"{}\"\n    Password \"{}\"\n",
                sender.user, sender.password
            )
        };
        let mut config = format!(
            "Hostname \"{host}\"\nFQDNLookup false\nBaseDir \"{d}\"\nPIDFile \"{d}/collectd.pid\"\n\
             PluginDir \"/usr/lib/collectd\"\nTypesDB \"/usr/share/collectd/types.db\"\nInterval 1\n\
             LoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n  File STDOUT\n</Plugin>\n",
            host = sender.host
        );
        for p in [
            "cpu",
            "memory",
            "load",
            "interface",
            "uptime",
            "df",
            "disk",
            "processes",
            "conntrack",
            "network",
            "csv",
        ] {
            config.push_str(&format!("LoadPlugin {p}\n"));
        }
        config.push_str(&format!(
            "<Plugin network>\n  <Server \"127.0.0.1\" \"{port}\">\n    SecurityLevel {}\n{credentials}  </Server>\n</Plugin>\n\
             <Plugin csv>\n  DataDir \"{}\"\n  StoreRates false\n</Plugin>\n",
            sender.level,
            csv.display()
        ));
        let conf = dir.path().join("collectd.conf");
        std::fs::write(&conf, config).expect("write collectd.conf");
        let args = vec![
            "-f".to_string(),
            "-C".to_string(),
            conf.display().to_string(),
        ];
        let mut server = ServerProcess::spawn("collectd", &binary, &args, dir, 0);
        let host_dir = csv.join(sender.host);
        server
            .wait_ready(|_| host_dir.join("load").is_dir())
            .unwrap_or_else(|e| panic!("collectd: {e}"));
        Collectd { server, csv }
    }

    /// The rows of a csv file (`<host>/<plugin dir>/<type file prefix>-<date>`): the
    /// epoch and the values.
    pub fn rows(&self, host: &str, dir: &str, prefix: &str) -> Vec<(f64, Vec<f64>)> {
        let d = self.csv.join(host).join(dir);
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(&d) else {
            return rows;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix(prefix))
                    .is_some_and(|rest| {
                        rest.starts_with('-') && rest[1..].starts_with(|c: char| c.is_ascii_digit())
                    })
            })
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for line in text.lines().skip(1) {
                let mut cols = line.split(',').map(|c| c.parse::<f64>());
                let Some(Ok(epoch)) = cols.next() else {
                    continue;
                };
                let values: Result<Vec<f64>, _> = cols.collect();
                if let Ok(values) = values {
                    rows.push((epoch, values));
                }
            }
        }
        rows
    }
}
