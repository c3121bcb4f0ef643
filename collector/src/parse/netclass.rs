//! `/sys/class/net/<device>/`: one value per attribute file, as node_exporter's netclass
//! collector (through procfs' `sysfs/net_class.go`) reads them.
//!
//! ```text
//! /sys/class/net/eth0/mtu        1500
//! /sys/class/net/eth0/flags      0x1003
//! /sys/class/net/eth0/operstate  up
//! /sys/class/net/eth0/address    dc:a6:32:12:34:56
//! ```
//!
//! Numbers are read as Go's `strconv.ParseInt(s, 0, 64)` reads them, because the
//! kernel writes some in hex (`flags` = `0x1003`, `dev_id` = `0x0`): a `0x` prefix is
//! hex, `0o` or a leading `0` octal, `0b` binary, anything else decimal. Text values
//! (address, operstate, ifalias…) are the file's first 128 bytes (procfs reads no more)
//! with surrounding whitespace trimmed, and may be empty (`ifalias` of a device without
//! one). [`NUMERIC_ATTRIBUTES`] maps the numeric files to their catalog ids, in id order.

use pimon_protocol::catalog::id;

use super::{ParseError, trim_ascii, utf8};

/// The numeric attribute files of a device and their catalog ids, in ascending id order
/// (node_exporter's order; `statistics/rx_nohandler` last); `speed` is in Mbit/s (the
/// catalog scales it to bytes/s).
pub const NUMERIC_ATTRIBUTES: [(&str, u16); 18] = [
    ("addr_assign_type", id::NETCLASS_ADDRESS_ASSIGN_TYPE),
    ("carrier", id::NETCLASS_CARRIER),
    ("carrier_changes", id::NETCLASS_CARRIER_CHANGES),
    ("carrier_up_count", id::NETCLASS_CARRIER_UP_CHANGES),
    ("carrier_down_count", id::NETCLASS_CARRIER_DOWN_CHANGES),
    ("dev_id", id::NETCLASS_DEVICE_ID),
    ("dormant", id::NETCLASS_DORMANT),
    ("flags", id::NETCLASS_FLAGS),
    ("ifindex", id::NETCLASS_IFACE_ID),
    ("iflink", id::NETCLASS_IFACE_LINK),
    ("link_mode", id::NETCLASS_IFACE_LINK_MODE),
    ("mtu", id::NETCLASS_MTU),
    ("name_assign_type", id::NETCLASS_NAME_ASSIGN_TYPE),
    ("netdev_group", id::NETCLASS_NET_DEV_GROUP),
    ("speed", id::NETCLASS_SPEED),
    ("tx_queue_len", id::NETCLASS_TRANSMIT_QUEUE_LENGTH),
    ("type", id::NETCLASS_PROTOCOL_TYPE),
    ("statistics/rx_nohandler", id::NET_RECEIVE_NOHANDLER),
];

/// The text attribute files of a device that make `node_network_info`'s labels, in the
/// catalog's label order (after `device`; `adminstate` comes from `flags`).
pub const TEXT_ATTRIBUTES: [&str; 5] = ["address", "broadcast", "duplex", "operstate", "ifalias"];

/// Index of `operstate` in [`TEXT_ATTRIBUTES`].
pub const OPERSTATE: usize = 3;

/// Which of [`TEXT_ATTRIBUTES`] are read every cycle: `operstate` (`node_network_up`).
/// `duplex` changes with the link (a renegotiation drops the carrier first);
/// `address`, `broadcast` and `ifalias` only by an administrator's action (or a
/// driver's, with the device down): they are read at discovery and again when the
/// device's `flags`, `carrier_changes` or `operstate` change.
pub const TEXT_EVERY_CYCLE: [bool; TEXT_ATTRIBUTES.len()] = [false, false, false, true, false];

/// The numeric attributes read every cycle (catalog ids): the counters
/// (`carrier_changes`, `rx_nohandler`) and `flags`. What follows the link (`carrier`,
/// the carrier up/down counts, `dormant`, `speed`) changes only with `carrier_changes`
/// or `operstate`; the others (`addr_assign_type`, `dev_id`, `ifindex`, `iflink`,
/// `link_mode`, `mtu`, `name_assign_type`, `netdev_group`, `tx_queue_len`, `type`)
/// only by an administrator's action, or never while the device exists: all are read
/// at discovery and again when `flags`, `carrier_changes` or `operstate` change.
pub const NUMERIC_EVERY_CYCLE: [u16; 3] = [
    id::NETCLASS_CARRIER_CHANGES,
    id::NETCLASS_FLAGS,
    id::NET_RECEIVE_NOHANDLER,
];

/// How much of a text attribute procfs reads (one `read(2)` of 128 bytes).
pub const TEXT_READ_BYTES: usize = 128;

/// `IFF_UP` of `flags`: the device is administratively up.
const IFF_UP: i64 = 1;

/// Parses a numeric attribute file as Go's `strconv.ParseInt(s, 0, 64)` (see the module
/// docs): `"1500\n"` → 1500, `"0x1003\n"` → 4099, `"-1\n"` → -1.
pub fn parse_attribute_int(input: &[u8]) -> Result<i64, ParseError> {
    let text = trim_ascii(input);
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (radix, digits) = match unsigned {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest),
        [b'0', rest @ ..] if !rest.is_empty() => (8, rest),
        _ => (10, unsigned),
    };
    if digits.is_empty() {
        return Err(ParseError::InvalidNumber);
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        let digit = char::from(b)
            .to_digit(radix)
            .ok_or(ParseError::InvalidNumber)?;
        magnitude = magnitude
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(ParseError::Overflow)?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or(ParseError::Overflow)
    } else {
        i64::try_from(magnitude).map_err(|_| ParseError::Overflow)
    }
}

