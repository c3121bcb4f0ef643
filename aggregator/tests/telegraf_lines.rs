//! Telegraf's computed fields in the lines `Ingest` renders, datagram by datagram:
//! `cpu` `usage_*` against a cycle's true predecessor whatever order frames arrive in
//! (in order, swapped, resent, lost, split in parts, after a reboot, after a rolled-back
//! batch), and the `mem`, `swap`, `disk`, `system` and `processes` lines of a cycle.
//!
//! The expected `usage_*` come from Telegraf's formula written out here
//! (`plugins/inputs/cpu/cpu.go` on gopsutil's jiffies ÷ USER_HZ), not from the
//! aggregator's code.

use std::sync::Arc;

use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::stats::AggregatorStats;
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::id;
use pimon_protocol::text::influx::Precision;
use pimon_protocol::{DataHeader, EncodedLabels, FrameWriter, MAX_DATAGRAM, Value, seal};

const T0: u64 = 1_700_000_000_000;

/// The ten `/proc/stat` columns of a CPU (jiffies).
type Times = [u64; 10];

const CPU_IDS: [u16; 10] = [
    id::CPU_SECONDS_USER,
    id::CPU_SECONDS_NICE,
    id::CPU_SECONDS_SYSTEM,
    id::CPU_SECONDS_IDLE,
    id::CPU_SECONDS_IOWAIT,
    id::CPU_SECONDS_IRQ,
    id::CPU_SECONDS_SOFTIRQ,
    id::CPU_SECONDS_STEAL,
    id::CPU_GUEST_SECONDS_USER,
    id::CPU_GUEST_SECONDS_NICE,
];

const TOTAL_IDS: [u16; 10] = [
    id::CPU_TOTAL_SECONDS_USER,
    id::CPU_TOTAL_SECONDS_NICE,
    id::CPU_TOTAL_SECONDS_SYSTEM,
    id::CPU_TOTAL_SECONDS_IDLE,
    id::CPU_TOTAL_SECONDS_IOWAIT,
    id::CPU_TOTAL_SECONDS_IRQ,
    id::CPU_TOTAL_SECONDS_SOFTIRQ,
    id::CPU_TOTAL_SECONDS_STEAL,
    id::CPU_TOTAL_SECONDS_GUEST,
    id::CPU_TOTAL_SECONDS_GUEST_NICE,
];

/// Telegraf's `usage_*` (as `cpu.go` computes them on gopsutil's floats), in the order
/// user, system, idle, nice, iowait, irq, softirq, steal, guest, guest_nice.
fn telegraf_usage(last: &Times, cur: &Times) -> [f64; 10] {
    let s = |t: &Times| t.map(|v| v as f64 / 100.0);
    let (c, l) = (s(cur), s(last));
    // totalCPUTime: User + System + Nice + Iowait + Irq + Softirq + Steal + Idle.
    let total = |t: &[f64; 10]| t[0] + t[2] + t[1] + t[4] + t[5] + t[6] + t[7] + t[3];
    let d = total(&c) - total(&l);
    [
        100.0 * (c[0] - l[0] - (c[8] - l[8])) / d,
        100.0 * (c[2] - l[2]) / d,
        100.0 * (c[3] - l[3]) / d,
        100.0 * (c[1] - l[1] - (c[9] - l[9])) / d,
        100.0 * (c[4] - l[4]) / d,
        100.0 * (c[5] - l[5]) / d,
        100.0 * (c[6] - l[6]) / d,
        100.0 * (c[7] - l[7]) / d,
        100.0 * (c[8] - l[8]) / d,
        100.0 * (c[9] - l[9]) / d,
    ]
}

const USAGE_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// The counters of cycle `n` of CPU `cpu` (all CPUs together for `None`).
fn times(n: u64, cpu: Option<u64>) -> Times {
    let k = cpu.map_or(4, |c| c + 1);
    [
        100_000 + n * 37 * k,
        5_000 + n * 3,
        40_000 + n * 11 * k,
        900_000 + n * 51 * k,
        1_000 + n * 2,
        0,
        2_000 + n * 5,
        0,
        n * 7,
        n,
    ]
}

