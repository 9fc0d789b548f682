//! The binary as a user runs it: `check`, a bad configuration, and the demo.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{position, Visitor};

const BIN: &str = env!("CARGO_BIN_EXE_vestibule");

/// Writes `name` into `dir` (each test's own, removed when it ends).
fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_accepts_the_shipped_config_with_a_summary() {
    let out = Command::new(BIN)
        .args([
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/vestibule.toml"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("ok: 1 room(s): registration (capacity 500, 600/min, /register)"),
        "{s}"
    );
    // It passes, and says what a restart would lose without a state file.
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("warning: no [store] state_file"), "{e}");
}

#[test]
fn check_reports_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "bad.toml",
        "[server]\nupstream = \"http://127.0.0.1:1\"\ntick = \"fast\"\n[[room]]\nname = \"Reg\"\npaths = [\"x\"]\n",
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    for k in ["server.tick", "room[0].name", "room[0].paths", "room[0].capacity"] {
        assert!(e.contains(k), "{k} missing from:\n{e}");
    }
    assert!(e.contains("4 problem(s)"), "{e}");
}

#[test]
fn check_refuses_an_open_admin_api_and_checks_the_files_it_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "open-admin.toml",
        "[server]\nupstream = \"http://127.0.0.1:1\"\nadmin_listen = \"0.0.0.0:9090\"\n",
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("server.admin_listen") && e.contains("admin_token_file"),
        "{e}"
    );

    // Valid keys, but the files they name are missing or unusable.
    write(&dir, "short-token", "abc\n");
    let p = write(
        &dir,
        "missing-files.toml",
        "[server]\nupstream = \"http://127.0.0.1:1\"\nadmin_listen = \"0.0.0.0:9090\"\n\
         admin_token_file = \"short-token\"\n[token]\nsecret_file = \"no-such-secret\"\n\
         [page]\ntemplate = \"no-such-template.html\"\n",
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("3 problem(s)"), "{e}");
    for k in [
        "page.template",
        "server.admin_token_file",
        "at least 16",
        "token.secret_file",
    ] {
        assert!(e.contains(k), "{k} missing from:\n{e}");
    }
}

#[test]
fn running_with_a_bad_config_exits_64_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "typo.toml",
        "[server]\nupstream = \"http://127.0.0.1:1\"\nlisten_addr = \"0.0.0.0:80\"\n",
    );
    let out = Command::new(BIN).arg("--config").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("unknown field `listen_addr`"));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_demo_shows_the_third_visitor_the_line() {
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let _guard = Killed(child);
    // The demo prints one "open http://ADDR/register" line per listener.
    let lines = tokio::task::spawn_blocking(move || {
        let mut addrs = Vec::new();
        let mut out = BufReader::new(stdout).lines();
        for line in out.by_ref() {
            let line = line.unwrap();
            if let Some(a) = line.trim().strip_prefix("open http://") {
                addrs.push(a.trim_end_matches("/register").to_string());
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        (addrs, out)
    });
    let (addrs, rest) = tokio::time::timeout(Duration::from_secs(20), lines)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(addrs.len(), 3, "three loopback names, three cookie jars: {addrs:?}");
    let mut inside = 0;
    let mut waiting = 0;
    for a in &addrs {
        let v = Visitor::new(a.parse().unwrap());
        let r = v.get("/register").await;
        assert_eq!(r.status, 200);
        if r.text().contains("You are in line") {
            waiting += 1;
            // First in line, on every poll: the two let straight in are
            // not ahead of them (the demo showed place 3).
            for _ in 0..2 {
                assert_eq!(position(&v.get_json("/_vestibule/status").await), 1);
            }
        } else {
            assert!(r.text().contains("<form method=post"), "{}", r.text());
            inside += 1;
        }
    }
    assert_eq!((inside, waiting), (2, 1), "capacity 2: the third visitor waits");
    // Ctrl-C (here SIGTERM): the demo says it stops and that it stopped.
    assert!(Command::new("kill").arg(pid.to_string()).status().unwrap().success());
    let said = tokio::task::spawn_blocking(move || rest.map_while(Result::ok).collect::<Vec<_>>());
    let said = tokio::time::timeout(Duration::from_secs(20), said)
        .await
        .unwrap()
        .unwrap();
    assert!(said.iter().any(|l| l == "vestibule demo: stopped."), "{said:?}");
}

/// Instances sharing Redis must sign alike: with a random key each, a
/// visitor balanced to another instance would lose their place. `check`
/// and start-up both refuse; a secret (file or environment) satisfies both.
#[test]
fn a_shared_store_without_a_shared_secret_is_refused() {
    let redis = "[server]\nupstream = \"http://127.0.0.1:1\"\nlisten = \"127.0.0.1:0\"\n\
                 admin_listen = \"127.0.0.1:0\"\n\n[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "shared-no-secret.toml", redis);
    let check = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&p)
        .env_remove("VESTIBULE_SECRET")
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(64));
    let e = String::from_utf8(check.stderr).unwrap();
    assert!(
        e.contains("token.secret_file") && e.contains("same token secret on every instance"),
        "{e}"
    );
    let run = Command::new(BIN)
        .arg("--config")
        .arg(&p)
        .env_remove("VESTIBULE_SECRET")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(64), "refused before connecting to Redis");
    assert!(String::from_utf8(run.stderr).unwrap().contains("same token secret"));
    // With the secret in the environment, check passes.
    let ok = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&p)
        .env("VESTIBULE_SECRET", "shared-secret-0123456789abcdef0123456789abcdef")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}

