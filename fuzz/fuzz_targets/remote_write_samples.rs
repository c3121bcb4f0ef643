//! A remote write output's spool records (`pimon_aggregator::remote_write::samples`)
//! turned into a request (`remote_write::proto`), and request bodies decoded
//! (`proto::decode`, what a receiver or a test reads).
//!
//! Input: the bytes as a spool record (lines split at `\n`), and the same bytes as a
//! request body.
//!
//! Properties beyond "no panic":
//! - a line the parser accepts goes into the request, one sample per line, and a line
//!   it refuses leaves the request unchanged;
//! - every series of the request has `__name__` with a valid metric name, valid label
//!   names, no empty value, no name twice, names sorted;
//! - a parsed sample written back in the exposition syntax (labels escaped by
//!   `pimon_protocol::text::prometheus`) parses to the same series, value and time;
//! - the request's body decodes to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::remote_write::proto::{self, RequestBuilder};
use pimon_aggregator::remote_write::samples::{
    parse_series, split_line, valid_label_name, valid_metric_name,
};
use pimon_protocol::catalog::Number;
use pimon_protocol::text::prometheus::{Format, write_sample};

fuzz_target!(|data: &[u8]| {
    let _ = proto::decode(data, 1 << 20);

    let external = [("site".to_string(), "lab".to_string())];
    let mut builder = RequestBuilder::new(&external);
    let mut accepted = 0;
    for line in data.split(|&b| b == b'\n') {
        let before = (builder.samples(), builder.series());
        let parsed = split_line(line).and_then(|s| parse_series(s.series).map(|p| (s, p)));
        match builder.push(line) {
            Ok(()) => {
                accepted += 1;
                let (s, (name, labels)) = parsed.expect("the builder took a line the parser refuses");
                // Written back with the exposition writer, it reads the same.
                let pairs: Vec<(&str, &str)> =
                    labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let mut again = String::new();
                write_sample(
                    &mut again,
                    Format::Text004,
                    name,
                    &pairs,
                    Number::F64(s.value),
                    Some(s.timestamp_ms),
                )
                .unwrap();
                let again = again.trim_end_matches('\n');
                let s2 = split_line(again.as_bytes()).expect("a re-written line parses");
                let (name2, labels2) = parse_series(s2.series).expect("its series parses");
                assert_eq!((name2, &labels2), (name, &labels));
                assert_eq!(s2.timestamp_ms, s.timestamp_ms);
                assert!(s2.value == s.value || (s2.value.is_nan() && s.value.is_nan()));
            }
            Err(_) => {
                assert_eq!((builder.samples(), builder.series()), before);
            }
        }
    }
    assert_eq!(builder.samples(), accepted);
    let request = builder.finish();
    let mut total = 0;
    for ts in &request.timeseries {
        total += ts.samples.len();
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "labels sorted, each once");
        let name = ts.labels.iter().find(|l| l.name == "__name__").expect("__name__");
        assert!(valid_metric_name(&name.value));
        for l in &ts.labels {
            assert!(!l.value.is_empty(), "empty value of {}", l.name);
            assert!(l.name == "__name__" || valid_label_name(&l.name));
        }
        assert!(ts.samples.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }
    assert_eq!(total, accepted);
    let body = proto::encode(&request);
    let decoded = proto::decode(&body, usize::MAX).expect("our body decodes");
    assert_eq!(decoded.timeseries.len(), request.timeseries.len());
    for (a, b) in decoded.timeseries.iter().zip(&request.timeseries) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.samples.len(), b.samples.len());
    }
});
