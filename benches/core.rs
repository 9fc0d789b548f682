//! Micro-benchmarks of the decisions on the request path: token signing and
//! verification, the gate's work for each kind of request (without the
//! sockets), the memory store's operations, and a scheduler tick over many
//! rooms. Run: `cargo bench --bench core`. Figures: docs/BENCHMARKS.md.

use std::path::Path;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use vestibule::page::{Pages, Waiting};
use vestibule::store::memory::MemoryStore;
use vestibule::store::{Limits, Store};
use vestibule::token::{Keys, Kind, Token};
use vestibule::{App, Clock, Config};

const NOW: u64 = 1_800_000_000_000;

fn config(rooms: usize) -> Config {
    let mut text = String::from("[server]\nupstream = \"http://127.0.0.1:9\"\n");
    for i in 0..rooms {
        text.push_str(&format!(
            "[[room]]\nname = \"room{i}\"\npaths = [\"/r{i}\"]\ncapacity = 1000\n"
        ));
    }
    Config::parse(&text, Path::new("."), "bench").expect("valid config")
}

/// The gate's work for each kind of request, minus sockets and proxying:
/// routing, the cookie scan, token verification, the cached-view decision,
/// and the answer body where one is built.
fn gate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = Keys::from_text("bench-secret-0123456789abcdef0123456789abcdef").expect("valid secret");
    let app = rt
        .block_on(App::new(&config(3), Clock::manual(NOW), keys))
        .expect("app");
    let rooms = app.rooms();
    let room = rooms.get("room1").expect("room").clone();
    let session = vestibule::cookie::session(app.keys(), &room, 7, NOW, true, false);
    let session = session
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let mut h = HeaderMap::new();
    h.insert(
        "cookie",
        format!("_ga=GA1.2.3; {session}; theme=dark").parse().expect("header"),
    );
    let ticket = Token {
        kind: Kind::Ticket,
        checked_in: true,
        epoch: room.view().snapshot.epoch,
        number: 5_000,
        stamp_ms: NOW,
        expires_ms: NOW + 86_400_000,
    };
    let tv = app.keys().sign("room1", &ticket);
    let mut th = HeaderMap::new();
    th.insert("cookie", format!("vst_room1={tv}").parse().expect("header"));
    let pages = Pages::new(None, std::sync::Arc::new(vestibule::lang::Catalog::built_in())).expect("pages");

    c.bench_function("gate/admitted session (route + verify + view)", |b| {
        b.iter(|| {
            let r = rooms.route(black_box("/r1/form")).ok().flatten().expect("room");
            let t = app.token(r, &h, NOW).expect("valid");
            black_box(r.view().snapshot.is_revoked(t.number))
        })
    });
    c.bench_function("gate/queued ticket (route + verify + position + JSON)", |b| {
        b.iter(|| {
            let r = rooms.route(black_box("/r1")).ok().flatten().expect("room");
            let t = app.token(r, &th, NOW).expect("valid");
            let view = r.view();
            let pos = view.snapshot.ahead(t.number, 0) + 1;
            let w = Waiting::new("room1", "Room", None, pos, false, r.eta_seconds(&view, pos - 1), 5, NOW);
            black_box(serde_json::to_string(&w).expect("json"))
        })
    });
    c.bench_function("gate/queued ticket, HTML waiting page", |b| {
        let w = Waiting::new("room1", "Room", None, 4_999, false, Some(600), 5, NOW);
        b.iter(|| black_box(pages.waiting(black_box(&w), 0, None)))
    });
    c.bench_function("gate/queued ticket, HTML waiting page in French", |b| {
        let w = Waiting::new("room1", "Room", None, 4_999, false, Some(600), 5, NOW);
        let fr = pages.catalog().find("fr").expect("built in");
        b.iter(|| black_box(pages.waiting(black_box(&w), fr, None)))
    });
    c.bench_function("lang/choose from Accept-Language", |b| {
        let mut h = HeaderMap::new();
        h.insert(
            "accept-language",
            "de-AT,de;q=0.9,en-US;q=0.8,en;q=0.7".parse().expect("header"),
        );
        b.iter(|| black_box(pages.choose(None, black_box(&h))))
    });
    c.bench_function("gate/new visitor (route + arrive + sign ticket)", |b| {
        let full = Limits {
            capacity: 0,
            ..room.limits(NOW)
        };
        b.iter(|| {
            let r = rooms.route(black_box("/r1")).ok().flatten().expect("room");
            let a = rt.block_on(app.store().arrive("room1", NOW, &full)).expect("arrive");
            let n = match a {
                vestibule::store::Arrival::Queued { ticket, .. } => ticket,
                vestibule::store::Arrival::Direct { number } => number,
            };
            black_box(vestibule::cookie::ticket(
                app.keys(),
                r,
                &Token { number: n, ..ticket },
                NOW,
                false,
            ))
        })
    });
    c.bench_function("gate/bypass (no room matches)", |b| {
        b.iter(|| black_box(rooms.route(black_box("/static/app.css")).is_ok_and(|r| r.is_none())))
    });
}

