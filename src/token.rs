//! Signed tickets and sessions.
//!
//! A visitor's place in line lives in a cookie, not on the server: the
//! ticket number inside a token that only vestibule can sign. Layout (32
//! bytes, then a 16-byte tag, base64url without padding, 64 characters):
//!
//! ```text
//! 0     version (1)
//! 1     key id   (first byte of SHA-256 of the signing secret)
//! 2     kind     (1 ticket, 2 session)
//! 3     flags    (bit 0: checked in)
//! 4..8  epoch    (the room state the number belongs to)
//! 8..16 number   (ticket number; a session keeps its ticket's number)
//! 16..24 stamp   (ms: ticket arrival, or the session's last refresh)
//! 24..32 expires (ms)
//! 32..48 HMAC-SHA256("vestibule-token\0" || room || "\0" || bytes 0..32), first 16 bytes
//! ```
//!
//! The room name is part of the MAC input, so a token from one room is
//! garbage in another. The tag is compared in constant time
//! (`Mac::verify_truncated_left`). Several secrets can be loaded: the last one
//! signs, all verify, so a secret is rotated by appending a new one and
//! removing the old one after the longest ticket lifetime.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::clock::Millis;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const PAYLOAD: usize = 32;
const TAG: usize = 16;
const RAW: usize = PAYLOAD + TAG;
/// Length of an encoded token.
pub const ENCODED_LEN: usize = 64;
const DOMAIN: &[u8] = b"vestibule-token\0";
/// Shortest secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 32;

/// What a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A place in line.
    Ticket,
    /// An admitted visitor.
    Session,
}

/// The signed content of a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// A ticket whose holder has come back once (the store knows it is live).
    pub checked_in: bool,
    /// Room state generation; a token from another generation is void.
    pub epoch: u32,
    /// Ticket number (and session id).
    pub number: u64,
    /// Ticket: arrival time. Session: last refresh in the store.
    pub stamp_ms: Millis,
    /// After this the token is void.
    pub expires_ms: Millis,
}

/// Why a token was refused. Callers treat every case as "no token"; the
/// reason is kept for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("malformed")]
    Malformed,
    #[error("unknown version")]
    Version,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
}

/// Errors loading secrets.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no secret given")]
    Empty,
    #[error("secret #{0} is {1} bytes; at least {MIN_SECRET_LEN} are required")]
    TooShort(usize, usize),
}

#[derive(Clone)]
struct Key {
    id: u8,
    /// Pre-keyed state: cloning it skips re-hashing the key pads per token.
    mac: HmacSha256,
}

/// The secrets in use: the last signs, all verify.
#[derive(Clone)]
pub struct Keys {
    keys: Vec<Key>,
    /// Identifies this set of keys in the verification cache.
    id: u64,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("count", &self.keys.len()).finish()
    }
}

impl Keys {
    /// Builds keys from secrets, oldest first; the last one signs.
    pub fn new<S: AsRef<[u8]>>(secrets: &[S]) -> Result<Keys, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut keys = Vec::with_capacity(secrets.len());
        for (i, s) in secrets.iter().enumerate() {
            let s = s.as_ref();
            if s.len() < MIN_SECRET_LEN {
                return Err(KeyError::TooShort(i + 1, s.len()));
            }
            let id = Sha256::digest(s)[0];
            let mac = <HmacSha256 as Mac>::new_from_slice(s).expect("HMAC takes keys of any length");
            keys.push(Key { id, mac });
        }
        Ok(Keys {
            keys,
            id: rand::random(),
        })
    }

    /// Parses a secret file or variable: secrets separated by whitespace.
    pub fn from_text(text: &str) -> Result<Keys, KeyError> {
        let secrets: Vec<&str> = text.split_whitespace().collect();
        Keys::new(&secrets)
    }

    /// A random key, for the demo and for runs without a configured secret
    /// (tokens then do not survive a restart).
    pub fn random() -> Keys {
        let secret: [u8; 32] = rand::random();
        Keys::new(&[secret]).expect("32 random bytes is a valid secret")
    }

    fn signer(&self) -> &Key {
        self.keys.last().expect("Keys::new refuses an empty list")
    }

    fn tag(key: &Key, room: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = key.mac.clone();
        mac.update(DOMAIN);
        mac.update(room.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// Signs a token for `room`.
    pub fn sign(&self, room: &str, t: &Token) -> String {
        let key = self.signer();
        let mut raw = [0u8; RAW];
        raw[0] = VERSION;
        raw[1] = key.id;
        raw[2] = match t.kind {
            Kind::Ticket => 1,
            Kind::Session => 2,
        };
        raw[3] = u8::from(t.checked_in);
        raw[4..8].copy_from_slice(&t.epoch.to_be_bytes());
        raw[8..16].copy_from_slice(&t.number.to_be_bytes());
        raw[16..24].copy_from_slice(&t.stamp_ms.to_be_bytes());
        raw[24..32].copy_from_slice(&t.expires_ms.to_be_bytes());
        let tag = Keys::tag(key, room, &raw[..PAYLOAD]).finalize().into_bytes();
        raw[PAYLOAD..].copy_from_slice(&tag[..TAG]);
        let mut out = String::with_capacity(ENCODED_LEN);
        URL_SAFE_NO_PAD.encode_string(raw, &mut out);
        out
    }

    /// Verifies a token for `room` at time `now`. Anything wrong is an error;
    /// nothing about a refused token is trusted.
    pub fn verify(&self, room: &str, s: &str, now: Millis) -> Result<Token, Invalid> {
        if s.len() != ENCODED_LEN {
            return Err(Invalid::Malformed);
        }
        let mut raw = [0u8; RAW];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut raw) {
            Ok(RAW) => {}
            _ => return Err(Invalid::Malformed),
        }
        if raw[0] != VERSION {
            return Err(Invalid::Version);
        }
        let (payload, tag) = raw.split_at(PAYLOAD);
        // Several keys may share an id byte; try each candidate.
        let ok = self
            .keys
            .iter()
            .filter(|k| k.id == raw[1])
            .any(|k| Keys::tag(k, room, payload).verify_truncated_left(tag).is_ok());
        if !ok {
            return Err(Invalid::Signature);
        }
        let kind = match raw[2] {
            1 => Kind::Ticket,
            2 => Kind::Session,
            _ => return Err(Invalid::Malformed),
        };
        let u64_at = |i: usize| u64::from_be_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        let t = Token {
            kind,
            checked_in: raw[3] & 1 == 1,
            epoch: u32::from_be_bytes(raw[4..8].try_into().expect("4 bytes")),
            number: u64_at(8),
            stamp_ms: u64_at(16),
            expires_ms: u64_at(24),
        };
        if now >= t.expires_ms {
            return Err(Invalid::Expired);
        }
        Ok(t)
    }
}

