//! What vestibule itself answers: the waiting page (HTML or JSON), status
//! JSON, and the short pages for errors. Templates are minijinja; the
//! built-in waiting page can be replaced with `[page] template`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use minijinja::Environment;
use serde::Serialize;

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;
use crate::clock::Millis;
use crate::http::respond;

const WAITING: &str = include_str!("templates/waiting.html");
const MESSAGE: &str = include_str!("templates/message.html");

/// Errors loading a custom template.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read template {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template {path} does not compile: {source}")]
    Template { path: String, source: minijinja::Error },
}

/// Everything the waiting page and the status JSON say. Serialized as the
/// JSON answer and handed to the template as its context.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting<'a> {
    /// "queued", or "prequeue" before an event's doors open; "admitted"
    /// answers come from [`admitted_json`].
    pub state: &'static str,
    pub room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<&'a str>,
    /// The room's notice ([`crate::room::Room::notice`]); `null` for none,
    /// so a page that showed one knows to take it down.
    pub notice: Option<&'a str>,
    /// 1 = next in line; `null` in a pre-queue whose places are drawn at
    /// the opening (`shuffle`), before the draw.
    pub position: Option<u64>,
    /// The places are drawn at random when the doors open: arriving early
    /// or late in the pre-queue makes no difference. Only in such a
    /// pre-queue.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shuffle: bool,
    /// The visitor's place was drawn at the opening. Only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub drawn: bool,
    /// A late returner waiting for the next free slot, ahead of the line.
    pub returner: bool,
    /// Estimated seconds to admission; null until the line's speed is known.
    pub eta_seconds: Option<u64>,
    pub eta_text: Cow<'static, str>,
    /// When to ask again (the page adds jitter).
    pub poll_after_seconds: u64,
    pub updated_iso: IsoTime,
    /// In a pre-queue: when the doors open, and in how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<IsoTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_in_seconds: Option<u64>,
}

