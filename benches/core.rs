//! Micro-benchmarks of the decisions on the request path: token signing and
//! verification, and the memory store's arrive / visit / tick.
//! Run: `cargo bench --bench core`. Figures belong in docs/BENCHMARKS.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use vestibule::store::memory::MemoryStore;
use vestibule::store::{Limits, Store};
use vestibule::token::{Keys, Kind, Token};

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

criterion_group!(benches, tokens, store);
criterion_main!(benches);
