//! Go's spelling of strings, numbers and protobuf messages, for error messages that
//! must read exactly as the Pushgateway's (its clients and tests compare them).
//!
//! - [`quote_str`]: `strconv.Quote` (`%q` of a string): `"a\"b\xff"`.
//! - [`quote_byte`]: `%q` of a byte (`strconv.QuoteRune`): `'x'`, `'\n'`.
//! - [`format_g`]: `strconv.FormatFloat(v, 'g', -1, 64)`: `3`, `1.5e+09`, `+Inf`.
//! - [`metric_text`]: the compact protobuf text of a `dto.Metric` as Go's
//!   `golang/protobuf` v1 prints it inside `collected metric "x" { … }` errors.

use std::fmt::Write;

use super::expo::Value;

/// `strconv.Quote` of bytes (invalid UTF-8 bytes as `\xNN`).
pub fn quote_str(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c, '"');
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// `%q` of a Go byte: the rune with that code point, single-quoted.
pub fn quote_byte(b: u8) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, char::from(b), '\'');
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest digits that read back, in
/// exponent form when the decimal exponent is below -4 or at least 6
/// (`1.234567e+06`), with a signed exponent of at least two digits.
pub fn format_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d.ddddde<exp>`.
    let e = format!("{:e}", v.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let mut out = format!("{sign}{first}");
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return out;
    }
    // Fixed notation.
    let mut out = String::from(sign);
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// Go protobuf v1's compact text of a `dto.Metric` with sorted `labels`:
/// `label:<name:"a" value:"b" > gauge:<value:3 > ` (note the trailing space).
pub fn metric_text(labels: &[(String, String)], kind_field: &str, value: &Value) -> String {
    let mut out = String::new();
    for (n, v) in labels {
        let _ = write!(
            out,
            "label:<name:{} value:{} > ",
            proto_quote(n.as_bytes()),
            proto_quote(v.as_bytes())
        );
    }
    match value {
        Value::Scalar(v) => {
            let _ = write!(out, "{kind_field}:<value:{} > ", proto_float(*v));
        }
        Value::Summary {
            count,
            sum,
            quantiles,
        } => {
            out.push_str("summary:<");
            if let Some(c) = count {
                let _ = write!(out, "sample_count:{c} ");
            }
            if let Some(s) = sum {
                let _ = write!(out, "sample_sum:{} ", proto_float(*s));
            }
            for (q, v) in quantiles {
                let _ = write!(
                    out,
                    "quantile:<quantile:{} value:{} > ",
                    proto_float(*q),
                    proto_float(*v)
                );
            }
            out.push_str("> ");
        }
        Value::Histogram {
            count,
            sum,
            buckets,
        } => {
            out.push_str("histogram:<");
            if let Some(c) = count {
                let _ = write!(out, "sample_count:{c} ");
            }
            if let Some(s) = sum {
                let _ = write!(out, "sample_sum:{} ", proto_float(*s));
            }
            for (le, c) in buckets {
                let _ = write!(
                    out,
                    "bucket:<cumulative_count:{c} upper_bound:{} > ",
                    proto_float(*le)
                );
            }
            out.push_str("> ");
        }
    }
    out
}

/// Protobuf text's float: `%g`-style, with `inf`, `-inf`, `nan`.
fn proto_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format_g(v)
    }
}

/// Protobuf text's string: double-quoted, bytes outside printable ASCII as octal.
fn proto_quote(b: &[u8]) -> String {
    let mut out = String::from("\"");
    for &c in b {
        match c {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\'' => out.push_str("\\'"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => {
                let _ = write!(out, "\\{c:03o}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quoting() {
        assert_eq!(quote_str(b"a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote_str(b"\xff"), "\"\\xff\"");
        assert_eq!(quote_str("é".as_bytes()), "\"é\"");
        assert_eq!(quote_byte(b'x'), "'x'");
        assert_eq!(quote_byte(b'\n'), "'\\n'");
        assert_eq!(quote_byte(b'\''), "'\\''");
        assert_eq!(quote_byte(0), "'\\x00'");
    }

    #[test]
    fn go_g_format() {
        for (v, s) in [
            (3.0, "3"),
            (0.5, "0.5"),
            (1234567.0, "1.234567e+06"),
            (123456.0, "123456"),
            (1.7965584784054537e9, "1.7965584784054537e+09"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (100.0, "100"),
        ] {
            assert_eq!(format_g(v), s, "{v}");
        }
    }

    #[test]
    fn metric_text_as_go_prints_it() {
        let labels = vec![
            ("instance".to_string(), String::new()),
            ("job".to_string(), "j2".to_string()),
        ];
        assert_eq!(
            metric_text(&labels, "untyped", &Value::Scalar(3.0)),
            "label:<name:\"instance\" value:\"\" > label:<name:\"job\" value:\"j2\" > untyped:<value:3 > "
        );
    }
}
