//! Pushes as users send them: real `curl` (large node_exporter bodies with
//! `Expect: 100-continue`, gzip, bearer and basic credentials, the body limit,
//! DELETE), and through the documented TLS reverse proxy (`deploy/nginx/pimon-tls.conf`
//! run by a real nginx with a self-signed certificate).

mod running;
use pimon_test_support as support;

use std::io::Write;
use std::process::Command;

use running::{Running, local_config};
use support::http;
use support::peers::{Nginx, NodeExporter, curl};

fn pushed_value(page: &str, series_start: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(series_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn curl_pushes_node_exporter_pages_with_credentials_gzip_and_limits() {
    let node = NodeExporter::start();
    let page = node.page();
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("page.txt");
    std::fs::write(&body, &page).unwrap();
    let gz = dir.path().join("page.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&page).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, page.repeat(3)).unwrap();

    let mut config = local_config();
    config.ingress.push.enabled = true;
    config.ingress.push.bearer_tokens = vec!["s3cret".into()];
    config.ingress.push.basic_auth = vec!["edge:pa:ss".into()];
    config.ingress.push.max_body_bytes = page.len() * 2;
    let pimon = Running::start(config);
    let url = format!("http://{}/metrics/job/edge/instance/e1", pimon.http);
    let at = |f: &std::path::Path| format!("@{}", f.display());

    let (status, text) = curl(&["-X", "PUT", "--data-binary", &at(&body), &url]);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("WWW-Authenticate: Basic"), "{text}");
    let (status, text) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Authorization: Bearer wrong",
        "--data-binary",
        &at(&body),
        &url,
    ]);
    assert_eq!(status, 401, "{text}");

    let (status, text) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Authorization: Bearer s3cret",
        "--data-binary",
        &at(&body),
        &url,
    ]);
    assert_eq!(status, 200, "{text}");
    assert!(
        page.len() > 1024,
        "large enough for curl to send Expect: 100-continue"
    );

    let exposition = http::get(&format!("http://{}", pimon.http), "/metrics").body_text();
    let source = String::from_utf8_lossy(&page);
    let sample = source
        .lines()
        .find(|l| l.starts_with("node_boot_time_seconds "))
        .expect("node_exporter exports node_boot_time_seconds");
    let expected: f64 = sample.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        pushed_value(
            &exposition,
            "node_boot_time_seconds{instance=\"e1\",job=\"edge\"}"
        ),
        Some(expected),
        "the pushed value is served with the grouping labels"
    );
    assert_eq!(
        exposition.matches("# TYPE node_boot_time_seconds ").count(),
        1,
        "one TYPE per family"
    );

    let url2 = format!("http://{}/metrics/job/edge/instance/e2", pimon.http);
    let (status, text) = curl(&[
        "-X",
        "POST",
        "-u",
        "edge:pa:ss",
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &at(&gz),
        &url2,
    ]);
    assert_eq!(status, 200, "{text}");
    let exposition = http::get(&format!("http://{}", pimon.http), "/metrics").body_text();
    assert!(exposition.contains("node_boot_time_seconds{instance=\"e2\",job=\"edge\"}"));

    let (status, text) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Authorization: Bearer s3cret",
        "--data-binary",
        &at(&big),
        &url,
    ]);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("push.max_body_bytes"), "{text}");

    let (status, text) = curl(&["-X", "DELETE", "-H", "Authorization: Bearer s3cret", &url]);
    assert_eq!(status, 202, "{text}");
    let exposition = http::get(&format!("http://{}", pimon.http), "/metrics").body_text();
    assert!(
        !exposition.contains("instance=\"e1\",job=\"edge\""),
        "deleted"
    );
    assert!(
        exposition.contains("pimon_push_requests_total{result=\"unauthorized\"} 2"),
        "{exposition}"
    );
    assert!(exposition.contains("pimon_push_requests_total{result=\"body_too_large\"} 1"));
    assert!(exposition.contains("pimon_push_requests_total{result=\"ok\"} 2"));
    pimon.stop().unwrap();
}

#[test]
fn pushes_through_the_documented_nginx_tls_proxy() {
    let mut config = local_config();
    config.ingress.push.enabled = true;
    config.ingress.push.bearer_tokens = vec!["s3cret".into()];
    let pimon = Running::start(config);
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let openssl = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian package openssl) runs");
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );

    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/pimon-tls.conf"
    ))
    .expect("deploy/nginx/pimon-tls.conf");
    let upstream = pimon.http.to_string();
    let nginx = Nginx::start(|dir, port| {
        let block = example
            .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port} ssl;"))
            .replace("listen [::]:443 ssl;", "")
            .replace("/etc/ssl/pimon/cert.pem", &cert.display().to_string())
            .replace("/etc/ssl/pimon/key.pem", &key.display().to_string())
            .replace("127.0.0.1:9798", &upstream);
        let d = dir.display();
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nmaster_process off;\nevents {{}}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             {block}\n}}\n"
        )
    });
    let base = format!("https://localhost:{}", nginx.server.port);
    let resolve = format!("localhost:{}:127.0.0.1", nginx.server.port);
    let cacert = cert.display().to_string();
    let tls = ["--cacert", &cacert, "--resolve", &resolve];
    let url = format!("{base}/metrics/job@base64/dGxzL2pvYg/instance/x");

    let (status, text) = curl(
        &[
            &tls[..],
            &["-X", "PUT", "--data-binary", "tls_pushed 42\n", &url],
        ]
        .concat(),
    );
    assert_eq!(
        status, 401,
        "no token, refused by pimon behind the proxy: {text}"
    );
    let (status, text) = curl(
        &[
            &tls[..],
            &[
                "-X",
                "PUT",
                "-H",
                "Authorization: Bearer s3cret",
                "--data-binary",
                "tls_pushed 42\n",
                &url,
            ],
        ]
        .concat(),
    );
    assert_eq!(status, 200, "{text}");
    let (status, text) = curl(&[&tls[..], &[&format!("{base}/metrics")[..]]].concat());
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("tls_pushed{instance=\"x\",job=\"tls/job\"} 42\n"),
        "{text}"
    );
    let (status, _) = curl(&[
        "--max-time",
        "5",
        &format!("http://127.0.0.1:{}/metrics", nginx.server.port),
    ]);
    assert_eq!(
        status, 400,
        "plain HTTP to the TLS port is refused by nginx"
    );
    drop(nginx);
    pimon.stop().unwrap();
}
