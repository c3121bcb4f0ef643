//! Number and text primitives shared by the parsers: checked decimal integers and
//! fixed-point decimals without floats.

use super::ParseError;

/// `bytes` without leading and trailing ASCII whitespace.
pub fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Parses an unsigned decimal integer (ASCII digits only, optional leading `+`).
pub fn parse_u64(bytes: &[u8]) -> Result<u64, ParseError> {
    let digits = match bytes.split_first() {
        Some((b'+', rest)) => rest,
        _ => bytes,
    };
    if digits.is_empty() {
        return Err(ParseError::InvalidNumber);
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(ParseError::InvalidNumber);
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::Overflow)?;
    }
    Ok(value)
}

/// Parses a signed decimal integer (optional leading `-` or `+`).
pub fn parse_i64(bytes: &[u8]) -> Result<i64, ParseError> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.first() == Some(&b'+') {
        return Err(ParseError::InvalidNumber);
    }
    let magnitude = parse_u64(digits)?;
    if negative {
        // -(2^63) is representable although 2^63 is not.
        if magnitude == 1u64 << 63 {
            return Ok(i64::MIN);
        }
        i64::try_from(magnitude)
            .map(|v| -v)
            .map_err(|_| ParseError::Overflow)
    } else {
        i64::try_from(magnitude).map_err(|_| ParseError::Overflow)
    }
}

/// Parses an unsigned decimal with a fraction (`"0.52"`, `"12345.67"`, `"3"`) into an
/// integer scaled by `10^frac_digits`, without floats: `("0.52", 2)` → `52`,
/// `("1.5", 2)` → `150`. Fraction digits beyond `frac_digits` are truncated.
pub fn parse_decimal_fixed(bytes: &[u8], frac_digits: u32) -> Result<u64, ParseError> {
    let (int_part, frac_part) = match bytes.iter().position(|&b| b == b'.') {
        Some(dot) => (
            bytes.get(..dot).unwrap_or_default(),
            bytes.get(dot + 1..).unwrap_or_default(),
        ),
        None => (bytes, &[][..]),
    };
    if int_part.is_empty() || int_part.first() == Some(&b'+') {
        return Err(ParseError::InvalidNumber);
    }
    let mut value = parse_u64(int_part)?;
    if bytes.len() > int_part.len() && frac_part.is_empty() {
        // "12." has a dot but no fraction digits.
        return Err(ParseError::InvalidNumber);
    }
    for i in 0..frac_digits {
        let digit = match frac_part.get(i as usize) {
            Some(&b) if b.is_ascii_digit() => u64::from(b - b'0'),
            Some(_) => return Err(ParseError::InvalidNumber),
            None => 0,
        };
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or(ParseError::Overflow)?;
    }
    // Truncated digits must still be digits.
    if frac_part
        .get(frac_digits as usize..)
        .is_some_and(|rest| !rest.iter().all(u8::is_ascii_digit))
    {
        return Err(ParseError::InvalidNumber);
    }
    Ok(value)
}

/// Parses a hexadecimal `u32` without `0x` prefix (`"50005"`).
pub(crate) fn parse_hex_u32(bytes: &[u8]) -> Result<u32, ParseError> {
    if bytes.is_empty() {
        return Err(ParseError::InvalidNumber);
    }
    let mut value: u32 = 0;
    for &b in bytes {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ParseError::InvalidNumber),
        };
        value = value
            .checked_mul(16)
            .and_then(|v| v.checked_add(u32::from(digit)))
            .ok_or(ParseError::Overflow)?;
    }
    Ok(value)
}

/// The lines of a file (split at `\n`, like `split(|b| *b == b'\n')`: a trailing
/// newline gives a last empty line), lazily: the row iterators' shared base. A plain
/// index loop: the release profile (opt-level "z") does not inline `Split`'s closure,
/// which made the split a call per byte.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    /// The text not yet returned; `None` once the last line was.
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut i = 0;
        while i < rest.len() {
            if rest[i] == b'\n' {
                self.rest = rest.get(i + 1..);
                return rest.get(..i);
            }
            i += 1;
        }
        self.rest = None;
        Some(rest)
    }
}

/// Splits `input` into [`Lines`].
pub(crate) fn lines(input: &[u8]) -> Lines<'_> {
    Lines { rest: Some(input) }
}

/// The non-empty lines of a file that are not only whitespace.
#[derive(Debug, Clone)]
pub(crate) struct NonBlankLines<'a>(pub(crate) Lines<'a>);

impl<'a> Iterator for NonBlankLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let line = self.0.next()?;
            if !is_blank(line) {
                return Some(line);
            }
        }
    }
}

/// Whether `line` is empty or only ASCII whitespace.
fn is_blank(line: &[u8]) -> bool {
    let mut i = 0;
    while i < line.len() {
        if !line[i].is_ascii_whitespace() {
            return false;
        }
        i += 1;
    }
    true
}

