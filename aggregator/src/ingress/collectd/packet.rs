//! collectd's binary network protocol (the `network` plugin's packets), parsed as
//! collectd's own server parses them (`src/network.c`, `parse_packet`):
//!
//! - a packet is a run of *parts* `type: u16, length: u16 (header included), payload`;
//!   `host`, `plugin`, `plugin_instance`, `type`, `type_instance` (NUL-terminated
//!   strings), `time`/`interval` (seconds) and their `_hr` forms (2⁻³⁰ s) set the
//!   state; each `values` part dispatches one value list with the state so far
//!   (needing a time, host, plugin and type), so one packet carries many;
//! - `values`: a count, one type byte per value (counter, gauge, derive, absolute),
//!   then 8 bytes per value: big-endian integers, gauges as little-endian doubles;
//! - a *signature* part (HMAC-SHA-256 over the user name and the rest of the packet)
//!   covers everything after it; an *encryption* part (AES-256-OFB, key SHA-256 of
//!   the password, SHA-1 checksum) holds the rest of the packet, parsed with fresh
//!   state. [`super::crypto`] does the arithmetic, [`super::authfile`] the users.
//! - `SecurityLevel`: `Encrypt` ignores every part that is not inside an encrypted
//!   one, `Sign` every part neither signed nor encrypted, `None` takes everything (and
//!   still checks signatures it can).
//!
//! Never panics, never reads past the packet; every problem is reported by kind
//! ([`Problem`]) for the counters. Fuzzed (`fuzz/fuzz_targets/collectd_packet.rs`).

use super::authfile::Users;
use super::crypto;
use crate::ingress::config::SecurityLevel;

/// Part types.
pub mod part {
    /// Host name.
    pub const HOST: u16 = 0x0000;
    /// Time in seconds.
    pub const TIME: u16 = 0x0001;
    /// Plugin name.
    pub const PLUGIN: u16 = 0x0002;
    /// Plugin instance.
    pub const PLUGIN_INSTANCE: u16 = 0x0003;
    /// Type (types.db).
    pub const TYPE: u16 = 0x0004;
    /// Type instance.
    pub const TYPE_INSTANCE: u16 = 0x0005;
    /// Values.
    pub const VALUES: u16 = 0x0006;
    /// Interval in seconds.
    pub const INTERVAL: u16 = 0x0007;
    /// Time in 2^-30 s.
    pub const TIME_HR: u16 = 0x0008;
    /// Interval in 2^-30 s.
    pub const INTERVAL_HR: u16 = 0x0009;
    /// Notification message.
    pub const MESSAGE: u16 = 0x0100;
    /// Notification severity.
    pub const SEVERITY: u16 = 0x0101;
    /// HMAC-SHA-256 signature.
    pub const SIGN_SHA256: u16 = 0x0200;
    /// AES-256-OFB encryption.
    pub const ENCR_AES256: u16 = 0x0210;
}

/// collectd's longest name (`DATA_MAX_NAME_LEN`, NUL included).
pub const MAX_NAME: usize = 128;

/// One value of a value list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// COUNTER (wraps).
    Counter(u64),
    /// GAUGE.
    Gauge(f64),
    /// DERIVE.
    Derive(i64),
    /// ABSOLUTE.
    Absolute(u64),
}

impl Value {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Counter(v) | Value::Absolute(v) => v as f64,
            Value::Gauge(v) => v,
            Value::Derive(v) => v as f64,
        }
    }

    /// types.db's name of the kind (`derive`).
    pub fn kind(self) -> &'static str {
        match self {
            Value::Counter(_) => "counter",
            Value::Gauge(_) => "gauge",
            Value::Derive(_) => "derive",
            Value::Absolute(_) => "absolute",
        }
    }
}

/// One dispatched value list.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueList {
    /// Host (becomes the node).
    pub host: String,
    /// Plugin (`cpu`).
    pub plugin: String,
    /// Plugin instance (`0`).
    pub plugin_instance: String,
    /// Type (`cpu`).
    pub type_: String,
    /// Type instance (`user`).
    pub type_instance: String,
    /// Time in 2^-30 s since the epoch.
    pub time: u64,
    /// Interval in 2^-30 s.
    pub interval: u64,
    /// The values.
    pub values: Vec<Value>,
    /// Came signed or encrypted (the user), for logs.
    pub user: Option<String>,
}

impl ValueList {
    /// Time in Unix ms, rounded as collectd's `csv` plugin prints it.
    pub fn time_ms(&self) -> i64 {
        ((self.time as u128 * 1000 + (1 << 29)) >> 30).min(i64::MAX as u128) as i64
    }

