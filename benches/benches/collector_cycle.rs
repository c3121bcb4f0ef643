//! One full collection cycle on the Raspberry Pi 4 fixture tree, and the parse of each
//! source's file.
//!
//! `cargo bench -p pimon-benches --bench collector_cycle`
//!
//! Prints, in order:
//! - the parse time of every `/proc` and `/sys` format the Pi 4 has, over the fixture's
//!   bytes (`pimon_collector::parse::*`, results consumed so nothing is optimised out);
//! - allocations per cycle after warm-up, counted by this binary's global allocator on
//!   every thread (the 1-wire reader and the `statvfs` workers too): must be 0;
//! - the time of one cycle: read every source (files re-read with `pread`, `statvfs`
//!   through the worker thread), encode, MAC, into the ring — then the ring is drained
//!   by a synthetic ack, as a healthy aggregator's would;
//! - the same plus sending the datagrams over UDP to a socket on 127.0.0.1
//!   (`Agent::cycle`, what the binary does every interval).
//!
//! Instructions per cycle: `scripts/bench-collector-instructions` (callgrind on
//! `src/bin/cycle_once.rs`). Results: docs/BENCHMARKS.md.

use std::hint::black_box;
use std::net::UdpSocket;

use pimon_benches::pi4;
use pimon_benches::timing::bench;
use pimon_collector::net::Net;
use pimon_collector::parse;
use pimon_collector::ring::ResendPolicy;
use pimon_collector::run::Agent;
use pimon_test_support::alloc::{self, allocations};

/// Counts every allocation (alloc, alloc_zeroed, realloc) on every thread.
#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn main() {
    let root = pi4::fixture_root();
    let file = |p: &str| std::fs::read(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));

    println!("-- parse, Raspberry Pi 4 fixture (collector/tests/fixtures/pi4)");
    parse_benches(&file);

    println!("-- one cycle, Raspberry Pi 4 fixture, keyed");
    let mut c = pi4::collector(root.clone());
    let mut ts = 1_700_000_000_000u64;
    let mut one = |c: &mut pimon_collector::cycle::Collector| {
        ts += 10_000;
        let r = c.cycle(ts);
        c.ring_mut().send_unsent(ts, |_, d| {
            black_box(d);
        });
        pi4::ack_all(c, ts);
        r
    };
    let r = (0..50)
        .map(|_| one(&mut c))
        .last()
        .expect("50 warm-up cycles");
    println!(
        "cycle: {} values, {} datagrams, {} bytes ({:.2} bytes/value, MAC included)",
        r.values,
        r.parts,
        r.bytes,
        r.bytes as f64 / f64::from(r.values)
    );
    const COUNTED: u64 = 1000;
    let before = allocations();
    for _ in 0..COUNTED {
        black_box(one(&mut c));
    }
    let allocs = allocations() - before;
    println!(
        "allocations: {allocs} in {COUNTED} cycles after 50 warm-up ({} per cycle)",
        allocs as f64 / COUNTED as f64
    );
    bench("cycle: sources + encode + MAC into ring", || {
        one(&mut c).values
    });

    // The same with the datagrams sent over UDP to a socket that never reads (the
    // kernel drops what overflows its buffer; sendto still succeeds).
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = sink.local_addr().expect("local addr").to_string();
    let net = Net::new(&addr, pi4::NODE, 0x5eed_b007, Some(pi4::key()));
    let mut agent = Agent::new(
        pi4::collector(root),
        net,
        ResendPolicy::for_interval(10_000),
    );
    let mut ts = 1_700_000_000_000u64;
    let mut send_one = |a: &mut Agent| {
        ts += 10_000;
        let r = a.cycle(ts);
        let now = a.now_ms();
        pi4::ack_all(&mut a.collector, now);
        r
    };
    for _ in 0..50 {
        send_one(&mut agent);
    }
    let before = allocations();
    for _ in 0..COUNTED {
        black_box(send_one(&mut agent));
    }
    let allocs = allocations() - before;
    println!("allocations with UDP send: {allocs} in {COUNTED} cycles after 50 warm-up");
    bench("cycle + UDP send (Agent::cycle)", || {
        send_one(&mut agent).values
    });
    drop(sink);
}

