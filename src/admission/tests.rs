//! One row per branch of the README's "How admission works" and its
//! failure-policy table, each naming the rule it holds.

// A row is a tuple: the rule it holds, the inputs, the step expected.
#![allow(clippy::type_complexity)]

use super::*;
use crate::store::Overrides;

const NOW: Millis = 1_000_000;
const TTL: u64 = 600_000;
const GRACE: u64 = 60_000;

fn limits(capacity: u32) -> Limits {
    Limits {
        capacity,
        admit_per_minute: None,
        session_ttl_ms: TTL,
        claim_grace_ms: GRACE,
        checkin_window_ms: 30_000,
        tick_ms: 1_000,
        mode: RoomMode::Queue,
        max_session_ms: 0,
        draw: None,
    }
}

fn session(number: u64, confirmed: bool, age_ms: u64) -> Token {
    Token {
        kind: Kind::Session,
        checked_in: confirmed,
        epoch: 1,
        number,
        stamp_ms: NOW - age_ms,
        expires_ms: NOW - age_ms + TTL,
    }
}

fn ticket(number: u64, checked_in: bool) -> Token {
    Token {
        kind: Kind::Ticket,
        checked_in,
        epoch: 1,
        number,
        stamp_ms: NOW - 5_000,
        expires_ms: NOW + 3_600_000,
    }
}

/// A room of 10 whose pointer is at 20: tickets 21.. wait, nobody else
/// counted (no returners, nothing cleared).
fn snapshot() -> Snapshot {
    Snapshot {
        epoch: 1,
        issued: 30,
        admitted: 20,
        active: 10,
        ..Snapshot::default()
    }
}

const UP: StoreState = StoreState {
    policy: FailurePolicy::FailClosed,
    up: true,
    instances: 1,
};

fn state(policy: FailurePolicy, up: bool) -> StoreState {
    StoreState {
        policy,
        up,
        instances: 2,
    }
}

fn facts<'a>(
    token: Option<&'a Token>,
    snap: &'a Snapshot,
    lim: &'a Limits,
    store: StoreState,
    asking: Asking,
) -> Facts<'a> {
    Facts {
        token,
        pointer: snap.admitted,
        snapshot: snap,
        limits: lim,
        store,
        asking,
        now: NOW,
    }
}

fn forward(outcome: Outcome, cookie: Option<Mint>, created: Option<Created>) -> Step {
    Step::Forward(Forward {
        outcome,
        cookie,
        created,
    })
}

fn place(position: u64, returner: bool, checked_in: bool, cookie: Option<Mint>) -> Place {
    Place {
        drawn: false,
        position,
        returner,
        checked_in,
        cookie,
    }
}

fn refreshed(number: u64, confirmed: bool) -> Option<Mint> {
    Some(Mint::Session { number, confirmed })
}

