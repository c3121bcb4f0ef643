//! Counters from the aggregator's `/metrics`, parsed strictly
//! ([`crate::exposition::parse_prometheus`]): the aggregator's own
//! (`pimon_aggregator_*`, `pimon_lp_out_*`, `pimon_influx_*`), each node's
//! (`pimon_node_*{instance}`) and each collector's, which travel in its frames and are
//! served as the node's series (`pimon_collector_*{instance}`).

use std::collections::HashMap;

use crate::exposition::{PromSample, parse_prometheus};

/// One parsed `/metrics` answer.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// Every sample.
    pub samples: Vec<PromSample>,
    /// `(name, instance)` → index of the first such sample (a fleet's scrape has
    /// hundreds of thousands of samples).
    by_instance: HashMap<(String, String), usize>,
}

impl Scrape {
    /// Parses an exposition; panics naming the bad line.
    pub fn parse(text: &str) -> Scrape {
        let samples = parse_prometheus(text).unwrap_or_else(|e| panic!("/metrics: {e}"));
        let mut by_instance = HashMap::new();
        for (i, s) in samples.iter().enumerate() {
            if let Some(instance) = s.label("instance") {
                by_instance
                    .entry((s.name.clone(), instance.to_string()))
                    .or_insert(i);
            }
        }
        Scrape {
            samples,
            by_instance,
        }
    }

    /// The value of `name` with at least the labels `labels` (the first match).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
    }

    /// `name{instance="node"}` (the first such sample), 0 when absent.
    pub fn node(&self, name: &str, node: &str) -> f64 {
        self.by_instance
            .get(&(name.to_string(), node.to_string()))
            .map_or(0.0, |&i| self.samples[i].value)
    }

    /// The sum of every sample of `name` with at least `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .sum()
    }

    /// Samples whose `instance` label is `node`.
    pub fn series_of(&self, node: &str) -> usize {
        self.samples
            .iter()
            .filter(|s| s.label("instance") == Some(node))
            .count()
    }

    /// Distinct `instance` label values.
    pub fn instances(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .samples
            .iter()
            .filter_map(|s| s.label("instance").map(String::from))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The loss and duplicate counters of one node, both sides.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCounters {
    /// `pimon_node_frames_received_total`.
    pub received: f64,
    /// `pimon_node_frames_duplicate_total`.
    pub duplicate: f64,
    /// `pimon_node_frames_missing_total`.
    pub missing: f64,
    /// `pimon_node_frames_replayed_total`.
    pub replayed: f64,
    /// `pimon_node_boot_id_changes_total`.
    pub boot_id_changes: f64,
    /// The collector's `pimon_collector_frames_sent_total`.
    pub collector_sent: f64,
    /// The collector's `pimon_collector_frames_resent_total`.
    pub collector_resent: f64,
    /// The collector's `pimon_collector_frames_dropped_total`.
    pub collector_dropped: f64,
    /// `pimon_node_up`.
    pub up: f64,
}

impl NodeCounters {
    /// Reads them from a scrape.
    pub fn of(scrape: &Scrape, node: &str) -> NodeCounters {
        NodeCounters {
            received: scrape.node("pimon_node_frames_received_total", node),
            duplicate: scrape.node("pimon_node_frames_duplicate_total", node),
            missing: scrape.node("pimon_node_frames_missing_total", node),
            replayed: scrape.node("pimon_node_frames_replayed_total", node),
            boot_id_changes: scrape.node("pimon_node_boot_id_changes_total", node),
            collector_sent: scrape.node("pimon_collector_frames_sent_total", node),
            collector_resent: scrape.node("pimon_collector_frames_resent_total", node),
            collector_dropped: scrape.node("pimon_collector_frames_dropped_total", node),
            up: scrape.node("pimon_node_up", node),
        }
    }
}
