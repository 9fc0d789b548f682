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
//! or a long download is never cut. A write counts only when the socket
//! had pushed back before it: a client still taking the last bytes of a
//! response (after hyper has the whole body) keeps its connection, but an
//! HTTP/2 client cannot keep an idle one open by sending PINGs (their
//! answers go out at once).
//!
//! **Send timeout.** A request in progress keeps its connection, but not
//! one whose response the client has stopped taking: a response that
//! handed hyper a frame hyper has not asked past (it asks for the next
//! when it has room: the client read, or its HTTP/2 flow-control window
//! opened) for `send_timeout` closes the connection (nginx's
//! `send_timeout`). Each such response notes, in a slot of its
//! connection's [`Activity`], the supervisor's clock when it started
//! waiting; the supervisor reads the slots at each check. Our own pages
//! are one frame and never wait; upstream bodies do.
//!
//! Not covered: a client that trickles a request body holds its
//! connection (on the public listener the upstream's `response_timeout`
//! bounds it).
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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};
use tokio::sync::Notify;

use crate::access::Entry;
use crate::body::Body;

/// Responses of one connection that can wait on its client at the same
/// time, tracked for the send timeout. An HTTP/1.1 connection has one
/// response at a time; an HTTP/2 connection has at most
/// `[server] http2_max_active_streams` in progress, which is validated to
/// be no more than this.
pub const SLOTS: usize = 64;
const _: () = assert!(SLOTS <= u64::BITS as usize, "one bit per slot in `used`");
const _: () = assert!(
    crate::config::MAX_ACTIVE_STREAMS <= SLOTS,
    "every response of a connection can be tracked"
);

/// What a connection is doing: its requests (in progress in the low 32
/// bits, a count of starts and ends above) and its writes. Any change of
/// either means activity. And which of its responses wait on the client,
/// since when; and, for HTTP/2, whose turn it is.
#[derive(Debug)]
pub struct Activity {
    /// Turns of an HTTP/2 connection's requests: one is taken from the
    /// moment a request is worked on until its response ends (see
    /// [`InFlight::take_turn`]).
    turns: tokio::sync::Semaphore,
    requests: AtomicU64,
    writes: AtomicU64,
    /// The supervisor's clock, in check periods since the connection began.
    clock: AtomicU32,
    /// Per slot: 1 + the clock when its response began to wait on the
    /// client; 0 when it does not wait.
    waiting: [AtomicU32; SLOTS],
    /// The slots held by responses, one bit each.
    used: AtomicU64,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new(tokio::sync::Semaphore::MAX_PERMITS)
    }
}

impl Activity {
    /// A connection's activity, with `turns` requests of an HTTP/2
    /// connection worked on at once.
    pub fn new(turns: usize) -> Activity {
        Activity {
            turns: tokio::sync::Semaphore::new(turns),
            requests: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            clock: AtomicU32::new(0),
            waiting: [const { AtomicU32::new(0) }; SLOTS],
            used: AtomicU64::new(0),
        }
    }
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

    /// A free slot, now held; `None` when all are held.
    fn take_slot(&self) -> Option<u8> {
        let mut used = self.used.load(Relaxed);
        loop {
            let free = (!used).trailing_zeros();
            if free as usize >= SLOTS {
                return None;
            }
            match self
                .used
                .compare_exchange_weak(used, used | 1 << free, Relaxed, Relaxed)
            {
                Ok(_) => return Some(free as u8),
                Err(now) => used = now,
            }
        }
    }

    fn free_slot(&self, slot: usize) {
        self.waiting[slot].store(0, Relaxed);
        self.used.fetch_and(!(1 << slot), Relaxed);
    }

    /// Whether a response has waited on the client for `periods` or more
    /// whole periods of the clock, which reads `now`.
    fn stalled(&self, now: u32, periods: u32) -> bool {
        let mut used = self.used.load(Relaxed);
        while used != 0 {
            let slot = used.trailing_zeros() as usize;
            used &= used - 1;
            let since = self.waiting[slot].load(Relaxed);
            // Marked at clock c, stored as c + 1: it has waited at least
            // (now - c - 1) whole periods.
            if since != 0 && now.saturating_sub(since) >= periods {
                return true;
            }
        }
        false
    }
}

