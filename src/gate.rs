//! The gate: what happens to one request. It routes the request to a
//! room, walks the admission rule ([`crate::admission`]), asking the store
//! what the rule asks, and acts on the decision: forwards the request
//! upstream or answers it from the lobby. It decides nothing itself.
//!
//! A session created by a request whose upstream exchange then fails is
//! released at once, so a dead upstream never holds a slot. Paths are
//! routed as backends read them ([`crate::path`]); requests a proxy cannot
//! pass on faithfully are refused ([`crate::request`]).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::access::{Note, Visitor};
use crate::admission::{self, Asking, Created, Facts, Forward, Mint, Place, Step, StoreState};
use crate::app::{App, Live};
use crate::body::Body;
use crate::clock::Millis;
use crate::config::{RoomMode, Upstream};
use crate::cookie::cookies;
use crate::failover::LOCAL_BIT;
use crate::http::{
    from_another_site, is_local_path, json_response, prefers_json, query_param, request_host, respond, Peer,
};
use crate::lang::{Asked, Hint};
use crate::metrics::{ClientErrorKind, EndedBy, Outcome, RoomMetrics};
use crate::page::{self, Message, Waiting};
use crate::proxy::ProxyError;
use crate::request::Malformed;
use crate::room::{Room, Rooms, View};
use crate::store::{Arrival, Visit};
use crate::token::{Kind, Token};
use crate::upstream::h1::SessionEnded;

/// Handles one request on the public listener.
///
/// Returns the future already boxed, one box per kind of request: a boxed
/// future is copied into the heap at its full size, so a status poll, the
/// lobby's busiest request, must not pay for a forward's, the largest
/// (held by this module's tests).
pub fn handle(app: Arc<App>, req: Request<Incoming>, peer: Peer) -> BoxResponse {
    if let Some(rest) = req.uri().path().strip_prefix("/_vestibule/") {
        let what = match rest {
            "status" => Internal::Status,
            "leave" => Internal::Leave,
            _ => Internal::Unknown,
        };
        return internal(app, what, req, peer);
    }
    let rooms = app.rooms.load_full();
    let host = if rooms.needs_host() { request_host(&req) } else { None };
    let (room, upstream) = match rooms.route_request(host, req.uri().path()) {
        Ok(r) => (r.room.cloned(), r.upstream.cloned()),
        Err(why) => {
            let json = prefers_json(req.headers());
            let asked = Asked::of(req.uri().query(), req.headers());
            let resp = malformed(&app, why, &asked, json);
            // Left from inside the answer's future, where the note is
            // taken (access::noted), not here before it runs.
            return Box::pin(async move { noted(&app, resp, || Note::outside("refused")) });
        }
    };
    let Some(room) = room else {
        return Box::pin(async move { bypass(&app, &rooms, upstream.as_ref(), req, peer).await });
    };
    drop(rooms);
    let now = app.clock.now_ms();
    let token = app.token(&room, req.headers(), now);
    let asking = Asking::of(req.method());
    let step = decide(&app, &room, token.as_ref(), asking, now, admission::first);
    // A forward that needs nothing after the answer (a current session,
    // the busiest path) is decided here rather than inside the walk's
    // future: every future level a request passes through is one more copy
    // of the exchange's future.
    if let Step::Forward(Forward {
        outcome,
        cookie: None,
        created: None,
    }) = step
    {
        room.metrics.request(outcome);
        let note = app
            .access
            .is_some()
            .then(|| Note::room(&room, outcome.as_str(), who(token.as_ref(), None, None)));
        // Started here too: the request goes out of the picture before
        // hyper, which reads ahead on the connection before it first polls
        // this future, wants its read buffer back.
        let session = token
            .filter(|t| t.kind == Kind::Session && outcome == Outcome::Session)
            .map(|t| t.number);
        let forwarding = forwarding(&app, upstream.as_ref(), req, peer, note);
        return Box::pin(Plain {
            forwarding,
            app,
            room,
            session,
        });
    }
    Box::pin(async move { walk(&app, &room, token, asking, now, step, req, peer, upstream).await })
}

/// The answer to a request that cannot be passed on ([`crate::request`]):
/// nothing is sent upstream, and the client is counted, not the upstream.
fn malformed(app: &App, why: Malformed, asked: &Asked<'_>, json: bool) -> Response<Body> {
    app.metrics.client_error(ClientErrorKind::Request);
    tracing::debug!(reason = %why, "request refused");
    let m = Message::Malformed {
        coding: matches!(why, Malformed::TransferCoding),
    };
    app.message(why.status(), asked, &m, None, json)
}

/// `resp`, with the access log's note left (made only when there is a log).
fn noted(app: &App, resp: Response<Body>, note: impl FnOnce() -> Note) -> Response<Body> {
    if app.access.is_some() {
        note().leave();
    }
    resp
}

