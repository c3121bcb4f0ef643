//! The status page in a real browser: headless Chromium (Debian's `chromium`) loads `/`
//! from a running `pimon-aggregator` fed by three host collectors (Pi 4, Pi Zero and x86
//! fixture trees, every second). The DOM it builds has a row per node, the Pi Zero
//! (its fixture's `get_throttled` says under-voltage and throttled now) first, and
//! sparklines drawn; one collector is stopped and its node turns down and sorts first.
//! A screenshot is taken and checked for being a real picture (not blank);
//! `PIMON_WRITE_SCREENSHOT=1` also copies it (and a phone-sized one) to `docs/` for the
//! README.
//!
//! Chromium runs with a fresh profile in a temp dir and every network feature it has
//! off; it only talks to the aggregator on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use pimon_e2e::binaries::{Launcher, Program};
use pimon_e2e::pimon::{Aggregator, start_collector};
use pimon_e2e::support::servers::find_binary;
use pimon_e2e::{fixture, process, repo_root};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `chromium --headless …` with a new profile dir, plus `args`.
fn chromium(args: &[String]) -> process::Finished {
    let binary = find_binary("chromium", "chromium").unwrap_or_else(|e| panic!("{e}"));
    let profile = tempfile::Builder::new()
        .prefix("pimon-e2e-chromium-")
        .tempdir()
        .expect("temp dir");
    let mut cmd = Command::new(binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args);
    process::run("chromium", cmd, TIMEOUT)
}

/// The DOM of `url` after Chromium loaded it.
fn dom(url: &str) -> String {
    let run = chromium(&["--dump-dom".into(), url.into()]);
    assert!(
        run.status.success() && run.stdout.contains("</html>"),
        "chromium --dump-dom {url} failed\n{}",
        run.report
    );
    run.stdout
}

/// `(data-node, data-state)` of every node row, in page order.
fn rows(dom: &str) -> Vec<(String, String)> {
    dom.split("<tr class=\"node ")
        .skip(1)
        .filter_map(|row| {
            let attr = |name: &str| {
                let start = row.find(&format!("{name}=\""))? + name.len() + 2;
                Some(row[start..].split('"').next()?.to_string())
            };
            Some((attr("data-node")?, attr("data-state")?))
        })
        .collect()
}

/// Screenshot of `url` at `width`×`height` into `path`.
fn screenshot(url: &str, path: &Path, width: u32, height: u32) {
    let run = chromium(&[
        format!("--screenshot={}", path.display()),
        format!("--window-size={width},{height}"),
        url.into(),
    ]);
    assert!(
        run.status.success() && path.is_file(),
        "chromium --screenshot failed\n{}",
        run.report
    );
}

/// Decodes a PNG and checks it shows something: many colours, and a good share of
/// pixels that are not the background.
fn assert_not_blank(path: &Path) {
    let file = std::fs::File::open(path).expect("open screenshot");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| &p[..3.min(p.len())])
        .collect();
    let background = pixels[0];
    let other = pixels.iter().filter(|p| **p != background).count();
    let mut colours: Vec<&[u8]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        info.width >= 300 && info.height >= 300,
        "{}: {}×{}",
        path.display(),
        info.width,
        info.height
    );
    assert!(
        other * 100 >= pixels.len() && colours.len() >= 20,
        "{} looks blank: {other} of {} pixels differ from the background, {} colours",
        path.display(),
        pixels.len(),
        colours.len()
    );
}

fn wait_for_rows(url: &str, what: &str, ok: impl Fn(&[(String, String)]) -> bool) -> String {
    let start = Instant::now();
    loop {
        let d = dom(url);
        if ok(&rows(&d)) {
            return d;
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "{what}: rows {:?}\n{d}",
            rows(&d)
        );
        thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn headless_chromium_shows_every_node_problems_first_and_a_stopped_one_down_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config: PathBuf = dir.path().join("aggregator.toml");
    std::fs::write(&config, "[staleness]\nstale_min_seconds = 1\n").unwrap();
    let aggregator = Aggregator::start(
        &Launcher::host(Program::Aggregator),
        &[
            "--config",
            config.to_str().unwrap(),
            "--stale-intervals",
            "2",
            "--status-history",
            "60s",
        ],
    );
    let url = format!("{}/", aggregator.base_url());
    let collector = Launcher::host(Program::Collector);
    let pi4 = start_collector(&collector, &fixture("pi4"), "sp-pi4", aggregator.udp);
    let pizero = start_collector(&collector, &fixture("pizero"), "sp-pizero", aggregator.udp);
    let x86 = start_collector(&collector, &fixture("x86"), "sp-x86", aggregator.udp);

    // Every node up, the Pi Zero (under-voltage now) first; sparklines with points.
    let page = wait_for_rows(&url, "three nodes up", |r| {
        r.len() == 3 && r.iter().all(|(_, s)| s != "down")
    });
    thread::sleep(Duration::from_secs(4));
    let page = {
        let d = dom(&url);
        assert!(
            d.matches("<polyline").count() >= 4,
            "sparklines drawn:\n{d}"
        );
        let _ = page;
        d
    };
    assert_eq!(
        rows(&page),
        [
            ("sp-pizero".to_string(), "problem".to_string()),
            ("sp-pi4".to_string(), "ok".to_string()),
            ("sp-x86".to_string(), "ok".to_string()),
        ]
    );
    assert!(page.contains("under-voltage"), "{page}");
    assert!(
        page.contains("45.3 °C"),
        "the Pi 4 fixture's CPU temperature: {page}"
    );
    assert_eq!(page.matches("class=\"spark temp\"").count(), 3);

    let shot = dir.path().join("status.png");
    screenshot(&url, &shot, 1200, 520);
    assert_not_blank(&shot);
    let phone = dir.path().join("status-phone.png");
    screenshot(&url, &phone, 390, 844);
    assert_not_blank(&phone);
    if std::env::var_os("PIMON_WRITE_SCREENSHOT").is_some() {
        let docs = repo_root().join("docs");
        std::fs::copy(&shot, docs.join("status-page.png")).expect("copy screenshot");
        std::fs::copy(&phone, docs.join("status-page-phone.png")).expect("copy screenshot");
    }

    // A collector stops: its node turns down and sorts first.
    drop(x86);
    let page = wait_for_rows(&url, "sp-x86 down and first", |r| {
        r.first().is_some_and(|(n, s)| n == "sp-x86" && s == "down")
    });
    assert_eq!(rows(&page).len(), 3);
    assert_eq!(rows(&page)[1].0, "sp-pizero");
    drop((pi4, pizero));
}
