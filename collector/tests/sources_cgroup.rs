//! The cgroup source on the four fixture trees (k3s with the cgroupfs driver and
//! containerd, kubeadm with the systemd driver, a Docker host with a Podman container,
//! a plain Raspberry Pi OS without the memory controller), value by value.
//!
//! The expected values are computed here from the fixture files with plain string
//! handling (an oracle independent of the collector's parsers), including the working
//! set as cAdvisor and `kubectl top` define it: `memory.current` − `inactive_file` of
//! `memory.stat`, at least 0. The workloads and their names are listed by hand.

mod sources_support;

use std::collections::BTreeMap;
use std::path::Path;

use pimon_collector::source::{SourceKind, SourceSet, SourceStatus, Sources, SourcesConfig};
use pimon_protocol::Value;
use pimon_protocol::catalog::{CGROUP_METRICS, id, lookup};
use sources_support::{Recorder, fixture_config, fixture_root};

/// A config reading only the cgroup source of fixture tree `name`.
fn cgroup_only(name: &str) -> SourcesConfig {
    let mut sources = SourceSet::none();
    sources.insert(SourceKind::Cgroup);
    SourcesConfig {
        sources,
        ..fixture_config(name)
    }
}

fn collect(config: &SourcesConfig) -> (Sources, Recorder) {
    let mut sources = Sources::open(config);
    let mut r = Recorder::default();
    sources.collect(&mut r);
    r.check_consistency();
    (sources, r)
}

/// `key value` lines of a file as a map.
fn key_values(path: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn number(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().parse().unwrap())
}

/// What the collector must send for the cgroup directory `dir`, by offset in the
/// kind's catalog run, computed from its files.
fn expected(dir: &Path) -> BTreeMap<u16, u64> {
    let mut e = BTreeMap::new();
    let cpu = key_values(&dir.join("cpu.stat"));
    for (offset, key) in [
        (0, "usage_usec"),
        (1, "user_usec"),
        (2, "system_usec"),
        (3, "nr_periods"),
        (4, "nr_throttled"),
        (5, "throttled_usec"),
    ] {
        if let Some(&v) = cpu.get(key) {
            e.insert(offset, v);
        }
    }
    if let Some(current) = number(&dir.join("memory.current")) {
        let stat = key_values(&dir.join("memory.stat"));
        e.insert(6, current);
        // kubectl top / cAdvisor: working set = usage - inactive_file, floored at 0.
        e.insert(7, current.saturating_sub(stat["inactive_file"]));
        e.insert(8, stat["anon"]);
        e.insert(9, stat["file"]);
        e.insert(10, number(&dir.join("memory.swap.current")).unwrap());
        let max = std::fs::read_to_string(dir.join("memory.max")).unwrap();
        e.insert(11, max.trim().parse().unwrap_or(0)); // "max": no limit, 0 as cAdvisor
        e.insert(12, key_values(&dir.join("memory.events"))["oom_kill"]);
    }
    if let Ok(io) = std::fs::read_to_string(dir.join("io.stat")) {
        let mut sums = [0u64; 4];
        for field in io.split_whitespace() {
            if let Some((k, v)) = field.split_once('=') {
                let at = ["rbytes", "wbytes", "rios", "wios"]
                    .iter()
                    .position(|&x| x == k);
                if let Some(at) = at {
                    sums[at] += v.parse::<u64>().unwrap();
                }
            }
        }
        for (i, s) in sums.iter().enumerate() {
            e.insert(13 + i as u16, *s);
        }
    }
    e.insert(17, number(&dir.join("pids.current")).unwrap());
    for (i, res) in ["cpu", "memory", "io"].iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(format!("{res}.pressure"))).unwrap();
        for (j, line) in text.lines().enumerate() {
            let total = line.rsplit_once("total=").unwrap().1.parse().unwrap();
            e.insert(18 + 2 * i as u16 + j as u16, total);
        }
    }
    e
}