/// The parse of every format on the Pi 4 fixture, each consuming all it parsed.
fn parse_benches(file: &impl Fn(&str) -> Vec<u8>) {
    let stat = file("proc/stat");
    bench("parse /proc/stat (4 cpus)", || {
        let s = parse::stat::parse_stat(&stat).expect("stat");
        let cpus: u64 = s
            .cpus()
            .filter_map(Result::ok)
            .map(|(n, t)| u64::from(n) + t.modes().iter().sum::<u64>())
            .sum();
        cpus + s.context_switches + s.boot_time
    });
    let meminfo = file("proc/meminfo");
    bench("parse /proc/meminfo", || {
        parse::meminfo::parse_meminfo(&meminfo)
            .filter_map(Result::ok)
            .map(|f| f.value + f.name.len() as u64)
            .sum::<u64>()
    });
    let loadavg = file("proc/loadavg");
    bench("parse /proc/loadavg", || {
        parse::loadavg::parse_loadavg(&loadavg).map(|l| l.load1 + l.load15)
    });
    let uptime = file("proc/uptime");
    bench("parse /proc/uptime", || {
        parse::uptime::parse_uptime(&uptime).map(|u| u.uptime_centis)
    });
    let pressure: Vec<Vec<u8>> = ["cpu", "memory", "io"]
        .iter()
        .map(|p| file(&format!("proc/pressure/{p}")))
        .collect();
    bench("parse /proc/pressure/{cpu,memory,io}", || {
        pressure
            .iter()
            .filter_map(|b| parse::pressure::parse_pressure(b).ok())
            .map(|p| p.some.total_us + p.full.map_or(0, |f| f.total_us))
            .sum::<u64>()
    });
    let netdev = file("proc/net/dev");
    bench("parse /proc/net/dev", || {
        parse::netdev::parse_net_dev(&netdev)
            .filter_map(Result::ok)
            .map(|d| d.counters.iter().sum::<u64>() + d.name.len() as u64)
            .sum::<u64>()
    });
    let diskstats = file("proc/diskstats");
    bench("parse /proc/diskstats", || {
        parse::diskstats::parse_diskstats(&diskstats)
            .filter_map(Result::ok)
            .map(|d| d.fields().iter().sum::<u64>() + d.name.len() as u64)
            .sum::<u64>()
    });
    let mounts = file("proc/self/mounts");
    bench("parse /proc/self/mounts", || {
        parse::mounts::parse_mounts(&mounts)
            .filter_map(Result::ok)
            .map(|m| m.mountpoint.len() + m.fstype.len() + usize::from(m.read_only))
            .sum::<usize>()
    });
    let zone_type = file("sys/class/thermal/thermal_zone0/type");
    let zone_temp = file("sys/class/thermal/thermal_zone0/temp");
    bench("parse thermal_zone0 type + temp", || {
        let t = parse::thermal::parse_zone_type(&zone_type).map_or(0, str::len);
        parse::thermal::parse_zone_temp(&zone_temp).unwrap_or(0) + t as i64
    });
    let hwmon_name = file("sys/class/hwmon/hwmon1/name");
    let hwmon_temp = file("sys/class/hwmon/hwmon1/temp1_input");
    bench("parse hwmon1 name + temp1_input", || {
        let n = parse::hwmon::parse_hwmon_text(&hwmon_name).map_or(0, str::len);
        parse::hwmon::parse_hwmon_value(&hwmon_temp).unwrap_or(0) + n as i64
    });
    let freqs: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            file(&format!(
                "sys/devices/system/cpu/cpu{i}/cpufreq/scaling_cur_freq"
            ))
        })
        .collect();
    bench("parse cpufreq scaling_cur_freq x4", || {
        freqs
            .iter()
            .filter_map(|b| parse::cpufreq::parse_khz(b).ok())
            .sum::<u64>()
    });
    let throttled = file("sys/devices/platform/soc/soc:firmware/get_throttled");
    bench("parse get_throttled", || {
        parse::throttled::parse_throttled(&throttled).map(|t| t.0)
    });
    let w1 = file("sys/bus/w1/devices/28-3c01d607d4a1/w1_slave");
    bench("parse w1_slave (CRC check)", || {
        parse::w1::parse_w1_slave(&w1)
    });
    let iio = file("sys/bus/iio/devices/iio:device0/in_pressure_input");
    bench("parse iio in_pressure_input", || {
        parse::iio::parse_iio_value(&iio).map(|n| n.0)
    });
}
