//! TLS material, read from PEM files and checked before it is used: the
//! certificates the TLS listener serves (chosen by the name the client
//! asks for, swapped whole when the files change), and the trust and
//! client certificate of the `https://` upstream client.
//!
//! rustls with the ring provider throughout; TLS 1.2 and 1.3 only, with
//! rustls' default cipher suites (AEAD with forward secrecy, nothing
//! else). A pair that does not load (a chain that does not parse, a key
//! of another certificate, half of a renewal written) is refused with a
//! message naming the file, and whatever served before keeps serving.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::config::{CertConfig, HostPattern, TlsConfig, UpstreamTls};

/// Under this many days left, `check` and the log warn about a
/// certificate's expiry.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// Why TLS material was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: no certificate in it (expected PEM blocks starting -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: {detail}", path.display())]
    Pem { path: PathBuf, detail: String },
    #[error("{}: no private key in it (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: the key cannot be used: {detail}", path.display())]
    Key { path: PathBuf, detail: String },
    #[error("{}: this key is not the key of the certificate in {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("{}: the certificate cannot be read: {detail}", path.display())]
    Certificate { path: PathBuf, detail: String },
    #[error("no trusted root certificates found on this system ({detail}); install the ca-certificates package, or set [server] upstream_ca_file")]
    NoRoots { detail: String },
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// The crypto provider everything uses: ring's, with rustls' defaults.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A file's bytes, or an error naming it.
fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.into(),
        source,
    })
}

/// Every certificate in a PEM file, in order (the chain: the server's
/// own certificate first).
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.into(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: path.into() });
    }
    Ok(chain)
}

/// The first private key in a PEM file.
fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey { path: path.into() },
        e => TlsError::Pem {
            path: path.into(),
            detail: e.to_string(),
        },
    })
}

/// What a certificate says about itself, for `check` and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The DNS names it is valid for (subject alternative names,
    /// lowercase; the common name when it has none).
    pub names: Vec<String>,
    /// Its last valid second, Unix time.
    pub not_after: i64,
    /// Its first valid second, Unix time.
    pub not_before: i64,
}

impl CertInfo {
    fn of(path: &Path, der: &CertificateDer<'_>) -> Result<CertInfo, TlsError> {
        use x509_parser::extensions::GeneralName;
        let bad = |detail: String| TlsError::Certificate {
            path: path.into(),
            detail,
        };
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| bad(e.to_string()))?;
        let mut names: Vec<String> = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(bad(format!("its subject alternative names: {e}"))),
        };
        if names.is_empty() {
            names.extend(
                cert.subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok())
                    .map(str::to_ascii_lowercase),
            );
        }
        Ok(CertInfo {
            names,
            not_after: cert.validity().not_after.timestamp(),
            not_before: cert.validity().not_before.timestamp(),
        })
    }

    /// Whole days from `now` (Unix seconds) to its expiry; negative once
    /// expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// A warning worth printing at `now`, if any: expired, not yet
    /// valid, or expiring within [`EXPIRY_WARNING_DAYS`].
    pub fn warning(&self, now: i64) -> Option<String> {
        let days = self.days_left(now);
        if self.not_after < now {
            Some(format!("expired on {}", date(self.not_after)))
        } else if self.not_before > now {
            Some(format!("not valid before {}", date(self.not_before)))
        } else if days < EXPIRY_WARNING_DAYS {
            Some(format!("expires in {days} day(s), on {}", date(self.not_after)))
        } else {
            None
        }
    }
}

/// Logs a served certificate's names and expiry, with a warning when it
/// is near its end (or past it).
pub fn log_served(info: &CertInfo) {
    let until = date(info.not_after);
    match info.warning(now_unix()) {
        Some(w) => tracing::warn!(names = ?info.names, until, "TLS certificate {w}"),
        None => tracing::info!(names = ?info.names, until, "TLS certificate served"),
    }
}

/// A Unix time as an RFC 3339 date-time in UTC.
pub fn date(unix: i64) -> String {
    let t = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A certificate chain and its key, loaded and checked: the chain parses,
/// the key parses and is the key of the chain's first certificate.
#[derive(Clone)]
pub struct CertPair {
    pub key: Arc<CertifiedKey>,
    pub info: CertInfo,
    pub cert_file: PathBuf,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair")
            .field("cert_file", &self.cert_file)
            .field("info", &self.info)
            .finish()
    }
}

