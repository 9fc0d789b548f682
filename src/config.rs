//! Configuration: the TOML file as written ([`raw`]) and the validated
//! [`Config`] the rest of the crate uses.
//!
//! Parsing is two steps so that a mistyped key is an error (`deny_unknown_fields`
//! on every raw table) and so that validation can report *every* problem with
//! the key it concerns and a hint, instead of stopping at the first.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderValue, Uri};

pub use crate::schedule::{Event, RoomMode};

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "config/vestibule.toml";

/// The TOML file, field for field. Every table rejects unknown keys.
pub mod raw {
    use serde::Deserialize;

    /// The whole file.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        #[serde(default)]
        pub server: Server,
        #[serde(default)]
        pub token: Token,
        #[serde(default)]
        pub store: Store,
        #[serde(default)]
        pub page: Page,
        #[serde(default)]
        pub room: Vec<Room>,
        #[serde(default)]
        pub site: Vec<Site>,
        #[serde(default)]
        pub log: Log,
    }

    /// One `[[site]]`: the upstream for some host names.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Site {
        pub name: Option<String>,
        #[serde(default)]
        pub hosts: Vec<String>,
        pub upstream: Option<String>,
    }

    /// `[server.tls]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Tls {
        pub listen: Option<String>,
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
        pub redirect_http: Option<bool>,
        pub hsts: Option<String>,
        pub hsts_include_subdomains: Option<bool>,
        pub hsts_preload: Option<bool>,
        #[serde(default)]
        pub cert: Vec<Cert>,
    }

    /// One `[[server.tls.cert]]`.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Cert {
        pub hosts: Option<Vec<String>>,
        pub cert_file: Option<String>,
        pub key_file: Option<String>,
    }

    /// `[server]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Server {
        pub listen: Option<String>,
        pub admin_listen: Option<String>,
        pub upstream: Option<String>,
        pub workers: Option<usize>,
        pub tick: Option<String>,
        pub connect_timeout: Option<String>,
        pub response_timeout: Option<String>,
        pub upstream_read_timeout: Option<String>,
        pub header_read_timeout: Option<String>,
        pub send_timeout: Option<String>,
        pub max_header_bytes: Option<usize>,
        pub max_connections: Option<i64>,
        pub http2_max_active_streams: Option<i64>,
        pub http2_max_streams: Option<i64>,
        pub trust_forwarded_headers: Option<bool>,
        pub admin_token_file: Option<String>,
        pub shutdown_delay: Option<String>,
        pub shutdown_grace: Option<String>,
        pub upstream_ca_file: Option<String>,
        pub upstream_client_cert_file: Option<String>,
        pub upstream_client_key_file: Option<String>,
        pub upstream_insecure_skip_verify: Option<bool>,
        pub tls: Option<Tls>,
    }

    /// `[token]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Token {
        pub secret_file: Option<String>,
        pub cookie_secure: Option<bool>,
        pub ticket_ttl: Option<String>,
    }

    /// `[store]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Store {
        pub kind: Option<String>,
        pub url: Option<String>,
        pub state_file: Option<String>,
        pub save_interval: Option<String>,
        pub prefix: Option<String>,
        pub timeout: Option<String>,
        pub on_failure: Option<String>,
        pub instances: Option<i64>,
        pub cluster: Option<bool>,
    }

    /// `[page]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Page {
        pub template: Option<String>,
        pub site_name: Option<String>,
        pub default_language: Option<String>,
        pub languages: Option<Vec<String>>,
        pub translations: Option<String>,
    }

    /// `[log]`
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Log {
        pub format: Option<String>,
        pub access: Option<String>,
        pub access_file: Option<String>,
    }

    /// One `[[room]]`.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Room {
        pub name: Option<String>,
        pub title: Option<String>,
        #[serde(default)]
        pub paths: Vec<String>,
        #[serde(default)]
        pub hosts: Vec<String>,
        pub upstream: Option<String>,
        pub capacity: Option<i64>,
        pub admit_per_minute: Option<i64>,
        pub session_ttl: Option<String>,
        pub claim_grace: Option<String>,
        pub checkin_window: Option<String>,
        pub queue: Option<String>,
        pub notice: Option<String>,
        pub mode: Option<String>,
        pub max_session: Option<String>,
        #[serde(default)]
        pub event: Vec<Event>,
    }

    /// One `[[room.event]]`. Times are text (`"2026-12-10T20:00:00+01:00"`)
    /// or TOML's own offset date-times, written without quotes.
    #[derive(Debug, Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Event {
        pub name: Option<String>,
        pub prequeue_from: Option<toml::Value>,
        pub opens_at: Option<toml::Value>,
        pub closes_at: Option<toml::Value>,
        pub shuffle: Option<bool>,
        pub capacity: Option<i64>,
        pub admit_per_minute: Option<i64>,
        pub max_session: Option<String>,
        pub after: Option<String>,
    }
}

/// Defaults, one place. `const fn` so they can be used in docs and tests.
pub mod defaults {
    use std::time::Duration;

    pub const LISTEN: &str = "127.0.0.1:8080";
    /// `[page] default_language`.
    pub const LANGUAGE: &str = "en";
    pub const ADMIN_LISTEN: &str = "127.0.0.1:9090";
    pub const TLS_LISTEN: &str = "0.0.0.0:443";
    pub const fn tick() -> Duration {
        Duration::from_secs(1)
    }
    pub const fn connect_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub const fn response_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub const fn upstream_read_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub const fn header_read_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub const MAX_HEADER_BYTES: usize = 64 * 1024;
    pub const fn send_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const HTTP2_MAX_ACTIVE_STREAMS: usize = 16;
    pub const HTTP2_MAX_STREAMS: u32 = 100;
    pub const fn ticket_ttl() -> Duration {
        Duration::from_secs(24 * 3600)
    }
    pub const fn session_ttl() -> Duration {
        Duration::from_secs(10 * 60)
    }
    pub const fn claim_grace() -> Duration {
        Duration::from_secs(60)
    }
    pub const fn checkin_window() -> Duration {
        Duration::from_secs(15)
    }
    pub const fn shutdown_delay() -> Duration {
        Duration::ZERO
    }
    pub const fn shutdown_grace() -> Duration {
        Duration::from_secs(30)
    }
    pub const fn save_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub const fn store_timeout() -> Duration {
        Duration::from_millis(250)
    }
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub token: TokenConfig,
    pub store: StoreConfig,
    pub persistence: Persistence,
    pub page: PageConfig,
    pub rooms: Vec<RoomConfig>,
    /// `[[site]]`: upstreams chosen by host name, in the file's order.
    pub sites: Vec<SiteConfig>,
    pub log: LogConfig,
}

/// One `[[site]]`: requests for these hosts that no room takes go to this
/// upstream instead of `[server] upstream`; a room on these hosts without
/// an upstream of its own forwards there too.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// For logs and the admin API.
    pub name: String,
    pub hosts: Vec<HostPattern>,
    pub upstream: Upstream,
}

/// Whether two listen addresses on one port would take the same socket:
/// the same address, or either the unspecified one of the same family.
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.ip() == b.ip() || ((a.ip().is_unspecified() || b.ip().is_unspecified()) && a.is_ipv4() == b.is_ipv4())
}

/// A host name a room or site answers for, lowercase, without a port:
/// exact (`tickets.example.com`) or a wildcard of exactly one label
/// (`*.example.com` matches `a.example.com`, not `example.com` nor
/// `a.b.example.com`, as a certificate's wildcard does).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    Exact(String),
    /// The part after `*`, starting with the dot: `.example.com`.
    Wildcard(String),
}

impl HostPattern {
    /// Parses a pattern as an operator writes it; the error says why not.
    pub fn parse(s: &str) -> Result<HostPattern, String> {
        let lower = s.trim().trim_end_matches('.').to_ascii_lowercase();
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        if name.is_empty() {
            return Err("is empty".into());
        }
        if name.contains(':') {
            return Err("has a port; hosts match the name alone".into());
        }
        if !name.is_ascii() {
            return Err("is not ASCII; write an international name in its xn-- form".into());
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name.split('.').all(label_ok) {
            return Err("is not a host name (letters, digits and '-' between dots; '*.' only in front)".into());
        }
        Ok(if wild {
            HostPattern::Wildcard(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_string())
        })
    }

    /// Whether `host` (lowercase, no port, as [`crate::http::request_host`]
    /// gives it) is one this pattern names.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h == host,
            HostPattern::Wildcard(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
        }
    }

    /// More specific patterns win a tie: an exact name over a wildcard.
    pub fn is_exact(&self) -> bool {
        matches!(self, HostPattern::Exact(_))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(s) => write!(f, "*{s}"),
        }
    }
}

/// `[server.tls]`: HTTPS for visitors.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// The TLS listener (HTTP/1.1 and HTTP/2 by ALPN).
    pub listen: SocketAddr,
    /// The plain listener (`[server] listen`) answers 308 to https.
    pub redirect_http: bool,
    /// The `Strict-Transport-Security` value every answer of the TLS
    /// listener carries (replacing the backend's), when one is set.
    pub hsts: Option<HeaderValue>,
    /// Certificates; the first is served to clients that name no host,
    /// or one no certificate is for.
    pub certs: Vec<CertConfig>,
}

/// A certificate chain and its key, and the hosts it is served for
/// (empty: the names in the certificate).
#[derive(Debug, Clone, PartialEq)]
pub struct CertConfig {
    pub hosts: Vec<HostPattern>,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// How vestibule checks an `https://` upstream and proves itself to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpstreamTls {
    /// Trust only these roots (a private CA); `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and key, for backends that require mTLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Accept any certificate (logged loudly at every start and reload).
    pub insecure_skip_verify: bool,
}

