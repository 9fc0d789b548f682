//! Keep-alive HTTP/1.1 connections to the one upstream.
//!
//! vestibule talks to exactly one origin, so the general-purpose pool of
//! hyper-util's legacy client (a map keyed by scheme and authority behind a
//! mutex, a waiter queue, a channel hop into a pool task) is more than the
//! job needs, and it showed: about a third of the instructions of a
//! minimal hyper proxy went there (docs/BENCHMARKS.md). This pool is a stack
//! of idle [`SendRequest`] handles over `hyper::client::conn::http1`:
//!
//! * A connection goes back on the stack only when its response body has
//!   been read to the end ([`Pooled::release`]); one whose body was dropped
//!   half-way is closed, since nothing else is known to be in sync on it.
//! * Last in, first out: the busiest connections stay warm and the rest age
//!   out after `idle_timeout`, so a surge's extra connections close once it
//!   has passed.
//! * A request that finds a pooled connection closed under it (the upstream
//!   timed it out just then) and was not written yet is sent again once on
//!   a new connection, as the legacy client did.
//! * Connecting reuses hyper-util's `HttpConnector`: name resolution, a
//!   connect timeout, `TCP_NODELAY` and TCP keep-alive.
//! * Each connection keeps one response timer for its whole life and
//!   re-arms it per request. Moving an armed deadline later is a
//!   compare-and-swap in tokio (and a runtime-handle clone), where a fresh
//!   `timeout()` per request inserts and removes a timer-wheel entry under
//!   the driver's lock. A timer whose deadline passed while its connection
//!   sat idle fires once (waking, for nothing, the task that last used it)
//!   and is filed again on its next use.
//! * Connections are closed after the pool's lock is released: closing
//!   one also removes its timer from tokio's wheel, under tokio's lock.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

/// Why no response came back. The caller maps these to 502 or 504.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened.
    Connect(String),
    /// The exchange failed on an open connection.
    Protocol(hyper::Error),
    /// No response head before the deadline (connecting included).
    Timeout,
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
    idle_timeout: Duration,
    builder: http1::Builder,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// One upstream connection and its response timer.
struct Conn {
    tx: SendRequest<Incoming>,
    /// Made on the first exchange with a deadline, then re-armed.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Why [`Conn::exchange`] brought no response head. (As large as a
/// request, like hyper's own error: it only lives on the failure path.)
#[allow(clippy::large_enum_variant)]
enum Failed {
    /// The deadline passed. The connection is in the middle of an
    /// exchange and must not be reused.
    TimedOut,
    /// hyper's error, with the request back if it was never written.
    Send(hyper::client::conn::TrySendError<Request<Incoming>>),
}

impl Conn {
    /// Sends `req` and waits for the response head until `deadline`.
    // The error hands the unsent request back for the one retry, as
    // hyper's own `try_send_request` does; it is as large as a request.
    #[allow(clippy::result_large_err)]
    async fn exchange(
        &mut self,
        req: Request<Incoming>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Response<Incoming>, Failed> {
        let send = self.tx.try_send_request(req);
        let Some(deadline) = deadline else {
            return send.await.map_err(Failed::Send);
        };
        let timer = match &mut self.timer {
            Some(t) => {
                t.as_mut().reset(deadline);
                t
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        let mut send = pin!(send);
        poll_fn(|cx| {
            if let Poll::Ready(r) = send.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(Failed::Send));
            }
            timer.as_mut().poll(cx).map(|()| Err(Failed::TimedOut))
        })
        .await
    }
}

/// How many not-yet-ready idle connections a checkout looks past before it
/// opens a new one (a connection is released as its response ends; its
/// connection task may not have turned to the next request yet).
const SKIP_BUSY: usize = 4;

impl Pool {
    /// A pool for `origin` (scheme and authority only). Idle connections
    /// close after `idle_timeout`; a background sweep closes them even when
    /// no traffic comes to do it, if there is a runtime to run it on.
    pub fn new(origin: Uri, connect_timeout: Duration, idle_timeout: Duration) -> Pool {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let inner = Arc::new(Inner {
            idle: Mutex::new(Vec::new()),
            connector,
            origin,
            idle_timeout,
            builder: http1::Builder::new(),
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&inner)));
        }
        Pool { inner }
    }

