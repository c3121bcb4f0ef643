//! Prometheus text exposition bodies (`pimon_aggregator::ingress::expo::parse`): what
//! a push carries and a scrape fetches, both untrusted.
//!
//! Properties beyond "no panic":
//! - whatever parses can be stored as a scrape group (labels as a scrape sets them)
//!   and written as line protocol without panic, every line ending in a newline;
//! - the group table's `/metrics` text (0.0.4 and OpenMetrics) parses back with the
//!   same parser, with the same family names and types as stored (what pimon serves,
//!   Prometheus can read).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingress::expo;
use pimon_aggregator::ingress::groups::{GroupLimits, Groups, Source, catalog_kind};
use pimon_aggregator::ingress::lines::write_families;
use pimon_aggregator::ingress::pushpath::GroupingKey;
use pimon_aggregator::ingress::scrape::target_labels;
use pimon_protocol::text::influx::Precision;
use pimon_protocol::text::prometheus::Format;

fuzz_target!(|data: &[u8]| {
    let Ok(mut families) = expo::parse(data) else {
        return;
    };
    let mut key = GroupingKey::new();
    key.insert("instance".into(), "127.0.0.1:9100".into());
    key.insert("job".into(), "fuzz".into());
    target_labels(&mut families, &key, data.first().is_some_and(|b| b & 1 == 1));
    let mut lines = String::new();
    write_families(&mut lines, &families, 1_700_000_000_000, Precision::Nanoseconds).unwrap();
    assert!(lines.is_empty() || lines.ends_with('\n'));
    let mut groups = Groups::new(GroupLimits::default());
    let Ok((plan, _)) = groups.check_replace(&key, Source::Scrape, families, 0) else {
        return;
    };
    groups.apply(plan, 0);
    let stored: Vec<(String, expo::Kind)> = groups
        .get(&key)
        .unwrap()
        .families
        .values()
        .filter(|f| catalog_kind(&f.name).is_none() && !f.metrics.is_empty())
        .map(|f| (f.name.clone(), f.kind))
        .collect();
    let mut text = String::new();
    groups.render(&mut text, Format::Text004).unwrap();
    let back = expo::parse(text.as_bytes())
        .unwrap_or_else(|e| panic!("our exposition does not parse ({e}):\n{text}"));
    let back: Vec<(String, expo::Kind)> = back.into_iter().map(|f| (f.name, f.kind)).collect();
    assert_eq!(back, stored, "{text}");
    let mut om = String::new();
    groups.render(&mut om, Format::OpenMetrics).unwrap();
});
