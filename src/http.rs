//! Small HTTP helpers the gate, the admin API and the demo share:
//! vestibule's own responses, what the client asks for, query parameters,
//! local redirect targets. No I/O.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::body::Body;

/// Who sent a request, as its connection tells: the client's address,
/// and whether it came over TLS (its cookies are then `Secure`, and the
/// upstream hears `X-Forwarded-Proto: https`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: std::net::SocketAddr,
    pub tls: bool,
}

impl Peer {
    /// A client on a plain connection.
    pub fn plain(addr: std::net::SocketAddr) -> Peer {
        Peer { addr, tls: false }
    }
}

/// The host a request names, as the client wrote it: the URI's authority
/// (HTTP/2's `:authority`, an absolute-form request), else `Host`.
pub fn request_host<B>(req: &http::Request<B>) -> Option<&str> {
    match req.uri().authority() {
        Some(a) => Some(a.host()),
        None => req.headers().get(header::HOST).and_then(|v| v.to_str().ok()),
    }
}

/// A host as written in a `Host` header, without its port: `example.com`
/// of `example.com:8080`, `[::1]` of `[::1]:8080`.
fn without_port(h: &str) -> &str {
    match h.rsplit_once(':') {
        Some((name, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => h,
    }
}

/// Whether a browser sent this request from a page of another site, so
/// that it must not act for the visitor (a link elsewhere ending their
/// session). Browsers with Fetch Metadata say so in `Sec-Fetch-Site`.
/// For older ones (Safari before 16.4), an `Origin` or else a `Referer`
/// must name the request's own host: another host (a sibling subdomain
/// too) or one that cannot be read counts as another site. With neither,
/// a browser's navigation (it takes `text/html`) counts as another site,
/// since the page it came from may have held its Referer back
/// (`rel=noreferrer`, an https page linking to http); a client that
/// takes no HTML (an app's own request) is taken at its word: no other
/// site can make it send the visitor's cookie.
pub fn from_another_site<B>(req: &http::Request<B>) -> bool {
    let h = req.headers();
    if let Some(site) = h.get("sec-fetch-site") {
        return site.as_bytes() == b"cross-site";
    }
    let Some(from) = h.get(header::ORIGIN).or_else(|| h.get(header::REFERER)) else {
        return h
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| v.as_bytes().windows(9).any(|w| w.eq_ignore_ascii_case(b"text/html")));
    };
    let from = from.to_str().ok().and_then(|s| s.parse::<http::Uri>().ok());
    match (
        from.as_ref().and_then(http::Uri::host),
        request_host(req).map(without_port),
    ) {
        (Some(from), Some(here)) => !from.eq_ignore_ascii_case(here),
        _ => true,
    }
}

/// The answer of a plain listener whose site is on TLS: `308` to the
/// same host and path on https (on `port`, named unless 443), keeping the
/// method and body. `None` for what stays on plain HTTP: vestibule's own
/// endpoints and ACME's HTTP challenges (a certificate's renewal must
/// reach the backend that answers them). A request with no usable host
/// gets a 400.
pub fn https_redirect<B>(req: &http::Request<B>, port: u16) -> Option<Response<Body>> {
    let path = req.uri().path();
    // `OPTIONS *` names no resource to send anyone to.
    if path == "*" || path.starts_with("/_vestibule/") || path.starts_with("/.well-known/acme-challenge/") {
        return None;
    }
    let host = request_host(req).map(without_port);
    // A name or an address, nothing a Location could be bent with.
    let host = host.filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':'))
    });
    let Some(host) = host else {
        return Some(respond(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            "This site is served over HTTPS; the request named no host to send you to.\n".into(),
        ));
    };
    let mut location = format!("https://{host}");
    if port != 443 {
        location.push_str(&format!(":{port}"));
    }
    location.push_str(req.uri().path_and_query().map_or("/", |pq| pq.as_str()));
    let mut resp = respond(
        StatusCode::PERMANENT_REDIRECT,
        "text/plain; charset=utf-8",
        String::new(),
    );
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => *resp.status_mut() = StatusCode::BAD_REQUEST,
    }
    Some(resp)
}

