//! Closes client connections that have gone quiet: an idle keep-alive
//! connection, or a client that never finishes its request head
//! (slowloris).
//!
//! One timer per connection, not one per request. hyper's own
//! `header_read_timeout` arms a timer for every request head, which cost
//! about 1,100 instructions a request, 3 % of a proxied one
//! (docs/BENCHMARKS.md). Here the requests and the writes of a connection
//! bump one shared counter, and a timer that fires every half limit looks
//! at it: a connection whose counter has not moved for two checks in a
//! row, with no request in progress, is closed. It has then been quiet for
//! at least the limit and at most one and a half times it.
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
//! `response_timeout` bounds the second). An idle HTTP/2 connection is
//! dropped without a GOAWAY frame, and an HTTP/2 client's pings (answered,
//! so written) count as activity.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};

use crate::body::Body;

/// What a connection is doing: requests in progress in the low 32 bits;
/// the high bits count events (a request starting or ending, a write), so
/// any change of the whole means activity.
#[derive(Debug, Default)]
pub struct Activity(AtomicU64);

const EVENT: u64 = 1 << 32;
const IN_FLIGHT: u64 = EVENT - 1;

impl Activity {
    /// A request has started; it lasts until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.0.fetch_add(EVENT + 1, Relaxed);
        InFlight(self.clone())
    }

    fn wrote(&self) {
        self.0.fetch_add(EVENT, Relaxed);
    }

    fn load(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// One request in progress on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // One more event, one fewer in flight (never below zero: this
        // guard's own start is counted).
        self.0 .0.fetch_add(EVENT - 1, Relaxed);
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
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
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
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                this.activity.wrote();
            }
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                this.activity.wrote();
            }
        }
        r
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

/// Runs `conn` until it ends (`Some` of its output), or until it has been
/// quiet for `limit` (see the module docs) and is dropped, which closes
/// its socket (`None`).
pub async fn close_when_quiet<C: Future>(conn: C, activity: Arc<Activity>, limit: Duration) -> Option<C::Output> {
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
    poll_fn(|cx| {
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        loop {
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
            if now == seen && now & IN_FLIGHT == 0 {
                quiet_checks += 1;
                if quiet_checks == 2 {
                    return Poll::Ready(None);
                }
            } else {
                quiet_checks = 0;
                seen = now;
            }
            timer.as_mut().reset(tokio::time::Instant::now() + period);
            armed = false;
        }
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
        assert_eq!(a.load() & IN_FLIGHT, 2);
        drop(one);
        a.wrote();
        assert_eq!(a.load() & IN_FLIGHT, 1);
        drop(two);
        assert_eq!(a.load() & IN_FLIGHT, 0);
        assert_eq!(a.load() >> 32, 5, "two starts, two ends, a write");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_is_closed_after_the_limit_and_a_busy_one_is_not() {
        let limit = Duration::from_secs(10);
        // Nothing happens: closed between the limit and one and a half times it.
        let a = Arc::new(Activity::default());
        let t0 = tokio::time::Instant::now();
        assert!(close_when_quiet(std::future::pending::<()>(), a, limit).await.is_none());
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
        assert!(close_when_quiet(conn, a, limit).await.is_none());
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
        assert_eq!(close_when_quiet(conn, a, limit).await, Some("done"));
    }
}
