//! The source table: every source of the collector, declared once.
//!
//! Adding a source used to mean keeping a dozen lists in step by hand (an enum, its
//! names, the struct fields, open and run calls, the parser lists of the never-panic test
//! and of the fuzz target, the sections of `docs/METRICS.md`). Now each source is one
//! entry here, and [`source_table!`] hands the whole table to a macro that generates
//! one of those lists from it:
//!
//! - `parse` (`no_std`): `pub mod <format>;` for every entry, and
//!   [`crate::parse::exercise`], which runs every format's parsers over some bytes (the
//!   never-panic test and the `proc_parsers` fuzz target call it);
//! - `source` (`std`): the `SourceKind` enum in this order (collection order), its
//!   names (`disable = …`, the `source` label, logs, `--check`), opening and re-discovering
//!   each reader, and the `docs/METRICS.md` sections (`source::METRIC_GROUPS`).
//!
//! An entry:
//!
//! ```text
//! /// Doc of the `SourceKind` variant.
//! Kind "name" {
//!     format: module,         // collector/src/parse/<module>.rs: parsers, `exercise`
//!     reader: Type,           // a `source::Source` (`OneFile<…>` for a one-file format,
//!                             // `Files<…>` for a `parse::FileList` of a few)
//!     module: module,         // optional: collector/src/source/<module>.rs holds Type
//!     docs: [("Section title", "where the values come from", ["prom_name_prefix", …])],
//! }
//! ```
//!
//! `docs` lists the `docs/METRICS.md` sections of the source; every catalog family must
//! start with exactly one section's prefix (`xtask/src/metrics_doc.rs` checks).
//! CONTRIBUTING.md walks through adding an entry.

