//! Extending 32-bit kernel counters to monotonic 64-bit ones.
//!
//! On 32-bit kernels `/proc/diskstats` counters are `unsigned long`: they wrap at 2^32
//! (a busy disk's sector counts do so within days). [`Wrap32`] remembers the last raw
//! value and the number of wraps seen, and returns `wraps × 2^32 + raw`.
//!
//! A decrease is only taken as a wrap when the previous value was in the upper half of
//! the 32-bit range (a counter about to wrap) and the new one fits 32 bits. Any other
//! decrease is a reset (the device was removed and added again): the wrap count restarts
//! at zero and the output goes down like the kernel's, which Prometheus' `rate()`
//! handles as a counter reset. Values above 32 bits (a 64-bit kernel) pass through.

/// Wrap tracking for one 32-bit counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wrap32 {
    last: Option<u64>,
    wraps: u64,
}

const HALF: u64 = 1 << 31;
const SPAN: u64 = 1 << 32;

impl Wrap32 {
    /// A tracker that has seen nothing yet.
    pub const fn new() -> Self {
        Wrap32 {
            last: None,
            wraps: 0,
        }
    }

    /// Records `raw` (the value as read) and returns the extended 64-bit value.
    pub fn extend(&mut self, raw: u64) -> u64 {
        if let Some(last) = self.last
            && raw < last
        {
            if (HALF..SPAN).contains(&last) {
                self.wraps = self.wraps.saturating_add(1);
            } else {
                self.wraps = 0;
            }
        }
        self.last = Some(raw);
        if raw >= SPAN {
            // A 64-bit counter: nothing to extend.
            self.wraps = 0;
            return raw;
        }
        self.wraps.saturating_mul(SPAN).saturating_add(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_across_wraps() {
        let mut w = Wrap32::new();
        assert_eq!(w.extend(4_294_967_000), 4_294_967_000);
        assert_eq!(w.extend(4_294_967_295), 4_294_967_295);
        assert_eq!(w.extend(100), SPAN + 100);
        assert_eq!(w.extend(3_000_000_000), SPAN + 3_000_000_000);
        assert_eq!(w.extend(5), 2 * SPAN + 5);
        assert_eq!(w.extend(5), 2 * SPAN + 5);
    }

    #[test]
    fn small_decrease_is_a_reset_not_a_wrap() {
        let mut w = Wrap32::new();
        assert_eq!(w.extend(1000), 1000);
        assert_eq!(w.extend(10), 10);
        let mut w = Wrap32::new();
        w.extend(u64::from(u32::MAX));
        assert_eq!(w.extend(1), SPAN + 1);
        assert_eq!(w.extend(0), 0, "decrease from a low value resets");
    }

    #[test]
    fn sixty_four_bit_values_pass_through() {
        let mut w = Wrap32::new();
        assert_eq!(w.extend(10 * SPAN), 10 * SPAN);
        assert_eq!(w.extend(10 * SPAN + 7), 10 * SPAN + 7);
        assert_eq!(w.extend(u64::MAX), u64::MAX);
    }
}
