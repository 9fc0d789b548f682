//! The README's configuration reference is checked against the real
//! configuration type: it must parse, and it must mention every key the
//! type accepts (taken from the type itself, via serde's list of expected
//! fields), so neither can drift from the other. The recipe for several
//! instances is run as written.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::redis_server::{self, RedisServer};
use support::{eventually, position, Upstream, Visitor};
use vestibule::Config;

fn reference_block() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("<!-- config-reference:start -->").expect("start marker");
    let end = readme.find("<!-- config-reference:end -->").expect("end marker");
    let block = &readme[start..end];
    let body = block.split_once("```toml\n").unwrap().1;
    body.rsplit_once("```").unwrap().0.to_string()
}

/// Keys the real type accepts in `table`, read from serde's error for an
/// unknown key.
fn accepted_keys(table_header: &str) -> Vec<String> {
    let text = format!("{table_header}\nnot_a_key = 1\n");
    let err = match Config::parse(&text, Path::new("."), "probe") {
        Ok(_) => panic!("an unknown key was accepted in {table_header}"),
        Err(e) => e.to_string(),
    };
    // serde writes "expected `a`", "expected `a` or `b`" or "expected one of `a`, `b`, ...".
    let list = err
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("no field list in: {err}"));
    let list = list.split(" (hint").next().unwrap();
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn the_reference_parses() {
    let block = reference_block();
    let cfg = Config::parse(&block, Path::new("."), "README").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.rooms.len(), 1);
}

/// The Events section's worked example is a valid room, as pasted after
/// a `[server]` table: a broadcast with a drawn pre-queue.
#[test]
fn the_events_example_parses() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split_once("\n## Events\n").expect("an Events section").1;
    let body = section.split_once("```toml\n").unwrap().1.split_once("```").unwrap().0;
    let text = format!("[server]\nupstream = \"http://127.0.0.1:8080\"\n\n{body}");
    let cfg = Config::parse(&text, Path::new("."), "README").unwrap_or_else(|e| panic!("{e}"));
    let e = &cfg.rooms[0].events[0];
    assert!(e.shuffle && e.prequeue_from.is_some());
    assert_eq!(
        e.opens_at - e.prequeue_from.unwrap(),
        15 * 60_000,
        "the line opens 15 minutes before"
    );
    assert_eq!(
        e.closes_at.unwrap() - e.opens_at,
        2 * 3_600_000,
        "and closes two hours after"
    );
}

#[test]
fn the_reference_mentions_every_key() {
    let block = reference_block();
    let written: Vec<String> = block
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#').trim_start())
        .filter_map(|l| {
            // A room's events are tables of their own.
            if l.starts_with("[[room.event]]") {
                return Some("event".to_string());
            }
            if l.starts_with("[server.tls]") {
                return Some("tls".to_string());
            }
            if l.starts_with("[[server.tls.cert]]") {
                return Some("cert".to_string());
            }
            l.split_once(" =").map(|(k, _)| k.trim().to_string())
        })
        .collect();
    for table in [
        "[server]",
        "[token]",
        "[store]",
        "[page]",
        "[[room]]",
        "[[room]]\n[[room.event]]",
        "[server.tls]",
        "[server.tls]\n[[server.tls.cert]]",
        "[[site]]",
    ] {
        let keys = accepted_keys(table);
        assert!(keys.len() >= 2, "{table}: {keys:?}");
        for k in keys {
            assert!(written.contains(&k), "README's reference lacks {table} {k}");
        }
    }
}

#[test]
fn the_shipped_config_is_valid() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/vestibule.toml");
    Config::load(&p).unwrap_or_else(|e| panic!("{e}"));
}

