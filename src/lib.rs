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
//! | [`config`] | the TOML file, validation with every problem reported |
//! | [`token`] | signing and verifying tickets and sessions (HMAC-SHA256, key rotation) |
//! | [`store`] | the `Store` trait: counters, sessions, reservations; [`store::memory`], [`store::redis`] |
//! | [`failover`] | the store's health and the `local` failure policy |
//! | [`room`] | routing paths to rooms, the per-room view, the measured admission rate |
//! | [`path`] | reading a request path every way a backend might, so no spelling skips the gate |
//! | [`request`] | what a request must be before the gate (one `Host`, no odd transfer coding) |
//! | [`gate`] | **the admission rule**: what happens to one request |
//! | [`proxy`] | forwarding upstream: pooled client, streaming, headers, upgrades |
//! | [`page`] | the waiting page, status JSON, error pages |
//! | [`scheduler`] | the tick loop |
//! | [`metrics`] | every Prometheus name |
//! | [`admin`] | the admin listener: `/metrics`, health, the rooms API |
//! | [`reload`] | live configuration: the file watcher, SIGHUP, what applies live |
//! | [`persist`] | the memory store's state file: restart without loss |
//! | [`server`] | accepting connections, HTTP/1.1 + h2c, graceful drain |
//! | [`app`] | start-up, shared state, shutdown |
//! | [`demo`] | the built-in demo site |
//! | [`clock`] | injectable time |
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod body;
pub mod clock;
pub mod config;
pub mod demo;
pub mod failover;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod gate;
pub mod h1;
pub mod idle;
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
pub mod store;
pub mod token;
pub mod upstream;

pub use app::{run, spawn, App, Options, Running, StartError};
pub use clock::Clock;
pub use config::Config;
