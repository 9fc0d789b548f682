//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process
//! answers) and `/readyz` (state loaded and not draining). Kept off the
//! public port so it can stay on loopback.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::body::Body;
use crate::gate::respond;
use crate::server::accept_loop;

/// Serves the admin listener until `stop` flips.
pub async fn serve(listener: TcpListener, app: Arc<App>, stop: watch::Receiver<bool>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    accept_loop(listener, builder, stop, Duration::from_secs(5), move |req, _peer| {
        let app = app.clone();
        async move { handle(&app, req) }
    })
    .await
}

fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            app.metrics.render(),
        ),
        "/healthz" => respond(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        "/readyz" => {
            if app.ready.load(Ordering::SeqCst) {
                respond(StatusCode::OK, "text/plain; charset=utf-8", "ready\n".into())
            } else {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "not ready\n".into(),
                )
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain; charset=utf-8", "not found\n".into()),
    }
}
