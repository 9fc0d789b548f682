//! Shared test helpers: a fake upstream, vestibule started on 127.0.0.1:0
//! with a manual clock, and a visitor that keeps its own cookies.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use vestibule::store::memory::MemoryStore;
use vestibule::store::{Arrival, Limits, Overrides, Snapshot, Store, StoreError, TickReport, Visit};
use vestibule::{Clock, Config, Options, Running};

pub mod raw;
pub mod redis_server;

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
pub const MB: usize = 1024 * 1024;

/// A fake upstream on 127.0.0.1:0 that counts what reaches it.
pub struct Upstream {
    pub addr: SocketAddr,
    /// Requests that reached it, by path.
    pub hits: Arc<Mutex<HashMap<String, u64>>>,
    pub total: Arc<AtomicU64>,
    /// TCP connections it accepted.
    pub conns: Arc<AtomicU64>,
    /// Connections open now, and the most open at once.
    pub open: Arc<AtomicU64>,
    pub peak_open: Arc<AtomicU64>,
    /// TLS connections whose client showed a certificate.
    pub client_certs: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        Upstream::start_tls(None).await
    }

    /// The same fake upstream, over TLS when `tls` is given (an
    /// `https://` backend); failed handshakes count no connection.
    pub async fn start_tls(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let total = Arc::new(AtomicU64::new(0));
        let conns = Arc::new(AtomicU64::new(0));
        let (open, peak_open) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (h, t, c) = (hits.clone(), total.clone(), conns.clone());
        let (o, p) = (open.clone(), peak_open.clone());
        let client_certs = Arc::new(AtomicU64::new(0));
        let cc = client_certs.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, t, o, c, p, cc, tls) = (
                    h.clone(),
                    t.clone(),
                    o.clone(),
                    c.clone(),
                    p.clone(),
                    cc.clone(),
                    tls.clone(),
                );
                tokio::spawn(async move {
                    let stream = match tls {
                        None => Either::Plain(stream),
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => {
                                if s.get_ref().1.peer_certificates().is_some() {
                                    cc.fetch_add(1, Ordering::SeqCst);
                                }
                                Either::Tls(Box::new(s))
                            }
                            Err(_) => return,
                        },
                    };
                    c.fetch_add(1, Ordering::SeqCst);
                    let now_open = o.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now_open, Ordering::SeqCst);
                    /// Counts the connection closed however its task ends.
                    struct Closed(Arc<AtomicU64>);
                    impl Drop for Closed {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _closed = Closed(o);
                    let svc = service_fn(move |req| {
                        let (h, t) = (h.clone(), t.clone());
                        async move { Ok::<_, Infallible>(upstream_handler(req, &h, &t).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Upstream {
            addr,
            hits,
            total,
            conns,
            open,
            peak_open,
            client_certs,
            task,
        }
    }

    pub fn hits(&self, path: &str) -> u64 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.conns.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::SeqCst)
    }

    /// The most connections that were open at once.
    pub fn peak_open_connections(&self) -> u64 {
        self.peak_open.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(s: impl Into<Bytes>) -> UpBody {
    Full::new(s.into()).map_err(|e: Infallible| match e {}).boxed()
}

async fn upstream_handler(
    req: Request<Incoming>,
    hits: &Mutex<HashMap<String, u64>>,
    total: &AtomicU64,
) -> Response<UpBody> {
    total.fetch_add(1, Ordering::SeqCst);
    *hits.lock().unwrap().entry(req.uri().path().to_string()).or_default() += 1;
    let query = req.uri().query().unwrap_or("").to_string();
    match req.uri().path() {
        // 10 MB in 64 KiB frames, generated on the fly.
        "/big" => {
            let chunks =
                (0..160).map(|i| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![(i % 251) as u8; 64 * 1024]))));
            Response::new(StreamBody::new(futures_util_stream(chunks)).boxed())
        }
        // Counts the request body as it streams in ("broken" if it breaks off).
        "/upload" => {
            let mut body = req.into_body();
            let mut n = 0usize;
            while let Some(f) = body.frame().await {
                match f.map(Frame::into_data) {
                    Ok(Ok(d)) => n += d.len(),
                    Ok(Err(_trailers)) => {}
                    Err(_) => return Response::new(full("broken")),
                }
            }
            Response::new(full(n.to_string()))
        }
        "/slow" => {
            let ms = query.strip_prefix("ms=").and_then(|v| v.parse().ok()).unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::new(full("slow done"))
        }
        // The repository's examples (`examples/waiting-client/`), served
        // as the site serves its own pages.
        p if p.starts_with("/examples/") && !p.contains("..") => {
            let file = if p.ends_with('/') {
                format!("{p}index.html")
            } else {
                p.to_string()
            };
            match std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file[1..])) {
                Ok(b) => Response::builder()
                    .header("content-type", "text/html; charset=utf-8")
                    .body(full(b))
                    .unwrap(),
                Err(_) => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(full(""))
                    .unwrap(),
            }
        }
        "/ws" => {
            let on = hyper::upgrade::on(req);
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let mut buf = [0u8; 1024];
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "echo")
                .body(full(""))
                .unwrap()
        }
        // Everything else: echo what arrived, as JSON.
        _ => {
            let headers: HashMap<String, String> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let body = serde_json::json!({
                "path": req.uri().path(),
                "method": req.method().as_str(),
                "host_count": req.headers().get_all("host").iter().count(),
                "headers": headers,
            });
            let mut r = Response::builder()
                .header("content-type", "application/json")
                .header("connection", "keep-alive, x-hop")
                .header("x-hop", "should not pass");
            // `?origin=end`: the origin ends the visitor's session, as a
            // site does when a registration completes.
            if query == "origin=end" {
                r = r.header("vestibule-session", "End");
            }
            // `?sts=backend`: the backend states an HSTS policy of its own.
            if query == "sts=backend" {
                r = r.header("strict-transport-security", "max-age=60");
            }
            r.body(full(body.to_string())).unwrap()
        }
    }
}