/// Who a request came from, for the access log: the session it was given
/// or holds, else the ticket it was given or holds.
fn who(token: Option<&Token>, minted: Option<&Mint>, created: Option<Created>) -> Option<Visitor> {
    if let Some(c) = created {
        return Some(Visitor::Session(c.number()));
    }
    match (minted, token) {
        (Some(Mint::Session { number, .. }), _) => Some(Visitor::Session(*number)),
        (Some(Mint::NewTicket(t) | Mint::CheckedIn(t)), _) => Some(Visitor::Ticket(t.number)),
        (Some(Mint::Pass), _) => None,
        (None, Some(t)) if t.kind == Kind::Session => Some(Visitor::Session(t.number)),
        (None, Some(t)) => Some(Visitor::Ticket(t.number)),
        (None, None) => None,
    }
}

/// A response still being worked out, boxed (see [`handle`]).
pub type BoxResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>;

/// A path in no room: passed to the upstream.
async fn bypass(
    app: &App,
    rooms: &Rooms,
    upstream: Option<&Upstream>,
    req: Request<Incoming>,
    peer: Peer,
) -> Response<Body> {
    app.bypass_metrics.request(Outcome::Bypass);
    let cookies = confirm_on_bypass(app, rooms, req.headers(), app.secure(peer)).await;
    let note = app.access.is_some().then(|| Note::outside(Outcome::Bypass.as_str()));
    forwarding(app, upstream, req, peer, note)
        .finish(app, &app.bypass_metrics, cookies, None, None)
        .await
}

/// A directly admitted visitor's next request may well be for a path in
/// no room (a stylesheet, an image): it confirms them too. The common
/// case, no provisional cookie, costs a scan of the Cookie header and no
/// MAC.
async fn confirm_on_bypass(app: &App, rooms: &Rooms, headers: &HeaderMap, secure: bool) -> Vec<HeaderValue> {
    let mut set = Vec::new();
    for room in rooms.iter() {
        if !cookies(headers, &room.cookie).any(crate::token::looks_like_provisional_session) {
            continue;
        }
        let now = app.clock.now_ms();
        let Some(t) = app.token(room, headers, now).filter(admission::confirms_on_bypass) else {
            continue;
        };
        if let Ok(true) = app.store.touch(room.name(), t.number, now, &room.limits(now)).await {
            set.push(mint(
                app,
                room,
                Mint::Session {
                    number: t.number,
                    confirmed: true,
                },
                now,
                secure,
            ));
        }
    }
    set
}

/// One decision of the admission rule, on what is known now: the room's
/// view is read at each step, so a step after a refresh sees it.
fn decide<R>(
    app: &App,
    room: &Room,
    token: Option<&Token>,
    asking: Asking,
    now: Millis,
    rule: impl FnOnce(&Facts) -> R,
) -> R {
    let view = room.view();
    rule(&Facts {
        token,
        pointer: room.pointer(&view),
        snapshot: &view.snapshot,
        limits: &room.limits(now),
        store: StoreState {
            policy: app.health.policy(),
            up: app.health.is_up(),
            instances: app.instances,
        },
        asking,
        now,
    })
}

/// Asks the store the question `step` names and returns the rule's next
/// step; a step that ends the walk is returned as it is.
async fn ask(app: &App, room: &Room, token: Option<&Token>, asking: Asking, now: Millis, step: Step) -> Step {
    match step {
        Step::Touch { local } => {
            let t = token.expect("a touch is asked for a session cookie");
            let answer = if local {
                Ok(app
                    .local
                    .touch(room.name(), t.number, room.limits(now).session_ttl_ms, now))
            } else {
                app.store.touch(room.name(), t.number, now, &room.limits(now)).await
            };
            if let Err(e) = &answer {
                store_failed(app, room, e);
            }
            decide(app, room, token, asking, now, |f| {
                admission::touched(f, answer.as_ref().copied())
            })
        }
        Step::Visit => {
            let t = token.expect("a visit is asked for a ticket");
            let answer = app.store.visit(room.name(), t.number, now, &room.limits(now)).await;
            answered(app, room, &answer, now).await;
            if let Ok(Visit::Waiting { pointer }) = answer {
                room.saw_pointer(pointer);
            }
            decide(app, room, token, asking, now, |f| {
                admission::visited(f, answer.as_ref().copied())
            })
        }
        Step::Arrive => {
            let answer = app.store.arrive(room.name(), now, &room.limits(now)).await;
            answered(app, room, &answer, now).await;
            match answer {
                Ok(Arrival::Queued { pointer, .. }) => {
                    room.metrics.tickets_issued.inc();
                    room.saw_pointer(pointer);
                }
                // A direct admission takes the next number and moves the
                // pointer to it.
                Ok(Arrival::Direct { number }) => room.saw_pointer(number),
                Err(_) => {}
            }
            let ttl = app.live.load().config.token.ticket_ttl.as_millis() as u64;
            decide(app, room, None, asking, now, |f| {
                admission::arrived(f, answer.as_ref().copied(), ttl)
            })
        }
        Step::Local { share } => {
            admission::local_admitted(
                app.local
                    .admit(room.name(), share, room.limits(now).session_ttl_ms, now),
            )
        }
        end => end,
    }
}

