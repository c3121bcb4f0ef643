//! A real container, found by name: Podman (rootful, `--cgroup-manager=cgroupfs`,
//! `--network=none`, an image imported from a tarball holding one static binary — no
//! registry) runs a program that touches 48 MiB and burns 1.5 s of CPU, then sleeps.
//! The host collector, with nothing but `--root /`, must list the container by its name
//! in `--check` and print its CPU and memory with `--print prom --once`: CPU usage
//! 1.5 s (+ start-up), memory and working set at least 48 MiB, the 256 MiB limit.
//!
//! Nothing is skipped: without podman, root, a C compiler or a host where crun can
//! create the container, the test fails and says why. On a hybrid cgroup host (v1
//! controllers plus a unified tree) crun refuses to run while a controller is attached
//! to the unified tree; the test then mounts those controllers as v1 hierarchies (what
//! the host's own v1 controllers already are), and says so.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Program, host_binary};
use pimon_e2e::exposition::parse_prometheus;
use pimon_e2e::process::run;

const LOAD_C: &str = r#"
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    size_t bytes = (size_t)strtoul(argv[1], 0, 10) << 20;
    double secs = strtod(argv[2], 0);
    volatile char *p = malloc(bytes);
    for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    volatile unsigned long x = 0;
    while (cpu() < secs) x++;
    for (;;) pause();
}
"#;

const MIB: f64 = 1024.0 * 1024.0;
const TOUCHED_MIB: u64 = 48;
const BURN_SECONDS: f64 = 1.5;
/// The program's own CPU clock and the cgroup's `usage_usec` differ by some µs.
const SLACK: f64 = 0.01;

fn sh(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// crun refuses a hybrid host whose unified tree has controllers: mount them as v1.
fn prepare_hybrid_host() {
    let unified = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    let Ok(controllers) = std::fs::read_to_string(unified) else {
        return; // cgroup v2 (or no unified tree): nothing to do
    };
    for c in controllers.split_whitespace() {
        let dir = Path::new("/sys/fs/cgroup").join(c);
        eprintln!(
            "podman_live: hybrid cgroup host, controller {c} is on the unified tree; \
             mounting it as a v1 hierarchy at {} so crun can run containers",
            dir.display()
        );
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        sh(
            "mount the controller as v1",
            Command::new("mount")
                .args(["-t", "cgroup", "-o", c, "cgroup"])
                .arg(&dir),
        );
    }
}

/// Removes the container and the image when dropped (on panic too).
struct Container {
    name: String,
    image: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn collector(args: &[&str]) -> String {
    let mut cmd = Command::new(host_binary(Program::Collector));
    // An explicit loopback aggregator: with `--root /` the default would be this
    // machine's default gateway, and `--check` probes the aggregator.
    cmd.args(["--root", "/", "--node", "podman-host"])
        .args(["--aggregator", "127.0.0.1:9797"])
        .args(args);
    let done = run("pimon-collector", cmd, Duration::from_secs(60));
    assert!(done.status.success(), "{}", done.report);
    done.stdout
}

#[test]
fn a_podman_container_is_found_by_name_with_its_cpu_and_memory() {
    let podman = Command::new("podman").arg("--version").output();
    assert!(
        podman.as_ref().is_ok_and(|o| o.status.success()),
        "podman is not installed ({podman:?}): this test runs a real container; \
         apt-get install podman (it is in .ci/run's package list)"
    );
    let uid = sh("id -u", Command::new("id").arg("-u"));
    assert_eq!(
        uid.trim(),
        "0",
        "the live container test needs root (rootful podman)"
    );
    prepare_hybrid_host();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.c"), LOAD_C).unwrap();
    std::fs::create_dir(dir.path().join("image")).unwrap();
    sh(
        "compile the static load program (needs a C compiler and static libc)",
        Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(dir.path().join("image/load"))
            .arg(dir.path().join("load.c")),
    );
    sh(
        "pack the image",
        Command::new("tar")
            .arg("-C")
            .arg(dir.path().join("image"))
            .arg("-cf")
            .arg(dir.path().join("image.tar"))
            .arg("load"),
    );
    let tag = format!("localhost/pimon-e2e-load:{}", std::process::id());
    sh(
        "podman import",
        Command::new("podman")
            .args(["import", "-q"])
            .arg(dir.path().join("image.tar"))
            .arg(&tag),
    );
    let c = Container {
        name: format!("pimon-e2e-load-{}", std::process::id()),
        image: tag.clone(),
    };
    let id = sh(
        "podman run (rootful, cgroupfs, no network)",
        Command::new("podman").args([
            "run",
            "-d",
            "--name",
            &c.name,
            "--cgroup-manager=cgroupfs",
            "--network=none",
            "--memory",
            "256m",
            // Without CAP_SYS_RESOURCE (a sandboxed CI) crun cannot raise limits.
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            &tag,
            "/load",
            &TOUCHED_MIB.to_string(),
            &BURN_SECONDS.to_string(),
        ]),
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 64, "container id {id:?}");

    // Until the program has burnt its CPU (bounded wait), as the collector sees it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let samples = loop {
        let text = collector(&["--print", "prom", "--once"]);
        let samples = parse_prometheus(&text).unwrap();
        let usage = samples.iter().find(|s| {
            s.name == "container_cpu_usage_seconds_total" && s.label("name") == Some(&c.name)
        });
        match usage {
            Some(u) if u.value >= BURN_SECONDS - SLACK => break samples,
            _ if Instant::now() > deadline => panic!(
                "container {} ({id}) not found with {BURN_SECONDS} s of CPU within 60 s; \
                 the collector printed:\n{text}",
                c.name
            ),
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    let value = |name: &str| {
        let s = samples
            .iter()
            .find(|s| s.name == name && s.label("name") == Some(&c.name))
            .unwrap_or_else(|| panic!("no {name} for {}", c.name));
        assert!(
            s.label("id").is_some_and(|i| i.contains(&id)),
            "{name}: the id label {:?} is not the container's cgroup",
            s.label("id")
        );
        s.value
    };
    let cpu = value("container_cpu_usage_seconds_total");
    assert!(
        (BURN_SECONDS - SLACK..BURN_SECONDS + 0.5).contains(&cpu),
        "CPU {cpu} s, the program burns {BURN_SECONDS} s and then sleeps"
    );
    let user = value("container_cpu_user_seconds_total");
    let system = value("container_cpu_system_seconds_total");
    assert!(
        (user + system - cpu).abs() < 0.05,
        "user {user} + system {system} vs {cpu}"
    );
    let touched = TOUCHED_MIB as f64 * MIB;
    let usage = value("container_memory_usage_bytes");
    let working_set = value("container_memory_working_set_bytes");
    let rss = value("container_memory_rss");
    assert!(
        usage >= touched && usage < touched + 16.0 * MIB,
        "memory usage {usage}, the program touched {touched}"
    );
    assert!(
        working_set <= usage && working_set >= touched,
        "working set {working_set}"
    );
    assert!(rss >= touched, "rss {rss}");
    assert_eq!(value("container_spec_memory_limit_bytes"), 256.0 * MIB);
    assert_eq!(value("container_threads"), 1.0);

    // --check lists it by name.
    let check = collector(&["--check"]);
    assert!(
        check
            .lines()
            .any(|l| l.contains(&format!("docker {} ", c.name)) && l.contains(&id)),
        "--check does not list {}:\n{check}",
        c.name
    );
    drop(c);
}