/// The datagram of part `part` of `parts` of cycle `n` (first sequence number `first`)
/// of node `pi`: the unlabelled `/proc/stat` group (with the cpu line) in part 0, the
/// CPUs in the last part.
fn frame(boot_id: u64, first: u64, part: u8, parts: u8, n: u64) -> Vec<u8> {
    frame_of("pi", boot_id, first, part, parts, n)
}

/// [`frame`] of node `node`.
fn frame_of(node: &str, boot_id: u64, first: u64, part: u8, parts: u8, n: u64) -> Vec<u8> {
    let header = DataHeader {
        node,
        boot_id,
        seq: first + u64::from(part),
        resend_floor: 0,
        timestamp_ms: T0 + n * 10_000,
        interval_ms: 10_000,
        user_hz: 100,
        part,
        parts,
        key_id: None,
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut w = FrameWriter::new(&mut buf, &header).unwrap();
    if part == 0 {
        w.begin_group(&EncodedLabels::encode(&[]).unwrap()).unwrap();
        w.push(id::STAT_CONTEXT_SWITCHES, Value::Unsigned(1000 * n))
            .unwrap();
        for (m, v) in TOTAL_IDS.iter().zip(times(n, None)) {
            w.push(*m, Value::Unsigned(v)).unwrap();
        }
    }
    if part + 1 == parts {
        for cpu in 0..2u64 {
            let label = cpu.to_string();
            w.begin_group(&EncodedLabels::encode(&[&label]).unwrap())
                .unwrap();
            for (m, v) in CPU_IDS.iter().zip(times(n, Some(cpu))) {
                w.push(*m, Value::Unsigned(v)).unwrap();
            }
        }
    }
    let len = w.finish();
    let len = seal(&mut buf, len, parts, None).unwrap();
    buf[..len].to_vec()
}

struct Harness {
    ingest: Ingest,
    lines: String,
    ack: [u8; MAX_DATAGRAM],
}

impl Harness {
    fn new() -> Harness {
        let stats = Arc::new(AggregatorStats::default());
        let store = Store::new(Limits::default(), Staleness::default(), T0);
        let config = IngestConfig {
            precision: Precision::Milliseconds,
            ..IngestConfig::default()
        };
        Harness {
            ingest: Ingest::new(store, None, config, stats),
            lines: String::new(),
            ack: [0; MAX_DATAGRAM],
        }
    }

    /// Ingests `datagram`; returns its verdict and the lines it produced.
    fn send(&mut self, datagram: &[u8]) -> (Verdict, String) {
        self.lines.clear();
        let o = self.ingest.ingest(
            datagram,
            "10.0.0.5:4000".parse().unwrap(),
            T0 + 100_000,
            &mut self.lines,
            &mut self.ack,
        );
        (o.verdict, self.lines.clone())
    }
}

/// The `usage_*` fields of the `cpu` line with tag `cpu` and timestamp `at` (ms), in
/// [`USAGE_FIELDS`] order; `None` when no such line has them.
fn usage_in(lines: &str, cpu: &str, at: u64) -> Option<[f64; 10]> {
    let prefix = format!("cpu,cpu={cpu},host=pi ");
    let suffix = format!(" {at}");
    let line = lines
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.ends_with(&suffix))
        .find(|l| l.contains("usage_user="))?;
    let fields = &line[prefix.len()..line.len() - suffix.len()];
    let mut out = [f64::NAN; 10];
    for kv in fields.split(',') {
        let (k, v) = kv.split_once('=').unwrap();
        if let Some(i) = USAGE_FIELDS.iter().position(|f| *f == k) {
            out[i] = v.parse().unwrap();
        }
    }
    assert!(out.iter().all(|v| !v.is_nan()), "{line}");
    Some(out)
}

/// Every CPU line of cycle `n` (written at its time) has usage against cycle `m`.
fn assert_usage(lines: &str, n: u64, m: u64) {
    let at = T0 + n * 10_000;
    for (tag, cpu) in [("cpu0", Some(0)), ("cpu1", Some(1)), ("cpu-total", None)] {
        let got = usage_in(lines, tag, at)
            .unwrap_or_else(|| panic!("no usage for {tag} at {at} in:\n{lines}"));
        let want = telegraf_usage(&times(m, cpu), &times(n, cpu));
        assert_eq!(
            got.map(f64::to_bits),
            want.map(f64::to_bits),
            "{tag} cycle {n} against {m}: {got:?} vs {want:?}"
        );
    }
}

