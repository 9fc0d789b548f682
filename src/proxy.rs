//! Forwarding to the upstream: pooled keep-alive connections
//! ([`crate::upstream`]), bodies streamed both ways, hop-by-hop headers stripped, `X-Forwarded-*` set, upgrades
//! (WebSocket) spliced, and bounded connect and response timeouts.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::body::Body;
use crate::config::{Config, ServerConfig, Upstream, UpstreamTls};
use crate::cookie::{crumbs, COOKIE_PREFIX};
use crate::http::Peer;
use crate::metrics::{Metrics, UpstreamErrorKind};
use crate::request::{self, Malformed};
use crate::tls::TlsError;
use crate::upstream::h1::{connection_named, is_hop_by_hop, HeadWriter, RequestFraming, RequestHead};
use crate::upstream::{Pool, ReadTimeout, ResponseBody, SendError, Upgraded};

/// Why forwarding failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot connect to the upstream: {0}")]
    Connect(String),
    #[error("the upstream did not answer within {0:?}")]
    Timeout(Duration),
    #[error("upstream exchange failed: {0}")]
    Protocol(String),
    /// Not the upstream's fault: the client's request body broke off.
    #[error("the client's request failed: {0}")]
    Client(String),
    /// A request that cannot be passed on faithfully; never sent.
    #[error("the request was refused: {0}")]
    Refused(Malformed),
    /// The client's request body did not arrive within the deadline.
    #[error("the client's request body did not arrive within {0:?}")]
    ClientTimeout(Duration),
}

