//! `os-release(5)` (`/etc/os-release`, else `/usr/lib/os-release`): `KEY=value` lines,
//! values shell-like quoted: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`, `ID=debian`.
//!
//! node_exporter's `os` collector reads it with `hashicorp/go-envparse`, and these are
//! that parser's rules, so the labels are the same strings: lines are trimmed; blank
//! lines and lines starting with `#` are skipped; the key (an `export ` prefix dropped)
//! starts with `[A-Za-z_]` and goes on with `[A-Za-z0-9_./]`; the value is trimmed, and
//! then, outside quotes, `#` starts a comment (spaces before it are dropped); `"…"`
//! takes the JSON escapes `\" \\ \/ \b \f \r \n \t \uXXXX` (surrogate pairs joined),
//! `'…'` takes everything literally; a control byte anywhere in a value, an unknown
//! escape or an unclosed quote is an error, and one bad line fails the whole file (as
//! it makes node_exporter send nothing). An empty value is as if the key were absent;
//! a repeated key keeps its last value.
//!
//! As a source (`crate::source::os_release`): `node_os_info` (1, labelled with the 12
//! keys node_exporter reads, empty when absent) and `node_os_version` (`VERSION_ID`'s
//! leading `major.minor` as a number, labelled `id`, `id_like`, `name`; not sent when
//! that is not a positive number).

use super::{ParseError, utf8};

/// The keys of `node_os_info`'s labels, in the catalog's label order (`build_id`, `id`,
/// …, `version_id`).
pub const KEYS: [&str; 12] = [
    "BUILD_ID",
    "ID",
    "ID_LIKE",
    "IMAGE_ID",
    "IMAGE_VERSION",
    "NAME",
    "PRETTY_NAME",
    "VARIANT",
    "VARIANT_ID",
    "VERSION",
    "VERSION_CODENAME",
    "VERSION_ID",
];

/// Positions in [`KEYS`] of `node_os_version`'s labels (`id`, `id_like`, `name`).
pub const VERSION_LABELS: [usize; 3] = [1, 2, 5];

/// Position of `PRETTY_NAME` in [`KEYS`].
pub const PRETTY_NAME: usize = 6;

/// Position of `VERSION_ID` in [`KEYS`].
pub const VERSION_ID: usize = 11;

/// The files, relative to the root, in the order tried.
pub const PATHS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The values of [`KEYS`] (empty when absent), decoded into a caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsRelease<'b> {
    /// In [`KEYS`] order.
    pub values: [&'b str; 12],
}

/// Parses a whole os-release file, decoding the values of [`KEYS`] into `buf` (which
/// needs as many bytes as `input`: a decoded value is never longer than its text).
pub fn parse_os_release<'b>(input: &[u8], buf: &'b mut [u8]) -> Result<OsRelease<'b>, ParseError> {
    let mut ranges = [(0usize, 0usize); 12];
    let mut used = 0usize;
    for line in input.split(|&b| b == b'\n') {
        let out = buf.get_mut(used..).ok_or(ParseError::BufferTooSmall)?;
        let Some((key, value)) = parse_line(line, out)? else {
            continue;
        };
        if let Some(slot) = KEYS.iter().position(|k| k.as_bytes() == key) {
            let end = used + value.len();
            ranges[slot] = (used, end);
            used = end;
        }
    }
    let buf: &'b [u8] = buf;
    let mut values = [""; 12];
    for (value, (start, end)) in values.iter_mut().zip(ranges) {
        *value = utf8(buf.get(start..end).ok_or(ParseError::BufferTooSmall)?)?;
    }
    Ok(OsRelease { values })
}

/// A line's key (borrowed from the line) and decoded value (in the caller's buffer).
pub type Pair<'l, 'b> = (&'l [u8], &'b [u8]);

