//! Pushed protobuf bodies (`ingress::protobuf::parse_delimited`): delimited
//! `io.prometheus.client.MetricFamily` messages, as Go's push client sends them.
//!
//! Properties beyond "no panic":
//! - every decoded family has a valid metric name and metrics whose values match its
//!   type (the invalid ones are reported, not returned);
//! - the decoded families re-encode and decode to the same families;
//! - an invalid metric's message names the group's labels (`instance`, `job`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingress::expo::{Kind, Value, is_metric_name};
use pimon_aggregator::ingress::protobuf::{encode_delimited, parse_delimited};
use pimon_aggregator::ingress::pushpath;

fuzz_target!(|data: &[u8]| {
    let Ok((families, invalid)) = parse_delimited(data) else {
        return;
    };
    for f in &families {
        assert!(is_metric_name(&f.name), "{:?}", f.name);
        for m in &f.metrics {
            let ok = match (&m.value, f.kind) {
                (Value::Scalar(_), Kind::Counter | Kind::Gauge | Kind::Untyped) => true,
                (Value::Summary { .. }, Kind::Summary) => true,
                (Value::Histogram { .. }, Kind::Histogram) => true,
                _ => false,
            };
            assert!(ok, "{f:?}");
        }
    }
    let again = encode_delimited(&families);
    let (back, _) = parse_delimited(&again).expect("our encoding decodes");
    // NaN never equals itself: compare the debug text.
    assert_eq!(format!("{back:?}"), format!("{families:?}"));
    if let Some(invalid) = invalid {
        let key = pushpath::parse("/metrics/job/fuzz").unwrap();
        let msg = invalid.message(&key);
        assert!(invalid.bare || msg.contains("label:<name:\"job\" value:\"fuzz\" >"), "{msg}");
    }
});
