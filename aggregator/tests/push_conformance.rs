//! Conformance of the Pushgateway API against the real thing: the same sequence of
//! pushes (well-formed and hostile) goes to Debian's `prometheus-pushgateway` and to
//! a running pimon aggregator; every answer's status code must match, and its body
//! too (except where the Pushgateway's own text is random: which of two inconsistent
//! groups it names depends on Go's map order — there only the prefix is compared).
//! Then both `/metrics` pages are parsed and every pushed series (every sample with a
//! `job` label) must be there on both sides with the same type, help, labels and value,
//! normalising only the push timestamps (zero or not). One step pushes a real
//! `prometheus-node-exporter` page; the last ones push protobuf delimited bodies (what
//! Go's push client sends), which also checks pimon's encoder against Go's decoder.

mod running;
use pimon_test_support as support;

use std::collections::BTreeMap;
use std::io::Write;

use pimon_aggregator::ingress::expo::{self, Value};
use pimon_aggregator::ingress::protobuf;
use running::{Running, local_config};
use support::http;
use support::peers::{NodeExporter, Pushgateway};

/// How much of the answer body must match.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Body {
    Exact,
    /// The text before the first `{` (the Pushgateway picks one of two groups at random).
    Prefix,
    /// Status only: the words of a broken protobuf body are Go's protobuf library's.
    StatusOnly,
}

struct Step {
    what: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    compare: Body,
}

