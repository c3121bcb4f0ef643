//! Raspberry Pi firmware throttling state: `get_throttled` under the firmware's sysfs
//! node (`/sys/devices/platform/soc/soc:firmware/get_throttled`), a hex mask without
//! `0x` (`50005`). `vcgencmd get_throttled`'s `throttled=0x50005` is accepted too.
//!
//! Bits: 0 under-voltage now, 1 ARM frequency capped now, 2 throttled now, 3 soft
//! temperature limit now; 16–19 the same conditions "has occurred since boot".

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use super::{FileFormat, ParseError, single_value, text::parse_hex_u32};
use crate::sink::SampleSink;

/// The decoded `get_throttled` mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled(pub u32);

impl Throttled {
    /// The raw mask.
    pub const fn bits(self) -> u32 {
        self.0
    }
    const fn bit(self, n: u32) -> bool {
        self.0 & (1 << n) != 0
    }
    /// Bit 0: under-voltage detected now.
    pub const fn under_voltage(self) -> bool {
        self.bit(0)
    }
    /// Bit 1: ARM frequency capped now.
    pub const fn frequency_capped(self) -> bool {
        self.bit(1)
    }
    /// Bit 2: throttled now.
    pub const fn throttled(self) -> bool {
        self.bit(2)
    }
    /// Bit 3: soft temperature limit active now.
    pub const fn soft_temp_limit(self) -> bool {
        self.bit(3)
    }
    /// Bit 16: under-voltage has occurred since boot.
    pub const fn under_voltage_occurred(self) -> bool {
        self.bit(16)
    }
    /// Bit 17: frequency capping has occurred since boot.
    pub const fn frequency_capped_occurred(self) -> bool {
        self.bit(17)
    }
    /// Bit 18: throttling has occurred since boot.
    pub const fn throttled_occurred(self) -> bool {
        self.bit(18)
    }
    /// Bit 19: soft temperature limit has occurred since boot.
    pub const fn soft_temp_limit_occurred(self) -> bool {
        self.bit(19)
    }
    /// The eight flags in the catalog's `RPI_*` order: the four "now" flags, then the
    /// four "occurred since boot" flags.
    pub const fn flags(self) -> [bool; 8] {
        [
            self.under_voltage(),
            self.frequency_capped(),
            self.throttled(),
            self.soft_temp_limit(),
            self.under_voltage_occurred(),
            self.frequency_capped_occurred(),
            self.throttled_occurred(),
            self.soft_temp_limit_occurred(),
        ]
    }
}

/// Parses `get_throttled`.
pub fn parse_throttled(input: &[u8]) -> Result<Throttled, ParseError> {
    let value = single_value(input)?;
    let value = value.strip_prefix(b"throttled=").unwrap_or(value);
    let value = value
        .strip_prefix(b"0x")
        .or_else(|| value.strip_prefix(b"0X"))
        .unwrap_or(value);
    parse_hex_u32(value).map(Throttled)
}

/// `get_throttled` as a source: the eight `RPI_*` flags (0/1) and
/// `RPI_THROTTLED_FLAGS` (the raw mask), unlabelled.
#[derive(Debug)]
pub struct GetThrottled;

/// Ids of the flags, in [`Throttled::flags`] order.
const FLAG_IDS: [u16; 8] = [
    id::RPI_UNDER_VOLTAGE,
    id::RPI_FREQUENCY_CAPPED,
    id::RPI_THROTTLED,
    id::RPI_SOFT_TEMP_LIMIT,
    id::RPI_UNDER_VOLTAGE_OCCURRED,
    id::RPI_FREQUENCY_CAPPED_OCCURRED,
    id::RPI_THROTTLED_OCCURRED,
    id::RPI_SOFT_TEMP_LIMIT_OCCURRED,
];

impl FileFormat for GetThrottled {
    /// Where the firmware driver exposes it.
    const PATH: &'static str = "sys/devices/platform/soc/soc:firmware/get_throttled";

    fn push_samples(
        input: &[u8],
        sink: &mut dyn SampleSink,
        _bad_row: &mut dyn FnMut(ParseError),
    ) -> Result<(), ParseError> {
        let t = parse_throttled(input)?;
        sink.labels(&[]);
        for (metric, set) in FLAG_IDS.into_iter().zip(t.flags()) {
            sink.push(metric, Value::Unsigned(u64::from(set)));
        }
        sink.push(id::RPI_THROTTLED_FLAGS, Value::Unsigned(u64::from(t.bits())));
        Ok(())
    }
}

/// Runs every parser of this module over `input` to the end (see [`super::exercise`]).
pub fn exercise(input: &[u8]) {
    let _ = parse_throttled(input).map(Throttled::flags);
    super::exercise_format::<GetThrottled>(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        let pi4 = parse_throttled(fixture!(
            "pi4/sys/devices/platform/soc/soc:firmware/get_throttled"
        ))
        .unwrap();
        assert_eq!(pi4.flags(), [false; 8]);
        let zero = parse_throttled(fixture!(
            "pizero/sys/devices/platform/soc/soc:firmware/get_throttled"
        ))
        .unwrap();
        assert_eq!(zero.bits(), 0x50005);
        assert_eq!(
            zero.flags(),
            [true, false, true, false, true, false, true, false]
        );
    }

    #[test]
    fn each_bit() {
        let t = parse_throttled(b"e000a\n").unwrap();
        assert_eq!(
            t.flags(),
            [false, true, false, true, false, true, true, true]
        );
        assert!(
            parse_throttled(b"throttled=0x80008\n")
                .unwrap()
                .soft_temp_limit_occurred()
        );
        assert_eq!(parse_throttled(b"\n"), Err(ParseError::Empty));
        assert_eq!(parse_throttled(b"zz\n"), Err(ParseError::InvalidNumber));
    }
}
