//! The in-memory store: one process, no dependencies, the default.
//!
//! Each room's state sits behind its own `std::sync::Mutex`. Every decision
//! is a few map operations, so the critical sections are short and never
//! span an `.await`; a plain mutex beats an async one here, and one lock per
//! room makes each decision atomic, which is what keeps the cap exact under
//! concurrent requests.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};

use super::draw::{self, Draw};
use super::{Arrival, Limits, Overrides, Snapshot, Store, StoreError, TickReport, Visit};
use crate::clock::Millis;
use crate::config::RoomMode;

/// Ticket numbers a saved copy reserves beyond `issued` at least (see
/// [`RoomDump::floor`]).
const MIN_HEADROOM: u64 = 10_000;

/// The default store. Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    rooms: Arc<DashMap<String, Arc<Mutex<RoomState>>>>,
    /// Bumped by every change worth saving.
    generation: Arc<AtomicU64>,
    /// Woken when a room is about to hand out numbers its last saved copy
    /// did not reserve, so the saver writes before the next interval.
    save_soon: Arc<tokio::sync::Notify>,
}

/// A saved copy of every room, as written to the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dump {
    pub rooms: BTreeMap<String, RoomDump>,
}

/// A saved copy of one room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomDump {
    pub epoch: u32,
    pub issued: u64,
    pub admitted: u64,
    /// Every number up to here may have been handed out before the process
    /// stopped without saving (`kill -9`). A restore from such a copy starts
    /// numbering above it, so a ticket or session cookie from the lost
    /// interval never shares a number with a new one.
    pub floor: u64,
    /// (number, last seen, confirmed)
    pub sessions: Vec<(u64, Millis, bool)>,
    /// (number, ends) for sessions admitted under a `max_session`.
    #[serde(default)]
    pub session_ends: Vec<(u64, Millis)>,
    /// (ticket, deadline) for each map.
    pub reservations: Vec<(u64, Millis)>,
    pub returners: Vec<(u64, Millis)>,
    /// (ticket, place in line when it came back) for each returner: a
    /// drawn place outlives its draw's record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub returner_order: Vec<(u64, u64)>,
    pub lapsed: Vec<(u64, Millis)>,
    pub revoked: Vec<(u64, Millis)>,
    /// (word, bits) check-in marks.
    pub marks: Vec<(u64, u64)>,
    /// (time, issued) samples for the check-in window.
    pub issue_log: Vec<(Millis, u64)>,
    #[serde(default)]
    pub overrides: Overrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<DrawRecord>,
    /// A pre-queue that began while `draw`'s block was still being let in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_draw: Option<DrawRecord>,
}

/// An event's draw (see [`super::draw`]), from its pre-queue on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawRecord {
    /// The event's `opens_at`.
    pub event: Millis,
    /// Tickets above this joined the pre-queue.
    pub lo: u64,
    /// At the opening: the pre-queue's last ticket, and the key. The block
    /// is drawn then, or once the block before it is through.
    #[serde(default)]
    pub opened: Option<(u64, u64)>,
    /// The drawn block; `None` until then.
    pub drawn: Option<Draw>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding the rooms of a saved copy, restored at `now`.
    /// `clean` says the copy was written at shutdown, after the last change;
    /// otherwise changes after it may be lost, and numbering resumes above
    /// each room's [`RoomDump::floor`].
    pub fn restore(dump: Dump, clean: bool, now: Millis) -> MemoryStore {
        let store = MemoryStore::new();
        for (name, d) in dump.rooms {
            let state = RoomState::restore(d, clean, now);
            store.rooms.insert(name, Arc::new(Mutex::new(state)));
        }
        store
    }

    /// A copy of every room, for the state file. Each room is copied under
    /// its lock, so each is consistent.
    pub fn dump(&self) -> Dump {
        let rooms = self
            .rooms
            .iter()
            .map(|e| {
                let mut g = e.value().lock().unwrap_or_else(|p| p.into_inner());
                (e.key().clone(), g.dump())
            })
            .collect();
        Dump { rooms }
    }

    /// Records that `dump` is on disk: its rooms' reserved numbers
    /// ([`RoomDump::floor`]) may now be handed out.
    pub fn saved(&self, dump: &Dump) {
        for (name, d) in &dump.rooms {
            if let Some(r) = self.rooms.get(name) {
                let mut g = r.lock().unwrap_or_else(|p| p.into_inner());
                g.floor = g.floor.max(d.floor);
            }
        }
    }

    /// Changes so far; unchanged means nothing new to save.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Resolves when a save is due before the next interval.
    pub async fn save_requested(&self) {
        self.save_soon.notified().await
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn room(&self, name: &str, now: Millis) -> Arc<Mutex<RoomState>> {
        if let Some(r) = self.rooms.get(name) {
            return r.clone();
        }
        self.rooms
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(RoomState::new(rand::random(), now))))
            .clone()
    }

    fn with<T>(&self, name: &str, now: Millis, f: impl FnOnce(&mut RoomState) -> T) -> T {
        let room = self.room(name, now);
        // A panic while holding the lock would be a bug in this module; the
        // state is still structurally valid, so keep serving rather than
        // poisoning the room forever.
        let mut g = room.lock().unwrap_or_else(|e| e.into_inner());
        let out = f(&mut g);
        if std::mem::take(&mut g.save_soon) {
            self.save_soon.notify_one();
        }
        out
    }
}

/// Admission rate limit: a token bucket refilled at `admit_per_minute`,
/// holding one tick's worth plus one. A burst at the threshold is smoothed,
/// and the fraction left after a tick carries to the next, so 90/min really
/// admits 90 a minute with one-second ticks.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last_ms: Millis,
}

impl Bucket {
    fn refill(&mut self, now: Millis, per_minute: u32, tick_ms: u64) -> f64 {
        let rate = f64::from(per_minute) / 60_000.0;
        let burst = rate * tick_ms as f64 + 1.0;
        let dt = now.saturating_sub(self.last_ms) as f64;
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.last_ms = now;
        self.tokens
    }
}

/// An admitted visitor.
#[derive(Debug, Clone, Copy)]
struct Session {
    last_seen: Millis,
    /// When it ends, busy or not: `max_session` after it began, as the
    /// limits were then (an event's may be over since); `Millis::MAX`
    /// when there was none.
    ends: Millis,
    /// Came back with the cookie at least once (or was admitted from the
    /// line, which proves it). Provisional sessions expire after the claim
    /// grace period instead of the session TTL.
    confirmed: bool,
}