/// The samples of the workload with exactly `labels`, by offset from `first`.
fn sent(r: &Recorder, first: u16, labels: &[&str]) -> BTreeMap<u16, u64> {
    r.samples
        .iter()
        .filter(|s| {
            s.labels == labels && (first..first + CGROUP_METRICS as u16).contains(&s.metric)
        })
        .map(|s| match s.value {
            Value::Unsigned(v) => (s.metric - first, v),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// Checks every workload of tree `tree`: `(first id of the kind, labels)`, the id
/// (cgroup path) last; and that nothing else was sent.
fn check_tree(tree: &str, workloads: &[(u16, Vec<String>)]) -> Recorder {
    let (sources, r) = collect(&cgroup_only(tree));
    assert_eq!(sources.status(SourceKind::Cgroup), &SourceStatus::Present);
    assert_eq!(sources.error_count(SourceKind::Cgroup), 0);
    let cgroup_root = fixture_root(tree).join("sys/fs/cgroup");
    for (first, labels) in workloads {
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let path = labels.last().unwrap().trim_start_matches('/');
        let want = expected(&cgroup_root.join(path));
        assert!(want.len() >= 8, "{path}: {want:?}");
        assert_eq!(sent(&r, *first, &labels), want, "{tree} {labels:?}");
    }
    // Nothing but these workloads, and the source's own two figures.
    let workload_samples: usize = workloads
        .iter()
        .map(|(first, l)| {
            let l: Vec<&str> = l.iter().map(String::as_str).collect();
            sent(&r, *first, &l).len()
        })
        .sum();
    assert_eq!(r.samples.len(), workload_samples + 2, "{tree}");
    assert_eq!(
        r.value(id::CGROUP_WORKLOADS_TRACKED, &[]),
        Value::Unsigned(workloads.len() as u64)
    );
    assert_eq!(
        r.value(id::CGROUP_WORKLOADS_UNTRACKED, &[]),
        Value::Unsigned(0)
    );
    r
}

/// The pod and container workloads of the kubelet's log names in `tree`, with the
/// cgroup paths `pod_dir(qos, uid)` and `container_dir(pod_dir, id)`.
fn kubernetes_workloads(
    tree: &str,
    pod_dir: impl Fn(&str, &str) -> String,
    container_dir: impl Fn(&str, &str) -> String,
) -> Vec<(u16, Vec<String>)> {
    // (namespace, pod, qos, containers), as the fixture generator writes them.
    let pods = [
        (
            "kube-system",
            "coredns-6799fbcd5-x7k2p",
            "burstable",
            &["coredns"][..],
        ),
        (
            "kube-system",
            "local-path-provisioner-6c86858495-q8xlw",
            "besteffort",
            &["local-path-provisioner"][..],
        ),
        (
            "kube-system",
            "metrics-server-54fd9b65b-2mzcj",
            "burstable",
            &["metrics-server"][..],
        ),
        (
            "kube-system",
            "svclb-traefik-4c1e9b2d-kd8rn",
            "besteffort",
            &["lb-tcp-80", "lb-tcp-443"][..],
        ),
        (
            "kube-system",
            "traefik-7d5f6474df-vn6g4",
            "besteffort",
            &["traefik"][..],
        ),
        (
            "home",
            "homeassistant-0",
            "guaranteed",
            &["homeassistant", "log-shipper"][..],
        ),
    ];
    let logs = fixture_root(tree).join("var/log");
    let mut out = Vec::new();
    for (ns, pod, qos, containers) in pods {
        // The UID from /var/log/pods, the ids from /var/log/containers.
        let uid = std::fs::read_dir(logs.join("pods"))
            .unwrap()
            .flatten()
            .find_map(|e| {
                let n = e.file_name().into_string().unwrap();
                n.strip_prefix(&format!("{ns}_{pod}_")).map(str::to_string)
            })
            .unwrap();
        let pdir = pod_dir(qos, &uid);
        out.push((
            id::CGROUP_K8S_POD_CPU_USAGE,
            vec![ns.into(), pod.into(), format!("/{pdir}")],
        ));
        for c in containers {
            let link = std::fs::read_dir(logs.join("containers"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().into_string().unwrap())
                .find(|n| n.starts_with(&format!("{pod}_{ns}_{c}-")))
                .unwrap();
            let cid = &link[link.len() - 68..link.len() - 4];
            out.push((
                id::CGROUP_K8S_CONTAINER_CPU_USAGE,
                vec![
                    ns.into(),
                    pod.into(),
                    c.to_string(),
                    format!("/{}", container_dir(&pdir, cid)),
                ],
            ));
        }
    }
    out
}

fn services(names: &[&str]) -> Vec<(u16, Vec<String>)> {
    names
        .iter()
        .map(|n| {
            (
                id::CGROUP_SERVICE_CPU_USAGE,
                vec![format!("/system.slice/{n}")],
            )
        })
        .collect()
}

#[test]
fn k3s_node_cgroupfs_driver_containerd() {
    let mut w = services(&["k3s.service", "ssh.service", "systemd-journald.service"]);
    w.extend(kubernetes_workloads(
        "cgroup-k3s",
        |qos, uid| match qos {
            "guaranteed" => format!("kubepods/pod{uid}"),
            q => format!("kubepods/{q}/pod{uid}"),
        },
        |pod, cid| format!("{pod}/{cid}"),
    ));
    assert_eq!(w.len(), 3 + 6 + 8);
    let r = check_tree("cgroup-k3s", &w);
    // One workload by hand: coredns' working set (memory.current - inactive_file).
    let coredns = &w
        .iter()
        .find(|(_, l)| l.len() == 4 && l[2] == "coredns")
        .unwrap()
        .1;
    let labels: Vec<&str> = coredns.iter().map(String::as_str).collect();
    let current = r.value(id::CGROUP_K8S_CONTAINER_MEMORY_USAGE, &labels);
    let ws = r.value(id::CGROUP_K8S_CONTAINER_MEMORY_WORKING_SET, &labels);
    assert_eq!(
        (current, ws),
        (
            Value::Unsigned(27_287_552),
            Value::Unsigned(27_287_552 - 3_630_148)
        )
    );
    // The Prometheus side: cAdvisor's name, cpu="total", seconds.
    let usage = lookup(id::CGROUP_K8S_CONTAINER_CPU_USAGE).unwrap();
    assert_eq!(
        (usage.prom_name, usage.labels, usage.const_labels),
        (
            "container_cpu_usage_seconds_total",
            &["namespace", "pod", "container", "id"][..],
            &[("cpu", "total")][..]
        )
    );
    // Sandboxes (pause) have no log link: not tracked on their own.
    assert!(
        !r.samples
            .iter()
            .any(|s| s.labels.len() == 4 && s.labels[2].is_empty())
    );
}

#[test]
fn kubeadm_node_systemd_driver() {
    let mut w = services(&[
        "containerd.service",
        "kubelet.service",
        "ssh.service",
        "systemd-journald.service",
    ]);
    w.extend(kubernetes_workloads(
        "cgroup-kubeadm",
        |qos, uid| {
            let u = uid.replace('-', "_");
            match qos {
                "guaranteed" => format!("kubepods.slice/kubepods-pod{u}.slice"),
                q => format!("kubepods.slice/kubepods-{q}.slice/kubepods-{q}-pod{u}.slice"),
            }
        },
        |pod, cid| format!("{pod}/cri-containerd-{cid}.scope"),
    ));
    check_tree("cgroup-kubeadm", &w);
}

#[test]
fn docker_host_with_a_podman_container() {
    let root = fixture_root("cgroup-docker");
    let mut w = services(&["docker.service", "containerd.service", "ssh.service"]);
    let scopes: Vec<String> = std::fs::read_dir(root.join("sys/fs/cgroup/system.slice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with("docker-") && n.ends_with(".scope"))
        .collect();
    assert_eq!(scopes.len(), 4);
    for scope in scopes {
        let cid = &scope["docker-".len()..scope.len() - ".scope".len()];
        // The name from Docker's state; the orphan scope (no state) has none.
        let name = std::fs::read_to_string(
            root.join(format!("var/lib/docker/containers/{cid}/config.v2.json")),
        )
        .map(|j| {
            let at = j.find("\"Name\": \"/").unwrap() + "\"Name\": \"/".len();
            j[at..at + j[at..].find('"').unwrap()].to_string()
        })
        .unwrap_or_default();
        w.push((
            id::CGROUP_DOCKER_CPU_USAGE,
            vec![name, format!("/system.slice/{scope}")],
        ));
    }
    let libpod = std::fs::read_dir(root.join("sys/fs/cgroup/machine.slice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .find(|n| n.starts_with("libpod-") && !n.starts_with("libpod-conmon-"))
        .unwrap();
    w.push((
        id::CGROUP_DOCKER_CPU_USAGE,
        vec!["nextcloud".into(), format!("/machine.slice/{libpod}")],
    ));
    let r = check_tree("cgroup-docker", &w);
    let names: Vec<String> = r
        .label_sets(id::CGROUP_DOCKER_CPU_USAGE)
        .into_iter()
        .map(|l| l[0].clone())
        .collect();
    for expected in ["homeassistant", "pihole", "mosquitto", "nextcloud", ""] {
        assert!(names.contains(&expected.to_string()), "{names:?}");
    }
}

#[test]
fn raspberry_pi_os_services_without_the_memory_controller() {
    let mut w = services(&[
        "ssh.service",
        "cron.service",
        "bluetooth.service",
        "dhcpcd.service",
        "avahi-daemon.service",
        "systemd-journald.service",
        "system-getty.slice/getty@tty1.service",
    ]);
    w.sort();
    let r = check_tree("cgroup-rpi", &w);
    // No memory controller: CPU, tasks and pressure only.
    assert_eq!(r.count(id::CGROUP_SERVICE_MEMORY_USAGE), 0);
    assert_eq!(r.count(id::CGROUP_SERVICE_CFS_PERIODS), 0);
    assert_eq!(r.count(id::CGROUP_SERVICE_THREADS), 7);
}

#[test]
fn filters_by_namespace_unit_and_name() {
    let mut config = cgroup_only("cgroup-k3s");
    config.cgroup.namespaces.exclude = vec!["kube-system".into()];
    config.cgroup.units.include = vec!["k3s*".into()];
    config.cgroup.names.exclude = vec!["log-*".into()];
    let (_, r) = collect(&config);
    let mut seen: Vec<Vec<String>> = Vec::new();
    for first in [
        id::CGROUP_SERVICE_CPU_USAGE,
        id::CGROUP_K8S_POD_CPU_USAGE,
        id::CGROUP_K8S_CONTAINER_CPU_USAGE,
    ] {
        seen.extend(r.label_sets(first));
    }
    let names: Vec<String> = seen.iter().map(|l| l[..l.len() - 1].join("/")).collect();
    assert_eq!(
        names,
        [
            "",
            "home/homeassistant-0",
            "home/homeassistant-0/homeassistant"
        ],
        "{seen:?}"
    );
    assert!(seen[0][0].ends_with("/k3s.service"));
}

#[test]
fn a_full_table_counts_what_does_not_fit() {
    let mut config = cgroup_only("cgroup-k3s");
    config.cgroup.max = 5;
    let (sources, r) = collect(&config);
    assert_eq!(
        r.value(id::CGROUP_WORKLOADS_TRACKED, &[]),
        Value::Unsigned(5)
    );
    assert_eq!(
        r.value(id::CGROUP_WORKLOADS_UNTRACKED, &[]),
        Value::Unsigned(17 - 5)
    );
    assert_eq!(sources.error_count(SourceKind::Cgroup), 0);
    assert!(
        sources
            .report()
            .to_string()
            .contains("5 of at most 5 workloads tracked, 12 not (table full)")
    );
}

#[test]
fn cgroup_v1_only_is_absent_with_a_reason() {
    let dir = std::env::temp_dir().join(format!("pimon-cgroup-v1-{}", std::process::id()));
    for c in ["memory", "cpu,cpuacct", "pids"] {
        std::fs::create_dir_all(dir.join("sys/fs/cgroup").join(c)).unwrap();
    }
    let config = SourcesConfig {
        root: dir.clone(),
        ..cgroup_only("cgroup-rpi")
    };
    let sources = Sources::open(&config);
    match sources.status(SourceKind::Cgroup) {
        SourceStatus::Absent(why) => {
            assert!(
                why.contains("cgroup v1 only") && why.contains("not supported"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(sources.report().to_string().contains("cgroup: absent ("));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hybrid host (Debian 10 / Raspberry Pi OS buster, Ubuntu 20.04 with systemd's
/// default): the unified tree has `cpu.stat` and the pressure files; memory, pids,
/// blkio and CPU throttling are in the v1 hierarchies under the same path, in their v1
/// formats. Values chosen by hand, checked one by one.
#[test]
fn hybrid_host_reads_memory_pids_blkio_and_throttling_from_v1() {
    let root = std::env::temp_dir().join(format!("pimon-cgroup-hybrid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cg = root.join("sys/fs/cgroup");
    let unit = "system.slice/ssh.service";
    let write = |rel: &str, text: &str| {
        let path = cg.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("unified/cgroup.controllers", "");
    write(
        &format!("unified/{unit}/cpu.stat"),
        "usage_usec 5000000\nuser_usec 3000000\nsystem_usec 2000000\n",
    );
    for (res, total) in [("cpu", 11), ("memory", 22), ("io", 33)] {
        write(
            &format!("unified/{unit}/{res}.pressure"),
            &format!(
                "some avg10=0.00 avg60=0.00 avg300=0.00 total={total}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={}\n",
                total + 1
            ),
        );
    }
    write(
        &format!("memory/{unit}/memory.usage_in_bytes"),
        "10485760\n",
    );
    write(
        &format!("memory/{unit}/memory.stat"),
        "cache 1\nrss 2\ninactive_file 3\ntotal_cache 4194304\ntotal_rss 6291456\ntotal_swap 4096\ntotal_inactive_file 1048576\n",
    );
    write(
        &format!("memory/{unit}/memory.limit_in_bytes"),
        "9223372036854771712\n",
    );
    write(
        &format!("memory/{unit}/memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    );
    write(&format!("pids/{unit}/pids.current"), "7\n");
    write(
        &format!("blkio/{unit}/blkio.throttle.io_service_bytes_recursive"),
        "179:0 Read 8192\n179:0 Write 4096\n179:0 Sync 0\n179:0 Async 12288\n179:0 Total 12288\n8:0 Read 1\n8:0 Write 2\nTotal 12291\n",
    );
    write(
        &format!("blkio/{unit}/blkio.throttle.io_serviced_recursive"),
        "179:0 Read 2\n179:0 Write 1\n179:0 Total 3\nTotal 3\n",
    );
    write(
        &format!("cpu,cpuacct/{unit}/cpu.stat"),
        "nr_periods 50\nnr_throttled 5\nthrottled_time 7000000\n",
    );
    std::os::unix::fs::symlink("cpu,cpuacct", cg.join("cpu")).unwrap();

    let config = SourcesConfig {
        root: root.clone(),
        ..cgroup_only("cgroup-rpi")
    };
    let (sources, r) = collect(&config);
    assert!(
        sources
            .report()
            .to_string()
            .contains("(hybrid: unified tree and v1 controllers)"),
        "{}",
        sources.report()
    );
    let got = sent(
        &r,
        id::CGROUP_SERVICE_CPU_USAGE,
        &["/system.slice/ssh.service"],
    );
    let want: BTreeMap<u16, u64> = [
        (0, 5_000_000),
        (1, 3_000_000),
        (2, 2_000_000),
        (3, 50),
        (4, 5),
        (5, 7_000), // throttled_time ns → µs
        (6, 10_485_760),
        (7, 10_485_760 - 1_048_576), // usage - total_inactive_file
        (8, 6_291_456),
        (9, 4_194_304),
        (10, 4096),
        (11, 0), // no limit
        (12, 2),
        (13, 8193),
        (14, 4098),
        (15, 2),
        (16, 1),
        (17, 7),
        (18, 11),
        (19, 12),
        (20, 22),
        (21, 23),
        (22, 33),
        (23, 34),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(sources.error_count(SourceKind::Cgroup), 0);
    std::fs::remove_dir_all(&root).unwrap();
}

/// The `[filters]` keys of the cgroup source, and their errors.
#[test]
fn config_keys_of_the_cgroup_source() {
    use pimon_collector::config::{ConfigFile, sources_config};
    let file = ConfigFile::parse(
        "[filters]\ncgroup_namespace_exclude = kube-system, monitoring\ncgroup_unit_include = k3s* ssh.service\n\
         cgroup_name_exclude = pause*\ncgroup_max = 64\ncgroup_rediscover = 2m\ncgroup_every = 3\n",
    )
    .unwrap();
    let c = sources_config(Path::new("/"), &file.filters)
        .unwrap()
        .cgroup;
    assert_eq!(c.namespaces.exclude, ["kube-system", "monitoring"]);
    assert_eq!(c.units.include, ["k3s*", "ssh.service"]);
    assert_eq!(c.names.exclude, ["pause*"]);
    assert_eq!(
        (c.max, c.rediscover),
        (64, std::time::Duration::from_secs(120))
    );
    for (line, problem) in [
        (
            "cgroup_max = 0",
            "cgroup_max: \"0\" is not a number from 1 to 4096",
        ),
        (
            "cgroup_max = 5000",
            "cgroup_max: \"5000\" is not a number from 1 to 4096",
        ),
        ("cgroup_rediscover = soon", "cgroup_rediscover:"),
        (
            "cgroup_every = 0",
            "cgroup_every: \"0\" is not a number from 1 to 60",
        ),
        (
            "cgroup_pod_include = x",
            "unknown key \"cgroup_pod_include\"",
        ),
    ] {
        let file = ConfigFile::parse(&format!("[filters]\n{line}\n")).unwrap();
        let e = sources_config(Path::new("/"), &file.filters).unwrap_err();
        assert!(e.to_string().contains(problem), "{line}: {e}");
    }
    let off = ConfigFile::parse("[filters]\ndisable = cgroup\n").unwrap();
    let cfg = sources_config(Path::new("/"), &off.filters).unwrap();
    assert!(!cfg.sources.contains(SourceKind::Cgroup));
    let sources = Sources::open(&SourcesConfig {
        root: fixture_root("cgroup-k3s"),
        ..cfg
    });
    assert_eq!(sources.status(SourceKind::Cgroup), &SourceStatus::Disabled);
}

/// `cgroup_every = 2`: the workloads are read in every other cycle; the source's own
/// tracked/untracked figures in every cycle.
#[test]
fn workloads_are_read_every_nth_cycle() {
    let mut config = cgroup_only("cgroup-rpi");
    config.cgroup.every = 2;
    let mut sources = Sources::open(&config);
    let mut per_cycle = Vec::new();
    for _ in 0..5 {
        let mut r = Recorder::default();
        sources.collect(&mut r);
        per_cycle.push((
            r.count(id::CGROUP_SERVICE_CPU_USAGE),
            r.count(id::CGROUP_WORKLOADS_TRACKED),
        ));
    }
    assert_eq!(per_cycle, [(7, 1), (0, 1), (7, 1), (0, 1), (7, 1)]);
}

/// A container whose log link the kubelet writes after its cgroup appeared is named at
/// the next discovery (containers without a link, such as sandboxes, are remembered
/// and not looked up again while `/var/log/containers` is unchanged).
#[test]
fn a_container_linked_after_its_cgroup_appeared_is_named_at_the_next_discovery() {
    let root = std::env::temp_dir().join(format!("pimon-cgroup-late-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture_root("cgroup-k3s"))
        .arg(&root)
        .status()
        .unwrap();
    assert!(status.success());
    let links = root.join("var/log/containers");
    let link = std::fs::read_dir(&links)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("_kube-system_coredns-"))
        .unwrap();
    let target = std::fs::read_link(&link).unwrap();
    std::fs::remove_file(&link).unwrap();

    let mut config = SourcesConfig {
        root: root.clone(),
        ..cgroup_only("cgroup-k3s")
    };
    config.cgroup.rediscover = std::time::Duration::ZERO;
    let mut sources = Sources::open(&config);
    let coredns = |sources: &mut Sources| {
        let mut r = Recorder::default();
        sources.collect(&mut r);
        r.label_sets(id::CGROUP_K8S_CONTAINER_CPU_USAGE)
            .iter()
            .any(|l| l[2] == "coredns")
    };
    assert!(!coredns(&mut sources));
    assert!(!coredns(&mut sources), "still no link");
    // The directory's modification time must move: some filesystems keep whole seconds.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(coredns(&mut sources), "named once the link is there");
    std::fs::remove_dir_all(&root).unwrap();
}
