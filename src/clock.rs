//! Wall-clock time for the waiting room, injectable for tests.
//!
//! Tokens carry absolute times (arrival, expiry) so that they stay meaningful
//! across restarts and instances; the scheduler needs the same time base.
//! [`Clock::system`] anchors the Unix time once at start and then follows
//! `tokio::time::Instant`, so `tokio::time::pause()` also pauses the waiting
//! room. [`Clock::manual`] is moved only by its owner: tests advance it and
//! call a tick, with no real sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// `d` in milliseconds, saturating.
pub fn ms(d: Duration) -> Millis {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Source of "now" for tokens, sessions and ticks.
#[derive(Clone, Debug)]
pub enum Clock {
    /// Unix time at start plus tokio's monotonic time since then.
    System {
        /// Unix time, in ms, at `base`.
        base_ms: Millis,
        /// The tokio instant that corresponds to `base_ms`.
        base: tokio::time::Instant,
    },
    /// A clock that moves only when [`Clock::advance`] is called.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The production clock.
    pub fn system() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock::System {
            base_ms,
            base: tokio::time::Instant::now(),
        }
    }

    /// A clock for tests, starting at `start_ms`.
    pub fn manual(start_ms: Millis) -> Self {
        Clock::Manual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// Current time in ms since the Unix epoch.
    pub fn now_ms(&self) -> Millis {
        match self {
            Clock::System { base_ms, base } => base_ms + base.elapsed().as_millis() as u64,
            Clock::Manual(t) => t.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock (use
    /// `tokio::time::advance` there).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            t.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn system_clock_follows_paused_tokio_time() {
        let c = Clock::system();
        let t0 = c.now_ms();
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(c.now_ms() - t0, 90_000);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(2_500));
        assert_eq!(c.now_ms(), 3_500);
    }
}
