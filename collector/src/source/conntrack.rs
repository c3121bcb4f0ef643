//! Connection tracking → `NF_CONNTRACK_*`, unlabelled: node_exporter's `conntrack`
//! collector. Absent while the `nf_conntrack` module is not loaded (no firewall rule or
//! container runtime needs it): then `nf_conntrack_count` does not exist.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::file::SysFile;
use super::log::ErrorCounter;
use super::{Source, SourcesConfig};
use crate::parse::conntrack::{parse_conntrack_number, parse_conntrack_stat};
use crate::sink::SampleSink;

/// The two sysctl files (required) and the per-CPU statistics (optional).
#[derive(Debug)]
pub(crate) struct ConntrackReader {
    count: SysFile,
    max: SysFile,
    stat: Option<SysFile>,
}

impl Source for ConntrackReader {
    fn open(config: &SourcesConfig) -> Result<Self, String> {
        Ok(ConntrackReader {
            count: SysFile::open_under(&config.root, "proc/sys/net/netfilter/nf_conntrack_count")?,
            max: SysFile::open_under(&config.root, "proc/sys/net/netfilter/nf_conntrack_max")?,
            stat: SysFile::open_optional(config.root.join("proc/net/stat/nf_conntrack")),
        })
    }

    fn collect(
        &mut self,
        scratch: &mut [u8],
        sink: &mut dyn SampleSink,
        errors: &mut ErrorCounter,
    ) {
        sink.labels(&[]);
        // node_exporter stops at the first file that fails: so does this.
        for (file, row) in [
            (&self.count, id::NF_CONNTRACK_ENTRIES),
            (&self.max, id::NF_CONNTRACK_ENTRIES_LIMIT),
        ] {
            match file.read_parse(scratch, parse_conntrack_number) {
                Ok(v) => sink.push(row, Value::Unsigned(v)),
                Err(e) => return errors.fail(format_args!("{}: {e}", file.path().display())),
            }
        }
        let Some(file) = &self.stat else { return };
        match file.read_parse(scratch, parse_conntrack_stat) {
            Ok(s) => {
                let values = [
                    (id::NF_CONNTRACK_STAT_FOUND, s.found),
                    (id::NF_CONNTRACK_STAT_INVALID, s.invalid),
                    (id::NF_CONNTRACK_STAT_IGNORE, s.ignore),
                    (id::NF_CONNTRACK_STAT_INSERT, s.insert),
                    (id::NF_CONNTRACK_STAT_INSERT_FAILED, s.insert_failed),
                    (id::NF_CONNTRACK_STAT_DROP, s.drop),
                    (id::NF_CONNTRACK_STAT_EARLY_DROP, s.early_drop),
                    (id::NF_CONNTRACK_STAT_SEARCH_RESTART, s.search_restart),
                ];
                for (row, v) in values {
                    sink.push(row, Value::Unsigned(v));
                }
            }
            Err(e) => errors.fail(format_args!("{}: {e}", file.path().display())),
        }
    }
}
