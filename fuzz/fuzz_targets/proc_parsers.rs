//! Every `/proc` and `/sys` parser of the collector (`pimon_collector::parse`) on the
//! same bytes: `parse::exercise` runs every parser of every format in the source table
//! (each `parse_*` function, the row iterators to their end, the helpers the sources
//! apply to names read from directories), so a new source's format is fuzzed without
//! being listed here. The seeds are the captured fixture files
//! (`collector/tests/fixtures`).
//!
//! Properties beyond "no panic", for some formats and the shared helpers:
//! - the number parsers agree with Rust's `str::parse` (u64, i64);
//! - fixed-point decimals and IIO values re-render to text that parses to the same
//!   value;
//! - parsed rows are within their format (disk counters 11/15/17, `ro` mounts);
//! - `clean_name` yields only `[a-z0-9:_]`, without `_` at the ends, and is idempotent;
//!   octal decoding never grows the text and leaves text without `\` alone;
//! - directory and hwmon file names re-render to names that parse to the same value;
//! - cgroup: the working set never exceeds the usage, kubelet log names re-render to
//!   names that parse to the same value, every `getdents64` record lies in the buffer;
//! - a default gateway found in the routing tables is a gateway (not unspecified, not
//!   on `lo` for IPv6) with an interface (`route::exercise`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pimon_collector::parse::filter::{
    NameFilter, disk_excluded_by_default, fs_type_excluded_by_default,
    mount_point_excluded_by_default, name_matches,
};
use pimon_collector::parse::iio::{Nano, parse_iio_value};
use pimon_collector::parse::wrap::Wrap32;
use pimon_collector::parse::{
    self, cpufreq, diskstats, hwmon, meminfo, mounts, netdev, parse_decimal_fixed, parse_i64,
    parse_u64, thermal, throttled, trim_ascii, w1,
};

fuzz_target!(|data: &[u8]| {
    parse::exercise(data);
    whole_file_properties(data);
    row_properties(data);
    let mut words = data
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .take(64);
    let first = words.next().unwrap_or(data);
    numbers(data);
    numbers(first);
    names(first);
    names(trim_ascii(data));
    for word in words {
        numbers(word);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        filters(text);
    }
    cgroup_properties(data);
    cgroup_properties(first);
});

fn cgroup_properties(data: &[u8]) {
    use pimon_collector::parse::cgroup::{dirent, parse_memory_stat, working_set, workload};
    if let Ok(m) = parse_memory_stat(data)
        && let Some(inactive) = m.inactive_file
    {
        for usage in [0, inactive / 2, inactive, u64::MAX] {
            assert!(working_set(usage, Some(inactive)) <= usage);
        }
    }
    let mut names = 0usize;
    for e in dirent::dirents(data) {
        names += e.name.len() + 19;
        assert!(names <= data.len());
    }
    if let Some(l) = workload::parse_container_log(data) {
        let again = format!("{}_{}_{}-{}.log", l.pod, l.namespace, l.container, l.id);
        assert_eq!(workload::parse_container_log(again.as_bytes()), Some(l));
    }
    if let Some(p) = workload::parse_pod_log(data) {
        let again = format!("{}_{}_{}", p.namespace, p.pod, p.uid);
        assert_eq!(workload::parse_pod_log(again.as_bytes()), Some(p));
    }
}

fn whole_file_properties(data: &[u8]) {
    if let Ok(t) = throttled::parse_throttled(data) {
        let flags = t.flags();
        for (i, bit) in [0, 1, 2, 3, 16, 17, 18, 19].into_iter().enumerate() {
            assert_eq!(flags[i], t.bits() & (1 << bit) != 0);
        }
    }
    if let Ok(v) = parse_iio_value(data) {
        let again = render_nano(v);
        assert_eq!(parse_iio_value(again.as_bytes()), Ok(v), "{again}");
    }
}

/// `Nano` as the kernel would print it: sign, whole part, nine fraction digits.
fn render_nano(v: Nano) -> String {
    let sign = if v.0 < 0 { "-" } else { "" };
    let m = v.0.unsigned_abs();
    format!("{sign}{}.{:09}", m / 1_000_000_000, m % 1_000_000_000)
}

