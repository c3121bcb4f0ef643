//! InfluxDB line protocol, as Telegraf writes it.
//!
//! `measurement,tag=value,… field=value,… timestamp\n`
//!
//! - **Escaping per element**: the measurement escapes `,` and space; tag keys, tag
//!   values and field keys escape `,`, `=` and space; string field values escape `"`
//!   and `\`. Tab, newline, form feed and carriage return (which would end the line)
//!   are written as `\t`, `\n`, `\f`, `\r`, and backslashes at the end of an element or
//!   before an escaped character are dropped (the whole run), as Telegraf does (no
//!   line-protocol reader can tell such a backslash from an escape, and one left over
//!   from a run would escape the separator). Other backslashes are written as they
//!   are, which InfluxDB 1.x reads back literally (2.x reads `\\` as one backslash).
//! - **Tags** are written sorted by key (byte order, as InfluxDB wants them); tags with
//!   an empty key or value are left out (line protocol cannot carry them) and a repeated
//!   key keeps its first value.
//! - **Fields**: floats as the shortest round-trip decimal; NaN and ±Inf, which line
//!   protocol cannot carry, are skipped; integers with `i`; unsigned with `u` (InfluxDB
//!   2.x only; the catalog path never produces them, see
//!   [`FieldKind`]); booleans `true`/`false`. A line left
//!   without fields is not written at all.
//! - **Timestamps** are Unix milliseconds in, written in the requested [`Precision`].
//!
//! ```
//! use pimon_protocol::text::influx::{write_line, FieldValue, Precision, Tag};
//! let mut out = String::new();
//! let written = write_line(
//!     &mut out,
//!     "net",
//!     &[Tag::new("interface", "eth0"), Tag::new("host", "pi 4")],
//!     [("bytes_recv", FieldValue::Integer(1234)), ("drop_in", FieldValue::Float(f64::NAN))],
//!     Some(1_700_000_000_123),
//!     Precision::Milliseconds,
//! ).unwrap();
//! assert!(written);
//! assert_eq!(out, "net,host=pi\\ 4,interface=eth0 bytes_recv=1234i 1700000000123\n");
//! ```

use core::fmt::{self, Write};

use crate::catalog::{FieldKind, InfluxSchema, Metric, Number, TagRule};
use crate::value::Value;

/// Timestamp precision of a line (the `precision` parameter of InfluxDB's `/write`).
///
/// The one precision type of the workspace: the collector's `--print influx`, the
/// aggregator's rendering of lines and its outputs' `precision=` parameter all use it,
/// so the precision lines are rendered in and the one announced cannot differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Nanoseconds (InfluxDB's default).
    #[default]
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds (rounded down).
    Seconds,
}

impl Precision {
    /// The value of InfluxDB's `precision` query parameter: `ns`, `us`, `ms`, `s`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
        }
    }

    /// The value of InfluxDB 1.x's `precision` query parameter: `ns`, `u`, `ms`, `s`
    /// (1.x spells microseconds `u`; 2.x and VictoriaMetrics take [`Precision::as_str`]).
    ///
    /// ```
    /// use pimon_protocol::text::influx::Precision;
    /// assert_eq!(Precision::Microseconds.v1_param(), "u");
    /// assert_eq!(Precision::Microseconds.as_str(), "us");
    /// assert_eq!(Precision::Seconds.v1_param(), "s");
    /// assert_eq!(Precision::default(), Precision::Nanoseconds);
    /// ```
    pub const fn v1_param(self) -> &'static str {
        match self {
            Precision::Microseconds => "u",
            other => other.as_str(),
        }
    }

    /// Parses `ns`, `us` (or `u`), `ms`, `s`.
    pub fn parse(s: &str) -> Option<Precision> {
        match s {
            "ns" | "n" => Some(Precision::Nanoseconds),
            "us" | "u" => Some(Precision::Microseconds),
            "ms" => Some(Precision::Milliseconds),
            "s" => Some(Precision::Seconds),
            _ => None,
        }
    }

    /// Converts Unix milliseconds to this precision (`i128`: no overflow for any input).
    pub fn from_unix_ms(self, ms: i64) -> i128 {
        let ms = i128::from(ms);
        match self {
            Precision::Nanoseconds => ms * 1_000_000,
            Precision::Microseconds => ms * 1_000,
            Precision::Milliseconds => ms,
            Precision::Seconds => ms.div_euclid(1_000),
        }
    }
}