impl CertPair {
    /// Reads and checks a pair of PEM files.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<CertPair, TlsError> {
        let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
        CertPair::from_pem(cert_file, &cert_pem, key_file, &key_pem)
    }

    /// [`CertPair::load`] on bytes already read (named for messages).
    pub fn from_pem(cert_file: &Path, cert_pem: &[u8], key_file: &Path, key_pem: &[u8]) -> Result<CertPair, TlsError> {
        let chain = certificates(cert_file, cert_pem)?;
        let info = CertInfo::of(cert_file, &chain[0])?;
        let key = private_key(key_file, key_pem)?;
        let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert_file.into(),
                key: key_file.into(),
            },
            e => TlsError::Key {
                path: key_file.into(),
                detail: e.to_string(),
            },
        })?;
        Ok(CertPair {
            key: Arc::new(key),
            info,
            cert_file: cert_file.into(),
        })
    }
}

/// The certificates a TLS listener serves, chosen by the name a client
/// asks for (SNI): an exact name first, then a one-label wildcard, else
/// the first certificate (clients that name no host, or one no
/// certificate is for, get it, as nginx's default server).
#[derive(Debug)]
pub struct Certs {
    pairs: Vec<CertPair>,
    exact: HashMap<String, usize>,
    /// By the part after `*`, dot included: `.example.com`.
    wildcard: HashMap<String, usize>,
}

impl Certs {
    /// Loads every certificate `cfg` names; every failure is reported.
    pub fn load(cfg: &TlsConfig) -> Result<Certs, Vec<TlsError>> {
        let mut pairs = Vec::new();
        let mut errors = Vec::new();
        for c in &cfg.certs {
            match CertPair::load(&c.cert_file, &c.key_file) {
                Ok(p) => pairs.push((c, p)),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Certs::new(pairs))
    }

    /// Certificates with the hosts each is served for (the configured
    /// ones, or the names in the certificate); the first is the default.
    /// A name claimed twice goes to the first that claims it.
    pub fn new(pairs: Vec<(&CertConfig, CertPair)>) -> Certs {
        let mut certs = Certs {
            pairs: Vec::new(),
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        };
        for (i, (cfg, pair)) in pairs.into_iter().enumerate() {
            let patterns: Vec<HostPattern> = if cfg.hosts.is_empty() {
                pair.info
                    .names
                    .iter()
                    .filter_map(|n| HostPattern::parse(n).ok())
                    .collect()
            } else {
                cfg.hosts.clone()
            };
            for p in patterns {
                match p {
                    HostPattern::Exact(h) => certs.exact.entry(h).or_insert(i),
                    HostPattern::Wildcard(s) => certs.wildcard.entry(s).or_insert(i),
                };
            }
            certs.pairs.push(pair);
        }
        certs
    }

    /// The certificate for `name` (as the client sent it in SNI).
    pub fn choose(&self, name: Option<&str>) -> Option<&CertPair> {
        let found = name.and_then(|n| {
            let n = n.trim_end_matches('.').to_ascii_lowercase();
            self.exact.get(&n).or_else(|| {
                let dot = n.find('.')?;
                self.wildcard.get(&n[dot..])
            })
        });
        self.pairs.get(found.copied().unwrap_or(0))
    }

    /// The loaded certificates, the default first.
    pub fn pairs(&self) -> &[CertPair] {
        &self.pairs
    }
}

/// The TLS listener's certificates, replaced whole when the files change;
/// handshakes under way keep the set they started with.
#[derive(Debug)]
pub struct Resolver {
    current: ArcSwap<Certs>,
}

impl Resolver {
    pub fn new(certs: Certs) -> Resolver {
        Resolver {
            current: ArcSwap::from_pointee(certs),
        }
    }

    /// Serves `certs` from the next handshake on.
    pub fn replace(&self, certs: Certs) {
        self.current.store(Arc::new(certs));
    }

    /// The set now served.
    pub fn current(&self) -> Arc<Certs> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.load().choose(hello.server_name()).map(|p| p.key.clone())
    }
}

