//! Bad tokens never get anyone in: forged, tampered, truncated, expired,
//! signed with another secret, or from another room.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Harness, SECRET};
use vestibule::token::{Keys, Kind, Token};

const ROOMS: &str = r#"
    [[room]]
    name = "reg"
    paths = ["/register"]
    capacity = 1
    session_ttl = "60s"
    [[room]]
    name = "vip"
    paths = ["/vip"]
    capacity = 1
    session_ttl = "60s"
"#;

/// A full `reg` room with one visitor waiting, so nobody new is admitted.
async fn full_room() -> Harness {
    let h = Harness::start(ROOMS).await;
    h.tick().await;
    assert!(h.visitor().get("/register").await.reached_upstream());
    let waiting = h.visitor();
    assert!(!waiting.get("/register").await.reached_upstream());
    h
}

#[tokio::test]
async fn forged_tampered_and_truncated_tokens_are_no_token() {
    let h = full_room().await;
    let hits = h.upstream.total();
    let real_ticket = {
        let v = h.visitor();
        v.get("/register").await;
        v.cookie("vst_reg").unwrap()
    };
    let mut tampered = real_ticket.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let forged_zeroes = "A".repeat(64);
    for bad in [
        forged_zeroes.as_str(),
        std::str::from_utf8(&tampered).unwrap(),
        &real_ticket[..40],
        "",
        "not base64 at all!",
        &format!("{real_ticket}AAAA"),
    ] {
        let v = h.visitor();
        v.set_cookie("vst_reg", bad);
        let r = v.get("/register").await;
        assert!(!r.reached_upstream(), "{bad:?} got in");
        assert_ne!(
            v.cookie("vst_reg").as_deref(),
            Some(bad),
            "a bad token is replaced by a real ticket"
        );
    }
    assert_eq!(h.upstream.total(), hits);
}

#[tokio::test]
async fn a_session_signed_with_another_secret_or_for_another_room_is_refused() {
    let h = full_room().await;
    let hits = h.upstream.total();
    let epoch = h.snapshot("reg").epoch;
    let now = h.clock.now_ms();
    let session = Token {
        kind: Kind::Session,
        checked_in: true,
        epoch,
        number: 1,
        stamp_ms: now,
        expires_ms: now + 60_000,
    };
    // Right room, right epoch, wrong key.
    let other = Keys::from_text("another-secret-0123456789abcdef0123456789").unwrap();
    let v = h.visitor();
    v.set_cookie("vst_reg", &other.sign("reg", &session));
    assert!(!v.get("/register").await.reached_upstream());

    // A genuine session for the vip room, presented to the reg room.
    let vip = h.visitor();
    assert!(vip.get("/vip").await.reached_upstream());
    let vip_session = vip.cookie("vst_vip").unwrap();
    let v = h.visitor();
    v.set_cookie("vst_reg", &vip_session);
    assert!(!v.get("/register").await.reached_upstream());

    // The right key and room but a stale epoch (a room state that is gone).
    let ours = Keys::from_text(SECRET).unwrap();
    let stale = Token {
        epoch: epoch.wrapping_add(1),
        ..session
    };
    let v = h.visitor();
    v.set_cookie("vst_reg", &ours.sign("reg", &stale));
    assert!(!v.get("/register").await.reached_upstream());

    assert_eq!(h.upstream.total(), hits + 1, "only the vip visitor's own request");
    // Control: the same token signed properly does get in.
    let v = h.visitor();
    v.set_cookie("vst_reg", &ours.sign("reg", &session));
    assert!(v.get("/register").await.reached_upstream());
}

#[tokio::test]
async fn an_expired_session_cookie_is_no_session() {
    let h = Harness::start(ROOMS).await;
    h.tick().await;
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    let b = h.visitor();
    b.get("/register").await; // waiting behind A
                              // A's cookie outlives its TTL without a refresh (no tick ran, so the
                              // store still counts A): the token alone must not get A in.
    h.clock.advance(Duration::from_secs(61));
    let r = a.get("/register").await;
    assert!(!r.reached_upstream(), "expired cookie was accepted");
    assert_eq!(h.upstream.hits("/register"), 1);
}

#[tokio::test]
async fn a_copied_ticket_shares_one_slot() {
    let h = Harness::start(ROOMS).await;
    h.tick().await;
    let a = h.visitor();
    a.get("/register").await;
    let b = h.visitor();
    b.get("/register").await;
    b.get_json("/_vestibule/status").await;
    let copy = h.visitor();
    copy.set_cookie("vst_reg", &b.cookie("vst_reg").unwrap());
    a.get("/_vestibule/leave?room=reg").await;
    h.tick_after(Duration::from_secs(1)).await;
    assert!(b.get("/register").await.reached_upstream());
    assert!(
        copy.get("/register").await.reached_upstream(),
        "the same ticket, the same seat"
    );
    h.tick().await;
    let s = h.snapshot("reg");
    assert_eq!(s.active, 1, "one ticket never takes two slots");
}