/// A typed field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// Float; NaN and infinities are skipped.
    Float(f64),
    /// Signed integer, written with `i`.
    Integer(i64),
    /// Unsigned integer, written with `u` (InfluxDB 2.x; 1.x rejects it).
    UInteger(u64),
    /// Boolean.
    Boolean(bool),
    /// String, written between double quotes.
    String(&'a str),
}

impl FieldValue<'_> {
    /// Whether line protocol can carry the value (false for NaN and ±Inf).
    pub fn is_writable(&self) -> bool {
        match self {
            FieldValue::Float(v) => v.is_finite(),
            _ => true,
        }
    }
}

/// One tag. Its value is `prefix` followed by `value` (so a [`TagRule::Prefix`] needs
/// no buffer); both are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    /// Tag key.
    pub key: &'a str,
    /// Written before `value`; usually empty.
    pub prefix: &'a str,
    /// Tag value (after `prefix`).
    pub value: &'a str,
}

impl<'a> Tag<'a> {
    /// A tag with a plain value.
    pub const fn new(key: &'a str, value: &'a str) -> Self {
        Tag {
            key,
            prefix: "",
            value,
        }
    }

    /// The tag `key` derived from a Prometheus label value by a catalog rule.
    pub fn with_rule(key: &'a str, rule: TagRule, label_value: &'a str) -> Self {
        let (prefix, value) = rule.parts(label_value);
        Tag { key, prefix, value }
    }

    fn is_writable(&self) -> bool {
        !self.key.is_empty() && (!self.prefix.is_empty() || !self.value.is_empty())
    }
}

/// Most tags one catalog row can produce: `host`, up to
/// [`MAX_LABELS`](crate::frame::MAX_LABELS) instance tags, and its constant tags.
pub const MAX_TAGS: usize = 8;

/// The tags of a catalog row's line, built without allocation by [`metric_tags`].
#[derive(Debug, Clone, Copy)]
pub struct TagSet<'a> {
    tags: [Tag<'a>; MAX_TAGS],
    len: usize,
}

impl<'a> TagSet<'a> {
    /// An empty set.
    pub const fn new() -> Self {
        TagSet {
            tags: [Tag::new("", ""); MAX_TAGS],
            len: 0,
        }
    }

