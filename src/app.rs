//! The running application's shared state: the rooms, the settings that
//! follow the file, the store and its health, keys, metrics and clock;
//! built from a [`Config`] ([`crate::lifecycle`] starts and stops it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::HeaderMap;
use http::{Response, StatusCode};

use crate::access::{AccessLog, Destination};
use crate::body::Body;
use crate::clock::{Clock, Millis};
use crate::config::{Config, FailurePolicy, StoreConfig};
use crate::failover::{LocalShare, StoreHealth};
use crate::lang::{self, Catalog};
use crate::metrics::{Metrics, RoomMetrics};
use crate::page::{Message, Pages};
use crate::persist::{self, Saver, StateError};
use crate::proxy::Upstreams;
use crate::room::{Room, Rooms};
use crate::secrets::{AdminToken, SecretError};
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;
use crate::store::Store;
use crate::token::{Keys, Token};

/// The settings that follow the configuration file at run time, swapped
/// whole by a reload.
pub struct Live {
    /// The configuration in force. Keys that need a restart keep the values
    /// the process started with (see [`crate::reload`]).
    pub config: Config,
    /// The upstream clients, one per upstream the configuration names.
    pub upstreams: Upstreams,
    pub pages: Pages,
    /// Bearer token the admin API requires, when configured.
    pub admin_token: Option<AdminToken>,
}

impl Live {
    /// Builds everything the configuration names that can fail to load:
    /// the page template and its languages, the admin token file, the
    /// upstreams' TLS settings. `old`'s upstream clients are kept where
    /// nothing they were made with changed.
    pub fn new(config: Config, old: Option<&Live>, metrics: &Metrics) -> Result<Live, StartError> {
        let catalog = Catalog::load(&lang::Settings::of(&config))?;
        let pages = Pages::new(config.page.template.as_deref(), Arc::new(catalog))?;
        let admin_token = match &config.server.admin_token_file {
            Some(p) => Some(AdminToken::read(p)?),
            None => None,
        };
        Ok(Live {
            upstreams: Upstreams::new(&config, old.map(|o| &o.upstreams), metrics)?,
            config,
            pages,
            admin_token,
        })
    }
}

/// Everything a request handler needs, shared by all connections.
pub struct App {
    /// Rooms and router; swapped whole when the configuration changes.
    pub(crate) rooms: ArcSwap<Rooms>,
    /// Settings that follow the file; swapped whole by a reload.
    pub(crate) live: ArcSwap<Live>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keys,
    pub(crate) metrics: Metrics,
    /// Handles for requests on paths in no room.
    pub(crate) bypass_metrics: RoomMetrics,
    pub(crate) clock: Clock,
    /// False until state is loaded, and again once draining starts.
    pub(crate) ready: AtomicBool,
    /// The configuration file, for reloads (`None`: built in, as the demo).
    pub(crate) config_path: Option<PathBuf>,
    /// Saves the memory store, when `[store] state_file` is set.
    pub(crate) saver: Option<Arc<Saver>>,
    /// Whether the store answers, and the failure policy.
    pub(crate) health: StoreHealth,
    /// The `local` failure policy's sessions.
    pub(crate) local: LocalShare,
    /// Instances sharing the capacity (`[store] instances`).
    pub(crate) instances: u32,
    /// Serialises reloads and operator changes.
    pub(crate) changes: tokio::sync::Mutex<()>,
    /// The access log (`None`: `[log] access = "off"`).
    pub(crate) access: Option<Arc<AccessLog>>,
    /// The TLS listener's certificates (`None`: no `[server.tls]`).
    pub(crate) certs: Option<crate::tls::Served>,
}

