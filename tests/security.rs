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

/// Every spelling the adversarial tests tried, and more: encoded slashes
/// (WSGI and old Go decode them), path parameters (Tomcat and Spring cut
/// them), backslashes (IIS), case (IIS, ASP.NET), format suffixes
/// (Rails), front controllers (Symfony, Laravel), dot segments (Express
/// and Werkzeug route `/register/..` to the room), control characters.
const SPELLINGS: &[(&str, Expect)] = &[
    ("/register/submit", Expect::Gated),
    ("/register%2Fsubmit", Expect::Gated),
    ("/register%2fsubmit", Expect::Gated),
    ("/%2Fregister/submit", Expect::Gated),
    ("/%2fregister%2fsubmit", Expect::Gated),
    ("/;/register", Expect::Gated),
    ("/register;jsessionid=1/submit", Expect::Gated),
    ("/REGISTER/submit", Expect::Gated),
    ("/Register%2Fsubmit", Expect::Gated),
    ("/register%5Csubmit", Expect::Gated),
    ("/%5Cregister", Expect::Gated),
    ("/register\\submit", Expect::Gated),
    ("//register", Expect::Gated),
    ("/%72egister", Expect::Gated),
    ("/register%3Fx=1", Expect::Gated),
    // Rails reads a format suffix (`.:format`), Symfony and Laravel the
    // path after a front controller.
    ("/register.json", Expect::Gated),
    ("/register.html", Expect::Gated),
    ("/register.%20", Expect::Gated),
    ("/index.php/register", Expect::Gated),
    ("/register%00", Expect::Refused),
    ("/register%00.css", Expect::Refused),
    ("/x%3F%00", Expect::Refused),
    // Dot segments, however spelled: backends disagree on them.
    ("/./register", Expect::Refused),
    ("/x/../register", Expect::Refused),
    ("/%2e%2e/register", Expect::Refused),
    ("/x/..;/register", Expect::Refused),
    ("/register/..", Expect::Refused),
    ("/register/%2e%2e", Expect::Refused),
    ("/x/..%2Fregister", Expect::Refused),
    ("/static%2F..%2Fregister", Expect::Refused),
    ("/x%5C..%5Cregister", Expect::Refused),
    ("/x/..\\register", Expect::Refused),
    ("/x%3F/..%2Fregister", Expect::Refused),
    ("/x%23/..%2Fregister", Expect::Refused),
    ("/other%2Fpage", Expect::Passes("/other/page")),
    ("/registration", Expect::Passes("/registration")),
    ("/registration.json", Expect::Passes("/registration.json")),
    ("/static/app.css", Expect::Passes("/static/app.css")),
    ("/.well-known/security.txt", Expect::Passes("/.well-known/security.txt")),
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

/// An upstream that keeps the raw bytes of each request it gets (head and
/// chunked body, up to the end of its trailer section) and answers `ok`.
async fn recording_upstream() -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let rec = rec.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                // The head, then a chunked body to its last chunk's blank line.
                let complete = |got: &[u8]| {
                    let text = String::from_utf8_lossy(got);
                    text.split_once("\r\n\r\n")
                        .is_some_and(|(_, body)| body.contains("0\r\n") && body.ends_with("\r\n\r\n"))
                };
                while !complete(&got) {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                }
                rec.lock().unwrap().push(String::from_utf8_lossy(&got).into_owned());
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_chunked_uploads_trailers_never_reach_the_upstream() {
    let (addr, seen) = recording_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let h = harness_before(addr, dir.path(), ROOM, "").await;
    let req = "POST /form HTTP/1.1\r\nhost: site.example\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
               5\r\nhello\r\n0\r\n\
               cookie: vst_reg=forged\r\nx-forwarded-for: 6.6.6.6\r\nx-forwarded-proto: https\r\n\
               host: evil.example\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n";
    let resp = exchange(h.running.addr(), req.as_bytes()).await;
    assert_eq!(status(&resp), 200, "{resp}");
    let got = seen.lock().unwrap().pop().unwrap();
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, "5\r\nhello\r\n0\r\n\r\n", "the body, and no trailer section");
    for bad in ["6.6.6.6", "evil.example", "forged", "https"] {
        assert!(!got.contains(bad), "{bad} reached the upstream:\n{got}");
    }
    assert!(head.contains("x-forwarded-for: 127.0.0.1"), "{head}");
}