/// One query parameter, percent-decoded; borrowed when there is nothing to
/// decode (`?room=registration`, every status poll).
pub fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<Cow<'q, str>> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| {
            if v.contains(['%', '+']) {
                Cow::Owned(percent_decode(v))
            } else {
                Cow::Borrowed(v)
            }
        })
    })
}

/// `s` with its `%XX` escapes and `+` decoded, as in a query string.
pub fn percent_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(h * 16 + l);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A same-site path to send a visitor back to: no scheme or host, no
/// `//` or `\` that a browser would read as one, no control characters or
/// spaces (browsers strip tabs and newlines, which turns `/\t/evil` into
/// `//evil`).
pub fn is_local_path(t: &str) -> bool {
    t.starts_with('/') && !t.starts_with("//") && t.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'\\')
}

/// True when the client asks for JSON rather than a page.
pub fn prefers_json(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// A response of vestibule's own with `body`.
pub fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON answer that is never cached.
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut r = respond(status, "application/json", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param(Some("room=reg&return_to=%2Fdone%3Fx"), "return_to").as_deref(),
            Some("/done?x")
        );
        assert_eq!(query_param(Some("room=reg"), "x"), None);
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
    }

    #[test]
    fn another_site_by_fetch_metadata_else_by_origin_or_referer() {
        let req = |host: &str, headers: &[(&str, &str)]| {
            let mut b = http::Request::get("/_vestibule/leave").header("host", host);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(()).unwrap()
        };
        let own = [
            ("example.com", vec![]),
            ("example.com", vec![("accept", "application/json")]),
            ("example.com:8080", vec![("referer", "https://EXAMPLE.com/done?x=1")]),
            ("[::1]:8080", vec![("origin", "http://[::1]:8080")]),
            (
                "example.com",
                vec![("sec-fetch-site", "same-site"), ("origin", "https://evil.test")],
            ),
            ("example.com", vec![("sec-fetch-site", "none")]),
        ];
        for (host, headers) in own {
            assert!(!from_another_site(&req(host, &headers)), "{host} {headers:?}");
        }
        let elsewhere = [
            ("example.com", vec![("sec-fetch-site", "cross-site")]),
            ("example.com", vec![("referer", "https://evil.test/example.com")]),
            ("example.com", vec![("referer", "https://www.example.com/")]),
            ("example.com", vec![("origin", "null")]),
            ("example.com", vec![("referer", "not a url")]),
            (
                "example.com",
                vec![("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
            ),
            ("example.com", vec![("accept", "TEXT/HTML")]),
        ];
        for (host, headers) in elsewhere {
            assert!(from_another_site(&req(host, &headers)), "{host} {headers:?}");
        }
    }

    #[test]
    fn only_local_paths_are_redirect_targets() {
        for ok in ["/", "/done?x=1", "/a/b"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\\evil",
            "http://x",
            "",
            "/a b",
            "/\n/x",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn json_only_when_html_is_not_wanted() {
        let mut h = HeaderMap::new();
        assert!(!prefers_json(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(prefers_json(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/json;q=0.9"),
        );
        assert!(!prefers_json(&h));
    }

    #[test]
    fn the_redirect_keeps_the_path_and_names_the_port_unless_443() {
        let req = |uri: &str, host: &str| http::Request::get(uri).header("host", host).body(()).unwrap();
        let loc = |r: Response<Body>| r.headers()[header::LOCATION].to_str().unwrap().to_string();
        assert_eq!(
            loc(https_redirect(&req("/a/b?c=1", "Example.org:80"), 443).unwrap()),
            "https://Example.org/a/b?c=1"
        );
        assert_eq!(
            loc(https_redirect(&req("/", "[::1]:8080"), 8443).unwrap()),
            "https://[::1]:8443/"
        );
        assert!(https_redirect(&req("/_vestibule/status", "a"), 443).is_none());
        assert!(https_redirect(&req("/.well-known/acme-challenge/x", "a"), 443).is_none());
        let options = http::Request::builder()
            .method("OPTIONS")
            .uri("*")
            .header("host", "a")
            .body(())
            .unwrap();
        assert!(
            https_redirect(&options, 443).is_none(),
            "OPTIONS * names nothing to go to"
        );
        let bad = https_redirect(&req("/", "a\"b"), 443).unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    }
}
