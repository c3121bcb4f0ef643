//! Typed sample values as they travel on the wire.

/// A sample value in its raw (kernel) unit.
///
/// The variant is the wire encoding: unsigned and signed integers travel as varints
/// (1–10 bytes, small values small), floats as 4 or 8 little-endian bytes. Use the
/// integer variants wherever the source is an integer (counters, kB, millidegrees):
/// they are exact and usually shorter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Unsigned integer: counters, byte counts, states (0/1, enum codes).
    Unsigned(u64),
    /// Signed integer: temperatures in millidegrees and other gauges that go below zero.
    Signed(i64),
    /// Single-precision float (4 bytes on the wire).
    F32(f32),
    /// Double-precision float (8 bytes on the wire).
    F64(f64),
}

impl Value {
    /// The value as `f64` (exact for integers up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Unsigned(v) => v as f64,
            Value::Signed(v) => v as f64,
            Value::F32(v) => f64::from(v),
            Value::F64(v) => v,
        }
    }
}
