//! The strings of `uname(2)` as the kernel's sysctl files hold them:
//! `/proc/sys/kernel/{ostype,osrelease,version,hostname,domainname}` and, on kernels
//! that have it, `arch` (the machine). Each file is the string and a newline.
//!
//! node_exporter's `uname` collector calls `uname(2)`; the files hold the same strings
//! of the same UTS namespace, and can be read under the collector's root (a fixture
//! tree, a container's `/host`). On a kernel without `arch` the machine comes from
//! `uname(2)` itself (`crate::sys::uname_machine`). As a source
//! (`crate::source::uname`): `node_uname_info`, 1, labelled with the six strings.

use super::{ParseError, utf8};

/// The files under the root, in the catalog's label order of `UNAME_INFO` (`sysname`,
/// `release`, `version`, `machine`, `nodename`, `domainname`).
pub const FILES: [&str; 6] = [
    "proc/sys/kernel/ostype",
    "proc/sys/kernel/osrelease",
    "proc/sys/kernel/version",
    "proc/sys/kernel/arch",
    "proc/sys/kernel/hostname",
    "proc/sys/kernel/domainname",
];

/// Index of the machine's file in [`FILES`] (the one that may be missing).
pub const MACHINE: usize = 3;

/// Longest string a UTS field holds (`__NEW_UTS_LEN`).
pub const MAX_UTS_LEN: usize = 64;

/// Parses one UTS sysctl file: the string before the newline the kernel appends. An
/// empty string is a value (a domain name set to nothing); a second line, a missing
/// newline (a truncated read), a string longer than a UTS field or non-UTF-8 is not.
pub fn parse_uts_string(input: &[u8]) -> Result<&str, ParseError> {
    let value = input
        .strip_suffix(b"\n")
        .ok_or(ParseError::Malformed("a line ending in a newline"))?;
    if value.contains(&b'\n') {
        return Err(ParseError::Malformed("a single line"));
    }
    if value.len() > MAX_UTS_LEN {
        return Err(ParseError::Overflow);
    }
    utf8(value)
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_uts_string(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        assert_eq!(
            parse_uts_string(fixture!("pi4/proc/sys/kernel/osrelease")),
            Ok("6.6.31+rpt-rpi-v7l")
        );
        assert_eq!(
            parse_uts_string(fixture!("pi4/proc/sys/kernel/version")),
            Ok("#1 SMP Raspbian 1:6.6.31-1+rpt1 (2024-05-29)")
        );
        assert_eq!(
            parse_uts_string(fixture!("pizero/proc/sys/kernel/version")),
            Ok("#1200 Tue Feb 12 20:11:02 GMT 2019")
        );
        assert_eq!(
            parse_uts_string(fixture!("x86/proc/sys/kernel/arch")),
            Ok("x86_64")
        );
        assert_eq!(
            parse_uts_string(fixture!("x86/proc/sys/kernel/domainname")),
            Ok("(none)")
        );
    }

    #[test]
    fn values_and_errors() {
        assert_eq!(parse_uts_string(b"Linux\n"), Ok("Linux"));
        assert_eq!(parse_uts_string(b"\n"), Ok(""));
        assert_eq!(
            parse_uts_string(b"Linux"),
            Err(ParseError::Malformed("a line ending in a newline"))
        );
        assert_eq!(
            parse_uts_string(b"a\nb\n"),
            Err(ParseError::Malformed("a single line"))
        );
        assert_eq!(parse_uts_string(&[b'x'; 65]), Err(ParseError::Malformed("a line ending in a newline")));
        let mut long = [b'x'; 66];
        long[65] = b'\n';
        assert_eq!(parse_uts_string(&long), Err(ParseError::Overflow));
        assert_eq!(parse_uts_string(b"\xff\n"), Err(ParseError::InvalidUtf8));
    }
}
