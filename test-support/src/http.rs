//! Blocking HTTP helpers for tests, over `pimon_aggregator::http_client`.

use std::time::Duration;

use pimon_aggregator::http_client::{self, HttpUrl, Request, Response, percent_encode};

/// Timeout of one helper request.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends one request to `base` (`http://host:port`) and returns the response, or a
/// readable error. Times out after [`TIMEOUT`].
pub fn request(
    base: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let url = HttpUrl::parse(base).map_err(|e| format!("bad URL {base}: {e}"))?;
    let req = Request {
        method,
        path_and_query,
        headers,
        body,
    };
    smol::block_on(http_client::send(&url, &req, TIMEOUT, 64 * 1024 * 1024))
        .map_err(|e| format!("{method} {base}{path_and_query}: {e}"))
}

/// GET, panicking with context on transport errors.
pub fn get(base: &str, path_and_query: &str) -> Response {
    request(base, "GET", path_and_query, &[], b"").unwrap_or_else(|e| panic!("{e}"))
}

/// POST, panicking with context on transport errors.
pub fn post(base: &str, path_and_query: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    request(base, "POST", path_and_query, headers, body).unwrap_or_else(|e| panic!("{e}"))
}

/// Builds `k1=v1&k2=v2` with percent-encoding.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses a JSON body, panicking with the body on error.
pub fn json(response: &Response) -> serde_json::Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", response.body_text()))
}

/// Like [`request`] with a short timeout, for readiness probes.
pub fn probe(base: &str, path: &str, timeout: Duration) -> Result<Response, String> {
    let url = HttpUrl::parse(base).map_err(|e| format!("bad URL {base}: {e}"))?;
    let req = Request {
        method: "GET",
        path_and_query: path,
        headers: &[],
        body: b"",
    };
    smol::block_on(http_client::send(&url, &req, timeout, 1024 * 1024))
        .map_err(|e| format!("GET {base}{path}: {e}"))
}