impl ProxyError {
    /// The kind of upstream error, or `None` when the client is to blame.
    pub fn kind(&self) -> Option<UpstreamErrorKind> {
        match self {
            ProxyError::Connect(_) => Some(UpstreamErrorKind::Connect),
            ProxyError::Timeout(_) => Some(UpstreamErrorKind::Timeout),
            ProxyError::Protocol(_) => Some(UpstreamErrorKind::Protocol),
            ProxyError::Client(_) | ProxyError::Refused(_) | ProxyError::ClientTimeout(_) => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Client(_) => StatusCode::BAD_REQUEST,
            ProxyError::Refused(m) => m.status(),
            ProxyError::ClientTimeout(_) => StatusCode::REQUEST_TIMEOUT,
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

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

impl Proxy {
    /// The client for `upstream`, with `cfg`'s timeouts; `tls` for an
    /// `https://` one. Bodies cut off for the upstream's silence are
    /// counted in `metrics`.
    pub fn new(
        cfg: &ServerConfig,
        upstream: &Upstream,
        tls: Option<Arc<rustls::ClientConfig>>,
        metrics: &Metrics,
    ) -> Result<Proxy, TlsError> {
        let origin = Uri::builder()
            .scheme(upstream.scheme.clone())
            .authority(upstream.authority.clone())
            .path_and_query("/")
            .build()
            .expect("scheme and authority were validated with the config");
        Ok(Proxy {
            pool: Pool::new(
                origin,
                cfg.connect_timeout,
                Duration::from_secs(60),
                Some(ReadTimeout {
                    after: cfg.upstream_read_timeout,
                    cut_off: metrics.upstream_read_timeouts(),
                }),
                tls,
            )?,
            upstream: upstream.clone(),
            response_timeout: cfg.response_timeout,
            trust_forwarded: cfg.trust_forwarded_headers,
        })
    }

    /// The upstream this client forwards to.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// Idle pooled connections now (for tests).
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_count()
    }

    /// Sends `req` upstream and returns its response with a streamed body.
    ///
    /// The request is rewritten before the future is made, so the future
    /// holds the rewritten request once and none of the rewriting's locals:
    /// the future is copied at every level it passes through, and its size
    /// is held by `gate.rs`'s tests.
    ///
    /// The future owns what it needs (a handle on the pool), so a caller can
    /// call this when the request arrives and await it later: the parsed
    /// request is let go of at once.
    pub fn forward(
        &self,
        mut req: Request<Incoming>,
        peer: Peer,
    ) -> impl Future<Output = Result<Response<Body>, ProxyError>> + Send + 'static {
        let upgrade = wants_upgrade(&req);
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let (parts, body) = req.into_parts();
        // Encoded here, not in the future: the parsed request holds on to
        // the client connection's read buffer, which hyper wants back
        // before the future first runs (it reads ahead at once).
        let hop = Hop {
            peer: peer.addr.ip(),
            tls: peer.tls,
            upstream: self.upstream.authority.as_str(),
            own_host: self.upstream.scheme == http::uri::Scheme::HTTPS,
            trust: self.trust_forwarded,
        };
        let head = request_head(&parts, RequestFraming::of(&body), upgrade, &hop);
        drop(parts);
        let deadline = tokio::time::Instant::now() + self.response_timeout;
        let (send, refused) = match head {
            Ok(head) => (Some(self.pool.clone().send_head(head, body, Some(deadline))), None),
            Err(m) => (None, Some(m)),
        };
        Forward {
            send,
            refused,
            timeout: self.response_timeout,
            client_upgrade,
        }
    }
}

/// What decides whether a client can be kept across a reload: the
/// settings it was made with, the TLS files' bytes included (a renewed
/// client certificate or CA makes new connections).
#[derive(Debug, Clone, PartialEq)]
struct Made {
    connect_timeout: Duration,
    response_timeout: Duration,
    upstream_read_timeout: Duration,
    trust_forwarded: bool,
    tls: UpstreamTls,
    tls_files: Vec<Option<Vec<u8>>>,
}

impl Made {
    fn of(cfg: &ServerConfig) -> Made {
        let t = &cfg.upstream_tls;
        let files = t.ca_file.iter().chain(t.client_cert.iter().flat_map(|(c, k)| [c, k]));
        Made {
            connect_timeout: cfg.connect_timeout,
            response_timeout: cfg.response_timeout,
            upstream_read_timeout: cfg.upstream_read_timeout,
            trust_forwarded: cfg.trust_forwarded_headers,
            tls: t.clone(),
            tls_files: files.map(|f| std::fs::read(f).ok()).collect(),
        }
    }
}

/// The upstream clients a configuration names: `[server] upstream`, and
/// each site's and room's own. One per distinct upstream, each with its
/// pool.
pub struct Upstreams {
    default: Proxy,
    others: Vec<Proxy>,
    /// The previous configuration's clients that this one has no more:
    /// rooms routed before the reload may still name them, for the
    /// moment between the two swaps (see [`crate::reload`]).
    retired: Vec<Proxy>,
    made: Made,
}

impl Upstreams {
    /// The clients `cfg` needs; those of `old` with the same upstream and
    /// settings are kept (their pooled connections with them).
    pub fn new(cfg: &Config, old: Option<&Upstreams>, metrics: &Metrics) -> Result<Upstreams, TlsError> {
        let made = Made::of(&cfg.server);
        let mut wanted: Vec<&Upstream> = vec![&cfg.server.upstream];
        for u in cfg
            .sites
            .iter()
            .map(|s| &s.upstream)
            .chain(cfg.rooms.iter().filter_map(|r| r.upstream.as_ref()))
        {
            if !wanted.contains(&u) {
                wanted.push(u);
            }
        }
        let reusable = old.filter(|o| o.made == made);
        let any_https = wanted.iter().any(|u| u.scheme == http::uri::Scheme::HTTPS);
        let mut tls = None;
        if any_https && reusable.is_none_or(|o| wanted.iter().any(|u| o.find(u).is_none())) {
            if cfg.server.upstream_tls.insecure_skip_verify {
                tracing::warn!(
                    "upstream_insecure_skip_verify is on: https upstreams' certificates are NOT checked; \
                     anyone on the path to the backend can read and change its traffic"
                );
            }
            tls = Some(crate::tls::client_config(&cfg.server.upstream_tls)?);
        }
        let mut made_list = Vec::new();
        for u in wanted {
            let kept = reusable.and_then(|o| o.find(u)).cloned();
            let p = match kept {
                Some(p) => p,
                None => Proxy::new(&cfg.server, u, tls.clone(), metrics)?,
            };
            made_list.push(p);
        }
        let default = made_list.remove(0);
        let retired = old
            .map(|o| {
                std::iter::once(&o.default)
                    .chain(&o.others)
                    .filter(|p| {
                        !std::iter::once(&default)
                            .chain(&made_list)
                            .any(|n| n.upstream == p.upstream)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(Upstreams {
            default,
            others: made_list,
            retired,
            made,
        })
    }

    fn find(&self, u: &Upstream) -> Option<&Proxy> {
        std::iter::once(&self.default)
            .chain(&self.others)
            .find(|p| &p.upstream == u)
    }

    /// The client for `upstream` (`None`: `[server] upstream`).
    pub fn get(&self, upstream: Option<&Upstream>) -> &Proxy {
        match upstream {
            None => &self.default,
            Some(u) => self
                .find(u)
                .or_else(|| self.retired.iter().find(|p| &p.upstream == u))
                .unwrap_or(&self.default),
        }
    }

    /// `[server] upstream`'s client.
    pub fn default_proxy(&self) -> &Proxy {
        &self.default
    }
}

pin_project_lite::pin_project! {
    /// An exchange [`Proxy::forward`] started: the pool's send, and the
    /// turning of its answer into vestibule's. A future of its own rather
    /// than an async block, which would hold the send's arguments twice.
    struct Forward<F> {
        // `None` when the request was refused as it was rewritten.
        #[pin]
        send: Option<F>,
        refused: Option<Malformed>,
        timeout: Duration,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    }
}

impl<F: Future<Output = Result<Response<ResponseBody>, SendError>>> Future for Forward<F> {
    type Output = Result<Response<Body>, ProxyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(send) = this.send.as_pin_mut() else {
            let m = this.refused.take().expect("a request not sent was refused");
            return Poll::Ready(Err(ProxyError::Refused(m)));
        };
        let resp = match ready!(send.poll(cx)) {
            Err(SendError::Timeout) => return Poll::Ready(Err(ProxyError::Timeout(*this.timeout))),
            Err(SendError::Connect(e)) => return Poll::Ready(Err(ProxyError::Connect(e))),
            Err(SendError::Protocol(e)) => return Poll::Ready(Err(ProxyError::Protocol(e))),
            Err(SendError::Client(e)) => return Poll::Ready(Err(ProxyError::Client(e))),
            Err(SendError::ClientTimeout) => return Poll::Ready(Err(ProxyError::ClientTimeout(*this.timeout))),
            Ok(r) => r,
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            // The pool answers 101 only to an upgrade request.
            let (parts, body) = resp.into_parts();
            if let (Some(client_side), Some(upstream_side)) = (this.client_upgrade.take(), body.into_upgraded()) {
                tokio::spawn(splice(client_side, upstream_side));
            }
            return Poll::Ready(Ok(Response::from_parts(parts, Body::empty())));
        }
        // Its hop-by-hop headers were left out as it was parsed.
        Poll::Ready(Ok(resp.map(Body::Upstream)))
    }
}

/// An HTTP/1.1 upgrade request (`Connection: upgrade` plus `Upgrade`) to
/// a protocol other than cleartext HTTP/2. An `h2c` upgrade is never
/// passed on: the upstream would speak HTTP/2 on a connection the proxy
/// only splices, every request on it past the gate (how proxies get
/// smuggled through). Its `Upgrade` is dropped as a hop-by-hop header and
/// the request is forwarded as an ordinary one.
fn wants_upgrade<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    let h2c = |v: &http::HeaderValue| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|p| p.trim_ascii().eq_ignore_ascii_case(b"h2c"))
    };
    // Nearly every request has no `Upgrade`: one lookup says so.
    req.version() == Version::HTTP_11
        && h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        && !h.get_all(header::UPGRADE).iter().any(h2c)
}

/// What a request's head is rewritten with, besides the request itself.
pub(crate) struct Hop<'a> {
    /// The client's address, appended to `X-Forwarded-For`.
    pub peer: IpAddr,
    /// The client came over TLS: `X-Forwarded-Proto: https`.
    pub tls: bool,
    /// The upstream's authority: the `Host` of a request that has none.
    pub upstream: &'a str,
    /// Send the upstream's own name as `Host` (the client's goes in
    /// `X-Forwarded-Host`): an `https://` upstream is someone else's
    /// service, which routes by the name its certificate is for.
    pub own_host: bool,
    /// Keep the forwarded headers a load balancer in front set.
    pub trust: bool,
}

