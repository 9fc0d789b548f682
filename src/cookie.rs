//! vestibule's cookies in a request: finding a room's among the site's
//! own, on bytes (a site's cookie with raw UTF-8 in it must not hide
//! ours), and telling them apart from the site's, which the upstream
//! gets.

use http::header::{self, HeaderMap};

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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
