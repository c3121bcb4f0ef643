//! The OpenWrt files as shipped: `deploy/openwrt/pimon-aggregator.init` (procd) run by
//! `sh` with stand-ins for OpenWrt's `config_load`/`config_get` (reading the UCI file
//! like `uci` does, for the one section) and `procd_*` (recording what procd would be
//! told), on `deploy/openwrt/pimon.config` as shipped and with its outputs switched on.
//! The TOML file the script generates must pass the real aggregator's
//! `--check-config` with the settings the UCI file asked for, and procd must be told
//! to run `/usr/bin/pimon-aggregator --config` with it, respawned.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::{process, repo_root};

/// OpenWrt's functions the init script uses, for one UCI file in `$UCI_DIR`.
const STUBS: &str = r#"
config_load() { UCI_FILE="$UCI_DIR/$1"; }
uci_option() { # SECTION OPTION: the option's value, quotes removed
	awk -v sec="$1" -v opt="$2" '
		/^[ \t]*#/ { next }
		$1 == "config" { s = $3; gsub(/['"'"'"]/, "", s); insec = (s == sec); next }
		insec && $1 == "option" && $2 == opt {
			$1 = ""; $2 = ""; sub(/^[ \t]+/, "");
			gsub(/^['"'"'"]|['"'"'"]$/, ""); print; exit
		}' "$UCI_FILE"
}
config_get() { # VAR SECTION OPTION DEFAULT
	_v=$(uci_option "$2" "$3")
	[ -n "$_v" ] || _v=$4
	eval "$1=\$_v"
}
config_get_bool() {
	config_get "$@"
	eval "case \$$1 in 1|on|true|yes|enabled) $1=1 ;; *) $1=0 ;; esac"
}
procd_open_instance() { echo "open" >>"$PROCD_LOG"; }
procd_set_param() { echo "$*" >>"$PROCD_LOG"; }
procd_close_instance() { echo "close" >>"$PROCD_LOG"; }
procd_add_reload_trigger() { :; }
"#;

/// Runs the init script's `start_service` on `uci` (the content of /etc/config/pimon);
/// returns (generated TOML, if any, and the procd log).
fn start_service(dir: &Path, uci: &str) -> (Option<String>, String) {
    let init = repo_root().join("deploy/openwrt/pimon-aggregator.init");
    std::fs::write(dir.join("pimon"), uci).unwrap();
    let conf = dir.join("aggregator.toml");
    let log = dir.join("procd.log");
    let _ = std::fs::remove_file(&conf);
    let _ = std::fs::remove_file(&log);
    let script = format!(
        "set -e\n{STUBS}\n. {init}\nCONF={conf}\nstart_service\n",
        init = init.display(),
        conf = conf.display()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("UCI_DIR", dir)
        .env("PROCD_LOG", &log)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "start_service failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(&conf).ok(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

fn check_config(toml: &str, dir: &Path) -> String {
    let path = dir.join("check.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Launcher::host(Program::Aggregator).command();
    cmd.arg("--check-config").arg("--config").arg(&path);
    let run = process::run(
        "pimon-aggregator --check-config",
        cmd,
        Duration::from_secs(30),
    );
    assert!(
        run.status.success(),
        "the generated config is refused\n{toml}\n{}",
        run.report
    );
    run.stdout
}

#[test]
fn the_shipped_uci_config_becomes_a_config_the_aggregator_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let shipped = std::fs::read_to_string(repo_root().join("deploy/openwrt/pimon.config"))
        .expect("deploy/openwrt/pimon.config");
    let shipped = shipped.replace("/tmp/pimon", spool.to_str().unwrap());
    let (toml, procd) = start_service(dir.path(), &shipped);
    let toml = toml.expect("a generated config");
    let described = check_config(&toml, dir.path());
    for want in [
        "udp listen        0.0.0.0:9797",
        "http listen       0.0.0.0:9798",
        "sparklines over 60 min",
        "limits            500 nodes",
        "300000 series in total",
        "/state",
    ] {
        assert!(described.contains(want), "{want:?} in\n{described}");
    }
    assert!(!described.contains("influx ") && !described.contains("remote write"));
    let conf = dir.path().join("aggregator.toml");
    assert_eq!(
        procd.lines().collect::<Vec<_>>(),
        [
            "open",
            &format!(
                "command /usr/bin/pimon-aggregator --config {}",
                conf.display()
            ),
            "respawn 3600 5 5",
            "stdout 1",
            "stderr 1",
            "file /etc/config/pimon",
            "close",
        ]
    );
}

#[test]
fn outputs_switched_on_in_uci_reach_the_aggregator_with_their_spools() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("usb disk/pimon");
    let uci = format!(
        "config aggregator 'aggregator'\n\
         \toption enabled '1'\n\
         \toption udp '[::]:9797'\n\
         \toption spool_dir '{}'\n\
         \toption spool_max_bytes '8388608'\n\
         \toption fsync 'always'\n\
         \toption status_history '6h'\n\
         \toption influx_url 'http://192.168.1.10:8086'\n\
         \toption influx_db 'fleet'\n\
         \toption remote_write_url 'http://192.168.1.10:8428/api/v1/write'\n\
         \toption external_labels 'site=home region=\"eu\\west\"'\n",
        spool.display()
    );
    let (toml, _) = start_service(dir.path(), &uci);
    let toml = toml.expect("a generated config");
    let described = check_config(&toml, dir.path());
    for want in [
        "udp listen        [::]:9797".to_string(),
        "sparklines over 360 min".to_string(),
        "influx influx     http://192.168.1.10:8086 1.x db fleet, retention policy default, no credentials".to_string(),
        format!("  spool           {}/influx (max 8388608 bytes", spool.display()),
        format!(
            "remote write remote_write http://192.168.1.10:8428/api/v1/write spool {}/remote-write",
            spool.display()
        ),
        "external labels: region=\"\\\"eu\\\\west\\\"\",site=\"home\"".to_string(),
    ] {
        assert!(
            described.contains(&want),
            "{want:?} in\n{described}\n{toml}"
        );
    }
    assert!(spool.is_dir(), "the spool directory is created");

    // Switched off: nothing is started.
    let (toml, procd) = start_service(
        dir.path(),
        "config aggregator 'aggregator'\n\toption enabled '0'\n",
    );
    assert!(toml.is_none() && procd.is_empty(), "{procd}");
}
