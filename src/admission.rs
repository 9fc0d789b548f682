//! The admission rule as a decision: given what is known about a request,
//! what to do with it. Nothing here does I/O. The gate ([`crate::gate`])
//! starts with [`first`], asks the store when the step says so, hands the
//! answer to [`touched`], [`visited`] or [`arrived`], and acts on the
//! [`Step`] that ends the walk (forward, wait, unavailable); it never
//! decides anything itself.
//!
//! ```text
//! valid session, refreshed < ttl/2 ago, not revoked -> forward (no store call)
//! valid session otherwise                  -> touch: live -> forward | gone -> arrive
//! valid ticket, checked in, behind pointer -> wait (answered from the view)
//! valid ticket otherwise                   -> visit: wait | claim -> forward | gone -> arrive
//! no valid token                           -> arrive: direct -> forward | ticket -> wait
//!   (in a drawn pre-queue: a pass, no store call; the pass back -> arrive:
//!   see [`drawn_prequeue`])
//! the store fails                          -> [`store_down`]: the failure policy
//! ```
//!
//! That is the `queue` mode, and an event's `prequeue`, where the store
//! admits nobody. In `passthrough` every request is forwarded, with no
//! session, ticket or store call; in `closed` a session goes on as above,
//! and everyone else gets the closed answer.
//!
//! Waiting is a page for `GET` and `HEAD`; any other method is refused
//! (503) and never forwarded. The status endpoint walks the same rule and
//! is never forwarded either.

use crate::clock::Millis;
use crate::config::{FailurePolicy, RoomMode};
use crate::failover::LOCAL_BIT;
use crate::metrics::Outcome;
use crate::store::{Arrival, Limits, Snapshot, StoreError, Visit};
use crate::token::{Kind, Token};

/// What is known about a request when a step is decided.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    /// The request's valid cookie for the room, if any.
    pub token: Option<&'a Token>,
    /// The room's view: read at this step, so it follows a refresh.
    pub snapshot: &'a Snapshot,
    /// The admitted pointer as far as this instance knows (the view's, or
    /// a store answer's since: direct admissions move it between ticks).
    pub pointer: u64,
    /// The room's configured limits (overrides are in the snapshot).
    pub limits: &'a Limits,
    pub store: StoreState,
    pub asking: Asking,
    pub now: Millis,
}

/// The shared store as this instance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreState {
    pub policy: FailurePolicy,
    /// False since a call failed, until one succeeds.
    pub up: bool,
    /// Instances sharing the capacity (`[store] instances`).
    pub instances: u32,
}

/// What the request asks for: it decides how waiting is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asking {
    /// A page (`GET`, `HEAD`): a waiting visitor gets the waiting page.
    Page,
    /// Anything else (a form sent, say): a waiting visitor's request is
    /// refused, never forwarded.
    Submit,
    /// `/_vestibule/status`: answered, never forwarded, and no failure
    /// policy lets it through.
    Status,
}

impl Asking {
    pub fn of(method: &http::Method) -> Asking {
        if matches!(*method, http::Method::GET | http::Method::HEAD) {
            Asking::Page
        } else {
            Asking::Submit
        }
    }
}

/// One step of the walk: a question for the store, or the end of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Pass the request upstream.
    Forward(Forward),
    /// In line: the waiting answer (page, JSON, status).
    Wait(Place),
    /// In line, and the method cannot wait: 503, not forwarded.
    Refuse(Place),
    /// The store cannot decide and the failure policy lets nothing through:
    /// wait a moment. A place already held is kept.
    Unavailable,
    /// The room is closed: nobody new gets in, and a ticket waits for
    /// nothing (it keeps its place, should the room open again).
    Closed,
    /// Confirm or refresh the session in the store (`local`: in this
    /// process's share, admitted by the `local` failure policy); the
    /// answer goes to [`touched`].
    Touch { local: bool },
    /// Ask the store where the ticket stands; the answer goes to [`visited`].
    Visit,
    /// A new visitor: ask the store for a place; the answer goes to [`arrived`].
    Arrive,
    /// The `local` failure policy: take one of this process's `share` of
    /// the slots; the answer goes to [`local_admitted`].
    Local { share: u64 },
}

