//! Admission behaviour over real HTTP: capacity, order, grace periods, dead
//! tickets, late returners, status JSON and metrics.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use support::{metric, position, CountingStore, Harness, Upstream, Visitor};

const SEC: Duration = Duration::from_secs(1);

fn room(capacity: u32) -> String {
    format!(
        r#"
        [[room]]
        name = "reg"
        title = "Registration"
        paths = ["/register"]
        capacity = {capacity}
        session_ttl = "60s"
        claim_grace = "20s"
        checkin_window = "10s"
        "#
    )
}

/// Checks in: the first status poll after getting a ticket.
async fn check_in(v: &Visitor) -> u64 {
    position(&v.get_json("/_vestibule/status").await)
}

async fn state(v: &Visitor) -> String {
    v.get_json("/_vestibule/status").await.json()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_metrics(text: &str, expected: &[(&str, f64)]) {
    for (series, value) in expected {
        assert_eq!(metric(text, series), *value, "{series}");
    }
}

fn assert_cap(h: &Harness, capacity: u64) {
    let s = h.snapshot("reg");
    assert!(s.active + s.reserved <= capacity, "cap exceeded: {s:?}");
}

#[tokio::test]
async fn below_capacity_everyone_passes_with_a_session_cookie() {
    let h = Harness::start(&room(2)).await;
    for _ in 0..2 {
        let v = h.visitor();
        let r = v.get("/register").await;
        assert!(r.reached_upstream(), "{}", r.text());
        assert!(v.cookie("vst_reg").is_some(), "session cookie set");
        let sc = r.header("set-cookie").unwrap();
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(sc.contains(attr), "{sc}");
        }
        // The session keeps working.
        assert!(v.get("/register/step2").await.reached_upstream());
    }
    assert_eq!(h.upstream.hits("/register"), 2);
    // Paths in no room are never gated.
    let anon = h.visitor();
    for _ in 0..5 {
        assert!(anon.get("/").await.reached_upstream());
    }
    assert!(anon.cookie("vst_reg").is_none());
}

