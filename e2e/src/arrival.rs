//! What arrived, counted against what was sent ([`Ledger`]): the aggregator's
//! `--lp-out` file and a real InfluxDB, cycle by cycle.
//!
//! Stored data is reduced to *fields per (host, timestamp)*: a cycle of a node is all
//! its frames' fields at the cycle's timestamp, so a lost frame shows as fields
//! missing at that timestamp, a frame stored twice as fields counted twice (in the
//! file) and a frame stored at another time (the receive time instead of the node's)
//! as fields at a timestamp no cycle has. Each check returns every problem at once,
//! in words a reader can act on:
//!
//! - `missing: node pi4-a boot 3f… cycle 1700000000100 (seqs 14, 15; delivered 0, 2
//!   times): 120 of 287 fields stored`;
//! - `doubled: node pi4-a at 1700000000100: cpu,cpu=cpu0 time_user stored 2 times`;
//! - `foreign time: node pi4-a at 1700000000345: 287 fields at a time no cycle has`.
//!
//! InfluxDB keeps one value per (series, field, time), so it cannot show a frame stored
//! twice; it shows what the file cannot: that every frame survived the outputs' spool,
//! retries and restarts, and that no two frames collapsed into one point.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::exposition::{Field, parse_line_protocol};
use crate::ledger::{Cycle, FrameId, Ledger};
use crate::support::servers::Influxd;
use pimon_aggregator::telegraf;

/// Nanoseconds per millisecond (line protocol is written with `--precision ns`).
pub const NS_PER_MS: i64 = 1_000_000;

/// Fields stored per node and timestamp (ns).
#[derive(Clone, Debug, Default)]
pub struct Stored {
    /// `(host, timestamp ns)` → fields stored (every copy counted).
    pub fields: BTreeMap<(String, i64), usize>,
    /// `(host, timestamp ns)` → distinct fields stored (`measurement,tags field`).
    pub distinct: BTreeMap<(String, i64), usize>,
    /// `(host, timestamp ns, "measurement,tags field")` stored more than once, with the
    /// number of copies and whether the copies' values differ.
    pub doubled: Vec<(String, i64, String, usize, bool)>,
    /// Points (lines) per host, every copy counted.
    pub points: BTreeMap<String, usize>,
    /// The `pimon_collector` `frames_sent` value of each `(host, timestamp)`: it grows
    /// with every cycle, so ordering by it orders cycles as the collector made them.
    pub frames_sent: BTreeMap<(String, i64), i64>,
}

impl Stored {
    /// Fields of `host` at `ts_ns` (every copy).
    pub fn at(&self, host: &str, ts_ns: i64) -> usize {
        self.fields
            .get(&(host.to_string(), ts_ns))
            .copied()
            .unwrap_or(0)
    }

    /// Distinct fields of `host` at `ts_ns`.
    pub fn distinct_at(&self, host: &str, ts_ns: i64) -> usize {
        self.distinct
            .get(&(host.to_string(), ts_ns))
            .copied()
            .unwrap_or(0)
    }

    /// Timestamps (ns) of `host`, ascending.
    pub fn times(&self, host: &str) -> Vec<i64> {
        self.fields
            .keys()
            .filter(|(h, _)| h == host)
            .map(|(_, t)| *t)
            .collect()
    }