/// Sends `req` and returns the response, the client's side of the
/// connection closed for writing after it (an abandoned upload).
async fn send_then_stop(addr: std::net::SocketAddr, req: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    s.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("answered");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_broken_upload_is_the_clients_error_and_its_upstream_connection_is_closed() {
    let h = support::Harness::start(ROOM).await;
    let v = h.visitor();
    assert_eq!(v.get("/warm").await.status, 200);
    assert_eq!(h.upstream.connections(), 1);
    let cases: [&[u8]; 2] = [
        // A chunk size that is not hex.
        b"POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n",
        // Half of a body, then the client stops sending.
        b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345",
    ];
    for (i, req) in cases.into_iter().enumerate() {
        let resp = send_then_stop(h.running.addr(), req).await;
        assert_eq!(status(&resp), 400, "case {i}: {resp}");
        assert!(resp.contains("did not send the whole request"), "{resp}");
    }
    let m = h.metrics().await;
    assert_eq!(
        support::metric(&m, r#"vestibule_client_errors_total{kind="body"}"#),
        2.0
    );
    assert_eq!(
        support::metric(&m, r#"vestibule_upstream_errors_total{kind="protocol",room="_none"}"#),
        0.0,
        "no upstream alert for a client's broken upload"
    );
    // The upstream got a request cut short, never reused: the next one
    // opens a connection of its own.
    let before = h.upstream.connections();
    assert_eq!(v.get("/after").await.status, 200);
    assert_eq!(h.upstream.connections(), before + 1);
    assert_eq!(h.upstream.hits("/upload"), 2, "both reached it, and were cut off");
}

#[tokio::test]
async fn an_h2c_upgrade_is_never_passed_on() {
    let h = support::Harness::start(ROOM).await;
    let upgrade = |path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings, close\r\nupgrade: h2c\r\n\
             http2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
        )
    };
    // An upstream that would take it (the fake switches on /ws whatever
    // was asked) is not given the chance: no 101 reaches the client.
    let resp = exchange(h.running.addr(), upgrade("/ws").as_bytes()).await;
    assert_ne!(status(&resp), 101, "{resp}");
    // Forwarded as an ordinary request, without the upgrade's headers.
    let resp = exchange(h.running.addr(), upgrade("/elsewhere").as_bytes()).await;
    assert_eq!(status(&resp), 200, "{resp}");
    let j: serde_json::Value = serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap();
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(j["headers"].get(name).is_none(), "{name} was passed on: {j}");
    }
}

/// An upstream that sends a response head and the first bytes of a long
/// body, then nothing, holding the connection open; counts the
/// connections it saw closed.
async fn stalling_upstream() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let closed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let c = closed.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                support::raw::read_head(&mut s).await;
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\nfirst bytes")
                    .await
                    .unwrap();
                let mut b = [0u8; 64];
                while matches!(s.read(&mut b).await, Ok(n) if n > 0) {}
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    (addr, closed)
}

