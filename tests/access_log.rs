//! The access log: every request of the public listener is a line, in each
//! of the three formats, parsed back here as the tools that read them
//! would; the visitor is named by a number, never by a token; a trusted
//! proxy names the client; SIGHUP reopens the file after a rotation; and
//! the process log can be JSON.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use support::*;

const ROOM: &str = "[[room]]\nname = \"reg\"\npaths = [\"/register\"]\ncapacity = 1\n";

/// One line read back: the fields every format has, and the rest by name.
#[derive(Debug)]
struct Line {
    client: String,
    method: String,
    path: String,
    status: u16,
    bytes: u64,
    /// Fields only `text` and `json` have (`room`, `outcome`, `ticket`,
    /// `session`, `user_agent`, ...), as text.
    more: HashMap<String, String>,
}

/// What a visitor did and got.
struct Sent {
    method: Method,
    path: &'static str,
    status: StatusCode,
    bytes: usize,
}

/// Runs one visit of each kind against a room of capacity 1, with the
/// access log in `format` written to a file; returns what was sent, the
/// log's lines and the cookies the visitors held.
async fn scenario(format: &str, server_extra: &str) -> (Vec<Sent>, String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let log = format!("\n[log]\naccess = \"{format}\"\naccess_file = \"{}\"\n", file.display());
    let h = Harness::start_with(&format!("{ROOM}{log}"), server_extra).await;
    let (first, second) = (h.visitor(), h.visitor());
    let mut sent = Vec::new();
    let mut send = async |v: &Visitor, method: Method, path: &'static str, headers: &[(&str, &str)]| {
        let r = v.send(method.clone(), path, headers, Bytes::new()).await;
        sent.push(Sent {
            method,
            path,
            status: r.status,
            bytes: r.body.len(),
        });
        r
    };
    let agent = [
        ("user-agent", "Mozilla/5.0 (X11; Linux) \"quoted\""),
        ("referer", "http://example.test/a b"),
    ];
    send(&first, Method::GET, "/register", &agent).await; // direct
    send(&first, Method::GET, "/register?step=2", &[]).await; // session
    send(&second, Method::GET, "/register", &[]).await; // queued, ticket 2
    let json = [("accept", "application/json")];
    send(&second, Method::GET, "/_vestibule/status?room=reg", &json).await; // status
    send(&second, Method::POST, "/register", &[]).await; // rejected
    send(&second, Method::GET, "/about", &[]).await; // bypass
    send(&second, Method::GET, "/x/%2e%2e/register", &[]).await; // refused
    send(&second, Method::GET, "/_vestibule/nothing", &[]).await; // not_found
    send(&first, Method::GET, "/_vestibule/leave?room=reg", &[]).await; // leave
    let cookies = [&first, &second]
        .iter()
        .flat_map(|v| v.jar.lock().unwrap().values().cloned().collect::<Vec<_>>())
        .collect();
    // Shutdown writes out every line.
    h.running.shutdown().await;
    (sent, std::fs::read_to_string(&file).unwrap(), cookies)
}

/// A logfmt line: `key=value` pairs, values bare or quoted with `\`
/// escapes.
fn logfmt(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next().unwrap() {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ' ').collect();
        }
        out.insert(key, value);
    }
}

fn parse_text(line: &str) -> Line {
    let mut f = logfmt(line);
    let mut take = |k: &str| f.remove(k).unwrap_or_else(|| panic!("no {k} in {line}"));
    Line {
        client: take("client"),
        method: take("method"),
        path: take("path"),
        status: take("status").parse().unwrap(),
        bytes: take("bytes").parse().unwrap(),
        more: f,
    }
}

fn parse_json(line: &str) -> Line {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let more = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    Line {
        client: v["client"].as_str().unwrap().into(),
        method: v["method"].as_str().unwrap().into(),
        path: v["path"].as_str().unwrap().into(),
        status: v["status"].as_u64().unwrap() as u16,
        bytes: v["bytes"].as_u64().unwrap(),
        more,
    }
}

/// nginx's combined format:
/// `client - user [time] "method path proto" status bytes "referer" "agent"`.
fn parse_combined(line: &str) -> Line {
    let (client, rest) = line.split_once(" - - [").unwrap();
    let (time, rest) = rest.split_once("] \"").unwrap();
    let (request, rest) = rest.split_once("\" ").unwrap();
    let mut req = request.split(' ');
    let (method, path, proto) = (req.next().unwrap(), req.next().unwrap(), req.next().unwrap());
    let (status, rest) = rest.split_once(' ').unwrap();
    let (bytes, rest) = rest.split_once(' ').unwrap();
    let quoted: Vec<&str> = rest.split("\" \"").collect();
    let [referer, agent] = quoted[..] else {
        panic!("not two quoted fields: {rest}")
    };
    let unescape = |s: &str| s.trim_matches('"').replace("\\x22", "\"");
    Line {
        client: client.into(),
        method: method.into(),
        path: path.into(),
        status: status.parse().unwrap(),
        bytes: bytes.parse().unwrap(),
        more: HashMap::from([
            ("time".to_string(), time.to_string()),
            ("proto".to_string(), proto.to_string()),
            ("referer".to_string(), unescape(referer)),
            ("user_agent".to_string(), unescape(agent)),
        ]),
    }
}