#[test]
fn first_steps() {
    let lim = limits(10);
    let snap = snapshot();
    let restored = Snapshot {
        restored_ms: NOW - 1_000,
        ..snapshot()
    };
    let revoked = Snapshot {
        revoked: vec![3],
        ..snapshot()
    };
    let local = LOCAL_BIT | 4;
    let rows: Vec<(&str, Option<Token>, &Snapshot, StoreState, Asking, Step)> = vec![
        (
            "2. no valid token: a new visitor",
            None,
            &snap,
            UP,
            Asking::Page,
            Step::Arrive,
        ),
        (
            "2. no valid token, a form: a new visitor all the same",
            None,
            &snap,
            UP,
            Asking::Submit,
            Step::Arrive,
        ),
        (
            "1. a session refreshed under ttl/2 ago: forwarded with no store call",
            Some(session(3, true, TTL / 2 - 1)),
            &snap,
            UP,
            Asking::Submit,
            forward(Outcome::Session, None, None),
        ),
        (
            "1. a session refreshed ttl/2 ago: refreshed in the store",
            Some(session(3, true, TTL / 2)),
            &snap,
            UP,
            Asking::Page,
            Step::Touch { local: false },
        ),
        (
            "1. left (/_vestibule/leave): the cookie stops working",
            Some(session(3, true, 0)),
            &revoked,
            UP,
            Asking::Page,
            Step::Touch { local: false },
        ),
        (
            "2. a provisional session: confirmed in the store",
            Some(session(3, false, 0)),
            &snap,
            UP,
            Asking::Page,
            Step::Touch { local: false },
        ),
        (
            "restart: a session refreshed before the state copy is checked once",
            Some(session(3, true, 2_000)),
            &restored,
            UP,
            Asking::Page,
            Step::Touch { local: false },
        ),
        (
            "local policy: a session held by this process is touched here",
            Some(session(local, true, TTL)),
            &snap,
            state(FailurePolicy::Local, false),
            Asking::Page,
            Step::Touch { local: true },
        ),
        (
            "3. a checked-in ticket behind the pointer waits, answered from the view",
            Some(ticket(25, true)),
            &snap,
            UP,
            Asking::Page,
            Step::Wait(place(5, false, true, None)),
        ),
        (
            "a waiting visitor's form is refused, never forwarded",
            Some(ticket(25, true)),
            &snap,
            UP,
            Asking::Submit,
            Step::Refuse(place(5, false, true, None)),
        ),
        (
            "3. a ticket not checked in yet: the store checks it in",
            Some(ticket(25, false)),
            &snap,
            UP,
            Asking::Page,
            Step::Visit,
        ),
        (
            "4. a checked-in ticket the pointer reached: the store hands over the slot",
            Some(ticket(20, true)),
            &snap,
            UP,
            Asking::Page,
            Step::Visit,
        ),
        (
            "restart: a check-in older than the state copy is asked again",
            Some(ticket(25, true)),
            &restored,
            UP,
            Asking::Page,
            Step::Visit,
        ),
        (
            "fail_open, store down: a ticket holder is let through",
            Some(ticket(25, true)),
            &snap,
            state(FailurePolicy::FailOpen, false),
            Asking::Page,
            forward(Outcome::Degraded, None, None),
        ),
        (
            "fail_open, store down: a ticket holder's form too",
            Some(ticket(25, false)),
            &snap,
            state(FailurePolicy::FailOpen, false),
            Asking::Submit,
            forward(Outcome::Degraded, None, None),
        ),
        (
            "fail_open, store up: a ticket holder waits like everyone",
            Some(ticket(25, true)),
            &snap,
            state(FailurePolicy::FailOpen, true),
            Asking::Page,
            Step::Wait(place(5, false, true, None)),
        ),
        (
            "fail_closed, store down: a ticket holder waits in place (cached position)",
            Some(ticket(25, true)),
            &snap,
            state(FailurePolicy::FailClosed, false),
            Asking::Page,
            Step::Wait(place(5, false, true, None)),
        ),
        (
            "local, store down: a ticket holder waits in place",
            Some(ticket(25, true)),
            &snap,
            state(FailurePolicy::Local, false),
            Asking::Page,
            Step::Wait(place(5, false, true, None)),
        ),
        (
            "status, fail_open and down: a status poll is never let through",
            Some(ticket(25, false)),
            &snap,
            state(FailurePolicy::FailOpen, false),
            Asking::Status,
            Step::Visit,
        ),
        (
            "status: a checked-in ticket's place from the view",
            Some(ticket(25, true)),
            &snap,
            UP,
            Asking::Status,
            Step::Wait(place(5, false, true, None)),
        ),
    ];
    for (rule, token, snap, store, asking, want) in rows {
        let f = facts(token.as_ref(), snap, &lim, store, asking);
        assert_eq!(first(&f), want, "{rule}");
    }
}

#[test]
fn a_place_from_the_view_counts_from_the_latest_pointer_seen() {
    // Direct admissions moved the pointer from 20 to 24 since the view.
    let (lim, snap) = (limits(10), snapshot());
    fn at<'a>(t: &'a Token, snap: &'a Snapshot, lim: &'a Limits) -> Facts<'a> {
        Facts {
            pointer: 24,
            ..facts(Some(t), snap, lim, UP, Asking::Page)
        }
    }
    assert_eq!(
        first(&at(&ticket(25, true), &snap, &lim)),
        Step::Wait(place(1, false, true, None)),
        "nobody let in since the view is counted as ahead"
    );
    assert_eq!(
        first(&at(&ticket(23, true), &snap, &lim)),
        Step::Visit,
        "a ticket the pointer passed goes to the store to claim"
    );
}

