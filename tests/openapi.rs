//! `docs/openapi.yaml` against the real thing. One vestibule is driven
//! through every state a visitor can be in (queued, paused, admitted, a
//! pre-queue in arrival order and a drawn one, a drawn place, closed, no
//! ticket, a store outage) and every admin call (and its errors); each
//! answer is checked against what the spec says for its path, method and
//! status: the body against the response's schema (whose objects forbid
//! fields they do not list, so a field the code adds and the spec does
//! not name fails here, as does a field the spec requires and the code
//! does not send), and the headers the spec requires. Then every
//! response the spec documents must have been seen, and every route the
//! code has must be in the spec, so neither can drift from the other.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use support::*;
use vestibule::store::memory::MemoryStore;
use vestibule::store::{Arrival, Limits, Overrides, Snapshot, Store, StoreError, TickReport, Visit};

const TOKEN: &str = "admin-token-0123456789abcdef";
const SEC: Duration = Duration::from_secs(1);

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The spec, read as JSON.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(repo("docs/openapi.yaml")).unwrap();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.yaml: {e}"));
        assert_eq!(doc["openapi"], "3.1.0");
        Spec { doc }
    }

    /// `node`, or what its `$ref` (`#/components/...`) points at.
    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("a remote $ref: {r}"));
                self.resolve(
                    self.doc
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("$ref {r} leads nowhere")),
                )
            }
            None => node,
        }
    }

    /// What the spec says `method path` answers with `status`.
    fn response(&self, path: &str, method: &str, status: u16) -> &Value {
        let op = self.doc["paths"]
            .get(path)
            .and_then(|p| p.get(method))
            .unwrap_or_else(|| panic!("the spec has no {method} {path}"));
        let r = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("the spec has no {status} for {method} {path}"));
        self.resolve(r)
    }

    /// The errors of `instance` against `schema`, whose `$ref`s point into
    /// this document's components.
    fn errors(&self, schema: &Value, instance: &Value) -> Vec<String> {
        // The schema wrapped in a document that carries the components
        // where its `#/components/...` references expect them.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("the schema does not compile: {e}\n{schema}"));
        v.iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    fn schema(&self, name: &str) -> Value {
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }

    /// Every operation's responses: `(path, method, status)`.
    fn documented(&self) -> BTreeSet<(String, String, u16)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                    continue;
                };
                for status in responses.keys() {
                    out.insert((path.clone(), method.clone(), status.parse().unwrap()));
                }
            }
        }
        out
    }
}

/// Checks answers against the spec and remembers which it saw.
struct Checker {
    spec: Spec,
    seen: BTreeSet<(String, String, u16)>,
}

impl Checker {
    /// Checks `r`, the answer to `method path` (`path` as the spec names
    /// it), and returns its JSON body (`Null` for another type).
    fn check(&mut self, path: &str, method: &str, r: &Resp) -> Value {
        let status = r.status.as_u16();
        self.seen.insert((path.to_string(), method.to_string(), status));
        let response = self.spec.response(path, method, status).clone();
        self.conforms(&response, &format!("{method} {path} {status}"), r)
    }

    /// Checks `r` against a response of the spec's components (one that
    /// no operation lists, such as 405).
    fn check_component(&mut self, name: &str, r: &Resp) -> Value {
        let response = self.spec.doc["components"]["responses"][name].clone();
        assert!(response.is_object(), "no component response {name}");
        self.conforms(&response, name, r)
    }

