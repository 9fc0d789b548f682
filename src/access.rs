//! The access log: one line per request on the public listener, in the
//! format `[log] access` names: `text` (logfmt, `key=value` pairs: readable,
//! and parsed as they are by Loki, Vector and most log shippers), `json`
//! (an object a line) or `combined` (nginx's, for tooling that reads it).
//!
//! A request's line is put together as the request goes. [`AccessLog::start`]
//! copies what the request says (client, method, target, agent); the gate
//! leaves a [`Note`] for its task ([`noted`]: room, outcome, visitor,
//! upstream time); the response body ([`crate::idle::Tracked`]) counts the
//! bytes and, when it ends, hands the [`Entry`] to the log. A request
//! dropped before any answer is logged all the same ([`Unanswered`]).
//!
//! Lines are formatted and written by a thread of their own, which takes
//! what is pending every [`WRITE_EVERY`], behind a bounded queue: a
//! request never waits on the log, nor formats its line.
//! When the queue is full (the disk, or whoever reads standard output,
//! cannot keep up), lines are dropped and counted
//! (`vestibule_access_log_dropped_total`); requests never are.
//!
//! The visitor is named by their ticket or session number, never by a
//! token: a number says who it was, and lets nobody in.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Version};
use prometheus::IntCounter;

use crate::config::AccessFormat as Format;
use crate::room::Room;

/// Lines waiting for the writer. At 20,000 requests a second this is
/// about half a second of traffic: more than a write's usual stall, and
/// few enough (an entry is some 200 bytes) to cost little memory.
const QUEUE: usize = 8192;

/// Formatted lines are written once this much is ready, and when a
/// batch is done.
const BATCH: usize = 64 * 1024;

/// How often the writer comes for lines while they keep coming: a line
/// is on disk within this. Waking it for each line instead cost a
/// request as much as formatting its line (docs/BENCHMARKS.md, "Access
/// log").
const WRITE_EVERY: Duration = Duration::from_millis(100);

/// Who a request in a room came from, as the room knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visitor {
    /// A ticket's number: their place in the room's order.
    Ticket(u64),
    /// An admitted visitor's session, by the number it was admitted under.
    Session(u64),
}

/// What the gate did with a request, left in its response's extensions.
#[derive(Clone)]
pub struct Note {
    pub room: Option<Arc<Room>>,
    /// `session`, `queued`, `bypass`...: the names of
    /// `vestibule_requests_total`'s `outcome`, and a few of the gate's own
    /// (`refused`, `unavailable`, `leave`, `not_found`).
    pub outcome: &'static str,
    pub visitor: Option<Visitor>,
    /// From sending the request upstream to the response's head.
    pub upstream: Option<Duration>,
}

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Note")
            .field("room", &self.room.as_ref().map(|r| r.name()))
            .field("outcome", &self.outcome)
            .field("visitor", &self.visitor)
            .field("upstream", &self.upstream)
            .finish()
    }
}

impl Note {
    /// A note on a request in `room`.
    pub fn room(room: &Arc<Room>, outcome: &'static str, visitor: Option<Visitor>) -> Note {
        Note {
            room: Some(room.clone()),
            outcome,
            visitor,
            upstream: None,
        }
    }

    /// A note on a request in no room.
    pub fn outside(outcome: &'static str) -> Note {
        Note {
            room: None,
            outcome,
            visitor: None,
            upstream: None,
        }
    }

    /// Leaves this note for the line of the request being answered. Only
    /// from inside [`noted`]'s future (a note left anywhere else would be
    /// lost: a debug assertion holds it), and only when there is an
    /// access log.
    pub fn leave(self) {
        let left = NOTE.try_with(|n| n.set(Some(self)));
        debug_assert!(left.is_ok(), "a note left outside access::noted");
    }
}

tokio::task_local! {
    /// The gate's note on the request its task is answering. A task-local
    /// rather than the response's extensions, which cost three
    /// allocations a request (docs/BENCHMARKS.md, "Access log").
    static NOTE: Cell<Option<Note>>;
}

