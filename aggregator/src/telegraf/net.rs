//! Telegraf's `net` line with the tag `interface=all`: the `net` input's protocol
//! counters (`plugins/inputs/net/net.go`, unless `ignore_protocol_stats`), gopsutil's
//! `NetProtoCounters` of `/proc/net/snmp`, each field named
//! `<protocol lower-cased>_<counter lower-cased>` (`tcp_activeopens`, `udp_indatagrams`).
//!
//! The same kernel counters are the `nstat` fields of the netstat source (tag
//! `name=snmp`), so the collector sends each once and this line repeats the values it
//! has: the `/proc/net/snmp` counters that have a catalog row (node_exporter's default
//! netstat fields and those Telegraf's system dashboard reads), not every counter of
//! the file as Telegraf does.

use std::sync::LazyLock;

use pimon_protocol::catalog::CATALOG;
use pimon_protocol::text::influx::Tag;

use super::{Extras, Group, int};

/// The catalog rows of `/proc/net/snmp` and their `net` field names, in id order.
static FIELDS: LazyLock<Vec<(u16, &'static str)>> = LazyLock::new(|| {
    CATALOG
        .iter()
        .filter_map(|m| {
            let schema = m.influx.as_ref()?;
            if schema.measurement != "nstat" || !schema.const_tags.contains(&("name", "snmp")) {
                return None;
            }
            let (proto, field) = m.prom_name.strip_prefix("node_netstat_")?.split_once('_')?;
            let name = format!("{}_{}", proto.to_lowercase(), field.to_lowercase());
            Some((m.id, &*Box::leak(name.into_boxed_str())))
        })
        .collect()
});

/// [`FIELDS`] indexed by catalog id: one look-up per sample of every group.
static BY_ID: LazyLock<Vec<Option<&'static str>>> = LazyLock::new(|| {
    let mut by_id = vec![None; CATALOG.len()];
    for &(id, field) in FIELDS.iter() {
        if let Some(slot) = by_id.get_mut(usize::from(id)) {
            *slot = Some(field);
        }
    }
    by_id
});

/// The `net` field of catalog row `id`, if it is a `/proc/net/snmp` counter.
fn field_of(id: u16) -> Option<&'static str> {
    BY_ID.get(usize::from(id)).copied().flatten()
}

/// Whether `field` is a field of the `interface=all` line.
pub(super) fn is_protocol_field(field: &str) -> bool {
    FIELDS.iter().any(|(_, f)| *f == field)
}

/// The `interface=all` line from the group with the `/proc/net/snmp` rows; `None` for a
/// group without any.
pub(super) fn all<'a>(group: &Group<'a>) -> Option<Extras<'a>> {
    // Almost every group has none: look before building the line's extras.
    if !group.samples.iter().any(|(m, _)| field_of(m.id).is_some()) {
        return None;
    }
    let mut extras = Extras::default();
    for (metric, _) in group.samples {
        if let Some(field) = field_of(metric.id)
            && let Some(value) = group.raw(metric.id)
        {
            extras.set(field, int(value));
        }
    }
    if extras.fields.is_empty() {
        return None;
    }
    let _ = extras.tags.push(Tag::new("interface", "all"));
    Some(extras)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telegraf::Derived;
    use pimon_protocol::Value;
    use pimon_protocol::catalog::{Metric, id};

    fn row(id: u16) -> &'static Metric {
        &CATALOG[usize::from(id)]
    }

    #[test]
    fn snmp_counters_get_telegrafs_lower_cased_names_on_one_all_line() {
        let samples = [
            (row(id::NETSTAT_TCPEXT_LISTENDROPS), Value::Unsigned(5)),
            (row(id::NETSTAT_TCP_ACTIVEOPENS), Value::Unsigned(7)),
            (row(id::NETSTAT_TCP_OUTRSTS), Value::Unsigned(8)),
            (row(id::NETSTAT_UDP_INDATAGRAMS), Value::Unsigned(9)),
            (row(id::NETSTAT_TCP_ESTABRESETS), Value::Unsigned(3)),
            (row(id::NETSTAT_IP6_INOCTETS), Value::Unsigned(4)),
        ];
        let group = Group {
            labels: &[],
            samples: &samples,
        };
        let extras = all(&group).expect("a net line");
        assert_eq!(
            extras.fields.as_slice(),
            [
                ("tcp_activeopens", Derived::Int(7)),
                ("tcp_outrsts", Derived::Int(8)),
                ("udp_indatagrams", Derived::Int(9)),
                ("tcp_estabresets", Derived::Int(3)),
            ],
            "TcpExt (netstat) and Ip6 (snmp6) are not the net input's"
        );
        assert_eq!(extras.tags.as_slice(), [Tag::new("interface", "all")]);
        assert!(is_protocol_field("ip_forwarding"));
        assert!(is_protocol_field("icmp_inechos"));
        assert!(!is_protocol_field("bytes_recv"));
    }

    #[test]
    fn a_group_without_snmp_counters_gets_no_all_line() {
        let samples = [(row(id::NETSTAT_TCPEXT_LISTENDROPS), Value::Unsigned(5))];
        let group = Group {
            labels: &[],
            samples: &samples,
        };
        assert!(all(&group).is_none());
    }
}
