//! Start-up and shutdown: binding the listeners, starting every task
//! (the public and admin listeners, the scheduler, the state saver, the
//! configuration watcher) around the shared [`App`], and stopping them in
//! the order a load balancer needs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, StartError};
use crate::clock::Clock;
use crate::config::Config;
use crate::secrets::load_keys;
use crate::store::Store;
use crate::token::Keys;
use crate::{admin, reload, scheduler, server};

/// How to start; the defaults are production's.
pub struct Options {
    pub clock: Clock,
    /// Run the tick loop. Tests turn it off and call [`crate::scheduler::tick`] themselves.
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

/// A running vestibule: its addresses and the way to stop it.
pub struct Running {
    pub app: Arc<App>,
    /// Bound public addresses (the first is `[server] listen`).
    pub addrs: Vec<SocketAddr>,
    /// The TLS listener's address, when `[server.tls]` is set.
    pub tls_addr: Option<SocketAddr>,
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
    /// 4. the state is saved (the clean copy a restart resumes exactly),
    ///    and the access log written out.
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
        } // Every request has ended: their lines are queued.
        if let Some(log) = &self.app.access {
            log.flush().await;
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
        None => load_keys(
            cfg.token.secret_file.as_deref(),
            matches!(cfg.store, crate::config::StoreConfig::Redis(_)),
        )?,
    };
    let mut listeners = vec![bind(cfg.server.listen).await?];
    for a in &opts.extra_listeners {
        match bind(*a).await {
            Ok(l) => listeners.push(l),
            Err(e) => tracing::warn!(error = %e, "extra listener skipped"),
        }
    }
    let tls_listener = match &cfg.server.tls {
        Some(t) => Some(bind(t.listen).await?),
        None => None,
    };
    let admin_listener = bind(cfg.server.admin_listen).await?;
    let addrs = listeners.iter().filter_map(|l| l.local_addr().ok()).collect();
    let admin_addr = admin_listener.local_addr().map_err(|source| StartError::Bind {
        addr: cfg.server.admin_listen,
        source,
    })?;

    let app = Arc::new(App::with_store(&cfg, opts.clock, keys, opts.store, opts.config_path).await?);
    let (stop, stop_rx) = watch::channel(false);
    let (stop_admin, stop_admin_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let conn = server::ConnSettings::from(&cfg.server);
    let mut tls_addr = None;
    let mut plain = server::Public::Gate;
    if let (Some(l), Some(t), Some(certs)) = (tls_listener, &cfg.server.tls, &app.certs) {
        tls_addr = l.local_addr().ok();
        if t.redirect_http {
            plain = server::Public::RedirectTo(tls_addr.map_or(t.listen.port(), |a| a.port()));
        }
        let tls = crate::tls::server_config(certs.resolver()).map_err(|e| StartError::Certificates(vec![e]))?;
        tasks.push(tokio::spawn(server::serve_public(
            l,
            app.clone(),
            conn.clone(),
            stop_rx.clone(),
            cfg.server.shutdown_grace,
            Some(tls.into()),
            server::Public::Gate,
        )));
    }
    for l in listeners {
        tasks.push(tokio::spawn(server::serve_public(
            l,
            app.clone(),
            conn.clone(),
            stop_rx.clone(),
            cfg.server.shutdown_grace,
            None,
            plain,
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
    tracing::info!(listen = ?addrs, tls = ?tls_addr, admin = %admin_addr, upstream = %cfg.server.upstream, rooms = cfg.rooms.len(), "vestibule started");
    if let Some(certs) = &app.certs {
        for p in certs.resolver().current().pairs() {
            crate::tls::log_served(&p.info);
        }
    }
    Ok(Running {
        app,
        addrs,
        tls_addr,
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