/// Runs `answer` (the gate's work on one request) and returns its output
/// with the note the gate left.
pub async fn noted<F: Future>(answer: F) -> (F::Output, Option<Note>) {
    let mut answer = std::pin::pin!(NOTE.scope(Cell::new(None), answer));
    let out = answer.as_mut().await;
    let note = answer.take_value().and_then(Cell::into_inner);
    (out, note)
}

/// One request's line, filled in as the request goes. Boxed: the response
/// body that carries it is moved several times, and a box is cheaper to
/// move than the entry (an inline entry cost more in copies than the box's
/// allocation: docs/BENCHMARKS.md, "Access log").
#[derive(Debug)]
pub struct Entry {
    log: Arc<AccessLog>,
    started: Instant,
    time: SystemTime,
    client: IpAddr,
    method: Method,
    version: Version,
    texts: Texts,
    status: u16,
    bytes: u64,
    duration: Duration,
    /// The response ended before its last byte (the client went away, or
    /// the upstream broke off).
    cut: bool,
    note: Option<Note>,
}

/// The request's target (path and query, as sent), user agent and
/// referer, one after the other in one string: one allocation a request
/// rather than three.
#[derive(Debug)]
struct Texts {
    all: String,
    /// Where the target ends, then the agent.
    target_end: usize,
    agent_end: usize,
    agent: bool,
    referer: bool,
}

impl Texts {
    fn new(target: &str, agent: Option<&HeaderValue>, referer: Option<&HeaderValue>) -> Texts {
        let len = |v: Option<&HeaderValue>| v.map_or(0, |v| v.len());
        let mut all = String::with_capacity(target.len() + len(agent) + len(referer));
        all.push_str(target);
        let target_end = all.len();
        // Header bytes that are not UTF-8 (obs-text) are replaced.
        let add = |all: &mut String, v: Option<&HeaderValue>| match v.map(HeaderValue::to_str) {
            Some(Ok(text)) => all.push_str(text),
            Some(Err(_)) => all.push_str(&String::from_utf8_lossy(v.map_or(&[], |v| v.as_bytes()))),
            None => {}
        };
        add(&mut all, agent);
        let agent_end = all.len();
        add(&mut all, referer);
        Texts {
            all,
            target_end,
            agent_end,
            agent: agent.is_some(),
            referer: referer.is_some(),
        }
    }

    fn target(&self) -> &str {
        &self.all[..self.target_end]
    }

    fn user_agent(&self) -> Option<&str> {
        self.agent.then(|| &self.all[self.target_end..self.agent_end])
    }

    fn referer(&self) -> Option<&str> {
        self.referer.then(|| &self.all[self.agent_end..])
    }
}

impl Entry {
    /// Takes the response's status and the gate's note.
    pub fn answered(&mut self, status: http::StatusCode, note: Option<Note>) {
        self.status = status.as_u16();
        self.note = note;
    }

    /// Counts body bytes handed to the client.
    pub fn sent(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// The response is over (`whole`: to its last byte): the line goes to
    /// the writer.
    pub fn finish(mut self: Box<Self>, whole: bool) {
        self.duration = self.started.elapsed();
        // A response to HEAD has no body for hyper to take.
        self.cut = !whole && self.method != Method::HEAD;
        let log = self.log.clone();
        log.push(self);
    }
}

/// What waits for the writer thread. Requests add to it under a lock
/// held for a push; the writer takes the whole of it at once.
#[derive(Default)]
struct Pending {
    /// Moved out of their boxes: a box goes back to the allocator of
    /// the thread that made it.
    lines: Vec<Entry>,
    /// Close and open the file again (after a log rotation).
    reopen: bool,
    /// Told once every line before them is written.
    flushed: Vec<tokio::sync::oneshot::Sender<()>>,
    /// The writer found nothing to do and sleeps until woken.
    idle: bool,
    /// The log is gone: write what is left and end.
    closed: bool,
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    /// Appended to; opened again on SIGHUP, for log rotation.
    File(PathBuf),
}

/// The access log of one running vestibule.
pub struct AccessLog {
    pending: Arc<Mutex<Pending>>,
    writer: Thread,
    dropped: IntCounter,
    /// `[server] trust_forwarded_headers`, followed live: when set, the
    /// client is the last `X-Forwarded-For` address (the one the proxy in
    /// front saw), else the connection's peer.
    trust_forwarded: AtomicBool,
    /// A full queue has been logged since it last had room.
    full_logged: AtomicBool,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("trust_forwarded", &self.trust_forwarded)
            .finish_non_exhaustive()
    }
}

