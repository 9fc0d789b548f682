//! The running application: shared state, start-up from a [`Config`], and
//! the handle that stops it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::header::HeaderMap;
use http::{HeaderValue, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::clock::{Clock, Millis};
use crate::config::{Config, StoreConfig};
use crate::gate::respond;
use crate::metrics::{Metrics, RoomMetrics};
use crate::page::Pages;
use crate::proxy::Proxy;
use crate::room::{Room, Rooms};
use crate::store::memory::MemoryStore;
use crate::store::Store;
use crate::token::{Keys, Kind, Token};
use crate::{admin, scheduler, server};

/// Environment variable that overrides `[token] secret_file`.
pub const SECRET_ENV: &str = "VESTIBULE_SECRET";

/// Everything a request handler needs, shared by all connections.
pub struct App {
    /// Rooms and router; swapped whole when the configuration changes.
    pub rooms: ArcSwap<Rooms>,
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub proxy: Proxy,
    pub pages: Pages,
    pub metrics: Metrics,
    /// Handles for requests on paths in no room.
    pub bypass_metrics: RoomMetrics,
    pub clock: Clock,
    pub cookie_secure: bool,
    pub ticket_ttl_ms: u64,
    pub site_name: Option<String>,
    /// False until state is loaded, and again once draining starts.
    pub ready: AtomicBool,
}

/// Errors starting up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("token secret: {0}")]
    Secret(String),
    #[error(transparent)]
    Page(#[from] crate::page::PageError),
    #[error("store: {0}")]
    Store(String),
}

/// How to start; the defaults are production's.
pub struct Options {
    pub clock: Clock,
    /// Run the tick loop. Tests turn it off and call [`App::tick`] themselves.
    pub scheduler: bool,
    /// Signing keys; `None` reads them from the environment or the secret file.
    pub keys: Option<Keys>,
    /// More public listeners (the demo listens on several loopback names).
    pub extra_listeners: Vec<SocketAddr>,
    /// How long in-flight requests may take to finish at shutdown.
    pub drain_grace: Duration,
    /// A store to use instead of the one `[store]` names (tests wrap the
    /// memory store to count calls).
    pub store: Option<Arc<dyn Store>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Clock::system(),
            scheduler: true,
            keys: None,
            extra_listeners: Vec::new(),
            drain_grace: Duration::from_secs(30),
            store: None,
        }
    }
}

/// Loads the signing keys: `VESTIBULE_SECRET`, else the secret file, else
/// a random key with a warning (tokens then die with the process).
pub fn load_keys(secret_file: Option<&Path>) -> Result<Keys, StartError> {
    if let Ok(s) = std::env::var(SECRET_ENV) {
        return Keys::from_text(&s).map_err(|e| StartError::Secret(format!("{SECRET_ENV}: {e}")));
    }
    match secret_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| StartError::Secret(format!("cannot read {}: {e}", p.display())))?;
            Keys::from_text(&text).map_err(|e| StartError::Secret(format!("{}: {e}", p.display())))
        }
        None => {
            tracing::warn!(
                "no token secret configured ([token] secret_file or {SECRET_ENV}); using a random one: \
                 tickets and sessions will not survive a restart"
            );
            Ok(Keys::random())
        }
    }
}

impl App {
    /// Builds the application state (no sockets yet).
    pub async fn new(cfg: &Config, clock: Clock, keys: Keys) -> Result<App, StartError> {
        App::with_store(cfg, clock, keys, None).await
    }

    /// Like [`App::new`], with `store` replacing the configured one when given.
    pub async fn with_store(
        cfg: &Config,
        clock: Clock,
        keys: Keys,
        store: Option<Arc<dyn Store>>,
    ) -> Result<App, StartError> {
        let store: Arc<dyn Store> = match (store, &cfg.store) {
            (Some(s), _) => s,
            (None, StoreConfig::Memory) => Arc::new(MemoryStore::new()),
            (None, StoreConfig::Redis { .. }) => {
                return Err(StartError::Store("the redis store is not available yet".into()))
            }
        };
        let metrics = Metrics::new();
        let app = App {
            rooms: ArcSwap::from_pointee(Rooms::new(&cfg.rooms, cfg.server.tick, &metrics)),
            store,
            keys,
            proxy: Proxy::new(&cfg.server),
            pages: Pages::new(cfg.page.template.as_deref())?,
            bypass_metrics: metrics.bypass(),
            metrics,
            clock,
            cookie_secure: cfg.token.cookie_secure,
            ticket_ttl_ms: cfg.token.ticket_ttl.as_millis() as u64,
            site_name: cfg.page.site_name.clone(),
            ready: AtomicBool::new(false),
        };
        // Load every room's state before the first request, so tokens can be
        // checked against the room's epoch from the start.
        let now = app.clock.now_ms();
        for room in app.rooms.load().iter() {
            let snap = app
                .store
                .snapshot(room.name(), now, &room.limits)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?;
            room.publish(snap, 0, now);
        }
        Ok(app)
    }

    /// One scheduler step for every room.
    pub async fn tick(&self) {
        let now = self.clock.now_ms();
        let rooms = self.rooms.load_full();
        for room in rooms.iter() {
            match self.store.tick(room.name(), now, &room.limits).await {
                Ok(rep) => {
                    if rep.expired_reservations > 0 {
                        tracing::debug!(
                            room = room.name(),
                            n = rep.expired_reservations,
                            "unclaimed reservations released"
                        );
                    }
                    room.publish(rep.snapshot, rep.admitted, now);
                }
                Err(e) => {
                    room.metrics.store_errors.inc();
                    tracing::warn!(room = room.name(), error = %e, "tick failed; keeping the last view");
                }
            }
        }
    }

