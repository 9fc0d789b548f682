//! Forwarding to the upstream: pooled keep-alive connections
//! ([`crate::upstream`]), bodies streamed both ways, hop-by-hop headers stripped, `X-Forwarded-*` set, upgrades
//! (WebSocket) spliced, and bounded connect and response timeouts.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::header::{self, Entry, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::body::Body;
use crate::config::{ServerConfig, Upstream};
use crate::gate::crumbs;
use crate::h1::{RequestFraming, RequestHead};
use crate::metrics::UpstreamErrorKind;
use crate::upstream::{Pool, SendError, Upgraded};

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot connect to the upstream: {0}")]
    Connect(String),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream exchange failed: {0}")]
    Protocol(String),
}

impl ProxyError {
    pub fn kind(&self) -> UpstreamErrorKind {
        match self {
            ProxyError::Connect(_) => UpstreamErrorKind::Connect,
            ProxyError::Timeout(_) => UpstreamErrorKind::Timeout,
            ProxyError::Protocol(_) => UpstreamErrorKind::Protocol,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The upstream client.
#[derive(Clone)]
pub struct Proxy {
    pool: Pool,
    upstream: Upstream,
    response_timeout: Duration,
    trust_forwarded: bool,
}

/// Headers that describe one connection, not the message (RFC 9110 7.6.1).
/// A static, not a const: a const array of names is built and dropped at
/// every use.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Cookies vestibule owns start with this; they are not sent upstream.
pub const COOKIE_PREFIX: &str = "vst_";

impl Proxy {
    pub fn new(cfg: &ServerConfig) -> Proxy {
        let origin = Uri::builder()
            .scheme(cfg.upstream.scheme.clone())
            .authority(cfg.upstream.authority.clone())
            .path_and_query("/")
            .build()
            .expect("scheme and authority were validated with the config");
        Proxy {
            pool: Pool::new(origin, cfg.connect_timeout, Duration::from_secs(60)),
            upstream: cfg.upstream.clone(),
            response_timeout: cfg.response_timeout,
            trust_forwarded: cfg.trust_forwarded_headers,
        }
    }

    /// Sends `req` upstream and returns its response with a streamed body.
    ///
    /// The request is rewritten before the future is made, so the future
    /// holds the rewritten request once and none of the rewriting's locals:
    /// as an `async fn` it was 4 KiB, copied at every level it passed
    /// through (memcpy led the profiles).
    ///
    /// The future owns what it needs (a handle on the pool), so a caller can
    /// call this when the request arrives and await it later: the parsed
    /// request is let go of at once.
    pub fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Response<Body>, ProxyError>> + Send + 'static {
        let upgrade = wants_upgrade(&req);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();

        let host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let upgrade_proto = if upgrade {
            parts.headers.get(header::UPGRADE).cloned()
        } else {
            None
        };
        strip_hop_by_hop(&mut parts.headers);
        if let (true, Some(p)) = (upgrade, upgrade_proto) {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            parts.headers.insert(header::UPGRADE, p);
        }
        normalize_cookies(&mut parts.headers);
        forwarded_headers(&mut parts.headers, peer.ip(), host.as_ref(), self.trust_forwarded);
        // HTTP/1.1 needs a Host; a client that sent none gets the upstream's.
        // `insert` also leaves one where a client sent several.
        let host = host.unwrap_or_else(|| {
            HeaderValue::from_str(self.upstream.authority.as_str()).expect("an authority is a valid header value")
        });
        parts.headers.insert(header::HOST, host);
        // The connection is to the upstream already: origin-form
        // (`/path?query`), as HTTP/2 and absolute-form requests are not.
        if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
            parts.uri = parts
                .uri
                .path_and_query()
                .cloned()
                .map_or_else(|| Uri::from_static("/"), Uri::from);
        }
        // Encoded here, not in the future: the parsed request holds on to
        // the client connection's read buffer, which hyper wants back
        // before the future first runs (it reads ahead at once).
        let framing = RequestFraming::of(&body);
        let head = RequestHead::encode(&parts, framing);
        drop(parts);
        let timeout = self.response_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let pool = self.pool.clone();
        async move {
            let mut resp = match pool.send_head(head, body, Some(deadline)).await {
                Err(SendError::Timeout) => return Err(ProxyError::Timeout(timeout)),
                Err(SendError::Connect(e)) => return Err(ProxyError::Connect(e)),
                Err(SendError::Protocol(e)) => return Err(ProxyError::Protocol(e)),
                Ok(r) => r,
            };

            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                // The pool answers 101 only to an upgrade request.
                let (parts, body) = resp.into_parts();
                if let (Some(client_side), Some(upstream_side)) = (client_upgrade, body.into_upgraded()) {
                    tokio::spawn(splice(client_side, upstream_side));
                }
                return Ok(Response::from_parts(parts, Body::empty()));
            }
            // Upgrade included: it is only for a 101 answer.
            strip_hop_by_hop(resp.headers_mut());
            Ok(resp.map(Body::Upstream))
        }
    }
}

