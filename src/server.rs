//! The public listener: accepts connections, serves HTTP/1.1 and cleartext
//! HTTP/2 (hyper-util's auto builder, upgrades enabled), and drains them
//! gracefully on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::body::Body;
use crate::config::ServerConfig;
use crate::gate;
use crate::idle::{serve_until_quiet, Activity, Counted, Drain, Tracked};

/// Per-connection limits for client connections.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    /// Quiet connections (idle, or stuck in a request head) close after this.
    pub header_read_timeout: Duration,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
}

impl From<&ServerConfig> for ConnSettings {
    fn from(s: &ServerConfig) -> Self {
        ConnSettings {
            header_read_timeout: s.header_read_timeout,
            max_header_bytes: s.max_header_bytes,
        }
    }
}

/// Resolves once `stop` turns true, or its sender is gone.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// Serves the public listener until `stop` flips, then drains.
pub async fn serve_public(
    listener: TcpListener,
    app: Arc<App>,
    s: ConnSettings,
    stop: watch::Receiver<bool>,
    grace: Duration,
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
        .max_header_list_size(u32::try_from(s.max_header_bytes).unwrap_or(u32::MAX));
    accept_loop(
        listener,
        builder,
        stop,
        grace,
        s.header_read_timeout,
        move |req: Request<Incoming>, peer: SocketAddr| gate::handle(app.clone(), req, peer),
    )
    .await
}

/// Accepts connections and serves each with `handler` until `stop` flips;
/// then stops accepting and waits up to `grace` for open connections to
/// finish their in-flight requests. A connection quiet for `quiet_limit`
/// (idle, or stuck in a request head; see [`crate::idle`]) is closed.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    quiet_limit: Duration,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<Body>> + Send + Unpin + 'static,
{
    let drain = Arc::new(Drain::default());
    // How a connection is asked to finish: at shutdown, or when quiet.
    let finish = |c: Pin<&mut _>| auto::UpgradeableConnection::graceful_shutdown(c);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
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
                let h = handler.clone();
                let activity = Arc::new(Activity::default());
                let requests = activity.clone();
                let svc = service_fn(move |req| {
                    // Boxed (the gate boxes its own): its future is several
                    // KiB, and hyper would otherwise copy it on every move
                    // (it showed as the top memcpy in profiles).
                    let fut = h(req, peer);
                    let request = requests.start();
                    async move { Ok::<_, Infallible>(fut.await.map(|b| Tracked::new(b, request))) }
                });
                let io = Counted::new(TokioIo::new(stream), activity.clone());
                let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
                let drain = drain.clone();
                tokio::spawn(async move {
                    match serve_until_quiet(conn, finish, activity, quiet_limit, &drain).await {
                        Some(Err(e)) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
                        Some(Ok(())) => {}
                        None => tracing::debug!(%peer, ?quiet_limit, "closed a quiet connection"),
                    }
                });
            }
            _ = crate::server::stopped(&mut stop) => break,
        }
    }
    drop(listener);
    drain.stop();
    tokio::select! {
        _ = drain.closed() => {}
        _ = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; closing remaining connections"),
    }
}