    /// The caller's valid token for `room`, if any. Forged, truncated,
    /// expired, other-room and other-epoch tokens are all `None`.
    pub fn token(&self, room: &Room, headers: &HeaderMap, now: Millis) -> Option<Token> {
        let epoch = room.view().snapshot.epoch;
        // Several cookies can carry the room's name (a stale one set for a
        // parent domain, say): the first valid one counts.
        crate::gate::cookies(headers, &room.cookie)
            .filter_map(|raw| self.keys.verify(room.name(), raw, now).ok())
            .find(|t| t.epoch == epoch)
    }

    fn cookie(&self, room: &Room, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        let s = format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            room.cookie
        );
        HeaderValue::from_str(&s).expect("cookie names and base64url values are valid header text")
    }

    /// Set-Cookie for a ticket.
    pub fn ticket_cookie(&self, room: &Room, t: &Token) -> HeaderValue {
        let max_age = t.expires_ms.saturating_sub(self.clock.now_ms()) / 1000;
        self.cookie(room, &self.keys.sign(room.name(), t), max_age)
    }

    /// Set-Cookie for a session refreshed at `now`; `confirmed` is false for
    /// a direct admission until the visitor comes back with the cookie.
    pub fn session_cookie(&self, room: &Room, number: u64, now: Millis, confirmed: bool) -> HeaderValue {
        let ttl = room.limits.session_ttl_ms;
        let t = Token {
            kind: Kind::Session,
            checked_in: confirmed,
            epoch: room.view().snapshot.epoch,
            number,
            stamp_ms: now,
            expires_ms: now + ttl,
        };
        self.cookie(room, &self.keys.sign(room.name(), &t), ttl / 1000)
    }

    /// Set-Cookie that deletes the room's cookie.
    pub fn clear_cookie(&self, room: &Room) -> HeaderValue {
        self.cookie(room, "", 0)
    }

    /// Counts an admission from the line and the wait it ended.
    pub fn count_claim(&self, room: &Room, t: &Token, now: Millis) {
        room.metrics.admitted_queue.inc();
        room.metrics
            .wait_seconds
            .observe(now.saturating_sub(t.stamp_ms) as f64 / 1000.0);
    }

    /// A short page (or JSON) for errors and refusals.
    pub fn message(
        &self,
        status: StatusCode,
        title: &str,
        msg: &str,
        retry: Option<u64>,
        json: bool,
    ) -> Response<Body> {
        let mut r = if json {
            let body = serde_json::json!({ "error": title, "message": msg, "status": status.as_u16() });
            respond(status, "application/json", body.to_string())
        } else {
            respond(
                status,
                "text/html; charset=utf-8",
                self.pages.message(status.as_u16(), title, msg, retry),
            )
        };
        if let Some(s) = retry {
            r.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        r.headers_mut()
            .insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }
}

/// A running vestibule: its addresses and the way to stop it.
pub struct Running {
    pub app: Arc<App>,
    /// Bound public addresses (the first is `[server] listen`).
    pub addrs: Vec<SocketAddr>,
    pub admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The main public address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Drains: turns unready, stops accepting, lets in-flight requests
    /// finish within the grace period, stops the scheduler.
    pub async fn shutdown(self) {
        self.app.ready.store(false, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Starts vestibule: binds the listeners, loads state, spawns the public
/// server, the admin server and the scheduler.
pub async fn spawn(cfg: Config, opts: Options) -> Result<Running, StartError> {
    let keys = match opts.keys {
        Some(k) => k,
        None => load_keys(cfg.token.secret_file.as_deref())?,
    };
    let mut listeners = vec![bind(cfg.server.listen).await?];
    for a in &opts.extra_listeners {
        match bind(*a).await {
            Ok(l) => listeners.push(l),
            Err(e) => tracing::warn!(error = %e, "extra listener skipped"),
        }
    }
    let admin_listener = bind(cfg.server.admin_listen).await?;
    let addrs = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let admin_addr = admin_listener.local_addr().map_err(|source| StartError::Bind {
        addr: cfg.server.admin_listen,
        source,
    })?;

    let app = Arc::new(App::with_store(&cfg, opts.clock, keys, opts.store).await?);
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let conn = server::ConnSettings::from(&cfg.server);
    for l in listeners {
        tasks.push(tokio::spawn(server::serve_public(
            l,
            app.clone(),
            conn.clone(),
            stop_rx.clone(),
            opts.drain_grace,
        )));
    }
    tasks.push(tokio::spawn(admin::serve(admin_listener, app.clone(), stop_rx.clone())));
    if opts.scheduler {
        tasks.push(tokio::spawn(scheduler::run(
            app.clone(),
            cfg.server.tick,
            stop_rx.clone(),
        )));
    }
    app.ready.store(true, Ordering::SeqCst);
    tracing::info!(listen = ?addrs, admin = %admin_addr, upstream = %cfg.server.upstream, rooms = cfg.rooms.len(), "vestibule started");
    Ok(Running {
        app,
        addrs,
        admin_addr,
        stop,
        tasks,
    })
}

/// Runs until `shutdown` resolves, then drains.
pub async fn run(
    cfg: Config,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let running = spawn(cfg, opts).await?;
    shutdown.await;
    tracing::info!("shutting down: draining connections");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Helper for `Room` lookups in tests and the admin API.
impl App {
    pub fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms.load().get(name).cloned()
    }
}
