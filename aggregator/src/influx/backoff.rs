//! Exponential backoff with a cap and jitter.

use std::time::Duration;

use crate::influx::config::RetryConfig;

/// Delays for consecutive failures: `initial`, `2×initial`, … capped at `max`, each
/// spread by ± `jitter`/2 (and never above `max`).
#[derive(Debug)]
pub struct Backoff {
    config: RetryConfig,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff at its first delay.
    pub fn new(config: RetryConfig) -> Backoff {
        Backoff {
            config,
            failures: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// A backoff with a fixed random seed (tests).
    pub fn with_seed(config: RetryConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            failures: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The delay before the next retry; advances the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let exponent = self.failures.min(32);
        self.failures = self.failures.saturating_add(1);
        let base = self
            .config
            .initial
            .saturating_mul(1u32 << exponent.min(31))
            .min(self.config.max);
        let spread = self.config.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - spread / 2.0 + self.rng.f64() * spread;
        base.mul_f64(factor).min(self.config.max)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_the_cap_with_bounded_jitter() {
        let config = RetryConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            jitter: 0.2,
        };
        let mut b = Backoff::with_seed(config, 7);
        let expected_base = [100u64, 200, 400, 800, 1600, 2000, 2000];
        for base in expected_base {
            let d = b.next_delay().as_secs_f64() * 1000.0;
            let lo = base as f64 * 0.9 - 0.001;
            let hi = (base as f64 * 1.1).min(2000.0) + 0.001;
            assert!(
                d >= lo && d <= hi,
                "delay {d} ms not within [{lo}, {hi}] for base {base}"
            );
        }
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(110));
    }

    #[test]
    fn no_jitter_is_exact() {
        let config = RetryConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(35),
            jitter: 0.0,
        };
        let mut b = Backoff::new(config);
        let got: Vec<_> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, vec![10, 20, 35, 35]);
    }
}
