//! Live configuration: the file is watched (and re-read on SIGHUP and by
//! `POST /api/reload`); a valid new file applies at once, an invalid one is
//! rejected whole.
//!
//! What applies live: rooms (added, removed, paths, capacity, rate, TTLs,
//! grace, window, title), the upstream and its timeouts, forwarded-header
//! trust, cookies' `Secure`, ticket TTL, the page template and site name,
//! the languages (`[page] default_language`, `languages`, and the files of
//! the `translations` directory, which is watched too), the admin token,
//! the sites, the TLS certificates' files and `hsts`, and `shutdown_delay`. Queues and sessions are kept:
//! a room keeps its state in the store under its name, so a changed room
//! loses nobody's place, and a removed room's state waits in the store in
//! case it comes back.
//!
//! What needs a restart ([`RESTART_KEYS`]): listeners, worker threads, the
//! tick, client connection limits (header, send timeout, connection and
//! HTTP/2 limits), the store, the state file, the token secret,
//! `shutdown_grace`, the `[log]` table. (SIGHUP reopens the access log
//! file, for log rotation.) A change to one of them is logged as needing a
//! restart and the running value stays in force.
//!
//! Precedence with the admin API: an operator's runtime change (pause,
//! capacity, rate) stays in force across reloads until the file changes
//! that same value, which then wins. Pause has no key in the file; it lasts
//! until resumed.
//!
//! The watcher watches the file's directory, not the file: editors that
//! write a temporary file and rename it over the original, and Kubernetes'
//! ConfigMap symlink swaps, replace the inode a file watch would follow.
//! Events are debounced, the file is compared with the text last applied,
//! and a slow poll catches file systems without change events. The
//! translations directory is watched the same way, and compared by its
//! `.ftl` files' names and contents: a change there reloads the whole
//! configuration, so a broken translation is rejected like a broken file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::app::{App, Live, StartError};
use crate::config::{Config, ConfigError};
use crate::room::Rooms;
use crate::schedule::Phase;
use crate::tls::Followed;

/// Quiet time after a change event before the file is read: editors write
/// in several steps.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Fallback poll, for file systems that send no events (NFS, some
/// container mounts).
const POLL: Duration = Duration::from_secs(5);

/// Keys that cannot change without a restart.
pub const RESTART_KEYS: &[&str] = &[
    "server.listen",
    "server.admin_listen",
    "server.workers",
    "server.tick",
    "server.header_read_timeout",
    "server.max_header_bytes",
    "server.send_timeout",
    "server.max_connections",
    "server.http2_max_active_streams",
    "server.http2_max_streams",
    "server.shutdown_grace",
    "server.tls",
    "server.tls.listen",
    "server.tls.redirect_http",
    "store.kind",
    "store.url",
    "store.state_file",
    "store.save_interval",
    "token.secret_file",
    "log.format",
    "log.access",
    "log.access_file",
];

/// Why a reload was rejected; the running configuration stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("this vestibule was started without a configuration file")]
    NoFile,
    #[error("rejected: {0}")]
    Unsafe(String),
}

/// What a reload changed.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReloadReport {
    pub rooms_added: Vec<String>,
    pub rooms_removed: Vec<String>,
    pub rooms_changed: Vec<String>,
    /// Operator overrides the file's new values replaced: `room.key`.
    pub overrides_cleared: Vec<String>,
    /// Keys changed in the file that need a restart; their old values stay.
    pub restart_needed: Vec<&'static str>,
    /// Every value the reload changed, as `key: old -> new`
    /// (`room.registration.capacity: 2 -> 3`); logged one a line.
    pub changes: Vec<String>,
    /// What a change to a running event does that the change alone does
    /// not say; logged as warnings.
    pub warnings: Vec<String>,
}

