//! The deployment files and the real binaries cannot drift apart.
//! No container engine or systemd boot runs here, so the host release binaries are run
//! with exactly the command lines the files give them:
//!
//! - `scripts/check-deploy --collector BIN --aggregator BIN --require-tools` passes
//!   (manifests, units, dashboards, and every flag they use in the binaries' `--help`);
//! - the collector DaemonSet's args, with `$(NODE_NAME)` expanded from the downward API
//!   and `--root` pointing at a stand-in for the container's view (the manifest's
//!   `hostPath` volumes mounted at its `mountPath`s — the host's `/` at `/host` — taken
//!   from the Pi 4 fixture), pass `--check` with every source found, the mount table
//!   read under that root;
//! - the aggregator Deployment's args pass `--check-config`;
//! - the systemd units' `ExecStart` lines (plain, and as the key drop-ins replace them),
//!   with `$PIMON_*_ARGS` from the `/etc/default` files and a credentials directory,
//!   pass `--check` / `--check-config`.
//!
//! The collector's `--aggregator` host is replaced by 127.0.0.1 (port kept): `--check`
//! resolves it, and these tests send nothing, DNS queries included, off this machine.
//!
//! The Kubernetes YAML is read with Python's PyYAML (`python3-yaml`), as
//! `scripts/check-deploy` does.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pimon_e2e::binaries::{Program, host_binary};
use pimon_e2e::process::{self, Finished};
use pimon_e2e::{fixture, repo_root};
use serde_json::Value as Json;

const TIMEOUT: Duration = Duration::from_secs(60);
/// The Kubernetes node name the downward API would give.
const NODE_NAME: &str = "k3s-pi-node-1";

/// All documents of `deploy/kubernetes/*.yaml`, as JSON (through PyYAML).
fn manifests() -> Vec<Json> {
    let mut files: Vec<PathBuf> = fs::read_dir(repo_root().join("deploy/kubernetes"))
        .expect("deploy/kubernetes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(
            "import json, sys, yaml\n\
             docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
             print(json.dumps(docs))",
        )
        .args(&files);
    let out = process::run("python3 (PyYAML)", cmd, TIMEOUT);
    assert!(
        out.status.success(),
        "reading the manifests needs python3 with PyYAML (apt-get install -y python3-yaml)\n{}",
        out.report
    );
    serde_json::from_str::<Vec<Json>>(&out.stdout).expect("PyYAML's JSON")
}

/// The document of `kind` named `name`.
fn find<'a>(docs: &'a [Json], kind: &str, name: &str) -> &'a Json {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

fn strings(v: &Json) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

/// Expands `$(VAR)` in an argument as Kubernetes does, from the container's `env`.
fn expand_k8s(arg: &str, env: &HashMap<String, String>) -> String {
    let mut out = arg.to_string();
    for (name, value) in env {
        out = out.replace(&format!("$({name})"), value);
    }
    assert!(
        !out.contains("$("),
        "unexpanded variable in container arg {arg:?}"
    );
    out
}

/// The container's environment: plain values, and the downward API's `spec.nodeName`.
fn container_env(container: &Json) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().expect("env name").to_string();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else {
            let field = e["valueFrom"]["fieldRef"]["fieldPath"].as_str();
            assert_eq!(
                field,
                Some("spec.nodeName"),
                "env {name}: unexpected source {e}"
            );
            NODE_NAME.to_string()
        };
        env.insert(name, value);
    }
    env
}

/// Replaces the host of `--aggregator HOST:PORT` with 127.0.0.1, keeping the port: the
/// collector's `--check` resolves the name, and a test must not send DNS queries off
/// this machine (`scripts/check-deploy` checks that the DaemonSet names the Service).
fn aggregator_on_loopback(args: &mut [String]) {
    let at = args
        .iter()
        .position(|a| a == "--aggregator")
        .expect("--aggregator is passed");
    let value = &args[at + 1];
    let (_, port) = value
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("--aggregator {value} has no port"));
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| panic!("--aggregator {value}: bad port"));
    args[at + 1] = format!("127.0.0.1:{port}");
}

fn assert_ok(run: &Finished, what: &str) {
    assert!(run.status.success(), "{what} failed\n{}", run.report);
}

#[test]
fn check_deploy_passes_against_the_real_binaries() {
    let collector = host_binary(Program::Collector);
    let aggregator = host_binary(Program::Aggregator);
    let mut cmd = Command::new("python3");
    cmd.current_dir(repo_root())
        .arg(repo_root().join("scripts/check-deploy"))
        .arg("--collector")
        .arg(&collector)
        .arg("--aggregator")
        .arg(&aggregator)
        .arg("--require-tools");
    let run = process::run("scripts/check-deploy", cmd, TIMEOUT);
    assert_ok(
        &run,
        "scripts/check-deploy --require-tools with the host binaries",
    );
    for program in ["pimon-collector", "pimon-aggregator"] {
        let line =
            format!("ok    {program}: flags used by the manifests and defaults exist in --help");
        assert!(
            run.stdout.contains(&line),
            "check-deploy did not check {program}'s flags:\n{}",
            run.stdout
        );
    }
}

