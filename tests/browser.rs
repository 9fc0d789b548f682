//! The waiting page in a real headless browser (Debian `chromium`): it moves
//! a visitor forward on its own, with JavaScript (status polls, then a
//! reload) and without (the `<noscript>` meta refresh).
//!
//! Skipped with a note when `/usr/bin/chromium` is missing, unless
//! `VESTIBULE_REQUIRE_BROWSER=1` is set, in which case a missing browser fails.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{metric, Harness};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Virtual time the browser gets before it dumps the DOM. Virtual time
/// stands still while a request is pending and skips ahead when the page
/// only waits on a timer, so this is minutes of polling done in about a
/// second of real time; once the page shows the site, nothing is left to
/// wait for and the rest of the budget passes at once. (A page that keeps
/// meta-refreshing does not run the budget out: only the timeout ends it.)
const VIRTUAL_BUDGET_MS: u64 = 300_000;

/// Real time the whole browser run may take; it needs about two seconds.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(30);

const ROOM: &str = r#"
    [[room]]
    name = "reg"
    title = "Registration"
    paths = ["/register"]
    capacity = 1
    session_ttl = "60s"
    claim_grace = "30s"
    checkin_window = "10s"
    "#;

/// The browser to use, or `None` (with a note) when it is not installed and
/// not required.
fn chromium() -> Option<&'static Path> {
    let path = Path::new(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("VESTIBULE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "{CHROMIUM} not found and VESTIBULE_REQUIRE_BROWSER=1: install the `chromium` package \
             (apt-get install chromium) to run the browser tests"
        );
    }
    eprintln!("skipped: chromium not installed ({CHROMIUM} not found)");
    None
}

/// The text of the element with `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> String {
    dom.split(&format!(r#"id="{id}""#))
        .nth(1)
        .and_then(|t| t.split('>').nth(1))
        .and_then(|t| t.split('<').next())
        .unwrap_or_else(|| panic!("no #{id}\n{dom}"))
        .to_string()
}

/// A fresh, empty browser profile directory, removed on drop.
struct Profile(PathBuf);

impl Profile {
    fn new(label: &str) -> Profile {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("vestibule-browser-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Profile(dir)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the browser printed.
struct Dump {
    dom: String,
    stderr: String,
}

/// Loads `url` in headless chromium and returns the DOM once the virtual time
/// budget (`budget_ms`) is spent, in time zone `tz` when given, or `None` if
/// the browser is still busy after [`BROWSER_TIMEOUT`] (a page that keeps
/// refreshing never lets it finish).
async fn browse_in(browser: &Path, url: &str, javascript: bool, tz: Option<&str>, budget_ms: u64) -> Option<Dump> {
    browse_with(browser, url, javascript, tz, budget_ms, &[]).await
}

/// [`browse_in`], with more switches for chromium (a key to trust).
async fn browse_with(
    browser: &Path,
    url: &str,
    javascript: bool,
    tz: Option<&str>,
    budget_ms: u64,
    extra: &[String],
) -> Option<Dump> {
    let profile = Profile::new(if javascript { "js" } else { "nojs" });
    if !javascript {
        // JavaScript off for every site, as a visitor would set it. (The
        // `--blink-settings=scriptEnabled=false` switch makes headless
        // chromium load nothing at all.)
        let prefs = profile.0.join("Default");
        std::fs::create_dir_all(&prefs).unwrap();
        std::fs::write(
            prefs.join("Preferences"),
            r#"{"profile":{"default_content_setting_values":{"javascript":2}}}"#,
        )
        .unwrap();
    }
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-dev-shm-usage",
    ])
    .args(extra)
    .arg(format!("--user-data-dir={}", profile.0.display()))
    .arg(format!("--virtual-time-budget={budget_ms}"));
    if let Some(tz) = tz {
        cmd.env("TZ", tz);
    }
    cmd.arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a hung browser can be ended whole.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let pid = child.id().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let run = async {
        let (mut out, mut err) = (String::new(), String::new());
        let (a, b, status) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err),
            child.wait()
        );
        a.unwrap();
        b.unwrap();
        (status.unwrap(), out, err)
    };
    match tokio::time::timeout(BROWSER_TIMEOUT, run).await {
        Ok((status, dom, stderr)) => {
            assert!(status.success(), "chromium failed ({status}):\n{stderr}");
            Some(Dump { dom, stderr })
        }
        Err(_) => {
            // The browser and its helpers share the group led by `pid`.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            let _ = child.kill().await;
            None
        }
    }
}