/// After a store decision: a failure is counted; a success may show a
/// store restarted empty, with a new room state (epoch) that this
/// instance's view has not seen yet, so the view is refreshed before a
/// cookie is signed with the dead epoch. Costs nothing unless the epoch
/// changed.
async fn answered<T>(app: &App, room: &Room, answer: &Result<T, crate::store::StoreError>, now: Millis) {
    if let Err(e) = answer {
        store_failed(app, room, e);
        return;
    }
    let seen = app.store.seen_epoch(room.name());
    if seen.is_some_and(|e| e != room.view().snapshot.epoch) {
        tracing::warn!(
            room = room.name(),
            "the room's state in the store is new (restarted empty?); refreshing"
        );
        app.refresh(room, now).await;
    }
}

/// Everything in a room but a plain forward ([`handle`] forwards those):
/// walks the rule from `step` to its end and acts on it. `token` is the
/// request's valid cookie for the room, read at `now`.
#[allow(clippy::too_many_arguments)]
async fn walk(
    app: &App,
    room: &Arc<Room>,
    token: Option<Token>,
    asking: Asking,
    now: Millis,
    mut step: Step,
    req: Request<Incoming>,
    peer: Peer,
    upstream: Option<Upstream>,
) -> Response<Body> {
    let t = token.as_ref();
    loop {
        step = match step {
            Step::Forward(fw) => {
                let visitor = who(t, fw.cookie.as_ref(), fw.created);
                let session = match visitor {
                    Some(Visitor::Session(n)) if fw.outcome != Outcome::Passthrough => Some(n),
                    _ => None,
                };
                let note = app
                    .access
                    .is_some()
                    .then(|| Note::room(room, fw.outcome.as_str(), visitor));
                return forward(app, room, fw, session, req, (peer, upstream.as_ref()), now, note).await;
            }
            Step::Wait(place) => {
                let resp = waiting(app, room, &req, place, now, app.secure(peer));
                return noted(app, resp, || {
                    Note::room(room, "queued", who(t, place.cookie.as_ref(), None))
                });
            }
            Step::Refuse(place) => {
                let resp = refused(app, room, &req, place, now, app.secure(peer));
                return noted(app, resp, || {
                    Note::room(room, "rejected", who(t, place.cookie.as_ref(), None))
                });
            }
            Step::Unavailable => {
                let resp = store_unavailable(app, &req, prefers_json(req.headers()));
                return noted(app, resp, || Note::room(room, "unavailable", who(t, None, None)));
            }
            Step::Closed => {
                let resp = closed(app, room, asking, &req);
                return noted(app, resp, || Note::room(room, "closed", who(t, None, None)));
            }
            question => ask(app, room, t, asking, now, question).await,
        };
    }
}

/// How often a closed page looks again, should the room open.
const CLOSED_POLL_SECONDS: u64 = 60;