impl AccessLog {
    /// Opens the destination and starts the writer thread. `dropped`
    /// counts lines a full queue turned away.
    pub fn open(
        format: Format,
        to: Destination,
        trust_forwarded: bool,
        dropped: IntCounter,
    ) -> io::Result<Arc<AccessLog>> {
        let sink = Sink::open(to)?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let theirs = pending.clone();
        let writer = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(&theirs, format, sink))?;
        Ok(Arc::new(AccessLog {
            pending,
            writer: writer.thread().clone(),
            dropped,
            trust_forwarded: AtomicBool::new(trust_forwarded),
            full_logged: AtomicBool::new(false),
        }))
    }

    /// Starts the line of a request from `peer`.
    pub fn start<B>(self: &Arc<Self>, req: &Request<B>, peer: SocketAddr) -> Box<Entry> {
        let h = req.headers();
        let client = if self.trust_forwarded.load(Ordering::Relaxed) {
            forwarded_client(h).unwrap_or(peer.ip())
        } else {
            peer.ip()
        };
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        Box::new(Entry {
            log: self.clone(),
            started: Instant::now(),
            time: SystemTime::now(),
            client,
            method: req.method().clone(),
            version: req.version(),
            texts: Texts::new(target, h.get(header::USER_AGENT), h.get(header::REFERER)),
            status: 0,
            bytes: 0,
            duration: Duration::ZERO,
            cut: false,
            note: None,
        })
    }

    /// Follows `[server] trust_forwarded_headers` after a reload.
    pub fn set_trust_forwarded(&self, on: bool) {
        self.trust_forwarded.store(on, Ordering::Relaxed);
    }

    /// Opens the file again, for log rotation (standard output: nothing).
    pub fn reopen(&self) {
        self.lock().reopen = true;
        self.writer.unpark();
    }

    /// Resolves once every line finished before it is written.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.lock().flushed.push(done);
        self.writer.unpark();
        let _ = wait.await;
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: Box<Entry>) {
        let line = *line;
        let mut pending = self.lock();
        let n = pending.lines.len();
        if n >= QUEUE {
            drop(pending);
            // Dropped here, with the lock let go: the entry holds the log.
            drop(line);
            self.dropped.inc();
            if !self.full_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    queue = QUEUE,
                    "access log: the writer cannot keep up; lines are dropped (counted in \
                     vestibule_access_log_dropped_total) until it does"
                );
            }
            return;
        }
        pending.lines.push(line);
        // The writer is woken when it sleeps for want of lines, or when
        // half the queue is waiting; otherwise it comes by itself every
        // WRITE_EVERY, and a request never pays for a wake-up.
        let wake = std::mem::take(&mut pending.idle) || n + 1 == QUEUE / 2;
        drop(pending);
        if wake {
            self.writer.unpark();
        }
        if self.full_logged.load(Ordering::Relaxed) {
            self.full_logged.store(false, Ordering::Relaxed);
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.lock().closed = true;
        self.writer.unpark();
    }
}

/// The last address of the `X-Forwarded-For` headers: the one the proxy
/// in front of vestibule saw. Earlier ones are whatever the client said.
fn forwarded_client(h: &HeaderMap) -> Option<IpAddr> {
    let last = h.get_all("x-forwarded-for").iter().next_back()?;
    let addr = last.to_str().ok()?.rsplit(',').next()?.trim();
    addr.parse().ok()
}

