//! The minimal HTTP/1.1 client against raw sockets on 127.0.0.1:0: exact request bytes,
//! chunked and Content-Length responses, servers that keep the connection open,
//! timeouts and refused connections: the transport of the InfluxDB output.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use pimon_aggregator::http_client::{HttpError, HttpUrl, Request, send};

/// Accepts one connection, reads the request (up to the end of [`BODY`]), writes `reply`,
/// then keeps the connection open for `hold` before closing. Returns the URL and the
/// received bytes.
fn one_shot(reply: &'static [u8], hold: Duration) -> (String, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.ends_with(BODY) {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "client closed early");
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(reply).unwrap();
        thread::sleep(hold);
        got
    });
    (url, handle)
}

const BODY: &[u8] = b"m v=1i 1\n";

fn request() -> Request<'static> {
    Request {
        method: "POST",
        path_and_query: "/write?db=x",
        headers: &[("Authorization", "Token t")],
        body: BODY,
    }
}

fn expected_request(port: &str) -> Vec<u8> {
    let mut v = format!(
        "POST /write?db=x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Token t\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    v.extend_from_slice(BODY);
    v
}

#[test]
fn sends_exact_bytes_and_reads_a_chunked_reply_without_waiting_for_close() {
    let reply = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n{\"a\":1}\r\n0\r\n\r\n";
    let (url, server) = one_shot(reply, Duration::from_secs(3));
    let port = url.rsplit(':').next().unwrap().to_string();
    let started = Instant::now();
    let r = smol::block_on(send(
        &HttpUrl::parse(&url).unwrap(),
        &request(),
        Duration::from_secs(10),
        1 << 20,
    ))
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "complete response returned before the server closed"
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.body, b"{\"a\":1}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(server.join().unwrap(), expected_request(&port));
}

#[test]
fn content_length_reply_from_a_server_that_keeps_the_connection_open() {
    let (url, server) = one_shot(
        b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n",
        Duration::from_secs(5),
    );
    let started = Instant::now();
    let r = smol::block_on(send(
        &HttpUrl::parse(&url).unwrap(),
        &request(),
        Duration::from_secs(10),
        1 << 20,
    ))
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    server.join().unwrap();
}

#[test]
fn silent_server_times_out_and_closed_port_is_a_connect_error() {
    let (url, server) = one_shot(b"", Duration::from_secs(2));
    let started = Instant::now();
    let e = smol::block_on(send(
        &HttpUrl::parse(&url).unwrap(),
        &request(),
        Duration::from_millis(300),
        1 << 20,
    ))
    .unwrap_err();
    assert!(matches!(e, HttpError::Timeout), "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
    server.join().unwrap();

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = smol::block_on(send(&url, &request(), Duration::from_secs(5), 1 << 20)).unwrap_err();
    assert!(matches!(e, HttpError::Connect(_)), "{e}");
}

#[test]
fn oversized_and_garbage_replies_are_errors() {
    static BIG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let big = BIG.get_or_init(|| {
        let mut v = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        v.extend(std::iter::repeat_n(b'x', 100_000));
        v
    });
    let (url, server) = one_shot(big, Duration::ZERO);
    let e = smol::block_on(send(
        &HttpUrl::parse(&url).unwrap(),
        &request(),
        Duration::from_secs(5),
        10_000,
    ))
    .unwrap_err();
    assert!(matches!(e, HttpError::TooLarge), "{e}");
    let _ = server.join();

    let (url, server) = one_shot(b"SSH-2.0-OpenSSH\r\n\r\n", Duration::ZERO);
    let e = smol::block_on(send(
        &HttpUrl::parse(&url).unwrap(),
        &request(),
        Duration::from_secs(5),
        1 << 20,
    ))
    .unwrap_err();
    assert!(matches!(e, HttpError::Malformed(_)), "{e}");
    server.join().unwrap();
}
