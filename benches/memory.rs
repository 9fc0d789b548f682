//! Resident memory against queue length: the queue is stateless, so a
//! million waiting tickets should cost next to nothing.
//!
//! ```text
//! cargo bench --bench memory
//! ```
//!
//! One process, one room of the memory store, the scheduler's view
//! published as in production. Reports the resident set (VmRSS) after:
//! nothing; 100k and 1M tickets issued (never back); the same tickets all
//! checked in (each polled once); and 100k active sessions. Under
//! `cargo test` it runs a small version as a smoke test.

use std::path::Path;

use vestibule::store::Arrival;
use vestibule::token::Keys;
use vestibule::{App, Clock, Config};

const NOW: u64 = 1_800_000_000_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn app(capacity: u64, rt: &tokio::runtime::Runtime, clock: &Clock) -> App {
    let text = format!(
        "[server]\nupstream = \"http://127.0.0.1:9\"\n[[room]]\nname = \"r\"\npaths = [\"/r\"]\ncapacity = {capacity}\n\
         session_ttl = \"1h\"\ncheckin_window = \"1h\"\n"
    );
    let cfg = Config::parse(&text, Path::new("."), "bench").expect("config");
    rt.block_on(App::new(&cfg, clock.clone(), Keys::random())).expect("app")
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let scale: u64 = if smoke { 10 } else { 1 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = Clock::manual(NOW);

    let mut rows = Vec::new();
    let mut row = |what: String, base: u64| {
        let now = rss_kib();
        rows.push((what, now, now.saturating_sub(base)));
    };
    let base = rss_kib();
    let a = app(0, &rt, &clock);
    rt.block_on(vestibule::scheduler::tick(&a));
    row("empty room".into(), base);
    let base = rss_kib();
    let room = a.room("r").expect("room");
    let mut issued = 0u64;
    for target in [100_000 / scale, 1_000_000 / scale] {
        while issued < target {
            match rt
                .block_on(a.store().arrive("r", NOW, &room.limits(NOW)))
                .expect("arrive")
            {
                Arrival::Queued { .. } => issued += 1,
                Arrival::Direct { .. } => unreachable!("capacity 0"),
            }
        }
        rt.block_on(vestibule::scheduler::tick(&a));
        row(format!("{issued} tickets issued, never back"), base);
    }
    for t in 1..=issued {
        rt.block_on(a.store().visit("r", t, NOW, &room.limits(NOW)))
            .expect("visit");
    }
    clock.advance(std::time::Duration::from_secs(1));
    rt.block_on(vestibule::scheduler::tick(&a));
    row(format!("{issued} tickets, all checked in"), base);
    drop(a);

    // Sessions: a room with space for everyone.
    let sessions = 100_000 / scale;
    let base_s = rss_kib();
    let b = app(sessions, &rt, &clock);
    let room = b.room("r").expect("room");
    for _ in 0..sessions {
        rt.block_on(b.store().arrive("r", NOW, &room.limits(NOW)))
            .expect("arrive");
    }
    rt.block_on(vestibule::scheduler::tick(&b));
    let now = rss_kib();
    let per = (now.saturating_sub(base_s)) as f64 * 1024.0 / sessions as f64;

    println!("| state | VmRSS | more than the empty room |");
    println!("|---|---|---|");
    for (what, rss, delta) in &rows {
        println!(
            "| {what} | {:.1} MiB | {:.2} MiB |",
            *rss as f64 / 1024.0,
            *delta as f64 / 1024.0
        );
    }
    println!(
        "| {sessions} active sessions | {:.1} MiB | {per:.0} bytes per session |",
        now as f64 / 1024.0
    );
}