#[test]
fn touch_answers() {
    let lim = limits(10);
    let snap = snapshot();
    let revoked = Snapshot {
        revoked: vec![3],
        ..snapshot()
    };
    let down = StoreError::Unavailable("timeout".into());
    let rows: Vec<(&str, Token, &Snapshot, Result<bool, &StoreError>, Step)> = vec![
        (
            "1. a live session is refreshed and forwarded",
            session(3, true, TTL / 2),
            &snap,
            Ok(true),
            forward(Outcome::Session, refreshed(3, true), None),
        ),
        (
            "2. a provisional session comes back: confirmed",
            session(3, false, 1_000),
            &snap,
            Ok(true),
            forward(Outcome::Session, refreshed(3, true), None),
        ),
        (
            "1. a session idled out: its holder is a new visitor",
            session(3, true, TTL),
            &snap,
            Ok(false),
            Step::Arrive,
        ),
        (
            "store down: a confirmed session is served on its cookie",
            session(3, true, TTL / 2),
            &snap,
            Err(&down),
            forward(Outcome::Session, None, None),
        ),
        (
            "store down: a provisional session within claim_grace is served",
            session(3, false, GRACE - 1),
            &snap,
            Err(&down),
            forward(Outcome::Session, None, None),
        ),
        (
            "store down: a provisional session past claim_grace waits",
            session(3, false, GRACE),
            &snap,
            Err(&down),
            Step::Unavailable,
        ),
        (
            "store down: a session ended with leave is not served",
            session(3, true, 0),
            &revoked,
            Err(&down),
            Step::Unavailable,
        ),
    ];
    for policy in [FailurePolicy::FailClosed, FailurePolicy::FailOpen, FailurePolicy::Local] {
        for (rule, token, snap, answer, want) in &rows {
            let f = facts(Some(token), snap, &lim, state(policy, answer.is_ok()), Asking::Page);
            assert_eq!(touched(&f, *answer), *want, "{rule} ({policy:?})");
        }
    }
}

#[test]
fn visit_answers() {
    let lim = limits(10);
    let snap = snapshot();
    let down = StoreError::Unavailable("timeout".into());
    let t = ticket(25, false);
    let checked_in = Some(Mint::CheckedIn(Token { checked_in: true, ..t }));
    let claimed = Some(Created::Claimed {
        number: 25,
        since_ms: t.stamp_ms,
    });
    let closed = state(FailurePolicy::FailClosed, false);
    let open = state(FailurePolicy::FailOpen, false);
    let local = state(FailurePolicy::Local, false);
    let rows: Vec<(&str, Result<Visit, &StoreError>, StoreState, Asking, Step)> = vec![
        (
            "3. still in line: checked in, place counted from the store's pointer",
            Ok(Visit::Waiting { pointer: 22 }),
            UP,
            Asking::Page,
            Step::Wait(place(3, false, true, checked_in)),
        ),
        (
            "still in line, a form: refused with the place kept",
            Ok(Visit::Waiting { pointer: 22 }),
            UP,
            Asking::Submit,
            Step::Refuse(place(3, false, true, checked_in)),
        ),
        (
            "6. a late returner waits for the next free slot, no estimate",
            Ok(Visit::Returner { ahead: 2 }),
            UP,
            Asking::Page,
            Step::Wait(place(3, true, true, None)),
        ),
        (
            "4. the reserved slot is claimed: forwarded, counted when the upstream answers",
            Ok(Visit::Claimed),
            UP,
            Asking::Page,
            forward(Outcome::Claimed, refreshed(25, true), claimed),
        ),
        (
            "4. a form sent as the turn comes is forwarded too",
            Ok(Visit::Claimed),
            UP,
            Asking::Submit,
            forward(Outcome::Claimed, refreshed(25, true), claimed),
        ),
        (
            "a second tab of an admitted ticket: the session is already there",
            Ok(Visit::AlreadyAdmitted),
            UP,
            Asking::Page,
            forward(Outcome::Session, refreshed(25, true), None),
        ),
        (
            "5. a void ticket (skipped, spent, other state): a new visitor",
            Ok(Visit::Unknown),
            UP,
            Asking::Page,
            Step::Arrive,
        ),
        (
            "fail_closed, store down: the ticket waits for its place",
            Err(&down),
            closed,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "local, store down: the ticket waits for its place",
            Err(&down),
            local,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "fail_open, store down: the ticket holder is let through",
            Err(&down),
            open,
            Asking::Page,
            forward(Outcome::Degraded, None, None),
        ),
        (
            "status, fail_open and down: please wait, nothing let through",
            Err(&down),
            open,
            Asking::Status,
            Step::Unavailable,
        ),
    ];
    for (rule, answer, store, asking, want) in rows {
        let f = facts(Some(&t), &snap, &lim, store, asking);
        assert_eq!(visited(&f, answer), want, "{rule}");
    }
}

