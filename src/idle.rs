//! Supervises client connections: closes those that have gone quiet (an
//! idle keep-alive connection, or a client that never finishes its request
//! head: slowloris), and asks them all to finish at shutdown ([`Drain`]).
//!
//! One timer per connection, not one per request. hyper's own
//! `header_read_timeout` arms a timer for every request head, which cost
//! about 1,100 instructions a request, 3 % of a proxied one
//! (docs/BENCHMARKS.md). Here the requests and the writes of a connection
//! bump one shared counter, and a timer that fires every half limit looks
//! at it: a connection whose counter has not moved for two checks in a
//! row, with no request in progress, is closed. It has then been quiet for
//! at least the limit and at most one and a half times it (a second more
//! for one that does not finish when asked, below).
//!
//! Reads do not count: a client trickling a request head byte by byte is
//! exactly what must be cut off. A request counts from its head being
//! parsed until its response body is done or dropped, so a slow upstream
//! or a long download is never cut; writes count so that a client still
//! taking the last bytes of a response (after hyper has the whole body)
//! keeps its connection.
//!
//! Not covered, as with hyper's own timer: a client that stops reading
//! while its response is still in progress, or trickles a request body,
//! holds its connection (on the public listener the upstream's
//! `response_timeout` bounds the second). An HTTP/2 client's pings
//! (answered, so written) count as activity.
//!
//! A quiet connection is asked to finish first (HTTP/1 closes at once
//! between requests, HTTP/2 sends GOAWAY), and dropped if it is still open
//! a second later (or half the limit if that is shorter) with no request
//! since. A request that did come, a head that completed or a stream
//! opened before the GOAWAY arrived, is served and its writes counted as
//! usual.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::sync::Notify;

use crate::body::Body;

/// What a connection is doing: its requests (in progress in the low 32
/// bits, a count of starts and ends above) and its writes. Any change of
/// either means activity.
#[derive(Debug, Default)]
pub struct Activity {
    requests: AtomicU64,
    writes: AtomicU64,
}

const EVENT: u64 = 1 << 32;
const IN_FLIGHT: u64 = EVENT - 1;

/// [`Activity`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    requests: u64,
    writes: u64,
}

impl Seen {
    fn idle(self) -> bool {
        self.requests & IN_FLIGHT == 0
    }
}

impl Activity {
    /// A request has started; it lasts until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(EVENT + 1, Relaxed);
        InFlight(self.clone())
    }

    fn wrote(&self) {
        self.writes.fetch_add(1, Relaxed);
    }

    fn load(&self) -> Seen {
        Seen {
            requests: self.requests.load(Relaxed),
            writes: self.writes.load(Relaxed),
        }
    }
}

/// One request in progress on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // One more event, one fewer in flight (never below zero: this
        // guard's own start is counted).
        self.0.requests.fetch_add(EVENT - 1, Relaxed);
    }
}

/// A response body that ends its request's [`InFlight`] when hyper is done
/// with it: at its end, or when dropped half-way (the client went away).
#[derive(Debug)]
pub struct Tracked {
    body: Body,
    _request: InFlight,
}

