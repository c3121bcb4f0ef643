//! Every parser, on arbitrary bytes and on randomly damaged fixture files, returns a
//! value or a `ParseError` — it never panics (and the iterators always terminate).

use pimon_collector::parse::{
    cpufreq, diskstats, filter, hwmon, iio, loadavg, meminfo, mounts, netdev, pressure, stat,
    thermal, throttled, uptime, w1,
};
use proptest::prelude::*;

/// Runs every parser over `bytes`, consuming the iterators completely.
fn parse_everything(bytes: &[u8]) {
    if let Ok(s) = stat::parse_stat(bytes) {
        for cpu in s.cpus() {
            let _ = cpu;
        }
    }
    meminfo::parse_meminfo(bytes).for_each(drop);
    let _ = loadavg::parse_loadavg(bytes);
    let _ = uptime::parse_uptime(bytes);
    netdev::parse_net_dev(bytes).for_each(drop);
    for disk in diskstats::parse_diskstats(bytes).flatten() {
        let _ = disk.fields();
    }
    let mut buf = [0u8; 16];
    for mount in mounts::parse_mounts(bytes).flatten() {
        let _ = mount.mountpoint_decoded(&mut buf);
        let _ = mount.device_decoded(&mut buf);
    }
    let _ = mounts::decode_octal(bytes, &mut buf);
    let _ = pressure::parse_pressure(bytes);
    let _ = thermal::parse_zone_temp(bytes);
    let _ = thermal::parse_zone_type(bytes);
    let _ = thermal::parse_zone_dir_name(bytes);
    let _ = cpufreq::parse_khz(bytes);
    let _ = cpufreq::parse_cpu_dir_name(bytes);
    let _ = throttled::parse_throttled(bytes).map(|t| t.flags());
    let _ = w1::parse_w1_temperature(bytes);
    let _ = w1::parse_w1_slave(bytes);
    let _ = hwmon::parse_hwmon_value(bytes);
    let _ = hwmon::parse_hwmon_text(bytes);
    let _ = hwmon::parse_hwmon_dir_name(bytes);
    let _ = hwmon::clean_name(bytes, &mut buf);
    let half = bytes.len() / 2;
    let _ = hwmon::chip_name(&bytes[..half], &bytes[half..], &mut buf);
    if let Ok(text) = core::str::from_utf8(bytes) {
        if let Some(f) = hwmon::parse_sensor_file_name(text) {
            let _ = f.sensor(&mut buf);
        }
        let _ = filter::disk_excluded_by_default(text);
        let _ = filter::mount_point_excluded_by_default(text);
        let _ = filter::fs_type_excluded_by_default(text);
        let _ = w1::is_ds18b20(text);
    }
    if let Ok(v) = iio::parse_iio_value(bytes) {
        let _ = iio::iio_processed(v, v, v);
        let _ = v.as_f64();
        let _ = v.as_integer();
    }
    let _ = iio::parse_iio_name(bytes);
}

const FIXTURES: &[&[u8]] = &[
    include_bytes!("fixtures/pi4/proc/stat"),
    include_bytes!("fixtures/x86/proc/meminfo"),
    include_bytes!("fixtures/pi4/proc/loadavg"),
    include_bytes!("fixtures/pi4/proc/uptime"),
    include_bytes!("fixtures/x86/proc/net/dev"),
    include_bytes!("fixtures/x86/proc/diskstats"),
    include_bytes!("fixtures/pi4/proc/self/mounts"),
    include_bytes!("fixtures/x86/proc/pressure/io"),
    include_bytes!("fixtures/pizero/sys/bus/w1/devices/28-0000075a1b2c/w1_slave"),
    include_bytes!("fixtures/pizero/sys/devices/platform/soc/soc:firmware/get_throttled"),
    include_bytes!("fixtures/pizero/sys/bus/iio/devices/iio:device0/in_temp_offset"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everything(&bytes);
    }

    #[test]
    fn text_like_bytes(text in "[ -~\n\t]{0,400}") {
        parse_everything(text.as_bytes());
    }

    #[test]
    fn damaged_fixtures(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = FIXTURES[which].to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let len = cut.index(bytes.len() + 1);
        bytes.truncate(len);
        parse_everything(&bytes);
    }
}

#[test]
fn extreme_numbers() {
    for input in [
        &b"99999999999999999999999999"[..],
        b"-99999999999999999999999",
        b"cpu 18446744073709551615 18446744073709551615 1 1\n",
        b"9223372036.854775807\n",
        b"-9223372036.854775808\n",
        b"ffffffffff\n",
    ] {
        parse_everything(input);
    }
}
