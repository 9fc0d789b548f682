//! The gate: what happens to one request. The admission rule lives here.
//!
//! ```text
//! path in no room                          -> proxy (confirming a provisional session cookie)
//! valid session cookie for the room        -> proxy (store call only to confirm a direct
//!                                             admission, to refresh every ttl/2, or if revoked)
//! valid ticket, checked in, behind pointer -> waiting response (no store call)
//! valid ticket otherwise                   -> store.visit: check in | claim -> proxy | returner lane
//! no valid token                           -> store.arrive: direct -> proxy | ticket -> waiting response
//! ```
//!
//! Waiting responses carry `Retry-After` and `Cache-Control: no-store`; a
//! waiting visitor's non-GET request is answered 503 and never forwarded.
//! A session created by a request whose upstream exchange then fails is
//! released at once, so a dead upstream never holds a slot. Paths are
//! routed as backends read them ([`crate::path`]); requests a proxy cannot
//! pass on faithfully are refused ([`crate::request`]).

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::body::Body;
use crate::clock::Millis;
use crate::config::FailurePolicy;
use crate::cookie::cookies;
use crate::failover::LOCAL_BIT;
use crate::http::{is_local_path, json_response, prefers_json, query_param, respond};
use crate::metrics::{ClientErrorKind, Outcome, RoomMetrics};
use crate::page::{self, Waiting};
use crate::proxy::ProxyError;
use crate::request::Malformed;
use crate::room::Room;
use crate::store::{Arrival, StoreError, Visit};
use crate::token::{Kind, Token};

/// Handles one request on the public listener.
///
/// Returns the future already boxed, one box per kind of request: a boxed
/// future is copied into the heap at its full size, and the status poll's
/// future is a sixth of the proxied request's, so the lobby path should
/// not pay for the largest one.
pub fn handle(app: Arc<App>, req: Request<Incoming>, peer: SocketAddr) -> BoxResponse {
    if let Some(rest) = req.uri().path().strip_prefix("/_vestibule/") {
        let what = match rest {
            "status" => Internal::Status,
            "leave" => Internal::Leave,
            _ => Internal::Unknown,
        };
        return Box::pin(async move { internal(&app, what, req).await });
    }
    let rooms = app.rooms.load_full();
    let room = match rooms.route(req.uri().path()) {
        Ok(Some(room)) => room.clone(),
        Ok(None) => return Box::pin(async move { bypass(&app, &rooms, req, peer).await }),
        Err(why) => {
            let json = prefers_json(req.headers());
            return Box::pin(std::future::ready(malformed(&app, why.into(), json)));
        }
    };
    drop(rooms);
    let now = app.clock.now_ms();
    let token = app.token(&room, req.headers(), now);
    // The busiest path, decided here rather than inside the gate's future:
    // every future level a request passes through is one more copy of
    // the exchange's future (memcpy led the profiles).
    if token.as_ref().is_some_and(|t| current_session(&room, t, now)) {
        room.metrics.request(Outcome::Session);
        // Started here too: the request goes out of the picture before
        // hyper, which reads ahead on the connection before it first polls
        // this future, wants its read buffer back.
        let forwarding = forwarding(&app, req, peer);
        return Box::pin(Session { forwarding, app, room });
    }
    Box::pin(async move { gate(&app, &room, token, now, req, peer).await })
}

/// The answer to a request that cannot be passed on ([`crate::request`]):
/// nothing is sent upstream, and the client is counted, not the upstream.
fn malformed(app: &App, why: Malformed, json: bool) -> Response<Body> {
    app.metrics.client_error(ClientErrorKind::Request);
    tracing::debug!(reason = %why, "request refused");
    app.message(
        why.status(),
        "This request cannot be served",
        why.explanation(),
        None,
        json,
    )
}

/// A response still being worked out, boxed (see [`handle`]).
pub type BoxResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>;

/// A path in no room: passed to the upstream.
async fn bypass(app: &App, rooms: &crate::room::Rooms, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    app.bypass_metrics.request(Outcome::Bypass);
    let cookies = confirm_on_bypass(app, rooms, req.headers()).await;
    proxy(app, &app.bypass_metrics, req, peer, cookies, None).await
}