impl Tracked {
    pub fn new(body: Body, request: InFlight) -> Tracked {
        Tracked {
            body,
            _request: request,
        }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Frame<Bytes>>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client connection's I/O, counting writes that made progress.
#[derive(Debug)]
pub struct Counted<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Counted<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Counted<T> {
        Counted { io, activity }
    }

    /// Passes a write's outcome on, counting it if it made progress.
    fn count(&self, r: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        r
    }
}

impl<T: Read + Unpin> Read for Counted<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Counted<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.count(r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.count(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Tells every open connection to finish at shutdown, and lets the
/// listener wait for them. In place of hyper-util's `GracefulShutdown`,
/// whose watch channel every connection polled at every wake-up (about 100
/// instructions a request): here a connection registers its waker once and
/// reads one flag per wake-up.
#[derive(Debug, Default)]
pub struct Drain {
    stopping: AtomicBool,
    open: Mutex<Open>,
    all_closed: Notify,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    wakers: HashMap<u64, Waker>,
}

impl Drain {
    /// Asks every connection, open or still to come, to finish.
    pub fn stop(&self) {
        self.stopping.store(true, Relaxed);
        // Under the lock: a connection joining now sees the flag there.
        for w in self.lock().wakers.values() {
            w.wake_by_ref();
        }
    }

    /// Resolves once every connection has ended.
    pub async fn closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            if self.open_connections() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn open_connections(&self) -> usize {
        self.lock().wakers.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn join(self: &Arc<Self>, waker: &Waker) -> Member {
        let mut open = self.lock();
        let id = open.next;
        open.next += 1;
        open.wakers.insert(id, waker.clone());
        Member {
            drain: self.clone(),
            id,
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }
}

/// A connection's place in its [`Drain`], given up when it ends.
struct Member {
    drain: Arc<Drain>,
    id: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut open = self.drain.lock();
        open.wakers.remove(&self.id);
        if open.wakers.is_empty() {
            self.drain.all_closed.notify_waiters();
        }
    }
}

/// Serves one connection: runs `conn` until it ends (`Some` of its
/// output), asking it to finish (`shutdown`) when `drain` stops; or until
/// it has been quiet for `limit` (see the module docs), which ends it with
/// `None`. A quiet connection is asked to finish first, so an idle HTTP/2
/// connection says GOAWAY, and is dropped, closing its socket, if no
/// request has come and it is still open a second later. Must run as its
/// own task: the waker of the first poll is the one woken at shutdown.
pub async fn serve_until_quiet<C: Future>(
    conn: C,
    shutdown: impl Fn(Pin<&mut C>),
    activity: Arc<Activity>,
    limit: Duration,
    drain: &Arc<Drain>,
) -> Option<C::Output> {
    // At least a millisecond: a tiny limit must not turn into a busy loop.
    let period = (limit / 2).max(Duration::from_millis(1));
    let mut conn = pin!(conn);
    let mut timer = pin!(tokio::time::sleep(period));
    // Whether the timer has been polled since it was last set: until
    // then it cannot wake this task, afterwards a cheap look tells
    // whether it fired.
    let mut armed = false;
    let mut seen = activity.load();
    let mut quiet_checks = 0;
    let mut member = None;
    let mut finishing = false;
    // Set when asked to finish for being quiet: the requests seen then.
    let mut asked_when: Option<u64> = None;
    poll_fn(|cx| loop {
        if member.is_none() {
            member = Some(drain.join(cx.waker()));
        }
        if !finishing && drain.stopping() {
            finishing = true;
            shutdown(conn.as_mut());
        }
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(if asked_when.is_some() { None } else { Some(out) });
        }
        if armed && !timer.is_elapsed() {
            return Poll::Pending;
        }
        // Outside tokio's budget: a budget-refused poll would leave the
        // timer unable to wake the task while `armed` said it could.
        if pin!(tokio::task::unconstrained(timer.as_mut())).poll(cx).is_pending() {
            armed = true;
            return Poll::Pending;
        }
        let now = activity.load();
        let mut next = period;
        match asked_when {
            // Nothing since the ask (its own writes, GOAWAY and a ping,
            // do not count): the client is not finishing; drop it.
            Some(requests) if requests == now.requests && now.idle() => return Poll::Ready(None),
            // A request came after all (a head that completed, a stream
            // opened before the GOAWAY arrived): it finishes the usual way,
            // its writes keeping the connection until they are done.
            Some(_) => {
                asked_when = None;
                quiet_checks = 0;
                seen = now;
            }
            None if now == seen && now.idle() => {
                quiet_checks += 1;
                if quiet_checks == 2 {
                    // HTTP/1 closes at once between requests, HTTP/2
                    // sends GOAWAY; a head still trickling in is dropped
                    // at the next check, soon.
                    asked_when = Some(now.requests);
                    next = period.min(Duration::from_secs(1));
                    if !finishing {
                        finishing = true;
                        shutdown(conn.as_mut());
                    }
                }
            }
            None => {
                quiet_checks = 0;
                seen = now;
            }
        }
        timer.as_mut().reset(tokio::time::Instant::now() + next);
        armed = false;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_flight_and_events_are_counted_apart() {
        let a = Arc::new(Activity::default());
        let one = a.start();
        let two = a.start();
        assert_eq!(a.load().requests & IN_FLIGHT, 2);
        drop(one);
        a.wrote();
        assert_eq!(a.load().requests & IN_FLIGHT, 1);
        drop(two);
        assert!(a.load().idle());
        assert_eq!(a.load().requests >> 32, 4, "two starts, two ends");
        assert_eq!(a.load().writes, 1);
    }

    /// `serve_until_quiet` for a connection that ignores being asked to
    /// finish, in a drain of its own.
    async fn quiet<C: Future>(conn: C, a: Arc<Activity>, limit: Duration) -> Option<C::Output> {
        serve_until_quiet(conn, |_| {}, a, limit, &Arc::new(Drain::default())).await
    }

    #[tokio::test]
    async fn writes_that_make_progress_are_counted() {
        let a = Arc::new(Activity::default());
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut io = Counted::new(hyper_util::rt::TokioIo::new(ours), a.clone());
        assert_eq!(
            poll_fn(|cx| Pin::new(&mut io).poll_write(cx, b"hello")).await.unwrap(),
            5
        );
        assert_eq!(poll_fn(|cx| Pin::new(&mut io).poll_write(cx, b"")).await.unwrap(), 0);
        let bufs = [std::io::IoSlice::new(b"a"), std::io::IoSlice::new(b"b")];
        poll_fn(|cx| Pin::new(&mut io).poll_write_vectored(cx, &bufs))
            .await
            .unwrap();
        assert_eq!(a.load().writes, 2, "the empty write does not count");
        assert!(a.load().idle(), "writes are not requests");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_closed_after_the_limit_and_a_busy_one_is_not() {
        let limit = Duration::from_secs(10);
        // Nothing happens: asked to finish after the limit, dropped a second
        // later, all within one and a half times the limit.
        let a = Arc::new(Activity::default());
        let t0 = tokio::time::Instant::now();
        assert!(quiet(std::future::pending::<()>(), a, limit).await.is_none());
        let waited = t0.elapsed();
        assert!(waited >= limit && waited <= limit * 3 / 2, "{waited:?}");

        // A request in progress for a long time: kept open until it ends.
        let a = Arc::new(Activity::default());
        let request = a.start();
        let conn = async move {
            tokio::time::sleep(limit * 5).await;
            drop(request);
            std::future::pending::<()>().await
        };
        let t0 = tokio::time::Instant::now();
        assert!(quiet(conn, a, limit).await.is_none());
        assert!(t0.elapsed() >= limit * 6, "{:?}", t0.elapsed());

        // Writes keep a connection open; its own end is passed on.
        let a = Arc::new(Activity::default());
        let writer = a.clone();
        let conn = async move {
            for _ in 0..10 {
                tokio::time::sleep(limit / 3).await;
                writer.wrote();
            }
            "done"
        };
        assert_eq!(quiet(conn, a, limit).await, Some("done"));
    }

    /// A connection that ends once asked to finish, as an idle HTTP/1 or
    /// HTTP/2 connection does (the latter after sending GOAWAY).
    struct Finishes(bool);

    impl Future for Finishes {
        type Output = &'static str;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<&'static str> {
            if self.0 {
                Poll::Ready("finished")
            } else {
                Poll::Pending
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_asked_to_finish_before_it_is_dropped() {
        let a = Arc::new(Activity::default());
        let drain = Arc::new(Drain::default());
        let t0 = tokio::time::Instant::now();
        let out = serve_until_quiet(Finishes(false), |mut c| c.0 = true, a, Duration::from_secs(10), &drain).await;
        assert_eq!(out, None, "a quiet close");
        // Ended when asked, at the second quiet check; not dropped a second later.
        assert_eq!(t0.elapsed(), Duration::from_secs(10));
        assert_eq!(drain.open_connections(), 0);
    }

    /// A request that arrives after the ask (a head completing, a stream
    /// opened before the GOAWAY reached the client) is served to its end:
    /// the connection is not dropped while its last writes go out.
    #[tokio::test(start_paused = true)]
    async fn a_request_after_the_ask_is_not_cut_off() {
        let limit = Duration::from_secs(10);
        let a = Arc::new(Activity::default());
        let (client, writes) = (a.clone(), a.clone());
        let conn = async move {
            // Asked at 10 s; a request comes at 10.5 s and its body is done
            // at 12 s, but its bytes take until 20 s to go out.
            tokio::time::sleep(Duration::from_millis(10_500)).await;
            let request = client.start();
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            drop(request);
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                writes.wrote();
            }
            "served"
        };
        let out = serve_until_quiet(conn, |_| {}, a, limit, &Arc::new(Drain::default())).await;
        assert_eq!(out, Some("served"));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_the_drain_asks_every_connection_to_finish_and_waits_for_them() {
        let drain = Arc::new(Drain::default());
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (a, d) = (Arc::new(Activity::default()), drain.clone());
            tasks.push(tokio::spawn(async move {
                serve_until_quiet(Finishes(false), |mut c| c.0 = true, a, Duration::from_secs(3600), &d).await
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(drain.open_connections(), 3);
        let t0 = tokio::time::Instant::now();
        drain.stop();
        drain.closed().await;
        assert_eq!(t0.elapsed(), Duration::ZERO, "no timer was needed");
        for t in tasks {
            assert_eq!(t.await.unwrap(), Some("finished"));
        }
        // A connection that comes after the stop is asked at once.
        let a = Arc::new(Activity::default());
        let out = serve_until_quiet(
            Finishes(false),
            |mut c| c.0 = true,
            a,
            Duration::from_secs(3600),
            &drain,
        )
        .await;
        assert_eq!(out, Some("finished"));
    }
}
