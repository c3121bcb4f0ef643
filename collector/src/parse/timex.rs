//! The timex source's format module: `adjtimex(2)`'s kernel clock discipline (the
//! `struct timex` fields and the call's clock state) as node_exporter's `timex`
//! collector exports it. There is no file: [`crate::sys::adjtimex`] makes the call
//! (read-only, `modes` = 0) and [`push_samples`] turns its fields into samples.
//!
//! Most fields go on the wire as the kernel gives them, the catalog row scales them
//! (µs → s, scaled ppm → Hz). Two depend on the `status` word, which the catalog cannot
//! express, so the arithmetic is done here: `offset` and `jitter` are nanoseconds when
//! `STA_NANO` is set and microseconds otherwise, and are sent in nanoseconds; the
//! frequency is sent as node_exporter's ratio `1 + freq / (10^6 × 2^16)`, a float.

use pimon_protocol::Value;
use pimon_protocol::catalog::id;

use crate::sink::SampleSink;

/// `status` bit: `offset` and `jitter` are in nanoseconds (else microseconds).
const STA_NANO: i64 = 0x2000;
/// adjtimex(2)'s return value when the clock is not synchronised.
const TIME_ERROR: i32 = 5;

/// The `struct timex` fields node_exporter exports, widened to `i64` (they are `long`
/// or `int` in the kernel's struct), and the call's return value (the clock state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockDiscipline {
    pub state: i32,
    pub offset: i64,
    pub freq: i64,
    pub maxerror: i64,
    pub esterror: i64,
    pub status: i64,
    pub constant: i64,
    pub tick: i64,
    pub ppsfreq: i64,
    pub jitter: i64,
    pub shift: i64,
    pub stabil: i64,
    pub jitcnt: i64,
    pub calcnt: i64,
    pub errcnt: i64,
    pub stbcnt: i64,
    pub tai: i64,
}

/// `node_timex_*`, in catalog id order: offset and jitter in nanoseconds, the frequency
/// as a ratio, the rest as the kernel gives them.
pub fn push_samples(t: &ClockDiscipline, sink: &mut dyn SampleSink) {
    let to_nanoseconds = |v: i64| {
        if t.status & STA_NANO != 0 {
            v
        } else {
            v.saturating_mul(1000)
        }
    };
    let count = |v: i64| Value::Unsigned(u64::try_from(v).unwrap_or(0));
    sink.labels(&[]);
    sink.push(id::TIMEX_OFFSET_SECONDS, Value::Signed(to_nanoseconds(t.offset)));
    sink.push(
        id::TIMEX_FREQUENCY_ADJUSTMENT_RATIO,
        Value::F64(1.0 + t.freq as f64 / 65_536_000_000.0),
    );
    sink.push(id::TIMEX_MAXERROR_SECONDS, Value::Signed(t.maxerror));
    sink.push(id::TIMEX_ESTIMATED_ERROR_SECONDS, Value::Signed(t.esterror));
    sink.push(id::TIMEX_STATUS, Value::Signed(t.status));
    sink.push(id::TIMEX_LOOP_TIME_CONSTANT, Value::Signed(t.constant));
    sink.push(id::TIMEX_TICK_SECONDS, Value::Signed(t.tick));
    sink.push(id::TIMEX_PPS_FREQUENCY_HERTZ, Value::Signed(t.ppsfreq));
    sink.push(id::TIMEX_PPS_JITTER_SECONDS, Value::Signed(to_nanoseconds(t.jitter)));
    sink.push(id::TIMEX_PPS_SHIFT_SECONDS, Value::Signed(t.shift));
    sink.push(id::TIMEX_PPS_STABILITY_HERTZ, Value::Signed(t.stabil));
    sink.push(id::TIMEX_PPS_JITTER_TOTAL, count(t.jitcnt));
    sink.push(id::TIMEX_PPS_CALIBRATION_TOTAL, count(t.calcnt));
    sink.push(id::TIMEX_PPS_ERROR_TOTAL, count(t.errcnt));
    sink.push(id::TIMEX_PPS_STABILITY_EXCEEDED_TOTAL, count(t.stbcnt));
    sink.push(id::TIMEX_TAI_OFFSET_SECONDS, Value::Signed(t.tai));
    sink.push(
        id::TIMEX_SYNC_STATUS,
        Value::Unsigned(u64::from(t.state != TIME_ERROR)),
    );
}