/// Slots in each thread's cache of verified tokens.
const CACHE_SLOTS: usize = 256;

/// A token this thread verified: its exact text, room and keys.
#[derive(Clone, Copy)]
struct Verified {
    keys: u64,
    room_hash: u64,
    text: [u8; ENCODED_LEN],
    token: Token,
}

thread_local! {
    /// Most requests on a keep-alive connection carry the cookie the last
    /// one did; verifying it again would cost two SHA-256 blocks (1.9 µs on
    /// a CPU without SHA instructions, about 5 % of an admitted request).
    static VERIFIED: std::cell::RefCell<Vec<Option<Verified>>> =
        std::cell::RefCell::new(vec![None; CACHE_SLOTS]);
}

/// The key a room's entries in the per-thread cache carry (see
/// [`Keys::verify_cached`]); [`crate::room::Room`] works it out once.
pub fn room_hash(room: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    room.hash(&mut h);
    h.finish()
}

impl Keys {
    /// [`Keys::verify`], remembering successes per thread. A hit needs the
    /// same keys, the same room and byte-for-byte the same text that
    /// verified before, so the answer is the one `verify` would give; the
    /// expiry is checked again on every call.
    pub fn verify_cached(&self, room: &str, s: &str, now: Millis) -> Result<Token, Invalid> {
        self.verify_cached_keyed(room, room_hash(room), s, now)
    }

    /// [`Keys::verify_cached`] with the room's cache key (`room_hash(room)`)
    /// worked out already: hashing the name was a tenth of the lookup.
    pub fn verify_cached_keyed(&self, room: &str, rh: u64, s: &str, now: Millis) -> Result<Token, Invalid> {
        if s.len() != ENCODED_LEN {
            return Err(Invalid::Malformed);
        }
        // The slot comes from the text's last characters (the MAC): spread
        // well for real tokens; a crafted collision only causes a miss.
        let b = s.as_bytes();
        let slot = u64::from_le_bytes(b[ENCODED_LEN - 8..].try_into().expect("8 bytes")) as usize % CACHE_SLOTS;
        let hit = VERIFIED.with(|c| match c.borrow()[slot] {
            Some(v) if v.keys == self.id && v.room_hash == rh && v.text == b => Some(v.token),
            _ => None,
        });
        if let Some(t) = hit {
            return if now >= t.expires_ms {
                Err(Invalid::Expired)
            } else {
                Ok(t)
            };
        }
        let t = self.verify(room, s, now)?;
        let mut text = [0u8; ENCODED_LEN];
        text.copy_from_slice(b);
        VERIFIED.with(|c| {
            c.borrow_mut()[slot] = Some(Verified {
                keys: self.id,
                room_hash: rh,
                text,
                token: t,
            })
        });
        Ok(t)
    }
}

