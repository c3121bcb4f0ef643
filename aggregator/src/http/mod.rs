//! A minimal HTTP/1.1 server for `/metrics`, on smol.
//!
//! - `GET /metrics` (and `HEAD`): the exposition. Prometheus text format 0.0.4
//!   (`text/plain; version=0.0.4; charset=utf-8`), or OpenMetrics 1.0.0 when the
//!   `Accept` header prefers `application/openmetrics-text`; gzip when
//!   `Accept-Encoding` allows it. Streamed a piece at a time, chunked when it takes
//!   more than one piece (the `response` module).
//! - Other pages the provider serves ([`MetricsProvider::page`]: the status page `/`,
//!   `/node/<name>`, `/api/nodes`, see [`crate::status`]); without them `GET /` is a
//!   short help page. Other paths: 404; other methods: 405.
//! - With pushes enabled, `PUT`/`POST`/`DELETE /metrics/job/…`: the Pushgateway API;
//!   the body is read here ([`crate::ingress::http_body`], within the timeout) and the
//!   request handed to [`MetricsProvider::push`].
//! - Keep-alive is supported.
//!
//! Bounded whoever the clients are:
//! - memory: a request head is at most 8 KiB; a response holds one piece of text
//!   (about 64 KiB) and, with gzip, one compressor (about 300 KiB) — whatever the size
//!   of the fleet or the speed of the reader; nothing is kept between responses;
//! - time: a request head must arrive whole within the timeout (a total deadline, not a
//!   per-read one), and each piece of a response must be taken by the client within
//!   the timeout;
//! - connections: at most `max_connections`; a new client never waits behind clients
//!   that only hold a connection open ([`Slots`]).
//!
//! Request parsing ([`parse_request`]) is a pure function that never panics.

mod request;
mod response;
mod slots;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use smol::Async;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use crate::atomic::AtomicU64;
use crate::ingress::http_body;
use crate::log::warning;

pub use request::{
    HttpError, MAX_REQUEST_HEAD, Method, Request, accepts_gzip, negotiate_format, parse_request,
};
pub use response::{MetricsProvider, MetricsResponse, Reply, Scrape, reply, respond};
pub use slots::{Eviction, Slots};

/// Settings of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Time allowed to receive a whole request head (idle time between keep-alive
    /// requests included), and for the client to take each piece of a response.
    pub timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_connections: 64,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of the HTTP server, shown on `/metrics`.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Connections open now.
    pub connections: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Closed because a request head was not complete within the timeout.
    pub head_timeouts: AtomicU64,
    /// Closed because the client did not take a piece of a response within the timeout.
    pub write_timeouts: AtomicU64,
    /// Closed to make room for a new client while waiting for a request head.
    pub evicted_waiting: AtomicU64,
    /// Closed to make room for a new client while answering for longer than the timeout.
    pub evicted_answering: AtomicU64,
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Serves HTTP on `listener` until `shutdown` completes.
pub async fn serve<P: MetricsProvider>(
    listener: Async<TcpListener>,
    config: HttpConfig,
    provider: Arc<P>,
    stats: Arc<HttpStats>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Slots::new(config.max_connections);
    let accept_loop = async {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    warning!("http accept: {e}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = slots
                .take(config.timeout, |why| match why {
                    Eviction::Waiting => inc(&stats.evicted_waiting),
                    Eviction::Answering => inc(&stats.evicted_answering),
                })
                .await;
            inc(&stats.accepted);
            stats.connections.fetch_add(1, Ordering::Relaxed);
            let provider = provider.clone();
            let stats = stats.clone();
            smol::spawn(async move {
                let evicted = slot.evicted.clone();
                let closed = serve_connection(stream, config, &*provider, &slot.phase)
                    .or(async {
                        // The sender is dropped to evict: recv fails.
                        let _ = evicted.recv().await;
                        Closed::Evicted
                    })
                    .await;
                match closed {
                    Closed::HeadTimeout => inc(&stats.head_timeouts),
                    Closed::WriteTimeout => inc(&stats.write_timeouts),
                    Closed::Done | Closed::Evicted => {}
                }
                stats.connections.fetch_sub(1, Ordering::Relaxed);
                drop(slot);
            })
            .detach();
        }
    };
    accept_loop.or(shutdown).await;
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The client closed, asked to close, sent a bad request, or an I/O error.
    Done,
    /// A request head was not complete by its deadline.
    HeadTimeout,
    /// The client did not take a piece of a response in time.
    WriteTimeout,
    /// It gave way to a new client.
    Evicted,
}

