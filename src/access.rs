//! The access log: one line per request on the public listener, in the
//! format `[log] access` names: `text` (logfmt, `key=value` pairs: readable,
//! and parsed as they are by Loki, Vector and most log shippers), `json`
//! (an object a line) or `combined` (nginx's, for tooling that reads it).
//!
//! A request's line is put together as the request goes. [`AccessLog::start`]
//! copies what the request says (client, method, target, agent); the gate
//! leaves a [`Note`] in the response's extensions (room, outcome, visitor,
//! upstream time); the response body ([`crate::idle::Tracked`]) counts the
//! bytes and, when it ends, hands the [`Entry`] to the log.
//!
//! Lines are formatted and written by a thread of their own, behind a
//! bounded queue: a request never waits on the log, nor formats its line.
//! When the queue is full (the disk, or whoever reads standard output,
//! cannot keep up), lines are dropped and counted
//! (`vestibule_access_log_dropped_total`); requests never are.
//!
//! The visitor is named by their ticket or session number, never by a
//! token: a number says who it was, and lets nobody in.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{self, HeaderMap};
use http::{Method, Request, Response, Version};
use prometheus::IntCounter;

use crate::config::AccessFormat as Format;
use crate::room::Room;

/// Lines waiting for the writer. At 20,000 requests a second this is
/// about half a second of traffic: more than a write's usual stall, and
/// few enough (an entry is some 200 bytes) to cost little memory.
const QUEUE: usize = 8192;

/// Formatted lines are written once this much is ready, or when the
/// queue is empty.
const BATCH: usize = 64 * 1024;

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

    /// Leaves this note on `resp`, for its access log line.
    pub fn on<B>(self, mut resp: Response<B>) -> Response<B> {
        resp.extensions_mut().insert(self);
        resp
    }
}

/// One request's line, filled in as the request goes.
#[derive(Debug)]
pub struct Entry {
    log: Arc<AccessLog>,
    started: Instant,
    time: SystemTime,
    client: IpAddr,
    method: Method,
    version: Version,
    /// Path and query, as the client sent them.
    target: String,
    user_agent: Option<String>,
    referer: Option<String>,
    status: u16,
    bytes: u64,
    duration: Duration,
    /// The response ended before its last byte (the client went away, or
    /// the upstream broke off).
    cut: bool,
    note: Option<Note>,
}

impl Entry {
    /// Takes the response's status and the gate's note.
    pub fn answered<B>(&mut self, resp: &mut Response<B>) {
        self.status = resp.status().as_u16();
        self.note = resp.extensions_mut().remove::<Note>();
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
        log.send(Msg::Line(self));
    }
}

enum Msg {
    Line(Box<Entry>),
    /// Close and open the file again (after a log rotation).
    Reopen,
    /// Write out everything queued, then say so.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    /// Appended to; opened again on SIGHUP, for log rotation.
    File(PathBuf),
}

