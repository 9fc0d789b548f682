//! The public listeners: accept connections, serve HTTP/1.1 and HTTP/2
//! (hyper-util's auto builder, upgrades enabled; cleartext HTTP/2 on the
//! plain listener, HTTP/2 by ALPN on the TLS one), and drain them
//! gracefully on shutdown. A TLS handshake runs in the connection's own
//! task, within the quiet limit, so a slow one never holds up accepting.
//!
//! What one client can hold is bounded (README, "Security"): the
//! connections at once, of all public listeners together
//! (`max_connections`; more wait in the kernel's
//! backlog), an HTTP/2 connection's streams (`http2_max_streams`), the
//! bytes hyper buffers per stream for a client that does not read
//! ([`HTTP2_SEND_BUFFER`]), the requests of one HTTP/2 connection worked
//! on at once, each forwarded one holding an upstream connection
//! (`http2_max_active_streams`), and how long a connection may stay quiet
//! or leave a response untaken ([`crate::idle`]). The same bounds hold on
//! the TLS listener.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{header, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::access::{self, AccessLog};
use crate::app::App;
use crate::body::Body;
use crate::config::ServerConfig;
use crate::gate;
use crate::http::{https_redirect, Peer};
use crate::idle::{serve_until_quiet, Activity, Counted, Drain, Ended, Limits, Tracked};
use crate::metrics::ClientErrorKind;
use crate::shutdown::stopped;

/// The most bytes hyper keeps per HTTP/2 stream for a client that is slow
/// to read them (hyper's default, 400 KiB, is sized for a server with its
/// data at hand; a proxy reads more from the upstream only as this
/// drains). Two reads of the upstream's, so a stream still flows while
/// one is written.
pub const HTTP2_SEND_BUFFER: usize = 64 * 1024;

/// Per-connection limits for client connections.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// Quiet connections (idle, or stuck in a request head) close after this.
    pub header_read_timeout: Duration,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// A response the client takes nothing of for this long closes its
    /// connection.
    pub send_timeout: Duration,
    /// Client connections at once.
    pub max_connections: usize,
    /// The places under `max_connections`, shared by every public
    /// listener made with these settings (clones share them): the plain
    /// and the TLS listener together hold no more than the limit.
    pub places: Arc<Semaphore>,
    /// Requests of one HTTP/2 connection worked on at once.
    pub http2_max_active_streams: usize,
    /// Concurrent streams an HTTP/2 client may open.
    pub http2_max_streams: u32,
}

impl From<&ServerConfig> for ConnSettings {
    fn from(s: &ServerConfig) -> Self {
        ConnSettings {
            header_read_timeout: s.header_read_timeout,
            max_header_bytes: s.max_header_bytes,
            send_timeout: s.send_timeout,
            max_connections: s.max_connections,
            places: Arc::new(Semaphore::new(s.max_connections)),
            http2_max_active_streams: s.http2_max_active_streams,
            http2_max_streams: s.http2_max_streams,
        }
    }
}

/// What bounds the connections of one listener.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// At shutdown, how long open connections get to finish.
    pub grace: Duration,
    /// Quiet and send limits of each connection ([`crate::idle`]).
    pub limits: Limits,
    /// Connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The places of `max_connections`, when shared with other listeners
    /// (`None`: the listener's own).
    pub places: Option<Arc<Semaphore>>,
    /// Requests of one HTTP/2 connection worked on at once; its other
    /// streams wait their turn (`None`: no limit, for listeners that
    /// forward nothing).
    pub http2_active_streams: Option<usize>,
    /// Counts connections closed for the send timeout.
    pub stalled: Option<IntCounter>,
    /// Where each request's line goes (`None`: not logged).
    pub access: Option<Arc<AccessLog>>,
    /// TLS: connections start with a handshake (`None`: plain).
    pub tls: Option<Tls>,
}

