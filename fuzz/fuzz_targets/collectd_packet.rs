//! collectd network packets (`ingress::collectd::packet::parse`) at every security
//! level with an AuthFile, then the mapping of their value lists
//! (`collectd::mapping::Mapper`); also the AuthFile and types.db readers on the same
//! bytes (local files, semi-trusted).
//!
//! Properties beyond "no panic":
//! - `Encrypt` never yields a value list that `Sign` would not, and `Sign` none that
//!   `None` would not (stricter levels only refuse);
//! - every value list has a time, host, plugin and type, and names of at most 127
//!   bytes;
//! - mapped lines end in a newline; catalog samples have as many labels as their row.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_aggregator::ingress::collectd::authfile::Users;
use pimon_aggregator::ingress::collectd::mapping::Mapper;
use pimon_aggregator::ingress::collectd::packet::parse;
use pimon_aggregator::ingress::collectd::typesdb::TypesDb;
use pimon_aggregator::ingress::config::SecurityLevel;
use pimon_protocol::catalog;
use pimon_protocol::text::influx::Precision;

fuzz_target!(|data: &[u8]| {
    let users = Users::parse("alice: s3cret\nbob: other\n");
    let none = parse(data, SecurityLevel::None, Some(&users));
    let sign = parse(data, SecurityLevel::Sign, Some(&users));
    let encrypt = parse(data, SecurityLevel::Encrypt, Some(&users));
    for l in &encrypt.lists {
        assert!(sign.lists.contains(l), "encrypt took what sign refused");
    }
    for l in &sign.lists {
        assert!(none.lists.contains(l), "sign took what none refused");
    }
    let _ = parse(data, SecurityLevel::None, None);
    let types = TypesDb::builtin();
    let mut mapper = Mapper::default();
    let mut lines = String::new();
    for vl in &none.lists {
        assert!(vl.time > 0 && !vl.host.is_empty() && !vl.plugin.is_empty() && !vl.type_.is_empty());
        assert!(vl.host.len() < 128 * 3 && vl.plugin.len() < 128 * 3);
        let m = mapper.map(vl, &types, Precision::Nanoseconds, &mut lines);
        for s in &m.catalog {
            let row = catalog::lookup(s.id).unwrap();
            assert_eq!(row.labels.len(), s.labels.len(), "{}", row.prom_name);
        }
    }
    assert!(lines.is_empty() || lines.ends_with('\n'));
    let text = String::from_utf8_lossy(data);
    let _ = Users::parse(&text);
    let mut db = TypesDb::default();
    db.add_text(&text);
});