#[tokio::test]
async fn an_upstream_that_stalls_mid_body_is_cut_off_after_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (addr, closed) = stalling_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let h = harness_before(addr, dir.path(), ROOM, "upstream_read_timeout = \"300ms\"").await;
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"GET /download HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    // The head and the first bytes come through; then the client's
    // connection ends, short of the length, instead of waiting forever.
    let mut got = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("the response is cut off, not left hanging")
        .ok();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("first bytes"), "{got}");
    support::eventually(5, "the upstream connection is closed", async || {
        closed.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    let m = h.metrics().await;
    assert_eq!(support::metric(&m, "vestibule_upstream_read_timeouts_total"), 1.0);
}

#[tokio::test]
async fn an_upstream_body_that_keeps_coming_is_not_cut_off() {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        support::raw::read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        // Each gap is shorter than the timeout; all of them together, longer.
        for i in 0..8 {
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            s.write_all(format!("1\r\n{i}\r\n").as_bytes()).await.unwrap();
        }
        s.write_all(b"0\r\n\r\n").await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let h = harness_before(addr, dir.path(), ROOM, "upstream_read_timeout = \"400ms\"").await;
    let r = h.visitor().get("/trickle").await;
    assert_eq!((r.status.as_u16(), r.text()), (200, "01234567".to_string()));
    let m = h.metrics().await;
    assert_eq!(support::metric(&m, "vestibule_upstream_read_timeouts_total"), 0.0);
}

/// An HTTP/2 client that opens 40 streams for 10 MB each and never reads
/// holds at most its share of upstream connections, and, once its
/// responses have waited on it for the send timeout, none at all.
#[tokio::test]
async fn an_http2_client_that_never_reads_holds_its_share_and_then_nothing() {
    let h = support::Harness::start_with(
        r#"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 1
        "#,
        "send_timeout = \"1s\"\nhttp2_max_active_streams = 8",
    )
    .await;
    let paths = vec!["/big"; 40];
    let _client = support::raw::h2_client_that_never_reads(h.running.addr(), &paths).await;
    support::eventually(10, "the stalled client's connection to be closed", async || {
        let m = h.metrics().await;
        support::metric(&m, r#"vestibule_client_errors_total{kind="send_timeout"}"#) == 1.0
    })
    .await;
    support::eventually(10, "its upstream connections to close", async || {
        h.upstream.open_connections() == 0
    })
    .await;
    assert!(
        h.upstream.peak_open_connections() <= 8,
        "one client connection held {} upstream connections",
        h.upstream.peak_open_connections()
    );
    // Everyone else is served meanwhile and after.
    assert_eq!(h.visitor().get("/elsewhere").await.status, 200);
}

/// The same over HTTP/1.1: a client that asks for a large answer and
/// stops reading is cut off at the send timeout, and its upstream
/// connection freed.
#[tokio::test]
async fn an_http1_client_that_stops_reading_is_cut_off_at_the_send_timeout() {
    use tokio::io::AsyncWriteExt;
    let h = support::Harness::start_with(ROOM, "send_timeout = \"1s\"").await;
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    support::eventually(10, "the connection to be cut off", async || {
        let m = h.metrics().await;
        support::metric(&m, r#"vestibule_client_errors_total{kind="send_timeout"}"#) == 1.0
    })
    .await;
    support::eventually(10, "its upstream connection to close", async || {
        h.upstream.open_connections() == 0
    })
    .await;
}

/// A client that reads slowly but steadily is never cut off, however
/// much longer than the send timeout the download takes. (The send
/// timeout bounds the time between two writes the socket takes, and the
/// kernel takes one only when about a third of its send buffer is free:
/// a reader must drain that within the timeout. At the default 60 s, one
/// taking 30 KB/s does.)
#[tokio::test]
async fn a_slow_steady_reader_is_not_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = support::Harness::start_with(ROOM, "send_timeout = \"2s\"\nheader_read_timeout = \"500ms\"").await;
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    // About 1.6 MB/s: the 10 MB take three times the send timeout.
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert!(total > 10 * support::MB, "cut off after {total} bytes");
    assert!(
        started.elapsed() > std::time::Duration::from_secs(2),
        "not slow after all"
    );
    let m = h.metrics().await;
    assert_eq!(
        support::metric(&m, r#"vestibule_client_errors_total{kind="send_timeout"}"#),
        0.0
    );
}

/// An idle HTTP/2 connection is closed after the idle limit even when
/// its client keeps sending PINGs: their answers are not activity.
#[tokio::test]
async fn pings_do_not_keep_an_idle_http2_connection_open() {
    use http_body_util::{BodyExt, Full};
    let h = support::Harness::start_with(ROOM, "header_read_timeout = \"500ms\"").await;
    let stream = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_millis(100))
        .keep_alive_while_idle(true)
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get("/elsewhere")
        .header("host", "x")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    resp.into_body().collect().await.unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), conn).await;
    assert!(ended.is_ok(), "pings kept an idle connection open");
}