/// A TLS listener's handshakes.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// Counts handshakes that failed or timed out.
    pub failed: Option<IntCounter>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Bounds {
    /// Bounds for a listener that serves operators, not the public: the
    /// admin API and the demo site.
    pub fn internal(grace: Duration) -> Bounds {
        Bounds {
            grace,
            // 30 s: hyper's own default for a request head, and longer
            // than a usual scrape interval.
            limits: Limits {
                quiet: Duration::from_secs(30),
                send_timeout: Duration::from_secs(60),
            },
            max_connections: 1024,
            places: None,
            http2_active_streams: None,
            stalled: None,
            access: None,
            tls: None,
        }
    }
}

/// Where a public listener's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    /// Through the gate.
    Gate,
    /// The plain listener of a site on TLS: everything but vestibule's
    /// own endpoints and ACME's HTTP challenges is sent to https, on this
    /// port.
    RedirectTo(u16),
}

/// Serves a public listener until `stop` flips, then drains: over TLS
/// when `tls` is given, else plain (answering as `public` says).
pub async fn serve_public(
    listener: TcpListener,
    app: Arc<App>,
    s: ConnSettings,
    stop: watch::Receiver<bool>,
    grace: Duration,
    tls: Option<TlsAcceptor>,
    public: Public,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Slow and idle clients are cut off by one timer per connection
        // instead (crate::idle); hyper's arms one per request.
        .header_read_timeout(None)
        .max_buf_size(s.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(s.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(s.http2_max_streams)
        .max_send_buf_size(HTTP2_SEND_BUFFER);
    let secure = tls.is_some();
    let bounds = Bounds {
        grace,
        limits: Limits {
            quiet: s.header_read_timeout,
            send_timeout: s.send_timeout,
        },
        max_connections: s.max_connections,
        places: Some(s.places.clone()),
        http2_active_streams: Some(s.http2_max_active_streams),
        stalled: Some(app.metrics.client_errors(ClientErrorKind::SendTimeout)),
        access: app.access.clone(),
        tls: tls.map(|acceptor| Tls {
            acceptor,
            failed: Some(app.metrics.client_errors(ClientErrorKind::TlsHandshake)),
        }),
    };
    accept_loop(
        listener,
        builder,
        stop,
        bounds,
        move |req: Request<Incoming>, peer: Peer| {
            if let Public::RedirectTo(port) = public {
                if let Some(resp) = https_redirect(&req, port) {
                    return Box::pin(std::future::ready(resp)) as gate::BoxResponse;
                }
            }
            let answer = gate::handle(app.clone(), req, peer);
            // Read per request: the value follows the file.
            let hsts = secure
                .then(|| app.live.load().config.server.tls.as_ref()?.hsts.clone())
                .flatten();
            match hsts {
                None => answer,
                Some(v) => Box::pin(async move {
                    let mut resp = answer.await;
                    resp.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, v);
                    resp
                }),
            }
        },
    )
    .await
}

/// A client connection: plain TCP, or TLS over it.
enum ClientIo {
    Plain(TcpStream),
    /// Boxed: rustls' state is over a kilobyte.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientIo::Plain(s) => s.is_write_vectored(),
            ClientIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections and serves each with `handler` until `stop` flips;
/// then stops accepting and waits up to `bounds.grace` for open
/// connections to finish their in-flight requests. A connection quiet for
/// its limit (idle, or stuck in a request head), or with a response its
/// client has not taken for the send timeout, is closed (see
/// [`crate::idle`]).
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    mut stop: watch::Receiver<bool>,
    bounds: Bounds,
    handler: H,
) where
    H: Fn(Request<Incoming>, Peer) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + Unpin + 'static,
{
    // Shared by the connections' tasks (each connection's own copy is
    // made as it starts).
    let builder = Arc::new(builder);
    let drain = Arc::new(Drain::default());
    let places = bounds
        .places
        .clone()
        .unwrap_or_else(|| Arc::new(Semaphore::new(bounds.max_connections)));
    let mut full_logged = false;
    // How a connection is asked to finish: at shutdown, or when quiet.
    let finish = |c: Pin<&mut _>| auto::UpgradeableConnection::graceful_shutdown(c);
    loop {
        // A place first: at the limit, new connections wait in the
        // kernel's backlog until one closes.
        let place = match places.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !std::mem::replace(&mut full_logged, true) {
                    tracing::warn!(
                        max_connections = bounds.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                }
                tokio::select! {
                    p = places.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    _ = stopped(&mut stop) => break,
                }
            }
        };
        if places.available_permits() > 0 {
            full_logged = false;
        }
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let peer = Peer { addr, tls: bounds.tls.is_some() };
                let h = handler.clone();
                let turns = bounds.http2_active_streams;
                let activity = Arc::new(turns.map_or_else(Activity::default, Activity::new));
                let requests = activity.clone();
                let access = bounds.access.clone();
                let svc = service_fn(move |req: Request<Incoming>| {
                    let http2 = req.version() == hyper::Version::HTTP_2;
                    let request = requests.start();
                    let entry = access.as_ref().map(|log| log.start(&req, addr));
                    // Boxed (the gate boxes its own): its future is several
                    // KiB, and hyper would otherwise copy it on every move.
                    // Made at
                    // once, so the request is let go of: an HTTP/1.1
                    // request holds on to the connection's read buffer,
                    // which hyper wants back. An HTTP/2 request waits its
                    // turn first, so that no deadline of its exchange runs
                    // while it waits; it holds no buffer of the connection.
                    let start = if http2 && turns.is_some() {
                        Err(Box::new((req, h.clone())))
                    } else {
                        Ok(h(req, peer))
                    };
                    async move {
                        let (fut, turn) = match start {
                            Ok(fut) => (fut, false),
                            Err(later) => {
                                request.take_turn().await;
                                let (req, h) = *later;
                                (h(req, peer), true)
                            }
                        };
                        let (resp, entry) = match entry {
                            None => (fut.await, None),
                            Some(e) => {
                                let e = access::Unanswered::new(e);
                                let (resp, note) = access::noted(fut).await;
                                let e = e.answered(resp.status(), note);
                                (resp, Some(e))
                            }
                        };
                        Ok::<_, Infallible>(resp.map(|b| Tracked::new(b, request, http2, turn, entry)))
                    }
                });
                let drain = drain.clone();
                let (limits, stalled) = (bounds.limits, bounds.stalled.clone());
                let tls = bounds.tls.clone();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let _place = place;
                    let io = match tls {
                        None => ClientIo::Plain(stream),
                        // Within the quiet limit, as a request head.
                        Some(t) => match tokio::time::timeout(limits.quiet, t.acceptor.accept(stream)).await {
                            Ok(Ok(s)) => ClientIo::Tls(Box::new(s)),
                            Ok(Err(e)) => {
                                t.failed.inspect(IntCounter::inc);
                                tracing::debug!(%addr, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                t.failed.inspect(IntCounter::inc);
                                tracing::debug!(%addr, "TLS handshake timed out");
                                return;
                            }
                        },
                    };
                    let io = Counted::new(TokioIo::new(io), activity.clone());
                    let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
                    match serve_until_quiet(conn, finish, activity, limits, &drain).await {
                        Ended::Done(Err(e)) => tracing::debug!(%addr, error = %e, "connection ended with an error"),
                        Ended::Done(Ok(())) => {}
                        Ended::Quiet => tracing::debug!(%addr, quiet = ?limits.quiet, "closed a quiet connection"),
                        Ended::Stalled => {
                            stalled.inspect(IntCounter::inc);
                            tracing::info!(%addr, send_timeout = ?limits.send_timeout, "closed a connection whose client took nothing of a response");
                        }
                    }
                });
            }
            _ = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    drain.stop();
    tokio::select! {
        _ = drain.closed() => {}
        _ = tokio::time::sleep(bounds.grace) => tracing::warn!(grace = ?bounds.grace, "grace period over; closing remaining connections"),
    }
}
