//! Rules that turn kernel log records into counted events, and the built-in table.
//!
//! A rule is one line of text, the same for the built-in table below and for the
//! `rule = …` lines of the collector's config file (`[kmsg]` section):
//!
//! ```text
//! EVENT [CONDITION …] PATTERN
//! mmc_error facility=kern level<=err {device:mmc}: *
//! ```
//!
//! - `EVENT` is the `event` label (`[a-z0-9_]`, at most 32 bytes), or `-` to drop what
//!   the rule matches (a record is counted by the first rule that matches it, so a `-`
//!   rule placed first silences noise that a later rule would count).
//! - Conditions look at the record's fields: `level<=LEVEL` (`emerg` … `debug`, or
//!   0–7: at least this severe), `facility=kern|user|N` (`kern` is what the kernel
//!   printed; user space writing to `/dev/kmsg` gets `user`), and `KEY=value` for a
//!   dictionary line (`SUBSYSTEM=usb`; keys are upper case).
//! - `PATTERN` (the rest of the line) matches the whole message text, as `/dev/kmsg`
//!   escapes it: `*` matches any run of bytes, `{device}` captures a non-empty run as
//!   the `device` label, and `{device:mmc}` captures a run that starts with `mmc`. A
//!   capture is as short as lets the rest match. Everything else matches itself. Put
//!   `*` first to match anywhere, last to match a prefix.
//!
//! This is a glob with one capture, not a regular expression engine: matching is one
//! pass with backtracking only to the last `*` or capture (at most pattern × text
//! steps, no recursion, no allocation), and it costs a few KiB of the collector's
//! binary budget where a regex crate costs hundreds (docs/BENCHMARKS.md).

use core::fmt;

use super::kmsg::{LEVELS, Record};

/// The built-in rules, in the order they are tried (after the config file's rules).
/// Each is tested against real message formats in `collector/tests/kmsg_fixtures.rs`;
/// `docs/METRICS.md` lists what each event means.
pub const BUILTIN_RULES: &[&str] = &[
    // SD/MMC: the register dumps that follow an sdhci error are one error, not twenty.
    "- facility=kern {device:mmc}: sdhci: *",
    "- facility=kern {device:mmc}: sdhost-bcm2835 *: SDHOST REGISTER DUMP",
    "mmc_error facility=kern level<=err {device:mmc}: *",
    // Block layer (`blk_update_request: I/O error, dev …` before 5.14) and buffer heads.
    "io_error facility=kern *error, dev {device}, sector *",
    "io_error facility=kern Buffer I/O error on dev {device}, *",
    // ext4 and f2fs: read-only remounts first, then any error of the filesystem.
    "fs_readonly facility=kern EXT4-fs ({device}): Remounting filesystem read-only*",
    "fs_readonly facility=kern F2FS-fs ({device}): *read-only*",
    "fs_error facility=kern EXT4-fs error (device {device}): *",
    "fs_error facility=kern level<=err EXT4-fs ({device}): *",
    "fs_error facility=kern level<=err F2FS-fs ({device}): *",
    // Raspberry Pi firmware under-voltage: raspberrypi-hwmon, and its predecessor in
    // the firmware driver (kernels before 4.19).
    "under_voltage facility=kern hwmon {device}: Undervoltage detected!*",
    "under_voltage facility=kern Under-voltage detected!*",
    // Thermal throttling as x86 reports it (the Pi firmware throttles silently: see the
    // `throttled` source).
    "throttling facility=kern {device:CPU}: * temperature above threshold, cpu clock throttled*",
    // OOM killer (global and memory cgroup), the killed process's name as `device`.
    "oom_kill facility=kern *Killed process * ({device}) total-vm*",
    "hung_task facility=kern INFO: task {device}:* blocked for more than * seconds.*",
    "usb_disconnect facility=kern usb {device}: USB disconnect, device number *",
    "usb_reset facility=kern usb {device}: reset * USB device number * using *",
    // x86 and arm32 print `segfault at`; arm64 an unhandled fault, with signal 11
    // before 5.x, then as `unhandled exception:` with the fault's name.
    "segfault facility=kern {device}[*]: segfault at *",
    "segfault facility=kern {device}[*]: unhandled * (11) at *",
    "segfault facility=kern {device}[*]: unhandled exception: *translation fault*",
    "segfault facility=kern {device}[*]: unhandled exception: *permission fault*",
];