/// A configuration value as a change log shows it: as written in the file.
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for u32 {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for bool {
    fn shown(&self) -> String {
        self.to_string()
    }
}

impl Shown for String {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

impl Shown for std::time::Duration {
    fn shown(&self) -> String {
        format!("\"{}\"", humantime::format_duration(*self))
    }
}

impl Shown for crate::config::Upstream {
    fn shown(&self) -> String {
        format!("\"{self}\"")
    }
}

impl Shown for crate::config::RoomMode {
    fn shown(&self) -> String {
        format!("{:?}", self.as_str())
    }
}

impl Shown for Vec<crate::schedule::Event> {
    fn shown(&self) -> String {
        let one = |e: &crate::schedule::Event| {
            let mut s = format!("{} opens {}", e.name, crate::schedule::clock_text(e.opens_at));
            if let Some(c) = e.closes_at {
                s.push_str(&format!(" closes {}", crate::schedule::clock_text(c)));
            }
            s
        };
        format!("[{}]", self.iter().map(one).collect::<Vec<_>>().join("; "))
    }
}

impl Shown for crate::config::QueueMode {
    fn shown(&self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

impl Shown for Vec<String> {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

impl Shown for Vec<crate::config::HostPattern> {
    fn shown(&self) -> String {
        format!(
            "[{}]",
            self.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", ")
        )
    }
}

impl Shown for Vec<crate::config::SiteConfig> {
    fn shown(&self) -> String {
        let one = |s: &crate::config::SiteConfig| format!("{} {} -> {}", s.name, s.hosts.shown(), s.upstream);
        format!("[{}]", self.iter().map(one).collect::<Vec<_>>().join("; "))
    }
}

impl Shown for Vec<crate::config::CertConfig> {
    fn shown(&self) -> String {
        let one = |c: &crate::config::CertConfig| c.cert_file.shown();
        format!("[{}]", self.iter().map(one).collect::<Vec<_>>().join(", "))
    }
}

impl Shown for http::HeaderValue {
    fn shown(&self) -> String {
        format!("{:?}", self.to_str().unwrap_or_default())
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        format!("{:?}", self.display().to_string())
    }
}

impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        self.as_ref().map_or_else(|| "(none)".into(), T::shown)
    }
}

/// `key: old -> new` for each value that differs between `old` and `new`
/// among the keys that apply live (restart-only keys are reported apart).
fn live_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! diff {
        ($a:expr, $b:expr, $key:expr) => {
            if $a != $b {
                out.push(format!("{}: {} -> {}", $key, $a.shown(), $b.shown()));
            }
        };
    }
    macro_rules! setting {
        ($key:literal, $($f:ident).+) => {
            diff!(old.$($f).+, new.$($f).+, $key)
        };
    }
    setting!("server.upstream", server.upstream);
    setting!("server.upstream_ca_file", server.upstream_tls.ca_file);
    setting!(
        "server.upstream_insecure_skip_verify",
        server.upstream_tls.insecure_skip_verify
    );
    diff!(
        old.server.upstream_tls.client_cert.as_ref().map(|c| c.0.clone()),
        new.server.upstream_tls.client_cert.as_ref().map(|c| c.0.clone()),
        "server.upstream_client_cert_file"
    );
    diff!(
        old.server.tls.as_ref().map(|t| t.certs.clone()).unwrap_or_default(),
        new.server.tls.as_ref().map(|t| t.certs.clone()).unwrap_or_default(),
        "server.tls certificates"
    );
    diff!(
        old.server.tls.as_ref().and_then(|t| t.hsts.clone()),
        new.server.tls.as_ref().and_then(|t| t.hsts.clone()),
        "server.tls.hsts"
    );
    setting!("site", sites);
    setting!("server.connect_timeout", server.connect_timeout);
    setting!("server.response_timeout", server.response_timeout);
    setting!("server.upstream_read_timeout", server.upstream_read_timeout);
    setting!("server.trust_forwarded_headers", server.trust_forwarded_headers);
    setting!("server.admin_token_file", server.admin_token_file);
    setting!("server.shutdown_delay", server.shutdown_delay);
    setting!("token.cookie_secure", token.cookie_secure);
    setting!("token.ticket_ttl", token.ticket_ttl);
    setting!("page.template", page.template);
    setting!("page.site_name", page.site_name);
    setting!("page.default_language", page.default_language);
    setting!("page.languages", page.languages);
    setting!("page.translations", page.translations);
    for r in &new.rooms {
        let Some(o) = old.rooms.iter().find(|o| o.name == r.name) else {
            continue;
        };
        macro_rules! room {
            ($f:ident) => {
                diff!(o.$f, r.$f, format!("room.{}.{}", r.name, stringify!($f)))
            };
        }
        room!(title);
        room!(paths);
        room!(hosts);
        room!(upstream);
        room!(capacity);
        room!(admit_per_minute);
        room!(session_ttl);
        room!(claim_grace);
        room!(checkin_window);
        room!(queue);
        room!(mode);
        room!(max_session);
        room!(events);
        room!(notice);
    }
    out
}

/// Copies the running values of restart-only keys into `new`, returning
/// the keys whose values differed.
fn keep_restart_only(old: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    macro_rules! keep {
        ($key:literal, $($f:ident).+) => {
            if old.$($f).+ != new.$($f).+ {
                changed.push($key);
                new.$($f).+ = old.$($f).+.clone();
            }
        };
    }
    keep!("server.listen", server.listen);
    keep!("server.admin_listen", server.admin_listen);
    keep!("server.workers", server.workers);
    keep!("server.tick", server.tick);
    keep!("server.header_read_timeout", server.header_read_timeout);
    keep!("server.max_header_bytes", server.max_header_bytes);
    keep!("server.send_timeout", server.send_timeout);
    keep!("server.max_connections", server.max_connections);
    keep!("server.http2_max_active_streams", server.http2_max_active_streams);
    keep!("server.http2_max_streams", server.http2_max_streams);
    keep!("server.shutdown_grace", server.shutdown_grace);
    // A TLS listener starts and stops with the process; its certificates
    // follow the file.
    match (&old.server.tls, &mut new.server.tls) {
        (Some(o), Some(n)) => {
            if o.listen != n.listen {
                changed.push("server.tls.listen");
                n.listen = o.listen;
            }
            if o.redirect_http != n.redirect_http {
                changed.push("server.tls.redirect_http");
                n.redirect_http = o.redirect_http;
            }
        }
        (None, None) => {}
        (o, n) => {
            changed.push("server.tls");
            *n = o.clone();
        }
    }
    if old.store != new.store {
        changed.push(match (&old.store, &new.store) {
            (crate::config::StoreConfig::Redis(_), crate::config::StoreConfig::Redis(_)) => "store.url",
            _ => "store.kind",
        });
        new.store = old.store.clone();
    }
    keep!("store.state_file", persistence.state_file);
    keep!("store.save_interval", persistence.save_interval);
    keep!("token.secret_file", token.secret_file);
    keep!("log.format", log.format);
    keep!("log.access", log.access);
    keep!("log.access_file", log.access_file);
    debug_assert!(changed.iter().all(|k| RESTART_KEYS.contains(k)));
    changed
}

/// Re-reads the configuration file and applies it; see [`apply`].
/// Logs and counts the outcome.
pub async fn reload_file(app: &App) -> Result<ReloadReport, ReloadError> {
    let path = app.config_path.as_deref().ok_or(ReloadError::NoFile)?;
    let res = match tokio::fs::read_to_string(path).await {
        Ok(text) => reload_text(app, &text, path).await,
        Err(source) => Err(ReloadError::Read {
            path: path.into(),
            source,
        }),
    };
    log_reload(app, &res);
    res
}

async fn reload_text(app: &App, text: &str, path: &Path) -> Result<ReloadReport, ReloadError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let cfg = Config::parse(text, base, &path.display().to_string())?;
    apply(app, cfg).await
}