/// Every request is one line, in order, with what the client got.
fn each_request_is_its_line(sent: &[Sent], lines: &[Line]) {
    assert_eq!(lines.len(), sent.len(), "{lines:#?}");
    for (s, l) in sent.iter().zip(lines) {
        assert_eq!(l.client, "127.0.0.1");
        assert_eq!((l.method.as_str(), l.path.as_str()), (s.method.as_str(), s.path));
        assert_eq!(l.status, s.status.as_u16(), "{l:?}");
        assert_eq!(l.bytes, s.bytes as u64, "the body's bytes: {l:?}");
    }
    assert_eq!(
        lines[0].more.get("user_agent").map(String::as_str),
        Some("Mozilla/5.0 (X11; Linux) \"quoted\"")
    );
    assert_eq!(
        lines[0].more.get("referer").map(String::as_str),
        Some("http://example.test/a b")
    );
}

/// What `text` and `json` add: the room, the outcome and the visitor.
fn the_gate_says_what_it_did(lines: &[Line]) {
    // (room, outcome, ticket, session)
    type Said<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);
    let said: Vec<Said> = lines
        .iter()
        .map(|l| {
            let f = |k: &str| l.more.get(k).map(String::as_str);
            (f("room"), f("outcome").unwrap(), f("ticket"), f("session"))
        })
        .collect();
    assert_eq!(
        said,
        [
            (Some("reg"), "direct", None, Some("1")),
            (Some("reg"), "session", None, Some("1")),
            (Some("reg"), "queued", Some("2"), None),
            (Some("reg"), "status", Some("2"), None),
            (Some("reg"), "rejected", Some("2"), None),
            (None, "bypass", None, None),
            (None, "refused", None, None),
            (Some("reg"), "not_found", Some("2"), None),
            (Some("reg"), "leave", None, Some("1")),
        ]
    );
    // Forwarded requests say how long the upstream took; answers from
    // the lobby do not.
    let upstream: Vec<bool> = lines.iter().map(|l| l.more.contains_key("upstream_ms")).collect();
    assert_eq!(upstream, [true, true, false, false, false, true, false, false, false]);
    for l in lines {
        let d: f64 = l.more["duration_ms"].parse().unwrap();
        assert!(d > 0.0, "{l:?}");
        assert!(l.more["time"].ends_with('Z'), "UTC, RFC 3339: {l:?}");
    }
}

fn no_token_is_written(log: &str, cookies: &[String]) {
    assert!(!cookies.is_empty());
    for c in cookies {
        assert!(!log.contains(c.as_str()), "a token in the log: {c}");
    }
}

#[tokio::test]
async fn the_text_format_is_logfmt() {
    let (sent, log, cookies) = scenario("text", "").await;
    let lines: Vec<Line> = log.lines().map(parse_text).collect();
    each_request_is_its_line(&sent, &lines);
    the_gate_says_what_it_did(&lines);
    no_token_is_written(&log, &cookies);
}

#[tokio::test]
async fn the_json_format_is_an_object_a_line() {
    let (sent, log, cookies) = scenario("json", "").await;
    let lines: Vec<Line> = log.lines().map(parse_json).collect();
    each_request_is_its_line(&sent, &lines);
    the_gate_says_what_it_did(&lines);
    no_token_is_written(&log, &cookies);
}

#[tokio::test]
async fn the_combined_format_is_nginx_s() {
    let (sent, log, cookies) = scenario("combined", "").await;
    let lines: Vec<Line> = log.lines().map(parse_combined).collect();
    each_request_is_its_line(&sent, &lines);
    no_token_is_written(&log, &cookies);
    for l in &lines {
        assert_eq!(l.more["proto"], "HTTP/1.1");
        // `02/Dec/2026:18:55:26 +0000`
        let t = &l.more["time"];
        assert!(t.len() == 26 && t.ends_with(" +0000") && &t[2..3] == "/", "{t}");
    }
}

