//! `[[scrape]]` targets: the aggregator scrapes Prometheus exporters (apps, routers,
//! node_exporter on boxes that cannot run the collector) like Prometheus and
//! Telegraf's `inputs.prometheus` do, and stores each target's page as one group
//! (`job`, `instance` = the URL's `host:port`, and the target's `labels`), on
//! `/metrics` and in the outputs.
//!
//! - Labels ([`target_labels`]): the target's labels are set on every sample; a
//!   scraped label of the same name is kept as `exported_<name>`, unless
//!   `honor_labels = true`, where the scraped value wins (Prometheus's rules).
//! - Health, as Prometheus adds it: `up` (1 when the page was fetched and parsed),
//!   `scrape_duration_seconds`, `scrape_samples_scraped`. A failed scrape leaves only
//!   those (`up 0`), so stale values do not linger.
//! - The page is parsed by [`super::expo`] (text format 0.0.4, gzip accepted); plain
//!   `http://` only (the client has no TLS: scrape through a local TLS proxy).

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::channel::Receiver;
use smol::future::FutureExt;

use super::config::ScrapeTarget;
use super::expo::{self, Family, Kind, Metric, Value};
use super::groups::{Refusal, Source};
use super::pushpath::GroupingKey;
use super::runtime::{Ingress, StoreError};
use super::stats::ScrapeResult;
use crate::http_client::{self, HttpUrl, Request, base64_encode};
use crate::log::{notice, warning};
use crate::server::now_ms;

/// The `Accept` header: the text format this parser reads.
pub const ACCEPT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

/// The grouping labels of a target: `job`, `instance`, then its own labels.
pub fn grouping_key(target: &ScrapeTarget) -> GroupingKey {
    let mut key = GroupingKey::new();
    if let Ok(url) = HttpUrl::parse(&target.url) {
        key.insert("instance".into(), url.host_header());
    }
    key.insert("job".into(), target.job.clone());
    for (k, v) in &target.labels {
        key.insert(k.clone(), v.clone());
    }
    key
}

/// Sets the target's labels on every metric of `families` (see the module docs).
pub fn target_labels(families: &mut [Family], key: &GroupingKey, honor_labels: bool) {
    for f in families {
        for m in &mut f.metrics {
            for (k, v) in key {
                match m.labels.iter().position(|(n, _)| n == k) {
                    Some(_) if honor_labels => {}
                    Some(i) => {
                        let exported = format!("exported_{k}");
                        m.labels[i].0 = exported.clone();
                        m.labels.push((k.clone(), v.clone()));
                    }
                    None => m.labels.push((k.clone(), v.clone())),
                }
            }
            m.labels.retain(|(_, v)| !v.is_empty());
            m.labels.sort();
            m.labels.dedup_by(|a, b| a.0 == b.0);
        }
    }
}

fn gauge(name: &str, help: &str, key: &GroupingKey, value: f64) -> Family {
    Family {
        name: name.into(),
        help: Some(help.into()),
        kind: Kind::Gauge,
        metrics: vec![Metric {
            labels: key.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            value: Value::Scalar(value),
            timestamp_ms: None,
        }],
    }
}

/// The synthesized health families.
pub fn health(key: &GroupingKey, up: bool, duration: Duration, samples: usize) -> Vec<Family> {
    vec![
        gauge(
            "up",
            "1 when the target was scraped and its page parsed, else 0.",
            key,
            f64::from(u8::from(up)),
        ),
        gauge(
            "scrape_duration_seconds",
            "Duration of the scrape.",
            key,
            duration.as_secs_f64(),
        ),
        gauge(
            "scrape_samples_scraped",
            "Samples the target exposed.",
            key,
            samples as f64,
        ),
    ]
}

/// Why a scrape failed.
#[derive(Debug)]
enum Failure {
    Fetch(String),
    Parse(String),
}

async fn fetch(target: &ScrapeTarget) -> Result<Vec<u8>, Failure> {
    let url = HttpUrl::parse(&target.url).map_err(|e| Failure::Fetch(e.to_string()))?;
    let auth = match (&target.bearer_token, &target.basic_auth) {
        (Some(t), _) => Some(format!("Bearer {t}")),
        (None, Some(u)) => Some(format!("Basic {}", base64_encode(u.as_bytes()))),
        (None, None) => None,
    };
    let mut headers: Vec<(&str, &str)> = vec![
        ("Accept", ACCEPT),
        ("Accept-Encoding", "gzip"),
        ("User-Agent", "pimon-aggregator"),
    ];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let path = if url.prefix.is_empty() { "/" } else { "" };
    let req = Request {
        method: "GET",
        path_and_query: path,
        headers: &headers,
        body: b"",
    };
    let response = http_client::send(&url, &req, target.timeout, target.max_body_bytes + 4096)
        .await
        .map_err(|e| Failure::Fetch(e.to_string()))?;
    if response.status != 200 {
        return Err(Failure::Fetch(format!("HTTP status {}", response.status)));
    }
    if response
        .header("content-encoding")
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"))
    {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&response.body[..])
            .take(target.max_body_bytes as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Failure::Fetch(format!("gzip: {e}")))?;
        if out.len() > target.max_body_bytes {
            return Err(Failure::Fetch("page over max_body_bytes".into()));
        }
        return Ok(out);
    }
    Ok(response.body)
}

