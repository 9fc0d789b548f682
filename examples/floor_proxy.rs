//! The least a hyper 1.x reverse proxy can do: vestibule's upstream pool
//! and body type behind hyper-util's server, with no gate, no header
//! rewriting and no timeouts. Not a product: a baseline for
//! docs/BENCHMARKS.md, to tell what hyper and tokio cost from what
//! vestibule adds on top.
//!
//! ```sh
//! cargo build --release --example floor_proxy
//! target/release/examples/floor_proxy 127.0.0.1:8081 http://127.0.0.1:8080
//! ```

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use vestibule::body::Body;
use vestibule::upstream::Pool;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: floor_proxy LISTEN_ADDR UPSTREAM_URL");
    };
    let origin: http::Uri = upstream.parse()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let pool = Pool::new(origin, Duration::from_secs(5), Duration::from_secs(60), None, None)
                .expect("a plain upstream needs no TLS settings");
            let listener = TcpListener::bind(&listen).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let pool = pool.clone();
                let svc = service_fn(move |req: Request<Incoming>| {
                    let pool = pool.clone();
                    async move {
                        let resp = match pool.send(req, None).await {
                            Ok(resp) => resp.map(Body::Upstream),
                            Err(_) => {
                                let mut r = Response::new(Body::from("upstream failed"));
                                *r.status_mut() = http::StatusCode::BAD_GATEWAY;
                                r
                            }
                        };
                        Ok::<_, Infallible>(resp)
                    }
                });
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
}