fn assert_no_usage(lines: &str, n: u64) {
    let at = T0 + n * 10_000;
    for tag in ["cpu0", "cpu1", "cpu-total"] {
        assert_eq!(usage_in(lines, tag, at), None, "{tag} at {at}:\n{lines}");
    }
}

#[test]
fn in_order_cycles_get_usage_against_the_previous_one() {
    let mut h = Harness::new();
    let (v, lines) = h.send(&frame(7, 0, 0, 1, 0));
    assert_eq!(v, Verdict::Stored);
    assert_no_usage(&lines, 0);
    assert!(
        lines.contains("cpu,cpu=cpu-total,host=pi time_user=1000,"),
        "{lines}"
    );
    let (_, lines) = h.send(&frame(7, 1, 0, 1, 1));
    assert_usage(&lines, 1, 0);
    let (_, lines) = h.send(&frame(7, 2, 0, 1, 2));
    assert_usage(&lines, 2, 1);
}

#[test]
fn a_cycle_before_its_predecessor_waits_for_it_and_both_get_usage() {
    let mut h = Harness::new();
    h.send(&frame(7, 0, 0, 1, 0));
    // Cycle 2 overtakes cycle 1.
    let (_, lines) = h.send(&frame(7, 2, 0, 1, 2));
    assert_no_usage(&lines, 2);
    let (v, lines) = h.send(&frame(7, 1, 0, 1, 1));
    assert_eq!(v, Verdict::Stored);
    assert_usage(&lines, 1, 0);
    // Cycle 2's usage, written with cycle 2's own time (InfluxDB merges it in).
    assert_usage(&lines, 2, 1);
}

#[test]
fn a_resent_frame_already_stored_writes_nothing_again() {
    let mut h = Harness::new();
    h.send(&frame(7, 0, 0, 1, 0));
    h.send(&frame(7, 1, 0, 1, 1));
    let (v, lines) = h.send(&frame(7, 1, 0, 1, 1));
    assert!(matches!(v, Verdict::Duplicate | Verdict::Old), "{v:?}");
    assert_eq!(lines, "");
    let (_, lines) = h.send(&frame(7, 2, 0, 1, 2));
    assert_usage(&lines, 2, 1);
}

#[test]
fn a_lost_cycle_leaves_the_next_without_usage_never_against_an_older_one() {
    let mut h = Harness::new();
    h.send(&frame(7, 0, 0, 1, 0));
    // Cycle 1 (seq 1) is lost for good.
    let (_, lines) = h.send(&frame(7, 2, 0, 1, 2));
    assert_no_usage(&lines, 2);
    let (_, lines) = h.send(&frame(7, 3, 0, 1, 3));
    assert_usage(&lines, 3, 2);
}

#[test]
fn cycles_in_several_parts_follow_each_other_by_sequence_number() {
    let mut h = Harness::new();
    // Cycle 0 is seq 0..=1 (CPUs in part 1), cycle 1 is seq 2..=4.
    h.send(&frame(7, 0, 0, 2, 0));
    h.send(&frame(7, 0, 1, 2, 0));
    let (_, part0) = h.send(&frame(7, 2, 0, 3, 1));
    let (_, part1) = h.send(&frame(7, 2, 1, 3, 1));
    let (_, part2) = h.send(&frame(7, 2, 2, 3, 1));
    assert_eq!(part1, "");
    let lines = part0 + &part2;
    assert_usage(&lines, 1, 0);
    // Parts in reverse order: the total (part 0) and the CPUs (last part) still pair up
    // with their own predecessors.
    let (_, last) = h.send(&frame(7, 5, 1, 2, 2));
    let (_, first) = h.send(&frame(7, 5, 0, 2, 2));
    assert_usage(&(last + &first), 2, 1);
}

#[test]
fn a_new_boot_starts_without_usage() {
    let mut h = Harness::new();
    h.send(&frame(7, 0, 0, 1, 0));
    h.send(&frame(7, 1, 0, 1, 1));
    // The collector restarted: seq 0 of boot 8 follows nothing.
    let (v, lines) = h.send(&frame(8, 0, 0, 1, 2));
    assert_eq!(v, Verdict::Stored);
    assert_no_usage(&lines, 2);
    let (_, lines) = h.send(&frame(8, 1, 0, 1, 3));
    assert_usage(&lines, 3, 2);
}

