//! The real binary, started, signalled and started again: restarts keep
//! places and sessions, `kill -9` loses at most one save interval and never
//! the cap, SIGTERM drains, SIGHUP reloads.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use support::*;

/// A running `vestibule` process and what it logged.
struct Proc {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts the binary on `config` and waits until it listens.
    fn start(config: &Path) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
            .args(["--config", config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .env_remove("VESTIBULE_SECRET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("vestibule started") {
                    let _ = tx.send(line.clone());
                }
                l.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("vestibule did not start:\n{}", log.lock().unwrap());
        };
        let field = |name: &str, end: char| {
            let rest = &line[line.find(name).unwrap() + name.len()..];
            rest[..rest.find(end).unwrap_or(rest.len())].parse().unwrap()
        };
        Proc {
            child,
            addr: field("listen=[", ']'),
            admin: field("admin=", ' '),
            log,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Waits for the process to exit; its exit code.
    async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..1500 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        panic!("vestibule did not exit:\n{}", self.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A visitor of this process carrying `jar`'s cookies (the port changes
    /// between runs; the cookies do not).
    fn visitor(&self, jar: &Visitor) -> Visitor {
        let v = Visitor::new(self.addr);
        v.jar.lock().unwrap().clone_from(&jar.jar.lock().unwrap());
        v
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SECRET_TEXT: &str = "restart-test-secret-0123456789abcdef0123456789";

/// A config file in `dir` with a state file and a fixed secret.
fn config(dir: &Path, upstream: SocketAddr, room: &str, extra_server: &str, store: &str) -> PathBuf {
    std::fs::write(dir.join("secret"), SECRET_TEXT).unwrap();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{upstream}\"\n\
         tick = \"100ms\"\n{extra_server}\n\n[token]\nsecret_file = \"secret\"\n\n\
         [store]\nstate_file = \"state/vestibule.state\"\n{store}\n\n{room}"
    );
    let path = dir.join("vestibule.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    path
}

const ROOM: &str = "[[room]]\nname = \"registration\"\npaths = [\"/register\"]\ncapacity = 1\nsession_ttl = \"10m\"\n";

async fn status(v: &Visitor) -> serde_json::Value {
    v.get_json("/_vestibule/status?room=registration").await.json()
}

#[tokio::test]
async fn sigterm_and_start_again_keep_places_and_sessions() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), up.addr, ROOM, "", "");

    let mut p = Proc::start(&cfg);
    let inside = p.visitor(&Visitor::new(p.addr));
    assert!(inside.get("/register").await.reached_upstream());
    assert!(inside.get("/register/step2").await.reached_upstream()); // confirmed
    let (b, c) = (p.visitor(&Visitor::new(p.addr)), p.visitor(&Visitor::new(p.addr)));
    assert_eq!(position(&b.get_json("/register").await), 1);
    assert_eq!(position(&c.get_json("/register").await), 2);
    assert_eq!(status(&b).await["position"], 1); // both checked in
    assert_eq!(status(&c).await["position"], 2);

    p.signal("TERM");
    assert_eq!(p.exit_code().await, Some(0), "{}", p.log());
    assert!(p.log().contains("state saved"), "{}", p.log());

    let p = Proc::start(&cfg);
    assert!(
        p.log().contains("state restored") && p.log().contains("clean=true"),
        "{}",
        p.log()
    );
    let (inside, b, c) = (p.visitor(&inside), p.visitor(&b), p.visitor(&c));
    let hits = up.total();
    assert!(inside.get("/register/step3").await.reached_upstream(), "still admitted");
    assert_eq!(up.total(), hits + 1);
    assert_eq!(status(&b).await["position"], 1, "kept their place");
    assert_eq!(status(&c).await["position"], 2, "kept their place");
    // A newcomer joins behind them, not ahead.
    let d = p.visitor(&Visitor::new(p.addr));
    assert_eq!(position(&d.get_json("/register").await), 3);

    // The line moves on in order when the slot frees.
    inside.get("/_vestibule/leave").await;
    eventually(10, "b's admission", async || status(&b).await["state"] == "admitted").await;
    assert!(b.get("/register").await.reached_upstream());
    assert_eq!(status(&c).await["position"], 1);
}

/// A SIGTERM the moment the process says it started (an orchestrator
/// stopping a pod it just started): a clean stop, never death by the
/// signal's default action.
#[tokio::test]
async fn sigterm_as_soon_as_started_is_a_clean_stop() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), up.addr, ROOM, "", "");
    for _ in 0..3 {
        let mut p = Proc::start(&cfg);
        p.signal("TERM");
        // Only a return from main exits 0; the default action leaves no code.
        assert_eq!(p.exit_code().await, Some(0), "{}", p.log());
    }
}