/// An entry whose request has no answer yet. Dropped before it gets one
/// (the client went away while the upstream thought, or the connection was
/// closed at shutdown), it is logged all the same, as nginx does: status
/// 499, `cut`.
pub struct Unanswered(Option<Box<Entry>>);

/// nginx's status for a request whose client closed the connection before
/// an answer was sent.
const NO_ANSWER: u16 = 499;

impl Unanswered {
    pub fn new(e: Box<Entry>) -> Unanswered {
        Unanswered(Some(e))
    }

    /// The answer came: the entry, with its status and the gate's note.
    pub fn answered(mut self, status: http::StatusCode, note: Option<Note>) -> Box<Entry> {
        let mut e = self.0.take().expect("an entry is answered once");
        e.answered(status, note);
        e
    }
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(mut e) = self.0.take() {
            e.status = NO_ANSWER;
            e.finish(false);
        }
    }
}

enum Sink {
    Stdout,
    File(PathBuf, File),
}

impl Sink {
    fn open(to: Destination) -> io::Result<Sink> {
        Ok(match to {
            Destination::Stdout => Sink::Stdout,
            Destination::File(p) => {
                let f = append(&p)?;
                Sink::File(p, f)
            }
        })
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => io::stdout().lock().write_all(buf),
            Sink::File(_, f) => f.write_all(buf),
        }
    }

    fn reopen(&mut self) {
        if let Sink::File(p, f) = self {
            match append(p) {
                Ok(new) => *f = new,
                Err(e) => {
                    tracing::error!(path = %p.display(), error = %e, "access log: cannot open the file again; still writing to the old one")
                }
            }
        }
    }
}

fn append(p: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// The writer thread: takes what is pending every [`WRITE_EVERY`] (or
/// when woken), formats it and writes it out; sleeps until woken when
/// there was nothing. Ends when the log is dropped.
fn write_lines(pending: &Mutex<Pending>, format: Format, mut sink: Sink) {
    let mut buf = String::with_capacity(BATCH + 4096);
    let mut lines = Lines::new(format);
    let mut batch: Vec<Entry> = Vec::new();
    let mut failed = false;
    let mut write = |sink: &mut Sink, buf: &mut String| {
        if buf.is_empty() {
            return;
        }
        match sink.write_all(buf.as_bytes()) {
            Ok(()) => failed = false,
            Err(e) if !std::mem::replace(&mut failed, true) => {
                tracing::error!(error = %e, "access log: cannot write; lines are lost until it can");
            }
            Err(_) => {}
        }
        buf.clear();
    };
    loop {
        let (reopen, flushed, closed) = {
            let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut p.lines, &mut batch);
            if batch.is_empty() && !p.reopen && p.flushed.is_empty() && !p.closed {
                p.idle = true;
                drop(p);
                std::thread::park();
                continue;
            }
            (std::mem::take(&mut p.reopen), std::mem::take(&mut p.flushed), p.closed)
        };
        for e in batch.drain(..) {
            lines.write(&mut buf, &e);
            if buf.len() >= BATCH {
                write(&mut sink, &mut buf);
            }
        }
        write(&mut sink, &mut buf);
        if reopen {
            sink.reopen();
        }
        for done in flushed {
            let _ = done.send(());
        }
        if closed {
            return;
        }
        std::thread::park_timeout(WRITE_EVERY);
    }
}

/// Formats lines. Written out by hand rather than with `write!`: the
/// formatting machinery cost more than the rest of a line
/// (docs/BENCHMARKS.md, "Access log"), and it runs for every request.
pub struct Lines {
    format: Format,
    /// The last second formatted, and its text as the format writes it
    /// (`2026-12-02T18:55:26` or `02/Dec/2026:18:55:26 +0000`): lines
    /// come many to the second.
    second: Option<(u64, String)>,
}

impl Lines {
    pub fn new(format: Format) -> Lines {
        Lines { format, second: None }
    }