/// The head of the request the upstream gets, written from the client's
/// as it goes (no header map is edited on the way):
///
/// * hop-by-hop headers, and any the `Connection` header names (but
///   `Host`), are left out; an upgrade request keeps `Connection: upgrade`
///   and `Upgrade`;
/// * one `Host`: an HTTP/2 or absolute-form request's authority, or the
///   client's `Host` (the first, if several got this far), or else the
///   upstream's own, since HTTP/1.1 needs one;
/// * one `Cookie` without vestibule's own cookies: the upstream has no use
///   for them, and they should not end up in its logs. HTTP/2 clients send
///   each cookie as its own header ("crumbs"), joined here for HTTP/1.1
///   (RFC 9113 8.2.3). Bytes, so a cookie with raw UTF-8 passes intact;
/// * `X-Forwarded-For` gets the peer appended to every earlier hop;
///   `X-Forwarded-Proto` and `-Host` are set, unless `trust` says a load
///   balancer in front set them (it knows whether the client used HTTPS;
///   we only see its connection). Untrusted, whatever the client claims
///   about the original request is dropped, `Forwarded` included. One of
///   them named in `Connection` is dropped, and vestibule's set instead;
/// * the body's framing is `framing`'s, whatever the client sent.
pub(crate) fn request_head(
    parts: &http::request::Parts,
    framing: RequestFraming,
    upgrade: bool,
    hop: &Hop<'_>,
) -> Result<RequestHead, Malformed> {
    if parts.method == http::Method::CONNECT {
        return Err(Malformed::Connect);
    }
    match write_request_head(parts, framing, upgrade, hop, None) {
        Ok(head) => Ok(head),
        Err(Stop::Refused(m)) => Err(m),
        // Rare: a `Connection` that names headers of the message's own,
        // met after some of them may have been written. Again, without.
        Err(Stop::Named) => {
            let named = named_by_connection(&parts.headers);
            write_request_head(parts, framing, upgrade, hop, Some(&named)).map_err(|stop| match stop {
                Stop::Refused(m) => m,
                Stop::Named => unreachable!("with the named headers known, the walk does not stop for them"),
            })
        }
    }
}