fn step(what: &'static str, method: &'static str, path: &str, body: &[u8]) -> Step {
    Step {
        what,
        method,
        path: path.to_string(),
        headers: Vec::new(),
        body: body.to_vec(),
        compare: Body::Exact,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn steps(node_page: Vec<u8>) -> Vec<Step> {
    let mut s = vec![
        step(
            "PUT a group",
            "PUT",
            "/metrics/job/j1/instance/i1",
            b"# HELP foo Foo things.\n# TYPE foo counter\nfoo{a=\"1\"} 3\nbar 2\n",
        ),
        step(
            "POST replaces only the families it names",
            "POST",
            "/metrics/job/j1/instance/i1",
            b"# TYPE foo gauge\nfoo 3\n",
        ),
        Step {
            compare: Body::Prefix,
            ..step(
                "type clash with another group",
                "POST",
                "/metrics/job/j2",
                b"foo 3\n",
            )
        },
        step("timestamps", "POST", "/metrics/job/j3", b"ts 3 1234\n"),
        step(
            "same label set twice",
            "POST",
            "/metrics/job/j4",
            b"dup{x=\"1\"} 3\ndup{x=\"1\"} 4\n",
        ),
        step("not a number", "POST", "/metrics/job/j5", b"garbage here\n"),
        step("no final newline", "PUT", "/metrics/job/j5", b"nonl 1"),
        step("out of range", "PUT", "/metrics/job/j5", b"big 1e400\n"),
        step("signed NaN", "PUT", "/metrics/job/j5", b"n -nan\n"),
        step("bad escape", "PUT", "/metrics/job/j5", b"e{b=\"\\q\"} 1\n"),
        step("unknown type", "PUT", "/metrics/job/j5", b"# TYPE t foo\n"),
        step("open label set", "PUT", "/metrics/job/j5", b"o{b=\"x\"\n"),
        step("unquoted value", "PUT", "/metrics/job/j5", b"o{b=x} 1\n"),
        step("no metric name", "PUT", "/metrics/job/j5", b"{b=\"x\"} 1\n"),
        step("__name__ label", "PUT", "/metrics/job/j5", b"o{__name__=\"x\"} 1\n"),
        step("spurious text", "PUT", "/metrics/job/j5", b"o 1 2 3\n"),
        step("invalid UTF-8", "PUT", "/metrics/job/j5", b"o{b=\"\xff\"} 1\n"),
        step(
            "duplicate label names",
            "PUT",
            "/metrics/job/j5",
            b"o{b=\"1\",b=\"2\"} 1\n",
        ),
        step(
            "second TYPE",
            "PUT",
            "/metrics/job/j5",
            b"o 1\n# TYPE o counter\n",
        ),
        step("odd path", "POST", "/metrics/job/j6/lab", b"x 1\n"),
        step("reserved label", "POST", "/metrics/job/j7/__a/b", b"x 1\n"),
        step("bad label name", "POST", "/metrics/job/j7/1a/b", b"x 1\n"),
        step(
            "bad base64 value",
            "PUT",
            "/metrics/job/j8/x@base64/!!",
            b"x 1\n",
        ),
        step("bad base64 job", "PUT", "/metrics/job@base64/!!", b"x 1\n"),
        step("%2F splits", "PUT", "/metrics/job/a%2Fb", b"x 1\n"),
        step(
            "base64 job with a slash, empty label value",
            "POST",
            "/metrics/job@base64/Zm9vL2Jhcg/a@base64/=",
            b"x 1\n",
        ),
        step(
            "a body label clashing with the grouping key",
            "PUT",
            "/metrics/job/k3/instance/i",
            b"foo3{job=\"zz\",instance=\"yy\"} 1\n",
        ),
        step(
            "an instance in the body only",
            "PUT",
            "/metrics/job/k1",
            b"foo1{instance=\"x\"} 1\n",
        ),
        step("empty body", "PUT", "/metrics/job/k7", b""),
        step(
            "histogram and summary",
            "PUT",
            "/metrics/job/k8",
            b"# TYPE hh histogram\nhh_bucket{le=\"1\"} 1\nhh_bucket{le=\"+Inf\"} 2\nhh_sum 3\nhh_count 2\n\
              # TYPE ss summary\nss{quantile=\"0.5\"} 1\nss_sum 2\nss_count 3\n",
        ),
        step(
            "push_time_seconds in the body",
            "PUT",
            "/metrics/job/k9",
            b"push_time_seconds 5\n",
        ),
        step(
            "NaN and infinities",
            "PUT",
            "/metrics/job/k12",
            b"c NaN\nd +Inf\ne -Inf\n",
        ),
        step(
            "label values with , = \" \\ and newlines",
            "PUT",
            "/metrics/job/k13",
            b"lv{path=\"/a,b=c\",q=\"say \\\"hi\\\"\",n=\"x\\ny\",s=\"back\\\\slash\"} 7\n",
        ),
        step(
            "DELETE a group",
            "DELETE",
            "/metrics/job/j1/instance/i1",
            b"",
        ),
        step(
            "DELETE a group that does not exist",
            "DELETE",
            "/metrics/job/nothing",
            b"",
        ),
        step(
            "a real node_exporter page",
            "PUT",
            "/metrics/job/node/instance/edge1",
            &node_page,
        ),
        Step {
            compare: Body::Prefix,
            ..step(
                "a node_exporter family with another type",
                "PUT",
                "/metrics/job/liar",
                b"# TYPE node_load1 counter\nnode_load1 1\n",
            )
        },
    ];
    let mut gz = step("gzip body", "PUT", "/metrics/job/k10", &gzip(b"gz 1\n"));
    gz.headers.push(("Content-Encoding", "gzip"));
    s.push(gz);
    s.extend(protobuf_steps());
    s
}

const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The same checks with the protobuf delimited bodies Go's push client sends.
fn protobuf_steps() -> Vec<Step> {
    let encode = |text: &[u8]| protobuf::encode_delimited(&expo::parse(text).unwrap());
    let every_type = encode(
        b"# HELP pb_c Pushed as protobuf.\n# TYPE pb_c counter\npb_c{a=\"x\"} 3\n# TYPE pb_g gauge\npb_g -1.5\npb_u 7\n\
          # TYPE pb_s summary\npb_s{quantile=\"0.5\"} 2\npb_s_sum 7\npb_s_count 3\n\
          # TYPE pb_h histogram\npb_h_bucket{le=\"0.1\"} 1\npb_h_bucket{le=\"+Inf\"} 4\npb_h_sum 9\npb_h_count 4\n",
    );
    // A counter family whose metric carries a gauge (type byte turned to COUNTER).
    let mut mistyped = encode(b"# TYPE pb_m gauge\npb_m 1\n");
    let at = mistyped.windows(2).position(|w| w == [0x18, 1]).unwrap();
    mistyped[at + 1] = 0;
    let stamped = encode(b"pb_t 1 1234\n");
    let mut twice = encode(b"pb_twice 1\n");
    twice.extend(encode(b"pb_twice 2\n"));
    let truncated = every_type[..every_type.len() - 3].to_vec();
    let mut steps = vec![
        step(
            "protobuf: every type",
            "PUT",
            "/metrics/job/pb/instance/p1",
            &every_type,
        ),
        step(
            "protobuf: a counter carrying a gauge",
            "PUT",
            "/metrics/job/pb2",
            &mistyped,
        ),
        step("protobuf: timestamps", "PUT", "/metrics/job/pb3", &stamped),
        step(
            "protobuf: a family twice, the last wins",
            "PUT",
            "/metrics/job/pb4",
            &twice,
        ),
        Step {
            compare: Body::StatusOnly,
            ..step("protobuf: truncated", "PUT", "/metrics/job/pb5", &truncated)
        },
    ];
    for s in &mut steps {
        s.headers.push(("Content-Type", PROTOBUF));
    }
    steps
}

/// Every pushed metric of a `/metrics` page: (family, labels) → (type, help, value).
type Pushed = BTreeMap<(String, Vec<(String, String)>), (String, Option<String>, String)>;

fn pushed_series(page: &[u8]) -> Pushed {
    let families = expo::parse(page).unwrap_or_else(|e| {
        panic!(
            "unparsable /metrics ({e}):\n{}",
            String::from_utf8_lossy(page)
        )
    });
    let mut out = Pushed::new();
    for f in families {
        for m in f.metrics {
            if !m.labels.iter().any(|(k, _)| k == "job") {
                continue;
            }
            let mut labels = m.labels.clone();
            labels.sort();
            let value = match (&*f.name, &m.value) {
                ("push_time_seconds" | "push_failure_time_seconds", Value::Scalar(v)) => {
                    format!("set: {}", *v != 0.0)
                }
                (_, v) => format!("{v:?}"),
            };
            let previous = out.insert(
                (f.name.clone(), labels),
                (f.kind.as_str().to_string(), f.help.clone(), value),
            );
            assert!(previous.is_none(), "{} twice", f.name);
        }
    }
    out
}

#[test]
fn same_pushes_get_the_same_answers_and_series_as_the_real_pushgateway() {
    let gateway = Pushgateway::start();
    let node = NodeExporter::start();
    let mut config = local_config();
    config.ingress.push.enabled = true;
    let pimon = Running::start(config);
    let pimon_url = format!("http://{}", pimon.http);

    for s in steps(node.page()) {
        let send = |base: &str| {
            http::request(base, s.method, &s.path, &s.headers, &s.body)
                .unwrap_or_else(|e| panic!("{}: {e}", s.what))
        };
        let theirs = send(gateway.url());
        let ours = send(&pimon_url);
        let (t, o) = (theirs.body_text(), ours.body_text());
        assert_eq!(
            theirs.status, ours.status,
            "{}: status (Pushgateway said {t:?}, pimon {o:?})",
            s.what
        );
        match s.compare {
            Body::Exact => assert_eq!(t, o, "{}: body", s.what),
            Body::StatusOnly => {}
            Body::Prefix => {
                let prefix = |x: &str| x.split('{').next().unwrap_or("").to_string();
                assert_eq!(prefix(&t), prefix(&o), "{}: body prefix", s.what);
                assert!(!t.is_empty(), "{}: the Pushgateway explains", s.what);
            }
        }
    }

    let theirs = pushed_series(&http::get(gateway.url(), "/metrics").body);
    let ours = pushed_series(&http::get(&pimon_url, "/metrics").body);
    assert!(
        theirs
            .keys()
            .any(|(name, _)| name == "node_cpu_seconds_total"),
        "the node_exporter page was stored"
    );
    let only_theirs: Vec<_> = theirs
        .iter()
        .filter(|(k, _)| !ours.contains_key(k))
        .collect();
    let only_ours: Vec<_> = ours
        .iter()
        .filter(|(k, _)| !theirs.contains_key(k))
        .collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "series only on the Pushgateway: {only_theirs:#?}\nseries only on pimon: {only_ours:#?}"
    );
    for (key, value) in &theirs {
        assert_eq!(Some(value), ours.get(key), "{key:?}");
    }
    pimon.stop().unwrap();
}