/// One problem of each kind, all reported at once with the key, its line
/// and a hint in plain words (issue 17: only the first type error, as
/// `line 29: (syntax): invalid type: string "five", expected i64`).
#[test]
fn check_lists_type_errors_and_unknown_keys_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "kinds.toml",
        "[server]\n\
         upstream = \"http://127.0.0.1:1\"\n\
         tick = 1\n\
         trust_forwarded_headers = \"yes\"\n\
         [[room]]\n\
         name = \"reg\"\n\
         paths = [\"/register\"]\n\
         capacity = \"five\"\n\
         session_ttl = 600\n\
         admit_per_minute = -5\n\
         capacty = 3\n\
         [[room]]\n\
         name = \"b\"\n\
         paths = \"/b\"\n\
         capacity = \"5\"\n\
         [serverx]\n",
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    for want in [
        "line 3: server.tick: expected a duration in quotes, found the number 1 (hint: a duration in quotes, with its unit: tick = \"1s\")",
        "line 4: server.trust_forwarded_headers: expected true or false, found text \"yes\"",
        "line 8: room[0].capacity: expected a whole number, found text \"five\" (hint: a whole number, like capacity = 500)",
        "line 9: room[0].session_ttl: expected a duration in quotes, found the number 600 (hint: a duration in quotes, with its unit: session_ttl = \"600s\")",
        "line 10: room[0].admit_per_minute:",
        "line 11: room[0].capacty: unknown field `capacty`",
        "did you mean capacity?",
        "line 14: room[1].paths: expected a list of texts in quotes",
        "line 15: room[1].capacity: expected a whole number, found text \"5\" (hint: write the number without quotes: capacity = 5)",
        "line 16: serverx: unknown field `serverx`",
        "did you mean server?",
    ] {
        assert!(e.contains(want), "{want:?} missing from:\n{e}");
    }
    assert!(e.contains("9 problem(s)"), "{e}");
    let lines: Vec<usize> = e
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- line ")?.split(':').next()?.parse().ok())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "in file order: {lines:?}");
    assert!(!e.contains("i64"), "no Rust in messages: {e}");
}

/// `check` prints a room's schedule in an operator's terms, and refuses a
/// time without its offset, naming the key and its line.
#[test]
fn check_prints_the_schedule_and_refuses_a_time_without_its_offset() {
    let room = "[server]\nupstream = \"http://127.0.0.1:1\"\n[store]\nstate_file = \"s.json\"\n\
                [[room]]\nname = \"reg\"\npaths = [\"/register\"]\ncapacity = 5\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "events.toml",
        &format!(
            "{room}[[room.event]]\nname = \"long-ago\"\nopens_at = \"2020-01-01T20:00:00+01:00\"\n\
             closes_at = \"2020-01-01T23:00:00+01:00\"\n[[room.event]]\nname = \"far-off\"\n\
             prequeue_from = \"2099-12-10T19:45:00+01:00\"\nopens_at = \"2099-12-10T20:00:00+01:00\"\n"
        ),
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("room reg events:"), "{s}");
    assert!(s.contains("long-ago: over (closed "), "{s}");
    assert!(s.contains("far-off: line opens in "), "{s}");
    assert!(s.contains("(2099-12-10 19:00:00 UTC)"), "the opening, in UTC: {s}");
    let p = write(
        &dir,
        "no-offset.toml",
        &format!("{room}[[room.event]]\nname = \"e\"\nopens_at = \"2099-12-10T20:00:00\"\n"),
    );
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("line 11: room[0].event[0].opens_at"), "{e}");
    assert!(e.contains("with its offset"), "{e}");
}

