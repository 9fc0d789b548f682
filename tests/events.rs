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

/// `shuffle = true`: the pre-queue's places are drawn at the opening. Before
/// it the page and the JSON have no place to give; from the opening the
/// 200 who joined are let in as a permutation of themselves, in an order
/// arrival does not predict, each exactly once, and those who came after
/// the opening only after all of them.
#[tokio::test]
async fn a_shuffled_pre_queue_is_let_in_in_a_drawn_order() {
    let rooms = room()
        .replace("capacity = 3\n", "capacity = 10\n        shuffle = true\n")
        .replace("checkin_window = \"1h\"", "checkin_window = \"30s\"");
    let h = Harness::start(&rooms).await;
    h.tick_after(60 * SEC).await;
    let line: Vec<Visitor> = (0..200).map(|_| h.visitor()).collect();
    for v in &line {
        let r = v.get_json("/register").await.json();
        assert_eq!(
            (r["state"].as_str(), r["shuffle"].as_bool()),
            (Some("prequeue"), Some(true)),
            "{r}"
        );
        assert!(r["position"].is_null() && r["eta_seconds"].is_null(), "{r}");
        status(v).await;
    }
    let page = h.visitor().get("/register").await.text();
    assert!(page.contains("drawn at random"), "{page}");
    let api = h.admin().get("/api/rooms/reg").await.json();
    assert_eq!(
        (api["event"]["shuffle"].as_bool(), &api["draw"]),
        (Some(true), &serde_json::Value::Null)
    );

    // The doors open. (The page's visitor came once and never back: a
    // pass, no ticket, not in the draw.)
    h.tick_after(60 * SEC).await;
    let late: Vec<Visitor> = (0..5).map(|_| h.visitor()).collect();
    for v in &late {
        let r = v.get_json("/register").await.json();
        assert_eq!(r["state"], "queued", "{r}");
        assert!(r["position"].as_u64().unwrap() > 150, "behind the drawn block: {r}");
    }
    let api = h.admin().get("/api/rooms/reg").await.json();
    assert_eq!(api["draw"]["size"], 200, "{api}");
    assert_eq!(api["draw"]["first_ticket"], 1, "{api}");

    // Let everyone in, ten a tick, each leaving at once.
    let everyone: Vec<&Visitor> = line.iter().chain(&late).collect();
    let mut turn = vec![None; everyone.len()];
    let mut round = 0;
    while turn.iter().any(Option::is_none) {
        round += 1;
        assert!(round < 60, "the line stopped");
        for (i, v) in everyone.iter().enumerate() {
            if turn[i].is_some() {
                continue;
            }
            let s = status(v).await;
            if s["state"] == "queued" {
                assert_eq!(s["drawn"].as_bool(), (i < 200).then_some(true), "{i}: {s}");
            }
            match s["state"].as_str() {
                Some("admitted") => {
                    assert!(v.get("/register").await.reached_upstream(), "{i}");
                    v.get("/_vestibule/leave?room=reg").await;
                    turn[i] = Some(round);
                }
                Some("queued") => {}
                _ => panic!("{i}: {s}"),
            }
        }
        h.tick_after(SEC).await;
    }
    assert_eq!(h.upstream.hits("/register"), 205, "each let in once");
    let last_drawn = turn[..200].iter().max().unwrap();
    let first_late = turn[200..].iter().min().unwrap();
    assert!(
        first_late >= last_drawn,
        "after the opening, behind the block: {turn:?}"
    );
    // Spearman's rho between arrival and turn: near 0 for a fair draw
    // (its noise over 200 is 0.07); arrival order would give about 1.
    let turns: Vec<f64> = turn[..200].iter().map(|t| t.unwrap() as f64).collect();
    let rho = rank_correlation(&turns);
    assert!(rho.abs() < 0.3, "rho {rho}: {turns:?}");
}

/// Spearman's rank correlation of index and value (ties take the mean rank).
fn rank_correlation(v: &[f64]) -> f64 {
    let n = v.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut rank = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for k in i..=j {
            rank[idx[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    let mean = (n - 1) as f64 / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in rank.iter().enumerate() {
        let (dx, dy) = (x as f64 - mean, y - mean);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    sxy / (sxx * syy).sqrt()
}

/// In a drawn pre-queue, a client that never comes back with its cookie
/// (a crawler, a script) gets a pass and costs the store nothing: 2,000 of
/// them leave no ticket, and the 20 people among them are drawn and let
/// in at the opening, without a look at the others.
#[tokio::test]
async fn clients_without_cookies_cost_a_drawn_pre_queue_nothing() {
    let rooms = room()
        .replace("capacity = 3\n", "capacity = 20\n        shuffle = true\n")
        .replace("checkin_window = \"1h\"", "checkin_window = \"30s\"");
    let h = Harness::start(&rooms).await;
    h.tick_after(60 * SEC).await;
    let people: Vec<Visitor> = (0..20).map(|_| h.visitor()).collect();
    for i in 0..2000 {
        let bot = h.visitor();
        let r = bot.get_json("/register").await.json();
        assert!(r["state"] == "prequeue" && r["position"].is_null(), "{r}");
        assert_eq!(r["poll_after_seconds"], 1, "a pass comes back at once: {r}");
        if i % 100 == 0 {
            let v = &people[i / 100];
            v.get("/register").await;
            // Back with the pass: a ticket; back with the ticket: checked in.
            assert_eq!(status(v).await["state"], "prequeue");
            assert_eq!(status(v).await["state"], "prequeue");
        }
    }
    h.tick().await;
    assert_eq!(
        h.snapshot("reg").issued,
        20,
        "a ticket for each who came back, none for the rest"
    );
    assert_eq!(
        metric(&h.metrics().await, r#"vestibule_tickets_issued_total{room="reg"}"#),
        20.0
    );
    h.tick_after(60 * SEC).await;
    for (i, v) in people.iter().enumerate() {
        assert_eq!(status(v).await["state"], "admitted", "{i}");
        assert!(v.get("/register").await.reached_upstream());
    }
}

/// (Review.) A pass replayed gets a ticket each time, never a live one:
/// at the opening the slots go to the people who came back with their
/// tickets, not to the 500 copies of one pass.
#[tokio::test]
async fn a_replayed_pass_gets_no_slot() {
    let rooms = room()
        .replace("capacity = 3\n", "capacity = 20\n        shuffle = true\n")
        .replace("checkin_window = \"1h\"", "checkin_window = \"30s\"");
    let h = Harness::start(&rooms).await;
    h.tick_after(60 * SEC).await;
    let bot = h.visitor();
    bot.get_json("/register").await;
    let pass = bot.cookie("vst_reg").expect("a pass");
    for i in 0..500 {
        let replay = h.visitor();
        replay.set_cookie("vst_reg", &pass);
        if i % 2 == 0 {
            status(&replay).await;
        } else {
            replay.get_json("/register").await;
        }
    }
    let people: Vec<Visitor> = (0..20).map(|_| h.visitor()).collect();
    for v in &people {
        v.get("/register").await;
        status(v).await;
        assert_eq!(status(v).await["state"], "prequeue");
    }
    h.tick().await;
    assert_eq!(h.snapshot("reg").issued, 520, "a ticket for each replay");
    h.tick_after(60 * SEC).await;
    for (i, v) in people.iter().enumerate() {
        assert_eq!(status(v).await["state"], "admitted", "{i}");
    }
}
