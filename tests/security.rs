//! What an attacker tries against the gate and the proxy (README,
//! "Security"): other spellings of a room's path, requests the proxy
//! cannot pass on faithfully, clients and upstreams that stall, broken
//! uploads. Real sockets throughout; the path table runs against a real
//! decoding backend.

#![allow(clippy::unwrap_used)]

mod support;

use support::raw::{exchange, status};
use support::{harness_before, DecodingBackend};

const ROOM: &str = r#"
    [[room]]
    name = "reg"
    paths = ["/register"]
    capacity = 1
"#;

/// What the gate must do with one spelling while the room is full.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Treated as the room's: a POST waits (503), a GET gets the line.
    Gated,
    /// Refused with 400: no honest client sends it.
    Refused,
    /// Not the room's: reaches the backend, which reads it as this path.
    Passes(&'static str),
}

/// Every spelling the adversarial test tried, and more: encoded slashes
/// (WSGI and old Go decode them), path parameters (Tomcat and Spring cut
/// them), backslashes (IIS), case (IIS, ASP.NET), dot segments, control
/// characters.
const SPELLINGS: &[(&str, Expect)] = &[
    ("/register/submit", Expect::Gated),
    ("/register%2Fsubmit", Expect::Gated),
    ("/register%2fsubmit", Expect::Gated),
    ("/%2Fregister/submit", Expect::Gated),
    ("/%2fregister%2fsubmit", Expect::Gated),
    ("/;/register", Expect::Gated),
    ("/x/..;/register", Expect::Gated),
    ("/register;jsessionid=1/submit", Expect::Gated),
    ("/REGISTER/submit", Expect::Gated),
    ("/Register%2Fsubmit", Expect::Gated),
    ("/register%5Csubmit", Expect::Gated),
    ("/%5Cregister", Expect::Gated),
    ("//register", Expect::Gated),
    ("/./register", Expect::Gated),
    ("/x/../register", Expect::Gated),
    ("/%2e%2e/register", Expect::Gated),
    ("/%72egister", Expect::Gated),
    ("/register%3Fx=1", Expect::Gated),
    ("/register%00", Expect::Refused),
    ("/register%00.css", Expect::Refused),
    ("/x/..%2Fregister", Expect::Refused),
    ("/static%2F..%2Fregister", Expect::Refused),
    ("/x%5C..%5Cregister", Expect::Refused),
    ("/register\\submit", Expect::Gated),
    ("/x/..\\register", Expect::Refused),
    ("/other%2Fpage", Expect::Passes("/other/page")),
    ("/registration", Expect::Passes("/registration")),
    ("/static/app.css", Expect::Passes("/static/app.css")),
];

/// The backend's reading of a response that came from it.
fn backend_read(response: &str) -> Option<String> {
    let body = response.split_once("\r\n\r\n")?.1;
    let j: serde_json::Value = serde_json::from_str(body).ok()?;
    Some(j["path_info"].as_str()?.to_string())
}

#[tokio::test]
async fn no_spelling_of_a_full_rooms_path_reaches_a_decoding_backend() {
    let backend = DecodingBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let h = harness_before(backend.addr, dir.path(), ROOM, "").await;
    // The only slot is taken.
    let first = h.visitor();
    let r = first.get("/register").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path_info"], "/register", "the backend answers");
    for &(target, expect) in SPELLINGS {
        for method in ["POST", "GET"] {
            let req = format!(
                "{method} {target} HTTP/1.1\r\nhost: site.example\r\ncontent-length: 6\r\nconnection: close\r\n\r\nname=x"
            );
            let resp = exchange(h.running.addr(), req.as_bytes()).await;
            let read = backend_read(&resp);
            let what = format!("{method} {target}: {expect:?}, got\n{resp}");
            match expect {
                Expect::Gated => {
                    assert_eq!(read, None, "{what}");
                    let want = if method == "POST" { 503 } else { 200 };
                    assert_eq!(status(&resp), want, "{what}");
                    assert!(resp.to_ascii_lowercase().contains("retry-after:"), "{what}");
                }
                Expect::Refused => {
                    assert_eq!(read, None, "{what}");
                    assert_eq!(status(&resp), 400, "{what}");
                }
                Expect::Passes(path) => assert_eq!(read.as_deref(), Some(path), "{what}"),
            }
        }
    }
    let m = h.metrics().await;
    let refused = SPELLINGS.iter().filter(|s| s.1 == Expect::Refused).count();
    assert_eq!(
        support::metric(&m, r#"vestibule_client_errors_total{kind="request"}"#),
        (2 * refused) as f64,
        "refusals are the client's errors"
    );
    assert_eq!(
        support::metric(&m, r#"vestibule_upstream_errors_total{kind="protocol",room="_none"}"#),
        0.0
    );
}
