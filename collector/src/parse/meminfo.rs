//! `/proc/meminfo`: one `Name: value [kB]` line per field.
//!
//! ```text
//! MemTotal:        3885328 kB
//! Active(anon):       1560 kB
//! HugePages_Total:       0
//! ```
//!
//! Names are yielded as the kernel prints them (`Active(anon)`); node_exporter's metric
//! names spell them `Active_anon`, which the reader maps.

use super::{ParseError, parse_u64, utf8, words};

/// One `/proc/meminfo` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemField<'a> {
    /// The field name before the colon (`MemTotal`, `Active(anon)`).
    pub name: &'a str,
    /// The number as printed.
    pub value: u64,
    /// Whether the line ends in `kB` (the value is kibibytes) rather than being a count.
    pub is_kb: bool,
}

/// Iterator over the fields of `/proc/meminfo`; see [`parse_meminfo`].
#[derive(Debug, Clone)]
pub struct MemInfo<'a> {
    lines: super::text::Lines<'a>,
}

impl<'a> Iterator for MemInfo<'a> {
    type Item = Result<MemField<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            if line.trim_ascii().is_empty() {
                continue;
            }
            return Some(parse_line(line));
        }
    }
}

fn parse_line(line: &[u8]) -> Result<MemField<'_>, ParseError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::Malformed("`name:` at the start of a line"))?;
    let name = utf8(line.get(..colon).unwrap_or_default().trim_ascii())?;
    if name.is_empty() {
        return Err(ParseError::Malformed("a field name"));
    }
    let mut rest = words(line.get(colon + 1..).unwrap_or_default());
    let value = parse_u64(rest.next().ok_or(ParseError::MissingField("value"))?)?;
    let is_kb = match rest.next() {
        None => false,
        Some(b"kB") => true,
        Some(_) => return Err(ParseError::Malformed("`kB` or nothing after the value")),
    };
    if rest.next().is_some() {
        return Err(ParseError::Malformed("end of line after the unit"));
    }
    Ok(MemField { name, value, is_kb })
}

/// Parses `/proc/meminfo` lazily: each line yields one field or an error for that line.
/// An empty input yields nothing (use `.next().is_none()` to detect it).
pub fn parse_meminfo(input: &[u8]) -> MemInfo<'_> {
    MemInfo {
        lines: super::text::lines(input),
    }
}