/// The answer of a closed room: the page, or JSON `state: "closed"`, with
/// the room's notice as the operator's word on why; 200 for a page, 403
/// for a form (which was not sent), whichever the client reads. The JSON
/// has a `message` when a page asked for JSON, and in a status poll when
/// asked for with `?lang=`.
fn closed(app: &App, room: &Room, asking: Asking, req: &Request<Incoming>) -> Response<Body> {
    room.metrics.request(Outcome::Closed);
    let view = room.view();
    let notice = room.notice(&view);
    let (status, retry) = match asking {
        Asking::Page | Asking::Status => (StatusCode::OK, Some(CLOSED_POLL_SECONDS)),
        Asking::Submit => (StatusCode::FORBIDDEN, None),
    };
    let asked = Asked::of(req.uri().query(), req.headers());
    if prefers_json(req.headers()) || asking == Asking::Status {
        let live = app.live.load();
        let lang = (asking != Asking::Status || asked.param.is_some())
            .then(|| live.pages.language(live.pages.catalog().chosen(&asked)));
        let body = page::closed_json(room.name(), &room.cfg.title, notice, CLOSED_POLL_SECONDS, lang);
        let mut r = json_response(status, body);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = retry {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        return r;
    }
    let m = Message::Closed {
        room: &room.cfg.title,
        notice,
        submit: asking == Asking::Submit,
    };
    app.message(status, &asked, &m, retry, false)
}

/// Forwards as the rule decided: counted, with its cookie, and any session
/// it created accounted for when the upstream answers (see [`Forwarding::finish`]).
/// `session` is the visitor's, for the origin to end.
#[allow(clippy::too_many_arguments)]
async fn forward(
    app: &App,
    room: &Room,
    fw: Forward,
    session: Option<u64>,
    req: Request<Incoming>,
    (peer, upstream): (Peer, Option<&Upstream>),
    now: Millis,
    note: Option<Note>,
) -> Response<Body> {
    room.metrics.request(fw.outcome);
    let secure = app.secure(peer);
    let cookies = fw.cookie.map(|c| mint(app, room, c, now, secure)).into_iter().collect();
    forwarding(app, upstream, req, peer, note)
        .finish(
            app,
            &room.metrics,
            cookies,
            fw.created.map(|c| (room, c)),
            session.map(|n| (room, n)),
        )
        .await
}

/// Signs the cookie the rule asked for.
fn mint(app: &App, room: &Room, what: Mint, now: Millis, secure: bool) -> HeaderValue {
    match what {
        Mint::Session { number, confirmed } => crate::cookie::session(&app.keys, room, number, now, confirmed, secure),
        Mint::NewTicket(t) | Mint::CheckedIn(t) => crate::cookie::ticket(&app.keys, room, &t, now, secure),
        Mint::Pass => {
            let pass = Token {
                kind: Kind::Ticket,
                checked_in: false,
                epoch: room.view().snapshot.epoch,
                number: 0,
                stamp_ms: now,
                expires_ms: now + app.live.load().config.token.ticket_ttl.as_millis() as u64,
            };
            crate::cookie::ticket(&app.keys, room, &pass, now, secure)
        }
    }
}

/// Counts an admission from the line and the wait it ended.
fn count_claim(room: &Room, since_ms: Millis, now: Millis) {
    room.metrics.admitted_queue.inc();
    room.metrics
        .wait_seconds
        .observe(now.saturating_sub(since_ms) as f64 / 1000.0);
}

/// Counts a failed store call; the health tracker logs the outage once.
fn store_failed(app: &App, room: &Room, e: &crate::store::StoreError) {
    room.metrics.store_errors.inc();
    app.health.failed(e);
}

pin_project_lite::pin_project! {
    /// A request on its way upstream. Started as soon as the request is
    /// decided on: the request is rewritten and encoded then, and its
    /// parsed form (which holds on to the client connection's read buffer)
    /// dropped.
    struct Forwarding<F> {
        #[pin]
        sent: F,
        json: bool,
        // Cookies it clears are `Secure`.
        secure: bool,
        // The language asked for, should the exchange fail.
        hint: Hint,
        started: tokio::time::Instant,
        // For the access log (`None`: off).
        note: Option<Note>,
    }
}

/// Starts forwarding `req` (see [`Forwarding`]).
fn forwarding(
    app: &App,
    upstream: Option<&Upstream>,
    req: Request<Incoming>,
    peer: Peer,
    note: Option<Note>,
) -> Forwarding<impl Future<Output = Result<Response<Body>, ProxyError>> + Send> {
    Forwarding {
        json: prefers_json(req.headers()),
        secure: app.secure(peer),
        hint: Hint::of(req.uri().query(), req.headers()),
        started: tokio::time::Instant::now(),
        sent: app.live.load().upstreams.get(upstream).forward(req, peer),
        note,
    }
}

impl<F: Future<Output = Result<Response<Body>, ProxyError>>> Forwarding<F> {
    /// Waits for the answer. A session this request created is counted
    /// once the upstream answers, and released at once when it does not,
    /// so an error never holds the visitor's slot.
    async fn finish(
        self,
        app: &App,
        m: &RoomMetrics,
        cookies: Vec<HeaderValue>,
        created: Option<(&Room, Created)>,
        session: Option<(&Room, u64)>,
    ) -> Response<Body> {
        let Forwarding {
            sent,
            json,
            secure,
            hint,
            started,
            note,
        } = self;
        let answer = sent.await;
        let upstream = started.elapsed();
        let resp = match answer {
            Ok(mut resp) => {
                m.upstream_duration.observe(upstream.as_secs_f64());
                let ended = origin_ended(app, session, &mut resp, secure);
                if ended.is_none() {
                    for c in cookies {
                        resp.headers_mut().append(header::SET_COOKIE, c);
                    }
                }
                match created {
                    Some((room, Created::Direct { .. })) => room.metrics.admitted_direct.inc(),
                    Some((room, Created::Claimed { since_ms, .. })) => count_claim(room, since_ms, app.clock.now_ms()),
                    None => {}
                }
                if let (Some((room, _)), Some(n)) = (session, ended) {
                    end_session(app, room, n, app.clock.now_ms(), EndedBy::Origin).await;
                }
                Ok(resp)
            }
            Err(e) => {
                if let Some((room, c)) = created {
                    let now = app.clock.now_ms();
                    if let Err(e) = app.store.release(room.name(), c.number(), now, &room.limits(now)).await {
                        tracing::warn!(room = room.name(), error = %e, "could not release the slot of a failed request");
                    }
                }
                Err(exchange_failed(app, m, &e, &hint.asked(), json))
            }
        };
        exchanged(resp, note, upstream)
    }
}

/// Takes the origin's `Vestibule-Session: end` off an answer (the
/// upstream client left it as [`SessionEnded`]). When it was there and the
/// request came with a session, `(room, number)`, the answer clears the
/// session's cookie, and the number is returned for [`end_session`].
/// Anywhere else (a path in no room, a room in passthrough) it ends
/// nothing.
fn origin_ended(app: &App, session: Option<(&Room, u64)>, resp: &mut Response<Body>, secure: bool) -> Option<u64> {
    resp.extensions_mut().remove::<SessionEnded>()?;
    let (room, n) = session?;
    resp.headers_mut().append(
        header::SET_COOKIE,
        crate::cookie::clear(room, secure || app.cookie_secure()),
    );
    Some(n)
}

/// Ends session `n` in `room` at once: its slot is free for the next
/// tick, and its cookie, published as revoked, stops working on every
/// instance. Counted by what ended it.
async fn end_session(app: &App, room: &Room, n: u64, now: Millis, by: EndedBy) {
    let ended = if n & LOCAL_BIT != 0 {
        app.local.release(room.name(), n);
        true
    } else {
        match app.store.release(room.name(), n, now, &room.limits(now)).await {
            Ok(ended) => ended,
            Err(e) => {
                store_failed(app, room, &e);
                false
            }
        }
    };
    if ended {
        room.metrics.sessions_ended(by, 1);
    }
}

/// An exchange's answer, noted for the access log: the upstream's time
/// when it answered.
fn exchanged(resp: Result<Response<Body>, Response<Body>>, note: Option<Note>, upstream: Duration) -> Response<Body> {
    match (resp, note) {
        (Ok(resp), Some(n)) => {
            Note {
                upstream: Some(upstream),
                ..n
            }
            .leave();
            resp
        }
        (Err(resp), Some(n)) => {
            n.leave();
            resp
        }
        (Ok(resp) | Err(resp), None) => resp,
    }
}

/// The page for a failed exchange, counted and logged: as the upstream's
/// error, or as the client's when its own request broke off (400; nobody
/// reads it when the client has gone).
fn exchange_failed(app: &App, m: &RoomMetrics, e: &ProxyError, asked: &Asked<'_>, json: bool) -> Response<Body> {
    if let ProxyError::Refused(why) = e {
        return malformed(app, *why, asked, json);
    }
    let Some(kind) = e.kind() else {
        app.metrics.client_error(ClientErrorKind::Body);
        tracing::debug!(error = %e, "client request failed");
        let m = Message::Incomplete {
            slow: e.status() == StatusCode::REQUEST_TIMEOUT,
        };
        return app.message(e.status(), asked, &m, None, json);
    };
    m.upstream_error(kind);
    tracing::warn!(error = %e, "upstream request failed");
    let m = if e.status() == StatusCode::GATEWAY_TIMEOUT {
        Message::Timeout
    } else {
        Message::Unreachable
    };
    app.message(e.status(), asked, &m, Some(10), json)
}

pin_project_lite::pin_project! {
    /// A forward with nothing to do after the answer, the busiest path
    /// (see [`handle`]): [`Forwarding::finish`] without cookies or a
    /// created session, written out as a future so that the boxed future
    /// holds the exchange's future once (an async block around it holds
    /// it twice; see the size test).
    struct Plain<F> {
        #[pin]
        forwarding: Forwarding<F>,
        app: Arc<App>,
        room: Arc<Room>,
        // The session the request came with, for the origin to end.
        session: Option<u64>,
    }
}

impl<F: Future<Output = Result<Response<Body>, ProxyError>>> Future for Plain<F> {
    type Output = Response<Body>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response<Body>> {
        let this = self.project();
        let f = this.forwarding.project();
        let m = &this.room.metrics;
        let answer = ready!(f.sent.poll(cx));
        let upstream = f.started.elapsed();
        let resp = match answer {
            Ok(mut resp) => {
                m.upstream_duration.observe(upstream.as_secs_f64());
                let session = this.session.map(|n| (&**this.room, n));
                if let Some(n) = origin_ended(this.app, session, &mut resp, *f.secure) {
                    // Polled, not awaited: the slot is let go of beside the answer.
                    let (app, room, now) = (this.app.clone(), this.room.clone(), this.app.clock.now_ms());
                    tokio::spawn(async move { end_session(&app, &room, n, now, EndedBy::Origin).await });
                }
                Ok(resp)
            }
            Err(e) => Err(exchange_failed(this.app, m, &e, &f.hint.asked(), *f.json)),
        };
        Poll::Ready(exchanged(resp, f.note.take(), upstream))
    }
}

/// The waiting answer: HTML for browsers, JSON for `Accept: application/json`
/// (with a `message`), both in the language the visitor chose; a choice
/// made with `?lang=` is remembered in a cookie.
fn waiting(app: &App, room: &Room, req: &Request<Incoming>, place: Place, now: Millis, secure: bool) -> Response<Body> {
    room.metrics.request(Outcome::Queued);
    let live = app.live.load();
    let view = room.view();
    let w = standing(
        room,
        &view,
        &place,
        &room.cfg.title,
        live.config.page.site_name.as_deref(),
        now,
    );
    let limits = room.limits(now);
    let w = w.keeping(page::Kept {
        ticket: live.config.token.ticket_ttl.as_secs(),
        turn: (limits.claim_grace_ms + limits.session_ttl_ms) / 1000,
    });
    let query = req.uri().query();
    let chosen = live.pages.choose(query, req.headers());
    let mut resp = if prefers_json(req.headers()) {
        let w = w.clone().told(live.pages.language(chosen.lang));
        respond(StatusCode::OK, "application/json", w.to_json())
    } else {
        let page = live.pages.waiting(&w, chosen.lang, query);
        respond(StatusCode::OK, "text/html; charset=utf-8", page)
    };
    if chosen.remember {
        let tag = live.pages.language(chosen.lang).tag();
        resp.headers_mut()
            .append(header::SET_COOKIE, crate::lang::remember(tag, secure));
    }
    in_line(app, room, resp, w.poll_after_seconds, place.cookie, now, secure)
}

/// A waiting visitor's request that cannot wait (a form): 503, not sent.
fn refused(app: &App, room: &Room, req: &Request<Incoming>, place: Place, now: Millis, secure: bool) -> Response<Body> {
    room.metrics.request(Outcome::Rejected);
    let poll = standing(room, &room.view(), &place, "", None, now).poll_after_seconds;
    let resp = app.message(
        StatusCode::SERVICE_UNAVAILABLE,
        &Asked::of(req.uri().query(), req.headers()),
        &Message::InLine,
        Some(poll),
        prefers_json(req.headers()),
    );
    in_line(app, room, resp, poll, place.cookie, now, secure)
}

/// Where a visitor in line stands, as the page, the status and a refusal
/// say it: the place, the estimated wait (none for a returner, or while
/// admissions are paused, which it says instead), when to ask again, and
/// the room's notice, as of `view`.
fn standing<'a>(
    room: &'a Room,
    view: &'a View,
    place: &Place,
    title: &'a str,
    site: Option<&'a str>,
    now: Millis,
) -> Waiting<'a> {
    // In an event's pre-queue (unless an operator opened the room), the
    // wait counts from the opening; or there is none yet, when the places
    // are drawn then.
    let (opening, shuffle) = match room.phase(now) {
        crate::schedule::Phase::Prequeue(e) if view.snapshot.overrides.mode.is_none() => (Some(e.opens_at), e.shuffle),
        _ => (None, false),
    };
    let ahead = place.position - 1;
    let eta = match opening {
        _ if place.returner => None,
        Some(at) => room.eta_from_opening(view, ahead, at),
        None => room.eta_seconds(view, ahead),
    };
    // A pass comes back at once: the draw's block closes at the opening,
    // and a pass back after it lines up behind the block.
    let poll = match place.cookie {
        Some(Mint::Pass) => 1,
        _ => room.poll_after(place.checked_in, eta),
    };
    let w = Waiting {
        drawn: place.drawn,
        ..Waiting::new(room.name(), title, site, place.position, place.returner, eta, poll, now)
            .noticed(room.notice(view))
    };
    if let Some(at) = opening {
        let w = w.before_opening(at, now);
        return if shuffle { w.drawn_at_opening() } else { w };
    }
    if view.snapshot.overrides.paused {
        w.paused()
    } else {
        w
    }
}

