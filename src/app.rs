//! The running application: shared state, start-up from a [`Config`], and
//! the handle that stops it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::HeaderMap;
use http::{HeaderValue, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body::Body;
use crate::clock::{Clock, Millis};
use crate::config::{Config, FailurePolicy, StoreConfig};
use crate::failover::{LocalShare, StoreHealth};
use crate::gate::respond;
use crate::metrics::{Metrics, RoomMetrics};
use crate::page::Pages;
use crate::persist::{self, Saver, StateError};
use crate::proxy::Proxy;
use crate::room::{Room, Rooms};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Store;
use crate::token::{Keys, Kind, Token};
use crate::{admin, reload, scheduler, server};

/// Environment variable that overrides `[token] secret_file`.
pub const SECRET_ENV: &str = "VESTIBULE_SECRET";

/// The settings that follow the configuration file at run time, swapped
/// whole by a reload.
pub struct Live {
    /// The configuration in force. Keys that need a restart keep the values
    /// the process started with (see [`crate::reload`]).
    pub config: Config,
    pub proxy: Proxy,
    pub pages: Pages,
    /// Bearer token the admin API requires, when configured.
    pub admin_token: Option<AdminToken>,
}

impl Live {
    /// Builds everything the configuration names that can fail to load:
    /// the page template and the admin token file.
    pub fn new(config: Config, proxy: Option<Proxy>, metrics: &Metrics) -> Result<Live, StartError> {
        let pages = Pages::new(config.page.template.as_deref())?;
        let admin_token = match &config.server.admin_token_file {
            Some(p) => Some(AdminToken::read(p)?),
            None => None,
        };
        Ok(Live {
            proxy: proxy.unwrap_or_else(|| Proxy::new(&config.server, metrics)),
            config,
            pages,
            admin_token,
        })
    }
}

/// The admin API's bearer token, compared in constant time.
pub struct AdminToken(Vec<u8>);

impl AdminToken {
    /// Shortest token accepted: guessing must be hopeless.
    pub const MIN_LEN: usize = 16;

    pub fn read(path: &Path) -> Result<AdminToken, StartError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::AdminToken(format!("cannot read {}: {e}", path.display())))?;
        let t = text.trim();
        if t.len() < Self::MIN_LEN || t.chars().any(char::is_whitespace) {
            return Err(StartError::AdminToken(format!(
                "{}: the token must be one word of at least {} characters",
                path.display(),
                Self::MIN_LEN
            )));
        }
        Ok(AdminToken(t.as_bytes().to_vec()))
    }

    /// True if `presented` is the token. Both sides are hashed first, so
    /// the comparison takes the same time whatever the lengths.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (Sha256::digest(&self.0), Sha256::digest(presented));
        a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Everything a request handler needs, shared by all connections.