#[test]
fn arrival_answers() {
    let lim = limits(10);
    let snap = snapshot();
    let empty = Snapshot {
        epoch: 1,
        issued: 20,
        admitted: 20,
        active: 6,
        reserved: 1,
        ..Snapshot::default()
    };
    let paused = Snapshot {
        overrides: Overrides {
            paused: true,
            ..Overrides::default()
        },
        ..empty.clone()
    };
    let smaller = Snapshot {
        overrides: Overrides {
            capacity: Some(8),
            ..Overrides::default()
        },
        ..empty.clone()
    };
    let full = Snapshot {
        active: 9,
        reserved: 1,
        ..empty.clone()
    };
    let down = StoreError::Unavailable("timeout".into());
    let new_ticket = Some(Mint::NewTicket(Token {
        kind: Kind::Ticket,
        checked_in: false,
        epoch: 1,
        number: 31,
        stamp_ms: NOW,
        expires_ms: NOW + 3_600_000,
    }));
    let closed = state(FailurePolicy::FailClosed, false);
    let open = state(FailurePolicy::FailOpen, false);
    let local = state(FailurePolicy::Local, false);
    let rows: Vec<(&str, &Snapshot, Result<Arrival, &StoreError>, StoreState, Asking, Step)> = vec![
        (
            "2. nobody waiting and a slot free: in at once, provisional",
            &empty,
            Ok(Arrival::Direct { number: 7 }),
            UP,
            Asking::Page,
            forward(
                Outcome::Direct,
                refreshed(7, false),
                Some(Created::Direct { number: 7 }),
            ),
        ),
        (
            "2. otherwise a ticket, the next number, and the waiting page",
            &snap,
            Ok(Arrival::Queued {
                ticket: 31,
                pointer: 20,
            }),
            UP,
            Asking::Page,
            Step::Wait(place(11, false, false, new_ticket)),
        ),
        (
            "2. a form from a new visitor who must queue: refused, with the ticket",
            &snap,
            Ok(Arrival::Queued {
                ticket: 31,
                pointer: 20,
            }),
            UP,
            Asking::Submit,
            Step::Refuse(place(11, false, false, new_ticket)),
        ),
        (
            "fail_closed, store down: please wait, nothing sent upstream",
            &empty,
            Err(&down),
            closed,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "fail_open, store down: let through, uncounted",
            &snap,
            Err(&down),
            open,
            Asking::Page,
            forward(Outcome::Degraded, None, None),
        ),
        (
            "local, store down: this instance's share of the free slots ((10 - 7) / 2)",
            &empty,
            Err(&down),
            local,
            Asking::Page,
            Step::Local { share: 1 },
        ),
        (
            "local, store down: the share follows an operator's capacity ((8 - 7) / 2)",
            &smaller,
            Err(&down),
            local,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "local, store down: none while anyone waits",
            &snap,
            Err(&down),
            local,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "local, store down: none while the room is paused",
            &paused,
            Err(&down),
            local,
            Asking::Page,
            Step::Unavailable,
        ),
        (
            "local, store down: none when the room was full",
            &full,
            Err(&down),
            local,
            Asking::Page,
            Step::Unavailable,
        ),
    ];
    for (rule, snap, answer, store, asking, want) in rows {
        let f = facts(None, snap, &lim, store, asking);
        assert_eq!(arrived(&f, answer, 3_600_000), want, "{rule}");
    }
}