/// Why [`write_request_head`] stopped.
enum Stop {
    /// A `Connection` names a header of the request's own.
    Named,
    /// The request cannot be passed on faithfully.
    Refused(Malformed),
}

/// The headers of `h` its `Connection` headers name, each once. Only
/// names `h` has are kept: a client cannot make the set larger than its
/// own headers, however many tokens it sends.
fn named_by_connection(h: &HeaderMap) -> HashSet<HeaderName> {
    h.get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| connection_named(v.as_bytes()))
        .filter_map(|t| HeaderName::from_bytes(t).ok())
        .filter(|n| h.contains_key(n))
        .collect()
}

/// [`request_head`] in one walk over the headers. The values of one name
/// come together in the walk, so the joined `Cookie` and
/// `X-Forwarded-For` are written as their group ends. Without `named`,
/// a `Connection` that names a header the request has stops the walk
/// ([`Stop::Named`]); with it, the headers in it are left out. A request
/// [`crate::request`] refuses stops it too: the walk sees every header
/// already, so the check costs no lookup.
fn write_request_head(
    parts: &http::request::Parts,
    framing: RequestFraming,
    upgrade: bool,
    hop: &Hop<'_>,
    named: Option<&HashSet<HeaderName>>,
) -> Result<RequestHead, Stop> {
    let (peer, trust) = (hop.peer, hop.trust);
    let h = &parts.headers;
    let mut client_host = None;
    let mut had_coding = false;
    let mut had_length = false;
    let (mut had_xfp, mut had_xfh) = (false, false);
    let (ip, ip_len) = ip_text(peer);
    let ip = &ip[..ip_len];
    let own = COOKIE_PREFIX.as_bytes();
    // Room for the forwarded headers.
    let mut w = HeadWriter::new(parts, 96);
    let mut cookie = None;
    let mut xff = None;
    let mut xff_done = false;
    let is_named = |n: &HeaderName| named.is_some_and(|set| set.contains(n));
    for (name, value) in h {
        if let Some(list) = cookie.take_if(|_| *name != header::COOKIE) {
            w.end(list);
        }
        if let Some(list) = xff.take_if(|_| *name != X_FORWARDED_FOR) {
            w.item(&list, b", ", ip);
            w.end(list);
            xff_done = true;
        }
        if *name == header::HOST {
            // Named in `Connection` or not, the upstream needs one.
            if client_host.replace(value.as_bytes()).is_some() {
                return Err(Stop::Refused(Malformed::TwoHosts));
            }
        } else if *name == header::TRANSFER_ENCODING {
            // Hop-by-hop: the body's framing is `framing`'s.
            if std::mem::replace(&mut had_coding, true) || !request::only_chunked(value) {
                return Err(Stop::Refused(Malformed::TransferCoding));
            }
        } else if is_named(name) {
            // Left out with the `Connection` that names it.
        } else if *name == header::COOKIE {
            let list = cookie.get_or_insert_with(|| w.begin("cookie"));
            for c in crumbs(value.as_bytes()).filter(|c| !c.starts_with(own)) {
                w.item(list, b"; ", c);
            }
        } else if *name == X_FORWARDED_FOR {
            let list = xff.get_or_insert_with(|| w.begin("x-forwarded-for"));
            let hops = value.as_bytes().trim_ascii();
            if !hops.is_empty() {
                w.item(list, b", ", hops);
            }
        } else if *name == header::CONNECTION {
            // A lookup per token, no allocation: a client's thousands of
            // tokens cost what its thousands of bytes do.
            let names_own = || {
                connection_named(value.as_bytes())
                    .filter_map(|t| std::str::from_utf8(t).ok())
                    .any(|t| h.contains_key(t))
            };
            if named.is_none() && names_own() {
                return Err(Stop::Named);
            }
        } else if *name == header::CONTENT_LENGTH {
            had_length = true;
        } else if *name == X_FORWARDED_PROTO || *name == X_FORWARDED_HOST || *name == header::FORWARDED {
            // What a client claims about the original request is not
            // evidence, unless a trusted balancer set it.
            if trust {
                had_xfp |= *name == X_FORWARDED_PROTO;
                had_xfh |= *name == X_FORWARDED_HOST;
                w.field(name.as_str(), value.as_bytes());
            }
        } else if !is_hop_by_hop(name) {
            w.field(name.as_str(), value.as_bytes());
        }
    }
    if let Some(list) = cookie {
        w.end(list);
    }
    match xff {
        Some(list) => {
            w.item(&list, b", ", ip);
            w.end(list);
        }
        None if !xff_done => w.field("x-forwarded-for", ip),
        None => {}
    }
    // An HTTP/2 or absolute-form request's authority is its host, whatever
    // an HTTP/1.1 Host header says (RFC 9112 3.2.2; an HTTP/2 one that
    // differs is refused, RFC 9113 8.3.1); and HTTP/1.1 needs a Host: a
    // client that sent none gets the upstream's.
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str().rsplit('@').next().unwrap_or_default());
    if let (Version::HTTP_2, Some(a), Some(host)) = (parts.version, authority, client_host) {
        if a.as_bytes() != host {
            return Err(Stop::Refused(Malformed::HostNotAuthority));
        }
    }
    let client_host = authority.map(str::as_bytes).or(client_host);
    let host = match client_host {
        Some(h) if !hop.own_host => h,
        _ => hop.upstream.as_bytes(),
    };
    w.field("host", host);
    if upgrade {
        if let Some(proto) = h.get(header::UPGRADE) {
            w.field("connection", b"upgrade");
            w.field("upgrade", proto.as_bytes());
        }
    }
    if !had_xfp {
        w.field("x-forwarded-proto", if hop.tls { b"https" } else { b"http" });
    }
    if let (false, Some(host)) = (had_xfh, client_host) {
        w.field("x-forwarded-host", host);
    }
    Ok(w.finish(parts, framing, upgrade, had_length))
}