    fn conforms(&self, response: &Value, what: &str, r: &Resp) -> Value {
        let context = || format!("{what}: {:?}\n{}", r.headers, r.text());
        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            for (name, h) in headers {
                let h = self.spec.resolve(h);
                match r.header(name) {
                    None => assert!(
                        h["required"] != true,
                        "{what}: the spec requires header {name}\n{}",
                        context()
                    ),
                    Some(v) => {
                        let schema = &h["schema"];
                        let value = if self.spec.resolve(schema)["type"] == "integer" {
                            v.parse::<i64>().map(Value::from).unwrap_or(Value::from(v))
                        } else {
                            Value::from(v)
                        };
                        let errors = self.spec.errors(schema, &value);
                        assert!(errors.is_empty(), "{what}: header {name}: {errors:?}\n{}", context());
                    }
                }
            }
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            assert!(r.body.is_empty(), "{what}: the spec says no body\n{}", context());
            return Value::Null;
        };
        let ct = r
            .header("content-type")
            .unwrap_or_else(|| panic!("no content type\n{}", context()));
        let essence = ct.split(';').next().unwrap().trim();
        let media = content
            .get(ct)
            .or_else(|| content.get(essence))
            .unwrap_or_else(|| panic!("{what}: the spec has no {ct} answer\n{}", context()));
        let (body, schema) = if essence == "application/json" {
            (r.json(), &media["schema"])
        } else {
            (Value::from(r.text()), &media["schema"])
        };
        let mut errors = self.spec.errors(schema, &body);
        // A `oneOf` says only that no branch fits: name the branch the
        // discriminator picks, and what it finds wrong.
        let resolved = self.spec.resolve(schema);
        if let (false, Some(d)) = (errors.is_empty(), resolved.get("discriminator")) {
            let key = d["propertyName"].as_str().unwrap();
            if let Some(branch) = body.get(key).and_then(|k| d["mapping"].get(k.as_str()?)) {
                errors.push(format!("as {branch}:"));
                errors.extend(self.spec.errors(&json!({ "$ref": branch }), &body));
            }
        }
        assert!(
            errors.is_empty(),
            "{what}: the answer does not match the spec:\n  {}\n{}",
            errors.join("\n  "),
            context()
        );
        if essence == "application/json" {
            body
        } else {
            Value::Null
        }
    }
}

/// The memory store, failing every call a request makes while `down`.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("down for the test".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Store for FlakyStore {
    async fn arrive(&self, room: &str, now: u64, l: &Limits) -> Result<Arrival, StoreError> {
        self.check()?;
        self.inner.arrive(room, now, l).await
    }
    async fn visit(&self, room: &str, t: u64, now: u64, l: &Limits) -> Result<Visit, StoreError> {
        self.check()?;
        self.inner.visit(room, t, now, l).await
    }
    async fn touch(&self, room: &str, s: u64, now: u64, l: &Limits) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.touch(room, s, now, l).await
    }
    async fn release(&self, room: &str, s: u64, now: u64, l: &Limits) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.release(room, s, now, l).await
    }
    async fn tick(&self, room: &str, now: u64, l: &Limits) -> Result<TickReport, StoreError> {
        self.inner.tick(room, now, l).await
    }
    async fn snapshot(&self, room: &str, now: u64, l: &Limits) -> Result<Snapshot, StoreError> {
        self.check()?;
        self.inner.snapshot(room, now, l).await
    }
    async fn set_overrides(&self, room: &str, o: Overrides, now: u64, l: &Limits) -> Result<Snapshot, StoreError> {
        self.check()?;
        self.inner.set_overrides(room, o, now, l).await
    }
}

/// Five rooms: a small one for the line's states, an event's pre-queue in
/// arrival order and a drawn one, a room whose site is slow and one whose
/// site is gone. `{shuffle}` is the first event's `shuffle`.
fn config(shuffle: bool) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
upstream = "http://{{upstream}}"
admin_token_file = "admin-token"
response_timeout = "300ms"

[page]
site_name = "Tickets"

[log]
access = "off"

[[room]]
name = "reg"
title = "Registration"
paths = ["/register"]
capacity = 1
session_ttl = "10m"
checkin_window = "1h"
notice = "Doors close at 22:00."

[[room]]
name = "ev"
paths = ["/ev"]
capacity = 1
checkin_window = "1h"
[[room.event]]
name = "launch"
prequeue_from = "{t0}"
opens_at = "{open}"
shuffle = {shuffle}

[[room]]
name = "dr"
title = "The draw"
paths = ["/draw"]
capacity = 1
checkin_window = "1h"
[[room.event]]
name = "draw"
prequeue_from = "{t0}"
opens_at = "{open}"
shuffle = true

[[room]]
name = "slow"
paths = ["/slow"]
capacity = 100

