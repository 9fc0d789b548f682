//! Request paths as backends read them, so that a room's paths are gated
//! however a client spells them.
//!
//! The rule: no spelling of a path that a mainstream backend routes to a
//! room path reaches the upstream without the gate. Backends disagree on
//! how they read a path, so the gate reads it the two ways that, between
//! them, cover what they do, and a path is a room's if either reading is:
//!
//! * **as written** ([`normalize`], RFC 3986 6.2.2): percent-encoded
//!   unreserved characters decoded (`%72` is `r`), `//` merged; reserved
//!   escapes such as `%2F` kept. How nginx, Go's ServeMux since 1.22, Node
//!   and most routers read it.
//! * **fully decoded** ([`decoded`]): every escape decoded once (`%2F` is a
//!   `/`: WSGI servers, so Flask and Django, and Go's ServeMux before 1.22
//!   do this), a backslash read as a slash (IIS, and `%5C` decoded),
//!   anything after a decoded `?` or `#` dropped, path parameters cut from
//!   every segment (`/;x/register` is `/register` to Tomcat and Spring),
//!   and a PHP front controller's segment dropped (`/index.php/register` is
//!   `/register` to Symfony and Laravel).
//!
//! Both ways, a room's prefix is compared without regard to ASCII case
//! (IIS and ASP.NET route case-insensitively) and ends at a `/`, a `;` or a
//! `.`: `/register.json` is `/register` with a format to Rails (and to
//! Spring's suffix patterns).
//!
//! Some spellings are refused with 400 instead ([`Refusal`]): no honest
//! client sends them, and backends disagree on them in ways no reading
//! can cover:
//!
//! * a control character, decoded or not (`%00` ends the path in backends
//!   written in C, so `/register%00.css` is `/register` to them);
//! * a `.` or `..` segment, however spelled (`%2e`, `..;x`, after a `%2F`):
//!   browsers, curl and HTTP libraries resolve them before sending (RFC
//!   3986 5.2.4), and backends that get one disagree on it: nginx resolves
//!   `/register/..` to `/`, Express and Werkzeug route it to
//!   `/register/:step`, and whether `..` climbs over a `%2F` depends on the
//!   order a backend decodes in;
//! * a path the two readings put in two different rooms.
//!
//! Not covered: double encoding (`%252F` is decoded once, as every
//! mainstream backend does), overlong UTF-8 (`%C0%AF`, a slash only to
//! servers of the 1990s), Unicode case folding and look-alike
//! characters, and Windows' trailing dots and spaces in file names.

use std::borrow::Cow;

/// Why a path is refused (400) rather than routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the path holds a control character")]
    ControlCharacter,
    #[error("the path has a '.' or '..' segment")]
    DotSegment,
    #[error("the path reads as two different rooms' paths")]
    TwoRooms,
}

/// How a path is to be matched against room prefixes.
#[derive(Debug, PartialEq, Eq)]
pub enum Readings<'a> {
    /// Nothing in it reads differently anywhere: no escape, dot,
    /// backslash, `;` or `//` (nearly every request). Matched as it is.
    Plain(&'a str),
    /// [`normalize`]'s reading and [`decoded`]'s.
    Two(Cow<'a, str>, String),
}

/// The readings of `path` to match, or why it is refused.
pub fn readings(path: &str) -> Result<Readings<'_>, Refusal> {
    let plain = !path.bytes().any(|b| matches!(b, b'%' | b'.' | b'\\' | b';')) && !path.contains("//");
    if plain {
        return Ok(Readings::Plain(path));
    }
    let decoded = decoded(path)?;
    Ok(Readings::Two(normalize(path), decoded))
}

/// Whether `prefix` (a room path) covers `path`: the same bytes but for
/// ASCII case, ending at a segment boundary or a format suffix.
/// `/register` covers `/register`, `/Register/`, `/register/step2`,
/// `/register;jsessionid=1` and `/register.json`, not `/registration`;
/// `/tickets/` covers `/tickets/1`.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    let (p, q) = (prefix.as_bytes(), path.as_bytes());
    if q.len() < p.len() || !q[..p.len()].eq_ignore_ascii_case(p) {
        return false;
    }
    let rest = &q[p.len()..];
    p.ends_with(b"/") || rest.is_empty() || matches!(rest[0], b'/' | b';' | b'.')
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The byte a `%XY` escape at `b[i..]` stands for.
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    match (
        b.get(i),
        b.get(i + 1).copied().and_then(hex),
        b.get(i + 2).copied().and_then(hex),
    ) {
        (Some(b'%'), Some(h), Some(l)) => Some(h * 16 + l),
        _ => None,
    }
}

/// The path as written, normalised (RFC 3986 6.2.2): percent-encoded
/// unreserved characters decoded, repeated slashes merged, `.` and `..`
/// segments resolved. Reserved escapes such as `%2F` stay as they are.
/// Paths that need none of this (nearly all) are not copied.
pub fn normalize(path: &str) -> Cow<'_, str> {
    if !path.contains(['%', '.']) && !path.contains("//") {
        return Cow::Borrowed(path);
    }
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match escape_at(b, i) {
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                out.push(c);
                i += 3;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    let text = String::from_utf8_lossy(&out);
    let segments: Vec<&str> = text.split('/').collect();
    Cow::Owned(resolve(&segments))
}

