//! The tick loop runs on tokio time: with the clock paused, a test moves
//! through minutes of sessions and admissions without sleeping for real.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vestibule::store::{Arrival, Visit};
use vestibule::token::Keys;
use vestibule::{App, Clock, Config};

#[tokio::test(start_paused = true)]
async fn ticks_expire_sessions_and_admit_the_line_under_paused_time() {
    let cfg = Config::parse(
        r#"
        [server]
        upstream = "http://127.0.0.1:9"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 1
        session_ttl = "10s"
        "#,
        Path::new("."),
        "test",
    )
    .unwrap();
    let app = Arc::new(App::new(&cfg, Clock::system(), Keys::random()).await.unwrap());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(vestibule::scheduler::run(app.clone(), Duration::from_secs(1), stop_rx));

    let room = app.room("reg").unwrap();
    let now = app.clock().now_ms();
    let first = app.store().arrive("reg", now, &room.limits(now)).await.unwrap();
    assert_eq!(first, Arrival::Direct { number: 1 });
    let Arrival::Queued { ticket, .. } = app.store().arrive("reg", now, &room.limits(now)).await.unwrap() else {
        panic!("the room is full")
    };
    assert!(matches!(
        app.store().visit("reg", ticket, now, &room.limits(now)).await.unwrap(),
        Visit::Waiting { .. }
    ));

    tokio::time::sleep(Duration::from_millis(9_500)).await;
    let s = room.view().snapshot.clone();
    assert_eq!((s.active, s.admitted), (1, 1), "session alive for 9.5 s of its 10");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = room.view().snapshot.clone();
    assert_eq!(s.active, 0, "idle session expired by a tick");
    assert_eq!((s.reserved, s.admitted), (1, ticket), "and the slot went to the line");

    stop.send(true).unwrap();
    task.await.unwrap();
}
