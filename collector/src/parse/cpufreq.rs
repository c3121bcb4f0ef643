//! cpufreq: `/sys/devices/system/cpu/cpuN/cpufreq/scaling_{cur,min,max}_freq`, in kHz.

use super::{ParseError, parse_uint_value, thermal::dir_number};

/// Parses a `scaling_*_freq` file: kHz.
pub fn parse_khz(input: &[u8]) -> Result<u64, ParseError> {
    parse_uint_value(input)
}

/// The CPU number of a `cpuN` directory name, or `None` for `cpufreq`, `cpuidle`, ….
pub fn parse_cpu_dir_name(name: &[u8]) -> Option<u32> {
    dir_number(name, b"cpu")
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_khz(input);
    let _ = parse_cpu_dir_name(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_khz(fixture!(
                "pi4/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"
            )),
            Ok(1_800_000)
        );
        assert_eq!(
            parse_khz(fixture!(
                "pizero/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq"
            )),
            Ok(1_000_000)
        );
        assert_eq!(parse_khz(b"<unknown>\n"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn cpu_dir_names() {
        assert_eq!(parse_cpu_dir_name(b"cpu0"), Some(0));
        assert_eq!(parse_cpu_dir_name(b"cpu17"), Some(17));
        assert_eq!(parse_cpu_dir_name(b"cpufreq"), None);
        assert_eq!(parse_cpu_dir_name(b"cpuidle"), None);
        assert_eq!(parse_cpu_dir_name(b"cpu"), None);
    }
}