    /// Sends `req` (origin-form URI, `Host` set) on a pooled or new
    /// connection and waits for the response head, until `deadline` if one
    /// is given. The returned [`Pooled`] must be released once the
    /// response body has been read to its end for the connection to be
    /// reused.
    pub async fn send(
        &self,
        mut req: Request<Incoming>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(Response<Incoming>, Pooled), SendError> {
        let (mut conn, mut reused) = match self.checkout() {
            Some(c) => (c, true),
            None => (self.connect_by(deadline).await?, false),
        };
        loop {
            match conn.exchange(req, deadline).await {
                Ok(resp) => {
                    let pooled = Pooled {
                        conn: Some(conn),
                        pool: Arc::downgrade(&self.inner),
                    };
                    return Ok((resp, pooled));
                }
                Err(Failed::TimedOut) => return Err(SendError::Timeout),
                Err(Failed::Send(mut e)) => match e.take_message() {
                    // Once, and only for a request that never left.
                    Some(back) if reused => {
                        tracing::debug!(error = %e.error(), "pooled upstream connection was closed; retrying on a new one");
                        req = back;
                        conn = self.connect_by(deadline).await?;
                        reused = false;
                    }
                    _ => return Err(SendError::Protocol(e.into_error())),
                },
            }
        }
    }

    /// A new connection, opened before `deadline` if one is given.
    async fn connect_by(&self, deadline: Option<tokio::time::Instant>) -> Result<Conn, SendError> {
        // Boxed: connecting is rare, and the connector's future would
        // otherwise sit in every exchange's. (Boxing this whole function's
        // future instead measured 900 instructions a request more.)
        let connect = Box::pin(self.connect());
        let tx = match deadline {
            Some(d) => tokio::time::timeout_at(d, connect)
                .await
                .map_err(|_| SendError::Timeout)??,
            None => connect.await?,
        };
        Ok(Conn { tx, timer: None })
    }

    /// The most recently used idle connection that can take a request now.
    fn checkout(&self) -> Option<Conn> {
        // Declared first, dropped last: after the lock.
        let mut closed = Vec::new();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        let mut busy: [Option<Idle>; SKIP_BUSY] = Default::default();
        let mut skipped = 0;
        let mut found = None;
        while let Some(c) = idle.pop() {
            if c.conn.tx.is_ready() {
                found = Some(c.conn);
                break;
            }
            if c.conn.tx.is_closed() {
                closed.push(c);
                continue;
            }
            busy[skipped] = Some(c);
            skipped += 1;
            if skipped == SKIP_BUSY {
                break;
            }
        }
        // Still busy ones keep their places, at the top.
        idle.extend(busy.into_iter().take(skipped).flatten().rev());
        found
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, SendError> {
        let mut connector = self.inner.connector.clone();
        let io = connector
            .call(self.inner.origin.clone())
            .await
            .map_err(|e| SendError::Connect(crate::proxy::error_chain(&e)))?;
        let (tx, conn) = self
            .inner
            .builder
            .handshake(io)
            .await
            .map_err(|e| SendError::Connect(crate::proxy::error_chain(&e)))?;
        tokio::spawn(async move {
            // `with_upgrades`: a 101 answer hands the socket to the splice.
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(tx)
    }

    /// Idle connections now (for tests and the debug log).
    pub fn idle_count(&self) -> usize {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Inner {
    fn put(&self, conn: Conn) {
        if conn.tx.is_closed() {
            return;
        }
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
                .partition(|c| !c.conn.tx.is_closed() && now.duration_since(c.since) < self.idle_timeout);
            *idle = keep;
            gone = out;
        }
        drop(gone);
    }
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

/// A connection lent to one exchange. [`Pooled::release`] hands it back
/// when the response has been read to its end; dropped otherwise, it
/// closes.
pub struct Pooled {
    conn: Option<Conn>,
    pool: Weak<Inner>,
}

impl Pooled {
    /// The exchange finished cleanly: the connection may serve another.
    pub fn release(&mut self) {
        if let (Some(conn), Some(pool)) = (self.conn.take(), self.pool.upgrade()) {
            pool.put(conn);
        }
    }
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("held", &self.conn.is_some()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::io::AsyncReadExt;

    /// A client connection to `l`, and the server's end of it.
    async fn idle_conn(l: &tokio::net::TcpListener) -> (Conn, tokio::net::TcpStream) {
        let io = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server_side, _) = l.accept().await.unwrap();
        let (tx, conn) = http1::handshake::<_, Incoming>(TokioIo::new(io)).await.unwrap();
        tokio::spawn(conn);
        (Conn { tx, timer: None }, server_side)
    }

    fn pool_for(l: &tokio::net::TcpListener, idle_timeout: Duration) -> Pool {
        let origin: Uri = format!("http://{}/", l.local_addr().unwrap()).parse().unwrap();
        Pool::new(origin, Duration::from_secs(1), idle_timeout)
    }

    #[tokio::test]
    async fn idle_connections_close_after_the_idle_timeout_without_traffic() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_millis(200));
        let (tx, mut server_side) = idle_conn(&l).await;
        pool.inner.put(tx);
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
    async fn checkout_takes_the_newest_live_connection() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_secs(60));
        let (older, _s1) = idle_conn(&l).await;
        let (newer, _s2) = idle_conn(&l).await;
        let (newest, s3) = idle_conn(&l).await;
        // Each connection task runs once and says it is ready.
        tokio::time::sleep(Duration::from_millis(20)).await;
        pool.inner.put(older);
        pool.inner.put(newer);
        pool.inner.put(newest);
        assert_eq!(pool.idle_count(), 3);
        // The upstream closes the newest while it sits idle.
        drop(s3);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let got = pool.checkout().expect("a live one is left");
        assert!(got.tx.is_ready() && !got.tx.is_closed());
        assert_eq!(pool.idle_count(), 1, "the closed one is gone, the older one kept");
        let last = pool.checkout().expect("the older one");
        assert!(last.tx.is_ready());
        assert!(pool.checkout().is_none());
    }

    /// A request with an `Incoming` body, as the proxy forwards: the body
    /// of a request this test sends to a one-shot server and reads back.
    async fn incoming_request() -> Request<Incoming> {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
        let io = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut c, conn) = http1::handshake::<_, String>(TokioIo::new(io)).await.unwrap();
        tokio::spawn(conn);
        tokio::spawn(c.send_request(Request::get("/").header("host", "x").body(String::new()).unwrap()));
        let (parts, body) = rx.await.unwrap().into_parts();
        let mut req = Request::from_parts(parts, body);
        *req.uri_mut() = Uri::from_static("/");
        req
    }

    #[tokio::test]
    async fn one_timer_per_connection_times_out_a_later_stalled_answer() {
        use tokio::io::AsyncWriteExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pool = pool_for(&l, Duration::from_secs(60));
        // The upstream answers the first request on its connection at once
        // and never answers the second.
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            let _ = s.read(&mut buf).await;
            std::future::pending::<()>().await;
        });
        let timeout = Duration::from_millis(300);
        let deadline = tokio::time::Instant::now() + timeout;
        let (resp, mut pooled) = pool.send(incoming_request().await, Some(deadline)).await.unwrap();
        assert_eq!(resp.status(), 200);
        drop(resp);
        let timer: *const tokio::time::Sleep = &**pooled.conn.as_ref().unwrap().timer.as_ref().unwrap();
        // The first deadline passes while the connection sits idle: the
        // timer fires with nobody waiting, and must still re-arm.
        tokio::time::sleep(timeout + Duration::from_millis(50)).await;
        pooled.release();
        assert_eq!(pool.idle_count(), 1);
        let reused = pool.checkout().unwrap();
        assert!(
            std::ptr::eq(&**reused.timer.as_ref().unwrap(), timer),
            "the connection keeps its timer"
        );
        pool.inner.put(reused);
        let started = tokio::time::Instant::now();
        let deadline = started + timeout;
        let r = pool.send(incoming_request().await, Some(deadline)).await;
        assert!(matches!(r, Err(SendError::Timeout)), "{r:?}");
        assert!(tokio::time::Instant::now() >= deadline, "not before its deadline");
        assert_eq!(pool.idle_count(), 0, "a timed-out connection is not pooled again");
    }
}
