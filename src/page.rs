//! What vestibule itself answers: the waiting page (HTML or JSON), status
//! JSON, and the short pages for errors. Templates are minijinja; the
//! built-in waiting page can be replaced with `[page] template`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::fmt::Write as _;
use std::sync::{Arc, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use fluent_bundle::FluentArgs;
use minijinja::value::Kwargs;
use minijinja::Environment;
use serde::Serialize;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;
use crate::clock::Millis;
use crate::http::respond;
use crate::lang::{self, Catalog, Language};

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
    /// An operator paused admissions: no estimate, and the place is kept.
    /// Only while paused.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
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
    /// The language of `message`: only with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<&'a str>,
    /// Where the visitor stands in a sentence in `lang`, for apps: in the
    /// waiting answer always, in a status poll when asked for with
    /// `?lang=` (see [`Waiting::told`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How long a visitor who closes the page keeps their place; only
    /// the page says it.
    #[serde(skip)]
    pub kept: Kept,
    /// The page without JavaScript no longer refreshes itself: the
    /// visitor turned that off (`?vst_refresh=off`, WCAG 2.2.1).
    #[serde(skip)]
    pub still: bool,
}

/// What the waiting page tells a visitor about closing it, from the
/// room's settings: the ticket lives `ticket` seconds from issue; once
/// admitted, its holder has `claim_grace` to come in, and after that one
/// `session_ttl` more as a late returner, ahead of the line (see
/// [`crate::admission`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    /// Seconds a ticket stays valid from issue (`[token] ticket_ttl`).
    pub ticket: u64,
    /// Seconds from the visitor's turn within which they still go in
    /// at the next free place (`claim_grace` + `session_ttl`).
    pub turn: u64,
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
            paused: false,
            eta_seconds,
            eta_text: eta_text(eta_seconds, returner),
            poll_after_seconds,
            updated_iso: IsoTime::at(now),
            opens_at: None,
            opens_in_seconds: None,
            lang: None,
            message: None,
            kept: Kept::default(),
            still: false,
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
        if self.paused {
            out.push_str(r#","paused":true"#);
        }
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
        if let Some(l) = self.lang {
            out.push_str(r#","lang":"#);
            raw(&mut out, l);
        }
        if let Some(m) = &self.message {
            out.push_str(r#","message":"#);
            text(&mut out, m);
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

/// The status answer for an admitted visitor; with a `message` in `lang`
/// when one was asked for.
pub fn admitted_json(room: &str, lang: Option<&Language>) -> String {
    let mut v = serde_json::json!({ "state": "admitted", "room": room, "position": 0, "eta_seconds": 0, "poll_after_seconds": 0 });
    if let Some(l) = lang {
        v["lang"] = l.tag().into();
        v["message"] = l.text("status-admitted", None).into();
    }
    v.to_string()
}

/// The status answer of a closed room: the operator's notice (or `null`),
/// and when to look again, should it open; with a `message` in `lang`
/// when one was asked for.
pub fn closed_json(
    room: &str,
    title: &str,
    notice: Option<&str>,
    poll_after_seconds: u64,
    lang: Option<&Language>,
) -> String {
    let mut v = serde_json::json!({ "state": "closed", "room": room, "notice": notice, "poll_after_seconds": poll_after_seconds });
    if let Some(l) = lang {
        v["lang"] = l.tag().into();
        let closed = l.text1("status-closed", "room", title);
        v["message"] = match notice {
            Some(n) => format!("{closed} {n}"),
            None => closed,
        }
        .into();
    }
    v.to_string()
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

    /// With how long a visitor who closes the page keeps their place.
    pub fn keeping(self, kept: Kept) -> Self {
        Waiting { kept, ..self }
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
            paused: true,
            eta_seconds: None,
            eta_text: PAUSED_TEXT.into(),
            ..self
        }
    }

    /// With `message` in `lang`, for apps.
    pub fn told(self, lang: &'a Language) -> Self {
        let message = Some(self.sentence(lang));
        Waiting {
            lang: Some(lang.tag()),
            message,
            ..self
        }
    }

    /// The estimate in words in `lang`, as the page shows it.
    pub fn eta_in(&self, lang: &Language) -> String {
        if self.paused {
            lang.text("eta-paused", None).into_owned()
        } else if self.shuffle {
            lang.text("eta-draw", None).into_owned()
        } else {
            lang.eta(self.eta_seconds, self.returner)
        }
    }

    /// The place in `lang`: a number, "next" or "drawn when the doors open".
    pub fn place_in(&self, lang: &Language) -> String {
        match self.position {
            _ if self.returner => lang.text("waiting-place-next", None).into_owned(),
            None => lang.text("waiting-place-drawn", None).into_owned(),
            Some(p) => lang.number(p),
        }
    }

    /// The tab's title before the room's, in `lang`.
    pub fn title_in(&self, lang: &Language) -> String {
        match self.position {
            _ if self.returner => lang.text("waiting-title-next", None).into_owned(),
            None => lang.text("waiting-title-drawn", None).into_owned(),
            Some(p) => lang.text1("waiting-title-place", "position", p),
        }
    }

    /// "12 people ahead of you" in `lang`; nothing for a returner or a
    /// place not drawn yet.
    pub fn ahead_in(&self, lang: &Language) -> String {
        match self.position {
            Some(p) if !self.returner => lang.text1("waiting-ahead", "count", p.saturating_sub(1)),
            _ => String::new(),
        }
    }

    /// Where the visitor stands, in one sentence in `lang`.
    fn sentence(&self, lang: &Language) -> String {
        let mut a = FluentArgs::new();
        a.set("position", self.place_in(lang));
        a.set("eta", self.eta_in(lang));
        if let Some(t) = &self.opens_at {
            a.set("time", opening_text(t, self.opens_in_seconds.unwrap_or(0)));
        }
        let id = match (self.opens_at.is_some(), self.shuffle) {
            (true, true) => "status-prequeue-drawn",
            (true, false) => "status-prequeue",
            _ if self.returner => "status-next",
            _ => "status-queued",
        };
        lang.text(id, Some(&a)).into_owned()
    }
}

/// When the doors open, as the page says it without JavaScript, in any
/// language: `20:00 UTC`, with the date when that is more than a few
/// hours off (`2026-12-10 20:00 UTC`).
fn opening_text(t: &IsoTime, opens_in: u64) -> String {
    let s = t.as_str();
    let (date, hm) = (s.get(..10).unwrap_or(s), s.get(11..16).unwrap_or(s));
    if opens_in > 6 * 3600 {
        format!("{date} {hm} UTC")
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
            let m = lang::eta_minutes(s);
            format!("about {m} minute{}", if m == 1 { "" } else { "s" }).into()
        }
        Some(s) => {
            // Minutes first, so that 7,190 s reads "2 h 0 min", not "1 h 60 min".
            let minutes = lang::eta_minutes(s);
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

/// The compiled templates, and the languages they are written in.
pub struct Pages {
    env: Environment<'static>,
    catalog: Arc<Catalog>,
    /// The built-in waiting page, rendered once per room, shape and
    /// language with markers where the per-visitor values go; `None` for
    /// a custom template, which is rendered whole for every page (its
    /// logic may depend on any value).
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
    paused: bool,
    /// The language's index in the catalog, which lives as long as the cache.
    lang: usize,
    /// A pre-queue's page is never prepared (see [`Pages::prepare`]).
    prequeue: bool,
    kept: Kept,
    still: bool,
}

impl PreparedKey {
    fn new(w: &Waiting<'_>, lang: usize) -> PreparedKey {
        PreparedKey {
            room: w.room.to_owned(),
            title: w.room_title.map(str::to_owned),
            site: w.site_name.map(str::to_owned),
            notice: w.notice.map(str::to_owned),
            returner: w.returner,
            drawn: w.drawn,
            paused: w.paused,
            lang,
            prequeue: w.opens_at.is_some(),
            kept: w.kept,
            still: w.still,
        }
    }

    fn fits(&self, w: &Waiting<'_>, lang: usize) -> bool {
        self.returner == w.returner
            && self.drawn == w.drawn
            && self.paused == w.paused
            && self.lang == lang
            && self.room == w.room
            && self.title.as_deref() == w.room_title
            && self.site.as_deref() == w.site_name
            && self.notice.as_deref() == w.notice
            && self.prequeue == w.opens_at.is_some()
            && self.kept == w.kept
            && self.still == w.still
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
    Ahead,
    Title,
    Here,
}

const SLOTS: [Slot; 9] = [
    Slot::Position,
    Slot::EtaText,
    Slot::UpdatedIso,
    Slot::UpdatedText,
    Slot::Refresh,
    Slot::PollAfter,
    Slot::Ahead,
    Slot::Title,
    Slot::Here,
];

/// Brackets a slot's number in the marker render: a private-use character
/// that no template text or escaping produces.
const MARK: char = '\u{F8FF}';

/// Bracket a markup argument's name inside a message given to `tr()`,
/// until the escaped text has the argument's HTML put in its place.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// Upper bound on prepared pages kept (rooms × shapes × languages, across
/// reloads that change titles and notices); past it the cache starts over.
const MAX_PREPARED: usize = 512;

/// The texts of one page for one visitor, as the template's `t`: message
/// `waiting-heading` is `t.waiting_heading`, formatted when the template
/// asks for it, with the page's values as arguments.
#[derive(Debug)]
struct Texts {
    catalog: Arc<Catalog>,
    lang: usize,
    /// The page's values, by argument name.
    args: Vec<(&'static str, ArgValue)>,
}

#[derive(Debug, Clone)]
enum ArgValue {
    Number(u64),
    Text(String),
}

impl Texts {
    fn fluent(&self) -> FluentArgs<'_> {
        let mut a = FluentArgs::with_capacity(self.args.len());
        for (k, v) in &self.args {
            match v {
                ArgValue::Number(n) => a.set(*k, *n),
                ArgValue::Text(t) => a.set(*k, t.as_str()),
            }
        }
        a
    }
}

impl minijinja::value::Object for Texts {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let id = key.as_str()?.replace('_', "-");
        let lang = self.catalog.get(self.lang);
        Some(lang.text(&id, Some(&self.fluent())).into_owned().into())
    }
}

/// The language a page or message is written in, and the cookie that
/// remembers a choice made with `?lang=`.
#[derive(Debug, Clone, Copy)]
pub struct Chosen {
    /// Index in the catalog ([`Pages::language`]).
    pub lang: usize,
    /// Set the cookie: the choice came from `?lang=` and differs from
    /// the one remembered.
    pub remember: bool,
}

/// An error or refusal, as the short page or its JSON says it.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// A request vestibule does not pass on ([`crate::request`]); `coding`
    /// for a body in a transfer coding it does not accept.
    Malformed { coding: bool },
    /// A closed room: its title, the operator's notice, and whether a
    /// form was refused.
    Closed {
        room: &'a str,
        notice: Option<&'a str>,
        submit: bool,
    },
    /// A form from a visitor in line, not sent.
    InLine,
    /// The store cannot decide: wait a moment.
    Unavailable,
    /// The site did not answer in time (504).
    Timeout,
    /// The site could not be reached (502).
    Unreachable,
    /// The client's own request broke off; `slow`: too slow (408).
    Incomplete { slow: bool },
    /// No such page under `/_vestibule/`.
    NotFound,
}

impl Message<'_> {
    /// Title and text in `lang`.
    fn texts(&self, lang: &Language) -> (String, String) {
        let t = |id: &str| lang.text(id, None).into_owned();
        match *self {
            Message::Malformed { coding } => (
                t("malformed-title"),
                t(if coding {
                    "malformed-coding"
                } else {
                    "malformed-request"
                }),
            ),
            Message::Closed { room, notice, submit } => {
                let title = lang.text1("closed-title", "room", room);
                let said = notice.map_or_else(|| t("closed-text"), str::to_owned);
                let text = if submit {
                    format!("{said} {}", t("closed-not-sent"))
                } else {
                    said
                };
                (title, text)
            }
            Message::InLine => (t("refused-title"), t("refused-text")),
            Message::Unavailable => (t("unavailable-title"), t("unavailable-text")),
            Message::Timeout => (t("timeout-title"), t("timeout-text")),
            Message::Unreachable => (t("unreachable-title"), t("unreachable-text")),
            Message::Incomplete { slow } => (
                t("incomplete-title"),
                t(if slow { "incomplete-slow" } else { "incomplete-cut" }),
            ),
            Message::NotFound => (t("not-found-title"), t("not-found-text")),
        }
    }
}

impl Pages {
    /// Built-in templates, with the waiting page replaced by `custom` when
    /// given, writing in the languages of `catalog`.
    pub fn new(custom: Option<&std::path::Path>, catalog: Arc<Catalog>) -> Result<Pages, PageError> {
        let mut env = Environment::new();
        let waiting = match custom {
            None => WAITING.to_string(),
            Some(p) => std::fs::read_to_string(p).map_err(|source| PageError::Read {
                path: p.display().to_string(),
                source,
            })?,
        };
        let c = catalog.clone();
        env.add_function("tr", move |state: &minijinja::State, id: &str, args: Kwargs| {
            tr(&c, state, id, args)
        });
        env.add_template_owned("waiting.html", waiting)
            .map_err(|source| PageError::Template {
                path: custom.map_or("(built-in)".into(), |p| p.display().to_string()),
                source,
            })?;
        env.add_template("message.html", MESSAGE)
            .expect("the built-in template compiles");
        Ok(Pages {
            env,
            catalog,
            prepared: custom.is_none().then(RwLock::default),
        })
    }

    /// The languages pages are written in.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The language at `i` of the catalog.
    pub fn language(&self, i: usize) -> &Language {
        self.catalog.get(i)
    }

    /// The language for a request: `?lang=` (remembered with a cookie),
    /// the cookie, `Accept-Language`, the default.
    pub fn choose(&self, query: Option<&str>, headers: &HeaderMap) -> Chosen {
        let asked = lang::Asked::of(query, headers);
        let lang = self.catalog.chosen(&asked);
        let tag = self.catalog.get(lang).tag();
        let remember =
            asked.param.as_deref().and_then(|p| self.catalog.find(p)) == Some(lang) && asked.cookie != Some(tag);
        Chosen { lang, remember }
    }

    /// The waiting page in language `lang`; `query` is the page's query
    /// string, which the language picker's links keep. A template that
    /// fails at render time falls back to a plain page, so a bad custom
    /// template never costs anyone their place.
    pub fn waiting(&self, w: &Waiting<'_>, lang: usize, query: Option<&str>) -> String {
        let refresh = jittered(w.poll_after_seconds);
        let here = picker_base(query);
        let still = crate::http::query_param(query, STILL_PARAM).as_deref() == Some("off");
        let owned;
        let w = if still {
            owned = Waiting { still, ..w.clone() };
            &owned
        } else {
            w
        };
        match self.prepared(w, lang) {
            Some(p) => p.fill(w, self.language(lang), refresh, &here),
            None => self.render(w, lang, refresh, &here),
        }
    }

    /// The built-in page for `w`'s room and shape in `lang`, prepared on
    /// first use.
    fn prepared(&self, w: &Waiting<'_>, lang: usize) -> Option<Arc<Prepared>> {
        let cache = self.prepared.as_ref()?;
        // A handful of rooms: a scan beats hashing three strings.
        let found = cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(k, _)| k.fits(w, lang))
            .map(|(_, p)| p.clone());
        if let Some(p) = found {
            return p;
        }
        let p = self.prepare(w, lang).map(Arc::new);
        let mut cache = cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_PREPARED {
            cache.clear();
        }
        cache.push((PreparedKey::new(w, lang), p.clone()));
        p
    }

    /// The context every render of the waiting page has: the language,
    /// its texts, the picker, and `w`'s fields. `slot` gives the
    /// per-visitor values.
    fn context(&self, w: &Waiting<'_>, lang: usize, slot: &dyn Fn(Slot) -> String) -> minijinja::Value {
        let l = self.language(lang);
        let order = if w.drawn {
            "drawn"
        } else if w.shuffle {
            "none"
        } else {
            "arrival"
        };
        let mut args = vec![
            ("order", ArgValue::Text(order.into())),
            ("room", ArgValue::Text(w.room_title.unwrap_or(w.room).into())),
            ("eta", ArgValue::Text(w.eta_in(l))),
            ("place", ArgValue::Text(w.place_in(l))),
            ("time", ArgValue::Text(w.updated_iso.clock_text())),
        ];
        if let Some(p) = w.position {
            args.push(("position", ArgValue::Number(p)));
            args.push(("count", ArgValue::Number(p.saturating_sub(1))));
        }
        if let Some(s) = w.opens_in_seconds {
            args.push(("left", ArgValue::Text(l.left(s))));
        }
        args.push(("ticket", ArgValue::Text(l.duration(w.kept.ticket))));
        args.push(("turn", ArgValue::Text(l.duration(w.kept.turn))));
        let texts = Texts {
            catalog: self.catalog.clone(),
            lang,
            args,
        };
        let languages: Vec<minijinja::Value> = self
            .catalog
            .languages()
            .iter()
            .enumerate()
            .map(|(i, o)| minijinja::context! { tag => o.tag(), name => o.name(), current => i == lang })
            .collect();
        minijinja::context! {
            lang => l.tag(),
            dir => l.dir(),
            t => minijinja::Value::from_object(texts),
            languages => languages,
            script_texts => minijinja::Value::from_safe_string(l.script_texts().to_string()),
            still => w.still,
            position_text => slot(Slot::Position),
            eta_text => slot(Slot::EtaText),
            updated_iso => slot(Slot::UpdatedIso),
            updated_text => slot(Slot::UpdatedText),
            refresh_seconds => slot(Slot::Refresh),
            poll_after_seconds => slot(Slot::PollAfter),
            ahead_text => slot(Slot::Ahead),
            title_text => slot(Slot::Title),
            here => slot(Slot::Here),
            status_url => format!("/_vestibule/status?room={}", w.room),
            opens_text => w.opens_at.map(|t| opening_text(&t, w.opens_in_seconds.unwrap_or(0))),
            opens_in_text => w.opens_in_seconds.map(|s| l.left(s)),
            ..minijinja::Value::from_serialize(w)
        }
    }

    /// Renders the template once with a marker in place of each
    /// per-visitor value and cuts the output at the markers.
    fn prepare(&self, w: &Waiting<'_>, lang: usize) -> Option<Prepared> {
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
        let marker = |s: Slot| {
            let i = SLOTS
                .iter()
                .position(|x| std::mem::discriminant(x) == std::mem::discriminant(&s));
            format!("{MARK}{}{MARK}", i.unwrap_or(0))
        };
        let ctx = self.context(w, lang, &marker);
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
    fn render(&self, w: &Waiting<'_>, lang: usize, refresh: u64, here: &str) -> String {
        let l = self.language(lang);
        let value = |s: Slot| match s {
            Slot::Position => w.place_in(l),
            Slot::EtaText => w.eta_in(l),
            Slot::UpdatedIso => w.updated_iso.as_str().to_string(),
            Slot::UpdatedText => w.updated_iso.clock_text(),
            Slot::Refresh => refresh.to_string(),
            Slot::PollAfter => w.poll_after_seconds.to_string(),
            Slot::Ahead => w.ahead_in(l),
            Slot::Title => w.title_in(l),
            Slot::Here => here.to_string(),
        };
        let ctx = self.context(w, lang, &value);
        self.env
            .get_template("waiting.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "waiting page template failed; sending the plain page");
                let text = l.text1("waiting-plain", "place", w.place_in(l));
                format!(
                    "<!doctype html><html lang=\"{}\"><meta http-equiv=refresh content={}><title>{}</title><p>{}",
                    l.tag(),
                    w.poll_after_seconds,
                    minijinja::HtmlEscape(&l.text("waiting-heading", None)),
                    minijinja::HtmlEscape(&text)
                )
            })
    }

    /// A short page for errors and refusals, in language `lang`.
    pub fn message(&self, status: u16, lang: usize, m: &Message<'_>, retry_after: Option<u64>) -> String {
        let l = self.language(lang);
        let (title, message) = m.texts(l);
        // No automatic refresh: a page reloading under a screen reader's
        // feet fails WCAG 2.2.1, and these pages are brief stops; a link
        // tries again when the visitor wants (`Retry-After` still tells
        // programs when).
        let retry_text = retry_after.map(|s| l.text1("message-retry", "seconds", s));
        let try_again = l.text("message-try-again", None);
        self.env
            .get_template("message.html")
            .and_then(|t| {
                t.render(minijinja::context! {
                    status, title, message, retry_after, retry_text, try_again, lang => l.tag(), dir => l.dir()
                })
            })
            .unwrap_or_else(|_| format!("{status} {title}: {message}"))
    }

    /// The response for an error or a refusal in language `lang`: the
    /// short page, or JSON when the client asked for it (`error`, the
    /// title in English whatever the language, `message` and `lang`);
    /// never cached, with `Retry-After` when trying again makes sense.
    pub fn message_response(
        &self,
        status: StatusCode,
        lang: usize,
        m: &Message<'_>,
        retry: Option<u64>,
        json: bool,
    ) -> Response<Body> {
        let mut r = if json {
            let l = self.language(lang);
            let (_, message) = m.texts(l);
            let (error, _) = m.texts(Catalog::reference());
            let body =
                serde_json::json!({ "error": error, "message": message, "lang": l.tag(), "status": status.as_u16() });
            respond(status, "application/json", body.to_string())
        } else {
            respond(
                status,
                "text/html; charset=utf-8",
                self.message(status.as_u16(), lang, m, retry),
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

/// `tr(id, name=value, ...)` in a template: message `id` in the page's
/// language with those arguments, escaped, except that an argument that
/// is already HTML (a `{% set %}` block, say) goes in as it is. So a
/// translated sentence can hold an element the page's script updates
/// (`Last updated <time id="updated">...</time>.`) in the place its
/// language puts it.
fn tr(
    catalog: &Catalog,
    state: &minijinja::State,
    id: &str,
    kwargs: Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let tag = state.lookup("lang");
    let lang = catalog.get(
        tag.as_ref()
            .and_then(|t| t.as_str())
            .and_then(|t| catalog.find(t))
            .unwrap_or(usize::MAX),
    );
    let mut args = FluentArgs::new();
    let mut markup: Vec<(String, String)> = Vec::new();
    for name in kwargs.args() {
        let v: minijinja::Value = kwargs.get(name)?;
        if v.is_safe() {
            let placeholder = format!("{OPEN}{name}{CLOSE}");
            markup.push((placeholder.clone(), v.to_string()));
            args.set(name.to_string(), placeholder);
        } else if let Some(n) = v.as_i64().and_then(|n| u64::try_from(n).ok()) {
            args.set(name.to_string(), n);
        } else {
            args.set(name.to_string(), v.to_string());
        }
    }
    let text = lang.text(id, Some(&args));
    let mut html = minijinja::HtmlEscape(&text).to_string();
    for (placeholder, h) in markup {
        html = html.replacen(&placeholder, &h, 1);
    }
    Ok(minijinja::Value::from_safe_string(html))
}

/// The query parameter with which a visitor without JavaScript stops the
/// waiting page refreshing itself (`?vst_refresh=off`): WCAG 2.2.1 asks
/// that a timed refresh can be turned off. Prefixed, as it reaches the
/// site with the rest of the query once the visitor is let in.
pub const STILL_PARAM: &str = "vst_refresh";

/// The start of the page's own links (the language picker, refreshing
/// on and off): the page's own query without `lang` and `vst_refresh`,
/// ready for `lang=xx` (`?` or `?step=2&`). Relative to the page, so a
/// link never leaves it.
fn picker_base(query: Option<&str>) -> String {
    let mut out = String::from("?");
    for kv in query.unwrap_or("").split('&') {
        let key = kv.split_once('=').map_or(kv, |(k, _)| k);
        if kv.is_empty() || key == lang::PARAM || key == STILL_PARAM {
            continue;
        }
        out.push_str(kv);
        out.push('&');
    }
    out
}

impl Prepared {
    /// The page for `w` in `lang`, as the template would render it.
    fn fill(&self, w: &Waiting<'_>, lang: &Language, refresh: u64, here: &str) -> String {
        let len: usize = self
            .parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.len(),
                Part::Slot(_) => 32,
            })
            .sum();
        let mut out = String::with_capacity(len);
        let mut num = itoa::Buffer::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Slot(Slot::Position) => escaped(&mut out, &w.place_in(lang)),
                Part::Slot(Slot::EtaText) => escaped(&mut out, &w.eta_in(lang)),
                Part::Slot(Slot::UpdatedIso) => escaped(&mut out, w.updated_iso.as_str()),
                Part::Slot(Slot::UpdatedText) => {
                    out.push_str(w.updated_iso.clock());
                    out.push_str(" UTC");
                }
                Part::Slot(Slot::Refresh) => out.push_str(num.format(refresh)),
                Part::Slot(Slot::PollAfter) => out.push_str(num.format(w.poll_after_seconds)),
                Part::Slot(Slot::Ahead) => escaped(&mut out, &w.ahead_in(lang)),
                Part::Slot(Slot::Title) => escaped(&mut out, &w.title_in(lang)),
                Part::Slot(Slot::Here) => escaped(&mut out, here),
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

    fn pages() -> Pages {
        Pages::new(None, Arc::new(Catalog::built_in())).unwrap()
    }

    #[test]
    fn builtin_template_renders() {
        let p = pages();
        let w = Waiting::new("reg", "t", None, 3, false, Some(120), 7, 0);
        let t = p.env.get_template("waiting.html").unwrap();
        t.render(p.context(&w, 0, &|_| String::new())).unwrap();
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
        let p = pages();
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
                    let prepared = p.prepared(&w, 0).expect("the built-in page prepares");
                    assert_eq!(
                        prepared.fill(&w, p.language(0), 6, "?"),
                        p.render(&w, 0, 6, "?"),
                        "{title} {pos} {returner} {eta:?} {}",
                        w.drawn
                    );
                    assert_eq!(
                        prepared
                            .fill(&w, p.language(0), 6, "?")
                            .contains("in the order drawn at random"),
                        w.drawn,
                        "a drawn place says so, and only a drawn place"
                    );
                }
            }
        }
        // A pre-queue's page is rendered whole, with its countdown, and is
        // not taken for the line's.
        let line = Waiting::new("reg-a", "t", None, 2, false, Some(60), 5, 0);
        assert!(
            p.waiting(&line, 0, None).contains("about 1 minute")
                && !p.waiting(&line, 0, None).contains(r#"id="opens""#)
        );
        let before = line.clone().before_opening(12 * 60_000, 0);
        let page = p.waiting(&before, 0, None);
        assert!(
            page.contains("The doors open at") && page.contains("about 12 minutes"),
            "{page}"
        );
        assert!(page.contains(">00:12 UTC</time>"), "{page}");
        assert!(
            page.contains("Time left: <span id=\"opens-in\">about 12 minutes</span>"),
            "{page}"
        );
        // Drawn at the opening: no place, no estimate before the draw; the
        // page and the JSON say so.
        let drawn = before.clone().drawn_at_opening();
        let page = p.waiting(&drawn, 0, None);
        assert!(page.contains("<title>In line: place drawn at the opening"), "{page}");
        assert!(
            page.contains(r#"<dd id="position" class="words">drawn when the doors open</dd>"#),
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
        assert!(!p.waiting(&before, 0, None).contains("drawn at random"));
        let far = line.clone().before_opening(3 * 86_400_000, 0);
        assert!(
            p.waiting(&far, 0, None).contains(">1970-01-04 00:00 UTC</time>"),
            "the date, days off"
        );
        assert!(!p.waiting(&line, 0, None).contains(r#"id="opens""#));
        // A new notice is a new page, not the last one's.
        let w = |notice| Waiting::new("reg-a", "t", None, 2, false, None, 5, 0).noticed(notice);
        assert!(p
            .waiting(&w(Some("Back at 10:15.")), 0, None)
            .contains("Back at 10:15."));
        assert!(p
            .waiting(&w(Some("Back at 10:30.")), 0, None)
            .contains("Back at 10:30."));
        assert!(!p.waiting(&w(None), 0, None).contains("Back at"));
        let odd = format!("Apple {MARK}4{MARK} day");
        let w = Waiting::new("reg", &odd, None, 2, false, Some(60), 5, 0);
        assert!(p.prepared(&w, 0).is_none(), "a title holding the marker is never cut");
        assert_eq!(p.waiting(&w, 0, None).len(), p.render(&w, 0, 5, "?").len());
        assert!(p.waiting(&w, 0, None).contains(&odd));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("custom.html");
        std::fs::write(&f, "{% if position == 1 %}next!{% else %}{{ position }}{% endif %}").unwrap();
        let custom = Pages::new(Some(&f), Arc::new(Catalog::built_in())).unwrap();
        let w = Waiting::new("reg", "t", None, 1, false, None, 5, 0);
        assert!(custom.prepared(&w, 0).is_none(), "custom templates are rendered whole");
        assert_eq!(custom.waiting(&w, 0, None), "next!");
    }

    #[test]
    fn eta_texts() {
        assert_eq!(eta_text(None, false), "measuring…");
        assert_eq!(eta_text(Some(59), false), "less than a minute");
        assert_eq!(eta_text(Some(61), false), "about 2 minutes");
        assert_eq!(eta_text(Some(60), false), "about 1 minute");
        // Rounded up, to a step that grows with the wait.
        assert_eq!(eta_text(Some(10 * 60), false), "about 10 minutes");
        assert_eq!(eta_text(Some(10 * 60 + 1), false), "about 15 minutes");
        assert_eq!(eta_text(Some(41 * 60), false), "about 45 minutes");
        assert_eq!(eta_text(Some(61 * 60), false), "about 75 minutes");
        assert_eq!(eta_text(Some(3 * 3600 + 60), false), "about 3 h 15 min");
        assert_eq!(eta_text(Some(7_190), false), "about 2 h 0 min");
        assert_eq!(eta_text(None, true), "a few seconds");
    }

    #[test]
    fn waiting_page_escapes_and_refreshes_without_js() {
        let p = pages();
        let w = Waiting::new("reg", "<Big> sale", None, 3, false, Some(120), 7, 1_700_000_000_000);
        let html = p.waiting(&w, 0, None);
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
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.html");
        std::fs::write(&f, "{% if %}").unwrap();
        assert!(matches!(
            Pages::new(Some(&f), Arc::new(Catalog::built_in())),
            Err(PageError::Template { .. })
        ));
        assert!(matches!(
            Pages::new(Some(&dir.path().join("missing.html")), Arc::new(Catalog::built_in())),
            Err(PageError::Read { .. })
        ));
    }

    /// The page in each built-in language: its `lang`, its texts, its
    /// numbers and plurals, the picker; the prepared page is the rendered
    /// one in every language.
    #[test]
    fn the_page_in_each_language() {
        let p = pages();
        let cases = [
            (
                "en",
                "In line: place 1,234 – Tickets",
                "1,233 people ahead of you",
                "You are in line",
            ),
            (
                "fr",
                "Dans la file\u{a0}: place 1\u{202f}234 – Tickets",
                "1\u{202f}233 personnes devant vous",
                "Vous êtes dans la file d’attente",
            ),
            (
                "de",
                "In der Warteschlange: Platz 1.234 – Tickets",
                "1.233 Personen vor Ihnen",
                "Sie sind in der Warteschlange",
            ),
            (
                "nl",
                "In de rij: plaats 1.234 – Tickets",
                "1.233 personen voor u",
                "U staat in de rij",
            ),
            (
                "es",
                "En la fila: puesto 1234 – Tickets",
                "1233 personas delante de usted",
                "Está en la fila",
            ),
        ];
        for (i, (tag, title, ahead, heading)) in cases.into_iter().enumerate() {
            assert_eq!(p.language(i).tag(), tag);
            let w = Waiting::new("reg", "Tickets", None, 1_234, false, Some(600), 7, 1_700_000_000_000);
            let html = p.waiting(&w, i, Some("step=2&lang=xx"));
            assert!(
                html.starts_with(&format!("<!doctype html>\n<html lang=\"{tag}\" dir=\"ltr\">")),
                "{tag}"
            );
            assert!(html.contains(&format!("<title>{title}</title>")), "{tag}: {html}");
            assert!(
                html.contains(&format!(r#"<dd class="ahead" id="ahead">{ahead}</dd>"#)),
                "{tag}: {html}"
            );
            assert!(html.contains(&format!("<h1>{heading}</h1>")), "{tag}");
            assert!(
                html.contains(&format!(r#"<dd id="eta">{}</dd>"#, p.language(i).eta(Some(600), false))),
                "{tag}"
            );
            // The picker: every language in its own name, the page's query kept.
            for (j, l) in p.catalog().languages().iter().enumerate() {
                let current = if i == j { r#" aria-current="true""# } else { "" };
                let link = format!(
                    r#"<a href="?step=2&amp;lang={0}" lang="{0}" hreflang="{0}"{current}>{1}</a>"#,
                    l.tag(),
                    l.name()
                );
                assert!(html.contains(&link), "{tag}: {link}\n{html}");
            }
            let prepared = p.prepared(&w, i).expect("prepares");
            assert_eq!(
                prepared.fill(&w, p.language(i), 6, "?"),
                p.render(&w, i, 6, "?"),
                "{tag}"
            );
            // The first in line: nobody ahead.
            let first = Waiting::new("reg", "Tickets", None, 1, false, None, 7, 0);
            let html = p.waiting(&first, i, None);
            assert!(!html.contains(ahead), "{tag}");
            assert!(
                html.contains(&p.language(i).text1("waiting-ahead", "count", 0u64)),
                "{tag}"
            );
        }
    }

    /// The English catalog says what the JSON's neutral `eta_text` says.
    #[test]
    fn english_estimates_match_the_json_s() {
        let c = Catalog::built_in();
        let en = c.get(0);
        for s in [
            None,
            Some(0),
            Some(59),
            Some(60),
            Some(61),
            Some(5_399),
            Some(5_400),
            Some(7_190),
            Some(90_000),
        ] {
            for returner in [false, true] {
                assert_eq!(en.eta(s, returner), eta_text(s, returner), "{s:?} {returner}");
            }
        }
        let w = Waiting::new("reg", "t", None, 3, false, Some(60), 7, 0);
        assert_eq!(w.clone().paused().eta_in(en), PAUSED_TEXT);
        assert_eq!(w.before_opening(60_000, 0).drawn_at_opening().eta_in(en), DRAW_TEXT);
    }

    #[test]
    fn messages_and_json_in_the_language_chosen() {
        let p = pages();
        let de = p.catalog().find("de").unwrap();
        let html = p.message(503, de, &Message::InLine, Some(10));
        assert!(html.contains(r#"<html lang="de" dir="ltr">"#), "{html}");
        assert!(html.contains("<title>Sie sind in der Warteschlange</title>"), "{html}");
        assert!(
            html.contains("Sie können es in 10 Sekunden erneut versuchen. <a href=\"\">Erneut versuchen</a>"),
            "{html}"
        );
        let fr = p.catalog().find("fr").unwrap();
        let m = Message::Closed {
            room: "Billetterie",
            notice: None,
            submit: true,
        };
        let html = p.message(403, fr, &m, None);
        assert!(
            html.contains("Accès fermé\u{a0}: Billetterie") && html.contains("Rien n’a été envoyé."),
            "{html}"
        );
        // JSON: the title in English whatever the language, the text in it.
        let r = p.message_response(StatusCode::GATEWAY_TIMEOUT, de, &Message::Timeout, Some(10), true);
        assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
        let w = Waiting::new("reg", "t", None, 1_234, false, Some(600), 7, 0);
        let told = w.clone().told(p.language(fr));
        let json: serde_json::Value = serde_json::from_str(&told.to_json()).unwrap();
        assert_eq!(json["lang"], "fr");
        assert_eq!(
            json["message"],
            "Votre place dans la file\u{a0}: 1\u{202f}234. Attente estimée\u{a0}: environ 10 minutes"
        );
        assert_eq!(told.to_json(), serde_json::to_string(&told).unwrap());
        assert!(!w.to_json().contains("message"), "neutral unless told");
        let json: serde_json::Value = serde_json::from_str(&admitted_json("reg", Some(p.language(de)))).unwrap();
        assert_eq!(
            json["message"],
            "Sie sind an der Reihe: Öffnen Sie die Seite erneut, um fortzufahren."
        );
        assert_eq!(picker_base(None), "?");
        assert_eq!(picker_base(Some("lang=fr")), "?");
        assert_eq!(picker_base(Some("a=1&lang=fr&b=%20")), "?a=1&b=%20&");
        assert_eq!(picker_base(Some("a=1&vst_refresh=off&lang=fr")), "?a=1&");
    }

    /// Without JavaScript the page refreshes itself, and says how to stop
    /// it (WCAG 2.2.1); stopped, it refreshes no more, says so, and links
    /// to a check and back to refreshing. Either way, and in every
    /// language, it says how long a visitor who closes it keeps their
    /// place, from the room's settings.
    #[test]
    fn refreshing_can_be_stopped_and_closing_is_explained() {
        let p = pages();
        let kept = Kept {
            ticket: 86_400,
            turn: 660,
        };
        let w = Waiting::new("reg", "t", None, 3, false, Some(120), 7, 0).keeping(kept);
        let moving = p.waiting(&w, 0, Some("step=2"));
        assert!(moving.contains(r#"<noscript><meta http-equiv="refresh""#), "{moving}");
        assert!(
            moving.contains(r#"<a href="?step=2&amp;vst_refresh=off">Stop refreshing</a>"#),
            "{moving}"
        );
        assert!(
            moving.contains("kept in this browser for up to 24 hours after you joined the line")
                && moving.contains("come back within 11 minutes"),
            "{moving}"
        );
        let still = p.waiting(&w, 0, Some("step=2&vst_refresh=off"));
        assert!(!still.contains("http-equiv"), "{still}");
        assert!(still.contains("This page no longer refreshes on its own"), "{still}");
        assert!(
            still.contains(r#"<a href="?step=2&amp;">Refresh on its own again</a>"#),
            "{still}"
        );
        assert!(
            still.contains(r#"href="?step=2&amp;vst_refresh=off&amp;lang=fr""#),
            "{still}"
        );
        // The prepared page is cached per shape: asked for again, the
        // moving page still moves.
        assert!(p.waiting(&w, 0, Some("step=2")).contains("http-equiv"));
        for (i, l) in p.catalog().languages().iter().enumerate() {
            let page = p.waiting(&w, i, None);
            assert!(
                page.contains(&l.duration(86_400)) && page.contains(&l.duration(660)),
                "{page}"
            );
        }
    }
}
