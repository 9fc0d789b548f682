//! The admin listener. Kept off the public port so it can stay on loopback.
//!
//! Open to anyone who reaches the port:
//!
//! * `GET /metrics`: Prometheus text;
//! * `GET /healthz`: the process answers;
//! * `GET /readyz`: state loaded and not draining (503 once shutdown starts).
//!
//! The rooms API, JSON, behind `Authorization: Bearer <token>` when
//! `[server] admin_token_file` is set (and a non-loopback admin address
//! without a token is refused by the configuration check):
//!
//! | request | does |
//! |---|---|
//! | `GET /api/rooms` | every room with live stats |
//! | `GET /api/rooms/{name}` | one room |
//! | `POST /api/rooms/{name}/pause` | nobody new is admitted; new visitors queue |
//! | `POST /api/rooms/{name}/resume` | admissions resume |
//! | `PATCH /api/rooms/{name}` | `{"capacity": 300, "admit_per_minute": 600}`; `null` returns a key to the file's value, `"unlimited"` lifts the rate limit |
//! | `POST /api/rooms/{name}/reset` | drops every runtime change |
//! | `POST /api/reload` | re-reads the configuration file, like SIGHUP |
//!
//! Runtime changes live in the store (shared by every instance using it,
//! saved with the state file) and win over the file until the file changes
//! that same value; see [`crate::reload`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::body::Body;
use crate::config::RoomMode;
use crate::http::respond;
use crate::room::Room;
use crate::server::{accept_loop, Bounds};
use crate::store::Overrides;

/// Largest request body the API reads.
const MAX_BODY: usize = 16 * 1024;

/// Serves the admin listener until `stop` flips.
pub async fn serve(listener: TcpListener, app: Arc<App>, stop: watch::Receiver<bool>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    accept_loop(
        listener,
        builder,
        stop,
        Bounds::internal(Duration::from_secs(5)),
        move |req, _peer| {
            let app = app.clone();
            Box::pin(async move { handle(&app, req).await })
        },
    )
    .await
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", format!("{body}\n"))
}

fn json_response(status: StatusCode, v: &impl Serialize) -> Response<Body> {
    let mut body = serde_json::to_string_pretty(v).unwrap_or_default();
    body.push('\n');
    let mut r = respond(status, "application/json", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    json_response(status, &json!({ "error": msg.into(), "status": status.as_u16() }))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, format!("use {allow}"));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/api/") {
        if !authorized(app, &req) {
            let mut r = error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vestibule admin\""),
            );
            return r;
        }
        return api(app, rest, req).await;
    }
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    match path.as_str() {
        "/metrics" | "/healthz" | "/readyz" if !get => method_not_allowed("GET"),
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        ),
        "/healthz" => text(StatusCode::OK, "ok"),
        "/readyz" if app.ready.load(Ordering::SeqCst) => text(StatusCode::OK, "ready"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready"),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn authorized(app: &App, req: &Request<Incoming>) -> bool {
    let live = app.live.load();
    let Some(token) = &live.admin_token else {
        return true;
    };
    req.headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| {
            // The scheme is case-insensitive (RFC 9110, 11.1).
            let v = v.as_bytes();
            (v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ")).then(|| &v[7..])
        })
        .any(|t| token.matches(t))
}

async fn api(app: &App, rest: &str, req: Request<Incoming>) -> Response<Body> {
    let segs: Vec<&str> = rest.split('/').collect();
    let method = req.method().clone();
    match (segs.as_slice(), &method) {
        (["rooms"], &Method::GET) => {
            let now = app.clock.now_ms();
            let all = app.rooms.load();
            let rooms: Vec<RoomStats> = all.iter().map(|r| RoomStats::of(r, now)).collect();
            let sites: Vec<Value> = all
                .sites()
                .iter()
                .map(|s| {
                    let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
                    json!({ "name": s.name, "hosts": hosts, "upstream": s.upstream.to_string() })
                })
                .collect();
            json_response(StatusCode::OK, &json!({ "rooms": rooms, "sites": sites }))
        }
        (["rooms"], _) => method_not_allowed("GET"),
        (["reload"], &Method::POST) => match crate::reload::reload_file(app).await {
            Ok(report) => json_response(StatusCode::OK, &report),
            Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        },
        (["reload"], _) => method_not_allowed("POST"),
        (["rooms", name, tail @ ..], _) => {
            let Some(room) = app.room(name) else {
                return error(StatusCode::NOT_FOUND, format!("no room named {name:?}"));
            };
            match (tail, &method) {
                ([], &Method::GET) => json_response(StatusCode::OK, &RoomStats::of(&room, app.clock.now_ms())),
                ([], &Method::PATCH) => match read_json(req).await {
                    Ok(v) => match parse_patch(&v) {
                        Ok(p) => change(app, &room, move |ov| p.apply(ov)).await,
                        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
                    },
                    Err(r) => r,
                },
                ([], _) => method_not_allowed("GET, PATCH"),
                (["pause"], &Method::POST) => change(app, &room, |ov| ov.paused = true).await,
                (["resume"], &Method::POST) => change(app, &room, |ov| ov.paused = false).await,
                (["reset"], &Method::POST) => change(app, &room, |ov| *ov = Overrides::default()).await,
                (["pause" | "resume" | "reset"], _) => method_not_allowed("POST"),
                _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

async fn read_json(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let body: Bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY} bytes"),
            ))
        }
        Err(e) => return Err(error(StatusCode::BAD_REQUEST, format!("cannot read the body: {e}"))),
    };
    serde_json::from_slice(&body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")))
}