/// How a forwarded request is counted and what it carries back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub outcome: Outcome,
    /// The cookie set on the answer.
    pub cookie: Option<Mint>,
    /// A session this request created: counted when the upstream answers,
    /// released when it does not, so a failed exchange holds no slot.
    pub created: Option<Created>,
}

impl Forward {
    fn plain(outcome: Outcome) -> Forward {
        Forward {
            outcome,
            cookie: None,
            created: None,
        }
    }
}

/// A cookie to sign and set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mint {
    /// A session cookie refreshed now; `confirmed` is false for a direct
    /// admission until the visitor comes back with it.
    Session { number: u64, confirmed: bool },
    /// A ticket just issued.
    NewTicket(Token),
    /// The visitor's ticket, now checked in.
    CheckedIn(Token),
    /// A pass in a drawn pre-queue: a ticket without a number yet (number
    /// 0), signed like any ticket; see [`drawn_prequeue`].
    Pass,
}

/// A session created by this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// A new visitor let in at once.
    Direct { number: u64 },
    /// A ticket's slot taken; the ticket was issued at `since_ms`.
    Claimed { number: u64, since_ms: Millis },
}

impl Created {
    pub fn number(self) -> u64 {
        match self {
            Created::Direct { number } | Created::Claimed { number, .. } => number,
        }
    }
}

/// A place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// 1 for the next visitor let in.
    pub position: u64,
    /// Waiting for a free slot after the reserved one lapsed: no estimate.
    pub returner: bool,
    /// The store knows the ticket is live (polls may be slower).
    pub checked_in: bool,
    /// The place was drawn at the opening (the ticket is in a drawn block).
    pub drawn: bool,
    pub cookie: Option<Mint>,
}

/// Which store answer failed, for [`store_down`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A session's touch; `keep` when the cookie alone is trusted.
    Touch {
        keep: bool,
    },
    Visit,
    Arrive,
}

/// The first step for a request in a room.
pub fn first(f: &Facts) -> Step {
    match mode(f) {
        RoomMode::Passthrough => return Step::Forward(Forward::plain(Outcome::Passthrough)),
        RoomMode::Closed if f.token.is_none_or(|t| t.kind != Kind::Session) => return Step::Closed,
        // A pre-queue is the line with nobody admitted: the store hands
        // out tickets only.
        RoomMode::Queue | RoomMode::Closed | RoomMode::Prequeue => {}
    }
    let Some(t) = f.token else {
        return if drawn_prequeue(f) { pass(f) } else { Step::Arrive };
    };
    if t.kind == Kind::Ticket && t.number == 0 {
        // A pass: the visitor came back with a cookie. A place now.
        return Step::Arrive;
    }
    if t.kind == Kind::Session {
        return if is_current(t, f) {
            Step::Forward(Forward::plain(Outcome::Session))
        } else {
            Step::Touch {
                local: t.number & LOCAL_BIT != 0,
            }
        };
    }
    match f.asking {
        // fail_open while the store is down: the room steps aside for
        // everyone, ticket holders answered from the view included; but
        // not before an event's doors open, which no outage opens.
        Asking::Page | Asking::Submit
            if f.store.policy == FailurePolicy::FailOpen && !f.store.up && mode(f) != RoomMode::Prequeue =>
        {
            Step::Forward(Forward::plain(Outcome::Degraded))
        }
        _ => match cached_place(t, f.snapshot, f.pointer) {
            Some(place) => wait(f, place),
            None => Step::Visit,
        },
    }
}

/// A confirmed session refreshed less than half a TTL ago cannot have
/// expired in the store; unless it was released early (revoked), it needs
/// no store call. A cookie refreshed before the state was restored from a
/// saved copy is checked once: the copy may not hold its session.
fn is_current(t: &Token, f: &Facts) -> bool {
    t.checked_in
        && f.now.saturating_sub(t.stamp_ms) < f.limits.session_ttl_ms / 2
        && t.stamp_ms >= f.snapshot.restored_ms
        && !f.snapshot.is_revoked(t.number)
}

