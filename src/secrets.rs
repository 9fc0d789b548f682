//! Secrets the configuration names: the token signing keys and the admin
//! API's bearer token, loaded at start-up (and the admin token at each
//! reload), and checked by `vestibule check` without starting.

use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, StoreConfig};
use crate::lang::{Catalog, Settings};
use crate::page::Pages;
use crate::token::Keys;

/// Environment variable that overrides `[token] secret_file`.
pub const SECRET_ENV: &str = "VESTIBULE_SECRET";

/// A secret that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("token secret: {0}")]
    Key(String),
    #[error("admin token: {0}")]
    AdminToken(String),
}

/// Why a shared store needs a secret of its own.
const SHARED: &str = "a shared store (kind = \"redis\") needs the same token secret on every instance: \
                      set [token] secret_file or VESTIBULE_SECRET. With a random key each, a visitor \
                      balanced to another instance is a stranger there and loses their place";

/// The problem with `cfg` when instances share a store but would each sign
/// with a random key: none of them would accept another's cookies.
pub fn missing_shared_secret(cfg: &Config) -> Option<String> {
    let shared = matches!(cfg.store, StoreConfig::Redis(_));
    (shared && cfg.token.secret_file.is_none() && std::env::var_os(SECRET_ENV).is_none())
        .then(|| format!("token.secret_file: {SHARED}"))
}

/// Loads the signing keys: `VESTIBULE_SECRET`, else the secret file, else
/// a random key with a warning (tokens then die with the process), unless
/// the store is `shared` with other instances, which must all sign alike.
pub fn load_keys(secret_file: Option<&Path>, shared: bool) -> Result<Keys, SecretError> {
    if let Ok(s) = std::env::var(SECRET_ENV) {
        return Keys::from_text(&s).map_err(|e| SecretError::Key(format!("{SECRET_ENV}: {e}")));
    }
    match secret_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| SecretError::Key(format!("cannot read {}: {e}", p.display())))?;
            Keys::from_text(&text).map_err(|e| SecretError::Key(format!("{}: {e}", p.display())))
        }
        None if shared => Err(SecretError::Key(SHARED.into())),
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
/// would load it: the translations directory and the languages offered,
/// the page template, the admin token file, the secret file.
/// Every problem is returned (`vestibule check` prints them).
pub fn preflight(cfg: &Config) -> Vec<String> {
    let mut problems: Vec<String> = missing_shared_secret(cfg).into_iter().collect();
    match Catalog::load(&Settings::of(cfg)) {
        Ok(catalog) => {
            if let Err(e) = Pages::new(cfg.page.template.as_deref(), Arc::new(catalog)) {
                problems.push(format!("page.template: {e}"));
            }
        }
        Err(e) => problems.extend(e.problems.iter().map(|p| p.to_string())),
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
    if let Some(t) = &cfg.server.tls {
        if let Err(errors) = crate::tls::Certs::load(t) {
            problems.extend(errors.iter().map(|e| format!("server.tls: {e}")));
        }
    }
    let https = std::iter::once(&cfg.server.upstream)
        .chain(cfg.sites.iter().map(|s| &s.upstream))
        .chain(cfg.rooms.iter().filter_map(|r| r.upstream.as_ref()))
        .any(|u| u.scheme == http::uri::Scheme::HTTPS);
    if https {
        if let Err(e) = crate::tls::client_config(&cfg.server.upstream_tls) {
            problems.push(format!("upstream TLS: {e}"));
        }
    }
    problems
}

/// The admin API's bearer token, compared in constant time.
pub struct AdminToken(Vec<u8>);

impl AdminToken {
    /// Shortest token accepted: guessing must be hopeless.
    pub const MIN_LEN: usize = 16;

    pub fn read(path: &Path) -> Result<AdminToken, SecretError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SecretError::AdminToken(format!("cannot read {}: {e}", path.display())))?;
        let t = text.trim();
        if t.len() < Self::MIN_LEN || t.chars().any(char::is_whitespace) {
            return Err(SecretError::AdminToken(format!(
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