/// Until stopped, runs a scheduler tick every few milliseconds of real time
/// (the clock stays put), and frees the only slot once the browser holds a
/// ticket, so its ticket is reserved as soon as it checks in.
fn drive(h: &Harness) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let app = h.running.app.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let task = tokio::spawn(async move {
        let mut released = false;
        while !flag.load(Ordering::SeqCst) {
            vestibule::scheduler::tick(&app).await;
            if !released && app.room("reg").unwrap().view().snapshot.issued >= 2 {
                let now = app.clock().now_ms();
                let limits = app.room("reg").unwrap().limits(now);
                assert!(
                    app.store().release("reg", 1, now, &limits).await.unwrap(),
                    "visitor A held slot 1"
                );
                released = true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (stop, task)
}

/// A certificate for `localhost`, written into `dir`, as `[server.tls]`
/// lines; and the switch that makes chromium trust its key (the base64
/// SHA-256 of its public key, as `--ignore-certificate-errors-spki-list`
/// takes it: that key alone, not every certificate).
fn localhost_tls(dir: &Path) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let spki = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(key.public_key_der()));
    (
        format!("[server.tls]\nlisten = \"127.0.0.1:0\"\ncert_file = {c:?}\nkey_file = {k:?}\n"),
        format!("--ignore-certificate-errors-spki-list={spki}"),
    )
}

/// Fills the room with visitor A, sends the browser to the gated page and
/// checks it ends up on the site. Returns the admin metrics text.
async fn browser_gets_in(javascript: bool) -> Option<String> {
    browser_gets_in_over(javascript, false).await
}

/// [`browser_gets_in`], over TLS when `tls` (on the TLS listener, as a
/// visitor arrives at a site vestibule is the edge of; checks the browser
/// spoke HTTP/2 there, from the access log).
async fn browser_gets_in_over(javascript: bool, tls: bool) -> Option<String> {
    let browser = chromium()?;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut extra = Vec::new();
    let h = if tls {
        let (server, trust) = localhost_tls(dir.path());
        extra.push(trust);
        let log = dir.path().join("access.log");
        let rooms = format!("{ROOM}\n[log]\naccess = \"json\"\naccess_file = {log:?}\n");
        Harness::start_with(&rooms, &server).await
    } else {
        Harness::start(ROOM).await
    };
    h.tick().await;

    // Visitor A takes the only slot.
    let a = h.visitor();
    assert!(a.get("/register").await.reached_upstream());
    h.tick().await;
    assert_eq!(h.snapshot("reg").active, 1);

    let (stop, driver) = drive(&h);
    let url = match h.running.tls_addr {
        Some(a) => format!("https://localhost:{}/register", a.port()),
        None => h.url("/register"),
    };
    let dump = browse_with(browser, &url, javascript, None, VIRTUAL_BUDGET_MS, &extra).await;
    stop.store(true, Ordering::SeqCst);
    driver.await.unwrap();
    h.tick().await;
    let Some(dump) = dump else {
        let m = h.metrics().await;
        let hits = h.upstream.hits.lock().unwrap().clone();
        panic!(
            "chromium did not finish within {BROWSER_TIMEOUT:?}: the page never got in\n{:?}\nsite hits: {hits:?}\n{m}",
            h.snapshot("reg"),
        );
    };

    let context = || format!("DOM:\n{}\n--- chromium stderr:\n{}", dump.dom, dump.stderr);
    // Only /register (and the browser's own favicon requests, in no room)
    // reached the site: the waiting page itself sends nothing there; a bad
    // status URL would show up here as another path.
    let hits = h.upstream.hits.lock().unwrap().clone();
    assert_eq!(
        h.upstream.total() - h.upstream.hits("/favicon.ico"),
        h.upstream.hits("/register"),
        "requests from the waiting page reached the site: {hits:?}\n{}",
        context()
    );
    // The browser was given a ticket, not a slot...
    let s = h.snapshot("reg");
    assert_eq!(s.issued, 2, "{s:?}\n{}", context());
    // ...and the page brought it in: what it shows now is the site's answer.
    assert!(
        dump.dom.contains(r#""path":"/register""#) && dump.dom.contains(r#""headers""#),
        "browser did not end up on the site\n{}",
        context()
    );
    assert!(!dump.dom.contains("You are in line"), "{}", context());
    assert_eq!(s.admitted, 2, "{s:?}");
    assert_eq!(s.active, 1, "the browser holds the slot: {s:?}");
    assert_eq!(s.reserved, 0, "{s:?}");
    // A once, the browser once: the waiting page never reached the site.
    assert_eq!(h.upstream.hits("/register"), 2);

    let m = h.metrics().await;
    assert_eq!(metric(&m, r#"vestibule_admitted_total{room="reg",via="direct"}"#), 1.0);
    assert_eq!(metric(&m, r#"vestibule_admitted_total{room="reg",via="queue"}"#), 1.0);
    eprintln!(
        "browser admitted ({}) in {:.1}s after {} waiting pages and {} status polls",
        if javascript { "javascript" } else { "no javascript" },
        started.elapsed().as_secs_f64(),
        metric(&m, r#"vestibule_requests_total{outcome="queued",room="reg"}"#),
        metric(&m, r#"vestibule_requests_total{outcome="status",room="reg"}"#),
    );
    if tls {
        // Written out off the request's task: wait for the lines.
        let log = dir.path().join("access.log");
        let mut lines = String::new();
        for _ in 0..100 {
            lines = std::fs::read_to_string(&log).unwrap_or_default();
            if lines.matches("\"/register\"").count() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let browser_lines: Vec<&str> = lines
            .lines()
            .filter(|l| !l.contains("\"proto\":\"HTTP/1.1\""))
            .collect();
        assert!(
            lines
                .lines()
                .filter(|l| l.contains("/_vestibule/status") || l.contains("\"/register\""))
                .count()
                >= 3,
            "{lines}"
        );
        assert!(
            browser_lines
                .iter()
                .any(|l| l.contains("\"proto\":\"HTTP/2.0\"") && l.contains("/_vestibule/status")),
            "the browser's polls came over HTTP/2:\n{lines}"
        );
    }
    Some(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_page_admits_the_visitor_with_javascript() {
    let Some(m) = browser_gets_in(true).await else {
        return;
    };
    // The script polled the status endpoint: once to check in, once more to
    // claim the slot; then it reloaded into the site with a session cookie.
    let status = metric(&m, r#"vestibule_requests_total{outcome="status",room="reg"}"#);
    assert!(status >= 2.0, "status polls: {status}\n{m}");
    assert_eq!(
        metric(&m, r#"vestibule_requests_total{outcome="claimed",room="reg"}"#),
        0.0
    );
    assert_eq!(
        metric(&m, r#"vestibule_requests_total{outcome="session",room="reg"}"#),
        1.0
    );
}

/// The same over TLS: the edge's own listener, HTTP/2 by ALPN, the waiting
/// page's polls and the final load on one secure origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_page_admits_the_visitor_over_tls_and_http2() {
    let Some(m) = browser_gets_in_over(true, true).await else {
        return;
    };
    let status = metric(&m, r#"vestibule_requests_total{outcome="status",room="reg"}"#);
    assert!(status >= 2.0, "status polls: {status}\n{m}");
    assert_eq!(
        metric(&m, r#"vestibule_requests_total{outcome="session",room="reg"}"#),
        1.0
    );
    assert_eq!(
        metric(&m, r#"vestibule_client_errors_total{kind="tls_handshake"}"#),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_page_admits_the_visitor_without_javascript() {
    let Some(m) = browser_gets_in(false).await else {
        return;
    };
    // No script ran: no status polls. The meta refresh reloaded the page
    // (checking in, then waiting) until a reload claimed the slot.
    assert_eq!(
        metric(&m, r#"vestibule_requests_total{outcome="status",room="reg"}"#),
        0.0
    );
    let queued = metric(&m, r#"vestibule_requests_total{outcome="queued",room="reg"}"#);
    assert!(queued >= 2.0, "waiting pages served: {queued}\n{m}");
    assert_eq!(
        metric(&m, r#"vestibule_requests_total{outcome="claimed",room="reg"}"#),
        1.0
    );
}

/// (issue 17: a notice an operator posts reaches those already in line;
/// the page showed the time in UTC until its first poll, local after.)
/// The page, loaded with the file's notice, shows the notice the admin
/// API posts after its first status poll; and before any poll, the time
/// is the visitor's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_new_notice_and_the_visitor_s_own_time() {
    let Some(browser) = chromium() else {
        return;
    };
    let h = Harness::start(
        r#"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 0
        checkin_window = "1h"
        notice = "Doors open at 10:00."
        "#,
    )
    .await;
    let url = h.url("/register");
    let polls = async || {
        metric(
            &h.metrics().await,
            r#"vestibule_requests_total{outcome="status",room="reg"}"#,
        )
    };

    // Half a second: the first poll comes after 1.6 s at the earliest.
    let zone = "Asia/Kathmandu";
    let dump = browse_in(browser, &url, true, Some(zone), 500).await.unwrap();
    assert_eq!(polls().await, 0.0, "no poll yet");
    let dom = &dump.dom;
    let time = text_of(dom, "updated");
    assert!(
        !time.is_empty() && !time.contains("UTC"),
        "{zone} time, not UTC: {time:?}"
    );
    assert!(dom.contains(r#"role="status">Doors open at 10:00.</p>"#), "{dom}");

    let driver = async {
        let mut posted = false;
        loop {
            h.tick().await;
            if !posted && polls().await >= 1.0 {
                let r = h
                    .admin()
                    .send(
                        http::Method::PATCH,
                        "/api/rooms/reg",
                        &[("content-type", "application/json")],
                        r#"{"notice": "Back at 10:15 <soon>."}"#.into(),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text());
                posted = true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    // The room never admits: the page polls until the budget runs out.
    let dump = tokio::select! {
        d = browse_in(browser, &url, true, None, VIRTUAL_BUDGET_MS) => d,
        () = driver => unreachable!(),
    };
    let dom = &dump.expect("the browser finished").dom;
    assert!(polls().await >= 2.0, "polled after the notice changed\n{dom}");
    assert!(
        dom.contains(r#"<p class="notice" id="notice" role="status">Back at 10:15 &lt;soon&gt;.</p>"#),
        "the poll brought the new notice, as text\n{dom}"
    );
    assert!(!dom.contains("Doors open"), "{dom}");
    // Second in line, behind the first browser's visitor.
    assert!(
        dom.contains("<title>In line: place 2 – reg</title>"),
        "the tab shows the place\n{dom}"
    );
}

/// A pre-queue's countdown page: the opening in the visitor's own time
/// (with its date, days off), the time left, and a poll that keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_countdown_shows_the_opening_in_the_visitor_s_time() {
    let Some(browser) = chromium() else {
        return;
    };
    let h = Harness::start(&format!(
        r#"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 5
        checkin_window = "1h"
        [[room.event]]
        name = "e"
        prequeue_from = "{}"
        opens_at = "{}"
        "#,
        support::at(0),
        support::at(3600)
    ))
    .await;
    h.tick().await;
    let url = h.url("/register");
    let dump = browse_in(browser, &url, true, Some("America/New_York"), 5_000)
        .await
        .unwrap();
    let dom = &dump.dom;
    let opens = text_of(dom, "opens-at");
    assert!(
        !opens.is_empty() && !opens.contains("UTC"),
        "the visitor's own time: {opens:?}"
    );
    assert_eq!(text_of(dom, "opens-in"), "about 60 minutes");
    assert!(
        metric(
            &h.metrics().await,
            r#"vestibule_requests_total{outcome="status",room="reg"}"#
        ) >= 1.0,
        "it polled"
    );
}

/// A drawn pre-queue's page (`shuffle`): before the opening it has no
/// place to show and says the places are drawn at the opening; once the
/// doors open, its poll brings the drawn place (or the visitor in), and
/// the paragraph about the draw to come goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawn_pre_queue_s_page_shows_the_place_once_drawn() {
    let Some(browser) = chromium() else {
        return;
    };
    let h = Harness::start(&format!(
        r#"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 1
        checkin_window = "1h"
        [[room.event]]
        name = "e"
        prequeue_from = "{}"
        opens_at = "{}"
        shuffle = true
        "#,
        support::at(0),
        support::at(60)
    ))
    .await;
    h.tick().await;
    // Thirty others in the pre-queue, all checked in: the browser is let
    // in first one time in 31; otherwise it waits with a drawn place.
    let others: Vec<_> = (0..30).map(|_| h.visitor()).collect();
    for v in &others {
        v.get("/register").await;
        // Back with the pass (a ticket), then with the ticket (checked in).
        v.get_json("/_vestibule/status?room=reg").await;
        v.get_json("/_vestibule/status?room=reg").await;
    }
    let url = h.url("/register");
    let dump = browse_in(browser, &url, true, None, 500).await.unwrap();
    let dom = &dump.dom;
    assert!(dom.contains("<title>In line: place drawn at the opening"), "{dom}");
    assert_eq!(text_of(dom, "position"), "drawn when the doors open");
    assert!(dom.contains(r#"<p id="shuffle">"#), "{dom}");

    let polls = async || {
        metric(
            &h.metrics().await,
            r#"vestibule_requests_total{outcome="status",room="reg"}"#,
        )
    };
    let before = polls().await;
    let driver = async {
        let mut opened = false;
        loop {
            if !opened && polls().await > before {
                // The page polled once in the pre-queue: open the doors.
                h.tick_after(Duration::from_secs(61)).await;
                opened = true;
            }
            h.tick().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let dump = tokio::select! {
        d = browse_in(browser, &url, true, None, VIRTUAL_BUDGET_MS) => d,
        () = driver => unreachable!(),
    };
    let dom = &dump.expect("the browser finished").dom;
    if h.upstream.hits("/register") > 0 && !dom.contains(r#"id="position""#) {
        // Drawn first: let in, on the site's page.
        return;
    }
    let place: u64 = text_of(dom, "position")
        .parse()
        .unwrap_or_else(|_| panic!("a drawn place\n{dom}"));
    assert!((1..=31).contains(&place), "{place}");
    assert!(
        dom.contains(&format!("<title>In line: place {place} – reg</title>")),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<p id="shuffle" hidden="">"#),
        "the draw happened\n{dom}"
    );
}

/// The waiting page in each built-in language, with JavaScript and
/// without: the `lang` attribute, a translated heading, the tab's title
/// and a plural form ("N people ahead of you"), written by the server
/// and, after a poll, by the page's script from its language's templates
/// (`Intl.PluralRules`, `Intl.NumberFormat`); the time in the visitor's
/// own zone with JavaScript, in UTC without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_each_language_with_and_without_javascript() {
    let Some(browser) = chromium() else {
        return;
    };
    let h = Harness::start(
        r#"
        [[room]]
        name = "reg"
        paths = ["/register"]
        capacity = 0
        checkin_window = "1h"
        "#,
    )
    .await;
    // Two ahead of the first browser, so every place has a plural "other".
    for _ in 0..2 {
        h.visitor().get("/register").await;
    }
    let languages = [
        ("en", "You are in line", "In line: place ", "people ahead of you"),
        (
            "fr",
            "Vous êtes dans la file d’attente",
            "Dans la file\u{a0}: place ",
            "personnes devant vous",
        ),
        (
            "de",
            "Sie sind in der Warteschlange",
            "In der Warteschlange: Platz ",
            "Personen vor Ihnen",
        ),
        ("nl", "U staat in de rij", "In de rij: plaats ", "personen voor u"),
        (
            "es",
            "Está en la fila",
            "En la fila: puesto ",
            "personas delante de usted",
        ),
    ];
    let polls = async || {
        metric(
            &h.metrics().await,
            r#"vestibule_requests_total{outcome="status",room="reg"}"#,
        )
    };
    for javascript in [false, true] {
        for (tag, heading, title, ahead) in languages {
            let before = polls().await;
            let url = h.url(&format!("/register?lang={tag}"));
            let budget = if javascript { 5_000 } else { 500 };
            let dump = browse_in(browser, &url, javascript, Some("Asia/Tokyo"), budget).await;
            let dom = dump.expect("the browser finished").dom.replace("&nbsp;", "\u{a0}");
            let js = if javascript { "with JavaScript" } else { "without" };
            assert!(
                dom.contains(&format!("<html lang=\"{tag}\" dir=\"ltr\">")),
                "{tag} {js}\n{dom}"
            );
            assert!(dom.contains(&format!("<h1>{heading}</h1>")), "{tag} {js}\n{dom}");
            let place: u64 = text_of(&dom, "position")
                .parse()
                .unwrap_or_else(|_| panic!("{tag} {js}: a place\n{dom}"));
            assert!(place >= 3, "{place}");
            assert_eq!(
                text_of(&dom, "ahead"),
                format!("{} {ahead}", place - 1),
                "{tag} {js}: the plural form\n{dom}"
            );
            assert!(
                dom.contains(&format!("<title>{title}{place} – reg</title>")),
                "{tag} {js}: the title\n{dom}"
            );
            let time = text_of(&dom, "updated");
            if javascript {
                // The script ran and polled, and rewrote the figures itself.
                assert!(polls().await > before, "{tag}: the page polled");
                assert!(
                    !time.contains("UTC") && !time.is_empty(),
                    "{tag}: the visitor's own time: {time:?}"
                );
            } else {
                assert!(time.ends_with(" UTC"), "{tag}: the server's time: {time:?}");
            }
        }
    }
}

/// The example app's own waiting screen (`examples/waiting-client/`),
/// served by the site behind vestibule as an app would serve it: it joins
/// the line through the room path's JSON, shows the place from the status
/// JSON in its own design, and goes on to the room path when the turn
/// comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_client_shows_the_place_then_goes_on() {
    let Some(browser) = chromium() else {
        return;
    };
    let page = "/examples/waiting-client/?room=reg&path=/register";
    // The line does not move: the screen shows the place and the state.
    let h = Harness::start(ROOM).await;
    h.tick().await;
    assert!(h.visitor().get("/register").await.reached_upstream());
    h.tick().await;
    let dump = browse_in(browser, &h.url(page), true, None, 20_000)
        .await
        .expect("the screen keeps polling on timers; virtual time runs out");
    let context = || format!("DOM:\n{}\n--- chromium stderr:\n{}", dump.dom, dump.stderr);
    assert_eq!(text_of(&dump.dom, "place"), "1", "{}", context());
    assert_eq!(text_of(&dump.dom, "state"), "queued", "{}", context());
    assert_eq!(
        text_of(&dump.dom, "summary"),
        "Nobody is ahead of you.",
        "{}",
        context()
    );
    assert!(
        dump.dom.contains("<title>Place 1 – Example Tickets</title>"),
        "{}",
        context()
    );
    h.tick().await;
    let s = h.snapshot("reg");
    assert_eq!((s.issued, s.admitted), (2, 1), "the screen holds a ticket: {s:?}");
    assert_eq!(
        h.upstream.hits("/register"),
        1,
        "joining the line sent nothing to the site"
    );

    // A slot frees: the screen goes on to the room path, into the site.
    let h = Harness::start(ROOM).await;
    h.tick().await;
    assert!(h.visitor().get("/register").await.reached_upstream());
    h.tick().await;
    let (stop, driver) = drive(&h);
    let dump = browse_in(browser, &h.url(page), true, None, VIRTUAL_BUDGET_MS).await;
    stop.store(true, Ordering::SeqCst);
    driver.await.unwrap();
    let dump = dump.expect("the screen went on to the site, where nothing polls");
    assert!(
        dump.dom.contains(r#""path":"/register""#),
        "not on the site:\n{}\n{}",
        dump.dom,
        dump.stderr
    );
    assert_eq!(h.upstream.hits("/examples/waiting-client/"), 1);
    assert_eq!(
        h.upstream.hits("/register"),
        2,
        "the first visitor, then the screen's visitor"
    );
    let m = h.metrics().await;
    assert_eq!(metric(&m, r#"vestibule_admitted_total{room="reg",via="queue"}"#), 1.0);
}
