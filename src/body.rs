//! The response body type: either vestibule's own bytes (pages, JSON,
//! metrics) or the upstream's body streamed through untouched, which hands
//! its connection back to the pool once read to the end.
//!
//! An enum rather than a boxed trait object: no allocation per response, and
//! the size hint of our own bytes stays exact, so hyper sends
//! `Content-Length` instead of chunking.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};

use crate::upstream::Pooled;

/// Body of every response vestibule sends.
#[derive(Debug)]
pub enum Body {
    /// Our own bytes, sent once.
    Full(Option<Bytes>),
    /// The upstream's body, streamed frame by frame.
    Upstream(Incoming, Pooled),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// The upstream's body; `conn` goes back to the pool when it ends
    /// (at once, for a response without a body).
    pub fn upstream(body: Incoming, mut conn: Pooled) -> Body {
        if body.is_end_stream() {
            conn.release();
        }
        Body::Upstream(body, conn)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Full(Some(Bytes::from(s)))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Full(Some(Bytes::from_static(s.as_bytes())))
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body::Full(Some(b))
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            Body::Upstream(i, conn) => {
                let polled = Pin::new(&mut *i).poll_frame(cx);
                // hyper stops polling once `is_end_stream` says so, and drops
                // the body as soon as it has the trailers: the last data
                // frame or the trailers may be the last call, so release
                // there too. An error leaves the connection to close with
                // `conn`.
                match &polled {
                    Poll::Ready(None) => conn.release(),
                    Poll::Ready(Some(Ok(f))) if f.is_trailers() || i.is_end_stream() => conn.release(),
                    _ => {}
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            Body::Upstream(i, _) => i.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Upstream(i, _) => i.size_hint(),
        }
    }
}
