//! `etc/localtime`: the time zone as TZif (RFC 8536), for node_exporter's
//! `node_time_zone_offset_seconds{time_zone}`.
//!
//! node_exporter prints Go's `time.Now().Zone()`: the abbreviation (`GMT`, `BST`,
//! `AEDT`, `+03`) and the offset east of UTC in seconds, read from `/etc/localtime`, and
//! `UTC`, 0 without it. This reads the same file under the collector's root (the
//! collector is a static binary without a zone database of its own) and looks a time
//! up as Go's `time` package does: the version 2+ data (64-bit times) when the file
//! has it; before the first transition, Go's choice of the first zone; at or after the
//! last transition (or with none), the POSIX TZ string of the footer
//! (`GMT0BST,M3.5.0/1,M10.5.0`) when it parses. Files written by `zic -b slim` have
//! few transitions and depend on the footer; Debian's `fat` files have transitions to
//! 2037.
//!
//! Nothing allocates: [`parse_tzif`] checks the file's layout and keeps slices of it.
//! The `source::time` reader keeps the file's bytes (read at discovery) and
//! looks the cycle's time up in them.

use super::ParseError;

/// One zone: what `time.Now().Zone()` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone<'a> {
    /// The abbreviation (`time_zone` label).
    pub name: &'a str,
    /// Seconds east of UTC.
    pub offset: i32,
}

/// UTC, as Go's `time.Local` is without a zone file.
pub const UTC: Zone<'static> = Zone {
    name: "UTC",
    offset: 0,
};

/// The parts of a TZif file a lookup needs, as slices of it.
#[derive(Debug, Clone, Copy)]
pub struct Tzif<'a> {
    /// Transition times, `time_size` bytes each, big-endian.
    times: &'a [u8],
    /// 4 (version 1 data) or 8 (version 2+).
    time_size: usize,
    /// The local time type index of each transition.
    indices: &'a [u8],
    /// Local time types: offset (i32 BE), is-DST (u8), abbreviation index (u8).
    types: &'a [u8],
    /// NUL-terminated abbreviations.
    names: &'a [u8],
    /// The POSIX TZ string (without its newlines); empty when none.
    footer: &'a [u8],
}

/// Big-endian u32 at `at`.
fn be_u32(bytes: &[u8], at: usize) -> Result<u32, ParseError> {
    let b = bytes
        .get(at..at + 4)
        .ok_or(ParseError::Malformed("a complete TZif header"))?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The six counts of a header at `at`: isutcnt, isstdcnt, leapcnt, timecnt, typecnt,
/// charcnt.
fn counts(input: &[u8], at: usize) -> Result<[usize; 6], ParseError> {
    if input.get(at..at + 4) != Some(b"TZif") {
        return Err(ParseError::Malformed("the TZif magic"));
    }
    let mut out = [0usize; 6];
    for (i, c) in out.iter_mut().enumerate() {
        *c = be_u32(input, at + 20 + 4 * i)? as usize;
    }
    Ok(out)
}

/// Length of a data block with these counts and `time_size`-byte times.
fn block_len(c: [usize; 6], time_size: usize) -> Option<usize> {
    let [isut, isstd, leap, time, types, chars] = c;
    time.checked_mul(time_size + 1)?
        .checked_add(types.checked_mul(6)?)?
        .checked_add(chars)?
        .checked_add(leap.checked_mul(time_size + 4)?)?
        .checked_add(isstd)?
        .checked_add(isut)
}

/// Parses a TZif file: version 2+ data and footer when present, else version 1.
pub fn parse_tzif(input: &[u8]) -> Result<Tzif<'_>, ParseError> {
    const HEADER: usize = 44;
    let v1 = counts(input, 0)?;
    let version = *input.get(4).ok_or(ParseError::Malformed("a TZif version"))?;
    let (c, time_size, data) = if version >= b'2' {
        let second = HEADER
            .checked_add(block_len(v1, 4).ok_or(ParseError::Overflow)?)
            .ok_or(ParseError::Overflow)?;
        (counts(input, second)?, 8, second + HEADER)
    } else {
        (v1, 4, HEADER)
    };
    let [_, _, _, timecnt, typecnt, charcnt] = c;
    if typecnt == 0 {
        return Err(ParseError::MissingField("a local time type"));
    }
    let end = data
        .checked_add(block_len(c, time_size).ok_or(ParseError::Overflow)?)
        .ok_or(ParseError::Overflow)?;
    let block = input
        .get(data..end)
        .ok_or(ParseError::Malformed("complete TZif data"))?;
    let (times, rest) = block.split_at(timecnt * time_size);
    let (indices, rest) = rest.split_at(timecnt);
    let (types, rest) = rest.split_at(typecnt * 6);
    let names = rest.get(..charcnt).unwrap_or_default();
    if indices.iter().any(|&i| usize::from(i) >= typecnt) {
        return Err(ParseError::Malformed("transitions to existing types"));
    }
    let footer = match input.get(end..) {
        Some([b'\n', tz @ .., b'\n']) if version >= b'2' => tz,
        _ => &[],
    };
    Ok(Tzif {
        times,
        time_size,
        indices,
        types,
        names,
        footer,
    })
}