#[test]
fn a_batch_rolled_back_and_stored_again_writes_the_same_usage() {
    let mut h = Harness::new();
    h.send(&frame(7, 0, 0, 1, 0));
    h.ingest.begin_batch();
    let (_, first) = h.send(&frame(7, 1, 0, 1, 1));
    h.ingest.rollback_batch();
    h.ingest.begin_batch();
    let (v, again) = h.send(&frame(7, 1, 0, 1, 1));
    h.ingest.commit_batch();
    assert_eq!(v, Verdict::Stored);
    assert_usage(&again, 1, 0);
    assert_eq!(first, again);
}

/// Inside a batch the server renders the lines of a few frames at a time on several
/// threads, each thread its own nodes (`pimon_aggregator::render`): each node's lines
/// are then exactly the lines rendered frame by frame on one thread, in the same order,
/// `usage_*` included (a node's CPU history goes to one thread at a time).
#[test]
fn lines_rendered_on_several_threads_are_each_nodes_lines_in_the_same_order() {
    let nodes = ["a", "b", "c", "d", "e"];
    let mut datagrams = Vec::new();
    for n in 0..4u64 {
        for node in nodes {
            for part in 0..2 {
                datagrams.push(frame_of(node, 7, n * 2, part, 2, n));
            }
        }
    }
    // A cycle of node "c" before its predecessor: it waits for it, then both get usage.
    let (i, j) = (
        datagrams
            .iter()
            .position(|d| d == &frame_of("c", 7, 2, 0, 2, 1))
            .unwrap(),
        datagrams
            .iter()
            .position(|d| d == &frame_of("c", 7, 4, 0, 2, 2))
            .unwrap(),
    );
    datagrams.swap(i, j);
    let render = |render_threads: usize, render_chunk: usize| {
        let mut h = Harness::new();
        h.ingest = Ingest::new(
            Store::new(Limits::default(), Staleness::default(), T0),
            None,
            IngestConfig {
                precision: Precision::Milliseconds,
                render_threads,
                render_chunk,
                ..IngestConfig::default()
            },
            Arc::new(AggregatorStats::default()),
        );
        let mut lines = String::new();
        for batch in datagrams.chunks(20) {
            h.ingest.begin_batch_of(batch.len());
            for d in batch {
                let (v, more) = h.send(d);
                assert_eq!(v, Verdict::Stored);
                lines.push_str(&more);
            }
            h.lines.clear();
            h.ingest.finish_lines(&mut h.lines);
            lines.push_str(&h.lines);
            h.ingest.commit_batch();
        }
        lines
    };
    let by_node = |lines: &str| {
        let mut nodes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for line in lines.lines() {
            let host = line
                .split(',')
                .find_map(|t| t.strip_prefix("host="))
                .unwrap();
            let host = host.split(' ').next().unwrap().to_string();
            nodes.entry(host).or_default().push(line.to_string());
        }
        nodes
    };
    let one = render(1, 1);
    let usage = one.lines().filter(|l| l.contains("usage_user=")).count();
    assert!(usage >= 5 * 3 * 3, "{usage} usage lines:\n{one}");
    for (threads, chunk) in [(2, 4), (3, 4), (3, 20), (8, 3)] {
        let many = render(threads, chunk);
        assert_eq!(
            by_node(&many),
            by_node(&one),
            "{threads} threads, chunks of {chunk}"
        );
    }
}

