//! The Prometheus text exposition format 0.0.4, parsed as the Pushgateway parses it.
//!
//! Pushed bodies and scraped pages are untrusted bytes whose errors the client sees, so
//! this is a byte-for-byte port of the state machine of Go's `expfmt.TextParser` (the
//! parser the Pushgateway and Prometheus's scrape path use, before UTF-8 names): the
//! same inputs are accepted and refused, and a refusal carries the same message
//! (`text format parsing error in line 3: expected float as value, got "x"`). The
//! conformance test (`aggregator/tests/push_conformance.rs`) pushes the same bodies to
//! the real Pushgateway and to pimon and compares the answers.
//!
//! Why not `prometheus-parse`: it splits label sets on `,` and `=` without honouring
//! quotes, so `a{path="x,y=z"}` reads as two labels; this parser reads label values
//! as the format defines them (quoted, with `\\`, `\"`, `\n` escapes).
//!
//! The parser never panics, never reads past the input, and is fuzzed
//! (`fuzz/fuzz_targets/exposition.rs`).

use std::fmt;

use super::gofmt::{quote_byte, quote_str};

/// The type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `summary`.
    Summary,
    /// `untyped` (or no `# TYPE`).
    Untyped,
    /// `histogram`.
    Histogram,
}

impl Kind {
    /// The `# TYPE` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
            Kind::Histogram => "histogram",
        }
    }

    /// The name Go's protobuf enum prints (`GAUGE`), used in error messages.
    pub fn proto_name(self) -> &'static str {
        match self {
            Kind::Counter => "COUNTER",
            Kind::Gauge => "GAUGE",
            Kind::Summary => "SUMMARY",
            Kind::Untyped => "UNTYPED",
            Kind::Histogram => "HISTOGRAM",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_uppercase().as_str() {
            "COUNTER" => Some(Kind::Counter),
            "GAUGE" => Some(Kind::Gauge),
            "SUMMARY" => Some(Kind::Summary),
            "UNTYPED" => Some(Kind::Untyped),
            "HISTOGRAM" => Some(Kind::Histogram),
            _ => None,
        }
    }
}

/// The value of one metric (one label set) of a family.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Counter, gauge or untyped: one number.
    Scalar(f64),
    /// A summary.
    Summary {
        /// `_count`, if given.
        count: Option<u64>,
        /// `_sum`, if given.
        sum: Option<f64>,
        /// (quantile, value), in input order.
        quantiles: Vec<(f64, f64)>,
    },
    /// A histogram.
    Histogram {
        /// `_count`, if given.
        count: Option<u64>,
        /// `_sum`, if given.
        sum: Option<f64>,
        /// (upper bound `le`, cumulative count), in input order.
        buckets: Vec<(f64, u64)>,
    },
}

impl Value {
    /// Samples this value is exposed as (one per line of the exposition).
    pub fn sample_count(&self) -> usize {
        match self {
            Value::Scalar(_) => 1,
            Value::Summary { quantiles, .. } => quantiles.len() + 2,
            Value::Histogram { buckets, .. } => buckets.len() + 2,
        }
    }
}

/// One metric: a label set and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Labels in input order (not `le`/`quantile` of histograms and summaries).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
    /// Timestamp in ms, if the line had one.
    pub timestamp_ms: Option<i64>,
}

/// A metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Name (without `_sum`/`_count`/`_bucket` for summaries and histograms).
    pub name: String,
    /// `# HELP` text (unescaped), if given.
    pub help: Option<String>,
    /// The type.
    pub kind: Kind,
    /// Metrics in input order.
    pub metrics: Vec<Metric>,
}