#[test]
fn local_share_answers() {
    assert_eq!(
        local_admitted(Some(LOCAL_BIT | 1)),
        forward(Outcome::Degraded, refreshed(LOCAL_BIT | 1, true), None),
        "local: a slot of this process's share, counted here"
    );
    assert_eq!(local_admitted(None), Step::Unavailable, "local: the share is used up");
}

#[test]
fn only_a_provisional_session_is_confirmed_on_a_path_in_no_room() {
    assert!(confirms_on_bypass(&session(3, false, 0)));
    assert!(!confirms_on_bypass(&session(3, true, 0)));
    assert!(!confirms_on_bypass(&ticket(3, false)));
}

#[test]
fn every_walk_ends_within_three_store_answers() {
    // touch -> arrive -> local: no answer leads back to a question asked before.
    let lim = limits(10);
    let snap = Snapshot::default();
    let down = StoreError::Unavailable("x".into());
    let t = session(3, true, TTL);
    let f = facts(Some(&t), &snap, &lim, state(FailurePolicy::Local, false), Asking::Page);
    assert_eq!(touched(&f, Ok(false)), Step::Arrive);
    let f = facts(None, &snap, &lim, state(FailurePolicy::Local, false), Asking::Page);
    assert_eq!(arrived(&f, Err(&down), 1), Step::Local { share: 5 });
    assert_eq!(
        local_admitted(Some(1)),
        forward(Outcome::Degraded, refreshed(1, true), None)
    );
}

/// The room modes: `passthrough` forwards everything with no store call
/// and no cookie; `closed` lets a session go on and answers everyone else
/// with the closed page, a session that idled out included. An operator's
/// mode wins over the file's, either way.
#[test]
fn modes() {
    let file = |mode| Limits { mode, ..limits(10) };
    let with_override = |mode| Snapshot {
        overrides: Overrides {
            mode: Some(mode),
            ..Overrides::default()
        },
        ..snapshot()
    };
    let plain = snapshot();
    let passthrough = forward(Outcome::Passthrough, None, None);
    let tokens = [
        None,
        Some(ticket(25, true)),
        Some(ticket(25, false)),
        Some(session(3, true, 0)),
        Some(session(3, true, TTL)),
    ];
    for asking in [Asking::Page, Asking::Submit, Asking::Status] {
        for t in &tokens {
            for (lim, snap) in [
                (file(RoomMode::Passthrough), &plain),
                (file(RoomMode::Queue), &with_override(RoomMode::Passthrough)),
            ] {
                let f = facts(t.as_ref(), snap, &lim, UP, asking);
                assert_eq!(first(&f), passthrough, "passthrough: {t:?} {asking:?}");
            }
            let closed = [
                (file(RoomMode::Closed), plain.clone()),
                (file(RoomMode::Queue), with_override(RoomMode::Closed)),
            ];
            for (lim, snap) in &closed {
                let f = facts(t.as_ref(), snap, lim, UP, asking);
                let want = match t {
                    Some(s) if s.kind == Kind::Session && s.stamp_ms == NOW => forward(Outcome::Session, None, None),
                    Some(s) if s.kind == Kind::Session => Step::Touch { local: false },
                    _ => Step::Closed,
                };
                assert_eq!(first(&f), want, "closed: {t:?} {asking:?}");
            }
        }
        // An operator's queue reopens a room the file closes.
        let lim = file(RoomMode::Closed);
        let open = with_override(RoomMode::Queue);
        assert_eq!(first(&facts(None, &open, &lim, UP, asking)), Step::Arrive);
    }
    // An event's pre-queue admits nobody, not even by the local policy.
    let pre = file(RoomMode::Prequeue);
    let empty = Snapshot::default();
    let local = state(FailurePolicy::Local, false);
    assert_eq!(first(&facts(None, &empty, &pre, UP, Asking::Page)), Step::Arrive);
    let down = StoreError::Unavailable("x".into());
    assert_eq!(
        arrived(&facts(None, &empty, &pre, local, Asking::Page), Err(&down), 1),
        Step::Unavailable
    );
    // Closed: a session that idled out, or a ticket the store no longer
    // knows, is a new visitor, and a new visitor gets the closed answer.
    let lim = file(RoomMode::Closed);
    let (s, t) = (session(3, true, TTL), ticket(25, true));
    let snap = snapshot();
    assert_eq!(
        touched(&facts(Some(&s), &snap, &lim, UP, Asking::Page), Ok(true)),
        forward(Outcome::Session, refreshed(3, true), None)
    );
    assert_eq!(
        touched(&facts(Some(&s), &snap, &lim, UP, Asking::Page), Ok(false)),
        Step::Closed
    );
    assert_eq!(
        visited(&facts(Some(&t), &snap, &lim, UP, Asking::Page), Ok(Visit::Unknown)),
        Step::Closed
    );
}