/// `[server]`: listeners, upstream and timeouts.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Public listener (HTTP/1.1 and cleartext HTTP/2).
    pub listen: SocketAddr,
    /// Admin listener: metrics and health. Loopback by default.
    pub admin_listen: SocketAddr,
    /// Where admitted and ungated requests go.
    pub upstream: Upstream,
    /// Runtime worker threads; `None` lets tokio decide (honours `TOKIO_WORKER_THREADS`).
    pub workers: Option<usize>,
    /// Scheduler period.
    pub tick: Duration,
    /// Upstream TCP connect timeout (then 502).
    pub connect_timeout: Duration,
    /// Time to the upstream's response headers (then 504).
    pub response_timeout: Duration,
    /// Longest wait for the next bytes of an upstream's response body;
    /// then the response is cut off (nginx's `proxy_read_timeout`).
    pub upstream_read_timeout: Duration,
    /// A client connection with no request in progress and nothing sent to
    /// it for this long (up to 1.5 times it) is closed: the idle timeout and
    /// the slowloris guard in one ([`crate::idle`]).
    pub header_read_timeout: Duration,
    /// Largest request head accepted from a client.
    pub max_header_bytes: usize,
    /// A response the client takes nothing of for this long closes its
    /// connection (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Client connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Requests of one HTTP/2 connection worked on at once (each forwarded
    /// one holds an upstream connection); its other streams wait.
    pub http2_max_active_streams: usize,
    /// Concurrent streams an HTTP/2 client may open.
    pub http2_max_streams: u32,
    /// Keep `X-Forwarded-Proto`/`-Host` set by a load balancer in front
    /// (only when every client comes through it).
    pub trust_forwarded_headers: bool,
    /// File holding the bearer token the admin API requires; `None` leaves
    /// the API open (allowed only on a loopback admin address).
    pub admin_token_file: Option<PathBuf>,
    /// At shutdown, how long `/readyz` reports unready while requests are
    /// still accepted, so a load balancer stops sending traffic first.
    pub shutdown_delay: Duration,
    /// At shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
    /// HTTPS for visitors (`None`: plain HTTP only).
    pub tls: Option<TlsConfig>,
    /// How `https://` upstreams are checked.
    pub upstream_tls: UpstreamTls,
}

/// The upstream origin, split once so each request only swaps the path.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub scheme: Scheme,
    pub authority: Authority,
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

/// `[token]`: how tickets and sessions are signed and stored in cookies.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenConfig {
    /// File with one or more secrets (whitespace separated, the last one signs).
    pub secret_file: Option<PathBuf>,
    /// Add `Secure` to cookies (set it when clients reach you over HTTPS).
    pub cookie_secure: bool,
    /// How long a ticket stays valid (a visitor can be in line this long).
    pub ticket_ttl: Duration,
}

/// `[store]`: where counters, sessions and reservations live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In this process (the default).
    Memory,
    /// Shared through Redis.
    Redis(RedisConfig),
}

/// `[store] kind = "redis"`: several instances share one line and one cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; with `cluster`, one or more
    /// seed nodes, comma-separated.
    pub url: String,
    /// Talk to a Redis Cluster (each room lives in one slot).
    pub cluster: bool,
    /// Start of every key (`{prefix:room}:...`), so deployments can share a Redis.
    pub prefix: String,
    /// Bound on every Redis call (and on connecting).
    pub timeout: Duration,
    /// What the gate does while Redis cannot be reached.
    pub on_failure: FailurePolicy,
    /// How many instances share the capacity, for [`FailurePolicy::Local`].
    pub instances: u32,
}

/// What happens to requests that need the store while it is unreachable.
/// Visitors with a valid session cookie are served in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// New visitors and ticket holders wait (a "please wait" page, place
    /// kept); nobody new reaches the backend. The default: the backend is
    /// never overrun.
    FailClosed,
    /// Everyone passes straight through, uncounted: the waiting room steps
    /// aside rather than block the site.
    FailOpen,
    /// Each instance admits new visitors directly up to its share of the
    /// capacity (`capacity / instances`), counted in memory; the rest wait.
    Local,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::FailClosed => "fail_closed",
            FailurePolicy::FailOpen => "fail_open",
            FailurePolicy::Local => "local",
        }
    }
}

/// `[store]` settings besides the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// Where the memory store saves its state (`None`: not saved; a restart
    /// voids every ticket and session).
    pub state_file: Option<PathBuf>,
    /// How often changed state is written.
    pub save_interval: Duration,
}

/// `[page]`: the waiting page and the languages of every page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageConfig {
    /// A minijinja template replacing the built-in waiting page.
    pub template: Option<PathBuf>,
    /// Shown in the page title and header.
    pub site_name: Option<String>,
    /// The language of a visitor nothing else decides for (a tag, in
    /// canonical case: `fr`, `pt-BR`).
    pub default_language: String,
    /// The languages offered, in the picker's order; `None`: every one
    /// built in or in `translations`. Whether each exists is checked
    /// when the catalog is built ([`crate::lang::Catalog::load`]), which
    /// reads the directory.
    pub languages: Option<Vec<String>>,
    /// A directory of `TAG.ftl` files adding or overriding languages.
    pub translations: Option<PathBuf>,
}

impl Default for PageConfig {
    fn default() -> Self {
        PageConfig {
            template: None,
            site_name: None,
            default_language: defaults::LANGUAGE.to_string(),
            languages: None,
            translations: None,
        }
    }
}

/// `[log]`: the process log and the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// The process log's lines (on standard error).
    pub format: LogFormat,
    /// The access log's lines (`None`: no access log).
    pub access: Option<AccessFormat>,
    /// Where the access log goes (`None`: standard output).
    pub access_file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            access: Some(AccessFormat::Text),
            access_file: None,
        }
    }
}

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// `[log] access`: how each access log line is written (see [`crate::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFormat {
    /// logfmt: `time=... client=... method=GET path=/register status=200 ...`.
    Text,
    /// One JSON object a line, with the same names.
    Json,
    /// nginx's `combined`.
    Combined,
}

impl AccessFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessFormat::Text => "text",
            AccessFormat::Json => "json",
            AccessFormat::Combined => "combined",
        }
    }
}

/// Queue discipline of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// Strict issue order.
    Fifo,
}

/// One `[[room]]`: a set of path prefixes sharing one capacity and one line.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// Identifier: metrics label, cookie name, status query.
    pub name: String,
    /// Shown to visitors on the waiting page.
    pub title: String,
    /// Path prefixes that belong to the room (segment-aware).
    pub paths: Vec<String>,
    /// The hosts the room's paths are gated on (empty: every host).
    pub hosts: Vec<HostPattern>,
    /// Where the room's admitted visitors go (`None`: the site's, or
    /// `[server] upstream`).
    pub upstream: Option<Upstream>,
    /// Maximum active sessions plus reserved slots.
    pub capacity: u32,
    /// Admissions per minute, direct and from the line together.
    pub admit_per_minute: Option<u32>,
    /// An admitted visitor idle this long loses the slot.
    pub session_ttl: Duration,
    /// An admitted ticket must be claimed within this.
    pub claim_grace: Duration,
    /// A new ticket must come back once within this, or it is presumed dead.
    pub checkin_window: Duration,
    /// Queue discipline.
    pub queue: QueueMode,
    /// What the room does with visitors; an operator may override it.
    pub mode: RoomMode,
    /// A session's hard length: it ends this long after admission, however
    /// busy the visitor. `None`: no limit (idleness alone ends it).
    pub max_session: Option<Duration>,
    /// Announced events, in time order (see [`crate::schedule`]).
    pub events: Vec<Event>,
    /// Shown on the waiting page and in the status JSON: "back at 10:15".
    pub notice: Option<String>,
}

/// The longest notice, in characters: a few sentences, not a page.
pub const MAX_NOTICE_CHARS: usize = 500;

/// A notice as it will be shown, from the file or the admin API: trimmed,
/// `None` when nothing is left; an error for one too long or holding
/// control characters (line breaks and tabs are kept).
pub fn notice(text: &str) -> Result<Option<String>, String> {
    let t = text.trim();
    let n = t.chars().count();
    if n > MAX_NOTICE_CHARS {
        return Err(format!(
            "is {n} characters long; a notice holds at most {MAX_NOTICE_CHARS}"
        ));
    }
    if let Some(c) = t.chars().find(|c| c.is_control() && !matches!(c, '\n' | '\t')) {
        return Err(format!("holds the control character {c:?}"));
    }
    Ok((!t.is_empty()).then(|| t.to_string()))
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, dotted (`room[1].capacity`).
    pub key: String,
    /// Line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}: {}", self.key, self.message)?,
            None => write!(f, "{}: {}", self.key, self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found in a file; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// Where the file came from, for messages.
    pub source_name: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} problem(s) in the configuration",
            self.source_name,
            self.problems.len()
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            source_name: path.display().to_string(),
            problems: vec![Problem {
                key: "(file)".into(),
                line: None,
                message: format!("cannot read: {e}"),
                hint: Some("pass the right path with --config".into()),
            }],
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base, &path.display().to_string())
    }

    /// Parses and validates TOML text. Relative paths in it resolve against `base`.
    ///
    /// Every problem is reported at once: keys of the wrong type or unknown
    /// are found by [`screen`] and set aside, so the values that remain
    /// are checked too. Only a syntax error stops the reading.
    pub fn parse(text: &str, base: &Path, source_name: &str) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source_name: source_name.into(),
            problems,
        };
        let doc: toml::Table = toml::from_str(text).map_err(|e| fail(vec![toml_problem(text, &e)]))?;
        let (doc, mut problems) = screen(text, doc);
        let raw: raw::File = toml::Value::Table(doc)
            .try_into()
            .map_err(|e: toml::de::Error| fail(vec![toml_problem(text, &e)]))?;
        let mut v = Validator {
            problems: Vec::new(),
            text,
        };
        let cfg = v.config(raw, base);
        // A key set aside for its type is reported once, not again as missing.
        let screened: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
        problems.extend(v.problems.into_iter().filter(|p| !screened.contains(&p.key)));
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        match cfg {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(fail(problems)),
        }
    }

    /// The room with this name.
    pub fn room(&self, name: &str) -> Option<&RoomConfig> {
        self.rooms.iter().find(|r| r.name == name)
    }
}