/// Errors starting up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Page(#[from] crate::page::PageError),
    #[error(transparent)]
    Lang(#[from] crate::lang::LangError),
    #[error("store: {0}")]
    Store(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("TLS certificates: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Certificates(Vec<crate::tls::TlsError>),
    #[error("upstream TLS: {0}")]
    UpstreamTls(#[from] crate::tls::TlsError),
    #[error("cannot open the access log {path}: {source}")]
    AccessLog { path: String, source: std::io::Error },
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
        let (store, saver): (Arc<dyn Store>, _) = match (store, &cfg.store) {
            (Some(s), _) => (s, None),
            (None, StoreConfig::Memory) => match &cfg.persistence.state_file {
                None => {
                    tracing::warn!(
                        "no [store] state_file: tickets and sessions will not survive a restart of this process"
                    );
                    (Arc::new(MemoryStore::new()), None)
                }
                Some(path) => {
                    let saver = persist::open(path, cfg.persistence.save_interval, clock.clone(), metrics.clone())?;
                    (Arc::new(saver.store().clone()), Some(Arc::new(saver)))
                }
            },
            (None, StoreConfig::Redis(r)) => (
                Arc::new(
                    RedisStore::open(r)
                        .await
                        .map_err(|e| StartError::Store(format!("{}: {e}", r.url)))?,
                ),
                None,
            ),
        };
        let (policy, instances) = match &cfg.store {
            StoreConfig::Redis(r) => (r.on_failure, r.instances),
            StoreConfig::Memory => (FailurePolicy::FailClosed, 1),
        };
        let health = StoreHealth::new(policy, metrics.clone());
        let access = match cfg.log.access {
            None => None,
            Some(format) => {
                let to = cfg
                    .log
                    .access_file
                    .clone()
                    .map_or(Destination::Stdout, Destination::File);
                let shown = cfg
                    .log
                    .access_file
                    .as_ref()
                    .map_or("(stdout)".into(), |p| p.display().to_string());
                let log = AccessLog::open(
                    format,
                    to,
                    cfg.server.trust_forwarded_headers,
                    metrics.access_log_dropped(),
                )
                .map_err(|source| StartError::AccessLog { path: shown, source })?;
                Some(log)
            }
        };
        let certs = match &cfg.server.tls {
            None => None,
            Some(t) => Some(crate::tls::Served::load(t).map_err(StartError::Certificates)?),
        };
        let app = App {
            certs,
            rooms: ArcSwap::from_pointee(Rooms::with_sites(
                &cfg.rooms,
                &cfg.sites,
                Some(&cfg.server.upstream),
                cfg.server.tick,
                &metrics,
            )),
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
            access,
        };
        // Load every room's state before the first request, so tokens can be
        // checked against the room's epoch from the start.
        for room in app.rooms.load().iter() {
            let snap = app
                .store
                .snapshot(room.name(), now, &room.limits(now))
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

    /// Publishes a room's current state with its (possibly new) limits, so
    /// gauges and waiting pages follow a change at once rather than at the
    /// next tick.
    pub async fn refresh(&self, room: &Room, now: Millis) {
        match self.store.snapshot(room.name(), now, &room.limits(now)).await {
            Ok(snap) => room.publish(snap, 0, now),
            Err(e) => {
                room.metrics.store_errors.inc();
                tracing::warn!(room = room.name(), error = %e, "could not refresh the room's view");
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

    /// Whether the cookies `peer` is given are marked `Secure`: always
    /// over TLS, and as `[token] cookie_secure` says otherwise (a TLS
    /// terminator in front).
    pub fn secure(&self, peer: crate::http::Peer) -> bool {
        peer.tls || self.cookie_secure()
    }

    /// A short page (or JSON) for errors and refusals, in the language
    /// the request asked for (see [`Pages::message_response`]).
    pub fn message(
        &self,
        status: StatusCode,
        asked: &lang::Asked<'_>,
        m: &Message<'_>,
        retry: Option<u64>,
        json: bool,
    ) -> Response<Body> {
        let live = self.live.load();
        let lang = live.pages.catalog().chosen(asked);
        live.pages.message_response(status, lang, m, retry, json)
    }
}

/// What tests, benchmarks and tools outside the crate read.
impl App {
    /// The room called `name` in the configuration in force.
    pub fn room(&self, name: &str) -> Option<Arc<Room>> {
        self.rooms.load().get(name).cloned()
    }

    /// The rooms in force.
    pub fn rooms(&self) -> Arc<Rooms> {
        self.rooms.load_full()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Whether `/readyz` answers ready: state loaded and not draining.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, std::sync::atomic::Ordering::SeqCst)
    }
}
