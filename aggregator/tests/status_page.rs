//! The status page over real sockets: a running aggregator fed frames over UDP serves
//! `GET /` (every node, problems first, self-refreshing, nothing external),
//! `GET /node/<name>` and `GET /api/nodes` (the same as JSON). Node names and label
//! values are escaped (a node named `<script>…` is text). The page in a real browser
//! is `e2e/tests/status_page_chromium.rs`.

mod frames;
mod running;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use frames::Frame;
use pimon_protocol::Value;
use pimon_protocol::catalog::id;
use running::{Running, client, get, local_config, send_for_ack, wait_until};

const EVIL: &str = "<script>alert(1)</script>";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A node with a temperature, load, memory and a root filesystem; `hot` at 85 °C.
fn frame(node: &str, seq: u64, hot: bool, throttled: bool) -> Vec<u8> {
    let mut f = Frame::new(node)
        .seq(seq)
        .at(now_ms())
        .group(&[], &[(id::LOAD1, Value::Unsigned(150))])
        .group(
            &[],
            &[
                (id::MEM_MEMTOTAL, Value::Unsigned(1000)),
                (id::MEM_MEMAVAILABLE, Value::Unsigned(250)),
            ],
        )
        .group(
            &["0", "cpu-thermal"],
            &[(
                id::THERMAL_ZONE_TEMP,
                Value::Unsigned(if hot { 85_000 } else { 45_500 }),
            )],
        )
        // A meminfo key without a row of its own: named from its label.
        .group(&["Balloon"], &[(id::MEM_OTHER_BYTES, Value::Unsigned(512))])
        .group(
            &["/dev/mmcblk0p2", "ext4", "/"],
            &[
                (id::FS_SIZE, Value::Unsigned(1000)),
                (id::FS_AVAIL, Value::Unsigned(100)),
            ],
        );
    if throttled {
        f = f.group(&[], &[(id::RPI_THROTTLED, Value::Unsigned(1))]);
    }
    f.interval_ms = 1000;
    f.bytes()
}

fn body(agg: &Running, path: &str) -> (String, String) {
    let (head, body) = get(agg.http, path, "");
    (head, String::from_utf8(body).expect("UTF-8 body"))
}