/// Parses one line: `Ok(None)` for a blank line, a comment or an empty value; else the
/// key and the value decoded into `out`.
pub fn parse_line<'l, 'b>(
    line: &'l [u8],
    out: &'b mut [u8],
) -> Result<Option<Pair<'l, 'b>>, ParseError> {
    let line = line.trim_ascii();
    if line.is_empty() || line.first() == Some(&b'#') {
        return Ok(None);
    }
    let eq = line
        .iter()
        .position(|&b| b == b'=')
        .ok_or(ParseError::MissingField("="))?;
    let (key, value) = line.split_at(eq);
    let value = value.get(1..).unwrap_or_default().trim_ascii();
    let mut key = key.trim_ascii();
    if key.len() > b"export ".len() {
        key = key.strip_prefix(b"export ").unwrap_or(key);
    }
    check_key(key)?;
    if value.is_empty() {
        return Ok(None);
    }
    let len = decode_value(value, out)?;
    Ok(Some((key, out.get(..len).ok_or(ParseError::BufferTooSmall)?)))
}

/// `[A-Za-z_][A-Za-z0-9_./]*`.
fn check_key(key: &[u8]) -> Result<(), ParseError> {
    let (&first, rest) = key.split_first().ok_or(ParseError::MissingField("key"))?;
    let good_rest = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/');
    if (first.is_ascii_alphabetic() || first == b'_') && rest.iter().all(|&b| good_rest(b)) {
        Ok(())
    } else {
        Err(ParseError::Malformed("a key of [A-Za-z0-9_./]"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Double,
    Single,
    Escape,
}

/// Decodes a trimmed, non-empty value into `out`; returns the decoded length.
fn decode_value(value: &[u8], out: &mut [u8]) -> Result<usize, ParseError> {
    let mut len = 0usize;
    // The end of the value without the unquoted blanks before a comment.
    let mut significant = 0usize;
    let mut mode = Mode::Plain;
    let mut i = 0usize;
    while let Some(&b) = value.get(i) {
        i += 1;
        if b < 32 {
            return Err(ParseError::Malformed("no control characters in a value"));
        }
        if b > 127 {
            if mode == Mode::Escape {
                return Err(ParseError::Malformed("an ASCII escape"));
            }
            // go-envparse marks the end before the byte here (kept: same strings).
            significant = len;
            put(out, &mut len, b)?;
            continue;
        }
        match (mode, b) {
            (Mode::Plain, b'"') => mode = Mode::Double,
            (Mode::Plain, b'\'') => mode = Mode::Single,
            (Mode::Plain, b'#') => return Ok(significant),
            (Mode::Plain, b' ') => put(out, &mut len, b)?,
            (Mode::Double, b'"') | (Mode::Single, b'\'') => mode = Mode::Plain,
            (Mode::Double, b'\\') => mode = Mode::Escape,
            (Mode::Escape, _) => {
                let decoded = match b {
                    b'"' | b'\\' | b'/' => b,
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'u' => {
                        let (c, taken) = unicode_escape(value.get(i..).unwrap_or_default())?;
                        i += taken;
                        let mut utf8 = [0u8; 4];
                        for &byte in c.encode_utf8(&mut utf8).as_bytes() {
                            put(out, &mut len, byte)?;
                        }
                        significant = len;
                        mode = Mode::Double;
                        continue;
                    }
                    _ => return Err(ParseError::Malformed("a known escape")),
                };
                put(out, &mut len, decoded)?;
                significant = len;
                mode = Mode::Double;
            }
            _ => {
                put(out, &mut len, b)?;
                significant = len;
            }
        }
    }
    match mode {
        Mode::Plain => Ok(len),
        _ => Err(ParseError::Malformed("a closed quote")),
    }
}

/// Appends `b` to the decoded value.
fn put(out: &mut [u8], len: &mut usize, b: u8) -> Result<(), ParseError> {
    *out.get_mut(*len).ok_or(ParseError::BufferTooSmall)? = b;
    *len += 1;
    Ok(())
}

/// After `\u`: four hex digits, and for a UTF-16 surrogate `\uXXXX` more (an invalid
/// pair is U+FFFD, as Go's `utf16.DecodeRune`). Returns the char and the bytes taken.
fn unicode_escape(rest: &[u8]) -> Result<(char, usize), ParseError> {
    let first = hex4(rest)?;
    if !(0xD800..0xE000).contains(&first) {
        return Ok((char::from_u32(first).unwrap_or('\u{FFFD}'), 4));
    }
    match rest.get(4..10) {
        Some([b'\\', b'u', tail @ ..]) => {
            let second = hex4(tail)?;
            let pair = (0xD800..0xDC00).contains(&first) && (0xDC00..0xE000).contains(&second);
            let c = if pair {
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            } else {
                None
            };
            Ok((c.unwrap_or('\u{FFFD}'), 10))
        }
        _ => Err(ParseError::Malformed("a surrogate pair")),
    }
}

fn hex4(bytes: &[u8]) -> Result<u32, ParseError> {
    let digits = bytes.get(..4).ok_or(ParseError::Malformed("four hex digits"))?;
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char)
            .to_digit(16)
            .ok_or(ParseError::Malformed("four hex digits"))?;
        Ok(acc * 16 + v)
    })
}