/// Calls `$then! { <the table> }`; see the module docs for the entry syntax.
macro_rules! source_table {
    ($then:ident) => {
        $then! {
            /// `/proc/stat`: CPU times per CPU, context switches, interrupts, forks,
            /// processes running and blocked, boot time.
            Stat "stat" {
                format: stat,
                reader: OneFile<crate::parse::stat::ProcStat>,
                docs: [
                    ("CPU",
                     "`/proc/stat`, the `cpuN` lines (label `cpu` = CPU number, `\"0\"`), and the `cpu` line (all CPUs together: Telegraf's `cpu-total`) and the number of `cpuN` lines; jiffies divided by the node's USER_HZ (sent in every frame header).",
                     ["node_cpu_seconds_total", "node_cpu_guest_seconds_total", "pimon_cpu_total_seconds_total", "pimon_cpus_online"]),
                    ("Kernel and processes",
                     "`/proc/stat`, the whole-system lines (`ctxt`, `intr`, `processes`, `procs_running`, `procs_blocked`, `btime`).",
                     ["node_context_switches_total", "node_intr_total", "node_forks_total", "node_procs_", "node_boot_time_seconds"]),
                ],
            }
            /// `/proc/loadavg`.
            Loadavg "loadavg" {
                format: loadavg,
                reader: OneFile<crate::parse::loadavg::ProcLoadavg>,
                docs: [
                    ("Load", "`/proc/loadavg` (hundredths on the wire).", ["node_load"]),
                ],
            }
            /// `/proc/uptime`.
            Uptime "uptime" {
                format: uptime,
                reader: OneFile<crate::parse::uptime::ProcUptime>,
                docs: [
                    ("Uptime", "`/proc/uptime` (hundredths of a second on the wire).", ["pimon_uptime_seconds"]),
                ],
            }
            /// `/proc/meminfo`.
            Meminfo "meminfo" {
                format: meminfo,
                reader: meminfo::MeminfoReader,
                module: meminfo,
                docs: [
                    ("Memory",
                     "`/proc/meminfo`, in the kernel's order; only the keys the kernel writes are sent. Telegraf's `mem.cached` is Cached + SReclaimable, so `Cached` goes to `pimon_meminfo`. Every key without a row of its own (`Balloon`, a newer kernel's field) is sent too, as node_exporter names it: see [Meminfo keys without a row](#meminfo-keys-without-a-row).",
                     ["node_memory_"]),
                ],
            }
            /// `/proc/pressure/*` (PSI).
            Pressure "pressure" {
                format: pressure,
                reader: pressure::PressureReader,
                module: pressure,
                docs: [
                    ("Pressure (PSI)",
                     "`/proc/pressure/{cpu,memory,io}`, the `total=` microseconds of the `some` and `full` lines. node_exporter has no name for CPU's `full` line: it is `pimon_pressure_cpu_stalled_seconds_total`.",
                     ["node_pressure_cpu_", "node_pressure_memory_", "node_pressure_io_", "pimon_pressure_"]),
                    ("IRQ pressure",
                     "`/proc/pressure/irq` (6.1+ with `CONFIG_IRQ_TIME_ACCOUNTING`): only a `full` line, the `total=` microseconds; not sent where the file is absent.",
                     ["node_pressure_irq_"]),
                ],
            }
            /// Raspberry Pi firmware `get_throttled`.
            Throttled "throttled" {
                format: throttled,
                reader: OneFile<crate::parse::throttled::GetThrottled>,
                docs: [
                    ("Raspberry Pi throttling",
                     "`/sys/devices/platform/soc/soc:firmware/get_throttled` (the firmware's `vcgencmd get_throttled` mask): one 0/1 gauge per flag, and the raw mask.",
                     ["pimon_rpi_"]),
                ],
            }
            /// cpufreq.
            Cpufreq "cpufreq" {
                format: cpufreq,
                reader: cpufreq::CpufreqReader,
                module: cpufreq,
                docs: [
                    ("cpufreq",
                     "`/sys/devices/system/cpu/cpu*/cpufreq/scaling_{cur,min,max}_freq` (label `cpu`), in kHz. node_exporter 1.5 exports no scaling governor (1.6 added `node_cpu_scaling_governor`), and its `node_cpu_info` is opt-in (`--collector.cpu.info`): neither is sent.",
                     ["node_cpu_scaling_frequency"]),
                    ("CPU frequency, hardware (cpufreq)",
                     "`/sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_{cur,min,max}_freq` (label `cpu`), in kHz, read with the scaling files above. `cpuinfo_cur_freq` is readable by root only on most drivers (the Pi's too): a collector running as another user does not send `node_cpu_frequency_hertz`, as node_exporter does not.",
                     ["node_cpu_frequency"]),
                ],
            }
            /// `/proc/net/dev`.
            Netdev "netdev" {
                format: netdev,
                reader: netdev::NetDevReader,
                module: netdev,
                docs: [
                    ("Network",
                     "`/proc/net/dev`, one row per interface (label `device`), in the file's column order.",
                     ["node_network_receive_bytes", "node_network_receive_packets",
                      "node_network_receive_errs", "node_network_receive_drop",
                      "node_network_receive_fifo", "node_network_receive_frame",
                      "node_network_receive_compressed", "node_network_receive_multicast",
                      "node_network_transmit_bytes", "node_network_transmit_packets",
                      "node_network_transmit_errs", "node_network_transmit_drop",
                      "node_network_transmit_fifo", "node_network_transmit_colls",
                      "node_network_transmit_carrier", "node_network_transmit_compressed"]),
                ],
            }
            /// `/proc/diskstats`.
            Diskstats "diskstats" {
                format: diskstats,
                reader: diskstats::DiskstatsReader,
                module: diskstats,
                docs: [
                    ("Disk",
                     "`/proc/diskstats`, one row per block device (label `device`); sectors are 512 bytes, times milliseconds.",
                     ["node_disk_"]),
                ],
            }
            /// Mounts and `statvfs`.
            Filesystem "filesystem" {
                format: mounts,
                reader: filesystem::FilesystemReader,
                module: filesystem,
                docs: [
                    ("Filesystem",
                     "`statvfs(2)` of each mount in `/proc/1/mounts` (`/proc/self/mounts` when that is hidden) (labels `device` = mount source, `fstype`, `mountpoint`); already in bytes and inodes.",
                     ["node_filesystem_"]),
                ],
            }
            /// Thermal zones.
            Thermal "thermal" {
                format: thermal,
                reader: thermal::ThermalReader,
                module: thermal,
                docs: [
                    ("Thermal zones",
                     "`/sys/class/thermal/thermal_zone*/temp` (labels `zone` = zone number, `type` = the zone's `type` file, e.g. `cpu-thermal`).",
                     ["node_thermal_zone_"]),
                    ("Cooling devices",
                     "`/sys/class/thermal/cooling_device*/{cur_state,max_state}` (labels `name` = the device number, `type` = its `type` file, e.g. `gpio-fan`, `Processor`).",
                     ["node_cooling_device_"]),
                ],
            }
            /// hwmon.
            Hwmon "hwmon" {
                format: hwmon,
                reader: hwmon::HwmonReader,
                module: hwmon,
                docs: [
                    ("hwmon",
                     "`/sys/class/hwmon/hwmon*/` input files (labels `chip` and `sensor`, derived as node_exporter derives them). `pimon_temp_celsius` repeats each `temp*_input` under Telegraf's name for it (label `sensor` = the chip's `name` file, then `_` and its lower-cased label, spaces as `_`); on a node without hwmon temperatures the thermal zones are sent that way (`sensor` = the zone's type), as Telegraf's `temp` input falls back to them.",
                     ["node_hwmon_temp_celsius", "node_hwmon_temp_max_celsius",
                      "node_hwmon_temp_crit_celsius", "node_hwmon_in_volts",
                      "node_hwmon_in_lcrit_alarm_volts", "node_hwmon_fan_rpm",
                      "node_hwmon_curr_amps", "node_hwmon_power_", "pimon_temp_"]),
                    ("hwmon limits, alarms and names",
                     "the other `/sys/class/hwmon/hwmon*/` files of the sensors above (`temp1_crit_hyst`, `temp1_crit_alarm`, `in0_min`, `fan1_target`, …; labels `chip` and `sensor`), named, scaled and typed as node_exporter does: a `*_alarm` limit flag keeps its sensor's unit and scale (`in0_lcrit_alarm` = 1 is `0.001` volts), `alarm` is a plain 0/1. The files node_exporter reads that the catalog has no row for (`pwm1`, `fan1_pulses`, `temp1_type`, …) are not sent. `node_hwmon_chip_names` (value 1) carries the chip's cleaned `name` file as `chip_name`, `node_hwmon_sensor_label` (value 1) each sensor's `*_label` file as `label`.",
                     ["node_hwmon_temp_min", "node_hwmon_temp_max_hyst", "node_hwmon_temp_crit_hyst",
                      "node_hwmon_temp_max_alarm", "node_hwmon_temp_crit_alarm",
                      "node_hwmon_temp_alarm", "node_hwmon_in_min", "node_hwmon_in_max",
                      "node_hwmon_in_alarm", "node_hwmon_fan_min", "node_hwmon_fan_max",
                      "node_hwmon_fan_target", "node_hwmon_fan_alarm", "node_hwmon_chip_names",
                      "node_hwmon_sensor_label"]),
                ],
            }
            /// 1-wire DS18B20.
            W1 "w1" {
                format: w1,
                reader: w1::W1Reader,
                module: w1,
                docs: [
                    ("1-wire",
                     "`/sys/bus/w1/devices/28-*/temperature` (or `w1_slave`), DS18B20 sensors (label `sensor` = the device id), read by a background thread; the last good reading and its age, while younger than `stale_after` (60 s).",
                     ["pimon_w1_"]),
                ],
            }
            /// cgroups: systemd services, Kubernetes pods and containers, Docker and
            /// Podman containers.
            Cgroup "cgroup" {
                format: cgroup,
                reader: cgroup::CgroupReader,
                module: cgroup,
                docs: [
                    ("cgroups: services, containers, pods",
                     "cgroup v2 (`/sys/fs/cgroup`; on a hybrid host the unified tree, with memory, pids, blkio and CPU throttling from the v1 controllers) of every systemd service (`system.slice`), Kubernetes pod and container (`kubepods`, cgroupfs and systemd drivers), Docker and Podman container: `cpu.stat`, `memory.current`/`memory.stat`/`memory.swap.current`/`memory.max`/`memory.events`, `io.stat` summed over devices, `pids.current`, `{cpu,memory,io}.pressure`. cAdvisor's names; one row per kind of workload with the labels that have a value for it (`namespace`, `pod` and `container` from the names in `/var/log/pods` and `/var/log/containers`, `name` from the runtime's state, `id` = the cgroup path). Working set = `memory.current` − `inactive_file` (cAdvisor, `kubectl top`). Deviations from cAdvisor and Telegraf: see [cgroups](#cgroups-and-cadvisor) below.",
                     ["container_", "pimon_cgroup_"]),
                ],
            }
            /// IIO sensors.
            Iio "iio" {
                format: iio,
                reader: iio::IioReader,
                module: iio,
                docs: [
                    ("IIO",
                     "`/sys/bus/iio/devices/iio:device*/in_{temp,humidityrelative,pressure}*` (labels `device` = `iio:deviceN`, `name` = the driver, e.g. `bme280`), in the kernel's IIO units.",
                     ["pimon_iio_"]),
                ],
            }
            /// The kernel log: events counted by rule.
            Kmsg "kmsg" {
                format: kmsg,
                reader: kmsg::KmsgReader,
                module: kmsg,
                docs: [
                    ("Kernel log",
                     "`/dev/kmsg`, read from where the last cycle stopped (a fresh start reads the kernel's whole ring: counts are since boot). Each record is counted by the first rule that matches it: the config file's `[kmsg]` rules, then the built-in ones (table below); `pimon_kernel_log_missed_records_total` counts records the kernel overwrote before they were read.",
                     ["pimon_kernel_"]),
                ],
            }
            /// `/proc/sys/fs/file-nr`: file handles allocated and the maximum.
            Filefd "filefd" {
                format: filefd,
                reader: OneFile<crate::parse::filefd::FileNr>,
                docs: [
                    ("File handles",
                     "`/proc/sys/fs/file-nr`: allocated file handles and `fs.file-max`.",
                     ["node_filefd_"]),
                ],
            }
            /// The process scan (`/proc/[pid]/stat`).
            Processes "processes" {
                format: processes,
                reader: processes::ProcessesReader,
                module: processes,
                docs: [
                    ("Processes",
                     "a scan of `/proc/[pid]/stat` (and `/proc/[pid]/task/[tid]/stat` for the threads' states), `/proc/sys/kernel/pid_max` and `threads-max`: node_exporter's opt-in `processes` collector, and Telegraf's `processes` input. A state letter no process is in is not sent (as node_exporter); InfluxDB gets every Telegraf field, 0 for those (docs/INFLUXDB.md). The scan runs about once a minute by default (`[filters] processes_every`, docs/CONFIG.md: it is the collector's most expensive family) and the cycles between send the last scan's values again: every cycle carries the family, so it never goes stale on the aggregator, and its values are up to a minute old.",
                     ["node_processes_"]),
                ],
            }
            /// Logged-in users (`/run/utmp`).
            Users "users" {
                format: utmp,
                reader: OneFile<crate::parse::utmp::Utmp>,
                docs: [
                    ("Users",
                     "`/var/run/utmp`: the `USER_PROCESS` records (sessions) and their distinct user names, as Telegraf's `system` input counts them (`n_users`, `n_unique_users`).",
                     ["pimon_users_"]),
                ],
            }
            /// `/proc/net/{netstat,snmp,snmp6}`: protocol counters.
            Netstat "netstat" {
                format: netstat,
                reader: netstat::NetstatReader,
                module: netstat,
                docs: [
                    ("Protocol counters (netstat)",
                     "`/proc/net/netstat`, `/proc/net/snmp` and `/proc/net/snmp6` (when IPv6 is on), each value found by the name in its header line: the fields node_exporter's default `--collector.netstat.fields` keeps (and those of the next section). Each has a catalog row; the others are not sent. Untyped, as in node_exporter; Telegraf's `nstat` fields (tag `name` = the file), and the `/proc/net/snmp` ones again as Telegraf's `net` fields with `interface=all` (`tcp_activeopens`), written by the aggregator from the same values.",
                     ["node_netstat_"]),
                    ("Protocol counters for Telegraf's dashboard (netstat)",
                     "The same files' fields that Telegraf's system dashboard reads beyond node_exporter's default filter: `TcpExt_TCPAbort*`, `Icmp_*Echo*`, the `Ip_`/`Ip6_` error counters and `Tcp_EstabResets` (node_exporter's names with a widened `--collector.netstat.fields`), sent with the rows above and written the same ways.",
                     ["node_netstat_TcpExt_TCPAbort", "node_netstat_Icmp_InEcho", "node_netstat_Icmp_OutEcho",
                      "node_netstat_Tcp_EstabResets",
                      "node_netstat_Ip_InHdrErrors", "node_netstat_Ip_InAddrErrors", "node_netstat_Ip_InUnknownProtos",
                      "node_netstat_Ip_InDiscards", "node_netstat_Ip_OutDiscards", "node_netstat_Ip_OutNoRoutes",
                      "node_netstat_Ip6_InHdrErrors", "node_netstat_Ip6_InAddrErrors", "node_netstat_Ip6_InUnknownProtos",
                      "node_netstat_Ip6_InDiscards", "node_netstat_Ip6_OutDiscards", "node_netstat_Ip6_OutNoRoutes"]),
                ],
            }
            /// `/proc/net/sockstat{,6}`: sockets in use.
            Sockstat "sockstat" {
                format: sockstat,
                reader: Files<crate::parse::sockstat::SockstatFiles>,
                docs: [
                    ("Sockets",
                     "`/proc/net/sockstat` and `/proc/net/sockstat6` (when IPv6 is on); `mem` is in pages, `mem_bytes` is mem × the node's page size, as node_exporter computes it.",
                     ["node_sockstat_"]),
                ],
            }
            /// `/proc/vmstat`.
            Vmstat "vmstat" {
                format: vmstat,
                reader: OneFile<crate::parse::vmstat::ProcVmstat>,
                docs: [
                    ("Virtual memory (vmstat)",
                     "`/proc/vmstat`: the fields node_exporter's default `--collector.vmstat.fields` (`^(oom_kill|pgpg|pswp|pg.*fault).*`) keeps. Untyped, as in node_exporter; Telegraf's `kernel_vmstat` fields.",
                     ["node_vmstat_"]),
                ],
            }
            /// `/proc/net/softnet_stat`: per-CPU packet processing.
            Softnet "softnet" {
                format: softnet,
                reader: OneFile<crate::parse::softnet::SoftnetStat>,
                docs: [
                    ("Softnet",
                     "`/proc/net/softnet_stat`, one line per online CPU (label `cpu`: column 13 on 5.14+, else the line's number); columns the kernel does not write yet read 0, as in node_exporter.",
                     ["node_softnet_"]),
                ],
            }
            /// Connection tracking (`nf_conntrack`).
            Conntrack "conntrack" {
                format: conntrack,
                reader: Files<crate::parse::conntrack::ConntrackFiles>,
                docs: [
                    ("Connection tracking",
                     "`/proc/sys/net/netfilter/nf_conntrack_{count,max}`; absent while the `nf_conntrack` module is not loaded. node_exporter's `node_nf_conntrack_stat_*` (sums of `/proc/net/stat/nf_conntrack`) are not sent, for the Pi Zero build's size.",
                     ["node_nf_conntrack_"]),
                ],
            }
            /// `/sys/class/net/<device>/`: node_exporter's netclass families.
            Netclass "netclass" {
                format: netclass,
                reader: netclass::NetclassReader,
                module: netclass,
                docs: [
                    ("Network devices (sysfs)",
                     "`/sys/class/net/<device>/` attribute files (label `device`; node_exporter's `netclass` collector), filtered by the netdev source's device lists; an attribute that does not read (`carrier`, `speed`, `duplex` of a device that is down: `EINVAL`) is not sent, as by node_exporter. `node_network_up` is `operstate` = `up`; `node_network_info` has the text attributes as labels and `adminstate` from `flags`. `node_network_receive_nohandler_total` is `statistics/rx_nohandler` (node_exporter reads it over rtnetlink in its netdev collector). Devices are discovered again every `rediscover`. Four attributes are read every cycle: `flags`, `operstate` and the counters `carrier_changes` and `rx_nohandler`. The rest is read at discovery, at every rediscovery and in a cycle where the device's `flags`, `carrier_changes` or `operstate` changed, and its last value is sent every cycle: what follows the link (`carrier`, `carrier_up_count`, `carrier_down_count`, `dormant`, `speed`, `duplex`) changes only when the carrier goes down or up, which `carrier_changes` counts (a renegotiated speed drops the carrier first), or with `operstate`; what only an administrator changes, or nothing while the device exists (`address`, `broadcast`, `ifalias`, `addr_assign_type`, `dev_id`, `ifindex`, `iflink`, `link_mode`, `mtu`, `name_assign_type`, `netdev_group`, `tx_queue_len`, `type`), changes with `flags` (setting an address takes the device down on most drivers) or not at all. That saves 19 of a device's 23 sysfs reads a cycle (each one runs kernel code; `speed` and `duplex` go to the driver under the RTNL lock). What changes without any of the three (an MTU or alias set with the link untouched, a bond's speed when a member joins) shows within `rediscover` (default 60 s); node_exporter shows it at the next scrape.",
                     ["node_network_up", "node_network_info", "node_network_address_assign_type",
                      "node_network_carrier", "node_network_device_id", "node_network_dormant",
                      "node_network_flags", "node_network_iface_", "node_network_mtu_",
                      "node_network_name_assign_type", "node_network_net_dev_group",
                      "node_network_speed_", "node_network_transmit_queue_length",
                      "node_network_protocol_type", "node_network_receive_nohandler"]),
                ],
            }
            /// `uname(2)`'s strings from `/proc/sys/kernel` (`node_uname_info`).
            Uname "uname" {
                format: uname,
                reader: uname::UnameReader,
                module: uname,
                docs: [
                    ("uname",
                     "`/proc/sys/kernel/{ostype,osrelease,version,arch,hostname,domainname}`, every cycle: the strings `uname(2)` returns (node_exporter calls it), as labels of a 1. Without `arch` (kernels before 6.0) the machine is `uname(2)`'s. When those files are a procfs's (the live system, a container's `/host/proc`: a UTS sysctl shows the reader's namespace either way), one `uname(2)` call a cycle reads the same strings instead of the six files.",
                     ["node_uname_"]),
                ],
            }
            /// `os-release(5)` (`node_os_info`, `node_os_version`).
            Os "os" {
                format: os_release,
                reader: os_release::OsReleaseReader,
                module: os_release,
                docs: [
                    ("OS release",
                     "`/etc/os-release`, else `/usr/lib/os-release`, read at discovery (again every `rediscover`), quoting as node_exporter's parser (go-envparse) reads it; `node_os_version` is `VERSION_ID`'s leading `major.minor`, not sent when it has none.",
                     ["node_os_"]),
                ],
            }
            /// The kernel's entropy pool.
            Entropy "entropy" {
                format: entropy,
                reader: Files<crate::parse::entropy::EntropyFiles>,
                docs: [
                    ("Entropy",
                     "`/proc/sys/kernel/random/{entropy_avail,poolsize}` (both 256 since Linux 5.18).",
                     ["node_entropy_"]),
                ],
            }
            /// The node's clock and time zone.
            Time "time" {
                format: time,
                reader: time::TimeReader,
                module: time,
                docs: [
                    ("Time",
                     "the node's wall clock when the cycle reads its sources (milliseconds on the wire), and the zone `etc/localtime` (TZif, read at discovery and every `rediscover`; a link to `/usr/share/zoneinfo/…` followed under the root) gives for that time: abbreviation and offset, as Go's `time.Now().Zone()` in node_exporter; `UTC` 0 without the file.",
                     ["node_time_"]),
                ],
            }
            /// The kernel's clock discipline (`adjtimex(2)`).
            Timex "timex" {
                format: timex,
                reader: timex::TimexReader,
                module: timex,
                docs: [
                    ("Time synchronisation",
                     "`adjtimex(2)` (read-only), every cycle: the kernel clock discipline that NTP (chrony, systemd-timesyncd, ntpd) steers, as node_exporter's `timex` collector exports it. A system call, not a file: under `--root` it reads the running kernel's clock. `offset` and `jitter` are sent in nanoseconds whatever the kernel's `STA_NANO` bit, the frequency adjustment as node_exporter's ratio (a float); `node_timex_sync_status` is 1 unless the call returns `TIME_ERROR`.",
                     ["node_timex_"]),
                ],
            }
            /// `/proc/interrupts`: counts per IRQ and CPU. Opt-in (`enable = interrupts`).
            Interrupts "interrupts" {
                format: interrupts,
                reader: OneFile<crate::parse::interrupts::ProcInterrupts>,
                docs: [
                    ("Interrupts",
                     "`/proc/interrupts`, only with `[filters] enable = interrupts` (opt-in, as node_exporter's `--collector.interrupts`: a Pi 4 has some 30 IRQ lines × 4 CPUs, each line a label set of three strings): node_exporter's `interrupts` collector, labels `type` (the IRQ: `11`, `IPI2`, `NMI`), `info` and `devices` split as node_exporter splits them, and `cpu`; lines with a single count (`Err:`, `ERR:`, `MIS:`) are skipped as node_exporter skips them (Telegraf writes them), and CPUs past the eighth are not sent. InfluxDB gets Telegraf's `interrupts` input: tags `irq`, `type`, `device`, fields `CPU0`…`CPUn` and `total` (their sum, by the aggregator). `/proc/softirqs` (Telegraf's `soft_interrupts`) is not read.",
                     ["node_interrupts_"]),
                ],
            }
            /// `/proc/schedstat`: per-CPU run-queue time and timeslices.
            Schedstat "schedstat" {
                format: schedstat,
                reader: OneFile<crate::parse::schedstat::ProcSchedstat>,
                docs: [
                    ("Scheduler (schedstat)",
                     "`/proc/schedstat` (kernels with `CONFIG_SCHEDSTATS`), the `cpuN` lines (label `cpu`): nanoseconds running tasks and waiting on the run queue, and timeslices, as node_exporter's `schedstat` collector exports them.",
                     ["node_schedstat_"]),
                ],
            }
            /// `/proc/net/arp`: neighbour entries per device.
            Arp "arp" {
                format: arp,
                reader: OneFile<crate::parse::arp::ProcNetArp>,
                docs: [
                    ("ARP",
                     "`/proc/net/arp`: the entries of each device (label `device`), incomplete ones included, as node_exporter 1.5's `arp` collector counts them (it has no other family). At most 64 devices are counted (the entries of more are counted failures), and the file must fit the collector's 64 KiB read buffer (about 800 entries; a bigger table is a counted failure, nothing sent).",
                     ["node_arp_"]),
                ],
            }
            /// `/proc/net/udp{,6}`: bytes queued on UDP sockets.
            UdpQueues "udp_queues" {
                format: udp_queues,
                reader: udp_queues::UdpQueuesReader,
                module: udp_queues,
                docs: [
                    ("UDP queues",
                     "`/proc/net/udp` and `/proc/net/udp6` (when IPv6 is on): the `tx_queue` and `rx_queue` columns summed over every socket (labels `ip` = `v4`/`v6`, `queue` = `tx`/`rx`), as node_exporter's `udp_queues` collector does; each file is streamed through the read buffer, so any number of sockets fits. A line that does not parse is a counted failure and is left out of the sums (node_exporter fails the scrape).",
                     ["node_udp_"]),
                ],
            }
            /// `/sys/class/power_supply`: batteries, mains, USB, UPS.
            PowerSupply "powersupply" {
                format: power_supply,
                reader: power_supply::PowerSupplyReader,
                module: power_supply,
                docs: [
                    ("Power supplies",
                     "`/sys/class/power_supply/<supply>/` (label `power_supply`), node_exporter 1.5's `powersupplyclass` collector: each integer attribute file the supply has, as a gauge (µV, µA, µW, µWh, µAh ÷ 10⁶; tenths of a degree ÷ 10; some renamed as node_exporter names them: `voltage_now` → `voltage_volt`, `current_now` → `current_ampere`, `power_now` → `power_watt`, `energy_now` → `energy_watthour`, `charge_now` → `charge_ampere`, `cycle_count` → `cyclecount`, `time_to_*_now` → `time_to_*_seconds`), and `node_power_supply_info` (value 1) with the text files as labels; node_exporter leaves out the label of a missing or empty file, pimon sends it empty (the same series in Prometheus). A Raspberry Pi has no supply: the source is absent there. Supplies are discovered again every `rediscover`.",
                     ["node_power_supply_"]),
                ],
            }
        }
    };
}
