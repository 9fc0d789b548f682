//! Accessibility of every page vestibule writes, checked in a real browser:
//! axe-core (pinned in `tests/assets/`, see its README) runs in headless
//! chromium, driven over WebDriver by Debian's `chromedriver`, on the
//! waiting page in each of its states (in line, with a notice, paused, a
//! pre-queue's countdown, a drawn pre-queue, a closed room) and on each
//! short message page (502, 504, "please wait", the refused form, 404,
//! ...), in every built-in language, at phone and desktop width, in light
//! and dark colours, with JavaScript on and off. Any violation axe finds
//! fails the test, with every one listed.
//!
//! Beside axe, what it cannot see but a browser can measure: no
//! horizontal scrolling at 320 CSS pixels and at 200 % zoom (WCAG 1.4.10
//! Reflow), and no animation when the visitor asks for reduced motion.
//!
//! **JavaScript off.** axe is JavaScript, and a page loaded with scripts
//! blocked by the browser's content setting cannot run it (its promises
//! wait on timers that never fire). So the page is loaded with script
//! execution disabled through the DevTools protocol
//! (`Emulation.setScriptExecutionDisabled`): the HTML parser then treats
//! `<noscript>` as a visitor without JavaScript gets it (its meta refresh
//! is live) and none of the page's own scripts run. Only once the page
//! has loaded is execution enabled again, for axe alone: the page's
//! scripts were skipped for good and stay so, and `window.stop()` cancels
//! the pending meta refresh so the page holds still while axe reads it.
//! Chromium lays a `<noscript>` out only while scripts cannot run, so
//! once they can, its content (parsed, but no longer shown) would be
//! invisible to axe's checks of colour and layout: the body's `<noscript>`
//! elements are replaced by `<div>`s holding the same nodes, which the
//! visitor without JavaScript sees laid out the same way.
//!
//! Skipped with a note when chromium or chromedriver is missing, unless
//! `VESTIBULE_REQUIRE_BROWSER=1`.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};
use support::{metric, Harness, Visitor};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use vestibule::lang::Catalog;
use vestibule::page::{Message, Pages};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core 4.14.1, MPL-2.0 (tests/assets/README.md).
const AXE: &str = include_str!("assets/axe.min.js");

/// The rules run: WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's
/// best practices (one main landmark, content inside landmarks, one
/// `h1`...). The AAA and experimental rules are left out.
const AXE_TAGS: [&str; 7] = [
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22a",
    "wcag22aa",
    "best-practice",
];

/// Shows what a `<noscript>` in the body holds as a visitor without
/// JavaScript sees it, once scripts run again (see the module's comment).
const UNWRAP_NOSCRIPT: &str = "document.querySelectorAll('body noscript').forEach(function (n) { \
    var d = document.createElement('div'); \
    while (n.firstChild) d.appendChild(n.firstChild); \
    n.replaceWith(d); })";

/// The widths checked: a phone and a desktop.
const WIDTHS: [u32; 2] = [390, 1280];

/// The browser and its driver, or `None` (with a note) when either is
/// missing and the browser tests are not required.
fn installed() -> Option<&'static Path> {
    let (browser, driver) = (Path::new(CHROMIUM), Path::new(CHROMEDRIVER));
    if browser.exists() && driver.exists() {
        return Some(driver);
    }
    if std::env::var("VESTIBULE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "{CHROMIUM} or {CHROMEDRIVER} not found and VESTIBULE_REQUIRE_BROWSER=1: install the \
             `chromium` and `chromium-driver` packages to run the browser tests"
        );
    }
    eprintln!("skipped: chromium or chromedriver not installed");
    None
}