/// node_exporter's spelling of a meminfo key, the part of its metric name between
/// `node_memory_` and `_bytes`: the first `(` to the last `)` after it becomes `_` and
/// what was between (`Active(anon)` → `Active_anon`, as node_exporter's
/// `\((.*)\)` → `_${1}`), the rest as is. `None` unless the result is 1 to
/// `buf.len()` bytes of `[A-Za-z0-9_]` (a valid end of a Prometheus name). A key without
/// parentheses is returned as is, else the spelling is written into `buf`.
pub fn exporter_key<'b>(name: &'b str, buf: &'b mut [u8]) -> Option<&'b str> {
    let valid =
        |s: &[u8]| !s.is_empty() && s.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_');
    let bytes = name.as_bytes();
    let open = bytes.iter().position(|&b| b == b'(');
    let close = open.and_then(|o| {
        let after = bytes.get(o + 1..)?;
        after.iter().rposition(|&b| b == b')').map(|c| o + 1 + c)
    });
    let (Some(open), Some(close)) = (open, close) else {
        return (valid(bytes) && bytes.len() <= buf.len()).then_some(name);
    };
    let parts = [
        bytes.get(..open)?,
        b"_",
        bytes.get(open + 1..close)?,
        bytes.get(close + 1..)?,
    ];
    let mut len = 0;
    for part in parts {
        buf.get_mut(len..len + part.len())?.copy_from_slice(part);
        len += part.len();
    }
    let out = buf.get(..len)?;
    if !valid(out) {
        return None;
    }
    core::str::from_utf8(out).ok()
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let mut buf = [0u8; 64];
    for field in parse_meminfo(input).flatten() {
        let _ = exporter_key(field.name, &mut buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture() {
        let mut it = parse_meminfo(fixture!("pi4/proc/meminfo"));
        assert_eq!(
            it.next(),
            Some(Ok(MemField {
                name: "MemTotal",
                value: 3885328,
                is_kb: true
            }))
        );
        let fields: heapless::Vec<MemField<'_>, 64> = parse_meminfo(fixture!("pi4/proc/meminfo"))
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(fields.len(), 45);
        let find = |n: &str| fields.iter().find(|f| f.name == n).unwrap().value;
        assert_eq!(find("MemAvailable"), 3293460);
        assert_eq!(find("Active(anon)"), 1560);
        assert_eq!(find("HighTotal"), 3084288);
        assert_eq!(find("CmaFree"), 500932);
    }

    #[test]
    fn x86_hugepages_have_no_unit() {
        let fields: heapless::Vec<MemField<'_>, 64> = parse_meminfo(fixture!("x86/proc/meminfo"))
            .map(|f| f.unwrap())
            .collect();
        let huge = fields.iter().find(|f| f.name == "HugePages_Total").unwrap();
        assert_eq!((huge.value, huge.is_kb), (0, false));
        let vmalloc = fields.iter().find(|f| f.name == "VmallocTotal").unwrap();
        assert_eq!((vmalloc.value, vmalloc.is_kb), (34359738367, true));
    }

    #[test]
    fn unknown_keys_parse_like_the_known_ones() {
        let fields: heapless::Vec<MemField<'_>, 64> =
            parse_meminfo(fixture!("meminfo-other/proc/meminfo"))
                .map(|f| f.unwrap())
                .collect();
        let find = |n: &str| fields.iter().find(|f| f.name == n).copied().unwrap();
        assert_eq!(
            find("Balloon"),
            MemField {
                name: "Balloon",
                value: 524288,
                is_kb: true
            }
        );
        assert_eq!((find("FooBar(anon)").value, find("FooBar(anon)").is_kb), (4096, true));
        assert_eq!((find("Unaccepted").value, find("Unaccepted").is_kb), (2048, true));
        assert_eq!((find("FooPages_Total").value, find("FooPages_Total").is_kb), (7, false));
    }

    #[test]
    fn exporter_key_spells_keys_as_node_exporter() {
        let mut buf = [0u8; 16];
        for (key, want) in [
            ("Balloon", Some("Balloon")),
            ("Active(anon)", Some("Active_anon")),
            ("FooBar(anon)", Some("FooBar_anon")),
            ("A(b)c", Some("A_bc")),
            ("HugePages_Total", Some("HugePages_Total")),
            ("DirectMap4k", Some("DirectMap4k")),
            // `\((.*)\)` is greedy: the first `(` to the last `)`; a `(` left is invalid.
            ("A(b(c))", None),
            ("A(b)(c)", None),
            ("Open(", None),
            ("Close)", None),
            ("()", Some("_")),
            ("", None),
            ("Bad-Key", None),
            ("Käse", None),
            ("Sixteen_bytes_ok", Some("Sixteen_bytes_ok")),
            ("Seventeen_bytes_x", None),
            ("Fifteen(bytes)x", Some("Fifteen_bytesx")),
            ("Sixteen(bytes)xy", Some("Sixteen_bytesxy")),
            ("Seventeen(bytes)x", Some("Seventeen_bytesx")),
            ("Seventeen(bytes)xy", None),
        ] {
            assert_eq!(exporter_key(key, &mut buf), want, "{key}");
        }
    }

    #[test]
    fn bad_line_does_not_stop_the_others() {
        let mut it =
            parse_meminfo(b"MemTotal: 1 kB\nGarbage\nMemFree: x kB\nBuffers: 3 MB\nCached: 4 kB\n");
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(ParseError::Malformed("`name:` at the start of a line")))
        );
        assert_eq!(it.next(), Some(Err(ParseError::InvalidNumber)));
        assert!(it.next().unwrap().is_err());
        assert_eq!(
            it.next(),
            Some(Ok(MemField {
                name: "Cached",
                value: 4,
                is_kb: true
            }))
        );
        assert_eq!(it.next(), None);
        assert_eq!(parse_meminfo(b"").next(), None);
    }
}