    /// Appends `e`'s line, with its newline.
    pub fn write(&mut self, out: &mut String, e: &Entry) {
        let since = e.time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let note = e.note.as_ref();
        let room = note.and_then(|n| n.room.as_ref()).map(|r| r.name());
        let outcome = note.map_or("-", |n| n.outcome);
        let (ticket, session) = match note.and_then(|n| n.visitor) {
            Some(Visitor::Ticket(n)) => (Some(n), None),
            Some(Visitor::Session(n)) => (None, Some(n)),
            None => (None, None),
        };
        let upstream = note.and_then(|n| n.upstream);
        let version = version(e.version);
        let t = &e.texts;
        match self.format {
            Format::Text => {
                out.push_str("time=");
                self.rfc3339(out, since);
                out.push_str(" client=");
                ip(out, e.client);
                out.push_str(" method=");
                logfmt(out, e.method.as_str());
                out.push_str(" path=");
                logfmt(out, t.target());
                out.push_str(" proto=");
                out.push_str(version);
                out.push_str(" status=");
                num(out, u64::from(e.status));
                out.push_str(" bytes=");
                num(out, e.bytes);
                out.push_str(" duration_ms=");
                millis(out, e.duration);
                if let Some(r) = room {
                    out.push_str(" room=");
                    logfmt(out, r);
                }
                out.push_str(" outcome=");
                out.push_str(outcome);
                if let Some(n) = ticket {
                    out.push_str(" ticket=");
                    num(out, n);
                }
                if let Some(n) = session {
                    out.push_str(" session=");
                    num(out, n);
                }
                if let Some(u) = upstream {
                    out.push_str(" upstream_ms=");
                    millis(out, u);
                }
                if e.cut {
                    out.push_str(" cut=true");
                }
                if let Some(ua) = t.user_agent() {
                    out.push_str(" user_agent=");
                    logfmt(out, ua);
                }
                if let Some(r) = t.referer() {
                    out.push_str(" referer=");
                    logfmt(out, r);
                }
            }
            Format::Json => {
                out.push_str("{\"time\":\"");
                self.rfc3339(out, since);
                out.push_str("\",\"client\":\"");
                ip(out, e.client);
                out.push_str("\",\"method\":");
                json_str(out, e.method.as_str());
                out.push_str(",\"path\":");
                json_str(out, t.target());
                out.push_str(",\"proto\":\"");
                out.push_str(version);
                out.push_str("\",\"status\":");
                num(out, u64::from(e.status));
                out.push_str(",\"bytes\":");
                num(out, e.bytes);
                out.push_str(",\"duration_ms\":");
                millis(out, e.duration);
                out.push_str(",\"room\":");
                json_opt(out, room);
                out.push_str(",\"outcome\":\"");
                out.push_str(outcome);
                out.push_str("\",\"ticket\":");
                json_num(out, ticket);
                out.push_str(",\"session\":");
                json_num(out, session);
                out.push_str(",\"upstream_ms\":");
                match upstream {
                    Some(u) => millis(out, u),
                    None => out.push_str("null"),
                }
                out.push_str(if e.cut { ",\"cut\":true" } else { ",\"cut\":false" });
                out.push_str(",\"user_agent\":");
                json_opt(out, t.user_agent());
                out.push_str(",\"referer\":");
                json_opt(out, t.referer());
                out.push('}');
            }
            Format::Combined => {
                // nginx: $remote_addr - $remote_user [$time_local]
                // "$request" $status $body_bytes_sent "$http_referer"
                // "$http_user_agent", with the time in UTC.
                ip(out, e.client);
                out.push_str(" - - [");
                let s = since.as_secs();
                out.push_str(self.second(s, clf_second));
                out.push_str("] \"");
                nginx_escaped(out, e.method.as_str());
                out.push(' ');
                nginx_escaped(out, t.target());
                out.push(' ');
                out.push_str(version);
                out.push_str("\" ");
                num(out, u64::from(e.status));
                out.push(' ');
                num(out, e.bytes);
                out.push_str(" \"");
                nginx_escaped(out, t.referer().unwrap_or("-"));
                out.push_str("\" \"");
                nginx_escaped(out, t.user_agent().unwrap_or("-"));
                out.push('"');
            }
        }
        out.push('\n');
    }

