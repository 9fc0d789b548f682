//! The waiting room's shared state, behind one async trait.
//!
//! Per room the store keeps:
//!
//! * `issued` and `admitted`: counters. Ticket numbers are handed out in
//!   arrival order; every ticket up to `admitted` may enter.
//! * check-in marks: one bit per ticket beyond the pointer whose holder came
//!   back at least once. Words with no bit set are not stored, so tickets that
//!   never return (closed tabs, crawlers, cookie-less scripts) cost nothing.
//! * sessions (admitted visitors, keyed by their ticket number, with the
//!   time they were last seen) and reservations (tickets the pointer passed
//!   that have not arrived yet, with a deadline). Both are bounded by the
//!   room's capacity: `sessions + reservations <= capacity` is the cap.
//! * lapsed tickets: reservations that expired unclaimed, remembered for a
//!   session TTL. Only these may come back as *returners* (a phone that
//!   slept), waiting for the next free slot ahead of everyone still in line.
//!   Any other ticket behind the pointer (already used, or never checked in
//!   and skipped) is void.
//! * sessions start *provisional* when admitted directly (no proof yet that
//!   the visitor keeps cookies) and expire after `claim_grace` unless the
//!   visitor comes back with the cookie, which confirms them for
//!   `session_ttl`. A client that drops cookies holds no slot for long.
//! * revoked sessions: released early (`/leave`, a failed first request);
//!   published in the snapshot so a cached check refuses their cookies.
//!
//! Every method is one atomic decision on one room, so a shared
//! implementation can run each as one script. The in-memory store is the
//! default; see [`memory`].

pub mod draw;
pub mod memory;
pub mod redis;

use async_trait::async_trait;

use crate::clock::{ms, Millis};
use crate::config::{RoomConfig, RoomMode};
pub use draw::Draw;

/// The room settings a store decision depends on. Passed on every call, so a
/// configuration change applies at the next call without touching the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub capacity: u32,
    pub admit_per_minute: Option<u32>,
    pub session_ttl_ms: u64,
    pub claim_grace_ms: u64,
    pub checkin_window_ms: u64,
    /// The scheduler period: the rate budget holds one tick's worth.
    pub tick_ms: u64,
    /// The file's mode. Only a room in `queue` mode admits anyone.
    pub mode: RoomMode,
    /// A session ends this long after it began, busy or not; 0: never.
    pub max_session_ms: u64,
    /// The event whose pre-queue is drawn at its opening (`shuffle`), in
    /// its pre-queue or open; see [`DrawSpec`].
    pub draw: Option<DrawSpec>,
}

/// What the schedule tells the store about a drawn pre-queue. In the
/// pre-queue (`mode` is `Prequeue`) the store notes where the event's
/// block of tickets starts, once; at the first decision after the opening
/// it fixes the block's size and the key, once. The key is only a
/// proposal: the first decision to fix the draw stores its own, and every
/// later one (on any instance) uses the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawSpec {
    /// The event's `opens_at`: which event's pre-queue this is.
    pub event: Millis,
    pub key: u64,
}

impl Limits {
    pub fn new(r: &RoomConfig, tick: std::time::Duration) -> Limits {
        Limits {
            capacity: r.capacity,
            admit_per_minute: r.admit_per_minute,
            session_ttl_ms: ms(r.session_ttl),
            claim_grace_ms: ms(r.claim_grace),
            checkin_window_ms: ms(r.checkin_window),
            tick_ms: ms(tick),
            mode: r.mode,
            max_session_ms: r.max_session.map_or(0, ms),
            draw: None,
        }
    }
}