    /// Adds a tag; returns false (and adds nothing) when the set is full.
    pub fn push(&mut self, tag: Tag<'a>) -> bool {
        match self.tags.get_mut(self.len) {
            Some(slot) => {
                *slot = tag;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Replaces the tag with `tag`'s key, or adds `tag` (false when the set is full).
    pub fn set(&mut self, tag: Tag<'a>) -> bool {
        let len = self.len;
        match self
            .tags
            .get_mut(..len)
            .and_then(|tags| tags.iter_mut().find(|t| t.key == tag.key))
        {
            Some(slot) => {
                *slot = tag;
                true
            }
            None => self.push(tag),
        }
    }

    /// The tags, in the order added.
    pub fn as_slice(&self) -> &[Tag<'a>] {
        self.tags.get(..self.len).unwrap_or(&[])
    }
}

impl Default for TagSet<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The tags of a line for a catalog row: `host=<host>` (left out when empty), one tag
/// per instance label (value from `label_values`, in [`Metric::labels`] order, shaped
/// by [`InfluxSchema::tag_rules`]) and the schema's constant tags. A label without a
/// value yields no tag.
pub fn metric_tags<'a>(
    schema: &'a InfluxSchema,
    host: &'a str,
    label_values: &[&'a str],
) -> TagSet<'a> {
    let mut set = TagSet::new();
    if !host.is_empty() {
        set.push(Tag::new("host", host));
    }
    for (i, key) in schema.tags.iter().enumerate() {
        // An empty key leaves its label out: it takes no place in the set (`node_os_info`
        // has 12 labels, the set holds 8 tags).
        if key.is_empty() {
            continue;
        }
        if let Some(value) = label_values.get(i) {
            set.push(Tag::with_rule(key, schema.tag_rule(i), value));
        }
    }
    for (k, v) in schema.const_tags {
        set.push(Tag::new(k, v));
    }
    set
}

/// The field value of a raw sample under `schema`: its conversion, then its kind.
/// `None` when the value cannot be written (NaN, ±Inf).
pub fn field_value(schema: &InfluxSchema, raw: Value, user_hz: u16) -> Option<FieldValue<'static>> {
    let n = schema.conversion.convert(raw, user_hz);
    let value = match schema.kind {
        FieldKind::Float => FieldValue::Float(n.as_f64()),
        FieldKind::Integer => match n {
            Number::U64(v) => FieldValue::Integer(i64::try_from(v).unwrap_or(i64::MAX)),
            Number::I64(v) => FieldValue::Integer(v),
            // `as` truncates toward zero and saturates; NaN/Inf are filtered below.
            Number::F64(v) if v.is_finite() => FieldValue::Integer(v as i64),
            Number::F64(v) => FieldValue::Float(v),
        },
    };
    value.is_writable().then_some(value)
}

/// Writes one line with every writable field of `fields`; returns whether a line was
/// written (false when the measurement is empty or no field is writable: nothing at
/// all is written then). Fields with an empty key are skipped. Merge the fields of one
/// measurement, tag set and timestamp into one call, as Telegraf does.
pub fn write_line<'f, W, I>(
    w: &mut W,
    measurement: &str,
    tags: &[Tag<'_>],
    fields: I,
    timestamp_ms: Option<i64>,
    precision: Precision,
) -> Result<bool, fmt::Error>
where
    W: Write,
    I: IntoIterator<Item = (&'f str, FieldValue<'f>)>,
{
    if measurement.is_empty() {
        return Ok(false);
    }
    let mut started = false;
    for (key, value) in fields {
        if key.is_empty() || !value.is_writable() {
            continue;
        }
        if started {
            w.write_char(',')?;
        } else {
            write_escaped(w, measurement, Element::Measurement)?;
            write_sorted_tags(w, tags)?;
            w.write_char(' ')?;
            started = true;
        }
        write_escaped(w, key, Element::Key)?;
        w.write_char('=')?;
        write_field_value(w, value)?;
    }
    if started {
        if let Some(ms) = timestamp_ms {
            w.write_char(' ')?;
            match i64::try_from(precision.from_unix_ms(ms)) {
                Ok(t) => write_integer(w, t, "")?,
                Err(_) => write!(w, "{}", precision.from_unix_ms(ms))?,
            }
        }
        w.write_char('\n')?;
    }
    Ok(started)
}

/// Writes the one-field line of a catalog row's raw sample (the `--print=influx` of a
/// single value). Returns false when the row has no InfluxDB schema or the value is
/// not writable. To merge fields like Telegraf, use [`metric_tags`], [`field_value`]
/// and [`write_line`].
#[allow(clippy::too_many_arguments)]
pub fn write_metric_line<W: Write>(
    w: &mut W,
    metric: &Metric,
    host: &str,
    label_values: &[&str],
    raw: Value,
    user_hz: u16,
    timestamp_ms: Option<i64>,
    precision: Precision,
) -> Result<bool, fmt::Error> {
    let Some(schema) = metric.influx.as_ref() else {
        return Ok(false);
    };
    let Some(value) = field_value(schema, raw, user_hz) else {
        return Ok(false);
    };
    let tags = metric_tags(schema, host, label_values);
    write_line(
        w,
        schema.measurement,
        tags.as_slice(),
        [(schema.field, value)],
        timestamp_ms,
        precision,
    )
}

/// Writes the writable tags in key order, each key once (first occurrence wins);
/// selection by repeated minimum, so the caller's slice needs no sorting or copying.
fn write_sorted_tags<W: Write>(w: &mut W, tags: &[Tag<'_>]) -> fmt::Result {
    // A line has a handful of tags: an insertion sort of their indices (stable, so
    // the first of equal keys comes first) in one pass; more than fit are sorted by
    // repeated minimum, as before.
    let mut order = [0u8; MAX_TAGS];
    if tags.len() > MAX_TAGS {
        return write_sorted_tags_by_minimum(w, tags);
    }
    let mut n = 0;
    for (i, tag) in tags.iter().enumerate() {
        if !tag.is_writable() {
            continue;
        }
        let mut at = n;
        while at > 0 && tags[usize::from(order[at - 1])].key.as_bytes() > tag.key.as_bytes() {
            order[at] = order[at - 1];
            at -= 1;
        }
        order[at] = i as u8;
        n += 1;
    }
    let mut previous: Option<&str> = None;
    for &i in &order[..n] {
        let tag = &tags[usize::from(i)];
        if previous == Some(tag.key) {
            continue;
        }
        w.write_char(',')?;
        write_escaped(w, tag.key, Element::Key)?;
        w.write_char('=')?;
        write_tag_value(w, tag)?;
        previous = Some(tag.key);
    }
    Ok(())
}

fn write_sorted_tags_by_minimum<W: Write>(w: &mut W, tags: &[Tag<'_>]) -> fmt::Result {
    let mut previous: Option<&str> = None;
    loop {
        let mut next: Option<&Tag<'_>> = None;
        for tag in tags.iter().filter(|t| t.is_writable()) {
            let after_previous = previous.is_none_or(|p| tag.key.as_bytes() > p.as_bytes());
            let smaller = next.is_none_or(|n| tag.key.as_bytes() < n.key.as_bytes());
            if after_previous && smaller {
                next = Some(tag);
            }
        }
        let Some(tag) = next else { return Ok(()) };
        w.write_char(',')?;
        write_escaped(w, tag.key, Element::Key)?;
        w.write_char('=')?;
        write_tag_value(w, tag)?;
        previous = Some(tag.key);
    }
}

/// A tag value split in prefix and value is escaped as one string: a backslash that
/// ends the prefix sees the value's first character.
fn write_tag_value<W: Write>(w: &mut W, tag: &Tag<'_>) -> fmt::Result {
    if plain(tag.prefix, Element::Key) && plain(tag.value, Element::Key) {
        w.write_str(tag.prefix)?;
        return w.write_str(tag.value);
    }
    write_escaped_chars(w, tag.prefix.chars().chain(tag.value.chars()), Element::Key)
}

/// Which escaping rule applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Element {
    /// Measurement: `,` and space.
    Measurement,
    /// Tag key, tag value, field key: `,`, `=` and space.
    Key,
}

impl Element {
    fn escapes(self, c: char) -> bool {
        match c {
            ',' | ' ' => true,
            '=' => self == Element::Key,
            _ => false,
        }
    }
}

/// True when `s` is written as it is: none of its bytes is one the escaping rules
/// touch (the common case, written in one piece instead of a character at a time:
/// escaping was the largest single cost of rendering lines at ingest).
fn plain(s: &str, element: Element) -> bool {
    // One table lookup a byte (a match on the byte was ~8 instructions a byte, and
    // every measurement and field key of every line is checked).
    let touched = match element {
        Element::Measurement => ESCAPED_ALWAYS,
        Element::Key => ESCAPED_ALWAYS | ESCAPED_IN_KEY,
    };
    s.bytes().all(|b| ESCAPES[usize::from(b)] & touched == 0)
}

/// [`ESCAPES`]: the byte is escaped (or, a backslash, looked at) in every element.
const ESCAPED_ALWAYS: u8 = 1;
/// [`ESCAPES`]: the byte is escaped in keys and tag values only (`=`).
const ESCAPED_IN_KEY: u8 = 2;

/// What the escaping rules do with each byte value.
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let always = [b'\\', b'\t', b'\n', 0x0c, b'\r', b',', b' '];
    let mut i = 0;
    while i < always.len() {
        table[always[i] as usize] = ESCAPED_ALWAYS;
        i += 1;
    }
    table[b'=' as usize] = ESCAPED_IN_KEY;
    table
};

fn write_escaped<W: Write>(w: &mut W, s: &str, element: Element) -> fmt::Result {
    if plain(s, element) {
        return w.write_str(s);
    }
    write_escaped_chars(w, s.chars(), element)
}

fn write_escaped_chars<W: Write>(
    w: &mut W,
    mut chars: impl Iterator<Item = char> + Clone,
    element: Element,
) -> fmt::Result {
    while let Some(c) = chars.next() {
        // A run of backslashes is kept or dropped as a whole, by what follows the run:
        // dropping only its last one would leave one to escape the separator.
        let after_run = match c {
            '\\' => chars.clone().find(|&n| n != '\\'),
            _ => None,
        };
        write_escaped_char(w, c, after_run, element)?;
    }
    Ok(())
}

/// Writes `c`; for a backslash, `next` is the first character after its run of
/// backslashes (`None` at the end of the element).
fn write_escaped_char<W: Write>(
    w: &mut W,
    c: char,
    next: Option<char>,
    element: Element,
) -> fmt::Result {
    match c {
        '\\' if next.is_none_or(|n| element.escapes(n)) => Ok(()),
        '\t' => w.write_str("\\t"),
        '\n' => w.write_str("\\n"),
        '\u{c}' => w.write_str("\\f"),
        '\r' => w.write_str("\\r"),
        c if element.escapes(c) => {
            w.write_char('\\')?;
            w.write_char(c)
        }
        c => w.write_char(c),
    }
}

/// `v` in decimal, then `suffix` (what `write!(w, "{v}{suffix}")` writes, without
/// `fmt`'s machinery: numbers were a fifth of rendering a real frame's lines).
fn write_integer<W: Write, I: itoa::Integer>(w: &mut W, v: I, suffix: &str) -> fmt::Result {
    let mut digits = itoa::Buffer::new();
    w.write_str(digits.format(v))?;
    if suffix.is_empty() {
        Ok(())
    } else {
        w.write_str(suffix)
    }
}

/// A finite `v` in the shortest decimal that reads back as `v`, never with an exponent,
/// as `Display` writes it (`write!(w, "{v}")`) but for the last digit of a float with
/// two such decimals (a tie: ryu rounds it to even, `Display` up; about 1 float in
/// 5,600 of random bits). The digits are ryu's, without `fmt`'s machinery (float
/// formatting was 6 % of ingesting a real frame with lines); ryu writes an exponent
/// past 1e16 or below 1e-5, so its digits are placed around the decimal point here.
fn write_float<W: Write>(w: &mut W, v: f64) -> fmt::Result {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    if !text.contains('e') {
        // 1e-5 to 1e16 (what most samples are): already positional, but for the `.0`
        // of an integral float (2^53 and above here; smaller ones are integers).
        return w.write_str(text.strip_suffix(".0").unwrap_or(text));
    }
    let (text, negative) = match text.strip_prefix('-') {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // The digits and where the decimal point falls in them (may be outside them).
    let mut digits = [0u8; 40];
    let mut n = 0;
    let mut point = int.len() as i32 + exponent;
    for &d in int.as_bytes().iter().chain(frac.as_bytes()) {
        if n == 0 && d == b'0' {
            point -= 1;
            continue;
        }
        if let Some(slot) = digits.get_mut(n) {
            *slot = d;
            n += 1;
        }
    }
    while n > 0 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = core::str::from_utf8(&digits[..n]).unwrap_or("");
    if negative {
        w.write_char('-')?;
    }
    if digits.is_empty() {
        return w.write_char('0');
    }
    let zeros = |w: &mut W, count: i32| (0..count).try_for_each(|_| w.write_char('0'));
    if point <= 0 {
        w.write_str("0.")?;
        zeros(w, -point)?;
        w.write_str(digits)
    } else if point as usize >= digits.len() {
        w.write_str(digits)?;
        zeros(w, point - digits.len() as i32)
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        w.write_str(whole)?;
        w.write_char('.')?;
        w.write_str(fraction)
    }
}

fn write_field_value<W: Write>(w: &mut W, value: FieldValue<'_>) -> fmt::Result {
    match value {
        // The shortest round-trip decimal, never an exponent (`1` is a float field).
        // An integral float below 2^53 prints as its integer (`Display` writes no
        // `.0`): the digits without the formatting machinery.
        FieldValue::Float(v)
            if v > -9_007_199_254_740_992.0
                && v < 9_007_199_254_740_992.0
                && v == (v as i64) as f64 =>
        {
            if v == 0.0 && v.is_sign_negative() {
                return w.write_str("-0");
            }
            write_integer(w, v as i64, "")
        }
        FieldValue::Float(v) => write_float(w, v),
        FieldValue::Integer(v) => write_integer(w, v, "i"),
        FieldValue::UInteger(v) => write_integer(w, v, "u"),
        FieldValue::Boolean(v) => w.write_str(if v { "true" } else { "false" }),
        FieldValue::String(s) => {
            w.write_char('"')?;
            for c in s.chars() {
                match c {
                    '"' => w.write_str("\\\"")?,
                    '\\' => w.write_str("\\\\")?,
                    '\n' => w.write_str("\\n")?,
                    '\r' => w.write_str("\\r")?,
                    c => w.write_char(c)?,
                }
            }
            w.write_char('"')
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    /// Line protocol's floats are ryu's digits placed around the decimal point; this
    /// checks them for 2 million floats, random bit patterns (every exponent) and
    /// random values of a monitoring sample's sizes: each reads back as exactly the
    /// same float, has as many digits as `Display`'s and no exponent, and is
    /// `Display`'s text but at most for the last digit (where two shortest texts read
    /// back as the float, ryu and `Display` may pick the other one: a float exactly
    /// half-way, `902007751475.28125`, is `…2812` to ryu and `…2813` to `Display`).
    #[test]
    fn floats_are_written_as_display_writes_them_across_the_range() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            // xorshift64*: the sequence is fixed, so a failure reproduces.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut out = String::new();
        let mut differ = 0;
        for i in 0..2_000_000u32 {
            let bits = next();
            let v = if i % 2 == 0 {
                f64::from_bits(bits)
            } else {
                // 0.001 to 1e12 with few or many digits: percentages, seconds, bytes.
                let scale = [1e-3, 1.0, 1e3, 1e6, 1e9, 1e12][(bits % 6) as usize];
                (bits >> 11) as f64 / (1u64 << 53) as f64 * scale
            };
            if !v.is_finite() {
                continue;
            }
            out.clear();
            write_field_value(&mut out, FieldValue::Float(v)).unwrap();
            let display = std::format!("{v}");
            if out != display {
                differ += 1;
                assert!(
                    out.parse::<f64>() == Ok(v)
                        && !out.contains('e')
                        && out.len() == display.len()
                        && out[..out.len() - 1] == display[..display.len() - 1],
                    "bits {:#x}: {out} ({display})",
                    v.to_bits()
                );
            }
        }
        std::println!("{differ} of 2,000,000 differ from Display in the last digit");
        assert!(differ < 1000, "{differ}");
    }

    /// Fuzz target `ingest`, a network device label `a"b\\` (two backslashes at the end):
    /// only the last backslash was dropped, and the one left escaped the space after
    /// the tag set, so InfluxDB read the fields as part of the tag value.
    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let ints = [0, 1, -1, 9, 10, -10, 123_456_789, i64::MAX, i64::MIN];
        for v in ints {
            let mut out = String::new();
            write_field_value(&mut out, FieldValue::Integer(v)).unwrap();
            assert_eq!(out, std::format!("{v}i"));
        }
        for v in [0, 7, u64::MAX] {
            let mut out = String::new();
            write_field_value(&mut out, FieldValue::UInteger(v)).unwrap();
            assert_eq!(out, std::format!("{v}u"));
        }
        let floats = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e15,
            -1e15,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e300,
            123.25,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            0.1 + 0.2,
            1e16 + 2.0,
            1.5e16,
            1e17,
            123_456_789.123_456_79,
            0.000_012_5,
            1e-5,
            0.000_099_999,
            -2.5e-9,
            36.849_472_965_788_3,
        ];
        for v in floats {
            let mut out = String::new();
            write_field_value(&mut out, FieldValue::Float(v)).unwrap();
            assert_eq!(out, std::format!("{v}"), "{v:e}");
        }
        for (ms, precision) in [
            (1_700_000_000_123, Precision::Nanoseconds),
            (-5, Precision::Seconds),
            (i64::MAX, Precision::Nanoseconds),
            (i64::MIN, Precision::Microseconds),
        ] {
            let mut out = String::new();
            write_line(
                &mut out,
                "m",
                &[],
                [("f", FieldValue::Integer(1))],
                Some(ms),
                precision,
            )
            .unwrap();
            assert_eq!(out, std::format!("m f=1i {}\n", precision.from_unix_ms(ms)));
        }
    }

    #[test]
    fn tags_sorted_in_one_pass_equal_tags_sorted_by_repeated_minimum() {
        let pool = [
            Tag::new("host", "pi"),
            Tag::new("cpu", "cpu0"),
            Tag::new("host", "other"),
            Tag::new("", "no key"),
            Tag::new("mode", ""),
            Tag::new("a b", "x,y"),
            Tag::new("cpu", "cpu1"),
            Tag::new("z", "last"),
        ];
        // Every rotation and reversal of every prefix: duplicates first and last.
        for len in 0..=pool.len() {
            for start in 0..pool.len() {
                for reverse in [false, true] {
                    let mut tags: std::vec::Vec<Tag<'_>> =
                        (0..len).map(|k| pool[(start + k) % pool.len()]).collect();
                    if reverse {
                        tags.reverse();
                    }
                    let (mut one, mut min) = (String::new(), String::new());
                    write_sorted_tags(&mut one, &tags).unwrap();
                    write_sorted_tags_by_minimum(&mut min, &tags).unwrap();
                    assert_eq!(one, min, "{tags:?}");
                }
            }
        }
    }

    #[test]
    fn fuzz_backslash_runs_before_a_separator_are_dropped_whole() {
        let mut out = String::new();
        let tags = [
            Tag::new("interface", "a\"b\\\\"),
            Tag::new("u", "x\\\\,y"),
            Tag::new("v", "p\\\\q\\\\\\"),
        ];
        let fields = [("colls_out", FieldValue::Integer(7))];
        write_line(
            &mut out,
            "net\\\\",
            &tags,
            fields,
            Some(2),
            Precision::Milliseconds,
        )
        .unwrap();
        assert_eq!(out, "net,interface=a\"b,u=x\\,y,v=p\\\\q colls_out=7i 2\n");
    }
}
