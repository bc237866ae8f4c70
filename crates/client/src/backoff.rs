//! Exponential backoff with full jitter, and the tiny random source it needs.
//!
//! Full jitter (sleep a uniform random time in `[0, cap]`, `cap` doubling per attempt up to a
//! maximum) spreads retries of many clients hit by the same outage. The randomness only has
//! to decorrelate clients, so an xorshift64* generator seeded from the clock is plenty and
//! avoids a dependency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest exponent applied to the base step; beyond it the cap always wins anyway.
const MAX_DOUBLINGS: u32 = 30;

/// The cap of backoff step `attempt` (0-based): `min(max, base * 2^attempt)`.
pub(crate) fn backoff_cap(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.min(MAX_DOUBLINGS);
    base.saturating_mul(factor).min(max)
}

/// A uniformly random duration in `[0, cap]` drawn from `random`.
pub(crate) fn full_jitter(cap: Duration, random: u64) -> Duration {
    let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if cap_nanos == 0 {
        return Duration::ZERO;
    }
    let nanos = match cap_nanos.checked_add(1) {
        Some(bound) => random % bound,
        None => random,
    };
    Duration::from_nanos(nanos)
}

/// A lock-free xorshift64* generator shared by all requests of a client.
#[derive(Debug)]
pub(crate) struct Jitter {
    state: AtomicU64,
}

impl Jitter {
    /// A generator seeded from the wall clock and the generator's own address.
    pub(crate) fn new() -> Self {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let jitter = Jitter {
            state: AtomicU64::new(0),
        };
        let address = &jitter as *const Jitter as u64;
        jitter.state.store(
            Self::seed(clock ^ address.rotate_left(32)),
            Ordering::Relaxed,
        );
        jitter
    }

    /// A generator with a fixed seed, for tests.
    #[cfg(test)]
    pub(crate) fn with_seed(seed: u64) -> Self {
        Jitter {
            state: AtomicU64::new(Self::seed(seed)),
        }
    }

    /// xorshift must never hold zero.
    fn seed(value: u64) -> u64 {
        if value == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            value
        }
    }

    /// The next pseudo-random value.
    pub(crate) fn next_u64(&self) -> u64 {
        let step = |mut x: u64| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x
        };
        let previous = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|current| current);
        step(previous).wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The sleep before retry number `attempt` (0-based).
    pub(crate) fn delay(&self, base: Duration, max: Duration, attempt: u32) -> Duration {
        full_jitter(backoff_cap(base, max, attempt), self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_double_and_saturate() {
        let base = Duration::from_millis(200);
        let max = Duration::from_secs(10);
        assert_eq!(backoff_cap(base, max, 0), Duration::from_millis(200));
        assert_eq!(backoff_cap(base, max, 1), Duration::from_millis(400));
        assert_eq!(backoff_cap(base, max, 5), Duration::from_millis(6400));
        assert_eq!(backoff_cap(base, max, 6), max);
        assert_eq!(backoff_cap(base, max, u32::MAX), max);
        assert_eq!(backoff_cap(Duration::MAX, Duration::MAX, 40), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_the_cap_and_varies() {
        let jitter = Jitter::with_seed(42);
        let cap = Duration::from_millis(100);
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..1000 {
            let delay = full_jitter(cap, jitter.next_u64());
            assert!(delay <= cap);
            distinct.insert(delay);
        }
        assert!(
            distinct.len() > 900,
            "only {} distinct delays",
            distinct.len()
        );
        assert_eq!(full_jitter(Duration::ZERO, 12345), Duration::ZERO);
        assert!(full_jitter(Duration::MAX, u64::MAX) <= Duration::MAX);
    }

    #[test]
    fn delays_respect_the_attempt_cap() {
        let jitter = Jitter::new();
        let base = Duration::from_millis(1);
        let max = Duration::from_millis(5);
        for attempt in 0..10 {
            assert!(jitter.delay(base, max, attempt) <= backoff_cap(base, max, attempt));
        }
        assert_ne!(Jitter::with_seed(0).next_u64(), 0);
    }
}