/// An error and its sources, joined with ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// An HTTP/1.1 upgrade request (`Connection: upgrade` plus `Upgrade`).
fn wants_upgrade<B>(req: &Request<B>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && req
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Whether `n` describes the connection rather than the message.
fn is_hop_by_hop(n: &HeaderName) -> bool {
    *n == header::UPGRADE || HOP_BY_HOP.contains(n)
}

/// Removes hop-by-hop headers, including any the `Connection` header names.
/// One look over the names first: most messages carry none of them, or only
/// `Connection` itself, and a removal costs a hash lookup each.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let mut found: Vec<HeaderName> = h.keys().filter(|n| is_hop_by_hop(n)).cloned().collect();
    if found.is_empty() {
        return;
    }
    for v in h.get_all(header::CONNECTION).iter().filter_map(|v| v.to_str().ok()) {
        for t in v.split(',').map(str::trim) {
            // The usual tokens name no header of their own.
            if t.is_empty() || t.eq_ignore_ascii_case("keep-alive") || t.eq_ignore_ascii_case("close") {
                continue;
            }
            if let Ok(n) = HeaderName::from_bytes(t.as_bytes()) {
                found.push(n);
            }
        }
    }
    for n in &found {
        h.remove(n);
    }
}

/// Sends the upstream one `Cookie` header without vestibule's own cookies:
/// the upstream has no use for them, and they should not end up in its
/// logs. HTTP/2 clients send each cookie as its own header ("crumbs"), which
/// must be joined for HTTP/1.1 (RFC 9113 8.2.3). Works on bytes, so a
/// cookie with raw UTF-8 in it passes through intact.
fn normalize_cookies(h: &mut HeaderMap) {
    let own = COOKIE_PREFIX.as_bytes();
    let mut values = h.get_all(header::COOKIE).iter();
    match (values.next(), values.next()) {
        (None, _) => return,
        // One header without our cookies: as it came.
        (Some(v), None) if !crumbs(v.as_bytes()).any(|c| c.starts_with(own)) => return,
        _ => {}
    }
    let mut joined = Vec::new();
    for v in h.get_all(header::COOKIE) {
        for c in crumbs(v.as_bytes()) {
            if c.starts_with(own) {
                continue;
            }
            if !joined.is_empty() {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(c);
        }
    }
    match HeaderValue::from_bytes(&joined) {
        Ok(v) if !joined.is_empty() => {
            h.insert(header::COOKIE, v);
        }
        _ => {
            h.remove(header::COOKIE);
        }
    }
}

/// `peer`'s address as a header value. IPv4, the common case, is written
/// by hand: the formatting machinery cost more than the rest of the
/// forwarded headers together (docs/BENCHMARKS.md).
fn ip_value(ip: IpAddr) -> HeaderValue {
    let mut buf = [0u8; 15];
    let len = match ip {
        IpAddr::V4(v4) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            n
        }
        IpAddr::V6(_) => return HeaderValue::from_str(&ip.to_string()).expect("an address is a valid header value"),
    };
    HeaderValue::from_bytes(&buf[..len]).expect("digits and dots are a valid header value")
}

/// Appends the peer to `X-Forwarded-For` and sets `X-Forwarded-Proto` and
/// `-Host`, unless `trust` says a load balancer in front already set them
/// (it knows whether the client used HTTPS; we only see its connection).
fn forwarded_headers(h: &mut HeaderMap, peer: IpAddr, host: Option<&HeaderValue>, trust: bool) {
    match h.entry(&X_FORWARDED_FOR) {
        Entry::Vacant(e) => {
            e.insert(ip_value(peer));
        }
        // Every earlier hop, however many header lines carried them, then
        // this peer.
        Entry::Occupied(mut e) => {
            let mut xff = Vec::new();
            for v in e.iter() {
                let v = v.as_bytes().trim_ascii();
                if !v.is_empty() {
                    xff.extend_from_slice(v);
                    xff.extend_from_slice(b", ");
                }
            }
            xff.extend_from_slice(ip_value(peer).as_bytes());
            if let Ok(v) = HeaderValue::from_bytes(&xff) {
                e.insert(v);
            }
        }
    }
    let proto = HeaderValue::from_static("http");
    if trust {
        h.entry(&X_FORWARDED_PROTO).or_insert(proto);
        if let Some(host) = host {
            h.entry(&X_FORWARDED_HOST).or_insert_with(|| host.clone());
        }
    } else {
        // What a client claims about the original request is not evidence:
        // `insert` replaces whatever it sent.
        h.insert(&X_FORWARDED_PROTO, proto);
        match host {
            Some(host) => h.insert(&X_FORWARDED_HOST, host.clone()),
            None => h.remove(&X_FORWARDED_HOST),
        };
        h.remove(header::FORWARDED);
    }
}

