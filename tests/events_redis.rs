//! Announced events on a shared store that fails: no failure policy
//! opens an event's doors before `opens_at`.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::time::Duration;

use support::redis_server::{self, RedisServer};
use support::*;
use vestibule::{Clock, Config, Options};

fn at(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(T0) + Duration::from_secs(secs + 3600);
    humantime::format_rfc3339_seconds(t).to_string().replace('Z', "+01:00")
}

struct Cluster {
    nodes: Vec<vestibule::Running>,
    clock: Clock,
    upstream: Upstream,
}

impl Cluster {
    async fn start(n: usize, redis: &RedisServer, room: &str, store_extra: &str) -> Cluster {
        let upstream = Upstream::start().await;
        let clock = Clock::manual(T0);
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{}\"\n\n\
             [store]\nkind = \"redis\"\nurl = \"{}\"\ntimeout = \"300ms\"\n{store_extra}\n\n{room}",
            upstream.addr,
            redis.url()
        );
        let cfg = Config::parse(&support::quiet(text), Path::new("."), "cluster").unwrap_or_else(|e| panic!("{e}"));
        let mut nodes = Vec::new();
        for _ in 0..n {
            let opts = Options {
                clock: clock.clone(),
                scheduler: false,
                keys: Some(vestibule::token::Keys::from_text(SECRET).unwrap()),
                ..Options::default()
            };
            nodes.push(vestibule::spawn(cfg.clone(), opts).await.unwrap());
        }
        Cluster { nodes, clock, upstream }
    }
    fn visitor(&self, i: usize) -> Visitor {
        Visitor::new(self.nodes[i % self.nodes.len()].addr())
    }
    async fn tick_after(&self, d: Duration) {
        self.clock.advance(d);
        for n in &self.nodes {
            vestibule::scheduler::tick(&n.app).await;
        }
    }
}

fn room() -> String {
    format!(
        "[[room]]\nname = \"reg\"\npaths = [\"/register\"]\ncapacity = 100\nmode = \"closed\"\nsession_ttl = \"10m\"\n\
         checkin_window = \"1h\"\n\
         [[room.event]]\nname = \"e\"\nprequeue_from = \"{}\"\nopens_at = \"{}\"\n",
        at(60),
        at(3600)
    )
}

/// The README: "From prequeue_from to opens_at ... nobody is admitted,
/// whatever the capacity". With on_failure = "fail_open", a Redis outage
/// during the pre-queue lets every ticket holder and every newcomer
/// through to the site, an hour before the doors open (a closed room is
/// not opened by fail_open; a pre-queue is).
#[tokio::test]
async fn fail_open_does_not_open_the_doors_during_a_prequeue() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(false);
    let c = Cluster::start(2, &redis, &room(), "on_failure = \"fail_open\"\ninstances = 2").await;
    c.tick_after(Duration::from_secs(60)).await;
    let waiting = c.visitor(0);
    assert_eq!(waiting.get_json("/register").await.json()["state"], "prequeue");
    waiting.get_json("/_vestibule/status").await;
    redis.kill();
    c.tick_after(Duration::from_secs(1)).await;
    let newcomer = c.visitor(1);
    let n = newcomer.get("/register").await.reached_upstream();
    let w = waiting.get("/register").await.reached_upstream();
    assert_eq!(
        (n, w, c.upstream.hits("/register")),
        (false, false, 0),
        "reached the site 59 min before the doors open (newcomer, pre-queued)"
    );
}

/// Held: the local policy admits nobody in the pre-queue.
#[tokio::test]
async fn local_admits_nobody_during_a_prequeue() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(false);
    let c = Cluster::start(2, &redis, &room(), "on_failure = \"local\"\ninstances = 2").await;
    c.tick_after(Duration::from_secs(60)).await;
    redis.kill();
    c.tick_after(Duration::from_secs(1)).await;
    for i in 0..4 {
        assert!(!c.visitor(i).get("/register").await.reached_upstream());
    }
    assert_eq!(c.upstream.hits("/register"), 0);
}