/// A confirmed session refreshed less than half a TTL ago cannot have
/// expired in the store; unless it was released early (revoked), it needs
/// no store call. A cookie refreshed before the state was restored from a
/// saved copy is checked once: the copy may not hold its session.
fn current_session(room: &Room, t: &Token, now: Millis) -> bool {
    if t.kind != Kind::Session || !t.checked_in {
        return false;
    }
    let fresh = now.saturating_sub(t.stamp_ms) < room.limits.session_ttl_ms / 2;
    let view = room.view();
    fresh && t.stamp_ms >= view.snapshot.restored_ms && !view.snapshot.is_revoked(t.number)
}

/// A directly admitted visitor is provisional until they come back with the
/// cookie. Their next request may well be for an ungated path (a stylesheet,
/// an image), so those confirm them too. The common case, no provisional
/// cookie, costs a scan of the Cookie header and no MAC.
async fn confirm_on_bypass(app: &App, rooms: &crate::room::Rooms, headers: &HeaderMap) -> Vec<HeaderValue> {
    let mut set = Vec::new();
    for room in rooms.iter() {
        if !cookies(headers, &room.cookie).any(crate::token::looks_like_provisional_session) {
            continue;
        }
        let now = app.clock.now_ms();
        let Some(t) = app
            .token(room, headers, now)
            .filter(|t| t.kind == Kind::Session && !t.checked_in)
        else {
            continue;
        };
        if let Ok(true) = app.store.touch(room.name(), t.number, now).await {
            set.push(app.session_cookie(room, t.number, now, true));
        }
    }
    set
}

/// A session created by this request: counted when the upstream answers,
/// released at once when it does not.
enum Admission<'a> {
    Direct(&'a Room, u64),
    Claimed(&'a Room, &'a Token),
}

/// Everything in a room but a current session ([`handle`] proxies those):
/// `token` is the request's valid cookie for the room, read at `now`.
async fn gate(
    app: &App,
    room: &Room,
    token: Option<Token>,
    now: Millis,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let m = &room.metrics;
    match token {
        Some(t) if t.kind == Kind::Session => {
            // Not current (see `current_session`): confirm or refresh it in
            // the store.
            let revoked = room.view().snapshot.is_revoked(t.number);
            let touched = if t.number & LOCAL_BIT != 0 {
                // Admitted by the `local` failure policy: held in this process.
                Ok(app.local.touch(room.name(), t.number, room.limits.session_ttl_ms, now))
            } else {
                app.store.touch(room.name(), t.number, now).await
            };
            match touched {
                Ok(true) => {
                    m.request(Outcome::Session);
                    let cookie = app.session_cookie(room, t.number, now, true);
                    proxy(app, m, req, peer, vec![cookie], None).await
                }
                // Idled out: the slot went to someone else. A new visitor now.
                Ok(false) => arrive(app, room, req, peer, now).await,
                // The cookie is ours and not expired; keep serving the visitor
                // rather than punish them for a store outage (every failure
                // policy does). A provisional one only within the grace its
                // slot is held for.
                Err(e) if !revoked && (t.checked_in || now.saturating_sub(t.stamp_ms) < room.limits.claim_grace_ms) => {
                    store_failed(app, room, &e);
                    m.request(Outcome::Session);
                    proxy(app, m, req, peer, Vec::new(), None).await
                }
                Err(e) => {
                    store_failed(app, room, &e);
                    store_unavailable(app, &req)
                }
            }
        }
        // fail_open while the store is down: the room steps aside for
        // everyone, ticket holders answered from the cache included.
        Some(_) if app.health.policy() == FailurePolicy::FailOpen && !app.health.is_up() => {
            degraded(app, room, req, peer, None).await
        }
        Some(t) => match ticket_state(app, room, &t, now).await {
            Ok(TicketState::Waiting {
                position,
                returner,
                cookie,
            }) => waiting(
                app,
                room,
                &req,
                position,
                returner,
                true,
                cookie.into_iter().collect(),
                now,
            ),
            Ok(TicketState::Admitted { cookie, claimed: true }) => {
                m.request(Outcome::Claimed);
                proxy(app, m, req, peer, vec![cookie], Some(Admission::Claimed(room, &t))).await
            }
            Ok(TicketState::Admitted { cookie, claimed: false }) => {
                m.request(Outcome::Session);
                proxy(app, m, req, peer, vec![cookie], None).await
            }
            Ok(TicketState::Unknown) => arrive(app, room, req, peer, now).await,
            Err(e) => {
                store_failed(app, room, &e);
                match app.health.policy() {
                    FailurePolicy::FailOpen => degraded(app, room, req, peer, None).await,
                    // The ticket's place is in the shared store: it waits for it.
                    FailurePolicy::FailClosed | FailurePolicy::Local => store_unavailable(app, &req),
                }
            }
        },
        None => arrive(app, room, req, peer, now).await,
    }
}

