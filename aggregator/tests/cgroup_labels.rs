//! A node with the collector's cgroup source sends one label set per workload, each
//! with its cgroup path (`id`, up to ~190 bytes with the systemd driver), and 24 series
//! per workload: a busy k3s node (160 Kubernetes containers here) must fit the default
//! limits (label space, series per node), and its series must reach `/metrics` with
//! cAdvisor's labels.

mod frames;

use std::sync::Arc;

use frames::{Frame, T0};
use pimon_aggregator::ingest::{Ingest, IngestConfig, Verdict};
use pimon_aggregator::prom::{self, Sources};
use pimon_aggregator::stats::{AggregatorStats, get};
use pimon_aggregator::store::{Limits, Staleness, Store};
use pimon_protocol::catalog::{CGROUP_METRICS, id};
use pimon_protocol::text::prometheus::Format;
use pimon_protocol::{MAX_DATAGRAM, Value};

/// The labels of container `i`: namespace, pod, container, and a systemd-driver path.
fn labels(i: u32) -> [String; 4] {
    let uid = format!("{i:08x}_1234_4abc_9def_0123456789ab");
    [
        format!("namespace-{}", i % 7),
        format!("deployment-{i:03}-7d5f6474df-vn6g4"),
        format!("container-{i:03}"),
        format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/\
             cri-containerd-{i:08x}{}.scope",
            "0123456789abcdef".repeat(3) + "01234567"
        ),
    ]
}

#[test]
fn a_busy_k3s_node_with_cgroups_fits_the_default_limits() {
    let stats = Arc::new(AggregatorStats::default());
    let store = Store::new(Limits::default(), Staleness::default(), T0);
    let mut ing = Ingest::new(store, None, IngestConfig::default(), Arc::clone(&stats));
    let (mut lines, mut ack) = (String::new(), [0u8; MAX_DATAGRAM]);
    let containers = 160u32;
    let mut label_bytes = 0;
    for (seq, chunk) in (0..containers).collect::<Vec<_>>().chunks(2).enumerate() {
        let mut f = Frame::new("k3s-busy").seq(seq as u64).floor(0).at(T0);
        for &i in chunk {
            let l = labels(i);
            label_bytes += l.iter().map(String::len).sum::<usize>();
            let refs: Vec<&str> = l.iter().map(String::as_str).collect();
            // Every row of the workload: the first is the CPU usage in µs.
            let samples: Vec<(u16, Value)> = (0..CGROUP_METRICS as u16)
                .map(|k| {
                    let v = if k == 0 {
                        1_000_000 + u64::from(i)
                    } else {
                        u64::from(k)
                    };
                    (id::CGROUP_K8S_CONTAINER_CPU_USAGE + k, Value::Unsigned(v))
                })
                .collect();
            f = f.group(&refs, &samples);
        }
        let from = "127.0.0.1:4000".parse().unwrap();
        let o = ing.ingest(&f.bytes(), from, T0, &mut lines, &mut ack);
        assert_eq!(o.verdict, Verdict::Stored, "frame {seq}");
    }
    assert!(label_bytes > 32 * 1024, "{label_bytes} bytes of labels");
    assert_eq!(get(&stats.series_refused_limit), 0);
    let node = ing.store.get("k3s-busy").unwrap();
    // 3,840 series: more than the old default of 1,000 per node.
    assert_eq!(node.series.len(), CGROUP_METRICS * containers as usize);
    assert_eq!(node.meta.counters.series_refused, 0);

    let mut out = String::new();
    prom::render(
        &mut out,
        Format::Text004,
        &ing.store,
        T0,
        &Sources::default(),
    );
    let last = labels(containers - 1);
    let line = format!(
        "container_cpu_usage_seconds_total{{instance=\"k3s-busy\",namespace=\"{}\",pod=\"{}\",container=\"{}\",id=\"{}\",cpu=\"total\"}} 1.000159\n",
        last[0], last[1], last[2], last[3]
    );
    assert!(out.contains(&line), "missing {line}");
}