/// A checked-in ticket behind the pointer (in the line's order: a drawn
/// block's places) waits without a store call. After a restore from a copy
/// that may predate the check-in (kill -9), the store is asked: the mark
/// may be lost.
fn cached_place(t: &Token, snap: &Snapshot, pointer: u64) -> Option<Place> {
    let behind = t.checked_in && t.stamp_ms >= snap.restored_ms && snap.order(t.number) > pointer;
    behind.then(|| Place {
        position: snap.ahead(t.number, pointer) + 1,
        returner: false,
        checked_in: true,
        drawn: snap.draw.is_some_and(|d| d.contains(t.number)),
        cookie: None,
    })
}

/// The store's answer to [`Step::Touch`] for the session in `f.token`.
pub fn touched(f: &Facts, answer: Result<bool, &StoreError>) -> Step {
    let t = f.token.expect("a touch is asked for a session cookie");
    match answer {
        Ok(true) => Step::Forward(Forward {
            outcome: Outcome::Session,
            cookie: Some(Mint::Session {
                number: t.number,
                confirmed: true,
            }),
            created: None,
        }),
        // Idled out: the slot went to someone else. A new visitor now.
        Ok(false) => arrive(f),
        // The cookie is ours and not expired: keep serving the visitor
        // rather than punish them for a store outage. A provisional one
        // only within the grace its slot is held for.
        Err(_) => {
            let keep = !f.snapshot.is_revoked(t.number)
                && (t.checked_in || f.now.saturating_sub(t.stamp_ms) < f.limits.claim_grace_ms);
            store_down(f, Asked::Touch { keep })
        }
    }
}

/// The store's answer to [`Step::Visit`] for the ticket in `f.token`.
pub fn visited(f: &Facts, answer: Result<Visit, &StoreError>) -> Step {
    let t = f.token.expect("a visit is asked for a ticket");
    let session = Some(Mint::Session {
        number: t.number,
        confirmed: true,
    });
    match answer {
        Ok(Visit::Waiting { pointer }) => wait(
            f,
            Place {
                position: f.snapshot.ahead(t.number, pointer) + 1,
                returner: false,
                checked_in: true,
                drawn: f.snapshot.draw.is_some_and(|d| d.contains(t.number)),
                cookie: Some(Mint::CheckedIn(Token { checked_in: true, ..*t })),
            },
        ),
        Ok(Visit::Returner { ahead }) => wait(
            f,
            Place {
                position: ahead + 1,
                returner: true,
                checked_in: true,
                drawn: false,
                cookie: None,
            },
        ),
        Ok(Visit::Claimed) => Step::Forward(Forward {
            outcome: Outcome::Claimed,
            cookie: session,
            created: Some(Created::Claimed {
                number: t.number,
                since_ms: t.stamp_ms,
            }),
        }),
        // A second tab, a retried request: the session is already there.
        Ok(Visit::AlreadyAdmitted) => Step::Forward(Forward {
            outcome: Outcome::Session,
            cookie: session,
            created: None,
        }),
        Ok(Visit::Unknown) => arrive(f),
        Err(_) => store_down(f, Asked::Visit),
    }
}

/// The store's answer to [`Step::Arrive`]; a new ticket lives `ticket_ttl_ms`.
pub fn arrived(f: &Facts, answer: Result<Arrival, &StoreError>, ticket_ttl_ms: u64) -> Step {
    match answer {
        Ok(Arrival::Direct { number }) => Step::Forward(Forward {
            outcome: Outcome::Direct,
            cookie: Some(Mint::Session {
                number,
                confirmed: false,
            }),
            created: Some(Created::Direct { number }),
        }),
        Ok(Arrival::Queued { ticket, pointer }) => {
            let token = Token {
                kind: Kind::Ticket,
                checked_in: false,
                epoch: f.snapshot.epoch,
                number: ticket,
                stamp_ms: f.now,
                expires_ms: f.now + ticket_ttl_ms,
            };
            wait(
                f,
                Place {
                    position: f.snapshot.ahead(ticket, pointer) + 1,
                    returner: false,
                    checked_in: false,
                    drawn: false,
                    cookie: Some(Mint::NewTicket(token)),
                },
            )
        }
        Err(_) => store_down(f, Asked::Arrive),
    }
}

