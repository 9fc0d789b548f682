//! What a client's request must be for vestibule to pass it on: requests
//! a proxy cannot pass on faithfully are refused, so that no part behind
//! this one has to guess.
//!
//! * **Two `Host` headers** (RFC 9112 3.2: 400): which one a backend reads
//!   is its own choice, and a gate that reads the other is bypassed.
//! * **An HTTP/2 `Host` that differs from `:authority`** (RFC 9113 8.3.1:
//!   malformed), for the same reason. An HTTP/1.1 absolute-form target
//!   (`GET http://a.example/x`) is not refused: its authority is the
//!   request's host and the `Host` header is ignored (RFC 9112 3.2.2), and
//!   the upstream gets the authority.
//! * **A transfer coding other than one `chunked`** (`gzip, chunked`; RFC
//!   9112 6.1: 501): the body would reach the upstream without its coding
//!   said.
//! * **`CONNECT`** (405): a reverse proxy tunnels nowhere.
//! * **A path no honest client sends** ([`crate::path::Refusal`]): 400,
//!   found as the gate routes it.
//!
//! The header checks are made where every header is read anyway, as the
//! proxy rewrites the head for the upstream (`crate::proxy`), so they cost
//! no lookup; a request that is never forwarded (a waiting visitor's) is
//! answered from the lobby, whatever its headers.

use http::{HeaderValue, StatusCode};

use crate::path::Refusal;

/// Why a request is refused rather than passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("more than one Host header")]
    TwoHosts,
    #[error("the Host header differs from the :authority")]
    HostNotAuthority,
    #[error("a transfer coding other than chunked")]
    TransferCoding,
    #[error("CONNECT")]
    Connect,
    #[error(transparent)]
    Path(#[from] Refusal),
    /// A room's path, on a host no room takes it on, bound for an
    /// upstream that room's own hosts reach ([`crate::room::Rooms::route_request`]).
    #[error("a room's path on a host it is not served on")]
    Misdirected,
}

impl Malformed {
    /// The status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Malformed::TransferCoding => StatusCode::NOT_IMPLEMENTED,
            Malformed::Connect => StatusCode::METHOD_NOT_ALLOWED,
            Malformed::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What the client's page says.
    pub fn explanation(self) -> &'static str {
        match self {
            Malformed::TransferCoding => "The request's body is sent in a way this site does not accept.",
            Malformed::Misdirected => "This page is not served under this address. Use the site's own address.",
            _ => "The address or the headers of this request are not valid.",
        }
    }
}

/// Whether a `Transfer-Encoding` value is `chunked` alone. (hyper has
/// refused one whose last coding is not chunked already.)
pub fn only_chunked(v: &HeaderValue) -> bool {
    v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_chunked_coding_passes() {
        for ok in ["chunked", " Chunked "] {
            assert!(only_chunked(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["gzip, chunked", "chunked, chunked", "identity", ""] {
            assert!(!only_chunked(&HeaderValue::from_static(bad)), "{bad}");
        }
    }
}