#[test]
fn the_fleet_page_lists_every_node_problems_first_escaped_and_self_contained() {
    let mut c = local_config();
    c.staleness.stale_intervals = 2;
    c.staleness.stale_min_ms = 0;
    c.status_history = Duration::from_secs(60);
    let agg = Running::start(c);
    let sock = client();
    for seq in 0..3 {
        send_for_ack(&sock, agg.udp, &frame("b-ok", seq, false, false));
        send_for_ack(&sock, agg.udp, &frame("a-hot", seq, true, false));
        send_for_ack(&sock, agg.udp, &frame(EVIL, seq, false, true));
        send_for_ack(&sock, agg.udp, &frame("c-stops", seq, false, false));
        std::thread::sleep(Duration::from_millis(400));
    }
    // c-stops stops; the others keep sending until it is down (2 intervals of 1 s).
    let mut seq = 3;
    assert!(
        wait_until(Duration::from_secs(15), || {
            for n in ["b-ok", "a-hot"] {
                send_for_ack(&sock, agg.udp, &frame(n, seq, n == "a-hot", false));
            }
            send_for_ack(&sock, agg.udp, &frame(EVIL, seq, false, true));
            seq += 1;
            std::thread::sleep(Duration::from_millis(300));
            body(&agg, "/")
                .1
                .contains("data-node=\"c-stops\" data-state=\"down\"")
        }),
        "c-stops turns down:\n{}",
        body(&agg, "/").1
    );

    let (head, page) = body(&agg, "/");
    assert!(
        head.contains("Content-Type: text/html; charset=utf-8"),
        "{head}"
    );
    let order: Vec<&str> = page
        .split("data-node=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(
        order,
        [
            "c-stops",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "a-hot",
            "b-ok"
        ],
        "down first, then throttled, hot, then the rest by name"
    );
    assert!(
        !page.contains(EVIL),
        "the node's name is escaped everywhere"
    );
    assert!(page.contains("href=\"/node/%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""));
    assert!(page.contains("<meta http-equiv=\"refresh\""));
    assert!(page.contains("name=\"viewport\""));
    for external in ["<script", "src=", "@import", "url(", "http://", "https://"] {
        assert!(!page.contains(external), "{external} in the page: {page}");
    }
    assert!(page.contains("85.0 °C") && page.contains("45.5 °C"));
    assert!(page.contains("75 %"), "memory used");
    assert!(page.contains("90 % <small>/</small>"), "disk used");
    assert!(page.contains("<span class=\"flag\">throttled</span>"));
    assert!(page.contains("<svg class=\"spark temp\"") && page.contains("<polyline"));

    // The same as JSON.
    let (head, json) = body(&agg, "/api/nodes");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let nodes = v.as_array().unwrap();
    assert_eq!(nodes[0]["name"], "c-stops");
    assert_eq!(nodes[0]["state"], "down");
    assert_eq!(nodes[1]["name"], EVIL, "JSON carries the name as is");
    assert_eq!(nodes[1]["problems"][0], "throttled");
    assert_eq!(nodes[2]["cpu_temp_celsius"], 85.0);
    assert_eq!(nodes[2]["problems"], serde_json::json!(["hot"]));
    assert_eq!(nodes[3]["memory_used_ratio"], 0.75);
    assert_eq!(nodes[3]["disk_mountpoint"], "/");
    assert_eq!(nodes[3]["history"]["step_seconds"], 1.0);
    assert_eq!(nodes[3]["history"]["load1"].as_array().unwrap().len(), 60);
    assert!(
        nodes[3]["history"]["load1"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == 1.5)
    );

    // One node's page, and 404 for one that does not exist.
    let (head, node) = body(&agg, "/node/%3Cscript%3Ealert%281%29%3C%2Fscript%3E");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!node.contains(EVIL));
    assert!(node.contains("<td>pimon_rpi_throttled</td>"), "{node}");
    // The name /metrics writes, the key in it and not among the labels.
    assert!(
        node.contains("<td>node_memory_Balloon_bytes</td><td></td><td class=\"num\">524288</td>"),
        "{node}"
    );
    assert!(node.contains("<td>node_thermal_zone_temp</td><td>zone=\"0\" type=\"cpu-thermal\"</td><td class=\"num\">45.5</td>"), "{node}");
    let (head, _) = body(&agg, "/node/nobody");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = body(&agg, "/node/%zz");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    agg.stop().unwrap();
}

/// The body of a Pushgateway push from a node_exporter-like job.
const PUSHED: &str = "\
# TYPE node_load1 gauge
node_load1 0.25
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 1000
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 400
# TYPE node_hwmon_temp_celsius gauge
node_hwmon_temp_celsius{chip=\"cpu\",sensor=\"temp1\"} 82.5
# TYPE backup_duration_seconds summary
backup_duration_seconds_sum 12.5
backup_duration_seconds_count 3
";

#[test]
fn pushed_and_scraped_groups_are_listed_beside_the_nodes_a_failed_scrape_down_first() {
    // A scrape target nobody listens on: every scrape fails (`up` 0).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = local_config();
    c.status_history = Duration::from_secs(60);
    c.ingress.push.enabled = true;
    c.ingress
        .scrape
        .push(pimon_aggregator::ingress::config::ScrapeTarget {
            url: format!("http://127.0.0.1:{closed_port}/metrics"),
            job: "gone".into(),
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(500),
            labels: Vec::new(),
            honor_labels: false,
            bearer_token: None,
            basic_auth: None,
            max_body_bytes: 1 << 20,
        });
    let agg = Running::start(c);
    send_for_ack(&client(), agg.udp, &frame("pi-1", 0, false, false));
    // A push whose instance is markup: `<b>nas</b>`, base64url in the path.
    let (head, answer) = running::http_raw(
        agg.http,
        &format!(
            "PUT /metrics/job/backup/instance@base64/PGI-bmFzPC9iPg== HTTP/1.1\r\nHost: test\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{PUSHED}",
            PUSHED.len()
        ),
    );
    assert!(
        head.starts_with("HTTP/1.1 2"),
        "push accepted: {head}\n{}",
        String::from_utf8_lossy(&answer)
    );
    let pushed_name = "instance=\"<b>nas</b>\",job=\"backup\"";
    let scraped_name = format!("instance=\"127.0.0.1:{closed_port}\",job=\"gone\"");

    let mut json = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            json = body(&agg, "/api/nodes").1;
            json.contains("\"state\":\"down\"")
        }),
        "the failed scrape target turns down: {json}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let rows = v.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [scraped_name.as_str(), pushed_name, "pi-1"],
        "the down target first, then the hot pushed group, then the node"
    );
    assert_eq!(rows[0]["source"], "scrape");
    assert_eq!(rows[0]["problems"], serde_json::json!(["down"]));
    let pushed = &rows[1];
    assert_eq!(pushed["source"], "push");
    assert_eq!(pushed["state"], "problem");
    assert_eq!(pushed["problems"], serde_json::json!(["hot"]));
    assert_eq!(pushed["cpu_temp_celsius"], 82.5);
    assert_eq!(pushed["load1"], 0.25);
    assert_eq!(pushed["memory_used_ratio"], 0.6);
    assert_eq!(rows[2]["source"], "pimon");

    let page = body(&agg, "/").1;
    assert!(!page.contains("<b>nas"), "the group's labels are escaped");
    assert!(
        page.contains("data-node=\"instance=&quot;&lt;b&gt;nas&lt;/b&gt;&quot;,job=&quot;backup&quot;\" data-state=\"problem\""),
        "{page}"
    );
    assert!(page.contains("<span class=\"flag source\">push</span>"));
    assert!(page.contains("<span class=\"flag source\">scrape</span>"));

    // The group's own page: its values, a summary as count and sum.
    let link = page
        .split("<a href=\"/node/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .find(|l| l.contains("backup"))
        .expect("a link to the pushed group")
        .to_string();
    let (head, group) = body(&agg, &format!("/node/{link}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!group.contains("<b>nas"));
    assert!(
        group.contains("<td>node_load1</td><td>instance=\"&lt;b&gt;nas&lt;/b&gt;\" job=\"backup\"</td><td class=\"num\">0.25</td>"),
        "{group}"
    );
    assert!(
        group.contains("<td class=\"num\">count 3, sum 12.5</td>"),
        "{group}"
    );
    agg.stop().unwrap();
}
