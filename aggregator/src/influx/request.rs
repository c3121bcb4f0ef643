//! Building the write request for an InfluxDB output: target path and query, headers,
//! and the (optionally gzipped) body.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::http_client::{base64_encode, percent_encode};
use crate::influx::config::{InfluxApi, InfluxConfig};

/// The parts of a write request that do not change between batches.
#[derive(Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// Path and query, e.g. `/write?db=pimon&precision=ns`.
    pub path_and_query: String,
    /// Headers, e.g. `Authorization`, `Content-Type`, `Content-Encoding`.
    pub headers: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for WriteTarget {
    // Never print credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTarget")
            .field("path", &self.path_and_query.split('?').next().unwrap_or(""))
            .finish_non_exhaustive()
    }
}

impl WriteTarget {
    /// Computes the target of `config`.
    pub fn new(config: &InfluxConfig) -> WriteTarget {
        let mut headers: Vec<(&'static str, String)> = vec![
            (
                "User-Agent",
                concat!("pimon-aggregator/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
            ("Content-Type", "text/plain; charset=utf-8".to_string()),
        ];
        if config.gzip {
            headers.push(("Content-Encoding", "gzip".to_string()));
        }
        let path_and_query = match &config.api {
            InfluxApi::V1 {
                db,
                rp,
                user,
                password,
                basic_auth,
            } => {
                let mut q = format!("/write?db={}", percent_encode(db));
                if let Some(rp) = rp.as_deref().filter(|rp| !rp.is_empty()) {
                    q.push_str(&format!("&rp={}", percent_encode(rp)));
                }
                q.push_str(&format!("&precision={}", config.precision.v1_param()));
                if let (Some(u), Some(p)) = (user, password) {
                    if *basic_auth {
                        headers.push((
                            "Authorization",
                            format!("Basic {}", base64_encode(format!("{u}:{p}").as_bytes())),
                        ));
                    } else {
                        q.push_str(&format!("&u={}&p={}", percent_encode(u), percent_encode(p)));
                    }
                }
                q
            }
            InfluxApi::V2 { org, bucket, token } => {
                if !token.is_empty() {
                    headers.push(("Authorization", format!("Token {token}")));
                }
                format!(
                    "/api/v2/write?org={}&bucket={}&precision={}",
                    percent_encode(org),
                    percent_encode(bucket),
                    config.precision.as_str()
                )
            }
        };
        WriteTarget {
            path_and_query,
            headers,
        }
    }
}

/// The request body for `lines`: gzip (level 6 — fast, and line protocol compresses
/// about 10:1) or as is.
pub fn encode_body(lines: &[u8], gzip: bool) -> Vec<u8> {
    if !gzip {
        return lines.to_vec();
    }
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(lines.len() / 4 + 64),
        Compression::new(6),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(lines);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influx::config::Precision;
    use std::io::Read;

    #[test]
    fn v1_target_with_query_credentials() {
        let mut c = InfluxConfig::v1("http://h:8086", "my db", "/tmp/x");
        c.api = InfluxApi::V1 {
            db: "my db".into(),
            rp: Some("one&two".into()),
            user: Some("u".into()),
            password: Some("p=w".into()),
            basic_auth: false,
        };
        c.precision = Precision::Seconds;
        let t = WriteTarget::new(&c);
        assert_eq!(
            t.path_and_query,
            "/write?db=my%20db&rp=one%26two&precision=s&u=u&p=p%3Dw"
        );
        assert!(t.headers.contains(&("Content-Encoding", "gzip".into())));
        assert!(!t.headers.iter().any(|(n, _)| *n == "Authorization"));
        assert!(!format!("{t:?}").contains("p%3Dw"));
    }

    #[test]
    fn v1_basic_auth_and_v2_token() {
        let mut c = InfluxConfig::v1("http://h:8086", "db", "/tmp/x");
        c.gzip = false;
        c.api = InfluxApi::V1 {
            db: "db".into(),
            rp: None,
            user: Some("user".into()),
            password: Some("pass".into()),
            basic_auth: true,
        };
        let t = WriteTarget::new(&c);
        assert_eq!(t.path_and_query, "/write?db=db&precision=ns");
        assert!(
            t.headers
                .contains(&("Authorization", "Basic dXNlcjpwYXNz".into()))
        );
        assert!(!t.headers.iter().any(|(n, _)| *n == "Content-Encoding"));
        let mut c = InfluxConfig::v2("http://h:8086", "org", "buck/et", "tok", "/tmp/x");
        c.precision = Precision::Microseconds;
        let t = WriteTarget::new(&c);
        assert_eq!(
            t.path_and_query,
            "/api/v2/write?org=org&bucket=buck%2Fet&precision=us"
        );
        assert!(t.headers.contains(&("Authorization", "Token tok".into())));
    }

    #[test]
    fn gzip_body_round_trips() {
        let lines = b"cpu,host=a v=1i 1\ncpu,host=b v=2i 1\n";
        let gz = encode_body(lines, true);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, lines);
        assert_eq!(encode_body(lines, false), lines);
    }
}
