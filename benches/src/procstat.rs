//! CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`;
//! a UDP socket's kernel drops, from `/proc/net/udp`.

use std::fs;

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and
    // 13th of those (fields 14 and 15 of the whole line).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture pimon runs on (x86, ARM).
    Some((utime + stime) / 100.0)
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(field)?.strip_prefix(':')?;
        v.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Datagrams the kernel dropped at the IPv4 UDP socket bound to local `port` (the last
/// column of `/proc/net/udp`), summed over the sockets bound to it.
pub fn udp_drops(port: u16) -> Option<u64> {
    let table = fs::read_to_string("/proc/net/udp").ok()?;
    parse_udp_drops(&table, port)
}

fn parse_udp_drops(table: &str, port: u16) -> Option<u64> {
    let want = format!(":{port:04X}");
    let mut found = None;
    for line in table.lines().skip(1) {
        let mut fields = line.split_whitespace();
        // `sl`, then `local_address` (hex address:port); `drops` is the last column.
        if fields.nth(1).is_some_and(|local| local.ends_with(&want))
            && let Some(d) = fields.last().and_then(|d| d.parse::<u64>().ok())
        {
            found = Some(found.unwrap_or(0) + d);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_are_read_from_the_socket_of_the_port() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
   12: 0100007F:9859 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
   13: 0100007F:985A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 5\n";
        assert_eq!(super::parse_udp_drops(table, 0x9859), Some(17));
        assert_eq!(super::parse_udp_drops(table, 0x985A), Some(5));
        assert_eq!(super::parse_udp_drops(table, 80), None);
    }
}
