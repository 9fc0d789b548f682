//! Several vestibule instances sharing one queue through a real
//! redis-server: one cap, one line, one order, one advance per tick, and
//! the failure policies when Redis dies and comes back.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use support::redis_server::{self, RedisServer};
use support::*;
use vestibule::{Clock, Config, Options};

/// `n` instances in front of one upstream, sharing `redis` and one manual
/// clock (as NTP-synced machines share time).
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

    /// A visitor of node `i` carrying `jar`'s cookies (a load balancer
    /// without stickiness sends each request anywhere).
    fn via(&self, i: usize, jar: &Visitor) -> Visitor {
        let mut v = Visitor::new(self.nodes[i % self.nodes.len()].addr());
        v.jar = jar.jar.clone();
        v
    }

    fn visitor(&self) -> Visitor {
        Visitor::new(self.nodes[0].addr())
    }

    /// Every node runs its scheduler step, as they all do each period.
    async fn tick_after(&self, d: Duration) {
        self.clock.advance(d);
        for n in &self.nodes {
            vestibule::scheduler::tick(&n.app).await;
        }
    }

    async fn metrics(&self, i: usize) -> String {
        Visitor::new(self.nodes[i].admin_addr).get("/metrics").await.text()
    }
}

const ROOM: &str = "[[room]]\nname = \"registration\"\npaths = [\"/register\"]\nsession_ttl = \"10m\"\n";

fn room(capacity: u32) -> String {
    format!("{ROOM}capacity = {capacity}\n")
}

#[tokio::test]
async fn three_instances_hold_one_cap() {
    if !redis_server::available() {
        return;
    }
    let redis = RedisServer::start(false);
    let c = Arc::new(Cluster::start(3, &redis, &room(5), "").await);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let v = c.via(i, &Visitor::new(c.nodes[0].addr()));
            v.get("/register").await.reached_upstream()
        }));
    }
    let mut inside = 0;
    for t in tasks {
        if t.await.unwrap() {
            inside += 1;
        }
    }
    assert_eq!(inside, 5, "exactly the capacity got in");
    assert_eq!(c.upstream.total(), 5);
    c.tick_after(Duration::from_secs(1)).await;
    let snap = c.nodes[2].app.room("registration").unwrap().view().snapshot.clone();
    assert_eq!((snap.active, snap.issued, snap.admitted), (5, 60, 5));
    for i in 0..3 {
        assert_eq!(
            metric(&c.metrics(i).await, "vestibule_queue_length{room=\"registration\"}"),
            55.0
        );
    }
}

#[tokio::test]
async fn tickets_from_different_instances_are_admitted_in_global_issue_order() {
    if !redis_server::available() {
        return;
    }
    let redis = RedisServer::start(false);
    let c = Cluster::start(3, &redis, &room(1), "").await;
    let first = c.visitor();
    assert!(first.get("/register").await.reached_upstream());
    // Nine visitors, each arriving at a different instance than the one
    // before, and checking in at yet another.
    let mut line = Vec::new();
    for i in 0..9 {
        let v = c.via(i, &Visitor::new(c.nodes[0].addr()));
        assert_eq!(position(&v.get_json("/register").await), i as u64 + 1);
        c.via(i + 1, &v).get_json("/_vestibule/status").await;
        line.push(v);
    }
    let mut holder = first;
    for (i, expected) in line.iter().enumerate() {
        c.via(i, &holder).get("/_vestibule/leave").await;
        c.tick_after(Duration::from_secs(1)).await;
        for (j, v) in line.iter().enumerate() {
            let s = c.via(i + j, v).get_json("/_vestibule/status").await.json();
            let want = if j == i {
                "admitted"
            } else if j < i {
                "none"
            } else {
                "queued"
            };
            if j >= i {
                assert_eq!(s["state"], want, "after {i} left: visitor {j}: {s}");
            }
        }
        assert!(c.via(i + 2, expected).get("/register").await.reached_upstream());
        holder = expected.clone();
    }
}

#[tokio::test]
async fn the_pointer_advances_once_per_tick_across_instances() {
    if !redis_server::available() {
        return;
    }
    let redis = RedisServer::start(false);
    let c = Cluster::start(3, &redis, &room(1000), "").await;
    let r = c.nodes[0].app.room("registration").unwrap();
    let limits = r.limits(0);
    let store = |i: usize| c.nodes[i].app.store().clone();
    let now = || c.clock.now_ms();
    let mut advances = Vec::new();
    for period in 0..10u64 {
        c.clock.advance(Duration::from_secs(1));
        // Every instance ticks, some twice, in a different order each time;
        // instance 2 stalls for periods 3..6.
        let mut order: Vec<usize> = vec![0, 1, 2, 0, 1];
        order.rotate_left((period % 5) as usize);
        let mut advanced = 0;
        for i in order {
            if i == 2 && (3..6).contains(&period) {
                continue;
            }
            if store(i).tick("registration", now(), &limits).await.unwrap().advanced {
                advanced += 1;
            }
        }
        advances.push(advanced);
    }
    assert_eq!(advances, vec![1; 10], "exactly one advance per period");
}