fn log_reload(app: &App, res: &Result<ReloadReport, ReloadError>) {
    app.metrics.config_reload(res.is_ok());
    match res {
        Ok(r) => {
            tracing::info!(
                added = ?r.rooms_added,
                removed = ?r.rooms_removed,
                changed = ?r.rooms_changed,
                overrides_cleared = ?r.overrides_cleared,
                "configuration reloaded"
            );
            for change in &r.changes {
                tracing::info!("changed by the file: {change}");
            }
            for w in &r.warnings {
                tracing::warn!("{w}");
            }
            if !r.restart_needed.is_empty() {
                tracing::warn!(
                    keys = ?r.restart_needed,
                    "changed in the file but only applied at the next restart; the running values stay"
                );
            }
        }
        Err(e) => tracing::error!("configuration rejected, the running one stays: {e}"),
    }
}

/// Applies a validated configuration to the running proxy. Everything
/// that can fail (the page template, the admin token file) is loaded
/// before anything changes, so a failed reload changes nothing.
pub async fn apply(app: &App, mut cfg: Config) -> Result<ReloadReport, ReloadError> {
    let _one = app.changes.lock().await;
    let old = app.live.load_full();
    let mut report = ReloadReport {
        restart_needed: keep_restart_only(&old.config, &mut cfg),
        ..ReloadReport::default()
    };
    // The new file was validated on its own; with the running values of
    // restart-only keys put back, check again what depends on them.
    if cfg.server.admin_token_file.is_none() && !cfg.server.admin_listen.ip().is_loopback() {
        return Err(ReloadError::Unsafe(format!(
            "the admin API runs on {} (reachable from other machines) until a restart; \
             server.admin_token_file cannot be removed before then",
            cfg.server.admin_listen
        )));
    }
    report.changes = live_changes(&old.config, &cfg);
    let live = Live::new(cfg, Some(&old), &app.metrics)?;

    let old_rooms = app.rooms.load_full();
    let rooms = Rooms::with_sites(
        &live.config.rooms,
        &live.config.sites,
        Some(&live.config.server.upstream),
        live.config.server.tick,
        &app.metrics,
    );
    let now = app.clock.now_ms();
    for room in rooms.iter() {
        let Some(prev) = old_rooms.get(room.name()) else {
            report.rooms_added.push(room.name().to_string());
            app.refresh(room, now).await;
            continue;
        };
        if prev.cfg != room.cfg {
            report.rooms_changed.push(room.name().to_string());
        }
        room.carry_from(prev);
        if let (Phase::Prequeue(a), Phase::Prequeue(b)) = (prev.phase(now), room.phase(now)) {
            if a.shuffle != b.shuffle {
                report.warnings.push(format!(
                    "room {}: shuffle turned {} while the pre-queue of {:?} runs: {}",
                    room.name(),
                    if b.shuffle { "on" } else { "off" },
                    b.name,
                    if b.shuffle {
                        "those who joined before keep arrival order, ahead of the draw"
                    } else {
                        "its line will be let in in arrival order"
                    }
                ));
            }
        }
        // A value changed if the room's own changed, or the one its
        // schedule has in force now (a running event's capacity, say).
        let (was, is) = (prev.limits(now), room.limits(now));
        let capacity = prev.cfg.capacity != room.cfg.capacity || was.capacity != is.capacity;
        let rate =
            prev.cfg.admit_per_minute != room.cfg.admit_per_minute || was.admit_per_minute != is.admit_per_minute;
        let mode = prev.cfg.mode != room.cfg.mode || was.mode != is.mode;
        let notice = prev.cfg.notice != room.cfg.notice;
        let file_changed = capacity || rate || mode || notice;
        if !file_changed {
            app.refresh(room, now).await;
            continue;
        }
        // The file changed a value an operator had overridden: the file
        // wins. The overrides are read from the store, not the cached
        // view: another instance may have changed them since.
        let mut ov = match app.store.snapshot(room.name(), now, &room.limits(now)).await {
            Ok(s) => s.overrides,
            Err(e) => {
                room.metrics.store_errors.inc();
                tracing::warn!(room = room.name(), error = %e, "cannot read the room's overrides; they stay as they are");
                continue;
            }
        };
        let cleared = report.overrides_cleared.len();
        if capacity && ov.capacity.take().is_some() {
            report.overrides_cleared.push(format!("{}.capacity", room.name()));
        }
        if rate && ov.admit_per_minute.take().is_some() {
            report
                .overrides_cleared
                .push(format!("{}.admit_per_minute", room.name()));
        }
        if mode && ov.mode.take().is_some() {
            report.overrides_cleared.push(format!("{}.mode", room.name()));
        }
        if notice && ov.notice.take().is_some() {
            report.overrides_cleared.push(format!("{}.notice", room.name()));
        }
        if report.overrides_cleared.len() > cleared {
            match app.store.set_overrides(room.name(), ov, now, &room.limits(now)).await {
                Ok(snap) => room.publish(snap, 0, now),
                Err(e) => {
                    room.metrics.store_errors.inc();
                    tracing::warn!(room = room.name(), error = %e, "could not clear overrides the file replaced");
                }
            }
        } else {
            app.refresh(room, now).await;
        }
    }
    for prev in old_rooms.iter() {
        if rooms.get(prev.name()).is_none() {
            report.rooms_removed.push(prev.name().to_string());
            app.metrics.forget_room(prev.name());
        }
    }
    if let Some(log) = &app.access {
        log.set_trust_forwarded(live.config.server.trust_forwarded_headers);
    }
    app.live.store(Arc::new(live));
    app.rooms.store(Arc::new(rooms));
    follow_certificates(app, false);
    Ok(report)
}