/// Longest event name.
pub const MAX_EVENT_LEN: usize = 32;

/// Why a rule line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleError {
    /// No event name.
    MissingEvent,
    /// The event name is not `[a-z0-9_]{1,32}` or `-`.
    BadEvent,
    /// `level<=` names no level.
    BadLevel,
    /// `facility=` is not `kern`, `user` or a number.
    BadFacility,
    /// Nothing to match after the conditions.
    MissingPattern,
    /// A `{…}` capture names another label than `device`, or is not closed.
    BadCapture,
    /// More than one capture.
    TwoCaptures,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleError::MissingEvent => "expected `EVENT [CONDITION …] PATTERN`",
            RuleError::BadEvent => "event names are 1 to 32 of [a-z0-9_], or `-` to drop",
            RuleError::BadLevel => {
                "level<= takes emerg, alert, crit, err, warning, notice, info, debug or 0-7"
            }
            RuleError::BadFacility => "facility= takes kern, user or a number",
            RuleError::MissingPattern => "no pattern after the event and conditions",
            RuleError::BadCapture => {
                "the only capture is {device} (or {device:PREFIX}), closed by `}`"
            }
            RuleError::TwoCaptures => "a pattern has at most one {device} capture",
        })
    }
}

impl core::error::Error for RuleError {}

/// One parsed rule, borrowing its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule<'a> {
    /// The `event` label; `None` for a `-` (drop) rule.
    pub event: Option<&'a str>,
    /// Least severe level that matches (7: any).
    pub max_level: u8,
    /// The facility a record must have, if any.
    pub facility: Option<u32>,
    /// A dictionary entry the record must have.
    pub dict: Option<(&'a [u8], &'a [u8])>,
    /// The pattern, checked: at most one well-formed capture.
    pub pattern: &'a [u8],
    /// The pattern's longest run of literal bytes: a text without it cannot match, so
    /// looking for it first rules most records out without backtracking.
    pub needle: &'a [u8],
}

/// A pattern element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Literal(u8),
    Star,
    /// `{device}` (empty prefix) or `{device:PREFIX}`.
    Capture(&'a [u8]),
}

const CAPTURE_NAME: &[u8] = b"device";

/// The token at `pattern[p..]` and its length in bytes; `None` at the end. A `{`
/// that starts neither `{device` nor `{name}`/`{name:` (`name` lower case) is a
/// literal.
fn token(pattern: &[u8], p: usize) -> Option<Result<(Token<'_>, usize), RuleError>> {
    let rest = pattern.get(p..)?;
    let (&first, after) = rest.split_first()?;
    Some(Ok(match first {
        b'*' => (Token::Star, 1),
        b'{' => {
            let name_len = after
                .iter()
                .take_while(|b| b.is_ascii_lowercase() || **b == b'_')
                .count();
            let closed = matches!(after.get(name_len), Some(b'}' | b':'));
            let named = after.get(..name_len) == Some(CAPTURE_NAME);
            match (named, closed && name_len > 0) {
                (false, false) => return Some(Ok((Token::Literal(b'{'), 1))),
                (true, true) => {}
                _ => return Some(Err(RuleError::BadCapture)),
            }
            let Some(close) = after.iter().position(|&b| b == b'}') else {
                return Some(Err(RuleError::BadCapture));
            };
            let prefix = after.get(name_len + 1..close).unwrap_or_default();
            (Token::Capture(prefix), close + 2)
        }
        b => (Token::Literal(b), 1),
    }))
}