/// `check` builds the languages as start-up would and names each problem
/// of a translations directory: a syntax error with its file and line, a
/// language of its own missing messages (each named), an unknown message,
/// a language offered that nobody provides.
#[test]
fn check_names_every_problem_of_the_translations() {
    let dir = tempfile::tempdir().unwrap();
    let lang = dir.path().join("lang");
    std::fs::create_dir(&lang).unwrap();
    std::fs::write(
        lang.join("fr.ftl"),
        "waiting-heading = Vous patientez\nwaiting-headnig = oops\n",
    )
    .unwrap();
    std::fs::write(
        lang.join("it.ftl"),
        "language-name = Italiano\n\nwaiting-heading = { $x\n",
    )
    .unwrap();
    std::fs::write(
        lang.join("pl.ftl"),
        "language-name = Polski\nwaiting-heading = Jesteś w kolejce\n",
    )
    .unwrap();
    let cfg = dir.path().join("vestibule.toml");
    let text = "[server]\nupstream = \"http://127.0.0.1:1\"\n[page]\ntranslations = \"lang\"\n\
                languages = [\"en\", \"fr\", \"it\", \"pl\", \"pt\"]\n";
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let e = String::from_utf8(out.stderr).unwrap();
    let at = |file: &str| lang.join(file).display().to_string();
    assert!(
        e.contains(&format!("{}:2: unknown message `waiting-headnig`", at("fr.ftl"))),
        "{e}"
    );
    assert!(e.contains("did you mean waiting-heading?"), "{e}");
    assert!(e.contains(&format!("{}:3: syntax error", at("it.ftl"))), "{e}");
    assert!(
        e.contains(&format!(
            "{}: pl is not built in, so every message is needed; missing: ",
            at("pl.ftl")
        )),
        "{e}"
    );
    assert!(e.contains("waiting-why") && e.contains("not-found-text"), "{e}");
    assert!(
        e.contains("page.languages: \"pt\" is neither built in nor in the translations directory"),
        "{e}"
    );
    // Fixed, it passes and says what it offers.
    std::fs::remove_file(lang.join("it.ftl")).unwrap();
    std::fs::remove_file(lang.join("pl.ftl")).unwrap();
    std::fs::write(lang.join("fr.ftl"), "waiting-heading = Vous patientez\n").unwrap();
    std::fs::write(
        &cfg,
        text.replace(", \"it\", \"pl\", \"pt\"", "")
            .replace("[page]", "[page]\ndefault_language = \"fr\""),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("languages: en (English), fr (Français, default)"), "{s}");
}

/// `check` loads the certificates: names and expiry for each, a warning
/// for one near its end, and a key of another certificate refused with
/// the files named; sites are listed with their backends.
#[test]
fn check_prints_certificates_with_their_expiry_and_refuses_a_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let cert = |names: &[&str], days: i64, stem: &str| {
        let mut p = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let now = std::time::SystemTime::now();
        p.not_before = (now - Duration::from_secs(86_400)).into();
        p.not_after = (now + Duration::from_secs(days as u64 * 86_400 + 3_600)).into();
        let key = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&key).unwrap();
        let (cf, kf) = (
            dir.path().join(format!("{stem}.pem")),
            dir.path().join(format!("{stem}.key")),
        );
        std::fs::write(&cf, c.pem()).unwrap();
        std::fs::write(&kf, key.serialize_pem()).unwrap();
        (cf, kf)
    };
    let (c1, k1) = cert(&["www.example.test"], 80, "www");
    let (c2, k2) = cert(&["tickets.example.test"], 5, "tickets");
    let text = |key2: &std::path::Path| {
        format!(
            "[server]\nupstream = \"http://127.0.0.1:1\"\n\
             [server.tls]\nlisten = \"127.0.0.1:8443\"\ncert_file = {c1:?}\nkey_file = {k1:?}\nredirect_http = true\nhsts = \"1y\"\n\
             [[server.tls.cert]]\ncert_file = {c2:?}\nkey_file = {key2:?}\n\
             [[site]]\nname = \"tickets\"\nhosts = [\"tickets.example.test\"]\nupstream = \"https://tickets.backend.test\"\n"
        )
    };
    let p = dir.path().join("v.toml");
    std::fs::write(&p, text(&k2)).unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    let (o, e) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("TLS on 127.0.0.1:8443, plain HTTP redirected, Strict-Transport-Security: max-age=31557600:"),
        "{o}"
    );
    assert!(
        o.contains("www.example.test (valid until ") && o.contains(", 80 days left)"),
        "{o}"
    );
    assert!(
        o.contains("tickets.example.test (valid until ") && o.contains(", 5 days left)"),
        "{o}"
    );
    assert!(
        o.contains("site tickets: tickets.example.test -> https://tickets.backend.test"),
        "{o}"
    );
    assert!(e.contains("tickets.pem: the certificate expires in 5 day(s)"), "{e}");
    assert!(!e.contains("www.pem: the certificate"), "{e}");

    std::fs::write(&p, text(&k1)).unwrap();
    let out = Command::new(BIN).args(["check", "--config"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(
        e.contains("www.key: this key is not the key of the certificate in"),
        "{e}"
    );
    assert!(e.contains("tickets.pem"), "{e}");
}
