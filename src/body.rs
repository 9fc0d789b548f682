//! The response body type: either vestibule's own bytes (pages, JSON,
//! metrics) or the upstream's body streamed through untouched, read from
//! the upstream connection as the client takes it
//! ([`crate::upstream::ResponseBody`]).
//!
//! An enum rather than a boxed trait object: no allocation per response, and
//! the size hint of our own bytes stays exact, so hyper sends
//! `Content-Length` instead of chunking.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use crate::upstream::ResponseBody;

/// Body of every response vestibule sends.
#[derive(Debug)]
pub enum Body {
    /// Our own bytes, sent once.
    Full(Option<Bytes>),
    /// The upstream's body, streamed frame by frame.
    Upstream(ResponseBody),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
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
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            Body::Upstream(u) => Pin::new(u).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            Body::Upstream(u) => u.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Upstream(u) => u.size_hint(),
        }
    }
}