    /// `2026-12-02T18:55:26.123Z`.
    fn rfc3339(&mut self, out: &mut String, since: Duration) {
        out.push_str(self.second(since.as_secs(), rfc3339_second));
        let ms = since.subsec_millis();
        out.push('.');
        out.push(char::from(b'0' + (ms / 100) as u8));
        out.push(char::from(b'0' + (ms / 10 % 10) as u8));
        out.push(char::from(b'0' + (ms % 10) as u8));
        out.push('Z');
    }

    /// The text of second `s`, made by `make` when it changed.
    fn second(&mut self, s: u64, make: fn(u64) -> String) -> &str {
        if self.second.as_ref().is_none_or(|(at, _)| *at != s) {
            self.second = Some((s, make(s)));
        }
        self.second.as_ref().map_or("", |(_, t)| t.as_str())
    }
}

/// `2026-12-02T18:55:26`.
fn rfc3339_second(s: u64) -> String {
    let t = humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(s)).to_string();
    t.trim_end_matches('Z').to_string()
}

/// nginx's `$time_local`, in UTC: `02/Dec/2026:18:55:26 +0000`.
fn clf_second(s: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = rfc3339_second(s);
    let part = |r: std::ops::Range<usize>| t.get(r).unwrap_or("00");
    let month = part(5..7)
        .parse::<usize>()
        .map_or("Jan", |m| MONTHS[m.clamp(1, 12) - 1]);
    format!("{}/{month}/{}:{} +0000", part(8..10), part(0..4), part(11..19))
}