/// One request in progress on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl InFlight {
    /// Waits for this request's turn among the connection's (HTTP/2:
    /// `http2_max_active_streams` at once, each forwarded one holding an
    /// upstream connection). The turn is the [`Tracked`] response's, given
    /// back when it ends. Boxed: only HTTP/2 requests wait here, and the
    /// future it would add to every request's is larger than a pointer.
    pub async fn take_turn(&self) {
        if let Ok(turn) = Box::pin(self.0.turns.acquire()).await {
            turn.forget();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // One more event, one fewer in flight (never below zero: this
        // guard's own start is counted).
        self.0.requests.fetch_add(EVENT - 1, Relaxed);
    }
}

/// A response body that ends its request's [`InFlight`] when hyper is done
/// with it: at its end, or when dropped half-way (the client went away);
/// and that notes when it waits on the client (see the module docs).
#[derive(Debug)]
pub struct Tracked {
    body: Body,
    request: InFlight,
    /// Its slot in the connection's [`Activity`], taken the first time
    /// it waits on the client. (A byte: the body is moved with every
    /// response.)
    slot: Option<u8>,
    /// It holds a turn ([`InFlight::take_turn`]).
    turn: bool,
    /// An HTTP/2 response: its last frame can wait on the client too.
    http2: bool,
    /// Its access log line, written when the response is over.
    entry: Option<Box<Entry>>,
}

impl Tracked {
    /// `http2`: the response goes out on an HTTP/2 stream; `turn`: its
    /// request took a turn; `entry`: its access log line.
    pub fn new(body: Body, request: InFlight, http2: bool, turn: bool, entry: Option<Box<Entry>>) -> Tracked {
        Tracked {
            body,
            request,
            slot: None,
            turn,
            http2,
            entry,
        }
    }