/// A refusal, as the Go parser words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "text format parsing error in line {}: {}",
            self.line, self.msg
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole exposition. Families come out in the order of their first line;
/// families that only had `# HELP`/`# TYPE` lines are left out.
pub fn parse(input: &[u8]) -> Result<Vec<Family>, ParseError> {
    let mut p = Parser {
        input,
        pos: 0,
        byte: 0,
        error: None,
        line: 0,
        token: Vec::new(),
        families: Vec::new(),
        current: 0,
        labels: Vec::new(),
        pair: None,
        pair_name: String::new(),
        signature: Vec::new(),
        quantile: f64::NAN,
        bucket: f64::NAN,
        is_count: false,
        is_sum: false,
        metric: 0,
        groups: Vec::new(),
    };
    let mut state = State::StartOfLine;
    while let Some(next) = p.step(state) {
        state = next;
    }
    match p.error {
        Some(Failure::Parse(e)) => Err(e),
        Some(Failure::Eof) => Err(ParseError {
            line: p.line,
            msg: "unexpected end of input stream".into(),
        }),
        None => Ok(p
            .families
            .into_iter()
            .filter(|f| !f.metrics.is_empty())
            .map(|f| Family {
                name: f.name,
                help: f.help,
                kind: f.kind.unwrap_or(Kind::Untyped),
                metrics: f.metrics,
            })
            .collect()),
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    StartOfLine,
    StartComment,
    ReadingMetricName,
    ReadingLabels,
    StartLabelName,
    StartLabelValue,
    ReadingValue,
    StartTimestamp,
    ReadingHelp,
    ReadingType,
}

enum Failure {
    /// The input ended inside a line.
    Eof,
    Parse(ParseError),
}

/// (family, sorted label signature, metric index).
type SignatureIndex = (usize, Vec<(String, String)>, usize);

/// A family while parsing: the type is unset until `# TYPE` or the first sample.
struct Fam {
    name: String,
    help: Option<String>,
    kind: Option<Kind>,
    metrics: Vec<Metric>,
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// The byte last read (Go's `currentByte`).
    byte: u8,
    error: Option<Failure>,
    line: usize,
    token: Vec<u8>,
    families: Vec<Fam>,
    /// Index of the current family.
    current: usize,
    /// Labels of the line being read.
    labels: Vec<(String, String)>,
    /// Index in `labels` of the pair whose value is read next (`None`: `le`/`quantile`).
    pair: Option<usize>,
    pair_name: String,
    /// Summary/histogram lines: the labels without `quantile`/`le`, and `__name__`.
    signature: Vec<(String, String)>,
    quantile: f64,
    bucket: f64,
    is_count: bool,
    is_sum: bool,
    /// Index of the metric the value goes to.
    metric: usize,
    /// Summaries and histograms seen: which metric a label signature is.
    groups: Vec<SignatureIndex>,
}

impl Parser<'_> {
    fn step(&mut self, state: State) -> Option<State> {
        match state {
            State::StartOfLine => self.start_of_line(),
            State::StartComment => self.start_comment(),
            State::ReadingMetricName => self.reading_metric_name(),
            State::ReadingLabels => self.reading_labels(),
            State::StartLabelName => self.start_label_name(),
            State::StartLabelValue => self.start_label_value(),
            State::ReadingValue => self.reading_value(),
            State::StartTimestamp => self.start_timestamp(),
            State::ReadingHelp => self.reading_help(),
            State::ReadingType => self.reading_type(),
        }
    }

    /// Go's `ReadByte`: false at the end of the input (recorded as a failure, which
    /// only the start of a line forgives).
    fn read(&mut self) -> bool {
        match self.input.get(self.pos) {
            Some(&b) => {
                self.byte = b;
                self.pos += 1;
                true
            }
            None => {
                if self.error.is_none() {
                    self.error = Some(Failure::Eof);
                }
                false
            }
        }
    }

    fn fail(&mut self, msg: String) -> Option<State> {
        self.error = Some(Failure::Parse(ParseError {
            line: self.line,
            msg,
        }));
        None
    }

    fn skip_blank_tab(&mut self) -> bool {
        loop {
            if !self.read() {
                return false;
            }
            if !is_blank_or_tab(self.byte) {
                return true;
            }
        }
    }

    fn skip_blank_tab_if_current(&mut self) -> bool {
        !is_blank_or_tab(self.byte) || self.skip_blank_tab()
    }

    fn read_token_until_whitespace(&mut self) -> bool {
        self.token.clear();
        while !is_blank_or_tab(self.byte) && self.byte != b'\n' {
            self.token.push(self.byte);
            if !self.read() {
                return false;
            }
        }
        true
    }

    /// Up to the newline. With `escapes`, `\\` and `\n` are unescaped and any other
    /// escape is an error; without, backslashes are dropped (as Go does).
    fn read_token_until_newline(&mut self, escapes: bool) -> bool {
        self.token.clear();
        let mut escaped = false;
        loop {
            if escapes && escaped {
                match self.byte {
                    b'\\' => self.token.push(b'\\'),
                    b'n' => self.token.push(b'\n'),
                    b => {
                        let msg = format!("invalid escape sequence '\\{}'", b as char);
                        self.fail(msg);
                        return false;
                    }
                }
                escaped = false;
            } else {
                match self.byte {
                    b'\n' => return true,
                    b'\\' => escaped = true,
                    b => self.token.push(b),
                }
            }
            if !self.read() {
                return false;
            }
        }
    }

    fn read_name(&mut self, start: fn(u8) -> bool, continuation: fn(u8) -> bool) -> bool {
        self.token.clear();
        if !start(self.byte) {
            return true;
        }
        loop {
            self.token.push(self.byte);
            if !self.read() {
                return false;
            }
            if !continuation(self.byte) {
                return true;
            }
        }
    }

    fn read_token_as_label_value(&mut self) -> bool {
        self.token.clear();
        let mut escaped = false;
        loop {
            if !self.read() {
                return false;
            }
            if escaped {
                match self.byte {
                    b'"' | b'\\' => self.token.push(self.byte),
                    b'n' => self.token.push(b'\n'),
                    b => {
                        let msg = format!("invalid escape sequence '\\{}'", b as char);
                        self.fail(msg);
                        return false;
                    }
                }
                escaped = false;
                continue;
            }
            match self.byte {
                b'"' => return true,
                b'\n' => {
                    let msg = format!(
                        "label value {} contains unescaped new-line",
                        quote_str(&self.token)
                    );
                    self.fail(msg);
                    return false;
                }
                b'\\' => escaped = true,
                b => self.token.push(b),
            }
        }
    }

    fn fam(&self) -> Option<&Fam> {
        self.families.get(self.current)
    }

    fn kind(&self) -> Option<Kind> {
        self.fam().and_then(|f| f.kind)
    }

    fn family_name(&self) -> &str {
        self.fam().map_or("", |f| f.name.as_str())
    }

    /// Go's `setOrCreateCurrentMF`: `x_count`/`x_sum` (and `x_bucket`) belong to a
    /// summary (histogram) `x` declared before.
    fn set_or_create_current(&mut self) {
        self.is_count = false;
        self.is_sum = false;
        let name = String::from_utf8_lossy(&self.token).into_owned();
        if let Some(i) = self.families.iter().position(|f| f.name == name) {
            self.current = i;
            return;
        }
        let summary_name = strip_any(&name, &["_count", "_sum"]);
        if let Some(i) = self.families.iter().position(|f| f.name == summary_name)
            && self.families[i].kind == Some(Kind::Summary)
        {
            self.current = i;
            self.is_count = is_count(&name);
            self.is_sum = is_sum(&name);
            return;
        }
        let histogram_name = strip_any(&name, &["_count", "_sum", "_bucket"]);
        if let Some(i) = self.families.iter().position(|f| f.name == histogram_name)
            && self.families[i].kind == Some(Kind::Histogram)
        {
            self.current = i;
            self.is_count = is_count(&name);
            self.is_sum = is_sum(&name);
            return;
        }
        self.families.push(Fam {
            name,
            help: None,
            kind: None,
            metrics: Vec::new(),
        });
        self.current = self.families.len() - 1;
    }

    fn start_of_line(&mut self) -> Option<State> {
        self.line += 1;
        if !self.skip_blank_tab() {
            // The one place where the end of the input is the regular end.
            if matches!(self.error, Some(Failure::Eof)) {
                self.error = None;
            }
            return None;
        }
        match self.byte {
            b'#' => Some(State::StartComment),
            b'\n' => Some(State::StartOfLine),
            _ => Some(State::ReadingMetricName),
        }
    }

    fn start_comment(&mut self) -> Option<State> {
        if !self.skip_blank_tab() {
            return None;
        }
        if self.byte == b'\n' {
            return Some(State::StartOfLine);
        }
        if !self.read_token_until_whitespace() {
            return None;
        }
        if self.byte == b'\n' {
            return Some(State::StartOfLine);
        }
        let keyword = match self.token.as_slice() {
            b"HELP" => State::ReadingHelp,
            b"TYPE" => State::ReadingType,
            _ => {
                // Any other comment: skip to the end of the line.
                while self.byte != b'\n' {
                    if !self.read() {
                        return None;
                    }
                }
                return Some(State::StartOfLine);
            }
        };
        if !self.skip_blank_tab() {
            return None;
        }
        if !self.read_name(is_metric_name_start, is_metric_name_continuation) {
            return None;
        }
        if self.byte == b'\n' {
            return Some(State::StartOfLine);
        }
        if !is_blank_or_tab(self.byte) {
            return self.fail("invalid metric name in comment".into());
        }
        self.set_or_create_current();
        if !self.skip_blank_tab() {
            return None;
        }
        if self.byte == b'\n' {
            return Some(State::StartOfLine);
        }
        Some(keyword)
    }

    fn reading_metric_name(&mut self) -> Option<State> {
        if !self.read_name(is_metric_name_start, is_metric_name_continuation) {
            return None;
        }
        if self.token.is_empty() {
            return self.fail("invalid metric name".into());
        }
        self.set_or_create_current();
        let current = self.current;
        if let Some(f) = self.families.get_mut(current) {
            f.kind.get_or_insert(Kind::Untyped);
        }
        self.labels.clear();
        if !self.skip_blank_tab_if_current() {
            return None;
        }
        Some(State::ReadingLabels)
    }

    fn reading_labels(&mut self) -> Option<State> {
        if matches!(self.kind(), Some(Kind::Summary | Kind::Histogram)) {
            self.signature.clear();
            let name = self.family_name().to_string();
            self.signature.push(("__name__".into(), name));
            self.quantile = f64::NAN;
            self.bucket = f64::NAN;
        }
        if self.byte != b'{' {
            return Some(State::ReadingValue);
        }
        Some(State::StartLabelName)
    }

    fn start_label_name(&mut self) -> Option<State> {
        if !self.skip_blank_tab() {
            return None;
        }
        if self.byte == b'}' {
            if !self.skip_blank_tab() {
                return None;
            }
            return Some(State::ReadingValue);
        }
        if !self.read_name(is_label_name_start, is_label_name_continuation) {
            return None;
        }
        if self.token.is_empty() {
            let msg = format!(
                "invalid label name for metric {}",
                quote_str(self.family_name().as_bytes())
            );
            return self.fail(msg);
        }
        let name = String::from_utf8_lossy(&self.token).into_owned();
        if name == "__name__" {
            return self.fail("label name \"__name__\" is reserved".into());
        }
        let kind = self.kind();
        let special = (kind == Some(Kind::Summary) && name == "quantile")
            || (kind == Some(Kind::Histogram) && name == "le");
        self.pair = None;
        if !special {
            self.labels.push((name.clone(), String::new()));
            self.pair = Some(self.labels.len() - 1);
        }
        let duplicate = self
            .labels
            .iter()
            .enumerate()
            .any(|(i, (n, _))| self.labels[..i].iter().any(|(m, _)| m == n));
        if duplicate {
            let msg = format!(
                "duplicate label names for metric {}",
                quote_str(self.family_name().as_bytes())
            );
            return self.fail(msg);
        }
        self.pair_name = name;
        if !self.skip_blank_tab_if_current() {
            return None;
        }
        if self.byte != b'=' {
            let msg = format!(
                "expected '=' after label name, found {}",
                quote_byte(self.byte)
            );
            return self.fail(msg);
        }
        Some(State::StartLabelValue)
    }

    fn start_label_value(&mut self) -> Option<State> {
        if !self.skip_blank_tab() {
            return None;
        }
        if self.byte != b'"' {
            let msg = format!(
                "expected '\"' at start of label value, found {}",
                quote_byte(self.byte)
            );
            return self.fail(msg);
        }
        if !self.read_token_as_label_value() {
            return None;
        }
        let Ok(value) = std::str::from_utf8(&self.token).map(str::to_string) else {
            let msg = format!("invalid label value {}", quote_str(&self.token));
            return self.fail(msg);
        };
        if let Some(i) = self.pair
            && let Some(pair) = self.labels.get_mut(i)
        {
            pair.1 = value.clone();
        }
        match self.kind() {
            Some(Kind::Summary) if self.pair_name == "quantile" => match parse_float(&value) {
                Some(q) => self.quantile = q,
                None => {
                    let msg = format!(
                        "expected float as value for 'quantile' label, got {}",
                        quote_str(value.as_bytes())
                    );
                    return self.fail(msg);
                }
            },
            Some(Kind::Histogram) if self.pair_name == "le" => match parse_float(&value) {
                Some(b) => self.bucket = b,
                None => {
                    let msg = format!(
                        "expected float as value for 'le' label, got {}",
                        quote_str(value.as_bytes())
                    );
                    return self.fail(msg);
                }
            },
            Some(Kind::Summary | Kind::Histogram) => {
                self.signature.push((self.pair_name.clone(), value.clone()));
            }
            _ => {}
        }
        if !self.skip_blank_tab() {
            return None;
        }
        match self.byte {
            b',' => Some(State::StartLabelName),
            b'}' => {
                if !self.skip_blank_tab() {
                    return None;
                }
                Some(State::ReadingValue)
            }
            _ => {
                let msg = format!(
                    "unexpected end of label value {}",
                    quote_str(value.as_bytes())
                );
                self.fail(msg)
            }
        }
    }

    fn reading_value(&mut self) -> Option<State> {
        let current = self.current;
        let kind = self.kind().unwrap_or(Kind::Untyped);
        let labels = std::mem::take(&mut self.labels);
        let Some(fam) = self.families.get_mut(current) else {
            return self.fail("invalid metric name".into());
        };
        match kind {
            Kind::Summary | Kind::Histogram => {
                self.signature.sort();
                let existing = self
                    .groups
                    .iter()
                    .find(|(f, s, _)| *f == current && *s == self.signature)
                    .map(|g| g.2);
                self.metric = match existing {
                    Some(i) => i,
                    None => {
                        let value = if kind == Kind::Summary {
                            Value::Summary {
                                count: None,
                                sum: None,
                                quantiles: Vec::new(),
                            }
                        } else {
                            Value::Histogram {
                                count: None,
                                sum: None,
                                buckets: Vec::new(),
                            }
                        };
                        fam.metrics.push(Metric {
                            labels,
                            value,
                            timestamp_ms: None,
                        });
                        let i = fam.metrics.len() - 1;
                        self.groups.push((current, self.signature.clone(), i));
                        i
                    }
                };
            }
            _ => {
                fam.metrics.push(Metric {
                    labels,
                    value: Value::Scalar(0.0),
                    timestamp_ms: None,
                });
                self.metric = fam.metrics.len() - 1;
            }
        }
        if !self.read_token_until_whitespace() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.token).into_owned();
        let Some(value) = parse_float(&text) else {
            let msg = format!("expected float as value, got {}", quote_str(&self.token));
            return self.fail(msg);
        };
        let (is_count, is_sum, quantile, bucket) =
            (self.is_count, self.is_sum, self.quantile, self.bucket);
        let metric = self
            .families
            .get_mut(current)
            .and_then(|f| f.metrics.get_mut(self.metric));
        if let Some(m) = metric {
            match &mut m.value {
                Value::Scalar(v) => *v = value,
                Value::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    if is_count {
                        *count = Some(go_uint64(value));
                    } else if is_sum {
                        *sum = Some(value);
                    } else if !quantile.is_nan() {
                        quantiles.push((quantile, value));
                    }
                }
                Value::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    if is_count {
                        *count = Some(go_uint64(value));
                    } else if is_sum {
                        *sum = Some(value);
                    } else if !bucket.is_nan() {
                        buckets.push((bucket, go_uint64(value)));
                    }
                }
            }
        }
        if self.byte == b'\n' {
            return Some(State::StartOfLine);
        }
        Some(State::StartTimestamp)
    }

    fn start_timestamp(&mut self) -> Option<State> {
        if !self.skip_blank_tab() {
            return None;
        }
        if !self.read_token_until_whitespace() {
            return None;
        }
        let Some(ts) = std::str::from_utf8(&self.token).ok().and_then(parse_go_int) else {
            let msg = format!(
                "expected integer as timestamp, got {}",
                quote_str(&self.token)
            );
            return self.fail(msg);
        };
        let (current, metric) = (self.current, self.metric);
        if let Some(m) = self
            .families
            .get_mut(current)
            .and_then(|f| f.metrics.get_mut(metric))
        {
            m.timestamp_ms = Some(ts);
        }
        if !self.read_token_until_newline(false) {
            return None;
        }
        if !self.token.is_empty() {
            let msg = format!(
                "spurious string after timestamp: {}",
                quote_str(&self.token)
            );
            return self.fail(msg);
        }
        Some(State::StartOfLine)
    }

    fn reading_help(&mut self) -> Option<State> {
        if self.fam().is_some_and(|f| f.help.is_some()) {
            let msg = format!(
                "second HELP line for metric name {}",
                quote_str(self.family_name().as_bytes())
            );
            return self.fail(msg);
        }
        if !self.read_token_until_newline(true) {
            return None;
        }
        let help = String::from_utf8_lossy(&self.token).into_owned();
        let current = self.current;
        if let Some(f) = self.families.get_mut(current) {
            f.help = Some(help);
        }
        Some(State::StartOfLine)
    }

    fn reading_type(&mut self) -> Option<State> {
        if self.fam().is_some_and(|f| f.kind.is_some()) {
            let msg = format!(
                "second TYPE line for metric name {}, or TYPE reported after samples",
                quote_str(self.family_name().as_bytes())
            );
            return self.fail(msg);
        }
        if !self.read_token_until_newline(false) {
            return None;
        }
        let word = String::from_utf8_lossy(&self.token).into_owned();
        let Some(kind) = Kind::parse(&word) else {
            let msg = format!("unknown metric type {}", quote_str(&self.token));
            return self.fail(msg);
        };
        let current = self.current;
        if let Some(f) = self.families.get_mut(current) {
            f.kind = Some(kind);
        }
        Some(State::StartOfLine)
    }
}

