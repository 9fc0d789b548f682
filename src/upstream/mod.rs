//! Keep-alive HTTP/1.1 connections to the one upstream, driven inside the
//! task of the client connection they serve.
//!
//! A proxy over hyper's client runs each upstream connection as a task of
//! its own: the request goes to it over a channel, the response head comes
//! back over another, and every chunk of the body over a third, each
//! hand-off waking a task. On the admitted path that was a third of the
//! proxy's instructions (docs/BENCHMARKS.md). Here the exchange is a plain
//! future in the client connection's task: the request head is written to
//! the socket, the response head parsed from it (httparse, the parser hyper
//! uses; [`h1`] is the wire format), and the response body handed to
//! hyper's server as a [`ResponseBody`] that reads the upstream socket
//! itself. One task, one wake-up per socket event.
//!
//! The pool is a stack of idle connections:
//!
//! * A connection goes back on the stack only when its response body has
//!   been read to its end with nothing after it, and neither side asked to
//!   close; a body dropped half-way closes it.
//! * Last in, first out: the busiest connections stay warm and the rest age
//!   out after `idle_timeout`, so a surge's extra connections close once it
//!   has passed. A background sweep closes them with no traffic to do it.
//! * An idle connection has no task reading it, so one the upstream closed
//!   is found by its socket's readiness (tokio's, no system call while
//!   nothing has arrived) when it is checked out or swept, and closed.
//! * A request the upstream closed a reused connection on without a byte
//!   of answer (the upstream timed it out just as it was sent) is sent once
//!   more on a new connection if its method is idempotent and it has no
//!   body, as nginx does; nothing else is repeated.
//! * Connecting reuses hyper-util's `HttpConnector`: name resolution, a
//!   connect timeout, `TCP_NODELAY` and TCP keep-alive. An `https://`
//!   upstream gets TLS over it (rustls, [`Stream`]); the handshake is the
//!   dear part, which pooling pays once per connection.
//! * Each connection keeps one response timer for its whole life and
//!   re-arms it per request. Moving an armed deadline later is a
//!   compare-and-swap in tokio, where a fresh `timeout()` per request
//!   inserts and removes a timer-wheel entry under the driver's lock.
//! * Connections are closed after the pool's lock is released: closing
//!   one also removes its timer from tokio's wheel, under tokio's lock.

pub mod h1;
mod stream;

pub use stream::Stream;

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response, StatusCode, Uri};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::AsyncWrite;
use tower_service::Service;

use h1::{Decoded, Decoder, RequestFraming, RequestHead, ResponseHead};

/// Why no response came back. The caller maps these to 502 or 504.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened.
    Connect(String),
    /// The exchange failed on an open connection.
    Protocol(String),
    /// No response head before the deadline (connecting included).
    Timeout,
    /// The client's request body broke its framing or was abandoned
    /// mid-way; the upstream connection, holding part of a request, was
    /// closed.
    Client(String),
    /// The deadline passed while the exchange waited for the client's
    /// request body (a slow upload), not for the upstream.
    ClientTimeout,
}

/// A pool of connections to one upstream origin. Cheap to clone.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    connector: HttpConnector,
    /// Scheme and authority to connect to.
    origin: Uri,
    /// For an `https://` origin: the client settings and the name its
    /// certificate must hold.
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    idle_timeout: Duration,
    read_timeout: Option<ReadTimeout>,
}