/// Checks `pattern` (well-formed captures, at most one) and returns its longest run
/// of literal bytes.
fn check_pattern(pattern: &[u8]) -> Result<&[u8], RuleError> {
    let (mut p, mut captures) = (0, 0);
    let (mut run_start, mut needle) = (0, &pattern[..0]);
    while let Some(t) = token(pattern, p) {
        let (t, len) = t?;
        match t {
            Token::Literal(_) => {
                let run = pattern.get(run_start..p + len).unwrap_or_default();
                if run.len() > needle.len() {
                    needle = run;
                }
            }
            Token::Capture(_) | Token::Star => run_start = p + len,
        }
        if let Token::Capture(_) = t {
            captures += 1;
        }
        p += len;
    }
    if captures > 1 {
        return Err(RuleError::TwoCaptures);
    }
    Ok(needle)
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(at) = haystack
        .get(from..)
        .and_then(|h| h.iter().position(|&b| b == first))
    {
        let start = from + at + 1;
        if haystack.get(start..start + rest.len()) == Some(rest) {
            return true;
        }
        from = start;
    }
    false
}

/// Matches `pattern` against the whole of `text`; on a match, the captured range
/// (`None` when the pattern has no capture). Backtracks only to the last `*` or
/// capture, extending it by one byte at a time.
fn glob(pattern: &[u8], text: &[u8]) -> Option<Option<(usize, usize)>> {
    let (mut p, mut t) = (0usize, 0usize);
    // Where to resume after a mismatch: pattern position after the last `*` or
    // capture, the text position it stretched to, and the capture's start if it was one.
    let mut back: Option<(usize, usize, Option<usize>)> = None;
    let mut capture: Option<(usize, usize)> = None;
    loop {
        match token(pattern, p) {
            Some(Ok((Token::Star, len))) => {
                back = Some((p + len, t, None));
                p += len;
                continue;
            }
            Some(Ok((Token::Capture(prefix), len))) => {
                let rest = text.get(t..).unwrap_or_default();
                if rest.starts_with(prefix) && rest.len() > prefix.len() {
                    let start = t;
                    t += prefix.len() + 1;
                    back = Some((p + len, t, Some(start)));
                    capture = Some((start, t));
                    p += len;
                    continue;
                }
            }
            Some(Ok((Token::Literal(b), len))) if text.get(t) == Some(&b) => {
                p += len;
                t += 1;
                continue;
            }
            Some(Ok((Token::Literal(_), _))) => {}
            Some(Err(_)) => return None,
            None if t == text.len() => return Some(capture),
            None => {}
        }
        let (resume_p, stretched, capture_start) = back?;
        if stretched >= text.len() {
            return None;
        }
        t = stretched + 1;
        back = Some((resume_p, t, capture_start));
        if let Some(start) = capture_start {
            capture = Some((start, t));
        }
        p = resume_p;
    }
}

fn parse_level(s: &str) -> Option<u8> {
    if let Some(i) = LEVELS.iter().position(|l| *l == s) {
        return u8::try_from(i).ok();
    }
    match s {
        "warn" => Some(4),
        "error" => Some(3),
        _ => s.parse::<u8>().ok().filter(|l| *l <= 7),
    }
}