/// Loads the TLS listener's certificates again if their files changed
/// (or always, `force`d); a set that does not load is refused, logged and
/// counted, and the served one stays.
pub fn follow_certificates(app: &App, force: bool) {
    let (Some(served), Some(cfg)) = (&app.certs, app.live.load().config.server.tls.clone()) else {
        return;
    };
    match served.follow(&cfg, force) {
        Followed::Unchanged => {}
        Followed::Replaced(infos) => {
            app.metrics.certificate_reload(true);
            tracing::info!(count = infos.len(), "TLS certificates reloaded");
            for info in &infos {
                crate::tls::log_served(info);
            }
        }
        Followed::Refused(errors) => {
            app.metrics.certificate_reload(false);
            for e in &errors {
                tracing::error!("TLS certificates refused, the served ones stay: {e}");
            }
        }
    }
}

/// Watches `path` and reloads when its content changes; on SIGHUP (when
/// `sighup`), reloads unconditionally. The watch, the signal handler and the
/// text compared against are set up before this returns, so a change made
/// right after start-up is not missed; the returned future runs until
/// `stop` flips.
pub fn watch(
    app: Arc<App>,
    path: PathBuf,
    sighup: bool,
    mut stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![dir];
    if let Some(t) = &app.live.load().config.server.tls {
        for f in t.certs.iter().flat_map(|c| [&c.cert_file, &c.key_file]) {
            if let Some(d) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dirs.iter().any(|x| x == d) {
                    dirs.push(d.to_path_buf());
                }
            }
        }
    }
    let watcher = start_watcher(&dirs, tx.clone());
    // The translations directory, watched and compared apart: its files
    // change while the configuration's text does not.
    let mut translations = Translations::new(&app, tx);
    let mut hup = hangups(sighup);
    let mut last = std::fs::read(&path).ok();
    // The file may have changed between the read the running configuration
    // came from and now: if it no longer says the same, apply it at once.
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let stale = last.as_ref().is_some_and(|t| {
        Config::parse(&String::from_utf8_lossy(t), &base, "").map_or(true, |c| c != app.live.load().config)
    });
    if stale {
        last = None;
    }
    async move {
        if stale {
            let _ = reload_file(&app).await;
            last = tokio::fs::read(&path).await.ok();
        }
        // Kept alive for the loop's lifetime; dropping it stops the events.
        let _watcher = watcher;

        let mut poll = tokio::time::interval(POLL);
        poll.tick().await;
        loop {
            let forced = tokio::select! {
                Some(()) = rx.recv() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    while rx.try_recv().is_ok() {}
                    false
                }
                Some(()) = recv_hup(&mut hup) => true,
                _ = poll.tick() => false,
                _ = crate::shutdown::stopped(&mut stop) => return,
            };
            if forced {
                tracing::info!(
                    "SIGHUP: reloading the configuration and the certificates, and reopening the access log"
                );
                if let Some(log) = &app.access {
                    log.reopen();
                }
                // The certificates first, forced: the reload's own look
                // then finds them as loaded, and a renewal counts once.
                follow_certificates(&app, true);
                last = tokio::fs::read(&path).await.ok();
                let _ = reload_file(&app).await;
                translations.follow(&app);
                continue;
            }
            // Renewed certificates (certbot's symlink swap, cert-manager's
            // secret update), whether or not the configuration changed.
            follow_certificates(&app, false);
            let text = match tokio::fs::read(&path).await {
                Ok(t) => t,
                // Mid-rename, or being replaced: the next event or poll retries.
                Err(e) => {
                    tracing::debug!(error = %e, "configuration file not readable right now");
                    continue;
                }
            };
            if last.as_ref() == Some(&text) {
                if !translations.changed() {
                    continue;
                }
                tracing::info!("the translations directory changed: reloading");
            }
            // Remembered even when invalid, so a broken file is reported once,
            // not at every poll; the fix is a change and applies.
            last = Some(text);
            let _ = reload_file(&app).await;
            translations.follow(&app);
        }
    }
}