#[tokio::test]
async fn at_capacity_visitors_queue_in_order_and_enter_in_that_order_as_sessions_expire() {
    let h = Harness::start(&room(2)).await;
    h.tick().await;
    let a = h.visitor();
    let b = h.visitor();
    for v in [&a, &b] {
        assert!(v.get("/register").await.reached_upstream());
        // A browser comes straight back (the next page, an asset), which
        // confirms the session for its full TTL.
        assert!(v.get("/register/form").await.reached_upstream());
    }

    let queued: Vec<Visitor> = (0..3).map(|_| h.visitor()).collect();
    for (i, v) in queued.iter().enumerate() {
        let r = v.get("/register").await;
        assert!(!r.reached_upstream());
        assert_eq!(r.status, 200);
        assert!(
            r.text().contains(&format!(r#"<dd id="position">{}</dd>"#, i + 1)),
            "{}",
            r.text()
        );
        assert!(r.header("retry-after").is_some());
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    for (i, v) in queued.iter().enumerate() {
        assert_eq!(check_in(v).await, i as u64 + 1);
    }
    let (c, d, e) = (&queued[0], &queued[1], &queued[2]);

    // B stays active; A goes idle.
    h.tick_after(40 * SEC).await;
    assert!(b.get("/register").await.reached_upstream());
    h.tick_after(21 * SEC).await; // T+61: A idle for 61 s
    assert_cap(&h, 2);
    assert_eq!(state(d).await, "queued");
    assert_eq!(check_in(d).await, 1, "D is next after C");
    assert_eq!(check_in(e).await, 2);
    assert_eq!(state(c).await, "admitted", "C goes first");
    assert!(c.get("/register").await.reached_upstream());
    assert!(!e.get("/register").await.reached_upstream());

    h.tick_after(40 * SEC).await; // T+101: B idle since T+40
    assert_cap(&h, 2);
    assert_eq!(state(e).await, "queued");
    assert_eq!(state(d).await, "admitted", "then D");
    assert!(d.get("/register").await.reached_upstream());

    h.tick_after(20 * SEC).await; // T+121: C idle since T+61
    assert_cap(&h, 2);
    assert_eq!(state(e).await, "admitted", "then E");
    assert!(e.get("/register").await.reached_upstream());
    // A, B, C, D, E: each reached the upstream through the gate, in order, never more than two at once.
    h.tick().await;
    assert_eq!(h.snapshot("reg").active, 2);
}

#[tokio::test]
async fn concurrent_new_visitors_get_exactly_capacity_slots() {
    const C: u64 = 5;
    const N: usize = 60;
    let h = Harness::start(&room(C as u32)).await;
    let mut tasks = Vec::new();
    for _ in 0..N {
        let v = h.visitor();
        tasks.push(tokio::spawn(async move { v.get("/register").await.reached_upstream() }));
    }
    let mut through = 0;
    for t in tasks {
        through += u64::from(t.await.unwrap());
    }
    assert_eq!(through, C);
    assert_eq!(h.upstream.hits("/register"), C);
    h.tick().await;
    let s = h.snapshot("reg");
    assert_eq!(s.active, C);
    assert_eq!(s.issued - s.admitted, (N as u64) - C, "everyone else holds a ticket");
}

#[tokio::test]
async fn an_unclaimed_admission_frees_its_slot_after_the_grace_period() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    let ghost = h.visitor();
    let c = h.visitor();
    ghost.get("/register").await;
    check_in(&ghost).await;
    c.get("/register").await;
    check_in(&c).await;

    a.get("/_vestibule/leave?room=reg").await;
    h.tick_after(SEC).await;
    assert_eq!(h.snapshot("reg").reserved, 1, "ghost's slot is reserved");
    assert_eq!(check_in(&c).await, 1);
    // The ghost never comes back.
    h.tick_after(19 * SEC).await;
    assert_eq!(state(&c).await, "queued", "still inside the grace period");
    h.tick_after(SEC).await;
    assert_cap(&h, 1);
    assert_eq!(state(&c).await, "admitted", "the line moved on");
    assert!(c.get("/register").await.reached_upstream());
}

#[tokio::test]
async fn a_cookie_less_flood_does_not_delay_a_real_visitor() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    // A script that drops cookies: every request is a new ticket, never used again.
    let flood = h.visitor();
    for _ in 0..1000 {
        let r = flood.get("/register").await;
        assert!(!r.reached_upstream());
        flood.forget_cookies();
    }
    let real = h.visitor();
    real.get("/register").await;
    assert_eq!(
        check_in(&real).await,
        1001,
        "flood tickets are young: they may still be people"
    );
    h.tick_after(SEC).await;
    // The room stays full for a while; the flood's tickets age past the window.
    h.tick_after(15 * SEC).await;
    assert_eq!(check_in(&real).await, 1, "dead tickets no longer count");
    assert_eq!(state(&real).await, "queued");
    // A slot frees: the very next tick admits the real visitor.
    a.get("/_vestibule/leave?room=reg").await;
    h.tick_after(SEC).await;
    assert_eq!(state(&real).await, "admitted");
    assert!(real.get("/register").await.reached_upstream());
    assert_eq!(h.upstream.hits("/register"), 2, "the flood never reached the upstream");
    h.tick().await;
    let s = h.snapshot("reg");
    assert_eq!(s.reserved, 0);
    assert_eq!(s.active, 1);
}

#[tokio::test]
async fn a_late_returner_takes_the_next_free_slot_ahead_of_the_line() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    a.get("/register").await;
    let (b, c, d) = (h.visitor(), h.visitor(), h.visitor());
    for v in [&b, &c, &d] {
        v.get("/register").await;
        check_in(v).await;
    }
    a.get("/_vestibule/leave?room=reg").await;
    h.tick_after(SEC).await; // B admitted, but B's phone is asleep
    h.tick_after(20 * SEC).await; // B's grace ends: C gets the slot
    assert_eq!(state(&c).await, "admitted");
    // B wakes up: no slot is free, but B is ahead of D.
    let r = b.get_json("/register").await;
    assert_eq!(r.json()["state"], "queued");
    assert_eq!(r.json()["returner"], true);
    assert_eq!(r.json()["position"], 1);
    h.tick_after(SEC).await; // no slot free: B stays registered; views learn of it
    assert_eq!(check_in(&d).await, 2, "D is behind the returner");
    c.get("/_vestibule/leave?room=reg").await;
    h.tick_after(SEC).await;
    assert_eq!(state(&d).await, "queued");
    assert_eq!(state(&b).await, "admitted", "B takes the freed slot before D");
    assert!(b.get("/register").await.reached_upstream());
    assert_cap(&h, 1);
}