/// The TLS listener's certificates as they follow their files: the
/// files' bytes last tried, so a change is loaded once and a broken one
/// reported once, not at every look.
#[derive(Debug)]
pub struct Served {
    resolver: Arc<Resolver>,
    tried: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// What [`Served::follow`] did.
#[derive(Debug)]
pub enum Followed {
    /// The files say what is served.
    Unchanged,
    /// New certificates are served from the next handshake on.
    Replaced(Vec<CertInfo>),
    /// The files changed but do not load; what was served stays.
    Refused(Vec<TlsError>),
}

impl Served {
    /// Loads `cfg`'s certificates; every failure is reported.
    pub fn load(cfg: &TlsConfig) -> Result<Served, Vec<TlsError>> {
        let tried = Served::read_all(cfg);
        let certs = Certs::load(cfg)?;
        Ok(Served {
            resolver: Arc::new(Resolver::new(certs)),
            tried: std::sync::Mutex::new(tried),
        })
    }

    fn read_all(cfg: &TlsConfig) -> Vec<Vec<u8>> {
        cfg.certs
            .iter()
            .flat_map(|c| [&c.cert_file, &c.key_file])
            .map(|f| std::fs::read(f).unwrap_or_default())
            .collect()
    }

    /// The resolver the listener's handshakes ask.
    pub fn resolver(&self) -> Arc<Resolver> {
        self.resolver.clone()
    }

    /// Loads `cfg`'s certificates again if their files (or the list)
    /// changed since last tried, or always when `force`d (SIGHUP).
    pub fn follow(&self, cfg: &TlsConfig, force: bool) -> Followed {
        let now = Served::read_all(cfg);
        {
            let mut tried = self.tried.lock().unwrap_or_else(|p| p.into_inner());
            if !force && *tried == now {
                return Followed::Unchanged;
            }
            *tried = now;
        }
        match Certs::load(cfg) {
            Ok(certs) => {
                let infos = certs.pairs().iter().map(|p| p.info.clone()).collect();
                self.resolver.replace(certs);
                Followed::Replaced(infos)
            }
            Err(errors) => Followed::Refused(errors),
        }
    }
}

/// The TLS listener's settings: TLS 1.2 and 1.3, ALPN `h2` then
/// `http/1.1`, certificates from `resolver`, and session resumption by
/// stateless tickets (keys rotated by rustls every 6 hours) as well as a
/// session cache, so a returning browser skips the full handshake.
pub fn server_config(resolver: Arc<Resolver>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Setup(e.to_string()))?;
    cfg.session_storage = rustls::server::ServerSessionMemoryCache::new(16 * 1024);
    Ok(Arc::new(cfg))
}

/// The upstream client's settings for `https://` upstreams: the system's
/// roots or `ca_file`'s, a client certificate if configured, ALPN
/// `http/1.1` (the upstream client speaks HTTP/1.1), session resumption.
pub fn client_config(t: &UpstreamTls) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let builder = if t.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
    } else {
        builder.with_root_certificates(roots(t.ca_file.as_deref())?)
    };
    let mut cfg = match &t.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let pair = CertPair::load(cert, key)?;
            let chain = pair.key.cert.clone();
            let key = private_key(key, &read(key)?)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| TlsError::Setup(e.to_string()))?
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The roots an upstream's certificate must chain to.
fn roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for c in certificates(path, &read(path)?)? {
                store.add(c).map_err(|e| TlsError::Certificate {
                    path: path.into(),
                    detail: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let detail = match found.errors.first() {
                    Some(e) => e.to_string(),
                    None => "none in the usual places".into(),
                };
                return Err(TlsError::NoRoots { detail });
            }
        }
    }
    Ok(store)
}

/// The name an upstream's certificate must hold: its host, without the
/// port or an IPv6 literal's brackets.
pub fn server_name(authority: &http::uri::Authority) -> Result<ServerName<'static>, TlsError> {
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError::Setup(format!("{host:?} cannot be checked against a certificate: {e}")))
}