/// Scrapes `target` once and stores the result; returns what became of it.
pub async fn scrape_once(inputs: &Ingress, target: &ScrapeTarget) -> ScrapeResult {
    scrape_and_say(inputs, target).await.0
}

/// [`scrape_once`], with the reason of a failure.
async fn scrape_and_say(inputs: &Ingress, target: &ScrapeTarget) -> (ScrapeResult, String) {
    let key = grouping_key(target);
    let start = Instant::now();
    let now = now_ms();
    let page = fetch(target).await;
    let parsed = page.and_then(|p| expo::parse(&p).map_err(|e| Failure::Parse(e.to_string())));
    let duration = start.elapsed();
    let mut why = String::new();
    let (mut families, result) = match parsed {
        Ok(mut families) => {
            target_labels(&mut families, &key, target.honor_labels);
            let samples = families
                .iter()
                .flat_map(|f| &f.metrics)
                .map(|m| m.value.sample_count())
                .sum();
            let mut all = health(&key, true, duration, samples);
            // A page's own `up` would clash with the health family: Prometheus drops it too.
            families.retain(|f| {
                !matches!(
                    &*f.name,
                    "up" | "scrape_duration_seconds" | "scrape_samples_scraped"
                )
            });
            all.append(&mut families);
            (all, ScrapeResult::Ok)
        }
        Err(Failure::Fetch(e)) => {
            why = e;
            (health(&key, false, duration, 0), ScrapeResult::Failed)
        }
        Err(Failure::Parse(e)) => {
            why = e;
            (health(&key, false, duration, 0), ScrapeResult::ParseError)
        }
    };
    families.sort_by(|a, b| a.name.cmp(&b.name));
    match inputs
        .replace_group(&key, Source::Scrape, families, now as i64, now)
        .await
    {
        Ok(dropped) => {
            if dropped > 0 {
                inputs
                    .stats()
                    .scrape_families_dropped
                    .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
            }
            (result, why)
        }
        Err(StoreError::Limit(Refusal::Invalid(e))) => (ScrapeResult::Limit, e),
        Err(StoreError::Limit(r)) => (ScrapeResult::Limit, format!("refused by a limit ({r:?})")),
        Err(StoreError::Outputs(e)) => (ScrapeResult::OutputsRefused, e),
    }
}

/// Scrapes target `index` of the config every interval until `stop` closes.
pub async fn run(inputs: Arc<Ingress>, index: usize, stop: Receiver<()>) {
    let Some(target) = inputs.config().scrape.get(index).cloned() else {
        return;
    };
    // Spread the targets over the interval, as Prometheus does.
    let offset = target.interval.mul_f64(fastrand::f64());
    let stopped = async {
        let _ = stop.recv().await;
        true
    };
    let mut next = Instant::now() + offset;
    let mut last = ScrapeResult::Ok;
    let work = async {
        loop {
            smol::Timer::at(next).await;
            next += target.interval;
            let (result, why) = scrape_and_say(&inputs, &target).await;
            inputs.stats().scrape(result);
            // One line when a target goes down (or fails differently) and one when it
            // is back: a dead target does not fill the journal.
            if result != last {
                match result {
                    ScrapeResult::Ok => {
                        notice!("scrape {}: up again", target.url)
                    }
                    r => warning!(
                        "scrape {}: {} ({why}); logged again when it changes",
                        target.url,
                        r.label()
                    ),
                }
                last = result;
            }
            let now = Instant::now();
            if next < now {
                next = now + target.interval;
            }
        }
    };
    let _ = work.or(stopped).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> GroupingKey {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn labels(f: &Family) -> Vec<(String, String)> {
        f.metrics[0].labels.clone()
    }

    #[test]
    fn target_labels_win_unless_honor_labels() {
        let page = b"a{instance=\"app-7\",x=\"1\"} 1\n";
        let k = key(&[("instance", "10.0.0.1:9100"), ("job", "apps")]);
        let mut f = expo::parse(page).unwrap();
        target_labels(&mut f, &k, false);
        assert_eq!(
            labels(&f[0]),
            key(&[
                ("exported_instance", "app-7"),
                ("instance", "10.0.0.1:9100"),
                ("job", "apps"),
                ("x", "1")
            ])
            .into_iter()
            .collect::<Vec<_>>()
        );
        let mut f = expo::parse(page).unwrap();
        target_labels(&mut f, &k, true);
        assert_eq!(
            labels(&f[0]),
            key(&[("instance", "app-7"), ("job", "apps"), ("x", "1")])
                .into_iter()
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn grouping_key_of_a_target() {
        let t = ScrapeTarget {
            url: "http://127.0.0.1:9100/metrics".into(),
            job: "node".into(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            labels: vec![("site".into(), "attic".into())],
            honor_labels: false,
            bearer_token: None,
            basic_auth: None,
            max_body_bytes: 1 << 20,
        };
        assert_eq!(
            grouping_key(&t),
            key(&[
                ("instance", "127.0.0.1:9100"),
                ("job", "node"),
                ("site", "attic")
            ])
        );
    }
}