/// Changes an operator made at run time (the admin API). They live in the
/// store, so every instance sharing it sees them, and they win over the
/// file's values until the file changes that same value (see
/// [`crate::reload::apply`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overrides {
    /// Nobody new is admitted: new visitors queue, the pointer stays. Those
    /// already admitted (sessions and reserved slots) keep their places.
    #[serde(default)]
    pub paused: bool,
    /// Replaces the configured capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Replaces the configured rate; `Some(None)` lifts the limit. In JSON:
    /// absent when not overridden, `null` for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "double_option")]
    pub admit_per_minute: Option<Option<u32>>,
    /// Replaces the file's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RoomMode>,
    /// Replaces the room's notice on the waiting page; `Some("")` shows
    /// none. Checked as the file's is ([`crate::config::notice`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

impl Overrides {
    /// `lim` with these changes applied.
    pub fn apply(&self, lim: &Limits) -> Limits {
        Limits {
            capacity: self.capacity.unwrap_or(lim.capacity),
            admit_per_minute: self.admit_per_minute.unwrap_or(lim.admit_per_minute),
            mode: self.mode(lim),
            ..*lim
        }
    }

    /// The mode in force under `lim` (the file's limits).
    pub fn mode(&self, lim: &Limits) -> RoomMode {
        self.mode.unwrap_or(lim.mode)
    }

    /// Whether anyone new may be admitted under `lim` (the file's limits):
    /// not while paused, nor in a mode other than `queue`. Those already
    /// admitted keep their places either way.
    pub fn admitting(&self, lim: &Limits) -> bool {
        !self.paused && self.mode(lim) == RoomMode::Queue
    }

    /// True when nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

/// Serde for `Option<Option<T>>`: absent is `None`, `null` is `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => s.serialize_some(&Some(inner)),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Outcome of a visitor arriving without a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Nobody was waiting and a slot was free: a session with this number.
    Direct { number: u64 },
    /// A ticket; `pointer` is the admitted pointer at issue time.
    Queued { ticket: u64, pointer: u64 },
}

/// Outcome of a ticket holder's visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Still behind the pointer (`pointer` is the admitted pointer now); the
    /// ticket is checked in.
    Waiting { pointer: u64 },
    /// The ticket's reservation (or a free slot, for a late returner) became
    /// a session just now.
    Claimed,
    /// The ticket already has a session (a second tab, a retried request).
    AlreadyAdmitted,
    /// Behind the pointer but the slot lapsed and none is free: registered
    /// for the next free slot; `ahead` returners are before it.
    Returner { ahead: u64 },
    /// Not a ticket that may enter: never issued in this room state, already
    /// used, or skipped because it never checked in. Its holder is a new
    /// visitor.
    Unknown,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Sessions idle past their TTL, removed.
    pub expired_sessions: u64,
    /// Sessions that ran their `max_session`, ended.
    pub outlived_sessions: u64,
    /// Reservations not claimed within the grace period, released.
    pub expired_reservations: u64,
    /// Slots handed out this tick (line and returners).
    pub admitted: u64,
    /// False when another instance sharing the store already ran this tick
    /// period: this call only read the state.
    pub advanced: bool,
    /// State after the tick.
    pub snapshot: Snapshot,
}

/// A consistent copy of a room's state, taken at a tick; what waiting
/// visitors are answered from without a store round trip.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Room state generation, carried in tokens.
    pub epoch: u32,
    pub issued: u64,
    pub admitted: u64,
    pub active: u64,
    pub reserved: u64,
    pub returners: u64,
    /// Positions count tickets up to here only once checked in: they are
    /// older than the check-in window (presumed dead unless checked in), or
    /// numbers reserved by a state copy that a crash may have left unused
    /// (see [`memory::RoomDump::floor`]). Tickets above it count as people.
    pub cleared: u64,
    /// Check-in marks in `(admitted, cleared]`: (word, bits, marks before this word).
    pub marks: Vec<(u64, u64, u64)>,
    /// Sessions released early whose cookies may still look fresh, sorted.
    pub revoked: Vec<u64>,
    /// Operator changes in force.
    pub overrides: Overrides,
    /// A drawn block the pointer has not passed yet: tickets in it go in
    /// their drawn order ([`Snapshot::order`]), and `marks` cover it whole.
    pub draw: Option<Draw>,
    /// When this state was restored from a saved copy (0: never). A session
    /// cookie refreshed before then is checked against the store once,
    /// since the copy may predate it.
    pub restored_ms: Millis,
}

