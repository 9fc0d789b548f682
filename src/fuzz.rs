//! Fuzz targets (with the `fuzzing` feature only): the parts that read
//! untrusted bytes, each behind one
//! function of `&[u8]` that panics when a property fails, so that a
//! fuzzer finds more than crashes. Run by `fuzz/` (AFL++ through
//! cargo-afl, on the stable toolchain) for the long runs, and by
//! `tests/fuzz.rs` over the committed corpus plus a bounded mutation run
//! in every test run (README, "Security").
//!
//! | target | reads | property besides "no panic" |
//! |---|---|---|
//! | [`response_head`] | an upstream's response head and body | the body decodes the same however the bytes are split |
//! | [`chunked`] | a chunked body | the same, and never more data than bytes read |
//! | [`request_head`] | a client's request head, rewritten for the upstream | the result parses, with one `Host`, one framing, no hop-by-hop header, no `vst_` cookie; a refusal has its reason |
//! | [`token`] | a cookie value as a token | nothing verifies but a token signed with the key; signing round-trips |
//! | [`cookies`] | `Cookie` headers | every crumb is trimmed, non-empty, without `;` |
//! | [`path`] | a request path | a path whose full decoding starts with a room's prefix is that room's or refused |
//! | [`config`] | a configuration file | every problem names a line inside the file |

#![doc(hidden)]

use bytes::BytesMut;
use http::header::{HeaderMap, HeaderValue};

use crate::upstream::h1::{self, Chunk, Decoded, Decoder, RequestFraming};

/// Decodes `wire` with `decoder`, fed in pieces of `step` bytes: the body,
/// or `None` if it is an error (an end of input in the middle counts as
/// the upstream closing).
fn decode_in_steps(mut decoder: Decoder, wire: &[u8], step: usize) -> Option<Vec<u8>> {
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut fed = 0;
    loop {
        match decoder.decode(&mut buf).ok()? {
            Decoded::Frame(f) => {
                if let Ok(d) = f.into_data() {
                    body.extend_from_slice(&d);
                }
            }
            Decoded::End => return Some(body),
            Decoded::NeedMore if fed == wire.len() => {
                decoder.closed().ok()?;
                return Some(body);
            }
            Decoded::NeedMore => {
                let n = step.min(wire.len() - fed);
                buf.extend_from_slice(&wire[fed..fed + n]);
                fed += n;
            }
        }
    }
}

/// The body decodes to the same bytes, or fails the same, whether it
/// arrives whole, a byte at a time, or in pieces of the first byte's size.
fn same_however_split(decoder: Decoder, wire: &[u8]) {
    let whole = decode_in_steps(decoder, wire, wire.len().max(1));
    let step = usize::from(wire.first().copied().unwrap_or(1)).max(1);
    for s in [1, step] {
        assert_eq!(decode_in_steps(decoder, wire, s), whole, "split every {s} bytes");
    }
    if let Some(body) = whole {
        assert!(body.len() <= wire.len(), "more body than bytes");
    }
}

/// An upstream's response: head, then what follows it as the body.
pub fn response_head(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let Ok(Some(mut head)) = h1::parse_response_head(&mut buf, 0) else {
        return;
    };
    let (decoder, _keep_alive) = h1::response_framing(false, &mut head);
    assert!(
        head.headers.get_all(http::header::CONTENT_LENGTH).iter().count() <= 1,
        "one length goes on"
    );
    if decoder != Decoder::Upgrade {
        same_however_split(decoder, &buf);
    }
}

/// A chunked body.
pub fn chunked(data: &[u8]) {
    same_however_split(Decoder::Chunked(Chunk::Size), data);
}

/// A client's request head (parsed as hyper would, roughly: httparse,
/// then http's types), rewritten for the upstream.
pub fn request_head(data: &[u8]) {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut fields);
    let Ok(httparse::Status::Complete(_)) = req.parse(data) else {
        return;
    };
    let (Some(method), Some(path)) = (req.method, req.path) else {
        return;
    };
    let mut b = http::Request::builder().method(method).uri(path);
    for f in req.headers.iter() {
        b = b.header(f.name, f.value);
    }
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    let framing = match data.len() % 3 {
        0 => RequestFraming::Empty,
        1 => RequestFraming::Length(data.len() as u64),
        _ => RequestFraming::Chunked,
    };
    let hop = crate::proxy::Hop {
        peer: std::net::IpAddr::from([10, 0, 0, 1]),
        tls: data.len() % 5 == 0,
        upstream: "upstream:80",
        own_host: data.len() % 7 == 0,
        trust: data.len() % 2 == 0,
    };
    let Ok(head) = crate::proxy::request_head(&parts, framing, false, &hop) else {
        // Refused: CONNECT, two Hosts, or a coding other than chunked.
        let hosts = parts.headers.get_all(http::header::HOST).iter().count();
        let codings: Vec<_> = parts.headers.get_all(http::header::TRANSFER_ENCODING).iter().collect();
        assert!(
            parts.method == http::Method::CONNECT
                || hosts > 1
                || codings.len() > 1
                || codings.first().is_some_and(|v| !crate::request::only_chunked(v)),
            "refused for nothing"
        );
        return;
    };
    let mut out = [httparse::EMPTY_HEADER; 256];
    let mut parsed = httparse::Request::new(&mut out);
    match parsed.parse(&head.bytes) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, head.bytes.len(), "one head, nothing after"),
        other => panic!("the upstream's head does not parse: {other:?}"),
    }
    let count = |name: &str| {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("host"), 1, "one Host");
    let lengths = count("content-length");
    match framing {
        RequestFraming::Empty => assert!(lengths <= 1 && count("transfer-encoding") == 0, "one framing"),
        RequestFraming::Length(_) => assert!(lengths == 1 && count("transfer-encoding") == 0, "one framing"),
        RequestFraming::Chunked => assert!(lengths == 0 && count("transfer-encoding") == 1, "one framing"),
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert_eq!(count(name), 0, "{name} is hop-by-hop");
    }
    for h in parsed.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("cookie")) {
        assert!(
            !crate::cookie::crumbs(h.value).any(|c| c.starts_with(crate::cookie::COOKIE_PREFIX.as_bytes())),
            "vestibule's own cookie went upstream"
        );
    }
}

