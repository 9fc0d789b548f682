//! vestibule: a virtual waiting-room reverse proxy.
//!
//! Below a room's capacity, visitors pass straight through to the upstream.
//! At capacity, new visitors get a signed ticket and a waiting page, and a
//! tick-driven scheduler lets them in, in arrival order, as room frees.
//! The queue is stateless: a visitor's place is the ticket number inside
//! their cookie, and a room's line is two counters.
//!
//! # Layout
//!
//! | module | owns |
//! |---|---|
//! | [`lifecycle`] | start-up (binding, starting every task) and shutdown in order |
//! | [`server`] | accepting connections, HTTP/1.1 + h2c, per-client bounds, graceful drain |
//! | [`idle`] | per-connection supervision: quiet and stalled connections, the drain |
//! | [`admin`] | the admin listener: `/metrics`, health, the rooms API |
//! | [`reload`] | live configuration: the file watcher, SIGHUP, what applies live |
//! | [`scheduler`] | the tick loop |
//! | [`persist`] | the memory store's state file: restart without loss |
//! | [`gate`] | **the admission rule**: what happens to one request |
//! | [`proxy`] | forwarding upstream: the request head rewritten, upgrades |
//! | [`upstream`] | the pooled HTTP/1.1 client to the upstream, inside the client's task |
//! | [`page`] | the waiting page, status JSON, error pages |
//! | [`store`] | the `Store` trait: counters, sessions, reservations; [`store::memory`], [`store::redis`] |
//! | [`failover`] | the store's health and the `local` failure policy |
//! | [`app`] | the shared state every request and task reads |
//! | [`room`] | routing paths to rooms, the per-room view, the measured admission rate |
//! | [`path`] | reading a request path every way a backend might, so no spelling skips the gate |
//! | [`request`] | what a request must be to be passed on (one `Host`, no odd coding, no CONNECT) |
//! | [`body`] | the response body type: our bytes or the upstream's stream |
//! | [`http`] | small HTTP helpers: our responses, query parameters, what the client accepts |
//! | [`cookie`] | finding vestibule's cookies among the site's |
//! | [`token`] | signing and verifying tickets and sessions (HMAC-SHA256, key rotation) |
//! | [`h1`] | the HTTP/1.1 wire format on the upstream side, no I/O |
//! | [`config`] | the TOML file, validation with every problem reported |
//! | [`metrics`] | every Prometheus name |
//! | [`shutdown`] | the stop signal tasks watch |
//! | [`clock`] | injectable time |
//! | [`demo`] | the built-in demo site |
#![forbid(unsafe_code)]

pub mod admin;
pub mod admission;
pub mod app;
pub mod body;
pub mod clock;
pub mod config;
pub mod cookie;
pub mod demo;
pub mod failover;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod gate;
pub mod h1;
pub mod http;
pub mod idle;
pub mod lifecycle;
pub mod metrics;
pub mod page;
pub mod path;
pub mod persist;
pub mod proxy;
pub mod reload;
pub mod request;
pub mod room;
pub mod scheduler;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod token;
pub mod upstream;

pub use app::{App, StartError};
pub use clock::Clock;
pub use config::Config;
pub use lifecycle::{run, spawn, Options, Running};