pub struct App {
    /// Rooms and router; swapped whole when the configuration changes.
    pub rooms: ArcSwap<Rooms>,
    /// Settings that follow the file; swapped whole by a reload.
    pub live: ArcSwap<Live>,
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub metrics: Metrics,
    /// Handles for requests on paths in no room.
    pub bypass_metrics: RoomMetrics,
    pub clock: Clock,
    /// False until state is loaded, and again once draining starts.
    pub ready: AtomicBool,
    /// The configuration file, for reloads (`None`: built in, as the demo).
    pub config_path: Option<PathBuf>,
    /// Saves the memory store, when `[store] state_file` is set.
    pub saver: Option<Arc<Saver>>,
    /// Whether the store answers, and the failure policy.
    pub health: StoreHealth,
    /// The `local` failure policy's sessions.
    pub local: LocalShare,
    /// Instances sharing the capacity (`[store] instances`).
    pub instances: u32,
    /// Serialises reloads and operator changes.
    pub(crate) changes: tokio::sync::Mutex<()>,
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
    #[error(transparent)]
    State(#[from] StateError),
    #[error("admin token: {0}")]
    AdminToken(String),
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
    /// A store to use instead of the one `[store]` names (tests wrap the
    /// memory store to count calls).
    pub store: Option<Arc<dyn Store>>,
    /// The file the configuration came from: watched, and reloaded when it
    /// changes. `None` for a built-in configuration.
    pub config_path: Option<PathBuf>,
    /// Reload on SIGHUP too (the binary; tests share one process).
    pub sighup: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Clock::system(),
            scheduler: true,
            keys: None,
            extra_listeners: Vec::new(),
            store: None,
            config_path: None,
            sighup: false,
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

/// Checks what a valid configuration names beyond itself, as start-up
/// would load it: the page template, the admin token file, the secret file.
/// Every problem is returned (`vestibule check` prints them).
pub fn preflight(cfg: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = Pages::new(cfg.page.template.as_deref()) {
        problems.push(format!("page.template: {e}"));
    }
    if let Some(p) = &cfg.server.admin_token_file {
        if let Err(e) = AdminToken::read(p) {
            problems.push(format!("server.admin_token_file: {e}"));
        }
    }
    if let Some(p) = &cfg.token.secret_file {
        if let Err(e) = std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| Keys::from_text(&t).map_err(|e| e.to_string()))
        {
            problems.push(format!("token.secret_file: {}: {e}", p.display()));
        }
    }
    problems
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
        let metrics = Metrics::new();
        let now = clock.now_ms();
        let mut saver = None;
        let store: Arc<dyn Store> = match (store, &cfg.store) {
            (Some(s), _) => s,
            (None, StoreConfig::Memory) => match &cfg.persistence.state_file {
                None => {
                    tracing::warn!(
                        "no [store] state_file: tickets and sessions will not survive a restart of this process"
                    );
                    Arc::new(MemoryStore::new())
                }
                Some(path) => {
                    let (mem, loaded) = persist::load(path, now)?;
                    match loaded {
                        persist::Loaded::Missing => {
                            tracing::info!(path = %path.display(), "no state file yet; starting empty")
                        }
                        persist::Loaded::Restored { saved_ms, clean, rooms } => tracing::info!(
                            path = %path.display(),
                            rooms,
                            clean,
                            age_ms = now.saturating_sub(saved_ms),
                            "state restored"
                        ),
                        persist::Loaded::SetAside { to, reason } => tracing::error!(
                            path = %path.display(),
                            moved_to = %to.display(),
                            "state file unusable ({reason}); set aside, starting empty"
                        ),
                    }
                    let s = Arc::new(Saver::new(
                        mem.clone(),
                        path.clone(),
                        cfg.persistence.save_interval,
                        clock.clone(),
                        metrics.clone(),
                    ));
                    saver = Some(s);
                    Arc::new(mem)
                }
            },
            (None, StoreConfig::Redis(r)) => {
                let store = if r.cluster {
                    let nodes: Vec<String> = r.url.split(',').map(|n| n.trim().to_string()).collect();
                    RedisStore::connect_cluster(&nodes, &r.prefix, r.timeout).await
                } else {
                    RedisStore::connect(&r.url, &r.prefix, r.timeout).await
                }
                .map_err(|e| StartError::Store(format!("{}: {e}", r.url)))?;
                tracing::info!(url = %r.url, prefix = %r.prefix, on_failure = r.on_failure.as_str(), "shared store: redis");
                Arc::new(store)
            }
        };
        let (policy, instances) = match &cfg.store {
            StoreConfig::Redis(r) => (r.on_failure, r.instances),
            StoreConfig::Memory => (FailurePolicy::FailClosed, 1),
        };
        let health = StoreHealth::new(policy, metrics.clone());
        let app = App {
            rooms: ArcSwap::from_pointee(Rooms::new(&cfg.rooms, cfg.server.tick, &metrics)),
            live: ArcSwap::from_pointee(Live::new(cfg.clone(), None, &metrics)?),
            store,
            keys,
            bypass_metrics: metrics.bypass(),
            metrics,
            clock,
            ready: AtomicBool::new(false),
            config_path: None,
            saver,
            health,
            local: LocalShare::default(),
            instances,
            changes: tokio::sync::Mutex::new(()),
        };
        // Load every room's state before the first request, so tokens can be
        // checked against the room's epoch from the start.
        for room in app.rooms.load().iter() {
            let snap = app
                .store
                .snapshot(room.name(), now, &room.limits)
                .await
                .map_err(|e| StartError::Store(e.to_string()))?;
            room.publish(snap, 0, now);
        }
        // A first copy now: proves the state file is writable before any
        // visitor depends on it, and reserves numbers for a crash.
        if let Some(s) = &app.saver {
            s.save(false).await?;
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
                    self.health.succeeded();
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
                    // Waiting visitors keep being answered from the last view.
                    room.metrics.store_errors.inc();
                    self.health.failed(&e);
                    tracing::debug!(room = room.name(), error = %e, "tick failed; keeping the last view");
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
            .filter_map(|raw| {
                self.keys
                    .verify_cached_keyed(room.name(), room.token_key, raw, now)
                    .ok()
            })
            .find(|t| t.epoch == epoch)
    }

    fn cookie(&self, room: &Room, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.live.load().config.token.cookie_secure {
            "; Secure"
        } else {
            ""
        };
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
                self.live.load().pages.message(status.as_u16(), title, msg, retry),
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
    /// Stops the public listeners, the scheduler, the saver and the watcher.
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Stops the admin listener, last.
    stop_admin: watch::Sender<bool>,
    admin_task: JoinHandle<()>,
}

impl Running {
    /// The main public address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Stops gracefully; see [`Running::shutdown_or`].
    pub async fn shutdown(self) {
        self.shutdown_or(std::future::pending()).await
    }

    /// Stops gracefully, in the order a load balancer needs:
    ///
    /// 1. `/readyz` turns unready, while requests are still served, for
    ///    `[server] shutdown_delay`, so the balancer stops sending traffic;
    /// 2. the public listeners close and in-flight requests get up to
    ///    `[server] shutdown_grace` to finish; the scheduler stops;
    /// 3. the admin listener closes;
    /// 4. the state is saved (the clean copy a restart resumes exactly).
    ///
    /// If `hurry` resolves first (a second signal), the waits are cut
    /// short; the state is still saved.
    pub async fn shutdown_or(self, hurry: impl std::future::Future<Output = ()>) {
        tokio::pin!(hurry);
        self.app.ready.store(false, Ordering::SeqCst);
        let delay = self.app.live.load().config.server.shutdown_delay;
        if !delay.is_zero() {
            tracing::info!(?delay, "unready; still serving while the load balancer notices");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = &mut hurry => tracing::warn!("asked again: skipping the rest of the delay"),
            }
        }
        let _ = self.stop.send(true);
        let mut tasks = self.tasks;
        let drained = async {
            for t in &mut tasks {
                let _ = t.await;
            }
        };
        let hurried = tokio::select! {
            _ = drained => false,
            _ = &mut hurry => true,
        };
        if hurried {
            tracing::warn!("asked again: closing open connections now");
            for t in &tasks {
                t.abort();
            }
        }
        // The admin listener goes before the final save, so no operator
        // change can land after it.
        let _ = self.stop_admin.send(true);
        let _ = self.admin_task.await;
        if let Some(s) = &self.app.saver {
            match s.save(true).await {
                Ok(_) => tracing::info!(path = %s.path().display(), "state saved"),
                Err(e) => tracing::error!(error = %e, "final state save failed; changes since the last save are lost"),
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Starts vestibule: binds the listeners, loads state, spawns the public
/// server, the admin server, the scheduler, the state saver and the
/// configuration watcher.
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

    let mut app = App::with_store(&cfg, opts.clock, keys, opts.store).await?;
    app.config_path = opts.config_path;
    let app = Arc::new(app);
    let (stop, stop_rx) = watch::channel(false);
    let (stop_admin, stop_admin_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let conn = server::ConnSettings::from(&cfg.server);
    for l in listeners {
        tasks.push(tokio::spawn(server::serve_public(
            l,
            app.clone(),
            conn.clone(),
            stop_rx.clone(),
            cfg.server.shutdown_grace,
        )));
    }
    let admin_task = tokio::spawn(admin::serve(admin_listener, app.clone(), stop_admin_rx));
    if opts.scheduler {
        tasks.push(tokio::spawn(scheduler::run(
            app.clone(),
            cfg.server.tick,
            stop_rx.clone(),
        )));
    }
    if let Some(s) = &app.saver {
        tasks.push(tokio::spawn(s.clone().run(stop_rx.clone())));
    }
    if let Some(path) = app.config_path.clone() {
        tasks.push(tokio::spawn(reload::watch(
            app.clone(),
            path,
            opts.sighup,
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
        stop_admin,
        admin_task,
    })
}

/// Runs until `shutdown` resolves, then stops gracefully; a second
/// resolution of `again` cuts the drain short.
pub async fn run<F: std::future::Future<Output = ()>>(
    cfg: Config,
    opts: Options,
    shutdown: F,
    again: impl FnOnce() -> F,
) -> Result<(), StartError> {
    let running = spawn(cfg, opts).await?;
    shutdown.await;
    tracing::info!("shutting down");
    running.shutdown_or(again()).await;
    tracing::info!("stopped");
    Ok(())
}

/// Helper for `Room` lookups in tests and the admin API.
impl App {
    pub fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms.load().get(name).cloned()
    }
}
