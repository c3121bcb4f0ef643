//! The data-source names of collectd types (`types.db`): a packet carries each
//! value's kind but not its name, which `write_prometheus` and InfluxDB put in the
//! metric name (`collectd_interface_if_octets_rx_total`, `interface_rx`).
//!
//! Built in: the types of the plugins pimon maps (and a few common ones), as
//! collectd 5.12 defines them. Other types come from the `types.db` files given in
//! `[collectd] types_db` (Debian's `collectd-core` installs
//! `/usr/share/collectd/types.db`, read when present and nothing else is given). A
//! value list of a type known nowhere is stored with data sources named `value`,
//! `value1`, … (counted as `unknown_type`).

use std::collections::HashMap;
use std::path::Path;

/// Types pimon knows without a types.db: (type, data-source names).
const BUILT_IN: &[(&str, &[&str])] = &[
    ("bitrate", &["value"]),
    ("conntrack", &["value"]),
    ("cpu", &["value"]),
    ("df_complex", &["value"]),
    ("df_inodes", &["value"]),
    ("disk_io_time", &["io_time", "weighted_io_time"]),
    ("disk_merged", &["read", "write"]),
    ("disk_octets", &["read", "write"]),
    ("disk_ops", &["read", "write"]),
    ("disk_time", &["read", "write"]),
    ("if_dropped", &["rx", "tx"]),
    ("if_errors", &["rx", "tx"]),
    ("if_octets", &["rx", "tx"]),
    ("if_packets", &["rx", "tx"]),
    ("load", &["shortterm", "midterm", "longterm"]),
    ("memory", &["value"]),
    ("pending_operations", &["value"]),
    ("percent", &["value"]),
    ("percent_bytes", &["value"]),
    ("percent_inodes", &["value"]),
    ("signal_noise", &["value"]),
    ("signal_power", &["value"]),
    ("signal_quality", &["value"]),
    ("temperature", &["value"]),
    ("uptime", &["value"]),
    ("gauge", &["value"]),
    ("counter", &["value"]),
    ("derive", &["value"]),
    ("absolute", &["value"]),
];

/// Data-source names by type.
#[derive(Debug, Clone, Default)]
pub struct TypesDb {
    types: HashMap<String, Vec<String>>,
}

impl TypesDb {
    /// The built-in types.
    pub fn builtin() -> TypesDb {
        let mut db = TypesDb::default();
        for (t, ds) in BUILT_IN {
            db.types
                .insert(t.to_string(), ds.iter().map(|s| s.to_string()).collect());
        }
        db
    }

    /// Adds the types of a `types.db` text (`name ds:KIND:min:max, …` per line).
    /// Malformed lines are skipped.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, rest)) = line.split_once(|c: char| c.is_ascii_whitespace()) else {
                continue;
            };
            let names: Option<Vec<String>> = rest
                .split(',')
                .map(|ds| {
                    let ds = ds.trim();
                    let (n, _) = ds.split_once(':')?;
                    (!n.is_empty()).then(|| n.to_string())
                })
                .collect();
            if let Some(names) = names.filter(|n| !n.is_empty()) {
                self.types.insert(name.to_string(), names);
            }
        }
    }

    /// Adds a `types.db` file.
    pub fn add_file(&mut self, path: &Path) -> std::io::Result<()> {
        self.add_text(&std::fs::read_to_string(path)?);
        Ok(())
    }

    /// The data-source names of `type_` for `count` values: `None` when the type is
    /// unknown or its count differs.
    pub fn names(&self, type_: &str, count: usize) -> Option<&[String]> {
        self.types
            .get(type_)
            .map(Vec::as_slice)
            .filter(|n| n.len() == count)
    }
}

/// Names for values of an unknown type: `value`, or `value0`, `value1`, ….
pub fn fallback_names(count: usize) -> Vec<String> {
    if count == 1 {
        vec!["value".into()]
    } else {
        (0..count).map(|i| format!("value{i}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_types_db_lines() {
        let mut db = TypesDb::builtin();
        db.add_text("# c\nmy_type  in:DERIVE:0:U, out:DERIVE:0:U\nbroken\nfoo x\n");
        assert_eq!(db.names("my_type", 2).unwrap(), ["in", "out"]);
        assert_eq!(
            db.names("load", 3).unwrap(),
            ["shortterm", "midterm", "longterm"]
        );
        assert!(db.names("load", 2).is_none());
        assert!(db.names("foo", 1).is_none());
        assert_eq!(fallback_names(2), ["value0", "value1"]);
    }
}