/// What a key's value must be, to say so in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Text in quotes: an address, a name, a path.
    Text,
    /// A duration in quotes: `"600s"`, `"10m"`.
    Duration,
    /// A whole number (range checked later, with the key's own rule).
    Number,
    /// A whole number of 0 or more.
    Size,
    Flag,
    /// A list of texts: `paths`.
    Texts,
    /// A time with its offset, in quotes or as TOML writes one.
    Time,
    /// A table (`[server.tls]`), its keys screened in turn.
    Table(&'static [(&'static str, Kind)]),
    /// An array of tables written with this header (`[[room.event]]`),
    /// each screened with these keys.
    Tables(&'static str, &'static [(&'static str, Kind)]),
}

impl Kind {
    fn accepts(self, v: &toml::Value) -> bool {
        use toml::Value as V;
        match (self, v) {
            (Kind::Time, V::String(_) | V::Datetime(_))
            | (Kind::Tables(..), V::Array(_))
            | (Kind::Table(_), V::Table(_)) => true,
            (Kind::Text | Kind::Duration, V::String(_))
            | (Kind::Number, V::Integer(_))
            | (Kind::Flag, V::Boolean(_)) => true,
            (Kind::Size, V::Integer(n)) => *n >= 0,
            (Kind::Texts, V::Array(a)) => a.iter().all(toml::Value::is_str),
            _ => false,
        }
    }

    fn expected(self) -> String {
        match self {
            Kind::Text => "text in quotes".into(),
            Kind::Duration => "a duration in quotes".into(),
            Kind::Number => "a whole number".into(),
            Kind::Size => "a whole number of 0 or more".into(),
            Kind::Flag => "true or false".into(),
            Kind::Texts => "a list of texts in quotes".into(),
            Kind::Time => "a time with its offset".into(),
            Kind::Table(_) => "a table".into(),
            Kind::Tables(header, _) => format!("{header} tables"),
        }
    }

    /// How to write it, given what was written.
    fn hint(self, key: &str, v: &toml::Value) -> String {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        match (self, v) {
            (Kind::Number | Kind::Size, toml::Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                format!("write the number without quotes: {leaf} = {}", s.trim())
            }
            (Kind::Number | Kind::Size, _) => format!("a whole number, like {leaf} = 500"),
            (Kind::Duration, toml::Value::Integer(n)) => {
                format!("a duration in quotes, with its unit: {leaf} = \"{n}s\"")
            }
            (Kind::Duration, _) => format!("a duration in quotes, like {leaf} = \"600s\" or \"10m\""),
            (Kind::Flag, _) => format!("{leaf} = true or {leaf} = false, without quotes"),
            (Kind::Texts, _) if leaf == "hosts" => format!("{leaf} = [\"tickets.example.com\"]"),
            (Kind::Texts, _) => format!("{leaf} = [\"/register\"]"),
            (Kind::Text, _) => format!("in quotes: {leaf} = \"...\""),
            (Kind::Time, _) => format!("a time with its offset: {leaf} = \"2026-12-10T20:00:00+01:00\""),
            (Kind::Table(_), _) => format!("a table of its own: [{key}]"),
            (Kind::Tables(header, _), _) => format!("one {header} table each"),
        }
    }
}

/// Every key of the file, by table, with what its value must be. Held to
/// the `raw` types by a test.
const SCHEMA: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("server", Table(SERVER_KEYS)),
        (
            "token",
            Table(&[("secret_file", Text), ("cookie_secure", Flag), ("ticket_ttl", Duration)]),
        ),
        (
            "store",
            Table(&[
                ("kind", Text),
                ("url", Text),
                ("state_file", Text),
                ("save_interval", Duration),
                ("prefix", Text),
                ("timeout", Duration),
                ("on_failure", Text),
                ("instances", Number),
                ("cluster", Flag),
            ]),
        ),
        (
            "page",
            Table(&[
                ("template", Text),
                ("site_name", Text),
                ("default_language", Text),
                ("languages", Texts),
                ("translations", Text),
            ]),
        ),
        (
            "log",
            Table(&[("format", Text), ("access", Text), ("access_file", Text)]),
        ),
        ("room", Tables("[[room]]", ROOM_KEYS)),
        (
            "site",
            Tables("[[site]]", &[("name", Text), ("hosts", Texts), ("upstream", Text)]),
        ),
    ]
};

/// The keys of `[server]`.
const SERVER_KEYS: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("listen", Text),
        ("admin_listen", Text),
        ("upstream", Text),
        ("workers", Size),
        ("tick", Duration),
        ("connect_timeout", Duration),
        ("response_timeout", Duration),
        ("upstream_read_timeout", Duration),
        ("header_read_timeout", Duration),
        ("send_timeout", Duration),
        ("max_header_bytes", Size),
        ("max_connections", Number),
        ("http2_max_active_streams", Number),
        ("http2_max_streams", Number),
        ("trust_forwarded_headers", Flag),
        ("admin_token_file", Text),
        ("shutdown_delay", Duration),
        ("shutdown_grace", Duration),
        ("upstream_ca_file", Text),
        ("upstream_client_cert_file", Text),
        ("upstream_client_key_file", Text),
        ("upstream_insecure_skip_verify", Flag),
        ("tls", Table(TLS_KEYS)),
    ]
};

/// The keys of `[server.tls]`.
const TLS_KEYS: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("listen", Text),
        ("cert_file", Text),
        ("key_file", Text),
        ("redirect_http", Flag),
        ("hsts", Duration),
        ("hsts_include_subdomains", Flag),
        ("hsts_preload", Flag),
        (
            "cert",
            Tables(
                "[[server.tls.cert]]",
                &[("hosts", Texts), ("cert_file", Text), ("key_file", Text)],
            ),
        ),
    ]
};

/// The keys of a `[[room]]` table.
const ROOM_KEYS: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("name", Text),
        ("title", Text),
        ("paths", Texts),
        ("hosts", Texts),
        ("upstream", Text),
        ("capacity", Number),
        ("admit_per_minute", Number),
        ("session_ttl", Duration),
        ("claim_grace", Duration),
        ("checkin_window", Duration),
        ("queue", Text),
        ("notice", Text),
        ("mode", Text),
        ("max_session", Duration),
        ("event", Tables("[[room.event]]", EVENT_KEYS)),
    ]
};

/// The keys of a `[[room.event]]` table.
const EVENT_KEYS: &[(&str, Kind)] = {
    use Kind::*;
    &[
        ("name", Text),
        ("prequeue_from", Time),
        ("opens_at", Time),
        ("closes_at", Time),
        ("shuffle", Flag),
        ("capacity", Number),
        ("admit_per_minute", Number),
        ("max_session", Duration),
        ("after", Text),
    ]
};

/// Sets aside every key that is unknown or of the wrong type, each with a
/// problem naming it, its line and how to write it; what remains can be
/// read into [`raw::File`].
fn screen(text: &str, mut doc: toml::Table) -> (toml::Table, Vec<Problem>) {
    // (key, message, hint), located at the end.
    let mut found_: Vec<(String, String, Option<String>)> = Vec::new();
    screen_table("", &mut doc, SCHEMA, &mut found_);
    let mut problems: Vec<Problem> = found_
        .into_iter()
        .map(|(key, message, hint)| Problem {
            line: locate(text, &key).or_else(|| locate_table(text, &key)),
            key,
            message,
            hint,
        })
        .collect();
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    (doc, problems)
}

/// [`screen`] for one table at `path` (`server`, `room[1]`; empty for the
/// file itself).
fn screen_table(
    path: &str,
    t: &mut toml::Table,
    keys: &[(&str, Kind)],
    out: &mut Vec<(String, String, Option<String>)>,
) {
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    t.retain(|k, v| {
        let key = if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        };
        match keys.iter().find(|(n, _)| *n == k) {
            None => {
                out.push((key, unknown(k, &names), did_you_mean(k, &names)));
                false
            }
            Some((_, kind)) if kind.accepts(v) => {
                match (kind, v) {
                    (Kind::Table(keys), toml::Value::Table(t)) => screen_table(&key, t, keys, out),
                    (Kind::Tables(header, keys), toml::Value::Array(items)) => {
                        for (j, item) in items.iter_mut().enumerate() {
                            let at = format!("{key}[{j}]");
                            match item {
                                toml::Value::Table(t) => screen_table(&at, t, keys, out),
                                other => {
                                    let m = format!("expected a {header} table, found {}", found(other));
                                    out.push((at, m, None));
                                    *other = toml::Value::Table(toml::Table::new());
                                }
                            }
                        }
                    }
                    _ => {}
                }
                true
            }
            Some((_, kind)) => {
                let hint = kind.hint(&key, v);
                out.push((
                    key,
                    format!("expected {}, found {}", kind.expected(), found(v)),
                    Some(hint),
                ));
                false
            }
        }
    });
}

/// The message for an unknown key: the keys its table has.
fn unknown(name: &str, known: &[&str]) -> String {
    let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
    format!("unknown field `{name}`, expected one of {}", list.join(", "))
}

/// A value as the file wrote it, for a message.
fn found(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("text {s:?}"),
        toml::Value::Integer(n) => format!("the number {n}"),
        toml::Value::Float(x) => format!("the number {x}"),
        toml::Value::Boolean(b) => format!("{b}"),
        toml::Value::Datetime(d) => format!("the date {d}"),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// The known name closest to a misspelt one (two edits at most).
pub(crate) fn did_you_mean(name: &str, known: &[&str]) -> Option<String> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    let best = known.iter().min_by_key(|k| distance(name, k))?;
    if distance(name, best) <= 2 {
        Some(format!("did you mean {best}?"))
    } else {
        Some("check the spelling; the README lists every key".into())
    }
}