/// In a drawn block a ticket's turn is its drawn place, not its number: a
/// low number may still wait, a high one may be behind the pointer (and
/// asks the store, which knows whether its slot is reserved).
#[test]
fn in_a_drawn_block_the_place_decides_not_the_number() {
    let lim = limits(10);
    let draw = crate::store::Draw {
        lo: 0,
        size: 30,
        key: 42,
    };
    let snap = Snapshot {
        draw: Some(draw),
        cleared: 0,
        ..snapshot()
    };
    for n in 1..=30 {
        let t = ticket(n, true);
        let step = first(&facts(Some(&t), &snap, &lim, UP, Asking::Page));
        if draw.order(n) > snap.admitted {
            let Step::Wait(p) = step else {
                panic!("ticket {n} at place {}: {step:?}", draw.order(n))
            };
            // Every ticket of the block is young (nothing cleared): those
            // ahead are the places before its own.
            assert_eq!(p.position, draw.order(n) - snap.admitted, "ticket {n}");
        } else {
            assert_eq!(step, Step::Visit, "ticket {n}: its turn came");
        }
    }
}

/// A drawn pre-queue hands a new visitor a pass, without a store call; the
/// pass back is a place, a ticket checked in at its own first poll (a pass
/// replayed must not make live tickets). Outside a drawn pre-queue a pass
/// is a new visitor's cookie like no cookie at all.
#[test]
fn a_drawn_pre_queue_hands_out_passes_first() {
    let snap = snapshot();
    let drawn = Limits {
        mode: RoomMode::Prequeue,
        draw: Some(crate::store::DrawSpec { event: 1, key: 2 }),
        ..limits(10)
    };
    let plain = Limits {
        mode: RoomMode::Prequeue,
        ..limits(10)
    };
    let step = first(&facts(None, &snap, &drawn, UP, Asking::Page));
    assert!(
        matches!(
            step,
            Step::Wait(Place {
                cookie: Some(Mint::Pass),
                checked_in: false,
                ..
            })
        ),
        "{step:?}"
    );
    assert_eq!(first(&facts(None, &snap, &plain, UP, Asking::Page)), Step::Arrive);
    let pass = ticket(0, false);
    for lim in [&drawn, &plain, &limits(10)] {
        assert_eq!(first(&facts(Some(&pass), &snap, lim, UP, Asking::Page)), Step::Arrive);
    }
    let queued = Ok(Arrival::Queued {
        ticket: 31,
        pointer: 20,
    });
    let step = arrived(&facts(Some(&pass), &snap, &drawn, UP, Asking::Status), queued, 60_000);
    let Step::Wait(Place {
        cookie: Some(Mint::NewTicket(t)),
        ..
    }) = step
    else {
        panic!("{step:?}")
    };
    assert!(!t.checked_in && t.number == 31, "{t:?}");
    // An operator's mode wins: a pre-queue opened early admits as ever.
    let opened = Snapshot {
        overrides: Overrides {
            mode: Some(RoomMode::Queue),
            ..Overrides::default()
        },
        ..snapshot()
    };
    assert_eq!(first(&facts(None, &opened, &drawn, UP, Asking::Page)), Step::Arrive);
}