/// One chromedriver and one headless chromium session, ended on drop
/// (chromedriver in its own process group, its browser with it).
struct Driver {
    child: Child,
    http: Visitor,
    session: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    async fn start(driver: &Path) -> Driver {
        let mut child = Command::new(driver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        // "ChromeDriver was started successfully on port 41231."
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(l) = lines.next_line().await.unwrap() {
                if let Some(p) = l.split("successfully on port ").nth(1) {
                    return p.trim_end_matches('.').parse().unwrap();
                }
            }
            panic!("chromedriver exited before it listened");
        })
        .await
        .expect("chromedriver says its port");
        // Keep reading its output, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = Visitor::new(SocketAddr::from(([127, 0, 0, 1], port)));
        let profile = tempfile::tempdir().unwrap();
        // The switches of tests/browser.rs: nothing reaches out to the
        // network (the machine's is closed), a fresh profile.
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let r = post(&http, "/session", &caps).await;
        let session = r["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        Driver {
            child,
            http,
            session,
            _profile: profile,
        }
    }

    async fn call(&self, method: Method, path: &str, body: &Value) -> Value {
        let body = if method == Method::POST {
            Bytes::from(serde_json::to_vec(body).unwrap())
        } else {
            Bytes::new()
        };
        let r = self
            .http
            .send(
                method,
                &format!("/session/{}{path}", self.session),
                &[("content-type", "application/json")],
                body,
            )
            .await;
        let v = r.json();
        assert_eq!(r.status, 200, "webdriver {path}: {v}");
        v["value"].clone()
    }

    /// `body` (a function body, or an expression) run in the current
    /// tab through WebDriver, by value.
    async fn script(&self, body: &str) -> Value {
        let body = if body.contains("return") {
            body.to_string()
        } else {
            format!("return {body}")
        };
        self.call(Method::POST, "/execute/sync", &json!({"script": body, "args": []}))
            .await
    }

    /// A DevTools protocol command, through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            Method::POST,
            "/goog/cdp/execute",
            &json!({"cmd": cmd, "params": params}),
        )
        .await
    }

    /// `expr` evaluated in the page (a promise awaited), by value.
    async fn eval(&self, expr: &str) -> Value {
        let r = self
            .cdp(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expr:.200}: {r}");
        r["result"]["value"].clone()
    }

    /// Loads `url`, with the page's JavaScript or without (see the
    /// module's comment for how).
    async fn open(&self, url: &str, javascript: bool) {
        if !javascript {
            self.cdp("Emulation.setScriptExecutionDisabled", json!({"value": true}))
                .await;
        }
        self.call(Method::POST, "/url", &json!({ "url": url })).await;
        if !javascript {
            self.cdp("Emulation.setScriptExecutionDisabled", json!({"value": false}))
                .await;
            self.eval(&format!("window.stop(); {UNWRAP_NOSCRIPT}")).await;
        }
        self.eval(AXE).await;
    }

    /// The viewport `width` CSS pixels wide, in dark or light colours,
    /// with or without a wish for reduced motion.
    async fn view(&self, width: u32, dark: bool, reduced_motion: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 844, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [
                {"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }},
                {"name": "prefers-reduced-motion", "value": if reduced_motion { "reduce" } else { "no-preference" }},
            ]}),
        )
        .await;
    }

    /// axe's violations on the page as it stands, one line each.
    async fn axe(&self) -> Vec<String> {
        let run = format!(
            "axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}, resultTypes: ['violations']}})\
             .then(function (r) {{ return r.violations.map(function (v) {{\
               return v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(function (n) {{\
                 return n.target.join(' ') + ' [' + n.failureSummary.replace(/\\s+/g, ' ') + ']'; }}).join('; ');\
             }}); }})",
            tags = serde_json::to_string(&AXE_TAGS).unwrap()
        );
        let v = self.eval(&run).await;
        v.as_array()
            .unwrap_or_else(|| panic!("axe answered {v}"))
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    }

    /// What a page must do beyond axe, at the widths and wishes set now:
    /// no horizontal scrolling (WCAG 1.4.10), a focus indicator of at
    /// least 2 px on every link and button focused from the keyboard
    /// (2.4.7, 2.4.11's spirit) and, with reduced motion asked for,
    /// nothing moving.
    async fn layout_problems(&self, reduced_motion: bool) -> Vec<String> {
        let mut out = Vec::new();
        let v = self
            .eval(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth, \
                  Array.from(document.querySelectorAll('*')).filter(function (e) { \
                    return getComputedStyle(e).animationName !== 'none'; }).map(function (e) { \
                    return e.tagName + '.' + e.className; })]",
            )
            .await;
        let (scroll, client) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
        if scroll > client {
            out.push(format!("scrolls sideways: {scroll} px of content in {client}"));
        }
        if reduced_motion && !v[2].as_array().unwrap().is_empty() {
            out.push(format!("animated despite prefers-reduced-motion: {}", v[2]));
        }
        // Focused with no pointer used, as from the keyboard, so
        // :focus-visible applies.
        let unfocused = self
            .eval(
                "Array.from(document.querySelectorAll('a[href], button')).filter(function (e) { \
                   e.focus(); var s = getComputedStyle(e); var ok = document.activeElement === e \
                     && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; \
                   e.blur(); return !ok; }).map(function (e) { return e.outerHTML.slice(0, 80); })",
            )
            .await;
        if !unfocused.as_array().unwrap().is_empty() {
            out.push(format!("no visible focus: {unfocused}"));
        }
        out
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

