//! The fair draw at an event's opening (`shuffle = true`): a keyed
//! permutation of the pre-queue's tickets.
//!
//! The tickets handed out in a pre-queue form a *block*, numbers
//! `lo + 1 ..= lo + size`. At the opening the block's size and a random key
//! are fixed and stored with the room; from then on each ticket of the
//! block has a drawn place, and the line's order is
//!
//! ```text
//! order(t) = t                                  outside the block
//!          = lo + 1 + permute(t - lo - 1)       inside it
//! ```
//!
//! a bijection on ticket numbers, so the admitted pointer walks *orders*
//! exactly as it walked ticket numbers: every ticket whose order is at or
//! below the pointer may enter; tickets after the block keep arrival order
//! behind it. Nothing per ticket is stored or sorted: a status poll
//! computes its own place, the scheduler computes which ticket holds the
//! next place ([`Draw::ticket`]).
//!
//! `permute` is a balanced Feistel network over the smallest even number
//! of bits that covers the block, made to fit the block exactly by
//! cycle-walking (a value outside the block is permuted again until it
//! falls inside: still a bijection, since it follows the permutation's own
//! cycles). Its round function is a 32-bit integer hash of the half and a
//! round key. The same arithmetic runs in the Redis script
//! (src/store/room.lua), which computes it with 32-bit operations on
//! doubles; both are held equal by a test over many keys and sizes.
//!
//! What the draw gives: arrival time inside the pre-queue makes no
//! difference to the place, the place cannot be re-rolled (it is a
//! function of the ticket number, which the cookie carries, signed), and
//! nobody can know it before the opening (the key is random, a new one
//! for each event, kept in the proxy's memory until the store takes it at
//! the opening). What it does
//! not prevent: one person holding many tickets (many browsers, many
//! addresses) gets many draws.

use serde::{Deserialize, Serialize};

/// Feistel rounds. Four make a pseudo-random permutation when the round
/// function is one; eight leave a margin for a hash that is not.
const ROUNDS: u32 = 8;

/// The largest block the permutation covers: 2^32 tickets (two 16-bit
/// halves, which the script's 32-bit arithmetic can hold). Tickets beyond
/// it keep arrival order.
pub const MAX_SIZE: u64 = 1 << 32;

/// Places of a drawn block the scheduler looks at in one tick, at most.
/// Presumed-dead tickets cannot be skipped by the run as in arrival order
/// (they are scattered), so each costs a look; this bounds one tick's work
/// (and the Redis script's time) whatever the block's size. Both stores
/// use it, so they walk alike.
pub const SCAN_PER_TICK: u64 = 1024;

/// A drawn block: tickets `lo + 1 ..= lo + size`, ordered by `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draw {
    pub lo: u64,
    pub size: u64,
    pub key: u64,
}

impl Draw {
    /// The block's last ticket (and last order).
    pub fn hi(&self) -> u64 {
        self.lo + self.size
    }

    /// Whether ticket (or order) `n` is in the block.
    pub fn contains(&self, n: u64) -> bool {
        n > self.lo && n <= self.hi()
    }

    /// Ticket `t`'s place in the line's order.
    pub fn order(&self, t: u64) -> u64 {
        if !self.contains(t) {
            return t;
        }
        self.lo + 1 + self.feistel().walk(t - self.lo - 1, self.size, Dir::Forward)
    }

    /// The ticket at order `k`: the inverse of [`Draw::order`].
    pub fn ticket(&self, k: u64) -> u64 {
        if !self.contains(k) {
            return k;
        }
        self.lo + 1 + self.feistel().walk(k - self.lo - 1, self.size, Dir::Back)
    }

    fn feistel(&self) -> Feistel {
        Feistel::new(self.key, self.size)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Forward,
    Back,
}

/// A balanced Feistel network over `2 * half` bits.
struct Feistel {
    half: u32,
    keys: [u32; ROUNDS as usize],
}

impl Feistel {
    fn new(key: u64, size: u64) -> Feistel {
        // Bits to number 0..size, rounded up to an even count, at least 2.
        let bits = 64 - size.saturating_sub(1).leading_zeros();
        let half = bits.div_ceil(2).max(1);
        debug_assert!(half <= 16, "a block of {size} is over MAX_SIZE");
        let k = [key as u32, (key >> 32) as u32];
        let keys = std::array::from_fn(|i| k[i % 2] ^ (i as u32 + 1).wrapping_mul(0x9e37_79b9));
        Feistel { half, keys }
    }