/// Where a valid ticket stands. The gate and the status endpoint both ask;
/// this is the one place that decides.
enum TicketState {
    /// Still in line (or a returner waiting for a slot). `cookie` is the
    /// checked-in ticket when this visit checked it in.
    Waiting {
        position: u64,
        returner: bool,
        cookie: Option<HeaderValue>,
    },
    /// May enter with this session cookie; `claimed` when the slot was taken
    /// just now (rather than already held).
    Admitted { cookie: HeaderValue, claimed: bool },
    /// Not a ticket that may enter: its holder is a new visitor.
    Unknown,
}

/// A checked-in ticket behind the cached pointer is answered from the cached
/// view; anything else takes one store decision.
async fn ticket_state(app: &App, room: &Room, t: &Token, now: Millis) -> Result<TicketState, StoreError> {
    {
        let view = room.view();
        // After a restore from a copy that may predate the ticket's check-in
        // (kill -9), the store is asked again: the mark may be lost.
        if t.checked_in && t.number > view.snapshot.admitted && t.stamp_ms >= view.snapshot.restored_ms {
            return Ok(TicketState::Waiting {
                position: view.snapshot.ahead(t.number, 0) + 1,
                returner: false,
                cookie: None,
            });
        }
    }
    let visit = app.store.visit(room.name(), t.number, now, &room.limits).await?;
    sync_epoch(app, room, now).await;
    Ok(match visit {
        Visit::Waiting { pointer } => TicketState::Waiting {
            position: room.view().snapshot.ahead(t.number, pointer) + 1,
            returner: false,
            cookie: Some(app.ticket_cookie(room, &Token { checked_in: true, ..*t })),
        },
        Visit::Returner { ahead } => TicketState::Waiting {
            position: ahead + 1,
            returner: true,
            cookie: None,
        },
        v @ (Visit::Claimed | Visit::AlreadyAdmitted) => TicketState::Admitted {
            cookie: app.session_cookie(room, t.number, now, true),
            claimed: v == Visit::Claimed,
        },
        Visit::Unknown => TicketState::Unknown,
    })
}