async fn post(http: &Visitor, path: &str, body: &Value) -> Value {
    let r = http
        .send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            Bytes::from(serde_json::to_vec(body).unwrap()),
        )
        .await;
    let v = r.json();
    assert_eq!(r.status, 200, "webdriver {path}: {v}");
    v["value"].clone()
}

/// A static server for the short message pages: each `Message` as
/// vestibule renders it, in each built-in language, at
/// `/NAME/LANG`. (Most of these answers need a broken site or store to
/// provoke; the page is the same template and texts either way.)
async fn message_pages() -> (SocketAddr, Vec<&'static str>) {
    let catalog = Arc::new(Catalog::built_in());
    let pages = Pages::new(None, catalog.clone()).unwrap();
    let cases: [(&str, u16, Message<'_>, Option<u64>); 9] = [
        ("unreachable", 502, Message::Unreachable, None),
        ("timeout", 504, Message::Timeout, None),
        ("unavailable", 503, Message::Unavailable, Some(2)),
        ("refused", 503, Message::InLine, Some(5)),
        ("not-found", 404, Message::NotFound, None),
        (
            "closed",
            503,
            Message::Closed {
                room: "Registration",
                notice: Some("Registration opens again on Monday at 9:00."),
                submit: true,
            },
            Some(30),
        ),
        ("malformed", 400, Message::Malformed { coding: false }, None),
        ("slow", 408, Message::Incomplete { slow: true }, None),
        ("cut", 400, Message::Incomplete { slow: false }, None),
    ];
    let mut bodies = HashMap::new();
    for (i, l) in catalog.languages().iter().enumerate() {
        for (name, status, m, retry) in &cases {
            bodies.insert(format!("/{name}/{}", l.tag()), pages.message(*status, i, m, *retry));
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(bodies);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let (status, body) = match bodies.get(path) {
                    Some(b) => ("200 OK", b.as_str()),
                    None => ("404 Not Found", "no such page"),
                };
                let r = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(r.as_bytes()).await;
            });
        }
    });
    (addr, cases.iter().map(|c| c.0).collect())
}

/// Every room a waiting page state needs, in one vestibule. Nobody is let
/// in (capacity 0, or a pre-queue under a manual clock that stands
/// still). Short check-in and grace periods, so the page polls every
/// second or two.
fn rooms() -> String {
    let common = "capacity = 0\ncheckin_window = \"6s\"\nclaim_grace = \"3s\"";
    format!(
        r#"
        [[room]]
        name = "line"
        title = "Registration"
        paths = ["/line"]
        {common}

        [[room]]
        name = "notice"
        title = "Registration"
        paths = ["/notice"]
        notice = "We are fixing a problem with payments.\nBack at 10:15."
        {common}

        [[room]]
        name = "paused"
        title = "Registration"
        paths = ["/paused"]
        {common}

        [[room]]
        name = "closed"
        title = "Registration"
        paths = ["/closed"]
        mode = "closed"
        notice = "Registration opens again on Monday at 9:00."
        {common}

        [[room]]
        name = "countdown"
        title = "Registration"
        paths = ["/countdown"]
        capacity = 5
        checkin_window = "6s"
        claim_grace = "3s"
        [[room.event]]
        name = "opening"
        prequeue_from = "{start}"
        opens_at = "{opens}"

        [[room]]
        name = "draw"
        title = "Registration"
        paths = ["/draw"]
        capacity = 5
        checkin_window = "6s"
        claim_grace = "3s"
        [[room.event]]
        name = "opening"
        prequeue_from = "{start}"
        opens_at = "{opens}"
        shuffle = true
        "#,
        start = support::at(0),
        opens = support::at(3600),
    )
}