/// One scheduler step over 100 rooms, each with sessions and a line.
fn scheduler(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = Clock::manual(NOW);
    let keys = Keys::random();
    let app = rt.block_on(App::new(&config(100), clock.clone(), keys)).expect("app");
    for room in app.rooms().iter() {
        for _ in 0..1_100 {
            let _ = rt.block_on(app.store().arrive(room.name(), NOW, &room.limits(NOW)));
        }
    }
    c.bench_function("scheduler/tick, 100 rooms x 1000 sessions + 100 waiting", |b| {
        b.iter(|| {
            clock.advance(std::time::Duration::from_millis(1));
            rt.block_on(vestibule::scheduler::tick(&app))
        })
    });
}

fn tokens(c: &mut Criterion) {
    let keys = Keys::from_text("bench-secret-0123456789abcdef0123456789abcdef").expect("valid secret");
    let t = Token {
        kind: Kind::Session,
        checked_in: true,
        epoch: 7,
        number: 123_456,
        stamp_ms: 1_800_000_000_000,
        expires_ms: 1_800_000_600_000,
    };
    let signed = keys.sign("registration", &t);
    c.bench_function("token/sign", |b| {
        b.iter(|| keys.sign(black_box("registration"), black_box(&t)))
    });
    c.bench_function("token/verify", |b| {
        b.iter(|| keys.verify(black_box("registration"), black_box(&signed), 1_800_000_000_001))
    });
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let lim = Limits {
        capacity: 1_000,
        admit_per_minute: None,
        session_ttl_ms: 600_000,
        claim_grace_ms: 60_000,
        checkin_window_ms: 15_000,
        tick_ms: 1_000,
        mode: vestibule::config::RoomMode::Queue,
        max_session_ms: 0,
        draw: None,
    };
    let s = MemoryStore::new();
    let mut now = 1_800_000_000_000u64;
    c.bench_function("store/arrive (full room: issue ticket)", |b| {
        let full = Limits { capacity: 0, ..lim };
        b.iter(|| rt.block_on(s.arrive("full", now, &full)))
    });
    c.bench_function("store/visit (check in)", |b| {
        let mut t = 0;
        b.iter(|| {
            t += 1;
            rt.block_on(s.visit("full", t, now, &lim))
        })
    });
    c.bench_function("store/tick (1000 sessions)", |b| {
        for _ in 0..1_000 {
            let _ = rt.block_on(s.arrive("busy", now, &lim));
        }
        b.iter(|| {
            now += 1;
            rt.block_on(s.tick("busy", now, &lim))
        })
    });
}

/// A waiting visitor's place: in arrival order, and in a drawn block
/// (where it costs the permutation, twice: the cached check's order and
/// the estimate's), 50,000 in line, every one checked in.
fn draw(c: &mut Criterion) {
    use vestibule::store::{Draw, Snapshot};
    let n = 50_000u64;
    let marks: Vec<(u64, u64, u64)> = (0..=n / 64).map(|w| (w, u64::MAX, w * 64)).collect();
    let line = Snapshot {
        issued: n,
        admitted: 2_000,
        cleared: n,
        marks,
        ..Snapshot::default()
    };
    let d = Draw {
        lo: 0,
        size: n,
        key: 0x0123_4567_89ab_cdef,
    };
    let drawn = Snapshot {
        draw: Some(d),
        ..line.clone()
    };
    c.bench_function("draw/order (a block of 50,000)", |b| {
        let mut t = 0;
        b.iter(|| {
            t = t % n + 1;
            d.order(black_box(t))
        })
    });
    for (name, snap) in [("arrival order", &line), ("a drawn block", &drawn)] {
        c.bench_function(&format!("snapshot/order + ahead, {name} (50,000 waiting)"), |b| {
            let mut t = 2_000;
            b.iter(|| {
                t = t % (n - 2_000) + 2_001;
                (snap.order(black_box(t)) > 2_000).then(|| snap.ahead(t, 2_000))
            })
        });
    }
}

criterion_group!(benches, tokens, gate, store, scheduler, draw);
criterion_main!(benches);