/// A visitor without a usable token.
async fn arrive(app: &App, room: &Room, req: Request<Incoming>, peer: SocketAddr, now: Millis) -> Response<Body> {
    let m = &room.metrics;
    let arrival = app.store.arrive(room.name(), now, &room.limits).await;
    if arrival.is_ok() {
        sync_epoch(app, room, now).await;
    }
    match arrival {
        Ok(Arrival::Direct { number }) => {
            m.request(Outcome::Direct);
            let cookie = app.session_cookie(room, number, now, false);
            proxy(app, m, req, peer, vec![cookie], Some(Admission::Direct(room, number))).await
        }
        Ok(Arrival::Queued { ticket, pointer }) => {
            m.tickets_issued.inc();
            let token = Token {
                kind: Kind::Ticket,
                checked_in: false,
                epoch: room.view().snapshot.epoch,
                number: ticket,
                stamp_ms: now,
                expires_ms: now + app.live.load().config.token.ticket_ttl.as_millis() as u64,
            };
            let cookie = app.ticket_cookie(room, &token);
            let pos = room.view().snapshot.ahead(ticket, pointer) + 1;
            waiting(app, room, &req, pos, false, false, vec![cookie], now)
        }
        Err(e) => {
            store_failed(app, room, &e);
            match app.health.policy() {
                FailurePolicy::FailClosed => store_unavailable(app, &req),
                FailurePolicy::FailOpen => degraded(app, room, req, peer, None).await,
                FailurePolicy::Local => {
                    // This instance's share of the room that was free when
                    // the store was last seen; none while anyone waits, who
                    // must not be overtaken.
                    let view = room.view();
                    let snap = &view.snapshot;
                    let eff = room.effective(snap);
                    let free = u64::from(eff.capacity).saturating_sub(snap.active + snap.reserved);
                    let share = crate::failover::share(free, app.instances);
                    let open = !snap.overrides.paused && snap.waiting() == 0 && share > 0;
                    let admitted = open
                        .then(|| app.local.admit(room.name(), share, room.limits.session_ttl_ms, now))
                        .flatten();
                    drop(view);
                    match admitted {
                        Some(n) => {
                            let cookie = app.session_cookie(room, n, now, true);
                            degraded(app, room, req, peer, Some(cookie)).await
                        }
                        None => store_unavailable(app, &req),
                    }
                }
            }
        }
    }
}

/// A shared store restarted empty has a new room state (epoch) that this
/// instance's view has not seen yet: refresh the view before a cookie is
/// signed with the dead epoch. Costs nothing unless the epoch changed.
async fn sync_epoch(app: &App, room: &Room, now: Millis) {
    if let Some(e) = app.store.seen_epoch(room.name()) {
        if e != room.view().snapshot.epoch {
            tracing::warn!(
                room = room.name(),
                "the room's state in the store is new (restarted empty?); refreshing"
            );
            app.refresh(room, now).await;
        }
    }
}

/// A request let through by the failure policy while the store is down:
/// proxied without the shared count.
async fn degraded(
    app: &App,
    room: &Room,
    req: Request<Incoming>,
    peer: SocketAddr,
    cookie: Option<HeaderValue>,
) -> Response<Body> {
    room.metrics.request(Outcome::Degraded);
    proxy(app, &room.metrics, req, peer, cookie.into_iter().collect(), None).await
}

/// Counts a failed store call; the health tracker logs the outage once.
fn store_failed(app: &App, room: &Room, e: &StoreError) {
    room.metrics.store_errors.inc();
    app.health.failed(e);
}

/// Forwards upstream and maps failures to a page (see [`Forwarding`]).
async fn proxy(
    app: &App,
    m: &RoomMetrics,
    req: Request<Incoming>,
    peer: SocketAddr,
    cookies: Vec<HeaderValue>,
    admission: Option<Admission<'_>>,
) -> Response<Body> {
    forwarding(app, req, peer).finish(app, m, cookies, admission).await
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
        started: tokio::time::Instant,
    }
}

