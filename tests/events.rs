//! Announced events (`[[room.event]]`) over real HTTP, on a manual clock:
//! the room's own mode before, a pre-queue that hands out tickets and lets
//! nobody in, the doors opening in arrival order with the event's limits,
//! and the `after` mode once it is over.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{at, metric, Harness, Visitor};

const SEC: Duration = Duration::from_secs(1);

fn room() -> String {
    format!(
        r#"
        [[room]]
        name = "reg"
        title = "Registration"
        paths = ["/register"]
        capacity = 1
        mode = "closed"
        notice = "Registration opens at 20:00."
        session_ttl = "10m"
        checkin_window = "1h"

        [[room.event]]
        name = "episode-3"
        prequeue_from = "{}"
        opens_at = "{}"
        closes_at = "{}"
        capacity = 3
        after = "closed"
        "#,
        at(60),
        at(120),
        at(600)
    )
}

async fn status(v: &Visitor) -> serde_json::Value {
    v.get_json("/_vestibule/status").await.json()
}

#[tokio::test]
async fn an_event_opens_its_line_then_its_doors_in_arrival_order_then_closes() {
    let h = Harness::start(&room()).await;
    h.tick().await;
    // Before the line opens: the room's own mode, closed.
    let early = h.visitor();
    let r = early.get_json("/register").await.json();
    assert_eq!(r["state"], "closed", "{r}");
    let api = h.admin().get("/api/rooms/reg").await.json();
    assert_eq!(api["event"]["phase"], "upcoming", "{api}");
    assert_eq!(api["event"]["opens_in_seconds"], 120);

    // The pre-queue: tickets in arrival order, nobody in.
    h.tick_after(60 * SEC).await;
    let line: Vec<Visitor> = (0..5).map(|_| h.visitor()).collect();
    for (i, v) in line.iter().enumerate() {
        let r = v.get_json("/register").await.json();
        assert_eq!(r["state"], "prequeue", "{r}");
        assert_eq!(r["position"], i as u64 + 1, "{r}");
        assert_eq!(r["opens_in_seconds"], 60, "{r}");
        assert!(r["opens_at"].as_str().unwrap().ends_with('Z'), "{r}");
        status(v).await;
    }
    // A sixth, with a browser: the countdown page.
    let page = h.visitor().get("/register").await.text();
    assert!(page.contains("The doors open at"), "{page}");
    for _ in 0..5 {
        h.tick_after(10 * SEC).await;
    }
    assert_eq!(
        h.upstream.hits("/register"),
        0,
        "nobody reaches the site before the doors open"
    );
    assert_eq!(h.snapshot("reg").admitted, 0);
    let api = h.admin().get("/api/rooms/reg").await.json();
    assert_eq!(
        (api["mode"].as_str(), api["event"]["phase"].as_str()),
        (Some("prequeue"), Some("prequeue"))
    );
    assert_eq!(
        metric(&h.metrics().await, r#"vestibule_mode{mode="prequeue",room="reg"}"#),
        1.0
    );

    // The doors open: the event's capacity, in arrival order.
    h.tick_after(10 * SEC).await;
    for (i, v) in line.iter().enumerate() {
        let s = status(v).await;
        if i < 3 {
            assert_eq!(s["state"], "admitted", "{i}: {s}");
            assert!(v.get("/register").await.reached_upstream(), "{i}");
        } else {
            assert_eq!(
                (s["state"].as_str(), s["position"].as_u64()),
                (Some("queued"), Some(i as u64 - 2)),
                "{s}"
            );
        }
    }
    let latecomer = h.visitor();
    assert_eq!(
        latecomer.get_json("/register").await.json()["position"],
        4,
        "behind the pre-queue (two left of the five, and the sixth)"
    );
    assert_eq!(h.admin().get("/api/rooms/reg").await.json()["event"]["phase"], "open");

    // Over: closed; those inside finish what they started.
    h.tick_after(480 * SEC).await;
    assert_eq!(h.visitor().get_json("/register").await.json()["state"], "closed");
    assert_eq!(status(&line[4]).await["state"], "closed");
    assert!(line[0].get("/register").await.reached_upstream());
    let api = h.admin().get("/api/rooms/reg").await.json();
    assert_eq!(
        (api["mode"].as_str(), api["event"]["phase"].as_str()),
        (Some("closed"), Some("over"))
    );
}

/// An operator's mode wins over the schedule's, as over the file's: a
/// pre-queue opened early admits at once.
#[tokio::test]
async fn an_operator_may_open_the_doors_early() {
    let h = Harness::start(&room()).await;
    h.tick_after(60 * SEC).await;
    let v = h.visitor();
    assert_eq!(v.get_json("/register").await.json()["state"], "prequeue");
    status(&v).await;
    let r = h
        .admin()
        .send(
            http::Method::PATCH,
            "/api/rooms/reg",
            &[("content-type", "application/json")],
            r#"{"mode": "queue"}"#.into(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.tick_after(SEC).await;
    assert_eq!(status(&v).await["state"], "admitted");
}