impl<'a> Waiting<'a> {
    /// Fills the derived fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        room: &'a str,
        room_title: &'a str,
        site_name: Option<&'a str>,
        position: u64,
        returner: bool,
        eta_seconds: Option<u64>,
        poll_after_seconds: u64,
        now: Millis,
    ) -> Waiting<'a> {
        Waiting {
            state: "queued",
            room,
            room_title: Some(room_title),
            site_name,
            notice: None,
            position: Some(position),
            shuffle: false,
            drawn: false,
            returner,
            eta_seconds,
            eta_text: eta_text(eta_seconds, returner),
            poll_after_seconds,
            updated_iso: IsoTime::at(now),
            opens_at: None,
            opens_in_seconds: None,
        }
    }

    /// The JSON answer, byte for byte what `serde_json` makes of this
    /// struct (a unit test holds it to that). Written by hand because it is
    /// the answer vestibule gives most while a line stands, and serde's
    /// escaping loop cost more than the rest of a status poll's own work.
    /// The strings we write ourselves need no escaping (a room name is
    /// letters, digits, `-` and `_`; the texts and times are ours); the
    /// operator's title and site name still go through `serde_json`.
    pub fn to_json(&self) -> String {
        // Ours: nothing in them to escape.
        fn raw(out: &mut String, s: &str) {
            debug_assert!(s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        fn text(out: &mut String, s: &str) {
            if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
                raw(out, s);
            } else {
                out.push_str(&serde_json::to_string(s).unwrap_or_default());
            }
        }
        let mut num = itoa::Buffer::new();
        let mut out = String::with_capacity(192);
        out.push_str(r#"{"state":"#);
        raw(&mut out, self.state);
        out.push_str(r#","room":"#);
        raw(&mut out, self.room);
        if let Some(t) = self.room_title {
            out.push_str(r#","room_title":"#);
            text(&mut out, t);
        }
        if let Some(t) = self.site_name {
            out.push_str(r#","site_name":"#);
            text(&mut out, t);
        }
        out.push_str(r#","notice":"#);
        match self.notice {
            Some(t) => text(&mut out, t),
            None => out.push_str("null"),
        }
        out.push_str(r#","position":"#);
        match self.position {
            Some(p) => out.push_str(num.format(p)),
            None => out.push_str("null"),
        }
        if self.shuffle {
            out.push_str(r#","shuffle":true"#);
        }
        if self.drawn {
            out.push_str(r#","drawn":true"#);
        }
        out.push_str(if self.returner {
            r#","returner":true"#
        } else {
            r#","returner":false"#
        });
        out.push_str(r#","eta_seconds":"#);
        match self.eta_seconds {
            Some(e) => out.push_str(num.format(e)),
            None => out.push_str("null"),
        }
        out.push_str(r#","eta_text":"#);
        raw(&mut out, &self.eta_text);
        out.push_str(r#","poll_after_seconds":"#);
        out.push_str(num.format(self.poll_after_seconds));
        out.push_str(r#","updated_iso":"#);
        raw(&mut out, self.updated_iso.as_str());
        if let Some(t) = &self.opens_at {
            out.push_str(r#","opens_at":"#);
            raw(&mut out, t.as_str());
        }
        if let Some(s) = self.opens_in_seconds {
            out.push_str(r#","opens_in_seconds":"#);
            out.push_str(num.format(s));
        }
        out.push('}');
        out
    }
}

/// A time to the second in RFC 3339 (`2026-11-22T08:00:00Z`), without an
/// allocation. Status polls format the same second over and over, so each
/// thread keeps the last one it wrote.
#[derive(Clone, Copy)]
pub struct IsoTime {
    buf: [u8; 32],
    len: u8,
}

thread_local! {
    static LAST_ISO: Cell<Option<(u64, IsoTime)>> = const { Cell::new(None) };
}

impl IsoTime {
    pub fn at(ms: Millis) -> IsoTime {
        let secs = ms / 1000;
        if let Some((s, t)) = LAST_ISO.get() {
            if s == secs {
                return t;
            }
        }
        let mut t = IsoTime { buf: [0; 32], len: 0 };
        let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
        let n = text.len().min(t.buf.len());
        t.buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        t.len = n as u8;
        LAST_ISO.set(Some((secs, t)));
        t
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }

    /// `HH:MM:SS`: digits and colons, nothing to escape.
    pub fn clock(&self) -> &str {
        self.as_str().get(11..19).unwrap_or_default()
    }

    /// `HH:MM:SS UTC`, for people.
    pub fn clock_text(&self) -> String {
        format!("{} UTC", self.clock())
    }
}

impl fmt::Display for IsoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for IsoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for IsoTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The status answer for an admitted visitor.
pub fn admitted_json(room: &str) -> String {
    serde_json::json!({ "state": "admitted", "room": room, "position": 0, "eta_seconds": 0, "poll_after_seconds": 0 })
        .to_string()
}

/// The status answer of a closed room: the operator's notice (or `null`),
/// and when to look again, should it open.
pub fn closed_json(room: &str, notice: Option<&str>, poll_after_seconds: u64) -> String {
    serde_json::json!({ "state": "closed", "room": room, "notice": notice, "poll_after_seconds": poll_after_seconds })
        .to_string()
}

/// What a waiting visitor reads instead of an estimate while an operator
/// has paused admissions: the line is not moving, and nobody loses their
/// place.
pub const PAUSED_TEXT: &str = "admissions are paused for now; you keep your place";

/// What a visitor in a drawn pre-queue reads instead of an estimate.
pub const DRAW_TEXT: &str = "known once the places are drawn, when the doors open";

impl<'a> Waiting<'a> {
    /// With the room's notice.
    pub fn noticed(self, notice: Option<&'a str>) -> Self {
        Waiting { notice, ..self }
    }

    /// In an event's pre-queue, whose doors open at `opens_at`: the state
    /// says so, and the estimate counts from the opening.
    pub fn before_opening(self, opens_at: Millis, now: Millis) -> Self {
        let opens_in = opens_at.saturating_sub(now).div_ceil(1000);
        let eta_seconds = self.eta_seconds.map(|e| e + opens_in);
        Waiting {
            state: "prequeue",
            eta_seconds,
            eta_text: eta_text(eta_seconds, self.returner),
            opens_at: Some(IsoTime::at(opens_at)),
            opens_in_seconds: Some(opens_in),
            ..self
        }
    }

    /// In a pre-queue whose places are drawn at the opening: no place and
    /// no estimate yet, since neither exists before the draw.
    pub fn drawn_at_opening(self) -> Self {
        Waiting {
            position: None,
            shuffle: true,
            eta_seconds: None,
            eta_text: DRAW_TEXT.into(),
            ..self
        }
    }

    /// The answer while admissions are paused: no estimate, and why.
    pub fn paused(self) -> Self {
        Waiting {
            eta_seconds: None,
            eta_text: PAUSED_TEXT.into(),
            ..self
        }
    }
}

/// When the doors open, as the page says it without JavaScript:
/// `20:00 UTC`, with the date when that is more than a few hours off
/// (`2026-12-10 at 20:00 UTC`).
fn opening_text(t: &IsoTime, opens_in: u64) -> String {
    let s = t.as_str();
    let (date, hm) = (s.get(..10).unwrap_or(s), s.get(11..16).unwrap_or(s));
    if opens_in > 6 * 3600 {
        format!("{date} at {hm} UTC")
    } else {
        format!("{hm} UTC")
    }
}

/// A human rendering of an estimate, honest about not knowing.
pub fn eta_text(eta: Option<u64>, returner: bool) -> Cow<'static, str> {
    match eta {
        _ if returner => "a few seconds".into(),
        None => "measuring…".into(),
        Some(s) if s < 60 => "less than a minute".into(),
        Some(s) if s < 90 * 60 => {
            let m = s.div_ceil(60);
            format!("about {m} minute{}", if m == 1 { "" } else { "s" }).into()
        }
        Some(s) => {
            // Minutes first, so that 7,190 s reads "2 h 0 min", not "1 h 60 min".
            let minutes = s.div_ceil(60);
            format!("about {} h {} min", minutes / 60, minutes % 60).into()
        }
    }
}

/// `seconds` give or take a fifth, at least 1. Pages without JavaScript
/// refresh on this, so visitors who arrived together do not all come back
/// in the same second.
pub fn jittered(seconds: u64) -> u64 {
    let spread = seconds as f64 * 0.2;
    let j = seconds as f64 + (rand::random::<f64>() * 2.0 - 1.0) * spread;
    (j.round() as u64).max(1)
}

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
    /// The built-in waiting page, rendered once per room and shape with
    /// markers where the per-visitor values go; `None` for a custom
    /// template, which is rendered whole for every page (its logic may
    /// depend on any value).
    prepared: Option<RwLock<PreparedPages>>,
}

/// Prepared pages and what each was prepared for; `None` where the page
/// could not be prepared (a title holding the marker character), so the
/// attempt is not repeated for every page.
type PreparedPages = Vec<(PreparedKey, Option<Arc<Prepared>>)>;

/// What a prepared page depends on besides the per-visitor values.
struct PreparedKey {
    room: String,
    title: Option<String>,
    site: Option<String>,
    notice: Option<String>,
    returner: bool,
    drawn: bool,
    /// A pre-queue's page is never prepared (see [`Pages::prepare`]).
    prequeue: bool,
}

impl PreparedKey {
    fn new(w: &Waiting<'_>) -> PreparedKey {
        PreparedKey {
            room: w.room.to_owned(),
            title: w.room_title.map(str::to_owned),
            site: w.site_name.map(str::to_owned),
            notice: w.notice.map(str::to_owned),
            returner: w.returner,
            drawn: w.drawn,
            prequeue: w.opens_at.is_some(),
        }
    }

    fn fits(&self, w: &Waiting<'_>) -> bool {
        self.returner == w.returner
            && self.drawn == w.drawn
            && self.room == w.room
            && self.title.as_deref() == w.room_title
            && self.site.as_deref() == w.site_name
            && self.notice.as_deref() == w.notice
            && self.prequeue == w.opens_at.is_some()
    }
}

/// A waiting page cut where the per-visitor values go.
struct Prepared {
    parts: Vec<Part>,
}

enum Part {
    Text(String),
    Slot(Slot),
}

/// The values that differ from visitor to visitor, in marker order.
#[derive(Clone, Copy)]
enum Slot {
    Position,
    EtaText,
    UpdatedIso,
    UpdatedText,
    Refresh,
    PollAfter,
}

const SLOTS: [Slot; 6] = [
    Slot::Position,
    Slot::EtaText,
    Slot::UpdatedIso,
    Slot::UpdatedText,
    Slot::Refresh,
    Slot::PollAfter,
];

/// Brackets a slot's number in the marker render: a private-use character
/// that no template text or escaping produces.
const MARK: char = '\u{F8FF}';

/// Upper bound on prepared pages kept (rooms × 2 shapes, across reloads
/// that change titles and notices); past it the cache starts over.
const MAX_PREPARED: usize = 256;

impl Pages {
    /// Built-in templates, with the waiting page replaced by `custom` when given.
    pub fn new(custom: Option<&std::path::Path>) -> Result<Pages, PageError> {
        let mut env = Environment::new();
        let waiting = match custom {
            None => WAITING.to_string(),
            Some(p) => std::fs::read_to_string(p).map_err(|source| PageError::Read {
                path: p.display().to_string(),
                source,
            })?,
        };
        env.add_template_owned("waiting.html", waiting)
            .map_err(|source| PageError::Template {
                path: custom.map_or("(built-in)".into(), |p| p.display().to_string()),
                source,
            })?;
        env.add_template("message.html", MESSAGE)
            .expect("the built-in template compiles");
        Ok(Pages {
            env,
            prepared: custom.is_none().then(RwLock::default),
        })
    }

    /// The waiting page. A template that fails at render time falls back to
    /// a plain page, so a bad custom template never costs anyone their place.
    pub fn waiting(&self, w: &Waiting<'_>) -> String {
        let refresh = jittered(w.poll_after_seconds);
        match self.prepared(w) {
            Some(p) => p.fill(w, refresh),
            None => self.render(w, refresh),
        }
    }

    /// The built-in page for `w`'s room and shape, prepared on first use.
    fn prepared(&self, w: &Waiting<'_>) -> Option<Arc<Prepared>> {
        let cache = self.prepared.as_ref()?;
        // A handful of rooms: a scan beats hashing three strings.
        let found = cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| k.fits(w))
            .map(|(_, p)| p.clone());
        if let Some(p) = found {
            return p;
        }
        let p = self.prepare(w).map(Arc::new);
        let mut cache = cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_PREPARED {
            cache.clear();
        }
        cache.push((PreparedKey::new(w), p.clone()));
        p
    }

    /// Renders the template once with a marker in place of each
    /// per-visitor value and cuts the output at the markers.
    fn prepare(&self, w: &Waiting<'_>) -> Option<Prepared> {
        // The operator's own text could hold the marker character; such a
        // page is rendered whole instead. So is a pre-queue's, whose
        // countdown changes by the second (nobody is admitted then: the
        // proxy has the time).
        if w.opens_at.is_some() {
            return None;
        }
        if [Some(w.room), w.room_title, w.site_name, w.notice]
            .into_iter()
            .flatten()
            .any(|t| t.contains(MARK))
        {
            return None;
        }
        let marker = |i: usize| format!("{MARK}{i}{MARK}");
        let ctx = minijinja::context! {
            position => marker(0),
            eta_text => marker(1),
            updated_iso => marker(2),
            updated_text => marker(3),
            refresh_seconds => marker(4),
            poll_after_seconds => marker(5),
            status_url => format!("/_vestibule/status?room={}", w.room),
            ..minijinja::Value::from_serialize(w)
        };
        let html = self.env.get_template("waiting.html").and_then(|t| t.render(ctx)).ok()?;
        let mut parts = Vec::new();
        let mut pieces = html.split(MARK);
        parts.push(Part::Text(pieces.next()?.to_owned()));
        while let (Some(index), Some(text)) = (pieces.next(), pieces.next()) {
            parts.push(Part::Slot(*SLOTS.get(index.parse::<usize>().ok()?)?));
            parts.push(Part::Text(text.to_owned()));
        }
        Some(Prepared { parts })
    }

    /// The whole template rendered for `w`.
    fn render(&self, w: &Waiting<'_>, refresh: u64) -> String {
        // The JSON answer leaves out the page-only fields; the page gets them too.
        let ctx = minijinja::context! {
            updated_text => w.updated_iso.clock_text(),
            status_url => format!("/_vestibule/status?room={}", w.room),
            refresh_seconds => refresh,
            opens_text => w.opens_at.map(|t| opening_text(&t, w.opens_in_seconds.unwrap_or(0))),
            opens_in_text => w.opens_in_seconds.map(|s| eta_text(Some(s), false)),
            ..minijinja::Value::from_serialize(w)
        };
        self.env
            .get_template("waiting.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "waiting page template failed; sending the plain page");
                format!(
                    "<!doctype html><meta http-equiv=refresh content={}><title>You are in line</title>\
                     <p>You are in line. Your place: {}. This page refreshes on its own.",
                    w.poll_after_seconds,
                    w.position.map_or("drawn when the doors open".into(), |p| p.to_string())
                )
            })
    }

    /// A short page for errors and refusals.
    pub fn message(&self, status: u16, title: &str, message: &str, retry_after: Option<u64>) -> String {
        self.env
            .get_template("message.html")
            .and_then(|t| t.render(minijinja::context! { status, title, message, retry_after }))
            .unwrap_or_else(|_| format!("{status} {title}: {message}"))
    }

    /// The response for an error or a refusal: the short page, or JSON
    /// when the client asked for it; never cached, with `Retry-After` when
    /// trying again makes sense.
    pub fn message_response(
        &self,
        status: StatusCode,
        title: &str,
        msg: &str,
        retry: Option<u64>,
        json: bool,
    ) -> Response<Body> {
        let mut r = if json {
            let body = serde_json::json!({ "error": title, "message": msg, "status": status.as_u16() });
            respond(status, "application/json", body.to_string())
        } else {
            respond(
                status,
                "text/html; charset=utf-8",
                self.message(status.as_u16(), title, msg, retry),
            )
        };
        if let Some(s) = retry {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

impl Prepared {
    /// The page for `w`, as the template would render it.
    fn fill(&self, w: &Waiting<'_>, refresh: u64) -> String {
        let len: usize = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Slot(_) => 24,
            })
            .sum();
        let mut out = String::with_capacity(len);
        let mut num = itoa::Buffer::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Slot(Slot::Position) => {
                    // A page without a place (a drawn pre-queue) is never
                    // prepared; see [`Pages::prepare`].
                    out.push_str(w.position.map_or("", |p| num.format(p)))
                }
                Part::Slot(Slot::EtaText) => escaped(&mut out, &w.eta_text),
                Part::Slot(Slot::UpdatedIso) => escaped(&mut out, w.updated_iso.as_str()),
                Part::Slot(Slot::UpdatedText) => {
                    out.push_str(w.updated_iso.clock());
                    out.push_str(" UTC");
                }
                Part::Slot(Slot::Refresh) => out.push_str(num.format(refresh)),
                Part::Slot(Slot::PollAfter) => out.push_str(num.format(w.poll_after_seconds)),
            }
        }
        out
    }
}

/// Appends `s` escaped as the template's HTML auto-escaping would.
fn escaped(out: &mut String, s: &str) {
    if s.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'' | b'/')) {
        let _ = write!(out, "{}", minijinja::HtmlEscape(s));
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_template_renders() {
        let p = Pages::new(None).unwrap();
        let w = Waiting::new("reg", "t", None, 3, false, Some(120), 7, 0);
        let t = p.env.get_template("waiting.html").unwrap();
        t.render(&w).unwrap();
    }

    #[test]
    fn refresh_is_jittered_within_a_fifth() {
        let seen: std::collections::BTreeSet<u64> = (0..500).map(|_| jittered(20)).collect();
        assert!(seen.iter().all(|s| (16..=24).contains(s)), "{seen:?}");
        assert!(seen.len() >= 5, "not spread: {seen:?}");
        assert!((0..100).all(|_| jittered(1) >= 1));
    }

    #[test]
    fn hand_written_json_is_what_serde_writes() {
        let titles = [
            None,
            Some("Big sale"),
            Some(r#"The "quoted" \ sale"#),
            Some("tab\there\u{1}"),
            Some("Jürgen’s – 票"),
        ];
        for (i, title) in titles.into_iter().enumerate() {
            for (eta, returner) in [(None, false), (Some(0), false), (Some(7_384), false), (None, true)] {
                let mut w = Waiting::new(
                    "reg-2_a",
                    "t",
                    title,
                    12_345 + i as u64,
                    returner,
                    eta,
                    7,
                    1_700_000_000_999,
                );
                w.room_title = title;
                assert_eq!(w.to_json(), serde_json::to_string(&w).unwrap());
                w.notice = title;
                assert_eq!(w.to_json(), serde_json::to_string(&w).unwrap());
                let before = w.clone().before_opening(1_700_000_900_000, 1_700_000_000_999);
                assert_eq!(before.to_json(), serde_json::to_string(&before).unwrap());
                let drawn = before.drawn_at_opening();
                assert_eq!(drawn.to_json(), serde_json::to_string(&drawn).unwrap());
                let placed = Waiting {
                    drawn: true,
                    ..w.clone()
                };
                assert_eq!(placed.to_json(), serde_json::to_string(&placed).unwrap());
                w.room_title = None;
                w.site_name = None;
                assert_eq!(w.to_json(), serde_json::to_string(&w).unwrap());
            }
        }
    }

    #[test]
    fn prepared_built_in_page_is_what_the_template_renders() {
        let p = Pages::new(None).unwrap();
        let titles = [
            ("Big <sale> & 'more'", None, None),
            (
                "t",
                Some("Shop / \"Tickets\""),
                Some("Back at <b>10:15</b> & \"soon\".\nSorry."),
            ),
        ];
        for (title, site, notice) in titles {
            for (pos, returner, eta, poll) in [
                (1, false, None, 5),
                (12_345, false, Some(7_384), 30),
                (3, true, None, 2),
                (99, false, Some(59), 7),
            ] {
                let w = Waiting::new("reg-a", title, site, pos, returner, eta, poll, 1_700_000_123_456).noticed(notice);
                for w in [w.clone(), Waiting { drawn: true, ..w }] {
                    let prepared = p.prepared(&w).expect("the built-in page prepares");
                    assert_eq!(
                        prepared.fill(&w, 6),
                        p.render(&w, 6),
                        "{title} {pos} {returner} {eta:?} {}",
                        w.drawn
                    );
                    assert_eq!(
                        prepared.fill(&w, 6).contains("in the order drawn at random"),
                        w.drawn,
                        "a drawn place says so, and only a drawn place"
                    );
                }
            }
        }
        // A pre-queue's page is rendered whole, with its countdown, and is
        // not taken for the line's.
        let line = Waiting::new("reg-a", "t", None, 2, false, Some(60), 5, 0);
        assert!(p.waiting(&line).contains("about 1 minute") && !p.waiting(&line).contains("doors open"));
        let before = line.clone().before_opening(12 * 60_000, 0);
        let page = p.waiting(&before);
        assert!(
            page.contains("The doors open at") && page.contains("about 12 minutes"),
            "{page}"
        );
        assert!(page.contains(">00:12 UTC</time>"), "{page}");
        // Drawn at the opening: no place, no estimate before the draw; the
        // page and the JSON say so.
        let drawn = before.clone().drawn_at_opening();
        let page = p.waiting(&drawn);
        assert!(page.contains("<title>In line: place drawn at the opening"), "{page}");
        assert!(
            page.contains(r#"<dd id="position">drawn when the doors open</dd>"#),
            "{page}"
        );
        assert!(page.contains(DRAW_TEXT) && page.contains("drawn at random"), "{page}");
        assert!(!page.contains("in the order they arrived"), "{page}");
        let json: serde_json::Value = serde_json::from_str(&drawn.to_json()).unwrap();
        assert_eq!(
            (json["position"].clone(), json["shuffle"].clone()),
            (serde_json::Value::Null, true.into())
        );
        assert_eq!(json["eta_seconds"], serde_json::Value::Null);
        assert!(!p.waiting(&before).contains("drawn at random"));
        let far = line.clone().before_opening(3 * 86_400_000, 0);
        assert!(
            p.waiting(&far).contains(">1970-01-04 at 00:00 UTC</time>"),
            "the date, days off"
        );
        assert!(!p.waiting(&line).contains("doors open"));
        // A new notice is a new page, not the last one's.
        let w = |notice| Waiting::new("reg-a", "t", None, 2, false, None, 5, 0).noticed(notice);
        assert!(p.waiting(&w(Some("Back at 10:15."))).contains("Back at 10:15."));
        assert!(p.waiting(&w(Some("Back at 10:30."))).contains("Back at 10:30."));
        assert!(!p.waiting(&w(None)).contains("Back at"));
        let odd = format!("Apple {MARK}4{MARK} day");
        let w = Waiting::new("reg", &odd, None, 2, false, Some(60), 5, 0);
        assert!(p.prepared(&w).is_none(), "a title holding the marker is never cut");
        assert_eq!(p.waiting(&w).len(), p.render(&w, 5).len());
        assert!(p.waiting(&w).contains(&odd));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("custom.html");
        std::fs::write(&f, "{% if position == 1 %}next!{% else %}{{ position }}{% endif %}").unwrap();
        let custom = Pages::new(Some(&f)).unwrap();
        let w = Waiting::new("reg", "t", None, 1, false, None, 5, 0);
        assert!(custom.prepared(&w).is_none(), "custom templates are rendered whole");
        assert_eq!(custom.waiting(&w), "next!");
    }

    #[test]
    fn eta_texts() {
        assert_eq!(eta_text(None, false), "measuring…");
        assert_eq!(eta_text(Some(59), false), "less than a minute");
        assert_eq!(eta_text(Some(61), false), "about 2 minutes");
        assert_eq!(eta_text(Some(60), false), "about 1 minute");
        assert_eq!(eta_text(Some(3 * 3600 + 60), false), "about 3 h 1 min");
        assert_eq!(eta_text(None, true), "a few seconds");
    }

    #[test]
    fn waiting_page_escapes_and_refreshes_without_js() {
        let p = Pages::new(None).unwrap();
        let w = Waiting::new("reg", "<Big> sale", None, 3, false, Some(120), 7, 1_700_000_000_000);
        let html = p.waiting(&w);
        assert!(html.contains("&lt;Big&gt; sale"));
        assert!(!html.contains("<Big>"));
        assert!(["6", "7", "8"]
            .iter()
            .any(|s| html.contains(&format!(r#"<meta http-equiv="refresh" content="{s}">"#))));
        assert!(html.contains(r#"<dd id="position">3</dd>"#));
        assert!(html.contains("about 2 minutes"));
        assert!(html.contains("2023-11-14T22:13:20Z"));
        assert!(
            html.contains(">22:13:20 UTC</time>"),
            "the visible update time is filled in"
        );
        assert!(
            html.contains(r#"var url = "/_vestibule/status?room=reg";"#),
            "the poller knows where to ask"
        );
        let json: serde_json::Value = serde_json::to_value(&w).unwrap();
        assert_eq!(json["state"], "queued");
        assert_eq!(json["position"], 3);
        assert_eq!(json["eta_seconds"], 120);
        assert_eq!(json["poll_after_seconds"], 7);
    }

    #[test]
    fn bad_custom_template_is_an_error() {
        let dir = std::env::temp_dir().join(format!("vst-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.html");
        std::fs::write(&f, "{% if %}").unwrap();
        assert!(matches!(Pages::new(Some(&f)), Err(PageError::Template { .. })));
        assert!(matches!(
            Pages::new(Some(&dir.join("missing.html"))),
            Err(PageError::Read { .. })
        ));
    }
}