/// How long a response body may wait for the upstream's next bytes
/// (nginx's `proxy_read_timeout`), and the counter of bodies cut off for
/// it. Without one, an upstream that sends a head and stalls holds the
/// client and the connection until the client gives up.
#[derive(Debug, Clone)]
pub struct ReadTimeout {
    pub after: Duration,
    pub cut_off: prometheus::IntCounter,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// The smallest room left in the read buffer before a read: below it, the
/// buffer is grown (or, once the last response's bytes are gone, reused).
const MIN_READ: usize = 1024;
/// How much room a read asks for: one page of a response head, up to
/// this much more of a long body.
const READ_SIZE: usize = 8 * 1024;
const MAX_READ_SIZE: usize = 64 * 1024;

/// One upstream connection.
struct Conn {
    io: Stream,
    /// Read from the upstream and not yet consumed.
    rbuf: BytesMut,
    /// Made on the first exchange with a deadline, then re-armed: for the
    /// response head's deadline, then for the body's read timeout.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why [`Conn::exchange`] brought no response head.
enum Failed {
    /// The deadline passed mid-exchange.
    TimedOut,
    /// The deadline passed while the client's body was awaited.
    ClientTimedOut,
    /// The client's request body failed (it went away mid-upload).
    Client(String),
    /// The upstream connection failed; `answered` if any of a response
    /// had arrived.
    Upstream { error: io::Error, answered: bool },
}

/// Room for at least [`MIN_READ`] more bytes in `buf`, asking for up to
/// `want` (what the body still needs) within the read sizes.
fn make_room(buf: &mut BytesMut, want: usize) {
    if buf.capacity() - buf.len() < MIN_READ {
        buf.reserve(want.clamp(READ_SIZE, MAX_READ_SIZE));
    }
}

/// Where an [`Upload`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    InProgress,
    /// All of the request was written.
    Sent,
    /// Given up: the upstream stopped taking it, or the client's body
    /// failed. The connection is out of step.
    Abandoned,
}

/// A request on its way to the upstream: the bytes still to write (the
/// head, then each piece of body with its chunk framing) and the client's
/// body still to come. A state machine polled with the connection, so that
/// it goes on after the response head has come (an upstream may answer
/// before it has read the whole upload, and echo it back as it reads).
struct Upload {
    /// The request head, and how much of it is written. Kept whole, for
    /// the one retry.
    head: Vec<u8>,
    head_sent: usize,
    /// To write after the head, in order; the written ones are empty.
    out: [Bytes; 3],
    body: Option<Incoming>,
    framing: RequestFraming,
    /// Body bytes taken from the client.
    taken: u64,
    /// The last wait was for the client's body, not the upstream's socket.
    waits_on_client: bool,
    state: Sending,
}

static CRLF: Bytes = Bytes::from_static(b"\r\n");
static LAST_CHUNK: Bytes = Bytes::from_static(b"0\r\n\r\n");

impl Upload {
    fn new(head: Vec<u8>, body: Option<Incoming>, framing: RequestFraming) -> Upload {
        Upload {
            head,
            head_sent: 0,
            out: [Bytes::new(), Bytes::new(), Bytes::new()],
            body,
            framing,
            taken: 0,
            waits_on_client: false,
            state: Sending::InProgress,
        }
    }

    /// The same bodyless request again, for another connection.
    fn restart(&mut self) {
        debug_assert!(self.body.is_none() && self.framing == RequestFraming::Empty);
        self.head_sent = 0;
        self.state = Sending::InProgress;
    }

    /// Writes what it can. An error from the client's side is returned
    /// (the exchange cannot go on without the request); the upstream no
    /// longer taking it only abandons the upload (its answer may be on its
    /// way: an early 413, say).
    fn poll_send(&mut self, io: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        while self.state == Sending::InProgress {
            match ready!(self.poll_step(io, cx)) {
                Ok(true) => {}
                Ok(false) => self.state = Sending::Sent,
                Err(WriteFailed::Upstream) => self.state = Sending::Abandoned,
                Err(WriteFailed::Client(e)) => {
                    self.state = Sending::Abandoned;
                    return Poll::Ready(Err(e));
                }
            }
        }
        // Nothing more will be taken from the client.
        self.body = None;
        Poll::Ready(Ok(()))
    }