impl<'a> Tzif<'a> {
    fn transitions(&self) -> usize {
        self.indices.len()
    }

    fn time(&self, i: usize) -> i64 {
        let at = i * self.time_size;
        match self.times.get(at..at + self.time_size) {
            Some(&[a, b, c, d]) => i64::from(i32::from_be_bytes([a, b, c, d])),
            Some(&[a, b, c, d, e, f, g, h]) => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
            _ => 0,
        }
    }

    /// Local time type `i`: the zone and whether it is DST.
    fn kind(&self, i: usize) -> (Zone<'a>, bool) {
        let t = self.types.get(i * 6..i * 6 + 6).unwrap_or(&[0; 6]);
        let offset = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        let name = self
            .names
            .get(usize::from(t[5])..)
            .and_then(|n| n.split(|&b| b == 0).next())
            .and_then(|n| core::str::from_utf8(n).ok())
            .unwrap_or("");
        (Zone { name, offset }, t[4] != 0)
    }

    /// Go's `lookupFirstZone`: the zone before the first transition.
    fn first_zone(&self) -> usize {
        let types = self.types.len() / 6;
        if !self.indices.contains(&0) {
            return 0;
        }
        if let Some(&first) = self.indices.first()
            && self.kind(usize::from(first)).1
            && let Some(zi) = (0..usize::from(first)).rev().find(|&zi| !self.kind(zi).1)
        {
            return zi;
        }
        (0..types).find(|&zi| !self.kind(zi).1).unwrap_or(0)
    }

    /// The zone in force at `unix` seconds, as Go's `Location.lookup` finds it.
    pub fn zone_at(&self, unix: i64) -> Zone<'a> {
        let n = self.transitions();
        // Go adds a transition at the beginning of time to type 0 when there is none.
        if n > 0 && unix < self.time(0) {
            return self.kind(self.first_zone()).0;
        }
        // The last transition at or before `unix` (binary search).
        let (mut lo, mut hi) = (0usize, n.max(1));
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if unix < self.time(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let index = self.indices.get(lo).map_or(0, |&i| usize::from(i));
        if lo + 1 >= n
            && let Some(zone) = posix_tz(self.footer, unix)
        {
            return zone;
        }
        self.kind(index).0
    }
}

/// A rule of a POSIX TZ string, `Mm.w.d`: weekday `d` of week `w` (5: the last) of
/// month `m`, in local time. POSIX's two other forms (`Jn`, `n`) are in no footer zic
/// writes; a footer with them is not used (the last transition's zone stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    month: i32,
    week: i32,
    day: i32,
}

