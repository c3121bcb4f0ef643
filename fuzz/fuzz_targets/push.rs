//! Pushes through the Pushgateway semantics (`ingress::groups`): a sequence of
//! PUT/POST/DELETE requests with untrusted paths and bodies against one group table.
//!
//! Input layout: records separated by `\0`; a record's first byte picks the method
//! (`% 3`: PUT, POST, DELETE), the bytes up to the next `\n` are the path, the rest is
//! the body.
//!
//! Properties beyond "no panic":
//! - the table's series count equals the sum over its groups, stays within the
//!   limits, and drops to zero when every group is deleted;
//! - after every request `/metrics` parses back, with one `# TYPE` per family;
//! - a refused push leaves every group's families as they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingress::expo;
use pimon_aggregator::ingress::groups::{GroupLimits, Groups, Refusal};
use pimon_aggregator::ingress::pushpath;
use pimon_protocol::text::prometheus::Format;

fuzz_target!(|data: &[u8]| {
    let limits = GroupLimits {
        max_groups: 8,
        max_series_per_group: 64,
        max_series_total: 256,
    };
    let mut groups = Groups::new(limits);
    for (now, record) in data.split(|&b| b == 0).enumerate() {
        let Some((&method, rest)) = record.split_first() else {
            continue;
        };
        let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let (path, body) = rest.split_at(split);
        let Ok(key) = pushpath::parse(&String::from_utf8_lossy(path)) else {
            continue;
        };
        let before: Vec<String> = groups
            .iter()
            .map(|(k, g)| format!("{k:?}{:?}", g.families))
            .collect();
        match method % 3 {
            2 => {
                groups.remove(&key);
            }
            m => {
                let Ok(families) = expo::parse(body.get(1..).unwrap_or(&[])) else {
                    continue;
                };
                match groups.check_push(&key, families, m == 0, 0) {
                    Ok(plan) => groups.apply(plan, now as u64),
                    Err(refusal) => {
                        if matches!(refusal, Refusal::Invalid(_)) {
                            groups.note_failure(&key, now as u64);
                        }
                        let after: Vec<String> = groups
                            .iter()
                            .filter(|(k, _)| before.iter().any(|b| b.starts_with(&format!("{k:?}"))))
                            .map(|(k, g)| format!("{k:?}{:?}", g.families))
                            .collect();
                        assert_eq!(before, after, "a refused push changed nothing");
                    }
                }
            }
        }
        let sum: usize = groups.iter().map(|(_, g)| g.series()).sum();
        assert_eq!(sum, groups.series());
        assert!(groups.len() <= limits.max_groups);
        let mut text = String::new();
        groups.render(&mut text, Format::Text004).unwrap();
        let back = expo::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("our exposition does not parse ({e}):\n{text}"));
        let mut names: Vec<&str> = back.iter().map(|f| f.name.as_str()).collect();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "one family block per name:\n{text}");
    }
    let keys: Vec<_> = groups.iter().map(|(k, _)| k.clone()).collect();
    for k in keys {
        groups.remove(&k);
    }
    assert_eq!((groups.len(), groups.series()), (0, 0));
});
