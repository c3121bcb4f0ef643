//! Reading a push's request body off the connection: `Content-Length` (refused
//! before reading when over the limit), `Transfer-Encoding: chunked` (decoded,
//! stopped at the limit), `Expect: 100-continue` (answered, as Go's server does, so
//! `curl` sends large bodies at once), all within one deadline. Bytes already read
//! with the head are used first. [`decode_chunked`] is pure and fuzzed with the
//! push target.

use std::time::Duration;

use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::push::{Reply, too_large};

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Reads the body. `buffered` holds bytes read after the head (consumed). The outer
/// error is I/O (drop the connection); the inner one an answer to send.
pub async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buffered: &mut Vec<u8>,
    framing: Framing,
    expect_continue: bool,
    limit: usize,
    timeout: Duration,
) -> std::io::Result<Result<Vec<u8>, Reply>> {
    if let Framing::Length(n) = framing
        && n > limit
    {
        return Ok(Err(too_large(limit)));
    }
    let work = async {
        if expect_continue && framing != Framing::None {
            stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
            stream.flush().await?;
        }
        let mut data = std::mem::take(buffered);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match framing {
                Framing::None => return Ok(Ok(Vec::new())),
                Framing::Length(n) if data.len() >= n => {
                    data.truncate(n);
                    return Ok(Ok(data));
                }
                Framing::Chunked => match decode_chunked(&data, limit) {
                    Chunked::Done(body) => return Ok(Ok(body)),
                    Chunked::TooLarge => return Ok(Err(too_large(limit))),
                    Chunked::Malformed => {
                        return Ok(Err(Reply::error(400, "malformed chunked encoding")));
                    }
                    Chunked::Incomplete => {}
                },
                Framing::Length(_) => {}
            }
            // Chunk framing overhead is bounded: refuse a peer that never ends.
            if data.len() > limit.saturating_mul(2).saturating_add(64 * 1024) {
                return Ok(Err(too_large(limit)));
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            data.extend_from_slice(&chunk[..n]);
        }
    };
    work.or(async {
        smol::Timer::after(timeout).await;
        Err(std::io::ErrorKind::TimedOut.into())
    })
    .await
}

/// The state of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunked {
    /// Complete (trailers skipped): the body.
    Done(Vec<u8>),
    /// More bytes needed.
    Incomplete,
    /// Over the limit.
    TooLarge,
    /// Not chunked encoding.
    Malformed,
}

/// Decodes a chunked body from the start of `data`. Never panics.
pub fn decode_chunked(data: &[u8], limit: usize) -> Chunked {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_end) = find_crlf(&data[pos..]) else {
            return if data.len() - pos > 1024 {
                Chunked::Malformed
            } else {
                Chunked::Incomplete
            };
        };
        let line = &data[pos..pos + line_end];
        let size_text = line.split(|&b| b == b';').next().unwrap_or(&[]);
        let Some(size) = std::str::from_utf8(size_text)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 16)
            .and_then(|s| usize::from_str_radix(s, 16).ok())
        else {
            return Chunked::Malformed;
        };
        pos += line_end + 2;
        if size == 0 {
            // Trailers up to an empty line.
            loop {
                let Some(end) = find_crlf(&data[pos..]) else {
                    return Chunked::Incomplete;
                };
                pos += end + 2;
                if end == 0 {
                    return Chunked::Done(body);
                }
            }
        }
        if body.len().saturating_add(size) > limit {
            return Chunked::TooLarge;
        }
        let Some(chunk) = data.get(pos..pos.saturating_add(size)) else {
            return Chunked::Incomplete;
        };
        body.extend_from_slice(chunk);
        pos += size;
        match data.get(pos..pos + 2) {
            Some(b"\r\n") => pos += 2,
            Some(_) => return Chunked::Malformed,
            None => return Chunked::Incomplete,
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

/// The whole response to a push, as Go's `http.Error` shapes it.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(256 + reply.body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.reason(),
        reply.body.len()
    );
    if !reply.body.is_empty() {
        out.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n",
        );
    }
    for (k, v) in &reply.headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(reply.body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            decode_chunked(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n", 10),
            Chunked::Done(b"abcde".to_vec())
        );
        assert_eq!(decode_chunked(b"3\r\nab", 10), Chunked::Incomplete);
        assert_eq!(
            decode_chunked(b"3\r\nabc\r\n0\r\n", 10),
            Chunked::Incomplete
        );
        assert_eq!(decode_chunked(b"b\r\n", 10), Chunked::TooLarge);
        assert_eq!(decode_chunked(b"zz\r\n", 10), Chunked::Malformed);
        assert_eq!(decode_chunked(b"1\r\nabc", 10), Chunked::Malformed);
        assert_eq!(
            decode_chunked(b"ffffffffffffffffff\r\n", 10),
            Chunked::Malformed
        );
    }

    #[test]
    fn bodies_read_from_a_stream_with_expect_continue() {
        smol::block_on(async {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut a = smol::Async::new(a).unwrap();
            let mut b = smol::Async::new(b).unwrap();
            let mut buffered = b"he".to_vec();
            let writer = async {
                let mut cont = [0u8; 25];
                b.read_exact(&mut cont).await.unwrap();
                assert_eq!(&cont, b"HTTP/1.1 100 Continue\r\n\r\n");
                b.write_all(b"llo").await.unwrap();
            };
            let reader = read_body(
                &mut a,
                &mut buffered,
                Framing::Length(5),
                true,
                100,
                Duration::from_secs(5),
            );
            let (body, ()) = smol::future::zip(reader, writer).await;
            assert_eq!(body.unwrap().unwrap(), b"hello");
        });
        let mut empty = Vec::new();
        let r = smol::block_on(read_body(
            &mut smol::Async::new(std::os::unix::net::UnixStream::pair().unwrap().0).unwrap(),
            &mut empty,
            Framing::Length(101),
            false,
            100,
            Duration::from_secs(1),
        ));
        assert_eq!(r.unwrap().unwrap_err().status, 413);
    }
}
