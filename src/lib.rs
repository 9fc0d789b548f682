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
//! From the top layer to the bottom; a module imports only from its own
//! layer or below (one exception, `room` taking the store's data types:
//! see docs/ARCHITECTURE.md).
//!
//! | module | owns |
//! |---|---|
//! | [`lifecycle`] | start-up (binding, starting every task) and shutdown in order |
//! | [`demo`] | the built-in demo site |
//! | [`server`] | accepting connections, HTTP/1.1 + h2c, per-client bounds, graceful drain |
//! | [`idle`] | per-connection supervision: quiet and stalled connections, the drain |
//! | [`admin`] | the admin listener: `/metrics`, health, the rooms API |
//! | [`reload`] | live configuration: the file watcher, SIGHUP, what applies live |
//! | [`scheduler`] | the tick: every room's store step, the view published |
//! | [`gate`] | what happens to one request: routed, the rule walked, acted on |
//! | [`admission`] | **the admission rule** as a decision, no I/O; the failure policies |
//! | [`app`] | the shared state every request and task reads |
//! | [`secrets`] | the token keys and the admin token, loaded and checked |
//! | [`proxy`] | forwarding upstream: the request head rewritten, upgrades |
//! | [`page`] | the waiting page, status JSON, error pages |
//! | [`store`] | the `Store` trait: counters, sessions, reservations; [`store::memory`], [`store::redis`] |
//! | [`persist`] | the memory store's state file: restart without loss |
//! | [`failover`] | the store's health and the `local` failure policy's sessions |
//! | [`config`] | the TOML file, validation with every problem reported |
//! | [`lang`] | the visitor's language: Fluent messages built in and from a directory, the choice per visitor, numbers |
//! | [`schedule`] | a room's announced events: the room's mode and limits at a given moment |
//! | [`tls`] | TLS material: certificates by SNI, swapped when their files change; the upstream client's trust |
//! | [`token`] | signing and verifying tickets and sessions (HMAC-SHA256, key rotation) |
//! | [`cookie`] | vestibule's cookies: found among the site's, minted |
//! | [`room`] | routing paths to rooms, the per-room view, the measured admission rate |
//! | [`path`] | reading a request path every way a backend might, so no spelling skips the gate |
//! | [`request`] | what a request must be to be passed on (one `Host`, no odd coding, no CONNECT) |
//! | [`access`] | the access log: a line per request, written off the request's task |
//! | [`metrics`] | every Prometheus name |
//! | [`clock`] | injectable time |
//! | [`http`] | small HTTP helpers: our responses, query parameters, what the client accepts |
//! | [`body`] | the response body type: our bytes or the upstream's stream |
//! | [`shutdown`] | the stop signal tasks watch |
//! | [`upstream`] | the pooled HTTP/1.1 client to the upstream, inside the client's task; [`upstream::h1`], its wire format, no I/O |
//! | `fuzz` | fuzz targets' entry points (feature `fuzzing`) |
#![forbid(unsafe_code)]

pub mod access;
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
pub mod http;
pub mod idle;
pub mod lang;
pub mod lifecycle;
pub mod metrics;
pub mod page;
pub mod path;
pub mod persist;
pub mod proxy;
pub mod reload;
pub mod request;
pub mod room;
pub mod schedule;
pub mod scheduler;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod tls;
pub mod token;
pub mod upstream;

pub use app::{App, StartError};
pub use clock::Clock;
pub use config::Config;
pub use lifecycle::{run, spawn, Options, Running};