/// An HTTP/2 client that never opens its flow-control window: not a byte
/// of even a one-frame answer can go out (found in review: the last frame
/// was not tracked, and such connections were held for good).
#[tokio::test]
async fn an_http2_client_whose_window_stays_shut_is_cut_off_at_the_send_timeout() {
    let h = support::Harness::start_with(ROOM, "send_timeout = \"1s\"\nheader_read_timeout = \"1s\"").await;
    let _client = support::raw::h2_client_with_window(h.running.addr(), &["/register", "/elsewhere"], 0).await;
    support::eventually(10, "the connection to be cut off", async || {
        let m = h.metrics().await;
        support::metric(&m, r#"vestibule_client_errors_total{kind="send_timeout"}"#) == 1.0
    })
    .await;
}

/// An admitted visitor's HTTP/2 requests that wait their turn are not
/// timed out for the wait (found in review: the exchange's deadline
/// started before the turn, and requests queued behind a slow one got 504).
#[tokio::test]
async fn http2_requests_waiting_their_turn_are_not_timed_out_for_the_wait() {
    use http_body_util::{BodyExt, Full};
    let rooms = r#"
        [[room]]
        name = "reg"
        paths = ["/slow"]
        capacity = 1
    "#;
    let h = support::Harness::start_with(rooms, "response_timeout = \"1500ms\"\nhttp2_max_active_streams = 1").await;
    // Admitted and confirmed over HTTP/1.1: a current session.
    let v = h.visitor();
    assert_eq!(v.get("/slow?ms=1").await.status, 200);
    assert_eq!(v.get("/slow?ms=1").await.status, 200);
    let stream = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    // Three at once, one second each, one at a time: the last waits two.
    let mut answers = Vec::new();
    for _ in 0..3 {
        let mut send = send.clone();
        let req = http::Request::get(h.url("/slow?ms=1000"))
            .header("cookie", v.cookie_header())
            .body(Full::new(bytes::Bytes::new()))
            .unwrap();
        answers.push(tokio::spawn(async move {
            let resp = send.send_request(req).await.unwrap();
            let status = resp.status();
            resp.into_body().collect().await.unwrap();
            status
        }));
    }
    for a in answers {
        assert_eq!(a.await.unwrap(), 200);
    }
    let m = h.metrics().await;
    assert_eq!(
        support::metric(&m, r#"vestibule_upstream_errors_total{kind="timeout",room="reg"}"#),
        0.0
    );
}

/// What only a client does is never counted as the upstream's fault
/// (found in review): a CONNECT, and an upload too slow to arrive
/// before the response deadline.
#[tokio::test]
async fn a_connect_and_a_slow_upload_are_the_clients_errors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = support::Harness::start_with(ROOM, "response_timeout = \"500ms\"").await;
    let resp = exchange(
        h.running.addr(),
        b"CONNECT example.org:443 HTTP/1.1\r\nhost: example.org:443\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status(&resp), 405, "{resp}");
    // Half an upload, then nothing until the deadline has passed.
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345")
        .await
        .unwrap();
    let mut got = vec![0u8; 12];
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .expect("answered at the deadline")
        .unwrap();
    assert_eq!(&got, b"HTTP/1.1 408", "{}", String::from_utf8_lossy(&got));
    let m = h.metrics().await;
    assert_eq!(
        support::metric(&m, r#"vestibule_client_errors_total{kind="request"}"#),
        1.0
    );
    assert_eq!(
        support::metric(&m, r#"vestibule_client_errors_total{kind="body"}"#),
        1.0
    );
    for kind in ["protocol", "timeout"] {
        let series = format!(r#"vestibule_upstream_errors_total{{kind="{kind}",room="_none"}}"#);
        assert_eq!(support::metric(&m, &series), 0.0, "{kind}");
    }
}