/// Starts forwarding `req` (see [`Forwarding`]).
fn forwarding(
    app: &App,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Forwarding<impl Future<Output = Result<Response<Body>, ProxyError>> + Send> {
    Forwarding {
        json: prefers_json(req.headers()),
        started: tokio::time::Instant::now(),
        sent: app.live.load().proxy.forward(req, peer),
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
        admission: Option<Admission<'_>>,
    ) -> Response<Body> {
        let Forwarding { sent, json, started } = self;
        match sent.await {
            Ok(mut resp) => {
                m.upstream_duration.observe(started.elapsed().as_secs_f64());
                for c in cookies {
                    resp.headers_mut().append(header::SET_COOKIE, c);
                }
                match admission {
                    Some(Admission::Direct(room, _)) => room.metrics.admitted_direct.inc(),
                    Some(Admission::Claimed(room, t)) => app.count_claim(room, t, app.clock.now_ms()),
                    None => {}
                }
                resp
            }
            Err(e) => {
                if let Some(Admission::Direct(room, id) | Admission::Claimed(room, &Token { number: id, .. })) =
                    admission
                {
                    let now = app.clock.now_ms();
                    if let Err(e) = app.store.release(room.name(), id, now, &room.limits).await {
                        tracing::warn!(room = room.name(), error = %e, "could not release the slot of a failed request");
                    }
                }
                exchange_failed(app, m, &e, json)
            }
        }
    }
}

/// The page for a failed exchange, counted and logged: as the upstream's
/// error, or as the client's when its own request broke off (400; nobody
/// reads it when the client has gone).
fn exchange_failed(app: &App, m: &RoomMetrics, e: &ProxyError, json: bool) -> Response<Body> {
    if let ProxyError::Refused(why) = e {
        return malformed(app, *why, json);
    }
    let Some(kind) = e.kind() else {
        app.metrics.client_error(ClientErrorKind::Body);
        tracing::debug!(error = %e, "client request failed");
        let msg = if e.status() == StatusCode::REQUEST_TIMEOUT {
            "Your browser took too long to send the request. Please try again."
        } else {
            "Your browser did not send the whole request. Please try again."
        };
        return app.message(e.status(), "The request was incomplete", msg, None, json);
    };
    m.upstream_error(kind);
    tracing::warn!(error = %e, "upstream request failed");
    let (title, msg) = if e.status() == StatusCode::GATEWAY_TIMEOUT {
        (
            "The site is taking too long",
            "The site did not answer in time. Please try again in a moment.",
        )
    } else {
        (
            "The site is not reachable",
            "The site could not be reached. Please try again in a moment.",
        )
    };
    app.message(e.status(), title, msg, Some(10), json)
}

pin_project_lite::pin_project! {
    /// The busiest path: a current session's request, forwarded (see
    /// [`handle`]). [`Forwarding::finish`] without cookies or admission,
    /// written out as a future so that the boxed future holds the
    /// exchange once: as an async block around it, it held it twice and
    /// came to 3.7 KiB.
    struct Session<F> {
        #[pin]
        forwarding: Forwarding<F>,
        app: Arc<App>,
        room: Arc<Room>,
    }
}

impl<F: Future<Output = Result<Response<Body>, ProxyError>>> Future for Session<F> {
    type Output = Response<Body>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response<Body>> {
        let this = self.project();
        let f = this.forwarding.project();
        let m = &this.room.metrics;
        Poll::Ready(match ready!(f.sent.poll(cx)) {
            Ok(resp) => {
                m.upstream_duration.observe(f.started.elapsed().as_secs_f64());
                resp
            }
            Err(e) => exchange_failed(this.app, m, &e, *f.json),
        })
    }
}

/// The waiting answer: HTML for browsers, JSON for `Accept: application/json`,
/// 503 for a method that cannot wait.
#[allow(clippy::too_many_arguments)]
fn waiting(
    app: &App,
    room: &Room,
    req: &Request<Incoming>,
    position: u64,
    returner: bool,
    checked_in: bool,
    cookies: Vec<HeaderValue>,
    now: Millis,
) -> Response<Body> {
    let view = room.view();
    let eta = if returner { None } else { view.eta_seconds(position - 1) };
    let poll = room.poll_after(checked_in, eta);
    let json = prefers_json(req.headers());
    let mut resp = if !matches!(*req.method(), Method::GET | Method::HEAD) {
        room.metrics.request(Outcome::Rejected);
        let msg = "Your request was not sent to the site: you are in line, and the site takes visitors in turn. \
                   Nothing was submitted. Keep your place by opening this address again.";
        app.message(
            StatusCode::SERVICE_UNAVAILABLE,
            "You are in line",
            msg,
            Some(poll),
            json,
        )
    } else {
        room.metrics.request(Outcome::Queued);
        let live = app.live.load();
        let w = Waiting::new(
            room.name(),
            &room.cfg.title,
            live.config.page.site_name.as_deref(),
            position,
            returner,
            eta,
            poll,
            now,
        );
        if json {
            respond(StatusCode::OK, "application/json", w.to_json())
        } else {
            respond(StatusCode::OK, "text/html; charset=utf-8", live.pages.waiting(&w))
        }
    };
    let h = resp.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(poll));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    resp
}