#[tokio::test]
async fn a_queued_post_never_reaches_the_upstream() {
    let h = Harness::start(&room(1)).await;
    let a = h.visitor();
    a.get("/register").await;
    let q = h.visitor();
    q.get("/register").await;
    let r = q.post("/register", "name=Ada").await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert!(r.text().contains("not sent"), "{}", r.text());
    // An API client gets JSON saying the same.
    let r = q
        .send(
            http::Method::POST,
            "/register",
            &[("accept", "application/json")],
            "x".into(),
        )
        .await;
    assert_eq!(r.status, 503);
    assert!(r.json()["message"].as_str().unwrap().contains("not sent"));
    // A brand-new visitor's POST is parked too.
    let fresh = h.visitor();
    assert_eq!(fresh.post("/register", "name=Bob").await.status, 503);
    assert!(fresh.cookie("vst_reg").is_some(), "but keeps the place it was given");
    assert_eq!(h.upstream.hits("/register"), 1, "only A's GET");
}

#[tokio::test]
async fn status_json_for_queued_and_admitted() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    a.get("/register").await;
    let s = a.get_json("/_vestibule/status").await;
    assert_eq!(s.json()["state"], "admitted");
    assert_eq!(s.header("cache-control"), Some("no-store"));

    let q: Vec<Visitor> = (0..4).map(|_| h.visitor()).collect();
    for v in &q {
        v.get("/register").await;
    }
    let j = q[1].get_json("/_vestibule/status").await.json();
    assert_eq!(j["state"], "queued");
    assert_eq!(j["position"], 2);
    assert_eq!(
        j["eta_seconds"], 120,
        "nothing measured yet: the settings' pace, one slot turning over a 60 s session"
    );
    assert!(j["poll_after_seconds"].as_u64().unwrap() >= 1);
    for v in &q {
        check_in(v).await;
    }
    // Admit one visitor every 2 s for a while: the line's speed is now known.
    let mut inside = a.clone();
    for v in q.iter().take(3) {
        inside.get("/_vestibule/leave?room=reg").await;
        h.tick_after(2 * SEC).await;
        assert_eq!(state(v).await, "admitted");
        inside = v.clone();
    }
    let j = q[3].get_json("/_vestibule/status").await.json();
    assert_eq!(j["position"], 1);
    let eta = j["eta_seconds"].as_u64().expect("measured by now");
    assert!((1..=4).contains(&eta), "one admission per 2 s, next in line: {eta}");
    // No ticket at all.
    let none = h.visitor().get_json("/_vestibule/status").await;
    assert_eq!(none.status, 404);
    assert_eq!(none.json()["state"], "none");
}

