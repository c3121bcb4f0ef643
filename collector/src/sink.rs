//! Where sources put their samples during a cycle.
//!
//! Every source writes into a [`SampleSink`]; the cycle's sink encodes into frames
//! (no allocation), and `--print` sinks render text. A source sets the instance labels
//! once and then pushes every metric that shares them, in ascending metric id order
//! where it can (consecutive ids encode smallest on the wire).

use pimon_protocol::Value;

/// Receiver of one cycle's samples.
pub trait SampleSink {
    /// Sets the instance label values (in the catalog's label order for the metrics
    /// that follow) for the samples pushed after this call. `&[]` for unlabelled metrics.
    fn labels(&mut self, values: &[&str]);
    /// Adds one sample with catalog id `metric` and the current labels.
    fn push(&mut self, metric: u16, value: Value);
}