#[test]
fn collector_accepts_the_daemonset_args_and_finds_every_source_through_its_mounts() {
    let docs = manifests();
    let ds = find(&docs, "DaemonSet", "pimon-collector");
    let pod = &ds["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let env = container_env(container);
    let mut args: Vec<String> = strings(&container["args"])
        .iter()
        .map(|a| expand_k8s(a, &env))
        .collect();

    // The container's view of the host: each hostPath volume at its mountPath, with the
    // Pi 4 fixture and a k3s node's cgroups and kubelet logs (`cgroup-k3s`) standing in
    // for the host's file system.
    let host_dir = tempfile::tempdir().expect("temp dir");
    let host = host_dir.path().join("host");
    for tree in ["pi4", "cgroup-k3s"] {
        fs::create_dir_all(&host).expect("mkdir host");
        let status = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", fixture(tree).display()))
            .arg(&host)
            .status()
            .expect("run cp -a");
        assert!(status.success(), "cp -a {tree} failed");
    }
    let container_root = tempfile::tempdir().expect("temp dir");
    let volumes: HashMap<&str, &str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["name"].as_str()?, v["hostPath"]["path"].as_str()?)))
        .collect();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().expect("mount name");
        let mount_path = m["mountPath"].as_str().expect("mountPath");
        let Some(host_path) = volumes.get(name) else {
            continue;
        };
        let source = host.join(host_path.trim_start_matches('/'));
        assert!(
            source.is_dir(),
            "hostPath {host_path} has no stand-in {}",
            source.display()
        );
        let target = container_root
            .path()
            .join(mount_path.trim_start_matches('/'));
        fs::create_dir_all(target.parent().expect("mount parent")).expect("mkdir");
        symlink(&source, &target).expect("symlink the mount");
    }

    let root_at = args
        .iter()
        .position(|a| a == "--root")
        .expect("the DaemonSet passes --root");
    let root_in_container = args[root_at + 1].clone();
    let root = container_root
        .path()
        .join(root_in_container.trim_start_matches('/'));
    args[root_at + 1] = root.display().to_string();
    aggregator_on_loopback(&mut args);

    let mut cmd = Command::new(host_binary(Program::Collector));
    cmd.args(&args).arg("--check");
    let run = process::run("pimon-collector --check (DaemonSet args)", cmd, TIMEOUT);
    assert_ok(&run, &format!("pimon-collector {args:?} --check"));
    assert!(
        run.stdout.contains(&format!("node: {NODE_NAME}")),
        "--node $(NODE_NAME) did not become the node name:\n{}",
        run.stdout
    );
    // A source is absent only where the stand-in host has nothing for it either (a Pi has
    // no power supply class): what is on the host must be found through the mounts.
    let root_prefix = format!("{}/", root.display());
    let absent: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(": absent"))
        .filter(|l| {
            let on_host = l
                .split_once("absent (")
                .and_then(|(_, rest)| rest.split_once(':'))
                .and_then(|(path, _)| path.strip_prefix(&root_prefix))
                .map(|rel| host.join(rel).exists());
            on_host != Some(false)
        })
        .collect();
    assert!(
        absent.is_empty(),
        "with the DaemonSet's mounts under --root {root_in_container}, sources the host has are missing: {absent:?}\n{}",
        run.stdout
    );
    for source in [
        "stat",
        "meminfo",
        "filesystem",
        "thermal",
        "throttled",
        "w1",
        "cgroup",
    ] {
        assert!(
            run.stdout.contains(&format!("{source}: ok")),
            "{source} not found through the DaemonSet's mounts:\n{}",
            run.stdout
        );
    }
    // Pods by name, from the host's cgroups and kubelet logs through the one mount.
    assert!(
        run.stdout.contains(
            "container kube-system/coredns-6799fbcd5-x7k2p/coredns /kubepods/burstable/pod"
        ),
        "the cgroup source did not name the pods through the DaemonSet's mounts:\n{}",
        run.stdout
    );
    // The filesystem source names its mount table once: it must be the stand-in host's
    // (`/host/proc/1/mounts`, or `proc/self/mounts` in a tree without `proc/1`).
    let table = format!("mount table {}/proc/", root.display());
    assert!(
        run.stderr.contains(&table),
        "the mount table was not read under --root {root_in_container}:\n{}",
        run.stderr
    );
}