#[tokio::test]
async fn metrics_report_the_scenario() {
    let h = Harness::start(&room(2)).await;
    h.tick().await;
    let vs: Vec<Visitor> = (0..5).map(|_| h.visitor()).collect();
    for v in &vs {
        v.get("/register").await;
    }
    for v in &vs[2..] {
        check_in(v).await;
    }
    h.visitor().get("/").await;
    h.tick_after(SEC).await;
    assert_metrics(
        &h.metrics().await,
        &[
            (r#"vestibule_capacity{room="reg"}"#, 2.0),
            (r#"vestibule_active_users{room="reg"}"#, 2.0),
            (r#"vestibule_queue_length{room="reg"}"#, 3.0),
            (r#"vestibule_tickets_issued_total{room="reg"}"#, 3.0),
            (r#"vestibule_admitted_total{room="reg",via="direct"}"#, 2.0),
            (r#"vestibule_requests_total{outcome="direct",room="reg"}"#, 2.0),
            (r#"vestibule_requests_total{outcome="queued",room="reg"}"#, 3.0),
            (r#"vestibule_requests_total{outcome="status",room="reg"}"#, 3.0),
            (r#"vestibule_requests_total{outcome="bypass",room="_none"}"#, 1.0),
            (r#"vestibule_upstream_duration_seconds_count{room="reg"}"#, 2.0),
        ],
    );

    vs[0].get("/_vestibule/leave?room=reg").await;
    h.tick_after(5 * SEC).await;
    assert_eq!(state(&vs[2]).await, "admitted");
    let m = h.metrics().await;
    assert_metrics(
        &m,
        &[
            (r#"vestibule_admitted_total{room="reg",via="queue"}"#, 1.0),
            (r#"vestibule_wait_seconds_count{room="reg"}"#, 1.0),
            (r#"vestibule_wait_seconds_sum{room="reg"}"#, 6.0),
            (r#"vestibule_queue_length{room="reg"}"#, 2.0),
            (r#"vestibule_upstream_errors_total{kind="connect",room="reg"}"#, 0.0),
        ],
    );
    assert!(m.contains("vestibule_config_reloads_total"));
}

#[tokio::test]
async fn admin_health_and_readiness() {
    let h = Harness::start(&room(1)).await;
    let admin = Visitor::new(h.running.admin_addr);
    assert_eq!(admin.get("/healthz").await.status, 200);
    assert_eq!(admin.get("/readyz").await.status, 200);
    assert_eq!(admin.get("/nope").await.status, 404);
    h.running.app.set_ready(false);
    assert_eq!(admin.get("/readyz").await.status, 503);
}

#[tokio::test]
async fn waiting_and_admitted_visitors_cost_no_store_round_trip() {
    let store = Arc::new(CountingStore::default());
    let calls = store.calls.clone();
    let h = Harness::with_store(Upstream::start().await, &room(1), "", Some(store)).await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    assert!(
        a.get("/register").await.reached_upstream(),
        "confirms the direct session (one store call)"
    );
    let queued: Vec<Visitor> = (0..3).map(|_| h.visitor()).collect();
    for v in &queued {
        v.get("/register").await;
        check_in(v).await;
    }
    let before = calls.per_request();
    for _ in 0..200 {
        for v in &queued {
            v.get_json("/_vestibule/status").await;
        }
    }
    for v in &queued {
        for _ in 0..20 {
            assert!(!v.get("/register").await.reached_upstream());
        }
    }
    for _ in 0..100 {
        assert!(a.get("/register").await.reached_upstream());
    }
    assert_eq!(
        calls.per_request(),
        before,
        "polls and admitted requests went to the store"
    );
    // Past half the session TTL, the admitted visitor's next request refreshes
    // the session once, and the refreshed cookie makes the following ones free again.
    h.clock.advance(Duration::from_secs(31));
    for _ in 0..10 {
        assert!(a.get("/register").await.reached_upstream());
    }
    assert_eq!(
        calls.touch.load(Ordering::SeqCst),
        2,
        "the confirmation, then one refresh"
    );
    assert_eq!(calls.per_request(), before + 1);
}

#[tokio::test]
async fn an_operator_template_replaces_the_waiting_page() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("waiting.html");
    std::fs::write(
        &tpl,
        "<title>{{ site_name }}</title><p id=pos>Place {{ position }} in {{ room_title }}</p>\
         <p>{{ eta_text }}; next check in {{ poll_after_seconds }}s via {{ status_url }}</p>",
    )
    .unwrap();
    let rooms = format!(
        "[page]\ntemplate = {:?}\nsite_name = \"Big Event\"\n{}",
        tpl.display().to_string(),
        room(1)
    );
    let h = Harness::start(&rooms).await;
    h.visitor().get("/register").await;
    let r = h.visitor().get("/register").await;
    let body = r.text();
    assert!(
        body.starts_with("<title>Big Event</title><p id=pos>Place 1 in Registration</p>"),
        "{body}"
    );
    // Auto-escaped like any HTML template (`/` becomes `&#x2f;`), which browsers decode.
    assert!(body.contains("_vestibule&#x2f;status?room=reg"), "{body}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // JSON clients are not affected by the template.
    assert_eq!(h.visitor().get_json("/register").await.json()["position"], 2);
}

#[tokio::test]
async fn cookie_less_requests_below_capacity_do_not_hold_slots() {
    let h = Harness::start(&room(3)).await;
    h.tick().await;
    // A script that drops cookies: each request is admitted directly...
    for _ in 0..3 {
        assert!(h.visitor().get("/register").await.reached_upstream());
    }
    // ...but never comes back, so after the grace period the slots are free again.
    h.tick_after(20 * SEC).await;
    assert_eq!(h.snapshot("reg").active, 0);
    let real = h.visitor();
    assert!(real.get("/register").await.reached_upstream());
    // A real browser's next request confirms its session, here for an
    // ungated asset: it keeps the slot for the full session TTL.
    assert!(real.get("/static/app.css").await.reached_upstream());
    h.tick_after(50 * SEC).await;
    assert_eq!(h.snapshot("reg").active, 1);
    assert!(real.get("/register").await.reached_upstream());
}

#[tokio::test]
async fn a_session_that_left_cannot_ride_on_its_old_cookie() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    a.get("/register").await;
    a.get("/register").await;
    let old_cookie = a.cookie("vst_reg").unwrap();
    let b = h.visitor();
    b.get("/register").await;
    check_in(&b).await;
    a.get("/_vestibule/leave?room=reg").await;
    assert!(a.cookie("vst_reg").is_none(), "the browser's cookie is cleared");
    h.tick_after(SEC).await;
    assert_eq!(state(&b).await, "admitted");
    // A client that kept the cookie anyway gets no second seat.
    a.set_cookie("vst_reg", &old_cookie);
    assert!(!a.get("/register").await.reached_upstream());
    assert!(b.get("/register").await.reached_upstream());
    assert_eq!(h.upstream.hits("/register"), 3, "A twice, then B");
}

#[tokio::test]
async fn a_kept_ticket_cookie_cannot_re_enter() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let first = h.visitor();
    first.get("/register").await;
    let a = h.visitor();
    a.get("/register").await;
    check_in(&a).await;
    let ticket = a.cookie("vst_reg").unwrap();
    first.get("/_vestibule/leave?room=reg").await;
    h.tick_after(SEC).await;
    assert!(a.get("/register").await.reached_upstream(), "A's turn");
    let b = h.visitor();
    b.get("/register").await;
    check_in(&b).await;
    a.get("/_vestibule/leave?room=reg").await;
    a.set_cookie("vst_reg", &ticket);
    let r = a.get("/register").await;
    assert!(!r.reached_upstream(), "the used ticket is void");
    h.tick_after(SEC).await;
    assert_eq!(state(&b).await, "admitted", "B is next, not the replayed ticket");
}

#[tokio::test]
async fn odd_spellings_of_a_room_path_are_gated() {
    let h = Harness::start(&room(0)).await;
    for p in [
        "/register",
        "/%72egister",
        "//register",
        "/x/../register",
        "/register;jsessionid=1",
        "/./register/a",
    ] {
        let r = h.visitor().get(p).await;
        assert!(!r.reached_upstream(), "{p} bypassed the room");
    }
    assert_eq!(h.upstream.total(), 0);
}

/// Visitors let straight in move the line's pointer between ticks: the
/// next visitor's place, first and on every poll before the tick, counts
/// nobody who already went in (issue 17: place 6 shown for place 1).
#[tokio::test]
async fn a_first_place_counts_nobody_let_straight_in() {
    let up = Upstream::start().await;
    let h = Harness::in_front_of(up, &room(5), "").await;
    for _ in 0..5 {
        assert!(h.visitor().get("/register").await.reached_upstream());
    }
    let sixth = h.visitor();
    let page = sixth.get_json("/register").await;
    assert!(!page.reached_upstream());
    assert_eq!(position(&page), 1, "the arrival's answer");
    assert_eq!(check_in(&sixth).await, 1, "the poll that checks in");
    assert_eq!(check_in(&sixth).await, 1, "a poll answered from the view");
    h.tick().await;
    assert_eq!(check_in(&sixth).await, 1, "after the tick");
}

/// (issue 16) The origin gives a slot back: an answer carrying
/// `Vestibule-Session: end` ends the visitor's session at once (their
/// cookie is cleared, and kept anyway it lets nobody in), the header never
/// reaches the client, and the next in line gets the slot at the next
/// tick. Both ways a session is forwarded: the walk (a provisional
/// session confirmed) and the fast path (a current session). The same
/// header sent by a client does nothing.
#[tokio::test]
async fn the_origin_ends_a_session_with_a_header() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let ended = async || {
        metric(
            &h.metrics().await,
            r#"vestibule_sessions_ended_total{by="origin",room="reg"}"#,
        )
    };
    for fast in [false, true] {
        let a = h.visitor();
        assert!(a.get("/register").await.reached_upstream(), "let straight in");
        if fast {
            // Confirmed: the next request is forwarded without a store
            // call. (Else the next is walked: the session is confirmed in
            // the store as it is forwarded.)
            a.get("/register").await;
        }
        let b = h.visitor();
        assert_eq!(b.get_json("/register").await.json()["position"], 1);
        check_in(&b).await;

        if fast {
            let forged = a
                .send(
                    http::Method::GET,
                    "/register",
                    &[("vestibule-session", "end")],
                    Default::default(),
                )
                .await;
            assert!(forged.reached_upstream());
            h.tick().await;
            assert_eq!(h.snapshot("reg").active, 1, "a client's header ends nothing");
        }
        let kept = a.cookie("vst_reg").unwrap();

        let done = a.get("/register/done?origin=end").await;
        assert!(done.reached_upstream(), "the origin's answer itself is delivered");
        assert_eq!(done.header("vestibule-session"), None, "never passed to the client");
        assert!(a.cookie("vst_reg").is_none(), "the cookie is cleared");
        support::eventually(5, "the session to end", async || {
            ended().await == (1 + fast as u64) as f64
        })
        .await;
        h.tick_after(SEC).await;
        assert_eq!(state(&b).await, "admitted", "the slot went to the next in line");
        a.set_cookie("vst_reg", &kept);
        assert!(
            !a.get("/register").await.reached_upstream(),
            "a kept cookie lets nobody in"
        );
        // B leaves, for the next round.
        b.get("/register").await;
        b.get("/_vestibule/leave?room=reg").await;
        a.forget_cookies();
        h.tick_after(SEC).await;
        h.tick_after(30 * SEC).await;
    }
    let m = h.metrics().await;
    assert_eq!(
        metric(&m, r#"vestibule_sessions_ended_total{by="leave",room="reg"}"#),
        2.0
    );
}

/// (issue 16) `max_session`: a session ends that long after admission,
/// however busy its visitor, and the next in line gets the slot; the old
/// cookie lets nobody in, and the end is counted.
#[tokio::test]
async fn a_session_ends_at_max_session_however_busy() {
    let h = Harness::start(&room(1).replace(
        "session_ttl = \"60s\"",
        "session_ttl = \"60s\"\n        max_session = \"30s\"",
    ))
    .await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    let b = h.visitor();
    b.get("/register").await;
    check_in(&b).await;
    for _ in 0..5 {
        h.tick_after(5 * SEC).await;
        assert!(a.get("/register").await.reached_upstream(), "busy within max_session");
    }
    let kept = a.cookie("vst_reg").unwrap();
    h.tick_after(5 * SEC).await;
    assert_eq!(state(&b).await, "admitted", "30 s after A began, the slot is B's");
    a.set_cookie("vst_reg", &kept);
    assert!(!a.get("/register").await.reached_upstream(), "A's session is over");
    assert!(b.get("/register").await.reached_upstream());
    let m = h.metrics().await;
    assert_eq!(
        metric(&m, r#"vestibule_sessions_ended_total{by="max_session",room="reg"}"#),
        1.0
    );
}

/// Another site cannot make a visitor leave: a link or redirect to
/// `/_vestibule/leave` from elsewhere (the browser says cross-site) ends
/// nothing; the site's own link does.
#[tokio::test]
async fn only_the_site_itself_can_make_a_visitor_leave() {
    let h = Harness::start(&room(1)).await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    let r = a
        .send(
            http::Method::GET,
            "/_vestibule/leave?room=reg&return_to=/x",
            &[("sec-fetch-site", "cross-site")],
            Default::default(),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/x"));
    assert!(r.header("set-cookie").is_none(), "the cookie is kept");
    h.tick_after(SEC).await;
    assert_eq!(h.snapshot("reg").active, 1, "still inside");
    assert!(a.get("/register").await.reached_upstream());
    // A browser without Fetch Metadata: another host in Referer or Origin
    // (or one that cannot be read) is another site, and so is a
    // navigation that says nothing of where it came from (a link with
    // rel=noreferrer).
    let here = format!("http://{}", h.running.addrs[0]);
    for elsewhere in [
        ("referer", "https://evil.test/page"),
        ("origin", "https://evil.test"),
        ("origin", "null"),
        ("referer", "not a url"),
        ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
    ] {
        let r = a
            .send(
                http::Method::GET,
                "/_vestibule/leave?room=reg",
                &[elsewhere],
                Default::default(),
            )
            .await;
        assert_eq!(r.status, http::StatusCode::SEE_OTHER);
        assert!(r.header("set-cookie").is_none(), "{elsewhere:?}: the cookie is kept");
    }
    h.tick_after(SEC).await;
    assert_eq!(h.snapshot("reg").active, 1, "still inside");
    let own_page = format!("{here}/register/done");
    for (why, headers) in [
        (
            "the site's own page, by Referer",
            [("referer", own_page.as_str()), ("accept", "text/html,*/*;q=0.8")],
        ),
        (
            "Fetch Metadata, where sent, decides",
            [("sec-fetch-site", "same-origin"), ("referer", "https://evil.test/")],
        ),
        (
            "an app's own request (it takes no HTML) is taken at its word",
            [("accept", "application/json"), ("user-agent", "app/1.0")],
        ),
    ] {
        assert!(a.get("/register").await.reached_upstream());
        let r = a
            .send(
                http::Method::GET,
                "/_vestibule/leave?room=reg",
                &headers,
                Default::default(),
            )
            .await;
        assert!(r.header("set-cookie").is_some(), "{why}");
        h.tick_after(SEC).await;
        assert_eq!(h.snapshot("reg").active, 0, "{why}: left");
    }
}