/// `Ok(None)` when `deadline` passes first.
async fn before<T>(
    deadline: Instant,
    f: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<Option<T>> {
    async { f.await.map(Some) }
        .or(async {
            smol::Timer::at(deadline).await;
            Ok(None)
        })
        .await
}

/// Writes `bytes`, taking at most `timeout`; false when the client did not take them.
async fn send(
    stream: &mut Async<std::net::TcpStream>,
    bytes: &[u8],
    timeout: Duration,
) -> std::io::Result<bool> {
    Ok(before(Instant::now() + timeout, stream.write_all(bytes))
        .await?
        .is_some())
}

async fn serve_connection<P: MetricsProvider>(
    mut stream: Async<std::net::TcpStream>,
    config: HttpConfig,
    provider: &P,
    phase: &slots::Phase,
) -> Closed {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        // Read one request head, whole, by its deadline.
        phase.waiting();
        let deadline = Instant::now() + config.timeout;
        let request = loop {
            match parse_request(&buf) {
                Ok(Some(r)) => break Ok(r),
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            match before(deadline, stream.read(&mut chunk)).await {
                Ok(Some(0)) | Err(_) => return Closed::Done,
                Ok(Some(n)) => buf.extend_from_slice(&chunk[..n]),
                Ok(None) => return Closed::HeadTimeout,
            }
        };
        phase.answering();
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                let (status, text) = match e {
                    HttpError::BadRequest => ("400 Bad Request", "bad request\n"),
                    HttpError::HeadTooLarge => (
                        "431 Request Header Fields Too Large",
                        "request head too large\n",
                    ),
                };
                let resp = response::simple_response(
                    status,
                    "text/plain; charset=utf-8",
                    text,
                    false,
                    false,
                    &[],
                );
                let _ = send(&mut stream, &resp, config.timeout).await;
                return Closed::Done;
            }
        };
        buf.drain(..request.head_len);
        if let Some(limit) = provider.push_body_limit()
            && matches!(request.method, Method::Put | Method::Post | Method::Delete)
            && request.path.starts_with("/metrics/")
        {
            let answer = match provider.push_precheck(&request) {
                Some(answer) => answer,
                None => {
                    let body = http_body::read_body(
                        &mut stream,
                        &mut buf,
                        request.framing,
                        request.expect_continue,
                        limit,
                        config.timeout,
                    )
                    .await;
                    match body {
                        Ok(Ok(body)) => provider.push(&request, body).await,
                        Ok(Err(answer)) => provider.push_unread(answer),
                        Err(_) => return Closed::Done,
                    }
                }
            };
            let _ = send(
                &mut stream,
                &http_body::encode_reply(&answer),
                config.timeout,
            )
            .await;
            let _ = stream.flush().await;
            return Closed::Done;
        }
        let page =
            if matches!(request.method, Method::Get | Method::Head) && request.path != "/metrics" {
                provider.page(&request.path).await
            } else {
                None
            };
        let keep_alive = match reply(&request, provider, page) {
            Reply::Whole(bytes) => match send(&mut stream, &bytes, config.timeout).await {
                Ok(true) => request.keep_alive,
                Ok(false) => return Closed::WriteTimeout,
                Err(_) => return Closed::Done,
            },
            Reply::Metrics(mut response) => loop {
                // Rendering and compressing run on a blocking thread: they never hold
                // up the executor (ingest runs on it).
                let more;
                (response, more) = smol::unblock(move || {
                    let more = response.advance();
                    (response, more)
                })
                .await;
                match send(&mut stream, response.wire(), config.timeout).await {
                    Ok(true) => {}
                    Ok(false) => return Closed::WriteTimeout,
                    Err(_) => return Closed::Done,
                }
                if !more {
                    break response.keep_alive();
                }
            },
        };
        if !keep_alive {
            return Closed::Done;
        }
    }
}