#[tokio::test]
async fn a_trusted_proxy_in_front_names_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let rooms = format!(
        "{ROOM}\n[log]\naccess = \"json\"\naccess_file = \"{}\"\n",
        file.display()
    );
    for (trust, client) in [(true, "203.0.113.9"), (false, "127.0.0.1")] {
        let _ = std::fs::remove_file(&file);
        let extra = format!("trust_forwarded_headers = {trust}");
        let h = Harness::start_with(&rooms, &extra).await;
        let xff = [("x-forwarded-for", "198.51.100.1, 203.0.113.9")];
        h.visitor().send(Method::GET, "/about", &xff, Bytes::new()).await;
        h.running.shutdown().await;
        let text = std::fs::read_to_string(&file).unwrap();
        let line = parse_json(text.lines().next().unwrap());
        assert_eq!(line.client, client, "trust_forwarded_headers = {trust}");
    }
}

#[tokio::test]
async fn a_response_cut_short_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let rooms = format!(
        "{ROOM}\n[log]\naccess = \"json\"\naccess_file = \"{}\"\n",
        file.display()
    );
    let h = Harness::start_with(&rooms, "").await;
    // The fake upstream streams 10 MB from /big. The client reads the
    // head and goes away.
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(s);
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.running.shutdown().await;
    let text = std::fs::read_to_string(&file).unwrap();
    let line = parse_json(text.lines().next().unwrap());
    assert_eq!(line.more["cut"], "true", "{line:?}");
    assert!(line.bytes < 10 * 1024 * 1024, "{line:?}");
}

/// A client that gives up while the upstream thinks gets its line all the
/// same, as in nginx: status 499, cut.
#[tokio::test]
async fn a_client_that_gives_up_before_the_answer_gets_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let rooms = format!(
        "{ROOM}\n[log]\naccess = \"json\"\naccess_file = \"{}\"\n",
        file.display()
    );
    let h = Harness::start_with(&rooms, "").await;
    let mut s = tokio::net::TcpStream::connect(h.running.addr()).await.unwrap();
    use tokio::io::AsyncWriteExt;
    s.write_all(b"GET /slow?ms=1500 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.running.shutdown().await;
    let text = std::fs::read_to_string(&file).unwrap();
    let line = parse_json(text.lines().next().unwrap_or_else(|| panic!("no line:\n{text}")));
    assert_eq!(line.path, "/slow?ms=1500", "{line:?}");
    assert_eq!(line.status, 499, "{line:?}");
    assert_eq!(line.more["cut"], "true", "{line:?}");
}

/// The binary with `config`'s text, its stdout and stderr piped.
fn start(dir: &Path, config: &str) -> std::process::Child {
    let path = dir.join("vestibule.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["--config", path.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .env_remove("VESTIBULE_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops `child` with SIGTERM (it drains and writes out its log).
fn stop(child: &mut std::process::Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    child.wait().unwrap();
}

#[tokio::test]
async fn the_process_log_can_be_json_and_the_access_log_is_on_stdout_by_default() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{}\"\n\
             [log]\nformat = \"json\"\n{ROOM}",
            upstream.addr
        ),
    );
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("vestibule starts");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");
        if v["message"] == "vestibule started" {
            break v;
        }
    };
    let listen = started["listen"].as_str().unwrap();
    let addr: std::net::SocketAddr = listen.trim_matches(['[', ']']).parse().unwrap();
    let r = Visitor::new(addr).get("/register").await;
    assert_eq!(r.status, StatusCode::OK);
    stop(&mut child);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let line = parse_text(out.lines().next().unwrap_or_else(|| panic!("no access line on stdout")));
    assert_eq!((line.path.as_str(), line.status), ("/register", 200));
    assert_eq!(line.more["outcome"], "direct");
}

#[tokio::test]
async fn sighup_reopens_the_file_after_a_rotation() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("access.log");
    let mut child = start(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{}\"\n\
             [log]\naccess_file = \"access.log\"\n{ROOM}",
            upstream.addr
        ),
    );
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr: std::net::SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("vestibule starts");
        if let Some(rest) = line.split_once("listen=[").map(|(_, r)| r) {
            break rest[..rest.find(']').unwrap()].parse().unwrap();
        }
    };
    let v = Visitor::new(addr);
    v.get("/before").await;
    eventually(10, "the first line is written", async || {
        std::fs::read_to_string(&file).is_ok_and(|t| t.contains("path=/before"))
    })
    .await;
    // logrotate: move the file away, then signal.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&file, &rotated).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually(10, "the file is opened again", async || file.exists()).await;
    v.get("/after").await;
    stop(&mut child);
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&file).unwrap();
    assert!(old.contains("path=/before") && !old.contains("path=/after"), "{old}");
    assert!(new.contains("path=/after") && !new.contains("path=/before"), "{new}");
}