/// True if `s` looks like a session token not yet confirmed, judged from
/// its first bytes without verifying it. Lets a request on an ungated path
/// skip the MAC entirely in the common case; a positive answer must still be
/// verified with [`Keys::verify`].
pub fn looks_like_provisional_session(s: &str) -> bool {
    let mut head = [0u8; 6];
    s.len() == ENCODED_LEN
        && URL_SAFE_NO_PAD.decode_slice(&s.as_bytes()[..8], &mut head).is_ok()
        && head[0] == VERSION
        && head[2] == 2
        && head[3] & 1 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef-a";
    const B: &str = "0123456789abcdef0123456789abcdef-b";

    fn ticket() -> Token {
        Token {
            kind: Kind::Ticket,
            checked_in: false,
            epoch: 7,
            number: 42,
            stamp_ms: 1_000,
            expires_ms: 10_000,
        }
    }

    #[test]
    fn round_trip() {
        let k = Keys::new(&[A]).unwrap();
        let s = k.sign("reg", &ticket());
        assert_eq!(s.len(), ENCODED_LEN);
        assert_eq!(k.verify("reg", &s, 5_000), Ok(ticket()));
    }

    #[test]
    fn expired_other_room_tampered_truncated_are_refused() {
        let k = Keys::new(&[A]).unwrap();
        let s = k.sign("reg", &ticket());
        assert_eq!(k.verify("reg", &s, 10_000), Err(Invalid::Expired));
        assert_eq!(k.verify("other", &s, 5_000), Err(Invalid::Signature));
        assert_eq!(k.verify("reg", &s[..63], 5_000), Err(Invalid::Malformed));
        assert_eq!(k.verify("reg", "", 5_000), Err(Invalid::Malformed));
        // Flip every payload character in turn: none may verify.
        for i in 0..ENCODED_LEN {
            let mut b = s.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(b).unwrap();
            assert!(k.verify("reg", &t, 5_000).is_err(), "position {i}");
        }
    }

    #[test]
    fn other_secret_is_refused() {
        let s = Keys::new(&[A]).unwrap().sign("reg", &ticket());
        assert_eq!(
            Keys::new(&[B]).unwrap().verify("reg", &s, 5_000),
            Err(Invalid::Signature)
        );
    }

    #[test]
    fn rotation_verifies_old_signs_new() {
        let old = Keys::new(&[A]).unwrap();
        let both = Keys::new(&[A, B]).unwrap();
        let new = Keys::new(&[B]).unwrap();
        let from_old = old.sign("reg", &ticket());
        assert!(both.verify("reg", &from_old, 5_000).is_ok());
        let from_both = both.sign("reg", &ticket());
        assert!(new.verify("reg", &from_both, 5_000).is_ok(), "the newest key signs");
        assert!(old.verify("reg", &from_both, 5_000).is_err());
    }

    #[test]
    fn provisional_sessions_are_recognised_without_the_key() {
        let k = Keys::new(&[A]).unwrap();
        let session = Token {
            kind: Kind::Session,
            ..ticket()
        };
        assert!(looks_like_provisional_session(&k.sign("reg", &session)));
        let confirmed = Token {
            checked_in: true,
            ..session
        };
        assert!(!looks_like_provisional_session(&k.sign("reg", &confirmed)));
        assert!(!looks_like_provisional_session(&k.sign("reg", &ticket())));
        assert!(!looks_like_provisional_session("short"));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(Keys::from_text("short"), Err(KeyError::TooShort(1, 5))));
        assert!(matches!(Keys::from_text("  \n"), Err(KeyError::Empty)));
        assert!(Keys::from_text(&format!("{A}\n{B}\n")).is_ok());
    }

    #[test]
    fn the_verification_cache_answers_exactly_as_verify() {
        let k = Keys::new(&[A]).unwrap();
        let s = k.sign("reg", &ticket());
        for _ in 0..2 {
            // Miss, then hit: the same answers.
            assert_eq!(k.verify_cached("reg", &s, 5_000), Ok(ticket()));
        }
        // The expiry is checked on a hit too.
        assert_eq!(k.verify_cached("reg", &s, 10_000), Err(Invalid::Expired));
        // Another room, other keys (even with the same secret), a tampered
        // text: never a hit.
        assert_eq!(k.verify_cached("other", &s, 5_000), Err(Invalid::Signature));
        let other = Keys::new(&[B]).unwrap();
        assert_eq!(other.verify_cached("reg", &s, 5_000), Err(Invalid::Signature));
        let mut forged = s.clone().into_bytes();
        forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(k.verify_cached("reg", &forged, 5_000).is_err());
        assert_eq!(k.verify_cached("reg", &s[..63], 5_000), Err(Invalid::Malformed));
        // A clone shares the cache entries it is entitled to.
        assert_eq!(k.clone().verify_cached("reg", &s, 5_000), Ok(ticket()));
    }
}