/// The access log of one running vestibule.
#[derive(Debug)]
pub struct AccessLog {
    queue: SyncSender<Msg>,
    dropped: IntCounter,
    /// `[server] trust_forwarded_headers`, followed live: when set, the
    /// client is the last `X-Forwarded-For` address (the one the proxy in
    /// front saw), else the connection's peer.
    trust_forwarded: AtomicBool,
    /// A full queue has been logged since it last had room.
    full_logged: AtomicBool,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Line(_) => "Line",
            Msg::Reopen => "Reopen",
            Msg::Flush(_) => "Flush",
        })
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
        let (queue, rx) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_lines(rx, format, sink))?;
        Ok(Arc::new(AccessLog {
            queue,
            dropped,
            trust_forwarded: AtomicBool::new(trust_forwarded),
            full_logged: AtomicBool::new(false),
        }))
    }

    /// Starts the line of a request from `peer`.
    pub fn start<B>(self: &Arc<Self>, req: &Request<B>, peer: SocketAddr) -> Box<Entry> {
        let h = req.headers();
        let text = |name: header::HeaderName| h.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let client = if self.trust_forwarded.load(Ordering::Relaxed) {
            forwarded_client(h).unwrap_or(peer.ip())
        } else {
            peer.ip()
        };
        Box::new(Entry {
            log: self.clone(),
            started: Instant::now(),
            time: SystemTime::now(),
            client,
            method: req.method().clone(),
            version: req.version(),
            target: req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            user_agent: text(header::USER_AGENT),
            referer: text(header::REFERER),
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
        let _ = self.queue.send(Msg::Reopen);
    }

    /// Resolves once every line sent before it is written.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        // A blocking send on a full queue would stall this task's thread
        // until the writer catches up; off the runtime's threads instead.
        let queue = self.queue.clone();
        let sent = tokio::task::spawn_blocking(move || queue.send(Msg::Flush(done)).is_ok()).await;
        if sent.unwrap_or(false) {
            let _ = wait.await;
        }
    }

    fn send(&self, msg: Msg) {
        match self.queue.try_send(msg) {
            Ok(()) => {
                if self.full_logged.load(Ordering::Relaxed) {
                    self.full_logged.store(false, Ordering::Relaxed);
                }
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.inc();
                if !self.full_logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        queue = QUEUE,
                        "access log: the writer cannot keep up; lines are dropped (counted in \
                         vestibule_access_log_dropped_total) until it does"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }
}

/// The last address of the `X-Forwarded-For` headers: the one the proxy
/// in front of vestibule saw. Earlier ones are whatever the client said.
fn forwarded_client(h: &HeaderMap) -> Option<IpAddr> {
    let last = h.get_all("x-forwarded-for").iter().next_back()?;
    let addr = last.to_str().ok()?.rsplit(',').next()?.trim();
    addr.parse().ok()
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

/// The writer thread: formats lines as they come and writes them in
/// batches, flushing whenever the queue runs dry. Ends when every sender
/// is gone.
fn write_lines(rx: Receiver<Msg>, format: Format, mut sink: Sink) {
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH + 4096);
    let mut line = String::with_capacity(512);
    let mut failed = false;
    let mut flush = |sink: &mut Sink, buf: &mut Vec<u8>| {
        if buf.is_empty() {
            return;
        }
        match sink.write_all(buf) {
            Ok(()) => failed = false,
            Err(e) if !std::mem::replace(&mut failed, true) => {
                tracing::error!(error = %e, "access log: cannot write; lines are lost until it can");
            }
            Err(_) => {}
        }
        buf.clear();
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(e) => {
                    line.clear();
                    write_entry(&mut line, format, &e);
                    buf.extend_from_slice(line.as_bytes());
                    if buf.len() >= BATCH {
                        flush(&mut sink, &mut buf);
                    }
                }
                Msg::Reopen => {
                    flush(&mut sink, &mut buf);
                    sink.reopen();
                }
                Msg::Flush(done) => {
                    flush(&mut sink, &mut buf);
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        flush(&mut sink, &mut buf);
    }
}

/// Appends `e`'s line, with its newline.
pub fn write_entry(out: &mut String, format: Format, e: &Entry) {
    let time = humantime::format_rfc3339_millis(e.time).to_string();
    let note = e.note.as_ref();
    let room = note.and_then(|n| n.room.as_ref()).map(|r| r.name());
    let outcome = note.map_or("-", |n| n.outcome);
    let (ticket, session) = match note.and_then(|n| n.visitor) {
        Some(Visitor::Ticket(n)) => (Some(n), None),
        Some(Visitor::Session(n)) => (None, Some(n)),
        None => (None, None),
    };
    let upstream = note.and_then(|n| n.upstream).map(ms);
    let version = version(e.version);
    match format {
        Format::Text => {
            let _ = write!(out, "time={time} client={} method=", e.client);
            logfmt(out, e.method.as_str());
            out.push_str(" path=");
            logfmt(out, &e.target);
            let _ = write!(
                out,
                " proto={version} status={} bytes={} duration_ms={:.3}",
                e.status,
                e.bytes,
                ms(e.duration)
            );
            if let Some(r) = room {
                out.push_str(" room=");
                logfmt(out, r);
            }
            let _ = write!(out, " outcome={outcome}");
            if let Some(n) = ticket {
                let _ = write!(out, " ticket={n}");
            }
            if let Some(n) = session {
                let _ = write!(out, " session={n}");
            }
            if let Some(u) = upstream {
                let _ = write!(out, " upstream_ms={u:.3}");
            }
            if e.cut {
                out.push_str(" cut=true");
            }
            if let Some(ua) = &e.user_agent {
                out.push_str(" user_agent=");
                logfmt(out, ua);
            }
            if let Some(r) = &e.referer {
                out.push_str(" referer=");
                logfmt(out, r);
            }
        }
        Format::Json => {
            let _ = write!(out, "{{\"time\":\"{time}\",\"client\":\"{}\",\"method\":", e.client);
            json_str(out, e.method.as_str());
            out.push_str(",\"path\":");
            json_str(out, &e.target);
            let _ = write!(
                out,
                ",\"proto\":\"{version}\",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"room\":",
                e.status,
                e.bytes,
                ms(e.duration)
            );
            json_opt(out, room);
            let _ = write!(out, ",\"outcome\":\"{outcome}\",\"ticket\":");
            json_num(out, ticket);
            out.push_str(",\"session\":");
            json_num(out, session);
            out.push_str(",\"upstream_ms\":");
            match upstream {
                Some(u) => {
                    let _ = write!(out, "{u:.3}");
                }
                None => out.push_str("null"),
            }
            let _ = write!(out, ",\"cut\":{},\"user_agent\":", e.cut);
            json_opt(out, e.user_agent.as_deref());
            out.push_str(",\"referer\":");
            json_opt(out, e.referer.as_deref());
            out.push('}');
        }
        Format::Combined => {
            // nginx: $remote_addr - $remote_user [$time_local] "$request"
            // $status $body_bytes_sent "$http_referer" "$http_user_agent",
            // with the time in UTC.
            let _ = write!(out, "{} - - [{}] \"", e.client, clf_time(&time));
            nginx_escaped(out, e.method.as_str());
            out.push(' ');
            nginx_escaped(out, &e.target);
            let _ = write!(out, " {version}\" {} {} \"", e.status, e.bytes);
            nginx_escaped(out, e.referer.as_deref().unwrap_or("-"));
            out.push_str("\" \"");
            nginx_escaped(out, e.user_agent.as_deref().unwrap_or("-"));
            out.push('"');
        }
    }
    out.push('\n');
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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

/// `2026-12-02T18:55:26.123Z` as nginx's `$time_local` in UTC:
/// `02/Dec/2026:18:55:26 +0000`.
fn clf_time(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let part = |r: std::ops::Range<usize>| rfc3339.get(r).unwrap_or("00");
    let month = part(5..7)
        .parse::<usize>()
        .map_or("Jan", |m| MONTHS[(m.clamp(1, 12)) - 1]);
    format!("{}/{month}/{}:{} +0000", part(8..10), part(0..4), part(11..19))
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
        Some(n) => {
            let _ = write!(out, "{n}");
        }
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
        write_entry(&mut s, format, e);
        s
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