#[tokio::test]
async fn kill_9_loses_at_most_one_interval_and_the_cap_holds() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let room = ROOM.replace("capacity = 1", "capacity = 2") + "checkin_window = \"6s\"\n";
    // No periodic save within the test: the copy a crash falls back to is
    // the one written at start-up.
    let cfg = config(dir.path(), up.addr, &room, "", "save_interval = \"60s\"");

    // Run 1: `a` gets in; a clean stop saves that.
    let mut p = Proc::start(&cfg);
    let a = p.visitor(&Visitor::new(p.addr));
    assert!(a.get("/register").await.reached_upstream());
    assert!(a.get("/register").await.reached_upstream());
    p.signal("TERM");
    assert_eq!(p.exit_code().await, Some(0), "{}", p.log());

    // Run 2 starts from that copy and saves it again; then `b` gets in and
    // the process dies before the next save.
    let mut p = Proc::start(&cfg);
    let (a, b) = (p.visitor(&a), p.visitor(&Visitor::new(p.addr)));
    assert!(a.get("/register").await.reached_upstream());
    assert!(b.get("/register").await.reached_upstream());
    assert!(b.get("/register").await.reached_upstream());
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(p);

    // Run 3: `a`, saved before the lost interval, is still in.
    let p = Proc::start(&cfg);
    assert!(p.log().contains("clean=false"), "{}", p.log());
    let (a, b) = (p.visitor(&a), p.visitor(&b));
    assert!(a.get("/register").await.reached_upstream(), "kept");
    // `b`'s session was lost with the interval. Its cookie is still validly
    // signed, but it does not pass uncounted: `b` queues again, first.
    let hits = up.total();
    assert_eq!(position(&b.get_json("/register").await), 1);
    let c = p.visitor(&Visitor::new(p.addr));
    assert_eq!(position(&c.get_json("/register").await), 2);
    assert_eq!(up.total(), hits, "nobody reached the upstream uncounted");
    status(&c).await;

    // Numbers from the lost interval get one check-in window; then the line
    // moves in order: `b` takes the free slot, `c` waits for the next.
    eventually(20, "b's admission", async || status(&b).await["state"] == "admitted").await;
    assert!(b.get("/register").await.reached_upstream());
    assert!(a.get("/register").await.reached_upstream());
    tokio::time::sleep(Duration::from_millis(300)).await; // a few ticks
    assert_eq!(status(&c).await["position"], 1);
    let stats = Visitor::new(p.admin).get("/api/rooms/registration").await.json();
    assert_eq!(
        stats["active"].as_u64().unwrap() + stats["reserved"].as_u64().unwrap(),
        2,
        "{stats}"
    );
}

#[tokio::test]
async fn sigterm_turns_unready_first_and_lets_a_slow_request_finish() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        up.addr,
        ROOM,
        "shutdown_delay = \"1s\"\nshutdown_grace = \"20s\"",
        "",
    );
    let mut p = Proc::start(&cfg);
    let admin = Visitor::new(p.admin);
    assert_eq!(admin.get("/readyz").await.status, StatusCode::OK);

    // A slow request on an ungated path, in flight when the signal comes.
    let slow = Visitor::new(p.addr);
    let in_flight = tokio::spawn(async move { slow.get("/slow?ms=2500").await });
    eventually(5, "the slow request to reach the upstream", async || {
        up.hits("/slow") == 1
    })
    .await;
    p.signal("TERM");
    // Unready at once, while still serving during the delay.
    eventually(2, "/readyz to turn unready", async || {
        admin.get("/readyz").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(
        Visitor::new(p.addr).get("/plain").await.reached_upstream(),
        "still serving in the delay"
    );

    let r = in_flight.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "slow done");
    assert_eq!(p.exit_code().await, Some(0), "{}", p.log());
}

#[tokio::test]
async fn sighup_reloads_the_file() {
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), up.addr, ROOM, "", "");
    let p = Proc::start(&cfg);
    let admin = Visitor::new(p.admin);
    let reloads = async || {
        metric(
            &admin.get("/metrics").await.text(),
            "vestibule_config_reloads_total{result=\"ok\"}",
        )
    };
    assert_eq!(reloads().await, 0.0);
    p.signal("HUP");
    eventually(10, "the SIGHUP reload", async || reloads().await == 1.0).await;
    assert!(p.log().contains("SIGHUP"), "{}", p.log());
}
