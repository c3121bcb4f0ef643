//! hwmon: `/sys/class/hwmon/hwmonN/` — `name`, `<type><index>_<item>` value files
//! (`temp1_input`, `in0_lcrit_alarm`, `fan2_input`) and `<type><index>_label`.
//!
//! Values are integers in the sysfs units (millidegrees, millivolts, milliamps, RPM,
//! microwatts). The chip label follows node_exporter: from the `device` link's last two
//! path components (`platform/coretemp.0` → `platform_coretemp_0`), else the `name`
//! file, cleaned to `[a-z0-9:_]` by [`clean_name`].

use super::{ParseError, parse_int_value, parse_text_value, parse_u64, thermal::dir_number};

/// Parses a value file (`temp1_input`, `in0_lcrit_alarm`, …).
pub fn parse_hwmon_value(input: &[u8]) -> Result<i64, ParseError> {
    parse_int_value(input)
}

/// Parses `name` or a `*_label` file.
pub fn parse_hwmon_text(input: &[u8]) -> Result<&str, ParseError> {
    parse_text_value(input)
}

/// The number of a `hwmonN` directory name.
pub fn parse_hwmon_dir_name(name: &[u8]) -> Option<u32> {
    dir_number(name, b"hwmon")
}

/// Whether `kind` is one of the sensor types node_exporter reads (`temp`, `in`, `fan`,
/// …): their `*_label` files become `node_hwmon_sensor_label`.
pub fn is_sensor_type(kind: &str) -> bool {
    matches!(
        kind,
        "in" | "cpu" | "fan" | "pwm" | "temp" | "curr" | "power" | "energy" | "humidity"
            | "intrusion" | "freq"
    )
}

/// A sensor file name split into its parts: `temp1_input` → type `temp`, index 1,
/// item `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorFile<'a> {
    /// Sensor type: `temp`, `in`, `fan`, `curr`, `power`, `humidity`, …
    pub kind: &'a str,
    /// Sensor index (`1` in `temp1_input`).
    pub index: u32,
    /// What the file holds: `input`, `max`, `crit`, `label`, `lcrit_alarm`, …
    pub item: &'a str,
}

impl SensorFile<'_> {
    /// node_exporter's `sensor` label: type and index (`temp1`, `in0`).
    pub fn sensor<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, ParseError> {
        let mut digits = [0u8; 10];
        let mut n = self.index;
        let mut len = 0;
        loop {
            let slot = digits.get_mut(len).ok_or(ParseError::Overflow)?;
            *slot = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let kind = self.kind.as_bytes();
        let total = kind.len() + len;
        let out = buf.get_mut(..total).ok_or(ParseError::BufferTooSmall)?;
        let (head, tail) = out.split_at_mut(kind.len());
        head.copy_from_slice(kind);
        for (dst, src) in tail.iter_mut().zip(digits.iter().take(len).rev()) {
            *dst = *src;
        }
        core::str::from_utf8(out).map_err(|_| ParseError::InvalidUtf8)
    }
}

/// Splits a hwmon file name `<letters><digits>_<item>`; `None` for other files
/// (`name`, `uevent`, `device`).
pub fn parse_sensor_file_name(name: &str) -> Option<SensorFile<'_>> {
    let kind_len = name.bytes().take_while(u8::is_ascii_lowercase).count();
    let rest = name.get(kind_len..)?;
    let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if kind_len == 0 || digits_len == 0 {
        return None;
    }
    let index = u32::try_from(parse_u64(rest.get(..digits_len)?.as_bytes()).ok()?).ok()?;
    let item = rest.get(digits_len..)?.strip_prefix('_')?;
    if item.is_empty() {
        return None;
    }
    Some(SensorFile {
        kind: name.get(..kind_len)?,
        index,
        item,
    })
}

/// node_exporter's `cleanMetricName`: lower case, every byte outside `[a-z0-9:_]`
/// replaced by `_`, leading and trailing `_` trimmed. Writes into `buf`.
pub fn clean_name<'b>(raw: &[u8], buf: &'b mut [u8]) -> Result<&'b str, ParseError> {
    let mut len = 0usize;
    for &b in raw.trim_ascii() {
        let c = b.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == b':' || c == b'_' {
            c
        } else {
            b'_'
        };
        *buf.get_mut(len).ok_or(ParseError::BufferTooSmall)? = c;
        len += 1;
    }
    let cleaned = buf.get(..len).unwrap_or_default();
    let start = cleaned.iter().position(|&b| b != b'_').unwrap_or(len);
    let end = cleaned
        .iter()
        .rposition(|&b| b != b'_')
        .map_or(start, |p| p + 1);
    core::str::from_utf8(cleaned.get(start..end).unwrap_or_default())
        .map_err(|_| ParseError::InvalidUtf8)
}