/// Parses a text attribute file: the first [`TEXT_READ_BYTES`] bytes, trimmed, as UTF-8
/// (empty is a value: `ifalias` without an alias).
pub fn parse_attribute_text(input: &[u8]) -> Result<&str, ParseError> {
    utf8(trim_ascii(input.get(..TEXT_READ_BYTES).unwrap_or(input)))
}

/// node_exporter's `adminstate` label from `flags` (`IFF_UP`); `"unknown"` without flags.
pub fn admin_state(flags: Option<i64>) -> &'static str {
    match flags {
        None => "unknown",
        Some(flags) if flags & IFF_UP == IFF_UP => "up",
        Some(_) => "down",
    }
}

/// Runs every parser of this module over `input` (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let flags = parse_attribute_int(input).ok();
    let _ = admin_state(flags);
    let _ = parse_attribute_text(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pi4_fixture() {
        let eth0 = |file: &str| -> &[u8] {
            match file {
                "mtu" => fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/mtu"),
                "flags" => {
                    fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/flags")
                }
                "speed" => {
                    fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/speed")
                }
                "dev_id" => {
                    fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/dev_id")
                }
                "address" => {
                    fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/address")
                }
                "ifalias" => {
                    fixture!("pi4/sys/devices/platform/scb/fd580000.ethernet/net/eth0/ifalias")
                }
                _ => unreachable!(),
            }
        };
        assert_eq!(parse_attribute_int(eth0("mtu")), Ok(1500));
        assert_eq!(parse_attribute_int(eth0("flags")), Ok(0x1003));
        assert_eq!(parse_attribute_int(eth0("speed")), Ok(1000));
        assert_eq!(parse_attribute_int(eth0("dev_id")), Ok(0));
        assert_eq!(
            parse_attribute_text(eth0("address")),
            Ok("dc:a6:32:8f:1e:5b")
        );
        assert_eq!(parse_attribute_text(eth0("ifalias")), Ok(""));
        assert_eq!(
            parse_attribute_text(fixture!("pi4/sys/devices/virtual/net/lo/operstate")),
            Ok("unknown")
        );
    }

    #[test]
    fn numbers_as_go_parse_int_base_0() {
        assert_eq!(parse_attribute_int(b"-1\n"), Ok(-1));
        assert_eq!(parse_attribute_int(b"0\n"), Ok(0));
        assert_eq!(parse_attribute_int(b"0x0\n"), Ok(0));
        assert_eq!(parse_attribute_int(b"0X1f"), Ok(31));
        assert_eq!(parse_attribute_int(b"010"), Ok(8));
        assert_eq!(parse_attribute_int(b"0o17"), Ok(15));
        assert_eq!(parse_attribute_int(b"0b101"), Ok(5));
        assert_eq!(parse_attribute_int(b"+7"), Ok(7));
        assert_eq!(
            parse_attribute_int(b"-9223372036854775808"),
            Ok(i64::MIN)
        );
        assert_eq!(
            parse_attribute_int(b"9223372036854775808"),
            Err(ParseError::Overflow)
        );
        assert_eq!(parse_attribute_int(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_attribute_int(b"0x"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_attribute_int(b"08"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_attribute_int(b"up"), Err(ParseError::InvalidNumber));
        assert_eq!(parse_attribute_int(b"--1"), Err(ParseError::InvalidNumber));
    }

    #[test]
    fn text_is_trimmed_and_cut_at_128_bytes() {
        assert_eq!(parse_attribute_text(b"up\n"), Ok("up"));
        assert_eq!(parse_attribute_text(b""), Ok(""));
        let long = [b'a'; 200];
        assert_eq!(parse_attribute_text(&long).map(str::len), Ok(128));
        assert_eq!(parse_attribute_text(b"\xff\n"), Err(ParseError::InvalidUtf8));
    }

    #[test]
    fn admin_state_from_flags() {
        assert_eq!(admin_state(Some(0x1003)), "up");
        assert_eq!(admin_state(Some(0x9)), "up");
        assert_eq!(admin_state(Some(0x1002)), "down");
        assert_eq!(admin_state(None), "unknown");
    }

    #[test]
    fn attributes_in_id_order() {
        assert!(NUMERIC_ATTRIBUTES.windows(2).all(|w| w[0].1 + 1 == w[1].1));
        assert_eq!(NUMERIC_ATTRIBUTES[0].1, id::NETCLASS_UP + 1);
        assert_eq!(
            NUMERIC_ATTRIBUTES[NUMERIC_ATTRIBUTES.len() - 1].1,
            id::NET_RECEIVE_NOHANDLER
        );
        assert_eq!(TEXT_ATTRIBUTES[OPERSTATE], "operstate");
        assert!(TEXT_EVERY_CYCLE[OPERSTATE]);
        assert!(
            NUMERIC_EVERY_CYCLE
                .iter()
                .all(|m| NUMERIC_ATTRIBUTES.iter().any(|(_, a)| a == m)),
            "every attribute read every cycle is one of the numeric attributes"
        );
    }
}