fn is_dict_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl<'a> Rule<'a> {
    /// Parses a rule line (see the module docs).
    pub fn parse(line: &'a str) -> Result<Rule<'a>, RuleError> {
        let line = line.trim();
        let (event, mut rest) =
            line.split_once(|c: char| c.is_ascii_whitespace())
                .ok_or(if line.is_empty() {
                    RuleError::MissingEvent
                } else {
                    RuleError::MissingPattern
                })?;
        let event = match event {
            "-" => None,
            e if !e.is_empty()
                && e.len() <= MAX_EVENT_LEN
                && e.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Some(e)
            }
            _ => return Err(RuleError::BadEvent),
        };
        let mut rule = Rule {
            event,
            max_level: 7,
            facility: None,
            dict: None,
            pattern: &[],
            needle: &[],
        };
        loop {
            rest = rest.trim_start();
            let word = rest
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if let Some(level) = word.strip_prefix("level<=") {
                rule.max_level = parse_level(level).ok_or(RuleError::BadLevel)?;
            } else if let Some(facility) = word.strip_prefix("facility=") {
                rule.facility = Some(match facility {
                    "kern" => 0,
                    "user" => 1,
                    n => n.parse().map_err(|_| RuleError::BadFacility)?,
                });
            } else if let Some((key, value)) = word.split_once('=')
                && is_dict_key(key)
            {
                rule.dict = Some((key.as_bytes(), value.as_bytes()));
            } else {
                break;
            }
            rest = rest.get(word.len()..).unwrap_or_default();
        }
        if rest.is_empty() {
            return Err(RuleError::MissingPattern);
        }
        rule.needle = check_pattern(rest.as_bytes())?;
        rule.pattern = rest.as_bytes();
        Ok(rule)
    }

    /// Whether `record` matches: `Some(device)` (empty when the pattern captures
    /// nothing) or `None`. No allocation.
    pub fn matches<'t>(&self, record: &Record<'t>) -> Option<&'t [u8]> {
        if record.level > self.max_level {
            return None;
        }
        if self.facility.is_some_and(|f| f != record.facility) {
            return None;
        }
        if let Some((key, value)) = self.dict
            && record.dict_value(key) != Some(value)
        {
            return None;
        }
        // A literal first byte rules most records out before the glob starts.
        if let (Some(&first), Some(&byte)) = (self.pattern.first(), record.text.first())
            && first != b'*'
            && first != b'{'
            && first != byte
        {
            return None;
        }
        if !contains(record.text, self.needle) {
            return None;
        }
        match glob(self.pattern, record.text)? {
            Some((start, end)) => record.text.get(start..end),
            None => Some(&[]),
        }
    }
}