/// What every answer to a visitor in line carries: when to ask again, no
/// caching, and the ticket's cookie when it changed.
fn in_line(
    app: &App,
    room: &Room,
    mut resp: Response<Body>,
    poll: u64,
    cookie: Option<Mint>,
    now: Millis,
    secure: bool,
) -> Response<Body> {
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(poll));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, mint(app, room, c, now, secure));
    }
    resp
}

/// The answer while the store cannot decide: wait and try again, in JSON
/// when `json`. Counted and logged by [`store_failed`].
fn store_unavailable(app: &App, req: &Request<Incoming>, json: bool) -> Response<Body> {
    app.message(
        StatusCode::SERVICE_UNAVAILABLE,
        &Asked::of(req.uri().query(), req.headers()),
        &Message::Unavailable,
        Some(5),
        json,
    )
}

/// The pages under `/_vestibule/`.
enum Internal {
    Status,
    Leave,
    Unknown,
}

/// The pages under `/_vestibule/`. The room is picked and the request
/// noted here, before any future: a status poll, the lobby's busiest
/// request, is boxed as the status future itself in one async block,
/// with no level around it that would copy it again on its first poll.
fn internal(app: Arc<App>, what: Internal, req: Request<Incoming>, peer: Peer) -> BoxResponse {
    let now = app.clock.now_ms();
    let rooms = app.rooms.load_full();
    let room = pick_room(&rooms, &req, &app, now);
    drop(rooms);
    let outcome = match what {
        Internal::Status => Outcome::Status.as_str(),
        Internal::Leave => "leave",
        Internal::Unknown => "not_found",
    };
    let note = app.access.is_some().then(|| {
        let visitor = room
            .as_ref()
            .and_then(|r| who(app.token(r, req.headers(), now).as_ref(), None, None));
        match &room {
            Some(r) => Note::room(r, outcome, visitor),
            None => Note::outside(outcome),
        }
    });
    // Left from inside the answer's future, where `access::noted` takes it.
    let noted = move |resp: Response<Body>| {
        if let Some(n) = note {
            n.leave();
        }
        resp
    };
    let secure = app.secure(peer);
    match (what, room) {
        (Internal::Status, Some(room)) => Box::pin(async move {
            let resp = status(&app, &room, &req, now, secure).await;
            noted(resp)
        }),
        (Internal::Status, None) => {
            let resp = json_response(
                StatusCode::NOT_FOUND,
                r#"{"state":"none","error":"unknown room"}"#.into(),
            );
            Box::pin(async move { noted(resp) })
        }
        (Internal::Leave, room) => Box::pin(async move {
            let resp = leave(&app, &req, room, now, secure).await;
            noted(resp)
        }),
        (Internal::Unknown, _) => {
            let resp = app.message(
                StatusCode::NOT_FOUND,
                &Asked::of(req.uri().query(), req.headers()),
                &Message::NotFound,
                None,
                prefers_json(req.headers()),
            );
            Box::pin(async move { noted(resp) })
        }
    }
}