/// The translations directory the configuration in force names, watched.
struct Translations {
    dir: Option<PathBuf>,
    /// Kept alive while the directory is the one in force.
    watcher: Option<notify::RecommendedWatcher>,
    /// What the directory held when last applied.
    seen: Option<u64>,
    /// Where its events go: the configuration file's channel.
    tx: mpsc::Sender<()>,
}

impl Translations {
    fn new(app: &App, tx: mpsc::Sender<()>) -> Translations {
        let dir = app.live.load().config.page.translations.clone();
        Translations {
            watcher: dir
                .as_deref()
                .and_then(|d| start_watcher(&[d.to_path_buf()], tx.clone())),
            seen: translations_fingerprint(dir.as_deref()),
            dir,
            tx,
        }
    }

    /// Whether the files differ from those last applied.
    fn changed(&self) -> bool {
        translations_fingerprint(self.dir.as_deref()) != self.seen
    }

    /// After a reload, applied or not: watch the directory the
    /// configuration in force names, and take what it holds as seen (a
    /// broken file is reported once, as a broken configuration is).
    fn follow(&mut self, app: &App) {
        let now = app.live.load().config.page.translations.clone();
        if now != self.dir {
            self.watcher = now
                .as_deref()
                .and_then(|d| start_watcher(&[d.to_path_buf()], self.tx.clone()));
            self.dir = now;
        }
        self.seen = translations_fingerprint(self.dir.as_deref());
    }
}