/// node_exporter's chip label from the resolved `device` path's last two components
/// (`dev_type`, `dev_name`): `clean(type)_clean(name)`, or `clean(name)` alone when the
/// type cleans to nothing; `Ok("")` when the name cleans to nothing (use the `name`
/// file then).
pub fn chip_name<'b>(
    dev_type: &[u8],
    dev_name: &[u8],
    buf: &'b mut [u8],
) -> Result<&'b str, ParseError> {
    let mut type_buf = [0u8; 128];
    let mut name_buf = [0u8; 128];
    let ty = clean_name(dev_type, &mut type_buf)?.as_bytes();
    let name = clean_name(dev_name, &mut name_buf)?.as_bytes();
    let parts: [&[u8]; 3] = match (ty.is_empty(), name.is_empty()) {
        (_, true) => [b"", b"", b""],
        (true, false) => [name, b"", b""],
        (false, false) => [ty, b"_", name],
    };
    let mut len = 0usize;
    for part in parts {
        let end = len
            .checked_add(part.len())
            .ok_or(ParseError::BufferTooSmall)?;
        buf.get_mut(len..end)
            .ok_or(ParseError::BufferTooSmall)?
            .copy_from_slice(part);
        len = end;
    }
    core::str::from_utf8(buf.get(..len).unwrap_or_default()).map_err(|_| ParseError::InvalidUtf8)
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_hwmon_value(input);
    let _ = parse_hwmon_text(input);
    let _ = parse_hwmon_dir_name(input);
    let mut buf = [0u8; 64];
    let _ = clean_name(input, &mut buf);
    let (dev_type, dev_name) = input.split_at(input.len() / 2);
    let _ = chip_name(dev_type, dev_name, &mut buf);
    if let Ok(text) = core::str::from_utf8(input)
        && let Some(file) = parse_sensor_file_name(text)
    {
        let _ = file.sensor(&mut buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_hwmon_text(fixture!("pi4/sys/class/hwmon/hwmon0/name")),
            Ok("rpi_volt")
        );
        assert_eq!(
            parse_hwmon_value(fixture!("pi4/sys/class/hwmon/hwmon0/in0_lcrit_alarm")),
            Ok(0)
        );
        assert_eq!(
            parse_hwmon_value(fixture!("pizero/sys/class/hwmon/hwmon0/in0_lcrit_alarm")),
            Ok(1)
        );
        assert_eq!(
            parse_hwmon_value(fixture!("pi4/sys/class/hwmon/hwmon1/temp1_input")),
            Ok(45277)
        );
        assert_eq!(
            parse_hwmon_text(fixture!("x86/sys/class/hwmon/hwmon2/temp1_label")),
            Ok("Package id 0")
        );
    }

    #[test]
    fn sensor_file_names() {
        let f = parse_sensor_file_name("temp1_input").unwrap();
        assert_eq!((f.kind, f.index, f.item), ("temp", 1, "input"));
        let mut buf = [0u8; 16];
        assert_eq!(f.sensor(&mut buf), Ok("temp1"));
        let f = parse_sensor_file_name("in0_lcrit_alarm").unwrap();
        assert_eq!((f.kind, f.index, f.item), ("in", 0, "lcrit_alarm"));
        assert_eq!(f.sensor(&mut buf), Ok("in0"));
        let f = parse_sensor_file_name("fan12_input").unwrap();
        assert_eq!(f.sensor(&mut buf), Ok("fan12"));
        assert_eq!(f.sensor(&mut [0u8; 4]), Err(ParseError::BufferTooSmall));
        assert_eq!(parse_sensor_file_name("name"), None);
        assert_eq!(parse_sensor_file_name("temp_input"), None);
        assert_eq!(parse_sensor_file_name("temp1"), None);
        assert_eq!(parse_sensor_file_name("temp1_"), None);
        assert_eq!(parse_sensor_file_name("1_input"), None);
        assert_eq!(parse_sensor_file_name("temp99999999999_input"), None);
    }

    #[test]
    fn chip_names_like_node_exporter() {
        let mut buf = [0u8; 64];
        assert_eq!(
            chip_name(b"platform", b"coretemp.0", &mut buf),
            Ok("platform_coretemp_0")
        );
        assert_eq!(chip_name(b"nvme", b"nvme0", &mut buf), Ok("nvme_nvme0"));
        assert_eq!(
            chip_name(b"soc:firmware", b"raspberrypi-hwmon", &mut buf),
            Ok("soc:firmware_raspberrypi_hwmon")
        );
        assert_eq!(
            chip_name(b"LNXSYBUS:01", b"LNXTHERM:00", &mut buf),
            Ok("lnxsybus:01_lnxtherm:00")
        );
        assert_eq!(chip_name(b"--", b"x", &mut buf), Ok("x"));
        assert_eq!(chip_name(b"a", b"..", &mut buf), Ok(""));
        assert_eq!(
            chip_name(b"platform", b"coretemp.0", &mut [0u8; 8]),
            Err(ParseError::BufferTooSmall)
        );
        assert_eq!(clean_name(b"cpu_thermal\n", &mut buf), Ok("cpu_thermal"));
        // Class devices: the class is the type (a Wi-Fi PHY's chip, a thermal zone's).
        assert_eq!(
            chip_name(b"ieee80211", b"phy0", &mut buf),
            Ok("ieee80211_phy0")
        );
        assert_eq!(
            chip_name(b"thermal", b"thermal_zone0", &mut buf),
            Ok("thermal_thermal_zone0")
        );
        // A PCI function under its root bus (AMD's k10temp).
        assert_eq!(
            chip_name(b"pci0000:00", b"0000:00:18.3", &mut buf),
            Ok("pci0000:00_0000:00:18_3")
        );
        assert!(is_sensor_type("temp") && is_sensor_type("in") && !is_sensor_type("vrm"));
        assert_eq!(clean_name(b"_Foo Bar_", &mut buf), Ok("foo_bar"));
    }
}