/// The line of a table's header (`[serverx]`), or of a top-level key.
fn locate_table(text: &str, name: &str) -> Option<usize> {
    let name = name.split('[').next().unwrap_or(name);
    text.lines()
        .position(|l| {
            let l = l.trim();
            l.trim_matches(|c| c == '[' || c == ']').trim() == name && l.starts_with('[')
                || l.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

fn toml_problem(text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map(|s| line_of(text, s.start));
    // Unknown keys and wrong types never reach here: `screen` takes them.
    Problem {
        key: "(syntax)".into(),
        line,
        message: e.message().to_string(),
        hint: None,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The most requests of one HTTP/2 connection worked on at once: the send
/// timeout tracks this many waiting responses per connection
/// (`crate::idle::SLOTS`).
pub const MAX_ACTIVE_STREAMS: usize = 64;

/// No duration setting needs more; bounding them keeps the arithmetic on
/// them (ticks times counts, now plus a TTL) far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest `max-age` browsers' HSTS preload lists accept: a year.
const HSTS_PRELOAD_MIN_AGE: u64 = 365 * 24 * 3600;
/// The longest `hsts`: two years (`"2y"`, of 365.25 days), what the
/// preload list recommends; Chrome keeps a policy a year at most.
const HSTS_MAX_AGE: Duration = Duration::from_secs(2 * 31_557_600);

/// The line that sets `key` (`server.tick`, `room[1].capacity`), looking
/// only inside the right table: the n-th `[[room]]`, or `[server]`.
fn locate(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.')?;
    if let Some((room, event)) = table.split_once(".event[") {
        return locate_event(text, room, event.trim_end_matches(']').parse().ok()?, leaf);
    }
    let (name, index) = match table.split_once('[') {
        Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()?),
        None => (table, 0),
    };
    let mut seen = 0;
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            let header = table_header(l);
            inside = header == name && {
                seen += 1;
                seen == index + 1
            };
            continue;
        }
        if inside {
            if let Some(rest) = l.strip_prefix(leaf) {
                if rest.trim_start().starts_with('=') {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

/// The name in a table header line (`[[room.event]]  # Friday`: `room.event`).
fn table_header(line: &str) -> &str {
    let bare = line.split('#').next().unwrap_or(line).trim();
    bare.trim_matches(|c| c == '[' || c == ']').trim()
}

/// [`locate`] for `room[i].event[j].leaf`: the `j`th `[[room.event]]`
/// after the `i`th `[[room]]`.
fn locate_event(text: &str, room: &str, j: usize, leaf: &str) -> Option<usize> {
    let i: usize = room.strip_prefix("room[")?.trim_end_matches(']').parse().ok()?;
    let (mut rooms, mut events, mut inside) = (0, 0, false);
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            let header = table_header(l);
            if header == "room" {
                rooms += 1;
                events = 0;
                inside = false;
            } else if header == "room.event" {
                events += 1;
                inside = rooms == i + 1 && events == j + 1;
            } else {
                inside = false;
            }
            continue;
        }
        if inside
            && l.strip_prefix(leaf)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(n + 1);
        }
    }
    None
}

struct Validator<'a> {
    problems: Vec<Problem>,
    text: &'a str,
}

impl Validator<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>, hint: impl Into<Option<String>>) {
        let line = locate(self.text, key);
        self.problems.push(Problem {
            key: key.into(),
            line,
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// A room mode an operator may write, or `default` when absent;
    /// `None` (and a problem) when it is none of them.
    fn mode(&mut self, key: &str, v: Option<&str>, default: RoomMode) -> Option<RoomMode> {
        let Some(v) = v else {
            return Some(default);
        };
        let parsed = RoomMode::parse(v);
        if parsed.is_none() {
            let others: Vec<String> = [RoomMode::Queue, RoomMode::Passthrough, RoomMode::Closed]
                .into_iter()
                .filter(|m| *m != default)
                .map(|m| format!("{:?}", m.as_str()))
                .collect();
            self.problem(
                key,
                format!("unknown mode {v:?}"),
                Some(format!(
                    "use {:?} (the default), {}",
                    default.as_str(),
                    others.join(" or ")
                )),
            );
        }
        parsed
    }

    /// A problem unless `d` lasts `n` ticks at least.
    fn at_least_ticks(&mut self, key: &str, d: Duration, n: u32, tick: Duration) {
        if d < tick * n {
            self.problem(
                key,
                format!("{d:?} is shorter than {n} ticks ({:?})", tick * n),
                Some("raise it, or shorten server.tick".into()),
            );
        }
    }

    fn duration(&mut self, key: &str, v: Option<&str>, default: Duration) -> Duration {
        match v {
            None => default,
            Some(s) => match humantime::parse_duration(s) {
                Ok(d) if d > MAX_DURATION => {
                    self.problem(
                        key,
                        format!("{s:?} is longer than 30 days"),
                        Some("no setting here needs more; check the unit".into()),
                    );
                    default
                }
                Ok(d) => d,
                Err(e) => {
                    self.problem(
                        key,
                        format!("{s:?} is not a duration ({e})"),
                        Some("write durations like \"500ms\", \"30s\", \"5m\" or \"1h\"".into()),
                    );
                    default
                }
            },
        }
    }

    /// A whole number within `range`, or the default.
    fn count(
        &mut self,
        key: &str,
        v: Option<i64>,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
        why: &str,
    ) -> usize {
        match v {
            None => default,
            Some(n) if usize::try_from(n).is_ok_and(|n| range.contains(&n)) => n as usize,
            Some(n) => {
                self.problem(
                    key,
                    format!("{n} is out of range"),
                    Some(format!(
                        "use {} to {} ({why}); the default is {default}",
                        range.start(),
                        range.end()
                    )),
                );
                default
            }
        }
    }

    fn addr(&mut self, key: &str, v: Option<&str>, default: &str) -> Option<SocketAddr> {
        let s = v.unwrap_or(default);
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    key,
                    format!("{s:?} is not an address"),
                    Some("use IP:PORT, such as \"0.0.0.0:8080\"".into()),
                );
                None
            }
        }
    }

    fn config(&mut self, raw: raw::File, base: &Path) -> Option<Config> {
        let server = self.server(raw.server, base);
        let token = self.token(raw.token, base);
        let persistence = self.persistence(&raw.store, base);
        let store = self.store(raw.store);
        let page = self.page(raw.page, base);
        let tick = server.as_ref().map(|s| s.tick).unwrap_or(defaults::tick());
        let mut rooms = Vec::new();
        for (i, r) in raw.room.into_iter().enumerate() {
            if let Some(room) = self.room(i, r, tick) {
                rooms.push(room);
            }
        }
        self.cross_room(&rooms);
        let sites = self.sites(raw.site);
        let log = self.log(raw.log, base);
        Some(Config {
            server: server?,
            token,
            store: store?,
            persistence,
            page,
            rooms,
            sites: sites?,
            log,
        })
    }

    /// `t` in canonical case (`pt-br` is `pt-BR`), or a problem. A tag
    /// names a file and is a cookie's value: letters, digits and hyphens
    /// (`_` read as `-`), a language first.
    fn language_tag(&mut self, key: &str, t: &str) -> Option<String> {
        let simple = !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match t.parse::<unic_langid::LanguageIdentifier>() {
            Ok(id) if simple && id.language.as_str() != "und" => Some(id.to_string()),
            _ => {
                self.problem(
                    key,
                    format!("{t:?} is not a language tag"),
                    Some("write a tag such as \"fr\", \"de\" or \"pt-BR\"".into()),
                );
                None
            }
        }
    }

    fn page(&mut self, p: raw::Page, base: &Path) -> PageConfig {
        let default_language = p
            .default_language
            .as_deref()
            .and_then(|t| self.language_tag("page.default_language", t))
            .unwrap_or_else(|| defaults::LANGUAGE.to_string());
        let languages = p.languages.map(|list| {
            let mut seen: Vec<String> = Vec::new();
            for t in &list {
                if let Some(t) = self.language_tag("page.languages", t) {
                    if seen.iter().any(|s| s.eq_ignore_ascii_case(&t)) {
                        self.problem("page.languages", format!("{t:?} is listed twice"), None);
                    } else {
                        seen.push(t);
                    }
                }
            }
            seen
        });
        if let Some(list) = &languages {
            if list.is_empty() {
                self.problem(
                    "page.languages",
                    "offers no language",
                    Some("list one at least, such as languages = [\"en\", \"fr\"], or remove the key for all".into()),
                );
            } else if !list.iter().any(|t| t.eq_ignore_ascii_case(&default_language)) {
                self.problem(
                    "page.default_language",
                    format!("{default_language:?} is not in page.languages"),
                    Some(format!(
                        "add it to languages, or set default_language to one of {}",
                        list.join(", ")
                    )),
                );
            }
        }
        PageConfig {
            template: p.template.map(|t| base.join(t)),
            site_name: p.site_name,
            default_language,
            languages,
            translations: p.translations.filter(|t| !t.is_empty()).map(|t| base.join(t)),
        }
    }

    fn log(&mut self, l: raw::Log, base: &Path) -> LogConfig {
        let d = LogConfig::default();
        let format = match l.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                self.problem(
                    "log.format",
                    format!("{other:?} is not a log format"),
                    Some("use \"text\" or \"json\"".into()),
                );
                d.format
            }
        };
        let access = match l.access.as_deref() {
            None => d.access,
            Some("off") => None,
            Some("text") => Some(AccessFormat::Text),
            Some("json") => Some(AccessFormat::Json),
            Some("combined") => Some(AccessFormat::Combined),
            Some(other) => {
                self.problem(
                    "log.access",
                    format!("{other:?} is not an access log format"),
                    Some("use \"text\", \"json\", \"combined\" (nginx's) or \"off\"".into()),
                );
                d.access
            }
        };
        if access.is_none() && l.access_file.is_some() {
            self.problem(
                "log.access_file",
                "is set while the access log is off",
                Some("remove access_file, or set access = \"text\", \"json\" or \"combined\"".into()),
            );
        }
        LogConfig {
            format,
            access,
            access_file: l.access_file.filter(|f| !f.is_empty()).map(|f| base.join(f)),
        }
    }

    fn persistence(&mut self, s: &raw::Store, base: &Path) -> Persistence {
        let save_interval = self.duration(
            "store.save_interval",
            s.save_interval.as_deref(),
            defaults::save_interval(),
        );
        if save_interval < Duration::from_millis(100) || save_interval > Duration::from_secs(60) {
            self.problem(
                "store.save_interval",
                format!("{save_interval:?} is out of range"),
                Some("use between 100ms and 60s; after a crash up to one interval of changes is lost".into()),
            );
        }
        if s.state_file.is_some() && s.kind.as_deref() == Some("redis") {
            self.problem(
                "store.state_file",
                "is only used with kind = \"memory\"",
                Some("Redis keeps the state itself; remove the key".into()),
            );
        }
        Persistence {
            state_file: s.state_file.as_ref().map(|p| base.join(p)),
            save_interval,
        }
    }

    fn server(&mut self, s: raw::Server, base: &Path) -> Option<ServerConfig> {
        let listen = self.addr("server.listen", s.listen.as_deref(), defaults::LISTEN);
        let admin_listen = self.addr("server.admin_listen", s.admin_listen.as_deref(), defaults::ADMIN_LISTEN);
        let upstream = match s.upstream.as_deref() {
            None => {
                self.problem(
                    "server.upstream",
                    "is required",
                    Some("set upstream = \"http://127.0.0.1:3000\" (the backend vestibule protects)".into()),
                );
                None
            }
            Some(u) => self.upstream("server.upstream", u),
        };
        if s.workers == Some(0) {
            self.problem(
                "server.workers",
                "must be at least 1",
                Some("remove the key to let the runtime choose".into()),
            );
        }
        let mut tick = self.duration("server.tick", s.tick.as_deref(), defaults::tick());
        if tick < Duration::from_millis(50) || tick > Duration::from_secs(60) {
            self.problem(
                "server.tick",
                format!("{tick:?} is out of range"),
                Some("use between 50ms and 60s; 1s suits almost everyone".into()),
            );
            // Check the rooms against a sane tick rather than report nonsense.
            tick = defaults::tick();
        }
        let connect_timeout = self.duration(
            "server.connect_timeout",
            s.connect_timeout.as_deref(),
            defaults::connect_timeout(),
        );
        let response_timeout = self.duration(
            "server.response_timeout",
            s.response_timeout.as_deref(),
            defaults::response_timeout(),
        );
        let upstream_read_timeout = self.duration(
            "server.upstream_read_timeout",
            s.upstream_read_timeout.as_deref(),
            defaults::upstream_read_timeout(),
        );
        let header_read_timeout = self.duration(
            "server.header_read_timeout",
            s.header_read_timeout.as_deref(),
            defaults::header_read_timeout(),
        );
        for (k, d) in [
            ("server.connect_timeout", connect_timeout),
            ("server.response_timeout", response_timeout),
            ("server.upstream_read_timeout", upstream_read_timeout),
            ("server.header_read_timeout", header_read_timeout),
        ] {
            if d.is_zero() {
                self.problem(k, "must be more than zero", None);
            }
        }
        let send_timeout = self.duration(
            "server.send_timeout",
            s.send_timeout.as_deref(),
            defaults::send_timeout(),
        );
        if send_timeout.is_zero() {
            self.problem("server.send_timeout", "must be more than zero", None);
        }
        let max_connections = self.count(
            "server.max_connections",
            s.max_connections,
            defaults::MAX_CONNECTIONS,
            1..=10_000_000,
            "each takes a file descriptor, and its upstream ones; the README lists the memory",
        );
        let http2_max_active_streams = self.count(
            "server.http2_max_active_streams",
            s.http2_max_active_streams,
            defaults::HTTP2_MAX_ACTIVE_STREAMS,
            1..=MAX_ACTIVE_STREAMS,
            "an HTTP/2 connection's requests past it wait their turn",
        );
        let http2_max_streams = self.count(
            "server.http2_max_streams",
            s.http2_max_streams,
            defaults::HTTP2_MAX_STREAMS as usize,
            1..=1000,
            "browsers expect at least 100 (RFC 9113 6.5.2)",
        ) as u32;
        let max_header_bytes = s.max_header_bytes.unwrap_or(defaults::MAX_HEADER_BYTES);
        if max_header_bytes < 8192 {
            self.problem(
                "server.max_header_bytes",
                "must be at least 8192",
                Some("browsers send cookies; leave room for them".into()),
            );
        }
        let admin_token_file = s.admin_token_file.as_ref().map(|p| base.join(p));
        if let Some(a) = admin_listen {
            if admin_token_file.is_none() && !a.ip().is_loopback() {
                self.problem(
                    "server.admin_listen",
                    format!("{a} is reachable from other machines but the admin API has no token"),
                    Some(
                        "set server.admin_token_file to a file holding a long random token, \
                         or listen on 127.0.0.1"
                            .into(),
                    ),
                );
            }
        }
        let shutdown_delay = self.duration(
            "server.shutdown_delay",
            s.shutdown_delay.as_deref(),
            defaults::shutdown_delay(),
        );
        let shutdown_grace = self.duration(
            "server.shutdown_grace",
            s.shutdown_grace.as_deref(),
            defaults::shutdown_grace(),
        );
        let upstream_tls = self.upstream_tls(&s, base);
        let tls = self.tls(s.tls, base);
        // One port, one listener: the TLS one on the plain or the admin
        // port would stop the start with "address in use".
        if let Some(Some(t)) = &tls {
            for (key, other) in [("server.listen", listen), ("server.admin_listen", admin_listen)] {
                if other.is_some_and(|o| o.port() != 0 && o.port() == t.listen.port() && overlap(o, t.listen)) {
                    self.problem(
                        "server.tls.listen",
                        format!("{} is also {key}", t.listen),
                        Some("give the TLS listener a port of its own (443)".into()),
                    );
                }
            }
        }
        Some(ServerConfig {
            listen: listen?,
            admin_listen: admin_listen?,
            upstream: upstream?,
            workers: s.workers.filter(|w| *w > 0),
            tick,
            connect_timeout,
            response_timeout,
            upstream_read_timeout,
            header_read_timeout,
            max_header_bytes,
            send_timeout,
            max_connections,
            http2_max_active_streams,
            http2_max_streams,
            trust_forwarded_headers: s.trust_forwarded_headers.unwrap_or(false),
            admin_token_file,
            shutdown_delay,
            shutdown_grace,
            tls: tls?,
            upstream_tls,
        })
    }

    fn upstream(&mut self, key: &str, u: &str) -> Option<Upstream> {
        let hint = Some("write it as http://HOST:PORT or https://HOST, without a path".to_string());
        let uri: Uri = match u.parse() {
            Ok(uri) => uri,
            Err(e) => {
                self.problem(key, format!("{u:?} is not a URL ({e})"), hint);
                return None;
            }
        };
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            self.problem(key, format!("{u:?} needs a scheme and host"), hint);
            return None;
        };
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            self.problem(
                key,
                format!("scheme {scheme} is not supported"),
                Some("use http:// or https://".into()),
            );
            return None;
        }
        if !matches!(uri.path(), "" | "/") {
            self.problem(key, "must not have a path", hint);
            return None;
        }
        if authority.as_str().contains('@') {
            self.problem(
                key,
                "must not hold a user name or password",
                Some("vestibule passes the client's own Authorization header on".into()),
            );
            return None;
        }
        Some(Upstream { scheme, authority })
    }

    /// A room's or site's name (`what`), required and kept to the alphabet
    /// of cookie names and metric labels; `example` goes in the hint.
    fn name(&mut self, key: &str, what: &str, v: Option<String>, example: &str) -> Option<String> {
        match v {
            Some(n) if valid_room_name(&n) => Some(n),
            Some(n) => {
                self.problem(
                    key,
                    format!("{n:?} is not a valid {what} name"),
                    Some("use 1 to 32 lowercase letters, digits, '-' or '_', starting with a letter".into()),
                );
                None
            }
            None => {
                self.problem(key, "is required", Some(format!("add name = \"{example}\"")));
                None
            }
        }
    }

    /// A list of host patterns; every wrong one is a problem.
    fn hosts(&mut self, key: &str, raw: &[String]) -> Option<Vec<HostPattern>> {
        let mut out = Vec::new();
        let mut ok = true;
        for h in raw {
            match HostPattern::parse(h) {
                Ok(p) if out.contains(&p) => {
                    self.problem(key, format!("{h:?} is listed twice"), None);
                    ok = false;
                }
                Ok(p) => out.push(p),
                Err(why) => {
                    self.problem(
                        key,
                        format!("{h:?} {why}"),
                        Some("write names like \"tickets.example.com\" or \"*.example.com\"".into()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `[[site]]` tables; `None` if any is wrong.
    fn sites(&mut self, raw: Vec<raw::Site>) -> Option<Vec<SiteConfig>> {
        let mut sites = Vec::new();
        let mut ok = true;
        for (i, s) in raw.into_iter().enumerate() {
            let k = |f: &str| format!("site[{i}].{f}");
            let name = self.name(&k("name"), "site", s.name, "tickets");
            if s.hosts.is_empty() {
                self.problem(
                    &k("hosts"),
                    "needs at least one host",
                    Some("add hosts = [\"tickets.example.com\"]".into()),
                );
            }
            let hosts = self.hosts(&k("hosts"), &s.hosts);
            let upstream = match s.upstream.as_deref() {
                Some(u) => self.upstream(&k("upstream"), u),
                None => {
                    self.problem(
                        &k("upstream"),
                        "is required",
                        Some("add upstream = \"http://10.0.0.5:8080\"".into()),
                    );
                    None
                }
            };
            match (name, hosts, upstream) {
                (Some(name), Some(hosts), Some(upstream)) if !hosts.is_empty() => {
                    sites.push(SiteConfig { name, hosts, upstream })
                }
                _ => ok = false,
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut claimed: std::collections::HashMap<&HostPattern, &str> = std::collections::HashMap::new();
        for (i, site) in sites.iter().enumerate() {
            if !names.insert(site.name.as_str()) {
                self.problem(
                    &format!("site[{i}].name"),
                    format!("site {:?} is defined twice", site.name),
                    None,
                );
                ok = false;
            }
            for h in &site.hosts {
                if let Some(other) = claimed.insert(h, site.name.as_str()) {
                    self.problem(
                        &format!("site[{i}].hosts"),
                        format!("{h} is already in site {other:?}"),
                        Some("a host belongs to one site".into()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(sites)
    }

    /// `[server.tls]`, and the upstream TLS keys of `[server]`.
    fn tls(&mut self, t: Option<raw::Tls>, base: &Path) -> Option<Option<TlsConfig>> {
        let Some(t) = t else { return Some(None) };
        let listen = self.addr("server.tls.listen", t.listen.as_deref(), defaults::TLS_LISTEN)?;
        let hsts = self.hsts(&t);
        let mut certs = Vec::new();
        let mut ok = true;
        match (t.cert_file, t.key_file) {
            (Some(c), Some(k)) => certs.push(CertConfig {
                hosts: Vec::new(),
                cert_file: base.join(c),
                key_file: base.join(k),
            }),
            (None, None) if !t.cert.is_empty() => {}
            (c, _) => {
                let missing = if c.is_none() { "cert_file" } else { "key_file" };
                self.problem(
                    &format!("server.tls.{missing}"),
                    "is required",
                    Some(
                        "set cert_file (the chain, PEM) and key_file (its private key, PEM), \
                         or list certificates as [[server.tls.cert]]"
                            .into(),
                    ),
                );
                ok = false;
            }
        }
        for (i, c) in t.cert.into_iter().enumerate() {
            let k = |f: &str| format!("server.tls.cert[{i}].{f}");
            let hosts = match &c.hosts {
                Some(h) if h.is_empty() => {
                    self.problem(
                        &k("hosts"),
                        "is empty",
                        Some("remove it to serve the certificate for the names it holds".into()),
                    );
                    None
                }
                Some(h) => self.hosts(&k("hosts"), h),
                None => Some(Vec::new()),
            };
            let (Some(cert_file), Some(key_file)) = (c.cert_file, c.key_file) else {
                self.problem(
                    &k("cert_file"),
                    "needs cert_file and key_file",
                    Some("cert_file = the chain (PEM), key_file = its private key (PEM)".into()),
                );
                ok = false;
                continue;
            };
            match hosts {
                Some(hosts) => certs.push(CertConfig {
                    hosts,
                    cert_file: base.join(cert_file),
                    key_file: base.join(key_file),
                }),
                None => ok = false,
            }
        }
        ok.then_some(Some(TlsConfig {
            listen,
            redirect_http: t.redirect_http.unwrap_or(false),
            hsts,
            certs,
        }))
    }

    /// `hsts`, `hsts_include_subdomains`, `hsts_preload` of `[server.tls]`
    /// as one `Strict-Transport-Security` value (RFC 6797).
    fn hsts(&mut self, t: &raw::Tls) -> Option<HeaderValue> {
        let (subdomains, preload) = (
            t.hsts_include_subdomains.unwrap_or(false),
            t.hsts_preload.unwrap_or(false),
        );
        let Some(text) = &t.hsts else {
            for (key, set) in [("hsts_include_subdomains", subdomains), ("hsts_preload", preload)] {
                if set {
                    self.problem(
                        &format!("server.tls.{key}"),
                        "needs hsts",
                        Some("set hsts to how long browsers keep to https, e.g. hsts = \"365d\"".into()),
                    );
                }
            }
            return None;
        };
        let max_age = match humantime::parse_duration(text) {
            Ok(d) if d > HSTS_MAX_AGE || (d < Duration::from_secs(1) && !d.is_zero()) => {
                self.problem(
                    "server.tls.hsts",
                    format!("{text:?} is out of range"),
                    Some("use \"0s\" (browsers forget), or 1s up to \"2y\"; a year is usual".into()),
                );
                return None;
            }
            Ok(d) => d.as_secs(),
            Err(e) => {
                self.problem(
                    "server.tls.hsts",
                    format!("{text:?} is not a duration ({e})"),
                    Some("write how long browsers keep to https, like \"365d\"; \"0s\" tells them to forget".into()),
                );
                return None;
            }
        };
        if preload && (!subdomains || max_age < HSTS_PRELOAD_MIN_AGE) {
            self.problem(
                "server.tls.hsts_preload",
                "needs hsts of a year or more and hsts_include_subdomains = true",
                Some("browsers' preload lists take a site only with both (hstspreload.org)".into()),
            );
            return None;
        }
        let mut value = format!("max-age={max_age}");
        if subdomains {
            value.push_str("; includeSubDomains");
        }
        if preload {
            value.push_str("; preload");
        }
        Some(HeaderValue::from_str(&value).expect("digits and fixed words make a header value"))
    }

    fn upstream_tls(&mut self, s: &raw::Server, base: &Path) -> UpstreamTls {
        let client_cert = match (&s.upstream_client_cert_file, &s.upstream_client_key_file) {
            (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
            (None, None) => None,
            (c, _) => {
                let (set, missing) = if c.is_some() {
                    ("upstream_client_cert_file", "upstream_client_key_file")
                } else {
                    ("upstream_client_key_file", "upstream_client_cert_file")
                };
                self.problem(
                    &format!("server.{missing}"),
                    format!("is required with {set}"),
                    Some("a client certificate needs its key, and the key its certificate".into()),
                );
                None
            }
        };
        let insecure = s.upstream_insecure_skip_verify.unwrap_or(false);
        if insecure && s.upstream_ca_file.is_some() {
            self.problem(
                "server.upstream_insecure_skip_verify",
                "is set with upstream_ca_file",
                Some("trust the private CA (keep upstream_ca_file) and remove upstream_insecure_skip_verify".into()),
            );
        }
        UpstreamTls {
            ca_file: s.upstream_ca_file.as_ref().map(|p| base.join(p)),
            client_cert,
            insecure_skip_verify: insecure,
        }
    }

    fn token(&mut self, t: raw::Token, base: &Path) -> TokenConfig {
        let ticket_ttl = self.duration("token.ticket_ttl", t.ticket_ttl.as_deref(), defaults::ticket_ttl());
        if ticket_ttl < Duration::from_secs(60) {
            self.problem(
                "token.ticket_ttl",
                "is shorter than a minute",
                Some("a ticket must outlive the longest wait; the default is 24h".into()),
            );
        }
        TokenConfig {
            secret_file: t.secret_file.map(|p| base.join(p)),
            cookie_secure: t.cookie_secure.unwrap_or(false),
            ticket_ttl,
        }
    }

    fn store(&mut self, s: raw::Store) -> Option<StoreConfig> {
        match s.kind.as_deref().unwrap_or("memory") {
            "memory" => {
                for (k, set) in [
                    ("store.url", s.url.is_some()),
                    ("store.prefix", s.prefix.is_some()),
                    ("store.timeout", s.timeout.is_some()),
                    ("store.on_failure", s.on_failure.is_some()),
                    ("store.instances", s.instances.is_some()),
                    ("store.cluster", s.cluster.is_some()),
                ] {
                    if set {
                        self.problem(
                            k,
                            "is only used with kind = \"redis\"",
                            Some("remove it, or set kind = \"redis\"".into()),
                        );
                    }
                }
                Some(StoreConfig::Memory)
            }
            "redis" => {
                let url = match s.url {
                    Some(u)
                        if u.split(',')
                            .all(|n| n.trim().starts_with("redis://") || n.trim().starts_with("rediss://")) =>
                    {
                        Some(u)
                    }
                    Some(u) => {
                        self.problem(
                            "store.url",
                            format!("{u:?} is not a redis:// URL"),
                            Some("write it as redis://HOST:PORT (or redis://:PASSWORD@HOST:PORT/DB)".into()),
                        );
                        None
                    }
                    None => {
                        self.problem(
                            "store.url",
                            "is required with kind = \"redis\"",
                            Some("set url = \"redis://127.0.0.1:6379\"".into()),
                        );
                        None
                    }
                };
                let prefix = s.prefix.unwrap_or_else(|| "vst".into());
                if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                    self.problem(
                        "store.prefix",
                        format!("{prefix:?} is not a valid key prefix"),
                        Some("use letters, digits, '_', '-' or '.'".into()),
                    );
                }
                let timeout = self.duration("store.timeout", s.timeout.as_deref(), defaults::store_timeout());
                if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(10) {
                    self.problem(
                        "store.timeout",
                        format!("{timeout:?} is out of range"),
                        Some("use between 10ms and 10s; every request that needs Redis waits at most this".into()),
                    );
                }
                let on_failure = match s.on_failure.as_deref().unwrap_or("fail_closed") {
                    "fail_closed" => FailurePolicy::FailClosed,
                    "fail_open" => FailurePolicy::FailOpen,
                    "local" => FailurePolicy::Local,
                    other => {
                        self.problem(
                            "store.on_failure",
                            format!("unknown policy {other:?}"),
                            Some("use \"fail_closed\", \"fail_open\" or \"local\"".into()),
                        );
                        FailurePolicy::FailClosed
                    }
                };
                let instances = match s.instances {
                    None => 1,
                    Some(n) if (1..=1000).contains(&n) => n as u32,
                    Some(n) => {
                        self.problem(
                            "store.instances",
                            format!("{n} is out of range"),
                            Some("the number of vestibule instances sharing this Redis (1..1000)".into()),
                        );
                        1
                    }
                };
                url.map(|url| {
                    StoreConfig::Redis(RedisConfig {
                        url,
                        cluster: s.cluster.unwrap_or(false),
                        prefix,
                        timeout,
                        on_failure,
                        instances,
                    })
                })
            }
            other => {
                self.problem(
                    "store.kind",
                    format!("unknown store {other:?}"),
                    Some("use \"memory\" or \"redis\"".into()),
                );
                None
            }
        }
    }

    fn room(&mut self, i: usize, r: raw::Room, tick: Duration) -> Option<RoomConfig> {
        let k = |f: &str| format!("room[{i}].{f}");
        let name = self.name(&k("name"), "room", r.name, "registration");
        if r.paths.is_empty() {
            self.problem(
                &k("paths"),
                "needs at least one path prefix",
                Some("add paths = [\"/register\"]".into()),
            );
        }
        for p in &r.paths {
            if !p.starts_with('/') {
                self.problem(&k("paths"), format!("{p:?} must start with '/'"), None);
            } else if p.starts_with("/_vestibule") {
                self.problem(
                    &k("paths"),
                    format!("{p:?} is reserved for vestibule's own endpoints"),
                    None,
                );
            } else if p.contains(['?', '#']) {
                self.problem(
                    &k("paths"),
                    format!("{p:?} must be a path, without query or fragment"),
                    None,
                );
            } else if p.contains(['%', ';', '\\']) || p.contains("//") || p.split('/').any(|s| s == "." || s == "..") {
                self.problem(
                    &k("paths"),
                    format!("{p:?} is not a plain path"),
                    Some(
                        "write it as the backend routes it, without escapes, ';', '\\', '//', '.' or '..': \
                         every other spelling of it is gated too"
                            .into(),
                    ),
                );
            }
        }
        let capacity = match r.capacity {
            None => {
                self.problem(
                    &k("capacity"),
                    "is required",
                    Some("set it to the number of users the backend serves at once".into()),
                );
                None
            }
            Some(c) if !(0..=i64::from(u32::MAX)).contains(&c) => {
                self.problem(
                    &k("capacity"),
                    format!("{c} is out of range"),
                    Some("use 0 or more".into()),
                );
                None
            }
            Some(c) => Some(c as u32),
        };
        let admit_per_minute = match r.admit_per_minute {
            None => None,
            Some(a) if (1..=i64::from(u32::MAX)).contains(&a) => Some(a as u32),
            Some(a) => {
                self.problem(
                    &k("admit_per_minute"),
                    format!("{a} is out of range"),
                    Some("use 1 or more, or remove the key for no rate limit".into()),
                );
                None
            }
        };
        let session_ttl = self.duration(&k("session_ttl"), r.session_ttl.as_deref(), defaults::session_ttl());
        let claim_grace = self.duration(&k("claim_grace"), r.claim_grace.as_deref(), defaults::claim_grace());
        let checkin_window = self.duration(
            &k("checkin_window"),
            r.checkin_window.as_deref(),
            defaults::checkin_window(),
        );
        let max_session = r
            .max_session
            .as_deref()
            .map(|s| self.duration(&k("max_session"), Some(s), Duration::MAX));
        for (key, d, min_ticks) in [
            ("session_ttl", session_ttl, 4),
            ("claim_grace", claim_grace, 3),
            ("checkin_window", checkin_window, 3),
            ("max_session", max_session.unwrap_or(Duration::MAX), 4),
        ] {
            self.at_least_ticks(&k(key), d, min_ticks, tick);
        }
        if checkin_window < Duration::from_secs(6) {
            self.problem(
                &k("checkin_window"),
                "is shorter than 6s",
                Some("a new visitor's first poll comes 2-3s after arrival; leave it room".into()),
            );
        }
        let queue = match r.queue.as_deref().unwrap_or("fifo") {
            "fifo" => Some(QueueMode::Fifo),
            other => {
                self.problem(
                    &k("queue"),
                    format!("unknown queue mode {other:?}"),
                    Some("use \"fifo\"".into()),
                );
                None
            }
        };
        let mode = self.mode(&k("mode"), r.mode.as_deref(), RoomMode::Queue);
        let notice = match r.notice.as_deref().map(notice) {
            None => None,
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                self.problem(
                    &k("notice"),
                    e,
                    Some("a few sentences of plain text, like \"Back at 10:15.\"".into()),
                );
                None
            }
        };
        let name = name?;
        let hosts = self.hosts(&k("hosts"), &r.hosts);
        let upstream = r.upstream.as_deref().and_then(|u| self.upstream(&k("upstream"), u));
        if r.upstream.is_some() && upstream.is_none() {
            return None;
        }
        Some(RoomConfig {
            title: r.title.unwrap_or_else(|| name.clone()),
            name,
            paths: r.paths,
            hosts: hosts?,
            upstream,
            capacity: capacity?,
            admit_per_minute,
            session_ttl,
            claim_grace,
            checkin_window,
            queue: queue?,
            mode: mode?,
            max_session,
            events: self.events(i, r.event, tick)?,
            notice,
        })
    }

    /// A room's `[[room.event]]` tables, validated; `None` if any is wrong.
    fn events(&mut self, i: usize, raw: Vec<raw::Event>, tick: Duration) -> Option<Vec<Event>> {
        let mut events = Vec::new();
        // The file's index of each event that parsed.
        let mut index = Vec::new();
        let before = self.problems.len();
        for (j, e) in raw.into_iter().enumerate() {
            let k = |f: &str| format!("room[{i}].event[{j}].{f}");
            let name = match e.name {
                Some(n) if !n.trim().is_empty() && n.len() <= 64 && !n.chars().any(char::is_control) => n,
                Some(_) => {
                    self.problem(&k("name"), "must be a short name, like \"episode-3\"", None);
                    String::new()
                }
                None => {
                    self.problem(&k("name"), "is required", Some("name = \"episode-3\"".into()));
                    String::new()
                }
            };
            let mut time = |key: &str, v: Option<toml::Value>| -> Option<crate::clock::Millis> {
                let text = match v? {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                match crate::schedule::parse_time(&text) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        self.problem(
                            &k(key),
                            e,
                            Some(
                                "RFC 3339 with the offset of the place it happens, like \"2026-12-10T20:00:00+01:00\""
                                    .into(),
                            ),
                        );
                        None
                    }
                }
            };
            let has_prequeue = e.prequeue_from.is_some();
            let prequeue_from = time("prequeue_from", e.prequeue_from);
            let closes_at = time("closes_at", e.closes_at);
            let opens_at = match e.opens_at {
                None => {
                    self.problem(&k("opens_at"), "is required: when admissions start", None);
                    None
                }
                v => time("opens_at", v),
            };
            let shuffle = e.shuffle == Some(true);
            if shuffle && !has_prequeue {
                self.problem(
                    &k("shuffle"),
                    "draws the pre-queue's order at the opening, and this event has no pre-queue",
                    Some("set prequeue_from, or remove shuffle".into()),
                );
            }
            let positive = |v: Option<i64>| v.map(|n| u32::try_from(n).ok().filter(|n| *n >= 1));
            let capacity = positive(e.capacity);
            if capacity == Some(None) {
                self.problem(&k("capacity"), "is out of range", Some("use 1 or more".into()));
            }
            let admit_per_minute = positive(e.admit_per_minute);
            if admit_per_minute == Some(None) {
                self.problem(&k("admit_per_minute"), "is out of range", Some("use 1 or more".into()));
            }
            let max_session = e
                .max_session
                .as_deref()
                .map(|s| self.duration(&k("max_session"), Some(s), Duration::MAX));
            if let Some(d) = max_session {
                self.at_least_ticks(&k("max_session"), d, 4, tick);
            }
            let after = self.mode(&k("after"), e.after.as_deref(), RoomMode::Closed);
            if let (Some(opens_at), Some(after)) = (opens_at, after) {
                index.push(j);
                events.push(Event {
                    name,
                    prequeue_from,
                    opens_at,
                    closes_at,
                    capacity: capacity.flatten(),
                    admit_per_minute: admit_per_minute.flatten(),
                    max_session,
                    shuffle,
                    after,
                });
            }
        }
        // The order of those that parsed, with the rest's problems: every
        // problem at once.
        for (j, key, message) in crate::schedule::problems(&events) {
            self.problem(
                &format!("room[{i}].event[{}].{key}", index[j]),
                message,
                Some("events go in time order, each over before the next begins".into()),
            );
        }
        (self.problems.len() == before).then_some(events)
    }

    fn cross_room(&mut self, rooms: &[RoomConfig]) {
        let mut names = std::collections::HashSet::new();
        let mut paths = std::collections::HashMap::new();
        for (i, r) in rooms.iter().enumerate() {
            if !names.insert(r.name.as_str()) {
                self.problem(
                    &format!("room[{i}].name"),
                    format!("room {:?} is defined twice", r.name),
                    Some("give each room its own name".into()),
                );
            }
            // A path belongs to one room on each host: the same path may
            // be gated by several rooms on different hosts.
            let hosts: Vec<Option<&HostPattern>> = if r.hosts.is_empty() {
                vec![None]
            } else {
                r.hosts.iter().map(Some).collect()
            };
            for p in &r.paths {
                for h in &hosts {
                    // Paths match without regard to case (crate::path).
                    if let Some(other) = paths.insert((p.to_ascii_lowercase(), *h), r.name.as_str()) {
                        let on = h.map(|h| format!(" on {h}")).unwrap_or_default();
                        self.problem(
                            &format!("room[{i}].paths"),
                            format!("{p:?}{on} is already in room {other:?}"),
                            Some("a path prefix belongs to one room on a host; paths match in any case".into()),
                        );
                    }
                }
            }
        }
    }
}

/// Room names appear in cookie names and metric labels, so they are kept to a
/// small, safe alphabet.
pub fn valid_room_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && n.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("/etc/vestibule"), "test.toml")
    }

    const GOOD: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        upstream = "http://127.0.0.1:3000"
        [[room]]
        name = "registration"
        paths = ["/register"]
        capacity = 100
        admit_per_minute = 600
        session_ttl = "5m"
    "#;

    #[test]
    fn good_file_parses_with_defaults() {
        let c = parse(GOOD).expect("valid");
        assert_eq!(c.server.upstream.to_string(), "http://127.0.0.1:3000");
        assert_eq!(c.server.tick, Duration::from_secs(1));
        let r = &c.rooms[0];
        assert_eq!(r.capacity, 100);
        assert_eq!(r.admit_per_minute, Some(600));
        assert_eq!(r.session_ttl, Duration::from_secs(300));
        assert_eq!(r.claim_grace, defaults::claim_grace());
        assert_eq!(r.title, "registration");
        assert_eq!(c.store, StoreConfig::Memory);
    }

    /// The screen's list of keys is the raw types' own: serde names the
    /// fields it expects when it meets an unknown one.
    #[test]
    fn the_screen_knows_every_key_the_file_types_have() {
        // `before`: the headers an array of tables' own tables need first.
        fn check(path: &str, before: &str, header: &str, keys: &[(&str, Kind)]) {
            let err = toml::from_str::<raw::File>(&format!("{before}{header}\nnot_a_key = 1\n")).unwrap_err();
            let msg = err.message();
            let mut expected: Vec<&str> = msg.split('`').skip(3).step_by(2).collect();
            let mut ours: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
            expected.sort();
            ours.sort();
            assert_eq!(ours, expected, "{header}: {msg}");
            for (k, kind) in keys {
                let at = format!("{path}.{k}");
                let inside = if header.starts_with("[[") {
                    format!("{before}{header}\n")
                } else {
                    before.to_string()
                };
                match kind {
                    Kind::Table(inner) => check(&at, &inside, &format!("[{at}]"), inner),
                    Kind::Tables(h, inner) => check(&at, &inside, h, inner),
                    _ => {}
                }
            }
        }
        for (table, kind) in SCHEMA {
            match kind {
                Kind::Table(keys) => check(table, "", &format!("[{table}]"), keys),
                Kind::Tables(header, keys) => check(table, "", header, keys),
                _ => panic!("{table} is a table"),
            }
        }
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = parse(&GOOD.replace("capacity = 100", "capacity = 100\ncapacity_max = 3")).unwrap_err();
        let p = &e.problems[0];
        assert!(p.message.contains("unknown field"), "{p}");
        assert_eq!(p.line, Some(9));
    }

    #[test]
    fn every_problem_is_reported() {
        let e = parse(
            r#"
            [server]
            listen = "nowhere"
            upstream = "ftp://x"
            tick = "soon"
            [[room]]
            name = "Bad Name"
            paths = ["register", "/_vestibule/x"]
            capacity = -1
            session_ttl = "1s"
            [[room]]
            name = "b"
            paths = ["/a"]
            [[room]]
            name = "c"
            paths = ["/a"]
            capacity = 1
            queue = "lifo"
            "#,
        )
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "server.listen",
            "server.upstream",
            "server.tick",
            "room[0].name",
            "room[0].paths",
            "room[0].capacity",
            "room[0].session_ttl",
            "room[1].capacity",
            "room[2].queue",
        ] {
            assert!(keys.contains(&k), "missing {k} in {keys:?}");
        }
        assert!(e.problems.iter().all(|p| !p.message.is_empty()));
        assert!(e.to_string().contains("hint:"));
    }

    #[test]
    fn huge_durations_are_reported_not_panicked_on() {
        let e = parse(&GOOD.replace(
            "listen = \"127.0.0.1:0\"",
            "listen = \"127.0.0.1:0\"\ntick = \"18446744073709551615s\"",
        ))
        .unwrap_err();
        assert!(e.problems.iter().any(|p| p.key == "server.tick"), "{e}");
        let e = parse(&GOOD.replace("session_ttl = \"5m\"", "session_ttl = \"400d\"")).unwrap_err();
        assert!(e.to_string().contains("longer than 30 days"), "{e}");
    }

    #[test]
    fn problems_point_at_the_line_in_the_right_table() {
        let text = "[server]\nupstream = \"http://127.0.0.1:1\"\n\
                    [[room]]\nname = \"a\"\npaths = [\"/a\"]\ncapacity = 1\n\
                    [[room]]\nname = \"b\"\npaths = [\"/b\"]\ncapacity = -5\n";
        let e = parse(text).unwrap_err();
        let p = e.problems.iter().find(|p| p.key == "room[1].capacity").unwrap();
        assert_eq!(p.line, Some(10), "{p}");
        assert_eq!(locate(text, "room[0].capacity"), Some(6));
        assert_eq!(locate(text, "server.upstream"), Some(2));
        assert_eq!(locate(text, "server.tick"), None);
    }

    #[test]
    fn the_log_table_names_its_formats() {
        let ok = parse("[server]\nupstream = \"http://127.0.0.1:1\"\n").unwrap();
        assert_eq!(
            ok.log,
            LogConfig::default(),
            "an access log on stdout unless told otherwise"
        );
        let c = parse(
            "[server]\nupstream = \"http://127.0.0.1:1\"\n[log]\nformat = \"json\"\naccess = \"combined\"\naccess_file = \"a.log\"\n",
        )
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.access, Some(AccessFormat::Combined));
        assert_eq!(
            c.log.access_file,
            Some(PathBuf::from("/etc/vestibule/a.log")),
            "next to the file"
        );
        let e = parse(
            "[server]\nupstream = \"http://127.0.0.1:1\"\n[log]\nformat = \"yaml\"\naccess = \"xml\"\nlevel = \"debug\"\n",
        )
        .unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        for k in ["log.format", "log.access", "log.level"] {
            assert!(keys.contains(&k), "{k} in {e}");
        }
        let hint = |k: &str| {
            e.problems
                .iter()
                .find(|p| p.key == k)
                .and_then(|p| p.hint.clone())
                .unwrap()
        };
        assert!(hint("log.access").contains("\"combined\""), "{e}");
        let e =
            parse("[server]\nupstream = \"http://127.0.0.1:1\"\n[log]\naccess = \"off\"\naccess_file = \"a.log\"\n")
                .unwrap_err();
        assert!(e.problems.iter().any(|p| p.key == "log.access_file"), "{e}");
    }

    #[test]
    fn a_room_notice_is_trimmed_and_bounded() {
        let with = |notice: &str| parse(&format!("{GOOD}notice = {}\n", toml::Value::from(notice)));
        let c = with("  Doors open at 10:00.\nBring your code.  ").unwrap();
        assert_eq!(
            c.rooms[0].notice.as_deref(),
            Some("Doors open at 10:00.\nBring your code.")
        );
        assert_eq!(with("   ").unwrap().rooms[0].notice, None, "blank is none");
        assert_eq!(parse(GOOD).unwrap().rooms[0].notice, None);
        for (bad, want) in [
            ("x".repeat(501), "at most 500"),
            ("a\u{7}b".to_string(), "control character"),
        ] {
            let e = with(&bad).unwrap_err();
            let p = e
                .problems
                .iter()
                .find(|p| p.key == "room[0].notice")
                .unwrap_or_else(|| panic!("{e}"));
            assert!(p.message.contains(want), "{e}");
        }
        assert_eq!(
            notice(&"é".repeat(500)).unwrap().map(|n| n.chars().count()),
            Some(500),
            "characters, not bytes"
        );
    }

    #[test]
    fn max_session_is_optional_and_at_least_four_ticks() {
        assert_eq!(parse(GOOD).unwrap().rooms[0].max_session, None);
        let c = parse(&format!("{GOOD}max_session = \"30m\"\n")).unwrap();
        assert_eq!(c.rooms[0].max_session, Some(Duration::from_secs(1800)));
        for (bad, want) in [
            ("\"2s\"", "shorter than 4 ticks"),
            ("\"soon\"", "not a duration"),
            ("30", ""),
        ] {
            let e = parse(&format!("{GOOD}max_session = {bad}\n")).unwrap_err();
            let p = e
                .problems
                .iter()
                .find(|p| p.key == "room[0].max_session")
                .unwrap_or_else(|| panic!("{e}"));
            assert!(p.message.contains(want), "{e}");
            assert_eq!(e.problems.len(), 1, "one problem, said once: {e}");
        }
    }

    #[test]
    fn events_parse_with_their_offsets_and_every_problem_is_named() {
        let ok = format!(
            "{GOOD}[[room.event]]\nname = \"e1\"\nprequeue_from = \"2026-12-10T19:45:00+01:00\"\n\
             opens_at = 2026-12-10T20:00:00+01:00\ncloses_at = \"2026-12-10T23:00:00+01:00\"\ncapacity = 2000\n\
             max_session = \"15m\"\nshuffle = true\nafter = \"queue\"\n[[room.event]]\nname = \"e2\"\nopens_at = \"2026-12-11T20:00:00Z\"\n"
        );
        let c = parse(&ok).unwrap();
        let e = &c.rooms[0].events;
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].opens_at, 1_796_929_200_000, "TOML's own date-time, offset applied");
        assert_eq!(e[0].prequeue_from, Some(e[0].opens_at - 15 * 60_000));
        assert_eq!((e[0].capacity, e[0].after), (Some(2000), RoomMode::Queue));
        assert_eq!(e[1].after, RoomMode::Closed, "closed once over, unless told");
        assert!(e[0].shuffle && !e[1].shuffle);
        let bad = format!(
            "{GOOD}[[room.event]]\nname = \"e1\"\nopens_on = \"2026-12-10T20:00:00Z\"\nopens_at = \"2026-12-10T20:00:00\"\n\
             shuffle = true\nafter = \"open\"\ncapacity = 0\n"
        );
        let err = parse(&bad).unwrap_err();
        let keys: Vec<(&str, Option<usize>)> = err.problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        for (k, line) in [
            ("room[0].event[0].opens_on", Some(13)),
            ("room[0].event[0].opens_at", Some(14)),
            ("room[0].event[0].shuffle", Some(15)),
            ("room[0].event[0].after", Some(16)),
            ("room[0].event[0].capacity", Some(17)),
        ] {
            assert!(keys.contains(&(k, line)), "{k} at {line:?} in {err}");
        }
        let overlap = format!(
            "{GOOD}[[room.event]]\nname = \"a\"\nopens_at = \"2026-12-10T20:00:00Z\"\n\
             [[room.event]]\nname = \"b\"\nopens_at = \"2026-12-10T21:00:00Z\"\n"
        );
        let err = parse(&overlap).unwrap_err();
        assert!(
            err.problems.iter().any(|p| p.key == "room[0].event[0].closes_at"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_paths_across_rooms_are_rejected() {
        let e = parse(
            r#"
            [server]
            upstream = "http://127.0.0.1:1"
            [[room]]
            name = "a"
            paths = ["/x"]
            capacity = 1
            [[room]]
            name = "b"
            paths = ["/x"]
            capacity = 1
            "#,
        )
        .unwrap_err();
        assert!(e.problems.iter().any(|p| p.message.contains("already in room")));
        let e = parse(
            r#"
            [server]
            upstream = "http://127.0.0.1:1"
            [[room]]
            name = "a"
            paths = ["/x", "/y%2Fz", "/a/../b", "/c;d", "//e"]
            capacity = 1
            [[room]]
            name = "b"
            paths = ["/X"]
            capacity = 1
            "#,
        )
        .unwrap_err();
        let messages: Vec<&str> = e.problems.iter().map(|p| p.message.as_str()).collect();
        assert!(messages.iter().any(|m| m.contains("\"/X\" is already in room")), "{e}");
        assert_eq!(
            messages.iter().filter(|m| m.contains("is not a plain path")).count(),
            4,
            "{e}"
        );
    }

    #[test]
    fn room_names_are_restricted() {
        assert!(valid_room_name("registration"));
        assert!(valid_room_name("r2-b_c"));
        assert!(!valid_room_name("_x"));
        assert!(!valid_room_name("Reg"));
        assert!(!valid_room_name(""));
        assert!(!valid_room_name("a;b"));
    }
}