/// The answer to [`Step::Local`]: the session number taken, if any.
pub fn local_admitted(number: Option<u64>) -> Step {
    match number {
        Some(number) => Step::Forward(Forward {
            outcome: Outcome::Degraded,
            cookie: Some(Mint::Session {
                number,
                confirmed: true,
            }),
            created: None,
        }),
        None => Step::Unavailable,
    }
}

/// The failure policies, all in one place: what a request gets when the
/// store could not answer `asked`. See [`FailurePolicy`].
pub fn store_down(f: &Facts, asked: Asked) -> Step {
    match (asked, f.store.policy) {
        // A session cookie is trusted alone under every policy.
        (Asked::Touch { keep: true }, _) => Step::Forward(Forward::plain(Outcome::Session)),
        (Asked::Touch { keep: false }, _) => Step::Unavailable,
        // The status endpoint forwards nothing: it can only say "wait".
        _ if f.asking == Asking::Status => Step::Unavailable,
        // Nor does an outage open an event's doors early.
        _ if mode(f) == RoomMode::Prequeue => Step::Unavailable,
        (Asked::Visit | Asked::Arrive, FailurePolicy::FailOpen) => Step::Forward(Forward::plain(Outcome::Degraded)),
        // The ticket's place is in the shared store: it waits for it.
        (Asked::Visit, FailurePolicy::FailClosed | FailurePolicy::Local) => Step::Unavailable,
        (Asked::Arrive, FailurePolicy::FailClosed) => Step::Unavailable,
        (Asked::Arrive, FailurePolicy::Local) => match local_share(f) {
            0 => Step::Unavailable,
            share => Step::Local { share },
        },
    }
}

/// This instance's share of the slots that were free when the store was
/// last seen; none while anyone waits, who must not be overtaken, or while
/// the room admits nobody (paused, or an event's pre-queue).
fn local_share(f: &Facts) -> u64 {
    let snap = f.snapshot;
    if !snap.overrides.admitting(f.limits) || snap.waiting() > 0 {
        return 0;
    }
    let capacity = u64::from(snap.overrides.apply(f.limits).capacity);
    let free = capacity.saturating_sub(snap.active + snap.reserved);
    crate::failover::share(free, f.store.instances)
}

/// The room's mode in force: an operator's, else the file's.
fn mode(f: &Facts) -> RoomMode {
    f.snapshot.overrides.mode(f.limits)
}

/// In an event's pre-queue whose places are drawn at the opening, a new
/// visitor gets a *pass* first (no number, no store call), and a ticket
/// when they come back with it, checked in at its own first poll as any
/// ticket is. A client that never comes back (a crawler, a script without
/// cookies) costs nothing, where in a drawn block each of its tickets
/// would cost the scheduler a look (places are scattered: no run of dead
/// ones can be skipped at once). A pass replayed gets a ticket each time,
/// but not a checked-in one: no slot is ever reserved for a ticket whose
/// holder never came back with it. Nothing is lost to a visitor: the
/// pre-queue's order is drawn anyway.
pub fn drawn_prequeue(f: &Facts) -> bool {
    mode(f) == RoomMode::Prequeue && f.limits.draw.is_some()
}

/// A pass (see [`drawn_prequeue`]): waiting, with no place yet.
fn pass(f: &Facts) -> Step {
    wait(
        f,
        Place {
            position: f.snapshot.waiting() + 1,
            returner: false,
            checked_in: false,
            drawn: false,
            cookie: Some(Mint::Pass),
        },
    )
}

/// A new visitor: a place in line, unless the room is closed.
fn arrive(f: &Facts) -> Step {
    match mode(f) {
        RoomMode::Closed => Step::Closed,
        RoomMode::Queue | RoomMode::Passthrough | RoomMode::Prequeue => Step::Arrive,
    }
}

/// Waiting at `place`, as the request can.
fn wait(f: &Facts, place: Place) -> Step {
    match f.asking {
        Asking::Page | Asking::Status => Step::Wait(place),
        Asking::Submit => Step::Refuse(place),
    }
}

/// Whether a cookie on a path in no room confirms a direct admission: a
/// provisional session's next request may be for a stylesheet or an image.
pub fn confirms_on_bypass(t: &Token) -> bool {
    t.kind == Kind::Session && !t.checked_in
}

#[cfg(test)]
mod tests;