fn num(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Milliseconds with three decimals (microseconds), from integers.
fn millis(out: &mut String, d: Duration) {
    let us = d.as_micros();
    out.push_str(itoa::Buffer::new().format(us / 1000));
    let frac = (us % 1000) as u16;
    out.push('.');
    out.push(char::from(b'0' + (frac / 100) as u8));
    out.push(char::from(b'0' + (frac / 10 % 10) as u8));
    out.push(char::from(b'0' + (frac % 10) as u8));
}

fn ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(o));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// A logfmt value: bare when it is plain, else quoted with `"` and `\`
/// escaped and control characters as `\n`, `\t` or `\u{..}`.
fn logfmt(out: &mut String, v: &str) {
    let plain = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'=' | b'\\'));
    if plain {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string.
fn json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_opt(out: &mut String, v: Option<&str>) {
    match v {
        Some(v) => json_str(out, v),
        None => out.push_str("null"),
    }
}

fn json_num(out: &mut String, v: Option<u64>) {
    match v {
        Some(n) => num(out, n),
        None => out.push_str("null"),
    }
}

/// As nginx writes a variable in its log: `"`, `\` and bytes outside
/// printable ASCII as `\xHH`.
fn nginx_escaped(out: &mut String, v: &str) {
    for b in v.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn entry(log: &Arc<AccessLog>, target: &str, ua: Option<&[u8]>) -> Entry {
        let mut req = Request::get(target);
        if let Some(ua) = ua {
            req = req.header(header::USER_AGENT, HeaderValue::from_bytes(ua).unwrap());
        }
        let req = req.body(()).unwrap();
        let mut e = *log.start(&req, SocketAddr::from(([192, 0, 2, 7], 5555)));
        e.time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_000_000_123);
        e.status = 200;
        e.bytes = 1234;
        e.duration = Duration::from_micros(3250);
        e.note = Some(Note {
            room: None,
            outcome: "bypass",
            visitor: Some(Visitor::Session(17)),
            upstream: Some(Duration::from_micros(2000)),
        });
        e
    }

    fn log() -> Arc<AccessLog> {
        let c = IntCounter::new("d", "d").unwrap();
        AccessLog::open(Format::Text, Destination::Stdout, false, c).unwrap()
    }

    fn line(format: Format, e: &Entry) -> String {
        let mut s = String::new();
        Lines::new(format).write(&mut s, e);
        s
    }

    /// A destination that takes nothing (a pipe nobody reads) stalls
    /// the writer: requests go on, the lines past the queue are dropped
    /// and counted, and every line queued is written once it drains.
    #[test]
    fn a_writer_that_cannot_keep_up_drops_lines_and_counts_them() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("access.log");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        // Read and write: opening a pipe so never blocks, and this end
        // reads nothing until the queue has overflowed.
        let mut pipe = OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
        let dropped = IntCounter::new("d", "d").unwrap();
        let log = AccessLog::open(Format::Text, Destination::File(fifo), false, dropped.clone()).unwrap();
        let req = Request::get("/register").body(()).unwrap();
        let peer = SocketAddr::from(([192, 0, 2, 7], 5555));
        let sent = 3 * QUEUE as u64;
        for _ in 0..sent {
            log.start(&req, peer).finish(true);
        }
        // Held at most: what the writer took before it stalled (all that
        // was pending, at most a queue), and a full queue.
        let lost = dropped.get();
        assert!(lost >= sent - 2 * QUEUE as u64, "only {lost} of {sent} dropped");
        let reader = std::thread::spawn(move || {
            let (mut n, mut buf) = (0, vec![0; 1 << 16]);
            while n < sent - lost {
                let got = pipe.read(&mut buf).unwrap();
                n += buf[..got].iter().filter(|b| **b == b'\n').count() as u64;
            }
            n
        });
        let written = reader.join().unwrap();
        assert_eq!(written + lost, sent, "a queued line was lost");
        assert_eq!(dropped.get(), lost, "nothing dropped once the writer caught up");
    }

    #[test]
    fn text_quotes_what_would_break_a_pair() {
        let l = log();
        let e = entry(&l, "/a?q=1", Some(b"Mozilla/5.0 (X11) \"x\""));
        let s = line(Format::Text, &e);
        assert_eq!(
            s,
            "time=2026-11-30T00:53:20.123Z client=192.0.2.7 method=GET path=\"/a?q=1\" proto=HTTP/1.1 \
             status=200 bytes=1234 duration_ms=3.250 outcome=bypass session=17 upstream_ms=2.000 \
             user_agent=\"Mozilla/5.0 (X11) \\\"x\\\"\"\n"
        );
    }

    #[test]
    fn json_is_one_object() {
        let l = log();
        let e = entry(&l, "/r", Some(b"a\tb\xffc\"d"));
        let s = line(Format::Json, &e);
        let v: serde_json::Value = serde_json::from_str(s.trim_end()).unwrap();
        assert_eq!(
            v["user_agent"], "a\tb\u{fffd}c\"d",
            "a byte that is not UTF-8 is replaced"
        );
        assert_eq!(v["session"], 17);
        assert_eq!(v["ticket"], serde_json::Value::Null);
        assert_eq!(v["duration_ms"], 3.25);
    }

    #[test]
    fn combined_is_nginx_s() {
        let l = log();
        let e = entry(&l, "/r?x=1", Some(b"say \"hi\"\xff"));
        assert_eq!(
            line(Format::Combined, &e),
            "192.0.2.7 - - [30/Nov/2026:00:53:20 +0000] \"GET /r?x=1 HTTP/1.1\" 200 1234 \"-\" \"say \\x22hi\\x22\\xEF\\xBF\\xBD\"\n"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "10.9.9.9, 198.51.100.4".parse().unwrap());
        assert_eq!(forwarded_client(&h), Some("198.51.100.4".parse().unwrap()));
        h.append("x-forwarded-for", "2001:db8::1".parse().unwrap());
        assert_eq!(forwarded_client(&h), Some("2001:db8::1".parse().unwrap()));
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_client(&h), None);
    }
}