    /// Interval in ms.
    pub fn interval_ms(&self) -> u64 {
        ((self.interval as u128 * 1000) >> 30).min(u64::MAX as u128) as u64
    }
}

/// What was wrong with (part of) a packet: the `kind` label of
/// `pimon_collectd_bad_packets_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A part's length is below 4 or beyond the packet.
    BadLength,
    /// A string part that is empty, too long or not NUL-terminated.
    BadString,
    /// A numeric part not 12 bytes long.
    BadNumber,
    /// A values part whose length does not match its count, or an unknown value type.
    BadValues,
    /// A signature that does not match.
    BadSignature,
    /// An encrypted part that does not decrypt (checksum mismatch, bad lengths).
    BadEncryption,
    /// A signed or encrypted part by a user not in the AuthFile.
    UnknownUser,
    /// An encrypted part, but no AuthFile is configured.
    NoAuthFile,
    /// Parts refused by `SecurityLevel sign` (neither signed nor encrypted).
    Unsigned,
    /// Parts refused by `SecurityLevel encrypt` (not encrypted).
    Unencrypted,
    /// A value list without time, host, plugin or type.
    Incomplete,
}

impl Problem {
    /// Every kind, in rendering order.
    pub const ALL: [Problem; 11] = [
        Problem::BadLength,
        Problem::BadString,
        Problem::BadNumber,
        Problem::BadValues,
        Problem::BadSignature,
        Problem::BadEncryption,
        Problem::UnknownUser,
        Problem::NoAuthFile,
        Problem::Unsigned,
        Problem::Unencrypted,
        Problem::Incomplete,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Problem::BadLength => "bad_length",
            Problem::BadString => "bad_string",
            Problem::BadNumber => "bad_number",
            Problem::BadValues => "bad_values",
            Problem::BadSignature => "bad_signature",
            Problem::BadEncryption => "bad_encryption",
            Problem::UnknownUser => "unknown_user",
            Problem::NoAuthFile => "no_auth_file",
            Problem::Unsigned => "unsigned",
            Problem::Unencrypted => "unencrypted",
            Problem::Incomplete => "incomplete",
        }
    }
}

/// The outcome of one packet.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    /// Value lists dispatched, in order.
    pub lists: Vec<ValueList>,
    /// Problems met (a packet may have several; parsing stops at the first fatal one).
    pub problems: Vec<Problem>,
    /// Notifications seen (not stored).
    pub notifications: usize,
}

#[derive(Clone, Copy, Default)]
struct Flags {
    signed: bool,
    encrypted: bool,
}

#[derive(Default)]
struct State {
    host: String,
    plugin: String,
    plugin_instance: String,
    type_: String,
    type_instance: String,
    time: u64,
    interval: u64,
}