/// Copies bytes both ways between an upgraded client and upstream connection
/// until either side closes, starting with what the upstream sent right
/// after its 101.
async fn splice(client: hyper::upgrade::OnUpgrade, mut upstream: Upgraded) {
    let c = match client.await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade failed");
            return;
        }
    };
    let mut c = TokioIo::new(c);
    let copied = async {
        c.write_all(&upstream.read_ahead).await?;
        tokio::io::copy_bidirectional(&mut c, &mut upstream.io).await
    };
    if let Err(e) = copied.await {
        tracing::debug!(error = %e, "upgraded connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::ACCEPT));
        // An Upgrade without a Connection header naming it goes too.
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn peer_addresses_are_written_as_the_standard_library_would() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "100.64.9.10",
            "192.168.100.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip), ip.to_string().as_str());
        }
    }

    #[test]
    fn own_cookies_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; vst_reg=xyz; b=2"));
        normalize_cookies(&mut h);
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1; b=2");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("vst_reg=xyz"));
        normalize_cookies(&mut h);
        assert!(!h.contains_key(header::COOKIE));
    }

    #[test]
    fn cookie_crumbs_are_joined_and_raw_utf8_survives() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        normalize_cookies(&mut h);
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(h.get(header::COOKIE).unwrap(), "a=1; b=2");
        let mut h = HeaderMap::new();
        let raw = "name=J\u{fc}rgen; vst_reg=x; app_session=s1";
        h.insert(header::COOKIE, HeaderValue::from_bytes(raw.as_bytes()).unwrap());
        normalize_cookies(&mut h);
        assert_eq!(
            h.get(header::COOKIE).unwrap().as_bytes(),
            "name=J\u{fc}rgen; app_session=s1".as_bytes()
        );
    }

    #[test]
    fn an_untrusted_client_cannot_set_forwarded_host_or_proto() {
        let mut h = HeaderMap::new();
        h.insert(&X_FORWARDED_HOST, HeaderValue::from_static("evil.example"));
        h.insert(
            header::FORWARDED,
            HeaderValue::from_static("proto=https;host=evil.example"),
        );
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.1"));
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("198.51.100.2"));
        forwarded_headers(&mut h, "10.0.0.1".parse().unwrap(), None, false);
        assert!(!h.contains_key(&X_FORWARDED_HOST), "no Host: nothing to vouch for");
        assert!(!h.contains_key(header::FORWARDED));
        assert_eq!(h.get(&X_FORWARDED_FOR).unwrap(), "198.51.100.1, 198.51.100.2, 10.0.0.1");
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        h.insert(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.9"));
        let host = HeaderValue::from_static("example.org");
        h.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        forwarded_headers(&mut h, "10.0.0.1".parse().unwrap(), Some(&host), false);
        assert_eq!(h.get(&X_FORWARDED_FOR).unwrap(), "203.0.113.9, 10.0.0.1");
        assert_eq!(
            h.get(&X_FORWARDED_PROTO).unwrap(),
            "http",
            "a client cannot claim https"
        );
        assert_eq!(h.get(&X_FORWARDED_HOST).unwrap(), "example.org");
    }

    #[test]
    fn a_trusted_balancer_keeps_its_proto_and_host() {
        let mut h = HeaderMap::new();
        h.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        h.insert(&X_FORWARDED_HOST, HeaderValue::from_static("tickets.example.org"));
        let host = HeaderValue::from_static("10.0.0.5:8080");
        forwarded_headers(&mut h, "10.0.0.1".parse().unwrap(), Some(&host), true);
        assert_eq!(h.get(&X_FORWARDED_PROTO).unwrap(), "https");
        assert_eq!(h.get(&X_FORWARDED_HOST).unwrap(), "tickets.example.org");
        assert_eq!(h.get(&X_FORWARDED_FOR).unwrap(), "10.0.0.1");
        let mut h = HeaderMap::new();
        forwarded_headers(&mut h, "10.0.0.1".parse().unwrap(), Some(&host), true);
        assert_eq!(h.get(&X_FORWARDED_PROTO).unwrap(), "http", "absent: set as usual");
    }
}