fn row_properties(data: &[u8]) {
    for disk in diskstats::parse_diskstats(data).flatten() {
        assert!(matches!(disk.fields().len(), 11 | 15 | 17));
        let _ = disk_excluded_by_default(disk.name);
    }
    let mut key = [0u8; 64];
    for field in meminfo::parse_meminfo(data).flatten() {
        assert!(!field.name.is_empty());
        // node_exporter's spelling is a valid end of a Prometheus name, or nothing.
        if let Some(k) = meminfo::exporter_key(field.name, &mut key) {
            assert!(!k.is_empty() && k.len() <= 64);
            assert!(k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        }
    }
    for dev in netdev::parse_net_dev(data).flatten() {
        assert!(!dev.name.is_empty());
    }
    let mut buf = [0u8; 256];
    for mount in mounts::parse_mounts(data).flatten() {
        let ro = mount.options.split(|&b| b == b',').any(|o| o == b"ro");
        assert_eq!(mount.read_only, ro);
        let _ = fs_type_excluded_by_default(mount.fstype);
        if let Ok(point) = mount.mountpoint_decoded(&mut buf) {
            assert!(point.len() <= mount.mountpoint.len());
            if !mount.mountpoint.contains(&b'\\') {
                assert_eq!(point.as_bytes(), mount.mountpoint);
            }
            let _ = mount_point_excluded_by_default(point);
        }
        let _ = mount.device_decoded(&mut buf);
    }
    let mut small = [0u8; 8];
    let _ = mounts::decode_octal(data, &mut small);
}

fn numbers(word: &[u8]) {
    let text = std::str::from_utf8(word).ok();
    let u = parse_u64(word);
    let i = parse_i64(word);
    if let Some(text) = text {
        assert_eq!(u.ok(), text.parse::<u64>().ok(), "{text:?}");
        assert_eq!(i.ok(), text.parse::<i64>().ok(), "{text:?}");
    } else {
        assert!(u.is_err() && i.is_err());
    }
    for frac in [0u32, 2, 9] {
        if let Ok(v) = parse_decimal_fixed(word, frac) {
            let scale = 10u64.pow(frac);
            let again = if frac == 0 {
                format!("{v}")
            } else {
                format!("{}.{:0width$}", v / scale, v % scale, width = frac as usize)
            };
            assert_eq!(
                parse_decimal_fixed(again.as_bytes(), frac),
                Ok(v),
                "{again}"
            );
        }
    }
    let mut wrap = Wrap32::new();
    if let Ok(v) = u {
        let first = wrap.extend(v);
        let second = wrap.extend(v);
        assert_eq!(first, second, "the same reading twice");
    }
}

fn names(name: &[u8]) {
    for (parsed, prefix) in [
        (cpufreq::parse_cpu_dir_name(name), "cpu"),
        (hwmon::parse_hwmon_dir_name(name), "hwmon"),
        (thermal::parse_zone_dir_name(name), "thermal_zone"),
    ] {
        if let Some(n) = parsed {
            assert!(name.starts_with(prefix.as_bytes()));
            let again = format!("{prefix}{n}");
            let reparsed = match prefix {
                "cpu" => cpufreq::parse_cpu_dir_name(again.as_bytes()),
                "hwmon" => hwmon::parse_hwmon_dir_name(again.as_bytes()),
                _ => thermal::parse_zone_dir_name(again.as_bytes()),
            };
            assert_eq!(reparsed, Some(n));
        }
    }
    let mut buf = [0u8; 128];
    if let Ok(clean) = hwmon::clean_name(name, &mut buf) {
        let clean = clean.to_string();
        assert!(
            clean
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'_')
        );
        assert!(!clean.starts_with('_') && !clean.ends_with('_'));
        let mut again = [0u8; 128];
        assert_eq!(
            hwmon::clean_name(clean.as_bytes(), &mut again),
            Ok(clean.as_str())
        );
    }
    let (dev_type, dev_name) = match name.iter().position(|&b| b == b'/') {
        Some(at) => (&name[..at], &name[at + 1..]),
        None => (&b""[..], name),
    };
    let _ = hwmon::chip_name(dev_type, dev_name, &mut buf);
    if let Ok(text) = std::str::from_utf8(name) {
        let _ = w1::is_ds18b20(text);
        if let Some(file) = hwmon::parse_sensor_file_name(text) {
            let again = format!("{}{}_{}", file.kind, file.index, file.item);
            assert_eq!(hwmon::parse_sensor_file_name(&again), Some(file));
            let mut label = [0u8; 64];
            if let Ok(sensor) = file.sensor(&mut label) {
                assert_eq!(sensor, format!("{}{}", file.kind, file.index));
            }
        }
    }
}

fn filters(text: &str) {
    let _ = disk_excluded_by_default(text);
    let _ = mount_point_excluded_by_default(text);
    let _ = fs_type_excluded_by_default(text);
    let (pattern, name) = text.split_once('\n').unwrap_or((text, text));
    let matches = name_matches(pattern, name);
    if !pattern.ends_with('*') {
        assert_eq!(matches, pattern == name);
    }
    let list = [pattern];
    let include = NameFilter {
        include: &list,
        exclude: &[] as &[&str],
    };
    assert_eq!(include.allows(name), matches);
    let exclude = NameFilter {
        include: &[] as &[&str],
        exclude: &list,
    };
    assert_eq!(exclude.allows(name), !matches);
}