async fn killed_redis_scenario(policy: &str) -> (Cluster, RedisServer, Visitor, Visitor) {
    let mut redis = RedisServer::start(true);
    let extra = format!("on_failure = \"{policy}\"\ninstances = 2");
    let c = Cluster::start(2, &redis, &room(4), &extra).await;
    // Two inside, two in line behind them (checked in).
    let inside = c.visitor();
    assert!(inside.get("/register").await.reached_upstream());
    assert!(inside.get("/register").await.reached_upstream());
    for _ in 0..3 {
        assert!(c
            .via(1, &Visitor::new(c.nodes[0].addr()))
            .get("/register")
            .await
            .reached_upstream());
    }
    let queued = c.visitor();
    assert_eq!(position(&queued.get_json("/register").await), 1);
    c.via(1, &queued).get_json("/_vestibule/status").await;
    c.tick_after(Duration::from_secs(1)).await;

    redis.kill();
    // Every instance notices at its next tick (or request).
    c.tick_after(Duration::from_secs(1)).await;
    (c, redis, inside, queued)
}

#[tokio::test]
async fn fail_closed_queues_newcomers_keeps_sessions_and_resumes_when_redis_returns() {
    if !redis_server::available() {
        return;
    }
    let (c, mut redis, inside, queued) = killed_redis_scenario("fail_closed").await;
    let hits = c.upstream.total();
    // Those with a session keep being served, on both instances.
    assert!(inside.get("/register").await.reached_upstream());
    assert!(c.via(1, &inside).get("/register").await.reached_upstream());
    // Newcomers are not let in: a "please wait" page, nothing upstream.
    for i in 0..10 {
        let r = c.via(i, &Visitor::new(c.nodes[0].addr())).get("/register").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(c.upstream.total(), hits + 2);
    // The queued visitor keeps their place, answered from the cached view.
    assert_eq!(queued.get_json("/_vestibule/status").await.json()["position"], 1);
    for i in 0..2 {
        let m = c.metrics(i).await;
        assert_eq!(metric(&m, "vestibule_store_up"), 0.0);
        assert_eq!(
            metric(&m, "vestibule_store_outages_total"),
            1.0,
            "one outage, however many requests"
        );
    }

    // Redis comes back (its append-only file kept the line).
    redis.restart();
    // The client reconnects on its next call, which the first tick after
    // the restart may spend: a few ticks, not one.
    for _ in 0..5 {
        c.tick_after(Duration::from_secs(1)).await;
        if metric(&c.metrics(0).await, "vestibule_store_up") == 1.0 {
            break;
        }
    }
    assert_eq!(metric(&c.metrics(0).await, "vestibule_store_up"), 1.0);
    c.via(1, &inside).get("/_vestibule/leave").await;
    c.tick_after(Duration::from_secs(1)).await;
    assert_eq!(
        c.via(1, &queued).get_json("/_vestibule/status").await.json()["state"],
        "admitted"
    );
    assert!(queued.get("/register").await.reached_upstream());
    // Newcomers get tickets again, behind everyone.
    let late = c.visitor();
    assert_eq!(position(&late.get_json("/register").await), 1);
}

#[tokio::test]
async fn fail_open_lets_everyone_through_while_redis_is_down() {
    if !redis_server::available() {
        return;
    }
    let (c, _redis, _inside, queued) = killed_redis_scenario("fail_open").await;
    for i in 0..6 {
        assert!(c
            .via(i, &Visitor::new(c.nodes[0].addr()))
            .get("/register")
            .await
            .reached_upstream());
    }
    assert!(queued.get("/register").await.reached_upstream(), "ticket holders too");
    let m = c.metrics(0).await;
    assert!(
        metric(
            &m,
            "vestibule_requests_total{outcome=\"degraded\",room=\"registration\"}"
        ) >= 3.0
    );
}

#[tokio::test]
async fn local_admits_each_instance_share_of_the_free_slots() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(true);
    let c = Cluster::start(2, &redis, &room(8), "on_failure = \"local\"\ninstances = 2").await;
    let inside = c.visitor();
    assert!(inside.get("/register").await.reached_upstream());
    c.tick_after(Duration::from_secs(1)).await;
    redis.kill();
    c.tick_after(Duration::from_secs(1)).await;
    // Seven slots were free: each of the two instances takes three.
    for node in 0..2 {
        let mut admitted = Vec::new();
        for _ in 0..4 {
            let visitor = Visitor::new(c.nodes[node].addr());
            let r = visitor.get("/register").await;
            admitted.push(r.reached_upstream());
            if r.reached_upstream() {
                // The local session holds: the next request passes too.
                assert!(visitor.get("/register").await.reached_upstream());
            }
        }
        assert_eq!(admitted, vec![true, true, true, false], "node {node}");
    }
    assert!(inside.get("/register").await.reached_upstream());
    for node in 0..2 {
        let m = c.metrics(node).await;
        assert_eq!(
            metric(
                &m,
                "vestibule_requests_total{outcome=\"degraded\",room=\"registration\"}"
            ),
            3.0
        );
    }
}