/// A cookie value read as a token; and a token made of the bytes, signed
/// and verified.
pub fn token(data: &[u8]) {
    static KEYS: std::sync::LazyLock<crate::token::Keys> = std::sync::LazyLock::new(|| {
        crate::token::Keys::from_text("fuzz-secret-0123456789abcdef0123456789abcdef").expect("a valid secret")
    });
    let keys = &*KEYS;
    if let Ok(s) = std::str::from_utf8(data) {
        assert!(keys.verify("room", s, 0).is_err(), "an unsigned value verified: {s:?}");
    }
    if data.len() >= 29 {
        let u64_at = |i: usize| u64::from_be_bytes(data[i..i + 8].try_into().expect("8 bytes"));
        let t = crate::token::Token {
            kind: if data[0] & 1 == 0 {
                crate::token::Kind::Ticket
            } else {
                crate::token::Kind::Session
            },
            checked_in: data[0] & 2 != 0,
            epoch: u32::from_be_bytes(data[1..5].try_into().expect("4 bytes")),
            number: u64_at(5),
            stamp_ms: u64_at(13),
            expires_ms: u64_at(21).max(1),
        };
        let signed = keys.sign("room", &t);
        assert_eq!(
            keys.verify("room", &signed, t.expires_ms - 1).ok(),
            Some(t),
            "round trip"
        );
        assert!(keys.verify("other", &signed, 0).is_err(), "another room's");
        // One character changed: refused.
        let mut forged = signed.into_bytes();
        let at = usize::from(data[28]) % forged.len();
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("base64url is ASCII");
        assert!(keys.verify("room", &forged, 0).is_err(), "a forged token verified");
    }
}

/// `Cookie` headers: the data split at newlines, one header each.
pub fn cookies(data: &[u8]) {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(http::header::COOKIE, v);
        }
    }
    for v in headers.get_all(http::header::COOKIE) {
        for c in crate::cookie::crumbs(v.as_bytes()) {
            assert!(!c.is_empty() && !c.contains(&b';'), "{c:?}");
            assert_eq!(c, c.trim_ascii(), "untrimmed");
        }
    }
    for value in crate::cookie::cookies(&headers, "vst_room") {
        assert!(!value.contains(';'), "{value:?}");
    }
}

/// A request path, routed among two rooms.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = format!("/{}", text.trim_start_matches('/'));
    let Ok(uri) = path.parse::<http::Uri>() else { return };
    let path = uri.path();
    static ROOMS: std::sync::LazyLock<crate::room::Rooms> = std::sync::LazyLock::new(fuzz_rooms);
    let route = ROOMS.route(path);
    // Normalising twice changes nothing, but where a stray `%` (not an
    // escape) meets an escape: `%3%36` is `%36` once normalised, which a
    // second pass would read as `6`. That is double decoding, which no
    // mainstream backend does (README, "Security").
    let b = path.as_bytes();
    let stray = (0..b.len()).any(|i| {
        b[i] == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    let normalized = crate::path::normalize(path);
    if !stray {
        assert_eq!(
            crate::path::normalize(&normalized),
            normalized,
            "normalising is idempotent"
        );
    }
    if let Ok(decoded) = crate::path::decoded(path) {
        let wanted = ["/register", "/tickets/vip"]
            .into_iter()
            .find(|p| crate::path::prefix_matches(p, &decoded));
        if wanted.is_some() {
            assert!(
                !matches!(route, Ok(None)),
                "{path:?} decodes to {decoded:?}, a room's path, and was let by"
            );
        }
    }
}

fn fuzz_rooms() -> crate::room::Rooms {
    let text = r#"
        [server]
        upstream = "http://127.0.0.1:1"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 1
        [[room]]
        name = "vip"
        paths = ["/tickets/vip"]
        capacity = 1
    "#;
    let cfg = crate::config::Config::parse(text, std::path::Path::new("."), "fuzz").expect("a valid configuration");
    crate::room::Rooms::new(&cfg.rooms, cfg.server.tick, &crate::metrics::Metrics::new())
}

/// A configuration file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = crate::config::Config::parse(text, std::path::Path::new("/etc/vestibule"), "fuzz.toml") {
        let lines = text.lines().count() + 1;
        for p in &e.problems {
            if let Some(l) = p.line {
                assert!(l >= 1 && l <= lines, "line {l} of {lines}: {p}");
            }
        }
        assert!(!e.problems.is_empty(), "an error with no problem");
    }
}

/// A fuzz target: panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target by name, for the drivers.
pub const TARGETS: &[(&str, Target)] = &[
    ("response_head", response_head),
    ("chunked", chunked),
    ("request_head", request_head),
    ("token", token),
    ("cookies", cookies),
    ("path", path),
    ("config", config),
];
