//! `node_time_seconds`: the node's wall clock when the cycle reads its sources (the
//! clock that stamps the frames, [`crate::clock::wall_ms`]), in milliseconds on the
//! wire; Node Exporter Full's uptime is `node_time_seconds - node_boot_time_seconds`.
//! And `node_time_zone_offset_seconds{time_zone}`: the zone of `etc/localtime` under the
//! root at that time (see [`crate::parse::time`]), `UTC` 0 without a readable one, as
//! node_exporter (Go's `time.Local`) has it.
//!
//! `etc/localtime` is read at discovery (the source is hot-plug, so again every
//! `rediscover`: a zone changed with `timedatectl` shows within a minute). It is
//! usually a symbolic link to `/usr/share/zoneinfo/…`; an absolute target is taken
//! under the root too, so a container's `/host` gives the host's zone.

use std::path::{Path, PathBuf};

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::time::{UTC, Zone, parse_tzif};
use crate::sink::SampleSink;

/// The zone file's bytes (empty: UTC).
pub(crate) struct TimeReader {
    localtime: Vec<u8>,
}

/// `root/etc/localtime`, its absolute link targets followed under `root`.
fn localtime_under(root: &Path) -> PathBuf {
    let mut path = root.join("etc/localtime");
    for _ in 0..8 {
        match std::fs::read_link(&path) {
            Ok(target) if target.is_absolute() => {
                path = root.join(target.strip_prefix("/").unwrap_or(&target));
            }
            Ok(target) => {
                let dir = path.parent().unwrap_or(root).to_path_buf();
                path = dir.join(target);
            }
            Err(_) => break,
        }
    }
    path
}

impl TimeReader {
    fn zone_at(&self, unix: i64) -> Zone<'_> {
        match parse_tzif(&self.localtime) {
            Ok(tz) => tz.zone_at(unix),
            Err(_) => UTC,
        }
    }
}

impl Source for TimeReader {
    /// Never absent: without a zone file the zone is UTC.
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        let localtime = std::fs::read(localtime_under(&config.root))
            .ok()
            .filter(|bytes| parse_tzif(bytes).is_ok())
            .unwrap_or_default();
        Ok(TimeReader { localtime })
    }

    fn hotplug(&self) -> bool {
        true
    }

    /// The zone now.
    fn details(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = i64::try_from(crate::clock::wall_ms() / 1000).unwrap_or(i64::MAX);
        let zone = self.zone_at(now);
        write!(f, ": zone {} ({:+} s)", zone.name, zone.offset)
    }

    fn collect(&mut self, _: &mut [u8], sink: &mut dyn SampleSink, _: &mut ErrorCounter) {
        let ms = crate::clock::wall_ms();
        sink.labels(&[]);
        sink.push(id::TIME_SECONDS, Value::Unsigned(ms));
        let zone = self.zone_at(i64::try_from(ms / 1000).unwrap_or(i64::MAX));
        sink.labels(&[zone.name]);
        sink.push(id::TIME_ZONE_OFFSET, Value::Signed(i64::from(zone.offset)));
    }
}