/// `peer`'s address as text. IPv4, the common case, is written by hand:
/// the formatting machinery cost more than the rest of the forwarded
/// headers together (docs/BENCHMARKS.md).
fn ip_text(ip: IpAddr) -> ([u8; 45], usize) {
    let mut buf = [0u8; 45];
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
        IpAddr::V6(v6) => {
            use std::io::Write;
            let mut cur = std::io::Cursor::new(&mut buf[..]);
            // An IPv6 address is at most 45 characters.
            let _ = write!(cur, "{v6}");
            cur.position() as usize
        }
    };
    (buf, len)
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

    /// The head `request_head` writes for `req` from 10.0.0.1, as
    /// (name, value) pairs in order, after its request line.
    fn head_fields(req: http::request::Builder, trust: bool) -> Vec<(String, Vec<u8>)> {
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let peer = "10.0.0.1".parse().unwrap();
        let hop = Hop {
            peer,
            tls: false,
            upstream: "up:8080",
            own_host: false,
            trust,
        };
        let head = request_head(&parts, RequestFraming::Empty, false, &hop).unwrap();
        let text = head.bytes;
        let mut fields = Vec::new();
        for line in text.split(|&b| b == b'\n').skip(1) {
            let line = line.strip_suffix(b"\r").unwrap();
            if line.is_empty() {
                break;
            }
            let colon = line.iter().position(|&b| b == b':').unwrap();
            let name = String::from_utf8(line[..colon].to_vec()).unwrap();
            fields.push((name, line[colon + 2..].to_vec()));
        }
        fields
    }

    /// The values of `name` in `fields`.
    fn values(fields: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    #[test]
    fn the_upstream_gets_no_hop_by_hop_headers() {
        // The named header comes first: written before the Connection
        // header is met, and taken back.
        let req = http::Request::get("/")
            .header("x-secret", "1")
            .header("connection", "keep-alive, x-secret")
            .header("keep-alive", "timeout=5")
            .header("transfer-encoding", "chunked")
            .header("upgrade", "websocket")
            .header("accept", "*/*");
        let f = head_fields(req, false);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["accept", "x-forwarded-for", "host", "x-forwarded-proto"]);
        assert_eq!(
            values(&f, "host"),
            ["up:8080"],
            "no Host from the client: the upstream's"
        );
    }

    #[test]
    fn headers_a_connection_names_go_whoever_they_are() {
        let req = http::Request::get("/")
            .header("host", "example.org")
            .header("cookie", "a=1")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", "198.51.100.1")
            .header("accept", "*/*")
            .header("connection", "cookie, x-forwarded-proto")
            .header("connection", "X-Forwarded-For, host, x-not-there, x-not-there");
        let f = head_fields(req, true);
        assert!(values(&f, "cookie").is_empty());
        assert_eq!(values(&f, "x-forwarded-proto"), ["http"], "dropped, and ours set");
        assert_eq!(values(&f, "x-forwarded-for"), ["10.0.0.1"]);
        assert_eq!(values(&f, "host"), ["example.org"], "the upstream needs one");
        assert_eq!(values(&f, "accept"), ["*/*"]);
        // Thousands of tokens naming nothing the request has: all ignored.
        let tokens: Vec<String> = (0..5000).map(|i| format!("x-{i}")).collect();
        let req = http::Request::get("/")
            .header("x-7", "1")
            .header("connection", tokens.join(","));
        let f = head_fields(req, false);
        assert!(values(&f, "x-7").is_empty());
        assert!(!f.iter().any(|(n, _)| n == "connection"));
    }

    #[test]
    fn a_group_closed_mid_walk_is_written_whole_or_not_at_all() {
        let req = http::Request::get("/")
            .header("cookie", "vst_reg=1")
            .header("cookie", "vst_other=2")
            .header("accept", "*/*")
            .header("x-forwarded-for", "198.51.100.1")
            .header("user-agent", "t");
        let f = head_fields(req, false);
        assert!(values(&f, "cookie").is_empty(), "only ours: no header at all");
        assert_eq!(values(&f, "x-forwarded-for"), ["198.51.100.1, 10.0.0.1"]);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["accept", "x-forwarded-for", "user-agent", "host", "x-forwarded-proto"],
            "nothing half-written, nothing twice"
        );
    }

    #[test]
    fn requests_that_cannot_be_passed_on_faithfully_are_refused() {
        let refused = |req: http::request::Builder| {
            let (parts, ()) = req.body(()).unwrap().into_parts();
            let hop = Hop {
                peer: "10.0.0.1".parse().unwrap(),
                tls: false,
                upstream: "up",
                own_host: false,
                trust: false,
            };
            request_head(&parts, RequestFraming::Chunked, false, &hop).err()
        };
        let get = || http::Request::get("/x");
        assert_eq!(refused(get().header("host", "a")), None);
        assert_eq!(
            refused(get().header("host", "a").header("host", "a")),
            Some(Malformed::TwoHosts)
        );
        assert_eq!(refused(get().header("transfer-encoding", " Chunked ")), None);
        for te in [&["gzip, chunked"][..], &["chunked", "chunked"], &["identity"]] {
            let mut r = get();
            for v in te {
                r = r.header("transfer-encoding", *v);
            }
            assert_eq!(refused(r), Some(Malformed::TransferCoding), "{te:?}");
        }
        let h2 = || http::Request::get("https://a.example/x").version(Version::HTTP_2);
        assert_eq!(refused(h2()), None);
        assert_eq!(refused(h2().header("host", "a.example")), None);
        assert_eq!(
            refused(h2().header("host", "b.example")),
            Some(Malformed::HostNotAuthority)
        );
        // HTTP/1.1 absolute form: the target's authority wins, no refusal.
        assert_eq!(
            refused(http::Request::get("http://a.example/x").header("host", "b.example")),
            None
        );
        // The same refusals after a walk that met a `Connection` naming
        // a header of the request's own.
        let named = get().header("x-a", "1").header("connection", "x-a");
        assert_eq!(
            refused(named.header("host", "a").header("host", "b")),
            Some(Malformed::TwoHosts)
        );
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
            let (text, len) = ip_text(ip);
            assert_eq!(std::str::from_utf8(&text[..len]).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn own_cookies_are_not_forwarded() {
        let f = head_fields(http::Request::get("/").header("cookie", "a=1; vst_reg=xyz; b=2"), false);
        assert_eq!(values(&f, "cookie"), ["a=1; b=2"]);
        let f = head_fields(http::Request::get("/").header("cookie", "vst_reg=xyz"), false);
        assert!(values(&f, "cookie").is_empty(), "nothing left: no header");
    }

    #[test]
    fn cookie_crumbs_are_joined_and_raw_utf8_survives() {
        let req = http::Request::get("/").header("cookie", "a=1").header("cookie", "b=2");
        assert_eq!(values(&head_fields(req, false), "cookie"), ["a=1; b=2"]);
        let raw = "name=J\u{fc}rgen; vst_reg=x; app_session=s1";
        let req = http::Request::get("/").header("cookie", http::HeaderValue::from_bytes(raw.as_bytes()).unwrap());
        let f = head_fields(req, false);
        let cookie = f.iter().find(|(n, _)| n == "cookie").unwrap();
        assert_eq!(cookie.1, "name=J\u{fc}rgen; app_session=s1".as_bytes());
    }

    #[test]
    fn an_untrusted_client_cannot_set_forwarded_host_or_proto() {
        let req = http::Request::get("/")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "proto=https;host=evil.example")
            .header("x-forwarded-for", "198.51.100.1")
            .header("x-forwarded-for", " 198.51.100.2 ");
        let f = head_fields(req, false);
        assert!(
            values(&f, "x-forwarded-host").is_empty(),
            "no Host: nothing to vouch for"
        );
        assert!(values(&f, "forwarded").is_empty());
        assert_eq!(values(&f, "x-forwarded-proto"), ["http"], "a client cannot claim https");
        assert_eq!(values(&f, "x-forwarded-for"), ["198.51.100.1, 198.51.100.2, 10.0.0.1"]);
        let f = head_fields(http::Request::get("/").header("host", "example.org"), false);
        assert_eq!(values(&f, "x-forwarded-host"), ["example.org"]);
        assert_eq!(values(&f, "host"), ["example.org"]);
        let f = head_fields(http::Request::get("http://example.org:81/x"), false);
        assert_eq!(
            values(&f, "host"),
            ["example.org:81"],
            "an absolute-form request's authority"
        );
        let f = head_fields(
            http::Request::get("http://user@example.org/x").header("host", "other.example"),
            false,
        );
        assert_eq!(
            values(&f, "host"),
            ["example.org"],
            "the target's authority wins over Host (RFC 9112 3.2.2), without its user"
        );
    }

    #[test]
    fn a_trusted_balancer_keeps_its_proto_and_host() {
        let req = http::Request::get("/")
            .header("host", "10.0.0.5:8080")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "tickets.example.org");
        let f = head_fields(req, true);
        assert_eq!(values(&f, "x-forwarded-proto"), ["https"]);
        assert_eq!(values(&f, "x-forwarded-host"), ["tickets.example.org"]);
        assert_eq!(values(&f, "x-forwarded-for"), ["10.0.0.1"]);
        let f = head_fields(http::Request::get("/").header("host", "10.0.0.5:8080"), true);
        assert_eq!(values(&f, "x-forwarded-proto"), ["http"], "absent: set as usual");
        assert_eq!(values(&f, "x-forwarded-host"), ["10.0.0.5:8080"]);
    }
}