/// `/_vestibule/leave`: ends the caller's session in `room` and sends
/// them to `return_to` (a local path).
async fn leave(
    app: &App,
    req: &Request<Incoming>,
    room: Option<Arc<Room>>,
    now: Millis,
    secure: bool,
) -> Response<Body> {
    let target = query_param(req.uri().query(), "return_to")
        .filter(|t| is_local_path(t))
        .unwrap_or(Cow::Borrowed("/"));
    let mut resp = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", String::new());
    // A link or redirect on another site would end the visitor's session
    // (the cookie is SameSite=Lax, sent on a top-level navigation): such
    // a request is sent on without leaving.
    let cross_site = from_another_site(req);
    if let Some(room) = room.filter(|_| !cross_site) {
        if let Some(t) = app.token(&room, req.headers(), now).filter(|t| t.kind == Kind::Session) {
            end_session(app, &room, t.number, now, EndedBy::Leave).await;
        }
        resp.headers_mut()
            .append(header::SET_COOKIE, crate::cookie::clear(&room, secure));
    }
    let location = HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/"));
    resp.headers_mut().insert(header::LOCATION, location);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /_vestibule/status`: where the caller's ticket stands, by the
/// same rule as a page load. Claims the slot when the ticket is admitted,
/// so the next page load goes through. Language-neutral unless the query
/// asks for a `message` with `lang=`: the page's own polls never do, so
/// the busiest request does no language work.
async fn status(app: &App, room: &Room, req: &Request<Incoming>, now: Millis, secure: bool) -> Response<Body> {
    room.metrics.request(Outcome::Status);
    let not_known =
        |what: &str| json_response(StatusCode::NOT_FOUND, format!(r#"{{"state":"none","error":"{what}"}}"#));
    let with_cookie = |mut r: Response<Body>, cookie: Option<Mint>| {
        if let Some(c) = cookie {
            r.headers_mut()
                .append(header::SET_COOKIE, mint(app, room, c, now, secure));
        }
        r
    };
    let t = match app.token(room, req.headers(), now) {
        None if room.mode(&room.view(), now) == RoomMode::Closed => {
            return closed(app, room, Asking::Status, req);
        }
        None => return not_known("no ticket for this room"),
        Some(t) if t.kind == Kind::Session => {
            let live = app.live.load();
            let body = page::admitted_json(room.name(), told(&live, req).map(|l| live.pages.language(l)));
            return json_response(StatusCode::OK, body);
        }
        Some(t) => t,
    };
    let mut step = decide(app, room, Some(&t), Asking::Status, now, admission::first);
    loop {
        step = match step {
            Step::Wait(place) => {
                let view = room.view();
                let live = app.live.load();
                let mut w = Waiting {
                    room_title: None,
                    site_name: None,
                    ..standing(room, &view, &place, "", None, now)
                };
                if let Some(l) = told(&live, req) {
                    w = w.told(live.pages.language(l));
                }
                let mut r = json_response(StatusCode::OK, w.to_json());
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(w.poll_after_seconds));
                return with_cookie(r, place.cookie);
            }
            Step::Forward(fw) => {
                match fw.created {
                    Some(Created::Claimed { since_ms, .. }) => count_claim(room, since_ms, now),
                    // A pass's place, and the room had one free.
                    Some(Created::Direct { .. }) => room.metrics.admitted_direct.inc(),
                    None => {}
                }
                let live = app.live.load();
                let body = page::admitted_json(room.name(), told(&live, req).map(|l| live.pages.language(l)));
                let r = json_response(StatusCode::OK, body);
                return with_cookie(r, fw.cookie);
            }
            // A pass (a drawn pre-queue's) back: its place, here as on a page.
            Step::Arrive if t.number == 0 && t.kind == Kind::Ticket => {
                ask(app, room, Some(&t), Asking::Status, now, Step::Arrive).await
            }
            // The ticket is void: a page load would make a new visitor.
            Step::Arrive => return not_known("ticket not known"),
            Step::Closed => return closed(app, room, Asking::Status, req),
            // The status endpoint answers JSON whatever the client accepts.
            Step::Unavailable => return store_unavailable(app, req, true),
            Step::Refuse(_) => unreachable!("a status poll waits, it is not refused"),
            question => ask(app, room, Some(&t), Asking::Status, now, question).await,
        };
    }
}

/// The language of a status poll's `message`, when its query asks for
/// one (`lang=`); `None` otherwise, with no more work than a look at the
/// query.
fn told(live: &Live, req: &Request<Incoming>) -> Option<usize> {
    let query = req.uri().query()?;
    if !query.contains("lang=") {
        return None;
    }
    let asked = Asked::of(Some(query), req.headers());
    asked.param.is_some().then(|| live.pages.catalog().chosen(&asked))
}

/// The room named in `?room=`, else the only room, else the first room
/// whose cookie the caller holds.
fn pick_room(rooms: &Rooms, req: &Request<Incoming>, app: &App, now: Millis) -> Option<Arc<Room>> {
    if let Some(name) = query_param(req.uri().query(), "room") {
        return rooms.get(&name).cloned();
    }
    let mut all = rooms.iter();
    if let (Some(only), None) = (all.next(), all.next()) {
        return Some(only.clone());
    }
    rooms
        .iter()
        .find(|r| app.token(r, req.headers(), now).is_some())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;
    use std::net::SocketAddr;

    /// The size of what `f` returns, without calling it: futures' types
    /// cannot be named, so a `const` assertion cannot hold them.
    fn returned<A, B, R>(_: fn(A, B) -> R) -> usize {
        size_of::<R>()
    }

    fn exchange() -> usize {
        returned(|proxy: &crate::proxy::Proxy, req: Request<Incoming>| {
            proxy.forward(req, Peer::plain(SocketAddr::from(([127, 0, 0, 1], 1))))
        })
    }

    fn plain() -> usize {
        returned(|app: Arc<App>, req: Request<Incoming>| {
            let room = app.room("r").expect("room");
            let forwarding = forwarding(
                &app,
                None,
                req,
                Peer::plain(SocketAddr::from(([127, 0, 0, 1], 1))),
                None,
            );
            Plain {
                forwarding,
                app,
                room,
                session: None,
            }
        })
    }

    fn walked() -> usize {
        returned(|app: Arc<App>, req: Request<Incoming>| async move {
            let room = app.room("r").expect("room");
            let peer = Peer::plain(SocketAddr::from(([127, 0, 0, 1], 1)));
            walk(&app, &room, None, Asking::Page, 0, Step::Arrive, req, peer, None).await
        })
    }

    /// What `internal` boxes for a status poll.
    fn status_poll() -> usize {
        returned(
            |app: Arc<App>, (room, req): (Arc<Room>, Request<Incoming>)| async move {
                status(&app, &room, &req, 0, false).await
            },
        )
    }

    /// Every future level a forwarded request passes through copies the
    /// exchange's future, so each of these
    /// sizes is a rule, not a record.
    #[test]
    fn the_forwarded_request_is_held_once() {
        // `Proxy::forward` rewrites before it makes its future: the future
        // holds the rewritten head once and none of the rewriting's locals.
        assert!(exchange() <= 1024, "the exchange's future is {} bytes", exchange());
        // The busiest path wraps the exchange in one level, `Plain`, not
        // an async block that would hold it twice. (Besides the exchange:
        // the app, the room, the session, when it started and the access
        // log's note.)
        assert!(
            plain() <= exchange() + 128,
            "Plain is {} bytes around an exchange of {}",
            plain(),
            exchange()
        );
    }

    #[test]
    fn a_status_poll_does_not_pay_for_a_forward() {
        // Boxed apart from the forward (see `handle`): a poll's future is
        // copied into the heap at its own size.
        assert!(
            status_poll() * 2 <= walked(),
            "a status poll's future is {} bytes, a walked request's {}",
            status_poll(),
            walked()
        );
    }
}