impl Snapshot {
    /// Marked tickets up to `hi`, for `hi <= cleared` (`marks` start past
    /// the pointer, or at a drawn block it has not passed).
    fn marked_through(&self, hi: u64) -> u64 {
        let w = hi / 64;
        let i = self.marks.partition_point(|(word, _, _)| *word < w);
        match self.marks.get(i) {
            Some((word, bits, before)) if *word == w => {
                let mask = if hi % 64 == 63 {
                    u64::MAX
                } else {
                    (1u64 << (hi % 64 + 1)) - 1
                };
                before + u64::from((bits & mask).count_ones())
            }
            Some((_, _, before)) => *before,
            None => self
                .marks
                .last()
                .map(|(_, b, before)| before + u64::from(b.count_ones()))
                .unwrap_or(0),
        }
    }

    /// Live tickets numbered in `(a, b]`, outside a drawn block: the
    /// checked-in ones up to `cleared`, and every one beyond it.
    fn live(&self, a: u64, b: u64) -> u64 {
        if b <= a {
            return 0;
        }
        let marked = self
            .marked_through(b.min(self.cleared))
            .saturating_sub(self.marked_through(a.min(self.cleared)));
        marked + b.saturating_sub(a.max(self.cleared))
    }

    /// Ticket `n`'s place in the line's order: its number, unless a drawn
    /// block holds it (see [`draw`]).
    pub fn order(&self, n: u64) -> u64 {
        self.draw.map_or(n, |d| d.order(n))
    }

    /// People who may be ahead of ticket `n`, given that the pointer is at
    /// least `pointer`: returners, checked-in tickets, and tickets too new to
    /// be presumed dead. In a drawn block the live tickets are scattered
    /// over its places, so those ahead of a place there are estimated: the
    /// block's live tickets not yet reached, in proportion to the places
    /// before it.
    pub fn ahead(&self, n: u64, pointer: u64) -> u64 {
        let p = self.admitted.max(pointer);
        let Some(d) = self.draw.filter(|d| d.size > 0 && p < d.hi() && n > d.lo) else {
            return self.returners + self.live(p, n.saturating_sub(1));
        };
        let before = self.live(p, d.lo);
        let start = p.max(d.lo);
        let remaining = d.hi() - start;
        let fresh = d.hi().saturating_sub(d.lo.max(self.cleared));
        let block_live = self.live(d.lo, d.hi().min(self.cleared))
            + (u128::from(fresh) * u128::from(remaining) / u128::from(d.size)) as u64;
        let places = (d.order(n).min(d.hi() + 1) - 1).saturating_sub(start);
        let share = (u128::from(block_live) * u128::from(places) + u128::from(remaining / 2)) / u128::from(remaining);
        let in_block = share as u64;
        self.returners + before + in_block + self.live(d.hi(), n.saturating_sub(1))
    }

    /// Everyone who may be waiting.
    pub fn waiting(&self) -> u64 {
        self.ahead(self.issued + 1, self.admitted)
    }

    /// True if session `n` was released early.
    pub fn is_revoked(&self, n: u64) -> bool {
        self.revoked.binary_search(&n).is_ok()
    }
}