/// Late returners: each one's deadline, and their order in line (the
/// line's order when each came back, as the Redis script scores them), so
/// the first and the count ahead of one take no scan.
#[derive(Debug, Default)]
struct Returners {
    /// Ticket -> (deadline, order in line).
    each: BTreeMap<u64, (Millis, u64)>,
    /// (order in line, ticket), for the first and the count ahead.
    ordered: std::collections::BTreeSet<(u64, u64)>,
}

impl Returners {
    /// Ticket `t`, at `order` in line, waits until `deadline`.
    fn insert(&mut self, t: u64, order: u64, deadline: Millis) {
        if let Some((_, old)) = self.each.insert(t, (deadline, order)) {
            self.ordered.remove(&(old, t));
        }
        self.ordered.insert((order, t));
    }

    fn remove(&mut self, t: u64) -> bool {
        let gone = self.each.remove(&t);
        if let Some((_, old)) = gone {
            self.ordered.remove(&(old, t));
        }
        gone.is_some()
    }

    fn contains(&self, t: u64) -> bool {
        self.each.contains_key(&t)
    }

    fn first(&self) -> Option<u64> {
        self.ordered.first().map(|(_, t)| *t)
    }

    /// Returners before `order`.
    fn ahead(&self, order: u64) -> u64 {
        self.ordered.range(..(order, 0)).count() as u64
    }

    fn len(&self) -> usize {
        self.each.len()
    }

    fn is_empty(&self) -> bool {
        self.each.is_empty()
    }
}

/// One room's state; see the module docs of [`crate::store`].
#[derive(Debug)]
struct RoomState {
    epoch: u32,
    issued: u64,
    admitted: u64,
    /// Session id (its ticket number) -> session.
    sessions: HashMap<u64, Session>,
    /// Ticket -> claim deadline.
    reservations: BTreeMap<u64, Millis>,
    /// Late returners, with their deadlines to come back for the slot.
    returners: Returners,
    /// Tickets whose reservation lapsed -> until when they may return.
    lapsed: BTreeMap<u64, Millis>,
    /// Sessions released early -> until when their cookies could look fresh.
    revoked: BTreeMap<u64, Millis>,
    /// Check-in bits of tickets beyond the pointer; empty words are absent.
    marks: BTreeMap<u64, u64>,
    /// (time, issued) at each tick, trimmed to the check-in window.
    issue_log: VecDeque<(Millis, u64)>,
    bucket: Bucket,
    overrides: Overrides,
    /// When restored from a saved copy (0: never).
    restored_ms: Millis,
    /// Numbers up to here are covered by the last saved copy (0: never saved).
    floor: u64,
    /// `issued` when the last copy was taken, to size the next headroom.
    dumped_issued: u64,
    /// After a restore from an unclean copy: numbers up to here may belong
    /// to tickets from the lost interval. Most were never handed out, so
    /// positions count them only once checked in; the scheduler still
    /// waits one check-in window for their holders.
    phantom: u64,
    /// Set when `issued` nears `floor`; taken by [`MemoryStore::with`].
    save_soon: bool,
    draw: Option<DrawRecord>,
    next_draw: Option<DrawRecord>,
}

/// When a session admitted at `now` under `lim` ends: `max_session` on,
/// or never.
fn ends_at(now: Millis, lim: &Limits) -> Millis {
    match lim.max_session_ms {
        0 => Millis::MAX,
        max => now.saturating_add(max),
    }
}

impl RoomState {
    fn new(epoch: u32, now: Millis) -> RoomState {
        RoomState {
            epoch,
            issued: 0,
            admitted: 0,
            sessions: HashMap::new(),
            reservations: BTreeMap::new(),
            returners: Returners::default(),
            lapsed: BTreeMap::new(),
            revoked: BTreeMap::new(),
            marks: BTreeMap::new(),
            issue_log: VecDeque::new(),
            bucket: Bucket {
                tokens: f64::INFINITY,
                last_ms: now,
            },
            overrides: Overrides::default(),
            restored_ms: 0,
            floor: 0,
            dumped_issued: 0,
            phantom: 0,
            save_soon: false,
            draw: None,
            next_draw: None,
        }
    }

