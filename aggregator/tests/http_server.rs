//! The HTTP server of a running aggregator: content types for text 0.0.4 and
//! OpenMetrics, gzip, HEAD, keep-alive, 404/405/400, the help page.

mod frames;
mod running;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use frames::Frame;
use pimon_aggregator::server::now_ms;
use running::{Running, client, get, http_raw, local_config, send_for_ack};

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn started() -> Running {
    let server = Running::start(local_config());
    send_for_ack(&client(), server.udp, &Frame::pi("pi").at(now_ms()).bytes());
    server
}

#[test]
fn text_format_content_type_and_length() {
    let server = started();
    let (head, body) = get(server.http, "/metrics", "");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        header(&head, "content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("node_load1{instance=\"pi\"} 0.25\n")
    );
}

#[test]
fn openmetrics_when_the_scraper_asks_for_it() {
    let server = started();
    // What Prometheus 2.x sends.
    let accept = "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let (head, body) = get(server.http, "/metrics", accept);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = String::from_utf8(body).unwrap();
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn gzip_when_accepted() {
    let server = started();
    let (plain_head, plain) = get(server.http, "/metrics", "");
    let (head, body) = get(server.http, "/metrics", "Accept-Encoding: gzip\r\n");
    assert_eq!(header(&head, "content-encoding"), Some("gzip"));
    assert_eq!(header(&plain_head, "content-encoding"), None);
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    // Same exposition apart from the figures that move with each scrape.
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("pimon_aggregator_"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&unzipped),
        strip(std::str::from_utf8(&plain).unwrap())
    );
}

#[test]
fn head_404_405_400_and_help_page() {
    let server = started();
    let (head, body) = http_raw(
        server.http,
        "HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(body.is_empty());
    assert_ne!(header(&head, "content-length"), Some("0"));
    let (head, _) = get(server.http, "/nope", "");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    let (head, _) = http_raw(
        server.http,
        "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 405 "), "{head}");
    assert_eq!(header(&head, "allow"), Some("GET, HEAD"));
    let (head, _) = http_raw(server.http, "garbage\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    let (head, body) = get(server.http, "/", "");
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("honor_labels: true")
    );
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = started();
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for _ in 0..3 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        assert_eq!(header(&head, "connection"), Some("keep-alive"));
    }
}

#[test]
fn a_silent_client_is_dropped_after_the_timeout() {
    let mut config = local_config();
    config.http_config.timeout = Duration::from_millis(300);
    let server = Running::start(config);
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metr").unwrap();
    let mut buf = Vec::new();
    // The server closes the connection without answering.
    assert_eq!(s.read_to_end(&mut buf).unwrap(), 0);
}