/// `upstream_insecure_skip_verify`: any certificate is taken, for any
/// name. The handshake's own signatures are still checked, so the
/// connection is encrypted to whoever holds the certificate's key; who
/// that is, nobody checks.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_pick_their_certificate_and_others_get_the_first() {
        let pair = |names: &[&str]| {
            let k =
                rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            let (cert, key) = (k.cert.pem(), k.key_pair.serialize_pem());
            CertPair::from_pem(Path::new("c.pem"), cert.as_bytes(), Path::new("k.pem"), key.as_bytes()).unwrap()
        };
        let cfg = |hosts: &[&str]| CertConfig {
            hosts: hosts.iter().map(|h| HostPattern::parse(h).unwrap()).collect(),
            cert_file: "c.pem".into(),
            key_file: "k.pem".into(),
        };
        let (a, b, c) = (cfg(&[]), cfg(&[]), cfg(&["live.example.org"]));
        let certs = Certs::new(vec![
            (&a, pair(&["www.example.com"])),
            (&b, pair(&["tickets.example.com", "*.tickets.example.com"])),
            (&c, pair(&["something.else"])),
        ]);
        let chosen = |n: Option<&str>| certs.choose(n).unwrap().info.names[0].clone();
        assert_eq!(chosen(Some("tickets.example.com")), "tickets.example.com");
        assert_eq!(chosen(Some("TICKETS.example.com.")), "tickets.example.com");
        assert_eq!(
            chosen(Some("eu.tickets.example.com")),
            "tickets.example.com",
            "wildcard"
        );
        assert_eq!(
            chosen(Some("a.eu.tickets.example.com")),
            "www.example.com",
            "one label only"
        );
        assert_eq!(chosen(Some("live.example.org")), "something.else", "configured hosts");
        assert_eq!(
            chosen(Some("something.else")),
            "www.example.com",
            "hosts replace the certificate's names"
        );
        assert_eq!(chosen(Some("unknown.example")), "www.example.com", "the default");
        assert_eq!(chosen(None), "www.example.com", "no SNI: the default");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let a = rcgen::generate_simple_self_signed(vec!["a.example".to_string()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.example".to_string()]).unwrap();
        let e = CertPair::from_pem(
            Path::new("a.pem"),
            a.cert.pem().as_bytes(),
            Path::new("b.key"),
            b.key_pair.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "b.key: this key is not the key of the certificate in a.pem"
        );
        let e = CertPair::from_pem(Path::new("a.pem"), b"", Path::new("a.key"), b"").unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e =
            CertPair::from_pem(Path::new("a.pem"), a.cert.pem().as_bytes(), Path::new("a.key"), b"junk").unwrap_err();
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        let half = &a.cert.pem()[..200];
        let e = CertPair::from_pem(
            Path::new("a.pem"),
            half.as_bytes(),
            Path::new("a.key"),
            a.key_pair.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(
            matches!(e, TlsError::Pem { .. } | TlsError::NoCertificate { .. }),
            "{e}"
        );
    }

    /// A renewal is loaded once however many looks find it (SIGHUP forces
    /// one, the watcher's next look finds it loaded), and a broken one is
    /// reported once, not at every look.
    #[test]
    fn changed_files_load_once_and_broken_ones_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let write = |names: &[&str]| {
            let p =
                rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            std::fs::write(&c, p.cert.pem()).unwrap();
            std::fs::write(&k, p.key_pair.serialize_pem()).unwrap();
            p
        };
        write(&["a.example"]);
        let cfg = TlsConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            redirect_http: false,
            hsts: None,
            certs: vec![CertConfig {
                hosts: Vec::new(),
                cert_file: c.clone(),
                key_file: k.clone(),
            }],
        };
        let served = Served::load(&cfg).unwrap();
        assert!(matches!(served.follow(&cfg, false), Followed::Unchanged));
        assert!(matches!(served.follow(&cfg, true), Followed::Replaced(_)));
        assert!(matches!(served.follow(&cfg, false), Followed::Unchanged));
        write(&["b.example"]);
        assert!(matches!(served.follow(&cfg, false), Followed::Replaced(_)));
        assert_eq!(served.resolver().current().pairs()[0].info.names, ["b.example"]);
        // Half a renewal: the certificate of another key.
        let other = rcgen::generate_simple_self_signed(vec!["c.example".to_string()]).unwrap();
        std::fs::write(&c, other.cert.pem()).unwrap();
        assert!(matches!(served.follow(&cfg, false), Followed::Refused(_)));
        assert!(
            matches!(served.follow(&cfg, false), Followed::Unchanged),
            "reported once"
        );
        assert_eq!(
            served.resolver().current().pairs()[0].info.names,
            ["b.example"],
            "still served"
        );
    }

    #[test]
    fn expiry_is_told_in_days() {
        let info = CertInfo {
            names: vec![],
            not_before: 0,
            not_after: 100 * 86_400,
        };
        assert_eq!(info.warning(50 * 86_400), None);
        assert_eq!(
            info.warning(90 * 86_400).unwrap(),
            "expires in 10 day(s), on 1970-04-11T00:00:00Z"
        );
        assert_eq!(info.warning(101 * 86_400).unwrap(), "expired on 1970-04-11T00:00:00Z");
    }
}