/// The answer while the store cannot decide: wait and try again. Counted
/// and logged by [`store_failed`].
fn store_unavailable(app: &App, req: &Request<Incoming>) -> Response<Body> {
    app.message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please wait a moment",
        "The waiting room is catching its breath. A place you already have in line is kept; \
         this page tries again shortly.",
        Some(5),
        prefers_json(req.headers()),
    )
}

/// The pages under `/_vestibule/`.
enum Internal {
    Status,
    Leave,
    Unknown,
}

/// `/_vestibule/...`: status and leave.
async fn internal(app: &App, what: Internal, req: Request<Incoming>) -> Response<Body> {
    let now = app.clock.now_ms();
    let rooms = app.rooms.load_full();
    let room = pick_room(&rooms, &req, app, now);
    match what {
        Internal::Status => {
            let Some(room) = room else {
                return json_response(
                    StatusCode::NOT_FOUND,
                    r#"{"state":"none","error":"unknown room"}"#.into(),
                );
            };
            status(app, &room, &req, now).await
        }
        Internal::Leave => {
            let target = query_param(req.uri().query(), "return_to")
                .filter(|t| is_local_path(t))
                .unwrap_or(Cow::Borrowed("/"));
            let mut resp = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", String::new());
            if let Some(room) = room {
                if let Some(t) = app.token(&room, req.headers(), now).filter(|t| t.kind == Kind::Session) {
                    if t.number & LOCAL_BIT != 0 {
                        app.local.release(room.name(), t.number);
                    } else if let Err(e) = app.store.release(room.name(), t.number, now, &room.limits).await {
                        store_failed(app, &room, &e);
                    }
                }
                resp.headers_mut().append(header::SET_COOKIE, app.clear_cookie(&room));
            }
            let location = HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/"));
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Internal::Unknown => app.message(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such page.",
            None,
            prefers_json(req.headers()),
        ),
    }
}

/// `GET /_vestibule/status`: where the caller's ticket stands. Claims the
/// slot when the ticket is admitted, so the next page load goes through.
async fn status(app: &App, room: &Room, req: &Request<Incoming>, now: Millis) -> Response<Body> {
    let m = &room.metrics;
    m.request(Outcome::Status);
    let queued = |pos: u64, returner: bool, cookie: Option<HeaderValue>| {
        let view = room.view();
        let eta = if returner { None } else { view.eta_seconds(pos - 1) };
        let poll = room.poll_after(true, eta);
        let w = Waiting {
            room_title: None,
            site_name: None,
            ..Waiting::new(room.name(), "", None, pos, returner, eta, poll, now)
        };
        let mut r = json_response(StatusCode::OK, w.to_json());
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(poll));
        if let Some(c) = cookie {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    };
    let admitted = |cookie: Option<HeaderValue>| {
        let mut r = json_response(StatusCode::OK, page::admitted_json(room.name()));
        if let Some(c) = cookie {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    };
    match app.token(room, req.headers(), now) {
        None => json_response(
            StatusCode::NOT_FOUND,
            r#"{"state":"none","error":"no ticket for this room"}"#.into(),
        ),
        Some(t) if t.kind == Kind::Session => admitted(None),
        Some(t) => match ticket_state(app, room, &t, now).await {
            Ok(TicketState::Waiting {
                position,
                returner,
                cookie,
            }) => queued(position, returner, cookie),
            Ok(TicketState::Admitted { cookie, claimed }) => {
                if claimed {
                    app.count_claim(room, &t, now);
                }
                admitted(Some(cookie))
            }
            Ok(TicketState::Unknown) => json_response(
                StatusCode::NOT_FOUND,
                r#"{"state":"none","error":"ticket not known"}"#.into(),
            ),
            Err(e) => {
                store_failed(app, room, &e);
                store_unavailable(app, req)
            }
        },
    }
}

/// The room named in `?room=`, else the only room, else the first room
/// whose cookie the caller holds.
fn pick_room(rooms: &crate::room::Rooms, req: &Request<Incoming>, app: &App, now: Millis) -> Option<Arc<Room>> {
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
