//! `vestibule demo`: a tiny registration site behind a room of capacity 2,
//! so a newcomer sees the queue work in a browser at once.
//!
//! Browser tabs share cookies, so three tabs would be one visitor. The demo
//! therefore also listens on 127.0.0.2 and 127.0.0.3 (all of 127.0.0.0/8 is
//! loopback on Linux): three host names, three cookie jars, three visitors.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::Body;
use crate::config::Config;
use crate::http::respond;
use crate::server::{accept_loop, Bounds};

/// The demo room's configuration, in front of the site at `site`.
pub fn config(listen: SocketAddr, admin: SocketAddr, site: SocketAddr) -> Config {
    let text = format!(
        r#"
        [server]
        listen = "{listen}"
        admin_listen = "{admin}"
        upstream = "http://{site}"
        [page]
        site_name = "Demo Conference 2026"
        [[room]]
        name = "registration"
        title = "Registration"
        paths = ["/register"]
        capacity = 2
        session_ttl = "60s"
        claim_grace = "30s"
        checkin_window = "10s"
        "#
    );
    Config::parse(&text, Path::new("."), "(demo)").expect("the demo configuration is valid")
}

/// Extra loopback addresses with the same port, for separate cookie jars.
pub fn extra_listeners(listen: SocketAddr) -> Vec<SocketAddr> {
    if !listen.ip().is_loopback() || !listen.is_ipv4() {
        return Vec::new();
    }
    ["127.0.0.2", "127.0.0.3"]
        .iter()
        .filter_map(|ip| format!("{ip}:{}", listen.port()).parse().ok())
        .collect()
}

/// Serves the demo site until `stop` flips.
pub async fn serve_site(listener: TcpListener, stop: watch::Receiver<bool>) {
    let registered = Arc::new(AtomicU64::new(0));
    accept_loop(
        listener,
        auto::Builder::new(TokioExecutor::new()),
        stop,
        Bounds::internal(Duration::from_secs(1)),
        move |req, _| {
            let n = registered.clone();
            Box::pin(async move { site(req, &n).await })
        },
    )
    .await
}

const STYLE: &str = "<meta name=viewport content='width=device-width, initial-scale=1'><style>body{font:1.06rem/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1.2rem}input,button{font:inherit;padding:.4rem;margin:.2rem 0;width:100%}button{width:auto}</style>";

fn page(title: &str, body: &str) -> Response<Body> {
    respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        format!("<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>{STYLE}</head><body>{body}</body></html>"),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn site(req: Request<Incoming>, registered: &AtomicU64) -> Response<Body> {
    let leave = "<p><a href='/_vestibule/leave?room=registration&amp;return_to=/'>Leave the registration</a> \
                 (frees your place for the next person at once)</p>";
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => page(
            "Demo Conference 2026",
            "<h1>Demo Conference 2026</h1><p>This home page is not in any room: it is always open.</p>\
             <p><a href='/register'>Register now</a>: the registration room lets in 2 visitors at a time. \
             Open it from <a href='http://127.0.0.1:8080/register'>127.0.0.1</a>, \
             <a href='http://127.0.0.2:8080/register'>127.0.0.2</a> and \
             <a href='http://127.0.0.3:8080/register'>127.0.0.3</a> (three cookie jars, three visitors) to see the line.</p>",
        ),
        (&Method::GET, "/register") => page(
            "Register",
            &format!(
                "<h1>Register</h1><p>You are in: one of 2 visitors the room lets in at a time.</p>\
                 <form method=post action=/register><label>Name<input name=name required></label>\
                 <label>E-mail<input name=email type=email required></label><button>Register</button></form>{leave}"
            ),
        ),
        (&Method::POST, "/register") => {
            let body = match Limited::new(req.into_body(), 16 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return respond(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "form too large\n".into()),
            };
            let form = String::from_utf8_lossy(&body);
            let name = form
                .split('&')
                .find_map(|kv| kv.strip_prefix("name="))
                .map(|v| v.replace('+', " "))
                .unwrap_or_else(|| "friend".into());
            let n = registered.fetch_add(1, Ordering::Relaxed) + 1;
            page(
                "Registered",
                &format!("<h1>Thank you, {}!</h1><p>You are registration #{n}.</p>{leave}", escape(&name)),
            )
        }
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}
