//! The fuzz targets ([`vestibule::fuzz`]) in every test run: each over its
//! committed corpus (`fuzz/corpus/TARGET/`: seeds from the tests, and what
//! the long AFL++ runs of `scripts/fuzz` found), then a bounded run of
//! random mutations of it. The long, coverage-guided runs are
//! `scripts/fuzz`'s; this keeps what they found from coming back, and
//! tries a little more at each change. `VESTIBULE_FUZZ_ITERS` sets the
//! mutations per target (default 10,000).

#![allow(clippy::unwrap_used)]

use std::path::Path;

/// A small, seeded generator: the same run every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to the parsers, for insertions.
const INTERESTING: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"%2F",
    b"%2f",
    b"%5C",
    b"\\",
    b";",
    b"..",
    b"/",
    b"%00",
    b"%",
    b":",
    b"=",
    b",",
    b"chunked",
    b"0\r\n\r\n",
    b"content-length: ",
    b"transfer-encoding: ",
    b"host: ",
    b"cookie: vst_reg=",
    b"\"",
    b"[",
    b"]",
    b"ffffffffffffffff",
    b"\xff",
    b"\0",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(8).min(v.len() - i);
                v.drain(i..i + n);
            }
            2 => {
                let i = rng.below(v.len() + 1);
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(i..i, ins.iter().copied());
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            4 if !other.is_empty() => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(other.len());
                let n = rng.below(32).min(other.len() - j);
                v.splice(i..i, other[j..j + n].iter().copied());
            }
            _ if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(16).min(v.len() - i);
                let piece = v[i..i + n].to_vec();
                v.splice(i..i, piece);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds.into_iter().map(|(_, b)| b).collect()
}

#[test]
fn every_target_holds_over_its_corpus_and_mutations_of_it() {
    let iters: usize = std::env::var("VESTIBULE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for &(name, target) in vestibule::fuzz::TARGETS {
        let seeds = corpus(name);
        for seed in &seeds {
            target(seed);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for _ in 0..iters {
            let seed = &seeds[rng.below(seeds.len())];
            let other = &seeds[rng.below(seeds.len())];
            let input = mutate(&mut rng, seed, other);
            let run = std::panic::catch_unwind(|| target(&input));
            assert!(
                run.is_ok(),
                "fuzz target {name} failed on {:?} (add it to fuzz/corpus/{name}/ once fixed)",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