/// One cycle's groups as the collector sends them, with Telegraf's whole lines.
#[test]
fn mem_swap_disk_system_and_processes_lines_are_telegrafs() {
    let header = DataHeader {
        node: "pi",
        boot_id: 7,
        seq: 0,
        resend_floor: 0,
        timestamp_ms: T0,
        interval_ms: 10_000,
        user_hz: 100,
        part: 0,
        parts: 1,
        key_id: None,
    };
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut w = FrameWriter::new(&mut buf, &header).unwrap();
    let u = Value::Unsigned;
    let group = |w: &mut FrameWriter<'_>, labels: &[&str], samples: &[(u16, u64)]| {
        w.begin_group(&EncodedLabels::encode(labels).unwrap())
            .unwrap();
        for &(m, v) in samples {
            w.push(m, u(v)).unwrap();
        }
    };
    group(&mut w, &[], &[(id::UPTIME, 35_482_156)]);
    group(
        &mut w,
        &[],
        &[
            (id::MEM_MEMTOTAL, 3_885_328),
            (id::MEM_MEMFREE, 2_164_584),
            (id::MEM_MEMAVAILABLE, 3_293_460),
            (id::MEM_CACHED, 1_163_476),
            (id::MEM_SWAPTOTAL, 102_400),
            (id::MEM_SWAPFREE, 76_800),
            (id::MEM_SRECLAIMABLE, 74_512),
        ],
    );
    group(
        &mut w,
        &["/dev/mmcblk0p2", "ext4", "/"],
        &[
            (id::FS_SIZE, 31_037_341_696),
            (id::FS_FREE, 25_445_965_824),
            (id::FS_AVAIL, 24_154_128_384),
            (id::FS_FILES, 1_900_544),
            (id::FS_FILES_FREE, 1_760_412),
            (id::FS_READONLY, 0),
            (id::FS_DEVICE_ERROR, 0),
        ],
    );
    group(
        &mut w,
        &[],
        &[
            (id::PROCESSES_PIDS, 11),
            (id::PROCESSES_THREADS, 14),
            (id::PROCESSES_STATE_R, 1),
            (id::PROCESSES_STATE_S, 6),
            (id::PROCESSES_STATE_T, 1),
            (id::PROCESSES_STATE_LOWER_T, 1),
        ],
    );
    let len = w.finish();
    let len = seal(&mut buf, len, 1, None).unwrap();
    let mut h = Harness::new();
    let (_, lines) = h.send(&buf[..len]);
    let line = |measurement: &str| {
        lines
            .lines()
            .find(|l| l.starts_with(measurement))
            .unwrap_or_else(|| panic!("no {measurement} line in:\n{lines}"))
            .to_string()
    };
    assert_eq!(
        line("system,"),
        format!("system,host=pi uptime=354822i,uptime_format=\"4 days,  2:33\" {T0}")
    );
    let (total, available) = (3_885_328u64 * 1024, 3_293_460u64 * 1024);
    let used = total - available;
    let mem = line("mem,");
    for field in [
        format!("total={total}i"),
        format!("used={used}i"),
        format!("used_percent={}", 100.0 * used as f64 / total as f64),
        format!(
            "available_percent={}",
            100.0 * available as f64 / total as f64
        ),
        format!("cached={}i", (1_163_476 + 74_512) * 1024),
        "dirty=0i".to_string(),
        "huge_pages_total=0i".to_string(),
    ] {
        assert!(
            mem.split([' ', ',']).any(|f| f == field),
            "{field} not in {mem}"
        );
    }
    // Derived fields replace catalog ones (available) instead of repeating them.
    let keys: Vec<&str> = mem
        .split(' ')
        .nth(1)
        .unwrap()
        .split(',')
        .map(|f| f.split('=').next().unwrap())
        .collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "a field twice in {mem}");
    assert_eq!(
        line("swap,"),
        format!(
            "swap,host=pi total={}i,used={}i,free={}i,used_percent={} {T0}",
            102_400 * 1024,
            25_600 * 1024,
            76_800 * 1024,
            (102_400.0 * 1024.0 - 76_800.0 * 1024.0) / (102_400.0 * 1024.0) * 100.0
        )
    );
    let (used, free) = (31_037_341_696u64 - 25_445_965_824, 24_154_128_384u64);
    assert_eq!(
        line("disk,"),
        format!(
            "disk,device=mmcblk0p2,fstype=ext4,host=pi,mode=rw,path=/ total=31037341696i,\
             free=24154128384i,inodes_total=1900544i,inodes_free=1760412i,used={used}i,\
             used_percent={},inodes_used=140132i,inodes_used_percent={} {T0}",
            used as f64 / (used as f64 + free as f64) * 100.0,
            140_132.0 / (140_132.0 + 1_760_412.0) * 100.0
        )
    );
    assert_eq!(
        line("processes,"),
        format!(
            "processes,host=pi total=11i,total_threads=14i,running=1i,sleeping=6i,\
             stopped=2i,blocked=0i,zombies=0i,unknown=0i,dead=0i,paging=0i,idle=0i {T0}"
        )
    );
}