/// Runs every parser of this module over `input` (see [`super::exercise`]): none, the
/// source reads no bytes.
pub fn exercise(_input: &[u8]) {}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use pimon_protocol::catalog::{Number, find};

    use super::*;

    /// The samples of `clock`, each with its catalog row's exported value.
    fn exported(clock: &ClockDiscipline) -> Vec<(&'static str, Value, Number)> {
        struct Recorder(Vec<(u16, Value)>);
        impl SampleSink for Recorder {
            fn labels(&mut self, values: &[&str]) {
                assert!(values.is_empty());
            }
            fn push(&mut self, metric: u16, value: Value) {
                self.0.push((metric, value));
            }
        }
        let mut sink = Recorder(Vec::new());
        push_samples(clock, &mut sink);
        let ids: Vec<u16> = sink.0.iter().map(|s| s.0).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
        sink.0
            .into_iter()
            .map(|(metric, value)| {
                let row = &pimon_protocol::catalog::CATALOG[usize::from(metric)];
                assert_eq!(find(row.prom_name, &[]).map(|r| r.id), Some(metric));
                (row.prom_name, value, row.conversion.convert(value, 100))
            })
            .collect()
    }

    fn value_of(samples: &[(&str, Value, Number)], name: &str) -> f64 {
        samples
            .iter()
            .find(|s| s.0 == name)
            .unwrap_or_else(|| panic!("{name}"))
            .2
            .as_f64()
    }

    /// This x86 test machine's clock, never synchronised (captured with a read-only
    /// adjtimex: return value 5 = TIME_ERROR, status 0x40 = STA_UNSYNC, microseconds):
    /// node_exporter 1.5 prints exactly these values for it.
    const UNSYNCHRONISED: ClockDiscipline = ClockDiscipline {
        state: 5,
        offset: 0,
        freq: 0,
        maxerror: 16_000_000,
        esterror: 16_000_000,
        status: 0x40,
        constant: 2,
        tick: 10_000,
        ppsfreq: 0,
        jitter: 0,
        shift: 0,
        stabil: 0,
        jitcnt: 0,
        calcnt: 0,
        errcnt: 0,
        stbcnt: 0,
        tai: 0,
    };

    #[test]
    fn an_unsynchronised_clock_as_node_exporter_exports_it() {
        let s = exported(&UNSYNCHRONISED);
        let names: Vec<&str> = s.iter().map(|s| s.0).collect();
        assert_eq!(
            names,
            [
                "node_timex_offset_seconds",
                "node_timex_frequency_adjustment_ratio",
                "node_timex_maxerror_seconds",
                "node_timex_estimated_error_seconds",
                "node_timex_status",
                "node_timex_loop_time_constant",
                "node_timex_tick_seconds",
                "node_timex_pps_frequency_hertz",
                "node_timex_pps_jitter_seconds",
                "node_timex_pps_shift_seconds",
                "node_timex_pps_stability_hertz",
                "node_timex_pps_jitter_total",
                "node_timex_pps_calibration_total",
                "node_timex_pps_error_total",
                "node_timex_pps_stability_exceeded_total",
                "node_timex_tai_offset_seconds",
                "node_timex_sync_status",
            ]
        );
        assert_eq!(value_of(&s, "node_timex_sync_status"), 0.0);
        assert_eq!(value_of(&s, "node_timex_maxerror_seconds"), 16.0);
        assert_eq!(value_of(&s, "node_timex_estimated_error_seconds"), 16.0);
        assert_eq!(value_of(&s, "node_timex_tick_seconds"), 0.01);
        assert_eq!(value_of(&s, "node_timex_status"), 64.0);
        assert_eq!(value_of(&s, "node_timex_loop_time_constant"), 2.0);
        assert_eq!(value_of(&s, "node_timex_frequency_adjustment_ratio"), 1.0);
    }

    /// A clock NTP steers, in the kernel's units (adjtimex(2)): microsecond offsets
    /// (`STA_PLL`, 0x1) and, the same instants, nanosecond ones (`STA_NANO` added, as
    /// chrony sets it) give the same exported seconds; the frequency and PPS fields are
    /// scaled ppm (2^-16 ppm) and convert as node_exporter's `ppm16frac` division.
    #[test]
    fn offsets_follow_sta_nano_and_scaled_ppm_converts_as_node_exporter() {
        let micro = ClockDiscipline {
            state: 0, // TIME_OK
            offset: -1_234,
            freq: -1_166_458,
            maxerror: 21_500,
            esterror: 310,
            status: 0x1,
            constant: 7,
            tick: 10_000,
            ppsfreq: 655_360,
            jitter: 25,
            shift: 8,
            stabil: 3_277,
            jitcnt: 1,
            calcnt: 42,
            errcnt: 2,
            stbcnt: 3,
            tai: 37,
        };
        let nano = ClockDiscipline {
            status: 0x1 | STA_NANO,
            offset: -1_234_000,
            jitter: 25_000,
            ..micro
        };
        for clock in [micro, nano] {
            let s = exported(&clock);
            assert_eq!(value_of(&s, "node_timex_offset_seconds"), -1234.0 / 1e6);
            assert_eq!(value_of(&s, "node_timex_pps_jitter_seconds"), 25.0 / 1e6);
            assert_eq!(
                value_of(&s, "node_timex_frequency_adjustment_ratio"),
                1.0 + -1_166_458.0 / (1_000_000.0 * 65_536.0)
            );
            assert_eq!(
                value_of(&s, "node_timex_pps_frequency_hertz"),
                655_360.0 / (1_000_000.0 * 65_536.0)
            );
            assert_eq!(
                value_of(&s, "node_timex_pps_stability_hertz"),
                3_277.0 / (1_000_000.0 * 65_536.0)
            );
            assert_eq!(value_of(&s, "node_timex_maxerror_seconds"), 0.0215);
            assert_eq!(value_of(&s, "node_timex_estimated_error_seconds"), 0.00031);
            assert_eq!(value_of(&s, "node_timex_pps_shift_seconds"), 8.0);
            assert_eq!(value_of(&s, "node_timex_pps_calibration_total"), 42.0);
            assert_eq!(value_of(&s, "node_timex_tai_offset_seconds"), 37.0);
            assert_eq!(value_of(&s, "node_timex_sync_status"), 1.0);
        }
    }

    /// A negative counter (never written by the kernel) is sent as 0, not wrapped.
    #[test]
    fn a_negative_count_is_zero() {
        let s = exported(&ClockDiscipline {
            errcnt: -1,
            ..UNSYNCHRONISED
        });
        assert_eq!(value_of(&s, "node_timex_pps_error_total"), 0.0);
    }
}