/// node_exporter's `node_os_version`: the leading `[0-9]+\.?[0-9]*` of `VERSION_ID` as
/// a number (`12`, `24.04`; `2024.1.5` → 2024.1); `None` when it has none. Up to 15
/// digits the result is correctly rounded (one division of exact integers), as Go's
/// `ParseFloat`; digits past the 15th (no VERSION_ID has them) are dropped.
pub fn version_number(version_id: &str) -> Option<f64> {
    let bytes = version_id.as_bytes();
    let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if int_len == 0 {
        return None;
    }
    let frac = match bytes.get(int_len) {
        Some(b'.') => bytes.get(int_len + 1..).unwrap_or_default(),
        _ => &[],
    };
    let frac_len = frac.iter().take_while(|b| b.is_ascii_digit()).count();
    let digits = bytes.get(..int_len).unwrap_or_default().iter();
    let frac_digits = frac.get(..frac_len).unwrap_or_default().iter();
    let (mut mantissa, mut scale, mut int_left) = (0u64, 1u64, int_len);
    for &d in digits.chain(frac_digits).take(15) {
        mantissa = mantissa * 10 + u64::from(d - b'0');
        match int_left.checked_sub(1) {
            Some(left) => int_left = left,
            None => scale *= 10,
        }
    }
    // Integer digits past the 15th still count as powers of ten.
    let value = mantissa as f64 / scale as f64;
    Some((0..int_left).fold(value, |v, _| v * 10.0))
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let mut buf = [0u8; 512];
    if let Some(buf) = buf.get_mut(..input.len())
        && let Ok(os) = parse_os_release(input, buf)
    {
        let _ = version_number(os.values[VERSION_ID]);
    }
    for line in input.split(|&b| b == b'\n').take(64) {
        let mut out = [0u8; 512];
        let _ = parse_line(line, &mut out);
    }
    let _ = version_number(core::str::from_utf8(input).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;

    use super::*;

    fn parse(input: &[u8]) -> Result<[std::string::String; 12], ParseError> {
        let mut buf = vec![0u8; input.len()];
        let os = parse_os_release(input, &mut buf)?;
        Ok(os.values.map(std::string::String::from))
    }

    fn value(input: &str) -> Result<std::string::String, ParseError> {
        let mut out = [0u8; 256];
        let line = std::format!("ID={input}");
        match parse_line(line.as_bytes(), &mut out)? {
            Some((_, v)) => Ok(std::string::String::from_utf8(v.to_vec()).unwrap()),
            None => Ok(std::string::String::new()),
        }
    }

    #[test]
    fn raspberry_pi_os_and_ubuntu() {
        let pi4 = parse(fixture!("pi4/etc/os-release")).unwrap();
        assert_eq!(
            pi4,
            [
                "",
                "raspbian",
                "debian",
                "",
                "",
                "Raspbian GNU/Linux",
                "Raspbian GNU/Linux 12 (bookworm)",
                "",
                "",
                "12 (bookworm)",
                "bookworm",
                "12"
            ]
        );
        let pizero = parse(fixture!("pizero/usr/lib/os-release")).unwrap();
        assert_eq!(pizero[6], "Raspbian GNU/Linux 9 (stretch)");
        assert_eq!(pizero[11], "9");
        let x86 = parse(fixture!("x86/etc/os-release")).unwrap();
        assert_eq!(
            [&x86[1], &x86[2], &x86[6], &x86[9], &x86[11]],
            ["ubuntu", "debian", "Ubuntu 24.04.1 LTS", "24.04.1 LTS (Noble Numbat)", "24.04"]
        );
    }

    #[test]
    fn go_envparse_quoting() {
        assert_eq!(value("debian").unwrap(), "debian");
        assert_eq!(value("\"Debian GNU/Linux\"").unwrap(), "Debian GNU/Linux");
        assert_eq!(value("'it''s'").unwrap(), "its");
        assert_eq!(value("'a \"b\" \\n'").unwrap(), "a \"b\" \\n");
        assert_eq!(value("\"a \\\"b\\\" \\\\ \\/\"").unwrap(), "a \"b\" \\ /");
        assert_eq!(value("\"tab\\there\"").unwrap(), "tab\there");
        assert_eq!(value("\"\\u00e9t\\u00E9\"").unwrap(), "été");
        assert_eq!(value("\"\\ud83d\\ude00\"").unwrap(), "😀");
        assert_eq!(value("\"\\ud83dx\\u0041\"").unwrap_err(), ParseError::Malformed("a surrogate pair"));
        assert_eq!(value("\"\\ud83d\\u0041\"").unwrap(), "\u{FFFD}");
        assert_eq!(value("x # comment").unwrap(), "x");
        assert_eq!(value("\"x # not a comment\"").unwrap(), "x # not a comment");
        assert_eq!(value("a b  c").unwrap(), "a b  c");
        assert_eq!(value("pre\"quoted\"post").unwrap(), "prequotedpost");
        assert_eq!(value("").unwrap(), "");
        assert_eq!(value("\"\"").unwrap(), "");
        assert_eq!(value("\"open").unwrap_err(), ParseError::Malformed("a closed quote"));
        assert_eq!(value("'open").unwrap_err(), ParseError::Malformed("a closed quote"));
        assert_eq!(value("\"end\\").unwrap_err(), ParseError::Malformed("a closed quote"));
        assert_eq!(value("\"\\q\"").unwrap_err(), ParseError::Malformed("a known escape"));
        assert_eq!(value("\"\\u12\"").unwrap_err(), ParseError::Malformed("four hex digits"));
        assert_eq!(
            value("a\tb").unwrap_err(),
            ParseError::Malformed("no control characters in a value")
        );
    }

    #[test]
    fn lines_keys_and_files() {
        let mut out = [0u8; 64];
        assert_eq!(parse_line(b"  # comment", &mut out), Ok(None));
        assert_eq!(parse_line(b"   ", &mut out), Ok(None));
        assert_eq!(parse_line(b"ID=", &mut out), Ok(None));
        assert_eq!(
            parse_line(b"export ID = x ", &mut out),
            Ok(Some((&b"ID"[..], &b"x"[..])))
        );
        assert_eq!(parse_line(b"noequals", &mut out), Err(ParseError::MissingField("=")));
        assert_eq!(parse_line(b"=x", &mut out), Err(ParseError::MissingField("key")));
        assert_eq!(
            parse_line(b"1D=x", &mut out),
            Err(ParseError::Malformed("a key of [A-Za-z0-9_./]"))
        );
        assert_eq!(
            parse_line(b"I-D=x", &mut out),
            Err(ParseError::Malformed("a key of [A-Za-z0-9_./]"))
        );
        // The last of a repeated key wins; an empty value leaves the earlier one.
        let os = parse(b"ID=a\nID=b\nNAME=n\nNAME=\n").unwrap();
        assert_eq!((os[1].as_str(), os[5].as_str()), ("b", "n"));
        // One bad line fails the file, as node_exporter then sends nothing.
        assert_eq!(
            parse(b"ID=debian\nNAME=\"Debian\n"),
            Err(ParseError::Malformed("a closed quote"))
        );
        assert_eq!(parse(b"").unwrap(), [""; 12].map(std::string::String::from));
    }

    #[test]
    fn version_numbers_as_node_exporter() {
        assert_eq!(version_number("12"), Some(12.0));
        assert_eq!(version_number("24.04"), Some(24.04));
        assert_eq!(version_number("2024.1.5"), Some(2024.1));
        assert_eq!(version_number("9."), Some(9.0));
        assert_eq!(version_number("3.19.1"), Some(3.19));
        assert_eq!(version_number("0.1"), Some(0.1));
        assert_eq!(version_number("rolling"), None);
        assert_eq!(version_number(""), None);
        assert_eq!(version_number(".5"), None);
        assert_eq!(version_number("39.1234567"), Some(39.1234567));
        let long = version_number("1234567890123456789").unwrap();
        assert!((long / 1.234_567_890_123_456_8e18 - 1.0).abs() < 1e-14, "{long}");
    }
}