/// The README's recipe for several instances, run as written (only its
/// three ports swapped for free ones) from a directory holding a
/// `vestibule.toml` with a relative `secret_file`, against a real
/// redis-server: the three instances start, share the secret and the line.
/// (Issue 17: the recipe copied the file to /tmp, where the secret's
/// relative path no longer led to it, and every instance exited.)
#[tokio::test]
async fn the_several_instances_recipe_works_as_pasted() {
    if !redis_server::available() {
        return;
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("<!-- recipe:instances:start -->").expect("start marker");
    let end = readme.find("<!-- recipe:instances:end -->").expect("end marker");
    let recipe = readme[start..end]
        .split_once("```sh\n")
        .unwrap()
        .1
        .rsplit_once("```")
        .unwrap()
        .0;
    assert!(recipe.contains("8081 8082 8083"), "the ports the test swaps");
    // Three ports whose admin port (port + 1000) is free too.
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 60_000 && std::net::TcpListener::bind(("127.0.0.1", p + 1000)).is_ok() {
            ports.push(p);
        }
    }
    let list = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(" ");
    let script = recipe.replace("8081 8082 8083", &list);

    let redis = RedisServer::start(false);
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("secret"),
        "recipe-secret-0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("vestibule.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{}\"\n\
             tick = \"100ms\"\n\n[token]\nsecret_file = \"secret\"\n\n[store]\nkind = \"redis\"\nurl = \"{}\"\n\
             prefix = \"recipe\"\n\n[[room]]\nname = \"reg\"\npaths = [\"/register\"]\ncapacity = 2\n",
            upstream.addr,
            redis.url()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_vestibule"),
        dir.path().join("target/release/vestibule"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("recipe.log")).unwrap();
    let mut shell = std::process::Command::new("bash");
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    let shell = shell
        .arg("-c")
        .arg(format!("{script}\nwait"))
        .current_dir(dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    /// The shell and the instances it started, stopped together.
    struct Group(std::process::Child);
    impl Drop for Group {
        fn drop(&mut self) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.0.id())])
                .status();
            let _ = self.0.wait();
        }
    }
    let _group = Group(shell);
    let addrs: Vec<std::net::SocketAddr> = ports.iter().map(|p| ([127, 0, 0, 1], *p).into()).collect();
    for a in &addrs {
        let up = || async { tokio::net::TcpStream::connect(a).await.is_ok() };
        eventually(20, "an instance listens", up).await;
    }
    let log = || std::fs::read_to_string(dir.path().join("recipe.log")).unwrap_or_default();

    // In on the first instance; the same cookie is a session on the second.
    let a = Visitor::new(addrs[0]);
    assert!(a.get("/register").await.reached_upstream(), "{}", log());
    let a_elsewhere = Visitor::new(addrs[1]);
    a_elsewhere.set_cookie("vst_reg", &a.cookie("vst_reg").unwrap());
    assert!(
        a_elsewhere.get("/register").await.reached_upstream(),
        "one secret: {}",
        log()
    );
    assert!(Visitor::new(addrs[2]).get("/register").await.reached_upstream());
    // The room (2) is full across the three: the next waits, first in line
    // on any instance.
    let c = Visitor::new(addrs[0]);
    assert!(!c.get("/register").await.reached_upstream());
    let c_elsewhere = Visitor::new(addrs[2]);
    c_elsewhere.set_cookie("vst_reg", &c.cookie("vst_reg").unwrap());
    assert_eq!(
        position(&c_elsewhere.get_json("/_vestibule/status").await),
        1,
        "{}",
        log()
    );
}

/// The Languages section's examples: its `[page]` table is valid (the
/// translations directory aside, which it names but does not ship), and
/// its `.ftl` sample uses the page's own message ids and variables.
#[test]
fn the_languages_examples_hold() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme.split_once("\n### Languages\n").expect("a Languages section").1;
    let toml_block = section.split_once("```toml\n").unwrap().1.split_once("```").unwrap().0;
    let text = format!("[server]\nupstream = \"http://127.0.0.1:8080\"\n\n{toml_block}");
    let cfg = Config::parse(&text, Path::new("."), "README").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.page.default_language, "fr");
    assert_eq!(cfg.page.languages.as_deref().unwrap(), ["fr", "en", "de"]);
    assert!(cfg.page.translations.is_some());
    let ftl = section.split_once("```ftl\n").unwrap().1.split_once("```").unwrap().0;
    // As a translations directory would hold it: the rest of en.ftl
    // (which the sample leaves out with "# ..."), then the sample, whose
    // messages come later and so override.
    let english = include_str!("../src/lang/en.ftl");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("it.ftl"), format!("{english}\n{ftl}")).unwrap();
    let c = vestibule::lang::Catalog::load(&vestibule::lang::Settings {
        translations: Some(dir.path()),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let it = c.get(c.find("it").unwrap());
    assert_eq!(it.name(), "Italiano");
    assert_eq!(it.text1("waiting-ahead", "count", 2u64), "2 persone davanti a lei");
}