    /// One write, or one frame of the body: `Ok(true)` while there is more.
    fn poll_step(&mut self, io: &mut Stream, cx: &mut Context<'_>) -> Poll<Result<bool, WriteFailed>> {
        if self.head_sent < self.head.len() || self.out.iter().any(|b| !b.is_empty()) {
            let mut slices = [IoSlice::new(&[]); 4];
            let mut n = 0;
            let head = &self.head[self.head_sent..];
            for b in std::iter::once(head)
                .chain(self.out.iter().map(|b| &b[..]))
                .filter(|b| !b.is_empty())
            {
                slices[n] = IoSlice::new(b);
                n += 1;
            }
            let mut written = match Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n]) {
                Poll::Pending => {
                    self.waits_on_client = false;
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Err(WriteFailed::Upstream)),
                Poll::Ready(Ok(w)) => w,
            };
            let k = written.min(self.head.len() - self.head_sent);
            self.head_sent += k;
            written -= k;
            for b in &mut self.out {
                let k = written.min(b.len());
                b.advance(k);
                written -= k;
            }
            return Poll::Ready(Ok(true));
        }
        // Everything given is written: out of TLS's records too, before
        // waiting on the client's body or the answer.
        match Pin::new(&mut *io).poll_flush(cx) {
            Poll::Pending => {
                self.waits_on_client = false;
                return Poll::Pending;
            }
            Poll::Ready(Err(_)) => return Poll::Ready(Err(WriteFailed::Upstream)),
            Poll::Ready(Ok(())) => {}
        }
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        let frame = match Pin::new(body).poll_frame(cx) {
            Poll::Pending => {
                self.waits_on_client = true;
                return Poll::Pending;
            }
            Poll::Ready(frame) => frame,
        };
        let frame = match frame {
            None => {
                self.body = None;
                return Poll::Ready(self.end().map(|()| true));
            }
            Some(Err(e)) => return Poll::Ready(Err(WriteFailed::Client(format!("request body: {e}")))),
            Some(Ok(f)) => f,
        };
        // Trailers are dropped (see `end`).
        let Ok(data) = frame.into_data() else {
            return Poll::Ready(Ok(true));
        };
        if data.is_empty() {
            return Poll::Ready(Ok(true));
        }
        self.taken += data.len() as u64;
        self.out = match self.framing {
            RequestFraming::Length(n) if self.taken > n => {
                return Poll::Ready(Err(WriteFailed::Client("request body longer than its length".into())))
            }
            RequestFraming::Chunked => {
                let (line, len) = h1::chunk_size_line(data.len());
                [Bytes::copy_from_slice(&line[..len]), data, CRLF.clone()]
            }
            _ => [data, Bytes::new(), Bytes::new()],
        };
        Poll::Ready(Ok(true))
    }

    /// The client's body has ended: checks its length, or queues the last
    /// chunk. A client's trailers are not passed on: a trailer section is
    /// headers sent after the body, past every rule the head's headers
    /// are held to (vestibule's cookies, the forwarded headers, framing),
    /// and no browser sends one.
    fn end(&mut self) -> Result<(), WriteFailed> {
        match self.framing {
            RequestFraming::Length(n) if self.taken != n => {
                Err(WriteFailed::Client("request body shorter than its length".into()))
            }
            RequestFraming::Chunked => {
                self.out[0] = LAST_CHUNK.clone();
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Why a request could not be written.
enum WriteFailed {
    Upstream,
    /// The client's body failed or broke its own framing.
    Client(String),
}

impl Conn {
    fn new(io: Stream) -> Conn {
        Conn {
            io,
            rbuf: BytesMut::new(),
            timer: None,
        }
    }

    /// The body waits for the upstream: `Err` once it has waited
    /// `limit.after` since `rearm` was last true (bytes came since the
    /// timer was set, or it still held the head's deadline).
    fn poll_read_timeout(&mut self, limit: &ReadTimeout, rearm: bool, cx: &mut Context<'_>) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + limit.after;
        let timer = match &mut self.timer {
            Some(t) => {
                if rearm {
                    t.as_mut().reset(deadline);
                }
                t
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        if timer.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        limit.cut_off.inc();
        tracing::warn!(after = ?limit.after, "the upstream sent nothing more of a response body; cut off");
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the upstream sent nothing for {:?}", limit.after),
        ))
    }

    /// Whether an idle connection can take a request: nothing has arrived
    /// on it (an upstream that closes it sends an end of stream). Once a
    /// read has drained the socket, tokio's readiness says so without a
    /// system call; otherwise one non-blocking read looks.
    fn is_open(&self) -> bool {
        // Bytes past the last answer, already taken off the socket by TLS:
        // out of step, as bytes still on the socket are.
        if self.io.holds_unread() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let tcp = self.io.tcp();
        match tcp.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readiness may be left over from the last response's read:
            // look, without blocking. Bytes or an end both rule it out.
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends `upload` and reads the response head, until `deadline`.
    /// Returns with the upload still in progress if the answer came first.
    async fn exchange(
        &mut self,
        upload: &mut Upload,
        fields: usize,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ResponseHead, Failed> {
        let mut timer = match deadline {
            None => None,
            Some(d) => Some(match &mut self.timer {
                Some(t) => {
                    t.as_mut().reset(d);
                    t
                }
                None => self.timer.insert(Box::pin(tokio::time::sleep_until(d))),
            }),
        };
        let (io, rbuf) = (&mut self.io, &mut self.rbuf);
        let mut answered = false;
        poll_fn(|cx| {
            if let Poll::Ready(Err(e)) = upload.poll_send(io, cx) {
                return Poll::Ready(Err(Failed::Client(e)));
            }
            // A failed write is followed by a failed read (the upstream
            // closed or reset the connection), or by its early answer.
            loop {
                if !rbuf.is_empty() {
                    match h1::parse_response_head(rbuf, fields) {
                        Ok(Some(head))
                            if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS =>
                        {
                            continue
                        }
                        Ok(Some(head)) => return Poll::Ready(Ok(head)),
                        Ok(None) if rbuf.len() >= h1::MAX_HEAD => {
                            let error = h1::head_too_large();
                            return Poll::Ready(Err(Failed::Upstream { error, answered: true }));
                        }
                        Ok(None) => {}
                        Err(error) => return Poll::Ready(Err(Failed::Upstream { error, answered: true })),
                    }
                }
                make_room(rbuf, 0);
                match tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, rbuf) {
                    Poll::Ready(Ok(0)) => {
                        let error = io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            if answered {
                                "connection closed in the response head"
                            } else {
                                "connection closed before any answer"
                            },
                        );
                        return Poll::Ready(Err(Failed::Upstream { error, answered }));
                    }
                    Poll::Ready(Ok(_)) => answered = true,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(Failed::Upstream { error, answered })),
                    Poll::Pending => break,
                }
            }
            if let Some(t) = timer.as_mut() {
                if t.as_mut().poll(cx).is_ready() {
                    // A slow upload is the client's, not the upstream's.
                    let client = upload.state == Sending::InProgress && upload.waits_on_client;
                    return Poll::Ready(Err(if client {
                        Failed::ClientTimedOut
                    } else {
                        Failed::TimedOut
                    }));
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl Pool {
    /// A pool for `origin` (scheme and authority only). Idle connections
    /// close after `idle_timeout`; a background sweep closes them even when
    /// no traffic comes to do it, if there is a runtime to run it on.
    /// A response body that waits `read_timeout` for the upstream's next
    /// bytes is cut off (`None`: it waits as long as the client does).
    /// An `https://` origin is reached with `tls`'s settings.
    pub fn new(
        origin: Uri,
        connect_timeout: Duration,
        idle_timeout: Duration,
        read_timeout: Option<ReadTimeout>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Pool, crate::tls::TlsError> {
        let tls = match (origin.scheme() == Some(&http::uri::Scheme::HTTPS), tls) {
            (false, _) => None,
            (true, None) => return Err(crate::tls::TlsError::Setup(format!("{origin}: no TLS settings"))),
            (true, Some(cfg)) => {
                let authority = origin.authority().expect("an upstream origin has an authority");
                Some((cfg.into(), crate::tls::server_name(authority)?))
            }
        };
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        // It connects; TLS, for an https origin, is layered on here.
        connector.enforce_http(false);
        let inner = Arc::new(Inner {
            idle: Mutex::new(Vec::new()),
            connector,
            origin,
            tls,
            idle_timeout,
            read_timeout,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&inner)));
        }
        Ok(Pool { inner })
    }

    /// Sends `req` (origin-form URI, `Host` set, hop-by-hop headers gone):
    /// [`Pool::send_head`] with its head encoded here.
    pub async fn send(
        &self,
        req: Request<Incoming>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Response<ResponseBody>, SendError> {
        let (parts, body) = req.into_parts();
        let framing = RequestFraming::of(&body);
        let head = RequestHead::encode(&parts, framing);
        drop(parts);
        self.clone().send_head(head, body, deadline).await
    }

    /// Sends a request (`head` and `body`) on a pooled or new connection
    /// and waits for the response head, until `deadline` if one is given.
    /// The response's body reads the rest from the connection (and goes on
    /// with the upload if the answer came first), and hands the
    /// connection back to the pool at its end.
    ///
    /// Takes a handle on the pool (a clone is cheap) so that the future
    /// owns all it needs, and sets the upload up before the future is
    /// made, so that the future holds the request once.
    pub fn send_head(
        self,
        head: RequestHead,
        body: Incoming,
        deadline: Option<tokio::time::Instant>,
    ) -> impl Future<Output = Result<Response<ResponseBody>, SendError>> + Send + 'static {
        let RequestHead {
            bytes,
            framing,
            head_request,
            upgrade,
            repeatable,
            connect,
            fields,
        } = head;
        let body = (framing != RequestFraming::Empty).then_some(body);
        let mut upload = Upload::new(bytes, body, framing);
        async move {
            if connect {
                return Err(SendError::Protocol("CONNECT is not forwarded".into()));
            }
            let (mut conn, mut reused) = match self.checkout() {
                Some(c) => (c, true),
                // Boxed: connecting is rare, and its future (a timer in it)
                // would otherwise sit in every exchange's.
                None => (Box::pin(self.connect_by(deadline)).await?, false),
            };
            let mut answer = loop {
                match conn.exchange(&mut upload, fields, deadline).await {
                    Ok(a) => break a,
                    Err(Failed::TimedOut) => return Err(SendError::Timeout),
                    Err(Failed::ClientTimedOut) => return Err(SendError::ClientTimeout),
                    // Dropped with the connection, which closes: the
                    // upstream sees the request cut short, never a whole one.
                    Err(Failed::Client(e)) => return Err(SendError::Client(e)),
                    Err(Failed::Upstream { error, answered }) => {
                        // Sent again only if nothing of it is lost by the first
                        // try and repeating it is harmless.
                        if reused && repeatable && !answered {
                            tracing::debug!(%error, "pooled upstream connection was closed; retrying on a new one");
                            conn = Box::pin(self.connect_by(deadline)).await?;
                            upload.restart();
                            reused = false;
                            continue;
                        }
                        return Err(SendError::Protocol(error.to_string()));
                    }
                }
            };
            let (decoder, keep_alive) = h1::response_framing(head_request, &mut answer);
            if decoder == Decoder::Upgrade && !(upgrade && upload.state == Sending::Sent) {
                return Err(SendError::Protocol(
                    "101 answer to a request that asked for no upgrade, or before it was sent".into(),
                ));
            }
            let mut body = ResponseBody {
                conn: Some(conn),
                pool: Arc::downgrade(&self.inner),
                decoder,
                keep_alive,
                upload: (upload.state != Sending::Sent).then(|| Box::new(upload)),
                rearm: true,
            };
            if decoder != Decoder::Upgrade && decoder.is_done() {
                body.finish();
            }
            let mut resp = Response::new(body);
            *resp.status_mut() = answer.status;
            *resp.version_mut() = answer.version;
            *resp.headers_mut() = answer.headers;
            if answer.ends_session {
                resp.extensions_mut().insert(h1::SessionEnded);
            }
            Ok(resp)
        }
    }

    /// A new connection, opened before `deadline` if one is given.
    async fn connect_by(&self, deadline: Option<tokio::time::Instant>) -> Result<Conn, SendError> {
        let connect = self.connect();
        let io = match deadline {
            Some(d) => tokio::time::timeout_at(d, connect)
                .await
                .map_err(|_| SendError::Timeout)??,
            None => connect.await?,
        };
        Ok(Conn::new(io))
    }

    async fn connect(&self) -> Result<Stream, SendError> {
        let mut connector = self.inner.connector.clone();
        let io = connector
            .call(self.inner.origin.clone())
            .await
            .map_err(|e| SendError::Connect(error_chain(&e)))?
            .into_inner();
        let Some((tls, name)) = &self.inner.tls else {
            return Ok(Stream::Plain(io));
        };
        match tls.connect(name.clone(), io).await {
            Ok(s) => Ok(Stream::Tls(Box::new(s))),
            Err(e) => Err(SendError::Connect(format!("TLS handshake: {}", error_chain(&e)))),
        }
    }

    /// The most recently used idle connection still open and within its
    /// idle time (the sweep runs only every half idle timeout). The others
    /// met on the way are dropped, outside the lock.
    fn checkout(&self) -> Option<Conn> {
        let now = Instant::now();
        loop {
            let c = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
            if now.duration_since(c.since) < self.inner.idle_timeout && c.conn.is_open() {
                return Some(c.conn);
            }
        }
    }

    /// Idle connections now (for tests and the debug log).
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Inner {
    fn put(&self, conn: Conn) {
        let now = Instant::now();
        let expired: Vec<Idle>;
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            // The oldest are at the bottom; take the ones past their time.
            let n = idle
                .iter()
                .take_while(|c| now.duration_since(c.since) >= self.idle_timeout)
                .count();
            expired = idle.drain(..n).collect();
            idle.push(Idle { conn, since: now });
        }
        drop(expired);
    }

    /// Closes connections idle past the timeout, or closed by the upstream.
    fn sweep(&self) {
        let now = Instant::now();
        let gone: Vec<Idle>;
        {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            let (keep, out) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|c| now.duration_since(c.since) < self.idle_timeout && c.conn.is_open());
            *idle = keep;
            gone = out;
        }
        drop(gone);
    }
}

/// An error and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Runs [`Inner::sweep`] every half idle timeout until the pool is gone.
async fn sweep(pool: Weak<Inner>) {
    let every = pool
        .upgrade()
        .map_or(Duration::from_secs(30), |p| p.idle_timeout / 2)
        .max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        match pool.upgrade() {
            Some(p) => p.sweep(),
            None => return,
        }
    }
}

/// The body of an upstream response, read from its connection as hyper's
/// server asks for it. At its end the connection goes back to the pool
/// (if it can carry another exchange); dropped before, it closes.
pub struct ResponseBody {
    /// `None` once the body has ended or failed.
    conn: Option<Conn>,
    pool: Weak<Inner>,
    decoder: Decoder,
    keep_alive: bool,
    /// The request, if the answer came before all of it was written:
    /// written on as the body is read. (Boxed: rare, and large.)
    upload: Option<Box<Upload>>,
    /// Set the read timer at the next wait for the upstream: bytes came
    /// since it was set, or it still holds the head's deadline.
    rearm: bool,
}

/// The upstream's side of a connection switched to another protocol by a
/// 101 answer: its socket, and what it sent after the answer.
pub struct Upgraded {
    pub io: Stream,
    pub read_ahead: Bytes,
}

impl ResponseBody {
    /// The body is complete: the connection goes back to the pool if it
    /// is in step (the whole request written, the whole answer read and
    /// nothing after it, and nobody asked to close), and closes otherwise.
    fn finish(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let sent = self.upload.as_ref().is_none_or(|u| u.state == Sending::Sent);
        self.upload = None;
        if self.keep_alive && sent && conn.rbuf.is_empty() {
            if let Some(pool) = self.pool.upgrade() {
                pool.put(conn);
            }
        }
    }

    /// The connection of a 101 answer, for splicing to the client.
    pub fn into_upgraded(mut self) -> Option<Upgraded> {
        if self.decoder != Decoder::Upgrade {
            return None;
        }
        let conn = self.conn.take()?;
        Some(Upgraded {
            io: conn.io,
            read_ahead: conn.rbuf.freeze(),
        })
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(upload) = this.upload.as_mut() {
                // The rest of the request, as far as the socket takes it.
                // A client body that fails now leaves the upload
                // abandoned, and the connection to close at the end.
                let _ = upload.poll_send(&mut conn.io, cx);
            }
            let step = this.decoder.decode(&mut conn.rbuf);
            match step {
                Ok(Decoded::Frame(f)) => {
                    // hyper stops asking once `is_end_stream` says so: the
                    // last frame is the last call.
                    if this.decoder.is_done() {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(f)));
                }
                Ok(Decoded::End) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(Decoded::NeedMore) => {}
            }
            make_room(&mut conn.rbuf, this.decoder.wants());
            let read = match tokio_util::io::poll_read_buf(Pin::new(&mut conn.io), cx, &mut conn.rbuf) {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    // Waiting for the upstream, not for the client (hyper
                    // asks for the next frame only once it has room).
                    // The pool's limit: a body whose pool a reload has
                    // replaced since is read without one.
                    let rearm = std::mem::take(&mut this.rearm);
                    let waited = match this.pool.upgrade() {
                        Some(pool) => match &pool.read_timeout {
                            Some(limit) => conn.poll_read_timeout(limit, rearm, cx),
                            None => Ok(()),
                        },
                        None => Ok(()),
                    };
                    if let Err(e) = waited {
                        this.conn = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    return Poll::Pending;
                }
            };
            this.rearm = true;
            match read {
                Ok(0) => {
                    // Whatever the decoder says, a closed connection is
                    // not reused.
                    this.conn = None;
                    return Poll::Ready(this.decoder.closed().err().map(Err));
                }
                Ok(_) => {}
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // A 101 answer's body is empty too: the connection is the splice's.
        self.conn.is_none() || self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        if self.conn.is_none() {
            return SizeHint::with_exact(0);
        }
        self.decoder.size_hint()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("decoder", &self.decoder)
            .field("held", &self.conn.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::Method;
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connection to `l`, and the server's end of it.
    async fn idle_conn(l: &TcpListener) -> (Conn, TcpStream) {
        let io = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server_side, _) = l.accept().await.unwrap();
        (Conn::new(Stream::Plain(io)), server_side)
    }

    fn pool_for(l: &TcpListener, idle_timeout: Duration) -> Pool {
        let origin: Uri = format!("http://{}/", l.local_addr().unwrap()).parse().unwrap();
        Pool::new(origin, Duration::from_secs(1), idle_timeout, None, None).unwrap()
    }

    #[tokio::test]
    async fn idle_connections_close_after_the_idle_timeout_without_traffic() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_millis(200));
        let (conn, mut server_side) = idle_conn(&l).await;
        pool.inner.put(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.idle_count(), 1, "still within its idle time");
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(2), server_side.read(&mut b))
            .await
            .expect("the sweep closes it, with no request to trigger it")
            .unwrap();
        assert_eq!(n, 0, "closed, not written to");
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn checkout_takes_the_newest_open_connection() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_secs(60));
        let (older, _s1) = idle_conn(&l).await;
        let (newer, mut s2) = idle_conn(&l).await;
        let (newest, s3) = idle_conn(&l).await;
        let newer_port = newer.io.tcp().local_addr().unwrap().port();
        let older_port = older.io.tcp().local_addr().unwrap().port();
        pool.inner.put(older);
        pool.inner.put(newer);
        pool.inner.put(newest);
        assert_eq!(pool.idle_count(), 3);
        // The upstream closes the newest while it sits idle, and the next
        // has a stray byte on it: neither may carry a request.
        drop(s3);
        use tokio::io::AsyncWriteExt;
        s2.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let got = pool.checkout().expect("an open one is left");
        assert_eq!(got.io.tcp().local_addr().unwrap().port(), older_port);
        assert_ne!(older_port, newer_port);
        assert_eq!(pool.idle_count(), 0, "the closed and the out-of-step one are gone");
        assert!(pool.checkout().is_none());
    }

    /// A request with an `Incoming` body, as the proxy forwards: the body
    /// of a request this test sends to a one-shot server and reads back.
    async fn incoming_request(method: Method) -> Request<Incoming> {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(req);
                }
                std::future::pending::<Result<Response<String>, std::convert::Infallible>>()
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(s), svc)
                .await;
        });
        let io = TcpStream::connect(addr).await.unwrap();
        let (mut c, conn) = hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::builder().method(method).uri("/").header("host", "x");
        tokio::spawn(c.send_request(req.body(String::new()).unwrap()));
        let (parts, body) = rx.await.unwrap().into_parts();
        let mut req = Request::from_parts(parts, body);
        *req.uri_mut() = Uri::from_static("/");
        req
    }

    /// Reads one request head from `s`.
    async fn read_request(s: &mut TcpStream) -> String {
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "closed mid-request");
            got.extend_from_slice(&b[..n]);
        }
        String::from_utf8(got).unwrap()
    }

    #[tokio::test]
    async fn one_timer_per_connection_times_out_a_later_stalled_answer() {
        use tokio::io::AsyncWriteExt;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_secs(60));
        // The upstream answers the first request on its connection at once
        // and never answers the second.
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_request(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            read_request(&mut s).await;
            std::future::pending::<()>().await;
        });
        let timeout = Duration::from_millis(300);
        let deadline = tokio::time::Instant::now() + timeout;
        let resp = pool
            .send(incoming_request(Method::GET).await, Some(deadline))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            pool.idle_count(),
            1,
            "an answer without a body frees its connection at once"
        );
        let timer: *const tokio::time::Sleep = &**pool.inner.idle.lock().unwrap()[0].conn.timer.as_ref().unwrap();
        drop(resp);
        // The first deadline passes while the connection sits idle: the
        // timer fires with nobody waiting, and must still re-arm.
        tokio::time::sleep(timeout + Duration::from_millis(50)).await;
        let reused = pool.checkout().unwrap();
        assert!(
            std::ptr::eq(&**reused.timer.as_ref().unwrap(), timer),
            "the connection keeps its timer"
        );
        pool.inner.put(reused);
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let r = pool.send(incoming_request(Method::GET).await, Some(deadline)).await;
        assert!(matches!(r, Err(SendError::Timeout)), "{r:?}");
        assert!(tokio::time::Instant::now() >= deadline, "not before its deadline");
        assert_eq!(pool.idle_count(), 0, "a timed-out connection is not pooled again");
    }

    /// An upstream that answers the first request on each connection and
    /// closes the connection, unanswered, at its second: the race of a
    /// keep-alive timeout with a request. Counts connections.
    async fn closes_at_the_second_request(l: TcpListener) -> Arc<std::sync::atomic::AtomicUsize> {
        use tokio::io::AsyncWriteExt;
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    read_request(&mut s).await;
                    s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await
                        .unwrap();
                    read_request(&mut s).await;
                });
            }
        });
        accepted
    }

    /// Reads a response body to its end.
    async fn drain(resp: Response<ResponseBody>) -> Bytes {
        resp.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn a_request_the_upstream_closed_on_unanswered_is_repeated_only_if_harmless() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_secs(60));
        let accepted = closes_at_the_second_request(l).await;
        let first = pool.send(incoming_request(Method::GET).await, None).await.unwrap();
        assert_eq!(drain(first).await, "ok");
        assert_eq!(pool.idle_count(), 1);
        // The GET meets the closing connection and is sent again.
        let again = pool.send(incoming_request(Method::GET).await, None).await.unwrap();
        assert_eq!(drain(again).await, "ok");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A POST is not: the upstream may have acted on it.
        assert_eq!(pool.idle_count(), 1);
        let r = pool.send(incoming_request(Method::POST).await, None).await;
        assert!(matches!(r, Err(SendError::Protocol(_))), "{r:?}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
