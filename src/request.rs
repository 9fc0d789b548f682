//! What a client's request must be before the gate looks at it: requests
//! a proxy cannot pass on faithfully are refused here, whatever their
//! path, so that no part behind this one has to guess.
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
//! * **A path no honest client sends** ([`crate::path::Refusal`]): 400.

use http::header::{self, HeaderMap};
use http::{Request, StatusCode, Version};

use crate::path::Refusal;

/// Why a request is refused before the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("more than one Host header")]
    TwoHosts,
    #[error("the Host header differs from the :authority")]
    HostNotAuthority,
    #[error("a transfer coding other than chunked")]
    TransferCoding,
    #[error(transparent)]
    Path(#[from] Refusal),
}

impl Malformed {
    /// The status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Malformed::TransferCoding => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// What the client's page says.
    pub fn explanation(self) -> &'static str {
        match self {
            Malformed::TransferCoding => "The request's body is sent in a way this site does not accept.",
            _ => "The address or the headers of this request are not valid.",
        }
    }
}

/// Checks the headers of `req` (its path is checked as it is routed).
pub fn check<B>(req: &Request<B>) -> Result<(), Malformed> {
    let h = req.headers();
    let mut hosts = h.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Malformed::TwoHosts);
    }
    if let (Version::HTTP_2, Some(host), Some(authority)) = (req.version(), host, req.uri().authority()) {
        if host.as_bytes() != authority.as_str().as_bytes() {
            return Err(Malformed::HostNotAuthority);
        }
    }
    transfer_coding(h)
}

/// One `Transfer-Encoding: chunked`, or none. (hyper has refused one
/// whose last coding is not chunked already.)
fn transfer_coding(h: &HeaderMap) -> Result<(), Malformed> {
    let mut codings = h.get_all(header::TRANSFER_ENCODING).iter();
    match (codings.next(), codings.next()) {
        (None, _) => Ok(()),
        (Some(v), None) if v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked") => Ok(()),
        _ => Err(Malformed::TransferCoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(req: http::request::Builder) -> Result<(), Malformed> {
        check(&req.body(()).unwrap())
    }

    #[test]
    fn requests_a_proxy_cannot_pass_on_faithfully_are_refused() {
        let get = || Request::get("/x");
        assert_eq!(checked(get().header("host", "a")), Ok(()));
        assert_eq!(checked(get()), Ok(()));
        assert_eq!(
            checked(get().header("host", "a").header("host", "b")),
            Err(Malformed::TwoHosts)
        );
        assert_eq!(
            checked(get().header("host", "a").header("host", "a")),
            Err(Malformed::TwoHosts)
        );
        assert_eq!(checked(get().header("transfer-encoding", " Chunked ")), Ok(()));
        for te in [&["gzip, chunked"][..], &["chunked", "chunked"], &["identity"]] {
            let mut r = get();
            for v in te {
                r = r.header("transfer-encoding", *v);
            }
            assert_eq!(checked(r), Err(Malformed::TransferCoding), "{te:?}");
        }
        let h2 = || Request::get("https://a.example/x").version(Version::HTTP_2);
        assert_eq!(checked(h2()), Ok(()));
        assert_eq!(checked(h2().header("host", "a.example")), Ok(()));
        assert_eq!(
            checked(h2().header("host", "b.example")),
            Err(Malformed::HostNotAuthority)
        );
        // HTTP/1.1 absolute form: the target's authority wins, no refusal.
        assert_eq!(
            checked(Request::get("http://a.example/x").header("host", "b.example")),
            Ok(())
        );
    }
}