/// A `PATCH` body, validated: each key absent (unchanged), `null` (back to
/// the file), or a value.
struct Patch {
    capacity: Option<Option<u32>>,
    admit_per_minute: Option<Option<Option<u32>>>,
    /// `Some(Some(""))`: no notice, whatever the file says.
    notice: Option<Option<String>>,
    mode: Option<Option<RoomMode>>,
}

impl Patch {
    fn apply(self, ov: &mut Overrides) {
        if let Some(c) = self.capacity {
            ov.capacity = c;
        }
        if let Some(r) = self.admit_per_minute {
            ov.admit_per_minute = r;
        }
        if let Some(n) = self.notice {
            ov.notice = n;
        }
        if let Some(m) = self.mode {
            ov.mode = m;
        }
    }
}

fn parse_patch(v: &Value) -> Result<Patch, String> {
    let Some(obj) = v.as_object() else {
        return Err("send a JSON object such as {\"capacity\": 300}".into());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "capacity" | "admit_per_minute" | "notice" | "mode"))
    {
        return Err(format!(
            "unknown key {k:?}: only \"mode\", \"capacity\", \"admit_per_minute\" and \"notice\" can change at \
             run time"
        ));
    }
    let positive = |k: &str, v: &Value| -> Result<u32, String> {
        v.as_u64()
            .filter(|n| *n >= 1)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "{k} must be a whole number from 1 to {}, or null for the file's value",
                    u32::MAX
                )
            })
    };
    let capacity = match obj.get("capacity") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(positive("capacity", v)?)),
    };
    let admit_per_minute = match obj.get("admit_per_minute") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) if s == "unlimited" => Some(Some(None)),
        Some(v) => Some(Some(Some(
            positive("admit_per_minute", v).map_err(|e| format!("{e} (or \"unlimited\")"))?,
        ))),
    };
    let notice = match obj.get("notice") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(
            crate::config::notice(s)
                .map_err(|e| format!("notice {e}"))?
                .unwrap_or_default(),
        )),
        Some(_) => return Err("notice must be a string (\"\" for none), or null for the file's notice".into()),
    };
    let mode = match obj.get("mode") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(v.as_str().and_then(RoomMode::parse).ok_or_else(|| {
            "mode must be \"queue\", \"passthrough\" or \"closed\", or null for the file's mode".to_string()
        })?)),
    };
    if capacity.is_none() && admit_per_minute.is_none() && notice.is_none() && mode.is_none() {
        return Err("nothing to change: send \"mode\", \"capacity\", \"admit_per_minute\" and/or \"notice\"".into());
    }
    Ok(Patch {
        capacity,
        admit_per_minute,
        notice,
        mode,
    })
}

