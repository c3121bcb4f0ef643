//! `node_timex_*`: the kernel's clock discipline from `adjtimex(2)` (node_exporter's
//! `timex` collector; Node Exporter Full's "System Timesync"). A system call, not a
//! file: under `--root` it still reads the running kernel's clock.

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::sink::SampleSink;

/// The call; nothing to open.
pub(crate) struct TimexReader;

impl Source for TimexReader {
    /// Absent where the call is refused (a seccomp filter: node_exporter then sends
    /// nothing either).
    fn open(_: &SourcesConfig) -> Result<Self, String> {
        match crate::sys::adjtimex() {
            Ok(_) => Ok(TimexReader),
            Err(e) => Err(format!("adjtimex: {e}")),
        }
    }

    fn collect(&mut self, _: &mut [u8], sink: &mut dyn SampleSink, errors: &mut ErrorCounter) {
        match crate::sys::adjtimex() {
            Ok(clock) => crate::parse::timex::push_samples(&clock, sink),
            Err(e) => errors.fail(format_args!("adjtimex: {e}")),
        }
    }
}