/// Parses one packet under `level` with the AuthFile `users`.
pub fn parse(packet: &[u8], level: SecurityLevel, users: Option<&Users>) -> Parsed {
    let mut out = Parsed::default();
    parse_into(packet, level, users, Flags::default(), None, &mut out, 0);
    out
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn note(out: &mut Parsed, p: Problem) {
    if !out.problems.contains(&p) {
        out.problems.push(p);
    }
}

fn parse_into(
    mut buf: &[u8],
    level: SecurityLevel,
    users: Option<&Users>,
    flags: Flags,
    user: Option<&str>,
    out: &mut Parsed,
    depth: usize,
) {
    let mut st = State::default();
    while buf.len() > 4 {
        let (Some(kind), Some(len)) = (be16(buf, 0), be16(buf, 2)) else {
            return;
        };
        let len = usize::from(len);
        if len > buf.len() || len < 4 {
            note(out, Problem::BadLength);
            return;
        }
        if kind == part::ENCR_AES256 {
            if depth > 0 && flags.encrypted {
                // collectd would recurse; one level is all a sender produces.
                note(out, Problem::BadEncryption);
                return;
            }
            match crypto::decrypt_part(buf, users) {
                Ok((payload, name)) => {
                    let f = Flags {
                        encrypted: true,
                        ..flags
                    };
                    parse_into(&payload, level, users, f, Some(&name), out, depth + 1);
                    buf = &buf[len..];
                    continue;
                }
                Err(p) => {
                    note(out, p);
                    return;
                }
            }
        }
        if level == SecurityLevel::Encrypt && !flags.encrypted {
            note(out, Problem::Unencrypted);
            buf = &buf[len..];
            continue;
        }
        if kind == part::SIGN_SHA256 {
            let Some(users) = users else {
                // collectd: "can't verify it because no user DB has been configured.
                // Will accept it."
                buf = &buf[len..];
                continue;
            };
            match crypto::verify_signed(buf, users) {
                Ok(name) => {
                    if depth < 4 {
                        let f = Flags {
                            signed: true,
                            ..flags
                        };
                        parse_into(
                            &buf[len..],
                            level,
                            Some(users),
                            f,
                            Some(&name),
                            out,
                            depth + 1,
                        );
                    }
                }
                Err(p) => note(out, p),
            }
            // The signature covers the rest of the packet: done either way.
            return;
        }
        if level == SecurityLevel::Sign && !flags.encrypted && !flags.signed {
            note(out, Problem::Unsigned);
            buf = &buf[len..];
            continue;
        }
        let payload = &buf[4..len];
        let ok = match kind {
            part::VALUES => match parse_values(payload) {
                Some(values) => {
                    if st.time > 0
                        && !st.host.is_empty()
                        && !st.plugin.is_empty()
                        && !st.type_.is_empty()
                    {
                        out.lists.push(ValueList {
                            host: st.host.clone(),
                            plugin: st.plugin.clone(),
                            plugin_instance: st.plugin_instance.clone(),
                            type_: st.type_.clone(),
                            type_instance: st.type_instance.clone(),
                            time: st.time,
                            interval: st.interval,
                            values,
                            user: user.map(str::to_string),
                        });
                    } else {
                        note(out, Problem::Incomplete);
                    }
                    true
                }
                None => {
                    note(out, Problem::BadValues);
                    false
                }
            },
            part::TIME | part::TIME_HR | part::INTERVAL | part::INTERVAL_HR => {
                match (len == 12).then(|| be64(payload, 0)).flatten() {
                    Some(v) => {
                        match kind {
                            part::TIME => st.time = v.saturating_mul(1 << 30),
                            part::TIME_HR => st.time = v,
                            part::INTERVAL => st.interval = v.saturating_mul(1 << 30),
                            _ => st.interval = v,
                        }
                        true
                    }
                    None => {
                        note(out, Problem::BadNumber);
                        false
                    }
                }
            }
            part::HOST
            | part::PLUGIN
            | part::PLUGIN_INSTANCE
            | part::TYPE
            | part::TYPE_INSTANCE => match parse_string(payload) {
                Some(s) => {
                    match kind {
                        part::HOST => st.host = s,
                        part::PLUGIN => st.plugin = s,
                        part::PLUGIN_INSTANCE => st.plugin_instance = s,
                        part::TYPE => st.type_ = s,
                        _ => st.type_instance = s,
                    }
                    true
                }
                None => {
                    note(out, Problem::BadString);
                    false
                }
            },
            part::MESSAGE => {
                out.notifications += 1;
                true
            }
            // Severity and parts of later versions: skipped, as collectd does.
            _ => true,
        };
        if !ok {
            return;
        }
        buf = &buf[len..];
    }
}

/// A NUL-terminated string of at most [`MAX_NAME`] bytes (NUL included).
fn parse_string(payload: &[u8]) -> Option<String> {
    let (&last, text) = payload.split_last()?;
    if last != 0 || payload.len() > MAX_NAME || text.contains(&0) {
        return None;
    }
    Some(String::from_utf8_lossy(text).into_owned())
}

fn parse_values(payload: &[u8]) -> Option<Vec<Value>> {
    let count = usize::from(be16(payload, 0)?);
    if payload.len() != 2 + 9 * count || count == 0 {
        return None;
    }
    let types = payload.get(2..2 + count)?;
    let data = payload.get(2 + count..)?;
    types
        .iter()
        .zip(data.chunks_exact(8))
        .map(|(&t, raw)| {
            let bytes: [u8; 8] = raw.try_into().ok()?;
            Some(match t {
                0 => Value::Counter(u64::from_be_bytes(bytes)),
                1 => Value::Gauge(f64::from_le_bytes(bytes)),
                2 => Value::Derive(i64::from_be_bytes(bytes)),
                3 => Value::Absolute(u64::from_be_bytes(bytes)),
                _ => return None,
            })
        })
        .collect()
}

/// Builds packets as collectd's `network` plugin writes them (for tests, fuzz seeds
/// and the benchmark).
pub mod build {
    use super::{Value, part};

    /// Appends a string part.
    pub fn string(out: &mut Vec<u8>, kind: u16, s: &str) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&((s.len() + 5) as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    /// Appends a numeric part.
    pub fn number(out: &mut Vec<u8>, kind: u16, v: u64) {
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&12u16.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a values part.
    pub fn values(out: &mut Vec<u8>, values: &[Value]) {
        out.extend_from_slice(&part::VALUES.to_be_bytes());
        out.extend_from_slice(&((6 + 9 * values.len()) as u16).to_be_bytes());
        out.extend_from_slice(&(values.len() as u16).to_be_bytes());
        for v in values {
            out.push(match v {
                Value::Counter(_) => 0,
                Value::Gauge(_) => 1,
                Value::Derive(_) => 2,
                Value::Absolute(_) => 3,
            });
        }
        for v in values {
            match *v {
                Value::Counter(x) | Value::Absolute(x) => out.extend_from_slice(&x.to_be_bytes()),
                Value::Gauge(x) => out.extend_from_slice(&x.to_le_bytes()),
                Value::Derive(x) => out.extend_from_slice(&x.to_be_bytes()),
            }
        }
    }

    /// A packet of one value list.
    #[allow(clippy::too_many_arguments)]
    pub fn value_list(
        host: &str,
        plugin: &str,
        plugin_instance: &str,
        type_: &str,
        type_instance: &str,
        time_s: u64,
        interval_s: u64,
        vals: &[Value],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, part::HOST, host);
        number(&mut out, part::TIME_HR, time_s << 30);
        number(&mut out, part::INTERVAL_HR, interval_s << 30);
        string(&mut out, part::PLUGIN, plugin);
        if !plugin_instance.is_empty() {
            string(&mut out, part::PLUGIN_INSTANCE, plugin_instance);
        }
        string(&mut out, part::TYPE, type_);
        if !type_instance.is_empty() {
            string(&mut out, part::TYPE_INSTANCE, type_instance);
        }
        values(&mut out, vals);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lists_share_the_state_of_earlier_parts() {
        let mut p = build::value_list(
            "pi",
            "cpu",
            "0",
            "cpu",
            "user",
            1_700_000_000,
            10,
            &[Value::Derive(123)],
        );
        build::string(&mut p, part::TYPE_INSTANCE, "idle");
        build::values(&mut p, &[Value::Derive(456)]);
        build::string(&mut p, part::PLUGIN, "load");
        p.extend_from_slice(&[0, 3, 0, 5, 0]); // PLUGIN_INSTANCE "" (just the NUL)
        build::string(&mut p, part::TYPE, "load");
        build::string(&mut p, part::TYPE_INSTANCE, "");
        build::values(
            &mut p,
            &[Value::Gauge(0.5), Value::Gauge(0.25), Value::Gauge(1.0)],
        );
        let r = parse(&p, SecurityLevel::None, None);
        assert_eq!(r.problems, vec![]);
        assert_eq!(r.lists.len(), 3);
        assert_eq!(r.lists[1].type_instance, "idle");
        assert_eq!(r.lists[1].values, vec![Value::Derive(456)]);
        assert_eq!(r.lists[2].plugin, "load");
        assert_eq!(r.lists[2].plugin_instance, "");
        assert_eq!(r.lists[2].values[1], Value::Gauge(0.25));
        assert_eq!(r.lists[0].time_ms(), 1_700_000_000_000);
        assert_eq!(r.lists[0].interval_ms(), 10_000);
    }

    #[test]
    fn broken_parts_are_reported_by_kind() {
        let good = build::value_list("pi", "cpu", "0", "cpu", "user", 1, 10, &[Value::Derive(1)]);
        let mut bad_len = good.clone();
        bad_len[3] = 200;
        assert_eq!(
            parse(&bad_len, SecurityLevel::None, None).problems,
            vec![Problem::BadLength]
        );
        let mut no_nul = good.clone();
        no_nul[6] = b'x'; // "pi\0" -> "pix"
        assert_eq!(
            parse(&no_nul, SecurityLevel::None, None).problems,
            vec![Problem::BadString]
        );
        let mut bad_type = good.clone();
        let n = bad_type.len();
        bad_type[n - 9] = 7;
        assert_eq!(
            parse(&bad_type, SecurityLevel::None, None).problems,
            vec![Problem::BadValues]
        );
        let mut v = Vec::new();
        build::values(&mut v, &[Value::Gauge(1.0)]);
        assert_eq!(
            parse(&v, SecurityLevel::None, None).problems,
            vec![Problem::Incomplete]
        );
        assert_eq!(
            parse(&good, SecurityLevel::Sign, None).problems,
            vec![Problem::Unsigned]
        );
        assert_eq!(
            parse(&good, SecurityLevel::Encrypt, None).problems,
            vec![Problem::Unencrypted]
        );
        assert!(parse(&good, SecurityLevel::Sign, None).lists.is_empty());
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x9e37_79b9u32;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    [0u8, 1, 2, 4, 5, 6, 8, 12, 0x10, 0x02, b'a', 255][(seed % 12) as usize]
                })
                .collect();
            let _ = parse(&bytes, SecurityLevel::None, None);
        }
    }
}
