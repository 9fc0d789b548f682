//! When a shared store (Redis) cannot be reached: health tracking, logged
//! once per transition, and the `local` failure policy's in-memory share
//! of the capacity. What each policy does to a request is decided in
//! [`crate::gate`]; see [`crate::config::FailurePolicy`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use dashmap::DashMap;

use crate::clock::Millis;
use crate::config::FailurePolicy;
use crate::metrics::Metrics;
use crate::store::StoreError;

/// Session numbers handed out by [`LocalShare`] carry this bit, so a
/// cookie says which store holds its session.
pub const LOCAL_BIT: u64 = 1 << 62;

/// Whether the store answers, with transitions logged and counted once.
pub struct StoreHealth {
    up: AtomicBool,
    policy: FailurePolicy,
    metrics: Metrics,
}

impl StoreHealth {
    pub fn new(policy: FailurePolicy, metrics: Metrics) -> StoreHealth {
        metrics.store_up(true);
        StoreHealth {
            up: AtomicBool::new(true),
            policy,
            metrics,
        }
    }

    pub fn policy(&self) -> FailurePolicy {
        self.policy
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// A call failed. Logged only when the store was up until now.
    pub fn failed(&self, e: &StoreError) {
        if self.up.swap(false, Ordering::AcqRel) {
            self.metrics.store_up(false);
            tracing::error!(
                error = %e,
                policy = self.policy.as_str(),
                "store unreachable; applying the failure policy until it answers again"
            );
        }
    }

    /// A call succeeded. Logged only when the store was down until now.
    pub fn succeeded(&self) {
        if !self.up.load(Ordering::Relaxed) && !self.up.swap(true, Ordering::AcqRel) {
            self.metrics.store_up(true);
            tracing::info!("store reachable again; shared state resumes");
        }
    }
}

/// One room's locally admitted sessions: number -> last seen.
#[derive(Default)]
struct LocalRoom {
    next: u64,
    sessions: HashMap<u64, Millis>,
}

/// The `local` policy: while the shared store is down, each instance
/// admits new visitors directly up to its share of the slots that were
/// free when the store was last seen (none while anyone waits), counted
/// here. These sessions stay here until they idle out, also after the
/// store comes back, which does not count them: for one session TTL after
/// an outage the room can hold up to that many beyond its capacity.
#[derive(Default)]
pub struct LocalShare {
    rooms: DashMap<String, Mutex<LocalRoom>>,
}

impl LocalShare {
    /// Admits a new visitor if the room's local sessions, idle ones
    /// dropped, are below `share`; the session number (with
    /// [`LOCAL_BIT`]).
    pub fn admit(&self, room: &str, share: u64, ttl_ms: u64, now: Millis) -> Option<u64> {
        let entry = self.rooms.entry(room.to_string()).or_default();
        let mut r = entry.lock().unwrap_or_else(|e| e.into_inner());
        r.sessions.retain(|_, seen| seen.saturating_add(ttl_ms) > now);
        if r.sessions.len() as u64 >= share {
            return None;
        }
        r.next += 1;
        let n = LOCAL_BIT | r.next;
        r.sessions.insert(n, now);
        Some(n)
    }

    /// Refreshes a local session; false if it idled out or is unknown.
    pub fn touch(&self, room: &str, n: u64, ttl_ms: u64, now: Millis) -> bool {
        let Some(entry) = self.rooms.get(room) else {
            return false;
        };
        let mut r = entry.lock().unwrap_or_else(|e| e.into_inner());
        match r.sessions.get_mut(&n) {
            Some(seen) if seen.saturating_add(ttl_ms) > now => {
                *seen = now;
                true
            }
            _ => {
                r.sessions.remove(&n);
                false
            }
        }
    }

    pub fn release(&self, room: &str, n: u64) -> bool {
        self.rooms.get(room).is_some_and(|e| {
            e.lock()
                .unwrap_or_else(|p| p.into_inner())
                .sessions
                .remove(&n)
                .is_some()
        })
    }

    /// Sessions held in `room` now (idle ones included until the next admit).
    pub fn active(&self, room: &str) -> u64 {
        self.rooms
            .get(room)
            .map_or(0, |e| e.lock().unwrap_or_else(|p| p.into_inner()).sessions.len() as u64)
    }
}

/// This instance's share of `free` slots when `instances` share them,
/// rounded down: together the instances never exceed `free`.
pub fn share(free: u64, instances: u32) -> u64 {
    free / u64::from(instances.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_share_admits_up_to_its_share_and_frees_idle_sessions() {
        let l = LocalShare::default();
        let a = l.admit("r", 2, 1000, 0).unwrap();
        let b = l.admit("r", 2, 1000, 0).unwrap();
        assert!(a & LOCAL_BIT != 0 && a != b);
        assert_eq!(l.admit("r", 2, 1000, 500), None);
        assert!(l.touch("r", a, 1000, 900));
        // b idles out at 1000; a was seen at 900.
        assert!(l.admit("r", 2, 1000, 1500).is_some());
        assert!(!l.touch("r", b, 1000, 1500));
        assert!(l.release("r", a));
        assert_eq!(l.active("r"), 1);
        assert_eq!(share(10, 3), 3);
        assert_eq!(share(1, 3), 0);
    }
}