/// The path fully decoded, as a backend that decodes everything before
/// routing reads it (see the module docs), or why it is refused. The
/// refusals look at the whole path, past a decoded `?` or `#` too.
pub fn decoded(path: &str) -> Result<String, Refusal> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    // Where a decoded `?` or `#` was: what follows is not path to a
    // backend that parses the decoded path again.
    let mut query = None;
    let mut i = 0;
    while i < b.len() {
        let (c, escaped) = match escape_at(b, i) {
            Some(c) => (c, true),
            None => (b[i], false),
        };
        i += if escaped { 3 } else { 1 };
        if c.is_ascii_control() {
            return Err(Refusal::ControlCharacter);
        }
        match c {
            b'?' | b'#' if escaped => {
                query.get_or_insert(out.len());
                out.push(c);
            }
            b'\\' => out.push(b'/'),
            c => out.push(c),
        }
    }
    // Path parameters cut from every segment, as Tomcat does: `..;x` is
    // `..`, refused as any other dot segment. Every separator counts here,
    // a decoded `?` too: a dot segment is refused wherever it is.
    let dots = out
        .split(|&c| matches!(c, b'/' | b'?' | b'#'))
        .any(|s| matches!(s.split(|&c| c == b';').next(), Some(b"." | b"..")));
    if dots {
        return Err(Refusal::DotSegment);
    }
    let path = String::from_utf8_lossy(&out[..query.unwrap_or(out.len())]);
    let segments: Vec<&str> = path.split('/').map(|s| s.split(';').next().unwrap_or("")).collect();
    // A PHP front controller's segment (`/index.php/register`): the path
    // after it is the route.
    let last = segments.len().saturating_sub(1);
    let routed: Vec<&str> = segments
        .iter()
        .enumerate()
        .filter(|&(n, s)| n == last || !(s.len() > 4 && s.as_bytes()[s.len() - 4..].eq_ignore_ascii_case(b".php")))
        .map(|(_, s)| *s)
        .collect();
    Ok(resolve(&routed))
}

/// Joins the segments of a path (the first is the empty one before its
/// leading `/`) with empty segments dropped and dot segments resolved. A
/// path whose last segment was empty or a dot segment ends with `/`.
fn resolve(segments: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for seg in segments {
        match *seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing = matches!(segments.last(), Some(&("" | "." | "..")));
    let mut p = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum());
    for seg in &out {
        p.push('/');
        p.push_str(seg);
    }
    if out.is_empty() || trailing {
        p.push('/');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_leaves_ordinary_paths_alone() {
        assert!(matches!(normalize("/register/step2"), Cow::Borrowed(_)));
        assert_eq!(normalize("/a/./b/../c/"), "/a/c/");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/a%7Eb/%41"), "/a~b/A");
        assert_eq!(normalize("/a/b/.."), "/a/");
        assert_eq!(normalize("/a%2Fb"), "/a%2Fb", "reserved escapes stay");
    }

    #[test]
    fn full_decoding_reads_what_decoding_backends_read() {
        for (raw, want) in [
            ("/register%2Fsubmit", "/register/submit"),
            ("/register%2fsubmit", "/register/submit"),
            ("/%2Fregister/submit", "/register/submit"),
            ("/;/register", "/register"),
            ("/register;jsessionid=1/x", "/register/x"),
            ("/register%5Cx", "/register/x"),
            ("/register%3Fx=1", "/register"),
            ("/r%C3%A9sum%C3%A9", "/r\u{e9}sum\u{e9}"),
            ("/a%252Fb", "/a%2Fb"),
            ("/index.php/register", "/register"),
            ("/app/Index.PHP/register/x", "/app/register/x"),
            ("/index.php", "/index.php"),
            ("/%C3%A9.php/register", "/register"),
        ] {
            assert_eq!(decoded(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in ["/register%00.css", "/a%0d%0aX: y", "/a%7f", "/x%3F%00"] {
            assert_eq!(decoded(raw), Err(Refusal::ControlCharacter), "{raw}");
        }
        for raw in [
            "/x/../register",
            "/./register",
            "/register/..",
            "/register/%2e%2e",
            "/register/.%2E",
            "/x/..;/register",
            "/x;/../register",
            "/x/..%2Fregister",
            "/static%2F..%2Fregister",
            "/x%5C..%5Cregister",
            "/x/..\\register",
            // Past a decoded `?` or `#` too (found in review).
            "/x%3F/..%2Fregister",
            "/x%23/..%2Fregister",
            "/x%3F%2F..%2Fregister",
        ] {
            assert_eq!(decoded(raw), Err(Refusal::DotSegment), "{raw}");
        }
        // Dots that are not a whole segment are names.
        assert_eq!(decoded("/.well-known/x..y").as_deref(), Ok("/.well-known/x..y"));
    }

    #[test]
    fn prefixes_match_whole_segments_in_any_case() {
        for (prefix, path, want) in [
            ("/register", "/register", true),
            ("/register", "/REGISTER/x", true),
            ("/register", "/register;x", true),
            ("/register", "/register.json", true),
            ("/register", "/register.", true),
            ("/register", "/registration", false),
            ("/register", "/regist", false),
            ("/tickets/", "/tickets/1", true),
            ("/tickets/", "/tickets", false),
        ] {
            assert_eq!(prefix_matches(prefix, path), want, "{prefix} {path}");
        }
    }

    #[test]
    fn plain_paths_are_read_once() {
        assert_eq!(readings("/register/step2"), Ok(Readings::Plain("/register/step2")));
        assert!(matches!(readings("/register;x"), Ok(Readings::Two(..))));
        assert!(matches!(readings("//register"), Ok(Readings::Two(..))));
    }
}