/// The waiting page's states: room, and whether the page polls (a closed
/// room answers a short page).
const STATES: [(&str, bool); 6] = [
    ("line", true),
    ("notice", true),
    ("paused", true),
    ("countdown", true),
    ("draw", true),
    ("closed", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_in_every_language_width_and_colour() {
    let Some(driver) = installed() else {
        return;
    };
    let started = Instant::now();
    let h = Harness::start(&rooms()).await;
    h.tick().await;
    let r = h
        .admin()
        .send(Method::POST, "/api/rooms/paused/pause", &[], Bytes::new())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A few people ahead in each line, so places have a plural form.
    for (room, _) in STATES {
        for _ in 0..2 {
            h.visitor().get(&format!("/{room}")).await;
        }
    }
    let (messages, names) = message_pages().await;
    let browser = Driver::start(driver).await;
    let tags: Vec<String> = Catalog::built_in()
        .languages()
        .iter()
        .map(|l| l.tag().to_string())
        .collect();

    let mut pages: Vec<(String, String, Option<String>)> = Vec::new();
    for tag in &tags {
        for (room, polls) in STATES {
            pages.push((
                format!("{room} ({tag})"),
                h.url(&format!("/{room}?lang={tag}")),
                polls.then(|| room.to_string()),
            ));
        }
        // Refreshing turned off (without JavaScript: no meta refresh).
        pages.push((
            format!("line, not refreshing ({tag})"),
            h.url(&format!("/line?lang={tag}&vst_refresh=off")),
            Some("line".to_string()),
        ));
        for name in &names {
            pages.push((
                format!("message {name} ({tag})"),
                format!("http://{messages}/{name}/{tag}"),
                None,
            ));
        }
    }

    let mut failures = Vec::new();
    let mut checked = 0;
    for javascript in [true, false] {
        let js = if javascript { "JavaScript on" } else { "JavaScript off" };
        for (what, url, polls) in &pages {
            let before = match polls {
                Some(room) => status_polls(&h, room).await,
                None => 0.0,
            };
            browser.view(WIDTHS[0], false, false).await;
            browser.open(url, javascript).await;
            if let (true, Some(room)) = (javascript, polls) {
                // Checked once the page's script has polled and written
                // what the poll brought.
                let deadline = Instant::now() + Duration::from_secs(10);
                while status_polls(&h, room).await <= before {
                    assert!(Instant::now() < deadline, "{what}: the page never polled");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // A page that refreshes itself fails WCAG 2.2.1 unless the
            // visitor can turn that off: the waiting page without
            // JavaScript offers a link that does (its page is checked
            // too, above: "not refreshing"), so axe's `meta-refresh` is
            // answered there, and only there.
            let stoppable = !javascript
                && browser
                    .eval("!!document.querySelector('#refreshing a[href$=\"vst_refresh=off\"]') && !!document.querySelector('meta[http-equiv=refresh]')")
                    .await
                    .as_bool()
                    .unwrap();
            if polls.is_some() {
                // The `<noscript>` block is there and shown exactly when
                // scripts are off: each pass sees the page as its visitor.
                let noscript = browser
                    .eval("(function () { var e = document.getElementById('refreshing'); return !!e && e.offsetHeight > 0; })()")
                    .await;
                assert_eq!(noscript, json!(!javascript), "{what}, {js}");
            }
            if what.contains("not refreshing") {
                let refreshes = browser
                    .eval("!!document.querySelector('meta[http-equiv=refresh]')")
                    .await;
                assert_eq!(refreshes, json!(false), "{what}, {js}: still refreshes");
            }
            // Colours do not change with the width: dark ones are
            // checked at the first.
            for (i, width) in WIDTHS.into_iter().enumerate() {
                for dark in [false, true].into_iter().take(if i == 0 { 2 } else { 1 }) {
                    browser.view(width, dark, false).await;
                    let colours = if dark { "dark" } else { "light" };
                    for v in browser.axe().await {
                        if stoppable && v.starts_with("meta-refresh ") {
                            continue;
                        }
                        failures.push(format!("{what}, {width} px, {colours}, {js}: {v}"));
                    }
                    checked += 1;
                }
            }
            // Reflow: 320 CSS pixels wide, and 1280 at 200 % zoom; and
            // nothing moves for a visitor who asked for less motion.
            for width in [320, 640] {
                browser.view(width, false, true).await;
                for p in browser.layout_problems(true).await {
                    failures.push(format!("{what}, {width} px, {js}: {p}"));
                }
            }
        }
    }
    drop(browser);
    assert!(
        failures.is_empty(),
        "{} accessibility problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "axe: {checked} checks of {} pages, no violation, in {:.1}s",
        pages.len() * 2,
        started.elapsed().as_secs_f64()
    );
}

async fn status_polls(h: &Harness, room: &str) -> f64 {
    metric(
        &h.metrics().await,
        &format!(r#"vestibule_requests_total{{outcome="status",room="{room}"}}"#),
    )
}

/// Two tabs of one browser follow one place (they share its cookie): the
/// older stops polling and says a newer tab follows the place, with a
/// button to follow it there instead; that state passes axe too. Pressed,
/// the roles swap; when the tab that follows closes, the other takes
/// over by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_tab_says_a_newer_one_follows_the_place() {
    let Some(driver) = installed() else {
        return;
    };
    let h = Harness::start(&rooms()).await;
    h.tick().await;
    let browser = Driver::start(driver).await;
    browser.view(390, false, false).await;
    let url = h.url("/line?lang=en");
    let said = "This place in line is now followed in another tab of this browser";
    let region = "document.getElementById('elsewhere').textContent";

    browser.open(&url, true).await;
    let first = browser.call(Method::GET, "/window", &Value::Null).await;
    assert_eq!(browser.script(region).await, json!(""), "alone, nothing to say");
    let second = browser.call(Method::POST, "/window/new", &json!({"type": "tab"})).await["handle"].clone();
    browser
        .call(Method::POST, "/window", &json!({ "handle": second }))
        .await;
    browser.open(&url, true).await;
    assert_eq!(browser.script(region).await, json!(""), "the newer tab follows");

    browser.call(Method::POST, "/window", &json!({ "handle": first })).await;
    let text = wait_for(&browser, region, |v| v.as_str().is_some_and(|t| t.contains(said))).await;
    assert!(text.as_str().unwrap().contains("Follow it in this tab"), "{text}");
    // The older tab no longer polls: only the newer one's polls count.
    // The page polls every 0.8 to 1.2 s (1 s with jitter): in 6 s one tab
    // polls at most 8 times, two at least 10.
    let polls = || status_polls(&h, "line");
    let before = polls().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let during = polls().await - before;
    assert!(during <= 8.0, "{during} polls in 6 s: more than one tab polls");
    // axe, through the DevTools protocol, reads the tab WebDriver is on.
    assert_eq!(browser.eval(region).await, text);
    let violations = browser.axe().await;
    assert!(violations.is_empty(), "{violations:#?}");

    // Follow it here: the newer tab stands down.
    browser
        .script("document.querySelector('#elsewhere button').click(); return true")
        .await;
    assert_eq!(browser.script(region).await, json!(""));
    browser
        .call(Method::POST, "/window", &json!({ "handle": second }))
        .await;
    wait_for(&browser, region, |v| v.as_str().is_some_and(|t| t.contains(said))).await;

    // The tab that follows closes: the other takes over by itself.
    browser.call(Method::POST, "/window", &json!({ "handle": first })).await;
    browser.call(Method::DELETE, "/window", &Value::Null).await;
    browser
        .call(Method::POST, "/window", &json!({ "handle": second }))
        .await;
    wait_for(&browser, region, |v| v == &json!("")).await;
}

/// Polls `expr` in the page until `ok` holds (ten seconds at most).
async fn wait_for(browser: &Driver, expr: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = browser.script(expr).await;
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{expr}: still {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