/// Script calls Redis has run so far (`INFO commandstats`).
fn redis_calls(redis: &RedisServer) -> u64 {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "info", "commandstats"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn polling_and_admitted_requests_cost_no_redis_round_trip() {
    if !redis_server::available() {
        return;
    }
    let redis = RedisServer::start(false);
    let c = Cluster::start(3, &redis, &room(1), "").await;
    let inside = c.visitor();
    assert!(inside.get("/register").await.reached_upstream());
    assert!(inside.get("/register").await.reached_upstream()); // confirmed
    let waiting: Vec<Visitor> = (0..5).map(|i| c.via(i, &Visitor::new(c.nodes[0].addr()))).collect();
    for v in &waiting {
        v.get_json("/register").await;
        v.get_json("/_vestibule/status").await; // checks in: one call each
    }
    c.tick_after(Duration::from_secs(1)).await;
    let before = redis_calls(&redis);
    for round in 0..20 {
        for (i, v) in waiting.iter().enumerate() {
            c.via(i + round, v).get_json("/_vestibule/status").await;
        }
        assert!(c.via(round, &inside).get("/register").await.reached_upstream());
    }
    assert_eq!(
        redis_calls(&redis),
        before,
        "100 polls and 20 admitted requests, no Redis call"
    );
    // Each instance's tick refreshes its view: one call per room per instance.
    c.tick_after(Duration::from_secs(1)).await;
    assert_eq!(redis_calls(&redis), before + 3);
}

// ---------------------------------------------------------------------
// Review.
// ---------------------------------------------------------------------

#[tokio::test]
async fn visitors_admitted_after_redis_restarts_empty_keep_their_place() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(false);
    let c = Cluster::start(1, &redis, &room(1), "").await;
    let before = c.visitor();
    assert!(before.get("/register").await.reached_upstream());
    c.tick_after(Duration::from_secs(1)).await;
    let old_epoch = c.nodes[0].app.room("registration").unwrap().view().snapshot.epoch;

    // Redis restarts without its data: a new room state (documented: every
    // ticket issued *before* is void).
    redis.restart();
    let store = c.nodes[0].app.store().clone();
    let limits = c.nodes[0].app.room("registration").unwrap().limits(0);
    for _ in 0..50 {
        // The connection notices the restart and reconnects.
        if store.snapshot("registration", c.clock.now_ms(), &limits).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Arrivals before this instance's next tick.
    let a = c.visitor();
    assert!(a.get("/register").await.reached_upstream(), "A admitted directly");
    let b = c.visitor();
    assert_eq!(position(&b.get_json("/register").await), 1, "B first in line");

    c.tick_after(Duration::from_secs(1)).await;
    let new_epoch = c.nodes[0].app.room("registration").unwrap().view().snapshot.epoch;
    assert_ne!(old_epoch, new_epoch);
    // A was admitted after the reset, by the new state: they stay admitted.
    assert!(
        a.get("/register").await.reached_upstream(),
        "A keeps the session it was just given"
    );
    assert_eq!(
        position(&b.get_json("/_vestibule/status").await),
        1,
        "B keeps first place"
    );
}

#[tokio::test]
async fn the_store_recovers_after_a_slow_redis() {
    if !redis_server::available() {
        return;
    }
    let redis = RedisServer::start(false);
    let c = Cluster::start(1, &redis, &room(3), "").await;
    let r = c.nodes[0].app.room("registration").unwrap();
    let limits = r.limits(0);
    let store = c.nodes[0].app.store().clone();
    let now = c.clock.now_ms();
    store.snapshot("registration", now, &limits).await.unwrap();
    // Redis stalls for 2 s (CLIENT PAUSE, as a failover does; DEBUG SLEEP is
    // disabled by default in Redis 7): calls time out (300 ms).
    let port = redis.port.to_string();
    let sleeper = std::thread::spawn(move || {
        std::process::Command::new("redis-cli")
            .args(["-p", &port, "client", "pause", "2000", "all"])
            .output()
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = std::time::Instant::now();
    let r = store.arrive("registration", now, &limits).await;
    assert!(r.is_err(), "timed out: {r:?} after {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "bounded by the timeout: {:?}",
        t.elapsed()
    );
    sleeper.join().unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // Redis answers again: the next call works.
    let mut ok_after = None;
    for i in 0..20 {
        if store.snapshot("registration", now, &limits).await.is_ok() {
            ok_after = Some(i);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok_after.is_some(), "store usable again after the stall");
    // The arrival that timed out still ran in Redis: a direct admission
    // nobody holds a cookie for.
    let snap = store.snapshot("registration", now, &limits).await.unwrap();
    eprintln!(
        "after stall: active={} issued={} ok_after={ok_after:?}",
        snap.active, snap.issued
    );
}

#[tokio::test]
async fn local_policy_does_not_admit_beyond_a_full_room() {
    if !redis_server::available() {
        return;
    }
    // Capacity 4, full (4 sessions), one checked-in visitor waiting.
    let (c, _redis, _inside, queued) = killed_redis_scenario("local").await;
    let snap = c.nodes[0].app.room("registration").unwrap().view().snapshot.clone();
    assert_eq!(snap.active + snap.reserved, 4, "the last view says: full");
    let mut let_in = 0;
    for node in 0..2 {
        for _ in 0..3 {
            if Visitor::new(c.nodes[node].addr())
                .get("/register")
                .await
                .reached_upstream()
            {
                let_in += 1;
            }
        }
    }
    assert!(!queued.get("/register").await.reached_upstream());
    assert_eq!(
        let_in, 0,
        "newcomers let in past a full room, ahead of a waiting visitor"
    );
}

/// A room closed until its event's pre-queue opens at T0 + 60 s; the doors
/// open an hour later.
fn prequeue_room() -> String {
    format!(
        "[[room]]\nname = \"reg\"\npaths = [\"/register\"]\ncapacity = 100\nmode = \"closed\"\nsession_ttl = \"10m\"\n\
         checkin_window = \"1h\"\n\
         [[room.event]]\nname = \"e\"\nprequeue_from = \"{}\"\nopens_at = \"{}\"\n",
        at(60),
        at(3600)
    )
}

/// (Found by review.) "From prequeue_from to opens_at ... nobody is
/// admitted": with fail_open, a Redis outage during the pre-queue let
/// every ticket holder and newcomer through, an hour before the doors
/// open. No failure policy opens them early.
#[tokio::test]
async fn fail_open_does_not_open_the_doors_during_a_prequeue() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(false);
    let c = Cluster::start(2, &redis, &prequeue_room(), "on_failure = \"fail_open\"\ninstances = 2").await;
    c.tick_after(Duration::from_secs(60)).await;
    let waiting = c.visitor();
    assert_eq!(waiting.get_json("/register").await.json()["state"], "prequeue");
    waiting.get_json("/_vestibule/status").await;
    redis.kill();
    c.tick_after(Duration::from_secs(1)).await;
    let newcomer = c.via(1, &Visitor::new(c.nodes[1].addr()));
    let n = newcomer.get("/register").await.reached_upstream();
    let w = waiting.get("/register").await.reached_upstream();
    assert_eq!(
        (n, w, c.upstream.hits("/register")),
        (false, false, 0),
        "(newcomer, pre-queued, site hits) 59 min before the doors open"
    );
}

/// Nor does the local policy, on any instance.
#[tokio::test]
async fn local_admits_nobody_during_a_prequeue() {
    if !redis_server::available() {
        return;
    }
    let mut redis = RedisServer::start(false);
    let c = Cluster::start(2, &redis, &prequeue_room(), "on_failure = \"local\"\ninstances = 2").await;
    c.tick_after(Duration::from_secs(60)).await;
    redis.kill();
    c.tick_after(Duration::from_secs(1)).await;
    for i in 0..4 {
        let v = c.via(i, &Visitor::new(c.nodes[0].addr()));
        assert!(!v.get("/register").await.reached_upstream());
    }
    assert_eq!(c.upstream.hits("/register"), 0);
}
