//! The running application's shared state: the rooms, the settings that
//! follow the file, the store and its health, keys, metrics and clock;
//! built from a [`Config`] ([`crate::lifecycle`] starts and stops it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::HeaderMap;
use http::{HeaderValue, Response, StatusCode};

use crate::body::Body;
use crate::clock::{Clock, Millis};
use crate::config::{Config, FailurePolicy, StoreConfig};
use crate::failover::{LocalShare, StoreHealth};
use crate::http::respond;
use crate::metrics::{Metrics, RoomMetrics};
use crate::page::Pages;
use crate::persist::{self, Saver, StateError};
use crate::proxy::Proxy;
use crate::room::{Room, Rooms};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Store;
use crate::token::{Keys, Token};

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
        App::with_store(cfg, clock, keys, None, None).await
    }

    /// Like [`App::new`], with `store` replacing the configured one when
    /// given, and the file the configuration came from (reloads read it).
    pub async fn with_store(
        cfg: &Config,
        clock: Clock,
        keys: Keys,
        store: Option<Arc<dyn Store>>,
        config_path: Option<PathBuf>,
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
            config_path,
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
        crate::cookie::cookies(headers, &room.cookie)
            .filter_map(|raw| {
                self.keys
                    .verify_cached_keyed(room.name(), room.token_key, raw, now)
                    .ok()
            })
            .find(|t| t.epoch == epoch)
    }

    /// Whether cookies are marked `Secure` (`[token] cookie_secure`, live).
    pub fn cookie_secure(&self) -> bool {
        self.live.load().config.token.cookie_secure
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

/// Helper for `Room` lookups in tests and the admin API.
impl App {
    pub fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms.load().get(name).cloned()
    }
}
