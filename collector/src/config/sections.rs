//! The sections handed on by the file parser: `[filters]` (the sources), `[kmsg]` and
//! the sensor lines.

use std::path::Path;

use super::file::SENSOR_KEYS;
use super::{ConfigError, Entry, MAX_CGROUPS};
use crate::cli;
use crate::parse::log_rule::Rule;
use crate::sensors::{self, SensorsConfig};
use crate::source::{NameLists, SourceKind, SourcesConfig};

/// Words of a list value: separated by spaces or commas.
fn list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn boolean(e: &Entry) -> Result<bool, ConfigError> {
    match e.value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        v => Err(ConfigError::at(
            e.line,
            format!("{}: {v:?} is not true or false", e.key),
        )),
    }
}

/// The sources' configuration: `root` and the `[filters]` lines.
pub fn sources_config(root: &Path, filters: &[Entry]) -> Result<SourcesConfig, ConfigError> {
    let mut cfg = SourcesConfig {
        root: root.to_path_buf(),
        ..SourcesConfig::default()
    };
    for e in filters {
        let (what, op) = e.key.rsplit_once('_').unwrap_or((e.key.as_str(), ""));
        let lists: Option<&mut NameLists> = match what {
            "netdev" => Some(&mut cfg.net_devices),
            "diskstats" => Some(&mut cfg.disk_devices),
            "mountpoint" => Some(&mut cfg.mount_points),
            "fstype" => Some(&mut cfg.fs_types),
            "cgroup_namespace" => Some(&mut cfg.cgroup.namespaces),
            "cgroup_unit" => Some(&mut cfg.cgroup.units),
            "cgroup_name" => Some(&mut cfg.cgroup.names),
            _ => None,
        };
        match (lists, op) {
            (Some(l), "include") => l.include = list(&e.value),
            (Some(l), "exclude") => l.exclude = list(&e.value),
            (Some(l), "defaults") => l.defaults = boolean(e)?,
            _ => match e.key.as_str() {
                key @ ("disable" | "enable") => {
                    for name in list(&e.value) {
                        let kind = SourceKind::from_name(&name).ok_or_else(|| {
                            let known: Vec<&str> =
                                SourceKind::ALL.iter().map(|k| k.name()).collect();
                            ConfigError::at(
                                e.line,
                                format!(
                                    "{key}: unknown source {name:?} (known: {})",
                                    known.join(", ")
                                ),
                            )
                        })?;
                        if key == "enable" {
                            cfg.sources.insert(kind);
                        } else {
                            cfg.sources.remove(kind);
                        }
                    }
                }
                "statvfs_timeout" => {
                    cfg.statvfs_timeout = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("statvfs_timeout: {p}")))?;
                }
                "processes_every" => {
                    cfg.processes_every = match e.value.parse::<u32>() {
                        Ok(n @ 1..=60) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!(
                                    "processes_every: {:?} is not a number from 1 to 60",
                                    e.value
                                ),
                            ));
                        }
                    }
                }
                "cgroup_max" => {
                    cfg.cgroup.max = match e.value.parse::<usize>() {
                        Ok(n) if (1..=MAX_CGROUPS).contains(&n) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!(
                                    "cgroup_max: {:?} is not a number from 1 to {MAX_CGROUPS}",
                                    e.value
                                ),
                            ));
                        }
                    };
                }
                "cgroup_every" => {
                    cfg.cgroup.every = match e.value.parse::<u32>() {
                        Ok(n) if (1..=60).contains(&n) => n,
                        _ => {
                            return Err(ConfigError::at(
                                e.line,
                                format!("cgroup_every: {:?} is not a number from 1 to 60", e.value),
                            ));
                        }
                    };
                }
                "cgroup_rediscover" => {
                    cfg.cgroup.rediscover = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("cgroup_rediscover: {p}")))?;
                }
                "rediscover" => {
                    cfg.rediscover = cli::parse_duration(&e.value)
                        .map_err(|p| ConfigError::at(e.line, format!("rediscover: {p}")))?;
                }
                k => {
                    return Err(ConfigError::at(
                        e.line,
                        format!(
                            "unknown key {k:?} in [filters] (known: {{netdev,diskstats,mountpoint,fstype}}_{{include,exclude,defaults}}, cgroup_{{namespace,unit,name}}_{{include,exclude}}, cgroup_max, cgroup_rediscover, cgroup_every, disable, enable, statvfs_timeout, rediscover, processes_every)"
                        ),
                    ));
                }
            },
        }
    }
    Ok(cfg)
}

/// Adds the `[kmsg]` lines to the sources' configuration: `rule = …` (each checked
/// here, so a bad rule names its line) and `max_series = N`.
pub fn kmsg_config(cfg: &mut SourcesConfig, lines: &[Entry]) -> Result<(), ConfigError> {
    for e in lines {
        let at = |p: String| ConfigError::at(e.line, p);
        match e.key.as_str() {
            "rule" => {
                Rule::parse(&e.value).map_err(|p| at(format!("rule: {p}")))?;
                cfg.kmsg_rules.push(e.value.clone());
            }
            "max_series" => {
                cfg.kmsg_max_series = match e.value.parse::<usize>() {
                    Ok(n @ 1..=4096) => n,
                    _ => return Err(at(format!("max_series: {:?} is not 1 to 4096", e.value))),
                }
            }
            k => {
                return Err(at(format!(
                    "unknown key {k:?} in [kmsg] (known: rule, max_series)"
                )));
            }
        }
    }
    Ok(())
}

/// The sensors' configuration from the sensor lines, in file order.
pub fn sensors_config(lines: &[Entry]) -> Result<SensorsConfig, ConfigError> {
    let mut cfg = SensorsConfig::default();
    for e in lines {
        let at = |p: String| ConfigError::at(e.line, p);
        let duration = || cli::parse_duration(&e.value).map_err(|p| at(format!("{}: {p}", e.key)));
        match e.key.as_str() {
            "i2c" => cfg
                .add_i2c(sensors::parse_i2c_line(&e.value).map_err(at)?)
                .map_err(at)?,
            "gpio" => cfg
                .add_gpio(sensors::parse_gpio_line(&e.value).map_err(at)?)
                .map_err(at)?,
            "i2c_interval" => cfg.i2c_interval = duration()?,
            "i2c_retry_min" => cfg.i2c_retry_min = duration()?,
            "i2c_retry_max" => cfg.i2c_retry_max = duration()?,
            "stale_after" => cfg.stale_after = duration()?,
            k => {
                return Err(at(format!(
                    "unknown sensor key {k:?} (known: {SENSOR_KEYS})"
                )));
            }
        }
    }
    Ok(cfg)
}