/// What the translations directory holds: its `.ftl` files' names and
/// contents, hashed (`None` when there is none, or it cannot be read).
fn translations_fingerprint(dir: Option<&Path>) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ftl"))
        .collect();
    names.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for n in names {
        n.hash(&mut h);
        std::fs::read(&n).ok().hash(&mut h);
    }
    Some(h.finish())
}

fn start_watcher(dirs: &[PathBuf], tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let handler = move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| may_change(&e.kind)) {
            // A full channel already holds a wake-up; that is enough.
            let _ = tx.try_send(());
        }
    };
    let mut w = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration file; polling every {POLL:?}");
            return None;
        }
    };
    for (i, dir) in dirs.iter().enumerate() {
        if let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive) {
            let what = if i == 0 { "the configuration" } else { "a certificate's" };
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch {what} directory; polling every {POLL:?}");
            if i == 0 {
                return None;
            }
        }
    }
    Some(w)
}

/// Whether an event can mean the file changed. inotify also reports opens
/// and read-only closes, and the watcher's own read of the file is one: taken
/// as changes, they made the watcher reread the file five times a second,
/// forever, waking the runtime for nothing. A close after writing stays: an
/// editor that writes in place ends with one.
fn may_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups(enabled: bool) -> Hangups {
    if !enabled {
        return None;
    }
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the file watcher still reloads");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangups(_: bool) -> Hangups {
    None
}

#[cfg(unix)]
async fn recv_hup(h: &mut Hangups) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv_hup(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload names each value it changed, from what to what (issue 17:
    /// `changed=["registration"]` and nothing more).
    #[test]
    fn a_reload_says_what_changed_from_what_to_what() {
        let base = std::path::Path::new(".");
        let file = |cap: u32, rate: &str, extra: &str| {
            let text = format!(
                "[server]\nupstream = \"http://127.0.0.1:1\"\n{extra}\n[[room]]\nname = \"reg\"\n\
                 paths = [\"/register\"]\ncapacity = {cap}\n{rate}"
            );
            Config::parse(&text, base, "test").unwrap()
        };
        let old = file(2, "", "");
        let new = file(
            3,
            "admit_per_minute = 60\nsession_ttl = \"15m\"",
            "connect_timeout = \"2s\"",
        );
        assert_eq!(
            live_changes(&old, &new),
            [
                "server.connect_timeout: \"5s\" -> \"2s\"",
                "room.reg.capacity: 2 -> 3",
                "room.reg.admit_per_minute: (none) -> 60",
                "room.reg.session_ttl: \"10m\" -> \"15m\"",
            ]
        );
        assert!(live_changes(&old, &old).is_empty());
    }

    /// Backing HSTS out ("0s") applies at once, and the log says so.
    #[test]
    fn a_reload_applies_and_names_a_new_hsts() {
        let file = |hsts: &str| {
            let text = format!(
                "[server]\nupstream = \"http://127.0.0.1:1\"\n[server.tls]\ncert_file = \"c.pem\"\n\
                 key_file = \"k.pem\"\n{hsts}\n"
            );
            Config::parse(&text, std::path::Path::new("."), "test").unwrap()
        };
        let (old, mut new) = (file("hsts = \"365d\""), file("hsts = \"0s\""));
        assert!(keep_restart_only(&old, &mut new).is_empty());
        assert_eq!(
            live_changes(&old, &new),
            ["server.tls.hsts: \"max-age=31536000\" -> \"max-age=0\""]
        );
        assert_eq!(
            live_changes(&new, &file("")),
            ["server.tls.hsts: \"max-age=0\" -> (none)"]
        );
    }
}
