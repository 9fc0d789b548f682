//! vestibule's cookies: finding a room's among the site's own in a
//! request, on bytes (a site's cookie with raw UTF-8 in it must not hide
//! ours), telling them apart from the site's, which the upstream gets,
//! and minting them (signed tickets and sessions, `Set-Cookie`).

use http::header::{self, HeaderMap, HeaderValue};

use crate::clock::Millis;
use crate::room::Room;
use crate::token::{Keys, Kind, Token};

/// Cookies vestibule owns start with this; they are not sent upstream.
pub const COOKIE_PREFIX: &str = "vst_";

/// The values of every cookie called `name` in the request. Parsed on bytes:
/// a site's own cookie with raw UTF-8 in it must not hide ours.
pub fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| crumbs(v.as_bytes()))
        .filter_map(move |c| {
            let v = c.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
            std::str::from_utf8(v).ok()
        })
}

/// The `name=value` pairs of one `Cookie` header, trimmed, empty ones
/// skipped. Every request with a cookie goes through here (and the
/// upstream's copy is rebuilt from it), so the `;` search is memchr's.
pub fn crumbs(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || loop {
        let r = rest?;
        let (c, next) = match memchr::memchr(b';', r) {
            Some(i) => (&r[..i], Some(&r[i + 1..])),
            None => (r, None),
        };
        rest = next;
        let c = c.trim_ascii();
        if !c.is_empty() {
            return Some(c);
        }
    })
}

/// `Set-Cookie` for a ticket, living as long as the ticket.
pub fn ticket(keys: &Keys, room: &Room, t: &Token, now: Millis, secure: bool) -> HeaderValue {
    let max_age = t.expires_ms.saturating_sub(now) / 1000;
    set(room, &keys.sign(room.name(), t), max_age, secure)
}

/// `Set-Cookie` for a session refreshed at `now`; `confirmed` is false for
/// a direct admission until the visitor comes back with the cookie. It
/// carries the room state (epoch) the view holds now.
pub fn session(keys: &Keys, room: &Room, number: u64, now: Millis, confirmed: bool, secure: bool) -> HeaderValue {
    let ttl = room.limits(now).session_ttl_ms;
    let t = Token {
        kind: Kind::Session,
        checked_in: confirmed,
        epoch: room.view().snapshot.epoch,
        number,
        stamp_ms: now,
        expires_ms: now + ttl,
    };
    set(room, &keys.sign(room.name(), &t), ttl / 1000, secure)
}

/// `Set-Cookie` that deletes the room's cookie.
pub fn clear(room: &Room, secure: bool) -> HeaderValue {
    set(room, "", 0, secure)
}

/// The room's cookie: site-wide, out of scripts' reach, sent on top-level
/// navigation from other sites (a link in an e-mail) but not on their
/// subrequests.
fn set(room: &Room, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let s = format!(
        "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        room.cookie
    );
    HeaderValue::from_str(&s).expect("cookie names and base64url values are valid header text")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_on_bytes() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; vst_reg=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        let first = |n: &str| cookies(&h, n).next().map(str::to_string);
        assert_eq!(first("vst_reg").as_deref(), Some("abc"));
        assert_eq!(first("b").as_deref(), Some("2"));
        assert_eq!(first("vst"), None);
        // Raw UTF-8 from the site's own cookie does not hide ours.
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_bytes("name=J\u{fc}rgen; vst_reg=xyz".as_bytes()).unwrap(),
        );
        assert_eq!(cookies(&h, "vst_reg").collect::<Vec<_>>(), vec!["xyz"]);
    }
}