[[room]]
name = "dead"
paths = ["/dead"]
upstream = "http://127.0.0.1:1"
capacity = 100
"#,
        t0 = at(0),
        open = at(600),
    )
}

/// A request to the admin listener, with the token when `auth`.
async fn admin(h: &Harness, method: Method, path: &str, body: &str, auth: bool) -> Resp {
    let bearer = format!("Bearer {TOKEN}");
    let mut headers = vec![("content-type", "application/json")];
    if auth {
        headers.push(("authorization", bearer.as_str()));
    }
    h.admin()
        .send(method, path, &headers, Bytes::from(body.to_string()))
        .await
}

async fn json_post(v: &Visitor, path: &str) -> Resp {
    v.send(
        Method::POST,
        path,
        &[("accept", "application/json")],
        Bytes::from("a=1"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_match_the_spec_and_the_spec_is_covered() {
    let mut c = Checker {
        spec: Spec::load(),
        seen: BTreeSet::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-token"), format!("{TOKEN}\n")).unwrap();
    let store = Arc::new(FlakyStore::default());
    let down = store.down.clone();
    let h = Harness::from_file_with(Upstream::start().await, dir.path(), &config(false), T0, Some(store)).await;
    h.tick().await;
    const STATUS: &str = "/_vestibule/status";
    const PAGE: &str = "/{room_path}";

    // -- The line. A takes the only slot; B and C queue.
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    assert!(a.get("/register").await.reached_upstream());
    let b = h.visitor();
    let j = c.check(PAGE, "get", &b.get_json("/register?lang=fr").await);
    assert_eq!(
        (j["state"].as_str(), j["position"].as_u64()),
        (Some("queued"), Some(1)),
        "{j}"
    );
    assert_eq!(
        (j["lang"].as_str(), j["site_name"].as_str()),
        (Some("fr"), Some("Tickets")),
        "{j}"
    );
    assert!(
        b.cookie("vst__lang").is_some(),
        "a language chosen with ?lang= is remembered"
    );
    let r = b.get_json("/_vestibule/status?room=reg").await;
    let j = c.check(STATUS, "get", &r);
    assert_eq!(j["state"], "queued", "{j}");
    assert_eq!(
        r.header("retry-after"),
        Some(j["poll_after_seconds"].to_string().as_str())
    );
    assert!(j.get("message").is_none(), "language-neutral unless asked: {j}");
    let j = c.check(STATUS, "get", &b.get_json("/_vestibule/status?room=reg&lang=de").await);
    assert_eq!(j["lang"], "de", "{j}");
    let r = json_post(&b, "/register").await;
    let j = c.check(PAGE, "post", &r);
    assert_eq!(
        (r.status.as_u16(), j["error"].as_str()),
        (503, Some("You are in line")),
        "{j}"
    );
    let r = b.post("/register", "a=1").await;
    assert_eq!(c.check(PAGE, "post", &r), Value::Null, "HTML without Accept");
    assert!(r.text().contains("<html"), "{}", r.text());
    let cv = h.visitor();
    let r = cv.get("/register").await;
    assert!(c.check(PAGE, "get", &r).is_null() && r.text().contains("<html"));
    c.check(STATUS, "get", &cv.get_json("/_vestibule/status?room=reg").await);

    // -- Paused: no estimate, the place kept.
    let j = c.check(
        "/api/rooms/{name}/pause",
        "post",
        &admin(&h, Method::POST, "/api/rooms/reg/pause", "", true).await,
    );
    assert_eq!(j["paused"], true, "{j}");
    let j = c.check(STATUS, "get", &b.get_json("/_vestibule/status?room=reg").await);
    assert_eq!(
        (j["paused"].as_bool(), &j["eta_seconds"]),
        (Some(true), &Value::Null),
        "{j}"
    );
    let j = c.check(
        "/api/rooms/{name}/resume",
        "post",
        &admin(&h, Method::POST, "/api/rooms/reg/resume", "", true).await,
    );
    assert_eq!(j["paused"], false, "{j}");

    // -- Leaving frees A's slot; B's turn comes.
    let r = a.get("/_vestibule/leave?room=reg&return_to=/done%3Fx%3D1").await;
    c.check("/_vestibule/leave", "get", &r);
    assert_eq!(r.header("location"), Some("/done?x=1"));
    let r = h
        .visitor()
        .get("/_vestibule/leave?room=reg&return_to=//elsewhere.example/")
        .await;
    c.check("/_vestibule/leave", "get", &r);
    assert_eq!(r.header("location"), Some("/"), "never another host");
    h.tick_after(SEC).await;
    let ticket = b.cookie("vst_reg").unwrap();
    let r = b.get_json("/_vestibule/status?room=reg").await;
    let j = c.check(STATUS, "get", &r);
    assert_eq!(j["state"], "admitted", "{j}");
    assert_eq!(r.header("retry-after"), None);
    assert_ne!(b.cookie("vst_reg").unwrap(), ticket, "the session cookie");
    let j = c.check(STATUS, "get", &b.get_json("/_vestibule/status?room=reg&lang=es").await);
    assert_eq!(
        (j["state"].as_str(), j["lang"].as_str()),
        (Some("admitted"), Some("es"))
    );
    assert!(b.get("/register").await.reached_upstream());
    c.check("/_vestibule/leave", "get", &b.get("/_vestibule/leave?room=reg").await);

    // -- No standing: no ticket, a used ticket (its session ended), no
    // such room.
    let j = c.check(
        STATUS,
        "get",
        &h.visitor().get_json("/_vestibule/status?room=reg").await,
    );
    assert_eq!(j["error"], "no ticket for this room");
    let replay = h.visitor();
    replay.set_cookie("vst_reg", &ticket);
    let j = c.check(STATUS, "get", &replay.get_json("/_vestibule/status?room=reg").await);
    assert_eq!(j["error"], "ticket not known");
    let j = c.check(
        STATUS,
        "get",
        &h.visitor().get_json("/_vestibule/status?room=nope").await,
    );
    assert_eq!(j["error"], "unknown room");

    // -- Closed, then open again.
    let p = "/api/rooms/{name}";
    let j = c.check(
        p,
        "patch",
        &admin(&h, Method::PATCH, "/api/rooms/reg", r#"{"mode": "closed"}"#, true).await,
    );
    assert_eq!(
        (j["mode"].as_str(), j["overrides"]["mode"].as_str()),
        (Some("closed"), Some("closed"))
    );
    let newcomer = h.visitor();
    let r = newcomer.get_json("/register").await;
    let j = c.check(PAGE, "get", &r);
    assert_eq!(
        (j["state"].as_str(), j["notice"].as_str()),
        (Some("closed"), Some("Doors close at 22:00."))
    );
    let when = j["poll_after_seconds"].to_string();
    assert_eq!(r.header("retry-after"), Some(when.as_str()), "when to look again");
    let r = json_post(&newcomer, "/register").await;
    let j = c.check(PAGE, "post", &r);
    assert_eq!((r.status.as_u16(), j["state"].as_str()), (403, Some("closed")));
    assert_eq!(r.header("retry-after"), None, "a refused form is not to be sent again");
    let r = cv.get_json("/_vestibule/status?room=reg").await;
    let j = c.check(STATUS, "get", &r);
    assert_eq!(j["state"], "closed", "{j}");
    assert_eq!(r.header("retry-after"), Some(when.as_str()));
    let j = c.check(
        STATUS,
        "get",
        &h.visitor().get_json("/_vestibule/status?room=reg").await,
    );
    assert!(j["state"] == "closed" && j.get("message").is_none(), "{j}");
    let j = c.check(
        STATUS,
        "get",
        &h.visitor().get_json("/_vestibule/status?room=reg&lang=nl").await,
    );
    assert_eq!((j["state"].as_str(), j["lang"].as_str()), (Some("closed"), Some("nl")));
    c.check(
        p,
        "patch",
        &admin(&h, Method::PATCH, "/api/rooms/reg", r#"{"mode": null}"#, true).await,
    );

    // -- The rooms API: every key a PATCH takes, and what it refuses.
    let patch = c.spec.schema("RoomPatch");
    for body in [
        r#"{"capacity": 5, "admit_per_minute": "unlimited", "notice": "Back at 10:15.", "mode": "queue"}"#,
        r#"{"admit_per_minute": 60, "notice": ""}"#,
        r#"{"capacity": null, "admit_per_minute": null, "notice": null, "mode": null}"#,
    ] {
        let r = admin(&h, Method::PATCH, "/api/rooms/reg", body, true).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        let j = c.check(p, "patch", &r);
        assert_eq!(j["name"], "reg");
        let errors = c.spec.errors(&patch, &serde_json::from_str(body).unwrap());
        assert!(
            errors.is_empty(),
            "the code takes {body}, the spec refuses it: {errors:?}"
        );
    }
    for (body, says) in [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        ("{}", "nothing to change"),
        (r#"{"paused": true}"#, "unknown key"),
        (r#"{"capacity": 0}"#, "capacity must be"),
        (r#"{"capacity": 4294967296}"#, "capacity must be"),
        (r#"{"capacity": "10"}"#, "capacity must be"),
        (r#"{"admit_per_minute": 0}"#, "admit_per_minute must be"),
        (r#"{"admit_per_minute": "fast"}"#, "admit_per_minute must be"),
        (r#"{"notice": 5}"#, "notice must be"),
        (r#"{"mode": "prequeue"}"#, "mode must be"),
        (r#"{"mode": 1}"#, "mode must be"),
    ] {
        let r = admin(&h, Method::PATCH, "/api/rooms/reg", body, true).await;
        let j = c.check(p, "patch", &r);
        assert_eq!(r.status, 400, "{body}");
        assert!(j["error"].as_str().unwrap().contains(says), "{body}: {j}");
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            assert!(
                !c.spec.errors(&patch, &v).is_empty(),
                "the code refuses {body}, the spec takes it"
            );
        }
    }
    // What the schema cannot say (trimmed length, control characters),
    // the code refuses in words.
    for (body, says) in [
        (format!(r#"{{"notice": "{}"}}"#, "x".repeat(501)), "at most 500"),
        (r#"{"notice": "a\u0007b"}"#.to_string(), "control character"),
    ] {
        let r = admin(&h, Method::PATCH, "/api/rooms/reg", &body, true).await;
        assert!(c.check(p, "patch", &r)["error"].as_str().unwrap().contains(says));
    }
    let big = format!(r#"{{"notice": "{}"}}"#, "x".repeat(17 * 1024));
    let r = admin(&h, Method::PATCH, "/api/rooms/reg", &big, true).await;
    assert_eq!(r.status, 413);
    c.check(p, "patch", &r);
    let j = c.check(
        "/api/rooms/{name}/reset",
        "post",
        &admin(&h, Method::POST, "/api/rooms/reg/reset", "", true).await,
    );
    assert_eq!(j["overrides"], json!({"paused": false}), "{j}");
    c.check(p, "get", &admin(&h, Method::GET, "/api/rooms/reg", "", true).await);
    let j = c.check(
        "/api/rooms",
        "get",
        &admin(&h, Method::GET, "/api/rooms", "", true).await,
    );
    assert_eq!(j["rooms"].as_array().unwrap().len(), 5);

    // No token, no such room, a method a path does not take.
    let ops: [(Method, &str, &str); 6] = [
        (Method::GET, "/api/rooms", "/api/rooms"),
        (Method::GET, "/api/rooms/{name}", "/api/rooms/X"),
        (Method::PATCH, "/api/rooms/{name}", "/api/rooms/X"),
        (Method::POST, "/api/rooms/{name}/pause", "/api/rooms/X/pause"),
        (Method::POST, "/api/rooms/{name}/resume", "/api/rooms/X/resume"),
        (Method::POST, "/api/rooms/{name}/reset", "/api/rooms/X/reset"),
    ];
    let reload: (Method, &str, &str) = (Method::POST, "/api/reload", "/api/reload");
    for (method, spec_path, path) in ops.iter().chain([&reload]) {
        let m = method.as_str().to_lowercase();
        let r = admin(&h, method.clone(), &path.replace('X', "reg"), "{}", false).await;
        assert_eq!(r.status, 401, "{path}");
        c.check(spec_path, &m, &r);
        if path.contains('X') {
            let r = admin(
                &h,
                method.clone(),
                &path.replace('X', "nope"),
                r#"{"capacity": 2}"#,
                true,
            )
            .await;
            assert_eq!(r.status, 404, "{path}");
            c.check(spec_path, &m, &r);
        }
    }
    for (method, path, allow) in [
        (Method::POST, "/metrics", "GET"),
        (Method::DELETE, "/api/rooms", "GET"),
        (Method::PUT, "/api/rooms/reg", "GET, PATCH"),
        (Method::GET, "/api/rooms/reg/pause", "POST"),
        (Method::GET, "/api/reload", "POST"),
    ] {
        let r = admin(&h, method, path, "", true).await;
        assert_eq!((r.status.as_u16(), r.header("allow")), (405, Some(allow)), "{path}");
        c.check_component("MethodNotAllowed", &r);
    }
    c.check("/metrics", "get", &h.admin().get("/metrics").await);
    c.check("/healthz", "get", &h.admin().get("/healthz").await);
    c.check("/readyz", "get", &h.admin().get("/readyz").await);

    // -- An event's pre-queue, in arrival order and drawn.
    let e1 = h.visitor();
    let j = c.check(PAGE, "get", &e1.get_json("/ev").await);
    assert_eq!(
        (
            j["state"].as_str(),
            j["position"].as_u64(),
            j["opens_in_seconds"].as_u64()
        ),
        (Some("prequeue"), Some(1), Some(599)),
        "{j}"
    );
    let j = c.check(STATUS, "get", &e1.get_json("/_vestibule/status?room=ev&lang=fr").await);
    assert_eq!(j["state"], "prequeue");
    let drawn: Vec<Visitor> = (0..3).map(|_| h.visitor()).collect();
    for v in &drawn {
        let j = c.check(PAGE, "get", &v.get_json("/draw").await);
        assert_eq!(
            (j["state"].as_str(), j["shuffle"].as_bool(), &j["position"]),
            (Some("prequeue"), Some(true), &Value::Null),
            "{j}"
        );
        // The pass's first poll gets a ticket, the next checks it in.
        for _ in 0..2 {
            let j = c.check(STATUS, "get", &v.get_json("/_vestibule/status?room=dr").await);
            assert!(j["state"] == "prequeue" && j["position"].is_null(), "{j}");
        }
    }
    let j = c.check(p, "get", &admin(&h, Method::GET, "/api/rooms/dr", "", true).await);
    assert_eq!(
        (j["event"]["phase"].as_str(), &j["draw"]),
        (Some("prequeue"), &Value::Null)
    );

    // -- Reload: what changed and what it warns of; a broken file.
    let file = dir.path().join("vestibule.toml");
    let text = |shuffle| config(shuffle).replace("{upstream}", &h.upstream.addr.to_string());
    std::fs::write(&file, text(true)).unwrap();
    let r = admin(&h, Method::POST, "/api/reload", "", true).await;
    let j = c.check("/api/reload", "post", &r);
    assert_eq!(r.status, 200);
    assert_eq!(j["rooms_changed"], json!(["ev"]), "{j}");
    assert!(j["warnings"][0].as_str().unwrap().contains("shuffle turned on"), "{j}");
    std::fs::write(&file, text(true).replace("capacity = 1\n", "capacity = -1\n")).unwrap();
    let r = admin(&h, Method::POST, "/api/reload", "", true).await;
    assert_eq!(r.status, 422);
    assert!(c.check("/api/reload", "post", &r)["error"]
        .as_str()
        .unwrap()
        .contains("capacity"));
    std::fs::write(&file, text(true)).unwrap();

    // -- The doors open: a drawn place.
    h.tick_after(601 * SEC).await;
    let mut states = Vec::new();
    for _ in 0..3 {
        for v in &drawn {
            let j = c.check(STATUS, "get", &v.get_json("/_vestibule/status?room=dr").await);
            if j["state"] == "queued" {
                assert_eq!(j["drawn"], true, "{j}");
            }
            states.push(j["state"].as_str().unwrap().to_string());
        }
        h.tick_after(SEC).await;
    }
    assert!(states.iter().any(|s| s == "queued"), "{states:?}");
    let j = c.check(p, "get", &admin(&h, Method::GET, "/api/rooms/dr", "", true).await);
    assert_eq!(j["draw"]["size"], 3, "{j}");

    // -- The site fails: gone (502), too slow (504).
    for (path, status) in [("/dead", 502), ("/slow?ms=2000", 504)] {
        let r = h.visitor().get_json(path).await;
        assert_eq!(r.status, status, "{}", r.text());
        c.check(PAGE, "get", &r);
        let r = json_post(&h.visitor(), path).await;
        assert_eq!(r.status, status, "{}", r.text());
        c.check(PAGE, "post", &r);
    }

    // -- The store is down: visitors wait, operators are told.
    c.check(
        "/api/rooms/{name}/pause",
        "post",
        &admin(&h, Method::POST, "/api/rooms/reg/pause", "", true).await,
    );
    let s = h.visitor();
    assert_eq!(s.get_json("/register").await.json()["state"], "queued");
    down.store(true, Ordering::SeqCst);
    let r = s.get_json("/_vestibule/status?room=reg").await;
    assert_eq!(r.status, 503, "{}", r.text());
    c.check(STATUS, "get", &r);
    let r = s.get("/_vestibule/status?room=reg").await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "the status endpoint answers JSON whatever the client accepts"
    );
    c.check(STATUS, "get", &r);
    let r = h.visitor().get_json("/register").await;
    assert_eq!(r.status, 503, "{}", r.text());
    c.check(PAGE, "get", &r);
    for (spec_path, path, method) in [
        (p, "/api/rooms/reg", Method::PATCH),
        ("/api/rooms/{name}/pause", "/api/rooms/reg/pause", Method::POST),
        ("/api/rooms/{name}/resume", "/api/rooms/reg/resume", Method::POST),
        ("/api/rooms/{name}/reset", "/api/rooms/reg/reset", Method::POST),
    ] {
        let m = method.as_str().to_lowercase();
        let r = admin(&h, method, path, r#"{"capacity": 2}"#, true).await;
        assert_eq!(r.status, 503, "{path}: {}", r.text());
        c.check(spec_path, &m, &r);
    }
    down.store(false, Ordering::SeqCst);

    // -- Shutting down: not ready.
    h.running.app.set_ready(false);
    let r = h.admin().get("/readyz").await;
    assert_eq!(r.status, 503);
    c.check("/readyz", "get", &r);

    // Every answer the spec documents was seen.
    let missing: Vec<_> = c.spec.documented().difference(&c.seen).cloned().collect();
    assert!(
        missing.is_empty(),
        "documented in docs/openapi.yaml but never seen here: {missing:?}"
    );
}

/// The checks above bite: a field the spec does not list, a field it
/// requires and the answer lacks, a state with the wrong fields.
#[test]
fn the_schemas_refuse_what_the_code_does_not_send() {
    let spec = Spec::load();
    let waiting = json!({
        "state": "queued", "room": "reg", "notice": null, "position": 3, "returner": false,
        "eta_seconds": 120, "eta_text": "about 2 minutes", "poll_after_seconds": 5,
        "updated_iso": "2026-12-10T19:00:00Z"
    });
    let status = spec.schema("StatusAnswer");
    assert_eq!(spec.errors(&status, &waiting), Vec::<String>::new());
    let mut extra = waiting.clone();
    extra["surprise"] = json!(1);
    let mut missing = waiting.clone();
    missing.as_object_mut().unwrap().remove("eta_text");
    let mut titled = waiting.clone();
    titled["room_title"] = json!("Registration");
    let mut half = waiting.clone();
    half["lang"] = json!("fr");
    let mut early = waiting.clone();
    early["opens_at"] = json!("2026-12-10T19:00:00Z");
    let mut drawn_without_draw = waiting.clone();
    drawn_without_draw["state"] = json!("prequeue");
    drawn_without_draw["opens_at"] = json!("2026-12-10T19:00:00Z");
    drawn_without_draw["opens_in_seconds"] = json!(60);
    drawn_without_draw["shuffle"] = json!(true);
    let mut bad_time = waiting.clone();
    bad_time["updated_iso"] = json!("yesterday");
    for (what, v) in [
        ("a field the spec does not name", extra),
        ("a required field missing", missing),
        ("the page's room_title in a status poll", titled),
        ("lang without message", half),
        ("opens_at outside a pre-queue", early),
        ("a place before the draw", drawn_without_draw),
        ("a time that is not RFC 3339", bad_time),
        (
            "admitted with a place",
            json!({"state": "admitted", "room": "reg", "position": 2, "eta_seconds": 0, "poll_after_seconds": 0}),
        ),
    ] {
        assert!(!spec.errors(&status, &v).is_empty(), "{what} passed: {v}");
    }
    let room = spec.schema("Room");
    assert!(!spec.errors(&room, &json!({"name": "reg"})).is_empty());
}

/// The routes in the code and the paths in the spec are the same set. The
/// code's routes are read from the two routers' `match`es (the public
/// `/_vestibule/` pages in `src/gate.rs`, the admin listener's in
/// `src/admin.rs`); if a router is restructured, update this reading.
#[test]
fn every_route_in_the_code_is_in_the_spec_and_back() {
    let spec = Spec::load();
    let mut in_spec: BTreeSet<String> = BTreeSet::new();
    for (path, item) in spec.doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method.as_str()) {
                in_spec.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let mut in_code: BTreeSet<String> = BTreeSet::new();
    // The public pages: `"status" => Internal::Status`, any method; the
    // spec names the one a client uses.
    let gate = std::fs::read_to_string(repo("src/gate.rs")).unwrap();
    let public: Vec<&str> = gate
        .lines()
        .filter(|l| l.contains("=> Internal::") && !l.trim_start().starts_with('_'))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert!(public.len() >= 2, "the gate's `/_vestibule/` match moved: {public:?}");
    for page in public {
        in_code.insert(format!("GET /_vestibule/{page}"));
    }
    // Gated room paths, both kinds of request.
    in_code.insert("GET /{room_path}".into());
    in_code.insert("POST /{room_path}".into());
    let admin = std::fs::read_to_string(repo("src/admin.rs")).unwrap();
    // `"/healthz" => text(...)`: open paths, GET.
    let handle = admin
        .split("async fn handle")
        .nth(1)
        .unwrap()
        .split("\nfn ")
        .next()
        .unwrap();
    for line in handle.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix('"').and_then(|l| l.split('"').next()) {
            if line.contains("=>") && path.starts_with('/') {
                in_code.insert(format!("GET {path}"));
            }
        }
    }
    // `(["rooms"], &Method::GET)`, and inside the room's own match
    // (after `tail @ ..`) `([], &Method::PATCH)`, `(["pause"], &Method::POST)`.
    let api = admin
        .split("async fn api")
        .nth(1)
        .unwrap()
        .split("\nasync fn ")
        .next()
        .unwrap();
    let mut base = "/api".to_string();
    for line in api.lines().map(str::trim) {
        if line.contains("tail @ ..") {
            base = "/api/rooms/{name}".into();
            continue;
        }
        let Some((pattern, rest)) = line.strip_prefix("([").and_then(|l| l.split_once("], &Method::")) else {
            continue;
        };
        let method = rest.split(')').next().unwrap();
        let mut path = base.clone();
        for seg in pattern.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            path.push('/');
            path.push_str(seg.trim_matches('"'));
        }
        in_code.insert(format!("{method} {path}"));
    }
    assert!(in_code.len() >= 12, "the admin router moved: {in_code:?}");
    assert_eq!(
        in_code, in_spec,
        "routes in the code (left) and paths in docs/openapi.yaml (right) differ"
    );
}

/// What a reload may name as needing a restart is the code's list.
#[test]
fn the_restart_keys_are_the_code_s() {
    let spec = Spec::load();
    let keys = &spec.doc["components"]["schemas"]["ReloadReport"]["properties"]["restart_needed"]["items"]["enum"];
    assert_eq!(keys, &json!(vestibule::reload::RESTART_KEYS));
}