    fn dump(&mut self) -> RoomDump {
        // Reserve numbers for what may be issued before the next copy: at
        // least four times what the last interval issued.
        // The floor takes effect once the copy is on disk ([`MemoryStore::saved`]).
        let recent = self.issued.saturating_sub(self.dumped_issued);
        let floor = self.issued + MIN_HEADROOM.max(recent.saturating_mul(4));
        self.dumped_issued = self.issued;
        let pairs = |m: &BTreeMap<u64, Millis>| m.iter().map(|(k, v)| (*k, *v)).collect();
        let mut sessions: Vec<_> = self
            .sessions
            .iter()
            .map(|(n, s)| (*n, s.last_seen, s.confirmed))
            .collect();
        sessions.sort_unstable();
        let mut session_ends: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.ends != Millis::MAX)
            .map(|(n, s)| (*n, s.ends))
            .collect();
        session_ends.sort_unstable();
        RoomDump {
            epoch: self.epoch,
            issued: self.issued,
            admitted: self.admitted,
            floor,
            sessions,
            session_ends,
            reservations: pairs(&self.reservations),
            returners: self.returners.each.iter().map(|(t, (d, _))| (*t, *d)).collect(),
            returner_order: self.returners.each.iter().map(|(t, (_, o))| (*t, *o)).collect(),
            lapsed: pairs(&self.lapsed),
            revoked: pairs(&self.revoked),
            marks: self.marks.iter().map(|(k, v)| (*k, *v)).collect(),
            issue_log: self.issue_log.iter().copied().collect(),
            overrides: self.overrides.clone(),
            draw: self.draw,
            next_draw: self.next_draw,
        }
    }

    fn restore(d: RoomDump, clean: bool, now: Millis) -> RoomState {
        let mut r = RoomState::new(d.epoch, now);
        r.issued = d.issued;
        r.admitted = d.admitted.min(d.issued);
        let ends: HashMap<u64, Millis> = d.session_ends.into_iter().collect();
        r.sessions = d
            .sessions
            .into_iter()
            .map(|(n, last_seen, confirmed)| {
                let ends = ends.get(&n).copied().unwrap_or(Millis::MAX);
                (
                    n,
                    Session {
                        last_seen,
                        ends,
                        confirmed,
                    },
                )
            })
            .collect();
        r.reservations = d.reservations.into_iter().collect();
        r.draw = d.draw;
        r.next_draw = d.next_draw;
        let kept: HashMap<u64, u64> = d.returner_order.into_iter().collect();
        for (t, deadline) in d.returners {
            let at = kept.get(&t).copied().unwrap_or_else(|| r.order(t));
            r.returners.insert(t, at, deadline);
        }
        r.lapsed = d.lapsed.into_iter().collect();
        r.revoked = d.revoked.into_iter().collect();
        r.marks = d.marks.into_iter().filter(|(_, b)| *b != 0).collect();
        r.issue_log = d.issue_log.into_iter().collect();
        r.overrides = d.overrides;
        // Numbers up to the copy's floor may be in cookies already: none
        // is handed out again until a new copy reserves more.
        r.floor = d.floor.max(r.issued);
        if !clean {
            // Cookies from before now may carry what the copy lost (a
            // session, a check-in): each is checked against the store once.
            r.restored_ms = now;
        }
        if !clean && d.floor > r.issued {
            // Tickets from the lost interval are numbered up to `floor`:
            // count them as issued now, so their holders can check in
            // within the window and keep their order, and so new numbers
            // start above them.
            r.issued = d.floor;
            r.phantom = d.floor;
            r.issue_log.push_back((now, r.issued));
        }
        r.dumped_issued = r.issued;
        r
    }

    fn used(&self) -> u64 {
        (self.sessions.len() + self.reservations.len()) as u64
    }

    fn has_free_slot(&self, lim: &Limits) -> bool {
        self.used() < u64::from(lim.capacity)
    }

    /// Follows the schedule's draw (see [`super::DrawSpec`]): notes where
    /// an event's pre-queue starts, and fixes its extent and key at the
    /// opening. `lim` is the file's: the schedule's mode, not an
    /// operator's. The Redis script mirrors this step for step.
    fn follow_draw(&mut self, lim: &Limits) {
        self.settle_draws();
        let Some(spec) = lim.draw else { return };
        let pending = |r: &Option<DrawRecord>| r.is_some_and(|d| d.drawn.is_none() && d.opened.is_none());
        let of_event = |r: &Option<DrawRecord>| r.is_some_and(|d| d.event == spec.event);
        if lim.mode == RoomMode::Prequeue {
            let fresh = DrawRecord {
                event: spec.event,
                lo: self.issued,
                opened: None,
                drawn: None,
            };
            if pending(&self.draw) || pending(&self.next_draw) {
                // The pre-queue runs: an opening moved by a reload keeps it.
                let rec = if pending(&self.draw) {
                    &mut self.draw
                } else {
                    &mut self.next_draw
                };
                if let Some(r) = rec.as_mut() {
                    r.event = spec.event;
                }
            } else if of_event(&self.draw) || of_event(&self.next_draw) {
                // Opened already (another instance's clock is ahead).
            } else if self.active_draw().is_some() {
                // The last block is still being let in: this one waits
                // its turn. (A third waits in arrival order.)
                if self.next_draw.is_none() {
                    self.next_draw = Some(fresh);
                }
            } else {
                self.draw = Some(fresh);
            }
        } else {
            for rec in [&mut self.draw, &mut self.next_draw].into_iter().flatten() {
                if rec.event == spec.event && rec.drawn.is_none() && rec.opened.is_none() {
                    rec.opened = Some((self.issued, spec.key));
                }
            }
            self.settle_draws();
        }
    }

    /// Draws the current record once its doors opened, and hands over to
    /// the next one once the current block is through.
    fn settle_draws(&mut self) {
        let through = self
            .draw
            .is_some_and(|r| r.drawn.is_some_and(|d| self.admitted >= d.hi()));
        if through && self.next_draw.is_some() {
            self.draw = self.next_draw.take();
        }
        let admitted = self.admitted;
        if let Some(rec) = self.draw.as_mut().filter(|r| r.drawn.is_none()) {
            if let Some((hi, key)) = rec.opened {
                // An operator who opened the room early let some in already.
                let lo = rec.lo.max(admitted);
                let size = hi.saturating_sub(lo).min(draw::MAX_SIZE);
                rec.drawn = Some(Draw { lo, size, key });
            }
        }
    }

    /// The drawn block the pointer has not passed, if any.
    fn active_draw(&self) -> Option<Draw> {
        self.draw?.drawn.filter(|d| d.size > 0 && self.admitted < d.hi())
    }

    /// Ticket `t`'s place in the line's order.
    fn order(&self, t: u64) -> u64 {
        self.draw.and_then(|d| d.drawn).map_or(t, |d| d.order(t))
    }

    /// The returner first in line.
    fn first_returner(&self) -> Option<u64> {
        self.returners.first()
    }

    fn budget(&mut self, now: Millis, lim: &Limits) -> u64 {
        match lim.admit_per_minute {
            None => u64::MAX,
            Some(r) => self.bucket.refill(now, r, lim.tick_ms).floor().max(0.0) as u64,
        }
    }

    fn spend(&mut self, lim: &Limits, n: u64) {
        if lim.admit_per_minute.is_some() {
            self.bucket.tokens -= n as f64;
        }
    }

    fn mark(&mut self, t: u64) {
        *self.marks.entry(t / 64).or_default() |= 1 << (t % 64);
    }

    fn unmark(&mut self, t: u64) {
        if let Some(w) = self.marks.get_mut(&(t / 64)) {
            *w &= !(1 << (t % 64));
            if *w == 0 {
                self.marks.remove(&(t / 64));
            }
        }
    }

    /// Smallest checked-in ticket >= `from`.
    fn next_marked(&self, from: u64) -> Option<u64> {
        let mask = u64::MAX << (from % 64);
        self.marks.range(from / 64..).find_map(|(&w, &bits)| {
            let b = if w == from / 64 { bits & mask } else { bits };
            (b != 0).then(|| w * 64 + u64::from(b.trailing_zeros()))
        })
    }

    /// Highest ticket issued at or before `now - window`.
    fn cleared(&self, now: Millis, window: u64) -> u64 {
        let Some(cutoff) = now.checked_sub(window) else {
            return 0;
        };
        self.issue_log
            .iter()
            .rev()
            .find(|(t, _)| *t <= cutoff)
            .map(|(_, issued)| *issued)
            .unwrap_or(0)
    }

    fn log_issued(&mut self, now: Millis, window: u64) {
        self.issue_log.push_back((now, self.issued));
        let cutoff = now.saturating_sub(window);
        // Keep the newest sample at or before the cutoff; drop older ones.
        while self.issue_log.len() >= 2 && self.issue_log[1].0 <= cutoff {
            self.issue_log.pop_front();
        }
    }

    /// Called after `issued` grows: asks for a save before the numbers the
    /// last copy reserved run out.
    fn watch_floor(&mut self) {
        if self.floor != 0 && self.issued + MIN_HEADROOM / 2 >= self.floor {
            self.save_soon = true;
        }
    }

    /// `None` when every number the last saved copy reserved is used (the
    /// state file cannot be written): handing out more could repeat a
    /// number after a crash.
    fn try_arrive(&mut self, now: Millis, lim: &Limits) -> Option<Arrival> {
        if self.floor != 0 && self.issued >= self.floor {
            self.save_soon = true;
            return None;
        }
        Some(self.arrive(now, lim))
    }

    fn arrive(&mut self, now: Millis, lim: &Limits) -> Arrival {
        self.follow_draw(lim);
        let lim = &self.overrides.apply(lim);
        self.watch_floor();
        let nobody_waiting = self.issued == self.admitted && self.returners.is_empty();
        let open = self.overrides.admitting(lim);
        if open && nobody_waiting && self.has_free_slot(lim) && self.budget(now, lim) >= 1 {
            self.spend(lim, 1);
            self.issued += 1;
            self.admitted = self.issued;
            self.sessions.insert(
                self.issued,
                Session {
                    last_seen: now,
                    ends: ends_at(now, lim),
                    confirmed: false,
                },
            );
            return Arrival::Direct { number: self.issued };
        }
        self.issued += 1;
        Arrival::Queued {
            ticket: self.issued,
            pointer: self.admitted,
        }
    }

    fn visit(&mut self, t: u64, now: Millis, lim: &Limits) -> Visit {
        self.follow_draw(lim);
        let lim = &self.overrides.apply(lim);
        if t == 0 || t > self.issued {
            return Visit::Unknown;
        }
        if self.order(t) > self.admitted {
            self.mark(t);
            return Visit::Waiting { pointer: self.admitted };
        }
        if self.outlived(t, now, lim) {
            return Visit::Unknown;
        }
        if let Some(session) = self.sessions.get_mut(&t) {
            session.last_seen = now;
            session.confirmed = true;
            return Visit::AlreadyAdmitted;
        }
        if self.reservations.remove(&t).is_some() {
            self.confirmed_session(t, now, lim);
            return Visit::Claimed;
        }
        // Only a ticket whose reservation lapsed may come back late. A used
        // ticket, or one skipped because it never checked in, is void.
        if !self.returners.contains(t) && self.lapsed.remove(&t).is_none() {
            return Visit::Unknown;
        }
        // The first returner in ticket order takes a free slot at once; the
        // others wait for the tick, which serves returners before the line.
        let first = self.first_returner();
        let open = self.overrides.admitting(lim);
        if open && self.has_free_slot(lim) && first.is_none_or(|f| f == t) && self.budget(now, lim) >= 1 {
            self.spend(lim, 1);
            self.returners.remove(t);
            self.confirmed_session(t, now, lim);
            return Visit::Claimed;
        }
        let at = self.order(t);
        self.returners.insert(t, at, now + lim.claim_grace_ms);
        Visit::Returner {
            ahead: self.returners.ahead(at),
        }
    }

    fn confirmed_session(&mut self, t: u64, now: Millis, lim: &Limits) {
        self.sessions.insert(
            t,
            Session {
                last_seen: now,
                ends: ends_at(now, lim),
                confirmed: true,
            },
        );
    }

    /// Whether session `n` has run its `max_session` by `now`: it is then
    /// ended (revoked, as by [`RoomState::release`]) and the caller treats
    /// it as gone.
    fn outlived(&mut self, n: u64, now: Millis, lim: &Limits) -> bool {
        let over = self.sessions.get(&n).is_some_and(|s| s.ends <= now);
        if over {
            self.release(n, now, lim);
        }
        over
    }

    fn touch(&mut self, session: u64, now: Millis, lim: &Limits) -> bool {
        if self.outlived(session, now, lim) {
            return false;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.last_seen = now;
            s.confirmed = true;
            return true;
        }
        // A session cookie for a number still reserved: the state was
        // restored from a copy taken between admission and claim. The
        // holder of the cookie is the holder of the ticket.
        if self.reservations.remove(&session).is_some() {
            self.confirmed_session(session, now, lim);
            return true;
        }
        false
    }

    fn release(&mut self, session: u64, now: Millis, lim: &Limits) -> bool {
        let existed = self.sessions.remove(&session).is_some();
        if existed {
            // A cookie refreshed just before this passes cached checks for
            // half a TTL; refuse it that long.
            self.revoked.insert(session, now + lim.session_ttl_ms / 2 + 1);
        }
        existed
    }

    fn tick(&mut self, now: Millis, lim: &Limits) -> TickReport {
        self.follow_draw(lim);
        let lim = &self.overrides.apply(lim);
        let before = self.sessions.len();
        self.sessions.retain(|_, s| {
            // A provisional session never outlives a confirmed one.
            let ttl = if s.confirmed {
                lim.session_ttl_ms
            } else {
                lim.claim_grace_ms.min(lim.session_ttl_ms)
            };
            s.last_seen.saturating_add(ttl) > now
        });
        let expired_sessions = (before - self.sessions.len()) as u64;
        let outlived: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.ends <= now)
            .map(|(n, _)| *n)
            .collect();
        for n in &outlived {
            self.release(*n, now, lim);
        }
        // Lapsed reservations and returners that stopped polling may still
        // come back for a session TTL.
        let until = now.saturating_add(lim.session_ttl_ms);
        if lim.mode == RoomMode::Closed {
            // Closed, the line keeps its places: the slots reserved for
            // those whose turn had come, and the returners' and lapsed
            // tickets' claims, are held until it opens, and run from then.
            let grace = now.saturating_add(lim.claim_grace_ms);
            for d in self
                .reservations
                .values_mut()
                .chain(self.returners.each.values_mut().map(|(d, _)| d))
            {
                *d = (*d).max(grace);
            }
            for d in self.lapsed.values_mut() {
                *d = (*d).max(until);
            }
        }
        // Reserved slots and returners' claims not taken in time lapse alike
        // (a ticket is in one or the other).
        let lapsing: Vec<u64> = self
            .reservations
            .iter()
            .chain(self.returners.each.iter().map(|(t, (d, _))| (t, d)))
            .filter(|(_, d)| **d <= now)
            .map(|(t, _)| *t)
            .collect();
        for &t in &lapsing {
            if self.reservations.remove(&t).is_none() {
                self.returners.remove(t);
            }
            self.lapsed.insert(t, until);
        }
        let expired_reservations = lapsing.len() as u64;
        self.lapsed.retain(|_, d| *d > now);
        self.revoked.retain(|_, d| *d > now);

        self.log_issued(now, lim.checkin_window_ms);
        let cleared = self.cleared(now, lim.checkin_window_ms);

        let free = u64::from(lim.capacity).saturating_sub(self.used());
        let mut allow = if !self.overrides.admitting(lim) {
            0
        } else {
            free.min(self.budget(now, lim))
        };
        let mut admitted = 0;
        let deadline = now + lim.claim_grace_ms;

        // Returners are behind the pointer already: they go first.
        while allow > 0 {
            let Some(t) = self.first_returner() else {
                break;
            };
            self.returners.remove(t);
            self.reservations.insert(t, deadline);
            allow -= 1;
            admitted += 1;
        }
        // Then the line, in its order: ticket order, but for a drawn block.
        let block = self.active_draw();
        let mut scanned = 0;
        // A pre-queue waiting for the block before it to be through is
        // not walked in arrival order.
        let stop = self.next_draw.map_or(u64::MAX, |n| n.lo);
        while self.admitted < self.issued.min(stop) {
            let next = self.admitted + 1;
            if let Some(d) = block.filter(|d| next > d.lo && next <= d.hi()) {
                // The ticket drawn for this place: as below, one at a time.
                let t = d.ticket(next);
                if self.marks.get(&(t / 64)).is_some_and(|w| w & (1 << (t % 64)) != 0) {
                    if allow == 0 {
                        break;
                    }
                    self.unmark(t);
                    self.reservations.insert(t, deadline);
                    allow -= 1;
                    admitted += 1;
                } else if t > cleared || scanned == draw::SCAN_PER_TICK {
                    break;
                } else {
                    scanned += 1;
                }
                self.admitted = next;
                continue;
            }
            let marked = self.next_marked(next);
            if marked == Some(next) {
                if allow == 0 {
                    break;
                }
                self.unmark(next);
                self.reservations.insert(next, deadline);
                self.admitted = next;
                allow -= 1;
                admitted += 1;
                continue;
            }
            if next > cleared {
                // Not checked in yet, but young enough that its holder may
                // still come back: nobody behind it may pass.
                break;
            }
            // A run of presumed-dead tickets: skip it without spending slots.
            let mut end = marked.map_or(u64::MAX, |m| m - 1).min(cleared).min(self.issued);
            if let Some(d) = block.filter(|d| next <= d.lo) {
                end = end.min(d.lo);
            }
            end = end.min(stop);
            self.admitted = end;
        }
        self.spend(lim, admitted);

        TickReport {
            expired_sessions,
            outlived_sessions: outlived.len() as u64,
            expired_reservations,
            admitted,
            advanced: true,
            snapshot: self.snapshot(now, lim),
        }
    }

    fn snapshot(&self, now: Millis, lim: &Limits) -> Snapshot {
        let lim = &self.overrides.apply(lim);
        // Positions count a possibly-lost number only once it checks in.
        let cleared = self
            .cleared(now, lim.checkin_window_ms)
            .max(self.phantom.min(self.issued));
        // Marks past the pointer, and the whole of a drawn block it has not
        // passed (its checked-in tickets are scattered over its places).
        let draw = self.active_draw();
        let from = draw.map_or(self.admitted, |d| d.lo.min(self.admitted));
        let mut marks = Vec::new();
        if cleared > from {
            let (lo, hi) = (from + 1, cleared);
            let mut before = 0;
            for (&w, &bits) in self.marks.range(lo / 64..=hi / 64) {
                let mut b = bits;
                if w == lo / 64 {
                    b &= u64::MAX << (lo % 64);
                }
                if w == hi / 64 && hi % 64 != 63 {
                    b &= (1u64 << (hi % 64 + 1)) - 1;
                }
                if b != 0 {
                    marks.push((w, b, before));
                    before += u64::from(b.count_ones());
                }
            }
        }
        Snapshot {
            epoch: self.epoch,
            issued: self.issued,
            admitted: self.admitted,
            active: self.sessions.len() as u64,
            reserved: self.reservations.len() as u64,
            returners: self.returners.len() as u64,
            cleared,
            marks,
            revoked: self.revoked.keys().copied().collect(),
            overrides: self.overrides.clone(),
            draw,
            restored_ms: self.restored_ms,
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn arrive(&self, room: &str, now: Millis, limits: &Limits) -> Result<Arrival, StoreError> {
        self.changed();
        self.with(room, now, |r| r.try_arrive(now, limits)).ok_or_else(|| {
            StoreError::Unavailable(
                "the state file cannot be written: no new tickets until it can (a crash could repeat numbers)".into(),
            )
        })
    }

    async fn visit(&self, room: &str, ticket: u64, now: Millis, limits: &Limits) -> Result<Visit, StoreError> {
        self.changed();
        Ok(self.with(room, now, |r| r.visit(ticket, now, limits)))
    }

    async fn touch(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError> {
        self.changed();
        Ok(self.with(room, now, |r| r.touch(session, now, limits)))
    }

    async fn release(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError> {
        self.changed();
        Ok(self.with(room, now, |r| r.release(session, now, limits)))
    }

    async fn tick(&self, room: &str, now: Millis, limits: &Limits) -> Result<TickReport, StoreError> {
        let (rep, moved) = self.with(room, now, |r| {
            let before = r.admitted;
            let rep = r.tick(now, limits);
            (rep, r.admitted != before)
        });
        if moved || rep.admitted > 0 || rep.expired_sessions > 0 || rep.expired_reservations > 0 {
            self.changed();
        }
        Ok(rep)
    }

    async fn set_overrides(
        &self,
        room: &str,
        overrides: Overrides,
        now: Millis,
        limits: &Limits,
    ) -> Result<Snapshot, StoreError> {
        self.changed();
        Ok(self.with(room, now, |r| {
            r.overrides = overrides;
            r.snapshot(now, limits)
        }))
    }

    async fn snapshot(&self, room: &str, now: Millis, limits: &Limits) -> Result<Snapshot, StoreError> {
        Ok(self.with(room, now, |r| r.snapshot(now, limits)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000;

    fn lim(capacity: u32) -> Limits {
        Limits {
            capacity,
            admit_per_minute: None,
            session_ttl_ms: 60 * SEC,
            claim_grace_ms: 10 * SEC,
            checkin_window_ms: 5 * SEC,
            tick_ms: SEC,
            mode: crate::config::RoomMode::Queue,
            max_session_ms: 0,
            draw: None,
        }
    }

    #[test]
    fn direct_until_full_then_tickets_in_order() {
        let mut r = RoomState::new(1, 0);
        let l = lim(2);
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 1 });
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 2 });
        assert_eq!(r.arrive(0, &l), Arrival::Queued { ticket: 3, pointer: 2 });
        assert_eq!(r.arrive(0, &l), Arrival::Queued { ticket: 4, pointer: 2 });
        // A freed slot does not let a newcomer overtake the line.
        r.sessions.remove(&1);
        assert_eq!(r.arrive(0, &l), Arrival::Queued { ticket: 5, pointer: 2 });
    }

    #[test]
    fn tick_admits_checked_in_tickets_in_order_and_never_over_capacity() {
        let mut r = RoomState::new(1, 0);
        let l = lim(2);
        r.arrive(0, &l);
        r.arrive(0, &l);
        for _ in 0..3 {
            r.arrive(0, &l);
        }
        for t in 3..=5 {
            assert_eq!(r.visit(t, SEC, &l), Visit::Waiting { pointer: 2 });
        }
        assert_eq!(r.tick(2 * SEC, &l).admitted, 0, "room is full");
        r.sessions.remove(&1);
        let rep = r.tick(3 * SEC, &l);
        assert_eq!(rep.admitted, 1);
        assert_eq!(r.admitted, 3);
        assert_eq!(r.used(), 2);
        assert_eq!(r.visit(3, 3 * SEC, &l), Visit::Claimed);
        assert_eq!(r.visit(3, 3 * SEC, &l), Visit::AlreadyAdmitted);
        assert_eq!(r.visit(4, 3 * SEC, &l), Visit::Waiting { pointer: 3 });
    }

    #[test]
    fn unchecked_tickets_block_until_the_window_passes_then_are_skipped() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.tick(0, &l);
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 1 });
        for _ in 0..1000 {
            r.arrive(SEC, &l); // a cookie-less flood: 2..=1001, never back
        }
        let Arrival::Queued { ticket: real, .. } = r.arrive(SEC, &l) else {
            panic!()
        };
        r.tick(SEC + 1, &l); // log: issued 1002 at t=1s
        assert_eq!(r.visit(real, 2 * SEC, &l), Visit::Waiting { pointer: 1 });
        r.sessions.clear();
        // Inside the window the unchecked tickets may still be real visitors.
        r.tick(3 * SEC, &l);
        assert_eq!(r.admitted, 1);
        // Past it, they are skipped in one tick and the real visitor gets the slot.
        let rep = r.tick(SEC + 1 + l.checkin_window_ms, &l);
        assert_eq!(rep.admitted, 1);
        assert_eq!(r.admitted, real);
        assert_eq!(r.reservations.keys().copied().collect::<Vec<_>>(), vec![real]);
        assert!(r.marks.is_empty());
    }

    #[test]
    fn lapsed_reservation_is_released_and_returner_goes_first() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.arrive(0, &l);
        for t in 2..=4 {
            assert!(matches!(r.arrive(0, &l), Arrival::Queued { ticket, .. } if ticket == t));
            r.visit(t, 0, &l);
        }
        r.sessions.clear();
        r.tick(SEC, &l);
        assert_eq!(r.reservations.len(), 1, "ticket 2 reserved");
        // Ticket 2 never claims: after the grace period its slot goes to 3.
        r.tick(SEC + l.claim_grace_ms, &l);
        assert_eq!(r.reservations.keys().copied().collect::<Vec<_>>(), vec![3]);
        // 2 comes back late: no slot free, registered as returner.
        assert_eq!(r.visit(2, 12 * SEC, &l), Visit::Returner { ahead: 0 });
        assert_eq!(r.visit(3, 12 * SEC, &l), Visit::Claimed);
        r.sessions.clear();
        r.tick(13 * SEC, &l);
        // The freed slot goes to returner 2, not to 4 who is behind it.
        assert_eq!(r.reservations.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(r.visit(2, 13 * SEC, &l), Visit::Claimed);
        assert!(matches!(r.visit(4, 13 * SEC, &l), Visit::Waiting { .. }));
    }

    #[test]
    fn sessions_expire_after_ttl_and_unconfirmed_ones_after_the_grace_period() {
        let mut r = RoomState::new(1, 0);
        let l = lim(2);
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 1 });
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 2 });
        assert!(r.touch(1, SEC, &l)); // visitor 1 came back with the cookie
                                      // Visitor 2 never did (a client that drops cookies): its slot goes
                                      // after the grace period, not the session TTL.
        assert_eq!(r.tick(10 * SEC, &l).expired_sessions, 1);
        assert!(r.sessions.contains_key(&1));
        assert_eq!(r.tick(60 * SEC, &l).expired_sessions, 0);
        assert_eq!(r.tick(61 * SEC, &l).expired_sessions, 1);
        assert!(matches!(r.arrive(61 * SEC, &l), Arrival::Direct { .. }));
    }

    #[test]
    fn released_sessions_are_revoked_for_half_a_ttl() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.arrive(0, &l);
        assert!(r.release(1, SEC, &l));
        assert!(!r.release(1, SEC, &l));
        assert!(r.tick(2 * SEC, &l).snapshot.is_revoked(1));
        assert!(!r.tick(31 * SEC + 1, &l).snapshot.is_revoked(1));
    }

    #[test]
    fn rate_budget_limits_direct_and_queue_admissions() {
        let mut r = RoomState::new(1, 0);
        let l = Limits {
            admit_per_minute: Some(60),
            ..lim(100)
        };
        r.bucket.tokens = 1.0;
        assert!(matches!(r.arrive(0, &l), Arrival::Direct { .. }));
        assert!(matches!(r.arrive(0, &l), Arrival::Queued { .. }), "budget spent");
        r.visit(2, 0, &l);
        assert_eq!(r.tick(500, &l).admitted, 0, "half a token");
        assert_eq!(r.tick(1_000, &l).admitted, 1);
    }

    /// Fills the line with `n` checked-in tickets and an empty bucket.
    fn long_line(n: u64) -> RoomState {
        let mut r = RoomState::new(1, 0);
        r.bucket.tokens = 0.0;
        r.issued = n;
        for t in 1..=n {
            r.mark(t);
        }
        r
    }

    #[test]
    fn the_rate_budget_carries_fractions_across_ticks() {
        let l = Limits {
            admit_per_minute: Some(90),
            ..lim(10_000)
        };
        let mut r = long_line(1_000);
        let total: u64 = (1..=60).map(|s| r.tick(s * SEC, &l).admitted).sum();
        assert_eq!(total, 90, "90/min over sixty 1 s ticks");
        let l = Limits {
            admit_per_minute: Some(600),
            tick_ms: 5 * SEC,
            ..lim(10_000)
        };
        let mut r = long_line(1_000);
        let total: u64 = (1..=12).map(|s| r.tick(s * 5 * SEC, &l).admitted).sum();
        assert_eq!(total, 600, "600/min over twelve 5 s ticks");
    }

    #[test]
    fn a_used_ticket_cannot_come_back_after_its_session_ends() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.tick(0, &l);
        r.arrive(0, &l);
        assert!(matches!(r.arrive(0, &l), Arrival::Queued { ticket: 2, .. }));
        r.visit(2, 0, &l);
        r.sessions.remove(&1);
        r.tick(SEC, &l);
        assert_eq!(r.visit(2, SEC, &l), Visit::Claimed);
        assert!(matches!(r.arrive(SEC, &l), Arrival::Queued { ticket: 3, .. }));
        r.visit(3, SEC, &l);
        // Ticket 2's holder leaves, then replays the old ticket cookie.
        assert!(r.release(2, 2 * SEC, &l));
        assert_eq!(r.visit(2, 2 * SEC, &l), Visit::Unknown, "a used ticket is void");
        r.tick(3 * SEC, &l);
        assert_eq!(
            r.visit(3, 3 * SEC, &l),
            Visit::Claimed,
            "the next in line gets the slot"
        );
    }

    #[test]
    fn skipped_tickets_cannot_be_cashed_in_later() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.tick(0, &l);
        r.arrive(0, &l);
        for _ in 0..100 {
            r.arrive(0, &l); // hoarded: 2..=101, never checked in
        }
        r.tick(SEC, &l);
        let Arrival::Queued { ticket: real, .. } = r.arrive(2 * SEC, &l) else {
            panic!()
        };
        r.visit(real, 3 * SEC, &l);
        r.tick(7 * SEC, &l);
        assert_eq!(r.admitted, 101, "the hoard was skipped");
        for t in 2..=101 {
            assert_eq!(r.visit(t, 8 * SEC, &l), Visit::Unknown);
        }
        assert!(r.returners.is_empty(), "no memory spent on them");
        r.sessions.clear();
        r.tick(9 * SEC, &l);
        assert_eq!(r.reservations.keys().copied().collect::<Vec<_>>(), vec![real]);
    }

    #[test]
    fn a_returner_taking_a_free_slot_spends_the_rate_budget() {
        let l = Limits {
            admit_per_minute: Some(1),
            ..lim(100)
        };
        let mut r = RoomState::new(1, 0);
        r.issued = 50;
        r.admitted = 50;
        for t in 1..=50 {
            r.lapsed.insert(t, u64::MAX);
        }
        r.bucket = Bucket {
            tokens: 0.0,
            last_ms: 0,
        };
        let claimed = (1..=50).filter(|t| r.visit(*t, 0, &l) == Visit::Claimed).count();
        assert_eq!(claimed, 0, "no budget, no admission");
        assert_eq!(r.returners.len(), 50, "all wait for the tick instead");
    }

    /// A model check of the check-in bits and `Snapshot::ahead` around word
    /// boundaries, against a naive count (contributed by review).
    #[test]
    fn marks_and_positions_match_a_naive_model() {
        let interesting: Vec<u64> = {
            let mut v = vec![];
            for b in [0u64, 64, 128, 192, 256] {
                for d in [0u64, 1, 2] {
                    v.push(b + d);
                    if b >= d {
                        v.push(b - d);
                    }
                }
                v.push(b + 63);
            }
            v.sort();
            v.dedup();
            v
        };
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..5_000 {
            let issued = 300u64;
            let admitted = interesting[rnd(interesting.len() as u64) as usize].min(issued);
            let cleared = interesting[rnd(interesting.len() as u64) as usize].min(issued);
            let mut r = RoomState::new(1, 0);
            r.issued = issued;
            r.admitted = admitted;
            let mut model = std::collections::BTreeSet::new();
            for _ in 0..rnd(40) {
                let t = admitted + 1 + rnd(issued - admitted + 1);
                if t <= issued {
                    r.mark(t);
                    model.insert(t);
                }
            }
            for _ in 0..rnd(5) {
                if let Some(&t) = model.iter().nth(rnd(model.len() as u64 + 1) as usize) {
                    r.unmark(t);
                    model.remove(&t);
                }
            }
            for &f in &interesting {
                let f = f.max(1);
                assert_eq!(r.next_marked(f), model.range(f..).next().copied(), "next_marked({f})");
            }
            r.issue_log.push_back((0, cleared));
            let s = r.snapshot(10 * SEC, &lim(1));
            assert_eq!(s.cleared, cleared);
            for &n in interesting.iter().filter(|n| **n > 0) {
                for p in [0, admitted, admitted + 1, cleared, cleared + 1, n - 1] {
                    let lo = admitted.max(p);
                    let naive = (lo + 1..n).filter(|t| *t > cleared || model.contains(t)).count() as u64;
                    assert_eq!(
                        s.ahead(n, p),
                        naive,
                        "ahead({n},{p}) admitted={admitted} cleared={cleared}"
                    );
                }
            }
        }
    }

    #[test]
    fn lowering_capacity_evicts_nobody() {
        let mut r = RoomState::new(1, 0);
        for _ in 0..3 {
            r.arrive(0, &lim(3));
        }
        let rep = r.tick(SEC, &lim(1));
        assert_eq!(rep.snapshot.active, 3);
        assert!(matches!(r.arrive(SEC, &lim(1)), Arrival::Queued { .. }));
    }

    #[test]
    fn unknown_ticket_numbers_are_refused() {
        let mut r = RoomState::new(1, 0);
        assert_eq!(r.visit(1, 0, &lim(1)), Visit::Unknown);
        assert_eq!(r.visit(0, 0, &lim(1)), Visit::Unknown);
    }

    #[test]
    fn snapshot_index_matches_marks() {
        let mut r = RoomState::new(1, 0);
        let l = lim(0);
        for _ in 0..300 {
            r.arrive(0, &l);
        }
        r.tick(0, &l); // the issue log learns of 300 tickets at t=0
        for t in [5, 64, 65, 200, 299] {
            r.visit(t, 0, &l);
        }
        let s = r.snapshot(10 * SEC, &l);
        assert_eq!(s.cleared, 300);
        assert_eq!(s.waiting(), 5);
        assert_eq!(s.ahead(200, 0), 3);
    }

    /// A room with sessions 1 and 2, tickets 3..=5 checked in, 6 not.
    fn busy_room() -> RoomState {
        let mut r = RoomState::new(7, 0);
        let l = lim(2);
        for _ in 0..6 {
            r.arrive(0, &l);
        }
        r.touch(1, 0, &l);
        for t in 3..=5 {
            r.visit(t, 0, &l);
        }
        r.tick(SEC, &l);
        r
    }

    #[test]
    fn a_clean_copy_restores_exactly() {
        let mut r = busy_room();
        let json = serde_json::to_string(&r.dump()).unwrap();
        let mut back = RoomState::restore(serde_json::from_str(&json).unwrap(), true, 2 * SEC);
        let l = lim(2);
        // Exact: nothing to check again (restored_ms stays 0).
        assert_eq!(back.snapshot(2 * SEC, &l), r.snapshot(2 * SEC, &l));
        // The line continues where it was: the next ticket is 7, 3 is next in.
        assert_eq!(back.arrive(2 * SEC, &l), Arrival::Queued { ticket: 7, pointer: 2 });
        back.sessions.remove(&2);
        back.tick(3 * SEC, &l);
        assert_eq!(back.visit(3, 3 * SEC, &l), Visit::Claimed);
        assert!(back.sessions[&1].confirmed && !back.sessions.contains_key(&2));
    }

    #[test]
    fn an_unclean_copy_numbers_new_arrivals_above_anything_the_lost_interval_issued() {
        let mut r = busy_room();
        let copy = r.dump();
        let floor = copy.floor;
        assert!(floor >= r.issued + MIN_HEADROOM);
        // After the copy, more tickets are handed out; then the process dies.
        let lost = match r.arrive(SEC, &lim(2)) {
            Arrival::Queued { ticket, .. } => ticket,
            a => panic!("{a:?}"),
        };
        let mut back = RoomState::restore(copy, false, 2 * SEC);
        let l = lim(2);
        let Arrival::Queued { ticket: fresh, .. } = back.arrive(2 * SEC, &l) else {
            panic!()
        };
        assert!(fresh > floor, "no number from the lost interval is reused");
        // The lost ticket is known, checks in and keeps its order: ahead of
        // the new one, behind 3..=5.
        assert_eq!(back.visit(lost, 2 * SEC, &l), Visit::Waiting { pointer: 2 });
        back.visit(fresh, 2 * SEC, &l);
        let s = back.snapshot(2 * SEC, &l);
        assert_eq!(s.ahead(lost, 0) + 1, 4);
        // Unreturned numbers of the lost range are not counted ahead of anyone.
        assert_eq!(s.ahead(fresh, 0) + 1, 5);
        // They hold the line for one check-in window, then are skipped.
        back.sessions.clear();
        back.tick(3 * SEC, &l);
        back.tick(4 * SEC, &l);
        assert_eq!(back.reservations.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
        back.reservations.clear();
        back.tick(2 * SEC + l.checkin_window_ms + 1, &l);
        assert_eq!(back.reservations.keys().copied().collect::<Vec<_>>(), vec![5, lost]);
        back.reservations.clear();
        back.tick(3 * SEC + l.checkin_window_ms, &l);
        assert_eq!(back.reservations.keys().copied().collect::<Vec<_>>(), vec![fresh]);
    }

    #[test]
    fn numbers_beyond_the_last_saved_copy_are_never_handed_out() {
        let mut r = RoomState::new(1, 0);
        let l = lim(0);
        let copy = r.dump();
        // Not on disk yet (the write may fail): nothing is reserved, but a
        // room never saved has no copy a crash could fall back to either.
        assert_eq!(r.floor, 0);
        r.floor = copy.floor; // what MemoryStore::saved does after the write
        for _ in 0..MIN_HEADROOM / 2 - 1 {
            r.try_arrive(0, &l).unwrap();
        }
        assert!(!std::mem::take(&mut r.save_soon));
        r.try_arrive(0, &l).unwrap();
        r.try_arrive(0, &l).unwrap();
        assert!(
            std::mem::take(&mut r.save_soon),
            "a save is asked for at half the headroom"
        );
        // Saves keep failing: at the floor, arrivals are refused.
        while r.issued < copy.floor {
            r.try_arrive(0, &l).unwrap();
        }
        assert_eq!(r.try_arrive(0, &l), None);
        assert!(r.save_soon);
    }

    #[test]
    fn a_restored_session_keeps_when_it_ends() {
        let mut r = RoomState::new(1, 0);
        let l = Limits {
            max_session_ms: 10 * SEC,
            ..lim(2)
        };
        r.arrive(0, &l);
        r.arrive(4 * SEC, &l);
        let mut dump = r.dump();
        let mut back = RoomState::restore(dump.clone(), true, 5 * SEC);
        assert!(!back.touch(1, 10 * SEC, &l), "began at 0: over at 10 s");
        assert!(back.touch(2, 10 * SEC, &l), "began at 4 s");
        // A copy without ends: no limit for the sessions it holds.
        dump.session_ends.clear();
        let mut old = RoomState::restore(dump, true, 5 * SEC);
        assert!(old.touch(1, 60 * SEC, &l));
    }

    #[test]
    fn a_session_cookie_claims_its_own_reservation() {
        let mut r = RoomState::new(1, 0);
        let l = lim(1);
        r.arrive(0, &l);
        r.reservations.insert(1, 10 * SEC); // restored from a copy taken before the claim
        r.sessions.clear();
        assert!(r.touch(1, SEC, &l));
        assert!(r.reservations.is_empty() && r.sessions[&1].confirmed);
        assert!(!r.touch(2, SEC, &l));
    }

    #[test]
    fn paused_rooms_admit_nobody_new_but_keep_those_admitted() {
        let mut r = RoomState::new(1, 0);
        let l = lim(3);
        assert_eq!(r.arrive(0, &l), Arrival::Direct { number: 1 });
        r.arrive(0, &l);
        r.sessions.remove(&2);
        r.lapsed.insert(2, 10 * SEC);
        r.overrides.paused = true;
        assert!(
            matches!(r.arrive(0, &l), Arrival::Queued { ticket: 3, .. }),
            "no direct admission"
        );
        r.visit(3, 0, &l);
        assert_eq!(r.tick(SEC, &l).admitted, 0, "the line does not move");
        assert_eq!(r.visit(2, SEC, &l), Visit::Returner { ahead: 0 }, "returners wait too");
        assert!(r.touch(1, SEC, &l), "sessions continue");
        r.overrides.paused = false;
        assert_eq!(r.tick(2 * SEC, &l).admitted, 2);
    }

    #[test]
    fn overridden_capacity_and_rate_replace_the_configured_ones() {
        let mut r = RoomState::new(1, 0);
        r.overrides = Overrides {
            capacity: Some(1),
            ..Overrides::default()
        };
        assert!(matches!(r.arrive(0, &lim(5)), Arrival::Direct { .. }));
        assert!(matches!(r.arrive(0, &lim(5)), Arrival::Queued { .. }));
        assert_eq!(r.snapshot(0, &lim(5)).overrides.capacity, Some(1));
    }
}