    /// Hyper has a frame of this response and has not asked for the next.
    fn waits_on_client(&mut self) {
        let a = &self.request.0;
        let Some(slot) = self.slot.or_else(|| a.take_slot()) else {
            return;
        };
        self.slot = Some(slot);
        a.waiting[usize::from(slot)].store(a.clock.load(Relaxed) + 1, Relaxed);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            self.request.0.free_slot(usize::from(slot));
        }
        if self.turn {
            self.request.0.turns.add_permits(1);
        }
        if let Some(e) = self.entry.take() {
            e.finish(self.body.is_end_stream());
        }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::io::Result<Frame<Bytes>>>> {
        let this = self.get_mut();
        if let Some(slot) = this.slot {
            // Asked again: hyper had room for what it was given.
            this.request.0.waiting[usize::from(slot)].store(0, Relaxed);
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(f))), Some(e)) = (&frame, &mut this.entry) {
            e.sent(f.data_ref().map_or(0, Bytes::len));
        }
        // HTTP/1.1: once hyper has the last frame it drops the body, and
        // its bytes still to go are the quiet timer's (module docs). An
        // HTTP/2 stream keeps the body until the last frame is sent, which
        // waits for the client's window: the send timeout covers it.
        if matches!(frame, Poll::Ready(Some(Ok(_)))) && (this.http2 || !this.body.is_end_stream()) {
            this.waits_on_client();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client connection's I/O, counting writes that made progress after
/// the socket had pushed back (see the module docs).
#[derive(Debug)]
pub struct Counted<T> {
    io: T,
    activity: Arc<Activity>,
    /// A write found the socket full since the last one counted.
    backed_up: bool,
}

impl<T> Counted<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Counted<T> {
        Counted {
            io,
            activity,
            backed_up: false,
        }
    }

    /// Passes a write's outcome on, counting it if it made progress on a
    /// socket that had pushed back.
    fn count(&mut self, r: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        match r {
            Poll::Pending => self.backed_up = true,
            Poll::Ready(Ok(n)) if n > 0 && self.backed_up => {
                self.backed_up = false;
                self.activity.wrote();
            }
            _ => {}
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

/// What bounds a connection's life besides its own end.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Quiet this long (no request in progress, nothing sent against a
    /// full socket), it is asked to finish, then closed.
    pub quiet: Duration,
    /// A response that waits on the client this long closes it.
    pub send_timeout: Duration,
}

/// How [`serve_until_quiet`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended<T> {
    /// The connection ended by itself (or when asked at shutdown).
    Done(T),
    /// Closed for being quiet.
    Quiet,
    /// Closed because a response waited on the client for the send timeout.
    Stalled,
}

/// Serves one connection: runs `conn` until it ends, asking it to finish
/// (`shutdown`) when `drain` stops; or until it has been quiet for
/// `limits.quiet` (see the module docs), or one of its responses has
/// waited on the client for `limits.send_timeout`. A quiet connection is
/// asked to finish first, so an idle HTTP/2 connection says GOAWAY, and
/// is dropped, closing its socket, if no request has come and it is
/// still open a second later; a stalled one is dropped at once. Must run
/// as its own task: the waker of the first poll is the one woken at
/// shutdown.
pub async fn serve_until_quiet<C: Future>(
    conn: C,
    shutdown: impl Fn(Pin<&mut C>),
    activity: Arc<Activity>,
    limits: Limits,
    drain: &Arc<Drain>,
) -> Ended<C::Output> {
    // At least a millisecond: a tiny limit must not turn into a busy loop.
    let period = (limits.quiet.min(limits.send_timeout) / 2).max(Duration::from_millis(1));
    // Whole periods a limit takes (two for the shorter one).
    let periods = |limit: Duration| u32::try_from(limit.as_nanos().div_ceil(period.as_nanos())).unwrap_or(u32::MAX);
    let (quiet_periods, stall_periods) = (periods(limits.quiet), periods(limits.send_timeout));
    let start = tokio::time::Instant::now();
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
            return Poll::Ready(if asked_when.is_some() {
                Ended::Quiet
            } else {
                Ended::Done(out)
            });
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
        // The clock responses note their waits in, in whole periods.
        let clock = u32::try_from(start.elapsed().as_nanos() / period.as_nanos()).unwrap_or(u32::MAX);
        activity.clock.store(clock, Relaxed);
        if activity.stalled(clock, stall_periods) {
            return Poll::Ready(Ended::Stalled);
        }
        let now = activity.load();
        let mut next = period;
        match asked_when {
            // Nothing since the ask (its own writes, GOAWAY and a ping,
            // do not count): the client is not finishing; drop it.
            Some(requests) if requests == now.requests && now.idle() => return Poll::Ready(Ended::Quiet),
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
                if quiet_checks >= quiet_periods {
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

    /// Limits with a send timeout too long to matter.
    fn quiet_after(quiet: Duration) -> Limits {
        Limits {
            quiet,
            send_timeout: Duration::from_secs(24 * 3600),
        }
    }

    /// `serve_until_quiet` for a connection that ignores being asked to
    /// finish, in a drain of its own.
    async fn quiet<C: Future>(conn: C, a: Arc<Activity>, limit: Duration) -> Ended<C::Output> {
        serve_until_quiet(conn, |_| {}, a, quiet_after(limit), &Arc::new(Drain::default())).await
    }

    #[test]
    fn slots_are_taken_freed_and_read_for_stalls() {
        let a = Activity::default();
        let slots: Vec<usize> = (0..SLOTS).map(|_| usize::from(a.take_slot().unwrap())).collect();
        assert_eq!(slots, (0..SLOTS).collect::<Vec<_>>());
        assert_eq!(a.take_slot(), None, "all held");
        a.free_slot(5);
        assert_eq!(a.take_slot(), Some(5u8));
        // Slot 7 began to wait at clock 3 (stored as 4).
        a.waiting[7].store(4, Relaxed);
        assert!(!a.stalled(5, 2), "one whole period at most");
        assert!(a.stalled(6, 2));
        a.free_slot(7);
        assert!(!a.stalled(100, 2), "a freed slot does not wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_that_waits_on_the_client_for_the_send_timeout_closes_its_connection() {
        let a = Arc::new(Activity::default());
        let limits = Limits {
            quiet: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
        };
        // A request whose response waits on the client from the start.
        let request = a.start();
        let slot = usize::from(a.take_slot().unwrap());
        a.waiting[slot].store(1, Relaxed);
        let conn = async move {
            let _request = request;
            std::future::pending::<()>().await
        };
        let t0 = tokio::time::Instant::now();
        let out = serve_until_quiet(conn, |_| {}, a, limits, &Arc::new(Drain::default())).await;
        assert_eq!(out, Ended::Stalled);
        let waited = t0.elapsed();
        assert!(
            waited >= limits.send_timeout && waited <= limits.send_timeout + limits.quiet,
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn writes_that_make_progress_after_a_push_back_are_counted() {
        use tokio::io::AsyncReadExt;
        let a = Arc::new(Activity::default());
        let (ours, mut theirs) = tokio::io::duplex(8);
        let mut io = Counted::new(hyper_util::rt::TokioIo::new(ours), a.clone());
        let mut write = |bytes: &'static [u8]| {
            let mut cx = Context::from_waker(Waker::noop());
            Pin::new(&mut io).poll_write(&mut cx, bytes)
        };
        // Into room the socket had: an answered ping, say. Not activity.
        assert!(matches!(write(b"hello"), Poll::Ready(Ok(5))));
        assert!(matches!(write(b""), Poll::Ready(Ok(0))));
        assert_eq!(a.load().writes, 0);
        // The socket is full: the client is slow to read. Its next
        // progress shows the client is still taking the response.
        assert!(matches!(write(b"12345678"), Poll::Ready(Ok(3))));
        assert!(write(b"45678").is_pending());
        let mut b = [0u8; 8];
        theirs.read_exact(&mut b).await.unwrap();
        assert!(matches!(write(b"45678"), Poll::Ready(Ok(5))));
        assert_eq!(a.load().writes, 1);
        assert!(matches!(write(b"x"), Poll::Ready(Ok(1))));
        assert_eq!(a.load().writes, 1, "counted once per push-back");
        assert!(a.load().idle(), "writes are not requests");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_closed_after_the_limit_and_a_busy_one_is_not() {
        let limit = Duration::from_secs(10);
        // Nothing happens: asked to finish after the limit, dropped a second
        // later, all within one and a half times the limit.
        let a = Arc::new(Activity::default());
        let t0 = tokio::time::Instant::now();
        assert!(quiet(std::future::pending::<()>(), a, limit).await == Ended::Quiet);
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
        assert!(quiet(conn, a, limit).await == Ended::Quiet);
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
        assert_eq!(quiet(conn, a, limit).await, Ended::Done("done"));
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
        let out = serve_until_quiet(
            Finishes(false),
            |mut c| c.0 = true,
            a,
            quiet_after(Duration::from_secs(10)),
            &drain,
        )
        .await;
        assert_eq!(out, Ended::Quiet, "a quiet close");
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
        let out = serve_until_quiet(conn, |_| {}, a, quiet_after(limit), &Arc::new(Drain::default())).await;
        assert_eq!(out, Ended::Done("served"));
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_the_drain_asks_every_connection_to_finish_and_waits_for_them() {
        let drain = Arc::new(Drain::default());
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (a, d) = (Arc::new(Activity::default()), drain.clone());
            tasks.push(tokio::spawn(async move {
                serve_until_quiet(
                    Finishes(false),
                    |mut c| c.0 = true,
                    a,
                    quiet_after(Duration::from_secs(3600)),
                    &d,
                )
                .await
            }));
        }
        tokio::task::yield_now().await;
        assert_eq!(drain.open_connections(), 3);
        let t0 = tokio::time::Instant::now();
        drain.stop();
        drain.closed().await;
        assert_eq!(t0.elapsed(), Duration::ZERO, "no timer was needed");
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ended::Done("finished"));
        }
        // A connection that comes after the stop is asked at once.
        let a = Arc::new(Activity::default());
        let out = serve_until_quiet(
            Finishes(false),
            |mut c| c.0 = true,
            a,
            quiet_after(Duration::from_secs(3600)),
            &drain,
        )
        .await;
        assert_eq!(out, Ended::Done("finished"));
    }
}
