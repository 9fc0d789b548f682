//! Several sites behind one vestibule: rooms matched by host as well as
//! path, each with its own line and upstream, `[[site]]` upstreams for
//! the rest of a host's paths, and a room's path refused under a name
//! that would carry it past the gate.

#![allow(clippy::unwrap_used)]

mod support;

use http::StatusCode;
use support::*;

/// Two sites (tickets, live) with a backend each, the default backend for
/// the rest; a `/register` room on the registration host (default
/// backend) and another on the tickets host.
fn two_sites(tickets: &Upstream, live: &Upstream) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{{upstream}}\"\n\n\
         [[site]]\nname = \"tickets\"\nhosts = [\"tickets.example.test\", \"*.tickets.example.test\"]\nupstream = \"http://{}\"\n\n\
         [[site]]\nname = \"live\"\nhosts = [\"live.example.test\"]\nupstream = \"http://{}\"\n\n\
         [[room]]\nname = \"registration\"\nhosts = [\"registration.example.test\"]\npaths = [\"/register\"]\ncapacity = 1\n\n\
         [[room]]\nname = \"tickets\"\nhosts = [\"tickets.example.test\"]\npaths = [\"/register\"]\ncapacity = 1\n\n\
         [log]\naccess = \"off\"\n",
        tickets.addr, live.addr
    )
}

async fn on(v: &Visitor, host: &str, path: &str) -> Resp {
    v.send(http::Method::GET, path, &[("host", host)], Default::default())
        .await
}