/// The zone a POSIX TZ string (a TZif footer) gives for `unix`, as Go's `tzset`;
/// `None` when it does not parse.
pub fn posix_tz(tz: &[u8], unix: i64) -> Option<Zone<'_>> {
    let (std_name, rest) = tz_name(tz)?;
    let (std_off, rest) = tz_offset(rest)?;
    let std = Zone {
        name: std_name,
        offset: -std_off,
    };
    let no_offset = |s: &[u8]| s.is_empty() || s.first() == Some(&b',');
    if no_offset(rest) {
        return Some(std);
    }
    let (dst_name, mut rest) = tz_name(rest)?;
    let mut dst = Zone {
        name: dst_name,
        offset: std.offset + 3600,
    };
    if !no_offset(rest) {
        let (off, r) = tz_offset(rest)?;
        rest = r;
        dst.offset = -off;
    }
    let rules: &[u8] = if rest.is_empty() {
        b",M3.2.0,M11.1.0"
    } else {
        rest
    };
    let rest = match rules.split_first() {
        Some((b',' | b';', r)) => r,
        _ => return None,
    };
    let (start, start_time, rest) = tz_rule(rest)?;
    let (end, end_time, rest) = tz_rule(rest.strip_prefix(b",")?)?;
    if !rest.is_empty() {
        return None;
    }
    // Days in i32 (smaller code on 32-bit ARM than i64 date arithmetic): ±2^28 days
    // is ±735,000 years, far past any zone rule.
    let days = i32::try_from(unix.div_euclid(86_400).clamp(-(1 << 28), 1 << 28)).ok()?;
    let (year, yday) = year_and_day(days);
    let ysec = yday * 86_400 + i32::try_from(unix.rem_euclid(86_400)).ok()?;
    let start_sec = rule_time(year, start, start_time) - std.offset;
    let end_sec = rule_time(year, end, end_time) - dst.offset;
    // Southern hemisphere: DST spans the new year, so the "standard" part is inside.
    let (outside, inside, lo, hi) = if end_sec < start_sec {
        (dst, std, end_sec, start_sec)
    } else {
        (std, dst, start_sec, end_sec)
    };
    Some(if ysec < lo || ysec >= hi { outside } else { inside })
}

/// A zone name: `<…>` quoted, or letters up to a digit, sign or comma (at least 3).
fn tz_name(s: &[u8]) -> Option<(&str, &[u8])> {
    if let Some(rest) = s.strip_prefix(b"<") {
        let end = rest.iter().position(|&b| b == b'>')?;
        let name = core::str::from_utf8(rest.get(..end)?).ok()?;
        return Some((name, rest.get(end + 1..)?));
    }
    let end = s
        .iter()
        .position(|b| b.is_ascii_digit() || matches!(b, b',' | b'-' | b'+'))
        .unwrap_or(s.len());
    if end < 3 {
        return None;
    }
    let (name, rest) = s.split_at(end);
    Some((core::str::from_utf8(name).ok()?, rest))
}

/// `[+-]hh[:mm[:ss]]` in seconds (west of UTC positive, as written).
fn tz_offset(s: &[u8]) -> Option<(i32, &[u8])> {
    let (neg, mut s) = match s.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, s),
    };
    let (hours, r) = tz_num(s, 0, 24 * 7)?;
    s = r;
    let mut off = hours * 3600;
    for scale in [60, 1] {
        let Some(r) = s.strip_prefix(b":") else { break };
        let (n, r) = tz_num(r, 0, 59)?;
        off += n * scale;
        s = r;
    }
    Some((if neg { -off } else { off }, s))
}

/// A decimal number in `min..=max` at the start of `s` (`max` < 2^27).
fn tz_num(s: &[u8], min: i32, max: i32) -> Option<(i32, &[u8])> {
    let len = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 {
        return None;
    }
    let mut n = 0i32;
    for &d in s.get(..len)? {
        n = n * 10 + i32::from(d - b'0');
        if n > max {
            return None;
        }
    }
    (n >= min).then(|| (n, s.get(len..).unwrap_or_default()))
}