/// A test server's connection: plain, or TLS.
pub enum Either {
    Plain(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

impl tokio::io::AsyncRead for Either {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Either::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Either::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Either {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Either::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Either::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Either::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Either::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Either::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Either::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A tiny adapter: an iterator as a `Stream`, without pulling in futures.
fn futures_util_stream<I: Iterator + Unpin>(it: I) -> IterStream<I> {
    IterStream(it)
}

pub struct IterStream<I>(I);

impl<I: Iterator + Unpin> tokio_stream_shim::Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

mod tokio_stream_shim {
    pub use futures_core::Stream;
}

/// vestibule in front of an [`Upstream`], with a manual clock and no tick
/// loop: tests move time and tick explicitly.
pub struct Harness {
    pub running: Running,
    pub clock: Clock,
    pub upstream: Upstream,
    pub config: Config,
}

/// `text` with the access log off, unless it has a `[log]` table: tests
/// that look at the access log say where it goes; the others would fill
/// the test output with its lines.
pub fn quiet(text: String) -> String {
    if text.contains("[log]") {
        text
    } else {
        text + "\n[log]\naccess = \"off\"\n"
    }
}

/// Start time of the manual clock (a realistic Unix time, in ms).
pub const T0: u64 = 1_800_000_000_000;

/// RFC 3339 of `T0 + secs` in +01:00, as an operator in Paris writes an
/// event's times.
pub fn at(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(T0) + Duration::from_secs(secs + 3600);
    humantime::format_rfc3339_seconds(t).to_string().replace('Z', "+01:00")
}

impl Harness {
    /// Starts vestibule with `rooms` (TOML `[[room]]` tables) and extra
    /// `[server]` lines.
    pub async fn start(rooms: &str) -> Harness {
        Harness::start_with(rooms, "").await
    }

    pub async fn start_with(rooms: &str, server_extra: &str) -> Harness {
        let upstream = Upstream::start().await;
        Harness::in_front_of(upstream, rooms, server_extra).await
    }

    pub async fn in_front_of(upstream: Upstream, rooms: &str, server_extra: &str) -> Harness {
        Harness::with_store(upstream, rooms, server_extra, None).await
    }

    /// Like [`Harness::in_front_of`], with the store replaced.
    pub async fn with_store(
        upstream: Upstream,
        rooms: &str,
        server_extra: &str,
        store: Option<Arc<dyn Store>>,
    ) -> Harness {
        let text = quiet(format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{}\"\n{server_extra}\n{rooms}",
            upstream.addr
        ));
        let config = Config::parse(&text, Path::new("."), "test").unwrap_or_else(|e| panic!("{e}"));
        Harness::launch(upstream, config, T0, None, store).await
    }

    /// vestibule on a configuration made by the test, in front of `upstream`.
    pub async fn launch_with(upstream: Upstream, config: Config) -> Harness {
        Harness::launch(upstream, config, T0, None, None).await
    }

    /// Spawns vestibule on `config` with a manual clock at `t0`, the test
    /// secret and no scheduler (tests tick by hand).
    async fn launch(
        upstream: Upstream,
        config: Config,
        t0: u64,
        config_path: Option<std::path::PathBuf>,
        store: Option<Arc<dyn Store>>,
    ) -> Harness {
        let clock = Clock::manual(t0);
        let running = vestibule::spawn(
            config.clone(),
            Options {
                clock: clock.clone(),
                scheduler: false,
                keys: Some(vestibule::token::Keys::from_text(SECRET).unwrap()),
                config_path,
                store,
                ..Options::default()
            },
        )
        .await
        .unwrap();
        Harness {
            running,
            clock,
            upstream,
            config,
        }
    }

    /// Vestibule started from a file `dir/vestibule.toml` holding `text`
    /// (with `{upstream}` replaced), watched for changes.
    pub async fn from_file(upstream: Upstream, dir: &Path, text: &str) -> Harness {
        Harness::from_file_with(upstream, dir, text, T0, None).await
    }

    /// Like [`Harness::from_file`], with the manual clock starting at `t0`
    /// (a later start, as after a restart) and the store replaced.
    pub async fn from_file_with(
        upstream: Upstream,
        dir: &Path,
        text: &str,
        t0: u64,
        store: Option<Arc<dyn Store>>,
    ) -> Harness {
        let path = dir.join("vestibule.toml");
        let text = text.replace("{upstream}", &upstream.addr.to_string());
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        Harness::launch(upstream, config, t0, Some(path), store).await
    }

    /// A client of the admin listener.
    pub fn admin(&self) -> Visitor {
        Visitor::new(self.running.admin_addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr())
    }

    pub fn visitor(&self) -> Visitor {
        Visitor::new(self.running.addr())
    }

    /// Moves the clock and runs one scheduler tick.
    pub async fn tick_after(&self, d: Duration) {
        self.clock.advance(d);
        vestibule::scheduler::tick(&self.running.app).await;
    }

    pub async fn tick(&self) {
        vestibule::scheduler::tick(&self.running.app).await;
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        let v = Visitor::new(self.running.admin_addr);
        v.get("/metrics").await.text()
    }

    pub fn snapshot(&self, room: &str) -> vestibule::store::Snapshot {
        self.running.app.room(room).unwrap().view().snapshot.clone()
    }
}

/// Reads one sample value from Prometheus text: `name{labels} value`.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("series {series} not found in metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// True if the fake upstream produced this (its echo JSON).
    pub fn reached_upstream(&self) -> bool {
        self.header("content-type") == Some("application/json") && self.text().contains("\"headers\"")
    }
}

/// A browser-like visitor: its own cookie jar, one connection pool.
#[derive(Clone)]
pub struct Visitor {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    pub jar: Arc<Mutex<HashMap<String, String>>>,
}

impl Visitor {
    pub fn new(addr: SocketAddr) -> Visitor {
        Visitor {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            jar: Arc::default(),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn get_json(&self, path: &str) -> Resp {
        self.send(Method::GET, path, &[("accept", "application/json")], Bytes::new())
            .await
    }

    pub async fn post(&self, path: &str, body: impl Into<Bytes>) -> Resp {
        self.send(Method::POST, path, &[], body.into()).await
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> Resp {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        let cookie = self.cookie_header();
        if !cookie.is_empty() {
            b = b.header("cookie", cookie);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self.client.request(b.body(Full::new(body)).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        self.store_cookies(&parts.headers);
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        let mut v: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        v.sort();
        v.join("; ")
    }

    fn store_cookies(&self, h: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap();
        for sc in h.get_all("set-cookie") {
            let s = sc.to_str().unwrap();
            let (nv, attrs) = s.split_once(';').unwrap_or((s, ""));
            let (name, value) = nv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// The raw value of one cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.into(), value.into());
    }

    pub fn forget_cookies(&self) {
        self.jar.lock().unwrap().clear();
    }
}

/// Position shown in a JSON waiting answer.
pub fn position(r: &Resp) -> u64 {
    let j = r.json();
    assert_eq!(j["state"], "queued", "{j}");
    j["position"].as_u64().unwrap()
}

/// Store calls, counted by kind.
#[derive(Default, Debug)]
pub struct Calls {
    pub arrive: AtomicU64,
    pub visit: AtomicU64,
    pub touch: AtomicU64,
    pub release: AtomicU64,
    pub tick: AtomicU64,
    pub snapshot: AtomicU64,
}

impl Calls {
    /// Calls made on behalf of requests (everything but ticks and snapshots).
    pub fn per_request(&self) -> u64 {
        [&self.arrive, &self.visit, &self.touch, &self.release]
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }
}

/// The memory store, counting every call.
#[derive(Default)]
pub struct CountingStore {
    inner: MemoryStore,
    pub calls: Arc<Calls>,
}

#[async_trait::async_trait]
impl Store for CountingStore {
    async fn arrive(&self, room: &str, now: u64, l: &Limits) -> Result<Arrival, StoreError> {
        self.calls.arrive.fetch_add(1, Ordering::SeqCst);
        self.inner.arrive(room, now, l).await
    }
    async fn visit(&self, room: &str, t: u64, now: u64, l: &Limits) -> Result<Visit, StoreError> {
        self.calls.visit.fetch_add(1, Ordering::SeqCst);
        self.inner.visit(room, t, now, l).await
    }
    async fn touch(&self, room: &str, s: u64, now: u64, l: &Limits) -> Result<bool, StoreError> {
        self.calls.touch.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(room, s, now, l).await
    }
    async fn release(&self, room: &str, s: u64, now: u64, l: &Limits) -> Result<bool, StoreError> {
        self.calls.release.fetch_add(1, Ordering::SeqCst);
        self.inner.release(room, s, now, l).await
    }
    async fn tick(&self, room: &str, now: u64, l: &Limits) -> Result<TickReport, StoreError> {
        self.calls.tick.fetch_add(1, Ordering::SeqCst);
        self.inner.tick(room, now, l).await
    }
    async fn snapshot(&self, room: &str, now: u64, l: &Limits) -> Result<Snapshot, StoreError> {
        self.calls.snapshot.fetch_add(1, Ordering::SeqCst);
        self.inner.snapshot(room, now, l).await
    }
    async fn set_overrides(&self, room: &str, o: Overrides, now: u64, l: &Limits) -> Result<Snapshot, StoreError> {
        self.inner.set_overrides(room, o, now, l).await
    }
}

/// Polls `f` every 20 ms until it is true, for at most `secs` seconds (for
/// things that happen in the background: file events, signals).
pub async fn eventually(secs: u64, what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real decoding backend: Python's wsgiref server running
/// `tests/support/decoding_backend.py`, which answers every request with
/// the `PATH_INFO` it decoded. Stopped when dropped.
pub struct DecodingBackend {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl DecodingBackend {
    pub fn start() -> DecodingBackend {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/decoding_backend.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the decoding backend (scripts/test installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port from the backend: {line:?}"));
        DecodingBackend {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }
}

impl Drop for DecodingBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// vestibule with `rooms` (and `server_extra` lines) in front of an
/// upstream at `addr` that is not a fake [`Upstream`].
pub async fn harness_before(addr: SocketAddr, dir: &Path, rooms: &str, server_extra: &str) -> Harness {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{addr}\"\n{server_extra}\n{rooms}"
    );
    Harness::from_file(Upstream::start().await, dir, &text).await
}