/// Applies an operator change to a room's overrides in the store, then
/// publishes the room at once, so `/metrics` and the API show it.
async fn change(app: &App, room: &Room, f: impl FnOnce(&mut Overrides)) -> Response<Body> {
    let _one = app.changes.lock().await;
    // A reload may have replaced the room while this waited for the lock.
    let Some(room) = app.room(room.name()) else {
        return error(StatusCode::NOT_FOUND, format!("no room named {:?}", room.name()));
    };
    let room = &*room;
    let now = app.clock.now_ms();
    // Read the current overrides from the store, not the cached view:
    // another instance may have changed them since the last tick.
    let current = match app.store.snapshot(room.name(), now, &room.limits(now)).await {
        Ok(s) => s.overrides,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let mut ov = current.clone();
    f(&mut ov);
    let changes = override_changes(&current, &ov);
    match app.store.set_overrides(room.name(), ov, now, &room.limits(now)).await {
        Ok(snap) => {
            room.publish(snap, 0, now);
            for change in changes {
                tracing::info!(room = room.name(), by = "admin API", "{change}");
            }
            json_response(StatusCode::OK, &RoomStats::of(room, now))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// What an operator change did, in the API's words: `paused`, `resumed`,
/// `capacity: file -> 20` (`file`: the file's value, as `null` hands a key
/// back to it), `admit_per_minute: 60 -> unlimited`.
fn override_changes(before: &Overrides, after: &Overrides) -> Vec<String> {
    let mut out = Vec::new();
    if before.paused != after.paused {
        out.push(if after.paused { "paused" } else { "resumed" }.to_string());
    }
    let mode = |m: Option<RoomMode>| m.map_or("file", RoomMode::as_str);
    if before.mode != after.mode {
        out.push(format!("mode: {} -> {}", mode(before.mode), mode(after.mode)));
    }
    let capacity = |c: Option<u32>| c.map_or_else(|| "file".to_string(), |n| n.to_string());
    if before.capacity != after.capacity {
        out.push(format!(
            "capacity: {} -> {}",
            capacity(before.capacity),
            capacity(after.capacity)
        ));
    }
    let rate = |r: Option<Option<u32>>| match r {
        None => "file".to_string(),
        Some(None) => "unlimited".to_string(),
        Some(Some(n)) => n.to_string(),
    };
    if before.admit_per_minute != after.admit_per_minute {
        out.push(format!(
            "admit_per_minute: {} -> {}",
            rate(before.admit_per_minute),
            rate(after.admit_per_minute)
        ));
    }
    let notice = |n: &Option<String>| match n.as_deref() {
        None => "file".to_string(),
        Some("") => "none".to_string(),
        Some(t) => format!("{t:?}"),
    };
    if before.notice != after.notice {
        out.push(format!(
            "notice: {} -> {}",
            notice(&before.notice),
            notice(&after.notice)
        ));
    }
    out
}

/// One room as the API shows it.
#[derive(Debug, Serialize)]
pub struct RoomStats {
    pub name: String,
    pub title: String,
    pub paths: Vec<String>,
    /// The hosts its paths are gated on; empty: every host.
    pub hosts: Vec<String>,
    /// Its own upstream; `null`: its host's site's, or `[server] upstream`.
    pub upstream: Option<String>,
    /// In force (the override, else the file's, as its schedule has it).
    pub mode: RoomMode,
    /// The event running or in its pre-queue, else the next one, else the
    /// last one (over); `null` for a room without events.
    pub event: Option<EventStats>,
    pub paused: bool,
    /// In force (the override, else the file's value).
    pub capacity: u32,
    /// `null`: no limit.
    pub admit_per_minute: Option<u32>,
    /// Shown to those in line: the override, else the file's; `null`: none.
    pub notice: Option<String>,
    /// The file's values.
    pub configured: Configured,
    pub overrides: Overrides,
    pub active: u64,
    pub reserved: u64,
    /// Everyone who may be in line (returners included).
    pub waiting: u64,
    pub returners: u64,
    /// The line's counter: every number handed out in this room state,
    /// tickets and direct admissions alike (`tickets_issued_total` counts
    /// tickets only).
    pub issued: u64,
    /// Every number up to here may enter (in the line's order: a drawn
    /// block's places, not its ticket numbers).
    pub admitted_pointer: u64,
    /// The drawn block being let in; `null` when there is none.
    pub draw: Option<DrawStats>,
    /// Measured over the last minutes; `null` until the line has moved.
    pub admitted_per_minute: Option<f64>,
    /// Estimated wait of someone joining the back of the line now.
    pub eta_back_seconds: Option<u64>,
    /// Age of these figures (they are refreshed every tick).
    pub updated_ms_ago: u64,
}

/// One of a room's events, as the API shows it.
#[derive(Debug, Serialize)]
pub struct EventStats {
    pub name: String,
    /// `upcoming`, `prequeue`, `open` or `over`.
    pub phase: &'static str,
    pub prequeue_from: Option<crate::page::IsoTime>,
    pub opens_at: crate::page::IsoTime,
    pub closes_at: Option<crate::page::IsoTime>,
    /// Seconds until the doors open (0 once open).
    pub opens_in_seconds: u64,
    /// The pre-queue's places are drawn at the opening.
    pub shuffle: bool,
}

/// A drawn block (see [`crate::store::draw`]) as the API shows it.
#[derive(Debug, Serialize)]
pub struct DrawStats {
    /// Tickets in the draw: everyone who joined the pre-queue.
    pub size: u64,
    /// The block's tickets are numbered from here.
    pub first_ticket: u64,
    /// Places the line has passed so far (let in, or skipped as gone).
    pub places_passed: u64,
}

impl EventStats {
    fn of(room: &Room, now: crate::clock::Millis) -> Option<EventStats> {
        use crate::schedule::Phase;
        let (e, phase) = match room.phase(now) {
            Phase::Prequeue(e) => (e, "prequeue"),
            Phase::Open(e) => (e, "open"),
            Phase::Before | Phase::After(_) => match crate::schedule::next_at(&room.cfg.events, now) {
                Some(e) => (e, "upcoming"),
                None => (room.cfg.events.last()?, "over"),
            },
        };
        let at = crate::page::IsoTime::at;
        Some(EventStats {
            name: e.name.clone(),
            phase,
            prequeue_from: e.prequeue_from.map(at),
            opens_at: at(e.opens_at),
            closes_at: e.closes_at.map(at),
            opens_in_seconds: e.opens_at.saturating_sub(now).div_ceil(1000),
            shuffle: e.shuffle,
        })
    }
}

/// A room's values in the file.
#[derive(Debug, Serialize)]
pub struct Configured {
    pub mode: RoomMode,
    pub capacity: u32,
    pub admit_per_minute: Option<u32>,
    pub notice: Option<String>,
}

impl RoomStats {
    pub fn of(room: &Room, now: crate::clock::Millis) -> RoomStats {
        let view = room.view();
        let s = &view.snapshot;
        let eff = room.effective(s, now);
        let waiting = s.waiting();
        RoomStats {
            name: room.name().to_string(),
            title: room.cfg.title.clone(),
            paths: room.cfg.paths.clone(),
            hosts: room.cfg.hosts.iter().map(ToString::to_string).collect(),
            upstream: room.cfg.upstream.as_ref().map(ToString::to_string),
            mode: eff.mode,
            event: EventStats::of(room, now),
            paused: s.overrides.paused,
            capacity: eff.capacity,
            admit_per_minute: eff.admit_per_minute,
            configured: Configured {
                mode: room.cfg.mode,
                capacity: room.cfg.capacity,
                admit_per_minute: room.cfg.admit_per_minute,
                notice: room.cfg.notice.clone(),
            },
            notice: room.notice(&view).map(str::to_owned),
            overrides: s.overrides.clone(),
            active: s.active,
            reserved: s.reserved,
            waiting,
            returners: s.returners,
            issued: s.issued,
            admitted_pointer: s.admitted,
            draw: s.draw.map(|d| DrawStats {
                size: d.size,
                first_ticket: d.lo + 1,
                places_passed: s.admitted.saturating_sub(d.lo).min(d.size),
            }),
            admitted_per_minute: view.rate.map(|r| (r * 60.0 * 10.0).round() / 10.0),
            eta_back_seconds: room.eta_back_seconds(&view),
            updated_ms_ago: now.saturating_sub(view.updated_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operator change is logged in the API's words, not as a struct
    /// (issue 17: `Overrides { paused: false, capacity: Some(10), ... }`).
    #[test]
    fn operator_changes_read_as_the_api_writes_them() {
        let none = Overrides::default();
        let all = Overrides {
            paused: true,
            capacity: Some(20),
            admit_per_minute: Some(None),
            notice: Some("Back at \"10:15\"".into()),
            mode: Some(RoomMode::Closed),
        };
        assert_eq!(
            override_changes(&none, &all),
            [
                "paused",
                "mode: file -> closed",
                "capacity: file -> 20",
                "admit_per_minute: file -> unlimited",
                r#"notice: file -> "Back at \"10:15\"""#
            ]
        );
        assert_eq!(
            override_changes(
                &all,
                &Overrides {
                    admit_per_minute: Some(Some(60)),
                    notice: Some(String::new()),
                    ..Overrides::default()
                }
            ),
            [
                "resumed",
                "mode: closed -> file",
                "capacity: 20 -> file",
                "admit_per_minute: unlimited -> 60",
                r#"notice: "Back at \"10:15\"" -> none"#
            ]
        );
        assert!(override_changes(&all, &all).is_empty());
    }
}