/// A rule and its time of day (default 02:00), in seconds.
fn tz_rule(s: &[u8]) -> Option<(Rule, i32, &[u8])> {
    let r = s.strip_prefix(b"M")?;
    let (month, r) = tz_num(r, 1, 12)?;
    let (week, r) = tz_num(r.strip_prefix(b".")?, 1, 5)?;
    let (day, rest) = tz_num(r.strip_prefix(b".")?, 0, 6)?;
    let rule = Rule { month, week, day };
    match rest.strip_prefix(b"/") {
        Some(r) => {
            let (time, r) = tz_offset(r)?;
            Some((rule, time, r))
        }
        None => Some((rule, 2 * 3600, rest)),
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(month: i32, year: i32) -> i32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days before the first of `month` in a non-leap year.
fn days_before(month: i32) -> i32 {
    (1..month).map(|m| days_in_month(m, 1)).sum()
}

/// The year and day of the year (0-based) of `days` since 1970-01-01.
fn year_and_day(days: i32) -> (i32, i32) {
    // Howard Hinnant's civil_from_days, then the day of the year from the date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i32::from(month <= 2);
    let leap_day = i32::from(is_leap(year) && month > 2);
    (year, days_before(month) + leap_day + day - 1)
}

/// Seconds from the start of `year` (local) at which `rule` fires, plus `time`.
fn rule_time(year: i32, rule: Rule, time: i32) -> i32 {
    let Rule { month, week, day } = rule;
    // Zeller's congruence: the weekday of the first of the month.
    let m1 = (month + 9) % 12 + 1;
    let yy0 = if month <= 2 { year - 1 } else { year };
    let (yy1, yy2) = (yy0.div_euclid(100), yy0.rem_euclid(100));
    let dow = ((26 * m1 - 2) / 10 + 1 + yy2 + yy2 / 4 + yy1 / 4 - 2 * yy1).rem_euclid(7);
    let mut d = (day - dow).rem_euclid(7);
    for _ in 1..week {
        if d + 7 >= days_in_month(month, year) {
            break;
        }
        d += 7;
    }
    let yday = d + days_before(month) + i32::from(is_leap(year) && month > 2);
    yday * 86_400 + time
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    if let Ok(tz) = parse_tzif(input) {
        for t in [i64::MIN, -1, 0, 1_796_592_493, 2_240_524_800, i64::MAX] {
            let _ = tz.zone_at(t);
        }
    }
    let _ = posix_tz(input, 1_796_592_493);
    let _ = posix_tz(input, i64::MIN);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-15, 2026-07-15, 2040-01-15 and 2040-07-15, 12:00 UTC.
    const WINTER: i64 = 1_768_478_400;
    const SUMMER: i64 = 1_784_116_800;
    const WINTER_2040: i64 = 2_210_241_600;
    const SUMMER_2040: i64 = 2_225_966_400;

    fn zone(name: &str, offset: i32) -> Zone<'_> {
        Zone { name, offset }
    }

    #[test]
    fn london_from_transitions_and_past_2037_from_the_footer() {
        let tz = parse_tzif(fixture!("pi4/usr/share/zoneinfo/Europe/London")).unwrap();
        assert_eq!(tz.footer, b"GMT0BST,M3.5.0/1,M10.5.0");
        assert_eq!(tz.zone_at(WINTER), zone("GMT", 0));
        assert_eq!(tz.zone_at(SUMMER), zone("BST", 3600));
        assert_eq!(tz.zone_at(WINTER_2040), zone("GMT", 0));
        assert_eq!(tz.zone_at(SUMMER_2040), zone("BST", 3600));
        // zdump -v -c 2040,2041 Europe/London: Sun Mar 25 00:59:59 2040 UT = GMT,
        // 01:00:00 UT = BST; Sun Oct 28 00:59:59 2040 UT = BST, 01:00:00 UT = GMT.
        assert_eq!(tz.zone_at(2_216_249_999), zone("GMT", 0));
        assert_eq!(tz.zone_at(2_216_250_000), zone("BST", 3600));
        assert_eq!(tz.zone_at(2_234_998_799), zone("BST", 3600));
        assert_eq!(tz.zone_at(2_234_998_800), zone("GMT", 0));
        // Before the first transition: local mean time, as Go has it.
        assert_eq!(tz.zone_at(-5_000_000_000), zone("LMT", -75));
    }

    #[test]
    fn sydney_summer_spans_the_new_year() {
        let tz = parse_tzif(fixture!("x86/etc/localtime")).unwrap();
        assert_eq!(tz.zone_at(WINTER), zone("AEDT", 39600));
        assert_eq!(tz.zone_at(SUMMER), zone("AEST", 36000));
        assert_eq!(tz.zone_at(WINTER_2040), zone("AEDT", 39600));
        assert_eq!(tz.zone_at(SUMMER_2040), zone("AEST", 36000));
    }

    #[test]
    fn posix_tz_strings() {
        assert_eq!(posix_tz(b"UTC0", SUMMER), Some(zone("UTC", 0)));
        assert_eq!(posix_tz(b"<+03>-3", SUMMER), Some(zone("+03", 10800)));
        assert_eq!(posix_tz(b"IST-5:30", SUMMER), Some(zone("IST", 19800)));
        let ny = b"EST5EDT,M3.2.0,M11.1.0";
        assert_eq!(posix_tz(ny, WINTER), Some(zone("EST", -18000)));
        assert_eq!(posix_tz(ny, SUMMER), Some(zone("EDT", -14400)));
        // No rules: the US rules of tzcode.
        assert_eq!(posix_tz(b"EST5EDT", SUMMER), Some(zone("EDT", -14400)));
        // Julian and zero-based days: in POSIX, in no footer zic writes; not taken.
        assert_eq!(posix_tz(b"AAA0BBB,J60,J305", SUMMER), None);
        assert_eq!(posix_tz(b"AAA0BBB,59,304", WINTER), None);
        // Chile: -04 with DST -03 from September to April, times past 24 h.
        let chile = b"<-04>4<-03>,M9.1.6/24,M4.1.6/24";
        assert_eq!(posix_tz(chile, WINTER), Some(zone("-03", -10800)));
        assert_eq!(posix_tz(chile, SUMMER), Some(zone("-04", -14400)));
        for bad in [&b""[..], b"UT0", b"UTC", b"<UTC0", b"EST5EDT,M3", b"EST5EDT,M13.1.0,M1.1.0"] {
            assert_eq!(posix_tz(bad, SUMMER), None, "{:?}", core::str::from_utf8(bad));
        }
    }

    #[test]
    fn errors() {
        assert!(matches!(parse_tzif(b""), Err(ParseError::Malformed(_))));
        assert!(matches!(parse_tzif(b"TZif2"), Err(ParseError::Malformed(_))));
        let london = fixture!("pi4/usr/share/zoneinfo/Europe/London");
        for len in [44, 100, 1000, 1800, 3000] {
            assert!(parse_tzif(&london[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn days_and_years() {
        assert_eq!(year_and_day(0), (1970, 0));
        assert_eq!(year_and_day(59), (1970, 59));
        assert_eq!(year_and_day(365 + 365 + 59), (1972, 59));
        assert_eq!(year_and_day(365 + 365 + 365), (1972, 365));
        assert_eq!(year_and_day(i32::try_from(WINTER / 86_400).unwrap()), (2026, 14));
        assert_eq!(year_and_day(-1), (1969, 364));
    }
}