    fn round(&self, i: usize, x: u32) -> u32 {
        mix(x.wrapping_add(self.keys[i])) & self.mask()
    }

    fn mask(&self) -> u32 {
        (1 << self.half) - 1
    }

    fn once(&self, x: u64, dir: Dir) -> u64 {
        let (mut l, mut r) = ((x >> self.half) as u32, x as u32 & self.mask());
        match dir {
            Dir::Forward => {
                for i in 0..ROUNDS as usize {
                    (l, r) = (r, l ^ self.round(i, r));
                }
            }
            Dir::Back => {
                for i in (0..ROUNDS as usize).rev() {
                    (l, r) = (r ^ self.round(i, l), l);
                }
            }
        }
        (u64::from(l) << self.half) | u64::from(r)
    }

    /// `x` (below `size`) permuted within `0..size`: the network's domain
    /// is at most four times the block, so this takes under four rounds on
    /// average.
    fn walk(&self, mut x: u64, size: u64, dir: Dir) -> u64 {
        loop {
            x = self.once(x, dir);
            if x < size {
                return x;
            }
        }
    }
}

/// A 32-bit integer hash (Wellons' "lowbias32"): every input bit moves
/// about half the output bits.
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_size_is_a_bijection_with_its_inverse() {
        for size in (1..=300).chain([1023, 1024, 1025, 4097]) {
            for key in [0, 1, 0xdead_beef_0bad_f00d] {
                let d = Draw { lo: 1000, size, key };
                let mut seen = vec![false; size as usize];
                for t in d.lo + 1..=d.hi() {
                    let k = d.order(t);
                    assert!(k > d.lo && k <= d.hi(), "size {size}: {t} -> {k}");
                    assert!(!std::mem::replace(&mut seen[(k - d.lo - 1) as usize], true));
                    assert_eq!(d.ticket(k), t);
                }
                // Outside the block, the identity.
                for t in [0, 1, d.lo, d.hi() + 1, d.hi() + 50] {
                    assert_eq!((d.order(t), d.ticket(t)), (t, t));
                }
            }
        }
    }

    /// Spearman's rank correlation of arrival and drawn place.
    fn rank_correlation(d: &Draw) -> f64 {
        let n = d.size as f64;
        let sum_d2: f64 = (d.lo + 1..=d.hi())
            .map(|t| {
                let diff = t as f64 - d.order(t) as f64;
                diff * diff
            })
            .sum();
        1.0 - 6.0 * sum_d2 / (n * (n * n - 1.0))
    }

    #[test]
    fn arrival_says_nothing_about_the_drawn_place() {
        // Under no correlation, rho over n = 10,000 has a standard
        // deviation of 1/sqrt(n - 1) = 0.01: four of them is the noise.
        for key in [7, 0x1234_5678_9abc_def0, u64::MAX] {
            let d = Draw {
                lo: 0,
                size: 10_000,
                key,
            };
            let rho = rank_correlation(&d);
            assert!(rho.abs() < 0.04, "key {key:#x}: rho {rho}");
            // Nor do the first arrivals cluster at the front: the first
            // tenth of the line's arrivals spread over the whole block.
            let front: Vec<u64> = (1..=1000).map(|t| d.order(t)).collect();
            let mean = front.iter().sum::<u64>() as f64 / 1000.0;
            assert!((mean - 5000.0).abs() < 4.0 * 2887.0 / (1000f64).sqrt(), "mean {mean}");
        }
    }

    #[test]
    fn two_keys_give_different_orders() {
        let a = Draw {
            lo: 0,
            size: 10_000,
            key: 1,
        };
        let b = Draw {
            lo: 0,
            size: 10_000,
            key: 2,
        };
        let same = (1..=10_000).filter(|&t| a.order(t) == b.order(t)).count();
        // Two independent permutations agree on about one point.
        assert!(same < 10, "{same} tickets kept their place");
    }

    #[test]
    fn the_largest_block_still_inverts() {
        let d = Draw {
            lo: 5,
            size: MAX_SIZE,
            key: 99,
        };
        for t in [6, 7, 1 << 20, MAX_SIZE, MAX_SIZE + 5] {
            assert_eq!(d.ticket(d.order(t)), t);
        }
    }
}
