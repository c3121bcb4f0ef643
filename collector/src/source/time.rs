//! `node_time_seconds`: the node's wall clock when the cycle reads its sources (the
//! clock that stamps the frames, [`crate::clock::wall_ms`]), in milliseconds on the
//! wire. Node Exporter Full's uptime is `node_time_seconds - node_boot_time_seconds`.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::sink::SampleSink;

/// The clock; nothing to open.
pub(crate) struct TimeReader;

impl Source for TimeReader {
    fn open(_: &SourcesConfig) -> Result<Self, String> {
        Ok(TimeReader)
    }

    fn collect(&mut self, _: &mut [u8], sink: &mut dyn SampleSink, _: &mut ErrorCounter) {
        sink.labels(&[]);
        sink.push(id::TIME_SECONDS, Value::Unsigned(crate::clock::wall_ms()));
    }
}