/// Store failures. The memory store never fails; a shared store can.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// The waiting room's state. Every method is one atomic decision for one room.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A visitor without a valid token: admit directly if nobody at all is
    /// waiting (no ticket beyond the pointer, no returner), a slot is free and
    /// the rate budget allows; otherwise issue the next ticket.
    async fn arrive(&self, room: &str, now: Millis, limits: &Limits) -> Result<Arrival, StoreError>;

    /// A ticket holder comes back: check in if still waiting, claim the
    /// reservation if admitted, or take the late-returner lane.
    async fn visit(&self, room: &str, ticket: u64, now: Millis, limits: &Limits) -> Result<Visit, StoreError>;

    /// Refreshes a session's last-seen time and confirms a provisional one;
    /// false if it no longer exists, or has run its `max_session` (it is
    /// then ended).
    async fn touch(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError>;

    /// Ends a session now, freeing its slot, and revokes it for the time its
    /// cookie could still pass a cached check; false if it did not exist.
    async fn release(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError>;

    /// The scheduler step: expire idle sessions, lapsed reservations and
    /// returners, then hand free slots to returners first and advance the
    /// pointer over checked-in tickets (skipping presumed-dead ones), within
    /// the free slots and the per-minute budget.
    async fn tick(&self, room: &str, now: Millis, limits: &Limits) -> Result<TickReport, StoreError>;

    /// The room's state without changing it (creates the room if new).
    async fn snapshot(&self, room: &str, now: Millis, limits: &Limits) -> Result<Snapshot, StoreError>;

    /// The room-state epoch the store's latest answer for `room` carried,
    /// when it can change under the caller (a shared store restarted
    /// empty). The gate compares it with its cached view before signing a
    /// cookie, so no cookie carries an epoch that is already dead.
    fn seen_epoch(&self, _room: &str) -> Option<u32> {
        None
    }

    /// Replaces the room's operator overrides and returns the new state.
    async fn set_overrides(
        &self,
        room: &str,
        overrides: Overrides,
        now: Millis,
        limits: &Limits,
    ) -> Result<Snapshot, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(admitted: u64, cleared: u64, issued: u64, marked: &[u64]) -> Snapshot {
        let mut words: std::collections::BTreeMap<u64, u64> = Default::default();
        for &m in marked {
            *words.entry(m / 64).or_default() |= 1 << (m % 64);
        }
        let mut before = 0;
        let marks = words
            .into_iter()
            .map(|(w, b)| {
                let e = (w, b, before);
                before += u64::from(b.count_ones());
                e
            })
            .collect();
        Snapshot {
            admitted,
            cleared,
            issued,
            marks,
            ..Snapshot::default()
        }
    }

    #[test]
    fn ahead_counts_fresh_tickets_and_checked_in_old_ones() {
        // Pointer at 10, tickets 11..=200 old enough, 201..=210 fresh.
        let s = snap(10, 200, 210, &[12, 70, 130, 199]);
        assert_eq!(s.ahead(11, 10), 0);
        assert_eq!(s.ahead(13, 10), 1); // 12
        assert_eq!(s.ahead(131, 10), 3); // 12, 70, 130
        assert_eq!(s.ahead(201, 10), 4);
        assert_eq!(s.ahead(205, 10), 4 + 4); // + 201..=204 fresh
        assert_eq!(s.waiting(), 4 + 10);
        // The pointer moved on (a later answer from the store): 12 and 70 are gone.
        assert_eq!(s.ahead(131, 100), 1);
        assert_eq!(s.ahead(250, 240), 9); // 241..=249 all fresh
    }

    /// (Review of the draw: the fresh share of a 2^32 block overflowed.)
    #[test]
    fn ahead_in_the_largest_block_does_not_overflow() {
        let size = draw::MAX_SIZE;
        let s = Snapshot {
            issued: size,
            draw: Some(Draw { lo: 0, size, key: 3 }),
            ..Snapshot::default()
        };
        let t = s.draw.unwrap().ticket(size / 2);
        assert!(s.ahead(t, 0).abs_diff(size / 2) < 2);
    }

    #[test]
    fn ahead_without_dead_tickets_is_plain_distance() {
        let s = snap(5, 5, 9, &[]);
        assert_eq!(s.ahead(6, 5), 0);
        assert_eq!(s.ahead(9, 5), 3);
        assert_eq!(s.waiting(), 4);
    }
}