/// Runs every parser of this module over `input` (see [`super::exercise`]): the
/// first line as a rule, matched against the rest as kernel records, and every
/// built-in rule against them.
pub fn exercise(input: &[u8]) {
    let (first, rest) = match input.iter().position(|&b| b == b'\n') {
        Some(n) => (
            input.get(..n).unwrap_or_default(),
            input.get(n + 1..).unwrap_or_default(),
        ),
        None => (input, &[][..]),
    };
    let user = core::str::from_utf8(first)
        .ok()
        .and_then(|l| Rule::parse(l).ok());
    for record in super::kmsg::parse_records(rest).flatten() {
        if let Some(rule) = user {
            let _ = rule.matches(&record);
        }
        for rule in BUILTIN_RULES.iter().filter_map(|l| Rule::parse(l).ok()) {
            let _ = rule.matches(&record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::kmsg::parse_record;

    fn capture<'t>(pattern: &str, text: &'t str) -> Option<&'t str> {
        let needle = check_pattern(pattern.as_bytes()).unwrap();
        assert!(contains(pattern.as_bytes(), needle));
        glob(pattern.as_bytes(), text.as_bytes())
            .map(|c| c.map_or("", |(s, e)| text.get(s..e).unwrap()))
    }

    #[test]
    fn globs_match_the_whole_text() {
        assert_eq!(capture("abc", "abc"), Some(""));
        assert_eq!(capture("abc", "abcd"), None);
        assert_eq!(capture("ab*", "abcd"), Some(""));
        assert_eq!(capture("*cd", "abcd"), Some(""));
        assert_eq!(capture("*b*d", "abcd"), Some(""));
        assert_eq!(capture("*", ""), Some(""));
        assert_eq!(capture("a*b*c", "aXbYbZc"), Some(""));
        assert_eq!(capture("a*b*c", "aXbYbZ"), None);
        assert_eq!(capture("{x", "{x"), Some(""));
        assert_eq!(capture("{ x}", "{ x}"), Some(""));
    }

    #[test]
    fn captures_are_shortest_non_empty_runs() {
        assert_eq!(capture("dev {device}, *", "dev sda, x, y"), Some("sda"));
        assert_eq!(
            capture("({device}) t*", "(Web Content) t1"),
            Some("Web Content")
        );
        assert_eq!(capture("({device}) t*", "(a) b) t1"), Some("a) b"));
        assert_eq!(capture("{device}", "rest of line"), Some("rest of line"));
        assert_eq!(capture("x{device}", "x"), None);
        assert_eq!(capture("{device:mmc}: *", "mmc0: e"), Some("mmc0"));
        assert_eq!(capture("{device:mmc}: *", "mmcblk0: e"), Some("mmcblk0"));
        assert_eq!(capture("{device:mmc}: *", "sdhci: e"), None);
        assert_eq!(capture("{device:mmc}: *", "mmc: e"), None);
        assert_eq!(
            capture(
                "*Killed process * ({device}) total-vm*",
                "Out of memory: Killed process 4242 (stress-ng) total-vm:1kB"
            ),
            Some("stress-ng")
        );
    }

    #[test]
    fn bad_rules_say_why() {
        assert_eq!(Rule::parse(""), Err(RuleError::MissingEvent));
        assert_eq!(Rule::parse("only_event"), Err(RuleError::MissingPattern));
        assert_eq!(Rule::parse("Bad x"), Err(RuleError::BadEvent));
        assert_eq!(Rule::parse("e level<=loud x"), Err(RuleError::BadLevel));
        assert_eq!(
            Rule::parse("e facility=daemon x"),
            Err(RuleError::BadFacility)
        );
        assert_eq!(Rule::parse("e level<=err "), Err(RuleError::MissingPattern));
        assert_eq!(Rule::parse("e {dev}: x"), Err(RuleError::BadCapture));
        assert_eq!(Rule::parse("e {device x"), Err(RuleError::BadCapture));
        assert_eq!(
            Rule::parse("e {device} {device}"),
            Err(RuleError::TwoCaptures)
        );
    }

    #[test]
    fn conditions_and_pattern() {
        let r = Rule::parse(
            "usb_gone facility=kern level<=info SUBSYSTEM=usb usb {device}: USB disconnect*",
        )
        .unwrap();
        assert_eq!(r.event, Some("usb_gone"));
        assert_eq!((r.max_level, r.facility), (6, Some(0)));
        assert_eq!(r.dict, Some((&b"SUBSYSTEM"[..], &b"usb"[..])));
        assert_eq!(r.pattern, b"usb {device}: USB disconnect*");
        assert_eq!(r.needle, b": USB disconnect");
        assert!(contains(b"abcabd", b"abd") && contains(b"x", b"") && !contains(b"ab", b"abc"));
        let rec =
            parse_record(b"6,1,0,-;usb 1-1: USB disconnect, device number 2\n SUBSYSTEM=usb\n")
                .unwrap();
        assert_eq!(r.matches(&rec), Some(&b"1-1"[..]));
        let no_dict = parse_record(b"6,1,0,-;usb 1-1: USB disconnect, device number 2\n").unwrap();
        assert_eq!(r.matches(&no_dict), None);
        let debug = parse_record(b"7,1,0,-;usb 1-1: USB disconnect\n SUBSYSTEM=usb\n").unwrap();
        assert_eq!(r.matches(&debug), None);
        let user = parse_record(b"14,1,0,-;usb 1-1: USB disconnect\n SUBSYSTEM=usb\n").unwrap();
        assert_eq!(r.matches(&user), None);
        let drop = Rule::parse("- level<=3 *").unwrap();
        assert_eq!(drop.event, None);
        assert_eq!(drop.matches(&debug), None);
        assert_eq!(
            drop.matches(&parse_record(b"3,1,0,-;x").unwrap()),
            Some(&b""[..])
        );
    }

    #[test]
    fn builtin_rules_parse() {
        for line in BUILTIN_RULES {
            let rule = Rule::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(
                rule.facility,
                Some(0),
                "{line}: built-ins count kernel messages"
            );
        }
    }
}