#[test]
fn aggregator_accepts_the_deployment_args() {
    let docs = manifests();
    let dep = find(&docs, "Deployment", "pimon-aggregator");
    let container = &dep["spec"]["template"]["spec"]["containers"][0];
    let env = container_env(container);
    let args: Vec<String> = strings(&container["args"])
        .iter()
        .map(|a| expand_k8s(a, &env))
        .collect();
    let mut cmd = Command::new(host_binary(Program::Aggregator));
    cmd.args(&args).arg("--check-config");
    let run = process::run(
        "pimon-aggregator --check-config (Deployment args)",
        cmd,
        TIMEOUT,
    );
    assert_ok(&run, &format!("pimon-aggregator {args:?} --check-config"));
    assert!(run.stdout.contains("configuration OK"), "{}", run.report);
}

/// `$PIMON_…_ARGS` from `deploy/systemd/<program>.default`, split as systemd does for an
/// unquoted `$VAR` (at whitespace).
fn default_args(program: &str) -> (String, Vec<String>) {
    let path = repo_root().join(format!("deploy/systemd/{program}.default"));
    let text = fs::read_to_string(&path).expect("defaults file");
    let (name, value) = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once('=')?;
            (name.starts_with("PIMON_") && name.ends_with("_ARGS")).then_some((name, value))
        })
        .unwrap_or_else(|| panic!("no PIMON_*_ARGS= line in {}", path.display()));
    let value = value.trim().trim_matches('"');
    (
        name.to_string(),
        value.split_whitespace().map(String::from).collect(),
    )
}

/// The effective `ExecStart` of a unit, with the drop-in `dropin` if given (a drop-in's
/// empty `ExecStart=` resets the list), as its words.
fn exec_start(program: &str, dropin: Option<&str>) -> Vec<String> {
    let dir = repo_root().join("deploy/systemd");
    let mut files = vec![dir.join(format!("{program}.service"))];
    if let Some(d) = dropin {
        files.push(dir.join(format!("{program}.service.d")).join(d));
    }
    let mut exec = None;
    for f in files {
        let text = fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("ExecStart=") {
                exec = (!v.trim().is_empty()).then(|| v.to_string());
            }
        }
    }
    let exec = exec.unwrap_or_else(|| panic!("{program}: no ExecStart"));
    exec.split_whitespace().map(String::from).collect()
}

/// The unit's command line with `$ARGS` and `${CREDENTIALS_DIRECTORY}` expanded, the
/// binary replaced by the host build.
fn unit_command(program: Program, dropin: Option<&str>, credentials: &Path) -> Vec<String> {
    let name = program.file_name();
    let words = exec_start(name, dropin);
    assert_eq!(
        words[0],
        format!("/usr/local/bin/{name}"),
        "{name}.service runs an unexpected binary"
    );
    let (var, args) = default_args(name);
    let mut out = Vec::new();
    for w in &words[1..] {
        if *w == format!("${var}") {
            out.extend(args.iter().cloned());
        } else {
            let w = w.replace(
                "${CREDENTIALS_DIRECTORY}",
                &credentials.display().to_string(),
            );
            assert!(!w.contains('$'), "{name}: unexpanded {w} in ExecStart");
            out.push(w);
        }
    }
    out
}

#[test]
fn systemd_units_command_lines_pass_the_binaries_checks() {
    let credentials = tempfile::tempdir().expect("temp dir");
    let secret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    fs::write(
        credentials.path().join("collector.key"),
        format!("1 hex:{secret}\n"),
    )
    .expect("key");
    fs::write(
        credentials.path().join("keys"),
        format!("* 1 hex:{secret}\n"),
    )
    .expect("keys");

    for dropin in [None, Some("key.conf")] {
        let mut args = unit_command(Program::Collector, dropin, credentials.path());
        aggregator_on_loopback(&mut args);
        let mut cmd = Command::new(host_binary(Program::Collector));
        cmd.args(&args)
            .arg("--root")
            .arg(fixture("pi4"))
            .arg("--check");
        let run = process::run("pimon-collector --check (unit)", cmd, TIMEOUT);
        assert_ok(
            &run,
            &format!("pimon-collector.service {dropin:?}: {args:?} --check"),
        );
        if dropin.is_some() {
            assert!(
                !run.stdout.contains("key: none"),
                "the key drop-in's --key-file was not used:\n{}",
                run.stdout
            );
        }

        let args = unit_command(Program::Aggregator, dropin, credentials.path());
        let mut cmd = Command::new(host_binary(Program::Aggregator));
        cmd.args(&args).arg("--check-config");
        let run = process::run("pimon-aggregator --check-config (unit)", cmd, TIMEOUT);
        assert_ok(
            &run,
            &format!("pimon-aggregator.service {dropin:?}: {args:?} --check-config"),
        );
        if dropin.is_some() {
            assert!(
                !run.stdout.contains("key file          none"),
                "the key drop-in's --key-file was not used:\n{}",
                run.stdout
            );
        }
    }
}