/// The whitespace-separated words of a line (runs of ASCII whitespace separate, none is
/// empty), by an index loop; see [`Lines`].
#[derive(Debug, Clone)]
pub(crate) struct Words<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Words<'a> {
    /// The words of `line`.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Words { line, pos: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let line = self.line;
        let mut i = self.pos;
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < line.len() && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        self.pos = i;
        if i == start { None } else { line.get(start..i) }
    }
}

/// Formats `n` in decimal into `buf` (label values such as `cpu="3"`), no allocation.
pub(crate) fn fmt_u32(n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("")
}

/// Runs every helper over `input` and its first words (see [`super::exercise`]).
pub(super) fn exercise(input: &[u8]) {
    for word in core::iter::once(input).chain(super::words(input).take(64)) {
        let _ = parse_u64(word);
        let _ = parse_i64(word);
        let _ = parse_hex_u32(word);
        for frac in [0, 2, 9] {
            let _ = parse_decimal_fixed(word, frac);
        }
    }
    let _ = trim_ascii(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index-loop tokenizers split exactly like `slice::split` (lines) and
    /// `split(is_ascii_whitespace)` without empty pieces (words).
    #[test]
    fn tokenizers_split_like_slice_split() {
        let cases: [&[u8]; 12] = [
            b"",
            b"\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\n\na b\n",
            b"  lead  and trail  ",
            b"\ttab\x0cff\rcr \n x",
            b"TcpExt: 1 2 3\nTcpExt: 4 5 6\n",
            b"   ",
            b"one",
            b"x\n\n\n",
        ];
        for case in cases {
            let want: Vec<&[u8]> = case.split(|&b| b == b'\n').collect();
            assert_eq!(lines(case).collect::<Vec<_>>(), want, "{case:?}");
            let want: Vec<&[u8]> = case
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
                .collect();
            assert_eq!(Words::new(case).collect::<Vec<_>>(), want, "{case:?}");
            let want: Vec<&[u8]> = case
                .split(|&b| b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
                .collect();
            assert_eq!(
                NonBlankLines(lines(case)).collect::<Vec<_>>(),
                want,
                "{case:?}"
            );
        }
    }

    #[test]
    fn numbers_as_label_text() {
        let mut b = [0u8; 10];
        assert_eq!(fmt_u32(0, &mut b), "0");
        assert_eq!(fmt_u32(17, &mut b), "17");
        assert_eq!(fmt_u32(u32::MAX, &mut b), "4294967295");
    }

    #[test]
    fn unsigned() {
        assert_eq!(parse_u64(b"0"), Ok(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_u64(b"18446744073709551616"),
            Err(ParseError::Overflow)
        );
        assert_eq!(parse_u64(b""), Err(ParseError::InvalidNumber));
        assert_eq!(parse_u64(b"12a"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_u64(b"-1"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_u64(b"+"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn signed() {
        assert_eq!(parse_i64(b"-23125"), Ok(-23125));
        assert_eq!(parse_i64(b"+7"), Ok(7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(ParseError::Overflow));
        assert_eq!(parse_i64(b"-"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_i64(b"-+1"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_i64(b"--1"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn fixed_point_without_floats() {
        assert_eq!(parse_decimal_fixed(b"0.52", 2), Ok(52));
        assert_eq!(parse_decimal_fixed(b"12.05", 2), Ok(1205));
        assert_eq!(parse_decimal_fixed(b"1.5", 2), Ok(150));
        assert_eq!(parse_decimal_fixed(b"3", 2), Ok(300));
        assert_eq!(parse_decimal_fixed(b"0.529", 2), Ok(52));
        assert_eq!(
            parse_decimal_fixed(b".5", 2),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_decimal_fixed(b"1.", 2),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_decimal_fixed(b"1.x", 2),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_decimal_fixed(b"1.23x", 2),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_decimal_fixed(b"1.2.3", 2),
            Err(ParseError::InvalidNumber)
        );
        assert_eq!(
            parse_decimal_fixed(b"184467440737095517", 2),
            Err(ParseError::Overflow)
        );
        // 184467440737095516 × 100 still fits u64.
        assert_eq!(
            parse_decimal_fixed(b"184467440737095516", 2),
            Ok(18_446_744_073_709_551_600)
        );
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex_u32(b"50005"), Ok(0x50005));
        assert_eq!(parse_hex_u32(b"ffffFFFF"), Ok(u32::MAX));
        assert_eq!(parse_hex_u32(b"100000000"), Err(ParseError::Overflow));
        assert_eq!(parse_hex_u32(b"0x1"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_hex_u32(b""), Err(ParseError::InvalidNumber));
    }
}