#[tokio::test]
async fn the_same_path_on_two_hosts_is_two_rooms_each_with_its_line_and_upstream() {
    let (tickets, live) = (Upstream::start().await, Upstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::from_file(Upstream::start().await, dir.path(), &two_sites(&tickets, &live)).await;

    // One visitor fills each room.
    let (a, b) = (h.visitor(), h.visitor());
    assert!(on(&a, "registration.example.test", "/register")
        .await
        .reached_upstream());
    assert!(on(&b, "tickets.example.test", "/register").await.reached_upstream());
    assert_eq!(h.upstream.hits("/register"), 1, "registration: the default backend");
    assert_eq!(tickets.hits("/register"), 1, "tickets: the site's backend");

    // The next of each waits in its own room's line.
    let (c, d) = (h.visitor(), h.visitor());
    let rc = on(&c, "registration.example.test", "/register").await;
    let rd = on(&d, "Tickets.Example.Test:8080", "/register").await;
    assert!(!rc.reached_upstream() && !rd.reached_upstream());
    assert!(rc.header("set-cookie").unwrap().starts_with("vst_registration="));
    assert!(rd.header("set-cookie").unwrap().starts_with("vst_tickets="));
    h.tick().await;
    assert_eq!(h.snapshot("registration").active, 1);
    assert_eq!(h.snapshot("tickets").active, 1);

    // Other paths go to each host's site: tickets (and its subdomains),
    // live, and the default backend for any other host.
    let v = h.visitor();
    assert!(on(&v, "eu.tickets.example.test", "/seats").await.reached_upstream());
    assert_eq!(tickets.hits("/seats"), 1);
    assert!(on(&v, "live.example.test", "/stream").await.reached_upstream());
    assert_eq!(live.hits("/stream"), 1);
    assert!(on(&v, "registration.example.test", "/about").await.reached_upstream());
    assert_eq!(h.upstream.hits("/about"), 1);
    // The admin API shows each room's hosts and upstream, and the sites.
    let all = h.admin().get("/api/rooms").await.json();
    assert_eq!(all["sites"][0]["name"], "tickets");
    assert_eq!(all["sites"][0]["hosts"][1], "*.tickets.example.test");
    assert_eq!(all["sites"][1]["upstream"], format!("http://{}", live.addr));
    assert_eq!(all["rooms"][1]["hosts"][0], "tickets.example.test");
    assert!(all["rooms"][1]["upstream"].is_null(), "the site's");
    // The live site has no room on /register: its backend serves it.
    assert!(on(&v, "live.example.test", "/register").await.reached_upstream());
    assert_eq!(live.hits("/register"), 1);
}

/// A backend that answers any `Host` would serve a room's path to whoever
/// names a host the room is not on: such a request is refused, not
/// forwarded around the gate.
#[tokio::test]
async fn a_rooms_path_under_another_name_for_the_same_backend_is_refused() {
    let (tickets, live) = (Upstream::start().await, Upstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::from_file(Upstream::start().await, dir.path(), &two_sites(&tickets, &live)).await;
    let v = h.visitor();
    for host in ["evil.test", "127.0.0.1", "www.registration.example.test"] {
        let r = on(&v, host, "/register/step2").await;
        assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    // Spelt another way, as a backend would read it: still refused.
    assert_eq!(
        on(&v, "evil.test", "/%72egister").await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    // A subdomain of tickets reaches the tickets backend, where the
    // tickets room's path is gated for tickets.example.test only.
    assert_eq!(
        on(&v, "eu.tickets.example.test", "/register").await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    assert_eq!(h.upstream.hits("/register/step2") + tickets.hits("/register"), 0);
}

#[tokio::test]
async fn hosts_and_sites_reload_live() {
    let (tickets, live) = (Upstream::start().await, Upstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::from_file(Upstream::start().await, dir.path(), &two_sites(&tickets, &live)).await;
    let v = h.visitor();
    assert!(on(&v, "live.example.test", "/x").await.reached_upstream());
    assert_eq!(live.hits("/x"), 1);
    // live moves to the tickets backend; a room on every host with its
    // own upstream (the default backend) appears.
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{up}\"\n\n\
         [[site]]\nname = \"live\"\nhosts = [\"live.example.test\"]\nupstream = \"http://{t}\"\n\n\
         [[room]]\nname = \"tickets\"\npaths = [\"/tickets\"]\ncapacity = 5\nupstream = \"http://{up}\"\n\n\
         [log]\naccess = \"off\"\n",
        up = h.upstream.addr,
        t = tickets.addr
    );
    std::fs::write(dir.path().join("vestibule.toml"), &text).unwrap();
    let r = h.admin().post("/api/reload", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(on(&v, "live.example.test", "/y").await.reached_upstream());
    assert_eq!(tickets.hits("/y"), 1, "live now goes to the tickets backend");
    let r = on(&v, "live.example.test", "/tickets/1").await;
    assert!(r.reached_upstream());
    assert_eq!(
        h.upstream.hits("/tickets/1"),
        1,
        "the room's own upstream, not the site's"
    );
    assert!(r.header("set-cookie").unwrap().starts_with("vst_tickets="));
}

#[test]
fn host_patterns_are_checked() {
    let parse = |extra: &str| {
        vestibule::config::Config::parse(
            &format!(
                "[server]\nupstream = \"http://127.0.0.1:1\"\n{extra}\n[[room]]\nname = \"r\"\npaths = [\"/r\"]\ncapacity = 1\n"
            ),
            std::path::Path::new("."),
            "t",
        )
    };
    for bad in ["a.test:8080", "*.", "a..test", "x*.test", "-a.test", "tést.fr"] {
        let e = parse(&format!(
            "[[site]]\nname = \"s\"\nhosts = [{bad:?}]\nupstream = \"http://127.0.0.1:2\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.problems[0].key, "site[0].hosts", "{bad}: {e}");
    }
    let e = parse(
        "[[site]]\nname = \"a\"\nhosts = [\"x.test\"]\nupstream = \"http://127.0.0.1:2\"\n\
         [[site]]\nname = \"b\"\nhosts = [\"X.test\"]\nupstream = \"http://127.0.0.1:3\"\n",
    )
    .unwrap_err();
    assert!(e.to_string().contains("already in site \"a\""), "{e}");
    let e = vestibule::config::Config::parse(
        "[server]\nupstream = \"http://127.0.0.1:1\"\n\
         [[room]]\nname = \"a\"\nhosts = [\"x.test\"]\npaths = [\"/r\"]\ncapacity = 1\n\
         [[room]]\nname = \"b\"\nhosts = [\"x.test\"]\npaths = [\"/R\"]\ncapacity = 1\n\
         [[room]]\nname = \"c\"\nhosts = [\"y.test\"]\npaths = [\"/r\"]\ncapacity = 1\n",
        std::path::Path::new("."),
        "t",
    )
    .unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    assert!(
        e.to_string().contains("\"/R\" on x.test is already in room \"a\""),
        "{e}"
    );
}

/// A room on one host whose `upstream` is written out though it is the
/// same as `[server] upstream`: its path under another name goes to that
/// same backend, and must be refused as when the room names no upstream.
#[tokio::test]
async fn a_rooms_path_under_another_name_is_refused_when_its_upstream_is_the_default_written_out() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\n\n\
         [[room]]\nname = \"registration\"\nhosts = [\"registration.example.test\"]\npaths = [\"/register\"]\ncapacity = 1\n\
         upstream = \"http://{upstream}\"\n\n\
         [log]\naccess = \"off\"\n";
    let h = Harness::from_file(Upstream::start().await, dir.path(), text).await;
    let a = h.visitor();
    assert!(on(&a, "registration.example.test", "/register")
        .await
        .reached_upstream());
    // The room is full: the next on its own host waits...
    let b = h.visitor();
    assert!(!on(&b, "registration.example.test", "/register")
        .await
        .reached_upstream());
    // ...and under any other name the same backend must not serve it.
    let c = h.visitor();
    let r = on(&c, "evil.test", "/register").await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(h.upstream.hits("/register"), 1, "only the admitted visitor");
}

/// A room's path on its host, reached under another name where a room
/// with a shorter path (on every host) takes it: that other room's gate
/// is not this room's, and the backend would serve the path past it.
#[tokio::test]
async fn a_rooms_path_under_another_name_is_not_taken_by_a_wider_room() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\n\n\
         [[room]]\nname = \"registration\"\nhosts = [\"registration.example.test\"]\npaths = [\"/register\"]\ncapacity = 1\n\n\
         [[room]]\nname = \"site\"\npaths = [\"/\"]\ncapacity = 100\n\n\
         [log]\naccess = \"off\"\n";
    let h = Harness::from_file(Upstream::start().await, dir.path(), text).await;
    let a = h.visitor();
    assert!(on(&a, "registration.example.test", "/register")
        .await
        .reached_upstream());
    let b = h.visitor();
    assert!(!on(&b, "registration.example.test", "/register")
        .await
        .reached_upstream());
    // The rest of the site, on any host, is the wide room's.
    assert!(on(&b, "www.example.test", "/about").await.reached_upstream());
    // The registration path is not, under any name.
    let c = h.visitor();
    let r = on(&c, "www.example.test", "/register").await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(h.upstream.hits("/register"), 1, "only the admitted visitor");
}
