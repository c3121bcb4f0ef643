//! The real peers of pimon's inputs, from Debian's packages, started for one test
//! like the servers in [`super::servers`] (127.0.0.1 only, free port, temp dir,
//! killed on drop, a failed start panics with the reason and the apt package).
//!
//! | handle | apt package | binary |
//! |---|---|---|
//! | [`Pushgateway`] | `prometheus-pushgateway` (1.5) | `/usr/bin/prometheus-pushgateway` |
//! | [`NodeExporter`] | `prometheus-node-exporter` (1.5) | `/usr/bin/prometheus-node-exporter` |
//! | [`Collectd`] | `collectd-core` (5.12) | `/usr/sbin/collectd` |
//! | [`Nginx`] | `nginx-light` (1.22) | `/usr/sbin/nginx` |

use std::time::Duration;

use super::http;
use super::servers::{ServerProcess, find_binary, free_port, start_with_retries, status_is};

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
            let args = vec![format!("--web.listen-address=127.0.0.1:{port}")];
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
        let binary = find_binary("prometheus-node-exporter", "prometheus-node-exporter")
            .unwrap_or_else(|e| panic!("{e}"));
        start_with_retries("prometheus-node-exporter", || {
            let port = free_port();
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let args = vec![
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Debian's default textfile directory may hold files of the host.
                "--no-collector.textfile".to_string(),
            ];
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