    /// All fields of `host`.
    pub fn total(&self, host: &str) -> usize {
        self.fields
            .iter()
            .filter(|((h, _), _)| h == host)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Reads line protocol (the `--lp-out` file). Lines without a timestamp or a `host`
/// tag are an error, as is a line the `influxdb-line-protocol` crate refuses; a torn
/// last line (no newline yet) is left out.
pub fn read_line_protocol(text: &str) -> Result<Stored, String> {
    let points = parse_line_protocol(text)?;
    let mut out = Stored::default();
    let mut seen: HashMap<(String, i64, String), (usize, String)> = HashMap::new();
    for p in points {
        let ts = p
            .timestamp
            .ok_or_else(|| format!("line without timestamp: {}", p.measurement))?;
        let host = p
            .tag("host")
            .ok_or_else(|| format!("line without host tag: {} at {ts}", p.measurement))?
            .to_string();
        let mut tags: Vec<String> = p
            .tags
            .iter()
            .filter(|(k, _)| k != "host")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        tags.sort();
        let series = format!("{},{}", p.measurement, tags.join(","));
        *out.points.entry(host.clone()).or_default() += 1;
        for (name, value) in &p.fields {
            // Telegraf's computed fields are not one sample each (see `field_count`):
            // counted neither here nor in the ledger, still checked for doubles below.
            let counted = !telegraf::is_computed(&p.measurement, name);
            if counted {
                *out.fields.entry((host.clone(), ts)).or_default() += 1;
            }
            if p.measurement == "pimon_collector"
                && name == "frames_sent"
                && let Some(v) = value.as_f64()
            {
                out.frames_sent.insert((host.clone(), ts), v as i64);
            }
            let e = seen
                .entry((host.clone(), ts, format!("{series} {name}")))
                .or_insert((0, field_text(value)));
            if e.0 == 0 && counted {
                *out.distinct.entry((host.clone(), ts)).or_default() += 1;
            }
            e.0 += 1;
            if e.1 != field_text(value) {
                e.1 = String::from("\u{0}differs");
            }
        }
    }
    let mut doubled: Vec<_> = seen
        .into_iter()
        .filter(|(_, (n, _))| *n > 1)
        .map(|((h, t, k), (n, v))| (h, t, k, n, v.starts_with('\u{0}')))
        .collect();
    doubled.sort();
    out.doubled = doubled;
    Ok(out)
}

fn field_text(f: &Field) -> String {
    format!("{f:?}")
}

/// Reads what InfluxDB holds for `hosts` in `db`: non-null fields per timestamp, over
/// every measurement (`SELECT *::field FROM /.*/ WHERE host = … GROUP BY *`), one
/// query a host.
pub fn read_influxdb(influxd: &Influxd, db: &str, hosts: &[&str]) -> Stored {
    let mut out = Stored::default();
    for host in hosts {
        add_query(&mut out, influxd, db, host, "/.*/");
    }
    out
}

/// [`read_influxdb`] one query per host and measurement (the measurements from `SHOW
/// MEASUREMENTS WHERE host = …`), for hosts with more points than one response may
/// hold (the test helpers take at most 64 MiB; an hour of one Pi 4 at 10 s is more, as
/// InfluxDB's JSON). The same result.
pub fn read_influxdb_by_measurement(influxd: &Influxd, db: &str, hosts: &[&str]) -> Stored {
    let mut out = Stored::default();
    for host in hosts {
        let q = format!(
            "SHOW MEASUREMENTS WHERE \"host\" = '{}'",
            influxql_string(host)
        );
        let v = query_result(influxd, db, &q);
        let names: Vec<String> = v["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|row| row[0].as_str().map(str::to_string))
            .collect();
        for name in names {
            let from = format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""));
            add_query(&mut out, influxd, db, host, &from);
        }
    }
    out
}

/// The JSON of query `q`, panicking with InfluxDB's error if its first result has one.
fn query_result(influxd: &Influxd, db: &str, q: &str) -> serde_json::Value {
    let v = influxd.query(db, q);
    if let Some(err) = v["results"][0]["error"].as_str() {
        panic!("influxd query {q}: {err}");
    }
    v
}

/// `text` inside an InfluxQL single-quoted string.
fn influxql_string(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Adds the non-null fields of `host` in the measurements `from` (a regex or a quoted
/// name) to `out`.
fn add_query(out: &mut Stored, influxd: &Influxd, db: &str, host: &str, from: &str) {
    let q = format!(
        "SELECT *::field FROM {from} WHERE \"host\" = '{}' GROUP BY *",
        influxql_string(host)
    );
    let v = query_result(influxd, db, &q);
    let Some(series) = v["results"][0]["series"].as_array() else {
        return;
    };
    for s in series {
        let columns: Vec<&str> = s["columns"]
            .as_array()
            .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
            .unwrap_or_default();
        let measurement = s["name"].as_str().unwrap_or("");
        if measurement == "pimon_node" {
            // The aggregator's own figures about the node (`self_lines.rs`), at the
            // aggregator's time every 10 s: not lines of the collector.
            continue;
        }
        let sent_col = columns.iter().position(|c| *c == "frames_sent");
        for row in s["values"].as_array().into_iter().flatten() {
            let Some(row) = row.as_array() else { continue };
            let Some(ts) = row.first().and_then(|t| t.as_i64()) else {
                continue;
            };
            let n = row
                .iter()
                .enumerate()
                .skip(1)
                .filter(|(i, v)| {
                    !v.is_null()
                        && !columns
                            .get(*i)
                            .is_some_and(|c| telegraf::is_computed(measurement, c))
                })
                .count();
            *out.points.entry(host.to_string()).or_default() += 1;
            *out.fields.entry((host.to_string(), ts)).or_default() += n;
            *out.distinct.entry((host.to_string(), ts)).or_default() += n;
            if measurement == "pimon_collector"
                && let Some(i) = sent_col
                && let Some(v) = row.get(i).and_then(|v| v.as_f64())
            {
                out.frames_sent.insert((host.to_string(), ts), v as i64);
            }
        }
    }
}

/// How many lines of line protocol `text` InfluxDB holds: every field of the line
/// (`present`), some of them (`partial`), none (`absent`). Lines, not points: one
/// series split over two parts of a cycle is two lines but one InfluxDB point, so only
/// a comparison field by field counts lines exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinesInInflux {
    /// Lines with every field in InfluxDB.
    pub present: usize,
    /// Lines with some fields in InfluxDB.
    pub partial: usize,
    /// Lines with none.
    pub absent: usize,
}

/// Compares the lines of `text` (of `hosts`) with what InfluxDB holds.
pub fn lines_in_influxdb(
    text: &str,
    influxd: &Influxd,
    db: &str,
    hosts: &[&str],
) -> Result<LinesInInflux, String> {
    use std::collections::HashSet;
    let mut have: HashSet<(String, i64, String)> = HashSet::new();
    for host in hosts {
        let q = format!(
            "SELECT *::field FROM /.*/ WHERE \"host\" = '{}' GROUP BY *",
            influxql_string(host)
        );
        let v = influxd.query(db, &q);
        for s in v["results"][0]["series"].as_array().into_iter().flatten() {
            let mut tags: Vec<String> = s["tags"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    let v = v.as_str()?;
                    (!v.is_empty()).then(|| format!("{k}={v}"))
                })
                .collect();
            tags.sort();
            let series = format!("{},{}", s["name"].as_str().unwrap_or(""), tags.join(","));
            let columns: Vec<&str> = s["columns"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            for row in s["values"].as_array().into_iter().flatten() {
                let Some(row) = row.as_array() else { continue };
                let Some(ts) = row.first().and_then(|t| t.as_i64()) else {
                    continue;
                };
                for (i, v) in row.iter().enumerate().skip(1) {
                    if !v.is_null() {
                        have.insert((series.clone(), ts, columns[i].to_string()));
                    }
                }
            }
        }
    }
    let mut out = LinesInInflux::default();
    for p in parse_line_protocol(text)? {
        if !p.tag("host").is_some_and(|h| hosts.contains(&h)) {
            continue;
        }
        let mut tags: Vec<String> = p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        tags.sort();
        let series = format!("{},{}", p.measurement, tags.join(","));
        let ts = p.timestamp.unwrap_or(0);
        let found = p
            .fields
            .iter()
            .filter(|(f, _)| have.contains(&(series.clone(), ts, f.clone())))
            .count();
        match found {
            0 => out.absent += 1,
            n if n == p.fields.len() => out.present += 1,
            _ => out.partial += 1,
        }
    }
    Ok(out)
}

/// Which frames may be absent (really lost: dropped from a ring before they were ever
/// delivered), by identity.
pub type Lost = BTreeSet<FrameId>;

/// How many copies of a field a check accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copies {
    /// Exactly one.
    Once,
    /// One or more, all with the same value and timestamp (a frame written again after
    /// a crash between writing it and acknowledging it: InfluxDB stores it once).
    AtLeastOnceIdentical,
}

/// Checks that every cycle of each of `nodes` in `ledger` is stored exactly once, at
/// its original timestamp, with every field of its parts not in `lost`, that no field
/// is stored twice (`doubled` from the file; InfluxDB has none by construction), and
/// that nothing of the node is stored at a time no cycle has. Returns the problems.
pub fn check_exactly_once(
    ledger: &Ledger,
    stored: &Stored,
    nodes: &[&str],
    lost: &Lost,
) -> Vec<String> {
    check_cycles(ledger, stored, nodes, lost, Copies::Once)
}

/// [`check_exactly_once`] with a choice of how many copies of a field are fine.
pub fn check_cycles(
    ledger: &Ledger,
    stored: &Stored,
    nodes: &[&str],
    lost: &Lost,
    copies: Copies,
) -> Vec<String> {
    let mut problems = Vec::new();
    for node in nodes {
        let cycles = ledger.cycles(node);
        if cycles.is_empty() {
            problems.push(format!("node {node}: the proxy saw no frame of it"));
            continue;
        }
        let mut cycle_times: BTreeSet<i64> = BTreeSet::new();
        // Consecutive cycles of which nothing at all was stored, reported as one run.
        let mut gone: Vec<&Cycle> = Vec::new();
        for c in &cycles {
            let ts = c.timestamp_ms as i64 * NS_PER_MS;
            cycle_times.insert(ts);
            let want = c.fields_without(|seq| lost.contains(&id(c, seq)));
            let got = match copies {
                Copies::Once => stored.at(node, ts),
                Copies::AtLeastOnceIdentical => stored.distinct_at(node, ts),
            };
            if got == 0 && want > 0 {
                gone.push(c);
                continue;
            }
            flush_gone(ledger, lost, &mut gone, &mut problems);
            if got < want {
                problems.push(missing(ledger, c, want, got));
            } else if got > want {
                problems.push(format!(
                    "too many: node {node} boot {:016x} cycle {}: {got} fields stored, {want} expected{}",
                    c.boot_id,
                    c.timestamp_ms,
                    if want < c.fields() {
                        " (a frame counted lost was stored after all)"
                    } else {
                        ""
                    }
                ));
            }
        }
        flush_gone(ledger, lost, &mut gone, &mut problems);
        for t in stored.times(node) {
            if !cycle_times.contains(&t) {
                problems.push(format!(
                    "foreign time: node {node} at {t} ns: {} fields at a time no cycle of the node has (the receive time instead of the node's?)",
                    stored.at(node, t)
                ));
            }
        }
    }
    problems.extend(doubled_problems(stored, |h| nodes.contains(&h), copies));
    summarize(problems)
}

/// Reports a run of cycles of which nothing was stored: one line per cycle for a short
/// run, one line for the whole run otherwise.
fn flush_gone(ledger: &Ledger, lost: &Lost, gone: &mut Vec<&Cycle>, problems: &mut Vec<String>) {
    if gone.len() <= 3 {
        for c in gone.iter() {
            let want = c.fields_without(|seq| lost.contains(&id(c, seq)));
            problems.push(missing(ledger, c, want, 0));
        }
    } else {
        let (first, last) = (gone[0], gone[gone.len() - 1]);
        let seqs = |c: &Cycle| c.frames.iter().map(|f| f.0).collect::<Vec<_>>();
        let delivered: u32 = gone
            .iter()
            .flat_map(|c| {
                c.frames
                    .iter()
                    .map(|f| ledger.frames.get(&id(c, f.0)).map_or(0, |r| r.delivered))
            })
            .sum();
        problems.push(format!(
            "missing: node {} boot {:016x}: {} consecutive cycles from {} to {} (seqs {:?} to {:?}, delivered {delivered} times in all): nothing stored",
            first.node,
            first.boot_id,
            gone.len(),
            first.timestamp_ms,
            last.timestamp_ms,
            seqs(first),
            seqs(last),
        ));
    }
    gone.clear();
}

fn id(c: &Cycle, seq: u64) -> FrameId {
    FrameId {
        node: c.node.clone(),
        boot_id: c.boot_id,
        seq,
    }
}

fn missing(ledger: &Ledger, c: &Cycle, want: usize, got: usize) -> String {
    let seqs: Vec<String> = c
        .frames
        .iter()
        .map(|(seq, part, _)| {
            let delivered = ledger.frames.get(&id(c, *seq)).map_or(0, |r| r.delivered);
            format!("seq {seq} part {} delivered {delivered}×", part + 1)
        })
        .collect();
    format!(
        "missing: node {} boot {:016x} cycle {} ({}{}): {got} of {want} fields stored",
        c.node,
        c.boot_id,
        c.timestamp_ms,
        seqs.join(", "),
        if c.complete() {
            String::new()
        } else {
            format!(
                "; only {} of {} parts seen by the proxy",
                c.frames.len(),
                c.parts
            )
        }
    )
}

/// The doubled fields of `host` (when `host_ok`), one problem per (host, timestamp):
/// how many fields, how many copies at most, an example.
fn doubled_problems(
    stored: &Stored,
    host_ok: impl Fn(&str) -> bool,
    copies: Copies,
) -> Vec<String> {
    let mut by_time: BTreeMap<(&str, i64), (usize, usize, bool, &str)> = BTreeMap::new();
    for (host, ts, key, n, differ) in &stored.doubled {
        if !host_ok(host) || (copies == Copies::AtLeastOnceIdentical && !*differ) {
            continue;
        }
        let e = by_time
            .entry((host.as_str(), *ts))
            .or_insert((0, 0, false, key.as_str()));
        e.0 += 1;
        e.1 = e.1.max(*n);
        e.2 |= *differ;
    }
    by_time
        .into_iter()
        .map(|((host, ts), (fields, most, differ, example))| {
            format!(
                "doubled: node {host} at {ts} ns: {fields} fields stored up to {most} times{} (e.g. {example})",
                if differ { ", with different values" } else { "" }
            )
        })
        .collect()
}

/// At most 40 problems and a count of the rest, so a message stays readable.
fn summarize(mut problems: Vec<String>) -> Vec<String> {
    if problems.len() > 40 {
        let rest = problems.len() - 40;
        problems.truncate(40);
        problems.push(format!("… and {rest} more"));
    }
    problems
}

/// Checks that every cycle of `node` is stored once with a timestamp of its own, when
/// some timestamps may have been replaced (the node's clock was off): the node has at
/// least as many distinct timestamps as cycles (at most one per frame: a cycle's parts
/// may get one each), as many fields as its cycles have, no field
/// twice (with [`Copies::AtLeastOnceIdentical`]: no two copies that differ), and its
/// cycles are in the order the collector made them (`frames_sent` grows with the
/// timestamps). `original` lists the cycles (by timestamp, ms) that must have kept
/// their own timestamp.
pub fn check_distinct_times(
    ledger: &Ledger,
    stored: &Stored,
    node: &str,
    original: &BTreeSet<u64>,
    copies: Copies,
) -> Vec<String> {
    let mut problems = Vec::new();
    let cycles = ledger.cycles(node);
    let want_fields: usize = cycles.iter().map(Cycle::fields).sum();
    let times = stored.times(node);
    let frames: usize = cycles.iter().map(|c| c.frames.len()).sum();
    // Parts of one cycle may share its time or get one each; two cycles never share.
    if times.len() < cycles.len() || times.len() > frames {
        problems.push(format!(
            "node {node}: {} cycles ({frames} frames) sent but {} distinct timestamps stored (frames collapsed into one point, lost, or stored again at another time)",
            cycles.len(),
            times.len()
        ));
    }
    let total = match copies {
        Copies::Once => stored.total(node),
        Copies::AtLeastOnceIdentical => stored
            .distinct
            .iter()
            .filter(|((h, _), _)| h == node)
            .map(|(_, n)| n)
            .sum(),
    };
    if total != want_fields {
        problems.push(format!(
            "node {node}: {want_fields} fields sent, {total} stored"
        ));
    }
    for c in &cycles {
        if original.contains(&c.timestamp_ms) {
            let got = stored.distinct_at(node, c.timestamp_ms as i64 * NS_PER_MS);
            if got != c.fields() {
                problems.push(format!(
                    "node {node} cycle {}: must keep its own timestamp; {got} of {} fields there",
                    c.timestamp_ms,
                    c.fields()
                ));
            }
        }
    }
    let mut by_time: Vec<(i64, i64)> = stored
        .frames_sent
        .iter()
        .filter(|((h, _), _)| h == node)
        .map(|((_, t), v)| (*t, *v))
        .collect();
    by_time.sort();
    for w in by_time.windows(2) {
        if w[1].1 < w[0].1 {
            problems.push(format!(
                "node {node}: out of order: frames_sent {} at {} ns but {} at the later {} ns",
                w[0].1, w[0].0, w[1].1, w[1].0
            ));
        }
    }
    problems.extend(doubled_problems(stored, |h| h == node, copies));
    summarize(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    use crate::ledger::FrameRecord;

    fn ledger(frames: &[(&str, u64, u64, u8, u8, usize, u32)]) -> Ledger {
        let mut l = Ledger::default();
        for &(node, seq, ts, part, parts, fields, delivered) in frames {
            l.frames.insert(
                FrameId {
                    node: Arc::from(node),
                    boot_id: 1,
                    seq,
                },
                FrameRecord {
                    timestamp_ms: ts,
                    part,
                    parts,
                    resend_floor: 0,
                    fields,
                    received: 1,
                    delivered,
                    first_seen: Instant::now(),
                    first_delivered: None,
                },
            );
        }
        l
    }

    #[test]
    fn exact_cycles_pass_and_every_kind_of_problem_is_named() {
        let l = ledger(&[
            ("a", 0, 1000, 0, 2, 2, 1),
            ("a", 1, 1000, 1, 2, 1, 1),
            ("a", 2, 1100, 0, 2, 2, 1),
            ("a", 3, 1100, 1, 2, 1, 0),
        ]);
        let good = "m,host=a x=1,y=2 1000000000\nn,host=a z=1 1000000000\n\
                    m,host=a x=1,y=2 1100000000\nn,host=a z=1 1100000000\n";
        let stored = read_line_protocol(good).unwrap();
        assert!(check_exactly_once(&l, &stored, &["a"], &Lost::new()).is_empty());

        // Second part of the second cycle lost, first cycle doubled, one line at a
        // receive time.
        let bad = "m,host=a x=1,y=2 1000000000\nn,host=a z=1 1000000000\nn,host=a z=2 1000000000\n\
                   m,host=a x=1,y=2 1100000000\nn,host=a z=1 1234000000\n";
        let stored = read_line_protocol(bad).unwrap();
        let p = check_exactly_once(&l, &stored, &["a"], &Lost::new()).join("\n");
        assert!(
            p.contains("too many: node a boot 0000000000000001 cycle 1000"),
            "{p}"
        );
        assert!(p.contains("missing: node a boot 0000000000000001 cycle 1100 (seq 2 part 1 delivered 1×, seq 3 part 2 delivered 0×): 2 of 3"), "{p}");
        assert!(p.contains("foreign time: node a at 1234000000 ns"), "{p}");
        assert!(
            p.contains(
                "doubled: node a at 1000000000 ns: 1 fields stored up to 2 times, with different values (e.g. n, z)"
            ),
            "{p}"
        );

        // The lost part is allowed when it is declared lost.
        let lost: Lost = [FrameId {
            node: Arc::from("a"),
            boot_id: 1,
            seq: 3,
        }]
        .into();
        let partial =
            "m,host=a x=1,y=2 1000000000\nn,host=a z=1 1000000000\nm,host=a x=1,y=2 1100000000\n";
        let stored = read_line_protocol(partial).unwrap();
        assert!(check_exactly_once(&l, &stored, &["a"], &lost).is_empty());
    }

    #[test]
    fn identical_copies_pass_only_when_at_least_once_is_allowed() {
        let l = ledger(&[("a", 0, 1000, 0, 1, 2, 1)]);
        let twice = "m,host=a x=1,y=2 1000000000\nm,host=a x=1,y=2 1000000000\n";
        let stored = read_line_protocol(twice).unwrap();
        let none = Lost::new();
        assert!(check_cycles(&l, &stored, &["a"], &none, Copies::AtLeastOnceIdentical).is_empty());
        let p = check_exactly_once(&l, &stored, &["a"], &none).join("\n");
        assert!(
            p.contains("too many") && p.contains("2 fields stored up to 2 times"),
            "{p}"
        );
        let differ = "m,host=a x=1,y=2 1000000000\nm,host=a x=1,y=3 1000000000\n";
        let stored = read_line_protocol(differ).unwrap();
        let p = check_cycles(&l, &stored, &["a"], &none, Copies::AtLeastOnceIdentical).join("\n");
        assert!(p.contains("with different values"), "{p}");
    }

    #[test]
    fn distinct_times_catch_collapsed_and_reordered_cycles() {
        let l = ledger(&[("a", 0, 1000, 0, 1, 1, 1), ("a", 1, 1100, 0, 1, 1, 1)]);
        let ok = "pimon_collector,host=a frames_sent=1i 5000000000\npimon_collector,host=a frames_sent=2i 5000000001\n";
        let original = BTreeSet::new();
        assert!(
            check_distinct_times(
                &l,
                &read_line_protocol(ok).unwrap(),
                "a",
                &original,
                Copies::Once
            )
            .is_empty()
        );
        let collapsed = "pimon_collector,host=a frames_sent=1i 5000000000\npimon_collector,host=a frames_sent=2i 5000000000\n";
        let p = check_distinct_times(
            &l,
            &read_line_protocol(collapsed).unwrap(),
            "a",
            &original,
            Copies::Once,
        )
        .join("\n");
        assert!(
            p.contains("2 cycles (2 frames) sent but 1 distinct timestamps"),
            "{p}"
        );
        let reordered = "pimon_collector,host=a frames_sent=2i 5000000000\npimon_collector,host=a frames_sent=1i 5000000001\n";
        let p = check_distinct_times(
            &l,
            &read_line_protocol(reordered).unwrap(),
            "a",
            &original,
            Copies::Once,
        )
        .join("\n");
        assert!(p.contains("out of order"), "{p}");
        let must_keep: BTreeSet<u64> = [1000].into();
        let p = check_distinct_times(
            &l,
            &read_line_protocol(ok).unwrap(),
            "a",
            &must_keep,
            Copies::Once,
        )
        .join("\n");
        assert!(p.contains("cycle 1000: must keep its own timestamp"), "{p}");
    }
}