fn strip_any<'a>(name: &'a str, suffixes: &[&str]) -> &'a str {
    suffixes
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|_| name.len() > s.len()))
        .unwrap_or(name)
}

fn is_count(name: &str) -> bool {
    name.len() > 6 && name.ends_with("_count")
}

fn is_sum(name: &str) -> bool {
    name.len() > 4 && name.ends_with("_sum")
}

fn is_blank_or_tab(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_label_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_label_name_continuation(b: u8) -> bool {
    is_label_name_start(b) || b.is_ascii_digit()
}

fn is_metric_name_start(b: u8) -> bool {
    is_label_name_start(b) || b == b':'
}

fn is_metric_name_continuation(b: u8) -> bool {
    is_label_name_continuation(b) || b == b':'
}

/// A valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.first().is_some_and(|&c| is_metric_name_start(c))
        && b.iter().all(|&c| is_metric_name_continuation(c))
}

/// A valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.first().is_some_and(|&c| is_label_name_start(c))
        && b.iter().all(|&c| is_label_name_continuation(c))
}

/// Go's `uint64(f)` for the values that matter (negative and NaN give 0 here; Go's
/// result is platform-defined for them).
fn go_uint64(v: f64) -> u64 {
    if v.is_nan() || v <= 0.0 { 0 } else { v as u64 }
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `strconv.ParseFloat(s, 64)` as the exposition parser calls it (`p`, `P` and
/// `_` refused): decimal numbers, `Inf`/`Infinity` with a sign, `NaN` without; a
/// number out of range is an error.
pub fn parse_float(s: &str) -> Option<f64> {
    if s.contains(['p', 'P', '_']) {
        return None;
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = unsigned.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return (unsigned.len() == s.len()).then_some(f64::NAN);
    }
    // Digits, one dot, an exponent: what Go and Rust both read the same way.
    let b = unsigned.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    // Go reports overflow as an error (ErrRange).
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> String {
        parse(input.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn counters_gauges_untyped_with_labels_help_and_timestamps() {
        let fams = parse(
            b"# HELP a_total Requests \\\\ served.\\nSecond line.\n# TYPE a_total counter\n\
              a_total{code=\"200\",path=\"/x,y=z\"} 1027 1395066363000\n\
              a_total{code=\"400\"} 3\n\n  # a comment\nb -Inf\nc{} NaN\n",
        )
        .unwrap();
        assert_eq!(fams.len(), 3);
        let a = &fams[0];
        assert_eq!(a.name, "a_total");
        assert_eq!(a.kind, Kind::Counter);
        assert_eq!(a.help.as_deref(), Some("Requests \\ served.\nSecond line."));
        assert_eq!(
            a.metrics[0].labels,
            [
                ("code".to_string(), "200".to_string()),
                ("path".to_string(), "/x,y=z".to_string())
            ]
        );
        assert_eq!(a.metrics[0].value, Value::Scalar(1027.0));
        assert_eq!(a.metrics[0].timestamp_ms, Some(1395066363000));
        assert_eq!(fams[1].kind, Kind::Untyped);
        assert_eq!(fams[1].metrics[0].value, Value::Scalar(f64::NEG_INFINITY));
        assert!(matches!(fams[2].metrics[0].value, Value::Scalar(v) if v.is_nan()));
    }

    #[test]
    fn summaries_and_histograms_collect_their_lines() {
        let fams = parse(
            b"# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 4\ns_sum{a=\"1\"} 10\ns_count{a=\"1\"} 3\n\
              # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n",
        )
        .unwrap();
        assert_eq!(fams.len(), 2);
        assert_eq!(fams[0].metrics.len(), 1);
        assert_eq!(
            fams[0].metrics[0].value,
            Value::Summary {
                count: Some(3),
                sum: Some(10.0),
                quantiles: vec![(0.5, 4.0)]
            }
        );
        assert_eq!(
            fams[0].metrics[0].labels,
            [("a".to_string(), "1".to_string())]
        );
        assert_eq!(
            fams[1].metrics[0].value,
            Value::Histogram {
                count: Some(2),
                sum: Some(3.5),
                buckets: vec![(1.0, 1), (f64::INFINITY, 2)]
            }
        );
    }

    #[test]
    fn errors_are_worded_as_the_go_parser_words_them() {
        assert_eq!(
            err("nonl 1"),
            "text format parsing error in line 1: unexpected end of input stream"
        );
        assert_eq!(
            err("a 1\nb here\n"),
            "text format parsing error in line 2: expected float as value, got \"here\""
        );
        for bad in ["0x10", "1e400", "-nan", "1_0", "1.5p3", ""] {
            assert!(
                err(&format!("a {bad}\n")).contains("expected float as value"),
                "{bad}"
            );
        }
        assert_eq!(
            err("a{b=\"\\q\"} 1\n"),
            "text format parsing error in line 1: invalid escape sequence '\\q'"
        );
        assert_eq!(
            err("# TYPE a foo\n"),
            "text format parsing error in line 1: unknown metric type \"foo\""
        );
        assert_eq!(
            err("a{b=\"x\"\n"),
            "text format parsing error in line 1: unexpected end of label value \"x\""
        );
        assert_eq!(
            err("a{b=x} 1\n"),
            "text format parsing error in line 1: expected '\"' at start of label value, found 'x'"
        );
        assert_eq!(
            err("{b=\"x\"} 1\n"),
            "text format parsing error in line 1: invalid metric name"
        );
        assert_eq!(
            err("a{__name__=\"x\"} 1\n"),
            "text format parsing error in line 1: label name \"__name__\" is reserved"
        );
        assert_eq!(
            err("a 1 2 3\n"),
            "text format parsing error in line 1: spurious string after timestamp: \" 3\""
        );
        assert_eq!(
            parse(b"a{b=\"\xff\"} 1\n").unwrap_err().msg,
            "invalid label value \"\\xff\""
        );
        assert_eq!(
            err("a{b=\"1\",b=\"2\"} 1\n"),
            "text format parsing error in line 1: duplicate label names for metric \"a\""
        );
        assert_eq!(
            err("# TYPE a gauge\n# TYPE a counter\n"),
            "text format parsing error in line 2: second TYPE line for metric name \"a\", or TYPE reported after samples"
        );
        assert_eq!(
            err("a 1\n# TYPE a counter\n"),
            "text format parsing error in line 2: second TYPE line for metric name \"a\", or TYPE reported after samples"
        );
    }

    #[test]
    fn help_only_families_are_dropped_and_empty_input_is_fine() {
        assert_eq!(parse(b"").unwrap(), vec![]);
        assert_eq!(parse(b"# HELP a x\n# TYPE a gauge\n").unwrap(), vec![]);
        assert_eq!(parse(b"\n\n   \n").unwrap(), vec![]);
    }

    #[test]
    fn floats_as_go_reads_them() {
        assert_eq!(parse_float("1.5e3"), Some(1500.0));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float("+infinity"), Some(f64::INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("5."), Some(5.0));
        for bad in [
            "", "+", ".", "e5", "1e", "-nan", "1e400", "0x1p3", "1_0", " 1",
        ] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
    }
}
